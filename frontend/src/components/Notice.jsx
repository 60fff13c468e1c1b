/**
 * A message banner, in the flow of the page (it never covers content). Errors use
 * role="alert" so screen readers announce them the moment they appear; other tones
 * are polite status updates. The text wraps anywhere, so a long word cannot push
 * the close button off screen.
 */
export function Notice({ tone = 'error', children, onDismiss, action, testId }) {
  return (
    <div
      className={`notice notice-${tone}`}
      role={tone === 'error' ? 'alert' : 'status'}
      data-testid={testId || (tone === 'error' ? 'error-message' : 'status-message')}
    >
      <p className="notice-text">{children}</p>
      {action && <div className="notice-actions">{action}</div>}
      {onDismiss && (
        <button type="button" className="notice-dismiss" aria-label="Dismiss message" onClick={onDismiss}>
          <span aria-hidden="true">×</span>
        </button>
      )}
    </div>
  );
}
