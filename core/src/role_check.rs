//! `interdict.check_role(role)`: a role checked against the hardening advice for agent roles.
//! The server gathers the facts from its catalogs ([`RoleFacts`]); this turns them into findings,
//! each with a severity and the SQL that fixes it. Names arrive quoted by Postgres (`quote_ident`,
//! `regclass`), so every fix runs as written.

use crate::Mode;

/// What the catalogs say about a role. Names are quoted for SQL.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RoleFacts {
    pub role: String,
    /// Whoever runs the check: the fixes give ownership to them.
    pub caller: String,
    pub superuser: bool,
    pub bypass_rls: bool,
    pub create_role: bool,
    pub create_db: bool,
    pub replication: bool,
    /// `-1`: no limit.
    pub connection_limit: i32,
    /// Tables (and views, sequences, …) of this database the role owns.
    pub owned: Vec<String>,
    /// Roles the role is a member of that own relations here, with how many.
    pub owner_roles: Vec<(String, u64)>,
    /// Write privileges on tables: (table, privileges, grantee — the role, one it is a member of, or PUBLIC).
    pub write_grants: Vec<(String, String, String)>,
    /// Schemas the role may create objects in: (schema, grantee).
    pub create_schemas: Vec<(String, String)>,
    /// Whether it is a member (directly or not) of `interdict_operator`.
    pub operator: bool,
    /// Predefined roles that reach outside the database or past privileges, that it is a member of.
    pub powerful_roles: Vec<String>,
    /// `interdict.mode` as the role's connect-time settings give it (role, role in database, database).
    pub mode: Option<Mode>,
    /// Whether sessions of the role load the library (`session_preload_libraries` for it or its
    /// database, or `shared_preload_libraries`).
    pub preloaded: bool,
    /// Which of statement_timeout, lock_timeout, idle_in_transaction_session_timeout its settings set.
    pub timeouts_set: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    Low,
    Medium,
    High,
    Critical,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Low => "low",
            Severity::Medium => "medium",
            Severity::High => "high",
            Severity::Critical => "critical",
        }
    }
}

/// One finding: what is wrong, how bad, and the SQL that fixes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    pub check: &'static str,
    pub severity: Severity,
    pub finding: String,
    pub fix: String,
}

const TIMEOUTS: [(&str, &str); 3] = [("statement_timeout", "30s"), ("lock_timeout", "2s"), ("idle_in_transaction_session_timeout", "60s")];

/// The findings for a role, the most severe first.
pub fn findings(f: &RoleFacts) -> Vec<Finding> {
    let mut out = Vec::new();
    let mut add = |check, severity, finding: String, fix: String| out.push(Finding { check, severity, finding, fix });
    let r = &f.role;
    if f.superuser {
        add("superuser", Severity::Critical, format!("{r} is a superuser: it can switch any guard off, read any file and run programs on the server"), format!("ALTER ROLE {r} NOSUPERUSER;"));
    }
    if f.operator {
        add("operator", Severity::Critical, format!("{r} is a member of interdict_operator: it could approve its own requests and revert anyone's changes"), format!("REVOKE interdict_operator FROM {r};"));
    }
    if f.bypass_rls {
        add("bypassrls", Severity::High, format!("{r} bypasses row-level security"), format!("ALTER ROLE {r} NOBYPASSRLS;"));
    }
    if f.create_role {
        add("createrole", Severity::High, format!("{r} can create and alter roles"), format!("ALTER ROLE {r} NOCREATEROLE;"));
    }
    if f.replication {
        add("replication", Severity::Critical, format!("{r} may open replication connections: replication commands pass no hook the guard sees, and the whole cluster's changes stream out"), format!("ALTER ROLE {r} NOREPLICATION;"));
    }
    for role in &f.powerful_roles {
        add("predefined_role", Severity::High, format!("{r} is a member of {role}, which reaches past table privileges or outside the database"), format!("REVOKE {role} FROM {r};"));
    }
    if f.mode.is_none_or(|m| m == Mode::Off) {
        add("mode", Severity::High, format!("{r} gets no agent mode at connect time: its sessions are not guarded"), format!("ALTER ROLE {r} SET interdict.mode = 'readonly';"));
    }
    if !f.preloaded {
        add("preload", Severity::High, format!("sessions of {r} do not load Interdict before their first statement"), format!("ALTER ROLE {r} SET session_preload_libraries = 'interdict';"));
    }
    if !f.owned.is_empty() {
        add(
            "owner",
            Severity::High,
            format!("{r} owns {} relation(s) here ({}): an owner can alter, drop and disable triggers on them", f.owned.len(), preview(&f.owned)),
            format!("REASSIGN OWNED BY {r} TO {};", f.caller),
        );
    }
    for (owner, n) in &f.owner_roles {
        add("owner_member", Severity::High, format!("{r} is a member of {owner}, which owns {n} relation(s) here"), format!("REVOKE {owner} FROM {r};"));
    }
    if f.create_db {
        add("createdb", Severity::Medium, format!("{r} can create databases"), format!("ALTER ROLE {r} NOCREATEDB;"));
    }
    for (schema, grantee) in &f.create_schemas {
        add("create_schema", Severity::Medium, format!("{r} may create objects in schema {schema} (granted to {grantee}); what it creates it owns"), format!("REVOKE CREATE ON SCHEMA {schema} FROM {grantee};"));
    }
    let writes_severity = if f.mode == Some(Mode::Guarded) { Severity::Low } else { Severity::Medium };
    for (table, privileges, grantee) in &f.write_grants {
        add("write_grant", writes_severity, format!("{grantee} holds {privileges} on {table}"), format!("REVOKE {privileges} ON {table} FROM {grantee};"));
    }
    if f.connection_limit < 0 {
        add("connection_limit", Severity::Low, format!("{r} has no connection limit: a runaway agent can use every connection"), format!("ALTER ROLE {r} CONNECTION LIMIT 10;"));
    }
    let missing: Vec<_> = TIMEOUTS.iter().filter(|(name, _)| !f.timeouts_set.iter().any(|t| t == name)).collect();
    if !missing.is_empty() {
        add(
            "timeouts",
            Severity::Low,
            format!("{r} sets no {} of its own (agent modes cap them at Interdict's ceilings)", missing.iter().map(|(n, _)| *n).collect::<Vec<_>>().join(", ")),
            missing.iter().map(|(name, value)| format!("ALTER ROLE {r} SET {name} = '{value}';")).collect::<Vec<_>>().join(" "),
        );
    }
    out.sort_by_key(|f| std::cmp::Reverse(f.severity));
    out
}

