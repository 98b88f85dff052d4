
/*
 * ngx-harbor: an OCI registry inside nginx.
 * Blob uploads: monolithic, chunked and resumable, cross-repository mount.
 *
 * A request body goes to a temporary file inside the store (nginx's own
 * body reading, with client_body_temp_path set to <storage>/_tmp) while a
 * request body filter hashes it as it streams: the bytes are read once,
 * written once, hashed once.  The hash state of an upload is saved with
 * it, so the next chunk may come to any worker, or after a restart.
 */


#include "ngx_http_harbor_module.h"


static ngx_int_t ngx_http_harbor_request_body_filter(ngx_http_request_t *r,
    ngx_chain_t *in);
static void ngx_http_harbor_monolithic_done(ngx_http_request_t *r);
static void ngx_http_harbor_monolithic_commit(ngx_http_request_t *r,
    ngx_http_harbor_op_t *op);
static void ngx_http_harbor_chunk_done(ngx_http_request_t *r);
static void ngx_http_harbor_chunk_synced(ngx_http_request_t *r,
    ngx_http_harbor_op_t *op);
static void ngx_http_harbor_create_done(ngx_http_request_t *r,
    ngx_http_harbor_op_t *op);
static ngx_int_t ngx_http_harbor_created(ngx_http_request_t *r,
    ngx_http_harbor_op_t *op);
static void ngx_http_harbor_mount_done(ngx_http_request_t *r,
    ngx_http_harbor_op_t *op);
static ngx_int_t ngx_http_harbor_mounted(ngx_http_request_t *r,
    ngx_http_harbor_op_t *op);
static ngx_int_t ngx_http_harbor_set_range(ngx_http_request_t *r, off_t size);


static ngx_http_request_body_filter_pt  ngx_http_next_request_body_filter;


ngx_int_t
ngx_http_harbor_body_filter_init(ngx_conf_t *cf)
{
    ngx_http_next_request_body_filter = ngx_http_top_request_body_filter;
    ngx_http_top_request_body_filter = ngx_http_harbor_request_body_filter;

    return NGX_OK;
}


/* Hash the body as it streams past, on its way to the temporary file. */

static ngx_int_t
ngx_http_harbor_request_body_filter(ngx_http_request_t *r, ngx_chain_t *in)
{
    off_t                   size;
    ngx_int_t               rc;
    ngx_err_t               err;
    ngx_chain_t            *cl;
    ngx_http_harbor_ctx_t  *ctx;
    ngx_http_harbor_fail_t  fail;

    ctx = ngx_http_get_module_ctx(r, ngx_http_harbor_module);

    if (ctx == NULL || !ctx->hashing) {
        return ngx_http_next_request_body_filter(r, in);
    }

    for (cl = in; cl; cl = cl->next) {

        if (ngx_buf_special(cl->buf)) {
            continue;
        }

        if (cl->buf->in_file) {
            /* nginx's body filters pass memory; never hash around a file */
            ngx_log_error(NGX_LOG_ALERT, r->connection->log, 0,
                          "harbor: file buffer in request body filter");
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        size = cl->buf->last - cl->buf->pos;

        if (ctx->limit && ctx->received + size > ctx->limit) {
            ctx->too_large = 1;
            ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                          "harbor: request body is larger than %O bytes",
                          ctx->limit);

            if (ctx->route.type == NGX_HTTP_HARBOR_R_MANIFEST) {
                ctx->fail_code = "SIZE_INVALID";
                ctx->fail_message = "manifests are limited to 4 MiB";
                return NGX_HTTP_REQUEST_ENTITY_TOO_LARGE;
            }

            ctx->fail_code = "BLOB_UPLOAD_INVALID";
            ctx->fail_message = "the body is longer than its Content-Range";

            /* nginx answers this one: release the upload first */
            ngx_http_harbor_backend(r)->upload_release(&ctx->upload);

            return NGX_HTTP_BAD_REQUEST;
        }

        SHA256_Update(&ctx->sha, cl->buf->pos, size);
        ctx->received += size;
    }

    rc = ngx_http_next_request_body_filter(r, in);

    if (rc == NGX_HTTP_INTERNAL_SERVER_ERROR) {

        /*
         * nginx could not write the body to its temporary file in the
         * store (logged with the file's name); errno is that of the
         * failed write, its last call.  A full store is told as such.
         */

        err = ngx_errno;

        if (err == NGX_ENOSPC
#ifdef EDQUOT
            || err == EDQUOT
#endif
           )
        {
            ngx_http_harbor_status_fail(ngx_http_harbor_errno_status(err),
                                        &fail);
            ctx->fail_code = fail.code;
            ctx->fail_message = fail.message;
            rc = fail.status;
        }

        /* nginx answers this one: release the upload first */
        ngx_http_harbor_backend(r)->upload_release(&ctx->upload);
    }

    return rc;
}


