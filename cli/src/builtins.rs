//! Built-in functions, operators and types the check takes as what Postgres ships: reads that change
//! nothing. A call is matched by name, unqualified or `pg_catalog.`-qualified, as the extension's
//! core matches native functions by name (`interdict_core::functions`). Anything not here whose
//! effects the core does not list — a user's function, `set_config`, an operator or type of an
//! extension — is for the server to judge (`needs_server`).
//!
//! The assumption, said plainly in docs/agents.md: `pg_catalog` is searched first (Postgres does so
//! unless `search_path` names it later), so these names are the built-ins. A user's overload with a
//! better-matching argument type could still be picked instead; the server judges what really runs.

/// Functions (and aggregates, window functions) that read only.
pub const READ_FUNCTIONS: &[&str] = &[
    // aggregates and window functions
    "count", "sum", "avg", "min", "max", "array_agg", "string_agg", "bool_and", "bool_or", "every", "bit_and",
    "bit_or", "bit_xor", "json_agg", "jsonb_agg", "json_object_agg", "jsonb_object_agg", "json_agg_strict",
    "jsonb_agg_strict", "json_objectagg", "json_arrayagg", "stddev", "stddev_pop", "stddev_samp", "variance",
    "var_pop", "var_samp", "corr", "covar_pop", "covar_samp", "regr_count", "regr_slope", "regr_intercept",
    "regr_r2", "mode", "percentile_cont", "percentile_disc", "rank", "dense_rank", "percent_rank", "cume_dist",
    "row_number", "ntile", "lag", "lead", "first_value", "last_value", "nth_value", "xmlagg", "any_value",
    "range_agg", "range_intersect_agg",
    // strings
    "lower", "upper", "initcap", "length", "char_length", "character_length", "octet_length", "bit_length",
    "substr", "substring", "position", "strpos", "replace", "translate", "trim", "btrim", "ltrim", "rtrim",
    "lpad", "rpad", "left", "right", "repeat", "reverse", "split_part", "concat", "concat_ws", "format",
    "quote_ident", "quote_literal", "quote_nullable", "md5", "sha224", "sha256", "sha384", "sha512", "encode",
    "decode", "ascii", "chr", "regexp_replace", "regexp_match", "regexp_matches", "regexp_split_to_array",
    "regexp_split_to_table", "regexp_like", "regexp_count", "regexp_instr", "regexp_substr", "starts_with",
    "to_hex", "to_char", "to_number", "to_date", "to_timestamp", "string_to_array", "string_to_table",
    "array_to_string", "overlay", "normalize", "unistr", "casefold", "convert_from", "convert_to",
    "parse_ident", "format_type", "to_ascii", "uuid_extract_timestamp", "uuid_extract_version",
    // numbers
    "abs", "ceil", "ceiling", "floor", "round", "trunc", "sign", "sqrt", "cbrt", "power", "pow", "exp", "ln",
    "log", "log10", "mod", "div", "pi", "degrees", "radians", "sin", "cos", "tan", "asin", "acos", "atan",
    "atan2", "greatest", "least", "random", "random_normal", "width_bucket", "scale", "min_scale",
    "trim_scale", "gcd", "lcm", "factorial", "numeric", "int4", "int8", "float8", "text",
    // dates and times
    "now", "current_timestamp", "clock_timestamp", "statement_timestamp", "transaction_timestamp",
    "timeofday", "date_trunc", "date_part", "extract", "date_bin", "age", "make_date", "make_time",
    "make_timestamp", "make_timestamptz", "make_interval", "justify_days", "justify_hours",
    "justify_interval", "isfinite", "to_timestamp", "timezone", "date_add", "date_subtract",
    // json
    "to_json", "to_jsonb", "row_to_json", "array_to_json", "json_build_object", "jsonb_build_object",
    "json_build_array", "jsonb_build_array", "json_object", "jsonb_object", "json_array_length",
    "jsonb_array_length", "json_each", "jsonb_each", "json_each_text", "jsonb_each_text",
    "json_extract_path", "jsonb_extract_path", "json_extract_path_text", "jsonb_extract_path_text",
    "json_object_keys", "jsonb_object_keys", "json_array_elements", "jsonb_array_elements",
    "json_array_elements_text", "jsonb_array_elements_text", "json_typeof", "jsonb_typeof",
    "json_strip_nulls", "jsonb_strip_nulls", "jsonb_set", "jsonb_set_lax", "jsonb_insert", "jsonb_pretty",
    "jsonb_path_query", "jsonb_path_query_array", "jsonb_path_query_first", "jsonb_path_exists",
    "jsonb_path_match", "json_populate_record", "jsonb_populate_record", "json_to_record",
    "jsonb_to_record", "json_to_recordset", "jsonb_to_recordset", "json_scalar", "json_serialize",
    // arrays and sets
    "array_length", "array_lower", "array_upper", "array_ndims", "array_dims", "array_append",
    "array_prepend", "array_cat", "array_position", "array_positions", "array_remove", "array_replace",
    "cardinality", "unnest", "generate_series", "generate_subscripts", "array_fill", "array_reverse",
    "array_sort", "array_shuffle", "array_sample", "trim_array",
    // conditionals and misc
    "coalesce", "nullif", "num_nulls", "num_nonnulls", "gen_random_uuid", "uuidv4", "uuidv7",
    "current_database", "current_schema", "current_schemas", "current_user", "current_role", "session_user",
    "user", "version", "current_setting", "pg_backend_pid", "inet_client_addr", "inet_server_addr",
    "pg_postmaster_start_time", "pg_conf_load_time", "txid_current_if_assigned", "pg_current_xact_id_if_assigned",
    "pg_sleep", "pg_sleep_for", "pg_typeof", "pg_column_size", "pg_size_pretty", "pg_size_bytes",
    "pg_database_size", "pg_relation_size", "pg_total_relation_size", "pg_table_size", "pg_indexes_size",
    "pg_get_viewdef", "pg_get_functiondef", "pg_get_indexdef", "pg_get_constraintdef", "pg_get_triggerdef",
    "pg_get_expr", "pg_get_userbyid", "pg_get_serial_sequence", "obj_description", "col_description",
    "shobj_description", "has_table_privilege", "has_schema_privilege", "has_function_privilege",
    "has_database_privilege", "has_column_privilege", "has_sequence_privilege", "pg_has_role",
    "to_regclass", "to_regtype", "to_regproc", "to_regnamespace", "to_regrole", "pg_table_is_visible",
    "pg_is_in_recovery", "pg_read_file", "pg_ls_dir", "pg_stat_file", "pg_blocking_pids", "currval",
    "lastval", "lo_get", "loread", "lo_close", "lo_lseek", "lo_tell", "lo_open", "pg_advisory_unlock",
    "pg_advisory_unlock_shared", "pg_advisory_unlock_all", "pg_current_wal_lsn", "pg_wal_lsn_diff",
    "host", "masklen", "network", "family", "broadcast", "netmask", "set_masklen", "inet_same_family",
    "tsvector_to_array", "to_tsvector", "to_tsquery", "plainto_tsquery", "phraseto_tsquery",
    "websearch_to_tsquery", "ts_rank", "ts_rank_cd", "ts_headline", "setweight", "row", "isempty",
    "lower_inc", "upper_inc", "lower_inf", "upper_inf", "range_merge", "int4range", "int8range",
    "numrange", "tsrange", "tstzrange", "daterange", "multirange", "xmlelement", "xmlforest", "xmlconcat",
    "xpath", "xpath_exists", "xmlparse", "xmlserialize", "merge_action",
];

