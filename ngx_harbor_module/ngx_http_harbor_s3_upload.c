
/*
 * ngx-harbor: an OCI registry inside nginx.
 * The S3 backend, blob uploads: monolithic (POST with ?digest=), chunked
 * (POST, PATCH..., PUT), their status (GET), their cancel (DELETE), and
 * cross-repository mounts.
 *
 * A request body is hashed (SHA-256) by the module's request body filter
 * as it streams into nginx's temporary file, as on the filesystem; a
 * task of the thread pool then sends it to the store.  An upload lives
 * in the store under <repo>/_uploads/<uuid>/, so each of its requests
 * may reach any node:
 *
 *   startedat  when it began (RFC 3339), as distribution writes it
 *   data       the multipart upload the bytes go into, as distribution's
 *              s3 driver names it; completed only by the final PUT
 *   hbtail     bytes not yet in a part: a part is at least 5 MiB (but
 *              the last), so a short chunk waits there for the next
 *   hbstate    a header (magic "HBS3UP01", offset, tail length, number
 *              of parts, the SHA-256 state after offset bytes, as the
 *              filesystem's hbstate keeps it), then the multipart
 *              upload id and one ETag per part, a line each
 *
 * A chunk is acknowledged once hbstate says it is stored: a node that
 * dies before that leaves a part or a tail that the retried chunk
 * writes again (the part's number and the tail's prefix are the state's).
 * The final PUT checks the digest before anything is stored under it:
 * a SHA-256 from the saved state and the last chunk, a SHA-512 by
 * reading the bytes back.  Then a short upload (no part yet) is written
 * to blobs/<alg>/<xx>/<hex>/data at once; a longer one is completed into
 * _uploads/<uuid>/data and copied by the store (a server-side copy, up
 * to 5 GiB) to the blob's key.  The layer link follows the blob, and
 * the upload's objects are deleted last.
 */


#include "ngx_http_harbor_s3.h"


#define NGX_HTTP_HARBOR_S3_PART_MIN   (5 * 1024 * 1024)
#define NGX_HTTP_HARBOR_S3_PART_MAX   ((off_t) 5 * 1024 * 1024 * 1024)
#define NGX_HTTP_HARBOR_S3_PARTS_MAX  10000
#define NGX_HTTP_HARBOR_S3_STATE_MAX  (NGX_HTTP_HARBOR_S3_PARTS_MAX * 160)
#define NGX_HTTP_HARBOR_S3_MAGIC      "HBS3UP01"

enum {
    NGX_HTTP_HARBOR_S3_CREATE = 0,
    NGX_HTTP_HARBOR_S3_STATE,
    NGX_HTTP_HARBOR_S3_APPEND,
    NGX_HTTP_HARBOR_S3_ABORT,
    NGX_HTTP_HARBOR_S3_MONOLITHIC,
    NGX_HTTP_HARBOR_S3_MOUNT
};


typedef struct {
    u_char                      magic[8];
    uint64_t                    offset;      /* bytes acknowledged */
    uint64_t                    tail;        /* of them, in hbtail */
    uint64_t                    parts;       /* in data's upload */
    SHA256_CTX                  sha;         /* after offset bytes */
} ngx_http_harbor_s3_state_t;


typedef struct {
    ngx_http_harbor_task_t      task;        /* first */
    ngx_http_harbor_s3_conf_t  *conf;
    ngx_uint_t                  what;

    /* pool copies, NUL-terminated */
    ngx_str_t                   name;
    ngx_str_t                   uuid;
    ngx_str_t                   digest;
    ngx_str_t                   from;
    ngx_uint_t                  alg;

    /* the request body: a temporary file */
    ngx_fd_t                    fd;
    off_t                       size;
    ngx_uint_t                  commit;      /* a PUT: then the blob */
    SHA256_CTX                  sha;         /* after the body */
    u_char                      hex[HB_SHA512_HEX + 1];  /* computed */
    ngx_uint_t                  have_hex;

    ngx_http_harbor_s3_state_t  state;
    uint64_t                    expect;      /* offset the chunk follows */
    ngx_http_harbor_s3_buf_t    text;        /* upload id, ETags */

    /* the result */
    ngx_int_t                   rc;          /* OK, DECLINED, BUSY, ERROR */
    ngx_uint_t                  status;      /* of NGX_ERROR */
    ngx_uint_t                  mounted;
    u_char                      why[NGX_MAX_PATH];
} ngx_http_harbor_s3_up_t;


static ngx_http_harbor_s3_up_t *ngx_http_harbor_s3_up(ngx_http_request_t *r,
    ngx_http_harbor_route_t *rt, ngx_uint_t what);
static ngx_int_t ngx_http_harbor_s3_run(ngx_http_request_t *r,
    ngx_http_harbor_s3_up_t *up);
static void ngx_http_harbor_s3_up_done(ngx_http_harbor_task_t *t,
    ngx_int_t rc);
static ngx_int_t ngx_http_harbor_s3_up_answer(ngx_http_request_t *r,
    ngx_http_harbor_s3_up_t *up);
static void ngx_http_harbor_s3_body_read(ngx_http_request_t *r);
static void ngx_http_harbor_s3_up_work(ngx_http_harbor_task_t *t);

static ngx_int_t ngx_http_harbor_s3_up_fail(ngx_http_harbor_s3_up_t *up,
    long status, const char *key);
static int ngx_http_harbor_s3_upload_key(ngx_http_harbor_s3_up_t *up,
    const char *file, char *out, size_t len);
static int ngx_http_harbor_s3_blob_key(ngx_http_harbor_s3_up_t *up,
    char *out, size_t len);
static int ngx_http_harbor_s3_layer_key(ngx_http_harbor_s3_up_t *up,
    ngx_str_t *name, ngx_str_t *digest, char *out, size_t len);
static long ngx_http_harbor_s3_send(ngx_http_harbor_s3_up_t *up,
    const char *method, const char *key, const hb_sigv4_pair_t *query,
    size_t nquery, const u_char *mem, size_t mem_len, ngx_fd_t fd,
    off_t file_len, ngx_http_harbor_s3_buf_t *out, char *etag);
static ngx_int_t ngx_http_harbor_s3_state_read(ngx_http_harbor_s3_up_t *up);
static ngx_int_t ngx_http_harbor_s3_state_write(ngx_http_harbor_s3_up_t *up);
static ngx_int_t ngx_http_harbor_s3_create(ngx_http_harbor_s3_up_t *up);
static ngx_int_t ngx_http_harbor_s3_append(ngx_http_harbor_s3_up_t *up);
static ngx_int_t ngx_http_harbor_s3_finish(ngx_http_harbor_s3_up_t *up,
    u_char *tail, size_t tail_len);
static ngx_int_t ngx_http_harbor_s3_part(ngx_http_harbor_s3_up_t *up,
    u_char *mem, size_t mem_len);
