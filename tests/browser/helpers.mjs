// Shared pieces of the browser end-to-end tests: start the carrier simulator (`parceltrail
// sim`) and `parceltrail serve --sim` on a fresh data folder, drive Debian's Chromium through
// playwright-core, seed parcels through the API, run axe-core, and tear everything down even
// when a test fails.
//
// Nothing is built here: build first (`cargo build -p parceltrail-cli`). The binary is
// $PARCELTRAIL_BIN, else $CARGO_TARGET_DIR/debug/parceltrail, else
// ~/.cache/parceltrail/target/debug/parceltrail, else <repo>/target/debug/parceltrail.

import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { homedir, tmpdir } from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

export const REPO = fileURLToPath(new URL('../../', import.meta.url));
// Where screenshots go: docs/screenshots/, or $PARCELTRAIL_SCREENSHOTS (to keep the docs' as they are).
export const SCREENSHOTS = process.env.PARCELTRAIL_SCREENSHOTS ? path.resolve(process.env.PARCELTRAIL_SCREENSHOTS) : path.join(REPO, 'docs', 'screenshots');
const BROWSER_DIR = path.dirname(fileURLToPath(import.meta.url));

export const DESKTOP = { width: 1280, height: 800 };
export const PHONE = { width: 390, height: 844 };

// The simulator and the server run this many times faster than real time (journeys, polling,
// and the server's upkeep: "stuck" after 72 h in transit is 7 minutes here, "expired" after 30
// days is 72 minutes). The seeded parcels' ages are shrunk by the same factor.
export const SPEED = 600;
// The simulator's seed: its early parcels cover several journeys (customs hold, pickup point,
// return, plain deliveries).
export const SIM_SEED = 19;
// How many simulator parcels are tracked (the ones whose labels come first).
export const SIM_TRACKED = 4;

// Valid numbers (checked with `parceltrail detect`) for the seeded parcels.
export const NUMBERS = {
  ups: '1Z5R89390357567127',
  usps: '9400111899223197428497',
  fedex: '122816215025810',
  dhl: '3318810025',
  deutschePost: 'RR102938478DE',
  dhlEcommerce: 'JJD000390007123456789',
  royalMail: 'RR123456785GB',
  dpd: '012345670000012345678101276S',
};
// The carriers of the seeded and simulated parcels, as the carrier filter names them.
export const CARRIER_NAMES = ['Deutsche Post', 'DHL eCommerce', 'DHL Express', 'DPD', 'FedEx', 'Royal Mail', 'UPS', 'USPS'];
// A shipping email with a UPS tracking link, a DHL Express number and a UPS number with a
// wrong check digit (none of them seeded).
export const EMAIL = `Hi Alex,

Good news: your order A-2291 from Northwind Outfitters has shipped in two boxes.
Box 1 (UPS): https://www.ups.com/track?tracknum=1Z999AA10123456784&loc=en_US
Box 2: DHL Express waybill 3318810036
An earlier label was cancelled: 1Z12345E0205271688

Thanks for shopping with us!`;

export const XSS = '<img src=x onerror=alert(1)>';
export const BOLD_LABEL = '<b>bold</b>';

/** The `parceltrail` binary to test (see the header). */
export function findBinary() {
  const fromEnv = process.env.PARCELTRAIL_BIN;
  if (fromEnv) {
    const p = path.resolve(REPO, fromEnv);
    if (!existsSync(p)) throw new Error(`PARCELTRAIL_BIN=${fromEnv}: no such file`);
    return p;
  }
  const candidates = [];
  if (process.env.CARGO_TARGET_DIR) candidates.push(path.resolve(REPO, process.env.CARGO_TARGET_DIR, 'debug', 'parceltrail'));
  candidates.push(path.join(homedir(), '.cache', 'parceltrail', 'target', 'debug', 'parceltrail'));
  candidates.push(path.join(REPO, 'target', 'debug', 'parceltrail'));
  const found = candidates.find((p) => existsSync(p));
  if (!found) {
    throw new Error(`no parceltrail binary: build it first (cargo build -p parceltrail-cli) or set PARCELTRAIL_BIN; looked at ${candidates.join(', ')}`);
  }
  return found;
}

