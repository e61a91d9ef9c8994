# tests/faults/faults.mk -- the fault-injection library (included by the
# top Makefile). It is preloaded into hydrant by the power-cut and I/O-fault
# tests (tests/integration/powercut.py), never linked into it; it is built
# without sanitizers even under SANITIZE=1 (ASan is told not to mind the
# preload order).
#
#   make powercut POWERCUTS=200    the long power-cut loop (bench/powercut.py)
#   make iofault-sweep             fail every I/O call of a fixed scenario in turn

POWERCUTS ?= 200

$(BUILD)/libhyfault.so: tests/faults/libhyfault.c | $(BUILD)/obj
	$(CC) -std=c11 -D_GNU_SOURCE -O1 -g -Wall -Wextra -Werror -shared -fPIC -o $@ $< -ldl -pthread

.PHONY: powercut iofault-sweep
powercut: $(BUILD)/hydrant $(BUILD)/libhyfault.so
	HYDRANT_BIN=$(CURDIR)/$(BUILD)/hydrant $(PYTHON) bench/powercut.py --cuts $(POWERCUTS)

iofault-sweep: $(BUILD)/hydrant $(BUILD)/libhyfault.so
	HYDRANT_BIN=$(CURDIR)/$(BUILD)/hydrant $(PYTHON) bench/powercut.py --sweep
