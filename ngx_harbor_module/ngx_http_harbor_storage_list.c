
/*
 * ngx-harbor: an OCI registry inside nginx.
 * Listings: a page of the tags of a repository, of the repositories, of
 * the referrers of a manifest (with their manifests).
 *
 * The directory reads (and the referrers' manifest reads) run as one
 * task of the thread pool per request, into memory the task owns: a pool
 * of its own, made and freed on the event loop (freed with the request),
 * whose log is silent, and failures recorded in the task (logged back on
 * the event loop).  The event loop only stats.
 *
 * A page of tags costs O(page): each worker keeps the sorted tags of the
 * repositories last listed (ngx_http_harbor_tags_cache), checked against
 * the tags directory's (dev, ino, mtime) on every use.  An entry is only
 * made from a read that began clearly after the directory's mtime (the
 * "racy git" rule: a tag made in the same clock tick as the read, after
 * it, may leave the mtime unchanged, so such a read is not kept and the
 * next list reads again).  Adding or removing a tag adds or removes its
 * directory there, which sets the mtime: the cache is never stale.
 */


#include "ngx_http_harbor_module.h"
#include "ngx_http_harbor_storage.h"


/*
 * The per-worker tags cache: at most this many repositories and bytes
 * (names, their ngx_str_t and the key), least recently used out first.
 * A repository whose tags need more than a quarter of it is not kept.
 */
#define NGX_HTTP_HARBOR_TAGS_CACHE_N      512
#define NGX_HTTP_HARBOR_TAGS_CACHE_SIZE   (16 * 1024 * 1024)

/*
 * How long before a read a directory's mtime must be for the read to be
 * kept: the coarsest timestamp of the filesystems a store runs on (one
 * second: ext4 with 128-byte inodes, ext3), beyond the kernel's clock
 * tick.
 */
#define NGX_HTTP_HARBOR_TAGS_RACY         1000000000LL     /* ns */


typedef struct {
    ngx_queue_t                 queue;       /* most recently used first */
    uint32_t                    hash;        /* of dir */
    size_t                      size;        /* of the whole block */
    dev_t                       dev;
    ino_t                       ino;
    struct timespec             mtime;
    ngx_str_t                   dir;         /* the key: tags directory */
    ngx_uint_t                  n;
    ngx_str_t                  *tags;        /* sorted */
} ngx_http_harbor_tags_entry_t;


typedef struct {
    ngx_http_harbor_task_t      task;
    ngx_http_harbor_op_t       *op;
    ngx_http_harbor_list_e      kind;
    ngx_pool_t                 *pool;        /* the task's: its results */
    ngx_log_t                   log;         /* the pool's, silent */
    ngx_http_harbor_page_t     *out;         /* the caller's */
    ngx_http_harbor_page_t      page;        /* in pool */
    ngx_str_t                   dir;         /* in pool, room to walk */
    ngx_str_t                   v2;          /* referrers: the blobs' root */
    ngx_array_t                 tags;        /* every tag, sorted */
    ngx_file_info_t             fi;          /* of the tags directory */
    struct timespec             began;       /* the tags read */
    unsigned                    absent:1;    /* no tags directory */
} ngx_http_harbor_list_task_t;


static ngx_queue_t  ngx_http_harbor_tags_cache;
static ngx_uint_t   ngx_http_harbor_tags_cache_n;
static size_t       ngx_http_harbor_tags_cache_size;


static ngx_int_t ngx_http_harbor_tags_dir(ngx_http_request_t *r,
    ngx_str_t *name, ngx_str_t *path);
static ngx_int_t ngx_http_harbor_tags_cached(ngx_http_request_t *r,
    ngx_str_t *dir, ngx_http_harbor_page_t *page);
static ngx_http_harbor_tags_entry_t *ngx_http_harbor_tags_find(
    ngx_str_t *dir, uint32_t hash);
static void ngx_http_harbor_tags_forget(ngx_http_harbor_tags_entry_t *e);
static void ngx_http_harbor_tags_keep(ngx_http_harbor_list_task_t *lt);
static ngx_int_t ngx_http_harbor_tags_page(ngx_http_request_t *r,
    ngx_str_t *tags, ngx_uint_t n, ngx_http_harbor_page_t *page);
static void ngx_http_harbor_list_free(void *data);
static void ngx_http_harbor_list_work(ngx_http_harbor_task_t *t);
static void ngx_http_harbor_list_done(ngx_http_harbor_task_t *t,
    ngx_int_t rc);
static void ngx_http_harbor_list_finish(ngx_http_harbor_list_task_t *lt,
    ngx_int_t rc);
static ngx_int_t ngx_http_harbor_tags_read(ngx_http_harbor_list_task_t *lt);
static ngx_int_t ngx_http_harbor_walk_repos(ngx_http_harbor_list_task_t *lt,
    u_char *path, size_t len, size_t base, ngx_uint_t depth);
