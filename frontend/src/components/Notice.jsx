/**
 * A message banner. Errors use role="alert" so screen readers announce them
 * the moment they appear; other tones are polite status updates.
 */
export function Notice({ tone = 'error', children, onDismiss, action, testId }) {
  return (
    <div
      className={`notice notice-${tone}`}
      role={tone === 'error' ? 'alert' : 'status'}
      data-testid={testId || (tone === 'error' ? 'error-message' : 'status-message')}
    >
      <p className="notice-text">{children}</p>
      {action}
      {onDismiss && (
        <button type="button" className="notice-dismiss" aria-label="Dismiss message" onClick={onDismiss}>
          ×
        </button>
      )}
    </div>
  );
}
