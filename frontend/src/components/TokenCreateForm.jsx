import { forwardRef, useRef, useState } from 'react';

import { useAccountFocus } from '../hooks/useAccountFocus.js';
import { tokenFormErrors } from './accountErrors.js';
import { AccountError } from './AccountStatus.jsx';
import { FormField } from './FormField.jsx';

const DAY = 86400;

export const ABILITIES = [
  { value: 'todos:read', label: 'Read todos', hint: 'list and fetch them' },
  { value: 'todos:write', label: 'Change todos', hint: 'add, edit, complete and delete them' },
];

/** Expiry choices, in seconds (the server allows 1 s to 366 days, or never). */
export const EXPIRY_CHOICES = [
  { value: String(7 * DAY), label: '7 days' },
  { value: String(30 * DAY), label: '30 days' },
  { value: String(90 * DAY), label: '90 days' },
  { value: String(365 * DAY), label: '1 year' },
  { value: 'never', label: 'Never' },
];

const INITIAL = { tokenName: '', abilities: ['todos:read'], expiresIn: String(30 * DAY) };

/**
 * Create a personal access token: a name, what it may do, how long it lives. The server is the
 * judge of what is valid; its answers go next to the field they are about. `onCreated` gets the
 * answer, secret included (shown once by NewTokenSecret).
 */
export const TokenCreateForm = forwardRef(function TokenCreateForm({ api, onCreated }, nameRef) {
  const [values, setValues] = useState(INITIAL);
  const [errors, setErrors] = useState({});
  const [submitting, setSubmitting] = useState(false);
  const abilitiesRef = useRef(null);
  const expiryRef = useRef(null);
  const submitRef = useRef(null);
  const focusAfterRender = useAccountFocus();

  function toggleAbility(event) {
    const { value, checked } = event.target;
    setValues((current) => ({
      ...current,
      // Kept in the listed order, whatever order they were ticked in.
      abilities: ABILITIES.map((a) => a.value).filter((a) => (a === value ? checked : current.abilities.includes(a))),
    }));
  }

  async function handleSubmit(event) {
    event.preventDefault();
    setSubmitting(true);
    setErrors({});
    try {
      const created = await api.tokens.create({
        name: values.tokenName,
        abilities: values.abilities,
        expiresIn: values.expiresIn === 'never' ? null : Number(values.expiresIn),
      });
      setValues(INITIAL);
      setSubmitting(false);
      onCreated(created);
    } catch (error) {
      if (error.status === 401) return;
      const found = tokenFormErrors(error);
      setErrors(found);
      setSubmitting(false);
      const target = found.tokenName ? nameRef : found.abilities ? abilitiesRef : found.expiresIn ? expiryRef : submitRef;
      focusAfterRender(() => target.current);
    }
  }

  return (
    <form className="account-form token-form" data-testid="token-form" onSubmit={handleSubmit}>
      <h3>New token</h3>
      {errors.form && <AccountError testId="token-form-error">{errors.form}</AccountError>}
      <FormField
        ref={nameRef}
        name="tokenName"
        label="Name"
        hint="What it is for, e.g. “backup script”."
        autoComplete="off"
        required
        value={values.tokenName}
        onChange={(event) => setValues((current) => ({ ...current, tokenName: event.target.value }))}
        error={errors.tokenName}
      />
      <fieldset
        className={`field field-choices${errors.abilities ? ' field-invalid' : ''}`}
        aria-describedby={errors.abilities ? 'field-abilities-error' : undefined}
      >
        <legend>What it may do</legend>
        {ABILITIES.map((ability, index) => (
          <label key={ability.value} className="choice">
            <input
              ref={index === 0 ? abilitiesRef : undefined}
              type="checkbox"
              name="abilities"
              value={ability.value}
              checked={values.abilities.includes(ability.value)}
              onChange={toggleAbility}
            />
            <span>
              {ability.label} <span className="muted">({ability.hint}, <code>{ability.value}</code>)</span>
            </span>
          </label>
        ))}
        {errors.abilities && (
          <p className="field-error" id="field-abilities-error" data-testid="abilities-error">
            {errors.abilities}
          </p>
        )}
      </fieldset>
      <div className={`field${errors.expiresIn ? ' field-invalid' : ''}`}>
        <label htmlFor="field-expiresIn">Expires after</label>
        <select
          ref={expiryRef}
          id="field-expiresIn"
          name="expiresIn"
          value={values.expiresIn}
          onChange={(event) => setValues((current) => ({ ...current, expiresIn: event.target.value }))}
          aria-invalid={errors.expiresIn ? 'true' : undefined}
          aria-describedby={errors.expiresIn ? 'field-expiresIn-error' : undefined}
        >
          {EXPIRY_CHOICES.map((choice) => (
            <option key={choice.value} value={choice.value}>
              {choice.label}
            </option>
          ))}
        </select>
        {errors.expiresIn && (
          <p className="field-error" id="field-expiresIn-error" data-testid="expiresIn-error">
            {errors.expiresIn}
          </p>
        )}
      </div>
      <button ref={submitRef} type="submit" className="button button-primary" disabled={submitting}>
        {submitting ? 'Creating token…' : 'Create token'}
      </button>
    </form>
  );
});
