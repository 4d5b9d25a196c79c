// The shop's dashboard: the staff's session, the hash router (#/orders, #/orders/<id>,
// #/import, #/attention, #/analytics, #/settings[/section]) and the count of what needs attention.
// Every text from the server is inserted as text (dom.js never parses markup).

import { h, replace, text } from './dom.js';
import * as ui from './ui.js';
import { ApiError, api, setCsrf } from './dash-api.js';

ui.applyTheme(ui.rememberedTheme());
ui.initMessages();

const VIEWS = {
  orders: async () => (await import('./dash-orders.js')).ordersView,
  import: async () => (await import('./dash-orders.js')).importView,
  order: async () => (await import('./dash-order.js')).default,
  attention: async () => (await import('./dash-attention.js')).default,
  analytics: async () => (await import('./dash-analytics.js')).default,
  settings: async () => (await import('./dash-settings.js')).default,
};

/** The route of a hash: its view, path parameter and query. */
export function parse(hash) {
  const raw = (hash || '').replace(/^#/, '') || '/orders';
  const [path, qs = ''] = raw.split('?');
  const query = Object.fromEntries(new URLSearchParams(qs));
  let m = /^\/orders\/([0-9a-f-]{36})\/?$/i.exec(path);
  if (m) return { name: 'order', id: m[1].toLowerCase(), query };
  m = /^\/settings\/(page|messages|carriers|webhooks|staff)\/?$/.exec(path);
  if (m) return { name: 'settings', section: m[1], query };
  m = /^\/(orders|import|attention|analytics|settings)\/?$/.exec(path);
  if (m) return { name: m[1], query };
  if (path === '/' || path === '') return { name: 'orders', query };
  return { name: 'notfound', query };
}

const main = document.getElementById('main');
let session = null;
let generation = 0;

/** What the views share: the session and a way to refresh the attention count. */
const ctx = {
  get session() {
    return session;
  },
  refreshCount: () => refreshCount(),
};

async function render() {
  const gen = ++generation;
  const hash = location.hash;
  const route = parse(hash);
  for (const a of document.querySelectorAll('[data-nav]')) {
    const on = a.dataset.nav === route.name || (a.dataset.nav === 'orders' && ['order', 'import'].includes(route.name));
    if (on) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  }
  main.setAttribute('aria-busy', 'true');
  try {
    if (route.name === 'notfound') {
      replace(main, h('div', { class: 'empty' }, h('h1', { class: 'empty__title' }, 'No such page'), h('p', null, h('a', { href: '#/orders' }, 'Back to the orders'))));
      return;
    }
    const view = await VIEWS[route.name]();
    if (gen !== generation) return;
    const node = await view(route, ctx);
    if (gen !== generation) return;
    replace(main, node);
    const title = main.querySelector('h1');
    document.title = `${title ? title.textContent : 'Dashboard'} · ${session.shop.name}`;
  } catch (e) {
    if (gen !== generation) return;
    if (e instanceof ApiError && e.status === 401) return;
    replace(
      main,
      h('div', { class: 'panel panel--error', role: 'alert' }, h('h1', { class: 'panel__title' }, e instanceof ApiError && e.status === 404 ? 'Not found' : 'This page could not be shown'), h('p', null, e.message)),
    );
  } finally {
    if (gen === generation) {
      main.setAttribute('aria-busy', 'false');
      // Which address the page shows: the tests and the benchmark wait for it.
      main.dataset.shown = hash;
      performance.mark('dash-painted');
    }
  }
}

async function refreshCount() {
  try {
    const a = await api('GET', 'attention');
    const pill = document.getElementById('attention-count');
    text(pill, String(a.items.length));
    pill.hidden = a.items.length === 0;
    pill.setAttribute('aria-label', `${a.items.length} ${a.items.length === 1 ? 'item' : 'items'}`);
  } catch {
    /* the count is a hint; the page says what failed */
  }
}

async function start() {
  try {
    session = await api('GET', 'session');
  } catch {
    location.replace(`/login#${encodeURIComponent(location.pathname + location.hash)}`);
    return;
  }
  setCsrf(session.csrf_token);
  text(document.getElementById('shop-name'), session.shop.name);
  text(document.getElementById('who'), `Signed in (${session.role})`);
  document.getElementById('logout').addEventListener('click', async () => {
    try {
      await api('POST', 'logout', {});
    } finally {
      location.assign('/login');
    }
  });
  window.addEventListener('hashchange', render);
  refreshCount();
  await render();
}

start();