static ngx_int_t ngx_http_harbor_s3_complete(ngx_http_harbor_s3_up_t *up);
static ngx_int_t ngx_http_harbor_s3_purge(ngx_http_harbor_s3_up_t *up);
static ngx_int_t ngx_http_harbor_s3_monolithic(ngx_http_harbor_s3_up_t *up);
static ngx_int_t ngx_http_harbor_s3_mount(ngx_http_harbor_s3_up_t *up);
static ngx_int_t ngx_http_harbor_s3_exists(ngx_http_harbor_s3_up_t *up,
    const char *key);
static ngx_int_t ngx_http_harbor_s3_link_put(ngx_http_harbor_s3_up_t *up);
static ngx_int_t ngx_http_harbor_s3_check(ngx_http_harbor_s3_up_t *up);
static void ngx_http_harbor_s3_sha512(void *ctx, const u_char *p, size_t n);
static ngx_int_t ngx_http_harbor_s3_hash_here(ngx_http_harbor_s3_up_t *up,
    u_char *mem, size_t mem_len);
static u_char *ngx_http_harbor_s3_upload_id(ngx_http_harbor_s3_up_t *up,
    size_t *len);


/* POST /v2/<name>/blobs/uploads/ */

ngx_int_t
ngx_http_harbor_s3_uploads(ngx_http_request_t *r, ngx_http_harbor_route_t *rt)
{
    u_char                   *p;
    ngx_int_t                 rc, answer;
    ngx_str_t                 mount, from;
    ngx_http_harbor_ctx_t    *ctx;
    ngx_http_harbor_s3_up_t  *up;
    u_char                    rnd[16], hex[32];

    ctx = ngx_http_get_module_ctx(r, ngx_http_harbor_module);

    rc = ngx_http_harbor_mount_args(r, &mount, &from, &answer);

    if (rc == NGX_ABORT) {
        return answer;
    }

    if (rc == NGX_OK) {
        up = ngx_http_harbor_s3_up(r, rt, NGX_HTTP_HARBOR_S3_MOUNT);
        if (up == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        up->digest.data = ngx_pstrdup(r->pool, &mount);
        up->from.data = ngx_pnalloc(r->pool, from.len + 1);
        if (up->digest.data == NULL || up->from.data == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        up->digest.len = mount.len;
        ngx_cpystrn(up->from.data, from.data, from.len + 1);
        up->from.len = from.len;
        ctx->digest = up->digest;

        /* no mount: a new upload, as the spec says, in the same task */
        goto create;
    }

    rc = ngx_http_harbor_digest_arg(r, rt, &answer);

    if (rc == NGX_ABORT) {
        return answer;
    }

    if (rc == NGX_OK) {
        up = ngx_http_harbor_s3_up(r, rt, NGX_HTTP_HARBOR_S3_MONOLITHIC);
        if (up == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        up->commit = 1;

        SHA256_Init(&ctx->sha);
        ngx_http_harbor_metrics_count(r, NGX_HTTP_HARBOR_M_UPLOAD_STARTED);

        return ngx_http_harbor_read_body(r, 0, ngx_http_harbor_s3_body_read);
    }

    up = ngx_http_harbor_s3_up(r, rt, NGX_HTTP_HARBOR_S3_CREATE);
    if (up == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

create:

    if (ngx_http_discard_request_body(r) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    /* a random (version 4) UUID names the upload */

    if (RAND_bytes(rnd, sizeof(rnd)) != 1) {
        ngx_ssl_error(NGX_LOG_ALERT, r->connection->log, 0,
                      "RAND_bytes() failed");
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    rnd[6] = (rnd[6] & 0x0f) | 0x40;
    rnd[8] = (rnd[8] & 0x3f) | 0x80;
    hb_hex(hex, rnd, sizeof(rnd));

    p = ngx_pnalloc(r->pool, HB_UUID_LEN + 1);
    if (p == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    up->uuid.data = p;
    up->uuid.len = ngx_sprintf(p, "%*s-%*s-%*s-%*s-%*s%Z",
                               (size_t) 8, hex, (size_t) 4, hex + 8,
                               (size_t) 4, hex + 12, (size_t) 4, hex + 16,
                               (size_t) 12, hex + 20) - p - 1;
    rt->ref = up->uuid;

    return ngx_http_harbor_s3_run(r, up);
}


/* /v2/<name>/blobs/uploads/<uuid>: GET, PATCH, PUT, DELETE */

ngx_int_t
ngx_http_harbor_s3_upload(ngx_http_request_t *r, ngx_http_harbor_route_t *rt)
{
    ngx_int_t                 rc;
    ngx_http_harbor_ctx_t    *ctx;
    ngx_http_harbor_s3_up_t  *up;

    ctx = ngx_http_get_module_ctx(r, ngx_http_harbor_module);

    if (r->method == NGX_HTTP_PUT) {
        rc = ngx_http_harbor_arg(r, "digest", &ctx->digest);
        if (rc == NGX_ERROR) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        rt->alg = (rc == NGX_OK)
                  ? hb_digest_parse(ctx->digest.data, ctx->digest.len)
                  : HB_DIGEST_NONE;

        if (rt->alg == HB_DIGEST_NONE) {
            return ngx_http_harbor_error(r, NGX_HTTP_BAD_REQUEST,
                                         "DIGEST_INVALID",
                                         "a valid ?digest= is required to "
                                         "complete an upload", NULL);
        }
    }

    if (r->method & (NGX_HTTP_GET|NGX_HTTP_HEAD|NGX_HTTP_DELETE)) {
        if (ngx_http_discard_request_body(r) != NGX_OK) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }
    }

    up = ngx_http_harbor_s3_up(r, rt, r->method == NGX_HTTP_DELETE
                                      ? NGX_HTTP_HARBOR_S3_ABORT
                                      : NGX_HTTP_HARBOR_S3_STATE);
    if (up == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    up->commit = (r->method == NGX_HTTP_PUT);

    /* the state first: the chunk's Content-Range is checked against it */

    return ngx_http_harbor_s3_run(r, up);
}


static ngx_http_harbor_s3_up_t *
ngx_http_harbor_s3_up(ngx_http_request_t *r, ngx_http_harbor_route_t *rt,
    ngx_uint_t what)
{
    ngx_http_harbor_ctx_t    *ctx;
    ngx_http_harbor_s3_up_t  *up;

    up = (ngx_http_harbor_s3_up_t *)
         ngx_http_harbor_task_alloc(r, sizeof(ngx_http_harbor_s3_up_t));
    if (up == NULL) {
        return NULL;
    }

    up->conf = ngx_http_get_module_loc_conf(r, ngx_http_harbor_s3_module);
    up->what = what;
    up->fd = NGX_INVALID_FILE;
    up->alg = rt->alg;

    up->name.data = ngx_pnalloc(r->pool, rt->name.len + 1);
    if (up->name.data == NULL) {
        return NULL;
    }

    ngx_cpystrn(up->name.data, rt->name.data, rt->name.len + 1);
    up->name.len = rt->name.len;

    if (what != NGX_HTTP_HARBOR_S3_CREATE
        && what != NGX_HTTP_HARBOR_S3_MOUNT
        && what != NGX_HTTP_HARBOR_S3_MONOLITHIC)
    {
        up->uuid.data = ngx_pnalloc(r->pool, rt->ref.len + 1);
        if (up->uuid.data == NULL) {
            return NULL;
        }

        ngx_cpystrn(up->uuid.data, rt->ref.data, rt->ref.len + 1);
        up->uuid.len = rt->ref.len;
    }

    ctx = ngx_http_get_module_ctx(r, ngx_http_harbor_module);
    ctx->op.backend = up;

    return up;
}


static ngx_int_t
ngx_http_harbor_s3_run(ngx_http_request_t *r, ngx_http_harbor_s3_up_t *up)
{
    ngx_int_t  rc;

    up->rc = NGX_OK;
    up->status = 0;

    rc = ngx_http_harbor_task(r, &up->task, ngx_http_harbor_s3_up_work,
                              ngx_http_harbor_s3_up_done);

    if (rc == NGX_AGAIN) {
        r->main->count++;
        return NGX_DONE;
    }

    if (rc == NGX_ERROR) {
        /* not queued: the pool is full */
        ngx_http_harbor_s3_up_answer(r, up);
        return ngx_http_harbor_error(r, NGX_HTTP_SERVICE_UNAVAILABLE,
                                     "UNAVAILABLE", "the registry is busy, "
                                     "try again later", NULL);
    }

    /* no thread pool (nginx without threads): done inline */

    return ngx_http_harbor_s3_up_answer(r, up);
}


static void
ngx_http_harbor_s3_up_done(ngx_http_harbor_task_t *t, ngx_int_t rc)
{
    ngx_http_harbor_s3_up_t *up = (ngx_http_harbor_s3_up_t *) t;

    ngx_http_finalize_request(t->r, ngx_http_harbor_s3_up_answer(t->r, up));
}


/* back on the event loop */

static ngx_int_t
ngx_http_harbor_s3_up_answer(ngx_http_request_t *r,
    ngx_http_harbor_s3_up_t *up)
{
    ngx_uint_t                status;
    const char               *message;
    ngx_http_harbor_ctx_t    *ctx;
    ngx_http_harbor_route_t  *rt;

    ctx = ngx_http_get_module_ctx(r, ngx_http_harbor_module);
    rt = &ctx->route;

    /* the next task reads the state again: the text is freed here */

    if (up->text.data) {
        free(up->text.data);
        ngx_memzero(&up->text, sizeof(ngx_http_harbor_s3_buf_t));
    }

    if (up->rc == NGX_ERROR) {
        return ngx_http_harbor_s3_error(r, up->status, "upload", up->why);
    }

    if (up->rc == NGX_BUSY) {
        ctx->upload.offset = up->state.offset;

        return ngx_http_harbor_error(r, NGX_HTTP_RANGE_NOT_SATISFIABLE,
                                     "BLOB_UPLOAD_INVALID",
                                     "another request wrote to this upload "
                                     "meanwhile", NULL);
    }

    switch (up->what) {

    case NGX_HTTP_HARBOR_S3_MOUNT:
        if (up->mounted) {
            ngx_http_harbor_metrics_count(r, NGX_HTTP_HARBOR_M_BLOB_MOUNTED);
            return ngx_http_harbor_blob_created(r, rt, &up->digest);
        }

        rt->ref = up->uuid;

        /* fall through */

    case NGX_HTTP_HARBOR_S3_CREATE:
        ctx->upload.offset = 0;
        ngx_http_harbor_metrics_count(r, NGX_HTTP_HARBOR_M_UPLOAD_STARTED);

        return ngx_http_harbor_upload_accepted(r, rt, &ctx->upload,
                                               NGX_HTTP_ACCEPTED);

    case NGX_HTTP_HARBOR_S3_ABORT:
        if (up->rc == NGX_DECLINED) {
            break;
        }

        ngx_http_harbor_metrics_count(r, NGX_HTTP_HARBOR_M_UPLOAD_CANCELLED);

        return ngx_http_harbor_send(r, NGX_HTTP_NO_CONTENT, NULL, NULL);

    case NGX_HTTP_HARBOR_S3_STATE:
        if (up->rc == NGX_DECLINED) {
            break;
        }

        ctx->upload.offset = up->state.offset;
        ctx->upload.sha = up->state.sha;

        if (r->method & (NGX_HTTP_GET|NGX_HTTP_HEAD)) {
            return ngx_http_harbor_upload_accepted(r, rt, &ctx->upload,
                                                   NGX_HTTP_NO_CONTENT);
        }

        /* PATCH, PUT: the chunk continues the upload, or is refused */

        if (ngx_http_harbor_check_range(r, ctx, &status, &message)
            != NGX_OK)
        {
            return ngx_http_harbor_error(r, status, "BLOB_UPLOAD_INVALID",
                                         message, NULL);
        }

        up->what = NGX_HTTP_HARBOR_S3_APPEND;
        up->expect = up->state.offset;
        ctx->sha = up->state.sha;

        return ngx_http_harbor_read_body(r, ctx->limit,
                                         ngx_http_harbor_s3_body_read);

    default: /* APPEND, MONOLITHIC */

        if (up->rc == NGX_DECLINED) {
            return ngx_http_harbor_error(r, NGX_HTTP_BAD_REQUEST,
                                         "DIGEST_INVALID",
                                         "provided digest did not match "
                                         "uploaded content", NULL);
        }

        if (!up->commit) {
            ctx->upload.offset = up->state.offset;

            return ngx_http_harbor_upload_accepted(r, rt, &ctx->upload,
                                                   NGX_HTTP_ACCEPTED);
        }

        ngx_http_harbor_metrics_count(r, NGX_HTTP_HARBOR_M_UPLOAD_FINISHED);

        return ngx_http_harbor_blob_created(r, rt, &ctx->digest);
    }

    return ngx_http_harbor_error(r, NGX_HTTP_NOT_FOUND, "BLOB_UPLOAD_UNKNOWN",
                                 "blob upload unknown to registry", NULL);
}


/* The body is in its temporary file, hashed: to the store with it. */

static void
ngx_http_harbor_s3_body_read(ngx_http_request_t *r)
{
    ngx_int_t                 rc;
    SHA256_CTX                sha;
    ngx_temp_file_t          *tf;
    ngx_http_harbor_ctx_t    *ctx;
    ngx_http_harbor_s3_up_t  *up;

    ctx = ngx_http_get_module_ctx(r, ngx_http_harbor_module);
    ctx->hashing = 0;
    up = ctx->op.backend;

    tf = r->request_body ? r->request_body->temp_file : NULL;

    up->size = tf ? ctx->received : 0;
    up->fd = tf ? tf->file.fd : NGX_INVALID_FILE;

    if (tf && tf->file.offset != up->size) {
        ngx_log_error(NGX_LOG_ALERT, r->connection->log, 0,
                      "harbor: hashed %O bytes of a %O byte body",
                      up->size, tf->file.offset);
        rc = NGX_HTTP_INTERNAL_SERVER_ERROR;
        goto failed;
    }

    if (ctx->limit && up->size != ctx->limit) {
        rc = ngx_http_harbor_error(r, NGX_HTTP_BAD_REQUEST,
                                   "BLOB_UPLOAD_INVALID",
                                   "the body is shorter than its "
                                   "Content-Range", NULL);
        goto failed;
    }

    up->sha = ctx->sha;

    if (up->commit) {
        up->digest = ctx->digest;

        if (ctx->route.alg == HB_DIGEST_SHA256) {
            sha = ctx->sha;
            ngx_http_harbor_sha256_hex(&sha, up->hex);
            up->have_hex = 1;
        }
    }

    ngx_http_finalize_request(r, ngx_http_harbor_s3_run(r, up));

    return;

failed:

    ngx_http_finalize_request(r, rc);
}


/* In the thread pool from here on: no nginx allocation, no logging. */

static void
ngx_http_harbor_s3_up_work(ngx_http_harbor_task_t *t)
{
    ngx_int_t                 rc;
    ngx_http_harbor_s3_up_t  *up = (ngx_http_harbor_s3_up_t *) t;

    switch (up->what) {

    case NGX_HTTP_HARBOR_S3_CREATE:
        rc = ngx_http_harbor_s3_create(up);
        break;

    case NGX_HTTP_HARBOR_S3_STATE:
        rc = ngx_http_harbor_s3_state_read(up);
        break;

    case NGX_HTTP_HARBOR_S3_APPEND:
        rc = ngx_http_harbor_s3_append(up);
        break;

    case NGX_HTTP_HARBOR_S3_ABORT:
        rc = ngx_http_harbor_s3_state_read(up);

        if (rc == NGX_OK) {
            rc = ngx_http_harbor_s3_purge(up);
        }

        break;

    case NGX_HTTP_HARBOR_S3_MONOLITHIC:
        rc = ngx_http_harbor_s3_monolithic(up);
        break;

    default: /* NGX_HTTP_HARBOR_S3_MOUNT */
        rc = ngx_http_harbor_s3_mount(up);

        if (rc == NGX_DECLINED) {
            rc = ngx_http_harbor_s3_create(up);
        }
    }

    up->rc = rc;
}


static ngx_int_t
ngx_http_harbor_s3_up_fail(ngx_http_harbor_s3_up_t *up, long status,
    const char *key)
{
    return ngx_http_harbor_s3_failure(&up->status, up->why, sizeof(up->why),
                                      status, key);
}


/* <prefix><v2>/repositories/<name>/_uploads/<uuid>/<file> */

static int
ngx_http_harbor_s3_upload_key(ngx_http_harbor_s3_up_t *up, const char *file,
    char *out, size_t len)
{
    int  n, m;

    n = ngx_sprintf((u_char *) out, "%s", up->conf->prefix) - (u_char *) out;

    m = hb_layout_upload(out + n, len - n, (char *) up->conf->v2.data,
                         up->conf->v2.len, (char *) up->name.data,
                         up->name.len, (char *) up->uuid.data, up->uuid.len);

    if (m < 0 || n + m + ngx_strlen(file) + 2 > len) {
        return -1;
    }

    ngx_sprintf((u_char *) out + n + m, "/%s%Z", file);

    return 0;
}


static int
ngx_http_harbor_s3_blob_key(ngx_http_harbor_s3_up_t *up, char *out,
    size_t len)
{
    int  n;

    n = ngx_sprintf((u_char *) out, "%s", up->conf->prefix) - (u_char *) out;

    return hb_layout_blob_data(out + n, len - n, (char *) up->conf->v2.data,
                               up->conf->v2.len, (char *) up->digest.data,
                               up->digest.len) < 0 ? -1 : 0;
}


static int
ngx_http_harbor_s3_layer_key(ngx_http_harbor_s3_up_t *up, ngx_str_t *name,
    ngx_str_t *digest, char *out, size_t len)
{
    int  n;

    n = ngx_sprintf((u_char *) out, "%s", up->conf->prefix) - (u_char *) out;

    return hb_layout_link(out + n, len - n, (char *) up->conf->v2.data,
                          up->conf->v2.len, (char *) name->data, name->len,
                          HB_LINK_LAYER, (char *) digest->data, digest->len,
                          NULL, 0, NULL) < 0 ? -1 : 0;
}


static long
ngx_http_harbor_s3_send(ngx_http_harbor_s3_up_t *up, const char *method,
    const char *key, const hb_sigv4_pair_t *query, size_t nquery,
    const u_char *mem, size_t mem_len, ngx_fd_t fd, off_t file_len,
    ngx_http_harbor_s3_buf_t *out, char *etag)
{
    long                       status;
    ngx_http_harbor_s3_call_t  q;

    ngx_memzero(&q, sizeof(ngx_http_harbor_s3_call_t));
    q.method = method;
    q.key = key;
    q.query = query;
    q.nquery = nquery;
    q.mem = mem;
    q.mem_len = mem_len;
    q.fd = fd;
    q.file_len = file_len;
    q.out = out;

    status = ngx_http_harbor_s3_call(up->conf, &q);

    if (etag) {
        ngx_cpystrn((u_char *) etag, (u_char *) q.etag, sizeof(q.etag));
    }

    return status;
}


/* hbstate into up->state and up->text; NGX_DECLINED: no such upload */

static ngx_int_t
ngx_http_harbor_s3_state_read(ngx_http_harbor_s3_up_t *up)
{
    long                      status;
    ngx_http_harbor_s3_buf_t  buf;
    char                      key[NGX_HTTP_HARBOR_S3_KEY_MAX];

    if (!hb_uuid_valid(up->uuid.data, up->uuid.len)
        || ngx_http_harbor_s3_upload_key(up, "hbstate", key, sizeof(key))
           != 0)
    {
        return NGX_DECLINED;
    }

    ngx_memzero(&buf, sizeof(ngx_http_harbor_s3_buf_t));
    buf.max = sizeof(ngx_http_harbor_s3_state_t)
              + NGX_HTTP_HARBOR_S3_STATE_MAX;

    status = ngx_http_harbor_s3_send(up, "GET", key, NULL, 0, NULL, 0,
                                     NGX_INVALID_FILE, 0, &buf, NULL);

    if (status == 404) {
        free(buf.data);
        return NGX_DECLINED;
    }

    if (status != 200 || buf.too_large
        || buf.len < sizeof(ngx_http_harbor_s3_state_t)
        || ngx_memcmp(buf.data, NGX_HTTP_HARBOR_S3_MAGIC, 8) != 0)
    {
        free(buf.data);
        return ngx_http_harbor_s3_up_fail(up, status == 200 ? 0 : status,
                                          key);
    }

    ngx_memcpy(&up->state, buf.data, sizeof(ngx_http_harbor_s3_state_t));

    /* the text after the header stays in the buffer */

    if (up->text.data) {
        free(up->text.data);
    }

    up->text = buf;
    up->text.len -= sizeof(ngx_http_harbor_s3_state_t);
    ngx_memmove(up->text.data, up->text.data
                               + sizeof(ngx_http_harbor_s3_state_t),
                up->text.len);

    return NGX_OK;
}


static ngx_int_t
ngx_http_harbor_s3_state_write(ngx_http_harbor_s3_up_t *up)
{
    long    status;
    char    key[NGX_HTTP_HARBOR_S3_KEY_MAX];
    u_char  buf[sizeof(ngx_http_harbor_s3_state_t)];

    if (ngx_http_harbor_s3_upload_key(up, "hbstate", key, sizeof(key)) != 0) {
        return ngx_http_harbor_s3_up_fail(up, 0, "(an upload's key)");
    }

    ngx_memcpy(up->state.magic, NGX_HTTP_HARBOR_S3_MAGIC, 8);
    ngx_memcpy(buf, &up->state, sizeof(buf));

    /* the header, then the text */

    if (up->text.len) {
        u_char  *all;

        all = malloc(sizeof(buf) + up->text.len);
        if (all == NULL) {
            return ngx_http_harbor_s3_up_fail(up, 0, key);
        }

        ngx_memcpy(all, buf, sizeof(buf));
        ngx_memcpy(all + sizeof(buf), up->text.data, up->text.len);

        status = ngx_http_harbor_s3_send(up, "PUT", key, NULL, 0, all,
                                         sizeof(buf) + up->text.len,
                                         NGX_INVALID_FILE, 0, NULL, NULL);
        free(all);

    } else {
        status = ngx_http_harbor_s3_send(up, "PUT", key, NULL, 0, buf,
                                         sizeof(buf), NGX_INVALID_FILE, 0,
                                         NULL, NULL);
    }

    return status == 200 ? NGX_OK : ngx_http_harbor_s3_up_fail(up, status,
                                                                key);
}


/* a new upload: startedat, then hbstate at offset 0 */

static ngx_int_t
ngx_http_harbor_s3_create(ngx_http_harbor_s3_up_t *up)
{
    long       status;
    time_t     now;
    size_t     n;
    struct tm  tm;
    char       key[NGX_HTTP_HARBOR_S3_KEY_MAX];
    char       when[64];

    if (ngx_http_harbor_s3_upload_key(up, "startedat", key, sizeof(key))
        != 0)
    {
        return ngx_http_harbor_s3_up_fail(up, 0, "(an upload's key)");
    }

    now = time(NULL);
    gmtime_r(&now, &tm);
    n = strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);

    status = ngx_http_harbor_s3_send(up, "PUT", key, NULL, 0,
                                     (u_char *) when, n, NGX_INVALID_FILE,
                                     0, NULL, NULL);
    if (status != 200) {
        return ngx_http_harbor_s3_up_fail(up, status, key);
    }

    ngx_memzero(&up->state, sizeof(ngx_http_harbor_s3_state_t));
    SHA256_Init(&up->state.sha);

    return ngx_http_harbor_s3_state_write(up);
}


/*
 * A chunk: into a part when the tail and it make 5 MiB, else into the
 * tail; with a PUT, then the blob.
 */

static ngx_int_t
ngx_http_harbor_s3_append(ngx_http_harbor_s3_up_t *up)
{
    long                      status;
    size_t                    tail_len;
    ngx_int_t                 rc;
    ngx_http_harbor_s3_buf_t  tail;
    char                      key[NGX_HTTP_HARBOR_S3_KEY_MAX];

    /* another node may have written a chunk since the state was read */

    rc = ngx_http_harbor_s3_state_read(up);
    if (rc != NGX_OK) {
        return rc;
    }

    if (up->state.offset != up->expect) {
        return NGX_BUSY;
    }

    ngx_memzero(&tail, sizeof(ngx_http_harbor_s3_buf_t));
    tail_len = (size_t) up->state.tail;

    if (ngx_http_harbor_s3_upload_key(up, "hbtail", key, sizeof(key)) != 0) {
        return ngx_http_harbor_s3_up_fail(up, 0, "(an upload's key)");
    }

    if (tail_len) {
        tail.max = tail_len;

        status = ngx_http_harbor_s3_send(up, "GET", key, NULL, 0, NULL, 0,
                                         NGX_INVALID_FILE, 0, &tail, NULL);

        /* a tail longer than the state says: a chunk not acknowledged */
        if ((status != 200 && status != 206)
            || (tail.len < tail_len && !tail.too_large))
        {
            free(tail.data);
            return ngx_http_harbor_s3_up_fail(up, status == 200 ? 0 : status,
                                              key);
        }

        tail.len = tail_len;
    }

    if (up->commit) {
        rc = ngx_http_harbor_s3_finish(up, tail.data, tail_len);
        free(tail.data);
        return rc;
    }

    if ((off_t) tail_len + up->size >= NGX_HTTP_HARBOR_S3_PART_MIN) {
        rc = ngx_http_harbor_s3_part(up, tail.data, tail_len);
        up->state.tail = 0;

    } else {
        rc = NGX_OK;

        if (up->size) {
            status = ngx_http_harbor_s3_send(up, "PUT", key, NULL, 0,
                                             tail.data, tail_len, up->fd,
                                             up->size, NULL, NULL);
            if (status != 200) {
                rc = ngx_http_harbor_s3_up_fail(up, status, key);
            }

            up->state.tail = tail_len + up->size;
        }
    }

    free(tail.data);

    if (rc != NGX_OK) {
        return rc;
    }

    up->state.offset += up->size;
    up->state.sha = up->sha;

    return ngx_http_harbor_s3_state_write(up);
}


/* the upload's id: the first line of the text */

static u_char *
ngx_http_harbor_s3_upload_id(ngx_http_harbor_s3_up_t *up, size_t *len)
{
    u_char  *nl;

    if (up->text.len == 0) {
        return NULL;
    }

    nl = ngx_strlchr(up->text.data, up->text.data + up->text.len, '\n');
    if (nl == NULL || nl == up->text.data) {
        return NULL;
    }

    *len = nl - up->text.data;

    return up->text.data;
}


/*
 * The tail and the body as the next part of data's multipart upload
 * (started by the first part), its ETag added to the text.
 */

static ngx_int_t
ngx_http_harbor_s3_part(ngx_http_harbor_s3_up_t *up, u_char *mem,
    size_t mem_len)
{
    long                      status;
    size_t                    len;
    u_char                   *id, *s, *e, *text;
    uint64_t                  i;
    hb_sigv4_pair_t           query[2];
    ngx_http_harbor_s3_buf_t  buf;
    char                      key[NGX_HTTP_HARBOR_S3_KEY_MAX];
    char                      idz[1024], num[32], etag[128];

    if (ngx_http_harbor_s3_upload_key(up, "data", key, sizeof(key)) != 0) {
        return ngx_http_harbor_s3_up_fail(up, 0, "(an upload's key)");
    }

    if (up->state.parts >= NGX_HTTP_HARBOR_S3_PARTS_MAX
        || (off_t) mem_len + up->size > NGX_HTTP_HARBOR_S3_PART_MAX)
    {
        ngx_snprintf(up->why, sizeof(up->why) - 1,
                     "\"%s\": a part over 5 GiB or 10000 parts%Z", key);
        up->status = NGX_HTTP_REQUEST_ENTITY_TOO_LARGE;
        return NGX_ERROR;
    }

    id = ngx_http_harbor_s3_upload_id(up, &len);

    if (id == NULL) {
        /* CreateMultipartUpload: <UploadId>...</UploadId> */

        query[0].name = "uploads";
        query[0].value = "";

        ngx_memzero(&buf, sizeof(ngx_http_harbor_s3_buf_t));
        buf.max = 64 * 1024;

        status = ngx_http_harbor_s3_send(up, "POST", key, query, 1, NULL, 0,
                                         NGX_INVALID_FILE, 0, &buf, NULL);

        s = (status == 200)
            ? ngx_http_harbor_s3_find(buf.data, buf.data + buf.len,
                                      "<UploadId>")
            : NULL;
        e = s ? ngx_http_harbor_s3_find(s, buf.data + buf.len, "</UploadId>")
              : NULL;

        if (e == NULL
            || e - s - (sizeof("<UploadId>") - 1) >= (ssize_t) sizeof(idz))
        {
            free(buf.data);
            return ngx_http_harbor_s3_up_fail(up, status == 200 ? 0 : status,
                                              key);
        }

        s += sizeof("<UploadId>") - 1;
        len = e - s;

        /* the text becomes "<id>\n" (no part yet) */

        text = malloc(NGX_HTTP_HARBOR_S3_STATE_MAX);
        if (text == NULL) {
            free(buf.data);
            return ngx_http_harbor_s3_up_fail(up, 0, key);
        }

        ngx_memcpy(text, s, len);
        text[len] = '\n';
        free(buf.data);

        free(up->text.data);
        up->text.data = text;
        up->text.len = len + 1;
        up->text.max = NGX_HTTP_HARBOR_S3_STATE_MAX;
        up->state.parts = 0;

        id = text;
    }

    if (len >= sizeof(idz)) {
        return ngx_http_harbor_s3_up_fail(up, 0, key);
    }

    ngx_memcpy(idz, id, len);
    idz[len] = '\0';

    ngx_sprintf((u_char *) num, "%uL%Z", up->state.parts + 1);

    query[0].name = "partNumber";
    query[0].value = num;
    query[1].name = "uploadId";
    query[1].value = idz;

    status = ngx_http_harbor_s3_send(up, "PUT", key, query, 2, mem, mem_len,
                                     up->fd, up->size, NULL, etag);

    if (status != 200 || etag[0] == '\0') {
        return ngx_http_harbor_s3_up_fail(up, status == 200 ? 0 : status,
                                          key);
    }

    /* the text is the state's: its parts' lines, then this one */

    text = up->text.data;
    len = ngx_strlen(etag);

    if (up->text.max < NGX_HTTP_HARBOR_S3_STATE_MAX) {
        text = malloc(NGX_HTTP_HARBOR_S3_STATE_MAX);
        if (text == NULL) {
            return ngx_http_harbor_s3_up_fail(up, 0, key);
        }

        ngx_memcpy(text, up->text.data, up->text.len);
        free(up->text.data);
        up->text.data = text;
        up->text.max = NGX_HTTP_HARBOR_S3_STATE_MAX;
    }

    /* only the first state.parts lines after the id are parts */

    s = ngx_strlchr(text, text + up->text.len, '\n') + 1;

    for (i = 0; i < up->state.parts; i++) {
        s = ngx_strlchr(s, text + up->text.len, '\n');
        if (s == NULL) {
            return ngx_http_harbor_s3_up_fail(up, 0, key);
        }

        s++;
    }

    if ((size_t) (s - text) + len + 1 > up->text.max) {
        return ngx_http_harbor_s3_up_fail(up, 0, key);
    }

    ngx_memcpy(s, etag, len);
    s[len] = '\n';
    up->text.len = s - text + len + 1;
    up->state.parts++;

    return NGX_OK;
}


/* CompleteMultipartUpload of data, its parts as the text lists them */

static ngx_int_t
ngx_http_harbor_s3_complete(ngx_http_harbor_s3_up_t *up)
{
    long                      status;
    size_t                    len;
    u_char                   *id, *p, *s, *e, *end, *xml;
    uint64_t                  i;
    hb_sigv4_pair_t           query[1];
    ngx_http_harbor_s3_buf_t  buf;
    char                      key[NGX_HTTP_HARBOR_S3_KEY_MAX];
    char                      idz[1024];

    if (ngx_http_harbor_s3_upload_key(up, "data", key, sizeof(key)) != 0) {
        return ngx_http_harbor_s3_up_fail(up, 0, "(an upload's key)");
    }

    id = ngx_http_harbor_s3_upload_id(up, &len);
    if (id == NULL || len >= sizeof(idz)) {
        return ngx_http_harbor_s3_up_fail(up, 0, key);
    }

    ngx_memcpy(idz, id, len);
    idz[len] = '\0';

    xml = malloc(up->state.parts * 200 + 128);
    if (xml == NULL) {
        return ngx_http_harbor_s3_up_fail(up, 0, key);
    }

    p = ngx_sprintf(xml, "<CompleteMultipartUpload>");
    end = up->text.data + up->text.len;
    s = id + len + 1;

    for (i = 0; i < up->state.parts; i++) {
        e = ngx_strlchr(s, end, '\n');
        if (e == NULL || e - s > 128) {
            free(xml);
            return ngx_http_harbor_s3_up_fail(up, 0, key);
        }

        p = ngx_sprintf(p, "<Part><PartNumber>%uL</PartNumber>"
                        "<ETag>%*s</ETag></Part>", i + 1, e - s, s);
        s = e + 1;
    }

    p = ngx_sprintf(p, "</CompleteMultipartUpload>");

    query[0].name = "uploadId";
    query[0].value = idz;

    ngx_memzero(&buf, sizeof(ngx_http_harbor_s3_buf_t));
    buf.max = 64 * 1024;

    status = ngx_http_harbor_s3_send(up, "POST", key, query, 1, xml, p - xml,
                                     NGX_INVALID_FILE, 0, &buf, NULL);
    free(xml);

    /* a 200 may still carry an <Error> */

    if (status != 200
        || ngx_http_harbor_s3_find(buf.data, buf.data + buf.len, "<Error>")
           != NULL)
    {
        free(buf.data);
        return ngx_http_harbor_s3_up_fail(up, status == 200 ? 0 : status,
                                          key);
    }

    free(buf.data);

    return NGX_OK;
}


/*
 * The final PUT: its digest checked, the blob stored under it, the
 * layer link written, the upload's objects deleted.
 */

static ngx_int_t
ngx_http_harbor_s3_finish(ngx_http_harbor_s3_up_t *up, u_char *tail,
    size_t tail_len)
{
    long                       status;
    ngx_int_t                  rc;
    SHA512_CTX                 sha;
    ngx_http_harbor_s3_call_t  q;
    char                       data[NGX_HTTP_HARBOR_S3_KEY_MAX];
    char                       blob[NGX_HTTP_HARBOR_S3_KEY_MAX];
    char                       src[NGX_HTTP_HARBOR_S3_KEY_MAX + 64];
    u_char                     bin[SHA512_DIGEST_LENGTH];

    if (ngx_http_harbor_s3_upload_key(up, "data", data, sizeof(data)) != 0
        || ngx_http_harbor_s3_blob_key(up, blob, sizeof(blob)) != 0)
    {
        return ngx_http_harbor_s3_up_fail(up, 0, "(an upload's key)");
    }

    if (up->state.parts == 0) {

        /* all of it is here: checked, then written under its digest */

        if (ngx_http_harbor_s3_hash_here(up, tail, tail_len) != NGX_OK) {
            return NGX_ERROR;
        }

        rc = ngx_http_harbor_s3_check(up);
        if (rc != NGX_OK) {
            ngx_http_harbor_s3_purge(up);
            return rc;
        }

        status = ngx_http_harbor_s3_send(up, "PUT", blob, NULL, 0, tail,
                                         tail_len, up->fd, up->size, NULL,
                                         NULL);
        if (status != 200) {
            return ngx_http_harbor_s3_up_fail(up, status, blob);
        }

        goto link;
    }

    /* a SHA-256 is known already: a mismatch stores nothing */

    if (up->have_hex) {
        rc = ngx_http_harbor_s3_check(up);
        if (rc != NGX_OK) {
            ngx_http_harbor_s3_purge(up);
            return rc;
        }
    }

    if (tail_len + up->size > 0) {
        if (ngx_http_harbor_s3_part(up, tail, tail_len) != NGX_OK) {
            return NGX_ERROR;
        }
    }

    if (up->state.offset + up->size > (uint64_t) NGX_HTTP_HARBOR_S3_PART_MAX) {
        ngx_snprintf(up->why, sizeof(up->why) - 1,
                     "\"%s\": a blob over 5 GiB cannot be copied by the "
                     "store in one request%Z", data);
        up->status = NGX_HTTP_REQUEST_ENTITY_TOO_LARGE;
        ngx_http_harbor_s3_purge(up);
        return NGX_ERROR;
    }

    if (ngx_http_harbor_s3_complete(up) != NGX_OK) {
        return NGX_ERROR;
    }

    if (!up->have_hex) {
        /* a SHA-512: the bytes read back from the store */

        SHA512_Init(&sha);

        ngx_memzero(&q, sizeof(ngx_http_harbor_s3_call_t));
        q.method = "GET";
        q.key = data;
        q.fd = NGX_INVALID_FILE;
        q.sink = ngx_http_harbor_s3_sha512;
        q.sink_ctx = &sha;

        status = ngx_http_harbor_s3_call(up->conf, &q);
        if (status != 200) {
            return ngx_http_harbor_s3_up_fail(up, status, data);
        }

        SHA512_Final(bin, &sha);
        hb_hex(up->hex, bin, SHA512_DIGEST_LENGTH);
        up->have_hex = 1;

        rc = ngx_http_harbor_s3_check(up);
        if (rc != NGX_OK) {
            ngx_http_harbor_s3_purge(up);
            return rc;
        }
    }

    /* CopyObject: the source is "/bucket/key" whatever the style */

    if (up->conf->path_style) {
        ngx_cpystrn((u_char *) src, (u_char *) data, sizeof(src));

    } else {
        ngx_snprintf((u_char *) src, sizeof(src), "/%V%s%Z",
                     &up->conf->bucket, data);
    }

    ngx_memzero(&q, sizeof(ngx_http_harbor_s3_call_t));
    q.method = "PUT";
    q.key = blob;
    q.fd = NGX_INVALID_FILE;
    q.copy_source = src;

    {
        ngx_http_harbor_s3_buf_t  buf;

        ngx_memzero(&buf, sizeof(ngx_http_harbor_s3_buf_t));
        buf.max = 64 * 1024;
        q.out = &buf;

        status = ngx_http_harbor_s3_call(up->conf, &q);

        if (status != 200
            || ngx_http_harbor_s3_find(buf.data, buf.data + buf.len,
                                       "<Error>") != NULL)
        {
            free(buf.data);
            return ngx_http_harbor_s3_up_fail(up, status == 200 ? 0 : status,
                                              blob);
        }

        free(buf.data);
    }

link:

    if (ngx_http_harbor_s3_link_put(up) != NGX_OK) {
        return NGX_ERROR;
    }

    /* the upload is over: its objects go (a failure here loses nothing) */

    ngx_http_harbor_s3_purge(up);
    up->rc = NGX_OK;

    return NGX_OK;
}


/* the digest asked for against the one computed: NGX_DECLINED differs */

static ngx_int_t
ngx_http_harbor_s3_check(ngx_http_harbor_s3_up_t *up)
{
    u_char  *hex;
    size_t   len;

    hex = ngx_strlchr(up->digest.data, up->digest.data + up->digest.len, ':');
    if (hex == NULL) {
        return NGX_DECLINED;
    }

    hex++;
    len = up->digest.data + up->digest.len - hex;

    if (len != ngx_strlen(up->hex) && len != HB_SHA512_HEX) {
        return NGX_DECLINED;
    }

    return ngx_strncmp(hex, up->hex, len) == 0 ? NGX_OK : NGX_DECLINED;
}


static void
ngx_http_harbor_s3_sha512(void *ctx, const u_char *p, size_t n)
{
    SHA512_Update(ctx, p, n);
}


/* a SHA-512 of mem and the body, unless the digest is known already */

static ngx_int_t
ngx_http_harbor_s3_hash_here(ngx_http_harbor_s3_up_t *up, u_char *mem,
    size_t mem_len)
{
    off_t       off;
    ssize_t     n;
    SHA512_CTX  sha;
    u_char      bin[SHA512_DIGEST_LENGTH];
    u_char      buf[65536];

    if (up->have_hex) {
        return NGX_OK;
    }

    SHA512_Init(&sha);
    SHA512_Update(&sha, mem, mem_len);

    for (off = 0; off < up->size; off += n) {
        n = pread(up->fd, buf, ngx_min((off_t) sizeof(buf), up->size - off),
                  off);

        if (n <= 0) {
            ngx_snprintf(up->why, sizeof(up->why) - 1,
                         "the request body could not be read back%Z");
            up->status = NGX_HTTP_INTERNAL_SERVER_ERROR;
            return NGX_ERROR;
        }

        SHA512_Update(&sha, buf, n);
    }

    SHA512_Final(bin, &sha);
    hb_hex(up->hex, bin, SHA512_DIGEST_LENGTH);
    up->have_hex = 1;

    return NGX_OK;
}


/* The upload's objects, and its multipart upload, deleted. */

static ngx_int_t
ngx_http_harbor_s3_purge(ngx_http_harbor_s3_up_t *up)
{
    long              status;
    size_t            len;
    u_char           *id;
    ngx_uint_t        i;
    hb_sigv4_pair_t   query[1];
    char              key[NGX_HTTP_HARBOR_S3_KEY_MAX];
    char              idz[1024];

    static const char  *files[] = { "data", "hbtail", "startedat",
                                    "hbstate" };

    id = ngx_http_harbor_s3_upload_id(up, &len);

    if (id && len < sizeof(idz)
        && ngx_http_harbor_s3_upload_key(up, "data", key, sizeof(key)) == 0)
    {
        ngx_memcpy(idz, id, len);
        idz[len] = '\0';

        query[0].name = "uploadId";
        query[0].value = idz;

        /* a completed one answers 404: fine */
        (void) ngx_http_harbor_s3_send(up, "DELETE", key, query, 1, NULL, 0,
                                       NGX_INVALID_FILE, 0, NULL, NULL);
    }

    /* hbstate last: while it is there, the upload is */

    for (i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
        if (ngx_http_harbor_s3_upload_key(up, files[i], key, sizeof(key))
            != 0)
        {
            return ngx_http_harbor_s3_up_fail(up, 0, "(an upload's key)");
        }

        status = ngx_http_harbor_s3_send(up, "DELETE", key, NULL, 0, NULL, 0,
                                         NGX_INVALID_FILE, 0, NULL, NULL);

        if (status != 204 && status != 200 && status != 404) {
            return ngx_http_harbor_s3_up_fail(up, status, key);
        }
    }

    return NGX_OK;
}


/* POST with ?digest=: checked, then written under its digest, linked */

static ngx_int_t
ngx_http_harbor_s3_monolithic(ngx_http_harbor_s3_up_t *up)
{
    long        status;
    ngx_int_t   rc;
    char        blob[NGX_HTTP_HARBOR_S3_KEY_MAX];

    if (ngx_http_harbor_s3_hash_here(up, NULL, 0) != NGX_OK) {
        return NGX_ERROR;
    }

    rc = ngx_http_harbor_s3_check(up);
    if (rc != NGX_OK) {
        return rc;
    }

    if (ngx_http_harbor_s3_blob_key(up, blob, sizeof(blob)) != 0) {
        return ngx_http_harbor_s3_up_fail(up, 0, "(a blob's key)");
    }

    if (up->size > NGX_HTTP_HARBOR_S3_PART_MAX) {
        ngx_snprintf(up->why, sizeof(up->why) - 1,
                     "\"%s\": a monolithic upload over 5 GiB%Z", blob);
        up->status = NGX_HTTP_REQUEST_ENTITY_TOO_LARGE;
        return NGX_ERROR;
    }

    status = ngx_http_harbor_s3_send(up, "PUT", blob, NULL, 0, NULL, 0,
                                     up->fd, up->size, NULL, NULL);
    if (status != 200) {
        return ngx_http_harbor_s3_up_fail(up, status, blob);
    }

    return ngx_http_harbor_s3_link_put(up);
}


/* the layer link of up->digest in up->name */

static ngx_int_t
ngx_http_harbor_s3_link_put(ngx_http_harbor_s3_up_t *up)
{
    long  status;
    char  key[NGX_HTTP_HARBOR_S3_KEY_MAX];

    if (ngx_http_harbor_s3_layer_key(up, &up->name, &up->digest, key,
                                     sizeof(key))
        != 0)
    {
        return ngx_http_harbor_s3_up_fail(up, 0, "(a link's key)");
    }

    status = ngx_http_harbor_s3_send(up, "PUT", key, NULL, 0,
                                     up->digest.data, up->digest.len,
                                     NGX_INVALID_FILE, 0, NULL, NULL);

    return status == 200 ? NGX_OK : ngx_http_harbor_s3_up_fail(up, status,
                                                                key);
}


/* a HEAD: NGX_OK there, NGX_DECLINED not, NGX_ERROR */

static ngx_int_t
ngx_http_harbor_s3_exists(ngx_http_harbor_s3_up_t *up, const char *key)
{
    long  status;

    status = ngx_http_harbor_s3_send(up, "HEAD", key, NULL, 0, NULL, 0,
                                     NGX_INVALID_FILE, 0, NULL, NULL);
    if (status == 404) {
        return NGX_DECLINED;
    }

    return status == 200 ? NGX_OK : ngx_http_harbor_s3_up_fail(up, status,
                                                                key);
}


/*
 * A mount: the blob linked in from and stored, then linked here;
 * NGX_DECLINED when either is missing.
 */

static ngx_int_t
ngx_http_harbor_s3_mount(ngx_http_harbor_s3_up_t *up)
{
    ngx_int_t  rc;
    char       key[NGX_HTTP_HARBOR_S3_KEY_MAX];

    if (ngx_http_harbor_s3_layer_key(up, &up->from, &up->digest, key,
                                     sizeof(key))
        != 0)
    {
        return NGX_DECLINED;
    }

    rc = ngx_http_harbor_s3_exists(up, key);

    if (rc == NGX_OK) {
        if (ngx_http_harbor_s3_blob_key(up, key, sizeof(key)) != 0) {
            return NGX_DECLINED;
        }

        rc = ngx_http_harbor_s3_exists(up, key);
    }

    if (rc != NGX_OK) {
        return rc;
    }

    if (ngx_http_harbor_s3_link_put(up) != NGX_OK) {
        return NGX_ERROR;
    }

    up->mounted = 1;

    return NGX_OK;
}
