"""The embedded store against the clients people really use: boto3's
transfer manager (multipart upload_file/download_file), presigned URLs
fetched with plain curl, Debian's AWS CLI v2 (/usr/bin/aws s3) and s3cmd.
Plus the S3 API those clients lean on: multipart uploads and their errors,
UploadPartCopy, object tagging, the versioning stubs, GetObjectAttributes,
stored headers, and bodies large enough to be spooled to disk."""
import hashlib
import http.client
import os
import subprocess
import xml.etree.ElementTree as ET

import boto3
import pytest
from boto3.s3.transfer import TransferConfig
from botocore.config import Config
from botocore.exceptions import ClientError

from conftest import aws_chunked, signed_request, wait_for

MIB = 1 << 20
NS = "{http://s3.amazonaws.com/doc/2006-03-01/}"


def s3(h, **kw):
    return h.client("s3", **kw)


def err(excinfo):
    e = excinfo.value
    return e.response["Error"]["Code"], e.response["ResponseMetadata"]["HTTPStatusCode"]


def sha256_file(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(MIB), b""):
            h.update(chunk)
    return h.hexdigest()


def multipart_etag(parts):
    """S3's ETag of a completed multipart upload."""
    digests = b"".join(hashlib.md5(p).digest() for p in parts)
    return '"%s-%d"' % (hashlib.md5(digests).hexdigest(), len(parts))


def store_files(h, sub):
    root = os.path.join(h.data_dir, "store", sub)
    return sorted(os.path.join(d, f) for d, _, files in os.walk(root) for f in files)


def spool_empty(h):
    """The spool file goes when the request completes, which may be just
    after the client has read the answer."""
    wait_for(lambda: store_files(h, "tmp") == [], timeout=5)
    return True


# ---- boto3 transfer manager -------------------------------------------------
def test_upload_download_file_50mib(hydrant, tmp_path):
    c = s3(hydrant)
    c.create_bucket(Bucket="big")
    src = tmp_path / "src.bin"
    block = os.urandom(MIB)
    with open(src, "wb") as f:
        for i in range(50):
            f.write(block[i:] + block[:i])
    cfg = TransferConfig(multipart_threshold=8 * MIB, multipart_chunksize=8 * MIB,
                         max_concurrency=4)
    c.upload_file(str(src), "big", "data/src.bin", Config=cfg)
    head = c.head_object(Bucket="big", Key="data/src.bin")
    assert head["ContentLength"] == 50 * MIB
    assert head["ETag"].endswith('-7"')  # 6 parts of 8 MiB and one of 2 MiB
    dst = tmp_path / "dst.bin"
    c.download_file("big", "data/src.bin", str(dst), Config=cfg)
    assert sha256_file(dst) == sha256_file(src)
    # the parts were concatenated and dropped; no spool file stays behind
    assert len(store_files(hydrant, "objects")) == 1
    assert spool_empty(hydrant)
    attrs = c.get_object_attributes(Bucket="big", Key="data/src.bin",
                                    ObjectAttributes=["ETag", "ObjectParts", "ObjectSize"])
    assert attrs["ObjectSize"] == 50 * MIB
    assert attrs["ObjectParts"]["TotalPartsCount"] == 7
    assert '"%s"' % attrs["ETag"] == head["ETag"]


def test_single_put_spooled_to_disk(hydrant):
    """A body over the in-memory threshold goes through a spool file: the
    ETag and Content-MD5/x-amz-content-sha256 checks still see every byte."""
    c = s3(hydrant)
    c.create_bucket(Bucket="spool")
    body = os.urandom(12 * MIB + 5)
    r = c.put_object(Bucket="spool", Key="one", Body=body)
    assert r["ETag"] == '"%s"' % hashlib.md5(body).hexdigest()
    assert c.get_object(Bucket="spool", Key="one")["Body"].read() == body
    status, _, resp = signed_request(
        hydrant, "PUT", "/spool/bad", body=body, service="s3",
        headers={"x-amz-content-sha256": hashlib.sha256(b"other").hexdigest()})
    assert status == 400
    assert ET.fromstring(resp).find("Code").text == "XAmzContentSHA256Mismatch"
    status, _, resp = signed_request(
        hydrant, "PUT", "/spool/bad", body=body, service="s3",
        headers={"Content-MD5": "AAAAAAAAAAAAAAAAAAAAAA=="})
    assert status == 400
    assert ET.fromstring(resp).find("Code").text == "BadDigest"
    with pytest.raises(ClientError):
        c.head_object(Bucket="spool", Key="bad")
    assert spool_empty(hydrant)


