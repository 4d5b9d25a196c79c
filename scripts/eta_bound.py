#!/usr/bin/env python3
"""The narrowest estimate window any model could give on a file of past deliveries.

For a sample of rows, the window comes from the deliveries shipped within --days of that row
(before and after it: a clairvoyant model that knows the season's speed) with the same
promised lead time in calendar days (and with --by-state, the same `customer_state`). Its
quantile levels are at the goal's limits: the window's end at the quantile the store's
promise is late beyond (as late as the promise, before whole days round it down), and the
start --coverage below it. No model that knows only the promise (and
the state) can do better on average, so when this bound is wider than a goal, the goal
cannot be met on that data.

    scripts/eta_bound.py FILE.csv [--days 10] [--by-state] [--coverage 0.75]

FILE.csv has the columns `parceltrail eta-synth --profile marketplace` writes (shipped_at,
delivered_at, estimated_at, customer_state), as local `YYYY-MM-DD HH:MM:SS` times. Use a large
file (`--rows 1000000`): a cohort needs 30 deliveries to count.
"""

import argparse
import bisect
import csv
import random
from collections import defaultdict
from datetime import date, datetime

MIN_COHORT = 30


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("file")
    ap.add_argument("--days", type=int, default=10)
    ap.add_argument("--by-state", action="store_true")
    ap.add_argument("--coverage", type=float, default=0.75)
    ap.add_argument("--sample", type=int, default=4000)
    ap.add_argument("--seed", type=int, default=1)
    a = ap.parse_args()

    rows = []
    with open(a.file, newline="") as f:
        for line, r in enumerate(csv.DictReader(f), start=2):
            if not r["delivered_at"] or not r["estimated_at"]:
                continue
            try:
                shipped = datetime.fromisoformat(r["shipped_at"]).date()
                delivered = datetime.fromisoformat(r["delivered_at"]).date()
                promised = date.fromisoformat(r["estimated_at"][:10])
            except ValueError as e:
                raise SystemExit(f"{a.file}:{line}: {e}")
            state = r.get("customer_state", "") if a.by_state else ""
            rows.append(
                (shipped.toordinal(), state, (promised - shipped).days, (delivered - shipped).days)
            )
    if not rows:
        raise SystemExit(f"{a.file}: no delivered row with a promise")

    store_late = sum(t > lead for _, _, lead, t in rows) / len(rows)
    upper = 1.0 - store_late
    lower = max(0.0, upper - a.coverage)

    cohorts = defaultdict(list)
    for day, state, lead, transit in rows:
        cohorts[(state, lead)].append((day, transit))
    for c in cohorts.values():
        c.sort()
    days = {k: [d for d, _ in c] for k, c in cohorts.items()}

    random.seed(a.seed)
    n = covered = late = width = thin = 0
    for day, state, lead, transit in random.sample(rows, min(a.sample, len(rows))):
        key = (state, lead)
        lo = bisect.bisect_left(days[key], day - a.days)
        hi = bisect.bisect_right(days[key], day + a.days)
        ts = sorted(t for _, t in cohorts[key][lo:hi])
        ts.remove(transit)  # the row itself is not its own evidence
        if len(ts) < MIN_COHORT:
            thin += 1
            continue
        start = ts[int(lower * len(ts))]
        end = ts[min(len(ts) - 1, int(upper * len(ts)))]
        n += 1
        covered += start <= transit <= end
        late += transit > end
        width += end - start + 1
    if n == 0:
        raise SystemExit("no row had a cohort of 30: use a larger file or more --days")
    print(
        f"{len(rows)} deliveries, store late {store_late:.1%}; quantiles {lower:.3f}-{upper:.3f}; "
        f"{n} rows scored ({thin} with too thin a cohort): coverage {covered / n:.1%}, "
        f"mean window {width / n:.2f} days, window end late {late / n:.1%}"
    )


if __name__ == "__main__":
    main()
