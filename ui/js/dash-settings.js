// The dashboard's settings: where staff alerts and the daily digest go, and how long each
// status may go without carrier news before a parcel counts as stuck.

import { h, text, uid } from './dom.js';
import { api } from './dash-api.js';

const STATUSES = [
  ['in_transit', 'In transit', 72],
  ['info_received', 'Label created, not handed over', 120],
  ['out_for_delivery', 'Out for delivery', 24],
  ['after_problem', 'After a failed attempt or an exception', 72],
  ['at_pickup', 'Waiting at a pickup point', 120],
];

function field(label, input, hint) {
  const id = uid('s');
  input.id = id;
  const hintId = hint ? `${id}-hint` : null;
  if (hintId) input.setAttribute('aria-describedby', hintId);
  return h('div', { class: 'field' }, h('label', { for: id }, label), input, hint ? h('small', { id: hintId, class: 'muted small' }, hint) : null);
}

function status(el, message, ok) {
  el.className = `inline-msg ${ok ? 'inline-msg--ok' : 'inline-msg--error'}`;
  text(el, message);
}

function alertsPanel(current) {
  const email = h('input', { type: 'email', name: 'email', value: current.email || '', autocomplete: 'email', placeholder: 'orders@example.com' });
  const msg = h('p', { class: 'inline-msg', role: 'status' });
  const form = h(
    'form',
    { class: 'dash-import', 'aria-label': 'Staff alerts' },
    h('h2', { class: 'panel__title' }, 'Staff alerts'),
    h('p', { class: 'muted' }, 'A parcel that stops moving or runs late emails this address once, and each morning a digest lists what needs attention. Leave it empty for none.'),
    field('Alert address', email),
    h('div', { class: 'row' }, h('button', { class: 'btn btn--primary', type: 'submit' }, 'Save')),
    msg,
  );
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    try {
      const r = await api('PUT', 'shop/alerts', { email: email.value.trim() || null });
      email.value = r.email || '';
      status(msg, r.email ? `Alerts go to ${r.email}.` : 'No alerts.', true);
    } catch (err) {
      status(msg, err.message, false);
    }
  });
  return form;
}

function thresholdsPanel(current) {
  const inputs = {};
  const msg = h('p', { class: 'inline-msg', role: 'status' });
  const fields = STATUSES.map(([key, label, def]) => {
    inputs[key] = h('input', { type: 'number', name: key, min: '1', max: '2160', step: '1', value: String(current[key]), inputmode: 'numeric' });
    return field(`${label} (hours)`, inputs[key], `Default ${def}.`);
  });
  const reset = h('button', { class: 'btn btn--ghost', type: 'button' }, 'Back to the defaults');
  const form = h(
    'form',
    { class: 'dash-import', 'aria-label': 'When a parcel is stuck', novalidate: true },
    h('h2', { class: 'panel__title' }, 'When a parcel counts as stuck'),
    h('p', { class: 'muted' }, 'How long each status may go without news from the carrier before the parcel shows in Needs attention and alerts the staff.'),
    h('div', { class: 'dash-grid' }, fields),
    h('div', { class: 'row' }, h('button', { class: 'btn btn--primary', type: 'submit' }, 'Save'), reset),
    msg,
  );
  const show = (t) => {
    for (const [key] of STATUSES) inputs[key].value = String(t[key]);
  };
  const save = async (body) => {
    try {
      show(await api('PATCH', 'shop/thresholds', body));
      status(msg, 'Saved: it applies from the next check of the parcels.', true);
    } catch (err) {
      status(msg, err.message, false);
    }
  };
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    const body = {};
    for (const [key] of STATUSES) body[key] = Number(inputs[key].value);
    save(body);
  });
  reset.addEventListener('click', () => save(Object.fromEntries(STATUSES.map(([key]) => [key, null]))));
  return form;
}

export default async function settingsView() {
  const [alerts, thresholds] = await Promise.all([api('GET', 'shop/alerts'), api('GET', 'shop/thresholds')]);
  return h(
    'section',
    { class: 'dash-section page--narrow' },
    h('h1', { class: 'page__title' }, 'Settings'),
    alertsPanel(alerts),
    thresholdsPanel(thresholds),
    h('p', { class: 'muted small' }, 'Branding, message templates, webhooks and keys are set through the API (see /api/v1/openapi.json).'),
  );
}

