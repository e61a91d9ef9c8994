"""Delivery to an external S3 endpoint (src/sinks/s3_remote.c).

Every test runs twice: against a real single-node Ceph RGW started here by
../shared/ceph/up.sh (Debian's radosgw, installed with apt when missing),
and against a second hydrant used as the external S3. If Ceph cannot
start, the Ceph tests fail with up.sh's output; nothing is skipped.

What is checked: the lesson's stream delivered into the external store and
read back with boto3 (and pandas) pointed at it, nothing in the embedded
store; a 200 MiB object through multipart (sink-put, the sink outside the
server) with a stale upload of its key aborted; an object over the
multipart threshold through a stream; the external store stopped mid-load
and restarted, every acknowledged record arriving exactly once; kill -9 of
hydrant while a multipart delivery is under way, nothing lost, no
duplicate object, no upload left behind.
"""
import hashlib
import io
import json
import os
import signal
import socket
import subprocess
import threading
import time

import boto3
import pandas as pd
import pytest
from botocore.config import Config

from conftest import BIN, ROOT, Hydrant, wait_active, wait_for
from test_lesson import COLUMNS, KEY_RE, vehicle_records

# ../shared/ceph next to the checkout; a clone elsewhere (a CI scratch
# copy) finds the workspace's
CEPH_DIR = os.environ.get("HYDRANT_CEPH_DIR") or next(
    (d for d in (os.path.abspath(os.path.join(ROOT, "..", "shared", "ceph")),
                 "/work/shared/ceph") if os.path.exists(os.path.join(d, "up.sh"))),
    os.path.abspath(os.path.join(ROOT, "..", "shared", "ceph")))
SINK_PUT = os.path.join(os.path.dirname(BIN), "sink-put")


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class External:
    """An S3 endpoint hydrant delivers to: Ceph RGW or a second hydrant."""

    def __init__(self, kind, tmp):
        self.kind = kind
        self.tmp = tmp
        self.endpoint = None
        self.env = dict(os.environ)
        self.env.setdefault("CEPH_BASE", os.path.join(
            os.environ.get("TMPDIR", "/tmp"), "hydrant-ceph"))
        self.env["CEPH_CONF"] = os.path.join(self.env["CEPH_BASE"], "ceph.conf")
        self.hydrant = None

    def up(self):
        if self.kind == "ceph":
            if not os.path.exists(os.path.join(CEPH_DIR, "up.sh")):
                pytest.fail("Ceph RGW cannot start: %s/up.sh not found (set "
                            "HYDRANT_CEPH_DIR to the directory of up.sh and down.sh)"
                            % CEPH_DIR)
            subprocess.run([os.path.join(CEPH_DIR, "down.sh")], env=self.env,
                           capture_output=True)
            r = subprocess.run([os.path.join(CEPH_DIR, "up.sh")], env=self.env,
                               capture_output=True, timeout=600)
            if r.returncode != 0:
                pytest.fail("Ceph RGW did not start (../shared/ceph/up.sh exit %d):\n%s\n%s"
                            % (r.returncode, r.stdout.decode()[-3000:],
                               r.stderr.decode()[-3000:]))
            self.endpoint = "http://127.0.0.1:7480"
        else:
            self.port = free_port()
            self.hydrant = Hydrant(os.path.join(self.tmp, "external"),
                                   ["--port", str(self.port)])
            self.hydrant.start()
            self.endpoint = "http://127.0.0.1:%d" % self.port
        return self

    def down(self):
        if self.kind == "ceph":
            subprocess.run([os.path.join(CEPH_DIR, "down.sh")], env=self.env,
                           capture_output=True)
        elif self.hydrant:
            self.hydrant.stop()

    def stop(self):
        """Stops the S3 service (not its data)."""
        if self.kind == "ceph":
            pidf = os.path.join(self.env["CEPH_BASE"], "run", "client.rgw.0.pid")
            pid = int(open(pidf).read())
            os.kill(pid, signal.SIGKILL)
            wait_for(lambda: not os.path.exists("/proc/%d" % pid), 20)
        else:
            self.hydrant.stop(signal.SIGKILL)

    def start(self):
        if self.kind == "ceph":
            subprocess.run(["radosgw", "-n", "client.rgw.0"], env=self.env, check=True)
        else:
            self.hydrant.start()
        wait_for(self.answers, 120, 0.5)

    def answers(self):
        try:
            self.s3().list_buckets()
            return True
        except Exception:
            return False

    def s3(self):
        return boto3.client("s3", endpoint_url=self.endpoint, region_name="us-east-1",
                            aws_access_key_id="test", aws_secret_access_key="test",
                            config=Config(retries={"max_attempts": 1},
                                          s3={"addressing_style": "path"}))

    def flags(self):
        return ["--s3-endpoint", self.endpoint, "--s3-access-key-id", "test",
                "--s3-secret-access-key", "test", "--s3-region", "us-east-1"]


