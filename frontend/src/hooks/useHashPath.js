import { useSyncExternalStore } from 'react';

function subscribe(onChange) {
  window.addEventListener('hashchange', onChange);
  return () => window.removeEventListener('hashchange', onChange);
}

function readPath() {
  const path = window.location.hash.replace(/^#/, '');
  return path === '' ? '/' : path;
}

/** The current "#/..." path, re-rendering on every hash change. */
export function useHashPath() {
  return useSyncExternalStore(subscribe, readPath, () => '/');
}

/**
 * Go to a hash path. `replace` is for redirects, so that Back does not land
 * on a page that immediately redirects again.
 */
export function navigate(path, { replace = false } = {}) {
  if (replace) window.location.replace(`#${path}`);
  else window.location.hash = path;
}
