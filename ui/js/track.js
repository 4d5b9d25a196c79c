// The customer's tracking page, served by the shop server: `/track` finds an order by its
// number and the email address or postcode; `/t/{token}` (a signed link, or where a lookup
// leads) shows every parcel of the order, live. Everything from the shop, the customer or a
// carrier is inserted as text (dom.js never parses markup).

import { h, icon, safeUrl } from './dom.js';
import { carrierBadge, inkFor, tone } from './ui.js';
import * as i18n from './i18n.js';

const { t } = i18n;
const $ = (id) => document.getElementById(id);
const STORED_LANG = 'parceltrail.track.lang';
const STAGES = ['ordered', 'shipped', 'in_transit', 'out_for_delivery', 'delivered'];

function storedLanguage() {
  try {
    return localStorage.getItem(STORED_LANG);
  } catch {
    return null;
  }
}

async function api(method, path, body) {
  const res = await fetch(`/api/v1/${path}`, {
    method,
    headers: body === undefined ? { Accept: 'application/json' } : { Accept: 'application/json', 'Content-Type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
    credentials: 'omit',
  });
  const data = await res.json().catch(() => null);
  return { status: res.status, data, retryAfter: Number(res.headers.get('Retry-After')) || null };
}

function announce(message) {
  const el = $('announce');
  el.textContent = '';
  // A change the live region notices even when the words repeat.
  setTimeout(() => {
    el.textContent = message;
  }, 50);
}

function show(...children) {
  const main = $('main');
  main.replaceChildren(...children.filter(Boolean));
  main.setAttribute('aria-busy', 'false');
}

/** The shop's name, logo and colour in the page's header and accents. */
function brand(shop) {
  if (!shop) return;
  const name = $('shop-name');
  const logo = typeof shop.logo === 'string' && /^data:image\/(png|jpeg|webp);base64,/.test(shop.logo) ? shop.logo : null;
  name.replaceChildren(...[logo ? h('img', { class: 'track-top__logo', src: logo, alt: '' }) : null, h('span', null, shop.name || '')].filter(Boolean));
  const root = document.documentElement.style;
  if (typeof shop.color === 'string' && /^#[0-9a-f]{6}$/i.test(shop.color)) {
    root.setProperty('--accent', shop.color);
    root.setProperty('--on-accent', inkFor(shop.color) === 'light' ? '#ffffff' : '#000000');
  } else {
    root.removeProperty('--accent');
    root.removeProperty('--on-accent');
  }
}

// ---------------------------------------------------------------- lookup

function shopParam() {
  return new URLSearchParams(location.search).get('shop');
}

function lookupForm({ heading = true } = {}) {
  const error = h('p', { class: 'account__error', id: 'lookup-error', role: 'alert', hidden: true });
  const number = h('input', { id: 'order-number', name: 'order_number', type: 'text', autocomplete: 'off', required: true, spellcheck: 'false', 'aria-describedby': 'lookup-error' });
  const secret = h('input', { id: 'email-or-postcode', name: 'email_or_postcode', type: 'text', autocomplete: 'email', required: true, spellcheck: 'false', 'aria-describedby': 'lookup-error' });
  const submit = h('button', { class: 'btn btn--primary btn--large', type: 'submit' }, t('lookup.submit'));
  const fail = (message) => {
    error.textContent = message;
    error.hidden = !message;
  };
  const form = h(
    'form',
    { class: 'account__form track-lookup', id: 'lookup-form', novalidate: true },
    h('div', { class: 'field' }, h('label', { for: 'order-number' }, t('lookup.number')), number),
    h('div', { class: 'field' }, h('label', { for: 'email-or-postcode' }, t('lookup.secret')), secret),
    error,
    submit,
  );
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    if (!number.value.trim() || !secret.value.trim()) return fail(t('lookup.missing'));
    fail('');
    submit.disabled = true;
    submit.setAttribute('aria-busy', 'true');
    try {
      const body = { order_number: number.value, email_or_postcode: secret.value };
      if (shopParam()) body.shop = shopParam();
      const r = await api('POST', 'track/lookup', body);
      if (r.status === 200 && r.data && typeof r.data.url === 'string' && r.data.url.startsWith('/t/')) {
        location.assign(r.data.url + (new URLSearchParams(location.search).has('lang') ? `?lang=${i18n.language()}` : ''));
        return;
      }
      if (r.status === 429) fail(t('lookup.throttled', { secs: r.retryAfter || 60 }));
      else if (r.status === 404 && r.data && /no-match$/.test(r.data.type || '')) fail(t('lookup.nomatch'));
      else if (r.status === 404) fail(t('lookup.noshop'));
      else if (r.status === 422) fail(t('lookup.missing'));
      else fail(t('error.load'));
    } catch {
      fail(t('error.load'));
    } finally {
      submit.disabled = false;
      submit.setAttribute('aria-busy', 'false');
    }
  });
  return h(
    'section',
    { class: 'track-card track-card--lookup', 'aria-labelledby': heading ? 'lookup-title' : null },
    heading ? h('h1', { class: 'track-title', id: 'lookup-title' }, t('lookup.title')) : null,
    h('p', { class: 'muted' }, t('lookup.lead')),
    form,
  );
}

