import { ApiError, INVALID_RESPONSE, messageFor, NETWORK_ERROR, TIMEOUT } from './errors.js';

const UNSAFE_METHODS = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

/**
 * CSRF failures that a fresh token can fix. The origin, referer and cross-site
 * reasons are absent on purpose: a new token cannot fix them, and retrying would
 * only hide a deployment mistake. So is `cookie_duplicated`: the browser holds a
 * second CSRF cookie (possibly planted by another site), which no token can cure;
 * the person gets a sentence saying what to do (see `messageFor`).
 */
export const RETRYABLE_CSRF_REASONS = new Set([
  'cookie_missing',
  'cookie_malformed',
  'token_missing',
  'token_malformed',
  'token_incorrect',
]);

const CSRF_PATH = '/api/csrf/';

/**
 * How long one request may take, from sending it to the last byte of the answer. Past it the
 * request is aborted and fails with `timeout`: a person waiting longer than this on a todo
 * app assumes it is broken, and a silent connection must not leave a change pending forever.
 */
export const DEFAULT_TIMEOUT_MS = 10000;

/**
 * The low-level HTTP client: every request of the app goes through `request`.
 * It knows the transport rules of the contract (base URL, cookies, JSON, CSRF,
 * error shape) but nothing about todos or users; see `endpoints.js` for those.
 *
 * @param {object} [options]
 * @param {string} [options.baseUrl]  API origin, e.g. "http://localhost:8000" ('' = same origin).
 * @param {typeof fetch} [options.fetch] Injected in tests; defaults to the global fetch.
 * @param {(error: ApiError) => void} [options.onUnauthorized] Called on every 401.
 * @param {number} [options.timeoutMs] Per request (each attempt, the CSRF token fetch included).
 */
export function createApiClient({ baseUrl = '', fetch: fetchImpl, onUnauthorized, timeoutMs = DEFAULT_TIMEOUT_MS } = {}) {
  const root = baseUrl.replace(/\/+$/, '');
  // Looked up at call time (not bound once) so a fetch installed later is used,
  // and so the browser's fetch is never called with a wrong `this`.
  const doFetch = fetchImpl || ((...args) => globalThis.fetch(...args));
  const unauthorizedListeners = new Set(onUnauthorized ? [onUnauthorized] : []);

  let csrfToken = null;
  let csrfRequest = null;
  // Bumped whenever the server rotates the secret, so a token fetch that was
  // already in flight cannot put a pre-rotation token back into the cache.
  let csrfGeneration = 0;

  function urlFor(path, query) {
    const search = query ? new URLSearchParams(query).toString() : '';
    return `${root}${path}${search ? `?${search}` : ''}`;
  }

  async function send(method, path, { body, query, acceptStatuses = [] } = {}, token = null) {
    const headers = { Accept: 'application/json' };
    // Only with a body: a GET with Content-Type would trigger a CORS preflight for nothing.
    if (body !== undefined) headers['Content-Type'] = 'application/json';
    if (token) headers['X-CSRFToken'] = token;

    let response;
    let text;
    const where = root || 'this site';
    const abort = new AbortController();
    let timer;
    const timedOut = new Promise((_, reject) => {
      timer = setTimeout(() => {
        abort.abort();
        reject(
          new ApiError({
            status: 0,
            code: TIMEOUT,
            detail: `The server at ${where} did not answer within ${describeSeconds(timeoutMs)}.`,
          }),
        );
      }, timeoutMs);
    });
    const exchange = (async () => {
      const answer = await doFetch(urlFor(path, query), {
        method,
        headers,
        credentials: 'include',
        body: body === undefined ? undefined : JSON.stringify(body),
        signal: abort.signal,
      });
      return [answer, await answer.text()];
    })();
    exchange.catch(() => {}); // After a timeout its AbortError has no one to go to.
    try {
      // Raced as well as aborted: the answer counts only if it is whole before the deadline,
      // even from a fetch that ignores its signal.
      [response, text] = await Promise.race([exchange, timedOut]);
    } catch (error) {
      if (error instanceof ApiError) throw error;
      // fetch rejects without a status for DNS errors, refused connections and
      // CORS refusals alike; the browser hides which one it was.
      throw new ApiError({
        status: 0,
        code: NETWORK_ERROR,
        detail: `The server at ${where} could not be reached.`,
      });
    } finally {
      clearTimeout(timer);
    }

    const parsed = parseJson(text);
    const accepted = response.ok || acceptStatuses.includes(response.status);
    if (accepted && parsed.ok) return parsed.value;
    if (!accepted) throw errorFromAnswer(response, parsed);
    throw new ApiError({
      status: response.status,
      code: INVALID_RESPONSE,
      detail: `The server's answer was not JSON (HTTP ${response.status}); is the API URL right?`,
    });
  }

  function getCsrfToken() {
    if (csrfToken) return Promise.resolve(csrfToken);
    if (!csrfRequest) {
      const generation = csrfGeneration;
      const pending = send('GET', CSRF_PATH)
        .then((data) => {
          const token = data && data.csrfToken;
          if (typeof token !== 'string' || token === '') {
            throw new ApiError({ status: 200, code: INVALID_RESPONSE, detail: 'The server sent no CSRF token.' });
          }
          if (generation === csrfGeneration) csrfToken = token;
          return token;
        })
        .finally(() => {
          if (csrfRequest === pending) csrfRequest = null;
        });
      csrfRequest = pending;
    }
    return csrfRequest;
  }

  /** Forget the token because the server rotated its secret (log-in, sign-up, log-out). */
  function forgetCsrfToken() {
    csrfToken = null;
    csrfRequest = null;
    csrfGeneration += 1;
  }

  /** Drop `used` after the server refused it, unless a newer token already replaced it. */
  function dropCsrfToken(used) {
    if (csrfToken === used) csrfToken = null;
  }

  /**
   * @param {string} method
   * @param {string} path    Contract path, with its trailing slash.
   * @param {object} [options]
   * @param {*} [options.body]            Sent as JSON when defined.
   * @param {object} [options.query]      Query-string parameters.
   * @param {number[]} [options.acceptStatuses] Non-2xx statuses whose JSON is a normal answer.
   * @param {boolean} [options.rotatesCsrf] The server rotates the CSRF secret on this call.
   * @returns {Promise<*>} The parsed JSON body, or null for an empty one (204).
   */
  async function request(method, path, options = {}) {
    const unsafe = UNSAFE_METHODS.has(method);
    let retried = false;
    try {
      for (;;) {
        const token = unsafe ? await getCsrfToken() : null;
        try {
          return await send(method, path, options, token);
        } catch (error) {
          if (retried || !unsafe || !isRetryableCsrfFailure(error)) throw error;
          retried = true;
          dropCsrfToken(token);
        }
      }
    } catch (error) {
      if (error instanceof ApiError && error.status === 401) {
        unauthorizedListeners.forEach((listener) => listener(error));
      }
      throw error;
    } finally {
      // Also after a failure: if the request reached the server we cannot know
      // whether the secret was rotated, and one extra token fetch is cheap.
      if (options.rotatesCsrf) forgetCsrfToken();
    }
  }

  return {
    baseUrl: root,
    request,
    get: (path, options) => request('GET', path, options),
    post: (path, body, options) => request('POST', path, { ...options, body }),
    patch: (path, body, options) => request('PATCH', path, { ...options, body }),
    delete: (path, options) => request('DELETE', path, options),
    getCsrfToken,
    forgetCsrfToken,
    /** Subscribe to 401 answers; returns the unsubscribe function. */
    onUnauthorized(listener) {
      unauthorizedListeners.add(listener);
      return () => unauthorizedListeners.delete(listener);
    },
  };
}

