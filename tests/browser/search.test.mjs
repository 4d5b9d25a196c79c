// Home: search and filters narrow the list and clearing restores it; the keyboard reaches
// the search, the add button and the cards, and Enter opens a parcel.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { CARRIER_NAMES, NUMBERS, setup, waitDetail } from './helpers.mjs';

let env;
let total;
before(async () => {
  env = await setup();
  total = Object.keys(env.seeded.ids).length + env.seeded.sim.length;
});
after(async () => {
  await env?.close();
});

const cardIds = (page) => page.$$eval('[data-testid="card"]', (els) => els.map((el) => el.dataset.id).sort());
const waitIds = (page, ids) =>
  page.waitForFunction((want) => JSON.stringify([...document.querySelectorAll('[data-testid="card"]')].map((el) => el.dataset.id).sort()) === JSON.stringify([...want].sort()), ids);
const waitCards = (page, n) => page.waitForFunction((n) => document.querySelectorAll('[data-testid="card"]').length === n && document.querySelector('.groups[aria-busy="false"]'), n);

test('typing in the search narrows the cards; clearing it restores them', async () => {
  const { page, errors, close } = await env.open();
  try {
    await waitCards(page, total);
    const all = await cardIds(page);
    const search = page.getByTestId('search');

    await search.fill('sportsworld');
    await waitIds(page, [env.seeded.ids.ups]);
    assert.match(await page.locator('.page__sub').textContent(), new RegExp(`showing 1 of ${total}`));

    // A tracking number finds its parcel too.
    await search.fill(NUMBERS.fedex);
    await waitIds(page, [env.seeded.ids.fedex]);

    await search.fill('no such parcel anywhere');
    await page.getByTestId('no-match').waitFor();
    assert.equal(await page.getByTestId('card').count(), 0);

    // Escape clears the search.
    await search.press('Escape');
    await waitIds(page, all);
    assert.equal(await search.inputValue(), '');
    assert.deepEqual(errors, []);
  } finally {
    await close();
  }
});

test('the carrier and store filters narrow the cards; clearing restores them', async () => {
  const { page, close } = await env.open();
  try {
    await waitCards(page, total);
    const all = await cardIds(page);
    const toggle = page.getByTestId('filters-toggle');
    assert.equal(await toggle.getAttribute('aria-expanded'), 'false');
    await toggle.click();
    assert.equal(await toggle.getAttribute('aria-expanded'), 'true');

    const carrier = page.getByTestId('filter-carrier');
    const offered = await carrier.locator('option').allTextContents();
    assert.deepEqual(offered, ['Any carrier', ...CARRIER_NAMES]);
    await carrier.selectOption('ups');
    await waitIds(page, [env.seeded.ids.ups]);
    assert.equal(await toggle.getAttribute('aria-label'), 'Filters (1 active)');

    await carrier.selectOption('');
    await waitCards(page, total);

    await page.getByTestId('filter-store').selectOption('Bookshop');
    await waitIds(page, [env.seeded.ids.usps]);

    await page.getByRole('button', { name: 'Clear filters' }).click();
    await waitIds(page, all);
    assert.equal(await toggle.getAttribute('aria-label'), 'Filters');

    // Filters and search together: nothing matches, then "Clear search and filters".
    await carrier.selectOption('fedex');
    await page.getByTestId('search').fill('sportsworld');
    await page.getByTestId('no-match').waitFor();
    await page.getByRole('button', { name: 'Clear search and filters' }).click();
    await waitCards(page, total);
    assert.equal(await page.getByTestId('search').inputValue(), '');
  } finally {
    await close();
  }
});

test('the keyboard reaches the search, the add button and a card; Enter opens it', async () => {
  const { page, close } = await env.open();
  try {
    await waitCards(page, total);
    const reached = [];
    for (let i = 0; i < 12; i++) {
      await page.keyboard.press('Tab');
      const at = await page.evaluate(() => {
        const a = document.activeElement;
        return a ? { testid: a.dataset.testid || null, id: a.dataset.id || null, visible: a.matches(':focus-visible') } : {};
      });
      reached.push(at);
      if (at.testid === 'card') break;
    }
    const order = reached.map((r) => r.testid);
    const iSearch = order.indexOf('search');
    const iAdd = order.indexOf('add-link');
    const iCard = order.indexOf('card');
    assert.ok(iSearch >= 0, `Tab reaches the search (${order.join(', ')})`);
    assert.ok(iAdd > iSearch, `then the add button (${order.join(', ')})`);
    assert.ok(iCard > iAdd, `then a card (${order.join(', ')})`);
    assert.ok(reached[iCard].visible, 'the focused card shows a focus ring (:focus-visible)');

    const id = reached[iCard].id;
    await page.keyboard.press('Enter');
    await page.waitForURL((u) => u.hash === `#/parcel/${id}`);
    await waitDetail(page);
    // The new page's heading takes the focus, so reading starts there.
    assert.equal(await page.evaluate(() => document.activeElement?.dataset.testid), 'detail-title');

    // "/" focuses the search on home.
    await page.goBack();
    await waitCards(page, total);
    await page.keyboard.press('/');
    assert.equal(await page.evaluate(() => document.activeElement?.dataset.testid), 'search');
  } finally {
    await close();
  }
});
