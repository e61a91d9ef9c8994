#!/usr/bin/python3
"""Replaces the README's help block (the fenced block that starts with
"$ hydrant --help") with `hydrant --help`, so the README follows the code.

    /usr/bin/python3 scripts/readme-help.py build/hydrant [--check]

--check exits 1 when the README differs (tests/integration/test_readme.py)."""
import subprocess
import sys


def main():
    binary, check = sys.argv[1], "--check" in sys.argv
    help_text = subprocess.run([binary, "--help"], stdout=subprocess.PIPE, text=True,
                               check=True).stdout
    readme = open("README.md").read()
    start = readme.index("```\n$ hydrant --help\n") + len("```\n$ hydrant --help\n")
    end = readme.index("```", start)
    new = readme[:start] + help_text + readme[end:]
    if check:
        return 0 if new == readme else 1
    open("README.md", "w").write(new)
    return 0


if __name__ == "__main__":
    sys.exit(main())
