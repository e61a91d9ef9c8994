"""The Glue Data Catalog API with boto3's glue client (issue 15).

Every operation hydrant serves (CreateDatabase, GetDatabase, GetDatabases,
DeleteDatabase, CreateTable, GetTable, GetTables, UpdateTable, DeleteTable,
GetTableVersion, GetTableVersions) and the errors AWS gives for them
(EntityNotFoundException, AlreadyExistsException, InvalidInputException,
ConcurrentModificationException), against the real binary. The catalog is
persisted: a restart keeps databases, tables and versions.
"""
import json
import os
import stat

import pytest
from botocore.exceptions import ClientError

from conftest import signed_request

COLUMNS = [{"Name": "vehicle_id", "Type": "string"},
           {"Name": "lat", "Type": "double"},
           {"Name": "lon", "Type": "double"},
           {"Name": "speed", "Type": "float"},
           {"Name": "ts", "Type": "timestamp"}]


def table_input(name="telematics", columns=COLUMNS, **kw):
    t = {"Name": name, "TableType": "EXTERNAL_TABLE",
         "StorageDescriptor": {"Columns": columns, "Location": "s3://bucket/path/"}}
    t.update(kw)
    return t


def err(excinfo):
    return excinfo.value.response["Error"]["Code"]


@pytest.fixture
def glue(hydrant):
    return hydrant.client("glue", validate=True)


def test_database_lifecycle(glue):
    glue.create_database(DatabaseInput={"Name": "Fleet", "Description": "vehicles",
                                        "Parameters": {"owner": "ops"}})
    db = glue.get_database(Name="fleet")["Database"]
    assert db["Name"] == "fleet"  # Glue keeps names in lowercase
    assert db["Description"] == "vehicles"
    assert db["Parameters"] == {"owner": "ops"}
    assert db["CatalogId"] == "000000000000"
    assert db["CreateTime"].year >= 2024
    assert glue.get_database(Name="FLEET")["Database"]["Name"] == "fleet"
    with pytest.raises(ClientError) as e:
        glue.create_database(DatabaseInput={"Name": "fleet"})
    assert err(e) == "AlreadyExistsException"
    glue.create_database(DatabaseInput={"Name": "other"})
    names = [d["Name"] for d in glue.get_databases()["DatabaseList"]]
    assert names == ["fleet", "other"]
    glue.delete_database(Name="other")
    with pytest.raises(ClientError) as e:
        glue.get_database(Name="other")
    assert err(e) == "EntityNotFoundException"
    assert "other" in e.value.response["Error"]["Message"]
    with pytest.raises(ClientError) as e:
        glue.delete_database(Name="other")
    assert err(e) == "EntityNotFoundException"


def test_get_databases_pages(glue):
    for i in range(5):
        glue.create_database(DatabaseInput={"Name": "db%d" % i})
    seen, token, pages = [], None, 0
    while True:
        kw = {"MaxResults": 2}
        if token:
            kw["NextToken"] = token
        r = glue.get_databases(**kw)
        seen += [d["Name"] for d in r["DatabaseList"]]
        pages += 1
        token = r.get("NextToken")
        if not token:
            break
    assert seen == ["db%d" % i for i in range(5)]
    assert pages == 3


