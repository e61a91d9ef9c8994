# packaging/packaging.mk -- make install and make deb (included by the top
# Makefile, whose BUILD, CC and CFLAGS it uses).
#
#   make install [PREFIX=/usr/local] [DESTDIR=...]   the server, its tools,
#        the man page, libhydrant (static, shared with its soname, header,
#        libhydrant.pc), the systemd unit and a default config (never
#        overwriting a config that is there)
#   make deb     Debian packages (debhelper) in build-deb/: hydrant,
#                libhydrant0, libhydrant-dev; built in a copy of the tree,
#                so build/ is left alone
#
# Directories follow the GNU names; the Debian build sets them for
# /usr with a multiarch LIBDIR.

PREFIX     ?= /usr/local
BINDIR     ?= $(PREFIX)/bin
LIBDIR     ?= $(PREFIX)/lib
INCLUDEDIR ?= $(PREFIX)/include
MANDIR     ?= $(PREFIX)/share/man
SYSCONFDIR ?= $(if $(filter /usr,$(PREFIX)),/etc,$(PREFIX)/etc)
UNITDIR    ?= $(PREFIX)/lib/systemd/system
PKGCONFIGDIR ?= $(LIBDIR)/pkgconfig
INSTALL    ?= install
HY_VERSION := $(shell sed -n 's/^\#define HYDRANT_VERSION "\(.*\)"/\1/p' src/server.h)

# the programs that are installed, under their installed names
INSTALL_TOOLS := hydrant-load:hydrant-load wal-dump:hydrant-wal-dump hydrant-fleet:hydrant-fleet

.PHONY: install install-server install-lib deb

$(BUILD)/hydrant.service: packaging/hydrant.service.in
	sed -e 's|@BINDIR@|$(BINDIR)|g' -e 's|@SYSCONFDIR@|$(SYSCONFDIR)|g' $< > $@

$(BUILD)/libhydrant.pc: packaging/libhydrant.pc.in src/server.h
	sed -e 's|@PREFIX@|$(PREFIX)|g' -e 's|@INCLUDEDIR@|$(INCLUDEDIR)|g' \
	    -e 's|@LIBDIR@|$(LIBDIR)|g' -e 's|@VERSION@|$(HY_VERSION)|g' $< > $@

# always regenerated: the paths are make variables, not file dates
.PHONY: $(BUILD)/hydrant.service $(BUILD)/libhydrant.pc

install: install-server install-lib

install-server: $(BUILD)/hydrant $(TOOL_BINS) $(CLIENT_FLEET) $(BUILD)/hydrant.service
	$(INSTALL) -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(MANDIR)/man1 $(DESTDIR)$(UNITDIR) \
	    $(DESTDIR)$(SYSCONFDIR)/hydrant $(DESTDIR)$(SYSCONFDIR)/default
	$(INSTALL) -m 0755 $(BUILD)/hydrant $(DESTDIR)$(BINDIR)/hydrant
	@set -e; for t in $(INSTALL_TOOLS); do \
	    echo "$(INSTALL) -m 0755 $(BUILD)/$${t%%:*} $(DESTDIR)$(BINDIR)/$${t#*:}"; \
	    $(INSTALL) -m 0755 $(BUILD)/$${t%%:*} $(DESTDIR)$(BINDIR)/$${t#*:}; done
	$(INSTALL) -m 0644 man/hydrant.1 $(DESTDIR)$(MANDIR)/man1/hydrant.1
	$(INSTALL) -m 0644 $(BUILD)/hydrant.service $(DESTDIR)$(UNITDIR)/hydrant.service
	@# a config file that is there is the operator's: never overwritten
	test -e $(DESTDIR)$(SYSCONFDIR)/hydrant/hydrant.conf || \
	    $(INSTALL) -m 0644 packaging/hydrant.conf $(DESTDIR)$(SYSCONFDIR)/hydrant/hydrant.conf
	test -e $(DESTDIR)$(SYSCONFDIR)/default/hydrant || \
	    $(INSTALL) -m 0600 packaging/hydrant.default $(DESTDIR)$(SYSCONFDIR)/default/hydrant

install-lib: $(CLIENT_LIB) $(CLIENT_SO) $(BUILD)/libhydrant.pc
	$(INSTALL) -d $(DESTDIR)$(LIBDIR) $(DESTDIR)$(INCLUDEDIR) $(DESTDIR)$(PKGCONFIGDIR)
	$(INSTALL) -m 0644 $(CLIENT_LIB) $(DESTDIR)$(LIBDIR)/libhydrant.a
	$(INSTALL) -m 0644 $(CLIENT_SO) $(DESTDIR)$(LIBDIR)/libhydrant.so.$(CLIENT_SOVER)
	ln -sf libhydrant.so.$(CLIENT_SOVER) $(DESTDIR)$(LIBDIR)/libhydrant.so.$(CLIENT_SOMAJOR)
	ln -sf libhydrant.so.$(CLIENT_SOMAJOR) $(DESTDIR)$(LIBDIR)/libhydrant.so
	$(INSTALL) -m 0644 include/hydrant.h $(DESTDIR)$(INCLUDEDIR)/hydrant.h
	$(INSTALL) -m 0644 $(BUILD)/libhydrant.pc $(DESTDIR)$(PKGCONFIGDIR)/libhydrant.pc

# dpkg-buildpackage cleans the tree it builds in (make clean): a copy
DEB_TREE := build-deb/hydrant-$(HY_VERSION)
deb:
	rm -rf build-deb
	mkdir -p $(DEB_TREE)
	tar -c --exclude=./build --exclude=./build-san --exclude=./build-deb --exclude=./.git \
	    --exclude='./hydrant-data' --exclude='*.pyc' --exclude=__pycache__ . | tar -x -C $(DEB_TREE)
	cd $(DEB_TREE) && DEB_BUILD_OPTIONS="$${DEB_BUILD_OPTIONS:-parallel=$$(nproc)}" \
	    dpkg-buildpackage -b -uc -us
	@ls -1 build-deb/*.deb
