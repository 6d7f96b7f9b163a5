//! `interdict.check_role(role)`: gathers a role's facts from the catalogs (plain reads, so it runs
//! in readonly sessions too) and asks the core for findings (`interdict_core::role_check`).

use interdict_core::role_check::{findings, RoleFacts};
use interdict_core::{Mode, ReasonCode, Refusal};
use pgrx::datum::DatumWithOid;
use pgrx::pg_sys;
use pgrx::spi::{Spi, SpiClient};

/// One finding: check, severity, what was found, the SQL that fixes it.
pub type FindingRow = (String, String, String, String);

pub fn check_role(role: &str) -> Vec<FindingRow> {
    let facts = crate::guard_sql::pinned(|| Spi::connect(|client| gather(client, role)))
        .unwrap_or_else(|e| crate::reasons::internal_failure("reading the catalogs for check_role()", &e.to_string()));
    let Some(facts) = facts else {
        crate::reasons::raise(&Refusal::new(ReasonCode::RoleUnknown, crate::settings::mode(), format!("checking role \"{role}\"")).fact("role", role))
    };
    findings(&facts).into_iter().map(|f| (f.check.to_string(), f.severity.as_str().to_string(), f.finding, f.fix)).collect()
}

/// Attributes and connect-time settings.
const ROLE: &str = "
SELECT pg_catalog.quote_ident(r.rolname), pg_catalog.quote_ident(current_user::text), r.rolsuper, r.rolbypassrls,
       r.rolcreaterole, r.rolcreatedb, r.rolreplication, r.rolconnlimit,
       pg_catalog.pg_has_role(r.oid, 'interdict_operator', 'MEMBER') AND r.rolname <> 'interdict_operator'
  FROM pg_catalog.pg_roles r WHERE r.rolname = $1";

/// Settings that apply to the role's sessions at connect time, most specific last.
const SETTINGS: &str = "
SELECT pg_catalog.split_part(c, '=', 1), pg_catalog.substr(c, pg_catalog.strpos(c, '=') + 1)
  FROM pg_catalog.pg_db_role_setting s, pg_catalog.unnest(s.setconfig) c
 WHERE s.setrole IN (0, (SELECT oid FROM pg_catalog.pg_roles WHERE rolname = $1))
   AND s.setdatabase IN (0, (SELECT oid FROM pg_catalog.pg_database WHERE datname = pg_catalog.current_database()))
 ORDER BY (s.setrole <> 0), (s.setdatabase <> 0)";

/// Relations of this database the role owns (not the extension's own).
const OWNED: &str = "
SELECT c.oid::regclass::text FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
 WHERE c.relowner = (SELECT oid FROM pg_catalog.pg_roles WHERE rolname = $1)
   AND c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f') AND n.nspname NOT IN ('pg_catalog', 'information_schema', 'interdict')
   AND n.nspname NOT LIKE 'pg_toast%' AND n.nspname NOT LIKE 'pg_temp%'
 ORDER BY 1";

/// Roles the role belongs to (not itself) that own relations here.
const OWNER_ROLES: &str = "
SELECT pg_catalog.quote_ident(o.rolname), count(*)
  FROM pg_catalog.pg_class c JOIN pg_catalog.pg_roles o ON o.oid = c.relowner
  JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
 WHERE o.rolname <> $1 AND pg_catalog.pg_has_role($1, o.oid, 'MEMBER')
   AND c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f') AND n.nspname NOT IN ('pg_catalog', 'information_schema', 'interdict')
   AND n.nspname NOT LIKE 'pg_toast%'
 GROUP BY o.rolname ORDER BY 1";

/// Write privileges on this database's tables held by the role, PUBLIC or a role it belongs to.
const WRITE_GRANTS: &str = "
SELECT c.oid::regclass::text,
       pg_catalog.string_agg(a.privilege_type, ', ' ORDER BY a.privilege_type),
       CASE WHEN a.grantee = 0 THEN 'PUBLIC' ELSE pg_catalog.quote_ident(pg_catalog.pg_get_userbyid(a.grantee)) END
  FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace,
       LATERAL pg_catalog.aclexplode(c.relacl) a
 WHERE c.relkind IN ('r', 'p', 'f') AND n.nspname NOT IN ('pg_catalog', 'information_schema', 'interdict')
   AND a.privilege_type IN ('INSERT', 'UPDATE', 'DELETE', 'TRUNCATE', 'TRIGGER')
   AND (a.grantee = 0 OR pg_catalog.pg_has_role($1, a.grantee, 'MEMBER'))
   AND a.grantee <> c.relowner
 GROUP BY c.oid, a.grantee ORDER BY 1, 3";