async function lookupPage() {
  document.title = t('page.title');
  const q = shopParam() ? `?shop=${encodeURIComponent(shopParam())}` : '';
  const r = await api('GET', `track/shop${q}`).catch(() => null);
  if (r && r.status === 200 && r.data) brand(r.data);
  show(lookupForm());
}

// ---------------------------------------------------------------- the order

function stagesView(p) {
  const current = STAGES.reduce((acc, s, i) => (p.stages.find((x) => x.stage === s && x.reached) ? i : acc), -1);
  const branchTone = p.status === 'returned' || p.status === 'expired' ? 'danger' : 'warn';
  return h(
    'ol',
    { class: 'stages track-stages', 'data-testid': 'stages' },
    STAGES.map((s, i) => {
      const reached = i <= current;
      const isCurrent = i === current;
      return h(
        'li',
        { class: `stage${reached ? ' stage--reached' : ''}${isCurrent ? ' stage--current' : ''}`, 'aria-current': isCurrent ? 'step' : null, dataset: { stage: s } },
        h('span', { class: 'stage__dot' }, reached ? icon('check') : null),
        h('span', { class: 'stage__label' }, t(`stage.${s}`), h('span', { class: 'sr-only' }, `, ${t(isCurrent ? 'stage.current' : reached ? 'stage.done' : 'stage.todo')}`)),
        isCurrent && p.branch
          ? h('span', { class: `stage__branch stage__branch--${branchTone}`, 'data-testid': 'branch' }, icon('warning'), t(`status.${p.branch}`))
          : null,
      );
    }),
  );
}

function etaView(p) {
  if (p.status === 'delivered') {
    return h(
      'div',
      { class: 'track-eta track-eta--ok', 'data-testid': 'eta' },
      h('p', { class: 'track-eta__label' }, t('delivered.title')),
      h('p', { class: 'track-eta__main' }, p.delivered_at ? i18n.dateTime(p.delivered_at) : t('status.delivered')),
    );
  }
  const e = p.estimate;
  if (!e) {
    if (p.status === 'returned' || p.status === 'expired') return null;
    return h('div', { class: 'track-eta', 'data-testid': 'eta' }, h('p', { class: 'track-eta__label' }, t('eta.title')), h('p', { class: 'muted' }, t('eta.none')));
  }
  return h(
    'div',
    { class: 'track-eta', 'data-testid': 'eta' },
    h('p', { class: 'track-eta__label' }, t('eta.title')),
    h('p', { class: 'track-eta__main', 'data-testid': 'eta-window' }, i18n.dateWindow(e.earliest, e.latest)),
    // As precise as the window: a time within one day, a day within several.
    h('p', { class: 'muted' }, t('eta.likely', { date: i18n.sameDay(e.earliest, e.latest) ? i18n.time(e.likely) : i18n.day(e.likely) })),
    typeof e.confidence === 'number' ? h('p', { class: 'muted track-eta__confidence' }, t('eta.confidence', { p: i18n.percent(e.confidence) })) : null,
  );
}

