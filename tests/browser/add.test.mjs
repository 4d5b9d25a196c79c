// Adding parcels: paste a whole email, see what was found (carriers, the invalid number and
// why), give the store and order, track, and find the new parcels on home.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { EMAIL, setup, waitDetail } from './helpers.mjs';

let env;
before(async () => {
  env = await setup();
});
after(async () => {
  await env?.close();
});

test('paste an email, review the numbers found, track them', async () => {
  const { page, errors, close } = await env.open();
  try {
    await page.getByTestId('add-link').click();
    await page.waitForURL(/#\/add$/);
    const paste = page.getByTestId('paste');
    assert.equal(await paste.evaluate((el) => el === document.activeElement), true, 'the paste box has the focus');
    await paste.fill(EMAIL);

    const found = page.getByTestId('found');
    await page.waitForFunction(() => document.querySelectorAll('[data-testid="found"]').length === 3);
    const rows = await found.evaluateAll((els) =>
      els.map((el) => ({
        number: el.dataset.number,
        carrier: el.querySelector('.badge')?.textContent ?? '',
        reason: el.querySelector('[data-testid="reason"]')?.textContent ?? null,
        fromLink: /from a carrier link/.test(el.textContent),
        included: el.querySelector('[data-testid="include"]').checked,
      })),
    );
    const byNumber = Object.fromEntries(rows.map((r) => [r.number, r]));
    assert.deepEqual(Object.keys(byNumber).sort(), ['1Z12345E0205271688', '1Z999AA10123456784', '3318810036']);

    assert.equal(byNumber['1Z999AA10123456784'].carrier, 'UPS');
    assert.equal(byNumber['1Z999AA10123456784'].fromLink, true);
    assert.equal(byNumber['1Z999AA10123456784'].reason, null);
    assert.equal(byNumber['1Z999AA10123456784'].included, true);

    assert.equal(byNumber['3318810036'].carrier, 'DHL Express');
    assert.equal(byNumber['3318810036'].reason, null);
    assert.equal(byNumber['3318810036'].included, true);

    const bad = byNumber['1Z12345E0205271688'];
    assert.equal(bad.included, false, 'an invalid number is not ticked');
    assert.match(bad.reason, /check digit should be 6, not 8/);
    assert.match(await page.locator('.found-status').textContent(), /Found 3 numbers, 2 valid/);

    await page.getByTestId('add-store').fill('Northwind Outfitters');
    await page.getByTestId('add-order').fill('A-2291');
    const track = page.getByTestId('track');
    assert.equal(await track.textContent(), 'Track 2 parcels');
    await track.click();
    await page.locator('.toast__text', { hasText: 'Tracking 2 new parcels' }).waitFor();
    assert.equal(await page.locator('.toast__text', { hasText: /demo/i }).count(), 0, 'no demo was running: nothing said about one');

    // The first new parcel opens; the store names it.
    await page.waitForURL(/#\/parcel\//);
    await waitDetail(page);
    assert.equal(await page.getByTestId('detail-title').textContent(), 'Northwind Outfitters');

    await page.getByRole('link', { name: 'All parcels', exact: true }).click();
    await page.waitForFunction(() => document.body.dataset.view === 'home');
    const cards = page.locator('[data-testid="card"]', { has: page.locator('.card__title', { hasText: /^Northwind Outfitters$/ }) });
    const tracked = Object.keys(env.seeded.ids).length + env.seeded.sim.length + 2;
    await page.waitForFunction((n) => document.querySelectorAll('[data-testid="card"]').length === n, tracked);
    assert.equal(await cards.count(), 2);
    const carriers = (await cards.locator('.badge').allTextContents()).sort();
    assert.deepEqual(carriers, ['DHL Express', 'UPS']);

    // The backend has them with the order details.
    const home = await env.server.call('home', { filter: { store: 'Northwind Outfitters' } });
    const numbers = home.groups.flatMap((g) => g.cards.map((c) => c.tracking_number)).sort();
    assert.deepEqual(numbers, ['1Z999AA10123456784', '3318810036']);
    assert.deepEqual(errors, []);
  } finally {
    await close();
  }
});

test('a number already tracked is marked and not ticked', async () => {
  const { page, close } = await env.open({ hash: '#/add' });
  try {
    await page.getByTestId('paste').fill('1Z5R89390357567127');
    const row = page.locator('[data-testid="found"][data-number="1Z5R89390357567127"]');
    await row.waitFor();
    assert.equal(await row.getByTestId('tracked').textContent(), 'Already tracked');
    assert.equal(await row.getByTestId('include').isChecked(), false);
    assert.equal(await page.getByTestId('track').isDisabled(), true);
    await row.getByTestId('tracked').click();
    await page.waitForURL(new RegExp(`#/parcel/${env.seeded.ids.ups}$`));
  } finally {
    await close();
  }
});