def test_aws_chunked_spooled(hydrant):
    """aws-chunked bodies past the threshold are decoded from the spool file."""
    s3(hydrant).create_bucket(Bucket="chunky")
    payload = os.urandom(3 * MIB + 17)
    hdrs, body = aws_chunked(hydrant, "/chunky/obj", payload, chunk=64 * 1024)
    conn = http.client.HTTPConnection("127.0.0.1", hydrant.port, timeout=30)
    conn.request("PUT", "/chunky/obj", body=body, headers=hdrs)
    r = conn.getresponse()
    status, rh, resp = r.status, dict(r.getheaders()), r.read()
    conn.close()
    assert status == 200, resp
    assert rh["ETag"] == '"%s"' % hashlib.md5(payload).hexdigest()
    got = s3(hydrant).get_object(Bucket="chunky", Key="obj")
    assert got["Body"].read() == payload
    assert "ContentEncoding" not in got  # aws-chunked is not the object's encoding
    # every chunk signed right, but fewer bytes than the declared length
    hdrs, body = aws_chunked(hydrant, "/chunky/torn", payload, chunk=64 * 1024,
                             decoded=len(payload) + 40)
    conn = http.client.HTTPConnection("127.0.0.1", hydrant.port, timeout=30)
    conn.request("PUT", "/chunky/torn", body=body, headers=hdrs)
    r = conn.getresponse()
    status, resp = r.status, r.read()
    conn.close()
    assert status == 400
    assert ET.fromstring(resp).find("Code").text == "IncompleteBody"
    assert spool_empty(hydrant)


def test_entity_too_large(make_hydrant):
    h = make_hydrant("--max-object-size", str(2 * MIB))
    c = s3(h)
    c.create_bucket(Bucket="lim")
    c.put_object(Bucket="lim", Key="ok", Body=b"x" * (2 * MIB))
    with pytest.raises(ClientError) as e:
        c.put_object(Bucket="lim", Key="big", Body=b"x" * (2 * MIB + 1))
    assert err(e) == ("EntityTooLarge", 400)


# ---- multipart API ------------------------------------------------------------
def test_multipart_api(hydrant):
    c = s3(hydrant)
    c.create_bucket(Bucket="mpu")
    up = c.create_multipart_upload(Bucket="mpu", Key="k/obj", ContentType="text/csv",
                                   Metadata={"origin": "test"}, Tagging="a=1")
    uid = up["UploadId"]
    assert up["Key"] == "k/obj" and up["Bucket"] == "mpu"
    p1, p2 = os.urandom(5 * MIB), b"tail bytes"
    e1 = c.upload_part(Bucket="mpu", Key="k/obj", UploadId=uid, PartNumber=1, Body=p1)["ETag"]
    # a re-upload of a part number replaces it
    c.upload_part(Bucket="mpu", Key="k/obj", UploadId=uid, PartNumber=2, Body=b"old")
    e2 = c.upload_part(Bucket="mpu", Key="k/obj", UploadId=uid, PartNumber=2, Body=p2)["ETag"]
    assert e1 == '"%s"' % hashlib.md5(p1).hexdigest()

    parts = c.list_parts(Bucket="mpu", Key="k/obj", UploadId=uid)
    assert [(p["PartNumber"], p["Size"], p["ETag"]) for p in parts["Parts"]] == \
        [(1, 5 * MIB, e1), (2, len(p2), e2)]
    assert parts["IsTruncated"] is False
    page = c.list_parts(Bucket="mpu", Key="k/obj", UploadId=uid, MaxParts=1)
    assert page["IsTruncated"] is True and page["NextPartNumberMarker"] == 1
    page = c.list_parts(Bucket="mpu", Key="k/obj", UploadId=uid, PartNumberMarker=1)
    assert [p["PartNumber"] for p in page["Parts"]] == [2]

    other = c.create_multipart_upload(Bucket="mpu", Key="a/other")["UploadId"]
    ups = c.list_multipart_uploads(Bucket="mpu")["Uploads"]
    assert [(u["Key"], u["UploadId"]) for u in ups] == [("a/other", other), ("k/obj", uid)]
    assert [u["Key"] for u in c.list_multipart_uploads(Bucket="mpu", Prefix="k/")["Uploads"]] \
        == ["k/obj"]
    page = c.list_multipart_uploads(Bucket="mpu", MaxUploads=1)
    assert page["IsTruncated"] is True and page["NextKeyMarker"] == "a/other"
    page = c.list_multipart_uploads(Bucket="mpu", KeyMarker=page["NextKeyMarker"],
                                    UploadIdMarker=page["NextUploadIdMarker"])
    assert [u["Key"] for u in page["Uploads"]] == ["k/obj"]

    r = c.complete_multipart_upload(
        Bucket="mpu", Key="k/obj", UploadId=uid,
        MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": e1},
                                   {"PartNumber": 2, "ETag": e2}]})
    assert r["ETag"] == multipart_etag([p1, p2])
    assert r["Location"].endswith("/mpu/k/obj")
    got = c.get_object(Bucket="mpu", Key="k/obj")
    assert got["Body"].read() == p1 + p2
    assert got["ContentType"] == "text/csv"
    assert got["Metadata"] == {"origin": "test"}
    assert got["TagCount"] == 1
    # a completed upload is gone
    with pytest.raises(ClientError) as e:
        c.list_parts(Bucket="mpu", Key="k/obj", UploadId=uid)
    assert err(e) == ("NoSuchUpload", 404)
    # an upload in progress keeps its bucket; abort frees it
    c.abort_multipart_upload(Bucket="mpu", Key="a/other", UploadId=other)
    assert c.list_multipart_uploads(Bucket="mpu").get("Uploads", []) == []
    c.delete_object(Bucket="mpu", Key="k/obj")
    c.delete_bucket(Bucket="mpu")
    assert store_files(hydrant, "objects") == []


