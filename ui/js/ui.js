// Shared pieces: carrier badges, status chips, progress bars, toasts, the live region,
// confirmation dialogs, and the words for statuses and problems.

import { h, icon, text } from './dom.js';

export const STATUSES = [
  ['pending', 'Not scanned yet'],
  ['info_received', 'Label created'],
  ['in_transit', 'In transit'],
  ['out_for_delivery', 'Out for delivery'],
  ['available_for_pickup', 'Ready for pickup'],
  ['delivered', 'Delivered'],
  ['failed_attempt', 'Delivery attempt failed'],
  ['exception', 'Exception'],
  ['returned', 'Returned to sender'],
  ['expired', 'Tracking expired'],
  ['unknown', 'Unknown status'],
];

export const PROBLEM_LABELS = {
  stuck: 'No movement',
  late: 'Late',
  failed_attempt: 'Delivery attempt failed',
  exception: 'Carrier exception',
  returned: 'Returned to sender',
  customs_hold: 'Held in customs',
  expired: 'Tracking expired',
};

/** How a status should look: ok, active, warn, danger or neutral. */
export function tone(status) {
  switch (status) {
    case 'delivered':
      return 'ok';
    case 'out_for_delivery':
    case 'available_for_pickup':
      return 'active';
    case 'failed_attempt':
    case 'exception':
      return 'warn';
    case 'returned':
    case 'expired':
      return 'danger';
    default:
      return 'neutral';
  }
}

const HEX = /^#([0-9a-f]{6})$/i;
const NEUTRAL = '#5f6b7a';

function luminance(hex) {
  const n = parseInt(hex.slice(1), 16);
  const ch = [(n >> 16) & 255, (n >> 8) & 255, n & 255].map((c) => {
    const s = c / 255;
    return s <= 0.03928 ? s / 12.92 : ((s + 0.055) / 1.055) ** 2.4;
  });
  return 0.2126 * ch[0] + 0.7152 * ch[1] + 0.0722 * ch[2];
}

const inkCache = new Map();
/** 'light' (white text) or 'dark' (black text), whichever contrasts more with `hex`. */
export function inkFor(hex) {
  let ink = inkCache.get(hex);
  if (!ink) {
    const l = luminance(hex);
    ink = 1.05 / (l + 0.05) >= (l + 0.05) / 0.05 ? 'light' : 'dark';
    inkCache.set(hex, ink);
  }
  return ink;
}

/** A neutral pill in the carrier's colour, with its name (no logos). */
export function carrierBadge(carrier, extraClass) {
  const color = carrier && HEX.test(carrier.color || '') ? carrier.color : NEUTRAL;
  const name = (carrier && (carrier.name || carrier.id)) || 'Unknown carrier';
  return h(
    'span',
    { class: `badge badge--${inkFor(color)}${extraClass ? ` ${extraClass}` : ''}`, vars: { '--badge': color } },
    name,
  );
}

/** A status chip ("In transit"), coloured by tone. */
export function statusChip(status, label) {
  return h('span', { class: `chip chip--${tone(status)}`, dataset: { status } }, label || status);
}

/** A progress bar (0..1) with role=progressbar. */
export function progressBar(p, label = 'Journey progress') {
  const v = Math.min(1, Math.max(0, Number(p) || 0));
  const pctv = Math.round(v * 100);
  return h(
    'div',
    {
      class: 'progress',
      role: 'progressbar',
      'aria-label': label,
      'aria-valuemin': '0',
      'aria-valuemax': '100',
      'aria-valuenow': String(pctv),
      'aria-valuetext': `${pctv}%`,
      vars: { '--p': v.toFixed(3) },
    },
    h('span', { class: 'progress__fill' }),
  );
}

/** A warning chip (a problem, a carrier error). */
export function warnChip(label, title) {
  return h('span', { class: 'chip chip--warn', title: title || null }, icon('warning'), label);
}

// ---- messages ----

let live = null;
let toasts = null;

/** Wires the live region and the toast stack (from index.html). */
export function initMessages() {
  live = document.getElementById('live');
  toasts = document.getElementById('toasts');
}

/** Says something to screen readers only (polite). */
export function announce(message) {
  if (!live) return;
  text(live, '');
  // A fresh text node after a tick so the same message is announced again.
  setTimeout(() => text(live, message), 30);
}

