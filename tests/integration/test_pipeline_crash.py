"""Exactly-once objects through a partitioned, Lambda-transformed stream:
bench/crash_loop.py --pipeline, short. Every round ends with a SIGKILL in
the middle of a drain (mostly while the run's objects are being written);
the function puts each invocation's records in a random partition of its
own, so a recovery that called it again would write every record twice
(a build without plan files: 104,187 duplicated in 20 kills, docs/WAL.md).
Every acknowledged record must be in the bucket exactly once."""
import os
import re
import subprocess
import sys

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")


def test_crash_loop_on_a_lambda_partitioned_stream():
    r = subprocess.run([sys.executable, os.path.join(ROOT, "bench", "crash_loop.py"),
                        "--pipeline", "--kills", "5", "--seed", "7"],
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=600)
    m = re.search(r"acknowledged=(\d+) delivered=(\d+) lost=(\d+) duplicated=(\d+)", r.stdout)
    assert m, r.stdout[-3000:]
    acked, delivered, lost, dup = map(int, m.groups())
    assert acked > 0 and lost == 0 and dup == 0 and delivered == acked, r.stdout[-2000:]
    assert r.returncode == 0
