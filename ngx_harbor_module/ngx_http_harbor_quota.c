
/*
 * ngx-harbor: an OCI registry inside nginx.
 * Storage quotas: a manifest PUT that would take a project past its
 * limit is refused (403 DENIED, as Harbor 2.x), decided from what is on
 * disk and in shared memory, never by asking authd or the database.
 *
 * authd writes <storage>/_policies/quota/<project> (harbor_quota.h):
 * the limit, the usage it knows and "as of", a time before which every
 * push this module finished is counted in that usage.  The module keeps,
 * per project in a shared zone, what it let through since: one
 * reservation per manifest PUT, made before the commit, dropped if the
 * commit fails, stamped with the time the push's journal line was
 * written, and forgotten once a file's "as of" passes that stamp.  A
 * push is refused when
 *
 *     used + reservations + this manifest's size > limit
 *
 * so one nginx never lets the usage pass the limit (docs/policies.md).
 * The size of a manifest is its own and that of every blob it names,
 * shared or not: a layer already in the project is counted again until
 * authd has read the push (errs on the side of refusing).  A manifest
 * already in the repository adds nothing.
 */


#include "ngx_http_harbor_storage.h"
#include "harbor_quota.h"


#define NGX_HTTP_HARBOR_QUOTA_SLOTS      32        /* per project */
#define NGX_HTTP_HARBOR_QUOTA_ZONE_SIZE  (1024 * 1024)

#define NGX_HTTP_HARBOR_QUOTA_FREE       -1        /* a slot's t */
#define NGX_HTTP_HARBOR_QUOTA_BUSY       0         /* in flight */


typedef struct {
    int64_t                     t;       /* FREE, BUSY, or ms it was done */
    int64_t                     bytes;
} ngx_http_harbor_quota_slot_t;

typedef struct {
    ngx_str_node_t              sn;
    ngx_http_harbor_quota_slot_t  slot[NGX_HTTP_HARBOR_QUOTA_SLOTS];
    u_char                      name[1];
} ngx_http_harbor_quota_node_t;

typedef struct {
    ngx_rbtree_t                rbtree;
    ngx_rbtree_node_t           sentinel;
} ngx_http_harbor_quota_sh_t;

/* a request's reservation, released by its pool's cleanup if not done */
typedef struct {
    ngx_slab_pool_t               *shpool;
    ngx_http_harbor_quota_node_t  *node;
    ngx_uint_t                     i;
    ngx_uint_t                     done;
} ngx_http_harbor_quota_res_t;


static ngx_int_t ngx_http_harbor_quota_init_zone(ngx_shm_zone_t *shm_zone,
    void *data);
static void ngx_http_harbor_quota_cleanup(void *data);


static ngx_str_t        ngx_http_harbor_quota_zone_name =
                            ngx_string("harbor_quota");


/* the zone, shared by every registry location: made at config time */

ngx_int_t
ngx_http_harbor_quota_conf(ngx_conf_t *cf)
{
    ngx_shm_zone_t  *shm_zone;

    shm_zone = ngx_shared_memory_add(cf, &ngx_http_harbor_quota_zone_name,
                                     NGX_HTTP_HARBOR_QUOTA_ZONE_SIZE,
                                     &ngx_http_harbor_module);
    if (shm_zone == NULL) {
        return NGX_ERROR;
    }

    shm_zone->init = ngx_http_harbor_quota_init_zone;

    return NGX_OK;
}


/*
 * The zone of the running cycle, looked up by name (not kept from the
 * configuration's parse: a reload that fails would leave that pointing
 * into a cycle that is gone); NULL if there is none.
 */

