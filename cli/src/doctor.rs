//! `interdict doctor [DSN] [--role ROLE]`: connects (the `postgres` crate, no TLS, a connect timeout)
//! and reports a role's set-up: the server version against the versions the extension supports,
//! whether the library is preloaded for the role, the mode the role gets and whether a client could
//! loosen it, `interdict.check_role()`'s findings with their fixes, the timeouts' ceilings and the
//! row limit, and the tables the role may write that undo does not record (no `interdict_capture`
//! trigger). Exit codes: 0 nothing critical, 1 a critical finding, 3 no connection or bad input.

use crate::check::EXIT_INVALID;
use postgres::{Client, Config, NoTls};
use serde_json::json;
use std::str::FromStr;
use std::time::Duration;

#[derive(clap::Args)]
pub struct DoctorArgs {
    /// Connection string (`host=… dbname=… user=…` or a `postgresql://` URI) [default: $DATABASE_URL].
    dsn: Option<String>,
    /// The agent role to check [default: the connecting role].
    #[arg(long)]
    role: Option<String>,
    /// Seconds to wait for the connection.
    #[arg(long, default_value_t = 5)]
    connect_timeout: u64,
    #[arg(long)]
    json: bool,
}

/// One finding: `ok`, `warning` or `critical`, what, and the fix.
struct Finding {
    check: &'static str,
    severity: &'static str,
    finding: String,
    fix: String,
}

fn finding(check: &'static str, severity: &'static str, finding: impl Into<String>, fix: impl Into<String>) -> Finding {
    Finding { check, severity, finding: finding.into(), fix: fix.into() }
}

pub fn run(args: &DoctorArgs) -> i32 {
    let dsn = match args.dsn.clone().or_else(|| std::env::var("DATABASE_URL").ok()) {
        Some(d) => d,
        None => return bad("no connection string: pass a DSN (host=… dbname=… user=…) or set DATABASE_URL"),
    };
    let mut config = match Config::from_str(&dsn) {
        Ok(c) => c,
        Err(e) => return bad(&format!("the connection string does not parse: {e}")),
    };
    if config.get_connect_timeout().is_none() {
        config.connect_timeout(Duration::from_secs(args.connect_timeout.max(1)));
    }
    config.application_name("interdict doctor");
    let mut client = match config.connect(NoTls) {
        Ok(c) => c,
        Err(e) => return bad(&format!("cannot connect: {}", e.as_db_error().map_or_else(|| e.to_string(), |d| d.message().to_string()))),
    };
    // A doctor must not hang on a busy server either.
    let _ = client.batch_execute("SET statement_timeout = '10s'");
    let findings = match examine(&mut client, args.role.as_deref()) {
        Ok(f) => f,
        Err(e) => return bad(&e),
    };
    let critical = findings.iter().any(|f| f.severity == "critical");
    if args.json {
        let rows: Vec<_> = findings.iter().map(|f| json!({"check": f.check, "severity": f.severity, "finding": f.finding, "fix": f.fix})).collect();
        println!("{}", json!({"critical": critical, "findings": rows}));
    } else {
        for f in &findings {
            println!("[{:<8}] {:<16} {}", f.severity, f.check, f.finding);
            if !f.fix.is_empty() {
                println!("{:>29} fix: {}", "", f.fix);
            }
        }
        println!("{}", if critical { "critical findings: not ready for an agent" } else { "no critical findings" });
    }
    i32::from(critical)
}

fn bad(message: &str) -> i32 {
    eprintln!("interdict doctor: {message}");
    EXIT_INVALID
}

fn one_string(client: &mut Client, sql: &str, params: &[&(dyn postgres::types::ToSql + Sync)]) -> Result<Option<String>, String> {
    let rows = client.query(sql, params).map_err(|e| format!("{sql}: {e}"))?;
    Ok(rows.first().and_then(|r| r.try_get::<_, Option<String>>(0).ok().flatten()))
}

