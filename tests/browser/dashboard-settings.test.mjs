// The dashboard's settings sections on the shop server, as the owner uses them: the staff
// (an invitation's link shown once, used by the invitee in a browser of their own, who then
// finds the owner's settings closed to them; removed, and signed out), customers' messages
// (defaults with quiet hours, a bad zone refused; a template refused where it fails, then
// previewed with hostile markup kept out of the page, saved and forgotten), the tracking
// page's colour and logo, and outbound webhooks (a test event delivered to a real receiver
// and shown in the log, sent again, paused, deleted). axe-core on each section, at desktop and
// tablet sizes; hostile text stays text.

import assert from 'node:assert/strict';
import http from 'node:http';
import { after, before, test } from 'node:test';
import { DESKTOP, XSS, axeSerious, dashboardReady, describeViolations, launchBrowser, screenshot, signInToDashboard, startShopServer, watchedPage } from './helpers.mjs';

const TABLET = { width: 820, height: 1180 };
const PASSWORD = 'correct horse battery';
const EMAIL = 'owner@shop.example';

let server;
let browser;
let receiver;
const received = [];

before(async () => {
  // The shop's own system: takes every POST and answers 200.
  receiver = http.createServer((req, res) => {
    let body = '';
    req.on('data', (c) => (body += c));
    req.on('end', () => {
      received.push({ headers: req.headers, body: JSON.parse(body || 'null') });
      res.writeHead(200, { 'content-type': 'application/json' }).end('{"ok":true}');
    });
  });
  await new Promise((resolve) => receiver.listen(0, '127.0.0.1', resolve));
  server = await startShopServer({ shop: `Trailhead ${XSS}`, env: { PARCELTRAIL_SERVER_ALLOW_PRIVATE_TARGETS: 'true' } });
  browser = await launchBrowser();
  const setup = await fetch(`${server.url}/api/v1/setup`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ token: server.setupToken, password: PASSWORD }),
  });
  assert.equal(setup.status, 200, await setup.text());
});

after(async () => {
  await browser?.close();
  await server?.stop();
  receiver?.close();
});

async function open(viewport = DESKTOP) {
  // Answers refused on purpose (403 for a staff member, 422 for bad settings) are logged.
  return watchedPage(browser, { viewport, allow: /status of (401|403|409|422)/ });
}

let session = null;

/** The owner's dashboard at `hash`, signed in through the page once, then by its cookie. */
async function asOwner(page, hash) {
  if (!session) {
    session = await signInToDashboard(page, server.url, hash, EMAIL, PASSWORD);
    return;
  }
  await page.context().addCookies(session);
  await page.goto(`${server.url}/dashboard${hash}`);
  await dashboardReady(page);
}

async function noSerious(page, where) {
  const v = await axeSerious(page);
  assert.deepEqual(v, [], `${where}: ${describeViolations(v)}`);
}

async function bothSizes(page, where) {
  await noSerious(page, `${where} at 1280`);
  await page.setViewportSize(TABLET);
  await noSerious(page, `${where} at 820`);
  await page.setViewportSize(DESKTOP);
}

