"""IAM and STS through real clients: boto3, the AWS CLI and raw HTTP.

The Firehose lesson's flow first (a delivery role with a trust policy for
firehose.amazonaws.com, an inline S3 policy, an attached managed policy),
then every action with its AWS errors, pagination, persistence across a
restart, and malformed requests that must get XML errors without hurting
the server.
"""
import concurrent.futures
import datetime
import json
import os
import re
import subprocess
import urllib.error
import urllib.parse
import urllib.request
import xml.etree.ElementTree as ET

import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from botocore.exceptions import ClientError

ACCOUNT = "000000000000"
NS = "{https://iam.amazonaws.com/doc/2010-05-08/}"

TRUST = {
    "Version": "2012-10-17",
    "Statement": [{
        "Effect": "Allow",
        "Principal": {"Service": "firehose.amazonaws.com"},
        "Action": "sts:AssumeRole",
    }],
}
S3_POLICY = {
    "Version": "2012-10-17",
    "Statement": [{
        "Effect": "Allow",
        "Action": ["s3:AbortMultipartUpload", "s3:GetBucketLocation", "s3:GetObject",
                   "s3:ListBucket", "s3:ListBucketMultipartUploads", "s3:PutObject"],
        "Resource": ["arn:aws:s3:::lesson-bucket", "arn:aws:s3:::lesson-bucket/*"],
    }],
}
S3_FULL = "arn:aws:iam::aws:policy/AmazonS3FullAccess"


@pytest.fixture
def iam(hydrant):
    return hydrant.client("iam")


def error_of(call, *args, **kw):
    """Runs a call that must fail; returns (code, message, http status)."""
    with pytest.raises(ClientError) as ei:
        call(*args, **kw)
    r = ei.value.response
    return r["Error"]["Code"], r["Error"]["Message"], r["ResponseMetadata"]["HTTPStatusCode"]


def make_role(iam, name, **kw):
    return iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(TRUST), **kw)


def raw(hydrant, body=None, query="", service="iam", method=None):
    """Sends a raw request, SigV4-signed with the test keys so that only its
    payload is odd; returns (status, content type, parsed XML root)."""
    url = hydrant.endpoint + "/" + ("?" + query if query else "")
    data = body.encode() if isinstance(body, str) else body
    hdrs = {"Content-Type": "application/x-www-form-urlencoded"} if data is not None else {}
    areq = AWSRequest(method=method or ("POST" if data is not None else "GET"), url=url,
                      data=data or b"", headers=hdrs)
    SigV4Auth(Credentials("test", "test"), service, "us-east-1").add_auth(areq)
    req = urllib.request.Request(url, data=data, headers=dict(areq.headers.items()),
                                 method=areq.method)
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            status, ctype, text = resp.status, resp.headers["Content-Type"], resp.read()
    except urllib.error.HTTPError as e:
        status, ctype, text = e.code, e.headers["Content-Type"], e.read()
    return status, ctype, ET.fromstring(text)


# ---- the lesson ---------------------------------------------------------------

def test_lesson_flow(iam):
    created = make_role(iam, "FirehoseDeliveryRole",
                        Description="Lets Firehose write to the lesson bucket")["Role"]
    arn = "arn:aws:iam::%s:role/FirehoseDeliveryRole" % ACCOUNT
    assert created["Arn"] == arn
    assert re.fullmatch(r"AROA[A-Z0-9]{17}", created["RoleId"])
    assert isinstance(created["CreateDate"], datetime.datetime)
    age = datetime.datetime.now(datetime.timezone.utc) - created["CreateDate"]
    assert abs(age.total_seconds()) < 120

    role = iam.get_role(RoleName="FirehoseDeliveryRole")["Role"]
    assert role["Arn"] == arn
    assert role["RoleId"] == created["RoleId"]
    assert role["Path"] == "/"
    assert role["MaxSessionDuration"] == 3600
    assert role["Description"] == "Lets Firehose write to the lesson bucket"
    doc = role["AssumeRolePolicyDocument"]
    assert isinstance(doc, dict), "policy must come back URL-encoded JSON"
    assert doc == TRUST

    iam.put_role_policy(RoleName="FirehoseDeliveryRole", PolicyName="firehose-s3",
                        PolicyDocument=json.dumps(S3_POLICY))
    iam.attach_role_policy(RoleName="FirehoseDeliveryRole", PolicyArn=S3_FULL)

    got = iam.get_role_policy(RoleName="FirehoseDeliveryRole", PolicyName="firehose-s3")
    assert got["RoleName"] == "FirehoseDeliveryRole"
    assert got["PolicyName"] == "firehose-s3"
    assert got["PolicyDocument"] == S3_POLICY
    assert iam.list_role_policies(RoleName="FirehoseDeliveryRole")["PolicyNames"] == ["firehose-s3"]
    attached = iam.list_attached_role_policies(RoleName="FirehoseDeliveryRole")
    assert attached["AttachedPolicies"] == [{"PolicyName": "AmazonS3FullAccess", "PolicyArn": S3_FULL}]
    assert attached["IsTruncated"] is False


