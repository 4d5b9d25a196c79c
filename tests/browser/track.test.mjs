// The customer's tracking page on the shop server (`parceltrail server`): a signed link shows
// every parcel of the order at phone and desktop sizes, with hostile text shown as text; a new
// event appears without a reload; the lookup by order number and email or postcode, right and
// wrong; forged, expired and withdrawn links refused with the lookup offered; the language
// switch. axe-core on each screen.

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, test } from 'node:test';
import { DESKTOP, NUMBERS, PHONE, XSS, axeSerious, describeViolations, launchBrowser, screenshot, startShopServer, watchedPage } from './helpers.mjs';

let server;
let browser;
let order;

const hours = (h) => new Date(Date.now() - h * 3600e3).toISOString();

before(async () => {
  // Email on (to a relay that is not there: nothing is delivered, the page offers the choice).
  server = await startShopServer({ env: { PARCELTRAIL_SERVER_SMTP_URL: 'smtp://127.0.0.1:9', PARCELTRAIL_SERVER_MAIL_FROM: 'track@trailhead.example' } });
  browser = await launchBrowser();
  const made = await server.api('POST', '/orders', {
    order_number: 'A-1001',
    placed_at: hours(50),
    items: `Trail shoes (42), rain jacket ${XSS}`,
    customer: { name: `Ada ${XSS}`, email: 'ada@example.com', postcode: 'SW1A 1AA', address: `10 Downing Street ${XSS}\nLondon` },
    shipments: [{ tracking_number: NUMBERS.ups }, { tracking_number: NUMBERS.dhl }],
  });
  assert.equal(made.status, 201, JSON.stringify(made.body));
  order = made.body;
  const [ups, dhl] = order.shipments.map((s) => s.id);
  const events = [
    [ups, { status: 'in_transit', description: 'Departed from facility', location: { city: 'Leipzig', country: 'DE' }, occurred_at: hours(30) }],
    [ups, { status: 'in_transit', description: `Arrived at facility ${XSS}`, location: { city: 'Cologne', country: 'DE' }, occurred_at: hours(20) }],
    [ups, { status: 'in_transit', description: 'Arrived at facility', location: { city: 'London', country: 'GB' }, occurred_at: hours(6) }],
    [dhl, { status: 'info_received', description: 'Shipment information received', location: { city: 'Bonn', country: 'DE' }, occurred_at: hours(3) }],
  ];
  for (const [id, body] of events) {
    const r = await server.api('POST', `/shipments/${id}/events`, body);
    assert.equal(r.status, 201, JSON.stringify(r.body));
  }
  const r = await server.api('GET', `/orders/${order.id}`);
  order = r.body;
  const logo = readFileSync(new URL('../../icons/128x128.png', import.meta.url)).toString('base64');
  const b = await server.api('PUT', '/shop/branding', { color: '#0b6e4f', logo: `data:image/png;base64,${logo}` });
  assert.equal(b.status, 200, JSON.stringify(b.body));
});

after(async () => {
  await browser?.close();
  await server?.stop();
});

/** A fresh page at `viewport` that fails the test on any dialog (an XSS would open one). */
async function open(viewport = PHONE, { locale = 'en-GB' } = {}) {
  return watchedPage(browser, { viewport, locale });
}

async function noSerious(page, where) {
  const v = await axeSerious(page);
  assert.deepEqual(v, [], `${where}: ${describeViolations(v)}`);
}

