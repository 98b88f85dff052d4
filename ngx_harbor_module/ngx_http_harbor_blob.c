
/*
 * ngx-harbor: an OCI registry inside nginx.
 * Blobs: GET and HEAD send the stored blob (on the filesystem, nginx's
 * static file path: open file cache, sendfile, ranges); DELETE unlinks
 * the blob from the repository.
 */


#include "ngx_http_harbor_module.h"


static ngx_str_t  ngx_http_harbor_octet_stream =
    ngx_string("application/octet-stream");


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

    /*
     * A HEAD is how a pushing client decides not to upload a blob: it
     * renews the blob's lease with the garbage collector (docs/gc.md)
     * before the client hears the blob is there.
     */

    rc = ngx_http_harbor_blob_send(r, &rt->ref,
                                   &ngx_http_harbor_octet_stream, &of,
                                   r->method == NGX_HTTP_HEAD);

    if (rc == NGX_HTTP_NOT_FOUND) {
        return ngx_http_harbor_error(r, NGX_HTTP_NOT_FOUND, "BLOB_UNKNOWN",
                                     "blob unknown to registry", NULL);
    }

    if (rc >= NGX_HTTP_SPECIAL_RESPONSE) {
        return ngx_http_harbor_error(r, rc, "UNKNOWN", "storage error", NULL);
    }

    return rc;
}
