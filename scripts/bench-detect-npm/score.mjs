// Precision and recall of scripts/bench-detect's two runs against the generator's ground truth,
// over distinct numbers: a number reported valid that the generator did not plant is a false
// positive; a planted one not reported is a miss.
// Usage: node score.mjs TRUTH OURS_JSON_DIR NPM_LIST BYTES OURS_SECONDS NPM_SECONDS
import { readFileSync, readdirSync } from 'node:fs';

const [truthFile, oursDir, npmFile, bytes, oursSecs, npmSecs] = process.argv.slice(2);
const lines = (f) => readFileSync(f, 'utf8').split('\n').filter(Boolean);
const truth = new Set(lines(truthFile));

const ours = new Set();
for (const f of readdirSync(oursDir).filter((f) => f.endsWith('.json')).sort()) {
  for (const d of JSON.parse(readFileSync(`${oursDir}/${f}`, 'utf8'))) {
    if (d.valid) ours.add(d.number);
  }
}
const npm = new Set(lines(npmFile));

const score = (found) => {
  let tp = 0;
  for (const n of found) if (truth.has(n)) tp++;
  return { tp, fp: found.size - tp, fn: truth.size - tp, precision: tp / found.size, recall: tp / truth.size };
};
const mb = Number(bytes) / 1e6;
const row = (name, secs, s) =>
  console.log(
    `${name.padEnd(28)} ${secs.toFixed(2).padStart(7)} s ${(mb / secs).toFixed(1).padStart(8)} MB/s` +
      `   precision ${(100 * s.precision).toFixed(2)} % (${s.fp} false)   recall ${(100 * s.recall).toFixed(2)} % (${s.fn} missed)`,
  );
console.log(`${mb.toFixed(1)} MB of email-like text, ${truth.size} distinct tracking numbers planted`);
row('parceltrail detect --json -', Number(oursSecs), score(ours));
row('ts-tracking-number', Number(npmSecs), score(npm));
console.log(`ratio parceltrail / ts-tracking-number: ${(Number(npmSecs) / Number(oursSecs)).toFixed(1)}x`);
