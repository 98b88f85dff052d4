
/*
 * ngx-harbor: an OCI registry inside nginx.
 * The durable part of a write request as ONE thread-pool task: the
 * request body into an upload (a chunk: synced and renamed, or copied in
 * the kernel and synced; then its hash state), a sha512 read back, and a
 * commit: the digest checked, the blob into blobs/ and every link it
 * needs, each one written to a temporary file, synced, renamed and its
 * directory synced.  The client hears 201 only after the task is done,
 * and the worker's event loop waits on none of these fsyncs.
 *
 * Everything the task needs (paths, temporary names, link contents) is
 * made on the event loop before it is posted; the task touches neither
 * the pool nor the log: a failure is told by the call, its file and
 * errno, and logged when the task is over (ngx_http_harbor_task_result).
 */


#include "ngx_http_harbor_module.h"
#include "ngx_http_harbor_storage.h"


#define NGX_HTTP_HARBOR_LINKS  5


typedef struct {
    ngx_http_harbor_task_t       task;
    ngx_http_harbor_op_t        *op;
    size_t                       root;       /* length of the storage root */

    /* the request body: size bytes */
    ngx_fd_t                     body;
    u_char                      *body_name;
    off_t                        size;

    /* a chunk of an upload; NULL: a monolithic blob or a manifest */
    ngx_http_harbor_upload_t    *u;
    u_char                      *data;       /* the upload's data */
    u_char                      *state;      /* its hbstate */
    u_char                      *state_tmp;  /* in <storage>/_tmp */
    u_char                      *dir;        /* the upload's directory */
    ngx_http_harbor_state_t      st;

    /* the commit; NULL: a chunk only */
    ngx_http_harbor_commit_t    *c;
    ngx_uint_t                   alg;        /* to hash here; NONE: not */
    u_char                       hex[HB_SHA512_HEX];
    unsigned                     mismatch:1;
    unsigned                     links_first:1;  /* an upload's commit */

    u_char                      *blob;       /* its data file */
    size_t                       blob_dir;
    u_char                      *blob_tmp;   /* the empty blob's */
    u_char                      *src;        /* NULL: the empty blob */
    ngx_fd_t                     src_fd;     /* to sync; INVALID: synced */

    ngx_uint_t                   nlinks;     /* or small files */
    ngx_http_harbor_file_t       links[NGX_HTTP_HARBOR_LINKS];
} ngx_http_harbor_commit_task_t;


static ngx_int_t ngx_http_harbor_commit_link(ngx_http_request_t *r,
    ngx_http_harbor_commit_task_t *b, ngx_http_harbor_link_e kind,
    ngx_str_t *key, ngx_str_t *key2);
static ngx_int_t ngx_http_harbor_commit_run(ngx_http_request_t *r,
    ngx_http_harbor_commit_task_t *b);
static void ngx_http_harbor_commit_work(ngx_http_harbor_task_t *t);
static void ngx_http_harbor_commit_done(ngx_http_harbor_task_t *t,
    ngx_int_t rc);
static void ngx_http_harbor_commit_finish(ngx_http_harbor_commit_task_t *b,
    ngx_int_t rc);
static ngx_int_t ngx_http_harbor_fsync_path(ngx_http_harbor_task_t *t,
    u_char *path);
static ngx_int_t ngx_http_harbor_body_copy(ngx_http_harbor_commit_task_t *b);
static ngx_int_t ngx_http_harbor_body_state(
    ngx_http_harbor_commit_task_t *b);
static ngx_int_t ngx_http_harbor_body_hash(ngx_http_harbor_commit_task_t *b);
static ngx_int_t ngx_http_harbor_step_blob(ngx_http_harbor_commit_task_t *b);
static ngx_int_t ngx_http_harbor_step_link(ngx_http_harbor_commit_task_t *b,
    ngx_http_harbor_file_t *l);


/*
 * The request body (size bytes, sha covering the upload after it) into
 * the upload u, or with u NULL a monolithic body; then, with c, the
 * commit c describes (and u, if any, is removed).  For a sha256 digest c
 * has the hex the body filter computed; other digests are computed here
 * by reading the result back.  Returns NGX_AGAIN (op->done follows) or
 * op->rc.
 */