static ngx_int_t ngx_http_harbor_referrers_read(
    ngx_http_harbor_list_task_t *lt);
static ngx_int_t ngx_http_harbor_manifest_file(
    ngx_http_harbor_list_task_t *lt, ngx_str_t *digest, ngx_str_t *body);
static ngx_int_t ngx_http_harbor_read_dir(ngx_http_harbor_list_task_t *lt,
    ngx_str_t *path, ngx_array_t *names, ngx_file_info_t *fi);
static ngx_int_t ngx_http_harbor_page_add(ngx_pool_t *pool,
    ngx_http_harbor_page_t *page, u_char *data, size_t len);
static ngx_uint_t ngx_http_harbor_page_before(ngx_http_harbor_page_t *page,
    u_char *prefix, size_t len);
static ngx_uint_t ngx_http_harbor_page_after(ngx_http_harbor_page_t *page,
    u_char *prefix, size_t len);
static int ngx_libc_cdecl ngx_http_harbor_name_cmp(const void *one,
    const void *two);


/* The tags directory of a repository; NGX_DECLINED: no repository. */

static ngx_int_t
ngx_http_harbor_tags_dir(ngx_http_request_t *r, ngx_str_t *name,
    ngx_str_t *path)
{
    ngx_int_t  rc;

    rc = ngx_http_harbor_repo_exists(r, name);
    if (rc != NGX_OK) {
        return rc;
    }

    return ngx_http_harbor_repo_path(r, name, HB_DIR_TAGS, path);
}


/*
 * A page of a list into page: the tags of name, the repositories, or the
 * referrers of subject key in name (with page->read, their manifests
 * too: page->bodies, for the first page->nread of the page, stopping
 * once page->read bytes were read).  Without op->done it is done here;
 * otherwise, unless a tags page comes from the cache (or the repository
 * is not there), the reads run in the thread pool: NGX_AGAIN, then
 * op->done.  NGX_DECLINED: no repository (tags).
 */

ngx_int_t
ngx_http_harbor_list_page(ngx_http_request_t *r, ngx_http_harbor_list_e kind,
    ngx_str_t *name, ngx_str_t *key, ngx_http_harbor_page_t *page,
    ngx_http_harbor_op_t *op)
{
    int                           n;
    size_t                        room;
    ngx_int_t                     rc;
    ngx_str_t                     path;
    ngx_pool_cleanup_t           *cln;
    ngx_http_harbor_loc_conf_t   *hlcf;
    ngx_http_harbor_list_task_t  *lt;

    hlcf = ngx_http_harbor_conf(r);

    page->nread = 0;
    page->bodies = NULL;

    room = hlcf->v2.len + HB_LAYOUT_EXTRA + HB_NAME_MAX + 2;

    switch (kind) {

    case NGX_HTTP_HARBOR_LIST_TAGS:
        rc = ngx_http_harbor_tags_dir(r, name, &path);

        if (rc == NGX_OK) {
            rc = ngx_http_harbor_tags_cached(r, &path, page);

            if (rc == NGX_DECLINED) {
                break;
            }
        }

        if (rc == NGX_ERROR) {
            ngx_http_harbor_op_fail(op, rc, ngx_errno);
            return NGX_ERROR;
        }

        op->rc = rc;
        return rc;

    case NGX_HTTP_HARBOR_LIST_REPOS:
        path.data = ngx_pnalloc(r->pool, room);
        if (path.data == NULL) {
            ngx_http_harbor_op_fail(op, NGX_ERROR, NGX_ENOMEM);
            return NGX_ERROR;
        }

        n = hb_layout_repositories((char *) path.data, room,
                                   (char *) hlcf->v2.data, hlcf->v2.len);
        if (n == -1) {
            ngx_http_harbor_op_fail(op, NGX_ERROR, 0);
            return NGX_ERROR;
        }

        path.len = n;
        break;

    default: /* NGX_HTTP_HARBOR_LIST_REFERRERS */
        path.data = ngx_pnalloc(r->pool, room);
        if (path.data == NULL) {
            ngx_http_harbor_op_fail(op, NGX_ERROR, NGX_ENOMEM);
            return NGX_ERROR;
        }

        n = hb_layout_referrers((char *) path.data, room,
                                (char *) hlcf->v2.data, hlcf->v2.len,
                                (char *) name->data, name->len,
                                (char *) key->data, key->len);
        if (n == -1) {
            ngx_log_error(NGX_LOG_ALERT, r->connection->log, 0,
                          "harbor: no referrers path in \"%V\" for \"%V\"",
                          name, key);
            ngx_http_harbor_op_fail(op, NGX_ERROR, 0);
            return NGX_ERROR;
        }

        path.len = n;
    }

    /* the task, and the pool that holds what it finds */

    lt = (ngx_http_harbor_list_task_t *)
             ngx_http_harbor_task_alloc(r, sizeof(ngx_http_harbor_list_task_t));
    if (lt == NULL) {
        ngx_http_harbor_op_fail(op, NGX_ERROR, NGX_ENOMEM);
        return NGX_ERROR;
    }

    lt->op = op;
    lt->kind = kind;
    lt->out = page;
    lt->v2 = hlcf->v2;

    /* log_level 0: the pool never logs, from whichever thread */

    lt->pool = ngx_create_pool(NGX_DEFAULT_POOL_SIZE, &lt->log);
    if (lt->pool == NULL) {
        ngx_http_harbor_op_fail(op, NGX_ERROR, NGX_ENOMEM);
        return NGX_ERROR;
    }

    cln = ngx_pool_cleanup_add(r->pool, 0);
    if (cln == NULL) {
        ngx_destroy_pool(lt->pool);
        ngx_http_harbor_op_fail(op, NGX_ERROR, NGX_ENOMEM);
        return NGX_ERROR;
    }

    cln->handler = ngx_http_harbor_list_free;
    cln->data = lt->pool;

    lt->dir.data = ngx_pnalloc(lt->pool, room);
    if (lt->dir.data == NULL) {
        ngx_http_harbor_op_fail(op, NGX_ERROR, NGX_ENOMEM);
        return NGX_ERROR;
    }

    ngx_memcpy(lt->dir.data, path.data, path.len);
    lt->dir.data[path.len] = '\0';
    lt->dir.len = path.len;

    lt->page = *page;

    if (ngx_array_init(&lt->page.items, lt->pool, page->items.nalloc,
                       sizeof(ngx_str_t))
        != NGX_OK)
    {
        ngx_http_harbor_op_fail(op, NGX_ERROR, NGX_ENOMEM);
        return NGX_ERROR;
    }

    if (op->done == NULL) {
        ngx_http_harbor_list_work(&lt->task);
        rc = ngx_http_harbor_task_result(&lt->task);

    } else {
        rc = ngx_http_harbor_task(r, &lt->task, ngx_http_harbor_list_work,
                                  ngx_http_harbor_list_done);
        if (rc == NGX_AGAIN) {
            return NGX_AGAIN;
        }
    }

    ngx_http_harbor_list_finish(lt, rc);

    return op->rc;
}


