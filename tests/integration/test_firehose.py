"""The Firehose JSON API against the real binary: boto3, raw signed HTTP and
the AWS CLI. Object delivery into S3 is tested in test_delivery.py."""
import base64
import datetime
import http.client
import json
import os
import socket
import subprocess

import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from botocore.exceptions import ClientError, ParamValidationError

from conftest import ACCESS_KEY, REGION, SECRET_KEY, wait_active

ROLE = "arn:aws:iam::000000000000:role/firehose"
BUCKET = "arn:aws:s3:::hydrant-test"
DEST_ID = "destinationId-000000000001"


def ext_dest(**kw):
    d = {"RoleARN": ROLE, "BucketARN": BUCKET}
    d.update(kw)
    return d


def create(fh, name, wait=True, **kw):
    if "S3DestinationConfiguration" not in kw and "ExtendedS3DestinationConfiguration" not in kw:
        kw["ExtendedS3DestinationConfiguration"] = ext_dest()
    r = fh.create_delivery_stream(DeliveryStreamName=name, **kw)
    if wait:
        wait_active(fh, name)
    return r


def describe(fh, name, **kw):
    return fh.describe_delivery_stream(DeliveryStreamName=name, **kw)["DeliveryStreamDescription"]


def error_of(fn, *a, **kw):
    with pytest.raises(ClientError) as e:
        fn(*a, **kw)
    r = e.value.response
    return r["Error"]["Code"], r["Error"].get("Message", ""), r["ResponseMetadata"]["HTTPStatusCode"]


def raw(hydrant, op, body, headers=None):
    """A SigV4-signed Firehose request with an arbitrary body; returns
    (status, headers, body bytes)."""
    if isinstance(body, str):
        body = body.encode()
    url = hydrant.endpoint + "/"
    hdrs = {"Content-Type": "application/x-amz-json-1.1",
            "X-Amz-Target": "Firehose_20150804." + op}
    hdrs.update(headers or {})
    req = AWSRequest(method="POST", url=url, data=body, headers=hdrs)
    SigV4Auth(Credentials(ACCESS_KEY, SECRET_KEY), "firehose", REGION).add_auth(req)
    conn = http.client.HTTPConnection("127.0.0.1", hydrant.port, timeout=30)
    try:
        conn.request("POST", "/", body=body, headers=dict(req.headers.items()))
        resp = conn.getresponse()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read()
    finally:
        conn.close()


# ---- create / describe -------------------------------------------------------
def test_create_and_describe_defaults(hydrant):
    fh = hydrant.client("firehose")
    before = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(seconds=5)
    r = create(fh, "gps-delivery-stream", wait=False)
    assert r["DeliveryStreamARN"] == \
        "arn:aws:firehose:us-east-1:000000000000:deliverystream/gps-delivery-stream"
    assert describe(fh, "gps-delivery-stream")["DeliveryStreamStatus"] == "CREATING"
    wait_active(fh, "gps-delivery-stream")
    d = describe(fh, "gps-delivery-stream")
    assert d["DeliveryStreamName"] == "gps-delivery-stream"
    assert d["DeliveryStreamARN"] == r["DeliveryStreamARN"]
    assert d["DeliveryStreamStatus"] == "ACTIVE"
    assert d["DeliveryStreamType"] == "DirectPut"
    assert d["VersionId"] == "1"
    assert d["HasMoreDestinations"] is False
    assert d["DeliveryStreamEncryptionConfiguration"] == {"Status": "DISABLED"}
    assert isinstance(d["CreateTimestamp"], datetime.datetime)
    assert before <= d["CreateTimestamp"] <= before + datetime.timedelta(seconds=60)
    assert "LastUpdateTimestamp" not in d
    [dest] = d["Destinations"]
    assert dest["DestinationId"] == DEST_ID
    ext = dest["ExtendedS3DestinationDescription"]
    s3 = dest["S3DestinationDescription"]
    for desc in (ext, s3):
        assert desc["RoleARN"] == ROLE
        assert desc["BucketARN"] == BUCKET
        assert desc["BufferingHints"] == {"SizeInMBs": 5, "IntervalInSeconds": 300}
        assert desc["CompressionFormat"] == "UNCOMPRESSED"
        assert desc["EncryptionConfiguration"] == {"NoEncryptionConfig": "NoEncryption"}
        assert desc["CloudWatchLoggingOptions"] == {"Enabled": False}
    assert ext["S3BackupMode"] == "Disabled"
    assert ext["DataFormatConversionConfiguration"] == {"Enabled": False}


