// Webhooks and API keys, the owner's: the inbound webhooks' addresses and secrets (sealed,
// never shown back), the shop's outbound webhook endpoints with their delivery log, and API
// keys (a new one shown once).

import { h, replace } from './dom.js';
import * as fmt from './format.js';
import { api } from './dash-api.js';
import { copyButton, field, panel, shownOnce, status, statusLine, twoStep } from './dash-form.js';

const SOURCES = { '17track': ['17TRACK', 'Your 17TRACK API key (17TRACK signs its pushes with it).'], aftership: ['AfterShip', 'The webhook secret from AfterShip’s notification settings.'], standard: ['Signed webhooks', 'A Standard Webhooks secret: whsec_ and base64.'] };

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

const EVENT_TYPES = [
  ['order.created', 'Order made'],
  ['order.updated', 'Order changed'],
  ['order.stage_changed', 'Order moved on (shipped, delivered …)'],
  ['order.removed', 'Order removed'],
  ['shipment.added', 'Parcel added'],
  ['shipment.status_changed', 'Parcel status changed'],
  ['shipment.events_added', 'Carrier news'],
  ['shipment.estimate_changed', 'Estimate changed'],
  ['shipment.problem_opened', 'Problem opened'],
  ['shipment.problem_resolved', 'Problem resolved'],
  ['request.created', 'Customer request made'],
  ['request.updated', 'Customer request decided'],
  ['feedback.given', 'Feedback given'],
];

const STATE_WORDS = { pending: 'Waiting to retry', delivering: 'Sending', delivered: 'Delivered', failed: 'Failed' };

/** One endpoint's deliveries, newest first, with a replay for those that failed. */
async function deliveryLog(hook, say) {
  const list = await api('GET', `webhooks/${hook.id}/deliveries?limit=20`);
  if (!list.deliveries.length) return h('p', { class: 'muted small' }, 'Nothing sent yet.');
  const rows = list.deliveries.map((d) => {
    const outcome = d.last_status ? `HTTP ${d.last_status}` : d.last_error || (d.state === 'delivered' ? 'OK' : '—');
    const replay =
      d.state === 'failed' || d.state === 'delivered'
        ? h(
            'button',
            {
              class: 'btn btn--ghost btn--small',
              type: 'button',
              onclick: async () => {
                try {
                  await api('POST', `webhooks/${hook.id}/deliveries/${d.id}/replay`);
                  say(`${d.event_type}: sent again.`, true);
                } catch (err) {
                  say(err.message, false);
                }
              },
            },
            'Send again',
          )
        : null;
    return h(
      'tr',
      { dataset: { delivery: d.id } },
      h('th', { scope: 'row' }, d.event_type),
      h('td', null, STATE_WORDS[d.state] || d.state),
      h('td', null, String(d.attempts)),
      h('td', null, outcome),
      h('td', null, fmt.relative(d.last_attempt_at || d.created_at)),
      h('td', null, replay),
    );
  });
  return h(
    'div',
    { class: 'dash-table-wrap', tabindex: '0', role: 'region', 'aria-label': `Deliveries to ${hook.url}` },
    h('table', { class: 'dash-table' }, h('caption', { class: 'sr-only' }, `Deliveries to ${hook.url}`), h('thead', null, h('tr', null, ['Event', 'State', 'Attempts', 'Last answer', 'When', ''].map((c) => h('th', { scope: 'col' }, c)))), h('tbody', null, rows)),
  );
}

function eventChoices(chosen) {
  const boxes = EVENT_TYPES.map(([value, words]) => h('input', { type: 'checkbox', name: 'event_type', value, checked: chosen.includes(value) }));
  const set = h('fieldset', { class: 'dash-scopes dash-events' }, h('legend', null, 'Send (none ticked: everything)'), boxes.map((b, i) => h('label', { class: 'check' }, b, ` ${EVENT_TYPES[i][1]}`)));
  return [set, () => boxes.filter((b) => b.checked).map((b) => b.value)];
}

