// Needs attention: every open problem of the shop's parcels, every request waiting for a
// decision and every message that could not be sent, oldest first, each with its reason and
// what to do; requests are decided here, the rest link to their order.

import { h, replace } from './dom.js';
import * as fmt from './format.js';
import { api } from './dash-api.js';
import { decideForm } from './dash-order.js';

const KINDS = {
  stuck: ['No movement', 'warn'],
  late: ['Late', 'danger'],
  failed_attempt: ['Delivery attempt failed', 'warn'],
  exception: ['Carrier exception', 'warn'],
  returned: ['Returned to sender', 'danger'],
  customs_hold: ['Held in customs', 'warn'],
  expired: ['Tracking expired', 'neutral'],
  request: ['Customer request', 'active'],
  notification_failed: ['Message not sent', 'danger'],
};

function item(a, reload) {
  const [label, tone] = KINDS[a.kind] || [a.kind, 'neutral'];
  return h(
    'li',
    { class: 'dash-attention__item', dataset: { kind: a.kind } },
    h(
      'div',
      { class: 'dash-attention__head' },
      h('span', { class: `chip chip--${tone}` }, label),
      h('a', { href: `#/orders/${a.order_id}`, class: 'dash-table__link' }, `Order ${a.order_number || ''}`.trim()),
      a.tracking_number ? h('span', { class: 'number small' }, a.tracking_number) : null,
      h('span', { class: 'muted small' }, h('time', { datetime: a.since, title: fmt.full(a.since) }, fmt.relative(a.since))),
    ),
    h('p', { class: 'dash-attention__reason' }, a.reason),
    h('p', { class: 'dash-attention__action' }, h('strong', null, 'What to do: '), a.action),
    a.kind === 'request' && a.request_id ? decideForm({ id: a.request_id }, reload) : null,
  );
}

export default async function attentionView(route, ctx) {
  const root = h('section', { class: 'dash-section' });
  const show = async () => {
    const { items } = await api('GET', 'attention');
    const kind = route.query.kind && KINDS[route.query.kind] ? route.query.kind : null;
    const counts = new Map();
    for (const a of items) counts.set(a.kind, (counts.get(a.kind) || 0) + 1);
    const shown = kind ? items.filter((a) => a.kind === kind) : items;
    const reload = async () => {
      await show();
      ctx.refreshCount();
    };
    replace(
      root,
      h('div', { class: 'page__head' }, h('h1', { class: 'page__title' }, 'Needs attention'), h('p', { class: 'page__sub' }, items.length ? `${items.length} ${items.length === 1 ? 'thing' : 'things'} to look at, oldest first.` : '')),
      items.length
        ? h(
            'nav',
            { class: 'dash-kinds', 'aria-label': 'Kinds' },
            h('a', { href: '#/attention', class: 'chip chip--neutral', 'aria-current': kind ? null : 'true' }, `All ${items.length}`),
            [...counts].map(([k, n]) => h('a', { href: `#/attention?kind=${k}`, class: 'chip chip--neutral', 'aria-current': k === kind ? 'true' : null }, `${(KINDS[k] || [k])[0]} ${n}`)),
          )
        : null,
      shown.length
        ? h('ul', { class: 'dash-attention' }, shown.map((a) => item(a, reload)))
        : h('div', { class: 'empty' }, h('p', { class: 'empty__title' }, 'Nothing needs you now'), h('p', { class: 'muted' }, 'Parcels that stop moving or run late, requests from customers and messages that fail appear here.')),
    );
  };
  await show();
  return root;
}

