"""Browsers as producers (issue 17): CORS for the APIs and S3 bucket CORS.

The wire checks use raw requests (a preflight is answered from CORS rules
alone, never by an API handler; the real, signed answer carries the CORS
headers). The browser test runs headless Chromium (Debian's chromium,
chromium-driver, python3-selenium) on a page served from another origin (a
python http.server on another port) whose code is the AWS SDK for
JavaScript v3 bundled by esbuild (npm, installed into build/browser-tools
on first use): it puts clickstream records with PutRecordBatch and uploads
an object to S3 through the bucket's CORS rules; boto3 reads both back.
"""
import http.server
import json
import os
import shutil
import subprocess
import threading
import time

import pytest
from botocore.exceptions import ClientError

from conftest import ROOT, delivered_lines, signed_request, wait_active, wait_for

ROLE = "arn:aws:iam::000000000000:role/firehose_delivery_role"
TOOLS = os.environ.get("HYDRANT_BROWSER_TOOLS", os.path.join(ROOT, "build", "browser-tools"))
HERE = os.path.join(os.path.dirname(__file__), "browser")
CORS_RULES = {"CORSRules": [{
    "AllowedOrigins": ["http://127.0.0.1:*"], "AllowedMethods": ["PUT", "GET", "HEAD"],
    "AllowedHeaders": ["*"], "ExposeHeaders": ["ETag", "x-amz-request-id"],
    "MaxAgeSeconds": 600}]}


def raw(h, method, path, headers):
    import http.client
    c = http.client.HTTPConnection("127.0.0.1", h.port, timeout=10)
    c.request(method, path, headers=headers)
    r = c.getresponse()
    body = r.read()
    c.close()
    return r.status, {k.lower(): v for k, v in r.getheaders()}, body


# ---- the APIs on "/" ------------------------------------------------------------

