/**
 * Hash routes. Hash routing keeps deep links working on any static host (and
 * in esbuild's dev server, which has no index.html fallback), at the cost of
 * "#/" in the URL.
 */

/** List filters by route path; the path is what makes a filter survive a reload. */
export const FILTERS = {
  '/': 'all',
  '/active': 'active',
  '/completed': 'completed',
};

export const FILTER_PATHS = {
  all: '/',
  active: '/active',
  completed: '/completed',
};

/** Views that need a logged-in user; a logged-out visitor is sent to log in, then back. */
export const PRIVATE_ROUTES = new Set(['list', 'account']);

/** @returns {{name: 'list', filter: string} | {name: 'login'|'signup'|'diagnostics'|'account'|'not-found'}} */
export function matchRoute(path) {
  const clean = path.split('?')[0].replace(/\/+$/, '') || '/';
  if (clean in FILTERS) return { name: 'list', filter: FILTERS[clean] };
  if (clean === '/login' || clean === '/signup' || clean === '/diagnostics' || clean === '/account') {
    return { name: clean.slice(1) };
  }
  return { name: 'not-found' };
}