def test_multipart_errors(hydrant):
    c = s3(hydrant)
    c.create_bucket(Bucket="mpe")
    bogus = "0" * 32
    with pytest.raises(ClientError) as e:
        c.upload_part(Bucket="mpe", Key="k", UploadId=bogus, PartNumber=1, Body=b"x")
    assert err(e) == ("NoSuchUpload", 404)
    with pytest.raises(ClientError) as e:
        c.upload_part(Bucket="mpe", Key="k", UploadId="not-an-id", PartNumber=1, Body=b"x")
    assert err(e) == ("NoSuchUpload", 404)
    with pytest.raises(ClientError) as e:
        c.abort_multipart_upload(Bucket="mpe", Key="k", UploadId=bogus)
    assert err(e) == ("NoSuchUpload", 404)

    uid = c.create_multipart_upload(Bucket="mpe", Key="k")["UploadId"]
    # the upload ID belongs to its key
    with pytest.raises(ClientError) as e:
        c.upload_part(Bucket="mpe", Key="other", UploadId=uid, PartNumber=1, Body=b"x")
    assert err(e) == ("NoSuchUpload", 404)
    for bad in (0, 10001):
        with pytest.raises(ClientError) as e:
            c.upload_part(Bucket="mpe", Key="k", UploadId=uid, PartNumber=bad, Body=b"x")
        assert err(e) == ("InvalidArgument", 400)
    e1 = c.upload_part(Bucket="mpe", Key="k", UploadId=uid, PartNumber=1, Body=b"a")["ETag"]
    e2 = c.upload_part(Bucket="mpe", Key="k", UploadId=uid, PartNumber=2, Body=b"b")["ETag"]

    def complete(parts):
        with pytest.raises(ClientError) as exc:
            c.complete_multipart_upload(Bucket="mpe", Key="k", UploadId=uid,
                                        MultipartUpload={"Parts": parts})
        return err(exc)

    assert complete([{"PartNumber": 2, "ETag": e2}, {"PartNumber": 1, "ETag": e1}]) == \
        ("InvalidPartOrder", 400)
    assert complete([{"PartNumber": 1, "ETag": e2}]) == ("InvalidPart", 400)
    assert complete([{"PartNumber": 3, "ETag": e1}]) == ("InvalidPart", 400)
    assert complete([{"PartNumber": 1, "ETag": e1}, {"PartNumber": 2, "ETag": e2}]) == \
        ("EntityTooSmall", 400)
    # the failed completes left the upload intact: one small part is fine
    r = c.complete_multipart_upload(Bucket="mpe", Key="k", UploadId=uid,
                                    MultipartUpload={"Parts": [{"PartNumber": 2,
                                                                "ETag": e2}]})
    assert r["ETag"] == multipart_etag([b"b"])
    assert c.get_object(Bucket="mpe", Key="k")["Body"].read() == b"b"
    with pytest.raises(ClientError) as e:
        c.create_multipart_upload(Bucket="no-such-bucket", Key="k")
    assert err(e) == ("NoSuchBucket", 404)


