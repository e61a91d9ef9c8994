"""The web console (issue 17), driven in headless Chromium with Selenium:
the lesson done through it (sign in, copy the role ARN from the role page,
create gps-delivery-stream, see records put by boto3 appear in the chart,
open the delivered object, copy its key), screenshots of each page
(into docs/console/ with HYDRANT_SCREENSHOTS=1), and a forged cross-site
POST refused."""
import http.server
import json
import os
import shutil
import threading
import time
import urllib.request

import pytest

from conftest import ROOT, wait_active, wait_for

# the screenshots in docs/console/ are taken with HYDRANT_SCREENSHOTS=1;
# other runs put theirs in build/ and leave the repository alone
SHOTS = os.path.join(ROOT, "docs", "console") if os.environ.get("HYDRANT_SCREENSHOTS") == "1" \
    else os.path.join(ROOT, "build", "console-shots")
ROLE = "firehose_delivery_role"
TRUST = {"Version": "2012-10-17", "Statement": [{
    "Effect": "Allow", "Principal": {"Service": "firehose.amazonaws.com"},
    "Action": "sts:AssumeRole"}]}


def browser():
    webdriver = pytest.importorskip("selenium.webdriver")
    opts = webdriver.ChromeOptions()
    for a in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
              "--window-size=1280,900"):
        opts.add_argument(a)
    opts.binary_location = shutil.which("chromium") or "/usr/bin/chromium"
    service = webdriver.chrome.service.Service(
        executable_path=shutil.which("chromedriver") or "/usr/bin/chromedriver")
    return webdriver.Chrome(service=service, options=opts)


def by_css(drv, css, timeout=20):
    from selenium.webdriver.common.by import By
    return wait_for(lambda: (drv.find_elements(By.CSS_SELECTOR, css) or [None])[0],
                    timeout=timeout)


def shot(drv, name):
    os.makedirs(SHOTS, exist_ok=True)
    drv.execute_script("window.scrollTo(0, 0)")
    time.sleep(0.3)
    drv.save_screenshot(os.path.join(SHOTS, name + ".png"))


def sign_in(drv, h, secret="test"):
    drv.get(h.endpoint + "/_hydrant/console/")
    by_css(drv, "#access_key").send_keys("test")
    by_css(drv, "#secret").send_keys(secret)
    by_css(drv, "#signin").click()


