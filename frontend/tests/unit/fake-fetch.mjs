// A scriptable stand-in for fetch: each test gives a handler that answers
// requests, and inspects `calls` afterwards. Answers are real `Response`
// objects so the client reads them exactly as it reads a browser's.

export function fakeFetch(handler) {
  const calls = [];
  const fetch = async (url, init = {}) => {
    const call = {
      url,
      path: new URL(url, 'http://test.invalid').pathname,
      method: init.method || 'GET',
      headers: { ...(init.headers || {}) },
      credentials: init.credentials,
      body: init.body === undefined ? undefined : JSON.parse(init.body),
    };
    calls.push(call);
    return handler(call, calls);
  };
  return { fetch, calls };
}

export function json(status, body, headers = {}) {
  return new Response(JSON.stringify(body), {
    status,
    headers: { 'Content-Type': 'application/json; charset=utf-8', ...headers },
  });
}

export function noContent() {
  return new Response(null, { status: 204 });
}

export function csrfFailure(reason) {
  return json(403, { error: 'csrf_failed', reason, detail: `CSRF check failed (${reason}).` });
}

/** A promise plus its resolve function, to hold an answer back until a test says so. */
export function deferred() {
  let resolve;
  const promise = new Promise((r) => {
    resolve = r;
  });
  return { promise, resolve };
}

/** Answers GET /api/csrf/ with token-1, token-2, ... and delegates the rest. */
export function withTokens(handler) {
  let issued = 0;
  return (call, calls) => {
    if (call.path === '/api/csrf/') {
      issued += 1;
      return json(200, { csrfToken: `token-${issued}` });
    }
    return handler(call, calls);
  };
}

export const csrfFetches = (calls) => calls.filter((c) => c.path === '/api/csrf/').length;
