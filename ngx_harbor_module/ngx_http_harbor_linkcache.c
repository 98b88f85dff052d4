
/*
 * ngx-harbor: an OCI registry inside nginx.
 * The link cache: what a tag or revision link of a repository held when
 * this worker last read it, so that a manifest GET by tag and a blob HEAD
 * or GET make no link syscall when nothing changed (docs/performance.md:
 * the two link reads were most of the gap to plain nginx).
 *
 * Never stale beyond what these rules allow:
 *
 *   - a generation counter in shared memory, bumped by every registry
 *     request of this nginx that is not a GET or HEAD, in its header
 *     filter (so before the client hears its change is done) and again
 *     in its log phase (a client gone before the answer).  An entry is
 *     good only with the generation read BEFORE the link was read from
 *     disk, so a write that lands during the read invalidates it too;
 *   - at most NGX_HTTP_HARBOR_LINKCACHE_AGE for changes nginx did not
 *     make: the collector's removal of a dangling layer link (its blob is
 *     gone already, so the answer is a 404 either way), another program
 *     writing the store.
 *
 * Only reads that may be served from it ask it (ngx_http_harbor_link_t's
 * "cached": the GET and HEAD of manifests and blobs); the delete fence,
 * immutable rules, mounts and pushes always read the disk.  Only what was
 * found is kept: an absent link is looked up every time.  Per worker, a
 * fixed table, each slot overwritten by the next key that hashes to it.
 */


#include "ngx_http_harbor_module.h"


#define NGX_HTTP_HARBOR_LINKCACHE_SLOTS  1024
#define NGX_HTTP_HARBOR_LINKCACHE_KEY    192
#define NGX_HTTP_HARBOR_LINKCACHE_AGE    1000      /* ms */


typedef struct {
    ngx_atomic_uint_t           gen;
    ngx_msec_t                  read;         /* when it was read */
    u_short                     key_len;
    u_char                      digest_len;   /* 0: only "it is there" */
    u_char                      key[NGX_HTTP_HARBOR_LINKCACHE_KEY];
    u_char                      digest[HB_DIGEST_MAX];
} ngx_http_harbor_linkcache_slot_t;


static ngx_int_t ngx_http_harbor_linkcache_init_zone(ngx_shm_zone_t *zone,
    void *data);
static ngx_int_t ngx_http_harbor_linkcache_key(ngx_http_harbor_link_t *l,
    u_char *key, size_t *len);


static ngx_str_t  ngx_http_harbor_linkcache_zone = ngx_string("harbor_links");

static ngx_atomic_t                      *ngx_http_harbor_linkgen;
static ngx_http_harbor_linkcache_slot_t  *ngx_http_harbor_linkcache;


/* the generation lives in a zone shared by every registry location */

ngx_int_t
ngx_http_harbor_linkcache_conf(ngx_conf_t *cf)
{
    ngx_shm_zone_t  *zone;

    zone = ngx_shared_memory_add(cf, &ngx_http_harbor_linkcache_zone,
                                 8 * ngx_pagesize, &ngx_http_harbor_module);
    if (zone == NULL) {
        return NGX_ERROR;
    }

    zone->init = ngx_http_harbor_linkcache_init_zone;

    return NGX_OK;
}


static ngx_int_t
ngx_http_harbor_linkcache_init_zone(ngx_shm_zone_t *zone, void *data)
{
    ngx_slab_pool_t  *shpool;
    ngx_atomic_t     *gen;

    if (data) {
        /* a reload keeps the counter */
        zone->data = data;
        ngx_http_harbor_linkgen = data;
        return NGX_OK;
    }

    shpool = (ngx_slab_pool_t *) zone->shm.addr;

    if (zone->shm.exists) {
        zone->data = shpool->data;
        ngx_http_harbor_linkgen = shpool->data;
        return NGX_OK;
    }

    gen = ngx_slab_alloc(shpool, sizeof(ngx_atomic_t));
    if (gen == NULL) {
        return NGX_ERROR;
    }

    *gen = 1;

    shpool->data = (void *) gen;
    zone->data = (void *) gen;
    ngx_http_harbor_linkgen = gen;

    return NGX_OK;
}


/*
 * NGX_OK: found, with *digest (when asked) copied into the request's
 * pool; NGX_DECLINED: read the disk, and give *gen to _put() after.
 */

