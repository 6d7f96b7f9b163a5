//! `object_access_hook`, `OAT_FUNCTION_EXECUTE`: `execExpr.c: ExecInitFunc` (and the aggregate and
//! window-function call sites) announce every function or operator before it is evaluated, builtins
//! and PL/pgSQL simple expressions included — the way sepgsql refuses functions. `fmgr_hook` would
//! miss builtins. Verdicts are cached per function and mode, and the cache is dropped whenever
//! `pg_proc` changes.

use crate::cell::BackendCell;
use crate::facts::calls::oids;
use crate::facts::function::function_facts;
use crate::settings;
use interdict_core::functions::moves_sequence;
use interdict_core::guarded::FileTarget;
use interdict_core::{decide_function, decide_simulated, Mode, Verdict};
use pgrx::pg_sys;
use std::collections::HashMap;
use std::ffi::c_void;

static PREV: BackendCell<pg_sys::object_access_hook_type> = BackendCell::new(None);
static CACHE: BackendCell<Option<((Mode, bool), OidMap<Verdict>)>> = BackendCell::new(None);

static PREV_NEEDS: BackendCell<pg_sys::needs_fmgr_hook_type> = BackendCell::new(None);
static PREV_FMGR: BackendCell<pg_sys::fmgr_hook_type> = BackendCell::new(None);

pub fn register() {
    // SAFETY: called once per process from _PG_init; we keep the previous hooks and chain to them.
    unsafe {
        PREV.set(pg_sys::object_access_hook);
        pg_sys::object_access_hook = Some(object_access);
        PREV_NEEDS.set(pg_sys::needs_fmgr_hook);
        pg_sys::needs_fmgr_hook = Some(needs_fmgr);
        PREV_FMGR.set(pg_sys::fmgr_hook);
        pg_sys::fmgr_hook = Some(fmgr);
        pg_sys::CacheRegisterSyscacheCallback(
            pg_sys::SysCacheIdentifier::PROCOID as i32,
            Some(forget_functions),
            pg_sys::Datum::from(0usize),
        );
    }
}

#[pgrx::pg_guard]
unsafe extern "C-unwind" fn forget_functions(_arg: pg_sys::Datum, _cacheid: i32, _hash: u32) {
    CACHE.with(|c| *c = None);
    crate::undo::forget_capture_function();
}

/// A function's verdict depends on the function, the mode and whether an agent's code runs in
/// another role's session (`decide_function`): looked up per function call in a plan, so the cache
/// is checked before anything else is read.
fn verdict_for(funcid: pg_sys::Oid) -> Verdict {
    let mode = crate::enforce::session_mode().unwrap_or_else(settings::mode); // no valid policy: guarded sessions read only
    let key = (mode, crate::enforce::foreign_code().is_some());
    let cached = CACHE.with(|c| match c {
        Some((k, map)) if *k == key => map.get(&u32::from(funcid)).cloned(),
        _ => None,
    });
    if let Some(v) = cached {
        return v;
    }
    let settings = crate::enforce::settings_for(mode);
    // SAFETY: we are inside the executor, hence inside a transaction.
    let verdict = match unsafe { function_facts(funcid) } {
        Some(facts) => decide_function(&settings, &facts),
        None => Verdict::Allow, // no such function: Postgres itself reports that
    };
    CACHE.with(|c| {
        let (k, map) = c.get_or_insert_with(|| (key, OidMap::default()));
        if *k != key {
            *k = key;
            map.clear();
        }
        map.insert(u32::from(funcid), verdict.clone());
    });
    verdict
}

/// A map keyed by OIDs, hashed with one multiplication (the default hasher, SipHash, is built to
/// resist chosen keys; OIDs are the catalog's, and this runs for every function call in a plan).
type OidMap<V> = HashMap<u32, V, std::hash::BuildHasherDefault<OidHasher>>;

#[derive(Default)]
struct OidHasher(u64);

impl std::hash::Hasher for OidHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0.rotate_left(8) ^ u64::from(b)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        }
    }

    fn write_u32(&mut self, n: u32) {
        self.0 = u64::from(n).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }
}

/// Inside `simulate()`: refuse what a rollback cannot undo; note sequences that move.
unsafe fn simulated_call(funcid: pg_sys::Oid) {
    let Some(facts) = function_facts(funcid) else { return };
    if facts.native && facts.judged(|n| moves_sequence(n).then_some(())).is_some() {
        crate::statement::note_sequence_moved();
    }
    crate::enforce::enforce(decide_simulated(settings::mode(), None, Some(&facts)));
}

