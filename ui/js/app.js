// The app: hash router (#/ home, #/parcel/<id>, #/add, #/settings), pushed events, theme,
// and the first-paint mark the benchmarks wait for.

import { h, icon } from './dom.js';
import { call, followExternalLinks, inApp, on } from './transport.js';
import * as ui from './ui.js';
import homeView from './home.js';

ui.applyTheme(ui.rememberedTheme());

// The home screen comes with the page; the others load on their first visit (a shorter start).
const VIEWS = {
  home: async () => homeView,
  detail: async () => (await import('./detail.js')).default,
  add: async () => (await import('./add.js')).default,
  settings: async () => (await import('./settings.js')).default,
  notfound: async () => notFoundView,
};

function parse(hash) {
  const path = (hash || '').replace(/^#/, '') || '/';
  if (path === '/' || path === '') return { name: 'home', params: {} };
  let m = /^\/parcel\/([^/?#]+)\/?$/.exec(path);
  if (m) {
    let id = m[1];
    try {
      id = decodeURIComponent(id);
    } catch {
      /* keep as is */
    }
    return { name: 'detail', params: { id } };
  }
  if (/^\/add\/?$/.test(path)) return { name: 'add', params: {} };
  if (/^\/settings\/?$/.test(path)) return { name: 'settings', params: {} };
  return { name: 'notfound', params: { path } };
}

const main = document.getElementById('main');
const loading = document.getElementById('loading');
const searchBox = document.getElementById('search-box');
const search = document.getElementById('search');

let current = null; // { name, key, view }
let seq = 0;
let navigations = 0;
let readyMarked = false;
let homeMarked = false;

/** Navigates to a hash route (`#/parcel/<id>`). */
export function navigate(hash) {
  if (location.hash === hash) route();
  else location.hash = hash;
}

const ctx = { navigate, search, call };

function markPainted(name) {
  if (readyMarked && (homeMarked || name !== 'home')) return;
  requestAnimationFrame(() => {
    if (!readyMarked) {
      readyMarked = true;
      document.body.dataset.ready = '1';
    }
    if (name === 'home' && !homeMarked) {
      homeMarked = true;
      try {
        performance.mark('home-painted');
      } catch {
        /* marks unsupported */
      }
      // After this frame is painted, the app logs its start-up time (benchmarks stop the
      // clock there).
      if (inApp()) requestAnimationFrame(() => call('painted', { marks: startupMarks() }).catch(() => {}));
    }
  });
}

/** Milliseconds since the page started, at each start-up mark (logged by the app). */
function startupMarks() {
  const marks = { now: performance.now() };
  for (const m of performance.getEntriesByType('mark')) marks[m.name] = m.startTime;
  const nav = performance.getEntriesByType('navigation')[0];
  if (nav) marks['dom-content-loaded'] = nav.domContentLoadedEventEnd;
  return marks;
}

async function route() {
  const key = location.hash || '#/';
  const { name, params } = parse(key);
  if (current && current.key === key) {
    current.view.refresh?.();
    return;
  }
  const mine = ++seq;
  const slow = setTimeout(() => {
    if (mine === seq) loading.hidden = false;
  }, 150);
  let view = null;
  let failure = null;
  try {
    view = (await VIEWS[name]())(params, ctx);
    await view.load();
  } catch (e) {
    failure = e;
  }
  clearTimeout(slow);
  if (mine !== seq) {
    view?.dispose?.();
    return;
  }
  loading.hidden = true;
  if (current) current.view.dispose?.();
  searchBox.hidden = name !== 'home' || !!failure;
  if (failure) {
    current = { name: 'error', key, view: errorView(failure) };
    main.replaceChildren(current.view.el);
  } else {
    current = { name, key, view };
    main.replaceChildren(view.el);
  }
  document.body.dataset.view = current.name;
  navigations += 1;
  if (current.view.shown) current.view.shown();
  else window.scrollTo(0, 0);
  // Move focus to the new page's heading after a navigation (not on the first load), unless
  // the page put it somewhere itself (the add page focuses its paste box).
  if (navigations > 1 && !main.contains(document.activeElement)) {
    const h1 = main.querySelector('h1');
    if (h1) {
      h1.setAttribute('tabindex', '-1');
      h1.focus({ preventScroll: true });
    }
  }
  markPainted(current.name);
}

function errorView(e) {
  const retry = ui.button('Try again', { iconName: 'refresh', onclick: () => { current = null; route(); } });
  const el = h(
    'section',
    { class: 'page page--narrow' },
    h('h1', { class: 'page__title' }, "Couldn't load this page"),
    h('p', { class: 'panel panel--error', role: 'alert' }, e && e.message ? e.message : String(e)),
    h('p', { class: 'row' }, h('a', { class: 'btn', href: '#/' }, icon('back'), h('span', null, 'All parcels')), retry),
  );
  document.title = 'Error – Parceltrail';
  return { el, load: async () => {}, refresh: () => {} };
}

function notFoundView() {
  const el = h(
    'section',
    { class: 'page page--narrow' },
    h('h1', { class: 'page__title' }, 'Page not found'),
    h('p', null, h('a', { href: '#/' }, 'Go to all parcels')),
  );
  return {
    el,
    load: async () => {
      document.title = 'Not found – Parceltrail';
    },
  };
}

// ---- pushed events: re-fetch what is on screen (debounced), never poll ----

let changedTimer = null;
let changedIds = new Set();
let changedAll = false;

function onChanged(payload) {
  const ids = payload && Array.isArray(payload.ids) ? payload.ids : null;
  if (ids) for (const id of ids) changedIds.add(String(id));
  else changedAll = true;
  clearTimeout(changedTimer);
  changedTimer = setTimeout(() => {
    const detail = { ids: changedAll ? null : [...changedIds] };
    changedIds = new Set();
    changedAll = false;
    if (current && current.view.refresh) current.view.refresh(detail);
  }, 150);
}

on('changed', onChanged);
on('resync', () => onChanged(null));
on('open', (payload) => {
  const id = payload && payload.id;
  if (id) navigate(`#/parcel/${encodeURIComponent(id)}`);
});

// ---- keyboard ----

followExternalLinks();

document.addEventListener('keydown', (e) => {
  if (e.key !== '/' || e.ctrlKey || e.metaKey || e.altKey) return;
  const t = e.target;
  if (t && (t.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(t.tagName))) return;
  if (current && current.name === 'home' && !searchBox.hidden) {
    e.preventDefault();
    search.focus();
  }
});

// ---- start ----

ui.initMessages();
window.addEventListener('hashchange', route);
route().then(() => {
  if (current && current.name === 'settings') return;
  // The saved theme (the backend's word wins over the remembered one).
  call('settings', {})
    .then((s) => {
      if (s && s.theme) ui.applyTheme(s.theme);
    })
    .catch(() => {});
});
