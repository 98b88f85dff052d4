/*
 * authd: HTTP through libmicrohttpd.
 *
 * nginx proxies /service/token, /api/v2.0/ and /c/ to a unix socket that
 * authd creates itself (mode 0660) and hands to libmicrohttpd; a TCP
 * port on 127.0.0.1 may be added for tests.  A pool of worker threads
 * serves requests; each request takes a database connection from the
 * pool only when it needs one.
 *
 * Routing works on the path split into segments, each percent-decoded on
 * its own (libmicrohttpd's own unescaping is turned off), and on the
 * same parsed path the handlers authorize.  Errors are Harbor's:
 *     {"errors":[{"code":"NOT_FOUND","message":"..."}]}
 */

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <netinet/in.h>
#include <arpa/inet.h>

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include <microhttpd.h>
#include <sodium.h>

#include "authd.h"


struct req_alloc {
    struct req_alloc  *next;
    char               data[];
};

struct route {
    int          methods;
    const char  *pattern;       /* '*' matches one segment */
    void       (*fn)(struct req *);
};

static const struct route  routes[] = {
    { M_GET,            "/service/token",                  token_handle },

    { M_GET,            "/api/v2.0/ping",                  api_ping },
    { M_GET,            "/api/v2.0/health",                api_health },
    { M_GET,            "/api/v2.0/systeminfo",            api_systeminfo },

    { M_HEAD,           "/api/v2.0/projects",              api_projects_head },
    { M_GET | M_POST,   "/api/v2.0/projects",              api_projects },
    { M_GET | M_PUT | M_DELETE,
                        "/api/v2.0/projects/*",            api_project },
    { M_GET,            "/api/v2.0/projects/*/summary",
                                                       api_project_summary },
    { M_GET | M_POST,   "/api/v2.0/projects/*/members",    api_members },
    { M_GET | M_PUT | M_DELETE,
                        "/api/v2.0/projects/*/members/*",  api_member },

    { M_GET | M_POST,   "/api/v2.0/users",                 api_users },
    { M_GET,            "/api/v2.0/users/current",         api_user_current },
    { M_GET,            "/api/v2.0/users/search",          api_user_search },
    { M_GET | M_PUT | M_DELETE,
                        "/api/v2.0/users/*",               api_user },
    { M_PUT,            "/api/v2.0/users/*/password",      api_user_password },
    { M_PUT,            "/api/v2.0/users/*/sysadmin",      api_user_sysadmin },

    { M_GET,            "/api/v2.0/repositories",
                                                      api_repositories_all },
    { M_GET,            "/api/v2.0/projects/*/repositories",
                                                          api_repositories },
    { M_GET | M_PUT | M_DELETE,
                        "/api/v2.0/projects/*/repositories/*", api_repository },
    { M_GET,            "/api/v2.0/projects/*/repositories/*/artifacts",
                                                             api_artifacts },
    { M_GET | M_DELETE, "/api/v2.0/projects/*/repositories/*/artifacts/*",
                                                             api_artifact },
    { M_GET | M_POST,   "/api/v2.0/projects/*/repositories/*/artifacts/*/tags",
                                                             api_tags },
    { M_DELETE,
                "/api/v2.0/projects/*/repositories/*/artifacts/*/tags/*",
                                                             api_tag },
    { M_GET,            "/api/v2.0/projects/*/logs",       api_project_logs },
    { M_GET,            "/api/v2.0/audit-logs",            api_audit_logs },
    { M_GET,            "/api/v2.0/search",                api_search },
    { M_GET,            "/api/v2.0/statistics",            api_statistics },
    { M_GET | M_POST,   "/api/v2.0/system/reindex",        api_reindex },
    { M_GET,            "/api/v2.0/system/gc",             api_gc_list },
    { M_GET | M_POST | M_PUT,
                        "/api/v2.0/system/gc/schedule",    api_gc_schedule },
    { M_GET | M_PUT,    "/api/v2.0/system/gc/*",           api_gc_one },
    { M_GET,            "/api/v2.0/system/gc/*/log",       api_gc_log },

    { M_POST,           "/c/login",                        session_login },
    { M_GET,            "/c/log_out",                      session_logout },
};

static struct MHD_Daemon  *http_unix;
static struct MHD_Daemon  *http_tcp;
static int                 http_fd = -1;

static enum MHD_Result http_access(void *cls, struct MHD_Connection *conn,
    const char *url, const char *method, const char *version,
    const char *upload_data, size_t *upload_data_size, void **con_cls);
static void http_completed(void *cls, struct MHD_Connection *conn,
    void **con_cls, enum MHD_RequestTerminationCode toe);
static void http_dispatch(struct req *r, const char *url);
static enum MHD_Result http_respond(struct req *r);


/* libmicrohttpd must not decode: segments are decoded one by one */
static size_t
http_unescape(void *cls, struct MHD_Connection *c, char *s)
{
    (void) cls;
    (void) c;

    return strlen(s);
}


