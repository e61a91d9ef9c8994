"""Configurations that cannot deliver are refused, with AWS's exception types.

Issue 12: a prefix over the evaluated 512-character cap, a pattern letter
the evaluator did not know (!{timestamp:Q}), !{partitionKeyFromQuery:}
without working dynamic partitioning, and features hydrant stored but never
ran (processing, dynamic partitioning, format conversion, backup, CloudWatch
logging, KMS, time zones) were all accepted. Each case here is refused at
CreateDeliveryStream and at UpdateDestination with InvalidArgumentException
and a message naming what is missing; the same settings turned off stay
accepted. !{timestamp:Q} is now evaluated and delivered.

boto3 runs with parameter_validation=False (Debian's botocore model is old);
members newer than that model (CustomTimeZone) go as raw signed requests.
"""
import re

import pytest
from botocore.exceptions import ClientError

from conftest import firehose_call, wait_active, wait_for

ROLE = "arn:aws:iam::000000000000:role/firehose"
BUCKET = "arn:aws:s3:::hydrant-test"
DEST_ID = "destinationId-000000000001"
ERR = "errors/!{firehose:error-output-type}/"
AWS_PREFIX_RULE = "Ths supplied prefix(es) do not satisfy the following constraint: "


def dest(**kw):
    d = {"RoleARN": ROLE, "BucketARN": BUCKET}
    d.update(kw)
    return d


