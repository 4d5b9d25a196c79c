// Delivery analytics: how each carrier delivered over a span of days (the shop's time zone),
// as charts read at a glance (SVG drawn here: bar charts do not earn a library) and as
// tables, each exportable as CSV; the delivery report by carrier, service, destination or
// week; and how each carrier's API is doing now. The server computes every figure.

import { h, uid } from './dom.js';
import * as fmt from './format.js';
import { api, query } from './dash-api.js';

const SVG = 'http://www.w3.org/2000/svg';

/** An SVG element; strings become text nodes, never markup. */
function s(tag, attrs = {}, ...children) {
  const el = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) if (v != null) el.setAttribute(k, String(v));
  for (const c of children.flat()) if (c != null) el.append(typeof c === 'string' || typeof c === 'number' ? document.createTextNode(String(c)) : c);
  return el;
}

function days(n) {
  return `${n.toFixed(1)} d`;
}

function pct(x) {
  return x == null ? '—' : `${Math.round(x * 100)} %`;
}

/**
 * Horizontal bars, one row per carrier: `bars(row)` gives [{value, cls, label}], drawn from
 * zero on one scale up to `max`; each row's figures are written at its end.
 */
export function barChart({ title, rows, bars, max, step, format }) {
  const rowH = 40;
  const left = 150;
  const width = 960;
  const right = 140;
  const top = 8;
  const height = top + rows.length * rowH + 22;
  const scale = (v) => (max > 0 ? (v / max) * (width - left - right) : 0);
  const titleId = uid('chart');
  const ticks = [];
  for (let t = 0; t <= max + 1e-9; t += step) ticks.push(t);
  return s(
    'svg',
    { class: 'dash-chart', viewBox: `0 0 ${width} ${height}`, role: 'img', 'aria-labelledby': titleId },
    s('title', { id: titleId }, title),
    ticks.map((t) => s('g', { class: 'dash-chart__tick' }, s('line', { x1: left + scale(t), x2: left + scale(t), y1: top, y2: height - 20 }), s('text', { x: left + scale(t), y: height - 6, 'text-anchor': 'middle' }, format(t)))),
    rows.map((r, i) => {
      const y = top + i * rowH;
      const parts = bars(r);
      return s(
        'g',
        { class: 'dash-chart__row', 'data-carrier': r.carrier },
        s('text', { class: 'dash-chart__label', x: left - 8, y: y + rowH / 2 + 4, 'text-anchor': 'end' }, r.name),
        parts.map((p, j) => s('rect', { class: p.cls, x: left, y: y + 6 + j * ((rowH - 12) / parts.length), width: Math.max(1, scale(p.value || 0)), height: (rowH - 12) / parts.length, rx: 2 }, s('title', {}, p.label))),
        s('text', { class: 'dash-chart__value', x: left + scale(Math.max(...parts.map((p) => p.value || 0))) + 6, y: y + rowH / 2 + 4 }, parts.map((p) => p.text).join(' · ')),
      );
    }),
  );
}

/** A scale from zero past `top` in at most six even steps, each a multiple of `unit`. */
function niceScale(top, unit) {
  const step = Math.max(unit, Math.ceil(top / 5 / unit) * unit);
  return { max: Math.ceil(top / step - 1e-9) * step || step, step };
}

function legend(items) {
  return h('ul', { class: 'dash-legend' }, items.map(([cls, label]) => h('li', null, h('span', { class: `dash-legend__swatch ${cls}`, 'aria-hidden': 'true' }), label)));
}

function isoDay(d) {
  return `${d.getFullYear()}-${String(d.getMonth() + 1).padStart(2, '0')}-${String(d.getDate()).padStart(2, '0')}`;
}

const HOOK_NAMES = { '17track': '17TRACK', aftership: 'AfterShip', standard: 'Signed' };

