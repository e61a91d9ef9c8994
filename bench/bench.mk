# bench/bench.mk -- benchmarks (included by the top Makefile). They print
# numbers; they never pass or fail on timing.
#
#   make bench-s3                 PutObject/GetObject 1 KiB and 1 MiB, and a
#                                 listing of 100,000 keys (median of 3 runs)
#   make bench-s3 BENCH_KEYS=1000000   the same listing with a million keys

BENCH_KEYS ?= 100000

.PHONY: bench-s3
bench-s3: $(BUILD)/hydrant
	HYDRANT_BIN=$(CURDIR)/$(BUILD)/hydrant $(PYTHON) bench/bench_s3.py --keys $(BENCH_KEYS)
