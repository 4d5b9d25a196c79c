// The dashboard's settings, in sections: staff alerts and when a parcel counts as stuck;
// the tracking page's look and links; customers' messages (channels, news, quiet hours and
// the email templates, previewed); the shop's own carrier accounts; webhooks in and out and
// API keys; the staff. Secrets, keys and links are never shown back, a new one once. Only the
// owner changes all but the first.

import { h } from './dom.js';
import { api } from './dash-api.js';
import { field, status } from './dash-form.js';

const STATUSES = [
  ['in_transit', 'In transit', 72],
  ['info_received', 'Label created, not handed over', 120],
  ['out_for_delivery', 'Out for delivery', 24],
  ['after_problem', 'After a failed attempt or an exception', 72],
  ['at_pickup', 'Waiting at a pickup point', 120],
];

/** The sections: address (after #/settings), title, module. */
const SECTIONS = [
  ['', 'Alerts and stuck parcels', null],
  ['page', 'Tracking page', () => import('./dash-settings-page.js')],
  ['messages', 'Customer messages', () => import('./dash-settings-messages.js')],
  ['carriers', 'Carrier accounts', () => import('./dash-settings-carriers.js')],
  ['webhooks', 'Webhooks and API keys', () => import('./dash-settings-access.js')],
  ['staff', 'Staff', () => import('./dash-settings-staff.js')],
];

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


function sectionNav(current) {
  return h(
    'nav',
    { class: 'dash-tabs', 'aria-label': 'Settings sections' },
    SECTIONS.map(([path, title]) => h('a', { href: path ? `#/settings/${path}` : '#/settings', 'aria-current': path === current ? 'page' : null }, title)),
  );
}

export default async function settingsView(route, ctx) {
  const current = route.section || '';
  const [, title, load] = SECTIONS.find(([path]) => path === current) || SECTIONS[0];
  const section = h('section', { class: 'dash-section page--narrow' });
  const body = h('div', { class: 'dash-settings' });
  if (!load) {
    const [alerts, thresholds] = await Promise.all([api('GET', 'shop/alerts'), api('GET', 'shop/thresholds')]);
    body.append(alertsPanel(alerts), thresholdsPanel(thresholds));
  } else if (ctx.session.role !== 'owner') {
    body.append(h('p', { class: 'muted' }, `${title}: these settings are the shop owner’s to change.`));
  } else {
    const mod = await load();
    body.append(...(await mod.default(ctx)));
  }
  section.append(h('h1', { class: 'page__title' }, 'Settings'), sectionNav(current), h('h2', { class: 'dash-settings__title' }, title), body);
  return section;
}
