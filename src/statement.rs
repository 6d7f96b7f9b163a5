//! The statement running now: its nesting, the rows it changed so far (per ModifyTable node and
//! per table), the limit an operator's approval set for it, what a simulation saw, and its text and
//! parameters. This file owns that state; the hooks and the blast radius (`blast.rs`) ask and tell
//! it through the functions below.
//!
//! A *statement* is what the client sent at top level: it begins at a depth-0 `ExecutorStart` or
//! `ProcessUtility` and includes every nested executor (functions, `DO`, trigger writes, foreign-key
//! cascades run through SPI). Counts are exact where Postgres keeps them (`es_processed` for the
//! node that sets the command tag, `mt_merge_*` for MERGE); other nodes (writes inside WITH
//! clauses) count the rows fed to them.
//!
//! Counters and totals are tagged with the subtransaction level that made them: an aborted
//! subtransaction's rows are forgotten, like its writes.

use crate::cell::BackendCell;
use crate::nodes::list_ptrs;
use pgrx::pg_sys;

/// Rows changed in one table.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TableRows {
    pub relid: pg_sys::Oid,
    pub inserted: u64,
    pub updated: u64,
    pub deleted: u64,
}

impl TableRows {
    pub fn total(&self) -> u64 {
        self.inserted + self.updated + self.deleted
    }
}

/// One running ModifyTable node, with the counter on its input (see `blast.rs`).
pub struct NodeCounter {
    pub query_desc: *mut pg_sys::QueryDesc,
    pub mt: *mut pg_sys::ModifyTableState,
    /// The input node whose `ExecProcNodeReal` we wrapped, and the function it had.
    pub input: *mut pg_sys::PlanState,
    pub real: pg_sys::ExecProcNodeMtd,
    pub relid: pg_sys::Oid,
    pub operation: pg_sys::CmdType::Type,
    pub fed: u64,
    /// `es_processed` when the node started, for the node that sets the command tag.
    pub base: Option<u64>,
    pub level: i32,
    /// `INSERT … ON CONFLICT DO UPDATE`: its rows are split into inserted and updated by the
    /// node's instrumentation (see [`instrument_conflicts`]).
    pub conflict_update: bool,
}

impl NodeCounter {
    /// Rows this node changed so far.
    pub unsafe fn rows(&self) -> TableRows {
        let mut t = TableRows { relid: self.relid, ..TableRows::default() };
        #[cfg(not(any(feature = "pg13", feature = "pg14")))]
        if self.operation == pg_sys::CmdType::CMD_MERGE {
            t.inserted = (*self.mt).mt_merge_inserted as u64;
            t.updated = (*self.mt).mt_merge_updated as u64;
            t.deleted = (*self.mt).mt_merge_deleted as u64;
            return t;
        }
        let n = match self.base {
            Some(base) => (*(*self.mt).ps.state).es_processed.saturating_sub(base),
            None => self.fed,
        };
        match self.operation {
            pg_sys::CmdType::CMD_INSERT if self.conflict_update && !(*self.mt).ps.instrument.is_null() => {
                // nodeModifyTable.c: ExecInsert counts each conflict it resolved with InstrCountTuples2,
                // and ExecOnConflictUpdate one whose DO UPDATE … WHERE said no with InstrCountFiltered1.
                let instrument = &*(*self.mt).ps.instrument;
                t.updated = ((instrument.ntuples2 - instrument.nfiltered1).max(0.0) as u64).min(n);
                t.inserted = n - t.updated;
            }
            pg_sys::CmdType::CMD_INSERT => t.inserted = n,
            pg_sys::CmdType::CMD_UPDATE => t.updated = n,
            _ => t.deleted = n,
        }
        t
    }
}

