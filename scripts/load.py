#!/usr/bin/env python3
"""Poller load test driver (called by scripts/load; standard library only).

Starts `parceltrail sim` on a loopback port chosen by the kernel, imports its parcels into a
fresh data directory, runs `parceltrail watch` against it as a child, samples the simulator's
answer counters and the watcher's CPU and RSS once a second, and prints the figures.
"""

import csv
import ctypes
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

CLK_TCK = os.sysconf("SC_CLK_TCK")
PAGE_KB = os.sysconf("SC_PAGE_SIZE") // 1024


class RunFailed(Exception):
    """The run itself failed (not a missed goal)."""


def env_num(name, default, kind=float):
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = kind(raw)
    except ValueError:
        raise RunFailed(f"{name}={raw!r} is not a number")
    if value <= 0:
        raise RunFailed(f"{name} must be positive, not {raw}")
    return value


def die_with_parent():
    """Runs in the child before exec: get SIGTERM should this script die without cleaning up."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except Exception:
        pass


class Children:
    """The processes this script started; all stopped on exit."""

    def __init__(self):
        self.procs = []

    def start(self, args, **kw):
        # A session of its own: Ctrl-C reaches only this script, which stops the children itself.
        p = subprocess.Popen(args, start_new_session=True, preexec_fn=die_with_parent, **kw)
        self.procs.append(p)
        return p

    def stop_all(self):
        for p in self.procs:
            if p.returncode is None and p.poll() is None:
                try:
                    p.send_signal(signal.SIGTERM)
                except ProcessLookupError:
                    pass
        deadline = time.monotonic() + 5
        for p in self.procs:
            if p.returncode is not None:
                continue
            try:
                p.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()


def http_json(url, timeout=10):
    with urllib.request.urlopen(url, timeout=timeout) as r:
        return json.load(r)


def proc_cpu_ticks(pid):
    """utime + stime of a process, in clock ticks; None once it is gone."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            data = f.read()
    except OSError:
        return None
    # Fields after the command name (which may hold spaces), from field 3 on.
    rest = data[data.rindex(")") + 2 :].split()
    return int(rest[11]) + int(rest[12])


def proc_status(pid):
    """(VmRSS KiB, threads) of a process; None once it is gone."""
    try:
        with open(f"/proc/{pid}/status") as f:
            text = f.read()
    except OSError:
        return None
    rss = re.search(r"^VmRSS:\s+(\d+) kB", text, re.M)
    threads = re.search(r"^Threads:\s+(\d+)", text, re.M)
    if not rss:  # a zombie has no VmRSS
        return None
    return int(rss.group(1)), int(threads.group(1)) if threads else 0


def loadavg():
    with open("/proc/loadavg") as f:
        return " ".join(f.read().split()[:3])


def wait_for_sim_url(sim, log_path, timeout=60):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if sim.poll() is not None:
            raise RunFailed(f"the simulator exited with {sim.returncode}: {tail(log_path)}")
        with open(log_path, errors="replace") as f:
            m = re.search(r"http://(127\.0\.0\.1:\d+)/track/shipments", f.read())
        if m:
            return f"http://{m.group(1)}"
        time.sleep(0.05)
    raise RunFailed("the simulator did not report its address within a minute")


def tail(path, n=15):
    try:
        with open(path, errors="replace") as f:
            return "".join(f.readlines()[-n:]).strip()
    except OSError:
        return ""


def rate_between(samples, i, j):
    dt = samples[j]["t"] - samples[i]["t"]
    return (samples[j]["answered"] - samples[i]["answered"]) / dt if dt > 0 else float("nan")


def cpu_pct(samples, i, j, key):
    dt = samples[j]["t"] - samples[i]["t"]
    a, b = samples[i][key], samples[j][key]
    if dt <= 0 or a is None or b is None:
        return float("nan")
    return (b - a) / CLK_TCK / dt * 100


def main():
    try:
        binary = os.path.abspath(sys.argv[1])
        if not os.access(binary, os.X_OK):
            raise RunFailed(f"no parceltrail binary at {binary}")
        rate = env_num("RATE", 100, int)
        parcels = env_num("PARCELS", 10000, int)
        latency_ms = env_num("LATENCY_MS", 50, int)
        duration = env_num("DURATION", parcels / rate + 40)
    except RunFailed as e:
        print(f"load test failed: {e}", file=sys.stderr)
        return 2
    keep = os.environ.get("KEEP") == "1"

    children = Children()
    tmp = tempfile.mkdtemp(prefix="parceltrail-load.")

    def on_signal(signum, _frame):
        raise KeyboardInterrupt(f"signal {signum}")

    # Also SIGINT: a shell starting this in the background would leave it ignored.
    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGHUP, on_signal)
    try:
        return run(binary, rate, parcels, latency_ms, duration, children, tmp)
    except KeyboardInterrupt:
        print("\ninterrupted; stopping", file=sys.stderr)
        return 130
    except RunFailed as e:
        print(f"load test failed: {e}", file=sys.stderr)
        return 2
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # no second Ctrl-C halfway through cleanup
        children.stop_all()
        if keep:
            print(f"(kept {tmp})", file=sys.stderr)
        else:
            shutil.rmtree(tmp, ignore_errors=True)


