/**
 * Where each server error belongs on the log-in / sign-up form: next to the
 * field it is about, or at the top of the form when it is about the attempt.
 *
 * @param {import('../api/errors.js').ApiError} error
 * @returns {{username?: string, password?: string, form?: string}}
 */
export function authFormErrors(error) {
  switch (error.code) {
    case 'invalid_username':
    case 'username_taken':
      return { username: error.detail };
    case 'invalid_password':
      return { password: error.detail };
    case 'invalid_field':
      if (error.field === 'username' || error.field === 'password') return { [error.field]: error.detail };
      return { form: error.detail };
    case 'invalid_credentials':
      // The server deliberately does not say which of the two was wrong.
      return { form: 'Wrong username or password.' };
    case 'throttled':
      return {
        form:
          error.retryAfter == null
            ? 'Too many failed attempts. Please try again later.'
            : `Too many failed attempts. Try again in ${error.retryAfter} ${error.retryAfter === 1 ? 'second' : 'seconds'}.`,
      };
    default:
      return { form: error.detail };
  }
}