/// Operator names of the built-in operators (`pg_operator.oprname` of what Postgres ships).
pub const OPERATORS: &[&str] = &[
    "=", "<>", "!=", "<", ">", "<=", ">=", "+", "-", "*", "/", "%", "^", "||", "~~", "!~~", "~~*", "!~~*", "~",
    "!~", "~*", "!~*", "@>", "<@", "&&", "->", "->>", "#>", "#>>", "?", "?|", "?&", "@@", "@@@", "@?", "#-",
    "<->", "|/", "||/", "@", "&", "|", "#", "<<", ">>", "<<=", ">>=", "&<", "&>", "-|-", "~=", "<<|", "|>>",
    "&<|", "|&>", "<^", ">^", "?#", "?-", "?|", "?-|", "?||", "@-@", "##", "!!",
];

/// Types whose input and casts are built-in functions that change nothing (names as the grammar
/// leaves them: `int` is `pg_catalog.int4`, `varchar` is `pg_catalog.varchar`).
pub const TYPES: &[&str] = &[
    "int2", "int4", "int8", "smallint", "integer", "bigint", "int", "numeric", "decimal", "float4", "float8",
    "real", "text", "varchar", "bpchar", "char", "name", "bool", "boolean", "date", "time", "timetz",
    "timestamp", "timestamptz", "interval", "json", "jsonb", "jsonpath", "uuid", "bytea", "oid", "regclass",
    "regproc", "regprocedure", "regtype", "regnamespace", "regrole", "regoper", "regoperator", "regconfig",
    "regdictionary", "regcollation", "xml", "inet", "cidr", "macaddr", "macaddr8", "money", "bit", "varbit",
    "tsvector", "tsquery", "point", "line", "lseg", "box", "path", "polygon", "circle", "int4range",
    "int8range", "numrange", "tsrange", "tstzrange", "daterange", "record", "void", "unknown", "anyelement",
    "xid", "xid8", "cid", "tid", "pg_lsn", "txid_snapshot", "pg_snapshot", "character", "double precision",
];

pub fn is_read_function(name: &str) -> bool {
    READ_FUNCTIONS.contains(&name)
}

pub fn is_builtin_operator(name: &str) -> bool {
    OPERATORS.contains(&name)
}

pub fn is_builtin_type(name: &str) -> bool {
    TYPES.contains(&name)
}
