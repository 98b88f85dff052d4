-- ngx-harbor schema, migration 0017: indexes for lists at scale.
--
-- Measured with bench/api-scale (1,000 projects, 100,000 repositories,
-- 1,000,000 artifacts; docs/performance.md):
--   repository_creation: GET /repositories pages in their default order
--     (newest first, then id) walk the index instead of sorting every
--     repository the caller sees;
--   users_username_exact: every login (the token service's Basic
--     credentials, the API's) looks a user up by the exact name it was
--     given; users_username is on lower(username) and does not serve it;
--   artifact_blob_artifact: a project's storage (its summary) reads each
--     artifact's blobs with their sizes from the index alone.

CREATE INDEX repository_creation ON repository (creation_time, repository_id);
CREATE INDEX users_username_exact ON users (username);
CREATE INDEX artifact_blob_artifact ON artifact_blob (artifact_id)
    INCLUDE (digest, size);