def test_describe_stores_every_given_member(hydrant):
    """Every member hydrant honours, and the features it does not honour
    turned off (Enabled false / Disabled), are stored and described as
    given. (Turned on, they are refused: test_validation.py.)"""
    fh = hydrant.client("firehose")
    cfg = ext_dest(
        Prefix="data/!{timestamp:yyyy/MM/dd}/",
        ErrorOutputPrefix="errors/!{firehose:error-output-type}/",
        BufferingHints={"SizeInMBs": 64, "IntervalInSeconds": 0},
        CompressionFormat="GZIP",
        EncryptionConfiguration={"NoEncryptionConfig": "NoEncryption"},
        CloudWatchLoggingOptions={"Enabled": False, "LogGroupName": "/aws/kinesisfirehose/x",
                                  "LogStreamName": "S3Delivery"},
        ProcessingConfiguration={"Enabled": False, "Processors": [
            {"Type": "MetadataExtraction", "Parameters": [
                {"ParameterName": "MetadataExtractionQuery", "ParameterValue": "{device:.device}"},
                {"ParameterName": "JsonParsingEngine", "ParameterValue": "JQ-1.6"}]},
            {"Type": "AppendDelimiterToRecord"}]},
        S3BackupMode="Disabled",
        S3BackupConfiguration={"RoleARN": ROLE, "BucketARN": "arn:aws:s3:::backup",
                               "Prefix": "raw/"},
        DynamicPartitioningConfiguration={"Enabled": False,
                                          "RetryOptions": {"DurationInSeconds": 300}},
        DataFormatConversionConfiguration={"Enabled": False},
    )
    create(fh, "full", ExtendedS3DestinationConfiguration=cfg)
    ext = describe(fh, "full")["Destinations"][0]["ExtendedS3DestinationDescription"]
    for k in ("Prefix", "ErrorOutputPrefix", "BufferingHints", "CompressionFormat",
              "EncryptionConfiguration", "CloudWatchLoggingOptions", "ProcessingConfiguration",
              "S3BackupMode", "DynamicPartitioningConfiguration",
              "DataFormatConversionConfiguration"):
        assert ext[k] == cfg[k], k
    backup = ext["S3BackupDescription"]
    assert backup["BucketARN"] == "arn:aws:s3:::backup"
    assert backup["Prefix"] == "raw/"
    assert backup["BufferingHints"] == {"SizeInMBs": 5, "IntervalInSeconds": 300}


def test_file_extension_raw(hydrant):
    """FileExtension is newer than Debian's botocore model: raw requests."""
    body = {"DeliveryStreamName": "ext", "ExtendedS3DestinationConfiguration": ext_dest(
        FileExtension=".ndjson", CustomTimeZone="UTC")}
    status, _, out = raw(hydrant, "CreateDeliveryStream", json.dumps(body))
    assert status == 200, out
    status, _, out = raw(hydrant, "DescribeDeliveryStream", '{"DeliveryStreamName":"ext"}')
    ext = json.loads(out)["DeliveryStreamDescription"]["Destinations"][0][
        "ExtendedS3DestinationDescription"]
    assert ext["FileExtension"] == ".ndjson"
    assert ext["CustomTimeZone"] == "UTC"
    body["DeliveryStreamName"] = "ext2"
    body["ExtendedS3DestinationConfiguration"]["FileExtension"] = "ndjson"
    status, _, out = raw(hydrant, "CreateDeliveryStream", json.dumps(body))
    assert status == 400
    assert json.loads(out)["__type"] == "ValidationException"
    assert "fileExtension" in json.loads(out)["message"]


def test_create_with_s3_destination_configuration(hydrant):
    fh = hydrant.client("firehose")
    create(fh, "plain", S3DestinationConfiguration={
        "RoleARN": ROLE, "BucketARN": BUCKET, "Prefix": "legacy",
        "BufferingHints": {"SizeInMBs": 1, "IntervalInSeconds": 60},
        "CompressionFormat": "Snappy"})
    s3 = describe(fh, "plain")["Destinations"][0]["S3DestinationDescription"]
    assert s3["Prefix"] == "legacy"
    assert s3["BufferingHints"] == {"SizeInMBs": 1, "IntervalInSeconds": 60}
    assert s3["CompressionFormat"] == "Snappy"


def test_arn_uses_the_request_region(hydrant):
    fh = hydrant.client("firehose", region="eu-west-1")
    r = create(fh, "eu", wait=False)
    assert r["DeliveryStreamARN"] == "arn:aws:firehose:eu-west-1:000000000000:deliverystream/eu"


