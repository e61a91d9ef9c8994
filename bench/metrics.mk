# bench/metrics.mk -- what counting costs (issue 17; included by the top
# Makefile). Prints numbers, never passes or fails on timing.
#
#   make bench-metrics    the hooks' cost per call (bench/metrics_hooks.c),
#                         then PutRecord with metrics on and --no-metrics,
#                         alternating (bench/bench_metrics.py)

$(BUILD)/metrics_hooks: bench/metrics_hooks.c $(filter-out $(BUILD)/obj/main.o,$(OBJS))
	$(CC) $(CFLAGS) -Isrc -o $@ $^ $(LDLIBS)

.PHONY: bench-metrics
bench-metrics: $(BUILD)/hydrant $(BUILD)/hydrant-load $(BUILD)/metrics_hooks
	./$(BUILD)/metrics_hooks
	$(PYTHON) bench/bench_metrics.py
