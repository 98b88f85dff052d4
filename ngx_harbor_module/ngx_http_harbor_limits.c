
/*
 * ngx-harbor: an OCI registry inside nginx.
 * Limits on open upload sessions, per user and in total.
 *
 * An upload session costs inodes until it is committed, cancelled, or
 * purged by the garbage collector a day later.  The counts live in a
 * shared memory zone that every worker sees, per user (the token's
 * subject) and in total, in hourly buckets over the last day: a session
 * that is abandoned stops counting when the purge takes it.  A session's
 * hour is in its id (a UUIDv7 holds its creation time), so ending one
 * needs no lookup.  The counts start empty when nginx starts; sessions
 * opened before do not count.  Nothing here asks authd or the database.
 */


#include "ngx_http_harbor_module.h"


#define NGX_HTTP_HARBOR_HOURS       24
#define NGX_HTTP_HARBOR_ZONE_SIZE   (4 * 1024 * 1024)


typedef struct {
    time_t                      hour;        /* the newest bucket's */
    ngx_uint_t                  count[NGX_HTTP_HARBOR_HOURS];
} ngx_http_harbor_buckets_t;


typedef struct {
    ngx_str_node_t              sn;          /* the user's name */
    ngx_http_harbor_buckets_t   sessions;
    u_char                      data[1];
} ngx_http_harbor_user_t;


typedef struct {
    ngx_rbtree_t                rbtree;
    ngx_rbtree_node_t           sentinel;
    ngx_http_harbor_buckets_t   sessions;    /* everyone's */
} ngx_http_harbor_limits_sh_t;


static ngx_int_t ngx_http_harbor_limits_init_zone(ngx_shm_zone_t *shm_zone,
    void *data);
static ngx_http_harbor_limits_sh_t *ngx_http_harbor_limits_get(
    ngx_http_request_t *r, ngx_slab_pool_t **shpool);
static ngx_uint_t ngx_http_harbor_buckets_sum(ngx_http_harbor_buckets_t *b,
    time_t hour);
static void ngx_http_harbor_buckets_less(ngx_http_harbor_buckets_t *b,
    time_t now, time_t hour);
static ngx_http_harbor_user_t *ngx_http_harbor_user_get(
    ngx_slab_pool_t *shpool, ngx_http_harbor_limits_sh_t *sh, ngx_str_t *name,
    time_t hour, ngx_uint_t create);
static void ngx_http_harbor_users_prune(ngx_slab_pool_t *shpool,
    ngx_http_harbor_limits_sh_t *sh, time_t hour);


static ngx_str_t  ngx_http_harbor_limits_zone = ngx_string("harbor_limits");


/* the zone is shared by every registry location, made at config time */

ngx_int_t
ngx_http_harbor_limits_conf(ngx_conf_t *cf, ngx_http_harbor_loc_conf_t *conf)
{
    ngx_shm_zone_t  *shm_zone;

    shm_zone = ngx_shared_memory_add(cf, &ngx_http_harbor_limits_zone,
                                     NGX_HTTP_HARBOR_ZONE_SIZE,
                                     &ngx_http_harbor_module);
    if (shm_zone == NULL) {
        return NGX_ERROR;
    }

    shm_zone->init = ngx_http_harbor_limits_init_zone;
    conf->limits = shm_zone;

    return NGX_OK;
}


static ngx_int_t
ngx_http_harbor_limits_init_zone(ngx_shm_zone_t *shm_zone, void *data)
{
    ngx_slab_pool_t              *shpool;
    ngx_http_harbor_limits_sh_t  *sh;

    if (data) {
        /* a reload keeps the counts */
        shm_zone->data = data;
        return NGX_OK;
    }

    shpool = (ngx_slab_pool_t *) shm_zone->shm.addr;

    if (shm_zone->shm.exists) {
        shm_zone->data = shpool->data;
        return NGX_OK;
    }

    sh = ngx_slab_alloc(shpool, sizeof(ngx_http_harbor_limits_sh_t));
    if (sh == NULL) {
        return NGX_ERROR;
    }

    ngx_memzero(sh, sizeof(ngx_http_harbor_limits_sh_t));
    ngx_rbtree_init(&sh->rbtree, &sh->sentinel, ngx_str_rbtree_insert_value);

    shpool->data = sh;
    shm_zone->data = sh;

    return NGX_OK;
}


/*
 * A new upload session of this request's user: NGX_OK and counted, or
 * NGX_DECLINED with the reason in ctx->fail_message (a limit is reached),
 * or NGX_ERROR.
 */

