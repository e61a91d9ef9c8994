"""The listener's limits before authentication (docs/SECURITY.md): the
header deadline, the per-address connection cap, the in-flight body budget,
and the modes of spool files. Behaviour only: each test checks what the
client sees (closed, refused, 503 in the API's shape) and what was kept,
never how fast."""
import json
import os
import socket
import stat
import subprocess
import time
import uuid

import pytest

from conftest import BIN, sign_headers, signed_request, wait_active, wait_for

GET = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"


def connect(h, src="127.0.0.1", timeout=10):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.settimeout(timeout)
    s.bind((src, 0))
    s.connect(("127.0.0.1", h.port))
    return s


def read_response(s):
    """One HTTP response off s: (status, headers, body), or None when the
    server closed the connection without one."""
    data = b""
    try:
        while b"\r\n\r\n" not in data:
            c = s.recv(65536)
            if not c:
                return None
            data += c
    except (ConnectionResetError, BrokenPipeError):
        return None
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode().split("\r\n")
    hdrs = {k.lower(): v.strip() for k, v in (ln.split(":", 1) for ln in lines[1:])}
    n = int(hdrs.get("content-length", "0"))
    while len(body) < n:
        c = s.recv(65536)
        if not c:
            break
        body += c
    return int(lines[0].split()[1]), hdrs, body


def closed_by_server(s, payload=b"X", interval=0.25, limit=30):
    """Trickles payload one byte at a time until the server closes the
    connection; returns the seconds it took, or None if it never did."""
    t0 = time.monotonic()
    for i in range(int(limit / interval)):
        try:
            s.sendall(payload[i % len(payload):i % len(payload) + 1])
        except (BrokenPipeError, ConnectionResetError):
            return time.monotonic() - t0
        try:
            s.settimeout(interval)
            if s.recv(4096) == b"":
                return time.monotonic() - t0
        except socket.timeout:
            pass
        except ConnectionResetError:
            return time.monotonic() - t0
    return None


# ---- header deadline ------------------------------------------------------------

def test_trickled_headers_are_cut_at_the_deadline(make_hydrant):
    h = make_hydrant("--header-timeout", "2")
    s = connect(h)
    s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n")
    # one header byte every 0.25 s keeps the idle timeout (120 s) from
    # ever firing; only the deadline can close this
    took = closed_by_server(s, b"X-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n")
    s.close()
    assert took is not None, "a connection trickling its headers was never closed"
    assert took >= 1.0  # not before the deadline: it was sending all along
    # the server goes on serving
    assert h.client("sts").get_caller_identity()["Account"] == "000000000000"


def list_buckets_raw(h):
    """A signed ListBuckets as bytes (refusals close the connection; this
    is answered 200 and keeps it open)."""
    hdrs = sign_headers(h, "GET", "/", b"", {}, "s3")
    raw = "GET / HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n" % h.port
    return (raw + "".join("%s: %s\r\n" % kv for kv in hdrs.items()) + "\r\n").encode()


def test_keepalive_idle_is_not_cut_but_a_trickled_next_request_is(make_hydrant):
    h = make_hydrant("--header-timeout", "2")
    s = connect(h)
    s.sendall(list_buckets_raw(h))
    first = read_response(s)
    assert first is not None and first[0] == 200, first
    assert first[1].get("connection", "").lower() != "close"
    # idle between requests for longer than the header deadline: a
    # keep-alive connection is left to the idle timeout, as SDK pools expect
    time.sleep(3.5)
    s.sendall(list_buckets_raw(h))
    second = read_response(s)
    assert second is not None and second[0] == 200, "idle keep-alive connection was cut"
    # the next request begun and trickled: the deadline applies again
    took = closed_by_server(s, b"GET / HTTP/1.1\r\nHost: x\r\nX-Slow: aaaaaaaaaaaaaaaa\r\n")
    s.close()
    assert took is not None, "a trickled keep-alive request was never closed"


def test_silent_new_connection_is_cut_at_the_deadline(make_hydrant):
    # a connection that opens and sends nothing holds a slot as well
    h = make_hydrant("--header-timeout", "2")
    s = connect(h)
    s.settimeout(15)
    t0 = time.monotonic()
    try:
        got = s.recv(4096)
    except ConnectionResetError:
        got = b""
    assert got == b"" and time.monotonic() - t0 < 14, "a silent connection stayed open"
    s.close()


# ---- too many headers -------------------------------------------------------------

