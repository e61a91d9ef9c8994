#!/usr/bin/python3
"""run.py -- hydrant's ingest benchmark: every figure next to the machine's floor.

Measures, on this machine and in the same run:

  floors        disk: sequential write + fdatasync in the data directory's
                filesystem (bench/floor_disk: 8 KiB .. 4 MiB writes);
                HTTP: a trivial libmicrohttpd server answering a fixed 200
                in hydrant's thread mode (bench/floor_http), driven by the
                same load generator, same connections, same request bytes
  put-record    PutRecord, 100-byte records, 64 connections, flat out
  put-record-half   the same paced to half of put-record's median: p99
  batch-100     PutRecordBatch, 500 x 100-byte records
  batch-4m      PutRecordBatch, 500 x 8 KiB records (4,096,000 bytes a
                request: the model allows at most 500 records, so 512 x 8 KiB
                is not a legal request)
  streams-1000  1,000 streams, each buffering ~1 MiB: server RSS against
                the bytes buffered; and a fresh idle server's RSS
  recovery      kill -9 with N MiB of undelivered log, restart, time until
                every byte is in the bucket; the floor is the disk writing
                the same N MiB (4 MiB + fdatasync), right before the restart
  pipeline      delivery through the pipeline: N JSON records (~120 B, 100
                customer ids) buffered, then SIGTERM, which delivers every
                buffer before the process exits; records/s of that drain
                for a plain stream, a stream partitioned by jq into 100
                partitions (MetadataExtraction + dynamic partitioning), and
                a stream transformed by a Lambda (Python, run by hydrant);
                each ratio is to the plain stream's drain in the same run
  parse_cost    jansson's json_loadb against a bare find-and-base64-decode
                scan of the same PutRecord / PutRecordBatch bodies
                (bench/parse_cost): the headroom of a schema-specific scanner

Each hydrant scenario runs against a fresh server (--durability fsync, the
default) and data directory; the load generator is tools/hydrant-load (C,
epoll, keep-alive, SigV4-signed). After every load scenario the records
acknowledged are checked against what was delivered to the embedded S3
store, through the S3 API (ListObjectsV2 sizes, and newlines counted in
every object: each record ends in '\\n').

Each figure is the median of --runs runs (default 3); every ratio divides
medians measured in the same invocation. The load average is printed with
each scenario: the machine is shared. Numbers, never assertions.

  /usr/bin/python3 bench/run.py [--short|--full] [--runs N] [--only a,b]
"""
import argparse
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
BUILD = os.environ.get("BUILD_DIR") or os.path.join(ROOT, "build")
HYDRANT = os.environ.get("HYDRANT_BIN") or os.path.join(BUILD, "hydrant")
LOAD = os.path.join(BUILD, "hydrant-load")
FLOOR_HTTP = os.path.join(BUILD, "bench", "floor_http")
FLOOR_DISK = os.path.join(BUILD, "bench", "floor_disk")
PARSE_COST = os.path.join(BUILD, "bench", "parse_cost")
ROLE = "arn:aws:iam::000000000000:role/bench"

_boto = None


def boto():
    global _boto
    if _boto is None:
        import boto3
        from botocore.config import Config
        _boto = (boto3, Config)
    return _boto


def log(*a):
    print(*a, file=sys.stderr, flush=True)


def loadavg():
    with open("/proc/loadavg") as f:
        return " ".join(f.read().split()[:3])


def rss_kb(pid, field="VmRSS"):
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return -1


# ---- processes ---------------------------------------------------------------
class Server:
    """A hydrant (or floor) process on a free loopback port."""

    def __init__(self, argv, log_path):
        self.log = open(log_path, "ab")
        self.t_start = time.perf_counter()
        self.proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=self.log)
        line = self.proc.stdout.readline().decode()
        self.t_listening = time.perf_counter()
        if not line.startswith("listening "):
            self.proc.kill()
            raise RuntimeError("%s did not start: %r (log %s)" % (argv[0], line, log_path))
        self.port = int(line.split()[2])
        self.pid = self.proc.pid

    def stop(self, sig=signal.SIGTERM, timeout=300):
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            rc = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            rc = self.proc.wait()
        self.proc.stdout.close()
        self.log.close()
        return rc


def hydrant(data_dir, *extra):
    os.makedirs(os.path.dirname(data_dir), exist_ok=True)
    # the streams' RoleARN (ROLE) is never created: --iam=off; bench/iam.py
    # measures IAM's cost
    return Server([HYDRANT, "--port", "0", "--data-dir", data_dir, "--create-delay-ms", "0",
                   "--log-level", "warn", "--iam=off", *extra], data_dir + ".log")


