// axe-core on every page (home, detail, add, settings) at desktop and phone sizes, light and
// dark: no violation of impact serious or critical.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { DESKTOP, EMAIL, PHONE, axeSerious, describeViolations, setup, waitDetail, waitSimTracked } from './helpers.mjs';

let env;
before(async () => {
  env = await setup();
  // The simulator parcel the detail page shows, with its first update (and estimate).
  await waitSimTracked(env, { ids: [env.seeded.sim[0].id] });
});
after(async () => {
  await env?.close();
});

const PAGES = {
  async home(page) {
    await page.waitForSelector('[data-testid="card"]');
    // With the filters open, so that their form is checked too.
    await page.getByTestId('filters-toggle').click();
    await page.getByTestId('filter-carrier').waitFor();
  },
  async detail(page) {
    // A simulator parcel: the carrier's estimate, updates, the route so far.
    await page.goto(new URL(`#/parcel/${env.seeded.sim[0].id}`, env.server.url).href);
    await waitDetail(page);
    await page.getByTestId('edit').click();
    await page.getByTestId('edit-form').waitFor();
  },
  async 'detail with problems'(page) {
    // A failed delivery attempt, at a carrier without an account (with a link to Settings).
    await page.goto(new URL(`#/parcel/${env.seeded.ids.dpd}`, env.server.url).href);
    await waitDetail(page);
    await page.getByTestId('carrier-error').waitFor();
  },
  async add(page) {
    await page.goto(new URL('#/add', env.server.url).href);
    await page.getByTestId('paste').fill(EMAIL);
    await page.waitForFunction(() => document.querySelectorAll('[data-testid="found"]').length === 3);
  },
  async settings(page) {
    await page.goto(new URL('#/settings', env.server.url).href);
    await page.getByTestId('quiet').check();
    await page.getByTestId('quiet-start').waitFor();
  },
};

for (const [size, viewport] of [
  ['desktop', DESKTOP],
  ['phone', PHONE],
]) {
  for (const colorScheme of ['light', 'dark']) {
    test(`no serious or critical axe violations: ${size}, ${colorScheme}`, async () => {
      // Not live: pushed updates would re-render the page under axe.
      const { page, close } = await env.open({ viewport, colorScheme, live: false });
      const failures = [];
      try {
        for (const [name, show] of Object.entries(PAGES)) {
          await show(page);
          // Off-screen cards skip rendering (content-visibility: auto): render them all, so
          // that axe can check their colours.
          await page.evaluate(() => {
            for (const c of document.querySelectorAll('.card')) c.style.contentVisibility = 'visible';
          });
          const serious = await axeSerious(page);
          if (serious.length) failures.push(`${name} (${size}, ${colorScheme}):\n${describeViolations(serious)}`);
        }
      } finally {
        await close();
      }
      assert.equal(failures.length, 0, `axe found serious or critical violations:\n${failures.join('\n\n')}`);
    });
  }
}