@pytest.fixture(scope="module", params=["ceph", "hydrant"])
def external(request, tmp_path_factory):
    ext = External(request.param, str(tmp_path_factory.mktemp("ext-" + request.param)))
    ext.up()
    yield ext
    ext.down()


def fresh_bucket(ext, name):
    s3 = ext.s3()
    try:
        s3.create_bucket(Bucket=name)
    except s3.exceptions.BucketAlreadyOwnedByYou:
        pass
    return s3


def lines_in(s3, bucket):
    counts = {}
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        for o in page.get("Contents", []):
            body = s3.get_object(Bucket=bucket, Key=o["Key"])["Body"].read()
            for line in body.split(b"\n"):
                if line:
                    counts[line] = counts.get(line, 0) + 1
    return counts


def uploads_in(s3, bucket):
    return s3.list_multipart_uploads(Bucket=bucket).get("Uploads", [])


def make_stream(fh, name, bucket, size_mb=1, interval=0):
    fh.create_delivery_stream(
        DeliveryStreamName=name, DeliveryStreamType="DirectPut",
        ExtendedS3DestinationConfiguration={
            "RoleARN": "arn:aws:iam::000000000000:role/FirehoseDeliveryRole",
            "BucketARN": "arn:aws:s3:::" + bucket,
            "BufferingHints": {"SizeInMBs": size_mb, "IntervalInSeconds": interval}})
    wait_active(fh, name)


def test_lesson_delivered_into_the_external_store(external, tmp_path):
    s3x = fresh_bucket(external, "sd-vehicle-data")
    h = Hydrant(str(tmp_path / "h"), external.flags()).start()
    try:
        fh = h.client("firehose")
        fh.create_delivery_stream(
            DeliveryStreamName="gps-delivery-stream", DeliveryStreamType="DirectPut",
            S3DestinationConfiguration={
                "RoleARN": "arn:aws:iam::000000000000:role/FirehoseDeliveryRole",
                "BucketARN": "arn:aws:s3:::sd-vehicle-data",
                "BufferingHints": {"SizeInMBs": 1, "IntervalInSeconds": 2}})
        wait_active(fh, "gps-delivery-stream")
        # describe keeps AWS's shapes whatever the endpoint
        d = fh.describe_delivery_stream(DeliveryStreamName="gps-delivery-stream")
        desc = d["DeliveryStreamDescription"]["Destinations"][0]
        assert desc["S3DestinationDescription"]["BucketARN"] == "arn:aws:s3:::sd-vehicle-data"
        records = list(vehicle_records(60))
        lines = [" ".join(str(v) for v in r.values()) + "\n" for r in records]
        for line in lines[:30]:
            fh.put_record(DeliveryStreamName="gps-delivery-stream", Record={"Data": line})
        r = fh.put_record_batch(DeliveryStreamName="gps-delivery-stream",
                                Records=[{"Data": x} for x in lines[30:]])
        assert r["FailedPutCount"] == 0
        want = sum(len(x) for x in lines)

        def delivered():
            objs = s3x.list_objects_v2(Bucket="sd-vehicle-data").get("Contents", [])
            return objs if sum(o["Size"] for o in objs) == want else None
        objs = wait_for(delivered, 30)
        frames = []
        for o in objs:
            assert KEY_RE.match(o["Key"]), o["Key"]
            body = s3x.get_object(Bucket="sd-vehicle-data", Key=o["Key"])["Body"].read()
            assert s3x.head_object(Bucket="sd-vehicle-data", Key=o["Key"])["ETag"] == \
                '"%s"' % hashlib.md5(body).hexdigest()
            frames.append(pd.read_csv(io.BytesIO(body), sep=" ", names=COLUMNS))
        got = pd.concat(frames).sort_values("record_id").reset_index(drop=True)
        pd.testing.assert_frame_equal(got, pd.DataFrame(records, columns=COLUMNS))
        # nothing went to the embedded store
        local = h.client("s3")
        with pytest.raises(local.exceptions.NoSuchBucket):
            local.list_objects_v2(Bucket="sd-vehicle-data")
    finally:
        h.stop()


