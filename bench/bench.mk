# bench/bench.mk -- benchmarks (included by the top Makefile). They print
# numbers; they never pass or fail on timing.
#
#   make bench-s3                 PutObject/GetObject 1 KiB and 1 MiB, and a
#                                 listing of 100,000 keys (median of 3 runs)
#   make bench-s3 BENCH_KEYS=1000000   the same listing with a million keys
#   make bench-parquet            JSON -> Parquet conversion MB/s and records/s
#                                 per codec, and without conversion (ratio)
#   make bench-processors         records/s of each processor (bench/processors_rate.c)
#   make bench-attack             slowloris and memory-hold against the
#                                 limits before authentication, a normal
#                                 client's latency meanwhile (bench/attack.py;
#                                 figures in docs/SECURITY.md)

BENCH_KEYS ?= 100000

.PHONY: bench-s3
bench-s3: $(BUILD)/hydrant
	HYDRANT_BIN=$(CURDIR)/$(BUILD)/hydrant $(PYTHON) bench/bench_s3.py --keys $(BENCH_KEYS)

.PHONY: bench-attack
bench-attack: $(BUILD)/hydrant
	HYDRANT_BIN=$(CURDIR)/$(BUILD)/hydrant $(PYTHON) bench/attack.py $(ATTACK_ARGS)

# make bench-parquet: record format conversion throughput (JSON MB/s in,
# records/s) per codec, and the same records without conversion for the
# ratio (bench/parquet_rate.c). PARQUET_MB of JSON per run (default 64).
PARQUET_MB ?= 64
$(BUILD)/parquet_rate: bench/parquet_rate.c $(LIBOBJS) $(HDRS)
	$(CC) $(CFLAGS) $(PKG_CFLAGS) -Isrc -o $@ $< $(LIBOBJS) $(LDLIBS)

.PHONY: bench-parquet
bench-parquet: $(BUILD)/parquet_rate
	./$(BUILD)/parquet_rate $(PARQUET_MB) 3

# `make bench` runs it too (firehose.mk's bench target; a prerequisite added here)
bench: bench-parquet
# the processors of src/processors/, in-process, records per second on one
# core (bench/processors_rate.c); BENCH_PROC_BATCH records per run()
BENCH_PROC_BATCH ?= 100000

$(BUILD)/bench/processors_rate: bench/processors_rate.c $(LIBOBJS) $(HDRS) | $(BUILD)/bench
	$(CC) $(CFLAGS) $(PKG_CFLAGS) -Isrc -o $@ $< $(LIBOBJS) $(LDLIBS)

.PHONY: bench-processors
bench-processors: $(BUILD)/bench/processors_rate
	./$(BUILD)/bench/processors_rate $(BENCH_PROC_BATCH)

# make bench-sinks: delivery MB/s and objects/s to the embedded store, a
# second hydrant as external S3 and a real Ceph RGW (../shared/ceph), and
# PutRecord on one stream while another's destination is stalled (ratio)
.PHONY: bench-sinks
bench-sinks: $(BUILD)/hydrant $(BUILD)/sink-put
	HYDRANT_BIN=$(CURDIR)/$(BUILD)/hydrant $(PYTHON) bench/sinks.py $(SINKS_ARGS)
