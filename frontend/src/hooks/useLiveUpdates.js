import { useEffect, useRef, useState } from 'react';

import { openEventStream, RESYNC_EVENT } from '../api/events.js';

/** Hidden longer than this, the tab re-reads the list when it is shown again. */
export const STALE_AFTER_HIDDEN_MS = 30000;

/**
 * Keeps this tab's live-updates stream open while the component using it is mounted (the
 * list, which exists only while someone is logged in: log-out and an ended session unmount
 * it, and that closes the stream). Returns the connection's status for the indicator.
 *
 * @param {object} api  From createApi (its client's base URL).
 * @param {object} handlers
 * @param {(type: string, data: *) => void} handlers.onEvent  A todo event.
 * @param {() => void} handlers.reRead  Read the list again: on `resync`, every time the stream
 *   (re)opens (events may have been missed while it was not), when the browser gave up on it
 *   (a 401 from that read ends the session app-wide), and when the tab is shown again after
 *   being hidden for `staleAfterHiddenMs`.
 * @param {object} [options]  `staleAfterHiddenMs`, and options for openEventStream (tests).
 */
export function useLiveUpdates(api, handlers, { staleAfterHiddenMs = STALE_AFTER_HIDDEN_MS, ...streamOptions } = {}) {
  const [status, setStatus] = useState('connecting');
  // The handlers change on every render; the stream lives as long as the api and reads them here.
  const latest = useRef(handlers);
  latest.current = handlers;
  const options = useRef({ staleAfterHiddenMs, streamOptions });

  useEffect(() => {
    const reRead = () => latest.current.reRead();
    const stream = openEventStream(
      api.client,
      {
        onEvent: (type, data) => (type === RESYNC_EVENT ? reRead() : latest.current.onEvent(type, data)),
        onStatus: (next) => next !== 'closed' && setStatus(next),
        onOpen: reRead,
        onBroken: reRead,
      },
      options.current.streamOptions,
    );

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
      doc?.removeEventListener('visibilitychange', visibilityChanged);
      stream.close();
    };
  }, [api]);

  return status;
}
