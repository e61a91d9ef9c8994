"""Operating hydrant as a service (issue 18): the probes under /_hydrant/,
the config file and its precedence, --print-config, SIGHUP (log level,
log file, root credentials) without dropping a connection, --log-file,
sd_notify, us-east-1's CreateBucket, and the log lines of refused
requests. Real binary, real sockets, boto3.
"""
import json
import os
import signal
import socket
import subprocess
import tempfile
import time

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from conftest import BIN

ENV = {k: v for k, v in os.environ.items() if not k.startswith("HYDRANT_")}


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def http(port, method, path, body=b"", headers=None, sock=None):
    """One HTTP/1.1 request, keep-alive; returns (status, headers, body,
    sock) so a caller can send the next one on the same connection."""
    own = sock is None
    if own:
        sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    hdrs = {"Host": "127.0.0.1:%d" % port, "Content-Length": str(len(body))}
    hdrs.update(headers or {})
    req = "%s %s HTTP/1.1\r\n" % (method, path) + \
        "".join("%s: %s\r\n" % kv for kv in hdrs.items()) + "\r\n"
    sock.sendall(req.encode() + body)
    f = sock.makefile("rb")
    status = int(f.readline().split()[1])
    h = {}
    while True:
        line = f.readline().decode().strip()
        if not line:
            break
        k, v = line.split(":", 1)
        h[k.strip().lower()] = v.strip()
    data = f.read(int(h.get("content-length", "0")))
    return status, h, data, sock


class Proc:
    """hydrant on a fixed port (so it can be probed before it is ready)."""

    def __init__(self, tmp, args=(), env=None, port=None):
        self.port = port or free_port()
        self.data = os.path.join(tmp, "data")
        self.log_path = os.path.join(tmp, "stderr.log")
        self.args = ["--port", str(self.port), "--data-dir", self.data,
                     "--create-delay-ms", "100", *args]
        self.env = dict(ENV, **(env or {}))
        self.proc = None

    def start(self, wait=True):
        self.err = open(self.log_path, "ab")
        self.proc = subprocess.Popen([BIN, *self.args], stdout=subprocess.PIPE,
                                     stderr=self.err, env=self.env)
        if wait:
            self.wait_ready()
        return self

    def wait_ready(self, timeout=30):
        deadline = time.time() + timeout
        while time.time() < deadline:
            assert self.proc.poll() is None, self.log()
            try:
                if http(self.port, "GET", "/_hydrant/ready")[0] == 200:
                    return
            except OSError:
                pass
            time.sleep(0.02)
        raise AssertionError("not ready: " + self.log())

    def stop(self, sig=signal.SIGTERM):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(sig)
            self.proc.wait(30)
        if self.proc:
            self.proc.stdout.close()
            self.err.close()
        self.proc = None

    def log(self, path=None):
        with open(path or self.log_path, "rb") as f:
            return f.read().decode(errors="replace")

    def client(self, service, key="test", secret="test", region="us-east-1"):
        return boto3.client(service, endpoint_url="http://127.0.0.1:%d" % self.port,
                            region_name=region, aws_access_key_id=key,
                            aws_secret_access_key=secret,
                            config=Config(parameter_validation=False,
                                          retries={"max_attempts": 1, "mode": "standard"}))


@pytest.fixture
def tmp():
    with tempfile.TemporaryDirectory(prefix="hy-ops-") as d:
        yield d


def print_config(args=(), env=None):
    r = subprocess.run([BIN, *args, "--print-config"], capture_output=True,
                       env=dict(ENV, **(env or {})))
    assert r.returncode == 0, r.stderr
    return r.stdout.decode()


def write(path, text):
    with open(path, "w") as f:
        f.write(text)
    return path


