"""Buffering and delivery: triggers, key format, compression, retries,
drain on SIGTERM."""
import gzip
import io
import re
import time
import zipfile

import pytest

from conftest import firehose_call, wait_active, wait_for

KEY_RE = re.compile(
    r"^(?P<prefix>.*?)(?P<stream>[A-Za-z0-9_.-]+)-(?P<ver>\d+)-"
    r"(?P<ts>\d{4}-\d{2}-\d{2}-\d{2}-\d{2}-\d{2})-"
    r"(?P<id>[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})(?P<ext>.*)$")


def make_stream(fh, name, bucket, size_mb=1, interval=1, extended=False, **dest):
    conf = {"RoleARN": "arn:aws:iam::000000000000:role/FirehoseDeliveryRole",
            "BucketARN": "arn:aws:s3:::" + bucket,
            "BufferingHints": {"SizeInMBs": size_mb, "IntervalInSeconds": interval}}
    conf.update(dest)
    key = "ExtendedS3DestinationConfiguration" if extended else "S3DestinationConfiguration"
    fh.create_delivery_stream(DeliveryStreamName=name, DeliveryStreamType="DirectPut",
                              **{key: conf})
    wait_active(fh, name)


def objects(s3, bucket):
    return s3.list_objects_v2(Bucket=bucket).get("Contents", [])


def body(s3, bucket, key):
    return s3.get_object(Bucket=bucket, Key=key)["Body"].read()


def test_interval_trigger(hydrant):
    s3, fh = hydrant.client("s3"), hydrant.client("firehose")
    s3.create_bucket(Bucket="iv-bucket")
    make_stream(fh, "iv-stream", "iv-bucket", size_mb=128, interval=4)
    fh.put_record(DeliveryStreamName="iv-stream", Record={"Data": b"one\n"})
    fh.put_record(DeliveryStreamName="iv-stream", Record={"Data": b"two\n"})
    # well before the interval: nothing delivered yet
    time.sleep(0.5)
    assert objects(s3, "iv-bucket") == []
    objs = wait_for(lambda: objects(s3, "iv-bucket"), timeout=20)
    assert len(objs) == 1
    assert body(s3, "iv-bucket", objs[0]["Key"]) == b"one\ntwo\n"


def test_size_trigger(hydrant):
    s3, fh = hydrant.client("s3"), hydrant.client("firehose")
    s3.create_bucket(Bucket="sz-bucket")
    make_stream(fh, "sz-stream", "sz-bucket", size_mb=1, interval=900)
    rec = b"x" * 1023 + b"\n"
    # just under 1 MiB: no object, however long we wait for the size trigger
    for n in (500, 500, 23):  # 1023 KiB
        r = fh.put_record_batch(DeliveryStreamName="sz-stream",
                                Records=[{"Data": rec}] * n)
        assert r["FailedPutCount"] == 0
    time.sleep(1.5)
    assert objects(s3, "sz-bucket") == []
    # crossing 1 MiB delivers at once, not after 900 s
    fh.put_record_batch(DeliveryStreamName="sz-stream", Records=[{"Data": rec}] * 2)
    objs = wait_for(lambda: objects(s3, "sz-bucket"), timeout=10)
    assert len(objs) == 1
    assert objs[0]["Size"] == 1025 * 1024


def test_interval_zero_delivers_at_once(hydrant):
    s3, fh = hydrant.client("s3"), hydrant.client("firehose")
    s3.create_bucket(Bucket="zero")
    make_stream(fh, "zero-stream", "zero", size_mb=1, interval=0)
    fh.put_record(DeliveryStreamName="zero-stream", Record={"Data": b"now\n"})
    objs = wait_for(lambda: objects(s3, "zero"), timeout=5)
    assert body(s3, "zero", objs[0]["Key"]) == b"now\n"


def test_key_format_and_static_prefix(hydrant):
    s3, fh = hydrant.client("s3"), hydrant.client("firehose")
    s3.create_bucket(Bucket="keys")
    make_stream(fh, "key-stream", "keys", interval=0, Prefix="legacy")
    t0 = time.gmtime()
    fh.put_record(DeliveryStreamName="key-stream", Record={"Data": b"k\n"})
    objs = wait_for(lambda: objects(s3, "keys"), timeout=5)
    m = KEY_RE.match(objs[0]["Key"])
    assert m, objs[0]["Key"]
    # "legacy" + yyyy/MM/dd/HH/, no slash added
    assert re.fullmatch(r"legacy\d{4}/\d{2}/\d{2}/\d{2}/", m["prefix"])
    assert m["prefix"][6:10] == "%04d" % t0.tm_year
    assert m["stream"] == "key-stream" and m["ver"] == "1" and m["ext"] == ""
    assert m["prefix"][6:].replace("/", "-")[:13] == m["ts"][:13]
    head = s3.head_object(Bucket="keys", Key=objs[0]["Key"])
    assert head["ContentType"] == "application/octet-stream"