def test_create_errors(hydrant):
    fh = hydrant.client("firehose")
    create(fh, "taken", wait=False)
    code, msg, status = error_of(create, fh, "taken", wait=False)
    assert (code, status) == ("ResourceInUseException", 400)
    assert "taken" in msg

    code, msg, status = error_of(fh.create_delivery_stream, DeliveryStreamName="nodest")
    assert (code, status) == ("InvalidArgumentException", 400)
    assert msg == "Exactly one destination configuration is supported for a Firehose"

    code, msg, _ = error_of(fh.create_delivery_stream, DeliveryStreamName="twodest",
                            S3DestinationConfiguration=ext_dest(),
                            ExtendedS3DestinationConfiguration=ext_dest())
    assert code == "InvalidArgumentException"
    assert msg == "Exactly one destination configuration is supported for a Firehose"

    name = "n" * 65
    code, msg, status = error_of(create, fh, name, wait=False)
    assert (code, status) == ("ValidationException", 400)
    assert msg == ("1 validation error detected: Value '%s' at 'deliveryStreamName' failed to "
                   "satisfy constraint: Member must have length less than or equal to 64" % name)

    code, msg, _ = error_of(create, fh, "has space", wait=False)
    assert code == "ValidationException"
    assert msg == ("1 validation error detected: Value 'has space' at 'deliveryStreamName' "
                   "failed to satisfy constraint: Member must satisfy regular expression "
                   "pattern: [a-zA-Z0-9_.-]+")

    code, msg, _ = error_of(create, fh, "badbucket", wait=False,
                            ExtendedS3DestinationConfiguration=ext_dest(
                                BucketARN="arn:aws:iam::000000000000:role/x"))
    assert code == "InvalidArgumentException" and "BucketARN" in msg

    code, msg, _ = error_of(create, fh, "badarn", wait=False,
                            ExtendedS3DestinationConfiguration=ext_dest(RoleARN="role/x"))
    assert code == "ValidationException"
    assert "at 'extendedS3DestinationConfiguration.roleARN'" in msg
    assert "Member must satisfy regular expression pattern: arn:.*" in msg

    code, msg, _ = error_of(create, fh, "expr", wait=False,
                            ExtendedS3DestinationConfiguration=ext_dest(
                                Prefix="p/!{timestamp:yyyy}/"))
    assert code == "InvalidArgumentException" and "ErrorOutputPrefix" in msg

    code, msg, _ = error_of(create, fh, "comp", wait=False,
                            ExtendedS3DestinationConfiguration=ext_dest(CompressionFormat="LZ4"))
    assert code == "ValidationException"
    assert ("Value 'LZ4' at 'extendedS3DestinationConfiguration.compressionFormat' failed to "
            "satisfy constraint: Member must satisfy enum value set: "
            "[UNCOMPRESSED, GZIP, ZIP, Snappy, HADOOP_SNAPPY]") in msg

    code, msg, _ = error_of(create, fh, "kin", wait=False,
                            DeliveryStreamType="KinesisStreamAsSource",
                            KinesisStreamSourceConfiguration={
                                "KinesisStreamARN": "arn:aws:kinesis:us-east-1:0:stream/s",
                                "RoleARN": ROLE})
    assert code == "InvalidArgumentException"

    code, msg, _ = error_of(create, fh, "redshift", wait=False,
                            RedshiftDestinationConfiguration={"RoleARN": ROLE})
    assert code == "InvalidArgumentException"

    # none of the refused streams exists
    names = fh.list_delivery_streams(Limit=100)["DeliveryStreamNames"]
    assert names == ["taken"]


def test_buffering_hint_bounds(hydrant):
    fh = hydrant.client("firehose")
    # 0 s is what AWS accepts today, though Debian's botocore model says >= 60
    create(fh, "zero", wait=False, ExtendedS3DestinationConfiguration=ext_dest(
        BufferingHints={"SizeInMBs": 1, "IntervalInSeconds": 0}))
    create(fh, "max", wait=False, ExtendedS3DestinationConfiguration=ext_dest(
        BufferingHints={"SizeInMBs": 128, "IntervalInSeconds": 900}))
    code, msg, _ = error_of(create, fh, "big", wait=False, ExtendedS3DestinationConfiguration=ext_dest(
        BufferingHints={"SizeInMBs": 129}))
    assert code == "ValidationException"
    assert msg == ("1 validation error detected: Value '129' at "
                   "'extendedS3DestinationConfiguration.bufferingHints.sizeInMBs' failed to "
                   "satisfy constraint: Member must have value less than or equal to 128")
    code, msg, _ = error_of(create, fh, "long", wait=False, ExtendedS3DestinationConfiguration=ext_dest(
        BufferingHints={"IntervalInSeconds": 901, "SizeInMBs": 0}))
    assert code == "ValidationException"
    assert msg.startswith("2 validation errors detected: ")
    assert "Member must have value less than or equal to 900" in msg
    assert "Member must have value greater than or equal to 1" in msg
    # botocore's own validation still carries the old 60 s minimum
    strict = hydrant.client("firehose", validate=True)
    with pytest.raises(ParamValidationError):
        create(strict, "strict", wait=False, ExtendedS3DestinationConfiguration=ext_dest(
            BufferingHints={"SizeInMBs": 1, "IntervalInSeconds": 0}))


