import { useEffect, useState } from 'react';

import { useDocumentTitle } from '../hooks/useDocumentTitle.js';

/**
 * A deployment smoke test: one safe and one CSRF-checked request through the
 * real API client. Each line reads exactly "Test GET request: OK" (or KO with
 * the reason), so people and scripts can check a deployment at a glance.
 */
const CHECKS = [
  { key: 'get', label: 'Test GET request', run: (api) => api.ping.get() },
  { key: 'post', label: 'Test POST request', run: (api) => api.ping.post() },
];

const PENDING = { state: 'pending', text: '…' };

export function Diagnostics({ api }) {
  const [results, setResults] = useState(() => Object.fromEntries(CHECKS.map((c) => [c.key, PENDING])));
  const [round, setRound] = useState(0);
  useDocumentTitle('Diagnostics');

  useEffect(() => {
    let ignore = false;
    setResults(Object.fromEntries(CHECKS.map((c) => [c.key, PENDING])));
    for (const check of CHECKS) {
      check
        .run(api)
        .then((body) => {
          if (body?.result !== 'OK') throw new Error(`unexpected answer ${JSON.stringify(body)}`);
        })
        .then(
        () => !ignore && setResults((r) => ({ ...r, [check.key]: { state: 'ok', text: 'OK' } })),
        (error) => !ignore && setResults((r) => ({ ...r, [check.key]: { state: 'ko', text: `KO (${describe(error)})` } })),
      );
    }
    return () => {
      ignore = true;
    };
  }, [api, round]);

  const running = CHECKS.some((c) => results[c.key].state === 'pending');

  return (
    <section className="card diagnostics" aria-labelledby="diagnostics-title">
      <h1 id="diagnostics-title">Diagnostics</h1>
      <p className="muted">
        API: <code data-testid="api-url">{api.client.baseUrl || window.location.origin}</code>
      </p>
      <ul className="checks" aria-live="polite" aria-busy={running}>
        {CHECKS.map((check) => (
          <li key={check.key} className={`check check-${results[check.key].state}`} data-testid={`diagnostics-${check.key}`}>
            {`${check.label}: ${results[check.key].text}`}
          </li>
        ))}
      </ul>
      <button type="button" className="button" onClick={() => setRound((n) => n + 1)} disabled={running}>
        Run again
      </button>
      <p className="back-link">
        <a href="#/">← Back to your todos</a>
      </p>
    </section>
  );
}

function describe(error) {
  if (!error.code) return error.message;
  const code = error.reason ? `${error.code}/${error.reason}` : error.code;
  return error.status ? `HTTP ${error.status} ${code}: ${error.detail}` : `${code}: ${error.detail}`;
}
