#!/usr/bin/python3
"""bench_s3.py -- throughput of the embedded S3 store, over the real API.

Starts build/hydrant (or $HYDRANT_BIN) on a free port with a fresh data
directory, then measures, over keep-alive HTTP/1.1 connections:

  put-1k, put-1m   PutObject of 1 KiB and 1 MiB bodies (req/s, MB/s)
  get-1k, get-1m   GetObject of the same objects
  list             ListObjectsV2 of a bucket of --keys keys (default
                   100,000) page by page (1,000 keys a page): total time,
                   and the latency of the first and last pages, which an
                   indexed range scan keeps equal

Every request is signed with botocore's SigV4Auth before the clock starts,
so signing costs the client nothing during the timed part and the bench
keeps working when the server checks signatures. Each figure is the median
of --runs runs (default 3). Prints a table; numbers, never assertions.

  /usr/bin/python3 bench/bench_s3.py [--keys N] [--runs N] [--conns N]
"""
import argparse
import http.client
import multiprocessing
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
BIN = os.environ.get("HYDRANT_BIN") or os.path.join(ROOT, "build", "hydrant")
CREDS = Credentials("test", "test")


def start_server(data_dir, threads):
    proc = subprocess.Popen([BIN, "--port", "0", "--data-dir", data_dir, "--threads",
                             str(threads), "--log-level", "warn"],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    line = proc.stdout.readline().decode()
    if not line.startswith("listening "):
        proc.kill()
        sys.exit("hydrant did not start: %r" % line)
    return proc, int(line.split()[2])


def sign(port, method, path, body=b""):
    req = AWSRequest(method=method, url="http://127.0.0.1:%d%s" % (port, path), data=body)
    SigV4Auth(CREDS, "s3", "us-east-1").add_auth(req)
    return method, path, dict(req.headers.items()), body


def send_all(args):
    """One connection sends its share of pre-signed requests."""
    port, reqs = args
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    nbytes = 0
    for method, path, headers, body in reqs:
        conn.request(method, path, body=body, headers=headers)
        r = conn.getresponse()
        data = r.read()
        if r.status not in (200, 204):
            raise RuntimeError("%s %s: %d %s" % (method, path, r.status, data[:200]))
        nbytes += len(data) + len(body)
    conn.close()
    return nbytes


def timed(pool, port, reqs, conns):
    shares = [(port, reqs[i::conns]) for i in range(conns)]
    t0 = time.perf_counter()
    nbytes = sum(pool.map(send_all, shares))
    return time.perf_counter() - t0, nbytes


def bench_objects(pool, port, size, count, conns, run):
    bucket = "bench"
    body = os.urandom(size)
    puts = [sign(port, "PUT", "/%s/r%d-s%d-%06d" % (bucket, run, size, i), body)
            for i in range(count)]
    gets = [sign(port, "GET", "/%s/r%d-s%d-%06d" % (bucket, run, size, i))
            for i in range(count)]
    put_s, put_b = timed(pool, port, puts, conns)
    get_s, get_b = timed(pool, port, gets, conns)
    return (count / put_s, put_b / put_s / 1e6), (count / get_s, get_b / get_s / 1e6)


def fill_bucket(pool, port, bucket, keys, conns):
    batch = 20000
    t0 = time.perf_counter()
    for start in range(0, keys, batch):
        reqs = [sign(port, "PUT", "/%s/k/%08d" % (bucket, i), b"x")
                for i in range(start, min(keys, start + batch))]
        timed(pool, port, reqs, conns)
    return time.perf_counter() - t0


def list_pages(port, bucket):
    """Walks the bucket page by page; returns (total s, page latencies)."""
    import re
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    token, lat, nkeys = None, [], 0
    t0 = time.perf_counter()
    while True:
        path = "/%s?list-type=2&max-keys=1000" % bucket
        if token:
            from urllib.parse import quote
            path += "&continuation-token=" + quote(token, safe="")
        method, path, headers, body = sign(port, "GET", path)
        t = time.perf_counter()
        conn.request(method, path, headers=headers)
        r = conn.getresponse()
        data = r.read().decode()
        lat.append(time.perf_counter() - t)
        nkeys += data.count("<Key>")
        m = re.search(r"<NextContinuationToken>([^<]+)</NextContinuationToken>", data)
        if not m:
            break
        token = m.group(1)
    conn.close()
    return time.perf_counter() - t0, lat, nkeys


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--keys", type=int, default=100000)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--conns", type=int, default=4)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--count-1k", type=int, default=3000)
    ap.add_argument("--count-1m", type=int, default=200)
    args = ap.parse_args()

    tmp = tempfile.mkdtemp(prefix="bench_s3.")
    proc, port = start_server(os.path.join(tmp, "data"), args.threads)
    pool = multiprocessing.Pool(args.conns)
    try:
        send_all((port, [sign(port, "PUT", "/bench"), sign(port, "PUT", "/listing")]))
        results = {k: [] for k in ("put-1k", "get-1k", "put-1m", "get-1m")}
        for run in range(args.runs):
            for size, count, tag in ((1024, args.count_1k, "1k"),
                                     (1 << 20, args.count_1m, "1m")):
                p, g = bench_objects(pool, port, size, count, args.conns, run)
                results["put-" + tag].append(p)
                results["get-" + tag].append(g)
        print("hydrant S3 bench: %d connections, %d server threads, median of %d runs"
              % (args.conns, args.threads, args.runs))
        print("%-8s %10s %10s" % ("op", "req/s", "MB/s"))
        for k in ("put-1k", "get-1k", "put-1m", "get-1m"):
            rs = statistics.median(v[0] for v in results[k])
            mb = statistics.median(v[1] for v in results[k])
            print("%-8s %10.0f %10.1f" % (k, rs, mb))

        fill_s = fill_bucket(pool, port, "listing", args.keys, args.conns)
        print("filled a bucket with %d keys by PutObject in %.1f s (%.0f puts/s)"
              % (args.keys, fill_s, args.keys / fill_s))
        runs = [list_pages(port, "listing") for _ in range(args.runs)]
        total = statistics.median(r[0] for r in runs)
        first = statistics.median(r[1][0] for r in runs) * 1000
        last = statistics.median(r[1][-1] for r in runs) * 1000
        mid = statistics.median(statistics.median(r[1]) for r in runs) * 1000
        assert all(r[2] == args.keys for r in runs), [r[2] for r in runs]
        print("list %d keys: %.2f s, %d pages; page latency first %.2f ms, "
              "median %.2f ms, last %.2f ms"
              % (args.keys, total, len(runs[0][1]), first, mid, last))
    finally:
        pool.terminate()
        proc.terminate()
        proc.wait(30)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
