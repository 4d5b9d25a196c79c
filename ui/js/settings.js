// Settings: the demo (while it runs), carrier accounts, notifications, appearance, start at
// login, data, about.

import { h, icon, replace, text, uid } from './dom.js';
import { call } from './transport.js';
import * as ui from './ui.js';
import * as fmt from './format.js';

const PROBLEM_KINDS = ['stuck', 'late', 'failed_attempt', 'exception', 'returned', 'customs_hold', 'expired'];

/**
 * The desktop channel's kinds as a Set of kind ids. Accepts the documented shape
 * (`channels: { desktop: [kinds] }`), a KindSet string ("all", "none", "problems",
 * "shipped,delivered,problems"), or core's `Prefs.channels` list ([{ channel, enabled, kinds }]).
 */
export function desktopKinds(notifications, allKinds) {
  const channels = notifications && notifications.channels;
  let value;
  let enabled = true;
  if (Array.isArray(channels)) {
    const c = channels.find((x) => x && x.channel === 'desktop');
    value = c ? c.kinds : undefined;
    if (c && c.enabled === false) enabled = false;
  } else if (channels && typeof channels === 'object') {
    value = channels.desktop;
  }
  if (!enabled) return new Set();
  if (value == null) return new Set(allKinds);
  const parts = Array.isArray(value) ? value : String(value).split(',');
  const set = new Set();
  for (const raw of parts) {
    const p = String(raw).trim();
    if (!p) continue;
    if (p === 'all' || p === 'default') allKinds.forEach((k) => set.add(k));
    else if (p === 'none') set.clear();
    else if (p === 'problems') PROBLEM_KINDS.forEach((k) => set.add(k));
    else set.add(p);
  }
  return set;
}

/**
 * What `save_settings` gets for `notifications`, in the shape `settings` gave: core's whole
 * `Prefs` (channels as [{ channel, enabled, kinds: "a,b" }], quiet, tz) when that is what came,
 * else the documented `{ channels: { desktop: [kinds] }, quiet }`.
 */
export function notificationsPayload(current, desktop, quiet) {
  const n = current || {};
  if (Array.isArray(n.channels)) {
    const kinds = desktop.length ? desktop.join(',') : 'none';
    let found = false;
    const channels = n.channels.map((c) => {
      if (!c || c.channel !== 'desktop') return c;
      found = true;
      return { ...c, enabled: c.enabled !== false || desktop.length > 0, kinds };
    });
    if (!found) channels.push({ channel: 'desktop', enabled: true, kinds });
    return { ...n, channels, quiet };
  }
  const channels = n.channels && typeof n.channels === 'object' ? { ...n.channels } : {};
  channels.desktop = desktop;
  return { channels, quiet };
}

const hhmm = (t) => (typeof t === 'string' ? t.slice(0, 5) : '');

