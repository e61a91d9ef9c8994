"""libhydrant and hydrant-fleet against the real server (and, for fault
injection only, a fake of AWS's error answers).

The C programs are built by `make` (client/client.mk); this file builds
nothing. The library is driven through `test_libhydrant drive`, which reads
commands on stdin and answers one line each (see client/test_libhydrant.c).
Delivery is checked the way a user would: S3 list_objects_v2 + get_object.
"""
import base64
import hashlib
import io
import json
import os
import re
import socket
import subprocess
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pandas as pd
import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from conftest import BIN, Hydrant, wait_active, wait_for

# the C programs live next to the server binary (build/ or build-san/)
BUILD = os.environ.get("HYDRANT_CLIENT_BUILD") or os.path.dirname(os.path.abspath(BIN))
DRIVER = os.path.join(BUILD, "client", "test_libhydrant")
FLEET = os.path.join(BUILD, "hydrant-fleet")
BUCKET = "client-test-bucket"
COLUMNS = ["record_id", "timestamp", "vin", "lon", "lat", "speed"]


@pytest.fixture(autouse=True)
def _built():
    for path in (DRIVER, FLEET):
        if not os.access(path, os.X_OK):
            pytest.fail("%s is missing: `make` builds it (client/client.mk)" % path)


class Driver:
    """One test_libhydrant drive process: a producer behind a pipe."""

    def __init__(self, endpoint, *args):
        self.proc = subprocess.Popen([DRIVER, "drive", "--endpoint", endpoint, *args],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        assert self.proc.stdout.readline().strip() == "ready"

    def cmd(self, line):
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()
        out = self.proc.stdout.readline().strip()
        assert out, "driver died on %r" % line
        return out

    def put(self, stream, count, size=0):
        assert self.cmd("put %s %d %d" % (stream, count, size)) == "put OK %d" % count

    def stats(self):
        out = self.cmd("stats")
        head, _, err = out.partition(" last_error=")
        st = {k: int(v) for k, v in (kv.split("=") for kv in head.split()[1:])}
        st["last_error"] = err
        return st

    def close(self, ms):
        out = self.cmd("close %d" % ms)
        assert self.proc.wait(30) == 0
        return out

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


@pytest.fixture
def drivers():
    started = []

    def make(endpoint, *args):
        d = Driver(endpoint, *args)
        started.append(d)
        return d
    yield make
    for d in started:
        d.kill()


def create_streams(h, *names, interval=1):
    s3, fh = h.client("s3"), h.client("firehose")
    s3.create_bucket(Bucket=BUCKET)
    for name in names:
        fh.create_delivery_stream(
            DeliveryStreamName=name, DeliveryStreamType="DirectPut",
            S3DestinationConfiguration={
                "RoleARN": "arn:aws:iam::000000000000:role/FirehoseDeliveryRole",
                "BucketARN": "arn:aws:s3:::" + BUCKET,
                "BufferingHints": {"SizeInMBs": 1, "IntervalInSeconds": interval}})
    for name in names:
        wait_active(fh, name)


def delivered_objects(h, stream):
    """[(key, body)] of the stream's objects."""
    s3 = h.client("s3")
    out, token = [], None
    while True:
        kw = {"Bucket": BUCKET}
        if token:
            kw["ContinuationToken"] = token
        page = s3.list_objects_v2(**kw)
        for o in page.get("Contents", []):
            if o["Key"].split("/")[-1].startswith(stream + "-1-"):
                out.append((o["Key"], s3.get_object(Bucket=BUCKET, Key=o["Key"])["Body"].read()))
        if not page.get("IsTruncated"):
            return out
        token = page["NextContinuationToken"]


def check_exactly_once_in_order(objects, stream, n):
    """Every record STREAM 1..n arrived once, and no object reorders them.

    Within an object the lines are in arrival order; objects of the same
    second have random names, so objects are ordered by their first record
    and the concatenation must then be exactly 1..n."""
    runs = []
    for key, body in objects:
        seqs = []
        for line in body.decode().splitlines():
            name, seq, *_ = line.split(" ")
            assert name == stream, (key, line[:80])
            seqs.append(int(seq))
        assert seqs == sorted(seqs), "reordered inside %s" % key
        runs.append(seqs)
    runs.sort(key=lambda r: r[0])
    got = [s for r in runs for s in r]
    assert len(got) == len(set(got)), "duplicates: %d" % (len(got) - len(set(got)))
    assert got == list(range(1, n + 1))


def wait_delivered(h, stream, n, timeout=30):
    def done():
        objs = delivered_objects(h, stream)
        lines = sum(body.count(b"\n") for _, body in objs)
        return objs if lines >= n else None
    return wait_for(done, timeout=timeout, interval=0.3)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# ---- the library's own tests ------------------------------------------------

def test_library_unit_program():
    r = subprocess.run([DRIVER, "unit"], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
    assert ", 0 failed" in r.stdout


# ---- batching against hydrant -----------------------------------------------

def test_batches_by_count_then_flush(hydrant, drivers):
    create_streams(hydrant, "count-stream")
    d = drivers(hydrant.endpoint, "--linger-ms", "60000")
    d.put("count-stream", 1200)
    assert d.cmd("flush 20000") == "flush OK 0"
    st = d.stats()
    # 500 + 500 as soon as each batch is full, the last 200 by flush
    assert st["requests"] == 3, st
    assert st["acked"] == 1200 and st["retried"] == 0 and st["dropped"] == 0
    assert d.close(5000) == "close OK 0"
    check_exactly_once_in_order(wait_delivered(hydrant, "count-stream", 1200), "count-stream", 1200)


def test_batches_by_bytes(hydrant, drivers):
    create_streams(hydrant, "bytes-stream")
    d = drivers(hydrant.endpoint, "--linger-ms", "60000", "--memory", str(64 << 20))
    d.put("bytes-stream", 100, 100000)
    assert d.cmd("flush 30000") == "flush OK 0"
    st = d.stats()
    # 4 MiB / 100,000 bytes = 41 records a batch: 41 + 41 + 18
    assert st["requests"] == 3, st
    assert st["acked"] == 100
    check_exactly_once_in_order(wait_delivered(hydrant, "bytes-stream", 100), "bytes-stream", 100)


def test_linger_gathers_separate_puts(hydrant, drivers):
    create_streams(hydrant, "linger-stream")
    d = drivers(hydrant.endpoint, "--linger-ms", "1500")
    for _ in range(3):
        d.put("linger-stream", 1)
    wait_for(lambda: d.stats()["acked"] == 3, timeout=10)
    assert d.stats()["requests"] == 1  # three puts, one PutRecordBatch


# ---- retries: a fake of AWS's failure answers (fault injection only) -------

class FakeFirehose(ThreadingHTTPServer):
    """Answers PutRecordBatch like AWS under stress, by a script: request i
    gets plan[i] ("ok", "500", "partial", "first", "throttle"); after the
    script, everything is accepted. Keeps what it accepted, per stream."""

    daemon_threads = True

    def __init__(self, plan):
        super().__init__(("127.0.0.1", 0), FakeHandler)
        self.plan = list(plan)
        self.lock = threading.Lock()
        self.accepted = {}
        self.requests = []  # (headers, body) of every request
        self.batches = {}   # stream -> [(seqs sent, seqs failed)] per request
        self.calls = 0

    @property
    def endpoint(self):
        return "http://127.0.0.1:%d" % self.server_address[1]


class FakeHandler(BaseHTTPRequestHandler):
    def log_message(self, *a):
        pass

    def reply(self, status, obj, error_type=None):
        body = json.dumps(obj, separators=(",", ":")).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/x-amz-json-1.1")
        self.send_header("Content-Length", str(len(body)))
        if error_type:
            self.send_header("x-amzn-ErrorType", error_type)
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self):
        srv = self.server
        body = self.rfile.read(int(self.headers["Content-Length"]))
        with srv.lock:
            srv.requests.append((dict(self.headers), body))
            step = srv.plan[srv.calls] if srv.calls < len(srv.plan) else "ok"
            srv.calls += 1
            req = json.loads(body)
            stream = req["DeliveryStreamName"]
            sent = [int(base64.b64decode(r["Data"]).split()[1]) for r in req["Records"]]
            failed_seqs = sent if step in ("500", "throttle") else []
            srv.batches.setdefault(stream, []).append((sent, failed_seqs))
            if step == "500":
                return self.reply(500, {"__type": "ServiceUnavailableException",
                                        "message": "Slow down."})
            if step == "throttle":
                return self.reply(400, {"__type": "ThrottlingException", "message": "Rate exceeded"},
                                  "ThrottlingException")
            responses, failed = [], 0
            for i, rec in enumerate(req["Records"]):
                fail = (step == "partial" and i % 3 == 1) or (step == "first" and i == 0)
                if fail:
                    failed += 1
                    failed_seqs.append(sent[i])
                    responses.append({"ErrorCode": "ServiceUnavailableException" if step == "partial"
                                      else "InternalFailure", "ErrorMessage": "Slow down."})
                else:
                    srv.accepted.setdefault(stream, []).append(base64.b64decode(rec["Data"]))
                    responses.append({"RecordId": "%d-%d" % (srv.calls, i)})
            self.reply(200, {"FailedPutCount": failed, "Encrypted": False,
                             "RequestResponses": responses})


@pytest.fixture
def fake():
    servers = []

    def make(plan):
        srv = FakeFirehose(plan)
        threading.Thread(target=srv.serve_forever, daemon=True).start()
        servers.append(srv)
        return srv
    yield make
    for srv in servers:
        srv.shutdown()
        srv.server_close()


def seqs_of(records, stream):
    out = []
    for r in records:
        name, seq, *_ = r.decode().split(" ")
        assert name == stream
        out.append(int(seq))
    return out


def test_retries_after_service_unavailable_in_order(fake, drivers):
    srv = fake(["500", "partial", "500", "first", "throttle", "partial", "partial", "500"])
    d = drivers(srv.endpoint, "--linger-ms", "20", "--batch-records", "100",
                "--backoff-base-ms", "5", "--backoff-max-ms", "40")
    for _ in range(5):
        d.put("alpha", 200)
        d.put("beta", 150)
    assert d.cmd("flush 30000") == "flush OK 0"
    st = d.stats()
    with srv.lock:
        for stream, n in (("alpha", 1000), ("beta", 750)):
            # exactly once
            assert sorted(seqs_of(srv.accepted[stream], stream)) == list(range(1, n + 1))
            # in order per stream: every request is in put order, and the
            # records a request failed are the whole next request of that
            # stream -- nothing newer overtakes them. (Records the service
            # accepted in a partly failed batch stay accepted, so a resent
            # record lands after them: at most one batch apart.)
            batches = srv.batches[stream]
            high = 0
            for (sent, failed), (nxt, _) in zip(batches, batches[1:]):
                assert sent == sorted(sent)
                high = max(high, sent[-1])
                if failed:
                    assert nxt == failed, (sent, failed, nxt)
                else:
                    assert nxt[0] == high + 1, (sent, nxt)
            assert sum(1 for _, f in batches if f) >= 3
    assert st["acked"] == 1750 and st["dropped"] == 0
    assert st["retried"] > 0 and st["failed_requests"] >= 4
    assert st["sent"] == 1750 + st["retried"]
    assert d.close(1000) == "close OK 0"


def test_requests_are_signed(fake, drivers):
    srv = fake([])
    d = drivers(srv.endpoint, "--linger-ms", "10")
    d.put("signed", 3)
    assert d.cmd("flush 10000") == "flush OK 0"
    headers, body = srv.requests[0]
    h = {k.lower(): v for k, v in headers.items()}
    assert h["x-amz-target"] == "Firehose_20150804.PutRecordBatch"
    assert h["content-type"] == "application/x-amz-json-1.1"
    assert h["x-amz-content-sha256"] == hashlib.sha256(body).hexdigest()
    m = re.match(r"AWS4-HMAC-SHA256 Credential=test/(\d{8})/us-east-1/firehose/aws4_request, "
                 r"SignedHeaders=([a-z0-9;-]+), Signature=([0-9a-f]{64})$", h["authorization"])
    assert m, h["authorization"]
    signed = m.group(2).split(";")
    assert {"host", "x-amz-date", "x-amz-content-sha256", "x-amz-target"} <= set(signed)
    # recompute the signature with botocore's SigV4 over the signed headers
    req = AWSRequest(method="POST", url=srv.endpoint + "/", data=body,
                     headers={k: h[k] for k in signed})
    req.context["timestamp"] = h["x-amz-date"]
    auth = SigV4Auth(Credentials("test", "test"), "firehose", "us-east-1")
    sts = auth.string_to_sign(req, auth.canonical_request(req))
    assert auth.signature(sts, req) == m.group(3)
    assert json.loads(body)["Records"][0]["Data"] == base64.b64encode(b"signed 00000001 \n").decode()


def test_rejected_records_are_dropped_not_retried(hydrant, drivers):
    # no such stream: ResourceNotFoundException is about the request itself
    d = drivers(hydrant.endpoint, "--linger-ms", "10")
    d.put("no-such-stream", 5)
    # flush says so: an error code and the count, reported once
    assert d.cmd("flush 10000") == "flush EDROPPED 5"
    assert d.cmd("flush 10000") == "flush OK 0"
    st = d.stats()
    assert st["dropped"] == 5 and st["acked"] == 0 and st["retried"] == 0
    assert "ResourceNotFoundException" in st["last_error"]
    # and close reports what was dropped since the last flush
    d.put("no-such-stream", 3)
    assert d.close(10000) == "close EDROPPED 3"


# ---- store and forward against hydrant --------------------------------------

def test_spool_drains_after_restart_no_loss_no_reorder(tmp_path, drivers):
    port = free_port()
    h = Hydrant(str(tmp_path / "data"), args=["--port", str(port)])
    h.start()
    assert h.port == port
    try:
        create_streams(h, "car-a", "car-b")
        spool = str(tmp_path / "spool")
        args = ("--spool", spool, "--sync", "idle", "--linger-ms", "50", "--backoff-base-ms", "50",
                "--backoff-max-ms", "400")
        d = drivers(h.endpoint, *args)
        d.put("car-a", 200)
        d.put("car-b", 100)
        assert d.cmd("flush 15000") == "flush OK 0"

        h.stop()  # the vehicle drives into a tunnel
        d.put("car-a", 300)
        d.put("car-b", 300)
        wait_for(lambda: d.stats()["spooled"] >= 600, timeout=15)
        d.put("car-a", 100)  # straight to the spool, behind the others
        st = d.stats()
        assert st["acked"] == 300 and st["spooled"] == 700 and st["spool_bytes"] > 0

        # the device reboots in the tunnel: the spool outlives the process
        assert d.close(200) == "close ETIMEDOUT 0"
        assert os.listdir(spool)
        d = drivers(h.endpoint, *args)
        d.cmd("seq car-a 601")
        d.cmd("seq car-b 401")
        d.put("car-a", 50)
        d.put("car-b", 50)
        assert d.cmd("flush 300") == "flush ETIMEDOUT 0"

        h.start()  # out of the tunnel: same port, same data
        assert h.port == port
        assert d.cmd("flush 60000") == "flush OK 0"
        st = d.stats()
        assert st["dropped"] == 0
        assert st["acked"] == 300 + 400 + 100  # the spool, then the new ones
        assert os.listdir(spool) == []  # drained spools are removed
        d.put("car-a", 25)  # back to memory, behind everything
        assert d.cmd("flush 20000") == "flush OK 0"
        assert d.stats()["spooled"] == 100  # only the ones put before the restart
        assert d.close(1000) == "close OK 0"

        check_exactly_once_in_order(wait_delivered(h, "car-a", 675), "car-a", 675)
        check_exactly_once_in_order(wait_delivered(h, "car-b", 450), "car-b", 450)
    finally:
        h.stop()


# ---- the fleet simulator ----------------------------------------------------

def vin_check_digit(vin):
    """ISO 3779 / FMVSS 115 check digit, written independently of the C."""
    values = {**{str(i): i for i in range(10)},
              **dict(zip("ABCDEFGH", range(1, 9))), **dict(zip("JKLMN", range(1, 6))),
              "P": 7, "R": 9, **dict(zip("STUVWXYZ", range(2, 10)))}
    weights = [8, 7, 6, 5, 4, 3, 2, 10, 0, 9, 8, 7, 6, 5, 4, 3, 2]
    r = sum(values[c] * w for c, w in zip(vin, weights)) % 11
    return "X" if r == 10 else str(r)


def test_vin_check_digits():
    # published valid VINs, and corruptions of them
    valid = ["1HGCM82633A004352", "11111111111111111", "1M8GDM9AXKP042788",
             "JH4KA7561PC008269", "5GZCZ43D13S812715"]
    for vin in valid:
        assert vin_check_digit(vin) == vin[8]
        r = subprocess.run([FLEET, "--check-vin", vin], capture_output=True, text=True)
        assert r.returncode == 0 and r.stdout.strip() == vin[8], (vin, r.stdout)
    for vin in ["1HGCM82643A004352", "1M8GDM9A1KP042788", "11111111211111111"]:
        r = subprocess.run([FLEET, "--check-vin", vin], capture_output=True, text=True)
        assert r.returncode == 1 and r.stdout.strip() == vin_check_digit(vin), vin
    for bad in ["1HGCM82633A00435", "1HGCM82633A0043520", "IHGCM82633A004352", "1HGCM82633A0O4352"]:
        r = subprocess.run([FLEET, "--check-vin", bad], capture_output=True, text=True)
        assert r.returncode == 1 and r.stdout.strip() == "?", bad


def haversine_m(lon1, lat1, lon2, lat2):
    import math
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 6371000 * 2 * math.asin(math.sqrt(a))


def test_fleet_output_parses_with_pandas():
    r = subprocess.run([FLEET, "--output", "-", "--vehicles", "7", "--rate", "7",
                        "--count", "1400", "--seed", "42"], capture_output=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert r.stdout.endswith(b"\n") and r.stdout.count(b"\n") == 1400
    df = pd.read_csv(io.BytesIO(r.stdout), sep=" ", names=COLUMNS)
    assert len(df) == 1400
    assert df["record_id"].tolist() == list(range(1, 1401))
    assert str(df["lon"].dtype) == "float64" and str(df["speed"].dtype) == "float64"
    ts = pd.to_datetime(df["timestamp"], format="%Y-%m-%dT%H:%M:%S.%fZ", utc=True)
    assert ts.is_monotonic_increasing
    assert abs((ts.iloc[0] - pd.Timestamp.now(tz="UTC")).total_seconds()) < 60
    assert df["vin"].nunique() == 7
    for vin in df["vin"].unique():
        assert len(vin) == 17 and not set(vin) & set("IOQ")
        assert vin_check_digit(vin) == vin[8], vin
    # greater Jakarta, at city speeds
    assert df["lon"].between(106.5, 107.2).all() and df["lat"].between(-6.5, -6.0).all()
    assert df["speed"].between(0, 120).all() and df["speed"].mean() > 10

    # speed agrees with movement: one reading a vehicle per second here, so
    # metres between readings / 1 s is the reported speed (a bend at the
    # end of a road makes the straight line shorter, never longer)
    agree = total = 0
    for _, g in df.groupby("vin"):
        g = g.sort_values("record_id")
        pts = list(zip(g["lon"], g["lat"], g["speed"]))
        for (lo1, la1, _), (lo2, la2, v2) in zip(pts, pts[1:]):
            implied = haversine_m(lo1, la1, lo2, la2) / 1.0 * 3.6
            assert implied <= v2 * 1.02 + 0.5, (implied, v2)
            total += 1
            agree += abs(implied - v2) <= 0.02 * v2 + 0.5
    assert agree / total > 0.95


def test_fleet_against_hydrant(hydrant):
    create_streams(hydrant, "gps-delivery-stream")
    r = subprocess.run([FLEET, "--endpoint", hydrant.endpoint, "--vehicles", "5", "--rate", "200",
                        "--count", "400", "--linger-ms", "50", "--seed", "7"],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert "acked 400" in r.stderr and "spooled 0" in r.stderr
    objs = wait_delivered(hydrant, "gps-delivery-stream", 400)
    df = pd.concat(pd.read_csv(io.BytesIO(body), sep=" ", names=COLUMNS) for _, body in objs)
    assert sorted(df["record_id"]) == list(range(1, 401))
    assert df["vin"].nunique() == 5
    for key, _ in objs:
        assert re.match(r"^\d{4}/\d{2}/\d{2}/\d{2}/gps-delivery-stream-1-", key), key


def test_spool_survives_kill_9_of_the_device(tmp_path, drivers):
    """The process dies (kill -9) while the endpoint is away: what reached
    the spool is sent by the next process, once and in order."""
    port = free_port()
    h = Hydrant(str(tmp_path / "data"), args=["--port", str(port)])
    h.start()
    try:
        create_streams(h, "car-k")
        h.stop()
        spool = str(tmp_path / "spool")
        args = ("--spool", spool, "--linger-ms", "20", "--backoff-base-ms", "50",
                "--backoff-max-ms", "300")
        d = drivers("http://127.0.0.1:%d" % port, *args)
        d.put("car-k", 400)
        wait_for(lambda: d.stats()["spooled"] == 400, timeout=15)
        d.proc.kill()
        d.proc.wait()

        h.start()
        assert h.port == port
        d = drivers(h.endpoint, *args)
        assert d.cmd("flush 30000") == "flush OK 0"
        assert d.stats()["acked"] == 400
        assert d.close(1000) == "close OK 0"
        check_exactly_once_in_order(wait_delivered(h, "car-k", 400), "car-k", 400)
    finally:
        h.stop()
