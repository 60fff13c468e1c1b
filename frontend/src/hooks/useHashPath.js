import { useSyncExternalStore } from 'react';

// Hash changes seen so far. A path left and come back to before React renders (a redirect
// racing another navigation: both land before either hashchange event is handled) is still
// a change, so that what depends on the path (the redirect to the log-in form) runs again.
let changes = 0;

function subscribe(onChange) {
  const listener = () => {
    changes += 1;
    onChange();
  };
  window.addEventListener('hashchange', listener);
  return () => window.removeEventListener('hashchange', listener);
}

function readLocation() {
  return `${changes} ${window.location.hash}`;
}

/**
 * The current "#/..." path, and `visit`: a number that changes with every hash change, even
 * one back to the same path. Re-renders on every hash change.
 */
export function useHashLocation() {
  const snapshot = useSyncExternalStore(subscribe, readLocation, () => '0 ');
  const space = snapshot.indexOf(' ');
  const path = snapshot.slice(space + 1).replace(/^#/, '');
  return { path: path === '' ? '/' : path, visit: Number(snapshot.slice(0, space)) };
}

/**
 * Go to a hash path. `replace` is for redirects, so that Back does not land
 * on a page that immediately redirects again.
 */
export function navigate(path, { replace = false } = {}) {
  if (replace) window.location.replace(`#${path}`);
  else window.location.hash = path;
}
