
/*
 * ngx-harbor: an OCI registry inside nginx.
 * The filesystem store, in CNCF distribution's on-disk layout (the paths
 * come from harbor_layout.c):
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
 * Split by concern: ngx_http_harbor_storage_blob.c (blobs),
 * _storage_link.c (links), _storage_list.c (listings), _storage_upload.c
 * (upload state), ngx_http_harbor_task.c (thread-pool tasks), and this
 * file: the helpers they share.  Only these files build paths and touch
 * the filesystem.
 *
 * Every write is atomic and durable: a temporary file on the same
 * filesystem, fsync, rename, fsync of the directory.
 */


#include "ngx_http_harbor_module.h"
#include "ngx_http_harbor_storage.h"

static ngx_uint_t ngx_http_harbor_file_in_use(ngx_str_t *path,
    ngx_log_t *log, ngx_fd_t *fd);
static ngx_int_t ngx_http_harbor_delete_file(ngx_tree_ctx_t *ctx,
    ngx_str_t *path);
static ngx_int_t ngx_http_harbor_delete_dir(ngx_tree_ctx_t *ctx,
    ngx_str_t *path);
static ngx_int_t ngx_http_harbor_noop(ngx_tree_ctx_t *ctx, ngx_str_t *path);


/* stat(2): NGX_OK, NGX_DECLINED if the path is gone, NGX_ERROR (logged) */

ngx_int_t
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

ngx_int_t
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

void
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
 * The durable writes below run on the event loop or in a thread-pool task
 * alike: they touch neither the pool nor the log, and tell a failure by
 * the call, its file and errno recorded in t (ngx_http_harbor_task_fail),
 * which ngx_http_harbor_task_result() logs on the event loop.  Paths are
 * NUL-terminated; root is the length of the storage root, which exists.
 */


/*
 * Create every missing directory of path[0..len), syncing the parent of
 * each one created so that the new entry survives a crash.  Group write
 * is asked for and the umask, or the store's default ACL, decides: the
 * packaged store lets its group (the collector's) move and remove entries.
 */

ngx_int_t
ngx_http_harbor_fs_mkdir(ngx_http_harbor_task_t *t, u_char *path, size_t len,
    size_t root)
{
    u_char     *p, save;
    size_t      i;
    ngx_err_t   err;
    ngx_int_t   rc;

    save = path[len];
    path[len] = '\0';

    if (ngx_create_dir(path, 0775) != NGX_FILE_ERROR) {
        path[len] = save;

        /* created in one step: its parent exists */

        for (p = path + len; p > path && *(p - 1) != '/'; p--) { /* void */ }

        return ngx_http_harbor_fs_sync_dir(t, path, p - 1 - path);
    }

    err = ngx_errno;
    path[len] = save;

    if (err == NGX_EEXIST) {
        return NGX_OK;
    }

    /* walk down from the root, creating what is missing */

    for (i = root + 1; i <= len; i++) {

        if (i < len && path[i] != '/') {
            continue;
        }

        save = path[i];
        path[i] = '\0';

        if (ngx_create_dir(path, 0775) == NGX_FILE_ERROR) {
            err = ngx_errno;

            if (err != NGX_EEXIST) {
                rc = ngx_http_harbor_task_fail(t, ngx_create_dir_n, path,
                                               err);
                path[i] = save;
                return rc;
            }

        } else {
            for (p = path + i; p > path && *(p - 1) != '/'; p--) { /* void */ }

            if (ngx_http_harbor_fs_sync_dir(t, path, p - 1 - path) != NGX_OK)
            {
                path[i] = save;
                return NGX_ERROR;
            }
        }

        path[i] = save;
    }

    return NGX_OK;
}


/*
 * A new entry is durable only once its directory is: a failed fsync(2) of
 * the directory fails the write, it never ends in a 201.
 */

ngx_int_t
ngx_http_harbor_fs_sync_dir(ngx_http_harbor_task_t *t, u_char *path,
    size_t len)
{
    u_char     save;
    ngx_fd_t   fd;
    ngx_int_t  rc;

    save = path[len];
    path[len] = '\0';

    rc = NGX_OK;

    fd = ngx_open_file(path, NGX_FILE_RDONLY, NGX_FILE_OPEN, 0);

    if (fd == NGX_INVALID_FILE) {
        rc = ngx_http_harbor_task_fail(t, ngx_open_file_n, path, ngx_errno);

    } else {
        if (fsync(fd) == -1) {
            rc = ngx_http_harbor_task_fail(t, "fsync()", path, ngx_errno);
        }

        if (ngx_close_file(fd) == NGX_FILE_ERROR && rc == NGX_OK) {
            rc = ngx_http_harbor_task_fail(t, ngx_close_file_n, path,
                                           ngx_errno);
        }
    }

    path[len] = save;

    return rc;
}


/*
 * Write a small file atomically: the temporary file tmp (in
 * <storage>/_tmp), fsync, rename over path, fsync of path's directory
 * (path[0..dirlen)).
 */

