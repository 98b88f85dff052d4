/*
 * authd: password reset by email, Harbor 1.x's flow and paths
 * (docs/authd.md, "Password reset by email").
 *
 *   GET  /c/sendEmail?email=ADDR    a link to reset the password goes to
 *        ADDR if it is a user's; the answer is the same either way
 *   POST /c/reset                   reset_uuid and password (a form or
 *        JSON): the password is set, the link is used up, every session
 *        and cached credential of the user ends
 *
 * The link carries 256 random bits; the table keeps their SHA-256 and the
 * fingerprint of the user's password hash at the time, so that a link
 * works once, for 30 minutes, and not after the password changed by any
 * way.  Every request leaves a row, a user's or not, and an audit entry,
 * both in one transaction, so that the answer's time does not depend on
 * whether the address is a user's.  The limits throttle a source
 * without locking the real user out (a stranger's requests do not count
 * against the user's own): more than RESET_ADDR_MAX requests for one
 * address from one client address in RESET_WINDOW, or RESET_IP_MAX from
 * one client address for any addresses, answer 429, whoever the address
 * belongs to; an account gets at most RESET_USER_IP_MAX links an hour
 * asked from one client address and RESET_USER_MAX from all of them,
 * the rest silently not sent (a flood of mail needs many sources, and
 * stops at RESET_USER_MAX).  A lock held to the commit makes count and
 * insert one step.  The mail goes out in a thread of its own (mail.c).
 * Only in db_auth mode: a directory's users change passwords there.
 */

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "authd.h"


#define RESET_TOKEN_BYTES   32
#define RESET_WINDOW        "15 minutes"
#define RESET_ADDR_MAX      3           /* per address and client address */
#define RESET_IP_MAX        10          /* per client address */
#define RESET_USER_IP_MAX   3           /* links per account, client address
                                           and hour */
#define RESET_USER_MAX      20          /* links per account and hour */

/* the SHA-256 of a text, hex, in SQL */
#define RESET_SHA(x)  "encode(sha256(convert_to(" x ", 'UTF8')), 'hex')"


/* a plausible address: one '@', no spaces, quotes or controls */
static int
reset_addr_ok(const char *s)
{
    const char  *at;
    size_t       len;

    len = strlen(s);
    at = strchr(s, '@');

    if (len < 3 || len > 255 || at == NULL || at == s || at[1] == '\0'
        || strchr(at + 1, '@') != NULL)
    {
        return 0;
    }

    for (; *s; s++) {
        if ((unsigned char) *s <= ' ' || *s == 0x7f
            || strchr("<>()[]\\,;:\"", *s) != NULL)
        {
            return 0;
        }
    }

    return 1;
}