# ---- probes ------------------------------------------------------------------
def test_health_and_ready_unsigned_and_silent(tmp):
    p = Proc(tmp).start()
    try:
        before = p.log()
        for _ in range(20):
            st, h, body, s = http(p.port, "GET", "/_hydrant/health")
            s.close()
            assert (st, json.loads(body)) == (200, {"status": "ok"})
            assert h["content-type"] == "application/json"
            assert h["cache-control"] == "no-store"
            st, h, body, s = http(p.port, "GET", "/_hydrant/ready")
            s.close()
            assert (st, json.loads(body)) == (200, {"status": "ready"})
        # nothing else under the prefix (but hydrant's pages: metrics, the
        # console), and no other method: JSON 404s
        for method, path in [("GET", "/_hydrant/"), ("GET", "/_hydrant"),
                             ("GET", "/_hydrant/nothing"), ("POST", "/_hydrant/health"),
                             ("PUT", "/_hydrant/ready"), ("GET", "/_hydrant/health?x=1"),
                             ("DELETE", "/_hydrant/health")]:
            st, h, body, s = http(p.port, method, path)
            s.close()
            assert st == 404, (method, path)
            assert json.loads(body)["__type"] == "NotFound"
        # probes leave the log alone
        assert p.log() == before
        # the old guess, GET /health, is S3's (a bucket), signed or refused
        st, _, body, s = http(p.port, "GET", "/health")
        s.close()
        assert st == 403 and b"AccessDenied" in body
    finally:
        p.stop()


def test_ready_wants_disk_headroom(tmp):
    p = Proc(tmp, ["--min-free-bytes", str(1 << 50)]).start(wait=False)
    try:
        deadline = time.time() + 20
        while True:
            try:
                st, _, body, s = http(p.port, "GET", "/_hydrant/health")
                s.close()
                break
            except OSError:
                assert time.time() < deadline
                time.sleep(0.05)
        assert st == 200
        time.sleep(0.5)
        st, _, body, s = http(p.port, "GET", "/_hydrant/ready")
        s.close()
        reason = json.loads(body)
        assert st == 503 and reason["status"] == "not ready"
        assert reason["reason"].startswith("disk headroom"), reason
        # serving otherwise: the headroom is for the probe to report
        assert p.client("s3").list_buckets()["Buckets"] == []
    finally:
        p.stop()


def test_ready_only_after_recovery(tmp):
    """A log to replay: health answers at once, ready and the APIs are 503
    until recovery is done, then 200 -- never back."""
    p = Proc(tmp, ["--durability", "os", "--iam=off"]).start()
    fh = p.client("firehose")
    fh.create_delivery_stream(
        DeliveryStreamName="rec", S3DestinationConfiguration={
            "RoleARN": "arn:aws:iam::000000000000:role/r",
            "BucketARN": "arn:aws:s3:::no-such-bucket-yet",
            "BufferingHints": {"SizeInMBs": 128, "IntervalInSeconds": 900}})
    while fh.describe_delivery_stream(DeliveryStreamName="rec")[
            "DeliveryStreamDescription"]["DeliveryStreamStatus"] != "ACTIVE":
        time.sleep(0.05)
    rec = [{"Data": b"x" * 1000}] * 500
    for _ in range(160):  # 80 MB to replay
        assert fh.put_record_batch(DeliveryStreamName="rec", Records=rec)["FailedPutCount"] == 0
    p.stop(signal.SIGKILL)
    p.start(wait=False)
    seen = []
    try:
        deadline = time.time() + 60
        while time.time() < deadline:
            try:
                hs = http(p.port, "GET", "/_hydrant/health")
                hs[3].close()
                rs = http(p.port, "GET", "/_hydrant/ready")
                rs[3].close()
            except OSError:
                continue
            assert hs[0] == 200
            if rs[0] == 503:
                assert json.loads(rs[2])["reason"] == "recovering"
                api = http(p.port, "GET", "/")  # unsigned: refused either way
                api[3].close()
            seen.append(rs[0])
            if rs[0] == 200 and len(seen) > 3 and seen[-4:] == [200] * 4:
                break
        assert 503 in seen, "recovery too quick to observe: %r" % seen[:5]
        first_ok = seen.index(200)
        assert all(s == 200 for s in seen[first_ok:]), seen
        assert "recovered" in p.log()
        # and a signed request during recovery would have been 503; now it works
        assert fh.describe_delivery_stream(DeliveryStreamName="rec")
    finally:
        p.stop()


