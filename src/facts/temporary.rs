//! Permanent objects that depend on temporary ones, this session's or any other's (a superuser,
//! or a definer function, can name another session's `pg_temp_N.type`). When a session ends (or at
//! `DISCARD TEMP`), Postgres drops its temporary schema with CASCADE, and with it whatever depends on
//! it: a permanent table made `OF` a temporary type, a column whose type or collation is temporary, a
//! default or check calling a temporary function. That drop runs no statement the guard judges (and
//! may run in another session), so the dependency is refused when a statement makes it, read from
//! `pg_depend` after the statement.


/// Whether any temporary schema (this session's or another's) holds an object.
const ANY_TEMPORARY: &str = "
SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_namespace n
               JOIN pg_catalog.pg_depend d ON d.refclassid OPERATOR(pg_catalog.=) 'pg_catalog.pg_namespace'::pg_catalog.regclass
                                          AND d.refobjid OPERATOR(pg_catalog.=) n.oid
               WHERE pg_catalog.pg_is_other_temp_schema(n.oid) OR n.oid OPERATOR(pg_catalog.=) pg_catalog.pg_my_temp_schema())";

/// Objects of every temporary schema (and temporary toast schema) that holds any, by catalog, and
/// what depends on them from outside the temporary schemas: an object's schema is its own (`pg_identify_object`), or
/// for defaults, rules, triggers and policies their table's. The first such dependency, described
/// (dependent, temporary object).
const DEPENDENTS: &str = "
WITH temp_ns AS MATERIALIZED (
    -- the temporary schemas that hold anything (each object of a schema depends on it in pg_depend,
    -- found by the index on what is depended on): empty ones, most, cost nothing more
    SELECT n.oid FROM pg_catalog.pg_namespace n
    WHERE (pg_catalog.pg_is_other_temp_schema(n.oid) OR n.oid OPERATOR(pg_catalog.=) pg_catalog.pg_my_temp_schema())
      AND EXISTS (SELECT 1 FROM pg_catalog.pg_depend d
                  WHERE d.refclassid OPERATOR(pg_catalog.=) 'pg_catalog.pg_namespace'::pg_catalog.regclass
                    AND d.refobjid OPERATOR(pg_catalog.=) n.oid)
), temporary(classid, objid) AS MATERIALIZED (
    SELECT 'pg_catalog.pg_class'::pg_catalog.regclass, oid FROM pg_catalog.pg_class WHERE relnamespace IN (SELECT oid FROM temp_ns)
    UNION ALL SELECT 'pg_catalog.pg_type'::pg_catalog.regclass, oid FROM pg_catalog.pg_type WHERE typnamespace IN (SELECT oid FROM temp_ns)
    UNION ALL SELECT 'pg_catalog.pg_proc'::pg_catalog.regclass, oid FROM pg_catalog.pg_proc WHERE pronamespace IN (SELECT oid FROM temp_ns)
    UNION ALL SELECT 'pg_catalog.pg_collation'::pg_catalog.regclass, oid FROM pg_catalog.pg_collation WHERE collnamespace IN (SELECT oid FROM temp_ns)
    UNION ALL SELECT 'pg_catalog.pg_operator'::pg_catalog.regclass, oid FROM pg_catalog.pg_operator WHERE oprnamespace IN (SELECT oid FROM temp_ns)
    UNION ALL SELECT 'pg_catalog.pg_conversion'::pg_catalog.regclass, oid FROM pg_catalog.pg_conversion WHERE connamespace IN (SELECT oid FROM temp_ns)
    UNION ALL SELECT 'pg_catalog.pg_ts_config'::pg_catalog.regclass, oid FROM pg_catalog.pg_ts_config WHERE cfgnamespace IN (SELECT oid FROM temp_ns)
    UNION ALL SELECT 'pg_catalog.pg_ts_dict'::pg_catalog.regclass, oid FROM pg_catalog.pg_ts_dict WHERE dictnamespace IN (SELECT oid FROM temp_ns)
    UNION ALL SELECT 'pg_catalog.pg_opclass'::pg_catalog.regclass, oid FROM pg_catalog.pg_opclass WHERE opcnamespace IN (SELECT oid FROM temp_ns)
    UNION ALL SELECT 'pg_catalog.pg_opfamily'::pg_catalog.regclass, oid FROM pg_catalog.pg_opfamily WHERE opfnamespace IN (SELECT oid FROM temp_ns)
), dependents AS MATERIALIZED (
    SELECT d.* FROM temporary t
    JOIN pg_catalog.pg_depend d ON d.refclassid = t.classid AND d.refobjid = t.objid AND d.deptype OPERATOR(pg_catalog.<>) 'i'
)
SELECT pg_catalog.pg_describe_object(d.classid, d.objid, d.objsubid), pg_catalog.pg_describe_object(d.refclassid, d.refobjid, d.refobjsubid)
FROM dependents d
WHERE NOT EXISTS (SELECT 1 FROM temp_ns WHERE temp_ns.oid OPERATOR(pg_catalog.=) (CASE d.classid
         WHEN 'pg_catalog.pg_attrdef'::pg_catalog.regclass THEN
             (SELECT c.relnamespace FROM pg_catalog.pg_attrdef a JOIN pg_catalog.pg_class c ON c.oid = a.adrelid WHERE a.oid = d.objid)
         WHEN 'pg_catalog.pg_rewrite'::pg_catalog.regclass THEN
             (SELECT c.relnamespace FROM pg_catalog.pg_rewrite r JOIN pg_catalog.pg_class c ON c.oid = r.ev_class WHERE r.oid = d.objid)
         WHEN 'pg_catalog.pg_trigger'::pg_catalog.regclass THEN
             (SELECT c.relnamespace FROM pg_catalog.pg_trigger g JOIN pg_catalog.pg_class c ON c.oid = g.tgrelid WHERE g.oid = d.objid)
         WHEN 'pg_catalog.pg_policy'::pg_catalog.regclass THEN
             (SELECT c.relnamespace FROM pg_catalog.pg_policy p JOIN pg_catalog.pg_class c ON c.oid = p.polrelid WHERE p.oid = d.objid)
         ELSE (SELECT n.oid FROM pg_catalog.pg_namespace n
               WHERE n.nspname OPERATOR(pg_catalog.=) (pg_catalog.pg_identify_object(d.classid, d.objid, d.objsubid)).schema)
       END))
LIMIT 1";

/// The first permanent object that depends on a temporary object (of any session), described as
/// (dependent, temporary object).
pub fn permanent_dependent() -> Option<(String, String)> {
    crate::guard_sql::as_guard("reading what depends on temporary objects", || {
        // Most of the time no temporary schema holds anything: one cheap question first.
        if !pgrx::Spi::get_one::<bool>(ANY_TEMPORARY).ok().flatten().unwrap_or(true) {
            return None;
        }
        let found = pgrx::Spi::get_two::<String, String>(DEPENDENTS);
        match found {
            Ok((Some(dependent), Some(temporary))) => Some((dependent, temporary)),
            _ => None,
        }
    })
}