/// The guard's own sequences (`interdict.changes_id_seq`, …) are not advanced or set by agents,
/// where the plan being started names them by a constant.
unsafe fn refuse_guard_sequences(mode: Mode) {
    let Some(plan) = super::executor::starting() else { return };
    for (_, sequence) in crate::facts::calls::sequence_calls(plan.pstmt) {
        if let Some(seq) = sequence.filter(|&seq| crate::facts::guard_objects::is_guard_relation(seq)) {
            let name = crate::nodes::relation_name(seq).unwrap_or_default();
            raise_protected(mode, format!("moving the guard's sequence {name}"), name);
        }
    }
}

/// A `setval` that runs (an operator approved it, or a policy allows writes undo cannot record) must
/// name its sequence by a constant of the plan being started: one the plan does not show (a PL/pgSQL
/// simple expression, a name computed as it runs) could be the guard's, set to its end (every later
/// recorded write would fail).
unsafe fn refuse_unseen_setval(mode: Mode, funcid: pg_sys::Oid) {
    let setval = |id: u32| id == oids::SETVAL || id == oids::SETVAL3;
    let vouched = super::executor::starting().is_some_and(|plan| {
        let calls = crate::facts::calls::sequence_calls(plan.pstmt);
        let shown = calls.iter().filter(|(id, _)| *id == u32::from(funcid)).count();
        !calls.iter().any(|(id, seq)| setval(*id) && seq.is_none()) && vouched(&plan, funcid, shown)
    });
    if !vouched {
        raise_protected(mode, "setting a sequence the statement does not name by a constant".into(), String::new());
    }
}

/// Whether the plan being started can vouch for the call being built, whose verdict depends on its
/// arguments (`shown`: the calls of `funcid` its walk found, each with arguments that pass). Only a
/// bare `SELECT f(…)` can: a plan that is one `Result` node, with no input, subplan or init plan,
/// builds each call of its target list exactly once and runs no code as it starts. Any other plan
/// may hold calls its walk does not read (a `LIMIT`'s count, a frame offset), build fewer than it
/// shows (partitions pruned as it starts) or run code meanwhile (a function pruning calls): its
/// calls are judged as unseen. And each call site is met once as the plan starts: one met more often
/// than the walk shows is one it did not see.
fn vouched(plan: &super::executor::Starting, funcid: pg_sys::Oid, shown: usize) -> bool {
    // SAFETY: the plan being started (see `executor::starting`).
    if !unsafe { crate::facts::calls::is_bare_result(plan.pstmt) } {
        return false;
    }
    let met = MET.with(|m| {
        if m.0 != plan.start {
            *m = (plan.start, Vec::new());
        }
        match m.1.iter_mut().find(|(f, _)| *f == u32::from(funcid)) {
            Some((_, n)) => {
                *n += 1;
                *n
            }
            None => {
                m.1.push((u32::from(funcid), 1));
                1
            }
        }
    });
    met <= shown
}

/// The calls of argument-judged functions the hook met while building the plan start now running:
/// (start, [(function, times)]).
static MET: BackendCell<(u64, Vec<(u32, usize)>)> = BackendCell::new((0, Vec::new()));

fn raise_protected(mode: Mode, what: String, relation: String) -> ! {
    let refusal = interdict_core::Refusal::new(interdict_core::ReasonCode::ExtensionProtected, mode, what).fact("relation", relation);
    crate::reasons::raise(&refusal)
}

/// Guarded mode lets a session cancel or terminate its own backend (`pg_cancel_backend(pg_backend_pid())`):
/// refused signalling functions go through when every call of them in the plan being started is at
/// the session's own process.
unsafe fn signals_own_backend(verdict: &Verdict, funcid: pg_sys::Oid) -> bool {
    let Verdict::Refuse(r) = verdict else { return false };
    if r.code != interdict_core::ReasonCode::GuardedServerAdmin || !r.fact_value("function").is_some_and(interdict_core::functions::signals_backend) {
        return false;
    }
    super::executor::starting().is_some_and(|plan| {
        crate::facts::calls::signals_only_own_backend(plan.pstmt, funcid).is_some_and(|shown| vouched(&plan, funcid, shown))
    })
}

