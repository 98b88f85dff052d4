
/*
 * ngx-harbor: an OCI registry inside nginx.
 * The /v2 router: parse the path into a typed route, dispatch route x
 * method, and write responses and OCI error bodies.
 */


#include "ngx_http_harbor_module.h"


static ngx_int_t ngx_http_harbor_parse_route(ngx_http_request_t *r,
    ngx_http_harbor_route_t *rt, ngx_http_harbor_fail_t *fail);
static ngx_int_t ngx_http_harbor_refuse(ngx_http_harbor_fail_t *fail,
    ngx_uint_t status, const char *code, const char *message);
static ngx_uint_t ngx_http_harbor_out_of_fds(ngx_http_request_t *r);


static ngx_http_output_header_filter_pt  ngx_http_next_header_filter;
static ngx_http_output_body_filter_pt    ngx_http_next_body_filter;

static ngx_str_t  ngx_http_harbor_json_type =
    ngx_string("application/json; charset=utf-8");
static ngx_str_t  ngx_http_harbor_api_version = ngx_string("registry/2.0");
static ngx_str_t  ngx_http_harbor_retry_after = ngx_string("1");


/*
 * The request's context, with its route parsed once: by the token check
 * in the access phase, or here.
 */

ngx_http_harbor_ctx_t *
ngx_http_harbor_get_ctx(ngx_http_request_t *r)
{
    ngx_http_harbor_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_harbor_module);
    if (ctx) {
        return ctx;
    }

    ctx = ngx_pcalloc(r->pool, sizeof(ngx_http_harbor_ctx_t));
    if (ctx == NULL) {
        return NULL;
    }

    ctx->may_mount = 1;
    ngx_http_set_ctx(r, ctx, ngx_http_harbor_module);

    ctx->route_rc = ngx_http_harbor_parse_route(r, &ctx->route, &ctx->fail);

    return ctx;
}