/** Each carrier API's health: working, paused, waiting; requests today; the last success. */
function healthPanel(health) {
  const state = (c) => {
    if (c.breaker === 'open') return h('span', { class: 'chip chip--danger' }, `Paused after failures${c.breaker_until ? ` until ${fmt.time(c.breaker_until)}` : ''}`);
    if (c.backing_off_until) return h('span', { class: 'chip chip--warn' }, `Waiting (rate limit) until ${fmt.time(c.backing_off_until)}`);
    if (c.breaker === 'half_open') return h('span', { class: 'chip chip--warn' }, 'Trying again');
    return h('span', { class: 'chip chip--ok' }, 'Working');
  };
  const when = (v) => (v ? h('time', { datetime: v, title: fmt.full(v) }, fmt.relative(v)) : '—');
  return h(
    'div',
    { class: 'panel dash-panel' },
    h('h2', { class: 'panel__title' }, 'Carrier health'),
    health.carriers.length
      ? h(
          'div',
          { class: 'dash-table-wrap' },
          h(
            'table',
            { class: 'dash-table', 'aria-label': 'Carrier health' },
            h('thead', null, h('tr', null, ['Carrier', 'API', 'Requests today (of its daily budget)', 'Failures in a row', 'Last success', 'Last error'].map((c, i) => h('th', { scope: 'col', class: i === 2 || i === 3 ? 'num' : null }, c)))),
            h(
              'tbody',
              null,
              health.carriers.map((c) =>
                h(
                  'tr',
                  { dataset: { carrier: c.carrier } },
                  h('th', { scope: 'row' }, c.carrier_name),
                  h('td', null, state(c)),
                  h('td', { class: 'num' }, c.budget_today == null ? String(c.requests_today) : `${c.requests_today.toLocaleString()} of ${c.budget_today.toLocaleString()}`),
                  h('td', { class: 'num' }, String(c.failures)),
                  h('td', null, when(c.last_success_at)),
                  h('td', null, c.last_error ? h('span', null, when(c.last_error_at), ': ', c.last_error) : '—'),
                ),
              ),
            ),
          ),
        )
      : h('p', { class: 'muted' }, 'No carrier has been asked yet.'),
    health.webhooks.length
      ? h(
          'dl',
          { class: 'dash-hooks', 'aria-label': 'Webhooks received' },
          health.webhooks.map((w) => h('div', { dataset: { source: w.source } }, h('dt', null, `${HOOK_NAMES[w.source] || w.source} webhooks`), h('dd', null, w.last_received_at ? ['last received ', when(w.last_received_at)] : 'none received yet'))),
        )
      : null,
  );
}

const GROUPS = [
  ['carrier', 'Carrier'],
  ['service', 'Service'],
  ['region', 'Destination'],
  ['week', 'Week'],
];

function spread(x, d = 1) {
  return x.n ? `${x.median.toFixed(d)} · ${x.p90.toFixed(d)}` : '—';
}

/** Problems that began in the span: one row per kind, one column per carrier. */
function problemsPanel(p) {
  const carriers = [...new Map(p.rows.map((r) => [r.carrier, r.carrier_name])).entries()];
  const kinds = [...new Map(p.rows.map((r) => [r.kind, r.kind_name])).entries()];
  const count = (kind, carrier) => p.rows.filter((r) => r.kind === kind && (carrier == null || r.carrier === carrier)).reduce((n, r) => n + r.parcels, 0);
  const csv = `/api/v1/analytics/problems.csv${query({ from: p.from, to: p.to })}`;
  return h(
    'div',
    { class: 'panel dash-panel' },
    h('div', { class: 'dash-panel__head' }, h('h2', { class: 'panel__title' }, 'Problems that began in these days'), p.rows.length ? h('a', { class: 'btn btn--ghost', href: csv, download: '' }, 'Problems as CSV') : null),
    p.rows.length
      ? h(
          'div',
          { class: 'dash-table-wrap', tabindex: '0', role: 'region', 'aria-label': 'Problems by kind (scrolls sideways)' },
          h(
            'table',
            { class: 'dash-table', 'aria-label': 'Problems by kind' },
            h('thead', null, h('tr', null, h('th', { scope: 'col' }, 'Problem'), carriers.map(([, name]) => h('th', { scope: 'col', class: 'num' }, name)), h('th', { scope: 'col', class: 'num' }, 'Parcels'))),
            h(
              'tbody',
              null,
              kinds.map(([kind, name]) => h('tr', { dataset: { kind } }, h('th', { scope: 'row' }, name), carriers.map(([c]) => h('td', { class: 'num' }, String(count(kind, c)))), h('td', { class: 'num' }, String(count(kind))))),
            ),
          ),
        )
      : h('p', { class: 'muted' }, 'No parcel ran into a problem in these days.'),
  );
}

