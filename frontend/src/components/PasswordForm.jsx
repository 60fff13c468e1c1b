import { useRef, useState } from 'react';

import { useAccountFocus } from '../hooks/useAccountFocus.js';
import { passwordFormErrors } from './accountErrors.js';
import { AccountError, AccountStatus } from './AccountStatus.jsx';
import { FormField } from './FormField.jsx';

/** The sign-up form's hint, word for word: the rules are the same (the server judges both). */
export const NEW_PASSWORD_HINT = 'At least 8 characters, not only digits, and not your username.';

const EMPTY = { currentPassword: '', newPassword: '' };

/**
 * Change the password. The server ends every other session and gives this one a new id and a
 * new CSRF secret (the API client then fetches a fresh token), so this device stays logged in;
 * `onChanged` lets the page read the session list again.
 */
export function PasswordForm({ api, username, onChanged }) {
  const [values, setValues] = useState(EMPTY);
  const [errors, setErrors] = useState({});
  const [submitting, setSubmitting] = useState(false);
  const [message, setMessage] = useState(null);
  const refs = { currentPassword: useRef(null), newPassword: useRef(null), submit: useRef(null), status: useRef(null) };
  const focusAfterRender = useAccountFocus();

  function update(event) {
    const { name, value } = event.target;
    setValues((current) => ({ ...current, [name]: value }));
  }

  async function handleSubmit(event) {
    event.preventDefault();
    setSubmitting(true);
    setErrors({});
    setMessage(null);
    try {
      await api.account.changePassword(values);
      setValues(EMPTY);
      setMessage('Password changed. You are still logged in here; every other session has been logged out.');
      setSubmitting(false);
      focusAfterRender(() => refs.status.current);
      onChanged?.();
    } catch (error) {
      if (error.status === 401) return; // Logged out meanwhile: the app shows the log-in form.
      const found = passwordFormErrors(error);
      setErrors(found);
      setSubmitting(false);
      // The field to fix, else the button (disabled while waiting, so it lost focus).
      const target = found.currentPassword ? 'currentPassword' : found.newPassword ? 'newPassword' : 'submit';
      focusAfterRender(() => refs[target].current);
    }
  }

  return (
    <section className="card account-section" aria-labelledby="password-title" data-testid="password-section">
      <h2 id="password-title">Change password</h2>
      <AccountStatus ref={refs.status} message={message} testId="password-status" />
      <form className="account-form" data-testid="password-form" onSubmit={handleSubmit}>
        {errors.form && <AccountError testId="password-form-error">{errors.form}</AccountError>}
        {/* For password managers: which account this new password belongs to. */}
        <input type="text" name="username" autoComplete="username" value={username} readOnly hidden />
        <FormField
          ref={refs.currentPassword}
          name="currentPassword"
          label="Current password"
          type="password"
          autoComplete="current-password"
          required
          value={values.currentPassword}
          onChange={update}
          error={errors.currentPassword}
        />
        <FormField
          ref={refs.newPassword}
          name="newPassword"
          label="New password"
          type="password"
          autoComplete="new-password"
          required
          value={values.newPassword}
          onChange={update}
          error={errors.newPassword}
          hint={NEW_PASSWORD_HINT}
        />
        <button ref={refs.submit} type="submit" className="button button-primary" disabled={submitting}>
          {submitting ? 'Changing password…' : 'Change password'}
        </button>
      </form>
    </section>
  );
}
