import { afterEach, beforeEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';

import { openEventStream } from '../../src/api/events.js';
import { FakeEventSource, fakeWindow } from './fake-event-source.mjs';

const client = { baseUrl: 'http://api.test/' };
// Short waits so that the timing rules can be seen in a unit test.
const fast = { quietMs: 30, offlineAfterMs: 90, retryDelaysMs: [20, 60] };

/** `options.reads`: what each JSON read made after a break answers (onBroken's outcome), in turn. */
function start({ reads = [], ...options } = {}) {
  const seen = { events: [], statuses: [], opens: [], broken: 0, closed: [] };
  const stream = openEventStream(
    client,
    {
      onEvent: (type, data, id) => seen.events.push([type, data, id]),
      onStatus: (status) => seen.statuses.push(status),
      onOpen: (info) => seen.opens.push(info),
      onBroken: () => {
        seen.broken += 1;
        return reads.length > 0 ? reads.shift() : undefined;
      },
      onClosed: (reason) => seen.closed.push(reason),
    },
    { EventSource: FakeEventSource, window: fakeWindow(), ...fast, ...options },
  );
  return { stream, seen };
}

describe('openEventStream', () => {
  let running;
  beforeEach(() => FakeEventSource.reset());
  afterEach(() => running?.stream.close());

  it('opens /api/events/ with the cookies and says connecting, then live', () => {
    running = start();
    const source = FakeEventSource.latest;
    assert.equal(source.url, 'http://api.test/api/events/');
    assert.equal(source.withCredentials, true);
    assert.deepEqual(running.seen.statuses, ['connecting']);
    source.open();
    assert.deepEqual(running.seen.statuses, ['connecting', 'live']);
    assert.deepEqual(running.seen.opens, [{ reopened: false }]);
  });

  it('hands over each kind of event with its data and id', () => {
    running = start();
    const source = FakeEventSource.latest;
    source.open();
    const todo = { id: 7, title: 'Milk', completed: false, order: 1 };
    source.emit('todo.created', todo, 1);
    source.emit('todo.updated', { ...todo, completed: true }, 2);
    source.emit('todo.deleted', { id: 7 }, 3);
    source.emit('todos.completed', { ids: [1, 2], completed: true, updatedAt: '2026-01-01T00:00:00.000Z' }, 4);
    source.emit('todos.cleared', { ids: [1, 2] }, 5);
    source.emit('resync', { reason: 'gap' }, 5);
    assert.deepEqual(
      running.seen.events.map(([type, , id]) => [type, id]),
      [['todo.created', '1'], ['todo.updated', '2'], ['todo.deleted', '3'], ['todos.completed', '4'], ['todos.cleared', '5'], ['resync', '5']],
    );
    assert.deepEqual(running.seen.events[0][1], todo);
  });

  it('ignores an event whose data is not JSON', () => {
    running = start();
    FakeEventSource.latest.open();
    FakeEventSource.latest.emit('todo.created', '<html>');
    assert.deepEqual(running.seen.events, []);
  });

  it('stays calm through a short break the browser heals itself, and says the list may be stale', async () => {
    running = start();
    const source = FakeEventSource.latest;
    source.open();
    source.drop();
    await sleep(10);
    assert.deepEqual(running.seen.statuses, ['connecting', 'live']); // Not yet: under quietMs.
    source.open(); // The browser's own reconnect, with Last-Event-ID.
    assert.equal(FakeEventSource.instances.length, 1);
    assert.deepEqual(running.seen.opens, [{ reopened: false }, { reopened: true }]);
    await sleep(120);
    assert.deepEqual(running.seen.statuses, ['connecting', 'live']);
  });

  it('says reconnecting after a moment, offline after longer, and live again once back', async () => {
    running = start();
    const source = FakeEventSource.latest;
    source.open();
    source.drop();
    await sleep(50);
    assert.deepEqual(running.seen.statuses, ['connecting', 'live', 'reconnecting']);
    await sleep(80);
    assert.deepEqual(running.seen.statuses, ['connecting', 'live', 'reconnecting', 'offline']);
    source.open();
    assert.equal(running.seen.statuses.at(-1), 'live');
  });

  it('opens a new stream, after a growing delay, when the browser gives up after an HTTP error', async () => {
    running = start();
    FakeEventSource.latest.open();
    const first = FakeEventSource.latest;
    first.fail();
    assert.equal(running.seen.broken, 1, 'the caller is told, so it can check the session');
    assert.equal(first.readyState, FakeEventSource.CLOSED);
    await sleep(35);
    assert.equal(FakeEventSource.instances.length, 2);
    FakeEventSource.latest.fail();
    await sleep(35);
    assert.equal(FakeEventSource.instances.length, 2, 'the second wait is longer');
    await sleep(50);
    assert.equal(FakeEventSource.instances.length, 3);
    FakeEventSource.latest.open();
    assert.deepEqual(running.seen.opens.at(-1), { reopened: true });
    assert.equal(running.seen.statuses.at(-1), 'live');
  });

  it('refused while the server answers JSON requests: says refused, not offline, and live once it opens', async () => {
    running = start({ reads: [Promise.resolve(true), Promise.resolve(true)] });
    FakeEventSource.latest.open();
    FakeEventSource.latest.fail(); // 503 busy, 403...; the list read after it succeeds.
    await sleep(50);
    assert.equal(running.seen.statuses.at(-1), 'reconnecting', 'calm first, as for any break');
    await sleep(35); // The first retry is refused too.
    FakeEventSource.latest.fail();
    await sleep(40); // Past offlineAfterMs.
    assert.equal(running.seen.statuses.at(-1), 'refused');
    assert.ok(!running.seen.statuses.includes('offline'), 'the server is not out of reach');
    await sleep(80); // The next retry.
    assert.equal(FakeEventSource.instances.length, 3);
    FakeEventSource.latest.open();
    assert.equal(running.seen.statuses.at(-1), 'live');
  });

  it('refused, and the read after it fails too: offline; a later read that succeeds: refused', async () => {
    let answer;
    running = start({ reads: [Promise.resolve(false), new Promise((resolve) => (answer = resolve))] });
    FakeEventSource.latest.open();
    FakeEventSource.latest.fail(); // 502 from a proxy, and the list read gets one too.
    await sleep(100);
    assert.equal(running.seen.statuses.at(-1), 'offline');
    FakeEventSource.latest.fail(); // The retry: this time the list read is answered.
    answer(true);
    await sleep(0);
    assert.equal(running.seen.statuses.at(-1), 'refused');
  });

  it('refused, then the server stops answering at all: offline again', async () => {
    running = start({ reads: [Promise.resolve(true), Promise.resolve(false)] });
    FakeEventSource.latest.open();
    FakeEventSource.latest.fail();
    await sleep(100);
    assert.equal(running.seen.statuses.at(-1), 'refused');
    FakeEventSource.latest.fail(); // The retry is refused, and its list read fails.
    await sleep(0);
    assert.equal(running.seen.statuses.at(-1), 'offline');
  });

  it('refused, then a retry meets a network error (no answer at all): offline again', async () => {
    running = start({ reads: [Promise.resolve(true)] });
    FakeEventSource.latest.open();
    FakeEventSource.latest.fail();
    await sleep(100);
    assert.equal(running.seen.statuses.at(-1), 'refused');
    FakeEventSource.latest.drop();
    assert.equal(running.seen.statuses.at(-1), 'offline');
  });

  it('refused, then the browser goes offline: offline, whatever an earlier read said', async () => {
    const win = fakeWindow();
    let answer;
    running = start({ window: win, reads: [new Promise((resolve) => (answer = resolve))] });
    FakeEventSource.latest.open();
    FakeEventSource.latest.fail();
    win.goOffline();
    answer(true); // A read made before the network went away.
    await sleep(100);
    assert.equal(running.seen.statuses.at(-1), 'offline');
  });

  it('says reconnecting at once when the first attempt fails', () => {
    running = start();
    FakeEventSource.latest.fail();
    assert.deepEqual(running.seen.statuses, ['connecting', 'reconnecting']);
  });

  it('says offline when the browser goes offline, and reconnects at once when it is back', async () => {
    const win = fakeWindow();
    running = start({ window: win, retryDelaysMs: [10000] });
    const first = FakeEventSource.latest;
    first.open();
    win.goOffline();
    assert.equal(running.seen.statuses.at(-1), 'offline', 'at once, even from live');
    assert.equal(first.readyState, FakeEventSource.CLOSED, 'a stream that cannot work is closed');
    first.fail(); // Late news from the closed stream changes nothing.
    assert.equal(running.seen.statuses.at(-1), 'offline');
    assert.equal(running.seen.broken, 0);
    win.goOnline();
    assert.equal(FakeEventSource.instances.length, 2, 'no need to wait for the retry timer');
    assert.equal(running.seen.statuses.at(-1), 'reconnecting');
    FakeEventSource.latest.open();
    assert.equal(running.seen.statuses.at(-1), 'live');
    assert.deepEqual(running.seen.opens.at(-1), { reopened: true }, 'so the list is re-read');
  });

  it('paused by the server (too many streams): closes at once, reopens by nothing but resume()', async () => {
    const win = fakeWindow();
    running = start({ window: win });
    const first = FakeEventSource.latest;
    first.open();
    first.emit('closed', { reason: 'too_many_streams' }, 4);
    assert.equal(first.readyState, FakeEventSource.CLOSED, 'closed before the browser could reconnect by itself');
    assert.deepEqual(running.seen.closed, ['too_many_streams']);
    assert.equal(running.seen.statuses.at(-1), 'paused', 'at once: nothing to keep calm about');
    assert.deepEqual(running.seen.events, [], 'not a todo event');
    // None of the usual ways back opens it: that would pause the next oldest tab, and so on.
    first.drop();
    running.stream.reconnectNow(); // The tab was shown again.
    win.goOffline();
    win.goOnline();
    await sleep(150); // Past every retry delay and the offline timer.
    assert.equal(FakeEventSource.instances.length, 1);
    assert.equal(running.seen.statuses.at(-1), 'paused');
    assert.equal(running.stream.status(), 'paused');

    running.stream.resume(); // A person asked for it.
    assert.equal(FakeEventSource.instances.length, 2);
    assert.equal(running.seen.statuses.at(-1), 'reconnecting');
    FakeEventSource.latest.open();
    assert.equal(running.seen.statuses.at(-1), 'live');
    assert.deepEqual(running.seen.opens.at(-1), { reopened: true }, 'so the list is re-read');
    // Live again as before: a break is reconnected by the browser, an HTTP error by the timer.
    FakeEventSource.latest.fail();
    await sleep(35);
    assert.equal(FakeEventSource.instances.length, 3);
  });

  it('a stream closed with its session waits, calmly, for the caller to check and resume', async () => {
    running = start();
    const first = FakeEventSource.latest;
    first.open();
    first.emit('closed', { reason: 'session_ended' }, 4);
    assert.equal(first.readyState, FakeEventSource.CLOSED);
    assert.deepEqual(running.seen.closed, ['session_ended']);
    assert.equal(running.seen.broken, 0);
    await sleep(10);
    assert.deepEqual(running.seen.statuses, ['connecting', 'live'], 'calm while the session is checked');
    await sleep(50);
    assert.equal(running.seen.statuses.at(-1), 'reconnecting');
    assert.equal(FakeEventSource.instances.length, 1, 'no reconnect into a 401');
    running.stream.resume(); // Still logged in (a newer session, after a password change here).
    FakeEventSource.latest.open();
    assert.equal(FakeEventSource.instances.length, 2);
    assert.equal(running.seen.statuses.at(-1), 'live');
    running.stream.resume(); // Only after a close: here, nothing.
    assert.equal(FakeEventSource.instances.length, 2);
  });

  it('a closing reason it does not know pauses too', () => {
    running = start();
    FakeEventSource.latest.open();
    FakeEventSource.latest.emit('closed', 'not json');
    assert.deepEqual(running.seen.closed, [null]);
    assert.equal(running.seen.statuses.at(-1), 'paused');
  });

  it('close() ends the stream for good: no reconnect, no more status', async () => {
    running = start();
    const source = FakeEventSource.latest;
    source.open();
    running.stream.close();
    assert.equal(source.readyState, FakeEventSource.CLOSED);
    assert.equal(running.seen.statuses.at(-1), 'closed');
    source.onerror?.({});
    await sleep(50);
    assert.equal(FakeEventSource.instances.length, 1);
    assert.equal(running.seen.statuses.at(-1), 'closed');
  });

  it('is unavailable, and harmless, without EventSource', () => {
    running = start({ EventSource: undefined });
    assert.deepEqual(running.seen.statuses, ['unavailable']);
    running.stream.close();
  });
});
