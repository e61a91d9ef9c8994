"""The cost of libhydrant's spool durability settings: puts/s of the
example producer (build/example-producer) per setting, with the endpoint
away (every record goes through the spool; the put's own cost), median of
three runs. Prints a table; never passes or fails on timing. Figures in
docs/LIBHYDRANT.md, "Spool durability".

    make bench-spool [SPOOL_BENCH_ARGS="--count 20000 --dir /var/tmp"]
"""
import argparse
import os
import re
import shutil
import socket
import statistics
import subprocess
import tempfile

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
EXAMPLE = os.environ.get("HYDRANT_EXAMPLE") or os.path.join(ROOT, "build", "example-producer")


def dead_endpoint():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()  # nobody listens there: connection refused at once
    return "http://127.0.0.1:%d" % port


def one(args, count, size, base):
    spool = tempfile.mkdtemp(prefix="spool-bench-", dir=base)
    try:
        r = subprocess.run([EXAMPLE, "--endpoint", dead_endpoint(), "--stream", "bench",
                            "--count", str(count), "--size", str(size), "--spool", spool,
                            "--close-ms", "0", *args], capture_output=True, text=True,
                           env=dict(os.environ, AWS_ACCESS_KEY_ID="test",
                                    AWS_SECRET_ACCESS_KEY="test"))
        m = re.search(r"([0-9.]+) puts/s", r.stderr)
        if not m:
            raise SystemExit("no figure: %s" % r.stderr)
        return float(m.group(1))
    finally:
        shutil.rmtree(spool, ignore_errors=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--count", type=int, default=5000)
    ap.add_argument("--size", type=int, default=100)
    ap.add_argument("--dir", default=os.environ.get("TMPDIR", "/tmp"),
                    help="where the spools go (the disk being measured)")
    a = ap.parse_args()
    settings = [
        ("put (default)", ["--sync", "put"], a.count // 5),
        ("put, batches of 10", ["--sync", "put", "--batch", "10"], a.count),
        ("put, batches of 100", ["--sync", "put", "--batch", "100"], a.count),
        ("interval 100 ms", ["--sync", "interval", "--sync-ms", "100"], a.count),
        ("interval 1000 ms", ["--sync", "interval", "--sync-ms", "1000"], a.count),
        ("idle", ["--sync", "idle"], a.count),
    ]
    print("spool durability: %d-byte records, endpoint away, spools in %s" % (a.size, a.dir))
    print("%-22s %12s" % ("setting", "puts/s"))
    for name, args, count in settings:
        runs = [one(args, count, a.size, a.dir) for _ in range(3)]
        print("%-22s %12.0f" % (name, statistics.median(runs)), flush=True)


if __name__ == "__main__":
    main()
