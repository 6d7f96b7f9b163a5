#!/usr/bin/python3
"""Corpus runner: every case as a real agent over libpq, in a fresh copy of the fixture database.

A case file holds cases separated by header lines:
    -- red <reason.code>: title        must be refused with that reason code
    -- green: title                    must succeed
    -- green [su]: title               only for superuser agents (needs a superuser privilege)
    -- red <code> [dblink]: title      only where the fixture has the extension named (dblink,
                                       adminpack): not every server version ships them
    -- red <code> [pg17]: title        only on PostgreSQL 17 or later (what that version added)
    -- green [owner]: title            only for agents that own the fixture's owned_* objects, and
                                       superuser agents (needs ownership)
    -- green [ddl]: title              may change the catalog (guarded-mode DDL, VACUUM/ANALYZE)
    -- expect: SQL                     (in a case body) a check run as the DBA afterwards: must
                                       return true. A green case with checks may change table data;
                                       the checks say exactly how. A red guarded.blast_radius
                                       case may advance sequences (serials drawn before refusal),
                                       and any red case the change-id sequence.
The lines after a header, up to the next one, are sent as ONE query string (simple query protocol),
so a case may hold several statements. `{files}` is replaced by a scratch directory for server files.

For each case: a copy of the fixture database (CREATE DATABASE … TEMPLATE fixture); fingerprint it
(table data, sequences, catalog, large objects, roles, settings, postgresql.auto.conf, locks,
prepared transactions…); run the case as the agent; fingerprint again while the agent is still
connected; check the server-file directory, a victim backend (still alive, no notification
received). Red cases must be refused with their reason code and change nothing; green cases must
succeed and change nothing. The copy serves the next case only while its fingerprint is still the
fresh copy's (the change-id sequence aside): any other difference, and a new copy is made.
"""
import argparse, io, json, os, select, sys, time
import psycopg2, psycopg2.extensions
from cases import parse_cases


class Cluster:
    def __init__(self, host, port, files):
        self.host, self.port, self.files = host, port, files

    def connect(self, db, user, **kw):
        conn = psycopg2.connect(host=self.host, port=self.port, dbname=db, user=user, **kw)
        conn.autocommit = True
        return conn

def run_query(conn, sql):
    cur = conn.cursor()
    cur.execute(sql)
    return cur.fetchall()

def fingerprint(cluster, db):
    conn = cluster.connect(db, "postgres")
    try:
        cur = conn.cursor()
        cur.execute("SELECT part, digest FROM corpus_admin.fingerprint()")
        return dict(cur.fetchall())
    finally:
        conn.close()

def checkpoints_settled(cluster, db):
    """Requested checkpoints, once the checkpointer has reported its latest (two reads agree)."""
    conn = cluster.connect(db, "postgres")
    try:
        cur = conn.cursor()
        last = None
        for _ in range(50):
            cur.execute("SELECT corpus_admin.checkpoints_requested()")
            now = cur.fetchone()[0]
            if now == last:
                return now
            last = now
            time.sleep(0.2)
        return last
    finally:
        conn.close()

def files_now(cluster):
    return sorted(os.listdir(cluster.files))

def refusal_code(err):
    try:
        return json.loads(err.diag.message_detail or "")["reason"]
    except (ValueError, KeyError, TypeError):
        return None

class Copy:
    """The fixture copy the cases run in: made again only when a case left it different."""
    NAME = "corpus_case"

    def __init__(self, cluster, admin):
        self.cluster, self.admin, self.fresh, self.made = cluster, admin, None, 0

    def make(self):
        cur = self.admin.cursor()
        cur.execute(f"DROP DATABASE IF EXISTS {self.NAME} WITH (FORCE)")
        cur.execute(f"CREATE DATABASE {self.NAME} TEMPLATE fixture STRATEGY FILE_COPY")
        self.fresh = fingerprint(self.cluster, self.NAME)
        self.made += 1

    def ready(self):
        """The copy's fingerprint, as fresh as a new copy's (a change id drawn aside)."""
        if self.fresh is not None:
            now = fingerprint(self.cluster, self.NAME)
            if reusable(now, self.fresh):
                return now
        self.make()
        return dict(self.fresh)

    def drop(self):
        self.admin.cursor().execute(f"DROP DATABASE IF EXISTS {self.NAME} WITH (FORCE)")
        self.fresh = None

def reusable(now, fresh):
    return {k: v for k, v in now.items() if k != CHANGE_IDS} == {k: v for k, v in fresh.items() if k != CHANGE_IDS}

CHANGE_IDS = "sequence interdict.changes_id_seq"

