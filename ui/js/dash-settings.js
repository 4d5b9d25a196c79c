// The dashboard's settings: where staff alerts and the daily digest go, how long each
// status may go without carrier news before a parcel counts as stuck, the inbound webhooks'
// secrets, and API keys (the owner's). Secrets and keys are never shown back, a new key once.

import { h, text, uid } from './dom.js';
import * as fmt from './format.js';
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

const SOURCES = { '17track': ['17TRACK', 'Your 17TRACK API key (17TRACK signs its pushes with it).'], aftership: ['AfterShip', 'The webhook secret from AfterShip’s notification settings.'], standard: ['Signed webhooks', 'A Standard Webhooks secret: whsec_ and base64.'] };

function copyButton(input, label) {
  const b = h('button', { class: 'btn btn--ghost', type: 'button' }, label);
  b.addEventListener('click', async () => {
    input.select();
    try {
      await navigator.clipboard.writeText(input.value);
      text(b, 'Copied');
    } catch {
      text(b, 'Selected: copy it');
    }
  });
  return b;
}

/** A button that asks again in its own words before `act` (no dialog). */
function twoStep(label, sure, act) {
  const b = h('button', { class: 'btn btn--ghost', type: 'button' }, label);
  let armed = false;
  b.addEventListener('click', () => {
    if (!armed) {
      armed = true;
      text(b, sure);
      b.classList.add('btn--danger');
      return;
    }
    act();
  });
  return b;
}

function hooksPanel(list, rerender) {
  const rows = list.hooks.map((hook) => {
    const [name, hint] = SOURCES[hook.source] || [hook.source, ''];
    const url = h('input', { type: 'text', readonly: true, value: hook.url, 'aria-label': `Where ${name} delivers` });
    const secret = h('input', { type: 'password', name: 'secret', autocomplete: 'off', required: true });
    const msg = h('p', { class: 'inline-msg', role: 'status' });
    const remove = hook.configured
      ? twoStep('Remove the secret', 'Remove it: deliveries are then refused', async () => {
          try {
            await api('DELETE', `hooks/${hook.source}`);
            rerender(`${name}: secret removed.`);
          } catch (err) {
            status(msg, err.message, false);
          }
        })
      : null;
    const state = hook.configured
      ? `Set by ${hook.set_by} ${fmt.relative(hook.set_at)}; ${hook.last_received_at ? `last delivery ${fmt.relative(hook.last_received_at)}` : 'nothing delivered yet'}.`
      : 'Not set up: deliveries are refused.';
    const form = h(
      'form',
      { class: 'dash-hook', 'aria-label': name, dataset: { source: hook.source } },
      h('h3', { class: 'dash-hook__title' }, name),
      h('p', { class: 'muted small' }, state),
      h('div', { class: 'row' }, url, copyButton(url, 'Copy the address')),
      field(hook.configured ? 'New secret' : 'Secret', secret, hint),
      h('div', { class: 'row' }, h('button', { class: 'btn btn--primary', type: 'submit' }, 'Save the secret'), remove),
      msg,
    );
    form.addEventListener('submit', async (e) => {
      e.preventDefault();
      try {
        await api('PUT', `hooks/${hook.source}`, { secret: secret.value.trim() });
        secret.value = '';
        rerender(`${name}: secret saved.`);
      } catch (err) {
        status(msg, err.message, false);
      }
    });
    return form;
  });
  return h('div', { class: 'dash-import', role: 'group', 'aria-label': 'Inbound webhooks' }, h('h2', { class: 'panel__title' }, 'Inbound webhooks'), h('p', { class: 'muted' }, 'A tracking service that pushes updates delivers to its address here, signed with its secret. The secret is kept sealed and never shown again.'), rows);
}