/// A function that writes, renames or removes a server file by name (`lo_export`, adminpack's
/// `pg_file_write`), which guarded mode refuses as `guarded.not_reversible` (an operator may approve
/// it, a policy allow it): each name must be a constant of the plan being started, in a directory
/// `interdict.file_directories` names, else `guarded.server_config` or `guarded.server_file`, never
/// approvable — as `COPY … TO` (`hooks/utility.rs`).
unsafe fn server_files_named(funcid: pg_sys::Oid, verdict: Verdict) -> Verdict {
    let Verdict::Refuse(r) = &verdict else { return verdict };
    if r.code != interdict_core::ReasonCode::GuardedNotReversible {
        return verdict;
    }
    let Some(facts) = function_facts(funcid) else { return verdict };
    let Some(positions) = facts.judged(interdict_core::functions::path_arguments) else { return verdict };
    let paths = super::executor::starting().and_then(|plan| {
        crate::facts::calls::path_arguments(plan.pstmt, funcid, positions).filter(|(shown, _)| vouched(&plan, funcid, *shown)).map(|(_, paths)| paths)
    });
    let places = settings::hooks::file_places();
    let writer = format!("function {}", facts.name);
    let targets = match paths {
        None => vec![FileTarget::Elsewhere("a file the statement does not name (a path computed as it runs)".into())],
        Some(paths) => paths.iter().map(|path| crate::facts::utility::server_place(path, &places)).collect(),
    };
    match targets.into_iter().map(|target| interdict_core::guarded::server_file_write(&writer, target)).find(|v| *v != Verdict::Allow) {
        Some(refused) => refused,
        None => verdict,
    }
}

/// `lo_open` changes nothing by itself, and a descriptor writes only through functions readonly
/// refuses (`lowrite`, `lo_truncate`). Where the plan shows a constant mode with `INV_WRITE`, the
/// call is refused at once; elsewhere (a mode computed at run time, PL/pgSQL simple expressions,
/// libpq's fast path) it opens, and any write through it is refused.
unsafe fn refuse_lo_open_for_write() {
    let Some(plan) = super::executor::starting() else { return };
    if crate::facts::calls::opens_large_object_for_write(plan.pstmt) {
        let refusal = interdict_core::Refusal::new(interdict_core::ReasonCode::ReadonlyLargeObject, Mode::Readonly, "function lo_open(…, INV_WRITE)")
            .fact("function", "lo_open");
        crate::reasons::raise(&refusal);
    }
}