static void
http_mhd_log(void *cls, const char *fmt, va_list ap)
{
    char  buf[512];

    (void) cls;

    vsnprintf(buf, sizeof(buf), fmt, ap);
    buf[strcspn(buf, "\n")] = '\0';
    log_debug("microhttpd: %s", buf);
}


static int
http_hex(int c)
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }
    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }
    if (c >= 'A' && c <= 'F') {
        return c - 'A' + 10;
    }
    return -1;
}


/* Percent-decode in place; '+' is a space if plus.  -1 on %00 or a bad %. */
int
http_decode(char *s, int plus)
{
    char  *o;
    int    h, l;

    for (o = s; *s; s++) {
        if (*s == '%') {
            h = http_hex((unsigned char) s[1]);
            l = h >= 0 ? http_hex((unsigned char) s[2]) : -1;
            if (h < 0 || l < 0 || (h == 0 && l == 0)) {
                return -1;
            }
            *o++ = (char) (h << 4 | l);
            s += 2;

        } else if (plus && *s == '+') {
            *o++ = ' ';

        } else {
            *o++ = *s;
        }
    }

    *o = '\0';

    return 0;
}


/* the allocator of requests: unit tests make it fail (authd/tests/unit.c) */
void *(*req_calloc)(size_t n, size_t size) = calloc;


void *
req_alloc(struct req *r, size_t n)
{
    struct req_alloc  *a;

    a = req_calloc(1, sizeof(struct req_alloc) + n);
    if (a == NULL) {
        return NULL;
    }

    a->next = r->allocs;
    r->allocs = a;

    return a->data;
}


/* what req_alloc() gave the request, all at once */
void
req_free_all(struct req *r)
{
    struct req_alloc  *a, *n;

    for (a = r->allocs; a != NULL; a = n) {
        n = a->next;
        free(a);
    }

    r->allocs = NULL;
}


char *
req_strdup(struct req *r, const char *s)
{
    size_t  n;
    char   *p;

    n = strlen(s);
    p = req_alloc(r, n + 1);
    if (p != NULL) {
        memcpy(p, s, n + 1);
    }

    return p;
}


char *
req_printf(struct req *r, const char *fmt, ...)
{
    va_list  ap;
    int      n;
    char    *p;

    va_start(ap, fmt);
    n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);

    if (n < 0) {
        return NULL;
    }

    p = req_alloc(r, (size_t) n + 1);
    if (p == NULL) {
        return NULL;
    }

    va_start(ap, fmt);
    vsnprintf(p, (size_t) n + 1, fmt, ap);
    va_end(ap);

    return p;
}


const char *
http_arg(struct req *r, const char *name)
{
    const char  *raw;
    char        *s;

    raw = MHD_lookup_connection_value(r->conn, MHD_GET_ARGUMENT_KIND, name);
    if (raw == NULL) {
        return NULL;
    }

    s = req_strdup(r, raw);
    if (s == NULL || http_decode(s, 1) != 0) {
        return NULL;
    }

    return s;
}


struct http_args_ctx {
    struct req   *r;
    const char   *name;
    const char  **out;
    int           max;
    int           n;
};


static enum MHD_Result
http_args_cb(void *cls, enum MHD_ValueKind kind, const char *key,
    const char *value)
{
    struct http_args_ctx  *a = cls;
    char                  *s;

    (void) kind;

    if (strcmp(key, a->name) != 0 || value == NULL) {
        return MHD_YES;
    }

    if (a->n >= a->max) {
        a->n = a->max + 1;
        return MHD_NO;
    }

    s = req_strdup(a->r, value);
    if (s != NULL && http_decode(s, 1) == 0) {
        a->out[a->n++] = s;
    }

    return MHD_YES;
}


static enum MHD_Result
http_arg_bad_cb(void *cls, enum MHD_ValueKind kind, const char *key,
    const char *value)
{
    struct req  *r = cls;
    char        *s;

    (void) kind;

    s = req_strdup(r, value != NULL ? value : "");
    if (s != NULL && http_decode(s, 1) != 0) {
        r->bad_arg = key;
        return MHD_NO;
    }

    return MHD_YES;
}


/* Every value of a repeated argument; max + 1 if there are too many. */
int
http_args(struct req *r, const char *name, const char **out, int max)
{
    struct http_args_ctx  a;

    a.r = r;
    a.name = name;
    a.out = out;
    a.max = max;
    a.n = 0;

    MHD_get_connection_values(r->conn, MHD_GET_ARGUMENT_KIND, http_args_cb,
                              &a);

    return a.n;
}


const char *
http_header_in(struct req *r, const char *name)
{
    return MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, name);
}


void
http_header(struct req *r, const char *name, const char *value)
{
    if (r->nhdr >= (int) nitems(r->hdr_name)) {
        log_warnx("too many response headers");
        return;
    }

    r->hdr_name[r->nhdr] = req_strdup(r, name);
    r->hdr_value[r->nhdr] = req_strdup(r, value);

    if (r->hdr_name[r->nhdr] != NULL && r->hdr_value[r->nhdr] != NULL) {
        r->nhdr++;
    }
}