function keysPanel(list, rerender, fresh) {
  const name = h('input', { type: 'text', name: 'name', required: true, maxlength: 200, autocomplete: 'off', placeholder: 'Warehouse import' });
  const scopes = ['read', 'write', 'ingest'].map((s) => h('input', { type: 'checkbox', name: 'scope', value: s, checked: s === 'read' }));
  const words = { read: 'Read orders and analytics', write: 'Change orders and settings', ingest: 'Send carrier events' };
  const msg = h('p', { class: 'inline-msg', role: 'status' });
  const form = h(
    'form',
    { class: 'dash-keys__new', 'aria-label': 'New API key' },
    field('Name', name),
    h('fieldset', { class: 'dash-scopes' }, h('legend', null, 'It may'), scopes.map((c) => h('label', { class: 'check' }, c, ` ${words[c.value]}`))),
    h('div', { class: 'row' }, h('button', { class: 'btn btn--primary', type: 'submit' }, 'Create a key')),
    msg,
  );
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    const chosen = scopes.filter((c) => c.checked).map((c) => c.value);
    if (!chosen.length) return status(msg, 'Choose what the key may do.', false);
    try {
      const made = await api('POST', 'keys', { name: name.value.trim(), scopes: chosen.join(',') });
      rerender(`Created ${made.key.name}.`, made.api_key);
    } catch (err) {
      status(msg, err.message, false);
    }
  });
  const shown = fresh ? h('input', { type: 'text', readonly: true, value: fresh, 'aria-label': 'The new key' }) : null;
  const table = list.keys.length
    ? h(
        'div',
        { class: 'dash-table-wrap' },
        h(
          'table',
          { class: 'dash-table', 'aria-label': 'API keys' },
          h('thead', null, h('tr', null, ['Name', 'Starts', 'May', 'Last used', ''].map((c) => h('th', { scope: 'col' }, c)))),
          h(
            'tbody',
            null,
            list.keys.map((k) => {
              const revoke = k.revoked_at
                ? null
                : twoStep('Revoke', 'Revoke: what uses it stops', async () => {
                    try {
                      await api('DELETE', `keys/${k.id}`);
                      rerender(`Revoked ${k.name}.`);
                    } catch (err) {
                      status(msg, err.message, false);
                    }
                  });
              return h('tr', { dataset: { key: k.id } }, h('th', { scope: 'row' }, k.name), h('td', null, h('code', null, k.prefix)), h('td', null, k.scopes), h('td', null, k.last_used_at ? fmt.relative(k.last_used_at) : 'never'), h('td', null, k.revoked_at ? `Revoked ${fmt.relative(k.revoked_at)}` : revoke));
            }),
          ),
        ),
      )
    : h('p', { class: 'muted' }, 'No keys yet.');
  return h(
    'div',
    { class: 'dash-import', role: 'group', 'aria-label': 'API keys' },
    h('h2', { class: 'panel__title' }, 'API keys'),
    h('p', { class: 'muted' }, 'For the shop’s own systems and the desktop app (Settings → Sync with a server). A key is shown once, when it is made.'),
    shown ? h('div', { class: 'dash-fresh-key', role: 'alert' }, h('p', null, h('strong', null, 'Copy this key now: it is not shown again.')), h('div', { class: 'row' }, shown, copyButton(shown, 'Copy the key'))) : null,
    table,
    form,
  );
}

/** The owner's panels; a staff member is told who can change them. */
async function ownerPanels(rerender, fresh) {
  try {
    const [hooks, keys] = await Promise.all([api('GET', 'hooks'), api('GET', 'keys')]);
    return [hooksPanel(hooks, rerender), keysPanel(keys, rerender, fresh)];
  } catch (err) {
    if (err.status === 403) return [h('p', { class: 'muted' }, 'Webhooks and API keys are the shop owner’s to change.')];
    throw err;
  }
}

export default async function settingsView() {
  const section = h('section', { class: 'dash-section page--narrow' });
  const owner = h('div', { class: 'dash-owner' });
  const rerender = async (message, fresh) => {
    owner.replaceChildren(...(await ownerPanels(rerender, fresh)));
    if (message) owner.prepend(h('p', { class: 'inline-msg inline-msg--ok', role: 'status' }, message));
  };
  const [alerts, thresholds, panels] = await Promise.all([api('GET', 'shop/alerts'), api('GET', 'shop/thresholds'), ownerPanels(rerender)]);
  owner.replaceChildren(...panels);
  section.append(
    h('h1', { class: 'page__title' }, 'Settings'),
    alertsPanel(alerts),
    thresholdsPanel(thresholds),
    owner,
    h('p', { class: 'muted small' }, 'Branding, message templates, channels, quiet hours and outbound webhooks are set through the API (see /api/v1/openapi.json).'),
  );
  return section;
}

