import { describe, it } from 'node:test';
import assert from 'node:assert/strict';

import { ApiError, createApi, createApiClient, DEFAULT_TIMEOUT_MS, RETRYABLE_CSRF_REASONS } from '../../src/api/index.js';
import { csrfFailure, csrfFetches, deferred, fakeFetch, json, noContent, withTokens } from './fake-fetch.mjs';

const BASE = 'http://api.test:8000';
const ok = () => json(200, { result: 'OK' });

function setup(handler, options = {}) {
  const server = fakeFetch(handler);
  const client = createApiClient({ baseUrl: BASE, fetch: server.fetch, ...options });
  return { ...server, client, api: createApi(client) };
}

describe('transport', () => {
  it('prefixes the base URL, sends cookies and asks for JSON', async () => {
    const { api, calls } = setup(ok);
    assert.deepEqual(await api.ping.get(), { result: 'OK' });
    assert.equal(calls[0].url, `${BASE}/api/ping/`);
    assert.equal(calls[0].credentials, 'include');
    assert.equal(calls[0].headers.Accept, 'application/json');
  });

  it('sets Content-Type only when there is a body', async () => {
    const { api, calls } = setup(withTokens(() => json(201, { id: 1 })));
    await api.todos.list();
    await api.todos.create({ title: 'x' });
    await api.ping.post();
    const [list, , create, ping] = calls;
    assert.equal(list.headers['Content-Type'], undefined);
    assert.equal(create.headers['Content-Type'], 'application/json');
    assert.deepEqual(create.body, { title: 'x' });
    assert.equal(ping.headers['Content-Type'], undefined);
    assert.equal(ping.body, undefined);
  });

  it('strips trailing slashes from the base URL and encodes query strings', async () => {
    const server = fakeFetch(() => json(200, { todos: [] }));
    const api = createApi(createApiClient({ baseUrl: `${BASE}//`, fetch: server.fetch }));
    await api.todos.list({ completed: false });
    assert.equal(server.calls[0].url, `${BASE}/api/todos/?completed=false`);
  });

  it('returns null for 204 No Content', async () => {
    const { client } = setup(withTokens(noContent));
    assert.equal(await client.delete('/api/todos/3/'), null);
  });
});

describe('CSRF token', () => {
  it('is fetched once and reused', async () => {
    const { api, calls } = setup(withTokens(ok));
    await api.ping.post();
    await api.ping.post();
    await api.todos.patch(1, { completed: true });
    assert.equal(csrfFetches(calls), 1);
    const unsafe = calls.filter((c) => c.path !== '/api/csrf/');
    assert.deepEqual(unsafe.map((c) => c.headers['X-CSRFToken']), ['token-1', 'token-1', 'token-1']);
  });

  it('is fetched from the JSON body of GET /api/csrf/ with cookies included', async () => {
    const { api, calls } = setup(withTokens(ok));
    assert.equal(await api.csrf.token(), 'token-1');
    assert.equal(calls[0].method, 'GET');
    assert.equal(calls[0].url, `${BASE}/api/csrf/`);
    assert.equal(calls[0].credentials, 'include');
  });

  it('shares one in-flight fetch among concurrent callers', async () => {
    const held = deferred();
    const { api, calls } = setup(async (call) => {
      if (call.path === '/api/csrf/') {
        await held.promise;
        return json(200, { csrfToken: 'shared' });
      }
      return ok();
    });
    const requests = [api.ping.post(), api.todos.delete(1), api.todos.toggleAll(true), api.csrf.token()];
    await new Promise((r) => setImmediate(r));
    assert.equal(csrfFetches(calls), 1, 'only one token request while the first is pending');
    held.resolve();
    await Promise.all(requests);
    assert.equal(csrfFetches(calls), 1);
    for (const call of calls.filter((c) => c.path !== '/api/csrf/')) {
      assert.equal(call.headers['X-CSRFToken'], 'shared');
    }
  });

  it('is retried from scratch after a failed token fetch', async () => {
    let attempts = 0;
    const { api } = setup((call) => {
      if (call.path === '/api/csrf/') {
        attempts += 1;
        if (attempts === 1) throw new TypeError('Failed to fetch');
        return json(200, { csrfToken: 'second' });
      }
      return ok();
    });
    await assert.rejects(api.ping.post(), { code: 'network_error' });
    assert.deepEqual(await api.ping.post(), { result: 'OK' });
  });

  for (const method of ['POST', 'PUT', 'PATCH', 'DELETE']) {
    it(`is sent on ${method}`, async () => {
      const { client, calls } = setup(withTokens(ok));
      await client.request(method, '/api/ping/');
      assert.equal(calls.at(-1).headers['X-CSRFToken'], 'token-1');
    });
  }

  for (const method of ['GET', 'HEAD', 'OPTIONS']) {
    it(`is neither fetched nor sent on ${method}`, async () => {
      const { client, calls } = setup(withTokens(ok));
      await client.request(method, '/api/ping/');
      assert.equal(calls.length, 1);
      assert.equal(calls[0].headers['X-CSRFToken'], undefined);
    });
  }
});