def test_operations_table_lists_the_unsigned_rows():
    out = subprocess.run([BIN, "--operations"], capture_output=True, check=True).stdout
    ops = [json.loads(line) for line in out.decode().splitlines()]
    unsigned = [o for o in ops if o.get("unsigned")]
    assert {(o["method"], o["path"]) for o in unsigned if o["api"] == "ops"} == \
        {("GET", "/_hydrant/health"), ("GET", "/_hydrant/ready")}
    # the only unsigned kinds: the probes, hydrant's pages, CORS preflights
    assert {o["api"] for o in unsigned} == {"ops", "pages", "preflight"}
    assert all(not o.get("unsigned") for o in ops
               if o["api"] not in ("ops", "pages", "preflight"))


# ---- the config file, env, flags ------------------------------------------
def test_config_file_equals_flags_and_env(tmp):
    settings = {"host": "127.0.0.1", "port": "4999", "data-dir": "/srv/hydrant",
                "region": "eu-west-1", "max-streams": "7", "threads": "3",
                "durability": "os", "log-level": "warn", "retry-window": "600",
                "min-free-bytes": "1048576", "access-key-id": "AKIAOPS",
                "secret-access-key": "s3cr3t-value", "log-file": "/tmp/x.log"}
    conf = write(os.path.join(tmp, "h.conf"), "[hydrant]\n# a comment\n" + "".join(
        "%s = %s\n" % kv for kv in settings.items()))
    flags = ["--%s=%s" % kv for kv in settings.items()]
    env = {"HYDRANT_" + k.upper().replace("-", "_"): v for k, v in settings.items()}
    by_file = print_config(["--config", conf])
    assert by_file == print_config(flags)
    assert by_file == print_config(env=env)
    assert by_file == print_config(env={"HYDRANT_CONFIG": conf})
    assert "port = 4999\n" in by_file and "durability = os\n" in by_file
    # secrets are masked, never printed
    assert "s3cr3t-value" not in by_file
    assert "secret-access-key = ********\n" in by_file
    # the output is itself a config file that means the same
    again = write(os.path.join(tmp, "again.conf"), by_file)
    assert print_config(["--config", again]).replace("********", "") == \
        by_file.replace("********", "")
    defaults = print_config()
    assert "port = 4566\n" in defaults and "# tls-cert = (unset)\n" in defaults


def test_precedence_flags_env_file_defaults(tmp):
    conf = write(os.path.join(tmp, "h.conf"), "port = 1111\nthreads = 5\n")

    def val(out, key):
        return next(l.split(" = ")[1] for l in out.splitlines() if l.startswith(key + " = "))
    out = print_config(["--config", conf, "--port", "3333"], env={"HYDRANT_PORT": "2222"})
    assert (val(out, "port"), val(out, "threads"), val(out, "max-conns")) == \
        ("3333", "5", "4096")
    out = print_config(["--config", conf], env={"HYDRANT_PORT": "2222"})
    assert val(out, "port") == "2222"
    out = print_config(["--config", conf])
    assert val(out, "port") == "1111"
    assert val(print_config(), "port") == "4566"


def test_config_errors_name_the_line(tmp):
    for text, want in [("port = 1\nbogus = 2\n", ":2: 'bogus' is no setting"),
                       ("[other]\nport = 1\n", "'[other]' is no setting"),
                       ("version = 1\n", "'version' is no setting"),
                       ("port = 99999\n", "--port wants a number")]:
        conf = write(os.path.join(tmp, "bad.conf"), text)
        r = subprocess.run([BIN, "--config", conf, "--print-config"], capture_output=True,
                           env=ENV)
        assert r.returncode == 2 and want in r.stderr.decode(), (text, r.stderr)
    r = subprocess.run([BIN, "--config", os.path.join(tmp, "none.conf")], capture_output=True,
                       env=ENV)
    assert r.returncode == 2 and b"cannot open config file" in r.stderr


