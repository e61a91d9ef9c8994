"""The trust boundary, tried as an attacker would (issue 11).

Every operation in the router's own table (`hydrant --operations`) is sent
unsigned, with a wrong signature, and with every framing trick that once
got a request past authentication: oversized and u64-max Content-Length,
Expect: 100-continue, chunked transfer encoding, bad percent-escapes in
bucket, key and query, a virtual-host Host, a credential scope for another
service, a body swapped under a valid signature, replayed aws-chunked
bodies, UNSIGNED-PAYLOAD for APIs that sign their body, an unsigned
X-Amz-Target. Each answer must be a 4xx in the shape of the operation's API
(Firehose JSON with __type, S3 XML <Error>, IAM/STS <ErrorResponse>), must
not carry any of the data the server holds, and afterwards nothing may have
been written, listed or deleted (the whole state is compared).

A new operation in the table without a request template here fails
test_every_operation_has_a_template, so it cannot go uncovered.
"""
import hashlib
import json
import os
import socket
import subprocess
import xml.etree.ElementTree as ET

import pytest

from conftest import BIN, Hydrant, sign_headers, wait_active

SECRET_OBJECT = b"SECRET-OBJECT-CONTENT-4242"
BUCKET, KEY, STREAM, ROLE = "tb-bucket", "tb-key", "tb-stream", "tb-role"
USER, GROUP = "tb-user", "tb-group"
POLICY = "arn:aws:iam::000000000000:policy/tb-policy"
FUNCTION = "tb-function"


def operations():
    out = subprocess.run([BIN, "--operations"], check=True, capture_output=True).stdout
    return [json.loads(line) for line in out.decode().splitlines() if line.strip()]


ALL_OPS = operations()
# the unsigned rows -- the operator endpoints (GET /_hydrant/health,
# /_hydrant/ready), GET /_hydrant/metrics, the console and CORS preflights --
# are tried apart; every other row must refuse what follows
UNSIGNED_OPS = [o for o in ALL_OPS if o.get("unsigned")]
OPS = [o for o in ALL_OPS if not o.get("unsigned")]


# ---- what each operation's request looks like ---------------------------
def firehose_body(name):
    base = {"DeliveryStreamName": STREAM}
    extra = {
        "CreateDeliveryStream": {"DeliveryStreamName": "tb-new-stream",
                                 "S3DestinationConfiguration": {
                                     "RoleARN": "arn:aws:iam::000000000000:role/" + ROLE,
                                     "BucketARN": "arn:aws:s3:::" + BUCKET}},
        "ListDeliveryStreams": {},
        "PutRecord": {"Record": {"Data": "eA=="}},
        "PutRecordBatch": {"Records": [{"Data": "eA=="}]},
        "TagDeliveryStream": {"Tags": [{"Key": "k", "Value": "v"}]},
        "UntagDeliveryStream": {"TagKeys": ["keep"]},
        "UpdateDestination": {"CurrentDeliveryStreamVersionId": "1",
                              "DestinationId": "destinationId-000000000001",
                              "S3DestinationUpdate": {"Prefix": "changed/"}},
    }.get(name)
    if extra is not None:
        base = extra if name in ("CreateDeliveryStream", "ListDeliveryStreams") else \
            dict(base, **extra)
    return json.dumps(base).encode()


GLUE_DB, GLUE_TABLE = "tb_db", "tb_table"


def glue_body(name):
    table = {"Name": GLUE_TABLE, "StorageDescriptor": {"Columns": [
        {"Name": "evil", "Type": "string"}]}}
    return json.dumps({
        "CreateDatabase": {"DatabaseInput": {"Name": "tb_new_db"}},
        "GetDatabase": {"Name": GLUE_DB},
        "GetDatabases": {},
        "DeleteDatabase": {"Name": GLUE_DB},
        "CreateTable": {"DatabaseName": GLUE_DB, "TableInput": dict(table, Name="tb_new")},
        "GetTable": {"DatabaseName": GLUE_DB, "Name": GLUE_TABLE},
        "GetTables": {"DatabaseName": GLUE_DB},
        "UpdateTable": {"DatabaseName": GLUE_DB, "TableInput": table},
        "DeleteTable": {"DatabaseName": GLUE_DB, "Name": GLUE_TABLE},
        "GetTableVersion": {"DatabaseName": GLUE_DB, "TableName": GLUE_TABLE},
        "GetTableVersions": {"DatabaseName": GLUE_DB, "TableName": GLUE_TABLE},
    }[name]).encode()


