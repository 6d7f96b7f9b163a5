-- Policies a DBA loaded with interdict.load_policy(yaml): every version is kept; the latest is in
-- force for sessions that start after it (unless interdict.policy_file names a file).
CREATE TABLE interdict.policies (
    version     bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    policy      text NOT NULL,                -- the YAML, as loaded (it validated)
    loaded_by   name NOT NULL,
    loaded_at   timestamptz NOT NULL DEFAULT pg_catalog.clock_timestamp()
);
COMMENT ON TABLE interdict.policies IS 'Versions of the agent policy, written only by interdict.load_policy(); the latest is in force.';
REVOKE ALL ON interdict.policies FROM PUBLIC;
GRANT SELECT ON interdict.policies TO interdict_operator;
SELECT pg_catalog.pg_extension_config_dump('interdict.policies', '');
