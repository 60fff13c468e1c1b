/**
 * Typed helpers, one per endpoint of the contract (shared/API.md). They unwrap
 * the envelopes (`{"user": ...}`, `{"todos": [...]}`) so callers get plain
 * values, and they are the only place that knows the paths.
 *
 * @typedef {{id: number, username: string}} User
 * @typedef {{id: number, title: string, completed: boolean, order: number,
 *            createdAt: string, updatedAt: string}} Todo
 */
export function createApi(client) {
  const todoPath = (id) => `/api/todos/${encodeURIComponent(String(id))}/`;

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