fn examine(client: &mut Client, role: Option<&str>) -> Result<Vec<Finding>, String> {
    let mut out = Vec::new();
    let current = one_string(client, "SELECT current_user::text", &[])?.unwrap_or_default();
    let role = role.map(str::to_string).unwrap_or(current.clone());
    let exists = client.query("SELECT rolsuper, rolreplication FROM pg_roles WHERE rolname = $1", &[&role]).map_err(|e| e.to_string())?;
    let Some(row) = exists.first() else {
        return Err(format!("role \"{role}\" does not exist (SELECT rolname FROM pg_roles lists the roles)"));
    };
    let (superuser, replication): (bool, bool) = (row.get(0), row.get(1));

    // The server version against the versions the extension supports (README: Versions).
    let num: i64 = one_string(client, "SELECT current_setting('server_version_num')", &[])?.and_then(|v| v.parse().ok()).unwrap_or(0);
    let major = num / 10000;
    out.push(match major {
        15 | 16 | 18 => finding("version", "ok", format!("PostgreSQL {major}: tested"), ""),
        13 | 14 | 17 => finding("version", "warning", format!("PostgreSQL {major}: the extension builds for it, but is not tested on it"), "Prefer 15, 16 or 18, where every test runs."),
        _ => finding("version", "critical", format!("PostgreSQL {major}: not supported (13–18 build, 15/16/18 tested)"), "Use PostgreSQL 15, 16 or 18."),
    });

    // Settings the role gets from the DBA: role in this database, role, database (pg_db_role_setting).
    let settings = client
        .query(
            "SELECT s.setdatabase <> 0 AND s.setrole <> 0, s.setrole <> 0, unnest(s.setconfig)
               FROM pg_db_role_setting s
              WHERE (s.setrole = (SELECT oid FROM pg_roles WHERE rolname = $1) OR s.setrole = 0)
                AND (s.setdatabase = (SELECT oid FROM pg_database WHERE datname = current_database()) OR s.setdatabase = 0)
              ORDER BY 1 DESC, 2 DESC",
            &[&role],
        )
        .map_err(|e| e.to_string())?;
    let setting = |name: &str| -> Option<String> {
        settings.iter().filter_map(|r| r.get::<_, Option<String>>(2)).find_map(|kv| kv.split_once('=').filter(|(k, _)| *k == name).map(|(_, v)| v.to_string()))
    };
    let shared = one_string(client, "SELECT current_setting('shared_preload_libraries')", &[])?.unwrap_or_default();
    let in_shared = lists_interdict(&shared);
    let in_session = setting("session_preload_libraries").is_some_and(|v| lists_interdict(&v));
    out.push(match (in_shared, in_session) {
        (true, _) => finding("library", "ok", "interdict is in shared_preload_libraries: loaded before any session", ""),
        (false, true) if superuser => finding("library", "critical", format!("{role} is a superuser loaded per session: it can connect with -c session_preload_libraries= and skip the guard"), "Add interdict to shared_preload_libraries (and restart), or give the agent an ordinary role."),
        (false, true) => finding("library", "ok", format!("session_preload_libraries loads interdict for {role}"), ""),
        (false, false) => finding("library", "critical", format!("interdict is not preloaded for {role}: a session that does not LOAD it is not guarded"), format!("ALTER ROLE {role} SET session_preload_libraries = 'interdict';")),
    });

    // The mode the role gets, and whether a client could loosen it.
    let mode = setting("interdict.mode").or_else(|| {
        (current == role).then(|| one_string(client, "SELECT current_setting('interdict.mode', true)", &[]).ok().flatten()).flatten()
    });
    let preloaded = in_shared || in_session;
    out.push(match mode.as_deref().map(|m| m.trim().to_ascii_lowercase()) {
        Some(m) if m == "readonly" || m == "guarded" => {
            let lock = if preloaded { "locked at connect: a client option (PGOPTIONS, options=-c interdict.mode=off) can only tighten it" } else { "but without a preload nothing enforces it" };
            finding("mode", if preloaded { "ok" } else { "critical" }, format!("{role} gets interdict.mode = {m}, {lock}"), if preloaded { String::new() } else { format!("ALTER ROLE {role} SET session_preload_libraries = 'interdict';") })
        }
        Some(m) => finding("mode", "critical", format!("{role} gets interdict.mode = {m}: not an agent mode"), format!("ALTER ROLE {role} SET interdict.mode = 'readonly';  -- or 'guarded'")),
        None => finding("mode", "critical", format!("{role} has no interdict.mode: its sessions are not guarded"), format!("ALTER ROLE {role} SET interdict.mode = 'readonly';  -- or 'guarded'")),
    });
    if replication {
        out.push(finding("replication", "critical", format!("{role} has REPLICATION: replication commands pass no hook"), format!("ALTER ROLE {role} NOREPLICATION;")));
    }

    // Ceilings and the row limit (README: Settings), as the role's settings or the defaults.
    for (name, default) in [
        ("interdict.max_statement_timeout", "30s"),
        ("interdict.max_lock_timeout", "2s"),
        ("interdict.max_idle_in_transaction_timeout", "60s"),
        ("interdict.max_rows", "1000"),
    ] {
        let value = setting(name);
        let shown = value.clone().unwrap_or_else(|| format!("{default} (default)"));
        let severity = if value.as_deref().is_some_and(|v| v.trim() == "0") { "warning" } else { "ok" };
        let fix = if severity == "warning" { format!("0 means no limit: ALTER ROLE {role} SET {name} = '{default}';") } else { String::new() };
        out.push(finding("ceilings", severity, format!("{name} = {shown}"), fix));
    }

    // The extension's own check, if it is installed here.
    let installed = one_string(client, "SELECT extversion FROM pg_extension WHERE extname = 'interdict'", &[])?;
    match installed {
        None => out.push(finding("extension", "warning", "the interdict extension is not created in this database: no undo, approvals or check_role()", "CREATE EXTENSION interdict;")),
        Some(version) => {
            out.push(finding("extension", "ok", format!("interdict {version} is created in this database"), ""));
            match client.query("SELECT \"check\", severity, finding, fix FROM interdict.check_role($1)", &[&role]) {
                Ok(rows) => {
                    for r in rows {
                        // check_role()'s severities (interdict_core::role_check::Severity): what
                        // reaches past the guard gates a deployment; the rest is told.
                        let severity = match r.get::<_, String>(1).as_str() {
                            "critical" | "high" => "critical",
                            "medium" => "warning",
                            _ => "info",
                        };
                        out.push(finding("check_role", severity, format!("{}: {}", r.get::<_, String>(0), r.get::<_, String>(2)), r.get::<_, String>(3)));
                    }
                }
                Err(e) => out.push(finding("check_role", "warning", format!("interdict.check_role() could not run: {e}"), "Run the doctor as a role that may execute interdict.check_role().")),
            }
        }
    }

    // Tables the role may write that undo does not record (no interdict_capture trigger).
    let unrecorded = client
        .query(
            "SELECT format('%I.%I', n.nspname, c.relname)
               FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
              WHERE c.relkind IN ('r', 'p') AND n.nspname NOT IN ('pg_catalog', 'information_schema', 'interdict')
                AND n.nspname NOT LIKE 'pg_temp%' AND n.nspname NOT LIKE 'pg_toast%'
                AND has_table_privilege($1, c.oid, 'INSERT, UPDATE, DELETE')
                AND NOT EXISTS (SELECT FROM pg_trigger t WHERE t.tgrelid = c.oid AND t.tgname = 'interdict_capture')
              ORDER BY 1 LIMIT 50",
            &[&role],
        )
        .map_err(|e| e.to_string())?;
    let names: Vec<String> = unrecorded.iter().map(|r| r.get(0)).collect();
    let guarded = mode.as_deref().is_some_and(|m| m.trim().eq_ignore_ascii_case("guarded"));
    out.push(if names.is_empty() {
        finding("undo", "ok", "every table the role may write is recorded for undo (or it may write none)", "")
    } else {
        finding(
            "undo",
            if guarded { "warning" } else { "ok" },
            format!("{} table(s) the role may write are not recorded for undo: {}", names.len(), names.join(", ")),
            "Guarded writes to them are refused (guarded.not_reversible): SELECT interdict.record('schema.table'); (the table needs a primary key).",
        )
    });
    Ok(out)
}

/// Whether a preload list names interdict (`interdict`, `$libdir/plugins/interdict`, quoted).
fn lists_interdict(list: &str) -> bool {
    list.split(',').map(|e| e.trim().trim_matches('"').rsplit('/').next().unwrap_or("").trim_end_matches(".so").to_string()).any(|e| e == "interdict")
}
