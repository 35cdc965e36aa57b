#!/usr/bin/python3
"""check-layout.py: hv's folders must include one another without a cycle (docs/hv-layout.md)."""
import pathlib
import re
import sys

HV = pathlib.Path(__file__).resolve().parent.parent / "hv"
INCLUDE = re.compile(r'^#include "([a-z0-9_]+)/[a-z0-9_]+\.h"', re.M)


def folder_graph():
    """Folder -> {included folder: [files that include it]}, from every hv/<folder>/*.[ch]."""
    graph = {}
    for path in sorted(HV.glob("*/*.[ch]")):
        src = path.parent.name
        if src == "cli":
            continue
        edges = graph.setdefault(src, {})
        for dst in INCLUDE.findall(path.read_text()):
            if dst != src:
                edges.setdefault(dst, []).append(path.relative_to(HV.parent).as_posix())
    return graph


def cycles(graph):
    """Every folder cycle, each as a list of folders, found by depth-first search."""
    found, seen = [], set()

    def visit(node, stack):
        if node in stack:
            cycle = stack[stack.index(node):]
            key = frozenset(cycle)
            if key not in seen:
                seen.add(key)
                found.append(cycle + [node])
            return
        for nxt in sorted(graph.get(node, {})):
            visit(nxt, stack + [node])

    for start in sorted(graph):
        visit(start, [])
    return found


def main():
    graph = folder_graph()
    if "-v" in sys.argv:
        for src in sorted(graph):
            print(f"{src:11} -> {', '.join(sorted(graph[src])) or '-'}")
    bad = cycles(graph)
    for cycle in bad:
        print("include cycle: " + " -> ".join(cycle), file=sys.stderr)
        for a, b in zip(cycle, cycle[1:]):
            print(f"  {a} -> {b}: {', '.join(sorted(set(graph[a][b])))}", file=sys.stderr)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
