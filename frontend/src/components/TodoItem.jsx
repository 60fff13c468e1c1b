import { useEffect, useRef, useState } from 'react';

/**
 * One todo. Double-click (or the edit button, for keyboards) opens the editor:
 * Enter or leaving the field saves, Escape cancels, an empty title deletes.
 */
export function TodoItem({ todo, onToggle, onRename, onDestroy }) {
  const [editing, setEditing] = useState(false);
  const [draft, setDraft] = useState(todo.title);
  // Enter/Escape unmount the editor, and browsers may then fire blur on it:
  // this ref makes sure one edit ends exactly once.
  const editingRef = useRef(false);
  const returnFocusRef = useRef(false);
  const editInputRef = useRef(null);
  const editButtonRef = useRef(null);
  const titleId = `todo-title-${todo.id}`;

  useEffect(() => {
    if (editing) {
      const input = editInputRef.current;
      input?.focus();
      input?.select?.();
    } else if (returnFocusRef.current) {
      returnFocusRef.current = false;
      editButtonRef.current?.focus();
    }
  }, [editing]);

  function startEditing() {
    if (todo.pending) return; // Not on the server yet: nothing to patch.
    editingRef.current = true;
    setDraft(todo.title);
    setEditing(true);
  }

  function stopEditing({ save, returnFocus }) {
    if (!editingRef.current) return;
    editingRef.current = false;
    const title = draft.trim();
    if (save && !title) {
      onDestroy(todo); // The item unmounts; the list takes care of focus.
      return;
    }
    returnFocusRef.current = returnFocus;
    setEditing(false);
    if (save && title !== todo.title) onRename(todo, title);
  }

  function handleKeyDown(event) {
    const save = event.key === 'Enter' && !event.nativeEvent?.isComposing;
    if (!save && event.key !== 'Escape') return;
    // Focus moves to the edit button before the browser acts on this key; without
    // this, the same Enter would "press" that button and reopen the editor.
    event.preventDefault();
    stopEditing({ save, returnFocus: true });
  }

  const classes = [todo.completed && 'completed', editing && 'editing', todo.pending && 'pending'].filter(Boolean);

  return (
    <li className={classes.join(' ')} data-testid="todo-item" aria-busy={todo.pending || undefined}>
      {editing ? (
        <input
          ref={editInputRef}
          className="edit"
          aria-label={`Edit “${todo.title}”`}
          value={draft}
          onChange={(event) => setDraft(event.target.value)}
          onKeyDown={handleKeyDown}
          onBlur={() => stopEditing({ save: true, returnFocus: false })}
        />
      ) : (
        <div className="view">
          <input
            className="toggle"
            type="checkbox"
            checked={todo.completed}
            disabled={todo.pending}
            aria-labelledby={titleId}
            onChange={() => onToggle(todo)}
          />
          <label id={titleId} data-testid="todo-title" onDoubleClick={startEditing}>
            {todo.title}
          </label>
          <button
            ref={editButtonRef}
            type="button"
            className="edit-button"
            aria-label={`Edit “${todo.title}”`}
            disabled={todo.pending}
            onClick={startEditing}
          />
          <button
            type="button"
            className="destroy"
            aria-label={`Delete “${todo.title}”`}
            disabled={todo.pending}
            onClick={() => onDestroy(todo)}
          />
        </div>
      )}
    </li>
  );
}
