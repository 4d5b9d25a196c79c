// Add: paste a number, a carrier link or a whole email; preview what was found; track.

import { h, icon, text, uid } from './dom.js';
import { call } from './transport.js';
import * as ui from './ui.js';
import * as fmt from './format.js';

// Kept while the app runs, so a trip to another page does not lose a paste.
const draft = { text: '', label: '', store: '', order: '' };

export default function addView(_params, ctx) {
  const titleId = uid('add');
  const pasteId = uid('paste');
  const hintId = uid('hint');
  const paste = h('textarea', {
    id: pasteId,
    class: 'paste',
    rows: '5',
    spellcheck: 'false',
    autocomplete: 'off',
    'aria-describedby': hintId,
    'data-testid': 'paste',
    value: draft.text,
  });
  const hint = h('p', { class: 'muted small', id: hintId }, 'Parceltrail finds the tracking numbers and recognises the carrier. Nothing is saved until you choose “Track”.');
  const status = h('p', { class: 'found-status', role: 'status', 'aria-live': 'polite' });
  const list = h('ul', { class: 'found-list', role: 'list', 'data-testid': 'found-list' });

  const mk = (name, label) => {
    const input = h('input', { type: 'text', id: uid('f'), name, autocomplete: 'off', value: draft[name], 'data-testid': `add-${name}` });
    input.addEventListener('input', () => {
      draft[name] = input.value;
    });
    return [input, h('div', { class: 'field' }, h('label', { for: input.id }, label), input)];
  };
  const [labelIn, labelField] = mk('label', 'Label');
  const [storeIn, storeField] = mk('store', 'Store');
  const [orderIn, orderField] = mk('order', 'Order number');
  const shared = h(
    'fieldset',
    { class: 'panel shared' },
    h('legend', { class: 'panel__title' }, 'Details (optional, for every parcel above)'),
    h('div', { class: 'form-grid' }, labelField, storeField, orderField),
  );
  const trackBtn = h('button', { type: 'submit', class: 'btn btn--primary btn--large', 'data-testid': 'track', disabled: true }, icon('plus'), h('span', null, 'Track'));
  const form = h(
    'form',
    { class: 'add-form', novalidate: true },
    h('div', { class: 'field' }, h('label', { for: pasteId, class: 'field__label--big' }, 'Paste a tracking number, a carrier link or a whole email'), paste, hint),
    status,
    list,
    shared,
    h('div', { class: 'row row--end' }, h('a', { class: 'btn', href: '#/' }, 'Cancel'), trackBtn),
  );
  const el = h(
    'section',
    { class: 'page page--narrow add', 'aria-labelledby': titleId },
    h('a', { class: 'back-link', href: '#/' }, icon('back'), h('span', null, 'All parcels')),
    h('h1', { class: 'page__title', id: titleId }, 'Add parcels'),
    form,
  );

  let rows = []; // { found, include, carrier, el }
  let timer = null;
  let seq = 0;

  function included() {
    return rows.filter((r) => r.include);
  }

  function syncTrack() {
    const n = included().length;
    trackBtn.disabled = n === 0;
    text(trackBtn.querySelector('span'), n === 0 ? 'Track' : `Track ${fmt.plural(n, 'parcel')}`);
  }

  function row(found, previous) {
    const cands = Array.isArray(found.candidates) ? found.candidates : [];
    const include = previous ? previous.include : !!found.valid && !found.tracked;
    const r = { found, include, carrier: previous ? previous.carrier : (found.carrier && found.carrier.id) || (cands[0] && cands[0].id) || null };
    const cb = h('input', { type: 'checkbox', id: uid('inc'), checked: include, 'data-testid': 'include' });
    cb.addEventListener('change', () => {
      r.include = cb.checked;
      syncTrack();
    });
    const chosen = cands.find((c) => c.id === r.carrier) || found.carrier;
    // An invalid number's reason names the carrier it looks like; no "Unknown carrier" then.
    const badge = chosen ? ui.carrierBadge(chosen) : found.valid ? h('span', { class: 'chip chip--neutral' }, 'Unknown carrier') : null;
    let select = null;
    if (found.ambiguous || cands.length > 1) {
      select = h('select', { id: uid('car'), 'data-testid': 'carrier-select' }, cands.map((c) => h('option', { value: c.id }, c.name || c.id)));
      if (r.carrier) select.value = r.carrier;
      select.addEventListener('change', () => {
        r.carrier = select.value;
        const c = cands.find((x) => x.id === select.value);
        if (c) badgeBox.replaceChildren(ui.carrierBadge(c));
      });
    }
    const badgeBox = h('span', { class: 'found__badge' }, badge);
    r.el = h(
      'li',
      { class: `found${found.valid ? '' : ' found--invalid'}`, 'data-testid': 'found', dataset: { number: found.number } },
      cb,
      h(
        'div',
        { class: 'found__body' },
        h('label', { for: cb.id, class: 'found__number' }, h('code', null, found.number)),
        badge || select || found.from_link || found.tracked
          ? h(
              'div',
              { class: 'found__meta' },
              badge || select ? badgeBox : null,
              found.from_link ? h('span', { class: 'muted small' }, 'from a carrier link') : null,
              found.tracked
                ? h('a', { class: 'chip chip--active', href: `#/parcel/${encodeURIComponent(found.tracked)}`, 'data-testid': 'tracked' }, 'Already tracked')
                : null,
            )
          : null,
        !found.valid ? h('p', { class: 'found__reason', 'data-testid': 'reason' }, icon('warning'), h('span', null, found.reason || 'Not a valid tracking number')) : null,
        select
          ? h(
              'div',
              { class: 'field field--inline' },
              h('label', { for: select.id }, found.ambiguous ? 'Which carrier?' : 'Carrier'),
              select,
            )
          : null,
      ),
    );
    return r;
  }

  function render(founds) {
    const before = new Map(rows.map((r) => [r.found.number, r]));
    rows = founds.map((f) => row(f, before.get(f.number)));
    const frag = document.createDocumentFragment();
    for (const r of rows) frag.appendChild(r.el);
    list.replaceChildren(frag);
    if (!paste.value.trim()) text(status, '');
    else if (!rows.length) text(status, 'No tracking numbers found in this text.');
    else {
      const valid = rows.filter((r) => r.found.valid).length;
      text(status, `Found ${fmt.plural(rows.length, 'number')}${valid !== rows.length ? `, ${valid} valid` : ''}.`);
    }
    syncTrack();
  }

  async function preview() {
    const value = paste.value;
    draft.text = value;
    const mine = ++seq;
    if (!value.trim()) {
      render([]);
      return;
    }
    try {
      const founds = await call('preview', { text: value });
      if (mine === seq) render(Array.isArray(founds) ? founds : []);
    } catch (e) {
      if (mine === seq) text(status, e.message);
    }
  }

  paste.addEventListener('input', () => {
    clearTimeout(timer);
    timer = setTimeout(preview, 250);
  });
  paste.addEventListener('keydown', (e) => {
    if (e.key === 'Enter' && (e.ctrlKey || e.metaKey)) {
      e.preventDefault();
      form.requestSubmit();
    }
  });

  form.addEventListener('submit', (e) => {
    e.preventDefault();
    const chosen = included();
    if (!chosen.length) return;
    const label = labelIn.value.trim();
    const store = storeIn.value.trim();
    const order = orderIn.value.trim();
    const items = chosen.map((r) => {
      const item = { number: r.found.number };
      if (r.carrier) item.carrier = r.carrier;
      if (label) item.label = label;
      if (store) item.store = store;
      if (order) item.order = order;
      return item;
    });
    ui.busy(trackBtn, async () => {
      const res = await call('add', { items });
      const added = (res && Array.isArray(res.added) ? res.added : []).filter((a) => a && a.id);
      const created = added.filter((a) => a.created !== false).length;
      ui.toast(
        created ? `Tracking ${fmt.plural(created, 'new parcel')}` : added.length ? 'Already tracked' : 'Nothing added',
        'ok',
      );
      // The first own parcel ends a running demo (its parcels are gone now).
      if (res && res.demo_ended) ui.toast('The demo has ended: your own parcels are tracked now.', 'info');
      Object.assign(draft, { text: '', label: '', store: '', order: '' });
      ctx.navigate(added.length ? `#/parcel/${encodeURIComponent(added[0].id)}` : '#/');
    });
  });

  return {
    el,
    async load() {
      document.title = 'Add parcels – Parceltrail';
      if (draft.text.trim()) await preview();
    },
    shown() {
      window.scrollTo(0, 0);
      paste.focus();
    },
    refresh() {
      if (paste.value.trim()) preview();
    },
    dispose() {
      clearTimeout(timer);
      draft.text = paste.value;
    },
  };
}
