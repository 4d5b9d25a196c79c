// Offline route map for the parcel detail screen.
//
// Data: ../data/cities.json (GeoNames gazetteer, CC BY 4.0) and ../data/land.json (Natural
// Earth, public domain), both made by scripts/gen-map-data. No network beyond those two files.
//
// API
//   renderRouteMap(container, events) → Promise<{stops, missing}>
//     events: the detail view's events, newest first ({place, city, country, …}).
//     Replaces the container's children with <figure class="map-figure"> (an SVG and a
//     caption), or <p class="map-empty"> with a short text when no place is known. Carrier
//     text only ever goes in via textContent. It does not reject: no data → a short text.
//   geocode(name, country?, region?) → {name, country, lat, lon} | null   (needs data loaded)
//   parsePlace(place) → {city, country, region} | null                    (needs data loaded)
//   routeStops(events) → [{name, country, lat, lon}]  oldest first, consecutive repeats merged
//   loadMapData(fetchFn?) → Promise (cached); setMapData({cities, land}) injects data (tests).
//
// Styling lives in ui/css/map.css: this module only sets class names (no style attributes,
// so a strict style-src CSP is fine).

const SVG = 'http://www.w3.org/2000/svg';
const CITIES_URL = new URL('../data/cities.json', import.meta.url);
const LAND_URL = new URL('../data/land.json', import.meta.url);

const NO_PLACES = 'No map: the carrier gave no locations we know.';
const NO_DATA = 'No map: the map data could not be loaded.';

// Words that name facilities, not places: never taken alone as a city name.
const STOP_WORDS = new Set(
  ('hub center centre facility depot gateway terminal airport station sort sorting sorted ' +
    'distribution delivery delivered parcel parcels package post postal office service ' +
    'international national regional local network customs origin destination export import ' +
    'transit mail processing warehouse branch point pickup shop parcelshop packstation ' +
    'paketzentrum briefzentrum zustellbasis zustellstuetzpunkt verteilzentrum logistics ' +
    'logistik plant annex ups fedex dhl usps express ground freight air cargo the and ' +
    'new north south east west upper lower great little city county district area zone ' +
    'country united states kingdom republic arrived departed scan unit main')
    .split(' '),
);

let data = null;
let dataPromise = null;

// ---------------------------------------------------------------- text keys

function fold(s) {
  return String(s)
    .toLowerCase()
    .replace(/ß/g, 'ss')
    .replace(/æ/g, 'ae')
    .replace(/œ/g, 'oe')
    .replace(/[øő]/g, 'o')
    .replace(/ł/g, 'l')
    .replace(/đ/g, 'd')
    .replace(/ı/g, 'i')
    .replace(/þ/g, 'th');
}

