"""No acknowledged record is ever lost: kill -9 crash loop, torn tail,
corruption in the middle, disk full, backpressure, SIGTERM drain.

Every test runs the real binary; crashes are real SIGKILLs.
"""
import glob
import os
import random
import signal
import subprocess
import threading
import time

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError

from conftest import BIN, ROOT, Hydrant, crc32c, delivered_lines, wait_active, wait_for

ROLE = "arn:aws:iam::000000000000:role/FirehoseDeliveryRole"


def make_stream(fh, name, bucket, size_mb=1, interval=1):
    fh.create_delivery_stream(
        DeliveryStreamName=name, DeliveryStreamType="DirectPut",
        S3DestinationConfiguration={
            "RoleARN": ROLE, "BucketARN": "arn:aws:s3:::" + bucket,
            "BufferingHints": {"SizeInMBs": size_mb, "IntervalInSeconds": interval}})
    wait_active(fh, name)




def wal_files(data_dir):
    return sorted(glob.glob(os.path.join(data_dir, "wal", "*.wal")))


class Producer:
    """Threads that put unique records and remember which were acknowledged."""

    def __init__(self, h, stream, threads=3, batch=40, encode=None):
        """encode: ids -> the records put (default: each id and a newline)."""
        self.h, self.stream, self.batch = h, stream, batch
        self.encode = encode or (lambda ids: [x + b"\n" for x in ids])
        self.acked, self.sent = set(), set()
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.threads = [threading.Thread(target=self.run, args=(i,)) for i in range(threads)]
        self.seq = [0] * threads

    def run(self, tid):
        fh = self.h.client("firehose", config_kw={"connect_timeout": 2, "read_timeout": 5})
        while not self.stop.is_set():
            recs = []
            for _ in range(self.batch):
                recs.append(b"t%d-%d-%s" % (tid, self.seq[tid], os.urandom(6).hex().encode()))
                self.seq[tid] += 1
            with self.lock:
                self.sent.update(recs)
            try:
                r = fh.put_record_batch(DeliveryStreamName=self.stream,
                                        Records=[{"Data": x} for x in self.encode(recs)])
            except Exception:
                # killed mid-request: not acknowledged, the client would retry
                time.sleep(0.05)
                continue
            ok = [x for x, rr in zip(recs, r["RequestResponses"]) if "RecordId" in rr]
            with self.lock:
                self.acked.update(ok)

    def start(self):
        for t in self.threads:
            t.start()

    def join(self):
        self.stop.set()
        for t in self.threads:
            t.join(30)


def test_crash_loop_loses_nothing(tmp_path):
    """5 kill -9 at random moments under load; every acknowledged record
    ends up in the bucket exactly once."""
    data = str(tmp_path / "data")
    h = Hydrant(data).start()
    h.client("s3").create_bucket(Bucket="crash-bucket")
    make_stream(h.client("firehose"), "crash-stream", "crash-bucket", size_mb=1, interval=1)
    rnd = random.Random(int(os.environ.get("CRASH_SEED", "7")))
    acked, sent = set(), set()
    for kill in range(5):
        p = Producer(h, "crash-stream")
        p.start()
        time.sleep(rnd.uniform(0.4, 1.6))
        h.proc.send_signal(signal.SIGKILL)  # in the middle of the load
        h.proc.wait()
        p.join()
        acked |= p.acked
        sent |= p.sent
        h.stop()
        h.start()
    # the last start delivers everything left in the log
    s3 = h.client("s3")
    assert len(acked) > 500, "the load generator should have got records in"

    def all_in():
        got = delivered_lines(s3, "crash-bucket")
        return got if acked <= set(got) else None
    got = wait_for(all_in, timeout=60, interval=0.5)
    lost = acked - set(got)
    dup = {k: v for k, v in got.items() if v > 1}
    stray = set(got) - sent
    print("crash loop: %d acknowledged, %d delivered, %d lost, %d duplicated"
          % (len(acked), len(got), len(lost), len(dup)))
    assert not lost
    assert not dup
    assert not stray
    assert h.stop() == 0


def test_sigterm_drains_and_exits_zero(tmp_path):
    data = str(tmp_path / "data")
    h = Hydrant(data).start()
    h.client("s3").create_bucket(Bucket="term-bucket")
    fh = h.client("firehose")
    make_stream(fh, "term-stream", "term-bucket", size_mb=128, interval=900)
    fh.put_record_batch(DeliveryStreamName="term-stream",
                        Records=[{"Data": b"x%d\n" % i} for i in range(50)])
    assert h.stop(signal.SIGTERM) == 0
    assert "stopped" in h.read_log()
    h.start()
    got = delivered_lines(h.client("s3"), "term-bucket")
    assert got == {b"x%d" % i: 1 for i in range(50)}
    h.stop()


