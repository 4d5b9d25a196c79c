// An order's page for the staff: what the customer sees (its parcels, their journeys and
// estimates) and what only the staff see (the customer's details and signed link, the
// messages sent with their delivery reports, requests to decide, feedback, every raw
// carrier event), with the actions: change the stage, add a status update, decide a request.

import { h, replace, text, uid } from './dom.js';
import * as ui from './ui.js';
import * as fmt from './format.js';
import { api } from './dash-api.js';
import { STAGES, badge, progressChip } from './dash-orders.js';

export const REQUEST_KINDS = { address: 'Change of address', instructions: 'Delivery instructions', cancel: 'Cancel the order' };
const REQUEST_STATES = { open: ['Waiting for you', 'warn'], approved: ['Approved', 'ok'], rejected: ['Rejected', 'danger'], withdrawn: ['Withdrawn', 'neutral'] };
const MESSAGE_STATES = { pending: ['Waiting to send', 'neutral'], sent: ['Sent', 'ok'], failed: ['Failed', 'danger'], held: ['Held (quiet hours)', 'neutral'], summarized: ['Folded into a summary', 'neutral'] };
const CHANNELS = { email: 'Email', sms: 'SMS', push: 'Push' };

function chip([label, tone]) {
  return h('span', { class: `chip chip--${tone}` }, label);
}

function kv(label, value) {
  if (value == null || value === '') return null;
  return h('div', { class: 'kv' }, h('dt', null, label), h('dd', null, value));
}

function panel(title, ...children) {
  const id = uid('p');
  return h('section', { class: 'panel dash-panel', 'aria-labelledby': id }, h('h2', { class: 'panel__title', id }, title), ...children);
}

function when(v) {
  return v ? h('time', { datetime: v, title: fmt.full(v) }, fmt.dateTime(v)) : '—';
}

function place(l) {
  return [l.city, l.region, l.postal, l.country].filter(Boolean).join(', ');
}

/** The decision buttons of an open request (also on the Needs attention list). */
export function decideForm(request, onDone) {
  const note = h('input', { type: 'text', name: 'note', maxlength: '1000', autocomplete: 'off' });
  const noteId = uid('n');
  note.id = noteId;
  const decide = (decision) => async (e) => {
    await ui.busy(e.currentTarget, async () => {
      try {
        await api('POST', `requests/${request.id}/decision`, { decision, note: note.value.trim() || undefined });
        ui.toast(decision === 'approve' ? 'Approved: the customer is told.' : 'Rejected: the customer is told.', 'ok');
        await onDone();
      } catch (err) {
        ui.showError(err, 'Not decided');
      }
    });
  };
  return h(
    'div',
    { class: 'dash-decide' },
    h('div', { class: 'field' }, h('label', { for: noteId }, 'Note to the customer (optional)'), note),
    h(
      'div',
      { class: 'row' },
      h('button', { class: 'btn btn--primary', type: 'button', onclick: decide('approve') }, 'Approve'),
      h('button', { class: 'btn btn--danger-ghost', type: 'button', onclick: decide('reject') }, 'Reject'),
    ),
  );
}

function requestItem(r, reload) {
  return h(
    'li',
    { class: 'dash-request', dataset: { request: r.id } },
    h('div', { class: 'row' }, h('strong', null, REQUEST_KINDS[r.kind] || r.kind), chip(REQUEST_STATES[r.state] || [r.state, 'neutral']), h('span', { class: 'muted small' }, when(r.created_at))),
    r.address ? h('p', { class: 'dash-pre' }, r.address, r.postcode ? `\n${r.postcode}` : '') : null,
    r.text ? h('p', { class: 'dash-pre' }, r.text) : null,
    r.history
      .filter((s) => s.note)
      .map((s) => h('p', { class: 'muted small' }, `${REQUEST_STATES[s.state] ? REQUEST_STATES[s.state][0] : s.state}: `, s.note)),
    r.state === 'open' ? decideForm(r, reload) : null,
  );
}