/** Ratings by week and carrier, and what the customers wrote (as text). */
function feedbackPanel(f) {
  const csv = `/api/v1/analytics/feedback.csv${query({ from: f.from, to: f.to })}`;
  return h(
    'div',
    { class: 'panel dash-panel' },
    h('div', { class: 'dash-panel__head' }, h('h2', { class: 'panel__title' }, 'What customers said'), f.weeks.length ? h('a', { class: 'btn btn--ghost', href: csv, download: '' }, 'Ratings as CSV') : null),
    f.weeks.length
      ? h(
          'div',
          { class: 'dash-table-wrap' },
          h(
            'table',
            { class: 'dash-table', 'aria-label': 'Ratings by week' },
            h('thead', null, h('tr', null, ['Week of', 'Carrier', 'Rated', 'Average rating'].map((c, i) => h('th', { scope: 'col', class: i > 1 ? 'num' : null }, c)))),
            h(
              'tbody',
              null,
              f.weeks.map((w) => h('tr', null, h('th', { scope: 'row' }, fmt.day(`${w.week}T12:00:00`)), h('td', null, w.carrier_name), h('td', { class: 'num' }, String(w.rated)), h('td', { class: 'num' }, w.avg_rating.toFixed(1)))),
            ),
          ),
        )
      : h('p', { class: 'muted' }, 'No parcel delivered in these days was rated.'),
    f.comments.length
      ? h(
          'ul',
          { class: 'dash-comments', 'aria-label': 'Comments' },
          f.comments.map((c) =>
            h(
              'li',
              { class: 'dash-comment' },
              h('p', { class: 'dash-comment__meta' }, h('strong', null, `${c.rating} of 5`), ` · ${c.carrier_name}`, c.delivered_at ? ` · delivered ${fmt.day(c.delivered_at)}` : '', ' · ', h('a', { href: `#/orders/${c.order_id}` }, 'the order')),
              h('p', { class: 'dash-comment__text' }, c.comment),
            ),
          ),
        )
      : null,
  );
}

const CHANNELS = { email: 'Email', sms: 'SMS', push: 'Push', desktop: 'Desktop' };

function duration(secs) {
  if (secs == null) return '—';
  if (secs < 90) return `${Math.round(secs)} s`;
  if (secs < 90 * 60) return `${Math.round(secs / 60)} min`;
  return `${(secs / 3600).toFixed(1)} h`;
}

/** The shop's own service: how soon news reached customers, and who looked for themselves. */
function servicePanel(sv) {
  const t = sv.tracking_page;
  return h(
    'div',
    { class: 'panel dash-panel' },
    h('h2', { class: 'panel__title' }, 'How soon customers heard'),
    sv.notifications.length
      ? h(
          'div',
          { class: 'dash-table-wrap', tabindex: '0', role: 'region', 'aria-label': 'Messages to customers (scrolls sideways)' },
          h(
            'table',
            { class: 'dash-table', 'aria-label': 'Messages to customers' },
            h('thead', null, h('tr', null, ['Channel', 'Sent', 'Median', '9 in 10 within', 'From the event: median', '9 in 10 within'].map((c, i) => h('th', { scope: 'col', class: i ? 'num' : null }, c)))),
            h(
              'tbody',
              null,
              sv.notifications.map((n) =>
                h(
                  'tr',
                  { dataset: { channel: n.channel } },
                  h('th', { scope: 'row' }, CHANNELS[n.channel] || n.channel),
                  h('td', { class: 'num' }, String(n.sent)),
                  h('td', { class: 'num' }, duration(n.median_seconds)),
                  h('td', { class: 'num' }, duration(n.p90_seconds)),
                  h('td', { class: 'num' }, duration(n.from_event_median_seconds)),
                  h('td', { class: 'num' }, duration(n.from_event_p90_seconds)),
                ),
              ),
            ),
          ),
        )
      : h('p', { class: 'muted' }, 'No message about a parcel was sent in these days.'),
    h('p', { class: 'muted dash-note' }, 'From the news reaching the server to the message leaving it, quiet hours and retries included; and from the carrier’s event itself (its time as the carrier gives it), which adds the carrier’s delay in telling. Parcels gone quiet or late have no event.'),
    h('h3', { class: 'dash-hook__title' }, 'Tracking page'),
    h('p', { class: 'dash-selfservice' }, t.orders_placed ? `${t.orders_viewed} orders’ pages opened by their customers, against ${t.orders_placed} orders placed (${pct(t.viewed_share)}).` : `${t.orders_viewed} orders’ pages opened by their customers; no order placed in these days.`),
  );
}

