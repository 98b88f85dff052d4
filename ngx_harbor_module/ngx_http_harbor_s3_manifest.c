
/*
 * ngx-harbor: an OCI registry inside nginx.
 * The S3 backend, manifest PUT (by tag and by digest).
 *
 * The body is read and its digest checked by ngx_http_harbor_manifest.c
 * as on the filesystem; what is the store's runs in two tasks of the
 * thread pool:
 *
 *   check  every blob and child manifest it references is linked in the
 *          repository and stored (distribution's keys); with a tag, the
 *          tag's current manifest and, if the tag would move, the
 *          project's immutable tag rules (_policies/immutable/<project>
 *          under the bucket's root, as on the filesystem); the rules are
 *          applied back on the event loop
 *   store  the manifest's bytes under blobs/<alg>/<xx>/<hex>/data, its
 *          revision link, with a tag the tag's index entry, its current
 *          link and the revision link again (the order of the
 *          filesystem's commit), with a subject its referrers entry
 *
 * The 201, and the journal's push event, come once every write is
 * acknowledged by the store.
 */


#include "ngx_http_harbor_s3.h"
#include "harbor_policy.h"


typedef struct {
    ngx_http_harbor_task_t      task;        /* first */
    ngx_http_harbor_s3_conf_t  *conf;
    ngx_uint_t                  store;       /* 0: the check */

    /* pool copies, NUL-terminated; read only in the thread */
    ngx_str_t                   name;
    ngx_str_t                   tag;         /* len 0: by digest */
    ngx_str_t                   digest;
    ngx_str_t                   subject;     /* len 0: none */
    ngx_str_t                   body;
    ngx_str_t                  *refs;        /* what it references */
    ngx_uint_t                 *kinds;       /* HB_LINK_LAYER, _REVISION */
    ngx_uint_t                  nrefs;
    const char                 *media_type;

    /* the result */
    ngx_int_t                   rc;          /* OK, DECLINED: missing */
    ngx_uint_t                  status;
    ngx_str_t                   missing;     /* one of refs */
    ngx_uint_t                  moves;       /* the tag is elsewhere now */
    ngx_http_harbor_s3_buf_t    rules;       /* malloc()ed */
    u_char                      why[NGX_MAX_PATH];
} ngx_http_harbor_s3_mf_t;


static ngx_int_t ngx_http_harbor_s3_mf_run(ngx_http_request_t *r,
    ngx_http_harbor_s3_mf_t *mf);
static void ngx_http_harbor_s3_mf_done(ngx_http_harbor_task_t *t,
    ngx_int_t rc);
static ngx_int_t ngx_http_harbor_s3_mf_answer(ngx_http_request_t *r,
    ngx_http_harbor_s3_mf_t *mf);
static void ngx_http_harbor_s3_mf_work(ngx_http_harbor_task_t *t);
static ngx_int_t ngx_http_harbor_s3_mf_check(ngx_http_harbor_s3_mf_t *mf);
static ngx_int_t ngx_http_harbor_s3_mf_store(ngx_http_harbor_s3_mf_t *mf);
static ngx_int_t ngx_http_harbor_s3_mf_link(ngx_http_harbor_s3_mf_t *mf,
    int kind, ngx_str_t *key, ngx_str_t *key2, char *out, size_t len);
static long ngx_http_harbor_s3_mf_call(ngx_http_harbor_s3_mf_t *mf,
    const char *method, const char *key, ngx_str_t *body,
    ngx_http_harbor_s3_buf_t *out);
static ngx_int_t ngx_http_harbor_s3_mf_fail(ngx_http_harbor_s3_mf_t *mf,
    long status, const char *key);
static ngx_int_t ngx_http_harbor_s3_str(ngx_pool_t *pool, ngx_str_t *dst,
    u_char *src, size_t len);


/*
 * A verified manifest (body, digest) for rt: what a content handler
 * returns, or NGX_DONE while the tasks run (the answer comes then).
 */

