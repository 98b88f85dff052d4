
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
    ngx_int_t rc);
static void ngx_http_harbor_chunk_done(ngx_http_request_t *r);
static void ngx_http_harbor_chunk_synced(ngx_http_request_t *r,
    ngx_int_t rc);
static ngx_int_t ngx_http_harbor_upload_accepted(ngx_http_request_t *r,
    ngx_http_harbor_route_t *rt, ngx_http_harbor_upload_t *u,
    ngx_uint_t status);
static ngx_int_t ngx_http_harbor_blob_created(ngx_http_request_t *r,
    ngx_http_harbor_route_t *rt, ngx_str_t *digest);
static ngx_int_t ngx_http_harbor_set_range(ngx_http_request_t *r, off_t size);
static ngx_int_t ngx_http_harbor_check_range(ngx_http_request_t *r,
    ngx_http_harbor_ctx_t *ctx, ngx_uint_t *status, const char **message);


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
            ngx_http_harbor_upload_close(&ctx->upload);

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
            ngx_http_harbor_errno_fail(err, &fail);
            ctx->fail_code = fail.code;
            ctx->fail_message = fail.message;
            rc = fail.status;
        }

        /* nginx answers this one: release the upload first */
        ngx_http_harbor_upload_close(&ctx->upload);
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

    rc = ngx_http_read_client_request_body(r, handler);

    if (rc >= NGX_HTTP_SPECIAL_RESPONSE) {
        return rc;
    }

    return NGX_DONE;
}


/* POST /v2/<name>/blobs/uploads/ */

ngx_int_t
ngx_http_harbor_uploads(ngx_http_request_t *r, ngx_http_harbor_route_t *rt)
{
    ngx_int_t                rc;
    ngx_str_t                mount, from, uuid;
    ngx_http_harbor_ctx_t   *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_harbor_module);

    rc = ngx_http_harbor_arg(r, "mount", &mount);
    if (rc == NGX_ERROR) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    /* a mount needs pull on the source too (ngx_http_harbor_token.c) */

    if (rc == NGX_OK && ctx->may_mount
        && ngx_http_harbor_arg(r, "from", &from) == NGX_OK)
    {

        if (hb_digest_parse(mount.data, mount.len) == HB_DIGEST_NONE) {
            return ngx_http_harbor_error(r, NGX_HTTP_BAD_REQUEST,
                                         "DIGEST_INVALID",
                                         "provided digest is invalid", NULL);
        }

        if (!hb_name_valid(from.data, from.len)) {
            return ngx_http_harbor_error(r, NGX_HTTP_BAD_REQUEST,
                                         "NAME_INVALID",
                                         "invalid repository name in from",
                                         NULL);
        }

        /* a mount needs the blob linked in the source repository */

        rc = ngx_http_harbor_link_get(r, &from, NGX_HTTP_HARBOR_LINK_LAYER,
                                      &mount, NULL, NULL);
        if (rc == NGX_OK) {
            rc = ngx_http_harbor_blob_touch(r, &mount);
        }

        if (rc == NGX_ERROR) {
            return ngx_http_harbor_storage_error(r);
        }

        if (rc == NGX_OK) {
            if (ngx_http_discard_request_body(r) != NGX_OK) {
                return NGX_HTTP_INTERNAL_SERVER_ERROR;
            }

            return ngx_http_harbor_blob_created(r, rt, &mount);
        }

        /* else a normal upload, as the spec says */
    }

    rc = ngx_http_harbor_arg(r, "digest", &ctx->digest);
    if (rc == NGX_ERROR) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (rc == NGX_OK) {
        rt->alg = hb_digest_parse(ctx->digest.data, ctx->digest.len);
        if (rt->alg == HB_DIGEST_NONE) {
            return ngx_http_harbor_error(r, NGX_HTTP_BAD_REQUEST,
                                         "DIGEST_INVALID",
                                         "provided digest is invalid", NULL);
        }

        SHA256_Init(&ctx->sha);

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

    if (ngx_http_harbor_upload_create(r, &rt->name, &uuid) != NGX_OK) {
        rc = ngx_http_harbor_storage_error(r);
        ngx_http_harbor_sessions_end(r, NULL);
        return rc;
    }

    rt->ref = uuid;
    ctx->upload.offset = 0;

    return ngx_http_harbor_upload_accepted(r, rt, &ctx->upload,
                                           NGX_HTTP_ACCEPTED);
}


/*
 * The body is read: its sha256 is known, a sha512 is computed with the
 * fsync of the body, in the thread pool.
 */