static void
http_set_body(struct req *r, int status, const char *ctype, char *body,
    size_t len)
{
    free(r->resp);
    r->status = status;
    r->ctype = ctype;
    r->resp = body;
    r->resp_len = len;
}


void
http_json(struct req *r, int status, json_t *j)
{
    char  *s;

    s = j != NULL ? json_dumps(j, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
    json_decref(j);

    if (s == NULL) {
        http_error(r, 500, "out of memory");
        return;
    }

    http_set_body(r, status, "application/json; charset=utf-8", s,
                  strlen(s));
}


void
http_text(struct req *r, int status, const char *ctype, const char *text)
{
    char  *s;

    s = strdup(text);
    if (s == NULL) {
        http_error(r, 500, "out of memory");
        return;
    }

    http_set_body(r, status, ctype, s, strlen(s));
}


static const char *
http_code(int status)
{
    switch (status) {
    case 400: return "BAD_REQUEST";
    case 401: return "UNAUTHORIZED";
    case 403: return "FORBIDDEN";
    case 404: return "NOT_FOUND";
    case 405: return "METHOD_NOT_ALLOWED";
    case 409: return "CONFLICT";
    case 412: return "PRECONDITION";
    case 413: return "PAYLOAD_TOO_LARGE";
    case 415: return "UNSUPPORTED_MEDIA_TYPE";
    case 429: return "TOO_MANY_REQUESTS";
    case 503: return "SERVICE_UNAVAILABLE";
    default:  return "UNKNOWN";
    }
}


void
http_error(struct req *r, int status, const char *fmt, ...)
{
    char     msg[1024], *s;
    json_t  *j;
    va_list  ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);

    j = json_pack("{s:[{s:s, s:s}]}", "errors", "code", http_code(status),
                  "message", msg);
    s = j != NULL ? json_dumps(j, JSON_COMPACT) : NULL;
    json_decref(j);

    if (s == NULL) {
        s = strdup("{\"errors\":[{\"code\":\"UNKNOWN\","
                   "\"message\":\"out of memory\"}]}");
        status = 500;
    }

    http_set_body(r, status, "application/json; charset=utf-8", s,
                  s != NULL ? strlen(s) : 0);
}


void
http_db_error(struct req *r)
{
    int  err;

    err = r->db != NULL ? r->db->err : DB_ERR_CONN;

    switch (err) {
    case DB_ERR_CONN:
        http_error(r, 503, "the database is unavailable; try again later");
        break;
    case DB_ERR_CONFLICT:
        http_error(r, 409, "conflict with an existing resource");
        break;
    default:
        http_error(r, 500, "internal error");
        break;
    }
}


struct dbc *
http_db(struct req *r)
{
    if (r->db == NULL) {
        r->db = db_get();
        if (r->db == NULL) {
            http_error(r, 503, "the database is unavailable; try again "
                       "later");
        }
    }

    return r->db;
}


int
http_need_user(struct req *r)
{
    if (r->user.id == 0) {
        http_error(r, 401, "authentication required");
        return -1;
    }

    return 0;
}


int
http_need_sysadmin(struct req *r)
{
    if (http_need_user(r) != 0) {
        return -1;
    }

    if (!r->user.sysadmin) {
        http_error(r, 403, "only system administrators may do this");
        return -1;
    }

    return 0;
}


json_t *
http_body_json(struct req *r)
{
    json_t        *j;
    json_error_t   err;

    if (r->body_len == 0) {
        http_error(r, 400, "a JSON request body is required");
        return NULL;
    }

    j = json_loadb(r->body, r->body_len, JSON_REJECT_DUPLICATES, &err);
    if (j == NULL) {
        http_error(r, 400, "invalid JSON in the request body: %s", err.text);
        return NULL;
    }

    if (!json_is_object(j)) {
        json_decref(j);
        http_error(r, 400, "the request body must be a JSON object");
        return NULL;
    }

    return j;
}


int
body_str(struct req *r, json_t *o, const char *key, const char **out,
    size_t max)
{
    json_t  *v;

    *out = NULL;
    v = json_object_get(o, key);

    if (v == NULL || json_is_null(v)) {
        return 1;
    }

    if (!json_is_string(v)) {
        http_error(r, 400, "\"%s\" must be a string", key);
        return -1;
    }

    if (json_string_length(v) > max) {
        http_error(r, 400, "\"%s\" is longer than %zu bytes", key, max);
        return -1;
    }

    if (strlen(json_string_value(v)) != json_string_length(v)) {
        http_error(r, 400, "\"%s\" must not contain NUL", key);
        return -1;
    }

    *out = json_string_value(v);

    return 0;
}