def test_undeliverable_records_survive_restart(tmp_path):
    """The bucket is missing at shutdown: the failed batch is parked in a
    spill file (off the log), handed out again after the next start, and
    delivered once the bucket exists."""
    data = str(tmp_path / "data")
    h = Hydrant(data).start()
    fh = h.client("firehose")
    make_stream(fh, "wait-stream", "later-bucket", interval=0)
    fh.put_record(DeliveryStreamName="wait-stream", Record={"Data": b"kept-1\n"})
    wait_for(lambda: "does not exist" in h.read_log(), timeout=10)
    assert h.stop() == 0
    h.start()
    assert glob.glob(os.path.join(data, "spill", "*.spill"))
    assert "recovery: 1 parked batches" in h.read_log()
    s3 = h.client("s3")
    s3.create_bucket(Bucket="later-bucket")
    got = wait_for(lambda: delivered_lines(s3, "later-bucket"), timeout=40)
    assert got == {b"kept-1": 1}
    h.stop()


def kill_with_buffered(tmp_path, n=20):
    data = str(tmp_path / "data")
    h = Hydrant(data).start()
    h.client("s3").create_bucket(Bucket="rec-bucket")
    fh = h.client("firehose")
    make_stream(fh, "rec-stream", "rec-bucket", size_mb=128, interval=900)
    for i in range(n):
        fh.put_record(DeliveryStreamName="rec-stream", Record={"Data": b"rec-%02d\n" % i})
    h.stop(signal.SIGKILL)
    return h, data


def test_recovery_after_kill(tmp_path):
    h, data = kill_with_buffered(tmp_path)
    h.start()
    assert "recovered 20 undelivered records" in h.read_log()
    h.stop()  # SIGTERM delivers them
    h.start()
    got = delivered_lines(h.client("s3"), "rec-bucket")
    assert got == {b"rec-%02d" % i: 1 for i in range(20)}
    h.stop()


def frames_end(path):
    """Offset just past the last frame of a segment: frames are a header
    (40 bytes in HYDRWAL3 segments, whose header is 32; 32 and 16 in older
    ones; length at 4, type 1-3 at 8) and the payload; small commits lay
    zeros down after them, which is where the next frame would go."""
    with open(path, "rb") as f:
        img = f.read()
    off, hl = (32, 40) if img[:8] == b"HYDRWAL3" else (16, 32)
    while off + hl <= len(img) and img[off + 8] in (1, 2, 3):
        off += hl + int.from_bytes(img[off + 4:off + 8], "little")
    return off


def test_torn_tail_is_truncated_and_reported(tmp_path):
    h, data = kill_with_buffered(tmp_path)
    seg = [f for f in wal_files(data) if os.path.getsize(f) > 16][-1]
    with open(seg, "r+b") as f:  # a write interrupted half way
        f.seek(frames_end(seg))
        f.write(b"\x10\x00\x00\x00" + os.urandom(21))
    h.start()
    log = h.read_log()
    assert "torn tail of 25 bytes" in log
    h.stop()
    h.start()
    got = delivered_lines(h.client("s3"), "rec-bucket")
    assert got == {b"rec-%02d" % i: 1 for i in range(20)}
    h.stop()


def test_corrupt_middle_is_reported_rest_recovered(tmp_path):
    h, data = kill_with_buffered(tmp_path)
    seg = [f for f in wal_files(data) if os.path.getsize(f) > 16][-1]
    raw = bytearray(open(seg, "rb").read())
    at = raw.find(b"rec-07")
    assert at > 0
    raw[at + 4] ^= 0x55  # one flipped byte in record 7's payload
    open(seg, "wb").write(bytes(raw))
    h.start()
    log = h.read_log()
    assert "bad frame" in log and "recovery continues" in log
    h.stop()
    h.start()
    got = delivered_lines(h.client("s3"), "rec-bucket")
    assert got == {b"rec-%02d" % i: 1 for i in range(20) if i != 7}
    h.stop()


