-- ngx-harbor schema, migration 0014: tag retention.
--
-- retention_policy: a project's one policy: its rules (Harbor's
-- RetentionRule objects, rebuilt by authd from the fields it accepts) and
-- its schedule (cron, '' for none).  last_fired: the minute the schedule
-- last started a run, so that it starts one per minute at most.
-- retention_execution: one run, dry or not; retention_task: one
-- repository of a run, with what it kept and removed in its log.

CREATE TABLE retention_policy (
    id              serial PRIMARY KEY,
    project_id      integer NOT NULL UNIQUE REFERENCES projects (project_id)
                        ON DELETE CASCADE,
    algorithm       varchar(16) NOT NULL DEFAULT 'or',
    rules           jsonb NOT NULL DEFAULT '[]',
    cron            varchar(255) NOT NULL DEFAULT '',
    last_fired      timestamptz,
    creation_time   timestamptz NOT NULL DEFAULT now(),
    update_time     timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE retention_execution (
    id              serial PRIMARY KEY,
    policy_id       integer NOT NULL REFERENCES retention_policy (id)
                        ON DELETE CASCADE,
    status          varchar(16) NOT NULL DEFAULT 'Pending',
    trigger         varchar(16) NOT NULL,
    dry_run         boolean NOT NULL DEFAULT false,
    username        varchar(255) NOT NULL DEFAULT '',
    start_time      timestamptz NOT NULL DEFAULT now(),
    end_time        timestamptz
);

CREATE INDEX retention_execution_policy ON retention_execution (policy_id);

CREATE TABLE retention_task (
    id              serial PRIMARY KEY,
    execution_id    integer NOT NULL REFERENCES retention_execution (id)
                        ON DELETE CASCADE,
    repository      varchar(255) NOT NULL,
    status          varchar(16) NOT NULL DEFAULT 'Running',
    total           integer NOT NULL DEFAULT 0,
    retained        integer NOT NULL DEFAULT 0,
    log             text NOT NULL DEFAULT '',
    start_time      timestamptz NOT NULL DEFAULT now(),
    end_time        timestamptz
);

CREATE INDEX retention_task_execution ON retention_task (execution_id);
