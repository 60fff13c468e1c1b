/**
 * How to edit a todo, in the words of the device: the stylesheet shows the touch
 * sentence where nothing hovers or the pointer is coarse (phones, tablets), the
 * pointer sentence elsewhere.
 */
export function EditingHint() {
  return (
    <p className="hint">
      <span className="hint-pointer">Double-click a todo to edit it.</span>
      <span className="hint-touch">Tap the pencil to edit a todo.</span>
    </p>
  );
}
