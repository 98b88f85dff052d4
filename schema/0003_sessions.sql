-- ngx-harbor schema, migration 0003: the web UI's login sessions.
--
-- POST /c/login makes a row; the browser holds the session id in an
-- HttpOnly cookie.  Sessions live here, not in authd's memory, so a
-- restart of authd (or a second authd) keeps everyone logged in.
--
--   id_hash    BLAKE2b-256 of the session id, hex: the id itself is
--              only in the cookie, so a copy of this table logs no one in
--   csrf       the token that unsafe requests of the session carry in
--              X-Harbor-CSRF-Token
--   pw_fp      a fingerprint of the user's password hash at login: a
--              changed password ends every session of the user
--   last_seen  idle timeout; creation_time: absolute timeout
CREATE TABLE sessions (
    id_hash         char(64) PRIMARY KEY,
    user_id         integer NOT NULL REFERENCES users (user_id)
                        ON DELETE CASCADE,
    csrf            char(64) NOT NULL,
    pw_fp           char(64) NOT NULL,
    client_ip       varchar(64) NOT NULL DEFAULT '',
    creation_time   timestamptz NOT NULL DEFAULT now(),
    last_seen       timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX sessions_user ON sessions (user_id);
CREATE INDEX sessions_last_seen ON sessions (last_seen);
