// Customers' messages, the owner's: the defaults until a customer chooses (channels, which
// news, quiet hours in each customer's own time, the zone and language of a customer the shop
// knows neither of), and the email templates, each previewed with a made-up order before it
// is kept. A preview's HTML part is shown in a sandboxed frame: no script of it runs.

import { h, replace } from './dom.js';
import { api } from './dash-api.js';
import { field, status, statusLine, twoStep } from './dash-form.js';

const NEWS = [
  ['shipped', 'Shipped'],
  ['out_for_delivery', 'Out for delivery'],
  ['ready_for_pickup', 'Ready for pickup'],
  ['delivered', 'Delivered'],
  ['problems', 'Problems (delays, failed attempts, returns …)'],
];

const KINDS = [
  ['default', 'Every message without its own'],
  ['shipped', 'Shipped'],
  ['out_for_delivery', 'Out for delivery'],
  ['ready_for_pickup', 'Ready for pickup'],
  ['delivered', 'Delivered'],
  ['stuck', 'No news for a while'],
  ['late', 'Running late'],
  ['failed_attempt', 'Delivery attempt failed'],
  ['exception', 'A problem at the carrier'],
  ['returned', 'Going back to the shop'],
  ['customs_hold', 'Held at customs'],
  ['expired', 'Tracking stopped'],
];

const STARTER = {
  subject: '{{ shop }}: your order {{ order_number }} {{ status }}',
  text: 'Hello {{ first_name }},\n\nyour order {{ order_number }} {{ status }}.\n{{ estimate }}\n\nFollow it: {{ tracking_url }}\n\n{{ shop }}',
};

function defaultsPanel(current, channels) {
  const email = h('input', { type: 'checkbox', name: 'email', checked: current.email });
  const sms = h('input', { type: 'checkbox', name: 'sms', checked: current.sms });
  const news = NEWS.map(([value]) => h('input', { type: 'checkbox', name: 'news', value, checked: current.news.includes(value) }));
  const quiet = h('input', { type: 'checkbox', name: 'quiet', checked: Boolean(current.quiet_hours) });
  const start = h('input', { type: 'time', name: 'quiet_start', value: current.quiet_hours ? current.quiet_hours.start : '21:00' });
  const end = h('input', { type: 'time', name: 'quiet_end', value: current.quiet_hours ? current.quiet_hours.end : '08:00' });
  const through = h('input', { type: 'checkbox', name: 'delivered_through', checked: Boolean(current.quiet_hours && current.quiet_hours.delivered_through) });
  const zone = h('input', { type: 'text', name: 'time_zone', value: current.time_zone, autocomplete: 'off', spellcheck: 'false' });
  const language = h('select', { name: 'language' }, [['en', 'English'], ['de', 'Deutsch']].map(([v, words]) => h('option', { value: v, selected: v === current.language }, words)));
  const msg = statusLine();
  const off = (on, what) => (on ? null : h('small', { class: 'muted small' }, ` (this server sends no ${what}: its operator has not set it up)`));
  const form = h(
    'form',
    { class: 'dash-import', 'aria-label': 'Message defaults', novalidate: true },
    h('h2', { class: 'panel__title' }, 'Until a customer chooses'),
    h('p', { class: 'muted' }, 'Customers choose for themselves on their tracking page; these are the shop’s defaults, part by part.'),
    h('fieldset', { class: 'dash-scopes' }, h('legend', null, 'Channels'), h('label', { class: 'check' }, email, ' Email, unless they turn it off', off(channels.email, 'email')), h('label', { class: 'check' }, sms, ' Text messages (SMS), unless they turn them off', off(channels.sms, 'SMS'))),
    h('fieldset', { class: 'dash-scopes' }, h('legend', null, 'News they hear of'), news.map((b, i) => h('label', { class: 'check' }, b, ` ${NEWS[i][1]}`))),
    h(
      'fieldset',
      { class: 'dash-scopes' },
      h('legend', null, 'Quiet hours, in each customer’s own time'),
      h('label', { class: 'check' }, quiet, ' Hold messages at night'),
      h('div', { class: 'dash-grid' }, field('From', start), field('Until', end)),
      h('label', { class: 'check' }, through, ' Let “delivered” through anyway'),
    ),
    h('div', { class: 'dash-grid' }, field('Time zone of a customer whose own is not known', zone, 'An IANA name, like Europe/Berlin.'), field('Their language', language)),
    h('div', { class: 'row' }, h('button', { class: 'btn btn--primary', type: 'submit' }, 'Save')),
    msg,
  );
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    const body = {
      email: email.checked,
      sms: sms.checked,
      news: news.filter((b) => b.checked).map((b) => b.value),
      quiet_hours: quiet.checked ? { start: start.value, end: end.value, delivered_through: through.checked } : null,
      time_zone: zone.value.trim(),
      language: language.value,
    };
    try {
      const r = await api('PUT', 'shop/notifications', body);
      zone.value = r.time_zone;
      status(msg, 'Saved: messages from now on follow it.', true);
    } catch (err) {
      status(msg, err.message, false);
    }
  });
  return form;
}

