"""Load one shop server with wrk and print its figures (see scripts/bench-server)."""

import json
import os
import re
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

DURATION = int(os.environ.get("DURATION", "10"))
CONNECTIONS = int(os.environ.get("CONNECTIONS", "32"))


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def unit(value, suffix):
    value = float(value)
    return {"us": value / 1000, "ms": value, "s": value * 1000}[suffix]


def wrk(url, headers):
    args = ["wrk", "-t1", f"-c{CONNECTIONS}", f"-d{DURATION}s", "--latency", url]
    for h in headers:
        args += ["-H", h]
    out = subprocess.run(args, capture_output=True, text=True, check=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    lat = {m.group(1): unit(m.group(2), m.group(3))
           for m in re.finditer(r"^\s+(50|99)%\s+([\d.]+)(us|ms|s)\s*$", out, re.M)}
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return rps, lat.get("50"), lat.get("99"), int(errors.group(1)) if errors else 0


def peak_rss_mib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def main():
    binary, backend = sys.argv[1], sys.argv[2]
    work = tempfile.mkdtemp(prefix="bench-server-")
    env = dict(os.environ, PARCELTRAIL_HOME=work)
    if backend == "sqlite":
        db = f"sqlite:{work}/server.db"
    else:
        base = os.environ["PARCELTRAIL_TEST_POSTGRES"]
        name = f"bench_{os.getpid()}"
        subprocess.run(["psql", f"{base}/postgres", "-qc", f"CREATE DATABASE {name}"], check=True)
        db = f"{base}/{name}"
    created = json.loads(subprocess.run(
        [binary, "server", "--db", db, "shop", "create", "Bench", "--admin-email",
         "bench@example.com", "--json"], env=env, capture_output=True, text=True, check=True).stdout)
    port = free_port()
    server = subprocess.Popen(
        [binary, "server", "--db", db, "--listen", f"127.0.0.1:{port}",
         "--key-requests-per-second", "1000000", "--log-format", "json"],
        env=dict(env, RUST_LOG="warn"), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(100):
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1)
                break
            except OSError:
                time.sleep(0.1)
        auth = f"Authorization: Bearer {created['api_key']}"
        base_rps, base_p50, base_p99, base_err = wrk(f"http://127.0.0.1:{port}/healthz", [])
        rps, p50, p99, err = wrk(f"http://127.0.0.1:{port}/api/v1/shop", [auth])
        rss = peak_rss_mib(server.pid)
        print(f"{backend}: GET /healthz      {base_rps:9.0f} req/s  p50 {base_p50:.2f} ms  p99 {base_p99:.2f} ms  non-2xx {base_err}")
        print(f"{backend}: GET /api/v1/shop  {rps:9.0f} req/s  p50 {p50:.2f} ms  p99 {p99:.2f} ms  non-2xx {err}"
              f"  ({rps / base_rps:.2f}x the baseline)")
        print(f"{backend}: peak RSS {rss:.1f} MiB ({CONNECTIONS} connections, {DURATION} s each, wrk -t1)")
    finally:
        server.terminate()
        server.wait()
        subprocess.run(["rm", "-rf", work])


if __name__ == "__main__":
    main()
