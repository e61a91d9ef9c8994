"""The HTTP endpoint destination (src/sinks/http_endpoint.c).

The receiver below implements AWS's side of "HTTP endpoint delivery request
and response specifications" (docs.aws.amazon.com/firehose/latest/dev/
httpdeliveryrequestresponse.html): HTTPS with a certificate made here by
openssl, every header and body rule of the page checked on every request,
and answers chosen by the test (200 with the requestId, errors, 413, a
wrong requestId, a body that is not JSON, a slow answer, an answer over
1 MiB). It is a receiver written to AWS's contract, not a mock of hydrant.

The sink is driven two ways: directly with build/sink-put (the sink the
server would use, with records as the pipeline hands them over), and
through the server (CreateDeliveryStream, DescribeDeliveryStream,
UpdateDestination, delivery).
"""
import base64
import gzip
import http.server
import json
import os
import re
import socket
import ssl
import subprocess
import threading
import time

import pytest

from conftest import BIN, Hydrant, wait_active, wait_for

SINK_PUT = os.path.join(os.path.dirname(BIN), "sink-put")
ARN = "arn:aws:firehose:us-east-1:000000000000:deliverystream/http-test"
ARN_RE = re.compile(r"^arn:aws:firehose:[a-z0-9-]+:\d{12}:deliverystream/[a-zA-Z0-9_.-]{1,64}$")
UUID_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


@pytest.fixture(scope="module")
def cert(tmp_path_factory):
    d = tmp_path_factory.mktemp("tls")
    key, crt = str(d / "key.pem"), str(d / "cert.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key,
                    "-out", crt, "-days", "1", "-subj", "/CN=localhost",
                    "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"],
                   check=True, capture_output=True)
    return crt, key


class Receiver:
    """An HTTPS endpoint that checks AWS's request rules and answers as told."""

    def __init__(self, cert, path="/ingest", expect=None):
        self.requests = []      # (headers dict, decoded body) of each request
        self.violations = []    # broken rules, as sentences
        self.plan = []          # answers to give, in order; then "ok"
        self.path = path
        self.expect = expect or {}
        recv = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def do_GET(self):
                recv.violations.append("method GET, not POST")
                self.send_response(405)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def do_POST(self):
                n = int(self.headers.get("Content-Length", "-1"))
                raw = self.rfile.read(n) if n >= 0 else b""
                rid = recv.check(self.command, self.path, self.headers, raw)
                recv.answer(self, rid)

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(*cert)
        self.httpd.socket = ctx.wrap_socket(self.httpd.socket, server_side=True)
        self.port = self.httpd.server_address[1]
        self.url = "https://127.0.0.1:%d%s" % (self.port, path)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()

    def bad(self, what):
        self.violations.append(what)

    def check(self, method, path, h, raw):
        """Every rule of AWS's request format; returns the request id."""
        e = self.expect
        if method != "POST":
            self.bad("method %s" % method)
        if path != self.path:
            self.bad("path %s, not %s as configured" % (path, self.path))
        if h.get("X-Amz-Firehose-Protocol-Version") != "1.0":
            self.bad("X-Amz-Firehose-Protocol-Version %r" % h.get(
                "X-Amz-Firehose-Protocol-Version"))
        rid = h.get("X-Amz-Firehose-Request-Id") or ""
        if not UUID_RE.match(rid):
            self.bad("X-Amz-Firehose-Request-Id %r is not a GUID" % rid)
        if h.get("Content-Type") != "application/json":
            self.bad("Content-Type %r" % h.get("Content-Type"))
        if int(h.get("Content-Length", "-1")) != len(raw):
            self.bad("Content-Length does not match the body")
        src = h.get("X-Amz-Firehose-Source-Arn") or ""
        if not ARN_RE.match(src) or src != e.get("arn", src):
            self.bad("X-Amz-Firehose-Source-Arn %r" % src)
        if e.get("gzip"):
            if h.get("Content-Encoding") != "gzip":
                self.bad("Content-Encoding %r, gzip configured" % h.get("Content-Encoding"))
            try:
                raw = gzip.decompress(raw)
            except Exception as ex:
                self.bad("body is not gzip: %s" % ex)
        elif "Content-Encoding" in h:
            self.bad("Content-Encoding present without GZIP")
        if e.get("access_key") is None:
            if "X-Amz-Firehose-Access-Key" in h:
                self.bad("X-Amz-Firehose-Access-Key without an AccessKey")
        elif h.get("X-Amz-Firehose-Access-Key") != e["access_key"]:
            self.bad("X-Amz-Firehose-Access-Key %r" % h.get("X-Amz-Firehose-Access-Key"))
        attrs = h.get("X-Amz-Firehose-Common-Attributes")
        if e.get("attributes") is None:
            if attrs is not None:
                self.bad("X-Amz-Firehose-Common-Attributes without CommonAttributes")
        else:
            try:
                if json.loads(attrs) != {"commonAttributes": e["attributes"]}:
                    self.bad("X-Amz-Firehose-Common-Attributes %r" % attrs)
            except Exception:
                self.bad("X-Amz-Firehose-Common-Attributes is not JSON: %r" % attrs)
        records = []
        try:
            body = json.loads(raw)
            if set(body) != {"requestId", "timestamp", "records"}:
                self.bad("body members %s" % sorted(body))
            if body.get("requestId") != rid:
                self.bad("body requestId %r, header %r" % (body.get("requestId"), rid))
            ts = body.get("timestamp")
            if not isinstance(ts, int) or abs(ts - time.time() * 1000) > 60000:
                self.bad("timestamp %r is not ms since the epoch, now" % ts)
            for r in body.get("records"):
                if set(r) != {"data"}:
                    self.bad("record members %s" % sorted(r))
                records.append(base64.b64decode(r["data"], validate=True))
        except Exception as ex:
            self.bad("body is not the JSON of the spec: %s" % ex)
        self.requests.append((dict(h.items()), records))
        return rid

    def answer(self, handler, rid):
        what = self.plan.pop(0) if self.plan else "ok"
        status, body = 200, {"requestId": rid, "timestamp": int(time.time() * 1000)}
        if what.startswith("status:"):
            status = int(what.split(":")[1])
            body["errorMessage"] = "told to fail"
        elif what == "wrong-id":
            body["requestId"] = "00000000-0000-4000-8000-000000000000"
        elif what.startswith("sleep:"):
            time.sleep(float(what.split(":")[1]))
        elif what == "big":
            body["pad"] = "x" * (1 << 21)
        data = b"<html>not json</html>" if what == "not-json" else json.dumps(body).encode()
        try:
            handler.send_response(status)
            handler.send_header("Content-Type", "application/json")
            handler.send_header("Content-Length", str(len(data)))
            handler.end_headers()
            handler.wfile.write(data)
        except OSError:
            pass   # the client gave up (timeout)