static void
ngx_http_harbor_list_free(void *data)
{
    ngx_destroy_pool(data);
}


static void
ngx_http_harbor_list_done(ngx_http_harbor_task_t *t, ngx_int_t rc)
{
    ngx_http_harbor_list_task_t *lt = (ngx_http_harbor_list_task_t *) t;

    ngx_http_harbor_list_finish(lt, rc);

    lt->op->done(t->r, lt->op);
}


/* Back on the event loop: the page into the caller's. */

static void
ngx_http_harbor_list_finish(ngx_http_harbor_list_task_t *lt, ngx_int_t rc)
{
    ngx_http_harbor_page_t  *out;

    if (rc != NGX_OK) {
        ngx_http_harbor_task_op_fail(lt->task.r, lt->op, ngx_errno);
        return;
    }

    out = lt->out;

    if (lt->kind != NGX_HTTP_HARBOR_LIST_TAGS) {
        /* in the task's pool, which lives as long as the request */
        *out = lt->page;
        lt->op->rc = NGX_OK;
        return;
    }

    if (lt->absent) {
        lt->op->rc = NGX_OK;
        return;
    }

    ngx_http_harbor_tags_keep(lt);

    if (ngx_http_harbor_tags_page(lt->task.r, lt->tags.elts, lt->tags.nelts,
                                  out)
        != NGX_OK)
    {
        ngx_http_harbor_op_fail(lt->op, NGX_ERROR, NGX_ENOMEM);
        return;
    }

    lt->op->rc = NGX_OK;
}


/*
 * A page of tags from the cache: NGX_OK, NGX_DECLINED when it is not
 * there or no longer right (then the directory is to be read).
 */

