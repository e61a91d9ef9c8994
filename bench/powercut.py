#!/usr/bin/env python3
"""Power cuts and I/O faults, the long versions (issue 12). Prints figures;
exits 1 when an acknowledged record or object was lost or a record was
delivered twice.

  /usr/bin/python3 bench/powercut.py --cuts 200 [--seed N] [--seconds S]
      200 simulated power cuts at random I/O calls under mixed load
      (PutRecord, PutRecordBatch, S3 PUTs, two streams), restarting each
      time on what is left; then every acknowledged record must be
      delivered exactly once and every acknowledged S3 PUT readable.
  /usr/bin/python3 bench/powercut.py --sweep [--errors EIO,ENOSPC,SHORT] [--every K]
      for every I/O call index N of a fixed scenario, fail call N: the
      server must not crash, must not acknowledge what is not durable (a
      power cut at its exit takes back everything unsynced), and a clean
      restart must deliver all that was acknowledged.

Needs build/hydrant and build/libhyfault.so (`make powercut`, `make
iofault-sweep`). The machinery: tests/faults/libhyfault.c,
tests/integration/powercut.py.
"""
import argparse
import os
import shutil
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests",
                                "integration"))
import powercut  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--cuts", type=int, default=200)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--seconds", type=float, default=1.5, help="load per iteration")
    ap.add_argument("--sweep", action="store_true")
    ap.add_argument("--errors", default="EIO,ENOSPC,SHORT")
    ap.add_argument("--every", type=int, default=1, help="sweep: every K-th call index")
    args = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="hydrant-powercut-")
    t0 = time.time()
    try:
        if not args.sweep:
            stats, problems = powercut.run_cuts(os.path.join(tmp, "data"),
                                                os.path.join(tmp, "log"), args.cuts,
                                                seconds=args.seconds, seed=args.seed)
            print("power cuts: %d (%d during recovery), iterations without a cut: %d" % (
                stats["cuts"], stats["cuts_in_recovery"], stats["no_cut"]))
            print("records: %d sent, %d acknowledged, %d delivered, %d lost, %d duplicated" % (
                stats["sent"], stats["acknowledged"], stats["delivered"], stats["lost"],
                stats["duplicated"]))
            print("S3 objects acknowledged: %d, missing or wrong: %d" % (
                stats["s3_objects"], stats["s3_bad"]))
        else:
            problems = []
            calls = powercut.count_calls(os.path.join(tmp, "count"), os.path.join(tmp, "log"))
            print("scenario: %d tracked I/O calls" % calls)
            for err in args.errors.split(","):
                ends, bad = {}, 0
                for n in range(1, calls + 1, args.every):
                    d = os.path.join(tmp, "%s-%d" % (err, n))
                    p, ended = powercut.sweep_one(d, os.path.join(tmp, "log"), n, err)
                    kind = ended.split(",")[0]
                    ends[kind] = ends.get(kind, 0) + 1
                    if p:
                        bad += 1
                        problems.append("%s at call %d: %s" % (err, n, "; ".join(p)))
                    shutil.rmtree(d, ignore_errors=True)
                print("%s: %d calls failed in turn; %d with a problem; endings: %s" % (
                    err, len(range(1, calls + 1, args.every)), bad,
                    ", ".join("%s x%d" % kv for kv in sorted(ends.items()))))
        print("%.0f s" % (time.time() - t0))
        for p in problems:
            print("PROBLEM:", p)
        return 1 if problems else 0
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
