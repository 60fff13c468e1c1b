/**
 * The single error type of the API client. Every failure — an error answer from
 * the server, an answer that is not JSON, or no answer at all — becomes an
 * ApiError, so UI code needs exactly one `catch` shape.
 */
export class ApiError extends Error {
  /**
   * @param {object} info
   * @param {number} info.status   HTTP status; 0 when the server could not be reached.
   * @param {string} info.code     The contract's `error` code, or a client-side one
   *                               (`network_error`, `invalid_response`).
   * @param {string} [info.detail] One human sentence, safe to show.
   * @param {string|null} [info.field]  The offending field for `invalid_field` & co.
   * @param {string|null} [info.reason] The CSRF failure reason for `csrf_failed`.
   * @param {number|null} [info.retryAfter] Seconds from a `Retry-After` header.
   */
  constructor({ status, code, detail, field = null, reason = null, retryAfter = null }) {
    super(detail || code);
    this.name = 'ApiError';
    this.status = status;
    this.code = code;
    this.detail = detail || code;
    this.field = field;
    this.reason = reason;
    this.retryAfter = retryAfter;
  }

  /** True when the request never got an answer (server down, DNS, CORS refusal). */
  get isNetworkError() {
    return this.code === NETWORK_ERROR;
  }

  /**
   * True when sending the same request again may well succeed: no answer, no answer in
   * time, or a server-side failure (5xx). A 4xx says the request itself was refused.
   */
  get isWorthRetrying() {
    return this.code === NETWORK_ERROR || this.code === TIMEOUT || this.status >= 500;
  }
}

/** Codes the client invents itself; every other code comes from the server. */
export const NETWORK_ERROR = 'network_error';
export const TIMEOUT = 'timeout';
export const INVALID_RESPONSE = 'invalid_response';

/**
 * Sentences the client shows instead of the server's, where the server's (Django's)
 * wording names a mechanism but not what the person can do about it.
 * Keyed by `code/reason`.
 */
const CLIENT_MESSAGES = {
  // The browser holds two CSRF cookies for the API, one of them planted by another site
  // or network (cookie tossing). A fresh token cannot fix it, so it is never retried.
  'csrf_failed/cookie_duplicated':
    'Your browser sent more than one security cookie for this site, which can mean another site or network set one. ' +
    'Reload the page; if this keeps happening, clear the cookies of this site and log in again.',
};

/** The sentence to show for an error answer: the client's own where it has one, else the server's. */
export function messageFor(code, reason, serverDetail) {
  return CLIENT_MESSAGES[`${code}/${reason}`] || serverDetail;
}
