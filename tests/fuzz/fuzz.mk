# tests/fuzz/fuzz.mk -- libFuzzer targets (tests/fuzz/fuzz_<name>.c).
# Included by the top Makefile, whose BUILD, PKG_CFLAGS and PKG_LIBS it uses.
# Needs clang and libclang-rt-14-dev (scripts/deps.sh).
#
#   make fuzz-build               build every $(BUILD)/fuzz/fuzz_<name>
#   make fuzz                     build, then run each for FUZZ_TIME s (default 60)
#   make fuzz FUZZ_TIME=600 FUZZ_TARGETS="wal s3"   longer, and only some
#
# The sources are compiled again with clang (-fsanitize=fuzzer-no-link,
# address,undefined) into $(BUILD)/fuzz/obj/, not taken from the gcc build.
# Each run works on a scratch corpus, $(BUILD)/fuzz/corpus/<name>/, seeded
# from tests/fuzz/corpus/<name>/ and kept between runs; generated inputs
# never go into the repository. Crashes land in $(BUILD)/fuzz/ as
# crash-<name>-<sha1> (replay: $(BUILD)/fuzz/fuzz_<name> <file>).

FUZZ_CC      ?= clang
FUZZ_TIME    ?= 60
FUZZ_DIR     := $(BUILD)/fuzz
FUZZ_SAN     := -fsanitize=address,undefined -fno-sanitize-recover=undefined \
                -fno-omit-frame-pointer
FUZZ_CFLAGS  := -std=c11 -g -O1 -Wall -Wextra -Wno-unused-parameter \
                -pthread -Isrc $(FUZZ_SAN)
FUZZ_ALL     := $(patsubst tests/fuzz/fuzz_%.c,%,$(wildcard tests/fuzz/fuzz_*.c))
FUZZ_TARGETS ?= $(FUZZ_ALL)
FUZZ_BINS    := $(patsubst %,$(FUZZ_DIR)/fuzz_%,$(FUZZ_ALL))
FUZZ_ARGS    ?=

# The server sources a target links. Default: all of src/ except main.c
# (the harness defines hy_cfg) and http.c (the harness implements the
# http_* functions the code path calls).
FUZZ_SRCS_DEFAULT := $(filter-out src/main.c src/http.c,$(wildcard src/*.c src/processors/*.c src/sinks/*.c))
FUZZ_SRCS_sigv4   := src/sigv4.c src/util.c
FUZZ_SRCS_wal     := src/wal.c src/util.c
FUZZ_SRCS_fhscan  := src/fhscan.c src/util.c
FUZZ_SRCS_parquet := src/parquet.c src/format.c src/glue.c src/pipeline.c src/util.c
FUZZ_SRCS_tz      := src/tz.c src/util.c
FUZZ_SRCS_processors := src/pipeline.c src/util.c $(wildcard src/processors/*.c)
FUZZ_SRCS_policy  := src/policy.c src/util.c
# the external destinations' parsers (issue 14)
FUZZ_SRCS_s3r_xml := src/sinks/s3_remote.c src/destinations.c src/util.c
FUZZ_SRCS_destinations := src/destinations.c src/util.c
FUZZ_SRCS_http_response := src/sinks/http_endpoint.c src/sinks/sinks.c src/sinks/s3_remote.c \
                           src/sinks/store.c src/destinations.c src/compress.c src/prefix.c \
                           src/tz.c src/util.c src/objstore.c src/pipeline.c \
                           $(wildcard src/processors/*.c)
# fuzz_router's oracle: the API entry points are wrapped, so reaching one
# from the router is seen (see tests/fuzz/fuzz_router.c)
FUZZ_LDFLAGS_router := -Wl,--wrap=firehose_handle -Wl,--wrap=iam_handle -Wl,--wrap=s3_handle \
                       -Wl,--wrap=glue_handle -Wl,--wrap=s3_policy_handle \
                       -Wl,--wrap=lambda_handle -Wl,--wrap=cloudwatch_handle \
                       -Wl,--wrap=logs_handle
# fuzz_lambda_response: the Lambda processor and its parser, with the
# invoke client replaced by the harness (it answers with the input)
FUZZ_LDFLAGS_lambda_response := -Wl,--wrap=lambda_invoke
fuzz_objs = $(patsubst src/%.c,$(FUZZ_DIR)/obj/%.o,$(or $(FUZZ_SRCS_$(1)),$(FUZZ_SRCS_DEFAULT)))

.PHONY: fuzz fuzz-build fuzz-deps

fuzz-deps:
	@HYDRANT_DEPS_EXTRA="clang libclang-rt-14-dev" sh scripts/deps.sh

fuzz-build: fuzz-deps
	$(MAKE) $(FUZZ_BINS)

$(FUZZ_DIR)/obj/%.o: src/%.c $(wildcard src/*.h src/*/*.h) | $(FUZZ_DIR)/obj
	@mkdir -p $(@D)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -D_GNU_SOURCE -fsanitize=fuzzer-no-link $(PKG_CFLAGS) -Isrc -c $< -o $@

define FUZZ_TARGET_RULE
$(FUZZ_DIR)/fuzz_$(1): tests/fuzz/fuzz_$(1).c $(call fuzz_objs,$(1)) $(wildcard src/*.h) | $(FUZZ_DIR)/obj
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer $(PKG_CFLAGS) -o $$@ $$< \
	    $(call fuzz_objs,$(1)) $(FUZZ_LDFLAGS_$(1)) $(PKG_LIBS) -ljq -lonig -lm
endef
$(foreach t,$(FUZZ_ALL),$(eval $(call FUZZ_TARGET_RULE,$(t))))

$(FUZZ_DIR)/obj:
	mkdir -p $@

# One target at a time (each already uses a whole core). A finding stops
# the loop with libFuzzer's exit status.
fuzz: fuzz-deps
	$(MAKE) $(patsubst %,$(FUZZ_DIR)/fuzz_%,$(FUZZ_TARGETS))
	@set -e; for t in $(FUZZ_TARGETS); do \
	    dir=$(FUZZ_DIR)/corpus/$$t; mkdir -p $$dir; \
	    if [ -d tests/fuzz/corpus/$$t ]; then cp -n tests/fuzz/corpus/$$t/* $$dir/ 2>/dev/null || true; fi; \
	    echo "== fuzz_$$t for $(FUZZ_TIME) s on $$dir"; \
	    ./$(FUZZ_DIR)/fuzz_$$t -max_total_time=$(FUZZ_TIME) -print_final_stats=1 \
	        -artifact_prefix=$(FUZZ_DIR)/crash-$$t- $(FUZZ_ARGS) $$dir; \
	done
