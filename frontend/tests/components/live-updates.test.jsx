// The list with live updates: a fake EventSource stands in for GET /api/events/.
import { afterEach, beforeEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';

import { TodoApp } from '../../src/components/TodoApp.jsx';
import { useTodos } from '../../src/hooks/useTodos.js';
import { FakeEventSource } from '../unit/fake-event-source.mjs';
import {
  act,
  allByClass,
  byTestId,
  fakeApi,
  fire,
  items,
  networkError,
  oneByClass,
  render,
  serverError,
  settle,
  textOf,
  titles,
  typeNewTodo,
} from './helpers.jsx';

const at = (second) => `2026-11-30T08:00:${String(second).padStart(2, '0')}.000Z`;
const todo = (id, title, { completed = false, updated = 0 } = {}) => ({
  id,
  title,
  completed,
  order: id,
  createdAt: at(0),
  updatedAt: at(updated),
});
const fast = { quietMs: 20, offlineAfterMs: 60, retryDelaysMs: [20], sessionRecheckMs: 20 };
const wait = (ms) => act(() => new Promise((resolve) => setTimeout(resolve, ms)));
const lists = (api) => api.calls.filter(([name]) => name === 'todos.list').length;
const indicator = (renderer) => byTestId(renderer, 'connection-status')[0];
const checked = (renderer) => items(renderer).map((li) => li.findByProps({ className: 'toggle' }).props.checked);

async function live(renderer, action) {
  await act(async () => action());
  await settle();
}

describe('TodoApp: live updates', () => {
  const renderers = [];
  beforeEach(() => {
    FakeEventSource.reset();
    globalThis.EventSource = FakeEventSource;
  });
  afterEach(async () => {
    for (const renderer of renderers.splice(0)) await act(async () => renderer.unmount());
    delete globalThis.EventSource;
  });

  async function show(api, filter = 'all') {
    const renderer = await render(<TodoApp api={api} filter={filter} userId={1} liveOptions={fast} />);
    renderers.push(renderer);
    return renderer;
  }

  it('opens the stream with credentials and shows a calm, named indicator: connecting, then live', async () => {
    const renderer = await show(fakeApi([todo(1, 'A')]));
    assert.equal(FakeEventSource.instances.length, 1);
    assert.equal(FakeEventSource.latest.url, 'http://api.test/api/events/');
    assert.equal(FakeEventSource.latest.withCredentials, true);
    const status = indicator(renderer);
    assert.equal(status.props.role, 'status');
    assert.equal(status.props['aria-label'], 'Live updates');
    assert.equal(textOf(status), 'Live updates: Connecting…');
    await live(renderer, () => FakeEventSource.latest.open());
    assert.equal(textOf(indicator(renderer)), 'Live updates: Live');
    assert.equal(indicator(renderer).props['data-state'], 'live');
  });

  it('applies every kind of change made elsewhere, without reloading', async () => {
    const api = fakeApi([todo(1, 'A'), todo(2, 'B')]);
    const renderer = await show(api);
    const source = FakeEventSource.latest;
    await live(renderer, () => source.open());
    const reads = lists(api);

    await live(renderer, () => source.emit('todo.created', todo(3, 'C'), 1));
    assert.deepEqual(titles(renderer), ['A', 'B', 'C']);
    await live(renderer, () => source.emit('todo.updated', todo(2, 'B renamed', { updated: 2 }), 2));
    assert.deepEqual(titles(renderer), ['A', 'B renamed', 'C']);
    await live(renderer, () => source.emit('todo.updated', todo(1, 'A', { completed: true, updated: 3 }), 3));
    assert.deepEqual(checked(renderer), [true, false, false]);
    await live(renderer, () => source.emit('todo.deleted', { id: 2 }, 4));
    assert.deepEqual(titles(renderer), ['A', 'C']);
    await live(renderer, () => source.emit('todos.completed', { ids: [3], completed: true, updatedAt: at(5) }, 5));
    assert.deepEqual(checked(renderer), [true, true]);
    assert.match(textOf(byTestId(renderer, 'todo-count')[0]), /0 items left/);
    await live(renderer, () => source.emit('todos.cleared', { ids: [1, 3] }, 6));
    assert.deepEqual(titles(renderer), []);
    assert.equal(lists(api), reads, 'no re-read was needed');
  });

  it('does not add its own todo twice when its event arrives before the POST answer', async () => {
    const api = fakeApi([]);
    let answer;
    api.todos.create = ({ title }) => new Promise((resolve) => (answer = () => resolve(todo(10, title))));
    const renderer = await show(api);
    const source = FakeEventSource.latest;
    await live(renderer, () => source.open());

    await typeNewTodo(renderer, 'Mine');
    await live(renderer, () => source.emit('todo.created', todo(10, 'Mine'), 1));
    assert.deepEqual(titles(renderer), ['Mine']);
    await live(renderer, () => answer());
    assert.deepEqual(titles(renderer), ['Mine']);
    assert.equal(items(renderer)[0].props.className.includes('pending'), false);
  });

  it('its own toggle echoed by the stream is applied once', async () => {
    const api = fakeApi([todo(1, 'A')]);
    api.todos.patch = async (id, changes) => ({ ...todo(1, 'A', { updated: 4 }), ...changes });
    const renderer = await show(api);
    const source = FakeEventSource.latest;
    await live(renderer, () => source.open());
    await fire(items(renderer)[0].findByProps({ className: 'toggle' }), 'onChange');
    await live(renderer, () => source.emit('todo.updated', todo(1, 'A', { completed: true, updated: 4 }), 1));
    assert.deepEqual(checked(renderer), [true]);
    assert.deepEqual(titles(renderer), ['A']);
  });

  it('an optimistic change overtaken by an event, then refused, ends in the server state', async () => {
    const api = fakeApi([todo(1, 'A', { updated: 1 })]);
    let refuse;
    api.todos.patch = () => new Promise((_, reject) => (refuse = () => reject(serverError(500, 'internal_error', 'Boom.'))));
    const renderer = await show(api);
    const source = FakeEventSource.latest;
    await live(renderer, () => source.open());

    await fire(items(renderer)[0].findByProps({ className: 'toggle' }), 'onChange'); // Optimistic: done.
    await live(renderer, () => source.emit('todo.updated', todo(1, 'A (theirs)', { completed: true, updated: 2 }), 1));
    await live(renderer, () => refuse());
    assert.deepEqual(titles(renderer), ['A (theirs)']);
    assert.deepEqual(checked(renderer), [true], 'not undone: the server says it is done');
  });

  it('re-reads the list on resync', async () => {
    const api = fakeApi([todo(1, 'A')]);
    const renderer = await show(api);
    const source = FakeEventSource.latest;
    await live(renderer, () => source.open());
    const reads = lists(api);
    api.todos.list = async () => [todo(1, 'A'), todo(2, 'Missed')];
    api.calls.push(['todos.list']);
    await live(renderer, () => source.emit('resync', { reason: 'too_old' }, 7));
    assert.deepEqual(titles(renderer), ['A', 'Missed']);
    assert.ok(lists(api) > reads);
  });

  it('re-reads the list when the browser reconnects after a break, and says reconnecting meanwhile', async () => {
    const api = fakeApi([todo(1, 'A')]);
    let reads = 0;
    const renderer = await show(api);
    api.todos.list = async () => {
      reads += 1;
      return [todo(1, 'A'), todo(2, 'Made while away')];
    };
    const source = FakeEventSource.latest;
    await live(renderer, () => source.open());
    const before = reads;
    await live(renderer, () => source.drop());
    await wait(40);
    assert.equal(indicator(renderer).props['data-state'], 'reconnecting');
    assert.equal(textOf(indicator(renderer)), 'Live updates: Reconnecting…');
    await wait(60);
    assert.equal(indicator(renderer).props['data-state'], 'offline');
    assert.equal(textOf(indicator(renderer)), 'Live updates: Offline');
    await live(renderer, () => source.open());
    assert.equal(indicator(renderer).props['data-state'], 'live');
    assert.equal(reads, before + 1);
    assert.deepEqual(titles(renderer), ['A', 'Made while away']);
  });

  it('after an HTTP error checks the session with a read, and opens a new stream', async () => {
    const api = fakeApi([todo(1, 'A')]);
    const renderer = await show(api);
    await live(renderer, () => FakeEventSource.latest.open());
    const reads = lists(api);
    await live(renderer, () => FakeEventSource.latest.fail());
    assert.equal(lists(api), reads + 1);
    await wait(40);
    assert.equal(FakeEventSource.instances.length, 2);
    await live(renderer, () => FakeEventSource.latest.open());
    assert.equal(lists(api), reads + 2, 'and reads again once open: events may have been missed');
  });

  it('a stream the server refuses while the list reads fine says live updates are unavailable, not offline', async () => {
    const api = fakeApi([todo(1, 'A')]);
    const renderer = await show(api);
    await live(renderer, () => FakeEventSource.latest.open());
    await live(renderer, () => FakeEventSource.latest.fail()); // 503 busy (the server's stream cap), 403...
    await wait(80); // Past offlineAfterMs; the read after the break succeeded.
    const status = indicator(renderer);
    assert.equal(status.props['data-state'], 'refused');
    assert.equal(status.props.role, 'status');
    assert.equal(textOf(status), 'Live updates: Unavailable');
    assert.match(status.props.title, /^The server is reachable but did not open live updates; retrying\. Your own changes are still sent\./);

    api.todos.list = async () => {
      throw networkError();
    };
    await live(renderer, () => FakeEventSource.latest.fail()); // The retry is refused, and now the list read fails too.
    assert.equal(indicator(renderer).props['data-state'], 'offline');
    assert.equal(textOf(indicator(renderer)), 'Live updates: Offline');
  });

  it('a stream refused and a list read that fails say offline', async () => {
    const api = fakeApi([todo(1, 'A')]);
    const renderer = await show(api);
    await live(renderer, () => FakeEventSource.latest.open());
    api.todos.list = async () => {
      throw serverError(502, 'bad_gateway', 'The API is down.');
    };
    await live(renderer, () => FakeEventSource.latest.fail());
    await wait(80);
    assert.equal(indicator(renderer).props['data-state'], 'offline');
  });

  it('re-reads the list when the tab is shown again after being hidden for a while, not after a glance away', async () => {
    const doc = Object.assign(new EventTarget(), { visibilityState: 'visible' });
    globalThis.document = doc;
    const setVisibility = (state) => {
      doc.visibilityState = state;
      doc.dispatchEvent(new Event('visibilitychange'));
    };
    try {
      const api = fakeApi([todo(1, 'A')]);
      const renderer = await render(
        <TodoApp api={api} filter="all" userId={1} liveOptions={{ ...fast, staleAfterHiddenMs: 50 }} />,
      );
      renderers.push(renderer);
      await live(renderer, () => FakeEventSource.latest.open());
      const reads = lists(api);
      await live(renderer, () => setVisibility('hidden'));
      await live(renderer, () => setVisibility('visible')); // A glance away.
      assert.equal(lists(api), reads);
      await live(renderer, () => setVisibility('hidden'));
      await wait(70);
      await live(renderer, () => setVisibility('visible'));
      assert.equal(lists(api), reads + 1);
    } finally {
      delete globalThis.document;
    }
  });

  it('a tab the server paused (too many tabs) says so, explains why, stays paused, and resumes on request', async () => {
    const api = fakeApi([todo(1, 'A')]);
    const renderer = await show(api);
    await live(renderer, () => FakeEventSource.latest.open());
    const reads = lists(api);
    assert.equal(allByClass(renderer, 'connection-resume').length, 0, 'no button while live');

    await live(renderer, () => FakeEventSource.latest.emit('closed', { reason: 'too_many_streams' }, 3));
    const status = indicator(renderer);
    assert.equal(status.props['data-state'], 'paused');
    assert.equal(status.props.role, 'status');
    assert.match(textOf(status), /^Live updates: Paused in this tab\. You have live updates open in more tabs and devices/);
    const resume = oneByClass(renderer, 'connection-resume');
    assert.equal(resume.props.type, 'button');
    assert.equal(resume.props['aria-label'], 'Resume live updates');
    assert.equal(textOf(resume), 'Resume');
    await wait(80); // Past the retry delay and the offline timer.
    assert.equal(FakeEventSource.instances.length, 1, 'no reconnect by itself');
    assert.equal(indicator(renderer).props['data-state'], 'paused');
    assert.deepEqual(titles(renderer), ['A'], 'the list stays usable');

    await fire(resume, 'onClick');
    assert.equal(FakeEventSource.instances.length, 2);
    await live(renderer, () => FakeEventSource.latest.open());
    assert.equal(textOf(indicator(renderer)), 'Live updates: Live');
    assert.equal(allByClass(renderer, 'connection-resume').length, 0);
    assert.equal(lists(api), reads + 1, 'changes missed while paused are read');
  });

  it('a stream ended with its session: a logged-out tab opens no new stream, and its list read logs it out', async () => {
    const api = fakeApi([todo(1, 'A')]); // auth.me answers "nobody".
    const renderer = await show(api);
    await live(renderer, () => FakeEventSource.latest.open());
    const reads = lists(api);
    let unauthorized = 0;
    api.todos.list = async () => {
      unauthorized += 1;
      throw serverError(401, 'not_authenticated', 'Log in.');
    };
    await live(renderer, () => FakeEventSource.latest.emit('closed', { reason: 'session_ended' }, 3));
    assert.equal(FakeEventSource.latest.readyState, FakeEventSource.CLOSED);
    assert.equal(api.calls.filter(([name]) => name === 'auth.me').length, 1);
    assert.equal(unauthorized, 0, 'not believed at the first look: a new cookie may be on its way');
    await wait(40); // Past sessionRecheckMs.
    assert.equal(api.calls.filter(([name]) => name === 'auth.me').length, 2);
    assert.equal(unauthorized, 1, 'the read whose 401 logs out app-wide');
    assert.equal(lists(api), reads);
    await wait(80);
    assert.equal(FakeEventSource.instances.length, 1, 'no reconnect into a 401');
    assert.equal(allByClass(renderer, 'connection-resume').length, 0, 'nothing to resume: the app logs out');
  });

  it('a stream ended with its session: "nobody" twice, but the list read succeeds (a new cookie landed meanwhile), so it reopens', async () => {
    const api = fakeApi([todo(1, 'A')]); // auth.me answers "nobody".
    const renderer = await show(api);
    await live(renderer, () => FakeEventSource.latest.open());
    const reads = lists(api);
    await live(renderer, () => FakeEventSource.latest.emit('closed', { reason: 'session_ended' }, 3));
    await wait(40); // Past sessionRecheckMs: the second "nobody", then the list read.
    assert.equal(api.calls.filter(([name]) => name === 'auth.me').length, 2);
    assert.equal(lists(api), reads + 1, 'the read that would have logged out');
    assert.equal(FakeEventSource.instances.length, 2, 'the read was authenticated: a new stream');
    await live(renderer, () => FakeEventSource.latest.open());
    assert.equal(indicator(renderer).props['data-state'], 'live');
    assert.equal(lists(api), reads + 2, 'and the list is read again: events were missed meanwhile');
  });

  it('a stream ended with its session: "nobody" twice, and the list read fails short of a 401, so its retries take over', async () => {
    const api = fakeApi([todo(1, 'A')]);
    const renderer = await show(api);
    await live(renderer, () => FakeEventSource.latest.open());
    api.todos.list = async () => {
      throw networkError();
    };
    await live(renderer, () => FakeEventSource.latest.emit('closed', { reason: 'session_ended' }, 3));
    await wait(40);
    assert.equal(FakeEventSource.instances.length, 2, 'a new stream, whose own answer tells');
  });

  it('a stream ended with its session reopens when this browser is still logged in (a new cookie, an extended session)', async () => {
    for (const answers of [[{ id: 1, username: 'me' }], [null, { id: 1, username: 'me' }]]) {
      FakeEventSource.reset();
      const api = fakeApi([todo(1, 'A')]);
      const me = [...answers];
      api.auth.me = async () => me.shift();
      const renderer = await show(api);
      await live(renderer, () => FakeEventSource.latest.open());
      const reads = lists(api);
      await live(renderer, () => FakeEventSource.latest.emit('closed', { reason: 'session_expired' }, 3));
      if (answers.length > 1) {
        assert.equal(FakeEventSource.instances.length, 1, 'the answer setting the new cookie has not landed yet');
        await wait(40);
      }
      assert.deepEqual(me, [], 'every answer was asked for');
      assert.equal(FakeEventSource.instances.length, 2, 'a new stream');
      await live(renderer, () => FakeEventSource.latest.open());
      assert.equal(indicator(renderer).props['data-state'], 'live');
      assert.equal(lists(api), reads + 1, 'and the list is read: events were missed meanwhile');
    }
  });

  it('a stream ended because another user logged in elsewhere hands over to that user, and opens nothing for them here', async () => {
    const api = fakeApi([todo(1, 'A')]);
    api.auth.me = async () => ({ id: 2, username: 'bob' });
    const changes = [];
    const renderer = await render(
      <TodoApp api={api} filter="all" userId={1} onUserChanged={(user) => changes.push(user)} liveOptions={fast} />,
    );
    renderers.push(renderer);
    await live(renderer, () => FakeEventSource.latest.open());
    const reads = lists(api);
    await live(renderer, () => FakeEventSource.latest.emit('closed', { reason: 'session_ended' }, 3));
    assert.deepEqual(changes, [{ id: 2, username: 'bob' }]);
    await wait(40);
    assert.equal(FakeEventSource.instances.length, 1, "no stream under bob's session for alice's list");
    assert.equal(lists(api), reads, "and bob's todos are not read into it");
  });

  it('a todo deleted elsewhere while it is being renamed here keeps the typed text, and says so', async () => {
    const api = fakeApi([todo(1, 'Buy milk'), todo(2, 'B')]);
    const renderer = await show(api);
    await live(renderer, () => FakeEventSource.latest.open());
    await fire(items(renderer)[0].findByProps({ 'data-testid': 'todo-title' }), 'onDoubleClick');
    await act(async () => oneByClass(renderer, 'edit').props.onChange({ target: { value: 'Buy oat milk' } }));
    await live(renderer, () => FakeEventSource.latest.emit('todo.deleted', { id: 1 }, 1));
    assert.deepEqual(titles(renderer), ['B']);
    assert.equal(allByClass(renderer, 'editing').length, 0);
    assert.equal(oneByClass(renderer, 'new-todo').props.value, 'Buy oat milk');
    assert.match(textOf(byTestId(renderer, 'lost-edit')[0]), /“Buy milk” was deleted elsewhere while you were editing it\. Your text is in the new todo box\./);
  });

  it('events during the first load are not lost when the list arrives', async () => {
    const api = fakeApi();
    let release;
    api.todos.list = () => new Promise((resolve) => (release = resolve));
    const renderer = await show(api);
    const source = FakeEventSource.latest;
    await live(renderer, () => source.open());
    await live(renderer, () => source.emit('todo.created', todo(2, 'New'), 1));
    await live(renderer, () => release([todo(1, 'Old')]));
    assert.deepEqual(titles(renderer), ['Old', 'New']);
  });

  it('closes the stream when the list goes away (log-out, session ended)', async () => {
    const renderer = await show(fakeApi([]));
    const source = FakeEventSource.latest;
    await live(renderer, () => source.open());
    await act(async () => renderer.unmount());
    renderers.splice(renderers.indexOf(renderer), 1);
    assert.equal(source.readyState, FakeEventSource.CLOSED);
    await wait(40);
    assert.equal(FakeEventSource.instances.length, 1, 'and never reopens it');
  });
});

describe('useTodos: reRead', () => {
  /** The hook alone; `todos.current` is its latest value. */
  async function mount(api) {
    const todos = { current: null };
    function Probe() {
      todos.current = useTodos(api, 1);
      return null;
    }
    const renderer = await render(<Probe />);
    return { todos, renderer };
  }

  /** `api.todos.list` answered by hand: `reads` holds each read's {resolve, reject}, in order. */
  function manualReads(api) {
    const reads = [];
    api.todos.list = () => new Promise((resolve, reject) => reads.push({ resolve, reject }));
    return reads;
  }

  it('tells whether a read made after the call succeeded, and a 401 apart', async () => {
    const api = fakeApi([todo(1, 'A')]);
    const { todos, renderer } = await mount(api);
    assert.equal(todos.current.status, 'ready');
    assert.equal(await act(() => todos.current.reRead()), true);
    api.todos.list = async () => {
      throw networkError();
    };
    assert.equal(await act(() => todos.current.reRead()), false);
    api.todos.list = async () => {
      throw serverError(401, 'not_authenticated', 'Log in.');
    };
    assert.equal(await act(() => todos.current.reRead()), null, 'the session ended');
    await act(async () => renderer.unmount());
  });

  it('calls made while a read is under way get the result of the one read after it', async () => {
    const api = fakeApi([todo(1, 'A')]);
    const { todos, renderer } = await mount(api);
    const reads = manualReads(api);
    const outcomes = [];
    const call = (name) => todos.current.reRead().then((ok) => outcomes.push([name, ok]));
    await act(async () => {
      call('first');
      call('second'); // The first read may predate what it was called for.
      call('third');
    });
    assert.equal(reads.length, 1, 'one read at a time');
    await act(async () => reads[0].reject(networkError()));
    await settle();
    assert.deepEqual(outcomes, [['first', false]]);
    assert.equal(reads.length, 2, 'one more read for the calls made meanwhile');
    await act(async () => reads[1].resolve([todo(1, 'A'), todo(2, 'B')]));
    await settle();
    assert.deepEqual(outcomes, [['first', false], ['second', true], ['third', true]]);
    assert.equal(reads.length, 2);
    await act(async () => renderer.unmount());
  });

  it('while the list is loading, or after its load failed, answers with the load', async () => {
    const api = fakeApi();
    const reads = manualReads(api);
    const { todos, renderer } = await mount(api);
    assert.equal(todos.current.status, 'loading');
    let answer;
    await act(async () => {
      todos.current.reRead().then((ok) => (answer = ok));
    });
    assert.equal(reads.length, 1, 'no read besides the load');
    await act(async () => reads[0].reject(networkError()));
    await settle();
    assert.equal(answer, false);
    assert.equal(todos.current.status, 'failed');
    await act(async () => {
      todos.current.reRead().then((ok) => (answer = ok));
    });
    await settle();
    assert.equal(reads.length, 2, 'the list is loaded again');
    await act(async () => reads[1].resolve([todo(1, 'A')]));
    await settle();
    assert.equal(answer, true);
    assert.equal(todos.current.status, 'ready');
    await act(async () => renderer.unmount());
  });
});

describe('TodoApp: without EventSource', () => {
  it('works as before, with no indicator', async () => {
    const renderer = await render(<TodoApp api={fakeApi([todo(1, 'A')])} filter="all" userId={1} />);
    assert.equal(byTestId(renderer, 'connection-status').length, 0);
    assert.deepEqual(titles(renderer), ['A']);
    await act(async () => renderer.unmount());
  });
});
