// node --test ui/js/map.test.mjs — geocoding and route drawing of the offline route map.
// No browser needed: the data is read from ui/data and injected; a tiny fake DOM stands in
// for the document (it throws on innerHTML, so carrier text can only go in as text).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';

import { setMapData, loadMapData, geocode, parsePlace, routeStops, renderRouteMap } from './map.js';

const read = (name) => JSON.parse(readFileSync(new URL(`../data/${name}`, import.meta.url), 'utf8'));
const cities = read('cities.json');
const land = read('land.json');
setMapData({ cities, land });

const near = (p, lat, lon) => p && Math.abs(p.lat - lat) < 0.2 && Math.abs(p.lon - lon) < 0.2;

test('data files are small and well-formed', () => {
  const size = (n) => readFileSync(new URL(`../data/${n}`, import.meta.url)).length;
  assert.ok(size('land.json') < 150 * 1024, 'land.json < 150 KB');
  assert.ok(size('cities.json') < 400 * 1024, 'cities.json < 400 KB');
  assert.match(cities.attribution, /GeoNames/);
  assert.match(land.attribution, /Natural Earth/);
  for (const row of cities.cities) {
    assert.equal(typeof row[0], 'string');
    assert.match(row[1], /^[A-Z]{2}$/);
    assert.ok(Math.abs(row[2]) <= 90 && Math.abs(row[3]) <= 180, row[0]);
  }
  assert.ok(land.land.length > 50 && land.land.every((r) => r.length >= 4));
});

test('every city of the carrier simulator is in the gazetteer', () => {
  // crates/sim/src/scenario.rs: CITIES and HUBS
  const sim = [
    ['Berlin', 'DE'], ['Hamburg', 'DE'], ['München', 'DE'], ['Köln', 'DE'],
    ['Frankfurt am Main', 'DE'], ['Stuttgart', 'DE'], ['Düsseldorf', 'DE'], ['Dresden', 'DE'],
    ['Wien', 'AT'], ['Amsterdam', 'NL'], ['Bruxelles', 'BE'], ['Paris', 'FR'],
    ['Leipzig', 'DE'], ['Obertshausen', 'DE'], ['Bochum', 'DE'], ['Hannover', 'DE'], ['Nürnberg', 'DE'],
  ];
  for (const [name, cc] of sim) {
    const hit = geocode(name, cc);
    assert.ok(hit, `${name} ${cc}`);
    assert.equal(hit.country, cc, name);
  }
});

test('parsePlace reads carriers\' place strings', () => {
  assert.deepEqual(parsePlace('LEIPZIG - GERMANY'), { city: 'Leipzig', country: 'DE', region: null });
  assert.deepEqual(parsePlace('Memphis, TN, US'), { city: 'Memphis', country: 'US', region: 'TN' });
  assert.deepEqual(parsePlace('MEMPHIS, TN'), { city: 'Memphis', country: 'US', region: 'TN' });
  assert.equal(parsePlace('RENO NV 89502').city, 'Reno');
  assert.equal(parsePlace('Hub Köln').city, 'Cologne');
  assert.equal(parsePlace('Paketzentrum Obertshausen').city, 'Obertshausen');
  assert.equal(parsePlace('04435 Leipzig').city, 'Leipzig');
  assert.equal(parsePlace('Frankfurt/Main').city, 'Frankfurt');
  assert.deepEqual(parsePlace('Springfield, IL'), { city: 'Springfield', country: 'US', region: 'IL' });
  assert.equal(parsePlace('Bruxelles, Belgique').country, 'BE');
  assert.equal(parsePlace('SHANGHAI CN').country, 'CN');
  assert.equal(parsePlace('Singapore').country, 'SG');
});

test('parsePlace: only a country, or nothing known', () => {
  assert.deepEqual(parsePlace('GERMANY'), { city: null, country: 'DE', region: null });
  assert.deepEqual(parsePlace('Deutschland'), { city: null, country: 'DE', region: null });
  // a known country that the city is not in: no guess in another country
  assert.deepEqual(parsePlace('Paris, US'), { city: null, country: 'US', region: null });
  // a known state whose town we do not have: not the same name in another state
  assert.deepEqual(parsePlace('HERNANDO, FL 34442'), { city: null, country: 'US', region: 'FL' });
  // and an event there is not put at a Springfield in another state
  assert.deepEqual(
    routeStops([{ occurred_at: '2025-03-12T10:00:00Z', place: 'Springfield, VT, US', city: 'SPRINGFIELD', country: 'US' }]),
    [],
  );
  assert.equal(parsePlace('Sorting center'), null);
  assert.equal(parsePlace('Xyzzyville'), null);
  assert.equal(parsePlace(''), null);
  assert.equal(parsePlace(null), null);
});