def test_api_preflight_answers_what_the_js_sdk_asks(hydrant):
    asked = ("amz-sdk-invocation-id,amz-sdk-request,authorization,content-type,x-amz-date,"
             "x-amz-target,x-amz-user-agent")
    status, hdrs, body = raw(hydrant, "OPTIONS", "/", {
        "Origin": "http://shop.example", "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": asked})
    assert status == 200, body
    assert hdrs["access-control-allow-origin"] == "*"
    assert "POST" in hdrs["access-control-allow-methods"]
    allowed = {x.strip().lower() for x in hdrs["access-control-allow-headers"].split(",")}
    assert set(asked.split(",")) <= allowed
    assert "x-amzn-requestid" in hdrs["access-control-expose-headers"].lower()
    assert "x-amzn-errortype" in hdrs["access-control-expose-headers"].lower()
    # a header the SDK never sends is not allowed: the preflight fails
    status, hdrs, _ = raw(hydrant, "OPTIONS", "/", {
        "Origin": "http://shop.example", "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "x-forwarded-for"})
    assert status == 403 and "access-control-allow-origin" not in hdrs
    # no Origin: not a CORS request at all
    status, _, body = raw(hydrant, "OPTIONS", "/", {})
    assert status == 400 and b"Origin" in body


def test_preflight_never_reaches_a_handler(hydrant):
    """A preflight that looks like an operation (target, form body) is
    still only a preflight: nothing is created, however it is dressed."""
    fh = hydrant.client("firehose")
    status, _, _ = raw(hydrant, "OPTIONS", "/", {
        "Origin": "http://evil.example", "Access-Control-Request-Method": "POST",
        "X-Amz-Target": "Firehose_20150804.DeleteDeliveryStream",
        "Content-Type": "application/x-amz-json-1.1"})
    assert status == 200
    s3 = hydrant.client("s3")
    s3.create_bucket(Bucket="pre-bucket")
    s3.put_object(Bucket="pre-bucket", Key="k", Body=b"keep")
    status, _, body = raw(hydrant, "OPTIONS", "/pre-bucket/k", {
        "Origin": "http://evil.example", "Access-Control-Request-Method": "DELETE"})
    assert status == 403 and b"CORSResponse" in body
    assert s3.get_object(Bucket="pre-bucket", Key="k")["Body"].read() == b"keep"
    assert fh.list_delivery_streams()["DeliveryStreamNames"] == []


def test_signed_answer_carries_cors_headers(hydrant):
    status, hdrs, body = signed_request(
        hydrant, body=json.dumps({}), headers={
            "Content-Type": "application/x-amz-json-1.1",
            "X-Amz-Target": "Firehose_20150804.ListDeliveryStreams",
            "Origin": "http://shop.example"})
    assert status == 200, body
    hdrs = {k.lower(): v for k, v in hdrs.items()}
    assert hdrs["access-control-allow-origin"] == "*"
    assert "x-amzn-RequestId" in hdrs["access-control-expose-headers"]
    # unsigned: still refused, the CORS headers let the page read why
    status, hdrs, body = raw(hydrant, "POST", "/", {
        "Origin": "http://shop.example", "Content-Type": "application/x-amz-json-1.1",
        "X-Amz-Target": "Firehose_20150804.ListDeliveryStreams"})
    assert status in (400, 403) and hdrs["access-control-allow-origin"] == "*"


# ---- S3 bucket CORS ----------------------------------------------------------------

def test_bucket_cors_put_get_delete_and_preflight(hydrant):
    s3 = hydrant.client("s3", validate=True)
    s3.create_bucket(Bucket="cors-bucket")
    with pytest.raises(ClientError) as e:
        s3.get_bucket_cors(Bucket="cors-bucket")
    assert e.value.response["Error"]["Code"] == "NoSuchCORSConfiguration"
    status, _, body = raw(hydrant, "OPTIONS", "/cors-bucket/a", {
        "Origin": "http://127.0.0.1:1234", "Access-Control-Request-Method": "PUT"})
    assert status == 403 and b"CORS is not enabled" in body
    s3.put_bucket_cors(Bucket="cors-bucket", CORSConfiguration=CORS_RULES)
    got = s3.get_bucket_cors(Bucket="cors-bucket")["CORSRules"]
    assert got[0]["AllowedOrigins"] == ["http://127.0.0.1:*"]
    assert got[0]["AllowedMethods"] == ["PUT", "GET", "HEAD"]
    assert got[0]["MaxAgeSeconds"] == 600
    status, hdrs, _ = raw(hydrant, "OPTIONS", "/cors-bucket/a/b.json", {
        "Origin": "http://127.0.0.1:1234", "Access-Control-Request-Method": "PUT",
        "Access-Control-Request-Headers": "content-type,x-amz-date,authorization"})
    assert status == 200
    assert hdrs["access-control-allow-origin"] == "http://127.0.0.1:1234"
    assert hdrs["access-control-allow-methods"] == "PUT, GET, HEAD"
    assert hdrs["access-control-max-age"] == "600"
    assert "ETag" in hdrs["access-control-expose-headers"]
    # another origin, another method: no rule matches
    for origin, method in (("http://evil.example", "PUT"), ("http://127.0.0.1:1234", "DELETE")):
        status, hdrs, body = raw(hydrant, "OPTIONS", "/cors-bucket/a", {
            "Origin": origin, "Access-Control-Request-Method": method})
        assert status == 403 and b"<Code>CORSResponse</Code>" in body
        assert "access-control-allow-origin" not in hdrs
    # a signed request from an allowed origin gets the headers on its answer
    status, hdrs, _ = signed_request(hydrant, "GET", "/cors-bucket?list-type=2", service="s3",
                                     headers={"Origin": "http://127.0.0.1:99"})
    hdrs = {k.lower(): v for k, v in hdrs.items()}
    assert status == 200 and hdrs["access-control-allow-origin"] == "http://127.0.0.1:99"
    # S3's checks of the document
    for bad, code in (({"CORSRules": [{"AllowedOrigins": ["*"], "AllowedMethods": ["PATCH"]}]},
                       "InvalidRequest"),
                      ({"CORSRules": [{"AllowedOrigins": ["*.*"], "AllowedMethods": ["GET"]}]},
                       "InvalidRequest")):
        with pytest.raises(ClientError) as e:
            hydrant.client("s3").put_bucket_cors(Bucket="cors-bucket", CORSConfiguration=bad)
        assert e.value.response["Error"]["Code"] == code
    s3.delete_bucket_cors(Bucket="cors-bucket")
    with pytest.raises(ClientError) as e:
        s3.get_bucket_cors(Bucket="cors-bucket")
    assert e.value.response["Error"]["Code"] == "NoSuchCORSConfiguration"
    with pytest.raises(ClientError) as e:
        s3.get_bucket_cors(Bucket="no-such-cors-bucket")
    assert e.value.response["Error"]["Code"] == "NoSuchBucket"


def test_bucket_cors_forgotten_with_its_bucket(hydrant):
    s3 = hydrant.client("s3")
    s3.create_bucket(Bucket="cors-again")
    s3.put_bucket_cors(Bucket="cors-again", CORSConfiguration=CORS_RULES)
    s3.delete_bucket(Bucket="cors-again")
    time.sleep(0.01)
    s3.create_bucket(Bucket="cors-again")
    with pytest.raises(ClientError) as e:
        s3.get_bucket_cors(Bucket="cors-again")
    assert e.value.response["Error"]["Code"] == "NoSuchCORSConfiguration"


# ---- a real browser ------------------------------------------------------------------

def bundle(tmp_path):
    """The producer page's code, bundled for the browser with esbuild."""
    npm = shutil.which("npm")
    assert npm, "npm missing"
    esbuild = os.path.join(TOOLS, "node_modules", ".bin", "esbuild")
    if not os.path.exists(esbuild) or not os.path.isdir(
            os.path.join(TOOLS, "node_modules", "@aws-sdk", "client-firehose")):
        os.makedirs(TOOLS, exist_ok=True)
        subprocess.run([npm, "install", "--no-audit", "--no-fund", "--loglevel=error",
                        "--prefix", TOOLS, "@aws-sdk/client-firehose@3", "@aws-sdk/client-s3@3",
                        "esbuild"], check=True, timeout=600)
    site = tmp_path / "site"
    site.mkdir()
    shutil.copy(os.path.join(HERE, "producer.html"), str(site / "producer.html"))
    subprocess.run([esbuild, os.path.join(HERE, "producer.js"), "--bundle", "--format=iife",
                    "--platform=browser", "--outfile=" + str(site / "producer.bundle.js"),
                    "--log-level=warning"], check=True, timeout=300,
                   env=dict(os.environ, NODE_PATH=os.path.join(TOOLS, "node_modules")))
    return site


def serve(site):
    handler = lambda *a, **kw: http.server.SimpleHTTPRequestHandler(
        *a, directory=str(site), **kw)
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    return srv


def browser():
    webdriver = pytest.importorskip("selenium.webdriver")
    opts = webdriver.ChromeOptions()
    for a in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu"):
        opts.add_argument(a)
    opts.binary_location = shutil.which("chromium") or "/usr/bin/chromium"
    service = webdriver.chrome.service.Service(executable_path=shutil.which("chromedriver")
                                               or "/usr/bin/chromedriver")
    return webdriver.Chrome(service=service, options=opts)


def test_browser_puts_clickstream_and_uploads_through_cors(hydrant, tmp_path):
    s3 = hydrant.client("s3")
    s3.create_bucket(Bucket="clickstream-bucket")
    s3.put_bucket_cors(Bucket="clickstream-bucket", CORSConfiguration=CORS_RULES)
    fh = hydrant.client("firehose")
    fh.create_delivery_stream(
        DeliveryStreamName="clickstream",
        ExtendedS3DestinationConfiguration={
            "RoleARN": ROLE, "BucketARN": "arn:aws:s3:::clickstream-bucket",
            "Prefix": "clicks/", "BufferingHints": {"IntervalInSeconds": 1, "SizeInMBs": 1}})
    wait_active(fh, "clickstream")
    site = bundle(tmp_path)
    srv = serve(site)
    drv = browser()
    try:
        page = "http://127.0.0.1:%d/producer.html" % srv.server_address[1]
        assert page.split("/")[2] != hydrant.endpoint.split("/")[2]  # another origin
        drv.set_script_timeout(60)
        drv.get(page)
        out = drv.execute_async_script(
            "const done = arguments[arguments.length - 1];"
            "window.hydrantRun(arguments[0], 'clickstream', 'clickstream-bucket', 25)"
            ".then(done, (e) => done({exception: String(e && (e.name + ': ' + e.message))}));",
            hydrant.endpoint)
        logs = drv.get_log("browser") if hasattr(drv, "get_log") else []
    finally:
        drv.quit()
        srv.shutdown()
    assert "exception" not in out, (out, logs)
    assert out["failed"] == 0 and out["ids"] == 25
    assert out["requestId"]  # read through Access-Control-Expose-Headers
    assert out["error"] == "ResourceNotFoundException"  # x-amzn-ErrorType readable
    assert out["etag"]  # the ETag exposed by the bucket's rule
    # boto3 reads both back
    body = json.loads(s3.get_object(Bucket="clickstream-bucket",
                                    Key="uploads/clicks.json")["Body"].read())
    assert body["clicks"] == 25 and body["from"].startswith("http://127.0.0.1:")

    def clicks():
        lines = {}
        for page_ in s3.get_paginator("list_objects_v2").paginate(
                Bucket="clickstream-bucket", Prefix="clicks/"):
            for o in page_.get("Contents", []):
                for line in s3.get_object(Bucket="clickstream-bucket",
                                          Key=o["Key"])["Body"].read().splitlines():
                    lines[line] = lines.get(line, 0) + 1
        return lines if len(lines) == 25 else None
    lines = wait_for(clicks, timeout=30)
    assert {json.loads(x)["n"] for x in lines} == set(range(25))
    assert all(json.loads(x)["button"] == "buy" for x in lines)
