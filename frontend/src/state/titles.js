/**
 * Todo titles as the contract counts them: 1–500 Unicode characters (code points) after
 * trimming. The inputs stop at the limit, and messages quote a short excerpt, never a
 * whole title (a 500-character title would swamp any message).
 */
export const TITLE_MAX_LENGTH = 500;

/** From this many characters on, the inputs show a counter. */
export const TITLE_COUNTER_FROM = 450;

/** Code points, not UTF-16 units: an emoji is one character to the server and to people. */
export function titleLength(title) {
  let count = 0;
  // eslint-disable-next-line no-unused-vars
  for (const _ of title) count += 1;
  return count;
}

/**
 * `value` cut to the limit as the server counts it (code points, after trimming): white space
 * around the title is kept as typed, and only the title itself is cut.
 */
export function limitTitle(value) {
  if (trimmedLength(value) <= TITLE_MAX_LENGTH) return value;
  const leading = value.length - value.trimStart().length;
  return value.slice(0, leading) + Array.from(value.slice(leading)).slice(0, TITLE_MAX_LENGTH).join('');
}

/** The length the server judges: code points after trimming. */
export function trimmedLength(title) {
  return titleLength(title.trim());
}

const EXCERPT_LENGTH = 40;

/** “Buy milk”, or the first 40 characters of a long title followed by an ellipsis. */
export function quoteTitle(title) {
  const chars = Array.from(title);
  const shown = chars.length <= EXCERPT_LENGTH ? title : `${chars.slice(0, EXCERPT_LENGTH - 1).join('').trimEnd()}…`;
  return `“${shown}”`;
}
