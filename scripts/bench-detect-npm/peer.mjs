// The npm peer of scripts/bench-detect: ts-tracking-number's findTracking over the same files,
// one email at a time (split at mbox "From " lines), which is how a mail client would call it
// and spares it the cost of its match-against-every-other-match step on a whole 4 MiB file.
// Prints each distinct number found, one a line.
import { readFileSync } from 'node:fs';
import { findTracking } from 'ts-tracking-number';

const seen = new Set();
for (const file of process.argv.slice(2)) {
  const text = readFileSync(file, 'utf8');
  for (const mail of text.split(/^(?=From )/m)) {
    for (const t of findTracking(mail)) {
      seen.add(t.trackingNumber.toUpperCase());
    }
  }
}
process.stdout.write([...seen].join('\n') + (seen.size ? '\n' : ''));
