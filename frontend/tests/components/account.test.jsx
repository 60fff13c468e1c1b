// The Account page (issue 12) against a fake API: sessions, password change, tokens and account
// deletion; errors next to the field they are about; the route and the header link.
import { afterEach, beforeEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';

import { AccountPage } from '../../src/components/AccountPage.jsx';
import { App } from '../../src/components/App.jsx';
import { AuthForm } from '../../src/components/AuthForm.jsx';
import { DeleteAccount } from '../../src/components/DeleteAccount.jsx';
import { PasswordForm } from '../../src/components/PasswordForm.jsx';
import { describeRelative } from '../../src/components/RelativeTime.jsx';
import { describeAbilities } from '../../src/components/TokenList.jsx';
import { act, byTestId, fakeApi, fire, networkError, render, serverError, settle, textOf } from './helpers.jsx';

const USER = { id: 3, username: 'grace' };
const NOW = '2026-11-30T07:00:00.000Z';
const sessionRows = () => [
  { id: 11, createdAt: NOW, lastSeenAt: NOW, client: 'Firefox on Linux', address: '203.0.113.9', current: false },
  { id: 10, createdAt: NOW, lastSeenAt: NOW, client: 'Chrome on macOS', address: '127.0.0.1', current: true },
  { id: 12, createdAt: NOW, lastSeenAt: NOW, client: 'Safari on iOS', address: '198.51.100.4', current: false },
];
const tokenRow = (id, name, extra = {}) => ({
  id,
  name,
  abilities: ['todos:read'],
  createdAt: NOW,
  expiresAt: null,
  lastUsedAt: null,
  ...extra,
});

/** fakeApi() plus the account helpers, each recording its calls in `api.calls`. */
function accountApi({ sessions = sessionRows(), tokens = [] } = {}) {
  const api = fakeApi();
  api.auth.me = async () => USER;
  const record = (name, fn) => (...args) => {
    api.calls.push([name, ...args]);
    return fn(...args);
  };
  let nextTokenId = 50;
  api.sessions = {
    list: record('sessions.list', async () => sessions.map((s) => ({ ...s }))),
    end: record('sessions.end', async () => undefined),
    endOthers: record('sessions.endOthers', async () => sessions.filter((s) => !s.current).length),
  };
  api.account = {
    changePassword: record('account.changePassword', async () => USER),
    delete: record('account.delete', async () => undefined),
  };
  api.tokens = {
    list: record('tokens.list', async () => tokens.map((t) => ({ ...t }))),
    create: record('tokens.create', async ({ name, abilities, expiresIn }) => {
      nextTokenId += 1;
      return {
        ...tokenRow(nextTokenId, name.trim(), { abilities }),
        expiresAt: expiresIn ? '2026-12-30T07:00:00.000Z' : null,
        token: `tdl_secret${nextTokenId}`,
      };
    }),
    revoke: record('tokens.revoke', async () => undefined),
  };
  return api;
}

const called = (api, name) => api.calls.filter(([n]) => n === name).map(([, ...args]) => args);
const texts = (renderer, id) => byTestId(renderer, id).map(textOf);
const text = (renderer, id) => texts(renderer, id).join('');
const input = (renderer, name) => renderer.root.find((n) => n.type === 'input' && n.props.name === name);
const button = (renderer, label) =>
  renderer.root.find((n) => n.type === 'button' && (typeof label === 'string' ? textOf(n) === label : label.test(textOf(n))));

async function type(renderer, name, value) {
  await act(async () => input(renderer, name).props.onChange({ target: { name, value } }));
}

async function click(renderer, label) {
  await fire(button(renderer, label), 'onClick');
}

async function submit(renderer, testId) {
  await fire(byTestId(renderer, testId)[0], 'onSubmit');
}

/** Just enough of `window` for hash routing (as in app.test.jsx). */
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

describe('Account page: route and header', () => {
  let win;
  beforeEach(() => {
    win = installFakeWindow('#/account');
  });
  afterEach(() => {
    delete globalThis.window;
  });

  it('sends a logged-out visitor to log in, and back to the account page afterwards', async () => {
    const api = accountApi();
    api.auth.me = async () => null;
    const renderer = await render(<App api={api} />);
    assert.equal(win.location.hash, '#/login');
    await type(renderer, 'username', 'grace');
    await type(renderer, 'password', 'correct horse');
    await submit(renderer, 'login-form');
    assert.equal(win.location.hash, '#/account');
    assert.equal(byTestId(renderer, 'account-page').length, 1);
  });

  it('is linked from the header when logged in, marked as the current page there', async () => {
    const api = accountApi();
    const renderer = await render(<App api={api} />);
    const link = byTestId(renderer, 'account-link')[0];
    assert.equal(link.props.href, '#/account');
    assert.equal(link.props['aria-current'], 'page');
    const h1 = renderer.root.findAllByType('h1');
    assert.deepEqual(h1.map(textOf), ['Your account']);
  });

  it('goes back to the log-in form with a message once the account is deleted', async () => {
    const api = accountApi();
    const renderer = await render(<App api={api} />);
    await click(renderer, 'Delete account…');
    await type(renderer, 'password', 'correct horse');
    await submit(renderer, 'delete-account-form');
    assert.deepEqual(called(api, 'account.delete'), [[{ password: 'correct horse' }]]);
    assert.equal(win.location.hash, '#/login');
    assert.equal(byTestId(renderer, 'login-form').length, 1);
    assert.equal(byTestId(renderer, 'current-user').length, 0);
    assert.match(text(renderer, 'status-message'), /account “grace” has been deleted/);
  });
});

describe('Account page: sessions', () => {
  it('lists this device first, marked, with End on every other session', async () => {
    const renderer = await render(<AccountPage api={accountApi()} user={USER} onLogout={() => {}} onDeleted={() => {}} />);
    const rows = byTestId(renderer, 'session');
    assert.deepEqual(rows.map((row) => row.props['data-current']), [true, false, false]);
    assert.deepEqual(texts(renderer, 'session-client'), ['Chrome on macOS', 'Firefox on Linux', 'Safari on iOS']);
    assert.equal(byTestId(renderer, 'this-device').length, 1);
    assert.match(textOf(rows[0]), /This device/);
    // Each End button says which session it ends (the visible word starts its name).
    const ends = renderer.root.findAll((n) => n.type === 'button' && /^End/.test(textOf(n)));
    assert.deepEqual(ends.map(textOf), ['End the session of Firefox on Linux at 203.0.113.9', 'End the session of Safari on iOS at 198.51.100.4']);
  });

  it('ends one other session and says so', async () => {
    const api = accountApi();
    const renderer = await render(<AccountPage api={api} user={USER} onLogout={() => {}} onDeleted={() => {}} />);
    await click(renderer, /^End the session of Firefox/);
    assert.deepEqual(called(api, 'sessions.end'), [[11]]);
    assert.deepEqual(texts(renderer, 'session-client'), ['Chrome on macOS', 'Safari on iOS']);
    assert.match(text(renderer, 'sessions-status'), /Ended the session of Firefox on Linux at 203\.0\.113\.9/);
  });

  it('logs this device out the app’s usual way', async () => {
    let loggedOut = 0;
    const renderer = await render(<AccountPage api={accountApi()} user={USER} onLogout={() => (loggedOut += 1)} onDeleted={() => {}} />);
    await click(renderer, 'Log out of this device');
    assert.equal(loggedOut, 1);
  });

  it('logs out everywhere else and says how many sessions ended', async () => {
    const api = accountApi();
    const renderer = await render(<AccountPage api={api} user={USER} onLogout={() => {}} onDeleted={() => {}} />);
    api.sessions.list = async () => sessionRows().filter((s) => s.current);
    await click(renderer, 'Log out everywhere else');
    assert.equal(called(api, 'sessions.endOthers').length, 1);
    assert.equal(text(renderer, 'sessions-status'), 'Logged out everywhere else: 2 other sessions ended.');
    assert.equal(byTestId(renderer, 'session').length, 1);
    assert.equal(byTestId(renderer, 'no-other-sessions').length, 1);
  });

  it('shows a failure to end a session readably and keeps the row', async () => {
    const api = accountApi();
    api.sessions.end = () => Promise.reject(networkError());
    const renderer = await render(<AccountPage api={api} user={USER} onLogout={() => {}} onDeleted={() => {}} />);
    await click(renderer, /^End the session of Safari/);
    assert.match(text(renderer, 'sessions-error'), /Could not end the session of Safari on iOS .*could not be reached/);
    assert.equal(byTestId(renderer, 'session').length, 3);
  });

  it('offers to try again when the list cannot be loaded', async () => {
    const api = accountApi();
    let fail = true;
    const list = api.sessions.list;
    api.sessions.list = (...args) => (fail ? Promise.reject(serverError(500, 'internal_error', 'Something broke.')) : list(...args));
    const renderer = await render(<AccountPage api={api} user={USER} onLogout={() => {}} onDeleted={() => {}} />);
    assert.match(text(renderer, 'sessions-load-error'), /Could not load your sessions: Something broke\./);
    fail = false;
    await fire(byTestId(renderer, 'sessions-load-error')[0].findByType('button'), 'onClick');
    assert.equal(byTestId(renderer, 'session').length, 3);
  });
});

describe('Account page: password change', () => {
  async function changeWith(answer) {
    const api = accountApi();
    api.account.changePassword = (body) => {
      api.calls.push(['account.changePassword', body]);
      return answer();
    };
    let changed = 0;
    const renderer = await render(<PasswordForm api={api} username="grace" onChanged={() => (changed += 1)} />);
    await type(renderer, 'currentPassword', 'old secret 1');
    await type(renderer, 'newPassword', 'new secret 2');
    await submit(renderer, 'password-form');
    return {
      api,
      renderer,
      changed,
      current: text(renderer, 'currentPassword-error'),
      next: text(renderer, 'newPassword-error'),
      form: text(renderer, 'password-form-error'),
    };
  }

  it('sends both passwords, says the device stays logged in, clears the fields', async () => {
    const result = await changeWith(async () => USER);
    assert.deepEqual(called(result.api, 'account.changePassword'), [[{ currentPassword: 'old secret 1', newPassword: 'new secret 2' }]]);
    assert.match(text(result.renderer, 'password-status'), /Password changed\. You are still logged in here/);
    assert.equal(input(result.renderer, 'currentPassword').props.value, '');
    assert.equal(input(result.renderer, 'newPassword').props.value, '');
    assert.equal(result.changed, 1);
  });

  it('puts a wrong current password at the current password', async () => {
    const result = await changeWith(() => Promise.reject(serverError(400, 'invalid_credentials', 'Wrong.')));
    assert.deepEqual([result.current, result.next, result.form], ['That is not your current password.', '', '']);
    assert.equal(input(result.renderer, 'currentPassword').props['aria-invalid'], 'true');
    assert.equal(result.changed, 0);
  });

  it('puts a refused new password at the new password, in the server’s words', async () => {
    const result = await changeWith(() =>
      Promise.reject(serverError(400, 'invalid_password', 'The password must be at least 8 characters long.')),
    );
    assert.deepEqual([result.current, result.next, result.form], ['', 'The password must be at least 8 characters long.', '']);
    assert.match(input(result.renderer, 'newPassword').props['aria-describedby'], /field-newPassword-error/);
  });

  it('says how many minutes to wait when throttled', async () => {
    const result = await changeWith(() => Promise.reject(serverError(429, 'throttled', 'Too many.', { retryAfter: 898 })));
    assert.equal(result.form, 'Too many wrong passwords for this account. Try again in 15 minutes.');
  });

  it('says the server is busy readably', async () => {
    const result = await changeWith(() => Promise.reject(serverError(503, 'busy', 'Busy.', { retryAfter: 2 })));
    assert.equal(result.form, 'The server is busy checking other passwords. Try again in 2 seconds.');
  });

  it('shows other failures in the server’s or the client’s words', async () => {
    const result = await changeWith(() => Promise.reject(networkError()));
    assert.match(result.form, /could not be reached/);
  });

  it('gives the same hint for the new password as sign-up does', async () => {
    const signup = await render(<AuthForm mode="signup" onSubmit={() => {}} />);
    const account = await render(<PasswordForm api={accountApi()} username="grace" />);
    const hintOf = (renderer, id) => textOf(renderer.root.find((n) => n.props.id === id));
    assert.equal(hintOf(account, 'field-newPassword-hint'), hintOf(signup, 'field-password-hint'));
  });
});

describe('Account page: tokens', () => {
  it('creates a token, shows its secret once with a warning, and lists it without the secret', async () => {
    const api = accountApi({ tokens: [tokenRow(1, 'old script', { lastUsedAt: NOW })] });
    const renderer = await render(<AccountPage api={api} user={USER} onLogout={() => {}} onDeleted={() => {}} />);
    await type(renderer, 'tokenName', 'backup script');
    const write = renderer.root.find((n) => n.type === 'input' && n.props.value === 'todos:write');
    await act(async () => write.props.onChange({ target: { value: 'todos:write', checked: true } }));
    const expiry = renderer.root.find((n) => n.type === 'select');
    await act(async () => expiry.props.onChange({ target: { value: 'never' } }));
    await submit(renderer, 'token-form');

    assert.deepEqual(called(api, 'tokens.create'), [[{ name: 'backup script', abilities: ['todos:read', 'todos:write'], expiresIn: null }]]);
    assert.equal(byTestId(renderer, 'token-secret')[0].props.value, 'tdl_secret51');
    assert.match(textOf(byTestId(renderer, 'new-token')[0]), /you will not see it again/);
    assert.deepEqual(texts(renderer, 'token-name'), ['backup script', 'old script']);
    assert.deepEqual(texts(renderer, 'token-abilities'), ['may read and change todos', 'may read todos']);
    assert.deepEqual(texts(renderer, 'token-last-used'), ['never used', 'last used just now'.replace('just now', describeRelative(NOW))]);
    assert.equal(input(renderer, 'tokenName').props.value, '', 'the form is ready for another one');

    await click(renderer, 'Done, hide the token');
    assert.equal(byTestId(renderer, 'new-token').length, 0);
    assert.ok(!JSON.stringify(renderer.toJSON()).includes('tdl_secret51'), 'the secret is nowhere on the page any more');
  });

  it('sends the chosen expiry in seconds (30 days unless changed)', async () => {
    const api = accountApi();
    const renderer = await render(<AccountPage api={api} user={USER} onLogout={() => {}} onDeleted={() => {}} />);
    await type(renderer, 'tokenName', 'n');
    await submit(renderer, 'token-form');
    assert.equal(called(api, 'tokens.create')[0][0].expiresIn, 30 * 86400);
  });

  it('puts the server’s errors at the name and at the abilities', async () => {
    const api = accountApi();
    const renderer = await render(<AccountPage api={api} user={USER} onLogout={() => {}} onDeleted={() => {}} />);
    api.tokens.create = () => Promise.reject(serverError(400, 'invalid_name', 'A name is needed.', { field: 'name' }));
    await submit(renderer, 'token-form');
    assert.equal(text(renderer, 'tokenName-error'), 'A name is needed.');
    api.tokens.create = () => Promise.reject(serverError(400, 'invalid_abilities', 'Choose one.', { field: 'abilities' }));
    await submit(renderer, 'token-form');
    assert.equal(text(renderer, 'abilities-error'), 'Choose one.');
    assert.equal(text(renderer, 'tokenName-error'), '');
    api.tokens.create = () => Promise.reject(serverError(409, 'too_many_tokens', 'You hold 100 tokens.'));
    await submit(renderer, 'token-form');
    assert.match(text(renderer, 'token-form-error'), /You hold 100 tokens\. Revoke one/);
  });

  it('revokes a token and says so', async () => {
    const api = accountApi({ tokens: [tokenRow(2, 'second'), tokenRow(1, 'first')] });
    const renderer = await render(<AccountPage api={api} user={USER} onLogout={() => {}} onDeleted={() => {}} />);
    await click(renderer, 'Revoke the token “second”');
    assert.deepEqual(called(api, 'tokens.revoke'), [[2]]);
    assert.deepEqual(texts(renderer, 'token-name'), ['first']);
    assert.match(text(renderer, 'tokens-status'), /Token “second” revoked/);
  });

  it('describes abilities in words', () => {
    assert.equal(describeAbilities(['todos:write']), 'may change todos');
  });
});

describe('Account page: deleting the account', () => {
  it('asks for the password first, and can be cancelled', async () => {
    const api = accountApi();
    const renderer = await render(<DeleteAccount api={api} username="grace" onDeleted={() => assert.fail('deleted')} />);
    assert.match(textOf(byTestId(renderer, 'delete-account')[0]), /deletes all its todos and access tokens/);
    assert.equal(byTestId(renderer, 'delete-account-form').length, 0);
    await click(renderer, 'Delete account…');
    assert.equal(byTestId(renderer, 'delete-account-form').length, 1);
    assert.equal(input(renderer, 'password').props.type, 'password');
    await click(renderer, 'Cancel');
    assert.equal(byTestId(renderer, 'delete-account-form').length, 0);
    await click(renderer, 'Delete account…');
    await fire(byTestId(renderer, 'delete-account-form')[0], 'onKeyDown', { key: 'Escape' });
    assert.equal(byTestId(renderer, 'delete-account-form').length, 0, 'Escape cancels too');
    assert.equal(called(api, 'account.delete').length, 0);
  });

  it('puts a wrong password at the field and keeps the account', async () => {
    const api = accountApi();
    api.account.delete = () => Promise.reject(serverError(400, 'invalid_credentials', 'Wrong.'));
    let deleted = 0;
    const renderer = await render(<DeleteAccount api={api} username="grace" onDeleted={() => (deleted += 1)} />);
    await click(renderer, 'Delete account…');
    await type(renderer, 'password', 'not it');
    await submit(renderer, 'delete-account-form');
    assert.equal(text(renderer, 'password-error'), 'That is not your password.');
    assert.equal(deleted, 0);
    api.account.delete = () => Promise.reject(serverError(429, 'throttled', 'Too many.', { retryAfter: 120 }));
    await submit(renderer, 'delete-account-form');
    assert.equal(text(renderer, 'delete-form-error'), 'Too many wrong passwords for this account. Try again in 2 minutes.');
  });
});

describe('relative times', () => {
  const now = Date.parse(NOW);
  it('reads like speech, past and future', async () => {
    await settle();
    assert.equal(describeRelative(NOW, now + 20000), 'just now');
    assert.equal(describeRelative(NOW, now + 5 * 60000), '5 minutes ago');
    assert.equal(describeRelative(NOW, now + 3 * 3600000), '3 hours ago');
    assert.equal(describeRelative(NOW, now + 86400000), 'yesterday');
    assert.equal(describeRelative(NOW, now - 30 * 86400000 + 5), 'in 30 days');
    assert.equal(describeRelative(NOW, now + 800 * 86400000), '2 years ago');
    assert.equal(describeRelative('not a date', now), 'not a date');
  });
});
