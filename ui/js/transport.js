// The ONE transport between the UI and its backend (see docs/api.md).
// Inside the app (Tauri 2, `app.withGlobalTauri`): invoke(cmd, { args }) and event.listen.
// In a browser (`parceltrail serve`): POST /api/<cmd> with `args` as the JSON body, and
// Server-Sent Events from GET /api/events (named events `changed` and `open`).

/** A command's failure: `message` is the backend's `error`, `field` names the bad argument. */
export class CommandError extends Error {
  constructor(message, field, status) {
    super(message || 'Something went wrong');
    this.name = 'CommandError';
    if (field) this.field = field;
    if (status) this.status = status;
  }
}

function tauri() {
  const t = typeof window !== 'undefined' ? window.__TAURI__ : undefined;
  return t && t.core && typeof t.core.invoke === 'function' ? t : null;
}

/** Whether the UI runs inside the desktop app. */
export const inApp = () => tauri() !== null;

function toError(e, status) {
  if (e instanceof CommandError) return e;
  if (typeof e === 'string') return new CommandError(e, undefined, status);
  if (e && typeof e === 'object') {
    if (typeof e.error === 'string') return new CommandError(e.error, e.field, status);
    if (typeof e.message === 'string') return new CommandError(e.message, e.field, status);
  }
  return new CommandError(String(e), undefined, status);
}

/**
 * Calls a command with no arguments, taking over the call boot.js made while the page loaded
 * if there is one (once); otherwise as `call`.
 */
export function early(cmd) {
  const made = typeof window !== 'undefined' ? window.__parceltrailEarly : undefined;
  const pending = made && made[cmd];
  if (!pending) return call(cmd, {});
  delete made[cmd];
  return pending.catch((e) => {
    throw toError(e);
  });
}

/** Calls a backend command; resolves with its JSON value, rejects with a CommandError. */
export async function call(cmd, args = {}) {
  const t = tauri();
  if (t) {
    try {
      return await t.core.invoke(cmd, { args: args ?? {} });
    } catch (e) {
      throw toError(e);
    }
  }
  let res;
  try {
    res = await fetch(`/api/${encodeURIComponent(cmd)}`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', Accept: 'application/json' },
      body: JSON.stringify(args ?? {}),
      credentials: 'same-origin',
      cache: 'no-store',
    });
  } catch (e) {
    throw new CommandError(`Cannot reach Parceltrail (${e && e.message ? e.message : 'network error'})`);
  }
  const body = await res.text();
  let value = null;
  if (body) {
    try {
      value = JSON.parse(body);
    } catch {
      value = null;
    }
  }
  if (!res.ok) {
    if (value && typeof value.error === 'string') throw toError(value, res.status);
    throw new CommandError(body.trim().slice(0, 300) || `${res.status} ${res.statusText}`, undefined, res.status);
  }
  return value;
}

// ---- pushed events ----

const handlers = new Map(); // name -> Set<cb>
let source = null;
let retryMs = 2000;
let connectedOnce = false;

function emit(name, payload) {
  const set = handlers.get(name);
  if (set) for (const cb of set) {
    try {
      cb(payload);
    } catch (e) {
      console.error(e);
    }
  }
}

function parse(data) {
  if (typeof data !== 'string' || !data) return {};
  try {
    return JSON.parse(data);
  } catch {
    return {};
  }
}

function connectSse() {
  if (source || typeof EventSource === 'undefined') return;
  const es = new EventSource('/api/events');
  source = es;
  es.addEventListener('changed', (e) => emit('changed', parse(e.data)));
  // `open` is both the name of a pushed event ({ id }) and EventSource's own "connected"
  // event; only a MessageEvent with data is the pushed one.
  es.addEventListener('open', (e) => {
    if (typeof e.data === 'string' && e.data !== '') {
      emit('open', parse(e.data));
      return;
    }
    retryMs = 2000;
    // Re-connected after a drop: changes may have been missed, so re-fetch what is shown.
    if (connectedOnce) emit('resync', {});
    connectedOnce = true;
  });
  es.addEventListener('error', () => {
    // EventSource retries by itself unless it gave up (CLOSED: bad status or content type).
    if (es.readyState === EventSource.CLOSED) {
      es.close();
      source = null;
      setTimeout(connectSse, retryMs);
      retryMs = Math.min(retryMs * 2, 60000);
    }
  });
}

/**
 * Subscribes to a pushed event (`changed`, `open`; and `resync`, emitted by this module when
 * the event stream reconnects). Returns an unsubscribe function.
 */
export function on(name, cb) {
  const t = tauri();
  if (t && name !== 'resync') {
    let unlisten = null;
    let dropped = false;
    Promise.resolve(t.event.listen(name, (e) => cb(e && 'payload' in e ? e.payload : e)))
      .then((u) => {
        unlisten = u;
        if (dropped && typeof u === 'function') u();
      })
      .catch((e) => console.error('listen failed', name, e));
    return () => {
      dropped = true;
      if (typeof unlisten === 'function') unlisten();
    };
  }
  if (!handlers.has(name)) handlers.set(name, new Set());
  handlers.get(name).add(cb);
  if (!t) connectSse();
  return () => handlers.get(name).delete(cb);
}

// ---- links out ----

/**
 * Links to carriers' sites open in the user's browser. A browser does that by itself; the
 * app's webview does not, so inside the app the shell opens them (https only).
 */
export function followExternalLinks(root = document) {
  root.addEventListener('click', (e) => {
    if (!inApp() || e.defaultPrevented) return;
    const a = e.target instanceof Element ? e.target.closest('a[target="_blank"]') : null;
    if (!a) return;
    e.preventDefault();
    call('open_external', { url: a.href }).catch(() => {});
  });
}
