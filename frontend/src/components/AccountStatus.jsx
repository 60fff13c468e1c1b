import { forwardRef } from 'react';

/**
 * The result of the last action of one Account section ("Token revoked."), in a polite live
 * region that is on the page from the start: screen readers announce changes to a region they
 * already know, not always one that appears with its text. Errors are not shown here but as
 * role="alert" next to what failed. Focusable (tabIndex -1) so an action whose button went
 * away can put focus on its result.
 */
export const AccountStatus = forwardRef(function AccountStatus({ message, testId }, ref) {
  return (
    <div ref={ref} className="account-status" role="status" tabIndex={-1} data-testid={testId}>
      {message && <p className="account-status-text">{message}</p>}
    </div>
  );
});

/** An error of one Account section, announced at once. */
export function AccountError({ children, testId, action }) {
  return (
    <div className="form-error account-error" role="alert" data-testid={testId}>
      <p>{children}</p>
      {action}
    </div>
  );
}
