"""Policies and dry runs: bad input refused, limits and structural rules applied, a broken file
closes writes."""
import json, os, re, subprocess, time
import psycopg2
from harness import *  # noqa: F401,F403 the drivers: test, connect, run, one, eq, refused, refusal, …

@test
def dry_run_logs_and_counts_instead_of_refusing():
    dry = connect("r_dry")
    eq(one(dry, "SHOW interdict.dry_run"), "on", "set by the DBA")
    pid = pid_of(dry)
    run(dry, "BEGIN")
    eq(len(run(dry, "DELETE FROM t WHERE true RETURNING id")), 10, "the unscoped delete went through")
    run(dry, "ROLLBACK")
    line = audit_lines(pid, "dry_run")[-1]
    eq((line["reason"], line["role"]), ("guarded.unscoped_write", "r_dry"), "logged")
    reader = connect("p_op") if ARGS.label == "shared_preload" else dry
    assert stats_row(reader, "r_dry")[0]["dry_run_would_refuse"] >= 1, "counted"
    refused(dry, "DELETE FROM interdict.approvals WHERE true", "guarded.guard_schema")  # the guard's own protections hold
    run(dry, "SET interdict.dry_run = off")
    refused(dry, "DELETE FROM t WHERE true", "guarded.unscoped_write")
    refused(dry, "SET interdict.dry_run = on", "setting.locked")
    eq(one(connect("r_guard", options="-c interdict.dry_run=on"), "SHOW interdict.dry_run"), "off", "a client cannot turn it on")
    eq(one(connect("postgres"), "SELECT count(*) FROM t"), 10, "nothing changed")

# --- policies ----------------------------------------------------------------------------------

POLICY = """
version: 1
defaults:
  max_rows: 5
  rows: {delete: 2}
  structural:
    truncate: refuse
    unscoped_write: allow
  tables:
    audit.*: {write: false}
    public.secret: {read: false}
    public.t: {structural: {unscoped_write: refuse}}
roles:
  p_report*:
    mode: readonly
    allowed_commands: [ANALYZE]
"""

def load(dba, text):
    return one(dba, "SELECT interdict.load_policy(%s)" % psycopg2.extensions.QuotedString(text).getquoted().decode())

@test
def policy_bad_input_is_refused_and_changes_nothing():
    dba = connect("postgres", "pgtest_policy")
    before = one(dba, "SELECT count(*) FROM interdict.policies")
    d = refusal(dba, "SELECT interdict.load_policy(E'version: 1\\ndefaults:\\n  max_rows: -1\\n')")
    eq((d["reason"], d["line"], d["column"]), ("policy.invalid", "3", "13"), "a limit of -1")
    d = refusal(dba, "SELECT interdict.load_policy(E'version: 1\\nroles:\\n  a:\\n    max_rowz: 5\\n')")
    eq((d["reason"], d["line"]), ("policy.invalid", "4"), "an unknown key")
    assert "max_rowz" in d["error"], d
    eq(refusal(dba, "SELECT interdict.load_policy('version: [')")["reason"], "policy.invalid", "malformed YAML")
    eq(refusal(connect("p_agent", "pgtest_policy"), "SELECT interdict.load_policy('version: 1')")["reason"], "policy.denied", "an agent")
    eq(refusal(connect("r_off", "pgtest_policy"), "SELECT interdict.load_policy('version: 1')")["reason"], "policy.denied", "not superuser or owner")
    eq(one(dba, "SELECT count(*) FROM interdict.policies"), before, "nothing stored")

