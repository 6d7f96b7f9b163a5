-- interdict.stats() as a pg_stat_*-style view: one row per database, role and agent.
CREATE VIEW interdict.pg_stat_interdict AS
SELECT s.database, s.role_name, s.agent,
       (s.counters ->> 'statements_guarded')::bigint AS statements_guarded,
       (s.counters ->> 'statements_readonly')::bigint AS statements_readonly,
       (s.counters ->> 'refused')::bigint AS refused,
       (s.counters ->> 'held')::bigint AS held,
       (s.counters ->> 'approvals_granted')::bigint AS approvals_granted,
       (s.counters ->> 'approvals_denied')::bigint AS approvals_denied,
       (s.counters ->> 'approvals_used')::bigint AS approvals_used,
       (s.counters ->> 'approvals_expired')::bigint AS approvals_expired,
       (s.counters ->> 'simulations')::bigint AS simulations,
       (s.counters ->> 'changes_recorded')::bigint AS changes_recorded,
       (s.counters ->> 'reverts')::bigint AS reverts,
       (s.counters ->> 'revert_conflicts')::bigint AS revert_conflicts,
       (s.counters ->> 'rows_protected')::bigint AS rows_protected,
       (s.counters ->> 'largest_refused')::bigint AS largest_refused,
       (s.counters ->> 'dry_run_would_refuse')::bigint AS dry_run_would_refuse,
       (s.counters ->> 'ceiling_cancels')::bigint AS ceiling_cancels,
       s.refused_by_reason, s.stats_reset, s.scope
  FROM interdict.stats() s;
COMMENT ON VIEW interdict.pg_stat_interdict IS 'What Interdict did, per database, role and agent (see interdict.stats()).';
GRANT SELECT ON interdict.pg_stat_interdict TO PUBLIC;
