
/*
 * ngx-harbor: an OCI registry inside nginx.
 * Manifests (by tag or digest), tags, the catalog and referrers.
 */


#include "ngx_http_harbor_module.h"

#include <jansson.h>


/*
 * The media type of a stored manifest never changes (its name is its
 * digest), so each worker remembers it and a GET by tag reads no JSON.
 */

#define NGX_HTTP_HARBOR_MT_CACHE  1024

typedef struct {
    u_char      digest[HB_DIGEST_MAX];
    u_char      len;
    u_char      type;
} ngx_http_harbor_mt_t;

static ngx_http_harbor_mt_t  ngx_http_harbor_mt_cache[NGX_HTTP_HARBOR_MT_CACHE];


static ngx_int_t ngx_http_harbor_resolve(ngx_http_request_t *r,
    ngx_http_harbor_route_t *rt, ngx_str_t *digest, ngx_http_harbor_op_t *op);
static ngx_int_t ngx_http_harbor_manifest_get(ngx_http_request_t *r,
    ngx_http_harbor_route_t *rt);
static void ngx_http_harbor_manifest_read(ngx_http_request_t *r,
    ngx_http_harbor_op_t *op);
static ngx_int_t ngx_http_harbor_manifest_typed(ngx_http_request_t *r,
    ngx_http_harbor_op_t *op);
static ngx_int_t ngx_http_harbor_manifest_send(ngx_http_request_t *r,
    int type);
static ngx_int_t ngx_http_harbor_manifest_put(ngx_http_request_t *r,
    ngx_http_harbor_route_t *rt);
static void ngx_http_harbor_manifest_put_done(ngx_http_request_t *r);
static ngx_int_t ngx_http_harbor_manifest_store(ngx_http_request_t *r,
    ngx_http_harbor_route_t *rt, ngx_str_t *body, ngx_str_t *digest);
static ngx_int_t ngx_http_harbor_manifest_delete(ngx_http_request_t *r,
    ngx_http_harbor_route_t *rt);
/* a DELETE that puts its revision back, and how it then answers */
typedef struct {
    ngx_http_harbor_op_t        op;          /* link_restore's: first */
    ngx_str_t                   tag;         /* an immutable tag on it */
    const char                 *why;         /* a 412 */
    ngx_uint_t                  fault;       /* a fault's status */
} ngx_http_harbor_restore_t;

static ngx_int_t ngx_http_harbor_restore(ngx_http_request_t *r,
    ngx_http_harbor_op_t *aside, ngx_str_t *tag, const char *why,
    ngx_http_harbor_op_t *fault);
static void ngx_http_harbor_restored(ngx_http_request_t *r,
    ngx_http_harbor_op_t *op);
static ngx_int_t ngx_http_harbor_restored_answer(ngx_http_request_t *r,
    ngx_http_harbor_restore_t *rs);
static void ngx_http_harbor_deleted(ngx_http_request_t *r,
    ngx_http_harbor_op_t *op);
static ngx_int_t ngx_http_harbor_deleted_answer(ngx_http_request_t *r,
    ngx_http_harbor_op_t *op);
static ngx_int_t ngx_http_harbor_accepts(ngx_http_request_t *r,
    const char *type);
static ngx_int_t ngx_http_harbor_untagged_only(ngx_http_request_t *r);
static ngx_int_t ngx_http_harbor_too_many(ngx_http_request_t *r,
    hb_manifest_t *m, char *err, size_t len);
static ngx_int_t ngx_http_harbor_cutoff(ngx_http_request_t *r,
    time_t *cutoff);
static ngx_int_t ngx_http_harbor_subject(ngx_http_request_t *r,
    ngx_str_t *digest, ngx_str_t *subject, ngx_http_harbor_op_t *op);
static ngx_int_t ngx_http_harbor_subject_kept(ngx_http_request_t *r,
    ngx_str_t *name, ngx_str_t *subject, time_t cutoff,
    ngx_http_harbor_op_t *op);
static ngx_int_t ngx_http_harbor_tags_at(ngx_http_request_t *r,
    ngx_str_t *name, ngx_str_t *digest, ngx_uint_t del,
    ngx_http_harbor_op_t *op);
static ngx_int_t ngx_http_harbor_require(ngx_http_request_t *r,
    ngx_http_harbor_route_t *rt, ngx_http_harbor_link_e kind,
    ngx_str_t *digest, ngx_http_harbor_op_t *op);
static void ngx_http_harbor_manifest_stored(ngx_http_request_t *r,
    ngx_http_harbor_op_t *op);
typedef ngx_int_t (*ngx_http_harbor_list_send_pt)(ngx_http_request_t *r,
    ngx_http_harbor_op_t *op);

static ngx_int_t ngx_http_harbor_list_start(ngx_http_request_t *r,
    ngx_http_harbor_list_e kind, ngx_str_t *name, ngx_str_t *key,
    size_t read, ngx_uint_t max, ngx_http_harbor_op_pt done,
    ngx_http_harbor_list_send_pt send);
static void ngx_http_harbor_tags_listed(ngx_http_request_t *r,
    ngx_http_harbor_op_t *op);
static ngx_int_t ngx_http_harbor_tags_send(ngx_http_request_t *r,
    ngx_http_harbor_op_t *op);
static void ngx_http_harbor_catalog_listed(ngx_http_request_t *r,
    ngx_http_harbor_op_t *op);
static ngx_int_t ngx_http_harbor_catalog_send(ngx_http_request_t *r,
    ngx_http_harbor_op_t *op);
static void ngx_http_harbor_referrers_listed(ngx_http_request_t *r,
    ngx_http_harbor_op_t *op);
static ngx_int_t ngx_http_harbor_referrers_send(ngx_http_request_t *r,
    ngx_http_harbor_op_t *op);
static ngx_int_t ngx_http_harbor_referrers_link(ngx_http_request_t *r,
    ngx_http_harbor_route_t *rt, ngx_http_harbor_page_t *page,
    ngx_str_t *last, ngx_str_t *filter);
static ngx_int_t ngx_http_harbor_send_json(ngx_http_request_t *r,
    json_t *root, ngx_str_t *content_type);


static ngx_http_harbor_mt_t *
ngx_http_harbor_mt_slot(ngx_str_t *digest)
{
    ngx_uint_t  i, h;

    h = 0;

    for (i = 7; i < 15; i++) {
        h = (h << 4) | (ngx_hextoi(&digest->data[i], 1) & 0xf);
    }

    return &ngx_http_harbor_mt_cache[h % NGX_HTTP_HARBOR_MT_CACHE];
}


static void
ngx_http_harbor_mt_put(ngx_str_t *digest, int type)
{
    ngx_http_harbor_mt_t  *e;

    e = ngx_http_harbor_mt_slot(digest);
    ngx_memcpy(e->digest, digest->data, digest->len);
    e->len = (u_char) digest->len;
    e->type = (u_char) type;
}


static int
ngx_http_harbor_mt_get(ngx_str_t *digest)
{
    ngx_http_harbor_mt_t  *e;

    e = ngx_http_harbor_mt_slot(digest);

    if (e->len == digest->len
        && ngx_memcmp(e->digest, digest->data, digest->len) == 0)
    {
        return e->type;
    }

    return HB_MT_UNKNOWN;
}


