/**
 * The todo list's state, as a pure reducer so it can be tested without React.
 *
 * Changes are applied optimistically: the UI updates first and the server is
 * asked afterwards. Each action below therefore has an inverse that
 * `useTodos` dispatches when the server refuses; inverses restore only what
 * the failed change touched, so concurrent changes are not undone with it.
 *
 * The server's own state arrives as `server/*` actions: live events (see `actionForEvent`),
 * a re-read of the list, and the answers to this tab's changes. They make the list end in the
 * server's state whatever order they come in: a todo's `updatedAt` says which of two states of
 * it is newer, deletions are remembered (`goneIds`) so nothing brings a deleted todo back, and
 * an undo gives way to a server state that arrived after its change was made.
 */

export const initialTodosState = {
  status: 'loading', // 'loading' | 'ready' | 'failed'
  items: [],
  loadError: null,
  /** The text in the new-todo box. */
  newTitle: '',
  /** The open editor, if any: {id, draft, reopened}. One at a time, as in TodoMVC;
      `reopened` when a failed rename opened it again (not the person). */
  editing: null,
  /** Failed changes not yet cleared, oldest first (see failures.js). */
  failures: [],
  /** `todo.created` events that arrived while this tab's own adds were unanswered: one of them
      may be the event of such an add, so they wait until the adds have their ids. */
  held: [],
  /** Ids the server said were deleted (events), as keys: never shown again. */
  goneIds: {},
  /** An open editor whose todo was deleted elsewhere: {title, draft, inNewTodo}. Its text is
      kept: in the new-todo box when that is empty, else in the notice that says so. */
  lostEdit: null,
  /** Titles of adds the server refused (not worth retrying) while the new-todo box held other
      text: shown in a notice, whole, so that they are not lost. */
  unadded: [],
};

/** The most failures one message gathers (a burst while offline can be long). */
const MAX_FAILURES = 50;