export default async function analyticsView(route) {
  const asked = { from: route.query.from, to: route.query.to, by: route.query.by, country: route.query.country };
  // One report serves the charts, the figures and the table: the carrier table of the API is
  // the same report by carrier.
  const span = { from: route.query.from, to: route.query.to };
  const [r, health, problems, feedback, service] = await Promise.all([api('GET', `analytics/deliveries${query(asked)}`), api('GET', 'carriers/health'), api('GET', `analytics/problems${query(span)}`), api('GET', `analytics/feedback${query(span)}`), api('GET', `analytics/service${query(span)}`)]);
  const keep = { by: r.by === 'carrier' ? undefined : r.by, country: r.country || undefined };
  const label = GROUPS.find(([v]) => v === r.by)[1];
  const lower = label.toLowerCase();
  const name = (row) => (r.by === 'week' && row.key ? `Week of ${fmt.day(`${row.key}T12:00:00`)}` : row.label);
  const rows = r.rows.map((row) => ({ ...row, name: name(row), carrier: row.key || '', late_share: row.on_time_share == null ? null : 1 - row.on_time_share }));

  const from = h('input', { type: 'date', name: 'from', value: r.from, required: true });
  const to = h('input', { type: 'date', name: 'to', value: r.to, required: true });
  const by = h('select', { name: 'by' }, GROUPS.map(([v, text]) => h('option', { value: v, selected: v === r.by }, text)));
  const country = h('input', { type: 'text', name: 'country', value: r.country || '', maxlength: 2, autocomplete: 'off', placeholder: 'e.g. US', title: 'A country code: its public holidays are not business days' });
  const ids = [from, to, by, country].map((el) => (el.id = uid('f')));
  const form = h(
    'form',
    { class: 'dash-filters dash-filters--span', 'aria-label': 'Days and grouping' },
    h('div', { class: 'field' }, h('label', { for: ids[0] }, 'From'), from),
    h('div', { class: 'field' }, h('label', { for: ids[1] }, 'To (included)'), to),
    h('div', { class: 'field' }, h('label', { for: ids[2] }, 'Group by'), by),
    h('div', { class: 'field' }, h('label', { for: ids[3] }, 'Public holidays of'), country),
    h('div', { class: 'dash-filters__actions' }, h('button', { class: 'btn btn--primary', type: 'submit' }, 'Show'), [7, 30, 90].map((n) => {
      const end = new Date(`${r.to}T12:00:00`);
      const start = new Date(end);
      start.setDate(start.getDate() - (n - 1));
      return h('a', { class: 'btn btn--ghost', href: `#/analytics${query({ from: isoDay(start), to: r.to, ...keep })}` }, `Last ${n} days`);
    })),
  );
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    location.hash = `#/analytics${query({ from: from.value, to: to.value, by: by.value === 'carrier' ? undefined : by.value, country: country.value.trim() })}`;
  });

  const delivered = rows.reduce((n, row) => n + row.delivered, 0);
  const promised = rows.reduce((n, row) => n + row.early + row.on_day + row.late, 0);
  const onTime = rows.reduce((n, row) => n + row.early + row.on_day, 0);
  const firstTry = rows.reduce((n, row) => n + (row.first_attempt_share || 0) * row.delivered, 0);
  const measured = rows.filter((row) => row.transit_days.n);
  const csv = `/api/v1/analytics/deliveries.csv${query({ from: r.from, to: r.to, by: r.by, country: r.country || undefined })}`;

  const charts = measured.length
    ? [
        h(
          'figure',
          { class: 'panel dash-panel dash-figure' },
          h('figcaption', { class: 'panel__title' }, 'Days in transit, first carrier scan to delivery'),
          legend([
            ['dash-bar--median', 'Median'],
            ['dash-bar--p90', '9 in 10 within'],
          ]),
          barChart({
            title: `Days in transit by ${lower}, ${r.from} to ${r.to}`,
            rows: measured,
            ...niceScale(Math.max(1, ...measured.map((row) => row.transit_days.p90)), 1),
            format: (v) => `${v} d`,
            bars: (row) => [
              { value: row.transit_days.median, cls: 'dash-bar--median', label: `${row.name}: median ${days(row.transit_days.median)}`, text: days(row.transit_days.median) },
              { value: row.transit_days.p90, cls: 'dash-bar--p90', label: `${row.name}: 9 in 10 within ${days(row.transit_days.p90)}`, text: days(row.transit_days.p90) },
            ],
          }),
        ),
        h(
          'figure',
          { class: 'panel dash-panel dash-figure' },
          h('figcaption', { class: 'panel__title' }, 'Delivered after the promised date'),
          barChart({
            title: `Share delivered late by ${lower}, ${r.from} to ${r.to}`,
            rows: rows.filter((row) => row.late_share != null),
            ...niceScale(Math.max(0.1, ...rows.map((row) => row.late_share || 0)), 0.05),
            format: (v) => `${Math.round(v * 100)} %`,
            bars: (row) => [{ value: row.late_share, cls: 'dash-bar--late', label: `${row.name}: ${pct(row.late_share)} late`, text: pct(row.late_share) }],
          }),
        ),
      ]
    : [h('div', { class: 'empty' }, h('p', { class: 'empty__title' }, 'No parcel was delivered in these days'), h('p', { class: 'muted' }, 'Choose a longer span.'))];

  const heads = [label, 'Delivered', 'Transit days', 'Transit, business days', 'Order to delivery, days', 'Order, business days', 'Early · on the day · late', 'On time', 'First estimate met', 'First attempt'];
  if (r.by === 'carrier') heads.push('Rating');
  const table = rows.length
    ? h(
        'div',
        { class: 'panel dash-panel' },
        h('h2', { class: 'panel__title' }, `Deliveries by ${lower}`),
        // Wider than a tablet: the box scrolls, so it takes the keyboard's focus.
        h(
          'div',
          { class: 'dash-table-wrap', tabindex: '0', role: 'region', 'aria-label': `Deliveries by ${lower} (scrolls sideways)` },
          h(
            'table',
            { class: 'dash-table', 'aria-label': `Deliveries by ${lower}` },
            h('thead', null, h('tr', null, heads.map((c, i) => h('th', { scope: 'col', class: i ? 'num' : null }, c)))),
            h(
              'tbody',
              null,
              rows.map((row) => {
                const estimated = row.estimate_met + row.estimate_missed;
                return h(
                  'tr',
                  { dataset: { carrier: row.carrier } },
                  h('th', { scope: 'row' }, row.name),
                  h('td', { class: 'num' }, String(row.delivered)),
                  h('td', { class: 'num' }, spread(row.transit_days)),
                  h('td', { class: 'num' }, spread(row.transit_business_days)),
                  h('td', { class: 'num' }, spread(row.order_days)),
                  h('td', { class: 'num' }, spread(row.order_business_days)),
                  h('td', { class: 'num' }, `${row.early} · ${row.on_day} · ${row.late}`),
                  h('td', { class: 'num' }, pct(row.on_time_share)),
                  h('td', { class: 'num' }, estimated ? pct(row.estimate_met / estimated) : '—'),
                  h('td', { class: 'num' }, pct(row.first_attempt_share)),
                  r.by === 'carrier' ? h('td', { class: 'num' }, row.avg_rating == null ? '—' : row.avg_rating.toFixed(1)) : null,
                );
              }),
            ),
          ),
        ),
        h('p', { class: 'muted dash-note' }, 'Times: the median · the time within which 9 in 10 arrived. Business days are the weekdays after the first day up to the day of delivery, in the shop’s time zone', r.country ? `, less ${r.country} public holidays` : '', '. On time: on or before the promised date, among orders with one.'),
      )
    : null;

  return h(
    'section',
    { class: 'dash-section' },
    h(
      'div',
      { class: 'page__head' },
      h('div', null, h('h1', { class: 'page__title' }, 'Analytics'), h('p', { class: 'page__sub' }, `Parcels delivered ${r.from} to ${r.to} (${r.time_zone})`)),
      h('a', { class: 'btn', href: csv, download: '' }, 'Export CSV'),
    ),
    form,
    h(
      'dl',
      { class: 'dash-stats' },
      h('div', { class: 'dash-stat' }, h('dt', null, 'Delivered'), h('dd', null, String(delivered))),
      h('div', { class: 'dash-stat' }, h('dt', null, 'On time'), h('dd', null, promised ? pct(onTime / promised) : '—')),
      h('div', { class: 'dash-stat' }, h('dt', null, 'First attempt'), h('dd', null, delivered ? pct(firstTry / delivered) : '—')),
      h('div', { class: 'dash-stat' }, h('dt', null, 'Average rating'), h('dd', null, r.avg_rating == null ? '—' : r.avg_rating.toFixed(1))),
    ),
    h('div', { class: 'dash-charts' }, charts),
    table,
    h('div', { class: 'dash-columns' }, problemsPanel(problems), feedbackPanel(feedback)),
    servicePanel(service),
    healthPanel(health),
  );
}
