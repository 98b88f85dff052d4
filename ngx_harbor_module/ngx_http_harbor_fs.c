
/*
 * ngx-harbor: an OCI registry inside nginx.
 * The filesystem backend: the storage interface (ngx_http_harbor_backend_t)
 * onto the store's functions in ngx_http_harbor_storage*.c, and the one
 * place where an errno becomes the status of an answer.
 *
 * Stats, link reads and renewals and link moves of a delete run inline
 * (metadata, page-cache hits); the durable part of a write (every fsync
 * of a chunk, a blob, a manifest and its links, an upload's creation, a
 * mount's link) and sha512 hashing run as one thread-pool task per
 * request (ngx_http_harbor_storage_commit.c), and so do the directory
 * reads of a page of a list, with a referrers page's manifests
 * (ngx_http_harbor_storage_list.c), and the directory fsync of a link
 * put back when the caller can wait.  Inline still: the tag walk of a
 * DELETE by digest (docs/architecture.md, "Fsyncs in the event loop").
 */


#include "ngx_http_harbor_module.h"
#include "ngx_http_harbor_storage.h"


static ngx_int_t ngx_http_harbor_fs_result(ngx_http_harbor_op_t *op,
    ngx_int_t rc);
static ngx_int_t ngx_http_harbor_fs_blob_send(ngx_http_request_t *r,
    ngx_str_t *digest, ngx_str_t *type, ngx_uint_t renew,
    ngx_http_harbor_op_t *op);
static ngx_int_t ngx_http_harbor_fs_blob_read(ngx_http_request_t *r,
    ngx_str_t *digest, size_t max, ngx_http_harbor_op_t *op);
static ngx_int_t ngx_http_harbor_fs_blob_touch(ngx_http_request_t *r,
    ngx_str_t *digest, ngx_http_harbor_op_t *op);
static ngx_int_t ngx_http_harbor_fs_commit(ngx_http_request_t *r,
    ngx_http_harbor_commit_t *c, ngx_http_harbor_op_t *op);
static ngx_int_t ngx_http_harbor_fs_link_get(ngx_http_request_t *r,
    ngx_http_harbor_link_t *l, ngx_uint_t want_digest,
    ngx_http_harbor_op_t *op);
static ngx_int_t ngx_http_harbor_fs_link_set(ngx_http_request_t *r,
    ngx_http_harbor_link_t *l, ngx_str_t *digest, ngx_http_harbor_op_t *op);
static ngx_int_t ngx_http_harbor_fs_link_touch(ngx_http_request_t *r,
    ngx_http_harbor_link_t *l, ngx_http_harbor_op_t *op);
static ngx_int_t ngx_http_harbor_fs_link_delete(ngx_http_request_t *r,
    ngx_http_harbor_link_t *l, ngx_http_harbor_op_t *op);
static ngx_int_t ngx_http_harbor_fs_link_move(ngx_http_request_t *r,
    ngx_http_harbor_link_t *l, ngx_http_harbor_op_t *op);
static ngx_int_t ngx_http_harbor_fs_link_restore(ngx_http_request_t *r,
    ngx_http_harbor_op_t *op);
static ngx_int_t ngx_http_harbor_fs_link_drop(ngx_http_request_t *r,
    ngx_http_harbor_op_t *op);
static ngx_int_t ngx_http_harbor_fs_repo_exists(ngx_http_request_t *r,
    ngx_str_t *name, ngx_http_harbor_op_t *op);
static ngx_int_t ngx_http_harbor_fs_list(ngx_http_request_t *r,
    ngx_http_harbor_list_e kind, ngx_str_t *name, ngx_str_t *key,
    ngx_http_harbor_page_t *page, ngx_array_t *all,
    ngx_http_harbor_op_t *op);
static ngx_int_t ngx_http_harbor_fs_upload_create(ngx_http_request_t *r,
    ngx_str_t *name, ngx_str_t *uuid, ngx_http_harbor_op_t *op);
