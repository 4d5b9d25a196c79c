// Carrier text and user labels are data, never markup: a description such as
// `<img src=x onerror=alert(1)>` shows literally, adds no element, and runs nothing.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { BOLD_LABEL, XSS, setup, waitDetail } from './helpers.mjs';

let env;
before(async () => {
  env = await setup();
});
after(async () => {
  await env?.close();
});

async function assertInert(page, dialogs) {
  // Give an injected element time to load and fire its handler.
  await page.waitForTimeout(500);
  assert.deepEqual(dialogs, [], 'no dialog may open');
  assert.equal(await page.locator('img[src="x"]').count(), 0, 'no <img src=x> in the document');
  assert.equal(await page.evaluate(() => window.__xss === undefined), true);
}

test('a hostile event description shows literally on the home card', async () => {
  const { page, dialogs, errors, close } = await env.open();
  try {
    const card = page.locator(`[data-testid="card"][data-id="${env.seeded.ids.dhl}"]`);
    await card.waitFor();
    assert.equal(await card.locator('.card__detail').textContent(), XSS);
    await assertInert(page, dialogs);
    assert.deepEqual(errors, []);
  } finally {
    await close();
  }
});

test('a hostile event description shows literally on the detail page', async () => {
  const { page, dialogs, errors, close } = await env.open({ hash: `#/parcel/${env.seeded.ids.dhl}` });
  try {
    await waitDetail(page);
    // Its two updates: "Processed at the hub", then the hostile one.
    const descriptions = page.getByTestId('event-description');
    assert.equal(await descriptions.count(), 2);
    const desc = descriptions.first();
    assert.equal(await desc.textContent(), XSS);
    // The latest carrier words under the title too.
    assert.equal(await page.locator('.detail__latest').textContent(), XSS);
    assert.equal(await desc.locator('*').count(), 0, 'the description has no child elements');
    await assertInert(page, dialogs);
    assert.deepEqual(errors, []);
  } finally {
    await close();
  }
});

test('a label with markup shows literally on home and on the detail page', async () => {
  const { page, dialogs, close } = await env.open();
  try {
    const card = page.locator(`[data-testid="card"][data-id="${env.seeded.ids.usps}"]`);
    await card.waitFor();
    assert.equal(await card.locator('.card__title').textContent(), BOLD_LABEL);
    assert.equal(await page.locator('main b').count(), 0, 'no <b> element made from the label');
    await card.click();
    await waitDetail(page);
    assert.equal(await page.getByTestId('detail-title').textContent(), BOLD_LABEL);
    assert.equal(await page.title(), `${BOLD_LABEL} – Parceltrail`);
    assert.equal(await page.locator('main b').count(), 0);
    // The edit form starts from the raw label, as typed.
    await page.getByTestId('edit').click();
    assert.equal(await page.getByTestId('edit-label').inputValue(), BOLD_LABEL);
    await assertInert(page, dialogs);
  } finally {
    await close();
  }
});

test('markup typed into the search box and the add form stays text', async () => {
  const { page, dialogs, close } = await env.open({ hash: '#/add' });
  try {
    await page.getByTestId('paste').fill(`${XSS} <script>window.__xss = 1</script> ${BOLD_LABEL}`);
    await page.waitForSelector('.found-status:not(:empty)');
    assert.match(await page.locator('.found-status').textContent(), /No tracking numbers found/);
    await page.goto(new URL('#/', env.server.url).href);
    // The search finds the parcel whose carrier text it is, and nothing becomes markup.
    await page.getByTestId('search').fill(XSS);
    await page.waitForFunction(() => document.querySelectorAll('[data-testid="card"]').length === 1);
    assert.equal(await page.getByTestId('card').getAttribute('data-id'), env.seeded.ids.dhl);
    await assertInert(page, dialogs);
  } finally {
    await close();
  }
});
