// The list reducer meeting the server's state: live events, re-reads and answers, in every order.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';

import { actionForEvent, initialTodosState, todosReducer } from '../../src/state/todos.js';

const at = (second) => `2026-11-30T08:00:${String(second).padStart(2, '0')}.000Z`;
const todo = (id, title, { completed = false, order = id, updated = 0 } = {}) => ({
  id,
  title,
  completed,
  order,
  createdAt: at(0),
  updatedAt: at(updated),
});
const ready = (items) => ({ ...initialTodosState, status: 'ready', items });
const run = (state, ...actions) => actions.reduce(todosReducer, state);
const event = (type, data) => {
  const action = actionForEvent(type, data);
  assert.ok(action, `${type} maps to an action`);
  return action;
};
const titles = (state) => state.items.map((t) => t.title);

describe('todos reducer: events from other tabs', () => {
  it('todo.created adds the todo in server order; the same event again changes nothing', () => {
    const start = ready([todo(1, 'A'), todo(3, 'C')]);
    const created = event('todo.created', todo(2, 'B'));
    const once = run(start, created);
    assert.deepEqual(titles(once), ['A', 'B', 'C']);
    assert.equal(run(once, created), once, 'a no-op keeps the very same state');
  });

  it('todo.updated replaces the todo; an event for the state shown is a no-op; an older one is ignored', () => {
    const start = ready([todo(1, 'A', { updated: 1 })]);
    const renamed = run(start, event('todo.updated', todo(1, 'A2', { updated: 5 })));
    assert.deepEqual(titles(renamed), ['A2']);
    assert.equal(run(renamed, event('todo.updated', todo(1, 'A2', { updated: 5 }))), renamed);
    assert.equal(run(renamed, event('todo.updated', todo(1, 'A-old', { updated: 3 }))), renamed);
  });

  it('todo.updated moves a todo whose order changed', () => {
    const start = ready([todo(1, 'A'), todo(2, 'B')]);
    assert.deepEqual(titles(run(start, event('todo.updated', todo(1, 'A', { order: 9, updated: 2 })))), ['B', 'A']);
  });

  it('todo.deleted removes it and closes its editor; a failed local delete cannot bring it back', () => {
    const a = todo(1, 'A');
    let state = run(ready([a, todo(2, 'B')]), { type: 'edit/start', id: 1, draft: 'A!' });
    state = run(state, { type: 'removed', ids: [1] }); // This tab deletes it too...
    state = run(state, event('todo.deleted', { id: 1 }));
    state = run(state, { type: 'restored', todos: [a] }); // ...and its DELETE failed.
    assert.deepEqual(titles(state), ['B']);
    assert.equal(state.editing, null);
  });

  it('todos.completed (toggle all) sets exactly the listed todos', () => {
    const start = ready([todo(1, 'A'), todo(2, 'B'), todo(3, 'C', { completed: true })]);
    const state = run(start, event('todos.completed', { ids: [1, 2], completed: true, updatedAt: at(9) }));
    assert.deepEqual(state.items.map((t) => [t.id, t.completed, t.updatedAt]), [
      [1, true, at(9)],
      [2, true, at(9)],
      [3, true, at(0)],
    ]);
    assert.equal(run(state, event('todos.completed', { ids: [1, 2], completed: true, updatedAt: at(9) })), state);
  });

  it('todos.cleared (clear completed) removes exactly the listed todos', () => {
    const start = ready([todo(1, 'A', { completed: true }), todo(2, 'B'), todo(3, 'C', { completed: true })]);
    assert.deepEqual(titles(run(start, event('todos.cleared', { ids: [1, 3] }))), ['B']);
  });

  it('maps malformed or unknown events to nothing', () => {
    assert.equal(actionForEvent('todo.created', { id: 1 }), null);
    assert.equal(actionForEvent('todo.deleted', {}), null);
    assert.equal(actionForEvent('todos.completed', { ids: [1] }), null);
    assert.equal(actionForEvent('todo.moved', { id: 1 }), null);
    assert.equal(actionForEvent('todo.updated', null), null);
  });
});