test('geocode is case- and accent-insensitive and knows both names', () => {
  const koeln = geocode('Köln', 'DE');
  assert.ok(near(koeln, 50.93, 6.95));
  for (const n of ['COLOGNE', 'koln', 'Koeln', 'KÖLN']) assert.deepEqual(geocode(n), koeln, n);
  assert.deepEqual(geocode('Munich'), geocode('MÜNCHEN'));
  assert.deepEqual(geocode('Muenchen', 'Germany'), geocode('München', 'DE'));
  assert.deepEqual(geocode('Wien'), geocode('Vienna', 'AT'));
  assert.deepEqual(geocode('NUERNBERG', 'DEU'), geocode('Nuremberg'));
  assert.ok(near(geocode('Memphis', 'US', 'TN'), 35.15, -90.05));
  assert.ok(near(geocode('Springfield', 'US', 'IL'), 39.8, -89.64));
  assert.equal(geocode('Paris', 'US'), null);
  assert.equal(geocode('Nowhereville'), null);
  assert.equal(geocode(''), null);
});

test('routeStops: oldest first, located only, consecutive repeats merged', () => {
  const events = [
    { occurred_at: '2025-03-14T09:00:00+01:00', place: 'Paris, FR', city: 'Paris', country: 'FR' },
    { occurred_at: '2025-03-13T20:00:00+01:00', place: 'FRANKFURT - GERMANY', city: null, country: null },
    { occurred_at: '2025-03-13T08:00:00+01:00', place: 'LEIPZIG - GERMANY', city: null, country: null },
    { occurred_at: '2025-03-12T18:00:00+01:00', place: 'Leipzig, DE', city: 'Leipzig', country: 'DE' },
    { occurred_at: '2025-03-12T10:00:00+01:00', place: 'GERMANY', city: null, country: 'DE' },
    { occurred_at: '2025-03-12T09:00:00+01:00', place: '', city: null, country: null },
  ];
  assert.deepEqual(routeStops(events).map((s) => s.name), ['Leipzig', 'Frankfurt', 'Paris']);
  assert.deepEqual(routeStops([]), []);
  assert.deepEqual(routeStops(null), []);
});

// ---- a fake DOM, just enough for renderRouteMap ----
class FakeNode {
  constructor(doc, name, ns = null) {
    this.ownerDocument = doc;
    this.localName = name;
    this.namespaceURI = ns;
    this.attributes = new Map();
    this.childNodes = [];
    this.text = '';
    this.clientWidth = 0;
  }
  get firstChild() {
    return this.childNodes[0] || null;
  }
  setAttribute(k, v) {
    if (k === 'style' || /^on/i.test(k)) throw new Error(`attribute ${k} is not allowed`);
    this.attributes.set(k, String(v));
  }
  getAttribute(k) {
    return this.attributes.has(k) ? this.attributes.get(k) : null;
  }
  set className(v) {
    this.attributes.set('class', v);
  }
  get className() {
    return this.getAttribute('class') || '';
  }
  set textContent(v) {
    this.childNodes = [];
    this.text = String(v);
  }
  get textContent() {
    return this.text + this.childNodes.map((c) => (typeof c === 'string' ? c : c.textContent)).join('');
  }
  set innerHTML(_) {
    throw new Error('innerHTML must not be used');
  }
  append(...nodes) {
    this.childNodes.push(...nodes);
  }
  replaceChildren(...nodes) {
    this.text = '';
    this.childNodes = nodes;
  }
  *walk() {
    yield this;
    for (const c of this.childNodes) if (typeof c !== 'string') yield* c.walk();
  }
  find(pred) {
    return [...this.walk()].filter(pred);
  }
}
class FakeDocument {
  createElement(name) {
    return new FakeNode(this, name, 'http://www.w3.org/1999/xhtml');
  }
  createElementNS(ns, name) {
    return new FakeNode(this, name, ns);
  }
}