static ngx_shm_zone_t *
ngx_http_harbor_quota_zone(void)
{
    ngx_uint_t              i;
    ngx_list_part_t        *part;
    ngx_shm_zone_t         *zone;
    static ngx_cycle_t     *cycle;
    static ngx_shm_zone_t  *found;

    if (cycle == ngx_cycle) {
        return found;
    }

    found = NULL;
    part = (ngx_list_part_t *) &ngx_cycle->shared_memory.part;
    zone = part->elts;

    for (i = 0; /* void */; i++) {

        if (i >= part->nelts) {
            if (part->next == NULL) {
                break;
            }
            part = part->next;
            zone = part->elts;
            i = 0;
        }

        if (zone[i].tag == &ngx_http_harbor_module
            && zone[i].shm.name.len == ngx_http_harbor_quota_zone_name.len
            && ngx_strncmp(zone[i].shm.name.data,
                           ngx_http_harbor_quota_zone_name.data,
                           zone[i].shm.name.len) == 0)
        {
            found = &zone[i];
            break;
        }
    }

    cycle = (ngx_cycle_t *) ngx_cycle;

    return found;
}


static ngx_int_t
ngx_http_harbor_quota_init_zone(ngx_shm_zone_t *shm_zone, void *data)
{
    ngx_slab_pool_t             *shpool;
    ngx_http_harbor_quota_sh_t  *sh;

    if (data) {
        /* a reload keeps the reservations */
        shm_zone->data = data;
        return NGX_OK;
    }

    shpool = (ngx_slab_pool_t *) shm_zone->shm.addr;

    if (shm_zone->shm.exists) {
        shm_zone->data = shpool->data;
        return NGX_OK;
    }

    sh = ngx_slab_alloc(shpool, sizeof(ngx_http_harbor_quota_sh_t));
    if (sh == NULL) {
        return NGX_ERROR;
    }

    ngx_rbtree_init(&sh->rbtree, &sh->sentinel, ngx_str_rbtree_insert_value);

    shpool->data = sh;
    shm_zone->data = sh;

    return NGX_OK;
}


static int64_t
ngx_http_harbor_quota_now(void)
{
    struct timeval  tv;

    /* not the cached time: the stamp must follow the journal's write */
    ngx_gettimeofday(&tv);

    return (int64_t) tv.tv_sec * 1000 + tv.tv_usec / 1000;
}


/*
 * The quota file of project: NGX_OK with the three numbers, NGX_DECLINED
 * when it has no limit, NGX_ERROR when the file cannot be read or is not
 * one (the caller refuses: a limit that cannot be read is not no limit).
 * A few dozen bytes, read on the event loop as the immutable tag rules
 * are.
 */

static ngx_int_t
ngx_http_harbor_quota_read(ngx_http_request_t *r, ngx_str_t *project,
    int64_t *hard, int64_t *used, int64_t *asof)
{
    u_char                      *path;
    ssize_t                      n;
    ngx_fd_t                     fd;
    ngx_int_t                    rc;
    ngx_http_harbor_loc_conf_t  *hlcf;
    u_char                       buf[HB_QUOTA_FILE_MAX + 1];

    hlcf = ngx_http_harbor_conf(r);

    path = ngx_pnalloc(r->pool, hlcf->storage.len + sizeof(HB_QUOTA_DIR)
                                + 1 + project->len + 1);
    if (path == NULL) {
        return NGX_ERROR;
    }

    ngx_sprintf(path, "%V" HB_QUOTA_DIR "/%V%Z", &hlcf->storage, project);

    rc = ngx_http_harbor_open_ro(r, path, &fd);
    if (rc != NGX_OK) {
        return rc;
    }

    n = read(fd, buf, sizeof(buf));

    if (n == -1) {
        ngx_log_error(NGX_LOG_CRIT, r->connection->log, ngx_errno,
                      "read() \"%s\" failed", path);
    }

    ngx_http_harbor_close(r, fd, path);

    if (n == -1) {
        return NGX_ERROR;
    }

    if (n > HB_QUOTA_FILE_MAX
        || hb_quota_parse((char *) buf, n, hard, used, asof) != 0)
    {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "harbor: \"%s\" is not a quota file: pushes to "
                      "\"%V\" are refused until authd writes it again",
                      path, project);
        return NGX_ERROR;
    }

    return NGX_OK;
}


/* the node of project, made if need be; under the zone's lock */

