"""STS: AssumeRole (the trust policy evaluated), GetSessionToken and
GetCallerIdentity for every kind of principal; temporary credentials used
by boto3 and by the AWS CLI (a profile with role_arn + source_profile);
the session token verified on every request of every API: tampered and
expired tokens are refused in each API's words.

Expiry: AWS's shortest session is 900 s, too long for a test. hydrant's
session token is base64(payload) "." base64(HMAC-SHA256(key, payload))
with payload "1|AKID|EXPIRY_MS|KIND|ARN|SESSION" and the key in
<data_dir>/sts.key (src/sts.c documents it); the test reads that key, as
only the server's operator could, and mints a token whose expiry has
passed. The Expiration that AssumeRole returns is checked against
DurationSeconds.
"""
import base64
import datetime
import hashlib
import hmac
import json
import os
import subprocess

import pytest
from botocore.exceptions import ClientError

from conftest import wait_for  # noqa: F401

ACCOUNT = "000000000000"


def error(call, *a, **kw):
    with pytest.raises(ClientError) as ei:
        call(*a, **kw)
    r = ei.value.response
    return r["Error"]["Code"], r["Error"].get("Message", ""), r["ResponseMetadata"]["HTTPStatusCode"]


def trust_for(principal):
    return json.dumps({"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": {"AWS": principal}, "Action": "sts:AssumeRole"}]})


@pytest.fixture
def h(make_hydrant):
    return make_hydrant("--iam=default")


def user(h, name, policy=None):
    iam = h.client("iam")
    iam.create_user(UserName=name)
    if policy:
        iam.put_user_policy(UserName=name, PolicyName="p", PolicyDocument=json.dumps(policy))
    k = iam.create_access_key(UserName=name)["AccessKey"]
    return k["AccessKeyId"], k["SecretAccessKey"]


def session_client(h, service, creds):
    return h.client(service, access_key=creds["AccessKeyId"],
                    secret_key=creds["SecretAccessKey"],
                    aws_session_token=creds["SessionToken"])


def reader_role(h, principal, name="Reader", max_session=None):
    iam = h.client("iam")
    kw = {"MaxSessionDuration": max_session} if max_session else {}
    iam.create_role(RoleName=name, AssumeRolePolicyDocument=trust_for(principal), **kw)
    iam.attach_role_policy(RoleName=name, PolicyArn="arn:aws:iam::aws:policy/AmazonS3ReadOnlyAccess")
    return "arn:aws:iam::%s:role/%s" % (ACCOUNT, name)


def test_assume_role_by_a_user_the_trust_policy_names(h):
    h.client("s3").create_bucket(Bucket="bkt")
    h.client("s3").put_object(Bucket="bkt", Key="k", Body=b"v")
    key = user(h, "dev")
    role = reader_role(h, "arn:aws:iam::%s:user/dev" % ACCOUNT)
    sts = h.client("sts", access_key=key[0], secret_key=key[1])
    before = datetime.datetime.now(datetime.timezone.utc)
    out = sts.assume_role(RoleArn=role, RoleSessionName="my-session", DurationSeconds=900)
    creds = out["Credentials"]
    assert creds["AccessKeyId"].startswith("ASIA") and len(creds["AccessKeyId"]) == 20
    assert len(creds["SecretAccessKey"]) == 40 and creds["SessionToken"]
    left = (creds["Expiration"] - before).total_seconds()
    assert 895 <= left <= 905, left
    role_id = h.client("iam").get_role(RoleName="Reader")["Role"]["RoleId"]
    assert out["AssumedRoleUser"] == {
        "AssumedRoleId": role_id + ":my-session",
        "Arn": "arn:aws:sts::%s:assumed-role/Reader/my-session" % ACCOUNT}
    who = session_client(h, "sts", creds).get_caller_identity()
    assert who["Arn"] == "arn:aws:sts::%s:assumed-role/Reader/my-session" % ACCOUNT
    assert who["UserId"] == role_id + ":my-session"
    s3 = session_client(h, "s3", creds)
    assert s3.get_object(Bucket="bkt", Key="k")["Body"].read() == b"v"  # the role's policy
    code, msg, _ = error(s3.put_object, Bucket="bkt", Key="x", Body=b"x")
    assert code == "AccessDenied"
    assert msg.startswith("User: arn:aws:sts::%s:assumed-role/Reader/my-session is not "
                          "authorized to perform: s3:PutObject" % ACCOUNT)


