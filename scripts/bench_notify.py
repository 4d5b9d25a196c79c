"""The shop's "time to deliver a status update": from a carrier event's arrival (a signed
Standard Webhooks push, acknowledged) to its email reaching a real SMTP server (aiosmtpd, on
loopback) and its SMS reaching a local server speaking Twilio's Messages API.

usage: bench_notify.py BINARY [N]   (N parcels, one "delivered" push each, one at a time)

Prints each channel's p50, p90 and max over the N pushes, and as a baseline the time the push
itself took to be acknowledged (verify, ingest, commit).
"""

import base64
import hashlib
import hmac
import http.server
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import urllib.request

from bench_server import ups_number

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
SID, TOKEN = "AC0123456789abcdef0123456789abcdef", "bench-token"


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


texted = {}


class Twilio(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        form = urllib.parse.parse_qs(self.rfile.read(int(self.headers["Content-Length"])).decode())
        body = form["Body"][0]
        texted.setdefault(body.split("order ", 1)[1].split(" ", 1)[0], time.monotonic())
        out = json.dumps({"sid": "SM" + "0" * 32, "status": "queued"}).encode()
        self.send_response(201)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(out)))
        self.end_headers()
        self.wfile.write(out)

    def log_message(self, *args):
        pass


def api(base, key, method, path, body=None):
    req = urllib.request.Request(
        base + path, method=method, data=None if body is None else json.dumps(body).encode(),
        headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=30) as r:
        return json.loads(r.read() or b"null")


def push(base, shop, number, n):
    body = json.dumps({"tracking_number": number, "carrier": "ups", "events": [{
        "occurred_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "status": "delivered",
        "description": "Delivered", "location": {"city": "London", "country": "GB"}}]})
    ts = str(int(time.time()))
    key = base64.b64decode(SECRET.removeprefix("whsec_"))
    sig = base64.b64encode(hmac.new(key, f"msg_{n}.{ts}.{body}".encode(), hashlib.sha256).digest()).decode()
    req = urllib.request.Request(f"{base}/hooks/{shop}/standard", data=body.encode(), method="POST", headers={
        "Content-Type": "application/json", "webhook-id": f"msg_{n}", "webhook-timestamp": ts,
        "webhook-signature": f"v1,{sig}"})
    with urllib.request.urlopen(req, timeout=30) as r:
        assert json.loads(r.read())["stored"] == 1


def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p / 100 * (len(xs) - 1))))]


def main():
    binary = sys.argv[1]
    n = int(sys.argv[2]) if len(sys.argv) > 2 else 20
    work = tempfile.mkdtemp(prefix="bench-notify-")
    py = os.path.expanduser("~/.cache/parceltrail/smtp/bin/python")
    smtp_port = free_port()
    smtp = subprocess.Popen([py, "-m", "aiosmtpd", "-n", "-l", f"127.0.0.1:{smtp_port}", "-c",
                             "aiosmtpd.handlers.Mailbox", f"{work}/mail"])
    twilio = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Twilio)
    threading.Thread(target=twilio.serve_forever, daemon=True).start()
    env = dict(os.environ, PARCELTRAIL_HOME=work, RUST_LOG="warn",
               PARCELTRAIL_SERVER_SMTP_URL=f"smtp://127.0.0.1:{smtp_port}",
               PARCELTRAIL_SERVER_MAIL_FROM="track@bench.example",
               PARCELTRAIL_SERVER_TWILIO_URL=f"http://127.0.0.1:{twilio.server_port}",
               PARCELTRAIL_SERVER_TWILIO_SID=SID, PARCELTRAIL_SERVER_TWILIO_TOKEN=TOKEN,
               PARCELTRAIL_SERVER_TWILIO_FROM="+15005550006")
    db = f"sqlite:{work}/server.db"
    made = json.loads(subprocess.run([binary, "server", "--db", db, "shop", "create", "Bench",
                                      "--admin-email", "b@bench.example", "--json"], env=env,
                                     capture_output=True, text=True, check=True).stdout)
    key, shop = made["api_key"], made["shop_id"]
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    server = subprocess.Popen([binary, "server", "--db", db, "--listen", f"127.0.0.1:{port}"],
                              env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(100):
            try:
                urllib.request.urlopen(f"{base}/healthz", timeout=1)
                break
            except OSError:
                time.sleep(0.1)
        api(base, key, "PUT", "/api/v1/hooks/standard", {"secret": SECRET})
        for i in range(n):
            api(base, key, "POST", "/api/v1/orders", {
                "order_number": f"N-{i}", "customer": {"email": f"c{i}@example.com", "phone": "+447700900123"},
                "shipments": [{"tracking_number": ups_number(i)}]})
        time.sleep(2)
        acked, mail, sms = [], [], []
        seen = set()
        for i in range(n):
            t0 = time.monotonic()
            push(base, shop, ups_number(i), i)
            acked.append(time.monotonic() - t0)
            got_mail = got_sms = None
            while (got_mail is None or got_sms is None) and time.monotonic() - t0 < 30:
                if got_mail is None:
                    for f in os.listdir(f"{work}/mail/new") if os.path.isdir(f"{work}/mail/new") else []:
                        if f not in seen and f"N-{i} " in open(f"{work}/mail/new/{f}").read():
                            seen.add(f)
                            got_mail = time.monotonic()
                if got_sms is None and f"N-{i}" in texted:
                    got_sms = texted[f"N-{i}"]
                time.sleep(0.005)
            mail.append((got_mail or float("inf")) - t0)
            sms.append((got_sms or float("inf")) - t0)
        print(f"{n} delivered pushes, one at a time (seconds from the push to its arrival):")
        for name, xs in [("push acknowledged", acked), ("email at the SMTP server", mail),
                         ("SMS at the Twilio API", sms)]:
            print(f"  {name:26} p50 {pct(xs, 50):.3f}  p90 {pct(xs, 90):.3f}  max {max(xs):.3f}")
    finally:
        server.terminate()
        server.wait()
        smtp.terminate()
        twilio.shutdown()
        subprocess.run(["rm", "-rf", work])


if __name__ == "__main__":
    main()
