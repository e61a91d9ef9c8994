"""IAM enforced end to end, with boto3 and each principal's own keys.

The lesson's setup first: the root creates dcUser, an access key and a
Firehose policy; dcUser, with its own key, creates the stream and puts
records; without s3:GetObject it cannot read what was delivered. Then the
delivery role: in --iam=default it must exist and trust
firehose.amazonaws.com (its permissions are not needed); in --iam=strict
a role without s3:PutObject makes delivery fail visibly until the policy
is attached, and then every record arrives. Then every API's denial shape,
explicit denies, groups, managed policy versions, the cache's
invalidation, bucket policies, key status, and --iam=off.
"""
import json
import time

import pytest
from botocore.exceptions import ClientError

from conftest import wait_active, wait_for

ACCOUNT = "000000000000"
BUCKET = "lesson-bucket"
ROLE = "FirehoseDeliveryRole"
ROLE_ARN = "arn:aws:iam::%s:role/%s" % (ACCOUNT, ROLE)
TRUST = {"Version": "2012-10-17", "Statement": [{
    "Effect": "Allow", "Principal": {"Service": "firehose.amazonaws.com"},
    "Action": "sts:AssumeRole"}]}
# the Firehose user guide's "Grant Firehose access to an Amazon S3 destination"
ROLE_S3 = {"Version": "2012-10-17", "Statement": [{
    "Effect": "Allow",
    "Action": ["s3:AbortMultipartUpload", "s3:GetBucketLocation", "s3:GetObject",
               "s3:ListBucket", "s3:ListBucketMultipartUploads", "s3:PutObject"],
    "Resource": ["arn:aws:s3:::" + BUCKET, "arn:aws:s3:::%s/*" % BUCKET]}]}
DC_POLICY = {"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Action": "firehose:*", "Resource": "*"},
    {"Effect": "Allow", "Action": "s3:ListBucket", "Resource": "arn:aws:s3:::" + BUCKET}]}


def error(call, *a, **kw):
    with pytest.raises(ClientError) as ei:
        call(*a, **kw)
    r = ei.value.response
    return r["Error"]["Code"], r["Error"].get("Message", ""), r["ResponseMetadata"]["HTTPStatusCode"]


def user_with_key(h, name, policy=None, managed=None):
    iam = h.client("iam")
    iam.create_user(UserName=name)
    if policy:
        iam.put_user_policy(UserName=name, PolicyName="p", PolicyDocument=json.dumps(policy))
    for arn in managed or ():
        iam.attach_user_policy(UserName=name, PolicyArn=arn)
    k = iam.create_access_key(UserName=name)["AccessKey"]
    return k["AccessKeyId"], k["SecretAccessKey"]


def as_user(h, service, key):
    return h.client(service, access_key=key[0], secret_key=key[1])


def make_role(h, permissions=None, trust=TRUST, name=ROLE):
    iam = h.client("iam")
    iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(trust))
    if permissions:
        iam.put_role_policy(RoleName=name, PolicyName="s3", PolicyDocument=json.dumps(permissions))
    return "arn:aws:iam::%s:role/%s" % (ACCOUNT, name)


def stream_config(role_arn=ROLE_ARN, interval=0):
    return {"RoleARN": role_arn, "BucketARN": "arn:aws:s3:::" + BUCKET,
            "BufferingHints": {"SizeInMBs": 1, "IntervalInSeconds": interval}}


def records_in_bucket(s3):
    lines = []
    for o in s3.list_objects_v2(Bucket=BUCKET).get("Contents", []):
        lines += s3.get_object(Bucket=BUCKET, Key=o["Key"])["Body"].read().splitlines()
    return lines


# ---- the lesson ----------------------------------------------------------------

