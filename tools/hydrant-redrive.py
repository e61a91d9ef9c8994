#!/usr/bin/python3
"""hydrant-redrive -- list, download and redrive hydrant's dead-letter area.

A batch that hydrant could not deliver to S3 within --retry-window (24 h by
default, as AWS retries S3 delivery) is not dropped: it is written to the
bucket `hydrant-dead-letter` of the embedded store, keyed like AWS's error
output,

    <stream>/yyyy/MM/dd/HH/<stream>-<version>-yyyy-MM-dd-HH-mm-ss-<id>

one JSON line per record (AWS's error-output record shape):

    {"attemptsMade":N,"arrivalTimestamp":MS,"errorCode":"S3.NoSuchBucket",
     "errorMessage":"...","attemptEndingTimestamp":MS,
     "deliveryStreamName":"...","rawData":"<the record, base64>"}

Any S3 client can read it; this tool does the three things an operator
needs, with boto3 against hydrant's endpoint:

    hydrant-redrive.py --endpoint-url http://127.0.0.1:4566 list [--stream S]
    hydrant-redrive.py ... download DIR [--stream S]
    hydrant-redrive.py ... redrive [--stream S] [--to-stream T]

`redrive` puts each object's records back with PutRecordBatch (at most 500
records / 4 MiB per call; records the server refuses, e.g. "Slow down.",
are sent again with backoff) into the stream they came from, or --to-stream
(e.g. after fixing what made the original fail), and deletes the object only
once every one of its records was acknowledged. Interrupted, it leaves the
object in place: run it again (the records of that one object may then
arrive twice; Firehose is at-least-once there too).

Credentials: HYDRANT_ACCESS_KEY_ID / HYDRANT_SECRET_ACCESS_KEY, else
AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY, else test/test.
"""
import argparse
import base64
import json
import os
import sys
import time

import boto3
from botocore.config import Config

BUCKET = "hydrant-dead-letter"
MAX_RECORDS = 500
MAX_BYTES = 4 * 1024 * 1024


def clients(args):
    key = os.environ.get("HYDRANT_ACCESS_KEY_ID") or os.environ.get("AWS_ACCESS_KEY_ID") or "test"
    secret = (os.environ.get("HYDRANT_SECRET_ACCESS_KEY")
              or os.environ.get("AWS_SECRET_ACCESS_KEY") or "test")
    cfg = Config(parameter_validation=False, retries={"max_attempts": 3, "mode": "standard"})
    kw = dict(endpoint_url=args.endpoint_url, region_name=args.region,
              aws_access_key_id=key, aws_secret_access_key=secret, config=cfg)
    return boto3.client("s3", **kw), boto3.client("firehose", **kw)


def objects(s3, stream):
    prefix = stream + "/" if stream else ""
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix=prefix):
        for o in page.get("Contents", []):
            yield o


def records_of(s3, key):
    body = s3.get_object(Bucket=BUCKET, Key=key)["Body"].read()
    for line in body.splitlines():
        if line.strip():
            yield json.loads(line)


def put_all(fh, stream, datas):
    """Puts every record; returns once all are acknowledged."""
    pending = list(datas)
    delay = 0.2
    while pending:
        batch, size = [], 0
        while pending and len(batch) < MAX_RECORDS and size + len(pending[0]) <= MAX_BYTES:
            size += len(pending[0])
            batch.append(pending.pop(0))
        if not batch:  # one record over 4 MiB cannot exist (1,000 KiB cap)
            batch.append(pending.pop(0))
        r = fh.put_record_batch(DeliveryStreamName=stream,
                                Records=[{"Data": d} for d in batch])
        failed = [d for d, rr in zip(batch, r["RequestResponses"]) if "ErrorCode" in rr]
        if failed:
            pending = failed + pending
            time.sleep(delay)
            delay = min(delay * 2, 5.0)
        else:
            delay = 0.2


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--endpoint-url", default="http://127.0.0.1:4566")
    ap.add_argument("--region", default="us-east-1")
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("list", help="one line per dead-letter object")
    p.add_argument("--stream")
    p = sub.add_parser("download", help="copy the objects into a directory")
    p.add_argument("dir")
    p.add_argument("--stream")
    p = sub.add_parser("redrive", help="put the records back into a stream")
    p.add_argument("--stream", help="only objects of this stream")
    p.add_argument("--to-stream", help="put them here instead of where they came from")
    args = ap.parse_args(argv)
    s3, fh = clients(args)

    if args.cmd == "list":
        for o in objects(s3, args.stream):
            recs = list(records_of(s3, o["Key"]))
            code = recs[0]["errorCode"] if recs else "-"
            print("%s\t%d records\t%d bytes\t%s" % (o["Key"], len(recs), o["Size"], code))
        return 0
    if args.cmd == "download":
        for o in objects(s3, args.stream):
            path = os.path.join(args.dir, o["Key"])
            os.makedirs(os.path.dirname(path), exist_ok=True)
            s3.download_file(BUCKET, o["Key"], path)
            print(path)
        return 0
    moved = 0
    for o in list(objects(s3, args.stream)):
        recs = list(records_of(s3, o["Key"]))
        target = args.to_stream or (recs[0]["deliveryStreamName"] if recs
                                    else o["Key"].split("/")[0])
        put_all(fh, target, [base64.b64decode(r["rawData"]) for r in recs])
        s3.delete_object(Bucket=BUCKET, Key=o["Key"])
        moved += len(recs)
        print("%s: %d records put into %s" % (o["Key"], len(recs), target))
    print("redriven: %d records" % moved)
    return 0


if __name__ == "__main__":
    sys.exit(main())
