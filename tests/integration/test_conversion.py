"""Record format conversion end to end, the way users set it up against
AWS: boto3 creates a Glue database and table, a stream converts JSON to
Parquet with that table's schema, and the objects in the bucket are read
back by DuckDB and hyparquet (tests/node, never hydrant's own code).
A changed table version applies to the next object; records that do not
fit go to the error output with AWS's format-conversion error record."""
import base64
import json

from botocore.exceptions import ClientError  # noqa: F401

from conftest import wait_active, wait_for
from test_parquet import read, readers  # noqa: F401  (readers: the npm setup)

ROLE = "arn:aws:iam::000000000000:role/FirehoseDeliveryRole"


def table(glue, columns, version_update=False):
    ti = {"Name": "trips", "StorageDescriptor": {
        "Columns": [{"Name": n, "Type": t} for n, t in columns]}}
    if version_update:
        glue.update_table(DatabaseName="fleet", TableInput=ti)
    else:
        glue.create_table(DatabaseName="fleet", TableInput=ti)


def stream(fh, name="conv"):
    fh.create_delivery_stream(
        DeliveryStreamName=name, DeliveryStreamType="DirectPut",
        ExtendedS3DestinationConfiguration={
            "RoleARN": ROLE, "BucketARN": "arn:aws:s3:::parquet",
            "BufferingHints": {"SizeInMBs": 64, "IntervalInSeconds": 60},
            "Prefix": "trips/", "ErrorOutputPrefix": "errors/!{firehose:error-output-type}/",
            "DataFormatConversionConfiguration": {
                "Enabled": True,
                "SchemaConfiguration": {"DatabaseName": "fleet", "TableName": "trips",
                                        "RoleARN": ROLE, "Region": "us-east-1",
                                        "VersionId": "LATEST"},
                "InputFormatConfiguration": {"Deserializer": {"OpenXJsonSerDe": {}}},
                "OutputFormatConfiguration": {"Serializer": {"ParquetSerDe": {
                    "Compression": "SNAPPY"}}}}})
    wait_active(fh, name)


def objects(s3, prefix):
    return sorted(s3.list_objects_v2(Bucket="parquet", Prefix=prefix).get("Contents", []),
                  key=lambda o: o["Key"])


def test_json_to_parquet_with_a_glue_schema(hydrant, tmp_path, readers):
    glue, fh, s3 = hydrant.client("glue"), hydrant.client("firehose"), hydrant.client("s3")
    s3.create_bucket(Bucket="parquet")
    glue.create_database(DatabaseInput={"Name": "fleet"})
    table(glue, [("vehicle_id", "string"), ("speed", "double"), ("ts", "bigint")])
    stream(fh)
    recs = [{"vehicle_id": "v%d" % (i % 7), "speed": i * 1.5, "ts": 1700000000 + i}
            for i in range(498)]
    bad = [b"not json\n", b'{"vehicle_id": "v1", "speed": "fast", "ts": 1}\n']
    r = fh.put_record_batch(DeliveryStreamName="conv",
                            Records=[{"Data": json.dumps(x).encode() + b"\n"} for x in recs] +
                            [{"Data": b} for b in bad])
    assert r["FailedPutCount"] == 0
    hydrant.restart()  # SIGTERM delivers every buffer
    fh, s3, glue = hydrant.client("firehose"), hydrant.client("s3"), hydrant.client("glue")

    [obj] = objects(s3, "trips/")
    path = tmp_path / "a.parquet"
    path.write_bytes(s3.get_object(Bucket="parquet", Key=obj["Key"])["Body"].read())
    doc = read(str(path))
    for reader in ("duckdb", "hyparquet"):
        rows = doc[reader]["rows"]
        assert [(x["vehicle_id"], x["speed"], x["ts"]) for x in rows] == \
            [(x["vehicle_id"], x["speed"], x["ts"]) for x in recs], reader
    assert doc["duckdb"]["types"] == {"vehicle_id": "VARCHAR", "speed": "DOUBLE",
                                      "ts": "BIGINT"}

    errs = []
    for o in objects(s3, "errors/format-conversion-failed/"):
        errs += [json.loads(line) for line in
                 s3.get_object(Bucket="parquet", Key=o["Key"])["Body"].read().splitlines()]
    assert sorted(base64.b64decode(e["rawData"]) for e in errs) == sorted(bad)
    for e in errs:
        assert e["ErrorCode"].startswith("DataFormatConversion."), e
        assert e["ErrorMessage"]
        t = e["dataCatalogTable"]
        assert (t["databaseName"], t["tableName"], t["region"]) == ("fleet", "trips",
                                                                    "us-east-1"), t

    # a new table version applies to the next object
    table(glue, [("vehicle_id", "string"), ("speed", "double"), ("ts", "bigint"),
                 ("driver", "string")], version_update=True)
    fh.put_record_batch(DeliveryStreamName="conv", Records=[
        {"Data": json.dumps({"vehicle_id": "v9", "speed": 1.0, "ts": 5, "driver": "ana"})
         .encode()}])
    hydrant.restart()
    s3 = hydrant.client("s3")
    new = [o for o in objects(s3, "trips/") if o["Key"] != obj["Key"]]
    assert len(new) == 1
    path.write_bytes(s3.get_object(Bucket="parquet", Key=new[0]["Key"])["Body"].read())
    doc = read(str(path))
    assert doc["duckdb"]["rows"] == [{"vehicle_id": "v9", "speed": 1.0, "ts": 5,
                                      "driver": "ana"}]


def test_a_missing_table_holds_the_batch_until_it_exists(hydrant, tmp_path, readers):
    """The schema is read at delivery time: without its table the batch is
    kept and retried (nothing lost); once the table exists it converts."""
    glue, fh, s3 = hydrant.client("glue"), hydrant.client("firehose"), hydrant.client("s3")
    s3.create_bucket(Bucket="parquet")
    glue.create_database(DatabaseInput={"Name": "fleet"})
    stream(fh)
    fh.put_record(DeliveryStreamName="conv", Record={"Data": b'{"vehicle_id": "x"}\n'})
    hydrant.restart()  # the drain cannot convert it: it is kept
    glue, s3 = hydrant.client("glue"), hydrant.client("s3")
    assert objects(s3, "trips/") == []
    assert "Glue" in hydrant.read_log() or "table" in hydrant.read_log()
    table(glue, [("vehicle_id", "string")])
    # the batch that failed is parked and retried (backoff): it arrives
    [o] = wait_for(lambda: objects(s3, "trips/"), timeout=60)
    path = tmp_path / "b.parquet"
    path.write_bytes(s3.get_object(Bucket="parquet", Key=o["Key"])["Body"].read())
    assert read(str(path))["duckdb"]["rows"] == [{"vehicle_id": "x"}]
