
/*
 * ngx-harbor: an OCI registry inside nginx.
 * Blobs: GET and HEAD are nginx's static file path (open file cache,
 * sendfile, ranges) on a path built from the digest; DELETE unlinks the
 * blob from the repository.
 */


#include "ngx_http_harbor_module.h"


static ngx_str_t  ngx_http_harbor_octet_stream =
    ngx_string("application/octet-stream");


/*
 * Serve a stored blob (or manifest) from the file at its digest, with the
 * given content type.  Shared by blobs and manifests.
 */

ngx_int_t
ngx_http_harbor_serve_file(ngx_http_request_t *r, ngx_str_t *digest,
    ngx_str_t *content_type, ngx_open_file_info_t *of)
{
    ngx_int_t                  rc;
    ngx_buf_t                 *b;
    ngx_str_t                  path, etag;
    ngx_chain_t                out;
    ngx_http_core_loc_conf_t  *clcf;

    if (ngx_http_harbor_blob_path(r, digest, &path) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    clcf = ngx_http_get_module_loc_conf(r, ngx_http_core_module);

    if (of->fd == NGX_INVALID_FILE) {
        ngx_memzero(of, sizeof(ngx_open_file_info_t));

        of->read_ahead = clcf->read_ahead;
        of->directio = clcf->directio;
        of->valid = clcf->open_file_cache_valid;
        of->min_uses = clcf->open_file_cache_min_uses;
        of->errors = clcf->open_file_cache_errors;
        of->events = clcf->open_file_cache_events;

        if (ngx_open_cached_file(clcf->open_file_cache, &path, of, r->pool)
            != NGX_OK)
        {
            if (of->err == NGX_ENOENT || of->err == NGX_ENOTDIR) {
                return NGX_HTTP_NOT_FOUND;
            }

            ngx_log_error(NGX_LOG_CRIT, r->connection->log, of->err,
                          "%s \"%s\" failed", of->failed, path.data);
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
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


ngx_int_t
ngx_http_harbor_blob(ngx_http_request_t *r, ngx_http_harbor_route_t *rt)
{
    ngx_int_t              rc;
    ngx_open_file_info_t   of;

    /*
     * A blob is readable through a repository only if that repository
     * links it: no reads of other repositories' blobs by digest.
     */

    rc = ngx_http_harbor_link_get(r, &rt->name, NGX_HTTP_HARBOR_LINK_LAYER,
                                  &rt->ref, NULL, NULL);

    if (rc == NGX_ERROR) {
        return ngx_http_harbor_storage_error(r);
    }

    if (rc == NGX_DECLINED) {
        return ngx_http_harbor_error(r, NGX_HTTP_NOT_FOUND, "BLOB_UNKNOWN",
                                     "blob unknown to registry", NULL);
    }

    if (r->method == NGX_HTTP_DELETE) {
        rc = ngx_http_harbor_link_delete(r, &rt->name,
                                         NGX_HTTP_HARBOR_LINK_LAYER,
                                         &rt->ref, NULL);
        if (rc == NGX_ERROR) {
            return ngx_http_harbor_storage_error(r);
        }

        return ngx_http_harbor_send(r, NGX_HTTP_ACCEPTED, NULL, NULL);
    }

    of.fd = NGX_INVALID_FILE;

    rc = ngx_http_harbor_serve_file(r, &rt->ref,
                                    &ngx_http_harbor_octet_stream, &of);

    /*
     * A HEAD is how a pushing client decides not to upload a blob: it
     * renews the blob's lease with the garbage collector (docs/gc.md),
     * at most once per 10 minutes, so that it is there for the manifest.
     */

    if (rc == NGX_OK && r->method == NGX_HTTP_HEAD
        && ngx_time() - of.mtime > NGX_HTTP_HARBOR_LEASE)
    {
        (void) ngx_http_harbor_blob_touch(r, &rt->ref);
    }

    if (rc == NGX_HTTP_NOT_FOUND) {
        return ngx_http_harbor_error(r, NGX_HTTP_NOT_FOUND, "BLOB_UNKNOWN",
                                     "blob unknown to registry", NULL);
    }

    if (rc >= NGX_HTTP_SPECIAL_RESPONSE) {
        return ngx_http_harbor_error(r, rc, "UNKNOWN", "storage error", NULL);
    }

    return rc;
}
