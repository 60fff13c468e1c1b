// The API client's public surface. Nothing here imports React, so any UI (or a
// script) can talk to the backend through the same CSRF-aware path.
export { ApiError, NETWORK_ERROR, INVALID_RESPONSE, TIMEOUT } from './errors.js';
export { createApiClient, DEFAULT_TIMEOUT_MS, RETRYABLE_CSRF_REASONS } from './client.js';
export { createApi } from './endpoints.js';
export { apiUrlFromConfig, DEFAULT_API_URL } from './config.js';