ngx_int_t
ngx_http_harbor_s3_manifest_store(ngx_http_request_t *r,
    ngx_http_harbor_route_t *rt, ngx_str_t *body, ngx_str_t *digest)
{
    size_t                    i;
    ngx_int_t                 answer;
    hb_manifest_t             m;
    ngx_pool_t               *pool;
    ngx_http_harbor_ctx_t    *ctx;
    ngx_http_harbor_s3_mf_t  *mf;

    ctx = ngx_http_get_module_ctx(r, ngx_http_harbor_module);
    pool = r->pool;

    if (ngx_http_harbor_manifest_parse(r, body, &m, &answer) != NGX_OK) {
        return answer;
    }

    mf = (ngx_http_harbor_s3_mf_t *)
         ngx_http_harbor_task_alloc(r, sizeof(ngx_http_harbor_s3_mf_t));
    if (mf == NULL) {
        goto failed;
    }

    mf->conf = ngx_http_get_module_loc_conf(r, ngx_http_harbor_s3_module);
    mf->media_type = m.media_type;
    mf->body = *body;

    if (ngx_http_harbor_s3_str(pool, &mf->name, rt->name.data, rt->name.len)
        != NGX_OK
        || ngx_http_harbor_s3_str(pool, &mf->digest, digest->data,
                                  digest->len) != NGX_OK
        || (rt->alg == HB_DIGEST_NONE
            && ngx_http_harbor_s3_str(pool, &mf->tag, rt->ref.data,
                                      rt->ref.len) != NGX_OK)
        || (m.subject.digest[0]
            && ngx_http_harbor_s3_str(pool, &mf->subject,
                                      (u_char *) m.subject.digest,
                                      ngx_strlen(m.subject.digest))
               != NGX_OK))
    {
        goto failed;
    }

    /* everything it references must be here first */

    mf->refs = ngx_palloc(pool, (m.nblobs + m.nmanifests + 1)
                                * sizeof(ngx_str_t));
    mf->kinds = ngx_palloc(pool, (m.nblobs + m.nmanifests + 1)
                                 * sizeof(ngx_uint_t));
    if (mf->refs == NULL || mf->kinds == NULL) {
        goto failed;
    }

    if (m.config.digest[0]) {
        mf->kinds[mf->nrefs] = HB_LINK_LAYER;
        if (ngx_http_harbor_s3_str(pool, &mf->refs[mf->nrefs++],
                                   (u_char *) m.config.digest,
                                   ngx_strlen(m.config.digest))
            != NGX_OK)
        {
            goto failed;
        }
    }

    for (i = 0; i < m.nblobs; i++) {
        if (m.blobs[i].has_urls) {
            continue;       /* a foreign layer lives elsewhere */
        }

        mf->kinds[mf->nrefs] = HB_LINK_LAYER;
        if (ngx_http_harbor_s3_str(pool, &mf->refs[mf->nrefs++],
                                   (u_char *) m.blobs[i].digest,
                                   ngx_strlen(m.blobs[i].digest))
            != NGX_OK)
        {
            goto failed;
        }
    }

    for (i = 0; i < m.nmanifests; i++) {
        mf->kinds[mf->nrefs] = HB_LINK_REVISION;
        if (ngx_http_harbor_s3_str(pool, &mf->refs[mf->nrefs++],
                                   (u_char *) m.manifests[i].digest,
                                   ngx_strlen(m.manifests[i].digest))
            != NGX_OK)
        {
            goto failed;
        }
    }

    hb_manifest_free(&m);

    ctx->op.backend = mf;

    return ngx_http_harbor_s3_mf_run(r, mf);

failed:

    hb_manifest_free(&m);

    return NGX_HTTP_INTERNAL_SERVER_ERROR;
}


static ngx_int_t
ngx_http_harbor_s3_str(ngx_pool_t *pool, ngx_str_t *dst, u_char *src,
    size_t len)
{
    dst->data = ngx_pnalloc(pool, len + 1);
    if (dst->data == NULL) {
        return NGX_ERROR;
    }

    ngx_memcpy(dst->data, src, len);
    dst->data[len] = '\0';
    dst->len = len;

    return NGX_OK;
}


/* a task; the request is kept by the body's reading (manifest.c) */