/// The statement in progress.
#[derive(Default)]
pub struct Statement {
    depth: u32,
    counters: Vec<NodeCounter>,
    /// Rows of finished nodes, by (subtransaction level, table).
    finished: Vec<(i32, TableRows)>,
    /// The planner's estimate of rows for the statement's own target.
    pub estimate: Option<f64>,
    /// The limit an operator's approval set for this statement, once consumed.
    pub approved_limit: Option<u64>,
    /// The approval store was asked already (at most once per statement).
    pub approval_asked: bool,
    /// The subtransaction level the approval was consumed at: its use (an UPDATE of the approval's
    /// row) is undone with that level, and so is the limit it set.
    approved_at: Option<i32>,
    /// `interdict.simulate()` is counting: no limit, exact totals, refusals recorded not raised.
    pub simulating: bool,
    /// In a simulation: the first refusal the statement would have met.
    pub would_refuse: Option<interdict_core::Refusal>,
    /// In a simulation: a sequence was advanced or set (a rollback does not undo that).
    pub sequence_moved: bool,
    /// In a simulation: a write undo could not record (`guarded.not_reversible`).
    pub unrecordable: bool,
    /// The top-level statement's text and parameters, for its approval id and its change.
    text: Text,
    /// What the statement's names resolved to, for its approval id (computed once, when needed).
    binding: Option<Vec<u32>>,
    /// The transaction (see [`XACT_SEQ`]) whose work at commit this statement counts, if it is
    /// that work (deferred triggers fired at commit).
    at_commit_of: Option<u64>,
    /// The search path and user as the statement began (a hash), for its approval id: a function
    /// the statement runs may set its own path before a refusal is raised inside it.
    path_at_begin: u64,
    /// The portal a resumed run belongs to (a hash of its name; see [`resume_if_other`]).
    portal: u64,
    /// `COPY … FROM` running: its table, the depth its own rows are written at, and the rows
    /// counted so far (see [`copy_row`]).
    copy: Option<(pg_sys::Oid, u32, u64)>,
}

/// Where a statement's text comes from.
#[derive(Default)]
enum Text {
    #[default]
    None,
    /// A client's statement: its slice of the query string, its parameters and its plan. The
    /// pointers belong to the portal running it: read only while `live` (from its start to its end).
    Client {
        source: *const std::ffi::c_char,
        location: i32,
        length: i32,
        params: pg_sys::ParamListInfo,
        pstmt: *mut pg_sys::PlannedStmt,
        top: *mut pg_sys::QueryDesc,
        live: bool,
    },
    /// Work no client statement runs (deferred triggers at commit), or a simulation's statement.
    Owned(String),
}

/// Counts top-level transaction ends, to tell one transaction's commit-time work from the next's.
static XACT_SEQ: BackendCell<u64> = BackendCell::new(0);

static STATEMENT: BackendCell<Option<Statement>> = BackendCell::new(None);

/// The level of rows an earlier transaction of the running statement committed: no abort forgets them.
const COMMITTED: i32 = 0;

fn with<R>(f: impl FnOnce(&mut Statement) -> R) -> R {
    STATEMENT.with(|s| f(s.get_or_insert_with(Statement::default)))
}

/// Entry into a hook that runs statements (`ProcessUtility`, `ExecutorRun/Finish`), while rows are
/// counted. Paired with [`leave`], on the error path too (see `hooks/chain.rs`).
pub fn enter() {
    with(|s| s.depth += 1);
}

/// Leaves what [`enter`] entered (`entered`: whether it did).
pub fn leave(entered: bool) {
    if entered {
        with(|s| {
            s.depth = s.depth.saturating_sub(1);
            if s.copy.is_some_and(|(_, depth, _)| depth > s.depth) {
                s.copy = None; // a `COPY … FROM` ended, or failed: what it loaded joins through `add_rows`
            }
        });
    }
}