test('renderRouteMap draws an SVG with the route, stops and labels', async () => {
  const doc = new FakeDocument();
  const box = doc.createElement('div');
  const events = [
    { occurred_at: '2025-03-14T09:00:00+01:00', place: 'Paris, FR', city: 'Paris', country: 'FR' },
    { occurred_at: '2025-03-13T20:00:00+01:00', place: 'Frankfurt am Main, DE', city: 'Frankfurt am Main', country: 'DE' },
    { occurred_at: '2025-03-13T08:00:00+01:00', place: 'LEIPZIG - GERMANY <script>alert(1)</script>', city: null, country: null },
  ];
  const res = await renderRouteMap(box, events);
  assert.deepEqual(res.stops.map((s) => [s.name, s.country]), [['Leipzig', 'DE'], ['Frankfurt', 'DE'], ['Paris', 'FR']]);
  const [svg] = box.find((n) => n.localName === 'svg');
  assert.ok(svg);
  assert.equal(svg.namespaceURI, 'http://www.w3.org/2000/svg');
  assert.equal(svg.getAttribute('role'), 'img');
  assert.equal(svg.getAttribute('aria-label'), 'Route map: Leipzig, Germany → Frankfurt, Germany → Paris, France');
  const vb = svg.getAttribute('viewBox').split(' ').map(Number);
  assert.equal(vb[2] / vb[3], 2);
  const cls = (c) => box.find((n) => (n.getAttribute('class') || '').split(' ').includes(c));
  assert.equal(cls('map-land').length, 1);
  assert.ok(cls('map-land')[0].getAttribute('d').length > 100);
  assert.equal(cls('map-route').length, 1);
  assert.equal(cls('map-stop').length, 3);
  assert.equal(cls('map-stop-latest').length, 1);
  assert.deepEqual(cls('map-label').map((n) => n.textContent).sort(), ['Frankfurt', 'Leipzig', 'Paris']);
  assert.ok(!box.textContent.includes('<script>'));
});

test('renderRouteMap with no known place shows a text', async () => {
  const doc = new FakeDocument();
  const box = doc.createElement('div');
  const res = await renderRouteMap(box, [{ occurred_at: '2025-03-12T10:00:00Z', place: 'GERMANY', city: null, country: 'DE' }]);
  assert.deepEqual(res.stops, []);
  assert.equal(box.textContent, 'No map: the carrier gave no locations we know.');
  assert.equal(box.find((n) => n.localName === 'svg').length, 0);
});

test('renderRouteMap: one stop still gets a map with context', async () => {
  const doc = new FakeDocument();
  const box = doc.createElement('div');
  box.clientWidth = 400;
  const res = await renderRouteMap(box, [{ occurred_at: '2025-03-12T10:00:00Z', place: 'Hub Köln', city: null, country: null }]);
  assert.equal(res.stops.length, 1);
  const [svg] = box.find((n) => n.localName === 'svg');
  assert.equal(svg.getAttribute('viewBox'), '0 0 400 250');
  assert.equal(box.find((n) => n.getAttribute('class') === 'map-route').length, 0);
  assert.equal(svg.getAttribute('aria-label'), 'Route map: Cologne, Germany');
});

test('loadMapData fetches once and caches', async () => {
  // the injected data is already cached: no fetch happens
  let calls = 0;
  await loadMapData(() => {
    calls++;
    throw new Error('no network');
  });
  assert.equal(calls, 0);
});

test('loadMapData fetches both files next to the module once, and retries after a failure', async () => {
  const fresh = await import('./map.js?fresh-instance');
  const urls = [];
  let fail = true;
  const fakeFetch = async (url) => {
    urls.push(String(url));
    if (fail) return { ok: false, status: 404, json: async () => ({}) };
    const name = String(url).split('/').pop();
    return { ok: true, status: 200, json: async () => read(name) };
  };
  await assert.rejects(fresh.loadMapData(fakeFetch));
  fail = false;
  urls.length = 0;
  const [a, b] = await Promise.all([fresh.loadMapData(fakeFetch), fresh.loadMapData(fakeFetch)]);
  assert.equal(a, b);
  assert.deepEqual(urls.map((u) => u.replace(/^.*\/ui\//, 'ui/')).sort(), ['ui/data/cities.json', 'ui/data/land.json']);
  assert.equal(fresh.geocode('Leipzig').country, 'DE');
});
