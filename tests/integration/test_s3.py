"""The S3 REST API of the embedded store, driven by real clients: boto3,
the AWS CLI, pandas, and raw HTTP where a client cannot say what we test
(virtual-host Host headers, malformed bodies)."""
import hashlib
import http.client
import io
import json
import os
import subprocess
import xml.etree.ElementTree as ET

import boto3
import pandas
import pytest
from conftest import aws_chunked, sign_headers
from botocore.config import Config
from botocore.exceptions import ClientError

NS = "{http://s3.amazonaws.com/doc/2006-03-01/}"


def s3(hydrant, **kw):
    return hydrant.client("s3", **kw)


def err(excinfo):
    e = excinfo.value
    return e.response["Error"]["Code"], e.response["ResponseMetadata"]["HTTPStatusCode"]


def raw(hydrant, method, path, body=b"", headers=None, sign=True):
    """One HTTP request, SigV4-signed unless sign=False; returns (status,
    headers dict lowercased, body)."""
    conn = http.client.HTTPConnection("127.0.0.1", hydrant.port, timeout=10)
    try:
        if sign:
            headers = sign_headers(hydrant, method, path, body, headers, "s3")
        conn.request(method, path, body=body, headers=headers or {})
        r = conn.getresponse()
        data = r.read()
        return r.status, {k.lower(): v for k, v in r.getheaders()}, data
    finally:
        conn.close()