describe("todos reducer: this tab's own changes are not applied twice", () => {
  const pendingAdd = (state, title) => run(state, { type: 'added', todo: { id: 'new-1', title, completed: false, pending: true } });

  it('the created event of its own add arriving before the answer: one row, never two', () => {
    let state = pendingAdd(ready([todo(1, 'A')]), 'Mine');
    state = run(state, event('todo.created', todo(2, 'Mine')));
    assert.deepEqual(titles(state), ['A', 'Mine'], 'held while the add is unanswered');
    state = run(state, { type: 'add/confirmed', tempId: 'new-1', todo: todo(2, 'Mine') });
    assert.deepEqual(state.items.map((t) => t.id), [1, 2]);
    assert.deepEqual(state.held, []);
  });

  it('the answer first, then the event: one row', () => {
    let state = pendingAdd(ready([]), 'Mine');
    state = run(state, { type: 'add/confirmed', tempId: 'new-1', todo: todo(2, 'Mine') });
    const confirmed = state;
    state = run(state, event('todo.created', todo(2, 'Mine')));
    assert.equal(state, confirmed);
  });

  it("another tab's create that arrives during its own add shows once the add is answered, or has failed", () => {
    let state = pendingAdd(ready([]), 'Mine');
    state = run(state, event('todo.created', todo(5, 'Theirs')));
    state = run(state, { type: 'add/confirmed', tempId: 'new-1', todo: todo(6, 'Mine') });
    assert.deepEqual(titles(state), ['Theirs', 'Mine']);

    let failed = pendingAdd(ready([]), 'Mine');
    failed = run(failed, event('todo.created', todo(5, 'Theirs')), { type: 'removed', ids: ['new-1'] });
    assert.deepEqual(titles(failed), ['Theirs']);
  });

  it('a re-read that already has its own add: the answer replaces no row twice', () => {
    let state = pendingAdd(ready([todo(1, 'A')]), 'Mine');
    state = run(state, { type: 'server/listed', todos: [todo(1, 'A'), todo(2, 'Mine')] });
    state = run(state, { type: 'add/confirmed', tempId: 'new-1', todo: todo(2, 'Mine') });
    assert.deepEqual(state.items.map((t) => t.id), [1, 2]);
  });

  it('a re-read during its own unanswered add: one row, never two, and the todos it brings stay', () => {
    let state = pendingAdd(ready([todo(1, 'A')]), 'Mine');
    state = run(state, { type: 'server/listed', todos: [todo(1, 'A'), todo(2, 'Mine'), todo(3, 'Theirs')] });
    assert.deepEqual(titles(state), ['A', 'Mine'], 'the new ones wait, as created events do');
    state = run(state, { type: 'add/confirmed', tempId: 'new-1', todo: todo(2, 'Mine') });
    assert.deepEqual(state.items.map((t) => t.id), [1, 2, 3]);
    assert.deepEqual(state.held, []);

    let failed = pendingAdd(ready([todo(1, 'A')]), 'Mine');
    failed = run(failed, { type: 'server/listed', todos: [todo(1, 'A'), todo(3, 'Theirs')] }, { type: 'removed', ids: ['new-1'] });
    assert.deepEqual(titles(failed), ['A', 'Theirs']);
  });

  it('its own change echoed by its event is a no-op', () => {
    let state = ready([todo(1, 'A', { updated: 1 })]);
    state = run(state, { type: 'changed', id: 1, changes: { completed: true } });
    state = run(state, { type: 'server/saved', todo: todo(1, 'A', { completed: true, updated: 4 }) });
    const saved = state;
    assert.equal(run(state, event('todo.updated', todo(1, 'A', { completed: true, updated: 4 }))), saved);
  });
});

