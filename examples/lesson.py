"""Lesson 3, "Working with the Firehose delivery stream", against hydrant.

The lesson as the course tells it, in boto3:
  1. the bucket and the FirehoseDeliveryRole are ready (made here if not);
  2. get the role's ARN from IAM;
  3. create the DirectPut stream gps-delivery-stream with an S3 destination;
  4. a vehicle's OBD2 reader sends a record: the values joined by spaces,
     with '\\n' at the end, through put_record;
  5. (here) a whole fleet drives for a while: tools/hydrant-fleet, which
     puts the same format through libhydrant;
  6. wait for buffering, list the year/month/day/hour folders;
  7. get_object and read_csv into pandas -- vehicle_data;
then the analysis people would rather look at than read (analysis.py):
speed distribution per vehicle and the vehicles' positions, as PNGs.

  python3 examples/lesson.py --hydrant build/hydrant --fleet build/hydrant-fleet
  python3 examples/lesson.py --endpoint http://127.0.0.1:4566 --fleet build/hydrant-fleet

With --hydrant the server is started on a free port with a fresh data
directory under --out and stopped at the end (what `make demo` does).
Stream buffering defaults to 5 s instead of AWS's 300 s so the lesson does
not wait five minutes; Debian's botocore refuses intervals under 60 s
client-side, hence parameter_validation=False (hydrant, like AWS today,
accepts 0-900).
"""
import argparse
import io
import json
import os
import shutil
import subprocess
import sys
import time

import boto3
import pandas as pd
from botocore.config import Config
from botocore.exceptions import ClientError

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import analysis  # noqa: E402

BUCKET = "sd-vehicle-data"
ROLE = "FirehoseDeliveryRole"
STREAM = "gps-delivery-stream"
COLUMNS = ["record_id", "timestamp", "vin", "lon", "lat", "speed"]
TRUST = {"Version": "2012-10-17",
         "Statement": [{"Effect": "Allow", "Principal": {"Service": "firehose.amazonaws.com"},
                        "Action": "sts:AssumeRole"}]}


def say(text):
    print("==> " + text, flush=True)


def start_hydrant(binary, data_dir):
    shutil.rmtree(data_dir, ignore_errors=True)
    os.makedirs(os.path.dirname(data_dir), exist_ok=True)
    log = open(data_dir + ".log", "wb")
    proc = subprocess.Popen([binary, "--port", "0", "--data-dir", data_dir,
                             "--create-delay-ms", "200"], stdout=subprocess.PIPE, stderr=log)
    line = proc.stdout.readline().decode()
    if not line.startswith("listening "):
        proc.kill()
        sys.exit("hydrant did not start (%r); see %s.log" % (line, data_dir))
    port = int(line.split()[2])
    return proc, "http://127.0.0.1:%d" % port


def clients(endpoint):
    kw = dict(endpoint_url=endpoint, region_name="us-east-1",
              aws_access_key_id=os.environ.get("AWS_ACCESS_KEY_ID", "test"),
              aws_secret_access_key=os.environ.get("AWS_SECRET_ACCESS_KEY", "test"),
              config=Config(parameter_validation=False))
    return boto3.client("s3", **kw), boto3.client("iam", **kw), boto3.client("firehose", **kw)


