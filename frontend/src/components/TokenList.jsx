import { useRef, useState } from 'react';

import { useAccountFocus } from '../hooks/useAccountFocus.js';
import { useAccountList } from '../hooks/useAccountList.js';
import { AccountError, AccountStatus } from './AccountStatus.jsx';
import { Loading } from './Loading.jsx';
import { NewTokenSecret } from './NewTokenSecret.jsx';
import { RelativeTime } from './RelativeTime.jsx';
import { TokenCreateForm } from './TokenCreateForm.jsx';

/**
 * Personal access tokens: for scripts and other programs, which send one in an
 * `Authorization: Bearer` header instead of logging in. Create (the secret shown once), list,
 * revoke.
 */
export function TokenList({ api }) {
  const tokens = useAccountList(api.tokens.list);
  const [created, setCreated] = useState(null);
  const [message, setMessage] = useState(null);
  const [error, setError] = useState(null);
  const [busy, setBusy] = useState(null);
  const headingRef = useRef(null);
  const nameRef = useRef(null);
  const secretRef = useRef(null);
  const revokeButtons = useRef(new Map());
  const focusAfterRender = useAccountFocus();

  function showCreated(token) {
    const { token: secret, ...listed } = token; // The secret never goes into the list.
    tokens.setItems((items) => [listed, ...items.filter((t) => t.id !== listed.id)]);
    setCreated(token);
    setError(null);
    setMessage(`Token “${token.name}” created. Copy it now: it is shown only once.`);
    focusAfterRender(() => secretRef.current);
  }

  function hideCreated() {
    setCreated(null);
    setMessage('The new token is hidden now; it stays in the list below until you revoke it.');
    focusAfterRender(() => nameRef.current);
  }

  async function revoke(token) {
    setBusy(token.id);
    setError(null);
    const index = tokens.items.findIndex((t) => t.id === token.id);
    const neighbour = tokens.items[index + 1] || tokens.items[index - 1];
    try {
      await api.tokens.revoke(token.id);
      setMessage(`Token “${token.name}” revoked: programs using it are refused from now on.`);
    } catch (failure) {
      if (failure.status === 401) return;
      if (failure.code !== 'not_found') {
        setError(`Could not revoke “${token.name}”: ${failure.detail}`);
        setBusy(null);
        focusAfterRender(() => revokeButtons.current.get(token.id));
        return;
      }
      setMessage(`Token “${token.name}” was already revoked.`);
    }
    setBusy(null);
    if (created && created.id === token.id) setCreated(null);
    tokens.setItems((items) => items.filter((t) => t.id !== token.id));
    focusAfterRender(() => (neighbour && revokeButtons.current.get(neighbour.id)) || headingRef.current);
  }

  return (
    <section className="card account-section" aria-labelledby="tokens-title" data-testid="tokens">
      <h2 id="tokens-title" ref={headingRef} tabIndex={-1}>
        Personal access tokens
      </h2>
      <p className="muted">
        For scripts and other programs: they send a token in an <code>Authorization: Bearer</code> header to read or
        change your todos through the API, without your password. A token cannot manage your account.
      </p>
      <AccountStatus message={message} testId="tokens-status" />
      {error && <AccountError testId="tokens-error">{error}</AccountError>}
      {created && <NewTokenSecret ref={secretRef} token={created} onDone={hideCreated} />}
      <TokenCreateForm ref={nameRef} api={api} onCreated={showCreated} />

      <h3 id="token-list-title">Your tokens</h3>
      {tokens.status === 'loading' && <Loading>Loading your tokens…</Loading>}
      {tokens.status === 'failed' && (
        <AccountError
          testId="tokens-load-error"
          action={
            <button type="button" className="button" onClick={tokens.reload}>
              Try again
            </button>
          }
        >
          Could not load your tokens: {tokens.error.detail}
        </AccountError>
      )}
      {tokens.status === 'ready' &&
        (tokens.items.length === 0 ? (
          <p className="muted" data-testid="no-tokens">
            No tokens yet.
          </p>
        ) : (
          <ul className="account-list token-list" aria-labelledby="token-list-title">
            {tokens.items.map((token) => (
              <li key={token.id} className="account-item token" data-testid="token">
                <div className="account-item-text">
                  <p className="account-item-name" data-testid="token-name">
                    {token.name}
                  </p>
                  <p className="account-item-meta">
                    <span data-testid="token-abilities">{describeAbilities(token.abilities)}</span>
                    <span>
                      created <RelativeTime value={token.createdAt} />
                    </span>
                    <span data-testid="token-last-used">
                      {token.lastUsedAt ? (
                        <>
                          last used <RelativeTime value={token.lastUsedAt} />
                        </>
                      ) : (
                        'never used'
                      )}
                    </span>
                    <span data-testid="token-expires">{describeExpiry(token.expiresAt)}</span>
                  </p>
                </div>
                <button
                  type="button"
                  className="button"
                  ref={(element) => (element ? revokeButtons.current.set(token.id, element) : revokeButtons.current.delete(token.id))}
                  disabled={busy !== null}
                  onClick={() => revoke(token)}
                >
                  {busy === token.id ? 'Revoking…' : 'Revoke'}
                  <span className="visually-hidden"> the token “{token.name}”</span>
                </button>
              </li>
            ))}
          </ul>
        ))}
    </section>
  );
}

const ABILITY_WORDS = { 'todos:read': 'read', 'todos:write': 'change' };

/** "may read and change todos" */
export function describeAbilities(abilities) {
  const words = abilities.map((a) => ABILITY_WORDS[a] || a);
  return `may ${words.join(' and ')} todos`;
}

function describeExpiry(expiresAt) {
  if (!expiresAt) return 'never expires';
  const expired = Date.parse(expiresAt) <= Date.now();
  return (
    <>
      {expired ? 'expired ' : 'expires '}
      <RelativeTime value={expiresAt} />
    </>
  );
}
