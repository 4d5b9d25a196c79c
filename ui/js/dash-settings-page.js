// The tracking page's look and links, the owner's: the shop's colour and logo (shown as the
// page's header here as it will be there), how long a customer's link works after delivery,
// whether it shows the name and address, and a new link key (every link sent so far stops).

import { h, replace } from './dom.js';
import { api } from './dash-api.js';
import { field, panel, status, statusLine, twoStep } from './dash-form.js';

const MAX_LOGO = 100 * 1024;

function readAsDataUrl(file) {
  return new Promise((resolve, reject) => {
    const r = new FileReader();
    r.addEventListener('load', () => resolve(r.result));
    r.addEventListener('error', () => reject(new Error(`${file.name} could not be read`)));
    r.readAsDataURL(file);
  });
}

function brandingPanel(current, shopName) {
  let logo = current.logo || null;
  const color = h('input', { type: 'color', name: 'color', value: current.color || '#1f5fbf' });
  const useColor = h('input', { type: 'checkbox', name: 'use_color', checked: Boolean(current.color) });
  const file = h('input', { type: 'file', name: 'logo', accept: 'image/png,image/jpeg,image/webp' });
  const msg = statusLine();
  const sample = h('div', { class: 'dash-brand', role: 'img', 'aria-label': 'How the page’s header looks' });
  const drawSample = () => {
    sample.style.setProperty('--brand', useColor.checked ? color.value : '#1f5fbf');
    replace(sample, logo ? h('img', { src: logo, alt: '' }) : null, h('span', null, shopName));
  };
  const removeLogo = h('button', { class: 'btn btn--ghost', type: 'button' }, 'No logo');
  removeLogo.addEventListener('click', () => {
    logo = null;
    file.value = '';
    drawSample();
  });
  color.addEventListener('input', () => {
    useColor.checked = true;
    drawSample();
  });
  useColor.addEventListener('change', drawSample);
  file.addEventListener('change', async () => {
    const f = file.files[0];
    if (!f) return;
    if (f.size > MAX_LOGO) {
      file.value = '';
      return status(msg, `${f.name} is ${Math.ceil(f.size / 1024)} KiB: a logo may be at most 100 KiB.`, false);
    }
    try {
      logo = await readAsDataUrl(f);
      drawSample();
      status(msg, `${f.name}: save to use it.`, true);
    } catch (err) {
      status(msg, err.message, false);
    }
  });
  const form = h(
    'form',
    { class: 'dash-import', 'aria-label': 'Branding' },
    h('h2', { class: 'panel__title' }, 'Branding'),
    h('p', { class: 'muted' }, 'Your colour and logo on the tracking page customers open.'),
    sample,
    h('label', { class: 'check' }, useColor, ' Use my colour'),
    field('Colour', color),
    field('Logo', file, 'PNG, JPEG or WebP, at most 100 KiB.'),
    h('div', { class: 'row' }, h('button', { class: 'btn btn--primary', type: 'submit' }, 'Save'), removeLogo),
    msg,
  );
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    try {
      const r = await api('PUT', 'shop/branding', { color: useColor.checked ? color.value : null, logo });
      logo = r.logo;
      status(msg, 'Saved: the tracking page shows it now.', true);
      drawSample();
    } catch (err) {
      status(msg, err.message, false);
    }
  });
  drawSample();
  return form;
}

function linksPanel(current) {
  const days = h('input', { type: 'number', name: 'days_after_delivery', min: '1', max: '3650', step: '1', value: String(current.days_after_delivery), inputmode: 'numeric' });
  const address = h('input', { type: 'checkbox', name: 'show_address', checked: current.show_address });
  const msg = statusLine();
  const rotate = twoStep('New link key', 'New key: every link sent so far stops', async () => {
    try {
      const r = await api('POST', 'shop/tracking-links/rotate');
      status(msg, `A new key (number ${r.key_generation}): links sent before no longer open. Links in new messages use it.`, true);
    } catch (err) {
      status(msg, err.message, false);
    }
  });
  const form = h(
    'form',
    { class: 'dash-import', 'aria-label': 'Tracking links', novalidate: true },
    h('h2', { class: 'panel__title' }, 'Tracking links'),
    h('p', { class: 'muted' }, 'Every message links to the order’s tracking page, signed: no password, nothing to guess.'),
    field('Links work for this many days after delivery', days),
    h('label', { class: 'check' }, address, ' A link shows the customer’s name and delivery address (looking up by order number never does)'),
    h('div', { class: 'row' }, h('button', { class: 'btn btn--primary', type: 'submit' }, 'Save'), rotate),
    msg,
  );
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    try {
      const r = await api('PATCH', 'shop/tracking-links', { days_after_delivery: Number(days.value), show_address: address.checked });
      days.value = String(r.days_after_delivery);
      address.checked = r.show_address;
      status(msg, 'Saved.', true);
    } catch (err) {
      status(msg, err.message, false);
    }
  });
  return form;
}

export default async function pageSection(ctx) {
  const [branding, links] = await Promise.all([api('GET', 'shop/branding'), api('GET', 'shop/tracking-links')]);
  return [brandingPanel(branding, ctx.session.shop.name), linksPanel(links), panel('See it', null, h('p', null, 'Open an order and copy its customer link to see the page as your customer does.'))];
}
