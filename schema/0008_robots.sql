-- Robot accounts (Harbor's v2 robots): credentials for CI jobs, with
-- exactly the access stored here.  "name" is the full login name
-- (robot$<name>, robot$<project>+<name>); "secret" an argon2id string of
-- the secret, which is shown once and never stored in clear.
CREATE TABLE robot (
    id              serial PRIMARY KEY,
    name            varchar(255) NOT NULL,
    description     varchar(1024) NOT NULL DEFAULT '',
    secret          varchar(256) NOT NULL,
    level           varchar(16) NOT NULL CHECK (level IN ('system',
                                                          'project')),
    -- the project of a project-level robot
    project_id      integer REFERENCES projects (project_id)
                        ON DELETE CASCADE,
    duration        integer NOT NULL,            -- days, -1: never expires
    expires_at      bigint NOT NULL,             -- unix seconds, -1: never
    disabled        boolean NOT NULL DEFAULT false,
    creator         varchar(255) NOT NULL DEFAULT '',
    creation_time   timestamptz NOT NULL DEFAULT now(),
    update_time     timestamptz NOT NULL DEFAULT now(),
    CHECK ((level = 'project') = (project_id IS NOT NULL))
);

CREATE UNIQUE INDEX robot_name ON robot (lower(name));
CREATE INDEX robot_project ON robot (project_id);

-- What a robot may do, as it was granted (checked against its creator's
-- rights when it was created or last updated): per project, or every
-- project (project_id NULL, namespace "*", system robots only).
CREATE TABLE robot_permission (
    robot_id        integer NOT NULL REFERENCES robot (id)
                        ON DELETE CASCADE,
    project_id      integer REFERENCES projects (project_id)
                        ON DELETE CASCADE,
    namespace       varchar(255) NOT NULL,
    resource        varchar(32) NOT NULL,
    action          varchar(32) NOT NULL,
    CHECK ((namespace = '*') = (project_id IS NULL))
);

CREATE UNIQUE INDEX robot_permission_key ON robot_permission
    (robot_id, namespace, resource, action);
CREATE INDEX robot_permission_project ON robot_permission (project_id);