/** The order's estimate from its placing, before a parcel moves: the shop's own orders. */
function orderEtaView(e) {
  if (!e) return null;
  return h(
    'div',
    { class: 'track-eta', 'data-testid': 'order-eta' },
    h('p', { class: 'track-eta__label' }, t('eta.title')),
    // Days, not hours: the shop's past orders say no more than that.
    h('p', { class: 'track-eta__main', 'data-testid': 'eta-window' }, i18n.sameDay(e.earliest, e.latest) ? i18n.day(e.likely) : t('eta.window', { from: i18n.day(e.earliest), to: i18n.day(e.latest) })),
    i18n.sameDay(e.earliest, e.latest) ? null : h('p', { class: 'muted' }, t('eta.likely', { date: i18n.day(e.likely) })),
    h('p', { class: 'muted track-eta__confidence' }, t('eta.orders', { p: i18n.percent(e.confidence), n: e.orders })),
  );
}

function eventsView(p) {
  if (!p.events.length) return h('p', { class: 'muted' }, t('events.none'));
  return h(
    'ol',
    { class: 'track-events', 'data-testid': 'events' },
    p.events.map((e) =>
      h(
        'li',
        { class: 'track-event', dataset: { status: e.status } },
        h('time', { class: 'track-event__time', datetime: e.occurred_at }, i18n.dateTime(e.occurred_at)),
        h('p', { class: 'track-event__what' }, e.description || t(`status.${e.status}`)),
        e.place ? h('p', { class: 'track-event__where muted' }, e.place) : null,
      ),
    ),
  );
}

let mapModule = null;
function mapView(p) {
  if (!p.events.some((e) => e.city || e.place)) return null;
  const box = h('div', { class: 'map-box', 'data-testid': 'route-map' });
  if (!mapModule) {
    const css = h('link', { rel: 'stylesheet', href: '/css/map.css' });
    document.head.appendChild(css);
    mapModule = import('./map.js');
  }
  mapModule.then((m) => m.renderRouteMap(box, p.events)).catch(() => box.remove());
  return h('details', { class: 'track-map' }, h('summary', null, t('map.title')), box);
}

// ---------------------------------------------------------------- requests and feedback

// Set while the visitor fills a form: a live update then waits, so nothing typed is lost.
let editing = false;

function requestItem(token, r, reload) {
  const shop = [...(r.history || [])].reverse().find((x) => x.by === 'shop' && x.note);
  const tones = { open: 'active', approved: 'ok', rejected: 'danger', withdrawn: 'neutral' };
  const withdraw =
    r.state === 'open'
      ? h('button', { type: 'button', class: 'btn btn--ghost', 'data-testid': 'withdraw' }, t('req.withdraw'))
      : null;
  if (withdraw) {
    withdraw.addEventListener('click', async () => {
      withdraw.disabled = true;
      const res = await api('POST', `track/${encodeURIComponent(token)}/requests/${encodeURIComponent(r.id)}/withdraw`).catch(() => null);
      if (res && res.status === 200) announce(t('req.withdrawn.done'));
      await reload();
    });
  }
  return h(
    'li',
    { class: 'track-request', 'data-testid': 'request', dataset: { state: r.state, kind: r.kind } },
    h('p', { class: 'track-request__head' }, h('strong', null, t(`req.kind.${r.kind}`)), ' ', h('span', { class: `chip chip--${tones[r.state] || 'neutral'}` }, t(`req.state.${r.state}`))),
    r.address ? h('p', { class: 'track-address' }, r.address) : null,
    r.postcode ? h('p', null, r.postcode) : null,
    r.text ? h('p', { class: 'track-address' }, r.text) : null,
    h('p', { class: 'muted' }, t('req.asked', { date: i18n.day(r.created_at) })),
    shop ? h('p', { 'data-testid': 'shop-note' }, t('req.shop_said', { note: shop.note })) : null,
    withdraw,
  );
}