def test_lesson_iam_setup_end_to_end(make_hydrant):
    h = make_hydrant("--iam=default")
    root_s3, iam = h.client("s3"), h.client("iam")
    root_s3.create_bucket(Bucket=BUCKET)
    make_role(h)  # trust only: the default mode needs no permissions
    iam.create_user(UserName="dcUser")
    key = iam.create_access_key(UserName="dcUser")["AccessKey"]
    assert key["AccessKeyId"].startswith("AKIA") and len(key["AccessKeyId"]) == 20
    arn = iam.create_policy(PolicyName="dcUser-firehose",
                            PolicyDocument=json.dumps(DC_POLICY))["Policy"]["Arn"]
    iam.attach_user_policy(UserName="dcUser", PolicyArn=arn)
    dc = (key["AccessKeyId"], key["SecretAccessKey"])

    who = as_user(h, "sts", dc).get_caller_identity()
    assert who["Arn"] == "arn:aws:iam::%s:user/dcUser" % ACCOUNT
    assert who["UserId"] == iam.get_user(UserName="dcUser")["User"]["UserId"]

    fh = as_user(h, "firehose", dc)
    fh.create_delivery_stream(DeliveryStreamName="lesson", DeliveryStreamType="DirectPut",
                              S3DestinationConfiguration=stream_config())
    wait_active(fh, "lesson")
    sent = [b"record-%d" % i for i in range(20)]
    for r in sent:
        fh.put_record(DeliveryStreamName="lesson", Record={"Data": r + b"\n"})
    fh.put_record_batch(DeliveryStreamName="lesson",
                        Records=[{"Data": b"batch-%d\n" % i} for i in range(10)])
    want = sorted(sent + [b"batch-%d" % i for i in range(10)])
    wait_for(lambda: sorted(records_in_bucket(root_s3)) == want, timeout=30)

    s3 = as_user(h, "s3", dc)
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET)["Contents"]]
    assert keys  # s3:ListBucket is granted
    code, msg, status = error(s3.get_object, Bucket=BUCKET, Key=keys[0])
    assert (code, status) == ("AccessDenied", 403)
    assert msg == ("User: arn:aws:iam::%s:user/dcUser is not authorized to perform: "
                   "s3:GetObject on resource: arn:aws:s3:::%s/%s because no identity-based "
                   "policy allows the s3:GetObject action" % (ACCOUNT, BUCKET, keys[0]))
    assert error(s3.put_object, Bucket=BUCKET, Key="x", Body=b"x")[0] == "AccessDenied"
    assert error(s3.delete_object, Bucket=BUCKET, Key=keys[0])[0] == "AccessDenied"
    # the root still reads everything, and nothing was touched
    assert sorted(records_in_bucket(root_s3)) == want
    # IAM itself: dcUser has no iam:* permission
    code, msg, status = error(as_user(h, "iam", dc).create_user, UserName="intruder")
    assert (code, status) == ("AccessDenied", 403)
    assert msg.startswith("User: arn:aws:iam::%s:user/dcUser is not authorized to perform: "
                          "iam:CreateUser on resource: arn:aws:iam::%s:user/intruder"
                          % (ACCOUNT, ACCOUNT))
    assert error(iam.get_user, UserName="intruder")[0] == "NoSuchEntity"


def test_user_without_policy_is_denied_in_each_api_shape(make_hydrant):
    h = make_hydrant("--iam=default")
    h.client("s3").create_bucket(Bucket=BUCKET)
    make_role(h)
    h.client("firehose").create_delivery_stream(DeliveryStreamName="s",
                                                S3DestinationConfiguration=stream_config())
    nobody = user_with_key(h, "nobody")
    fh = as_user(h, "firehose", nobody)
    code, msg, status = error(fh.put_record, DeliveryStreamName="s", Record={"Data": b"x"})
    assert (code, status) == ("AccessDeniedException", 400)
    assert msg == ("User: arn:aws:iam::%s:user/nobody is not authorized to perform: "
                   "firehose:PutRecord on resource: arn:aws:firehose:us-east-1:%s:"
                   "deliverystream/s because no identity-based policy allows the "
                   "firehose:PutRecord action" % (ACCOUNT, ACCOUNT))
    assert error(fh.list_delivery_streams)[0] == "AccessDeniedException"
    assert error(as_user(h, "s3", nobody).list_buckets)[:3:2] == ("AccessDenied", 403)
    code, _, status = error(as_user(h, "iam", nobody).list_users)
    assert (code, status) == ("AccessDenied", 403)
    # GetCallerIdentity needs no permission, as in AWS
    assert as_user(h, "sts", nobody).get_caller_identity()["Arn"].endswith(":user/nobody")