static ngx_int_t
ngx_http_harbor_s3_mf_run(ngx_http_request_t *r, ngx_http_harbor_s3_mf_t *mf)
{
    ngx_int_t  rc;

    mf->rc = NGX_OK;

    rc = ngx_http_harbor_task(r, &mf->task, ngx_http_harbor_s3_mf_work,
                              ngx_http_harbor_s3_mf_done);

    if (rc == NGX_AGAIN) {
        return NGX_DONE;
    }

    if (rc == NGX_ERROR) {
        return ngx_http_harbor_error(r, NGX_HTTP_SERVICE_UNAVAILABLE,
                                     "UNAVAILABLE", "the registry is busy, "
                                     "try again later", NULL);
    }

    /* no thread pool (nginx without threads): done inline */

    return ngx_http_harbor_s3_mf_answer(r, mf);
}


static void
ngx_http_harbor_s3_mf_done(ngx_http_harbor_task_t *t, ngx_int_t rc)
{
    ngx_http_harbor_s3_mf_t *mf = (ngx_http_harbor_s3_mf_t *) t;

    rc = ngx_http_harbor_s3_mf_answer(t->r, mf);

    if (rc != NGX_DONE) {
        ngx_http_finalize_request(t->r, rc);
    }
}


/* back on the event loop: the rules, the store task, or the answer */

static ngx_int_t
ngx_http_harbor_s3_mf_answer(ngx_http_request_t *r,
    ngx_http_harbor_s3_mf_t *mf)
{
    ngx_int_t               rc;
    ngx_str_t               rules;
    ngx_http_harbor_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_harbor_module);

    if (mf->rc == NGX_ERROR) {
        if (mf->rules.data) {
            free(mf->rules.data);
            mf->rules.data = NULL;
        }

        return ngx_http_harbor_s3_error(r, mf->status, "manifest", mf->why);
    }

    if (!mf->store) {

        if (mf->rc == NGX_DECLINED) {
            free(mf->rules.data);
            mf->rules.data = NULL;

            return ngx_http_harbor_blob_unknown(r, &mf->missing);
        }

        /* a tag that moves: not if an immutable tag rule protects it */

        if (mf->moves && mf->rules.data) {
            rules.len = mf->rules.len;
            rules.data = ngx_pnalloc(r->pool, rules.len + 1);

            if (rules.data) {
                ngx_memcpy(rules.data, mf->rules.data, rules.len);
                rules.data[rules.len] = '\0';
            }

            free(mf->rules.data);
            mf->rules.data = NULL;

            if (rules.data == NULL) {
                return NGX_HTTP_INTERNAL_SERVER_ERROR;
            }

            rc = ngx_http_harbor_immutable(r, &mf->name, &rules, &mf->tag);

            if (rc == NGX_OK) {
                return ngx_http_harbor_immutable_error(r, &mf->name,
                                                       &mf->tag);
            }

            if (rc == NGX_ERROR) {
                return NGX_HTTP_INTERNAL_SERVER_ERROR;
            }
        }

        mf->store = 1;

        return ngx_http_harbor_s3_mf_run(r, mf);
    }

    /* stored: the answer */

    ngx_http_harbor_journal(r, "push", &mf->name, &mf->digest,
                            mf->tag.len ? &mf->tag : NULL, mf->media_type,
                            ctx->received);

    if ((mf->subject.len
         && ngx_http_harbor_add_header(r, "OCI-Subject", &mf->subject)
            != NGX_OK)
        || ngx_http_harbor_set_location(r, &mf->name, "manifests",
                                        &mf->digest)
           != NGX_OK
        || ngx_http_harbor_add_header(r, "Docker-Content-Digest",
                                      &mf->digest)
           != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_http_harbor_send(r, NGX_HTTP_CREATED, NULL, NULL);
}


/* In the thread pool from here on: no nginx allocation, no logging. */

static void
ngx_http_harbor_s3_mf_work(ngx_http_harbor_task_t *t)
{
    ngx_http_harbor_s3_mf_t *mf = (ngx_http_harbor_s3_mf_t *) t;

    mf->rc = mf->store ? ngx_http_harbor_s3_mf_store(mf)
                       : ngx_http_harbor_s3_mf_check(mf);
}