export default function settingsView() {
  let settings = null;
  const titleId = uid('settings');
  const body = h('div', { class: 'settings' });
  const el = h(
    'section',
    { class: 'page page--narrow', 'aria-labelledby': titleId },
    h('a', { class: 'back-link', href: '#/' }, icon('back'), h('span', null, 'All parcels')),
    h('h1', { class: 'page__title', id: titleId }, 'Settings'),
    body,
  );

  function section(title, ...children) {
    const id = uid('sec');
    return h('section', { class: 'panel settings__section', 'aria-labelledby': id }, h('h2', { class: 'panel__title', id }, title), children);
  }

  function saved(message = 'Saved') {
    ui.announce(message);
  }

  // ---- the demo ----

  function demoSection() {
    const end = ui.button('End the demo', { testid: 'end-demo' });
    end.addEventListener('click', () =>
      ui.busy(end, async () => {
        const r = await call('end_demo', {});
        const removed = r && typeof r.removed === 'number' ? r.removed : 0;
        ui.toast(`Removed ${fmt.plural(removed, 'demo parcel')}`, 'ok');
        render(await call('settings', {}));
        // The button is gone with its section: the page's heading takes the focus.
        const title = document.getElementById(titleId);
        if (title) {
          title.setAttribute('tabindex', '-1');
          title.focus({ preventScroll: true });
        }
      }),
    );
    const sec = section('Demo', h('p', { class: 'muted' }, 'Demo parcels are moved along by the built-in simulator.'), h('div', { class: 'row' }, end));
    sec.dataset.testid = 'demo-settings';
    return sec;
  }

  // ---- carriers ----

  function carrierCard(c) {
    const fields = Array.isArray(c.fields) ? c.fields : [];
    const inputs = {};
    const msg = h('p', { class: 'inline-msg', role: 'status' });
    const headId = uid('car');
    const rows = fields.map((f) => {
      const input = h('input', {
        type: f.secret ? 'password' : 'text',
        id: uid('cf'),
        name: f.name,
        autocomplete: 'off',
        spellcheck: 'false',
        required: !c.configured,
        value: !f.secret && typeof f.value === 'string' ? f.value : '',
        placeholder: c.configured ? (f.secret ? 'Saved (type to replace)' : 'Saved') : '',
        'data-testid': `cred-${c.id}-${f.name}`,
      });
      inputs[f.name] = input;
      return h('div', { class: 'field' }, h('label', { for: input.id }, f.label || f.name), input);
    });
    const save = ui.button('Save', { kind: 'primary', type: 'submit', testid: `cred-save-${c.id}` });
    const test = ui.button('Test', { testid: `cred-test-${c.id}`, attrs: { disabled: !c.configured } });
    const forget = ui.button('Forget', { kind: 'danger-ghost', testid: `cred-forget-${c.id}`, attrs: { hidden: !c.configured } });
    const form = h('form', { class: 'carrier-form', 'aria-labelledby': headId }, h('div', { class: 'form-grid' }, rows), h('div', { class: 'row' }, save, test, forget), msg);
    const card = h(
      'div',
      { class: 'carrier', dataset: { carrier: c.id }, 'data-testid': 'carrier-settings' },
      h(
        'div',
        { class: 'carrier__head' },
        h('h3', { class: 'carrier__name', id: headId }, c.name || c.id),
        h('span', { class: `chip ${c.configured ? 'chip--ok' : 'chip--neutral'}`, 'data-testid': 'configured' }, c.configured ? 'Connected' : 'Not set up'),
      ),
      fields.length ? form : h('p', { class: 'muted small' }, 'Nothing to set up.'),
    );

    const show = (message, ok) => {
      msg.className = `inline-msg ${ok ? 'inline-msg--ok' : 'inline-msg--error'}`;
      text(msg, message);
    };
    const swap = (s, focusName, message, ok) => {
      settings = s;
      const next = (s.carriers || []).find((x) => x.id === c.id);
      if (!next) return;
      const fresh = carrierCard(next);
      card.replaceWith(fresh);
      const target = fresh.querySelector(`[data-testid="cred-${focusName}-${c.id}"]`) || fresh.querySelector('button');
      if (target && !target.disabled && !target.hidden) target.focus();
      if (message) fresh.querySelector('.inline-msg') && showIn(fresh, message, ok);
    };

    form.addEventListener('submit', (e) => {
      e.preventDefault();
      const values = {};
      for (const [name, input] of Object.entries(inputs)) {
        input.removeAttribute('aria-invalid');
        if (input.value !== '') values[name] = input.value;
      }
      if (!Object.keys(values).length) {
        show('Type the credentials first.', false);
        return;
      }
      ui.busy(save, async () => {
        try {
          const s = await call('save_credentials', { carrier: c.id, fields: values });
          saved(`${c.name} credentials saved`);
          swap(s, 'test', 'Saved. Use Test to check them.', true);
        } catch (err) {
          // The backend names a credential field as `fields.<name>`.
          const bad = err.field ? inputs[String(err.field).replace(/^fields\./, '')] : null;
          if (bad) {
            bad.setAttribute('aria-invalid', 'true');
            bad.focus();
          }
          show(err.message, false);
          throw err;
        }
      });
    });
    test.addEventListener('click', () =>
      ui.busy(test, async () => {
        text(msg, 'Testing…');
        msg.className = 'inline-msg';
        const r = await call('test_credentials', { carrier: c.id });
        show((r && r.message) || (r && r.ok ? 'It works.' : 'It did not work.'), !!(r && r.ok));
      }),
    );
    forget.addEventListener('click', async () => {
      const ok = await ui.confirmDialog({
        title: `Forget ${c.name} credentials?`,
        message: 'Parcels at this carrier will only be updated through other ways (such as the carrier site) until you set them up again.',
        confirm: 'Forget',
        danger: true,
      });
      if (!ok) return;
      ui.busy(forget, async () => {
        const s = await call('forget_credentials', { carrier: c.id });
        saved(`${c.name} credentials forgotten`);
        swap(s, 'save', 'Forgotten.', true);
      });
    });
    return card;
  }

  function showIn(card, message, ok) {
    const msg = card.querySelector('.inline-msg');
    msg.className = `inline-msg ${ok ? 'inline-msg--ok' : 'inline-msg--error'}`;
    text(msg, message);
  }

  function carriersSection(s) {
    const carriers = Array.isArray(s.carriers) ? s.carriers : [];
    return section(
      'Carriers',
      h('p', { class: 'muted' }, 'Connect carrier accounts so Parceltrail can ask them for updates. Without an account, parcels at that carrier are tracked through the carriers that are set up, where possible.'),
      s.keyring ? h('p', { class: 'muted small' }, `Credentials are kept in: ${s.keyring}`) : null,
      s.keyring_error ? h('p', { class: 'inline-msg inline-msg--error', 'data-testid': 'keyring-error' }, icon('warning'), ` ${s.keyring_error}`) : null,
      carriers.length ? h('div', { class: 'carriers' }, carriers.map(carrierCard)) : h('p', { class: 'muted' }, 'No carriers need an account.'),
    );
  }

  // ---- sync with a server ----

  function syncSection(state) {
    const msg = h('p', { class: 'inline-msg', role: 'status', 'data-testid': 'sync-status' });
    const show = (message, ok) => {
      msg.className = `inline-msg ${ok ? 'inline-msg--ok' : 'inline-msg--error'}`;
      text(msg, message);
    };
    const rerender = async () => {
      const next = await call('sync_state', {});
      const fresh = syncSection(next);
      sec.replaceWith(fresh);
      return fresh;
    };
    let sec;
    if (state && state.url) {
      const now = ui.button('Sync now', { kind: 'primary', testid: 'sync-now' });
      now.addEventListener('click', () =>
        ui.busy(now, async () => {
          try {
            const r = await call('sync_now', {});
            show(`Synced: ${fmt.plural(r.sent, 'parcel')} sent, ${fmt.plural(r.received, 'parcel')} received, ${r.changed_here} changed here.`, true);
          } catch (e) {
            show(e.message, false);
          }
        }),
      );
      const out = ui.button('Sign out', { testid: 'sync-logout' });
      out.addEventListener('click', () =>
        ui.busy(out, async () => {
          await call('sync_logout', {});
          ui.toast('Signed out of the server: this device asks the carriers again.', 'ok');
          await rerender();
        }),
      );
      sec = section(
        'Sync with a server',
        h('p', null, 'Signed in to ', h('strong', { 'data-testid': 'sync-url' }, state.url), '. The server asks the carriers; this device syncs with it every minute.'),
        h('div', { class: 'row' }, now, out),
        msg,
      );
    } else {
      const url = h('input', { type: 'text', id: uid('su'), name: 'url', inputmode: 'url', autocomplete: 'url', spellcheck: 'false', placeholder: 'https://track.example.com', 'data-testid': 'sync-url-input' });
      const key = h('input', { type: 'password', id: uid('sk'), name: 'key', autocomplete: 'off', spellcheck: 'false', placeholder: 'ptk_…', 'data-testid': 'sync-key-input' });
      const upload = h('input', { type: 'checkbox', id: uid('sup'), name: 'upload' });
      const submit = h('button', { class: 'btn btn--primary', type: 'submit', 'data-testid': 'sync-login' }, 'Sign in');
      const form = h(
        'form',
        { class: 'form-grid', novalidate: true },
        h('div', { class: 'field' }, h('label', { for: url.id }, 'Server address'), url),
        h('div', { class: 'field' }, h('label', { for: key.id }, 'API key'), key),
        h('div', { class: 'field field--check' }, upload, h('label', { for: upload.id }, 'Send the parcels already on this device too (for a server of your own)')),
        h('div', { class: 'row' }, submit),
      );
      form.addEventListener('submit', (e) => {
        e.preventDefault();
        ui.busy(submit, async () => {
          let signed;
          try {
            signed = await call('sync_login', { url: url.value.trim(), key: key.value.trim(), upload: upload.checked });
          } catch (err) {
            show(err.message, false);
            return;
          }
          const fresh = await rerender();
          const status = fresh.querySelector('[data-testid="sync-status"]');
          const first = signed.first || { received: 0, sent: 0 };
          status.className = 'inline-msg inline-msg--ok';
          text(status, `Signed in. ${fmt.plural(first.received, 'parcel')} received${first.sent ? `, ${fmt.plural(first.sent, 'parcel')} sent` : ''}.`);
        });
      });
      sec = section(
        'Sync with a server',
        h('p', { class: 'muted' }, "Sign in to a shop's server, or your own, with one of its API keys: the same parcels on every device, and the server asks the carriers."),
        form,
        msg,
      );
    }
    sec.dataset.testid = 'sync-settings';
    return sec;
  }

  // ---- notifications ----

  function notificationsSection(s) {
    const kinds = Array.isArray(s.kinds) ? s.kinds : [];
    const n = s.notifications || {};
    const on = desktopKinds(n, kinds.map((k) => k.id));
    const boxes = {};
    const kindRows = kinds.map((k) => {
      const cb = h('input', { type: 'checkbox', id: uid('kind'), checked: on.has(k.id), 'data-testid': `kind-${k.id}` });
      boxes[k.id] = cb;
      return h('div', { class: 'field field--check' }, cb, h('label', { for: cb.id }, k.label || k.id));
    });
    const quiet = n.quiet || null;
    const qOn = h('input', { type: 'checkbox', id: uid('q'), checked: !!quiet, 'data-testid': 'quiet' });
    const qStart = h('input', { type: 'time', id: uid('q'), value: hhmm(quiet && quiet.start) || '22:00', 'data-testid': 'quiet-start' });
    const qEnd = h('input', { type: 'time', id: uid('q'), value: hhmm(quiet && quiet.end) || '07:00', 'data-testid': 'quiet-end' });
    const qAllow = h('input', { type: 'checkbox', id: uid('q'), checked: quiet ? !!quiet.allow_delivered : true, 'data-testid': 'quiet-allow' });
    const qFields = h(
      'div',
      { class: 'quiet', hidden: !quiet },
      h('div', { class: 'form-grid form-grid--2' }, h('div', { class: 'field' }, h('label', { for: qStart.id }, 'From'), qStart), h('div', { class: 'field' }, h('label', { for: qEnd.id }, 'Until'), qEnd)),
      h('div', { class: 'field field--check' }, qAllow, h('label', { for: qAllow.id }, 'Let deliveries through')),
    );

    let timer = null;
    const save = () => {
      clearTimeout(timer);
      timer = setTimeout(async () => {
        const desktop = kinds.map((k) => k.id).filter((id) => boxes[id].checked);
        const quietValue = qOn.checked && qStart.value && qEnd.value ? { start: qStart.value, end: qEnd.value, allow_delivered: qAllow.checked } : null;
        try {
          const current = (settings && settings.notifications) || n;
          settings = await call('save_settings', { notifications: notificationsPayload(current, desktop, quietValue) });
          saved('Notification settings saved');
        } catch (e) {
          ui.showError(e, "Couldn't save notification settings");
        }
      }, 300);
    };
    for (const cb of Object.values(boxes)) cb.addEventListener('change', save);
    qOn.addEventListener('change', () => {
      qFields.hidden = !qOn.checked;
      save();
    });
    for (const x of [qStart, qEnd, qAllow]) x.addEventListener('change', save);

    const legendId = uid('lg');
    return section(
      'Notifications',
      h(
        'fieldset',
        { class: 'fieldset' },
        h('legend', { id: legendId }, 'Desktop notifications for'),
        kindRows.length ? h('div', { class: 'check-grid' }, kindRows) : h('p', { class: 'muted' }, 'No kinds offered.'),
      ),
      h(
        'fieldset',
        { class: 'fieldset' },
        h('legend', null, 'Quiet hours'),
        h('div', { class: 'field field--check' }, qOn, h('label', { for: qOn.id }, 'Hold notifications at night, then summarise them')),
        qFields,
        n.tz ? h('p', { class: 'muted small' }, `Times are in your time zone (${n.tz}).`) : null,
      ),
    );
  }

  // ---- appearance and system ----

  function appearanceSection(s) {
    const name = uid('theme');
    const current = s.theme || 'system';
    const radios = [
      ['system', 'System'],
      ['light', 'Light'],
      ['dark', 'Dark'],
    ].map(([value, label]) => {
      const r = h('input', { type: 'radio', name, id: uid('th'), value, checked: value === current, 'data-testid': `theme-${value}` });
      r.addEventListener('change', async () => {
        if (!r.checked) return;
        ui.applyTheme(value);
        try {
          settings = await call('save_settings', { theme: value });
          saved(`${label} theme`);
        } catch (e) {
          ui.showError(e, "Couldn't save the theme");
        }
      });
      return h('div', { class: 'segmented__item' }, r, h('label', { for: r.id }, label));
    });
    const parts = [h('fieldset', { class: 'fieldset' }, h('legend', null, 'Theme'), h('div', { class: 'segmented' }, radios))];
    if (s.autostart !== null && s.autostart !== undefined) {
      const cb = h('input', { type: 'checkbox', id: uid('auto'), checked: !!s.autostart, 'data-testid': 'autostart' });
      cb.addEventListener('change', async () => {
        try {
          settings = await call('save_settings', { autostart: cb.checked });
          saved(cb.checked ? 'Parceltrail starts at login' : 'Parceltrail no longer starts at login');
        } catch (e) {
          cb.checked = !cb.checked;
          ui.showError(e, "Couldn't change start at login");
        }
      });
      parts.push(h('div', { class: 'field field--check' }, cb, h('label', { for: cb.id }, 'Start Parceltrail when I log in')));
    }
    return section('Appearance', parts);
  }

  // ---- data ----

  function download(filename, content) {
    const type = /\.json$/i.test(filename) ? 'application/json' : 'text/csv';
    const url = URL.createObjectURL(new Blob([content], { type: `${type};charset=utf-8` }));
    const a = h('a', { href: url, download: filename || 'parceltrail-export', hidden: true });
    document.body.appendChild(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 10000);
  }

  function dataSection() {
    const result = h('div', { class: 'import-result', role: 'status', 'data-testid': 'import-result' });
    const exportBtn = (format, label) => {
      const b = ui.button(label, { iconName: 'download', testid: `export-${format}` });
      b.addEventListener('click', () =>
        ui.busy(b, async () => {
          const r = await call('export', { format });
          if (r && r.saved_to) ui.toast(`Saved to ${r.saved_to}`, 'ok');
          else if (r && typeof r.content === 'string') {
            download(r.filename || `parceltrail.${format}`, r.content);
            ui.announce(`Downloaded ${r.filename || format.toUpperCase()}`);
          }
        }),
      );
      return b;
    };
    const file = h('input', { type: 'file', id: uid('imp'), accept: '.csv,.json,text/csv,application/json', class: 'file-input', 'data-testid': 'import-file' });
    file.addEventListener('change', async () => {
      const f = file.files && file.files[0];
      if (!f) return;
      replace(result, h('p', { class: 'muted' }, `Importing ${f.name}…`));
      try {
        const content = await f.text();
        const r = await call('import', { filename: f.name, content });
        // The documented report ({ added, updated, skipped, errors: [{ line, message }] }) or
        // core's ImportReport ({ rows, added, already_tracked, events_added, errors: [{ line, reason }] }).
        const errors = Array.isArray(r.errors) ? r.errors : [];
        const updated = r.updated ?? r.already_tracked ?? 0;
        const skipped = r.skipped ?? errors.length;
        replace(
          result,
          h('p', { class: 'inline-msg inline-msg--ok' }, `${f.name}: ${r.added || 0} added, ${updated} updated, ${skipped} skipped.`),
          errors.length
            ? h(
                'ul',
                { class: 'import-errors', 'aria-label': 'Rows not imported' },
                errors.map((er) => {
                  const msg = er.message ?? er.reason ?? '';
                  return h('li', null, er.line != null ? `line ${er.line}: ${msg}` : String(msg));
                }),
              )
            : null,
        );
      } catch (e) {
        replace(result, h('p', { class: 'inline-msg inline-msg--error' }, e.message));
      } finally {
        file.value = '';
      }
    });
    return section(
      'Data',
      h('p', { class: 'muted' }, 'Export every parcel with its history, or import parcels from a CSV or JSON file (such as an earlier export).'),
      h('div', { class: 'row data-actions' }, exportBtn('csv', 'Export CSV'), exportBtn('json', 'Export JSON')),
      h('div', { class: 'field' }, h('label', { for: file.id }, 'Import a CSV or JSON file'), file),
      result,
    );
  }

  function aboutSection(s) {
    const a = s.about || {};
    const kv = (k, v) => (v ? h('div', { class: 'kv' }, h('dt', null, k), h('dd', null, h('code', { class: 'path' }, v))) : null);
    return section(
      'About',
      h('dl', { class: 'kvs' }, kv('Version', a.version), kv('Data folder', a.data_dir), kv('Database', a.database)),
      h('p', { class: 'muted small credits' }, 'Map data: Natural Earth; cities: GeoNames (CC BY 4.0)'),
    );
  }

  function render(s) {
    settings = s;
    replace(body, s.demo ? demoSection() : null, carriersSection(s), syncSection(s.sync), notificationsSection(s), appearanceSection(s), dataSection(), aboutSection(s));
  }

  return {
    el,
    async load() {
      const s = await call('settings', {});
      if (s && s.theme) ui.applyTheme(s.theme);
      render(s || {});
      document.title = 'Settings – Parceltrail';
    },
    refresh() {},
    get data() {
      return settings;
    },
  };
}