def sink_put(external, *args):
    r = subprocess.run([SINK_PUT, *external.flags(), *args], capture_output=True, timeout=600)
    assert r.returncode in (0, 1), r.stderr.decode()
    return json.loads(r.stdout)


def test_200_mib_object_through_multipart(external, tmp_path):
    s3x = fresh_bucket(external, "big-objects")
    key = "2026/12/02/01/big-1-2026-12-02-01-00-00-multipart"
    path = tmp_path / "big"
    data = os.urandom(200 << 20)
    path.write_bytes(data)
    # a stale upload of the same key, as a crash mid-upload leaves it
    stale = s3x.create_multipart_upload(Bucket="big-objects", Key=key)["UploadId"]
    s3x.create_multipart_upload(Bucket="big-objects", Key=key + "-other")
    out = sink_put(external, "--bucket", "big-objects", "--key", key, "--file", str(path))
    assert out["rc"] == 0, out
    assert out["sink"] == "s3"
    head = s3x.head_object(Bucket="big-objects", Key=key)
    assert head["ContentLength"] == 200 << 20
    parts = [data[i:i + (16 << 20)] for i in range(0, len(data), 16 << 20)]
    want = hashlib.md5(b"".join(hashlib.md5(p).digest() for p in parts)).hexdigest()
    assert head["ETag"] == '"%s-%d"' % (want, len(parts))   # 13 parts of 16 MiB
    got = hashlib.md5()
    body = s3x.get_object(Bucket="big-objects", Key=key)["Body"]
    for chunk in iter(lambda: body.read(1 << 20), b""):
        got.update(chunk)
    assert got.hexdigest() == hashlib.md5(data).hexdigest()
    left = uploads_in(s3x, "big-objects")
    assert stale not in [u["UploadId"] for u in left]
    assert [u["Key"] for u in left] == [key + "-other"]   # only the key's own are aborted


def test_errors_have_aws_codes(external, tmp_path):
    path = tmp_path / "small"
    path.write_bytes(b"x" * 100)
    out = sink_put(external, "--bucket", "no-such-bucket-here", "--key", "k", "--file",
                   str(path))
    assert (out["rc"], out["error"], out["retryable"]) != (0, None, False)
    assert out["error"] == "S3.NoSuchBucket" and out["retryable"] is True
    r = subprocess.run([SINK_PUT, "--s3-endpoint", external.endpoint, "--s3-access-key-id",
                        "test", "--s3-secret-access-key", "wrong", "--bucket", "big-objects",
                        "--key", "k", "--file", str(path)], capture_output=True, timeout=60)
    out = json.loads(r.stdout)
    assert r.returncode == 1 and out["error"] in ("S3.SignatureDoesNotMatch",
                                                  "S3.AccessDenied"), out
    port = free_port()
    r = subprocess.run([SINK_PUT, "--s3-endpoint", "http://127.0.0.1:%d" % port,
                        "--s3-access-key-id", "a", "--s3-secret-access-key", "b", "--bucket",
                        "big-objects", "--key", "k", "--file", str(path)],
                       capture_output=True, timeout=60)
    out = json.loads(r.stdout)
    assert r.returncode == 1 and out["error"] == "S3.ConnectionError", out


