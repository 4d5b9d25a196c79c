// The first start: nothing tracked and no carrier account. Home welcomes the user and offers
// the demo; starting it fills the list. The demo runs in an empty app only: the first own
// parcel ends it (its parcels go), and it cannot start again beside own parcels.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { axeSerious, describeViolations, setup, waitDetail } from './helpers.mjs';

let env;
before(async () => {
  env = await setup({ seed: false });
});
after(async () => {
  await env?.close();
});

// Valid, and not one of the demo's (simulated DHL Express) numbers.
const OWN = '1Z999AA10123456784';
const DEMO_REFUSED = /the demo runs in an empty app/;

const toast = (page, text) => page.locator('.toast__text', { hasText: text });

test('a demo that can no longer start says why', async () => {
  // The welcome is on screen (held still: no pushed events) while a parcel is added elsewhere.
  const { page, errors, close } = await env.open({ live: false });
  try {
    await page.getByTestId('welcome').waitFor();
    const { added } = await env.server.call('add', { items: [{ number: OWN }] });
    await page.getByTestId('start-demo').click();
    await toast(page, DEMO_REFUSED).waitFor();
    assert.match(await toast(page, DEMO_REFUSED).textContent(), /^Couldn't start the demo: /);
    // The page then shows what is there: the parcel added meanwhile, no demo.
    await page.waitForFunction(() => document.querySelectorAll('[data-testid="card"]').length === 1);
    assert.equal(await page.getByTestId('welcome').count(), 0);
    assert.equal(await page.getByTestId('demo-note').count(), 0);
    // Back to an empty app for the next test.
    await env.server.call('remove', { id: added[0].id });
    assert.equal((await env.server.call('home', {})).first_run, true);
    assert.deepEqual(errors, []);
  } finally {
    await close();
  }
});

test('the welcome offers the demo; the first own parcel ends it', async () => {
  const { page, errors, close } = await env.open();
  try {
    const welcome = page.getByTestId('welcome');
    await welcome.waitFor();
    assert.equal(await welcome.locator('h2').textContent(), 'Welcome to Parceltrail');
    assert.equal(await page.getByTestId('filters-toggle').isVisible(), false, 'no filters for an empty list');
    assert.equal(await page.getByTestId('card').count(), 0);
    const serious = await axeSerious(page);
    assert.equal(serious.length, 0, describeViolations(serious));

    // The demo: 12 simulated parcels, and a note saying so.
    await page.getByTestId('start-demo').click();
    await page.waitForFunction(() => document.querySelectorAll('[data-testid="card"]').length === 12);
    await page.getByTestId('demo-note').waitFor();
    assert.equal(await welcome.count(), 0);
    assert.match(await page.locator('.page__sub').textContent(), /12 tracked/);
    const demo = await env.server.call('home', {});
    assert.equal(demo.demo, true);
    assert.equal((await env.server.call('settings')).demo, true);

    // An own parcel, through the Add page: the demo ends, and says so.
    await page.getByTestId('add-link').click();
    await page.getByTestId('paste').fill(OWN);
    await page.locator(`[data-testid="found"][data-number="${OWN}"]`).waitFor();
    await page.getByTestId('add-label').fill('My own parcel');
    await page.getByTestId('track').click();
    await toast(page, 'The demo has ended: your own parcels are tracked now.').waitFor();
    await page.waitForURL(/#\/parcel\//);
    await waitDetail(page);
    assert.equal(await page.getByTestId('detail-title').textContent(), 'My own parcel');

    // Home: the demo parcels are gone, the own one remains.
    await page.getByRole('link', { name: 'All parcels', exact: true }).click();
    await page.waitForFunction(() => document.body.dataset.view === 'home');
    await page.waitForFunction(() => document.querySelectorAll('[data-testid="card"]').length === 1);
    assert.equal(await page.locator('[data-testid="card"] .card__title').textContent(), 'My own parcel');
    assert.equal(await page.getByTestId('demo-note').count(), 0, 'no demo note');
    assert.match(await page.locator('.page__sub').textContent(), /1 tracked/);
    const home = await env.server.call('home', {});
    assert.equal(home.total, 1);
    assert.equal(home.demo, false);
    assert.equal(home.first_run, false);
    assert.equal((await env.server.call('settings')).demo, false);

    // The demo does not start beside own parcels; the backend says why.
    const refused = await env.server.call('start_demo').then(
      () => null,
      (e) => e,
    );
    assert.ok(refused, 'start_demo is refused');
    assert.equal(refused.status, 400);
    assert.equal(refused.body.field, 'demo');
    assert.match(refused.body.error, DEMO_REFUSED);
    assert.equal((await env.server.call('home', {})).total, 1, 'nothing was added');
    assert.deepEqual(errors, []);
  } finally {
    await close();
  }
});