def test_table_lifecycle_and_versions(glue):
    glue.create_database(DatabaseInput={"Name": "fleet"})
    glue.create_table(DatabaseName="fleet", TableInput=table_input("Telematics"))
    t = glue.get_table(DatabaseName="fleet", Name="telematics")["Table"]
    assert t["Name"] == "telematics" and t["DatabaseName"] == "fleet"
    assert t["VersionId"] == "0"
    assert [c["Name"] for c in t["StorageDescriptor"]["Columns"]] == \
        [c["Name"] for c in COLUMNS]
    assert t["StorageDescriptor"]["Location"] == "s3://bucket/path/"
    with pytest.raises(ClientError) as e:
        glue.create_table(DatabaseName="fleet", TableInput=table_input())
    assert err(e) == "AlreadyExistsException"

    # UpdateTable makes a new version; the old one is kept
    cols2 = COLUMNS + [{"Name": "heading", "Type": "int"}]
    glue.update_table(DatabaseName="fleet", TableInput=table_input(columns=cols2))
    t = glue.get_table(DatabaseName="fleet", Name="telematics")["Table"]
    assert t["VersionId"] == "1"
    assert t["StorageDescriptor"]["Columns"][-1] == {"Name": "heading", "Type": "int"}
    v0 = glue.get_table_version(DatabaseName="fleet", TableName="telematics",
                                VersionId="0")["TableVersion"]
    assert v0["VersionId"] == "0"
    assert len(v0["Table"]["StorageDescriptor"]["Columns"]) == len(COLUMNS)
    latest = glue.get_table_version(DatabaseName="fleet", TableName="telematics")
    assert latest["TableVersion"]["VersionId"] == "1"
    versions = glue.get_table_versions(DatabaseName="fleet",
                                       TableName="telematics")["TableVersions"]
    assert [v["VersionId"] for v in versions] == ["1", "0"]
    with pytest.raises(ClientError) as e:
        glue.get_table_version(DatabaseName="fleet", TableName="telematics", VersionId="7")
    assert err(e) == "EntityNotFoundException"
    with pytest.raises(ClientError) as e:
        glue.get_table_version(DatabaseName="fleet", TableName="telematics",
                               VersionId="x")
    assert err(e) == "InvalidInputException"

    # optimistic concurrency: VersionId must name the latest
    with pytest.raises(ClientError) as e:
        glue.update_table(DatabaseName="fleet", TableInput=table_input(), VersionId="0")
    assert err(e) == "ConcurrentModificationException"
    glue.update_table(DatabaseName="fleet", TableInput=table_input(), VersionId="1")
    # SkipArchive: the previous version is not kept
    glue.update_table(DatabaseName="fleet", TableInput=table_input(columns=cols2),
                      SkipArchive=True)
    versions = glue.get_table_versions(DatabaseName="fleet",
                                       TableName="telematics")["TableVersions"]
    assert [v["VersionId"] for v in versions] == ["3", "1", "0"]

    glue.create_table(DatabaseName="fleet", TableInput=table_input("events"))
    glue.create_table(DatabaseName="fleet", TableInput=table_input("events_raw"))
    names = [x["Name"] for x in glue.get_tables(DatabaseName="fleet")["TableList"]]
    assert names == ["events", "events_raw", "telematics"]
    names = [x["Name"] for x in glue.get_tables(DatabaseName="fleet",
                                                Expression="events.*")["TableList"]]
    assert names == ["events", "events_raw"]
    names = [x["Name"] for x in glue.get_tables(DatabaseName="fleet",
                                                Expression="EVENTS|tele[a-m]+tics")["TableList"]]
    assert names == ["events", "telematics"]
    with pytest.raises(ClientError) as e:
        glue.get_tables(DatabaseName="fleet", Expression="(unclosed")
    assert err(e) == "InvalidInputException"
    r = glue.get_tables(DatabaseName="fleet", MaxResults=2)
    assert len(r["TableList"]) == 2 and r["NextToken"]
    r2 = glue.get_tables(DatabaseName="fleet", MaxResults=2, NextToken=r["NextToken"])
    assert [x["Name"] for x in r2["TableList"]] == ["telematics"]
    assert "NextToken" not in r2

    glue.delete_table(DatabaseName="fleet", Name="events")
    with pytest.raises(ClientError) as e:
        glue.get_table(DatabaseName="fleet", Name="events")
    assert err(e) == "EntityNotFoundException"
    with pytest.raises(ClientError) as e:
        glue.delete_table(DatabaseName="fleet", Name="events")
    assert err(e) == "EntityNotFoundException"
    with pytest.raises(ClientError) as e:
        glue.get_table_versions(DatabaseName="fleet", TableName="events")
    assert err(e) == "EntityNotFoundException"

    # deleting a database deletes its tables
    glue.delete_database(Name="fleet")
    glue.create_database(DatabaseInput={"Name": "fleet"})
    assert glue.get_tables(DatabaseName="fleet")["TableList"] == []