IAM_PARAMS = {
    "AttachRolePolicy": "RoleName=%s&PolicyArn=arn:aws:iam::aws:policy/AdministratorAccess" % ROLE,
    "CreateRole": "RoleName=tb-new-role&AssumeRolePolicyDocument=%7B%7D",
    "DeleteRole": "RoleName=" + ROLE,
    "DeleteRolePolicy": "RoleName=%s&PolicyName=inline" % ROLE,
    "DetachRolePolicy": "RoleName=%s&PolicyArn=arn:aws:iam::aws:policy/ReadOnlyAccess" % ROLE,
    "GetRole": "RoleName=" + ROLE,
    "GetRolePolicy": "RoleName=%s&PolicyName=inline" % ROLE,
    "ListAttachedRolePolicies": "RoleName=" + ROLE,
    "ListRolePolicies": "RoleName=" + ROLE,
    "ListRoleTags": "RoleName=" + ROLE,
    "ListRoles": "",
    "PutRolePolicy": "RoleName=%s&PolicyName=evil&PolicyDocument=%%7B%%7D" % ROLE,
    "TagRole": "RoleName=%s&Tags.member.1.Key=k&Tags.member.1.Value=v" % ROLE,
    "UntagRole": "RoleName=%s&TagKeys.member.1=keep" % ROLE,
    "UpdateAssumeRolePolicy": "RoleName=%s&PolicyDocument=%%7B%%7D" % ROLE,
    "UpdateRole": "RoleName=%s&Description=pwned" % ROLE,
    "GetCallerIdentity": "",
    "AssumeRole": "RoleArn=arn:aws:iam::000000000000:role/%s&RoleSessionName=evil" % ROLE,
    "GetSessionToken": "",
    "AddUserToGroup": "GroupName=%s&UserName=%s" % (GROUP, USER),
    "AttachGroupPolicy": "GroupName=%s&PolicyArn=arn:aws:iam::aws:policy/AdministratorAccess" % GROUP,
    "AttachUserPolicy": "UserName=%s&PolicyArn=arn:aws:iam::aws:policy/AdministratorAccess" % USER,
    "CreateAccessKey": "UserName=" + USER,
    "CreateGroup": "GroupName=tb-new-group",
    "CreatePolicy": "PolicyName=tb-new-policy&PolicyDocument=%7B%7D",
    "CreatePolicyVersion": "PolicyArn=%s&PolicyDocument=%%7B%%7D&SetAsDefault=true" % POLICY,
    "CreateUser": "UserName=tb-new-user",
    "DeleteAccessKey": "UserName=%s&AccessKeyId=AKIAAAAAAAAAAAAAAAAA" % USER,
    "DeleteGroup": "GroupName=" + GROUP,
    "DeleteGroupPolicy": "GroupName=%s&PolicyName=inline" % GROUP,
    "DeletePolicy": "PolicyArn=" + POLICY,
    "DeletePolicyVersion": "PolicyArn=%s&VersionId=v1" % POLICY,
    "DeleteUser": "UserName=" + USER,
    "DeleteUserPolicy": "UserName=%s&PolicyName=inline" % USER,
    "DetachGroupPolicy": "GroupName=%s&PolicyArn=%s" % (GROUP, POLICY),
    "DetachUserPolicy": "UserName=%s&PolicyArn=%s" % (USER, POLICY),
    "GetAccessKeyLastUsed": "AccessKeyId=AKIAAAAAAAAAAAAAAAAA",
    "GetGroup": "GroupName=" + GROUP,
    "GetGroupPolicy": "GroupName=%s&PolicyName=inline" % GROUP,
    "GetPolicy": "PolicyArn=" + POLICY,
    "GetPolicyVersion": "PolicyArn=%s&VersionId=v1" % POLICY,
    "GetUser": "UserName=" + USER,
    "GetUserPolicy": "UserName=%s&PolicyName=inline" % USER,
    "ListAccessKeys": "UserName=" + USER,
    "ListAttachedGroupPolicies": "GroupName=" + GROUP,
    "ListAttachedUserPolicies": "UserName=" + USER,
    "ListGroupPolicies": "GroupName=" + GROUP,
    "ListGroups": "",
    "ListGroupsForUser": "UserName=" + USER,
    "ListPolicies": "Scope=Local",
    "ListPolicyVersions": "PolicyArn=" + POLICY,
    "ListUserPolicies": "UserName=" + USER,
    "ListUserTags": "UserName=" + USER,
    "ListUsers": "",
    "PutGroupPolicy": "GroupName=%s&PolicyName=evil&PolicyDocument=%%7B%%7D" % GROUP,
    "PutUserPolicy": "UserName=%s&PolicyName=evil&PolicyDocument=%%7B%%7D" % USER,
    "RemoveUserFromGroup": "GroupName=%s&UserName=%s" % (GROUP, USER),
    "SetDefaultPolicyVersion": "PolicyArn=%s&VersionId=v1" % POLICY,
    "SimulateCustomPolicy": "PolicyInputList.member.1=%7B%7D&ActionNames.member.1=s3%3AGetObject",
    "SimulatePrincipalPolicy": "PolicySourceArn=arn:aws:iam::000000000000:user/%s"
                               "&ActionNames.member.1=s3%%3AGetObject" % USER,
    "TagUser": "UserName=%s&Tags.member.1.Key=k&Tags.member.1.Value=v" % USER,
    "UntagUser": "UserName=%s&TagKeys.member.1=keep" % USER,
    "UpdateAccessKey": "UserName=%s&AccessKeyId=AKIAAAAAAAAAAAAAAAAA&Status=Inactive" % USER,
    "UpdateUser": "UserName=%s&NewUserName=tb-renamed" % USER,
}

def lambda_zip(body):
    import io
    import zipfile
    b = io.BytesIO()
    with zipfile.ZipFile(b, "w") as z:
        z.writestr("app.py", body)
    return b.getvalue()