# ---- CreateRole / GetRole ----------------------------------------------------------

def test_create_role_with_path_tags_and_duration(iam):
    r = make_role(iam, "svc.role@x", Path="/service-role/firehose/", MaxSessionDuration=7200,
                  Tags=[{"Key": "team", "Value": "data"}, {"Key": "env", "Value": "lesson"}])["Role"]
    assert r["Arn"] == "arn:aws:iam::%s:role/service-role/firehose/svc.role@x" % ACCOUNT
    assert r["Path"] == "/service-role/firehose/"
    got = iam.get_role(RoleName="svc.role@x")["Role"]
    assert got["MaxSessionDuration"] == 7200
    assert sorted((t["Key"], t["Value"]) for t in got["Tags"]) == [("env", "lesson"), ("team", "data")]
    assert "Description" not in got


def test_create_role_duplicate(iam):
    make_role(iam, "Dup")
    code, msg, status = error_of(make_role, iam, "Dup")
    assert (code, status) == ("EntityAlreadyExists", 409)
    assert msg == "Role with name Dup already exists."
    # role names are unique regardless of case, as in AWS
    code, _, status = error_of(make_role, iam, "dUP")
    assert (code, status) == ("EntityAlreadyExists", 409)
    assert iam.get_role(RoleName="DUP")["Role"]["RoleName"] == "Dup"


def test_get_role_missing(iam):
    code, msg, status = error_of(iam.get_role, RoleName="Nope")
    assert (code, status) == ("NoSuchEntity", 404)
    assert msg == "The role with name Nope cannot be found."


@pytest.mark.parametrize("name,constraint", [
    ("bad name!", r"Member must satisfy regular expression pattern: [\w+=,.@-]+"),
    ("x" * 65, "Member must have length less than or equal to 64"),
    ("", "Member must have length greater than or equal to 1"),
])
def test_create_role_bad_name(iam, name, constraint):
    code, msg, status = error_of(make_role, iam, name)
    assert (code, status) == ("ValidationError", 400)
    assert "validation error" in msg and "detected: Value '%s' at 'roleName'" % name in msg
    assert constraint in msg
    assert iam.list_roles()["Roles"] == []


def test_create_role_validation_collects_every_error(iam):
    code, msg, status = error_of(iam.create_role, RoleName="a b", Path="no-slash",
                                 AssumeRolePolicyDocument=json.dumps(TRUST))
    assert (code, status) == ("ValidationError", 400)
    assert msg.startswith("2 validation errors detected: ")
    assert "at 'roleName'" in msg and "Value 'no-slash' at 'path'" in msg


def test_create_role_missing_trust_policy(iam):
    code, msg, status = error_of(iam.create_role, RoleName="NoTrust")
    assert (code, status) == ("ValidationError", 400)
    assert "Value null at 'assumeRolePolicyDocument' failed to satisfy constraint: " \
           "Member must not be null" in msg


def test_create_role_max_session_bounds(iam):
    code, msg, _ = error_of(make_role, iam, "Short", MaxSessionDuration=60)
    assert code == "ValidationError"
    assert "Member must have value greater than or equal to 3600" in msg
    code, msg, _ = error_of(make_role, iam, "Long", MaxSessionDuration=43201)
    assert "Member must have value less than or equal to 43200" in msg


