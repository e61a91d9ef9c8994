"""Regions are separate namespaces for delivery streams, as in AWS: the
same name in two regions is two streams with their own ARNs, data,
listings and quotas (the region comes from the request's credential
scope). Buckets stay global."""
import json

import pytest
from botocore.exceptions import ClientError

from conftest import wait_active, wait_for

ROLE = "arn:aws:iam::000000000000:role/FirehoseDeliveryRole"


def dest(bucket):
    return {"RoleARN": ROLE, "BucketARN": "arn:aws:s3:::" + bucket,
            "BufferingHints": {"SizeInMBs": 1, "IntervalInSeconds": 0}}


def test_same_name_in_two_regions(hydrant):
    east, west = hydrant.client("firehose"), hydrant.client("firehose", region="eu-west-1")
    s3 = hydrant.client("s3")
    for b in ("east-bucket", "west-bucket"):
        s3.create_bucket(Bucket=b)
    east.create_delivery_stream(DeliveryStreamName="gps", ExtendedS3DestinationConfiguration=
                                dest("east-bucket"))
    # not "in use": eu-west-1 has no stream of that name
    west.create_delivery_stream(DeliveryStreamName="gps", ExtendedS3DestinationConfiguration=
                                dest("west-bucket"))
    wait_active(east, "gps")
    wait_active(west, "gps")
    de = east.describe_delivery_stream(DeliveryStreamName="gps")["DeliveryStreamDescription"]
    dw = west.describe_delivery_stream(DeliveryStreamName="gps")["DeliveryStreamDescription"]
    assert de["DeliveryStreamARN"] == \
        "arn:aws:firehose:us-east-1:000000000000:deliverystream/gps"
    assert dw["DeliveryStreamARN"] == \
        "arn:aws:firehose:eu-west-1:000000000000:deliverystream/gps"
    assert de["Destinations"][0]["ExtendedS3DestinationDescription"]["BucketARN"] == \
        "arn:aws:s3:::east-bucket"
    assert dw["Destinations"][0]["ExtendedS3DestinationDescription"]["BucketARN"] == \
        "arn:aws:s3:::west-bucket"

    east.put_record(DeliveryStreamName="gps", Record={"Data": b"east\n"})
    west.put_record(DeliveryStreamName="gps", Record={"Data": b"west\n"})
    for bucket, want in (("east-bucket", b"east\n"), ("west-bucket", b"west\n")):
        [o] = wait_for(lambda: s3.list_objects_v2(Bucket=bucket).get("Contents"), timeout=20)
        assert s3.get_object(Bucket=bucket, Key=o["Key"])["Body"].read() == want

    # listings are per region; a stream only in one region is not found in the other
    east.create_delivery_stream(DeliveryStreamName="only-east",
                                ExtendedS3DestinationConfiguration=dest("east-bucket"))
    assert east.list_delivery_streams()["DeliveryStreamNames"] == ["gps", "only-east"]
    assert west.list_delivery_streams()["DeliveryStreamNames"] == ["gps"]
    with pytest.raises(ClientError) as e:
        west.describe_delivery_stream(DeliveryStreamName="only-east")
    assert e.value.response["Error"]["Code"] == "ResourceNotFoundException"

    # deleting one leaves the other
    west.delete_delivery_stream(DeliveryStreamName="gps")
    wait_for(lambda: "gps" not in west.list_delivery_streams()["DeliveryStreamNames"] or None,
             timeout=10)
    assert east.describe_delivery_stream(DeliveryStreamName="gps")


def test_regions_survive_a_restart_and_quotas_are_per_region(make_hydrant):
    h = make_hydrant("--max-streams", "1")
    east, west = h.client("firehose"), h.client("firehose", region="ap-southeast-3")
    east.create_delivery_stream(DeliveryStreamName="a", ExtendedS3DestinationConfiguration=
                                dest("b"))
    west.create_delivery_stream(DeliveryStreamName="a", ExtendedS3DestinationConfiguration=
                                dest("b"))
    with pytest.raises(ClientError) as e:
        east.create_delivery_stream(DeliveryStreamName="b", ExtendedS3DestinationConfiguration=
                                    dest("b"))
    assert e.value.response["Error"]["Code"] == "LimitExceededException"
    h.restart()
    east, west = h.client("firehose"), h.client("firehose", region="ap-southeast-3")
    assert west.describe_delivery_stream(DeliveryStreamName="a")["DeliveryStreamDescription"][
        "DeliveryStreamARN"].startswith("arn:aws:firehose:ap-southeast-3:")
    assert east.list_delivery_streams()["DeliveryStreamNames"] == ["a"]


def test_a_catalog_from_before_regions_is_keyed_by_the_arns_region(make_hydrant, tmp_path):
    """streams.db rows of an older hydrant hold bare names: at start they
    are keyed by the region of their ARN."""
    import os
    import sqlite3
    data = str(tmp_path / "old")
    h = make_hydrant(data_dir=data)
    west = h.client("firehose", region="eu-west-1")
    west.create_delivery_stream(DeliveryStreamName="legacy",
                                ExtendedS3DestinationConfiguration=dest("b"))
    wait_active(west, "legacy")
    h.stop()
    db = sqlite3.connect(os.path.join(data, "streams.db"))
    db.execute("UPDATE streams SET name='legacy' WHERE name='eu-west-1/legacy'")
    db.commit()
    db.close()
    h.start()
    west = h.client("firehose", region="eu-west-1")
    d = west.describe_delivery_stream(DeliveryStreamName="legacy")["DeliveryStreamDescription"]
    assert d["DeliveryStreamName"] == "legacy"
    assert h.client("firehose").list_delivery_streams()["DeliveryStreamNames"] == []
    assert "is now keyed by its region: eu-west-1/legacy" in h.read_log()