/*
 * Read the body into a temporary file in the store, hashing it with
 * ctx->sha (already initialized or restored).  Returns what a content
 * handler returns.
 */

ngx_int_t
ngx_http_harbor_read_body(ngx_http_request_t *r, off_t limit,
    ngx_http_client_body_handler_pt handler)
{
    ngx_int_t               rc;
    ngx_http_harbor_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_harbor_module);

    ctx->hashing = 1;
    ctx->limit = limit;
    ctx->received = 0;

    r->request_body_in_file_only = 1;
    r->request_body_in_persistent_file = 1;
    r->request_body_in_clean_file = 1;
    r->request_body_file_log_level = 0;

    /* 0660 less the umask: blobs are read by the store's group too */
    r->request_body_file_group_access = 1;

    rc = ngx_http_read_client_request_body(r, handler);

    if (rc >= NGX_HTTP_SPECIAL_RESPONSE) {
        return rc;
    }

    return NGX_DONE;
}


/*
 * ?mount=<digest>&from=<name>: NGX_OK, a mount to try; NGX_DECLINED, none
 * (or no pull on from: ngx_http_harbor_token.c); NGX_ABORT, *answer is
 * the handler's answer (invalid arguments).
 */

ngx_int_t
ngx_http_harbor_mount_args(ngx_http_request_t *r, ngx_str_t *mount,
    ngx_str_t *from, ngx_int_t *answer)
{
    ngx_int_t               rc;
    ngx_http_harbor_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_harbor_module);

    rc = ngx_http_harbor_arg(r, "mount", mount);
    if (rc == NGX_ERROR) {
        *answer = NGX_HTTP_INTERNAL_SERVER_ERROR;
        return NGX_ABORT;
    }

    if (rc != NGX_OK || !ctx->may_mount
        || ngx_http_harbor_arg(r, "from", from) != NGX_OK)
    {
        return NGX_DECLINED;
    }

    if (hb_digest_parse(mount->data, mount->len) == HB_DIGEST_NONE) {
        *answer = ngx_http_harbor_error(r, NGX_HTTP_BAD_REQUEST,
                                        "DIGEST_INVALID",
                                        "provided digest is invalid", NULL);
        return NGX_ABORT;
    }

    if (!hb_name_valid(from->data, from->len)) {
        *answer = ngx_http_harbor_error(r, NGX_HTTP_BAD_REQUEST,
                                        "NAME_INVALID",
                                        "invalid repository name in from",
                                        NULL);
        return NGX_ABORT;
    }

    return NGX_OK;
}


/*
 * A monolithic upload's ?digest= into ctx->digest and rt->alg: NGX_OK;
 * NGX_DECLINED, none; NGX_ABORT, *answer is the handler's answer.
 */

ngx_int_t
ngx_http_harbor_digest_arg(ngx_http_request_t *r,
    ngx_http_harbor_route_t *rt, ngx_int_t *answer)
{
    ngx_int_t               rc;
    ngx_http_harbor_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_harbor_module);

    rc = ngx_http_harbor_arg(r, "digest", &ctx->digest);
    if (rc == NGX_ERROR) {
        *answer = NGX_HTTP_INTERNAL_SERVER_ERROR;
        return NGX_ABORT;
    }

    if (rc != NGX_OK) {
        return NGX_DECLINED;
    }

    rt->alg = hb_digest_parse(ctx->digest.data, ctx->digest.len);

    if (rt->alg == HB_DIGEST_NONE) {
        *answer = ngx_http_harbor_error(r, NGX_HTTP_BAD_REQUEST,
                                        "DIGEST_INVALID",
                                        "provided digest is invalid", NULL);
        return NGX_ABORT;
    }

    return NGX_OK;
}


/* POST /v2/<name>/blobs/uploads/ */

