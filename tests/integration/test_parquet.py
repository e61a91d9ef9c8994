"""Parquet out of JSON in (issue 15): files hydrant's format stage writes,
read back by INDEPENDENT readers -- DuckDB (@duckdb/node-api) and hyparquet
(npm) through tests/node/read_parquet.mjs -- never by hydrant's own code.

The files are written by build/hydrant-parquet, which runs the server's
format.c + parquet.c on JSON lines (and, with --glue-dir, reads the schema
from a running hydrant's Glue catalog exactly as delivery does). Every
column value, type, null and nested element is compared with the JSON
that went in, for each compression and writer version, for a wide table
with every Hive type and for telematics records; row groups and pages
follow BlockSizeBytes / PageSizeBytes (DuckDB's parquet_metadata(), and the
page headers decoded by hyparquet's Thrift reader); statistics are checked
against the data.

The readers are installed by this module's setup (npm ci into
tests/node/node_modules, from tests/node/package-lock.json) when missing;
CI needs only node and npm (Debian's nodejs and npm packages).
"""
import base64
import datetime as dt
import json
import math
import os
import random
import re
import struct
import subprocess
import decimal
from decimal import ROUND_HALF_UP, Decimal

import pytest

from conftest import BIN, ROOT

decimal.getcontext().prec = 80  # decimal(38, s) and their products
NODE_DIR = os.path.join(ROOT, "tests", "node")
TOOL = os.path.join(os.path.dirname(BIN), "hydrant-parquet")
WIDE = ("struct<s:string,c:char(3),v:varchar(4),b:boolean,ti:tinyint,si:smallint,i:int,"
        "bi:bigint,f:float,d:double,dec:decimal(10,2),dec18:decimal(18,4),"
        "dec2:decimal(30,5),dt:date,ts:timestamp,bin:binary,"
        "st:struct<x:int,y:array<string>>,arr:array<struct<k:string,v:double>>,"
        "m:map<string,int>,mm:map<int,array<bigint>>>")
TELEMATICS = "struct<vehicle_id:string,lat:double,lon:double,speed:float,timestamp:timestamp>"


@pytest.fixture(scope="module", autouse=True)
def readers():
    """The npm readers, installed from the lock file when missing."""
    if not os.path.isdir(os.path.join(NODE_DIR, "node_modules", "@duckdb", "node-api")) or \
            not os.path.isdir(os.path.join(NODE_DIR, "node_modules", "hyparquet")):
        r = subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=NODE_DIR,
                           capture_output=True, text=True, timeout=600)
        assert r.returncode == 0, "npm ci in tests/node failed:\n" + r.stderr[-3000:]
    assert os.access(TOOL, os.X_OK), "build %s first (make all)" % TOOL


def write(tmp_path, schema, lines, *args, name="out.parquet"):
    """Runs the tool; returns (path, its JSON summary)."""
    path = str(tmp_path / name)
    data = "\n".join(l if isinstance(l, str) else json.dumps(l) for l in lines) + "\n"
    r = subprocess.run([TOOL, "--schema", schema, "-o", path, *args], input=data.encode(),
                       capture_output=True, timeout=300)
    assert r.returncode == 0, r.stderr.decode()
    return path, json.loads(r.stdout)


def read(path):
    r = subprocess.run(["node", os.path.join(NODE_DIR, "read_parquet.mjs"), path],
                       capture_output=True, timeout=300, cwd=NODE_DIR)
    assert r.returncode == 0, r.stderr.decode()[-3000:]
    return json.loads(r.stdout)


# ---- what the columns must hold, from the JSON -----------------------------
def f32(x):
    return struct.unpack("<f", struct.pack("<f", x))[0]


def get_ci(obj, name):
    """OpenX's default: a field matches its key whatever the key's case."""
    if name in obj:
        return obj[name]
    return next((v for k, v in obj.items() if k.lower() == name), None)