describe('CSRF failure and retry', () => {
  for (const reason of RETRYABLE_CSRF_REASONS) {
    it(`refreshes the token and retries once on ${reason}`, async () => {
      const { api, calls } = setup(
        withTokens((call, all) => {
          const posts = all.filter((c) => c.path === '/api/ping/').length;
          return posts === 1 ? csrfFailure(reason) : ok();
        }),
      );
      assert.deepEqual(await api.ping.post(), { result: 'OK' });
      const pings = calls.filter((c) => c.path === '/api/ping/');
      assert.deepEqual(pings.map((c) => c.headers['X-CSRFToken']), ['token-1', 'token-2']);
      assert.equal(csrfFetches(calls), 2);
    });
  }

  const fatal = ['origin_untrusted', 'referer_missing', 'referer_malformed', 'referer_insecure', 'referer_untrusted', 'cross_site'];
  for (const reason of fatal) {
    it(`does not retry on ${reason}`, async () => {
      const { api, calls } = setup(withTokens(() => csrfFailure(reason)));
      await assert.rejects(api.ping.post(), (error) => {
        assert.ok(error instanceof ApiError);
        assert.equal(error.status, 403);
        assert.equal(error.code, 'csrf_failed');
        assert.equal(error.reason, reason);
        return true;
      });
      assert.equal(calls.filter((c) => c.path === '/api/ping/').length, 1);
      assert.equal(csrfFetches(calls), 1);
    });
  }

  it('never retries a second time', async () => {
    const { api, calls } = setup(withTokens(() => csrfFailure('token_incorrect')));
    await assert.rejects(api.todos.create({ title: 'x' }), { status: 403, reason: 'token_incorrect' });
    assert.equal(calls.filter((c) => c.path === '/api/todos/').length, 2);
  });

  it('keeps the refreshed token for later requests', async () => {
    let failed = false;
    const { api, calls } = setup(
      withTokens(() => {
        if (failed) return ok();
        failed = true;
        return csrfFailure('cookie_missing');
      }),
    );
    await api.ping.post();
    await api.ping.post();
    assert.equal(csrfFetches(calls), 2);
    assert.equal(calls.at(-1).headers['X-CSRFToken'], 'token-2');
  });

  it('does not retry cookie_duplicated and says what to do instead of the server sentence', async () => {
    const { api, calls } = setup(withTokens(() => csrfFailure('cookie_duplicated')));
    await assert.rejects(api.todos.create({ title: 'x' }), (error) => {
      assert.ok(error instanceof ApiError);
      assert.equal(error.status, 403);
      assert.equal(error.code, 'csrf_failed');
      assert.equal(error.reason, 'cookie_duplicated');
      assert.match(error.detail, /more than one/i);
      assert.match(error.detail, /reload/i);
      assert.match(error.detail, /cookies/i);
      assert.equal(error.message, error.detail);
      return true;
    });
    assert.equal(calls.filter((c) => c.path === '/api/todos/').length, 1);
    assert.equal(csrfFetches(calls), 1);
  });

  it('keeps the server sentence for the other CSRF reasons', async () => {
    const { api } = setup(withTokens(() => csrfFailure('origin_untrusted')));
    await assert.rejects(api.ping.post(), { detail: 'CSRF check failed (origin_untrusted).' });
  });

  it('lists cookie_duplicated nowhere among the retryable reasons', () => {
    assert.equal(RETRYABLE_CSRF_REASONS.has('cookie_duplicated'), false);
  });

  it('does not retry a 403 that is not a CSRF failure', async () => {
    const { api, calls } = setup(withTokens(() => json(403, { error: 'forbidden', detail: 'No.' })));
    await assert.rejects(api.ping.post(), { code: 'forbidden' });
    assert.equal(calls.filter((c) => c.path === '/api/ping/').length, 1);
  });
});