def test_too_many_headers_refused_in_each_apis_shape(hydrant):
    many = "".join("X-H%d: v\r\n" % i for i in range(150))
    # Firehose: JSON, HTTP's 431 (AWS documents no answer for it)
    s = connect(hydrant)
    s.sendall(("POST / HTTP/1.1\r\nHost: x\r\nX-Amz-Target: Firehose_20150804.PutRecord\r\n"
               "Content-Type: application/x-amz-json-1.1\r\nContent-Length: 2\r\n"
               + many + "\r\n{}").encode())
    r = read_response(s)
    s.close()
    assert r is not None and r[0] == 431, r
    assert json.loads(r[2])["__type"] == "RequestHeaderSectionTooLarge"
    # S3: XML, 400 RequestHeaderSectionTooLarge as S3 answers it
    s = connect(hydrant)
    s.sendall(("GET /some-bucket HTTP/1.1\r\nHost: x\r\n" + many + "\r\n").encode())
    r = read_response(s)
    s.close()
    assert r is not None and r[0] == 400, r
    assert r[1].get("content-type", "").startswith("application/xml")
    assert b"<Code>RequestHeaderSectionTooLarge</Code>" in r[2]
    # 100 headers are still fine: the refusal is about the count
    s = connect(hydrant)
    s.sendall(("GET / HTTP/1.1\r\nHost: x\r\n" + "".join(
        "X-H%d: v\r\n" % i for i in range(98)) + "\r\n").encode())
    r = read_response(s)
    s.close()
    assert r is not None and r[0] == 403 and b"AccessDenied" in r[2], r


# ---- connections per address ------------------------------------------------------

def test_per_ip_cap_refuses_one_address_not_another(make_hydrant):
    h = make_hydrant("--max-conns-per-ip", "3")
    held = [connect(h, "127.0.0.2") for _ in range(3)]
    time.sleep(0.3)  # accepted by the server, not just queued
    extra = connect(h, "127.0.0.2")
    try:
        extra.sendall(GET)
    except (BrokenPipeError, ConnectionResetError):
        pass
    assert read_response(extra) is None, "connection 4 from one address was served"
    extra.close()
    other = connect(h, "127.0.0.3")
    other.sendall(GET)
    r = read_response(other)
    assert r is not None and r[0] == 403, "another address could not get in"
    other.close()
    # the three that got in are served
    held[0].sendall(GET)
    r = read_response(held[0])
    assert r is not None and r[0] == 403
    for s in held:
        s.close()


# ---- in-flight body budget --------------------------------------------------------

def hold_firehose_body(h, declared, sent=b"{"):
    """A Firehose request that passes admission (a known key, a firehose
    scope, a signed target) and declares a body it never finishes: the
    server holds its reservation while it waits. Returns the socket."""
    hdrs = sign_headers(h, "POST", "/", b"{}", {
        "Content-Type": "application/x-amz-json-1.1",
        "X-Amz-Target": "Firehose_20150804.PutRecordBatch"}, "firehose")
    hdrs["Content-Length"] = str(declared)
    raw = "POST / HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n" % h.port
    raw += "".join("%s: %s\r\n" % kv for kv in hdrs.items()) + "\r\n"
    s = connect(h)
    s.sendall(raw.encode() + sent)
    return s


def files_containing(root, needle):
    hits = []
    for d, _, names in os.walk(root):
        for n in names:
            p = os.path.join(d, n)
            try:
                with open(p, "rb") as f:
                    if needle in f.read():
                        hits.append(p)
            except OSError:
                pass
    return hits