describe('todos reducer: an optimistic change overtaken by an event ends in the server state', () => {
  it('a refused change is not undone over a newer server state', () => {
    let state = ready([todo(1, 'A', { updated: 1 })]);
    state = run(state, { type: 'changed', id: 1, changes: { completed: true } }); // Optimistic.
    state = run(state, event('todo.updated', todo(1, 'Renamed elsewhere', { completed: true, updated: 3 })));
    state = run(state, { type: 'change/undone', id: 1, previous: { completed: false }, updatedAt: at(1) });
    assert.deepEqual(state.items.map((t) => [t.title, t.completed]), [['Renamed elsewhere', true]]);
  });

  it('a refused change with no news from the server is undone as before', () => {
    let state = ready([todo(1, 'A', { updated: 1 })]);
    state = run(state, { type: 'changed', id: 1, changes: { completed: true } });
    state = run(state, { type: 'change/undone', id: 1, previous: { completed: false }, updatedAt: at(1) });
    assert.equal(state.items[0].completed, false);
  });

  it("an answer older than an event already applied does not win", () => {
    let state = ready([todo(1, 'A', { updated: 1 })]);
    state = run(state, { type: 'changed', id: 1, changes: { title: 'Mine' } });
    state = run(state, event('todo.updated', todo(1, 'Mine', { updated: 2 }))); // Its own change...
    state = run(state, event('todo.updated', todo(1, 'Theirs', { updated: 3 }))); // ...then another tab's.
    state = run(state, { type: 'server/saved', todo: todo(1, 'Mine', { updated: 2 }) }); // The late answer.
    assert.deepEqual(titles(state), ['Theirs']);
  });

  it('toggle all refused: only todos without newer server news are put back', () => {
    let state = ready([todo(1, 'A', { updated: 1 }), todo(2, 'B', { updated: 1 })]);
    state = run(state, { type: 'completed/set', completedById: { 1: true, 2: true } });
    state = run(state, event('todo.updated', todo(2, 'B', { completed: true, updated: 5 })));
    state = run(state, {
      type: 'completed/undone',
      completedById: { 1: false, 2: false },
      updatedAtById: { 1: at(1), 2: at(1) },
    });
    assert.deepEqual(state.items.map((t) => t.completed), [false, true]);
  });
});

describe('todos reducer: re-reading the list', () => {
  it('takes the server list, keeps unanswered adds, the editor, failures, and forgets no deletion', () => {
    let state = ready([todo(1, 'A'), todo(2, 'B')]);
    state = run(
      state,
      { type: 'added', todo: { id: 'new-1', title: 'Typing', completed: false, pending: true } },
      { type: 'edit/start', id: 2, draft: 'B!' },
      { type: 'failure/reported', failure: { what: 'x', detail: 'y', retry: null, at: 1 } },
      event('todo.deleted', { id: 1 }),
      { type: 'server/listed', todos: [todo(1, 'A'), todo(2, 'B'), todo(3, 'C')] },
    );
    assert.deepEqual(titles(state), ['B', 'Typing'], 'C may be the add itself: it waits for the answer');
    assert.deepEqual(state.editing, { id: 2, draft: 'B!' });
    assert.equal(state.failures.length, 1);
    state = run(state, { type: 'add/confirmed', tempId: 'new-1', todo: todo(4, 'Typing') });
    assert.deepEqual(titles(state), ['B', 'C', 'Typing']);
  });
});

describe('todos reducer: the todo being edited is deleted elsewhere', () => {
  const editing = (state, id, draft) => run(state, { type: 'edit/start', id, draft: state.items.find((t) => t.id === id).title }, { type: 'edit/draft', draft });

  it('by an event or a re-read: the typed text moves to the empty new-todo box, and a notice says so', () => {
    for (const gone of [event('todo.deleted', { id: 1 }), event('todos.cleared', { ids: [1] }), { type: 'server/listed', todos: [todo(2, 'B')] }]) {
      const state = run(editing(ready([todo(1, 'A'), todo(2, 'B')]), 1, 'A, renamed'), gone);
      assert.equal(state.editing, null);
      assert.deepEqual(titles(state), ['B']);
      assert.equal(state.newTitle, 'A, renamed');
      assert.deepEqual(state.lostEdit, { title: 'A', draft: 'A, renamed', inNewTodo: true });
      assert.equal(run(state, { type: 'lostEdit/dismissed' }).lostEdit, null);
    }
  });

  it('text already in the new-todo box stays; the notice holds the edit', () => {
    const start = run(ready([todo(1, 'A')]), { type: 'newTitle/set', title: 'Half typed' });
    const state = run(editing(start, 1, 'A, renamed'), event('todo.deleted', { id: 1 }));
    assert.equal(state.newTitle, 'Half typed');
    assert.deepEqual(state.lostEdit, { title: 'A', draft: 'A, renamed', inNewTodo: false });
  });

  it('an editor with nothing typed into it just closes', () => {
    const state = run(editing(ready([todo(1, 'A')]), 1, 'A'), event('todo.deleted', { id: 1 }));
    assert.equal(state.editing, null);
    assert.equal(state.lostEdit, null);
    assert.equal(state.newTitle, '');
  });
});