ngx_int_t
ngx_http_harbor_handler(ngx_http_request_t *r)
{
    ngx_int_t                rc;
    ngx_str_t                body;
    ngx_http_harbor_ctx_t   *ctx;
    ngx_http_harbor_route_t *rt;

    ctx = ngx_http_harbor_get_ctx(r);
    if (ctx == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    rt = &ctx->route;

    if (ctx->route_rc != NGX_OK) {
        return ngx_http_harbor_error(r, ctx->fail.status, ctx->fail.code,
                                     ctx->fail.message, NULL);
    }

    if (!(r->method & (NGX_HTTP_POST|NGX_HTTP_PUT|NGX_HTTP_PATCH))) {
        rc = ngx_http_discard_request_body(r);
        if (rc != NGX_OK) {
            return rc;
        }
    }

    /* a bucket: ngx_http_harbor_s3.c */

    if (rt->type != NGX_HTTP_HARBOR_R_BASE
        && ((ngx_http_harbor_loc_conf_t *)
            ngx_http_get_module_loc_conf(r, ngx_http_harbor_module))->s3)
    {
        return ngx_http_harbor_s3_handler(r, rt);
    }

    switch (rt->type) {

    case NGX_HTTP_HARBOR_R_BASE:
        if (!(r->method & (NGX_HTTP_GET|NGX_HTTP_HEAD))) {
            break;
        }

        ngx_str_set(&body, "{}");
        return ngx_http_harbor_send(r, NGX_HTTP_OK, &ngx_http_harbor_json_type,
                                    &body);

    case NGX_HTTP_HARBOR_R_CATALOG:
        if (r->method != NGX_HTTP_GET) {
            break;
        }

        return ngx_http_harbor_catalog(r);

    case NGX_HTTP_HARBOR_R_TAGS:
        if (r->method != NGX_HTTP_GET) {
            break;
        }

        return ngx_http_harbor_tags(r, rt);

    case NGX_HTTP_HARBOR_R_MANIFEST:
        if (!(r->method & (NGX_HTTP_GET|NGX_HTTP_HEAD|NGX_HTTP_PUT
                           |NGX_HTTP_DELETE)))
        {
            break;
        }

        return ngx_http_harbor_manifest(r, rt);

    case NGX_HTTP_HARBOR_R_BLOB:
        if (!(r->method & (NGX_HTTP_GET|NGX_HTTP_HEAD|NGX_HTTP_DELETE))) {
            break;
        }

        return ngx_http_harbor_blob(r, rt);

    case NGX_HTTP_HARBOR_R_UPLOADS:
        if (r->method != NGX_HTTP_POST) {
            break;
        }

        return ngx_http_harbor_uploads(r, rt);

    case NGX_HTTP_HARBOR_R_UPLOAD:
        if (!(r->method & (NGX_HTTP_GET|NGX_HTTP_PATCH|NGX_HTTP_PUT
                           |NGX_HTTP_DELETE)))
        {
            break;
        }

        return ngx_http_harbor_upload(r, rt);

    case NGX_HTTP_HARBOR_R_REFERRERS:
        if (r->method != NGX_HTTP_GET) {
            break;
        }

        return ngx_http_harbor_referrers(r, rt);
    }

    return ngx_http_harbor_error(r, NGX_HTTP_NOT_ALLOWED, "UNSUPPORTED",
                                 "the operation is unsupported", NULL);
}


/* A route refused: why, for the answer. */

static ngx_int_t
ngx_http_harbor_refuse(ngx_http_harbor_fail_t *fail, ngx_uint_t status,
    const char *code, const char *message)
{
    fail->status = status;
    fail->code = code;
    fail->message = message;

    return NGX_DECLINED;
}


/*
 * /v2/                                     base
 * /v2/_catalog                             catalog
 * /v2/<name>/tags/list                     tags
 * /v2/<name>/manifests/<reference>         manifest
 * /v2/<name>/blobs/uploads/                uploads
 * /v2/<name>/blobs/uploads/<uuid>          upload
 * /v2/<name>/blobs/<digest>                blob
 * /v2/<name>/referrers/<digest>            referrers
 *
 * The name may hold "/", so the route is recognized from the right.
 */

static ngx_int_t
ngx_http_harbor_parse_route(ngx_http_request_t *r, ngx_http_harbor_route_t *rt,
    ngx_http_harbor_fail_t *fail)
{
    u_char     *p, *end, *s;
    ngx_str_t   path, last, prev;

    path = r->uri;

    if (path.len < 4 || ngx_strncmp(path.data, "/v2/", 4) != 0) {
        return ngx_http_harbor_refuse(fail, NGX_HTTP_NOT_FOUND, "NOT_FOUND",
                                      "not a registry path");
    }

    p = path.data + 4;
    end = path.data + path.len;

    if (p == end) {
        rt->type = NGX_HTTP_HARBOR_R_BASE;
        return NGX_OK;
    }

    if (end - p == 8 && ngx_strncmp(p, "_catalog", 8) == 0) {
        rt->type = NGX_HTTP_HARBOR_R_CATALOG;
        return NGX_OK;
    }

    /* uploads: "<name>/blobs/uploads/" */

    if (end - p > 15 && ngx_strncmp(end - 15, "/blobs/uploads/", 15) == 0) {
        rt->type = NGX_HTTP_HARBOR_R_UPLOADS;
        rt->name.data = p;
        rt->name.len = end - 15 - p;
        goto name;
    }

    /* the last component and the one before it */

    for (s = end; s > p && s[-1] != '/'; s--) { /* void */ }

    last.data = s;
    last.len = end - s;

    if (s == p || last.len == 0) {
        goto unknown;
    }

    end = s - 1;                 /* the "/" before the last component */

    for (s = end; s > p && s[-1] != '/'; s--) { /* void */ }

    prev.data = s;
    prev.len = end - s;

    if (s == p) {
        goto unknown;
    }

    rt->name.data = p;
    rt->name.len = s - 1 - p;
    rt->ref = last;

    if (prev.len == 4 && ngx_strncmp(prev.data, "tags", 4) == 0
        && last.len == 4 && ngx_strncmp(last.data, "list", 4) == 0)
    {
        rt->type = NGX_HTTP_HARBOR_R_TAGS;
        ngx_str_null(&rt->ref);
        goto name;
    }

    if (prev.len == 9 && ngx_strncmp(prev.data, "manifests", 9) == 0) {
        rt->type = NGX_HTTP_HARBOR_R_MANIFEST;
        goto name;
    }

    if (prev.len == 5 && ngx_strncmp(prev.data, "blobs", 5) == 0) {
        rt->type = NGX_HTTP_HARBOR_R_BLOB;
        goto name;
    }

    if (prev.len == 9 && ngx_strncmp(prev.data, "referrers", 9) == 0) {
        rt->type = NGX_HTTP_HARBOR_R_REFERRERS;
        goto name;
    }

    if (prev.len == 7 && ngx_strncmp(prev.data, "uploads", 7) == 0
        && s - p > 7 && ngx_strncmp(s - 7, "/blobs/", 7) == 0)
    {
        rt->type = NGX_HTTP_HARBOR_R_UPLOAD;
        rt->name.len = s - 7 - p;
        goto name;
    }

unknown:

    return ngx_http_harbor_refuse(fail, NGX_HTTP_NOT_FOUND, "NOT_FOUND",
                                  "not a registry path");

name:

    if (!hb_name_valid(rt->name.data, rt->name.len)) {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "harbor: invalid repository name \"%V\"", &rt->name);
        return ngx_http_harbor_refuse(fail, NGX_HTTP_BAD_REQUEST,
                                      "NAME_INVALID",
                                      "invalid repository name");
    }

    switch (rt->type) {

    case NGX_HTTP_HARBOR_R_BLOB:
    case NGX_HTTP_HARBOR_R_REFERRERS:
        rt->alg = hb_digest_parse(rt->ref.data, rt->ref.len);
        if (rt->alg == HB_DIGEST_NONE) {
            return ngx_http_harbor_refuse(fail, NGX_HTTP_BAD_REQUEST,
                                          "DIGEST_INVALID",
                                          "provided digest is invalid");
        }

        break;

    case NGX_HTTP_HARBOR_R_MANIFEST:
        rt->alg = hb_digest_parse(rt->ref.data, rt->ref.len);
        if (rt->alg == HB_DIGEST_NONE
            && !hb_tag_valid(rt->ref.data, rt->ref.len))
        {
            if (r->method == NGX_HTTP_PUT) {
                return ngx_http_harbor_refuse(fail, NGX_HTTP_BAD_REQUEST,
                                              "MANIFEST_INVALID",
                                              "invalid tag or digest");
            }

            return ngx_http_harbor_refuse(fail, NGX_HTTP_NOT_FOUND,
                                          "MANIFEST_UNKNOWN",
                                          "invalid tag or digest");
        }

        break;

    case NGX_HTTP_HARBOR_R_UPLOAD:
        if (!hb_uuid_valid(rt->ref.data, rt->ref.len)) {
            return ngx_http_harbor_refuse(fail, NGX_HTTP_NOT_FOUND,
                                          "BLOB_UPLOAD_UNKNOWN",
                                          "blob upload unknown to registry");
        }

        break;

    default:
        break;
    }

    return NGX_OK;
}