ngx_int_t
ngx_http_harbor_commit(ngx_http_request_t *r, ngx_http_harbor_commit_t *c,
    ngx_http_harbor_upload_t *u, off_t size, SHA256_CTX *sha,
    ngx_http_harbor_op_t *op)
{
    ngx_str_t                       blob;
    ngx_temp_file_t                *tf;
    ngx_http_harbor_task_t         *t;
    ngx_http_harbor_fs_upload_t    *fu;
    ngx_http_harbor_commit_task_t  *b;

    op->rc = NGX_OK;

    if (c == NULL && size == 0) {
        return NGX_OK;
    }

    t = ngx_http_harbor_task_alloc(r, sizeof(ngx_http_harbor_commit_task_t));
    if (t == NULL) {
        goto failed;
    }

    b = (ngx_http_harbor_commit_task_t *) t;

    tf = r->request_body ? r->request_body->temp_file : NULL;

    b->op = op;
    b->root = ngx_http_harbor_conf(r)->storage.len;
    b->u = u;
    b->c = c;
    b->size = tf ? size : 0;
    b->body = tf ? tf->file.fd : NGX_INVALID_FILE;
    b->body_name = tf ? tf->file.name.data : NULL;
    b->src_fd = NGX_INVALID_FILE;
    b->alg = HB_DIGEST_NONE;

    op->backend = b;

    if (u) {
        fu = u->backend;

        b->data = ngx_http_harbor_upload_file(r, &fu->dir, "data");
        b->state = ngx_http_harbor_upload_file(r, &fu->dir, "hbstate");
        b->dir = ngx_pnalloc(r->pool, fu->dir.len + 1);
        b->state_tmp = ngx_http_harbor_tmp_name(r, 'w');

        if (b->data == NULL || b->state == NULL || b->dir == NULL
            || b->state_tmp == NULL)
        {
            goto failed;
        }

        ngx_cpystrn(b->dir, fu->dir.data, fu->dir.len + 1);

        ngx_memcpy(b->st.magic, NGX_HTTP_HARBOR_STATE_MAGIC, 8);
        b->st.offset = u->offset + b->size;
        b->st.sha = *sha;
    }

    if (c) {
        if (c->hex == NULL) {
            b->alg = hb_digest_parse(c->digest.data, c->digest.len);
        }

        if (ngx_http_harbor_blob_file(r, &c->digest, &blob, &b->blob_dir)
            != NGX_OK)
        {
            goto failed;
        }

        b->blob = blob.data;

        if (u) {
            /* the upload's data, synced as each chunk came */
            b->src = b->data;
            b->links_first = 1;

        } else if (tf) {
            /* synced only if it becomes the blob */
            b->src = b->body_name;
            b->src_fd = b->body;

        } else {
            b->blob_tmp = ngx_http_harbor_tmp_name(r, 'w');
            if (b->blob_tmp == NULL) {
                goto failed;
            }
        }

        if (!c->manifest) {
            if (ngx_http_harbor_commit_link(r, b, NGX_HTTP_HARBOR_LINK_LAYER,
                                            &c->digest, NULL)
                != NGX_OK)
            {
                goto failed;
            }

        } else {

            /*
             * The revision, and with a tag the revision again after the
             * tag: an untagged-only delete that took it meanwhile has lost
             * the race (see manifest_delete).
             */

            if (ngx_http_harbor_commit_link(r, b,
                                            NGX_HTTP_HARBOR_LINK_REVISION,
                                            &c->digest, NULL)
                != NGX_OK)
            {
                goto failed;
            }

            if (c->tag.len
                && (ngx_http_harbor_commit_link(r, b,
                                            NGX_HTTP_HARBOR_LINK_TAG_INDEX,
                                            &c->tag, &c->digest)
                    != NGX_OK
                    || ngx_http_harbor_commit_link(r, b,
                                            NGX_HTTP_HARBOR_LINK_TAG,
                                            &c->tag, NULL)
                       != NGX_OK
                    || ngx_http_harbor_commit_link(r, b,
                                            NGX_HTTP_HARBOR_LINK_REVISION,
                                            &c->digest, NULL)
                       != NGX_OK))
            {
                goto failed;
            }

            if (c->subject.len
                && ngx_http_harbor_commit_link(r, b,
                                               NGX_HTTP_HARBOR_LINK_REFERRER,
                                               &c->subject, &c->digest)
                   != NGX_OK)
            {
                goto failed;
            }
        }
    }

    return ngx_http_harbor_commit_run(r, b);

failed:

    ngx_http_harbor_op_fail(op, NGX_ERROR, NGX_ENOMEM);

    return NGX_ERROR;
}


