"""Power cuts and I/O faults through tests/faults/libhyfault.so, shared by
tests/integration/test_powercut.py (short) and bench/powercut.py (long).

A power cut: hydrant runs with the fault library preloaded; at a random
mutating I/O call under its data directory every byte and name not yet
made durable (fsync, fdatasync, directory fsync) is taken back and the
process dies. The loop restarts it on what is left, under load again,
with a new random call, so cuts land in puts, group commits, delivery,
S3 PUTs, SQLite commits and recovery itself. At the end a clean start
drains everything, and the check is: every record whose put was
acknowledged is delivered exactly once, no record is delivered twice, and
every object PUT acknowledged to an S3 client is there with its bytes.
"""
import atexit
import os
import random
import signal
import subprocess
import threading
import time

import boto3
from botocore.config import Config

from conftest import ACCESS_KEY, BIN, REGION, SECRET_KEY, wait_active

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
LIB = os.environ.get("HYFAULT_LIB") or os.path.join(os.path.dirname(BIN), "libhyfault.so")
EXIT_CUT = 86
STREAMS = ("pc-single", "pc-batch")
DEST, OBJECTS = "pc-dest", "pc-objects"


def client(port, service):
    return boto3.client(service, endpoint_url="http://127.0.0.1:%d" % port, region_name=REGION,
                        aws_access_key_id=ACCESS_KEY, aws_secret_access_key=SECRET_KEY,
                        config=Config(parameter_validation=False, connect_timeout=2,
                                      read_timeout=5, retries={"max_attempts": 1}))


LIVE = set()  # every process started here, stopped at exit whatever happens


@atexit.register
def _kill_live():
    for p in list(LIVE):
        if p.poll() is None:
            p.kill()
            p.wait()