def test_upload_part_copy(hydrant):
    c = s3(hydrant)
    c.create_bucket(Bucket="upc")
    src = os.urandom(6 * MIB)
    c.put_object(Bucket="upc", Key="src", Body=src)
    uid = c.create_multipart_upload(Bucket="upc", Key="dst")["UploadId"]
    r1 = c.upload_part_copy(Bucket="upc", Key="dst", UploadId=uid, PartNumber=1,
                            CopySource={"Bucket": "upc", "Key": "src"},
                            CopySourceRange="bytes=0-%d" % (5 * MIB - 1))
    r2 = c.upload_part_copy(Bucket="upc", Key="dst", UploadId=uid, PartNumber=2,
                            CopySource="upc/src")
    assert r1["CopyPartResult"]["ETag"] == '"%s"' % hashlib.md5(src[:5 * MIB]).hexdigest()
    c.complete_multipart_upload(
        Bucket="upc", Key="dst", UploadId=uid,
        MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": r1["CopyPartResult"]["ETag"]},
                                   {"PartNumber": 2, "ETag": r2["CopyPartResult"]["ETag"]}]})
    assert c.get_object(Bucket="upc", Key="dst")["Body"].read() == src[:5 * MIB] + src
    uid = c.create_multipart_upload(Bucket="upc", Key="dst2")["UploadId"]
    with pytest.raises(ClientError) as e:
        c.upload_part_copy(Bucket="upc", Key="dst2", UploadId=uid, PartNumber=1,
                           CopySource="upc/src", CopySourceRange="bytes=0-%d" % len(src))
    assert err(e) == ("InvalidRange", 416) or err(e)[0] == "InvalidRange"
    with pytest.raises(ClientError) as e:
        c.upload_part_copy(Bucket="upc", Key="dst2", UploadId=uid, PartNumber=1,
                           CopySource="upc/missing")
    assert err(e) == ("NoSuchKey", 404)


# ---- copy, tags, versioning stubs, stored headers ----------------------------
def test_copy_object_shares_bytes_and_metadata_directive(hydrant):
    c = s3(hydrant)
    c.create_bucket(Bucket="cpy")
    body = os.urandom(3 * MIB)
    c.put_object(Bucket="cpy", Key="a", Body=body, ContentType="image/png",
                 Metadata={"m": "1"}, Tagging="t=1", CacheControl="max-age=60")
    c.copy_object(Bucket="cpy", Key="b", CopySource="cpy/a")
    b = c.get_object(Bucket="cpy", Key="b")
    assert b["Body"].read() == body
    assert (b["ContentType"], b["Metadata"], b["CacheControl"], b["TagCount"]) == \
        ("image/png", {"m": "1"}, "max-age=60", 1)
    c.copy_object(Bucket="cpy", Key="c", CopySource="cpy/a", MetadataDirective="REPLACE",
                  ContentType="text/plain", Metadata={"n": "2"},
                  TaggingDirective="REPLACE", Tagging="u=2&v=3")
    h = c.head_object(Bucket="cpy", Key="c")
    assert (h["ContentType"], h["Metadata"]) == ("text/plain", {"n": "2"})
    assert "CacheControl" not in h
    assert c.get_object_tagging(Bucket="cpy", Key="c")["TagSet"] == \
        [{"Key": "u", "Value": "2"}, {"Key": "v", "Value": "3"}]
    # the source is untouched by deleting a copy
    c.delete_object(Bucket="cpy", Key="b")
    assert c.get_object(Bucket="cpy", Key="a")["Body"].read() == body


def test_object_tagging(hydrant):
    c = s3(hydrant)
    c.create_bucket(Bucket="tags")
    c.put_object(Bucket="tags", Key="k", Body=b"x", Tagging="project=blue&team=a%20b")
    assert c.get_object_tagging(Bucket="tags", Key="k")["TagSet"] == \
        [{"Key": "project", "Value": "blue"}, {"Key": "team", "Value": "a b"}]
    assert c.get_object(Bucket="tags", Key="k")["TagCount"] == 2
    c.put_object_tagging(Bucket="tags", Key="k", Tagging={"TagSet": [
        {"Key": "k=1&x", "Value": "v/+ü"}]})
    assert c.get_object_tagging(Bucket="tags", Key="k")["TagSet"] == \
        [{"Key": "k=1&x", "Value": "v/+ü"}]
    r = c.delete_object_tagging(Bucket="tags", Key="k")
    assert r["ResponseMetadata"]["HTTPStatusCode"] == 204
    assert c.get_object_tagging(Bucket="tags", Key="k")["TagSet"] == []
    assert "TagCount" not in c.get_object(Bucket="tags", Key="k")
    with pytest.raises(ClientError) as e:
        c.put_object_tagging(Bucket="tags", Key="k", Tagging={"TagSet": [
            {"Key": "t%d" % i, "Value": "v"} for i in range(11)]})
    assert err(e) == ("BadRequest", 400)
    with pytest.raises(ClientError) as e:
        c.put_object_tagging(Bucket="tags", Key="k", Tagging={"TagSet": [
            {"Key": "same", "Value": "1"}, {"Key": "same", "Value": "2"}]})
    assert err(e) == ("InvalidTag", 400)
    with pytest.raises(ClientError) as e:
        c.get_object_tagging(Bucket="tags", Key="missing")
    assert err(e) == ("NoSuchKey", 404)