def config(url, **kw):
    c = {"EndpointConfiguration": {"Url": url, "Name": "test receiver"},
         "BufferingHints": {"SizeInMBs": 1, "IntervalInSeconds": 0},
         "RetryOptions": {"DurationInSeconds": 60},
         "S3BackupMode": "FailedDataOnly",
         "S3Configuration": {"RoleARN": "arn:aws:iam::000000000000:role/r",
                             "BucketARN": "arn:aws:s3:::http-backup"}}
    if "access_key" in kw:
        c["EndpointConfiguration"]["AccessKey"] = kw["access_key"]
    rc = {}
    if kw.get("gzip"):
        rc["ContentEncoding"] = "GZIP"
    if kw.get("attributes"):
        rc["CommonAttributes"] = [{"AttributeName": k, "AttributeValue": v}
                                  for k, v in kw["attributes"].items()]
    if rc:
        c["RequestConfiguration"] = rc
    return c


def put(tmp_path, cert, cfg, records, key="k/obj-1", extra=()):
    f = tmp_path / "records"
    f.write_bytes(b"".join(records))
    r = subprocess.run([SINK_PUT, "--bucket", "http-backup", "--key", key, "--records-file",
                        str(f), "--dest-config", json.dumps(cfg), "--arn", ARN,
                        "--http-endpoint-ca-file", cert[0], *extra],
                       capture_output=True, timeout=120)
    assert r.returncode in (0, 1), r.stderr.decode()
    return json.loads(r.stdout)


RECORDS = [b"first record\n", b'{"json": "record", "n": 2}\n',
           bytes(b for b in range(256) if b != 10) + b"\n"]  # sink-put: one record a line


@pytest.fixture
def receiver(cert):
    recv = Receiver(cert)
    yield recv
    recv.close()