def setup(s3, iam, firehose, interval):
    """Lessons 1-2 left a bucket and a role; lesson 3 makes the stream."""
    try:
        s3.create_bucket(Bucket=BUCKET)
    except ClientError as e:
        if e.response["Error"]["Code"] not in ("BucketAlreadyOwnedByYou", "BucketAlreadyExists"):
            raise
    try:
        iam.create_role(RoleName=ROLE, AssumeRolePolicyDocument=json.dumps(TRUST))
    except ClientError as e:
        if e.response["Error"]["Code"] != "EntityAlreadyExists":
            raise

    say("Get Role ARN: IAM, Roles, %s" % ROLE)
    role_arn = iam.get_role(RoleName=ROLE)["Role"]["Arn"]
    print("    " + role_arn)

    say("Create the stream!")
    try:
        res = firehose.create_delivery_stream(
            DeliveryStreamName=STREAM,
            DeliveryStreamType="DirectPut",
            S3DestinationConfiguration={
                "RoleARN": role_arn,
                "BucketARN": "arn:aws:s3:::" + BUCKET,
                "BufferingHints": {"SizeInMBs": 5, "IntervalInSeconds": interval},
            })
        print("    DeliveryStreamARN: " + res["DeliveryStreamARN"])
    except ClientError as e:
        if e.response["Error"]["Code"] != "ResourceInUseException":
            raise
        print("    (exists already)")
    deadline = time.time() + 30
    while True:
        d = firehose.describe_delivery_stream(DeliveryStreamName=STREAM)
        if d["DeliveryStreamDescription"]["DeliveryStreamStatus"] == "ACTIVE":
            break
        if time.time() > deadline:
            sys.exit("the stream did not become ACTIVE")
        time.sleep(0.2)


def put_one_record(firehose, fleet, seed, vehicles, speedup, seconds):
    """The lesson's code for one record. The record is the fleet's own first
    reading (same seed), so the sample vehicle is one of the fleet."""
    if fleet:
        line = subprocess.run([fleet, "--output", "-", "--count", "1", "--seed", str(seed),
                               "--vehicles", str(vehicles), "--rate", "1000000"],
                              check=True, capture_output=True, text=True).stdout.split()
        # stamped on the fleet's clock, which starts (speedup - 1) x seconds ago
        captured = time.time() - (speedup - 1) * seconds - 1
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(captured)) + ".000Z"
        values = [int(line[0]), stamp, line[2], float(line[3]), float(line[4]), float(line[5])]
    else:
        values = [1, time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime()), "1HGCM82633A004352",
                  106.8230, -6.1950, 42.0]
    record = dict(zip(COLUMNS, values))
    say("Sending a record: %r" % record)
    payload = " ".join([str(v) for v in record.values()])
    res = firehose.put_record(DeliveryStreamName=STREAM, Record={"Data": payload + "\n"})
    print("    RecordId: %s..." % res["RecordId"][:24])
    return 1


def run_fleet(fleet, endpoint, seconds, seed, vehicles, rate, speedup):
    say("The fleet drives for %d s: %d vehicles, %d records/s (tools/hydrant-fleet)%s"
        % (seconds, vehicles, rate,
           "; their clocks run %gx faster: %.0f minute(s) of driving" % (speedup, seconds * speedup / 60)
           if speedup > 1 else ""))
    proc = subprocess.run([fleet, "--endpoint", endpoint, "--stream", STREAM,
                           "--vehicles", str(vehicles), "--rate", str(rate),
                           "--seconds", str(seconds), "--seed", str(seed), "--start-id", "2",
                           "--speedup", str(speedup)],
                          stderr=subprocess.PIPE, text=True)
    sys.stderr.write(proc.stderr)
    if proc.returncode != 0:
        sys.exit("hydrant-fleet failed (exit %d)" % proc.returncode)
    # the last progress line: "... acked N ..."
    words = proc.stderr.replace("\r", "\n").split()
    return int(words[len(words) - 1 - words[::-1].index("acked") + 1])


def wait_for_objects(s3, expected, timeout):
    say("Firehose buffers before it writes; waiting for %d records in S3" % expected)
    deadline = time.time() + timeout
    while True:
        keys = []
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=BUCKET):
            keys += [o["Key"] for o in page.get("Contents", [])]
        lines = 0
        bodies = {}
        for k in keys:
            bodies[k] = s3.get_object(Bucket=BUCKET, Key=k)["Body"].read()
            lines += bodies[k].count(b"\n")
        if lines >= expected:
            return bodies
        if time.time() > deadline:
            sys.exit("only %d of %d records arrived in %d s" % (lines, expected, timeout))
        time.sleep(1)


