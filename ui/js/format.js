// Formatting for people: instants in local time, relative times, percentages.
// Times from the backend are RFC 3339 strings (with an offset); they are shown in the
// user's local time zone.
//
// In the app's one English, whatever the system's locale: the core words estimates (and
// the notifications) as "Thu 26 Nov, likely by 08:30", so the UI's own dates say "Thu 26 Nov,
// 08:15" too, not "Thu, Nov 26, 8:15 AM" beside them on the same card. When the app is
// translated, both sides follow the locale together.
const LOCALE = 'en-GB';

const cache = new Map();
function dtf(key, options) {
  let f = cache.get(key);
  if (!f) {
    f = new Intl.DateTimeFormat(LOCALE, options);
    cache.set(key, f);
  }
  return f;
}

const TIME = { hour: '2-digit', minute: '2-digit', hourCycle: 'h23' };
const DATE_TIME = { weekday: 'short', day: 'numeric', month: 'short', ...TIME };
const DATE_TIME_YEAR = { ...DATE_TIME, year: 'numeric' };
const DAY = { weekday: 'short', day: 'numeric', month: 'short' };
const DAY_YEAR = { ...DAY, year: 'numeric' };
const FULL = { dateStyle: 'full', timeStyle: 'long' };

/** A Date from an RFC 3339 string (or Date); null when absent or invalid. */
export function toDate(v) {
  if (v == null || v === '') return null;
  const d = v instanceof Date ? v : new Date(v);
  return Number.isNaN(d.getTime()) ? null : d;
}

function thisYear(d) {
  return d.getFullYear() === new Date().getFullYear();
}

/** "Tue 4 Jun, 14:05" (local time; the year when not this year's). */
export function dateTime(v) {
  const d = toDate(v);
  if (!d) return '';
  return thisYear(d) ? dtf('dt', DATE_TIME).format(d) : dtf('dty', DATE_TIME_YEAR).format(d);
}

/** "Tue 4 Jun" (local). */
export function day(v) {
  const d = toDate(v);
  if (!d) return '';
  return thisYear(d) ? dtf('d', DAY).format(d) : dtf('dy', DAY_YEAR).format(d);
}

/** "14:05" (local). */
export function time(v) {
  const d = toDate(v);
  return d ? dtf('t', TIME).format(d) : '';
}

/** Full local date and time, for tooltips. */
export function full(v) {
  const d = toDate(v);
  return d ? dtf('full', FULL).format(d) : '';
}

/** The local calendar date as yyyy-mm-dd (for grouping and <input type=date>). */
export function isoDay(v) {
  const d = toDate(v);
  if (!d) return '';
  const p = (n) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}`;
}

/** Local midnight starting the yyyy-mm-dd day, plus `addDays`; null when invalid. */
export function localMidnight(ymd, addDays = 0) {
  const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(ymd || '');
  if (!m) return null;
  const d = new Date(Number(m[1]), Number(m[2]) - 1, Number(m[3]) + addDays, 0, 0, 0, 0);
  return Number.isNaN(d.getTime()) ? null : d;
}

function isMidnight(d) {
  return d.getHours() === 0 && d.getMinutes() === 0 && d.getSeconds() === 0;
}
function isEndOfDay(d) {
  return d.getHours() === 23 && d.getMinutes() === 59;
}

function formatRange(f, a, b) {
  if (typeof f.formatRange === 'function') {
    try {
      return f.formatRange(a, b);
    } catch {
      /* fall through */
    }
  }
  const x = f.format(a);
  const y = f.format(b);
  return x === y ? x : `${x} – ${y}`;
}

/**
 * An estimate's window in local time: whole days read as days ("Tue 4 – Thu 6 Jun"),
 * otherwise with times ("Tue 4 Jun, 09:00 – 18:00").
 */
export function dateWindow(earliest, latest) {
  const a = toDate(earliest);
  let b = toDate(latest);
  if (!a && !b) return '';
  if (!a || !b) return dateTime(a || b);
  if (b < a) b = a;
  const years = thisYear(a) && thisYear(b);
  if (isMidnight(a) && (isMidnight(b) || isEndOfDay(b))) {
    const end = isMidnight(b) && b > a ? new Date(b.getTime() - 1) : b;
    return formatRange(years ? dtf('d', DAY) : dtf('dy', DAY_YEAR), a, end);
  }
  return formatRange(years ? dtf('dt', DATE_TIME) : dtf('dty', DATE_TIME_YEAR), a, b);
}

const rtf = typeof Intl.RelativeTimeFormat === 'function' ? new Intl.RelativeTimeFormat(LOCALE, { numeric: 'auto' }) : null;
const UNITS = [
  ['year', 365 * 24 * 3600],
  ['month', 30 * 24 * 3600],
  ['week', 7 * 24 * 3600],
  ['day', 24 * 3600],
  ['hour', 3600],
  ['minute', 60],
];

/** "in 2 days", "yesterday", "3 hours ago", "just now" (relative to `now`). */
export function relative(v, now = Date.now()) {
  const d = toDate(v);
  if (!d) return '';
  const secs = (d.getTime() - now) / 1000;
  const abs = Math.abs(secs);
  if (abs < 45) return 'just now';
  // Whole local days read better as days ("tomorrow", "in 2 days") than as hours.
  if (abs >= 20 * 3600 && abs < 7 * 24 * 3600) {
    const today = localMidnight(isoDay(now));
    const that = localMidnight(isoDay(d));
    const days = Math.round((that - today) / 86400000);
    if (days !== 0) return rtf ? rtf.format(days, 'day') : `${days} days`;
  }
  for (const [unit, size] of UNITS) {
    if (abs >= size || unit === 'minute') {
      const n = Math.round(secs / size);
      return rtf ? rtf.format(n, unit) : `${n} ${unit}s`;
    }
  }
  return '';
}

const pct = new Intl.NumberFormat(LOCALE, { style: 'percent', maximumFractionDigits: 0 });

/** 0.8 → "80%". */
export function percent(x) {
  const n = Number(x);
  if (!Number.isFinite(n)) return '';
  return pct.format(Math.min(1, Math.max(0, n)));
}

/** A count with its noun: plural(3, 'parcel') → "3 parcels". */
export function plural(n, one, many = `${one}s`) {
  return `${n} ${n === 1 ? one : many}`;
}