/// At a depth-0 `ExecutorStart` (`top` is its QueryDesc) or `ProcessUtility` (`top` is null): a
/// new statement begins, with its source text. Returns whether one began.
///
/// - A rule can turn one statement into several plans that the same portal runs one after another
///   (pquery.c `PortalRunMulti`); only the first begins the statement, so their rows add up.
/// - Work that no client statement runs (no active portal: deferred triggers fired at commit,
///   `xact.c: CommitTransaction` → `AfterTriggerFireDeferred`) is one statement per transaction,
///   however many trigger queries it takes: its rows add up against one limit.
/// - Inside `simulate()`, the simulated statement's binding is taken at its first start (its plan
///   does not outlive the simulation).
pub fn begin_if_top_level(source: *const std::ffi::c_char, pstmt: *mut pg_sys::PlannedStmt, params: pg_sys::ParamListInfo, top: *mut pg_sys::QueryDesc) -> bool {
    // SAFETY: ActivePortal is the portal running now, or null.
    if unsafe { later_in_portal(pstmt) } {
        with(|s| {
            if let Text::Client { live, .. } = &mut s.text {
                *live = true; // the same portal, the same source text
            }
        });
        return false;
    }
    // SAFETY: plain reads of backend globals.
    let client = unsafe { !pg_sys::ActivePortal.is_null() };
    let xact = XACT_SEQ.get();
    with(|s| {
        if s.simulating {
            // SAFETY: source is the started statement's text.
            let simulated = matches!(&s.text, Text::Owned(t) if unsafe { crate::nodes::cstr(source) }.as_deref().map(str::trim) == Some(t.trim()));
            if s.binding.is_none() && simulated {
                // SAFETY: pstmt is the statement being started.
                s.binding = Some(unsafe { bound(pstmt, s.path_at_begin, s.portal) });
            }
            return false;
        }
        if s.depth > 0 {
            return false;
        }
        if !client && s.at_commit_of == Some(xact) {
            return false; // more of the same commit's work
        }
        let text = if client {
            // SAFETY: pstmt is the statement being started.
            let (location, length) = unsafe { ((*pstmt).stmt_location, (*pstmt).stmt_len) };
            Text::Client { source, location, length, params, pstmt, top, live: true }
        } else {
            // SAFETY: debug_query_string is the client's statement being committed, or null.
            let committing = unsafe { crate::nodes::cstr(pg_sys::debug_query_string) };
            Text::Owned(format!("(deferred triggers at commit) {}", committing.unwrap_or_default()).trim_end().to_string())
        };
        s.restart(text, (!client).then_some(xact));
        true
    })
}

/// A call no statement runs — the fast-path protocol calls a function directly, and no executor or
/// utility hook begins a statement for it — is a statement of its own, named `what`: the rows an
/// earlier statement counted and the limit its approval set do not carry over. Returns whether one began.
pub fn begin_if_outside(what: &str) -> bool {
    with(|s| {
        if s.depth > 0 || s.simulating {
            return false;
        }
        s.restart(Text::Owned(what.to_string()), None);
        true
    })
}

impl Statement {
    /// A new statement's counts, approval and text.
    fn restart(&mut self, text: Text, at_commit_of: Option<u64>) {
        self.finished.clear();
        self.copy = None;
        self.estimate = None;
        self.approved_limit = None;
        self.approval_asked = false;
        self.approved_at = None;
        self.binding = None;
        self.at_commit_of = at_commit_of;
        self.portal = 0;
        self.path_at_begin = path_now();
        self.text = text;
    }
}

/// At a depth-0 `ExecutorRun` of `top`: if another statement began since `top`'s began (a client
/// ran another portal before executing this one further, extended protocol; a held cursor run to
/// its end at COMMIT), what `top` does from here on is a statement of its own, with `top`'s text
/// and parameters: counted against its own limit, recorded as its own change, its refusals bound
/// to its own text, as if the client had sent it again. Returns whether one began.
pub fn resume_if_other(top: *mut pg_sys::QueryDesc) -> bool {
    let other = with(|s| s.depth == 0 && !s.simulating && !matches!(&s.text, Text::Client { top: t, .. } if *t == top));
    if !other {
        return false;
    }
    // SAFETY: `top` is the QueryDesc being run, alive with its portal; ActivePortal is the portal running now, or null.
    let (source, pstmt, params) = unsafe { ((*top).sourceText, (*top).plannedstmt, (*top).params) };
    let began = begin_if_top_level(source, pstmt, params, top);
    if began {
        // Cursors declared in one query string share its text: the portal's name tells them apart.
        let portal = unsafe { pg_sys::ActivePortal.as_ref().and_then(|p| p.name.as_ref()).map(|n| std::ffi::CStr::from_ptr(n).to_bytes()) };
        with(|s| s.portal = fnv(FNV_START, portal.unwrap_or_default()));
    }
    began
}

/// Whether the running statement has a text of its own to bind an approval to (a client's statement
/// while it runs, or work the guard named).
pub fn has_text() -> bool {
    with(|s| matches!(&s.text, Text::Client { live: true, .. } | Text::Owned(_)))
}

/// The top-level statement ended (its `ExecutorEnd`, or its utility hook returned): its text
/// and parameters are no longer read.
pub fn statement_ended() {
    with(|s| {
        if let Text::Client { live, .. } = &mut s.text {
            *live = false;
        }
    });
}

