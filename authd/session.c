/*
 * authd: the web UI's login sessions and their CSRF tokens.
 *
 *   POST /c/login      form principal, password: a session
 *   GET  /c/log_out    the session ends
 *
 * As Harbor's core: the browser keeps the session id in the cookie "sid"
 * (HttpOnly, SameSite=Lax, Secure under https) and sends every unsafe
 * request (anything but GET and HEAD) with the header
 * X-Harbor-CSRF-Token, whose value it learns from the login answer, from
 * the same header on every answer to the session, or from the cookie
 * "__csrf" (readable by the page, SameSite=Strict).  A request that
 * authenticates by Authorization header (Basic) is not a browser
 * session and needs no token: a cross-site page cannot make a browser
 * send one.
 *
 * Sessions are rows of the table "sessions" (schema/0003): they survive
 * a restart of authd.  The table holds a hash of the session id, never
 * the id.  A session ends after SESSION_IDLE seconds without a request,
 * SESSION_MAX seconds after the login, when the user is deleted, or when
 * the user's password changes.
 *
 * Failed logins are throttled as for Basic credentials, per address and
 * per account without locking the real user out (auth.c, http_login).
 */

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <microhttpd.h>
#include <sodium.h>

#include "authd.h"


#define SESSION_ID_BYTES     32
#define SESSION_HEX          (SESSION_ID_BYTES * 2)
#define SESSION_COOKIE       "sid"
#define SESSION_CSRF_COOKIE  "__csrf"
#define SESSION_CSRF_HEADER  "X-Harbor-CSRF-Token"

/* the session's validity, in SQL over sessions s and users u */
#define SESSION_VALID                                                       \
    " NOT u.deleted"                                                        \
    " AND s.pw_fp = encode(sha256(convert_to(u.password, 'UTF8')), 'hex')"  \
    " AND s.last_seen > now() - make_interval(secs => $2::integer)"         \
    " AND s.creation_time > now() - make_interval(secs => $3::integer)"



static int session_hex_ok(const char *s);
static void session_hash(const char *id, char out[SESSION_HEX + 1]);
static int session_secure(struct req *r);
static void session_cookies(struct req *r, const char *sid,
    const char *csrf);
static int session_form(struct req *r, const char *name, char *out,
    size_t size, size_t *len);
static int session_same_origin(struct req *r);


static int
session_hex_ok(const char *s)
{
    size_t  i;

    for (i = 0; i < SESSION_HEX; i++) {
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f'))) {
            return 0;
        }
    }

    return s[i] == '\0';
}


static void
session_hash(const char *id, char out[SESSION_HEX + 1])
{
    unsigned char  h[32];

    crypto_generichash(h, sizeof(h), (const unsigned char *) id,
                       strlen(id), NULL, 0);
    sodium_bin2hex(out, SESSION_HEX + 1, h, sizeof(h));
}


/* Under https (nginx says so, or the external URL is https): Secure. */
static int
session_secure(struct req *r)
{
    const char  *proto;

    proto = http_header_in(r, "X-Forwarded-Proto");
    if (proto != NULL) {
        return strcasecmp(proto, "https") == 0;
    }

    return conf->external_url != NULL
           && strncasecmp(conf->external_url, "https://", 8) == 0;
}


static void
session_cookies(struct req *r, const char *sid, const char *csrf)
{
    const char  *secure, *age;
    char        *c;

    secure = session_secure(r) ? "; Secure" : "";

    /* no Max-Age: gone with the browser; the server ends it sooner */
    age = sid[0] == '\0' ? "; Max-Age=0" : "";

    c = req_printf(r, SESSION_COOKIE "=%s; Path=/; HttpOnly; SameSite=Lax%s%s",
                   sid, secure, age);
    if (c != NULL) {
        http_header(r, "Set-Cookie", c);
    }

    c = req_printf(r, SESSION_CSRF_COOKIE "=%s; Path=/; SameSite=Strict%s%s",
                   csrf, secure, age);
    if (c != NULL) {
        http_header(r, "Set-Cookie", c);
    }
}


/*
 * The session of the cookie, for a request without an Authorization
 * header: 0 to go on (with r->user set, or anonymous), -1 answered.
 * An unknown or expired session is anonymous, and its cookie is cleared.
 */
