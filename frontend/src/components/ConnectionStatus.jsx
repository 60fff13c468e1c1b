const TEXT = {
  connecting: 'Connecting…',
  live: 'Live',
  reconnecting: 'Reconnecting…',
  offline: 'Offline',
  refused: 'Unavailable',
  paused: 'Paused in this tab',
};

const EXPLANATION = {
  connecting: 'Connecting to receive changes made in your other tabs and devices.',
  live: 'Changes made in your other tabs and devices appear here as they happen.',
  reconnecting: 'The connection for live changes was lost; reconnecting. Your own changes are still sent.',
  offline: 'The server cannot be reached. Changes from other devices will appear when the connection is back.',
  refused:
    'The server is reachable but did not open live updates; retrying. Your own changes are still sent. ' +
    'Changes from other devices will appear when live updates are back.',
  paused:
    'You have live updates open in more tabs and devices than the server keeps, so this, the oldest, was paused. ' +
    'Your own changes are still sent. Resume to get live updates here again (the oldest elsewhere pauses instead).',
};

/**
 * A small, calm indicator of the live-updates stream. It is a polite status region, and the
 * stream reports a break only after it has lasted a moment (api/events.js), so a reconnect
 * that heals at once neither flickers nor gets announced. Offline only when the server cannot
 * be reached: one that answers the list but turns the stream away says live updates are
 * unavailable. Nothing when this browser cannot stream at all. When the server paused this
 * tab's stream, the explanation is part of the status (read out, not only a tooltip) and a
 * Resume button follows it.
 */
export function ConnectionStatus({ status, onResume }) {
  if (!(status in TEXT)) return null;
  const paused = status === 'paused';
  // One element tree whatever the state, so the live region is never re-created (a new
  // region's first text may go unannounced).
  return (
    <div className="connection">
      <p
        className="connection-status"
        role="status"
        aria-label="Live updates"
        data-testid="connection-status"
        data-state={status}
        title={EXPLANATION[status]}
      >
        <span className="connection-dot" aria-hidden="true" />
        <span className="visually-hidden">Live updates: </span>
        {TEXT[status]}
        {paused && <span className="visually-hidden">. {EXPLANATION.paused}</span>}
      </p>
      {paused && (
        <button type="button" className="button button-quiet connection-resume" onClick={onResume} aria-label="Resume live updates">
          Resume
        </button>
      )}
    </div>
  );
}
