/*
 * authd: Prometheus metrics, on a listener of their own.
 *
 * authd.metrics_listen (ADDRESS:PORT, off by default) starts a second
 * libmicrohttpd daemon that serves GET /metrics in the Prometheus text
 * format (version 0.0.4) and nothing else; the API socket never serves
 * it.  docs/operations.md lists every metric.
 *
 * Counters live in memory as relaxed atomics: an HTTP request is counted
 * by the index of the route it matched (a pattern of http.c's table, never
 * the path) and its status, so no label comes from user input.  What the
 * database already records (garbage collections, replication) and the
 * journal's lag are read when scraped.
 */

#include <sys/socket.h>
#include <sys/stat.h>

#include <netinet/in.h>
#include <arpa/inet.h>

#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <microhttpd.h>

#include "authd.h"


#define MET_ROUTES_MAX   256            /* http.c's table, plus "none" */
#define MET_STATUS_MIN   100
#define MET_STATUS_N     500            /* 100 .. 599 */


struct mbuf {
    char    *s;
    size_t   len;
    size_t   size;
    int      oom;
};

static _Atomic unsigned long long  met_http[MET_ROUTES_MAX][MET_STATUS_N];
static _Atomic unsigned long long  met_login_failed;
static _Atomic unsigned long long  met_login_throttled;

/* what the database records, counted by status at each scrape */
static const struct {
    const char  *name;
    const char  *help;
    const char  *sql;
} met_by_status[] = {
    { "harbor_authd_gc_runs",
      "garbage collections in the history, by status",
      "SELECT job_status, count(*) FROM gc_history"
      " WHERE NOT deleted GROUP BY 1 ORDER BY 1" },
    { "harbor_authd_replication_executions",
      "replication executions, by status",
      "SELECT status, count(*) FROM replication_execution"
      " GROUP BY 1 ORDER BY 1" },
    { "harbor_authd_replication_tasks",
      "replication tasks, by status",
      "SELECT status, count(*) FROM replication_task GROUP BY 1 ORDER BY 1" },
    { "harbor_authd_replication_bytes",
      "bytes copied by the replication tasks on record, by status",
      "SELECT status, coalesce(sum(bytes_done), 0) FROM replication_task"
      " GROUP BY 1 ORDER BY 1" },
    { "harbor_authd_webhook_jobs",
      "webhook deliveries on record, by status",
      "SELECT status, count(*) FROM webhook_job GROUP BY 1 ORDER BY 1" },
};

static struct MHD_Daemon  *met_daemon;
static time_t              met_started;


void
metrics_http(int route, int status)
{
    if (route < 0 || route >= MET_ROUTES_MAX || status < MET_STATUS_MIN
        || status >= MET_STATUS_MIN + MET_STATUS_N)
    {
        return;
    }

    atomic_fetch_add_explicit(&met_http[route][status - MET_STATUS_MIN], 1,
                              memory_order_relaxed);
}


void
metrics_login(int throttled)
{
    atomic_fetch_add_explicit(throttled ? &met_login_throttled
                                        : &met_login_failed, 1,
                              memory_order_relaxed);
}


