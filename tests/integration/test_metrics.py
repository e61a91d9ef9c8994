"""Metrics (issue 17): the Prometheus page scraped by a real Prometheus,
promtool's verdict on the exposition, and the CloudWatch API read with
boto3 -- counts and freshness per stream, as the test caused them."""
import datetime
import json
import os
import shutil
import socket
import subprocess
import time
import urllib.parse
import urllib.request

import pytest
from botocore.exceptions import ClientError

from conftest import wait_active, wait_for

ROLE = "arn:aws:iam::000000000000:role/firehose_delivery_role"
PROMETHEUS = shutil.which("prometheus")
PROMTOOL = shutil.which("promtool")


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def make_stream(h, name, bucket, interval=1):
    s3 = h.client("s3")
    try:
        s3.create_bucket(Bucket=bucket)
    except ClientError as e:
        assert e.response["Error"]["Code"] == "BucketAlreadyOwnedByYou"
    fh = h.client("firehose")
    fh.create_delivery_stream(
        DeliveryStreamName=name,
        ExtendedS3DestinationConfiguration={
            "RoleARN": ROLE, "BucketARN": "arn:aws:s3:::" + bucket,
            "BufferingHints": {"IntervalInSeconds": interval, "SizeInMBs": 1}})
    wait_active(fh, name)
    return fh


def put(fh, name, singles, batch):
    """singles PutRecord calls and one PutRecordBatch of batch records;
    returns (records, bytes)."""
    nbytes = 0
    for i in range(singles):
        data = b'{"n":%d}\n' % i
        fh.put_record(DeliveryStreamName=name, Record={"Data": data})
        nbytes += len(data)
    if batch:
        recs = [{"Data": b'{"b":%d}\n' % i} for i in range(batch)]
        r = fh.put_record_batch(DeliveryStreamName=name, Records=recs)
        assert r["FailedPutCount"] == 0
        nbytes += sum(len(x["Data"]) for x in recs)
    return singles + batch, nbytes


def scrape(h, token=None):
    req = urllib.request.Request(h.endpoint + "/_hydrant/metrics")
    if token:
        req.add_header("Authorization", "Bearer " + token)
    with urllib.request.urlopen(req, timeout=10) as r:
        assert r.headers["Content-Type"].startswith("text/plain; version=0.0.4")
        return r.read().decode()


def sample(text, name, stream):
    for line in text.splitlines():
        if line.startswith(name + "{") and 'delivery_stream_name="%s"' % stream in line:
            return float(line.rsplit(" ", 1)[1])
    return None


# ---- the Prometheus page ------------------------------------------------------

def test_exposition_counts_and_promtool(hydrant, tmp_path):
    fh = make_stream(hydrant, "metrics-a", "metrics-bucket")
    make_stream(hydrant, "metrics-b", "metrics-bucket")
    ra, ba = put(fh, "metrics-a", 3, 7)
    rb, bb = put(fh, "metrics-b", 2, 0)
    text = scrape(hydrant)
    assert sample(text, "hydrant_firehose_incoming_records_total", "metrics-a") == ra
    assert sample(text, "hydrant_firehose_incoming_bytes_total", "metrics-a") == ba
    assert sample(text, "hydrant_firehose_incoming_put_requests_total", "metrics-a") == 4
    assert sample(text, "hydrant_firehose_put_record_batch_requests_total", "metrics-a") == 1
    assert sample(text, "hydrant_firehose_incoming_records_total", "metrics-b") == rb
    assert sample(text, "hydrant_firehose_incoming_bytes_total", "metrics-b") == bb
    assert 'hydrant_requests_total{api="firehose",operation="PutRecord",code="200"} 5' in text
    assert "hydrant_wal_fsyncs_total" in text and "hydrant_buffered_bytes_ceiling" in text
    # delivery follows within the interval: records, bytes, success, freshness
    def delivered():
        t = scrape(hydrant)
        return t if sample(t, "hydrant_firehose_delivery_to_s3_records_total",
                           "metrics-a") == ra else None
    text = wait_for(delivered, timeout=20)
    assert sample(text, "hydrant_firehose_delivery_to_s3_bytes_total", "metrics-a") == ba
    assert sample(text, "hydrant_firehose_delivery_to_s3_success_total", "metrics-a") >= 1
    fresh = sample(text, "hydrant_firehose_delivery_to_s3_data_freshness_seconds", "metrics-a")
    assert fresh is not None and 0 <= fresh < 20
    # promtool's linter passes on the whole exposition
    assert PROMTOOL, "promtool missing: scripts/deps.sh installs prometheus"
    p = subprocess.run([PROMTOOL, "check", "metrics"], input=text.encode(),
                       capture_output=True, timeout=30)
    assert p.returncode == 0, p.stdout.decode() + p.stderr.decode()


