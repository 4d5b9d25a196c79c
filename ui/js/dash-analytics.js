// Delivery analytics: how each carrier delivered over a span of days (the shop's time zone),
// as charts read at a glance (SVG drawn here: two bar charts do not earn a library) and as a
// table, exportable as CSV; and how each carrier's API is doing now. The server computes
// every figure.

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
            h('thead', null, h('tr', null, ['Carrier', 'API', 'Requests today', 'Failures in a row', 'Last success', 'Last error'].map((c, i) => h('th', { scope: 'col', class: i === 2 || i === 3 ? 'num' : null }, c)))),
            h(
              'tbody',
              null,
              health.carriers.map((c) =>
                h(
                  'tr',
                  { dataset: { carrier: c.carrier } },
                  h('th', { scope: 'row' }, c.carrier_name),
                  h('td', null, state(c)),
                  h('td', { class: 'num' }, String(c.requests_today)),
                  h('td', { class: 'num' }, String(c.failures)),
                  h('td', null, when(c.last_success_at)),
                  h('td', null, c.last_error ? h('span', null, when(c.last_error_at), ': ', c.last_error) : '—'),
                ),
              ),
            ),
          ),
        )
      : h('p', { class: 'muted' }, 'No carrier has been asked yet.'),
  );
}

export default async function analyticsView(route) {
  const span = { from: route.query.from, to: route.query.to };
  const [t, health] = await Promise.all([api('GET', `analytics/carriers${query(span)}`), api('GET', 'carriers/health')]);
  const rows = t.rows.map((r) => ({ ...r, name: r.carrier_name || r.carrier }));

  const from = h('input', { type: 'date', name: 'from', value: t.from, required: true });
  const to = h('input', { type: 'date', name: 'to', value: t.to, required: true });
  const fromId = uid('d');
  const toId = uid('d');
  from.id = fromId;
  to.id = toId;
  const form = h(
    'form',
    { class: 'dash-filters dash-filters--span', 'aria-label': 'Days' },
    h('div', { class: 'field' }, h('label', { for: fromId }, 'From'), from),
    h('div', { class: 'field' }, h('label', { for: toId }, 'To (included)'), to),
    h('div', { class: 'dash-filters__actions' }, h('button', { class: 'btn btn--primary', type: 'submit' }, 'Show'), [7, 30, 90].map((n) => {
      const end = new Date(`${t.to}T12:00:00`);
      const start = new Date(end);
      start.setDate(start.getDate() - (n - 1));
      return h('a', { class: 'btn btn--ghost', href: `#/analytics${query({ from: isoDay(start), to: t.to })}` }, `Last ${n} days`);
    })),
  );
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    location.hash = `#/analytics${query({ from: from.value, to: to.value })}`;
  });

  const delivered = rows.reduce((n, r) => n + r.delivered, 0);
  const maxDays = Math.max(1, ...rows.map((r) => r.p90_transit_days));
  const rated = rows.filter((r) => r.avg_rating != null);
  const csv = `/api/v1/analytics/carriers.csv${query({ from: t.from, to: t.to })}`;

  const charts = rows.length
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
            title: `Days in transit by carrier, ${t.from} to ${t.to}`,
            rows,
            ...niceScale(maxDays, 1),
            format: (v) => `${v} d`,
            bars: (r) => [
              { value: r.median_transit_days, cls: 'dash-bar--median', label: `${r.name}: median ${days(r.median_transit_days)}`, text: days(r.median_transit_days) },
              { value: r.p90_transit_days, cls: 'dash-bar--p90', label: `${r.name}: 9 in 10 within ${days(r.p90_transit_days)}`, text: days(r.p90_transit_days) },
            ],
          }),
        ),
        h(
          'figure',
          { class: 'panel dash-panel dash-figure' },
          h('figcaption', { class: 'panel__title' }, 'Delivered after the promised date'),
          barChart({
            title: `Share delivered late by carrier, ${t.from} to ${t.to}`,
            rows: rows.filter((r) => r.late_share != null),
            ...niceScale(Math.max(0.1, ...rows.map((r) => r.late_share || 0)), 0.05),
            format: (v) => `${Math.round(v * 100)} %`,
            bars: (r) => [{ value: r.late_share, cls: 'dash-bar--late', label: `${r.name}: ${pct(r.late_share)} late`, text: pct(r.late_share) }],
          }),
        ),
      ]
    : [h('div', { class: 'empty' }, h('p', { class: 'empty__title' }, 'No parcel was delivered in these days'), h('p', { class: 'muted' }, 'Choose a longer span.'))];

  return h(
    'section',
    { class: 'dash-section' },
    h(
      'div',
      { class: 'page__head' },
      h('div', null, h('h1', { class: 'page__title' }, 'Analytics'), h('p', { class: 'page__sub' }, `Parcels delivered ${t.from} to ${t.to} (${t.time_zone})`)),
      h('a', { class: 'btn', href: csv, download: '' }, 'Export CSV'),
    ),
    form,
    h(
      'dl',
      { class: 'dash-stats' },
      h('div', { class: 'dash-stat' }, h('dt', null, 'Delivered'), h('dd', null, String(delivered))),
      h('div', { class: 'dash-stat' }, h('dt', null, 'Carriers'), h('dd', null, String(rows.length))),
      h('div', { class: 'dash-stat' }, h('dt', null, 'Average rating'), h('dd', null, rated.length ? (rated.reduce((n, r) => n + r.avg_rating * r.delivered, 0) / rated.reduce((n, r) => n + r.delivered, 0)).toFixed(1) : '—')),
    ),
    h('div', { class: 'dash-charts' }, charts),
    healthPanel(health),
    rows.length
      ? h(
          'div',
          { class: 'panel dash-panel' },
          h('h2', { class: 'panel__title' }, 'Carriers compared'),
          h(
            'div',
            { class: 'dash-table-wrap' },
            h(
              'table',
              { class: 'dash-table', 'aria-label': 'Carriers compared' },
              h('thead', null, h('tr', null, ['Carrier', 'Delivered', 'Median days', '9 in 10 within (days)', 'Late', 'Rating'].map((c, i) => h('th', { scope: 'col', class: i ? 'num' : null }, c)))),
              h(
                'tbody',
                null,
                rows.map((r) => h('tr', { dataset: { carrier: r.carrier } }, h('th', { scope: 'row' }, r.name), h('td', { class: 'num' }, String(r.delivered)), h('td', { class: 'num' }, r.median_transit_days.toFixed(1)), h('td', { class: 'num' }, r.p90_transit_days.toFixed(1)), h('td', { class: 'num' }, pct(r.late_share)), h('td', { class: 'num' }, r.avg_rating == null ? '—' : r.avg_rating.toFixed(1)))),
              ),
            ),
          ),
        )
      : null,
  );
}
