# bench/spool.mk -- the cost of libhydrant's spool durability settings
# (included by the top Makefile); prints puts/s per setting, never
# passes or fails. Figures in docs/LIBHYDRANT.md.
#
#   make bench-spool [SPOOL_BENCH_ARGS="--count 20000 --dir /var/tmp"]

.PHONY: bench-spool
bench-spool: $(BUILD)/example-producer
	HYDRANT_EXAMPLE=$(CURDIR)/$(BUILD)/example-producer $(PYTHON) bench/spool_sync.py $(SPOOL_BENCH_ARGS)
