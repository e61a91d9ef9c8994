#!/usr/bin/python3
"""iam.py -- what IAM enforcement costs PutRecord: the root key against an
IAM user with 10 attached managed policies (one of them allows
firehose:PutRecord on the stream; the other nine are realistic documents
that do not match, so every request evaluates all ten), on one server
(--iam=default), alternated run by run.

Also PutRecordBatch (500 x 100 B) for the batch ratio. The load generator
is tools/hydrant-load (SigV4 signed, keep-alive, 64 connections); it
signs once a second per stream, as in bench/run.py. Numbers, never
assertions. The machine is shared: runs are alternated and medians shown.

  HYDRANT_BIN=build/hydrant /usr/bin/python3 bench/iam.py [--runs 3] [--duration 4]
"""
import argparse
import json
import os
import signal
import subprocess
import statistics
import sys
import tempfile
import time

from run import clients, hydrant, log, loadavg, run_load


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--duration", type=float, default=4)
    args = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="hydrant-iam-bench-")
    srv = hydrant(tmp + "/data", "--iam=default")
    try:
        import boto3
        from botocore.config import Config
        kw = dict(endpoint_url="http://127.0.0.1:%d" % srv.port, region_name="us-east-1",
                  aws_access_key_id="test", aws_secret_access_key="test",
                  config=Config(parameter_validation=False))
        s3, fh = clients(srv.port)
        iam = boto3.client("iam", **kw)
        s3.create_bucket(Bucket="bench")
        iam.create_role(RoleName="bench", AssumeRolePolicyDocument=json.dumps({
            "Version": "2012-10-17", "Statement": [{
                "Effect": "Allow", "Principal": {"Service": "firehose.amazonaws.com"},
                "Action": "sts:AssumeRole"}]}))
        fh.create_delivery_stream(
            DeliveryStreamName="bench", DeliveryStreamType="DirectPut",
            ExtendedS3DestinationConfiguration={
                "RoleARN": "arn:aws:iam::000000000000:role/bench",
                "BucketARN": "arn:aws:s3:::bench",
                "BufferingHints": {"SizeInMBs": 64, "IntervalInSeconds": 60}})
        time.sleep(0.3)
        iam.create_user(UserName="producer")
        for i in range(10):
            stmts = [{"Effect": "Allow", "Action": ["s3:GetObject", "s3:ListBucket"],
                      "Resource": ["arn:aws:s3:::team-%d" % i, "arn:aws:s3:::team-%d/*" % i]},
                     {"Effect": "Deny", "Action": "iam:*", "Resource": "*",
                      "Condition": {"Bool": {"aws:SecureTransport": "true"}}},
                     {"Effect": "Allow", "Action": "firehose:Describe*",
                      "Resource": "arn:aws:firehose:*:000000000000:deliverystream/team-%d-*" % i}]
            if i == 9:
                stmts.append({"Effect": "Allow",
                              "Action": ["firehose:PutRecord", "firehose:PutRecordBatch"],
                              "Resource": "arn:aws:firehose:us-east-1:000000000000:"
                                          "deliverystream/bench",
                              "Condition": {"IpAddress": {"aws:SourceIp": "127.0.0.0/8"}}})
            arn = iam.create_policy(PolicyName="p%d" % i, PolicyDocument=json.dumps({
                "Version": "2012-10-17", "Statement": stmts}))["Policy"]["Arn"]
            iam.attach_user_policy(UserName="producer", PolicyArn=arn)
        key = iam.create_access_key(UserName="producer")["AccessKey"]
        who = {"root": ("test", "test"), "user": (key["AccessKeyId"], key["SecretAccessKey"])}
        log("load average %s" % loadavg())
        for op, extra in (("PutRecord", {}), ("PutRecordBatch", {"batch": 500})):
            res = {"root": [], "user": []}
            for i in range(args.runs):
                for name in (("root", "user") if i % 2 == 0 else ("user", "root")):
                    ak, sk = who[name]
                    perf = None
                    if os.environ.get("IAM_PERF") == name and i == 0 and op == "PutRecord":
                        # IAM_PERF=user|root: a perf profile of that first run
                        perf = subprocess.Popen(["perf", "record", "-F", "999", "-g", "-p",
                                                 str(srv.pid), "-o", "/tmp/iam-%s.perf" % name],
                                                stderr=subprocess.DEVNULL)
                        time.sleep(0.5)
                    r = run_load(srv.port, pid=srv.pid, op=op, record_size=100, conns=64,
                                 duration=args.duration, access_key=ak, secret_key=sk,
                                 streams="bench", **extra)
                    if perf:
                        perf.send_signal(signal.SIGINT)
                        perf.wait()
                    if r["errors"]:
                        log("   %s %s: %d errors" % (op, name, r["errors"]))
                    res[name].append(r)
                    log("   %s %-4s run %d: %8.0f req/s  %6.2f us server CPU/req  p50 %.2f ms"
                        % (op, name, i + 1, r["req_s"],
                           r["server_cpu_s"] * 1e6 / max(r["requests"], 1), r["p50_ms"]))
            med = {n: statistics.median(x["req_s"] for x in res[n]) for n in res}
            cpu = {n: statistics.median(x["server_cpu_s"] * 1e6 / max(x["requests"], 1)
                                        for x in res[n]) for n in res}
            print("%s: root %.0f req/s (%.2f us CPU/req), IAM user with 10 policies %.0f req/s "
                  "(%.2f us CPU/req), ratio %.2f; load average %s"
                  % (op, med["root"], cpu["root"], med["user"], cpu["user"],
                     med["user"] / med["root"], loadavg()))
            sys.stdout.flush()
    finally:
        srv.stop()


if __name__ == "__main__":
    main()
