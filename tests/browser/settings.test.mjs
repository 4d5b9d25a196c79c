// Settings: the theme switch (applied at once, kept by the backend across reloads and new
// browsers), quiet hours (saved and shown again), notification kinds, and ending the demo.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { axeSerious, describeViolations, setup } from './helpers.mjs';

let env;
before(async () => {
  env = await setup({ seed: false });
});
after(async () => {
  await env?.close();
});

const theme = (page) => page.evaluate(() => document.documentElement.dataset.theme);
/** The mean of an `rgb(r, g, b)` colour's channels. */
const brightness = (rgb) => {
  const [r, g, b] = rgb.match(/\d+/g).map(Number);
  return (r + g + b) / 3;
};
const bodyBackground = (page) => page.evaluate(() => getComputedStyle(document.body).backgroundColor);

test('the dark theme applies at once and persists after a reload', async () => {
  const { page, errors, close } = await env.open({ hash: '#/settings' });
  try {
    await page.getByTestId('theme-system').waitFor({ state: 'attached' });
    assert.equal(await theme(page), 'system');
    assert.equal(await page.getByTestId('theme-system').isChecked(), true);
    const light = await bodyBackground(page);

    await page.getByTestId('theme-dark').check();
    await page.waitForFunction(() => document.documentElement.dataset.theme === 'dark');
    assert.notEqual(await bodyBackground(page), light, 'the page turns dark');
    await expectSaved('dark');

    await page.reload();
    await page.waitForSelector('body[data-ready="1"]', { state: 'attached' });
    assert.equal(await theme(page), 'dark');
    assert.equal(await page.getByTestId('theme-dark').isChecked(), true);
    assert.deepEqual(errors, []);
  } finally {
    await close();
  }
  // A new browser profile (nothing remembered locally) gets the backend's word.
  const other = await env.open({ hash: '#/' });
  try {
    await other.page.waitForFunction(() => document.documentElement.dataset.theme === 'dark');
  } finally {
    await other.close();
  }
  // Light, chosen on a system that prefers dark, stays light; back to the system theme, dark.
  const again = await env.open({ hash: '#/settings', colorScheme: 'dark' });
  try {
    await again.page.getByTestId('theme-light').check();
    await again.page.waitForFunction(() => document.documentElement.dataset.theme === 'light');
    const chosen = await bodyBackground(again.page);
    assert.ok(brightness(chosen) > 200, `a light page on a dark system (${chosen})`);
    await expectSaved('light');
    await again.page.getByTestId('theme-system').check();
    await again.page.waitForFunction(() => document.documentElement.dataset.theme === 'system');
    const system = await bodyBackground(again.page);
    assert.ok(brightness(system) < 60, `the system's dark (${system})`);
    await expectSaved('system');
  } finally {
    await again.close();
  }
});

async function expectSaved(value) {
  for (let i = 0; i < 50; i++) {
    if ((await env.server.call('settings')).theme === value) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  assert.fail(`the backend did not save theme ${value}`);
}

async function savedQuiet() {
  return (await env.server.call('settings')).notifications.quiet;
}

test('quiet hours save, show again after a reload, and switch off', async () => {
  const { page, close } = await env.open({ hash: '#/settings' });
  try {
    const on = page.getByTestId('quiet');
    await on.waitFor({ state: 'attached' });
    if (await on.isChecked()) {
      await on.uncheck();
      await waitFor(async () => (await savedQuiet()) === null);
    }
    await on.check();
    await page.getByTestId('quiet-start').fill('21:30');
    await page.getByTestId('quiet-end').fill('06:45');
    await page.getByTestId('quiet-allow').uncheck();
    await waitFor(async () => {
      const q = await savedQuiet();
      return q && q.start.startsWith('21:30') && q.end.startsWith('06:45') && q.allow_delivered === false;
    });

    await page.reload();
    await page.getByTestId('quiet').waitFor({ state: 'attached' });
    assert.equal(await page.getByTestId('quiet').isChecked(), true);
    assert.equal(await page.getByTestId('quiet-start').inputValue(), '21:30');
    assert.equal(await page.getByTestId('quiet-end').inputValue(), '06:45');
    assert.equal(await page.getByTestId('quiet-allow').isChecked(), false);

    await page.getByTestId('quiet').uncheck();
    assert.equal(await page.getByTestId('quiet-start').isVisible(), false);
    await waitFor(async () => (await savedQuiet()) === null);
    await page.reload();
    await page.getByTestId('quiet').waitFor({ state: 'attached' });
    assert.equal(await page.getByTestId('quiet').isChecked(), false);
  } finally {
    await close();
  }
});

test('a notification kind switched off stays off', async () => {
  const { page, close } = await env.open({ hash: '#/settings' });
  try {
    const boxes = page.locator('[data-testid^="kind-"]');
    await boxes.first().waitFor({ state: 'attached' });
    const first = boxes.first();
    const testid = await first.getAttribute('data-testid');
    const was = await first.isChecked();
    await first.setChecked(!was);
    const kind = testid.slice('kind-'.length);
    await waitFor(async () => {
      const s = await env.server.call('settings');
      const desktop = s.notifications.channels.find((c) => c.channel === 'desktop');
      const kinds = desktop ? desktop.kinds.split(',') : [];
      const on = kinds.includes(kind) || kinds.includes('all') || kinds.includes('default');
      return on === !was;
    });
    await page.reload();
    await page.getByTestId(testid).waitFor({ state: 'attached' });
    assert.equal(await page.getByTestId(testid).isChecked(), !was);
  } finally {
    await close();
  }
});

test('"End the demo" shows only while the demo runs, and removes its parcels', async () => {
  const { page, errors, close } = await env.open({ hash: '#/settings' });
  try {
    await page.getByTestId('theme-system').waitFor({ state: 'attached' });
    assert.equal(await page.getByTestId('demo-settings').count(), 0, 'no demo section without the demo');
    assert.equal(await page.getByTestId('end-demo').count(), 0);

    const { added } = await env.server.call('start_demo');
    assert.equal(added, 12);
    await page.reload();
    const section = page.getByTestId('demo-settings');
    await section.waitFor();
    assert.equal(await section.locator('h2').textContent(), 'Demo');
    assert.match(await section.textContent(), /Demo parcels are moved along by the built-in simulator\./);
    const serious = await axeSerious(page);
    assert.equal(serious.length, 0, describeViolations(serious));

    await page.getByTestId('end-demo').click();
    await page.locator('.toast__text', { hasText: 'Removed 12 demo parcels' }).waitFor();
    await section.waitFor({ state: 'detached' });
    assert.equal(await page.evaluate(() => document.activeElement?.tagName), 'H1', 'the focus goes to the heading, not lost with the button');
    const s = await env.server.call('settings');
    assert.equal(s.demo, false);
    const home = await env.server.call('home', {});
    assert.equal(home.total, 0, 'the demo parcels are gone');
    assert.equal(home.demo, false);
    assert.equal(home.first_run, true, 'an empty app again: the welcome offers the demo');
    // Nothing left to end.
    assert.deepEqual(await env.server.call('end_demo'), { removed: 0 });
    assert.deepEqual(errors, []);
  } finally {
    await close();
  }
});

async function waitFor(check, ms = 10000) {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  assert.fail(`not saved within ${ms} ms: ${check}`);
}
