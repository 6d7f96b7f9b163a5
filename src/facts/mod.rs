//! Postgres trees -> the core's plain facts. Each function reads what Postgres already built (the
//! `PlannedStmt`, the utility statement's node, `pg_proc`); none looks at statement text.

pub mod calls;
pub mod expressions;
pub mod function;
pub mod guard_objects;
pub mod names;
pub mod plan;
pub mod planted;
pub mod roles;
pub mod scope;
pub mod temporary;
pub mod utility;
