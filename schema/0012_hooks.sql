-- ngx-harbor schema, migration 0012: labels and webhooks.
--
-- label: a global label (scope 'g', project_id NULL, made by system
-- administrators) or a project's (scope 'p').  A name is unique in its
-- scope and project.
-- artifact_label: the labels on an artifact; a project label only on its
-- own project's artifacts (the API checks it).
-- webhook_policy: a project's webhook targets and event types.
-- webhook_job: one delivery of one event to one policy, written in the
-- journal's transaction (at least once), tried with backoff until it
-- succeeds or runs out of tries; log holds each try's outcome.

CREATE TABLE label (
    id              serial PRIMARY KEY,
    name            varchar(128) NOT NULL,
    description     varchar(1024) NOT NULL DEFAULT '',
    color           varchar(32) NOT NULL DEFAULT '',
    scope           char(1) NOT NULL CHECK (scope IN ('g', 'p')),
    project_id      integer REFERENCES projects (project_id)
                        ON DELETE CASCADE,
    creation_time   timestamptz NOT NULL DEFAULT now(),
    update_time     timestamptz NOT NULL DEFAULT now(),
    CHECK ((scope = 'g') = (project_id IS NULL))
);

CREATE UNIQUE INDEX label_name ON label (scope, COALESCE(project_id, 0),
    name);

CREATE TABLE artifact_label (
    id              serial PRIMARY KEY,
    artifact_id     integer NOT NULL REFERENCES artifact (id)
                        ON DELETE CASCADE,
    label_id        integer NOT NULL REFERENCES label (id)
                        ON DELETE CASCADE,
    creation_time   timestamptz NOT NULL DEFAULT now(),
    UNIQUE (artifact_id, label_id)
);

CREATE INDEX artifact_label_label ON artifact_label (label_id);

CREATE TABLE webhook_policy (
    id              serial PRIMARY KEY,
    project_id      integer NOT NULL REFERENCES projects (project_id)
                        ON DELETE CASCADE,
    name            varchar(255) NOT NULL,
    description     varchar(1024) NOT NULL DEFAULT '',
    targets         jsonb NOT NULL DEFAULT '[]',
    event_types     text[] NOT NULL DEFAULT '{}',
    enabled         boolean NOT NULL DEFAULT true,
    creator         varchar(255) NOT NULL DEFAULT '',
    creation_time   timestamptz NOT NULL DEFAULT now(),
    update_time     timestamptz NOT NULL DEFAULT now(),
    UNIQUE (project_id, name)
);

CREATE TABLE webhook_job (
    id              serial PRIMARY KEY,
    policy_id       integer NOT NULL REFERENCES webhook_policy (id)
                        ON DELETE CASCADE,
    event_type      varchar(64) NOT NULL,
    payload         text NOT NULL,
    status          varchar(16) NOT NULL DEFAULT 'Pending',
    tries           integer NOT NULL DEFAULT 0,
    next_try        timestamptz NOT NULL DEFAULT now(),
    start_time      timestamptz NOT NULL DEFAULT now(),
    end_time        timestamptz,
    log             text NOT NULL DEFAULT ''
);

CREATE INDEX webhook_job_due ON webhook_job (next_try)
    WHERE status IN ('Pending', 'Running');
CREATE INDEX webhook_job_policy ON webhook_job (policy_id, id);