static ngx_int_t
ngx_http_harbor_tags_cached(ngx_http_request_t *r, ngx_str_t *dir,
    ngx_http_harbor_page_t *page)
{
    uint32_t                       hash;
    ngx_int_t                      rc;
    ngx_file_info_t                fi;
    ngx_http_harbor_tags_entry_t  *e;

    if (ngx_http_harbor_tags_cache.next == NULL) {
        ngx_queue_init(&ngx_http_harbor_tags_cache);
    }

    hash = ngx_crc32_short(dir->data, dir->len);
    e = ngx_http_harbor_tags_find(dir, hash);

    rc = ngx_http_harbor_stat(r, dir->data, &fi);

    if (rc != NGX_OK) {
        if (e) {
            ngx_http_harbor_tags_forget(e);
        }

        /* NGX_DECLINED: a repository without tags, an empty page */
        return (rc == NGX_DECLINED) ? NGX_OK : rc;
    }

    if (e == NULL) {
        return NGX_DECLINED;
    }

    if (e->dev != fi.st_dev || e->ino != fi.st_ino
        || e->mtime.tv_sec != fi.st_mtim.tv_sec
        || e->mtime.tv_nsec != fi.st_mtim.tv_nsec)
    {
        ngx_http_harbor_tags_forget(e);
        return NGX_DECLINED;
    }

    ngx_queue_remove(&e->queue);
    ngx_queue_insert_head(&ngx_http_harbor_tags_cache, &e->queue);

    if (ngx_http_harbor_tags_page(r, e->tags, e->n, page) != NGX_OK) {
        ngx_set_errno(NGX_ENOMEM);
        return NGX_ERROR;
    }

    return NGX_OK;
}


static ngx_http_harbor_tags_entry_t *
ngx_http_harbor_tags_find(ngx_str_t *dir, uint32_t hash)
{
    ngx_queue_t                   *q;
    ngx_http_harbor_tags_entry_t  *e;

    for (q = ngx_queue_head(&ngx_http_harbor_tags_cache);
         q != ngx_queue_sentinel(&ngx_http_harbor_tags_cache);
         q = ngx_queue_next(q))
    {
        e = ngx_queue_data(q, ngx_http_harbor_tags_entry_t, queue);

        if (e->hash == hash && e->dir.len == dir->len
            && ngx_memcmp(e->dir.data, dir->data, dir->len) == 0)
        {
            return e;
        }
    }

    return NULL;
}


static void
ngx_http_harbor_tags_forget(ngx_http_harbor_tags_entry_t *e)
{
    ngx_queue_remove(&e->queue);
    ngx_http_harbor_tags_cache_n--;
    ngx_http_harbor_tags_cache_size -= e->size;
    ngx_free(e);
}


/*
 * Keep what a task read, if it can be trusted: the read began at least
 * NGX_HTTP_HARBOR_TAGS_RACY after the directory's mtime, so that any
 * later change has a later mtime.  One block: the entry, the names'
 * ngx_str_t, the key and the names.
 */

static void
ngx_http_harbor_tags_keep(ngx_http_harbor_list_task_t *lt)
{
    u_char                        *p;
    size_t                         size;
    uint32_t                       hash;
    long long                      age;
    ngx_str_t                     *tag;
    ngx_uint_t                     i;
    ngx_queue_t                   *q;
    ngx_http_harbor_tags_entry_t  *e;

    age = (long long) (lt->began.tv_sec - lt->fi.st_mtim.tv_sec) * 1000000000
          + (lt->began.tv_nsec - lt->fi.st_mtim.tv_nsec);

    if (age < NGX_HTTP_HARBOR_TAGS_RACY) {
        return;
    }

    tag = lt->tags.elts;

    size = sizeof(ngx_http_harbor_tags_entry_t) + lt->dir.len
           + lt->tags.nelts * sizeof(ngx_str_t);

    for (i = 0; i < lt->tags.nelts; i++) {
        size += tag[i].len;
    }

    if (size > NGX_HTTP_HARBOR_TAGS_CACHE_SIZE / 4) {
        return;
    }

    hash = ngx_crc32_short(lt->dir.data, lt->dir.len);

    e = ngx_http_harbor_tags_find(&lt->dir, hash);
    if (e) {
        ngx_http_harbor_tags_forget(e);
    }

    while (ngx_http_harbor_tags_cache_n >= NGX_HTTP_HARBOR_TAGS_CACHE_N
           || ngx_http_harbor_tags_cache_size + size
              > NGX_HTTP_HARBOR_TAGS_CACHE_SIZE)
    {
        q = ngx_queue_last(&ngx_http_harbor_tags_cache);
        ngx_http_harbor_tags_forget(
            ngx_queue_data(q, ngx_http_harbor_tags_entry_t, queue));
    }

    e = ngx_alloc(size, lt->task.r->connection->log);
    if (e == NULL) {
        /* not kept, nothing else is lost */
        return;
    }

    e->hash = hash;
    e->size = size;
    e->dev = lt->fi.st_dev;
    e->ino = lt->fi.st_ino;
    e->mtime = lt->fi.st_mtim;
    e->n = lt->tags.nelts;
    e->tags = (ngx_str_t *) (e + 1);

    p = (u_char *) (e->tags + e->n);

    e->dir.data = p;
    e->dir.len = lt->dir.len;
    p = ngx_cpymem(p, lt->dir.data, lt->dir.len);

    for (i = 0; i < e->n; i++) {
        e->tags[i].data = p;
        e->tags[i].len = tag[i].len;
        p = ngx_cpymem(p, tag[i].data, tag[i].len);
    }

    ngx_queue_insert_head(&ngx_http_harbor_tags_cache, &e->queue);
    ngx_http_harbor_tags_cache_n++;
    ngx_http_harbor_tags_cache_size += size;
}


