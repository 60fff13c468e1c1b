/**
 * The todo list's state, as a pure reducer so it can be tested without React.
 *
 * Changes are applied optimistically: the UI updates first and the server is
 * asked afterwards. Each action below therefore has an inverse that
 * `useTodos` dispatches when the server refuses; inverses restore only what
 * the failed change touched, so concurrent changes are not undone with it.
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
};

/** The most failures one message gathers (a burst while offline can be long). */
const MAX_FAILURES = 50;

export function todosReducer(state, action) {
  switch (action.type) {
    case 'load/start':
      return { ...state, status: 'loading', loadError: null };
    case 'load/done': {
      // An editor kept from an earlier visit (drafts.js) stays open only if its todo still exists.
      const editing = state.editing && action.todos.some((t) => t.id === state.editing.id) ? state.editing : null;
      return { ...state, status: 'ready', items: action.todos, failures: [], editing };
    }
    case 'load/fail':
      return { ...state, status: 'failed', loadError: action.error };

    case 'added':
      return { ...state, items: [...state.items, action.todo] };
    case 'add/confirmed':
      return { ...state, items: state.items.map((t) => (t.id === action.tempId ? action.todo : t)) };

    case 'changed':
      return {
        ...state,
        items: state.items.map((t) => (t.id === action.id ? { ...t, ...action.changes } : t)),
      };
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
      return { ...state, items: state.items.filter((t) => !ids.has(t.id)), editing };
    }
    case 'restored': {
      const present = new Set(state.items.map((t) => t.id));
      const back = action.todos.filter((t) => !present.has(t.id));
      return { ...state, items: [...state.items, ...back].sort(byServerOrder) };
    }

    case 'newTitle/set':
      return { ...state, newTitle: action.title };
    case 'newTitle/restore':
      // A failed add gives its text back, unless the person has started typing something else
      // (then the failure's Retry still holds it).
      return state.newTitle.trim() === '' ? { ...state, newTitle: action.title } : state;
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

    default:
      throw new Error(`Unknown todos action: ${action.type}`);
  }
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
