// Shared helpers for component tests: a fake API with controllable answers and
// small wrappers around react-test-renderer.
import { act, create } from 'react-test-renderer';

import { ApiError } from '../../src/api/errors.js';

// Tells React this is a test environment, so act() warnings are meaningful.
globalThis.IS_REACT_ACT_ENVIRONMENT = true;

export const networkError = () =>
  new ApiError({ status: 0, code: 'network_error', detail: 'The server at http://api.test could not be reached.' });

export const serverError = (status, code, detail, extra = {}) => new ApiError({ status, code, detail, ...extra });

/**
 * An in-memory stand-in for `createApi(client)`. Every method records its
 * calls; a test replaces a method (e.g. `api.todos.create = () => Promise.reject(...)`)
 * to make the "server" refuse.
 */
export function fakeApi(initialTodos = []) {
  let nextId = 100;
  const calls = [];
  const record = (name, fn) => (...args) => {
    calls.push([name, ...args]);
    return fn(...args);
  };
  const api = {
    calls,
    client: { baseUrl: 'http://api.test', onUnauthorized: () => () => {} },
    ping: {
      get: record('ping.get', async () => ({ result: 'OK' })),
      post: record('ping.post', async () => ({ result: 'OK' })),
    },
    auth: {
      me: record('auth.me', async () => null),
      login: record('auth.login', async ({ username }) => ({ id: 1, username })),
      signup: record('auth.signup', async ({ username }) => ({ id: 1, username })),
      logout: record('auth.logout', async () => undefined),
    },
    todos: {
      list: record('todos.list', async () => initialTodos.map((t) => ({ ...t }))),
      create: record('todos.create', async ({ title }) => {
        nextId += 1;
        return { id: nextId, title, completed: false, order: nextId };
      }),
      patch: record('todos.patch', async (id, changes) => ({ id, ...changes })),
      delete: record('todos.delete', async () => undefined),
      toggleAll: record('todos.toggleAll', async () => 1),
      clearCompleted: record('todos.clearCompleted', async () => 1),
    },
  };
  return api;
}

export const todo = (id, title, completed = false) => ({ id, title, completed, order: id });

// react-test-renderer has no DOM: give refs an object with the methods components call.
const createNodeMock = () => ({ focus() {}, select() {} });

export async function render(element) {
  let renderer;
  await act(async () => {
    renderer = create(element, { createNodeMock });
  });
  await settle();
  return renderer;
}

/** Let pending (fake) API promises resolve and React apply the results. */
export async function settle() {
  await act(() => new Promise((resolve) => setTimeout(resolve, 0)));
}

export async function fire(instance, handler, event = {}) {
  await act(async () => {
    instance.props[handler]({ preventDefault() {}, ...event });
  });
  await settle();
}

const hasClass = (node, name) =>
  typeof node.type === 'string' && String(node.props.className || '').split(/\s+/).includes(name);

export const allByClass = (renderer, name) => renderer.root.findAll((n) => hasClass(n, name));
export const oneByClass = (renderer, name) => renderer.root.find((n) => hasClass(n, name));
export const queryByClass = (renderer, name) => allByClass(renderer, name)[0] || null;
export const byTestId = (renderer, id) => renderer.root.findAll((n) => typeof n.type === 'string' && n.props['data-testid'] === id);

/** The text a person would read inside an element. */
export function textOf(instance) {
  return instance.children.map((child) => (typeof child === 'string' ? child : textOf(child))).join('');
}

export const items = (renderer) => byTestId(renderer, 'todo-item');
export const titles = (renderer) => items(renderer).map((li) => textOf(li.find((n) => n.props['data-testid'] === 'todo-title')));

export async function typeNewTodo(renderer, text) {
  const input = oneByClass(renderer, 'new-todo');
  await act(async () => input.props.onChange({ target: { value: text } }));
  await fire(input, 'onKeyDown', { key: 'Enter' });
}

export { act };
