"""Shared fixtures: start the real hydrant binary on a free port.

Every test talks to the real server with real clients (boto3, the AWS CLI,
pandas). Nothing here mocks hydrant.
"""
import os
import signal
import subprocess
import tempfile
import time

import boto3
import pytest
from botocore.config import Config

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
BIN = os.environ.get("HYDRANT_BIN") or os.path.join(ROOT, "build", "hydrant")
ACCESS_KEY = "test"
SECRET_KEY = "test"
REGION = "us-east-1"


class Hydrant:
    """One hydrant process with its own data directory."""

    def __init__(self, data_dir, args=()):
        self.data_dir = data_dir
        self.args = list(args)
        self.proc = None
        self.port = None
        self.log_path = data_dir.rstrip("/") + ".log"
        self.env = dict(os.environ)

    @property
    def endpoint(self):
        return "http://127.0.0.1:%d" % self.port

    def start(self):
        self.log = open(self.log_path, "ab")
        # Most tests create streams with a RoleARN they never create; under
        # the server's default --iam=default that is refused, as AWS does.
        # They run with --iam=off unless they name a mode (the IAM tests do).
        iam = [] if any(a.startswith("--iam") for a in self.args) else ["--iam=off"]
        self.proc = subprocess.Popen(
            [BIN, "--port", "0", "--data-dir", self.data_dir,
             "--create-delay-ms", "200", *iam, *self.args],
            stdout=subprocess.PIPE, stderr=self.log, env=self.env)
        line = self.proc.stdout.readline().decode()
        if not line.startswith("listening "):
            self.proc.wait(5)
            raise RuntimeError("hydrant did not start: %r\n%s" % (line, self.read_log()))
        self.port = int(line.split()[2])
        return self

    def stop(self, sig=signal.SIGTERM, timeout=30):
        """Stops the server; returns its exit code."""
        if not self.proc:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            rc = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            rc = self.proc.wait()
        self.proc.stdout.close()
        self.log.close()
        self.proc = None
        return rc

    def restart(self):
        self.stop()
        return self.start()

    def read_log(self):
        try:
            with open(self.log_path, "rb") as f:
                return f.read().decode(errors="replace")
        except OSError:
            return ""

    def client(self, service, validate=False, **kw):
        """A boto3 client pointed at this server. Parameter validation is off
        by default because Debian's botocore still requires
        IntervalInSeconds >= 60 (see aws-facts.md)."""
        cfg = Config(parameter_validation=validate,
                     retries={"max_attempts": 1, "mode": "standard"},
                     **kw.pop("config_kw", {}))
        return boto3.client(
            service, endpoint_url=self.endpoint, region_name=kw.pop("region", REGION),
            aws_access_key_id=kw.pop("access_key", ACCESS_KEY),
            aws_secret_access_key=kw.pop("secret_key", SECRET_KEY),
            config=cfg, **kw)

    def alive(self):
        return self.proc is not None and self.proc.poll() is None


@pytest.fixture
def hydrant(tmp_path):
    """A fresh server per test (it starts in a few milliseconds)."""
    h = Hydrant(str(tmp_path / "data"))
    h.start()
    yield h
    alive = h.alive()
    h.stop()
    assert alive, "hydrant died during the test:\n" + h.read_log()[-4000:]


@pytest.fixture
def make_hydrant(tmp_path):
    """Factory for servers with extra flags: make_hydrant("--flag", "v")."""
    started = []

    def make(*args, data_dir=None):
        h = Hydrant(data_dir or str(tmp_path / ("data%d" % len(started))), args)
        h.start()
        started.append(h)
        return h

    yield make
    for h in started:
        h.stop()


def signed_request(h, method="POST", path="/", body=b"", headers=None,
                   service="firehose", access_key=ACCESS_KEY, secret_key=SECRET_KEY,
                   region=REGION):
    """Sends one raw request signed with botocore's SigV4 signer; returns
    (status, headers, body). For bodies boto3 cannot produce (fields newer
    than Debian's botocore model, malformed input)."""
    import http.client
    if isinstance(body, str):
        body = body.encode()
    hdrs = sign_headers(h, method, path, body, headers, service, access_key, secret_key,
                        region)
    conn = http.client.HTTPConnection("127.0.0.1", h.port, timeout=30)
    conn.request(method, path, body=body, headers=hdrs)
    r = conn.getresponse()
    out = (r.status, dict(r.getheaders()), r.read())
    conn.close()
    return out