def test_object_over_the_threshold_through_a_stream(external, tmp_path):
    s3x = fresh_bucket(external, "stream-multipart")
    h = Hydrant(str(tmp_path / "h"), external.flags()).start()
    try:
        fh = h.client("firehose")
        make_stream(fh, "mp", "stream-multipart", size_mb=20, interval=60)
        rec = [(b"%06d-" % i) + b"m" * (1000 * 1024 - 8) + b"\n" for i in range(21)]
        for r in rec:
            fh.put_record(DeliveryStreamName="mp", Record={"Data": r})
        objs = wait_for(lambda: s3x.list_objects_v2(Bucket="stream-multipart")
                        .get("Contents"), 60, 0.5)
        assert len(objs) == 1
        assert objs[0]["ETag"].endswith('-2"'), objs[0]   # 20 MiB: two parts
        assert objs[0]["Size"] >= 20 << 20
    finally:
        h.stop()


def producer(fh, stream, n, acked, stop_at=None):
    """Puts n numbered records in batches of 10; appends the acknowledged."""
    for i in range(0, n, 10):
        batch = [b"rec-%06d\n" % j for j in range(i, min(i + 10, n))]
        try:
            r = fh.put_record_batch(DeliveryStreamName=stream,
                                    Records=[{"Data": b} for b in batch])
        except Exception:
            continue
        for b, resp in zip(batch, r["RequestResponses"]):
            if "RecordId" in resp:
                acked.append(b.rstrip(b"\n"))
        time.sleep(0.01)


def test_external_store_down_mid_load(external, tmp_path):
    s3x = fresh_bucket(external, "outage")
    h = Hydrant(str(tmp_path / "h"), external.flags()).start()
    try:
        fh = h.client("firehose")
        make_stream(fh, "outage", "outage", size_mb=1, interval=0)
        acked = []
        t = threading.Thread(target=producer, args=(fh, "outage", 3000, acked))
        t.start()
        wait_for(lambda: len(acked) > 500, 60)
        external.stop()
        wait_for(lambda: len(acked) > 1500, 60)   # puts go on while it is down
        time.sleep(3)
        external.start()
        t.join()
        assert len(acked) == 3000
        want = set(acked)

        def all_there():
            c = lines_in(external.s3(), "outage")
            return c if set(c) >= want else None
        counts = wait_for(all_there, 120, 1)
        assert set(counts) == want
        assert all(v == 1 for v in counts.values()), \
            [k for k, v in counts.items() if v != 1][:5]
        # the outage was seen (and retried), not missed
        assert "Couldn't connect to server" in h.read_log()
    finally:
        h.stop()


def test_kill9_during_external_multipart_delivery(external, tmp_path):
    s3x = fresh_bucket(external, "crash")
    data_dir = str(tmp_path / "h")
    h = Hydrant(data_dir, external.flags()).start()
    fh = h.client("firehose")
    make_stream(fh, "crash", "crash", size_mb=32, interval=1)
    rec = [(b"%06d-" % i) + b"k" * (512 * 1024 - 8) + b"\n" for i in range(70)]
    for i in range(0, len(rec), 4):
        r = fh.put_record_batch(DeliveryStreamName="crash",
                                Records=[{"Data": x} for x in rec[i:i + 4]])
        assert r["FailedPutCount"] == 0
    # kill -9 once an upload is under way (or, if too late, once one is done)
    wait_for(lambda: uploads_in(s3x, "crash") or
             s3x.list_objects_v2(Bucket="crash").get("Contents"), 60, 0.05)
    h.proc.send_signal(signal.SIGKILL)
    h.proc.wait()
    h.stop()
    h.start()
    try:
        want = {x.rstrip(b"\n") for x in rec}

        def all_there():
            c = lines_in(s3x, "crash")
            return c if set(c) >= want else None
        counts = wait_for(all_there, 120, 1)
        assert set(counts) == want
        assert all(v == 1 for v in counts.values())   # no duplicate object
        assert uploads_in(s3x, "crash") == []          # none left behind
    finally:
        h.stop()