/*
 * Small files (a link, an upload's first files) written durably, in
 * order, as one task (op->done set) or here (op->done NULL): each one to
 * a temporary file, synced, renamed, its directory synced, or only
 * renewed when it holds its data already.  Returns NGX_AGAIN or op->rc.
 */

ngx_int_t
ngx_http_harbor_write_files(ngx_http_request_t *r, ngx_http_harbor_file_t *f,
    ngx_uint_t n, ngx_http_harbor_op_t *op)
{
    ngx_uint_t                      i;
    ngx_http_harbor_task_t         *t;
    ngx_http_harbor_commit_task_t  *b;

    if (n > NGX_HTTP_HARBOR_LINKS) {
        ngx_http_harbor_op_fail(op, NGX_ERROR, 0);
        return NGX_ERROR;
    }

    t = ngx_http_harbor_task_alloc(r, sizeof(ngx_http_harbor_commit_task_t));
    if (t == NULL) {
        ngx_http_harbor_op_fail(op, NGX_ERROR, NGX_ENOMEM);
        return NGX_ERROR;
    }

    b = (ngx_http_harbor_commit_task_t *) t;

    b->op = op;
    b->root = ngx_http_harbor_conf(r)->storage.len;
    b->body = NGX_INVALID_FILE;
    b->src_fd = NGX_INVALID_FILE;
    b->alg = HB_DIGEST_NONE;

    for (i = 0; i < n; i++) {
        b->links[i] = f[i];

        b->links[i].tmp = ngx_http_harbor_tmp_name(r, 'w');
        if (b->links[i].tmp == NULL) {
            ngx_http_harbor_op_fail(op, NGX_ERROR, NGX_ENOMEM);
            return NGX_ERROR;
        }
    }

    b->nlinks = n;

    return ngx_http_harbor_commit_run(r, b);
}


/*
 * The task in the thread pool, or here when the caller cannot wait
 * (op->done NULL): NGX_AGAIN, or op->rc.
 */

static ngx_int_t
ngx_http_harbor_commit_run(ngx_http_request_t *r,
    ngx_http_harbor_commit_task_t *b)
{
    ngx_int_t  rc;

    if (b->op->done == NULL) {
        ngx_http_harbor_commit_work(&b->task);
        rc = ngx_http_harbor_task_result(&b->task);

    } else {
        rc = ngx_http_harbor_task(r, &b->task, ngx_http_harbor_commit_work,
                                  ngx_http_harbor_commit_done);

        if (rc == NGX_AGAIN) {
            return NGX_AGAIN;
        }
    }

    ngx_http_harbor_commit_finish(b, rc);

    return b->op->rc;
}


static ngx_int_t
ngx_http_harbor_commit_link(ngx_http_request_t *r,
    ngx_http_harbor_commit_task_t *b, ngx_http_harbor_link_e kind,
    ngx_str_t *key, ngx_str_t *key2)
{
    size_t                        entry;
    ngx_str_t                     path;
    ngx_http_harbor_link_t        l;
    ngx_http_harbor_file_t       *s;

    if (b->nlinks == NGX_HTTP_HARBOR_LINKS) {
        return NGX_ERROR;
    }

    ngx_http_harbor_link_init(&l, kind, &b->c->name, key, key2);

    if (ngx_http_harbor_link_path(r, &l, &path, &entry) != NGX_OK) {
        return NGX_ERROR;
    }

    s = &b->links[b->nlinks++];

    s->path = path.data;
    s->dirlen = path.len - (sizeof("/link") - 1);
    s->data = b->c->digest;

    s->tmp = ngx_http_harbor_tmp_name(r, 'w');
    if (s->tmp == NULL) {
        return NGX_ERROR;
    }

    return NGX_OK;
}