function requestForm(token, allowed, reload) {
  const status = h('p', { class: 'muted', role: 'status', 'data-testid': 'request-status' });
  const radios = allowed.map((k, i) =>
    h('div', { class: 'field field--check' }, h('input', { type: 'radio', name: 'req-kind', id: `req-${k}`, value: k, checked: i === 0 }), h('label', { for: `req-${k}` }, t(`req.kind.${k}`))),
  );
  const address = h('textarea', { id: 'req-address', rows: 3, maxlength: 500, autocomplete: 'street-address' });
  const postcode = h('input', { id: 'req-postcode', maxlength: 20, autocomplete: 'postal-code' });
  const text = h('textarea', { id: 'req-text', rows: 3, maxlength: 1000 });
  const textLabel = h('label', { for: 'req-text' });
  const addressFields = h(
    'div',
    null,
    h('div', { class: 'field' }, h('label', { for: 'req-address' }, t('req.address')), address),
    h('div', { class: 'field' }, h('label', { for: 'req-postcode' }, t('req.postcode')), postcode),
  );
  const form = h(
    'form',
    { class: 'track-form', novalidate: true, 'data-testid': 'request-form' },
    h('fieldset', null, h('legend', null, t('req.kind')), radios),
    addressFields,
    h('div', { class: 'field' }, textLabel, text),
    h('button', { type: 'submit', class: 'btn btn--primary' }, t('req.send')),
    status,
  );
  const kind = () => (form.querySelector('input[name="req-kind"]:checked') || {}).value;
  const fit = () => {
    const k = kind();
    addressFields.hidden = k !== 'address';
    textLabel.textContent = k === 'instructions' ? t('req.instructions') : t('req.reason');
  };
  form.addEventListener('change', fit);
  form.addEventListener('input', () => {
    editing = true;
  });
  fit();
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    const k = kind();
    const body = { kind: k, text: text.value.trim() || undefined };
    if (k === 'address') {
      body.address = address.value.trim() || undefined;
      body.postcode = postcode.value.trim() || undefined;
    }
    if ((k === 'address' && !body.address) || (k === 'instructions' && !body.text)) {
      status.textContent = t('req.missing');
      (k === 'address' ? address : text).focus();
      return;
    }
    const button = form.querySelector('button');
    button.disabled = true;
    const res = await api('POST', `track/${encodeURIComponent(token)}/requests`, body).catch(() => null);
    button.disabled = false;
    if (!res || res.status !== 201) {
      status.textContent = (res && res.data && res.data.detail) || t('error.load');
      return;
    }
    editing = false;
    announce(t('req.sent'));
    await reload();
  });
  return form;
}

function requestsView(token, req, reload, progress) {
  if (!req) return null;
  // A delivered order has nothing left to change: no card unless it has requests to show.
  if (progress === 'delivered' && !req.list.length) return null;
  const codes = Object.values(req.not_now || {});
  const why = ['cancelled', 'out_for_delivery', 'shipped'].filter((c) => codes.includes(c)).slice(0, 1);
  return h(
    'section',
    { class: 'track-card', 'aria-labelledby': 'req-title', 'data-testid': 'requests' },
    h('h2', { class: 'track-card__title', id: 'req-title' }, t('req.title')),
    req.list.length ? h('ul', { class: 'track-requests' }, req.list.map((r) => requestItem(token, r, reload))) : null,
    req.allowed.length ? [h('p', { class: 'muted' }, t('req.lead')), requestForm(token, req.allowed, reload)] : null,
    !req.allowed.length && why.length ? h('p', { class: 'muted', 'data-testid': 'request-closed' }, t('req.none', { why: t(`req.why.${why[0]}`) })) : null,
  );
}