def test_destinations_file_routes_buckets(external, tmp_path):
    s3x = fresh_bucket(external, "routed-out")
    conf = tmp_path / "destinations.json"
    conf.write_text(json.dumps({"buckets": {
        "routed-out": {"endpoint": external.endpoint, "region": "us-east-1",
                       "access_key_id": "test", "secret_access_key": "test",
                       "path_style": True},
        "routed-local": {"endpoint": "embedded"}}}))
    h = Hydrant(str(tmp_path / "h"), ["--destinations", str(conf)]).start()
    try:
        fh = h.client("firehose")
        local = h.client("s3")
        local.create_bucket(Bucket="routed-local")
        make_stream(fh, "out", "routed-out")
        make_stream(fh, "loc", "routed-local")
        fh.put_record(DeliveryStreamName="out", Record={"Data": b"to-the-cluster\n"})
        fh.put_record(DeliveryStreamName="loc", Record={"Data": b"stays-here\n"})
        wait_for(lambda: lines_in(s3x, "routed-out").get(b"to-the-cluster"), 30, 0.2)
        wait_for(lambda: lines_in(local, "routed-local").get(b"stays-here"), 30, 0.2)
        with pytest.raises(local.exceptions.NoSuchBucket):
            local.list_objects_v2(Bucket="routed-out")
    finally:
        h.stop()


@pytest.mark.parametrize("content,why", [
    ({"buckets": {"b1x": {"region": "x"}}}, "has no endpoint"),
    ({"buckets": {"b1x": {"endpoint": "ftp://x"}}}, "is not an S3 endpoint URL"),
    ({"buckets": {"b1x": {"endpoint": "http://x", "bogus": 1}}}, "unknown member 'bogus'"),
    ({"buckets": {"b1x": {"endpoint": "http://x"}}}, "has no credentials"),
    ({"bucket": {}}, "unknown member 'bucket'"),
])
def test_bad_destinations_file_refused_at_start(tmp_path, content, why):
    conf = tmp_path / "d.json"
    conf.write_text(json.dumps(content))
    env = {k: v for k, v in os.environ.items()
           if k not in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY",
                        "HYDRANT_S3_ACCESS_KEY_ID", "HYDRANT_S3_SECRET_ACCESS_KEY")}
    r = subprocess.run([BIN, "--port", "0", "--data-dir", str(tmp_path / "d"),
                        "--destinations", str(conf)], capture_output=True, timeout=10,
                       env=env)
    assert r.returncode == 2
    assert why in r.stderr.decode(), r.stderr.decode()


def test_s3_endpoint_without_credentials_refused(tmp_path):
    env = {k: v for k, v in os.environ.items()
           if k not in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY",
                        "HYDRANT_S3_ACCESS_KEY_ID", "HYDRANT_S3_SECRET_ACCESS_KEY")}
    r = subprocess.run([BIN, "--port", "0", "--data-dir", str(tmp_path / "d"),
                        "--s3-endpoint", "http://127.0.0.1:9"], capture_output=True,
                       timeout=10, env=env)
    assert r.returncode == 2
    assert "needs credentials" in r.stderr.decode()
    env["HYDRANT_S3_ACCESS_KEY_ID"] = "k"
    env["HYDRANT_S3_SECRET_ACCESS_KEY"] = "s"
    p = subprocess.Popen([BIN, "--port", "0", "--data-dir", str(tmp_path / "d"),
                          "--s3-endpoint", "http://127.0.0.1:9"], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, env=env)
    assert p.stdout.readline().startswith(b"listening")
    p.terminate()
    assert p.wait(10) == 0


def test_readme_destinations_example_is_accepted(tmp_path):
    """The README's destinations file is one hydrant starts with."""
    readme = open(os.path.join(ROOT, "README.md")).read()
    section = readme[readme.index("## Delivering to MinIO, Ceph or AWS S3"):]
    example = section[section.index("```json\n") + 8:]
    example = example[:example.index("```")]
    conf = tmp_path / "destinations.json"
    conf.write_text(example)
    p = subprocess.Popen([BIN, "--port", "0", "--data-dir", str(tmp_path / "d"),
                          "--destinations", str(conf)], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE)
    line = p.stdout.readline()
    p.terminate()
    err = p.communicate(timeout=10)[1]
    assert line.startswith(b"listening"), err
    assert p.returncode == 0
