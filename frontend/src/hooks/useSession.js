import { useCallback, useEffect, useState } from 'react';

import { forgetDrafts } from '../state/drafts.js';

/**
 * Who is logged in. The session cookie is HttpOnly, so the only way to know is
 * to ask the API (GET /api/auth/me/) at start-up; after that the state follows
 * log-in, sign-up, log-out and any 401 the API client reports.
 *
 * status: 'loading' until the first answer, 'ready' after it, 'unreachable'
 * when the API could not answer (then `error` says why and `retry` tries again).
 */
export function useSession(api) {
  const [state, setState] = useState({ status: 'loading', user: null, error: null, notice: null });
  const [attempt, setAttempt] = useState(0);

  useEffect(() => {
    let ignore = false;
    api.auth.me().then(
      (user) => !ignore && setState({ status: 'ready', user, error: null, notice: null }),
      (error) => !ignore && setState({ status: 'unreachable', user: null, error, notice: null }),
    );
    return () => {
      ignore = true;
    };
  }, [api, attempt]);

  // A 401 anywhere means the server no longer knows us (expired or deleted session).
  useEffect(
    () =>
      api.client.onUnauthorized(() =>
        setState((current) =>
          current.user
            ? { ...current, user: null, notice: { tone: 'info', text: 'Your session has ended. Please log in again.' } }
            : current,
        ),
      ),
    [api],
  );

  const retry = useCallback(() => {
    setState((current) => ({ ...current, status: 'loading', error: null }));
    setAttempt((n) => n + 1);
  }, []);

  const signedIn = useCallback((user) => setState({ status: 'ready', user, error: null, notice: null }), []);

  const login = useCallback((credentials) => api.auth.login(credentials).then(signedIn), [api, signedIn]);
  const signup = useCallback((credentials) => api.auth.signup(credentials).then(signedIn), [api, signedIn]);

  const logout = useCallback(
    function logout() {
      return api.auth.logout().then(
        () => {
          forgetDrafts(); // Leaving on purpose: the next person here must not find this text.
          setState({ status: 'ready', user: null, error: null, notice: null });
        },
        (error) =>
          setState((current) => ({
            ...current,
            notice: { tone: 'error', text: `Could not log out: ${error.detail}`, retry: error.isWorthRetrying ? logout : null },
          })),
      );
    },
    [api],
  );

  const dismissNotice = useCallback(() => setState((current) => ({ ...current, notice: null })), []);

  /** The server already ended the session (the account was deleted): logged out, with `text` to say why. */
  const endedByServer = useCallback((text) => {
    forgetDrafts(); // The account is gone: nothing of its unsaved text may stay in this tab.
    setState({ status: 'ready', user: null, error: null, notice: { tone: 'info', text } });
  }, []);

  /** Another tab logged this browser in as `user`, ending this tab's session: the tab follows. */
  const changedElsewhere = useCallback((user) => {
    forgetDrafts(); // The previous user's unsaved text must not show under the new one.
    setState({
      status: 'ready',
      user,
      error: null,
      notice: { tone: 'info', text: `You are now logged in as “${user.username}”, from another tab.` },
    });
  }, []);

  return { ...state, retry, login, signup, logout, dismissNotice, endedByServer, changedElsewhere };
}
