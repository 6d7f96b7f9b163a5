//! The policy in force: where it comes from, and the session's share of it.
//!
//! Sources, in order: the file `interdict.policy_file` names (read at load and on reload), else the
//! latest version loaded with `interdict.load_policy()` into `interdict.policies` of this database,
//! else none (guarded mode's built-in rules and the `interdict.*` settings alone). A session resolves
//! its role's rule once, when it locks, and keeps it: a policy loaded later applies to sessions that
//! start later, so no running session is ever loosened. A configured policy that is not valid leaves
//! guarded sessions reading only ([`unavailable`]).

use crate::cell::BackendCell;
use crate::settings;
use interdict_core::policy::{Policy, RolePolicy};
use interdict_core::{Mode, ReasonCode, Refusal};
use pgrx::pg_sys;

/// `interdict.policy_file`, as last read.
enum FileState {
    Unset,
    Valid { path: String, policy: Policy },
    Broken { path: String, error: String },
}

static FILE: BackendCell<FileState> = BackendCell::new(FileState::Unset);

/// The session's policy, resolved at lock.
#[derive(Default)]
enum Session {
    /// Not resolved yet, or no policy configured.
    #[default]
    None,
    Rule { source: String, rule: Box<RolePolicy> },
    Unavailable { source: String, error: String },
}

static SESSION: BackendCell<Session> = BackendCell::new(Session::None);

/// `interdict.policy_file` took a new value its check hook read and validated (`None`: no file).
pub fn file_set(path: String, policy: Option<Policy>) {
    FILE.set(match policy {
        Some(policy) => FileState::Valid { path, policy },
        None => FileState::Unset,
    });
}

/// `interdict.policy_file`'s check hook found the file broken: it never replaces a valid one, and
/// with none before it, writes close. Returns whether a valid policy stays in force.
pub fn file_broken(path: &str, error: &str) -> bool {
    let kept = FILE.with(|f| matches!(f, FileState::Valid { .. }));
    if !kept {
        FILE.set(FileState::Broken { path: path.to_string(), error: error.to_string() });
    }
    kept
}

/// At session lock (inside a transaction): resolves the session's rule and folds its limits into
/// the locked settings.
pub fn lock() {
    let session = resolve();
    if let Session::Rule { rule, .. } = &session {
        settings::tighten_with(rule);
    }
    ROW_FLOOR.set(match &session {
        Session::Rule { rule, .. } => rule.smallest_row_limit().unwrap_or(u64::MAX),
        _ => u64::MAX,
    });
    SESSION.set(session);
}

fn resolve() -> Session {
    // SAFETY: at lock, inside a transaction.
    let role = unsafe { crate::nodes::cstr(pg_sys::GetUserNameFromId(pg_sys::GetSessionUserId(), true)) }.unwrap_or_default();
    let from_file = FILE.with(|f| match f {
        FileState::Unset => None,
        FileState::Valid { path, policy } => Some(Session::Rule { source: format!("file {path}"), rule: Box::new(policy.for_role(&role)) }),
        FileState::Broken { path, error } => Some(Session::Unavailable { source: format!("file {path}"), error: error.clone() }),
    });
    if let Some(session) = from_file {
        return session;
    }
    match latest_loaded() {
        None => Session::None,
        Some((version, text)) => {
            let source = format!("interdict.policies version {version}");
            match Policy::parse(&text, &settings::command_tags()) {
                Ok(policy) => Session::Rule { source, rule: Box::new(policy.for_role(&role)) },
                Err(e) => Session::Unavailable { source, error: e.to_string() },
            }
        }
    }
}

/// The latest policy loaded into this database, if the extension is installed here.
///
/// Read with the catalog snapshot (`systable_beginscan` with no snapshot), not through SPI: the
/// session locks at its first statement, which may be `BEGIN ISOLATION LEVEL …` or be followed by
/// `SET TRANSACTION ISOLATION LEVEL`, and a query snapshot taken here would make those fail
/// (`variable.c: check_XactIsoLevel` refuses once `FirstSnapshotSet`).
fn latest_loaded() -> Option<(i64, String)> {
    // SAFETY: catalog lookups and a heap scan inside a transaction; the relation stays open (and
    // AccessShare-locked) for the scan, and every tuple is deformed before the scan moves on.
    unsafe {
        let schema = crate::facts::guard_objects::interdict_namespace();
        if schema == pg_sys::InvalidOid {
            return None;
        }
        let relid = pg_sys::get_relname_relid(c"policies".as_ptr(), schema);
        if relid == pg_sys::InvalidOid {
            return None;
        }
        let lock = pg_sys::AccessShareLock as pg_sys::LOCKMODE;
        let rel = pg_sys::table_open(relid, lock);
        let scan = pg_sys::systable_beginscan(rel, pg_sys::InvalidOid, false, std::ptr::null_mut(), 0, std::ptr::null_mut());
        let mut latest: Option<(i64, String)> = None;
        loop {
            let tuple = pg_sys::systable_getnext(scan);
            if tuple.is_null() {
                break;
            }
            let mut values = [pg_sys::Datum::from(0usize); 4];
            let mut nulls = [true; 4];
            pg_sys::heap_deform_tuple(tuple, (*rel).rd_att, values.as_mut_ptr(), nulls.as_mut_ptr());
            let version = values[0].value() as i64; // version bigint: by value on 64-bit builds
            if nulls[0] || nulls[1] || latest.as_ref().is_some_and(|(v, _)| *v >= version) {
                continue;
            }
            let text = crate::nodes::cstr(pg_sys::text_to_cstring(values[1].cast_mut_ptr())).unwrap_or_default();
            latest = Some((version, text));
        }
        pg_sys::systable_endscan(scan);
        pg_sys::table_close(rel, lock);
        latest
    }
}

