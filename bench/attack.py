#!/usr/bin/python3
"""attack.py -- hydrant under attacks that need no secret: numbers, never assertions.

Two bounded attacks, each against a fresh hydrant (HYDRANT_BIN, default
build/hydrant, its default limits unless --hydrant-args says otherwise),
while a normal client on 127.0.0.1 sends signed PutRecord requests (keep-
alive, botocore's SigV4Auth, a 5 s timeout, paced at --rate a second):

  slowloris     --conns connections (default 2,000) from 127.0.0.2-9, each
                sending a request line and then one header byte a second;
                a connection the server closes is reopened a second later.
                Printed: the normal client's latency (p50/p99/max) and
                success rate before and during the attack; how many
                attacker connections got in, how many were closed at accept
                (the per-address cap: closed with no answer within
                a second), how many at the header deadline, how many are
                still open at the end.
  memory-hold   --hold-conns connections (default 512) from 127.0.0.2-9
                that know an access key id but not its secret: each
                declares a body at one of the per-API ceilings (Firehose
                8 MiB, IAM 1 MiB, S3 XML 16 MiB) or 64 MiB, and sends it at
                640 KiB/s; refused or finished, it reconnects a second
                later. Printed: hydrant's VmRSS (sampled every 100 ms) and
                VmHWM against --max-inflight-bytes, the answers the
                attackers got, and the normal client's latency and success.

Each attack stops by itself after --duration seconds (default 30).

  /usr/bin/python3 bench/attack.py [--only slowloris,memory-hold]
      [--duration S] [--conns N] [--hold-conns N] [--rate R]
      [--hydrant-args "--header-timeout 10 ..."]
"""
import argparse
import base64
import errno
import http.client
import json
import multiprocessing
import os
import resource
import selectors
import shlex
import shutil
import socket
import statistics
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from run import HYDRANT, hydrant, rss_kb  # noqa: E402 (HYDRANT_BIN, default build/hydrant)

SOURCES = ["127.0.0.%d" % i for i in range(2, 10)]
REGION = "us-east-1"


def log(*a):
    print(*a, file=sys.stderr, flush=True)


def raise_nofile():
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def status_kb(pid, field):
    return rss_kb(pid, field)


# ---- the server: run.py's, in a data directory of its own -------------------------
class Server:
    def __init__(self, extra):
        self.dir = tempfile.mkdtemp(prefix="hydrant-attack.")
        self.srv = hydrant(os.path.join(self.dir, "data"), *extra)
        self.port, self.pid = self.srv.port, self.srv.pid

    def stop(self):
        rc = self.srv.stop(timeout=60)
        if rc != 0:
            with open(os.path.join(self.dir, "data.log"), "rb") as f:
                log("hydrant exited %d; the end of its log:\n%s" % (
                    rc, f.read()[-3000:].decode(errors="replace")))
        shutil.rmtree(self.dir, ignore_errors=True)


def setup(port):
    import boto3
    from botocore.config import Config
    kw = dict(endpoint_url="http://127.0.0.1:%d" % port, region_name=REGION,
              aws_access_key_id="test", aws_secret_access_key="test",
              config=Config(parameter_validation=False, retries={"max_attempts": 3}))
    boto3.client("s3", **kw).create_bucket(Bucket="attack")
    fh = boto3.client("firehose", **kw)
    fh.create_delivery_stream(
        DeliveryStreamName="normal", DeliveryStreamType="DirectPut",
        ExtendedS3DestinationConfiguration={
            "RoleARN": "arn:aws:iam::000000000000:role/x", "BucketARN": "arn:aws:s3:::attack",
            "BufferingHints": {"SizeInMBs": 64, "IntervalInSeconds": 60}})
    for _ in range(100):
        d = fh.describe_delivery_stream(DeliveryStreamName="normal")
        if d["DeliveryStreamDescription"]["DeliveryStreamStatus"] == "ACTIVE":
            return
        time.sleep(0.05)


def signed(port, method, path, body, headers, service, secret="test"):
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials
    req = AWSRequest(method=method, url="http://127.0.0.1:%d%s" % (port, path), data=body,
                     headers=headers)
    SigV4Auth(Credentials("test", secret), service, REGION).add_auth(req)
    return dict(req.headers.items())


