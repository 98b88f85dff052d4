
/*
 * ngx-harbor: an OCI registry inside nginx.
 * Proxy cache projects: the module's half of a pull through.
 *
 * authd writes <storage>/_policies/proxy/<project> for each project that
 * is a proxy cache of another registry ("recheck <seconds>" LF).  A
 * manifest GET or HEAD needs to know whether its project has one: each
 * worker keeps the answer (the interval, or "none") for a project for at
 * most NGX_HTTP_HARBOR_PROXY_AGE, so that the pulls of every other project
 * do not pay an open(2) each; a project made a proxy cache (or deleted)
 * is seen as one (or not) within that time.  A manifest of such
 * a project that is not here, or a tag whose link is older than the
 * recheck interval, goes to authd (location /_harbor/proxy-fetch, an
 * internal redirect: the module never waits on the network), which
 * fetches it from the upstream into the storage through /v2 and answers
 * with X-Accel-Redirect back to the same /v2 path.  That second pass is
 * an internal request, served from the storage without asking authd
 * again (the loop guard); "?harbor_proxy=renew" in it says the upstream
 * still has the tag at the same digest: its link is renewed, so that the
 * next check comes one interval later (docs/policies.md).
 */


#include "ngx_http_harbor_module.h"


#define NGX_HTTP_HARBOR_PROXY_RECHECK  300      /* a file without one */
#define NGX_HTTP_HARBOR_PROXY_AGE      1000     /* ms */
#define NGX_HTTP_HARBOR_PROXY_SLOTS    64
#define NGX_HTTP_HARBOR_PROXY_NAME     64


/* what a worker last read of a project's file */
typedef struct {
    ngx_msec_t      read;
    time_t          recheck;                   /* -1: not a proxy cache */
    size_t          len;
    u_char          name[NGX_HTTP_HARBOR_PROXY_NAME];
} ngx_http_harbor_proxy_seen_t;


static ngx_http_harbor_proxy_seen_t
    ngx_http_harbor_proxy_seen[NGX_HTTP_HARBOR_PROXY_SLOTS];


static ngx_str_t  ngx_http_harbor_proxy_fetch = ngx_string(
    "/_harbor/proxy-fetch");


/* "recheck <n>": n, or the default */
static time_t
ngx_http_harbor_proxy_recheck(ngx_str_t *data)
{
    u_char     *p, *last;
    ngx_int_t   n;

    p = data->data;
    last = p + data->len;

    if (data->len < sizeof("recheck ") - 1
        || ngx_strncmp(p, "recheck ", sizeof("recheck ") - 1) != 0)
    {
        return NGX_HTTP_HARBOR_PROXY_RECHECK;
    }

    p += sizeof("recheck ") - 1;

    for (last = p; last < data->data + data->len; last++) {
        if (*last < '0' || *last > '9') {
            break;
        }
    }

    n = ngx_atoi(p, last - p);

    return n == NGX_ERROR ? NGX_HTTP_HARBOR_PROXY_RECHECK : (time_t) n;
}


/*
 * Before a manifest GET or HEAD: NGX_DECLINED, serve it from the storage;
 * NGX_DONE, the request went to authd; anything else, the answer.
 */

