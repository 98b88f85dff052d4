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


struct route {
    int          methods;
    const char  *pattern;       /* '*' matches one segment */
    void       (*fn)(struct req *);
};

static const struct route  routes[] = {
    { M_GET,            "/service/token",                  token_handle },
    { M_GET,            "/_harbor/proxy-fetch",            api_proxy_fetch },

    { M_GET,            "/api/version",                    api_version },
    { M_GET,            "/api/v2.0/ping",                  api_ping },
    { M_GET,            "/api/v2.0/health",                api_health },
    { M_GET,            "/api/v2.0/systeminfo",            api_systeminfo },
    { M_GET | M_PUT,    "/api/v2.0/configurations",  api_configurations },
    { M_POST,           "/api/v2.0/ldap/ping",             api_ldap_ping },
    { M_POST,           "/api/v2.0/email/ping",            api_email_ping },
    { M_GET,            "/api/v2.0/ldap/users/search",
                                                     api_ldap_users_search },
    { M_POST,           "/api/v2.0/ldap/users/import",
                                                     api_ldap_users_import },
    { M_GET,            "/api/v2.0/ldap/groups/search",
                                                    api_ldap_groups_search },
    { M_GET | M_POST,   "/api/v2.0/usergroups",            api_usergroups },
    { M_GET,            "/api/v2.0/usergroups/search",
                                                     api_usergroups_search },
    { M_GET | M_PUT | M_DELETE,
                        "/api/v2.0/usergroups/*",          api_usergroup },

    { M_HEAD,           "/api/v2.0/projects",              api_projects_head },
    { M_GET | M_POST,   "/api/v2.0/projects",              api_projects },
    { M_GET | M_PUT | M_DELETE,
                        "/api/v2.0/projects/*",            api_project },
    { M_GET,            "/api/v2.0/projects/*/summary",
                                                       api_project_summary },
    { M_GET | M_POST,   "/api/v2.0/projects/*/members",    api_members },
    { M_GET | M_POST,   "/api/v2.0/projects/*/webhook/policies",
                                                      api_webhook_policies },
    { M_GET | M_PUT | M_DELETE,
                        "/api/v2.0/projects/*/webhook/policies/*",
                                                        api_webhook_policy },
    { M_GET,            "/api/v2.0/projects/*/webhook/policies/*/executions",
                                                    api_webhook_executions },
    { M_GET,    "/api/v2.0/projects/*/webhook/policies/*/executions/*/tasks",
                                                         api_webhook_tasks },
    { M_GET,
        "/api/v2.0/projects/*/webhook/policies/*/executions/*/tasks/*/log",
                                                      api_webhook_task_log },
    { M_GET,            "/api/v2.0/projects/*/webhook/events",
                                                        api_webhook_events },
    { M_GET | M_POST,   "/api/v2.0/projects/*/immutabletagrules",
                                                       api_immutable_rules },
    { M_PUT | M_DELETE, "/api/v2.0/projects/*/immutabletagrules/*",
                                                        api_immutable_rule },
    { M_GET,            "/api/v2.0/quotas",                 api_quotas },
    { M_GET | M_PUT,    "/api/v2.0/quotas/*",               api_quota },
    { M_GET,            "/api/v2.0/retentions/metadatas",
                                                  api_retention_metadatas },
    { M_POST,           "/api/v2.0/retentions",            api_retentions },
    { M_GET | M_PUT | M_DELETE,
                        "/api/v2.0/retentions/*",           api_retention },
    { M_GET | M_POST,   "/api/v2.0/retentions/*/executions",
                                                 api_retention_executions },
    { M_PATCH,          "/api/v2.0/retentions/*/executions/*",
                                                  api_retention_execution },
    { M_GET,            "/api/v2.0/retentions/*/executions/*/tasks",
                                                      api_retention_tasks },
    { M_GET,            "/api/v2.0/retentions/*/executions/*/tasks/*",
                                                   api_retention_task_log },
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
    { M_POST,   "/api/v2.0/projects/*/repositories/*/artifacts/*/labels",
                                                    api_artifact_labels },
    { M_DELETE,
                "/api/v2.0/projects/*/repositories/*/artifacts/*/labels/*",
                                                    api_artifact_label },
    { M_GET,            "/api/v2.0/projects/*/logs",       api_project_logs },
    { M_GET | M_POST,   "/api/v2.0/robots",                api_robots },
    { M_GET | M_PUT | M_DELETE | M_PATCH,
                        "/api/v2.0/robots/*",              api_robot },
    { M_GET,            "/api/v2.0/audit-logs",            api_audit_logs },
    { M_GET,            "/api/v2.0/search",                api_search },
    { M_GET | M_POST,   "/api/v2.0/labels",                api_labels },
    { M_GET | M_PUT | M_DELETE,
                        "/api/v2.0/labels/*",              api_label },
    { M_GET,            "/api/v2.0/statistics",            api_statistics },
    { M_GET | M_POST,   "/api/v2.0/system/reindex",        api_reindex },
    { M_GET,            "/api/v2.0/system/gc",             api_gc_list },
    { M_GET | M_POST | M_PUT,
                        "/api/v2.0/system/gc/schedule",    api_gc_schedule },
    { M_GET | M_PUT,    "/api/v2.0/system/gc/*",           api_gc_one },
    { M_GET,            "/api/v2.0/system/gc/*/log",       api_gc_log },

    { M_GET | M_POST,   "/api/v2.0/registries",            api_registries },
    { M_POST,           "/api/v2.0/registries/ping",   api_registry_ping },
    { M_GET | M_PUT | M_DELETE,
                        "/api/v2.0/registries/*",          api_registry },
    { M_GET,            "/api/v2.0/registries/*/info", api_registry_info },
    { M_GET,            "/api/v2.0/replication/adapters",
                                                         api_repl_adapters },
    { M_GET,            "/api/v2.0/replication/adapterinfos",
                                                     api_repl_adapterinfos },
    { M_GET | M_POST,   "/api/v2.0/replication/policies",
                                                         api_repl_policies },
    { M_GET | M_PUT | M_DELETE,
                        "/api/v2.0/replication/policies/*", api_repl_policy },
    { M_GET | M_POST,   "/api/v2.0/replication/executions",
                                                       api_repl_executions },
    { M_GET | M_PUT,    "/api/v2.0/replication/executions/*",
                                                        api_repl_execution },
    { M_GET,            "/api/v2.0/replication/executions/*/tasks",
                                                            api_repl_tasks },
    { M_GET,            "/api/v2.0/replication/executions/*/tasks/*/log",
                                                         api_repl_task_log },

    { M_POST,           "/c/login",                        session_login },
    { M_GET,            "/c/log_out",                      session_logout },
    { M_GET,            "/c/sendEmail",                    reset_send_email },
    { M_POST,           "/c/reset",                        reset_password },
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
    int          rc, n, robot, fresh;

    ip = http_client_ip(r);
    robot = robot_name_is(name, nlen);

    /* robot accounts log in to the registry only (api_robots.c) */
    if (robot && !(r->nseg == 2 && strcmp(r->seg[0], "service") == 0
                   && strcmp(r->seg[1], "token") == 0))
    {
        http_error(r, 401, "robot accounts may only log in to the "
                   "registry (docker login, the token service), not to "
                   "the API or the web UI");
        return -1;
    }

    if (http_db(r) == NULL) {
        return -1;
    }

    fresh = 0;
    rc = robot ? auth_robot(r->db, name, nlen, pw, plen, ip, &r->user,
                            &wait, &fresh)
               : auth_user(r->db, name, nlen, pw, plen, ip, &r->user, &wait);

    /* a robot's secret verified (not from the cache): its login */
    if (rc == AUTH_OK && fresh) {
        audit_req(r, 0, "login", "robot", r->user.name);
    }

    switch (rc) {

    case AUTH_OK:
        return 0;

    case AUTH_ERROR:
        http_db_error(r);
        return -1;

    case AUTH_UNAVAILABLE:
        http_error(r, 503, "the LDAP directory is unavailable; try again "
                   "later");
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
    if (audit_add(r->db, 0, name, "login", robot ? "robot" : "user", name,
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


/* the pattern of route i, for metrics.c: 0 is "none matched"; NULL past
 * the end */
const char *
http_route_pattern(int i)
{
    if (i == 0) {
        return "none";
    }

    return i > 0 && (size_t) i <= nitems(routes) ? routes[i - 1].pattern
                                                  : NULL;
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
    if (rc == 0) {
        r->route = (int) (rt - routes) + 1;
    }

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

    metrics_http(r->route, r->status);

    clock_gettime(CLOCK_MONOTONIC, &ts);
    ms = (long) (ts.tv_sec - r->start.tv_sec) * 1000
         + (ts.tv_nsec - r->start.tv_nsec) / 1000000;

    /* the path only: query strings and headers stay out of the log */
    logit(r->status >= 500 ? LOG_WARNING : LOG_INFO,
          "%s %.200s %d user=%s rid=%s %ldms", r->method_name,
          r->path != NULL ? r->path : "-", r->status,
          r->user.name[0] != '\0' ? r->user.name : "-", r->rid, ms);

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
        } else if (strcmp(method, "PATCH") == 0) {
            r->method = M_PATCH;
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

    if (metrics_start() != 0) {
        return -1;
    }

    /* the garbage collector's scheduler (api_gc.c) */
    if (gc_start() != 0) {
        log_warnx("cannot start the garbage collection scheduler");
    }

    /* replication's workers and scheduler (repl_jobs.c) */
    if (repl_jobs_start() != 0) {
        log_warnx("cannot start the replication workers");
    }

    /* webhook deliveries (webhook.c) */
    if (webhook_start() != 0) {
        log_warnx("cannot start the webhook workers");
    }

    /* tag retention's runs and schedules (retention.c) */
    if (retention_start() != 0) {
        log_warnx("cannot start the tag retention runner");
    }

    /* the module's copy of the storage limits (quota.c) */
    if (quota_sync_all() != 0) {
        log_warnx("cannot write every project's storage quota");
    }

    /* the registry's copy of the immutable tag rules (api_immutable.c) */
    if (immutable_sync_all() != 0) {
        log_warnx("cannot write every project's immutable tag rules");
    }

    /* the module's list of proxy cache projects (proxy_cache.c) */
    if (proxy_sync_all() != 0) {
        log_warnx("cannot write every proxy cache project's file");
    }

    return 0;
}


void
http_stop(void)
{
    retention_stop();
    webhook_stop();
    repl_jobs_stop();
    metrics_stop();

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
