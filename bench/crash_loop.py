#!/usr/bin/python3
"""The long crash test (issue 3): N kill -9s of hydrant at random moments
under load, then a check that every acknowledged record is in the bucket
exactly once.

    /usr/bin/python3 bench/crash_loop.py [--kills 50] [--seed 1] [--threads 3]
    /usr/bin/python3 bench/crash_loop.py --pipeline [--kills 20]

--pipeline (issue 13): the stream is partitioned by jq (10 partitions by
the record's "p") and by a Lambda (the function hydrant runs itself),
which rewrites every record with a random nonce and puts the records of
each invocation in a partitionKeyFromLambda partition of its own, drawn
at random: a second run of the same batch names other objects, so a
recovery that called the function again would leave the first run's
objects beside the second's, every record twice (a build without plan
files shows it: see docs/WAL.md). Dynamic partitioning
buffers at least 64 MiB / 60 s (AWS's minimums), so every round ends
with SIGTERM (delivery of every buffer begins) and a SIGKILL into that
drain: in one round of four 0-0.3 s after it (before the objects, or
while the function runs), in the others 0-30 ms after the log shows the
run's first object written (while the rest are being written).

Producers put unique records with boto3 PutRecordBatch (signed, keep-alive)
and remember which were acknowledged; the server is SIGKILLed between 0.3
and 2.0 s into each round, restarted, and the producers go on. At the end
one clean start delivers what is left. Prints one line per round and a
summary: acknowledged, delivered, lost (must be 0), duplicated (must be 0).
"""
import argparse
import os
import random
import signal
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "integration"))

from conftest import Hydrant, wait_active, wait_for  # noqa: E402
from test_durability import Producer, delivered_lines, make_stream  # noqa: E402

LAMBDA_CODE = b"""
import base64, json, random

def handler(event, context):
    out = []
    lp = "%06d" % random.randrange(10 ** 6)  # one new partition per invocation
    for r in event["records"]:
        d = json.loads(base64.b64decode(r["data"]))
        d["nonce"] = random.random()
        out.append({"recordId": r["recordId"], "result": "Ok",
                    "data": base64.b64encode((json.dumps(d) + "\\n").encode()).decode(),
                    "metadata": {"partitionKeys": {"lp": lp}}})
    return {"records": out}
"""


def pipeline_stream(h):
    import io
    import zipfile
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("fn.py", LAMBDA_CODE)
    import json
    h.client("iam").create_role(RoleName="lambda-role", AssumeRolePolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{
            "Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"},
            "Action": "sts:AssumeRole"}]}))
    lam = h.client("lambda")
    arn = lam.create_function(FunctionName="nonce", Runtime="python3.11", Handler="fn.handler",
                              Role="arn:aws:iam::000000000000:role/lambda-role",
                              Code={"ZipFile": buf.getvalue()}, Timeout=30)["FunctionArn"]
    h.client("s3").create_bucket(Bucket="crash-bucket")
    fh = h.client("firehose")
    fh.create_delivery_stream(
        DeliveryStreamName="crash-stream", DeliveryStreamType="DirectPut",
        ExtendedS3DestinationConfiguration={
            "RoleARN": "arn:aws:iam::000000000000:role/FirehoseDeliveryRole",
            "BucketARN": "arn:aws:s3:::crash-bucket",
            "BufferingHints": {"SizeInMBs": 64, "IntervalInSeconds": 60},
            "Prefix": "q=!{partitionKeyFromQuery:p}/l=!{partitionKeyFromLambda:lp}/",
            "ErrorOutputPrefix": "errors/!{firehose:error-output-type}/",
            "DynamicPartitioningConfiguration": {"Enabled": True},
            "ProcessingConfiguration": {"Enabled": True, "Processors": [
                {"Type": "Lambda", "Parameters": [
                    {"ParameterName": "LambdaArn", "ParameterValue": arn}]},
                {"Type": "MetadataExtraction", "Parameters": [
                    {"ParameterName": "MetadataExtractionQuery", "ParameterValue": "{p: .p}"},
                    {"ParameterName": "JsonParsingEngine", "ParameterValue": "JQ-1.6"}]}]}})
    wait_active(fh, "crash-stream")


