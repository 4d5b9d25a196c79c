// Home: every parcel, grouped (Arriving today / On the way / Needs attention / Delivered
// recently), with search and filters. Built in one pass into a DocumentFragment.

import { h, icon, replace, text, uid } from './dom.js';
import { call, early } from './transport.js';
import * as ui from './ui.js';
import * as fmt from './format.js';

const GROUP_TITLES = {
  arriving_today: 'Arriving today',
  on_the_way: 'On the way',
  needs_attention: 'Needs attention',
  delivered_recently: 'Delivered recently',
  archived: 'Archived and older',
};

const COLLATOR = new Intl.Collator(undefined, { sensitivity: 'base', numeric: true });

// Kept across visits so that going back to the list keeps the search, filters and scroll.
const state = {
  text: '',
  store: '',
  carrier: '',
  status: '',
  since: '',
  until: '',
  all: false,
  filtersOpen: false,
  scrollY: 0,
};

function activeFilters() {
  return ['store', 'carrier', 'status', 'since', 'until'].filter((k) => state[k]).length + (state.all ? 1 : 0);
}

/** The `home` command's arguments for the current search and filters. */
export function homeArgs() {
  const filter = {};
  const q = state.text.trim();
  if (q) filter.text = q;
  if (state.store) filter.store = state.store;
  if (state.carrier) filter.carrier = state.carrier;
  if (state.status) filter.status = state.status;
  // Dates as YYYY-MM-DD: the backend reads them in the user's time zone, `until` to the end
  // of that day.
  if (fmt.localMidnight(state.since)) filter.since = state.since;
  if (fmt.localMidnight(state.until)) filter.until = state.until;
  const args = {};
  if (Object.keys(filter).length) args.filter = filter;
  if (state.all) args.all = true;
  return args;
}

/** One parcel's card: a link to its detail. */
export function card(c) {
  const status = c.status || 'unknown';
  const problems = Array.isArray(c.problems) ? c.problems : [];
  let when = null;
  if (c.eta_text) when = c.eta_text;
  else if (c.last_event_at) {
    when = `${status === 'delivered' ? 'Delivered' : 'Updated'} ${fmt.relative(c.last_event_at)}`;
  }
  return h(
    'a',
    {
      class: `card card--${ui.tone(status)}`,
      href: `#/parcel/${encodeURIComponent(c.id)}`,
      'data-testid': 'card',
      dataset: { id: c.id, status },
    },
    h(
      'span',
      { class: 'card__head' },
      h('span', { class: 'card__title' }, c.title || c.tracking_number || 'Parcel'),
      c.muted
        ? h('span', { class: 'card__muted', title: 'Notifications muted' }, icon('bellOff'), ui.srOnly('(muted)'))
        : null,
    ),
    h(
      'span',
      { class: 'card__meta' },
      ui.carrierBadge(c.carrier),
      ui.statusChip(status, c.status_label),
      // The number only when the title says nothing more ("DHL parcel").
      c.tracking_number && !c.store && c.title === `${(c.carrier && c.carrier.name) || ''} parcel`
        ? h('span', { class: 'card__number' }, c.tracking_number)
        : null,
    ),
    when ? h('span', { class: 'card__eta' }, when) : null,
    ui.progressBar(c.progress),
    c.detail ? h('span', { class: 'card__detail' }, c.detail) : null,
    problems.length || c.error
      ? h(
          'span',
          { class: 'card__chips' },
          problems.map((p) => ui.warnChip(String(p))),
          c.error ? ui.warnChip(/\baccount is set up\b/i.test(c.error) ? 'No carrier account' : 'Carrier not reachable', c.error) : null,
        )
      : null,
  );
}

// A first screenful of cards is built at once; the rest follow in chunks after the first
// paint, so a list of a thousand parcels shows as fast as a short one (and stays responsive).
const FIRST_CARDS = 40;
const CHUNK = 120;

