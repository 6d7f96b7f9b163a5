#!/usr/bin/env python3
"""Per-statement costs from two callgrind runs of the same workload, N and 2N statements long.

Usage: callgrind_costs.py FILE_N FILE_2N N [OBJECT_SUBSTRING]

Prints markdown rows: instructions per statement spent *inside* the object (the extension's own
code, Rust's standard library inlined into it included), then its functions with their self and
inclusive cost per statement, (cost(2N) - cost(N)) / N, so that start-up and shut-down cancel out.
Inclusive costs include what a function calls, Postgres' work beneath a hook included.
"""
import collections
import re
import sys


def parse(path, wanted):
    """Self and inclusive instruction counts per function of objects matching `wanted`."""
    names = {"ob": {}, "fn": {}, "cob": {}, "cfn": {}}
    selfc = collections.Counter()
    incl = collections.Counter()
    obj_self = 0
    ob = fn = None
    after_call = False
    ref = re.compile(r"^(ob|fn|cob|cfn|fl|fi|fe|cfi|cfl)=(?:\((\d+)\))?\s*(.*)$")
    with open(path, errors="replace") as f:
        for line in f:
            line = line.rstrip("\n")
            m = ref.match(line)
            if m:
                kind, num, name = m.groups()
                if kind in names:
                    table = names["ob" if kind in ("ob", "cob") else "fn"]
                    if num is not None and name:
                        table[num] = name
                    value = table.get(num, name) if num is not None else name
                    if kind == "ob":
                        ob = value
                    elif kind == "fn":
                        fn = value
                continue
            if line.startswith("calls="):
                after_call = True
                continue
            if not line or not (line[0].isdigit() or line[0] in "+-*"):
                continue
            parts = line.split()
            if len(parts) < 2:
                continue
            try:
                cost = int(parts[1])
            except ValueError:
                continue
            mine = ob is not None and wanted in ob
            if after_call:
                after_call = False
                if mine:
                    incl[fn] += cost
                continue
            if mine:
                selfc[fn] += cost
                incl[fn] += cost
                obj_self += cost
    return obj_self, selfc, incl


def short(name):
    name = re.sub(r"::h[0-9a-f]{16}$", "", name)
    name = re.sub(r"^<(.*) as (.*)>::", r"\1::", name)
    return name.replace("interdict::", "")


def main():
    path_n, path_2n, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
    wanted = sys.argv[4] if len(sys.argv) > 4 else "interdict.so"
    o1, s1, i1 = parse(path_n, wanted)
    o2, s2, i2 = parse(path_2n, wanted)
    print(f"| all code inside the library (self) | {(o2 - o1) / n:.0f} | |")
    per = {f: ((s2[f] - s1[f]) / n, (i2[f] - i1[f]) / n) for f in set(s2) | set(i2)}
    skip = ("pgrx_extern_c_guard", "run_guarded", "call_once", "__rust", "_inner", "{{closure}}", "core::ops::function")
    rows = [(f, s, i) for f, (s, i) in per.items() if i >= 200 and not any(k in f for k in skip)]
    rows.sort(key=lambda r: -r[2])
    for f, s, i in rows[:18]:
        print(f"| `{short(f)}` | {s:.0f} | {i:.0f} |")


if __name__ == "__main__":
    main()