#[pgrx::pg_guard]
unsafe extern "C-unwind" fn object_access(
    access: pg_sys::ObjectAccessType::Type,
    class_id: pg_sys::Oid,
    object_id: pg_sys::Oid,
    sub_id: i32,
    arg: *mut c_void,
) {
    crate::enforce::lock_now();
    if access == pg_sys::ObjectAccessType::OAT_FUNCTION_EXECUTE && crate::statement::simulating() && !crate::guard_sql::is_internal() {
        simulated_call(object_id);
    }
    // Readonly refuses functions with side effects; guarded mode those whose writes undo cannot
    // record (large objects, other servers, server files) and judges the rows the others write.
    let mode = crate::enforce::configured_mode();
    if access == pg_sys::ObjectAccessType::OAT_FUNCTION_EXECUTE && mode != Mode::Off && !pg_sys::IsBinaryUpgrade && !crate::guard_sql::is_internal() {
        if crate::enforce::session_mode() == Some(Mode::Readonly) && settings::mode() != Mode::Off {
            // The fastpath protocol (libpq's lo_* calls) reaches only this hook: keep the backstop here too.
            pg_sys::XactReadOnly = true;
        }
        if crate::statement::at_top_level() {
            // A fast-path call (libpq's PQfn) in an open transaction meets no other hook: the
            // transaction ceiling holds for it too (PostgreSQL 13-16).
            if let Some(agent) = crate::enforce::agent_mode() {
                crate::enforce::transaction_ceiling(agent);
            }
        }
        if mode == Mode::Guarded && matches!(u32::from(object_id), oids::NEXTVAL | oids::SETVAL | oids::SETVAL3) {
            refuse_guard_sequences(mode);
        }
        let verdict = server_files_named(object_id, verdict_for(object_id));
        if !signals_own_backend(&verdict, object_id) {
            crate::enforce::enforce(verdict);
        }
        if mode == Mode::Guarded && matches!(u32::from(object_id), oids::SETVAL | oids::SETVAL3) {
            refuse_unseen_setval(mode, object_id);
        }
        if mode == Mode::Readonly && u32::from(object_id) == oids::LO_OPEN {
            refuse_lo_open_for_write();
        }
    }
    use pg_sys::ObjectAccessType::*;
    let changing = matches!(access, OAT_POST_CREATE | OAT_POST_ALTER | OAT_DROP | OAT_TRUNCATE)
        && mode != Mode::Off
        && !pg_sys::IsBinaryUpgrade
        && !crate::guard_sql::is_internal();
    // The guard's own objects, by identity, as Postgres creates, alters, drops or truncates them.
    if changing && crate::facts::guard_objects::is_guard_object(class_id, object_id) {
        let what = match access {
            OAT_POST_CREATE => "creating or replacing",
            OAT_DROP => "dropping",
            OAT_TRUNCATE => "truncating",
            _ => "altering",
        };
        let refusal = interdict_core::Refusal::new(interdict_core::ReasonCode::ExtensionProtected, mode, format!("{what} an object of the guard's"))
            .fact("class", u32::from(class_id).to_string())
            .fact("object", u32::from(object_id).to_string());
        crate::reasons::raise(&refusal);
    }
    // What the object's stored code calls is read when the statement ends (`facts/expressions.rs`).
    if changing && mode == Mode::Guarded && matches!(access, OAT_POST_CREATE | OAT_POST_ALTER) {
        crate::facts::expressions::note(class_id, object_id);
    }
    // A new object in one of Postgres' own schemas (pg_catalog, information_schema) is found
    // before or beside Postgres' own by every session's name lookup: `pg_catalog.array_agg(int8)`
    // would answer every session's array_agg, the guard's own conflict checks included.
    if changing && matches!(access, OAT_POST_CREATE | OAT_POST_ALTER) && sub_id == 0 && crate::enforce::agent_mode().is_some() {
        if let Some(namespace) = crate::nodes::namespace_now(class_id, object_id).filter(|&n| is_system_namespace(n)) {
            let refusal = interdict_core::Refusal::new(interdict_core::ReasonCode::SystemProtected, mode, "creating or moving an object into a schema of Postgres' own")
                .fact("schema", crate::nodes::describe_object(pg_sys::NamespaceRelationId, namespace, 0));
            crate::reasons::raise(&refusal);
        }
    }
    // Another role's function replaced, altered (its owner given to another role included) or
    // dropped (which frees its name for the agent's own): its body runs wherever that role's code
    // calls it — a DBA's trigger, a helper — unguarded. A function the session creates or keeps is
    // its own or another agent role's (one it is a member of), so that other sessions know it for
    // an agent's code (`agent_code.rs`), never a group role's that is no agent. (Postgres' own
    // functions are system.protected, below.)
    let others_function = class_id == pg_sys::ProcedureRelationId && u32::from(object_id) >= pg_sys::FirstNormalObjectId;
    if changing
        && mode == Mode::Guarded
        && others_function
        && matches!(access, OAT_POST_CREATE | OAT_POST_ALTER | OAT_DROP)
        && !(access == OAT_DROP && crate::nodes::is_internal_part(class_id, object_id))
    {
        let agents = |o: pg_sys::Oid| {
            crate::facts::planted::the_agents(o)
                && (access == OAT_DROP || o == pg_sys::GetSessionUserId() || crate::agent_code::is_agent_role(o))
        };
        // A new function's row is not visible before the command ends: its owner is the creator.
        let owner = crate::agent_code::function_owner(object_id).or_else(|| (access == OAT_POST_CREATE).then(|| pg_sys::GetUserId()));
        if let Some(owner) = owner.filter(|&o| !agents(o)) {
            let what = if access == OAT_DROP { "dropping another role's function" } else { "replacing or altering another role's function" };
            let refusal = interdict_core::Refusal::new(interdict_core::ReasonCode::GuardedUntrustedCode, mode, what)
                .fact("function", crate::nodes::describe_object(class_id, object_id, 0))
                .fact("owner", u32::from(owner).to_string());
            crate::reasons::raise(&refusal);
        }
    }
    // Another role's object renamed or moved to another schema: its role's statements, its
    // applications and a policy's table rules find something else by that name (an agent renaming
    // `tickets` to `loose` has a DBA's `TRUNCATE loose` empty it). A column renamed is its table's.
    if access == OAT_POST_ALTER && mode == Mode::Guarded && crate::hooks::utility::renaming() {
        if let Some(owner) = crate::nodes::object_owner(class_id, object_id).filter(|&o| !crate::facts::planted::the_agents(o) && !crate::agent_code::is_agent_role(o)) {
            let refusal = interdict_core::Refusal::new(interdict_core::ReasonCode::GuardedOthersName, mode, "renaming or moving another role's object")
                .fact("object", crate::nodes::describe_object(class_id, object_id, sub_id))
                .fact("owner", crate::nodes::cstr(pg_sys::GetUserNameFromId(owner, true)).unwrap_or_default());
            crate::reasons::raise(&refusal);
        }
    }
    // An extension made (each CASCADE adds too) or moved (ALTER EXTENSION … SET SCHEMA).
    if changing && matches!(access, OAT_POST_CREATE | OAT_POST_ALTER) && class_id == pg_sys::ExtensionRelationId && mode == Mode::Guarded {
        if let Some((code, what)) = crate::facts::guard_objects::extension_refusal(object_id) {
            crate::reasons::raise(&interdict_core::Refusal::new(code, mode, what).fact("extension", u32::from(object_id).to_string()));
        }
    }
    // Postgres' own objects (initdb's, below FirstNormalObjectId: pg_catalog's functions, operators,
    // types, text search configurations, the public schema, …) serve every session: an agent
    // session (a superuser one, or through an owner's rights) changes none of them.
    if changing && u32::from(object_id) < pg_sys::FirstNormalObjectId && crate::enforce::agent_mode().is_some() {
        let refusal = interdict_core::Refusal::new(interdict_core::ReasonCode::SystemProtected, mode, "changing an object Postgres itself created")
            .fact("object", crate::nodes::describe_object(class_id, object_id, sub_id));
        crate::reasons::raise(&refusal);
    }
    if let Some(prev) = PREV.get() {
        crate::chain::call_down(|| prev(access, class_id, object_id, sub_id, arg), || {});
    }
}