int
body_bool(struct req *r, json_t *o, const char *key, int *out)
{
    json_t  *v;

    v = json_object_get(o, key);

    if (v == NULL || json_is_null(v)) {
        return 1;
    }

    if (!json_is_boolean(v)) {
        http_error(r, 400, "\"%s\" must be true or false", key);
        return -1;
    }

    *out = json_is_true(v);

    return 0;
}


int
body_int(struct req *r, json_t *o, const char *key, long long *out)
{
    json_t  *v;

    v = json_object_get(o, key);

    if (v == NULL || json_is_null(v)) {
        return 1;
    }

    if (!json_is_integer(v)) {
        http_error(r, 400, "\"%s\" must be an integer", key);
        return -1;
    }

    *out = json_integer_value(v);

    return 0;
}


static long
http_num(const char *s, long max)
{
    long  v;

    if (s == NULL || *s == '\0' || strlen(s) > 9) {
        return -1;
    }

    for (v = 0; *s; s++) {
        if (*s < '0' || *s > '9') {
            return -1;
        }
        v = v * 10 + (*s - '0');
    }

    return v > max ? max : v;
}


int
http_page(struct req *r, long *page, long *page_size)
{
    const char  *s;

    *page = 1;
    *page_size = AUTHD_PAGE_SIZE;

    s = http_arg(r, "page");
    if (s != NULL) {
        *page = http_num(s, 100000000);
        if (*page < 1) {
            http_error(r, 400, "\"page\" must be a positive integer");
            return -1;
        }
    }

    s = http_arg(r, "page_size");
    if (s != NULL) {
        /* capped: a client cannot ask for the whole table at once */
        *page_size = http_num(s, AUTHD_PAGE_SIZE_MAX);
        if (*page_size < 1) {
            http_error(r, 400, "\"page_size\" must be a positive integer");
            return -1;
        }
    }

    return 0;
}


struct http_link_ctx {
    struct req  *r;
    char         buf[2048];
    size_t       len;
    int          over;
};


static void
http_link_add(struct http_link_ctx *l, const char *s, int encode)
{
    static const char  hex[] = "0123456789ABCDEF";
    unsigned char      c;

    for ( ; *s; s++) {
        if (l->len + 4 >= sizeof(l->buf)) {
            l->over = 1;
            return;
        }

        c = (unsigned char) *s;

        if (!encode || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
            || (c >= '0' && c <= '9') || c == '-' || c == '_' || c == '.'
            || c == '~')
        {
            l->buf[l->len++] = (char) c;

        } else {
            l->buf[l->len++] = '%';
            l->buf[l->len++] = hex[c >> 4];
            l->buf[l->len++] = hex[c & 0xf];
        }
    }

    l->buf[l->len] = '\0';
}


static enum MHD_Result
http_link_cb(void *cls, enum MHD_ValueKind kind, const char *key,
    const char *value)
{
    struct http_link_ctx  *l = cls;
    char                  *k, *v;

    (void) kind;

    if (strcmp(key, "page") == 0 || strcmp(key, "page_size") == 0) {
        return MHD_YES;
    }

    k = req_strdup(l->r, key);
    v = req_strdup(l->r, value != NULL ? value : "");
    if (k == NULL || v == NULL || http_decode(k, 1) != 0
        || http_decode(v, 1) != 0)
    {
        return MHD_YES;
    }

    http_link_add(l, "&", 0);
    http_link_add(l, k, 1);
    http_link_add(l, "=", 0);
    http_link_add(l, v, 1);

    return MHD_YES;
}


void
http_page_links(struct req *r, long page, long page_size, long long total)
{
    struct http_link_ctx  l;
    char                  count[32], *link, *prev, *next;

    snprintf(count, sizeof(count), "%lld", total);
    http_header(r, "X-Total-Count", count);

    memset(&l, 0, sizeof(l));
    l.r = r;

    MHD_get_connection_values(r->conn, MHD_GET_ARGUMENT_KIND, http_link_cb,
                              &l);
    if (l.over) {
        return;
    }

    prev = NULL;
    next = NULL;

    if (page > 1) {
        prev = req_printf(r, "<%s?page=%ld&page_size=%ld%s>; rel=\"prev\"",
                          r->path, page - 1, page_size, l.buf);
    }

    if ((long long) page * page_size < total) {
        next = req_printf(r, "<%s?page=%ld&page_size=%ld%s>; rel=\"next\"",
                          r->path, page + 1, page_size, l.buf);
    }

    if (prev != NULL && next != NULL) {
        link = req_printf(r, "%s , %s", prev, next);

    } else {
        link = prev != NULL ? prev : next;
    }

    if (link != NULL) {
        http_header(r, "Link", link);
    }
}


/*
 * A path segment decoded a second time: Harbor's clients encode a
 * repository name twice ("a%252Fb"); one decoding was done with the
 * other segments.  A name encoded once ("a%2Fb") is decoded already and
 * passes unchanged.  -1 on a bad escape.
 */
int
http_decode_segment(char *s)
{
    return http_decode(s, 0);
}