def test_records_delivered_per_the_spec(tmp_path, cert, receiver):
    receiver.expect = {"arn": ARN}
    out = put(tmp_path, cert, config(receiver.url), RECORDS)
    assert out["rc"] == 0 and out["sink"] == "http", out
    assert receiver.violations == []
    assert len(receiver.requests) == 1
    assert receiver.requests[0][1] == RECORDS


def test_gzip_common_attributes_and_access_key(tmp_path, cert, receiver):
    attrs = {"env": "prod", "team": "vehicles \"quoted\" ü"}
    receiver.expect = {"arn": ARN, "gzip": True, "access_key": "secret-api-key-123",
                       "attributes": attrs}
    cfg = config(receiver.url, gzip=True, access_key="secret-api-key-123", attributes=attrs)
    out = put(tmp_path, cert, cfg, RECORDS * 100)
    assert out["rc"] == 0, out
    assert receiver.violations == []
    assert receiver.requests[0][1] == RECORDS * 100


def test_failures_have_aws_codes_and_a_retry_keeps_the_request_id(tmp_path, cert, receiver):
    receiver.expect = {"arn": ARN}
    receiver.plan = ["status:500", "status:413", "wrong-id", "not-json", "status:201", "ok"]
    cfg = config(receiver.url)
    codes = [put(tmp_path, cert, cfg, RECORDS) for _ in range(6)]
    assert [c["error"] for c in codes] == [
        "HttpEndpoint.DestinationException", "HttpEndpoint.DestinationException",
        "HttpEndpoint.InvalidResponseFromDestination",
        "HttpEndpoint.InvalidResponseFromDestination",
        "HttpEndpoint.DestinationException", None]
    assert all(c["retryable"] for c in codes[:5])
    assert "413" in codes[1]["why"]
    assert codes[5]["rc"] == 0
    # the same object: the same request id on every attempt
    ids = {h["X-Amz-Firehose-Request-Id"] for h, _ in receiver.requests}
    assert len(ids) == 1
    assert receiver.violations == []
    # another object: another id
    put(tmp_path, cert, cfg, RECORDS, key="k/obj-2")
    assert receiver.requests[-1][0]["X-Amz-Firehose-Request-Id"] not in ids


def test_timeout_large_answer_tls_and_refused_connection(tmp_path, cert, receiver):
    receiver.plan = ["sleep:4", "big"]
    cfg = config(receiver.url)
    out = put(tmp_path, cert, cfg, RECORDS, extra=("--http-endpoint-timeout", "1"))
    assert out["error"] == "HttpEndpoint.RequestTimeout", out
    out = put(tmp_path, cert, cfg, RECORDS)
    assert out["error"] == "HttpEndpoint.ResponseTooLarge", out
    # without the CA file the self-signed certificate is not trusted
    f = tmp_path / "r"
    f.write_bytes(RECORDS[0])
    r = subprocess.run([SINK_PUT, "--bucket", "http-backup", "--key", "k", "--records-file",
                        str(f), "--dest-config", json.dumps(cfg)], capture_output=True,
                       timeout=60)
    assert json.loads(r.stdout)["error"] == "HttpEndpoint.SSLHandshakeFailure", r.stdout
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    out = put(tmp_path, cert, config("https://127.0.0.1:%d/x" % port), RECORDS)
    assert out["error"] == "HttpEndpoint.ConnectionFailed", out