class Server:
    def __init__(self, data_dir, log_path, env=None, args=()):
        self.data_dir, self.log_path = data_dir, log_path
        self.env = dict(os.environ, **(env or {}))
        self.args = list(args)
        self.proc, self.port = None, None

    def start(self):
        """True once listening; False if the process died first (a cut in
        recovery)."""
        self.log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(
            [BIN, "--port", "0", "--data-dir", self.data_dir, "--create-delay-ms", "100",
             *self.args], stdout=subprocess.PIPE, stderr=self.log, env=self.env)
        LIVE.add(self.proc)
        line = self.proc.stdout.readline().decode()
        if not line.startswith("listening "):
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
            return False
        self.port = int(line.split()[2])
        return True

    def wait(self, timeout):
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            return None

    def stop(self, sig=signal.SIGTERM):
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            rc = self.proc.wait(60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            rc = self.proc.wait()
        self.proc.stdout.close()
        self.log.close()
        return rc


def fault_env(data_dir, **kw):
    env = {"LD_PRELOAD": LIB, "HYFAULT_DIR": data_dir,
           "ASAN_OPTIONS": os.environ.get("ASAN_OPTIONS", "") + ":verify_asan_link_order=0"}
    env.update({"HYFAULT_" + k.upper(): str(v) for k, v in kw.items()})
    return env


def setup(data_dir, log_path):
    """Bucket, object bucket, two streams; stopped cleanly (durable)."""
    s = Server(data_dir, log_path)
    assert s.start()
    s3, iam, fh = client(s.port, "s3"), client(s.port, "iam"), client(s.port, "firehose")
    s3.create_bucket(Bucket=DEST)
    s3.create_bucket(Bucket=OBJECTS)
    trust = ('{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":'
             '{"Service":"firehose.amazonaws.com"},"Action":"sts:AssumeRole"}]}')
    role = iam.create_role(RoleName="pc-role", AssumeRolePolicyDocument=trust)["Role"]["Arn"]
    for name in STREAMS:
        fh.create_delivery_stream(
            DeliveryStreamName=name, DeliveryStreamType="DirectPut",
            S3DestinationConfiguration={
                "RoleARN": role, "BucketARN": "arn:aws:s3:::" + DEST, "Prefix": name + "/",
                "BufferingHints": {"SizeInMBs": 1, "IntervalInSeconds": 1}})
        wait_active(fh, name)
    assert s.stop() == 0


class Load:
    """Three producers until stopped or the server goes away; what was
    acknowledged is kept."""

    def __init__(self, port, tag):
        self.port, self.tag = port, tag
        self.acked = set()      # record lines acknowledged
        self.sent = set()       # every record line sent
        self.objects = {}       # key -> bytes, acknowledged
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.threads = [threading.Thread(target=f, daemon=True)
                        for f in (self.single, self.batch, self.s3put)]

    def run(self):
        for t in self.threads:
            t.start()

    def join(self):
        self.stop.set()
        for t in self.threads:
            t.join(30)

    def single(self):
        fh = client(self.port, "firehose")
        seq = 0
        while not self.stop.is_set():
            line = "S %s %d" % (self.tag, seq)
            seq += 1
            with self.lock:
                self.sent.add(line)
            try:
                fh.put_record(DeliveryStreamName=STREAMS[0], Record={"Data": line + "\n"})
            except Exception:
                if self._dead():
                    return
                continue
            with self.lock:
                self.acked.add(line)

    def batch(self):
        fh = client(self.port, "firehose")
        seq = 0
        while not self.stop.is_set():
            lines = ["B %s %d %d" % (self.tag, seq, i) for i in range(20)]
            seq += 1
            with self.lock:
                self.sent.update(lines)
            try:
                r = fh.put_record_batch(DeliveryStreamName=STREAMS[1],
                                        Records=[{"Data": l + "\n"} for l in lines])
            except Exception:
                if self._dead():
                    return
                continue
            with self.lock:
                for l, e in zip(lines, r["RequestResponses"]):
                    if "RecordId" in e and "ErrorCode" not in e:
                        self.acked.add(l)

    def s3put(self):
        s3 = client(self.port, "s3")
        seq = 0
        while not self.stop.is_set():
            key = "o/%s/%d" % (self.tag, seq)
            seq += 1
            body = (key + "\n").encode() * (1 + seq % 40) + os.urandom(seq % 3000)
            try:
                s3.put_object(Bucket=OBJECTS, Key=key, Body=body)
            except Exception:
                if self._dead():
                    return
                continue
            with self.lock:
                self.objects[key] = body

    def _dead(self):
        try:
            import socket
            socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
            return False
        except OSError:
            return True


def calibrate(data_dir, log_path, seconds):
    """How many tracked I/O calls `seconds` of load makes (start to stop)."""
    count_file = data_dir.rstrip("/") + ".count"
    s = Server(data_dir, log_path, fault_env(data_dir, mode="count", count_file=count_file))
    assert s.start()
    load = Load(s.port, "cal")
    load.run()
    time.sleep(seconds)
    load.join()
    s.stop()
    with open(count_file) as f:
        return int(f.read()), load


def run_cuts(data_dir, log_path, cuts, seconds=1.5, seed=1, say=print):
    """The loop; returns a dict of figures and the list of problems found."""
    rng = random.Random(seed)
    setup(data_dir, log_path)
    budget, cal = calibrate(data_dir, log_path, seconds)
    acked, sent, objects = set(cal.acked), set(cal.sent), dict(cal.objects)
    stats = {"cuts": 0, "cuts_in_recovery": 0, "no_cut": 0, "budget_calls": budget}
    for i in range(cuts):
        n = rng.randint(1, max(1, int(budget * 0.9)))
        s = Server(data_dir, log_path, fault_env(data_dir, mode="cut", n=n))
        if not s.start():
            rc = s.proc.returncode
            s.log.close()
            s.proc.stdout.close()
            assert rc == EXIT_CUT, "hydrant failed to start (exit %s):\n%s" % (rc, tail(log_path))
            stats["cuts"] += 1
            stats["cuts_in_recovery"] += 1
            continue
        load = Load(s.port, "i%d" % i)
        load.run()
        rc = s.wait(seconds * 4)
        load.join()
        if rc is None:
            rc = s.stop(signal.SIGKILL)
            stats["no_cut"] += 1
        else:
            s.stop()
            assert rc == EXIT_CUT, "hydrant died (exit %s), not by a cut:\n%s" % (
                rc, tail(log_path))
            stats["cuts"] += 1
        acked |= load.acked
        sent |= load.sent
        objects.update(load.objects)
        if say and (i + 1) % 10 == 0:
            say("  %d/%d iterations, %d cuts, %d records acknowledged so far" % (
                i + 1, cuts, stats["cuts"], len(acked)))
    return stats, verify(data_dir, log_path, acked, sent, objects, stats)


def tail(path, n=3000):
    with open(path, "rb") as f:
        return f.read()[-n:].decode(errors="replace")


def delivered_lines(s3):
    lines = set()
    try:
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=DEST):
            for o in page.get("Contents", []):
                lines.update(s3.get_object(Bucket=DEST, Key=o["Key"])["Body"].read()
                             .decode().splitlines())
    except Exception:
        pass
    return lines