# Lambda: (path under /2015-03-31/functions, body)
LAMBDA_REQS = {
    "CreateFunction": ("", lambda: json.dumps({
        "FunctionName": "tb-new-function", "Runtime": "python3.11",
        "Role": "arn:aws:iam::000000000000:role/" + ROLE, "Handler": "app.handler",
        "Code": {"ZipFile": __import__("base64").b64encode(
            lambda_zip("def handler(e, c):\n    return 'pwned'\n")).decode()}}).encode()),
    "DeleteFunction": ("/" + FUNCTION, lambda: b""),
    "GetFunction": ("/" + FUNCTION, lambda: b""),
    "GetFunctionConfiguration": ("/%s/configuration" % FUNCTION, lambda: b""),
    "Invoke": ("/%s/invocations" % FUNCTION, lambda: b'{"tb": "attacker"}'),
    "ListFunctions": ("/", lambda: b""),
    "UpdateFunctionConfiguration": ("/%s/configuration" % FUNCTION, lambda: json.dumps({
        "Handler": "app.pwned", "Environment": {"Variables": {"PWNED": "1"}}}).encode()),
    "UpdateFunctionCode": ("/%s/code" % FUNCTION, lambda: json.dumps({
        "ZipFile": __import__("base64").b64encode(
            lambda_zip("def handler(e, c):\n    return 'pwned'\n")).decode()}).encode()),
}

CW_PARAMS = {  # issue 17
    "GetMetricStatistics": "Namespace=AWS%2FFirehose&MetricName=IncomingRecords"
                           "&Dimensions.member.1.Name=DeliveryStreamName"
                           "&Dimensions.member.1.Value=" + STREAM +
                           "&StartTime=2026-01-01T00%3A00%3A00Z&EndTime=2030-01-01T00%3A00%3A00Z"
                           "&Period=86400&Statistics.member.1=Sum",
    "GetMetricData": "MetricDataQueries.member.1.Id=m"
                     "&MetricDataQueries.member.1.MetricStat.Metric.Namespace=AWS%2FFirehose"
                     "&MetricDataQueries.member.1.MetricStat.Metric.MetricName=IncomingRecords"
                     "&MetricDataQueries.member.1.MetricStat.Period=60"
                     "&MetricDataQueries.member.1.MetricStat.Stat=Sum"
                     "&StartTime=2026-01-01T00%3A00%3A00Z&EndTime=2030-01-01T00%3A00%3A00Z",
    "ListMetrics": "Namespace=AWS%2FFirehose",
}
LOGS_PARAMS = {  # issue 17
    "CreateLogGroup": {"logGroupName": "tb-new-group"},
    "CreateLogStream": {"logGroupName": "tb-group", "logStreamName": "tb-new-stream"},
    "DeleteLogGroup": {"logGroupName": "tb-group"},
    "DescribeLogGroups": {},
    "DescribeLogStreams": {"logGroupName": "tb-group"},
    "FilterLogEvents": {"logGroupName": "tb-group"},
    "GetLogEvents": {"logGroupName": "tb-group", "logStreamName": "tb-log"},
    "PutLogEvents": {"logGroupName": "tb-group", "logStreamName": "tb-log",
                     "logEvents": [{"timestamp": 1, "message": "forged"}]},
}

S3_BODIES = {
    "DeleteObjects": b"<Delete><Object><Key>%s</Key></Object></Delete>" % KEY.encode(),
    "CompleteMultipartUpload": b"<CompleteMultipartUpload><Part><PartNumber>1</PartNumber>"
                               b"<ETag>\"x\"</ETag></Part></CompleteMultipartUpload>",
    "PutObjectTagging": b"<Tagging><TagSet><Tag><Key>k</Key><Value>v</Value></Tag>"
                        b"</TagSet></Tagging>",
    "CreateBucket": b"<CreateBucketConfiguration><LocationConstraint>eu-west-1"
                    b"</LocationConstraint></CreateBucketConfiguration>",
    "PutObject": b"overwritten by an attacker",
    "PutBucketCors": b"<CORSConfiguration><CORSRule><AllowedOrigin>*</AllowedOrigin>"
                     b"<AllowedMethod>DELETE</AllowedMethod></CORSRule></CORSConfiguration>",
    "UploadPart": b"part by an attacker",
    "PutBucketPolicy": json.dumps({"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": "*", "Action": "s3:GetObject",
        "Resource": "arn:aws:s3:::%s/*" % BUCKET}]}).encode(),
}


class Req:
    def __init__(self, api, method, path, headers, body, service):
        self.api, self.method, self.path = api, method, path
        self.headers, self.body, self.service = dict(headers), body, service

    def copy(self, **kw):
        r = Req(self.api, self.method, self.path, self.headers, self.body, self.service)
        for k, v in kw.items():
            setattr(r, k, v)
        return r


