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
            : `Too many failed attempts. Try again in ${describeWait(error.retryAfter)}.`,
      };
    default:
      return { form: error.detail };
  }
}

/**
 * A wait as people say it: "42 seconds" under a minute, then whole minutes rounded up
 * ("898 seconds" is "15 minutes"), then hours and minutes.
 */
export function describeWait(seconds) {
  const plural = (n, unit) => `${n} ${unit}${n === 1 ? '' : 's'}`;
  if (seconds < 60) return plural(Math.max(1, Math.ceil(seconds)), 'second');
  const minutes = Math.ceil(seconds / 60);
  if (minutes < 60) return plural(minutes, 'minute');
  const hours = Math.floor(minutes / 60);
  const rest = minutes % 60;
  return rest === 0 ? plural(hours, 'hour') : `${plural(hours, 'hour')} ${plural(rest, 'minute')}`;
}
