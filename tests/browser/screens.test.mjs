// Home, detail, add and settings as a person sees them: the seeded parcels (several carriers and
// statuses) and simulator parcels moving along live (`serve --sim`, 600× speed). Layout at
// desktop and phone sizes, dark mode, screenshots for docs/screenshots/, and changes pushed
// from the backend showing up without a reload.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { DESKTOP, EMAIL, PHONE, screenshot, setup, waitDetail, waitSimTracked } from './helpers.mjs';

const GROUP_TITLES = {
  arriving_today: 'Arriving today',
  on_the_way: 'On the way',
  needs_attention: 'Needs attention',
  delivered_recently: 'Delivered recently',
};

let env;
before(async () => {
  // Plain words where the XSS tests seed markup: these pages end up in the README.
  env = await setup({ hostile: false });
});
after(async () => {
  await env?.close();
});

/** What home shows: its groups (heading, count, cards) and each card's parts. */
function homeLayout(page) {
  return page.evaluate(() => {
    const visible = (el) => {
      if (!el) return false;
      const r = el.getBoundingClientRect();
      return r.width > 0 && r.height > 0 && getComputedStyle(el).visibility !== 'hidden';
    };
    return [...document.querySelectorAll('[data-testid="group"]')].map((g) => {
      const h2 = g.querySelector('h2');
      return {
        group: g.dataset.group,
        heading: h2 ? h2.firstElementChild.textContent : null,
        headingVisible: visible(h2),
        count: Number(g.querySelector('.group__count')?.firstChild?.textContent),
        cards: [...g.querySelectorAll('[data-testid="card"]')].map((c) => {
          const r = c.getBoundingClientRect();
          const bar = c.querySelector('[role="progressbar"]');
          return {
            id: c.dataset.id,
            title: c.querySelector('.card__title')?.textContent ?? '',
            carrier: c.querySelector('.badge')?.textContent ?? '',
            status: c.querySelector('.chip[data-status]')?.textContent ?? '',
            progress: bar ? Number(bar.getAttribute('aria-valuenow')) : null,
            parts: [c.querySelector('.card__title'), c.querySelector('.badge'), c.querySelector('.chip[data-status]'), bar].every(visible),
            left: r.left,
            right: r.right,
          };
        }),
      };
    });
  });
}

function assertHome(groups, width) {
  // Every group is there: the seeded parcels cover them (out for delivery, in transit, a
  // failed delivery and carriers without an account, two deliveries).
  assert.deepEqual(
    groups.map((g) => g.group),
    ['arriving_today', 'on_the_way', 'needs_attention', 'delivered_recently'],
    'the four groups, in order',
  );
  let cards = 0;
  const carriers = new Set();
  for (const g of groups) {
    assert.equal(g.heading, GROUP_TITLES[g.group], `group ${g.group} has its heading`);
    assert.ok(g.headingVisible);
    assert.equal(g.count, g.cards.length, `${g.group}: the count says how many cards`);
    for (const c of g.cards) {
      cards += 1;
      carriers.add(c.carrier);
      assert.ok(c.title.trim(), `card ${c.id} has a title`);
      assert.ok(c.carrier.trim(), `card ${c.title} has a carrier badge`);
      assert.ok(c.status.trim(), `card ${c.title} has a status`);
      assert.ok(c.progress >= 0 && c.progress <= 100, `card ${c.title} has a progress bar`);
      assert.ok(c.parts, `card ${c.title}: title, badge, status and progress bar are visible`);
      assert.ok(c.left >= 0 && c.right <= width, `card ${c.title} fits the width (${c.left}..${c.right} of ${width})`);
    }
  }
  assert.equal(cards, Object.keys(env.seeded.ids).length + env.seeded.sim.length, 'the seeded and the simulator parcels');
  assert.ok(carriers.size >= 6, `several carriers (${[...carriers]})`);
}

// First: it waits for the simulator to move a parcel, after which the screenshots below show
// the simulator's parcels under way.
test('changes pushed by the backend show on screen without a reload', async () => {
  const { page, errors, close } = await env.open();
  try {
    await page.waitForSelector('[data-testid="card"]');
    await page.evaluate(() => {
      window.__sameDocument = true;
    });

    // An edit made elsewhere (here: straight through the API) reaches the open page.
    const seeded = env.seeded.ids.usps;
    const titleIs = (id, title) =>
      page.waitForFunction(([id, title]) => document.querySelector(`[data-testid="card"][data-id="${id}"] .card__title`)?.textContent === title, [id, title], {
        timeout: 20000,
      });
    const { label } = (await env.server.call('detail', { id: seeded })).card;
    await env.server.call('edit', { id: seeded, label: 'Renamed elsewhere' });
    await titleIs(seeded, 'Renamed elsewhere');
    await env.server.call('edit', { id: seeded, label });
    await titleIs(seeded, label);

    // The simulator moves its parcels along: one is picked up ("In transit" on screen) as the
    // server hears of it.
    const simIds = env.seeded.sim.map((p) => p.id);
    const statuses = () =>
      page.evaluate((ids) => Object.fromEntries(ids.map((id) => [id, document.querySelector(`[data-testid="card"][data-id="${id}"] .chip[data-status]`)?.dataset.status ?? null])), simIds);
    const before = await statuses();
    assert.ok(Object.values(before).some((s) => s !== 'in_transit'), `a simulator parcel not picked up yet (${JSON.stringify(before)})`);
    const handle = await page.waitForFunction(
      (before) => {
        for (const [id, status] of Object.entries(before)) {
          const now = document.querySelector(`[data-testid="card"][data-id="${id}"] .chip[data-status]`)?.dataset.status;
          if (status !== 'in_transit' && now === 'in_transit') return { id, from: status, to: now };
        }
        return false;
      },
      before,
      { timeout: 120000, polling: 250 },
    );
    const moved = await handle.jsonValue();
    const truth = await env.server.call('detail', { id: moved.id });
    assert.equal(truth.card.status, 'in_transit', 'the backend agrees');
    assert.equal(await page.evaluate(() => window.__sameDocument), true, 'the page was not reloaded');
    assert.deepEqual(errors, []);
  } finally {
    await close();
  }
});