/** A group with its first `budget` cards; `rest` holds the cards still to add to `list`. */
function groupSection(g, budget) {
  const id = uid('group');
  const list = h('ul', { class: 'cards', role: 'list' });
  const now = g.cards.slice(0, Math.max(0, budget));
  for (const c of now) list.appendChild(h('li', { class: 'cards__item' }, card(c)));
  const section = h(
    'section',
    { class: `group group--${g.group}`, 'data-testid': 'group', dataset: { group: g.group }, 'aria-labelledby': id },
    h(
      'h2',
      { class: 'group__title', id },
      h('span', null, g.title || GROUP_TITLES[g.group] || g.group),
      h('span', { class: 'group__count' }, String(g.cards.length), ui.srOnly(g.cards.length === 1 ? ' parcel' : ' parcels')),
    ),
    list,
  );
  return { section, list, rest: g.cards.slice(now.length) };
}

/** Appends the cards left over by `groupSection`, a chunk per task, unless `stale()`. */
function appendLater(later, stale, done) {
  const step = () => {
    if (stale()) return;
    let n = CHUNK;
    while (n > 0 && later.length) {
      const g = later[0];
      const frag = document.createDocumentFragment();
      const take = g.rest.splice(0, n);
      for (const c of take) frag.appendChild(h('li', { class: 'cards__item' }, card(c)));
      g.list.appendChild(frag);
      n -= take.length;
      if (!g.rest.length) later.shift();
    }
    if (later.length) setTimeout(step, 0);
    else done();
  };
  // After the first painted frame.
  requestAnimationFrame(() => requestAnimationFrame(() => setTimeout(step, 0)));
}

function fillSelect(select, options, value, anyLabel) {
  const key = JSON.stringify(options);
  if (select.dataset.key !== key) {
    const frag = document.createDocumentFragment();
    frag.appendChild(h('option', { value: '' }, anyLabel));
    for (const [v, label] of options) frag.appendChild(h('option', { value: v }, label));
    // Keep a chosen value that is no longer offered, so the filter stays visible.
    if (value && !options.some(([v]) => v === value)) frag.appendChild(h('option', { value }, value));
    select.replaceChildren(frag);
    select.dataset.key = key;
  }
  select.value = value;
}

