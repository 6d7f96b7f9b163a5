#!/usr/bin/python3
"""pg_test: the extension through real libpq connections, one file per capability
(test_lock, test_approvals, test_undo, test_stats_audit, test_ceilings, test_check_role,
test_policies, test_adversary), drivers in harness.py. Each test opens sessions the way an agent's
client would and asserts the exact outcome. Run against a cluster prepared by scripts/pg_test.sh.
"""
import argparse, os, sys, traceback
import harness
from harness import ARGS, TESTS, restore_t
import test_lock, test_approvals, test_undo, test_stats_audit, test_ceilings, test_check_role, test_policies, test_adversary, test_redteam, test_redteam2, test_redteam3, test_redteam4, test_redteam5, test_redteam6, test_redteam7, test_agent_code  # noqa: F401,E401 register their tests

def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--host", required=True)
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--label", default="")
    ap.add_argument("--psql", default="psql", help="the server version's own psql")
    ap.add_argument("--files", default="/tmp", help="a directory the server can read, for policy files")
    ap.add_argument("--log", required=True, help="the server's log file, for the audit trail")
    vars(ARGS).update(vars(ap.parse_args()))
    passed = failed = 0
    only = os.environ.get("PGTEST_ONLY", "")  # a part of the tests' names, to run those only
    for fn in [t for t in TESTS if only in t.__name__]:
        try:
            fn()
            passed += 1
        except Exception as e:
            failed += 1
            print(f"FAIL {ARGS.label} {fn.__name__}: {e}")
            if not isinstance(e, AssertionError):
                traceback.print_exc()
        finally:
            restore_t()  # a failed test leaves the next one the table it expects
    print(f"pg_test {ARGS.label}: {passed} passed, {failed} failed")
    sys.exit(1 if failed else 0)

if __name__ == "__main__":
    main()
