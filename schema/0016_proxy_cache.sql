-- ngx-harbor schema, migration 0016: proxy cache projects.
--
-- projects.registry_id (0001 made it, always 0): the registry endpoint
-- (replication_registry) a project is a proxy cache of, as in Harbor;
-- NULL now for a plain project, so that it can reference the registry,
-- which cannot be deleted while a proxy cache project uses it.  authd
-- writes <storage>/_policies/proxy/<project> for each such project for
-- the nginx module, which never asks the database (docs/policies.md).

ALTER TABLE projects ALTER COLUMN registry_id DROP NOT NULL,
                     ALTER COLUMN registry_id DROP DEFAULT;

UPDATE projects SET registry_id = NULL WHERE registry_id = 0;

ALTER TABLE projects ADD CONSTRAINT projects_registry_id_fkey
    FOREIGN KEY (registry_id) REFERENCES replication_registry (id);

CREATE INDEX projects_registry ON projects (registry_id)
    WHERE registry_id IS NOT NULL;
