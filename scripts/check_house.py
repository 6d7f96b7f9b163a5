#!/usr/bin/env python3
"""Two rules of the house, checked on src/ by `scripts/test.sh`:

1. Floors, bottom first: a file may use files on its own floor or below, never above. Each entry of
   FLOORS is one floor; the check names every arrow that runs up, every file of src/ missing from
   the list and every listed file that no longer exists. Moving a file between floors is a one-line
   change here (and in README's "How it works").
2. Every error comes from the reason table: no code raises through pgrx's `error!`/`ereport!`,
   `ErrorReport`, `panic!`, `.expect(` or `.unwrap()` outside `src/reasons.rs` (which turns a
   `Refusal` into the error; the LOG lines and notices of `src/messages.rs` are not errors). A failure of the guard's own is
   `reasons::internal_failure(what, why)`: `internal.failure` with what failed.
3. Every reason code of `core/src/reasons.rs` has an end-to-end case: a corpus case or a pg_test
   test that expects it (BACKSTOPS lists the codes no statement can reach, each with why).
"""
import os
import re
import sys

FLOORS = [
    # 1. Plumbing: backend cells, error-safe chaining to other hooks, reading Postgres nodes,
    #    shared memory, the guard's LOG lines and notices.
    ["cell", "chain", "nodes", "shmem", "facts/names", "messages"],
    # 2. The settings in force (values only; their GUC hooks sit on floor 11).
    ["settings/mod", "settings/values"],
    # 3. Facts: Postgres trees and catalogs -> the core's plain facts.
    ["facts/mod", "facts/calls", "facts/expressions", "facts/function", "facts/guard_objects", "facts/plan", "facts/roles",
     "facts/scope", "facts/utility"],
    # 4. The statement running now (nesting, counts, text, approved limit, simulation).
    ["statement"],
    # 5. Sinks: counters, the audit trail, the book of pending requests.
    ["stats", "audit", "pending"],
    # 6. Raising a refusal (noted in every sink).
    ["reasons"],
    # 7. The guard's own SQL, pinned and run as the extension's or a table's owner.
    ["guard_sql"],
    # 8. Stores: approvals, the policy, undo's records; facts read with the guard's own SQL.
    ["approvals", "policy", "undo/mod", "undo/image", "undo/store", "undo/revert", "facts/temporary", "facts/planted"],
    # 9. The session's lock; check_role; an agent's code in other roles' sessions.
    ["session", "check_role", "agent_code"],
    # 10. Postgres' own settings locked in agent sessions.
    ["server_settings"],
    # 11. The GUC hooks of interdict's settings.
    ["settings/hooks"],
    # 12. The one enforcement seam.
    ["enforce"],
    # 13. The blast radius.
    ["blast"],
    # 14. Entries: hooks, simulate(), the SQL API.
    ["hooks/mod", "hooks/executor", "hooks/utility", "hooks/function", "hooks/xact", "hooks/emit_log",
     "simulate", "api"],
    # 15. _PG_init.
    ["lib"],
]

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "src")
floor_of = {name: i for i, floor in enumerate(FLOORS) for name in floor}


def module_file(path_parts):
    """The listed file a `crate::a::b` path names: the longest prefix that is a file."""
    for n in range(len(path_parts), 0, -1):
        name = "/".join(path_parts[:n])
        if name in floor_of:
            return name
        if name + "/mod" in floor_of:
            return name + "/mod"
    return None


def references(name, text):
    """Files of src/ that `name` refers to (crate:: paths, `use crate::{a, b}`, super::)."""
    text = re.sub(r"//[^\n]*", "", text)  # comments name modules in prose
    found = set()
    for m in re.finditer(r"crate::((?:[a-z_]+::)*[a-z_]+)", text):
        found.add(module_file(m.group(1).split("::")))
    for m in re.finditer(r"use crate::\{([^}]*)\}", text):
        for part in m.group(1).split(","):
            part = part.strip().split("::")
            if part and part[0]:
                found.add(module_file(part))
    parent = name.rsplit("/", 1)[0] if "/" in name else None
    for m in re.finditer(r"super::((?:[a-z_]+::)*[a-z_]+)", text):
        if parent is None:
            continue
        base = parent.split("/")[:-1] if name.endswith("/mod") else parent.split("/")
        found.add(module_file(base + m.group(1).split("::")) or module_file(base))
    found.discard(None)
    found.discard(name)
    return found


# Where raising is the point: the table's own file (LOG lines and notices go through messages.rs, not errors).
RAISES = {"reasons": None}
BARE = re.compile(r"\b(?:pgrx::)?(?:error|ereport|panic|unimplemented|todo)!\(|ErrorReport::new\(|\.expect\(|\.unwrap\(\)")


def raising_outside_the_table(files):
    problems = []
    for name in sorted(files):
        allowed = RAISES.get(name, False)
        if allowed is None:
            continue
        for n, line in enumerate(open(os.path.join(ROOT, name + ".rs")), 1):
            code = line.split("//")[0]
            if not BARE.search(code) or (allowed and allowed.search(code)):
                continue
            if "const " in code or "Err(_) => panic!()" in code:
                continue  # compile-time (const) evaluation: fails the build, never a running server
            problems.append(f"src/{name}.rs:{n}: raises outside the reason table: {line.strip()}")
    return problems


# Reason codes no statement reaches end to end, and why they exist anyway.
BACKSTOPS = {
    # decide.rs: a planned statement whose command type is none of SELECT/INSERT/UPDATE/DELETE/MERGE.
    # Postgres plans no such statement today; the code refuses rather than guess if one appears.
    "internal.undecidable",
}


def reasons_without_a_case():
    top = os.path.join(ROOT, "..")
    codes = re.findall(r'=> "([a-z_]+\.[a-z_]+)", "\w{5}"', open(os.path.join(top, "core/src/reasons.rs")).read())
    cases = ""
    for folder, suffixes in (("corpus", (".cases",)), ("pg_test", (".py",))):
        for n in sorted(os.listdir(os.path.join(top, folder))):
            if n.endswith(suffixes):
                cases += open(os.path.join(top, folder, n)).read()
    return [f"reason code {c} has no end-to-end case in corpus/*.cases or pg_test/*.py" for c in codes
            if c not in BACKSTOPS and f"{c}" not in cases]


def main():
    files = []
    for dirpath, _, names in os.walk(ROOT):
        for n in names:
            if n.endswith(".rs"):
                files.append(os.path.relpath(os.path.join(dirpath, n), ROOT)[:-3])
    problems = []
    for name in sorted(set(files) - set(floor_of)):
        problems.append(f"src/{name}.rs is on no floor: add it to FLOORS in scripts/check_house.py")
    for name in sorted(set(floor_of) - set(files)):
        problems.append(f"src/{name}.rs is listed in FLOORS but does not exist")
    for name in sorted(set(files) & set(floor_of)):
        text = open(os.path.join(ROOT, name + ".rs")).read()
        for used in sorted(references(name, text)):
            if floor_of[used] > floor_of[name]:
                problems.append(f"src/{name}.rs (floor {floor_of[name] + 1}) uses src/{used}.rs (floor {floor_of[used] + 1}): an arrow up")
    problems += raising_outside_the_table(files)
    problems += reasons_without_a_case()
    for p in problems:
        print(p)
    if problems:
        sys.exit(1)
    print(f"house: {len(files)} files on {len(FLOORS)} floors, every arrow points down; every error from the reason table, every reason code with a case")


if __name__ == "__main__":
    main()