@test
def policy_limits_tables_structural_rules_and_role_modes():
    load(connect("postgres", "pgtest_policy"), "version: 1\n")  # no limits of its own
    before = connect("p_agent", "pgtest_policy")
    eq(one(before, "SHOW interdict.max_rows"), "1000", "locked before the load")
    version = load(connect("postgres", "pgtest_policy"), POLICY)
    eq(one(before, "SHOW interdict.max_rows"), "1000", "a running session keeps the policy it started with")
    a = connect("p_agent", "pgtest_policy")
    eq(one(a, "SELECT interdict.policy()->>'source'"), f"interdict.policies version {version}", "source")
    eq(one(a, "SHOW interdict.max_rows"), "5", "the policy's max_rows, tighter than the default")
    refused(a, "SET interdict.max_rows = 100", "setting.locked")
    d = refusal(a, "DELETE FROM t WHERE id <= 3")
    eq((d["reason"], d["limit_from"], d["rows_reached"], d["max_rows"]), ("guarded.blast_radius", "policy: delete rows", "3", "2"), "per-operation limit")
    assert "approval_id" in d, d
    run(a, "BEGIN")
    eq(len(run(a, "UPDATE small SET id = id RETURNING 1")), 2, "unscoped_write: allow")
    run(a, "ROLLBACK")
    d = refusal(a, "UPDATE t SET v = v")
    eq(d["reason"], "guarded.unscoped_write", "the table's own rule: unscoped_write refuse on public.t")
    assert "approval_id" not in d, f"refuse: no approval: {d}"
    d = refusal(a, "TRUNCATE t")
    eq(d["reason"], "guarded.truncate", "truncate: refuse")
    assert "approval_id" not in d, f"a policy refusal offers no approval: {d}"
    refused(a, "INSERT INTO audit.log VALUES (1)", "policy.table_write")
    refused(a, "ALTER TABLE audit.log SET SCHEMA public", "policy.table_write")  # out of the rule's name
    refused(a, "SELECT * FROM secret", "policy.table_read")
    refused(a, "SELECT count(*) FROM t JOIN secret USING (id)", "policy.table_read")
    refused(a, "COPY secret TO STDOUT", "policy.table_read")
    eq(one(a, "SELECT count(*) FROM t"), 10, "other reads work")
    r = connect("p_report_1", "pgtest_policy")
    eq(mode(r), "readonly", "the policy's mode for p_report*")
    refused(r, "DELETE FROM t WHERE id = 1", "readonly.dml")
    run(r, "ANALYZE t")  # the policy's allowed_commands
    refused(r, "VACUUM t", "readonly.maintenance")
    eq(mode(connect("p_report_1", "pgtest")), "off", "no policy in the other database")
    dba = connect("postgres", "pgtest_policy")
    eq(one(dba, "SELECT count(*) FROM t") + one(dba, "SELECT count(*) FROM audit.log"), 10, "nothing changed")

@test
def renaming_out_of_a_table_rule_is_refused():
    """A rename or move that takes a relation out of the table rule that applies to it: the agent's
    own schema renamed out of a `schema.*` rule (written past its limit, renamed back), a table moved
    or renamed out of its rule. Within the same rule it is allowed."""
    dba = connect("postgres", "pgtest_policy")
    ws = f"ws_{ARGS.label}"
    run(dba, f"DROP SCHEMA IF EXISTS {ws} CASCADE")
    run(dba, f"DROP SCHEMA IF EXISTS {ws}_free CASCADE")
    run(dba, "GRANT CREATE ON DATABASE pgtest_policy TO p_agent")
    load(dba, f"version: 1\ndefaults:\n  tables:\n    {ws}.*: {{max_rows: 2}}\n    public.small: {{max_rows: 1}}\n")
    a = connect("p_agent", "pgtest_policy")
    run(a, f"CREATE SCHEMA {ws}")
    run(a, f"CREATE TABLE {ws}.x (id int PRIMARY KEY)")
    refused(a, f"INSERT INTO {ws}.x SELECT generate_series(1, 3)", "guarded.blast_radius")  # the rule's limit
    refused(a, f"ALTER SCHEMA {ws} RENAME TO {ws}_free", "policy.table_write")
    refused(a, f"ALTER TABLE {ws}.x SET SCHEMA public", "policy.table_write")
    run(a, f"CREATE SCHEMA {ws}_free")
    refused(a, f"ALTER TABLE {ws}.x SET SCHEMA {ws}_free", "policy.table_write")
    run(a, f"ALTER TABLE {ws}.x RENAME TO y")  # still under {ws}.*
    eq(one(dba, f"SELECT count(*) FROM pg_namespace WHERE nspname = '{ws}'"), 1, "the schema keeps its name")
    load(dba, "version: 1\n")
    run(dba, f"DROP SCHEMA {ws} CASCADE")
    run(dba, f"DROP SCHEMA {ws}_free CASCADE")
    run(dba, "REVOKE CREATE ON DATABASE pgtest_policy FROM p_agent")


@test
def a_rule_on_a_partitioned_table_covers_its_partitions():
    """Red team 7's G4: a table rule on a partitioned table did not cover its partitions named
    directly (write: false, yet INSERT INTO the partition; read: false, yet SELECT from it). A
    relation answers to its own rule and its ancestors'; a per-table row limit too."""
    dba = connect("postgres", "pgtest_policy")
    run(dba, "DROP TABLE IF EXISTS rt7_m, rt7_r")
    for t in ("rt7_m", "rt7_r"):
        run(dba, f"CREATE TABLE {t} (id int, region text, PRIMARY KEY (id, region)) PARTITION BY LIST (region)")
        run(dba, f"CREATE TABLE {t}_eu PARTITION OF {t} FOR VALUES IN ('eu')")
        run(dba, f"INSERT INTO {t} SELECT g, 'eu' FROM generate_series(1, 10) g")
        run(dba, f"SELECT interdict.record('{t}')")
        run(dba, f"GRANT ALL ON {t}, {t}_eu TO PUBLIC")
    load(dba, "version: 1\ndefaults:\n  tables:\n    public.rt7_m: {write: false}\n    public.rt7_r: {read: false}\n    public.rt7_r_eu: {read: false, max_rows: 2}\n")
    a = connect("p_agent", "pgtest_policy")
    refused(a, "INSERT INTO rt7_m_eu VALUES (11, 'eu')", "policy.table_write")
    refused(a, "DELETE FROM rt7_m_eu WHERE id = 1", "policy.table_write")
    refused(a, "SELECT count(*) FROM rt7_r_eu", "policy.table_read")
    load(dba, "version: 1\ndefaults:\n  tables:\n    public.rt7_m: {max_rows: 2}\n")
    a = connect("p_agent", "pgtest_policy")
    d = refusal(a, "UPDATE rt7_m_eu SET id = id WHERE id <= 3")
    eq((d["reason"], d["limit_from"]), ("guarded.blast_radius", "policy: rows in public.rt7_m"), "the partitioned table's limit")
    eq(one(dba, "SELECT count(*) FROM rt7_m") + one(dba, "SELECT count(*) FROM rt7_r"), 20, "nothing changed")
    load(dba, "version: 1\n")
    run(dba, "DROP TABLE rt7_m, rt7_r")


