// A parcel in full: stages, estimate, problems, carrier events, route map, and actions.

import { h, icon, replace, safeUrl, stylesheet, text, uid } from './dom.js';
import { call } from './transport.js';
import * as ui from './ui.js';
import * as fmt from './format.js';

function section(title, body, attrs = {}) {
  const id = uid('sec');
  return h('section', { class: 'panel', 'aria-labelledby': id, ...attrs }, h('h2', { class: 'panel__title', id }, title), body);
}

function stagesView(d) {
  const stages = Array.isArray(d.stages) ? d.stages : [];
  let currentIdx = -1;
  stages.forEach((s, i) => {
    if (s.reached) currentIdx = i;
  });
  const status = d.card.status;
  const branchTone = status === 'returned' || status === 'expired' ? 'danger' : 'warn';
  const list = h('ol', { class: 'stages', 'data-testid': 'stages' });
  stages.forEach((s, i) => {
    const isCurrent = i === currentIdx;
    const state = isCurrent ? 'current' : s.reached ? 'done' : 'not reached yet';
    list.appendChild(
      h(
        'li',
        {
          class: `stage${s.reached ? ' stage--reached' : ''}${isCurrent ? ' stage--current' : ''}`,
          'aria-current': isCurrent ? 'step' : null,
          dataset: { stage: s.stage },
        },
        h('span', { class: 'stage__dot' }, s.reached ? icon('check') : null),
        h('span', { class: 'stage__label' }, s.label || s.stage, ui.srOnly(`, ${state}`)),
        isCurrent && d.branch
          ? h('span', { class: `stage__branch stage__branch--${branchTone}`, 'data-testid': 'branch' }, icon('warning'), d.branch)
          : null,
      ),
    );
  });
  if (d.branch && currentIdx < 0) {
    list.appendChild(
      h('li', { class: 'stage' }, h('span', { class: `stage__branch stage__branch--${branchTone}`, 'data-testid': 'branch' }, icon('warning'), d.branch)),
    );
  }
  return list;
}

function etaView(d) {
  const c = d.card;
  if (c.status === 'delivered') {
    const at = c.last_event_at || (d.events && d.events[0] && d.events[0].occurred_at);
    return section(
      'Delivered',
      h(
        'div',
        { class: 'eta' },
        h('p', { class: 'eta__main' }, at ? fmt.dateTime(at) : 'Delivered'),
        at ? h('p', { class: 'muted' }, fmt.relative(at)) : null,
      ),
      { class: 'panel eta-card eta-card--ok', 'data-testid': 'eta' },
    );
  }
  const est = c.estimate;
  if (!c.eta_text && !est) {
    if (c.status === 'returned' || c.status === 'expired') return null;
    return section(
      'Expected delivery',
      h('p', { class: 'muted' }, 'No estimate yet. One appears once the carrier has the parcel.'),
      { class: 'panel eta-card', 'data-testid': 'eta' },
    );
  }
  const rows = [];
  if (est) {
    rows.push(h('div', { class: 'kv' }, h('dt', null, 'Window'), h('dd', null, fmt.dateWindow(est.earliest, est.latest))));
    // Words from the core, as precise as the window ("today, by 14:15"; "Fri 3 May").
    if (d.estimate_likely) rows.push(h('div', { class: 'kv' }, h('dt', null, 'Most likely'), h('dd', null, d.estimate_likely)));
    if (est.confidence != null) {
      rows.push(h('div', { class: 'kv' }, h('dt', null, 'Confidence'), h('dd', null, fmt.percent(est.confidence))));
    }
  }
  if (d.estimate_source) rows.push(h('div', { class: 'kv' }, h('dt', null, 'Source'), h('dd', null, d.estimate_source)));
  return section(
    'Expected delivery',
    h(
      'div',
      { class: 'eta' },
      c.eta_text ? h('p', { class: 'eta__main', 'data-testid': 'eta-text' }, c.eta_text) : null,
      rows.length ? h('dl', { class: 'kvs' }, rows) : null,
    ),
    { class: 'panel eta-card', 'data-testid': 'eta' },
  );
}