/// Whether no statement is running now (between top-level statements, or as one ends).
pub fn at_top_level() -> bool {
    with(|s| s.depth == 0)
}

/// Whether `pstmt` is a later plan of the active portal's statement (a rule's product).
unsafe fn later_in_portal(pstmt: *mut pg_sys::PlannedStmt) -> bool {
    let portal = pg_sys::ActivePortal;
    !portal.is_null() && list_ptrs::<pg_sys::PlannedStmt>((*portal).stmts).skip(1).any(|p| p == pstmt)
}

/// The top-level statement's own text: its slice of the query string (one of several statements
/// sent in one string gets its own text, so its own approval id), and its parameter values.
pub fn statement_text() -> (String, Vec<Option<String>>) {
    let text = String::from_utf8_lossy(&statement_bytes()).into_owned();
    // SAFETY: the params belong to the statement running now (`live`).
    let params = with(|s| match &s.text {
        Text::Client { params, live: true, .. } => unsafe { param_values(*params) },
        _ => Vec::new(),
    });
    (text, params)
}

/// [`statement_text`]'s text as the bytes the client sent, in the database's encoding (what a
/// change records: a database not in UTF-8 keeps its text as it is).
pub fn statement_bytes() -> Vec<u8> {
    with(|s| match &s.text {
        // SAFETY: the source belongs to the statement running now (`live`).
        Text::Client { source, location, length, live: true, .. } if !source.is_null() => unsafe {
            own_slice(std::ffi::CStr::from_ptr(*source).to_bytes(), *location, *length).to_vec()
        },
        Text::Owned(text) => text.clone().into_bytes(),
        _ => b"(no statement)".to_vec(),
    })
}

/// What the statement's names resolved to (see [`binding_of`]); computed once per statement.
pub fn statement_binding() -> Vec<u32> {
    if let Some(b) = with(|s| s.binding.clone()) {
        return b;
    }
    let pstmt = with(|s| match &s.text {
        Text::Client { pstmt, live: true, .. } => *pstmt,
        _ => std::ptr::null_mut(),
    });
    let (path, portal) = with(|s| (s.path_at_begin, s.portal));
    // SAFETY: the plan of the statement running now (`live`), or null.
    let b = unsafe { bound(pstmt, path, portal) };
    with(|s| s.binding = Some(b.clone()));
    b
}

/// [`binding_of`], then after a third 0: the search path as the statement began (`path`), the
/// portal a resumed run belongs to (`portal`), and the functions (and types) the plan depends on
/// (`PlanInvalItem`s: the same text may call another function of the same name once one is
/// created, or the path changed).
///
/// # Safety
/// `pstmt` is a valid planned statement, or null.
unsafe fn bound(pstmt: *mut pg_sys::PlannedStmt, path: u64, portal: u64) -> Vec<u32> {
    let mut b = binding_of(pstmt);
    b.extend([0, path as u32, (path >> 32) as u32, portal as u32, (portal >> 32) as u32]);
    if !pstmt.is_null() {
        for item in list_ptrs::<pg_sys::PlanInvalItem>((*pstmt).invalItems) {
            b.extend([(*item).cacheId as u32, (*item).hashValue]);
        }
    }
    b
}

/// What a statement's names resolve to, for its approval id: the relations its plan depends on
/// (`PlannedStmt->relationOids`; a utility statement's named relations), each partition or
/// inheritance child as its topmost parent (so that partition pruning, which differs between
/// custom and generic plans, does not change it), then a separator and the effective search path
/// (`namespace.c: fetch_search_path`, the temporary schema included once it exists). The same text
/// over other objects (a temporary table shadowing a real one, another search path) is another
/// request.
///
/// # Safety
/// `pstmt` is null or the plan of a statement running now, inside a transaction.
unsafe fn binding_of(pstmt: *mut pg_sys::PlannedStmt) -> Vec<u32> {
    let mut relations: Vec<u32> = Vec::new();
    let mut prepared_text = None;
    if !pstmt.is_null() {
        let oids: Vec<pg_sys::Oid> = if (*pstmt).commandType == pg_sys::CmdType::CMD_UTILITY {
            let mut oids = crate::facts::utility::named_relids((*pstmt).utilityStmt);
            if let Some((relations, text)) = prepared((*pstmt).utilityStmt) {
                oids.extend(relations);
                prepared_text = Some(text);
            }
            oids
        } else {
            crate::nodes::list_oids((*pstmt).relationOids).collect()
        };
        relations = oids.into_iter().map(|r| u32::from(crate::nodes::topmost_parent(r))).collect();
        relations.sort_unstable();
        relations.dedup();
    }
    relations.push(0);
    let path = pg_sys::fetch_search_path(true);
    relations.extend(crate::nodes::list_oids(path).map(u32::from));
    pg_sys::list_free(path);
    if let Some(text) = prepared_text {
        // after a second 0: the prepared statement's text, as the two halves of its hash
        relations.extend([0, text as u32, (text >> 32) as u32]);
    }
    relations
}