describe('CSRF rotation at log-in, sign-up and log-out', () => {
  const user = { id: 7, username: 'ada' };
  const cases = {
    login: (api) => api.auth.login({ username: 'ada', password: 'secret-pass' }),
    signup: (api) => api.auth.signup({ username: 'ada', password: 'secret-pass' }),
    logout: (api) => api.auth.logout(),
  };

  for (const [name, call] of Object.entries(cases)) {
    it(`forgets the token after ${name}`, async () => {
      const { api, calls } = setup(
        withTokens((c) => (c.path === '/api/auth/logout/' ? noContent() : c.path.startsWith('/api/auth/') ? json(200, { user }) : ok())),
      );
      await api.ping.post();
      await call(api);
      await api.ping.post();
      assert.equal(csrfFetches(calls), 2);
      assert.equal(calls.at(-1).headers['X-CSRFToken'], 'token-2');
    });
  }

  it('forgets the token after a failed log-in too', async () => {
    const { api, calls } = setup(
      withTokens((c) => (c.path === '/api/auth/login/' ? json(400, { error: 'invalid_credentials', detail: 'x' }) : ok())),
    );
    await assert.rejects(api.auth.login({ username: 'a', password: 'b' }), { code: 'invalid_credentials' });
    await api.ping.post();
    assert.equal(csrfFetches(calls), 2);
  });

  it('does not cache a token whose fetch was in flight during a rotation', async () => {
    const held = deferred();
    let issued = 0;
    const { api, client, calls } = setup(async (call) => {
      if (call.path === '/api/csrf/') {
        issued += 1;
        if (issued === 1) await held.promise;
        return json(200, { csrfToken: `token-${issued}` });
      }
      return ok();
    });
    const early = client.getCsrfToken();
    client.forgetCsrfToken();
    held.resolve();
    assert.equal(await early, 'token-1');
    await api.ping.post();
    assert.equal(calls.at(-1).headers['X-CSRFToken'], 'token-2');
  });

  it('unwraps the user of login, signup and me', async () => {
    const { api } = setup(withTokens((c) => (c.path === '/api/auth/me/' ? json(200, { user: null }) : json(200, { user }))));
    assert.deepEqual(await api.auth.login({ username: 'ada', password: 'p' }), user);
    assert.deepEqual(await api.auth.signup({ username: 'ada', password: 'p' }), user);
    assert.equal(await api.auth.me(), null);
  });
});

