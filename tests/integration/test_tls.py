"""HTTPS: --tls-cert/--tls-key serve the same APIs over TLS (Fluent Bit's
Firehose output only speaks TLS, with certificate verification)."""
import subprocess

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import SSLError

from conftest import Hydrant, wait_active


@pytest.fixture
def tls_hydrant(tmp_path):
    key, cert = tmp_path / "key.pem", tmp_path / "cert.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes",
                    "-keyout", str(key), "-out", str(cert), "-days", "2",
                    "-subj", "/CN=localhost", "-addext",
                    "subjectAltName=DNS:localhost,IP:127.0.0.1"],
                   check=True, capture_output=True)
    h = Hydrant(str(tmp_path / "data"), ["--tls-cert", str(cert), "--tls-key", str(key)])
    h.start()
    h.cert = str(cert)
    yield h
    h.stop()


def client(h, service, verify):
    return boto3.client(service, endpoint_url="https://127.0.0.1:%d" % h.port,
                        region_name="us-east-1", aws_access_key_id="test",
                        aws_secret_access_key="test", verify=verify,
                        config=Config(parameter_validation=False,
                                      retries={"max_attempts": 1}))


def test_https_end_to_end(tls_hydrant):
    h = tls_hydrant
    s3 = client(h, "s3", h.cert)
    fh = client(h, "firehose", h.cert)
    s3.create_bucket(Bucket="tls-bucket")
    fh.create_delivery_stream(
        DeliveryStreamName="tls-stream",
        S3DestinationConfiguration={"RoleARN": "arn:aws:iam::000000000000:role/R",
                                    "BucketARN": "arn:aws:s3:::tls-bucket",
                                    "BufferingHints": {"SizeInMBs": 1,
                                                       "IntervalInSeconds": 0}})
    wait_active(fh, "tls-stream")
    r = fh.put_record_batch(DeliveryStreamName="tls-stream",
                            Records=[{"Data": b"over tls\n"}])
    assert r["FailedPutCount"] == 0
    import time
    deadline = time.time() + 10
    while time.time() < deadline and not s3.list_objects_v2(Bucket="tls-bucket").get("Contents"):
        time.sleep(0.2)
    key = s3.list_objects_v2(Bucket="tls-bucket")["Contents"][0]["Key"]
    assert s3.get_object(Bucket="tls-bucket", Key=key)["Body"].read() == b"over tls\n"


def test_untrusted_certificate_is_refused_by_the_client(tls_hydrant):
    with pytest.raises(SSLError):
        client(tls_hydrant, "s3", True).list_buckets()


def test_fluent_bit_quick_check_bytes(tls_hydrant):
    """Fluent Bit looks for the exact bytes "FailedPutCount":0 over TLS."""
    h = tls_hydrant
    client(h, "s3", h.cert).create_bucket(Bucket="fb-bucket")
    fh = client(h, "firehose", h.cert)
    fh.create_delivery_stream(
        DeliveryStreamName="fb-stream",
        S3DestinationConfiguration={"RoleARN": "arn:aws:iam::000000000000:role/R",
                                    "BucketARN": "arn:aws:s3:::fb-bucket"})
    wait_active(fh, "fb-stream")
    seen = {}

    def grab(http_response, **kw):
        seen["raw"] = http_response.content
    fh.meta.events.register("after-call.firehose.PutRecordBatch", grab)
    fh.put_record_batch(DeliveryStreamName="fb-stream", Records=[{"Data": b"{}\n"}])
    assert b'"FailedPutCount":0' in seen["raw"]