# ---- the normal client ----------------------------------------------------------
def normal_client(port, seconds, rate, out):
    """Signed PutRecord at `rate` a second for `seconds`; appends
    (latency_s or None, status) to out."""
    conn = None
    body = json.dumps({"DeliveryStreamName": "normal",
                       "Record": {"Data": base64.b64encode(b"x" * 100 + b"\n").decode()}})
    hdrs = {"Content-Type": "application/x-amz-json-1.1",
            "X-Amz-Target": "Firehose_20150804.PutRecord"}
    t_end = time.monotonic() + seconds
    nxt = time.monotonic()
    while time.monotonic() < t_end:
        nxt += 1.0 / rate
        t0 = time.monotonic()
        try:
            if conn is None:
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            conn.request("POST", "/", body=body, headers=signed(port, "POST", "/", body.encode(),
                                                                  hdrs, "firehose"))
            r = conn.getresponse()
            r.read()
            out.append((time.monotonic() - t0 if r.status == 200 else None, r.status))
            if r.getheader("Connection", "").lower() == "close":
                conn.close()
                conn = None
        except (OSError, http.client.HTTPException) as e:
            out.append((None, type(e).__name__))
            if conn:
                conn.close()
            conn = None
        delay = nxt - time.monotonic()
        if delay > 0:
            time.sleep(delay)
    if conn:
        conn.close()


def summarize(label, res):
    ok = [lat for lat, _ in res if lat is not None]
    n = len(res)
    fails = {}
    for lat, st in res:
        if lat is None:
            fails[st] = fails.get(st, 0) + 1
    if ok:
        ok.sort()
        p = lambda q: ok[min(len(ok) - 1, int(q * len(ok)))] * 1000
        lat = "p50 %.2f ms, p99 %.2f ms, max %.2f ms" % (p(0.50), p(0.99), ok[-1] * 1000)
    else:
        lat = "no successful request"
    print("  %-26s %5d requests, %5.1f%% succeeded; %s%s" % (
        label, n, 100.0 * len(ok) / max(1, n), lat,
        "; failures " + ", ".join("%s x%d" % kv for kv in sorted(fails.items(), key=str))
        if fails else ""))


# ---- slowloris ------------------------------------------------------------------
def slowloris(port, conns, seconds, q):
    raise_nofile()
    sel = selectors.DefaultSelector()
    st = dict(opened=0, connect_failed=0, closed_at_accept=0, closed_later=0,
              answered=0, open_at_end=0, max_open=0)
    closed_after = []
    slots = [None] * conns          # [sock, t_connected, bytes_sent] or None
    reopen_at = [0.0] * conns
    line = b"X-Slow: " + b"a" * 4000 + b"\r\n"
    t_end = time.monotonic() + seconds
    next_tick = time.monotonic()

    def close(i, now, answered=False):
        s, t0, _ = slots[i]
        try:
            sel.unregister(s)
        except (KeyError, ValueError):
            pass
        s.close()
        slots[i] = None
        reopen_at[i] = now + 1.0
        life = now - t0
        if answered:
            st["answered"] += 1
        elif life < 1.0:
            st["closed_at_accept"] += 1
        else:
            st["closed_later"] += 1
            closed_after.append(life)

    while time.monotonic() < t_end:
        now = time.monotonic()
        # (re)open, a few hundred at a time so the accept queue keeps up
        opened_now = 0
        for i in range(conns):
            if slots[i] is None and reopen_at[i] <= now and opened_now < 200:
                s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                s.bind((SOURCES[i % len(SOURCES)], 0))
                s.setblocking(False)
                err = s.connect_ex(("127.0.0.1", port))
                if err not in (0, errno.EINPROGRESS):
                    s.close()
                    st["connect_failed"] += 1
                    reopen_at[i] = now + 1.0
                    continue
                slots[i] = [s, now, 0]
                sel.register(s, selectors.EVENT_READ, i)
                st["opened"] += 1
                opened_now += 1
        if now >= next_tick:
            # one byte a second on every open connection
            next_tick += 1.0
            for i in range(conns):
                if slots[i] is None:
                    continue
                s, t0, sent = slots[i]
                chunk = b"POST / HTTP/1.1\r\nHost: x\r\n" if sent == 0 else \
                    line[(sent - 1) % len(line):(sent - 1) % len(line) + 1]
                try:
                    s.send(chunk)
                    slots[i][2] += 1
                except BlockingIOError:
                    pass
                except OSError:
                    close(i, now)
        open_now = sum(1 for x in slots if x is not None)
        st["max_open"] = max(st["max_open"], open_now)
        for key, _ in sel.select(timeout=0.05):
            i = key.data
            if slots[i] is None:
                continue
            try:
                data = slots[i][0].recv(4096)
            except BlockingIOError:
                continue
            except OSError:
                data = b""
            close(i, time.monotonic(), answered=bool(data))
    st["open_at_end"] = sum(1 for x in slots if x is not None)
    for i in range(conns):
        if slots[i] is not None:
            slots[i][0].close()
    closed_after.sort()
    st["closed_later_median_s"] = round(statistics.median(closed_after), 1) if closed_after \
        else None
    q.put(st)