def test_versioning_stubs(hydrant):
    c = s3(hydrant)
    c.create_bucket(Bucket="ver")
    for k in ["a", "b/1", "b/2", "c"]:
        c.put_object(Bucket="ver", Key=k, Body=k.encode())
    assert "Status" not in c.get_bucket_versioning(Bucket="ver")
    v = c.list_object_versions(Bucket="ver")
    assert [(x["Key"], x["VersionId"], x["IsLatest"]) for x in v["Versions"]] == \
        [("a", "null", True), ("b/1", "null", True), ("b/2", "null", True),
         ("c", "null", True)]
    v = c.list_object_versions(Bucket="ver", Delimiter="/")
    assert [x["Key"] for x in v["Versions"]] == ["a", "c"]
    assert [p["Prefix"] for p in v["CommonPrefixes"]] == ["b/"]
    keys = [x["Key"] for page in c.get_paginator("list_object_versions").paginate(
        Bucket="ver", PaginationConfig={"PageSize": 1}) for x in page.get("Versions", [])]
    assert keys == ["a", "b/1", "b/2", "c"]
    assert c.get_object(Bucket="ver", Key="a", VersionId="null")["Body"].read() == b"a"
    with pytest.raises(ClientError) as e:
        c.get_bucket_versioning(Bucket="nope")
    assert err(e) == ("NoSuchBucket", 404)


def test_stored_headers_round_trip(hydrant):
    c = s3(hydrant)
    c.create_bucket(Bucket="hdr")
    c.put_object(Bucket="hdr", Key="k", Body=b"\x1f\x8b", ContentType="text/csv",
                 ContentEncoding="gzip", ContentDisposition='attachment; filename="a.csv"',
                 CacheControl="no-cache", ContentLanguage="en",
                 Metadata={"Mixed-Case": "Value"})
    for r in (c.get_object(Bucket="hdr", Key="k"), c.head_object(Bucket="hdr", Key="k")):
        assert r["ContentType"] == "text/csv"
        assert r["ContentEncoding"] == "gzip"
        assert r["ContentDisposition"] == 'attachment; filename="a.csv"'
        assert r["CacheControl"] == "no-cache"
        assert r["ContentLanguage"] == "en"
        assert r["Metadata"] == {"mixed-case": "Value"}
    r = c.get_object(Bucket="hdr", Key="k", ResponseCacheControl="max-age=5",
                     ResponseContentDisposition="inline")
    assert (r["CacheControl"], r["ContentDisposition"]) == ("max-age=5", "inline")


