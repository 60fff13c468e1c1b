import { useCallback, useEffect, useRef, useState } from 'react';

import { openEventStream, RESYNC_EVENT, SESSION_CLOSE_REASONS } from '../api/events.js';

/** Hidden longer than this, the tab re-reads the list when it is shown again. */
export const STALE_AFTER_HIDDEN_MS = 30000;

/** After a stream ended with its session, how long before a "logged out" answer is believed. */
export const SESSION_RECHECK_MS = 1500;

/**
 * Keeps this tab's live-updates stream open while the component using it is mounted (the
 * list, which exists only while someone is logged in: log-out and an ended session unmount
 * it, and that closes the stream). Returns the connection's status for the indicator, and
 * `resume()` for a stream the server paused (more tabs open than it keeps).
 *
 * @param {object} api  From createApi (its client's base URL, and `auth.me` to check the
 *   session when the server says it ended).
 * @param {object} handlers
 * @param {(type: string, data: *) => void} handlers.onEvent  A todo event.
 * @param {() => Promise<boolean|null>} handlers.reRead  Read the list again: on `resync`, every
 *   time the stream (re)opens (events may have been missed while it was not), when the browser
 *   gave up on it, when the server ended it with a session that `me` no longer knows, and when
 *   the tab is shown again after being hidden for `staleAfterHiddenMs`. Resolves with the
 *   outcome of a read made after the call: true it succeeded, false it failed, null a 401 (which
 *   ends the session app-wide). After the browser gave up on the stream, true means the
 *   server answers JSON requests, so the indicator says the stream is refused rather than
 *   offline; after a session ending, it means this browser is still logged in.
 * @param {number} [handlers.userId]  Whose list this is.
 * @param {(user: object) => void} [handlers.onUserChanged]  The browser's session is now
 *   another user's (a log-in in another tab ended this one's): this list must not go on
 *   under that session; no new stream is opened for it.
 * @param {object} [options]  `staleAfterHiddenMs`, `sessionRecheckMs`, and options for
 *   openEventStream (tests).
 * @returns {{status: string, resume: () => void}}
 */
export function useLiveUpdates(
  api,
  handlers,
  { staleAfterHiddenMs = STALE_AFTER_HIDDEN_MS, sessionRecheckMs = SESSION_RECHECK_MS, ...streamOptions } = {},
) {
  const [status, setStatus] = useState('connecting');
  // The handlers change on every render; the stream lives as long as the api and reads them here.
  const latest = useRef(handlers);
  latest.current = handlers;
  const options = useRef({ staleAfterHiddenMs, sessionRecheckMs, streamOptions });
  const current = useRef(null);

  useEffect(() => {
    const reRead = () => latest.current.reRead();
    let mounted = true;
    let recheck = null;
    // The server ended the stream with its session (log-out here or in another tab, a password
    // change, expiry): `GET /api/auth/me/` tells whether this browser is still logged in, with a
    // newer session (another tab of this browser changed the password) or one extended by other
    // requests; then the stream opens again. That change's `closed` event can arrive before the
    // answer that sets the new cookie, and `me` answers "nobody" (not 401) meanwhile, so
    // "nobody" is believed only at a second look, `sessionRecheckMs` later (the browser's own
    // reconnect used to wait as long). Then the list is read, and its 401 logs out app-wide
    // (unmounting this); if it succeeds, the cookie landed after that second look and the
    // stream opens again. When the API cannot answer, the stream opens again and its retries
    // take it from there. When another user is logged in now (a log-in in another tab
    // replaced this session), the app switches to them rather than show their todos here.
    function checkSession(looks = 2) {
      recheck = null;
      api.auth.me().then(
        (user) => {
          if (!mounted) return;
          const { userId, onUserChanged } = latest.current;
          if (user && userId !== undefined && user.id !== userId) onUserChanged?.(user);
          else if (user) stream.resume();
          else if (looks > 1) recheck = setTimeout(() => checkSession(looks - 1), options.current.sessionRecheckMs);
          else reRead().then((outcome) => mounted && outcome !== null && stream.resume());
        },
        () => mounted && stream.resume(),
      );
    }
    const stream = openEventStream(
      api.client,
      {
        onEvent: (type, data) => (type === RESYNC_EVENT ? reRead() : latest.current.onEvent(type, data)),
        onStatus: (next) => next !== 'closed' && setStatus(next),
        onOpen: reRead,
        onBroken: reRead,
        onClosed: (reason) => SESSION_CLOSE_REASONS.includes(reason) && checkSession(),
      },
      options.current.streamOptions,
    );
    current.current = stream;

    const doc = typeof document === 'undefined' ? null : document;
    let hiddenAt = doc && doc.visibilityState === 'hidden' ? Date.now() : null;
    function visibilityChanged() {
      if (doc.visibilityState === 'hidden') {
        hiddenAt = Date.now();
        return;
      }
      if (hiddenAt !== null && Date.now() - hiddenAt > options.current.staleAfterHiddenMs) {
        reRead();
        stream.reconnectNow(); // If it was waiting to retry, now is a good moment.
      }
      hiddenAt = null;
    }
    doc?.addEventListener('visibilitychange', visibilityChanged);
    return () => {
      mounted = false;
      clearTimeout(recheck);
      current.current = null;
      doc?.removeEventListener('visibilitychange', visibilityChanged);
      stream.close();
    };
  }, [api]);

  const resume = useCallback(() => current.current?.resume(), []);
  return { status, resume };
}
