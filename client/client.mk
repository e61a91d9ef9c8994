# client/client.mk -- libhydrant (include/hydrant.h, client/), its test
# program, tools/hydrant-fleet and the demo. Included by the top Makefile,
# whose CC, CFLAGS, BUILD, SANFLAGS and PYTHON it uses.
#
#   make                     also builds $(BUILD)/libhydrant.a, libhydrant.so.0,
#                            $(BUILD)/hydrant-fleet, $(BUILD)/example-producer
#                            (examples/producer.c) and $(BUILD)/client/test_libhydrant
#   make client-test         the library's own tests (no server needed); the
#                            end-to-end ones are tests/integration/test_client.py
#   make demo                hydrant + a 30 s fleet + the lesson's analysis (PNGs)
#
# The library links libcurl and OpenSSL only. tools/hydrant-fleet.c has an
# explicit rule here, which takes precedence over the top Makefile's
# tools/%.c pattern rule (that one links the server's objects).

CLIENT_PKGS   := libcurl openssl
CLIENT_CFLAGS  = -Iinclude $(shell pkg-config --cflags $(CLIENT_PKGS) 2>/dev/null)
CLIENT_LIBS    = $(shell pkg-config --libs $(CLIENT_PKGS) 2>/dev/null) -lm -pthread $(SANFLAGS)
CLIENT_SRCS   := $(filter-out client/test_%.c,$(wildcard client/*.c))
CLIENT_OBJS   := $(patsubst client/%.c,$(BUILD)/client/%.o,$(CLIENT_SRCS))
CLIENT_HDRS   := include/hydrant.h $(wildcard client/*.h)
CLIENT_LIB    := $(BUILD)/libhydrant.a
CLIENT_FLEET  := $(BUILD)/hydrant-fleet
# the C test binaries of the library; the lead's `test` target runs them
# through `$(MAKE) client-test`
CLIENT_TESTS  := $(BUILD)/client/test_libhydrant
# the shared library (soname libhydrant.so.$(CLIENT_SOMAJOR)), from its own
# position-independent objects, and the example program of docs/LIBHYDRANT.md
CLIENT_SOMAJOR := 0
CLIENT_SOVER   := $(CLIENT_SOMAJOR).1.0
CLIENT_SO      := $(BUILD)/libhydrant.so.$(CLIENT_SOVER)
CLIENT_PIC_OBJS := $(patsubst client/%.c,$(BUILD)/client/pic/%.o,$(CLIENT_SRCS))
CLIENT_EXAMPLE := $(BUILD)/example-producer
CLIENT_BINS   := $(CLIENT_LIB) $(CLIENT_SO) $(CLIENT_FLEET) $(CLIENT_TESTS) $(CLIENT_EXAMPLE)
DEMO_SECONDS  ?= 30

.PHONY: client client-test demo

all: $(CLIENT_BINS)
client: $(CLIENT_BINS)

$(BUILD)/client:
	mkdir -p $@

$(BUILD)/client/%.o: client/%.c $(CLIENT_HDRS) | $(BUILD)/client
	$(CC) $(CFLAGS) $(CLIENT_CFLAGS) -c $< -o $@

$(CLIENT_LIB): $(CLIENT_OBJS)
	rm -f $@
	ar rcs $@ $^

$(BUILD)/client/pic/%.o: client/%.c $(CLIENT_HDRS)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -fPIC -fvisibility=hidden -DHYDRANT_BUILDING_SO $(CLIENT_CFLAGS) -c $< -o $@

# only the hydrant_* API is exported (include/hydrant.h marks it)
$(CLIENT_SO): $(CLIENT_PIC_OBJS)
	$(CC) $(CFLAGS) -shared -Wl,-soname,libhydrant.so.$(CLIENT_SOMAJOR) -Wl,-z,defs \
	    -o $@ $^ $(CLIENT_LIBS)
	ln -sf libhydrant.so.$(CLIENT_SOVER) $(BUILD)/libhydrant.so.$(CLIENT_SOMAJOR)
	ln -sf libhydrant.so.$(CLIENT_SOMAJOR) $(BUILD)/libhydrant.so

# the example uses only include/hydrant.h, as a program of yours would
$(CLIENT_EXAMPLE): examples/producer.c include/hydrant.h $(CLIENT_LIB)
	$(CC) $(CFLAGS) -Iinclude -o $@ $< $(CLIENT_LIB) $(CLIENT_LIBS)

$(CLIENT_FLEET): tools/hydrant-fleet.c include/hydrant.h $(CLIENT_LIB)
	$(CC) $(CFLAGS) -Iinclude -o $@ $< $(CLIENT_LIB) $(CLIENT_LIBS)

# white-box: the test program also sees client/client.h
$(BUILD)/client/test_libhydrant: client/test_libhydrant.c $(CLIENT_HDRS) $(CLIENT_LIB) | $(BUILD)/client
	$(CC) $(CFLAGS) $(CLIENT_CFLAGS) -Iclient -o $@ $< $(CLIENT_LIB) $(CLIENT_LIBS)

client-test: $(CLIENT_BINS)
	@set -e; for t in $(CLIENT_TESTS); do echo "== $$t"; ./$$t unit; done

demo: deps
	$(MAKE) $(BUILD)/hydrant $(CLIENT_FLEET)
	$(PYTHON) examples/lesson.py --hydrant $(BUILD)/hydrant --fleet $(CLIENT_FLEET) \
	    --seconds $(DEMO_SECONDS) --out $(BUILD)/demo