def template(op, upload_id):
    api, name = op["api"], op["name"]
    if api == "firehose":
        return Req(api, "POST", "/", {"Content-Type": "application/x-amz-json-1.1",
                                      "X-Amz-Target": "Firehose_20150804." + name},
                   firehose_body(name), "firehose")
    if api == "glue":
        return Req(api, "POST", "/", {"Content-Type": "application/x-amz-json-1.1",
                                      "X-Amz-Target": "AWSGlue." + name},
                   glue_body(name), "glue")
    if api == "lambda":
        sub, body = LAMBDA_REQS[name]
        return Req(api, op["method"], "/2015-03-31/functions" + sub,
                   {"Content-Type": "application/json"}, body(), "lambda")
    if api == "cloudwatch":  # issue 17: Query protocol, scope "monitoring"
        body = "Action=%s&Version=2010-08-01&%s" % (name, CW_PARAMS[name])
        return Req(api, "POST", "/", {"Content-Type": "application/x-www-form-urlencoded"},
                   body.encode(), "monitoring")
    if api == "logs":  # issue 17: JSON 1.1, X-Amz-Target Logs_20140328.<name>
        return Req(api, "POST", "/", {"Content-Type": "application/x-amz-json-1.1",
                                      "X-Amz-Target": "Logs_20140328." + name},
                   json.dumps(LOGS_PARAMS[name]).encode(), "logs")
    if api in ("iam", "sts"):
        version = "2011-06-15" if api == "sts" else "2010-05-08"
        params = IAM_PARAMS[name]
        body = ("Action=%s&Version=%s" % (name, version) + ("&" + params if params else ""))
        return Req(api, "POST", "/", {"Content-Type": "application/x-www-form-urlencoded"},
                   body.encode(), api)
    assert api == "s3"
    path = {"service": "/", "bucket": "/" + BUCKET,
            "object": "/%s/%s" % (BUCKET, KEY)}[op["level"]]
    if name == "CreateBucket":
        path = "/tb-new-bucket"
    sub = op["sub"]
    if sub == "uploadId":
        path += "?uploadId=%s" % upload_id + ("&partNumber=1" if name.startswith("UploadPart")
                                              else "")
    elif sub == "list-type":
        path += "?list-type=2"
    elif sub:
        path += "?" + sub
    headers = {}
    if op["copy"]:
        headers["x-amz-copy-source"] = "/%s/%s" % (BUCKET, KEY)
    return Req(api, op["method"], path, headers, S3_BODIES.get(name, b""), "s3")


def test_every_operation_has_a_template():
    names = {(o["api"], o["name"]) for o in OPS}
    assert len(names) == len(OPS), "an operation is listed twice"
    for o in OPS:
        if o["api"] in ("iam", "sts"):
            assert o["name"] in IAM_PARAMS, "no request template for %s" % o["name"]
        if o["api"] == "glue":
            assert glue_body(o["name"]), "no request template for %s" % o["name"]
        if o["api"] == "cloudwatch":
            assert o["name"] in CW_PARAMS, "no request template for %s" % o["name"]
        if o["api"] == "logs":
            assert o["name"] in LOGS_PARAMS, "no request template for %s" % o["name"]
        assert o["api"] in ("firehose", "s3", "iam", "sts", "glue", "lambda", "cloudwatch",
                            "logs"), o
        if o["api"] == "s3":
            assert o["level"] in ("service", "bucket", "object")
        if o["api"] == "lambda":
            assert o["name"] in LAMBDA_REQS, "no request template for %s" % o["name"]
        if o["body"] != "none" and o["api"] == "s3":
            assert o["name"] in S3_BODIES, "no body template for %s" % o["name"]
    # the APIs are all there
    assert {o["api"] for o in OPS} >= {"firehose", "s3", "iam", "sts", "glue"}


# ---- raw requests ----------------------------------------------------------
def send(h, method, path, headers, body=b"", chunked_te=False, raw_body=None, source=None):
    """One request on a fresh socket; the body is sent after the headers
    unless the server has already answered and closed. Returns (status,
    headers, body) of the final (non-1xx) answer."""
    s = socket.create_connection(("127.0.0.1", h.port), timeout=10,
                                 source_address=(source, 0) if source else None)
    try:
        lines = ["%s %s HTTP/1.1" % (method, path)]
        hdrs = {k.lower(): (k, v) for k, v in headers.items()}
        if "host" not in hdrs:
            lines.append("Host: 127.0.0.1:%d" % h.port)
        for k, v in headers.items():
            lines.append("%s: %s" % (k, v))
        if chunked_te:
            lines.append("Transfer-Encoding: chunked")
        elif "content-length" not in hdrs:
            lines.append("Content-Length: %d" % len(body))
        s.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        payload = raw_body if raw_body is not None else (
            b"%x\r\n%s\r\n0\r\n\r\n" % (len(body), body) if chunked_te and body
            else b"0\r\n\r\n" if chunked_te else body)
        try:
            if payload:
                s.sendall(payload)
        except (BrokenPipeError, ConnectionResetError):
            pass
        return read_answer(s, method)
    finally:
        s.close()


def read_answer(s, method):
    data = b""
    while True:
        while b"\r\n\r\n" not in data:
            chunk = s.recv(65536)
            if not chunk:
                raise AssertionError("connection closed without an answer: %r" % data[:200])
            data += chunk
        head, _, rest = data.partition(b"\r\n\r\n")
        status = int(head.split(b" ", 2)[1])
        headers = {}
        for line in head.split(b"\r\n")[1:]:
            k, _, v = line.decode("latin-1").partition(":")
            headers[k.strip().lower()] = v.strip()
        if 100 <= status < 200:
            data = rest
            continue
        n = 0 if method == "HEAD" else int(headers.get("content-length", "0"))
        while len(rest) < n:
            chunk = s.recv(65536)
            if not chunk:
                break
            rest += chunk
        return status, headers, rest[:n]


def signed(h, r, secret="test", service=None, declared_sha=None, extra_unsigned=None):
    """r's headers signed with botocore's signer (service overrides the scope)."""
    hdrs = dict(r.headers)
    if declared_sha:
        hdrs["x-amz-content-sha256"] = declared_sha
    out = sign_headers(h, r.method, r.path, r.body, hdrs, service or r.service,
                       secret_key=secret)
    if extra_unsigned:
        out.update(extra_unsigned)
    return out


