// What the dashboard's settings forms share: a labelled field, a status line, a button that
// copies, and one that asks again in its own words before it acts (no dialog).

import { h, text, uid } from './dom.js';

/** A labelled input, with a hint it is described by. */
export function field(label, input, hint) {
  const id = uid('s');
  input.id = id;
  const hintId = hint ? `${id}-hint` : null;
  if (hintId) input.setAttribute('aria-describedby', hintId);
  return h('div', { class: 'field' }, h('label', { for: id }, label), input, hint ? h('small', { id: hintId, class: 'muted small' }, hint) : null);
}

/** A status line that says how a change went. */
export function statusLine() {
  return h('p', { class: 'inline-msg', role: 'status' });
}

export function status(el, message, ok) {
  el.className = `inline-msg ${ok ? 'inline-msg--ok' : 'inline-msg--error'}`;
  text(el, message);
}

export function copyButton(input, label) {
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
export function twoStep(label, sure, act, cls = 'btn btn--ghost') {
  const b = h('button', { class: cls, type: 'button' }, label);
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

/** Something shown once (a key, a link), to copy now. */
export function shownOnce(heading, value, label) {
  const input = h('input', { type: 'text', readonly: true, value, 'aria-label': label });
  return h('div', { class: 'dash-fresh-key', role: 'alert' }, h('p', null, h('strong', null, heading)), h('div', { class: 'row' }, input, copyButton(input, 'Copy')));
}

/** A panel: a titled group of settings. */
export function panel(title, intro, ...children) {
  return h('div', { class: 'dash-import', role: 'group', 'aria-label': title }, h('h2', { class: 'panel__title' }, title), intro ? h('p', { class: 'muted' }, intro) : null, children);
}