def clients(port):
    boto3, Config = boto()
    kw = dict(endpoint_url="http://127.0.0.1:%d" % port, region_name="us-east-1",
              aws_access_key_id="test", aws_secret_access_key="test",
              config=Config(parameter_validation=False, retries={"max_attempts": 2}))
    return boto3.client("s3", **kw), boto3.client("firehose", **kw)


def make_streams(fh, names, bucket, size_mb, interval):
    for n in names:
        fh.create_delivery_stream(
            DeliveryStreamName=n, DeliveryStreamType="DirectPut",
            ExtendedS3DestinationConfiguration={
                "RoleARN": ROLE, "BucketARN": "arn:aws:s3:::" + bucket, "Prefix": n + "/",
                "BufferingHints": {"SizeInMBs": size_mb, "IntervalInSeconds": interval}})
    for n in names[-1:]:
        for _ in range(100):
            d = fh.describe_delivery_stream(DeliveryStreamName=n)
            if d["DeliveryStreamDescription"]["DeliveryStreamStatus"] == "ACTIVE":
                break
            time.sleep(0.05)


def set_interval(fh, name, interval, size_mb):
    d = fh.describe_delivery_stream(DeliveryStreamName=name)["DeliveryStreamDescription"]
    fh.update_destination(DeliveryStreamName=name,
                          CurrentDeliveryStreamVersionId=d["VersionId"],
                          DestinationId=d["Destinations"][0]["DestinationId"],
                          ExtendedS3DestinationUpdate={"BufferingHints": {
                              "SizeInMBs": size_mb, "IntervalInSeconds": interval}})


def bucket_totals(s3, bucket):
    """(objects, bytes) in the bucket, by ListObjectsV2."""
    n = size = 0
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        for o in page.get("Contents", []):
            n += 1
            size += o["Size"]
    return n, size


def count_newlines(s3, bucket):
    records = 0
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        for o in page.get("Contents", []):
            body = s3.get_object(Bucket=bucket, Key=o["Key"])["Body"]
            while True:
                chunk = body.read(8 << 20)
                if not chunk:
                    break
                records += chunk.count(b"\n")
    return records


def wait_delivered(s3, bucket, want_bytes, timeout=120):
    t0 = time.perf_counter()
    while True:
        _, got = bucket_totals(s3, bucket)
        if got >= want_bytes or time.perf_counter() - t0 > timeout:
            return got, time.perf_counter() - t0
        time.sleep(0.1)


def run_load(port, pid=None, **kw):
    argv = [LOAD, "--port", str(port), "--quiet"]
    if pid:
        argv += ["--server-pid", str(pid)]
    for k, v in kw.items():
        k = "--" + k.replace("_", "-")
        argv += [k] if v is True else [k, str(v)]
    out = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if not out.stdout.strip():
        raise RuntimeError("hydrant-load failed: %s" % out.stderr)
    res = {}
    for kv in out.stdout.split():
        k, v = kv.split("=", 1)
        res[k] = float(v)
    if out.stderr.strip():
        log("   ", out.stderr.strip()[:400])
    return res


def med(runs, key):
    return statistics.median(r[key] for r in runs)