test('a signed link shows every parcel, hostile text as text, at phone and desktop sizes', async () => {
  for (const [viewport, name] of [
    [PHONE, 'track-phone'],
    [DESKTOP, 'track-desktop'],
  ]) {
    const { page, errors, close } = await open(viewport);
    try {
      await page.goto(order.tracking_url);
      await page.getByTestId('parcel').nth(1).waitFor();
      assert.equal(await page.getByTestId('parcel').count(), 2);
      // Each parcel's estimate, derived from its events (a reload, if it came after the load).
      for (let i = 0; !(await page.getByTestId('eta-window').count()) && i < 40; i++) {
        await new Promise((r) => setTimeout(r, 250));
        if (i % 8 === 7) await page.reload();
      }
      assert.match(await page.getByTestId('parcel').first().getByTestId('eta-window').textContent(), /\d/);
      assert.equal(await page.locator('h1').textContent(), 'Order A-1001');
      assert.equal(await page.locator('#shop-name').textContent(), 'Trailhead Outfitters');
      // The shop's logo and colour.
      assert.match(await page.locator('#shop-name img').getAttribute('src'), /^data:image\/png;base64,/);
      assert.equal(await page.evaluate(() => getComputedStyle(document.documentElement).getPropertyValue('--accent').trim()), '#0b6e4f');
      assert.equal(await page.getByTestId('progress').textContent(), 'Shipped');
      const first = page.getByTestId('parcel').first();
      assert.equal(await first.getByTestId('tracking-number').textContent(), NUMBERS.ups);
      assert.equal(await first.getByTestId('status').textContent(), 'In transit');
      assert.match(await first.getByTestId('events').textContent(), /Arrived at facility <img src=x onerror=alert\(1\)>/);
      // Every field with markup shows it literally; none became an element.
      const text = await page.locator('main').textContent();
      assert.ok(text.includes(`rain jacket ${XSS}`), text);
      assert.ok(text.includes(`10 Downing Street ${XSS}`), text);
      assert.equal(await page.locator('main img').count(), 0);
      // Greeted by first name only; the phone and email never shown.
      assert.match(text, /Hello Ada,/);
      assert.ok(!text.includes('ada@example.com'));
      // The carrier's own page, and the route once opened.
      assert.match(await first.locator('.track-card__carrier-link a').getAttribute('href'), /^https:\/\/www\.ups\.com\//);
      await first.locator('.track-map summary').click();
      await first.locator('.track-map svg').first().waitFor();
      await noSerious(page, name);
      await screenshot(page, name, { fullPage: true });
      assert.deepEqual(errors, []);
    } finally {
      await close();
    }
  }
});

test('the customer turns the order\'s email off and on, and the choice stays', async () => {
  const { page, errors, close } = await open(PHONE);
  try {
    await page.goto(order.tracking_url);
    const box = page.getByLabel('By email');
    await box.waitFor();
    assert.equal(await box.isChecked(), true);
    // No phone number on the order: no SMS to offer.
    assert.equal(await page.getByLabel('By text message (SMS)').count(), 0);
    await box.uncheck();
    await page.getByTestId('notify-status').getByText('Saved.').waitFor();
    await page.reload();
    await page.getByLabel('By email').waitFor();
    assert.equal(await page.getByLabel('By email').isChecked(), false);
    await page.getByLabel('By email').check();
    await page.getByTestId('notify-status').getByText('Saved.').waitFor();
    assert.deepEqual(errors, []);
  } finally {
    await close();
  }
});

test('the customer picks which news they hear of; their language and time zone go with it', async () => {
  const quiet = await server.api('PUT', '/shop/notifications', {
    email: true, sms: true, news: ['shipped', 'out_for_delivery', 'ready_for_pickup', 'delivered', 'problems'],
    quiet_hours: { start: '21:00', end: '07:30' }, time_zone: 'Europe/London', language: 'en',
  });
  assert.equal(quiet.status, 200, JSON.stringify(quiet.body));
  const context = await browser.newContext({ viewport: PHONE, locale: 'de-DE', timezoneId: 'Asia/Tokyo' });
  const page = await context.newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(e.message));
  try {
    await page.goto(order.tracking_url);
    const news = page.getByTestId('notify-news');
    await news.waitFor();
    assert.equal(await page.getByLabel('unterwegs ist').isChecked(), true);
    await page.getByTestId('notify-quiet').getByText('Keine Nachrichten zwischen 21:00 und 07:30 Uhr Ihrer Zeit').waitFor();
    await page.getByLabel('unterwegs ist').uncheck();
    await page.getByTestId('notify-status').getByText('Gespeichert.').waitFor();
    await screenshot(page, 'track-news-de-phone');
    await noSerious(page, 'the news choice');
    // Kept for the order: the shop sees the customer's language and zone, the page the choice.
    const staff = await server.api('GET', `/orders/${order.id}`);
    assert.equal(staff.body.customer.language, 'de');
    assert.equal(staff.body.customer.time_zone, 'Asia/Tokyo');
    await page.reload();
    await page.getByLabel('unterwegs ist').waitFor();
    assert.equal(await page.getByLabel('unterwegs ist').isChecked(), false);
    assert.equal(await page.getByLabel('zugestellt wurde').isChecked(), true);
    await page.getByLabel('unterwegs ist').check();
    await page.getByTestId('notify-status').getByText('Gespeichert.').waitFor();
    assert.deepEqual(errors, []);
  } finally {
    await context.close();
  }
});

