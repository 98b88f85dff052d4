/*
 * authd: the helpers of request handlers, around libmicrohttpd: the
 * request's memory, arguments and headers, answers and Harbor's errors,
 * JSON bodies, pages and their Link header, the client's address and
 * Basic credentials.  http.c wires the daemon and routes.
 */

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <microhttpd.h>
#include <sodium.h>

#include "authd.h"


struct req_alloc {
    struct req_alloc  *next;
    char               data[];
};


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
    /* distribution's code: docker prints "toomanyrequests: ..." */
    case 429: return "TOOMANYREQUESTS";
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


/* an id in a path: a positive number of at most 9 digits, else -1 */
long long
http_id(const char *s)
{
    long long  v;
    int        i;

    v = 0;
    for (i = 0; s[i]; i++) {
        if (s[i] < '0' || s[i] > '9' || i > 8) {
            return -1;
        }
        v = v * 10 + (s[i] - '0');
    }

    return i > 0 && v > 0 ? v : -1;
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

    /* "alice\0x" is not alice: a name with a NUL is no name at all */
    if (i == n || i >= ulen || n - i - 1 >= plen
        || memchr(buf, '\0', i) != NULL)
    {
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