/* The page of sorted tags after page->last, copied: O(log tags + page). */

static ngx_int_t
ngx_http_harbor_tags_page(ngx_http_request_t *r, ngx_str_t *tags,
    ngx_uint_t n, ngx_http_harbor_page_t *page)
{
    ngx_str_t   *it;
    ngx_uint_t   lo, hi, mid, end;

    lo = 0;
    hi = n;

    if (page->last.len) {
        while (lo < hi) {
            mid = (lo + hi) / 2;

            if (ngx_memn2cmp(tags[mid].data, page->last.data, tags[mid].len,
                             page->last.len)
                <= 0)
            {
                lo = mid + 1;

            } else {
                hi = mid;
            }
        }
    }

    end = (n - lo > page->n + 1) ? lo + page->n + 1 : n;

    for ( /* void */ ; lo < end; lo++) {
        it = ngx_array_push(&page->items);
        if (it == NULL) {
            return NGX_ERROR;
        }

        it->len = tags[lo].len;
        it->data = ngx_pnalloc(r->pool, it->len);
        if (it->data == NULL) {
            return NGX_ERROR;
        }

        ngx_memcpy(it->data, tags[lo].data, it->len);
    }

    return NGX_OK;
}


/* In a thread: the reads of a list, into lt->pool. */

static void
ngx_http_harbor_list_work(ngx_http_harbor_task_t *t)
{
    ngx_http_harbor_list_task_t *lt = (ngx_http_harbor_list_task_t *) t;

    switch (lt->kind) {

    case NGX_HTTP_HARBOR_LIST_TAGS:
        (void) ngx_http_harbor_tags_read(lt);
        break;

    case NGX_HTTP_HARBOR_LIST_REPOS:
        (void) ngx_http_harbor_walk_repos(lt, lt->dir.data, lt->dir.len,
                                          lt->dir.len + 1, 0);
        break;

    default: /* NGX_HTTP_HARBOR_LIST_REFERRERS */
        (void) ngx_http_harbor_referrers_read(lt);
    }
}


/* Every tag, sorted, and when the read began. */

static ngx_int_t
ngx_http_harbor_tags_read(ngx_http_harbor_list_task_t *lt)
{
    ngx_int_t    rc;
    ngx_str_t   *t;
    ngx_uint_t   i, j;

    (void) clock_gettime(CLOCK_REALTIME, &lt->began);

    if (ngx_array_init(&lt->tags, lt->pool, 64, sizeof(ngx_str_t)) != NGX_OK)
    {
        return ngx_http_harbor_task_fail(&lt->task, "ngx_array_init()",
                                         lt->dir.data, NGX_ENOMEM);
    }

    rc = ngx_http_harbor_read_dir(lt, &lt->dir, &lt->tags, &lt->fi);

    if (rc == NGX_DECLINED) {
        lt->absent = 1;
        return NGX_OK;
    }

    if (rc != NGX_OK) {
        return rc;
    }

    t = lt->tags.elts;

    for (i = 0, j = 0; i < lt->tags.nelts; i++) {
        if (hb_tag_valid(t[i].data, t[i].len)) {
            t[j++] = t[i];
        }
    }

    lt->tags.nelts = j;

    ngx_qsort(t, j, sizeof(ngx_str_t), ngx_http_harbor_name_cmp);

    return NGX_OK;
}


/* Every tag of a repository, unsorted, here.  NGX_DECLINED: no repository. */

ngx_int_t
ngx_http_harbor_all_tags(ngx_http_request_t *r, ngx_str_t *name,
    ngx_array_t *tags)
{
    ngx_int_t                    rc;
    ngx_str_t                    path, *t;
    ngx_uint_t                   i, j;
    ngx_http_harbor_list_task_t  lt;

    rc = ngx_http_harbor_tags_dir(r, name, &path);
    if (rc != NGX_OK) {
        return rc;
    }

    ngx_memzero(&lt, sizeof(ngx_http_harbor_list_task_t));
    lt.task.r = r;
    lt.pool = r->pool;

    rc = ngx_http_harbor_read_dir(&lt, &path, tags, NULL);
    if (rc == NGX_DECLINED) {
        return NGX_OK;
    }

    if (rc != NGX_OK) {
        return ngx_http_harbor_task_result(&lt.task);
    }

    t = tags->elts;

    for (i = 0, j = 0; i < tags->nelts; i++) {
        if (hb_tag_valid(t[i].data, t[i].len)) {
            t[j++] = t[i];
        }
    }

    tags->nelts = j;

    return NGX_OK;
}


/*
 * A page of the repositories (directories holding _manifests).  Subtrees
 * whose names all come before ?last=, or after a full page, are not
 * read.
 */