@pytest.mark.parametrize("doc,message", [
    ("{not json", "This policy contains invalid Json"),
    ("[1, 2]", "Syntax errors in policy."),
    (json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole"}]}),
     "AssumeRolepolicy contained an invalid principal element."),
    (json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Maybe", "Action": "*",
                                                         "Principal": "*"}]}),
     "Invalid effect: Maybe"),
])
def test_create_role_malformed_trust_policy(iam, doc, message):
    code, msg, status = error_of(iam.create_role, RoleName="Bad", AssumeRolePolicyDocument=doc)
    assert (code, status) == ("MalformedPolicyDocument", 400)
    assert msg == message
    assert error_of(iam.get_role, RoleName="Bad")[0] == "NoSuchEntity"


def test_xml_special_characters_round_trip(iam):
    desc = "a <b> & \"c\" 'd' \u00e9\u00e8"
    make_role(iam, "Esc", Description=desc)
    assert iam.get_role(RoleName="Esc")["Role"]["Description"] == desc
    pol = dict(S3_POLICY, Statement=[dict(S3_POLICY["Statement"][0], Sid="x<&>y")])
    iam.put_role_policy(RoleName="Esc", PolicyName="p", PolicyDocument=json.dumps(pol, indent=2))
    assert iam.get_role_policy(RoleName="Esc", PolicyName="p")["PolicyDocument"] == pol


# ---- UpdateRole / UpdateAssumeRolePolicy / tags --------------------------------------

def test_update_assume_role_policy(iam):
    make_role(iam, "Upd")
    trust2 = {"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::%s:root" % ACCOUNT},
        "Action": "sts:AssumeRole"}]}
    iam.update_assume_role_policy(RoleName="Upd", PolicyDocument=json.dumps(trust2))
    assert iam.get_role(RoleName="Upd")["Role"]["AssumeRolePolicyDocument"] == trust2
    code, _, status = error_of(iam.update_assume_role_policy, RoleName="Upd", PolicyDocument="{{")
    assert (code, status) == ("MalformedPolicyDocument", 400)
    code, _, _ = error_of(iam.update_assume_role_policy, RoleName="Gone",
                          PolicyDocument=json.dumps(trust2))
    assert code == "NoSuchEntity"
    assert iam.get_role(RoleName="Upd")["Role"]["AssumeRolePolicyDocument"] == trust2


def test_update_role_and_tags(iam):
    make_role(iam, "Tagged", Tags=[{"Key": "a", "Value": "1"}])
    iam.update_role(RoleName="Tagged", Description="new", MaxSessionDuration=10800)
    r = iam.get_role(RoleName="Tagged")["Role"]
    assert (r["Description"], r["MaxSessionDuration"]) == ("new", 10800)
    iam.tag_role(RoleName="Tagged", Tags=[{"Key": "a", "Value": "2"}, {"Key": "b", "Value": "3"}])
    tags = iam.list_role_tags(RoleName="Tagged")["Tags"]
    assert sorted((t["Key"], t["Value"]) for t in tags) == [("a", "2"), ("b", "3")]
    iam.untag_role(RoleName="Tagged", TagKeys=["a"])
    assert iam.list_role_tags(RoleName="Tagged")["Tags"] == [{"Key": "b", "Value": "3"}]
    code, msg, _ = error_of(iam.tag_role, RoleName="Tagged",
                            Tags=[{"Key": "k", "Value": "1"}, {"Key": "K", "Value": "2"}])
    assert code == "InvalidInput" and "Duplicate tag keys" in msg


# ---- inline policies -----------------------------------------------------------------