def test_explicit_deny_wins_and_groups_count(make_hydrant):
    h = make_hydrant("--iam=default")
    s3root, iam = h.client("s3"), h.client("iam")
    s3root.create_bucket(Bucket=BUCKET)
    s3root.put_object(Bucket=BUCKET, Key="public/a", Body=b"a")
    s3root.put_object(Bucket=BUCKET, Key="secret/b", Body=b"b")
    key = user_with_key(h, "reader")
    iam.create_group(GroupName="readers")
    iam.attach_group_policy(GroupName="readers",
                            PolicyArn="arn:aws:iam::aws:policy/AmazonS3ReadOnlyAccess")
    s3 = as_user(h, "s3", key)
    assert error(s3.get_object, Bucket=BUCKET, Key="public/a")[0] == "AccessDenied"
    iam.add_user_to_group(GroupName="readers", UserName="reader")
    assert s3.get_object(Bucket=BUCKET, Key="public/a")["Body"].read() == b"a"
    assert s3.get_object(Bucket=BUCKET, Key="secret/b")["Body"].read() == b"b"
    iam.put_user_policy(UserName="reader", PolicyName="no-secrets", PolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{
            "Effect": "Deny", "Action": "s3:*", "Resource": "arn:aws:s3:::%s/secret/*" % BUCKET}]}))
    code, msg, _ = error(s3.get_object, Bucket=BUCKET, Key="secret/b")
    assert code == "AccessDenied"
    assert msg.endswith("with an explicit deny in an identity-based policy")
    assert s3.get_object(Bucket=BUCKET, Key="public/a")["Body"].read() == b"a"
    # leaving the group takes its permissions away at once (cache invalidated)
    iam.remove_user_from_group(GroupName="readers", UserName="reader")
    assert error(s3.get_object, Bucket=BUCKET, Key="public/a")[0] == "AccessDenied"