ngx_int_t
ngx_http_harbor_manifest(ngx_http_request_t *r, ngx_http_harbor_route_t *rt)
{
    switch (r->method) {

    case NGX_HTTP_PUT:
        return ngx_http_harbor_manifest_put(r, rt);

    case NGX_HTTP_DELETE:
        return ngx_http_harbor_manifest_delete(r, rt);

    default:
        return ngx_http_harbor_manifest_get(r, rt);
    }
}


/* tag or digest -> digest of a manifest of this repository */

static ngx_int_t
ngx_http_harbor_resolve(ngx_http_request_t *r, ngx_http_harbor_route_t *rt,
    ngx_str_t *digest, ngx_http_harbor_op_t *op)
{
    ngx_int_t                   rc;
    ngx_http_harbor_link_t      link;
    ngx_http_harbor_backend_t  *hs;

    hs = ngx_http_harbor_backend(r);

    if (rt->alg != HB_DIGEST_NONE) {
        *digest = rt->ref;

    } else {
        ngx_http_harbor_link_init(&link, NGX_HTTP_HARBOR_LINK_TAG, &rt->name,
                                  &rt->ref, NULL);
        link.cached = 1;

        rc = hs->link_get(r, &link, 1, op);
        if (rc != NGX_OK) {
            return rc;
        }

        *digest = op->digest;
    }

    ngx_http_harbor_link_init(&link, NGX_HTTP_HARBOR_LINK_REVISION,
                              &rt->name, digest, NULL);
    link.cached = 1;

    return hs->link_get(r, &link, 0, op);
}


static ngx_int_t
ngx_http_harbor_manifest_get(ngx_http_request_t *r,
    ngx_http_harbor_route_t *rt)
{
    int                     type;
    ngx_int_t               rc;
    ngx_http_harbor_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_harbor_module);

    /* a proxy cache project's miss or stale tag goes to authd */
    rc = ngx_http_harbor_proxy_pull(r, rt);
    if (rc != NGX_DECLINED) {
        return rc;
    }

    rc = ngx_http_harbor_resolve(r, rt, &ctx->digest, &ctx->op);

    if (rc == NGX_ERROR) {
        return ngx_http_harbor_op_error(r, &ctx->op);
    }

    if (rc == NGX_DECLINED) {
        return ngx_http_harbor_error(r, NGX_HTTP_NOT_FOUND, "MANIFEST_UNKNOWN",
                                     "manifest unknown to registry", NULL);
    }

    type = ngx_http_harbor_mt_get(&ctx->digest);

    if (type != HB_MT_UNKNOWN) {
        return ngx_http_harbor_manifest_send(r, type);
    }

    /* its media type is in the JSON: read it (in the thread pool) */

    ctx->op.done = ngx_http_harbor_manifest_read;

    rc = ngx_http_harbor_backend(r)->blob_read(r, &ctx->digest,
                                               HB_MANIFEST_MAX, &ctx->op);

    if (rc == NGX_AGAIN) {
        r->main->count++;
        return NGX_DONE;
    }

    return ngx_http_harbor_manifest_typed(r, &ctx->op);
}


static void
ngx_http_harbor_manifest_read(ngx_http_request_t *r, ngx_http_harbor_op_t *op)
{
    ngx_http_finalize_request(r, ngx_http_harbor_manifest_typed(r, op));
}


static ngx_int_t
ngx_http_harbor_manifest_typed(ngx_http_request_t *r,
    ngx_http_harbor_op_t *op)
{
    int                     type;
    ngx_http_harbor_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_harbor_module);

    if (op->rc == NGX_ERROR) {
        return ngx_http_harbor_op_error(r, op);
    }

    if (op->rc == NGX_DECLINED) {
        return ngx_http_harbor_error(r, NGX_HTTP_NOT_FOUND,
                                     "MANIFEST_UNKNOWN",
                                     "manifest unknown to registry", NULL);
    }

    if (op->rc == NGX_ABORT) {
        return ngx_http_harbor_error(r, NGX_HTTP_NOT_FOUND,
                                     "MANIFEST_UNKNOWN",
                                     "the stored manifest is larger "
                                     "than 4 MiB", NULL);
    }

    type = hb_manifest_sniff((char *) op->data.data, op->data.len);

    if (type == HB_MT_UNKNOWN) {
        return ngx_http_harbor_error(r, NGX_HTTP_NOT_FOUND,
                                     "MANIFEST_UNKNOWN",
                                     "the stored manifest is of a kind "
                                     "this registry does not serve", NULL);
    }

    ngx_http_harbor_mt_put(&ctx->digest, type);

    return ngx_http_harbor_manifest_send(r, type);
}


static ngx_int_t
ngx_http_harbor_manifest_send(ngx_http_request_t *r, int type)
{
    ngx_int_t                 rc;
    ngx_str_t                 ct;
    ngx_http_harbor_ctx_t    *ctx;
    ngx_http_harbor_route_t  *rt;

    ctx = ngx_http_get_module_ctx(r, ngx_http_harbor_module);
    rt = &ctx->route;

    ct.data = (u_char *) hb_manifest_type_name(type);
    ct.len = ngx_strlen(ct.data);

    if (!ngx_http_harbor_accepts(r, (char *) ct.data)) {
        return ngx_http_harbor_error(r, NGX_HTTP_NOT_FOUND, "MANIFEST_UNKNOWN",
                                     "the manifest's media type is not in "
                                     "the Accept header", NULL);
    }

    rc = ngx_http_harbor_backend(r)->blob_send(r, &ctx->digest, &ct, 0,
                                               &ctx->op);

    if (rc == NGX_HTTP_NOT_FOUND) {
        return ngx_http_harbor_error(r, NGX_HTTP_NOT_FOUND, "MANIFEST_UNKNOWN",
                                     "manifest unknown to registry", NULL);
    }

    if (rc >= NGX_HTTP_SPECIAL_RESPONSE) {
        return ngx_http_harbor_error(r, rc, "UNKNOWN", "storage error", NULL);
    }

    if (r->method == NGX_HTTP_GET && !ctx->view) {
        ngx_http_harbor_journal(r, "pull", &rt->name, &ctx->digest,
                                rt->alg == HB_DIGEST_NONE ? &rt->ref : NULL,
                                (char *) ct.data, ctx->op.size);
    }

    return rc;
}


/*
 * Whether the client takes this media type: every Accept header (clients
 * send one per type) is read; no Accept header at all takes anything.
 */

