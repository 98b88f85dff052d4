-- ngx-harbor schema, migration 0004: garbage collection (docs/gc.md).
--
-- gc_history: one row per run, Harbor's GCHistory plus what a run
-- reports as it goes:
--   job_kind       MANUAL or SCHEDULE
--   job_parameters the run's parameters, as JSON text (Harbor's shape)
--   job_status     Pending, Running, Success, Error, Stopped
--   progress       {"phase", "done", "total", "examined"}, JSON text
--   result         the worker's counts (blobs deleted, bytes freed...)
--   log            the worker's log lines, GET /system/gc/{id}/log
--   pid            the worker process while it runs
-- gc_schedule: the one schedule (id 1), type None | Hourly | Daily |
-- Weekly | Custom, a 6-field cron (seconds first, as Harbor's).
CREATE TABLE gc_history (
    id              serial PRIMARY KEY,
    job_name        varchar(64) NOT NULL DEFAULT 'GARBAGE_COLLECTION',
    job_kind        varchar(16) NOT NULL DEFAULT 'MANUAL',
    job_parameters  text NOT NULL DEFAULT '{}',
    job_status      varchar(16) NOT NULL DEFAULT 'Pending',
    deleted         boolean NOT NULL DEFAULT false,
    operator        varchar(255) NOT NULL DEFAULT '',
    progress        text NOT NULL DEFAULT '{}',
    result          text NOT NULL DEFAULT '{}',
    log             text NOT NULL DEFAULT '',
    pid             integer NOT NULL DEFAULT 0,
    creation_time   timestamptz NOT NULL DEFAULT now(),
    update_time     timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX gc_history_creation ON gc_history (creation_time);

CREATE TABLE gc_schedule (
    id              integer PRIMARY KEY CHECK (id = 1),
    type            varchar(16) NOT NULL DEFAULT 'None',
    cron            varchar(128) NOT NULL DEFAULT '',
    parameters      text NOT NULL DEFAULT '{}',
    last_run        timestamptz,
    creation_time   timestamptz NOT NULL DEFAULT now(),
    update_time     timestamptz NOT NULL DEFAULT now()
);