ngx_int_t
ngx_http_harbor_linkcache_get(ngx_http_request_t *r,
    ngx_http_harbor_link_t *l, ngx_str_t *digest, ngx_atomic_uint_t *gen)
{
    size_t                             len;
    u_char                             key[NGX_HTTP_HARBOR_LINKCACHE_KEY];
    ngx_http_harbor_linkcache_slot_t  *s;

    if (ngx_http_harbor_linkgen == NULL) {
        return NGX_DECLINED;
    }

    *gen = *ngx_http_harbor_linkgen;

    if (ngx_http_harbor_linkcache == NULL
        || ngx_http_harbor_linkcache_key(l, key, &len) != NGX_OK)
    {
        return NGX_DECLINED;
    }

    s = &ngx_http_harbor_linkcache[ngx_crc32_short(key, len)
                                   % NGX_HTTP_HARBOR_LINKCACHE_SLOTS];

    if (s->gen != *gen
        || ngx_current_msec - s->read >= NGX_HTTP_HARBOR_LINKCACHE_AGE
        || s->key_len != len
        || ngx_memcmp(s->key, key, len) != 0
        || (digest && s->digest_len == 0))
    {
        return NGX_DECLINED;
    }

    if (digest) {
        digest->data = ngx_pnalloc(r->pool, s->digest_len);
        if (digest->data == NULL) {
            return NGX_DECLINED;
        }

        digest->len = s->digest_len;
        ngx_memcpy(digest->data, s->digest, s->digest_len);
    }

    return NGX_OK;
}


/* a link just found on disk, read under generation gen */

void
ngx_http_harbor_linkcache_put(ngx_http_request_t *r,
    ngx_http_harbor_link_t *l, ngx_str_t *digest, ngx_atomic_uint_t gen)
{
    size_t                             len;
    u_char                             key[NGX_HTTP_HARBOR_LINKCACHE_KEY];
    ngx_http_harbor_linkcache_slot_t  *s;

    if (ngx_http_harbor_linkgen == NULL
        || (digest && digest->len > HB_DIGEST_MAX)
        || ngx_http_harbor_linkcache_key(l, key, &len) != NGX_OK)
    {
        return;
    }

    if (ngx_http_harbor_linkcache == NULL) {
        /* the worker's first: a table for the worker's life */
        ngx_http_harbor_linkcache = ngx_pcalloc(ngx_cycle->pool,
                                        NGX_HTTP_HARBOR_LINKCACHE_SLOTS
                                        * sizeof(*ngx_http_harbor_linkcache));
        if (ngx_http_harbor_linkcache == NULL) {
            return;
        }
    }

    s = &ngx_http_harbor_linkcache[ngx_crc32_short(key, len)
                                   % NGX_HTTP_HARBOR_LINKCACHE_SLOTS];

    s->gen = gen;
    s->read = ngx_current_msec;
    s->key_len = (u_short) len;
    ngx_memcpy(s->key, key, len);

    if (digest) {
        s->digest_len = (u_char) digest->len;
        ngx_memcpy(s->digest, digest->data, digest->len);

    } else {
        s->digest_len = 0;
    }
}


/*
 * A request that may have changed links: every cached link of every
 * worker is read again.
 */

void
ngx_http_harbor_linkcache_bump(ngx_http_request_t *r)
{
    if (ngx_http_harbor_linkgen != NULL
        && !(r->method & (NGX_HTTP_GET | NGX_HTTP_HEAD)))
    {
        (void) ngx_atomic_fetch_add(ngx_http_harbor_linkgen, 1);
    }
}


/* kind, repository, NUL, key: too long ones are not cached */

static ngx_int_t
ngx_http_harbor_linkcache_key(ngx_http_harbor_link_t *l, u_char *key,
    size_t *len)
{
    u_char  *p;

    if (l->key2.len != 0
        || 2 + l->name.len + l->key.len > NGX_HTTP_HARBOR_LINKCACHE_KEY)
    {
        return NGX_DECLINED;
    }

    p = key;
    *p++ = (u_char) l->kind;
    p = ngx_cpymem(p, l->name.data, l->name.len);
    *p++ = '\0';
    p = ngx_cpymem(p, l->key.data, l->key.len);

    *len = p - key;

    return NGX_OK;
}


/* the log phase: a registry request whose client left before its answer */

ngx_int_t
ngx_http_harbor_linkcache_log(ngx_http_request_t *r)
{
    if (ngx_http_get_module_ctx(r, ngx_http_harbor_module) != NULL) {
        ngx_http_harbor_linkcache_bump(r);
    }

    return NGX_OK;
}