static ngx_int_t
ngx_http_harbor_accepts(ngx_http_request_t *r, const char *type)
{
    u_char           *p, *end, *s;
    size_t            tlen, len;
    ngx_uint_t        i, seen;
    ngx_list_part_t  *part;
    ngx_table_elt_t  *h;

    tlen = ngx_strlen(type);
    seen = 0;

    part = &r->headers_in.headers.part;
    h = part->elts;

    for (i = 0; /* void */; i++) {

        if (i >= part->nelts) {
            if (part->next == NULL) {
                break;
            }

            part = part->next;
            h = part->elts;
            i = 0;
        }

        if (h[i].key.len != 6
            || ngx_strncasecmp(h[i].key.data, (u_char *) "Accept", 6) != 0)
        {
            continue;
        }

        seen = 1;

        p = h[i].value.data;
        end = p + h[i].value.len;

        while (p < end) {
            while (p < end && (*p == ' ' || *p == ',')) {
                p++;
            }

            s = p;

            while (p < end && *p != ',') {
                p++;
            }

            len = hb_media_type_len(s, p - s);

            if ((len == tlen && ngx_strncasecmp(s, (u_char *) type, len) == 0)
                || (len == 3 && ngx_strncmp(s, "*/*", 3) == 0)
                || (len == 13 && ngx_strncmp(s, "application/*", 13) == 0))
            {
                return 1;
            }
        }
    }

    return !seen;
}


static ngx_int_t
ngx_http_harbor_untagged_only(ngx_http_request_t *r)
{
    ngx_table_elt_t  *h;

    h = ngx_http_harbor_header_in(r, "X-Harbor-Untagged-Only");

    return h && h->value.len == 4
           && ngx_strncasecmp(h->value.data, (u_char *) "true", 4) == 0;
}


static ngx_int_t
ngx_http_harbor_manifest_put(ngx_http_request_t *r,
    ngx_http_harbor_route_t *rt)
{
    ngx_http_harbor_ctx_t  *ctx;

    if (r->headers_in.content_length_n > HB_MANIFEST_MAX) {
        return ngx_http_harbor_error(r, NGX_HTTP_REQUEST_ENTITY_TOO_LARGE,
                                     "SIZE_INVALID",
                                     "manifests are limited to 4 MiB", NULL);
    }

    ctx = ngx_http_get_module_ctx(r, ngx_http_harbor_module);

    SHA256_Init(&ctx->sha);

    return ngx_http_harbor_read_body(r, HB_MANIFEST_MAX,
                                     ngx_http_harbor_manifest_put_done);
}