function squash(s) {
  const words = s
    .normalize('NFD')
    .replace(/[\u0300-\u036f]/g, '')
    .replace(/['’`´]/g, '')
    .replace(/[^a-z0-9]+/g, ' ')
    .trim()
    .split(' ')
    .filter(Boolean)
    .map((w) => (w === 'saint' ? 'st' : w === 'sainte' ? 'ste' : w));
  return words.join(' ');
}

/** Lookup keys of a name: accents dropped, and the German ä→ae spelling as a second key. */
function keysOf(s) {
  const f = fold(s);
  const a = squash(f);
  const b = squash(f.replace(/ä/g, 'ae').replace(/ö/g, 'oe').replace(/ü/g, 'ue'));
  return a === b ? [a] : [a, b];
}

// ---------------------------------------------------------------- data

function push(map, key, value) {
  if (!key) return;
  const list = map.get(key);
  if (!list) map.set(key, [value]);
  else if (!list.includes(value)) list.push(value);
}

function buildIndex(citiesJson, landJson) {
  if (!citiesJson || !Array.isArray(citiesJson.cities)) throw new Error('bad cities.json');
  const cities = [];
  const byName = new Map();
  for (const row of citiesJson.cities) {
    const [name, country, lat, lon, region, ...alts] = row;
    const c = { name, country, lat, lon, region: region || '' };
    cities.push(c);
    for (const n of [name, ...alts]) for (const k of keysOf(n)) push(byName, k, c);
  }
  const countryName = new Map();
  const countries = new Map();
  for (const [code, names] of Object.entries(citiesJson.countries || {})) {
    countryName.set(code, names[0] || code);
    push(countries, code.toLowerCase(), code);
    for (const n of names) for (const k of keysOf(n)) push(countries, k, code);
  }
  // a few spellings carriers use that are not names
  for (const [k, code] of [['uk', 'GB'], ['u s', 'US'], ['u s a', 'US'], ['gb', 'GB']]) push(countries, k, code);
  const regions = new Map();
  for (const [cc, table] of Object.entries(citiesJson.regions || {})) {
    for (const [code, name] of Object.entries(table)) {
      push(regions, code.toLowerCase(), { country: cc, code });
      for (const k of keysOf(name)) push(regions, k, { country: cc, code });
    }
  }
  const land = landJson ? prepareLand(landJson) : { rings: [], borders: [] };
  return {
    cities,
    byName,
    countries,
    countryName,
    regions,
    land,
    attribution: [citiesJson.attribution, landJson && landJson.attribution].filter(Boolean),
  };
}

/** Injects the data (tests, or a caller that loaded it itself). */
export function setMapData({ cities, land } = {}) {
  data = buildIndex(cities, land);
  dataPromise = Promise.resolve(data);
  return data;
}

/** Fetches cities.json and land.json once; later calls get the same promise. */
export function loadMapData(fetchFn = globalThis.fetch) {
  if (!dataPromise) {
    const get = (url) =>
      fetchFn(url).then((r) => {
        if (!r.ok) throw new Error(`${url}: HTTP ${r.status}`);
        return r.json();
      });
    dataPromise = Promise.all([get(CITIES_URL), get(LAND_URL)]).then(
      ([c, l]) => (data = buildIndex(c, l)),
      (e) => {
        dataPromise = null; // let a later render try again
        throw e;
      },
    );
  }
  return dataPromise;
}

function need() {
  if (!data) throw new Error('map data not loaded: await loadMapData() or call setMapData()');
  return data;
}

// ---------------------------------------------------------------- geocoding

/** ISO alpha-2 code for a code, alpha-3 code or name ("DE", "DEU", "Germany", "Deutschland"). */
export function resolveCountry(text) {
  if (!text) return null;
  const d = need();
  for (const k of keysOf(text)) {
    const hit = d.countries.get(k);
    if (hit) return hit[0];
  }
  return null;
}

function resolveRegions(text, country) {
  const d = need();
  const out = [];
  for (const k of keysOf(text)) {
    for (const r of d.regions.get(k) || []) {
      if (!country || r.country === country) out.push(r);
    }
  }
  return out;
}

function lookup(key, country, region) {
  const list = need().byName.get(key);
  if (!list) return null;
  for (const c of list) {
    if (country && c.country !== country) continue;
    if (region && (c.country !== region.country || c.region !== region.code)) continue;
    return c;
  }
  return null;
}

/**
 * Finds a city in free text: the whole text first, then its longest run of words that names a
 * city ("Hub Köln" → Cologne), skipping facility words taken alone.
 */
function findCity(text, country, region) {
  for (const key of keysOf(text)) {
    const hit = lookup(key, country, region);
    if (hit) return hit;
  }
  for (const key of keysOf(text)) {
    const words = key.split(' ').filter((w) => !/\d/.test(w));
    for (let len = Math.min(words.length, 6); len >= 1; len--) {
      for (let i = 0; i + len <= words.length; i++) {
        if (len === 1 && (words[i].length < 3 || STOP_WORDS.has(words[i]))) continue;
        const hit = lookup(words.slice(i, i + len).join(' '), country, region);
        if (hit) return hit;
      }
    }
  }
  return null;
}

const point = (c) => ({ name: c.name, country: c.country, lat: c.lat, lon: c.lon });

/**
 * A city by name; country (code or name) and region (US state / CA province) narrow it down.
 * When a country is given, only a city in that country counts. Null when unknown.
 */
export function geocode(name, country = null, region = null) {
  const hit = geocodeEntry(name, country, region);
  return hit ? point(hit) : null;
}

function geocodeEntry(name, country, region) {
  if (!name || typeof name !== 'string') return null;
  const cc = country ? resolveCountry(country) : null;
  let rg = null;
  if (region) rg = resolveRegions(region, cc)[0] || null;
  const hit = findCity(name.slice(0, 200), cc, rg);
  if (hit) return hit;
  if (/[,;/()]|\s[-–—]\s/.test(name)) {
    const p = parse(name, cc);
    if (p && p.hit) return p.hit;
  }
  return null;
}

function segmentsOf(place) {
  return String(place)
    .slice(0, 200)
    .replace(/[\u0000-\u001f]/g, ' ')
    .split(/\s*(?:[,;|/()[\]:]|\s[-–—]+\s|^[-–—]+\s|\s[-–—]+$)\s*/)
    .map((s) =>
      s
        .split(/\s+/)
        .filter((w) => w && !/\d/.test(w)) // postal codes, house numbers
        .join(' ')
        .replace(/^[-–—.\s]+|[-–—.\s]+$/g, ''),
    )
    .filter(Boolean);
}

// The ways to read a list of segments, most specific first: [segments, countryIdx, regionIdx].
function* readings(segs, countryAt, regionsAt) {
  const n = segs.length;
  const idx = [...Array(n).keys()];
  const countryIdx = [n - 1, 0].filter((i, k, a) => i >= 0 && a.indexOf(i) === k && countryAt[i]);
  for (const ci of countryIdx) {
    const cc = countryAt[ci];
    for (const ri of idx) {
      if (ri === ci) continue;
      for (const r of regionsAt[ri]) if (r.country === cc) yield { ci, cc, ri, r };
    }
    yield { ci, cc, ri: -1, r: null };
  }
  for (const ri of idx) for (const r of regionsAt[ri]) yield { ci: -1, cc: r.country, ri, r };
  yield { ci: -1, cc: null, ri: -1, r: null };
}

function parse(place, hintCountry = null) {
  if (!place || typeof place !== 'string') return null;
  need();
  // the whole text may be a name with brackets or slashes: "Frankfurt (Oder)"
  for (const key of resolveCountry(place) ? [] : keysOf(place.slice(0, 200))) {
    const hit = lookup(key, hintCountry, null);
    if (hit) return { city: hit.name, country: hit.country, region: hit.region || null, hit };
  }
  const base = segmentsOf(place);
  if (!base.length) return null;
  const variants = [];
  // "LEIPZIG GERMANY", "RENO NV": a trailing country or region without a separator.
  const last = base[base.length - 1].split(' ');
  for (let k = Math.min(3, last.length - 1); k >= 1; k--) {
    const tail = last.slice(-k).join(' ');
    if (resolveCountry(tail) || resolveRegions(tail, null).length) {
      variants.push([...base.slice(0, -1), last.slice(0, -k).join(' '), tail]);
    }
  }
  variants.push(base);
  let fallback = null; // the first country (and region) read, should no city be found
  for (const segs of variants) {
    const countryAt = segs.map(resolveCountry);
    const regionsAt = segs.map((s) => resolveRegions(s, null));
    const known = (j) => Boolean(countryAt[j] || regionsAt[j].length);
    for (const { ci, cc, ri, r } of readings(segs, countryAt, regionsAt)) {
      if (hintCountry && cc && cc !== hintCountry) continue;
      const country = cc || hintCountry;
      if (cc && !fallback) fallback = { city: null, country: cc, region: r ? r.code : null, hit: null };
      for (let i = 0; i < segs.length; i++) {
        if (i === ci || i === ri) continue;
        // a country or region the reading leaves unexplained ("Paris, US" is not Paris, France)
        if (segs.some((_, j) => j !== i && j !== ci && j !== ri && known(j))) continue;
        const hit = findCity(segs[i], country, r);
        // "JAMAICA" alone is the country, not Jamaica, NY
        if (hit && ci < 0 && ri < 0 && countryAt[i] && hit.country !== countryAt[i]) continue;
        if (hit) return { city: hit.name, country: hit.country, region: hit.region || null, hit };
      }
      // a city named like its country: "Singapore", "Luxembourg"
      if (ci >= 0 && segs.length - (ri >= 0 ? 1 : 0) === 1) {
        const hit = findCity(segs[ci], country, r);
        if (hit) return { city: hit.name, country: hit.country, region: hit.region || null, hit };
      }
    }
  }
  return fallback;
}

/**
 * Reads a carrier's free-text place ("LEIPZIG - GERMANY", "Memphis, TN, US", "Hub Köln").
 * Returns {city, country, region} with the gazetteer's city name and ISO country code,
 * {city: null, country} when only a country is recognised, null when nothing is.
 */
export function parsePlace(place) {
  const p = parse(place);
  return p ? { city: p.city, country: p.country, region: p.region } : null;
}

function locateEvent(ev) {
  if (!ev || typeof ev !== 'object') return null;
  const cc = ev.country ? resolveCountry(ev.country) : null;
  const parsed = ev.place ? parse(ev.place, cc) : null;
  if (ev.city) {
    const hit = geocodeEntry(ev.city, cc || (parsed && parsed.country), parsed && parsed.region);
    if (hit) return hit;
  }
  if (parsed && parsed.hit) return parsed.hit;
  return null; // only a country, or nothing: no guessing
}

/** The route: located events oldest first, consecutive repeats of a place merged. */
export function routeStops(events) {
  return routeEntries(events).stops.map(point);
}

function routeEntries(events) {
  const list = Array.isArray(events) ? events.slice() : [];
  // newest first by contract; sort by time when times parse, keeping the given order otherwise
  const t = (e) => {
    const v = e && Date.parse(e.occurred_at);
    return Number.isFinite(v) ? v : null;
  };
  const indexed = list.map((e, i) => ({ e, i, t: t(e) }));
  indexed.sort((a, b) => (a.t !== null && b.t !== null && a.t !== b.t ? a.t - b.t : b.i - a.i));
  const stops = [];
  let missing = 0;
  for (const { e } of indexed) {
    const hit = locateEvent(e);
    if (!hit) {
      missing++;
      continue;
    }
    if (stops[stops.length - 1] !== hit) stops.push(hit);
  }
  return { stops, missing };
}

// ---------------------------------------------------------------- projection

const MAX_LAT = 85;
const mercY = (lat) => {
  const phi = (Math.max(-MAX_LAT, Math.min(MAX_LAT, lat)) * Math.PI) / 180;
  return (Math.log(Math.tan(Math.PI / 4 + phi / 2)) * 180) / Math.PI;
};

function prepareLine(coords) {
  const xs = new Float64Array(coords.length);
  const ys = new Float64Array(coords.length);
  let x0 = Infinity, x1 = -Infinity, y0 = Infinity, y1 = -Infinity;
  coords.forEach(([lon, lat], i) => {
    const x = lon;
    const y = mercY(lat);
    xs[i] = x;
    ys[i] = y;
    if (x < x0) x0 = x;
    if (x > x1) x1 = x;
    if (y < y0) y0 = y;
    if (y > y1) y1 = y;
  });
  return { xs, ys, x0, x1, y0, y1 };
}

function prepareLand(json) {
  return {
    rings: (json.land || []).map(prepareLine),
    borders: (json.borders || []).map(prepareLine),
  };
}

// ---------------------------------------------------------------- drawing

function el(doc, name, attrs = {}, text = null) {
  const e = doc.createElementNS(SVG, name);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, String(v));
  if (text !== null) e.textContent = text;
  return e;
}

const fmt = (v) => (Math.round(v * 10) / 10).toString();

function pathOf(lines, view, close) {
  const { left, top, right, bottom, s } = view;
  let d = '';
  for (const l of lines) {
    for (const off of [-360, 0, 360]) {
      if (l.x1 + off < left || l.x0 + off > right || l.y1 < bottom || l.y0 > top) continue;
      for (let i = 0; i < l.xs.length; i++) {
        d += `${i ? 'L' : 'M'}${fmt((l.xs[i] + off - left) * s)} ${fmt((top - l.ys[i]) * s)}`;
      }
      if (close) d += 'Z';
    }
  }
  return d;
}

// Longitudes as one continuous run, so a route over the Pacific does not go round the world.
function unwrap(lons) {
  const sorted = [...new Set(lons)].sort((a, b) => a - b);
  if (sorted.length < 2) return lons;
  let gap = sorted[0] + 360 - sorted[sorted.length - 1];
  let cut = null;
  for (let i = 0; i + 1 < sorted.length; i++) {
    if (sorted[i + 1] - sorted[i] > gap) {
      gap = sorted[i + 1] - sorted[i];
      cut = sorted[i];
    }
  }
  return cut === null ? lons : lons.map((l) => (l <= cut ? l + 360 : l));
}

function fitView(pts, width, height) {
  let x0 = Infinity, x1 = -Infinity, y0 = Infinity, y1 = -Infinity;
  for (const p of pts) {
    x0 = Math.min(x0, p.x);
    x1 = Math.max(x1, p.x);
    y0 = Math.min(y0, p.y);
    y1 = Math.max(y1, p.y);
  }
  const aspect = width / height;
  const MIN_SPAN = 16; // degrees of longitude: a one-city route still shows its region
  let vw = Math.max((x1 - x0) * 1.7 + 4, ((y1 - y0) * 1.7 + 2) * aspect, MIN_SPAN);
  vw = Math.min(vw, 400);
  const vh = vw / aspect;
  const cx = (x0 + x1) / 2;
  // labels sit to the right of the dots: shift the frame a little that way
  const cy = Math.max(mercY(-60) + vh / 2, Math.min(mercY(80) - vh / 2, (y0 + y1) / 2));
  const left = cx - vw / 2 + vw * 0.03;
  const top = cy + vh / 2;
  return { left, right: left + vw, top, bottom: top - vh, s: width / vw };
}

function describe(stops, d) {
  const label = (c) => `${c.name}, ${d.countryName.get(c.country) || c.country}`;
  let names = stops.map(label);
  // a long route: ends and a count in between
  if (names.length > 8) names = [...names.slice(0, 3), `${names.length - 5} more stops`, ...names.slice(-2)];
  return names.join(' → ');
}

/** True when the polyline passes through the box. */
function crosses(pts, b) {
  for (let i = 0; i + 1 < pts.length; i++) {
    const a = pts[i];
    const c = pts[i + 1];
    const n = Math.max(2, Math.ceil(Math.hypot(c.x - a.x, c.y - a.y) / 3));
    for (let k = 0; k <= n; k++) {
      const x = a.x + ((c.x - a.x) * k) / n;
      const y = a.y + ((c.y - a.y) * k) / n;
      if (x > b.x0 && x < b.x1 && y > b.y0 && y < b.y1) return true;
    }
  }
  return false;
}

const overlaps = (b, o) => b.x0 < o.x1 && b.x1 > o.x0 && b.y0 < o.y1 && b.y1 > o.y0;

/**
 * Puts a label beside each stop where it fits (right, left, above, below), newest first, so
 * the latest stop always gets one. Adds the dots' and labels' boxes to `boxes`.
 */
function placeLabels(doc, g, uniq, latest, project, width, height, route, boxes) {
  const FONT = 12;
  for (const c of uniq) {
    const { x, y } = project(c);
    const r = c === latest ? 7 : 5;
    boxes.push({ x0: x - r, x1: x + r, y0: y - r, y1: y + r });
  }
  const hits = (b) =>
    b.x0 < 2 || b.y0 < 2 || b.x1 > width - 2 || b.y1 > height - 2 || boxes.some((o) => overlaps(b, o));
  const order = [latest, ...uniq.filter((c) => c !== latest).reverse()];
  for (const c of order) {
    const { x, y } = project(c);
    const text = c.name.length > 28 ? `${c.name.slice(0, 27)}…` : c.name;
    const w = text.length * FONT * 0.58 + 2;
    const h = FONT + 2;
    const gap = c === latest ? 14 : 9;
    const cls = c === latest ? 'map-label map-label-latest' : 'map-label';
    const tries = [
      { ax: 'start', tx: x + gap, ty: y + 4, b: { x0: x + gap - 1, x1: x + gap + w, y0: y - h / 2, y1: y + h / 2 } },
      { ax: 'end', tx: x - gap, ty: y + 4, b: { x0: x - gap - w, x1: x - gap + 1, y0: y - h / 2, y1: y + h / 2 } },
      { ax: 'middle', tx: x, ty: y - gap - 1, b: { x0: x - w / 2, x1: x + w / 2, y0: y - gap - h + 2, y1: y - gap + 1 } },
      { ax: 'middle', tx: x, ty: y + gap + 10, b: { x0: x - w / 2, x1: x + w / 2, y0: y + gap - 1, y1: y + gap + 12 } },
    ];
    const spot = tries.find((t) => !hits(t.b) && !crosses(route, t.b)) || tries.find((t) => !hits(t.b));
    if (!spot) continue;
    boxes.push(spot.b);
    g.append(el(doc, 'text', { class: cls, x: fmt(spot.tx), y: fmt(spot.ty), 'text-anchor': spot.ax }, text));
  }
}

/** A few of the largest other cities in view, small and grey, for orientation. */
function placeContext(doc, g, d, view, width, height, route, boxes, skip) {
  const FONT = 10.5;
  const want = Math.max(3, Math.round(width / 110));
  let placed = 0;
  const seen = [];
  const { left, right, top, bottom, s } = view;
  for (const c of d.cities) {
    if (placed >= want) break;
    if (skip.has(c)) continue;
    const y = mercY(c.lat);
    if (y <= bottom || y >= top) continue;
    const lon = [c.lon, c.lon + 360, c.lon - 360].find((l) => l > left && l < right);
    if (lon === undefined) continue;
    const px = (lon - left) * s;
    const py = (top - y) * s;
    // a district of a bigger city already looked at (Queens next to New York): not again
    if (seen.some((q) => Math.hypot(q.x - px, q.y - py) < 28)) continue;
    seen.push({ x: px, y: py });
    const w = c.name.length * FONT * 0.58 + 2;
    const dot = { x0: px - 4, x1: px + 4, y0: py - 4, y1: py + 4 };
    const sides = [
      { ax: 'start', tx: px + 5, b: { x0: px + 4, x1: px + 6 + w, y0: py - 7, y1: py + 6 } },
      { ax: 'end', tx: px - 5, b: { x0: px - 6 - w, x1: px - 4, y0: py - 7, y1: py + 6 } },
    ];
    const side = sides.find(({ b: lab }) => {
      const all = { x0: Math.min(dot.x0, lab.x0) - 5, x1: Math.max(dot.x1, lab.x1) + 5, y0: dot.y0 - 4, y1: dot.y1 + 4 };
      if (all.x0 < 2 || all.x1 > width - 2 || all.y0 < 2 || all.y1 > height - 2) return false;
      return !boxes.some((o) => overlaps(all, o)) && !crosses(route, lab);
    });
    if (!side) continue;
    boxes.push({ x0: Math.min(dot.x0, side.b.x0) - 5, x1: Math.max(dot.x1, side.b.x1) + 5, y0: dot.y0 - 4, y1: dot.y1 + 4 });
    g.append(
      el(doc, 'circle', { class: 'map-place', cx: fmt(px), cy: fmt(py), r: 2 }),
      el(doc, 'text', { class: 'map-place-label', x: fmt(side.tx), y: fmt(py + 3.5), 'text-anchor': side.ax }, c.name),
    );
    placed++;
  }
}

function drawMap(doc, d, stops, missing, width) {
  const height = Math.round(width / (width >= 560 ? 2 : 1.6));
  const lons = unwrap(stops.map((c) => c.lon));
  const pos = new Map();
  stops.forEach((c, i) => {
    if (!pos.has(c)) pos.set(c, { x: lons[i], y: mercY(c.lat) });
  });
  const view = fitView([...pos.values()], width, height);
  const project = (c) => {
    const p = pos.get(c);
    return { x: (p.x - view.left) * view.s, y: (view.top - p.y) * view.s };
  };
  const uniq = [...pos.keys()];
  const latest = stops[stops.length - 1];
  const first = stops[0];
  const pts = stops.map((c, i) => ({
    x: (lons[i] - view.left) * view.s,
    y: (view.top - mercY(c.lat)) * view.s,
  }));

  const figure = doc.createElement('figure');
  figure.className = 'map-figure';
  const svg = el(doc, 'svg', {
    class: 'map-svg',
    viewBox: `0 0 ${width} ${height}`,
    role: 'img',
    'aria-label': `Route map: ${describe(stops, d)}`,
    preserveAspectRatio: 'xMidYMid meet',
  });
  svg.append(el(doc, 'rect', { class: 'map-sea', x: 0, y: 0, width, height }));
  const land = pathOf(d.land.rings, view, true);
  if (land) svg.append(el(doc, 'path', { class: 'map-land', d: land, 'fill-rule': 'evenodd' }));
  const borders = pathOf(d.land.borders, view, false);
  if (borders) svg.append(el(doc, 'path', { class: 'map-border', d: borders }));

  // stop labels first, then arrowheads where they fit, then context places in what is left
  const boxes = [];
  const labels = el(doc, 'g', { class: 'map-labels' });
  placeLabels(doc, labels, uniq, latest, project, width, height, pts, boxes);

  const arrows = el(doc, 'g', { class: 'map-arrows' });
  for (let i = 0; i + 1 < pts.length; i++) {
    const a = pts[i];
    const b = pts[i + 1];
    const len = Math.hypot(b.x - a.x, b.y - a.y);
    if (len < 48) continue;
    const ux = (b.x - a.x) / len;
    const uy = (b.y - a.y) / len;
    const free = (t) => {
      const x = a.x + (b.x - a.x) * t + ux * 4;
      const y = a.y + (b.y - a.y) * t + uy * 4;
      const box = { x0: x - 6, x1: x + 6, y0: y - 6, y1: y + 6 };
      return boxes.some((o) => overlaps(box, o)) ? null : { x, y, box };
    };
    const at = free(0.5) || free(0.3) || free(0.7);
    if (!at) continue;
    const { x: mx, y: my } = at;
    boxes.push(at.box);
    const p1 = `${fmt(mx)},${fmt(my)}`;
    const p2 = `${fmt(mx - ux * 9 - uy * 5)},${fmt(my - uy * 9 + ux * 5)}`;
    const p3 = `${fmt(mx - ux * 9 + uy * 5)},${fmt(my - uy * 9 - ux * 5)}`;
    arrows.append(el(doc, 'polygon', { class: 'map-arrow', points: `${p1} ${p2} ${p3}` }));
  }

  const context = el(doc, 'g', { class: 'map-places', 'aria-hidden': 'true' });
  placeContext(doc, context, d, view, width, height, pts, boxes, new Set(uniq));
  if (context.firstChild) svg.append(context);

  if (stops.length > 1) {
    svg.append(
      el(doc, 'polyline', { class: 'map-route', points: pts.map((p) => `${fmt(p.x)},${fmt(p.y)}`).join(' ') }),
    );
  }
  if (arrows.firstChild) svg.append(arrows);

  const dots = el(doc, 'g', { class: 'map-stops' });
  for (const c of uniq) {
    if (c === latest) continue;
    const { x, y } = project(c);
    const cls = c === first && stops.length > 1 ? 'map-stop map-stop-first' : 'map-stop';
    dots.append(el(doc, 'circle', { class: cls, cx: fmt(x), cy: fmt(y), r: 4.5 }));
  }
  {
    const { x, y } = project(latest);
    dots.append(el(doc, 'circle', { class: 'map-stop-halo', cx: fmt(x), cy: fmt(y), r: 11 }));
    dots.append(el(doc, 'circle', { class: 'map-stop map-stop-latest', cx: fmt(x), cy: fmt(y), r: 6 }));
  }
  svg.append(dots, labels);
  figure.append(svg);

  const cap = doc.createElement('figcaption');
  cap.className = 'map-caption';
  if (missing > 0) {
    const m = doc.createElement('span');
    m.className = 'map-missing';
    m.textContent =
      missing === 1
        ? '1 event has no place we know; it is not on the map.'
        : `${missing} events have no place we know; they are not on the map.`;
    cap.append(m, ' ');
  }
  const attr = doc.createElement('span');
  attr.className = 'map-attribution';
  attr.textContent = 'Places © GeoNames (CC BY 4.0) · Map: Natural Earth';
  cap.append(attr);
  figure.append(cap);
  return figure;
}

function showText(container, text) {
  const doc = container.ownerDocument;
  const p = doc.createElement('p');
  p.className = 'map-empty';
  p.textContent = text;
  container.replaceChildren(p);
}

const renders = new WeakMap();

/**
 * Draws the route of `events` (newest first) into `container`, replacing what it held.
 * Resolves to {stops: [{name, country, lat, lon}], missing} (stops oldest first).
 */
export async function renderRouteMap(container, events, { fetch: fetchFn } = {}) {
  const token = {};
  renders.set(container, token);
  let d;
  try {
    d = await loadMapData(fetchFn || globalThis.fetch);
  } catch (e) {
    if (renders.get(container) === token) showText(container, NO_DATA);
    return { stops: [], missing: Array.isArray(events) ? events.length : 0 };
  }
  const { stops, missing } = routeEntries(events);
  const result = { stops: stops.map(point), missing };
  if (renders.get(container) !== token) return result; // a newer render owns the container
  if (!stops.length) {
    showText(container, NO_PLACES);
    return result;
  }
  const measured = Math.round(container.clientWidth || 0);
  const width = Math.max(320, Math.min(1100, measured || 720));
  container.replaceChildren(drawMap(container.ownerDocument, d, stops, missing, width));
  return result;
}