@test
def table_rules_hold_in_simulate_and_revert():
    """Red team 7's A3: simulate() ran on past a policy.table_read refusal and the closed table came
    back in the error message of a failing cast. A11: interdict.revert() wrote a table the policy
    had closed with write: false since the change. Both now answer to the rules."""
    dba = connect("postgres", "pgtest_policy")
    load(dba, "version: 1\n")
    a = connect("p_agent", "pgtest_policy")
    run(a, "UPDATE small SET id = id WHERE id = 1")
    change = last_change(a)
    load(dba, "version: 1\ndefaults:\n  tables:\n    public.secret: {read: false}\n    public.small: {write: false}\n")
    a = connect("p_agent", "pgtest_policy")
    report = one(a, "SELECT interdict.simulate($q$SELECT string_agg(v, ',')::int FROM secret$q$)")
    eq((report["verdict"], report["reason"]), ("refused", "policy.table_read"), "stopped at the rule")
    assert "key" not in json.dumps(report), report
    refused(a, f"SELECT interdict.revert({change})", "policy.table_write")
    load(dba, "version: 1\n")


@test
def policy_file_broken_closes_writes_valid_applies():
    dba = connect("postgres", "pgtest_policy")
    path = os.path.join(ARGS.files, f"policy-{ARGS.label}.yaml")
    broken, valid = "version: 1\ndefaults:\n  max_rows: oops\n", "version: 1\ndefaults:\n  max_rows: 3\n"
    try:
        run(dba, "LOAD 'interdict'")  # PG < 17: ALTER SYSTEM needs the setting defined
        with open(path, "w") as f:
            f.write(broken)
        # The file is read where a failure can be reported: the setting's check hook.
        e = refusal(dba, f"ALTER SYSTEM SET interdict.policy_file = '{path}'")
        eq((e["reason"], e["setting"]), ("setting.invalid", "interdict.policy_file"), "a broken file is refused at ALTER SYSTEM")
        assert "max_rows" in e["error"], e
        eq(one(dba, "SELECT count(*) FROM pg_file_settings WHERE name = 'interdict.policy_file'"), 0, "nothing was stored")
        with open(path, "w") as f:
            f.write(valid)
        run(dba, f"ALTER SYSTEM SET interdict.policy_file = '{path}'")
        run(dba, "SELECT pg_reload_conf()"); run(dba, "SELECT pg_sleep(0.3)")
        a = connect("p_agent", "pgtest_policy")
        eq(one(a, "SHOW interdict.max_rows"), "3", "the file's policy, over the loaded one")
        eq(one(a, "SELECT interdict.policy()->>'source'"), f"file {path}", "source")
        # The file breaks after it was set.
        with open(path, "w") as f:
            f.write(broken)
        run(dba, "SELECT pg_reload_conf()"); run(dba, "SELECT pg_sleep(0.3)")
        a = connect("p_agent", "pgtest_policy")
        if ARGS.label == "shared_preload":
            # The server's processes read the valid file before: a broken one never replaces it.
            eq(one(a, "SHOW interdict.max_rows"), "3", "the valid policy stays in force")
        else:
            # Loaded per session, the new session reads the broken file: no valid policy, no writes.
            eq(one(a, "SELECT count(*) FROM t"), 10, "reads work")
            d = refusal(a, "INSERT INTO t VALUES (100, 'x')")
            eq((d["reason"], d["refused_as"]), ("policy.unavailable", "readonly.dml"), "no valid policy: no writes")
            refused(a, "SELECT nextval('s')", "policy.unavailable")
            eq(one(a, "SELECT interdict.policy()->>'state'"), "invalid", "policy() says so")
    finally:
        run(dba, "LOAD 'interdict'")
        run(dba, "ALTER SYSTEM RESET interdict.policy_file")
        run(dba, "SELECT pg_reload_conf()"); run(dba, "SELECT pg_sleep(0.3)")
        restore_t("pgtest_policy")