describe('error mapping', () => {
  it('maps a JSON error to ApiError with status, code, detail and field', async () => {
    const { api } = setup(withTokens(() => json(400, { error: 'invalid_field', field: 'title', detail: 'Title must be a string.' })));
    await assert.rejects(api.todos.create({ title: 3 }), (error) => {
      assert.ok(error instanceof ApiError);
      assert.ok(error instanceof Error);
      assert.equal(error.status, 400);
      assert.equal(error.code, 'invalid_field');
      assert.equal(error.field, 'title');
      assert.equal(error.detail, 'Title must be a string.');
      assert.equal(error.message, 'Title must be a string.');
      return true;
    });
  });

  it('reads Retry-After on 429', async () => {
    const { api } = setup(withTokens(() => json(429, { error: 'throttled', detail: 'Slow down.' }, { 'Retry-After': '120' })));
    await assert.rejects(api.auth.login({ username: 'a', password: 'b' }), { status: 429, code: 'throttled', retryAfter: 120 });
  });

  it('maps a non-JSON error body to invalid_response, keeping the status', async () => {
    const { api } = setup(() => new Response('<h1>Bad Gateway</h1>', { status: 502, headers: { 'Content-Type': 'text/html' } }));
    await assert.rejects(api.todos.list(), (error) => {
      assert.ok(error instanceof ApiError);
      assert.equal(error.status, 502);
      assert.equal(error.code, 'invalid_response');
      assert.match(error.detail, /502/);
      return true;
    });
  });

  it('maps a non-JSON success body to invalid_response', async () => {
    const { api } = setup(() => new Response('<!doctype html><title>app</title>', { status: 200 }));
    await assert.rejects(api.ping.get(), { status: 200, code: 'invalid_response' });
  });

  it('maps JSON without an error code to invalid_response', async () => {
    const { api } = setup(() => json(500, ['unexpected']));
    await assert.rejects(api.ping.get(), { status: 500, code: 'invalid_response' });
  });

  it('maps a network failure to status 0 and network_error', async () => {
    const { api } = setup(() => {
      throw new TypeError('Failed to fetch');
    });
    await assert.rejects(api.todos.list(), (error) => {
      assert.ok(error instanceof ApiError);
      assert.equal(error.status, 0);
      assert.equal(error.code, 'network_error');
      assert.equal(error.isNetworkError, true);
      assert.match(error.detail, /api\.test/);
      return true;
    });
  });

  it('maps a failure of the token fetch to the same error type', async () => {
    const { api } = setup(() => {
      throw new TypeError('Failed to fetch');
    });
    await assert.rejects(api.ping.post(), { status: 0, code: 'network_error' });
  });

  it('treats the 503 health document as an answer, not an error', async () => {
    const body = { status: 'unavailable', database: 'unavailable' };
    const { api } = setup(() => json(503, body));
    assert.deepEqual(await api.health(), body);
  });
});

describe('401 notification', () => {
  it('calls onUnauthorized with the error and still rejects', async () => {
    const seen = [];
    const { api } = setup(() => json(401, { error: 'not_authenticated', detail: 'Log in.' }), {
      onUnauthorized: (error) => seen.push(error.code),
    });
    await assert.rejects(api.todos.list(), { status: 401, code: 'not_authenticated' });
    assert.deepEqual(seen, ['not_authenticated']);
  });

  it('lets listeners subscribe and unsubscribe', async () => {
    const seen = [];
    const { api, client } = setup(() => json(401, { error: 'not_authenticated', detail: 'Log in.' }));
    const unsubscribe = client.onUnauthorized((error) => seen.push(error.status));
    await assert.rejects(api.todos.list());
    unsubscribe();
    await assert.rejects(api.todos.list());
    assert.deepEqual(seen, [401]);
  });

  it('is not called for other errors', async () => {
    const seen = [];
    const { api } = setup(() => json(404, { error: 'not_found', detail: 'Gone.' }), { onUnauthorized: () => seen.push(1) });
    await assert.rejects(api.todos.get(4), { code: 'not_found' });
    assert.deepEqual(seen, []);
  });
});

