-- ngx-harbor schema, migration 0010: password reset by email
-- (authd/reset.c, docs/authd.md).
--
-- One row per request of /c/sendEmail, for an address of a user or not,
-- so that requests are counted per address without saying which exist.
--
--   addr_hash    SHA-256 (hex) of the lowercased address
--   user_id      whose address it is, NULL if nobody's
--   token_hash   SHA-256 (hex) of the link's secret, NULL if none was sent
--   pw_fp        SHA-256 of the user's password hash when the link was
--                made: a password changed since voids the link
--   used_time    when the link reset the password (or was voided by it)
CREATE TABLE password_reset (
    id              serial PRIMARY KEY,
    addr_hash       char(64) NOT NULL,
    user_id         integer REFERENCES users (user_id) ON DELETE CASCADE,
    token_hash      char(64) UNIQUE,
    pw_fp           char(64),
    client_ip       varchar(64) NOT NULL DEFAULT '',
    creation_time   timestamptz NOT NULL DEFAULT now(),
    expires_time    timestamptz NOT NULL
                        DEFAULT now() + interval '30 minutes',
    used_time       timestamptz
);

CREATE INDEX password_reset_addr ON password_reset (addr_hash, creation_time);
CREATE INDEX password_reset_user ON password_reset (user_id, creation_time);