static ngx_int_t
ngx_http_harbor_walk_repos(ngx_http_harbor_list_task_t *lt, u_char *path,
    size_t len, size_t base, ngx_uint_t depth)
{
    ngx_int_t                rc;
    ngx_str_t                dir, *sub;
    ngx_uint_t               i;
    ngx_array_t              subs;
    ngx_http_harbor_page_t  *page;

    page = &lt->page;

    if (depth > HB_NAME_MAX / 2) {
        return NGX_OK;
    }

    if (ngx_array_init(&subs, lt->pool, 16, sizeof(ngx_str_t)) != NGX_OK) {
        return ngx_http_harbor_task_fail(&lt->task, "ngx_array_init()", path,
                                         NGX_ENOMEM);
    }

    dir.data = path;
    dir.len = len;
    path[len] = '\0';

    rc = ngx_http_harbor_read_dir(lt, &dir, &subs, NULL);
    if (rc == NGX_DECLINED) {
        return NGX_OK;
    }

    if (rc != NGX_OK) {
        return rc;
    }

    sub = subs.elts;

    /* this directory is a repository */

    for (i = 0; i < subs.nelts; i++) {
        if (sub[i].len == 10 && ngx_strncmp(sub[i].data, "_manifests", 10) == 0
            && len > base && hb_name_valid(path + base, len - base))
        {
            if (ngx_http_harbor_page_add(lt->pool, page, path + base,
                                         len - base)
                != NGX_OK)
            {
                return ngx_http_harbor_task_fail(&lt->task, "ngx_pnalloc()",
                                                 path, NGX_ENOMEM);
            }

            break;
        }
    }

    /*
     * The entries in order: a later entry's name, and every name under
     * it, come after an earlier entry's name, so once an entry's name
     * comes after a full page, the rest of the directory is not looked
     * at.  (The directory is read whole all the same: readdir(3) does not
     * sort.)
     */

    ngx_qsort(subs.elts, subs.nelts, sizeof(ngx_str_t),
              ngx_http_harbor_name_cmp);

    for (i = 0; i < subs.nelts; i++) {

        if (sub[i].data[0] == '_' || len - base + 1 + sub[i].len > HB_NAME_MAX)
        {
            continue;
        }

        /*
         * The names here are "<sub>" and "<sub>/...": all after a full
         * page (and so are those of the entries after it), or all before
         * ?last=?
         */

        path[len] = '/';
        ngx_memcpy(path + len + 1, sub[i].data, sub[i].len);
        path[len + 1 + sub[i].len] = '/';

        if (ngx_http_harbor_page_after(page, path + base,
                                       len + 1 + sub[i].len - base))
        {
            break;
        }

        if (ngx_http_harbor_page_before(page, path + base,
                                        len + 2 + sub[i].len - base))
        {
            continue;
        }

        rc = ngx_http_harbor_walk_repos(lt, path, len + 1 + sub[i].len, base,
                                        depth + 1);
        if (rc != NGX_OK) {
            return rc;
        }
    }

    path[len] = '\0';

    return NGX_OK;
}


/*
 * A page of the digests of the manifests whose subject is the given
 * digest, and with page->read the manifests of the first of them.
 */

static ngx_int_t
ngx_http_harbor_referrers_read(ngx_http_harbor_list_task_t *lt)
{
    u_char                  *p;
    size_t                   read;
    ngx_int_t                rc;
    ngx_str_t                sub, *alg, *hex, *d;
    ngx_uint_t               i, j, n;
    ngx_array_t              algs, hexes;
    u_char                   dg[HB_DIGEST_MAX];
    ngx_http_harbor_page_t  *page;

    page = &lt->page;

    if (ngx_array_init(&algs, lt->pool, 2, sizeof(ngx_str_t)) != NGX_OK) {
        goto nomem;
    }

    rc = ngx_http_harbor_read_dir(lt, &lt->dir, &algs, NULL);
    if (rc == NGX_DECLINED) {
        return NGX_OK;
    }

    if (rc != NGX_OK) {
        return rc;
    }

    alg = algs.elts;

    for (i = 0; i < algs.nelts; i++) {

        sub.data = ngx_pnalloc(lt->pool, lt->dir.len + alg[i].len + 2);
        if (sub.data == NULL) {
            goto nomem;
        }

        p = ngx_sprintf(sub.data, "%V/%V%Z", &lt->dir, &alg[i]);
        sub.len = p - 1 - sub.data;

        if (ngx_array_init(&hexes, lt->pool, 8, sizeof(ngx_str_t)) != NGX_OK) {
            goto nomem;
        }

        rc = ngx_http_harbor_read_dir(lt, &sub, &hexes, NULL);
        if (rc == NGX_DECLINED) {
            continue;
        }

        if (rc != NGX_OK) {
            return rc;
        }

        hex = hexes.elts;

        for (j = 0; j < hexes.nelts; j++) {
            if (alg[i].len + 1 + hex[j].len > HB_DIGEST_MAX) {
                continue;
            }

            p = ngx_sprintf(dg, "%V:%V", &alg[i], &hex[j]);

            if (hb_digest_parse(dg, p - dg) == HB_DIGEST_NONE) {
                continue;
            }

            if (ngx_http_harbor_page_add(lt->pool, page, dg, p - dg)
                != NGX_OK)
            {
                goto nomem;
            }
        }
    }

    if (page->read == 0) {
        return NGX_OK;
    }

    /* the manifests of the page, until page->read bytes were read */

    n = ngx_min(page->items.nelts, page->n);

    page->bodies = ngx_pcalloc(lt->pool, (n + 1) * sizeof(ngx_str_t));
    if (page->bodies == NULL) {
        goto nomem;
    }

    d = page->items.elts;
    read = 0;

    for (i = 0; i < n && read < page->read; i++) {
        if (ngx_http_harbor_manifest_file(lt, &d[i], &page->bodies[i])
            != NGX_OK)
        {
            return NGX_ERROR;
        }

        read += page->bodies[i].len;
        page->nread = i + 1;
    }

    return NGX_OK;

nomem:

    return ngx_http_harbor_task_fail(&lt->task, "ngx_palloc()", lt->dir.data,
                                     NGX_ENOMEM);
}