def test_page_is_unsigned_but_nothing_else_under_it(hydrant):
    """GET /_hydrant/metrics needs no signature; another method there is
    no page; an S3 bucket cannot be named like it."""
    assert "hydrant_wal_bytes_total" in scrape(hydrant)
    req = urllib.request.Request(hydrant.endpoint + "/_hydrant/metrics", data=b"x",
                                 method="POST")
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen(req, timeout=10)
    assert e.value.code == 405


def test_bearer_token(make_hydrant):
    h = make_hydrant("--metrics-token", "s3cret-token")
    with pytest.raises(urllib.error.HTTPError) as e:
        scrape(h)
    assert e.value.code == 401
    with pytest.raises(urllib.error.HTTPError) as e:
        scrape(h, token="wrong-token!")
    assert e.value.code == 401
    assert "hydrant_wal_bytes_total" in scrape(h, token="s3cret-token")


def test_real_prometheus_scrapes_incoming_records(make_hydrant, tmp_path):
    """Prometheus (Debian's) scrapes hydrant every second, with the bearer
    token; its query API returns the IncomingRecords the test put."""
    assert PROMETHEUS, "prometheus missing: scripts/deps.sh installs it"
    h = make_hydrant("--metrics-token", "prom-token")
    fh = make_stream(h, "prom-stream", "prom-bucket")
    records, _ = put(fh, "prom-stream", 4, 21)
    port = free_port()
    cfg = tmp_path / "prometheus.yml"
    cfg.write_text(
        "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n"
        "scrape_configs:\n  - job_name: hydrant\n    metrics_path: /_hydrant/metrics\n"
        "    authorization:\n      credentials: prom-token\n"
        "    static_configs:\n      - targets: ['127.0.0.1:%d']\n" % h.port)
    log = open(str(tmp_path / "prometheus.log"), "wb")
    prom = subprocess.Popen(
        [PROMETHEUS, "--config.file=" + str(cfg), "--storage.tsdb.path=" + str(tmp_path / "tsdb"),
         "--web.listen-address=127.0.0.1:%d" % port], stdout=log, stderr=log)
    try:
        def query():
            q = urllib.parse.urlencode(
                {"query": 'hydrant_firehose_incoming_records_total{delivery_stream_name='
                          '"prom-stream"}'})
            try:
                with urllib.request.urlopen("http://127.0.0.1:%d/api/v1/query?%s" % (port, q),
                                            timeout=5) as r:
                    res = json.loads(r.read())["data"]["result"]
            except OSError:
                return None
            return res or None
        res = wait_for(query, timeout=60, interval=0.5)
        assert float(res[0]["value"][1]) == records
        assert res[0]["metric"]["region"] == "us-east-1"
        # the scrape itself was healthy: Prometheus says the target is up
        with urllib.request.urlopen("http://127.0.0.1:%d/api/v1/query?query=up" % port,
                                    timeout=5) as r:
            up = json.loads(r.read())["data"]["result"]
        assert up and up[0]["value"][1] == "1"
    finally:
        prom.terminate()
        prom.wait(20)
        log.close()


# ---- the CloudWatch API --------------------------------------------------------

def window():
    now = datetime.datetime.now(datetime.timezone.utc)
    return now - datetime.timedelta(minutes=30), now + datetime.timedelta(minutes=2)


