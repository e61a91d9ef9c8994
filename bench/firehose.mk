# bench/firehose.mk -- the ingest benchmark (included by the top Makefile).
# Numbers against the machine's own floors, never pass/fail on timing; see
# docs/PERFORMANCE.md.
#
#   make bench          a short version of every scenario (a few seconds
#                       each, 3 runs), the table with ratios; also runs
#                       bench-s3 when bench/bench.mk defines it
#   make bench-full     the figures docs/PERFORMANCE.md quotes (10 s runs,
#                       1 GiB recovery, 1,000 x 1 MiB buffers)
#   make bench-firehose BENCH_ARGS="--only put_record,put_record_half"
#   make bench-profile  perf profiles + flame graphs of the three hot paths
#                       (bench/profile.sh) into $(BUILD)/perf-*
#
# The load generator is tools/hydrant-load.c (built by the top Makefile's
# tools rule); the floors are bench/floor_http.c and bench/floor_disk.c.

BENCH_ARGS ?=
BENCH_BINS := $(BUILD)/hydrant $(BUILD)/hydrant-load $(BUILD)/bench/floor_http \
              $(BUILD)/bench/floor_disk $(BUILD)/bench/parse_cost

.PHONY: bench bench-full bench-firehose bench-bins bench-profile

bench-bins: $(BENCH_BINS)

$(BUILD)/bench:
	mkdir -p $@

$(BUILD)/bench/floor_http: bench/floor_http.c | $(BUILD)/bench
	$(CC) $(CFLAGS) -o $@ $< -lmicrohttpd

$(BUILD)/bench/floor_disk: bench/floor_disk.c | $(BUILD)/bench
	$(CC) $(CFLAGS) -o $@ $<

# jansson against a bare find-and-decode scan of the same batch body
$(BUILD)/bench/parse_cost: bench/parse_cost.c $(BUILD)/obj/util.o | $(BUILD)/bench
	$(CC) $(CFLAGS) $(PKG_CFLAGS) -Isrc -o $@ $< $(BUILD)/obj/util.o $(LDLIBS)

bench-firehose: $(BENCH_BINS)
	BUILD_DIR=$(CURDIR)/$(BUILD) $(PYTHON) bench/run.py --short $(BENCH_ARGS)

bench-full: $(BENCH_BINS)
	BUILD_DIR=$(CURDIR)/$(BUILD) $(PYTHON) bench/run.py --full $(BENCH_ARGS)

bench-profile: $(BENCH_BINS)
	cd $(BUILD) && HYDRANT_BIN=$(CURDIR)/$(BUILD)/hydrant OUT=perf-putrecord \
	    sh $(CURDIR)/bench/profile.sh putrecord --op PutRecord --conns 64
	cd $(BUILD) && HYDRANT_BIN=$(CURDIR)/$(BUILD)/hydrant OUT=perf-batch-100 \
	    sh $(CURDIR)/bench/profile.sh batch-100 --op PutRecordBatch --batch 500 --conns 16
	cd $(BUILD) && HYDRANT_BIN=$(CURDIR)/$(BUILD)/hydrant OUT=perf-batch-4m \
	    sh $(CURDIR)/bench/profile.sh batch-4m --op PutRecordBatch --record-size 8192 \
	    --batch 500 --conns 8

# bench-s3 comes from bench/bench.mk when that fragment is there
bench: bench-firehose $(if $(wildcard bench/bench.mk),bench-s3)