export function todosReducer(state, action) {
  switch (action.type) {
    case 'load/start':
      return { ...state, status: 'loading', loadError: null };
    case 'load/done': {
      // An editor kept from an earlier visit (drafts.js) stays open only if its todo still exists.
      const ids = new Set(action.todos.map((t) => t.id));
      return keepLostEdit({ ...state, status: 'ready', items: action.todos, failures: [] }, state.items, ids);
    }
    case 'server/listed': {
      // A re-read (resync, reconnect, back after a while): the server's list, plus this tab's
      // adds still waiting for their answer. Failures and the editor's text stay. While adds
      // wait, a todo new to this tab may be one of them: it is held, as its created event
      // would be, until they have their ids.
      const listed = action.todos.filter((t) => !(t.id in state.goneIds));
      const ids = new Set(listed.map((t) => t.id));
      const waiting = state.items.filter((t) => t.pending);
      const known = new Set(state.items.map((t) => t.id));
      const isNew = (t) => waiting.length > 0 && !known.has(t.id);
      const items = [...listed.filter((t) => !isNew(t)), ...waiting];
      const held = [...state.held.filter((t) => !ids.has(t.id)), ...listed.filter(isNew)];
      return keepLostEdit(
        { ...state, items, held },
        state.items,
        new Set(items.map((t) => t.id)),
      );
    }
    case 'load/fail':
      return { ...state, status: 'failed', loadError: action.error };

    case 'added':
      return { ...state, items: [...state.items, action.todo] };
    case 'add/confirmed': {
      const { todo, tempId } = action;
      const held = state.held.filter((t) => t.id !== todo.id);
      // Its event or a re-read may have shown it already, or an event deleted it meanwhile.
      if (todo.id in state.goneIds || state.items.some((t) => t.id === todo.id)) {
        const items = state.items.filter((t) => t.id !== tempId);
        return releaseHeld({ ...state, held, items: upsert(items, todo, { strict: true }) || items });
      }
      return releaseHeld({ ...state, held, items: state.items.map((t) => (t.id === tempId ? todo : t)) });
    }

    case 'server/created': {
      const { todo } = action;
      if (todo.id in state.goneIds) return state;
      const items = upsert(state.items, todo);
      if (items) return items === state.items ? state : { ...state, items };
      if (state.held.some((t) => t.id === todo.id) || state.items.some((t) => t.pending)) {
        return { ...state, held: [...state.held.filter((t) => t.id !== todo.id), todo] };
      }
      return { ...state, items: [...state.items, todo].sort(byServerOrder) };
    }
    case 'server/updated':
    case 'server/saved': {
      // `saved`: the answer to this tab's own change; on a tie with an event, the event wins
      // (the answer may have been overtaken on its way).
      const strict = action.type === 'server/saved';
      const items = upsert(state.items, action.todo, { strict });
      if (items) return items === state.items ? state : { ...state, items };
      // Unknown here: a held create it changes, or a todo this tab is deleting (ignored).
      if (!state.held.some((t) => t.id === action.todo.id)) return state;
      return { ...state, held: state.held.map((t) => (t.id === action.todo.id && isNewer(action.todo, t, strict) ? { ...t, ...action.todo } : t)) };
    }
    case 'server/deleted': {
      const goneIds = { ...state.goneIds };
      action.ids.forEach((id) => (goneIds[id] = true));
      const ids = new Set(action.ids);
      const affected = state.items.some((t) => ids.has(t.id)) || state.held.some((t) => ids.has(t.id));
      if (!affected) return { ...state, goneIds };
      const items = state.items.filter((t) => !ids.has(t.id));
      return keepLostEdit(
        { ...state, goneIds, items, held: state.held.filter((t) => !ids.has(t.id)) },
        state.items,
        new Set(items.map((t) => t.id)),
      );
    }
    case 'server/completed': {
      // Toggle all, from any tab: the listed todos now have `completed` (as of `updatedAt`).
      const ids = new Set(action.ids);
      const change = { completed: action.completed, ...(action.updatedAt ? { updatedAt: action.updatedAt } : {}) };
      let changed = false;
      const apply = (t) => {
        if (!ids.has(t.id) || !isNewer(change, t) || (t.completed === change.completed && t.updatedAt === change.updatedAt)) return t;
        changed = true;
        return { ...t, ...change };
      };
      const items = state.items.map(apply);
      const held = state.held.map(apply);
      return changed ? { ...state, items, held } : state;
    }

    case 'changed':
      return {
        ...state,
        items: state.items.map((t) => (t.id === action.id ? { ...t, ...action.changes } : t)),
      };
    case 'change/undone': {
      // A refused change is undone only if no newer server state of the todo came meanwhile.
      const todo = state.items.find((t) => t.id === action.id);
      if (!todo || todo.updatedAt !== action.updatedAt) return state;
      return { ...state, items: state.items.map((t) => (t.id === action.id ? { ...t, ...action.previous } : t)) };
    }
    case 'completed/undone': {
      // The same for toggle all, todo by todo: `updatedAtById` is each one's state when it was sent.
      const { completedById, updatedAtById } = action;
      return {
        ...state,
        items: state.items.map((t) =>
          t.id in completedById && t.updatedAt === updatedAtById[t.id] ? { ...t, completed: completedById[t.id] } : t,
        ),
      };
    }
    case 'completed/set': {
      // `completedById` maps id -> completed; used both to apply and to undo toggle-all.
      const { completedById } = action;
      return {
        ...state,
        items: state.items.map((t) => (t.id in completedById ? { ...t, completed: completedById[t.id] } : t)),
      };
    }

    case 'removed': {
      const ids = new Set(action.ids);
      const editing = state.editing && ids.has(state.editing.id) ? null : state.editing;
      return releaseHeld({ ...state, items: state.items.filter((t) => !ids.has(t.id)), editing });
    }
    case 'restored': {
      const present = new Set(state.items.map((t) => t.id));
      const back = action.todos.filter((t) => !present.has(t.id) && !(t.id in state.goneIds));
      return { ...state, items: [...state.items, ...back].sort(byServerOrder) };
    }

    case 'newTitle/set':
      return { ...state, newTitle: action.title };
    case 'newTitle/restore':
      // A failed add gives its text back, unless the person has started typing something else:
      // then the failure's Retry holds it, or, when there is no Retry (`kept`), the notice.
      if (state.newTitle.trim() === '') return { ...state, newTitle: action.title };
      return action.kept ? { ...state, unadded: [...state.unadded, action.title] } : state;
    case 'newTitle/sent':
      // Cleared only if it still holds what was sent (a retry may send an older text).
      return state.newTitle.trim() === action.title ? { ...state, newTitle: '' } : state;

    case 'edit/start':
      return { ...state, editing: { id: action.id, draft: action.draft } };
    case 'edit/draft':
      return state.editing ? { ...state, editing: { ...state.editing, draft: action.draft } } : state;
    case 'edit/stop':
      return state.editing?.id === action.id ? { ...state, editing: null } : state;
    case 'edit/restore':
      // A failed rename opens the editor again with the draft, unless another one is open.
      if (state.editing || !state.items.some((t) => t.id === action.id)) return state;
      return { ...state, editing: { id: action.id, draft: action.draft, reopened: true } };

    case 'failure/reported':
      return { ...state, failures: [...state.failures, action.failure].slice(-MAX_FAILURES) };
    case 'failures/cleared':
      // A change that started at `since` succeeded: failures reported before it are over.
      return { ...state, failures: state.failures.filter((f) => f.at > action.since) };
    case 'failures/dismissed':
      return { ...state, failures: [] };
    case 'lostEdit/dismissed':
      return { ...state, lostEdit: null };
    case 'unadded/dismissed':
      return { ...state, unadded: [] };

    default:
      throw new Error(`Unknown todos action: ${action.type}`);
  }
}

