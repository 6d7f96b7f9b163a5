#!/usr/bin/env bash
# Every test, from a fresh Debian 12 machine: installs what is missing, builds, then runs the core's
# unit tests, the connect-time/lock tests (pg_test) and the readonly corpus for both agent roles.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
setup_all
failed=0
log "unit tests (interdict-core)"
(cd "$ROOT" && cargo test -q -p interdict-core) || failed=1
log "pg_test: lock and connect-time settings over real connections"
bash "$ROOT/scripts/pg_test.sh" || failed=1
log "corpus: readonly red/green cases, ordinary and superuser agents"
bash "$ROOT/scripts/corpus.sh" || failed=1
if [ "$failed" = 0 ]; then log "all tests passed"; else log "some tests failed"; fi
exit $failed
