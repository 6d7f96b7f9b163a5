#!/usr/bin/env bash
# Every test, from a fresh Debian 12 machine: installs what is missing (Debian packages, cargo-pgrx,
# the PostgreSQL 16 and 18 servers from their pinned PyPI wheels), builds and installs the extension
# for 15, 16 and 18, then runs:
#   - on 15: the core's unit tests, pg_test (lock, connect-time settings, approvals, policies, undo,
#     the adversarial classes), the blast-radius accuracy test, undo exactness, the kill -9 test and
#     both corpora for every agent (ordinary, superuser, and the guarded migration role);
#   - on 16 and 18: pg_test, both corpora for the ordinary and superuser agents, accuracy (200
#     statements) and undo exactness (300);
#   - on each: PostgreSQL's own regression suite (scripts/regress.sh): mode off prints exactly what a
#     server without the library prints; readonly and guarded crash nothing and fail nothing inside;
#   - the house rules (scripts/check_house.py);
#   - the command line (cli/): its tests and its agreement with the server's verdicts over the corpus;
#   - 13, 14 and 17 (no server here): type-checked against pgrx's bindings; install.sh's bad input.
# Versions run one after another; each on its own clusters and ports.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
install_packages
for major in $TESTED_MAJORS; do fetch_server "$major"; done
install_pgrx
for major in $TESTED_MAJORS; do PG_MAJOR=$major bash -c "source '$ROOT/scripts/lib.sh'; install_extension"; done
failed=0
step() {
    local what=$1 start=$SECONDS; shift; log "$what"
    "$@" || { failed=1; log "FAILED: $what"; }
    log "($(( SECONDS - start ))s) $what"
}
step "the house: floors, one reason table, every reason code with a case" python3 "$ROOT/scripts/check_house.py"
step "unit tests (interdict-core)" bash -c "cd '$ROOT' && cargo test -q -p interdict-core"
step "the interdict CLI: tests, hook payloads (Claude Code, Codex), agreement with the corpus" bash "$ROOT/scripts/cli_test.sh"
step "13, 14, 17: type-checked against pgrx's bindings, warnings denied" bash "$ROOT/scripts/check_versions.sh"
step "install.sh: bad input, and a library of another major" bash "$ROOT/scripts/install_test.sh"
for major in $TESTED_MAJORS; do
    export PG_MAJOR=$major
    step "PostgreSQL $major: pg_test (lock, settings, approvals, policies, undo, adversarial classes)" bash "$ROOT/scripts/pg_test.sh"
    step "PostgreSQL $major: its regression suite, mode off identical to not loaded; readonly and guarded: no crash, no internal failure" bash "$ROOT/scripts/regress.sh"
    if [ "$major" = 15 ]; then
        step "PostgreSQL 15: accuracy, 500 random writes" bash "$ROOT/scripts/accuracy.sh" 500
        step "PostgreSQL 15: undo exactness, 1000 random writes reverted newest first" bash "$ROOT/scripts/undo_exact.sh" 1000
        step "PostgreSQL 15: kill -9 mid-write and mid-revert leaves nothing partial" bash "$ROOT/scripts/crash.sh"
        step "PostgreSQL 15: corpus, readonly and guarded, every agent" bash "$ROOT/scripts/corpus.sh"
    else
        step "PostgreSQL $major: accuracy, 200 random writes" bash "$ROOT/scripts/accuracy.sh" 200
        step "PostgreSQL $major: undo exactness, 300 random writes" bash "$ROOT/scripts/undo_exact.sh" 300
        step "PostgreSQL $major: corpus, readonly and guarded, ordinary and superuser agents" env CORPUS_OWNER=no bash "$ROOT/scripts/corpus.sh"
    fi
done
if [ "$failed" = 0 ]; then log "all tests passed"; else log "some tests failed"; fi
exit $failed