/// Schemas the role may create objects in (not through ownership), and who holds the grant.
const CREATE_SCHEMAS: &str = "
SELECT DISTINCT pg_catalog.quote_ident(n.nspname),
       CASE WHEN a.grantee = 0 THEN 'PUBLIC' ELSE pg_catalog.quote_ident(pg_catalog.pg_get_userbyid(a.grantee)) END
  FROM pg_catalog.pg_namespace n, LATERAL pg_catalog.aclexplode(n.nspacl) a
 WHERE a.privilege_type = 'CREATE' AND a.grantee <> n.nspowner
   AND (a.grantee = 0 OR pg_catalog.pg_has_role($1, a.grantee, 'MEMBER'))
   AND n.nspname NOT IN ('pg_catalog', 'information_schema', 'interdict') AND n.nspname NOT LIKE 'pg_t%'
 ORDER BY 1, 2";

/// Predefined roles that reach past table privileges or outside the database.
const POWERFUL: &str = "
SELECT pg_catalog.quote_ident(p.rolname) FROM pg_catalog.pg_roles p
 WHERE p.rolname IN ('pg_read_server_files', 'pg_write_server_files', 'pg_execute_server_program', 'pg_signal_backend',
                     'pg_read_all_data', 'pg_write_all_data', 'pg_checkpoint', 'pg_create_subscription',
                     'pg_use_reserved_connections', 'pg_maintain', 'pg_signal_autovacuum_worker')
   AND pg_catalog.pg_has_role($1, p.oid, 'MEMBER')
 ORDER BY 1";

fn gather(client: &SpiClient<'_>, role: &str) -> Result<Option<RoleFacts>, pgrx::spi::Error> {
    let arg = [DatumWithOid::from(role)];
    let Some(r) = client.select(ROLE, Some(1), &arg)?.into_iter().next() else { return Ok(None) };
    let mut f = RoleFacts {
        role: r.get::<String>(1)?.unwrap_or_default(),
        caller: r.get::<String>(2)?.unwrap_or_default(),
        superuser: r.get::<bool>(3)?.unwrap_or(false),
        bypass_rls: r.get::<bool>(4)?.unwrap_or(false),
        create_role: r.get::<bool>(5)?.unwrap_or(false),
        create_db: r.get::<bool>(6)?.unwrap_or(false),
        replication: r.get::<bool>(7)?.unwrap_or(false),
        connection_limit: r.get::<i32>(8)?.unwrap_or(-1),
        operator: r.get::<bool>(9)?.unwrap_or(false),
        ..RoleFacts::default()
    };
    // SAFETY: a plain read of a server setting's string (read directly: current_setting() of it
    // needs pg_read_all_settings, and the check runs for any caller).
    let preload_everywhere = unsafe { crate::nodes::cstr(pg_sys::shared_preload_libraries_string) }.unwrap_or_default();
    f.preloaded = lists_interdict(&preload_everywhere);
    for s in client.select(SETTINGS, None, &arg)? {
        let (Some(name), Some(value)) = (s.get::<String>(1)?, s.get::<String>(2)?) else { continue };
        match name.as_str() {
            "interdict.mode" => f.mode = Mode::parse(&value).ok(),
            "session_preload_libraries" => f.preloaded |= lists_interdict(&value),
            "statement_timeout" | "lock_timeout" | "idle_in_transaction_session_timeout" => f.timeouts_set.push(name),
            _ => {}
        }
    }
    for o in client.select(OWNED, None, &arg)? {
        f.owned.extend(o.get::<String>(1)?);
    }
    for o in client.select(OWNER_ROLES, None, &arg)? {
        if let (Some(owner), Some(n)) = (o.get::<String>(1)?, o.get::<i64>(2)?) {
            f.owner_roles.push((owner, n.max(0) as u64));
        }
    }
    for g in client.select(WRITE_GRANTS, None, &arg)? {
        if let (Some(t), Some(p), Some(who)) = (g.get::<String>(1)?, g.get::<String>(2)?, g.get::<String>(3)?) {
            f.write_grants.push((t, p, who));
        }
    }
    for c in client.select(CREATE_SCHEMAS, None, &arg)? {
        if let (Some(schema), Some(who)) = (c.get::<String>(1)?, c.get::<String>(2)?) {
            f.create_schemas.push((schema, who));
        }
    }
    for p in client.select(POWERFUL, None, &arg)? {
        f.powerful_roles.extend(p.get::<String>(1)?);
    }
    Ok(Some(f))
}

/// Whether a library list (`shared_preload_libraries`, `session_preload_libraries`) names interdict.
fn lists_interdict(list: &str) -> bool {
    list.split(',').map(|l| l.trim().trim_matches('"')).any(|l| l == "interdict" || l.ends_with("/interdict"))
}
