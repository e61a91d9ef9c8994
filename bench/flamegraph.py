#!/usr/bin/python3
"""flamegraph.py -- folded stacks and a flame graph SVG from `perf script`.

No downloads: Brendan Gregg's format, redone in a few lines.

  perf record -F 499 --call-graph dwarf -p PID -o perf.data -- sleep 5
  perf script -i perf.data | bench/flamegraph.py --folded out.folded --svg out.svg \\
      --title "hydrant PutRecord" [--top 25]

--folded writes "frame;frame;frame count" lines (root first); --svg writes
a static SVG (hover shows the frame and its share); --top prints the
functions with the most self samples and the most inclusive samples.
"""
import argparse
import collections
import html
import sys


def parse(lines):
    """Yields (comm, [frames root..leaf], weight) per sample of perf script."""
    comm, frames = None, []
    for line in lines:
        line = line.rstrip("\n")
        if not line.strip():
            if comm is not None:
                yield comm, list(reversed(frames)), 1
            comm, frames = None, []
            continue
        if not line.startswith((" ", "\t")):
            comm = line.split()[0]
            frames = []
            continue
        parts = line.strip().split(None, 1)
        if len(parts) < 2:
            continue
        sym = parts[1]
        # "func+0x1a (/usr/lib/x.so)" -> "func", unknown -> "[x.so]"
        dso = ""
        if sym.endswith(")") and " (" in sym:
            sym, dso = sym.rsplit(" (", 1)
            dso = dso[:-1].rsplit("/", 1)[-1]
        if "+0x" in sym:
            sym = sym.split("+0x", 1)[0]
        if sym in ("[unknown]", "") and dso:
            sym = "[%s]" % dso
        frames.append(sym)
    if comm is not None and frames:
        yield comm, list(reversed(frames)), 1


def fold(samples, by_thread):
    folded = collections.Counter()
    for comm, frames, w in samples:
        stack = ([comm] if by_thread else []) + frames
        folded[";".join(f.replace(";", ":") for f in stack)] += w
    return folded


def top(folded, n):
    selfc, incl = collections.Counter(), collections.Counter()
    total = sum(folded.values())
    for stack, c in folded.items():
        fr = stack.split(";")
        selfc[fr[-1]] += c
        for f in set(fr):
            incl[f] += c
    out = ["samples: %d" % total, "", "self %     function (self samples)"]
    for f, c in selfc.most_common(n):
        out.append("%6.2f%%   %s" % (100.0 * c / total, f))
    out += ["", "total %    function (inclusive: itself and what it calls)"]
    for f, c in incl.most_common(n):
        out.append("%6.2f%%   %s" % (100.0 * c / total, f))
    return "\n".join(out)


def svg(folded, title, width=1200, row=16):
    root = {"n": 0, "kids": {}}
    for stack, c in folded.items():
        node = root
        node["n"] += c
        for f in stack.split(";"):
            node = node["kids"].setdefault(f, {"n": 0, "kids": {}})
            node["n"] += c
    total = root["n"] or 1
    rects, depth_max = [], [0]

    def walk(node, x, depth):
        for name, kid in sorted(node["kids"].items()):
            w = kid["n"] / total * (width - 20)
            if w >= 0.3:
                rects.append((x, depth, w, name, kid["n"]))
                depth_max[0] = max(depth_max[0], depth)
                walk(kid, x, depth + 1)
            x += w

    walk(root, 10, 0)
    height = (depth_max[0] + 3) * row + 40
    out = ['<?xml version="1.0" standalone="no"?>',
           '<svg version="1.1" width="%d" height="%d" xmlns="http://www.w3.org/2000/svg" '
           'font-family="Verdana" font-size="12">' % (width, height),
           '<rect x="0" y="0" width="%d" height="%d" fill="#f8f8f0"/>' % (width, height),
           '<text x="%d" y="24" text-anchor="middle" font-size="17">%s</text>' % (
               width // 2, html.escape(title))]
    for x, depth, w, name, n in rects:
        y = height - (depth + 2) * row
        h = hash(name) & 0xffffff
        color = "rgb(%d,%d,%d)" % (205 + (h & 0x31), 80 + ((h >> 8) & 0x7f), 40 + ((h >> 16) & 0x3f))
        label = html.escape(name)
        out.append('<g><title>%s (%d samples, %.2f%%)</title>'
                   '<rect x="%.1f" y="%d" width="%.1f" height="%d" fill="%s" rx="2"/>' % (
                       label, n, 100.0 * n / total, x, y, w, row - 1, color))
        chars = int(w / 7)
        if chars >= 3:
            text = name if len(name) <= chars else name[:chars - 2] + ".."
            out.append('<text x="%.1f" y="%d">%s</text>' % (x + 2, y + row - 4,
                                                              html.escape(text)))
        out.append("</g>")
    out.append("</svg>")
    return "\n".join(out)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--folded")
    ap.add_argument("--svg")
    ap.add_argument("--title", default="flame graph")
    ap.add_argument("--top", type=int, default=0)
    ap.add_argument("--by-thread", action="store_true", help="root frames are thread names")
    args = ap.parse_args()
    folded = fold(parse(sys.stdin), args.by_thread)
    if args.folded:
        with open(args.folded, "w") as f:
            for stack, c in sorted(folded.items()):
                f.write("%s %d\n" % (stack, c))
    if args.svg:
        with open(args.svg, "w") as f:
            f.write(svg(folded, args.title))
    if args.top:
        print(top(folded, args.top))


if __name__ == "__main__":
    main()