/* ?name=true|false; 0, or -1 with 400 sent */
int
http_bool_arg(struct req *r, const char *name, int dflt, int *out)
{
    const char  *s;

    *out = dflt;

    s = http_arg(r, name);
    if (s == NULL || s[0] == '\0') {
        return 0;
    }

    if (strcmp(s, "true") == 0) {
        *out = 1;

    } else if (strcmp(s, "false") == 0) {
        *out = 0;

    } else {
        http_error(r, 400, "\"%s\" must be true or false", name);
        return -1;
    }

    return 0;
}


/*
 * The client's address for the audit log: the last X-Forwarded-For
 * entry, which our nginx adds (what came before it the client wrote
 * itself); "" if there is none or it does not look like an address.
 */
const char *
http_client_ip(struct req *r)
{
    const char  *h, *p;
    size_t       len, i;

    h = http_header_in(r, "X-Forwarded-For");
    if (h == NULL) {
        return "";
    }

    p = strrchr(h, ',');
    p = p != NULL ? p + 1 : h;

    while (*p == ' ') {
        p++;
    }

    len = strcspn(p, " ");
    if (len == 0 || len > 63) {
        return "";
    }

    for (i = 0; i < len; i++) {
        if (!((p[i] >= '0' && p[i] <= '9') || (p[i] >= 'a' && p[i] <= 'f')
              || (p[i] >= 'A' && p[i] <= 'F') || p[i] == '.' || p[i] == ':'))
        {
            return "";
        }
    }

    return req_printf(r, "%.*s", (int) len, p);
}


/* "Basic <base64(user:password)>"; 0 on success */
int
http_basic(const char *h, char *user, size_t ulen, char *pw, size_t plen,
    size_t *plen_out)
{
    unsigned char   buf[AUTHD_AUTH_MAX];
    size_t          n, i;
    const char     *b64;

    if (strlen(h) > AUTHD_AUTH_MAX || strncasecmp(h, "Basic ", 6) != 0) {
        return -1;
    }

    b64 = h + 6;
    while (*b64 == ' ') {
        b64++;
    }

    if (sodium_base642bin(buf, sizeof(buf), b64, strlen(b64), NULL, &n,
                          NULL, sodium_base64_VARIANT_ORIGINAL) != 0)
    {
        return -1;
    }

    for (i = 0; i < n && buf[i] != ':'; i++) {
        /* void */
    }

    if (i == n || i >= ulen || n - i - 1 >= plen) {
        sodium_memzero(buf, sizeof(buf));
        return -1;
    }

    memcpy(user, buf, i);
    user[i] = '\0';
    memcpy(pw, buf + i + 1, n - i - 1);
    pw[n - i - 1] = '\0';
    *plen_out = n - i - 1;

    sodium_memzero(buf, sizeof(buf));

    return 0;
}


/* Credentials, if any: 0 to go on (anonymous or known), -1 answered. */
static int
http_authenticate(struct req *r)
{
    const char  *h;
    char         name[AUTHD_USER_MAX + 1], pw[AUTHD_PASSWORD_MAX + 1];
    size_t       plen;
    int          rc;

    h = http_header_in(r, MHD_HTTP_HEADER_AUTHORIZATION);
    if (h == NULL) {
        /* the UI's session cookie, if any (session.c) */
        return session_authenticate(r);
    }

    r->authn = AUTHN_CREDENTIALS;

    if (http_basic(h, name, sizeof(name), pw, sizeof(pw), &plen) != 0) {
        http_error(r, 401, "invalid credentials: use HTTP Basic "
                   "authentication with a username and password");
        return -1;
    }

    rc = http_login(r, name, strlen(name), pw, plen);
    sodium_memzero(pw, sizeof(pw));

    return rc;
}


/*
 * Credentials of this request, for the API, the token service and the
 * UI's login alike: 0 with r->user set, or -1 with the answer sent (503,
 * 401 with an audit row, or 429 when the address or account is
 * throttled: that costs neither a query nor argon2id, see auth.c).
 */
int
http_login(struct req *r, const char *name, size_t nlen, const char *pw,
    size_t plen)
{
    const char  *ip;
    char         s[32];
    long         wait;
    int          rc, n;

    ip = http_client_ip(r);

    if (http_db(r) == NULL) {
        return -1;
    }

    rc = auth_user(r->db, name, nlen, pw, plen, ip, &r->user, &wait);

    switch (rc) {

    case AUTH_OK:
        return 0;

    case AUTH_ERROR:
        http_db_error(r);
        return -1;

    case AUTH_THROTTLED:
        log_debug("login throttled for \"%.64s\"", name);
        n = snprintf(s, sizeof(s), "%ld", wait);
        if (n > 0 && n < (int) sizeof(s)) {
            http_header(r, "Retry-After", s);
        }
        http_error(r, 429, "too many failed logins from your address or "
                   "for this account; try again in %ld seconds", wait);
        return -1;
    }

    log_info("authentication failed for \"%.64s\"", name);

    /* failed logins are what an audit log is read for */
    if (audit_add(r->db, 0, name, "login", "user", name,
                  "invalid username or password", 0, ip) != 0)
    {
        log_warnx("audit log: a failed login was not recorded");
    }

    http_error(r, 401, "invalid username or password");

    return -1;
}


