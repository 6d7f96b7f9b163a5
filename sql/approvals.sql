-- Operators approve what guarded mode refused. A member of interdict_operator, in a session with no
-- agent mode, calls interdict.approve(id) or interdict.deny(id); the agent's next run of the same
-- statement (same text, parameters, role and database) consumes the approval once.
DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = 'interdict_operator') THEN
        CREATE ROLE interdict_operator NOLOGIN;
    END IF;
END
$$;

CREATE TABLE interdict.approvals (
    id          text PRIMARY KEY,
    requester   oid NOT NULL,                 -- the requesting role, from the id
    decision    text NOT NULL CHECK (decision IN ('approved', 'denied')),
    max_rows    bigint CHECK (max_rows >= 0), -- NULL: the session's own interdict.max_rows
    decided_by  name NOT NULL,
    decided_at  timestamptz NOT NULL DEFAULT pg_catalog.clock_timestamp(),
    expires_at  timestamptz NOT NULL,
    used_at     timestamptz,                  -- set, in the agent's transaction, when consumed
    used_rows   bigint,                       -- rows the statement had reached when it consumed the approval
    requester_agent text                      -- the request's interdict.agent, when the pending book (shared memory) had it
);
COMMENT ON TABLE interdict.approvals IS 'Operator decisions on statements guarded mode refused; written only by interdict.approve()/deny() and consumed by the guard.';
REVOKE ALL ON interdict.approvals FROM PUBLIC;
GRANT SELECT ON interdict.approvals TO interdict_operator;
SELECT pg_catalog.pg_extension_config_dump('interdict.approvals', '');