def test_inline_policies(iam):
    make_role(iam, "Inline")
    for name in ["p-c", "p-a", "p-b"]:
        iam.put_role_policy(RoleName="Inline", PolicyName=name, PolicyDocument=json.dumps(S3_POLICY))
    # overwrite keeps one policy of that name
    other = dict(S3_POLICY, Statement=[dict(S3_POLICY["Statement"][0], Action="s3:PutObject")])
    iam.put_role_policy(RoleName="Inline", PolicyName="p-a", PolicyDocument=json.dumps(other))
    assert iam.get_role_policy(RoleName="Inline", PolicyName="p-a")["PolicyDocument"] == other
    assert iam.list_role_policies(RoleName="Inline")["PolicyNames"] == ["p-a", "p-b", "p-c"]

    page = iam.list_role_policies(RoleName="Inline", MaxItems=2)
    assert page["PolicyNames"] == ["p-a", "p-b"] and page["IsTruncated"] is True
    page2 = iam.list_role_policies(RoleName="Inline", MaxItems=2, Marker=page["Marker"])
    assert page2["PolicyNames"] == ["p-c"] and page2["IsTruncated"] is False

    iam.delete_role_policy(RoleName="Inline", PolicyName="p-b")
    assert iam.list_role_policies(RoleName="Inline")["PolicyNames"] == ["p-a", "p-c"]
    code, msg, status = error_of(iam.delete_role_policy, RoleName="Inline", PolicyName="p-b")
    assert (code, status) == ("NoSuchEntity", 404)
    assert msg == "The role policy with name p-b cannot be found."
    code, msg, _ = error_of(iam.get_role_policy, RoleName="Inline", PolicyName="p-b")
    assert msg == "The role policy with name p-b cannot be found."
    code, msg, _ = error_of(iam.put_role_policy, RoleName="Ghost", PolicyName="p",
                            PolicyDocument=json.dumps(S3_POLICY))
    assert (code, msg) == ("NoSuchEntity", "The role with name Ghost cannot be found.")
    assert error_of(iam.list_role_policies, RoleName="Ghost")[0] == "NoSuchEntity"


@pytest.mark.parametrize("doc,message", [
    ("nope", "This policy contains invalid Json"),
    (json.dumps({"Version": "2012-10-17", "Statement": {"Effect": "Allow", "Action": "s3:*"}}),
     "Policy statement must contain resources."),
    (json.dumps({"Version": "2012-10-17", "Statement": {"Effect": "Allow", "Resource": "*"}}),
     "Policy statement must contain actions."),
    (json.dumps(TRUST), "Policy document should not specify a principal."),
])
def test_put_role_policy_malformed(iam, doc, message):
    make_role(iam, "Strict")
    code, msg, status = error_of(iam.put_role_policy, RoleName="Strict", PolicyName="p",
                                 PolicyDocument=doc)
    assert (code, status, msg) == ("MalformedPolicyDocument", 400, message)
    assert iam.list_role_policies(RoleName="Strict")["PolicyNames"] == []


def test_inline_policy_size_quota(iam):
    make_role(iam, "Big")

    def doc_of(n):
        stmt = {"Effect": "Allow", "Action": "s3:GetObject",
                "Resource": ["arn:aws:s3:::bucket-%04d/*" % i for i in range(n)]}
        return json.dumps({"Version": "2012-10-17", "Statement": [stmt]}, indent=4)

    def size(doc):  # AWS's quota does not count white space
        return sum(not ch.isspace() for ch in doc)

    small, big = doc_of(300), doc_of(400)
    assert size(small) < 10240 < size(big) and len(small) > 10240
    assert size(small) + size(doc_of(60)) > 10240
    iam.put_role_policy(RoleName="Big", PolicyName="small", PolicyDocument=small)
    code, msg, status = error_of(iam.put_role_policy, RoleName="Big", PolicyName="p",
                                 PolicyDocument=doc_of(60))
    assert (code, status) == ("LimitExceeded", 409)
    assert msg == "Maximum policy size of 10240 bytes exceeded for role Big"
    iam.delete_role_policy(RoleName="Big", PolicyName="small")
    code, _, _ = error_of(iam.put_role_policy, RoleName="Big", PolicyName="p",
                          PolicyDocument=big)
    assert code == "LimitExceeded"
    assert iam.list_role_policies(RoleName="Big")["PolicyNames"] == []


# ---- managed policies ------------------------------------------------------------------