def test_console_lesson(hydrant):
    iam, s3, fh = hydrant.client("iam"), hydrant.client("s3"), hydrant.client("firehose")
    role_arn = iam.create_role(RoleName=ROLE, AssumeRolePolicyDocument=json.dumps(TRUST),
                               Description="Firehose writes to S3")["Role"]["Arn"]
    iam.put_role_policy(RoleName=ROLE, PolicyName="s3-write", PolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:*",
                                                "Resource": "*"}]}))
    s3.create_bucket(Bucket="gps-data-bucket")
    drv = browser()
    try:
        # a wrong secret is refused, the right one signs in
        sign_in(drv, hydrant, secret="wrong")
        assert "not valid" in by_css(drv, "#error").text
        shot(drv, "01-sign-in")
        drv.get(hydrant.endpoint + "/_hydrant/console/")
        sign_in(drv, hydrant)
        by_css(drv, "#nav-iam")
        shot(drv, "02-home")
        cookies = {c["name"]: c for c in drv.get_cookies()}
        assert cookies["hydrant_console"]["httpOnly"] is True
        assert cookies["hydrant_console"]["sameSite"] == "Strict"
        # IAM -> Roles -> the role: its ARN on top, a copy button
        by_css(drv, "#nav-iam").click()
        by_css(drv, "a.role-link").click()
        arn = by_css(drv, "#role-arn").text
        assert arn == role_arn
        by_css(drv, "#copy-arn").click()
        wait_for(lambda: by_css(drv, "#copy-arn").get_attribute("data-copied") == role_arn)
        assert by_css(drv, "#copy-arn-copied").text
        shot(drv, "03-role")
        by_css(drv, "#nav-iam").click()
        by_css(drv, "#roles")
        shot(drv, "04-roles")
        # Firehose -> create gps-delivery-stream with the lesson's fields
        by_css(drv, "#nav-firehose").click()
        by_css(drv, "#f-name").send_keys("gps-delivery-stream")
        from selenium.webdriver.support.ui import Select
        Select(by_css(drv, "#f-bucket")).select_by_value("gps-data-bucket")
        Select(by_css(drv, "#f-role")).select_by_value(arn)
        interval = by_css(drv, "#f-interval")
        interval.clear()
        interval.send_keys("1")
        shot(drv, "05-create-stream")
        by_css(drv, "#create").click()
        by_css(drv, "#c-records")
        wait_active(fh, "gps-delivery-stream")
        d = fh.describe_delivery_stream(DeliveryStreamName="gps-delivery-stream")
        dest = d["DeliveryStreamDescription"]["Destinations"][0]["ExtendedS3DestinationDescription"]
        assert dest["RoleARN"] == role_arn and dest["BucketARN"] == "arn:aws:s3:::gps-data-bucket"
        assert dest["BufferingHints"] == {"SizeInMBs": 1, "IntervalInSeconds": 1}
        # records put by boto3 appear in the chart, then as an object
        for i in range(20):
            fh.put_record(DeliveryStreamName="gps-delivery-stream", Record={
                "Data": json.dumps({"vehicle": "truck-%d" % (i % 4), "lat": 47.6 + i / 100,
                                    "lon": -122.3, "speed": 50 + i}).encode() + b"\n"})
        wait_for(lambda: by_css(drv, "#c-records").get_attribute("data-total") == "20",
                 timeout=30)
        link = by_css(drv, "#latest-objects a.object", timeout=30)
        time.sleep(3.5)  # one more refresh: freshness and success drawn
        shot(drv, "06-stream")
        link = by_css(drv, "#latest-objects a.object")
        key = link.text
        link.click()
        shown = by_css(drv, "#object-key").text
        assert shown == key
        by_css(drv, "#copy-key").click()
        wait_for(lambda: by_css(drv, "#copy-key").get_attribute("data-copied") == key)
        head = s3.head_object(Bucket="gps-data-bucket", Key=key)
        assert by_css(drv, "#object-etag").text == head["ETag"]
        assert by_css(drv, "#object-size").text.startswith("%d bytes" % head["ContentLength"])
        rows = by_css(drv, "#preview-table").text
        assert "truck-0" in rows and "speed" in rows
        shot(drv, "07-object")
        # the download link is the object's bytes
        href = by_css(drv, "#download").get_attribute("href")
        assert "api/download" in href
        # browse by prefix: the YYYY/MM/DD/HH/ folders
        drv.get(hydrant.endpoint + "/_hydrant/console/#/s3")
        by_css(drv, "a.bucket-link").click()
        by_css(drv, "a.folder").click()  # YYYY/
        shot(drv, "08-browse")
        for _ in range(3):  # MM/ DD/ HH/
            by_css(drv, "a.folder").click()
            time.sleep(0.3)
        assert by_css(drv, "a.object").text == key.rsplit("/", 1)[1]
        drv.get(hydrant.endpoint + "/_hydrant/console/#/s3")
        by_css(drv, "#buckets")
        shot(drv, "09-buckets")
        # the streams list; delete takes a second click
        drv.get(hydrant.endpoint + "/_hydrant/console/#/firehose")
        by_css(drv, "#streams")
        shot(drv, "10-streams")
        btn = by_css(drv, "button[data-stream='gps-delivery-stream']")
        btn.click()
        assert btn.text == "Confirm delete"
        btn.click()
        wait_for(lambda: fh.list_delivery_streams()["DeliveryStreamNames"] == [], timeout=15)
    finally:
        drv.quit()


