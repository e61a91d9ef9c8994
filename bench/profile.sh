#!/bin/sh
# profile.sh -- a perf profile and flame graph of hydrant under one load.
#
#   bench/profile.sh NAME [hydrant-load options...]
#   bench/profile.sh putrecord --op PutRecord --conns 64
#   bench/profile.sh batch-4m --op PutRecordBatch --record-size 8192 --batch 500 --conns 8
#
# Starts build/hydrant (or $HYDRANT_BIN) on a free port with a fresh data
# directory, creates bucket and stream "bench", records 6 s of
# `perf record -F 499 --call-graph dwarf` while build/hydrant-load drives it,
# and writes $OUT/NAME.svg (flame graph), NAME.folded and NAME.txt (top
# functions) with bench/flamegraph.py. OUT defaults to ./perf-NAME.
# Needs perf (Debian linux-perf) and kernel.perf_event_paranoid <= 2.
set -eu
NAME=$1; shift
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BIN=${HYDRANT_BIN:-$ROOT/build/hydrant}
OUT=${OUT:-$PWD/perf-$NAME}
SECS=${SECS:-6}
rm -rf "$OUT"; mkdir -p "$OUT"
"$BIN" --port 0 --data-dir "$OUT/data" --create-delay-ms 0 --log-level warn \
    > "$OUT/server.out" 2> "$OUT/server.log" &
SPID=$!
trap 'kill $SPID 2>/dev/null || true' EXIT
for _ in 1 2 3 4 5 6 7 8 9 10; do
    grep -q listening "$OUT/server.out" 2>/dev/null && break
    sleep 0.2
done
PORT=$(awk '{print $3}' "$OUT/server.out")
/usr/bin/python3 - "$PORT" <<'PY'
import sys, boto3
from botocore.config import Config
kw = dict(endpoint_url="http://127.0.0.1:%s" % sys.argv[1], region_name="us-east-1",
          aws_access_key_id="test", aws_secret_access_key="test",
          config=Config(parameter_validation=False))
boto3.client("s3", **kw).create_bucket(Bucket="bench")
boto3.client("firehose", **kw).create_delivery_stream(
    DeliveryStreamName="bench", DeliveryStreamType="DirectPut",
    ExtendedS3DestinationConfiguration={
        "RoleARN": "arn:aws:iam::000000000000:role/bench", "BucketARN": "arn:aws:s3:::bench",
        "BufferingHints": {"SizeInMBs": 128, "IntervalInSeconds": 1}})
PY
perf record -F 499 --call-graph dwarf,32768 -p "$SPID" -o "$OUT/perf.data" -- sleep "$SECS" \
    > "$OUT/perf.log" 2>&1 &
PERF=$!
"$ROOT/build/hydrant-load" --port "$PORT" --server-pid "$SPID" --duration "$SECS" "$@" \
    > "$OUT/load.out" 2> "$OUT/load.txt" || true
wait $PERF
perf script -i "$OUT/perf.data" 2>/dev/null |
    /usr/bin/python3 "$ROOT/bench/flamegraph.py" --folded "$OUT/$NAME.folded" \
        --svg "$OUT/$NAME.svg" --title "hydrant $NAME" --top 30 --by-thread > "$OUT/$NAME.txt"
cat "$OUT/load.txt"
echo "profile: $OUT/$NAME.svg $OUT/$NAME.txt"