/*
 * A stored manifest, whole, into body; body->len 0 when it is not there
 * (swept since it was listed) or larger than a manifest may be.
 */

static ngx_int_t
ngx_http_harbor_manifest_file(ngx_http_harbor_list_task_t *lt,
    ngx_str_t *digest, ngx_str_t *body)
{
    int               n;
    size_t            len;
    ssize_t           got;
    u_char           *path;
    ngx_fd_t          fd;
    ngx_err_t         err;
    ngx_file_info_t   fi;

    len = lt->v2.len + HB_LAYOUT_EXTRA;

    path = ngx_pnalloc(lt->pool, len);
    if (path == NULL) {
        return ngx_http_harbor_task_fail(&lt->task, "ngx_palloc()",
                                         lt->dir.data, NGX_ENOMEM);
    }

    n = hb_layout_blob_data((char *) path, len, (char *) lt->v2.data,
                            lt->v2.len, (char *) digest->data, digest->len);
    if (n == -1) {
        return ngx_http_harbor_task_fail(&lt->task, "hb_layout_blob_data()",
                                         lt->dir.data, 0);
    }

    body->len = 0;

    fd = ngx_open_file(path, NGX_FILE_RDONLY, NGX_FILE_OPEN, 0);

    if (fd == NGX_INVALID_FILE) {
        err = ngx_errno;

        if (err == NGX_ENOENT || err == NGX_ENOTDIR) {
            return NGX_OK;
        }

        return ngx_http_harbor_task_fail(&lt->task, ngx_open_file_n, path,
                                         err);
    }

    if (ngx_fd_info(fd, &fi) == NGX_FILE_ERROR) {
        err = ngx_errno;
        (void) ngx_close_file(fd);
        return ngx_http_harbor_task_fail(&lt->task, ngx_fd_info_n, path, err);
    }

    if (ngx_file_size(&fi) > HB_MANIFEST_MAX) {
        (void) ngx_close_file(fd);
        return NGX_OK;
    }

    body->data = ngx_pnalloc(lt->pool, ngx_file_size(&fi) + 1);
    if (body->data == NULL) {
        (void) ngx_close_file(fd);
        return ngx_http_harbor_task_fail(&lt->task, "ngx_palloc()", path,
                                         NGX_ENOMEM);
    }

    /* content addressed: it does not change under us */

    while (body->len < (size_t) ngx_file_size(&fi)) {
        got = pread(fd, body->data + body->len,
                    ngx_file_size(&fi) - body->len, body->len);

        if (got == -1) {
            err = ngx_errno;
            (void) ngx_close_file(fd);
            body->len = 0;
            return ngx_http_harbor_task_fail(&lt->task, "pread()", path, err);
        }

        if (got == 0) {
            break;
        }

        body->len += got;
    }

    (void) ngx_close_file(fd);

    return NGX_OK;
}


/*
 * The names in a directory, without "." entries and files, into names;
 * with fi, the directory's own stat.  NGX_DECLINED if
 * it is absent; NGX_ERROR recorded in lt's task.
 */

