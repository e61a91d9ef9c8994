"""Data-driven wire cases: each tests/cases/*.case file is a short script of
raw S3 requests and what the server must answer, compared on the wire
(status, headers, body substrings). Every request is signed with botocore's
SigV4Auth (conftest.signed_request), so the cases keep passing once
signatures are enforced.

Case file format (one or more steps):

    # comment
    >>> METHOD /path?query            a request; header lines follow,
    Header: value                     then a blank line and the body
                                      (up to the <<< line; no trailing
    body bytes                        newline is sent)
    <<< STATUS                        the expected status
    <Code>Expected</Code>             each further line: a substring the
    @Header-Name: value               body must hold; @ lines: a header
    !<Code>Unexpected</Code>          the answer must carry (exact, name
    $var = regex                      case-insensitive); ! lines: must not
                                      appear; $ lines: capture group 1 of
                                      regex over headers + body into ${var}

${var} is replaced in later steps; $(repeat TEXT N) expands to TEXT N times.
"""
import glob
import os
import re

import pytest

from conftest import signed_request

CASES = sorted(glob.glob(os.path.join(os.path.dirname(__file__), "..", "cases", "*.case")))


def expand(text, env):
    text = re.sub(r"\$\(repeat (\S+) (\d+)\)", lambda m: m.group(1) * int(m.group(2)), text)
    return re.sub(r"\$\{(\w+)\}", lambda m: env[m.group(1)], text)


def parse(path):
    """Returns [(request_lines, body, expect_lines)]."""
    steps, cur = [], None
    with open(path, encoding="utf-8") as f:
        lines = f.read().split("\n")
    section = None
    for line in lines:
        if line.startswith("#") and section != "body":
            continue
        if line.startswith(">>> "):
            cur = {"req": [line[4:]], "body": [], "expect": []}
            steps.append(cur)
            section = "headers"
        elif line.startswith("<<< "):
            cur["expect"].append(line[4:])
            section = "expect"
        elif section == "headers":
            if line == "":
                section = "body"
            else:
                cur["req"].append(line)
        elif section == "body":
            cur["body"].append(line)
        elif section == "expect" and line.strip():
            cur["expect"].append(line)
    for s in steps:
        while s["body"] and s["body"][-1] == "":
            s["body"].pop()
    return steps


@pytest.mark.parametrize("case", CASES, ids=[os.path.basename(c)[:-5] for c in CASES])
def test_case(hydrant, case):
    env = {}
    for n, step in enumerate(parse(case)):
        method, path = expand(step["req"][0], env).split(" ", 1)
        headers = {}
        for h in step["req"][1:]:
            name, value = expand(h, env).split(":", 1)
            headers[name.strip()] = value.strip()
        body = expand("\n".join(step["body"]), env).encode()
        status, rh, rbody = signed_request(hydrant, method, path, body=body,
                                           headers=headers, service="s3")
        text = rbody.decode("utf-8", "replace")
        where = "%s step %d (%s %s): %d %s" % (os.path.basename(case), n + 1, method,
                                               path[:80], status, text[:600])
        want_status = int(step["expect"][0].split()[0])
        assert status == want_status, where
        lower = {k.lower(): v for k, v in rh.items()}
        full = "".join("%s: %s\n" % kv for kv in rh.items()) + "\n" + text
        for line in step["expect"][1:]:
            line = expand(line, env)
            if line.startswith("@"):
                name, value = line[1:].split(":", 1)
                assert lower.get(name.strip().lower()) == value.strip(), \
                    "%s: header %s" % (where, line)
            elif line.startswith("!"):
                assert line[1:] not in text, where
            elif line.startswith("$"):
                var, regex = line[1:].split("=", 1)
                m = re.search(regex.strip(), full)
                assert m, "%s: no match for %s" % (where, regex)
                env[var.strip()] = m.group(1)
            else:
                assert line in text, "%s: missing %r" % (where, line)