static ngx_http_harbor_quota_node_t *
ngx_http_harbor_quota_node(ngx_slab_pool_t *shpool,
    ngx_http_harbor_quota_sh_t *sh, ngx_str_t *project)
{
    uint32_t                       hash;
    ngx_uint_t                     i, busy;
    ngx_rbtree_node_t             *n, *next;
    ngx_http_harbor_quota_node_t  *q, *e;

    hash = ngx_crc32_short(project->data, project->len);

    q = (ngx_http_harbor_quota_node_t *)
            ngx_str_rbtree_lookup(&sh->rbtree, project, hash);
    if (q != NULL) {
        return q;
    }

    q = ngx_slab_alloc_locked(shpool, sizeof(ngx_http_harbor_quota_node_t)
                                      + project->len);

    if (q == NULL && sh->rbtree.root != sh->rbtree.sentinel) {
        /* full: the projects with nothing in flight or unread go */
        n = ngx_rbtree_min(sh->rbtree.root, sh->rbtree.sentinel);

        while (n != NULL) {
            next = ngx_rbtree_next(&sh->rbtree, n);
            e = (ngx_http_harbor_quota_node_t *) n;

            for (busy = 0, i = 0; i < NGX_HTTP_HARBOR_QUOTA_SLOTS; i++) {
                busy |= e->slot[i].t != NGX_HTTP_HARBOR_QUOTA_FREE;
            }

            if (!busy) {
                ngx_rbtree_delete(&sh->rbtree, n);
                ngx_slab_free_locked(shpool, e);
            }

            n = next;
        }

        q = ngx_slab_alloc_locked(shpool,
                                  sizeof(ngx_http_harbor_quota_node_t)
                                  + project->len);
    }

    if (q == NULL) {
        return NULL;
    }

    for (i = 0; i < NGX_HTTP_HARBOR_QUOTA_SLOTS; i++) {
        q->slot[i].t = NGX_HTTP_HARBOR_QUOTA_FREE;
        q->slot[i].bytes = 0;
    }

    ngx_memcpy(q->name, project->data, project->len);
    q->sn.str.data = q->name;
    q->sn.str.len = project->len;
    q->sn.node.key = hash;

    ngx_rbtree_insert(&sh->rbtree, &q->sn.node);

    return q;
}


/*
 * A free slot of q, with what authd has read forgotten: its index, or
 * NGX_HTTP_HARBOR_QUOTA_SLOTS when every one is in flight.  *held: what
 * the slots hold.  Under the zone's lock.
 */

static ngx_uint_t
ngx_http_harbor_quota_slots(ngx_http_harbor_quota_node_t *q, int64_t asof,
    int64_t *held)
{
    ngx_uint_t  i, free, a, b;

    free = NGX_HTTP_HARBOR_QUOTA_SLOTS;
    a = NGX_HTTP_HARBOR_QUOTA_SLOTS;
    b = NGX_HTTP_HARBOR_QUOTA_SLOTS;
    *held = 0;

    for (i = 0; i < NGX_HTTP_HARBOR_QUOTA_SLOTS; i++) {

        if (q->slot[i].t > 0 && q->slot[i].t < asof) {
            q->slot[i].t = NGX_HTTP_HARBOR_QUOTA_FREE;   /* in "used" */
            q->slot[i].bytes = 0;
        }

        if (q->slot[i].t == NGX_HTTP_HARBOR_QUOTA_FREE) {
            free = i;
            continue;
        }

        *held += q->slot[i].bytes;

        if (q->slot[i].t > 0) {
            if (a == NGX_HTTP_HARBOR_QUOTA_SLOTS) {
                a = i;
            } else {
                b = i;
            }
        }
    }

    if (free == NGX_HTTP_HARBOR_QUOTA_SLOTS
        && b != NGX_HTTP_HARBOR_QUOTA_SLOTS)
    {
        /* two finished pushes as one, kept until the later is read */
        q->slot[a].t = ngx_max(q->slot[a].t, q->slot[b].t);
        q->slot[a].bytes += q->slot[b].bytes;
        q->slot[b].t = NGX_HTTP_HARBOR_QUOTA_FREE;
        q->slot[b].bytes = 0;
        free = b;
    }

    return free;
}