def sign_headers(h, method, path, body=b"", headers=None, service="s3",
                 access_key=ACCESS_KEY, secret_key=SECRET_KEY, region=REGION):
    """The headers of a request signed with botocore's SigV4 signer. For s3,
    x-amz-content-sha256 is the body's hash unless the caller set it (e.g.
    STREAMING-AWS4-HMAC-SHA256-PAYLOAD or a deliberately wrong hash)."""
    import hashlib
    from botocore.auth import S3SigV4Auth, SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials
    headers = dict(headers or {})
    given = {k.lower(): v for k, v in headers.items()}.get("x-amz-content-sha256")
    if service == "s3":
        declared = given or hashlib.sha256(body or b"").hexdigest()

        class Signer(S3SigV4Auth):
            def payload(self, request):
                return declared
        for k in [k for k in headers if k.lower() == "x-amz-content-sha256"]:
            del headers[k]
    else:
        Signer = SigV4Auth
    req = AWSRequest(method=method, url=h.endpoint + path, data=body, headers=headers)
    Signer(Credentials(access_key, secret_key), service, region).add_auth(req)
    return dict(req.headers.items())


def aws_chunked(h, path, payload, chunk=8192, region=REGION, decoded=None):
    """Headers and body of a signed aws-chunked PUT (STREAMING-AWS4-HMAC-
    SHA256-PAYLOAD), every chunk signed, as the AWS SDKs send it."""
    import hashlib
    import hmac
    size = len(payload)
    headers = {"x-amz-content-sha256": "STREAMING-AWS4-HMAC-SHA256-PAYLOAD",
               "Content-Encoding": "aws-chunked",
               "x-amz-decoded-content-length": str(size if decoded is None else decoded)}
    chunks = [payload[i:i + chunk] for i in range(0, size, chunk)] + [b""]
    length = sum(len("%x;chunk-signature=" % len(c)) + 64 + 4 + len(c) for c in chunks)
    headers["Content-Length"] = str(length)
    hdrs = sign_headers(h, "PUT", path, b"", headers, "s3", region=region)
    auth = hdrs["Authorization"]
    seed = auth.split("Signature=")[1]
    date = hdrs["X-Amz-Date"]
    scope = auth.split("Credential=")[1].split(",")[0].split("/", 1)[1]

    def hm(k, m):
        return hmac.new(k, m.encode() if isinstance(m, str) else m, hashlib.sha256).digest()
    d, r, svc, _ = scope.split("/")
    key = hm(hm(hm(hm(b"AWS4" + SECRET_KEY.encode(), d), r), svc), "aws4_request")
    body, prev = b"", seed
    empty = hashlib.sha256(b"").hexdigest()
    for c in chunks:
        sts = "\n".join(["AWS4-HMAC-SHA256-PAYLOAD", date, scope, prev, empty,
                         hashlib.sha256(c).hexdigest()])
        prev = hmac.new(key, sts.encode(), hashlib.sha256).hexdigest()
        body += b"%x;chunk-signature=%s\r\n%s\r\n" % (len(c), prev.encode(), c)
    return hdrs, body


def firehose_call(h, op, payload):
    """A signed Firehose JSON 1.1 call with any payload; returns (status, json)."""
    import json
    status, _, body = signed_request(
        h, body=json.dumps(payload) if not isinstance(payload, (bytes, str)) else payload,
        headers={"Content-Type": "application/x-amz-json-1.1",
                 "X-Amz-Target": "Firehose_20150804." + op})
    return status, json.loads(body or b"{}")


def wait_for(fn, timeout=20.0, interval=0.1):
    """Polls fn() until it returns something truthy; returns it or fails."""
    deadline = time.monotonic() + timeout
    while True:
        v = fn()
        if v:
            return v
        if time.monotonic() > deadline:
            raise AssertionError("condition not met within %.1fs" % timeout)
        time.sleep(interval)


def wait_active(fh, name, timeout=10.0):
    def active():
        d = fh.describe_delivery_stream(DeliveryStreamName=name)
        return d["DeliveryStreamDescription"]["DeliveryStreamStatus"] == "ACTIVE"
    wait_for(active, timeout)


def delivered_lines(s3, bucket):
    """Every line of every object in the bucket, with its count."""
    counts = {}
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        for o in page.get("Contents", []):
            body = s3.get_object(Bucket=bucket, Key=o["Key"])["Body"].read()
            for line in body.split(b"\n"):
                if line:
                    counts[line] = counts.get(line, 0) + 1
    return counts


def _crc32c_table():
    t = []
    for i in range(256):
        c = i
        for _ in range(8):
            c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1
        t.append(c)
    return t


_CRC32C = _crc32c_table()


def crc32c(data):
    """CRC-32C (Castagnoli), as the WAL frames carry it."""
    c = 0xFFFFFFFF
    for b in data:
        c = _CRC32C[(c ^ b) & 0xFF] ^ (c >> 8)
    return c ^ 0xFFFFFFFF
