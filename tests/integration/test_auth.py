"""Only signed requests get in: SigV4 (header and presigned forms, SigV2
presigned URLs for S3), per-protocol AWS errors, and the loopback rule for
the well-known test/test pair."""
import datetime
import http.client
import json
import os
import subprocess
import time
import unittest.mock
import xml.etree.ElementTree as ET

import pytest
from botocore.exceptions import ClientError

from conftest import BIN, firehose_call, sign_headers, signed_request, wait_active

STREAM_CONF = {"RoleARN": "arn:aws:iam::000000000000:role/R",
               "BucketARN": "arn:aws:s3:::auth-bucket",
               "BufferingHints": {"SizeInMBs": 1, "IntervalInSeconds": 60}}


def code_status(excinfo):
    e = excinfo.value
    return e.response["Error"]["Code"], e.response["ResponseMetadata"]["HTTPStatusCode"]


def send(h, method, path, body, headers):
    conn = http.client.HTTPConnection("127.0.0.1", h.port, timeout=10)
    conn.request(method, path, body=body, headers=headers)
    r = conn.getresponse()
    out = r.status, {k.lower(): v for k, v in r.getheaders()}, r.read()
    conn.close()
    return out


def fh_headers(op):
    return {"Content-Type": "application/x-amz-json-1.1",
            "X-Amz-Target": "Firehose_20150804." + op}


def test_wrong_secret_rejected_by_every_api(hydrant):
    for svc, call, want in [
            ("firehose", lambda c: c.list_delivery_streams(),
             ("InvalidSignatureException", 400)),
            ("s3", lambda c: c.list_buckets(), ("SignatureDoesNotMatch", 403)),
            ("iam", lambda c: c.list_roles(), ("SignatureDoesNotMatch", 403)),
            ("sts", lambda c: c.get_caller_identity(), ("SignatureDoesNotMatch", 403))]:
        c = hydrant.client(svc, secret_key="not-the-secret")
        with pytest.raises(ClientError) as e:
            call(c)
        assert code_status(e) == want, svc


def test_unknown_key_rejected(hydrant):
    fh = hydrant.client("firehose", access_key="AKIDUNKNOWN")
    with pytest.raises(ClientError) as e:
        fh.list_delivery_streams()
    assert code_status(e) == ("UnrecognizedClientException", 400)
    assert "security token included in the request is invalid" in str(e.value)
    s3 = hydrant.client("s3", access_key="AKIDUNKNOWN")
    with pytest.raises(ClientError) as e:
        s3.list_buckets()
    assert code_status(e) == ("InvalidAccessKeyId", 403)


def test_missing_signature_rejected(hydrant):
    status, hdrs, body = send(hydrant, "POST", "/", b"{}", fh_headers("ListDeliveryStreams"))
    assert status == 400
    assert json.loads(body)["__type"] == "MissingAuthenticationTokenException"
    assert hdrs["x-amzn-errortype"] == "MissingAuthenticationTokenException"
    status, _, body = send(hydrant, "GET", "/", b"", {})
    assert status == 403
    assert ET.fromstring(body).find("Code").text == "AccessDenied"
    status, _, body = send(hydrant, "POST", "/", b"Action=ListRoles&Version=2010-05-08",
                           {"Content-Type": "application/x-www-form-urlencoded"})
    assert status in (400, 403)
    assert b"MissingAuthenticationToken" in body


def test_tampered_body_and_header_rejected(hydrant):
    fh = hydrant.client("firehose")
    hydrant.client("s3").create_bucket(Bucket="auth-bucket")
    fh.create_delivery_stream(DeliveryStreamName="auth-s",
                              S3DestinationConfiguration=STREAM_CONF)
    wait_active(fh, "auth-s")
    body = json.dumps({"DeliveryStreamName": "auth-s", "Record": {"Data": "aGVsbG8K"}})
    hdrs = sign_headers(hydrant, "POST", "/", body.encode(), fh_headers("PutRecord"),
                        "firehose")
    status, _, _ = send(hydrant, "POST", "/", body, hdrs)
    assert status == 200  # the untouched request is fine
    tampered = body.replace("aGVsbG8K", "aGVsbG9K")  # same length, other data
    status, _, resp = send(hydrant, "POST", "/", tampered, hdrs)
    assert (status, json.loads(resp)["__type"]) == (400, "InvalidSignatureException")
    hdrs2 = dict(hdrs)
    hdrs2["X-Amz-Target"] = "Firehose_20150804.DeleteDeliveryStream"  # a signed header
    status, _, resp = send(hydrant, "POST", "/", body, hdrs2)
    assert (status, json.loads(resp)["__type"]) == (400, "InvalidSignatureException")
    # S3: a body that is not what x-amz-content-sha256 declared
    payload = b"x" * 100
    h3 = sign_headers(hydrant, "PUT", "/auth-bucket/k", payload, {}, "s3")
    status, _, resp = send(hydrant, "PUT", "/auth-bucket/k", b"y" * 100, h3)
    assert status == 400
    assert ET.fromstring(resp).find("Code").text == "XAmzContentSHA256Mismatch"
    # the stream still has exactly the one record that was signed right
    assert fh.describe_delivery_stream(DeliveryStreamName="auth-s")


