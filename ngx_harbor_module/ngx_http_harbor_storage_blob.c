
/*
 * ngx-harbor: an OCI registry inside nginx.
 * Blobs in the store: sending one as the response (nginx's static
 * file path), reading a small one (a manifest, in the thread pool when
 * the caller can wait), renewing a blob's time.  Committing one is in
 * ngx_http_harbor_storage_commit.c.
 */


#include "ngx_http_harbor_module.h"
#include "ngx_http_harbor_storage.h"


/* a manifest read in the thread pool, into a buffer of its size */

typedef struct {
    ngx_http_harbor_task_t       task;
    ngx_http_harbor_op_t        *op;
    u_char                      *path;
    off_t                        size;
    unsigned                     absent:1;
} ngx_http_harbor_read_task_t;


static void ngx_http_harbor_read_work(ngx_http_harbor_task_t *t);
static void ngx_http_harbor_read_done(ngx_http_harbor_task_t *t,
    ngx_int_t rc);
static void ngx_http_harbor_read_finish(ngx_http_harbor_read_task_t *b,
    ngx_int_t rc);


/* A NUL-terminated path in the request pool. */

ngx_int_t
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
 * if it is not there; *size is its size.
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
    ngx_str_t *content_type, ngx_uint_t renew, off_t *size)
{
    ngx_int_t                  rc;
    ngx_buf_t                 *b;
    ngx_str_t                  path, etag;
    ngx_chain_t                out;
    ngx_open_file_info_t       of;
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

    ngx_memzero(&of, sizeof(ngx_open_file_info_t));

    of.read_ahead = clcf->read_ahead;
    of.directio = clcf->directio;
    of.valid = clcf->open_file_cache_valid;
    of.min_uses = clcf->open_file_cache_min_uses;
    of.errors = clcf->open_file_cache_errors;
    of.events = clcf->open_file_cache_events;

    rc = ngx_open_cached_file(clcf->open_file_cache, &path, &of,
                              r->pool);

    if (rc != NGX_OK && ngx_http_harbor_fds_exhausted(of.err)
        && ngx_http_harbor_release_fds(r) > 0)
    {
        rc = ngx_open_cached_file(clcf->open_file_cache, &path, &of,
                                  r->pool);
    }

    if (rc != NGX_OK) {
        if (of.err == NGX_ENOENT || of.err == NGX_ENOTDIR) {
            return NGX_HTTP_NOT_FOUND;
        }

        ngx_log_error(NGX_LOG_CRIT, r->connection->log, of.err,
                      "%s \"%s\" failed", of.failed, path.data);

        return ngx_http_harbor_fds_exhausted(of.err)
               ? NGX_HTTP_SERVICE_UNAVAILABLE
               : NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (!of.is_file) {
        ngx_log_error(NGX_LOG_CRIT, r->connection->log, 0,
                      "harbor: \"%s\" is not a file", path.data);
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    *size = of.size;

    r->root_tested = !r->error_page;
    r->allow_ranges = 1;

    r->headers_out.status = NGX_HTTP_OK;
    r->headers_out.content_length_n = of.size;
    r->headers_out.last_modified_time = of.mtime;

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

    if (r != r->main && of.size == 0) {
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
    b->file_last = of.size;

    b->in_file = b->file_last ? 1 : 0;
    b->last_buf = (r == r->main) ? 1 : 0;
    b->last_in_chain = 1;
    b->sync = (b->last_buf || b->in_file) ? 0 : 1;

    b->file->fd = of.fd;
    b->file->name = path;
    b->file->log = r->connection->log;
    b->file->directio = of.is_directio;

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


/*
 * Read a whole blob of at most max bytes into op->data as a task of the
 * thread pool (NGX_AGAIN, then op->done), for a blob the page cache may
 * not hold: a manifest whose media type this worker does not know.  The
 * size comes from a stat(2) here, the bytes from the task.
 */

ngx_int_t
ngx_http_harbor_blob_read_task(ngx_http_request_t *r, ngx_str_t *digest,
    size_t max, ngx_http_harbor_op_t *op)
{
    ngx_int_t                     rc;
    ngx_str_t                     path;
    ngx_file_info_t               fi;
    ngx_http_harbor_task_t       *t;
    ngx_http_harbor_read_task_t  *b;

    if (ngx_http_harbor_blob_file(r, digest, &path, NULL) != NGX_OK) {
        ngx_http_harbor_op_fail(op, NGX_ERROR, NGX_ENOMEM);
        return NGX_ERROR;
    }

    rc = ngx_http_harbor_stat(r, path.data, &fi);

    if (rc != NGX_OK) {
        ngx_http_harbor_op_fail(op, rc, ngx_errno);
        return rc;
    }

    if (ngx_file_size(&fi) > (off_t) max) {
        op->rc = NGX_ABORT;
        return NGX_ABORT;
    }

    t = ngx_http_harbor_task_alloc(r, sizeof(ngx_http_harbor_read_task_t));
    if (t == NULL) {
        ngx_http_harbor_op_fail(op, NGX_ERROR, NGX_ENOMEM);
        return NGX_ERROR;
    }

    b = (ngx_http_harbor_read_task_t *) t;

    b->op = op;
    b->path = path.data;
    b->size = ngx_file_size(&fi);

    op->data.len = 0;
    op->data.data = ngx_pnalloc(r->pool, b->size + 1);
    if (op->data.data == NULL) {
        ngx_http_harbor_op_fail(op, NGX_ERROR, NGX_ENOMEM);
        return NGX_ERROR;
    }

    rc = ngx_http_harbor_task(r, t, ngx_http_harbor_read_work,
                              ngx_http_harbor_read_done);

    if (rc == NGX_AGAIN) {
        return NGX_AGAIN;
    }

    ngx_http_harbor_read_finish(b, rc);

    return op->rc;
}


static void
ngx_http_harbor_read_work(ngx_http_harbor_task_t *t)
{
    ngx_http_harbor_read_task_t *b = (ngx_http_harbor_read_task_t *) t;

    ssize_t    n;
    ngx_fd_t   fd;
    ngx_err_t  err;
    ngx_str_t *out;

    out = &b->op->data;

    fd = ngx_open_file(b->path, NGX_FILE_RDONLY, NGX_FILE_OPEN, 0);

    if (fd == NGX_INVALID_FILE) {
        err = ngx_errno;

        if (err == NGX_ENOENT || err == NGX_ENOTDIR) {
            /* moved aside by the collector since the stat */
            b->absent = 1;
            return;
        }

        (void) ngx_http_harbor_task_fail(t, ngx_open_file_n, b->path, err);
        return;
    }

    /* content addressed: it does not change under us */

    while (out->len < (size_t) b->size) {
        n = pread(fd, out->data + out->len, b->size - out->len, out->len);

        if (n == -1) {
            err = ngx_errno;
            (void) ngx_close_file(fd);
            (void) ngx_http_harbor_task_fail(t, "pread()", b->path, err);
            return;
        }

        if (n == 0) {
            break;
        }

        out->len += n;
    }

    (void) ngx_close_file(fd);
}


static void
ngx_http_harbor_read_done(ngx_http_harbor_task_t *t, ngx_int_t rc)
{
    ngx_http_harbor_read_task_t *b = (ngx_http_harbor_read_task_t *) t;

    ngx_http_harbor_read_finish(b, rc);

    b->op->done(t->r, b->op);
}


static void
ngx_http_harbor_read_finish(ngx_http_harbor_read_task_t *b, ngx_int_t rc)
{
    if (rc != NGX_OK) {
        ngx_http_harbor_task_op_fail(b->task.r, b->op, ngx_errno);
        return;
    }

    b->op->rc = b->absent ? NGX_DECLINED : NGX_OK;
}