/// Cached at lock: the smallest per-operation or per-table row limit of the session's policy.
static ROW_FLOOR: BackendCell<u64> = BackendCell::new(u64::MAX);

/// Below this many rows no per-operation or per-table limit of the policy can have been passed.
pub fn row_floor() -> u64 {
    ROW_FLOOR.get()
}

/// A configured policy that is not valid: its source and error. Guarded sessions then read only
/// (`interdict_core::outcome::effective_mode`); readonly sessions keep their own reasons.
pub fn unavailable() -> Option<(String, String)> {
    SESSION.with(|s| match s {
        Session::Unavailable { source, error } => Some((source.clone(), error.clone())),
        _ => None,
    })
}

/// Runs `f` with the session's rule (`None`: no valid policy in force).
pub fn with_session_rule<R>(f: impl FnOnce(Option<&RolePolicy>) -> R) -> R {
    SESSION.with(|s| match s {
        Session::Rule { rule, .. } => f(Some(rule)),
        _ => f(None),
    })
}

/// The session's rule, if a valid policy is in force.
pub fn with_rule<R>(f: impl FnOnce(&RolePolicy) -> R) -> Option<R> {
    SESSION.with(|s| match s {
        Session::Rule { rule, .. } => Some(f(rule)),
        _ => None,
    })
}

/// Where the session's policy came from and what it says, for `interdict.policy()`.
pub fn describe() -> serde_json::Value {
    SESSION.with(|s| match s {
        Session::None => serde_json::json!({ "source": "none", "state": "no policy: built-in rules and interdict.* settings" }),
        Session::Rule { source, rule } => serde_json::json!({
            "source": source,
            "state": "valid",
            "mode": rule.mode.map(|m| m.as_str()),
            "max_rows": rule.max_rows,
            "rows": { "insert": rule.rows.insert, "update": rule.rows.update, "delete": rule.rows.delete },
            "blocked_commands": rule.blocked_commands,
            "allowed_commands": rule.allowed_commands,
            "simulate_timeout_ms": rule.simulate_timeout.map(|t| t.0),
            "table_rules": rule.has_table_rules(),
        }),
        Session::Unavailable { source, error } => serde_json::json!({ "source": source, "state": "invalid", "error": error }),
    })
}

/// `interdict.load_policy(yaml)`: a superuser or the extension's owner, in a session with no agent
/// mode, stores a valid policy as a new version. A policy that does not validate is an error with
/// its line and column, and the one in force stays.
pub fn load(yaml: &str) -> i64 {
    let mode = settings::mode();
    let refuse = |code: ReasonCode, what: &str, facts: Vec<(&'static str, String)>| -> ! {
        let mut r = Refusal::new(code, mode, what);
        r.facts.extend(facts);
        crate::reasons::raise(&r)
    };
    if mode != Mode::Off {
        refuse(ReasonCode::PolicyDenied, "loading a policy from an agent session", vec![]);
    }
    let owner = crate::guard_sql::extension_owner();
    // SAFETY: role checks inside a transaction.
    let allowed = unsafe { pg_sys::superuser() || owner.is_some_and(|o| pg_sys::has_privs_of_role(pg_sys::GetUserId(), o)) };
    if !allowed {
        refuse(ReasonCode::PolicyDenied, "loading a policy", vec![]);
    }
    if let Err(e) = Policy::parse(yaml, &settings::command_tags()) {
        let at = |v: Option<usize>| v.map(|n| n.to_string()).unwrap_or_default();
        refuse(ReasonCode::PolicyInvalid, "loading the policy", vec![("line", at(e.line)), ("column", at(e.column)), ("error", e.message)]);
    }
    // SAFETY: the current user's name, inside a transaction.
    let me = unsafe { crate::nodes::cstr(pg_sys::GetUserNameFromId(pg_sys::GetUserId(), false)) }.unwrap_or_default();
    crate::guard_sql::writes_records(c"interdict.load_policy()");
    let version = crate::guard_sql::as_guard("storing the policy", || {
        pgrx::Spi::get_one_with_args::<i64>(
            "INSERT INTO interdict.policies (policy, loaded_by) VALUES ($1, $2) RETURNING version",
            &[pgrx::datum::DatumWithOid::from(yaml), pgrx::datum::DatumWithOid::from(me.as_str())],
        )
    });
    let version = version.ok().flatten().unwrap_or_else(|| crate::reasons::internal_failure("storing the policy", "the insert returned no version"));
    crate::audit::policy_load(version);
    let file = FILE.with(|f| match f {
        FileState::Valid { path, .. } | FileState::Broken { path, .. } => Some(path.clone()),
        FileState::Unset => None,
    });
    if let Some(path) = file {
        pgrx::warning!("interdict: stored as version {version}, but interdict.policy_file ({path}) takes precedence over loaded policies");
    }
    version
}
