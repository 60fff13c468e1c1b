import { useEffect, useRef, useState } from 'react';

import { useDocumentTitle } from '../hooks/useDocumentTitle.js';
import { authFormErrors } from './authErrors.js';
import { FormField } from './FormField.jsx';

const COPY = {
  login: {
    title: 'Log in',
    documentTitle: 'Log in',
    submit: 'Log in',
    busy: 'Logging in…',
    passwordAutocomplete: 'current-password',
    switchText: 'No account yet?',
    switchLink: { href: '#/signup', label: 'Sign up' },
  },
  signup: {
    title: 'Create your account',
    documentTitle: 'Sign up',
    submit: 'Sign up',
    busy: 'Creating account…',
    passwordAutocomplete: 'new-password',
    passwordHint: 'At least 8 characters, not only digits, and not your username.',
    switchText: 'Already have an account?',
    switchLink: { href: '#/login', label: 'Log in' },
  },
};

/**
 * The log-in and sign-up form. The server is the only judge of what is valid
 * (its rules are in the contract); this form only places its answers next to
 * the right field.
 */
export function AuthForm({ mode, onSubmit, notice }) {
  const copy = COPY[mode];
  const [values, setValues] = useState({ username: '', password: '' });
  const [errors, setErrors] = useState({});
  const [submitting, setSubmitting] = useState(false);
  const fieldRefs = { username: useRef(null), password: useRef(null), submit: useRef(null) };
  // Where focus goes once the form shows the server's answer (see handleSubmit).
  const focusAfterAnswer = useRef(null);
  useDocumentTitle(copy.documentTitle);

  useEffect(() => {
    if (submitting || !focusAfterAnswer.current) return;
    fieldRefs[focusAfterAnswer.current].current?.focus();
    focusAfterAnswer.current = null;
  });

  function update(event) {
    const { name, value } = event.target;
    setValues((current) => ({ ...current, [name]: value }));
  }

  async function handleSubmit(event) {
    event.preventDefault();
    setSubmitting(true);
    setErrors({});
    try {
      await onSubmit(values);
      // On success the app navigates away; nothing more to do here.
    } catch (error) {
      const found = authFormErrors(error);
      setErrors(found);
      setSubmitting(false);
      // Put the cursor where the fix is needed (form-level errors are announced by role="alert"):
      // the field at fault; the password after wrong credentials; else the button, which was
      // disabled while waiting and so lost focus if it was pressed. Done after the re-render,
      // when the button is enabled again.
      focusAfterAnswer.current =
        found.username ? 'username' : found.password || error.code === 'invalid_credentials' ? 'password' : 'submit';
    }
  }

  return (
    <section className="card auth-card" aria-labelledby="auth-title">
      <h1 id="auth-title">{copy.title}</h1>
      {notice}
      <form className={`auth-form ${mode}-form`} data-testid={`${mode}-form`} onSubmit={handleSubmit}>
        {errors.form && (
          <p className="form-error" role="alert" data-testid="form-error">
            {errors.form}
          </p>
        )}
        <FormField
          ref={fieldRefs.username}
          name="username"
          label="Username"
          autoComplete="username"
          autoCapitalize="none"
          spellCheck="false"
          autoFocus
          required
          value={values.username}
          onChange={update}
          error={errors.username}
        />
        <FormField
          ref={fieldRefs.password}
          name="password"
          label="Password"
          type="password"
          autoComplete={copy.passwordAutocomplete}
          required
          value={values.password}
          onChange={update}
          error={errors.password}
          hint={copy.passwordHint}
        />
        <button ref={fieldRefs.submit} type="submit" className="button button-primary" disabled={submitting}>
          {submitting ? copy.busy : copy.submit}
        </button>
      </form>
      <p className="auth-switch">
        {copy.switchText} <a href={copy.switchLink.href}>{copy.switchLink.label}</a>
      </p>
    </section>
  );
}