def test_trust_policy_refuses_other_principals(h):
    key = user(h, "outsider")
    role = reader_role(h, "arn:aws:iam::%s:user/someone-else" % ACCOUNT)
    sts = h.client("sts", access_key=key[0], secret_key=key[1])
    code, msg, status = error(sts.assume_role, RoleArn=role, RoleSessionName="s1")
    assert (code, status) == ("AccessDenied", 403)
    assert msg == ("User: arn:aws:iam::%s:user/outsider is not authorized to perform: "
                   "sts:AssumeRole on resource: %s" % (ACCOUNT, role))
    # the root is not exempt from a trust policy that does not name it
    code, _, _ = error(h.client("sts").assume_role, RoleArn=role, RoleSessionName="s1")
    assert code == "AccessDenied"
    code, _, _ = error(sts.assume_role, RoleArn="arn:aws:iam::%s:role/Nope" % ACCOUNT,
                       RoleSessionName="s1")
    assert code == "AccessDenied"


def test_account_trust_needs_an_identity_policy(h):
    """A trust policy naming the account delegates to IAM: the user must
    also be allowed sts:AssumeRole by its own policies (AWS's rule)."""
    role = reader_role(h, "arn:aws:iam::%s:root" % ACCOUNT)
    plain = user(h, "plain")
    allowed = user(h, "allowed", {"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Action": "sts:AssumeRole", "Resource": role}]})
    code, _, _ = error(h.client("sts", access_key=plain[0], secret_key=plain[1]).assume_role,
                       RoleArn=role, RoleSessionName="s1")
    assert code == "AccessDenied"
    out = h.client("sts", access_key=allowed[0], secret_key=allowed[1]).assume_role(
        RoleArn=role, RoleSessionName="ok")
    assert out["AssumedRoleUser"]["Arn"].endswith(":assumed-role/Reader/ok")
    # and the root, which the account principal names, may
    h.client("sts").assume_role(RoleArn=role, RoleSessionName="root")


def test_duration_limits(h):
    role = reader_role(h, "arn:aws:iam::%s:root" % ACCOUNT, max_session=3600)
    sts = h.client("sts")
    code, msg, _ = error(sts.assume_role, RoleArn=role, RoleSessionName="s1", DurationSeconds=7200)
    assert (code, msg) == ("ValidationError", "The requested DurationSeconds exceeds the "
                                              "MaxSessionDuration set for this role.")
    code, msg, _ = error(sts.assume_role, RoleArn=role, RoleSessionName="s1", DurationSeconds=899)
    assert code == "ValidationError" and "greater than or equal to 900" in msg
    out = sts.assume_role(RoleArn=role, RoleSessionName="s1")  # default: an hour
    left = (out["Credentials"]["Expiration"] - datetime.datetime.now(datetime.timezone.utc))
    assert 3590 <= left.total_seconds() <= 3605
    code, _, _ = error(sts.assume_role, RoleArn=role, RoleSessionName="s1",
                       Policy=json.dumps({"Version": "2012-10-17", "Statement": []}))
    assert code == "ValidationError"  # session policies: refused, never ignored


def test_get_session_token_and_caller_identity(h):
    key = user(h, "sess", {"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Action": "s3:ListAllMyBuckets", "Resource": "*"}]})
    sts = h.client("sts", access_key=key[0], secret_key=key[1])
    creds = sts.get_session_token(DurationSeconds=900)["Credentials"]
    assert creds["AccessKeyId"].startswith("ASIA")
    who = session_client(h, "sts", creds).get_caller_identity()
    assert who["Arn"] == "arn:aws:iam::%s:user/sess" % ACCOUNT
    session_client(h, "s3", creds).list_buckets()
    assert error(session_client(h, "s3", creds).create_bucket, Bucket="nope")[0] == "AccessDenied"
    code, msg, _ = error(session_client(h, "sts", creds).get_session_token)
    assert (code, msg) == ("AccessDenied", "Cannot call GetSessionToken with session credentials")
    root = h.client("sts").get_caller_identity()
    assert (root["Arn"], root["UserId"]) == ("arn:aws:iam::%s:root" % ACCOUNT, ACCOUNT)
    rc = h.client("sts").get_session_token()["Credentials"]
    assert session_client(h, "sts", rc).get_caller_identity()["Arn"] == \
        "arn:aws:iam::%s:root" % ACCOUNT


