#!/usr/bin/python3
"""bench/sinks.py -- delivery to external destinations, in numbers.

1. Delivery throughput, the embedded store next to an external S3 (a real
   Ceph RGW from ../shared/ceph/up.sh, and a second hydrant as the
   external S3): the records are put while the destination is
   unreachable, hydrant is killed (-9) and restarted pointed at the
   target, and the time from the restart to the last byte listed in the
   bucket is delivery's alone (recovery, then the sink): MB/s with 64 MiB
   objects (multipart above 16 MiB), MB/s and objects/s with small ones
   (SizeInMBs 1; a PutRecordBatch of 40 records of 100 KiB lands in one).
2. A stalled destination does not slow PutRecord on another stream:
   PutRecord latency on a healthy stream while another stream's bucket
   sits on an endpoint that accepts connections and never answers (the
   delivery worker on it waits for the sink's low-speed timeout), as a
   ratio to the same run with nothing stalled; once with one batch of the
   other stream held by the stalled endpoint, once with twenty.

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


def free_port():
    sk = socket.socket()
    sk.bind(("127.0.0.1", 0))
    port = sk.getsockname()[1]
    sk.close()
    return port


def run_phase(label, target_flags, target_s3, make_bucket, mb, size_mb, tmp):
    """Puts mb MiB while the destination is unreachable, kill -9, restarts
    pointed at the target: the backlog is then delivered by recovery alone,
    so the time to the last byte listed is delivery's, not the producer's."""
    data = os.path.join(tmp, "h-%s-%d" % (label.replace(" ", "_").replace(":", ""), size_mb))
    dead = ["--s3-endpoint", "http://127.0.0.1:%d" % free_port(), "--s3-access-key-id", "a",
            "--s3-secret-access-key", "b"]
    h = Hydrant(data, dead).start()
    fh = h.client("firehose")
    bucket = "bench-%d" % size_mb               # a fresh bucket per phase
    make_bucket(h.client("s3"), bucket)         # for the embedded-store run
    make_bucket(target_s3(h), bucket)
    # interval 10 s: the last, partial buffer is taken (and fails) before the kill too, so
    # the whole backlog is batches with fixed keys, delivered as soon as recovery runs
    stream(fh, "bench", bucket, size_mb, 10 if size_mb > 1 else 0)
    # 1000 KiB records for 64 MiB objects; 100 KiB ones for ~1 MiB objects
    rec = b"L" * ((1000 if size_mb > 1 else 100) * 1024 - 1) + b"\n"
    per = 4 if size_mb > 1 else 40
    want = 0
    for _ in range(mb // 4):
        r = fh.put_record_batch(DeliveryStreamName="bench", Records=[{"Data": rec}] * per)
        assert r["FailedPutCount"] == 0
        want += per * len(rec)
    time.sleep(13 if size_mb > 1 else 2)
    h.proc.send_signal(signal.SIGKILL)
    h.proc.wait()
    h.stop()
    h.args = list(target_flags)
    t0 = time.monotonic()
    h.start()
    try:
        s3 = target_s3(h)
        wait_for(lambda: bucket_bytes(s3, bucket)[1] >= want, 900, 0.1)
        dt = time.monotonic() - t0
        nobj, total = bucket_bytes(s3, bucket)
        return total / dt / 1e6, nobj / dt, nobj, dt
    finally:
        h.stop()


def run_throughput(label, flags, s3_of, make_bucket, mb, tmp):
    big = run_phase(label, flags, s3_of, make_bucket, mb, 64, tmp)
    small = run_phase(label, flags, s3_of, make_bucket, min(mb, 128), 1, tmp)
    print("%-20s %d MiB in 64 MiB objects: %6.1f MB/s (%d objects, %.1f s)   "
          "small objects (SizeInMBs 1, %.1f MB each on average): %6.1f MB/s, %5.1f objects/s "
          "(%d objects, %.1f s)" % (
              label, mb, big[0], big[2], big[3], small[0] * small[3] / max(small[2], 1),
              small[0], small[1], small[2], small[3]), flush=True)


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
    for mode, stuck_puts in (("unstalled", 20), ("stalled, 1 batch", 1),
                             ("stalled, 20 batches", 20)):
        stalled = mode != "unstalled"
        staller = Staller()
        conf = os.path.join(tmp, "dest-%s.json" % mode.replace(" ", "").replace(",", ""))
        buckets = {}
        if stalled:
            buckets["stuck-bucket"] = {"endpoint": "http://127.0.0.1:%d" % staller.port,
                                       "access_key_id": "a", "secret_access_key": "b"}
        with open(conf, "w") as f:
            json.dump({"buckets": buckets}, f)
        h = Hydrant(conf + ".data", ["--destinations", conf]).start()
        try:
            fh = h.client("firehose")
            s3 = h.client("s3")
            s3.create_bucket(Bucket="healthy")
            s3.create_bucket(Bucket="stuck-bucket")
            stream(fh, "healthy", "healthy", 1, 0)
            stream(fh, "stuck", "stuck-bucket", 1, 0)
            for i in range(stuck_puts):   # the other stream gets data: a worker waits on it
                fh.put_record(DeliveryStreamName="stuck", Record={"Data": b"x%d\n" % i})
                time.sleep(0.05)
            time.sleep(2)
            lat = put_latency(fh, "healthy", n)
            results[mode] = lat
            t0 = time.monotonic()
            wait_for(lambda: bucket_bytes(s3, "healthy")[1] >= sum(
                len(b"r%06d\n" % i) for i in range(n)), 300, 0.2)
            print("%-20s PutRecord on the healthy stream: median %.2f ms, p99 %.2f ms, "
                  "%.0f puts/s; its records all delivered %.1f s after the last put" % (
                      mode, statistics.median(lat) * 1e3,
                      sorted(lat)[int(len(lat) * 0.99) - 1] * 1e3, n / sum(lat),
                      time.monotonic() - t0), flush=True)
        finally:
            h.stop(signal.SIGKILL)   # the stalled worker would hold a SIGTERM drain
            staller.sock.close()
    a = results["unstalled"]
    for mode in ("stalled, 1 batch", "stalled, 20 batches"):
        b = results[mode]
        print("ratio %s / unstalled: median latency %.2f, throughput %.2f" % (
            mode, statistics.median(b) / statistics.median(a), sum(a) / sum(b)))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--mb", type=int, default=256)
    ap.add_argument("--no-ceph", action="store_true")
    ap.add_argument("--puts", type=int, default=2000)
    args = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="bench-sinks-")

    def create(s3, b):
        try:
            s3.create_bucket(Bucket=b)
        except s3.exceptions.BucketAlreadyOwnedByYou:
            pass

    print("== delivery throughput: a backlog put while the destination was unreachable, "
          "delivered by recovery after kill -9 (restart to the last byte listed)")
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
