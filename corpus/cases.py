"""The corpus's case format (see corpus/run.py): read by the corpus runner and by the command line's
agreement test (scripts/cli_agreement.py). Standard library only."""
import os


def parse_cases(path):
    cases, current = [], None
    for line in open(path, encoding="utf-8"):
        if line.startswith("-- red ") or line.startswith("-- green"):
            head, _, title = line[3:].partition(":")
            words = head.split()
            current = {"file": os.path.basename(path), "title": title.strip(), "kind": words[0],
                       "code": words[1] if words[0] == "red" else None, "su_only": "[su]" in words, "owner_only": "[owner]" in words,
                       "needs": {w.strip("[]") for w in words if w in ("[dblink]", "[adminpack]")},
                       "min_version": max([int(w[3:-1]) * 10000 for w in words if w.startswith("[pg") and w.endswith("]")] or [0]),
                       "ddl": "[ddl]" in words, "expects": [], "sql": ""}
            cases.append(current)
        elif line.startswith("## ") or current is None:
            continue
        elif line.startswith("-- expect:"):
            current["expects"].append(line[len("-- expect:"):].strip())
        else:
            current["sql"] += line
    for c in cases:
        c["sql"] = c["sql"].strip()
        if not c["sql"]:
            raise SystemExit(f"{path}: case '{c['title']}' has no SQL")
    return cases
