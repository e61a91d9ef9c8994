"""Bad input of any kind gets a clear answer and leaves the server running:
header and URL limits, malformed HTTP, oversized bodies, abrupt clients,
SIGTERM under load."""
import json
import signal
import socket
import threading
import time

from conftest import Hydrant, firehose_call, wait_active


def exchange(h, raw, timeout=5):
    s = socket.create_connection(("127.0.0.1", h.port), timeout=timeout)
    try:
        s.sendall(raw)
        return s.recv(4096)
    except (ConnectionResetError, socket.timeout):
        return b""
    finally:
        s.close()


def test_limits_and_garbage(hydrant):
    hdrs = b"".join(b"X-H%d: v\r\n" % i for i in range(150))
    # S3's answer to too many headers (test_limits.py checks each API's shape)
    assert exchange(hydrant, b"GET / HTTP/1.1\r\nHost: x\r\n" + hdrs + b"\r\n") \
        .startswith(b"HTTP/1.1 400")
    assert exchange(hydrant, b"GET /" + b"a" * 40000 + b" HTTP/1.1\r\nHost: x\r\n\r\n") \
        .startswith(b"HTTP/1.1 414")
    for junk in [b"\x00\x01\x02\r\n\r\n", b"GET\r\n\r\n", b"GET / HTTP/9.9\r\n\r\n",
                 b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n\r\n",
                 b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n"]:
        r = exchange(hydrant, junk)
        assert r == b"" or r.startswith((b"HTTP/1.1 4", b"HTTP/1.1 505")), (junk, r[:40])
    # a client that announces a body and vanishes
    s = socket.create_connection(("127.0.0.1", hydrant.port))
    s.sendall(b"PUT /b/k HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000\r\n\r\nabc")
    s.close()
    assert hydrant.client("sts").get_caller_identity()["Account"] == "000000000000"


def test_oversized_firehose_body(make_hydrant):
    h = make_hydrant("--max-body", str(1 << 20))
    # refused on the declared length, before the body is read
    r = exchange(h, b"POST / HTTP/1.1\r\nHost: x\r\n"
                    b"Content-Type: application/x-amz-json-1.1\r\n"
                    b"X-Amz-Target: Firehose_20150804.PutRecordBatch\r\n"
                    b"Content-Length: 2097152\r\n\r\n")
    head, _, body = r.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 413")
    assert json.loads(body)["__type"] == "RequestEntityTooLargeException"
    assert h.client("firehose").list_delivery_streams()["DeliveryStreamNames"] == []


def test_sigterm_under_load_exits_cleanly(tmp_path):
    h = Hydrant(str(tmp_path / "data")).start()
    h.client("s3").create_bucket(Bucket="load-bucket")
    fh = h.client("firehose")
    fh.create_delivery_stream(
        DeliveryStreamName="load",
        S3DestinationConfiguration={"RoleARN": "arn:aws:iam::000000000000:role/R",
                                    "BucketARN": "arn:aws:s3:::load-bucket"})
    wait_active(fh, "load")
    stop = threading.Event()
    acked = []

    def produce(tid):
        c = h.client("firehose")
        i = 0
        while not stop.is_set():
            recs = [b"%d-%d\n" % (tid, i + k) for k in range(20)]
            i += 20
            try:
                r = c.put_record_batch(DeliveryStreamName="load",
                                       Records=[{"Data": x} for x in recs])
                acked.extend(x for x, rr in zip(recs, r["RequestResponses"])
                             if "RecordId" in rr)
            except Exception:
                return
    threads = [threading.Thread(target=produce, args=(t,)) for t in range(4)]
    for t in threads:
        t.start()
    time.sleep(1.0)
    assert h.stop(signal.SIGTERM) == 0  # answers owed to waiting puts are safe
    stop.set()
    for t in threads:
        t.join(10)
    h.start()
    s3 = h.client("s3")
    got = set()
    for o in s3.list_objects_v2(Bucket="load-bucket").get("Contents", []):
        got.update(s3.get_object(Bucket="load-bucket", Key=o["Key"])["Body"].read()
                   .splitlines(keepends=True))
    assert acked and set(acked) <= got
    h.stop()