# ---- buckets ---------------------------------------------------------------
def test_bucket_lifecycle(hydrant):
    c = s3(hydrant)
    assert c.list_buckets()["Buckets"] == []
    r = c.create_bucket(Bucket="alpha")
    assert r["ResponseMetadata"]["HTTPStatusCode"] == 200
    assert r["Location"] == "/alpha"
    assert r["ResponseMetadata"]["HTTPHeaders"]["x-amz-request-id"]
    c.create_bucket(Bucket="beta",
                    CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    names = [b["Name"] for b in c.list_buckets()["Buckets"]]
    assert names == ["alpha", "beta"]
    lb = c.list_buckets()
    assert lb["Owner"]["ID"]
    assert lb["Buckets"][0]["CreationDate"].year >= 2024

    assert c.get_bucket_location(Bucket="alpha")["LocationConstraint"] is None
    assert c.get_bucket_location(Bucket="beta")["LocationConstraint"] == "eu-west-1"

    h = c.head_bucket(Bucket="beta")
    assert h["ResponseMetadata"]["HTTPHeaders"]["x-amz-bucket-region"] == "eu-west-1"

    # us-east-1's legacy answer to creating a bucket you own: 200; other
    # regions: 409 (the eu-west-1 bucket, through a eu-west-1 client)
    assert c.create_bucket(Bucket="alpha")["ResponseMetadata"]["HTTPStatusCode"] == 200
    with pytest.raises(ClientError) as e:
        hydrant.client("s3", region="eu-west-1").create_bucket(
            Bucket="beta", CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    assert err(e) == ("BucketAlreadyOwnedByYou", 409)

    c.put_object(Bucket="alpha", Key="k", Body=b"x")
    with pytest.raises(ClientError) as e:
        c.delete_bucket(Bucket="alpha")
    assert err(e) == ("BucketNotEmpty", 409)
    c.delete_object(Bucket="alpha", Key="k")
    r = c.delete_bucket(Bucket="alpha")
    assert r["ResponseMetadata"]["HTTPStatusCode"] == 204
    assert [b["Name"] for b in c.list_buckets()["Buckets"]] == ["beta"]

    with pytest.raises(ClientError) as e:
        c.delete_bucket(Bucket="alpha")
    assert err(e) == ("NoSuchBucket", 404)
    with pytest.raises(ClientError) as e:
        c.head_bucket(Bucket="alpha")
    assert err(e) == ("404", 404)  # HEAD: status only, no body
    with pytest.raises(ClientError) as e:
        c.get_bucket_location(Bucket="alpha")
    assert err(e) == ("NoSuchBucket", 404)
    assert e.value.response["Error"]["BucketName"] == "alpha"


@pytest.mark.parametrize("name", [
    "ab", "a" * 64, "UpperCase", "has_underscore", "-starts", "ends-", "two..dots",
    "192.168.1.1", "dot.-dash", "xn--punycode",
])
def test_invalid_bucket_names(hydrant, name):
    c = s3(hydrant)
    status, _, body = raw(hydrant, "PUT", "/" + name)
    assert status == 400
    assert ET.fromstring(body).find("Code").text == "InvalidBucketName"
    assert c.list_buckets()["Buckets"] == []


def test_valid_edge_bucket_names(hydrant):
    c = s3(hydrant)
    for name in ["abc", "a" * 63, "my.bucket-1", "0-9"]:
        c.create_bucket(Bucket=name)
    assert len(c.list_buckets()["Buckets"]) == 4


def test_create_bucket_malformed_xml(hydrant):
    status, _, body = raw(hydrant, "PUT", "/mal", b"<CreateBucketConfiguration><Loc")
    assert status == 400
    root = ET.fromstring(body)
    assert root.find("Code").text == "MalformedXML"
    assert root.find("RequestId").text
    status, _, body = raw(hydrant, "PUT", "/mal", b"<Other/>")
    assert status == 400
    assert ET.fromstring(body).find("Code").text == "MalformedXML"
    assert s3(hydrant).list_buckets()["Buckets"] == []


# ---- objects ---------------------------------------------------------------
def test_put_get_head_delete(hydrant):
    c = s3(hydrant)
    c.create_bucket(Bucket="objs")
    body = b"hello, hydrant\n" * 100
    r = c.put_object(Bucket="objs", Key="dir/file.txt", Body=body,
                     ContentType="text/plain", Metadata={"Owner": "me", "n": "42"})
    md5 = hashlib.md5(body).hexdigest()
    assert r["ETag"] == '"%s"' % md5

    g = c.get_object(Bucket="objs", Key="dir/file.txt")
    assert g["Body"].read() == body
    assert g["ContentType"] == "text/plain"
    assert g["ContentLength"] == len(body)
    assert g["ETag"] == '"%s"' % md5
    assert g["Metadata"] == {"owner": "me", "n": "42"}
    assert g["LastModified"].year >= 2024
    assert g["ResponseMetadata"]["HTTPHeaders"]["x-amz-request-id"]

    h = c.head_object(Bucket="objs", Key="dir/file.txt")
    assert h["ContentLength"] == len(body)
    assert h["ETag"] == '"%s"' % md5
    assert h["Metadata"] == {"owner": "me", "n": "42"}
    assert h["LastModified"] == g["LastModified"]

    # overwrite replaces bytes, type and metadata
    c.put_object(Bucket="objs", Key="dir/file.txt", Body=b"v2")
    g = c.get_object(Bucket="objs", Key="dir/file.txt")
    assert g["Body"].read() == b"v2"
    assert g["ContentType"] == "binary/octet-stream"
    assert g["Metadata"] == {}

    r = c.delete_object(Bucket="objs", Key="dir/file.txt")
    assert r["ResponseMetadata"]["HTTPStatusCode"] == 204
    with pytest.raises(ClientError) as e:
        c.get_object(Bucket="objs", Key="dir/file.txt")
    assert err(e) == ("NoSuchKey", 404)
    assert e.value.response["Error"]["Key"] == "dir/file.txt"
    with pytest.raises(ClientError) as e:
        c.head_object(Bucket="objs", Key="dir/file.txt")
    assert err(e) == ("404", 404)
    # deleting a missing key is still 204
    r = c.delete_object(Bucket="objs", Key="never-was")
    assert r["ResponseMetadata"]["HTTPStatusCode"] == 204


def test_object_errors_on_missing_bucket(hydrant):
    c = s3(hydrant)
    with pytest.raises(ClientError) as e:
        c.put_object(Bucket="ghost", Key="k", Body=b"x")
    assert err(e) == ("NoSuchBucket", 404)
    with pytest.raises(ClientError) as e:
        c.get_object(Bucket="ghost", Key="k")
    assert err(e) == ("NoSuchBucket", 404)
    with pytest.raises(ClientError) as e:
        c.delete_object(Bucket="ghost", Key="k")
    assert err(e) == ("NoSuchBucket", 404)
    with pytest.raises(ClientError) as e:
        c.list_objects_v2(Bucket="ghost")
    assert err(e) == ("NoSuchBucket", 404)


def test_empty_object_and_odd_keys(hydrant):
    c = s3(hydrant)
    c.create_bucket(Bucket="odd")
    keys = ["empty", "with space", "plus+sign", "pct%20lit", "../../etc/passwd",
            "a//b", "\u65e5\u672c/\u8a9e\u2603", "q?x=1&y", "#hash", "tilde~"]
    for k in keys:
        c.put_object(Bucket="odd", Key=k, Body=k.encode() if k != "empty" else b"")
    for k in keys:
        assert c.get_object(Bucket="odd", Key=k)["Body"].read() == \
            (k.encode() if k != "empty" else b"")
    listed = [o["Key"] for o in c.list_objects_v2(Bucket="odd")["Contents"]]
    assert listed == sorted(keys, key=lambda s: s.encode())
    # nothing escaped the data directory
    assert not os.path.exists(os.path.join(hydrant.data_dir, "..", "etc", "passwd"))
    assert not os.path.exists(os.path.join(hydrant.data_dir, "etc"))


def test_key_too_long_and_entity_too_large(make_hydrant):
    h = make_hydrant("--max-object-size", str(1 << 20))
    c = s3(h)
    c.create_bucket(Bucket="lim")
    c.put_object(Bucket="lim", Key="k" * 1024, Body=b"ok")
    with pytest.raises(ClientError) as e:
        c.put_object(Bucket="lim", Key="k" * 1025, Body=b"no")
    assert err(e) == ("KeyTooLongError", 400)
    with pytest.raises(ClientError) as e:
        c.put_object(Bucket="lim", Key="big", Body=b"z" * ((1 << 20) + 1))
    assert err(e) == ("EntityTooLarge", 400)
    assert [o["Key"] for o in c.list_objects_v2(Bucket="lim")["Contents"]] == ["k" * 1024]


def test_content_md5(hydrant):
    c = s3(hydrant)
    c.create_bucket(Bucket="md5")
    status, _, body = raw(hydrant, "PUT", "/md5/k", b"data",
                          {"Content-MD5": "AAAAAAAAAAAAAAAAAAAAAA=="})
    assert status == 400
    assert ET.fromstring(body).find("Code").text == "BadDigest"
    status, _, body = raw(hydrant, "PUT", "/md5/k", b"data", {"Content-MD5": "nope"})
    assert status == 400
    assert ET.fromstring(body).find("Code").text == "InvalidDigest"
    with pytest.raises(ClientError):
        c.head_object(Bucket="md5", Key="k")


def test_range_reads(hydrant):
    c = s3(hydrant)
    c.create_bucket(Bucket="rng")
    data = bytes(range(256)) * 4  # 1024 bytes
    c.put_object(Bucket="rng", Key="r", Body=data)

    g = c.get_object(Bucket="rng", Key="r", Range="bytes=10-19")
    assert g["ResponseMetadata"]["HTTPStatusCode"] == 206
    assert g["ContentRange"] == "bytes 10-19/1024"
    assert g["Body"].read() == data[10:20]

    g = c.get_object(Bucket="rng", Key="r", Range="bytes=1000-")
    assert g["ContentRange"] == "bytes 1000-1023/1024"
    assert g["Body"].read() == data[1000:]

    g = c.get_object(Bucket="rng", Key="r", Range="bytes=-24")
    assert g["Body"].read() == data[-24:]

    g = c.get_object(Bucket="rng", Key="r", Range="bytes=1020-5000")
    assert g["ContentRange"] == "bytes 1020-1023/1024"
    assert g["Body"].read() == data[1020:]

    g = c.get_object(Bucket="rng", Key="r", Range="bytes=-5000")
    assert g["Body"].read() == data

    for bad in ["bytes=1024-", "bytes=2000-3000", "bytes=-0"]:
        with pytest.raises(ClientError) as e:
            c.get_object(Bucket="rng", Key="r", Range=bad)
        assert err(e) == ("InvalidRange", 416)
        assert e.value.response["Error"]["ActualObjectSize"] == "1024"

    # syntax S3 ignores: the whole object, 200
    g = c.get_object(Bucket="rng", Key="r", Range="items=1-2")
    assert g["ResponseMetadata"]["HTTPStatusCode"] == 200
    assert g["Body"].read() == data

    h = c.head_object(Bucket="rng", Key="r", Range="bytes=0-9")
    assert h["ResponseMetadata"]["HTTPStatusCode"] == 206
    assert h["ContentLength"] == 10


def test_conditional_get(hydrant):
    c = s3(hydrant)
    c.create_bucket(Bucket="cond")
    etag = c.put_object(Bucket="cond", Key="k", Body=b"abc")["ETag"]
    assert c.get_object(Bucket="cond", Key="k", IfMatch=etag)["Body"].read() == b"abc"
    with pytest.raises(ClientError) as e:
        c.get_object(Bucket="cond", Key="k", IfMatch='"0000"')
    assert err(e) == ("PreconditionFailed", 412)
    with pytest.raises(ClientError) as e:
        c.get_object(Bucket="cond", Key="k", IfNoneMatch=etag)
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 304


# ---- listing ---------------------------------------------------------------
def test_list_v2_pagination(hydrant):
    c = s3(hydrant)
    c.create_bucket(Bucket="pages")
    keys = ["key-%02d" % i for i in range(25)]
    for k in reversed(keys):
        c.put_object(Bucket="pages", Key=k, Body=k.encode())

    seen, token, pages = [], None, 0
    while True:
        kw = {"Bucket": "pages", "MaxKeys": 10}
        if token:
            kw["ContinuationToken"] = token
        r = c.list_objects_v2(**kw)
        pages += 1
        assert r["KeyCount"] == len(r["Contents"])
        assert r["MaxKeys"] == 10
        seen += [o["Key"] for o in r["Contents"]]
        if not r["IsTruncated"]:
            assert "NextContinuationToken" not in r
            break
        assert r["KeyCount"] == 10
        token = r["NextContinuationToken"]
        assert r.get("ContinuationToken") == kw.get("ContinuationToken")
    assert pages == 3
    assert seen == keys

    # the paginator agrees
    p = c.get_paginator("list_objects_v2")
    got = [o["Key"] for page in p.paginate(Bucket="pages", PaginationConfig={"PageSize": 7})
           for o in page["Contents"]]
    assert got == keys

    o = c.list_objects_v2(Bucket="pages", MaxKeys=1)["Contents"][0]
    assert o["Size"] == 6
    assert o["ETag"] == '"%s"' % hashlib.md5(b"key-00").hexdigest()
    assert o["StorageClass"] == "STANDARD"

    r = c.list_objects_v2(Bucket="pages", StartAfter="key-20")
    assert [o["Key"] for o in r["Contents"]] == keys[21:]
    assert r["StartAfter"] == "key-20"
    r = c.list_objects_v2(Bucket="pages", Prefix="key-1")
    assert [o["Key"] for o in r["Contents"]] == keys[10:20]
    r = c.list_objects_v2(Bucket="pages", Prefix="nothing")
    assert "Contents" not in r and r["KeyCount"] == 0
    r = c.list_objects_v2(Bucket="pages", MaxKeys=0)
    assert r["KeyCount"] == 0 and not r["IsTruncated"]

    with pytest.raises(ClientError) as e:
        c.list_objects_v2(Bucket="pages", ContinuationToken="!!!not-base64")
    assert err(e) == ("InvalidArgument", 400)


def test_list_delimiter_common_prefixes(hydrant):
    c = s3(hydrant)
    c.create_bucket(Bucket="tree")
    keys = ["a.txt", "logs/2024/01/x", "logs/2024/02/y", "logs/2025/z", "logs/top",
            "photos/1.jpg", "photos/2.jpg", "zeta"]
    for k in keys:
        c.put_object(Bucket="tree", Key=k, Body=b"1")

    r = c.list_objects_v2(Bucket="tree", Delimiter="/")
    assert [o["Key"] for o in r["Contents"]] == ["a.txt", "zeta"]
    assert [p["Prefix"] for p in r["CommonPrefixes"]] == ["logs/", "photos/"]
    assert r["KeyCount"] == 4
    assert r["Delimiter"] == "/"

    r = c.list_objects_v2(Bucket="tree", Delimiter="/", Prefix="logs/")
    assert [o["Key"] for o in r["Contents"]] == ["logs/top"]
    assert [p["Prefix"] for p in r["CommonPrefixes"]] == ["logs/2024/", "logs/2025/"]

    # paging one entry at a time counts prefixes and keys alike, no repeats
    seen, token = [], None
    while True:
        kw = {"Bucket": "tree", "Delimiter": "/", "MaxKeys": 1}
        if token:
            kw["ContinuationToken"] = token
        r = c.list_objects_v2(**kw)
        seen += [o["Key"] for o in r.get("Contents", [])]
        seen += [p["Prefix"] for p in r.get("CommonPrefixes", [])]
        assert r["KeyCount"] == 1
        if not r["IsTruncated"]:
            break
        token = r["NextContinuationToken"]
    assert seen == ["a.txt", "logs/", "photos/", "zeta"]

    # v1 with marker / NextMarker
    seen, marker = [], ""
    while True:
        r = c.list_objects(Bucket="tree", Delimiter="/", MaxKeys=2, Marker=marker)
        seen += [o["Key"] for o in r.get("Contents", [])]
        seen += [p["Prefix"] for p in r.get("CommonPrefixes", [])]
        if not r["IsTruncated"]:
            break
        marker = r["NextMarker"]
    assert sorted(seen) == ["a.txt", "logs/", "photos/", "zeta"]


def test_list_v1(hydrant):
    c = s3(hydrant)
    c.create_bucket(Bucket="listv1")
    for i in range(5):
        c.put_object(Bucket="listv1", Key="k%d" % i, Body=b"x")
    r = c.list_objects(Bucket="listv1", MaxKeys=2)
    assert [o["Key"] for o in r["Contents"]] == ["k0", "k1"]
    assert r["IsTruncated"] is True
    assert r["Contents"][0]["Owner"]["ID"]
    r = c.list_objects(Bucket="listv1", Marker="k1")
    assert [o["Key"] for o in r["Contents"]] == ["k2", "k3", "k4"]
    assert r["Marker"] == "k1"
    assert r["IsTruncated"] is False
    p = c.get_paginator("list_objects")
    got = [o["Key"] for page in p.paginate(Bucket="listv1", PaginationConfig={"PageSize": 2})
           for o in page["Contents"]]
    assert got == ["k%d" % i for i in range(5)]


def test_list_encoding_type_url(hydrant):
    c = s3(hydrant)
    c.create_bucket(Bucket="enc")
    c.put_object(Bucket="enc", Key="a b+c/\u00e9", Body=b"1")
    # boto3 asks for encoding-type=url and decodes it for us
    r = c.list_objects_v2(Bucket="enc")
    assert [o["Key"] for o in r["Contents"]] == ["a b+c/\u00e9"]
    r = c.list_objects_v2(Bucket="enc", Delimiter="/")
    assert [p["Prefix"] for p in r["CommonPrefixes"]] == ["a b+c/"]
    # on the wire the key is percent-encoded
    status, _, body = raw(hydrant, "GET", "/enc?list-type=2&encoding-type=url")
    assert status == 200
    root = ET.fromstring(body)
    assert root.find(NS + "EncodingType").text == "url"
    assert root.find(NS + "Contents/" + NS + "Key").text == "a%20b%2Bc/%C3%A9"
    status, _, body = raw(hydrant, "GET", "/enc?list-type=2")
    assert ET.fromstring(body).find(NS + "Contents/" + NS + "Key").text == "a b+c/\u00e9"


# ---- unimplemented and wrong methods ---------------------------------------
def test_not_implemented_and_method_not_allowed(hydrant):
    c = s3(hydrant)
    c.create_bucket(Bucket="notimpl")
    with pytest.raises(ClientError) as e:
        c.get_bucket_acl(Bucket="notimpl")
    assert err(e) == ("NotImplemented", 501)
    with pytest.raises(ClientError) as e:
        c.put_bucket_versioning(Bucket="notimpl",
                                VersioningConfiguration={"Status": "Enabled"})
    assert err(e) == ("NotImplemented", 501)
    status, _, body = raw(hydrant, "PATCH", "/notimpl/k")
    assert status == 405
    assert ET.fromstring(body).find("Code").text == "MethodNotAllowed"
    status, _, body = raw(hydrant, "DELETE", "/")
    assert status == 405


# ---- batch delete and copy -------------------------------------------------
def test_delete_objects(hydrant):
    c = s3(hydrant)
    c.create_bucket(Bucket="batch")
    for i in range(5):
        c.put_object(Bucket="batch", Key="k%d" % i, Body=b"x")
    r = c.delete_objects(Bucket="batch", Delete={"Objects": [
        {"Key": "k0"}, {"Key": "k1"}, {"Key": "missing"}]})
    assert sorted(d["Key"] for d in r["Deleted"]) == ["k0", "k1", "missing"]
    assert "Errors" not in r
    r = c.delete_objects(Bucket="batch", Delete={"Objects": [{"Key": "k2"}], "Quiet": True})
    assert "Deleted" not in r
    left = [o["Key"] for o in c.list_objects_v2(Bucket="batch")["Contents"]]
    assert left == ["k3", "k4"]
    with pytest.raises(ClientError) as e:
        c.delete_objects(Bucket="nobatch", Delete={"Objects": [{"Key": "a"}]})
    assert err(e) == ("NoSuchBucket", 404)
    status, _, body = raw(hydrant, "POST", "/batch?delete", b"<Delete><Object>")
    assert status == 400
    assert ET.fromstring(body).find("Code").text == "MalformedXML"


def test_copy_object(hydrant):
    c = s3(hydrant)
    c.create_bucket(Bucket="src")
    c.create_bucket(Bucket="dst")
    c.put_object(Bucket="src", Key="a b/orig", Body=b"copy me", ContentType="text/x",
                 Metadata={"m": "1"})
    r = c.copy_object(Bucket="dst", Key="copy", CopySource={"Bucket": "src", "Key": "a b/orig"})
    assert r["CopyObjectResult"]["ETag"] == '"%s"' % hashlib.md5(b"copy me").hexdigest()
    g = c.get_object(Bucket="dst", Key="copy")
    assert g["Body"].read() == b"copy me"
    assert g["ContentType"] == "text/x"
    assert g["Metadata"] == {"m": "1"}
    c.copy_object(Bucket="dst", Key="copy2", CopySource="src/a b/orig",
                  MetadataDirective="REPLACE", Metadata={"n": "2"}, ContentType="text/y")
    h = c.head_object(Bucket="dst", Key="copy2")
    assert h["Metadata"] == {"n": "2"} and h["ContentType"] == "text/y"
    with pytest.raises(ClientError) as e:
        c.copy_object(Bucket="dst", Key="x", CopySource={"Bucket": "src", "Key": "nope"})
    assert err(e) == ("NoSuchKey", 404)
    with pytest.raises(ClientError) as e:
        c.copy_object(Bucket="dst", Key="copy", CopySource={"Bucket": "dst", "Key": "copy"})
    assert err(e) == ("InvalidRequest", 400)


# ---- addressing ------------------------------------------------------------
def test_virtual_host_style_raw(hydrant):
    c = s3(hydrant)
    port = hydrant.port
    status, hdrs, _ = raw(hydrant, "PUT", "/", headers={"Host": "vhost.localhost:%d" % port})
    assert status == 200
    assert [b["Name"] for b in c.list_buckets()["Buckets"]] == ["vhost"]
    # again, signed for us-east-1: 200, as AWS there (409 elsewhere)
    status, _, body = raw(hydrant, "PUT", "/", headers={"Host": "vhost.localhost"})
    assert status == 200, body
    status, hdrs, _ = raw(hydrant, "PUT", "/dir/obj.txt", b"via vhost",
                          {"Host": "vhost.localhost:%d" % port})
    assert status == 200
    assert c.get_object(Bucket="vhost", Key="dir/obj.txt")["Body"].read() == b"via vhost"
    for host in ["vhost.s3.amazonaws.com", "vhost.s3.us-east-1.amazonaws.com",
                 "vhost.localhost"]:
        status, _, body = raw(hydrant, "GET", "/dir/obj.txt", headers={"Host": host})
        assert (host, status, body) == (host, 200, b"via vhost")
    # any host whose first label is an existing bucket
    status, _, body = raw(hydrant, "GET", "/dir/obj.txt", headers={"Host": "vhost.example.test"})
    assert (status, body) == (200, b"via vhost")
    # path style through localhost and an IP still works
    for host in ["localhost:%d" % port, "127.0.0.1:%d" % port, "s3.amazonaws.com"]:
        status, _, body = raw(hydrant, "GET", "/vhost/dir/obj.txt", headers={"Host": host})
        assert (host, status, body) == (host, 200, b"via vhost")
    # a dotted bucket name that itself looks like an S3 endpoint label
    c.create_bucket(Bucket="data.s3-like")
    status, _, body = raw(hydrant, "GET", "/?list-type=2",
                          headers={"Host": "data.s3-like.s3.eu-west-1.amazonaws.com"})
    assert status == 200
    assert ET.fromstring(body).find(NS + "Name").text == "data.s3-like"
    status, _, body = raw(hydrant, "GET", "/?list-type=2",
                          headers={"Host": "vhost.localhost:%d" % port})
    root = ET.fromstring(body)
    assert root.find(NS + "Name").text == "vhost"
    assert root.find(NS + "Contents/" + NS + "Key").text == "dir/obj.txt"


def test_virtual_host_style_boto3(hydrant):
    """boto3 with addressing_style=virtual against http://localhost:PORT sends
    Host: <bucket>.localhost:PORT. Such names do not resolve on every
    machine, so the connection is pointed at 127.0.0.1 while the Host header
    (what the server sees) stays virtual-host style."""
    c = boto3.client("s3", endpoint_url="http://localhost:%d" % hydrant.port,
                     region_name="us-east-1", aws_access_key_id="test",
                     aws_secret_access_key="test",
                     config=Config(s3={"addressing_style": "virtual"},
                                   retries={"max_attempts": 1}))
    hosts = []

    def to_loopback(request, **kw):
        from urllib.parse import urlsplit, urlunsplit
        u = urlsplit(request.url)
        hosts.append(u.netloc)
        request.headers["Host"] = u.netloc
        request.url = urlunsplit((u.scheme, "127.0.0.1:%d" % hydrant.port, u.path,
                                  u.query, u.fragment))
    c.meta.events.register("before-send.s3", to_loopback)
    c.create_bucket(Bucket="virt")
    c.put_object(Bucket="virt", Key="k/1", Body=b"one")
    assert c.get_object(Bucket="virt", Key="k/1")["Body"].read() == b"one"
    assert [o["Key"] for o in c.list_objects_v2(Bucket="virt")["Contents"]] == ["k/1"]
    assert "virt.localhost:%d" % hydrant.port in hosts
    # and path style sees the same data
    assert s3(hydrant).get_object(Bucket="virt", Key="k/1")["Body"].read() == b"one"


# ---- persistence and real consumers ----------------------------------------
def test_persistence_across_restart(hydrant):
    c = s3(hydrant)
    c.create_bucket(Bucket="durable",
                    CreateBucketConfiguration={"LocationConstraint": "eu-central-1"})
    c.put_object(Bucket="durable", Key="a/b", Body=b"survives", Metadata={"x": "y"})
    c.put_object(Bucket="durable", Key="gone", Body=b"deleted")
    c.delete_object(Bucket="durable", Key="gone")
    hydrant.restart()
    c = s3(hydrant)
    g = c.get_object(Bucket="durable", Key="a/b")
    assert g["Body"].read() == b"survives"
    assert g["Metadata"] == {"x": "y"}
    assert [o["Key"] for o in c.list_objects_v2(Bucket="durable")["Contents"]] == ["a/b"]
    assert c.get_bucket_location(Bucket="durable")["LocationConstraint"] == "eu-central-1"


def test_pandas_reads_object(hydrant):
    c = s3(hydrant)
    c.create_bucket(Bucket="frames")
    text = "alice 30 1.5\nbob 41 2.25\ncarol 25 -3\n"
    c.put_object(Bucket="frames", Key="people.txt", Body=text.encode(),
                 ContentType="text/plain")
    obj = c.get_object(Bucket="frames", Key="people.txt")
    df = pandas.read_csv(io.BytesIO(obj["Body"].read()), sep=" ",
                         names=["name", "age", "score"])
    assert list(df["name"]) == ["alice", "bob", "carol"]
    assert df["age"].sum() == 96
    assert df["score"].iloc[1] == 2.25


def aws_cli(hydrant, *args):
    env = dict(os.environ, AWS_ACCESS_KEY_ID="test", AWS_SECRET_ACCESS_KEY="test",
               AWS_DEFAULT_REGION="us-east-1", AWS_PAGER="",
               AWS_CONFIG_FILE="/dev/null", AWS_SHARED_CREDENTIALS_FILE="/dev/null")
    return subprocess.run(["/usr/bin/aws", "--endpoint-url", hydrant.endpoint, *args],
                          env=env, capture_output=True, timeout=120)


def test_aws_cli(hydrant, tmp_path):
    r = aws_cli(hydrant, "s3", "mb", "s3://cli-bucket")
    assert r.returncode == 0, r.stderr
    src = tmp_path / "upload.txt"
    src.write_bytes(b"from the aws cli\n")
    r = aws_cli(hydrant, "s3", "cp", str(src), "s3://cli-bucket/dir/upload.txt")
    assert r.returncode == 0, r.stderr
    r = aws_cli(hydrant, "s3", "ls", "s3://cli-bucket/dir/")
    assert r.returncode == 0, r.stderr
    assert b"upload.txt" in r.stdout
    r = aws_cli(hydrant, "s3api", "head-object", "--bucket", "cli-bucket",
                "--key", "dir/upload.txt")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["ContentLength"] == 17
    dst = tmp_path / "download.txt"
    r = aws_cli(hydrant, "s3", "cp", "s3://cli-bucket/dir/upload.txt", str(dst))
    assert r.returncode == 0, r.stderr
    assert dst.read_bytes() == b"from the aws cli\n"
    assert s3(hydrant).get_object(Bucket="cli-bucket",
                                  Key="dir/upload.txt")["Body"].read() == b"from the aws cli\n"
    r = aws_cli(hydrant, "s3api", "get-object", "--bucket", "cli-bucket", "--key", "nope",
                str(tmp_path / "x"))
    assert r.returncode != 0
    assert b"NoSuchKey" in r.stderr


# ---- wire details ----------------------------------------------------------
def test_error_document_and_head_without_body(hydrant):
    s3(hydrant).create_bucket(Bucket="wire")
    status, hdrs, body = raw(hydrant, "GET", "/wire/no/such%20key")
    assert status == 404
    assert hdrs["content-type"] == "application/xml"
    assert body.startswith(b'<?xml version="1.0" encoding="UTF-8"?>')
    root = ET.fromstring(body)
    assert root.tag == "Error"
    assert root.find("Code").text == "NoSuchKey"
    assert root.find("Key").text == "no/such key"
    assert root.find("Resource").text == "/wire/no/such key"
    assert root.find("RequestId").text == hdrs["x-amz-request-id"]
    status, hdrs, body = raw(hydrant, "GET", "/nowire/k")
    root = ET.fromstring(body)
    assert (status, root.find("Code").text, root.find("BucketName").text) == \
        (404, "NoSuchBucket", "nowire")
    status, hdrs, body = raw(hydrant, "HEAD", "/wire/missing")
    assert (status, body, hdrs.get("content-length")) == (404, b"", "0")
    status, hdrs, body = raw(hydrant, "GET", "/wire/bad%zzescape")
    assert status == 400
    assert ET.fromstring(body).find("Code").text == "InvalidURI"
    # empty object: HEAD says 0, GET gives nothing
    s3(hydrant).put_object(Bucket="wire", Key="empty", Body=b"")
    status, hdrs, body = raw(hydrant, "HEAD", "/wire/empty")
    assert (status, hdrs["content-length"]) == (200, "0")
    assert hdrs["etag"] == '"d41d8cd98f00b204e9800998ecf8427e"'
    status, hdrs, body = raw(hydrant, "GET", "/wire/empty")
    assert (status, body) == (200, b"")


def test_aws_chunked_upload(hydrant):
    """Newer SDKs and Fluent Bit send aws-chunked bodies; the stored object
    is the decoded payload."""
    s3(hydrant).create_bucket(Bucket="chunks")
    payload = b"first chunk|" + b"second" * 2000
    hdrs, body = aws_chunked(hydrant, "/chunks/obj", payload, chunk=8192)
    status, rh, _ = raw(hydrant, "PUT", "/chunks/obj", body, hdrs, sign=False)
    assert status == 200
    assert rh["etag"] == '"%s"' % hashlib.md5(payload).hexdigest()
    assert s3(hydrant).get_object(Bucket="chunks", Key="obj")["Body"].read() == payload
    # one chunk's bytes changed: its signature no longer matches
    tampered = body.replace(b"second", b"SECOND", 1)
    status, _, resp = raw(hydrant, "PUT", "/chunks/obj", tampered, hdrs, sign=False)
    assert status == 403
    assert ET.fromstring(resp).find("Code").text == "SignatureDoesNotMatch"
    # a large upload (spooled to disk) is checked chunk by chunk too
    big = os.urandom(3 << 20)
    hdrs, body = aws_chunked(hydrant, "/chunks/big", big, chunk=65536)
    status, rh, _ = raw(hydrant, "PUT", "/chunks/big", body, hdrs, sign=False)
    assert status == 200
    assert s3(hydrant).get_object(Bucket="chunks", Key="big")["Body"].read() == big
    at = body.index(b"\r\n", len(body) // 2) + 2  # inside a chunk's data
    tampered = body[:at] + bytes([body[at] ^ 1]) + body[at + 1:]
    status, _, resp = raw(hydrant, "PUT", "/chunks/big", tampered, hdrs, sign=False)
    assert status == 403
    assert ET.fromstring(resp).find("Code").text == "SignatureDoesNotMatch"
    assert s3(hydrant).get_object(Bucket="chunks", Key="big")["Body"].read() == big
    # a declared length that the chunks do not add up to
    hdrs, body = aws_chunked(hydrant, "/chunks/bad", payload, chunk=8192,
                             decoded=len(payload) + 1)
    status, _, resp = raw(hydrant, "PUT", "/chunks/bad", body, hdrs, sign=False)
    assert status == 400
    assert ET.fromstring(resp).find("Code").text == "IncompleteBody"
    hdrs = {k: v for k, v in hdrs.items() if k.lower() != "content-length"}
    status, _, _ = raw(hydrant, "PUT", "/chunks/bad", b"zz\r\nnot chunked", hdrs, sign=False)
    assert status in (400, 403)


def test_aws_chunked_replay_with_new_framing(hydrant):
    """A captured, validly signed aws-chunked PUT replayed with its chunks
    re-framed (a signature extension spoiled, the bytes swapped for
    others): the one decoder refuses it, and the stored object is the one
    the owner wrote. Before, a framing the signature check called
    malformed went on to s3.c, whose own decoder skipped the signatures."""
    c = s3(hydrant)
    c.create_bucket(Bucket="replay")
    payload = b"A" * 9000
    for spooled in (False, True):
        key = "big" if spooled else "small"
        data = payload * (200 if spooled else 2)  # 1.8 MB: spooled to disk
        hdrs, body = aws_chunked(hydrant, "/replay/" + key, data, chunk=8192)
        status, _, _ = raw(hydrant, "PUT", "/replay/" + key, body, hdrs, sign=False)
        assert status == 200
        # chunk 2: ";chunk-signature=<sig>" replaced, its data replaced
        first = body.index(b"\r\n", body.index(b"\r\n") + 2 + 8192) + 2
        head_end = body.index(b"\r\n", first)
        forged = (body[:first] + b"2000;chunk-signature=zz" + b" " * 62 + b"\r\n" +
                  b"B" * 8192 + body[head_end + 2 + 8192:])
        assert len(forged) == len(body)
        status, _, resp = raw(hydrant, "PUT", "/replay/" + key, forged, hdrs, sign=False)
        assert status == 400, resp
        assert ET.fromstring(resp).find("Code").text == "IncompleteBody"
        # the same bytes with the framing intact: the chunk signature says no
        forged = body[:head_end + 2] + b"B" * 8192 + body[head_end + 2 + 8192:]
        status, _, resp = raw(hydrant, "PUT", "/replay/" + key, forged, hdrs, sign=False)
        assert status == 403
        assert ET.fromstring(resp).find("Code").text == "SignatureDoesNotMatch"
        assert c.get_object(Bucket="replay", Key=key)["Body"].read() == data
    # aws-chunked framing under an ordinary payload hash: nobody decodes it,
    # so it is refused instead of stored with its framing
    status, _, resp = raw(hydrant, "PUT", "/replay/plain", b"5\r\nhello\r\n0\r\n\r\n",
                          {"Content-Encoding": "aws-chunked"})
    assert status == 400
    assert ET.fromstring(resp).find("Code").text == "InvalidArgument"
    assert b"STREAMING" in resp
    with pytest.raises(ClientError):
        c.head_object(Bucket="replay", Key="plain")


def test_aws_chunked_unsigned_trailer_checksum(hydrant):
    """STREAMING-UNSIGNED-PAYLOAD-TRAILER (what newer SDKs send over TLS):
    the chunks carry no signatures, so the declared checksum trailer is
    the payload's integrity; it is computed and compared, in memory and
    spooled, and a payload that does not match it is refused."""
    import base64
    import zlib
    c = s3(hydrant)
    c.create_bucket(Bucket="trail")

    def body_of(data, chunk, crc):
        out = b""
        for i in range(0, len(data), chunk):
            piece = data[i:i + chunk]
            out += b"%x\r\n%s\r\n" % (len(piece), piece)
        return out + b"0\r\nx-amz-checksum-crc32:%s\r\n\r\n" % base64.b64encode(
            crc.to_bytes(4, "big"))

    for key, data in (("small", b"trailer " * 1000), ("big", os.urandom(2 << 20))):
        crc = zlib.crc32(data)
        hdrs = {"x-amz-content-sha256": "STREAMING-UNSIGNED-PAYLOAD-TRAILER",
                "Content-Encoding": "aws-chunked", "x-amz-trailer": "x-amz-checksum-crc32",
                "x-amz-decoded-content-length": str(len(data))}
        status, _, resp = raw(hydrant, "PUT", "/trail/" + key, body_of(data, 65536, crc), hdrs)
        assert status == 200, resp
        assert c.get_object(Bucket="trail", Key=key)["Body"].read() == data
        # one payload byte changed in transit, the trailer as sent
        bad = bytes([data[0] ^ 1]) + data[1:]
        status, _, resp = raw(hydrant, "PUT", "/trail/" + key, body_of(bad, 65536, crc), hdrs)
        assert status == 400, resp
        assert ET.fromstring(resp).find("Code").text == "BadDigest"
        # the checksum left out
        body = body_of(data, 65536, crc)
        body = body[:body.index(b"x-amz-checksum")] + b"\r\n"
        status, _, resp = raw(hydrant, "PUT", "/trail/" + key, body, hdrs)
        assert status == 400, resp
        assert ET.fromstring(resp).find("Code").text == "IncompleteBody"
        assert c.get_object(Bucket="trail", Key=key)["Body"].read() == data


def test_concurrent_writers(make_hydrant):
    """Several HTTP threads writing, overwriting and listing at once."""
    import concurrent.futures
    h = make_hydrant("--threads", "4")
    s3(h).create_bucket(Bucket="busy")

    def work(t):
        c = s3(h)
        for i in range(15):
            key = "t%d/k%02d" % (t, i)
            c.put_object(Bucket="busy", Key=key, Body=key.encode())
            c.put_object(Bucket="busy", Key="shared", Body=b"%d-%d" % (t, i))
            assert c.get_object(Bucket="busy", Key=key)["Body"].read() == key.encode()
            c.list_objects_v2(Bucket="busy", Prefix="t%d/" % t)
        return t

    with concurrent.futures.ThreadPoolExecutor(8) as ex:
        assert sorted(ex.map(work, range(8))) == list(range(8))
    c = s3(h)
    keys = [o["Key"] for p in c.get_paginator("list_objects_v2").paginate(Bucket="busy")
            for o in p.get("Contents", [])]
    assert len(keys) == 8 * 15 + 1
    # one file per live object: replaced versions were removed
    objdir = os.path.join(h.data_dir, "store", "objects")
    nfiles = sum(len(files) for _, _, files in os.walk(objdir))
    assert nfiles == 8 * 15 + 1


def test_hostile_inputs_get_errors_not_crashes(hydrant):
    s3(hydrant).create_bucket(Bucket="hostile")
    s3(hydrant).put_object(Bucket="hostile", Key="k", Body=b"0123456789")
    deep = b"<Delete>" + b"<a>" * 5000 + b"</a>" * 5000 + b"</Delete>"
    bomb = (b'<?xml version="1.0"?><!DOCTYPE d [<!ENTITY a "aaaaaaaaaa">'
            b'<!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">'
            b'<!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;">'
            b'<!ENTITY d "&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;">]>'
            b"<Delete><Object><Key>&d;&d;&d;&d;&d;&d;&d;</Key></Object></Delete>")
    for body in [deep, b"\x00\xff\xfe", b"<Delete>" + b"<Object><Key>x</Key></Object>" * 1001
                 + b"</Delete>", b"<Delete><Object></Object></Delete>"]:
        status, _, resp = raw(hydrant, "POST", "/hostile?delete", body)
        assert status == 400, resp
        assert ET.fromstring(resp).find("Code").text == "MalformedXML"
    status, _, _ = raw(hydrant, "POST", "/hostile?delete", bomb)
    assert status in (200, 400)
    status, _, resp = raw(hydrant, "PUT", "/hostile2", deep)
    assert status == 400
    for rng in ["bytes=", "bytes=-", "bytes=5-2", "bytes=99999999999999999999999-",
                "bytes=0-1,3-4", "bytes=--1", "bytes=a-b"]:
        status, _, body = raw(hydrant, "GET", "/hostile/k", headers={"Range": rng})
        assert status in (200, 416), rng
        if status == 200:
            assert body == b"0123456789"
    for path in ["/hostile/%", "/%zz", "/hostile/%00nul", "/" + "b" * 5000,
                 "/hostile/" + "k" * 3000, "/hostile?list-type=2&max-keys=-1",
                 "/hostile?list-type=2&max-keys=abc", "/hostile?list-type=3",
                 "/hostile?list-type=2&encoding-type=base64",
                 "/hostile?list-type=2&continuation-token=AA=="]:
        status, _, _ = raw(hydrant, "GET", path)
        assert 400 <= status < 500, path
    assert s3(hydrant).get_object(Bucket="hostile", Key="k")["Body"].read() == b"0123456789"