static ngx_int_t
ngx_http_harbor_quota_refuse(ngx_http_request_t *r, ngx_str_t *name,
    ngx_str_t *digest, ngx_str_t *tag, int64_t size, int64_t current,
    int64_t hard)
{
    u_char  *msg;

    msg = ngx_pnalloc(r->pool, 256);
    if (msg == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_snprintf(msg, 256, "quota exceeded: adding %L bytes of storage "
                 "resource, which when updated to current usage of %L "
                 "bytes will exceed the configured upper limit of %L "
                 "bytes%Z", size, current, hard);
    msg[255] = '\0';

    ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                  "harbor: push to \"%V\" refused: %s", name, msg);

    /* authd sends QUOTA_EXCEED from this line */
    ngx_http_harbor_journal(r, "quota", name, digest, tag, NULL, size);

    return ngx_http_harbor_error(r, NGX_HTTP_FORBIDDEN, "DENIED",
                                 (char *) msg, NULL);
}


/*
 * Before the commit of a manifest of size bytes (its own and its
 * blobs'): NGX_OK (reserved, or no limit), or NGX_DECLINED with *rcp
 * what the handler returns (the refusal, sent).
 */

ngx_int_t
ngx_http_harbor_quota_reserve(ngx_http_request_t *r, ngx_str_t *name,
    ngx_str_t *digest, ngx_str_t *tag, int64_t size, ngx_int_t *rcp)
{
    u_char                        *slash;
    int64_t                        hard, used, asof, held;
    ngx_int_t                      rc;
    ngx_str_t                      project;
    ngx_uint_t                     i;
    ngx_slab_pool_t               *shpool;
    ngx_pool_cleanup_t            *cln;
    ngx_http_harbor_quota_sh_t    *sh;
    ngx_http_harbor_quota_res_t   *res;
    ngx_http_harbor_quota_node_t  *q;
    ngx_shm_zone_t                *zone;
    ngx_http_harbor_loc_conf_t    *hlcf;

    hlcf = ngx_http_harbor_conf(r);

    slash = ngx_strlchr(name->data, name->data + name->len, '/');
    zone = ngx_http_harbor_quota_zone();

    if (hlcf->s3 || slash == NULL || zone == NULL) {
        return NGX_OK;          /* no project: no quota */
    }

    project.data = name->data;
    project.len = slash - name->data;

    rc = ngx_http_harbor_quota_read(r, &project, &hard, &used, &asof);

    if (rc == NGX_DECLINED) {
        return NGX_OK;
    }

    if (rc != NGX_OK) {
        *rcp = ngx_http_harbor_error(r, NGX_HTTP_INTERNAL_SERVER_ERROR,
                                     "UNKNOWN", "the project's storage "
                                     "quota cannot be read", NULL);
        return NGX_DECLINED;
    }

    cln = ngx_pool_cleanup_add(r->pool, sizeof(ngx_http_harbor_quota_res_t));
    if (cln == NULL) {
        *rcp = NGX_HTTP_INTERNAL_SERVER_ERROR;
        return NGX_DECLINED;
    }

    shpool = (ngx_slab_pool_t *) zone->shm.addr;
    sh = zone->data;

    ngx_shmtx_lock(&shpool->mutex);

    q = ngx_http_harbor_quota_node(shpool, sh, &project);

    if (q == NULL) {
        ngx_shmtx_unlock(&shpool->mutex);
        ngx_log_error(NGX_LOG_ALERT, r->connection->log, 0,
                      "harbor: the quota zone is full");
        *rcp = ngx_http_harbor_error(r, NGX_HTTP_SERVICE_UNAVAILABLE,
                                     "TOOMANYREQUESTS", "too many pushes "
                                     "in flight; try again", NULL);
        return NGX_DECLINED;
    }

    i = ngx_http_harbor_quota_slots(q, asof, &held);

    if (used + held + size > hard) {
        ngx_shmtx_unlock(&shpool->mutex);
        *rcp = ngx_http_harbor_quota_refuse(r, name, digest, tag, size,
                                            used + held, hard);
        return NGX_DECLINED;
    }

    if (i == NGX_HTTP_HARBOR_QUOTA_SLOTS) {
        ngx_shmtx_unlock(&shpool->mutex);
        *rcp = ngx_http_harbor_error(r, NGX_HTTP_TOO_MANY_REQUESTS,
                                     "TOOMANYREQUESTS", "too many pushes "
                                     "to this project in flight; try "
                                     "again", NULL);
        return NGX_DECLINED;
    }

    q->slot[i].t = NGX_HTTP_HARBOR_QUOTA_BUSY;
    q->slot[i].bytes = size;

    ngx_shmtx_unlock(&shpool->mutex);

    res = cln->data;
    res->shpool = shpool;
    res->node = q;
    res->i = i;
    res->done = 0;

    cln->handler = ngx_http_harbor_quota_cleanup;

    return NGX_OK;
}


