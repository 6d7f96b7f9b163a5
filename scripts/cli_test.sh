#!/usr/bin/env bash
# The `interdict` command line (cli/): builds it (release), runs its tests (recorded PreToolUse
# payloads for Claude Code and Codex, check's exit codes, policy check, explain-code), then its
# agreement with the server's verdicts over the whole corpus (scripts/cli_agreement.py: any
# disagreement fails). Needs no server: pg_query carries Postgres' parser. Builds need clang and
# libclang (bindgen), which lib.sh's install_packages installs (clang, libclang-dev).
#   CLI_TARGET_DIR=DIR   where cargo builds (default: the workspace's target/)
#   CLI_RESULTS=yes      also write the figures to benches/RESULTS.md (<!-- begin cli -->)
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
[ -x "$HOME/.cargo/bin/cargo" ] && export PATH="$HOME/.cargo/bin:$PATH"
export CARGO_TARGET_DIR=${CLI_TARGET_DIR:-${CARGO_TARGET_DIR:-$ROOT/target}}
cd "$ROOT"
cargo build -q --release -p interdict-cli
cargo test -q --release -p interdict-cli
results=(); [ "${CLI_RESULTS:-no}" = yes ] && results=(--results)
python3 "$ROOT/scripts/cli_agreement.py" --binary "$CARGO_TARGET_DIR/release/interdict" "${results[@]}"
