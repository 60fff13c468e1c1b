/** Where the API lives when the runtime config says nothing (local development). */
export const DEFAULT_API_URL = 'http://localhost:8000';

/**
 * Reads the API base URL from the runtime config object that `config.js` puts on
 * `window` before the bundle runs. It is read at run time, not baked in at build
 * time, so one build can be deployed to every environment.
 *
 * `apiUrl: ''` means "same origin as the page" (API behind the same host);
 * a missing or non-string value means the development default.
 */
export function apiUrlFromConfig(config) {
  const raw = config && typeof config.apiUrl === 'string' ? config.apiUrl.trim() : DEFAULT_API_URL;
  return raw.replace(/\/+$/, '');
}
