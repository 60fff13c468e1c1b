import { FILTER_PATHS } from '../routes.js';

const FILTER_LABELS = { all: 'All', active: 'Active', completed: 'Completed' };

export function TodoFooter({ activeCount, completedCount, filter, onClearCompleted }) {
  return (
    <footer className="footer">
      <span className="todo-count" data-testid="todo-count" aria-live="polite">
        <strong>{activeCount}</strong> {activeCount === 1 ? 'item' : 'items'} left
      </span>
      <ul className="filters" aria-label="Show">
        {Object.entries(FILTER_LABELS).map(([name, label]) => (
          <li key={name}>
            <a
              href={`#${FILTER_PATHS[name]}`}
              className={name === filter ? 'selected' : undefined}
              aria-current={name === filter ? 'page' : undefined}
            >
              {label}
            </a>
          </li>
        ))}
      </ul>
      {completedCount > 0 && (
        <button type="button" className="clear-completed" onClick={onClearCompleted}>
          Clear completed
        </button>
      )}
    </footer>
  );
}