def run_case(cluster, copy, victim, role, case):
    db = copy.NAME
    try:
        before, files_before = copy.ready(), files_now(cluster)
        sql = case["sql"].replace("{files}", cluster.files)
        watch_checkpoints = "CHECKPOINT" in sql.upper()
        if watch_checkpoints:
            before["checkpoints requested"] = checkpoints_settled(cluster, db)
        agent = cluster.connect(db, role, application_name="interdict_corpus")
        outcome = "ok"
        try:
            if sql.upper().startswith("COPY") and "STDOUT" in sql.upper():
                agent.cursor().copy_expert(sql, io.StringIO())
            else:
                agent.cursor().execute(sql)
        except psycopg2.Error as e:
            outcome = e
        after = fingerprint(cluster, db)
        if watch_checkpoints:
            after["checkpoints requested"] = checkpoints_settled(cluster, db)
        agent.close()
        problems = []
        if case["kind"] == "red":
            if outcome == "ok":
                problems.append("was allowed")
            elif refusal_code(outcome) != case["code"]:
                problems.append(f"refused with {refusal_code(outcome) or outcome.pgcode} instead of {case['code']}: "
                                f"{(outcome.pgerror or '').strip().splitlines()[0] if outcome.pgerror else outcome}")
        elif outcome != "ok":
            problems.append(f"was refused: {(outcome.pgerror or str(outcome)).strip().splitlines()[0]}")
        changed = [k for k in sorted(set(before) | set(after)) if before.get(k) != after.get(k)]
        if case["kind"] == "red" and case["code"] == "guarded.blast_radius":
            # Rows are counted while the statement runs: a refused INSERT has drawn its serial
            # values, which no rollback returns (as in plain Postgres).
            changed = [k for k in changed if not k.startswith("sequence ")]
        if case["kind"] == "red":
            # change ids drawn before a refusal are not given back (sequences are not transactional)
            changed = [k for k in changed if k != CHANGE_IDS]
        if case["kind"] == "green":
            allowed = ("data ", "sequence ") if case["expects"] else ()
            # a green write is recorded for undo (a red one must record nothing)
            allowed += ("data interdict.change", CHANGE_IDS)
            allowed += ("catalog",) if case["ddl"] else ()
            changed = [k for k in changed if not k.startswith(allowed)] if allowed else changed
            check = cluster.connect(db, "postgres")
            for expect in case["expects"]:
                c = check.cursor()
                c.execute(expect)
                if c.fetchone() != (True,):
                    problems.append(f"check failed: {expect}")
            check.close()
        if changed:
            problems.append("changed " + ", ".join(changed))
        if files_now(cluster) != files_before:
            problems.append("wrote server files")
        try:
            victim.cursor().execute("SELECT 1")
            victim.poll()
            if victim.notifies:
                problems.append("sent a notification")
                victim.notifies.clear()
        except psycopg2.Error:
            problems.append("terminated another backend")
        return problems
    except BaseException:
        copy.drop()
        raise

def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--host", required=True)
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--files", required=True, help="directory server-file cases would write to")
    ap.add_argument("--role", action="append", required=True, help="agent role (repeatable)")
    ap.add_argument("--superuser-role", action="append", default=[], help="which --role values are superusers")
    ap.add_argument("--owner-role", action="append", default=[], help="which --role values own the fixture's owned_* objects")
    ap.add_argument("case_files", nargs="+")
    args = ap.parse_args()
    cluster = Cluster(args.host, args.port, args.files)
    cases = [c for f in args.case_files for c in parse_cases(f)]
    admin = cluster.connect("postgres", "postgres")
    fixture = cluster.connect("fixture", "postgres")
    installed = {r[0] for r in run_query(fixture, "SELECT extname FROM pg_extension")}
    version = run_query(fixture, "SELECT current_setting('server_version_num')::int")[0][0]
    fixture.close()
    skipped = [c for c in cases if not c["needs"] <= installed]
    cases = [c for c in cases if c["needs"] <= installed]
    if skipped:
        print(f"corpus: {len(skipped)} cases skipped: this server lacks {', '.join(sorted(set().union(*(c['needs'] for c in skipped)) - installed))}")
    newer = [c for c in cases if c["min_version"] > version]
    cases = [c for c in cases if c["min_version"] <= version]
    if newer:
        print(f"corpus: {len(newer)} cases skipped: they need a later PostgreSQL than {version}")
    passed = failed = 0
    copy = Copy(cluster, admin)
    for role in args.role:
        victim = cluster.connect("postgres", "postgres", application_name="interdict_victim")
        victim.cursor().execute("LISTEN corpus")
        started = time.time()
        for case in cases:
            if case["su_only"] and role not in args.superuser_role:
                continue
            if case["owner_only"] and role not in args.superuser_role + args.owner_role:
                continue
            problems = run_case(cluster, copy, victim, role, case)
            if problems:
                failed += 1
                print(f"FAIL [{role}] {case['file']}: {case['kind']} '{case['title']}': {'; '.join(problems)}")
            else:
                passed += 1
        reds = sum(1 for c in cases if c["kind"] == "red")
        print(f"corpus as {role}: {len(cases)} cases ({reds} red, {len(cases) - reds} green) in {time.time() - started:.0f}s")
        victim.close()
    copy.drop()
    print(f"corpus: {passed} passed, {failed} failed, {copy.made} copies of the fixture made")
    sys.exit(1 if failed else 0)

if __name__ == "__main__":
    main()
