//! Permanent objects that depend on temporary ones, this session's or any other's (a superuser,
//! or a definer function, can name another session's `pg_temp_N.type`). When a session ends (or at
//! `DISCARD TEMP`), Postgres drops its temporary schema with CASCADE, and with it whatever depends on
//! it: a permanent table made `OF` a temporary type, a column whose type or collation is temporary, a
//! default or check calling a temporary function. That drop runs no statement the guard judges (and
//! may run in another session), so the dependency is refused when a statement makes it, read from
//! `pg_depend` after the statement.


/// Objects of every temporary schema (and temporary toast schema), by catalog, and what depends on
/// them from outside the temporary schemas: an object's schema is its own (`pg_identify_object`), or
/// for defaults, rules, triggers and policies their table's. The first such dependency, described
/// (dependent, temporary object).
const DEPENDENTS: &str = "
WITH temp_ns AS (
    SELECT oid FROM pg_catalog.pg_namespace
    WHERE pg_catalog.pg_is_other_temp_schema(oid) OR oid OPERATOR(pg_catalog.=) pg_catalog.pg_my_temp_schema()
), temporary(classid, objid) AS (
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
)
SELECT pg_catalog.pg_describe_object(d.classid, d.objid, d.objsubid), pg_catalog.pg_describe_object(d.refclassid, d.refobjid, d.refobjsubid)
FROM temporary t
JOIN pg_catalog.pg_depend d ON d.refclassid = t.classid AND d.refobjid = t.objid AND d.deptype OPERATOR(pg_catalog.<>) 'i'
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
        let found = pgrx::Spi::get_two::<String, String>(DEPENDENTS);
        match found {
            Ok((Some(dependent), Some(temporary))) => Some((dependent, temporary)),
            _ => None,
        }
    })
}
