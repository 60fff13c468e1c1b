/**
 * The live-updates stream (`GET /api/events/`, Server-Sent Events): the one place that knows
 * its path, its event names and how it reconnects. No React here; `useLiveUpdates` wraps it.
 *
 * Event names and data (see ../../docs/live-updates.md and the contract, "Live updates"):
 * - `todo.created`, `todo.updated`: the todo as the REST API returns it;
 * - `todo.deleted`: `{"id"}`;
 * - `todos.completed` (toggle all): `{"ids", "completed", "updatedAt"}`, the todos that changed;
 * - `todos.cleared` (clear completed): `{"ids"}`, the todos deleted;
 * - `resync`: events were missed, re-read the list;
 * - `closed` (`{"reason"}`): the server's last event before it ends the stream on purpose; the
 *   browser must not reconnect by itself (see `openEventStream`).
 */
export const EVENTS_PATH = '/api/events/';

export const TODO_EVENTS = ['todo.created', 'todo.updated', 'todo.deleted', 'todos.completed', 'todos.cleared'];
export const RESYNC_EVENT = 'resync';
export const CLOSED_EVENT = 'closed';

/**
 * Why the server closed the stream (`closed` event). After `too_many_streams` (the user has
 * more streams open than the server keeps; this was the oldest) the stream stays paused until
 * `resume()`: reopening by itself would close the next oldest elsewhere, which would reopen in
 * turn, and so on. After a session reason the caller checks its session with a JSON request
 * and calls `resume()` if still logged in (this browser may hold a newer session: it changed
 * the password); reopening by itself would only meet a 401. An unknown reason pauses too.
 */
export const TOO_MANY_STREAMS = 'too_many_streams';
export const SESSION_CLOSE_REASONS = ['session_ended', 'session_expired'];

/**
 * What the connection looks like to a person:
 * - `connecting`: the first attempt is under way;
 * - `live`: open, changes arrive as they are made;
 * - `reconnecting`: the stream broke `quietMs` or more ago and is being opened again;
 * - `offline`: still broken `offlineAfterMs` after it broke, with no sign that the server
 *   answers (see `refused`), or the browser says it is offline;
 * - `refused`: still broken `offlineAfterMs` after it broke, while the server answers JSON
 *   requests (the read `onBroken` made after the latest refusal succeeded): it turns the
 *   stream away (403, 503 when full), the retries go on, and the server is not out of reach;
 * - `paused`: the server closed it as this user's oldest (`too_many_streams`); only `resume()`
 *   opens it again;
 * - `unavailable`: this browser has no EventSource (the list still works, without live updates);
 * - `closed`: `close()` was called.
 */
export const STREAM_STATUSES = ['connecting', 'live', 'reconnecting', 'offline', 'refused', 'paused', 'unavailable', 'closed'];

/** Waits before opening the stream again after the browser gave up on it (4xx, 5xx, wrong type). */
export const DEFAULT_RETRY_DELAYS_MS = [1000, 2000, 5000, 10000, 30000];

/**
 * Opens the stream with the session cookie (`withCredentials`), keeps it open, and reports.
 *
 * The browser reopens a stream by itself after a network error, sending `Last-Event-ID` so
 * the server replays what was missed; after an HTTP error (401 when the session ended, 403,
 * 502 from a proxy while the API is down, 503 when the server is full) it gives up, and this
 * function opens a new one after a growing delay (`retryDelaysMs`). A new EventSource has no
 * last event id, so every open after a break calls `onOpen({reopened: true})`: the caller then
 * re-reads the list.
 *
 * @param {{baseUrl: string}} client  The API client (for its base URL).
 * @param {object} handlers
 * @param {(type: string, data: *, id: string) => void} handlers.onEvent  A todo event or `resync`.
 * @param {(status: string) => void} [handlers.onStatus]  See STREAM_STATUSES; only on a change.
 * @param {({reopened: boolean}) => void} [handlers.onOpen]  Every time the stream opens.
 * @param {() => (Promise<boolean|null>|void)} [handlers.onBroken]  The browser gave up (an HTTP
 *   error): the session may have ended, which only a JSON request can tell. Returning that
 *   request's outcome (true it succeeded, false it failed, anything else unknown) tells a
 *   long break the server refuses (`refused`) from one where it cannot be reached (`offline`).
 * @param {(reason: string) => void} [handlers.onClosed]  The server closed the stream with a
 *   reason (see TOO_MANY_STREAMS, SESSION_CLOSE_REASONS); nothing reopens it but `resume()`.
 * @param {object} [options]  Injected in tests.
 * @returns {{close(): void, reconnectNow(): void, resume(): void, status(): string}}
 */