function previewOf(r) {
  // The HTML part in a frame with every sandbox restriction: no script, no form, no
  // navigation of this page, an origin of its own.
  const frame = h('iframe', { class: 'dash-preview__html', sandbox: '', title: 'The email’s HTML part', srcdoc: r.html, referrerpolicy: 'no-referrer' });
  return h(
    'div',
    { class: 'dash-preview', role: 'region', 'aria-label': 'Preview' },
    h('p', { class: 'muted small' }, 'With a made-up order:'),
    h('p', { class: 'dash-preview__subject' }, r.subject),
    h('pre', { class: 'dash-preview__text' }, r.text),
    frame,
  );
}

function templatesPanel(page, redraw, kind) {
  const mine = new Map(page.templates.map((t) => [t.kind, t]));
  const which = h(
    'select',
    { name: 'kind' },
    KINDS.map(([k, words]) => h('option', { value: k, selected: k === kind }, `${words}${mine.has(k) ? ' · yours' : ''}`)),
  );
  const t = mine.get(kind);
  const subject = h('input', { type: 'text', name: 'subject', maxlength: 300, value: t ? t.subject : STARTER.subject, autocomplete: 'off' });
  const text = h('textarea', { name: 'text', rows: 10, maxlength: 20000, spellcheck: 'true' });
  text.value = t ? t.text : STARTER.text;
  const html = h('textarea', { name: 'html', rows: 8, maxlength: 100000, spellcheck: 'false', placeholder: 'Leave empty: the text part, as paragraphs.' });
  html.value = t && t.html ? t.html : '';
  const msg = statusLine();
  const shown = h('div');
  const body = () => ({ subject: subject.value, text: text.value, html: html.value.trim() ? html.value : null });
  const preview = async () => {
    try {
      replace(shown, previewOf(await api('POST', 'shop/templates/preview', body())));
      status(msg, 'Previewed: nothing was kept or sent.', true);
    } catch (err) {
      replace(shown);
      status(msg, err.message, false);
    }
  };
  which.addEventListener('change', () => redraw(which.value));
  const remove = t
    ? twoStep('Use Parceltrail’s wording', 'Forget mine: Parceltrail words it', async () => {
        try {
          await api('DELETE', `shop/templates/${kind}`);
          redraw(kind, 'Forgotten: Parceltrail words this message again.');
        } catch (err) {
          status(msg, err.message, false);
        }
      })
    : null;
  const form = h(
    'form',
    { class: 'dash-template', 'aria-label': 'Email template', novalidate: true },
    field('Message', which, t ? `Yours since ${new Date(t.updated_at).toLocaleDateString()}.` : 'Parceltrail words it until you save your own.'),
    field('Subject', subject),
    field('Text', text),
    field('HTML (optional)', html),
    h('div', { class: 'row' }, h('button', { class: 'btn btn--ghost', type: 'button', onclick: preview }, 'Preview'), h('button', { class: 'btn btn--primary', type: 'submit' }, 'Save'), remove),
    msg,
    shown,
  );
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    try {
      await api('PUT', `shop/templates/${kind}`, body());
      redraw(kind, 'Saved: messages from now on use it.');
    } catch (err) {
      status(msg, err.message, false);
    }
  });
  const fields = h(
    'dl',
    { class: 'dash-fields', 'aria-label': 'Fields a template may use' },
    Object.entries(page.fields).map(([name, sample]) => [h('dt', null, h('code', null, `{{ ${name} }}`)), h('dd', null, String(sample) || '(empty)')]),
  );
  return [form, h('h3', { class: 'dash-hook__title' }, 'Fields, with the made-up order’s values'), fields];
}

export default async function messagesSection() {
  const [settings, shop] = await Promise.all([api('GET', 'shop/notifications'), api('GET', 'shop')]);
  const box = h('div', { class: 'dash-import', role: 'group', 'aria-label': 'Email templates' });
  const redraw = async (kind, message) => {
    const page = await api('GET', 'shop/templates');
    replace(box,
      h('h2', { class: 'panel__title' }, 'Email templates'),
      h('p', { class: 'muted' }, 'Your own words for each kind of news, with fields filled in for each order. A template that does not render is refused with where it fails.'),
      message ? h('p', { class: 'inline-msg inline-msg--ok', role: 'status' }, message) : null,
      templatesPanel(page, redraw, kind),
    );
  };
  await redraw('default');
  return [defaultsPanel(settings, shop.channels), box];
}
