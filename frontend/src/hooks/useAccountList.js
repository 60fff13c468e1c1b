import { useCallback, useEffect, useState } from 'react';

/**
 * One list of the Account page (sessions, tokens), loaded when the page opens and again on
 * `reload`. `load` must be stable (an API helper is). `setItems` lets an action apply its
 * known result at once (a revoked token leaves the list) without a round trip.
 *
 * status: 'loading' until the first answer, 'ready' after it, 'failed' (with `error`).
 */
export function useAccountList(load) {
  const [state, setState] = useState({ status: 'loading', items: [], error: null });
  const [attempt, setAttempt] = useState(0);

  useEffect(() => {
    let ignore = false;
    load().then(
      (items) => !ignore && setState({ status: 'ready', items, error: null }),
      (error) => !ignore && setState((current) => ({ ...current, status: 'failed', error })),
    );
    return () => {
      ignore = true;
    };
  }, [load, attempt]);

  const reload = useCallback(() => {
    setState((current) => ({ ...current, status: current.status === 'ready' ? 'ready' : 'loading' }));
    setAttempt((n) => n + 1);
  }, []);

  const setItems = useCallback((update) => setState((current) => ({ ...current, items: update(current.items) })), []);

  return { ...state, reload, setItems };
}
