import { useEffect, useReducer, useRef, useState } from 'react';

import { initialTodosState, todosReducer } from '../state/todos.js';

/**
 * The todo list and every change to it. Each change is optimistic: it is shown
 * at once and rolled back, with a message, if the API refuses it.
 */
export function useTodos(api) {
  const [state, dispatch] = useReducer(todosReducer, initialTodosState);
  const [loadAttempt, setLoadAttempt] = useState(0);
  const nextTempId = useRef(0);

  useEffect(() => {
    let ignore = false;
    dispatch({ type: 'load/start' });
    api.todos.list().then(
      (todos) => !ignore && dispatch({ type: 'load/done', todos }),
      (error) => !ignore && dispatch({ type: 'load/fail', error }),
    );
    return () => {
      ignore = true;
    };
  }, [api, loadAttempt]);

  function report(what, error) {
    // A 401 is handled once, app-wide (the user is sent to log in); a message
    // here would only flash before this view goes away.
    if (error.status === 401) return;
    dispatch({ type: 'notice/show', message: `${what}: ${error.detail}` });
  }

  async function add(title) {
    // A string id can never collide with the server's integer ids.
    nextTempId.current += 1;
    const tempId = `new-${nextTempId.current}`;
    dispatch({ type: 'added', todo: { id: tempId, title, completed: false, pending: true } });
    try {
      const saved = await api.todos.create({ title });
      dispatch({ type: 'add/confirmed', tempId, todo: saved });
    } catch (error) {
      dispatch({ type: 'removed', ids: [tempId] });
      report(`Could not add “${title}”`, error);
    }
  }

  async function change(todo, changes, what) {
    const previous = Object.fromEntries(Object.keys(changes).map((key) => [key, todo[key]]));
    dispatch({ type: 'changed', id: todo.id, changes });
    try {
      await api.todos.patch(todo.id, changes);
    } catch (error) {
      if (error.code === 'not_found') {
        dispatch({ type: 'removed', ids: [todo.id] });
        report(`“${todo.title}” no longer exists`, error);
      } else {
        dispatch({ type: 'changed', id: todo.id, changes: previous });
        report(what, error);
      }
    }
  }

  const toggle = (todo) =>
    change(todo, { completed: !todo.completed }, `Could not update “${todo.title}”`);

  const rename = (todo, title) => change(todo, { title }, `Could not rename “${todo.title}”`);

  async function remove(todo) {
    dispatch({ type: 'removed', ids: [todo.id] });
    try {
      await api.todos.delete(todo.id);
    } catch (error) {
      if (error.code === 'not_found') return; // Already gone: the goal is reached.
      dispatch({ type: 'restored', todos: [todo] });
      report(`Could not delete “${todo.title}”`, error);
    }
  }

  async function toggleAll(completed) {
    const affected = state.items.filter((t) => !t.pending && t.completed !== completed);
    const apply = Object.fromEntries(affected.map((t) => [t.id, completed]));
    const undo = Object.fromEntries(affected.map((t) => [t.id, !completed]));
    dispatch({ type: 'completed/set', completedById: apply });
    try {
      await api.todos.toggleAll(completed);
    } catch (error) {
      dispatch({ type: 'completed/set', completedById: undo });
      report(completed ? 'Could not complete all todos' : 'Could not reopen all todos', error);
    }
  }

  async function clearCompleted() {
    const cleared = state.items.filter((t) => !t.pending && t.completed);
    dispatch({ type: 'removed', ids: cleared.map((t) => t.id) });
    try {
      await api.todos.clearCompleted();
    } catch (error) {
      dispatch({ type: 'restored', todos: cleared });
      report('Could not clear completed todos', error);
    }
  }

  return {
    ...state,
    reload: () => setLoadAttempt((n) => n + 1),
    dismissNotice: () => dispatch({ type: 'notice/dismiss' }),
    add,
    toggle,
    rename,
    remove,
    toggleAll,
    clearCompleted,
  };
}