void
reset_send_email(struct req *r)
{
    const char  *addr;
    char         token[RESET_TOKEN_BYTES * 2 + 1], *link, *text;
    unsigned char  rnd[RESET_TOKEN_BYTES];
    PGresult    *res;
    const char  *uid, *name, *ip;
    long         n;
    int          send;

    addr = http_arg(r, "email");
    if (addr == NULL || !reset_addr_ok(addr)) {
        http_error(r, 400, "a valid email address is required");
        return;
    }

    if (conf->auth_mode != AUTH_MODE_DB) {
        /* the same answer: the directory's users reset elsewhere */
        http_text(r, 200, NULL, "");
        return;
    }

    if (http_db(r) == NULL) {
        return;
    }

    (void) db_cmd(r->db, "DELETE FROM password_reset"
                  " WHERE creation_time < now() - interval '1 day'", 0);

    ip = http_client_ip(r);
    res = NULL;

    /* counts and insert as one step: requests queue on this lock */
    if (db_begin(r->db) != 0
        || db_cmd(r->db, "SELECT pg_advisory_xact_lock(hashtext("
                  "'password_reset'))", 0) < 0)
    {
        goto db_fail;
    }

    res = db_execv(r->db, "SELECT count(*) FILTER (WHERE addr_hash = "
                   RESET_SHA("lower($1)") "), count(*)"
                   " FROM password_reset WHERE client_ip = $2"
                   " AND creation_time > now() - interval '" RESET_WINDOW "'",
                   2, addr, ip);
    if (res == NULL) {
        goto db_fail;
    }

    if (strtol(db_s(res, 0, 0), NULL, 10) >= RESET_ADDR_MAX
        || strtol(db_s(res, 0, 1), NULL, 10) >= RESET_IP_MAX)
    {
        PQclear(res);
        db_rollback(r->db);
        http_header(r, "Retry-After", "900");
        http_error(r, 429, "too many password reset requests: try again "
                   "later");
        return;
    }
    PQclear(res);

    /* the user whose address it is, if one is, and links sent lately */
    res = db_execv(r->db, "SELECT u.user_id, u.username,"
                   " (SELECT count(*) FROM password_reset p"
                   "  WHERE p.user_id = u.user_id AND p.token_hash IS NOT NULL"
                   "  AND p.creation_time > now() - interval '1 hour'),"
                   " (SELECT count(*) FROM password_reset p"
                   "  WHERE p.user_id = u.user_id AND p.token_hash IS NOT NULL"
                   "  AND p.client_ip = $2"
                   "  AND p.creation_time > now() - interval '1 hour')"
                   " FROM users u WHERE lower(u.email) = lower($1)"
                   " AND u.email <> '' AND NOT u.deleted"
                   " ORDER BY u.user_id LIMIT 2", 2, addr, ip);
    if (res == NULL) {
        goto db_fail;
    }

    send = PQntuples(res) == 1
           && strtol(db_s(res, 0, 2), NULL, 10) < RESET_USER_MAX
           && strtol(db_s(res, 0, 3), NULL, 10) < RESET_USER_IP_MAX;

    randombytes_buf(rnd, sizeof(rnd));
    sodium_bin2hex(token, sizeof(token), rnd, sizeof(rnd));
    sodium_memzero(rnd, sizeof(rnd));

    uid = send ? db_s(res, 0, 0) : NULL;
    name = send ? db_s(res, 0, 1) : NULL;

    n = db_cmd(r->db, "INSERT INTO password_reset (addr_hash, user_id,"
               " token_hash, pw_fp, client_ip)"
               " SELECT " RESET_SHA("lower($1)") ", u.user_id,"
               " CASE WHEN u.user_id IS NULL THEN NULL ELSE "
               RESET_SHA("$3::text") " END,"
               " CASE WHEN u.user_id IS NULL THEN NULL ELSE "
               RESET_SHA("u.password") " END, $4"
               " FROM (SELECT 1) one LEFT JOIN users u"
               " ON u.user_id = $2::integer AND NOT u.deleted",
               4, addr, uid, token, ip);

    /* the same statements whoever's the address; the address itself is
       not kept in the audit log */
    if (n != 1
        || audit_add(r->db, 0, send ? name : "", "request", "password_reset",
                     send ? name : "",
                     send ? "a password reset link was sent"
                          : "a password reset was asked for an address of "
                            "no user, or over its limits: nothing sent",
                     send, ip) != 0
        || db_commit(r->db) != 0)
    {
        sodium_memzero(token, sizeof(token));
        goto db_fail;
    }

    if (send) {
        link = NULL;
        text = NULL;

        if (asprintf(&link, "%s/reset-password?reset_uuid=%s",
                     conf->external_url ? conf->external_url : "", token)
            < 0)
        {
            link = NULL;
        }

        if (link != NULL
            && asprintf(&text, "Hello %s,\n\n"
                        "someone asked to reset the password of your account"
                        " on %s.\nTo set a new one, open this link within 30"
                        " minutes; it works once:\n\n%s\n\n"
                        "If it was not you, ignore this mail: your password"
                        " stays as it is.\n", name,
                        conf->hostname ? conf->hostname : "the registry",
                        link) >= 0)
        {
            (void) mail_send(addr, "Reset your password", text);
        }

        if (link != NULL) {
            sodium_memzero(link, strlen(link));
            free(link);
        }
        if (text != NULL) {
            sodium_memzero(text, strlen(text));
            free(text);
        }
    }

    PQclear(res);
    sodium_memzero(token, sizeof(token));

    http_text(r, 200, NULL, "");
    return;

db_fail:

    PQclear(res);
    db_rollback(r->db);
    http_db_error(r);
}


/* a form field of an application/x-www-form-urlencoded body, decoded */
static char *
reset_form_field(struct req *r, const char *name)
{
    const char  *p, *end, *amp, *eq;
    size_t       nlen;
    char        *v;

    nlen = strlen(name);
    p = r->body;
    end = r->body + r->body_len;

    while (p < end) {
        amp = memchr(p, '&', (size_t) (end - p));
        if (amp == NULL) {
            amp = end;
        }
        eq = memchr(p, '=', (size_t) (amp - p));

        if (eq != NULL && (size_t) (eq - p) == nlen
            && memcmp(p, name, nlen) == 0)
        {
            v = req_alloc(r, (size_t) (amp - eq));
            if (v == NULL) {
                return NULL;
            }
            memcpy(v, eq + 1, (size_t) (amp - eq - 1));
            v[amp - eq - 1] = '\0';
            return http_decode(v, 1) == 0 ? v : NULL;
        }

        p = amp + 1;
    }

    return NULL;
}