/**
 * The action that applies one live event (see api/events.js), or null for one this list does
 * not use. Events carry what the REST API returns, so they go through the same actions as its
 * answers.
 */
export function actionForEvent(type, data) {
  if (!data || typeof data !== 'object') return null;
  switch (type) {
    case 'todo.created':
      return isTodo(data) ? { type: 'server/created', todo: data } : null;
    case 'todo.updated':
      return isTodo(data) ? { type: 'server/updated', todo: data } : null;
    case 'todo.deleted':
      return data.id == null ? null : { type: 'server/deleted', ids: [data.id] };
    case 'todos.completed':
      return Array.isArray(data.ids) && typeof data.completed === 'boolean'
        ? { type: 'server/completed', ids: data.ids, completed: data.completed, updatedAt: data.updatedAt || null }
        : null;
    case 'todos.cleared':
      return Array.isArray(data.ids) ? { type: 'server/deleted', ids: data.ids } : null;
    default:
      return null;
  }
}

const isTodo = (data) => data.id != null && typeof data.title === 'string' && typeof data.completed === 'boolean';

/**
 * Whether server state `incoming` of a todo is at least as new as `current`, by `updatedAt`
 * (millisecond RFC 3339 times). Without a time on either side there is nothing to compare:
 * the incoming one wins. `strict`: a tie goes to `current`.
 */
function isNewer(incoming, current, strict = false) {
  const a = Date.parse(incoming.updatedAt);
  const b = Date.parse(current.updatedAt);
  if (Number.isNaN(a) || Number.isNaN(b)) return true;
  return strict ? a > b : a >= b;
}

/**
 * `items` with the server's `todo` in place of its older self: the same array when nothing
 * changes (an event for a state the tab already shows is a no-op), null when it is not there.
 */
function upsert(items, todo, { strict = false } = {}) {
  const index = items.findIndex((t) => t.id === todo.id);
  if (index < 0) return null;
  const current = items[index];
  if (!isNewer(todo, current, strict)) return items;
  const next = { ...current, ...todo };
  delete next.pending;
  if (Object.keys(next).every((key) => next[key] === current[key]) && !current.pending) return items;
  const out = items.slice();
  out[index] = next;
  return next.order === current.order ? out : out.sort(byServerOrder);
}

/**
 * `state` (whose items are now those with `ids`), with the editor closed if its todo is gone
 * (deleted elsewhere): the text typed into it is kept (see `lostEdit`), never dropped. `before`:
 * the items before the change, for the todo's title.
 */
function keepLostEdit(state, before, ids) {
  const { editing } = state;
  if (!editing || ids.has(editing.id)) return state;
  const todo = before.find((t) => t.id === editing.id);
  const draft = editing.draft.trim();
  if (draft === '' || (todo && draft === todo.title)) return { ...state, editing: null };
  const inNewTodo = state.newTitle.trim() === '';
  return {
    ...state,
    editing: null,
    newTitle: inNewTodo ? editing.draft : state.newTitle,
    lostEdit: { title: todo ? todo.title : null, draft: editing.draft, inNewTodo },
  };
}

/** Once none of this tab's adds is unanswered, held creates are other tabs' todos: show them. */
function releaseHeld(state) {
  if (state.held.length === 0 || state.items.some((t) => t.pending)) return state;
  const present = new Set(state.items.map((t) => t.id));
  const back = state.held.filter((t) => !present.has(t.id) && !(t.id in state.goneIds));
  return { ...state, held: [], items: back.length ? [...state.items, ...back].sort(byServerOrder) : state.items };
}

/** The server's order (`order`, then `id`); todos not saved yet stay at the end. */
function byServerOrder(a, b) {
  const orderA = a.pending ? Infinity : a.order;
  const orderB = b.pending ? Infinity : b.order;
  if (orderA !== orderB) return orderA < orderB ? -1 : 1;
  return a.pending || b.pending ? 0 : a.id - b.id;
}

export function visibleTodos(items, filter) {
  if (filter === 'active') return items.filter((t) => !t.completed);
  if (filter === 'completed') return items.filter((t) => t.completed);
  return items;
}
