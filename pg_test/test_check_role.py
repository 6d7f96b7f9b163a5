"""check_role(): a role's weaknesses found, each with a fix that runs."""
import json, os, re, subprocess, time
import psycopg2
from harness import *  # noqa: F401,F403 the drivers: test, connect, run, one, eq, refused, refusal, …

@test
def check_role_reports_findings_with_fixes():
    dba = connect("postgres", "pgtest_check")
    run(dba, "DROP TABLE IF EXISTS weak_t, owned_t")
    run(dba, "DO $$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'c_owner') THEN CREATE ROLE c_owner; END IF; END $$")
    run(dba, "ALTER ROLE c_weak CREATEDB BYPASSRLS CONNECTION LIMIT -1")
    run(dba, "ALTER ROLE c_weak RESET ALL")  # the other run's fixes undone
    run(dba, "GRANT interdict_operator, pg_write_server_files, c_owner TO c_weak")
    run(dba, "CREATE TABLE weak_t (id int PRIMARY KEY)")
    run(dba, "ALTER TABLE weak_t OWNER TO c_weak")
    run(dba, "CREATE TABLE owned_t (id int PRIMARY KEY)")
    run(dba, "ALTER TABLE owned_t OWNER TO c_owner")
    run(dba, "GRANT INSERT, DELETE ON owned_t TO PUBLIC")
    run(dba, "GRANT CREATE ON SCHEMA public TO c_weak")
    ro = connect("r_sess", "pgtest_check")  # it runs in readonly mode too
    got = run(ro, "SELECT \"check\", severity FROM interdict.check_role('c_weak')")
    want = [("operator", "critical"), ("bypassrls", "high"), ("predefined_role", "high"), ("mode", "high"), ("preload", "high"),
            ("owner", "high"), ("owner_member", "high"), ("createdb", "medium"), ("create_schema", "medium"),
            ("write_grant", "medium"), ("connection_limit", "low"), ("timeouts", "low")]
    if ARGS.label == "shared_preload":
        want.remove(("preload", "high"))  # shared_preload_libraries loads it for every session
    eq(sorted(got), sorted(want), "every weakness found")
    for (fix,) in run(dba, "SELECT fix FROM interdict.check_role('c_weak')"):
        run(dba, fix)  # each fix is SQL that runs as written
    eq(run(dba, "SELECT \"check\" FROM interdict.check_role('c_weak')"), [], "after the fixes, nothing is found")
    eq(run(ro, "SELECT * FROM interdict.check_role('c_good')"), [], "a hardened role")
    eq(refusal(ro, "SELECT * FROM interdict.check_role('no_such_role')")["reason"], "role.unknown", "a missing role")
    run(dba, "DROP TABLE IF EXISTS weak_t, owned_t")

@test
def doctor_reports_a_roles_setup():
    """`interdict doctor` (cli/) against this server: the same findings, and its exit codes."""
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    binary = os.environ.get("INTERDICT_CLI", os.path.join(root, "target", "release", "interdict"))
    if not os.access(binary, os.X_OK):
        raise AssertionError(f"{binary} is not built: run scripts/cli_test.sh (test.sh does, before pg_test)")
    dsn = f"host={ARGS.host} port={ARGS.port} user=postgres dbname=pgtest"
    def doctor(*args):
        p = subprocess.run([binary, "doctor", dsn, *args], capture_output=True, text=True, timeout=60)
        return p.returncode, p.stdout, p.stderr
    code, out, _ = doctor("--role", "r_guard", "--json")
    report = json.loads(out)
    by_check = {}
    for f in report["findings"]:
        by_check.setdefault(f["check"], []).append(f)
    eq(by_check["library"][0]["severity"], "ok", "the library is preloaded for r_guard")
    eq((by_check["mode"][0]["severity"], "guarded" in by_check["mode"][0]["finding"]), ("ok", True), "r_guard's mode")
    eq(by_check["extension"][0]["severity"], "ok", "the extension is created")
    eq(code, 1 if report["critical"] else 0, "exit code follows the critical findings")
    code, out, _ = doctor("--role", "r_off", "--json")
    off = {f["check"]: f["severity"] for f in json.loads(out)["findings"]}
    eq((off.get("mode"), code), ("critical", 1), "a role in mode off is critical and gates a deployment")
    code, _, err = doctor("--role", "no_such_role")
    eq((code, "no_such_role" in err), (3, True), "an unknown role")
    p = subprocess.run([binary, "doctor", f"host={ARGS.host} port={ARGS.port} user=postgres dbname=no_such_db"], capture_output=True, text=True, timeout=60)
    eq((p.returncode, "does not exist" in p.stderr), (3, True), "a database that does not exist")