function feedbackView(token, p, i, reload, anchor) {
  if (p.status !== 'delivered') return null;
  const f = p.feedback;
  const open = !f || new Date(f.editable_until) > new Date();
  const status = h('p', { class: 'muted', role: 'status', 'data-testid': 'feedback-status' });
  const stars = [1, 2, 3, 4, 5].map((n) =>
    h(
      'span',
      { class: 'track-star' },
      h('input', { type: 'radio', name: `fb-${i}`, id: `fb-${i}-${n}`, value: String(n), checked: f ? f.rating === n : false }),
      h('label', { for: `fb-${i}-${n}`, title: t('fb.star', { n }) }, h('span', { 'aria-hidden': 'true' }, '★'), h('span', { class: 'sr-only' }, t('fb.star', { n }))),
    ),
  );
  const comment = h('textarea', { id: `fb-${i}-comment`, rows: 2, maxlength: 1000 });
  comment.value = (f && f.comment) || '';
  const form = open
    ? h(
        'form',
        { class: 'track-form', novalidate: true, 'data-testid': 'feedback-form' },
        h('fieldset', { class: 'track-stars' }, h('legend', null, t('fb.rating')), stars),
        h('div', { class: 'field' }, h('label', { for: `fb-${i}-comment` }, t('fb.comment')), comment),
        h('button', { type: 'submit', class: 'btn btn--primary' }, f ? t('fb.update') : t('fb.send')),
        status,
      )
    : null;
  if (form) {
    form.addEventListener('input', () => {
      editing = true;
    });
    form.addEventListener('submit', async (e) => {
      e.preventDefault();
      const picked = form.querySelector(`input[name="fb-${i}"]:checked`);
      if (!picked) {
        status.textContent = t('fb.missing');
        return;
      }
      const button = form.querySelector('button');
      button.disabled = true;
      const res = await api('PUT', `track/${encodeURIComponent(token)}/parcels/${encodeURIComponent(p.id)}/feedback`, {
        rating: Number(picked.value),
        comment: comment.value.trim() || undefined,
      }).catch(() => null);
      button.disabled = false;
      if (!res || res.status !== 200) {
        status.textContent = (res && res.data && res.data.detail) || t('error.load');
        return;
      }
      editing = false;
      announce(t('fb.thanks', { n: res.data.rating }));
      await reload();
    });
  }
  return h(
    'div',
    { class: 'track-feedback', id: anchor ? 'feedback' : undefined, 'data-testid': 'feedback' },
    h('h3', { class: 'track-card__sub' }, t('fb.title')),
    f ? h('p', { 'data-testid': 'feedback-given' }, t('fb.thanks', { n: f.rating })) : null,
    f && open ? h('p', { class: 'muted' }, t('fb.until', { date: i18n.day(f.editable_until) })) : null,
    form,
  );
}

function parcelView(p, i, n, token, reload, anchor) {
  const link = safeUrl(p.carrier.tracking_url);
  return h(
    'section',
    { class: 'track-card', 'data-testid': 'parcel', 'aria-labelledby': `parcel-${i}` },
    h(
      'div',
      { class: 'track-card__head' },
      h('h2', { class: 'track-card__title', id: `parcel-${i}` }, n > 1 ? t('parcel.title', { i: i + 1, n }) : t('parcel.only')),
      h('span', { class: `chip chip--${tone(p.status)}`, 'data-testid': 'status', dataset: { status: p.status } }, t(`status.${p.status}`)),
    ),
    h(
      'p',
      { class: 'track-card__carrier' },
      carrierBadge(p.carrier),
      h('span', { class: 'sr-only' }, `${t('parcel.number')}: `),
      h('span', { class: 'track-card__number', 'data-testid': 'tracking-number' }, p.tracking_number),
    ),
    stagesView(p),
    etaView(p),
    feedbackView(token, p, i, reload, anchor),
    h('h3', { class: 'track-card__sub' }, t('events.title')),
    eventsView(p),
    mapView(p),
    link
      ? h('p', { class: 'track-card__carrier-link' }, h('a', { href: link, rel: 'noopener noreferrer', target: '_blank' }, t('parcel.carrier', { carrier: p.carrier.name }), icon('external')))
      : null,
  );
}

