-- ngx-harbor schema, migration 0001: users, projects, members, roles.
--
-- Applied by authd at start, in one transaction with the other pending
-- migrations, and recorded in schema_migrations.  Never edit a migration
-- once released: add the next number instead.
-- Column names follow Harbor's; table names are plural (users, projects,
-- roles) where Harbor's are singular.

CREATE TABLE roles (
    role_id         integer PRIMARY KEY,
    name            varchar(255) NOT NULL UNIQUE
);

-- Harbor's role ids: clients send these numbers
INSERT INTO roles (role_id, name) VALUES
    (1, 'projectAdmin'),
    (2, 'developer'),
    (3, 'guest'),
    (4, 'maintainer'),
    (5, 'limitedGuest');

CREATE TABLE users (
    user_id         serial PRIMARY KEY,
    username        varchar(255) NOT NULL,
    email           varchar(255),
    realname        varchar(255) NOT NULL DEFAULT '',
    comment         varchar(1024) NOT NULL DEFAULT '',
    -- argon2id string (crypto_pwhash_str); '' when the user cannot log in
    -- with a password of ours (LDAP users)
    password        varchar(256) NOT NULL DEFAULT '',
    sysadmin_flag   boolean NOT NULL DEFAULT false,
    deleted         boolean NOT NULL DEFAULT false,
    creation_time   timestamptz NOT NULL DEFAULT now(),
    update_time     timestamptz NOT NULL DEFAULT now(),
    CHECK (username <> '')
);

-- one spelling per name and per email, whatever the case; a deleted user
-- is renamed "name#id" (as Harbor does) so the name can be reused
CREATE UNIQUE INDEX users_username ON users (lower(username));
CREATE UNIQUE INDEX users_email ON users (lower(email));

CREATE TABLE projects (
    project_id      serial PRIMARY KEY,
    name            varchar(255) NOT NULL UNIQUE,
    owner_id        integer NOT NULL REFERENCES users (user_id),
    registry_id     integer NOT NULL DEFAULT 0,
    deleted         boolean NOT NULL DEFAULT false,
    creation_time   timestamptz NOT NULL DEFAULT now(),
    update_time     timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE project_metadata (
    id              serial PRIMARY KEY,
    project_id      integer NOT NULL REFERENCES projects (project_id)
                        ON DELETE CASCADE,
    name            varchar(255) NOT NULL,
    value           varchar(255),
    creation_time   timestamptz NOT NULL DEFAULT now(),
    update_time     timestamptz NOT NULL DEFAULT now(),
    UNIQUE (project_id, name)
);

-- group_type: 1 LDAP, 2 HTTP, 3 OIDC (Harbor's numbers)
CREATE TABLE user_group (
    id              serial PRIMARY KEY,
    group_name      varchar(255) NOT NULL,
    group_type      smallint NOT NULL DEFAULT 1,
    ldap_group_dn   varchar(512) NOT NULL DEFAULT '',
    creation_time   timestamptz NOT NULL DEFAULT now(),
    update_time     timestamptz NOT NULL DEFAULT now(),
    CHECK (group_name <> '')
);

CREATE UNIQUE INDEX user_group_name ON user_group (group_type, group_name);

-- which groups a user was in when last authenticated (LDAP fills this)
CREATE TABLE user_group_member (
    user_id         integer NOT NULL REFERENCES users (user_id)
                        ON DELETE CASCADE,
    group_id        integer NOT NULL REFERENCES user_group (id)
                        ON DELETE CASCADE,
    PRIMARY KEY (user_id, group_id)
);

-- entity_id is a user_id ('u') or a user_group id ('g')
CREATE TABLE project_member (
    id              serial PRIMARY KEY,
    project_id      integer NOT NULL REFERENCES projects (project_id)
                        ON DELETE CASCADE,
    entity_id       integer NOT NULL,
    entity_type     char(1) NOT NULL CHECK (entity_type IN ('u', 'g')),
    role            integer NOT NULL REFERENCES roles (role_id),
    creation_time   timestamptz NOT NULL DEFAULT now(),
    update_time     timestamptz NOT NULL DEFAULT now(),
    UNIQUE (project_id, entity_id, entity_type)
);

CREATE INDEX project_member_entity ON project_member (entity_type, entity_id);
