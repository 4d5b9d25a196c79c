// node --test ui/js/format.test.mjs — the UI's dates in the app's one convention, the one
// the core's estimate words use ("Thu 26 Nov, likely by 08:30"), whatever the system's locale.
// Run under a 12-hour, month-first locale (scripts/test sets LC_ALL=en_US.UTF-8) so that the
// system's conventions would show if they leaked through.
import { test } from 'node:test';
import assert from 'node:assert/strict';

import { dateTime, dateWindow, day, percent, time } from './format.js';

// Local times, so the test holds in any time zone.
const at = (h, m, d = 26) => new Date(new Date().getFullYear(), 10, d, h, m);

test('times are 24-hour with two digits, as in the estimate words', () => {
  assert.equal(time(at(8, 5)), '08:05');
  assert.equal(time(at(17, 30)), '17:30');
});

test('dates read weekday, day, month', () => {
  const d = at(8, 5);
  const weekday = d.toLocaleDateString('en-GB', { weekday: 'short' });
  assert.equal(day(d), `${weekday} 26 Nov`);
  assert.equal(dateTime(d), `${weekday} 26 Nov, 08:05`);
});

test('a window within a day gives both times in the same style', () => {
  const words = dateWindow(at(8, 15), at(8, 18));
  assert.match(words, /^[A-Z][a-z]{2} 26 Nov, 08:15\s*–\s*08:18$/, words);
});

test('a whole-day window reads as days', () => {
  const words = dateWindow(at(0, 0, 23), at(23, 59, 27));
  assert.match(words, /^[A-Z][a-z]{2} 23( Nov)?\s*–\s*[A-Z][a-z]{2} 27 Nov$/, words);
});

test('percentages', () => {
  assert.equal(percent(0.85), '85%');
});