// Every child still running (servers and simulators, with their data folders), so that an
// abrupt exit of the test process ends them too.
const running = new Map(); // child -> { home, signal }
function killAll() {
  for (const [child, { home, signal }] of running) {
    try {
      child.kill(signal);
    } catch {
      /* already gone */
    }
    if (home) rmSync(home, { recursive: true, force: true });
  }
  running.clear();
}
process.once('exit', killAll);
for (const sig of ['SIGINT', 'SIGTERM']) {
  process.once(sig, () => {
    killAll();
    process.exit(130);
  });
}

/**
 * Spawns a long-running child and resolves once a line of its standard output matches `ready`
 * (with the match). Resolves { match, stop(), output() }; stop() is safe to call twice.
 * `signal` is what an abrupt exit of this process sends it.
 */
async function spawnChild({ name, cmd, args, cwd, env, ready, home = null, signal = 'SIGKILL', startMs = 30000 }) {
  const child = spawn(cmd, args, { cwd, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, RUST_BACKTRACE: '1', ...env } });
  running.set(child, { home, signal });
  let out = '';
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (d) => {
    out += d;
  });
  const exited = new Promise((resolve) => child.once('exit', (code, sig) => resolve({ code, signal: sig })));
  exited.then(() => running.delete(child));
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      const t = setTimeout(() => child.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(t);
    }
    if (home) rmSync(home, { recursive: true, force: true });
  };
  try {
    const match = await new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${name} did not start in ${startMs / 1000} s:\n${out}`)), startMs);
      const lines = createInterface({ input: child.stdout });
      lines.on('line', (line) => {
        out += `${line}\n`;
        const m = ready.exec(line);
        if (m) {
          clearTimeout(timer);
          resolve(m);
        }
      });
      exited.then(({ code, signal: sig }) => {
        clearTimeout(timer);
        reject(new Error(`${name} exited (${code ?? sig}) before it was ready:\n${out}`));
      });
    });
    return { match, stop, output: () => out };
  } catch (e) {
    await stop();
    throw e;
  }
}

/**
 * Starts the carrier simulator (`parceltrail sim`, DHL's tracking API) on 127.0.0.1:0: `parcels`
 * journeys from `seed` at `speed`× real time, every one starting after the simulator does.
 * Resolves { url, parcels, stop(), output() }; `parcels` is its GET /sim/parcels.
 */
export async function startSim({ speed = SPEED, seed = SIM_SEED, parcels = 16 } = {}) {
  const bin = findBinary();
  const home = mkdtempSync(path.join(tmpdir(), 'parceltrail-sim-'));
  // `timeout` is the backstop (the simulator has no --duration): it ends the simulator after
  // 15 minutes even if this process is killed outright, and passes SIGTERM on.
  const child = await spawnChild({
    name: 'parceltrail sim',
    cmd: 'timeout',
    args: ['--kill-after=5', '900', bin, 'sim', '--home', home, '--listen', '127.0.0.1:0', '--seed', String(seed), '--parcels', String(parcels), '--speed', String(speed), '--stagger', '0'],
    cwd: home,
    env: { PARCELTRAIL_HOME: home },
    ready: /at (http:\/\/[^/\s]+)\/track\/shipments/,
    home,
    signal: 'SIGTERM',
  });
  const url = child.match[1];
  try {
    const res = await fetch(`${url}/sim/parcels`);
    if (!res.ok) throw new Error(`GET /sim/parcels: ${res.status}`);
    const list = await res.json();
    return { url, parcels: list, stop: child.stop, output: child.output };
  } catch (e) {
    await child.stop();
    throw e;
  }
}

/**
 * Starts `parceltrail serve` on 127.0.0.1:0 with a fresh data folder; with `sim`, DHL numbers
 * are tracked at that simulator (at `speed`). Resolves with { url, home, call(cmd, args),
 * stop(), output() }.
 */
export async function startServer({ demo = false, speed, sim } = {}) {
  const bin = findBinary();
  const home = mkdtempSync(path.join(tmpdir(), 'parceltrail-e2e-'));
  const args = ['--home', home, '--credentials-file', 'serve', '--listen', '127.0.0.1:0', '--no-notify', '--ui', path.join(REPO, 'ui')];
  if (demo) args.push('--demo');
  if (sim) args.push('--sim', sim.url);
  if (speed) args.push('--speed', String(speed));
  // A backstop: the server ends by itself even if this process is killed outright.
  args.push('--duration', '900');
  const child = await spawnChild({
    name: 'parceltrail serve',
    cmd: bin,
    args,
    cwd: home,
    env: { PARCELTRAIL_HOME: home },
    ready: /Parceltrail is at (http:\/\/\S+?\/)/,
    home,
  });
  const url = child.match[1];
  const call = async (cmd, body = {}) => {
    const res = await fetch(new URL(`api/${cmd}`, url), {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    const text = await res.text();
    if (!res.ok) {
      const e = new Error(`${cmd}: ${res.status} ${text}`);
      e.status = res.status;
      try {
        e.body = JSON.parse(text);
      } catch {
        /* not JSON */
      }
      throw e;
    }
    return text ? JSON.parse(text) : null;
  };
  return { url, home, call, stop: child.stop, output: child.output };
}

/**
 * Starts `parceltrail server` (the shop server) on 127.0.0.1:0 with a fresh data folder and
 * SQLite, after making one shop with `server shop create`. Resolves with { url, shopId, key,
 * api(method, path, body), stop(), output() }; `api` calls /api/v1 with the shop's key and
 * resolves { status, body }.
 */
export async function startShopServer({ shop = 'Trailhead Outfitters', env: extra = {} } = {}) {
  const bin = findBinary();
  const home = mkdtempSync(path.join(tmpdir(), 'parceltrail-shop-'));
  const db = `sqlite:${path.join(home, 'server.db')}`;
  const env = { ...process.env, PARCELTRAIL_HOME: home };
  const made = JSON.parse(
    execFileSync(bin, ['server', '--db', db, 'shop', 'create', shop, '--admin-email', 'owner@shop.example', '--json'], { env, encoding: 'utf8' }),
  );
  // `timeout` is the backstop: the server ends by itself after 15 minutes.
  const child = await spawnChild({
    name: 'parceltrail server',
    cmd: 'timeout',
    args: ['--kill-after=5', '900', bin, 'server', '--db', db, '--listen', '127.0.0.1:0'],
    cwd: home,
    env: { PARCELTRAIL_HOME: home, ...extra },
    ready: /The shop server is at (http:\/\/[^/\s]+)\//,
    home,
    signal: 'SIGTERM',
  });
  const url = child.match[1];
  const api = async (method, p, body) => {
    const res = await fetch(`${url}/api/v1${p}`, {
      method,
      headers: { authorization: `Bearer ${made.api_key}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.text();
    return { status: res.status, body: text ? JSON.parse(text) : null };
  };
  return { url, shopId: made.shop_id, key: made.api_key, setupToken: made.setup_url.split('#')[1], api, stop: child.stop, output: child.output };
}