static ngx_int_t
ngx_http_harbor_s3_mf_check(ngx_http_harbor_s3_mf_t *mf)
{
    int                       n;
    long                      status;
    u_char                   *slash;
    size_t                    rlen;
    ngx_uint_t                i;
    ngx_http_harbor_s3_buf_t  buf;
    char                      key[NGX_HTTP_HARBOR_S3_KEY_MAX];
    char                      root[NGX_HTTP_HARBOR_S3_KEY_MAX];

    for (i = 0; i < mf->nrefs; i++) {

        /* linked here */

        if (ngx_http_harbor_s3_mf_link(mf, mf->kinds[i], &mf->refs[i], NULL,
                                       key, sizeof(key))
            != NGX_OK)
        {
            mf->missing = mf->refs[i];
            return NGX_DECLINED;
        }

        status = ngx_http_harbor_s3_mf_call(mf, "HEAD", key, NULL, NULL);

        if (status == 200) {
            /* and stored */

            n = ngx_sprintf((u_char *) key, "%s", mf->conf->prefix)
                - (u_char *) key;

            if (hb_layout_blob_data(key + n, sizeof(key) - n,
                                    (char *) mf->conf->v2.data,
                                    mf->conf->v2.len,
                                    (char *) mf->refs[i].data,
                                    mf->refs[i].len) < 0)
            {
                mf->missing = mf->refs[i];
                return NGX_DECLINED;
            }

            status = ngx_http_harbor_s3_mf_call(mf, "HEAD", key, NULL, NULL);
        }

        if (status == 404) {
            mf->missing = mf->refs[i];
            return NGX_DECLINED;
        }

        if (status != 200) {
            return ngx_http_harbor_s3_mf_fail(mf, status, key);
        }
    }

    if (mf->tag.len == 0) {
        return NGX_OK;
    }

    /* the tag now: a move is checked against the rules */

    if (ngx_http_harbor_s3_mf_link(mf, HB_LINK_TAG, &mf->tag, NULL, key,
                                   sizeof(key))
        != NGX_OK)
    {
        return ngx_http_harbor_s3_mf_fail(mf, 0, "(a tag's key)");
    }

    ngx_memzero(&buf, sizeof(ngx_http_harbor_s3_buf_t));
    buf.max = HB_DIGEST_MAX + 16;

    status = ngx_http_harbor_s3_mf_call(mf, "GET", key, NULL, &buf);

    if (status == 404) {
        free(buf.data);
        return NGX_OK;
    }

    if (status != 200) {
        free(buf.data);
        return ngx_http_harbor_s3_mf_fail(mf, status, key);
    }

    mf->moves = (buf.len != mf->digest.len
                 || ngx_memcmp(buf.data, mf->digest.data, buf.len) != 0);
    free(buf.data);

    slash = ngx_strlchr(mf->name.data, mf->name.data + mf->name.len, '/');

    if (!mf->moves || slash == NULL) {
        return NGX_OK;          /* no project, no rules */
    }

    /* the bucket's root: the key prefix before docker/registry/v2 */

    rlen = ngx_strlen(mf->conf->prefix) + mf->conf->v2.len
           - (sizeof(HB_LAYOUT_V2) - 1);
    n = ngx_sprintf((u_char *) key, "%s%V", mf->conf->prefix,
                    &mf->conf->v2) - (u_char *) key;

    if (rlen >= sizeof(root) || (size_t) n < rlen) {
        return ngx_http_harbor_s3_mf_fail(mf, 0, "(the rules' key)");
    }

    ngx_memcpy(root, key, rlen);
    root[rlen] = '\0';

    if (hb_policy_immutable_path(key, sizeof(key), root, rlen,
                                 (char *) mf->name.data,
                                 slash - mf->name.data) < 0)
    {
        return ngx_http_harbor_s3_mf_fail(mf, 0, "(the rules' key)");
    }

    mf->rules.max = HB_POLICY_MAX;

    status = ngx_http_harbor_s3_mf_call(mf, "GET", key, NULL, &mf->rules);

    if (status == 404) {
        free(mf->rules.data);
        mf->rules.data = NULL;
        return NGX_OK;
    }

    if (status != 200 || mf->rules.too_large || mf->rules.data == NULL) {
        free(mf->rules.data);
        mf->rules.data = NULL;
        return ngx_http_harbor_s3_mf_fail(mf, status == 200 ? 0 : status,
                                          key);
    }

    return NGX_OK;
}


