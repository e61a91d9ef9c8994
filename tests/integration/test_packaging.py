"""Packaging (issue 18): `make install` into a DESTDIR, `make deb` with
debhelper, lintian without errors, and the packages installed -- with
`dpkg -i` when running as root (CI is), else unpacked with `dpkg -x` into a
scratch root -- give a working `hydrant --version`, `man hydrant`,
`pkg-config --libs libhydrant`, a unit `systemd-analyze verify` accepts,
and a libhydrant a program links against. The man page lists exactly the
options of `hydrant --help`.
"""
import glob
import os
import re
import shutil
import subprocess
import tempfile

import pytest

from conftest import BIN, ROOT

PACKAGES = ("hydrant", "libhydrant0", "libhydrant-dev")
# a plain build whatever the suite runs under (make test SANITIZE=1 passes
# SANITIZE down through MAKEFLAGS)
ENV = {k: v for k, v in os.environ.items()
       if k not in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL", "SANITIZE")}
ENV["HYDRANT_SKIP_DEPS"] = "1"


def sh(*cmd, **kw):
    r = subprocess.run(cmd, capture_output=True, text=True, **kw)
    assert r.returncode == 0, "%s: %s%s" % (" ".join(cmd), r.stdout[-3000:], r.stderr[-3000:])
    return r.stdout


def help_options():
    out = sh(BIN, "--help")
    return set(re.findall(r"^  (--[a-z][a-z-]*)", out, re.M))


def test_man_page_matches_help():
    man = open(os.path.join(ROOT, "man", "hydrant.1")).read()
    documented = {m.replace("\\-", "-") for m in re.findall(r"^\.B[I]? (\\-\\-[a-z\\-]+)", man,
                                                           re.M)}
    assert documented == help_options()


def test_make_install_destdir(tmp_path):
    dest = str(tmp_path / "root")
    sh("make", "-s", "install", "DESTDIR=" + dest, "PREFIX=/opt/hy", cwd=ROOT, env=ENV)
    for f in ["bin/hydrant", "bin/hydrant-load", "bin/hydrant-wal-dump", "bin/hydrant-fleet",
              "share/man/man1/hydrant.1", "lib/libhydrant.a", "lib/libhydrant.so.0.1.0",
              "include/hydrant.h", "lib/pkgconfig/libhydrant.pc",
              "lib/systemd/system/hydrant.service", "etc/hydrant/hydrant.conf",
              "etc/default/hydrant"]:
        assert os.path.exists(os.path.join(dest, "opt/hy", f)), f
    lib = os.path.join(dest, "opt/hy/lib")
    assert os.readlink(os.path.join(lib, "libhydrant.so.0")) == "libhydrant.so.0.1.0"
    assert os.readlink(os.path.join(lib, "libhydrant.so")) == "libhydrant.so.0"
    assert "SONAME               libhydrant.so.0" in sh("objdump", "-p",
                                                        os.path.join(lib, "libhydrant.so.0.1.0"))
    unit = open(os.path.join(dest, "opt/hy/lib/systemd/system/hydrant.service")).read()
    assert "ExecStart=/opt/hy/bin/hydrant --config /opt/hy/etc/hydrant/hydrant.conf" in unit
    assert oct(os.stat(os.path.join(dest, "opt/hy/etc/default/hydrant")).st_mode & 0o777) == \
        "0o600"
    # a config there is the operator's: a second install keeps it
    conf = os.path.join(dest, "opt/hy/etc/hydrant/hydrant.conf")
    with open(conf, "a") as f:
        f.write("threads = 9\n")
    sh("make", "-s", "install", "DESTDIR=" + dest, "PREFIX=/opt/hy", cwd=ROOT, env=ENV)
    assert "threads = 9" in open(conf).read()
    # the packaged default config is valid and says what the unit needs
    out = sh(os.path.join(dest, "opt/hy/bin/hydrant"), "--config", conf, "--print-config")
    assert "data-dir = /var/lib/hydrant\n" in out and "threads = 9\n" in out


@pytest.fixture(scope="module")
def debs():
    # no -dbgsym packages: the build is the slow part of this test
    sh("make", "-s", "deb", cwd=ROOT, timeout=600,
       env=dict(ENV, DEB_BUILD_OPTIONS="parallel=%d noddebs" % (os.cpu_count() or 1)))
    found = {}
    for name in PACKAGES:
        paths = glob.glob(os.path.join(ROOT, "build-deb", "%s_*.deb" % name))
        assert len(paths) == 1, (name, paths)
        found[name] = paths[0]
    return found


def test_lintian_finds_no_errors(debs):
    changes = glob.glob(os.path.join(ROOT, "build-deb", "hydrant_*.changes"))
    assert len(changes) == 1
    r = subprocess.run(["lintian", "--no-tag-display-limit", changes[0]], capture_output=True,
                       text=True)
    errors = [l for l in r.stdout.splitlines() if l.startswith("E:")]
    assert not errors, "\n".join(errors)
    assert r.returncode == 0, r.stdout + r.stderr


def check_installed(root, env):
    """What an operator and a developer use, under root ("" for /)."""
    hydrant = root + "/usr/bin/hydrant"
    assert sh(hydrant, "--version", env=env).startswith("hydrant 0.1.0")
    man = root + "/usr/share/man/man1/hydrant.1.gz"
    page = sh("man", "-P", "cat", "hydrant", env=env) if not root else \
        sh("man", "-P", "cat", "-l", man, env=env)
    assert "OPERATOR ENDPOINTS" in page and "--print-config" in page.replace("‐", "-")
    arch = sh("dpkg-architecture", "-qDEB_HOST_MULTIARCH").strip()
    pc_env = dict(env, PKG_CONFIG_PATH=root + "/usr/lib/%s/pkgconfig" % arch)
    if root:
        pc_env["PKG_CONFIG_SYSROOT_DIR"] = root
    assert sh("pkg-config", "--libs", "libhydrant", env=pc_env).split() == \
        (["-L%s/usr/lib/%s" % (root, arch)] if root else []) + ["-lhydrant"]
    unit = root + "/lib/systemd/system/hydrant.service"
    text = open(unit).read()
    for want in ["Type=notify", "DynamicUser=yes", "StateDirectory=hydrant",
                 "ProtectSystem=strict", "ProtectHome=yes", "NoNewPrivileges=yes",
                 "PrivateTmp=yes", "ExecReload=/bin/kill -HUP $MAINPID"]:
        assert want in text, want
    # a program of yours, linked against the installed shared library
    with tempfile.TemporaryDirectory() as d:
        exe = os.path.join(d, "producer")
        flags = sh("pkg-config", "--cflags", "--libs", "libhydrant", env=pc_env).split()
        sh("cc", "-std=c11", "-Wall", "-Werror", "-o", exe,
           os.path.join(ROOT, "examples", "producer.c"), *flags)
        run_env = dict(env, LD_LIBRARY_PATH=root + "/usr/lib/" + arch) if root else env
        assert "libhydrant.so.0" in sh("ldd", exe, env=run_env)
        assert "--sync MODE" in sh(exe, "--help", env=run_env)
    return unit


def test_packages_install_and_work(debs, tmp_path):
    if os.geteuid() == 0:
        sh("dpkg", "-i", *[debs[n] for n in PACKAGES],
           env=dict(ENV, DEBIAN_FRONTEND="noninteractive"))
        try:
            unit = check_installed("", ENV)
            r = subprocess.run(["systemd-analyze", "verify", unit], capture_output=True,
                               text=True)
            assert r.returncode == 0, r.stdout + r.stderr
            assert oct(os.stat("/etc/default/hydrant").st_mode & 0o777) == "0o600"
            conffiles = sh("dpkg-query", "-W", "-f=${Conffiles}", "hydrant")
            assert "/etc/hydrant/hydrant.conf" in conffiles
        finally:
            subprocess.run(["dpkg", "--purge", *reversed(PACKAGES)], capture_output=True)
        assert not os.path.exists("/usr/bin/hydrant")
    else:
        root = str(tmp_path / "root")
        for n in PACKAGES:
            sh("dpkg", "-x", debs[n], root)
        unit = check_installed(root, dict(ENV, LD_LIBRARY_PATH=root + "/usr/lib"))
        r = subprocess.run(["systemd-analyze", "verify", "--root=" + root,
                            "/lib/systemd/system/hydrant.service"], capture_output=True,
                           text=True)
        assert r.returncode == 0, r.stdout + r.stderr
    shutil.rmtree(os.path.join(ROOT, "build-deb"), ignore_errors=True)