def dims(name):
    return [{"Name": "DeliveryStreamName", "Value": name}]


def test_cloudwatch_get_metric_statistics_per_stream(hydrant):
    fh = make_stream(hydrant, "cw-one", "cw-bucket")
    make_stream(hydrant, "cw-two", "cw-bucket")
    r1, b1 = put(fh, "cw-one", 5, 10)
    r2, _ = put(fh, "cw-two", 0, 3)
    cw = hydrant.client("cloudwatch", validate=True)
    start, end = window()

    def stats(stream, metric, st=("Sum", "SampleCount", "Maximum", "Minimum", "Average")):
        dp = cw.get_metric_statistics(Namespace="AWS/Firehose", MetricName=metric,
                                      Dimensions=dims(stream), StartTime=start, EndTime=end,
                                      Period=3600, Statistics=list(st))["Datapoints"]
        return dp
    dp = stats("cw-one", "IncomingRecords")
    assert len(dp) <= 2  # a period of an hour: one bucket (two at an hour's edge)
    assert sum(d["Sum"] for d in dp) == r1
    assert sum(d["SampleCount"] for d in dp) == 6  # 5 PutRecord + 1 PutRecordBatch
    assert max(d["Maximum"] for d in dp) == 10
    assert min(d["Minimum"] for d in dp) == 1
    assert dp[0]["Unit"] == "Count"
    assert sum(d["Sum"] for d in stats("cw-one", "IncomingBytes")) == b1
    assert stats("cw-one", "IncomingBytes")[0]["Unit"] == "Bytes"
    assert sum(d["Sum"] for d in stats("cw-two", "IncomingRecords")) == r2
    # no such stream, another namespace: no datapoints, as CloudWatch
    assert stats("cw-none", "IncomingRecords") == []
    assert cw.get_metric_statistics(Namespace="AWS/S3", MetricName="IncomingRecords",
                                    Dimensions=dims("cw-one"), StartTime=start, EndTime=end,
                                    Period=60, Statistics=["Sum"])["Datapoints"] == []
    # delivery: records, success and freshness (seconds) of cw-one
    def delivered():
        dp = stats("cw-one", "DeliveryToS3.Records")
        return dp if sum(d["Sum"] for d in dp) == r1 else None
    wait_for(delivered, timeout=20)
    fresh = stats("cw-one", "DeliveryToS3.DataFreshness")
    assert fresh and fresh[0]["Unit"] == "Seconds"
    assert 0 <= max(d["Maximum"] for d in fresh) < 20
    ok = stats("cw-one", "DeliveryToS3.Success", ("Average",))
    assert ok and ok[0]["Average"] == 1.0


def test_cloudwatch_get_metric_data_and_list_metrics(hydrant):
    fh = make_stream(hydrant, "gmd-stream", "gmd-bucket")
    records, _ = put(fh, "gmd-stream", 2, 40)
    cw = hydrant.client("cloudwatch", validate=True)
    start, end = window()

    def q(qid, metric, stat, stream="gmd-stream"):
        return {"Id": qid, "MetricStat": {"Metric": {"Namespace": "AWS/Firehose",
                                                     "MetricName": metric,
                                                     "Dimensions": dims(stream)},
                                          "Period": 60, "Stat": stat}}
    wait_for(lambda: sum(cw.get_metric_data(
        MetricDataQueries=[q("d", "DeliveryToS3.Records", "Sum")], StartTime=start,
        EndTime=end)["MetricDataResults"][0]["Values"]) == records, timeout=20)
    res = cw.get_metric_data(
        MetricDataQueries=[q("rec", "IncomingRecords", "Sum"),
                           q("fresh", "DeliveryToS3.DataFreshness", "Maximum"),
                           q("other", "IncomingRecords", "Sum", stream="gmd-missing")],
        StartTime=start, EndTime=end, ScanBy="TimestampAscending")["MetricDataResults"]
    by_id = {r["Id"]: r for r in res}
    assert sum(by_id["rec"]["Values"]) == records
    assert by_id["rec"]["StatusCode"] == "Complete"
    assert by_id["rec"]["Label"] == "IncomingRecords"
    assert len(by_id["rec"]["Timestamps"]) == len(by_id["rec"]["Values"])
    assert by_id["fresh"]["Values"] and 0 <= max(by_id["fresh"]["Values"]) < 20
    assert by_id["other"]["Values"] == []
    names = {m["MetricName"] for m in cw.list_metrics(Namespace="AWS/Firehose")["Metrics"]
             if m["Dimensions"] == dims("gmd-stream")}
    assert {"IncomingRecords", "IncomingBytes", "DeliveryToS3.Records",
            "DeliveryToS3.DataFreshness"} <= names
    only = cw.list_metrics(Namespace="AWS/Firehose", MetricName="IncomingRecords")["Metrics"]
    assert only and {m["MetricName"] for m in only} == {"IncomingRecords"}