def test_limit_exceeded(make_hydrant):
    h = make_hydrant("--max-streams", "2")
    fh = h.client("firehose")
    create(fh, "one", wait=False)
    create(fh, "two", wait=False)
    code, _, status = error_of(create, fh, "three", wait=False)
    assert (code, status) == ("LimitExceededException", 400)


# ---- list / delete ------------------------------------------------------------
def test_list_pagination(hydrant):
    fh = hydrant.client("firehose")
    assert fh.list_delivery_streams()["DeliveryStreamNames"] == []
    for n in ["delta", "alpha", "echo", "charlie", "bravo"]:
        create(fh, n, wait=False)
    r = fh.list_delivery_streams(Limit=2)
    assert r["DeliveryStreamNames"] == ["alpha", "bravo"] and r["HasMoreDeliveryStreams"]
    r = fh.list_delivery_streams(Limit=2, ExclusiveStartDeliveryStreamName="bravo")
    assert r["DeliveryStreamNames"] == ["charlie", "delta"] and r["HasMoreDeliveryStreams"]
    r = fh.list_delivery_streams(Limit=2, ExclusiveStartDeliveryStreamName="delta")
    assert r["DeliveryStreamNames"] == ["echo"] and not r["HasMoreDeliveryStreams"]
    r = fh.list_delivery_streams()
    assert r["DeliveryStreamNames"] == ["alpha", "bravo", "charlie", "delta", "echo"]
    assert r["HasMoreDeliveryStreams"] is False
    assert fh.list_delivery_streams(DeliveryStreamType="DirectPut")["DeliveryStreamNames"][0] == "alpha"
    assert fh.list_delivery_streams(
        DeliveryStreamType="KinesisStreamAsSource")["DeliveryStreamNames"] == []
    code, msg, _ = error_of(fh.list_delivery_streams, Limit=0)
    assert code == "ValidationException"
    assert "Value '0' at 'limit' failed to satisfy constraint: Member must have value " \
           "greater than or equal to 1" in msg
    code, _, _ = error_of(fh.list_delivery_streams, Limit=10001)
    assert code == "ValidationException"


def test_delete(make_hydrant):
    h = make_hydrant("--create-delay-ms", "3000")
    fh = h.client("firehose")
    create(fh, "slow", wait=False)
    code, _, _ = error_of(fh.delete_delivery_stream, DeliveryStreamName="slow")
    assert code == "ResourceInUseException"
    wait_active(fh, "slow", timeout=20)
    assert fh.put_record(DeliveryStreamName="slow", Record={"Data": b"x"})["RecordId"]
    fh.delete_delivery_stream(DeliveryStreamName="slow", AllowForceDelete=True)
    code, msg, status = error_of(describe, fh, "slow")
    assert (code, status) == ("ResourceNotFoundException", 400)
    assert msg == "Firehose slow under account 000000000000 not found."
    code, _, _ = error_of(fh.delete_delivery_stream, DeliveryStreamName="slow")
    assert code == "ResourceNotFoundException"
    assert fh.list_delivery_streams()["DeliveryStreamNames"] == []
    # the name is free again
    create(fh, "slow", wait=False)


def test_describe_limit_and_exclusive_start(hydrant):
    fh = hydrant.client("firehose")
    create(fh, "d")
    d = describe(fh, "d", Limit=1)  # Vector's health check
    assert len(d["Destinations"]) == 1
    d = describe(fh, "d", ExclusiveStartDestinationId=DEST_ID)
    assert d["Destinations"] == [] and d["HasMoreDestinations"] is False
    code, _, _ = error_of(describe, fh, "missing")
    assert code == "ResourceNotFoundException"


# ---- records ------------------------------------------------------------------
def test_put_record(hydrant):
    fh = hydrant.client("firehose")
    create(fh, "rec")
    r1 = fh.put_record(DeliveryStreamName="rec", Record={"Data": b'{"lat":1}\n'})
    r2 = fh.put_record(DeliveryStreamName="rec", Record={"Data": b""})
    assert r1["Encrypted"] is False
    assert len(r1["RecordId"]) >= 56 and r1["RecordId"] != r2["RecordId"]

    big = fh.put_record(DeliveryStreamName="rec", Record={"Data": b"a" * 1024000})
    assert big["RecordId"]
    code, msg, status = error_of(fh.put_record, DeliveryStreamName="rec",
                                 Record={"Data": b"a" * 1024001})
    assert (code, status) == ("ValidationException", 400)
    assert "at 'record.data' failed to satisfy constraint: Member must have length less " \
           "than or equal to 1024000" in msg

    code, msg, _ = error_of(fh.put_record, DeliveryStreamName="nope", Record={"Data": b"x"})
    assert code == "ResourceNotFoundException"
    assert "nope" in msg
    code, msg, _ = error_of(fh.put_record, DeliveryStreamName="rec")
    assert code == "ValidationException"
    assert "Value null at 'record' failed to satisfy constraint: Member must not be null" in msg