# ---- what must hold for every answer ------------------------------------
def assert_refused(r, status, headers, body, trick):
    where = "%s %s %s [%s]: %d %r" % (r.api, r.method, r.path[:60], trick, status, body[:300])
    assert 400 <= status < 500, where
    for marker in (SECRET_OBJECT, b"tb-stream", b"tb-role", b"ListAllMyBucketsResult",
                   b"<Contents>", b"DeliveryStreamNames", b"tb_table", b"DatabaseList",
                   b"tb-function", b"TB-SECRET-RESULT"):
        assert marker not in body, where
    if r.method == "HEAD":
        assert body == b"", where
        return
    if r.api in ("firehose", "glue", "logs"):
        doc = json.loads(body)
        assert doc.get("__type") and ("message" in doc or "Message" in doc), where
        assert headers.get("x-amzn-errortype") == doc["__type"], where
    elif r.api == "lambda":
        # Lambda's REST-JSON shape: x-amzn-ErrorType, {"Type":..,"message":..}
        doc = json.loads(body)
        assert headers.get("x-amzn-errortype") and "message" in doc and doc.get("Type"), where
    elif r.api == "s3":
        root = ET.fromstring(body)
        assert root.tag == "Error" and root.find("Code").text, where
    else:
        root = ET.fromstring(body)
        for e in root.iter():  # IAM's own answers carry its namespace
            e.tag = e.tag.split("}")[-1]
        assert root.tag == "ErrorResponse" and root.find("Error/Code").text, where