def test_missing_database_errors(glue):
    for call in (lambda: glue.create_table(DatabaseName="nope", TableInput=table_input()),
                 lambda: glue.get_table(DatabaseName="nope", Name="t"),
                 lambda: glue.get_tables(DatabaseName="nope"),
                 lambda: glue.update_table(DatabaseName="nope", TableInput=table_input()),
                 lambda: glue.delete_table(DatabaseName="nope", Name="t"),
                 lambda: glue.get_table_version(DatabaseName="nope", TableName="t"),
                 lambda: glue.get_table_versions(DatabaseName="nope", TableName="t")):
        with pytest.raises(ClientError) as e:
            call()
        assert err(e) == "EntityNotFoundException"
        assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400


def test_invalid_input_in_aws_shape(hydrant):
    """Raw requests botocore would refuse: the JSON 1.1 error shape."""
    def call(op, body):
        status, headers, data = signed_request(
            hydrant, body=json.dumps(body), service="glue",
            headers={"Content-Type": "application/x-amz-json-1.1",
                     "X-Amz-Target": "AWSGlue." + op})
        return status, headers, json.loads(data)
    status, headers, doc = call("CreateDatabase", {})
    assert status == 400 and doc["__type"] == "InvalidInputException"
    assert headers["x-amzn-ErrorType"] == "InvalidInputException"
    assert "databaseInput" in doc["Message"]
    status, _, doc = call("CreateDatabase", {"DatabaseInput": {"Name": "x" * 256}})
    assert status == 400 and doc["__type"] == "InvalidInputException"
    assert "255" in doc["Message"]
    status, _, doc = call("GetTable", {"DatabaseName": "d"})
    assert status == 400 and doc["__type"] == "InvalidInputException"
    status, _, doc = call("GetTables", {"DatabaseName": "d", "MaxResults": 1000})
    assert status == 400 and doc["__type"] == "InvalidInputException"
    status, _, doc = call("NoSuchOperation", {})
    assert status == 400 and doc["__type"] == "UnknownOperationException"
    # the answers of a successful call are JSON 1.1 too
    status, headers, doc = call("GetDatabases", {})
    assert status == 200 and doc == {"DatabaseList": []}
    assert headers["Content-Type"] == "application/x-amz-json-1.1"


def test_catalog_survives_restart_and_is_private(hydrant):
    glue = hydrant.client("glue")
    glue.create_database(DatabaseInput={"Name": "fleet"})
    glue.create_table(DatabaseName="fleet", TableInput=table_input())
    glue.update_table(DatabaseName="fleet", TableInput=table_input(
        columns=COLUMNS + [{"Name": "x", "Type": "int"}]))
    hydrant.restart()
    glue = hydrant.client("glue")
    t = glue.get_table(DatabaseName="fleet", Name="telematics")["Table"]
    assert t["VersionId"] == "1" and len(t["StorageDescriptor"]["Columns"]) == 6
    path = os.path.join(hydrant.data_dir, "glue.db")
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    for extra in ("-wal", "-shm"):
        if os.path.exists(path + extra):
            assert stat.S_IMODE(os.stat(path + extra).st_mode) & 0o077 == 0


def test_glue_needs_a_glue_signature(hydrant):
    """A Glue call signed for another service is refused before Glue runs."""
    status, headers, data = signed_request(
        hydrant, body=json.dumps({"DatabaseInput": {"Name": "evil"}}), service="firehose",
        headers={"Content-Type": "application/x-amz-json-1.1",
                 "X-Amz-Target": "AWSGlue.CreateDatabase"})
    assert status == 403
    assert json.loads(data)["__type"] == "InvalidSignatureException"
    assert hydrant.client("glue").get_databases()["DatabaseList"] == []