ngx_int_t
ngx_http_harbor_sessions_begin(ngx_http_request_t *r)
{
    u_char                       *p;
    time_t                        hour;
    ngx_uint_t                    total, mine;
    ngx_slab_pool_t              *shpool;
    ngx_http_harbor_ctx_t        *ctx;
    ngx_http_harbor_user_t       *u;
    ngx_http_harbor_loc_conf_t   *hlcf;
    ngx_http_harbor_limits_sh_t  *sh;

    sh = ngx_http_harbor_limits_get(r, &shpool);
    if (sh == NULL) {
        return NGX_OK;
    }

    hlcf = ngx_http_get_module_loc_conf(r, ngx_http_harbor_module);
    ctx = ngx_http_get_module_ctx(r, ngx_http_harbor_module);

    hour = ngx_time() / 3600;
    u = NULL;
    mine = 0;

    ngx_shmtx_lock(&shpool->mutex);

    total = ngx_http_harbor_buckets_sum(&sh->sessions, hour);

    if (hlcf->sessions && total >= hlcf->sessions) {
        ngx_shmtx_unlock(&shpool->mutex);

        ngx_log_error(NGX_LOG_WARN, r->connection->log, 0,
                      "harbor: %ui upload sessions are open, the limit of "
                      "harbor_upload_sessions", total);

        ctx->fail_message = "too many upload sessions are open on this "
                            "registry: retry later";
        return NGX_DECLINED;
    }

    if (hlcf->sessions_per_user && ctx->user.len) {
        u = ngx_http_harbor_user_get(shpool, sh, &ctx->user, hour, 1);

        if (u == NULL) {
            ngx_shmtx_unlock(&shpool->mutex);

            ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                          "harbor: no room for user \"%V\" in the "
                          "\"%V\" zone", &ctx->user,
                          &ngx_http_harbor_limits_zone);

            ctx->fail_message = "too many users have upload sessions open: "
                                "retry later";
            return NGX_DECLINED;
        }

        mine = ngx_http_harbor_buckets_sum(&u->sessions, hour);

        if (mine >= hlcf->sessions_per_user) {
            ngx_shmtx_unlock(&shpool->mutex);

            ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                          "harbor: user \"%V\" has %ui upload sessions open, "
                          "the limit of harbor_upload_sessions_per_user",
                          &ctx->user, mine);

            p = ngx_pnalloc(r->pool, 160);
            if (p == NULL) {
                return NGX_ERROR;
            }

            ngx_sprintf(p, "%ui upload sessions are open for this user, the "
                        "most allowed: finish or cancel some, or retry "
                        "later%Z", mine);

            ctx->fail_message = (char *) p;
            return NGX_DECLINED;
        }

        u->sessions.count[hour % NGX_HTTP_HARBOR_HOURS]++;
    }

    sh->sessions.count[hour % NGX_HTTP_HARBOR_HOURS]++;

    ngx_shmtx_unlock(&shpool->mutex);

    return NGX_OK;
}


/*
 * An upload session ended (committed, cancelled, failed its digest): it
 * no longer counts.  The hour it was opened is in its UUIDv7; ids of
 * another kind were not counted.  With uuid NULL: the session counted by
 * sessions_begin() of this request was never made.
 */

void
ngx_http_harbor_sessions_end(ngx_http_request_t *r, ngx_str_t *uuid)
{
    u_char                       *p;
    time_t                        now, hour;
    uint64_t                      ms;
    ngx_int_t                     n;
    ngx_uint_t                    i;
    ngx_slab_pool_t              *shpool;
    ngx_http_harbor_ctx_t        *ctx;
    ngx_http_harbor_user_t       *u;
    ngx_http_harbor_limits_sh_t  *sh;

    sh = ngx_http_harbor_limits_get(r, &shpool);
    ctx = ngx_http_get_module_ctx(r, ngx_http_harbor_module);

    if (sh == NULL || ctx == NULL) {
        return;
    }

    now = ngx_time() / 3600;
    hour = now;

    if (uuid) {
        /* xxxxxxxx-xxxx-7xxx-: 48 bits of milliseconds, then version 7 */

        if (uuid->len != HB_UUID_LEN || uuid->data[14] != '7') {
            return;
        }

        ms = 0;
        p = uuid->data;

        for (i = 0; i < 13; i++) {
            if (i == 8) {
                continue;
            }

            n = ngx_hextoi(&p[i], 1);
            if (n == NGX_ERROR) {
                return;
            }

            ms = (ms << 4) | (uint64_t) n;
        }

        hour = (time_t) (ms / 1000 / 3600);
    }

    ngx_shmtx_lock(&shpool->mutex);

    ngx_http_harbor_buckets_less(&sh->sessions, now, hour);

    if (ctx->user.len) {
        u = ngx_http_harbor_user_get(shpool, sh, &ctx->user, now, 0);

        if (u) {
            ngx_http_harbor_buckets_less(&u->sessions, now, hour);

            if (ngx_http_harbor_buckets_sum(&u->sessions, now) == 0) {
                ngx_rbtree_delete(&sh->rbtree, &u->sn.node);
                ngx_slab_free_locked(shpool, u);
            }
        }
    }

    ngx_shmtx_unlock(&shpool->mutex);
}


