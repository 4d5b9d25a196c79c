#!/usr/bin/env python3
"""Sync of 10,000 changes: device A imports N parcels (each with an event), signs in to a
shop server with --upload and runs `parceltrail sync` (N records pushed, the server's
answers merged back); device B signs in and runs `parceltrail sync` (N records pulled);
then A relabels one parcel and both sync again (one change each way). The baseline, in the
same run: `parceltrail export --format json` of A's N parcels (the same records read
locally, written as JSON), so the figures compare across machines as ratios.

    python3 scripts/bench_sync.py [BIN] [sqlite|postgres]

BIN defaults to target/release/parceltrail; PARCELTRAIL_TEST_POSTGRES names a PostgreSQL
server for `postgres`. N is $PARCELS (default 10000), each step run $RUNS times (default 3).
"""

import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_server import ups_number  # noqa: E402 (valid UPS numbers, one per index)

BIN = sys.argv[1] if len(sys.argv) > 1 else "target/release/parceltrail"
BACKEND = sys.argv[2] if len(sys.argv) > 2 else "sqlite"
N = int(os.environ.get("PARCELS", "10000"))
RUNS = int(os.environ.get("RUNS", "3"))


def run(home, *args, check=True):
    env = dict(os.environ, PARCELTRAIL_HOME=home)
    env.pop("RUST_LOG", None)
    t = time.monotonic()
    p = subprocess.run([BIN, "--credentials-file", *args], env=env, capture_output=True, text=True)
    took = time.monotonic() - t
    if check and p.returncode != 0:
        sys.exit(f"bench-sync: parceltrail {' '.join(args)} failed:\n{p.stdout}{p.stderr}")
    return took, p.stdout


def database(work):
    base = os.environ.get("PARCELTRAIL_TEST_POSTGRES")
    if not base:
        sys.exit("bench-sync: set PARCELTRAIL_TEST_POSTGRES for the postgres backend")
    name = f"bench_sync_{os.getpid()}_{int(time.time())}"
    subprocess.run(["psql", base, "-qc", f"CREATE DATABASE {name}"], check=True)
    u = urllib.parse.urlsplit(base)
    return urllib.parse.urlunsplit((u.scheme, u.netloc, f"/{name}", u.query, u.fragment))


def one(work, i):
    srv, a, b = (os.path.join(work, f"{x}{i}") for x in ("srv", "a", "b"))
    db = f"sqlite:{os.path.join(work, f'server{i}.db')}" if BACKEND == "sqlite" else database(work)
    env = dict(os.environ, PARCELTRAIL_HOME=srv)
    made = json.loads(subprocess.run(
        [BIN, "server", "--db", db, "shop", "create", "Bench", "--admin-email", "b@example.com", "--json"],
        env=env, capture_output=True, text=True, check=True).stdout)
    server = subprocess.Popen([BIN, "server", "--db", db, "--listen", "127.0.0.1:0"], env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        line = server.stdout.readline()
        base = re.search(r"(http://[^/\s]+)", line).group(1)
        csv = os.path.join(work, f"parcels{i}.csv")
        with open(csv, "w") as f:
            f.write("tracking_number,carrier,store,label,event_status,event_time,event_description\n")
            for k in range(N):
                f.write(f"{ups_number(k)},ups,Bench,Parcel {k},in_transit,2026-11-30T10:00:00Z,Departed\n")
        run(a, "import", csv)
        baseline, _ = run(a, "export", "--format", "json")
        run(a, "sync", "login", base, "--key", made["api_key"], "--upload")
        push, out = run(a, "sync", "--json")
        pushed = json.loads(out)
        run(b, "sync", "login", base, "--key", made["api_key"])
        pull, out = run(b, "sync", "--json")
        pulled = json.loads(out)
        run(a, "label", ups_number(7), "Renamed")
        small_a, _ = run(a, "sync", "--json")
        small_b, out = run(b, "sync", "--json")
        assert json.loads(out)["changed_here"] == 1, out
        assert pushed["sent"] == N and pulled["received"] >= N, (pushed, pulled)
        return baseline, push, pull, small_a, small_b, pushed, pulled
    finally:
        server.terminate()
        server.wait()


def main():
    rows = []
    with tempfile.TemporaryDirectory() as work:
        for i in range(RUNS):
            rows.append(one(work, i))
            b, push, pull, sa, sb, pushed, pulled = rows[-1]
            print(f"  run {i + 1}: baseline {b:.2f} s, push {N} {push:.2f} s "
                  f"({N / push:.0f} parcels/s), pull {N} {pull:.2f} s ({N / pull:.0f} parcels/s), "
                  f"one change {sa:.2f} s / {sb:.2f} s", flush=True)
    med = lambda k: statistics.median(r[k] for r in rows)
    b = med(0)
    print(f"sync of {N} changes on {BACKEND}, {RUNS} runs (medians):")
    print(f"  baseline (export --format json of the {N} parcels): {b:.2f} s")
    print(f"  push (A sends {N}, merges the answers): {med(1):.2f} s, ratio {med(1) / b:.1f}")
    print(f"  pull (B receives {N}): {med(2):.2f} s, ratio {med(2) / b:.1f}")
    print(f"  one change: A {med(3):.2f} s, B {med(4):.2f} s (each a whole `parceltrail sync` run)")


if __name__ == "__main__":
    main()
