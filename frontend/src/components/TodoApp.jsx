import { useRef } from 'react';

import { useTodos } from '../hooks/useTodos.js';
import { visibleTodos } from '../state/todos.js';
import { ApiProblem } from './ApiProblem.jsx';
import { Loading } from './Loading.jsx';
import { NewTodo } from './NewTodo.jsx';
import { Notice } from './Notice.jsx';
import { TodoFooter } from './TodoFooter.jsx';
import { TodoItem } from './TodoItem.jsx';

/** The list page: TodoMVC's behaviour, with the data on the server. */
export function TodoApp({ api, filter }) {
  const todos = useTodos(api);
  const newTodoRef = useRef(null);

  if (todos.status === 'loading') return <Loading>Loading your todos…</Loading>;
  if (todos.status === 'failed') {
    return <ApiProblem error={todos.loadError} apiUrl={api.client.baseUrl} onRetry={todos.reload} />;
  }

  const { items } = todos;
  const activeCount = items.filter((t) => !t.completed).length;
  const completedCount = items.length - activeCount;
  const shown = visibleTodos(items, filter);

  function destroy(todo) {
    todos.remove(todo);
    // The focused button disappears with its item; without this, focus would fall back to <body>.
    newTodoRef.current?.focus();
  }

  return (
    <section className="todoapp" aria-labelledby="todoapp-title">
      <header className="header">
        <h1 id="todoapp-title">todos</h1>
        <div className="new-todo-row">
          {items.length > 0 && (
            <>
              <input
                id="toggle-all"
                className="toggle-all"
                type="checkbox"
                checked={activeCount === 0}
                onChange={(event) => todos.toggleAll(event.target.checked)}
              />
              <label htmlFor="toggle-all">Mark all as complete</label>
            </>
          )}
          <NewTodo ref={newTodoRef} onAdd={todos.add} />
        </div>
      </header>

      {items.length > 0 && (
        <>
          <section className="main">
            <ul className="todo-list" aria-label="Todos">
              {shown.map((todo) => (
                <TodoItem
                  key={todo.id}
                  todo={todo}
                  onToggle={todos.toggle}
                  onRename={todos.rename}
                  onDestroy={destroy}
                />
              ))}
            </ul>
            {shown.length === 0 && (
              <p className="empty-filter">{filter === 'active' ? 'Nothing left to do.' : 'Nothing completed yet.'}</p>
            )}
          </section>
          <TodoFooter
            activeCount={activeCount}
            completedCount={completedCount}
            filter={filter}
            onClearCompleted={todos.clearCompleted}
          />
          <p className="hint">Double-click a todo to edit it.</p>
        </>
      )}

      {todos.notice && <Notice onDismiss={todos.dismissNotice}>{todos.notice}</Notice>}
    </section>
  );
}
