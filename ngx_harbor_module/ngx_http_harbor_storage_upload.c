
/*
 * ngx-harbor: an OCI registry inside nginx.
 * Upload state: an upload's directory, its lock, its data and the
 * hash state saved after each chunk, the body work of a chunk as a
 * thread-pool task, and the commit of a finished upload.
 */


#include "ngx_http_harbor_module.h"
#include "ngx_http_harbor_storage.h"

#include <sys/file.h>


static ngx_int_t ngx_http_harbor_upload_dir(ngx_http_request_t *r,
    ngx_str_t *name, ngx_str_t *uuid, ngx_str_t *dir);
static void ngx_http_harbor_close_lock(void *data);


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

u_char *
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
    ngx_str_t *uuid, ngx_http_harbor_op_t *op)
{
    u_char                  *p, *when;
    ngx_tm_t                 tm;
    uint64_t                 ms;
    ngx_str_t                dir;
    ngx_uint_t               i;
    ngx_time_t              *tp;
    ngx_http_harbor_file_t   f[2];
    u_char                   rnd[16], hex[32];

    /* what a failure before the writes is */
    ngx_http_harbor_op_fail(op, NGX_ERROR, 0);

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

    /*
     * An empty data file, then its startedat: written last, its presence
     * makes the upload exist.
     */

    f[0].path = ngx_http_harbor_upload_file(r, &dir, "data");
    f[1].path = ngx_http_harbor_upload_file(r, &dir, "startedat");
    when = ngx_pnalloc(r->pool, sizeof("1970-01-01T00:00:00Z"));

    if (f[0].path == NULL || f[1].path == NULL || when == NULL) {
        return NGX_ERROR;
    }

    ngx_gmtime(ngx_time(), &tm);
    p = ngx_sprintf(when, "%4d-%02d-%02dT%02d:%02d:%02dZ",
                    tm.ngx_tm_year, tm.ngx_tm_mon, tm.ngx_tm_mday,
                    tm.ngx_tm_hour, tm.ngx_tm_min, tm.ngx_tm_sec);

    f[0].dirlen = dir.len;
    ngx_str_set(&f[0].data, "");

    f[1].dirlen = dir.len;
    f[1].data.data = when;
    f[1].data.len = p - when;

    return ngx_http_harbor_write_files(r, f, 2, op);
}


ngx_int_t
ngx_http_harbor_upload_open(ngx_http_request_t *r, ngx_str_t *name,
    ngx_str_t *uuid, ngx_http_harbor_upload_t *u)
{
    u_char                       *file;
    ssize_t                       n;
    ngx_fd_t                      fd;
    ngx_int_t                     rc;
    ngx_file_info_t               fi;
    ngx_pool_cleanup_t           *cln;
    ngx_http_harbor_state_t       st;
    ngx_http_harbor_fs_upload_t  *fu;

    fu = ngx_pcalloc(r->pool, sizeof(ngx_http_harbor_fs_upload_t));
    if (fu == NULL) {
        return NGX_ERROR;
    }

    fu->lock = NGX_INVALID_FILE;
    u->backend = fu;

    if (ngx_http_harbor_upload_dir(r, name, uuid, &fu->dir) != NGX_OK) {
        return NGX_ERROR;
    }

    file = ngx_http_harbor_upload_file(r, &fu->dir, "startedat");
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

    fu->lock = fd;
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

    file = ngx_http_harbor_upload_file(r, &fu->dir, "hbstate");
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

    file = ngx_http_harbor_upload_file(r, &fu->dir, "data");
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
    ngx_err_t                     err;
    ngx_http_harbor_fs_upload_t  *fu;

    fu = u->backend;

    if (fu == NULL || fu->lock == NGX_INVALID_FILE) {
        return;
    }

    err = ngx_errno;

    if (ngx_close_file(fu->lock) == NGX_FILE_ERROR) {
        ngx_log_error(NGX_LOG_ALERT, ngx_cycle->log, ngx_errno,
                      ngx_close_file_n " \"%V/startedat\" failed", &fu->dir);
    }

    fu->lock = NGX_INVALID_FILE;
    ngx_set_errno(err);
}


ngx_int_t
ngx_http_harbor_upload_delete(ngx_http_request_t *r,
    ngx_http_harbor_upload_t *u)
{
    ngx_str_t                     dir, uuid;
    ngx_http_harbor_fs_upload_t  *fu;

    fu = u->backend;

    dir.len = fu->dir.len;
    dir.data = ngx_pnalloc(r->pool, dir.len + 1);
    if (dir.data == NULL) {
        return NGX_ERROR;
    }

    ngx_memcpy(dir.data, fu->dir.data, dir.len);
    dir.data[dir.len] = '\0';

    /* the session no longer counts against the limits: its id ends dir */

    uuid.len = HB_UUID_LEN;
    uuid.data = dir.data + dir.len - HB_UUID_LEN;
    ngx_http_harbor_sessions_end(r, &uuid);

    return ngx_http_harbor_delete_tree(r, &dir);
}