def test_policy_versions_change_what_is_allowed(make_hydrant):
    h = make_hydrant("--iam=default")
    s3root, iam = h.client("s3"), h.client("iam")
    s3root.create_bucket(Bucket=BUCKET)
    s3root.put_object(Bucket=BUCKET, Key="k", Body=b"v")
    v1 = {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "s3:ListBucket", "Resource": "arn:aws:s3:::" + BUCKET}]}
    v2 = {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": ["s3:ListBucket", "s3:GetObject"], "Resource": "*"}]}
    arn = iam.create_policy(PolicyName="pv", PolicyDocument=json.dumps(v1))["Policy"]["Arn"]
    key = user_with_key(h, "versioned", managed=[arn])
    s3 = as_user(h, "s3", key)
    assert s3.list_objects_v2(Bucket=BUCKET)["KeyCount"] == 1
    assert error(s3.get_object, Bucket=BUCKET, Key="k")[0] == "AccessDenied"
    iam.create_policy_version(PolicyArn=arn, PolicyDocument=json.dumps(v2), SetAsDefault=False)
    assert error(s3.get_object, Bucket=BUCKET, Key="k")[0] == "AccessDenied"  # v1 still default
    iam.set_default_policy_version(PolicyArn=arn, VersionId="v2")
    assert s3.get_object(Bucket=BUCKET, Key="k")["Body"].read() == b"v"
    versions = iam.list_policy_versions(PolicyArn=arn)["Versions"]
    assert sorted((v["VersionId"], v["IsDefaultVersion"]) for v in versions) == \
        [("v1", False), ("v2", True)]
    assert iam.get_policy_version(PolicyArn=arn, VersionId="v1")["PolicyVersion"]["Document"] == v1
    assert iam.get_policy(PolicyArn=arn)["Policy"]["AttachmentCount"] == 1
    code, _, _ = error(iam.delete_policy_version, PolicyArn=arn, VersionId="v2")
    assert code == "DeleteConflict"
    code, _, _ = error(iam.delete_policy, PolicyArn=arn)
    assert code == "DeleteConflict"


def test_aws_managed_policies_are_the_real_documents(make_hydrant):
    h = make_hydrant("--iam=default")
    iam = h.client("iam")
    arn = "arn:aws:iam::aws:policy/AmazonKinesisFirehoseFullAccess"
    p = iam.get_policy(PolicyArn=arn)["Policy"]
    assert (p["PolicyName"], p["DefaultVersionId"]) == ("AmazonKinesisFirehoseFullAccess", "v1")
    doc = iam.get_policy_version(PolicyArn=arn, VersionId="v1")["PolicyVersion"]["Document"]
    assert doc == {"Version": "2012-10-17", "Statement": [
        {"Action": ["firehose:*"], "Effect": "Allow", "Resource": "*"}]}
    names = {p["PolicyName"] for p in iam.list_policies(Scope="AWS")["Policies"]}
    assert {"AdministratorAccess", "AmazonS3FullAccess", "AmazonS3ReadOnlyAccess",
            "AmazonKinesisFirehoseFullAccess"} <= names
    code, _, _ = error(iam.create_policy_version, PolicyArn=arn,
                       PolicyDocument=json.dumps(DC_POLICY))
    assert code == "InvalidInput"
    # attached, AdministratorAccess lets a user do anything the root can
    admin = user_with_key(h, "admin", managed=["arn:aws:iam::aws:policy/AdministratorAccess"])
    as_user(h, "iam", admin).create_user(UserName="made-by-admin")
    as_user(h, "s3", admin).create_bucket(Bucket="admins-bucket")


def test_malformed_policy_documents(make_hydrant):
    h = make_hydrant("--iam=default")
    iam = h.client("iam")
    iam.create_user(UserName="u")
    cases = [
        ("{", "This policy contains invalid Json"),
        (json.dumps({"Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Action": "s3GetObject", "Resource": "*"}]}),
         "Actions/Conditions must be prefaced by a vendor, e.g., iam, sdb, ec2, etc."),
        (json.dumps({"Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Action": "s3:GetObject", "Resource": "bucket"}]}),
         'Resource bucket must be in ARN format or "*".'),
        (json.dumps({"Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*",
             "Condition": {"StringEqualz": {"aws:username": "u"}}}]}),
         "Invalid Condition type : StringEqualz."),
        (json.dumps({"Version": "2013-01-01", "Statement": [
            {"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}]}),
         "The policy failed legacy parsing"),
        (json.dumps({"Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Action": "s3:GetObject", "NotAction": "s3:PutObject",
             "Resource": "*"}]}), "Syntax errors in policy."),
    ]
    for doc, message in cases:
        for call in (lambda: iam.put_user_policy(UserName="u", PolicyName="p", PolicyDocument=doc),
                     lambda: iam.create_policy(PolicyName="bad", PolicyDocument=doc)):
            code, msg, status = error(call)
            assert (code, status, msg) == ("MalformedPolicyDocument", 400, message), doc
    assert iam.list_user_policies(UserName="u")["PolicyNames"] == []
    assert iam.list_policies(Scope="Local")["Policies"] == []


def test_inactive_and_deleted_keys_stop_working(make_hydrant):
    h = make_hydrant("--iam=default")
    iam = h.client("iam")
    key = user_with_key(h, "temp", managed=["arn:aws:iam::aws:policy/AmazonS3FullAccess"])
    s3 = as_user(h, "s3", key)
    never = iam.get_access_key_last_used(AccessKeyId=key[0])["AccessKeyLastUsed"]
    assert never == {"ServiceName": "N/A", "Region": "N/A"}
    s3.list_buckets()
    used = iam.get_access_key_last_used(AccessKeyId=key[0])
    assert used["UserName"] == "temp"
    assert (used["AccessKeyLastUsed"]["ServiceName"], used["AccessKeyLastUsed"]["Region"]) == \
        ("s3", "us-east-1")
    assert "LastUsedDate" in used["AccessKeyLastUsed"]
    iam.update_access_key(UserName="temp", AccessKeyId=key[0], Status="Inactive")
    assert error(s3.list_buckets)[0] == "InvalidAccessKeyId"
    iam.update_access_key(UserName="temp", AccessKeyId=key[0], Status="Active")
    s3.list_buckets()
    listed = iam.list_access_keys(UserName="temp")["AccessKeyMetadata"]
    assert [(k["AccessKeyId"], k["Status"]) for k in listed] == [(key[0], "Active")]
    iam.delete_access_key(UserName="temp", AccessKeyId=key[0])
    assert error(s3.list_buckets)[0] == "InvalidAccessKeyId"
    code, msg, _ = error(iam.delete_user, UserName="temp")
    assert (code, msg) == ("DeleteConflict", "Cannot delete entity, must detach all policies first.")


def test_bucket_policy_grants_and_denies(make_hydrant):
    h = make_hydrant("--iam=default")
    s3root = h.client("s3")
    s3root.create_bucket(Bucket=BUCKET)
    s3root.put_object(Bucket=BUCKET, Key="shared/x", Body=b"x")
    s3root.put_object(Bucket=BUCKET, Key="other/y", Body=b"y")
    key = user_with_key(h, "partner")
    arn = "arn:aws:iam::%s:user/partner" % ACCOUNT
    s3 = as_user(h, "s3", key)
    assert error(s3.get_object, Bucket=BUCKET, Key="shared/x")[0] == "AccessDenied"
    assert error(s3root.get_bucket_policy, Bucket=BUCKET)[0] == "NoSuchBucketPolicy"
    policy = {"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": {"AWS": arn}, "Action": "s3:GetObject",
        "Resource": "arn:aws:s3:::%s/shared/*" % BUCKET}]}
    s3root.put_bucket_policy(Bucket=BUCKET, Policy=json.dumps(policy))
    assert json.loads(s3root.get_bucket_policy(Bucket=BUCKET)["Policy"]) == policy
    assert s3.get_object(Bucket=BUCKET, Key="shared/x")["Body"].read() == b"x"
    assert error(s3.get_object, Bucket=BUCKET, Key="other/y")[0] == "AccessDenied"
    # a Deny in the bucket policy beats the user's AmazonS3FullAccess
    h.client("iam").attach_user_policy(UserName="partner",
                                       PolicyArn="arn:aws:iam::aws:policy/AmazonS3FullAccess")
    assert s3.get_object(Bucket=BUCKET, Key="other/y")["Body"].read() == b"y"
    policy["Statement"].append({"Effect": "Deny", "Principal": "*", "Action": "s3:GetObject",
                                "Resource": "arn:aws:s3:::%s/other/*" % BUCKET})
    s3root.put_bucket_policy(Bucket=BUCKET, Policy=json.dumps(policy))
    code, msg, _ = error(s3.get_object, Bucket=BUCKET, Key="other/y")
    assert code == "AccessDenied" and msg.endswith("with an explicit deny in a resource-based policy")
    code, _, status = error(s3root.put_bucket_policy, Bucket=BUCKET, Policy=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:*",
                                                 "Resource": "*"}]}))
    assert (code, status) == ("MalformedPolicy", 400)
    s3root.delete_bucket_policy(Bucket=BUCKET)
    assert s3.get_object(Bucket=BUCKET, Key="other/y")["Body"].read() == b"y"


