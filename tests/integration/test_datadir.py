"""One process per data directory, and private files.

A second server on a directory another server holds must refuse to start
(exit status 2, "data directory DIR in use by PID N" on stderr) before it
reads anything: otherwise it replays the first one's log, delivers its
buffer and deletes its active segment, and acknowledged records are lost.
The first server's records must all arrive afterwards, also across a
kill -9 of the first server (the segment the second one would have
deleted is still there). Files the store makes are 0600, directories 0700.
"""
import os
import signal
import stat
import subprocess

import pytest

from conftest import BIN, Hydrant, wait_active, wait_for

ROLE = "arn:aws:iam::000000000000:role/FirehoseDeliveryRole"


def make_stream(fh, name, bucket, interval):
    fh.create_delivery_stream(
        DeliveryStreamName=name, DeliveryStreamType="DirectPut",
        ExtendedS3DestinationConfiguration={
            "RoleARN": ROLE, "BucketARN": "arn:aws:s3:::" + bucket,
            "BufferingHints": {"SizeInMBs": 128, "IntervalInSeconds": interval}})
    wait_active(fh, name)


def put_records(fh, stream, n, tag):
    sent = set()
    for start in range(0, n, 100):
        recs = [b"%s-%06d\n" % (tag, i) for i in range(start, min(n, start + 100))]
        r = fh.put_record_batch(DeliveryStreamName=stream,
                                Records=[{"Data": d} for d in recs])
        assert r["FailedPutCount"] == 0
        sent.update(recs)
    return sent


def delivered(s3, bucket):
    lines = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        for o in page.get("Contents", []):
            body = s3.get_object(Bucket=bucket, Key=o["Key"])["Body"].read()
            lines += [ln + b"\n" for ln in body.split(b"\n") if ln]
    return lines


def second_start(data_dir):
    """Starts another server on data_dir; returns (exit status, stderr)."""
    p = subprocess.run([BIN, "--port", "0", "--data-dir", data_dir],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=20)
    return p.returncode, p.stdout.decode(), p.stderr.decode()


@pytest.mark.parametrize("first", ["fast-flags", "default-flags"])
def test_second_server_refused_and_first_delivers_all(tmp_path, first):
    """Either configuration started first holds the directory; the other is
    refused, and every record the first acknowledged is delivered."""
    data = str(tmp_path / "data")
    flags = {"fast-flags": ["--threads", "1", "--wal-segment-bytes", "65536"],
             "default-flags": []}
    other = "default-flags" if first == "fast-flags" else "fast-flags"
    a = Hydrant(data, flags[first]).start()
    try:
        fh, s3 = a.client("firehose"), a.client("s3")
        s3.create_bucket(Bucket="keep")
        make_stream(fh, "keep", "keep", interval=900)  # nothing due on its own
        sent = put_records(fh, "keep", 1500, b"before")

        # the other configuration, on the same directory, through the harness
        b = Hydrant(data, flags[other])
        with pytest.raises(RuntimeError):
            b.start()
        assert b.proc.returncode == 2
        b.log.close()
        assert "data directory %s in use by PID %d" % (data, a.proc.pid) in b.read_log()
        # and straight from a shell-like start: nothing on stdout, status 2
        rc, out, err = second_start(data)
        assert rc == 2, err
        assert out == ""
        assert err.strip() == "hydrant: data directory %s in use by PID %d" % (data, a.proc.pid)

        # the first server still takes puts and keeps everything
        sent |= put_records(fh, "keep", 500, b"after")
        assert a.alive()
        assert delivered(s3, "keep") == []  # the refused servers delivered nothing
        assert a.stop(signal.SIGTERM) == 0  # drains: delivers what is buffered
        a = Hydrant(data).start()
        s3 = a.client("s3")
        got = delivered(s3, "keep")
        assert sorted(got) == sorted(sent)
    finally:
        a.stop()


