import { useRef, useState } from 'react';

import { useAccountFocus } from '../hooks/useAccountFocus.js';
import { AccountError, AccountStatus } from './AccountStatus.jsx';
import { Loading } from './Loading.jsx';
import { RelativeTime } from './RelativeTime.jsx';

const plural = (n, one, many) => `${n} ${n === 1 ? one : many}`;

/**
 * The user's live sessions ("where you are logged in"): this device first, each other one
 * with an End button, and "Log out everywhere else". Ending this device's session is a
 * log-out, done the app's usual way (`onLogout`).
 *
 * `sessions` is the list's state (useAccountList), held by the page so that a password
 * change, which ends every other session, can read it again.
 */
export function SessionList({ api, onLogout, sessions }) {
  const [message, setMessage] = useState(null);
  const [error, setError] = useState(null);
  const [busy, setBusy] = useState(null); // the id being ended, or 'others'
  const headingRef = useRef(null);
  const statusRef = useRef(null);
  const endButtons = useRef(new Map());
  const othersButtonRef = useRef(null);
  const focusAfterRender = useAccountFocus();

  const ordered = [...sessions.items].sort((a, b) => Number(b.current) - Number(a.current));
  const others = ordered.filter((s) => !s.current);

  async function end(session) {
    setBusy(session.id);
    setError(null);
    // Where focus goes once the row is gone: the next other session, else the one before,
    // else "Log out everywhere else" (hidden when none is left), else the heading.
    const index = others.findIndex((s) => s.id === session.id);
    const neighbour = others[index + 1] || others[index - 1];
    try {
      await api.sessions.end(session.id);
      setMessage(`Ended the session of ${describeClient(session)}. That device is logged out.`);
    } catch (failure) {
      if (failure.status === 401) return; // This device was logged out: the app shows the log-in form.
      if (failure.code !== 'not_found') {
        setError(`Could not end the session of ${describeClient(session)}: ${failure.detail}`);
        setBusy(null);
        focusAfterRender(() => endButtons.current.get(session.id));
        return;
      }
      setMessage(`The session of ${describeClient(session)} had already ended.`);
    }
    setBusy(null);
    sessions.setItems((items) => items.filter((s) => s.id !== session.id));
    focusAfterRender(() => (neighbour && endButtons.current.get(neighbour.id)) || othersButtonRef.current || headingRef.current);
  }

  async function endOthers() {
    setBusy('others');
    setError(null);
    try {
      const ended = await api.sessions.endOthers();
      setMessage(
        ended === 0
          ? 'No other session was logged in.'
          : `Logged out everywhere else: ${plural(ended, 'other session', 'other sessions')} ended.`,
      );
      sessions.setItems((items) => items.filter((s) => s.current));
      sessions.reload();
      focusAfterRender(() => statusRef.current);
    } catch (failure) {
      if (failure.status === 401) return;
      setError(`Could not log out the other sessions: ${failure.detail}`);
      focusAfterRender(() => othersButtonRef.current);
    } finally {
      setBusy(null);
    }
  }

  return (
    <section className="card account-section" aria-labelledby="sessions-title" data-testid="sessions">
      <h2 id="sessions-title" ref={headingRef} tabIndex={-1}>
        Where you are logged in
      </h2>
      <p className="muted">
        Every browser logged in to your account. End any you do not recognise, or that you no longer use; that device
        will have to log in again.
      </p>
      <AccountStatus ref={statusRef} message={message} testId="sessions-status" />
      {error && <AccountError testId="sessions-error">{error}</AccountError>}
      {sessions.status === 'loading' && <Loading>Loading your sessions…</Loading>}
      {sessions.status === 'failed' && (
        <AccountError
          testId="sessions-load-error"
          action={
            <button type="button" className="button" onClick={sessions.reload}>
              Try again
            </button>
          }
        >
          Could not load your sessions: {sessions.error.detail}
        </AccountError>
      )}
      {sessions.status === 'ready' && (
        <>
          <ul className="account-list session-list" aria-label="Sessions">
            {ordered.map((session) => (
              <li key={session.id} className="account-item session" data-testid="session" data-current={session.current}>
                <div className="account-item-text">
                  <p className="account-item-name">
                    <span data-testid="session-client">{session.client || 'An unknown browser'}</span>
                    {session.current && (
                      <span className="badge" data-testid="this-device">
                        This device
                      </span>
                    )}
                  </p>
                  <p className="account-item-meta">
                    <span>
                      Logged in <RelativeTime value={session.createdAt} />
                    </span>
                    <span>
                      last seen <RelativeTime value={session.lastSeenAt} />
                    </span>
                    <span>
                      from <span data-testid="session-address">{session.address || 'an unknown address'}</span>
                    </span>
                  </p>
                </div>
                {session.current ? (
                  <button type="button" className="button" onClick={onLogout}>
                    Log out<span className="visually-hidden"> of this device</span>
                  </button>
                ) : (
                  <button
                    type="button"
                    className="button"
                    ref={(element) => (element ? endButtons.current.set(session.id, element) : endButtons.current.delete(session.id))}
                    disabled={busy !== null}
                    onClick={() => end(session)}
                  >
                    {busy === session.id ? 'Ending…' : 'End'}
                    <span className="visually-hidden"> the session of {describeClient(session)}</span>
                  </button>
                )}
              </li>
            ))}
          </ul>
          {others.length > 0 ? (
            <button
              ref={othersButtonRef}
              type="button"
              className="button account-wide-button"
              disabled={busy !== null}
              onClick={endOthers}
            >
              {busy === 'others' ? 'Logging out the other sessions…' : 'Log out everywhere else'}
            </button>
          ) : (
            <p className="muted" data-testid="no-other-sessions">
              You are not logged in anywhere else.
            </p>
          )}
        </>
      )}
    </section>
  );
}

/** "Firefox on Linux at 203.0.113.9": what tells two sessions apart for a person. */
function describeClient(session) {
  const client = session.client || 'An unknown browser';
  return session.address ? `${client} at ${session.address}` : client;
}