def test_forged_cross_site_post_refused(hydrant, tmp_path):
    """Signed in, the browser visits a page on another origin that posts to
    the console: no SameSite=Strict cookie goes along, no CSRF token is
    known, and nothing is deleted."""
    fh, s3 = hydrant.client("firehose"), hydrant.client("s3")
    s3.create_bucket(Bucket="victim-bucket")
    fh.create_delivery_stream(DeliveryStreamName="victim", ExtendedS3DestinationConfiguration={
        "RoleARN": "arn:aws:iam::000000000000:role/r", "BucketARN": "arn:aws:s3:::victim-bucket"})
    wait_active(fh, "victim")
    forged = json.dumps({"service": "firehose", "method": "POST", "path": "/",
                         "target": "Firehose_20150804.DeleteDeliveryStream",
                         "contentType": "application/x-amz-json-1.1",
                         "body": json.dumps({"DeliveryStreamName": "victim"})})
    site = tmp_path / "evil"
    site.mkdir()
    # text/plain forms are the cross-site way to post something JSON-like
    name, _, value = forged.partition(":")
    (site / "index.html").write_text(
        "<html><body><form id=f method=POST enctype='text/plain' action='%s/_hydrant/console/"
        "api/call'><input type=hidden name='%s' value='%s'></form>"
        "<script>document.getElementById('f').submit()</script></body></html>" % (
            hydrant.endpoint, name.replace("'", "&#39;"), (":" + value).replace("'", "&#39;")))
    handler = lambda *a, **kw: http.server.SimpleHTTPRequestHandler(*a, directory=str(site), **kw)
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    drv = browser()
    try:
        sign_in(drv, hydrant)
        by_css(drv, "#nav-iam")
        # another origin: a different port
        drv.get("http://localhost:%d/index.html" % srv.server_address[1])
        wait_for(lambda: "_hydrant/console/api/call" in drv.current_url, timeout=15)
        body = drv.find_element("tag name", "body").text
        assert "Sign in first" in body or "CSRF" in body, body
    finally:
        drv.quit()
        srv.shutdown()
    assert fh.list_delivery_streams()["DeliveryStreamNames"] == ["victim"]
    # with the cookie but without the token (a same-site attacker): refused too
    req = urllib.request.Request(hydrant.endpoint + "/_hydrant/console/api/login",
                                 data=b"access_key=test&secret=test", method="POST")
    with urllib.request.urlopen(req, timeout=10) as r:
        cookie = r.headers["Set-Cookie"].split(";")[0]
    req = urllib.request.Request(hydrant.endpoint + "/_hydrant/console/api/call",
                                 data=forged.encode(), method="POST",
                                 headers={"Cookie": cookie, "Content-Type": "application/json"})
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen(req, timeout=10)
    assert e.value.code == 403
    # a sign-in posted from another origin is refused by its Origin
    req = urllib.request.Request(hydrant.endpoint + "/_hydrant/console/api/login",
                                 data=b"access_key=test&secret=test", method="POST",
                                 headers={"Origin": "http://evil.example"})
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen(req, timeout=10)
    assert e.value.code == 403
    assert fh.list_delivery_streams()["DeliveryStreamNames"] == ["victim"]


def test_console_pages_are_what_they_say(hydrant):
    """Static files only from the console's directory; nothing else under it."""
    for path, code in (("/_hydrant/console/", 200), ("/_hydrant/console/app.js", 200),
                       ("/_hydrant/console/../../etc/passwd", 404),
                       ("/_hydrant/console/%2e%2e/src/main.c", 404),
                       ("/_hydrant/console/nope.html", 404),
                       ("/_hydrant/console/api/session", 401)):
        try:
            with urllib.request.urlopen(hydrant.endpoint + path, timeout=10) as r:
                status, headers = r.status, r.headers
        except urllib.error.HTTPError as e:
            status, headers = e.code, e.headers
        assert status == code, path
        if status == 200:
            assert "frame-ancestors 'none'" in headers["Content-Security-Policy"]
