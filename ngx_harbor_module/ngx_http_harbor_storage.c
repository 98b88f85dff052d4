
/*
 * ngx-harbor: an OCI registry inside nginx.
 * The store, in CNCF distribution's on-disk layout.  This is the only file
 * that turns validated names and digests into paths and touches the
 * filesystem; another backend replaces this file and nothing else.
 *
 *   <root>/docker/registry/v2/blobs/<alg>/<2 hex>/<hex>/data
 *   <root>/docker/registry/v2/repositories/<name>/
 *       _layers/<alg>/<hex>/link
 *       _manifests/revisions/<alg>/<hex>/link
 *       _manifests/tags/<tag>/current/link
 *       _manifests/tags/<tag>/index/<alg>/<hex>/link
 *       _uploads/<uuid>/{startedat,data,hbstate}
 *       _referrers/<alg>/<hex>/<alg>/<hex>/link      (ours; others skip "_")
 *   <root>/_tmp/                                  request bodies, new links
 *
 * Every write is atomic and durable: a temporary file on the same
 * filesystem, fsync, rename, fsync of the directory.
 */


#include "ngx_http_harbor_module.h"

#include <sys/file.h>


#define NGX_HTTP_HARBOR_STATE_MAGIC  "HBSHA256"


typedef struct {
    u_char      magic[8];
    uint64_t    offset;
    SHA256_CTX  sha;
} ngx_http_harbor_state_t;


static ngx_int_t ngx_http_harbor_task_fail(ngx_http_harbor_task_t *t,
    const char *call, u_char *path, ngx_err_t err);
static ngx_int_t ngx_http_harbor_open_ro(ngx_http_request_t *r, u_char *path,
    ngx_fd_t *fd);
static ngx_int_t ngx_http_harbor_stat(ngx_http_request_t *r, u_char *path,
    ngx_file_info_t *fi);
static ngx_int_t ngx_http_harbor_utimes(ngx_http_request_t *r, u_char *path);
static void ngx_http_harbor_close(ngx_http_request_t *r, ngx_fd_t fd,
    u_char *path);
static ngx_int_t ngx_http_harbor_mkdir_p(ngx_http_request_t *r, u_char *path,
    size_t len);
static ngx_int_t ngx_http_harbor_fsync_dir(ngx_http_request_t *r,
    u_char *path, size_t len);
static ngx_int_t ngx_http_harbor_write_atomic(ngx_http_request_t *r,
    u_char *path, size_t dirlen, u_char *data, size_t len);
static ngx_int_t ngx_http_harbor_delete_tree(ngx_http_request_t *r,
    ngx_str_t *path);
static ngx_int_t ngx_http_harbor_delete_file(ngx_tree_ctx_t *ctx,
    ngx_str_t *path);
static ngx_int_t ngx_http_harbor_delete_dir(ngx_tree_ctx_t *ctx,
    ngx_str_t *path);
static ngx_int_t ngx_http_harbor_noop(ngx_tree_ctx_t *ctx, ngx_str_t *path);
static ngx_int_t ngx_http_harbor_read_dir(ngx_http_request_t *r,
    ngx_str_t *path, ngx_array_t *names, ngx_http_harbor_page_t *page,
    ngx_uint_t dirs_only);
static ngx_int_t ngx_http_harbor_tags_dir(ngx_http_request_t *r,
    ngx_str_t *name, ngx_str_t *path);
static ngx_int_t ngx_http_harbor_page_add(ngx_http_request_t *r,
    ngx_http_harbor_page_t *page, u_char *data, size_t len);
static ngx_uint_t ngx_http_harbor_page_skips(ngx_http_harbor_page_t *page,
    u_char *prefix, size_t len);
static ngx_int_t ngx_http_harbor_walk_repos(ngx_http_request_t *r,
    u_char *path, size_t len, size_t base, ngx_http_harbor_page_t *page,
    ngx_uint_t depth);
static void ngx_http_harbor_close_lock(void *data);


static ngx_inline ngx_http_harbor_loc_conf_t *
ngx_http_harbor_conf(ngx_http_request_t *r)
{
    return ngx_http_get_module_loc_conf(r, ngx_http_harbor_module);
}


/* A NUL-terminated path in the request pool. */

static ngx_int_t
ngx_http_harbor_blob_file(ngx_http_request_t *r, ngx_str_t *digest,
    ngx_str_t *path, size_t *dirlen)
{
    int                          n;
    size_t                       len;
    ngx_http_harbor_loc_conf_t  *hlcf;

    hlcf = ngx_http_harbor_conf(r);

    len = hlcf->v2.len + HB_LAYOUT_EXTRA;

    path->data = ngx_pnalloc(r->pool, len);
    if (path->data == NULL) {
        return NGX_ERROR;
    }

    n = hb_layout_blob_data((char *) path->data, len, (char *) hlcf->v2.data,
                            hlcf->v2.len, (char *) digest->data, digest->len);
    if (n == -1) {
        ngx_log_error(NGX_LOG_ALERT, r->connection->log, 0,
                      "harbor: no blob path for \"%V\"", digest);
        return NGX_ERROR;
    }

    path->len = n;

    if (dirlen) {
        *dirlen = n - (sizeof("/data") - 1);
    }

    return NGX_OK;
}


/*
 * Send a stored blob (or manifest) as the response, with the given
 * content type: nginx's static file path (open file cache, one in_file
 * buffer, so sendfile, Range and HEAD come from nginx).  NGX_HTTP_NOT_FOUND
 * if it is not there; *of tells its size and time.
 *
 * With renew (a HEAD: how a pushing client decides not to upload), the
 * blob's time is refreshed by its path before anything is opened, and a
 * path that is gone is a 404: the collector's sweep moves a candidate
 * aside and then reads its time again (docs/gc.md), so a 200 here means
 * the blob is in blobs/ with a fresh time, which the sweep keeps for
 * gc_window seconds.  The open file cache may still hold a descriptor of
 * a moved file; it is never asked before the path is.
 */