function eventForm(parcel, reload) {
  const status = h('select', { name: 'status', required: true }, ui.STATUSES.filter(([s]) => s !== 'unknown').map(([v, l]) => h('option', { value: v, selected: v === 'in_transit' }, l)));
  const desc = h('input', { type: 'text', name: 'description', required: true, maxlength: '500', autocomplete: 'off' });
  const city = h('input', { type: 'text', name: 'city', maxlength: '100', autocomplete: 'off' });
  const fieldOf = (label, input) => {
    const id = uid('e');
    input.id = id;
    return h('div', { class: 'field' }, h('label', { for: id }, label), input);
  };
  const form = h(
    'form',
    { class: 'dash-event-form' },
    fieldOf('Status', status),
    fieldOf('What happened', desc),
    fieldOf('Where (town)', city),
    h('button', { class: 'btn btn--primary', type: 'submit' }, 'Add update'),
  );
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    if (!desc.value.trim()) {
      ui.toast('Say what happened.', 'error');
      desc.focus();
      return;
    }
    await ui.busy(form.querySelector('button'), async () => {
      try {
        await api('POST', `shipments/${parcel.id}/events`, {
          status: status.value,
          description: desc.value.trim(),
          location: city.value.trim() ? { city: city.value.trim() } : undefined,
        });
        ui.toast('Update added: the customer sees it now.', 'ok');
        await reload();
      } catch (err) {
        ui.showError(err, 'Not added');
      }
    });
  });
  return h('details', { class: 'dash-details' }, h('summary', null, 'Add a status update'), form);
}

function parcelPanel(s, reload) {
  const events = [...(s.events || [])].reverse();
  return h(
    'article',
    { class: 'panel dash-panel dash-parcel', dataset: { shipment: s.id }, 'aria-label': `Parcel ${s.tracking_number}` },
    h('div', { class: 'row' }, badge(s), h('span', { class: 'number' }, s.tracking_number), ui.statusChip(s.status, s.status_label), s.label ? h('span', { class: 'muted' }, s.label) : null),
    s.status_detail ? h('p', null, s.status_detail) : null,
    s.estimate ? h('p', { class: 'muted' }, `Estimate: ${fmt.dateWindow(s.estimate.earliest, s.estimate.latest)} (${fmt.percent(s.estimate.confidence)} sure)`) : null,
    s.last_error ? h('p', { class: 'inline-msg inline-msg--error' }, `The carrier could not be asked: ${s.last_error}`) : null,
    eventForm(s, reload),
    events.length
      ? h(
          'div',
          { class: 'dash-table-wrap' },
          h(
            'table',
            { class: 'dash-table dash-table--events', 'aria-label': `Events of ${s.tracking_number}` },
            h('thead', null, h('tr', null, ['When', 'Status', 'What the carrier said', 'Where', 'From', 'Code'].map((c) => h('th', { scope: 'col' }, c)))),
            h(
              'tbody',
              null,
              events.map((e) => h('tr', null, h('td', null, when(e.occurred_at)), h('td', null, ui.statusChip(e.status, (ui.STATUSES.find(([k]) => k === e.status) || [0, e.status])[1])), h('td', null, e.description), h('td', null, place(e.location)), h('td', null, e.source), h('td', { class: 'dash-code' }, e.code || ''))),
            ),
          ),
        )
      : h('p', { class: 'muted' }, 'No carrier event yet.'),
  );
}

function linkPanel(url) {
  const input = h('input', { type: 'text', readonly: true, value: url, 'aria-label': "The customer's tracking link", class: 'dash-link' });
  const copy = h(
    'button',
    {
      class: 'btn',
      type: 'button',
      onclick: async () => {
        try {
          await navigator.clipboard.writeText(url);
        } catch {
          input.select();
          document.execCommand('copy');
        }
        ui.toast('Link copied.', 'ok');
      },
    },
    'Copy link',
  );
  return panel("Customer's tracking page", h('p', { class: 'muted small' }, 'A signed link: anyone who has it sees this order, until it expires or the links are withdrawn.'), h('div', { class: 'row dash-link-row' }, input, copy, h('a', { class: 'btn btn--ghost', href: url, target: '_blank', rel: 'noopener noreferrer' }, 'Open')));
}

function stageForm(o, reload) {
  const sel = h('select', { 'aria-label': 'Order stage' }, STAGES.map(([v, l]) => h('option', { value: v, selected: v === o.stage }, l)));
  sel.addEventListener('change', async () => {
    try {
      await api('PATCH', `orders/${o.id}`, { stage: sel.value });
      ui.toast('Stage changed.', 'ok');
      await reload();
    } catch (err) {
      sel.value = o.stage;
      ui.showError(err, 'Not changed');
    }
  });
  return sel;
}

/** Sends a message again (a new one in the log); only for what has been sent or given up. */
function resendButton(o, n, reload) {
  if (!['sent', 'failed'].includes(n.state)) return null;
  return h(
    'button',
    {
      class: 'btn btn--small',
      type: 'button',
      onclick: (e) =>
        ui.busy(e.currentTarget, async () => {
          try {
            await api('POST', `orders/${o.id}/notifications/${n.id}/resend`);
            ui.toast('Queued to send again.', 'ok');
            await reload();
          } catch (err) {
            ui.showError(err, 'Not sent again');
          }
        }),
    },
    'Send again',
  );
}

