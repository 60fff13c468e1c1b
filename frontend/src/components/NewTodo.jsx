import { forwardRef } from 'react';

import { limitTitle } from '../state/titles.js';
import { TitleCounter, titleCounterId } from './TitleCounter.jsx';

/**
 * The "What needs to be done?" input: Enter adds the trimmed title, blank is ignored.
 * Its text lives in the list's state, so that a failed add can put it back.
 */
export const NewTodo = forwardRef(function NewTodo({ value, onChange, onAdd }, ref) {
  function handleKeyDown(event) {
    // Enter that confirms an IME composition (Japanese, Chinese...) is not a submit.
    if (event.key !== 'Enter' || event.nativeEvent?.isComposing) return;
    const trimmed = value.trim();
    if (!trimmed) return;
    onAdd(trimmed);
  }

  return (
    <>
      <input
        ref={ref}
        className="new-todo"
        placeholder="What needs to be done?"
        aria-label="New todo"
        aria-describedby={titleCounterId('new-todo-counter', value)}
        autoFocus
        value={value}
        onChange={(event) => onChange(limitTitle(event.target.value))}
        onKeyDown={handleKeyDown}
      />
      <TitleCounter id="new-todo-counter" title={value} />
    </>
  );
});