ngx_int_t
ngx_http_harbor_uploads(ngx_http_request_t *r, ngx_http_harbor_route_t *rt)
{
    ngx_int_t                   rc, answer;
    ngx_str_t                   mount, from;
    ngx_http_harbor_op_t        op;
    ngx_http_harbor_ctx_t      *ctx;
    ngx_http_harbor_link_t      link;
    ngx_http_harbor_backend_t  *hs;

    /* calls that cannot wait: done unset */
    op.done = NULL;

    ctx = ngx_http_get_module_ctx(r, ngx_http_harbor_module);
    hs = ngx_http_harbor_backend(r);

    rc = ngx_http_harbor_mount_args(r, &mount, &from, &answer);

    if (rc == NGX_ABORT) {
        return answer;
    }

    if (rc == NGX_OK) {

        /* a mount needs the blob linked in the source repository */

        ngx_http_harbor_link_init(&link, NGX_HTTP_HARBOR_LINK_LAYER, &from,
                                  &mount, NULL);

        rc = hs->link_get(r, &link, 0, &op);
        if (rc == NGX_OK) {
            rc = hs->blob_touch(r, &mount, &op);
        }

        if (rc == NGX_ERROR) {
            return ngx_http_harbor_op_error(r, &op);
        }

        if (rc == NGX_OK) {
            if (ngx_http_discard_request_body(r) != NGX_OK) {
                return NGX_HTTP_INTERNAL_SERVER_ERROR;
            }

            /* the link, written and synced in the thread pool */

            ngx_http_harbor_link_init(&link, NGX_HTTP_HARBOR_LINK_LAYER,
                                      &rt->name, &mount, NULL);

            ctx->digest = mount;
            ctx->op.done = ngx_http_harbor_mount_done;

            rc = hs->link_set(r, &link, &mount, &ctx->op);

            if (rc == NGX_AGAIN) {
                r->main->count++;
                return NGX_DONE;
            }

            return ngx_http_harbor_mounted(r, &ctx->op);
        }

        /* else a normal upload, as the spec says */
    }

    rc = ngx_http_harbor_digest_arg(r, rt, &answer);

    if (rc == NGX_ABORT) {
        return answer;
    }

    if (rc == NGX_OK) {
        SHA256_Init(&ctx->sha);
        ngx_http_harbor_metrics_count(r, NGX_HTTP_HARBOR_M_UPLOAD_STARTED);

        return ngx_http_harbor_read_body(r, 0,
                                         ngx_http_harbor_monolithic_done);
    }

    if (ngx_http_discard_request_body(r) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    /* open sessions are limited per user and in all */

    rc = ngx_http_harbor_sessions_begin(r);

    if (rc == NGX_ERROR) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (rc == NGX_DECLINED) {
        return ngx_http_harbor_error(r, NGX_HTTP_TOO_MANY_REQUESTS,
                                     "TOOMANYREQUESTS", ctx->fail_message,
                                     NULL);
    }

    /* its first files, written and synced in the thread pool */

    ctx->op.done = ngx_http_harbor_create_done;

    rc = hs->upload_create(r, &rt->name, &rt->ref, &ctx->op);

    if (rc == NGX_AGAIN) {
        r->main->count++;
        return NGX_DONE;
    }

    return ngx_http_harbor_created(r, &ctx->op);
}


static void
ngx_http_harbor_create_done(ngx_http_request_t *r, ngx_http_harbor_op_t *op)
{
    ngx_http_finalize_request(r, ngx_http_harbor_created(r, op));
}


/* The upload exists (rt->ref is its id), or it could not be made. */

static ngx_int_t
ngx_http_harbor_created(ngx_http_request_t *r, ngx_http_harbor_op_t *op)
{
    ngx_int_t               rc;
    ngx_http_harbor_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_harbor_module);

    if (op->rc != NGX_OK) {
        rc = ngx_http_harbor_op_error(r, op);
        ngx_http_harbor_sessions_end(r, NULL);
        return rc;
    }

    ctx->upload.offset = 0;
    ngx_http_harbor_metrics_count(r, NGX_HTTP_HARBOR_M_UPLOAD_STARTED);

    return ngx_http_harbor_upload_accepted(r, &ctx->route, &ctx->upload,
                                           NGX_HTTP_ACCEPTED);
}


static void
ngx_http_harbor_mount_done(ngx_http_request_t *r, ngx_http_harbor_op_t *op)
{
    ngx_http_finalize_request(r, ngx_http_harbor_mounted(r, op));
}


/* The mounted blob is linked in the repository, or it could not be. */