def list_folders(s3):
    """The console's view: year/, month/, day/, hour/ folders."""
    say("Created files: Firehose arranges the data by year/month/day/hour")
    prefixes = [""]
    for _ in range(4):
        nxt = []
        for p in prefixes:
            res = s3.list_objects_v2(Bucket=BUCKET, Prefix=p, Delimiter="/")
            nxt += [c["Prefix"] for c in res.get("CommonPrefixes", [])]
        prefixes = nxt
    for p in prefixes:
        objs = s3.list_objects_v2(Bucket=BUCKET, Prefix=p)["Contents"]
        print("    %s  (%d objects)" % (p, len(objs)))
        for o in objs[:3]:
            print("      %s  %d bytes" % (o["Key"], o["Size"]))
        if len(objs) > 3:
            print("      ...")


def main():
    ap = argparse.ArgumentParser(description="Lesson 3 against hydrant, with a fleet and plots.")
    where = ap.add_mutually_exclusive_group()
    where.add_argument("--endpoint", default="http://127.0.0.1:4566")
    where.add_argument("--hydrant", help="start this hydrant binary for the lesson")
    ap.add_argument("--fleet", help="tools/hydrant-fleet binary (else one record only)")
    ap.add_argument("--seconds", type=int, default=30, help="how long the fleet drives")
    ap.add_argument("--vehicles", type=int, default=12)
    ap.add_argument("--rate", type=int, default=24, help="records per second, whole fleet")
    ap.add_argument("--interval", type=int, default=5, help="stream IntervalInSeconds")
    ap.add_argument("--seed", type=int, default=2026)
    ap.add_argument("--speedup", type=float, default=20,
                    help="the vehicles' clock runs this much faster (tracks worth plotting)")
    ap.add_argument("--out", default="lesson-out", help="directory for the PNGs")
    args = ap.parse_args()

    server = None
    endpoint = args.endpoint
    if args.hydrant:
        server, endpoint = start_hydrant(args.hydrant, os.path.join(os.path.abspath(args.out),
                                                                    "hydrant-data"))
        say("hydrant listening on " + endpoint)
    try:
        s3, iam, firehose = clients(endpoint)
        setup(s3, iam, firehose, args.interval)
        sent = put_one_record(firehose, args.fleet, args.seed, args.vehicles, args.speedup,
                              args.seconds)
        if args.fleet:
            sent += run_fleet(args.fleet, endpoint, args.seconds, args.seed, args.vehicles,
                              args.rate, args.speedup)
        bodies = wait_for_objects(s3, sent, timeout=args.interval * 3 + 60)
        list_folders(s3)

        say("Read data into a DataFrame: get_object, then read_csv")
        key = sorted(bodies)[0]
        obj = s3.get_object(Bucket=BUCKET, Key=key)
        first = pd.read_csv(io.BytesIO(obj["Body"].read()), sep=" ", names=COLUMNS)
        print("    %s: %d rows" % (key, len(first)))
        vehicle_data = pd.concat(
            [pd.read_csv(io.BytesIO(bodies[k]), sep=" ", names=COLUMNS) for k in sorted(bodies)],
            ignore_index=True).sort_values("record_id").reset_index(drop=True)
        say("vehicle_data: %d records from %d vehicles" % (len(vehicle_data),
                                                           vehicle_data["vin"].nunique()))
        print(vehicle_data.head().to_string())
        print()
        print(vehicle_data.groupby("vin")["speed"].describe()[["count", "mean", "50%", "max"]]
              .round(1).to_string())

        say("Analysis")
        for path in analysis.analyse(vehicle_data, args.out):
            print("    wrote " + os.path.abspath(path))
    finally:
        if server:
            server.terminate()
            server.wait(30)


if __name__ == "__main__":
    main()
