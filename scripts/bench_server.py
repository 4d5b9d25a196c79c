"""Load one shop server with wrk and print its figures (see scripts/bench-server).

usage: bench_server.py BINARY sqlite|postgres   (postgres: PARCELTRAIL_TEST_POSTGRES is set)

Phases, on one server and one shop:
  1. GET /healthz and GET /api/v1/shop (the routing and API-key baselines).
  2. ORDERS orders, one parcel each (three UPS numbers in four, else DHL), made by wrk through
     POST /api/v1/orders (distinct order numbers, customers, placed dates), then the server
     left to settle (its poller visits each new parcel once).
  3. Webhook ingest, for each size in EVENTS and RUNS times: a baseline run of bodies whose
     signature is wrong (the handler reads the shop's secret, verifies, answers 401 and
     touches nothing else), then a run of well-signed ones (that many new events each, a
     distinct webhook-id each, signed just before the run), both for DURATION seconds at
     CONNECTIONS. Afterwards the events
     stored in the shop's database are counted against those the answers acknowledged.
  4. Reads at ORDERS orders: GET /api/v1/orders/{id} over random ids, and list pages with
     filters, at each of READ_CONNECTIONS.
  5. The customers' tracking page (PHASES with `track`): the data of GET
     /api/v1/track/{token} over 2,000 random orders' signed links, against a static file
     (/js/dom.js) from the same server, at each of READ_CONNECTIONS.
  6. The server's peak RSS (VmHWM).
"""

import base64
import hashlib
import hmac
import json
import os
import random
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from datetime import datetime, timedelta, timezone