static ngx_int_t
ngx_http_harbor_mounted(ngx_http_request_t *r, ngx_http_harbor_op_t *op)
{
    ngx_http_harbor_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_harbor_module);

    if (op->rc != NGX_OK) {
        return ngx_http_harbor_op_error(r, op);
    }

    ngx_http_harbor_metrics_count(r, NGX_HTTP_HARBOR_M_BLOB_MOUNTED);

    return ngx_http_harbor_blob_created(r, &ctx->route, &ctx->digest);
}


/*
 * The body is read: its sha256 is known, a sha512 is computed by the
 * backend; the blob and its link are committed (in the thread pool).
 */

static void
ngx_http_harbor_monolithic_done(ngx_http_request_t *r)
{
    ngx_int_t                  rc;
    ngx_temp_file_t           *tf;
    ngx_http_harbor_ctx_t     *ctx;
    ngx_http_harbor_commit_t  *c;
    u_char                     bin[SHA512_DIGEST_LENGTH];

    ctx = ngx_http_get_module_ctx(r, ngx_http_harbor_module);
    ctx->hashing = 0;

    tf = r->request_body ? r->request_body->temp_file : NULL;

    c = &ctx->commit;
    c->name = ctx->route.name;
    c->digest = ctx->digest;
    c->hex = ctx->hex;

    if (ctx->route.alg == HB_DIGEST_SHA256) {
        ngx_http_harbor_sha256_hex(&ctx->sha, ctx->hex);

    } else if (tf == NULL) {
        /* the empty blob */
        SHA512((u_char *) "", 0, bin);
        hb_hex(ctx->hex, bin, SHA512_DIGEST_LENGTH);

    } else {
        c->hex = NULL;
    }

    ctx->op.done = ngx_http_harbor_monolithic_commit;

    rc = ngx_http_harbor_backend(r)->commit(r, c, &ctx->op);

    if (rc != NGX_AGAIN) {
        ngx_http_harbor_monolithic_commit(r, &ctx->op);
    }
}


/* The blob is in the store and linked, or it did not match. */

static void
ngx_http_harbor_monolithic_commit(ngx_http_request_t *r,
    ngx_http_harbor_op_t *op)
{
    ngx_http_harbor_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_harbor_module);

    if (op->rc == NGX_DECLINED) {
        ngx_http_finalize_request(r,
            ngx_http_harbor_error(r, NGX_HTTP_BAD_REQUEST, "DIGEST_INVALID",
                                  "provided digest did not match uploaded "
                                  "content", NULL));
        return;
    }

    if (op->rc != NGX_OK) {
        ngx_http_finalize_request(r, ngx_http_harbor_op_error(r, op));
        return;
    }

    ngx_http_harbor_metrics_count(r, NGX_HTTP_HARBOR_M_UPLOAD_FINISHED);

    ngx_http_finalize_request(r,
        ngx_http_harbor_blob_created(r, &ctx->route, &ctx->digest));
}


/*
 * /v2/<name>/blobs/uploads/<uuid>: GET, PATCH, PUT, DELETE
 *
 * The upload is locked while this request changes it, and released just
 * before every answer is made: the client's next request may reach
 * another worker before this one is freed, and must find it free.  (An
 * error nginx answers by itself while reading the body, such as a timeout
 * or a malformed chunked body, releases it when the request is freed.)
 */