fn preview(names: &[String]) -> String {
    let shown: Vec<&str> = names.iter().take(3).map(String::as_str).collect();
    if names.len() > 3 { format!("{}, …", shown.join(", ")) } else { shown.join(", ") }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hardened() -> RoleFacts {
        RoleFacts {
            role: "agent".into(),
            caller: "postgres".into(),
            connection_limit: 5,
            mode: Some(Mode::Readonly),
            preloaded: true,
            timeouts_set: TIMEOUTS.iter().map(|(n, _)| n.to_string()).collect(),
            ..RoleFacts::default()
        }
    }

    fn checks(f: &RoleFacts) -> Vec<&'static str> {
        findings(f).iter().map(|x| x.check).collect()
    }

    #[test]
    fn a_hardened_role_has_no_findings() {
        assert_eq!(findings(&hardened()), vec![]);
    }

    #[test]
    fn each_fact_is_a_finding_with_its_fix() {
        let f = RoleFacts { superuser: true, operator: true, owned: vec!["public.t".into()], ..hardened() };
        let got = findings(&f);
        assert_eq!(got.iter().map(|x| (x.check, x.severity)).collect::<Vec<_>>(), vec![
            ("superuser", Severity::Critical),
            ("operator", Severity::Critical),
            ("owner", Severity::High),
        ]);
        assert_eq!(got[0].fix, "ALTER ROLE agent NOSUPERUSER;");
        assert_eq!(got[2].fix, "REASSIGN OWNED BY agent TO postgres;");
    }

    #[test]
    fn connect_time_setup_and_limits() {
        let f = RoleFacts { mode: None, preloaded: false, connection_limit: -1, timeouts_set: vec!["lock_timeout".into()], ..hardened() };
        assert_eq!(checks(&f), vec!["mode", "preload", "connection_limit", "timeouts"]);
        let t = findings(&f).into_iter().find(|x| x.check == "timeouts").unwrap();
        assert_eq!(t.fix, "ALTER ROLE agent SET statement_timeout = '30s'; ALTER ROLE agent SET idle_in_transaction_session_timeout = '60s';");
        assert_eq!(checks(&RoleFacts { mode: Some(Mode::Off), ..hardened() }), vec!["mode"]);
    }

    #[test]
    fn write_grants_matter_more_for_readonly_roles() {
        let grant = vec![("public.t".to_string(), "INSERT, DELETE".to_string(), "PUBLIC".to_string())];
        let ro = findings(&RoleFacts { write_grants: grant.clone(), ..hardened() });
        assert_eq!((ro[0].severity, ro[0].fix.as_str()), (Severity::Medium, "REVOKE INSERT, DELETE ON public.t FROM PUBLIC;"));
        let g = findings(&RoleFacts { write_grants: grant, mode: Some(Mode::Guarded), ..hardened() });
        assert_eq!(g[0].severity, Severity::Low);
    }
}