function problemsView(d) {
  const problems = Array.isArray(d.problems) ? d.problems : [];
  const items = problems.map((p) =>
    h(
      'li',
      { class: 'problem', 'data-testid': 'problem', dataset: { kind: p.kind } },
      icon('warning', 'problem__icon'),
      h(
        'div',
        null,
        h('p', { class: 'problem__title' }, ui.PROBLEM_LABELS[p.kind] || String(p.kind || 'Problem')),
        p.detail ? h('p', { class: 'problem__detail' }, p.detail) : null,
        p.since ? h('p', { class: 'problem__since' }, `Since ${fmt.dateTime(p.since)} (${fmt.relative(p.since)})`) : null,
      ),
    ),
  );
  if (d.card.error) {
    items.push(
      h(
        'li',
        { class: 'problem', 'data-testid': 'carrier-error' },
        icon('warning', 'problem__icon'),
        h(
          'div',
          null,
          h('p', { class: 'problem__title' }, 'Updates from the carrier are failing'),
          h('p', { class: 'problem__detail' }, d.card.error),
          // "No account: add one in Settings → Carriers" gets a way there.
          /Settings → Carriers/.test(d.card.error) ? h('p', null, h('a', { href: '#/settings', 'data-testid': 'open-settings' }, 'Open Settings')) : null,
        ),
      ),
    );
  }
  if (!items.length) return null;
  return section('Needs attention', h('ul', { class: 'problems', role: 'list' }, items), { class: 'panel panel--warn' });
}

function eventsView(d) {
  const events = Array.isArray(d.events) ? d.events : [];
  if (!events.length) return section('Updates', h('p', { class: 'muted' }, 'No updates from the carrier yet.'), { 'data-testid': 'events' });
  const list = h('ol', { class: 'events' });
  for (const e of events) {
    list.appendChild(
      h(
        'li',
        { class: `event event--${ui.tone(e.status)}`, 'data-testid': 'event', dataset: { status: e.status } },
        h('span', { class: 'event__dot', 'aria-hidden': 'true' }),
        h(
          'div',
          { class: 'event__body' },
          h(
            'p',
            { class: 'event__top' },
            h('span', { class: 'event__status' }, e.status_label || e.status),
            h('time', { class: 'event__time', datetime: e.occurred_at, title: fmt.full(e.occurred_at) }, fmt.dateTime(e.occurred_at)),
          ),
          e.description ? h('p', { class: 'event__desc', 'data-testid': 'event-description' }, e.description) : null,
          e.place ? h('p', { class: 'event__place' }, icon('pin'), h('span', null, e.place)) : null,
        ),
      ),
    );
  }
  return section(
    h('span', null, 'Updates ', h('span', { class: 'group__count' }, String(events.length))),
    list,
    { 'data-testid': 'events' },
  );
}

function orderView(d) {
  const o = d.order || {};
  const rows = [];
  const kv = (k, v) => {
    if (v != null && v !== '') rows.push(h('div', { class: 'kv' }, h('dt', null, k), h('dd', null, v)));
  };
  kv('Store', o.store);
  kv('Order number', o.order_number);
  kv('Items', o.items);
  kv('Ordered', o.placed_at ? fmt.dateTime(o.placed_at) : null);
  kv('Store promised', o.promised_at ? fmt.day(o.promised_at) : null);
  kv('Service', d.service);
  kv('Notes', o.notes);
  kv('Added', o.created_at ? fmt.dateTime(o.created_at) : null);
  if (!rows.length) return null;
  return section('Order', h('dl', { class: 'kvs' }, rows));
}

// The user's own label as typed (null when none: the title is then the store or
// "<carrier> parcel"), which the edit form starts from.
function currentLabel(d) {
  return typeof d.card.label === 'string' ? d.card.label : '';
}