# ---- SIGHUP --------------------------------------------------------------------
def test_sighup_log_level_keeps_connections(tmp):
    conf = write(os.path.join(tmp, "h.conf"), "log-level = info\n")
    p = Proc(tmp, ["--config", conf]).start()
    try:
        st, h, _, sock = http(p.port, "GET", "/_hydrant/health")
        assert st == 200 and h.get("connection", "").lower() != "close"
        s3 = p.client("s3")
        s3.create_bucket(Bucket="hup-bucket")
        # a refused request is an info line
        http(p.port, "GET", "/hup-bucket")[3].close()
        assert "ListObjects /hup-bucket" in p.log()
        write(conf, "log-level = warn\n")
        p.proc.send_signal(signal.SIGHUP)
        deadline = time.time() + 10
        while "re-read %s: 1 setting changed" % conf not in p.log():
            assert time.time() < deadline, p.log()
            time.sleep(0.05)
        assert "SIGHUP: log-level warn" in p.log()
        # the same connection still serves, and so does the server
        st, _, body, sock = http(p.port, "GET", "/_hydrant/ready", sock=sock)
        assert (st, json.loads(body)) == (200, {"status": "ready"})
        sock.close()
        assert p.proc.poll() is None
        s3.list_objects_v2(Bucket="hup-bucket")
        # at warn, the refusal is not logged any more
        mark = len(p.log())
        http(p.port, "GET", "/hup-bucket")[3].close()
        assert p.client("s3").list_buckets()
        time.sleep(0.2)
        assert "ListObjects" not in p.log()[mark:]
        # a bad value changes nothing and stops nothing
        write(conf, "log-level = loud\n")
        p.proc.send_signal(signal.SIGHUP)
        deadline = time.time() + 10
        while "'loud' is not debug" not in p.log():
            assert time.time() < deadline, p.log()
            time.sleep(0.05)
        assert p.proc.poll() is None
        assert "ready" in http(p.port, "GET", "/_hydrant/ready")[2].decode()
    finally:
        p.stop()


def test_sighup_flag_beats_file(tmp):
    conf = write(os.path.join(tmp, "h.conf"), "log-level = info\n")
    p = Proc(tmp, ["--config", conf, "--log-level", "warn"]).start()
    try:
        write(conf, "log-level = debug\n")
        p.proc.send_signal(signal.SIGHUP)
        time.sleep(1)
        p.client("s3").list_buckets()
        assert p.proc.poll() is None
        assert "SIGHUP: log-level" not in p.log() and " debug " not in p.log()
        assert "re-read %s: 0 settings changed" % conf in p.log()
    finally:
        p.stop()


def test_sighup_reopens_the_log_file(tmp):
    log = os.path.join(tmp, "hydrant.log")
    p = Proc(tmp, ["--log-file", log]).start()
    try:
        assert "ready: serving" in p.log(log)
        assert p.log() == ""  # nothing on stderr: it all went to the file
        os.rename(log, log + ".1")  # logrotate's move
        p.proc.send_signal(signal.SIGHUP)
        deadline = time.time() + 10
        while not os.path.exists(log) or "SIGHUP" not in p.log(log):
            assert time.time() < deadline
            time.sleep(0.05)
        assert "SIGHUP" not in p.log(log + ".1")
        assert p.proc.poll() is None
    finally:
        p.stop()
    assert "stopped" in p.log(log)


def test_sighup_replaces_root_credentials(tmp):
    conf = write(os.path.join(tmp, "h.conf"),
                 "access-key-id = AKIAFIRST\nsecret-access-key = first-secret\n")
    p = Proc(tmp, ["--config", conf]).start()
    try:
        assert p.client("s3", "AKIAFIRST", "first-secret").list_buckets()["Buckets"] == []
        write(conf, "access-key-id = AKIASECOND\nsecret-access-key = second-secret\n")
        p.proc.send_signal(signal.SIGHUP)
        deadline = time.time() + 10
        while "root credentials replaced: key AKIASECOND" not in p.log():
            assert time.time() < deadline, p.log()
            time.sleep(0.05)
        assert "second-secret" not in p.log()
        assert p.client("s3", "AKIASECOND", "second-secret").list_buckets()["Buckets"] == []
        with pytest.raises(ClientError) as e:
            p.client("s3", "AKIAFIRST", "first-secret").list_buckets()
        assert e.value.response["Error"]["Code"] == "InvalidAccessKeyId"
    finally:
        p.stop()