static void
ngx_http_harbor_commit_work(ngx_http_harbor_task_t *t)
{
    ngx_http_harbor_commit_task_t *b = (ngx_http_harbor_commit_task_t *) t;

    ngx_uint_t  i;

    if (b->u && b->size > 0) {

        if (b->u->offset == 0) {

            /* a first chunk: synced, then renamed */

            if (fsync(b->body) == -1) {
                (void) ngx_http_harbor_task_fail(t, "fsync()", b->body_name,
                                                 ngx_errno);
                return;
            }

            if (ngx_rename_file(b->body_name, b->data) == NGX_FILE_ERROR) {
                (void) ngx_http_harbor_task_fail(t, ngx_rename_file_n,
                                                 b->data, ngx_errno);
                return;
            }

        } else if (ngx_http_harbor_body_copy(b) != NGX_OK) {
            return;
        }

        /*
         * The hash state that covers it, unless the upload is committed
         * now: bytes past a saved state are dropped when the upload is
         * opened again, so a commit that fails leaves nothing acknowledged
         * behind, and one that succeeds removes the upload.
         */

        if (b->c == NULL) {
            if (ngx_http_harbor_body_state(b) != NGX_OK) {
                return;
            }

            /* the request is blocked: only this thread touches u */

            b->u->offset = b->st.offset;
            b->u->sha = b->st.sha;
        }

    } else if (b->u == NULL && b->c == NULL && b->size > 0) {

        /* a body that is kept as it is (not used today) */

        if (fsync(b->body) == -1) {
            (void) ngx_http_harbor_task_fail(t, "fsync()", b->body_name,
                                             ngx_errno);
            return;
        }
    }

    if (b->c == NULL) {

        /* small files only (ngx_http_harbor_write_files), or none */

        for (i = 0; i < b->nlinks; i++) {
            if (ngx_http_harbor_step_link(b, &b->links[i]) != NGX_OK) {
                return;
            }
        }

        return;
    }

    /* the digest */

    if (b->alg != HB_DIGEST_NONE) {
        if (b->src == NULL) {
            (void) ngx_http_harbor_task_fail(t, "hashing", b->blob, 0);
            return;
        }

        if (ngx_http_harbor_body_hash(b) != NGX_OK) {
            return;
        }

    } else {
        ngx_memcpy(b->hex, b->c->hex, b->c->digest.len - 7);
    }

    if (ngx_memcmp(b->hex, b->c->digest.data + 7, b->c->digest.len - 7) != 0)
    {
        b->mismatch = 1;
        return;
    }

    /*
     * An upload links the blob first: a crash leaves the whole upload
     * (the client completes it again; a link to a blob not yet there
     * answers "unknown" meanwhile) or the blob and its link.  A body is
     * moved into the store first, then made visible.
     */

    if (!b->links_first && ngx_http_harbor_step_blob(b) != NGX_OK) {
        return;
    }

    for (i = 0; i < b->nlinks; i++) {
        if (ngx_http_harbor_step_link(b, &b->links[i]) != NGX_OK) {
            return;
        }
    }

    if (b->links_first) {
        (void) ngx_http_harbor_step_blob(b);
    }
}


static void
ngx_http_harbor_commit_done(ngx_http_harbor_task_t *t, ngx_int_t rc)
{
    ngx_http_harbor_op_t           *op;
    ngx_http_harbor_commit_task_t  *b;

    b = (ngx_http_harbor_commit_task_t *) t;
    op = b->op;

    ngx_http_harbor_commit_finish(b, rc);

    op->done(t->r, op);
}


/*
 * Back on the event loop: the result into op, and a committed upload, or
 * one whose digest did not match (it is over: the client starts again),
 * removed.
 */

static void
ngx_http_harbor_commit_finish(ngx_http_harbor_commit_task_t *b, ngx_int_t rc)
{
    ngx_int_t              drc;
    ngx_http_harbor_op_t  *op;

    op = b->op;

    if (rc != NGX_OK) {
        ngx_http_harbor_task_op_fail(b->task.r, op, ngx_errno);
        return;
    }

    op->rc = b->mismatch ? NGX_DECLINED : NGX_OK;

    if (b->u && b->c) {
        drc = ngx_http_harbor_upload_delete(b->task.r, b->u);

        if (drc != NGX_OK && op->rc == NGX_OK) {
            ngx_http_harbor_op_fail(op, NGX_ERROR, ngx_errno);
        }
    }
}


