import { useEffect, useRef } from 'react';

import { useDocumentTitle } from '../hooks/useDocumentTitle.js';
import { useLiveUpdates } from '../hooks/useLiveUpdates.js';
import { useTodos } from '../hooks/useTodos.js';
import { canRetry, describeFailures } from '../state/failures.js';
import { visibleTodos } from '../state/todos.js';
import { ApiProblem } from './ApiProblem.jsx';
import { ConnectionStatus } from './ConnectionStatus.jsx';
import { EditingHint } from './EditingHint.jsx';
import { Loading } from './Loading.jsx';
import { NewTodo } from './NewTodo.jsx';
import { Notice } from './Notice.jsx';
import { TodoFooter } from './TodoFooter.jsx';
import { TodoItem } from './TodoItem.jsx';

const VIEW_TITLES = { all: 'Todos', active: 'Active todos', completed: 'Completed todos' };

/**
 * The list page: TodoMVC's behaviour, with the data on the server, and changes made elsewhere
 * (other tabs, devices) applied as they happen. `onUserChanged(user)`: this browser's session
 * is now another user's (see useLiveUpdates). `liveOptions`: see useLiveUpdates (tests).
 */
export function TodoApp({ api, filter, userId, onUserChanged, liveOptions }) {
  const todos = useTodos(api, userId);
  const connection = useLiveUpdates(
    api,
    { onEvent: todos.applyEvent, reRead: todos.reRead, userId, onUserChanged },
    liveOptions,
  );
  const newTodoRef = useRef(null);
  // Each shown row's checkbox, by todo id: where focus goes when a row leaves the view.
  const toggles = useRef(new Map());
  useDocumentTitle(VIEW_TITLES[filter]);
  // The todo being edited was deleted elsewhere: its row (and the focused editor) are gone.
  const lostEdit = todos.lostEdit;
  useEffect(() => {
    if (lostEdit) newTodoRef.current?.focus();
  }, [lostEdit]);

  if (todos.status === 'loading') return <Loading>Loading your todos…</Loading>;
  if (todos.status === 'failed') {
    return <ApiProblem error={todos.loadError} apiUrl={api.client.baseUrl} onRetry={todos.reload} />;
  }

  const { items, failures } = todos;
  const activeCount = items.filter((t) => !t.completed).length;
  const completedCount = items.length - activeCount;
  const shown = visibleTodos(items, filter);
  const focusNewTodo = () => newTodoRef.current?.focus();

  // Each handler below removes the focused control from the page; without moving focus
  // first, it would fall back to <body> and keyboard users would start over from the top.
  function destroy(todo) {
    todos.remove(todo);
    focusNewTodo();
  }

  function toggle(todo) {
    // In Active or Completed, a toggled row leaves the view: go to the next row (or the one before).
    if (filter !== 'all') {
      const index = shown.findIndex((t) => t.id === todo.id);
      const neighbour = shown[index + 1] || shown[index - 1];
      const next = neighbour && toggles.current.get(neighbour.id);
      if (next) next.focus();
      else focusNewTodo();
    }
    todos.toggle(todo);
  }

  function clearCompleted() {
    todos.clearCompleted();
    focusNewTodo();
  }

  function retryFailed() {
    todos.retryFailed();
    focusNewTodo();
  }

  function dismissFailures() {
    todos.dismissFailures();
    focusNewTodo();
  }

  const toggleRef = (id) => (element) => {
    if (element) toggles.current.set(id, element);
    else toggles.current.delete(id);
  };

  return (
    <section className="todoapp" aria-labelledby="todoapp-title">
      <header className="header">
        <h1 id="todoapp-title">todos</h1>
        <ConnectionStatus status={connection.status} onResume={connection.resume} />
        {failures.length > 0 && (
          <Notice
            onDismiss={dismissFailures}
            action={
              canRetry(failures) && (
                <button type="button" className="button" onClick={retryFailed}>
                  Retry
                </button>
              )
            }
          >
            {describeFailures(failures)}
          </Notice>
        )}
        {lostEdit && (
          <Notice tone="info" testId="lost-edit" onDismiss={todos.dismissLostEdit}>
            {lostEdit.title === null ? 'The todo you were editing' : `“${lostEdit.title}”`} was deleted elsewhere while you
            were editing it.{' '}
            {lostEdit.inNewTodo ? 'Your text is in the new todo box.' : `Your text: “${lostEdit.draft}”.`}
          </Notice>
        )}
        {todos.unadded.length > 0 && (
          <Notice tone="info" testId="unadded" onDismiss={todos.dismissUnadded}>
            Not added, so kept here: {todos.unadded.map((title) => `“${title}”`).join(', ')}.
          </Notice>
        )}
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
          <NewTodo ref={newTodoRef} value={todos.newTitle} onChange={todos.setNewTitle} onAdd={todos.add} />
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
                  draft={todos.editing?.id === todo.id ? todos.editing.draft : null}
                  reopened={todos.editing?.id === todo.id && Boolean(todos.editing.reopened)}
                  toggleRef={toggleRef(todo.id)}
                  onToggle={toggle}
                  onStartEditing={todos.startEditing}
                  onDraftChange={todos.setDraft}
                  onStopEditing={todos.stopEditing}
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
            onClearCompleted={clearCompleted}
          />
          <EditingHint />
        </>
      )}
    </section>
  );
}