def expect(t, v):
    """The value a reader must show for JSON value v in a column of Hive type t
    (t: a parsed type tuple), in DuckDB's to_json form."""
    if v is None:
        return None
    k = t[0]
    if k in ("string", "binary"):
        return v if isinstance(v, str) else json.dumps(v, separators=(",", ":"))
    if k == "char":
        return v[:t[1]].rstrip(" ")
    if k == "varchar":
        return v[:t[1]]
    if k in ("tinyint", "smallint", "int", "bigint"):
        return int(v)
    if k == "boolean":
        return v if isinstance(v, bool) else v.lower() == "true"
    if k == "float":
        return f32(float(v))
    if k == "double":
        return float(v)
    if k == "decimal":
        return Decimal(str(v)).quantize(Decimal(1).scaleb(-t[2]), rounding=ROUND_HALF_UP)
    if k == "date":
        return v
    if k == "timestamp":
        if isinstance(v, (int, float)):
            ms = int(v) * 1000 if abs(v) < 10**11 else int(v)
        else:
            s = v.replace("Z", "+00:00").replace(" ", "T")
            d = dt.datetime.fromisoformat(s)
            if d.tzinfo:
                d = d.astimezone(dt.timezone.utc).replace(tzinfo=None)
            delta = d - dt.datetime(1970, 1, 1)
            ms = delta.days * 86400000 + delta.seconds * 1000 + delta.microseconds // 1000
        d = dt.datetime(1970, 1, 1) + dt.timedelta(milliseconds=ms)
        text = d.strftime("%Y-%m-%d %H:%M:%S")
        return text + (".%03d" % (ms % 1000)).rstrip("0").rstrip(".") if ms % 1000 else text
    if k == "struct":
        return {name: expect(ft, get_ci(v, name)) for name, ft in t[1]}
    if k == "array":
        return [expect(t[1], e) for e in v]
    if k == "map":
        return {str(expect(t[1], key)) if t[1][0] != "string" else key: expect(t[2], val)
                for key, val in v.items()}
    raise AssertionError(k)


def parse_type(s):
    """A tiny Hive type parser for the test's own expectations."""
    s = s.replace(" ", "")
    pos = 0

    def ident():
        nonlocal pos
        start = pos
        while pos < len(s) and (s[pos].isalnum() or s[pos] == "_"):
            pos += 1
        return s[start:pos]

    def typ():
        nonlocal pos
        name = ident().lower()
        if name in ("char", "varchar", "decimal") and pos < len(s) and s[pos] == "(":
            end = s.index(")", pos)
            nums = [int(x) for x in s[pos + 1:end].split(",")]
            pos = end + 1
            return (name, *nums)
        if name == "struct":
            pos += 1
            fields = []
            while True:
                fname = ident()
                pos += 1  # ':'
                fields.append((fname.lower(), typ()))
                if s[pos] == ">":
                    pos += 1
                    return ("struct", fields)
                pos += 1  # ','
        if name == "array":
            pos += 1
            e = typ()
            pos += 1
            return ("array", e)
        if name == "map":
            pos += 1
            kt = typ()
            pos += 1
            vt = typ()
            pos += 1
            return ("map", kt, vt)
        return (name,)
    return typ()


def close(a, b):
    if isinstance(b, float):
        if isinstance(a, Decimal):
            a = float(a)
        return isinstance(a, (int, float)) and (a == b or math.isclose(a, b, rel_tol=1e-6))
    if isinstance(b, Decimal):
        return Decimal(str(a)) == b
    if isinstance(b, dict):
        return isinstance(a, dict) and a.keys() == b.keys() and all(close(a[k], b[k]) for k in b)
    if isinstance(b, list):
        return isinstance(a, list) and len(a) == len(b) and all(map(close, a, b))
    return a == b


def blob_bytes(t, v):
    """DuckDB's text of a BLOB (bytes outside printable ASCII, and '"', as
    \\xNN) back to bytes, wherever binary columns are in v."""
    if v is None:
        return None
    if t[0] == "binary":
        return re.sub(rb"\\x([0-9A-Fa-f]{2})", lambda m: bytes([int(m.group(1), 16)]),
                      v.encode("latin-1", "backslashreplace") if False else v.encode())
    if t[0] == "struct":
        return {k: blob_bytes(ft, v.get(k)) for k, ft in t[1]}
    return v


def check_duckdb(doc, schema, records):
    """DuckDB's to_json of every row equals what the records must give."""
    t = parse_type(schema)
    rows = [json.loads(j, parse_float=Decimal) for j in doc["duckdb"]["json"]]
    rows = [blob_bytes(t, r) for r in rows]
    assert len(rows) == len(records)
    for i, (got, rec) in enumerate(zip(rows, records)):
        want = expect(t, rec)
        for name, ft in t[1]:
            if ft[0] == "binary" and want[name] is not None:
                want[name] = want[name].encode()
        assert close(got, want), "row %d: DuckDB %r, want %r" % (i, got, want)


