-- ngx-harbor schema, migration 0015: storage quotas.
--
-- quota: one per project (Harbor's quota, reference "project"): hard is
-- the storage limit in bytes, -1 unlimited.  What a project uses is not
-- stored: it is the sum of its distinct blobs (artifact_blob), which the
-- journal, deletes and reindex keep right.  authd writes the limit and
-- the usage to <storage>/_policies/quota/<project> for the nginx module,
-- which refuses a push that would pass the limit (docs/policies.md).

CREATE TABLE quota (
    id              serial PRIMARY KEY,
    project_id      integer NOT NULL UNIQUE REFERENCES projects (project_id)
                        ON DELETE CASCADE,
    hard            bigint NOT NULL DEFAULT -1 CHECK (hard >= -1),
    warned          boolean NOT NULL DEFAULT false,
    creation_time   timestamptz NOT NULL DEFAULT now(),
    update_time     timestamptz NOT NULL DEFAULT now()
);

INSERT INTO quota (project_id)
    SELECT project_id FROM projects ORDER BY project_id;