def test_skewed_clock_rejected(hydrant):
    skewed = datetime.datetime.utcnow() - datetime.timedelta(minutes=20)
    with unittest.mock.patch("botocore.auth.datetime") as dt:
        dt.datetime.utcnow.return_value = skewed
        dt.datetime.side_effect = datetime.datetime
        status, hdrs, body = signed_request(hydrant, body=b"{}",
                                            headers=fh_headers("ListDeliveryStreams"))
        s3status, _, s3body = signed_request(hydrant, method="GET", path="/", service="s3")
    assert status == 400
    assert json.loads(body)["__type"] == "InvalidSignatureException"
    assert "Signature expired" in json.loads(body)["message"]
    assert s3status == 403
    assert ET.fromstring(s3body).find("Code").text == "RequestTimeTooSkewed"


def curl(url, *args):
    r = subprocess.run(["curl", "-sS", "-o", "-", "-w", "\n%{http_code}", *args, url],
                       capture_output=True, timeout=30)
    body, status = r.stdout.rsplit(b"\n", 1)
    return int(status), body


@pytest.mark.parametrize("sigver", ["s3v4", "default"])
def test_presigned_urls(hydrant, sigver):
    kw = {"config_kw": {"signature_version": "s3v4"}} if sigver == "s3v4" else {}
    s3 = hydrant.client("s3", **kw)
    s3.create_bucket(Bucket="pre-auth")
    s3.put_object(Bucket="pre-auth", Key="k", Body=b"secret data")
    url = s3.generate_presigned_url("get_object", Params={"Bucket": "pre-auth", "Key": "k"},
                                    ExpiresIn=60)
    assert curl(url) == (200, b"secret data")
    # tampered: another key with the same signature
    status, body = curl(url.replace("/pre-auth/k?", "/pre-auth/other?"))
    assert status == 403
    assert ET.fromstring(body).find("Code").text == "SignatureDoesNotMatch"
    # expired
    short = s3.generate_presigned_url("get_object", Params={"Bucket": "pre-auth", "Key": "k"},
                                      ExpiresIn=1)
    time.sleep(2.2)
    status, body = curl(short)
    assert status == 403
    assert ET.fromstring(body).find("Code").text == "AccessDenied"
    assert b"expired" in body


def test_valid_requests_from_every_client(hydrant, tmp_path):
    # boto3, all four services
    assert hydrant.client("sts").get_caller_identity()["Account"] == "000000000000"
    hydrant.client("s3").create_bucket(Bucket="cli-bucket")
    assert "Roles" in hydrant.client("iam").list_roles()
    # the AWS CLI v2 (Debian's), Firehose and S3
    env = dict(os.environ, AWS_ACCESS_KEY_ID="test", AWS_SECRET_ACCESS_KEY="test",
               AWS_DEFAULT_REGION="us-east-1", AWS_CONFIG_FILE="/dev/null")
    cli = ["/usr/bin/aws", "--endpoint-url", hydrant.endpoint]
    r = subprocess.run(cli + ["firehose", "list-delivery-streams"], env=env,
                       capture_output=True, timeout=60)
    assert r.returncode == 0, r.stderr
    (tmp_path / "f.txt").write_bytes(b"cli upload\n")
    r = subprocess.run(cli + ["s3", "cp", str(tmp_path / "f.txt"), "s3://cli-bucket/f.txt"],
                       env=env, capture_output=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert hydrant.client("s3").get_object(Bucket="cli-bucket",
                                           Key="f.txt")["Body"].read() == b"cli upload\n"
    # and with a wrong secret the CLI is refused
    bad = dict(env, AWS_SECRET_ACCESS_KEY="wrong")
    r = subprocess.run(cli + ["s3", "ls"], env=bad, capture_output=True, timeout=60)
    assert r.returncode != 0 and b"SignatureDoesNotMatch" in r.stderr


def test_configured_credentials(make_hydrant):
    h = make_hydrant("--access-key-id", "AKIAHYDRANTEXAMPLE", "--secret-access-key", "s3cr3t")
    with pytest.raises(ClientError) as e:
        h.client("s3").list_buckets()  # test/test no longer works
    assert code_status(e)[0] == "InvalidAccessKeyId"
    s3 = h.client("s3", access_key="AKIAHYDRANTEXAMPLE", secret_key="s3cr3t")
    assert s3.list_buckets()["Buckets"] == []


def test_default_keys_refused_off_loopback(tmp_path):
    r = subprocess.run([BIN, "--host", "0.0.0.0", "--port", "0",
                        "--data-dir", str(tmp_path / "d")],
                       capture_output=True, timeout=10)
    assert r.returncode == 2
    assert b"well-known credentials test/test" in r.stderr