/* The counts of the location's zone, if it has one. */

static ngx_http_harbor_limits_sh_t *
ngx_http_harbor_limits_get(ngx_http_request_t *r, ngx_slab_pool_t **shpool)
{
    ngx_http_harbor_loc_conf_t  *hlcf;

    hlcf = ngx_http_get_module_loc_conf(r, ngx_http_harbor_module);

    if (hlcf->limits == NULL) {
        return NULL;
    }

    *shpool = (ngx_slab_pool_t *) hlcf->limits->shm.addr;

    return hlcf->limits->data;
}


/* Sessions counted over the last day, the buckets moved on to hour. */

static ngx_uint_t
ngx_http_harbor_buckets_sum(ngx_http_harbor_buckets_t *b, time_t hour)
{
    time_t      h;
    ngx_uint_t  i, sum;

    if (hour - b->hour >= NGX_HTTP_HARBOR_HOURS) {
        ngx_memzero(b->count, sizeof(b->count));
        b->hour = hour;

    } else if (hour > b->hour) {
        for (h = b->hour + 1; h <= hour; h++) {
            b->count[h % NGX_HTTP_HARBOR_HOURS] = 0;
        }

        b->hour = hour;
    }

    sum = 0;

    for (i = 0; i < NGX_HTTP_HARBOR_HOURS; i++) {
        sum += b->count[i];
    }

    return sum;
}


/* One session of that hour less, if it still counts. */

static void
ngx_http_harbor_buckets_less(ngx_http_harbor_buckets_t *b, time_t now,
    time_t hour)
{
    ngx_uint_t  *c;

    (void) ngx_http_harbor_buckets_sum(b, now);

    if (hour > b->hour || b->hour - hour >= NGX_HTTP_HARBOR_HOURS) {
        return;
    }

    c = &b->count[hour % NGX_HTTP_HARBOR_HOURS];

    if (*c) {
        (*c)--;
    }
}


static ngx_http_harbor_user_t *
ngx_http_harbor_user_get(ngx_slab_pool_t *shpool,
    ngx_http_harbor_limits_sh_t *sh, ngx_str_t *name, time_t hour,
    ngx_uint_t create)
{
    size_t                   size;
    uint32_t                 hash;
    ngx_http_harbor_user_t  *u;

    hash = ngx_crc32_short(name->data, name->len);

    u = (ngx_http_harbor_user_t *)
            ngx_str_rbtree_lookup(&sh->rbtree, name, hash);

    if (u || !create) {
        return u;
    }

    size = offsetof(ngx_http_harbor_user_t, data) + name->len;

    u = ngx_slab_alloc_locked(shpool, size);

    if (u == NULL) {
        /* users whose sessions all ended or expired make room */
        ngx_http_harbor_users_prune(shpool, sh, hour);
        u = ngx_slab_alloc_locked(shpool, size);
    }

    if (u == NULL) {
        return NULL;
    }

    ngx_memzero(u, size);
    ngx_memcpy(u->data, name->data, name->len);

    u->sn.node.key = hash;
    u->sn.str.len = name->len;
    u->sn.str.data = u->data;
    u->sessions.hour = hour;

    ngx_rbtree_insert(&sh->rbtree, &u->sn.node);

    return u;
}


static void
ngx_http_harbor_users_prune(ngx_slab_pool_t *shpool,
    ngx_http_harbor_limits_sh_t *sh, time_t hour)
{
    ngx_rbtree_node_t       *node, *next;
    ngx_http_harbor_user_t  *u;

    if (sh->rbtree.root == &sh->sentinel) {
        return;
    }

    node = ngx_rbtree_min(sh->rbtree.root, &sh->sentinel);

    while (node) {
        next = ngx_rbtree_next(&sh->rbtree, node);
        u = (ngx_http_harbor_user_t *) node;

        if (ngx_http_harbor_buckets_sum(&u->sessions, hour) == 0) {
            ngx_rbtree_delete(&sh->rbtree, node);
            ngx_slab_free_locked(shpool, u);
        }

        node = next;
    }
}
