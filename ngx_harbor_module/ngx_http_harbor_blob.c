
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
    ngx_int_t                   rc;
    ngx_http_harbor_op_t        op;
    ngx_http_harbor_link_t      link;
    ngx_http_harbor_backend_t  *hs;

    /* calls that cannot wait: done unset */
    op.done = NULL;

    hs = ngx_http_harbor_backend(r);

    /*
     * A blob is readable through a repository only if that repository
     * links it: no reads of other repositories' blobs by digest.
     */

    ngx_http_harbor_link_init(&link, NGX_HTTP_HARBOR_LINK_LAYER, &rt->name,
                              &rt->ref, NULL);
    link.cached = (r->method != NGX_HTTP_DELETE);

    rc = hs->link_get(r, &link, 0, &op);

    if (rc == NGX_ERROR) {
        return ngx_http_harbor_op_error(r, &op);
    }

    if (rc == NGX_DECLINED) {
        return ngx_http_harbor_error(r, NGX_HTTP_NOT_FOUND, "BLOB_UNKNOWN",
                                     "blob unknown to registry", NULL);
    }

    if (r->method == NGX_HTTP_DELETE) {
        if (hs->link_delete(r, &link, &op) == NGX_ERROR) {
            return ngx_http_harbor_op_error(r, &op);
        }

        return ngx_http_harbor_send(r, NGX_HTTP_ACCEPTED, NULL, NULL);
    }

    /*
     * A HEAD is how a pushing client decides not to upload a blob: it
     * renews the blob's lease with the garbage collector (docs/gc.md)
     * before the client hears the blob is there.
     */

    rc = hs->blob_send(r, &rt->ref, &ngx_http_harbor_octet_stream,
                       r->method == NGX_HTTP_HEAD, &op);

    if (rc == NGX_HTTP_NOT_FOUND) {
        return ngx_http_harbor_error(r, NGX_HTTP_NOT_FOUND, "BLOB_UNKNOWN",
                                     "blob unknown to registry", NULL);
    }

    if (rc >= NGX_HTTP_SPECIAL_RESPONSE) {
        return ngx_http_harbor_error(r, rc, "UNKNOWN", "storage error", NULL);
    }

    return rc;
}