def test_expression_prefix(hydrant):
    s3, fh = hydrant.client("s3"), hydrant.client("firehose")
    s3.create_bucket(Bucket="expr")
    make_stream(fh, "expr-stream", "expr", interval=0, extended=True,
                Prefix="year=!{timestamp:yyyy}/month=!{timestamp:MM}/",
                ErrorOutputPrefix="errors/!{firehose:error-output-type}/")
    fh.put_record(DeliveryStreamName="expr-stream", Record={"Data": b"e\n"})
    objs = wait_for(lambda: objects(s3, "expr"), timeout=5)
    assert re.match(r"^year=\d{4}/month=\d{2}/expr-stream-1-", objs[0]["Key"]), objs[0]["Key"]


def test_gzip_round_trip(hydrant):
    s3, fh = hydrant.client("s3"), hydrant.client("firehose")
    s3.create_bucket(Bucket="gz-bucket")
    make_stream(fh, "gz-stream", "gz-bucket", interval=1, CompressionFormat="GZIP")
    data = [("%d 2026-11-25 1HGCM82633A004352 1.0 2.0 %d\n" % (i, i)).encode() for i in range(200)]
    fh.put_record_batch(DeliveryStreamName="gz-stream", Records=[{"Data": d} for d in data])
    objs = wait_for(lambda: objects(s3, "gz-bucket"), timeout=10)
    assert objs[0]["Key"].endswith(".gz")
    assert gzip.decompress(body(s3, "gz-bucket", objs[0]["Key"])) == b"".join(data)


def test_zip_and_file_extension(hydrant):
    s3, fh = hydrant.client("s3"), hydrant.client("firehose")
    s3.create_bucket(Bucket="zp-bucket")
    # FileExtension is newer than Debian's botocore model: send it raw
    status, out = firehose_call(hydrant, "CreateDeliveryStream", {
        "DeliveryStreamName": "zip-stream",
        "ExtendedS3DestinationConfiguration": {
            "RoleARN": "arn:aws:iam::000000000000:role/FirehoseDeliveryRole",
            "BucketARN": "arn:aws:s3:::zp-bucket",
            "BufferingHints": {"SizeInMBs": 1, "IntervalInSeconds": 0},
            "CompressionFormat": "ZIP", "FileExtension": ".csv.zip"}})
    assert status == 200, out
    wait_active(fh, "zip-stream")
    fh.put_record(DeliveryStreamName="zip-stream", Record={"Data": b"a b c\n"})
    objs = wait_for(lambda: objects(s3, "zp-bucket"), timeout=5)
    assert objs[0]["Key"].endswith(".csv.zip")
    with zipfile.ZipFile(io.BytesIO(body(s3, "zp-bucket", objs[0]["Key"]))) as z:
        assert z.testzip() is None
        (name,) = z.namelist()
        assert z.read(name) == b"a b c\n"


def test_missing_bucket_is_retried_not_dropped(hydrant):
    s3, fh = hydrant.client("s3"), hydrant.client("firehose")
    make_stream(fh, "late-stream", "late-bucket", interval=0)
    fh.put_record(DeliveryStreamName="late-stream", Record={"Data": b"kept\n"})
    wait_for(lambda: "does not exist" in hydrant.read_log(), timeout=10)
    s3.create_bucket(Bucket="late-bucket")
    objs = wait_for(lambda: objects(s3, "late-bucket"), timeout=40)
    assert body(s3, "late-bucket", objs[0]["Key"]) == b"kept\n"
    assert "late-stream" in hydrant.read_log()


def test_sigterm_delivers_what_is_buffered(hydrant):
    s3, fh = hydrant.client("s3"), hydrant.client("firehose")
    s3.create_bucket(Bucket="drain")
    make_stream(fh, "drain-stream", "drain", size_mb=128, interval=900)
    fh.put_record_batch(DeliveryStreamName="drain-stream",
                        Records=[{"Data": b"r%d\n" % i} for i in range(100)])
    assert objects(s3, "drain") == []
    assert hydrant.stop() == 0
    hydrant.start()
    s3 = hydrant.client("s3")
    objs = objects(s3, "drain")
    assert len(objs) == 1
    assert body(s3, "drain", objs[0]["Key"]) == b"".join(b"r%d\n" % i for i in range(100))


def test_update_destination_changes_new_objects(hydrant):
    s3, fh = hydrant.client("s3"), hydrant.client("firehose")
    s3.create_bucket(Bucket="up1")
    s3.create_bucket(Bucket="up2")
    make_stream(fh, "up-stream", "up1", interval=0)
    fh.put_record(DeliveryStreamName="up-stream", Record={"Data": b"before\n"})
    wait_for(lambda: objects(s3, "up1"), timeout=5)
    d = fh.describe_delivery_stream(DeliveryStreamName="up-stream")["DeliveryStreamDescription"]
    fh.update_destination(DeliveryStreamName="up-stream",
                          CurrentDeliveryStreamVersionId=d["VersionId"],
                          DestinationId=d["Destinations"][0]["DestinationId"],
                          S3DestinationUpdate={"BucketARN": "arn:aws:s3:::up2",
                                               "Prefix": "v2/"})
    fh.put_record(DeliveryStreamName="up-stream", Record={"Data": b"after\n"})
    objs = wait_for(lambda: objects(s3, "up2"), timeout=5)
    assert re.match(r"^v2/\d{4}/\d{2}/\d{2}/\d{2}/up-stream-2-", objs[0]["Key"]), objs[0]["Key"]
    assert body(s3, "up2", objs[0]["Key"]) == b"after\n"