test('staff: an invitation is shown once, used in another browser, and the owner’s settings are closed to staff; removed, they are signed out', async () => {
  const { page, errors, close } = await open();
  await asOwner(page, '#/settings/staff');
  await page.getByRole('heading', { name: 'Staff', level: 2 }).waitFor();
  const table = page.getByRole('table', { name: 'Staff' });
  assert.match(await table.locator('tbody tr').first().textContent(), /owner@shop\.example \(you\)Owner/);
  const invite = page.getByRole('form', { name: 'Invite someone' });
  await invite.getByLabel('Their email address').fill('not an address');
  await invite.getByRole('button', { name: 'Invite' }).click();
  await invite.getByText(/email/i).filter({ hasText: /not|valid|address/ }).first().waitFor();
  await invite.getByLabel('Their email address').fill('Sam@Shop.example');
  await invite.getByRole('button', { name: 'Invite' }).click();
  await page.getByText('Invited sam@shop.example.').waitFor();
  const link = await page.getByRole('textbox', { name: 'The link for sam@shop.example' }).inputValue();
  assert.match(link, /\/setup#[0-9a-f]{64}$/);
  await table.locator('tbody tr', { hasText: 'sam@shop.example' }).getByText('Invited, no password yet').waitFor();
  await bothSizes(page, 'staff');
  await screenshot(page, 'dashboard-settings-staff');

  // Sam, in a browser of their own: sets a password through the link and signs in.
  const sam = await open();
  await sam.page.goto(link);
  await sam.page.getByLabel('New password').fill('sam has a long password');
  await sam.page.getByLabel('Repeat the password').fill('sam has a long password');
  await sam.page.getByRole('button', { name: 'Set password' }).click();
  await sam.page.locator('#done-text').getByText(/sam@shop\.example/).waitFor();
  await sam.page.goto(`${server.url}/dashboard#/settings/staff`);
  await sam.page.waitForURL(/\/login/);
  await sam.page.getByLabel('Email address').fill('sam@shop.example');
  await sam.page.getByLabel('Password').fill('sam has a long password');
  await sam.page.getByRole('button', { name: 'Sign in' }).click();
  await sam.page.waitForURL(/\/dashboard/);
  await dashboardReady(sam.page);
  await sam.page.getByText('Staff: these settings are the shop owner’s to change.').waitFor();
  assert.equal(await sam.page.getByRole('table', { name: 'Staff' }).count(), 0);

  // The owner sees that Sam signs in, then removes them: Sam's next step asks them to sign in.
  await page.reload();
  await dashboardReady(page);
  const row = page.getByRole('table', { name: 'Staff' }).locator('tbody tr', { hasText: 'sam@shop.example' });
  await row.getByText('Signs in').waitFor();
  await row.getByRole('button', { name: 'Remove' }).click();
  await row.getByRole('button', { name: 'Remove: they are signed out now' }).click();
  await page.getByText('Removed sam@shop.example.').waitFor();
  assert.equal(await page.getByRole('table', { name: 'Staff' }).locator('tbody tr').count(), 1);
  await sam.page.getByRole('link', { name: 'Orders' }).first().click();
  await sam.page.waitForURL(/\/login/);
  assert.deepEqual(sam.errors, []);
  await sam.close();
  assert.deepEqual(errors, []);
  await close();
});

test('customer messages: defaults with quiet hours saved, a bad zone refused; a template refused where it fails, previewed without its script running, saved, then forgotten', async () => {
  const { page, errors, close } = await open();
  await asOwner(page, '#/settings/messages');
  const defaults = page.getByRole('form', { name: 'Message defaults' });
  await defaults.getByText('(this server sends no SMS: its operator has not set it up)').waitFor();
  await defaults.getByLabel('Hold messages at night').check();
  await defaults.getByLabel('From').fill('22:00');
  await defaults.getByLabel('Until').fill('07:30');
  await defaults.getByLabel('Let “delivered” through anyway').check();
  await defaults.getByLabel('Shipped').uncheck();
  await defaults.getByLabel(/^Time zone/).fill('Mars/Olympus');
  await defaults.getByRole('button', { name: 'Save' }).click();
  await defaults.getByText(/time_zone/).waitFor();
  await defaults.getByLabel(/^Time zone/).fill('Europe/Berlin');
  await defaults.getByRole('button', { name: 'Save' }).click();
  await defaults.getByText('Saved: messages from now on follow it.').waitFor();
  const kept = (await server.api('GET', '/shop/notifications')).body;
  assert.deepEqual(kept.quiet_hours, { start: '22:00', end: '07:30', delivered_through: true });
  assert.equal(kept.time_zone, 'Europe/Berlin');
  assert.ok(!kept.news.includes('shipped'), JSON.stringify(kept.news));

  const tpl = page.getByRole('form', { name: 'Email template' });
  await tpl.getByLabel('Message').selectOption('delivered');
  await page.getByRole('form', { name: 'Email template' }).getByLabel('Subject').waitFor();
  const form = page.getByRole('form', { name: 'Email template' });
  await form.getByLabel('Subject').fill('{{ shop }}: {{ order_number }} arrived {{ nonsense }}');
  await form.getByRole('button', { name: 'Preview' }).click();
  await form.getByText(/nonsense/).waitFor();
  await form.getByLabel('Subject').fill(`{{ shop }}: {{ order_number }} arrived ${XSS}`);
  await form.getByLabel('HTML (optional)').fill(`<h1 id="hi">Hello {{ first_name }}</h1><script>alert('preview')</script>${XSS}<p>{{ tracking_url }}</p>`);
  await form.getByRole('button', { name: 'Preview' }).click();
  const preview = page.getByRole('region', { name: 'Preview' });
  await preview.getByText(`arrived ${XSS}`).waitFor();
  const frame = page.frameLocator('iframe[title="The email’s HTML part"]');
  await frame.locator('h1').waitFor();
  assert.match(await frame.locator('h1').textContent(), /^Hello /);
  assert.equal(await page.locator('iframe.dash-preview__html').getAttribute('sandbox'), '');
  assert.equal(await page.locator('main img').count(), 0, 'the subject’s markup is text');
  await bothSizes(page, 'messages');
  await preview.scrollIntoViewIfNeeded();
  await screenshot(page, 'dashboard-settings-messages');
  await form.getByRole('button', { name: 'Save' }).click();
  await page.getByText('Saved: messages from now on use it.').waitFor();
  const templates = (await server.api('GET', '/shop/templates')).body.templates;
  assert.equal(templates.find((t) => t.kind === 'delivered').subject, `{{ shop }}: {{ order_number }} arrived ${XSS}`);
  await page.reload();
  await dashboardReady(page);
  const again = page.getByRole('form', { name: 'Email template' });
  await again.getByLabel('Message').selectOption('delivered');
  const form2 = page.getByRole('form', { name: 'Email template' });
  await form2.getByText(/^Yours since/).waitFor();
  assert.equal(await form2.getByLabel('Subject').inputValue(), `{{ shop }}: {{ order_number }} arrived ${XSS}`);
  await form2.getByRole('button', { name: 'Use Parceltrail’s wording' }).click();
  await form2.getByRole('button', { name: 'Forget mine: Parceltrail words it' }).click();
  await page.getByText('Forgotten: Parceltrail words this message again.').waitFor();
  assert.equal((await server.api('GET', '/shop/templates')).body.templates.length, 0);
  // The preview's script was stopped by the sandbox (Chromium says so), and nothing else.
  const blocked = errors.filter((e) => /^Blocked script execution in 'about:srcdoc' because the document's frame is sandboxed/.test(e));
  assert.ok(blocked.length >= 1, JSON.stringify(errors));
  assert.deepEqual(
    errors.filter((e) => !blocked.includes(e)),
    [],
  );
  await close();
});

test('tracking page: a colour and a logo saved and shown on the page; a file that is no image refused', async () => {
  const { page, errors, close } = await open();
  await asOwner(page, '#/settings/page');
  const form = page.getByRole('form', { name: 'Branding' });
  await form.getByLabel('Colour', { exact: true }).fill('#7a1f5c');
  // A 1×1 PNG.
  const png = Buffer.from('iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==', 'base64');
  await form.getByLabel('Logo').setInputFiles({ name: 'logo.png', mimeType: 'image/png', buffer: png });
  await form.getByText('logo.png: save to use it.').waitFor();
  await form.getByRole('button', { name: 'Save' }).click();
  await form.getByText('Saved: the tracking page shows it now.').waitFor();
  const b = (await server.api('GET', '/shop/branding')).body;
  assert.equal(b.color, '#7a1f5c');
  assert.match(b.logo, /^data:image\/png;base64,/);
  assert.equal(await form.locator('.dash-brand img').count(), 1);
  await form.getByLabel('Logo').setInputFiles({ name: 'notes.png', mimeType: 'image/png', buffer: Buffer.from(`not an image ${XSS}`) });
  await form.getByRole('button', { name: 'Save' }).click();
  await form.getByText(/logo/i).filter({ hasText: /PNG|image/ }).last().waitFor();
  assert.match((await server.api('GET', '/shop/branding')).body.logo, /^data:image\/png;base64,/, 'the saved logo stays');
  const links = page.getByRole('form', { name: 'Tracking links' });
  await links.getByLabel('Links work for this many days after delivery').fill('45');
  await links.getByRole('button', { name: 'Save' }).click();
  await links.getByText('Saved.').waitFor();
  assert.equal((await server.api('GET', '/shop/tracking-links')).body.days_after_delivery, 45);
  await bothSizes(page, 'tracking page');
  await screenshot(page, 'dashboard-settings-page');
  assert.deepEqual(errors, []);
  await close();
});

test('outbound webhooks: an endpoint added with its secret shown once; a test delivered to a real receiver shows in the log, is sent again; paused, deleted', async () => {
  const { page, errors, close } = await open();
  await asOwner(page, '#/settings/webhooks');
  const form = page.getByRole('form', { name: 'New webhook endpoint' });
  await form.getByLabel('Address').fill('ftp://example.com/x');
  await form.getByRole('button', { name: 'Add the endpoint' }).click();
  await form.getByText(/url/i).filter({ hasText: /http/ }).waitFor();
  const url = `http://127.0.0.1:${receiver.address().port}/hooks/${'x'.repeat(3)}`;
  await form.getByLabel('Address').fill(url);
  await form.getByLabel('What it is for').fill(`ERP ${XSS}`);
  await form.getByLabel('Parcel status changed').check();
  await form.getByRole('button', { name: 'Add the endpoint' }).click();
  await page.getByText(`Added ${url}.`).waitFor();
  const secret = await page.getByRole('textbox', { name: `The signing secret of ${url}` }).inputValue();
  assert.match(secret, /^whsec_/);
  const card = page.getByRole('group', { name: url });
  await card.getByText(`ERP ${XSS}`).waitFor();
  await card.getByText('Nothing sent yet.').waitFor();
  await card.getByRole('button', { name: 'Send a test' }).click();
  await card.getByText('A test event is on its way: it shows below.').waitFor();
  const log = card.getByRole('region', { name: `Deliveries to ${url}` });
  for (let i = 0; i < 40 && !(await log.count()); i++) {
    await page.waitForTimeout(500);
    await card.getByRole('button', { name: 'Refresh the log' }).click();
  }
  const row = log.locator('tbody tr', { hasText: 'webhook.test' });
  for (let i = 0; i < 40 && !(await row.getByText('Delivered').count()); i++) {
    await page.waitForTimeout(500);
    await card.getByRole('button', { name: 'Refresh the log' }).click();
  }
  await row.getByText('Delivered').waitFor();
  await row.getByText('HTTP 200').waitFor();
  assert.equal(received.length, 1);
  assert.equal(received[0].body.type, 'webhook.test');
  assert.ok(received[0].headers['webhook-signature'], 'signed');
  await bothSizes(page, 'webhooks');
  await card.scrollIntoViewIfNeeded();
  await screenshot(page, 'dashboard-settings-webhooks');
  await row.getByRole('button', { name: 'Send again' }).click();
  await card.getByText('webhook.test: sent again.').waitFor();
  for (let i = 0; i < 40 && received.length < 2; i++) await page.waitForTimeout(250);
  assert.equal(received.length, 2, 'sent again');
  await page.getByRole('group', { name: url }).getByRole('button', { name: 'Pause' }).click();
  await page.getByText(`Paused ${url}: events wait until it resumes.`).waitFor();
  assert.equal((await server.api('GET', '/webhooks')).body.webhooks[0].enabled, false);
  const paused = page.getByRole('group', { name: url });
  assert.equal(await paused.getByRole('button', { name: 'Send a test' }).count(), 0);
  await paused.getByRole('button', { name: 'Delete' }).click();
  await paused.getByRole('button', { name: 'Delete: nothing more is sent' }).click();
  await page.getByText(`Deleted ${url}.`).waitFor();
  assert.equal((await server.api('GET', '/webhooks')).body.webhooks.length, 0);
  assert.ok(!(await page.content()).includes(secret), 'the secret is shown once');
  assert.deepEqual(errors, []);
  await close();
});

test('carrier accounts: a key refused when a field is missing, saved and never shown back, then removed', async () => {
  const { page, errors, close } = await open();
  await asOwner(page, '#/settings/carriers');
  const ups = page.getByRole('form', { name: 'UPS' });
  await ups.getByText('No account: parcels of this carrier wait for one.').waitFor();
  await ups.getByLabel('Client ID').fill('my-ups-client');
  await ups.getByRole('button', { name: 'Save' }).click();
  await ups.getByText('fields: UPS needs its Client secret (client_secret)').waitFor();
  const secret = `ups-secret-${Date.now()}`;
  await ups.getByLabel('Client secret').fill(secret);
  await ups.getByRole('button', { name: 'Save' }).click();
  await page.getByText(/^UPS: saved\./).waitFor();
  const saved = page.getByRole('form', { name: 'UPS' });
  await saved.getByText(/^The shop’s own account, set by owner@shop\.example /).waitFor();
  assert.ok(!(await page.content()).includes(secret), 'the secret is not shown back');
  assert.equal(await saved.getByLabel('Client secret').inputValue(), '');
  const api = (await server.api('GET', '/carriers/accounts')).body.accounts.find((a) => a.carrier === 'ups');
  assert.equal(api.configured, true);
  assert.ok(!JSON.stringify(api).includes(secret));
  await bothSizes(page, 'carrier accounts');
  await screenshot(page, 'dashboard-settings-carriers');
  await saved.getByRole('button', { name: 'Remove' }).click();
  await saved.getByRole('button', { name: 'Remove: this server’s account, if any, takes over' }).click();
  await page.getByText('UPS: the shop’s account removed.').waitFor();
  assert.equal((await server.api('GET', '/carriers/accounts')).body.accounts.find((a) => a.carrier === 'ups').configured, false);
  assert.deepEqual(errors, []);
  await close();
});