def pipeline_records(recs):
    """The producer's unique ids as the JSON records the stream partitions."""
    import json
    return [json.dumps({"id": x.decode(), "p": int(x.split(b"-")[1]) % 10}).encode()
            for x in recs]


def delivered_ids(s3, bucket):
    """id -> how many times it is in the data objects (errors/ excluded)."""
    import json
    got, token = {}, None
    while True:
        kw = {"Bucket": bucket}
        if token:
            kw["ContinuationToken"] = token
        r = s3.list_objects_v2(**kw)
        for o in r.get("Contents", []):
            if o["Key"].startswith("errors/"):
                raise AssertionError("a record went to the error output: " + o["Key"])
            body = s3.get_object(Bucket=bucket, Key=o["Key"])["Body"].read()
            for line in body.decode().splitlines():
                i = json.loads(line)["id"].encode()
                got[i] = got.get(i, 0) + 1
        if not r.get("IsTruncated"):
            return got
        token = r["NextContinuationToken"]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--kills", type=int, default=50)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--threads", type=int, default=3)
    ap.add_argument("--batch", type=int, default=40)
    ap.add_argument("--pipeline", action="store_true",
                    help="a jq- and Lambda-partitioned, Lambda-transformed stream")
    args = ap.parse_args()
    rnd = random.Random(args.seed)
    data = os.path.join(tempfile.mkdtemp(prefix="hydrant-crash-"), "data")
    h = Hydrant(data).start()
    if args.pipeline:
        pipeline_stream(h)
    else:
        h.client("s3").create_bucket(Bucket="crash-bucket")
        make_stream(h.client("firehose"), "crash-stream", "crash-bucket", size_mb=1,
                    interval=1)
    acked, sent = set(), set()
    t0 = time.monotonic()
    for k in range(args.kills):
        p = Producer(h, "crash-stream", threads=args.threads, batch=args.batch,
                     encode=pipeline_records if args.pipeline else None)
        p.start()
        time.sleep(rnd.uniform(0.3, 2.0))
        if args.pipeline:
            p.join()  # the drain takes no puts: stop the producers first
            at = os.path.getsize(h.log_path)
            h.proc.send_signal(signal.SIGTERM)
            if k % 4 == 0:
                time.sleep(rnd.uniform(0.0, 0.3))  # before, or while the function runs
            else:
                # while the run's objects are being written: the first one is
                # in the bucket, the others not yet
                wait_for(lambda: b"data object" in open(h.log_path, "rb").read()[at:] or
                         h.proc.poll() is not None, timeout=20, interval=0.002)
                time.sleep(rnd.uniform(0.0, 0.03))
        h.proc.send_signal(signal.SIGKILL)
        h.proc.wait()
        p.join()
        acked |= p.acked
        sent |= p.sent
        h.stop()
        h.start()
        print("kill %2d: %6d acknowledged so far" % (k + 1, len(acked)), flush=True)
    if args.pipeline:
        h.restart()  # the last drain, uninterrupted
    s3 = h.client("s3")
    count = delivered_ids if args.pipeline else delivered_lines
    got = wait_for(lambda: (lambda g: g if acked <= set(g) else None)(
        count(s3, "crash-bucket")), timeout=300, interval=1)
    lost = acked - set(got)
    dup = sum(1 for v in got.values() if v > 1)
    unacked_delivered = len(set(got) - acked)
    objs = len(s3.list_objects_v2(Bucket="crash-bucket").get("Contents", []))
    h.stop()
    print("kills=%d seed=%d pipeline=%s acknowledged=%d delivered=%d lost=%d duplicated=%d "
          "delivered-but-unacknowledged=%d objects=%d seconds=%.0f"
          % (args.kills, args.seed, args.pipeline, len(acked), len(got), len(lost), dup,
             unacked_delivered, objs, time.monotonic() - t0))
    return 1 if lost or dup else 0


if __name__ == "__main__":
    sys.exit(main())
