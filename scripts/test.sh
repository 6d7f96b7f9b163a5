#!/usr/bin/env bash
# Every test, from a fresh Debian 12 machine: installs what is missing, builds, then runs the core's
# unit tests, the connect-time/lock/approval/policy/undo tests (pg_test), the blast-radius accuracy
# test, undo exactness, the kill -9 test and the corpus (readonly and guarded) for ordinary and
# superuser agents.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
setup_all
failed=0
log "unit tests (interdict-core)"
(cd "$ROOT" && cargo test -q -p interdict-core) || failed=1
log "pg_test: lock and connect-time settings over real connections"
bash "$ROOT/scripts/pg_test.sh" || failed=1
log "accuracy: simulate() rows against real rows, 500 random writes"
bash "$ROOT/scripts/accuracy.sh" 500 || failed=1
log "undo exactness: 1000 random guarded writes, all reverted newest first, fingerprint identical"
bash "$ROOT/scripts/undo_exact.sh" 1000 || failed=1
log "crash: kill -9 in the middle of a guarded write and of a revert leaves nothing partial"
bash "$ROOT/scripts/crash.sh" || failed=1
log "corpus: readonly and guarded red/green cases, ordinary and superuser agents"
bash "$ROOT/scripts/corpus.sh" || failed=1
if [ "$failed" = 0 ]; then log "all tests passed"; else log "some tests failed"; fi
exit $failed
