-- ngx-harbor schema, migration 0013: immutable tag rules.
--
-- immutable_rule: one rule of a project: a repository selector and a tag
-- selector, each a doublestar pattern that matches or excludes.  A tag
-- some enabled rule selects cannot be moved or deleted.  The enabled
-- rules of a project are also written by authd to
-- <storage>/_policies/immutable/<project> for the nginx module, which
-- never asks the database (docs/policies.md).

CREATE TABLE immutable_rule (
    id              serial PRIMARY KEY,
    project_id      integer NOT NULL REFERENCES projects (project_id)
                        ON DELETE CASCADE,
    priority        integer NOT NULL DEFAULT 0,
    disabled        boolean NOT NULL DEFAULT false,
    repo_decoration varchar(16) NOT NULL
                        CHECK (repo_decoration IN ('repoMatches',
                                                   'repoExcludes')),
    repo_pattern    varchar(255) NOT NULL,
    tag_decoration  varchar(16) NOT NULL
                        CHECK (tag_decoration IN ('matches', 'excludes')),
    tag_pattern     varchar(255) NOT NULL,
    creation_time   timestamptz NOT NULL DEFAULT now(),
    update_time     timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX immutable_rule_project ON immutable_rule (project_id);
