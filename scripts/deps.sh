#!/bin/sh
# Installs the Debian packages hydrant needs to build, run and test, and
# only those that are missing (so it is fast when all are there). Called by
# `make run` and `make test`; needs root (or sudo) only when something is
# missing. HYDRANT_SKIP_DEPS=1 skips it.
set -e
[ "${HYDRANT_SKIP_DEPS:-0}" = 1 ] && exit 0

PKGS="build-essential pkg-config libmicrohttpd-dev libjansson-dev libsqlite3-dev
libssl-dev zlib1g-dev libexpat1-dev libcurl4-openssl-dev libcmocka-dev libsnappy-dev libjq-dev libonig-dev
libinih-dev libsystemd-dev
python3 python3-boto3 python3-pandas python3-pytest python3-matplotlib awscli s3cmd openssl curl tzdata
systemd man-db debhelper lintian dpkg-dev fakeroot nodejs
prometheus chromium chromium-driver python3-selenium"

# node and npm for the Parquet tests' independent readers (tests/node: DuckDB,
# hyparquet, installed by tests/integration/test_parquet.py with npm ci) and
# the browser tests' bundles. By command, not package: a machine may have
# node from another apt source.
command -v npm >/dev/null 2>&1 || PKGS="$PKGS nodejs npm"

# Ceph RGW for tests/integration/test_s3_remote.py (../shared/ceph/up.sh
# starts it; these are the packages it needs, issue 14)
PKGS="$PKGS radosgw ceph-mon ceph-osd ceph-mgr ceph-common uuid-runtime bc"

# extra packages a target asks for (make fuzz: clang and its fuzzer runtime)
PKGS="$PKGS ${HYDRANT_DEPS_EXTRA:-}"

missing=""
for p in $PKGS; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
        missing="$missing $p"
done
[ -z "$missing" ] && exit 0

echo "deps: installing$missing"
SUDO=""
[ "$(id -u)" = 0 ] || SUDO=sudo
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
# shellcheck disable=SC2086
$SUDO apt-get install -y -qq --no-install-recommends $missing
