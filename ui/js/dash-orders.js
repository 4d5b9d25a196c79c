// The dashboard's orders: search and filters (kept in the address, so a filtered list can be
// shared and Back works), keyset paging, export as CSV; and the bulk import with its upload
// progress and per-row report.

import { h, replace, text, uid } from './dom.js';
import * as ui from './ui.js';
import * as fmt from './format.js';
import { api, query, upload } from './dash-api.js';

/** The order list's filters, as `GET /orders` names them. */
const FILTERS = ['q', 'status', 'carrier', 'channel', 'stage', 'placed_from', 'placed_to'];

export const STAGES = [
  ['received', 'Received'],
  ['in_preparation', 'In preparation'],
  ['shipped', 'Shipped'],
  ['cancelled', 'Cancelled'],
];

const PROGRESS = {
  received: ['Received', 'neutral'],
  in_preparation: ['In preparation', 'neutral'],
  shipped: ['Shipped', 'active'],
  delivered: ['Delivered', 'ok'],
  cancelled: ['Cancelled', 'danger'],
};

const CARRIERS = ['UPS', 'FedEx', 'USPS', 'DHL', 'DHL Express', 'Deutsche Post', 'DPD', 'Royal Mail', 'GLS', 'Hermes', 'PostNL', 'Canada Post'];

const PAGE_SIZES = [50, 100, 200];

/** The customer's view of an order's stage, as a chip. */
export function progressChip(progress) {
  const [label, tone] = PROGRESS[progress] || [progress, 'neutral'];
  return h('span', { class: `chip chip--${tone}` }, label);
}

/** A parcel's carrier badge, from the order API's name and colour. */
export function badge(s) {
  return ui.carrierBadge({ id: s.carrier, name: s.carrier_name, color: s.carrier_color });
}

/** The hash of the order list with `params`. */
function listHash(params) {
  return `#/orders${query(params)}`;
}

// Cursors seen on the way down the list, so "Previous" can go back up (keyset pages only
// know the way forward).
const trail = [];

function field(label, input) {
  const id = uid('f');
  input.id = id;
  return h('div', { class: 'field' }, h('label', { for: id }, label), input);
}

function select(name, value, options, anyLabel) {
  return h(
    'select',
    { name },
    h('option', { value: '', selected: !value }, anyLabel),
    options.map(([v, label]) => h('option', { value: v, selected: v === value }, label)),
  );
}

function filterForm(params) {
  const form = h(
    'form',
    { class: 'dash-filters', role: 'search', 'aria-label': 'Filter orders' },
    field('Search', h('input', { name: 'q', type: 'search', value: params.q || '', placeholder: 'Order number, customer or tracking number', autocomplete: 'off' })),
    field('Parcel status', select('status', params.status, ui.STATUSES, 'Any status')),
    field('Carrier', h('input', { type: 'text', name: 'carrier', value: params.carrier || '', list: 'dash-carriers', autocomplete: 'off' })),
    h('datalist', { id: 'dash-carriers' }, CARRIERS.map((c) => h('option', { value: c }))),
    field('Channel', h('input', { type: 'text', name: 'channel', value: params.channel || '', autocomplete: 'off' })),
    field('Order stage', select('stage', params.stage, STAGES, 'Any stage')),
    field('Placed from', h('input', { name: 'placed_from', type: 'date', value: params.placed_from || '' })),
    field('Placed before', h('input', { name: 'placed_to', type: 'date', value: params.placed_to || '' })),
    h(
      'div',
      { class: 'dash-filters__actions' },
      h('button', { class: 'btn btn--primary', type: 'submit' }, 'Apply'),
      h('a', { class: 'btn btn--ghost', href: '#/orders' }, 'Clear'),
    ),
  );
  const apply = () => {
    const next = {};
    for (const k of FILTERS) {
      const v = form.elements[k].value.trim();
      if (v) next[k] = v;
    }
    if (params.limit) next.limit = params.limit;
    trail.length = 0;
    location.hash = listHash(next);
  };
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    apply();
  });
  for (const k of ['status', 'stage', 'placed_from', 'placed_to']) form.elements[k].addEventListener('change', apply);
  return form;
}