test('home at 1280×800: every group, several carriers, complete cards', async () => {
  await waitSimTracked(env);
  const { page, errors, close } = await env.open({ viewport: DESKTOP, live: false });
  try {
    await page.waitForSelector('[data-testid="card"]');
    assertHome(await homeLayout(page), DESKTOP.width);
    assert.equal(await page.getByTestId('demo-note').count(), 0, 'no demo note: these are own parcels');
    // The whole page: every group.
    await screenshot(page, 'home-desktop', { fullPage: true });
    assert.deepEqual(errors, []);
  } finally {
    await close();
  }
});

test('home at 390×844: complete cards and no horizontal scrolling', async () => {
  const { page, errors, close } = await env.open({ viewport: PHONE, live: false });
  try {
    await page.waitForSelector('[data-testid="card"]');
    assertHome(await homeLayout(page), PHONE.width);
    const [scrollWidth, innerWidth] = await page.evaluate(() => [document.scrollingElement.scrollWidth, window.innerWidth]);
    assert.ok(scrollWidth <= innerWidth, `no horizontal scrollbar (${scrollWidth} > ${innerWidth})`);
    assert.equal(await page.getByTestId('search').isVisible(), true);
    assert.equal(await page.getByTestId('add-link').isVisible(), true);
    await screenshot(page, 'home-phone');
    assert.deepEqual(errors, []);
  } finally {
    await close();
  }
});

test('home in dark mode follows the system', async () => {
  const { page, close } = await env.open({ viewport: DESKTOP, colorScheme: 'dark', live: false });
  try {
    await page.waitForSelector('[data-testid="card"]');
    const [bg, text] = await page.evaluate(() => {
      const rgb = (s) => s.match(/\d+/g).slice(0, 3).map(Number);
      return [rgb(getComputedStyle(document.body).backgroundColor), rgb(getComputedStyle(document.body).color)];
    });
    assert.ok(Math.max(...bg) < 60, `a dark background (${bg})`);
    assert.ok(Math.min(...text) > 180, `light text (${text})`);
    await screenshot(page, 'home-dark-desktop', { fullPage: true });
  } finally {
    await close();
  }
});

test('detail at desktop and phone sizes, with its route map', async () => {
  // The DHL eCommerce parcel: five updates in four places, Amsterdam to Köln.
  const id = env.seeded.ids.dhlEcommerce;
  for (const [viewport, name] of [
    [DESKTOP, 'detail-desktop'],
    [PHONE, 'detail-phone'],
  ]) {
    const { page, errors, close } = await env.open({ viewport, hash: `#/parcel/${id}`, live: false });
    try {
      await waitDetail(page);
      await page.waitForSelector('.map-figure svg');
      // The map's style sheet loads with the map (not with the page): the route is a line.
      const route = await page.evaluate(() => getComputedStyle(document.querySelector('.map-route')).fill);
      assert.equal(route, 'none', `${name}: the route map is styled`);
      assert.equal(await page.getByTestId('event').count(), 5);
      const [scrollWidth, innerWidth] = await page.evaluate(() => [document.scrollingElement.scrollWidth, window.innerWidth]);
      assert.ok(scrollWidth <= innerWidth, `${name}: no horizontal scrollbar (${scrollWidth} > ${innerWidth})`);
      await screenshot(page, name, { fullPage: true });
      assert.deepEqual(errors, []);
    } finally {
      await close();
    }
  }
});

test('add and settings pages', async () => {
  const { page, errors, close } = await env.open({ hash: '#/add', live: false });
  try {
    await page.getByTestId('paste').fill(EMAIL);
    await page.waitForFunction(() => document.querySelectorAll('[data-testid="found"]').length === 3);
    await page.getByTestId('add-store').fill('Northwind Outfitters');
    await page.getByTestId('add-order').fill('A-2291');
    await page.getByTestId('add-order').blur();
    await page.evaluate(() => window.scrollTo(0, 0));
    await screenshot(page, 'add-desktop', { fullPage: true });

    await page.goto(new URL('#/settings', env.server.url).href);
    await page.getByTestId('theme-system').waitFor({ state: 'attached' });
    assert.equal(await page.getByTestId('demo-settings').count(), 0, 'no demo section without the demo');
    await screenshot(page, 'settings-desktop', { fullPage: true });
    assert.deepEqual(errors, []);
  } finally {
    await close();
  }
});