function describeSeconds(ms) {
  if (ms < 1000) return `${ms} ms`;
  const seconds = Math.round(ms / 1000);
  return seconds === 1 ? '1 second' : `${seconds} seconds`;
}

function isRetryableCsrfFailure(error) {
  return (
    error instanceof ApiError &&
    error.status === 403 &&
    error.code === 'csrf_failed' &&
    RETRYABLE_CSRF_REASONS.has(error.reason)
  );
}

function parseJson(text) {
  if (text === '') return { ok: true, value: null };
  try {
    return { ok: true, value: JSON.parse(text) };
  } catch {
    return { ok: false };
  }
}

function errorFromAnswer(response, parsed) {
  const body = parsed.ok ? parsed.value : null;
  if (body && typeof body === 'object' && typeof body.error === 'string') {
    const reason = typeof body.reason === 'string' ? body.reason : null;
    return new ApiError({
      status: response.status,
      code: body.error,
      detail: messageFor(body.error, reason, typeof body.detail === 'string' ? body.detail : body.error),
      field: typeof body.field === 'string' ? body.field : null,
      reason,
      retryAfter: parseRetryAfter(response.headers),
    });
  }
  // A proxy's HTML error page, an empty 502, a misrouted request...
  return new ApiError({
    status: response.status,
    code: INVALID_RESPONSE,
    detail: `The server answered with HTTP ${response.status} and no readable error.`,
    retryAfter: parseRetryAfter(response.headers),
  });
}

/** Retry-After is either delta-seconds or an HTTP date; both become whole seconds. */
function parseRetryAfter(headers) {
  const value = headers && typeof headers.get === 'function' ? headers.get('Retry-After') : null;
  if (!value) return null;
  if (/^\d+$/.test(value.trim())) return Number(value.trim());
  const date = Date.parse(value);
  return Number.isNaN(date) ? null : Math.max(0, Math.ceil((date - Date.now()) / 1000));
}