function stars(n) {
  return h('span', { class: 'dash-stars', 'aria-label': `${n} of 5` }, '★'.repeat(n), h('span', { class: 'dash-stars__off', 'aria-hidden': 'true' }, '★'.repeat(5 - n)));
}

export default async function orderView(route, ctx) {
  const root = h('div', { class: 'dash-order' });
  const reload = async () => {
    const o = await api('GET', `orders/${route.id}`);
    replace(root, ...page(o, reload));
    ctx.refreshCount();
  };
  const o = await api('GET', `orders/${route.id}`);
  replace(root, ...page(o, reload));
  return root;
}

function page(o, reload) {
  const c = o.customer;
  const numberOf = new Map(o.shipments.map((s) => [s.id, s.tracking_number]));
  return [
    h('a', { class: 'back-link', href: '#/orders' }, 'Orders'),
    h(
      'div',
      { class: 'page__head' },
      h('div', null, h('h1', { class: 'page__title' }, `Order ${o.order_number || ''}`.trim()), h('p', { class: 'page__sub' }, [o.channel, o.placed_at ? `placed ${fmt.day(o.placed_at)}` : null, o.promised_at ? `promised for ${fmt.day(o.promised_at)}` : null].filter(Boolean).join(' · '))),
      h('div', { class: 'row' }, progressChip(o.progress), h('span', { class: 'muted small', 'aria-hidden': 'true' }, 'Stage'), stageForm(o, reload)),
    ),
    h(
      'div',
      { class: 'dash-order__grid' },
      h(
        'div',
        { class: 'dash-order__main' },
        o.shipments.length ? o.shipments.map((s) => parcelPanel(s, reload)) : panel('Parcels', h('p', { class: 'muted' }, 'No parcel yet.')),
        panel(
          'Messages to the customer',
          o.notifications.length
            ? h(
                'div',
                { class: 'dash-table-wrap' },
                h(
                  'table',
                  { class: 'dash-table', 'aria-label': 'Messages' },
                  h('thead', null, h('tr', null, ['When', 'Channel', 'News', 'Parcel', 'State', 'Report', 'Action'].map((x) => h('th', { scope: 'col' }, x)))),
                  h(
                    'tbody',
                    null,
                    o.notifications.map((n) =>
                      h(
                        'tr',
                        { dataset: { notification: n.id } },
                        h('td', null, when(n.sent_at || n.created_at)),
                        h('td', null, CHANNELS[n.channel] || n.channel),
                        h('td', null, n.kind ? n.kind.replaceAll('_', ' ') : '—'),
                        h('td', { class: 'dash-code' }, numberOf.get(n.shipment_id) || ''),
                        h('td', null, chip(MESSAGE_STATES[n.state] || [n.state, 'neutral']), n.last_error ? h('span', { class: 'muted small dash-block' }, n.last_error) : null),
                        h('td', null, n.delivery ? `${n.delivery.status}${n.delivery.error_code != null ? ` (error ${n.delivery.error_code})` : ''}` : ''),
                        h('td', null, resendButton(o, n, reload)),
                      ),
                    ),
                  ),
                ),
              )
            : h('p', { class: 'muted' }, 'Nothing sent yet.'),
        ),
      ),
      h(
        'aside',
        { class: 'dash-order__side' },
        panel(
          'Customer',
          h('dl', { class: 'kvs' }, kv('Name', c.name), kv('Email', c.email), kv('Phone', c.phone), kv('Postcode', c.postcode), kv('Address', c.address ? h('span', { class: 'dash-pre' }, c.address) : null), kv('Language', c.language), kv('Time zone', c.time_zone)),
          !c.name && !c.email && !c.phone ? h('p', { class: 'muted' }, 'No details given.') : null,
        ),
        o.tracking_url ? linkPanel(o.tracking_url) : null,
        panel('Requests', o.requests.length ? h('ul', { class: 'dash-list' }, o.requests.map((r) => requestItem(r, reload))) : h('p', { class: 'muted' }, 'The customer has asked for nothing.')),
        panel(
          'Feedback',
          o.feedback.length
            ? h(
                'ul',
                { class: 'dash-list' },
                o.feedback.map((f) => h('li', null, h('div', { class: 'row' }, stars(f.rating), h('span', { class: 'number small' }, numberOf.get(f.shipment_id) || '')), f.comment ? h('p', { class: 'dash-pre' }, f.comment) : null, h('p', { class: 'muted small' }, when(f.updated_at)))),
              )
            : h('p', { class: 'muted' }, 'No rating yet.'),
        ),
        o.items || o.notes ? panel('Order', h('dl', { class: 'kvs' }, kv('Items', o.items), kv('Notes', o.notes ? h('span', { class: 'dash-pre' }, o.notes) : null))) : null,
      ),
    ),
  ];
}