# ---- the state that must not change --------------------------------------
def snapshot(h):
    s3, fh, iam = h.client("s3"), h.client("firehose"), h.client("iam")
    state = {"buckets": sorted(b["Name"] for b in s3.list_buckets()["Buckets"])}
    for b in state["buckets"]:
        objs = s3.list_objects_v2(Bucket=b).get("Contents", [])
        state["objects/" + b] = sorted((o["Key"], o["ETag"], o["Size"]) for o in objs)
        ups = s3.list_multipart_uploads(Bucket=b).get("Uploads", [])
        state["uploads/" + b] = sorted(u["UploadId"] for u in ups)
        try:  # issue 17: bucket CORS is state too
            state["cors/" + b] = s3.get_bucket_cors(Bucket=b)["CORSRules"]
        except s3.exceptions.ClientError as e:
            state["cors/" + b] = e.response["Error"]["Code"]
        for o in objs:
            tags = s3.get_object_tagging(Bucket=b, Key=o["Key"])["TagSet"]
            state["tags/%s/%s" % (b, o["Key"])] = tags
    for up in state.get("uploads/" + BUCKET, []):
        parts = s3.list_parts(Bucket=BUCKET, Key=KEY, UploadId=up).get("Parts", [])
        state["parts/" + up] = [(p["PartNumber"], p["ETag"]) for p in parts]
    names = fh.list_delivery_streams()["DeliveryStreamNames"]
    state["streams"] = sorted(names)
    for n in names:
        d = fh.describe_delivery_stream(DeliveryStreamName=n)["DeliveryStreamDescription"]
        state["stream/" + n] = (d["VersionId"], d["DeliveryStreamStatus"],
                                json.dumps(d["Destinations"], sort_keys=True, default=str))
        state["tags/" + n] = fh.list_tags_for_delivery_stream(DeliveryStreamName=n)["Tags"]
    glue = h.client("glue")
    for db in glue.get_databases()["DatabaseList"]:
        state["glue/" + db["Name"]] = json.dumps(db, sort_keys=True, default=str)
        for t in glue.get_tables(DatabaseName=db["Name"])["TableList"]:
            vs = glue.get_table_versions(DatabaseName=db["Name"], TableName=t["Name"])
            state["glue/%s/%s" % (db["Name"], t["Name"])] = json.dumps(
                vs["TableVersions"], sort_keys=True, default=str)
    lam = h.client("lambda")
    fns = lam.list_functions()["Functions"]
    state["functions"] = sorted((f["FunctionName"], f["CodeSha256"], f["RevisionId"])
                                for f in fns)
    # an invocation that ran would bump the function's counter
    for f in fns:
        out = lam.invoke(FunctionName=f["FunctionName"], Payload=b'{"peek": true}')
        state["invocations/" + f["FunctionName"]] = json.loads(out["Payload"].read())
    roles = iam.list_roles()["Roles"]
    state["roles"] = sorted((r["RoleName"], r.get("Description", "")) for r in roles)
    for r in roles:
        n = r["RoleName"]
        state["role/" + n] = (
            json.dumps(iam.get_role(RoleName=n)["Role"]["AssumeRolePolicyDocument"],
                       sort_keys=True),
            sorted(iam.list_role_policies(RoleName=n)["PolicyNames"]),
            sorted(p["PolicyArn"] for p in
                   iam.list_attached_role_policies(RoleName=n)["AttachedPolicies"]),
            iam.list_role_tags(RoleName=n)["Tags"])
    users = iam.list_users()["Users"]
    state["users"] = sorted(u["UserName"] for u in users)
    for u in users:
        n = u["UserName"]
        state["user/" + n] = (
            sorted(iam.list_user_policies(UserName=n)["PolicyNames"]),
            sorted(p["PolicyArn"] for p in
                   iam.list_attached_user_policies(UserName=n)["AttachedPolicies"]),
            sorted((k["AccessKeyId"], k["Status"]) for k in
                   iam.list_access_keys(UserName=n)["AccessKeyMetadata"]),
            sorted(g["GroupName"] for g in iam.list_groups_for_user(UserName=n)["Groups"]),
            iam.list_user_tags(UserName=n)["Tags"])
    groups = iam.list_groups()["Groups"]
    state["groups"] = sorted(g["GroupName"] for g in groups)
    for g in groups:
        n = g["GroupName"]
        state["group/" + n] = (
            sorted(iam.list_group_policies(GroupName=n)["PolicyNames"]),
            sorted(p["PolicyArn"] for p in
                   iam.list_attached_group_policies(GroupName=n)["AttachedPolicies"]),
            sorted(u["UserName"] for u in iam.get_group(GroupName=n)["Users"]))
    pols = iam.list_policies(Scope="Local")["Policies"]
    state["policies"] = sorted((p["Arn"], p["DefaultVersionId"]) for p in pols)
    for p in pols:
        state["versions/" + p["Arn"]] = sorted(
            v["VersionId"] for v in iam.list_policy_versions(PolicyArn=p["Arn"])["Versions"])
    for b in state["buckets"]:
        try:
            state["bucketpolicy/" + b] = s3.get_bucket_policy(Bucket=b)["Policy"]
        except s3.exceptions.ClientError as e:
            state["bucketpolicy/" + b] = e.response["Error"]["Code"]
    return state


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    h = Hydrant(str(tmp_path_factory.mktemp("tb") / "data"),
                ["--max-body", str(8 << 20), "--iam=default"])
    h.start()
    s3, fh, iam = h.client("s3"), h.client("firehose"), h.client("iam")
    s3.create_bucket(Bucket=BUCKET)
    s3.put_object(Bucket=BUCKET, Key=KEY, Body=SECRET_OBJECT)
    s3.put_bucket_cors(Bucket=BUCKET, CORSConfiguration={"CORSRules": [{
        "AllowedOrigins": ["https://keep.example"], "AllowedMethods": ["GET"]}]})
    s3.put_object_tagging(Bucket=BUCKET, Key=KEY,
                          Tagging={"TagSet": [{"Key": "keep", "Value": "1"}]})
    upload_id = s3.create_multipart_upload(Bucket=BUCKET, Key=KEY)["UploadId"]
    s3.upload_part(Bucket=BUCKET, Key=KEY, UploadId=upload_id, PartNumber=1,
                   Body=b"original part")
    iam.create_role(RoleName=ROLE, AssumeRolePolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{
            "Effect": "Allow", "Principal": {"Service": "firehose.amazonaws.com"},
            "Action": "sts:AssumeRole"}]}))
    iam.put_role_policy(RoleName=ROLE, PolicyName="inline", PolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:*",
                                                "Resource": "*"}]}))
    iam.tag_role(RoleName=ROLE, Tags=[{"Key": "keep", "Value": "1"}])
    doc = json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Deny", "Action": "*",
                                                            "Resource": "*"}]})
    iam.create_user(UserName=USER, Tags=[{"Key": "keep", "Value": "1"}])
    iam.create_group(GroupName=GROUP)
    iam.add_user_to_group(GroupName=GROUP, UserName=USER)
    iam.create_policy(PolicyName="tb-policy", PolicyDocument=doc)
    iam.attach_user_policy(UserName=USER, PolicyArn=POLICY)
    iam.attach_group_policy(GroupName=GROUP, PolicyArn=POLICY)
    iam.put_user_policy(UserName=USER, PolicyName="inline", PolicyDocument=doc)
    iam.put_group_policy(GroupName=GROUP, PolicyName="inline", PolicyDocument=doc)
    iam.create_access_key(UserName=USER)
    h.client("lambda").create_function(
        FunctionName=FUNCTION, Runtime="python3.11", Role="arn:aws:iam::000000000000:role/" + ROLE,
        Handler="app.handler", Code={"ZipFile": lambda_zip(
            "n = 0\n"
            "def handler(e, c):\n"
            "    global n\n"
            "    if not e.get('peek'):\n"
            "        n += 1\n"
            "    return {'invoked': n, 'secret': 'TB-SECRET-RESULT' if n else ''}\n")})
    fh.create_delivery_stream(
        DeliveryStreamName=STREAM, DeliveryStreamType="DirectPut",
        S3DestinationConfiguration={"RoleARN": "arn:aws:iam::000000000000:role/" + ROLE,
                                    "BucketARN": "arn:aws:s3:::" + BUCKET,
                                    "BufferingHints": {"SizeInMBs": 1,
                                                       "IntervalInSeconds": 900}},
        Tags=[{"Key": "keep", "Value": "1"}])
    wait_active(fh, STREAM)
    glue = h.client("glue")
    glue.create_database(DatabaseInput={"Name": GLUE_DB})
    glue.create_table(DatabaseName=GLUE_DB, TableInput={
        "Name": GLUE_TABLE, "StorageDescriptor": {"Columns": [{"Name": "a", "Type": "int"}]}})
    h.upload_id = upload_id
    h.before = snapshot(h)
    yield h
    alive = h.alive()
    h.stop()
    assert alive, "hydrant died:\n" + h.read_log()[-4000:]


