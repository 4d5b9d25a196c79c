// Detail actions: mute (and it stays muted after a reload), archive (the card leaves home),
// remove (after a confirmation), and the edit form, which edits the label only (store and
// order are shown, not editable). A carrier without an account: what the card and the page
// say, until the parcel is delivered.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { NUMBERS, setup, waitDetail } from './helpers.mjs';

let env;
before(async () => {
  env = await setup();
});
after(async () => {
  await env?.close();
});

const buttonText = (loc) => loc.evaluate((el) => el.textContent.trim());

test('mute toggles, shows on the page and on home, and survives a reload', async () => {
  const id = env.seeded.ids.ups;
  const { page, errors, close } = await env.open({ hash: `#/parcel/${id}` });
  try {
    await waitDetail(page);
    const mute = page.getByTestId('mute');
    assert.equal(await buttonText(mute), 'Mute');
    await mute.click();
    await page.waitForFunction(() => document.querySelector('[data-testid="mute"]').textContent.trim() === 'Unmute');
    assert.equal(await page.locator('.detail__meta').getByText('Muted', { exact: true }).count(), 1);
    // The focus stays on the button it was on.
    assert.equal(await page.evaluate(() => document.activeElement?.dataset.testid), 'mute');

    await page.reload();
    await waitDetail(page);
    assert.equal(await buttonText(page.getByTestId('mute')), 'Unmute');
    assert.equal((await env.server.call('detail', { id })).card.muted, true);

    await page.goto(new URL('#/', env.server.url).href);
    const card = page.locator(`[data-testid="card"][data-id="${id}"]`);
    await card.waitFor();
    assert.equal(await card.locator('.card__muted').count(), 1, 'the card shows the muted bell');
    await card.click();
    await waitDetail(page);
    await page.getByTestId('mute').click();
    await page.waitForFunction(() => document.querySelector('[data-testid="mute"]').textContent.trim() === 'Mute');
    assert.equal((await env.server.call('detail', { id })).card.muted, false);
    assert.deepEqual(errors, []);
  } finally {
    await close();
  }
});

test('archive removes the card from home; unarchive brings it back', async () => {
  const id = env.seeded.ids.fedex;
  const { page, close } = await env.open();
  try {
    const card = page.locator(`[data-testid="card"][data-id="${id}"]`);
    await card.click();
    await waitDetail(page);
    await page.getByTestId('archive').click();
    await page.waitForFunction(() => document.querySelector('[data-testid="archive"]').textContent.trim() === 'Unarchive');
    assert.equal(await page.locator('.detail__meta').getByText('Archived', { exact: true }).count(), 1);

    await page.getByRole('link', { name: 'All parcels', exact: true }).click();
    await page.waitForFunction(() => document.body.dataset.view === 'home');
    await page.waitForSelector('[data-testid="card"]');
    assert.equal(await card.count(), 0, 'the archived card is gone from home');
    const tracked = Object.keys(env.seeded.ids).length + env.seeded.sim.length;
    assert.equal(await page.getByTestId('card').count(), tracked - 1);

    // "Include archived" shows it again, and unarchiving puts it back on the list.
    await page.getByTestId('filters-toggle').click();
    await page.getByTestId('filter-all').check();
    await card.waitFor();
    await card.click();
    await waitDetail(page);
    await page.getByTestId('archive').click();
    await page.waitForFunction(() => document.querySelector('[data-testid="archive"]').textContent.trim() === 'Archive');
    assert.equal((await env.server.call('detail', { id })).card.archived, false);
  } finally {
    await close();
  }
});

test('the edit form changes the label only; store and order are shown as text', async () => {
  const id = env.seeded.ids.ups;
  const { page, close } = await env.open({ hash: `#/parcel/${id}` });
  const sent = [];
  try {
    page.on('request', (r) => {
      if (r.url().endsWith('/api/edit')) sent.push(JSON.parse(r.postData()));
    });
    await waitDetail(page);
    await page.getByTestId('edit').click();
    const form = page.getByTestId('edit-form');
    await form.waitFor();
    assert.equal(await form.locator('input[type="text"]').count(), 1, 'one text field: the label');
    const label = page.getByTestId('edit-label');
    assert.equal(await label.inputValue(), 'Running shoes');
    assert.equal(await label.evaluate((el) => el === document.activeElement), true);
    assert.equal(await page.getByTestId('edit-store').textContent(), 'Sportsworld');
    assert.equal(await page.getByTestId('edit-order').textContent(), 'SW-1001');

    await label.fill('Trail shoes');
    await page.getByTestId('edit-save').click();
    await page.waitForFunction(() => document.querySelector('[data-testid="detail-title"]').textContent === 'Trail shoes');
    assert.equal(await form.count(), 0, 'the form closes');
    assert.deepEqual(sent.at(-1), { id, label: 'Trail shoes' });

    // An empty label clears it: the store names the parcel again.
    await page.getByTestId('edit').click();
    assert.equal(await page.getByTestId('edit-label').inputValue(), 'Trail shoes');
    await page.getByTestId('edit-label').fill('');
    await page.getByTestId('edit-label').press('Enter');
    await page.waitForFunction(() => document.querySelector('[data-testid="detail-title"]').textContent === 'Sportsworld');
    assert.deepEqual(sent.at(-1), { id, label: '' });
    const d = await env.server.call('detail', { id });
    assert.equal(d.card.label, null);
    assert.equal(d.order.store, 'Sportsworld');
    assert.equal(d.order.order_number, 'SW-1001');

    // With no label, the form starts empty (not from the store-made title); Escape closes it.
    await page.getByTestId('edit').click();
    assert.equal(await page.getByTestId('edit-label').inputValue(), '');
    await page.getByTestId('edit-label').press('Escape');
    assert.equal(await page.getByTestId('edit-form').count(), 0);
    assert.equal(await page.evaluate(() => document.activeElement?.dataset.testid), 'edit');
    assert.equal(sent.length, 2);
  } finally {
    await close();
  }
});