function orderView(d, token, reload) {
  const o = d.order;
  const facts = [
    o.placed_at ? t('order.placed', { date: i18n.day(o.placed_at) }) : null,
    o.promised_at && o.progress !== 'delivered' ? t('order.promised', { date: i18n.day(o.promised_at) }) : null,
  ].filter(Boolean);
  const delivery = d.delivery && (d.delivery.address || d.delivery.postcode);
  return [
    h(
      'section',
      { class: 'track-head', 'aria-labelledby': 'order-title' },
      h('h1', { class: 'track-title', id: 'order-title' }, o.order_number ? t('order.title', { number: o.order_number }) : t('order.untitled')),
      h('p', { class: 'track-head__progress' }, h('span', { class: `chip chip--${o.progress === 'delivered' ? 'ok' : o.progress === 'cancelled' ? 'danger' : 'active'}`, 'data-testid': 'progress' }, t(`progress.${o.progress}`))),
      d.first_name ? h('p', { class: 'track-head__greeting' }, t('order.greeting', { name: d.first_name })) : null,
      facts.length ? h('p', { class: 'muted' }, facts.join(' · ')) : null,
      o.items ? h('p', { class: 'track-head__items' }, h('span', { class: 'muted' }, `${t('order.items')}: `), o.items) : null,
      orderEtaView(o.estimate),
    ),
    d.parcels.length ? d.parcels.map((p, i) => parcelView(p, i, d.parcels.length, token, reload, i === d.parcels.findIndex((x) => x.status === 'delivered'))) : h('section', { class: 'track-card' }, h('p', null, t('order.noparcels'))),
    delivery
      ? h(
          'section',
          { class: 'track-card', 'aria-labelledby': 'delivery-title', 'data-testid': 'delivery' },
          h('h2', { class: 'track-card__title', id: 'delivery-title' }, t('delivery.title')),
          d.delivery.name ? h('p', null, d.delivery.name) : null,
          d.delivery.address ? h('p', { class: 'track-address' }, d.delivery.address) : null,
          d.delivery.postcode ? h('p', null, d.delivery.postcode) : null,
        )
      : null,
    requestsView(token, d.requests, reload, o.progress),
    notificationsView(token, d.notifications),
    h('p', { class: 'track-foot muted' }, `${t('live.on')} ${t('link.valid', { date: i18n.day(d.expires_at) })}`),
  ].flat();
}

/** The VAPID key as `applicationServerKey` wants it. */
function keyBytes(b64url) {
  const b64 = b64url.replace(/-/g, '+').replace(/_/g, '/');
  const raw = atob(b64 + '='.repeat((4 - (b64.length % 4)) % 4));
  return Uint8Array.from(raw, (c) => c.charCodeAt(0));
}

/** "Notify me in this browser": Web Push, where the browser can and the shop offers it. */
function pushSwitch(token, status) {
  if (!('serviceWorker' in navigator) || !('PushManager' in window) || !window.isSecureContext) return null;
  const box = h('input', { type: 'checkbox', id: 'notify-push', dataset: { channel: 'push' } });
  const path = `track/${encodeURIComponent(token)}/push`;
  const registration = () => navigator.serviceWorker.register('/sw.js').then(() => navigator.serviceWorker.ready);
  registration()
    .then((reg) => reg.pushManager.getSubscription())
    .then((sub) => {
      box.checked = Boolean(sub);
    })
    .catch(() => {});
  box.addEventListener('change', async () => {
    box.disabled = true;
    try {
      const reg = await registration();
      if (box.checked) {
        if ((await Notification.requestPermission()) !== 'granted') throw new Error('blocked');
        const key = await api('GET', 'push/key');
        if (key.status !== 200) throw new Error(String(key.status));
        const sub = await reg.pushManager.subscribe({ userVisibleOnly: true, applicationServerKey: keyBytes(key.data.public_key) });
        const r = await api('PUT', path, sub.toJSON());
        if (r.status !== 204) throw new Error(String(r.status));
      } else {
        const sub = await reg.pushManager.getSubscription();
        if (sub) {
          await api('DELETE', `${path}?endpoint=${encodeURIComponent(sub.endpoint)}`);
          await sub.unsubscribe();
        }
      }
      status.textContent = t('notify.saved');
    } catch (e) {
      box.checked = !box.checked;
      status.textContent = e && e.message === 'blocked' ? t('notify.push.blocked') : t('notify.push.failed');
    } finally {
      box.disabled = false;
    }
  });
  return h('div', { class: 'field field--check' }, box, h('label', { for: 'notify-push' }, t('notify.push')));
}