static ngx_int_t
ngx_http_harbor_read_dir(ngx_http_harbor_list_task_t *lt, ngx_str_t *path,
    ngx_array_t *names, ngx_file_info_t *fi)
{
    size_t      len;
    ngx_dir_t   dir;
    ngx_err_t   err;
    ngx_str_t  *name;

    if (ngx_open_dir(path, &dir) == NGX_ERROR) {
        err = ngx_errno;

        if (err == NGX_ENOENT || err == NGX_ENOTDIR) {
            return NGX_DECLINED;
        }

        return ngx_http_harbor_task_fail(&lt->task, ngx_open_dir_n,
                                         path->data, err);
    }

    if (fi && ngx_fd_info(dirfd(dir.dir), fi) == NGX_FILE_ERROR) {
        err = ngx_errno;
        ngx_close_dir(&dir);
        return ngx_http_harbor_task_fail(&lt->task, ngx_fd_info_n,
                                         path->data, err);
    }

    for ( ;; ) {
        ngx_set_errno(0);

        if (ngx_read_dir(&dir) == NGX_ERROR) {
            err = ngx_errno;

            if (err != NGX_ENOMOREFILES) {
                ngx_close_dir(&dir);
                return ngx_http_harbor_task_fail(&lt->task, ngx_read_dir_n,
                                                 path->data, err);
            }

            break;
        }

        len = ngx_de_namelen(&dir);

        if (ngx_de_name(&dir)[0] == '.') {
            continue;
        }

        if (dir.type != 0 && !ngx_de_is_dir(&dir)) {
            continue;
        }

        name = ngx_array_push(names);
        if (name == NULL) {
            goto nomem;
        }

        name->len = len;
        name->data = ngx_pnalloc(lt->pool, len);
        if (name->data == NULL) {
            goto nomem;
        }

        ngx_memcpy(name->data, ngx_de_name(&dir), len);
    }

    ngx_close_dir(&dir);

    return NGX_OK;

nomem:

    ngx_close_dir(&dir);

    return ngx_http_harbor_task_fail(&lt->task, "ngx_palloc()", path->data,
                                     NGX_ENOMEM);
}


/*
 * Offer a name to a page: it is kept, in order, if it comes after last,
 * passes the page's check, and is among the first n + 1 seen so far.
 * The copy is made only then.
 */

static ngx_int_t
ngx_http_harbor_page_add(ngx_pool_t *pool, ngx_http_harbor_page_t *page,
    u_char *data, size_t len)
{
    ngx_str_t   *it;
    ngx_uint_t   lo, hi, mid, max;

    if (page->last.len
        && ngx_memn2cmp(data, page->last.data, len, page->last.len) <= 0)
    {
        return NGX_OK;
    }

    if (page->valid && !page->valid(data, len)) {
        return NGX_OK;
    }

    it = page->items.elts;
    max = page->n + 1;

    if (page->items.nelts == max
        && ngx_memn2cmp(data, it[max - 1].data, len, it[max - 1].len) >= 0)
    {
        return NGX_OK;
    }

    /* where it goes */

    lo = 0;
    hi = page->items.nelts;

    while (lo < hi) {
        mid = (lo + hi) / 2;

        if (ngx_memn2cmp(it[mid].data, data, it[mid].len, len) < 0) {
            lo = mid + 1;

        } else {
            hi = mid;
        }
    }

    if (lo < page->items.nelts
        && ngx_memn2cmp(it[lo].data, data, it[lo].len, len) == 0)
    {
        return NGX_OK;
    }

    if (page->items.nelts < max) {
        if (ngx_array_push(&page->items) == NULL) {
            return NGX_ERROR;
        }

        it = page->items.elts;
    }

    ngx_memmove(&it[lo + 1], &it[lo],
                (page->items.nelts - 1 - lo) * sizeof(ngx_str_t));

    it[lo].len = len;
    it[lo].data = ngx_pnalloc(pool, len);
    if (it[lo].data == NULL) {
        return NGX_ERROR;
    }

    ngx_memcpy(it[lo].data, data, len);

    return NGX_OK;
}


/*
 * Whether every name that starts with prefix (a directory's names, with
 * its "/") comes before ?last=.
 */

static ngx_uint_t
ngx_http_harbor_page_before(ngx_http_harbor_page_t *page, u_char *prefix,
    size_t len)
{
    return page->last.len
           && !(page->last.len >= len
                && ngx_strncmp(page->last.data, prefix, len) == 0)
           && ngx_memn2cmp(prefix, page->last.data, len, page->last.len) < 0;
}


/*
 * Whether the page is full and every name that starts with prefix comes
 * after it.
 */

static ngx_uint_t
ngx_http_harbor_page_after(ngx_http_harbor_page_t *page, u_char *prefix,
    size_t len)
{
    ngx_str_t  *it;

    it = page->items.elts;

    return page->items.nelts == page->n + 1
           && ngx_memn2cmp(prefix, it[page->n].data, len, it[page->n].len)
              > 0;
}


static int ngx_libc_cdecl
ngx_http_harbor_name_cmp(const void *one, const void *two)
{
    const ngx_str_t  *a = one, *b = two;

    return ngx_memn2cmp(a->data, b->data, a->len, b->len);
}