test('a browser that speaks none of the page\'s languages reads the order\'s', async () => {
  const set = (language) => server.api('PATCH', `/orders/${order.id}`, { customer: { language } });
  assert.equal((await set('de')).status, 200);
  const context = await browser.newContext({ viewport: PHONE, locale: 'fr-FR', timezoneId: 'Europe/Paris' });
  const page = await context.newPage();
  try {
    await page.goto(order.tracking_url);
    await page.getByRole('heading', { name: 'Nachrichten zu dieser Bestellung' }).waitFor();
    assert.equal(await page.evaluate(() => document.documentElement.lang), 'de');
    assert.equal(await page.locator('#lang').inputValue(), 'de');
  } finally {
    await context.close();
    assert.equal((await set('en')).status, 200);
  }
});

test('the customer asks for a change, the shop answers, and a delivered parcel is rated', async () => {
  const { page, errors, close } = await open(PHONE);
  try {
    await page.goto(order.tracking_url);
    const card = page.getByTestId('requests');
    await card.waitFor();
    // The UPS parcel is moving: too late to cancel, not too late to redirect.
    assert.equal(await page.getByLabel('Cancel the order').count(), 0);
    await page.getByLabel('Add delivery instructions').check();
    await page.getByLabel('Instructions for the courier').fill(`Leave it at the side door ${XSS}`);
    await page.getByRole('button', { name: 'Send to the shop' }).click();
    const item = card.getByTestId('request');
    await item.filter({ hasText: 'Waiting for the shop' }).waitFor();
    assert.match(await item.textContent(), /side door <img src=x onerror=alert\(1\)>/);
    // One open request of a kind at a time.
    assert.equal(await page.getByLabel('Add delivery instructions').count(), 0);
    await noSerious(page, 'requests');

    const staff = await server.api('GET', '/requests');
    assert.equal(staff.status, 200);
    const mine = staff.body.requests.find((r) => r.order_id === order.id);
    assert.equal(mine.kind, 'instructions');
    const decided = await server.api('POST', `/requests/${mine.id}/decision`, { decision: 'approve', note: `Passed on to the courier ${XSS}` });
    assert.equal(decided.status, 200, JSON.stringify(decided.body));
    await page.reload();
    await item.filter({ hasText: 'Accepted' }).waitFor();
    assert.match(await card.getByTestId('shop-note').textContent(), /Passed on to the courier <img src=x onerror=alert\(1\)>/);
    await screenshot(page, 'track-request', { fullPage: true });

    // A delivered parcel asks for a rating, once, and keeps it.
    const made = await server.api('POST', '/orders', {
      order_number: 'A-1002',
      customer: { name: 'Ada Lovelace', email: 'ada@example.com' },
      shipments: [{ tracking_number: NUMBERS.fedex }],
    });
    assert.equal(made.status, 201, JSON.stringify(made.body));
    const parcel = made.body.shipments[0].id;
    for (const [status, h] of [
      ['in_transit', 20],
      ['delivered', 1],
    ]) {
      const r = await server.api('POST', `/shipments/${parcel}/events`, { status, description: status, location: { city: 'London', country: 'GB' }, occurred_at: hours(h) });
      assert.equal(r.status, 201, JSON.stringify(r.body));
    }
    await page.goto(`${made.body.tracking_url}#feedback`);
    const form = page.getByTestId('feedback-form');
    await form.waitFor();
    await page.getByRole('button', { name: 'Send feedback' }).click();
    await page.getByTestId('feedback-status').getByText('Please choose a rating from 1 to 5.').waitFor();
    await form.locator('label[for$="-4"]').click();
    await page.getByLabel('Anything to add? (optional)').fill(`Quick, thanks ${XSS}`);
    await page.getByRole('button', { name: 'Send feedback' }).click();
    await page.getByTestId('feedback-given').getByText('You rated this delivery 4 of 5.').waitFor();
    await noSerious(page, 'feedback');
    await screenshot(page, 'track-feedback');
    const back = await server.api('GET', `/orders/${made.body.id}`);
    assert.equal(back.body.feedback.length, 1);
    assert.equal(back.body.feedback[0].rating, 4);
    assert.equal(back.body.feedback[0].comment, `Quick, thanks ${XSS}`);
    assert.deepEqual(errors, []);
  } finally {
    await close();
  }
});