def hyp_expect(t, v):
    """What hyparquet shows for JSON value v (its own conventions: DATE and
    TIMESTAMP as Date objects, decimals as numbers, MAP as an object)."""
    if v is None:
        return None
    k = t[0]
    if k == "date":
        return v + "T00:00:00.000Z"
    if k == "timestamp":
        s = expect(t, v)
        d = dt.datetime.strptime(s[:19], "%Y-%m-%d %H:%M:%S")
        ms = int(s[20:].ljust(3, "0")) if len(s) > 19 else 0
        return d.strftime("%Y-%m-%dT%H:%M:%S") + ".%03dZ" % ms
    if k == "decimal":
        return float(expect(t, v))
    if k == "bigint":
        n = int(v)
        return n if abs(n) <= 2**53 - 1 else str(n)
    if k == "struct":
        return {name: hyp_expect(ft, get_ci(v, name)) for name, ft in t[1]}
    if k == "array":
        return [hyp_expect(t[1], e) for e in v]
    if k == "map":
        return {str(hyp_expect(t[1], key)): hyp_expect(t[2], val) for key, val in v.items()}
    return expect(t, v)


def check_hyparquet(doc, schema, records):
    t = parse_type(schema)
    rows = doc["hyparquet"]["rows"]
    assert len(rows) == len(records)
    for i, (got, rec) in enumerate(zip(rows, records)):
        want = hyp_expect(t, rec)
        assert close(got, want), "row %d: hyparquet %r, want %r" % (i, got, want)