static int
http_route(struct req *r, const struct route **out)
{
    const struct route  *rt;
    const char          *p, *e;
    int                  i, matched, methods;
    size_t               len;

    methods = 0;

    for (rt = routes; rt < routes + nitems(routes); rt++) {
        p = rt->pattern + 1;
        matched = 1;

        for (i = 0; i < r->nseg; i++) {
            if (*p == '\0') {
                matched = 0;
                break;
            }

            e = strchr(p, '/');
            len = e != NULL ? (size_t) (e - p) : strlen(p);

            if (!(len == 1 && p[0] == '*')
                && (strlen(r->seg[i]) != len
                    || strncmp(r->seg[i], p, len) != 0))
            {
                matched = 0;
                break;
            }

            p += len;
            if (*p == '/') {
                p++;
            }
        }

        if (!matched || *p != '\0') {
            continue;
        }

        methods |= rt->methods;

        /* HEAD is GET without a body unless a route has its own HEAD */
        if ((rt->methods & r->method)
            || (r->method == M_HEAD && (rt->methods & M_GET)
                && !(methods & M_HEAD)))
        {
            *out = rt;
            return 0;
        }
    }

    return methods ? 405 : 404;
}


static void
http_dispatch(struct req *r, const char *url)
{
    const struct route  *rt;
    const char          *rid;
    char                *p, *s;
    int                  rc;
    size_t               i;

    r->path = req_strdup(r, url);
    if (r->path == NULL) {
        http_error(r, 500, "out of memory");
        return;
    }

    /* X-Request-Id in and out; only a tame one is echoed */
    rid = http_header_in(r, "X-Request-Id");
    if (rid != NULL && strlen(rid) < sizeof(r->rid)) {
        for (i = 0; rid[i]; i++) {
            if (!(rid[i] >= 'a' && rid[i] <= 'z') && !(rid[i] >= 'A'
                && rid[i] <= 'Z') && !(rid[i] >= '0' && rid[i] <= '9')
                && rid[i] != '-' && rid[i] != '_' && rid[i] != '.')
            {
                rid = NULL;
                break;
            }
        }
    } else {
        rid = NULL;
    }

    if (rid != NULL && rid[0] != '\0') {
        snprintf(r->rid, sizeof(r->rid), "%s", rid);

    } else {
        unsigned char  b[16];

        randombytes_buf(b, sizeof(b));
        sodium_bin2hex(r->rid, sizeof(r->rid), b, sizeof(b));
    }

    if (url[0] != '/') {
        http_error(r, 400, "bad request path");
        return;
    }

    s = req_strdup(r, url + 1);
    if (s == NULL) {
        http_error(r, 500, "out of memory");
        return;
    }

    /* segments: none empty, none "." or "..", each decoded alone */
    for (p = s; ; ) {
        if (r->nseg == AUTHD_SEGS_MAX) {
            http_error(r, 404, "no such path");
            return;
        }

        r->seg[r->nseg] = p;
        p = strchr(p, '/');
        if (p != NULL) {
            *p++ = '\0';
        }

        if (r->seg[r->nseg][0] == '\0'
            || strcmp(r->seg[r->nseg], ".") == 0
            || strcmp(r->seg[r->nseg], "..") == 0)
        {
            http_error(r, 404, "no such path");
            return;
        }

        if (http_decode(r->seg[r->nseg], 0) != 0) {
            http_error(r, 400, "bad percent-encoding in the path");
            return;
        }

        r->nseg++;

        if (p == NULL) {
            break;
        }
    }

    /* an argument that does not decode is bad input, not an absent one */
    MHD_get_connection_values(r->conn, MHD_GET_ARGUMENT_KIND,
                              http_arg_bad_cb, r);
    if (r->bad_arg != NULL) {
        http_error(r, 400, "bad percent-encoding in the query");
        return;
    }

    rc = http_route(r, &rt);
    if (rc == 404) {
        http_error(r, 404, "no such path");
        return;
    }

    if (rc == 405) {
        http_error(r, 405, "method %s not allowed here", r->method_name);
        return;
    }

    if (r->body_over) {
        http_error(r, 413, "the request body is larger than %d bytes",
                   AUTHD_BODY_MAX);
        return;
    }

    if (http_authenticate(r) != 0) {
        return;
    }

    rt->fn(r);

    if (r->status == 0) {
        http_error(r, 500, "internal error");
    }
}