static void
ngx_http_harbor_monolithic_done(ngx_http_request_t *r)
{
    ngx_int_t                rc;
    ngx_uint_t               alg;
    ngx_temp_file_t         *tf;
    ngx_http_harbor_ctx_t   *ctx;
    u_char                   bin[SHA512_DIGEST_LENGTH];

    ctx = ngx_http_get_module_ctx(r, ngx_http_harbor_module);
    ctx->hashing = 0;

    tf = r->request_body ? r->request_body->temp_file : NULL;
    alg = HB_DIGEST_NONE;

    if (ctx->route.alg == HB_DIGEST_SHA256) {
        ngx_http_harbor_sha256_hex(&ctx->sha, ctx->hex);

    } else if (tf == NULL) {
        /* the empty blob */
        SHA512((u_char *) "", 0, bin);
        hb_hex(ctx->hex, bin, SHA512_DIGEST_LENGTH);

    } else {
        alg = ctx->route.alg;
    }

    rc = ngx_http_harbor_upload_append(r, NULL, tf, tf ? ctx->received : 0,
                                       NULL, alg, ctx->hex,
                                       ngx_http_harbor_monolithic_commit);

    if (rc != NGX_AGAIN) {
        ngx_http_harbor_monolithic_commit(r, rc);
    }
}


/* The body is synced and hashed: into the store with it if it matches. */

static void
ngx_http_harbor_monolithic_commit(ngx_http_request_t *r, ngx_int_t rc)
{
    ngx_temp_file_t        *tf;
    ngx_http_harbor_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_harbor_module);
    tf = r->request_body ? r->request_body->temp_file : NULL;

    if (rc != NGX_OK) {
        ngx_http_finalize_request(r, ngx_http_harbor_storage_error(r));
        return;
    }

    if (ngx_memcmp(ctx->hex, ctx->digest.data + 7, ctx->digest.len - 7)
        != 0)
    {
        ngx_http_finalize_request(r,
            ngx_http_harbor_error(r, NGX_HTTP_BAD_REQUEST, "DIGEST_INVALID",
                                  "provided digest did not match uploaded "
                                  "content", NULL));
        return;
    }

    rc = ngx_http_harbor_blob_commit(r, &ctx->digest,
                                     tf ? &tf->file.name : NULL,
                                     NGX_INVALID_FILE);
    if (rc != NGX_OK) {
        ngx_http_finalize_request(r, ngx_http_harbor_storage_error(r));
        return;
    }

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
    ngx_int_t                rc;
    ngx_uint_t               status;
    const char              *message;
    ngx_http_harbor_ctx_t   *ctx;
    ngx_http_harbor_upload_t  *u;

    ctx = ngx_http_get_module_ctx(r, ngx_http_harbor_module);
    u = &ctx->upload;

    rc = ngx_http_harbor_upload_open(r, &rt->name, &rt->ref, u);

    if (rc != NGX_OK) {
        ngx_http_harbor_upload_close(u);
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
        return ngx_http_harbor_storage_error(r);
    }

    switch (r->method) {

    case NGX_HTTP_GET:
        ngx_http_harbor_upload_close(u);
        return ngx_http_harbor_upload_accepted(r, rt, u, NGX_HTTP_NO_CONTENT);

    case NGX_HTTP_DELETE:
        rc = ngx_http_harbor_upload_delete(r, u);
        ngx_http_harbor_upload_close(u);

        if (rc != NGX_OK) {
            return ngx_http_harbor_storage_error(r);
        }

        return ngx_http_harbor_send(r, NGX_HTTP_NO_CONTENT, NULL, NULL);

    case NGX_HTTP_PUT:
        rc = ngx_http_harbor_arg(r, "digest", &ctx->digest);
        if (rc == NGX_ERROR) {
            ngx_http_harbor_upload_close(u);
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        rt->alg = (rc == NGX_OK)
                  ? hb_digest_parse(ctx->digest.data, ctx->digest.len)
                  : HB_DIGEST_NONE;

        if (rt->alg == HB_DIGEST_NONE) {
            ngx_http_harbor_upload_close(u);
            return ngx_http_harbor_error(r, NGX_HTTP_BAD_REQUEST,
                                         "DIGEST_INVALID",
                                         "a valid ?digest= is required to "
                                         "complete an upload", NULL);
        }

        /* fall through */

    default: /* PATCH */
        if (ngx_http_harbor_check_range(r, ctx, &status, &message) != NGX_OK)
        {
            ngx_http_harbor_upload_close(u);
            return ngx_http_harbor_error(r, status, "BLOB_UPLOAD_INVALID",
                                         message, NULL);
        }

        ctx->sha = u->sha;

        rc = ngx_http_harbor_read_body(r, ctx->limit,
                                       ngx_http_harbor_chunk_done);

        if (rc != NGX_DONE) {
            /* nginx answers */
            ngx_http_harbor_upload_close(u);
        }

        return rc;
    }
}