# ---- the delivery role ---------------------------------------------------------

def test_default_mode_refuses_missing_or_untrusting_role(make_hydrant):
    h = make_hydrant("--iam=default")
    h.client("s3").create_bucket(Bucket=BUCKET)
    fh = h.client("firehose")
    missing = "arn:aws:iam::%s:role/NoSuchRole" % ACCOUNT
    code, msg, status = error(fh.create_delivery_stream, DeliveryStreamName="s",
                              S3DestinationConfiguration=stream_config(missing))
    assert (code, status) == ("InvalidArgumentException", 400)
    assert msg == "Firehose is unable to assume role %s. Please check the role provided." % missing
    ec2 = make_role(h, trust={"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"},
        "Action": "sts:AssumeRole"}]}, name="Ec2Only")
    code, msg, _ = error(fh.create_delivery_stream, DeliveryStreamName="s",
                         ExtendedS3DestinationConfiguration=stream_config(ec2))
    assert (code, msg) == ("InvalidArgumentException",
                           "Firehose is unable to assume role %s. Please check the role "
                           "provided." % ec2)
    assert fh.list_delivery_streams()["DeliveryStreamNames"] == []
    # the trusting role, with no permission policy at all, delivers
    make_role(h)
    fh.create_delivery_stream(DeliveryStreamName="s",
                              S3DestinationConfiguration=stream_config())
    wait_active(fh, "s")
    fh.put_record(DeliveryStreamName="s", Record={"Data": b"hello\n"})
    wait_for(lambda: records_in_bucket(h.client("s3")) == [b"hello"], timeout=30)
    # UpdateDestination is checked the same way
    d = fh.describe_delivery_stream(DeliveryStreamName="s")["DeliveryStreamDescription"]
    code, msg, _ = error(fh.update_destination, DeliveryStreamName="s",
                         CurrentDeliveryStreamVersionId=d["VersionId"],
                         DestinationId=d["Destinations"][0]["DestinationId"],
                         S3DestinationUpdate={"RoleARN": missing})
    assert (code, msg) == ("InvalidArgumentException",
                           "Firehose is unable to assume role %s. Please check the role "
                           "provided." % missing)