/// `EXECUTE name`, `FETCH`/`MOVE … cursor`: what the prepared statement or the cursor runs, its
/// relations and a hash of its text (FNV-1a), so that an approval of one does not carry over to
/// another prepared or declared later under the same name.
unsafe fn prepared(stmt: *mut pg_sys::Node) -> Option<(Vec<pg_sys::Oid>, u64)> {
    let hash = |text: *const std::ffi::c_char| fnv(FNV_START, std::ffi::CStr::from_ptr(text).to_bytes());
    if crate::nodes::is_a(stmt, pg_sys::NodeTag::T_FetchStmt) {
        let portal = pg_sys::GetPortalByName((*(stmt as *mut pg_sys::FetchStmt)).portalname);
        if portal.is_null() || (*portal).sourceText.is_null() {
            return None;
        }
        let relations = crate::nodes::list_ptrs::<pg_sys::Node>((*portal).stmts)
            .filter(|s| crate::nodes::is_a(*s, pg_sys::NodeTag::T_PlannedStmt))
            .flat_map(|s| crate::nodes::list_oids((*(s as *mut pg_sys::PlannedStmt)).relationOids))
            .collect();
        // a cursor's bound parameters are part of what it runs
        return Some((relations, with_params(hash((*portal).sourceText), (*portal).portalParams)));
    }
    if !crate::nodes::is_a(stmt, pg_sys::NodeTag::T_ExecuteStmt) {
        return None;
    }
    let prepared = pg_sys::FetchPreparedStatement((*(stmt as *mut pg_sys::ExecuteStmt)).name, false);
    if prepared.is_null() || (*prepared).plansource.is_null() || (*(*prepared).plansource).query_string.is_null() {
        return None;
    }
    let source = (*prepared).plansource;
    Some((crate::nodes::list_oids((*source).relationOids).collect(), hash((*source).query_string)))
}

/// The nested statement being judged now (a query a function runs, PL/pgSQL's `EXECUTE`, a `DO`
/// block's statements): a hash of its text and parameter values, bound into the approval id of a
/// refusal raised while it is judged. The nested statement's text can come from data, a setting
/// or a parameter: an approval given for one must not let another run under the same top-level
/// statement.
static JUDGING: BackendCell<Option<u64>> = BackendCell::new(None);

/// Marks a nested statement (`source` with its location and length, `params`) as the one being
/// judged until the value returned is dropped; nothing at the top level (its own text is bound).
///
/// # Safety
/// `source` and `params` belong to the statement being judged (or are null).
pub unsafe fn judging(source: *const std::ffi::c_char, location: i32, length: i32, params: pg_sys::ParamListInfo) -> impl Drop {
    struct Restore(Option<u64>);
    impl Drop for Restore {
        fn drop(&mut self) {
            JUDGING.set(self.0);
        }
    }
    let was = JUDGING.get();
    if !at_top_level() && !source.is_null() {
        let text = own_slice(std::ffi::CStr::from_ptr(source).to_bytes(), location, length);
        JUDGING.set(Some(with_params(fnv(FNV_START, text), params)));
    }
    Restore(was)
}

/// The nested statement being judged, as [`judging`] hashed it.
pub fn judged() -> Option<u64> {
    JUDGING.get()
}

/// One statement's slice of a query string that may hold several (`stmt_location`, `stmt_len`: a
/// length of 0 runs to the end).
fn own_slice(whole: &[u8], location: i32, length: i32) -> &[u8] {
    let start = (location.max(0) as usize).min(whole.len());
    let end = if length > 0 { (start + length as usize).min(whole.len()) } else { whole.len() };
    &whole[start..end]
}

