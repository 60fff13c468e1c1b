import { useCallback, useEffect, useRef, useState } from 'react';

/**
 * Moves focus once the next render is on screen. An action on the Account page often removes
 * or disables the control that had focus (an "End" button whose row goes away, a submit button
 * disabled while waiting); without a new place for it, focus falls back to <body> and a
 * keyboard user starts over from the top. `focusAfterRender(() => element)` picks the place;
 * the element is looked up after the render, when it exists and is enabled.
 */
export function useAccountFocus() {
  const pending = useRef(null);
  const [, rerender] = useState(0);

  useEffect(() => {
    if (!pending.current) return;
    const target = pending.current();
    pending.current = null;
    if (target && typeof target.focus === 'function') target.focus();
  });

  return useCallback((getTarget) => {
    pending.current = getTarget;
    rerender((n) => n + 1);
  }, []);
}
