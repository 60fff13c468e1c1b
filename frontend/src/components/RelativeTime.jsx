/**
 * Times as people read them: "5 minutes ago", "yesterday", "in 30 days", with the exact local
 * date and time in the `title` (and the machine-readable instant in `dateTime`).
 */
const UNITS = [
  ['year', 365 * 86400],
  ['day', 86400],
  ['hour', 3600],
  ['minute', 60],
];

const relative = new Intl.RelativeTimeFormat('en', { numeric: 'auto' });
const absolute = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'short' });

/** @param {string} iso RFC 3339 @param {number} [now] ms since the epoch */
export function describeRelative(iso, now = Date.now()) {
  const then = Date.parse(iso);
  if (Number.isNaN(then)) return String(iso);
  const seconds = (then - now) / 1000;
  // The server writes "last seen" at most once a minute: finer detail would be noise.
  if (Math.abs(seconds) < 60) return 'just now';
  for (const [unit, size] of UNITS) {
    // Rounded: a token made to last 30 days "expires in 30 days", not in 29 and 23 hours.
    if (Math.abs(seconds) >= size) return relative.format(Math.round(seconds / size), unit);
  }
  return 'just now';
}

export function describeAbsolute(iso) {
  const then = Date.parse(iso);
  return Number.isNaN(then) ? String(iso) : absolute.format(new Date(then));
}

export function RelativeTime({ value, now }) {
  return (
    <time dateTime={value} title={describeAbsolute(value)}>
      {describeRelative(value, now)}
    </time>
  );
}