def test_failed_data_backup_record(tmp_path, cert, make_hydrant):
    """http_endpoint_backup_failed: AWS's error records under
    http-endpoint-failed/ in the S3Configuration bucket (here on a second
    hydrant used as external S3, through the same sink choice)."""
    ext = make_hydrant()
    s3 = ext.client("s3")
    s3.create_bucket(Bucket="http-backup")
    f = tmp_path / "records"
    f.write_bytes(b"".join(RECORDS))
    cfg = config("https://127.0.0.1:9/never")
    r = subprocess.run([SINK_PUT, "--s3-endpoint", ext.endpoint, "--s3-access-key-id", "test",
                        "--s3-secret-access-key", "test", "--bucket", "http-backup", "--key",
                        "2026/12/02/01/http-test-1-2026-12-02-01-02-03-abc", "--records-file",
                        str(f), "--dest-config", json.dumps(cfg), "--arn", ARN,
                        "--backup-failed", "HttpEndpoint.ConnectionFailed"],
                       capture_output=True, timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr
    objs = s3.list_objects_v2(Bucket="http-backup")["Contents"]
    assert len(objs) == 1
    key = objs[0]["Key"]
    assert re.match(r"^http-endpoint-failed/\d{4}/\d{2}/\d{2}/\d{2}/"
                    r"http-test-1-2026-12-02-01-02-03-abc$", key), key
    lines = s3.get_object(Bucket="http-backup", Key=key)["Body"].read().splitlines()
    recs = [json.loads(x) for x in lines]
    assert [base64.b64decode(x["rawData"]) for x in recs] == RECORDS
    for x in recs:
        assert list(x) == ["attemptsMade", "arrivalTimestamp", "errorCode", "errorMessage",
                           "attemptEndingTimestamp", "rawData"]
        assert x["errorCode"] == "HttpEndpoint.ConnectionFailed"
        assert x["attemptEndingTimestamp"] >= x["arrivalTimestamp"]


# ---- through the server ------------------------------------------------------

HOOK = ("delivery.c does not pass the batch's records to sinks yet (sink_put.records; "
        "sinks_records_passed): HTTP endpoint streams are refused until it does")


def create_or_skip(fh, name, cfg):
    try:
        fh.create_delivery_stream(DeliveryStreamName=name,
                                  HttpEndpointDestinationConfiguration=cfg)
    except fh.exceptions.InvalidArgumentException as e:
        if "sink_put.records" in str(e):
            pytest.fail(HOOK)
        raise


def test_create_and_describe(hydrant, receiver):
    fh = hydrant.client("firehose")
    cfg = config(receiver.url, access_key="k-123", attributes={"a": "b"}, gzip=True)
    create_or_skip(fh, "http-test", cfg)
    wait_active(fh, "http-test")
    d = fh.describe_delivery_stream(DeliveryStreamName="http-test")["DeliveryStreamDescription"]
    dest = d["Destinations"][0]
    assert set(dest) == {"DestinationId", "HttpEndpointDestinationDescription"}
    h = dest["HttpEndpointDestinationDescription"]
    assert h["EndpointConfiguration"] == {"Url": receiver.url, "Name": "test receiver"}
    assert "AccessKey" not in json.dumps(h)          # never given back
    assert h["BufferingHints"] == {"SizeInMBs": 1, "IntervalInSeconds": 0}
    assert h["RetryOptions"] == {"DurationInSeconds": 60}
    assert h["S3BackupMode"] == "FailedDataOnly"
    assert h["RequestConfiguration"] == {
        "ContentEncoding": "GZIP",
        "CommonAttributes": [{"AttributeName": "a", "AttributeValue": "b"}]}
    assert h["CloudWatchLoggingOptions"] == {"Enabled": False}
    assert h["S3DestinationDescription"]["BucketARN"] == "arn:aws:s3:::http-backup"
    # UpdateDestination: the URL changes, VersionId goes up
    fh.update_destination(DeliveryStreamName="http-test", CurrentDeliveryStreamVersionId="1",
                          DestinationId="destinationId-000000000001",
                          HttpEndpointDestinationUpdate={
                              "EndpointConfiguration": {"Url": receiver.url + "/v2"},
                              "RetryOptions": {"DurationInSeconds": 120}})
    d = fh.describe_delivery_stream(DeliveryStreamName="http-test")["DeliveryStreamDescription"]
    h = d["Destinations"][0]["HttpEndpointDestinationDescription"]
    assert d["VersionId"] == "2"
    assert h["EndpointConfiguration"]["Url"] == receiver.url + "/v2"
    assert h["RetryOptions"] == {"DurationInSeconds": 120}
    with pytest.raises(fh.exceptions.InvalidArgumentException):
        fh.update_destination(DeliveryStreamName="http-test",
                              CurrentDeliveryStreamVersionId="2",
                              DestinationId="destinationId-000000000001",
                              ExtendedS3DestinationUpdate={"Prefix": "x/"})


@pytest.mark.parametrize("change,words", [
    (lambda c: c["EndpointConfiguration"].update(Url="http://127.0.0.1/x"), "only https"),
    (lambda c: c.update(S3BackupMode="AllData"), "AllData is not supported"),
    (lambda c: c.update(RetryOptions={"DurationInSeconds": 7201}), "0 to 7200"),
    (lambda c: c.update(BufferingHints={"SizeInMBs": 65}), "1 to 64"),
    (lambda c: c.pop("S3Configuration"), "S3Configuration is required"),
    (lambda c: c.update(RequestConfiguration={"ContentEncoding": "BR"}), "NONE or GZIP"),
    (lambda c: c["EndpointConfiguration"].update(AccessKey="a\r\nX-Evil: 1"), "line breaks"),
    (lambda c: c.update(ProcessingConfiguration={"Enabled": True, "Processors": []}),
     "not supported"),
    (lambda c: c.update(RequestConfiguration={"CommonAttributes": [
        {"AttributeName": "a", "AttributeValue": "1"},
        {"AttributeName": "a", "AttributeValue": "2"}]}), "unique"),
])
def test_configurations_refused(hydrant, change, words):
    from conftest import firehose_call
    cfg = config("https://127.0.0.1:1/x")
    change(cfg)
    status, body = firehose_call(hydrant, "CreateDeliveryStream", {
        "DeliveryStreamName": "refused", "HttpEndpointDestinationConfiguration": cfg})
    assert status == 400, body
    assert body["__type"] == "InvalidArgumentException", body
    assert words in body["message"], body


def test_records_delivered_through_the_server(tmp_path, cert, receiver):
    h = Hydrant(str(tmp_path / "h"), ["--http-endpoint-ca-file", cert[0]]).start()
    try:
        fh = h.client("firehose")
        create_or_skip(fh, "http-test", config(receiver.url))
        wait_active(fh, "http-test")
        arn = fh.describe_delivery_stream(DeliveryStreamName="http-test")[
            "DeliveryStreamDescription"]["DeliveryStreamARN"]
        receiver.expect = {"arn": arn}
        receiver.plan = ["status:503"]     # the first attempt fails: retried
        fh.put_record_batch(DeliveryStreamName="http-test",
                            Records=[{"Data": r} for r in RECORDS])

        def seen():
            if "sink_put.records is NULL" in h.read_log():
                return "missing hook"
            return len(receiver.requests) >= 2 or None
        if wait_for(seen, 30, 0.2) == "missing hook":
            pytest.fail("delivery.c does not pass the batch's records to the sink yet "
                        "(sink_put.records is NULL): the hook the HTTP endpoint sink needs")
        assert receiver.violations == []
        assert receiver.requests[-1][1] == RECORDS
        assert receiver.requests[0][0]["X-Amz-Firehose-Request-Id"] == \
            receiver.requests[1][0]["X-Amz-Firehose-Request-Id"]
    finally:
        h.stop()


def test_receiver_down_past_the_window_goes_to_the_s3_backup(tmp_path, cert, receiver):
    h = Hydrant(str(tmp_path / "h"), ["--http-endpoint-ca-file", cert[0]]).start()
    try:
        s3 = h.client("s3")
        s3.create_bucket(Bucket="http-backup")
        fh = h.client("firehose")
        cfg = config(receiver.url)
        cfg["RetryOptions"] = {"DurationInSeconds": 5}
        create_or_skip(fh, "http-test", cfg)
        wait_active(fh, "http-test")
        receiver.plan = ["status:500"] * 1000          # down for longer than the window
        sent = [b"rec-%04d\n" % i for i in range(200)]
        for i in range(0, 200, 50):
            r = fh.put_record_batch(DeliveryStreamName="http-test",
                                    Records=[{"Data": x} for x in sent[i:i + 50]])
            assert r["FailedPutCount"] == 0

        def backed_up():
            got = []
            for o in s3.list_objects_v2(Bucket="http-backup").get("Contents", []):
                assert o["Key"].startswith("http-endpoint-failed/"), o["Key"]
                body = s3.get_object(Bucket="http-backup", Key=o["Key"])["Body"].read()
                got += [json.loads(x) for x in body.splitlines()]
            return got if len(got) >= len(sent) else None
        recs = wait_for(backed_up, 60, 0.5)
        assert sorted(base64.b64decode(x["rawData"]) for x in recs) == sent   # nothing lost
        assert {x["errorCode"] for x in recs} == {"HttpEndpoint.DestinationException"}
        assert len(receiver.requests) >= 2                 # it was retried meanwhile
    finally:
        h.stop()