static void
mb_printf(struct mbuf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
mb_printf(struct mbuf *b, const char *fmt, ...)
{
    va_list  ap;
    char    *ns;
    size_t   nsize;
    int      n;

    for ( ;; ) {
        if (b->oom) {
            return;
        }

        va_start(ap, fmt);
        n = vsnprintf(b->s + b->len, b->size - b->len, fmt, ap);
        va_end(ap);

        if (n < 0) {
            b->oom = 1;
            return;
        }

        if ((size_t) n < b->size - b->len) {
            b->len += (size_t) n;
            return;
        }

        nsize = b->size * 2 + (size_t) n;
        ns = realloc(b->s, nsize);
        if (ns == NULL) {
            b->oom = 1;
            return;
        }
        b->s = ns;
        b->size = nsize;
    }
}


static void
mb_head(struct mbuf *b, const char *name, const char *type, const char *help)
{
    mb_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}


static unsigned long long
met_get(_Atomic unsigned long long *v)
{
    return atomic_load_explicit(v, memory_order_relaxed);
}


static void
metrics_requests(struct mbuf *b)
{
    const char          *pat;
    unsigned long long   v, granted, denied;
    int                  i, s, token;

    mb_head(b, "harbor_authd_http_requests_total", "counter",
            "HTTP requests to the API socket by route pattern and status");

    token = -1;
    granted = 0;
    denied = 0;

    for (i = 0; i < MET_ROUTES_MAX; i++) {
        pat = http_route_pattern(i);
        if (pat == NULL) {
            continue;
        }

        if (strcmp(pat, "/service/token") == 0) {
            token = i;
        }

        for (s = 0; s < MET_STATUS_N; s++) {
            v = met_get(&met_http[i][s]);
            if (v == 0) {
                continue;
            }

            /* patterns are ours: no quote or backslash to escape */
            mb_printf(b, "harbor_authd_http_requests_total{route=\"%s\","
                      "code=\"%d\"} %llu\n", pat, s + MET_STATUS_MIN, v);

            if (i == token) {
                if (s + MET_STATUS_MIN == 200) {
                    granted += v;
                } else {
                    denied += v;
                }
            }
        }
    }

    mb_head(b, "harbor_authd_token_requests_total", "counter",
            "requests to /service/token: granted (200) or denied (any "
            "other status)");
    mb_printf(b, "harbor_authd_token_requests_total{result=\"granted\"} "
              "%llu\n", granted);
    mb_printf(b, "harbor_authd_token_requests_total{result=\"denied\"} "
              "%llu\n", denied);

    mb_head(b, "harbor_authd_login_failures_total", "counter",
            "logins refused for a wrong name or password, every way in");
    mb_printf(b, "harbor_authd_login_failures_total %llu\n",
              met_get(&met_login_failed));

    mb_head(b, "harbor_authd_login_throttled_total", "counter",
            "logins refused untried by the password-guessing throttle");
    mb_printf(b, "harbor_authd_login_throttled_total %llu\n",
              met_get(&met_login_throttled));
}


static void
metrics_pool(struct mbuf *b)
{
    struct db_pool_stats  st;

    db_pool_stats(&st);

    mb_head(b, "harbor_authd_db_pool_connections", "gauge",
            "PostgreSQL pool: slots, open connections, idle ones, and "
            "threads waiting for one");
    mb_printf(b, "harbor_authd_db_pool_connections{state=\"size\"} %d\n",
              st.size);
    mb_printf(b, "harbor_authd_db_pool_connections{state=\"open\"} %d\n",
              st.open);
    mb_printf(b, "harbor_authd_db_pool_connections{state=\"idle\"} %d\n",
              st.idle);
    mb_printf(b, "harbor_authd_db_pool_connections{state=\"waiting\"} %d\n",
              st.waiting);
}


/* "status count" rows of sql, as metric{label="status"} count */
static void
metrics_by_status(struct mbuf *b, struct dbc *c, const char *metric,
    const char *label, const char *sql)
{
    PGresult    *res;
    const char  *v;
    size_t       j;
    int          i, ok;

    res = db_exec(c, sql, 0, NULL);
    if (res == NULL) {
        return;
    }

    for (i = 0; i < PQntuples(res); i++) {
        v = PQgetvalue(res, i, 0);

        /* statuses are written by authd; still, print only a tame one */
        ok = v[0] != '\0' && strlen(v) < 32;
        for (j = 0; ok && v[j]; j++) {
            ok = (v[j] >= 'A' && v[j] <= 'Z') || (v[j] >= 'a' && v[j] <= 'z')
                 || v[j] == '_';
        }

        if (ok) {
            mb_printf(b, "%s{%s=\"%s\"} %s\n", metric, label, v,
                      PQgetvalue(res, i, 1));
        }
    }

    PQclear(res);
}


static void
metrics_journal(struct mbuf *b, struct dbc *c)
{
    PGresult    *res;
    struct stat  st;
    long long    ino, off, lag, behind;

    if (conf->journal == NULL || conf->journal[0] == '\0') {
        return;
    }

    res = db_exec(c, "SELECT inode, byte_offset,"
                  " extract(epoch FROM now() - update_time)::bigint"
                  " FROM journal_checkpoint WHERE id = 1", 0, NULL);
    if (res == NULL) {
        return;
    }

    lag = 0;
    behind = 0;

    if (stat(conf->journal, &st) == 0) {
        if (PQntuples(res) == 1) {
            ino = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
            off = strtoll(PQgetvalue(res, 0, 1), NULL, 10);

            /* a rotated journal's new file is unread from its start */
            lag = (long long) st.st_ino == ino ? st.st_size - off
                                                : st.st_size;
            if (lag > 0) {
                behind = strtoll(PQgetvalue(res, 0, 2), NULL, 10);
            }

        } else {
            lag = st.st_size;
        }
    }

    PQclear(res);

    if (lag < 0) {
        lag = 0;
    }

    mb_head(b, "harbor_authd_journal_lag_bytes", "gauge",
            "bytes of the module's journal not applied yet");
    mb_printf(b, "harbor_authd_journal_lag_bytes %lld\n", lag);
    mb_head(b, "harbor_authd_journal_lag_seconds", "gauge",
            "while bytes are pending: seconds since the last checkpoint");
    mb_printf(b, "harbor_authd_journal_lag_seconds %lld\n",
              behind < 0 ? 0 : behind);
}


static void
metrics_database(struct mbuf *b)
{
    struct dbc  *c;
    size_t       i;

    c = db_get();

    mb_head(b, "harbor_authd_database_up", "gauge",
            "1 when a PostgreSQL connection was had for this scrape");
    mb_printf(b, "harbor_authd_database_up %d\n", c != NULL);

    if (c == NULL) {
        return;
    }

    metrics_journal(b, c);

    for (i = 0; i < nitems(met_by_status); i++) {
        mb_head(b, met_by_status[i].name, "gauge", met_by_status[i].help);
        metrics_by_status(b, c, met_by_status[i].name, "status",
                          met_by_status[i].sql);
    }

    db_put(c);
}


char *
metrics_render(size_t *len)
{
    struct mbuf  b;

    memset(&b, 0, sizeof(b));
    b.size = 16384;
    b.s = malloc(b.size);
    if (b.s == NULL) {
        return NULL;
    }

    mb_head(&b, "harbor_authd_start_time_seconds", "gauge",
            "when authd started, seconds since the epoch");
    mb_printf(&b, "harbor_authd_start_time_seconds %lld\n",
              (long long) met_started);

    metrics_requests(&b);
    metrics_pool(&b);
    metrics_database(&b);

    if (b.oom) {
        free(b.s);
        return NULL;
    }

    *len = b.len;
    return b.s;
}


static enum MHD_Result
metrics_access(void *cls, struct MHD_Connection *conn, const char *url,
    const char *method, const char *version, const char *upload_data,
    size_t *upload_data_size, void **con_cls)
{
    struct MHD_Response  *resp;
    enum MHD_Result       ret;
    const char           *msg;
    char                 *s;
    size_t                len;
    unsigned int          status;

    (void) cls;
    (void) version;
    (void) upload_data;

    /* the first call has the headers only: answer on the next */
    if (*con_cls == NULL) {
        *con_cls = conn;
        return MHD_YES;
    }

    if (*upload_data_size != 0) {
        *upload_data_size = 0;      /* a body is ignored */
        return MHD_YES;
    }

    s = NULL;
    len = 0;

    if (strcmp(url, "/metrics") != 0) {
        status = MHD_HTTP_NOT_FOUND;
        msg = "not found: this listener serves /metrics only\n";

    } else if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0) {
        status = MHD_HTTP_METHOD_NOT_ALLOWED;
        msg = "method not allowed\n";

    } else {
        s = metrics_render(&len);
        status = s != NULL ? MHD_HTTP_OK : MHD_HTTP_SERVICE_UNAVAILABLE;
        msg = "out of memory\n";
    }

    if (s != NULL) {
        resp = MHD_create_response_from_buffer(len, s, MHD_RESPMEM_MUST_FREE);
    } else {
        resp = MHD_create_response_from_buffer(strlen(msg), (void *) msg,
                                               MHD_RESPMEM_PERSISTENT);
    }

    if (resp == NULL) {
        free(s);
        return MHD_NO;
    }

    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE,
                            s != NULL ? "text/plain; version=0.0.4; "
                                        "charset=utf-8"
                                      : "text/plain; charset=utf-8");
    if (status == MHD_HTTP_METHOD_NOT_ALLOWED) {
        MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW, "GET, HEAD");
    }

    ret = MHD_queue_response(conn, status, resp);
    MHD_destroy_response(resp);

    return ret;
}


int
metrics_start(void)
{
    struct sockaddr_in  sin;

    met_started = time(NULL);

    if (conf->metrics_listen == NULL || conf->metrics_listen[0] == '\0') {
        return 0;
    }

    if (config_inet_addr(conf->metrics_listen, &sin) != 0) {
        log_warnx("metrics_listen \"%s\" is not ADDRESS:PORT",
                  conf->metrics_listen);
        return -1;
    }

    met_daemon = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD
                                  | MHD_USE_ERROR_LOG,
        ntohs(sin.sin_port), NULL, NULL, metrics_access, NULL,
        MHD_OPTION_SOCK_ADDR, (struct sockaddr *) &sin,
        MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int) 10,
        MHD_OPTION_CONNECTION_LIMIT, (unsigned int) 16,
        MHD_OPTION_END);

    if (met_daemon == NULL) {
        log_warnx("cannot serve metrics on %s", conf->metrics_listen);
        return -1;
    }

    log_info("metrics on http://%s/metrics", conf->metrics_listen);

    return 0;
}


void
metrics_stop(void)
{
    if (met_daemon != NULL) {
        MHD_stop_daemon(met_daemon);
        met_daemon = NULL;
    }
}
