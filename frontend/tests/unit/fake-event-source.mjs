// A scriptable stand-in for the browser's EventSource: tests open, feed and break the
// connection by hand and look at what the code under test created.

export class FakeEventSource {
  static reset() {
    FakeEventSource.instances = [];
  }

  /** The newest instance (the one the code is using, if it is still open). */
  static get latest() {
    return FakeEventSource.instances[FakeEventSource.instances.length - 1];
  }

  constructor(url, init = {}) {
    this.url = url;
    this.withCredentials = Boolean(init.withCredentials);
    this.readyState = FakeEventSource.CONNECTING;
    this.listeners = new Map();
    this.onopen = null;
    this.onerror = null;
    FakeEventSource.instances.push(this);
  }

  addEventListener(type, listener) {
    if (!this.listeners.has(type)) this.listeners.set(type, []);
    this.listeners.get(type).push(listener);
  }

  removeEventListener(type, listener) {
    this.listeners.set(type, (this.listeners.get(type) || []).filter((l) => l !== listener));
  }

  close() {
    this.readyState = FakeEventSource.CLOSED;
  }

  // --- what the server and the network do ---

  open() {
    this.readyState = FakeEventSource.OPEN;
    this.onopen?.({ type: 'open' });
  }

  /** One event as the server frames it: `data` is sent as JSON text unless it is a string. */
  emit(type, data, id = '') {
    if (this.readyState !== FakeEventSource.OPEN) throw new Error(`emit on a stream that is not open (${this.readyState})`);
    const event = { type, data: typeof data === 'string' ? data : JSON.stringify(data), lastEventId: String(id) };
    (this.listeners.get(type) || []).forEach((listener) => listener(event));
  }

  /** The connection broke; the browser will reconnect by itself (readyState CONNECTING). */
  drop() {
    this.readyState = FakeEventSource.CONNECTING;
    this.onerror?.({ type: 'error' });
  }

  /** An HTTP error (401, 403, 502, 503...) or a wrong type: the browser gives up (CLOSED). */
  fail() {
    this.readyState = FakeEventSource.CLOSED;
    this.onerror?.({ type: 'error' });
  }
}
// (Static fields are newer than the ECMAScript version the linter reads.)
FakeEventSource.CONNECTING = 0;
FakeEventSource.OPEN = 1;
FakeEventSource.CLOSED = 2;
/** Every instance made since the last `reset()`, oldest first. */
FakeEventSource.instances = [];

/** A window stand-in with online/offline events and `navigator.onLine`. */
export function fakeWindow() {
  const target = new EventTarget();
  target.navigator = { onLine: true };
  target.goOffline = () => {
    target.navigator.onLine = false;
    target.dispatchEvent(new Event('offline'));
  };
  target.goOnline = () => {
    target.navigator.onLine = true;
    target.dispatchEvent(new Event('online'));
  };
  return target;
}
