#!/usr/bin/python3
"""Agreement of `interdict check` with the server over the whole corpus (corpus/*.cases).

Every case is checked in one `interdict check --json` run in the mode of its file (readonly_* in
readonly, guarded_* in guarded), with the settings corpus/roles.sql gives the corpus agents
(interdict.blocked_commands, readonly_allow, allowed_extensions of the roles `agent` and `agent_g`).
A case's CLI verdict is its first statement that is not allowed (the server stops at the first
error of a query string): a refusal with a code, needs_server, or none (every statement allowed).

    red <code>   agrees when the CLI refuses with <code>; needs_server is fine; anything else
                 (allowed, another code, invalid) is a disagreement
    green        agrees when the CLI allows every statement; needs_server is fine; a refusal or
                 invalid is a disagreement

Exits 1 on any disagreement. --results writes the counts and the throughput figure to
benches/RESULTS.md between <!-- begin cli --> and <!-- end cli -->. Standard library only.
"""
import argparse, json, os, re, subprocess, sys, time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CORPUS = os.path.join(ROOT, "corpus")
FILES = ["readonly_red.cases", "readonly_green.cases", "guarded_red.cases", "guarded_green.cases"]
sys.path.insert(0, CORPUS)
from cases import parse_cases as corpus_cases  # noqa: E402

ROLE_OF_MODE = {"readonly": "agent", "guarded": "agent_g"}


def parse_cases(path):
    """corpus/cases.py's cases, with the files directory filled in."""
    cases = corpus_cases(path)
    for c in cases:
        c["sql"] = c["sql"].replace("{files}", "/tmp/interdict_corpus_files")
    return cases


def role_settings(role):
    """`ALTER ROLE <role> SET interdict.<name> = '<value>'` lines of corpus/roles.sql."""
    out = {}
    pattern = re.compile(r"ALTER ROLE %s SET interdict\.(\w+) = '([^']*)'" % re.escape(role))
    for line in open(os.path.join(CORPUS, "roles.sql"), encoding="utf-8"):
        m = pattern.search(line)
        if m:
            out[m.group(1)] = m.group(2)
    return out


def cli_args(binary, mode):
    s = role_settings(ROLE_OF_MODE[mode])
    args = [binary, "check", "--json", "--mode", mode]
    for name, flag in (("blocked_commands", "--blocked-commands"), ("readonly_allow", "--readonly-allow"),
                       ("allowed_extensions", "--allowed-extensions")):
        if s.get(name):
            args += [flag, s[name]]
    return args


def first_stop(result):
    """The case's CLI verdict: ('refuse', code), ('needs_server', likely), ('allow', None) or ('invalid', error)."""
    if result.get("verdict") == "invalid":
        return ("invalid", result.get("error"))
    for st in result.get("statements", []):
        if st["verdict"] == "refuse":
            return ("refuse", st["code"])
        if st["verdict"] == "needs_server":
            return ("needs_server", (st.get("likely") or {}).get("code"))
    return ("allow", None)


def judge(case, stop):
    kind, value = stop
    if kind == "needs_server":
        return "needs_server"
    if case["kind"] == "red":
        return "agree" if kind == "refuse" and value == case["code"] else "disagree"
    return "agree" if kind == "allow" else "disagree"


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--binary", default=os.environ.get("INTERDICT_CLI", "/tmp/cli-target/release/interdict"))
    ap.add_argument("--results", action="store_true", help="write the figures to benches/RESULTS.md")
    ap.add_argument("--bench-rounds", type=int, default=20)
    args = ap.parse_args()
    if not os.access(args.binary, os.X_OK):
        sys.exit(f"{args.binary}: no interdict binary (build it: cargo build -p interdict-cli --release)")
    totals, rows, disagreements, needs = {"agree": 0, "needs_server": 0, "disagree": 0}, [], [], {}
    all_sql = {"readonly": [], "guarded": []}
    for name in FILES:
        mode = name.split("_")[0]
        counts = {"agree": 0, "needs_server": 0, "disagree": 0}
        for case in parse_cases(os.path.join(CORPUS, name)):
            proc = subprocess.run(cli_args(args.binary, mode) + ["-"], input=case["sql"], capture_output=True, text=True)
            try:
                result = json.loads(proc.stdout)
            except ValueError:
                result = {"verdict": "invalid", "error": f"no JSON (exit {proc.returncode}): {proc.stderr.strip()[:200]}"}
            stop = first_stop(result)
            outcome = judge(case, stop)
            counts[outcome] += 1
            if outcome == "disagree":
                disagreements.append(f"{name}: {case['kind']} {case['code'] or ''} '{case['title']}': CLI {stop[0]} {stop[1] or ''}".rstrip())
            if outcome == "needs_server":
                needs.setdefault(name, []).append(case["title"])
            all_sql[mode].append(case["sql"].rstrip().rstrip(";") + ";")
        for k in counts:
            totals[k] += counts[k]
        rows.append((name, counts))
        print(f"{name:<22} agree {counts['agree']:>4}  needs_server {counts['needs_server']:>4}  disagree {counts['disagree']:>4}")
    print(f"{'total':<22} agree {totals['agree']:>4}  needs_server {totals['needs_server']:>4}  disagree {totals['disagree']:>4}")
    for d in disagreements:
        print("DISAGREE", d)
    bench_lines = []
    for mode, sqls in all_sql.items():
        proc = subprocess.run(cli_args(args.binary, mode)[:2] + ["--mode", mode, "--bench", str(args.bench_rounds), "-"],
                              input="\n".join(sqls), capture_output=True, text=True)
        line = proc.stdout.strip() or proc.stderr.strip()
        bench_lines.append(f"{mode}: {line}")
        print(f"throughput, {mode} corpus: {line}")
    if args.results:
        write_results(rows, totals, disagreements, bench_lines)
    sys.exit(1 if disagreements else 0)


def write_results(rows, totals, disagreements, bench_lines):
    body = ["## `interdict check` against the server's verdicts (scripts/cli_agreement.py)", "",
            f"{time.strftime('%Y-%m-%d')}: every corpus case checked offline by the CLI (pg_query, PostgreSQL 18 grammar)"
            " in its file's mode with the corpus roles' settings; a case agrees when the CLI gives the server's reason"
            " code (red) or allows it (green); needs_server is the CLI saying the parse tree is not enough.", "",
            "| file | agree | needs_server | disagree |", "|---|---|---|---|"]
    for name, c in rows:
        body.append(f"| {name} | {c['agree']} | {c['needs_server']} | {c['disagree']} |")
    body.append(f"| **total** | {totals['agree']} | {totals['needs_server']} | {totals['disagree']} |")
    body += ["", "Throughput (`interdict check --bench`, the whole corpus of a mode parsed and judged in one process, one core):", ""]
    body += [f"- {line}" for line in bench_lines]
    if disagreements:
        body += ["", "Disagreements:", ""] + [f"- {d}" for d in disagreements]
    path = os.path.join(ROOT, "benches", "RESULTS.md")
    text = open(path, encoding="utf-8").read() if os.path.exists(path) else "# Benchmark results\n"
    begin, end = "<!-- begin cli -->", "<!-- end cli -->"
    block = begin + "\n" + "\n".join(body) + "\n" + end
    pattern = re.compile(re.escape(begin) + ".*?" + re.escape(end), re.S)
    text = pattern.sub(lambda _: block, text) if pattern.search(text) else text.rstrip("\n") + "\n\n" + block + "\n"
    open(path, "w", encoding="utf-8").write(text)


if __name__ == "__main__":
    main()