def tricks(h, r, op):
    """(name, callable) pairs: each sends r with one trick and returns the answer."""
    out = []
    add = lambda name, fn: out.append((name, fn))
    add("unsigned", lambda: send(h, r.method, r.path, r.headers, r.body))
    add("wrong signature", lambda: send(h, r.method, r.path, signed(h, r, secret="wrong"),
                                        r.body))
    add("unknown key", lambda: send(h, r.method, r.path, {
        **signed(h, r), "Authorization": signed(h, r)["Authorization"].replace(
            "Credential=test/", "Credential=AKIANOTAKEY/")}, r.body))
    for cl in ("99999999999", "18446744073709551615"):
        add("unsigned, Content-Length %s" % cl, lambda cl=cl: send(
            h, r.method, r.path, {**r.headers, "Content-Length": cl}, r.body))
        add("wrong signature, Content-Length %s" % cl, lambda cl=cl: send(
            h, r.method, r.path, {**signed(h, r, secret="wrong"), "Content-Length": cl},
            r.body))
    add("unsigned, Expect: 100-continue", lambda: send(
        h, r.method, r.path, {**r.headers, "Expect": "100-continue"}, r.body))
    add("wrong signature, Expect: 100-continue", lambda: send(
        h, r.method, r.path, {**signed(h, r, secret="wrong"), "Expect": "100-continue"},
        r.body))
    add("unsigned, chunked transfer encoding", lambda: send(
        h, r.method, r.path, r.headers, r.body, chunked_te=True))
    add("wrong signature, chunked transfer encoding", lambda: send(
        h, r.method, r.path, {k: v for k, v in signed(h, r, secret="wrong").items()
                              if k.lower() != "content-length"}, r.body, chunked_te=True))
    # bad escapes in the path and the query
    bad_path = r.path.replace("/" + BUCKET, "/tb%zzbucket", 1) if BUCKET in r.path \
        else "/%zz" + r.path
    add("bad escape in bucket", lambda: send(h, r.method, bad_path, r.headers, r.body))
    add("bad escape, leading //", lambda: send(h, r.method, "//%zz", r.headers, r.body))
    if KEY in r.path:
        add("bad escape in key", lambda: send(
            h, r.method, r.path.replace(KEY, "tb%zz%4key", 1), r.headers, r.body))
    qpath = r.path + ("&" if "?" in r.path else "?") + "x=%zz"
    add("bad escape in query", lambda: send(h, r.method, qpath, r.headers, r.body))
    add("bad escape in query, wrong signature", lambda: send(
        h, r.method, qpath, signed(h, r.copy(path=qpath), secret="wrong"), r.body))
    # virtual-host style: the bucket in Host, the path without it
    if r.api == "s3" and r.path.startswith("/" + BUCKET):
        vpath = r.path[len("/" + BUCKET):] or "/"
        if vpath.startswith("?"):
            vpath = "/" + vpath
        vh = {**r.headers, "Host": "%s.localhost:%d" % (BUCKET, h.port)}
        add("virtual-host Host, unsigned", lambda: send(h, r.method, vpath, vh, r.body))
        add("virtual-host Host, path-style signature", lambda: send(
            h, r.method, vpath, {**signed(h, r), "Host": vh["Host"]}, r.body))
    # a credential scope for another service, correctly signed for it
    other = "iam" if r.service != "iam" else "firehose"
    add("scope for %s" % other, lambda: send(h, r.method, r.path,
                                               signed(h, r, service=other), r.body))
    if r.service != "s3":
        add("scope for s3", lambda: send(h, r.method, r.path, signed(h, r, service="s3"),
                                         r.body))
    # a body swapped under a valid signature
    if r.body:
        swapped = r.body.replace(b"tb-", b"tx-", 1) if b"tb-" in r.body else r.body + b" "
        add("swapped body", lambda: send(h, r.method, r.path, signed(h, r), swapped))
    if r.api == "s3" and op["body"] == "small":
        # S3 lets upload bytes go unsigned, never a body a handler parses
        add("UNSIGNED-PAYLOAD body without Content-MD5", lambda: send(
            h, r.method, r.path, signed(h, r, declared_sha="UNSIGNED-PAYLOAD"),
            r.body + b"<!-- swapped -->"))
        md5 = __import__("base64").b64encode(hashlib.md5(r.body).digest()).decode()
        add("UNSIGNED-PAYLOAD body, Content-MD5 of another body", lambda: send(
            h, r.method, r.path, signed(h, r.copy(headers={**r.headers, "Content-MD5": md5}),
                                        declared_sha="UNSIGNED-PAYLOAD"),
            r.body + b"<!-- swapped -->"))
    if r.api != "s3":
        add("UNSIGNED-PAYLOAD", lambda: send(
            h, r.method, r.path, signed(h, r, declared_sha="UNSIGNED-PAYLOAD"), r.body))
        add("STREAMING payload", lambda: send(
            h, r.method, r.path,
            signed(h, r, declared_sha="STREAMING-AWS4-HMAC-SHA256-PAYLOAD"), r.body))
    if r.api in ("firehose", "glue", "logs"):
        def unsigned_target():
            hdrs = signed(h, r.copy(headers={"Content-Type": r.headers["Content-Type"]}))
            hdrs["X-Amz-Target"] = r.headers["X-Amz-Target"]
            return send(h, r.method, r.path, hdrs, r.body)
        add("X-Amz-Target not signed", unsigned_target)
    return out


