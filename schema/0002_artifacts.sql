-- ngx-harbor schema, migration 0002: what is in the registry.
--
-- Repositories, artifacts, tags and the references of an index to its
-- children, as authd learns them from the module's journal (or rebuilds
-- them from storage with "reindex"); the audit log; the journal
-- checkpoint.  Table and column names follow Harbor's where it has them.

-- project_id is NULL for a repository whose first path component names no
-- project (pushed while auth was off, or the project was deleted since)
CREATE TABLE repository (
    repository_id   serial PRIMARY KEY,
    name            varchar(255) NOT NULL UNIQUE,
    project_id      integer REFERENCES projects (project_id)
                        ON DELETE SET NULL,
    description     text NOT NULL DEFAULT '',
    pull_count      bigint NOT NULL DEFAULT 0,
    creation_time   timestamptz NOT NULL DEFAULT now(),
    update_time     timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX repository_project ON repository (project_id);

-- one row per manifest (image, index, or any OCI artifact) of a repository
--   media_type           the config's media type (an index: its own)
--   manifest_media_type  the manifest's
--   artifact_type        the manifest's artifactType, else media_type
--   type                 Harbor's: IMAGE, CHART, CNAB, UNKNOWN
--   size                 manifest + config + layers (an index: + children)
--   subject_digest       the manifest's subject: an accessory of it
CREATE TABLE artifact (
    id                  serial PRIMARY KEY,
    repository_id       integer NOT NULL REFERENCES repository (repository_id)
                            ON DELETE CASCADE,
    digest              varchar(255) NOT NULL,
    type                varchar(255) NOT NULL DEFAULT 'UNKNOWN',
    media_type          varchar(255) NOT NULL DEFAULT '',
    manifest_media_type varchar(255) NOT NULL DEFAULT '',
    artifact_type       varchar(255) NOT NULL DEFAULT '',
    size                bigint NOT NULL DEFAULT 0,
    push_time           timestamptz NOT NULL DEFAULT now(),
    pull_time           timestamptz,
    pull_count          bigint NOT NULL DEFAULT 0,
    annotations         jsonb,
    extra_attrs         jsonb,
    subject_digest      varchar(255),
    UNIQUE (repository_id, digest)
);

CREATE INDEX artifact_subject ON artifact (repository_id, subject_digest)
    WHERE subject_digest IS NOT NULL;

-- an index's children by digest: the child's row is found through
-- (repository_id, child_digest), so a child pushed or deleted later is
-- never a dangling id
CREATE TABLE artifact_reference (
    id              serial PRIMARY KEY,
    parent_id       integer NOT NULL REFERENCES artifact (id)
                        ON DELETE CASCADE,
    child_digest    varchar(255) NOT NULL,
    platform        jsonb,
    annotations     jsonb,
    UNIQUE (parent_id, child_digest)
);

CREATE INDEX artifact_reference_child ON artifact_reference (child_digest);

-- the blobs an artifact holds (its manifest, config and layers), for the
-- storage an artifact, a project or the registry takes, counted once
CREATE TABLE artifact_blob (
    artifact_id     integer NOT NULL REFERENCES artifact (id)
                        ON DELETE CASCADE,
    digest          varchar(255) NOT NULL,
    size            bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (artifact_id, digest)
);

CREATE INDEX artifact_blob_digest ON artifact_blob (digest);

CREATE TABLE tag (
    id              serial PRIMARY KEY,
    repository_id   integer NOT NULL REFERENCES repository (repository_id)
                        ON DELETE CASCADE,
    artifact_id     integer NOT NULL REFERENCES artifact (id)
                        ON DELETE CASCADE,
    name            varchar(255) NOT NULL,
    push_time       timestamptz NOT NULL DEFAULT now(),
    pull_time       timestamptz,
    UNIQUE (repository_id, name)
);

CREATE INDEX tag_artifact ON tag (artifact_id);

-- Harbor's audit_log (with 2.13's operation_description and result).
-- event_id is the journal event's id: a line read twice is applied once.
CREATE TABLE audit_log (
    id                      bigserial PRIMARY KEY,
    event_id                char(32) UNIQUE,
    project_id              integer,
    operation               varchar(32) NOT NULL,
    operation_description   varchar(1024) NOT NULL DEFAULT '',
    operation_result        boolean NOT NULL DEFAULT true,
    resource_type           varchar(32) NOT NULL,
    resource                varchar(512) NOT NULL,
    username                varchar(255) NOT NULL DEFAULT '',
    client_ip               varchar(64) NOT NULL DEFAULT '',
    op_time                 timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX audit_log_op_time ON audit_log (op_time);
CREATE INDEX audit_log_project ON audit_log (project_id, op_time);

-- how far the journal has been applied: the file (inode, and the id of
-- its first line against inode reuse) and the byte offset after the last
-- applied line; written in the transaction of the rows those lines made
CREATE TABLE journal_checkpoint (
    id              integer PRIMARY KEY CHECK (id = 1),
    path            text NOT NULL,
    inode           bigint NOT NULL,
    first_id        varchar(64) NOT NULL DEFAULT '',
    byte_offset     bigint NOT NULL,
    update_time     timestamptz NOT NULL DEFAULT now()
);