def test_attach_detach(iam):
    make_role(iam, "Managed")
    iam.attach_role_policy(RoleName="Managed", PolicyArn=S3_FULL)
    iam.attach_role_policy(RoleName="Managed", PolicyArn=S3_FULL)  # idempotent, like AWS
    sr = "arn:aws:iam::aws:policy/service-role/AWSLambdaRole"
    iam.attach_role_policy(RoleName="Managed", PolicyArn=sr)
    listed = iam.list_attached_role_policies(RoleName="Managed")["AttachedPolicies"]
    assert [p["PolicyArn"] for p in listed] == [S3_FULL, sr]
    only_sr = iam.list_attached_role_policies(RoleName="Managed", PathPrefix="/service-role/")
    assert only_sr["AttachedPolicies"] == [{"PolicyName": "AWSLambdaRole", "PolicyArn": sr}]
    page = iam.list_attached_role_policies(RoleName="Managed", MaxItems=1)
    assert page["IsTruncated"] is True and len(page["AttachedPolicies"]) == 1
    page2 = iam.list_attached_role_policies(RoleName="Managed", MaxItems=1, Marker=page["Marker"])
    assert page2["AttachedPolicies"][0]["PolicyArn"] == sr and page2["IsTruncated"] is False

    iam.detach_role_policy(RoleName="Managed", PolicyArn=S3_FULL)
    code, msg, status = error_of(iam.detach_role_policy, RoleName="Managed", PolicyArn=S3_FULL)
    assert (code, status) == ("NoSuchEntity", 404)
    assert msg == "Policy %s was not found." % S3_FULL
    code, msg, status = error_of(iam.attach_role_policy, RoleName="Managed",
                                 PolicyArn="arn:aws:s3:::not-a-policy-arn")
    assert (code, status) == ("InvalidInput", 400)
    assert msg == "ARN arn:aws:s3:::not-a-policy-arn is not valid."
    code, _, _ = error_of(iam.attach_role_policy, RoleName="Nobody", PolicyArn=S3_FULL)
    assert code == "NoSuchEntity"


def test_attached_policy_quota(iam):
    make_role(iam, "Many")
    arns = [iam.create_policy(PolicyName="P%d" % i, PolicyDocument=json.dumps(S3_POLICY))
            ["Policy"]["Arn"] for i in range(11)]
    for arn in arns[:10]:
        iam.attach_role_policy(RoleName="Many", PolicyArn=arn)
    code, msg, status = error_of(iam.attach_role_policy, RoleName="Many", PolicyArn=arns[10])
    assert (code, status) == ("LimitExceeded", 409)
    assert msg == "Cannot exceed quota for PoliciesPerRole: 10"


def test_attach_unknown_policy_refused(iam):
    """AWS refuses to attach a managed policy that does not exist (an AWS
    one it does not have, or an account one never created)."""
    make_role(iam, "Few")
    for arn in ("arn:aws:iam::aws:policy/NoSuchManagedPolicy",
                "arn:aws:iam::%s:policy/never-created" % ACCOUNT):
        code, msg, status = error_of(iam.attach_role_policy, RoleName="Few", PolicyArn=arn)
        assert (code, status) == ("NoSuchEntity", 404)
        assert msg == "Policy %s does not exist or is not attachable." % arn
    assert iam.list_attached_role_policies(RoleName="Few")["AttachedPolicies"] == []


# ---- DeleteRole ----------------------------------------------------------------------------

def test_delete_role_conflicts(iam):
    make_role(iam, "Busy")
    iam.put_role_policy(RoleName="Busy", PolicyName="inline", PolicyDocument=json.dumps(S3_POLICY))
    iam.attach_role_policy(RoleName="Busy", PolicyArn=S3_FULL)
    code, msg, status = error_of(iam.delete_role, RoleName="Busy")
    assert (code, status) == ("DeleteConflict", 409)
    assert msg == "Cannot delete entity, must delete policies first."
    iam.delete_role_policy(RoleName="Busy", PolicyName="inline")
    code, msg, _ = error_of(iam.delete_role, RoleName="Busy")
    assert (code, msg) == ("DeleteConflict", "Cannot delete entity, must detach all policies first.")
    iam.detach_role_policy(RoleName="Busy", PolicyArn=S3_FULL)
    iam.delete_role(RoleName="Busy")
    assert error_of(iam.get_role, RoleName="Busy")[0] == "NoSuchEntity"
    code, msg, status = error_of(iam.delete_role, RoleName="Busy")
    assert (code, status, msg) == ("NoSuchEntity", 404, "The role with name Busy cannot be found.")
    # the name is free again, with a new id
    assert make_role(iam, "Busy")["Role"]["RoleName"] == "Busy"


