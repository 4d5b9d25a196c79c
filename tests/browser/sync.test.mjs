// The app in sync with a shop server, from Settings: a wrong key refused with the reason; the
// right one signs in, the shop's parcel appears on the home screen with its label; a label
// set in the app reaches the server on "Sync now"; signing out keeps the parcels. axe-core on
// the section signed in and out.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { NUMBERS, axeSerious, describeViolations, setup, startShopServer } from './helpers.mjs';

let env;
let shop;
before(async () => {
  shop = await startShopServer({ shop: 'Ada’s parcels' });
  const made = await shop.api('POST', '/orders', {
    order_number: 'S-1',
    channel: 'Trailhead',
    customer: { email: 'ada@example.com' },
    shipments: [{ tracking_number: NUMBERS.ups, label: 'Trail shoes' }],
  });
  assert.equal(made.status, 201, JSON.stringify(made.body));
  env = await setup({ seed: false });
});
after(async () => {
  await env?.close();
  await shop?.stop();
});

async function noSerious(page, where) {
  const v = await axeSerious(page);
  assert.deepEqual(v, [], `${where}: ${describeViolations(v)}`);
}

test("signing in from Settings brings the shop's parcels; a label goes back; signing out keeps them", async () => {
  const { page, errors, close } = await env.open({ hash: '#/settings' });
  try {
    const sec = page.getByTestId('sync-settings');
    await sec.waitFor();
    await noSerious(page, 'sync signed out');
    await sec.getByLabel('Server address').fill(shop.url);
    await sec.getByLabel('API key').fill('ptk_not_the_key');
    await sec.getByRole('button', { name: 'Sign in' }).click();
    await sec.getByTestId('sync-status').filter({ hasText: /401|not valid/ }).waitFor();

    await sec.getByLabel('API key').fill(shop.key);
    await sec.getByRole('button', { name: 'Sign in' }).click();
    const signed = page.getByTestId('sync-settings');
    await signed.getByTestId('sync-url').filter({ hasText: shop.url }).waitFor();
    const status = signed.getByTestId('sync-status');
    await status.filter({ hasText: /Signed in/ }).waitFor();
    assert.match(await status.textContent(), /1 parcel received/);
    await noSerious(page, 'sync signed in');

    await page.goto(new URL('#/', env.server.url).href);
    const card = page.locator('.card').filter({ hasText: 'Trail shoes' });
    await card.waitFor();

    // Renamed in the app: on the server after "Sync now".
    const id = await page.evaluate(async (number) => {
      const r = await fetch('/api/home', { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
      // The parcel's id, wherever the home view keeps the card with this number.
      const find = (v) => {
        if (!v || typeof v !== 'object') return null;
        if (v.tracking_number === number && typeof v.id === 'string') return v.id;
        for (const x of Object.values(v)) {
          const f = find(x);
          if (f) return f;
        }
        return null;
      };
      return find(await r.json());
    }, NUMBERS.ups);
    assert.ok(id, 'the parcel is on the home screen');
    const edited = await page.evaluate(async (sid) => {
      const r = await fetch('/api/edit', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ id: sid, label: 'Shoes for the trail' }) });
      return r.status;
    }, id);
    assert.equal(edited, 200);
    await page.goto(new URL('#/settings', env.server.url).href);
    await page.getByTestId('sync-now').click();
    await page.getByTestId('sync-status').filter({ hasText: /Synced: 1 parcel sent/ }).waitFor();
    const orders = await shop.api('GET', '/orders?order_number=S-1');
    assert.equal(orders.body.orders[0].shipments[0].label, 'Shoes for the trail');

    await page.getByTestId('sync-logout').click();
    await page.getByTestId('sync-url-input').waitFor();
    await page.goto(new URL('#/', env.server.url).href);
    await page.locator('.card').filter({ hasText: 'Shoes for the trail' }).waitFor();
    assert.deepEqual(errors, []);
  } finally {
    await close();
  }
});