def test_backpressure_partial_failures_then_all_arrive(make_hydrant):
    h = make_hydrant("--max-buffered", "4000")
    s3, fh = h.client("s3"), h.client("firehose")
    s3.create_bucket(Bucket="bp-bucket")
    make_stream(fh, "bp-stream", "bp-bucket", interval=1)
    pending = [b"bp-%03d-%s\n" % (i, b"y" * 80) for i in range(200)]
    failed_seen = 0
    single_busy = False
    deadline = time.monotonic() + 60
    while pending and time.monotonic() < deadline:
        r = fh.put_record_batch(DeliveryStreamName="bp-stream",
                                Records=[{"Data": d} for d in pending[:100]])
        failed = [d for d, rr in zip(pending, r["RequestResponses"]) if "ErrorCode" in rr]
        for rr in r["RequestResponses"]:
            if "ErrorCode" in rr:
                assert rr["ErrorCode"] == "ServiceUnavailableException"
                assert rr["ErrorMessage"] == "Slow down."
        assert r["FailedPutCount"] == len(failed)
        failed_seen += len(failed)
        if failed and not single_busy:
            try:
                fh.put_record(DeliveryStreamName="bp-stream", Record={"Data": b"z" * 3000})
            except ClientError as e:
                assert e.response["Error"]["Code"] == "ServiceUnavailableException"
                assert e.response["ResponseMetadata"]["HTTPStatusCode"] == 500
                single_busy = True
            else:
                pending.append(b"z" * 3000)  # accepted after all: expect it
        pending = failed + pending[100:]
        if failed:
            time.sleep(0.3)  # back off, as the SDKs do
    assert not pending
    assert failed_seen > 0, "the ceiling should have rejected some records"
    expected = {b"bp-%03d-%s" % (i, b"y" * 80) for i in range(200)}
    got = wait_for(lambda: (lambda g: g if expected <= set(g) else None)(
        delivered_lines(s3, "bp-bucket")), timeout=30)
    assert all(got[k] == 1 for k in expected)


def tmpfs(path, size):
    os.makedirs(path, exist_ok=True)
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=%s" % size, "tmpfs", path],
                       capture_output=True)
    return r.returncode == 0


def test_disk_full_then_resume(tmp_path):
    mnt = str(tmp_path / "small")
    if not tmpfs(mnt, "3m"):
        pytest.skip("cannot mount a tmpfs here (needs root)")
    try:
        data = os.path.join(mnt, "data")
        h = Hydrant(data, args=["--wal-segment-bytes", "262144"])
        h.log_path = str(tmp_path / "enospc.log")
        h.start()
        s3, fh = h.client("s3"), h.client("firehose")
        s3.create_bucket(Bucket="full-bucket")
        make_stream(fh, "full-stream", "full-bucket", size_mb=128, interval=900)
        # fill the disk with a plain file, leaving a little room
        filler = os.path.join(mnt, "filler")
        with open(filler, "wb") as f:
            try:
                while True:
                    f.write(b"\0" * 65536)
                    f.flush()
            except OSError:
                pass
        acked, refused = [], 0
        for i in range(400):
            rec = b"full-%03d-%s\n" % (i, b"q" * 400)
            try:
                fh.put_record(DeliveryStreamName="full-stream", Record={"Data": rec})
                acked.append(rec.strip())
            except ClientError as e:
                assert e.response["Error"]["Code"] == "ServiceUnavailableException"
                refused += 1
        assert refused > 0, "the full disk should have refused puts"
        assert h.alive()
        assert "failed" in h.read_log() and "no space" in h.read_log()
        # space returns: puts work again, by themselves
        os.unlink(filler)
        fh.put_record(DeliveryStreamName="full-stream", Record={"Data": b"after-full\n"})
        acked.append(b"after-full")
        assert h.stop() == 0
        h.start()
        got = delivered_lines(h.client("s3"), "full-bucket")
        assert set(acked) <= set(got)
        assert all(got[k] == 1 for k in acked)
        h.stop()
    finally:
        subprocess.run(["umount", "-l", mnt])


def test_wal_dump_prints_frames(tmp_path):
    h, data = kill_with_buffered(tmp_path, n=3)
    tool = os.path.join(os.path.dirname(BIN), "wal-dump")
    out = subprocess.run([tool, "-d", os.path.join(data, "wal")], capture_output=True,
                         check=True).stdout.decode()
    assert out.count("type=RECORD") == 3
    assert 'data="rec-00\\x0a"' in out
    assert "# 3 frames, 3 records" in out