# ---- ListRoles ----------------------------------------------------------------------------

def test_list_roles_pagination_and_prefix(iam):
    names = ["role-%02d" % i for i in range(7)]
    for i, n in enumerate(reversed(names)):
        make_role(iam, n, Path="/app/" if i % 2 else "/")
    seen, marker, pages = [], None, 0
    while True:
        kw = {"Marker": marker} if marker else {}
        page = iam.list_roles(MaxItems=3, **kw)
        pages += 1
        seen += [r["RoleName"] for r in page["Roles"]]
        assert len(page["Roles"]) <= 3
        if not page["IsTruncated"]:
            assert "Marker" not in page
            break
        marker = page["Marker"]
    assert pages == 3
    assert seen == names
    listed = iam.list_roles()["Roles"]
    assert all(isinstance(r["AssumeRolePolicyDocument"], dict) for r in listed)
    app = [r["RoleName"] for r in iam.list_roles(PathPrefix="/app/")["Roles"]]
    assert app == sorted(n for i, n in enumerate(reversed(names)) if i % 2)
    # the boto3 paginator follows the markers the same way
    paged = [r["RoleName"] for p in iam.get_paginator("list_roles").paginate(
        PaginationConfig={"PageSize": 2}) for r in p["Roles"]]
    assert paged == names
    code, _, status = error_of(iam.list_roles, MaxItems=0)
    assert (code, status) == ("ValidationError", 400)
    code, _, _ = error_of(iam.list_roles, Marker="%%%not-base64")
    assert code == "InvalidInput"


def test_concurrent_creates(iam):
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        results = list(pool.map(lambda i: make_role(iam, "par-%02d" % i)["Role"]["RoleId"],
                                range(24)))
    assert len(set(results)) == 24
    assert len(iam.list_roles()["Roles"]) == 24


# ---- persistence --------------------------------------------------------------------------

def test_roles_survive_restart(hydrant):
    iam = hydrant.client("iam")
    role_id = make_role(iam, "Durable", Path="/keep/", Tags=[{"Key": "k", "Value": "v"}])["Role"]["RoleId"]
    iam.put_role_policy(RoleName="Durable", PolicyName="s3", PolicyDocument=json.dumps(S3_POLICY))
    iam.attach_role_policy(RoleName="Durable", PolicyArn=S3_FULL)
    assert os.path.exists(os.path.join(hydrant.data_dir, "iam.db"))

    hydrant.restart()
    iam = hydrant.client("iam")
    r = iam.get_role(RoleName="Durable")["Role"]
    assert r["RoleId"] == role_id
    assert r["Arn"] == "arn:aws:iam::%s:role/keep/Durable" % ACCOUNT
    assert r["AssumeRolePolicyDocument"] == TRUST
    assert r["Tags"] == [{"Key": "k", "Value": "v"}]
    assert iam.get_role_policy(RoleName="Durable", PolicyName="s3")["PolicyDocument"] == S3_POLICY
    assert iam.list_attached_role_policies(RoleName="Durable")["AttachedPolicies"][0]["PolicyArn"] == S3_FULL
    # still one of it: no duplicate on restart
    assert error_of(make_role, iam, "Durable")[0] == "EntityAlreadyExists"


# ---- STS ----------------------------------------------------------------------------------

def test_sts_get_caller_identity(hydrant):
    ident = hydrant.client("sts").get_caller_identity()
    assert ident["Account"] == ACCOUNT
    assert ident["Arn"] == "arn:aws:iam::%s:root" % ACCOUNT
    assert ident["UserId"] == ACCOUNT


def test_sts_unknown_action_uses_sts_namespace(hydrant):
    status, ctype, root = raw(hydrant, "Action=GetSessionTokenX&Version=2011-06-15", service="sts")
    assert status == 400 and ctype.startswith("text/xml")
    assert root.tag == "{https://sts.amazonaws.com/doc/2011-06-15/}ErrorResponse"