def test_over_budget_gets_503_in_each_shape_and_nothing_is_kept(make_hydrant):
    h = make_hydrant("--max-inflight-bytes", str(20 << 20), "--durability", "os")
    s3 = h.client("s3")
    s3.create_bucket(Bucket="budget")
    fh = h.client("firehose")
    fh.create_delivery_stream(
        DeliveryStreamName="budget", DeliveryStreamType="DirectPut",
        ExtendedS3DestinationConfiguration={
            "RoleARN": "arn:aws:iam::000000000000:role/x",
            "BucketARN": "arn:aws:s3:::budget",
            "BufferingHints": {"SizeInMBs": 1, "IntervalInSeconds": 60}})
    wait_active(fh, "budget")
    marker = uuid.uuid4().hex.encode()
    put = json.dumps({"DeliveryStreamName": "budget",
                      "Record": {"Data": __import__("base64").b64encode(marker).decode()}})
    firehose_hdrs = {"Content-Type": "application/x-amz-json-1.1",
                     "X-Amz-Target": "Firehose_20150804.PutRecord"}
    # unfinished large bodies: 17 MiB of the 17.5 MiB (7/8) large bodies
    # may use; another large one is refused, a small PutRecord is not
    holds = [hold_firehose_body(h, n) for n in (8 << 20, 8 << 20, 1 << 20)]
    time.sleep(0.3)
    big = hold_firehose_body(h, 1 << 20)
    r = read_response(big)
    big.close()
    assert r is not None and r[0] == 503, r
    assert json.loads(r[2])["__type"] == "ServiceUnavailableException"
    status, _, body = signed_request(h, body=json.dumps({
        "DeliveryStreamName": "budget", "Record": {"Data": "YQo="}}), headers=firehose_hdrs)
    assert status == 200, (status, body)
    # small unfinished bodies take the rest: 48 x 64 KiB, the budget is full
    holds += [hold_firehose_body(h, 64 << 10) for _ in range(48)]
    time.sleep(0.3)
    status, hdrs, body = signed_request(h, body=put, headers=firehose_hdrs)
    assert status == 503, (status, body)
    assert json.loads(body)["__type"] == "ServiceUnavailableException"
    assert hdrs.get("x-amzn-ErrorType", "").startswith("ServiceUnavailableException")

    status, hdrs, body = signed_request(h, "PUT", "/budget/refused-key", body=marker,
                                        headers={}, service="s3")
    assert status == 503, (status, body)
    assert hdrs.get("Content-Type", "").startswith("application/xml")
    assert b"<Code>SlowDown</Code>" in body

    # a body with no declared length is counted as it arrives (and, past
    # the budget, dropped as it arrives: the answer comes at its end)
    s = connect(h)
    chdrs = sign_headers(h, "POST", "/", b"{}", firehose_hdrs, "firehose")
    raw = "POST / HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nTransfer-Encoding: chunked\r\n" % h.port
    raw += "".join("%s: %s\r\n" % kv for kv in chdrs.items()) + "\r\n"
    s.sendall(raw.encode() + b"%x\r\n%s\r\n0\r\n\r\n" % (len(put), put.encode()))
    r = read_response(s)
    s.close()
    assert r is not None and r[0] == 503, r
    assert json.loads(r[2])["__type"] == "ServiceUnavailableException"

    # nothing of the refused requests was kept anywhere
    assert "Contents" not in s3.list_objects_v2(Bucket="budget")
    assert files_containing(h.data_dir, marker) == []

    # the budget comes back when the holders go away
    for s in holds:
        s.close()
    ok = wait_for(lambda: signed_request(h, body=put, headers=firehose_hdrs)[0] == 200, 10)
    assert ok
    assert files_containing(h.data_dir, marker), "the accepted record is not in the WAL"


def test_budget_below_the_largest_body_is_refused(tmp_path, make_hydrant):
    r = subprocess.run([BIN, "--port", "0", "--data-dir", str(tmp_path / "d"),
                        "--max-inflight-bytes", str(18 << 20)],
                       capture_output=True, text=True, timeout=10)
    assert r.returncode == 2
    assert "--max-inflight-bytes" in r.stderr and "--max-body" in r.stderr
    # with smaller bodies, a smaller budget is enough
    h = make_hydrant("--max-inflight-bytes", str(2 << 20), "--max-body", str(1 << 20))
    assert h.client("sts").get_caller_identity()["Account"] == "000000000000"


# ---- modes ------------------------------------------------------------------------

def test_spool_file_and_dirs_are_private(make_hydrant):
    h = make_hydrant()
    assert stat.S_IMODE(os.stat(h.data_dir).st_mode) == 0o700
    h.client("s3").create_bucket(Bucket="modes")
    body = os.urandom(3 << 20)
    hdrs = sign_headers(h, "PUT", "/modes/big", body, {}, "s3")
    hdrs["Content-Length"] = str(len(body))
    raw = "PUT /modes/big HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n" % h.port
    raw += "".join("%s: %s\r\n" % kv for kv in hdrs.items()) + "\r\n"
    s = connect(h)
    s.sendall(raw.encode() + body[:2 << 20])  # past the 1 MiB spool threshold
    spool = os.path.join(h.data_dir, "store", "tmp")
    files = wait_for(lambda: [f for f in os.listdir(spool) if f.startswith("spool-")], 10)
    assert stat.S_IMODE(os.stat(os.path.join(spool, files[0])).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(spool).st_mode) == 0o700
    s.sendall(body[2 << 20:])
    r = read_response(s)
    s.close()
    assert r is not None and r[0] == 200, r
    assert h.client("s3").head_object(Bucket="modes", Key="big")["ContentLength"] == len(body)
    assert [f for f in os.listdir(spool) if f.startswith("spool-")] == []