def verify(data_dir, log_path, acked, sent, objects, stats):
    # a clean start replays what is left; SIGTERM delivers every buffer
    s = Server(data_dir, log_path)
    assert s.start(), tail(log_path)
    # a fault may have failed the scenario's CreateBucket (its client saw
    # the error): the operator's remedy, creating it, lets the data go out
    s3 = client(s.port, "s3")
    have = {b["Name"] for b in s3.list_buckets()["Buckets"]}
    for b in (DEST, OBJECTS):
        if b not in have:
            s3.create_bucket(Bucket=b)
    if have < {DEST, OBJECTS}:
        # batches parked while the bucket was missing go out at their next
        # retry (backoff); give them that before stopping
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and not acked <= delivered_lines(s3):
            time.sleep(0.5)
    assert s.stop() == 0, tail(log_path)
    s = Server(data_dir, log_path)
    assert s.start(), tail(log_path)
    s3 = client(s.port, "s3")
    seen, unreadable = {}, []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=DEST):
        for o in page.get("Contents", []):
            try:
                data = s3.get_object(Bucket=DEST, Key=o["Key"])["Body"].read().decode()
            except Exception as e:
                unreadable.append("%s (%s)" % (o["Key"], e))
                continue
            for line in data.splitlines():
                seen[line] = seen.get(line, 0) + 1
    problems = []
    if unreadable:
        problems.append("%d delivered objects listed but unreadable, e.g. %s" % (
            len(unreadable), unreadable[:2]))
    lost = [l for l in acked if l not in seen]
    dups = [l for l, c in seen.items() if c > 1]
    strangers = [l for l in seen if l not in sent]
    if lost:
        problems.append("%d acknowledged records lost, e.g. %s" % (len(lost), sorted(lost)[:5]))
    if dups:
        problems.append("%d records delivered more than once, e.g. %s" % (len(dups), dups[:5]))
    if strangers:
        problems.append("%d delivered records nobody sent, e.g. %s" % (len(strangers),
                                                                       strangers[:5]))
    bad_objects = 0
    for key, body in objects.items():
        try:
            got = s3.get_object(Bucket=OBJECTS, Key=key)["Body"].read()
        except Exception:
            got = None
        if got != body:
            bad_objects += 1
    if bad_objects:
        problems.append("%d acknowledged S3 objects missing or wrong" % bad_objects)
    s.stop()
    stats.update(acknowledged=len(acked), sent=len(sent), delivered=len(seen),
                 lost=len(lost), duplicated=len(dups), s3_objects=len(objects),
                 s3_bad=bad_objects)
    return problems


# ---- the I/O-fault sweep ---------------------------------------------------
def scenario(port, tag):
    """A fixed small scenario; returns what was acknowledged."""
    acked, objects = set(), {}
    s3, iam, fh = client(port, "s3"), client(port, "iam"), client(port, "firehose")

    def attempt(fn, *a, **kw):
        try:
            return fn(*a, **kw)
        except Exception:
            return None
    attempt(s3.create_bucket, Bucket=DEST)
    attempt(s3.create_bucket, Bucket=OBJECTS)
    trust = ('{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":'
             '{"Service":"firehose.amazonaws.com"},"Action":"sts:AssumeRole"}]}')
    attempt(iam.create_role, RoleName="pc-role", AssumeRolePolicyDocument=trust)
    attempt(fh.create_delivery_stream, DeliveryStreamName=STREAMS[0],
            DeliveryStreamType="DirectPut",
            S3DestinationConfiguration={
                "RoleARN": "arn:aws:iam::000000000000:role/pc-role",
                "BucketARN": "arn:aws:s3:::" + DEST,
                "BufferingHints": {"SizeInMBs": 1, "IntervalInSeconds": 0}})
    time.sleep(0.3)
    for i in range(8):
        line = "S %s %d" % (tag, i)
        if attempt(fh.put_record, DeliveryStreamName=STREAMS[0], Record={"Data": line + "\n"}):
            acked.add(line)
        key, body = "o/%s/%d" % (tag, i), os.urandom(100 + i * 500)
        if i % 3 == 0 and attempt(s3.put_object, Bucket=OBJECTS, Key=key, Body=body):
            objects[key] = body
    time.sleep(1.2)  # interval 0: delivered within about a second
    return acked, objects


def sweep_one(data_dir, log_path, n, err):
    """Fault at call n (err), the scenario, a clean stop that loses every
    unsynced byte; then a clean start must deliver all that was
    acknowledged. Returns (problems, how the faulty run ended)."""
    env = fault_env(data_dir, mode="fail", n=n, err=err, cut_at_exit=1) if n else {}
    s = Server(data_dir, log_path, env)
    if not s.start():
        rc = s.proc.returncode
        s.log.close()
        s.proc.stdout.close()
        ended = "refused to start (exit %s)" % rc
        if rc is None or rc < 0:
            return ["crashed at start (exit %s)" % rc], ended
        return [], ended
    acked, objects = scenario(s.port, "n%d" % n)
    rc = s.stop()
    problems = []
    if rc is None or rc < 0:
        problems.append("crashed (exit %s)" % rc)
    stats = {}
    problems += verify(data_dir, log_path, acked, acked | {"S n%d %d" % (n, i) for i in range(8)},
                       objects, stats)
    return problems, "exit %s, %d records and %d objects acknowledged" % (
        rc, len(acked), len(objects))


def count_calls(data_dir, log_path):
    count_file = data_dir.rstrip("/") + ".count"
    s = Server(data_dir, log_path, fault_env(data_dir, mode="count", count_file=count_file))
    assert s.start()
    scenario(s.port, "count")
    assert s.stop() == 0
    with open(count_file) as f:
        return int(f.read())


def dir_syncs_at_start(data_dir, log_path):
    """The call indices of the directory fsyncs a fresh start makes (the
    start is the same every time, so these indices name the same calls)."""
    s = Server(data_dir, log_path, fault_env(data_dir, mode="count", verbose=2))
    assert s.start()
    assert s.stop() == 0
    calls = []
    with open(log_path) as f:
        for line in f:
            if "libhyfault: call " in line and " fsync(dir) " in line:
                calls.append(int(line.split("libhyfault: call ")[1].split(":")[0]))
    return calls
