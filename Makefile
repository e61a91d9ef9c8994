# hydrant -- `make run` builds and starts the server, `make test` runs
# every test. Both install missing Debian packages first (scripts/deps.sh).
#
#   make               build build/hydrant
#   make run           build, then start on 127.0.0.1:4566 (data in ./hydrant-data)
#   make test          unit tests (cmocka) then integration tests (pytest)
#   make test SANITIZE=1   the same under ASan + UBSan (build in build-san/)
#   make unit          unit tests only
#   make install       PREFIX=/usr/local, DESTDIR (packaging/packaging.mk)
#   make deb           Debian packages in build-deb/ (debhelper)
#   make clean

MAKEFLAGS += --no-print-directory
CC      ?= cc
PKGS    := libmicrohttpd jansson sqlite3 openssl zlib expat libcurl snappy inih libsystemd
PYTHON  := /usr/bin/python3

ifeq ($(SANITIZE),1)
BUILD   := build-san
SANFLAGS := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
OPT     := -O1 -g
else
BUILD   := build
SANFLAGS :=
OPT     := -O2 -g
endif

CFLAGS  := -std=c11 -D_GNU_SOURCE $(OPT) -Wall -Wextra -Werror -Wshadow \
           -Wno-unused-parameter -pthread $(SANFLAGS) $(EXTRA_CFLAGS)
PKG_CFLAGS = $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   = $(shell pkg-config --libs $(PKGS) 2>/dev/null)
LDLIBS  = $(PKG_LIBS) -ljq -lonig -lm -pthread $(SANFLAGS)

# the core is flat; processors and sinks are one file each in their folder
SRCS    := $(wildcard src/*.c src/processors/*.c src/sinks/*.c)
HDRS    := $(wildcard src/*.h src/processors/*.h src/sinks/*.h)
OBJS    := $(patsubst src/%.c,$(BUILD)/obj/%.o,$(SRCS))
LIBOBJS := $(filter-out $(BUILD)/obj/main.o,$(OBJS))
UNIT_SRCS := $(wildcard tests/unit/test_*.c)
UNIT_BINS := $(patsubst tests/unit/%.c,$(BUILD)/tests/%,$(UNIT_SRCS))
TOOL_SRCS := $(wildcard tools/*.c)
TOOL_BINS := $(patsubst tools/%.c,$(BUILD)/%,$(TOOL_SRCS))

.PHONY: all run test unit integration deps clean

all: $(BUILD)/hydrant $(TOOL_BINS)

deps:
	@sh scripts/deps.sh

$(BUILD)/obj/%.o: src/%.c $(HDRS) | $(BUILD)/obj
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(PKG_CFLAGS) -Isrc -c $< -o $@

$(BUILD)/hydrant: $(OBJS)
	$(CC) $(CFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/tests/%: tests/unit/%.c $(LIBOBJS) $(HDRS) | $(BUILD)/tests
	$(CC) $(CFLAGS) $(PKG_CFLAGS) -Isrc -o $@ $< $(LIBOBJS) $(LDLIBS) -lcmocka

$(BUILD)/%: tools/%.c $(LIBOBJS) $(HDRS)
	$(CC) $(CFLAGS) $(PKG_CFLAGS) -Isrc -o $@ $< $(LIBOBJS) $(LDLIBS)

$(BUILD)/obj $(BUILD)/tests:
	mkdir -p $@

run: deps
	$(MAKE) all
	./$(BUILD)/hydrant $(ARGS)

unit: $(UNIT_BINS)
	@set -e; for t in $(UNIT_BINS); do echo "== $$t"; ./$$t; done

integration: $(BUILD)/hydrant $(BUILD)/libhyfault.so
	HYDRANT_BIN=$(CURDIR)/$(BUILD)/hydrant $(PYTHON) -m pytest -q tests/integration $(PYTEST_ARGS)

test: deps
	$(MAKE) all
	$(MAKE) unit
	$(MAKE) client-test
	$(MAKE) integration

clean:
	rm -rf build build-san build-deb

# Fragments owned by their directories: the producer library and its tools
# (client/client.mk), benchmarks (bench/bench.mk), fuzzers (tests/fuzz/fuzz.mk),
# the fault-injection library (tests/faults/faults.mk).
-include client/client.mk
-include $(wildcard bench/*.mk)
-include tests/fuzz/fuzz.mk
-include tests/faults/faults.mk
-include packaging/packaging.mk
