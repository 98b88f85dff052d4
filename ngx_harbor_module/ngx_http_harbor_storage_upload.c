
/*
 * ngx-harbor: an OCI registry inside nginx.
 * Upload state: an upload's directory, its lock, its data and the
 * hash state saved after each chunk, the body work of a chunk as a
 * thread-pool task, and the commit of a finished upload.
 */


#include "ngx_http_harbor_module.h"
#include "ngx_http_harbor_storage.h"

#include <sys/file.h>


#define NGX_HTTP_HARBOR_STATE_MAGIC  "HBSHA256"


typedef struct {
    u_char      magic[8];
    uint64_t    offset;
    SHA256_CTX  sha;
} ngx_http_harbor_state_t;


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


static ngx_int_t ngx_http_harbor_upload_dir(ngx_http_request_t *r,
    ngx_str_t *name, ngx_str_t *uuid, ngx_str_t *dir);
static u_char *ngx_http_harbor_upload_file(ngx_http_request_t *r,
    ngx_str_t *dir, const char *file);
static void ngx_http_harbor_close_lock(void *data);
static ngx_int_t ngx_http_harbor_fsync_path(ngx_http_harbor_task_t *t,
    u_char *path);
static ngx_int_t ngx_http_harbor_body_copy(ngx_http_harbor_body_task_t *b);
static ngx_int_t ngx_http_harbor_body_state(ngx_http_harbor_body_task_t *b);
static ngx_int_t ngx_http_harbor_body_hash(ngx_http_harbor_body_task_t *b);
static void ngx_http_harbor_body_work(ngx_http_harbor_task_t *t);


static ngx_int_t
ngx_http_harbor_upload_dir(ngx_http_request_t *r, ngx_str_t *name,
    ngx_str_t *uuid, ngx_str_t *dir)
{
    int                          n;
    size_t                       len;
    ngx_http_harbor_loc_conf_t  *hlcf;

    hlcf = ngx_http_harbor_conf(r);

    /* HB_LAYOUT_EXTRA leaves room for "/<file>" after the directory */

    len = hlcf->v2.len + HB_LAYOUT_EXTRA;

    dir->data = ngx_pnalloc(r->pool, len);
    if (dir->data == NULL) {
        return NGX_ERROR;
    }

    n = hb_layout_upload((char *) dir->data, len, (char *) hlcf->v2.data,
                         hlcf->v2.len, (char *) name->data, name->len,
                         (char *) uuid->data, uuid->len);
    if (n == -1) {
        ngx_log_error(NGX_LOG_ALERT, r->connection->log, 0,
                      "harbor: no upload path in \"%V\" for \"%V\"",
                      name, uuid);
        return NGX_ERROR;
    }

    dir->len = n;

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
