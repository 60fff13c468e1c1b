import { forwardRef, useState } from 'react';

/** The "What needs to be done?" input: Enter adds the trimmed title, blank is ignored. */
export const NewTodo = forwardRef(function NewTodo({ onAdd }, ref) {
  const [title, setTitle] = useState('');

  function handleKeyDown(event) {
    // Enter that confirms an IME composition (Japanese, Chinese...) is not a submit.
    if (event.key !== 'Enter' || event.nativeEvent?.isComposing) return;
    const trimmed = title.trim();
    if (!trimmed) return;
    onAdd(trimmed);
    setTitle('');
  }

  return (
    <input
      ref={ref}
      className="new-todo"
      placeholder="What needs to be done?"
      aria-label="New todo"
      autoFocus
      value={title}
      onChange={(event) => setTitle(event.target.value)}
      onKeyDown={handleKeyDown}
    />
  );
});