/// `h` extended by parameter values, each after a separator (a null as `\N`).
///
/// # Safety
/// `params` belongs to a statement running now (or is null).
unsafe fn with_params(h: u64, params: pg_sys::ParamListInfo) -> u64 {
    param_values(params).iter().fold(h, |h, v| fnv(fnv(h, &[0xff]), v.as_deref().unwrap_or("\\N").as_bytes()))
}

const FNV_START: u64 = 0xcbf2_9ce4_8422_2325;

/// FNV-1a over `bytes`, from `h`.
fn fnv(h: u64, bytes: &[u8]) -> u64 {
    bytes.iter().fold(h, |h, &b| (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3))
}

/// Parameter values as text, read only through the interface each kind of list offers: a list
/// with a fetch hook (PL/pgSQL's, whose array is not allocated) through `paramFetch`, speculatively
/// (no evaluation with side effects, `params.h`); a plain list from its array. A value whose output
/// function fails is kept as a marker: reading parameters never fails a statement.
unsafe fn param_values(params: pg_sys::ParamListInfo) -> Vec<Option<String>> {
    if params.is_null() {
        return Vec::new();
    }
    let n = (*params).numParams.clamp(0, u16::MAX as i32);
    (1..=n)
        .map(|id| {
            pgrx::PgTryBuilder::new(|| {
                let mut workspace = std::mem::zeroed::<pg_sys::ParamExternData>();
                let p: *const pg_sys::ParamExternData = match (*params).paramFetch {
                    Some(fetch) => pg_sys::ffi::pg_guard_ffi_boundary(|| fetch(params, id, true, &mut workspace)),
                    None => (*params).params.as_ptr().add((id - 1) as usize),
                };
                if p.is_null() || (*p).isnull || (*p).ptype == pg_sys::InvalidOid {
                    return None;
                }
                let (mut out, mut varlena) = (pg_sys::InvalidOid, false);
                pg_sys::getTypeOutputInfo((*p).ptype, &mut out, &mut varlena);
                crate::nodes::cstr(pg_sys::OidOutputFunctionCall(out, (*p).value))
            })
            .catch_others(|_| Some(format!("(parameter ${id} unreadable)")))
            .execute()
        })
        .collect()
}

/// Rows changed so far by the statement, per table (finished nodes and running ones).
pub fn tables() -> Vec<TableRows> {
    with(|s| {
        let mut out: Vec<TableRows> = Vec::new();
        // SAFETY: running counters point at live executor state (dropped at ExecutorEnd or abort).
        let live = s.counters.iter().map(|c| unsafe { c.rows() }).chain(s.copy.map(copy_rows));
        for t in s.finished.iter().map(|(_, t)| *t).chain(live) {
            match out.iter_mut().find(|o| o.relid == t.relid) {
                Some(o) => {
                    o.inserted += t.inserted;
                    o.updated += t.updated;
                    o.deleted += t.deleted;
                }
                None => out.push(t),
            }
        }
        out
    })
}

/// Before `ExecutorEnd`: the node's final rows join the statement's totals.
///
/// # Safety
/// `query_desc` is still valid (its executor state not yet freed).
pub unsafe fn fold_node(query_desc: *mut pg_sys::QueryDesc) {
    with(|s| {
        if let Text::Client { top, live, .. } = &mut s.text {
            if *top == query_desc {
                *live = false; // the top-level statement ends: its text and parameters go with it
            }
        }
        if s.counters.is_empty() {
            return; // every statement outside guarded mode and simulate(): nothing to fold
        }
        let finished = &mut s.finished;
        s.counters.retain(|c| {
            if c.query_desc != query_desc {
                return true;
            }
            (*c.input).ExecProcNodeReal = c.real;
            finished.push((c.level, c.rows()));
            false
        });
    });
}

/// `COPY … FROM` into `relid` starts, at the current depth: its rows are counted as they are
/// written, through [`copy_row`], not only when it ends (a load past the limit stops near it);
/// leaving that depth ([`leave`]) ends the count.
pub fn copy_begins(relid: pg_sys::Oid) {
    with(|s| s.copy = Some((relid, s.depth, 0)));
}