# ---- start-up and shutdown lines, sd_notify --------------------------------
def test_listening_goes_to_the_log_and_notify_socket(tmp):
    sockpath = os.path.join(tmp, "notify")
    ns = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    ns.bind(sockpath)
    ns.settimeout(30)
    p = Proc(tmp, env={"NOTIFY_SOCKET": sockpath}).start(wait=False)
    try:
        msg = ns.recv(4096).decode()
        assert "READY=1" in msg
        # READY=1 is sent after recovery: ready at once
        st, _, _, s = http(p.port, "GET", "/_hydrant/ready")
        s.close()
        assert st == 200
        p.proc.send_signal(signal.SIGHUP)
        assert "RELOADING=1" in ns.recv(4096).decode()
        assert "READY=1" in ns.recv(4096).decode()
        p.proc.send_signal(signal.SIGTERM)
        assert "STOPPING=1" in ns.recv(4096).decode()
        assert p.proc.wait(30) == 0
        # a fixed port: nothing on stdout; the listening line is in the log
        assert p.proc.stdout.read() == b""
        assert "listening on http://127.0.0.1:%d" % p.port in p.log()
    finally:
        p.stop()
        ns.close()


# ---- us-east-1 CreateBucket, the quick start twice -------------------------
def test_create_bucket_twice_us_east_1_and_elsewhere(tmp):
    p = Proc(tmp).start()
    try:
        use1 = p.client("s3")
        for _ in range(2):
            assert use1.create_bucket(Bucket="quick")["ResponseMetadata"]["HTTPStatusCode"] == 200
        euw1 = p.client("s3", region="eu-west-1")
        cfg = {"LocationConstraint": "eu-west-1"}
        euw1.create_bucket(Bucket="quick-eu", CreateBucketConfiguration=cfg)
        with pytest.raises(ClientError) as e:
            euw1.create_bucket(Bucket="quick-eu", CreateBucketConfiguration=cfg)
        assert e.value.response["Error"]["Code"] == "BucketAlreadyOwnedByYou"
        assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 409
        # a us-east-1 bucket asked for from another region: 409 too
        with pytest.raises(ClientError) as e:
            euw1.create_bucket(Bucket="quick", CreateBucketConfiguration=cfg)
        assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 409
    finally:
        p.stop()


# ---- log lines an operator can act on ----------------------------------------
def test_refused_requests_are_logged_with_who_and_what(tmp):
    p = Proc(tmp).start()
    try:
        fh, s3 = p.client("firehose"), p.client("s3")
        with pytest.raises(ClientError):
            fh.put_record(DeliveryStreamName="no-such-stream", Record={"Data": b"x"})
        with pytest.raises(ClientError):
            s3.get_object(Bucket="no-such-bucket", Key="k")
        with pytest.raises(ClientError):
            fh.create_delivery_stream(DeliveryStreamName="bad name!")
        with pytest.raises(ClientError):
            p.client("firehose", "AKIAUNKNOWN", "x").list_delivery_streams()
        with pytest.raises(ClientError):
            p.client("s3", "test", "wrong-secret").list_buckets()
        time.sleep(0.2)
        log = p.log()
        lines = [l for l in log.splitlines() if "[refused]" in l or "[auth]" in l]

        def line(*words):
            hit = [l for l in lines if all(w in l for w in words)]
            assert hit, "no log line with %r in:\n%s" % (words, "\n".join(lines))
            return hit[0]
        assert " info " in line("firehose PutRecord", "stream no-such-stream", "key test",
                                "ResourceNotFoundException")
        line("s3 GetObject", "bucket no-such-bucket", "key test", "404 NoSuchBucket")
        line("firehose CreateDeliveryStream", "key test", "ValidationException")
        # auth failures name the key id and the operation
        line("[auth]", "firehose ListDeliveryStreams", "key AKIAUNKNOWN", "UnrecognizedClient")
        line("[auth]", "s3 ListBuckets", "key test", "SignatureDoesNotMatch")
        assert "wrong-secret" not in log
    finally:
        p.stop()
