
/*
 * ngx-harbor: an OCI registry inside nginx.
 * Blobs in the store: sending one as the response (nginx's static
 * file path), reading a small one (a manifest), committing a verified
 * file, renewing a blob's time.
 */


#include "ngx_http_harbor_module.h"
#include "ngx_http_harbor_storage.h"


static ngx_int_t ngx_http_harbor_blob_file(ngx_http_request_t *r,
    ngx_str_t *digest, ngx_str_t *path, size_t *dirlen);


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