ngx_int_t
ngx_http_harbor_proxy_pull(ngx_http_request_t *r, ngx_http_harbor_route_t *rt)
{
    u_char                        *slash, *p;
    time_t                         recheck;
    ngx_int_t                      rc;
    ngx_str_t                      project, args, renew;
    ngx_http_harbor_op_t           op;
    ngx_http_harbor_ctx_t         *ctx;
    ngx_http_harbor_link_t         link;
    ngx_http_harbor_backend_t     *hs;
    ngx_http_harbor_proxy_seen_t  *seen;

    hs = ngx_http_harbor_backend(r);

    ngx_http_harbor_link_init(&link, rt->alg == HB_DIGEST_NONE
                              ? NGX_HTTP_HARBOR_LINK_TAG
                              : NGX_HTTP_HARBOR_LINK_REVISION,
                              &rt->name, &rt->ref, NULL);

    if (r->internal) {
        /* authd's answer: served from here, whatever happens */

        if (rt->alg == HB_DIGEST_NONE
            && ngx_http_arg(r, (u_char *) "harbor_proxy",
                            sizeof("harbor_proxy") - 1, &renew) == NGX_OK
            && renew.len == sizeof("renew") - 1
            && ngx_strncmp(renew.data, "renew", renew.len) == 0)
        {
            ngx_memzero(&op, sizeof(op));

            if (hs->link_touch(r, &link, &op) == NGX_ERROR) {
                ngx_log_error(NGX_LOG_WARN, r->connection->log, 0,
                              "harbor: proxy cache: tag \"%V\" of \"%V\" "
                              "not renewed", &rt->ref, &rt->name);
            }
        }

        return NGX_DECLINED;
    }

    /* authd's own requests while it fetches: what is here, no more */
    ctx = ngx_http_get_module_ctx(r, ngx_http_harbor_module);

    if (ctx != NULL && ctx->user.len == sizeof(HB_PROXY_USER) - 1
        && ngx_strncmp(ctx->user.data, HB_PROXY_USER, ctx->user.len) == 0)
    {
        return NGX_DECLINED;
    }

    slash = ngx_strlchr(rt->name.data, rt->name.data + rt->name.len, '/');
    if (slash == NULL) {
        return NGX_DECLINED;
    }

    project.data = rt->name.data;
    project.len = slash - rt->name.data;

    seen = NULL;

    if (project.len <= NGX_HTTP_HARBOR_PROXY_NAME) {
        seen = &ngx_http_harbor_proxy_seen[ngx_crc32_short(project.data,
                                                           project.len)
                                           % NGX_HTTP_HARBOR_PROXY_SLOTS];
    }

    if (seen != NULL && seen->len == project.len
        && ngx_current_msec - seen->read < NGX_HTTP_HARBOR_PROXY_AGE
        && ngx_memcmp(seen->name, project.data, project.len) == 0)
    {
        recheck = seen->recheck;

    } else {
        ngx_memzero(&op, sizeof(op));

        rc = hs->policy_read(r, HB_POLICY_PROXY, &project, &op);

        if (rc != NGX_OK && rc != NGX_DECLINED) {
            return ngx_http_harbor_op_error(r, &op);
        }

        recheck = rc == NGX_OK ? ngx_http_harbor_proxy_recheck(&op.data) : -1;

        if (seen != NULL) {
            seen->read = ngx_current_msec;
            seen->recheck = recheck;
            seen->len = project.len;
            ngx_memcpy(seen->name, project.data, project.len);
        }
    }

    if (recheck == -1) {
        return NGX_DECLINED;            /* not a proxy cache */
    }

    op.done = NULL;

    rc = hs->link_get(r, &link, 0, &op);

    if (rc == NGX_ERROR) {
        return ngx_http_harbor_op_error(r, &op);
    }

    if (rc == NGX_OK
        && (rt->alg != HB_DIGEST_NONE || ngx_time() - op.mtime < recheck))
    {
        return NGX_DECLINED;            /* here, and fresh */
    }

    /* name and ref are of the grammar's characters: no escaping needed */

    args.len = sizeof("name=&ref=") - 1 + rt->name.len + rt->ref.len;
    args.data = ngx_pnalloc(r->pool, args.len);
    if (args.data == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    p = ngx_cpymem(args.data, "name=", sizeof("name=") - 1);
    p = ngx_cpymem(p, rt->name.data, rt->name.len);
    p = ngx_cpymem(p, "&ref=", sizeof("&ref=") - 1);
    ngx_memcpy(p, rt->ref.data, rt->ref.len);

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "harbor: proxy cache: \"%V\" to authd, %s", &args,
                   rc == NGX_OK ? "stale" : "missing");

    return ngx_http_internal_redirect(r, &ngx_http_harbor_proxy_fetch, &args);
}
