
/*
 * ngx-harbor: an OCI registry inside nginx.
 * Prometheus metrics of the registry's traffic.
 *
 * Off unless "harbor_metrics;" is placed in a location: then a shared
 * memory zone of counters exists, every worker adds to it with atomic
 * increments, and that location answers with all of it in the Prometheus
 * text format.  A request costs a few atomic adds in the log phase; no
 * label comes from a request (no repository, tag or digest): a request
 * is counted under the kind of route it parsed to, its method and its
 * status, each from a fixed list.
 */


#include "ngx_http_harbor_module.h"


#define NGX_HTTP_HARBOR_M_ROUTES     9      /* 8 route kinds, "invalid" */
#define NGX_HTTP_HARBOR_M_INVALID    8
#define NGX_HTTP_HARBOR_M_METHODS    7
#define NGX_HTTP_HARBOR_M_CODES      (sizeof(ngx_http_harbor_m_codes)        \
                                      / sizeof(ngx_uint_t))
#define NGX_HTTP_HARBOR_M_CLASSES    6      /* none, 1xx .. 5xx */

/* the longest line: a request counter with its labels, and its value */
#define NGX_HTTP_HARBOR_M_LINE                                               \
    (sizeof("harbor_nginx_requests_total{route=\"\",method=\"\","           \
            "code=\"\"} \n") + 32 + NGX_ATOMIC_T_LEN)


/* the statuses the registry and nginx answer it with, counted apart */

static ngx_uint_t  ngx_http_harbor_m_codes[] = {
    200, 201, 202, 204, 206, 304, 307,
    400, 401, 403, 404, 405, 408, 413, 416, 429, 499,
    500, 502, 503, 504, 507
};


static const char  *ngx_http_harbor_m_classes[] = {
    "none", "1xx", "2xx", "3xx", "4xx", "5xx"
};


static const char  *ngx_http_harbor_m_routes[] = {
    /* in the order of ngx_http_harbor_route_e */
    "base", "catalog", "tags_list", "manifest", "blob", "upload_start",
    "upload", "referrers", "invalid"
};


static const char  *ngx_http_harbor_m_methods[] = {
    "GET", "HEAD", "PUT", "POST", "PATCH", "DELETE", "other"
};


static const char  *ngx_http_harbor_m_abandoned[] = {
    /* in the order of ngx_http_harbor_metric_e */
    "cancelled", "interrupted"
};


static const char  *ngx_http_harbor_m_token_reasons[] = {
    /* in the order of ngx_http_harbor_metric_e */
    "missing", "malformed", "signature", "expired", "claims", "scope",
    "too_large"
};


/* the counters of ngx_http_harbor_metrics_count(), n from first */

typedef struct {
    const char                 *name;
    const char                 *help;
    const char                 *label;       /* NULL: one value */
    const char                **values;      /* of the label */
    ngx_http_harbor_metric_e    first;
    ngx_uint_t                  n;
} ngx_http_harbor_m_family_t;


static ngx_http_harbor_m_family_t  ngx_http_harbor_m_families[] = {

    { "harbor_nginx_uploads_started_total",
      "Blob uploads begun: sessions opened, and monolithic uploads.",
      NULL, NULL, NGX_HTTP_HARBOR_M_UPLOAD_STARTED, 1 },

    { "harbor_nginx_uploads_finished_total",
      "Blob uploads committed into the store.",
      NULL, NULL, NGX_HTTP_HARBOR_M_UPLOAD_FINISHED, 1 },

    { "harbor_nginx_uploads_abandoned_total",
      "Upload sessions cancelled, and upload bodies that did not arrive "
      "whole.",
      "reason", ngx_http_harbor_m_abandoned,
      NGX_HTTP_HARBOR_M_UPLOAD_CANCELLED, 2 },

    { "harbor_nginx_blob_mounts_total",
      "Blobs mounted from another repository instead of uploaded.",
      NULL, NULL, NGX_HTTP_HARBOR_M_BLOB_MOUNTED, 1 },

    { "harbor_nginx_token_failures_total",
      "Registry requests refused by the token check, by reason.",
      "reason", ngx_http_harbor_m_token_reasons,
      NGX_HTTP_HARBOR_M_TOKEN_MISSING, NGX_HTTP_HARBOR_M_TOKEN_REASONS },

    { "harbor_nginx_journal_events_total",
      "Events written to the journal.",
      NULL, NULL, NGX_HTTP_HARBOR_M_JOURNAL_EVENT, 1 },

    { "harbor_nginx_journal_write_failures_total",
      "Events the journal could not take (a failed or short write).",
      NULL, NULL, NGX_HTTP_HARBOR_M_JOURNAL_FAILED, 1 }
};