ngx_int_t
ngx_http_harbor_fs_write(ngx_http_harbor_task_t *t, u_char *path,
    size_t dirlen, u_char *tmp, u_char *data, size_t len, size_t root)
{
    ssize_t     n;
    ngx_fd_t    fd;
    ngx_uint_t  tries;

    if (ngx_http_harbor_fs_mkdir(t, path, dirlen, root) != NGX_OK) {
        return NGX_ERROR;
    }

    fd = ngx_open_file(tmp, NGX_FILE_WRONLY, NGX_FILE_TRUNCATE,
                       NGX_FILE_DEFAULT_ACCESS);
    if (fd == NGX_INVALID_FILE) {
        return ngx_http_harbor_task_fail(t, ngx_open_file_n, tmp, ngx_errno);
    }

    n = write(fd, data, len);

    if (n != (ssize_t) len) {
        (void) ngx_http_harbor_task_fail(t, "write()", tmp,
                                         (n == -1) ? ngx_errno : NGX_ENOSPC);
        goto failed;
    }

    if (fsync(fd) == -1) {
        (void) ngx_http_harbor_task_fail(t, "fsync()", tmp, ngx_errno);
        goto failed;
    }

    if (ngx_close_file(fd) == NGX_FILE_ERROR) {
        fd = NGX_INVALID_FILE;
        (void) ngx_http_harbor_task_fail(t, ngx_close_file_n, tmp, ngx_errno);
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

        if (ngx_errno != NGX_ENOENT || tries == 3) {
            (void) ngx_http_harbor_task_fail(t, ngx_rename_file_n, path,
                                             ngx_errno);
            goto failed;
        }

        if (ngx_http_harbor_fs_mkdir(t, path, dirlen, root) != NGX_OK) {
            goto failed;
        }
    }

    return ngx_http_harbor_fs_sync_dir(t, path, dirlen);

failed:

    if (fd != NGX_INVALID_FILE) {
        (void) ngx_close_file(fd);
    }

    (void) ngx_delete_file(tmp);

    return NGX_ERROR;
}


/* A unique temporary name in <storage>/_tmp, from the request pool. */

u_char *
ngx_http_harbor_tmp_name(ngx_http_request_t *r, char kind)
{
    u_char                      *tmp;
    ngx_http_harbor_loc_conf_t  *hlcf;

    hlcf = ngx_http_harbor_conf(r);

    tmp = ngx_pnalloc(r->pool, hlcf->storage.len + sizeof("/_tmp/w.")
                               + NGX_INT64_LEN + NGX_INT_T_LEN + 2);
    if (tmp == NULL) {
        return NULL;
    }

    ngx_sprintf(tmp, "%V/_tmp/%c.%P.%uD%Z", &hlcf->storage, kind, ngx_pid,
                (uint32_t) ngx_random());

    return tmp;
}


/* The same on the event loop: failures logged, errno set. */

ngx_int_t
ngx_http_harbor_mkdir_p(ngx_http_request_t *r, u_char *path, size_t len)
{
    ngx_http_harbor_task_t  t;

    t.r = r;
    t.failed = NULL;

    (void) ngx_http_harbor_fs_mkdir(&t, path, len,
                                    ngx_http_harbor_conf(r)->storage.len);

    return ngx_http_harbor_task_result(&t);
}


ngx_int_t
ngx_http_harbor_fsync_dir(ngx_http_request_t *r, u_char *path, size_t len)
{
    ngx_http_harbor_task_t  t;

    t.r = r;
    t.failed = NULL;

    (void) ngx_http_harbor_fs_sync_dir(&t, path, len);

    return ngx_http_harbor_task_result(&t);
}


ngx_int_t
ngx_http_harbor_write_atomic(ngx_http_request_t *r, u_char *path,
    size_t dirlen, u_char *data, size_t len)
{
    u_char                  *tmp;
    ngx_http_harbor_task_t   t;

    tmp = ngx_http_harbor_tmp_name(r, 'w');
    if (tmp == NULL) {
        ngx_set_errno(NGX_ENOMEM);
        return NGX_ERROR;
    }

    t.r = r;
    t.failed = NULL;

    (void) ngx_http_harbor_fs_write(&t, path, dirlen, tmp, data, len,
                                    ngx_http_harbor_conf(r)->storage.len);

    return ngx_http_harbor_task_result(&t);
}


ngx_int_t
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
 * Open a file of the store for reading: NGX_OK, NGX_DECLINED if it is not
 * there (not an error: the caller answers "unknown"), NGX_ERROR (logged).
 */

ngx_int_t
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


void
ngx_http_harbor_sha256_hex(SHA256_CTX *sha, u_char *hex)
{
    u_char  bin[SHA256_DIGEST_LENGTH];

    SHA256_Final(bin, sha);
    hb_hex(hex, bin, sizeof(bin));
}


/*
 * A directory of a repository (HB_DIR_*), NUL-terminated, from
 * harbor_layout.c, with room for a file name of up to 32 bytes after it.
 */

ngx_int_t
ngx_http_harbor_repo_path(ngx_http_request_t *r, ngx_str_t *name, int dir,
    ngx_str_t *path)
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

    n = hb_layout_repo_dir((char *) path->data, len, (char *) hlcf->v2.data,
                           hlcf->v2.len, (char *) name->data, name->len, dir);
    if (n == -1) {
        ngx_log_error(NGX_LOG_ALERT, r->connection->log, 0,
                      "harbor: no path for repository \"%V\"", name);
        return NGX_ERROR;
    }

    path->len = n;

    return NGX_OK;
}