def test_records_survive_kill9_after_refused_start(tmp_path):
    """The refused server must not have touched the log: after a kill -9 of
    the first server, a restart delivers every acknowledged record."""
    data = str(tmp_path / "data")
    a = Hydrant(data, ["--wal-segment-bytes", "65536"]).start()
    try:
        fh, s3 = a.client("firehose"), a.client("s3")
        s3.create_bucket(Bucket="kill9")
        make_stream(fh, "k9", "kill9", interval=900)
        sent = put_records(fh, "k9", 2000, b"rec")
        segments = sorted(os.listdir(os.path.join(data, "wal")))
        rc, _, err = second_start(data)
        assert rc == 2, err
        assert sorted(os.listdir(os.path.join(data, "wal"))) == segments
        a.stop(signal.SIGKILL)
        # the kernel released the lock with the process: a restart is allowed
        a = Hydrant(data).start()
        assert a.stop(signal.SIGTERM) == 0  # recovered, then drained
        a = Hydrant(data).start()
        got = delivered(a.client("s3"), "kill9")
        assert len(got) == len(sent)
        assert set(got) == sent
    finally:
        a.stop()


def test_lock_file_names_the_holder(tmp_path):
    data = str(tmp_path / "data")
    a = Hydrant(data).start()
    try:
        with open(os.path.join(data, "LOCK")) as f:
            assert f.read() == "%d\n" % a.proc.pid
    finally:
        a.stop()
    # a stale LOCK file (the holder is gone) does not block a start
    b = Hydrant(data).start()
    try:
        with open(os.path.join(data, "LOCK")) as f:
            assert f.read() == "%d\n" % b.proc.pid
    finally:
        b.stop()


def mode(path):
    return stat.S_IMODE(os.stat(path).st_mode)


def test_modes_are_private(tmp_path):
    """Issue 11: the data directory and store directories 0700, object and
    catalog files 0600, whatever the umask lets through beyond that."""
    data = str(tmp_path / "new" / "data")  # parents made too
    old = os.umask(0o022)
    try:
        a = Hydrant(data)
        a.log_path = str(tmp_path / "modes.log")  # not under the missing parent
        a.start()
    finally:
        os.umask(old)
    try:
        s3 = a.client("s3")
        s3.create_bucket(Bucket="modes")
        s3.put_object(Bucket="modes", Key="small", Body=b"x" * 100)
        s3.put_object(Bucket="modes", Key="big", Body=os.urandom(3 << 20))  # spooled
        assert mode(data) == 0o700
        assert mode(os.path.join(data, "LOCK")) == 0o600
        store = os.path.join(data, "store")
        for d in ("", "objects", "tmp", "objects/00", "objects/ff"):
            assert mode(os.path.join(store, d)) == 0o700, d
        for f in ("catalog.db", "catalog.db-wal", "catalog.db-shm"):
            assert mode(os.path.join(store, f)) == 0o600, f
        files = []
        for root, _, names in os.walk(os.path.join(store, "objects")):
            files += [os.path.join(root, n) for n in names]
        assert len(files) == 2
        for f in files:
            assert mode(f) == 0o600, f
    finally:
        a.stop()


def test_existing_store_is_narrowed(tmp_path):
    """A store made by an older hydrant (0755 / 0644) is narrowed at open."""
    data = str(tmp_path / "data")
    a = Hydrant(data).start()
    a.client("s3").create_bucket(Bucket="narrow")
    a.stop()
    store = os.path.join(data, "store")
    os.chmod(store, 0o755)
    os.chmod(os.path.join(store, "objects"), 0o755)
    os.chmod(os.path.join(store, "catalog.db"), 0o644)
    a = Hydrant(data).start()
    try:
        assert mode(store) == 0o700
        assert mode(os.path.join(store, "objects")) == 0o700
        assert mode(os.path.join(store, "catalog.db")) == 0o600
        assert a.client("s3").list_buckets()["Buckets"][0]["Name"] == "narrow"
    finally:
        a.stop()


def test_wal_dump_reads_a_live_directory_and_says_so(hydrant):
    """wal-dump on a running server's log: read-only, and it names the holder."""
    tool = os.path.join(os.path.dirname(BIN), "wal-dump")
    out = subprocess.run([tool, os.path.join(hydrant.data_dir, "wal")], capture_output=True,
                         check=True).stdout.decode()
    assert "in use by PID %d: reading it read-only" % hydrant.proc.pid in out
    assert "HYDRWAL3" in out
    assert hydrant.client("s3").list_buckets()["Buckets"] == []  # the server goes on