def wal_frame(ftype, stream_id, lsn, payload, arrival_ms):
    """One frame in docs/WAL.md's format (HYDRWAL2: CRC-32C)."""
    hdr = (len(payload).to_bytes(4, "little") + bytes([ftype, 0, 0, 0])
           + stream_id.to_bytes(4, "little") + lsn.to_bytes(8, "little")
           + arrival_ms.to_bytes(8, "little"))
    return crc32c(hdr + payload).to_bytes(4, "little") + hdr + payload


def seal_payload(first, last, bucket, key):
    return (first.to_bytes(8, "little") + last.to_bytes(8, "little")
            + len(bucket).to_bytes(2, "little") + bucket.encode()
            + len(key).to_bytes(2, "little") + key.encode())


def test_recovery_follows_seal_ranges_not_their_order(tmp_path):
    """A log where a later batch of a stream was sealed and delivered while
    an earlier one was still waiting unsealed (the retry list let a SEAL
    overtake), then a third batch sealed but not delivered. Recovery must
    skip the delivered record (it is in S3 already), rewrite the sealed one
    under exactly its key, and deliver the unsealed one: once each. Reading
    SEALs as cuts from the front of the buffer delivered the second record
    twice."""
    import sqlite3
    data = str(tmp_path / "data")
    h = Hydrant(data).start()
    h.client("s3").create_bucket(Bucket="order-bucket")
    make_stream(h.client("firehose"), "order-stream", "order-bucket", size_mb=1, interval=1)
    assert h.stop() == 0
    db = sqlite3.connect(os.path.join(data, "streams.db"))
    sid = db.execute("SELECT id FROM streams WHERE name='us-east-1/order-stream'").fetchone()[0]
    db.close()
    for f in wal_files(data):
        os.unlink(f)
    now = int(time.time() * 1000)
    key_b, key_c = "2026/12/01/00/sealed-b", "2026/12/01/00/sealed-c"
    frames = [
        wal_frame(1, sid, 101, b"rec-a\n", now),
        wal_frame(1, sid, 102, b"rec-b\n", now),
        wal_frame(2, sid, 103, seal_payload(102, 102, "order-bucket", key_b), now),
        wal_frame(3, sid, 104, (102).to_bytes(8, "little") + (102).to_bytes(8, "little"), now),
        wal_frame(1, sid, 105, b"rec-c\n", now),
        wal_frame(2, sid, 106, seal_payload(105, 105, "order-bucket", key_c), now),
        wal_frame(1, sid, 107, b"rec-d\n", now),
    ]
    with open(os.path.join(data, "wal", "%016x.wal" % 9), "wb") as f:
        f.write(b"HYDRWAL2" + (9).to_bytes(8, "little") + b"".join(frames))
    h.start()
    s3 = h.client("s3")
    want = {b"rec-a": 1, b"rec-c": 1, b"rec-d": 1}
    got = wait_for(lambda: (lambda g: g if set(want) <= set(g) else None)(
        delivered_lines(s3, "order-bucket")), timeout=30)
    assert got == want
    assert s3.get_object(Bucket="order-bucket", Key=key_c)["Body"].read() == b"rec-c\n"
    # a and d are not one object: its range would span the sealed ones
    bodies = sorted(s3.get_object(Bucket="order-bucket", Key=o["Key"])["Body"].read()
                    for o in s3.list_objects_v2(Bucket="order-bucket")["Contents"])
    assert bodies == [b"rec-a\n", b"rec-c\n", b"rec-d\n"]
    # a crash now: the log holds the old frames and the new SEALs; nothing
    # is delivered twice
    h.stop(signal.SIGKILL)
    h.start()
    time.sleep(1.5)
    assert delivered_lines(h.client("s3"), "order-bucket") == want
    h.stop()


