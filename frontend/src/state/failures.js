/**
 * Failed changes, as the one message the list shows about them. Failures that arrive while
 * the message is up are gathered into it (a burst of failures reads as one message, saying
 * how many), and a change that succeeds afterwards clears every failure reported before it
 * started: the problem is over, so the message goes.
 *
 * A failure: {what: "Could not add “Buy milk”", detail: "<the error's sentence>",
 *             retry: an operation to send again, or null; at: when it was reported}.
 */

/** The message for a non-empty list of failures. */
export function describeFailures(failures) {
  const last = failures[failures.length - 1];
  if (failures.length === 1) return `${last.what}: ${last.detail}`;
  const sameCause = failures.every((f) => f.detail === last.detail);
  if (sameCause) return `${failures.length} changes could not be saved: ${last.detail}`;
  return `${failures.length} changes could not be saved. The last one: ${last.what}: ${last.detail}`;
}

/** True when at least one failed change may succeed if sent again (no answer, or a 5xx). */
export function canRetry(failures) {
  return failures.some((f) => f.retry);
}