export default function detailView(params, ctx) {
  const id = params.id;
  let data = null;
  let editing = false;
  let pending = false;
  let mapSig = null;
  let seq = 0;

  const titleId = uid('title');
  const head = h('div', { class: 'detail__head' });
  const editBox = h('div', { class: 'detail__edit' });
  const stagesBox = h('section', { class: 'panel stages-panel', 'aria-label': 'Journey' });
  const etaBox = h('div', { class: 'area-eta' });
  const problemsBox = h('div', { class: 'area-problems' });
  const eventsBox = h('div', { class: 'area-events' });
  const orderBox = h('div', { class: 'area-order' });
  const mapBox = h('div', { class: 'map', 'data-testid': 'map' });
  const mapTitle = uid('map');
  const mapSection = h(
    'section',
    { class: 'panel area-map map-section', 'aria-labelledby': mapTitle, hidden: true },
    h('h2', { class: 'panel__title', id: mapTitle }, 'Route'),
    mapBox,
  );

  // Actions (stable elements, so focus stays on them across updates).
  const muteBtn = ui.button('Mute', { iconName: 'bellOff', testid: 'mute' });
  const archiveBtn = ui.button('Archive', { iconName: 'archive', testid: 'archive' });
  const editBtn = ui.button('Edit', { iconName: 'edit', testid: 'edit' });
  const refreshBtn = ui.button('Refresh', { iconName: 'refresh', testid: 'refresh' });
  const removeBtn = ui.button('Remove', { iconName: 'trash', kind: 'danger-ghost', testid: 'remove' });
  const actions = h('div', { class: 'actions', role: 'group', 'aria-label': 'Parcel actions' }, muteBtn, archiveBtn, editBtn, refreshBtn, removeBtn);

  const el = h(
    'article',
    { class: 'page detail', 'aria-labelledby': titleId },
    h('a', { class: 'back-link', href: '#/' }, icon('back'), h('span', null, 'All parcels')),
    head,
    actions,
    editBox,
    stagesBox,
    h('div', { class: 'detail__grid' }, h('div', { class: 'detail__main' }, etaBox, problemsBox, eventsBox), h('div', { class: 'detail__side' }, mapSection, orderBox)),
  );

  function setBtn(btn, label, iconName) {
    const svg = btn.querySelector('svg');
    if (svg) svg.replaceWith(icon(iconName));
    text(btn.querySelector('span'), label);
  }

  async function copyNumber(number, codeEl) {
    try {
      if (!navigator.clipboard || !window.isSecureContext) throw new Error('no clipboard');
      await navigator.clipboard.writeText(number);
      ui.toast('Tracking number copied', 'ok');
    } catch {
      const range = document.createRange();
      range.selectNodeContents(codeEl);
      const sel = window.getSelection();
      sel.removeAllRanges();
      sel.addRange(range);
      let ok = false;
      try {
        ok = document.execCommand('copy');
      } catch {
        ok = false;
      }
      ui.toast(ok ? 'Tracking number copied' : 'Selected: press Ctrl+C (⌘C) to copy', ok ? 'ok' : 'info');
    }
  }

  function renderHead(d) {
    const c = d.card;
    const code = h('code', { class: 'number', 'data-testid': 'tracking-number' }, c.tracking_number);
    const copy = h(
      'button',
      { type: 'button', class: 'btn btn--small', 'data-testid': 'copy', 'aria-label': 'Copy tracking number' },
      icon('copy'),
      h('span', null, 'Copy'),
    );
    copy.addEventListener('click', () => copyNumber(c.tracking_number, code));
    const url = safeUrl(c.carrier && c.carrier.tracking_url);
    const carrierName = (c.carrier && (c.carrier.name || c.carrier.id)) || 'carrier';
    replace(
      head,
      h('h1', { class: 'page__title detail__title', id: titleId, 'data-testid': 'detail-title' }, c.title),
      h(
        'p',
        { class: 'detail__meta' },
        ui.carrierBadge(c.carrier),
        ui.statusChip(c.status, c.status_label),
        c.muted ? h('span', { class: 'chip chip--neutral' }, icon('bellOff'), 'Muted') : null,
        c.archived ? h('span', { class: 'chip chip--neutral' }, icon('archive'), 'Archived') : null,
      ),
      c.detail ? h('p', { class: 'detail__latest' }, c.detail) : null,
      h(
        'div',
        { class: 'detail__number' },
        h('span', { class: 'muted' }, 'Tracking number'),
        code,
        copy,
        url
          ? h(
              'a',
              { class: 'btn btn--small btn--ghost link-btn', href: url, target: '_blank', rel: 'noopener noreferrer', 'data-testid': 'carrier-link' },
              h('span', null, `Track on ${carrierName} site`),
              icon('external'),
              ui.srOnly(' (opens in your browser)'),
            )
          : null,
      ),
    );
    document.title = `${c.title} – Parceltrail`;
  }

  function renderMap(d) {
    const events = Array.isArray(d.events) ? d.events : [];
    const sig = JSON.stringify(events.map((e) => [e.occurred_at, e.city, e.country, e.place]));
    if (sig === mapSig) return;
    mapSig = sig;
    if (!events.some((e) => e.city || e.country || e.place)) {
      mapSection.hidden = true;
      return;
    }
    // Its styles come with it: the home screen does not need them to start.
    Promise.all([import('./map.js'), stylesheet('css/map.css')])
      .then(([m]) => {
        if (typeof m.renderRouteMap !== 'function') throw new Error('map.js has no renderRouteMap');
        mapSection.hidden = false;
        mapBox.replaceChildren();
        return m.renderRouteMap(mapBox, events);
      })
      .catch((e) => {
        mapSection.hidden = true;
        console.warn('route map unavailable:', e && e.message ? e.message : e);
      });
  }

  function render(d) {
    data = d;
    renderHead(d);
    setBtn(muteBtn, d.card.muted ? 'Unmute' : 'Mute', d.card.muted ? 'bell' : 'bellOff');
    setBtn(archiveBtn, d.card.archived ? 'Unarchive' : 'Archive', 'archive');
    replace(stagesBox, stagesView(d));
    replace(etaBox, etaView(d));
    replace(problemsBox, problemsView(d));
    replace(eventsBox, eventsView(d));
    replace(orderBox, orderView(d));
    if (el.isConnected) renderMap(d);
  }

  async function fetchDetail() {
    const mine = ++seq;
    const d = await call('detail', { id });
    return mine === seq ? d : null;
  }

  // ---- actions ----

  async function edit(args, message) {
    const d = await call('edit', { id, ...args });
    if (d && d.card) render(d);
    if (message) ui.toast(message, 'ok');
    return d;
  }

  muteBtn.addEventListener('click', () =>
    ui.busy(muteBtn, () => {
      const muted = !data.card.muted;
      return edit({ muted }, muted ? 'Notifications muted for this parcel' : 'Notifications on for this parcel');
    }),
  );
  archiveBtn.addEventListener('click', () =>
    ui.busy(archiveBtn, () => {
      const archived = !data.card.archived;
      return edit({ archived }, archived ? 'Archived' : 'Back on the list');
    }),
  );
  refreshBtn.addEventListener('click', () =>
    ui.busy(refreshBtn, async () => {
      const r = await call('refresh', { id });
      if (r && typeof r.queued === 'number') {
        // Asked in the background: news arrives as a `changed` event.
        ui.toast(r.queued ? 'Asking the carrier for news…' : 'Nothing to ask the carrier about right now', 'info');
      } else if (r && r.failed) ui.toast("Couldn't reach the carrier. Parceltrail will try again later.", 'error');
      else if (r && r.changes) ui.toast(`${fmt.plural(r.changes, 'new update')}`, 'ok');
      else ui.toast('No news from the carrier', 'info');
      const d = await fetchDetail();
      if (d) render(d);
    }),
  );
  removeBtn.addEventListener('click', async () => {
    const ok = await ui.confirmDialog({
      title: 'Remove this parcel?',
      message: `“${data.card.title}” (${data.card.tracking_number}) and its history will be removed from Parceltrail.`,
      confirm: 'Remove',
      danger: true,
    });
    if (!ok) return;
    await ui.busy(removeBtn, async () => {
      await call('remove', { id });
      ui.toast('Parcel removed', 'ok');
      ctx.navigate('#/');
    });
  });
  editBtn.addEventListener('click', () => openEdit());

  function closeEdit() {
    editing = false;
    editBox.replaceChildren();
    editBtn.setAttribute('aria-expanded', 'false');
    editBtn.focus();
    if (pending) {
      pending = false;
      refresh();
    }
  }

  function openEdit() {
    if (editing) {
      const first = editBox.querySelector('input');
      if (first) first.focus();
      return;
    }
    editing = true;
    editBtn.setAttribute('aria-expanded', 'true');
    const o = data.order || {};
    // Only the label can change here: the store and order number are set when a parcel is
    // added (the backend's `edit` takes the label, not them), so they are shown as text.
    const before = currentLabel(data);
    const labelIn = h('input', { type: 'text', id: uid('edit'), name: 'label', value: before, autocomplete: 'off', 'data-testid': 'edit-label' });
    const hintId = uid('hint');
    labelIn.setAttribute('aria-describedby', hintId);
    const fixed = [];
    if (o.store) fixed.push(h('div', { class: 'kv' }, h('dt', null, 'Store'), h('dd', { 'data-testid': 'edit-store' }, o.store)));
    if (o.order_number) fixed.push(h('div', { class: 'kv' }, h('dt', null, 'Order number'), h('dd', { 'data-testid': 'edit-order' }, o.order_number)));
    const save = ui.button('Save', { kind: 'primary', type: 'submit', testid: 'edit-save' });
    const cancel = ui.button('Cancel', { onclick: closeEdit });
    const form = h(
      'form',
      { class: 'panel edit-form', 'aria-label': 'Edit parcel', 'data-testid': 'edit-form' },
      h(
        'div',
        { class: 'form-grid' },
        h(
          'div',
          { class: 'field' },
          h('label', { for: labelIn.id }, 'Label'),
          labelIn,
          h('p', { class: 'muted small', id: hintId }, o.store ? `Leave it empty to call the parcel “${o.store}”.` : 'Leave it empty to clear it.'),
        ),
        fixed.length ? h('dl', { class: 'kvs edit-form__fixed' }, fixed) : null,
      ),
      h('div', { class: 'row' }, save, cancel),
    );
    form.addEventListener('keydown', (e) => {
      if (e.key === 'Escape') {
        e.preventDefault();
        closeEdit();
      }
    });
    form.addEventListener('submit', (e) => {
      e.preventDefault();
      labelIn.removeAttribute('aria-invalid');
      // Only a changed label is sent ("" clears it).
      const label = labelIn.value.trim();
      if (label === before) {
        closeEdit();
        return;
      }
      ui.busy(save, async () => {
        try {
          await edit({ label }, 'Saved');
          closeEdit();
        } catch (err) {
          if (err.field === 'label') {
            labelIn.setAttribute('aria-invalid', 'true');
            labelIn.focus();
          }
          throw err;
        }
      });
    });
    replace(editBox, form);
    labelIn.focus();
  }

  async function load() {
    const d = await fetchDetail();
    if (d) render(d);
  }

  async function refresh(change) {
    if (change && Array.isArray(change.ids) && !change.ids.includes(id)) return;
    if (editing) {
      pending = true;
      return;
    }
    try {
      const d = await fetchDetail();
      if (d) render(d);
    } catch (e) {
      // Removed elsewhere: back to the list.
      if (e && e.status === 404) {
        ui.toast('This parcel was removed', 'info');
        ctx.navigate('#/');
      } else ui.showError(e);
    }
  }

  function shown() {
    window.scrollTo(0, 0);
    if (data) renderMap(data);
  }

  return { el, load, refresh, shown, dispose() {} };
}