ngx_int_t
ngx_http_harbor_add_header(ngx_http_request_t *r, const char *name,
    ngx_str_t *value)
{
    ngx_table_elt_t  *h;

    h = ngx_list_push(&r->headers_out.headers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    h->hash = 1;
    h->key.data = (u_char *) name;
    h->key.len = ngx_strlen(name);
    h->value = *value;
#if (nginx_version >= 1023000)
    h->next = NULL;
#endif

    return NGX_OK;
}


/* Location: /v2/<name>/<kind>/<ref> */

ngx_int_t
ngx_http_harbor_set_location(ngx_http_request_t *r, ngx_str_t *name,
    const char *kind, ngx_str_t *ref)
{
    size_t            len;
    ngx_str_t         loc;

    len = sizeof("/v2//") - 1 + name->len + ngx_strlen(kind) + 1 + ref->len;

    loc.data = ngx_pnalloc(r->pool, len);
    if (loc.data == NULL) {
        return NGX_ERROR;
    }

    loc.len = ngx_sprintf(loc.data, "/v2/%V/%s/%V", name, kind, ref)
              - loc.data;

    return ngx_http_harbor_add_header(r, "Location", &loc);
}


/* The first request header of that name, or NULL. */

ngx_table_elt_t *
ngx_http_harbor_header_in(ngx_http_request_t *r, const char *name)
{
    size_t            len;
    ngx_uint_t        i;
    ngx_list_part_t  *part;
    ngx_table_elt_t  *h;

    len = ngx_strlen(name);

    part = &r->headers_in.headers.part;
    h = part->elts;

    for (i = 0; /* void */; i++) {

        if (i >= part->nelts) {
            if (part->next == NULL) {
                return NULL;
            }

            part = part->next;
            h = part->elts;
            i = 0;
        }

        if (h[i].key.len == len
            && ngx_strncasecmp(h[i].key.data, (u_char *) name, len) == 0)
        {
            return &h[i];
        }
    }
}


/* A query argument, URL-decoded.  NGX_DECLINED if absent. */

ngx_int_t
ngx_http_harbor_arg(ngx_http_request_t *r, const char *name, ngx_str_t *value)
{
    u_char     *dst, *src;
    ngx_str_t   raw;

    if (ngx_http_arg(r, (u_char *) name, ngx_strlen(name), &raw) != NGX_OK) {
        return NGX_DECLINED;
    }

    value->data = ngx_pnalloc(r->pool, raw.len + 1);
    if (value->data == NULL) {
        return NGX_ERROR;
    }

    dst = value->data;
    src = raw.data;

    ngx_unescape_uri(&dst, &src, raw.len, NGX_UNESCAPE_URI);

    value->len = dst - value->data;

    return NGX_OK;
}


ngx_int_t
ngx_http_harbor_send(ngx_http_request_t *r, ngx_uint_t status,
    ngx_str_t *content_type, ngx_str_t *body)
{
    ngx_int_t     rc;
    ngx_buf_t    *b;
    ngx_chain_t   out;

    r->headers_out.status = status;
    r->headers_out.content_length_n = body ? (off_t) body->len : 0;

    if (content_type) {
        r->headers_out.content_type = *content_type;
        r->headers_out.content_type_len = content_type->len;
        r->headers_out.content_type_lowcase = NULL;
    }

    if (body == NULL || body->len == 0) {
        r->header_only = 1;
    }

    rc = ngx_http_send_header(r);

    if (rc == NGX_ERROR || rc > NGX_OK || r->header_only) {
        return rc;
    }

    b = ngx_calloc_buf(r->pool);
    if (b == NULL) {
        return NGX_ERROR;
    }

    b->pos = body->data;
    b->last = body->data + body->len;
    b->memory = 1;
    b->last_buf = (r == r->main) ? 1 : 0;
    b->last_in_chain = 1;

    out.buf = b;
    out.next = NULL;

    return ngx_http_output_filter(r, &out);
}


/*
 * {"errors":[{"code":"...","message":"...","detail":...}]}
 * code is ours; message is escaped; detail, if any, is already JSON.
 */

static ngx_int_t
ngx_http_harbor_error_body(ngx_http_request_t *r, const char *code,
    const char *message, ngx_str_t *detail, ngx_str_t *body)
{
    size_t   len, mlen;
    u_char  *p;

    mlen = ngx_strlen(message);

    len = sizeof("{\"errors\":[{\"code\":\"\",\"message\":\"\"}]}") - 1
          + ngx_strlen(code) + mlen
          + ngx_escape_json(NULL, (u_char *) message, mlen);

    if (detail) {
        len += sizeof(",\"detail\":") - 1 + detail->len;
    }

    body->data = ngx_pnalloc(r->pool, len);
    if (body->data == NULL) {
        return NGX_ERROR;
    }

    p = ngx_sprintf(body->data, "{\"errors\":[{\"code\":\"%s\",\"message\":\"",
                    code);
    p = (u_char *) ngx_escape_json(p, (u_char *) message, mlen);
    *p++ = '"';

    if (detail) {
        p = ngx_sprintf(p, ",\"detail\":%V", detail);
    }

    p = ngx_cpymem(p, "}]}", 3);
    body->len = p - body->data;

    return NGX_OK;
}


ngx_int_t
ngx_http_harbor_error(ngx_http_request_t *r, ngx_uint_t status,
    const char *code, const char *message, ngx_str_t *detail)
{
    ngx_str_t               body;
    ngx_http_harbor_ctx_t  *ctx;

    if (r->request_body == NULL) {
        if (ngx_http_discard_request_body(r) != NGX_OK) {
            r->keepalive = 0;
        }
    }

    if (ngx_http_harbor_error_body(r, code, message, detail, &body)
        != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ctx = ngx_http_get_module_ctx(r, ngx_http_harbor_module);
    if (ctx) {
        ctx->error_sent = 1;
    }

    /* a response built before the error must not leak its headers */

    r->headers_out.location = NULL;
    ngx_http_clear_content_length(r);
    ngx_http_clear_accept_ranges(r);
    ngx_http_clear_last_modified(r);
    ngx_http_clear_etag(r);

    return ngx_http_harbor_send(r, status, &ngx_http_harbor_json_type, &body);
}


/*
 * An error nginx answers itself on a registry request (a body too large,
 * a client timeout, a bad chunked body, a refused token, a 500) is
 * rewritten into the registry's error format: clients show its message.
 */

static ngx_int_t
ngx_http_harbor_header_filter(ngx_http_request_t *r)
{
    ngx_str_t               body;
    const char             *code, *message;
    ngx_http_harbor_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_harbor_module);

    if (ctx == NULL || r != r->main) {
        return ngx_http_next_header_filter(r);
    }

    /* before the client hears of a change: see the link cache */

    ngx_http_harbor_linkcache_bump(r);

    if (ngx_http_harbor_add_header(r, "Docker-Distribution-API-Version",
                                   &ngx_http_harbor_api_version)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    /*
     * A request that failed because the worker ran out of descriptors (a
     * request body's temporary file, a link, a blob) is a 503 to retry
     * soon, and the idle descriptors of the open file cache are let go.
     */

    if (r->headers_out.status == NGX_HTTP_INTERNAL_SERVER_ERROR
        && ngx_http_harbor_out_of_fds(r))
    {
        (void) ngx_http_harbor_release_fds(r);
        r->headers_out.status = NGX_HTTP_SERVICE_UNAVAILABLE;
        r->headers_out.status_line.len = 0;
    }

    if (r->headers_out.status == NGX_HTTP_SERVICE_UNAVAILABLE) {
        if (ngx_http_harbor_add_header(r, "Retry-After",
                                       &ngx_http_harbor_retry_after)
            != NGX_OK)
        {
            return NGX_ERROR;
        }

        ctx->error_sent = 0;
        ctx->fail_code = "UNAVAILABLE";
        ctx->fail_message = "the registry is busy, retry in a moment";
    }

    if (r->headers_out.status < NGX_HTTP_BAD_REQUEST || ctx->error_sent) {
        return ngx_http_next_header_filter(r);
    }

    code = ctx->fail_code;
    message = ctx->fail_message;

    if (code == NULL) {
        switch (r->headers_out.status) {
        case NGX_HTTP_UNAUTHORIZED:
            code = "UNAUTHORIZED";
            message = "authentication required";
            break;
        case NGX_HTTP_FORBIDDEN:
            code = "DENIED";
            message = "requested access to the resource is denied";
            break;
        case NGX_HTTP_NOT_FOUND:
            code = "NOT_FOUND";
            message = "not found";
            break;
        case NGX_HTTP_NOT_ALLOWED:
            code = "UNSUPPORTED";
            message = "the operation is unsupported";
            break;
        case NGX_HTTP_REQUEST_TIME_OUT:
            code = "UNKNOWN";
            message = "timed out reading the request";
            break;
        case NGX_HTTP_REQUEST_ENTITY_TOO_LARGE:
            code = "SIZE_INVALID";
            message = "the request body is too large";
            break;
        case NGX_HTTP_BAD_REQUEST:
            code = "UNKNOWN";
            message = "malformed request";
            break;
        case NGX_HTTP_INSUFFICIENT_STORAGE:
            code = "UNKNOWN";
            message = "no space left in the store";
            break;
        default:
            code = "UNKNOWN";
            message = r->headers_out.status >= NGX_HTTP_INTERNAL_SERVER_ERROR
                      ? "internal server error" : "request refused";
        }
    }

    if (ngx_http_harbor_error_body(r, code, message, NULL, &body) != NGX_OK) {
        return NGX_ERROR;
    }

    ctx->error_body = body;
    ctx->error_replace = 1;

    r->headers_out.content_type = ngx_http_harbor_json_type;
    r->headers_out.content_type_len = ngx_http_harbor_json_type.len;
    r->headers_out.content_type_lowcase = NULL;
    r->headers_out.charset.len = 0;

    ngx_http_clear_content_length(r);
    r->headers_out.content_length_n = body.len;

    return ngx_http_next_header_filter(r);
}


/*
 * Whether a 500 came from running out of descriptors: the call that
 * failed said so, or no descriptor can be had now (the request may have
 * closed some of its own since).
 */

static ngx_uint_t
ngx_http_harbor_out_of_fds(ngx_http_request_t *r)
{
    ngx_fd_t   fd;
    ngx_err_t  err;

    err = ngx_errno;

    if (ngx_http_harbor_fds_exhausted(err)) {
        return 1;
    }

    fd = dup(r->connection->fd);

    if (fd == -1) {
        err = ngx_errno;
        return ngx_http_harbor_fds_exhausted(err);
    }

    (void) close(fd);

    return 0;
}


static ngx_int_t
ngx_http_harbor_body_filter(ngx_http_request_t *r, ngx_chain_t *in)
{
    ngx_buf_t              *b;
    ngx_uint_t              last;
    ngx_chain_t            *cl, out;
    ngx_http_harbor_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_harbor_module);

    if (ctx == NULL || !ctx->error_replace || r != r->main) {
        return ngx_http_next_body_filter(r, in);
    }

    /* nginx's page is dropped; ours goes once, with its last buffer */

    last = 0;

    for (cl = in; cl; cl = cl->next) {
        if (cl->buf->last_buf) {
            last = 1;
        }

        cl->buf->pos = cl->buf->last;
        cl->buf->file_pos = cl->buf->file_last;
    }

    if (!last) {
        return NGX_OK;
    }

    ctx->error_replace = 0;

    b = ngx_calloc_buf(r->pool);
    if (b == NULL) {
        return NGX_ERROR;
    }

    b->pos = ctx->error_body.data;
    b->last = ctx->error_body.data + ctx->error_body.len;
    b->memory = 1;
    b->last_buf = 1;

    out.buf = b;
    out.next = NULL;

    return ngx_http_next_body_filter(r, &out);
}


ngx_int_t
ngx_http_harbor_filter_init(ngx_conf_t *cf)
{
    ngx_http_next_header_filter = ngx_http_top_header_filter;
    ngx_http_top_header_filter = ngx_http_harbor_header_filter;

    ngx_http_next_body_filter = ngx_http_top_body_filter;
    ngx_http_top_body_filter = ngx_http_harbor_body_filter;

    return NGX_OK;
}


/*
 * A storage call failed (the backend logged it and chose the status, see
 * ngx_http_harbor_errno_status() for the filesystem): the registry's
 * error body for that status.
 */

void
ngx_http_harbor_status_fail(ngx_uint_t status, ngx_http_harbor_fail_t *fail)
{
    fail->status = status;

    switch (status) {

    case NGX_HTTP_INSUFFICIENT_STORAGE:
        fail->code = "UNKNOWN";
        fail->message = "no space left in the store";
        break;

    case NGX_HTTP_FORBIDDEN:
        fail->code = "DENIED";
        fail->message = "the store refuses writes";
        break;

    case NGX_HTTP_SERVICE_UNAVAILABLE:
        fail->code = "UNAVAILABLE";
        fail->message = "the store is busy, try again";
        break;

    default:
        fail->status = NGX_HTTP_INTERNAL_SERVER_ERROR;
        fail->code = "UNKNOWN";
        fail->message = "storage error";
    }
}


ngx_int_t
ngx_http_harbor_op_error(ngx_http_request_t *r, ngx_http_harbor_op_t *op)
{
    ngx_http_harbor_fail_t  fail;

    ngx_http_harbor_status_fail(op->status, &fail);

    return ngx_http_harbor_error(r, fail.status, fail.code, fail.message,
                                 NULL);
}


void
ngx_http_harbor_link_init(ngx_http_harbor_link_t *l,
    ngx_http_harbor_link_e kind, ngx_str_t *name, ngx_str_t *key,
    ngx_str_t *key2)
{
    l->kind = kind;
    l->name = *name;
    l->key = *key;
    l->cached = 0;

    if (key2) {
        l->key2 = *key2;

    } else {
        ngx_str_null(&l->key2);
    }
}


/* ?n= and ?last= of the list endpoints.  n is -1 when absent. */

ngx_int_t
ngx_http_harbor_list_args(ngx_http_request_t *r, ngx_int_t *n, ngx_str_t *last)
{
    ngx_str_t  v;
    ngx_int_t  rc;

    *n = -1;
    ngx_str_null(last);

    rc = ngx_http_harbor_arg(r, "n", &v);
    if (rc == NGX_ERROR) {
        return NGX_ERROR;
    }

    if (rc == NGX_OK) {
        *n = hb_count_parse(v.data, v.len, 1000000);
        if (*n < 0) {
            return NGX_DECLINED;
        }

        if (*n > NGX_HTTP_HARBOR_LIST_MAX) {
            *n = NGX_HTTP_HARBOR_LIST_MAX;
        }
    }

    rc = ngx_http_harbor_arg(r, "last", last);
    if (rc == NGX_ERROR) {
        return NGX_ERROR;
    }

    return NGX_OK;
}


/*
 * The page ?n= and ?last= ask for, at most max names (NGX_DECLINED: a bad
 * n, answered by send_list()).
 */

ngx_int_t
ngx_http_harbor_page_init(ngx_http_request_t *r, ngx_http_harbor_page_t *page,
    ngx_uint_t max)
{
    ngx_int_t  n, rc;

    ngx_memzero(page, sizeof(ngx_http_harbor_page_t));

    rc = ngx_http_harbor_list_args(r, &n, &page->last);
    if (rc != NGX_OK) {
        return rc;
    }

    page->n = (n < 0 || (ngx_uint_t) n > max) ? max : (ngx_uint_t) n;

    if (ngx_array_init(&page->items, r->pool, ngx_min(page->n + 1, 64),
                       sizeof(ngx_str_t))
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    return NGX_OK;
}


/*
 * Send {<prefix>"<key>":["a","b"]} from a sorted array of validated names
 * (no JSON escaping is needed for them), after ?last=, at most ?n=, with
 * a Link header to the next page.
 */

ngx_int_t
ngx_http_harbor_send_list(ngx_http_request_t *r, ngx_array_t *items,
    ngx_str_t *path, const char *prefix, const char *key)
{
    u_char      *p;
    size_t       len;
    ngx_str_t   *it, body, link, lastv, *last;
    ngx_int_t    cmp, n, rc;
    ngx_uint_t   i, first, count, more;

    last = &lastv;

    rc = ngx_http_harbor_list_args(r, &n, last);

    if (rc == NGX_ERROR) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (rc == NGX_DECLINED) {
        return ngx_http_harbor_error(r, NGX_HTTP_BAD_REQUEST,
                                     "PAGINATION_NUMBER_INVALID",
                                     "invalid number of results requested",
                                     NULL);
    }

    it = items->elts;

    first = 0;

    if (last->len) {
        for (first = 0; first < items->nelts; first++) {
            cmp = ngx_memn2cmp(it[first].data, last->data, it[first].len,
                               last->len);
            if (cmp > 0) {
                break;
            }
        }
    }

    count = items->nelts - first;
    more = 0;

    if (n >= 0 && (ngx_uint_t) n < count) {
        count = n;
        more = 1;
    }

    if (n < 0 && count > NGX_HTTP_HARBOR_LIST_MAX) {
        count = NGX_HTTP_HARBOR_LIST_MAX;
        n = NGX_HTTP_HARBOR_LIST_MAX;
        more = 1;
    }

    len = ngx_strlen(prefix) + ngx_strlen(key) + sizeof("{\"\":[]}");

    for (i = first; i < first + count; i++) {
        len += it[i].len + 3;
    }

    body.data = ngx_pnalloc(r->pool, len);
    if (body.data == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    p = ngx_sprintf(body.data, "{%s\"%s\":[", prefix, key);

    for (i = first; i < first + count; i++) {
        p = ngx_sprintf(p, "%s\"%V\"", i == first ? "" : ",", &it[i]);
    }

    p = ngx_cpymem(p, "]}", 2);
    body.len = p - body.data;

    if (more && count > 0) {
        link.data = ngx_pnalloc(r->pool, path->len + it[first + count - 1].len
                                         + NGX_INT_T_LEN + 40);
        if (link.data == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        link.len = ngx_sprintf(link.data, "<%V?last=%V&n=%i>; rel=\"next\"",
                               path, &it[first + count - 1], n)
                   - link.data;

        if (ngx_http_harbor_add_header(r, "Link", &link) != NGX_OK) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }
    }

    return ngx_http_harbor_send(r, NGX_HTTP_OK, &ngx_http_harbor_json_type,
                                &body);
}