function customerCell(c) {
  return h('td', { class: 'dash-table__customer' }, c.name ? h('span', null, c.name) : null, c.email ? h('span', { class: 'muted small' }, c.email) : null, !c.name && !c.email ? h('span', { class: 'muted' }, '—') : null);
}

function parcelsCell(o) {
  if (!o.shipments.length) return h('td', null, h('span', { class: 'muted' }, 'No parcels yet'));
  return h(
    'td',
    null,
    h(
      'ul',
      { class: 'dash-parcels' },
      o.shipments.map((s) => h('li', null, badge(s), ' ', ui.statusChip(s.status, s.status_label), h('span', { class: 'number small' }, s.tracking_number))),
    ),
  );
}

function orderRow(o) {
  const href = `#/orders/${o.id}`;
  return h(
    'tr',
    { dataset: { order: o.id } },
    h('th', { scope: 'row' }, h('a', { href, class: 'dash-table__link' }, o.order_number || 'Without number'), o.channel ? h('span', { class: 'muted small' }, o.channel) : null),
    customerCell(o.customer),
    h('td', null, o.placed_at ? h('time', { datetime: o.placed_at }, fmt.day(o.placed_at)) : h('span', { class: 'muted' }, '—')),
    parcelsCell(o),
    h('td', null, progressChip(o.progress)),
  );
}

export async function ordersView(route) {
  const params = {};
  for (const k of [...FILTERS, 'cursor', 'limit']) if (route.query[k]) params[k] = route.query[k];
  const limit = PAGE_SIZES.includes(Number(params.limit)) ? Number(params.limit) : 50;
  const page = await api('GET', `orders${query({ ...params, limit })}`);
  const filtered = FILTERS.some((k) => params[k]);
  const filters = Object.fromEntries(FILTERS.filter((k) => params[k]).map((k) => [k, params[k]]));

  const at = trail.indexOf(params.cursor || '');
  if (at === -1) trail.push(params.cursor || '');
  else trail.length = at + 1;
  const prev = trail.length > 1 ? trail[trail.length - 2] : null;

  const sizes = h(
    'select',
    { 'aria-label': 'Orders per page' },
    PAGE_SIZES.map((n) => h('option', { value: String(n), selected: n === limit }, `${n} per page`)),
  );
  sizes.addEventListener('change', () => {
    trail.length = 0;
    location.hash = listHash({ ...filters, limit: sizes.value });
  });

  const table = page.orders.length
    ? h(
        'div',
        { class: 'dash-table-wrap' },
        h(
          'table',
          { class: 'dash-table', 'aria-label': 'Orders' },
          h('thead', null, h('tr', null, h('th', { scope: 'col' }, 'Order'), h('th', { scope: 'col' }, 'Customer'), h('th', { scope: 'col' }, 'Placed'), h('th', { scope: 'col' }, 'Parcels'), h('th', { scope: 'col' }, 'Status'))),
          h('tbody', null, page.orders.map(orderRow)),
        ),
      )
    : h('div', { class: 'empty' }, h('p', { class: 'empty__title' }, filtered ? 'No order matches these filters' : 'No orders yet'), h('p', { class: 'muted' }, filtered ? 'Clear a filter to see more.' : 'Import a file of orders, or send them through the API.'));

  const nav = h(
    'nav',
    { class: 'dash-pager', 'aria-label': 'Pages' },
    prev !== null ? h('a', { class: 'btn', href: listHash({ ...filters, limit: params.limit, cursor: prev || undefined }) }, 'Previous') : null,
    page.next_cursor ? h('a', { class: 'btn', href: listHash({ ...filters, limit: params.limit, cursor: page.next_cursor }), rel: 'next' }, 'Next') : null,
    sizes,
  );

  return h(
    'section',
    { class: 'dash-section' },
    h(
      'div',
      { class: 'page__head' },
      h('h1', { class: 'page__title' }, 'Orders'),
      h(
        'div',
        { class: 'row' },
        h('a', { class: 'btn', href: `/api/v1/orders.csv${query(filters)}`, download: '' }, 'Export CSV'),
        h('a', { class: 'btn btn--primary', href: '#/import' }, 'Import orders'),
      ),
    ),
    filterForm(params),
    h('p', { class: 'muted small', role: 'status' }, page.orders.length ? `Showing ${page.orders.length} ${page.orders.length === 1 ? 'order' : 'orders'}${params.cursor ? ' (a later page)' : ''}, newest first.` : ''),
    table,
    nav,
  );
}