static ngx_int_t ngx_http_harbor_fs_upload_open(ngx_http_request_t *r,
    ngx_str_t *name, ngx_str_t *uuid, ngx_http_harbor_upload_t *u,
    ngx_http_harbor_op_t *op);
static ngx_int_t ngx_http_harbor_fs_upload_append(ngx_http_request_t *r,
    ngx_http_harbor_upload_t *u, off_t size, SHA256_CTX *sha,
    ngx_http_harbor_commit_t *c, ngx_http_harbor_op_t *op);
static ngx_int_t ngx_http_harbor_fs_upload_abort(ngx_http_request_t *r,
    ngx_http_harbor_upload_t *u, ngx_http_harbor_op_t *op);
static ngx_int_t ngx_http_harbor_fs_policy_read(ngx_http_request_t *r,
    const char *dir, ngx_str_t *project, ngx_http_harbor_op_t *op);


ngx_http_harbor_backend_t  ngx_http_harbor_fs_backend = {
    ngx_http_harbor_fs_blob_send,
    ngx_http_harbor_fs_blob_read,
    ngx_http_harbor_fs_blob_touch,
    ngx_http_harbor_fs_commit,
    ngx_http_harbor_fs_link_get,
    ngx_http_harbor_fs_link_set,
    ngx_http_harbor_fs_link_touch,
    ngx_http_harbor_fs_link_delete,
    ngx_http_harbor_fs_link_move,
    ngx_http_harbor_fs_link_restore,
    ngx_http_harbor_fs_link_drop,
    ngx_http_harbor_fs_repo_exists,
    ngx_http_harbor_fs_list,
    ngx_http_harbor_fs_upload_create,
    ngx_http_harbor_fs_upload_open,
    ngx_http_harbor_fs_upload_append,
    ngx_http_harbor_fs_upload_abort,
    ngx_http_harbor_upload_close,
    ngx_http_harbor_fs_policy_read
};


/*
 * The status of a failed storage call, from its errno (the call logged
 * it with its path): dav's ngx_http_dav_error() is the model.  A full
 * store or quota 507; a store that refuses writes 403; a busy thread
 * pool or a worker out of descriptors 503 (to retry); anything else,
 * errno 0 included (a failure that is not the filesystem's), 500.
 */

ngx_uint_t
ngx_http_harbor_errno_status(ngx_err_t err)
{
    switch (err) {

    case NGX_ENOSPC:
#ifdef EDQUOT
    case EDQUOT:
#endif
        return NGX_HTTP_INSUFFICIENT_STORAGE;

    case NGX_EACCES:
    case NGX_EPERM:
    case EROFS:
        return NGX_HTTP_FORBIDDEN;

    case NGX_EAGAIN:
    case NGX_EMFILE:
    case NGX_ENFILE:
        return NGX_HTTP_SERVICE_UNAVAILABLE;

    default:
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }
}


void
ngx_http_harbor_op_fail(ngx_http_harbor_op_t *op, ngx_int_t rc,
    ngx_err_t err)
{
    op->rc = rc;
    op->status = ngx_http_harbor_errno_status(err);
}


/*
 * The same for a task that failed, back on the event loop: a worker out
 * of descriptors lets the idle ones of its open file cache go (a thread
 * may not touch the cache), so that the retry the 503 asks for can work.
 */

void
ngx_http_harbor_task_op_fail(ngx_http_request_t *r, ngx_http_harbor_op_t *op,
    ngx_err_t err)
{
    ngx_http_harbor_op_fail(op, NGX_ERROR, err);

    if (ngx_http_harbor_fds_exhausted(err)) {
        (void) ngx_http_harbor_release_fds(r);
    }
}


static ngx_int_t
ngx_http_harbor_fs_result(ngx_http_harbor_op_t *op, ngx_int_t rc)
{
    if (rc == NGX_ERROR) {
        ngx_http_harbor_op_fail(op, rc, ngx_errno);

    } else {
        op->rc = rc;
    }

    return rc;
}


