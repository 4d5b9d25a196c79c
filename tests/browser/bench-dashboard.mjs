// The dashboard's first paint, in Debian's Chromium: a shop server (SQLite) with ORDERS orders
// (each with a UPS or DHL parcel, imported as one CSV), a staff member signed in, then RUNS
// fresh loads of /dashboard#/orders at each page size, each timed from navigation start to
// the list painted (the `dash-painted` mark, after the rows are in the page, then a frame).
// The baseline, in the same run: the set-password page's load (a static page of the same server),
// so the figures compare across machines as ratios.
//
//   node tests/browser/bench-dashboard.mjs            (ORDERS=1000 RUNS=15 by default)

import { launchBrowser, startShopServer } from './helpers.mjs';

const ORDERS = Number(process.env.ORDERS || 1000);
const RUNS = Number(process.env.RUNS || 15);
const PASSWORD = 'correct horse battery';

function upsNumber(i) {
  const serial = `5R8939${String(i).padStart(9, '0')}`;
  let total = 0;
  [...serial].forEach((c, k) => {
    const v = /\d/.test(c) ? Number(c) : (c.charCodeAt(0) - 3) % 10;
    total += v * (k % 2 === 0 ? 1 : 2);
  });
  return `1Z${serial}${(10 - (total % 10)) % 10}`;
}

function dhlNumber(i) {
  const serial = `3${String(i).padStart(8, '0')}`;
  return `${serial}${Number(serial) % 7}`;
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
};
const p90 = (xs) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(xs.length * 0.9))];

const server = await startShopServer();
const browser = await launchBrowser();
try {
  const setup = await fetch(`${server.url}/api/v1/setup`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ token: server.setupToken, password: PASSWORD }) });
  if (!setup.ok) throw new Error(`setup: ${setup.status} ${await setup.text()}`);
  const lines = ['order_number,tracking_number,carrier,customer_name,customer_email,placed_at,channel'];
  const start = Date.now() - ORDERS * 60e3;
  for (let i = 0; i < ORDERS; i += 1) {
    const [number, carrier] = i % 4 === 3 ? [dhlNumber(i), 'dhl'] : [upsNumber(i), 'ups'];
    lines.push(`B-${String(i).padStart(6, '0')},${number},${carrier},Customer ${i},c${i}@example.com,${new Date(start + i * 60e3).toISOString()},web`);
  }
  const imported = await fetch(`${server.url}/api/v1/orders/import`, { method: 'POST', headers: { authorization: `Bearer ${server.key}`, 'content-type': 'text/csv' }, body: lines.join('\n') });
  const report = await imported.json();
  if (report.orders_created !== ORDERS) throw new Error(`import: ${JSON.stringify(report).slice(0, 500)}`);

  const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  const page = await context.newPage();
  await page.goto(`${server.url}/login`);
  const login = await page.evaluate(async (password) => (await fetch('/api/v1/login', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ email: 'owner@shop.example', password }) })).status, PASSWORD);
  if (login !== 200) throw new Error(`login: ${login}`);
  if (process.env.DEBUG) console.log(await context.cookies());

  const time = async (url, painted) => {
    await page.goto('about:blank');
    await page.goto(url, { waitUntil: painted ? 'commit' : 'load' });
    if (!painted) return page.evaluate(() => performance.getEntriesByType('navigation')[0].loadEventEnd);
    await page.waitForFunction(() => performance.getEntriesByName('dash-painted').length > 0, null, { timeout: 30000 });
    return page.evaluate(
      () =>
        new Promise((resolve) => {
          // The mark is set once the rows are in the page; the next frame is when they show.
          requestAnimationFrame(() => setTimeout(() => resolve(performance.getEntriesByName('dash-painted')[0].startTime), 0));
        }),
    );
  };
  // Warm-up: the first load fills the HTTP cache as a staff member's browser would have it.
  await time(`${server.url}/setup`, false);
  await time(`${server.url}/dashboard#/orders`, true);
  const baseline = [];
  for (let i = 0; i < RUNS; i += 1) baseline.push(await time(`${server.url}/setup`, false));
  console.log(`dashboard first paint, ${ORDERS} orders in the shop, ${RUNS} runs each`);
  console.log(`  baseline (the set-password page's load): median ${median(baseline).toFixed(1)} ms, p90 ${p90(baseline).toFixed(1)} ms`);
  for (const limit of [50, 200]) {
    const runs = [];
    for (let i = 0; i < RUNS; i += 1) runs.push(await time(`${server.url}/dashboard#/orders?limit=${limit}`, true));
    const rows = await page.locator('table[aria-label="Orders"] tbody tr').count();
    console.log(`  orders list, ${rows} rows painted: median ${median(runs).toFixed(1)} ms, p90 ${p90(runs).toFixed(1)} ms, ratio to baseline ${(median(runs) / median(baseline)).toFixed(1)}`);
  }
  for (const [name, hash] of [
    ['needs attention', '#/attention'],
    ['analytics', '#/analytics'],
  ]) {
    const runs = [];
    for (let i = 0; i < RUNS; i += 1) runs.push(await time(`${server.url}/dashboard${hash}`, true));
    console.log(`  ${name}: median ${median(runs).toFixed(1)} ms, p90 ${p90(runs).toFixed(1)} ms`);
  }
} finally {
  await browser.close();
  await server.stop();
}