const OUTCOMES = { created: 'Created', added: 'Parcel added', unchanged: 'Already there', refused: 'Refused' };

function report(r) {
  const refused = r.results.filter((x) => x.outcome === 'refused');
  return h(
    'div',
    { class: 'dash-report', 'aria-label': 'Import report' },
    h(
      'dl',
      { class: 'dash-stats' },
      [
        ['Rows read', r.rows],
        ['Orders created', r.orders_created],
        ['Parcels added', r.shipments_added],
        ['Already there', r.unchanged],
        ['Refused', r.refused],
      ].map(([k, v]) => h('div', { class: `dash-stat${k === 'Refused' && v ? ' dash-stat--warn' : ''}` }, h('dt', null, k), h('dd', null, String(v)))),
    ),
    refused.length
      ? h(
          'div',
          { class: 'dash-table-wrap' },
          h(
            'table',
            { class: 'dash-table', 'aria-label': 'Refused rows' },
            h('thead', null, h('tr', null, h('th', { scope: 'col' }, 'Where'), h('th', { scope: 'col' }, 'Order'), h('th', { scope: 'col' }, 'Tracking number'), h('th', { scope: 'col' }, 'Why'))),
            h(
              'tbody',
              null,
              refused.map((x) => h('tr', null, h('td', null, x.line != null ? `Line ${x.line}` : x.pointer || ''), h('td', null, x.order_number || ''), h('td', null, x.tracking_number || ''), h('td', null, x.reason || OUTCOMES[x.outcome]))),
            ),
          ),
        )
      : h('p', { class: 'inline-msg inline-msg--ok' }, 'Every row was imported.'),
    h('p', null, h('a', { href: '#/orders' }, 'See the orders')),
  );
}

export async function importView() {
  const input = h('input', { type: 'file', name: 'file', accept: '.csv,text/csv,.json,application/json', required: true });
  const bar = h('progress', { max: '1', value: '0', 'aria-label': 'Upload' });
  const status = h('p', { role: 'status', class: 'muted' });
  const out = h('div');
  const button = h('button', { class: 'btn btn--primary', type: 'submit' }, 'Import');
  const progress = h('div', { class: 'dash-progress', hidden: true }, bar, status);
  const form = h(
    'form',
    { class: 'dash-import' },
    field('A CSV or JSON file of orders', input),
    h('p', { class: 'muted small' }, 'One row per parcel: order_number, tracking_number, carrier, customer_name, customer_email and the other columns of an export. A file imported twice adds nothing twice.'),
    h('div', { class: 'row' }, button),
    progress,
  );
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    const file = input.files[0];
    if (!file) {
      text(status, 'Choose a file first.');
      progress.hidden = false;
      return;
    }
    const type = /\.json$/i.test(file.name) || file.type === 'application/json' ? 'application/json' : 'text/csv';
    progress.hidden = false;
    button.disabled = true;
    replace(out);
    text(status, `Sending ${file.name}…`);
    try {
      const r = await upload('orders/import', file, type, (share) => {
        bar.value = share;
        if (share >= 1) text(status, 'Reading the rows…');
      });
      bar.value = 1;
      text(status, `${file.name}: ${r.rows} ${r.rows === 1 ? 'row' : 'rows'} read.`);
      replace(out, report(r));
    } catch (err) {
      text(status, '');
      replace(out, h('p', { class: 'inline-msg inline-msg--error', role: 'alert' }, err.message));
    } finally {
      button.disabled = false;
    }
  });
  return h(
    'section',
    { class: 'dash-section page--narrow' },
    h('a', { class: 'back-link', href: '#/orders' }, 'Orders'),
    h('h1', { class: 'page__title' }, 'Import orders'),
    form,
    out,
  );
}