ngx_int_t
ngx_http_harbor_upload(ngx_http_request_t *r, ngx_http_harbor_route_t *rt)
{
    ngx_int_t                   rc;
    ngx_uint_t                  status;
    const char                 *message;
    ngx_http_harbor_op_t        op;
    ngx_http_harbor_ctx_t      *ctx;
    ngx_http_harbor_upload_t   *u;
    ngx_http_harbor_backend_t  *hs;

    /* calls that cannot wait: done unset */
    op.done = NULL;

    ctx = ngx_http_get_module_ctx(r, ngx_http_harbor_module);
    u = &ctx->upload;
    hs = ngx_http_harbor_backend(r);

    rc = hs->upload_open(r, &rt->name, &rt->ref, u, &op);

    if (rc != NGX_OK) {
        hs->upload_release(u);
    }

    if (rc == NGX_DECLINED) {
        return ngx_http_harbor_error(r, NGX_HTTP_NOT_FOUND,
                                     "BLOB_UPLOAD_UNKNOWN",
                                     "blob upload unknown to registry", NULL);
    }

    if (rc == NGX_BUSY) {
        return ngx_http_harbor_error(r, NGX_HTTP_RANGE_NOT_SATISFIABLE,
                                     "BLOB_UPLOAD_INVALID",
                                     "another request is writing to this "
                                     "upload", NULL);
    }

    if (rc != NGX_OK) {
        return ngx_http_harbor_op_error(r, &op);
    }

    switch (r->method) {

    case NGX_HTTP_GET:
        hs->upload_release(u);
        return ngx_http_harbor_upload_accepted(r, rt, u, NGX_HTTP_NO_CONTENT);

    case NGX_HTTP_DELETE:
        rc = hs->upload_abort(r, u, &op);
        hs->upload_release(u);

        if (rc != NGX_OK) {
            return ngx_http_harbor_op_error(r, &op);
        }

        ngx_http_harbor_metrics_count(r, NGX_HTTP_HARBOR_M_UPLOAD_CANCELLED);

        return ngx_http_harbor_send(r, NGX_HTTP_NO_CONTENT, NULL, NULL);

    case NGX_HTTP_PUT:
        rc = ngx_http_harbor_arg(r, "digest", &ctx->digest);
        if (rc == NGX_ERROR) {
            hs->upload_release(u);
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        rt->alg = (rc == NGX_OK)
                  ? hb_digest_parse(ctx->digest.data, ctx->digest.len)
                  : HB_DIGEST_NONE;

        if (rt->alg == HB_DIGEST_NONE) {
            hs->upload_release(u);
            return ngx_http_harbor_error(r, NGX_HTTP_BAD_REQUEST,
                                         "DIGEST_INVALID",
                                         "a valid ?digest= is required to "
                                         "complete an upload", NULL);
        }

        /* fall through */

    default: /* PATCH */
        if (ngx_http_harbor_check_range(r, ctx, &status, &message) != NGX_OK)
        {
            hs->upload_release(u);
            return ngx_http_harbor_error(r, status, "BLOB_UPLOAD_INVALID",
                                         message, NULL);
        }

        ctx->sha = u->sha;

        rc = ngx_http_harbor_read_body(r, ctx->limit,
                                       ngx_http_harbor_chunk_done);

        if (rc != NGX_DONE) {
            /* nginx answers */
            hs->upload_release(u);
        }

        return rc;
    }
}


/*
 * Content-Range on a chunk must start where the upload ends; anything
 * else is refused with 416 before a byte is written.
 */

ngx_int_t
ngx_http_harbor_check_range(ngx_http_request_t *r, ngx_http_harbor_ctx_t *ctx,
    ngx_uint_t *status, const char **message)
{
    off_t             start, end;
    ngx_table_elt_t  *h;

    h = ngx_http_harbor_header_in(r, "Content-Range");
    if (h == NULL) {
        return NGX_OK;
    }

    if (hb_content_range_parse(h->value.data, h->value.len, &start, &end)
        != 0)
    {
        *status = NGX_HTTP_BAD_REQUEST;
        *message = "malformed Content-Range";
        return NGX_DECLINED;
    }

    if (start != ctx->upload.offset
        || (r->headers_in.content_length_n >= 0
            && r->headers_in.content_length_n != end - start + 1))
    {
        *status = NGX_HTTP_RANGE_NOT_SATISFIABLE;
        *message = "Content-Range does not continue the upload";

        if (ngx_http_harbor_set_range(r, ctx->upload.offset) != NGX_OK) {
            *status = NGX_HTTP_INTERNAL_SERVER_ERROR;
            *message = "internal server error";
        }

        return NGX_DECLINED;
    }

    ctx->limit = end - start + 1;

    return NGX_OK;
}


static void
ngx_http_harbor_chunk_done(ngx_http_request_t *r)
{
    off_t                       size;
    ngx_int_t                   rc;
    SHA256_CTX                  sha;
    ngx_temp_file_t            *tf;
    ngx_http_harbor_ctx_t      *ctx;
    ngx_http_harbor_commit_t   *c;
    ngx_http_harbor_backend_t  *hs;

    ctx = ngx_http_get_module_ctx(r, ngx_http_harbor_module);
    ctx->hashing = 0;
    hs = ngx_http_harbor_backend(r);

    tf = r->request_body ? r->request_body->temp_file : NULL;
    size = tf ? ctx->received : 0;

    if (tf && tf->file.offset != size) {
        ngx_log_error(NGX_LOG_ALERT, r->connection->log, 0,
                      "harbor: hashed %O bytes of a %O byte body",
                      size, tf->file.offset);
        hs->upload_release(&ctx->upload);
        ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    if (ctx->limit && size != ctx->limit) {
        hs->upload_release(&ctx->upload);
        ngx_http_finalize_request(r,
            ngx_http_harbor_error(r, NGX_HTTP_BAD_REQUEST,
                                  "BLOB_UPLOAD_INVALID",
                                  "the body is shorter than its "
                                  "Content-Range", NULL));
        return;
    }

    /*
     * The chunk goes into the upload and, with a PUT, the upload is
     * committed (a sha512 upload read back for its digest), as one task
     * of the thread pool.
     */

    c = NULL;

    if (r->method == NGX_HTTP_PUT) {
        c = &ctx->commit;
        c->name = ctx->route.name;
        c->digest = ctx->digest;
        c->hex = NULL;

        if (ctx->route.alg == HB_DIGEST_SHA256) {
            sha = ctx->sha;
            ngx_http_harbor_sha256_hex(&sha, ctx->hex);
            c->hex = ctx->hex;
        }
    }

    ctx->op.done = ngx_http_harbor_chunk_synced;

    rc = hs->upload_append(r, &ctx->upload, size, &ctx->sha, c, &ctx->op);

    if (rc != NGX_AGAIN) {
        ngx_http_harbor_chunk_synced(r, &ctx->op);
    }
}


/* The chunk is stored (and the upload committed): answer. */

static void
ngx_http_harbor_chunk_synced(ngx_http_request_t *r, ngx_http_harbor_op_t *op)
{
    ngx_http_harbor_ctx_t    *ctx;
    ngx_http_harbor_route_t  *rt;

    ctx = ngx_http_get_module_ctx(r, ngx_http_harbor_module);
    rt = &ctx->route;

    ngx_http_harbor_backend(r)->upload_release(&ctx->upload);

    if (op->rc == NGX_OK && r->method == NGX_HTTP_PATCH) {
        ngx_http_finalize_request(r,
            ngx_http_harbor_upload_accepted(r, rt, &ctx->upload,
                                            NGX_HTTP_ACCEPTED));
        return;
    }

    if (op->rc == NGX_DECLINED) {
        ngx_http_finalize_request(r,
            ngx_http_harbor_error(r, NGX_HTTP_BAD_REQUEST, "DIGEST_INVALID",
                                  "provided digest did not match uploaded "
                                  "content", NULL));
        return;
    }

    if (op->rc != NGX_OK) {
        ngx_http_finalize_request(r, ngx_http_harbor_op_error(r, op));
        return;
    }

    ngx_http_harbor_metrics_count(r, NGX_HTTP_HARBOR_M_UPLOAD_FINISHED);

    ngx_http_finalize_request(r,
        ngx_http_harbor_blob_created(r, rt, &ctx->digest));
}


/* The blob is in the store and linked: answer 201. */

ngx_int_t
ngx_http_harbor_blob_created(ngx_http_request_t *r,
    ngx_http_harbor_route_t *rt, ngx_str_t *digest)
{
    if (ngx_http_harbor_set_location(r, &rt->name, "blobs", digest) != NGX_OK
        || ngx_http_harbor_add_header(r, "Docker-Content-Digest", digest)
           != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_http_harbor_send(r, NGX_HTTP_CREATED, NULL, NULL);
}


ngx_int_t
ngx_http_harbor_upload_accepted(ngx_http_request_t *r,
    ngx_http_harbor_route_t *rt, ngx_http_harbor_upload_t *u,
    ngx_uint_t status)
{
    if (ngx_http_harbor_set_location(r, &rt->name, "blobs/uploads", &rt->ref)
        != NGX_OK
        || ngx_http_harbor_add_header(r, "Docker-Upload-UUID", &rt->ref)
           != NGX_OK
        || ngx_http_harbor_set_range(r, u->offset) != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_http_harbor_send(r, status, NULL, NULL);
}


/* Range: 0-<last byte stored>, "0-0" when empty (as distribution) */

static ngx_int_t
ngx_http_harbor_set_range(ngx_http_request_t *r, off_t size)
{
    ngx_str_t  range;

    range.data = ngx_pnalloc(r->pool, NGX_OFF_T_LEN + 2);
    if (range.data == NULL) {
        return NGX_ERROR;
    }

    range.len = ngx_sprintf(range.data, "0-%O", size ? size - 1 : 0)
                - range.data;

    return ngx_http_harbor_add_header(r, "Range", &range);
}