/// The recording trigger's `WHEN` met a row of a guarded session's write (`COPY` queues each row's
/// event as it writes the row, or a buffer of them): one the running `COPY … FROM` itself writes
/// (at its depth, not a statement of a trigger's) is counted. Returns whether it was.
pub fn copy_row() -> bool {
    STATEMENT.with(|s| {
        let Some(st) = s else { return false };
        match &mut st.copy {
            Some((_, depth, rows)) if *depth == st.depth => {
                *rows += 1;
                true
            }
            _ => false,
        }
    })
}

fn copy_rows((relid, _, inserted): (pg_sys::Oid, u32, u64)) -> TableRows {
    TableRows { relid, inserted, ..TableRows::default() }
}

/// Rows no ModifyTable node saw (`COPY … FROM` loaded them, `interdict.revert()` writes them back)
/// join the statement's rows at the current (sub)transaction level.
pub fn add_rows(rows: TableRows) {
    if rows.total() == 0 || crate::nodes::is_session_temp(rows.relid) {
        return;
    }
    // SAFETY: a plain read of transaction state.
    let level = unsafe { pg_sys::GetCurrentTransactionNestLevel() };
    with(|s| s.finished.push((level, rows)));
}

/// Swaps the statement state, for `simulate()`: it counts a statement of its own inside the caller's.
pub fn swap(replacement: Statement) -> Statement {
    with(|s| std::mem::replace(s, replacement))
}

/// A statement state for `simulate(sql)`: its approval id is that of `sql` itself.
pub fn fresh_simulation(sql: &str) -> Statement {
    Statement { simulating: true, text: Text::Owned(sql.to_string()), path_at_begin: path_now(), ..Statement::default() }
}

/// The search path setting's text and the current user, hashed: what resolves a statement's names.
fn path_now() -> u64 {
    // SAFETY: the setting's text (or null) and the current user, plain reads of backend globals.
    unsafe {
        let path = if pg_sys::namespace_search_path.is_null() { &b""[..] } else { std::ffi::CStr::from_ptr(pg_sys::namespace_search_path).to_bytes() };
        fnv(fnv(FNV_START, path), &u32::from(pg_sys::GetUserId()).to_le_bytes())
    }
}

pub fn simulating() -> bool {
    with(|s| s.simulating)
}

/// In a simulation: keeps the first refusal instead of raising it.
pub fn record_refusal(refusal: interdict_core::Refusal) {
    with(|s| {
        s.unrecordable |= refusal.code == interdict_core::ReasonCode::GuardedNotReversible;
        s.would_refuse.get_or_insert(refusal);
    });
}

/// In a simulation: a write undo could not record was allowed (the policy allows non-reversible writes).
pub fn note_unrecordable() {
    with(|s| s.unrecordable = true);
}

pub fn note_sequence_moved() {
    with(|s| s.sequence_moved = true);
}

/// What a simulation saw (for `simulate()`).
pub struct Seen {
    pub estimate: Option<f64>,
    pub would_refuse: Option<interdict_core::Refusal>,
    pub sequence_moved: bool,
    pub unrecordable: bool,
}

pub fn seen() -> Seen {
    with(|s| Seen { estimate: s.estimate, would_refuse: s.would_refuse.clone(), sequence_moved: s.sequence_moved, unrecordable: s.unrecordable })
}

/// The running statement is a transaction's work at COMMIT (deferred triggers), not a statement
/// the session sent.
pub fn at_commit() -> bool {
    with(|s| s.at_commit_of.is_some())
}

/// An operator's approval was consumed for this statement: its limit is the approved one (see
/// `interdict_core::outcome::approved_limit`).
pub fn set_approved_limit(limit: u64) {
    // SAFETY: a plain read of transaction state.
    let level = unsafe { pg_sys::GetCurrentTransactionNestLevel() };
    with(|s| {
        s.approved_limit = Some(limit);
        s.approval_asked = true;
        s.approved_at = Some(level);
    });
}

/// A counter on a ModifyTable node's input, from `blast::watch`.
pub fn add_counter(counter: NodeCounter) {
    with(|s| s.counters.push(counter));
}

/// The planner's estimate of rows for the statement's own target (the first one given counts).
pub fn note_estimate(rows: f64) {
    with(|s| {
        s.estimate.get_or_insert(rows);
    });
}