def test_put_record_while_creating(make_hydrant):
    h = make_hydrant("--create-delay-ms", "60000")
    fh = h.client("firehose")
    create(fh, "young", wait=False)
    code, _, _ = error_of(fh.put_record, DeliveryStreamName="young", Record={"Data": b"x"})
    assert code == "ResourceNotFoundException"
    code, _, _ = error_of(fh.put_record_batch, DeliveryStreamName="young",
                          Records=[{"Data": b"x"}])
    assert code == "ResourceNotFoundException"


def test_put_record_batch(hydrant):
    fh = hydrant.client("firehose")
    create(fh, "batch")
    r = fh.put_record_batch(DeliveryStreamName="batch",
                            Records=[{"Data": b"one\n"}, {"Data": b"two\n"}, {"Data": b"three\n"}])
    assert r["FailedPutCount"] == 0 and r["Encrypted"] is False
    ids = [e["RecordId"] for e in r["RequestResponses"]]
    assert len(ids) == 3 and len(set(ids)) == 3
    assert all("ErrorCode" not in e for e in r["RequestResponses"])

    r = fh.put_record_batch(DeliveryStreamName="batch", Records=[{"Data": b"x"}] * 500)
    assert r["FailedPutCount"] == 0 and len(r["RequestResponses"]) == 500

    code, msg, status = error_of(fh.put_record_batch, DeliveryStreamName="batch",
                                 Records=[{"Data": b"x"}] * 501)
    assert (code, status) == ("ValidationException", 400)
    assert "at 'records' failed to satisfy constraint: Member must have length less than " \
           "or equal to 500" in msg
    code, msg, _ = error_of(fh.put_record_batch, DeliveryStreamName="batch", Records=[])
    assert code == "ValidationException" and "greater than or equal to 1" in msg
    # 5 records of 1,000,000 bytes: each fine, 4 MiB in total is not
    code, msg, status = error_of(fh.put_record_batch, DeliveryStreamName="batch",
                                 Records=[{"Data": b"b" * 1000000}] * 5)
    assert (code, status) == ("InvalidArgumentException", 400)
    assert "4 MiB" in msg
    code, msg, _ = error_of(fh.put_record_batch, DeliveryStreamName="batch",
                            Records=[{"Data": b"x"}, {"Data": b"c" * 1024001}])
    assert code == "ValidationException"
    assert "at 'records.2.member.data'" in msg


def test_put_record_batch_wire_bytes(hydrant):
    """Fluent Bit looks for the exact bytes "FailedPutCount":0."""
    fh = hydrant.client("firehose")
    create(fh, "fluent")
    body = json.dumps({"DeliveryStreamName": "fluent",
                       "Records": [{"Data": base64.b64encode(b"log line\n").decode()}]})
    status, headers, out = raw(hydrant, "PutRecordBatch", body)
    assert status == 200
    assert b'"FailedPutCount":0' in out
    assert headers["content-type"] == "application/x-amz-json-1.1"
    assert len(headers["x-amzn-requestid"]) == 36


def test_bad_base64_is_rejected(hydrant):
    fh = hydrant.client("firehose")
    create(fh, "b64")
    for op, body in [
        ("PutRecord", {"DeliveryStreamName": "b64", "Record": {"Data": "not base64!"}}),
        ("PutRecordBatch", {"DeliveryStreamName": "b64",
                            "Records": [{"Data": "aGk="}, {"Data": "a=b="}]}),
    ]:
        status, headers, out = raw(hydrant, op, json.dumps(body))
        assert status == 400, out
        err = json.loads(out)
        assert err["__type"] == "SerializationException"
        assert headers["x-amzn-errortype"] == "SerializationException"
        assert "base64" in err["message"]