/*
 * Content-Range on a chunk must start where the upload ends; anything
 * else is refused with 416 before a byte is written.
 */

static ngx_int_t
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
    off_t                     size;
    ngx_int_t                 rc;
    ngx_uint_t                alg;
    ngx_temp_file_t          *tf;
    ngx_http_harbor_ctx_t    *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_harbor_module);
    ctx->hashing = 0;

    tf = r->request_body ? r->request_body->temp_file : NULL;
    size = tf ? ctx->received : 0;

    if (tf && tf->file.offset != size) {
        ngx_log_error(NGX_LOG_ALERT, r->connection->log, 0,
                      "harbor: hashed %O bytes of a %O byte body",
                      size, tf->file.offset);
        ngx_http_harbor_upload_close(&ctx->upload);
        ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    if (ctx->limit && size != ctx->limit) {
        ngx_http_harbor_upload_close(&ctx->upload);
        ngx_http_finalize_request(r,
            ngx_http_harbor_error(r, NGX_HTTP_BAD_REQUEST,
                                  "BLOB_UPLOAD_INVALID",
                                  "the body is shorter than its "
                                  "Content-Range", NULL));
        return;
    }

    /*
     * The chunk goes into the upload, and a sha512 upload being completed
     * is read back, in the thread pool.
     */

    alg = (r->method == NGX_HTTP_PUT && ctx->route.alg != HB_DIGEST_SHA256)
          ? ctx->route.alg : HB_DIGEST_NONE;

    rc = ngx_http_harbor_upload_append(r, &ctx->upload, tf, size, &ctx->sha,
                                       alg, ctx->hex,
                                       ngx_http_harbor_chunk_synced);

    if (rc != NGX_AGAIN) {
        ngx_http_harbor_chunk_synced(r, rc);
    }
}


/* The chunk is stored (and a sha512 upload hashed): answer. */

static void
ngx_http_harbor_chunk_synced(ngx_http_request_t *r, ngx_int_t rc)
{
    ngx_http_harbor_ctx_t    *ctx;
    ngx_http_harbor_route_t  *rt;

    ctx = ngx_http_get_module_ctx(r, ngx_http_harbor_module);
    rt = &ctx->route;

    if (rc == NGX_OK && r->method == NGX_HTTP_PUT) {
        rc = ngx_http_harbor_upload_finish(r, &ctx->upload, &rt->name,
                                           &ctx->digest, rt->alg, ctx->hex);

        if (rc == NGX_OK) {
            rc = ngx_http_harbor_upload_delete(r, &ctx->upload);

        } else if (rc == NGX_DECLINED) {
            /* a failed upload is over: the client starts again */
            (void) ngx_http_harbor_upload_delete(r, &ctx->upload);
        }
    }

    ngx_http_harbor_upload_close(&ctx->upload);

    if (rc == NGX_OK && r->method == NGX_HTTP_PATCH) {
        ngx_http_finalize_request(r,
            ngx_http_harbor_upload_accepted(r, rt, &ctx->upload,
                                            NGX_HTTP_ACCEPTED));
        return;
    }

    if (rc == NGX_DECLINED) {
        ngx_http_finalize_request(r,
            ngx_http_harbor_error(r, NGX_HTTP_BAD_REQUEST, "DIGEST_INVALID",
                                  "provided digest did not match uploaded "
                                  "content", NULL));
        return;
    }

    if (rc != NGX_OK) {
        ngx_http_finalize_request(r, ngx_http_harbor_storage_error(r));
        return;
    }

    /* linked by upload_finish() already: this renews the link */

    ngx_http_finalize_request(r,
        ngx_http_harbor_blob_created(r, rt, &ctx->digest));
}


/* Link the blob into the repository and answer 201. */

static ngx_int_t
ngx_http_harbor_blob_created(ngx_http_request_t *r,
    ngx_http_harbor_route_t *rt, ngx_str_t *digest)
{
    if (ngx_http_harbor_link_put(r, &rt->name, NGX_HTTP_HARBOR_LINK_LAYER,
                                 digest, NULL, digest)
        != NGX_OK)
    {
        return ngx_http_harbor_storage_error(r);
    }

    if (ngx_http_harbor_set_location(r, &rt->name, "blobs", digest) != NGX_OK
        || ngx_http_harbor_add_header(r, "Docker-Content-Digest", digest)
           != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_http_harbor_send(r, NGX_HTTP_CREATED, NULL, NULL);
}


static ngx_int_t
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