int
session_authenticate(struct req *r)
{
    PGresult    *res;
    const char  *sid, *token, *csrf;
    char         hash[SESSION_HEX + 1], idle[16], max[16];
    int          touch;

    /* the login form replaces whatever session the browser had */
    if (r->nseg == 2 && strcmp(r->seg[0], "c") == 0
        && strcmp(r->seg[1], "login") == 0)
    {
        return 0;
    }

    sid = MHD_lookup_connection_value(r->conn, MHD_COOKIE_KIND,
                                      SESSION_COOKIE);
    if (sid == NULL) {
        return 0;
    }

    if (!session_hex_ok(sid)) {
        session_cookies(r, "", "");
        return 0;
    }

    if (http_db(r) == NULL) {
        return -1;
    }

    session_hash(sid, hash);
    snprintf(idle, sizeof(idle), "%d", SESSION_IDLE);
    snprintf(max, sizeof(max), "%d", SESSION_MAX);

    res = db_execv(r->db, "SELECT u.user_id, u.username,"
                   " u.sysadmin_flag OR s.dir_admin,"
                   " s.csrf, s.last_seen < now() - interval '60 seconds'"
                   " FROM sessions s JOIN users u ON u.user_id = s.user_id"
                   " WHERE s.id_hash = $1 AND" SESSION_VALID,
                   3, hash, idle, max);
    if (res == NULL) {
        http_db_error(r);
        return -1;
    }

    if (PQntuples(res) != 1) {
        PQclear(res);
        session_cookies(r, "", "");
        return 0;
    }

    csrf = db_s(res, 0, 3);
    touch = db_b(res, 0, 4);

    /* unsafe methods carry the session's token (Harbor CVE-2019-19025) */
    if (r->method != M_GET && r->method != M_HEAD) {
        token = http_header_in(r, SESSION_CSRF_HEADER);

        if (token == NULL || csrf == NULL || strlen(token) != SESSION_HEX
            || sodium_memcmp(token, csrf, SESSION_HEX) != 0)
        {
            PQclear(res);
            log_info("CSRF token missing or invalid: %s %.200s",
                     r->method_name, r->path);
            http_error(r, 403, "CSRF token invalid: reload the page and "
                       "try again");
            return -1;
        }
    }

    r->user.id = db_ll(res, 0, 0);
    snprintf(r->user.name, sizeof(r->user.name), "%s", db_s(res, 0, 1));
    r->user.sysadmin = db_b(res, 0, 2);
    r->authn = AUTHN_SESSION;

    http_header(r, SESSION_CSRF_HEADER, csrf);
    PQclear(res);

    /* idle timeout: last_seen moves, at most once a minute */
    if (touch && db_cmd(r->db, "UPDATE sessions SET last_seen = now()"
                        " WHERE id_hash = $1", 1, hash) < 0)
    {
        log_warnx("session of %s: last_seen not updated", r->user.name);
    }

    return 0;
}


/*
 * A field of the urlencoded form body, decoded into out (NUL-terminated):
 * 0 found, 1 absent, -1 malformed (bad escape, %00) or longer than size.
 */
static int
session_form(struct req *r, const char *name, char *out, size_t size,
    size_t *len)
{
    const char  *p, *end, *v, *amp;
    char        *raw;
    size_t       nlen, o;
    int          rc;

    nlen = strlen(name);
    p = r->body != NULL ? r->body : "";
    end = p + r->body_len;

    while (p < end) {
        amp = memchr(p, '&', (size_t) (end - p));
        if (amp == NULL) {
            amp = end;
        }

        if ((size_t) (amp - p) > nlen && strncmp(p, name, nlen) == 0
            && p[nlen] == '=')
        {
            /* decoded as query arguments are: a copy, then in place */
            v = p + nlen + 1;
            o = (size_t) (amp - v);
            if (memchr(v, '\0', o) != NULL) {
                return -1;
            }

            raw = req_alloc(r, o + 1);
            if (raw == NULL) {
                return -1;
            }
            memcpy(raw, v, o);
            raw[o] = '\0';

            rc = http_decode(raw, 1) == 0 && strlen(raw) < size ? 0 : -1;
            if (rc == 0) {
                *len = strlen(raw);
                memcpy(out, raw, *len + 1);
            }

            sodium_memzero(raw, o);

            return rc;
        }

        p = amp + 1;
    }

    return 1;
}


/*
 * Login CSRF: a page of another site must not log the browser in to an
 * account of its choosing.  Browsers send Origin with every POST and
 * Sec-Fetch-Site with every request; either one from elsewhere is
 * refused.  Clients that send neither (curl, scripts) are not browsers.
 */
static int
session_same_origin(struct req *r)
{
    const char  *origin, *site, *host, *o;

    site = http_header_in(r, "Sec-Fetch-Site");
    if (site != NULL && strcmp(site, "same-origin") != 0
        && strcmp(site, "none") != 0)
    {
        return 0;
    }

    origin = http_header_in(r, "Origin");
    if (origin == NULL) {
        return 1;
    }

    host = http_header_in(r, MHD_HTTP_HEADER_HOST);
    if (host == NULL) {
        return 0;
    }

    o = strstr(origin, "://");
    if (o == NULL) {
        return 0;
    }

    return strcmp(o + 3, host) == 0;
}