/* the request ends: a reservation whose push did not finish is dropped */

static void
ngx_http_harbor_quota_cleanup(void *data)
{
    ngx_http_harbor_quota_res_t  *res = data;

    if (res->done) {
        return;
    }

    ngx_shmtx_lock(&res->shpool->mutex);
    res->node->slot[res->i].t = NGX_HTTP_HARBOR_QUOTA_FREE;
    res->node->slot[res->i].bytes = 0;
    ngx_shmtx_unlock(&res->shpool->mutex);
}


/* the push is durable and its journal line written: stamp it */

void
ngx_http_harbor_quota_done(ngx_http_request_t *r)
{
    int64_t                       now;
    ngx_pool_cleanup_t           *cln;
    ngx_http_harbor_quota_res_t  *res;

    for (cln = r->pool->cleanup; cln; cln = cln->next) {
        if (cln->handler != ngx_http_harbor_quota_cleanup) {
            continue;
        }

        res = cln->data;
        if (res->done) {
            continue;
        }

        now = ngx_http_harbor_quota_now();

        ngx_shmtx_lock(&res->shpool->mutex);
        res->node->slot[res->i].t = now;
        ngx_shmtx_unlock(&res->shpool->mutex);

        res->done = 1;
    }
}


/*
 * The check of a manifest PUT (m parsed from body, its blobs all here):
 * what the push may add is the manifest and every blob it names; nothing
 * if the repository has the manifest already.  As
 * ngx_http_harbor_quota_reserve().
 */

ngx_int_t
ngx_http_harbor_quota_manifest(ngx_http_request_t *r, ngx_str_t *name,
    ngx_str_t *tag, hb_manifest_t *m, ngx_str_t *body, ngx_str_t *digest,
    ngx_http_harbor_op_t *op, ngx_int_t *rcp)
{
    size_t                  i;
    int64_t                 size;
    ngx_int_t               rc;
    ngx_http_harbor_link_t  link;

    ngx_http_harbor_link_init(&link, NGX_HTTP_HARBOR_LINK_REVISION, name,
                              digest, NULL);

    op->done = NULL;

    rc = ngx_http_harbor_backend(r)->link_get(r, &link, 0, op);

    if (rc == NGX_OK) {
        return NGX_OK;
    }

    if (rc == NGX_ERROR) {
        *rcp = ngx_http_harbor_op_error(r, op);
        return NGX_DECLINED;
    }

    size = (int64_t) body->len;

    if (m->config.digest[0] && m->config.size > 0) {
        size += m->config.size;
    }

    for (i = 0; i < m->nblobs; i++) {
        if (!m->blobs[i].has_urls && m->blobs[i].size > 0) {
            size += m->blobs[i].size;
        }
    }

    return ngx_http_harbor_quota_reserve(r, name, digest, tag, size, rcp);
}