def test_malformed_json_and_unknown_operation(hydrant):
    fh = hydrant.client("firehose")
    for body in [b"{not json", b"[1,2]", b'{"DeliveryStreamName": 5}',
                 b'{"DeliveryStreamName": "x", "Record": {"Data": 7}}']:
        status, headers, out = raw(hydrant, "PutRecord", body)
        assert status == 400, body
        err = json.loads(out)
        assert err["__type"] == "SerializationException", (body, err)
        assert err["message"]
        assert headers["x-amzn-errortype"] == "SerializationException"
        assert headers["content-type"] == "application/x-amz-json-1.1"
    status, _, out = raw(hydrant, "FlyToTheMoon", b"{}")
    assert status == 400
    assert json.loads(out)["__type"] == "UnknownOperationException"
    # still serving
    assert fh.list_delivery_streams()["DeliveryStreamNames"] == []


def test_body_too_large(make_hydrant):
    h = make_hydrant("--max-body", str(1 << 20))
    body = b" " * (2 << 20)
    req = AWSRequest(method="POST", url=h.endpoint + "/", data=body, headers={
        "Content-Type": "application/x-amz-json-1.1",
        "X-Amz-Target": "Firehose_20150804.PutRecord"})
    SigV4Auth(Credentials(ACCESS_KEY, SECRET_KEY), "firehose", REGION).add_auth(req)
    head = "POST / HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nContent-Length: %d\r\n" % (h.port, len(body))
    head += "".join("%s: %s\r\n" % kv for kv in req.headers.items()) + "Connection: close\r\n\r\n"
    # the server may answer and close before the whole body is sent
    with socket.create_connection(("127.0.0.1", h.port), timeout=30) as sock:
        try:
            sock.sendall(head.encode() + body)
        except (BrokenPipeError, ConnectionResetError):
            pass
        resp = b""
        try:
            while True:
                chunk = sock.recv(65536)
                if not chunk:
                    break
                resp += chunk
        except ConnectionResetError:
            pass
    status_line, _, rest = resp.partition(b"\r\n")
    assert status_line.split()[1] == b"413", resp[:500]
    assert json.loads(rest.partition(b"\r\n\r\n")[2])["__type"] == "RequestEntityTooLargeException"
    assert h.client("firehose").list_delivery_streams()["DeliveryStreamNames"] == []


# ---- update ------------------------------------------------------------------------
def test_update_destination(hydrant):
    fh = hydrant.client("firehose")
    create(fh, "upd", ExtendedS3DestinationConfiguration=ext_dest(
        Prefix="old/", BufferingHints={"SizeInMBs": 5, "IntervalInSeconds": 120}))
    fh.update_destination(DeliveryStreamName="upd", CurrentDeliveryStreamVersionId="1",
                          DestinationId=DEST_ID,
                          ExtendedS3DestinationUpdate={
                              "Prefix": "new/", "BufferingHints": {"SizeInMBs": 10},
                              "CompressionFormat": "GZIP"})
    d = describe(fh, "upd")
    assert d["VersionId"] == "2"
    assert d["DeliveryStreamStatus"] == "ACTIVE"
    assert isinstance(d["LastUpdateTimestamp"], datetime.datetime)
    ext = d["Destinations"][0]["ExtendedS3DestinationDescription"]
    assert ext["Prefix"] == "new/"
    assert ext["CompressionFormat"] == "GZIP"
    # hints merge member by member
    assert ext["BufferingHints"] == {"SizeInMBs": 10, "IntervalInSeconds": 120}
    assert ext["RoleARN"] == ROLE

    code, msg, status = error_of(
        fh.update_destination, DeliveryStreamName="upd", CurrentDeliveryStreamVersionId="1",
        DestinationId=DEST_ID, ExtendedS3DestinationUpdate={"Prefix": "stale/"})
    assert (code, status) == ("ConcurrentModificationException", 400)
    assert describe(fh, "upd")["Destinations"][0]["ExtendedS3DestinationDescription"]["Prefix"] == "new/"

    code, _, _ = error_of(
        fh.update_destination, DeliveryStreamName="upd", CurrentDeliveryStreamVersionId="2",
        DestinationId="destinationId-000000000002", S3DestinationUpdate={"Prefix": "x/"})
    assert code == "InvalidArgumentException"
    code, _, _ = error_of(
        fh.update_destination, DeliveryStreamName="nope", CurrentDeliveryStreamVersionId="1",
        DestinationId=DEST_ID, S3DestinationUpdate={"Prefix": "x/"})
    assert code == "ResourceNotFoundException"
    code, msg, _ = error_of(
        fh.update_destination, DeliveryStreamName="upd", CurrentDeliveryStreamVersionId="x",
        DestinationId=DEST_ID)
    assert code == "ValidationException" and "currentDeliveryStreamVersionId" in msg
    code, _, _ = error_of(
        fh.update_destination, DeliveryStreamName="upd", CurrentDeliveryStreamVersionId="2",
        DestinationId=DEST_ID, S3DestinationUpdate={"BufferingHints": {"IntervalInSeconds": 901}})
    assert code == "ValidationException"

    fh.update_destination(DeliveryStreamName="upd", CurrentDeliveryStreamVersionId="2",
                          DestinationId=DEST_ID, S3DestinationUpdate={
                              "BucketARN": "arn:aws:s3:::other"})
    d = describe(fh, "upd")
    assert d["VersionId"] == "3"
    assert d["Destinations"][0]["S3DestinationDescription"]["BucketARN"] == "arn:aws:s3:::other"
    # records still flow after updates
    assert fh.put_record(DeliveryStreamName="upd", Record={"Data": b"x"})["RecordId"]