def test_a_failed_batch_is_not_overtaken_by_its_stream(tmp_path):
    """While the oldest batch of a stream waits for a retry, later batches
    of the stream wait behind it, parked, without a SEAL of their own; once
    the bucket exists they are written in order, each record once."""
    data = str(tmp_path / "data")
    h = Hydrant(data).start()
    fh = h.client("firehose")
    make_stream(fh, "fifo-stream", "fifo-bucket", size_mb=1, interval=0)
    for i in range(4):
        fh.put_record(DeliveryStreamName="fifo-stream", Record={"Data": b"fifo-%d\n" % i})
        wait_for(lambda: len(glob.glob(os.path.join(data, "spill", "*.spill"))) > i, timeout=20)
    tool = os.path.join(os.path.dirname(BIN), "wal-dump")
    out = subprocess.run([tool, os.path.join(data, "wal")], capture_output=True,
                         check=True).stdout.decode()
    assert out.count("type=SEAL") == 1, out  # only the oldest was attempted
    # the oldest's next retry reports what the stream holds: all four
    wait_for(lambda: "stream fifo-stream is stuck since" in h.read_log() and
             ": 4 batches, 4 records" in h.read_log(), timeout=30)
    s3 = h.client("s3")
    s3.create_bucket(Bucket="fifo-bucket")
    want = {b"fifo-%d" % i for i in range(4)}
    got = wait_for(lambda: (lambda g: g if want <= set(g) else None)(
        delivered_lines(s3, "fifo-bucket")), timeout=60, interval=0.5)
    assert got == {k: 1 for k in want}
    h.stop()


FAIL_REALLOC_C = r"""
#define _GNU_SOURCE
#include <dlfcn.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <unistd.h>
/* Every other realloc of 6 MiB or more fails: a buffer growing past 4 MiB
 * (SizeInMBs 5) meets it each time it fills. Each failure is noted. */
static atomic_uint calls;
void *realloc(void *p, size_t n)
{
    static void *(*real)(void *, size_t);
    if (!real)
        real = (void *(*)(void *, size_t))dlsym(RTLD_NEXT, "realloc");
    if (n >= ((size_t)6 << 20) && atomic_fetch_add(&calls, 1) % 2 == 0) {
        const char *path = getenv("FAIL_REALLOC_LOG");
        int fd = path ? open(path, O_WRONLY | O_APPEND | O_CREAT, 0644) : -1;
        if (fd >= 0) {
            (void)!write(fd, "x", 1);
            close(fd);
        }
        return NULL;
    }
    return real(p, n);
}
"""


def test_out_of_memory_never_acknowledges_an_unkept_record(tmp_path):
    """Allocations of a stream buffer's growth fail (an LD_PRELOAD shim):
    a put whose record cannot be given room is refused ("Slow down."),
    never acknowledged and then dropped; after a kill -9 and a restart
    without the shim every acknowledged record is delivered exactly once."""
    src, lib = tmp_path / "failrealloc.c", tmp_path / "failrealloc.so"
    src.write_text(FAIL_REALLOC_C)
    r = subprocess.run(["cc", "-shared", "-fPIC", "-O1", "-o", str(lib), str(src), "-ldl"],
                       capture_output=True)
    if r.returncode != 0:
        pytest.skip("cannot build the allocation-failure shim: %s" % r.stderr.decode())
    if b"libasan" in subprocess.run(["ldd", BIN], capture_output=True).stdout:
        pytest.skip("ASan replaces realloc itself")
    fails = tmp_path / "fails"
    data = str(tmp_path / "data")
    h = Hydrant(data)
    h.env["LD_PRELOAD"] = str(lib)
    h.env["FAIL_REALLOC_LOG"] = str(fails)
    h.start()
    h.client("s3").create_bucket(Bucket="oom-bucket")
    fh = h.client("firehose")
    make_stream(fh, "oom-stream", "oom-bucket", size_mb=5, interval=1)
    acked, seq, refused = set(), 0, 0
    while len(acked) < 30000:
        recs = [b"oom-%07d-" % (seq + i) for i in range(500)]
        recs = [x + b"z" * (999 - len(x)) for x in recs]
        seq += 500
        r = fh.put_record_batch(DeliveryStreamName="oom-stream",
                                Records=[{"Data": x + b"\n"} for x in recs])
        for x, rr in zip(recs, r["RequestResponses"]):
            if "RecordId" in rr:
                acked.add(x)
            else:
                assert rr["ErrorCode"] == "ServiceUnavailableException"
                refused += 1
    assert fails.exists() and len(fails.read_bytes()) > 0, "the shim failed no allocation"
    time.sleep(1.5)
    h.stop(signal.SIGKILL)
    del h.env["LD_PRELOAD"]
    h.start()
    s3 = h.client("s3")
    got = wait_for(lambda: (lambda g: g if acked <= set(g) else None)(
        delivered_lines(s3, "oom-bucket")), timeout=90, interval=1)
    assert acked <= set(got)
    assert all(got[k] == 1 for k in acked)
    print("allocation failures %d, records refused %d, acknowledged %d"
          % (len(fails.read_bytes()), refused, len(acked)))
    h.stop()
