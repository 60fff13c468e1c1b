import { useEffect, useRef } from 'react';

import { limitTitle } from '../state/titles.js';
import { TitleCounter, titleCounterId } from './TitleCounter.jsx';

/**
 * One todo. Double-click (or the pencil button, for keyboards and touch) opens the
 * editor: Enter or leaving the field saves, Escape cancels, an empty title deletes.
 * Whether it is being edited, and the draft, live in the list's state (`draft` is
 * null when not editing), so that a failed rename can open the editor again.
 */
export function TodoItem({ todo, draft, reopened, toggleRef, onToggle, onStartEditing, onDraftChange, onStopEditing, onRename, onDestroy }) {
  const editing = draft !== null;
  // Enter/Escape unmount the editor, and browsers may then fire blur on it:
  // this ref makes sure one edit ends exactly once.
  const editingRef = useRef(false);
  const returnFocusRef = useRef(false);
  const itemRef = useRef(null);
  const editInputRef = useRef(null);
  const editButtonRef = useRef(null);
  const titleId = `todo-title-${todo.id}`;
  const counterId = `todo-counter-${todo.id}`;

  useEffect(() => {
    if (editing) {
      editingRef.current = true;
      const input = editInputRef.current;
      // An editor reopened after a failed save takes focus only if focus is not busy elsewhere.
      if (!reopened || !focusIsElsewhere(itemRef.current)) {
        input?.focus();
        input?.select?.();
      }
    } else if (returnFocusRef.current) {
      returnFocusRef.current = false;
      editButtonRef.current?.focus();
    }
    // Only a change of `editing` moves focus; `reopened` is read as it was then.
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [editing]);

  function startEditing() {
    if (todo.pending) return; // Not on the server yet: nothing to patch.
    onStartEditing(todo);
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
    onStopEditing(todo);
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
    <li ref={itemRef} className={classes.join(' ')} data-testid="todo-item" aria-busy={todo.pending || undefined}>
      {editing ? (
        <>
          <input
            ref={editInputRef}
            className="edit"
            aria-label={`Edit “${todo.title}”`}
            aria-describedby={titleCounterId(counterId, draft)}
            value={draft}
            onChange={(event) => onDraftChange(limitTitle(event.target.value))}
            onKeyDown={handleKeyDown}
            onBlur={() => stopEditing({ save: true, returnFocus: false })}
          />
          <TitleCounter id={counterId} title={draft} />
        </>
      ) : (
        <div className="view">
          <input
            ref={toggleRef}
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

/** True when something other than the page or this item has focus (someone is typing there). */
function focusIsElsewhere(item) {
  if (typeof document === 'undefined') return false;
  const active = document.activeElement;
  return Boolean(active && active !== document.body && !item?.contains(active));
}