static ngx_int_t
ngx_http_harbor_fsync_path(ngx_http_harbor_task_t *t, u_char *path)
{
    ngx_fd_t   fd;
    ngx_err_t  err;

    fd = ngx_open_file(path, NGX_FILE_RDONLY, NGX_FILE_OPEN, 0);
    if (fd == NGX_INVALID_FILE) {
        return ngx_http_harbor_task_fail(t, ngx_open_file_n, path,
                                         ngx_errno);
    }

    if (fsync(fd) == -1) {
        err = ngx_errno;
        (void) ngx_close_file(fd);
        return ngx_http_harbor_task_fail(t, "fsync()", path, err);
    }

    if (ngx_close_file(fd) == NGX_FILE_ERROR) {
        return ngx_http_harbor_task_fail(t, ngx_close_file_n, path,
                                         ngx_errno);
    }

    return NGX_OK;
}


static ngx_int_t
ngx_http_harbor_body_copy(ngx_http_harbor_commit_task_t *b)
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
ngx_http_harbor_body_state(ngx_http_harbor_commit_task_t *b)
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
ngx_http_harbor_body_hash(ngx_http_harbor_commit_task_t *b)
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


/*
 * The blob into blobs/, unless it is there already: then its time is
 * renewed (the garbage collector spares young blobs) and the source is
 * left to whoever owns it (nginx removes a request body's file, the
 * upload is removed with its directory).
 */

static ngx_int_t
ngx_http_harbor_step_blob(ngx_http_harbor_commit_task_t *b)
{
    ngx_err_t  err;

    if (utimes((char *) b->blob, NULL) == 0) {
        return NGX_OK;
    }

    err = ngx_errno;

    if (err != NGX_ENOENT && err != NGX_ENOTDIR) {
        return ngx_http_harbor_task_fail(&b->task, "utimes()", b->blob, err);
    }

    if (b->src == NULL) {
        /* the empty blob */
        return ngx_http_harbor_fs_write(&b->task, b->blob, b->blob_dir,
                                        b->blob_tmp, (u_char *) "", 0,
                                        b->root);
    }

    if (b->src_fd != NGX_INVALID_FILE && fsync(b->src_fd) == -1) {
        return ngx_http_harbor_task_fail(&b->task, "fsync()", b->src,
                                         ngx_errno);
    }

    if (ngx_http_harbor_fs_mkdir(&b->task, b->blob, b->blob_dir, b->root)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    if (ngx_rename_file(b->src, b->blob) == NGX_FILE_ERROR) {
        return ngx_http_harbor_task_fail(&b->task, ngx_rename_file_n,
                                         b->blob, ngx_errno);
    }

    return ngx_http_harbor_fs_sync_dir(&b->task, b->blob, b->blob_dir);
}


/*
 * A link: the same link again renews its time (what an untagged-only
 * delete with a cutoff reads as "touched"); one moved aside meanwhile by
 * such a delete, or saying something else, is written anew.
 */

static ngx_int_t
ngx_http_harbor_step_link(ngx_http_harbor_commit_task_t *b,
    ngx_http_harbor_file_t *l)
{
    ssize_t    n;
    ngx_fd_t   fd;
    ngx_err_t  err;
    u_char     buf[HB_DIGEST_MAX + 2];

    fd = ngx_open_file(l->path, NGX_FILE_RDONLY, NGX_FILE_OPEN, 0);

    if (fd == NGX_INVALID_FILE) {
        err = ngx_errno;

        if (err != NGX_ENOENT && err != NGX_ENOTDIR) {
            return ngx_http_harbor_task_fail(&b->task, ngx_open_file_n,
                                             l->path, err);
        }

    } else {
        n = read(fd, buf, sizeof(buf));
        err = ngx_errno;

        (void) ngx_close_file(fd);

        if (n == -1) {
            return ngx_http_harbor_task_fail(&b->task, "read()", l->path,
                                             err);
        }

        if ((size_t) n == l->data.len
            && ngx_memcmp(buf, l->data.data, n) == 0)
        {
            if (utimes((char *) l->path, NULL) == 0) {
                return NGX_OK;
            }

            err = ngx_errno;

            if (err != NGX_ENOENT && err != NGX_ENOTDIR) {
                return ngx_http_harbor_task_fail(&b->task, "utimes()",
                                                 l->path, err);
            }
        }
    }

    return ngx_http_harbor_fs_write(&b->task, l->path, l->dirlen, l->tmp,
                                    l->data.data, l->data.len, b->root);
}
