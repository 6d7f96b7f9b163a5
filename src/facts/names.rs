//! Postgres enum values by name, for the core's tables: `AlterTableType` and `ObjectType` are plain
//! integer constants in pgrx's bindings (no names at run time), and their members differ between
//! versions. One list per enum; the names the running version lacks are compiled out.

use pgrx::pg_sys;

macro_rules! names {
    ($fn:ident, $module:ident, $prefix:literal, [$($name:ident),* $(,)?], $( #[$cfg:meta] [$($vname:ident),* $(,)?] ),* $(,)?) => {
        /// The name of a value (without its prefix), or `UNKNOWN` for one this build does not know.
        pub fn $fn(value: pg_sys::$module::Type) -> &'static str {
            $( if value == pg_sys::$module::$name { return &stringify!($name)[$prefix.len()..]; } )*
            $( $( #[$cfg] if value == pg_sys::$module::$vname { return &stringify!($vname)[$prefix.len()..]; } )* )*
            "UNKNOWN"
        }
    };
}

names!(alter_table_type, AlterTableType, "AT_", [
    AT_AddColumn, AT_AddColumnToView, AT_AddConstraint, AT_AddIdentity, AT_AddIndex, AT_AddIndexConstraint, AT_AddInherit,
    AT_AddOf, AT_AlterColumnGenericOptions, AT_AlterColumnType, AT_AlterConstraint, AT_AttachPartition, AT_ChangeOwner,
    AT_ClusterOn, AT_ColumnDefault, AT_CookedColumnDefault, AT_DetachPartition, AT_DisableRowSecurity, AT_DisableRule,
    AT_DisableTrig, AT_DisableTrigAll, AT_DisableTrigUser, AT_DropCluster, AT_DropColumn, AT_DropConstraint,
    AT_DropExpression, AT_DropIdentity, AT_DropInherit, AT_DropNotNull, AT_DropOf, AT_DropOids, AT_EnableAlwaysRule,
    AT_EnableAlwaysTrig, AT_EnableReplicaRule, AT_EnableReplicaTrig, AT_EnableRowSecurity, AT_EnableRule, AT_EnableTrig,
    AT_EnableTrigAll, AT_EnableTrigUser, AT_ForceRowSecurity, AT_GenericOptions, AT_NoForceRowSecurity, AT_ReAddComment,
    AT_ReAddConstraint, AT_ReAddDomainConstraint, AT_ReAddIndex, AT_ReplaceRelOptions, AT_ReplicaIdentity, AT_ResetOptions,
    AT_ResetRelOptions, AT_SetIdentity, AT_SetLogged, AT_SetNotNull, AT_SetOptions, AT_SetRelOptions, AT_SetStatistics,
    AT_SetStorage, AT_SetTableSpace, AT_SetUnLogged, AT_ValidateConstraint,
],
    #[cfg(any(feature = "pg13", feature = "pg14", feature = "pg15"))] [AT_AddColumnRecurse, AT_AddConstraintRecurse, AT_DropColumnRecurse, AT_DropConstraintRecurse, AT_ValidateConstraintRecurse],
    #[cfg(any(feature = "pg13", feature = "pg14", feature = "pg15", feature = "pg16", feature = "pg17"))] [AT_CheckNotNull],
    #[cfg(any(feature = "pg14", feature = "pg15", feature = "pg16", feature = "pg17", feature = "pg18"))] [AT_DetachPartitionFinalize, AT_ReAddStatistics, AT_SetCompression],
    #[cfg(any(feature = "pg15", feature = "pg16", feature = "pg17", feature = "pg18"))] [AT_SetAccessMethod],
    #[cfg(any(feature = "pg17", feature = "pg18"))] [AT_SetExpression],
);

names!(object_type, ObjectType, "OBJECT_", [
    OBJECT_ACCESS_METHOD, OBJECT_AGGREGATE, OBJECT_AMOP, OBJECT_AMPROC, OBJECT_ATTRIBUTE, OBJECT_CAST, OBJECT_COLLATION,
    OBJECT_COLUMN, OBJECT_CONVERSION, OBJECT_DATABASE, OBJECT_DEFACL, OBJECT_DEFAULT, OBJECT_DOMAIN, OBJECT_DOMCONSTRAINT,
    OBJECT_EVENT_TRIGGER, OBJECT_EXTENSION, OBJECT_FDW, OBJECT_FOREIGN_SERVER, OBJECT_FOREIGN_TABLE, OBJECT_FUNCTION,
    OBJECT_INDEX, OBJECT_LANGUAGE, OBJECT_LARGEOBJECT, OBJECT_MATVIEW, OBJECT_OPCLASS, OBJECT_OPERATOR, OBJECT_OPFAMILY,
    OBJECT_POLICY, OBJECT_PROCEDURE, OBJECT_PUBLICATION, OBJECT_PUBLICATION_REL, OBJECT_ROLE, OBJECT_ROUTINE, OBJECT_RULE,
    OBJECT_SCHEMA, OBJECT_SEQUENCE, OBJECT_STATISTIC_EXT, OBJECT_SUBSCRIPTION, OBJECT_TABCONSTRAINT, OBJECT_TABLE,
    OBJECT_TABLESPACE, OBJECT_TRANSFORM, OBJECT_TRIGGER, OBJECT_TSCONFIGURATION, OBJECT_TSDICTIONARY, OBJECT_TSPARSER,
    OBJECT_TSTEMPLATE, OBJECT_TYPE, OBJECT_USER_MAPPING, OBJECT_VIEW,
],
    #[cfg(any(feature = "pg15", feature = "pg16", feature = "pg17", feature = "pg18"))] [OBJECT_PARAMETER_ACL, OBJECT_PUBLICATION_NAMESPACE],
);

/// A statement node's type name without `T_` (`CreateStmt`), as guarded mode's command table keys it.
///
/// # Safety
/// `node` is a valid node.
pub unsafe fn node_type(node: *mut pg_sys::Node) -> String {
    let name = format!("{:?}", (*node).type_);
    name.strip_prefix("T_").unwrap_or(&name).to_string()
}
