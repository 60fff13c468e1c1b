import { afterEach, beforeEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';

import { App } from '../../src/components/App.jsx';
import { describeWait } from '../../src/components/authErrors.js';
import { AuthForm } from '../../src/components/AuthForm.jsx';
import { Diagnostics } from '../../src/components/Diagnostics.jsx';
import { FakeEventSource } from '../unit/fake-event-source.mjs';
import { act, byTestId, fakeApi, fire, networkError, render, serverError, settle, textOf } from './helpers.jsx';

/** Just enough of `window` for hash routing: location.hash, replace() and hashchange. */
function installFakeWindow(hash) {
  const listeners = new Set();
  const go = (next) => {
    hash = next.startsWith('#') ? next : `#${next}`;
    listeners.forEach((listener) => listener());
  };
  globalThis.window = {
    location: {
      origin: 'http://localhost:3000',
      get hash() {
        return hash;
      },
      set hash(value) {
        go(value);
      },
      replace: go,
    },
    addEventListener: (type, listener) => type === 'hashchange' && listeners.add(listener),
    removeEventListener: (type, listener) => listeners.delete(listener),
  };
  return globalThis.window;
}

describe('App: routing and session', () => {
  let win;
  beforeEach(() => {
    win = installFakeWindow('#/active');
  });
  afterEach(() => {
    delete globalThis.window;
  });

  it('sends a logged-out user from the list to the log-in form, and back after logging in', async () => {
    const api = fakeApi();
    const renderer = await render(<App api={api} />);
    assert.equal(win.location.hash, '#/login');
    assert.equal(byTestId(renderer, 'login-form').length, 1);

    const form = byTestId(renderer, 'login-form')[0];
    const [username, password] = form.findAllByType('input');
    await act(async () => username.props.onChange({ target: { name: 'username', value: 'ada' } }));
    await act(async () => password.props.onChange({ target: { name: 'password', value: 'correct horse' } }));
    await fire(byTestId(renderer, 'login-form')[0], 'onSubmit');

    assert.deepEqual(api.calls.find(([n]) => n === 'auth.login'), ['auth.login', { username: 'ada', password: 'correct horse' }]);
    assert.equal(win.location.hash, '#/active', 'back to the filter the user asked for');
    assert.equal(textOf(byTestId(renderer, 'current-user')[0]), 'ada');
  });

  it('shows the username and logs out', async () => {
    const api = fakeApi();
    api.auth.me = async () => ({ id: 3, username: 'grace' });
    const renderer = await render(<App api={api} />);
    assert.equal(textOf(byTestId(renderer, 'current-user')[0]), 'grace');
    assert.equal(win.location.hash, '#/active');

    await fire(byTestId(renderer, 'logout')[0], 'onClick');
    assert.ok(api.calls.some(([n]) => n === 'auth.logout'));
    assert.equal(byTestId(renderer, 'current-user').length, 0);
    assert.equal(win.location.hash, '#/login');
  });

  it('still sends a logged-out user to the log-in form when another navigation to the list lands right after the redirect', async () => {
    // In a browser both land before either hashchange event is handled, so the app sees the
    // list's path, which it already shows, and nothing else (e2e: a page.goto after log-out).
    const api = fakeApi();
    api.auth.me = async () => ({ id: 3, username: 'grace' });
    win.location.hash = '#/';
    const renderer = await render(<App api={api} />);
    const replace = win.location.replace;
    let raced = false;
    win.location.replace = (next) => {
      win.location.replace = replace;
      raced = true;
      replace(next);
      win.location.hash = '#/';
    };

    await fire(byTestId(renderer, 'logout')[0], 'onClick');
    assert.ok(raced, 'the redirect ran and the navigation raced it');
    assert.equal(byTestId(renderer, 'current-user').length, 0);
    assert.equal(win.location.hash, '#/login');
    assert.equal(byTestId(renderer, 'login-form').length, 1);
  });

  it("follows a log-in made in another tab as another user, instead of showing that user's todos under this one", async () => {
    FakeEventSource.reset();
    globalThis.EventSource = FakeEventSource;
    try {
      const api = fakeApi();
      const me = [{ id: 1, username: 'alice' }, { id: 2, username: 'bob' }];
      api.auth.me = async () => me.shift();
      const renderer = await render(<App api={api} />);
      assert.equal(textOf(byTestId(renderer, 'current-user')[0]), 'alice');
      await act(async () => FakeEventSource.latest.open());
      await act(async () => FakeEventSource.latest.emit('closed', { reason: 'session_ended' }, 3));
      await settle();
      assert.equal(textOf(byTestId(renderer, 'current-user')[0]), 'bob');
      assert.match(textOf(renderer.root), /now logged in as “bob”/);
      assert.equal(FakeEventSource.instances.length, 2, "bob's list has its own stream");
      await act(async () => renderer.unmount());
    } finally {
      delete globalThis.EventSource;
    }
  });

  it('says so when the API cannot be reached at start-up', async () => {
    const api = fakeApi();
    api.auth.me = () => Promise.reject(networkError());
    const renderer = await render(<App api={api} />);
    assert.equal(byTestId(renderer, 'api-unreachable').length, 1);
  });

  it('keeps diagnostics available when the API is down', async () => {
    win.location.hash = '#/diagnostics';
    const api = fakeApi();
    api.auth.me = () => Promise.reject(networkError());
    const renderer = await render(<App api={api} />);
    assert.equal(byTestId(renderer, 'diagnostics-get').length, 1);
  });
});

describe('AuthForm: server errors next to the right field', () => {
  async function submitWith(error, mode = 'signup') {
    const onSubmit = () => Promise.reject(error);
    const renderer = await render(<AuthForm mode={mode} onSubmit={onSubmit} />);
    await fire(byTestId(renderer, `${mode}-form`)[0], 'onSubmit');
    const text = (id) => byTestId(renderer, id).map(textOf).join('');
    return { renderer, username: text('username-error'), password: text('password-error'), form: text('form-error') };
  }

  it('puts invalid_username and username_taken on the username field', async () => {
    const invalid = await submitWith(serverError(400, 'invalid_username', 'Usernames use letters and digits.'));
    assert.deepEqual([invalid.username, invalid.password, invalid.form], ['Usernames use letters and digits.', '', '']);
    const taken = await submitWith(serverError(409, 'username_taken', 'That username is taken.'));
    assert.equal(taken.username, 'That username is taken.');
    const input = taken.renderer.root.find((n) => n.type === 'input' && n.props.name === 'username');
    assert.equal(input.props['aria-invalid'], 'true');
    assert.match(input.props['aria-describedby'], /field-username-error/);
  });

  it('puts invalid_password on the password field', async () => {
    const result = await submitWith(serverError(400, 'invalid_password', 'Too short.'));
    assert.deepEqual([result.username, result.password, result.form], ['', 'Too short.', '']);
  });

  it('shows invalid_credentials for the whole form', async () => {
    const result = await submitWith(serverError(400, 'invalid_credentials', 'No.'), 'login');
    assert.deepEqual([result.username, result.password, result.form], ['', '', 'Wrong username or password.']);
  });

  it('shows how long to wait when throttled', async () => {
    const result = await submitWith(serverError(429, 'throttled', 'Too many.', { retryAfter: 42 }), 'login');
    assert.equal(result.form, 'Too many failed attempts. Try again in 42 seconds.');
  });

  it('says a long wait in minutes, rounded up', async () => {
    const result = await submitWith(serverError(429, 'throttled', 'Too many.', { retryAfter: 898 }), 'login');
    assert.equal(result.form, 'Too many failed attempts. Try again in 15 minutes.');
    assert.equal(describeWait(1), '1 second');
    assert.equal(describeWait(60), '1 minute');
    assert.equal(describeWait(61), '2 minutes');
    assert.equal(describeWait(3600), '1 hour');
    assert.equal(describeWait(5400), '1 hour 30 minutes');
  });

  it('shows other failures at form level', async () => {
    const result = await submitWith(networkError(), 'login');
    assert.match(result.form, /could not be reached/);
  });

  it('disables the submit button while waiting', async () => {
    const renderer = await render(<AuthForm mode="login" onSubmit={() => new Promise(() => {})} />);
    await fire(byTestId(renderer, 'login-form')[0], 'onSubmit');
    const button = renderer.root.find((n) => n.type === 'button' && n.props.type === 'submit');
    assert.equal(button.props.disabled, true);
  });
});

describe('Diagnostics', () => {
  const line = (renderer, key) => textOf(byTestId(renderer, `diagnostics-${key}`)[0]);

  it('reports OK for both requests', async () => {
    const api = fakeApi();
    const renderer = await render(<Diagnostics api={api} />);
    assert.equal(line(renderer, 'get'), 'Test GET request: OK');
    assert.equal(line(renderer, 'post'), 'Test POST request: OK');
    assert.deepEqual(api.calls.map(([n]) => n).sort(), ['ping.get', 'ping.post']);
  });

  it('reports KO with the reason', async () => {
    const api = fakeApi();
    api.ping.get = () => Promise.reject(networkError());
    api.ping.post = () =>
      Promise.reject(serverError(403, 'csrf_failed', 'Origin checking failed.', { reason: 'origin_untrusted' }));
    const renderer = await render(<Diagnostics api={api} />);
    assert.equal(line(renderer, 'get'), 'Test GET request: KO (network_error: The server at http://api.test could not be reached.)');
    assert.equal(line(renderer, 'post'), 'Test POST request: KO (HTTP 403 csrf_failed/origin_untrusted: Origin checking failed.)');
  });

  it('runs again on demand', async () => {
    const api = fakeApi();
    const renderer = await render(<Diagnostics api={api} />);
    await fire(renderer.root.find((n) => n.type === 'button'), 'onClick');
    await settle();
    assert.equal(api.calls.length, 4);
  });
});
