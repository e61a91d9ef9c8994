"""CloudWatchLoggingOptions honoured (issue 17): a stream's delivery
errors, with AWS's codes, in the named log group and stream, read with
boto3's logs client and `aws logs tail`; and the CloudWatch Logs API
itself (groups, streams, events, tokens, filter patterns)."""
import datetime
import json
import os
import subprocess

import pytest
from botocore.exceptions import ClientError

from conftest import wait_active, wait_for

ROLE = "arn:aws:iam::000000000000:role/firehose_delivery_role"
GROUP, LSTREAM = "/aws/kinesisfirehose/broken-stream", "DestinationDelivery"


def broken_stream(h, name="broken-stream", logging=True):
    fh = h.client("firehose")
    opts = {"Enabled": True, "LogGroupName": GROUP, "LogStreamName": LSTREAM} if logging \
        else {"Enabled": False}
    fh.create_delivery_stream(
        DeliveryStreamName=name,
        ExtendedS3DestinationConfiguration={
            "RoleARN": ROLE, "BucketARN": "arn:aws:s3:::no-such-bucket-here",
            "BufferingHints": {"IntervalInSeconds": 1, "SizeInMBs": 1},
            "CloudWatchLoggingOptions": opts})
    wait_active(fh, name)
    fh.put_record_batch(DeliveryStreamName=name,
                        Records=[{"Data": b'{"n":%d}\n' % i} for i in range(3)])
    return fh


def test_missing_bucket_error_in_filter_log_events(hydrant):
    fh = broken_stream(hydrant)
    desc = fh.describe_delivery_stream(DeliveryStreamName="broken-stream")
    d = desc["DeliveryStreamDescription"]["Destinations"][0]
    assert d["ExtendedS3DestinationDescription"]["CloudWatchLoggingOptions"] == {
        "Enabled": True, "LogGroupName": GROUP, "LogStreamName": LSTREAM}
    logs = hydrant.client("logs", validate=True)

    def events():
        try:  # the group appears with the first failure
            r = logs.filter_log_events(logGroupName=GROUP, filterPattern='"S3.NoSuchBucket"')
        except logs.exceptions.ResourceNotFoundException:
            return None
        return r["events"] or None
    ev = wait_for(events, timeout=30)
    msg = json.loads(ev[0]["message"])
    assert msg["errorCode"] == "S3.NoSuchBucket"
    assert msg["message"].startswith("The specified bucket does not exist.")
    assert msg["deliveryStreamARN"].endswith(":deliverystream/broken-stream")
    assert msg["destination"] == "arn:aws:s3:::no-such-bucket-here"
    assert ev[0]["logStreamName"] == LSTREAM
    # the group and stream are listed, and GetLogEvents reads the same event
    groups = logs.describe_log_groups(logGroupNamePrefix="/aws/kinesisfirehose/")["logGroups"]
    assert [g["logGroupName"] for g in groups] == [GROUP]
    streams = logs.describe_log_streams(logGroupName=GROUP)["logStreams"]
    assert [s["logStreamName"] for s in streams] == [LSTREAM]
    got = logs.get_log_events(logGroupName=GROUP, logStreamName=LSTREAM,
                              startFromHead=True)["events"]
    assert got and json.loads(got[0]["message"])["errorCode"] == "S3.NoSuchBucket"
    # a pattern that does not occur finds nothing; exclusion drops them
    assert logs.filter_log_events(logGroupName=GROUP, filterPattern="Lambda")["events"] == []
    assert logs.filter_log_events(logGroupName=GROUP,
                                  filterPattern="errorCode -NoSuchBucket")["events"] == []
    # and the metric says the deliveries failed
    cw = hydrant.client("cloudwatch")
    now = datetime.datetime.now(datetime.timezone.utc)
    dp = cw.get_metric_statistics(
        Namespace="AWS/Firehose", MetricName="DeliveryToS3.Success",
        Dimensions=[{"Name": "DeliveryStreamName", "Value": "broken-stream"}],
        StartTime=now - datetime.timedelta(minutes=10), EndTime=now + datetime.timedelta(minutes=1),
        Period=600, Statistics=["Average", "SampleCount"])["Datapoints"]
    assert dp and dp[0]["Average"] == 0.0 and dp[0]["SampleCount"] >= 1


def test_aws_logs_tail_shows_the_error(hydrant, tmp_path):
    broken_stream(hydrant)
    logs = hydrant.client("logs")
    def events():
        try:
            return logs.filter_log_events(logGroupName=GROUP)["events"]
        except logs.exceptions.ResourceNotFoundException:
            return None
    wait_for(events, timeout=30)
    env = dict(os.environ, AWS_ACCESS_KEY_ID="test", AWS_SECRET_ACCESS_KEY="test",
               AWS_DEFAULT_REGION="us-east-1", AWS_CONFIG_FILE=str(tmp_path / "none"),
               AWS_PAGER="")
    out = subprocess.run(["/usr/bin/aws", "--endpoint-url", hydrant.endpoint, "logs", "tail",
                          GROUP, "--since", "10m", "--format", "short"],
                         env=env, capture_output=True, timeout=60)
    assert out.returncode == 0, out.stderr.decode()
    text = out.stdout.decode()
    assert "S3.NoSuchBucket" in text and "broken-stream" in text