export default function homeView(_params, ctx) {
  const search = ctx.search;
  const titleId = uid('home');
  const summary = h('p', { class: 'page__sub' });
  const filterCount = h('span', { class: 'count-pill', hidden: true });
  const filtersId = uid('filters');
  const filterBtn = h(
    'button',
    { type: 'button', class: 'btn btn--ghost', 'aria-expanded': 'false', 'aria-controls': filtersId, 'data-testid': 'filters-toggle' },
    icon('filter'),
    h('span', null, 'Filters'),
    filterCount,
  );
  const note = h('div', { class: 'home__note' });
  const results = h('div', { class: 'groups', 'aria-busy': 'false' });

  // Filters.
  const fStore = h('select', { id: uid('f'), 'data-testid': 'filter-store' });
  const fCarrier = h('select', { id: uid('f'), 'data-testid': 'filter-carrier' });
  const fStatus = h('select', { id: uid('f'), 'data-testid': 'filter-status' });
  fillSelect(fStatus, ui.STATUSES, state.status, 'Any status');
  const fSince = h('input', { type: 'date', id: uid('f'), value: state.since, 'data-testid': 'filter-since' });
  const fUntil = h('input', { type: 'date', id: uid('f'), value: state.until, 'data-testid': 'filter-until' });
  const fAll = h('input', { type: 'checkbox', id: uid('f'), checked: state.all, 'data-testid': 'filter-all' });
  const clearBtn = ui.button('Clear filters', { kind: 'ghost', onclick: () => clearFilters() });
  const field = (label, control) => h('div', { class: 'field' }, h('label', { for: control.id }, label), control);
  const filters = h(
    'form',
    { class: 'filters', id: filtersId, hidden: !state.filtersOpen, 'aria-label': 'Filters', onsubmit: (e) => e.preventDefault() },
    field('Store', fStore),
    field('Carrier', fCarrier),
    field('Status', fStatus),
    field('Last update from', fSince),
    field('Last update until', fUntil),
    h('div', { class: 'field field--check' }, fAll, h('label', { for: fAll.id }, 'Include archived and older')),
    h('div', { class: 'field field--end' }, clearBtn),
  );

  const el = h(
    'section',
    { class: 'page home', 'aria-labelledby': titleId },
    h(
      'div',
      { class: 'page__head' },
      h('div', null, h('h1', { class: 'page__title', id: titleId }, 'Parcels'), summary),
      filterBtn,
    ),
    filters,
    note,
    results,
  );

  let seq = 0;
  let renders = 0;
  let searchTimer = null;
  let last = null;

  function syncFilterButton() {
    const n = activeFilters();
    filterBtn.setAttribute('aria-expanded', String(state.filtersOpen));
    filterCount.hidden = n === 0;
    text(filterCount, n ? String(n) : '');
    filterBtn.setAttribute('aria-label', n ? `Filters (${n} active)` : 'Filters');
    clearBtn.hidden = n === 0;
  }
  syncFilterButton();

  filterBtn.addEventListener('click', () => {
    state.filtersOpen = !state.filtersOpen;
    filters.hidden = !state.filtersOpen;
    syncFilterButton();
    if (state.filtersOpen) fStore.focus();
  });
  const onFilter = () => {
    state.store = fStore.value;
    state.carrier = fCarrier.value;
    state.status = fStatus.value;
    state.since = fSince.value;
    state.until = fUntil.value;
    state.all = fAll.checked;
    syncFilterButton();
    refresh();
  };
  for (const c of [fStore, fCarrier, fStatus, fSince, fUntil, fAll]) c.addEventListener('change', onFilter);
  filters.addEventListener('keydown', (e) => {
    if (e.key === 'Escape') {
      e.preventDefault();
      state.filtersOpen = false;
      filters.hidden = true;
      syncFilterButton();
      filterBtn.focus();
    }
  });

  function clearFilters() {
    Object.assign(state, { store: '', carrier: '', status: '', since: '', until: '', all: false, text: '' });
    search.value = '';
    fStore.value = '';
    fCarrier.value = '';
    fStatus.value = '';
    fSince.value = '';
    fUntil.value = '';
    fAll.checked = false;
    syncFilterButton();
    refresh();
  }

  function onSearch() {
    clearTimeout(searchTimer);
    searchTimer = setTimeout(() => {
      if (state.text !== search.value) {
        state.text = search.value;
        refresh();
      }
    }, 200);
  }
  function onSearchKey(e) {
    if (e.key === 'Escape' && search.value) {
      search.value = '';
      onSearch();
    }
  }

  async function fetchHome() {
    const mine = ++seq;
    const args = homeArgs();
    const r = await (Object.keys(args).length ? call('home', args) : early('home'));
    return mine === seq ? r : null;
  }

  function welcome(firstRun) {
    const demoBtn = ui.button('Show demo parcels', { kind: firstRun ? 'primary' : null, testid: 'start-demo' });
    demoBtn.addEventListener('click', () =>
      ui.busy(demoBtn, async () => {
        let r;
        try {
          r = await call('start_demo', {});
        } catch (e) {
          // The backend says why (the demo runs in an empty app only); show what is there now.
          ui.showError(e, "Couldn't start the demo");
          await refresh();
          return;
        }
        ui.announce(r && r.added ? `${fmt.plural(r.added, 'demo parcel')} added` : 'Demo parcels added');
        await refresh();
      }),
    );
    const add = h('a', { class: firstRun ? 'btn' : 'btn btn--primary', href: '#/add' }, icon('plus'), h('span', null, 'Add a parcel'));
    return h(
      'div',
      { class: 'panel welcome', 'data-testid': firstRun ? 'welcome' : 'empty' },
      h('div', { class: 'welcome__mark' }, icon('package')),
      h('h2', { class: 'welcome__title' }, firstRun ? 'Welcome to Parceltrail' : 'No parcels yet'),
      h(
        'p',
        null,
        'Follow all your parcels in one place. Paste a tracking number, a carrier link or a whole shipping email: ' +
          'Parceltrail recognises the carrier, estimates when it will arrive and tells you when something happens.',
      ),
      firstRun ? h('p', { class: 'muted' }, 'Want to look around first? The demo parcels move along on their own.') : null,
      h('div', { class: 'row' }, firstRun ? [demoBtn, add] : [add, demoBtn]),
    );
  }

  function render(r) {
    last = r;
    const groups = (Array.isArray(r.groups) ? r.groups : []).filter((g) => g && Array.isArray(g.cards) && g.cards.length);
    const total = typeof r.total === 'number' ? r.total : r.shown || 0;
    const shown = typeof r.shown === 'number' ? r.shown : groups.reduce((n, g) => n + g.cards.length, 0);

    // Summary line.
    const parts = [];
    if (r.arriving_today) parts.push(`${r.arriving_today} arriving today`);
    if (r.needs_attention) parts.push(`${r.needs_attention} ${r.needs_attention === 1 ? 'needs' : 'need'} attention`);
    const filtered = activeFilters() > 0 || state.text.trim() !== '';
    parts.push(filtered ? `showing ${shown} of ${total}` : `${total} tracked`);
    text(summary, parts.join(' · ').replace(/^./, (c) => c.toUpperCase()));
    document.title = r.arriving_today ? `Parceltrail (${r.arriving_today} arriving today)` : 'Parceltrail';

    // Filter choices.
    const stores = (Array.isArray(r.stores) ? r.stores : [])
      .map((s) => (typeof s === 'string' ? s : s && (s.name || s.store)))
      .filter(Boolean)
      .map((s) => [s, s]);
    const carriers = (Array.isArray(r.carriers) ? r.carriers : [])
      .map((c) => (typeof c === 'string' ? [c, c] : c && c.id ? [c.id, c.name || c.id] : null))
      .filter(Boolean);
    // In the order a person expects ("Deutsche Post" before "DHL Express"), whatever order
    // the backend lists them in.
    const byLabel = (a, b) => COLLATOR.compare(a[1], b[1]);
    fillSelect(fStore, stores.sort(byLabel), state.store, 'Any store');
    fillSelect(fCarrier, carriers.sort(byLabel), state.carrier, 'Any carrier');

    replace(
      note,
      r.demo
        ? h('p', { class: 'note', 'data-testid': 'demo-note' }, icon('package'), h('span', null, 'Demo parcels, moved along by the built-in simulator'))
        : null,
    );

    const frag = document.createDocumentFragment();
    const later = [];
    const nothing = total === 0 && !filtered;
    filterBtn.hidden = nothing;
    summary.hidden = nothing;
    if (nothing) {
      frag.appendChild(welcome(!!r.first_run));
    } else if (!groups.length) {
      frag.appendChild(
        h(
          'div',
          { class: 'panel empty', 'data-testid': 'no-match' },
          h('h2', { class: 'empty__title' }, 'No parcels match'),
          h('p', { class: 'muted' }, 'Try other words, or clear the filters.'),
          ui.button('Clear search and filters', { onclick: clearFilters }),
        ),
      );
    } else {
      let budget = FIRST_CARDS;
      for (const g of groups) {
        const built = groupSection(g, budget);
        budget -= g.cards.length - built.rest.length;
        frag.appendChild(built.section);
        if (built.rest.length) later.push(built);
      }
    }
    // Keep the keyboard focus on the same parcel across a re-render.
    const active = document.activeElement;
    const focusedId = active && results.contains(active) && active.dataset ? active.dataset.id : null;
    results.replaceChildren(frag);
    const refocus = () => {
      if (!focusedId) return true;
      const again = results.querySelector(`[data-testid="card"][data-id="${CSS.escape(focusedId)}"]`);
      if (again) again.focus({ preventScroll: true });
      return !!again;
    };
    const mine = ++renders;
    if (!later.length) {
      refocus();
      results.dataset.complete = '1';
      return;
    }
    const focused = refocus();
    delete results.dataset.complete;
    appendLater(later, () => mine !== renders, () => {
      if (!focused) refocus();
      results.dataset.complete = '1';
    });
  }

  async function load() {
    performance.mark('home-fetch');
    const r = await fetchHome();
    performance.mark('home-fetched');
    if (r) render(r);
    performance.mark('home-rendered');
    search.value = state.text;
    search.addEventListener('input', onSearch);
    search.addEventListener('keydown', onSearchKey);
  }

  async function refresh() {
    results.setAttribute('aria-busy', 'true');
    try {
      const r = await fetchHome();
      if (r) render(r);
    } catch (e) {
      ui.showError(e);
    } finally {
      results.setAttribute('aria-busy', 'false');
    }
  }

  function shown() {
    if (state.scrollY) window.scrollTo(0, state.scrollY);
    else window.scrollTo(0, 0);
  }

  function dispose() {
    state.scrollY = window.scrollY;
    clearTimeout(searchTimer);
    search.removeEventListener('input', onSearch);
    search.removeEventListener('keydown', onSearchKey);
  }

  return { el, load, refresh, shown, dispose, get data() { return last; } };
}