typedef struct {
    size_t                      size;        /* of this, to check a reuse */
    ngx_atomic_t                requests[NGX_HTTP_HARBOR_M_ROUTES]
                                        [NGX_HTTP_HARBOR_M_METHODS]
                                        [NGX_HTTP_HARBOR_M_CODES
                                         + NGX_HTTP_HARBOR_M_CLASSES];
    ngx_atomic_t                received[NGX_HTTP_HARBOR_M_ROUTES];
    ngx_atomic_t                sent[NGX_HTTP_HARBOR_M_ROUTES];
    ngx_atomic_t                events[NGX_HTTP_HARBOR_M_EVENTS];
} ngx_http_harbor_metrics_sh_t;


static ngx_int_t ngx_http_harbor_metrics_init_zone(ngx_shm_zone_t *shm_zone,
    void *data);
static ngx_int_t ngx_http_harbor_metrics_handler(ngx_http_request_t *r);
static ngx_uint_t ngx_http_harbor_metrics_code(ngx_uint_t status);
static ngx_uint_t ngx_http_harbor_metrics_method(ngx_uint_t method);
static u_char *ngx_http_harbor_metrics_family(u_char *p, const char *name,
    const char *type, const char *help);


static ngx_str_t  ngx_http_harbor_metrics_zone_name =
    ngx_string("harbor_metrics");
static ngx_str_t  ngx_http_harbor_metrics_type =
    ngx_string("text/plain; version=0.0.4; charset=utf-8");


/*
 * harbor_metrics;  (in a server or a location)
 *
 * The location (or a server's requests that match no location) answers
 * with the metrics, and the zone they are kept in
 * is made: without the directive anywhere nothing is counted.
 */

char *
ngx_http_harbor_metrics(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    size_t                        size;
    ngx_shm_zone_t               *shm_zone;
    ngx_http_core_loc_conf_t     *clcf;
    ngx_http_harbor_main_conf_t  *hmcf;

    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);

    if (clcf->handler) {
        return "is duplicate, or the location has another handler";
    }

    clcf->handler = ngx_http_harbor_metrics_handler;

    hmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_harbor_module);

    if (hmcf->metrics) {
        return NGX_CONF_OK;
    }

    /* the counters, and room for the slab allocator's own pages */

    size = ngx_align(sizeof(ngx_http_harbor_metrics_sh_t), ngx_pagesize)
           + 8 * ngx_pagesize;

    shm_zone = ngx_shared_memory_add(cf, &ngx_http_harbor_metrics_zone_name,
                                     size, &ngx_http_harbor_module);
    if (shm_zone == NULL) {
        return NGX_CONF_ERROR;
    }

    shm_zone->init = ngx_http_harbor_metrics_init_zone;
    hmcf->metrics = shm_zone;

    return NGX_CONF_OK;
}


static ngx_int_t
ngx_http_harbor_metrics_init_zone(ngx_shm_zone_t *shm_zone, void *data)
{
    ngx_slab_pool_t               *shpool;
    ngx_http_harbor_metrics_sh_t  *sh, *old = data;

    /* a reload keeps the counts, if the module lays them out the same */

    if (old && old->size == sizeof(ngx_http_harbor_metrics_sh_t)) {
        shm_zone->data = old;
        return NGX_OK;
    }

    shpool = (ngx_slab_pool_t *) shm_zone->shm.addr;

    if (shm_zone->shm.exists) {
        shm_zone->data = shpool->data;
        return NGX_OK;
    }

    sh = ngx_slab_alloc(shpool, sizeof(ngx_http_harbor_metrics_sh_t));
    if (sh == NULL) {
        return NGX_ERROR;
    }

    ngx_memzero(sh, sizeof(ngx_http_harbor_metrics_sh_t));
    sh->size = sizeof(ngx_http_harbor_metrics_sh_t);

    shpool->data = sh;
    shm_zone->data = sh;

    return NGX_OK;
}


