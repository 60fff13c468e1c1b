import { useEffect, useReducer, useRef, useState } from 'react';

import { keepUnsaved, loadDrafts, saveDrafts } from '../state/drafts.js';
import { actionForEvent, initialTodosState, todosReducer } from '../state/todos.js';
import { quoteTitle } from '../state/titles.js';

/** A failed read as `reRead` tells it: null for a 401 (the session ended), else false. */
const readOutcome = (error) => (error.status === 401 ? null : false);

/**
 * The todo list and every change to it. Each change is optimistic: it is shown
 * at once and rolled back, with a message, if the API refuses it. Typed text is
 * never lost: a failed add puts its title back in the new-todo box, a failed
 * rename opens the editor again with the draft, and both are kept for `userId`
 * in this tab (drafts.js) so that they come back after logging in again.
 *
 * Live updates (`applyEvent`, `reRead`) bring other tabs' and devices' changes in; see
 * state/todos.js for how they meet this tab's own changes.
 */
export function useTodos(api, userId) {
  const [state, dispatch] = useReducer(todosReducer, userId, (id) => ({ ...initialTodosState, ...loadDrafts(id) }));
  const [loadAttempt, setLoadAttempt] = useState(0);
  const nextTempId = useRef(0);
  // Orders change starts and failure reports, so that a success clears only older failures.
  const clock = useRef(0);
  const tick = () => {
    clock.current += 1;
    return clock.current;
  };

  // Live events received while a read of the list is under way: the list may predate them,
  // so they are applied again on top of it (every event is safe to apply twice). null: no read.
  const eventsDuringRead = useRef(null);
  // `reRead` calls waiting for a read that has not started: they are answered by the next one.
  const reading = useRef({ active: false, waiting: [] });
  // `reRead` calls made while the list is loading (or failed to): answered by that load.
  const loadWaiting = useRef([]);
  const statusRef = useRef(state.status);
  statusRef.current = state.status;
  // This tab's requests still unanswered: a bulk change is sent only after them (see `send`).
  const unanswered = useRef(new Set());

  function finishRead(action) {
    dispatch(action);
    (eventsDuringRead.current || []).forEach(dispatch);
    eventsDuringRead.current = null;
  }

  /** Answers every `reRead` call in `waiting` (see `reRead` for what they are told). */
  function answer(waiting, outcome) {
    waiting.forEach((resolve) => resolve(outcome));
  }

  useEffect(() => {
    let ignore = false;
    dispatch({ type: 'load/start' });
    eventsDuringRead.current = [];
    api.todos.list().then(
      (todos) => {
        if (ignore) return;
        finishRead({ type: 'load/done', todos });
        answer(loadWaiting.current.splice(0), true);
      },
      (error) => {
        if (ignore) return;
        eventsDuringRead.current = null;
        dispatch({ type: 'load/fail', error });
        answer(loadWaiting.current.splice(0), readOutcome(error));
      },
    );
    return () => {
      ignore = true;
    };
  }, [api, loadAttempt]);

  /** One live event (see api/events.js) applied to the list. */
  function applyEvent(type, data) {
    const action = actionForEvent(type, data);
    if (!action) return;
    eventsDuringRead.current?.push(action);
    dispatch(action);
  }

  /**
   * Reads the list again without a loading state (after `resync`, a reconnect, or the tab
   * coming back), keeping this tab's unanswered adds, the editor and any failure message.
   * A failure is silent here: the stream's indicator tells about the connection, and a 401
   * logs out app-wide. Calls while one read is under way make one more read after it (the
   * one under way may predate what they were called for), shared by all of them. While the
   * list is loading, that load stands for the read (its answer comes after the call); after
   * it failed, the call loads it again.
   *
   * @returns {Promise<boolean|null>} the outcome of a read made after the call: true it
   *   succeeded (the server answers, and this browser's session with it), false it failed,
   *   null a 401 (the session ended; the app is logging out).
   */
  function reRead() {
    return new Promise((resolve) => {
      if (statusRef.current === 'loading' || statusRef.current === 'failed') {
        loadWaiting.current.push(resolve);
        if (statusRef.current === 'failed') setLoadAttempt((n) => n + 1);
        return;
      }
      reading.current.waiting.push(resolve);
      if (!reading.current.active) readAgain();
    });
  }

  /** One read for every `reRead` call waiting; the calls made meanwhile wait for the next. */
  function readAgain() {
    const waiting = reading.current.waiting;
    reading.current = { active: true, waiting: [] };
    eventsDuringRead.current = [];
    api.todos
      .list()
      .then(
        (todos) => {
          finishRead({ type: 'server/listed', todos });
          return true;
        },
        (error) => {
          eventsDuringRead.current = null;
          return readOutcome(error);
        },
      )
      .then((outcome) => {
        answer(waiting, outcome);
        const next = reading.current.waiting;
        reading.current = { active: false, waiting: next };
        if (next.length > 0) readAgain();
      });
  }

  useEffect(() => saveDrafts(userId, state), [userId, state.newTitle, state.editing]); // eslint-disable-line react-hooks/exhaustive-deps

  /**
   * Runs one request of a change; the failure (if any) is reported and rethrown.
   * `gone` is what to say when the todo no longer exists (404), or null when that
   * reaches the change's goal anyway (a delete) and needs no message.
   *
   * `afterEarlier`: the request is sent only once every request this tab sent before it is
   * answered (or failed). A bulk change (toggle all, clear completed) needs this: it acts on
   * the server's state of every todo, and a toggle sent just before it, still on its way,
   * could otherwise reach the server after it ("Clear completed" right after completing a
   * todo would leave that todo on the server, hidden here).
   */
  async function send(request, { what, retry, gone, afterEarlier = false }) {
    const since = tick();
    const earlier = afterEarlier ? Promise.allSettled(unanswered.current) : null;
    const sent = earlier ? earlier.then(request) : request();
    const forget = () => unanswered.current.delete(settled);
    const settled = sent.then(forget, forget);
    unanswered.current.add(settled);
    try {
      const result = await sent;
      dispatch({ type: 'failures/cleared', since });
      return result;
    } catch (error) {
      // A 401 is handled once, app-wide (the user is sent to log in); a message
      // here would only flash before this view goes away.
      if (error.status === 401 || (error.code === 'not_found' && gone === null)) throw error;
      const failure =
        error.code === 'not_found' && gone
          ? { what: gone, detail: 'it was deleted, perhaps in another tab or device.', retry: null, at: tick() }
          : { what, detail: error.detail, retry: error.isWorthRetrying ? retry : null, at: tick() };
      dispatch({ type: 'failure/reported', failure });
      throw error;
    }
  }

  async function add(title) {
    dispatch({ type: 'newTitle/sent', title });
    // A string id can never collide with the server's integer ids.
    nextTempId.current += 1;
    const tempId = `new-${nextTempId.current}`;
    dispatch({ type: 'added', todo: { id: tempId, title, completed: false, pending: true } });
    try {
      const saved = await send(() => api.todos.create({ title }), {
        what: `Could not add ${quoteTitle(title)}`,
        retry: { type: 'add', title },
      });
      dispatch({ type: 'add/confirmed', tempId, todo: saved });
    } catch (error) {
      dispatch({ type: 'removed', ids: [tempId] });
      // Without a Retry in the failure message, nothing else holds the text.
      dispatch({ type: 'newTitle/restore', title, kept: error.status !== 401 && !error.isWorthRetrying });
      if (error.status === 401) keepUnsaved(userId, { newTitle: title });
    }
  }

  /** @returns {Promise<boolean|null>} true saved, false refused or unreachable, null the session ended. */
  async function change(todo, changes, what, retry) {
    const previous = Object.fromEntries(Object.keys(changes).map((key) => [key, todo[key]]));
    dispatch({ type: 'changed', id: todo.id, changes });
    try {
      const saved = await send(() => api.todos.patch(todo.id, changes), {
        what,
        retry,
        gone: `${quoteTitle(todo.title)} no longer exists`,
      });
      // The server's state (a trimmed title, and its updatedAt), unless an event brought a newer one.
      if (saved && typeof saved === 'object' && saved.id === todo.id) dispatch({ type: 'server/saved', todo: saved });
      return true;
    } catch (error) {
      if (error.code === 'not_found') {
        dispatch({ type: 'removed', ids: [todo.id] });
      } else {
        dispatch({ type: 'change/undone', id: todo.id, previous, updatedAt: todo.updatedAt });
      }
      return error.status === 401 ? null : false; // null: the session ended.
    }
  }

  const toggle = (todo) =>
    change(todo, { completed: !todo.completed }, `Could not update ${quoteTitle(todo.title)}`, {
      type: 'setCompleted',
      id: todo.id,
      completed: !todo.completed,
    });

  async function rename(todo, title) {
    const saved = await change(todo, { title }, `Could not rename ${quoteTitle(todo.title)}`, {
      type: 'rename',
      id: todo.id,
      title,
    });
    if (saved) return;
    dispatch({ type: 'edit/restore', id: todo.id, draft: title });
    if (saved === null) keepUnsaved(userId, { editing: { id: todo.id, draft: title } });
  }

  async function remove(todo) {
    dispatch({ type: 'removed', ids: [todo.id] });
    try {
      await send(() => api.todos.delete(todo.id), {
        what: `Could not delete ${quoteTitle(todo.title)}`,
        retry: { type: 'delete', id: todo.id },
        gone: null,
      });
    } catch (error) {
      if (error.code === 'not_found') return; // Already gone: the goal is reached.
      dispatch({ type: 'restored', todos: [todo] });
    }
  }

  async function toggleAll(completed) {
    const affected = state.items.filter((t) => !t.pending && t.completed !== completed);
    const apply = Object.fromEntries(affected.map((t) => [t.id, completed]));
    const undo = Object.fromEntries(affected.map((t) => [t.id, !completed]));
    const updatedAtById = Object.fromEntries(affected.map((t) => [t.id, t.updatedAt]));
    dispatch({ type: 'completed/set', completedById: apply });
    try {
      await send(() => api.todos.toggleAll(completed), {
        what: completed ? 'Could not complete all todos' : 'Could not reopen all todos',
        retry: { type: 'toggleAll', completed },
        afterEarlier: true,
      });
    } catch {
      dispatch({ type: 'completed/undone', completedById: undo, updatedAtById });
    }
  }

  async function clearCompleted() {
    const cleared = state.items.filter((t) => !t.pending && t.completed);
    dispatch({ type: 'removed', ids: cleared.map((t) => t.id) });
    try {
      const deleted = await send(() => api.todos.clearCompleted(), {
        what: 'Could not clear completed todos',
        retry: { type: 'clearCompleted' },
        afterEarlier: true,
      });
      // Fewer than were taken off here: a todo shown as completed was not completed on the
      // server (its toggle failed or was overtaken); only the server's list can say which.
      if (typeof deleted === 'number' && deleted < cleared.length) reRead();
    } catch {
      dispatch({ type: 'restored', todos: cleared });
    }
  }

  /** Sends every failed change that may succeed now, once each, and drops the message. */
  function retryFailed() {
    const retries = state.failures.map((f) => f.retry).filter(Boolean);
    dispatch({ type: 'failures/dismissed' });
    const seen = new Set();
    for (const retry of retries) {
      const key = JSON.stringify(retry);
      if (seen.has(key)) continue;
      seen.add(key);
      runAgain(retry);
    }
  }

  function runAgain(retry) {
    const todo = state.items.find((t) => t.id === retry.id);
    switch (retry.type) {
      case 'add':
        return add(retry.title);
      case 'setCompleted':
        return todo && todo.completed !== retry.completed ? toggle(todo) : undefined;
      case 'rename':
        if (!todo) return undefined;
        dispatch({ type: 'edit/stop', id: todo.id });
        return rename(todo, retry.title);
      case 'delete':
        return todo ? remove(todo) : undefined;
      case 'toggleAll':
        return toggleAll(retry.completed);
      case 'clearCompleted':
        return clearCompleted();
      default:
        throw new Error(`Unknown retry: ${retry.type}`);
    }
  }

  return {
    ...state,
    reload: () => setLoadAttempt((n) => n + 1),
    applyEvent,
    reRead,
    dismissFailures: () => dispatch({ type: 'failures/dismissed' }),
    dismissLostEdit: () => dispatch({ type: 'lostEdit/dismissed' }),
    dismissUnadded: () => dispatch({ type: 'unadded/dismissed' }),
    retryFailed,
    setNewTitle: (title) => dispatch({ type: 'newTitle/set', title }),
    startEditing: (todo) => dispatch({ type: 'edit/start', id: todo.id, draft: todo.title }),
    setDraft: (draft) => dispatch({ type: 'edit/draft', draft }),
    stopEditing: (todo) => dispatch({ type: 'edit/stop', id: todo.id }),
    add,
    toggle,
    rename,
    remove,
    toggleAll,
    clearCompleted,
  };
}