/// `needs_fmgr_hook`: a function an agent role owns, called in a session in mode `off`, goes
/// through `fmgr_security_definer` (and [`fmgr`]); see `agent_code.rs`. Asked once per function
/// lookup (`fmgr_info`) of every function that is not built in.
#[pgrx::pg_guard]
unsafe extern "C-unwind" fn needs_fmgr(funcid: pg_sys::Oid) -> bool {
    let prev = PREV_NEEDS.get().is_some_and(|prev| crate::chain::call_down_returning(|| prev(funcid), || {}));
    prev || crate::agent_code::is_agent_function(funcid)
}

/// `fmgr_hook`: a call through `fmgr_security_definer` starts or ends (every SECURITY DEFINER
/// function's and every function with a `SET` clause, besides the agents' ones).
#[pgrx::pg_guard]
unsafe extern "C-unwind" fn fmgr(event: pg_sys::FmgrHookEventType::Type, flinfo: *mut pg_sys::FmgrInfo, private: *mut pg_sys::Datum) {
    use pg_sys::FmgrHookEventType::*;
    // A start that raises (here or beneath) is never ended: the call is pushed last.
    let agent = (event == FHET_START && crate::agent_code::is_agent_function((*flinfo).fn_oid)).then_some((*flinfo).fn_oid);
    if matches!(event, FHET_END | FHET_ABORT) {
        crate::agent_code::left();
    }
    if let Some(prev) = PREV_FMGR.get() {
        crate::chain::call_down(|| prev(event, flinfo, private), || {});
    }
    if event == FHET_START {
        crate::agent_code::entered(agent);
    }
}

/// A schema initdb made, other than `public` and `pg_toast` (where Postgres puts the toast tables
/// of the agent's own tables): `pg_catalog`, `information_schema`.
fn is_system_namespace(namespace: pg_sys::Oid) -> bool {
    const PUBLIC: u32 = 2200; // `pg_namespace.dat`
    let n = u32::from(namespace);
    n < pg_sys::FirstNormalObjectId && n != PUBLIC && n != pg_sys::PG_TOAST_NAMESPACE
}
