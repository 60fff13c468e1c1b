import { describeWait } from './authErrors.js';

/**
 * Where each server error belongs on the Account page's forms: next to the field it is
 * about, or above the form when it is about the attempt. Keys are the forms' field names;
 * `form` is the form-level message.
 *
 * @typedef {import('../api/errors.js').ApiError} ApiError
 * @typedef {{[field: string]: string}} FormErrors
 */

/** A sentence for failures that are about the attempt, not a field (throttling, a busy server…). */
export function describeAttemptError(error) {
  switch (error.code) {
    case 'throttled':
      return error.retryAfter == null
        ? 'Too many wrong passwords for this account. Please try again later.'
        : `Too many wrong passwords for this account. Try again in ${describeWait(error.retryAfter)}.`;
    case 'busy':
      return error.retryAfter == null
        ? 'The server is busy checking other passwords. Please try again in a moment.'
        : `The server is busy checking other passwords. Try again in ${describeWait(error.retryAfter)}.`;
    default:
      return error.detail;
  }
}

/** @param {ApiError} error @returns {FormErrors} for the fields currentPassword and newPassword. */
export function passwordFormErrors(error) {
  switch (error.code) {
    case 'invalid_credentials':
      return { currentPassword: 'That is not your current password.' };
    case 'invalid_password':
      return { newPassword: error.detail };
    case 'invalid_field':
      if (error.field === 'currentPassword' || error.field === 'newPassword') return { [error.field]: error.detail };
      return { form: error.detail };
    default:
      return { form: describeAttemptError(error) };
  }
}

/** @param {ApiError} error @returns {FormErrors} for the field password. */
export function deleteFormErrors(error) {
  switch (error.code) {
    case 'invalid_credentials':
      return { password: 'That is not your password.' };
    case 'invalid_field':
      return error.field === 'password' ? { password: error.detail } : { form: error.detail };
    default:
      return { form: describeAttemptError(error) };
  }
}

/** The API's body fields of a new token, by the form's field names. */
const TOKEN_FIELDS = { name: 'tokenName', abilities: 'abilities', expiresIn: 'expiresIn' };

/** @param {ApiError} error @returns {FormErrors} for the fields tokenName, abilities and expiresIn. */
export function tokenFormErrors(error) {
  switch (error.code) {
    case 'invalid_name':
    case 'invalid_abilities':
    case 'invalid_expires_in':
    case 'invalid_field':
      if (TOKEN_FIELDS[error.field]) return { [TOKEN_FIELDS[error.field]]: error.detail };
      return { form: error.detail };
    case 'too_many_tokens':
      return { form: `${error.detail} Revoke one you no longer use, then try again.` };
    default:
      return { form: describeAttemptError(error) };
  }
}
