"""The README's promises, run as written: its `hydrant --help` block is the
binary's, and both quick starts (boto3 and the AWS CLI) work against a
fresh server -- twice in a row, as the README says they can be."""
import os
import re
import subprocess
import sys

import pytest

from conftest import BIN, ROOT

README = open(os.path.join(ROOT, "README.md")).read()


def blocks(lang):
    return re.findall(r"```%s\n(.*?)```" % lang, README, re.S)


def test_help_block_is_hydrant_help():
    out = subprocess.run([BIN, "--help"], capture_output=True, text=True, check=True).stdout
    assert "```\n$ hydrant --help\n" + out + "```" in README


def test_python_quick_start_twice(hydrant, tmp_path):
    (script,) = [b for b in blocks("python") if "gps-delivery-stream" in b]
    script = script.replace("http://127.0.0.1:4566", hydrant.endpoint)
    for run in range(2):
        r = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                           cwd=str(tmp_path), timeout=120)
        assert r.returncode == 0, (run, r.stderr[-3000:])
        assert "1HGCM82633A004352" in r.stdout and "gps-delivery-stream-1-" in r.stdout


@pytest.mark.skipif(not os.path.exists("/usr/bin/aws"), reason="Debian's awscli")
def test_cli_quick_start_twice(hydrant, tmp_path):
    (script,) = [b for b in blocks("sh") if "cli-stream" in b]
    script = script.replace("http://127.0.0.1:4566", hydrant.endpoint)
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env["PATH"] = "/usr/bin:/bin"  # Debian's CLI v2, as the README says
    env["HOME"] = str(tmp_path)
    for run in range(2):
        r = subprocess.run(["bash", "-euo", "pipefail", "-c", script], capture_output=True,
                           text=True, cwd=str(tmp_path), env=env, timeout=180)
        assert r.returncode == 0, (run, r.stdout[-2000:], r.stderr[-2000:])
        # the object's records are lines: real newlines, no literal backslash-n
        assert "\\n" not in r.stdout
        assert re.search(r"^94[01] 2026-11-25_08:00:0[01] 1HGCM82633A004352 106.9 -6.2 4[78]$",
                         r.stdout, re.M), r.stdout
    assert "cli-stream" in r.stdout  # list-delivery-streams
