#!/usr/bin/env bash
# Regenerates the pages derived from the core's tables: docs/reason-codes.md (its table) and
# docs/guarded-commands.md. Unit tests fail when either is out of step.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo run -q -p interdict-core --example guarded_commands > docs/guarded-commands.md
python3 - <<'PY'
import subprocess
rows = subprocess.run(["cargo", "run", "-q", "-p", "interdict-core", "--example", "reason_table"], capture_output=True, text=True, check=True).stdout
path = "docs/reason-codes.md"
text = open(path).read()
start = text.index("| code | SQLSTATE |")
lines = text[start:].split("\n")
n = 0
while n < len(lines) and lines[n].startswith("|"):
    n += 1
open(path, "w").write(text[:start] + rows.rstrip("\n") + "\n" + "\n".join(lines[n:]))
PY