/** The customer's language and zone go with every choice they save: their messages are then worded and timed for them. */
function whoIAm() {
  let zone = null;
  try {
    zone = Intl.DateTimeFormat().resolvedOptions().timeZone || null;
  } catch {
    zone = null;
  }
  return zone ? { language: i18n.language(), time_zone: zone } : { language: i18n.language() };
}

const NEWS = ['shipped', 'out_for_delivery', 'ready_for_pickup', 'delivered', 'problems'];

function notificationsView(token, n) {
  const channels = ['email', 'sms'].filter((c) => n && n[c] && n[c].available);
  const status = h('p', { class: 'muted', role: 'status', 'data-testid': 'notify-status' });
  const push = n && n.push && n.push.available ? pushSwitch(token, status) : null;
  if (!channels.length && !push) return null;
  const save = async (box, change) => {
    box.disabled = true;
    try {
      const r = await api('PUT', `track/${encodeURIComponent(token)}/notifications`, { ...change(), ...whoIAm() });
      if (r.status !== 200) throw new Error(String(r.status));
      status.textContent = t('notify.saved');
    } catch {
      box.checked = !box.checked;
      status.textContent = t('error.load');
    } finally {
      box.disabled = false;
    }
  };
  const boxes = channels.map((c) => {
    const box = h('input', { type: 'checkbox', id: `notify-${c}`, checked: n[c].on, dataset: { channel: c } });
    box.addEventListener('change', () => save(box, () => ({ [c]: box.checked })));
    return h('div', { class: 'field field--check' }, box, h('label', { for: `notify-${c}` }, t(`notify.${c}`)));
  });
  const chosen = new Set(Array.isArray(n.news) ? n.news : NEWS);
  const newsBoxes = NEWS.map((k) => {
    const box = h('input', { type: 'checkbox', id: `news-${k}`, checked: chosen.has(k), dataset: { news: k } });
    box.addEventListener('change', () =>
      save(box, () => ({ news: NEWS.filter((x) => document.getElementById(`news-${x}`)?.checked) })),
    );
    return h('div', { class: 'field field--check' }, box, h('label', { for: `news-${k}` }, t(`news.${k}`)));
  });
  const news = h(
    'fieldset',
    { class: 'fieldset track-news', 'data-testid': 'notify-news' },
    h('legend', null, t('news.title')),
    newsBoxes,
  );
  const q = n.quiet_hours;
  const quiet = q
    ? h('p', { class: 'muted', 'data-testid': 'notify-quiet' }, t(q.delivered_through ? 'notify.quiet.delivered' : 'notify.quiet', { start: q.start, end: q.end }))
    : null;
  return h(
    'section',
    { class: 'track-card', 'aria-labelledby': 'notify-title', 'data-testid': 'notifications' },
    h('h2', { class: 'track-card__title', id: 'notify-title' }, t('notify.title')),
    h('p', { class: 'muted' }, t('notify.lead')),
    boxes,
    push,
    news,
    quiet,
    status,
  );
}

function refusedView(status, type) {
  const kind = /link-expired$/.test(type || '') ? 'expired' : /link-revoked$/.test(type || '') ? 'revoked' : status === 404 ? 'invalid' : null;
  if (!kind) return [h('p', { class: 'account__error', role: 'alert' }, t('error.load'))];
  return [
    h('section', { class: 'track-card track-card--refused', 'data-testid': 'refused', dataset: { reason: kind } }, h('h1', { class: 'track-title' }, t(`link.${kind}`)), h('p', null, t('link.lookup'))),
    lookupForm({ heading: false }),
  ];
}

let live = null;