def run(binary, rate, parcels, latency_ms, duration, children, tmp):
    home = os.path.join(tmp, "home")
    sim_log = os.path.join(tmp, "sim.log")
    watch_log = os.path.join(tmp, "watch.log")
    print(f"== poller load test: {parcels} shipments, --sim-rate {rate}/s, "
          f"{latency_ms} ms latency, watch --duration {duration:g} s")
    print(f"load average before: {loadavg()} ({os.cpu_count()} CPUs)")

    # 1. The simulator, on a port the kernel picks (it prints the bound address).
    with open(sim_log, "w") as log:
        sim = children.start(
            [binary, "sim", "--listen", "127.0.0.1:0", "--seed", "5", "--parcels", str(parcels),
             "--speed", "1", "--latency-ms", str(latency_ms)],
            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    url = wait_for_sim_url(sim, sim_log)
    print(f"simulator at {url} (pid {sim.pid})")

    # 2. Its parcels, imported into a fresh data directory.
    listed = http_json(f"{url}/sim/parcels", timeout=60)
    if len(listed) != parcels:
        raise RunFailed(f"/sim/parcels listed {len(listed)} parcels, expected {parcels}")
    csv_path = os.path.join(tmp, "parcels.csv")
    with open(csv_path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["tracking_number", "carrier", "store"])
        for p in listed:
            w.writerow([p["number"], "dhl", p.get("store", "")])
    t0 = time.monotonic()
    imp = subprocess.run([binary, "--home", home, "import", "--json", csv_path],
                         capture_output=True, text=True, stdin=subprocess.DEVNULL)
    if imp.returncode != 0:
        raise RunFailed(f"import exited with {imp.returncode}: {imp.stderr.strip() or imp.stdout[-2000:]}")
    report = json.loads(imp.stdout)
    if report.get("added") != parcels:
        raise RunFailed(f"import added {report.get('added')} parcels, expected {parcels}")
    print(f"imported {report['added']} parcels in {time.monotonic() - t0:.1f} s")
    before = http_json(f"{url}/sim/stats")
    if before["answered"] or before["rate_limited"] or before["faults"]:
        raise RunFailed(f"the simulator has answered requests before the run: {before}")

    # 3. The poller, sampled once a second.
    with open(watch_log, "w") as log:
        t_start = time.monotonic()
        watch = children.start(
            [binary, "--home", home, "watch", "--sim", url, "--sim-rate", str(rate),
             "--speed", "1", "--duration", f"{duration:g}"],
            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    samples = []
    k = 0
    exited = None
    while True:
        pid, status, usage = os.wait4(watch.pid, os.WNOHANG)
        if pid:
            exited = (status, usage, time.monotonic())
            watch.returncode = os.waitstatus_to_exitcode(status)
            break
        if sim.poll() is not None:
            raise RunFailed(f"the simulator died during the run ({sim.returncode}): {tail(sim_log)}")
        t = time.monotonic()
        cpu = proc_cpu_ticks(watch.pid)
        st = proc_status(watch.pid)
        sim_cpu = proc_cpu_ticks(sim.pid)
        try:
            stats = http_json(f"{url}/sim/stats", timeout=5)
        except OSError as e:
            raise RunFailed(f"cannot read {url}/sim/stats: {e}")
        if st is not None:
            samples.append({"t": t - t_start, "answered": stats["answered"],
                            "rate_limited": stats["rate_limited"], "faults": stats["faults"],
                            "cpu": cpu, "sim_cpu": sim_cpu, "rss_kb": st[0], "threads": st[1]})
        k += 1
        # Sample on a fixed one-second grid; the child's exit is noticed within 50 ms.
        while time.monotonic() < t_start + k:
            pid, status, usage = os.wait4(watch.pid, os.WNOHANG)
            if pid:
                exited = (status, usage, time.monotonic())
                watch.returncode = os.waitstatus_to_exitcode(status)
                break
            time.sleep(0.05)
        if exited:
            break
    status, usage, t_exit = exited
    final = http_json(f"{url}/sim/stats")
    load_after = loadavg()
    code = os.waitstatus_to_exitcode(status)
    if code != 0:
        raise RunFailed(f"watch exited with {code} after {t_exit - t_start:.1f} s: {tail(watch_log)}")
    if final["answered"] + final["rate_limited"] + final["faults"] == 0 or len(samples) < 3:
        raise RunFailed(f"no requests reached the simulator: {tail(watch_log)}")

    samples_path = os.path.join(tmp, "samples.csv")
    with open(samples_path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(samples[0]))
        w.writeheader()
        w.writerows(samples)

    return report_figures(samples, final, usage, rate, parcels, t_exit - t_start, load_after)


def report_figures(samples, final, usage, rate, parcels, wall, load_after):
    total = final["answered"]
    n = len(samples)
    requests = total + final["rate_limited"] + final["faults"]
    # Busy phase: from the last sample before any answer to the first one showing them all.
    first = next(i for i, s in enumerate(samples) if s["answered"] > 0) if samples[-1]["answered"] else None
    if first is None:
        raise RunFailed("the simulator counted no answers during the sampling")
    complete = next((i for i, s in enumerate(samples) if s["answered"] >= total), n - 1)
    finished = total >= parcels and complete < n - 1
    last_partial = max(first, complete - 1)
    busy_from = samples[max(0, first - 1)]["t"]
    busy_to = samples[complete]["t"]
    steady = rate_between(samples, first, last_partial) if last_partial > first else float("nan")
    deviation = (steady - rate) / rate * 100

    print()
    print(f"requests answered:      {total} (of {parcels} shipments; {final['faults']} faults, "
          f"{final['rate_limited']} rate-limited, {requests} requests in all)")
    print(f"watch ran:              {wall:.1f} s")
    print(f"busy phase:             {busy_to - busy_from:.1f} s "
          f"(t = {busy_from:.0f} s … {busy_to:.0f} s after watch started; ±1 s sampling)"
          + ("" if finished else "  — NOT FINISHED: watch exited while shipments were still due"))
    print(f"achieved rate:          {steady:.1f} req/s over the busy phase without its first and last second "
          f"(t = {samples[first]['t']:.0f} … {samples[last_partial]['t']:.0f} s)")
    print(f"configured rate:        {rate} req/s → deviation {deviation:+.1f} % (goal within ±5 %)")
    secs = [samples[i + 1]["answered"] - samples[i]["answered"] for i in range(first, last_partial)]
    if secs:
        print(f"per-second answers:     min {min(secs)}, median {statistics.median(secs):g}, max {max(secs)}")
    windows = []
    i = first
    while i < last_partial:
        j = min(i + 10, last_partial)
        windows.append(f"{samples[i]['t']:.0f}–{samples[j]['t']:.0f} s: {rate_between(samples, i, j):.1f}")
        i = j
    print("per-10-s windows (req/s):")
    for w in windows:
        print(f"    {w}")
    print(f"429s received:          {final['rate_limited']} (must be 0)")

    peak_rss = usage.ru_maxrss / 1024
    sampled = max(s["rss_kb"] for s in samples) / 1024
    print(f"peak RSS (wait4):       {peak_rss:.1f} MB (sampled VmRSS max {sampled:.1f} MB, "
          f"at the end {samples[-1]['rss_kb'] / 1024:.1f} MB; goal < 100 MB)")
    print(f"threads (max sampled):  {max(s['threads'] for s in samples)}")

    busy_i = max(0, first - 1)
    busy_cpu = cpu_pct(samples, busy_i, complete, "cpu")
    sim_busy = cpu_pct(samples, busy_i, complete, "sim_cpu")
    print(f"busy CPU:               {busy_cpu:.1f} % of one core "
          f"(simulator: {sim_busy:.1f} %; total watch CPU {(usage.ru_utime + usage.ru_stime):.2f} s)")
    idle_from = next((i for i, s in enumerate(samples) if s["t"] >= busy_to + 5), None)
    if finished and idle_from is not None and n - 1 - idle_from >= 5:
        idle = cpu_pct(samples, idle_from, n - 1, "cpu")
        ticks = samples[-1]["cpu"] - samples[idle_from]["cpu"]
        span = samples[-1]["t"] - samples[idle_from]["t"]
        idle_answers = samples[-1]["answered"] - samples[idle_from]["answered"]
        print(f"idle CPU:               {idle:.2f} % of one core ({ticks} ticks of 1/{CLK_TCK} s over "
              f"{span:.0f} s, t = {samples[idle_from]['t']:.0f} … {samples[-1]['t']:.0f} s; "
              f"{idle_answers} requests meanwhile; goal < 1 %)")
    else:
        why = "the poller never finished" if not finished else "the run ended too soon after the last request"
        print(f"idle CPU:               not measured: no idle window of 5 s or more from 5 s after "
              f"the last request ({why}; give a longer DURATION)")
    print(f"load average after:     {load_after}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