/// The real `ExecProcNode` of a counted input node, if it is still counted.
pub fn real_exec(node: *mut pg_sys::PlanState) -> pg_sys::ExecProcNodeMtd {
    with(|s| s.counters.iter().find(|c| c.input == node).and_then(|c| c.real))
}

/// A counted input node fed its ModifyTable one more row.
pub fn count_fed(node: *mut pg_sys::PlanState) {
    with(|s| {
        if let Some(c) = s.counters.iter_mut().find(|c| c.input == node) {
            c.fed += 1;
        }
    });
}

/// Rows changed so far by the statement, all tables together.
pub fn rows_so_far() -> u64 {
    // SAFETY: running counters point at live executor state (dropped at ExecutorEnd or abort).
    with(|s| {
        s.finished.iter().map(|(_, t)| t.total()).sum::<u64>()
            + s.counters.iter().map(|c| unsafe { c.rows() }.total()).sum::<u64>()
            + s.copy.map_or(0, |(_, _, n)| n)
    })
}

/// What the row limit depends on: whether the statement is simulated, the limit an approval set,
/// and the planner's estimate.
pub fn limit_state() -> (bool, Option<u64>, Option<f64>) {
    with(|s| (s.simulating, s.approved_limit, s.estimate))
}

/// Whether the approval store may be asked now: once per statement.
pub fn first_approval_ask() -> bool {
    with(|s| !std::mem::replace(&mut s.approval_asked, true))
}

/// A dry-run session logged the statement's excess once: no limit for the rest of it.
pub fn lift_limit() {
    with(|s| s.approved_limit = Some(u64::MAX));
}

/// A transaction ended (from `xact.rs`): what an abort undid is forgotten; what a COMMIT inside a
/// running statement committed stays counted.
pub fn xact_event(event: pg_sys::XactEvent::Type) {
    use pg_sys::XactEvent::*;
    if matches!(event, XACT_EVENT_COMMIT | XACT_EVENT_ABORT | XACT_EVENT_PREPARE | XACT_EVENT_PARALLEL_ABORT) {
        XACT_SEQ.set(XACT_SEQ.get().wrapping_add(1));
    }
    STATEMENT.with(|s| {
        let Some(st) = s else { return };
        if st.simulating && matches!(event, XACT_EVENT_COMMIT | XACT_EVENT_ABORT | XACT_EVENT_PREPARE | XACT_EVENT_PARALLEL_ABORT) {
            // A simulation's state never outlives its transaction, whatever ended it (simulate()
            // puts the caller's back as it returns; an error escaping it must not leave the
            // session judging every later statement as a simulation).
            *s = None;
            return;
        }
        match event {
            // Every executor of the transaction is gone; what earlier transactions of the same
            // statement committed (a procedure's COMMIT) stays counted.
            XACT_EVENT_ABORT | XACT_EVENT_PARALLEL_ABORT => {
                st.counters.clear();
                st.finished.retain(|(level, _)| *level == COMMITTED);
            }
            // A COMMIT inside a running statement (a procedure's or a DO block's): its rows are
            // committed and still count toward the statement's limit; running nodes (a held
            // cursor) go on. A new statement starts its count afresh.
            XACT_EVENT_COMMIT | XACT_EVENT_PREPARE => st.finished.iter_mut().for_each(|(level, _)| *level = COMMITTED),
            _ => {}
        }
    });
}

/// A subtransaction at `level` ended (from `xact.rs`).
pub fn subxact_event(event: pg_sys::SubXactEvent::Type, level: i32) {
    STATEMENT.with(|s| {
        let Some(st) = s else { return };
        match event {
            pg_sys::SubXactEvent::SUBXACT_EVENT_ABORT_SUB => {
                st.counters.retain(|c| c.level < level);
                st.finished.retain(|(l, _)| *l < level);
                if st.approved_at.is_some_and(|at| at >= level) {
                    // The approval's use was rolled back: so is its limit, and it may be asked again.
                    st.approved_at = None;
                    st.approved_limit = None;
                    st.approval_asked = false;
                }
            }
            pg_sys::SubXactEvent::SUBXACT_EVENT_COMMIT_SUB => {
                st.finished.iter_mut().filter(|(l, _)| *l >= level).for_each(|(l, _)| *l = level - 1);
                if let Some(at) = st.approved_at.as_mut().filter(|at| **at >= level) {
                    *at = level - 1;
                }
            }
            _ => {}
        }
    });
}
