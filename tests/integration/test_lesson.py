"""The lesson in ../shared/seeds/, end to end, with boto3 and pandas.

A newcomer creates a bucket and a role, creates the DirectPut stream
gps-delivery-stream with an S3 destination, has vehicles put space-separated
telematics records ending in '\n', then finds objects under YYYY/MM/DD/HH/
and reads one with pandas.read_csv(sep=' ').
"""
import datetime
import io
import json
import re

import pandas as pd

from conftest import wait_active, wait_for

COLUMNS = ["record_id", "timestamp", "vin", "lon", "lat", "speed"]
KEY_RE = re.compile(
    r"^(\d{4})/(\d{2})/(\d{2})/(\d{2})/gps-delivery-stream-1-"
    r"(\d{4})-(\d{2})-(\d{2})-(\d{2})-(\d{2})-(\d{2})-"
    r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")

TRUST = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow",
                   "Principal": {"Service": "firehose.amazonaws.com"},
                   "Action": "sts:AssumeRole"}],
}


def vehicle_records(n):
    vins = ["1HGCM82633A004352", "JH4KA7561PC008269", "5YJSA1E26HF000337"]
    base = datetime.datetime(2026, 11, 25, 8, 0, 0)
    for i in range(n):
        yield {
            "record_id": 939 + i,
            "timestamp": (base + datetime.timedelta(seconds=i)).strftime("%Y-%m-%d_%H:%M:%S"),
            "vin": vins[i % 3],
            "lon": round(106.9 + i * 0.001, 4),
            "lat": round(-6.2 - i * 0.001, 4),
            "speed": 30 + i % 50,
        }


def test_lesson_end_to_end(hydrant):
    s3 = hydrant.client("s3")
    iam = hydrant.client("iam")
    firehose = hydrant.client("firehose")

    # 1. bucket and role
    s3.create_bucket(Bucket="sd-vehicle-data")
    role = iam.create_role(RoleName="FirehoseDeliveryRole",
                           AssumeRolePolicyDocument=json.dumps(TRUST))
    role_arn = iam.get_role(RoleName="FirehoseDeliveryRole")["Role"]["Arn"]
    assert role_arn == role["Role"]["Arn"] == \
        "arn:aws:iam::000000000000:role/FirehoseDeliveryRole"

    # 2. the stream (short buffering so the test does not wait 5 minutes)
    res = firehose.create_delivery_stream(
        DeliveryStreamName="gps-delivery-stream",
        DeliveryStreamType="DirectPut",
        S3DestinationConfiguration={
            "RoleARN": role_arn,
            "BucketARN": "arn:aws:s3:::sd-vehicle-data",
            "BufferingHints": {"SizeInMBs": 1, "IntervalInSeconds": 2},
        })
    assert res["DeliveryStreamARN"] == \
        "arn:aws:firehose:us-east-1:000000000000:deliverystream/gps-delivery-stream"
    wait_active(firehose, "gps-delivery-stream")

    # 3. vehicles put records, one at a time and in a batch
    records = list(vehicle_records(60))
    for rec in records[:30]:
        payload = " ".join(str(v) for v in rec.values()) + "\n"
        r = firehose.put_record(DeliveryStreamName="gps-delivery-stream",
                                Record={"Data": payload})
        assert r["RecordId"]
    batch = [{"Data": " ".join(str(v) for v in rec.values()) + "\n"} for rec in records[30:]]
    r = firehose.put_record_batch(DeliveryStreamName="gps-delivery-stream", Records=batch)
    assert r["FailedPutCount"] == 0
    assert len(r["RequestResponses"]) == 30

    # 4. objects under YYYY/MM/DD/HH/ after the buffering interval
    def delivered():
        objs = s3.list_objects_v2(Bucket="sd-vehicle-data").get("Contents", [])
        total = sum(o["Size"] for o in objs)
        expected = sum(len(" ".join(str(v) for v in r.values())) + 1 for r in records)
        return objs if total == expected else None
    objs = wait_for(delivered, timeout=30)
    now = datetime.datetime.now(datetime.timezone.utc)
    frames = []
    for o in objs:
        m = KEY_RE.match(o["Key"])
        assert m, o["Key"]
        # the folder and the name carry the same (UTC) hour
        assert m.group(1, 2, 3, 4) == m.group(5, 6, 7, 8)
        stamp = datetime.datetime(*map(int, m.group(5, 6, 7, 8, 9, 10)),
                                  tzinfo=datetime.timezone.utc)
        assert abs((now - stamp).total_seconds()) < 120
        obj = s3.get_object(Bucket="sd-vehicle-data", Key=o["Key"])
        frames.append(pd.read_csv(io.BytesIO(obj["Body"].read()), sep=" ", names=COLUMNS))

    # the hour folders list with a delimiter, as in the S3 console
    top = s3.list_objects_v2(Bucket="sd-vehicle-data", Delimiter="/")
    assert [p["Prefix"] for p in top["CommonPrefixes"]] == [objs[0]["Key"][:5]]

    vehicle_data = pd.concat(frames).sort_values("record_id").reset_index(drop=True)
    expected = pd.DataFrame(records, columns=COLUMNS)
    pd.testing.assert_frame_equal(vehicle_data, expected)
    assert vehicle_data.groupby("vin")["speed"].count().sum() == 60