static ngx_inline ngx_http_harbor_metrics_sh_t *
ngx_http_harbor_metrics_get(ngx_http_request_t *r)
{
    ngx_http_harbor_main_conf_t  *hmcf;

    hmcf = ngx_http_get_module_main_conf(r, ngx_http_harbor_module);

    return hmcf->metrics ? hmcf->metrics->data : NULL;
}


/* One more of an event: an upload's, a token check's, the journal's. */

void
ngx_http_harbor_metrics_count(ngx_http_request_t *r,
    ngx_http_harbor_metric_e event)
{
    ngx_http_harbor_metrics_sh_t  *sh;

    sh = ngx_http_harbor_metrics_get(r);

    if (sh) {
        (void) ngx_atomic_fetch_add(&sh->events[event], 1);
    }
}


/*
 * Every finalized request of a registry location counts once here,
 * whichever handler answered it: the token check's 401, nginx's own 413
 * or 499, the registry's answers.
 */

ngx_int_t
ngx_http_harbor_metrics_log(ngx_http_request_t *r)
{
    ngx_uint_t                     route, status;
    ngx_http_harbor_ctx_t         *ctx;
    ngx_http_harbor_loc_conf_t    *hlcf;
    ngx_http_harbor_metrics_sh_t  *sh;

    sh = ngx_http_harbor_metrics_get(r);
    if (sh == NULL) {
        return NGX_OK;
    }

    ctx = ngx_http_get_module_ctx(r, ngx_http_harbor_module);

    if (ctx == NULL) {
        hlcf = ngx_http_get_module_loc_conf(r, ngx_http_harbor_module);

        if (!hlcf->enable) {
            return NGX_OK;
        }

        /* refused before the registry saw it (a 413, say): its route */

        ctx = ngx_http_harbor_get_ctx(r);
    }

    if (ctx == NULL || ctx->route_rc != NGX_OK) {
        route = NGX_HTTP_HARBOR_M_INVALID;

    } else {
        route = ctx->route.type;
    }

    /* as $status: the error nginx finalized with, or what was sent */

    status = r->err_status ? r->err_status : r->headers_out.status;

    (void) ngx_atomic_fetch_add(
        &sh->requests[route][ngx_http_harbor_metrics_method(r->method)]
                     [ngx_http_harbor_metrics_code(status)], 1);
    (void) ngx_atomic_fetch_add(&sh->received[route], r->request_length);
    (void) ngx_atomic_fetch_add(&sh->sent[route], r->connection->sent);

    /* an upload's body that did not arrive whole */

    if (ctx && ctx->hashing
        && (route == NGX_HTTP_HARBOR_R_UPLOADS
            || route == NGX_HTTP_HARBOR_R_UPLOAD))
    {
        (void) ngx_atomic_fetch_add(
                   &sh->events[NGX_HTTP_HARBOR_M_UPLOAD_INTERRUPTED], 1);
    }

    return NGX_OK;
}


static ngx_uint_t
ngx_http_harbor_metrics_code(ngx_uint_t status)
{
    ngx_uint_t  i;

    for (i = 0; i < NGX_HTTP_HARBOR_M_CODES; i++) {
        if (ngx_http_harbor_m_codes[i] == status) {
            return i;
        }
    }

    if (status < 100 || status > 599) {
        return NGX_HTTP_HARBOR_M_CODES;
    }

    return NGX_HTTP_HARBOR_M_CODES + status / 100;
}


static ngx_uint_t
ngx_http_harbor_metrics_method(ngx_uint_t method)
{
    switch (method) {
    case NGX_HTTP_GET:
        return 0;
    case NGX_HTTP_HEAD:
        return 1;
    case NGX_HTTP_PUT:
        return 2;
    case NGX_HTTP_POST:
        return 3;
    case NGX_HTTP_PATCH:
        return 4;
    case NGX_HTTP_DELETE:
        return 5;
    default:
        return 6;
    }
}


/* GET or HEAD of a harbor_metrics location */