describe('endpoint helpers', () => {
  const todo = { id: 5, title: 't', completed: false, order: 1 };
  const cases = [
    ['ping.get', (api) => api.ping.get(), 'GET', '/api/ping/', '', ok()],
    ['ping.post', (api) => api.ping.post(), 'POST', '/api/ping/', '', ok()],
    ['health', (api) => api.health(), 'GET', '/api/health/', '', json(200, { status: 'ok' })],
    ['auth.me', (api) => api.auth.me(), 'GET', '/api/auth/me/', '', json(200, { user: null })],
    ['auth.logout', (api) => api.auth.logout(), 'POST', '/api/auth/logout/', '', noContent()],
    ['todos.list', (api) => api.todos.list(), 'GET', '/api/todos/', '', json(200, { todos: [todo] })],
    ['todos.list completed', (api) => api.todos.list({ completed: true }), 'GET', '/api/todos/', '?completed=true', json(200, { todos: [] })],
    ['todos.create', (api) => api.todos.create({ title: 't' }), 'POST', '/api/todos/', '', json(201, todo)],
    ['todos.get', (api) => api.todos.get(5), 'GET', '/api/todos/5/', '', json(200, todo)],
    ['todos.patch', (api) => api.todos.patch(5, { title: 'u' }), 'PATCH', '/api/todos/5/', '', json(200, todo)],
    ['todos.delete', (api) => api.todos.delete(5), 'DELETE', '/api/todos/5/', '', noContent()],
    ['todos.toggleAll', (api) => api.todos.toggleAll(true), 'PATCH', '/api/todos/', '', json(200, { updated: 2 })],
    ['todos.clearCompleted', (api) => api.todos.clearCompleted(), 'DELETE', '/api/todos/', '?completed=true', json(200, { deleted: 1 })],
  ];

  for (const [name, call, method, path, search, answer] of cases) {
    it(`${name} → ${method} ${path}${search}`, async () => {
      const { api, calls } = setup(withTokens(() => answer));
      await call(api);
      const sent = calls.at(-1);
      assert.equal(sent.method, method);
      assert.equal(sent.url, `${BASE}${path}${search}`);
    });
  }

  it('unwraps list, toggleAll and clearCompleted answers', async () => {
    const answers = { GET: json(200, { todos: [todo] }), PATCH: json(200, { updated: 3 }), DELETE: json(200, { deleted: 2 }) };
    const { api } = setup(withTokens((c) => answers[c.method]));
    assert.deepEqual(await api.todos.list(), [todo]);
    assert.equal(await api.todos.toggleAll(false), 3);
    assert.equal(await api.todos.clearCompleted(), 2);
  });
});

describe('request timeout', () => {
  it('is 10 seconds unless configured', () => {
    assert.equal(DEFAULT_TIMEOUT_MS, 10000);
  });

  it('aborts a request that gets no answer and fails with timeout', async () => {
    let signal;
    const fetch = (url, init) =>
      new Promise((_, reject) => {
        signal = init.signal;
        init.signal.addEventListener('abort', () => reject(new DOMException('aborted', 'AbortError')));
      });
    const client = createApiClient({ baseUrl: BASE, fetch, timeoutMs: 30 });
    await assert.rejects(client.get('/api/todos/'), (error) => {
      assert.ok(error instanceof ApiError);
      assert.equal(error.status, 0);
      assert.equal(error.code, 'timeout');
      assert.equal(error.detail, 'The server at http://api.test:8000 did not answer within 30 ms.');
      assert.equal(error.isWorthRetrying, true);
      return true;
    });
    assert.equal(signal.aborted, true);
  });

  it('also times out an answer whose body never ends, even if fetch ignores the signal', async () => {
    const fetch = async () => ({ ok: true, status: 200, headers: new Headers(), text: () => new Promise(() => {}) });
    const client = createApiClient({ baseUrl: BASE, fetch, timeoutMs: 30 });
    await assert.rejects(client.get('/api/todos/'), { code: 'timeout' });
  });

  it('names the time in seconds from one second on', async () => {
    const fetch = (url, init) =>
      new Promise((_, reject) => init.signal.addEventListener('abort', () => reject(new DOMException('aborted', 'AbortError'))));
    const client = createApiClient({ baseUrl: '', fetch, timeoutMs: 1000 });
    await assert.rejects(client.get('/api/ping/'), {
      code: 'timeout',
      detail: 'The server at this site did not answer within 1 second.',
    });
  });

  it('does not fire after a quick answer', async () => {
    const { api } = setup(ok, { timeoutMs: 20 });
    assert.deepEqual(await api.ping.get(), { result: 'OK' });
    await new Promise((resolve) => setTimeout(resolve, 40)); // an unhandled rejection here would fail the run
  });
});

describe('ApiError.isWorthRetrying', () => {
  const error = (status, code) => new ApiError({ status, code, detail: 'x' });
  it('is true without an answer or for a server failure, false for a refused request', () => {
    assert.equal(error(0, 'network_error').isWorthRetrying, true);
    assert.equal(error(0, 'timeout').isWorthRetrying, true);
    assert.equal(error(503, 'busy').isWorthRetrying, true);
    assert.equal(error(500, 'internal_error').isWorthRetrying, true);
    assert.equal(error(400, 'invalid_title').isWorthRetrying, false);
    assert.equal(error(404, 'not_found').isWorthRetrying, false);
    assert.equal(error(401, 'not_authenticated').isWorthRetrying, false);
  });
});