export function openEventStream(
  client,
  { onEvent, onStatus = () => {}, onOpen = () => {}, onBroken = () => {}, onClosed = () => {} },
  {
    EventSource: EventSourceImpl = globalThis.EventSource,
    window: win = typeof window === 'undefined' ? null : window,
    retryDelaysMs = DEFAULT_RETRY_DELAYS_MS,
    quietMs = 2000,
    offlineAfterMs = 10000,
  } = {},
) {
  const url = `${client.baseUrl.replace(/\/+$/, '')}${EVENTS_PATH}`;
  let status = null;
  let source = null;
  let everOpened = false;
  let brokenSince = null; // When the stream last stopped being open (null while open).
  let breaks = 0; // Counts breaks, so that an answer about an earlier one is not taken for this one.
  // Whether the server answered the JSON request made after this break's latest refusal
  // (`onBroken`): true, a long break is `refused`, not `offline`. null: not known.
  let answered = null;
  let failures = 0; // Consecutive HTTP failures, for the retry delay.
  let retryTimer = null;
  let quietTimer = null;
  let offlineTimer = null;
  let closed = false;
  // The server closed the stream with a reason: no reconnect (browser's, timer's, online's,
  // visibility's) until `resume()`.
  let stopped = false;

  const setStatus = (next) => {
    if (next === status) return;
    status = next;
    onStatus(next);
  };

  if (typeof EventSourceImpl !== 'function') {
    setStatus('unavailable');
    return { close() {}, reconnectNow() {}, resume() {}, status: () => status };
  }

  function connect() {
    retryTimer = null;
    if (closed) return;
    const current = new EventSourceImpl(url, { withCredentials: true });
    source = current;
    // Only the current stream counts: one closed here (offline, replaced) may still fire.
    current.onopen = () => current === source && opened();
    current.onerror = () => current === source && errored();
    for (const type of [...TODO_EVENTS, RESYNC_EVENT]) {
      current.addEventListener(type, (event) => current === source && received(type, event));
    }
    current.addEventListener(CLOSED_EVENT, (event) => current === source && closedByServer(event));
  }

  /** The server's last event: closed on purpose, so the browser must not reconnect. */
  function closedByServer(event) {
    let reason = null;
    try {
      reason = JSON.parse(event.data).reason;
    } catch {
      // No reason we know: paused, like any reason we do not know.
    }
    source.close(); // Before the end of the response, which would make the browser reconnect.
    source = null;
    stopped = true;
    clearTimers();
    if (SESSION_CLOSE_REASONS.includes(reason)) {
      lost(); // Calm while the caller checks the session (and resumes or logs out).
    } else {
      if (brokenSince === null) newBreak();
      setStatus('paused');
    }
    onClosed(reason);
  }

  function opened() {
    const reopened = everOpened || brokenSince !== null;
    everOpened = true;
    brokenSince = null;
    failures = 0;
    clearTimeout(quietTimer);
    clearTimeout(offlineTimer);
    setStatus('live');
    onOpen({ reopened });
  }

  function received(type, event) {
    let data = null;
    try {
      data = event.data ? JSON.parse(event.data) : null;
    } catch {
      return; // Not ours (a proxy's page?): a resync or reconnect will put the list right.
    }
    onEvent(type, data, event.lastEventId);
  }

  function errored() {
    if (closed) return;
    const gaveUp = source.readyState === 2; // EventSource.CLOSED
    lost();
    if (!gaveUp) {
      // The browser reconnects by itself (with Last-Event-ID). No answer at all this time:
      // what an earlier JSON request told no longer holds.
      serverAnswered(breaks, false);
      return;
    }
    source.close();
    source = null;
    const delay = retryDelaysMs[Math.min(failures, retryDelaysMs.length - 1)];
    failures += 1;
    retryTimer = setTimeout(connect, delay);
    const breakNow = breaks;
    Promise.resolve(onBroken()).then((outcome) => serverAnswered(breakNow, outcome));
  }

  /**
   * Whether the server answers JSON requests during break number `breakNow`: a long break is
   * then `refused` (the server turns the stream away) rather than `offline`. Only true and
   * false count; an answer about an earlier break, or once the browser is offline, does not.
   */
  function serverAnswered(breakNow, outcome) {
    if (closed || stopped || breakNow !== breaks || brokenSince === null) return;
    if (outcome !== true && outcome !== false) return;
    if (win && win.navigator && win.navigator.onLine === false) return;
    answered = outcome;
    if (status === 'offline' || status === 'refused') setStatus(longBreakStatus());
  }

  const longBreakStatus = () => (answered ? 'refused' : 'offline');

  /** After `offlineAfterMs` of this break, says `offline` (or `refused`, see serverAnswered). */
  function startOfflineTimer() {
    offlineTimer = setTimeout(() => setStatus(longBreakStatus()), offlineAfterMs);
  }

  /** The stream is not open: say so calmly (a blip of under `quietMs` shows nothing). */
  function lost() {
    if (brokenSince !== null) return;
    newBreak();
    if (win && win.navigator && win.navigator.onLine === false) {
      setStatus('offline');
      return;
    }
    if (status === 'live') {
      quietTimer = setTimeout(() => setStatus('reconnecting'), quietMs);
    } else {
      setStatus('reconnecting'); // Never open yet, or back online: nothing to keep calm about.
    }
    startOfflineTimer();
  }

  function newBreak() {
    brokenSince = Date.now();
    breaks += 1;
    answered = null;
  }

  function clearTimers() {
    clearTimeout(retryTimer);
    clearTimeout(quietTimer);
    clearTimeout(offlineTimer);
    retryTimer = null;
  }

  /** Opens again at once (back online, window visible again), instead of waiting for the timer. */
  function reconnectNow() {
    if (closed || stopped || source) return;
    clearTimeout(retryTimer);
    connect();
  }

  // The browser knows before the stream does: offline, no connection can work, so the stream
  // is closed (a connection kept by the network stack would otherwise hold back what was
  // missed); back online, a new one is opened at once, and its opening re-reads the list.
  const wentOffline = () => {
    if (closed || stopped) return;
    clearTimers();
    if (source) source.close();
    source = null;
    if (brokenSince === null) newBreak();
    answered = false; // Whatever a request told before, nothing gets through now.
    setStatus('offline');
  };
  const cameOnline = () => {
    if (closed || stopped || source) return;
    clearTimers();
    failures = 0;
    brokenSince = null;
    lost();
    connect();
  };
  win?.addEventListener?.('offline', wentOffline);
  win?.addEventListener?.('online', cameOnline);

  setStatus('connecting');
  connect();

  return {
    close() {
      if (closed) return;
      closed = true;
      clearTimers();
      win?.removeEventListener?.('offline', wentOffline);
      win?.removeEventListener?.('online', cameOnline);
      if (source) source.close();
      source = null;
      setStatus('closed');
    },
    reconnectNow,
    /**
     * Opens the stream again after the server closed it with a reason (a person asked to
     * resume, or the session check found this browser still logged in). Its opening counts
     * as a reopening (`onOpen({reopened: true})`): events were missed meanwhile.
     */
    resume() {
      if (closed || !stopped) return;
      stopped = false;
      failures = 0;
      clearTimers();
      if (brokenSince === null) newBreak();
      setStatus('reconnecting');
      startOfflineTimer();
      connect();
    },
    status: () => status,
  };
}