void
session_login(struct req *r)
{
    const char     *ctype;
    char            name[AUTHD_USER_MAX + 1], pw[AUTHD_PASSWORD_MAX + 1];
    char            sid[SESSION_HEX + 1], hash[SESSION_HEX + 1];
    char            csrf[SESSION_HEX + 1], uid[32], idle[16], max[16];
    unsigned char   rnd[SESSION_ID_BYTES];
    size_t          nlen, plen;
    int             rc;

    ctype = http_header_in(r, MHD_HTTP_HEADER_CONTENT_TYPE);
    if (ctype == NULL
        || strncasecmp(ctype, "application/x-www-form-urlencoded", 33) != 0)
    {
        http_error(r, 415, "log in with a form: Content-Type "
                   "application/x-www-form-urlencoded, fields principal "
                   "and password");
        return;
    }

    if (!session_same_origin(r)) {
        http_error(r, 403, "login from another site refused");
        return;
    }

    rc = session_form(r, "principal", name, sizeof(name), &nlen);
    if (rc == 0) {
        rc = session_form(r, "password", pw, sizeof(pw), &plen);
    }

    if (rc != 0) {
        sodium_memzero(pw, sizeof(pw));
        http_error(r, 400, rc < 0 ? "the login form is malformed or too "
                   "long" : "the login form needs principal and password");
        return;
    }

    rc = http_login(r, name, nlen, pw, plen);
    sodium_memzero(pw, sizeof(pw));

    if (rc != 0) {
        return;
    }

    randombytes_buf(rnd, sizeof(rnd));
    sodium_bin2hex(sid, sizeof(sid), rnd, sizeof(rnd));
    randombytes_buf(rnd, sizeof(rnd));
    sodium_bin2hex(csrf, sizeof(csrf), rnd, sizeof(rnd));
    sodium_memzero(rnd, sizeof(rnd));

    session_hash(sid, hash);
    snprintf(uid, sizeof(uid), "%lld", r->user.id);
    snprintf(idle, sizeof(idle), "%d", SESSION_IDLE);
    snprintf(max, sizeof(max), "%d", SESSION_MAX);

    /* the table keeps only live sessions */
    if (db_cmd(r->db, "DELETE FROM sessions WHERE last_seen < now()"
               " - make_interval(secs => $1::integer) OR creation_time"
               " < now() - make_interval(secs => $2::integer)",
               2, idle, max) < 0)
    {
        log_warnx("expired sessions not removed");
    }

    /* an admin through the directory's group stays one for the session */
    if (db_cmd(r->db, "INSERT INTO sessions (id_hash, user_id, csrf, pw_fp,"
               " client_ip, dir_admin) SELECT $1, user_id, $2,"
               " encode(sha256(convert_to(password, 'UTF8')), 'hex'), $4,"
               " $5::boolean AND NOT sysadmin_flag"
               " FROM users WHERE user_id = $3 AND NOT deleted",
               5, hash, csrf, uid, http_client_ip(r),
               r->user.sysadmin ? "t" : "f") != 1)
    {
        sodium_memzero(sid, sizeof(sid));
        http_db_error(r);
        return;
    }

    session_cookies(r, sid, csrf);
    sodium_memzero(sid, sizeof(sid));

    http_header(r, SESSION_CSRF_HEADER, csrf);
    http_header(r, "Cache-Control", "no-store");

    log_info("%s logged in", r->user.name);

    http_json(r, 200, json_pack("{s:I, s:s, s:b}",
                                "user_id", (json_int_t) r->user.id,
                                "username", r->user.name,
                                "sysadmin_flag", r->user.sysadmin));
}


void
session_logout(struct req *r)
{
    const char  *sid;
    char         hash[SESSION_HEX + 1];

    sid = MHD_lookup_connection_value(r->conn, MHD_COOKIE_KIND,
                                      SESSION_COOKIE);

    if (sid != NULL && session_hex_ok(sid)) {
        if (http_db(r) == NULL) {
            return;
        }

        session_hash(sid, hash);

        if (db_cmd(r->db, "DELETE FROM sessions WHERE id_hash = $1", 1,
                   hash) < 0)
        {
            http_db_error(r);
            return;
        }
    }

    session_cookies(r, "", "");
    http_header(r, "Cache-Control", "no-store");
    http_text(r, 200, "text/plain; charset=utf-8", "");
}