test('"in this browser": the service worker registers, and a refused permission is said plainly', async () => {
  // A server offering Web Push; the browser here has no push service, and refuses
  // notifications unless granted, as a visitor may.
  const pushing = await startShopServer({ env: { PARCELTRAIL_SERVER_WEB_PUSH: 'true' } });
  const { page, errors, close } = await open(PHONE);
  try {
    const made = await pushing.api('POST', '/orders', { order_number: 'W-1', customer: { email: 'ada@example.com' }, shipments: [{ tracking_number: NUMBERS.ups }] });
    assert.equal(made.status, 201, JSON.stringify(made.body));
    await page.goto(made.body.tracking_url);
    const box = page.getByLabel('In this browser');
    await box.waitFor();
    assert.equal(await box.isChecked(), false);
    const worker = await page.evaluate(async () => (await navigator.serviceWorker.ready).active.scriptURL);
    assert.equal(new URL(worker).pathname, '/sw.js');
    // The new order's estimate arrives live and redraws the page: after it, the switch.
    await page.getByTestId('eta-window').waitFor();
    await page.waitForTimeout(1500);
    await page.getByLabel('In this browser').check({ force: true }).catch(() => {});
    await page.getByTestId('notify-status').getByText('Notifications are blocked for this page in your browser\'s settings.').waitFor();
    assert.equal(await page.getByLabel('In this browser').isChecked(), false);
    await noSerious(page, 'push switch');
    assert.deepEqual(errors, []);
  } finally {
    await close();
    await pushing.stop();
  }
});

test('a new event appears on an open page without a reload', async () => {
  const { page, errors, close } = await open(PHONE);
  try {
    await page.goto(order.tracking_url);
    const first = page.getByTestId('parcel').first();
    await first.getByTestId('status').waitFor();
    const ups = order.shipments[0].id;
    const r = await server.api('POST', `/shipments/${ups}/events`, { status: 'out_for_delivery', description: 'Out for delivery', location: { city: 'London', country: 'GB' } });
    assert.equal(r.status, 201);
    await page.waitForFunction(() => document.querySelector('[data-testid="parcel"] [data-testid="status"]')?.textContent === 'Out for delivery', null, { timeout: 20000 });
    // Told to screen readers too.
    await page.waitForFunction(() => document.getElementById('announce')?.textContent === 'Updated just now.');
    assert.match(await page.getByTestId('parcel').first().getByTestId('events').textContent(), /Out for delivery/);
    assert.deepEqual(errors, []);
  } finally {
    await close();
  }
});