void
reset_password(struct req *r)
{
    const char  *ctype, *uuid, *pw;
    json_t      *body;
    char         hash[256], err[256], uid[32];
    PGresult    *res;
    long         n;
    size_t       i;

    body = NULL;
    uuid = NULL;
    pw = NULL;

    if (conf->auth_mode != AUTH_MODE_DB) {
        http_error(r, 400, "password reset is not available: passwords "
                   "are managed by the directory");
        return;
    }

    ctype = http_header_in(r, "Content-Type");
    if (ctype != NULL && strncasecmp(ctype, "application/json", 16) == 0) {
        body = http_body_json(r);
        if (body == NULL) {
            return;
        }
        if (body_str(r, body, "reset_uuid", &uuid, 128) < 0
            || body_str(r, body, "password", &pw, AUTHD_PASSWORD_MAX) < 0)
        {
            goto done;
        }
    } else if (r->body != NULL) {
        uuid = reset_form_field(r, "reset_uuid");
        pw = reset_form_field(r, "password");
    }

    if (uuid == NULL || pw == NULL) {
        http_error(r, 400, "\"reset_uuid\" and \"password\" are required");
        goto done;
    }

    for (i = 0; uuid[i]; i++) {
        if (!isxdigit((unsigned char) uuid[i])) {
            break;
        }
    }

    if (i != RESET_TOKEN_BYTES * 2 || uuid[i] != '\0') {
        http_error(r, 400, "the reset link is invalid, used or expired");
        goto done;
    }

    if (!auth_password_ok(pw, err, sizeof(err))) {
        http_error(r, 400, "%s", err);
        goto done;
    }

    if (http_db(r) == NULL) {
        goto done;
    }

    /* a link unused, unexpired, of a password that has not changed */
    res = db_execv(r->db, "SELECT p.id, u.user_id, u.username"
                   " FROM password_reset p JOIN users u USING (user_id)"
                   " WHERE p.token_hash = " RESET_SHA("lower($1)")
                   " AND p.used_time IS NULL AND p.expires_time > now()"
                   " AND p.pw_fp = " RESET_SHA("u.password")
                   " AND NOT u.deleted", 1, uuid);
    if (res == NULL) {
        http_db_error(r);
        goto done;
    }

    if (PQntuples(res) != 1) {
        PQclear(res);
        http_error(r, 400, "the reset link is invalid, used or expired");
        goto done;
    }

    if (auth_hash(pw, strlen(pw), hash, sizeof(hash)) != 0) {
        PQclear(res);
        http_error(r, 500, "hashing the password failed");
        goto done;
    }

    /* the link used up and the password set, or neither */
    n = db_cmd(r->db, "WITH t AS (UPDATE password_reset SET used_time = now()"
               " WHERE id = $1 AND used_time IS NULL RETURNING user_id)"
               " UPDATE users SET password = $2, update_time = now()"
               " WHERE user_id = (SELECT user_id FROM t) AND NOT deleted",
               2, db_s(res, 0, 0), hash);
    sodium_memzero(hash, sizeof(hash));

    if (n < 0) {
        PQclear(res);
        http_db_error(r);
        goto done;
    }

    if (n != 1) {
        PQclear(res);
        http_error(r, 400, "the reset link is invalid, used or expired");
        goto done;
    }

    snprintf(uid, sizeof(uid), "%s", db_s(res, 0, 1));

    /* the user's other links: sessions end by themselves (pw_fp) */
    (void) db_cmd(r->db, "UPDATE password_reset SET used_time = now()"
                  " WHERE user_id = $1 AND used_time IS NULL", 1, uid);
    auth_forget(strtoll(uid, NULL, 10));

    audit_add(r->db, 0, db_s(res, 0, 2), "update", "password_reset",
              db_s(res, 0, 2), "the password was reset through a mailed "
              "link", 1, http_client_ip(r));
    log_info("password of user %s reset through a mailed link", uid);

    PQclear(res);
    http_text(r, 200, NULL, "");

done:

    json_decref(body);
}
