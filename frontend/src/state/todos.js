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
  notice: null,
};

export function todosReducer(state, action) {
  switch (action.type) {
    case 'load/start':
      return { ...state, status: 'loading', loadError: null };
    case 'load/done':
      return { ...state, status: 'ready', items: action.todos };
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
      return { ...state, items: state.items.filter((t) => !ids.has(t.id)) };
    }
    case 'restored': {
      const present = new Set(state.items.map((t) => t.id));
      const back = action.todos.filter((t) => !present.has(t.id));
      return { ...state, items: [...state.items, ...back].sort(byServerOrder) };
    }

    case 'notice/show':
      return { ...state, notice: action.message };
    case 'notice/dismiss':
      return { ...state, notice: null };

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