def test_cloudwatch_refusals(hydrant):
    cw = hydrant.client("cloudwatch")
    start, end = window()
    with pytest.raises(ClientError) as e:
        cw.get_metric_statistics(Namespace="AWS/Firehose", MetricName="IncomingRecords",
                                 Dimensions=dims("x"), StartTime=start, EndTime=end,
                                 Period=30, Statistics=["Sum"])
    assert e.value.response["Error"]["Code"] == "InvalidParameterValue"
    assert "multiple of 60" in e.value.response["Error"]["Message"]
    with pytest.raises(ClientError) as e:
        cw.get_metric_statistics(Namespace="AWS/Firehose", MetricName="IncomingRecords",
                                 Dimensions=dims("x"), StartTime=end, EndTime=start,
                                 Period=60, Statistics=["Sum"])
    assert e.value.response["Error"]["Code"] == "InvalidParameterValue"
    with pytest.raises(ClientError) as e:
        cw.get_metric_statistics(Namespace="AWS/Firehose", MetricName="IncomingRecords",
                                 Dimensions=dims("x"), StartTime=start, EndTime=end,
                                 Period=60, ExtendedStatistics=["p99"])
    assert "ExtendedStatistics" in e.value.response["Error"]["Message"]
    with pytest.raises(ClientError) as e:
        cw.get_metric_data(MetricDataQueries=[{"Id": "m", "Expression": "SUM(METRICS())"}],
                           StartTime=start, EndTime=end)
    assert "Expression" in e.value.response["Error"]["Message"]
    # unsigned: refused before any of it runs
    body = "Action=ListMetrics&Version=2010-08-01"
    req = urllib.request.Request(hydrant.endpoint + "/", data=body.encode(), headers={
        "Content-Type": "application/x-www-form-urlencoded"})
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen(req, timeout=10)
    assert e.value.code == 403


def test_cli_get_metric_data(hydrant, tmp_path):
    """`aws cloudwatch get-metric-statistics` (Debian's AWS CLI) reads the
    same numbers."""
    fh = make_stream(hydrant, "cli-stream", "cli-bucket")
    records, _ = put(fh, "cli-stream", 3, 0)
    start, end = window()
    env = dict(os.environ, AWS_ACCESS_KEY_ID="test", AWS_SECRET_ACCESS_KEY="test",
               AWS_DEFAULT_REGION="us-east-1", AWS_CONFIG_FILE=str(tmp_path / "none"))
    out = subprocess.run(
        ["/usr/bin/aws", "--endpoint-url", hydrant.endpoint, "cloudwatch",
         "get-metric-statistics", "--namespace", "AWS/Firehose", "--metric-name",
         "IncomingRecords", "--dimensions", "Name=DeliveryStreamName,Value=cli-stream",
         "--start-time", start.strftime("%Y-%m-%dT%H:%M:%SZ"),
         "--end-time", end.strftime("%Y-%m-%dT%H:%M:%SZ"), "--period", "3600",
         "--statistics", "Sum"], env=env, capture_output=True, timeout=60)
    assert out.returncode == 0, out.stderr.decode()
    dp = json.loads(out.stdout)["Datapoints"]
    assert sum(d["Sum"] for d in dp) == records
