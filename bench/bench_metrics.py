#!/usr/bin/python3
"""What counting costs PutRecord (issue 17): the same load against the same
binary with metrics on and with --no-metrics, alternating runs so that a
busy machine's noise falls on both alike. Prints requests/s per run and the
medians; asserts nothing (timing goals live here, not in tests).

    python3 bench/bench_metrics.py [--rounds 4] [--duration 5] [--conns 64]
"""
import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))
from conftest import Hydrant, wait_active  # noqa: E402

LOAD = os.path.join(ROOT, "build", "hydrant-load")


def one(args, metrics):
    with tempfile.TemporaryDirectory() as d:
        h = Hydrant(os.path.join(d, "data"), [] if metrics else ["--no-metrics"])
        h.start()
        try:
            h.client("s3").create_bucket(Bucket="bench-bucket")
            fh = h.client("firehose")
            fh.create_delivery_stream(
                DeliveryStreamName="bench", ExtendedS3DestinationConfiguration={
                    "RoleARN": "arn:aws:iam::000000000000:role/r",
                    "BucketARN": "arn:aws:s3:::bench-bucket",
                    "BufferingHints": {"SizeInMBs": 64, "IntervalInSeconds": 60}})
            wait_active(fh, "bench")
            out = subprocess.run(
                [LOAD, "--port", str(h.port), "--op", "PutRecord", "--record-size", "100",
                 "--conns", str(args.conns), "--duration", str(args.duration),
                 "--streams", "bench", "--server-pid", str(h.proc.pid), "--quiet"],
                capture_output=True, timeout=120)
            line = out.stdout.decode()
            m = re.search(r"\breq_s=([0-9.]+)", line) or re.search(r"requests_s=([0-9.]+)", line)
            if not m:
                raise RuntimeError("no rate in %r %r" % (line, out.stderr[-400:]))
            cpu = float(re.search(r"server_cpu_s=([0-9.]+)", line).group(1))
            reqs = float(re.search(r"\brequests=([0-9]+)", line).group(1))
            return float(m.group(1)), cpu * 1e6 / max(reqs, 1), line.strip()
        finally:
            h.stop()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=4)
    ap.add_argument("--duration", type=int, default=5)
    ap.add_argument("--conns", type=int, default=64)
    args = ap.parse_args()
    on, off, con, coff = [], [], [], []
    for r in range(args.rounds):
        for metrics in ((True, False) if r % 2 == 0 else (False, True)):
            rate, cpu_us, line = one(args, metrics)
            (on if metrics else off).append(rate)
            (con if metrics else coff).append(cpu_us)
            print("round %d metrics=%s req/s=%.0f server_cpu_us/req=%.1f  (%s)" % (
                r, "on" if metrics else "off", rate, cpu_us, line), flush=True)
            time.sleep(1)
    mon, moff = statistics.median(on), statistics.median(off)
    print("median req/s: metrics on %.0f, off %.0f, ratio %.3f" % (mon, moff, mon / moff))
    print("median server CPU us per request: metrics on %.1f, off %.1f" % (
        statistics.median(con), statistics.median(coff)))


if __name__ == "__main__":
    main()
