import { TITLE_COUNTER_FROM, TITLE_MAX_LENGTH, trimmedLength } from '../state/titles.js';

/**
 * "487/500" under a title input, shown only near the limit, counted as the server counts (after
 * trimming); `id` is for aria-describedby.
 */
export function TitleCounter({ id, title }) {
  const length = trimmedLength(title);
  if (length < TITLE_COUNTER_FROM) return null;
  return (
    <span id={id} className={`title-counter${length >= TITLE_MAX_LENGTH ? ' title-counter-full' : ''}`}>
      {length}/{TITLE_MAX_LENGTH}
      <span className="visually-hidden"> characters</span>
    </span>
  );
}

/** The counter's id when it is shown, for the input's aria-describedby. */
export function titleCounterId(id, title) {
  return trimmedLength(title) >= TITLE_COUNTER_FROM ? id : undefined;
}
