import { describe, it } from 'node:test';
import assert from 'node:assert/strict';

import { apiUrlFromConfig, DEFAULT_API_URL } from '../../src/api/index.js';

describe('apiUrlFromConfig', () => {
  it('defaults to the development API', () => {
    assert.equal(DEFAULT_API_URL, 'http://localhost:8000');
    assert.equal(apiUrlFromConfig(undefined), DEFAULT_API_URL);
    assert.equal(apiUrlFromConfig({}), DEFAULT_API_URL);
  });

  it('uses the configured URL without a trailing slash', () => {
    assert.equal(apiUrlFromConfig({ apiUrl: ' https://api.example.com/ ' }), 'https://api.example.com');
  });

  it('treats an empty string as the page origin', () => {
    assert.equal(apiUrlFromConfig({ apiUrl: '' }), '');
  });
});