test('remove asks first; cancel keeps the parcel, confirm removes it', async () => {
  const id = env.seeded.ids.usps;
  const { page, dialogs, close } = await env.open({ hash: `#/parcel/${id}` });
  try {
    await waitDetail(page);
    await page.getByTestId('remove').click();
    const dialog = page.getByRole('dialog', { name: 'Remove this parcel?' });
    await dialog.waitFor();
    // The safe choice has the focus; Escape cancels.
    assert.equal(await page.evaluate(() => document.activeElement?.textContent), 'Cancel');
    await page.keyboard.press('Escape');
    await dialog.waitFor({ state: 'detached' });
    assert.equal(await page.evaluate(() => document.activeElement?.dataset.testid), 'remove');
    assert.equal((await env.server.call('detail', { id })).card.id, id);

    await page.getByTestId('remove').click();
    await dialog.getByRole('button', { name: 'Remove' }).click();
    await page.waitForURL((u) => u.hash === '#/');
    await page.waitForSelector('[data-testid="card"]');
    assert.equal(await page.locator(`[data-testid="card"][data-id="${id}"]`).count(), 0);
    await assert.rejects(env.server.call('detail', { id }), /404/);
    assert.deepEqual(dialogs, [], 'no browser dialog (the app uses its own)');
  } finally {
    await close();
  }
});

test('a carrier without an account: the card and the page say so (until delivered), with a way to Settings', async () => {
  const id = env.seeded.ids.dpd;
  const { page, errors, close } = await env.open();
  try {
    // On home: a warning chip that names the cause, the backend's words on hover.
    const chip = page.locator(`[data-testid="card"][data-id="${id}"] .card__chips .chip`, { hasText: 'No carrier account' });
    await chip.waitFor();
    assert.match(await chip.getAttribute('title'), /no dpd account is set up: add one in Settings → Carriers/i);
    // A delivered parcel needs no carrier: no error, although FedEx has no account either.
    const delivered = page.locator(`[data-testid="card"][data-id="${env.seeded.ids.fedex}"]`);
    await delivered.waitFor();
    assert.equal(await delivered.locator('.card__chips').count(), 0, 'no warning on a delivered parcel');

    await page.locator(`[data-testid="card"][data-id="${id}"]`).click();
    await waitDetail(page);
    const error = page.getByTestId('carrier-error');
    await error.waitFor();
    assert.match(await error.textContent(), /Settings → Carriers/);
    await error.getByTestId('open-settings').click();
    await page.waitForURL((u) => u.hash === '#/settings');
    await page.locator('[data-testid="carrier-settings"]').first().waitFor();

    // Then delivered (a neighbour took it, says the file imported): the journey has ended, so
    // the missing account is no news any more.
    assert.match((await env.server.call('detail', { id })).card.error, /no dpd account/i);
    const when = new Date().toISOString().replace(/\.\d{3}Z$/, 'Z');
    const csv = `tracking_number,carrier,event_time,event_status,event_description,event_city,event_country\n${NUMBERS.dpd},DPD,${when},delivered,Delivered to a neighbour,Hamburg,DE\n`;
    const report = await env.server.call('import', { filename: 'delivered.csv', content: csv });
    assert.equal(report.events_added, 1);
    const d = await env.server.call('detail', { id });
    assert.equal(d.card.status, 'delivered');
    assert.equal(d.card.error, null, 'no carrier error once delivered');
    await page.goto(new URL('#/', env.server.url).href);
    const card = page.locator(`[data-testid="group"][data-group="delivered_recently"] [data-testid="card"][data-id="${id}"]`);
    await card.waitFor();
    assert.equal(await card.locator('.chip', { hasText: /No carrier account|Carrier not reachable/ }).count(), 0, 'no carrier warning');
    assert.deepEqual(errors, []);
  } finally {
    await close();
  }
});

test('the likely delivery reads as precise as its window, never to the odd minute', async () => {
  // Every parcel still tracked (earlier tests remove one) with an estimate: the row shows the
  // core's words for it.
  const home = await env.server.call('home', { all: true });
  const ids = home.groups.flatMap((g) => g.cards).map((c) => c.id);
  const withEstimate = [];
  for (const id of ids) {
    const d = await env.server.call('detail', { id });
    if (d.estimate_likely) withEstimate.push([id, d.estimate_likely]);
  }
  assert.ok(withEstimate.length > 0, 'a seeded parcel has an estimate');
  const { page, errors, close } = await env.open();
  try {
    for (const [id, likely] of withEstimate) {
      await page.goto(new URL(`#/parcel/${id}`, env.server.url).href);
      await waitDetail(page);
      const row = page.getByTestId('eta').locator('.kv').filter({ has: page.getByText('Most likely', { exact: true }) });
      const shown = (await row.locator('dd').textContent()).trim();
      // The estimate may have moved on since it was read; the form is what matters.
      assert.match(shown, /^(today|tomorrow|[A-Z][a-z]{2} \d{1,2} [A-Z][a-z]{2}( \d{4})?)(, by (\d\d:(00|15|30|45)|23:59))?$/, `${likely} → ${shown}`);
    }
    assert.deepEqual(errors, []);
  } finally {
    await close();
  }
});