async function orderPage(token) {
  if (live) live.close();
  const load = async () => {
    const r = await api('GET', `track/${encodeURIComponent(token)}`);
    if (r.status !== 200 || !r.data) {
      document.title = t('page.title');
      show(...refusedView(r.status, r.data && r.data.type));
      return false;
    }
    const d = r.data;
    // A browser that speaks none of the page's languages reads the order's (the shop's, or
    // the one the customer chose before).
    if (languageOpen && d.notifications && d.notifications.language) {
      languageOpen = false;
      if (d.notifications.language !== i18n.language()) {
        i18n.setLanguage(d.notifications.language);
        $('lang').value = i18n.language();
        $('lang-label').textContent = t('lang.label');
      }
    }
    brand(d.shop);
    document.title = d.order.order_number ? `${t('order.title', { number: d.order.order_number })} · ${d.shop.name}` : d.shop.name;
    // Keep what the visitor opened (the map, the history) open across a live update.
    const open = [...document.querySelectorAll('details[open]')].map((el) => [...document.querySelectorAll('details')].indexOf(el));
    editing = false;
    show(...orderView(d, token, load));
    const all = [...document.querySelectorAll('details')];
    for (const i of open) if (all[i]) all[i].open = true;
    return true;
  };
  let ok;
  try {
    ok = await load();
    // An email's "rate it" link: the form is drawn after the page loaded.
    if (ok && location.hash === '#feedback') {
      const target = $('feedback');
      if (target) target.scrollIntoView();
    }
  } catch {
    show(h('p', { class: 'account__error', role: 'alert' }, t('error.load')));
    return;
  }
  if (!ok || typeof EventSource === 'undefined') return;
  const source = new EventSource(`/api/v1/track/${encodeURIComponent(token)}/events`);
  live = source;
  source.addEventListener('changed', async () => {
    // What the visitor is typing stays; the page catches up when the form is sent.
    if (editing) return;
    try {
      if (await load()) announce(t('live.updated'));
      else source.close();
    } catch {
      // The next change tries again.
    }
  });
}

// ---------------------------------------------------------------- unsubscribing

function unsubscribePage(token) {
  document.title = t('unsub.title');
  const status = h('p', { role: 'status', 'data-testid': 'unsubscribed' });
  const button = h('button', { class: 'btn btn--primary btn--large', type: 'button' }, t('unsub.button'));
  button.addEventListener('click', async () => {
    button.disabled = true;
    try {
      // The same request a mail client's one-click unsubscribe sends (RFC 8058).
      const res = await fetch(`/u/${encodeURIComponent(token)}`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
        body: 'List-Unsubscribe=One-Click',
        credentials: 'omit',
      });
      if (!res.ok) throw new Error(String(res.status));
      button.hidden = true;
      status.textContent = t('unsub.done');
    } catch {
      button.disabled = false;
      status.textContent = t('error.load');
    }
  });
  show(h('section', { class: 'track-card track-card--lookup' }, h('h1', { class: 'track-title' }, t('unsub.title')), h('p', null, t('unsub.lead')), button, status));
}

// ---------------------------------------------------------------- start

function languagePicker(rerender) {
  const select = $('lang');
  select.replaceChildren(...Object.entries(i18n.LANGUAGES).map(([code, name]) => h('option', { value: code, lang: code, selected: code === i18n.language() }, name)));
  $('lang-label').textContent = t('lang.label');
  select.addEventListener('change', () => {
    languageOpen = false;
    i18n.setLanguage(select.value);
    try {
      localStorage.setItem(STORED_LANG, select.value);
    } catch {
      // Private windows may refuse; the choice lasts for this page.
    }
    $('lang-label').textContent = t('lang.label');
    rerender();
  });
}

/** No language asked for, chosen before, or spoken by the browser: the order's may be used. */
let languageOpen = false;

function start() {
  const chosen = i18n.chooseLanguage(location.search, storedLanguage(), navigator.languages || [], null);
  languageOpen = chosen === null;
  i18n.setLanguage(chosen || 'en');
  const m = location.pathname.match(/^\/t\/([A-Za-z0-9_-]+)$/);
  const u = location.pathname.match(/^\/u\/([A-Za-z0-9_-]+)$/);
  const render = () => (m ? orderPage(m[1]) : u ? unsubscribePage(u[1]) : lookupPage());
  languagePicker(render);
  render();
}

start();