def test_strict_mode_delivery_waits_for_the_role_policy(make_hydrant):
    h = make_hydrant("--iam=strict")
    s3root, fh, iam = h.client("s3"), h.client("firehose"), h.client("iam")
    s3root.create_bucket(Bucket=BUCKET)
    make_role(h)  # trusts firehose, but may not write
    fh.create_delivery_stream(DeliveryStreamName="strict",
                              S3DestinationConfiguration=stream_config())
    wait_active(fh, "strict")
    sent = sorted(b"strict-%d" % i for i in range(25))
    for r in sent:
        fh.put_record(DeliveryStreamName="strict", Record={"Data": r + b"\n"})
    needle = ("S3.AccessDenied (no identity-based policy allows it): arn:aws:sts::%s:"
              "assumed-role/%s/firehose may not s3:PutObject arn:aws:s3:::%s/"
              % (ACCOUNT, ROLE, BUCKET))
    wait_for(lambda: needle in h.read_log(), timeout=30)
    time.sleep(1)
    assert s3root.list_objects_v2(Bucket=BUCKET).get("KeyCount", 0) == 0
    iam.put_role_policy(RoleName=ROLE, PolicyName="s3", PolicyDocument=json.dumps(ROLE_S3))
    wait_for(lambda: sorted(records_in_bucket(s3root)) == sent, timeout=60)


def test_strict_mode_role_with_policy_delivers_at_once(make_hydrant):
    h = make_hydrant("--iam=strict")
    s3root, fh = h.client("s3"), h.client("firehose")
    s3root.create_bucket(Bucket=BUCKET)
    make_role(h, permissions=ROLE_S3)
    fh.create_delivery_stream(DeliveryStreamName="ok", S3DestinationConfiguration=stream_config())
    wait_active(fh, "ok")
    fh.put_record(DeliveryStreamName="ok", Record={"Data": b"at-once\n"})
    wait_for(lambda: records_in_bucket(s3root) == [b"at-once"], timeout=30)
    assert "S3.AccessDenied" not in h.read_log()


def test_strict_mode_bucket_policy_deny_holds_delivery(make_hydrant):
    h = make_hydrant("--iam=strict")
    s3root, fh = h.client("s3"), h.client("firehose")
    s3root.create_bucket(Bucket=BUCKET)
    make_role(h, permissions=ROLE_S3)
    s3root.put_bucket_policy(Bucket=BUCKET, Policy=json.dumps({
        "Version": "2012-10-17", "Statement": [{
            "Effect": "Deny", "Principal": {"AWS": ROLE_ARN}, "Action": "s3:PutObject",
            "Resource": "arn:aws:s3:::%s/*" % BUCKET}]}))
    fh.create_delivery_stream(DeliveryStreamName="bp", S3DestinationConfiguration=stream_config())
    wait_active(fh, "bp")
    fh.put_record(DeliveryStreamName="bp", Record={"Data": b"held\n"})
    wait_for(lambda: "S3.AccessDenied (explicit deny in the bucket policy)" in h.read_log(),
             timeout=30)
    assert s3root.list_objects_v2(Bucket=BUCKET).get("KeyCount", 0) == 0
    s3root.delete_bucket_policy(Bucket=BUCKET)
    wait_for(lambda: records_in_bucket(s3root) == [b"held"], timeout=60)