# ---- the AWS CLI ------------------------------------------------------------------------------

def test_aws_cli_get_role(hydrant, tmp_path):
    make_role(hydrant.client("iam"), "FirehoseDeliveryRole")
    env = dict(os.environ, AWS_ACCESS_KEY_ID="test", AWS_SECRET_ACCESS_KEY="test",
               AWS_DEFAULT_REGION="us-east-1", AWS_CONFIG_FILE=str(tmp_path / "none"),
               AWS_SHARED_CREDENTIALS_FILE=str(tmp_path / "none"), AWS_PAGER="")
    out = subprocess.run(
        ["/usr/bin/aws", "iam", "get-role", "--role-name", "FirehoseDeliveryRole",
         "--endpoint-url", hydrant.endpoint, "--output", "json"],
        env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    role = json.loads(out.stdout)["Role"]
    assert role["Arn"] == "arn:aws:iam::%s:role/FirehoseDeliveryRole" % ACCOUNT
    assert role["AssumeRolePolicyDocument"] == TRUST


# ---- raw and malformed requests ------------------------------------------------------------------

def test_raw_malformed_requests(hydrant):
    status, ctype, root = raw(hydrant, "Action=Get%ZZRole&Version=2010-05-08")
    assert status == 400 and ctype.startswith("text/xml")
    assert root.tag == NS + "ErrorResponse"
    assert root.find(NS + "Error/" + NS + "Code").text == "MalformedQueryString"
    assert root.find(NS + "Error/" + NS + "Type").text == "Sender"
    assert root.find(NS + "RequestId").text

    status, _, root = raw(hydrant, "Version=2010-05-08&RoleName=x")
    assert status == 400
    assert root.find(NS + "Error/" + NS + "Code").text == "MissingAction"

    status, _, root = raw(hydrant, "Action=FlyToTheMoon&Version=2010-05-08")
    assert status == 400
    assert root.find(NS + "Error/" + NS + "Code").text == "InvalidAction"
    assert root.find(NS + "Error/" + NS + "Message").text == \
        "Could not find operation FlyToTheMoon for version 2010-05-08"

    status, _, root = raw(hydrant, "Action=GetRole&RoleName=%00x&Version=2010-05-08")
    assert status == 400
    assert root.find(NS + "Error/" + NS + "Code").text == "MalformedQueryString"

    status, _, root = raw(hydrant, "Action=GetRole&=x&Version=2010-05-08&RoleName=a")
    assert status == 400
    assert root.find(NS + "Error/" + NS + "Code").text == "MalformedQueryString"

    # empty pieces between '&'s are harmless
    status, _, root = raw(hydrant, "&&Action=GetRole&&RoleName=nobody&Version=2010-05-08&")
    assert status == 404
    assert root.find(NS + "Error/" + NS + "Code").text == "NoSuchEntity"

    status, _, root = raw(hydrant, b"Action=GetRole&RoleName=\xff\xfe&Version=2010-05-08")
    assert status == 400
    assert root.find(NS + "Error/" + NS + "Code").text == "ValidationError"

    # GET with ?Action= is the Query API too
    make_role(hydrant.client("iam"), "ViaGet")
    status, _, root = raw(hydrant, query="Action=GetRole&RoleName=ViaGet&Version=2010-05-08")
    assert status == 200
    assert root.find(".//" + NS + "Arn").text == "arn:aws:iam::%s:role/ViaGet" % ACCOUNT
    assert root.find(NS + "ResponseMetadata/" + NS + "RequestId").text

    assert hydrant.alive()
    assert hydrant.client("iam").get_role(RoleName="ViaGet")["Role"]["RoleName"] == "ViaGet"


def test_raw_error_xml_escapes_values(hydrant):
    name = urllib.parse.quote("<x>&'\"")
    status, _, root = raw(hydrant, "Action=GetRole&Version=2010-05-08&RoleName=" + name)
    assert status == 400
    msg = root.find(NS + "Error/" + NS + "Message").text
    assert "Value '<x>&'\"' at 'roleName'" in msg