# ---- tags ---------------------------------------------------------------------------
def test_tags(hydrant):
    fh = hydrant.client("firehose")
    create(fh, "tagged", wait=False, Tags=[{"Key": "team", "Value": "gps"},
                                           {"Key": "env", "Value": "dev"}])
    r = fh.list_tags_for_delivery_stream(DeliveryStreamName="tagged")
    assert r["Tags"] == [{"Key": "env", "Value": "dev"}, {"Key": "team", "Value": "gps"}]
    assert r["HasMoreTags"] is False

    fh.tag_delivery_stream(DeliveryStreamName="tagged",
                           Tags=[{"Key": "team", "Value": "fleet"}, {"Key": "cost", "Value": "42"}])
    r = fh.list_tags_for_delivery_stream(DeliveryStreamName="tagged", Limit=2)
    assert r["Tags"] == [{"Key": "cost", "Value": "42"}, {"Key": "env", "Value": "dev"}]
    assert r["HasMoreTags"] is True
    r = fh.list_tags_for_delivery_stream(DeliveryStreamName="tagged", ExclusiveStartTagKey="env")
    assert r["Tags"] == [{"Key": "team", "Value": "fleet"}] and r["HasMoreTags"] is False

    fh.untag_delivery_stream(DeliveryStreamName="tagged", TagKeys=["env", "absent"])
    keys = [t["Key"] for t in fh.list_tags_for_delivery_stream(DeliveryStreamName="tagged")["Tags"]]
    assert keys == ["cost", "team"]

    fh.tag_delivery_stream(DeliveryStreamName="tagged",
                           Tags=[{"Key": "k%02d" % i, "Value": "v"} for i in range(48)])
    code, _, status = error_of(fh.tag_delivery_stream, DeliveryStreamName="tagged",
                               Tags=[{"Key": "one-too-many", "Value": "v"}])
    assert (code, status) == ("LimitExceededException", 400)
    assert len(fh.list_tags_for_delivery_stream(DeliveryStreamName="tagged")["Tags"]) == 50

    code, msg, _ = error_of(fh.tag_delivery_stream, DeliveryStreamName="tagged",
                            Tags=[{"Key": "aws:reserved", "Value": "v"}])
    assert code == "ValidationException" and "tags.1.member.key" in msg
    code, _, _ = error_of(fh.tag_delivery_stream, DeliveryStreamName="tagged",
                          Tags=[{"Key": "k%02d" % i} for i in range(51)])
    assert code == "ValidationException"
    code, _, _ = error_of(fh.list_tags_for_delivery_stream, DeliveryStreamName="tagged", Limit=51)
    assert code == "ValidationException"
    code, _, _ = error_of(fh.tag_delivery_stream, DeliveryStreamName="nope",
                          Tags=[{"Key": "a", "Value": "b"}])
    assert code == "ResourceNotFoundException"
    code, _, _ = error_of(fh.list_tags_for_delivery_stream, DeliveryStreamName="nope")
    assert code == "ResourceNotFoundException"