static ngx_int_t
ngx_http_harbor_metrics_handler(ngx_http_request_t *r)
{
    u_char                        *p;
    size_t                         len;
    ngx_int_t                      rc;
    ngx_str_t                      body, code;
    ngx_uint_t                     i, j, k, n, ncodes;
    ngx_atomic_uint_t              v;
    ngx_http_harbor_m_family_t    *f;
    ngx_http_harbor_metrics_sh_t  *sh;
    u_char                         buf[NGX_INT_T_LEN];

    if (!(r->method & (NGX_HTTP_GET|NGX_HTTP_HEAD))) {
        return NGX_HTTP_NOT_ALLOWED;
    }

    rc = ngx_http_discard_request_body(r);
    if (rc != NGX_OK) {
        return rc;
    }

    sh = ngx_http_harbor_metrics_get(r);
    if (sh == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ncodes = NGX_HTTP_HARBOR_M_CODES + NGX_HTTP_HARBOR_M_CLASSES;

    /* a request line for each count that is not 0: those are few */

    n = 0;

    for (i = 0; i < NGX_HTTP_HARBOR_M_ROUTES; i++) {
        for (j = 0; j < NGX_HTTP_HARBOR_M_METHODS; j++) {
            for (k = 0; k < ncodes; k++) {
                n += (sh->requests[i][j][k] != 0);
            }
        }
    }

    len = 4096 + (n + 2 * NGX_HTTP_HARBOR_M_ROUTES + NGX_HTTP_HARBOR_M_EVENTS)
                 * NGX_HTTP_HARBOR_M_LINE;

    body.data = ngx_pnalloc(r->pool, len);
    if (body.data == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    p = ngx_http_harbor_metrics_family(body.data,
            "harbor_nginx_requests_total", "counter",
            "Registry requests, by route kind, method and status.");

    for (i = 0; i < NGX_HTTP_HARBOR_M_ROUTES; i++) {
        for (j = 0; j < NGX_HTTP_HARBOR_M_METHODS; j++) {
            for (k = 0; k < ncodes && n; k++) {

                /* a counter may move meanwhile: n caps the lines */

                v = sh->requests[i][j][k];
                if (v == 0) {
                    continue;
                }

                n--;

                if (k < NGX_HTTP_HARBOR_M_CODES) {
                    code.data = buf;
                    code.len = ngx_sprintf(buf, "%ui",
                                           ngx_http_harbor_m_codes[k])
                               - buf;

                } else {
                    code.data = (u_char *)
                        ngx_http_harbor_m_classes[k - NGX_HTTP_HARBOR_M_CODES];
                    code.len = ngx_strlen(code.data);
                }

                p = ngx_sprintf(p, "harbor_nginx_requests_total{route=\"%s\","
                                "method=\"%s\",code=\"%V\"} %uA\n",
                                ngx_http_harbor_m_routes[i],
                                ngx_http_harbor_m_methods[j], &code, v);
            }
        }
    }

    p = ngx_http_harbor_metrics_family(p,
            "harbor_nginx_received_bytes_total", "counter",
            "Bytes received in registry requests (headers and bodies), "
            "by route kind.");

    for (i = 0; i < NGX_HTTP_HARBOR_M_ROUTES; i++) {
        p = ngx_sprintf(p, "harbor_nginx_received_bytes_total{route=\"%s\"} "
                        "%uA\n", ngx_http_harbor_m_routes[i],
                        sh->received[i]);
    }

    p = ngx_http_harbor_metrics_family(p,
            "harbor_nginx_sent_bytes_total", "counter",
            "Bytes sent in answers to registry requests, by route kind.");

    for (i = 0; i < NGX_HTTP_HARBOR_M_ROUTES; i++) {
        p = ngx_sprintf(p, "harbor_nginx_sent_bytes_total{route=\"%s\"} "
                        "%uA\n", ngx_http_harbor_m_routes[i], sh->sent[i]);
    }

    for (i = 0; i < sizeof(ngx_http_harbor_m_families)
                    / sizeof(ngx_http_harbor_m_family_t); i++)
    {
        f = &ngx_http_harbor_m_families[i];

        p = ngx_http_harbor_metrics_family(p, f->name, "counter", f->help);

        for (j = 0; j < f->n; j++) {
            if (f->label) {
                p = ngx_sprintf(p, "%s{%s=\"%s\"} %uA\n", f->name, f->label,
                                f->values[j], sh->events[f->first + j]);

            } else {
                p = ngx_sprintf(p, "%s %uA\n", f->name,
                                sh->events[f->first + j]);
            }
        }
    }

    body.len = p - body.data;

    return ngx_http_harbor_send(r, NGX_HTTP_OK, &ngx_http_harbor_metrics_type,
                                &body);
}


static u_char *
ngx_http_harbor_metrics_family(u_char *p, const char *name, const char *type,
    const char *help)
{
    return ngx_sprintf(p, "# HELP %s %s\n# TYPE %s %s\n", name, help, name,
                       type);
}
