#!/usr/bin/python3
"""The long crash test (issue 3): N kill -9s of hydrant at random moments
under load, then a check that every acknowledged record is in the bucket
exactly once.

    /usr/bin/python3 bench/crash_loop.py [--kills 50] [--seed 1] [--threads 3]

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


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--kills", type=int, default=50)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--threads", type=int, default=3)
    ap.add_argument("--batch", type=int, default=40)
    args = ap.parse_args()
    rnd = random.Random(args.seed)
    data = os.path.join(tempfile.mkdtemp(prefix="hydrant-crash-"), "data")
    h = Hydrant(data).start()
    h.client("s3").create_bucket(Bucket="crash-bucket")
    make_stream(h.client("firehose"), "crash-stream", "crash-bucket", size_mb=1, interval=1)
    acked, sent = set(), set()
    t0 = time.monotonic()
    for k in range(args.kills):
        p = Producer(h, "crash-stream", threads=args.threads, batch=args.batch)
        p.start()
        time.sleep(rnd.uniform(0.3, 2.0))
        h.proc.send_signal(signal.SIGKILL)
        h.proc.wait()
        p.join()
        acked |= p.acked
        sent |= p.sent
        h.stop()
        h.start()
        print("kill %2d: %6d acknowledged so far" % (k + 1, len(acked)), flush=True)
    s3 = h.client("s3")
    got = wait_for(lambda: (lambda g: g if acked <= set(g) else None)(
        delivered_lines(s3, "crash-bucket")), timeout=300, interval=1)
    lost = acked - set(got)
    dup = sum(1 for v in got.values() if v > 1)
    unacked_delivered = len(set(got) - acked)
    h.stop()
    print("kills=%d seed=%d acknowledged=%d delivered=%d lost=%d duplicated=%d "
          "delivered-but-unacknowledged=%d seconds=%.0f"
          % (args.kills, args.seed, len(acked), len(got), len(lost), dup,
             unacked_delivered, time.monotonic() - t0))
    return 1 if lost or dup else 0


if __name__ == "__main__":
    sys.exit(main())