def run_slowloris(args):
    print("slowloris: %d connections from %s..%s, one header byte a second, %d s" % (
        args.conns, SOURCES[0], SOURCES[-1], args.duration))
    srv = Server(shlex.split(args.hydrant_args))
    try:
        setup(srv.port)
        base = []
        normal_client(srv.port, 5, args.rate, base)
        q = multiprocessing.Queue()
        atk = multiprocessing.Process(target=slowloris,
                                      args=(srv.port, args.conns, args.duration, q))
        atk.start()
        time.sleep(2)  # the attack ramps up
        during = []
        normal_client(srv.port, args.duration - 4, args.rate, during)
        st = q.get(timeout=args.duration + 60)
        atk.join()
        summarize("normal client, before", base)
        summarize("normal client, during", during)
        print("  attacker: %(opened)d connections opened (%(connect_failed)d connects failed), "
              "at most %(max_open)d open at once" % st)
        print("  attacker: %(closed_at_accept)d closed at accept (per-address cap), "
              "%(closed_later)d closed later (header deadline; median life "
              "%(closed_later_median_s)s s), %(answered)d answered, %(open_at_end)d open at the "
              "end" % st)
        print("  hydrant VmHWM %.1f MiB" % (status_kb(srv.pid, "VmHWM") / 1024))
    finally:
        srv.stop()


# ---- memory-hold ----------------------------------------------------------------
def hold_request(port, kind):
    """Headers that pass admission for everything but S3 (whose signature
    is checked from the headers): a known key id, the right scope, a
    signed target -- and a signature made with a guessed secret."""
    if kind == "firehose-8MiB" or kind == "declared-64MiB":
        n = 8 << 20 if kind == "firehose-8MiB" else 64 << 20
        h = signed(port, "POST", "/", b"", {
            "Content-Type": "application/x-amz-json-1.1",
            "X-Amz-Target": "Firehose_20150804.PutRecordBatch"}, "firehose", "guessed")
        path = "/"
    elif kind == "iam-1MiB":
        n = 1 << 20
        h = signed(port, "POST", "/", b"", {
            "Content-Type": "application/x-www-form-urlencoded; charset=utf-8"}, "iam",
            "guessed")
        path = "/"
    else:  # s3-xml-16MiB
        n = 16 << 20
        h = signed(port, "POST", "/attack?delete", b"", {
            "Content-Type": "application/xml",
            "x-amz-content-sha256": "UNSIGNED-PAYLOAD"}, "s3", "guessed")
        path = "/attack?delete"
    h["Content-Length"] = str(n)
    raw = "POST %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n" % (path, port)
    raw += "".join("%s: %s\r\n" % kv for kv in h.items()) + "\r\n"
    return raw.encode(), n