def test_logging_off_writes_nothing_and_names_are_required(hydrant):
    broken_stream(hydrant, name="quiet-stream", logging=False)
    logs = hydrant.client("logs")
    fh = hydrant.client("firehose")
    # it fails (metrics say so) but no log group appears
    cw = hydrant.client("cloudwatch")
    now = datetime.datetime.now(datetime.timezone.utc)

    def failed():
        dp = cw.get_metric_statistics(
            Namespace="AWS/Firehose", MetricName="DeliveryToS3.Success",
            Dimensions=[{"Name": "DeliveryStreamName", "Value": "quiet-stream"}],
            StartTime=now - datetime.timedelta(minutes=10),
            EndTime=now + datetime.timedelta(minutes=1), Period=600,
            Statistics=["SampleCount"])["Datapoints"]
        return dp
    wait_for(failed, timeout=30)
    assert logs.describe_log_groups()["logGroups"] == []
    with pytest.raises(ClientError) as e:
        fh.create_delivery_stream(
            DeliveryStreamName="no-names",
            ExtendedS3DestinationConfiguration={
                "RoleARN": ROLE, "BucketARN": "arn:aws:s3:::b-b-b",
                "CloudWatchLoggingOptions": {"Enabled": True}})
    assert e.value.response["Error"]["Code"] == "InvalidArgumentException"
    assert "LogGroupName" in e.value.response["Error"]["Message"]


def test_logs_api(hydrant):
    logs = hydrant.client("logs", validate=True)
    logs.create_log_group(logGroupName="app")
    with pytest.raises(ClientError) as e:
        logs.create_log_group(logGroupName="app")
    assert e.value.response["Error"]["Code"] == "ResourceAlreadyExistsException"
    with pytest.raises(ClientError) as e:
        logs.create_log_stream(logGroupName="nope", logStreamName="s")
    assert e.value.response["Error"]["Code"] == "ResourceNotFoundException"
    logs.create_log_stream(logGroupName="app", logStreamName="web-1")
    logs.create_log_stream(logGroupName="app", logStreamName="web-2")
    base = 1_700_000_000_000
    logs.put_log_events(logGroupName="app", logStreamName="web-1", logEvents=[
        {"timestamp": base + i, "message": "GET /page/%d status=%d" % (i, 500 if i % 3 else 200)}
        for i in range(10)])
    logs.put_log_events(logGroupName="app", logStreamName="web-2", logEvents=[
        {"timestamp": base + 5, "message": "POST /buy status=201"}])
    # forward paging with tokens; the same token again when nothing is new
    r = logs.get_log_events(logGroupName="app", logStreamName="web-1", startFromHead=True,
                            limit=4)
    assert [e["timestamp"] - base for e in r["events"]] == [0, 1, 2, 3]
    r2 = logs.get_log_events(logGroupName="app", logStreamName="web-1",
                             nextToken=r["nextForwardToken"], limit=100)
    assert [e["timestamp"] - base for e in r2["events"]] == list(range(4, 10))
    r3 = logs.get_log_events(logGroupName="app", logStreamName="web-1",
                             nextToken=r2["nextForwardToken"])
    assert r3["events"] == [] and r3["nextForwardToken"] == r2["nextForwardToken"]
    back = logs.get_log_events(logGroupName="app", logStreamName="web-1",
                               nextToken=r2["nextBackwardToken"], limit=2)
    assert [e["timestamp"] - base for e in back["events"]] == [2, 3]
    # the latest by default
    tail = logs.get_log_events(logGroupName="app", logStreamName="web-1", limit=2)
    assert [e["timestamp"] - base for e in tail["events"]] == [8, 9]
    # interleaved filter across streams, terms and alternatives, paging
    r = logs.filter_log_events(logGroupName="app", filterPattern="status=200")
    assert [e["timestamp"] - base for e in r["events"]] == [0, 3, 6, 9]
    r = logs.filter_log_events(logGroupName="app", filterPattern="?POST ?status=200",
                               startTime=base + 4)
    assert [(e["logStreamName"], e["timestamp"] - base) for e in r["events"]] == [
        ("web-2", 5), ("web-1", 6), ("web-1", 9)]
    r = logs.filter_log_events(logGroupName="app", limit=3)
    assert len(r["events"]) == 3 and "nextToken" in r
    pages = list(logs.get_paginator("filter_log_events").paginate(logGroupName="app"))
    assert sum(len(p["events"]) for p in pages) == 11
    with pytest.raises(ClientError) as e:
        logs.filter_log_events(logGroupName="app", filterPattern='{ $.status = 500 }')
    assert e.value.response["Error"]["Code"] == "InvalidParameterException"
    assert "JSON" in e.value.response["Error"]["Message"]
    streams = logs.describe_log_streams(logGroupName="app", orderBy="LastEventTime",
                                        descending=True)["logStreams"]
    assert [s["logStreamName"] for s in streams] == ["web-1", "web-2"]
    assert streams[0]["lastEventTimestamp"] == base + 9
    with pytest.raises(ClientError) as e:
        logs.put_log_events(logGroupName="app", logStreamName="web-1", logEvents=[
            {"timestamp": base + 2, "message": "b"}, {"timestamp": base + 1, "message": "a"}])
    assert e.value.response["Error"]["Code"] == "InvalidParameterException"
    logs.delete_log_group(logGroupName="app")
    assert logs.describe_log_groups()["logGroups"] == []