ngx_int_t
ngx_http_harbor_blob_send(ngx_http_request_t *r, ngx_str_t *digest,
    ngx_str_t *content_type, ngx_open_file_info_t *of, ngx_uint_t renew)
{
    ngx_int_t                  rc;
    ngx_buf_t                 *b;
    ngx_str_t                  path, etag;
    ngx_chain_t                out;
    ngx_http_core_loc_conf_t  *clcf;

    if (ngx_http_harbor_blob_file(r, digest, &path, NULL) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    clcf = ngx_http_get_module_loc_conf(r, ngx_http_core_module);

    if (renew) {
        rc = ngx_http_harbor_blob_touch(r, digest);

        if (rc == NGX_DECLINED) {
            return NGX_HTTP_NOT_FOUND;
        }

        if (rc != NGX_OK) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }
    }

    if (of->fd == NGX_INVALID_FILE) {
        ngx_memzero(of, sizeof(ngx_open_file_info_t));

        of->read_ahead = clcf->read_ahead;
        of->directio = clcf->directio;
        of->valid = clcf->open_file_cache_valid;
        of->min_uses = clcf->open_file_cache_min_uses;
        of->errors = clcf->open_file_cache_errors;
        of->events = clcf->open_file_cache_events;

        rc = ngx_open_cached_file(clcf->open_file_cache, &path, of,
                                  r->pool);

        if (rc != NGX_OK && ngx_http_harbor_fds_exhausted(of->err)
            && ngx_http_harbor_release_fds(r) > 0)
        {
            rc = ngx_open_cached_file(clcf->open_file_cache, &path, of,
                                      r->pool);
        }

        if (rc != NGX_OK) {
            if (of->err == NGX_ENOENT || of->err == NGX_ENOTDIR) {
                return NGX_HTTP_NOT_FOUND;
            }

            ngx_log_error(NGX_LOG_CRIT, r->connection->log, of->err,
                          "%s \"%s\" failed", of->failed, path.data);

            return ngx_http_harbor_fds_exhausted(of->err)
                   ? NGX_HTTP_SERVICE_UNAVAILABLE
                   : NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        if (!of->is_file) {
            ngx_log_error(NGX_LOG_CRIT, r->connection->log, 0,
                          "harbor: \"%s\" is not a file", path.data);
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }
    }

    r->root_tested = !r->error_page;
    r->allow_ranges = 1;

    r->headers_out.status = NGX_HTTP_OK;
    r->headers_out.content_length_n = of->size;
    r->headers_out.last_modified_time = of->mtime;

    r->headers_out.content_type = *content_type;
    r->headers_out.content_type_len = content_type->len;

    if (ngx_http_harbor_add_header(r, "Docker-Content-Digest", digest)
        != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    /* content addressed: the digest is the strongest validator there is */

    etag.len = digest->len + 2;
    etag.data = ngx_pnalloc(r->pool, etag.len);
    if (etag.data == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_sprintf(etag.data, "\"%V\"", digest);

    r->headers_out.etag = ngx_list_push(&r->headers_out.headers);
    if (r->headers_out.etag == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    r->headers_out.etag->hash = 1;
    ngx_str_set(&r->headers_out.etag->key, "ETag");
    r->headers_out.etag->value = etag;
#if (nginx_version >= 1023000)
    r->headers_out.etag->next = NULL;
#endif

    if (r != r->main && of->size == 0) {
        return ngx_http_send_header(r);
    }

    b = ngx_calloc_buf(r->pool);
    if (b == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    b->file = ngx_pcalloc(r->pool, sizeof(ngx_file_t));
    if (b->file == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    rc = ngx_http_send_header(r);

    if (rc == NGX_ERROR || rc > NGX_OK || r->header_only) {
        return rc;
    }

    b->file_pos = 0;
    b->file_last = of->size;

    b->in_file = b->file_last ? 1 : 0;
    b->last_buf = (r == r->main) ? 1 : 0;
    b->last_in_chain = 1;
    b->sync = (b->last_buf || b->in_file) ? 0 : 1;

    b->file->fd = of->fd;
    b->file->name = path;
    b->file->log = r->connection->log;
    b->file->directio = of->is_directio;

    out.buf = b;
    out.next = NULL;

    return ngx_http_output_filter(r, &out);
}


/*
 * A worker out of descriptors.  The open file cache frees an idle entry
 * only when a later cached open succeeds (it closes the least recently
 * used one past "max", and one or two older than "inactive" when a
 * request lets go of its file): once every descriptor is taken and every
 * open fails, nothing ever frees one, and the worker stays wedged.  So
 * the idle entries of the location's cache are closed here, the way
 * nginx expires them (ngx_open_file_cache.c), leaving those that requests
 * still use.  Returns how many descriptors were closed.
 */

ngx_uint_t
ngx_http_harbor_release_fds(ngx_http_request_t *r)
{
    ngx_uint_t                 n;
    ngx_queue_t               *q, *prev;
    ngx_open_file_cache_t     *cache;
    ngx_cached_open_file_t    *file;
    ngx_http_core_loc_conf_t  *clcf;

    clcf = ngx_http_get_module_loc_conf(r, ngx_http_core_module);
    cache = clcf->open_file_cache;

    if (cache == NULL) {
        return 0;
    }

    n = 0;

    for (q = ngx_queue_last(&cache->expire_queue);
         q != ngx_queue_sentinel(&cache->expire_queue);
         q = prev)
    {
        prev = ngx_queue_prev(q);
        file = ngx_queue_data(q, ngx_cached_open_file_t, queue);

        /* in use by a request, or watched by kqueue: nginx's to close */

        if (file->count || file->event) {
            continue;
        }

        ngx_queue_remove(q);
        ngx_rbtree_delete(&cache->rbtree, &file->node);
        cache->current--;

        if (file->fd != NGX_INVALID_FILE) {
            if (ngx_close_file(file->fd) == NGX_FILE_ERROR) {
                ngx_log_error(NGX_LOG_ALERT, r->connection->log, ngx_errno,
                              ngx_close_file_n " \"%s\" failed",
                              file->name);
            }

            n++;
        }

        ngx_free(file->name);
        ngx_free(file);
    }

    ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                  "harbor: out of file descriptors, %ui idle ones of the "
                  "open file cache closed (see worker_rlimit_nofile)", n);

    return n;
}


/*
 * Open a file of the store for reading: NGX_OK, NGX_DECLINED if it is not
 * there (not an error: the caller answers "unknown"), NGX_ERROR (logged).
 */

static ngx_int_t
ngx_http_harbor_open_ro(ngx_http_request_t *r, u_char *path, ngx_fd_t *fd)
{
    ngx_err_t  err;

    *fd = ngx_open_file(path, NGX_FILE_RDONLY, NGX_FILE_OPEN, 0);

    if (*fd != NGX_INVALID_FILE) {
        return NGX_OK;
    }

    err = ngx_errno;

    if (ngx_http_harbor_fds_exhausted(err)
        && ngx_http_harbor_release_fds(r) > 0)
    {
        *fd = ngx_open_file(path, NGX_FILE_RDONLY, NGX_FILE_OPEN, 0);

        if (*fd != NGX_INVALID_FILE) {
            return NGX_OK;
        }

        err = ngx_errno;
    }

    if (err == NGX_ENOENT || err == NGX_ENOTDIR) {
        return NGX_DECLINED;
    }

    ngx_log_error(NGX_LOG_CRIT, r->connection->log, err,
                  ngx_open_file_n " \"%s\" failed", path);
    return NGX_ERROR;
}


/*
 * The link file of a kind; *entry is the length of the directory that
 * holds everything of the entry (deleted as a whole).
 */

static ngx_int_t
ngx_http_harbor_link_path(ngx_http_request_t *r, ngx_str_t *name,
    ngx_http_harbor_link_e kind, ngx_str_t *key, ngx_str_t *key2,
    ngx_str_t *path, size_t *entry)
{
    int                          n;
    size_t                       len;
    ngx_http_harbor_loc_conf_t  *hlcf;

    static const int  kinds[] = {
        HB_LINK_LAYER,                  /* NGX_HTTP_HARBOR_LINK_LAYER */
        HB_LINK_REVISION,               /* NGX_HTTP_HARBOR_LINK_REVISION */
        HB_LINK_TAG,                    /* NGX_HTTP_HARBOR_LINK_TAG */
        HB_LINK_TAG_INDEX,              /* NGX_HTTP_HARBOR_LINK_TAG_INDEX */
        HB_LINK_REFERRER                /* NGX_HTTP_HARBOR_LINK_REFERRER */
    };

    hlcf = ngx_http_harbor_conf(r);

    len = hlcf->v2.len + HB_LAYOUT_EXTRA;

    path->data = ngx_pnalloc(r->pool, len);
    if (path->data == NULL) {
        return NGX_ERROR;
    }

    n = hb_layout_link((char *) path->data, len, (char *) hlcf->v2.data,
                       hlcf->v2.len, (char *) name->data, name->len,
                       kinds[kind], (char *) key->data, key->len,
                       key2 ? (char *) key2->data : NULL,
                       key2 ? key2->len : 0, entry);
    if (n == -1) {
        ngx_log_error(NGX_LOG_ALERT, r->connection->log, 0,
                      "harbor: no link path in \"%V\" for \"%V\"",
                      name, key);
        return NGX_ERROR;
    }

    path->len = n;

    return NGX_OK;
}


/*
 * NGX_OK with *digest set, NGX_DECLINED if there is no such link,
 * NGX_ERROR on a storage fault (errno set).
 */

ngx_int_t
ngx_http_harbor_link_get(ngx_http_request_t *r, ngx_str_t *name,
    ngx_http_harbor_link_e kind, ngx_str_t *key, ngx_str_t *key2,
    ngx_str_t *digest)
{
    size_t           entry;
    ssize_t          n;
    ngx_fd_t         fd;
    ngx_int_t        rc;
    ngx_str_t        path;
    ngx_file_info_t  fi;
    u_char           buf[HB_DIGEST_MAX + 2];

    if (ngx_http_harbor_link_path(r, name, kind, key, key2, &path, &entry)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    if (digest == NULL) {

        /*
         * Only whether it is there (the hot path of blob and manifest
         * GETs): one stat(2), and a size a digest can have.
         */

        rc = ngx_http_harbor_stat(r, path.data, &fi);
        if (rc != NGX_OK) {
            return rc;
        }

        if (!ngx_is_file(&fi)
            || ngx_file_size(&fi) < (off_t) sizeof("sha256:") - 1
                                     + HB_SHA256_HEX
            || ngx_file_size(&fi) > (off_t) HB_DIGEST_MAX)
        {
            ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                          "harbor: \"%s\" holds no digest", path.data);
            return NGX_DECLINED;
        }

        return NGX_OK;
    }

    rc = ngx_http_harbor_open_ro(r, path.data, &fd);
    if (rc != NGX_OK) {
        return rc;
    }

    n = read(fd, buf, sizeof(buf));

    if (n == -1) {
        ngx_log_error(NGX_LOG_CRIT, r->connection->log, ngx_errno,
                      "read() \"%s\" failed", path.data);
    }

    ngx_http_harbor_close(r, fd, path.data);

    if (n == -1) {
        return NGX_ERROR;
    }

    if (hb_digest_parse(buf, n) == HB_DIGEST_NONE) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "harbor: \"%s\" holds no digest", path.data);
        return NGX_DECLINED;
    }

    digest->data = ngx_pnalloc(r->pool, n);
    if (digest->data == NULL) {
        return NGX_ERROR;
    }

    digest->len = n;
    ngx_memcpy(digest->data, buf, n);

    return NGX_OK;
}


ngx_int_t
ngx_http_harbor_link_put(ngx_http_request_t *r, ngx_str_t *name,
    ngx_http_harbor_link_e kind, ngx_str_t *key, ngx_str_t *key2,
    ngx_str_t *digest)
{
    size_t     entry;
    ngx_int_t  rc;
    ngx_str_t  path, old;

    rc = ngx_http_harbor_link_get(r, name, kind, key, key2, &old);

    if (rc == NGX_ERROR) {
        return NGX_ERROR;
    }

    /*
     * The same link again renews its time (what an untagged-only delete
     * with a cutoff reads as "touched"); one moved aside meanwhile by such
     * a delete is written anew.
     */

    if (rc == NGX_OK && old.len == digest->len
        && ngx_memcmp(old.data, digest->data, old.len) == 0)
    {
        rc = ngx_http_harbor_link_touch(r, name, kind, key, key2);
        if (rc != NGX_DECLINED) {
            return rc;
        }
    }

    if (ngx_http_harbor_link_path(r, name, kind, key, key2, &path, &entry)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    return ngx_http_harbor_write_atomic(r, path.data,
                                        path.len - (sizeof("/link") - 1),
                                        digest->data, digest->len);
}


/*
 * Renew a link's time: NGX_OK, NGX_DECLINED if it is not there (moved
 * aside by a delete, or never written), NGX_ERROR (logged, errno set).
 */

ngx_int_t
ngx_http_harbor_link_touch(ngx_http_request_t *r, ngx_str_t *name,
    ngx_http_harbor_link_e kind, ngx_str_t *key, ngx_str_t *key2)
{
    size_t     entry;
    ngx_str_t  path;

    if (ngx_http_harbor_link_path(r, name, kind, key, key2, &path, &entry)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    return ngx_http_harbor_utimes(r, path.data);
}


/*
 * The time a link was last written or renewed: NGX_OK, NGX_DECLINED if it
 * is not there, NGX_ERROR.
 */

ngx_int_t
ngx_http_harbor_link_time(ngx_http_request_t *r, ngx_str_t *name,
    ngx_http_harbor_link_e kind, ngx_str_t *key, ngx_str_t *key2,
    time_t *mtime)
{
    size_t           entry;
    ngx_int_t        rc;
    ngx_str_t        path;
    ngx_file_info_t  fi;

    if (ngx_http_harbor_link_path(r, name, kind, key, key2, &path, &entry)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    rc = ngx_http_harbor_stat(r, path.data, &fi);
    if (rc != NGX_OK) {
        return rc;
    }

    *mtime = ngx_file_mtime(&fi);

    return NGX_OK;
}


/*
 * Take a link out of the store in one rename(2) into <storage>/_tmp: the
 * moment it stops existing.  The moved file keeps its inode, so a renewal
 * that came before the move shows in *mtime; one after it finds nothing.
 * Then ngx_http_harbor_link_restore() or ngx_http_harbor_link_drop().
 * NGX_DECLINED if there is no such link.
 */

ngx_int_t
ngx_http_harbor_link_move(ngx_http_request_t *r, ngx_str_t *name,
    ngx_http_harbor_link_e kind, ngx_str_t *key, ngx_str_t *key2,
    ngx_http_harbor_aside_t *aside)
{
    ngx_err_t                    err;
    ngx_file_info_t              fi;
    ngx_http_harbor_loc_conf_t  *hlcf;

    hlcf = ngx_http_harbor_conf(r);

    if (ngx_http_harbor_link_path(r, name, kind, key, key2, &aside->path,
                                  &aside->entry)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    aside->kind = kind;

    aside->tmp = ngx_pnalloc(r->pool, hlcf->storage.len + sizeof("/_tmp/l.")
                                      + NGX_INT64_LEN + NGX_INT_T_LEN + 2);
    if (aside->tmp == NULL) {
        return NGX_ERROR;
    }

    ngx_sprintf(aside->tmp, "%V/_tmp/l.%P.%uD%Z", &hlcf->storage, ngx_pid,
                (uint32_t) ngx_random());

    if (ngx_rename_file(aside->path.data, aside->tmp) == NGX_FILE_ERROR) {
        err = ngx_errno;

        if (err == NGX_ENOENT || err == NGX_ENOTDIR) {
            return NGX_DECLINED;
        }

        ngx_log_error(NGX_LOG_CRIT, r->connection->log, err,
                      ngx_rename_file_n " \"%s\" to \"%s\" failed",
                      aside->path.data, aside->tmp);
        ngx_set_errno(err);
        return NGX_ERROR;
    }

    if (ngx_file_info(aside->tmp, &fi) == NGX_FILE_ERROR) {
        err = ngx_errno;
        ngx_log_error(NGX_LOG_CRIT, r->connection->log, err,
                      ngx_file_info_n " \"%s\" failed", aside->tmp);
        (void) ngx_http_harbor_link_restore(r, aside);
        ngx_set_errno(err);
        return NGX_ERROR;
    }

    aside->mtime = ngx_file_mtime(&fi);

    return NGX_OK;
}


/*
 * Put a moved link back.  A link written at its place meanwhile (the same
 * digest: a revision's link holds its own) wins: link(2) never replaces.
 */

ngx_int_t
ngx_http_harbor_link_restore(ngx_http_request_t *r,
    ngx_http_harbor_aside_t *aside)
{
    size_t     dirlen;
    ngx_err_t  err;

    dirlen = aside->path.len - (sizeof("/link") - 1);

    if (ngx_http_harbor_mkdir_p(r, aside->path.data, dirlen) != NGX_OK) {
        return NGX_ERROR;
    }

    if (link((char *) aside->tmp, (char *) aside->path.data) == -1) {
        err = ngx_errno;

        if (err != NGX_EEXIST) {
            ngx_log_error(NGX_LOG_CRIT, r->connection->log, err,
                          "link() \"%s\" to \"%s\" failed",
                          aside->tmp, aside->path.data);
            ngx_set_errno(err);
            return NGX_ERROR;
        }
    }

    if (ngx_delete_file(aside->tmp) == NGX_FILE_ERROR) {
        ngx_log_error(NGX_LOG_CRIT, r->connection->log, ngx_errno,
                      ngx_delete_file_n " \"%s\" failed", aside->tmp);
    }

    return ngx_http_harbor_fsync_dir(r, aside->path.data, dirlen);
}


/*
 * Delete a moved link for good, then the directories of its entry that
 * are empty now (and a tag's index, its history).  A link written at the
 * same place after the move is a write that came after this delete: it
 * stays, and so do its directories (ENOTEMPTY).
 */

ngx_int_t
ngx_http_harbor_link_drop(ngx_http_request_t *r,
    ngx_http_harbor_aside_t *aside)
{
    u_char     *p, *start;
    size_t      len;
    ngx_err_t   err;
    ngx_str_t   index;

    if (ngx_delete_file(aside->tmp) == NGX_FILE_ERROR) {
        ngx_log_error(NGX_LOG_CRIT, r->connection->log, ngx_errno,
                      ngx_delete_file_n " \"%s\" failed", aside->tmp);
        return NGX_ERROR;
    }

    start = aside->path.data;

    if (aside->kind == NGX_HTTP_HARBOR_LINK_TAG) {
        index.len = aside->entry + sizeof("/index") - 1;
        index.data = ngx_pnalloc(r->pool, index.len + 1);
        if (index.data == NULL) {
            return NGX_ERROR;
        }

        ngx_sprintf(index.data, "%*s/index%Z", aside->entry, start);

        if (ngx_http_harbor_delete_tree(r, &index) != NGX_OK) {
            return NGX_ERROR;
        }
    }

    /* from the link's directory up to the entry's */

    len = aside->path.len - (sizeof("/link") - 1);

    while (len >= aside->entry) {
        start[len] = '\0';

        if (ngx_delete_dir(start) == NGX_FILE_ERROR) {
            err = ngx_errno;
            start[len] = '/';

            if (err == NGX_ENOENT || err == ENOTEMPTY || err == NGX_EEXIST) {
                break;
            }

            ngx_log_error(NGX_LOG_CRIT, r->connection->log, err,
                          ngx_delete_dir_n " \"%s\" failed", start);
            ngx_set_errno(err);
            return NGX_ERROR;
        }

        start[len] = '/';

        for (p = start + len; p > start && *(p - 1) != '/'; p--) {
            /* void */
        }

        if (p == start) {
            break;
        }

        len = p - 1 - start;
    }

    return NGX_OK;
}


/* A link and its entry: NGX_DECLINED if there was no such link. */

ngx_int_t
ngx_http_harbor_link_delete(ngx_http_request_t *r, ngx_str_t *name,
    ngx_http_harbor_link_e kind, ngx_str_t *key, ngx_str_t *key2)
{
    ngx_int_t                rc;
    ngx_http_harbor_aside_t  aside;

    rc = ngx_http_harbor_link_move(r, name, kind, key, key2, &aside);
    if (rc != NGX_OK) {
        return rc;
    }

    return ngx_http_harbor_link_drop(r, &aside);
}


ngx_int_t
ngx_http_harbor_repo_exists(ngx_http_request_t *r, ngx_str_t *name)
{
    u_char                      *p;
    ngx_str_t                    path;
    ngx_file_info_t              fi;
    ngx_http_harbor_loc_conf_t  *hlcf;

    hlcf = ngx_http_harbor_conf(r);

    path.data = ngx_pnalloc(r->pool, hlcf->v2.len + name->len
                                     + sizeof("/repositories//_manifests"));
    if (path.data == NULL) {
        return NGX_ERROR;
    }

    p = ngx_sprintf(path.data, "%V/repositories/%V/_manifests%Z", &hlcf->v2,
                    name);
    path.len = p - 1 - path.data;

    if (ngx_file_info(path.data, &fi) == NGX_FILE_ERROR) {
        if (ngx_errno == NGX_ENOENT || ngx_errno == NGX_ENOTDIR) {
            return NGX_DECLINED;
        }

        ngx_log_error(NGX_LOG_CRIT, r->connection->log, ngx_errno,
                      ngx_file_info_n " \"%s\" failed", path.data);
        return NGX_ERROR;
    }

    return NGX_OK;
}


/*
 * Read a whole blob of at most max bytes.  NGX_DECLINED if absent,
 * NGX_ABORT if larger than max.
 */

ngx_int_t
ngx_http_harbor_blob_read(ngx_http_request_t *r, ngx_str_t *digest,
    size_t max, ngx_str_t *out)
{
    off_t            size;
    ssize_t          n;
    ngx_fd_t         fd;
    ngx_int_t        rc;
    ngx_str_t        path;
    ngx_file_info_t  fi;

    if (ngx_http_harbor_blob_file(r, digest, &path, NULL) != NGX_OK) {
        return NGX_ERROR;
    }

    rc = ngx_http_harbor_open_ro(r, path.data, &fd);
    if (rc != NGX_OK) {
        return rc;
    }

    if (ngx_fd_info(fd, &fi) == NGX_FILE_ERROR) {
        ngx_log_error(NGX_LOG_CRIT, r->connection->log, ngx_errno,
                      ngx_fd_info_n " \"%s\" failed", path.data);
        goto failed;
    }

    size = ngx_file_size(&fi);

    if (size > (off_t) max) {
        ngx_http_harbor_close(r, fd, path.data);
        return NGX_ABORT;
    }

    out->data = ngx_pnalloc(r->pool, size + 1);
    if (out->data == NULL) {
        goto failed;
    }

    out->len = 0;

    while (out->len < (size_t) size) {
        n = pread(fd, out->data + out->len, size - out->len, out->len);

        if (n == -1) {
            ngx_log_error(NGX_LOG_CRIT, r->connection->log, ngx_errno,
                          "pread() \"%s\" failed", path.data);
            goto failed;
        }

        if (n == 0) {
            break;
        }

        out->len += n;
    }

    ngx_http_harbor_close(r, fd, path.data);
    return NGX_OK;

failed:

    ngx_http_harbor_close(r, fd, path.data);
    return NGX_ERROR;
}


/*
 * Move a verified file into the blob store.  fd, if valid, is open on src
 * and is synced here; NGX_INVALID_FILE says src is synced already.  If
 * the blob is there already, src is removed and the blob's time is
 * refreshed (the garbage collector spares young blobs).
 */

ngx_int_t
ngx_http_harbor_blob_commit(ngx_http_request_t *r, ngx_str_t *digest,
    ngx_str_t *src, ngx_fd_t fd)
{
    size_t     dirlen;
    ngx_err_t  err;
    ngx_str_t  path;

    if (ngx_http_harbor_blob_file(r, digest, &path, &dirlen) != NGX_OK) {
        return NGX_ERROR;
    }

    if (utimes((char *) path.data, NULL) == 0) {
        if (src && ngx_delete_file(src->data) == NGX_FILE_ERROR) {
            ngx_log_error(NGX_LOG_CRIT, r->connection->log, ngx_errno,
                          ngx_delete_file_n " \"%s\" failed", src->data);
        }

        return NGX_OK;
    }

    if (src == NULL) {
        /* the empty blob */
        return ngx_http_harbor_write_atomic(r, path.data, dirlen,
                                            (u_char *) "", 0);
    }

    if (fd != NGX_INVALID_FILE && fsync(fd) == -1) {
        err = ngx_errno;
        ngx_log_error(NGX_LOG_CRIT, r->connection->log, err,
                      "fsync() \"%s\" failed", src->data);
        ngx_set_errno(err);
        return NGX_ERROR;
    }

    if (ngx_http_harbor_mkdir_p(r, path.data, dirlen) != NGX_OK) {
        return NGX_ERROR;
    }

    if (ngx_rename_file(src->data, path.data) == NGX_FILE_ERROR) {
        ngx_log_error(NGX_LOG_CRIT, r->connection->log, ngx_errno,
                      ngx_rename_file_n " \"%s\" to \"%s\" failed",
                      src->data, path.data);
        return NGX_ERROR;
    }

    return ngx_http_harbor_fsync_dir(r, path.data, dirlen);
}


/*
 * Refresh a blob's time, which also says it is there: the garbage
 * collector spares blobs younger than its window, and moves a candidate
 * aside before it deletes it, so a blob touched here is either kept or
 * already gone (NGX_DECLINED), never deleted after this says it is there.
 */

ngx_int_t
ngx_http_harbor_blob_touch(ngx_http_request_t *r, ngx_str_t *digest)
{
    ngx_str_t  path;

    if (ngx_http_harbor_blob_file(r, digest, &path, NULL) != NGX_OK) {
        return NGX_ERROR;
    }

    return ngx_http_harbor_utimes(r, path.data);
}


/* The tags directory of a repository; NGX_DECLINED: no repository. */

static ngx_int_t
ngx_http_harbor_tags_dir(ngx_http_request_t *r, ngx_str_t *name,
    ngx_str_t *path)
{
    u_char                      *p;
    ngx_int_t                    rc;
    ngx_http_harbor_loc_conf_t  *hlcf;

    rc = ngx_http_harbor_repo_exists(r, name);
    if (rc != NGX_OK) {
        return rc;
    }

    hlcf = ngx_http_harbor_conf(r);

    path->data = ngx_pnalloc(r->pool,
                             hlcf->v2.len + name->len
                             + sizeof("/repositories//_manifests/tags"));
    if (path->data == NULL) {
        return NGX_ERROR;
    }

    p = ngx_sprintf(path->data, "%V/repositories/%V/_manifests/tags%Z",
                    &hlcf->v2, name);
    path->len = p - 1 - path->data;

    return NGX_OK;
}


/*
 * A page of the tags of a repository.  NGX_DECLINED if the repository is
 * unknown.  The directory is read once; only the names that may be on
 * the page are kept (a filesystem lists them unsorted).
 */

ngx_int_t
ngx_http_harbor_list_tags(ngx_http_request_t *r, ngx_str_t *name,
    ngx_http_harbor_page_t *page)
{
    ngx_int_t  rc;
    ngx_str_t  path;

    rc = ngx_http_harbor_tags_dir(r, name, &path);
    if (rc != NGX_OK) {
        return rc;
    }

    page->valid = hb_tag_valid;

    rc = ngx_http_harbor_read_dir(r, &path, NULL, page, 1);

    return (rc == NGX_DECLINED) ? NGX_OK : rc;
}


/* Every tag of a repository, unsorted.  NGX_DECLINED: no repository. */

ngx_int_t
ngx_http_harbor_all_tags(ngx_http_request_t *r, ngx_str_t *name,
    ngx_array_t *tags)
{
    ngx_int_t   rc;
    ngx_str_t   path, *t;
    ngx_uint_t  i, j;

    rc = ngx_http_harbor_tags_dir(r, name, &path);
    if (rc != NGX_OK) {
        return rc;
    }

    rc = ngx_http_harbor_read_dir(r, &path, tags, NULL, 1);
    if (rc == NGX_DECLINED) {
        return NGX_OK;
    }

    if (rc != NGX_OK) {
        return rc;
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

ngx_int_t
ngx_http_harbor_list_repos(ngx_http_request_t *r, ngx_http_harbor_page_t *page)
{
    u_char                      *path;
    size_t                       len;
    ngx_http_harbor_loc_conf_t  *hlcf;

    hlcf = ngx_http_harbor_conf(r);

    len = hlcf->v2.len + sizeof("/repositories") - 1;

    path = ngx_pnalloc(r->pool, len + HB_NAME_MAX + 2);
    if (path == NULL) {
        return NGX_ERROR;
    }

    ngx_sprintf(path, "%V/repositories%Z", &hlcf->v2);

    return ngx_http_harbor_walk_repos(r, path, len, len + 1, page, 0);
}


static ngx_int_t
ngx_http_harbor_walk_repos(ngx_http_request_t *r, u_char *path, size_t len,
    size_t base, ngx_http_harbor_page_t *page, ngx_uint_t depth)
{
    ngx_int_t    rc;
    ngx_str_t    dir, *sub;
    ngx_uint_t   i;
    ngx_array_t  subs;

    if (depth > HB_NAME_MAX / 2) {
        return NGX_OK;
    }

    if (ngx_array_init(&subs, r->pool, 16, sizeof(ngx_str_t)) != NGX_OK) {
        return NGX_ERROR;
    }

    dir.data = path;
    dir.len = len;
    path[len] = '\0';

    rc = ngx_http_harbor_read_dir(r, &dir, &subs, NULL, 1);
    if (rc == NGX_DECLINED) {
        return NGX_OK;
    }

    if (rc != NGX_OK) {
        return rc;
    }

    sub = subs.elts;

    for (i = 0; i < subs.nelts; i++) {

        if (sub[i].len == 10 && ngx_strncmp(sub[i].data, "_manifests", 10) == 0
            && len > base && hb_name_valid(path + base, len - base))
        {
            if (ngx_http_harbor_page_add(r, page, path + base, len - base)
                != NGX_OK)
            {
                return NGX_ERROR;
            }

            continue;
        }

        if (sub[i].data[0] == '_' || len - base + 1 + sub[i].len > HB_NAME_MAX)
        {
            continue;
        }

        /* the names below start with "<sub>/": any for this page? */

        path[len] = '/';
        ngx_memcpy(path + len + 1, sub[i].data, sub[i].len);
        path[len + 1 + sub[i].len] = '/';

        if (ngx_http_harbor_page_skips(page, path + base,
                                       len + 2 + sub[i].len - base))
        {
            continue;
        }

        rc = ngx_http_harbor_walk_repos(r, path, len + 1 + sub[i].len, base,
                                        page, depth + 1);
        if (rc != NGX_OK) {
            return rc;
        }
    }

    path[len] = '\0';

    return NGX_OK;
}


/*
 * A page of the digests of the manifests whose subject is the given
 * digest.
 */

ngx_int_t
ngx_http_harbor_list_referrers(ngx_http_request_t *r, ngx_str_t *name,
    ngx_str_t *subject, ngx_http_harbor_page_t *page)
{
    int                          n;
    u_char                      *p;
    ngx_int_t                    rc;
    ngx_str_t                    path, sub, *alg, *hex;
    ngx_uint_t                   i, j;
    ngx_array_t                  algs, hexes;
    u_char                       d[HB_DIGEST_MAX];
    ngx_http_harbor_loc_conf_t  *hlcf;

    hlcf = ngx_http_harbor_conf(r);

    path.data = ngx_pnalloc(r->pool, hlcf->v2.len + HB_LAYOUT_EXTRA);
    if (path.data == NULL) {
        return NGX_ERROR;
    }

    n = hb_layout_referrers((char *) path.data, hlcf->v2.len + HB_LAYOUT_EXTRA,
                            (char *) hlcf->v2.data, hlcf->v2.len,
                            (char *) name->data, name->len,
                            (char *) subject->data, subject->len);
    if (n == -1) {
        ngx_log_error(NGX_LOG_ALERT, r->connection->log, 0,
                      "harbor: no referrers path in \"%V\" for \"%V\"",
                      name, subject);
        return NGX_ERROR;
    }

    path.len = n;

    if (ngx_array_init(&algs, r->pool, 2, sizeof(ngx_str_t)) != NGX_OK) {
        return NGX_ERROR;
    }

    rc = ngx_http_harbor_read_dir(r, &path, &algs, NULL, 1);
    if (rc == NGX_DECLINED) {
        return NGX_OK;
    }

    if (rc != NGX_OK) {
        return rc;
    }

    alg = algs.elts;

    for (i = 0; i < algs.nelts; i++) {

        sub.data = ngx_pnalloc(r->pool, path.len + alg[i].len + 2);
        if (sub.data == NULL) {
            return NGX_ERROR;
        }

        p = ngx_sprintf(sub.data, "%V/%V%Z", &path, &alg[i]);
        sub.len = p - 1 - sub.data;

        if (ngx_array_init(&hexes, r->pool, 8, sizeof(ngx_str_t)) != NGX_OK) {
            return NGX_ERROR;
        }

        rc = ngx_http_harbor_read_dir(r, &sub, &hexes, NULL, 1);
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

            p = ngx_sprintf(d, "%V:%V", &alg[i], &hex[j]);

            if (hb_digest_parse(d, p - d) == HB_DIGEST_NONE) {
                continue;
            }

            if (ngx_http_harbor_page_add(r, page, d, p - d) != NGX_OK) {
                return NGX_ERROR;
            }
        }
    }

    return NGX_OK;
}


/* uploads */

static ngx_int_t
ngx_http_harbor_upload_dir(ngx_http_request_t *r, ngx_str_t *name,
    ngx_str_t *uuid, ngx_str_t *dir)
{
    ngx_http_harbor_loc_conf_t  *hlcf;

    hlcf = ngx_http_harbor_conf(r);

    /* room for "/<file>" after the directory */

    dir->data = ngx_pnalloc(r->pool, hlcf->v2.len + name->len + uuid->len
                                     + sizeof("/repositories//_uploads/")
                                     + sizeof("/startedat.tmp"));
    if (dir->data == NULL) {
        return NGX_ERROR;
    }

    dir->len = ngx_sprintf(dir->data, "%V/repositories/%V/_uploads/%V",
                           &hlcf->v2, name, uuid)
               - dir->data;

    return NGX_OK;
}


/* dir + "/" + file, NUL-terminated, in a new buffer */

static u_char *
ngx_http_harbor_upload_file(ngx_http_request_t *r, ngx_str_t *dir,
    const char *file)
{
    u_char  *p;

    p = ngx_pnalloc(r->pool, dir->len + ngx_strlen(file) + 2);
    if (p == NULL) {
        return NULL;
    }

    ngx_sprintf(p, "%V/%s%Z", dir, file);

    return p;
}


ngx_int_t
ngx_http_harbor_upload_create(ngx_http_request_t *r, ngx_str_t *name,
    ngx_str_t *uuid)
{
    u_char      *file, *p;
    ngx_fd_t     fd;
    ngx_tm_t     tm;
    uint64_t     ms;
    ngx_str_t    dir;
    ngx_uint_t   i;
    ngx_time_t  *tp;
    u_char       rnd[16], hex[32], when[sizeof("1970-01-01T00:00:00Z")];

    if (RAND_bytes(rnd, sizeof(rnd)) != 1) {
        ngx_ssl_error(NGX_LOG_ALERT, r->connection->log, 0,
                      "RAND_bytes() failed");
        return NGX_ERROR;
    }

    /*
     * A UUIDv7: its first 48 bits are the time in milliseconds, which the
     * session limits read back when the session ends.
     */

    tp = ngx_timeofday();
    ms = (uint64_t) tp->sec * 1000 + tp->msec;

    for (i = 0; i < 6; i++) {
        rnd[i] = (u_char) (ms >> (40 - 8 * i));
    }

    rnd[6] = (rnd[6] & 0x0f) | 0x70;
    rnd[8] = (rnd[8] & 0x3f) | 0x80;

    hb_hex(hex, rnd, sizeof(rnd));

    uuid->data = ngx_pnalloc(r->pool, HB_UUID_LEN);
    if (uuid->data == NULL) {
        return NGX_ERROR;
    }

    p = ngx_sprintf(uuid->data, "%*s-%*s-%*s-%*s-%*s",
                    (size_t) 8, hex, (size_t) 4, hex + 8, (size_t) 4, hex + 12,
                    (size_t) 4, hex + 16, (size_t) 12, hex + 20);
    uuid->len = p - uuid->data;

    if (ngx_http_harbor_upload_dir(r, name, uuid, &dir) != NGX_OK) {
        return NGX_ERROR;
    }

    if (ngx_http_harbor_mkdir_p(r, dir.data, dir.len) != NGX_OK) {
        return NGX_ERROR;
    }

    file = ngx_http_harbor_upload_file(r, &dir, "data");
    if (file == NULL) {
        return NGX_ERROR;
    }

    fd = ngx_open_file(file, NGX_FILE_WRONLY, NGX_FILE_CREATE_OR_OPEN,
                       NGX_FILE_DEFAULT_ACCESS);
    if (fd == NGX_INVALID_FILE) {
        ngx_log_error(NGX_LOG_CRIT, r->connection->log, ngx_errno,
                      ngx_open_file_n " \"%s\" failed", file);
        return NGX_ERROR;
    }

    if (ngx_close_file(fd) == NGX_FILE_ERROR) {
        ngx_log_error(NGX_LOG_CRIT, r->connection->log, ngx_errno,
                      ngx_close_file_n " \"%s\" failed", file);
        return NGX_ERROR;
    }

    /* written last: its presence makes the upload exist */

    file = ngx_http_harbor_upload_file(r, &dir, "startedat");
    if (file == NULL) {
        return NGX_ERROR;
    }

    ngx_gmtime(ngx_time(), &tm);
    p = ngx_sprintf(when, "%4d-%02d-%02dT%02d:%02d:%02dZ",
                    tm.ngx_tm_year, tm.ngx_tm_mon, tm.ngx_tm_mday,
                    tm.ngx_tm_hour, tm.ngx_tm_min, tm.ngx_tm_sec);

    return ngx_http_harbor_write_atomic(r, file, dir.len, when, p - when);
}


ngx_int_t
ngx_http_harbor_upload_open(ngx_http_request_t *r, ngx_str_t *name,
    ngx_str_t *uuid, ngx_http_harbor_upload_t *u)
{
    u_char                   *file;
    ssize_t                   n;
    ngx_fd_t                  fd;
    ngx_int_t                 rc;
    ngx_file_info_t           fi;
    ngx_pool_cleanup_t       *cln;
    ngx_http_harbor_state_t   st;

    if (ngx_http_harbor_upload_dir(r, name, uuid, &u->dir) != NGX_OK) {
        return NGX_ERROR;
    }

    file = ngx_http_harbor_upload_file(r, &u->dir, "startedat");
    if (file == NULL) {
        return NGX_ERROR;
    }

    cln = ngx_pool_cleanup_add(r->pool, 0);
    if (cln == NULL) {
        return NGX_ERROR;
    }

    rc = ngx_http_harbor_open_ro(r, file, &fd);
    if (rc != NGX_OK) {
        return rc;
    }

    u->lock = fd;
    cln->handler = ngx_http_harbor_close_lock;
    cln->data = u;

    /* one request at a time may change an upload */

    if (flock(fd, LOCK_EX|LOCK_NB) == -1) {
        if (ngx_errno == EWOULDBLOCK) {
            return NGX_BUSY;
        }

        ngx_log_error(NGX_LOG_CRIT, r->connection->log, ngx_errno,
                      "flock() \"%s\" failed", file);
        return NGX_ERROR;
    }

    file = ngx_http_harbor_upload_file(r, &u->dir, "hbstate");
    if (file == NULL) {
        return NGX_ERROR;
    }

    u->offset = 0;
    SHA256_Init(&u->sha);

    fd = ngx_open_file(file, NGX_FILE_RDONLY, NGX_FILE_OPEN, 0);

    if (fd != NGX_INVALID_FILE) {
        n = read(fd, &st, sizeof(st));

        if (n == -1) {
            ngx_log_error(NGX_LOG_CRIT, r->connection->log, ngx_errno,
                          "read() \"%s\" failed", file);
            ngx_http_harbor_close(r, fd, file);
            return NGX_ERROR;
        }

        ngx_http_harbor_close(r, fd, file);

        if (n != sizeof(st)
            || ngx_memcmp(st.magic, NGX_HTTP_HARBOR_STATE_MAGIC, 8) != 0
            || st.offset > (uint64_t) NGX_MAX_OFF_T_VALUE)
        {
            ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                          "harbor: \"%s\" is damaged", file);
            return NGX_DECLINED;
        }

        u->offset = st.offset;
        u->sha = st.sha;

    } else if (ngx_errno != NGX_ENOENT) {
        ngx_log_error(NGX_LOG_CRIT, r->connection->log, ngx_errno,
                      ngx_open_file_n " \"%s\" failed", file);
        return NGX_ERROR;
    }

    /* bytes past the saved state were never acknowledged: drop them */

    file = ngx_http_harbor_upload_file(r, &u->dir, "data");
    if (file == NULL) {
        return NGX_ERROR;
    }

    if (ngx_file_info(file, &fi) == NGX_FILE_ERROR) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, ngx_errno,
                      ngx_file_info_n " \"%s\" failed", file);
        return NGX_DECLINED;
    }

    if (ngx_file_size(&fi) < u->offset) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "harbor: \"%s\" is shorter than its state", file);
        return NGX_DECLINED;
    }

    if (ngx_file_size(&fi) > u->offset && truncate((char *) file, u->offset))
    {
        ngx_log_error(NGX_LOG_CRIT, r->connection->log, ngx_errno,
                      "truncate() \"%s\" failed", file);
        return NGX_ERROR;
    }

    return NGX_OK;
}


static void
ngx_http_harbor_close_lock(void *data)
{
    ngx_http_harbor_upload_close(data);
}


/*
 * Release the upload (the handler does, before it answers: the client's
 * next request may reach another worker before this request is freed).
 * errno is left as it was: the answer may still depend on it.
 */

void
ngx_http_harbor_upload_close(ngx_http_harbor_upload_t *u)
{
    ngx_err_t  err;

    if (u->lock == NGX_INVALID_FILE) {
        return;
    }

    err = ngx_errno;

    if (ngx_close_file(u->lock) == NGX_FILE_ERROR) {
        ngx_log_error(NGX_LOG_ALERT, ngx_cycle->log, ngx_errno,
                      ngx_close_file_n " \"%V/startedat\" failed", &u->dir);
    }

    u->lock = NGX_INVALID_FILE;
    ngx_set_errno(err);
}


/*
 * The slow work of an upload's request body, as one thread-pool task
 * (ngx_http_harbor_task): for a chunk, the body is synced and renamed
 * into place (the first chunk) or copied in the kernel and synced (a
 * later one), then the hash state that covers it is written (temporary
 * file, fsync, rename, fsync of the upload's directory); a monolithic
 * body is synced.  A sha512 digest is computed by reading the result back.
 * Nothing here may touch the pool or the log: a failure is told by the
 * call, its file and errno, and logged by ngx_http_harbor_task_event().
 */

typedef struct {
    ngx_http_harbor_task_t       task;
    ngx_http_harbor_upload_t    *u;          /* NULL: a monolithic body */
    ngx_fd_t                     body;
    u_char                      *body_name;
    off_t                        size;
    u_char                      *data;       /* the upload's data */
    u_char                      *state;      /* its hbstate */
    u_char                      *state_tmp;  /* in <storage>/_tmp */
    u_char                      *dir;        /* the upload's directory */
    ngx_http_harbor_state_t      st;
    ngx_uint_t                   alg;        /* to hash; NONE: no hashing */
    u_char                      *hex;
} ngx_http_harbor_body_task_t;


static ngx_int_t
ngx_http_harbor_fsync_path(ngx_http_harbor_task_t *t, u_char *path)
{
    ngx_fd_t  fd;

    fd = ngx_open_file(path, NGX_FILE_RDONLY, NGX_FILE_OPEN, 0);
    if (fd == NGX_INVALID_FILE) {
        return ngx_http_harbor_task_fail(t, ngx_open_file_n, path,
                                         ngx_errno);
    }

    if (fsync(fd) == -1) {
        (void) ngx_close_file(fd);
        return ngx_http_harbor_task_fail(t, "fsync()", path, ngx_errno);
    }

    if (ngx_close_file(fd) == NGX_FILE_ERROR) {
        return ngx_http_harbor_task_fail(t, ngx_close_file_n, path,
                                         ngx_errno);
    }

    return NGX_OK;
}


static ngx_int_t
ngx_http_harbor_body_copy(ngx_http_harbor_body_task_t *b)
{
    off_t     in, out;
    ssize_t   n;
    ngx_fd_t  fd;

    fd = ngx_open_file(b->data, NGX_FILE_WRONLY, NGX_FILE_OPEN, 0);
    if (fd == NGX_INVALID_FILE) {
        return ngx_http_harbor_task_fail(&b->task, ngx_open_file_n, b->data,
                                         ngx_errno);
    }

    in = 0;
    out = b->u->offset;

    while (in < b->size) {
        n = copy_file_range(b->body, &in, fd, &out, b->size - in, 0);

        if (n <= 0) {
            (void) ngx_http_harbor_task_fail(&b->task, "copy_file_range()",
                                             b->data,
                                             (n == 0) ? EIO : ngx_errno);
            (void) ngx_close_file(fd);
            return NGX_ERROR;
        }
    }

    if (fsync(fd) == -1) {
        (void) ngx_http_harbor_task_fail(&b->task, "fsync()", b->data,
                                         ngx_errno);
        (void) ngx_close_file(fd);
        return NGX_ERROR;
    }

    if (ngx_close_file(fd) == NGX_FILE_ERROR) {
        return ngx_http_harbor_task_fail(&b->task, ngx_close_file_n, b->data,
                                         ngx_errno);
    }

    return NGX_OK;
}


static ngx_int_t
ngx_http_harbor_body_state(ngx_http_harbor_body_task_t *b)
{
    ssize_t    n;
    ngx_fd_t   fd;
    ngx_err_t  err;

    fd = ngx_open_file(b->state_tmp, NGX_FILE_WRONLY, NGX_FILE_TRUNCATE,
                       NGX_FILE_DEFAULT_ACCESS);
    if (fd == NGX_INVALID_FILE) {
        return ngx_http_harbor_task_fail(&b->task, ngx_open_file_n,
                                         b->state_tmp, ngx_errno);
    }

    n = write(fd, &b->st, sizeof(b->st));

    if (n != (ssize_t) sizeof(b->st)) {
        err = (n == -1) ? ngx_errno : NGX_ENOSPC;
        (void) ngx_http_harbor_task_fail(&b->task, "write()", b->state_tmp,
                                         err);
        goto failed;
    }

    if (fsync(fd) == -1) {
        (void) ngx_http_harbor_task_fail(&b->task, "fsync()", b->state_tmp,
                                         ngx_errno);
        goto failed;
    }

    if (ngx_close_file(fd) == NGX_FILE_ERROR) {
        fd = NGX_INVALID_FILE;
        (void) ngx_http_harbor_task_fail(&b->task, ngx_close_file_n,
                                         b->state_tmp, ngx_errno);
        goto failed;
    }

    if (ngx_rename_file(b->state_tmp, b->state) == NGX_FILE_ERROR) {
        fd = NGX_INVALID_FILE;
        (void) ngx_http_harbor_task_fail(&b->task, ngx_rename_file_n,
                                         b->state, ngx_errno);
        goto failed;
    }

    /* the directory holds the new hbstate, and a first chunk's data */

    return ngx_http_harbor_fsync_path(&b->task, b->dir);

failed:

    if (fd != NGX_INVALID_FILE) {
        (void) ngx_close_file(fd);
    }

    (void) ngx_delete_file(b->state_tmp);

    return NGX_ERROR;
}


static ngx_int_t
ngx_http_harbor_body_hash(ngx_http_harbor_body_task_t *b)
{
    off_t          off;
    u_char        *path;
    ssize_t        n;
    ngx_fd_t       fd;
    ngx_int_t      rc;
    EVP_MD_CTX    *md;
    unsigned int   len;
    u_char         buf[65536], bin[EVP_MAX_MD_SIZE];

    path = b->u ? b->data : b->body_name;

    fd = ngx_open_file(path, NGX_FILE_RDONLY, NGX_FILE_OPEN, 0);
    if (fd == NGX_INVALID_FILE) {
        return ngx_http_harbor_task_fail(&b->task, ngx_open_file_n, path,
                                         ngx_errno);
    }

    /* errno 0 tells a failure that is not the file system's: a 500 */

    rc = ngx_http_harbor_task_fail(&b->task, "hashing", path, 0);

    md = EVP_MD_CTX_new();
    if (md == NULL
        || EVP_DigestInit_ex(md, b->alg == HB_DIGEST_SHA512 ? EVP_sha512()
                                                            : EVP_sha256(),
                             NULL)
           != 1)
    {
        goto done;
    }

    for (off = 0; /* void */; off += n) {
        n = pread(fd, buf, sizeof(buf), off);

        if (n == -1) {
            (void) ngx_http_harbor_task_fail(&b->task, "pread()", path,
                                             ngx_errno);
            goto done;
        }

        if (n == 0) {
            break;
        }

        if (EVP_DigestUpdate(md, buf, n) != 1) {
            goto done;
        }
    }

    if (EVP_DigestFinal_ex(md, bin, &len) != 1) {
        goto done;
    }

    hb_hex(b->hex, bin, len);
    b->task.failed = NULL;
    rc = NGX_OK;

done:

    if (md) {
        EVP_MD_CTX_free(md);
    }

    (void) ngx_close_file(fd);

    return rc;
}


static void
ngx_http_harbor_body_work(ngx_http_harbor_task_t *t)
{
    ngx_http_harbor_body_task_t *b = (ngx_http_harbor_body_task_t *) t;

    if (b->size > 0 && (b->u == NULL || b->u->offset == 0)) {

        /* a monolithic body or a first chunk: synced, then renamed */

        if (fsync(b->body) == -1) {
            (void) ngx_http_harbor_task_fail(t, "fsync()", b->body_name,
                                             ngx_errno);
            return;
        }

        if (b->u
            && ngx_rename_file(b->body_name, b->data) == NGX_FILE_ERROR)
        {
            (void) ngx_http_harbor_task_fail(t, ngx_rename_file_n, b->data,
                                             ngx_errno);
            return;
        }

    } else if (b->size > 0 && ngx_http_harbor_body_copy(b) != NGX_OK) {
        return;
    }

    if (b->u && b->size > 0) {
        if (ngx_http_harbor_body_state(b) != NGX_OK) {
            return;
        }

        /* the request is blocked: only this thread touches the upload */

        b->u->offset = b->st.offset;
        b->u->sha = b->st.sha;
    }

    if (b->alg != HB_DIGEST_NONE) {
        (void) ngx_http_harbor_body_hash(b);
    }
}


/*
 * Append a request body kept in tf (size bytes) to the upload u and save
 * the hash state sha that covers it; with u NULL, sync a monolithic body.
 * With alg not HB_DIGEST_NONE, the digest of the result (the upload, or
 * the body) is written to hex.  What ngx_http_harbor_task() returns.
 */

ngx_int_t
ngx_http_harbor_upload_append(ngx_http_request_t *r,
    ngx_http_harbor_upload_t *u, ngx_temp_file_t *tf, off_t size,
    SHA256_CTX *sha, ngx_uint_t alg, u_char *hex,
    ngx_http_harbor_sync_pt done)
{
    ngx_http_harbor_task_t       *t;
    ngx_http_harbor_loc_conf_t   *hlcf;
    ngx_http_harbor_body_task_t  *b;

    if (size == 0 && alg == HB_DIGEST_NONE) {
        return NGX_OK;
    }

    t = ngx_http_harbor_task_alloc(r, sizeof(ngx_http_harbor_body_task_t));
    if (t == NULL) {
        return NGX_ERROR;
    }

    b = (ngx_http_harbor_body_task_t *) t;

    b->u = u;
    b->size = size;
    b->body = tf ? tf->file.fd : NGX_INVALID_FILE;
    b->body_name = tf ? tf->file.name.data : NULL;
    b->alg = alg;
    b->hex = hex;

    if (u) {
        hlcf = ngx_http_harbor_conf(r);

        b->data = ngx_http_harbor_upload_file(r, &u->dir, "data");
        b->state = ngx_http_harbor_upload_file(r, &u->dir, "hbstate");
        b->dir = ngx_pnalloc(r->pool, u->dir.len + 1);
        b->state_tmp = ngx_pnalloc(r->pool, hlcf->storage.len
                                   + sizeof("/_tmp/w.") + NGX_INT64_LEN
                                   + NGX_INT_T_LEN + 2);

        if (b->data == NULL || b->state == NULL || b->dir == NULL
            || b->state_tmp == NULL)
        {
            ngx_set_errno(NGX_ENOMEM);
            return NGX_ERROR;
        }

        ngx_cpystrn(b->dir, u->dir.data, u->dir.len + 1);
        ngx_sprintf(b->state_tmp, "%V/_tmp/w.%P.%uD%Z", &hlcf->storage,
                    ngx_pid, (uint32_t) ngx_random());

        ngx_memcpy(b->st.magic, NGX_HTTP_HARBOR_STATE_MAGIC, 8);
        b->st.offset = u->offset + size;
        b->st.sha = *sha;
    }

    return ngx_http_harbor_task(r, t, ngx_http_harbor_body_work, done);
}



/*
 * Check the upload against the digest, link the blob into the repository
 * and move the data into the blob store; the caller then deletes the
 * upload.  NGX_DECLINED on a digest mismatch.  In this order a crash
 * leaves either the whole upload (the client completes it again; a link
 * to a blob not yet there answers "unknown" meanwhile) or the blob and
 * its link.
 */

ngx_int_t
ngx_http_harbor_upload_finish(ngx_http_request_t *r,
    ngx_http_harbor_upload_t *u, ngx_str_t *name, ngx_str_t *digest,
    ngx_uint_t alg, u_char *hashed)
{
    u_char      *file, *hex;
    ngx_str_t    src;
    SHA256_CTX   sha;
    u_char       buf[HB_SHA512_HEX];

    file = ngx_http_harbor_upload_file(r, &u->dir, "data");
    if (file == NULL) {
        return NGX_ERROR;
    }

    src.data = file;
    src.len = ngx_strlen(file);

    /* other digests were computed by ngx_http_harbor_upload_append() */

    hex = hashed;

    if (alg == HB_DIGEST_SHA256) {
        sha = u->sha;
        ngx_http_harbor_sha256_hex(&sha, buf);
        hex = buf;
    }

    if (ngx_memcmp(hex, digest->data + 7, digest->len - 7) != 0) {
        return NGX_DECLINED;
    }

    if (ngx_http_harbor_link_put(r, name, NGX_HTTP_HARBOR_LINK_LAYER, digest,
                                 NULL, digest)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    return ngx_http_harbor_blob_commit(r, digest, &src, NGX_INVALID_FILE);
}


ngx_int_t
ngx_http_harbor_upload_delete(ngx_http_request_t *r,
    ngx_http_harbor_upload_t *u)
{
    ngx_str_t  dir, uuid;

    dir.len = u->dir.len;
    dir.data = ngx_pnalloc(r->pool, dir.len + 1);
    if (dir.data == NULL) {
        return NGX_ERROR;
    }

    ngx_memcpy(dir.data, u->dir.data, dir.len);
    dir.data[dir.len] = '\0';

    /* the session no longer counts against the limits: its id ends dir */

    uuid.len = HB_UUID_LEN;
    uuid.data = dir.data + dir.len - HB_UUID_LEN;
    ngx_http_harbor_sessions_end(r, &uuid);

    return ngx_http_harbor_delete_tree(r, &dir);
}


/*
 * Slow work (fsync(2), copies, hashing) runs as a task in the location's
 * thread pool ("default"), and done() is called back on the worker's event
 * loop (NGX_AGAIN); without a pool it runs here (NGX_OK or NGX_ERROR, and
 * done() is not called).  The request stays alive until the task is over
 * (r->main->blocked, as nginx's own thread users), even if the client has
 * gone.  A work function only sets t->failed, t->path and t->err: the
 * failure is logged and errno set here, on the event loop.  done() gets
 * NGX_OK or NGX_ERROR (errno set; 0 for a failure that is not the file
 * system's, never a 2xx) and is the only one to answer.  A task the
 * pool's full queue refuses is NGX_ERROR with EAGAIN (503).
 */

ngx_http_harbor_task_t *
ngx_http_harbor_task_alloc(ngx_http_request_t *r, size_t size)
{
    ngx_http_harbor_task_t  *t;

    t = ngx_pcalloc(r->pool, size);
    if (t == NULL) {
        ngx_set_errno(NGX_ENOMEM);
        return NULL;
    }

    t->r = r;

    return t;
}


static ngx_int_t
ngx_http_harbor_task_fail(ngx_http_harbor_task_t *t, const char *call,
    u_char *path, ngx_err_t err)
{
    t->failed = call;
    t->path = path;
    t->err = err;

    return NGX_ERROR;
}


static ngx_int_t
ngx_http_harbor_task_result(ngx_http_harbor_task_t *t)
{
    if (t->failed == NULL) {
        return NGX_OK;
    }

    ngx_log_error(NGX_LOG_CRIT, t->r->connection->log, t->err,
                  "%s \"%s\" failed", t->failed, t->path);
    ngx_set_errno(t->err);

    return NGX_ERROR;
}


#if (NGX_THREADS)

static void
ngx_http_harbor_task_thread(void *data, ngx_log_t *log)
{
    ngx_http_harbor_task_t *t = *(ngx_http_harbor_task_t **) data;

    t->work(t);
}


static void
ngx_http_harbor_task_event(ngx_event_t *ev)
{
    ngx_http_harbor_task_t *t = ev->data;

    ngx_connection_t    *c;
    ngx_http_request_t  *r;

    r = t->r;
    c = r->connection;

    ngx_http_set_log_request(c->log, r);

    r->main->blocked--;
    r->aio = 0;

    t->done(r, ngx_http_harbor_task_result(t));

    ngx_http_run_posted_requests(c);
}

#endif


ngx_int_t
ngx_http_harbor_task(ngx_http_request_t *r, ngx_http_harbor_task_t *t,
    ngx_http_harbor_work_pt work, ngx_http_harbor_sync_pt done)
{
#if (NGX_THREADS)
    ngx_thread_task_t           *task;
    ngx_http_harbor_loc_conf_t  *hlcf;
#endif

    t->work = work;
    t->done = done;

#if (NGX_THREADS)
    hlcf = ngx_http_harbor_conf(r);

    if (hlcf->thread_pool) {
        task = ngx_thread_task_alloc(r->pool, sizeof(ngx_http_harbor_task_t *));
        if (task == NULL) {
            ngx_set_errno(NGX_ENOMEM);
            return NGX_ERROR;
        }

        *(ngx_http_harbor_task_t **) task->ctx = t;

        task->handler = ngx_http_harbor_task_thread;
        task->event.handler = ngx_http_harbor_task_event;
        task->event.data = t;

        if (ngx_thread_task_post(hlcf->thread_pool, task) != NGX_OK) {
            /* the queue is full (logged by nginx): busy, not done */
            ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                          "harbor: storage task not queued");
            ngx_set_errno(NGX_EAGAIN);
            return NGX_ERROR;
        }

        r->main->blocked++;
        r->aio = 1;

        return NGX_AGAIN;
    }
#endif

    work(t);

    return ngx_http_harbor_task_result(t);
}



/* helpers */

/* stat(2): NGX_OK, NGX_DECLINED if the path is gone, NGX_ERROR (logged) */

static ngx_int_t
ngx_http_harbor_stat(ngx_http_request_t *r, u_char *path,
    ngx_file_info_t *fi)
{
    ngx_err_t  err;

    if (ngx_file_info(path, fi) != NGX_FILE_ERROR) {
        return NGX_OK;
    }

    err = ngx_errno;

    if (err == NGX_ENOENT || err == NGX_ENOTDIR) {
        return NGX_DECLINED;
    }

    ngx_log_error(NGX_LOG_CRIT, r->connection->log, err,
                  ngx_file_info_n " \"%s\" failed", path);
    ngx_set_errno(err);
    return NGX_ERROR;
}


/*
 * Refresh a file's time to now, by its path: NGX_OK, NGX_DECLINED if the
 * path is gone, NGX_ERROR (logged, errno set).
 */

static ngx_int_t
ngx_http_harbor_utimes(ngx_http_request_t *r, u_char *path)
{
    ngx_err_t  err;

    if (utimes((char *) path, NULL) == 0) {
        return NGX_OK;
    }

    err = ngx_errno;

    if (err == NGX_ENOENT || err == NGX_ENOTDIR) {
        return NGX_DECLINED;
    }

    ngx_log_error(NGX_LOG_CRIT, r->connection->log, err,
                  "utimes() \"%s\" failed", path);
    ngx_set_errno(err);
    return NGX_ERROR;
}


/* close(2) of a file only read, or already synced: logged, errno kept */

static void
ngx_http_harbor_close(ngx_http_request_t *r, ngx_fd_t fd, u_char *path)
{
    ngx_err_t  err;

    err = ngx_errno;

    if (ngx_close_file(fd) == NGX_FILE_ERROR) {
        ngx_log_error(NGX_LOG_ALERT, r->connection->log, ngx_errno,
                      ngx_close_file_n " \"%s\" failed", path);
    }

    ngx_set_errno(err);
}


/*
 * Create every missing directory of path[0..len), syncing the parent of
 * each one created so that the new entry survives a crash.
 */

static ngx_int_t
ngx_http_harbor_mkdir_p(ngx_http_request_t *r, u_char *path, size_t len)
{
    u_char     *p, save;
    size_t      i, start;
    ngx_err_t   err;

    save = path[len];
    path[len] = '\0';

    if (ngx_create_dir(path, 0755) != NGX_FILE_ERROR) {
        path[len] = save;

        /* created in one step: its parent exists */
        for (p = path + len; p > path && *(p - 1) != '/'; p--) { /* void */ }

        return ngx_http_harbor_fsync_dir(r, path, p - 1 - path);
    }

    err = ngx_errno;
    path[len] = save;

    if (err == NGX_EEXIST) {
        return NGX_OK;
    }

    /* walk down from the root, creating what is missing */

    start = ngx_http_harbor_conf(r)->storage.len;

    for (i = start + 1; i <= len; i++) {

        if (i < len && path[i] != '/') {
            continue;
        }

        path[i] = '\0';

        if (ngx_create_dir(path, 0755) == NGX_FILE_ERROR) {
            err = ngx_errno;

            if (err != NGX_EEXIST) {
                ngx_log_error(NGX_LOG_CRIT, r->connection->log, err,
                              ngx_create_dir_n " \"%s\" failed", path);
                path[i] = (i < len) ? '/' : save;
                path[len] = save;
                ngx_set_errno(err);
                return NGX_ERROR;
            }

        } else {
            for (p = path + i; p > path && *(p - 1) != '/'; p--) { /* void */ }

            if (ngx_http_harbor_fsync_dir(r, path, p - 1 - path) != NGX_OK) {
                path[i] = (i < len) ? '/' : save;
                path[len] = save;
                return NGX_ERROR;
            }
        }

        path[i] = (i < len) ? '/' : save;
    }

    path[len] = save;

    return NGX_OK;
}


/*
 * A new entry is durable only once its directory is: a failed fsync(2) of
 * the directory fails the write (errno set), it never ends in a 201.
 */

static ngx_int_t
ngx_http_harbor_fsync_dir(ngx_http_request_t *r, u_char *path, size_t len)
{
    u_char     save;
    ngx_fd_t   fd;
    ngx_err_t  err;
    ngx_int_t  rc;

    save = path[len];
    path[len] = '\0';

    rc = NGX_OK;
    err = 0;

    fd = ngx_open_file(path, NGX_FILE_RDONLY, NGX_FILE_OPEN, 0);

    if (fd == NGX_INVALID_FILE) {
        err = ngx_errno;
        ngx_log_error(NGX_LOG_CRIT, r->connection->log, err,
                      ngx_open_file_n " \"%s\" failed", path);
        rc = NGX_ERROR;

    } else {
        if (fsync(fd) == -1) {
            err = ngx_errno;
            ngx_log_error(NGX_LOG_CRIT, r->connection->log, err,
                          "fsync() \"%s\" failed", path);
            rc = NGX_ERROR;
        }

        if (ngx_close_file(fd) == NGX_FILE_ERROR) {
            ngx_log_error(NGX_LOG_ALERT, r->connection->log, ngx_errno,
                          ngx_close_file_n " \"%s\" failed", path);
        }
    }

    path[len] = save;

    if (rc != NGX_OK) {
        ngx_set_errno(err ? err : EIO);
    }

    return rc;
}


/*
 * Write a small file atomically: a temporary file in <storage>/_tmp,
 * fsync, rename over path, fsync of path's directory (path[0..dirlen)).
 */

static ngx_int_t
ngx_http_harbor_write_atomic(ngx_http_request_t *r, u_char *path,
    size_t dirlen, u_char *data, size_t len)
{
    u_char                      *tmp;
    ssize_t                      n;
    ngx_fd_t                     fd;
    ngx_err_t                    err;
    uint32_t                     rnd;
    ngx_uint_t                   tries;
    ngx_http_harbor_loc_conf_t  *hlcf;

    hlcf = ngx_http_harbor_conf(r);

    if (ngx_http_harbor_mkdir_p(r, path, dirlen) != NGX_OK) {
        return NGX_ERROR;
    }

    tmp = ngx_pnalloc(r->pool, hlcf->storage.len + sizeof("/_tmp/w.")
                               + NGX_INT64_LEN + NGX_INT_T_LEN + 2);
    if (tmp == NULL) {
        return NGX_ERROR;
    }

    rnd = (uint32_t) ngx_random();

    ngx_sprintf(tmp, "%V/_tmp/w.%P.%uD%Z", &hlcf->storage, ngx_pid, rnd);

    fd = ngx_open_file(tmp, NGX_FILE_WRONLY, NGX_FILE_TRUNCATE,
                       NGX_FILE_DEFAULT_ACCESS);
    if (fd == NGX_INVALID_FILE) {
        ngx_log_error(NGX_LOG_CRIT, r->connection->log, ngx_errno,
                      ngx_open_file_n " \"%s\" failed", tmp);
        return NGX_ERROR;
    }

    n = write(fd, data, len);

    if (n != (ssize_t) len) {
        err = (n == -1) ? ngx_errno : NGX_ENOSPC;
        ngx_log_error(NGX_LOG_CRIT, r->connection->log, err,
                      "write() \"%s\" failed", tmp);
        goto failed;
    }

    if (fsync(fd) == -1) {
        err = ngx_errno;
        ngx_log_error(NGX_LOG_CRIT, r->connection->log, err,
                      "fsync() \"%s\" failed", tmp);
        goto failed;
    }

    if (ngx_close_file(fd) == NGX_FILE_ERROR) {
        fd = NGX_INVALID_FILE;
        err = ngx_errno;
        ngx_log_error(NGX_LOG_CRIT, r->connection->log, err,
                      ngx_close_file_n " \"%s\" failed", tmp);
        goto failed;
    }

    fd = NGX_INVALID_FILE;

    /*
     * A delete of the same entry (another request) may remove the
     * directory between mkdir and rename: make it again, a few times.
     */

    for (tries = 0; /* void */; tries++) {

        if (ngx_rename_file(tmp, path) != NGX_FILE_ERROR) {
            break;
        }

        err = ngx_errno;

        if (err != NGX_ENOENT || tries == 3) {
            ngx_log_error(NGX_LOG_CRIT, r->connection->log, err,
                          ngx_rename_file_n " \"%s\" to \"%s\" failed",
                          tmp, path);
            goto failed;
        }

        if (ngx_http_harbor_mkdir_p(r, path, dirlen) != NGX_OK) {
            err = ngx_errno;
            goto failed;
        }
    }

    return ngx_http_harbor_fsync_dir(r, path, dirlen);

failed:

    if (fd != NGX_INVALID_FILE && ngx_close_file(fd) == NGX_FILE_ERROR) {
        ngx_log_error(NGX_LOG_ALERT, r->connection->log, ngx_errno,
                      ngx_close_file_n " \"%s\" failed", tmp);
    }

    if (ngx_delete_file(tmp) == NGX_FILE_ERROR) {
        ngx_log_error(NGX_LOG_CRIT, r->connection->log, ngx_errno,
                      ngx_delete_file_n " \"%s\" failed", tmp);
    }

    ngx_set_errno(err ? err : EIO);
    return NGX_ERROR;
}


/* Names in a directory, without "." entries; NGX_DECLINED if absent. */

static ngx_int_t
ngx_http_harbor_read_dir(ngx_http_request_t *r, ngx_str_t *path,
    ngx_array_t *names, ngx_http_harbor_page_t *page, ngx_uint_t dirs_only)
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

        ngx_log_error(NGX_LOG_CRIT, r->connection->log, err,
                      ngx_open_dir_n " \"%V\" failed", path);
        return NGX_ERROR;
    }

    for ( ;; ) {
        ngx_set_errno(0);

        if (ngx_read_dir(&dir) == NGX_ERROR) {
            err = ngx_errno;

            if (err != NGX_ENOMOREFILES) {
                ngx_log_error(NGX_LOG_CRIT, r->connection->log, err,
                              ngx_read_dir_n " \"%V\" failed", path);
                ngx_close_dir(&dir);
                return NGX_ERROR;
            }

            break;
        }

        len = ngx_de_namelen(&dir);

        if (ngx_de_name(&dir)[0] == '.') {
            continue;
        }

        if (dirs_only && dir.type != 0 && !ngx_de_is_dir(&dir)) {
            continue;
        }

        if (page) {
            if (ngx_http_harbor_page_add(r, page, ngx_de_name(&dir), len)
                != NGX_OK)
            {
                ngx_close_dir(&dir);
                return NGX_ERROR;
            }

            continue;
        }

        name = ngx_array_push(names);
        if (name == NULL) {
            ngx_close_dir(&dir);
            return NGX_ERROR;
        }

        name->len = len;
        name->data = ngx_pnalloc(r->pool, len);
        if (name->data == NULL) {
            ngx_close_dir(&dir);
            return NGX_ERROR;
        }

        ngx_memcpy(name->data, ngx_de_name(&dir), len);
    }

    ngx_close_dir(&dir);

    return NGX_OK;
}


static ngx_int_t
ngx_http_harbor_delete_tree(ngx_http_request_t *r, ngx_str_t *path)
{
    ngx_err_t       err;
    ngx_tree_ctx_t  tree;

    tree.init_handler = NULL;
    tree.file_handler = ngx_http_harbor_delete_file;
    tree.pre_tree_handler = ngx_http_harbor_noop;
    tree.post_tree_handler = ngx_http_harbor_delete_dir;
    tree.spec_handler = ngx_http_harbor_delete_file;
    tree.data = NULL;
    tree.alloc = 0;
    tree.log = r->connection->log;

    if (ngx_walk_tree(&tree, path) != NGX_OK) {
        return NGX_ERROR;
    }

    if (ngx_delete_dir(path->data) == NGX_FILE_ERROR) {
        err = ngx_errno;

        /* gone already, or written again by a request after this one */

        if (err == NGX_ENOENT || err == ENOTEMPTY) {
            return NGX_OK;
        }

        ngx_log_error(NGX_LOG_CRIT, r->connection->log, err,
                      ngx_delete_dir_n " \"%s\" failed", path->data);
        ngx_set_errno(err);
        return NGX_ERROR;
    }

    return NGX_OK;
}


/*
 * Remove the files in dir untouched for age seconds: what a crash left in
 * <storage>/_tmp.  Called by the master, with no request.
 */

void
ngx_http_harbor_sweep_tmp(ngx_str_t *dir, time_t age, ngx_log_t *log)
{
    ngx_tree_ctx_t  tree;

    tree.init_handler = NULL;
    tree.file_handler = ngx_http_harbor_delete_file;
    tree.pre_tree_handler = ngx_http_harbor_noop;
    tree.post_tree_handler = ngx_http_harbor_noop;
    tree.spec_handler = ngx_http_harbor_noop;
    tree.data = &age;
    tree.alloc = 0;
    tree.log = log;

    /* a missing directory is made by nginx later: nothing to remove */
    (void) ngx_walk_tree(&tree, dir);
}


/*
 * Whether a process has the file open for writing: a live request body
 * (nginx keeps its temporary file open until the request ends, and a slow
 * client may leave it untouched for long while its bytes fill the body
 * buffer).  A read lease is refused while anyone writes the file; while
 * it is held, nobody can open the file for writing unnoticed, so the
 * file is removed under it.  A filesystem without leases lets the age
 * alone decide.
 */

static ngx_uint_t
ngx_http_harbor_file_in_use(ngx_str_t *path, ngx_log_t *log, ngx_fd_t *fd)
{
    ngx_err_t  err;

    *fd = ngx_open_file(path->data, NGX_FILE_RDONLY|NGX_FILE_NONBLOCK,
                        NGX_FILE_OPEN, 0);

    if (*fd == NGX_INVALID_FILE) {
        err = ngx_errno;

        if (err != NGX_ENOENT) {
            ngx_log_error(NGX_LOG_ERR, log, err,
                          ngx_open_file_n " \"%s\" failed", path->data);
        }

        /* gone, or not ours to judge: left alone */
        return 1;
    }

    if (fcntl(*fd, F_SETLEASE, F_RDLCK) == -1) {
        err = ngx_errno;

        if (err == NGX_EAGAIN || err == EBUSY) {
            return 1;
        }

        ngx_log_debug1(NGX_LOG_DEBUG_CORE, log, err,
                       "fcntl(F_SETLEASE) \"%s\" failed", path->data);
    }

    return 0;
}


/* ctx->data, if set, is the age a file must have to go */

static ngx_int_t
ngx_http_harbor_delete_file(ngx_tree_ctx_t *ctx, ngx_str_t *path)
{
    ngx_fd_t    fd;
    ngx_uint_t  busy;

    fd = NGX_INVALID_FILE;

    if (ctx->data) {
        if (ngx_time() - ctx->mtime < *(time_t *) ctx->data) {
            return NGX_OK;
        }

        busy = ngx_http_harbor_file_in_use(path, ctx->log, &fd);

        if (busy) {
            ngx_log_debug1(NGX_LOG_DEBUG_CORE, ctx->log, 0,
                           "harbor: \"%s\" is being written", path->data);
            goto done;
        }

        ngx_log_error(NGX_LOG_NOTICE, ctx->log, 0,
                      "harbor: removing \"%s\", left by a crash",
                      path->data);
    }

    if (ngx_delete_file(path->data) == NGX_FILE_ERROR
        && ngx_errno != NGX_ENOENT)
    {
        ngx_log_error(NGX_LOG_CRIT, ctx->log, ngx_errno,
                      ngx_delete_file_n " \"%s\" failed", path->data);
    }

done:

    /* the lease, if taken, goes with the descriptor */

    if (fd != NGX_INVALID_FILE && ngx_close_file(fd) == NGX_FILE_ERROR) {
        ngx_log_error(NGX_LOG_ALERT, ctx->log, ngx_errno,
                      ngx_close_file_n " \"%s\" failed", path->data);
    }

    return NGX_OK;
}


static ngx_int_t
ngx_http_harbor_delete_dir(ngx_tree_ctx_t *ctx, ngx_str_t *path)
{
    if (ngx_delete_dir(path->data) == NGX_FILE_ERROR
        && ngx_errno != NGX_ENOENT && ngx_errno != ENOTEMPTY)
    {
        ngx_log_error(NGX_LOG_CRIT, ctx->log, ngx_errno,
                      ngx_delete_dir_n " \"%s\" failed", path->data);
    }

    return NGX_OK;
}


static ngx_int_t
ngx_http_harbor_noop(ngx_tree_ctx_t *ctx, ngx_str_t *path)
{
    return NGX_OK;
}


/*
 * Offer a name to a page: it is kept, in order, if it comes after last,
 * passes the page's check, and is among the first n + 1 seen so far.
 * The copy is made only then.
 */

static ngx_int_t
ngx_http_harbor_page_add(ngx_http_request_t *r, ngx_http_harbor_page_t *page,
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
    it[lo].data = ngx_pnalloc(r->pool, len);
    if (it[lo].data == NULL) {
        return NGX_ERROR;
    }

    ngx_memcpy(it[lo].data, data, len);

    return NGX_OK;
}


/*
 * Whether no name that starts with this prefix can be on the page: all
 * of them come before last, or after the page is full.
 */

static ngx_uint_t
ngx_http_harbor_page_skips(ngx_http_harbor_page_t *page, u_char *prefix,
    size_t len)
{
    ngx_str_t  *it;

    if (page->last.len
        && !(page->last.len >= len
             && ngx_strncmp(page->last.data, prefix, len) == 0)
        && ngx_memn2cmp(prefix, page->last.data, len, page->last.len) < 0)
    {
        return 1;
    }

    it = page->items.elts;

    return page->items.nelts == page->n + 1
           && ngx_memn2cmp(prefix, it[page->n].data, len, it[page->n].len)
              > 0;
}


void
ngx_http_harbor_sha256_hex(SHA256_CTX *sha, u_char *hex)
{
    u_char  bin[SHA256_DIGEST_LENGTH];

    SHA256_Final(bin, sha);
    hb_hex(hex, bin, sizeof(bin));
}
