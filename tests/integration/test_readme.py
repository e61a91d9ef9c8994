"""The README's help block is `hydrant --help`, verbatim."""
import os
import subprocess
import sys

from conftest import BIN

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")


def test_readme_help_block_is_the_binarys_help():
    r = subprocess.run([sys.executable, os.path.join(ROOT, "scripts", "readme-help.py"), BIN,
                        "--check"], cwd=ROOT)
    assert r.returncode == 0, "README.md's help block differs from hydrant --help: run " \
        "/usr/bin/python3 scripts/readme-help.py build/hydrant"