static ngx_int_t
ngx_http_harbor_fs_blob_send(ngx_http_request_t *r, ngx_str_t *digest,
    ngx_str_t *type, ngx_uint_t renew, ngx_http_harbor_op_t *op)
{
    op->rc = NGX_OK;
    op->size = 0;

    return ngx_http_harbor_blob_send(r, digest, type, renew, &op->size);
}


static ngx_int_t
ngx_http_harbor_fs_blob_read(ngx_http_request_t *r, ngx_str_t *digest,
    size_t max, ngx_http_harbor_op_t *op)
{
    if (op->done) {
        return ngx_http_harbor_blob_read_task(r, digest, max, op);
    }

    return ngx_http_harbor_fs_result(op,
               ngx_http_harbor_blob_read(r, digest, max, &op->data));
}


static ngx_int_t
ngx_http_harbor_fs_blob_touch(ngx_http_request_t *r, ngx_str_t *digest,
    ngx_http_harbor_op_t *op)
{
    return ngx_http_harbor_fs_result(op,
                                     ngx_http_harbor_blob_touch(r, digest));
}


static ngx_int_t
ngx_http_harbor_fs_commit(ngx_http_request_t *r, ngx_http_harbor_commit_t *c,
    ngx_http_harbor_op_t *op)
{
    off_t             size;
    ngx_temp_file_t  *tf;

    tf = r->request_body ? r->request_body->temp_file : NULL;
    size = tf ? tf->file.offset : 0;

    return ngx_http_harbor_commit(r, c, NULL, size, NULL, op);
}


static ngx_int_t
ngx_http_harbor_fs_link_get(ngx_http_request_t *r, ngx_http_harbor_link_t *l,
    ngx_uint_t want_digest, ngx_http_harbor_op_t *op)
{
    ngx_int_t           rc;
    ngx_str_t          *digest;
    ngx_atomic_uint_t   gen;

    digest = want_digest ? &op->digest : NULL;
    gen = 0;

    if (l->cached) {
        if (ngx_http_harbor_linkcache_get(r, l, digest, &gen) == NGX_OK) {
            op->mtime = 0;
            return ngx_http_harbor_fs_result(op, NGX_OK);
        }
    }

    rc = ngx_http_harbor_link_get(r, l, digest, &op->mtime);

    if (rc == NGX_OK && l->cached) {
        ngx_http_harbor_linkcache_put(r, l, digest, gen);
    }

    return ngx_http_harbor_fs_result(op, rc);
}


static ngx_int_t
ngx_http_harbor_fs_link_set(ngx_http_request_t *r, ngx_http_harbor_link_t *l,
    ngx_str_t *digest, ngx_http_harbor_op_t *op)
{
    size_t                  entry;
    ngx_str_t               path;
    ngx_http_harbor_file_t  f;

    if (op->done == NULL) {
        return ngx_http_harbor_fs_result(op,
                                     ngx_http_harbor_link_put(r, l, digest));
    }

    /* the caller can wait: written (and synced) in the thread pool */

    if (ngx_http_harbor_link_path(r, l, &path, &entry) != NGX_OK) {
        ngx_http_harbor_op_fail(op, NGX_ERROR, 0);
        return NGX_ERROR;
    }

    f.path = path.data;
    f.dirlen = path.len - (sizeof("/link") - 1);
    f.data = *digest;

    return ngx_http_harbor_write_files(r, &f, 1, op);
}


static ngx_int_t
ngx_http_harbor_fs_link_touch(ngx_http_request_t *r,
    ngx_http_harbor_link_t *l, ngx_http_harbor_op_t *op)
{
    return ngx_http_harbor_fs_result(op, ngx_http_harbor_link_touch(r, l));
}


static ngx_int_t
ngx_http_harbor_fs_link_delete(ngx_http_request_t *r,
    ngx_http_harbor_link_t *l, ngx_http_harbor_op_t *op)
{
    return ngx_http_harbor_fs_result(op, ngx_http_harbor_link_delete(r, l));
}


