#!/usr/bin/python3
"""bench/sinks.py -- delivery to external destinations, in numbers.

1. Delivery throughput, the embedded store next to an external S3 (a real
   Ceph RGW from ../shared/ceph/up.sh, and a second hydrant as the
   external S3): MB/s for large objects (records of 1000 KiB, 64 MiB
   buffers: multipart above 16 MiB) and objects/s for small ones (1 KiB
   records, a new object as soon as the previous is written), timed from
   the first put until the last byte is listed in the bucket.
2. A stalled destination does not slow PutRecord on another stream:
   PutRecord latency on a healthy stream while another stream's bucket
   sits on an endpoint that accepts connections and never answers (the
   delivery worker on it waits for the sink's low-speed timeout), as a
   ratio to the same run with nothing stalled.

Prints numbers; asserts nothing about them (style.md: timing goals live
here, not in tests). Usage:

    HYDRANT_BIN=build/hydrant /usr/bin/python3 bench/sinks.py [--mb 256] [--no-ceph]
"""
import argparse
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tests", "integration"))
from conftest import Hydrant, wait_active, wait_for  # noqa: E402
from test_s3_remote import External  # noqa: E402


def stream(fh, name, bucket, size_mb, interval):
    fh.create_delivery_stream(
        DeliveryStreamName=name, DeliveryStreamType="DirectPut",
        ExtendedS3DestinationConfiguration={
            "RoleARN": "arn:aws:iam::000000000000:role/r",
            "BucketARN": "arn:aws:s3:::" + bucket,
            "BufferingHints": {"SizeInMBs": size_mb, "IntervalInSeconds": interval}})
    wait_active(fh, name)


def bucket_bytes(s3, bucket):
    n = total = 0
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        for o in page.get("Contents", []):
            n += 1
            total += o["Size"]
    return n, total


def run_throughput(label, flags, s3_of, make_bucket, mb, tmp):
    h = Hydrant(os.path.join(tmp, "h-" + label), flags).start()
    try:
        fh = h.client("firehose")
        s3 = s3_of(h)
        # large objects
        make_bucket(s3, "bench-large")
        stream(fh, "large", "bench-large", 64, 1)
        rec = b"L" * (1000 * 1024 - 1) + b"\n"
        want = 0
        t0 = time.monotonic()
        for _ in range(mb // 4):
            r = fh.put_record_batch(DeliveryStreamName="large", Records=[{"Data": rec}] * 4)
            assert r["FailedPutCount"] == 0
            want += 4 * len(rec)
        wait_for(lambda: bucket_bytes(s3, "bench-large")[1] >= want, 600, 0.2)
        dt = time.monotonic() - t0
        nobj, _ = bucket_bytes(s3, "bench-large")
        large = (want / dt / 1e6, nobj, dt)
        # small objects
        make_bucket(s3, "bench-small")
        stream(fh, "small", "bench-small", 1, 0)
        small = b"s" * 1023 + b"\n"
        t0 = time.monotonic()
        for _ in range(100):
            fh.put_record_batch(DeliveryStreamName="small", Records=[{"Data": small}] * 10)
            time.sleep(0.005)
        wait_for(lambda: bucket_bytes(s3, "bench-small")[1] >= 1000 * len(small), 300, 0.2)
        dt2 = time.monotonic() - t0
        nsmall, _ = bucket_bytes(s3, "bench-small")
        print("%-22s large: %7.1f MB/s (%d MiB in %d objects, %.1f s)   small: %5.1f objects/s "
              "(%d objects, %.1f s)" % (label, large[0], mb, large[1], large[2],
                                        nsmall / dt2, nsmall, dt2), flush=True)
    finally:
        h.stop()


class Staller:
    """Accepts TCP connections and never answers."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        self.conns = []
        threading.Thread(target=self.loop, daemon=True).start()

    def loop(self):
        while True:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            self.conns.append(c)


def put_latency(fh, name, n):
    lat = []
    for i in range(n):
        t = time.monotonic()
        fh.put_record(DeliveryStreamName=name, Record={"Data": b"r%06d\n" % i})
        lat.append(time.monotonic() - t)
    return lat


def run_stall(tmp, n):
    results = {}
    for stalled in (False, True):
        staller = Staller()
        conf = os.path.join(tmp, "dest-%d.json" % stalled)
        buckets = {}
        if stalled:
            buckets["stuck-bucket"] = {"endpoint": "http://127.0.0.1:%d" % staller.port,
                                       "access_key_id": "a", "secret_access_key": "b"}
        with open(conf, "w") as f:
            json.dump({"buckets": buckets}, f)
        h = Hydrant(os.path.join(tmp, "stall-%d" % stalled), ["--destinations", conf]).start()
        try:
            fh = h.client("firehose")
            s3 = h.client("s3")
            s3.create_bucket(Bucket="healthy")
            s3.create_bucket(Bucket="stuck-bucket")
            stream(fh, "healthy", "healthy", 1, 0)
            stream(fh, "stuck", "stuck-bucket", 1, 0)
            for i in range(20):   # the stuck stream gets data: its worker waits on it
                fh.put_record(DeliveryStreamName="stuck", Record={"Data": b"x%d\n" % i})
            time.sleep(2)
            lat = put_latency(fh, "healthy", n)
            results[stalled] = lat
            t0 = time.monotonic()
            wait_for(lambda: bucket_bytes(s3, "healthy")[1] >= sum(
                len(b"r%06d\n" % i) for i in range(n)), 300, 0.2)
            print("stalled=%-5s PutRecord on the healthy stream: median %.2f ms, p99 %.2f ms, "
                  "%.0f puts/s; its records all delivered %.1f s after the last put" % (
                      stalled, statistics.median(lat) * 1e3,
                      sorted(lat)[int(len(lat) * 0.99) - 1] * 1e3, n / sum(lat),
                      time.monotonic() - t0), flush=True)
        finally:
            h.stop(signal.SIGKILL)   # the stalled worker would hold a SIGTERM drain
            staller.sock.close()
    a, b = results[False], results[True]
    print("ratio stalled/unstalled: median latency %.2f, throughput %.2f" % (
        statistics.median(b) / statistics.median(a), sum(a) / sum(b)))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--mb", type=int, default=256)
    ap.add_argument("--no-ceph", action="store_true")
    ap.add_argument("--puts", type=int, default=2000)
    args = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="bench-sinks-")

    def create(s3, b):
        s3.create_bucket(Bucket=b)

    print("== delivery throughput (records put with PutRecordBatch, timed to the last "
          "byte listed)")
    run_throughput("embedded store", [], lambda h: h.client("s3"), create, args.mb, tmp)
    ext = External("hydrant", tmp).up()
    try:
        run_throughput("external: hydrant", ext.flags(), lambda h: ext.s3(), create,
                       args.mb, tmp)
    finally:
        ext.down()
    if not args.no_ceph:
        ceph = External("ceph", tmp)
        try:
            ceph.up()
        except BaseException as e:  # pytest.fail outside pytest
            sys.exit("Ceph RGW did not start: %s" % e)
        try:
            run_throughput("external: Ceph RGW", ceph.flags(), lambda h: ceph.s3(), create,
                           args.mb, tmp)
        finally:
            ceph.down()
    print("== PutRecord on one stream while another stream's destination is stalled")
    run_stall(tmp, args.puts)


if __name__ == "__main__":
    main()