static enum MHD_Result
http_respond(struct req *r)
{
    struct MHD_Response  *resp;
    enum MHD_Result       ret;
    struct timespec       ts;
    long                  ms;
    int                   i;

    resp = MHD_create_response_from_buffer(r->resp_len,
                                           r->resp != NULL ? r->resp : "",
                                           MHD_RESPMEM_MUST_COPY);
    if (resp == NULL) {
        return MHD_NO;
    }

    if (r->ctype != NULL) {
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, r->ctype);
    }

    MHD_add_response_header(resp, "X-Request-Id", r->rid);

    for (i = 0; i < r->nhdr; i++) {
        MHD_add_response_header(resp, r->hdr_name[i], r->hdr_value[i]);
    }

    ret = MHD_queue_response(r->conn, (unsigned int) r->status, resp);
    MHD_destroy_response(resp);

    clock_gettime(CLOCK_MONOTONIC, &ts);
    ms = (long) (ts.tv_sec - r->start.tv_sec) * 1000
         + (ts.tv_nsec - r->start.tv_nsec) / 1000000;

    /* the path only: query strings and headers stay out of the log */
    logit(r->status >= 500 ? LOG_WARNING : LOG_INFO,
          "%s %.200s %d user=%s rid=%s %ldms", r->method_name,
          r->path != NULL ? r->path : "-", r->status,
          r->user.id != 0 ? r->user.name : "-", r->rid, ms);

    return ret;
}


static enum MHD_Result
http_access(void *cls, struct MHD_Connection *conn, const char *url,
    const char *method, const char *version, const char *upload_data,
    size_t *upload_data_size, void **con_cls)
{
    struct req       *r;
    const char       *cl;
    char             *nb;

    (void) cls;
    (void) version;

    r = *con_cls;

    if (r == NULL) {
        r = calloc(1, sizeof(struct req));
        if (r == NULL) {
            return MHD_NO;
        }

        r->conn = conn;
        clock_gettime(CLOCK_MONOTONIC, &r->start);
        r->method_name = "OTHER";
        r->method = M_OTHER;

        if (strcmp(method, "GET") == 0) {
            r->method = M_GET;
        } else if (strcmp(method, "HEAD") == 0) {
            r->method = M_HEAD;
        } else if (strcmp(method, "POST") == 0) {
            r->method = M_POST;
        } else if (strcmp(method, "PUT") == 0) {
            r->method = M_PUT;
        } else if (strcmp(method, "DELETE") == 0) {
            r->method = M_DELETE;
        }

        if (r->method != M_OTHER) {
            r->method_name = method;
        }

        /* refuse a large body before it is sent */
        cl = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
                                         MHD_HTTP_HEADER_CONTENT_LENGTH);
        if (cl != NULL && strtoll(cl, NULL, 10) > AUTHD_BODY_MAX) {
            r->body_over = 1;
        }

        *con_cls = r;

        return MHD_YES;
    }

    if (*upload_data_size > 0) {
        if (!r->body_over) {
            if (r->body_len + *upload_data_size > AUTHD_BODY_MAX) {
                r->body_over = 1;
                free(r->body);
                r->body = NULL;
                r->body_len = 0;

            } else {
                nb = realloc(r->body, r->body_len + *upload_data_size + 1);
                if (nb == NULL) {
                    return MHD_NO;
                }
                r->body = nb;
                memcpy(r->body + r->body_len, upload_data, *upload_data_size);
                r->body_len += *upload_data_size;
                r->body[r->body_len] = '\0';
            }
        }

        *upload_data_size = 0;

        return MHD_YES;
    }

    if (r->status != 0) {
        /* already answered */
        return MHD_YES;
    }

    http_dispatch(r, url);

    /* the database connection goes back as soon as the work is done */
    db_put(r->db);
    r->db = NULL;

    return http_respond(r);
}


static void
http_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
    enum MHD_RequestTerminationCode toe)
{
    struct req  *r;

    (void) cls;
    (void) conn;
    (void) toe;

    r = *con_cls;
    if (r == NULL) {
        return;
    }

    db_put(r->db);
    req_free_all(r);

    if (r->body != NULL) {
        sodium_memzero(r->body, r->body_len);
        free(r->body);
    }

    free(r->resp);
    free(r);

    *con_cls = NULL;
}