def refused(fh, name="s", **kw):
    """The (code, message) a CreateDeliveryStream is refused with; the
    stream must not exist afterwards."""
    if "S3DestinationConfiguration" not in kw:
        kw.setdefault("ExtendedS3DestinationConfiguration", dest())
    with pytest.raises(ClientError) as e:
        fh.create_delivery_stream(DeliveryStreamName=name, **kw)
    r = e.value.response
    assert r["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert name not in fh.list_delivery_streams()["DeliveryStreamNames"]
    return r["Error"]["Code"], r["Error"]["Message"]


# ---- prefixes ----------------------------------------------------------------
def test_prefix_over_512_after_evaluation(hydrant):
    fh = hydrant.client("firehose")
    code, msg = refused(fh, ExtendedS3DestinationConfiguration=dest(Prefix="a" * 513))
    assert code == "InvalidArgumentException"
    assert msg.startswith(AWS_PREFIX_RULE)
    assert "512 characters" in msg
    # 498 literal + the appended yyyy/MM/dd/HH/ (14) is exactly 512: accepted
    fh.create_delivery_stream(DeliveryStreamName="fits",
                              ExtendedS3DestinationConfiguration=dest(Prefix="a" * 498))


def test_prefix_length_is_its_widest_evaluation(hydrant):
    """57 month names fit in May (57 * 3 = 171) or August (342) but not in
    September (513): refused whatever month it is today."""
    fh = hydrant.client("firehose")
    code, msg = refused(fh, ExtendedS3DestinationConfiguration=dest(
        Prefix="!{timestamp:MMMM}" * 57, ErrorOutputPrefix=ERR))
    assert code == "InvalidArgumentException"
    assert "512 characters" in msg and "Prefix" in msg


def test_error_output_prefix_over_512(hydrant):
    fh = hydrant.client("firehose")
    code, msg = refused(fh, ExtendedS3DestinationConfiguration=dest(
        ErrorOutputPrefix="e" * 480 + "!{firehose:error-output-type}/"))
    assert code == "InvalidArgumentException"
    assert "ErrorOutputPrefix cannot be greater than 512 characters" in msg


def test_key_over_1024_bytes(hydrant):
    """320 characters (under 512) of 3-byte UTF-8: the key passes S3's 1024."""
    fh = hydrant.client("firehose")
    code, msg = refused(fh, ExtendedS3DestinationConfiguration=dest(
        Prefix="\u20ac" * 320 + "!{timestamp:yyyy}/", ErrorOutputPrefix=ERR))
    assert code == "InvalidArgumentException"
    assert "longer than 1024 bytes" in msg


@pytest.mark.parametrize("pattern,why", [
    ("b", "Unknown pattern letter: b"),
    ("ddd", "Too many pattern letters: d"),
    ("yyyy'", "Pattern ends with an incomplete string literal"),
    ("yyyy]", "contains ] without previous ["),
    ("pMMMM", "exceeds pad width of 1"),
])
def test_invalid_timestamp_patterns(hydrant, pattern, why):
    fh = hydrant.client("firehose")
    code, msg = refused(fh, ExtendedS3DestinationConfiguration=dest(
        Prefix="p/!{timestamp:%s}/" % pattern, ErrorOutputPrefix=ERR))
    assert code == "InvalidArgumentException"
    assert "DateTimeFormatter" in msg and why in msg


def test_expression_errors(hydrant):
    fh = hydrant.client("firehose")
    cases = [
        ("p/!{timestamp:yyyy", ERR, "not closed"),
        ("p/!{nope:x}/", ERR, "unknown namespace"),
        ("p/!{firehose:what}/", ERR, "random-string or error-output-type"),
        ("p/!{firehose:error-output-type}/", ERR,
         AWS_PREFIX_RULE + "Prefix cannot contain !{firehose:error-output-type}"),
    ]
    for prefix, err, want in cases:
        code, msg = refused(fh, ExtendedS3DestinationConfiguration=dest(
            Prefix=prefix, ErrorOutputPrefix=err))
        assert code == "InvalidArgumentException", prefix
        assert want in msg, (prefix, msg)


def test_error_output_prefix_rules(hydrant):
    fh = hydrant.client("firehose")
    code, msg = refused(fh, ExtendedS3DestinationConfiguration=dest(
        Prefix="p/!{timestamp:yyyy}/"))
    assert code == "InvalidArgumentException"
    assert msg == (AWS_PREFIX_RULE + "ErrorOutputPrefix cannot be null or empty when Prefix "
                   "contains expressions")
    code, msg = refused(fh, ExtendedS3DestinationConfiguration=dest(
        Prefix="p/!{firehose:random-string}/", ErrorOutputPrefix=""))
    assert code == "InvalidArgumentException" and "cannot be null or empty" in msg
    code, msg = refused(fh, ExtendedS3DestinationConfiguration=dest(
        ErrorOutputPrefix="e/!{timestamp:yyyy}/"))
    assert code == "InvalidArgumentException"
    assert msg.startswith(AWS_PREFIX_RULE)
    assert "must contain !{firehose:error-output-type}" in msg
    code, msg = refused(fh, ExtendedS3DestinationConfiguration=dest(
        ErrorOutputPrefix="e/!{partitionKeyFromQuery:k}/!{firehose:error-output-type}/"))
    assert code == "InvalidArgumentException" and "Dynamic Partitioning Namespaces" in msg
    # the legal combinations
    for i, (p, e) in enumerate([("static/", None), ("static/", "errors/"),
                                ("p/!{timestamp:yyyy}/", ERR), (None, ERR)]):
        cfg = dest()
        if p is not None:
            cfg["Prefix"] = p
        if e is not None:
            cfg["ErrorOutputPrefix"] = e
        fh.create_delivery_stream(DeliveryStreamName="ok%d" % i,
                                  ExtendedS3DestinationConfiguration=cfg)


def test_partition_key_expressions(hydrant):
    fh = hydrant.client("firehose")
    # without dynamic partitioning: AWS's words
    code, msg = refused(fh, ExtendedS3DestinationConfiguration=dest(
        Prefix="d/!{partitionKeyFromQuery:device}/", ErrorOutputPrefix=ERR))
    assert code == "InvalidArgumentException"
    assert msg == ("Dynamic Partitioning Namespaces can only be part of a prefix expression "
                   "when Dynamic Partitioning is enabled.")
    # with it: a key needs a name, and the processor that makes it
    big = {"SizeInMBs": 64, "IntervalInSeconds": 60}
    for prefix, want in (("d/!{partitionKeyFromQuery:}/", "names no partition key"),
                         ("d/!{partitionKeyFromLambda:k}/", "needs an enabled Lambda"),
                         ("d/!{partitionKeyFromQuery:k}/", "needs an enabled MetadataExtraction")):
        code, msg = refused(fh, ExtendedS3DestinationConfiguration=dest(
            Prefix=prefix, ErrorOutputPrefix=ERR, BufferingHints=big,
            DynamicPartitioningConfiguration={"Enabled": True}))
        assert code == "InvalidArgumentException"
        assert want in msg, msg


def test_quarter_is_evaluated_and_delivered(hydrant):
    """!{timestamp:Q} was accepted and then failed at every delivery."""
    fh, s3 = hydrant.client("firehose"), hydrant.client("s3")
    s3.create_bucket(Bucket="quarters")
    fh.create_delivery_stream(
        DeliveryStreamName="q", ExtendedS3DestinationConfiguration=dest(
            BucketARN="arn:aws:s3:::quarters",
            Prefix="q=!{timestamp:Q}/!{timestamp:QQQQ}/!{timestamp:ww-e-B}/",
            ErrorOutputPrefix=ERR, BufferingHints={"SizeInMBs": 1, "IntervalInSeconds": 0}))
    wait_active(fh, "q")
    fh.put_record(DeliveryStreamName="q", Record={"Data": b"hello\n"})
    objs = wait_for(lambda: s3.list_objects_v2(Bucket="quarters").get("Contents"), timeout=20)
    [o] = objs
    m = re.match(r"q=(\d)/(\dst|\dnd|\drd|\dth) quarter/\d\d-[1-7]-[a-z ]+/"
                 r"q-1-(\d{4})-(\d\d)-\d\d-\d\d-\d\d-\d\d-", o["Key"])
    assert m, o["Key"]
    quarter = (int(m.group(4)) - 1) // 3 + 1
    assert int(m.group(1)) == quarter
    assert m.group(2)[0] == str(quarter)
    assert s3.get_object(Bucket="quarters", Key=o["Key"])["Body"].read() == b"hello\n"


# ---- features hydrant does not honour ------------------------------------------
FEATURES = [
    # CloudWatchLoggingOptions is honoured since issue 17 (test_cwlogs.py); Enabled
    # without LogGroupName / LogStreamName is still refused (below)
    ("kms", {"EncryptionConfiguration": {"KMSEncryptionConfig": {
        "AWSKMSKeyARN": "arn:aws:kms:us-east-1:000000000000:key/k"}}}, "KMSEncryptionConfig"),
]


@pytest.mark.parametrize("label,extra,named", FEATURES, ids=[f[0] for f in FEATURES])
def test_unhonoured_feature_refused_at_create(hydrant, label, extra, named):
    fh = hydrant.client("firehose")
    code, msg = refused(fh, ExtendedS3DestinationConfiguration=dest(**extra))
    assert code == "InvalidArgumentException"
    assert named in msg and "not supported by this server" in msg


def test_format_conversion_needs_its_configuration(hydrant):
    """Conversion on (Enabled true, or the configuration given without
    Enabled) needs its schema, input and output configurations; ORC is
    refused by name (no ORC writer)."""
    fh = hydrant.client("firehose")
    for dfc in ({"Enabled": True}, {"SchemaConfiguration": {"DatabaseName": "d",
                                                             "TableName": "t"}}):
        code, msg = refused(fh, ExtendedS3DestinationConfiguration=dest(
            BufferingHints={"SizeInMBs": 64, "IntervalInSeconds": 60},
            DataFormatConversionConfiguration=dfc))
        assert code == "InvalidArgumentException", msg
        assert "Configuration" in msg, msg
    full = {"Enabled": True,
            "SchemaConfiguration": {"DatabaseName": "d", "TableName": "t", "RoleARN": ROLE},
            "InputFormatConfiguration": {"Deserializer": {"OpenXJsonSerDe": {}}},
            "OutputFormatConfiguration": {"Serializer": {"OrcSerDe": {}}}}
    code, msg = refused(fh, ExtendedS3DestinationConfiguration=dest(
        BufferingHints={"SizeInMBs": 64, "IntervalInSeconds": 60},
        DataFormatConversionConfiguration=full))
    assert code == "InvalidArgumentException" and "OrcSerDe is not supported" in msg, msg


@pytest.mark.parametrize("extra,named", [
    ({"CloudWatchLoggingOptions": {"Enabled": True}}, "CloudWatchLoggingOptions"),
    ({"EncryptionConfiguration": {"KMSEncryptionConfig": {
        "AWSKMSKeyARN": "arn:aws:kms:us-east-1:000000000000:key/k"}}}, "KMSEncryptionConfig"),
])
def test_unhonoured_feature_refused_on_plain_s3(hydrant, extra, named):
    fh = hydrant.client("firehose")
    code, msg = refused(fh, S3DestinationConfiguration=dest(**extra))
    assert code == "InvalidArgumentException" and named in msg


def test_custom_time_zone_raw(hydrant):
    """CustomTimeZone is newer than Debian's botocore model: raw requests.
    An IANA zone of the system's tz database is taken, anything else is
    refused with the name in the message."""
    body = {"DeliveryStreamName": "tz", "ExtendedS3DestinationConfiguration": dest(
        CustomTimeZone="Mars/Olympus_Mons")}
    status, out = firehose_call(hydrant, "CreateDeliveryStream", body)
    assert status == 400
    assert out["__type"] == "InvalidArgumentException"
    assert "CustomTimeZone Mars/Olympus_Mons" in out["message"]
    for zone in ("../../etc/passwd", "/etc/localtime"):
        body["ExtendedS3DestinationConfiguration"]["CustomTimeZone"] = zone
        status, out = firehose_call(hydrant, "CreateDeliveryStream", body)
        assert status == 400 and out["__type"] == "InvalidArgumentException", zone
    for name, zone in (("tz", "UTC"), ("tz2", "Asia/Tokyo")):
        body["DeliveryStreamName"] = name
        body["ExtendedS3DestinationConfiguration"]["CustomTimeZone"] = zone
        status, out = firehose_call(hydrant, "CreateDeliveryStream", body)
        assert status == 200, out


def test_turned_off_features_are_accepted_and_described(hydrant):
    fh = hydrant.client("firehose")
    cfg = dest(ProcessingConfiguration={"Enabled": False, "Processors": [
                   {"Type": "AppendDelimiterToRecord"}]},
               DynamicPartitioningConfiguration={"Enabled": False},
               DataFormatConversionConfiguration={"Enabled": False},
               S3BackupMode="Disabled",
               CloudWatchLoggingOptions={"Enabled": False},
               EncryptionConfiguration={"NoEncryptionConfig": "NoEncryption"})
    fh.create_delivery_stream(DeliveryStreamName="off", ExtendedS3DestinationConfiguration=cfg)
    wait_active(fh, "off")
    d = fh.describe_delivery_stream(DeliveryStreamName="off")["DeliveryStreamDescription"]
    ext = d["Destinations"][0]["ExtendedS3DestinationDescription"]
    for k in ("ProcessingConfiguration", "DynamicPartitioningConfiguration",
              "DataFormatConversionConfiguration", "S3BackupMode", "CloudWatchLoggingOptions",
              "EncryptionConfiguration"):
        assert ext[k] == cfg[k], k


# ---- UpdateDestination: the same validator --------------------------------------
def make_active(fh, name):
    fh.create_delivery_stream(DeliveryStreamName=name,
                              ExtendedS3DestinationConfiguration=dest(Prefix="static/"))
    wait_active(fh, name)


def update_refused(fh, name, upd):
    with pytest.raises(ClientError) as e:
        fh.update_destination(DeliveryStreamName=name, CurrentDeliveryStreamVersionId="1",
                              DestinationId=DEST_ID, ExtendedS3DestinationUpdate=upd)
    r = e.value.response
    d = fh.describe_delivery_stream(DeliveryStreamName=name)["DeliveryStreamDescription"]
    assert d["VersionId"] == "1"  # nothing changed
    assert d["Destinations"][0]["ExtendedS3DestinationDescription"]["Prefix"] == "static/"
    return r["Error"]["Code"], r["Error"]["Message"]


def test_update_refuses_what_create_refuses(hydrant):
    fh = hydrant.client("firehose")
    make_active(fh, "u")
    cases = [
        ({"Prefix": "a" * 600}, "512 characters"),
        ({"Prefix": "p/!{timestamp:b}/", "ErrorOutputPrefix": ERR}, "Unknown pattern letter"),
        ({"Prefix": "p/!{timestamp:yyyy}/"}, "ErrorOutputPrefix cannot be null or empty"),
        ({"Prefix": "!{partitionKeyFromQuery:k}/", "ErrorOutputPrefix": ERR},
         "Dynamic Partitioning Namespaces"),
        ({"ProcessingConfiguration": {"Enabled": True, "Processors": [
            {"Type": "AppendDelimiterToRecord"}, {"Type": "AppendDelimiterToRecord"}]}},
         "more than once"),
        ({"DataFormatConversionConfiguration": {"Enabled": True}}, "SchemaConfiguration"),
        ({"S3BackupMode": "Enabled"}, "S3BackupConfiguration is required"),
        ({"CloudWatchLoggingOptions": {"Enabled": True}}, "CloudWatchLoggingOptions"),
        ({"EncryptionConfiguration": {"KMSEncryptionConfig": {
            "AWSKMSKeyARN": "arn:aws:kms:us-east-1:000000000000:key/k"}}},
         "KMSEncryptionConfig"),
    ]
    for upd, want in cases:
        code, msg = update_refused(fh, "u", upd)
        assert code == "InvalidArgumentException", upd
        assert want in msg, (upd, msg)
    # dynamic partitioning cannot be turned on by an update at all (AWS)
    code, msg = update_refused(fh, "u", {"DynamicPartitioningConfiguration": {"Enabled": True}})
    assert code == "InvalidArgumentException" and "only when a Firehose is created" in msg
    # a good update still goes through, and a quarter prefix is fine
    fh.update_destination(DeliveryStreamName="u", CurrentDeliveryStreamVersionId="1",
                          DestinationId=DEST_ID, ExtendedS3DestinationUpdate={
                              "Prefix": "q=!{timestamp:Q}/", "ErrorOutputPrefix": ERR})
    d = fh.describe_delivery_stream(DeliveryStreamName="u")["DeliveryStreamDescription"]
    assert d["VersionId"] == "2"


def test_update_checks_the_merged_destination(hydrant):
    """An update that only removes ErrorOutputPrefix from a stream whose
    Prefix has expressions leaves an undeliverable pair: refused."""
    fh = hydrant.client("firehose")
    fh.create_delivery_stream(DeliveryStreamName="m", ExtendedS3DestinationConfiguration=dest(
        Prefix="p/!{timestamp:yyyy}/", ErrorOutputPrefix=ERR))
    wait_active(fh, "m")
    with pytest.raises(ClientError) as e:
        fh.update_destination(DeliveryStreamName="m", CurrentDeliveryStreamVersionId="1",
                              DestinationId=DEST_ID,
                              ExtendedS3DestinationUpdate={"ErrorOutputPrefix": ""})
    assert e.value.response["Error"]["Code"] == "InvalidArgumentException"
    assert "ErrorOutputPrefix cannot be null or empty" in e.value.response["Error"]["Message"]


def test_custom_time_zone_update_raw(hydrant):
    """UpdateDestination takes a zone like create: a bad one is refused and
    changes nothing, a good one applies (described as given)."""
    fh = hydrant.client("firehose")
    make_active(fh, "tzu")
    status, out = firehose_call(hydrant, "UpdateDestination", {
        "DeliveryStreamName": "tzu", "CurrentDeliveryStreamVersionId": "1",
        "DestinationId": DEST_ID,
        "ExtendedS3DestinationUpdate": {"CustomTimeZone": "Europe/Atlantis"}})
    assert status == 400
    assert out["__type"] == "InvalidArgumentException"
    assert "CustomTimeZone Europe/Atlantis" in out["message"]
    d = fh.describe_delivery_stream(DeliveryStreamName="tzu")["DeliveryStreamDescription"]
    assert d["VersionId"] == "1"
    assert "CustomTimeZone" not in d["Destinations"][0]["ExtendedS3DestinationDescription"]
    status, out = firehose_call(hydrant, "UpdateDestination", {
        "DeliveryStreamName": "tzu", "CurrentDeliveryStreamVersionId": "1",
        "DestinationId": DEST_ID,
        "ExtendedS3DestinationUpdate": {"CustomTimeZone": "Europe/Paris"}})
    assert status == 200, out
    status, out = firehose_call(hydrant, "DescribeDeliveryStream",
                                {"DeliveryStreamName": "tzu"})  # newer than botocore's model
    d = out["DeliveryStreamDescription"]
    assert d["VersionId"] == "2"
    assert d["Destinations"][0]["ExtendedS3DestinationDescription"]["CustomTimeZone"] == \
        "Europe/Paris"