function endpointCard(hook, rerender) {
  const msg = statusLine();
  const say = (m, ok) => status(msg, m, ok);
  const log = h('div', { class: 'dash-hook__log' }, h('p', { class: 'muted small' }, 'Loading the deliveries …'));
  const showLog = () =>
    deliveryLog(hook, say)
      .then((n) => replace(log, n))
      .catch((err) => replace(log, h('p', { class: 'inline-msg inline-msg--error' }, err.message)));
  const act = (label, fn) => h('button', { class: 'btn btn--ghost', type: 'button', onclick: fn }, label);
  const toggle = act(hook.enabled ? 'Pause' : 'Resume', async () => {
    try {
      await api('PATCH', `webhooks/${hook.id}`, { enabled: !hook.enabled });
      rerender(hook.enabled ? `Paused ${hook.url}: events wait until it resumes.` : `Resumed ${hook.url}.`);
    } catch (err) {
      say(err.message, false);
    }
  });
  const test = hook.enabled
    ? act('Send a test', async () => {
        try {
          await api('POST', `webhooks/${hook.id}/test`);
          say('A test event is on its way: it shows below.', true);
          setTimeout(showLog, 1500);
        } catch (err) {
          say(err.message, false);
        }
      })
    : null;
  const rotate = twoStep('New signing secret', 'New secret: the old one stops', async () => {
    try {
      const r = await api('POST', `webhooks/${hook.id}/rotate-secret`);
      rerender(`${hook.url}: a new signing secret.`, { label: `The signing secret of ${hook.url}`, value: r.secret });
    } catch (err) {
      say(err.message, false);
    }
  });
  const remove = twoStep('Delete', 'Delete: nothing more is sent', async () => {
    try {
      await api('DELETE', `webhooks/${hook.id}`);
      rerender(`Deleted ${hook.url}.`);
    } catch (err) {
      say(err.message, false);
    }
  });
  const types = hook.event_types.length ? hook.event_types.join(', ') : 'every event';
  const state = hook.enabled ? 'Sending' : `Paused${hook.disabled_reason ? `: ${hook.disabled_reason}` : ''}`;
  showLog();
  return h(
    'div',
    { class: 'dash-hook', role: 'group', 'aria-label': hook.url, dataset: { webhook: hook.id } },
    h('h3', { class: 'dash-hook__title' }, hook.url),
    hook.description ? h('p', null, hook.description) : null,
    h('p', { class: 'muted small' }, `${state} · ${types} · made ${fmt.relative(hook.created_at)}`),
    h('div', { class: 'row' }, toggle, test, act('Refresh the log', showLog), rotate, remove),
    msg,
    log,
  );
}

function outboundPanel(list, rerender) {
  const url = h('input', { type: 'url', name: 'url', required: true, maxlength: 2000, autocomplete: 'off', placeholder: 'https://erp.example.com/parceltrail' });
  const description = h('input', { type: 'text', name: 'description', maxlength: 500, autocomplete: 'off' });
  const [events, chosen] = eventChoices([]);
  const msg = statusLine();
  const form = h(
    'form',
    { class: 'dash-keys__new', 'aria-label': 'New webhook endpoint', novalidate: true },
    h('h3', { class: 'dash-hook__title' }, 'Add an endpoint'),
    field('Address', url, 'Events are POSTed here as JSON, signed as Standard Webhooks.'),
    field('What it is for', description),
    events,
    h('div', { class: 'row' }, h('button', { class: 'btn btn--primary', type: 'submit' }, 'Add the endpoint')),
    msg,
  );
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    try {
      const r = await api('POST', 'webhooks', { url: url.value.trim(), description: description.value.trim(), event_types: chosen() });
      rerender(`Added ${r.webhook.url}.`, { label: `The signing secret of ${r.webhook.url}`, value: r.secret });
    } catch (err) {
      status(msg, err.message, false);
    }
  });
  return panel(
    'Outbound webhooks',
    'Your own systems hear of orders, parcels, requests and feedback as they happen. Each delivery is signed with the endpoint’s secret and retried for a day; the log shows what was sent and how it was answered.',
    list.webhooks.length ? list.webhooks.map((w) => endpointCard(w, rerender)) : h('p', { class: 'muted' }, 'No endpoints yet.'),
    form,
  );
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


/** The section: every panel, drawn again after a change (with what to say and what to show once). */
export default async function accessSection() {
  const box = h('div', { class: 'dash-owner' });
  const draw = async (message, once) => {
    const [hooks, webhooks, keys] = await Promise.all([api('GET', 'hooks'), api('GET', 'webhooks'), api('GET', 'keys')]);
    const rerender = (m, o) => draw(m, o);
    replace(box,
      message ? h('p', { class: 'inline-msg inline-msg--ok', role: 'status' }, message) : '',
      once && once.value ? shownOnce('Copy this secret now: it is not shown again.', once.value, once.label) : '',
      hooksPanel(hooks, rerender),
      outboundPanel(webhooks, rerender),
      keysPanel(keys, (m, fresh) => draw(m, fresh ? { key: fresh } : null), once && once.key),
    );
  };
  await draw();
  return [box];
}