def test_restart_keeps_multipart_state(hydrant):
    c = s3(hydrant)
    c.create_bucket(Bucket="rst")
    uid = c.create_multipart_upload(Bucket="rst", Key="k")["UploadId"]
    e1 = c.upload_part(Bucket="rst", Key="k", UploadId=uid, PartNumber=1, Body=b"p")["ETag"]
    c.put_object(Bucket="rst", Key="tagged", Body=b"t", Tagging="a=b")
    hydrant.restart()
    c = s3(hydrant)
    c.complete_multipart_upload(Bucket="rst", Key="k", UploadId=uid,
                                MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": e1}]})
    assert c.get_object(Bucket="rst", Key="k")["Body"].read() == b"p"
    assert c.get_object_tagging(Bucket="rst", Key="tagged")["TagSet"] == \
        [{"Key": "a", "Value": "b"}]


# ---- presigned URLs with curl --------------------------------------------------
def curl(*args):
    return subprocess.run(["curl", "-sS", "-o", "-", "-w", "\n%{http_code}", *args],
                          capture_output=True, timeout=60)


@pytest.mark.parametrize("sigver", ["s3v4", "default"])
def test_presigned_get_and_put_with_curl(hydrant, tmp_path, sigver):
    """boto3 1.26 presigns with SigV2 query auth unless told s3v4; both
    kinds of URL work with plain curl."""
    kw = {"config_kw": {"signature_version": "s3v4"}} if sigver == "s3v4" else {}
    c = s3(hydrant, **kw)
    c.create_bucket(Bucket="pre")
    c.put_object(Bucket="pre", Key="dir/hello world.txt", Body=b"hello presigned")
    url = c.generate_presigned_url("get_object", Params={"Bucket": "pre",
                                                         "Key": "dir/hello world.txt"},
                                   ExpiresIn=300)
    assert ("X-Amz-Signature=" in url) == (sigver == "s3v4")
    r = curl(url)
    body, status = r.stdout.rsplit(b"\n", 1)
    assert (status, body) == (b"200", b"hello presigned")

    payload = os.urandom(2 * MIB)
    src = tmp_path / "up.bin"
    src.write_bytes(payload)
    url = c.generate_presigned_url("put_object", Params={"Bucket": "pre", "Key": "up.bin"},
                                   ExpiresIn=300)
    r = curl("-T", str(src), url)
    assert r.stdout.rsplit(b"\n", 1)[1] == b"200", r.stdout + r.stderr
    got = c.get_object(Bucket="pre", Key="up.bin")
    assert got["Body"].read() == payload
    assert got["ETag"] == '"%s"' % hashlib.md5(payload).hexdigest()


# ---- the AWS CLI v2 ------------------------------------------------------------
def aws(h, *args, cwd=None):
    env = dict(os.environ, AWS_ACCESS_KEY_ID="test", AWS_SECRET_ACCESS_KEY="test",
               AWS_DEFAULT_REGION="us-east-1", AWS_PAGER="",
               AWS_CONFIG_FILE="/dev/null", AWS_SHARED_CREDENTIALS_FILE="/dev/null")
    r = subprocess.run(["/usr/bin/aws", "--endpoint-url", h.endpoint, *args],
                       env=env, capture_output=True, timeout=120, cwd=cwd)
    assert r.returncode == 0, (args, r.stdout, r.stderr)
    return r.stdout.decode()


def test_aws_s3_commands(hydrant, tmp_path):
    aws(hydrant, "s3", "mb", "s3://cli")
    big = tmp_path / "big.bin"
    big.write_bytes(os.urandom(20 * MIB))  # over the CLI's 8 MiB multipart threshold
    aws(hydrant, "s3", "cp", str(big), "s3://cli/big.bin")
    assert s3(hydrant).head_object(Bucket="cli", Key="big.bin")["ETag"].endswith('-3"')

    up = tmp_path / "up"
    for rel, data in [("a.txt", b"a"), ("sub/b.txt", b"bb"), ("sub/deep/c.txt", b"ccc"),
                      ("odd name + ü.txt", b"odd")]:
        (up / rel).parent.mkdir(parents=True, exist_ok=True)
        (up / rel).write_bytes(data)
    aws(hydrant, "s3", "sync", str(up), "s3://cli/tree")
    listing = aws(hydrant, "s3", "ls", "--recursive", "s3://cli/")
    for key in ["big.bin", "tree/a.txt", "tree/sub/b.txt", "tree/sub/deep/c.txt",
                "tree/odd name + ü.txt"]:
        assert key in listing, listing
    # a second sync finds nothing to do
    assert aws(hydrant, "s3", "sync", str(up), "s3://cli/tree").strip() == ""

    down = tmp_path / "down"
    aws(hydrant, "s3", "sync", "s3://cli/", str(down))
    for rel in ["a.txt", "sub/b.txt", "sub/deep/c.txt", "odd name + ü.txt"]:
        assert (down / "tree" / rel).read_bytes() == (up / rel).read_bytes()
    assert sha256_file(down / "big.bin") == sha256_file(big)

    aws(hydrant, "s3", "rm", "--recursive", "s3://cli/")
    assert aws(hydrant, "s3", "ls", "--recursive", "s3://cli/").strip() == ""
    aws(hydrant, "s3", "rb", "s3://cli")
    assert s3(hydrant).list_buckets()["Buckets"] == []


# ---- s3cmd ---------------------------------------------------------------------
def s3cmd(h, cfg, *args):
    r = subprocess.run(["s3cmd", "-c", str(cfg), *args], capture_output=True, timeout=120)
    assert r.returncode == 0, (args, r.stdout, r.stderr)
    return r.stdout.decode()


def test_s3cmd(hydrant, tmp_path):
    cfg = tmp_path / "s3cfg"
    cfg.write_text(
        "[default]\n"
        "access_key = test\n"
        "secret_key = test\n"
        "host_base = 127.0.0.1:%d\n"
        "host_bucket = 127.0.0.1:%d\n"
        "use_https = False\n"
        "signature_v2 = False\n"
        "bucket_location = us-east-1\n"
        "check_ssl_certificate = False\n" % (hydrant.port, hydrant.port))
    s3cmd(hydrant, cfg, "--no-ssl", "mb", "s3://s3cmd-bucket")
    small = tmp_path / "small.txt"
    small.write_bytes(b"s3cmd was here\n")
    big = tmp_path / "big.bin"
    big.write_bytes(os.urandom(17 * MIB))  # over s3cmd's 15 MiB multipart chunk
    s3cmd(hydrant, cfg, "--no-ssl", "put", str(small), "s3://s3cmd-bucket/dir/small.txt")
    s3cmd(hydrant, cfg, "--no-ssl", "put", str(big), "s3://s3cmd-bucket/big.bin")
    out = s3cmd(hydrant, cfg, "--no-ssl", "ls", "s3://s3cmd-bucket/")
    assert "s3://s3cmd-bucket/big.bin" in out and "s3://s3cmd-bucket/dir/" in out
    out = s3cmd(hydrant, cfg, "--no-ssl", "ls", "--recursive", "s3://s3cmd-bucket/")
    assert "s3://s3cmd-bucket/dir/small.txt" in out
    got = tmp_path / "got.bin"
    s3cmd(hydrant, cfg, "--no-ssl", "get", "s3://s3cmd-bucket/big.bin", str(got))
    assert sha256_file(got) == sha256_file(big)
    got_small = tmp_path / "got.txt"
    s3cmd(hydrant, cfg, "--no-ssl", "get", "s3://s3cmd-bucket/dir/small.txt", str(got_small))
    assert got_small.read_bytes() == b"s3cmd was here\n"
    s3cmd(hydrant, cfg, "--no-ssl", "del", "s3://s3cmd-bucket/dir/small.txt")
    s3cmd(hydrant, cfg, "--no-ssl", "del", "s3://s3cmd-bucket/big.bin")
    assert s3(hydrant).list_objects_v2(Bucket="s3cmd-bucket")["KeyCount"] == 0


def test_large_xml_bodies_are_read_back_from_the_spool(hydrant):
    """A DeleteObjects of 1,000 keys of 1,024 bytes is over the 1 MiB spool
    threshold; it still parses."""
    c = s3(hydrant)
    c.create_bucket(Bucket="bulk")
    keys = ["%04d" % i + "k" * 1020 for i in range(1000)]
    for k in keys[:3]:
        c.put_object(Bucket="bulk", Key=k, Body=b"x")
    r = c.delete_objects(Bucket="bulk", Delete={"Objects": [{"Key": k} for k in keys]})
    assert len(r["Deleted"]) == 1000
    assert c.list_objects_v2(Bucket="bulk")["KeyCount"] == 0
    assert spool_empty(hydrant)


def get_url(h, url, host=None):
    """GETs a presigned URL from 127.0.0.1:port with the URL's own path and
    query, and the Host header given (default: the URL's); (status, body)."""
    import urllib.parse
    u = urllib.parse.urlsplit(url)
    conn = http.client.HTTPConnection("127.0.0.1", h.port, timeout=10)
    conn.request("GET", u.path + "?" + u.query, headers={"Host": host or u.netloc})
    r = conn.getresponse()
    out = r.status, r.read()
    conn.close()
    return out


def test_sigv2_presigned_path_and_virtual_host(hydrant):
    """Debian's boto3 1.26 presigns S3 URLs with SigV2 by default. Path-style
    and virtual-host style (Host: bucket.localhost:port) both work; the
    signed resource binds the bucket that is served, so a URL signed for
    one bucket does not open another by a change of Host; an Expires more
    than seven days ahead is refused."""
    c = s3(hydrant)
    for b in ("sigv2-a", "sigv2-b"):
        c.create_bucket(Bucket=b)
        c.put_object(Bucket=b, Key="k", Body=b"in " + b.encode())
    url = c.generate_presigned_url("get_object", Params={"Bucket": "sigv2-a", "Key": "k"},
                                   ExpiresIn=300)
    assert "AWSAccessKeyId=" in url and "Signature=" in url  # SigV2, not SigV4
    assert get_url(hydrant, url) == (200, b"in sigv2-a")
    # virtual-host style, as boto3 makes it for a localhost endpoint
    vc = boto3.client("s3", endpoint_url="http://localhost:%d" % hydrant.port,
                      region_name="us-east-1", aws_access_key_id="test",
                      aws_secret_access_key="test",
                      config=Config(s3={"addressing_style": "virtual"}))
    vurl = vc.generate_presigned_url("get_object", Params={"Bucket": "sigv2-a", "Key": "k"},
                                     ExpiresIn=300)
    assert "//sigv2-a.localhost:%d/k?" % hydrant.port in vurl, vurl
    assert get_url(hydrant, vurl) == (200, b"in sigv2-a")
    # the same signature sent to bucket b's virtual host: refused
    status, body = get_url(hydrant, vurl, host="sigv2-b.localhost:%d" % hydrant.port)
    assert status == 403
    assert ET.fromstring(body).find("Code").text == "SignatureDoesNotMatch"
    # a path-style URL for "/sigv2-a/k" sent to a virtual host would serve
    # bucket b's key "sigv2-a/k": refused, not a NoSuchKey from bucket b
    status, body = get_url(hydrant, url, host="sigv2-b.localhost:%d" % hydrant.port)
    assert status == 403
    assert ET.fromstring(body).find("Code").text == "SignatureDoesNotMatch"
    # far-future Expires, validly signed: refused with the bound named
    far = c.generate_presigned_url("get_object", Params={"Bucket": "sigv2-a", "Key": "k"},
                                   ExpiresIn=8 * 86400)
    status, body = get_url(hydrant, far)
    assert status == 400
    root = ET.fromstring(body)
    assert root.find("Code").text == "AuthorizationQueryParametersError"
    assert "seven days" in root.find("Message").text
    week = c.generate_presigned_url("get_object", Params={"Bucket": "sigv2-a", "Key": "k"},
                                    ExpiresIn=7 * 86400 - 60)
    assert get_url(hydrant, week) == (200, b"in sigv2-a")


def test_checksum_headers(hydrant):
    """x-amz-checksum-<alg> request headers are computed and compared, as
    S3 does, in memory and for a spooled body; boto3's flexible checksums
    (ChecksumAlgorithm) pass; an unknown algorithm is refused, not
    ignored."""
    import base64
    import zlib
    c = s3(hydrant)
    c.create_bucket(Bucket="sums")
    for alg in ("CRC32", "SHA1", "SHA256"):
        r = c.put_object(Bucket="sums", Key="boto-" + alg, Body=b"checked " * 100,
                         ChecksumAlgorithm=alg)
        assert r["ResponseMetadata"]["HTTPStatusCode"] == 200
    for size in (1000, 3 * MIB):
        data = os.urandom(size)
        good = base64.b64encode(zlib.crc32(data).to_bytes(4, "big")).decode()
        bad = base64.b64encode(((zlib.crc32(data) ^ 1)).to_bytes(4, "big")).decode()
        sha = base64.b64encode(hashlib.sha256(data).digest()).decode()
        status, _, resp = signed_request(hydrant, "PUT", "/sums/k%d" % size, body=data,
                                         service="s3",
                                         headers={"x-amz-checksum-crc32": good,
                                                  "x-amz-checksum-sha256": sha})
        assert status == 200, resp
        assert c.get_object(Bucket="sums", Key="k%d" % size)["Body"].read() == data
        status, _, resp = signed_request(hydrant, "PUT", "/sums/bad%d" % size, body=data,
                                         service="s3", headers={"x-amz-checksum-crc32": bad})
        assert status == 400
        root = ET.fromstring(resp)
        assert root.find("Code").text == "BadDigest"
        assert "CRC32" in root.find("Message").text
        with pytest.raises(ClientError):
            c.head_object(Bucket="sums", Key="bad%d" % size)
    for hdrs, code in (({"x-amz-checksum-crc32": "not base64!"}, "InvalidRequest"),
                       ({"x-amz-checksum-crc32": "AAAAAAAA"}, "InvalidRequest"),  # 6 bytes
                       ({"x-amz-checksum-md7": "AAAA"}, "InvalidRequest")):
        status, _, resp = signed_request(hydrant, "PUT", "/sums/x", body=b"x", service="s3",
                                         headers=hdrs)
        assert status == 400, hdrs
        assert ET.fromstring(resp).find("Code").text == code
    # not checksums: x-amz-checksum-mode (GET) and -type ride along
    status, _, resp = signed_request(hydrant, "PUT", "/sums/y", body=b"y", service="s3",
                                     headers={"x-amz-checksum-type": "FULL_OBJECT"})
    assert status == 200, resp
