-- ngx-harbor schema, migration 0007: replication (docs/replication.md).
--
-- replication_registry: the remote registries (Harbor's Registry).  The
--   secret of a credential is stored sealed (libsodium secretbox under
--   the key file of authd.secret_key), base64 of nonce and box.
-- replication_policy: Harbor's ReplicationPolicy; exactly one of
--   src_registry_id and dest_registry_id is set, the other end is this
--   instance.  filters is JSON text, as the API takes it.
-- replication_execution, replication_task: runs and their work, one task
--   per tag (or, for a deletion, per deleted reference).  A task that is
--   Pending waits for a worker from next_try on; attempts counts tries.
-- replication_event: the journal's pushes and deletes that event-based
--   policies must replicate, written in the journal's own transaction and
--   kept until the task that carries one succeeded: one that failed is
--   offered again from next_try on, so that events that come while the
--   destination is down are replayed when it is back.
CREATE TABLE replication_registry (
    id               serial PRIMARY KEY,
    name             varchar(255) NOT NULL UNIQUE,
    url              varchar(1024) NOT NULL,
    type             varchar(32) NOT NULL,
    description      text NOT NULL DEFAULT '',
    insecure         boolean NOT NULL DEFAULT false,
    ca_certificate   text NOT NULL DEFAULT '',
    credential_type  varchar(16) NOT NULL DEFAULT 'basic',
    access_key       varchar(255) NOT NULL DEFAULT '',
    access_secret    text NOT NULL DEFAULT '',
    status           varchar(16) NOT NULL DEFAULT 'unknown',
    creation_time    timestamptz NOT NULL DEFAULT now(),
    update_time      timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE replication_policy (
    id                  serial PRIMARY KEY,
    name                varchar(255) NOT NULL UNIQUE,
    description         text NOT NULL DEFAULT '',
    src_registry_id     integer REFERENCES replication_registry (id),
    dest_registry_id    integer REFERENCES replication_registry (id),
    dest_namespace      varchar(255) NOT NULL DEFAULT '',
    dest_namespace_replace_count integer NOT NULL DEFAULT -1,
    filters             text NOT NULL DEFAULT '[]',
    trigger_type        varchar(16) NOT NULL DEFAULT 'manual',
    cron                varchar(128) NOT NULL DEFAULT '',
    override            boolean NOT NULL DEFAULT true,
    enabled             boolean NOT NULL DEFAULT true,
    replicate_deletion  boolean NOT NULL DEFAULT false,
    speed               integer NOT NULL DEFAULT 0,
    copy_by_chunk       boolean NOT NULL DEFAULT false,
    last_fired          timestamptz,
    creation_time       timestamptz NOT NULL DEFAULT now(),
    update_time         timestamptz NOT NULL DEFAULT now(),
    CHECK ((src_registry_id IS NULL) <> (dest_registry_id IS NULL))
);

CREATE TABLE replication_execution (
    id              serial PRIMARY KEY,
    policy_id       integer NOT NULL REFERENCES replication_policy (id)
                        ON DELETE CASCADE,
    status          varchar(16) NOT NULL DEFAULT 'InProgress',
    status_text     text NOT NULL DEFAULT '',
    trigger         varchar(16) NOT NULL DEFAULT 'manual',
    enumerated      boolean NOT NULL DEFAULT false,
    stop_requested  boolean NOT NULL DEFAULT false,
    start_time      timestamptz NOT NULL DEFAULT now(),
    end_time        timestamptz
);

CREATE INDEX replication_execution_policy
    ON replication_execution (policy_id, id);
CREATE INDEX replication_execution_status
    ON replication_execution (status);

CREATE TABLE replication_task (
    id              serial PRIMARY KEY,
    execution_id    integer NOT NULL REFERENCES replication_execution (id)
                        ON DELETE CASCADE,
    resource_type   varchar(16) NOT NULL DEFAULT 'image',
    operation       varchar(16) NOT NULL DEFAULT 'copy',
    src_repo        varchar(255) NOT NULL,
    src_ref         varchar(255) NOT NULL,
    dst_repo        varchar(255) NOT NULL,
    dst_ref         varchar(255) NOT NULL,
    status          varchar(16) NOT NULL DEFAULT 'Pending',
    attempts        integer NOT NULL DEFAULT 0,
    next_try        timestamptz NOT NULL DEFAULT now(),
    bytes_done      bigint NOT NULL DEFAULT 0,
    bytes_total     bigint NOT NULL DEFAULT 0,
    error           text NOT NULL DEFAULT '',
    log             text NOT NULL DEFAULT '',
    start_time      timestamptz,
    end_time        timestamptz
);

CREATE INDEX replication_task_execution ON replication_task (execution_id, id);
CREATE INDEX replication_task_pending ON replication_task (next_try)
    WHERE status = 'Pending';

CREATE TABLE replication_event (
    id              bigserial PRIMARY KEY,
    policy_id       integer NOT NULL REFERENCES replication_policy (id)
                        ON DELETE CASCADE,
    operation       varchar(16) NOT NULL,
    repository      varchar(255) NOT NULL,
    reference       varchar(255) NOT NULL,
    task_id         integer REFERENCES replication_task (id)
                        ON DELETE SET NULL,
    attempts        integer NOT NULL DEFAULT 0,
    next_try        timestamptz NOT NULL DEFAULT now(),
    creation_time   timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX replication_event_policy ON replication_event (policy_id, id);