static void
ngx_http_harbor_manifest_put_done(ngx_http_request_t *r)
{
    ssize_t                   n;
    ngx_int_t                 rc;
    ngx_str_t                 body, digest;
    ngx_temp_file_t          *tf;
    ngx_http_harbor_ctx_t    *ctx;
    ngx_http_harbor_route_t  *rt;
    u_char                    bin[SHA512_DIGEST_LENGTH];

    ctx = ngx_http_get_module_ctx(r, ngx_http_harbor_module);
    ctx->hashing = 0;
    rt = &ctx->route;

    tf = r->request_body ? r->request_body->temp_file : NULL;

    if (tf == NULL || ctx->received == 0) {
        ngx_http_finalize_request(r,
            ngx_http_harbor_error(r, NGX_HTTP_BAD_REQUEST, "MANIFEST_INVALID",
                                  "the manifest is empty", NULL));
        return;
    }

    body.len = ctx->received;
    body.data = ngx_pnalloc(r->pool, body.len);
    if (body.data == NULL) {
        ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    n = ngx_read_file(&tf->file, body.data, body.len, 0);

    if (n != (ssize_t) body.len) {
        ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    /* the digest of the manifest, in the algorithm the client named */

    digest.data = ngx_pnalloc(r->pool, HB_DIGEST_MAX);
    if (digest.data == NULL) {
        ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    if (rt->alg == HB_DIGEST_SHA512) {
        SHA512(body.data, body.len, bin);
        ngx_memcpy(digest.data, "sha512:", 7);
        hb_hex(digest.data + 7, bin, SHA512_DIGEST_LENGTH);
        digest.len = 7 + HB_SHA512_HEX;

    } else {
        ngx_memcpy(digest.data, "sha256:", 7);
        ngx_http_harbor_sha256_hex(&ctx->sha, digest.data + 7);
        digest.len = 7 + HB_SHA256_HEX;
    }

    if (rt->alg != HB_DIGEST_NONE
        && (digest.len != rt->ref.len
            || ngx_memcmp(digest.data, rt->ref.data, digest.len) != 0))
    {
        ngx_http_finalize_request(r,
            ngx_http_harbor_error(r, NGX_HTTP_BAD_REQUEST, "DIGEST_INVALID",
                                  "provided digest did not match uploaded "
                                  "content", NULL));
        return;
    }

    /* a bucket: ngx_http_harbor_s3_manifest.c */

    if (((ngx_http_harbor_loc_conf_t *)
         ngx_http_get_module_loc_conf(r, ngx_http_harbor_module))->s3)
    {
        rc = ngx_http_harbor_s3_manifest_store(r, rt, &body, &digest);

    } else {
        rc = ngx_http_harbor_manifest_store(r, rt, &body, &digest);
    }

    if (rc != NGX_DONE) {
        ngx_http_finalize_request(r, rc);
    }
}


/*
 * Every descriptor of a pushed manifest costs a link lookup and a stat in
 * the event loop: how many a manifest may have is capped
 * (harbor_manifest_descriptors), with a message that names the limit.
 */

static ngx_int_t
ngx_http_harbor_too_many(ngx_http_request_t *r, hb_manifest_t *m, char *err,
    size_t len)
{
    size_t                       n;
    ngx_http_harbor_loc_conf_t  *hlcf;

    hlcf = ngx_http_get_module_loc_conf(r, ngx_http_harbor_module);

    n = m->nblobs + m->nmanifests + (m->config.digest[0] ? 1 : 0);

    if (hlcf->descriptors == 0 || n <= hlcf->descriptors) {
        return 0;
    }

    ngx_snprintf((u_char *) err, len,
                 "the manifest has %uz descriptors, more than the %ui this "
                 "registry accepts (harbor_manifest_descriptors)%Z",
                 n, hlcf->descriptors);
    err[len - 1] = '\0';

    ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                  "harbor: manifest refused: %s", err);

    return 1;
}


/*
 * The pushed manifest parsed into m (its Content-Type told), within the
 * descriptors' cap: NGX_OK (m to free), or NGX_ABORT with *answer the
 * handler's answer (MANIFEST_INVALID, m freed).
 */

ngx_int_t
ngx_http_harbor_manifest_parse(ngx_http_request_t *r, ngx_str_t *body,
    hb_manifest_t *m, ngx_int_t *answer)
{
    size_t      ct_len;
    ngx_str_t  *ct, msg;
    char        err[256];

    ct = r->headers_in.content_type ? &r->headers_in.content_type->value
                                    : NULL;
    ct_len = ct ? hb_media_type_len(ct->data, ct->len) : 0;

    if (hb_manifest_parse((char *) body->data, body->len,
                          ct ? (char *) ct->data : NULL, ct_len, m,
                          err, sizeof(err))
        != 0)
    {
        hb_manifest_free(m);

        msg.len = ngx_strlen(err);
        msg.data = (u_char *) err;

        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "harbor: manifest refused: %V", &msg);

        *answer = ngx_http_harbor_error(r, NGX_HTTP_BAD_REQUEST,
                                        "MANIFEST_INVALID", err, NULL);
        return NGX_ABORT;
    }

    if (ngx_http_harbor_too_many(r, m, err, sizeof(err))) {
        hb_manifest_free(m);
        *answer = ngx_http_harbor_error(r, NGX_HTTP_BAD_REQUEST,
                                        "MANIFEST_INVALID", err, NULL);
        return NGX_ABORT;
    }

    return NGX_OK;
}


/*
 * Returns what a content handler returns, or NGX_DONE when the commit
 * goes on in the thread pool (ngx_http_harbor_manifest_stored() answers).
 */

static ngx_int_t
ngx_http_harbor_manifest_store(ngx_http_request_t *r,
    ngx_http_harbor_route_t *rt, ngx_str_t *body, ngx_str_t *digest)
{
    size_t                     i;
    ngx_int_t                  rc, answer;
    ngx_str_t                  d;
    hb_manifest_t              m;
    ngx_http_harbor_ctx_t     *ctx;
    ngx_http_harbor_commit_t  *c;

    ctx = ngx_http_get_module_ctx(r, ngx_http_harbor_module);

    /*
     * A tag that exists and points elsewhere moves: not if an immutable
     * tag rule of the project protects it (a new tag, or the same
     * manifest again, is no move).
     */

    if (rt->alg == HB_DIGEST_NONE) {
        rc = ngx_http_harbor_tag_moves(r, rt, digest, &ctx->op);

        if (rc == NGX_ERROR) {
            return ngx_http_harbor_op_error(r, &ctx->op);
        }

        if (rc == NGX_OK) {
            return ngx_http_harbor_immutable_error(r, &rt->name, &rt->ref);
        }
    }

    if (ngx_http_harbor_manifest_parse(r, body, &m, &answer) != NGX_OK) {
        return answer;
    }

    /* everything it references must be here first */

    if (m.config.digest[0]) {
        d.data = (u_char *) m.config.digest;
        d.len = ngx_strlen(m.config.digest);

        rc = ngx_http_harbor_require(r, rt, NGX_HTTP_HARBOR_LINK_LAYER, &d,
                                     &ctx->op);
        if (rc != NGX_OK) {
            goto unknown;
        }
    }

    for (i = 0; i < m.nblobs; i++) {
        if (m.blobs[i].has_urls) {
            continue;       /* a foreign layer lives elsewhere */
        }

        d.data = (u_char *) m.blobs[i].digest;
        d.len = ngx_strlen(m.blobs[i].digest);

        rc = ngx_http_harbor_require(r, rt, NGX_HTTP_HARBOR_LINK_LAYER, &d,
                                     &ctx->op);
        if (rc != NGX_OK) {
            goto unknown;
        }
    }

    for (i = 0; i < m.nmanifests; i++) {
        d.data = (u_char *) m.manifests[i].digest;
        d.len = ngx_strlen(m.manifests[i].digest);

        rc = ngx_http_harbor_require(r, rt, NGX_HTTP_HARBOR_LINK_REVISION,
                                     &d, &ctx->op);
        if (rc != NGX_OK) {
            goto unknown;
        }
    }

    /* the project's storage quota: reserved, or the push refused */

    if (ngx_http_harbor_quota_manifest(r, &rt->name,
                                       rt->alg == HB_DIGEST_NONE ? &rt->ref
                                                                 : NULL,
                                       &m, body, digest, &ctx->op, &rc)
        != NGX_OK)
    {
        hb_manifest_free(&m);
        return rc;
    }

    /*
     * The manifest itself, then the links that make it visible, all
     * durable before the 201: one task of the thread pool.
     */

    c = &ctx->commit;

    c->name = rt->name;
    c->digest = *digest;
    c->hex = digest->data + 7;    /* checked by manifest_put_done */
    c->manifest = 1;

    if (rt->alg == HB_DIGEST_NONE) {
        c->tag = rt->ref;
    }

    if (m.subject.digest[0]) {
        c->subject.len = ngx_strlen(m.subject.digest);
        c->subject.data = ngx_pnalloc(r->pool, c->subject.len);
        if (c->subject.data == NULL) {
            hb_manifest_free(&m);
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        ngx_memcpy(c->subject.data, m.subject.digest, c->subject.len);
    }

    ctx->mt = m.type;
    ctx->media_type = m.media_type;

    hb_manifest_free(&m);

    ctx->op.done = ngx_http_harbor_manifest_stored;

    rc = ngx_http_harbor_backend(r)->commit(r, c, &ctx->op);

    if (rc == NGX_AGAIN) {
        return NGX_DONE;
    }

    ngx_http_harbor_manifest_stored(r, &ctx->op);

    return NGX_DONE;

unknown:

    rc = (rc == NGX_ERROR) ? ngx_http_harbor_op_error(r, &ctx->op)
                           : ngx_http_harbor_blob_unknown(r, &d);

    hb_manifest_free(&m);

    return rc;
}


/* The manifest and its links are durable: answer. */

static void
ngx_http_harbor_manifest_stored(ngx_http_request_t *r,
    ngx_http_harbor_op_t *op)
{
    ngx_http_harbor_ctx_t     *ctx;
    ngx_http_harbor_commit_t  *c;
    ngx_http_harbor_route_t   *rt;

    ctx = ngx_http_get_module_ctx(r, ngx_http_harbor_module);
    c = &ctx->commit;
    rt = &ctx->route;

    if (op->rc != NGX_OK) {
        ngx_http_finalize_request(r, ngx_http_harbor_op_error(r, op));
        return;
    }

    ngx_http_harbor_mt_put(&c->digest, ctx->mt);

    ngx_http_harbor_journal(r, "push", &rt->name, &c->digest,
                            c->tag.len ? &c->tag : NULL, ctx->media_type,
                            ctx->received);
    ngx_http_harbor_quota_done(r);

    if ((c->subject.len
         && ngx_http_harbor_add_header(r, "OCI-Subject", &c->subject)
            != NGX_OK)
        || ngx_http_harbor_set_location(r, &rt->name, "manifests",
                                        &c->digest)
           != NGX_OK
        || ngx_http_harbor_add_header(r, "Docker-Content-Digest", &c->digest)
           != NGX_OK)
    {
        ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    ngx_http_finalize_request(r,
        ngx_http_harbor_send(r, NGX_HTTP_CREATED, NULL, NULL));
}


/*
 * What a manifest references must be linked in its repository and its
 * blob must be there: touched, so that the garbage collector spares it
 * (docs/gc.md).  NGX_DECLINED if not.
 */

static ngx_int_t
ngx_http_harbor_require(ngx_http_request_t *r, ngx_http_harbor_route_t *rt,
    ngx_http_harbor_link_e kind, ngx_str_t *digest, ngx_http_harbor_op_t *op)
{
    ngx_int_t                   rc;
    ngx_http_harbor_link_t      link;
    ngx_http_harbor_backend_t  *hs;

    hs = ngx_http_harbor_backend(r);

    ngx_http_harbor_link_init(&link, kind, &rt->name, digest, NULL);

    rc = hs->link_get(r, &link, 0, op);

    if (rc != NGX_OK) {
        return rc;
    }

    /*
     * A child of an index is renewed too: an untagged-only delete with a
     * cutoff keeps it, or has moved it aside already and this fails.
     */

    if (kind == NGX_HTTP_HARBOR_LINK_REVISION) {
        rc = hs->link_touch(r, &link, op);

        if (rc != NGX_OK) {
            return rc;
        }
    }

    return hs->blob_touch(r, digest, op);
}


ngx_int_t
ngx_http_harbor_blob_unknown(ngx_http_request_t *r, ngx_str_t *digest)
{
    ngx_str_t  detail;

    detail.data = ngx_pnalloc(r->pool,
                              HB_DIGEST_MAX + sizeof("{\"digest\":\"\"}"));
    if (detail.data == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    detail.len = ngx_sprintf(detail.data, "{\"digest\":\"%V\"}", digest)
                 - detail.data;

    return ngx_http_harbor_error(r, NGX_HTTP_BAD_REQUEST,
                                 "MANIFEST_BLOB_UNKNOWN",
                                 "manifest references a manifest or blob "
                                 "unknown to this repository", &detail);
}


/*
 * DELETE by tag removes the tag.  DELETE by digest removes the revision
 * and every tag pointing at it, in this order: the revision is moved
 * aside first (the moment the manifest stops existing), then the tags go.
 * A PUT of a tag writes the revision link again after the tag (see
 * manifest_store), so whatever the interleaving with that PUT, a tag left
 * at the end was written after this delete looked at the tags, hence
 * after the move, and the PUT's revision write that follows it finds the
 * revision gone and writes it: no tag ever points at a removed revision
 * (docs/gc.md, "DELETE by digest and tag PUT").
 */

static ngx_int_t
ngx_http_harbor_manifest_delete(ngx_http_request_t *r,
    ngx_http_harbor_route_t *rt)
{
    time_t                      cutoff;
    ngx_int_t                   rc;
    ngx_str_t                   digest, subject, rules, tag;
    ngx_uint_t                  untagged;
    const char                 *why;
    ngx_http_harbor_op_t        op, aside;
    ngx_http_harbor_ctx_t      *ctx;
    ngx_http_harbor_link_t      link;
    ngx_http_harbor_backend_t  *hs;

    /* calls that cannot wait: done unset */
    op.done = NULL;
    aside.done = NULL;

    hs = ngx_http_harbor_backend(r);

    if (rt->alg == HB_DIGEST_NONE) {

        /* a tag: only the tag goes */

        ngx_http_harbor_link_init(&link, NGX_HTTP_HARBOR_LINK_TAG, &rt->name,
                                  &rt->ref, NULL);

        rc = hs->link_get(r, &link, 1, &op);
        if (rc == NGX_OK) {
            digest = op.digest;
            rc = ngx_http_harbor_rules(r, &rt->name, &rules, &op);

            if (rc == NGX_OK
                && ngx_http_harbor_immutable(r, &rt->name, &rules, &rt->ref)
                   != NGX_DECLINED)
            {
                return ngx_http_harbor_immutable_error(r, &rt->name,
                                                       &rt->ref);
            }

            if (rc != NGX_ERROR) {
                rc = hs->link_delete(r, &link, &op);
            }
        }

        if (rc == NGX_ERROR) {
            return ngx_http_harbor_op_error(r, &op);
        }

        if (rc == NGX_DECLINED) {
            return ngx_http_harbor_error(r, NGX_HTTP_NOT_FOUND,
                                         "MANIFEST_UNKNOWN",
                                         "manifest unknown to registry",
                                         NULL);
        }

        ngx_http_harbor_journal(r, "delete", &rt->name, &digest, &rt->ref,
                                NULL, 0);

        return ngx_http_harbor_send(r, NGX_HTTP_ACCEPTED, NULL, NULL);
    }

    digest = rt->ref;

    /*
     * "X-Harbor-Untagged-Only: true" (the garbage collector's deletes of
     * untagged manifests) with an optional "X-Harbor-Cutoff: <seconds>":
     * the manifest goes only if, once its revision is moved aside, no tag
     * points at it and, with a cutoff, it was not written or renewed at
     * or after the cutoff (a push, a re-push, an index referencing it) and
     * it is no referrer of a subject tagged or renewed since.  Otherwise
     * the revision is put back and the answer is 412.  The headers only
     * make a delete refuse: anyone may send them.
     */

    untagged = ngx_http_harbor_untagged_only(r);
    cutoff = -1;

    if (untagged && ngx_http_harbor_cutoff(r, &cutoff) == NGX_ERROR) {
        return ngx_http_harbor_error(r, NGX_HTTP_BAD_REQUEST, "UNSUPPORTED",
                                     "X-Harbor-Cutoff is not a time in "
                                     "seconds", NULL);
    }

    ngx_http_harbor_link_init(&link, NGX_HTTP_HARBOR_LINK_REVISION,
                              &rt->name, &digest, NULL);

    rc = hs->link_move(r, &link, &aside);

    if (rc == NGX_ERROR) {
        return ngx_http_harbor_op_error(r, &aside);
    }

    if (rc == NGX_DECLINED) {
        return ngx_http_harbor_error(r, NGX_HTTP_NOT_FOUND, "MANIFEST_UNKNOWN",
                                     "manifest unknown to registry", NULL);
    }

    ngx_str_null(&subject);
    why = NULL;

    if (cutoff >= 0 && aside.mtime >= cutoff) {
        why = "the manifest was pushed or referenced after the cutoff";
    }

    if (why == NULL && !untagged) {
        rc = ngx_http_harbor_tags_immutable(r, &rt->name, &digest, &tag,
                                            &op);
        if (rc == NGX_ERROR) {
            goto failed;
        }

        if (rc == NGX_OK) {
            return ngx_http_harbor_restore(r, &aside, &tag, NULL, NULL);
        }
    }

    if (why == NULL) {
        rc = ngx_http_harbor_tags_at(r, &rt->name, &digest, !untagged, &op);

        if (rc == NGX_ERROR) {
            goto failed;
        }

        if (untagged && rc == NGX_OK) {
            why = "the manifest is tagged";
        }
    }

    if (why == NULL) {
        rc = ngx_http_harbor_subject(r, &digest, &subject, &op);

        if (rc == NGX_ERROR) {
            goto failed;
        }

        if (cutoff >= 0 && subject.len) {
            rc = ngx_http_harbor_subject_kept(r, &rt->name, &subject, cutoff,
                                              &op);

            if (rc == NGX_ERROR) {
                goto failed;
            }

            if (rc == NGX_OK) {
                why = "the manifest refers to a subject tagged or pushed "
                      "after the cutoff";
            }
        }
    }

    if (why) {
        return ngx_http_harbor_restore(r, &aside, NULL, why, NULL);
    }

    if (hs->link_drop(r, &aside) != NGX_OK) {
        return ngx_http_harbor_op_error(r, &aside);
    }

    /*
     * Its entry in the referrers of its subject.  A PUT of the same
     * manifest after the move writes the revision, then this entry: if the
     * revision is back once the entry is gone, the entry goes back too,
     * else the PUT's own write of it comes later.
     */

    if (subject.len) {
        ngx_http_harbor_link_init(&link, NGX_HTTP_HARBOR_LINK_REFERRER,
                                  &rt->name, &subject, &digest);

        rc = hs->link_delete(r, &link, &op);

        if (rc != NGX_ERROR) {
            ngx_http_harbor_link_init(&link, NGX_HTTP_HARBOR_LINK_REVISION,
                                      &rt->name, &digest, NULL);

            rc = hs->link_get(r, &link, 0, &op);
        }

        if (rc == NGX_ERROR) {
            return ngx_http_harbor_op_error(r, &op);
        }

        if (rc == NGX_OK) {
            /* written and synced in the thread pool */

            ngx_http_harbor_link_init(&link, NGX_HTTP_HARBOR_LINK_REFERRER,
                                      &rt->name, &subject, &digest);

            ctx = ngx_http_get_module_ctx(r, ngx_http_harbor_module);
            ctx->op.done = ngx_http_harbor_deleted;

            rc = hs->link_set(r, &link, &digest, &ctx->op);

            if (rc == NGX_AGAIN) {
                r->main->count++;
                return NGX_DONE;
            }

            return ngx_http_harbor_deleted_answer(r, &ctx->op);
        }
    }

    op.rc = NGX_OK;

    return ngx_http_harbor_deleted_answer(r, &op);

failed:

    /* nothing is deleted on a fault: the revision goes back */

    return ngx_http_harbor_restore(r, &aside, NULL, NULL, &op);
}


/*
 * Put a revision moved aside back, then answer as the DELETE decided: an
 * immutable tag, a reason for a 412, or a fault (its op).  The
 * directory's fsync runs in the thread pool.
 */

static ngx_int_t
ngx_http_harbor_restore(ngx_http_request_t *r, ngx_http_harbor_op_t *aside,
    ngx_str_t *tag, const char *why, ngx_http_harbor_op_t *fault)
{
    ngx_int_t                   rc;
    ngx_http_harbor_restore_t  *rs;

    rs = ngx_pcalloc(r->pool, sizeof(ngx_http_harbor_restore_t));
    if (rs == NULL) {
        (void) ngx_http_harbor_backend(r)->link_restore(r, aside);
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    rs->op = *aside;
    rs->op.done = ngx_http_harbor_restored;

    if (tag) {
        rs->tag = *tag;
    }

    rs->why = why;

    if (fault) {
        rs->fault = fault->status;
    }

    rc = ngx_http_harbor_backend(r)->link_restore(r, &rs->op);

    if (rc == NGX_AGAIN) {
        r->main->count++;
        return NGX_DONE;
    }

    return ngx_http_harbor_restored_answer(r, rs);
}


static void
ngx_http_harbor_restored(ngx_http_request_t *r, ngx_http_harbor_op_t *op)
{
    ngx_http_finalize_request(r,
        ngx_http_harbor_restored_answer(r, (ngx_http_harbor_restore_t *) op));
}


static ngx_int_t
ngx_http_harbor_restored_answer(ngx_http_request_t *r,
    ngx_http_harbor_restore_t *rs)
{
    ngx_http_harbor_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_harbor_module);

    if (rs->fault) {
        rs->op.status = rs->fault;
        return ngx_http_harbor_op_error(r, &rs->op);
    }

    if (rs->op.rc != NGX_OK) {
        return ngx_http_harbor_op_error(r, &rs->op);
    }

    if (rs->why) {
        return ngx_http_harbor_error(r, NGX_HTTP_PRECONDITION_FAILED,
                                     "DENIED", rs->why, NULL);
    }

    return ngx_http_harbor_immutable_error(r, &ctx->route.name, &rs->tag);
}


/* The DELETE by digest is done: journaled, 202. */

static void
ngx_http_harbor_deleted(ngx_http_request_t *r, ngx_http_harbor_op_t *op)
{
    ngx_http_finalize_request(r, ngx_http_harbor_deleted_answer(r, op));
}


static ngx_int_t
ngx_http_harbor_deleted_answer(ngx_http_request_t *r,
    ngx_http_harbor_op_t *op)
{
    ngx_http_harbor_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_harbor_module);

    if (op->rc == NGX_ERROR) {
        return ngx_http_harbor_op_error(r, op);
    }

    ngx_http_harbor_journal(r, "delete", &ctx->route.name, &ctx->route.ref,
                            NULL, NULL, 0);

    return ngx_http_harbor_send(r, NGX_HTTP_ACCEPTED, NULL, NULL);
}


/* X-Harbor-Cutoff: unix seconds, left as is when absent. */

static ngx_int_t
ngx_http_harbor_cutoff(ngx_http_request_t *r, time_t *cutoff)
{
    long              v;
    ngx_table_elt_t  *h;

    h = ngx_http_harbor_header_in(r, "X-Harbor-Cutoff");
    if (h == NULL) {
        return NGX_DECLINED;
    }

    v = hb_count_parse(h->value.data, h->value.len, NGX_MAX_INT32_VALUE);
    if (v < 0) {
        return NGX_ERROR;
    }

    *cutoff = (time_t) v;

    return NGX_OK;
}


/*
 * The subject of a stored manifest, if it has one (subject->len 0 if
 * not).  A manifest that cannot be read or parsed has none: its referrer
 * entry, if any, is left to reindex.
 */

static ngx_int_t
ngx_http_harbor_subject(ngx_http_request_t *r, ngx_str_t *digest,
    ngx_str_t *subject, ngx_http_harbor_op_t *op)
{
    ngx_int_t      rc;
    ngx_str_t      body;
    hb_manifest_t  m;
    char           err[128];

    ngx_str_null(subject);

    /* read here, not in a task: the revision is moved aside meanwhile */

    op->done = NULL;

    rc = ngx_http_harbor_backend(r)->blob_read(r, digest, HB_MANIFEST_MAX,
                                               op);
    body = op->data;

    if (rc == NGX_ERROR) {
        return NGX_ERROR;
    }

    if (rc != NGX_OK) {
        return NGX_OK;
    }

    ngx_memzero(&m, sizeof(hb_manifest_t));

    if (hb_manifest_parse((char *) body.data, body.len, NULL, 0, &m, err,
                          sizeof(err))
        == 0
        && m.subject.digest[0])
    {
        subject->len = ngx_strlen(m.subject.digest);
        subject->data = ngx_pnalloc(r->pool, subject->len);

        if (subject->data == NULL) {
            hb_manifest_free(&m);
            op->status = NGX_HTTP_INTERNAL_SERVER_ERROR;
            return NGX_ERROR;
        }

        ngx_memcpy(subject->data, m.subject.digest, subject->len);
    }

    hb_manifest_free(&m);

    return NGX_OK;
}


/*
 * A referrer is kept while its subject is: tagged, or its revision
 * written or renewed (a push, a tag PUT) at or after the cutoff.
 */

static ngx_int_t
ngx_http_harbor_subject_kept(ngx_http_request_t *r, ngx_str_t *name,
    ngx_str_t *subject, time_t cutoff, ngx_http_harbor_op_t *op)
{
    ngx_int_t               rc;
    ngx_http_harbor_link_t  link;

    ngx_http_harbor_link_init(&link, NGX_HTTP_HARBOR_LINK_REVISION, name,
                              subject, NULL);

    rc = ngx_http_harbor_backend(r)->link_get(r, &link, 0, op);
    if (rc == NGX_ERROR) {
        return NGX_ERROR;
    }

    if (rc == NGX_OK && op->mtime >= cutoff) {
        return NGX_OK;
    }

    return ngx_http_harbor_tags_at(r, name, subject, 0, op);
}


/*
 * Whether a tag of the repository points at digest (NGX_OK) or none does
 * (NGX_DECLINED); with del, those that do are deleted.
 */

static ngx_int_t
ngx_http_harbor_tags_at(ngx_http_request_t *r, ngx_str_t *name,
    ngx_str_t *digest, ngx_uint_t del, ngx_http_harbor_op_t *op)
{
    ngx_int_t                   rc, found;
    ngx_str_t                  *tag;
    ngx_uint_t                  i;
    ngx_array_t                 tags;
    ngx_http_harbor_link_t      link;
    ngx_http_harbor_backend_t  *hs;

    hs = ngx_http_harbor_backend(r);

    if (ngx_array_init(&tags, r->pool, 8, sizeof(ngx_str_t)) != NGX_OK) {
        op->status = NGX_HTTP_INTERNAL_SERVER_ERROR;
        return NGX_ERROR;
    }

    rc = hs->list(r, NGX_HTTP_HARBOR_LIST_TAGS, name, NULL, NULL, &tags, op);
    if (rc != NGX_OK) {
        return rc;
    }

    tag = tags.elts;
    found = NGX_DECLINED;

    for (i = 0; i < tags.nelts; i++) {
        ngx_http_harbor_link_init(&link, NGX_HTTP_HARBOR_LINK_TAG, name,
                                  &tag[i], NULL);

        rc = hs->link_get(r, &link, 1, op);

        if (rc == NGX_ERROR) {
            return NGX_ERROR;
        }

        if (rc == NGX_DECLINED || op->digest.len != digest->len
            || ngx_memcmp(op->digest.data, digest->data, digest->len) != 0)
        {
            continue;
        }

        found = NGX_OK;

        if (!del) {
            break;
        }

        if (hs->link_delete(r, &link, op) == NGX_ERROR) {
            return NGX_ERROR;
        }
    }

    return found;
}


/*
 * The lists: their directory reads (and the referrers' manifest reads)
 * run in the thread pool, so each route starts the list and answers with
 * send() from op->done, or at once when the list was done at once (a
 * tags page from the cache, no repository, no thread pool).  What a
 * handler returns, or NGX_DECLINED: a bad ?n=, for the route to answer.
 */

static ngx_int_t
ngx_http_harbor_list_start(ngx_http_request_t *r, ngx_http_harbor_list_e kind,
    ngx_str_t *name, ngx_str_t *key, size_t read, ngx_uint_t max,
    ngx_http_harbor_op_pt done, ngx_http_harbor_list_send_pt send)
{
    ngx_int_t               rc;
    ngx_http_harbor_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_harbor_module);

    ctx->page = ngx_palloc(r->pool, sizeof(ngx_http_harbor_page_t));
    if (ctx->page == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    rc = ngx_http_harbor_page_init(r, ctx->page, max);

    if (rc == NGX_ERROR) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (rc == NGX_DECLINED) {
        return NGX_DECLINED;
    }

    ctx->page->read = read;
    ctx->op.done = done;

    rc = ngx_http_harbor_backend(r)->list(r, kind, name, key, ctx->page, NULL,
                                          &ctx->op);
    if (rc == NGX_AGAIN) {
        r->main->count++;
        return NGX_DONE;
    }

    return send(r, &ctx->op);
}


ngx_int_t
ngx_http_harbor_tags(ngx_http_request_t *r, ngx_http_harbor_route_t *rt)
{
    ngx_int_t               rc;
    ngx_http_harbor_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_harbor_module);

    rc = ngx_http_harbor_list_start(r, NGX_HTTP_HARBOR_LIST_TAGS, &rt->name,
                                    NULL, 0, NGX_HTTP_HARBOR_LIST_MAX,
                                    ngx_http_harbor_tags_listed,
                                    ngx_http_harbor_tags_send);
    if (rc != NGX_DECLINED) {
        return rc;
    }

    /* a bad ?n=, answered by send_list(), once the name is known */

    ctx->op.done = NULL;
    (void) ngx_http_harbor_backend(r)->repo_exists(r, &rt->name, &ctx->op);

    return ngx_http_harbor_tags_send(r, &ctx->op);
}


static void
ngx_http_harbor_tags_listed(ngx_http_request_t *r, ngx_http_harbor_op_t *op)
{
    ngx_http_finalize_request(r, ngx_http_harbor_tags_send(r, op));
}


static ngx_int_t
ngx_http_harbor_tags_send(ngx_http_request_t *r, ngx_http_harbor_op_t *op)
{
    u_char                   *p;
    ngx_str_t                 path;
    ngx_http_harbor_ctx_t    *ctx;
    ngx_http_harbor_route_t  *rt;

    ctx = ngx_http_get_module_ctx(r, ngx_http_harbor_module);
    rt = &ctx->route;

    if (op->rc == NGX_ERROR) {
        return ngx_http_harbor_op_error(r, op);
    }

    if (op->rc == NGX_DECLINED) {
        return ngx_http_harbor_error(r, NGX_HTTP_NOT_FOUND, "NAME_UNKNOWN",
                                     "repository name not known to registry",
                                     NULL);
    }

    path.data = ngx_pnalloc(r->pool, rt->name.len * 2 + 32);
    if (path.data == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    path.len = ngx_sprintf(path.data, "/v2/%V/tags/list", &rt->name)
               - path.data;

    /* the prefix: "name":"<name>", */

    p = ngx_pnalloc(r->pool, rt->name.len + sizeof("\"name\":\"\",") + 1);
    if (p == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_sprintf(p, "\"name\":\"%V\",%Z", &rt->name);

    return ngx_http_harbor_send_list(r, &ctx->page->items, &path, (char *) p,
                                     "tags");
}


ngx_int_t
ngx_http_harbor_catalog(ngx_http_request_t *r)
{
    ngx_int_t               rc;
    ngx_http_harbor_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_harbor_module);

    rc = ngx_http_harbor_list_start(r, NGX_HTTP_HARBOR_LIST_REPOS, NULL, NULL,
                                    0, NGX_HTTP_HARBOR_LIST_MAX,
                                    ngx_http_harbor_catalog_listed,
                                    ngx_http_harbor_catalog_send);
    if (rc != NGX_DECLINED) {
        return rc;
    }

    /* a bad ?n=, answered by send_list() */

    ctx->op.rc = NGX_OK;

    return ngx_http_harbor_catalog_send(r, &ctx->op);
}


static void
ngx_http_harbor_catalog_listed(ngx_http_request_t *r,
    ngx_http_harbor_op_t *op)
{
    ngx_http_finalize_request(r, ngx_http_harbor_catalog_send(r, op));
}


static ngx_int_t
ngx_http_harbor_catalog_send(ngx_http_request_t *r, ngx_http_harbor_op_t *op)
{
    ngx_str_t               path;
    ngx_http_harbor_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_harbor_module);

    if (op->rc != NGX_OK) {
        return ngx_http_harbor_op_error(r, op);
    }

    ngx_str_set(&path, "/v2/_catalog");

    return ngx_http_harbor_send_list(r, &ctx->page->items, &path, "",
                                     "repositories");
}


/*
 * A page holds at most NGX_HTTP_HARBOR_REFERRERS referrers, and stops
 * early once NGX_HTTP_HARBOR_REFERRERS_READ bytes of manifests were read
 * for it: one request cannot make a worker read thousands of 4 MiB
 * manifests.  The list and the reads are one task of the thread pool;
 * the parse of what was read is here.  The Link header leads to the next
 * page.
 */

ngx_int_t
ngx_http_harbor_referrers(ngx_http_request_t *r, ngx_http_harbor_route_t *rt)
{
    ngx_int_t  rc;

    rc = ngx_http_harbor_list_start(r, NGX_HTTP_HARBOR_LIST_REFERRERS,
                                    &rt->name, &rt->ref,
                                    NGX_HTTP_HARBOR_REFERRERS_READ,
                                    NGX_HTTP_HARBOR_REFERRERS,
                                    ngx_http_harbor_referrers_listed,
                                    ngx_http_harbor_referrers_send);
    if (rc != NGX_DECLINED) {
        return rc;
    }

    return ngx_http_harbor_error(r, NGX_HTTP_BAD_REQUEST,
                                 "PAGINATION_NUMBER_INVALID",
                                 "invalid number of results requested", NULL);
}


static void
ngx_http_harbor_referrers_listed(ngx_http_request_t *r,
    ngx_http_harbor_op_t *op)
{
    ngx_http_finalize_request(r, ngx_http_harbor_referrers_send(r, op));
}


static ngx_int_t
ngx_http_harbor_referrers_send(ngx_http_request_t *r,
    ngx_http_harbor_op_t *op)
{
    json_t                   *root, *list, *desc, *ann;
    ngx_int_t                 rc;
    ngx_str_t                 filter, body, *d, ct, *next;
    ngx_uint_t                i, n;
    hb_manifest_t             m;
    ngx_http_harbor_ctx_t    *ctx;
    ngx_http_harbor_page_t   *page;
    ngx_http_harbor_route_t  *rt;
    char                      err[128];

    ctx = ngx_http_get_module_ctx(r, ngx_http_harbor_module);
    rt = &ctx->route;
    page = ctx->page;

    if (op->rc != NGX_OK) {
        return ngx_http_harbor_op_error(r, op);
    }

    rc = ngx_http_harbor_arg(r, "artifactType", &filter);
    if (rc == NGX_ERROR) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (rc == NGX_DECLINED) {
        ngx_str_null(&filter);
    }

    root = json_pack("{s:i, s:s, s:[]}", "schemaVersion", 2,
                     "mediaType", HB_MT_OCI_INDEX_S, "manifests");
    if (root == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    list = json_object_get(root, "manifests");
    d = page->items.elts;
    n = ngx_min(page->items.nelts, page->n);
    next = (n && page->items.nelts > n) ? &d[n - 1] : NULL;

    /* the read stopped at its cap: the next page starts after it */

    if (page->nread < n) {
        n = page->nread;
        next = n ? &d[n - 1] : NULL;
    }

    for (i = 0; i < n; i++) {

        body = page->bodies[i];

        if (body.len == 0) {
            /* swept since it was listed, or larger than a manifest */
            continue;
        }

        if (hb_manifest_parse((char *) body.data, body.len, NULL, 0, &m, err,
                              sizeof(err))
            != 0)
        {
            hb_manifest_free(&m);
            continue;
        }

        if (filter.len
            && (m.artifact_type == NULL
                || ngx_strlen(m.artifact_type) != filter.len
                || ngx_strncmp(m.artifact_type, filter.data, filter.len) != 0))
        {
            hb_manifest_free(&m);
            continue;
        }

        desc = json_pack("{s:s, s:s%, s:I}", "mediaType", m.media_type,
                         "digest", d[i].data, d[i].len,
                         "size", (json_int_t) body.len);

        if (desc && m.artifact_type) {
            json_object_set_new(desc, "artifactType",
                                json_string(m.artifact_type));
        }

        if (desc && m.annotations) {
            ann = json_loads(m.annotations, 0, NULL);
            if (ann) {
                json_object_set_new(desc, "annotations", ann);
            }
        }

        hb_manifest_free(&m);

        if (desc == NULL || json_array_append_new(list, desc) != 0) {
            json_decref(root);
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }
    }

    if (filter.len) {
        ngx_str_set(&ct, "artifactType");
        if (ngx_http_harbor_add_header(r, "OCI-Filters-Applied", &ct)
            != NGX_OK)
        {
            json_decref(root);
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }
    }

    if (next && ngx_http_harbor_referrers_link(r, rt, page, next, &filter)
                != NGX_OK)
    {
        json_decref(root);
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_str_set(&ct, HB_MT_OCI_INDEX_S);

    return ngx_http_harbor_send_json(r, root, &ct);
}


/* Link: </v2/<name>/referrers/<digest>?n=..&last=..[&artifactType=..]> */

static ngx_int_t
ngx_http_harbor_referrers_link(ngx_http_request_t *r,
    ngx_http_harbor_route_t *rt, ngx_http_harbor_page_t *page,
    ngx_str_t *last, ngx_str_t *filter)
{
    u_char     *p;
    size_t      len;
    ngx_str_t   link;

    len = sizeof("</v2//referrers/?n=&last=&artifactType=>; rel=\"next\"")
          + rt->name.len + rt->ref.len + NGX_INT_T_LEN + last->len
          + filter->len + 2 * ngx_escape_uri(NULL, filter->data, filter->len,
                                             NGX_ESCAPE_ARGS);

    link.data = ngx_pnalloc(r->pool, len);
    if (link.data == NULL) {
        return NGX_ERROR;
    }

    p = ngx_sprintf(link.data, "</v2/%V/referrers/%V?n=%ui&last=%V",
                    &rt->name, &rt->ref, page->n, last);

    if (filter->len) {
        p = ngx_cpymem(p, "&artifactType=", sizeof("&artifactType=") - 1);
        p = (u_char *) ngx_escape_uri(p, filter->data, filter->len,
                                      NGX_ESCAPE_ARGS);
    }

    p = ngx_cpymem(p, ">; rel=\"next\"", sizeof(">; rel=\"next\"") - 1);
    link.len = p - link.data;

    return ngx_http_harbor_add_header(r, "Link", &link);
}


/* Send and free a JSON document. */

static ngx_int_t
ngx_http_harbor_send_json(ngx_http_request_t *r, json_t *root,
    ngx_str_t *content_type)
{
    char       *s;
    ngx_str_t   body;

    s = json_dumps(root, JSON_COMPACT);
    json_decref(root);

    if (s == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    body.len = ngx_strlen(s);
    body.data = ngx_pnalloc(r->pool, body.len);
    if (body.data == NULL) {
        free(s);
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_memcpy(body.data, s, body.len);
    free(s);

    return ngx_http_harbor_send(r, NGX_HTTP_OK, content_type, &body);
}