def tamper(token):
    payload, mac = token.split(".")
    raw = bytearray(base64.b64decode(payload))
    raw[-1] ^= 1  # one bit of the session name
    return base64.b64encode(bytes(raw)).decode() + "." + mac


def test_tampered_token_refused_by_every_api(h):
    role = reader_role(h, "arn:aws:iam::%s:root" % ACCOUNT)
    creds = dict(h.client("sts").assume_role(RoleArn=role, RoleSessionName="ab")["Credentials"])
    for bad in (tamper(creds["SessionToken"]), creds["SessionToken"][:-4] + "AAA=", "garbage"):
        c = dict(creds, SessionToken=bad)
        code, msg, status = error(session_client(h, "sts", c).get_caller_identity)
        assert (code, status, msg) == ("InvalidClientTokenId", 403,
                                       "The security token included in the request is invalid.")
        code, msg, status = error(session_client(h, "firehose", c).list_delivery_streams)
        assert (code, status) == ("UnrecognizedClientException", 400)
        code, _, status = error(session_client(h, "s3", c).list_buckets)
        assert (code, status) == ("InvalidToken", 400)
    # a token is bound to its key id
    other = h.client("sts").assume_role(RoleArn=role, RoleSessionName="cd")["Credentials"]
    mixed = dict(creds, SessionToken=other["SessionToken"])
    assert error(session_client(h, "sts", mixed).get_caller_identity)[0] == "InvalidClientTokenId"
    # without its token a temporary key is unknown
    code, _, _ = error(h.client("sts", access_key=creds["AccessKeyId"],
                                secret_key=creds["SecretAccessKey"]).get_caller_identity)
    assert code == "InvalidClientTokenId"
    # the genuine one still works
    session_client(h, "sts", creds).get_caller_identity()


def forge(h, kind, arn, session, expires_ms):
    """Mints credentials the way src/sts.c does, with the server's key."""
    with open(os.path.join(h.data_dir, "sts.key"), "rb") as f:
        key = f.read()
    akid = "ASIATESTEXPIRED00000"[:20]
    payload = "1|%s|%d|%s|%s|%s" % (akid, expires_ms, kind, arn, session)
    mac = hmac.new(key, payload.encode(), hashlib.sha256).digest()
    token = base64.b64encode(payload.encode()).decode() + "." + base64.b64encode(mac).decode()
    secret = base64.b64encode(hmac.new(key, b"secret|" + akid.encode(),
                                       hashlib.sha256).digest()).decode()[:40]
    return {"AccessKeyId": akid, "SecretAccessKey": secret, "SessionToken": token}


def test_expired_token_refused_in_each_api_shape(h):
    role = reader_role(h, "arn:aws:iam::%s:root" % ACCOUNT)
    now = int(datetime.datetime.now().timestamp() * 1000)
    live = forge(h, "r", role, "forged", now + 600000)
    # the forgery check itself: with the server's key it is a valid session
    who = session_client(h, "sts", live).get_caller_identity()
    assert who["Arn"] == "arn:aws:sts::%s:assumed-role/Reader/forged" % ACCOUNT
    dead = forge(h, "r", role, "forged", now - 1000)
    code, msg, status = error(session_client(h, "sts", dead).get_caller_identity)
    assert (code, status, msg) == ("ExpiredToken", 400,
                                   "The security token included in the request is expired")
    code, msg, status = error(session_client(h, "firehose", dead).list_delivery_streams)
    assert (code, status, msg) == ("ExpiredTokenException", 400,
                                   "The security token included in the request is expired")
    code, msg, status = error(session_client(h, "s3", dead).list_buckets)
    assert (code, status, msg) == ("ExpiredToken", 400, "The provided token has expired.")
    code, _, _ = error(session_client(h, "iam", dead).list_users)
    assert code == "ExpiredToken"


