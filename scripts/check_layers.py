#!/usr/bin/env python3
"""The layer check the build runs: llmgw's include graph must follow the layers in docs/ARCHITECTURE.md.

    common <- telemetry, httpd <- providers <- routing <- limits, cache, tenancy <- roles <- cmd
    (roles: ingress, workers, ledger, analytics, batch)

A file may include a project header from its own folder or from a folder of a lower layer; folders of one
layer (two roles, or limits and cache) never include each other, so roles meet only on Kafka. Also:
  - providers/ is used from above only through its public headers (the adapter interface and the HTTP
    client set-up): an adapter's wire code is nobody else's business;
  - a folder's private header (*_int.h) is included only inside that folder;
  - every include of a project header names its folder ("common/kafka.h"), so the graph is unambiguous;
  - rd_kafka_producev appears only in common/kafka.c: one produce path sets every record's headers;
  - inside a folder, modules (foo.c with foo.h) depend on each other without a circle: if a.c or a.h
    includes b.h, b.c and b.h never reach a.h again.

Usage: check_layers.py SOURCE_DIR [STAMP]. Prints each violation and exits 1; on success touches STAMP.
Tests, fuzz harnesses and bench tools are outside the layers and not checked.
"""
import os
import re
import sys

# Folder -> layer rank. Folders not yet created are slots for the issues that add them.
RANK = {
    "common": 0,
    "telemetry": 1,
    "httpd": 1,
    "providers": 2,
    "routing": 3,
    "limits": 4,
    "cache": 4,
    "tenancy": 4,
    "ingress": 5,
    "workers": 5,
    "ledger": 5,
    "analytics": 5,
    "batch": 5,
    "cmd": 6,
}
# Headers of providers/ that layers above may include (the adapter interface, libcurl set-up, the transfer
# loops a worker runs); the rest is adapter wire code.
PUBLIC = {"providers": {"provider.h", "http.h", "http_loop.h"}}
PRODUCE_ONLY_IN = "common/kafka.c"

INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"', re.M)


def check(root):
    problems = []
    for folder in sorted(RANK):
        path = os.path.join(root, folder)
        if not os.path.isdir(path):
            continue
        for name in sorted(os.listdir(path)):
            if not name.endswith((".c", ".h")):
                continue
            rel = f"{folder}/{name}"
            with open(os.path.join(path, name), encoding="utf-8", errors="replace") as f:
                text = f.read()
            for lineno, line in enumerate(text.splitlines(), 1):
                m = INCLUDE.match(line)
                if not m:
                    continue
                target = m.group(1)
                where = f"{rel}:{lineno}: #include \"{target}\""
                if "/" not in target:
                    problems.append(f"{where}: name the header's folder (\"common/{target}\")")
                    continue
                tfolder, theader = target.split("/", 1)
                if tfolder not in RANK:
                    continue  # generated or third-party paths
                if tfolder == folder:
                    continue
                if RANK[tfolder] > RANK[folder]:
                    problems.append(f"{where}: {folder}/ (layer {RANK[folder]}) may not include {tfolder}/ "
                                    f"(layer {RANK[tfolder]}): includes point down the layers only")
                elif RANK[tfolder] == RANK[folder]:
                    problems.append(f"{where}: {folder}/ and {tfolder}/ are one layer and never include each "
                                    f"other (roles meet only on Kafka)")
                elif theader.endswith("_int.h"):
                    problems.append(f"{where}: {theader} is private to {tfolder}/")
                elif tfolder in PUBLIC and theader not in PUBLIC[tfolder]:
                    problems.append(f"{where}: only {', '.join(sorted(PUBLIC[tfolder]))} of {tfolder}/ may be "
                                    f"included from above; {theader} is an adapter's wire code")
            if rel != PRODUCE_ONLY_IN and re.search(r"\brd_kafka_producev\s*\(", text):
                problems.append(f"{rel}: calls rd_kafka_producev; produce through lgw_kafka_produce "
                                f"({PRODUCE_ONLY_IN}), which sets the record headers")
    problems += module_cycles(root)
    return problems


def module_cycles(root):
    """Modules of one folder (foo.c + foo.h share the module foo) and their include edges; every cycle found
    by a depth-first search is reported once."""
    problems = []
    for folder in sorted(RANK):
        path = os.path.join(root, folder)
        if not os.path.isdir(path):
            continue
        edges = {}
        for name in os.listdir(path):
            if not name.endswith((".c", ".h")):
                continue
            mod = name[:-2]
            with open(os.path.join(path, name), encoding="utf-8", errors="replace") as f:
                for target in INCLUDE.findall(f.read()):
                    if target.startswith(folder + "/") and target.endswith(".h"):
                        dep = target[len(folder) + 1:-2]
                        if dep != mod:
                            edges.setdefault(mod, set()).add(dep)
        state, stack, seen_cycles = {}, [], set()

        def visit(mod):
            state[mod] = 1
            stack.append(mod)
            for dep in sorted(edges.get(mod, ())):
                if state.get(dep) == 1:
                    cycle = stack[stack.index(dep):] + [dep]
                    key = frozenset(cycle)
                    if key not in seen_cycles:
                        seen_cycles.add(key)
                        problems.append(f"{folder}/: modules include each other in a circle: "
                                        + " -> ".join(cycle) + " (one of them must not know the other)")
                elif dep not in state:
                    visit(dep)
            stack.pop()
            state[mod] = 2

        for mod in sorted(edges):
            if mod not in state:
                visit(mod)
    return problems


def main():
    if len(sys.argv) < 2:
        print(__doc__, file=sys.stderr)
        return 2
    problems = check(sys.argv[1])
    for p in problems:
        print(f"layer check: {p}", file=sys.stderr)
    if problems:
        print(f"layer check: {len(problems)} violation(s); see docs/ARCHITECTURE.md, \"Layers\"", file=sys.stderr)
        return 1
    if len(sys.argv) > 2:
        with open(sys.argv[2], "w") as f:
            f.write("ok\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