static ngx_int_t
ngx_http_harbor_s3_mf_store(ngx_http_harbor_s3_mf_t *mf)
{
    int         n;
    long        status;
    ngx_uint_t  i, nlinks;
    char        key[NGX_HTTP_HARBOR_S3_KEY_MAX];

    struct {
        int         kind;
        ngx_str_t  *key;
        ngx_str_t  *key2;
    } links[5];

    /* the bytes under their (checked) digest */

    n = ngx_sprintf((u_char *) key, "%s", mf->conf->prefix) - (u_char *) key;

    if (hb_layout_blob_data(key + n, sizeof(key) - n,
                            (char *) mf->conf->v2.data, mf->conf->v2.len,
                            (char *) mf->digest.data, mf->digest.len) < 0)
    {
        return ngx_http_harbor_s3_mf_fail(mf, 0, "(a blob's key)");
    }

    status = ngx_http_harbor_s3_mf_call(mf, "PUT", key, &mf->body, NULL);
    if (status != 200) {
        return ngx_http_harbor_s3_mf_fail(mf, status, key);
    }

    /*
     * The revision, and with a tag the revision again after the tag, as
     * the filesystem's commit writes them.
     */

    nlinks = 0;
    links[nlinks].kind = HB_LINK_REVISION;
    links[nlinks].key = &mf->digest;
    links[nlinks++].key2 = NULL;

    if (mf->tag.len) {
        links[nlinks].kind = HB_LINK_TAG_INDEX;
        links[nlinks].key = &mf->tag;
        links[nlinks++].key2 = &mf->digest;
        links[nlinks].kind = HB_LINK_TAG;
        links[nlinks].key = &mf->tag;
        links[nlinks++].key2 = NULL;
        links[nlinks].kind = HB_LINK_REVISION;
        links[nlinks].key = &mf->digest;
        links[nlinks++].key2 = NULL;
    }

    if (mf->subject.len) {
        links[nlinks].kind = HB_LINK_REFERRER;
        links[nlinks].key = &mf->subject;
        links[nlinks++].key2 = &mf->digest;
    }

    for (i = 0; i < nlinks; i++) {
        if (ngx_http_harbor_s3_mf_link(mf, links[i].kind, links[i].key,
                                       links[i].key2, key, sizeof(key))
            != NGX_OK)
        {
            return ngx_http_harbor_s3_mf_fail(mf, 0, "(a link's key)");
        }

        status = ngx_http_harbor_s3_mf_call(mf, "PUT", key, &mf->digest,
                                            NULL);
        if (status != 200) {
            return ngx_http_harbor_s3_mf_fail(mf, status, key);
        }
    }

    return NGX_OK;
}


static ngx_int_t
ngx_http_harbor_s3_mf_link(ngx_http_harbor_s3_mf_t *mf, int kind,
    ngx_str_t *key, ngx_str_t *key2, char *out, size_t len)
{
    int  n;

    n = ngx_sprintf((u_char *) out, "%s", mf->conf->prefix) - (u_char *) out;

    return hb_layout_link(out + n, len - n, (char *) mf->conf->v2.data,
                          mf->conf->v2.len, (char *) mf->name.data,
                          mf->name.len, kind, (char *) key->data, key->len,
                          key2 ? (char *) key2->data : NULL,
                          key2 ? key2->len : 0, NULL) < 0
           ? NGX_ERROR : NGX_OK;
}


static long
ngx_http_harbor_s3_mf_call(ngx_http_harbor_s3_mf_t *mf, const char *method,
    const char *key, ngx_str_t *body, ngx_http_harbor_s3_buf_t *out)
{
    ngx_http_harbor_s3_call_t  q;

    ngx_memzero(&q, sizeof(ngx_http_harbor_s3_call_t));
    q.method = method;
    q.key = key;
    q.fd = NGX_INVALID_FILE;
    q.out = out;

    if (body) {
        q.mem = body->data;
        q.mem_len = body->len;
    }

    return ngx_http_harbor_s3_call(mf->conf, &q);
}


static ngx_int_t
ngx_http_harbor_s3_mf_fail(ngx_http_harbor_s3_mf_t *mf, long status,
    const char *key)
{
    return ngx_http_harbor_s3_failure(&mf->status, mf->why, sizeof(mf->why),
                                      status, key);
}