def test_off_mode_authenticates_only(make_hydrant):
    h = make_hydrant("--iam=off")
    h.client("s3").create_bucket(Bucket=BUCKET)
    key = user_with_key(h, "anyone")
    as_user(h, "s3", key).put_object(Bucket=BUCKET, Key="k", Body=b"v")
    fh = as_user(h, "firehose", key)
    fh.create_delivery_stream(DeliveryStreamName="s", S3DestinationConfiguration=stream_config(
        "arn:aws:iam::%s:role/never-made" % ACCOUNT))
    # still authenticated: a wrong secret is refused
    code, _, _ = error(h.client("s3", access_key=key[0], secret_key="wrong").list_buckets)
    assert code == "SignatureDoesNotMatch"


def test_conditions_and_variables_on_real_requests(make_hydrant):
    h = make_hydrant("--iam=default")
    s3root = h.client("s3")
    s3root.create_bucket(Bucket=BUCKET)
    for k in ("home/alice/a", "home/bob/b"):
        s3root.put_object(Bucket=BUCKET, Key=k, Body=b"z")
    policy = {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "s3:GetObject",
         "Resource": "arn:aws:s3:::%s/home/${aws:username}/*" % BUCKET},
        {"Effect": "Allow", "Action": "s3:ListBucket", "Resource": "arn:aws:s3:::" + BUCKET,
         "Condition": {"StringLike": {"s3:prefix": ["home/${aws:username}/*"]}}},
        {"Effect": "Deny", "Action": "s3:*", "Resource": "*",
         "Condition": {"NotIpAddress": {"aws:SourceIp": ["127.0.0.0/8", "::1/128"]}}}]}
    alice = as_user(h, "s3", user_with_key(h, "alice", policy))
    assert alice.get_object(Bucket=BUCKET, Key="home/alice/a")["Body"].read() == b"z"
    assert error(alice.get_object, Bucket=BUCKET, Key="home/bob/b")[0] == "AccessDenied"
    assert alice.list_objects_v2(Bucket=BUCKET, Prefix="home/alice/")["KeyCount"] == 1
    assert error(alice.list_objects_v2, Bucket=BUCKET, Prefix="home/bob/")[0] == "AccessDenied"
    assert error(alice.list_objects_v2, Bucket=BUCKET)[0] == "AccessDenied"
    # aws:SecureTransport is false on plain HTTP
    h.client("iam").put_user_policy(UserName="alice", PolicyName="tls", PolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Deny", "Action": "*", "Resource": "*",
                                                 "Condition": {"Bool": {"aws:SecureTransport": "false"}}}]}))
    assert error(alice.get_object, Bucket=BUCKET, Key="home/alice/a")[0] == "AccessDenied"


def test_simulate_principal_policy_matches_real_decisions(make_hydrant):
    h = make_hydrant("--iam=default")
    iam = h.client("iam")
    user_with_key(h, "sim", DC_POLICY)
    res = iam.simulate_principal_policy(
        PolicySourceArn="arn:aws:iam::%s:user/sim" % ACCOUNT,
        ActionNames=["firehose:PutRecord", "s3:GetObject", "s3:ListBucket"],
        ResourceArns=["arn:aws:s3:::" + BUCKET])["EvaluationResults"]
    got = {(r["EvalActionName"], r["EvalDecision"]) for r in res}
    assert got == {("firehose:PutRecord", "allowed"), ("s3:GetObject", "implicitDeny"),
                   ("s3:ListBucket", "allowed")}


def test_operations_without_an_action_fail_closed(make_hydrant):
    """A request the operation table does not name has no IAM action to
    authorize: an IAM user gets AccessDenied, never the API's handler."""
    from conftest import signed_request
    h = make_hydrant("--iam=default")
    h.client("s3").create_bucket(Bucket=BUCKET)
    admin = user_with_key(h, "admin2", managed=["arn:aws:iam::aws:policy/AdministratorAccess"])
    status, _, body = signed_request(h, "GET", "/%s?acl" % BUCKET, service="s3",
                                     access_key=admin[0], secret_key=admin[1])
    assert status == 403 and b"<Code>AccessDenied</Code>" in body
    status, _, body = signed_request(
        h, "POST", "/", b"Action=CreateLoginProfile&Version=2010-05-08&UserName=admin2",
        {"Content-Type": "application/x-www-form-urlencoded"}, service="iam",
        access_key=admin[0], secret_key=admin[1])
    assert status == 403 and b"<Code>AccessDenied</Code>" in body
    # the root still gets the API's own answer
    status, _, body = signed_request(h, "GET", "/%s?acl" % BUCKET, service="s3")
    assert status == 501 and b"NotImplemented" in body


