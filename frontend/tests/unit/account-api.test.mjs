// The account-management helpers of the API client (issue 12): paths, methods and bodies,
// unwrapped answers, and the CSRF token forgotten wherever the server rotates its secret.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';

import { createApi, createApiClient } from '../../src/api/index.js';
import { csrfFetches, fakeFetch, json, noContent, withTokens } from './fake-fetch.mjs';

const BASE = 'http://api.test:8000';
const user = { id: 7, username: 'ada' };
const session = { id: 12, createdAt: 't', lastSeenAt: 't', client: 'Firefox on Linux', address: '127.0.0.1', current: false };
const token = { id: 3, name: 'backup', abilities: ['todos:read'], createdAt: 't', expiresAt: null, lastUsedAt: null };

function setup(handler) {
  const server = fakeFetch(withTokens(handler));
  return { ...server, api: createApi(createApiClient({ baseUrl: BASE, fetch: server.fetch })) };
}

describe('account endpoint helpers', () => {
  const cases = [
    ['sessions.list', (api) => api.sessions.list(), 'GET', '/api/auth/sessions/', undefined, json(200, { sessions: [session] })],
    ['sessions.end', (api) => api.sessions.end(12), 'DELETE', '/api/auth/sessions/12/', undefined, noContent()],
    ['sessions.endOthers', (api) => api.sessions.endOthers(), 'DELETE', '/api/auth/sessions/', undefined, json(200, { ended: 2 })],
    [
      'account.changePassword',
      (api) => api.account.changePassword({ currentPassword: 'old pass 1', newPassword: 'new pass 2' }),
      'POST',
      '/api/auth/password/',
      { currentPassword: 'old pass 1', newPassword: 'new pass 2' },
      json(200, { user }),
    ],
    ['account.delete', (api) => api.account.delete({ password: 'pw 123456' }), 'DELETE', '/api/auth/me/', { password: 'pw 123456' }, noContent()],
    ['tokens.list', (api) => api.tokens.list(), 'GET', '/api/auth/tokens/', undefined, json(200, { tokens: [token] })],
    [
      'tokens.create',
      (api) => api.tokens.create({ name: 'backup', abilities: ['todos:read'], expiresIn: 3600 }),
      'POST',
      '/api/auth/tokens/',
      { name: 'backup', abilities: ['todos:read'], expiresIn: 3600 },
      json(201, { ...token, token: 'tdl_secret' }),
    ],
    [
      'tokens.create without expiry',
      (api) => api.tokens.create({ name: 'backup', abilities: ['todos:read'] }),
      'POST',
      '/api/auth/tokens/',
      { name: 'backup', abilities: ['todos:read'], expiresIn: null },
      json(201, { ...token, token: 'tdl_secret' }),
    ],
    ['tokens.revoke', (api) => api.tokens.revoke(3), 'DELETE', '/api/auth/tokens/3/', undefined, noContent()],
  ];

  for (const [name, call, method, path, body, answer] of cases) {
    it(`${name} → ${method} ${path}`, async () => {
      const { api, calls } = setup(() => answer.clone());
      await call(api);
      const sent = calls.at(-1);
      assert.equal(sent.method, method);
      assert.equal(sent.url, `${BASE}${path}`);
      assert.deepEqual(sent.body, body);
      if (method !== 'GET') assert.equal(sent.headers['X-CSRFToken'], 'token-1');
    });
  }

  it('unwraps the lists, the count and the user', async () => {
    const answers = {
      'GET /api/auth/sessions/': json(200, { sessions: [session] }),
      'DELETE /api/auth/sessions/': json(200, { ended: 4 }),
      'GET /api/auth/tokens/': json(200, { tokens: [token] }),
      'POST /api/auth/password/': json(200, { user }),
      'POST /api/auth/tokens/': json(201, { ...token, token: 'tdl_secret' }),
    };
    const { api } = setup((c) => answers[`${c.method} ${c.path}`]);
    assert.deepEqual(await api.sessions.list(), [session]);
    assert.equal(await api.sessions.endOthers(), 4);
    assert.deepEqual(await api.tokens.list(), [token]);
    assert.deepEqual(await api.account.changePassword({ currentPassword: 'a', newPassword: 'b' }), user);
    assert.equal((await api.tokens.create({ name: 'backup', abilities: ['todos:read'] })).token, 'tdl_secret');
  });

  it('encodes ids into the path', async () => {
    const { api, calls } = setup(noContent);
    await api.sessions.end('a/b');
    assert.equal(calls.at(-1).url, `${BASE}/api/auth/sessions/a%2Fb/`);
  });
});

describe('CSRF secret rotated by account changes', () => {
  // The server answers a password change with a new session id and a new CSRF secret: a token
  // fetched before no longer passes, so the next unsafe request must fetch a fresh one.
  const rotating = {
    'password change': (api) => api.account.changePassword({ currentPassword: 'old pass 1', newPassword: 'new pass 2' }),
    'account deletion': (api) => api.account.delete({ password: 'old pass 1' }),
    'ending a session (possibly this one)': (api) => api.sessions.end(12),
  };

  for (const [name, call] of Object.entries(rotating)) {
    it(`fetches a new token after ${name}`, async () => {
      const { api, calls } = setup((c) => (c.path === '/api/auth/password/' ? json(200, { user }) : c.path === '/api/ping/' ? json(200, { result: 'OK' }) : noContent()));
      await api.ping.post();
      await call(api);
      await api.ping.post();
      assert.equal(csrfFetches(calls), 2);
      assert.equal(calls.at(-1).headers['X-CSRFToken'], 'token-2');
    });
  }

  it('fetches a new token after a refused password change too', async () => {
    const { api, calls } = setup((c) =>
      c.path === '/api/auth/password/' ? json(400, { error: 'invalid_credentials', detail: 'Wrong password.' }) : json(200, { result: 'OK' }),
    );
    await assert.rejects(api.account.changePassword({ currentPassword: 'x', newPassword: 'y' }), { code: 'invalid_credentials' });
    await api.ping.post();
    assert.equal(csrfFetches(calls), 2);
  });

  it('keeps the token after ending the other sessions, creating or revoking a token', async () => {
    const { api, calls } = setup((c) =>
      c.path === '/api/auth/sessions/' ? json(200, { ended: 1 }) : c.method === 'POST' ? json(201, { ...token, token: 's' }) : noContent(),
    );
    await api.sessions.endOthers();
    await api.tokens.create({ name: 'n', abilities: ['todos:write'] });
    await api.tokens.revoke(3);
    assert.equal(csrfFetches(calls), 1);
  });
});