# ---- data -------------------------------------------------------------------
def wide_records(n=400, seed=7):
    rnd = random.Random(seed)
    out = [
        {"s": "hello", "c": "abcdef", "v": "wxyz123", "b": True, "ti": -128, "si": 32767,
         "i": -2147483648, "bi": 9007199254740993, "f": 1.5, "d": -2.25, "dec": "123.456",
         "dec18": "-99999999999999.9999", "dec2": "-1234567890123456789012.34567",
         "dt": "2024-02-29", "ts": "2024-03-01T12:34:56.789Z", "bin": "raw bytes",
         "st": {"x": 1, "y": ["a", None, "b"]},
         "arr": [{"k": "p", "v": 1.0}, None, {"k": None, "v": 2}],
         "m": {"one": 1, "two": None}, "mm": {"7": [1, 2], "8": []}},
        {"S": "UPPER KEY", "I": 5, "St": {"X": 9, "Y": []}},  # OpenX: any case
        {},  # every column null
        {"st": {}, "arr": [], "m": {}, "mm": {}},  # empty containers
        {"ti": "12", "si": "-7", "i": "42", "b": "FALSE", "d": "3.5", "dec": 7,
         "ts": "2023-12-31 23:59:59.5", "s": 17, "bin": {"nested": [1, 2]}},
    ]
    words = ["alpha", "beta", "gamma", "delta", "épsilon", "ζeta", ""]
    for i in range(n):
        r = {}
        if rnd.random() < 0.9:
            r["s"] = rnd.choice(words) + str(rnd.randint(0, 30))
        if rnd.random() < 0.8:
            r["c"] = rnd.choice(words)
        if rnd.random() < 0.8:
            r["v"] = rnd.choice(words) * 2
        if rnd.random() < 0.8:
            r["b"] = rnd.random() < 0.5
        if rnd.random() < 0.8:
            r["ti"] = rnd.randint(-128, 127)
        if rnd.random() < 0.8:
            r["si"] = rnd.randint(-32768, 32767)
        if rnd.random() < 0.9:
            r["i"] = rnd.randint(-2**31, 2**31 - 1)
        if rnd.random() < 0.9:
            r["bi"] = rnd.randint(-2**63, 2**63 - 1)
        if rnd.random() < 0.8:
            r["f"] = rnd.choice([0.0, -0.0, 1e-3, rnd.uniform(-1e6, 1e6)])
        if rnd.random() < 0.8:
            r["d"] = rnd.uniform(-1e12, 1e12)
        if rnd.random() < 0.8:
            r["dec"] = "%d.%02d" % (rnd.randint(-99999999, 99999999), rnd.randint(0, 99))
        if rnd.random() < 0.8:
            r["dec18"] = "%d.%04d" % (rnd.randint(-10**14 + 1, 10**14 - 1), rnd.randint(0, 9999))
        if rnd.random() < 0.8:
            r["dec2"] = "%d.%05d" % (rnd.randint(-10**24 + 1, 10**24 - 1), rnd.randint(0, 99999))
        if rnd.random() < 0.8:
            d = dt.date(1900, 1, 1) + dt.timedelta(days=rnd.randint(0, 80000))
            r["dt"] = d.isoformat()
        if rnd.random() < 0.8:
            ms = rnd.randint(-10**12, 4 * 10**12)
            # integers: epoch milliseconds from 10^11 (OpenX reads smaller
            # ones as seconds)
            r["ts"] = max(ms, 10**11) if rnd.random() < 0.3 else (
                dt.datetime(1970, 1, 1) + dt.timedelta(milliseconds=ms)).strftime(
                    "%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
        if rnd.random() < 0.7:
            r["bin"] = rnd.choice(words) + "\u0001"
        if rnd.random() < 0.7:
            r["st"] = {"x": rnd.choice([None, rnd.randint(-5, 5)]),
                       "y": rnd.choice([None, [], [rnd.choice(words + [None])
                                                   for _ in range(rnd.randint(1, 4))]])}
        if rnd.random() < 0.7:
            r["arr"] = [rnd.choice([None, {"k": rnd.choice(words), "v": rnd.random()}])
                        for _ in range(rnd.randint(0, 4))]
        if rnd.random() < 0.7:
            r["m"] = {"k%d" % j: rnd.choice([None, j]) for j in range(rnd.randint(0, 3))}
        if rnd.random() < 0.5:
            r["mm"] = {str(j): [rnd.randint(0, 9) for _ in range(rnd.randint(0, 3))]
                       for j in range(rnd.randint(0, 3))}
        out.append(r)
    return out


def telematics(n=3000, seed=3):
    rnd = random.Random(seed)
    t0 = dt.datetime(2026, 8, 22, 14, 5, 33)
    out = []
    for i in range(n):
        ts = t0 + dt.timedelta(milliseconds=250 * i)
        out.append({"vehicle_id": "truck-%03d" % rnd.randint(0, 40),
                    "lat": round(52.52 + rnd.uniform(-0.5, 0.5), 6),
                    "lon": round(13.40 + rnd.uniform(-0.5, 0.5), 6),
                    "speed": round(rnd.uniform(0, 130), 1),
                    "timestamp": ts.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"})
    return out


# ---- tests ------------------------------------------------------------------
WIDE_TYPES = {"s": "VARCHAR", "c": "VARCHAR", "v": "VARCHAR", "b": "BOOLEAN",
              "ti": "TINYINT", "si": "SMALLINT", "i": "INTEGER", "bi": "BIGINT",
              "f": "FLOAT", "d": "DOUBLE", "dec": "DECIMAL(10,2)", "dec18": "DECIMAL(18,4)",
              "dec2": "DECIMAL(30,5)", "dt": "DATE", "ts": "TIMESTAMP", "bin": "BLOB",
              "st": "STRUCT(x INTEGER, y VARCHAR[])", "arr": "STRUCT(k VARCHAR, v DOUBLE)[]",
              "m": "MAP(VARCHAR, INTEGER)", "mm": "MAP(INTEGER, BIGINT[])"}


@pytest.mark.parametrize("codec", ["UNCOMPRESSED", "SNAPPY", "GZIP"])
@pytest.mark.parametrize("writer", ["V1", "V2"])
@pytest.mark.parametrize("dictionary", [False, True], ids=["plain", "dict"])
def test_wide_table(tmp_path, codec, writer, dictionary):
    records = wide_records()
    args = ["--codec", codec, "--writer", writer] + (["--dictionary"] if dictionary else [])
    path, res = write(tmp_path, WIDE, records, *args, "--page-size", "4096")
    assert res["rows"] == len(records) and res["failed"] == []
    doc = read(path)
    assert doc["duckdb"]["types"] == WIDE_TYPES
    check_duckdb(doc, WIDE, records)
    check_hyparquet(doc, WIDE, records)
    md = doc["duckdb"]["metadata"]
    assert {m["compression"] for m in md} == {codec}
    pages = [p for rg in doc["hyparquet"]["pages"] for col in rg for p in col]
    kinds = {p["type"] for p in pages}
    assert ("DATA_PAGE_V2" if writer == "V2" else "DATA_PAGE") in kinds
    assert not kinds - {"DATA_PAGE", "DATA_PAGE_V2", "DICTIONARY_PAGE"}
    encodings = {m["path_in_schema"]: m["encodings"] for m in md}
    if dictionary:
        # repeated words: the string columns are dictionary-encoded
        want = "PLAIN_DICTIONARY" if writer == "V1" else "RLE_DICTIONARY"
        assert want in encodings["s"], encodings["s"]
        assert "DICTIONARY_PAGE" in kinds
    else:
        assert all("DICTIONARY" not in e for e in encodings.values()), encodings


def test_telematics(tmp_path):
    records = telematics()
    path, res = write(tmp_path, TELEMATICS, records, "--dictionary")
    assert res["rows"] == len(records)
    doc = read(path)
    assert doc["duckdb"]["types"] == {"vehicle_id": "VARCHAR", "lat": "DOUBLE",
                                      "lon": "DOUBLE", "speed": "FLOAT",
                                      "timestamp": "TIMESTAMP"}
    check_duckdb(doc, TELEMATICS, records)
    check_hyparquet(doc, TELEMATICS, records)
    md = {m["path_in_schema"]: m for m in doc["duckdb"]["metadata"]}
    assert "PLAIN_DICTIONARY" in md["vehicle_id"]["encodings"]
    assert md["vehicle_id"]["compression"] == "SNAPPY"  # ParquetSerDe's default


def test_statistics(tmp_path):
    records = telematics(500) + [{"vehicle_id": None, "lat": None}]
    path, _ = write(tmp_path, TELEMATICS, records)
    doc = read(path)
    md = {m["path_in_schema"]: m for m in doc["duckdb"]["metadata"]}
    ids = [r["vehicle_id"] for r in records if r.get("vehicle_id") is not None]
    assert md["vehicle_id"]["stats_min_value"] == min(ids)
    assert md["vehicle_id"]["stats_max_value"] == max(ids)
    assert md["vehicle_id"]["stats_null_count"] == "1"
    lats = [r["lat"] for r in records if r.get("lat") is not None]
    assert float(md["lat"]["stats_min_value"]) == min(lats)
    assert float(md["lat"]["stats_max_value"]) == max(lats)
    assert md["lat"]["stats_null_count"] == "1"
    assert md["speed"]["stats_null_count"] == "1"
    hstats = {tuple(c["path"]): c["statistics"]
              for c in doc["hyparquet"]["metadata"]["row_groups"][0]["columns"]}
    assert hstats[("lat",)]["min_value"] == min(lats)
    assert hstats[("vehicle_id",)]["max_value"] == max(ids)
    assert hstats[("timestamp",)]["min_value"] == "2026-08-22T14:05:33.000Z"
    # DuckDB prunes row groups by these statistics: a filter outside them
    # still gives the right (empty) answer, one inside gives every match
    assert sum(1 for r in doc["duckdb"]["rows"] if r["lat"] is not None) == len(lats)


def test_signed_stats_and_zeros(tmp_path):
    schema = "struct<i:int,bi:bigint,f:double,dec:decimal(30,2),s:string>"
    records = [{"i": -5, "bi": -2**62, "f": 0.0, "dec": "-1.00", "s": "b"},
               {"i": 3, "bi": 2**62, "f": -0.0, "dec": "2.50", "s": "a"},
               {"i": 0, "bi": 0, "f": float("nan") if False else 0.0, "dec": "-3.25", "s": "é"}]
    path, _ = write(tmp_path, schema, records)
    md = {m["path_in_schema"]: m for m in read(path)["duckdb"]["metadata"]}
    assert (md["i"]["stats_min_value"], md["i"]["stats_max_value"]) == ("-5", "3")
    assert (md["bi"]["stats_min_value"], md["bi"]["stats_max_value"]) == \
        (str(-2**62), str(2**62))
    assert (md["dec"]["stats_min_value"], md["dec"]["stats_max_value"]) == ("-3.25", "2.50")
    assert (md["s"]["stats_min_value"], md["s"]["stats_max_value"]) == ("a", "é")
    assert float(md["f"]["stats_min_value"]) == 0.0 and float(md["f"]["stats_max_value"]) == 0.0


def test_row_groups_and_pages_follow_sizes(tmp_path):
    records = telematics(20000)
    block, page = 256 * 1024, 16 * 1024
    path, res = write(tmp_path, TELEMATICS, records, "--block-size", str(block),
                      "--page-size", str(page), "--codec", "UNCOMPRESSED")
    assert res["rows"] == len(records)
    doc = read(path)
    md = doc["duckdb"]["metadata"]
    groups = {}
    for m in md:
        groups.setdefault(m["row_group_id"], []).append(m)
    # the buffered data of 20,000 rows is ~1.3 MB: several row groups, each
    # closed once its data passed BlockSizeBytes (so all but the last are
    # at least that large, and none is much larger than it plus one row)
    assert len(groups) >= 4
    rows = [int(g[0]["row_group_num_rows"]) for g in groups.values()]
    assert sum(rows) == len(records)
    sizes = [sum(int(c["total_uncompressed_size"]) for c in g) for g in groups.values()]
    for s in sizes[:-1]:
        assert block * 0.95 <= s <= block * 1.1, sizes
    # pages: every data page's values about PageSizeBytes (the last of a
    # chunk smaller), read from the page headers
    for rg, g in zip(doc["hyparquet"]["pages"], groups.values()):
        for col in rg:
            data = [p for p in col if p["type"] == "DATA_PAGE"]
            if g is not list(groups.values())[-1]:
                assert len(data) >= 2
            for p in data[:-1]:
                assert page <= p["uncompressed_page_size"] <= page * 1.1 + 64, p
            # no levels lost: one value per row in these flat columns
            assert sum(p["num_values"] for p in data) == int(g[0]["row_group_num_rows"])
    # and the values are all there, in order, through both readers
    check_duckdb(doc, TELEMATICS, records)
    check_hyparquet(doc, TELEMATICS, records)


def test_v2_pages_start_at_rows(tmp_path):
    """Repeated columns: a V2 page's num_rows is exact and pages break only
    between rows (hyparquet and DuckDB both reassemble the lists)."""
    schema = "struct<id:int,tags:array<string>,m:map<string,array<int>>>"
    rnd = random.Random(5)
    records = [{"id": i, "tags": ["t%d" % rnd.randint(0, 999) for _ in range(rnd.randint(0, 12))],
                "m": {"k%d" % j: list(range(rnd.randint(0, 4))) for j in range(rnd.randint(0, 3))}}
               for i in range(5000)]
    path, _ = write(tmp_path, schema, records, "--writer", "V2", "--page-size", "2048")
    doc = read(path)
    check_duckdb(doc, schema, records)
    check_hyparquet(doc, schema, records)
    for col in doc["hyparquet"]["pages"][0]:
        data = [p for p in col if p["type"] == "DATA_PAGE_V2"]
        assert len(data) > 1
        assert sum(p["num_rows"] for p in data) == len(records)


def test_records_that_do_not_fit_are_routed(tmp_path):
    schema = "struct<id:int,name:string,tags:array<int>,pos:struct<lat:double>>"
    lines = [json.dumps({"id": 1, "name": "ok"}),
             "not json at all",
             json.dumps({"id": "seven"}),
             json.dumps({"id": 2 ** 40}),
             json.dumps({"id": 3, "tags": "not-a-list"}),
             json.dumps({"id": 4, "pos": [1, 2]}),
             json.dumps([1, 2, 3]),
             "",
             json.dumps({"id": 5, "tags": [1, "x"]}),
             '{"id": 6, "name": "two"}{"id": 7, "name": "objects"}',
             json.dumps({"id": 8, "pos": {"lat": "52.5"}})]
    path, res = write(tmp_path, schema, lines)
    failed = {f["record"]: f for f in res["failed"]}
    assert sorted(failed) == [1, 2, 3, 4, 5, 6, 7, 8]
    for f in failed.values():
        assert f["errorCode"] == "DataFormatConversion.MalformedData"
        assert f["outputType"] == "format-conversion-failed"
        assert f["message"]
    assert "id" in failed[2]["message"] and "int" in failed[2]["message"]
    doc = read(path)
    got = [json.loads(j) for j in doc["duckdb"]["json"]]
    assert [r["id"] for r in got] == [1, 6, 7, 8]
    assert got[1]["name"] == "two" and got[3]["pos"] == {"lat": 52.5}
    # a failed row left nothing behind: the nested columns line up
    assert [r["tags"] for r in got] == [None, None, None, None]
    assert [r["id"] for r in doc["hyparquet"]["rows"]] == [1, 6, 7, 8]


def test_all_failed_writes_nothing(tmp_path):
    path, res = write(tmp_path, "struct<a:int>", ["{\"a\": \"x\"}", "nope"])
    assert res["rows"] == 0 and res["bytes"] == 0 and len(res["failed"]) == 2
    assert os.path.getsize(path) == 0


def dfc(deser=None, **parquet):
    return json.dumps({
        "SchemaConfiguration": {"DatabaseName": "fleet", "TableName": "telematics",
                                "RoleARN": "arn:aws:iam::000000000000:role/firehose"},
        "InputFormatConfiguration": {"Deserializer": deser or {"OpenXJsonSerDe": {}}},
        "OutputFormatConfiguration": {"Serializer": {"ParquetSerDe": parquet}}})


def test_openx_rules(tmp_path):
    schema = "struct<a_b:int,camel:string,ts:timestamp,renamed:string>"
    recs = [{"a.b": 1, "CaMeL": "x", "ts": 1518033528, "source-key": "m"},
            {"a.b": 2, "camel": "y", "ts": 1518033528123, "source-key": "n"},
            {"a_b": 3, "ts": 1518033528.5},
            {"ts": "2017-02-07T15:13:01.39256Z"}]
    d = dfc({"OpenXJsonSerDe": {"ConvertDotsInJsonKeysToUnderscores": True,
                                "ColumnToJsonKeyMappings": {"renamed": "source-key"}}})
    path, res = write(tmp_path, schema, recs, "--dfc", d)
    assert res["failed"] == []
    got = [json.loads(j) for j in read(path)["duckdb"]["json"]]
    assert [r["a_b"] for r in got] == [1, 2, 3, None]
    assert [r["camel"] for r in got] == ["x", "y", None, None]
    assert [r["renamed"] for r in got] == ["m", "n", None, None]
    assert [r["ts"] for r in got] == ["2018-02-07 19:58:48", "2018-02-07 19:58:48.123",
                                      "2018-02-07 19:58:48.5", "2017-02-07 15:13:01.392"]
    # CaseInsensitive false: only exact keys; no dots conversion by default
    d = dfc({"OpenXJsonSerDe": {"CaseInsensitive": False}})
    path, _ = write(tmp_path, schema, recs, "--dfc", d, name="cs.parquet")
    got = [json.loads(j) for j in read(path)["duckdb"]["json"]]
    assert [r["camel"] for r in got] == [None, "y", None, None]
    assert [r["a_b"] for r in got] == [None, None, 3, None]


def test_hive_timestamp_formats(tmp_path):
    schema = "struct<ts:timestamp>"
    d = dfc({"HiveJsonSerDe": {"TimestampFormats": ["dd/MM/yyyy HH:mm:ss", "millis",
                                                    "yyyy-MM-dd'T'HH:mm:ss.SSSZ"]}})
    recs = [{"ts": "07/02/2017 15:13:01"}, {"ts": 1518033528123},
            {"ts": "2017-02-07T15:13:01.250+0100"}, {"TS": "07/02/2017 00:00:00"},
            {"ts": "2017-02-07 15:13:01"}]
    path, res = write(tmp_path, schema, recs, "--dfc", d)
    assert [f["record"] for f in res["failed"]] == [4]  # no format matches it
    got = [json.loads(j)["ts"] for j in read(path)["duckdb"]["json"]]
    assert got == ["2017-02-07 15:13:01", "2018-02-07 19:58:48.123",
                   "2017-02-07 14:13:01.25", "2017-02-07 00:00:00"]
    # no formats: java.sql.Timestamp.valueOf's form
    d = dfc({"HiveJsonSerDe": {}})
    path, res = write(tmp_path, schema, [{"ts": "2017-02-07 15:13:01.5"}, {"ts": 5}], "--dfc",
                      d, name="h2.parquet")
    assert [f["record"] for f in res["failed"]] == [1]
    assert [json.loads(j)["ts"] for j in read(path)["duckdb"]["json"]] == \
        ["2017-02-07 15:13:01.5"]


@pytest.mark.parametrize("bad,word", [
    ({"OutputFormatConfiguration": {"Serializer": {"OrcSerDe": {}}}}, "OrcSerDe"),
    ({"OutputFormatConfiguration": {"Serializer": {"ParquetSerDe": {"BlockSizeBytes": 1024}}}},
     "67108864"),
    ({"OutputFormatConfiguration": {"Serializer": {"ParquetSerDe": {"PageSizeBytes": 1024}}}},
     "65536"),
    ({"OutputFormatConfiguration": {"Serializer": {"ParquetSerDe": {"Compression": "LZO"}}}},
     "UNCOMPRESSED, GZIP, SNAPPY"),
    ({"OutputFormatConfiguration": {"Serializer": {"ParquetSerDe": {"WriterVersion": "V3"}}}},
     "V1, V2"),
    ({"InputFormatConfiguration": {"Deserializer": {}}}, "Exactly one deserializer"),
    ({"InputFormatConfiguration": {"Deserializer": {"HiveJsonSerDe": {
        "TimestampFormats": ["EEE, dd MMM"]}}}}, "pattern letter"),
    ({"SchemaConfiguration": {"DatabaseName": "d"}}, "TableName"),
    ({"SchemaConfiguration": {"DatabaseName": "d", "TableName": "t", "VersionId": "v2"}},
     "VersionId"),
    ({"SchemaConfiguration": {"DatabaseName": "d", "TableName": "t", "Bogus": 1}}, "Bogus"),
])
def test_configuration_refused(tmp_path, bad, word):
    cfg = json.loads(dfc())
    cfg.update(bad)
    r = subprocess.run([TOOL, "--schema", "struct<a:int>", "-o", str(tmp_path / "x"),
                        "--dfc", json.dumps(cfg)], input=b"", capture_output=True)
    assert r.returncode == 1
    assert word in r.stderr.decode(), r.stderr.decode()


def test_schema_read_from_glue_at_call_time(hydrant, tmp_path):
    """The table of a running hydrant, through the Glue API; each run reads
    the version that is current then (and a pinned VersionId keeps it)."""
    glue = hydrant.client("glue")
    glue.create_database(DatabaseInput={"Name": "fleet"})
    cols = [{"Name": "vehicle_id", "Type": "string"}, {"Name": "speed", "Type": "float"}]
    glue.create_table(DatabaseName="fleet", TableInput={
        "Name": "telematics", "StorageDescriptor": {"Columns": cols}})
    recs = [{"vehicle_id": "truck-1", "speed": 12.5, "heading": 270}]

    def run(cfg, name):
        path = str(tmp_path / name)
        r = subprocess.run([TOOL, "--glue-dir", hydrant.data_dir, "--dfc", cfg, "-o", path],
                           input=(json.dumps(recs[0]) + "\n").encode(), capture_output=True)
        return r, path
    r, path = run(dfc(), "v0.parquet")
    assert r.returncode == 0, r.stderr.decode()
    assert read(path)["duckdb"]["types"] == {"vehicle_id": "VARCHAR", "speed": "FLOAT"}
    glue.update_table(DatabaseName="fleet", TableInput={
        "Name": "telematics", "StorageDescriptor": {
            "Columns": cols + [{"Name": "heading", "Type": "smallint"}]}})
    r, path = run(dfc(), "v1.parquet")
    assert r.returncode == 0, r.stderr.decode()
    doc = read(path)
    assert doc["duckdb"]["types"]["heading"] == "SMALLINT"
    assert json.loads(doc["duckdb"]["json"][0])["heading"] == 270
    pinned = json.loads(dfc())
    pinned["SchemaConfiguration"]["VersionId"] = "0"
    r, path = run(json.dumps(pinned), "pinned.parquet")
    assert r.returncode == 0
    assert "heading" not in read(path)["duckdb"]["types"]
    glue.delete_table(DatabaseName="fleet", Name="telematics")
    r, _ = run(dfc(), "gone.parquet")
    assert r.returncode == 2 and b"telematics" in r.stderr and b"not found" in r.stderr