/**
 * Shows a toast (and announces it politely). kind: 'info' | 'ok' | 'error'.
 * Errors stay until dismissed (or 12 s); others go after 4 s.
 */
export function toast(message, kind = 'info') {
  if (!toasts) return;
  const msg = h('p', { class: 'toast__text' }, String(message));
  const close = h(
    'button',
    { type: 'button', class: 'icon-btn toast__close', 'aria-label': 'Dismiss message' },
    icon('close'),
  );
  // Errors are alerts; other toasts are spoken through the one polite live region.
  const el = h('div', { class: `toast toast--${kind}`, role: kind === 'error' ? 'alert' : null }, msg, close);
  if (kind !== 'error') announce(String(message));
  const dismiss = () => {
    el.remove();
  };
  close.addEventListener('click', dismiss);
  el.addEventListener('keydown', (e) => {
    if (e.key === 'Escape') dismiss();
  });
  toasts.appendChild(el);
  while (toasts.children.length > 4) toasts.firstElementChild.remove();
  setTimeout(dismiss, kind === 'error' ? 12000 : 4000);
  return el;
}

/** Shows an error from a command. */
export function showError(e, prefix) {
  const message = e && e.message ? e.message : String(e);
  toast(prefix ? `${prefix}: ${message}` : message, 'error');
}

/** A modal confirmation (native <dialog>: Escape cancels). Resolves true when confirmed. */
export function confirmDialog({ title, message, confirm = 'OK', cancel = 'Cancel', danger = false }) {
  return new Promise((resolve) => {
    const titleId = `dlg-${Math.random().toString(36).slice(2)}`;
    const ok = h('button', { type: 'submit', class: danger ? 'btn btn--danger' : 'btn btn--primary', value: 'ok' }, confirm);
    const no = h('button', { type: 'submit', class: 'btn', value: 'cancel', formnovalidate: true }, cancel);
    const dlg = h(
      'dialog',
      { class: 'dialog', 'aria-labelledby': titleId },
      h(
        'form',
        { method: 'dialog' },
        h('h2', { id: titleId, class: 'dialog__title' }, title),
        message ? h('p', { class: 'dialog__text' }, message) : null,
        h('div', { class: 'dialog__actions' }, no, ok),
      ),
    );
    const opener = document.activeElement;
    dlg.addEventListener('close', () => {
      resolve(dlg.returnValue === 'ok');
      dlg.remove();
      if (opener && typeof opener.focus === 'function' && opener.isConnected) opener.focus();
    });
    document.body.appendChild(dlg);
    dlg.showModal();
    no.focus();
  });
}

/** A visually hidden text (for screen readers). */
export function srOnly(str) {
  return h('span', { class: 'sr-only' }, str);
}

/** A button with an icon and visible text. */
export function button(label, { iconName, kind, onclick, testid, type = 'button', attrs } = {}) {
  return h(
    'button',
    { type, class: kind ? `btn btn--${kind}` : 'btn', onclick, dataset: testid ? { testid } : null, ...attrs },
    iconName ? icon(iconName) : null,
    h('span', null, label),
  );
}

/**
 * Runs `fn` with `btn` marked busy (aria-busy; further clicks ignored meanwhile); errors become
 * toasts. Resolves fn's value or undefined. The button is not disabled, so it keeps the focus.
 */
export async function busy(btn, fn) {
  if (btn) {
    if (btn.getAttribute('aria-busy') === 'true') return undefined;
    btn.setAttribute('aria-busy', 'true');
  }
  try {
    return await fn();
  } catch (e) {
    showError(e);
    return undefined;
  } finally {
    if (btn) btn.removeAttribute('aria-busy');
  }
}

// ---- theme ----

const THEMES = ['system', 'light', 'dark'];
const THEME_KEY = 'parceltrail.theme';

/** Applies a theme now ('system' follows prefers-color-scheme) and remembers it for the next start. */
export function applyTheme(theme) {
  const t = THEMES.includes(theme) ? theme : 'system';
  document.documentElement.dataset.theme = t;
  try {
    localStorage.setItem(THEME_KEY, t);
  } catch {
    /* storage may be unavailable */
  }
  return t;
}

/** The theme remembered from last time (before the backend answers). */
export function rememberedTheme() {
  try {
    return localStorage.getItem(THEME_KEY) || 'system';
  } catch {
    return 'system';
  }
}