def memory_hold(port, conns, seconds, q):
    raise_nofile()
    kinds = ["firehose-8MiB", "iam-1MiB", "s3-xml-16MiB", "declared-64MiB"]
    reqs = {k: hold_request(port, k) for k in kinds}
    sel = selectors.DefaultSelector()
    answers = {}
    st = dict(opened=0, bytes_sent=0, max_receiving=0)
    slots = [None] * conns   # [sock, kind, body_sent, answered]
    reopen_at = [0.0] * conns
    chunk = b"a" * (64 << 10)
    t_end = time.monotonic() + seconds
    while time.monotonic() < t_end:
        now = time.monotonic()
        for i in range(conns):
            if slots[i] is None and reopen_at[i] <= now:
                kind = kinds[i % len(kinds)]
                s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                s.bind((SOURCES[i % len(SOURCES)], 0))
                try:
                    s.settimeout(1)
                    s.connect(("127.0.0.1", port))
                    s.sendall(reqs[kind][0])
                    s.setblocking(False)
                except OSError:
                    s.close()
                    reopen_at[i] = now + 1
                    answers["connect-failed"] = answers.get("connect-failed", 0) + 1
                    continue
                slots[i] = [s, kind, 0]
                sel.register(s, selectors.EVENT_READ, i)
                st["opened"] += 1
        # 64 KiB a tick (10 a second) on every connection still sending
        receiving = 0
        for i in range(conns):
            if slots[i] is None:
                continue
            s, kind, sent = slots[i]
            if sent >= reqs[kind][1]:
                continue
            try:
                n = s.send(chunk[:min(len(chunk), reqs[kind][1] - sent)])
                slots[i][2] += n
                st["bytes_sent"] += n
                receiving += 1
            except BlockingIOError:
                receiving += 1
            except OSError:
                pass
        st["max_receiving"] = max(st["max_receiving"], receiving)
        t_tick = time.monotonic() + 0.1
        while time.monotonic() < t_tick:
            for key, _ in sel.select(timeout=max(0, t_tick - time.monotonic())):
                i = key.data
                if slots[i] is None:
                    continue
                s, kind, _ = slots[i]
                try:
                    data = s.recv(4096)
                except BlockingIOError:
                    continue
                except OSError:
                    data = b""
                code = data.split(b" ", 2)[1].decode() if data.startswith(b"HTTP/") else "closed"
                key2 = "%s -> %s" % (kind, code)
                answers[key2] = answers.get(key2, 0) + 1
                sel.unregister(s)
                s.close()
                slots[i] = None
                reopen_at[i] = time.monotonic() + 1
    for x in slots:
        if x:
            x[0].close()
    st["answers"] = answers
    q.put(st)


def run_memory_hold(args):
    extra = shlex.split(args.hydrant_args)
    budget = 256 << 20
    if "--max-inflight-bytes" in extra:
        budget = int(extra[extra.index("--max-inflight-bytes") + 1])
    print("memory-hold: %d connections from %s..%s, bodies declared at 1/8/16/64 MiB, "
          "sent at 640 KiB/s each, %d s" % (args.hold_conns, SOURCES[0], SOURCES[-1],
                                             args.duration))
    srv = Server(extra)
    try:
        setup(srv.port)
        base = []
        normal_client(srv.port, 5, args.rate, base)
        rss0 = status_kb(srv.pid, "VmRSS")
        samples = []
        stop = threading.Event()

        def sample():
            while not stop.is_set():
                samples.append(status_kb(srv.pid, "VmRSS"))
                time.sleep(0.1)
        th = threading.Thread(target=sample, daemon=True)
        th.start()
        q = multiprocessing.Queue()
        atk = multiprocessing.Process(target=memory_hold,
                                      args=(srv.port, args.hold_conns, args.duration, q))
        atk.start()
        time.sleep(2)
        during = []
        normal_client(srv.port, args.duration - 4, args.rate, during)
        st = q.get(timeout=args.duration + 60)
        atk.join()
        stop.set()
        th.join()
        summarize("normal client, before", base)
        summarize("normal client, during", during)
        print("  hydrant VmRSS before %.1f MiB; during: median %.1f MiB, peak %.1f MiB; "
              "VmHWM %.1f MiB; --max-inflight-bytes %.0f MiB" % (
                  rss0 / 1024, statistics.median(samples) / 1024 if samples else -1,
                  max(samples) / 1024 if samples else -1, status_kb(srv.pid, "VmHWM") / 1024,
                  budget / 1048576))
        print("  attacker: %d requests opened, %.1f MiB of body sent, at most %d sending at "
              "once" % (st["opened"], st["bytes_sent"] / 1048576, st["max_receiving"]))
        print("  attacker answers: " + ", ".join(
            "%s x%d" % kv for kv in sorted(st["answers"].items())))
    finally:
        srv.stop()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--only", default="slowloris,memory-hold")
    ap.add_argument("--duration", type=int, default=30)
    ap.add_argument("--conns", type=int, default=2000)
    ap.add_argument("--hold-conns", type=int, default=512)
    ap.add_argument("--rate", type=int, default=100, help="normal PutRecords a second")
    ap.add_argument("--hydrant-args", default="")
    args = ap.parse_args()
    args.duration = max(10, min(args.duration, 60))
    nofile = raise_nofile()
    if nofile < args.conns + 64:
        sys.exit("open-files limit %d is too low for --conns %d" % (nofile, args.conns))
    print("hydrant attack bench (%s; load average %s)" % (
        HYDRANT, " ".join(open("/proc/loadavg").read().split()[:3])))
    for name in args.only.split(","):
        {"slowloris": run_slowloris, "memory-hold": run_memory_hold}[name](args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