def test_principal_tags_on_real_requests(make_hydrant):
    h = make_hydrant("--iam=default")
    s3root, iam = h.client("s3"), h.client("iam")
    s3root.create_bucket(Bucket=BUCKET)
    for k in ("blue/x", "red/y"):
        s3root.put_object(Bucket=BUCKET, Key=k, Body=b"t")
    key = user_with_key(h, "tagged", {"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Action": "s3:GetObject",
        "Resource": "arn:aws:s3:::%s/${aws:PrincipalTag/team}/*" % BUCKET}]})
    s3 = as_user(h, "s3", key)
    assert error(s3.get_object, Bucket=BUCKET, Key="blue/x")[0] == "AccessDenied"  # no tag yet
    iam.tag_user(UserName="tagged", Tags=[{"Key": "team", "Value": "blue"}])
    assert iam.list_user_tags(UserName="tagged")["Tags"] == [{"Key": "team", "Value": "blue"}]
    assert s3.get_object(Bucket=BUCKET, Key="blue/x")["Body"].read() == b"t"
    assert error(s3.get_object, Bucket=BUCKET, Key="red/y")[0] == "AccessDenied"
    iam.untag_user(UserName="tagged", TagKeys=["team"])
    assert error(s3.get_object, Bucket=BUCKET, Key="blue/x")[0] == "AccessDenied"


def test_cache_under_concurrent_changes(make_hydrant):
    """Requests of several users while their policies change underneath:
    every answer is an allow or an AccessDenied, the decisions follow the
    changes, and the server survives (run it under ASan: the identity
    cache's references are the point)."""
    import threading
    h = make_hydrant("--iam=default")
    h.client("s3").create_bucket(Bucket=BUCKET)
    make_role(h)
    h.client("firehose").create_delivery_stream(DeliveryStreamName="c",
                                                S3DestinationConfiguration=stream_config())
    wait_active(h.client("firehose"), "c")
    iam = h.client("iam")
    arn = iam.create_policy(PolicyName="put", PolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "firehose:Put*",
                                                 "Resource": "*"}]}))["Policy"]["Arn"]
    keys = [user_with_key(h, "c%d" % i, managed=[arn]) for i in range(4)]
    stop = threading.Event()
    seen, bad = {"ok": 0, "denied": 0}, []

    def producer(key):
        fh = as_user(h, "firehose", key)
        while not stop.is_set():
            try:
                fh.put_record(DeliveryStreamName="c", Record={"Data": b"x\n"})
                seen["ok"] += 1
            except ClientError as e:
                if e.response["Error"]["Code"] == "AccessDeniedException":
                    seen["denied"] += 1
                else:
                    bad.append(e.response["Error"])
    threads = [threading.Thread(target=producer, args=(k,)) for k in keys]
    for t in threads:
        t.start()
    try:
        for i in range(30):
            name = "c%d" % (i % 4)
            iam.detach_user_policy(UserName=name, PolicyArn=arn)
            iam.attach_user_policy(UserName=name, PolicyArn=arn)
            iam.put_user_policy(UserName=name, PolicyName="noise%d" % (i % 3),
                                PolicyDocument=json.dumps(DC_POLICY))
    finally:
        stop.set()
        for t in threads:
            t.join()
    assert not bad, bad[:3]
    assert seen["ok"] > 0
    # at rest every user is allowed again
    for k in keys:
        as_user(h, "firehose", k).put_record(DeliveryStreamName="c", Record={"Data": b"y\n"})
    iam.detach_user_policy(UserName="c0", PolicyArn=arn)
    iam.delete_user_policy(UserName="c0", PolicyName="noise0")
    iam.delete_user_policy(UserName="c0", PolicyName="noise1")
    iam.delete_user_policy(UserName="c0", PolicyName="noise2")
    assert error(as_user(h, "firehose", keys[0]).put_record, DeliveryStreamName="c",
                 Record={"Data": b"z"})[0] == "AccessDeniedException"
    assert h.alive()