def test_sessions_end_with_their_role(h):
    role = reader_role(h, "arn:aws:iam::%s:root" % ACCOUNT)
    creds = h.client("sts").assume_role(RoleArn=role, RoleSessionName="s1")["Credentials"]
    session_client(h, "s3", creds).list_buckets()
    iam = h.client("iam")
    iam.detach_role_policy(RoleName="Reader",
                           PolicyArn="arn:aws:iam::aws:policy/AmazonS3ReadOnlyAccess")
    assert error(session_client(h, "s3", creds).list_buckets)[0] == "AccessDenied"
    iam.delete_role(RoleName="Reader")
    assert error(session_client(h, "s3", creds).list_buckets)[0] == "InvalidToken"


def test_sessions_survive_a_restart(h):
    role = reader_role(h, "arn:aws:iam::%s:root" % ACCOUNT)
    creds = h.client("sts").assume_role(RoleArn=role, RoleSessionName="s1")["Credentials"]
    h.restart()
    assert session_client(h, "sts", creds).get_caller_identity()["Arn"].endswith(
        ":assumed-role/Reader/s1")


def sts_endpoint_rules(data_dir, endpoint):
    """The AWS CLI 2.9 (Debian 12) has no endpoint_url setting, and its
    assume-role credential provider makes its own STS client: an endpoint
    rule set in AWS_DATA_PATH (searched before the CLI's own data) points
    STS at the server, as a custom endpoint would."""
    d = data_dir / "sts" / "2011-06-15"
    d.mkdir(parents=True)
    (d / "endpoint-rule-set-1.json").write_text(json.dumps({
        "version": "1.0",
        "parameters": {"Region": {"builtIn": "AWS::Region", "required": False,
                                  "documentation": "region", "type": "String"}},
        "rules": [{"conditions": [], "type": "endpoint", "endpoint": {
            "url": endpoint, "headers": {}, "properties": {"authSchemes": [{
                "name": "sigv4", "signingName": "sts", "signingRegion": "us-east-1"}]}}}]}))


def test_aws_cli_profile_with_role_arn(h, tmp_path):
    h.client("s3").create_bucket(Bucket="cli-bucket")
    key = user(h, "cli-user")
    reader_role(h, "arn:aws:iam::%s:user/cli-user" % ACCOUNT, name="CliRole")
    cfg = tmp_path / "config"
    cfg.write_text(
        "[profile base]\n"
        "aws_access_key_id = %s\naws_secret_access_key = %s\nregion = us-east-1\n"
        "[profile assumed]\n"
        "role_arn = arn:aws:iam::%s:role/CliRole\nsource_profile = base\n"
        "role_session_name = cli-session\nregion = us-east-1\n" % (key[0], key[1], ACCOUNT))
    sts_endpoint_rules(tmp_path / "data", h.endpoint)
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(AWS_CONFIG_FILE=str(cfg), AWS_SHARED_CREDENTIALS_FILE=str(tmp_path / "none"),
               AWS_PAGER="", AWS_DATA_PATH=str(tmp_path / "data"),
               HOME=str(tmp_path))  # the CLI caches assumed-role credentials in ~/.aws/cli

    def aws(*args):
        return subprocess.run(["/usr/bin/aws", "--profile", "assumed", *args], env=env,
                              capture_output=True, text=True, timeout=60)
    out = aws("sts", "get-caller-identity")
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["Arn"] == \
        "arn:aws:sts::%s:assumed-role/CliRole/cli-session" % ACCOUNT
    out = aws("--endpoint-url", h.endpoint, "s3api", "list-buckets")
    assert out.returncode == 0, out.stderr
    assert "cli-bucket" in out.stdout
    out = aws("--endpoint-url", h.endpoint, "s3api", "create-bucket", "--bucket", "cli-denied")
    assert out.returncode != 0 and "AccessDenied" in out.stderr
    assert "assumed %s" % "arn:aws:iam::%s:role/CliRole" % ACCOUNT in h.read_log()
