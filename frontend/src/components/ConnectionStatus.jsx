const TEXT = {
  connecting: 'Connecting…',
  live: 'Live',
  reconnecting: 'Reconnecting…',
  offline: 'Offline',
};

const EXPLANATION = {
  connecting: 'Connecting to receive changes made in your other tabs and devices.',
  live: 'Changes made in your other tabs and devices appear here as they happen.',
  reconnecting: 'The connection for live changes was lost; reconnecting. Your own changes are still sent.',
  offline: 'The server cannot be reached. Changes from other devices will appear when the connection is back.',
};

/**
 * A small, calm indicator of the live-updates stream. It is a polite status region, and the
 * stream reports a break only after it has lasted a moment (api/events.js), so a reconnect
 * that heals at once neither flickers nor gets announced. Nothing when this browser cannot
 * stream at all.
 */
export function ConnectionStatus({ status }) {
  if (!(status in TEXT)) return null;
  return (
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
    </p>
  );
}
