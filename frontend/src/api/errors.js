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
}

/** Codes the client invents itself; every other code comes from the server. */
export const NETWORK_ERROR = 'network_error';
export const INVALID_RESPONSE = 'invalid_response';
