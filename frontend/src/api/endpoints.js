/**
 * Typed helpers, one per endpoint of the contract (shared/API.md). They unwrap
 * the envelopes (`{"user": ...}`, `{"todos": [...]}`) so callers get plain
 * values, and they are the only place that knows the paths.
 *
 * @typedef {{id: number, username: string}} User
 * @typedef {{id: number, title: string, completed: boolean, order: number,
 *            createdAt: string, updatedAt: string}} Todo
 * @typedef {{id: number, createdAt: string, lastSeenAt: string, client: string,
 *            address: string, current: boolean}} Session
 * @typedef {{id: number, name: string, abilities: string[], createdAt: string,
 *            expiresAt: string|null, lastUsedAt: string|null}} Token
 */
export function createApi(client) {
  const todoPath = (id) => `/api/todos/${encodeURIComponent(String(id))}/`;
  const sessionPath = (id) => `/api/auth/sessions/${encodeURIComponent(String(id))}/`;
  const tokenPath = (id) => `/api/auth/tokens/${encodeURIComponent(String(id))}/`;

  return {
    client,

    csrf: {
      /** The cached CSRF token, fetched from GET /api/csrf/ on first use. */
      token: () => client.getCsrfToken(),
    },

    ping: {
      get: () => client.get('/api/ping/'),
      post: () => client.post('/api/ping/'),
    },

    /** Resolves to the status document for 200 and for 503 (database down) alike. */
    health: () => client.get('/api/health/', { acceptStatuses: [503] }),

    auth: {
      /** @returns {Promise<User>} */
      signup: ({ username, password }) =>
        client.post('/api/auth/signup/', { username, password }, { rotatesCsrf: true }).then(unwrapUser),
      /** @returns {Promise<User>} */
      login: ({ username, password }) =>
        client.post('/api/auth/login/', { username, password }, { rotatesCsrf: true }).then(unwrapUser),
      /** @returns {Promise<void>} */
      logout: () => client.post('/api/auth/logout/', undefined, { rotatesCsrf: true }).then(() => undefined),
      /** @returns {Promise<User|null>} null when logged out. */
      me: () => client.get('/api/auth/me/').then(unwrapUser),
    },

    // Account management: the browser session only (a bearer token gets 403 session_required).
    sessions: {
      /** @returns {Promise<Session[]>} every live session of the user, `current` marking this one. */
      list: () => client.get('/api/auth/sessions/').then((data) => data.sessions),
      /**
       * Ends one session. Ending the current one is a log-out, which rotates the CSRF secret;
       * the token is forgotten in every case, as the caller may not know which one it ended.
       * @returns {Promise<void>}
       */
      end: (id) => client.delete(sessionPath(id), { rotatesCsrf: true }).then(() => undefined),
      /** "Log out everywhere else". @returns {Promise<number>} how many sessions ended. */
      endOthers: () => client.delete('/api/auth/sessions/').then((data) => data.ended),
    },

    account: {
      /**
       * The session survives with a new id and a new CSRF secret (both cookies are set by the
       * answer), so the cached token is forgotten and the next unsafe request fetches one.
       * @returns {Promise<User>}
       */
      changePassword: ({ currentPassword, newPassword }) =>
        client
          .post('/api/auth/password/', { currentPassword, newPassword }, { rotatesCsrf: true })
          .then(unwrapUser),
      /** Deletes the user, their todos, sessions and tokens; the cookies are cleared. @returns {Promise<void>} */
      delete: ({ password }) =>
        client.delete('/api/auth/me/', { body: { password }, rotatesCsrf: true }).then(() => undefined),
    },

    tokens: {
      /** @returns {Promise<Token[]>} newest first, without secrets. */
      list: () => client.get('/api/auth/tokens/').then((data) => data.tokens),
      /**
       * @param {{name: string, abilities: string[], expiresIn?: number|null}} token
       *   expiresIn in seconds; null or absent: never expires.
       * @returns {Promise<Token & {token: string}>} the secret is in `token`, shown this once.
       */
      create: ({ name, abilities, expiresIn = null }) =>
        client.post('/api/auth/tokens/', { name, abilities, expiresIn }),
      /** @returns {Promise<void>} */
      revoke: (id) => client.delete(tokenPath(id)).then(() => undefined),
    },

    todos: {
      /** @param {{completed?: boolean}} [filter] @returns {Promise<Todo[]>} */
      list: ({ completed } = {}) =>
        client
          .get('/api/todos/', completed === undefined ? {} : { query: { completed: String(completed) } })
          .then((data) => data.todos),
      /** @param {{title: string, completed?: boolean, order?: number}} todo @returns {Promise<Todo>} */
      create: (todo) => client.post('/api/todos/', todo),
      /** @returns {Promise<Todo>} */
      get: (id) => client.get(todoPath(id)),
      /** @param {{title?: string, completed?: boolean, order?: number}} changes @returns {Promise<Todo>} */
      patch: (id, changes) => client.patch(todoPath(id), changes),
      /** @returns {Promise<void>} */
      delete: (id) => client.delete(todoPath(id)).then(() => undefined),
      /** @returns {Promise<number>} how many todos changed. */
      toggleAll: (completed) => client.patch('/api/todos/', { completed }).then((data) => data.updated),
      /** @returns {Promise<number>} how many todos were deleted. */
      clearCompleted: () =>
        client.delete('/api/todos/', { query: { completed: 'true' } }).then((data) => data.deleted),
    },
  };
}

function unwrapUser(data) {
  return data ? data.user : null;
}