/** A free port on loopback (for a child that cannot be told to pick one). */
function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

/**
 * A real SMTP server on loopback (aiosmtpd, as `scripts/setup` installs it) keeping every
 * message in a Maildir, and refusing for good (550) any recipient at `refused.example`.
 * Resolves { url, count(), stop() }; `count()` is how many messages it has taken.
 */
export async function startSmtp() {
  const python = path.join(homedir(), '.cache/parceltrail/smtp/bin/python');
  if (!existsSync(python)) throw new Error(`aiosmtpd is not installed at ${python}: run scripts/setup`);
  const dir = mkdtempSync(path.join(tmpdir(), 'parceltrail-smtp-'));
  writeFileSync(
    path.join(dir, 'picky.py'),
    [
      'from aiosmtpd.handlers import Mailbox',
      'class Picky(Mailbox):',
      '    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):',
      "        if address.lower().endswith('@refused.example'):",
      "            return '550 5.1.1 No such mailbox here'",
      '        envelope.rcpt_tos.append(address)',
      "        return '250 OK'",
      '',
    ].join('\n'),
  );
  const port = await freePort();
  const child = spawn(python, ['-m', 'aiosmtpd', '-n', '-l', `127.0.0.1:${port}`, '-c', 'picky.Picky', path.join(dir, 'mail')], { env: { ...process.env, PYTHONPATH: dir }, stdio: 'ignore' });
  running.set(child, { home: dir, signal: 'SIGKILL' });
  child.once('exit', () => running.delete(child));
  const stop = () => {
    child.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  };
  for (let i = 0; ; i += 1) {
    const up = await new Promise((resolve) => {
      const sock = net.connect(port, '127.0.0.1', () => {
        sock.destroy();
        resolve(true);
      });
      sock.once('error', () => resolve(false));
    });
    if (up) break;
    if (i > 100) {
      stop();
      throw new Error('aiosmtpd did not start in 10 s');
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  const count = () => ['new', 'cur'].reduce((n, d) => n + (existsSync(path.join(dir, 'mail', d)) ? readdirSync(path.join(dir, 'mail', d)).length : 0), 0);
  return { url: `smtp://127.0.0.1:${port}`, count, stop };
}

/**
 * A fresh page in its own context that records every dialog (an XSS would open one), page
 * error and console error in `errors` (console errors matching `allow` aside). Resolves
 * { page, errors, context, close }.
 */
export async function watchedPage(browser, { viewport = DESKTOP, locale = 'en-GB', timezoneId = 'Europe/London', allow = null, ...options } = {}) {
  const context = await browser.newContext({ viewport, locale, timezoneId, ...options });
  const page = await context.newPage();
  const errors = [];
  page.on('dialog', (d) => {
    errors.push(`dialog: ${d.message()}`);
    d.dismiss();
  });
  page.on('pageerror', (e) => errors.push(e.message));
  page.on('console', (m) => {
    if (m.type() === 'error' && !(allow && allow.test(m.text()))) errors.push(m.text());
  });
  return { page, errors, context, close: () => context.close() };
}

/** Debian's Chromium, headless, through playwright-core (which manages the profile). */
export function launchBrowser() {
  return chromium.launch({
    executablePath: process.env.CHROMIUM_BIN || '/usr/bin/chromium',
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
}

/**
 * A server and a browser for one test file. `close()` ends them (and the simulator) and is
 * safe to call twice or after a partial start.
 *
 * - `seed: true` (the default): a carrier simulator runs beside the server (`serve --sim`, both
 *   at SPEED), and the server tracks the seeded parcels (imported: several carriers and
 *   statuses, hostile text) and SIM_TRACKED of the simulator's DHL parcels (added through the
 *   API), which move along on their own. `env.seeded` says which is which. `hostile: false`
 *   seeds plain words where the XSS tests have markup.
 * - `seed: false`: an empty app (the first run), optionally with `demo` and its `speed`.
 */
export async function setup({ demo = false, speed, seed = true, hostile = true } = {}) {
  const env = { server: null, browser: null, sim: null, seeded: null };
  env.close = async () => {
    const { browser: b, server: s, sim } = env;
    env.browser = null;
    env.server = null;
    env.sim = null;
    try {
      if (b) await b.close();
    } finally {
      try {
        if (s) await s.stop();
      } finally {
        if (sim) await sim.stop();
      }
    }
  };
  try {
    if (seed) {
      env.sim = await startSim({ speed: SPEED });
      env.server = await startServer({ sim: env.sim, speed: SPEED });
      env.seeded = await seedParcels(env.server, env.sim, { hostile });
    } else {
      env.server = await startServer({ demo, speed });
    }
    env.browser = await launchBrowser();
  } catch (e) {
    await env.close();
    throw e;
  }
  /**
   * A new page in its own context: { page, context, dialogs, errors, close }. `dialogs`
   * collects every alert/confirm/prompt (dismissed), `errors` every uncaught page error.
   */
  env.open = async ({ viewport = DESKTOP, colorScheme = 'light', hash = '#/', wait = true, live = true } = {}) => {
    const context = await env.browser.newContext({ viewport, colorScheme, locale: 'en-GB', timezoneId: 'UTC', deviceScaleFactor: 1 });
    // Generous: two cores, shared with a compiler at times.
    context.setDefaultTimeout(20000);
    // Not live: no pushed events, so the page holds still (for screenshots and axe).
    if (!live) await context.route('**/api/events', (route) => route.abort());
    const page = await context.newPage();
    const dialogs = [];
    const errors = [];
    page.on('dialog', (d) => {
      dialogs.push(d.message());
      d.dismiss().catch(() => {});
    });
    page.on('pageerror', (e) => errors.push(e));
    if (hash !== null) {
      await page.goto(new URL(hash, env.server.url).href);
      if (wait) await waitReady(page);
    }
    return { page, context, dialogs, errors, close: () => context.close() };
  };
  return env;
}

/** Waits for the first paint of the app (body[data-ready="1"]). */
export async function waitReady(page) {
  await page.waitForSelector('body[data-ready="1"]', { state: 'attached', timeout: 30000 });
}

/**
 * Waits for the detail page: its title and updates, and the route map drawn or explained
 * (`.map-figure` or `.map-empty`) when an update names a place.
 */
export async function waitDetail(page) {
  await page.waitForSelector('[data-testid="detail-title"]');
  await page.waitForFunction(
    () => document.querySelector('[data-testid="events"]') && (document.querySelector('.map-figure, .map-empty') || !document.querySelector('.event__place')),
    null,
    { timeout: 15000 },
  );
}

function iso(ms) {
  return new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

function csvField(v) {
  const s = v == null ? '' : String(v);
  return /[",\n\r]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

/**
 * The seeded parcels, as the `import` command's CSV, with times relative to now, `h` virtual
 * hours being 1/`speed` of a real hour (the server runs its upkeep, such as "stuck after 72 h
 * in transit", at the simulator's speed for every parcel). Without carrier accounts, UPS,
 * USPS and DPD parcels need attention ("no account"); the DHL family (DHL Express,
 * DHL eCommerce, Deutsche Post) is asked at the simulator, which does not know these numbers
 * and so leaves them as imported.
 *
 * | parcel | carrier | shows as |
 * |---|---|---|
 * | Running shoes (Sportsworld) | UPS | in transit, Atlanta → Louisville; needs attention (no account) |
 * | `<b>bold</b>` (Bookshop) | USPS | in transit; needs attention (no account) |
 * | Gadget Hub | FedEx | delivered recently |
 * | Curio Shop | DHL Express | an exception whose description is hostile markup: needs attention |
 *
 * `hostile: false` puts plain words in place of the markup (for the screenshots).
 * | Concert tickets (Ticketeria) | Deutsche Post | out for delivery: arriving today |
 * | Plant pots (Green Corner) | DHL eCommerce | in transit along a route of five places |
 * | Loose-leaf tea (Tea Emporium) | Royal Mail | delivered recently |
 * | Bike helmet (Velo Outlet) | DPD | delivery attempt failed: needs attention |
 */
export function seedCsv({ now = Date.now(), speed = SPEED, hostile = true } = {}) {
  const at = (hours) => iso(now - (hours * 3600e3) / speed);
  const head = ['tracking_number', 'carrier', 'label', 'store', 'order_number', 'promised_at', 'event_time', 'event_status', 'event_description', 'event_city', 'event_country'];
  const promised = iso(now + 72 * 3600e3).slice(0, 10);
  const ups = [NUMBERS.ups, 'UPS', 'Running shoes', 'Sportsworld', 'SW-1001', promised];
  const usps = [NUMBERS.usps, 'USPS', hostile ? BOLD_LABEL : 'Cookbook', 'Bookshop', 'B-77', ''];
  const fedex = [NUMBERS.fedex, 'FedEx', '', 'Gadget Hub', 'GH-5', ''];
  const dhl = [NUMBERS.dhl, 'DHL Express', '', 'Curio Shop', 'CS-42', ''];
  const dp = [NUMBERS.deutschePost, 'Deutsche Post', 'Concert tickets', 'Ticketeria', 'T-3318', ''];
  const dhle = [NUMBERS.dhlEcommerce, 'DHL eCommerce', 'Plant pots', 'Green Corner', 'GC-20417', ''];
  const rm = [NUMBERS.royalMail, 'Royal Mail', 'Loose-leaf tea', 'Tea Emporium', 'TE-88', ''];
  const dpd = [NUMBERS.dpd, 'DPD', 'Bike helmet', 'Velo Outlet', 'VO-610', ''];
  const rows = [
    [...ups, at(30), 'info_received', 'Shipper created a label', 'Atlanta', 'US'],
    [...ups, at(6), 'in_transit', 'Departed from facility', 'Louisville', 'US'],
    [...usps, at(5), 'in_transit', 'Arrived at USPS regional facility', 'Chicago', 'US'],
    [...fedex, at(50), 'in_transit', 'Left FedEx origin facility', 'Memphis', 'US'],
    [...fedex, at(3), 'delivered', 'Delivered, left at front door', 'New York', 'US'],
    [...dhl, at(30), 'in_transit', 'Processed at the hub', 'Leipzig', 'DE'],
    // Hostile markup, in the card's latest words (an exception: needs attention, below the
    // fold of the screenshots).
    [...dhl, at(4), 'exception', hostile ? XSS : 'Damaged in transit, the sender has been informed', 'Leipzig', 'DE'],
    [...dp, at(26), 'info_received', 'Electronic advice received', 'Dresden', 'DE'],
    [...dp, at(18), 'in_transit', 'Accepted at the retail outlet', 'Dresden', 'DE'],
    [...dp, at(9), 'in_transit', 'Sorted at the mail centre', 'Leipzig', 'DE'],
    // Recent: "out for delivery" counts as stuck after 24 h (under 2.5 minutes here).
    [...dp, at(0.2), 'out_for_delivery', 'Out for delivery', 'Berlin', 'DE'],
    [...dhle, at(40), 'info_received', 'Shipment information received', 'Amsterdam', 'NL'],
    [...dhle, at(31), 'in_transit', 'Parcel sorted at the origin depot', 'Amsterdam', 'NL'],
    [...dhle, at(22), 'in_transit', 'Departed the sorting centre', 'Utrecht', 'NL'],
    [...dhle, at(12), 'in_transit', 'Crossed the border, arrived at the hub', 'Venlo', 'NL'],
    [...dhle, at(3), 'in_transit', 'Arrived at the delivery depot', 'Köln', 'DE'],
    [...rm, at(28), 'in_transit', 'Item received at the mail centre', 'London', 'GB'],
    [...rm, at(8), 'delivered', 'Delivered and signed for', 'Edinburgh', 'GB'],
    [...dpd, at(20), 'in_transit', 'Parcel at the hub', 'Hamburg', 'DE'],
    [...dpd, at(2), 'failed_attempt', 'Delivery attempt: recipient not at home, card left', 'Hamburg', 'DE'],
  ];
  return [head, ...rows].map((r) => r.map(csvField).join(',')).join('\n') + '\n';
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/**
 * Seeds a server started with `--sim`: imports seedCsv(), then adds the SIM_TRACKED simulator
 * parcels whose labels come first (within seconds; until then the simulator does not know
 * them). Resolves with { report, ids: { ups, usps, … }, sim: [{ id, number, scenario, store,
 * items, starts_at, ends_at }] }.
 */
export async function seedParcels(server, sim, { hostile = true } = {}) {
  const report = await server.call('import', { filename: 'seed.csv', content: seedCsv({ hostile }) });
  if (report.errors && report.errors.length) throw new Error(`seed import failed: ${JSON.stringify(report.errors)}`);
  const home = await server.call('home', { all: true });
  const ids = {};
  for (const g of home.groups) {
    for (const c of g.cards) {
      for (const [k, n] of Object.entries(NUMBERS)) if (c.tracking_number === n) ids[k] = c.id;
    }
  }
  for (const k of Object.keys(NUMBERS)) if (!ids[k]) throw new Error(`seeded ${k} parcel missing from home`);

  const first = [...sim.parcels].sort((a, b) => Date.parse(a.starts_at) - Date.parse(b.starts_at)).slice(0, SIM_TRACKED);
  // The first label exists when they are added (a second or two at most), so that parcel
  // shows an update at once; the others follow as the server asks again.
  await sleep(Math.min(10000, Math.max(0, Date.parse(first[0].starts_at) - Date.now() + 200)));
  const added = await server.call('add', { items: first.map((p) => ({ number: p.number, carrier: 'dhl', label: p.items, store: p.store })) });
  if (added.demo_ended) throw new Error('no demo was running, yet add says it ended one');
  return { report, ids, sim: first.map((p, i) => ({ ...p, id: added.added[i].id })) };
}

/**
 * Waits until the tracked simulator parcels (all, or those of `ids`) show at least one update
 * (the server asked the simulator after their labels were created), so that pages show them
 * on their way. Resolves with their cards.
 */
export async function waitSimTracked(env, { ids = env.seeded.sim.map((p) => p.id), ms = 60000 } = {}) {
  const end = Date.now() + ms;
  const want = new Set(ids);
  const labelled = new Map(env.seeded.sim.map((p) => [p.id, Date.parse(p.starts_at)]));
  const asked = new Map();
  for (;;) {
    const home = await env.server.call('home', { all: true });
    const cards = home.groups.flatMap((g) => g.cards).filter((c) => want.has(c.id));
    if (cards.length === want.size && cards.every((c) => c.last_event_at)) return cards;
    if (Date.now() > end) throw new Error(`simulator parcels without updates after ${ms} ms: ${JSON.stringify(cards.map((c) => [c.tracking_number, c.status]))}`);
    // A label created since the server last asked (it asks again every 12 s here): ask now,
    // as the Refresh button does.
    for (const c of cards) {
      if (!c.last_event_at && Date.now() > labelled.get(c.id) && Date.now() - (asked.get(c.id) ?? 0) > 3000) {
        asked.set(c.id, Date.now());
        await env.server.call('refresh', { id: c.id });
      }
    }
    await sleep(250);
  }
}

/** Saves a screenshot to docs/screenshots/<name>.png (the viewport, or the full page). */
export async function screenshot(page, name, { fullPage = false } = {}) {
  mkdirSync(SCREENSHOTS, { recursive: true });
  // Let toasts and transitions settle; hide the text caret.
  await page.evaluate(() => document.fonts && document.fonts.ready);
  await page.screenshot({ path: path.join(SCREENSHOTS, `${name}.png`), fullPage, animations: 'disabled', caret: 'hide' });
}

let axeSource = null;
/**
 * Runs axe-core on the page (injected by evaluating its source: the CSP allows no inline
 * <script>) and resolves with the violations of impact serious or critical.
 */
export async function axeSerious(page) {
  axeSource ??= readFileSync(path.join(BROWSER_DIR, 'node_modules', 'axe-core', 'axe.min.js'), 'utf8');
  const present = await page.evaluate(() => typeof window.axe === 'object');
  if (!present) await page.evaluate(axeSource);
  const violations = await page.evaluate(async () => {
    const r = await window.axe.run(document, { resultTypes: ['violations'] });
    return r.violations.map((v) => ({
      id: v.id,
      impact: v.impact,
      help: v.help,
      nodes: v.nodes.map((n) => ({ target: n.target.join(' '), html: n.html.slice(0, 200), summary: n.failureSummary })),
    }));
  });
  return violations.filter((v) => v.impact === 'serious' || v.impact === 'critical');
}

/** Human-readable axe violations, for an assertion message. */
export function describeViolations(violations) {
  return violations
    .map((v) => `${v.impact} ${v.id}: ${v.help}\n${v.nodes.map((n) => `  ${n.target}\n    ${n.html}\n    ${(n.summary || '').replace(/\n/g, '\n    ')}`).join('\n')}`)
    .join('\n');
}

/** The shop dashboard shows the page of its current address (its views mark it so). */
export async function dashboardReady(page) {
  await page.waitForFunction(() => {
    const main = document.querySelector('main');
    return main.getAttribute('aria-busy') === 'false' && main.dataset.shown === location.hash;
  });
}

/**
 * Signs in to the shop dashboard at `url` through its login page, from the address `hash`,
 * and resolves with the session's cookies (to reuse: an account may sign in 10 times in 15
 * minutes).
 */
export async function signInToDashboard(page, url, hash, email, password) {
  await page.goto(`${url}/dashboard${hash}`);
  await page.waitForURL(/\/login/);
  await page.getByLabel('Email address').fill(email);
  await page.getByLabel('Password').fill(password);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.waitForURL(/\/dashboard/);
  await dashboardReady(page);
  return page.context().cookies();
}