DURATION = int(os.environ.get("DURATION", "10"))
CONNECTIONS = int(os.environ.get("CONNECTIONS", "32"))
READ_CONNECTIONS = [int(c) for c in os.environ.get("READ_CONNECTIONS", "4 32").split()]
RUNS = int(os.environ.get("RUNS", "3"))
ORDERS = int(os.environ.get("ORDERS", "100000"))
# Events per webhook body; several sizes ("1 10") are run in turn on the same server.
EVENTS = [int(e) for e in os.environ.get("EVENTS", "1 10").split()]
# More bodies than a run can send (a body sent twice is a replay, 409), for each size.
BODIES = {e: int(os.environ.get("BODIES", DURATION * (20000 if e == 1 else 80000 // e)))
          for e in EVENTS}
PHASES = os.environ.get("PHASES", "base seed ingest read").split()
LUA = os.path.join(os.path.dirname(os.path.abspath(__file__)), "bench-server.lua")
SECRET = "whsec_" + base64.b64encode(b"parceltrail-bench-secret-0123456789").decode()
WRONG = "whsec_" + base64.b64encode(b"not-the-shops-secret-9876543210abcd").decode()
CLK_TCK = os.sysconf("SC_CLK_TCK")


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def unit(value, suffix):
    value = float(value)
    return {"us": value / 1000, "ms": value, "s": value * 1000}[suffix]


def wrk(url, headers=(), script=None, connections=CONNECTIONS, duration=DURATION, until=None):
    """Runs wrk and reads its figures. `until`: a file whose appearance ends the run early."""
    args = ["wrk", "-t1", f"-c{connections}", f"-d{duration}s", "--latency", "--timeout", "10s"]
    for h in headers:
        args += ["-H", h]
    if script:
        args += ["-s", LUA, url, "--", *script]
    else:
        args.append(url)
    p = subprocess.Popen(args, stdout=subprocess.PIPE, text=True)
    if until:
        while p.poll() is None and not os.path.exists(until):
            time.sleep(0.2)
        if p.poll() is None:
            p.send_signal(signal.SIGINT)  # wrk stops and prints what it measured
    out = p.communicate()[0]
    if p.returncode != 0:
        sys.exit(f"bench-server: wrk failed ({p.returncode}): {out}")
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    secs = re.search(r"(\d+) requests in ([\d.]+)(ms|s|m)\b", out)
    total = int(secs.group(1))
    elapsed = float(secs.group(2)) * {"ms": 0.001, "s": 1, "m": 60}[secs.group(3)]
    lat = {m.group(1): unit(m.group(2), m.group(3))
           for m in re.finditer(r"^\s+(50|99)%\s+([\d.]+)(us|ms|s)\s*$", out, re.M)}
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    errors = re.search(r"Socket errors: (.*)", out)
    lua = {m.group(1): int(m.group(2)) for m in re.finditer(r"^LUA (\w+)=(\d+)$", out, re.M)}
    return {
        "rps": rps, "requests": total, "elapsed": elapsed, "p50": lat.get("50"),
        "p99": lat.get("99"), "non2xx": int(non2xx.group(1)) if non2xx else 0,
        "socket_errors": errors.group(1) if errors else None, "lua": lua,
    }


def proc_status(pid, field):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    return float("nan")


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def postgres_pids():
    out = subprocess.run(["pgrep", "-u", "postgres"], capture_output=True, text=True).stdout
    return [int(p) for p in out.split()]


def cpu_of(pids):
    total = 0.0
    for pid in pids:
        try:
            total += cpu_seconds(pid)
        except (FileNotFoundError, ProcessLookupError):
            pass
    return total


def measured(pid, run):
    """run(), and the cores the server and PostgreSQL used meanwhile."""
    pg = postgres_pids()
    t0, s0, p0 = time.monotonic(), cpu_seconds(pid), cpu_of(pg)
    r = run()
    dt = time.monotonic() - t0
    r["server_cores"] = (cpu_seconds(pid) - s0) / dt
    r["pg_cores"] = (cpu_of(pg) - p0) / dt
    return r


def settle(pid, limit=300):
    """Waits until the server is idle (under 5 % of a core for a second)."""
    start = time.monotonic()
    last = cpu_seconds(pid)
    while time.monotonic() - start < limit:
        time.sleep(1)
        now = cpu_seconds(pid)
        if now - last < 0.05:
            return time.monotonic() - start
        last = now
    return time.monotonic() - start


def ups_number(i):
    serial = f"5R8939{i:09d}"
    total = 0
    for k, c in enumerate(serial):
        v = int(c) if c.isdigit() else (ord(c) - 3) % 10
        total += v * (1 if k % 2 == 0 else 2)
    return f"1Z{serial}{(10 - total % 10) % 10}"


def dhl_number(i):
    serial = f"3{i:08d}"
    return f"{serial}{int(serial) % 7}"


def parcel(i):
    """Order i's parcel: (tracking number, carrier)."""
    return (dhl_number(i), "dhl") if i % 4 == 3 else (ups_number(i), "ups")


def api(base, key, method, path, body=None):
    req = urllib.request.Request(
        base + path, method=method, data=None if body is None else json.dumps(body).encode(),
        headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=30) as r:
        return json.loads(r.read() or b"null")


def write_lines(path, lines):
    with open(path, "w") as f:
        for line in lines:
            f.write(line)
            f.write("\n")


def seed_orders(work, base, key):
    now = datetime.now(timezone.utc)
    path = os.path.join(work, "orders.txt")

    def line(i):
        number, carrier = parcel(i)
        placed = (now - timedelta(days=60) + timedelta(seconds=i * 50)).strftime("%Y-%m-%dT%H:%M:%SZ")
        body = {
            "order_number": f"B-{i:06d}", "placed_at": placed, "channel": "web",
            "customer": {"name": f"Customer {i}", "email": f"c{i}@example.com"},
            "shipments": [{"tracking_number": number, "carrier": carrier}],
        }
        return "Content-Type:application/json\t" + json.dumps(body, separators=(",", ":"))

    write_lines(path, (line(i) for i in range(ORDERS)))
    mark = os.path.join(work, "orders.done")
    r = wrk(base + "/api/v1/orders", [f"Authorization: Bearer {key}"], ["seed", path, mark],
            duration=3600, until=mark)
    made = r["lua"].get("ok", 0)
    print(f"  seeded {made} orders in {r['elapsed']:.1f} s ({made / r['elapsed']:.0f} orders/s, "
          f"POST /api/v1/orders p50 {r['p50']:.2f} ms p99 {r['p99']:.2f} ms, "
          f"refused {r['lua'].get('bad', 0)})", flush=True)
    if made != ORDERS:
        sys.exit(f"bench-server: {ORDERS - made} orders were refused")
    return r


def list_orders(base, key):
    """Every order's id, paged through the API (newest first)."""
    ids, cursor = [], None
    while True:
        page = api(base, key, "GET", "/api/v1/orders?limit=200" + (f"&cursor={cursor}" if cursor else ""))
        ids += [o["id"] for o in page["orders"]]
        cursor = page.get("next_cursor")
        if not cursor:
            return ids


def sign(key_b64, msg_id, ts, body):
    key = base64.b64decode(key_b64.removeprefix("whsec_"))
    mac = hmac.new(key, f"{msg_id}.{ts}.".encode() + body.encode(), hashlib.sha256).digest()
    return "v1," + base64.b64encode(mac).decode()


def hook_bodies(work, run, first, n, size, secret, kind):
    """n requests, each a distinct message with `size` new events (numbered from `first`,
    so no two runs share one), signed now."""
    path = os.path.join(work, f"hooks-{kind}-{run}.txt")
    ts = int(time.time())
    start = datetime.now(timezone.utc) - timedelta(days=30)
    statuses = ["in_transit", "in_transit", "out_for_delivery", "in_transit"]

    def line(j):
        number, carrier = parcel(j % ORDERS)
        seq = first + j * size
        events = [{
            "occurred_at": (start + timedelta(seconds=seq + k)).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "status": statuses[(j // ORDERS + k) % len(statuses)],
            "description": f"Scan {seq + k}",
            "location": {"city": "Leeds", "country": "GB"},
        } for k in range(size)]
        body = json.dumps({"tracking_number": number, "carrier": carrier, "events": events},
                          separators=(",", ":"))
        msg_id = f"msg_{kind}_{first}_{j}"
        return (f"Content-Type:application/json\twebhook-id:{msg_id}\twebhook-timestamp:{ts}\t"
                f"webhook-signature:{sign(secret, msg_id, ts, body)}\t{body}")

    write_lines(path, (line(j) for j in range(n)))
    return path


def stored_events(backend, db, work, shop):
    sql = "SELECT count(*) FROM events WHERE source = 'webhook'"
    if backend == "sqlite":
        import sqlite3
        c = sqlite3.connect(f"file:{work}/shops/{shop}.db?mode=ro", uri=True)
        return c.execute(sql).fetchone()[0]
    schema = "shop_" + shop.replace("-", "")
    out = subprocess.run(["psql", db, "-tAc", f"SET search_path TO {schema}; {sql}"],
                         capture_output=True, text=True, check=True).stdout
    return int(out.split()[-1])


def top_statements(db, n):
    """PG_STATEMENTS=N: the N statements PostgreSQL spent most time on during the ingest runs
    (a cluster started with pg_stat_statements loaded)."""
    sql = ("SELECT calls, round(total_exec_time::numeric, 0) AS ms, "
           "round(mean_exec_time::numeric, 3) AS mean_ms, "
           "regexp_replace(left(query, 110), '\\s+', ' ', 'g') AS query "
           f"FROM pg_stat_statements ORDER BY total_exec_time DESC LIMIT {n}")
    print(subprocess.run(["psql", db, "-c", sql], capture_output=True, text=True).stdout)


def fmt(r):
    return f"{r['rps']:9.0f} req/s  p50 {r['p50']:6.2f} ms  p99 {r['p99']:6.2f} ms"


def cores(r):
    pg = f", PostgreSQL {r['pg_cores']:.2f}" if r.get("pg_cores") else ""
    return f"  [cores: server {r['server_cores']:.2f}{pg}]"


def main():
    binary, backend = sys.argv[1], sys.argv[2]
    work = tempfile.mkdtemp(prefix="bench-server-")
    env = dict(os.environ, PARCELTRAIL_HOME=work)
    if backend == "sqlite":
        db = f"sqlite:{work}/server.db"
    else:
        base_url = os.environ["PARCELTRAIL_TEST_POSTGRES"]
        name = f"bench_{os.getpid()}"
        subprocess.run(["psql", f"{base_url}/postgres", "-qc", f"CREATE DATABASE {name}"], check=True)
        db = f"{base_url}/{name}"
    created = json.loads(subprocess.run(
        [binary, "server", "--db", db, "shop", "create", "Bench", "--admin-email",
         "bench@example.com", "--json"], env=env, capture_output=True, text=True, check=True).stdout)
    key, shop = created["api_key"], created["shop_id"]
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    server = subprocess.Popen(
        [binary, "server", "--db", db, "--listen", f"127.0.0.1:{port}",
         "--key-requests-per-second", "1000000", "--log-format", "json"],
        env=dict(env, RUST_LOG="warn"), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    auth = f"Authorization: Bearer {key}"
    label = f"{backend:8}"
    try:
        for _ in range(100):
            try:
                urllib.request.urlopen(f"{base}/healthz", timeout=1)
                break
            except OSError:
                time.sleep(0.1)
        print(f"{backend}: {CONNECTIONS} connections, {DURATION} s a run, wrk -t1; "
              f"server pid {server.pid}", flush=True)
        if "base" in PHASES:
            r0 = wrk(f"{base}/healthz")
            r1 = wrk(f"{base}/api/v1/shop", [auth])
            print(f"{label} GET /healthz             {fmt(r0)}  non-2xx {r0['non2xx']}")
            print(f"{label} GET /api/v1/shop         {fmt(r1)}  non-2xx {r1['non2xx']}"
                  f"  ({r1['rps'] / r0['rps']:.2f}x /healthz)", flush=True)
        if "seed" in PHASES:
            seed_orders(work, base, key)
            if backend == "postgres":
                # As autovacuum would have long since on a shop's tables: statistics of the
                # seeded rows, not of the empty tables the shop began with (a plan made
                # for those scans what it should look up).
                subprocess.run(["psql", db, "-qc", "ANALYZE"], check=True, capture_output=True)
            print(f"  settled in {settle(server.pid):.0f} s; RSS now "
                  f"{proc_status(server.pid, 'VmRSS'):.1f} MiB, peak {proc_status(server.pid, 'VmHWM'):.1f} MiB",
                  flush=True)
        if "ingest" in PHASES:
            api(base, key, "PUT", "/api/v1/hooks/standard", {"secret": SECRET})
            url = f"{base}/hooks/{shop}/standard"
            before = stored_events(backend, db, work, shop)
            if backend == "postgres" and os.environ.get("PG_STATEMENTS"):
                subprocess.run(["psql", db, "-qc", "CREATE EXTENSION IF NOT EXISTS pg_stat_statements; "
                                "SELECT pg_stat_statements_reset()"], check=True, capture_output=True)
            acked = 0
            slack = 0
            first = 0
            for size in EVENTS:
                best = None
                for run in range(RUNS):
                    n = BODIES[size]
                    bad = hook_bodies(work, run, first, n, size, WRONG, "bad")
                    rb = measured(server.pid, lambda: wrk(url, script=["post", bad]))
                    good = hook_bodies(work, run, first, n, size, SECRET, "good")
                    ri = measured(server.pid, lambda: wrk(url, script=["post", good]))
                    first += n * size
                    os.remove(bad)
                    os.remove(good)
                    ev = ri["lua"].get("stored", 0) / ri["elapsed"]
                    acked += ri["lua"].get("stored", 0)
                    # A request wrk gave up on at a run's end may be stored unacknowledged.
                    slack += CONNECTIONS * size
                    ratio = ri["rps"] / rb["rps"]
                    print(f"{label} run {run + 1}: baseline (bad signature, 401)  {fmt(rb)}  "
                          f"2xx {rb['lua'].get('ok')}" + cores(rb))
                    print(f"{label} run {run + 1}: ingest, {size:2} event(s) a body  {fmt(ri)}  "
                          f"non-2xx {ri['non2xx']}  {ev:7.0f} events/s  ratio {ratio:.2f}"
                          + (f"  socket errors {ri['socket_errors']}" if ri["socket_errors"] else "")
                          + cores(ri), flush=True)
                    if best is None or ev > best[0]:
                        best = (ev, ratio, ri, rb)
                    settle(server.pid, limit=60)
                print(f"{label} best at {size} event(s) a body: {best[0]:.0f} events/s, "
                      f"{best[2]['rps']:.0f} req/s, p50 {best[2]['p50']:.2f} ms p99 {best[2]['p99']:.2f} ms, "
                      f"ratio {best[1]:.2f} to its baseline ({best[3]['rps']:.0f} req/s)", flush=True)
            time.sleep(1)
            if backend == "postgres" and os.environ.get("PG_STATEMENTS"):
                top_statements(db, int(os.environ["PG_STATEMENTS"]))
            stored = stored_events(backend, db, work, shop) - before
            verdict = "ok" if acked <= stored <= acked + slack else "MISMATCH"
            print(f"{label} durability: {acked} events acknowledged, {stored} stored "
                  f"(at most {slack} more may be from requests cut off at a run's end): {verdict}")
            print(f"  RSS now {proc_status(server.pid, 'VmRSS'):.1f} MiB, peak "
                  f"{proc_status(server.pid, 'VmHWM'):.1f} MiB", flush=True)
        if "read" in PHASES:
            ids = list_orders(base, key)
            print(f"  {len(ids)} orders listed through the API", flush=True)
            files = {}
            rnd = random.Random(1)

            def paths(name, lines):
                p = os.path.join(work, f"paths-{name}.txt")
                write_lines(p, lines)
                files[name] = p

            paths("order", (f"/api/v1/orders/{i}" for i in ids))
            # The seeded parcels are all pending until webhooks move some on: a status none
            # has would time an empty page.
            status = "in_transit" if "ingest" in PHASES else "pending"
            paths("status", [f"/api/v1/orders?status={status}&limit=50"])
            paths("carrier", ["/api/v1/orders?carrier=dhl&limit=50"])
            paths("email", (f"/api/v1/orders?email=c{rnd.randrange(ORDERS)}@example.com"
                            for _ in range(10000)))
            paths("number", (f"/api/v1/orders?q=B-{rnd.randrange(ORDERS):06d}" for _ in range(10000)))
            paths("q-name", (f"/api/v1/orders?q=Customer%20{rnd.randrange(ORDERS)}&limit=50"
                             for _ in range(10000)))
            paths("page", ["/api/v1/orders?limit=50"])
            names = {
                "order": "GET /api/v1/orders/{id} (random)",
                "status": f"?status={status}&limit=50",
                "carrier": "?carrier=dhl&limit=50",
                "email": "?email=(random customer)",
                "number": "?q=(an order number)",
                "q-name": "?q=Customer N&limit=50",
                "page": "?limit=50 (first page)",
            }
            for c in READ_CONNECTIONS:
                for name, p in files.items():
                    r = wrk(base + "/", [auth], ["get", p], connections=c)
                    print(f"{label} c{c:<3} {names[name]:34} {fmt(r)}  non-2xx {r['non2xx']}",
                          flush=True)
        if "track" in PHASES:
            # The customers' tracking page by its signed link, against a static file from the
            # same server in the same run.
            ids = list_orders(base, key)
            rnd = random.Random(2)
            sample = rnd.sample(ids, min(len(ids), 2000))
            tokens = [api(base, key, "GET", f"/api/v1/orders/{i}")["tracking_url"].rsplit("/t/", 1)[1]
                      for i in sample]
            p = os.path.join(work, "paths-track.txt")
            write_lines(p, (f"/api/v1/track/{t}" for t in tokens))
            print(f"  {len(tokens)} orders' tracking links", flush=True)
            for c in READ_CONNECTIONS:
                rs = wrk(f"{base}/js/dom.js", connections=c)
                rt = wrk(base + "/", (), ["get", p], connections=c)
                print(f"{label} c{c:<3} GET /js/dom.js (static)           {fmt(rs)}  non-2xx {rs['non2xx']}")
                print(f"{label} c{c:<3} GET /api/v1/track/{{token}} (random) {fmt(rt)}  non-2xx {rt['non2xx']}"
                      f"  ({rt['rps'] / rs['rps']:.2f}x the static file)", flush=True)
        print(f"{label} peak RSS {proc_status(server.pid, 'VmHWM'):.1f} MiB", flush=True)
    finally:
        server.terminate()
        server.wait()
        if os.environ.get("KEEP"):
            print(f"kept {work} (server --db {db})")
        else:
            subprocess.run(["rm", "-rf", work])


if __name__ == "__main__":
    main()