static int
http_unix_socket(const char *path)
{
    struct sockaddr_un  sun;
    struct stat         st;
    struct passwd      *pw;
    struct group       *gr;
    mode_t              old;
    uid_t               uid;
    gid_t               gid;
    int                 fd, probe;

    memset(&sun, 0, sizeof(sun));
    sun.sun_family = AF_UNIX;

    if (snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", path)
        >= (int) sizeof(sun.sun_path))
    {
        log_warnx("%s: socket path too long", path);
        return -1;
    }

    if (lstat(path, &st) == 0) {
        if (!S_ISSOCK(st.st_mode)) {
            log_warnx("%s exists and is not a socket", path);
            return -1;
        }

        /* a live authd answers; a stale socket is replaced */
        probe = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (probe != -1) {
            if (connect(probe, (struct sockaddr *) &sun, sizeof(sun)) == 0) {
                close(probe);
                log_warnx("%s is in use by another process", path);
                return -1;
            }
            close(probe);
        }

        if (unlink(path) == -1) {
            log_warn("unlink \"%s\"", path);
            return -1;
        }
    }

    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd == -1) {
        log_warn("socket");
        return -1;
    }

    /* never world-accessible, not even between bind() and chmod() */
    old = umask(0117);
    if (bind(fd, (struct sockaddr *) &sun, sizeof(sun)) == -1) {
        umask(old);
        log_warn("bind \"%s\"", path);
        close(fd);
        return -1;
    }
    umask(old);

    if (chmod(path, 0660) == -1) {
        log_warn("chmod \"%s\"", path);
        goto fail;
    }

    uid = (uid_t) -1;
    gid = (gid_t) -1;

    if (conf->user != NULL && geteuid() == 0) {
        pw = getpwnam(conf->user);
        if (pw == NULL) {
            log_warnx("unknown user \"%s\"", conf->user);
            goto fail;
        }
        uid = pw->pw_uid;
        gid = pw->pw_gid;
    }

    if (conf->listen_group != NULL) {
        gr = getgrnam(conf->listen_group);
        if (gr == NULL) {
            log_warnx("unknown group \"%s\"", conf->listen_group);
            goto fail;
        }
        gid = gr->gr_gid;
    }

    if ((uid != (uid_t) -1 || gid != (gid_t) -1)
        && chown(path, uid, gid) == -1)
    {
        log_warn("chown \"%s\"", path);
        goto fail;
    }

    if (listen(fd, 128) == -1) {
        log_warn("listen \"%s\"", path);
        goto fail;
    }

    return fd;

fail:

    close(fd);
    unlink(path);

    return -1;
}


/* The listening sockets; before privileges are dropped. */
int
http_listen(void)
{
    if (conf->listen[0] != '\0') {
        http_fd = http_unix_socket(conf->listen);
        if (http_fd == -1) {
            return -1;
        }
    }

    return 0;
}


static struct MHD_Daemon *
http_daemon(int fd, int port)
{
    struct sockaddr_in  sin;
    unsigned int        flags;

    flags = MHD_USE_AUTO_INTERNAL_THREAD | MHD_USE_ERROR_LOG;

    if (fd != -1) {
        return MHD_start_daemon(flags, 0, NULL, NULL, http_access, NULL,
            MHD_OPTION_LISTEN_SOCKET, fd,
            MHD_OPTION_THREAD_POOL_SIZE, (unsigned int) conf->workers,
            MHD_OPTION_CONNECTION_TIMEOUT,
                (unsigned int) conf->request_timeout,
            MHD_OPTION_CONNECTION_LIMIT, (unsigned int) 512,
            MHD_OPTION_NOTIFY_COMPLETED, http_completed, NULL,
            MHD_OPTION_UNESCAPE_CALLBACK, http_unescape, NULL,
            MHD_OPTION_EXTERNAL_LOGGER, http_mhd_log, NULL,
            MHD_OPTION_END);
    }

    memset(&sin, 0, sizeof(sin));
    sin.sin_family = AF_INET;
    sin.sin_port = htons((uint16_t) port);
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);

    return MHD_start_daemon(flags, (uint16_t) port, NULL, NULL, http_access,
        NULL,
        MHD_OPTION_SOCK_ADDR, (struct sockaddr *) &sin,
        MHD_OPTION_THREAD_POOL_SIZE, (unsigned int) conf->workers,
        MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int) conf->request_timeout,
        MHD_OPTION_CONNECTION_LIMIT, (unsigned int) 512,
        MHD_OPTION_NOTIFY_COMPLETED, http_completed, NULL,
        MHD_OPTION_UNESCAPE_CALLBACK, http_unescape, NULL,
        MHD_OPTION_EXTERNAL_LOGGER, http_mhd_log, NULL,
        MHD_OPTION_END);
}


int
http_start(void)
{
    if (http_fd != -1) {
        http_unix = http_daemon(http_fd, 0);
        if (http_unix == NULL) {
            log_warnx("cannot serve HTTP on %s", conf->listen);
            return -1;
        }
        log_info("listening on %s", conf->listen);
    }

    if (conf->listen_port != 0) {
        http_tcp = http_daemon(-1, conf->listen_port);
        if (http_tcp == NULL) {
            log_warnx("cannot listen on 127.0.0.1:%d", conf->listen_port);
            return -1;
        }
        log_info("listening on 127.0.0.1:%d", conf->listen_port);
    }

    /* the garbage collector's scheduler (api_gc.c) */
    if (gc_start() != 0) {
        log_warnx("cannot start the garbage collection scheduler");
    }

    return 0;
}


void
http_stop(void)
{
    if (http_unix != NULL) {
        MHD_stop_daemon(http_unix);
        http_unix = NULL;
    }

    if (http_tcp != NULL) {
        MHD_stop_daemon(http_tcp);
        http_tcp = NULL;
    }

    if (http_fd != -1) {
        close(http_fd);
        http_fd = -1;
        unlink(conf->listen);
    }
}