def replayed_chunks(h, r):
    """A validly signed aws-chunked upload whose chunk bytes were swapped."""
    from conftest import aws_chunked
    hdrs, body = aws_chunked(h, r.path, b"a" * 9000 + b"b" * 9000, chunk=9000)
    swapped = body.replace(b"b" * 9000, b"c" * 9000, 1)
    assert swapped != body
    return send(h, r.method, r.path, hdrs, raw_body=swapped)


def op_id(op):
    return "%s-%s" % (op["api"], op["name"])


@pytest.mark.parametrize("op", OPS, ids=op_id)
def test_refused_and_nothing_touched(server, op):
    r = template(op, server.upload_id)
    results = []
    for name, fn in tricks(server, r, op):
        status, headers, body = fn()
        results.append(name)
        api = r.api
        # "/" without a target is ambiguous: the scope's service picks the API
        if name.startswith("scope for") and r.path.split("?")[0] == "/" and \
                "X-Amz-Target" not in r.headers and r.api == "s3":
            api = name.split()[-1]
        # a path other than "/" is S3's, unless X-Amz-Target names the API
        if name.startswith("bad escape") and "query" not in name and \
                r.api in ("iam", "sts", "lambda", "cloudwatch"):
            api = "s3"
        assert_refused(r.copy(api=api), status, headers, body, name)
    if op["body"] == "upload":
        status, headers, body = replayed_chunks(server, r)
        assert_refused(r, status, headers, body, "replayed chunk bodies")
    assert len(results) >= 12
    assert snapshot(server) == server.before, "state changed by %s" % op_id(op)
    assert server.alive()


def test_unsigned_rows_are_the_operator_endpoints(server):
    """The rows served without a signature: only api "ops", only GET, only
    under /_hydrant/; each answers unsigned (200, or 503 with a reason),
    with a JSON body, and changes nothing."""
    ops = [o for o in UNSIGNED_OPS if o["api"] == "ops"]
    assert ops, "the table lists no operator endpoints"
    # every unsigned row is of a kind that is unsigned by design
    assert {o["api"] for o in UNSIGNED_OPS} == {"ops", "pages", "preflight"}
    for o in ops:
        assert o["method"] == "GET", o
        assert o["path"].startswith("/_hydrant/"), o
        status, headers, body = send(server, "GET", o["path"], {})
        assert status in (200, 503), (o, status, body)
        assert json.loads(body)["status"]
        # any other method there is no operation: a JSON 404, unsigned or not
        status, _, body = send(server, "POST", o["path"], {}, b"x")
        assert status == 404 and json.loads(body)["__type"] == "NotFound"
    assert snapshot(server) == server.before
    assert server.alive()


def test_battery_would_notice_a_change(server):
    """The oracle itself: a signed request that does change state is seen."""
    s3 = server.client("s3")
    s3.put_object(Bucket=BUCKET, Key="tb-canary", Body=b"x")
    try:
        assert snapshot(server) != server.before
    finally:
        s3.delete_object(Bucket=BUCKET, Key="tb-canary")
    assert snapshot(server) == server.before


def test_signed_templates_are_real_operations(server):
    """A control for the templates: signed correctly, a read-only operation
    from the table succeeds, so the refusals above are not the template's
    fault."""
    for name in ("ListBuckets", "GetObject", "ListObjectsV2", "GetObjectTagging"):
        op = next(o for o in OPS if o["api"] == "s3" and o["name"] == name)
        r = template(op, server.upload_id)
        status, _, body = send(server, r.method, r.path, signed(server, r), r.body)
        assert status == 200, (name, body[:300])
    op = next(o for o in OPS if o["name"] == "DescribeDeliveryStream")
    r = template(op, server.upload_id)
    status, _, body = send(server, r.method, r.path, signed(server, r), r.body)
    assert status == 200 and b"tb-stream" in body
    op = next(o for o in OPS if o["name"] == "GetTable")
    r = template(op, server.upload_id)
    status, _, body = send(server, r.method, r.path, signed(server, r), r.body)
    assert status == 200 and b"tb_table" in body
    op = next(o for o in OPS if o["name"] == "GetRole")
    r = template(op, server.upload_id)
    status, _, body = send(server, r.method, r.path, signed(server, r), r.body)
    assert status == 200 and b"tb-role" in body


def test_unsigned_rows_are_pages_and_preflights(server):
    """issue 17: the rows served without a signature are hydrant's pages
    under /_hydrant/ and CORS preflights; each answers unsigned, says
    nothing of a key or an object, and changes nothing."""
    rows = [o for o in UNSIGNED_OPS if o["api"] in ("pages", "preflight")]
    assert rows, "the table lists no pages or preflights"
    for o in rows:
        if o["api"] == "pages":
            assert o["path"].startswith("/_hydrant/"), o
            path = o["path"] + (("api/call" if o["method"] == "POST" else "index.html")
                                if o["prefix"] else "")
            status, _, body = send(server, o["method"], path, {}, b"")
            assert status in (200, 302, 303, 401, 403), (o, status, body[:200])
            assert SECRET_OBJECT not in body
        else:
            assert o["method"] == "OPTIONS"
            path = "/" if o["name"] == "PreflightApi" else "/%s/%s" % (BUCKET, KEY)
            status, headers, body = send(server, "OPTIONS", path, {
                "Origin": "https://evil.example", "Access-Control-Request-Method": "DELETE"})
            assert SECRET_OBJECT not in body and b"ListAllMyBucketsResult" not in body
    assert snapshot(server) == server.before
    assert server.alive()