static ngx_int_t
ngx_http_harbor_fs_link_move(ngx_http_request_t *r, ngx_http_harbor_link_t *l,
    ngx_http_harbor_op_t *op)
{
    ngx_int_t                 rc;
    ngx_http_harbor_aside_t  *aside;

    aside = ngx_pcalloc(r->pool, sizeof(ngx_http_harbor_aside_t));
    if (aside == NULL) {
        ngx_http_harbor_op_fail(op, NGX_ERROR, NGX_ENOMEM);
        return NGX_ERROR;
    }

    op->backend = aside;

    rc = ngx_http_harbor_link_move(r, l, aside);

    op->mtime = aside->mtime;

    return ngx_http_harbor_fs_result(op, rc);
}


static ngx_int_t
ngx_http_harbor_fs_link_restore(ngx_http_request_t *r,
    ngx_http_harbor_op_t *op)
{
    ngx_int_t                 rc;
    ngx_http_harbor_aside_t  *aside;

    aside = op->backend;

    rc = ngx_http_harbor_link_restore(r, aside, op->done == NULL);

    if (rc != NGX_OK || op->done == NULL) {
        return ngx_http_harbor_fs_result(op, rc);
    }

    /* the caller can wait: the directory's fsync in the thread pool */

    return ngx_http_harbor_sync_dir_task(r, aside->path.data,
                                         aside->path.len
                                         - (sizeof("/link") - 1),
                                         op);
}


static ngx_int_t
ngx_http_harbor_fs_link_drop(ngx_http_request_t *r, ngx_http_harbor_op_t *op)
{
    return ngx_http_harbor_fs_result(op,
               ngx_http_harbor_link_drop(r, op->backend));
}


static ngx_int_t
ngx_http_harbor_fs_repo_exists(ngx_http_request_t *r, ngx_str_t *name,
    ngx_http_harbor_op_t *op)
{
    return ngx_http_harbor_fs_result(op,
                                     ngx_http_harbor_repo_exists(r, name));
}


static ngx_int_t
ngx_http_harbor_fs_list(ngx_http_request_t *r, ngx_http_harbor_list_e kind,
    ngx_str_t *name, ngx_str_t *key, ngx_http_harbor_page_t *page,
    ngx_array_t *all, ngx_http_harbor_op_t *op)
{
    if (page == NULL) {
        return ngx_http_harbor_fs_result(op,
                                     ngx_http_harbor_all_tags(r, name, all));
    }

    return ngx_http_harbor_list_page(r, kind, name, key, page, op);
}


static ngx_int_t
ngx_http_harbor_fs_upload_create(ngx_http_request_t *r, ngx_str_t *name,
    ngx_str_t *uuid, ngx_http_harbor_op_t *op)
{
    return ngx_http_harbor_upload_create(r, name, uuid, op);
}


static ngx_int_t
ngx_http_harbor_fs_upload_open(ngx_http_request_t *r, ngx_str_t *name,
    ngx_str_t *uuid, ngx_http_harbor_upload_t *u, ngx_http_harbor_op_t *op)
{
    return ngx_http_harbor_fs_result(op,
               ngx_http_harbor_upload_open(r, name, uuid, u));
}


static ngx_int_t
ngx_http_harbor_fs_upload_append(ngx_http_request_t *r,
    ngx_http_harbor_upload_t *u, off_t size, SHA256_CTX *sha,
    ngx_http_harbor_commit_t *c, ngx_http_harbor_op_t *op)
{
    return ngx_http_harbor_commit(r, c, u, size, sha, op);
}


static ngx_int_t
ngx_http_harbor_fs_upload_abort(ngx_http_request_t *r,
    ngx_http_harbor_upload_t *u, ngx_http_harbor_op_t *op)
{
    return ngx_http_harbor_fs_result(op,
                                     ngx_http_harbor_upload_delete(r, u));
}


static ngx_int_t
ngx_http_harbor_fs_policy_read(ngx_http_request_t *r, const char *dir,
    ngx_str_t *project, ngx_http_harbor_op_t *op)
{
    return ngx_http_harbor_fs_result(op,
               ngx_http_harbor_policy_read(r, dir, project, &op->data));
}
