import { useRef, useState } from 'react';

import { useAccountFocus } from '../hooks/useAccountFocus.js';
import { deleteFormErrors } from './accountErrors.js';
import { AccountError } from './AccountStatus.jsx';
import { FormField } from './FormField.jsx';

/**
 * Delete the account, in two steps: a button that says what will be deleted, then a form that
 * asks for the password. `onDeleted` runs once the server has deleted it (the app goes back to
 * the log-in form with a message).
 */
export function DeleteAccount({ api, username, onDeleted }) {
  const [confirming, setConfirming] = useState(false);
  const [password, setPassword] = useState('');
  const [errors, setErrors] = useState({});
  const [submitting, setSubmitting] = useState(false);
  const startRef = useRef(null);
  const passwordRef = useRef(null);
  const submitRef = useRef(null);
  const focusAfterRender = useAccountFocus();

  function start() {
    setConfirming(true);
    focusAfterRender(() => passwordRef.current);
  }

  function cancel() {
    setConfirming(false);
    setPassword('');
    setErrors({});
    focusAfterRender(() => startRef.current);
  }

  async function handleSubmit(event) {
    event.preventDefault();
    setSubmitting(true);
    setErrors({});
    try {
      await api.account.delete({ password });
      onDeleted();
    } catch (error) {
      if (error.status === 401) return;
      const found = deleteFormErrors(error);
      setErrors(found);
      setSubmitting(false);
      focusAfterRender(() => (found.password ? passwordRef.current : submitRef.current));
    }
  }

  return (
    <section className="card account-section account-danger-zone" aria-labelledby="delete-title" data-testid="delete-account">
      <h2 id="delete-title">Delete account</h2>
      <p id="delete-explanation">
        Deleting the account <strong>{username}</strong> deletes all its todos and access tokens and logs it out on every
        device. The username becomes free for anyone to take. This cannot be undone.
      </p>
      {confirming ? (
        <form
          className="account-form"
          data-testid="delete-account-form"
          onSubmit={handleSubmit}
          onKeyDown={(event) => event.key === 'Escape' && !submitting && cancel()}
          aria-describedby="delete-explanation"
        >
          {errors.form && <AccountError testId="delete-form-error">{errors.form}</AccountError>}
          <FormField
            ref={passwordRef}
            name="password"
            label="Type your password to confirm"
            type="password"
            autoComplete="current-password"
            required
            value={password}
            onChange={(event) => setPassword(event.target.value)}
            error={errors.password}
          />
          <div className="account-actions">
            <button ref={submitRef} type="submit" className="button button-danger" disabled={submitting}>
              {submitting ? 'Deleting…' : 'Delete my account for good'}
            </button>
            <button type="button" className="button" onClick={cancel} disabled={submitting}>
              Cancel
            </button>
          </div>
        </form>
      ) : (
        <button ref={startRef} type="button" className="button button-danger-quiet" onClick={start}>
          Delete account…
        </button>
      )}
    </section>
  );
}