# ---- encryption ---------------------------------------------------------------------
def test_encryption(hydrant):
    fh = hydrant.client("firehose")
    create(fh, "sse")
    fh.start_delivery_stream_encryption(
        DeliveryStreamName="sse",
        DeliveryStreamEncryptionConfigurationInput={"KeyType": "AWS_OWNED_CMK"})
    enc = describe(fh, "sse")["DeliveryStreamEncryptionConfiguration"]
    assert enc == {"KeyType": "AWS_OWNED_CMK", "Status": "ENABLED"}
    assert fh.put_record(DeliveryStreamName="sse", Record={"Data": b"x"})["Encrypted"] is True
    r = fh.put_record_batch(DeliveryStreamName="sse", Records=[{"Data": b"x"}])
    assert r["Encrypted"] is True

    code, _, _ = error_of(fh.start_delivery_stream_encryption, DeliveryStreamName="sse",
                          DeliveryStreamEncryptionConfigurationInput={
                              "KeyType": "CUSTOMER_MANAGED_CMK"})
    assert code == "InvalidArgumentException"
    key = "arn:aws:kms:us-east-1:000000000000:key/1234"
    fh.start_delivery_stream_encryption(
        DeliveryStreamName="sse",
        DeliveryStreamEncryptionConfigurationInput={"KeyType": "CUSTOMER_MANAGED_CMK",
                                                    "KeyARN": key})
    enc = describe(fh, "sse")["DeliveryStreamEncryptionConfiguration"]
    assert enc == {"KeyType": "CUSTOMER_MANAGED_CMK", "KeyARN": key, "Status": "ENABLED"}

    fh.stop_delivery_stream_encryption(DeliveryStreamName="sse")
    assert describe(fh, "sse")["DeliveryStreamEncryptionConfiguration"]["Status"] == "DISABLED"
    assert fh.put_record(DeliveryStreamName="sse", Record={"Data": b"x"})["Encrypted"] is False
    code, _, _ = error_of(fh.stop_delivery_stream_encryption, DeliveryStreamName="nope")
    assert code == "ResourceNotFoundException"

    create(fh, "sse2", DeliveryStreamEncryptionConfigurationInput={"KeyType": "AWS_OWNED_CMK"})
    assert describe(fh, "sse2")["DeliveryStreamEncryptionConfiguration"]["Status"] == "ENABLED"


# ---- persistence ----------------------------------------------------------------------
def test_restart_keeps_streams(make_hydrant):
    h = make_hydrant("--create-delay-ms", "60000")
    fh = h.client("firehose")
    create(fh, "young", wait=False)  # still CREATING when the server stops
    h2 = make_hydrant(data_dir=h.data_dir + "-2")
    h.stop()

    fh2 = h2.client("firehose")
    create(fh2, "kept", Tags=[{"Key": "a", "Value": "1"}],
           ExtendedS3DestinationConfiguration=ext_dest(Prefix="p/", CompressionFormat="ZIP"))
    fh2.update_destination(DeliveryStreamName="kept", CurrentDeliveryStreamVersionId="1",
                           DestinationId=DEST_ID, ExtendedS3DestinationUpdate={"Prefix": "q/"})
    fh2.start_delivery_stream_encryption(DeliveryStreamName="kept")
    before = describe(fh2, "kept")
    h2.restart()
    fh2 = h2.client("firehose")
    after = describe(fh2, "kept")
    assert after == before
    assert after["VersionId"] == "2"
    assert after["Destinations"][0]["ExtendedS3DestinationDescription"]["Prefix"] == "q/"
    assert after["DeliveryStreamEncryptionConfiguration"]["Status"] == "ENABLED"
    assert fh2.list_tags_for_delivery_stream(DeliveryStreamName="kept")["Tags"] == \
        [{"Key": "a", "Value": "1"}]
    assert fh2.put_record(DeliveryStreamName="kept", Record={"Data": b"x"})["Encrypted"] is True

    h.start()  # same data directory, same --create-delay-ms 60000
    fh = h.client("firehose")
    assert describe(fh, "young")["DeliveryStreamStatus"] == "ACTIVE"
    assert fh.put_record(DeliveryStreamName="young", Record={"Data": b"x"})["RecordId"]


# ---- the AWS CLI ----------------------------------------------------------------------
def test_aws_cli(hydrant):
    env = dict(os.environ, AWS_ACCESS_KEY_ID=ACCESS_KEY, AWS_SECRET_ACCESS_KEY=SECRET_KEY,
               AWS_DEFAULT_REGION=REGION, AWS_PAGER="")
    env.pop("AWS_PROFILE", None)

    def aws(*args):
        p = subprocess.run(["/usr/bin/aws", "--endpoint-url", hydrant.endpoint, "--output",
                            "json", "firehose", *args], env=env, capture_output=True,
                           text=True, timeout=60)
        assert p.returncode == 0, p.stderr
        return json.loads(p.stdout) if p.stdout.strip() else None

    r = aws("create-delivery-stream", "--delivery-stream-name", "cli",
            "--extended-s3-destination-configuration",
            json.dumps({"RoleARN": ROLE, "BucketARN": BUCKET}))
    assert r["DeliveryStreamARN"].endswith(":deliverystream/cli")
    wait_active(hydrant.client("firehose"), "cli")
    d = aws("describe-delivery-stream", "--delivery-stream-name", "cli")
    assert d["DeliveryStreamDescription"]["DeliveryStreamStatus"] == "ACTIVE"
    r = aws("put-record", "--cli-binary-format", "raw-in-base64-out",
            "--delivery-stream-name", "cli", "--record", '{"Data":"hello from the cli\\n"}')
    assert len(r["RecordId"]) >= 56 and r["Encrypted"] is False
    assert aws("list-delivery-streams")["DeliveryStreamNames"] == ["cli"]