# ---- scenarios ----------------------------------------------------------------
class Bench:
    def __init__(self, args):
        self.args = args
        self.tmp = tempfile.mkdtemp(prefix="hydrant-bench.", dir=args.dir)
        self.results = {}   # name -> dict of medians and extras
        self.rows = []      # table rows
        self.checks = []    # delivery checks: (scenario, ok, text)

    def data_dir(self, name):
        d = os.path.join(self.tmp, name, "data")
        shutil.rmtree(os.path.dirname(d), ignore_errors=True)
        os.makedirs(os.path.dirname(d))
        return d

    def note(self, name):
        log("== %s (load average %s)" % (name, loadavg()))

    # -- floors
    def floor_disk(self):
        self.note("floor-disk")
        sizes = ["8K", "p:8K", "64K", "p:64K", "1M", "4M"]
        runs = []
        for _ in range(self.args.runs):
            out = subprocess.run([FLOOR_DISK, self.tmp, *sizes], stdout=subprocess.PIPE,
                                 text=True, env=dict(os.environ, FLOOR_SECONDS=str(
                                     self.args.disk_seconds)), check=True).stdout
            r = {}
            for line in out.split("\n"):
                if line:
                    f = dict(kv.split("=") for kv in line.split())
                    r[(int(f["size"]), f["mode"])] = (float(f["mb_s"]), float(f["syncs_s"]))
            runs.append(r)
        res = {}
        for key in runs[0]:
            res[key] = (statistics.median(r[key][0] for r in runs),
                        statistics.median(r[key][1] for r in runs))
        self.results["disk"] = res
        self.disk_bw = res[(4 << 20, "append")][0]
        for (size, mode), (mbs, syncs) in sorted(res.items()):
            log("   write %7d B + fdatasync (%s): %7.1f MB/s, %6.0f syncs/s" % (
                size, mode, mbs, syncs))

    def floor_http(self):
        self.note("floor-http")
        srv = Server([FLOOR_HTTP, "--port", "0", "--threads", "2"],
                     os.path.join(self.tmp, "floor_http.log"))
        try:
            runs = [run_load(srv.port, srv.pid, op="PutRecord", record_size=100, conns=64,
                             duration=self.args.duration, target="trivial")
                    for _ in range(self.args.runs)]
        finally:
            srv.stop()
        self.results["floor-http"] = runs
        self.http_floor = med(runs, "req_s")
        log("   trivial server: %.0f req/s (median), p99 %.2f ms, %.1f us CPU/request" % (
            self.http_floor, med(runs, "p99_ms"),
            med(runs, "server_cpu_s") * 1e6 / max(1, med(runs, "requests"))))

    # -- hydrant load scenarios
    def disk_now(self, nbytes=None):
        """One short 4 MiB write + fdatasync measurement: the disk floor of
        this moment (the disk is shared, and swings 3x within minutes).
        With nbytes: nbytes written that way, however long it takes (the
        disk allows bursts: 1 s of it has read 150-860 MB/s in one hour)."""
        env = dict(os.environ, FLOOR_SECONDS="1")
        if nbytes:
            env.update(FLOOR_SECONDS="600", FLOOR_BYTES=str(int(nbytes)))
        out = subprocess.run([FLOOR_DISK, self.tmp, "4M"], stdout=subprocess.PIPE, text=True,
                             env=env, check=True).stdout
        f = dict(kv.split("=") for kv in out.split())
        return float(f["mb_s"])

    def load_scenario(self, name, load_kw, size_mb=128, interval=1, extra=(), floor=None):
        """floor: None, "disk" (a disk measurement right before each run) or
        "http" (a run against the trivial server right before each run);
        the run's ratio is to that adjacent floor."""
        self.note(name)
        dd = self.data_dir(name)
        srv = hydrant(dd, *extra)
        fsrv = None
        if floor == "http":
            fsrv = Server([FLOOR_HTTP, "--port", "0", "--threads", "2"],
                          os.path.join(self.tmp, "floor_http_%s.log" % name))
        try:
            s3, fh = clients(srv.port)
            s3.create_bucket(Bucket="bench")
            make_streams(fh, ["bench"], "bench", size_mb, interval)
            runs = []
            for i in range(self.args.runs):
                fl = None
                if floor == "disk":
                    fl = self.disk_now()
                elif floor == "http":
                    fkw = dict(load_kw, target="trivial")
                    fkw.pop("self_check", None)
                    fr = run_load(fsrv.port, fsrv.pid, **fkw)
                    fl = fr["req_s"]
                    self.results.setdefault(name + ":floor-runs", []).append(fr)
                r = run_load(srv.port, srv.pid, streams="bench", **load_kw)
                if fl is not None:
                    r["floor"] = fl
                    r["ratio"] = (r["mb_s"] if floor == "disk" else r["req_s"]) / fl
                    log("   adjacent floor: %.1f %s -> ratio %.3f" % (
                        fl, "MB/s" if floor == "disk" else "req/s", r["ratio"]))
                runs.append(r)
                log("   run %d: %.0f req/s, %.0f rec/s, %.1f MB/s, p50 %.2f p99 %.2f "
                    "p99.9 %.2f ms, errors %d, server %.1f us CPU/req, load %s" % (
                        i + 1, r["req_s"], r["rec_s"], r["mb_s"], r["p50_ms"], r["p99_ms"],
                        r["p999_ms"], r["errors"], r["server_cpu_s"] * 1e6 /
                        max(1, r["requests"]), loadavg()))
            self.check_delivery(name, s3, runs)
        finally:
            srv.stop()
            if fsrv:
                fsrv.stop()
        self.results[name] = runs
        return runs

    def check_delivery(self, name, s3, runs):
        want_records = sum(int(r["ok_records"]) for r in runs)
        want_bytes = sum(int(r["ok_bytes"]) for r in runs)
        got_bytes, waited = wait_delivered(s3, "bench", want_bytes)
        got_records = count_newlines(s3, "bench") if got_bytes == want_bytes else -1
        ok = want_records > 0 and got_bytes == want_bytes and got_records == want_records
        text = "%s: acknowledged %d records / %d bytes; delivered %d records / %d bytes " \
               "(%.1f s after the load)" % (name, want_records, want_bytes, got_records,
                                            got_bytes, waited)
        self.checks.append((name, ok, text))
        log("   delivery check %s: %s" % ("OK" if ok else "FAILED", text))

    def put_record(self):
        return self.load_scenario("put-record", dict(
            op="PutRecord", record_size=100, conns=64, duration=self.args.duration,
            self_check=True), floor="http")

    def put_record_half(self):
        full = self.results.get("put-record")
        rate = (med(full, "req_s") if full else 80000) / 2
        self.half_rate = rate
        runs = self.load_scenario("put-record-half", dict(
            op="PutRecord", record_size=100, conns=64, duration=self.args.duration,
            rate=int(rate)))
        # the same pace against the trivial server: the latency this machine
        # adds by itself (scheduling, loopback) at that load
        srv = Server([FLOOR_HTTP, "--port", "0", "--threads", "2"],
                     os.path.join(self.tmp, "floor_http_half.log"))
        try:
            self.results["floor-http-half"] = [
                run_load(srv.port, srv.pid, op="PutRecord", record_size=100, conns=64,
                         duration=self.args.duration, rate=int(rate), target="trivial")
                for _ in range(self.args.runs)]
        finally:
            srv.stop()
        log("   trivial server at the same pace: p50 %.2f p99 %.2f p99.9 %.2f ms" % (
            med(self.results["floor-http-half"], "p50_ms"),
            med(self.results["floor-http-half"], "p99_ms"),
            med(self.results["floor-http-half"], "p999_ms")))
        return runs

    def batch_100(self):
        return self.load_scenario("batch-100", dict(
            op="PutRecordBatch", record_size=100, batch=500, conns=16,
            duration=self.args.duration, self_check=True), floor="disk")

    def batch_4m(self):
        return self.load_scenario("batch-4m", dict(
            op="PutRecordBatch", record_size=8192, batch=500, conns=8,
            duration=self.args.duration, self_check=True), floor="disk")

    # -- memory
    def streams_1000(self):
        self.note("streams-1000")
        n, per = self.args.streams, self.args.stream_bytes
        rec = 2000
        batch = max(1, per // rec)
        # idle: a fresh server with nothing in it
        dd = self.data_dir("idle")
        srv = hydrant(dd)
        time.sleep(0.5)
        idle = rss_kb(srv.pid)
        srv.stop()
        dd = self.data_dir("streams-1000")
        args = ("--max-streams", str(n + 10), "--max-buffered", str(4 << 30))
        srv = hydrant(dd, *args)
        try:
            s3, fh = clients(srv.port)
            s3.create_bucket(Bucket="bench")
            t = time.perf_counter()
            make_streams(fh, ["s%d" % i for i in range(n)], "bench", 1, 900)
            created_s = time.perf_counter() - t
            empty = rss_kb(srv.pid)
            r = run_load(srv.port, srv.pid, op="PutRecordBatch", record_size=rec, batch=batch,
                         conns=8, requests=n, stream_prefix="s", nstreams=n)
            time.sleep(0.5)
            full = rss_kb(srv.pid)
            hwm = rss_kb(srv.pid, "VmHWM")
        finally:
            rc = srv.stop()  # SIGTERM drains: every buffer is delivered
        srv = hydrant(dd, *args)
        try:
            s3, fh = clients(srv.port)
            got_n, got_bytes = bucket_totals(s3, "bench")
            got_records = count_newlines(s3, "bench")
        finally:
            srv.stop()
        buffered = int(r["ok_bytes"])
        ok = buffered > 0 and got_bytes == buffered and got_records == int(r["ok_records"]) and rc == 0
        text = "streams-1000: acknowledged %d records / %d bytes; after SIGTERM (exit %d) " \
               "and restart the bucket holds %d records / %d bytes in %d objects" % (
                   r["ok_records"], buffered, rc, got_records, got_bytes, got_n)
        self.checks.append(("streams-1000", ok, text))
        log("   delivery check %s: %s" % ("OK" if ok else "FAILED", text))
        self.results["streams-1000"] = dict(
            idle_kb=idle, empty_kb=empty, full_kb=full, hwm_kb=hwm, buffered=buffered,
            created_s=created_s, errors=r["errors"])
        log("   idle RSS %d KiB; %d streams created in %.1f s, RSS %d KiB; buffered %.1f MiB, "
            "RSS %d KiB (peak %d KiB); limit 1.3 x buffered + 32 MiB = %d KiB" % (
                idle, n, created_s, empty, buffered / 2**20, full, hwm,
                (1.3 * buffered + (32 << 20)) / 1024))

    # -- recovery
    def recovery(self):
        self.note("recovery")
        total = self.args.recovery_mib << 20
        nstreams = max(1, -(-total // (100 << 20)))  # at most 100 MiB per 128 MiB buffer
        names = ["r%d" % i for i in range(nstreams)]
        dd = self.data_dir("recovery")
        args = ("--max-buffered", str(total * 2 + (256 << 20)))
        srv = hydrant(dd, *args)
        try:
            s3, fh = clients(srv.port)
            s3.create_bucket(Bucket="bench")
            make_streams(fh, names, "bench", 128, 900)
            per_req = 500 * 8192
            r = run_load(srv.port, srv.pid, op="PutRecordBatch", record_size=8192, batch=500,
                         conns=4, requests=-(-total // per_req), streams=",".join(names))
        finally:
            srv.stop(signal.SIGKILL)
        logged = int(r["ok_bytes"])
        disk_adjacent = self.disk_now(logged)
        srv = hydrant(dd, *args)
        replay_s = srv.t_listening - srv.t_start
        try:
            s3, fh = clients(srv.port)
            for n in names:
                set_interval(fh, n, 0, 128)
            got, _ = wait_delivered(s3, "bench", logged, timeout=600)
            total_s = time.perf_counter() - srv.t_start
            got_records = count_newlines(s3, "bench")
        finally:
            srv.stop()
        ok = logged > 0 and got == logged and got_records == int(r["ok_records"])
        text = "recovery: acknowledged %d records / %d bytes before kill -9; delivered %d " \
               "records / %d bytes after restart" % (r["ok_records"], logged, got_records, got)
        self.checks.append(("recovery", ok, text))
        log("   delivery check %s: %s" % ("OK" if ok else "FAILED", text))
        self.results["recovery"] = dict(bytes=logged, replay_s=replay_s, total_s=total_s,
                                        mb_s=logged / total_s / 1e6, disk=disk_adjacent)
        log("   %.0f MiB: replay (start to listening) %.2f s, start to all delivered %.2f s "
            "= %.1f MB/s" % (logged / 2**20, replay_s, total_s, logged / total_s / 1e6))

    # -- parsing
    def pipeline(self):
        """Records/s of a drain through the pipeline, against a plain one."""
        import io
        import json
        import zipfile
        n = self.args.pipeline_records
        recs = [(json.dumps({"customer_id": i % 100, "order": i, "sku": "sku-%06d" % (i * 7919 % 999983),
                             "amount": round(i * 0.37 % 1000, 2)}) + "\n").encode()
                for i in range(n)]
        fn = io.BytesIO()
        with zipfile.ZipFile(fn, "w") as z:
            z.writestr("fn.py", "def handler(event, context):\n"
                       "    return {'records': [{'recordId': r['recordId'], 'result': 'Ok',"
                       " 'data': r['data']} for r in event['records']]}\n")
        kinds = {
            "plain": {},
            "jq-100-partitions": {
                "Prefix": "customer=!{partitionKeyFromQuery:customer_id}/",
                "ErrorOutputPrefix": "errors/!{firehose:error-output-type}/",
                "DynamicPartitioningConfiguration": {"Enabled": True},
                "ProcessingConfiguration": {"Enabled": True, "Processors": [
                    {"Type": "MetadataExtraction", "Parameters": [
                        {"ParameterName": "MetadataExtractionQuery",
                         "ParameterValue": "{customer_id: .customer_id}"},
                        {"ParameterName": "JsonParsingEngine", "ParameterValue": "JQ-1.6"}]}]}},
            "lambda": "lambda",
        }
        res = {}
        for run in range(self.args.runs):
            for kind, extra in kinds.items():
                name = "pipeline-%s" % kind
                self.note(name)
                srv = hydrant(self.data_dir("%s-%d" % (name, run)))
                try:
                    boto3, Config = boto()
                    kw = dict(endpoint_url="http://127.0.0.1:%d" % srv.port,
                              region_name="us-east-1", aws_access_key_id="test",
                              aws_secret_access_key="test",
                              config=Config(parameter_validation=False,
                                            retries={"max_attempts": 2}))
                    s3, fh = boto3.client("s3", **kw), boto3.client("firehose", **kw)
                    s3.create_bucket(Bucket="bench")
                    if extra == "lambda":
                        boto3.client("iam", **kw).create_role(
                            RoleName="bench", AssumeRolePolicyDocument=json.dumps({
                                "Version": "2012-10-17", "Statement": [{
                                    "Effect": "Allow", "Action": "sts:AssumeRole",
                                    "Principal": {"Service": "lambda.amazonaws.com"}}]}))
                        arn = boto3.client("lambda", **kw).create_function(
                            FunctionName="same", Runtime="python3.11", Handler="fn.handler",
                            Role=ROLE, Code={"ZipFile": fn.getvalue()},
                            Timeout=60)["FunctionArn"]
                        extra = {"ProcessingConfiguration": {"Enabled": True, "Processors": [
                            {"Type": "Lambda", "Parameters": [
                                {"ParameterName": "LambdaArn", "ParameterValue": arn},
                                {"ParameterName": "BufferSizeInMBs", "ParameterValue": "3"}]}]}}
                    conf = {"RoleARN": ROLE, "BucketARN": "arn:aws:s3:::bench",
                            "BufferingHints": {"SizeInMBs": 128, "IntervalInSeconds": 900}}
                    conf.update(extra)
                    fh.create_delivery_stream(DeliveryStreamName="p", DeliveryStreamType="DirectPut",
                                              ExtendedS3DestinationConfiguration=conf)
                    while fh.describe_delivery_stream(DeliveryStreamName="p")[
                            "DeliveryStreamDescription"]["DeliveryStreamStatus"] != "ACTIVE":
                        time.sleep(0.05)

                    def put(part):
                        c = boto3.client("firehose", **kw)
                        for i in range(part * 500, n, 500 * 4):
                            r = c.put_record_batch(DeliveryStreamName="p", Records=[
                                {"Data": d} for d in recs[i:i + 500]])
                            assert r["FailedPutCount"] == 0
                    ts = [threading.Thread(target=put, args=(k,)) for k in range(4)]
                    for t in ts:
                        t.start()
                    for t in ts:
                        t.join()
                    t0 = time.perf_counter()
                    srv.stop()  # SIGTERM: every buffer is delivered, then exit
                    drain = time.perf_counter() - t0
                finally:
                    if srv.proc:
                        srv.stop()
                res.setdefault(kind, []).append({"records_s": n / drain, "drain_s": drain})
                log("   %s: %d records drained in %.2f s: %.0f records/s" % (
                    kind, n, drain, n / drain))
        self.results["pipeline"] = res

    def parse_cost(self):
        self.note("parse-cost")
        res = {}
        for size, n in ((100, 1), (100, 500), (8192, 500)):
            runs = []
            for _ in range(self.args.runs):
                out = subprocess.run([PARSE_COST, str(size), str(n)], stdout=subprocess.PIPE,
                                     text=True, check=True).stdout
                runs.append({k: float(v) for k, v in (kv.split("=") for kv in out.split())})
            res[(size, n)] = runs
            log("   %d x %d B: json_loadb %.1f us, scan %.1f us" % (
                n, size, med(runs, "jansson_ms") * 1e3, med(runs, "scan_ms") * 1e3))
        self.results["parse-cost"] = res

    # -- table
    def table(self):
        rows = []
        disk = getattr(self, "disk_bw", None)
        http = getattr(self, "http_floor", None)

        def ratio(x, floor):
            return x / floor if floor else float("nan")

        def verdict(ok):
            return "met" if ok else "MISSED"

        if "disk" in self.results:
            for (size, mode), (mbs, syncs) in sorted(self.results["disk"].items()):
                rows.append(("floor: disk write %s + fdatasync%s" % (
                    human(size), ", preallocated" if mode == "prealloc" else ""),
                             "%.1f MB/s, %.0f syncs/s" % (mbs, syncs), "", "", ""))
        if http:
            rows.append(("floor: trivial HTTP server, 64 conns", "%.0f req/s" % http,
                         "p99 %.2f ms" % med(self.results["floor-http"], "p99_ms"), "", ""))
        r = self.results.get("put-record")
        if r:
            x = med(r, "req_s")
            rat = med(r, "ratio") if "ratio" in r[0] else ratio(x, http)
            rows.append(("PutRecord 100 B, 64 conns", "%.0f req/s" % x,
                         "%.2f x HTTP floor (adjacent runs: %.0f req/s)" % (
                             rat, med(r, "floor") if "floor" in r[0] else http),
                         ">= 0.60 x, >= 80,000", verdict(rat >= 0.6 and x >= 80000)))
            fr = self.results.get("put-record:floor-runs") or self.results.get("floor-http")
            rows.append(("  server CPU per PutRecord", "%.1f us" % (
                med(r, "server_cpu_s") * 1e6 / med(r, "requests")),
                "trivial server %.1f us" % (med(fr, "server_cpu_s") * 1e6 / med(fr, "requests"))
                if fr else "", "", ""))
            rows.append(("  sigv4_verify (measured in-process)", "%.1f us/request" %
                         med(r, "verify_us"), "", "", ""))
        r = self.results.get("put-record-half")
        if r:
            rows.append(("PutRecord at half load (%.0f req/s)" % self.half_rate,
                         "p99 %.2f ms" % med(r, "p99_ms"),
                         "p50 %.2f, p99.9 %.2f ms; got %.0f req/s" % (
                             med(r, "p50_ms"), med(r, "p999_ms"), med(r, "req_s")),
                         "p99 <= 2 ms", verdict(med(r, "p99_ms") <= 2.0)))
            f = self.results.get("floor-http-half")
            if f:
                rows.append(("  trivial server at the same pace", "p99 %.2f ms" % med(
                    f, "p99_ms"), "p50 %.2f, p99.9 %.2f ms" % (med(f, "p50_ms"),
                                                              med(f, "p999_ms")), "", ""))
        for name, label in (("batch-100", "PutRecordBatch 500 x 100 B, 16 conns"),
                            ("batch-4m", "PutRecordBatch 500 x 8 KiB (3.9 MiB), 8 conns")):
            r = self.results.get(name)
            if r:
                x = med(r, "mb_s")
                if "ratio" in r[0]:
                    rat = 2 * med(r, "ratio")
                    fl = "adjacent disk %.0f MB/s" % med(r, "floor")
                else:
                    rat = ratio(x, disk / 2 if disk else None)
                    fl = "disk %.0f MB/s" % (disk or 0)
                rows.append((label, "%.1f MB/s, %.0f rec/s" % (x, med(r, "rec_s")),
                             "%.2f x disk/2 (%s)" % (rat, fl),
                             ">= 0.80 x disk/2", verdict(rat >= 0.8)))
                rows.append(("  latency", "p50 %.1f ms, p99 %.1f ms" % (
                    med(r, "p50_ms"), med(r, "p99_ms")), "sigv4_verify %.0f us/request" %
                    med(r, "verify_us"), "", ""))
        r = self.results.get("streams-1000")
        if r:
            limit = 1.3 * r["buffered"] + (32 << 20)
            rss = max(r["full_kb"], r["hwm_kb"]) * 1024
            rows.append(("%d streams, %.0f MiB buffered" % (self.args.streams,
                                                           r["buffered"] / 2**20),
                         "peak RSS %.0f MiB" % (rss / 2**20),
                         "%.2f x (1.3 x buffered + 32 MiB)" % (rss / limit),
                         "<= 1.00 x", verdict(rss <= limit)))
            rows.append(("idle server", "RSS %.1f MiB" % (r["idle_kb"] / 1024),
                         "with %d empty streams: %.1f MiB" % (self.args.streams,
                                                             r["empty_kb"] / 1024),
                         "<= 16 MiB", verdict(r["idle_kb"] <= 16 * 1024)))
        r = self.results.get("recovery")
        if r:
            rows.append(("recovery of %.0f MiB undelivered log" % (r["bytes"] / 2**20),
                         "%.1f MB/s (replay %.1f s, all delivered %.1f s)" % (
                             r["mb_s"], r["replay_s"], r["total_s"]),
                         "%.2f x disk (adjacent disk %.0f MB/s)" % (
                             ratio(r["mb_s"], r["disk"]), r["disk"]), ">= 0.50 x disk",
                         verdict(r["mb_s"] >= 0.5 * r["disk"])))
        pl = self.results.get("pipeline")
        if pl:
            plain = med(pl["plain"], "records_s")
            for kind, label, target in (
                    ("plain", "drain, plain stream", ""),
                    ("jq-100-partitions", "drain, jq partitioning, 100 partitions",
                     ">= 100,000 records/s"),
                    ("lambda", "drain, Lambda transform (Python)", "")):
                if kind not in pl:
                    continue
                x = med(pl[kind], "records_s")
                rows.append(("%s (%d x ~120 B JSON)" % (label, self.args.pipeline_records),
                             "%.0f records/s" % x,
                             "%.2f x the plain stream" % (x / plain) if kind != "plain" else
                             "%.2f s" % med(pl[kind], "drain_s"),
                             target, verdict(x >= 100000) if target else ""))
        pc = self.results.get("parse-cost")
        if pc:
            for (size, n), runs in sorted(pc.items()):
                rows.append(("parse %d x %d B body (%.0f KB)" % (
                    n, size, med(runs, "body_bytes") / 1e3),
                    "json_loadb %.1f us (%.0f MB/s)" % (med(runs, "jansson_ms") * 1e3,
                                                       med(runs, "jansson_mb_s")),
                    "find+base64 scan %.1f us (%.0f MB/s): %.0f x faster" % (
                        med(runs, "scan_ms") * 1e3, med(runs, "scan_mb_s"),
                        med(runs, "scan_mb_s") / max(1e-9, med(runs, "jansson_mb_s"))),
                    "", ""))
        hdr = ("scenario", "median of %d" % self.args.runs, "ratio / detail", "target", "")
        widths = [max(len(str(x[i])) for x in rows + [hdr]) for i in range(5)]
        out = ["| " + " | ".join(str(h).ljust(w) for h, w in zip(hdr, widths)) + " |",
               "|" + "|".join("-" * (w + 2) for w in widths) + "|"]
        for row in rows:
            out.append("| " + " | ".join(str(c).ljust(w) for c, w in zip(row, widths)) + " |")
        return "\n".join(out)


def human(n):
    for unit, shift in (("MiB", 20), ("KiB", 10)):
        if n >= 1 << shift and n % (1 << shift) == 0:
            return "%d %s" % (n >> shift, unit)
    return "%d B" % n


SCENARIOS = ["floor_disk", "floor_http", "put_record", "put_record_half", "batch_100",
             "batch_4m", "streams_1000", "recovery", "pipeline", "parse_cost"]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--short", action="store_true", help="a few seconds per scenario")
    ap.add_argument("--full", action="store_true", help="the figures for PERFORMANCE.md")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--duration", type=float)
    ap.add_argument("--only", help="comma-separated scenarios: " + ",".join(SCENARIOS))
    ap.add_argument("--dir", default=os.environ.get("BENCH_DIR"),
                    help="where data directories go (default: $TMPDIR)")
    ap.add_argument("--keep", action="store_true", help="keep the data directories")
    args = ap.parse_args()
    if args.full:
        args.duration = args.duration or 10
        args.disk_seconds, args.streams, args.stream_bytes = 2, 1000, 1000000
        args.recovery_mib = 1024
        args.pipeline_records = 1000000
    else:
        args.duration = args.duration or 3
        args.disk_seconds, args.streams, args.stream_bytes = 1, 1000, 250000
        args.recovery_mib = 256
        args.pipeline_records = 200000
    for p in (HYDRANT, LOAD, FLOOR_HTTP, FLOOR_DISK, PARSE_COST):
        if not os.access(p, os.X_OK):
            sys.exit("missing %s: run make bench" % p)
    only = args.only.replace("-", "_").split(",") if args.only else SCENARIOS
    b = Bench(args)
    log("hydrant bench: %s, %d runs per figure, %d cores, data in %s" % (
        "full" if args.full else "short", args.runs, os.cpu_count(), b.tmp))
    log("load average at start: %s" % loadavg())
    try:
        for s in SCENARIOS:
            if s in only:
                getattr(b, s)()
    finally:
        if not args.keep:
            shutil.rmtree(b.tmp, ignore_errors=True)
    print()
    print("hydrant ingest benchmark (%s; %d runs per figure, medians; load average at end %s)"
          % ("full" if args.full else "short", args.runs, loadavg()))
    print(b.table())
    print()
    for name, ok, text in b.checks:
        print("delivery check %-7s %s" % ("OK" if ok else "FAILED", text))
    return 0 if all(ok for _, ok, _ in b.checks) else 1


if __name__ == "__main__":
    sys.exit(main())