test('the lookup: a wrong combination is refused, the right one opens the order without the address', async () => {
  const { page, errors, close } = await open(PHONE);
  try {
    await page.goto(`${server.url}/track`);
    await page.getByLabel('Order number').waitFor();
    assert.equal(await page.locator('#shop-name').textContent(), 'Trailhead Outfitters');
    await noSerious(page, 'lookup');
    await page.getByLabel('Order number').fill('A-1001');
    await page.getByLabel('Email or postcode').fill('eve@example.com');
    await page.getByRole('button', { name: 'Track order' }).click();
    const error = page.locator('#lookup-error');
    await error.waitFor({ state: 'visible' });
    assert.match(await error.textContent(), /could not find an order/);
    await screenshot(page, 'track-lookup');
    await page.getByLabel('Email or postcode').fill('sw1a 1aa');
    await page.getByRole('button', { name: 'Track order' }).click();
    await page.waitForURL(/\/t\/[A-Za-z0-9_-]+$/);
    await page.getByTestId('parcel').nth(1).waitFor();
    assert.equal(await page.getByTestId('delivery').count(), 0);
    assert.ok(!(await page.locator('main').textContent()).includes('Downing Street'));
    // The wrong combination's answer (404) is the only failed load.
    assert.deepEqual(errors, ['Failed to load resource: the server responded with a status of 404 (Not Found)']);
  } finally {
    await close();
  }
});

test('the page speaks German when asked, and remembers it', async () => {
  const { page, errors, close } = await open(PHONE, { locale: 'de-DE' });
  try {
    // The browser's language first.
    await page.goto(order.tracking_url);
    await page.getByTestId('parcel').first().waitFor();
    assert.equal(await page.locator('h1').textContent(), 'Bestellung A-1001');
    assert.equal(await page.getByTestId('progress').textContent(), 'Versandt');
    // Switched by hand, and kept after a reload.
    await page.locator('#lang').selectOption('en');
    await page.waitForFunction(() => document.querySelector('h1')?.textContent === 'Order A-1001');
    await page.reload();
    await page.getByTestId('parcel').first().waitFor();
    assert.equal(await page.locator('h1').textContent(), 'Order A-1001');
    await page.locator('#lang').selectOption('de');
    await page.waitForFunction(() => document.querySelector('h1')?.textContent === 'Bestellung A-1001');
    assert.equal(await page.evaluate(() => document.documentElement.lang), 'de');
    assert.match(await page.locator('main').textContent(), /Sendungsverlauf/);
    await noSerious(page, 'German');
    await screenshot(page, 'track-phone-de', { fullPage: true });
    assert.deepEqual(errors, []);
  } finally {
    await close();
  }
});

test('forged, expired and withdrawn links are refused, and the lookup is offered', async () => {
  const { page, close } = await open(PHONE);
  try {
    const token = order.tracking_url.split('/t/')[1];
    const forged = `${token.slice(0, 30)}${token[30] === 'A' ? 'B' : 'A'}${token.slice(31)}`;
    await page.goto(`${server.url}/t/${forged}`);
    await page.getByTestId('refused').waitFor();
    assert.equal(await page.getByTestId('refused').getAttribute('data-reason'), 'invalid');
    assert.equal(await page.getByLabel('Order number').count(), 1);
    await noSerious(page, 'refused');

    const soon = new Date(Date.now() + 1500).toISOString();
    const short = await server.api('POST', `/orders/${order.id}/tracking-link`, { expires_at: soon });
    assert.equal(short.status, 201);
    await new Promise((r) => setTimeout(r, 2000));
    await page.goto(short.body.url);
    await page.getByTestId('refused').waitFor();
    assert.equal(await page.getByTestId('refused').getAttribute('data-reason'), 'expired');

    const gone = await server.api('DELETE', `/orders/${order.id}/tracking-link`);
    assert.equal(gone.status, 204);
    await page.goto(order.tracking_url);
    await page.getByTestId('refused').waitFor();
    assert.equal(await page.getByTestId('refused').getAttribute('data-reason'), 'revoked');
    assert.match(await page.locator('h1').textContent(), /replaced this tracking link/);
    await screenshot(page, 'track-refused');
  } finally {
    await close();
  }
});
