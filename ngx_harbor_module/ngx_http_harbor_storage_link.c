
/*
 * ngx-harbor: an OCI registry inside nginx.
 * Links: the small files that say a repository holds a blob, a
 * revision, a tag or a referrer; written atomically, moved aside in one
 * rename when deleted.
 */


#include "ngx_http_harbor_module.h"
#include "ngx_http_harbor_storage.h"




/*
 * The link file of a kind; *entry is the length of the directory that
 * holds everything of the entry (deleted as a whole).
 */

ngx_int_t
ngx_http_harbor_link_path(ngx_http_request_t *r, ngx_http_harbor_link_t *l,
    ngx_str_t *path, size_t *entry)
{
    int                          n;
    size_t                       len;
    ngx_http_harbor_loc_conf_t  *hlcf;

    static const int  kinds[] = {
        HB_LINK_LAYER,                  /* NGX_HTTP_HARBOR_LINK_LAYER */
        HB_LINK_REVISION,               /* NGX_HTTP_HARBOR_LINK_REVISION */
        HB_LINK_TAG,                    /* NGX_HTTP_HARBOR_LINK_TAG */
        HB_LINK_TAG_INDEX,              /* NGX_HTTP_HARBOR_LINK_TAG_INDEX */
        HB_LINK_REFERRER                /* NGX_HTTP_HARBOR_LINK_REFERRER */
    };

    hlcf = ngx_http_harbor_conf(r);

    len = hlcf->v2.len + HB_LAYOUT_EXTRA;

    path->data = ngx_pnalloc(r->pool, len);
    if (path->data == NULL) {
        return NGX_ERROR;
    }

    n = hb_layout_link((char *) path->data, len, (char *) hlcf->v2.data,
                       hlcf->v2.len, (char *) l->name.data, l->name.len,
                       kinds[l->kind], (char *) l->key.data, l->key.len,
                       (char *) l->key2.data, l->key2.len, entry);
    if (n == -1) {
        ngx_log_error(NGX_LOG_ALERT, r->connection->log, 0,
                      "harbor: no link path in \"%V\" for \"%V\"",
                      &l->name, &l->key);
        return NGX_ERROR;
    }

    path->len = n;

    return NGX_OK;
}


/*
 * NGX_OK with *digest set, NGX_DECLINED if there is no such link,
 * NGX_ERROR on a storage fault (errno set).  With digest NULL, only
 * whether it is there, and its time in *mtime if not NULL.
 */

ngx_int_t
ngx_http_harbor_link_get(ngx_http_request_t *r, ngx_http_harbor_link_t *l,
    ngx_str_t *digest, time_t *mtime)
{
    size_t           entry;
    ssize_t          n;
    ngx_fd_t         fd;
    ngx_int_t        rc;
    ngx_str_t        path;
    ngx_file_info_t  fi;
    u_char           buf[HB_DIGEST_MAX + 2];

    if (ngx_http_harbor_link_path(r, l, &path, &entry) != NGX_OK) {
        return NGX_ERROR;
    }

    if (digest == NULL) {

        /*
         * Only whether it is there (the hot path of blob and manifest
         * GETs): one stat(2), and a size a digest can have.
         */

        rc = ngx_http_harbor_stat(r, path.data, &fi);
        if (rc != NGX_OK) {
            return rc;
        }

        if (!ngx_is_file(&fi)
            || ngx_file_size(&fi) < (off_t) sizeof("sha256:") - 1
                                     + HB_SHA256_HEX
            || ngx_file_size(&fi) > (off_t) HB_DIGEST_MAX)
        {
            ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                          "harbor: \"%s\" holds no digest", path.data);
            return NGX_DECLINED;
        }

        if (mtime) {
            *mtime = ngx_file_mtime(&fi);
        }

        return NGX_OK;
    }

    rc = ngx_http_harbor_open_ro(r, path.data, &fd);
    if (rc != NGX_OK) {
        return rc;
    }

    n = read(fd, buf, sizeof(buf));

    if (n == -1) {
        ngx_log_error(NGX_LOG_CRIT, r->connection->log, ngx_errno,
                      "read() \"%s\" failed", path.data);
    }

    ngx_http_harbor_close(r, fd, path.data);

    if (n == -1) {
        return NGX_ERROR;
    }

    if (hb_digest_parse(buf, n) == HB_DIGEST_NONE) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "harbor: \"%s\" holds no digest", path.data);
        return NGX_DECLINED;
    }

    digest->data = ngx_pnalloc(r->pool, n);
    if (digest->data == NULL) {
        return NGX_ERROR;
    }

    digest->len = n;
    ngx_memcpy(digest->data, buf, n);

    return NGX_OK;
}


ngx_int_t
ngx_http_harbor_link_put(ngx_http_request_t *r, ngx_http_harbor_link_t *l,
    ngx_str_t *digest)
{
    size_t     entry;
    ngx_int_t  rc;
    ngx_str_t  path, old;

    rc = ngx_http_harbor_link_get(r, l, &old, NULL);

    if (rc == NGX_ERROR) {
        return NGX_ERROR;
    }

    /*
     * The same link again renews its time (what an untagged-only delete
     * with a cutoff reads as "touched"); one moved aside meanwhile by such
     * a delete is written anew.
     */

    if (rc == NGX_OK && old.len == digest->len
        && ngx_memcmp(old.data, digest->data, old.len) == 0)
    {
        rc = ngx_http_harbor_link_touch(r, l);
        if (rc != NGX_DECLINED) {
            return rc;
        }
    }

    if (ngx_http_harbor_link_path(r, l, &path, &entry) != NGX_OK) {
        return NGX_ERROR;
    }

    return ngx_http_harbor_write_atomic(r, path.data,
                                        path.len - (sizeof("/link") - 1),
                                        digest->data, digest->len);
}


/*
 * Renew a link's time: NGX_OK, NGX_DECLINED if it is not there (moved
 * aside by a delete, or never written), NGX_ERROR (logged, errno set).
 */

ngx_int_t
ngx_http_harbor_link_touch(ngx_http_request_t *r, ngx_http_harbor_link_t *l)
{
    size_t     entry;
    ngx_str_t  path;

    if (ngx_http_harbor_link_path(r, l, &path, &entry) != NGX_OK) {
        return NGX_ERROR;
    }

    return ngx_http_harbor_utimes(r, path.data);
}


/*
 * Take a link out of the store in one rename(2) into <storage>/_tmp: the
 * moment it stops existing.  The moved file keeps its inode, so a renewal
 * that came before the move shows in *mtime; one after it finds nothing.
 * Then ngx_http_harbor_link_restore() or ngx_http_harbor_link_drop().
 * NGX_DECLINED if there is no such link.
 */

ngx_int_t
ngx_http_harbor_link_move(ngx_http_request_t *r, ngx_http_harbor_link_t *l,
    ngx_http_harbor_aside_t *aside)
{
    ngx_err_t        err;
    ngx_file_info_t  fi;

    if (ngx_http_harbor_link_path(r, l, &aside->path, &aside->entry)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    aside->kind = l->kind;

    aside->tmp = ngx_http_harbor_tmp_name(r, 'l');
    if (aside->tmp == NULL) {
        return NGX_ERROR;
    }

    if (ngx_rename_file(aside->path.data, aside->tmp) == NGX_FILE_ERROR) {
        err = ngx_errno;

        if (err == NGX_ENOENT || err == NGX_ENOTDIR) {
            return NGX_DECLINED;
        }

        ngx_log_error(NGX_LOG_CRIT, r->connection->log, err,
                      ngx_rename_file_n " \"%s\" to \"%s\" failed",
                      aside->path.data, aside->tmp);
        ngx_set_errno(err);
        return NGX_ERROR;
    }

    if (ngx_file_info(aside->tmp, &fi) == NGX_FILE_ERROR) {
        err = ngx_errno;
        ngx_log_error(NGX_LOG_CRIT, r->connection->log, err,
                      ngx_file_info_n " \"%s\" failed", aside->tmp);
        (void) ngx_http_harbor_link_restore(r, aside, 1);
        ngx_set_errno(err);
        return NGX_ERROR;
    }

    aside->mtime = ngx_file_mtime(&fi);

    return NGX_OK;
}


/*
 * Put a moved link back.  A link written at its place meanwhile (the same
 * digest: a revision's link holds its own) wins: link(2) never replaces.
 */

ngx_int_t
ngx_http_harbor_link_restore(ngx_http_request_t *r,
    ngx_http_harbor_aside_t *aside, ngx_uint_t sync)
{
    size_t     dirlen;
    ngx_err_t  err;

    dirlen = aside->path.len - (sizeof("/link") - 1);

    if (ngx_http_harbor_mkdir_p(r, aside->path.data, dirlen) != NGX_OK) {
        return NGX_ERROR;
    }

    if (link((char *) aside->tmp, (char *) aside->path.data) == -1) {
        err = ngx_errno;

        if (err != NGX_EEXIST) {
            ngx_log_error(NGX_LOG_CRIT, r->connection->log, err,
                          "link() \"%s\" to \"%s\" failed",
                          aside->tmp, aside->path.data);
            ngx_set_errno(err);
            return NGX_ERROR;
        }
    }

    if (ngx_delete_file(aside->tmp) == NGX_FILE_ERROR) {
        ngx_log_error(NGX_LOG_CRIT, r->connection->log, ngx_errno,
                      ngx_delete_file_n " \"%s\" failed", aside->tmp);
    }

    /* without sync: the caller syncs the directory (in a task) */

    return sync ? ngx_http_harbor_fsync_dir(r, aside->path.data, dirlen)
                : NGX_OK;
}


/*
 * Delete a moved link for good, then the directories of its entry that
 * are empty now (and a tag's index, its history).  A link written at the
 * same place after the move is a write that came after this delete: it
 * stays, and so do its directories (ENOTEMPTY).
 */

ngx_int_t
ngx_http_harbor_link_drop(ngx_http_request_t *r,
    ngx_http_harbor_aside_t *aside)
{
    u_char     *p, *start;
    size_t      len;
    ngx_err_t   err;
    ngx_str_t   index;

    if (ngx_delete_file(aside->tmp) == NGX_FILE_ERROR) {
        ngx_log_error(NGX_LOG_CRIT, r->connection->log, ngx_errno,
                      ngx_delete_file_n " \"%s\" failed", aside->tmp);
        return NGX_ERROR;
    }

    start = aside->path.data;

    if (aside->kind == NGX_HTTP_HARBOR_LINK_TAG) {
        index.len = aside->entry + sizeof("/index") - 1;
        index.data = ngx_pnalloc(r->pool, index.len + 1);
        if (index.data == NULL) {
            return NGX_ERROR;
        }

        ngx_sprintf(index.data, "%*s/index%Z", aside->entry, start);

        if (ngx_http_harbor_delete_tree(r, &index) != NGX_OK) {
            return NGX_ERROR;
        }
    }

    /* from the link's directory up to the entry's */

    len = aside->path.len - (sizeof("/link") - 1);

    while (len >= aside->entry) {
        start[len] = '\0';

        if (ngx_delete_dir(start) == NGX_FILE_ERROR) {
            err = ngx_errno;
            start[len] = '/';

            if (err == NGX_ENOENT || err == ENOTEMPTY || err == NGX_EEXIST) {
                break;
            }

            ngx_log_error(NGX_LOG_CRIT, r->connection->log, err,
                          ngx_delete_dir_n " \"%s\" failed", start);
            ngx_set_errno(err);
            return NGX_ERROR;
        }

        start[len] = '/';

        for (p = start + len; p > start && *(p - 1) != '/'; p--) {
            /* void */
        }

        if (p == start) {
            break;
        }

        len = p - 1 - start;
    }

    return NGX_OK;
}


/* A link and its entry: NGX_DECLINED if there was no such link. */

ngx_int_t
ngx_http_harbor_link_delete(ngx_http_request_t *r, ngx_http_harbor_link_t *l)
{
    ngx_int_t                rc;
    ngx_http_harbor_aside_t  aside;

    rc = ngx_http_harbor_link_move(r, l, &aside);
    if (rc != NGX_OK) {
        return rc;
    }

    return ngx_http_harbor_link_drop(r, &aside);
}


ngx_int_t
ngx_http_harbor_repo_exists(ngx_http_request_t *r, ngx_str_t *name)
{
    ngx_str_t        path;
    ngx_file_info_t  fi;

    if (ngx_http_harbor_repo_path(r, name, HB_DIR_MANIFESTS, &path)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    return ngx_http_harbor_stat(r, path.data, &fi);
}


/*
 * The immutable tag rules of a project (harbor_policy.h) into *data,
 * from the request pool: NGX_OK, NGX_DECLINED when it has none,
 * NGX_ERROR on a fault or a file too large (fail closed: the caller
 * refuses).  Read on every tag move or delete, never cached.
 */

ngx_int_t
ngx_http_harbor_policy_read(ngx_http_request_t *r, const char *dir,
    ngx_str_t *project, ngx_str_t *data)
{
    int                          n;
    size_t                       len, got;
    ssize_t                      rd;
    ngx_fd_t                     fd;
    ngx_int_t                    rc;
    ngx_http_harbor_loc_conf_t  *hlcf;
    u_char                      *path, *buf;

    hlcf = ngx_http_harbor_conf(r);

    len = hlcf->storage.len + ngx_strlen(dir) + HB_NAME_MAX + 2;

    path = ngx_pnalloc(r->pool, len);
    buf = ngx_pnalloc(r->pool, HB_POLICY_MAX + 1);
    if (path == NULL || buf == NULL) {
        ngx_set_errno(0);
        return NGX_ERROR;
    }

    n = hb_policy_path((char *) path, len, (char *) hlcf->storage.data,
                       hlcf->storage.len, dir, (char *) project->data,
                       project->len);
    if (n == -1) {
        ngx_log_error(NGX_LOG_ALERT, r->connection->log, 0,
                      "harbor: no rules path for project \"%V\"", project);
        ngx_set_errno(0);
        return NGX_ERROR;
    }

    rc = ngx_http_harbor_open_ro(r, path, &fd);
    if (rc != NGX_OK) {
        return rc;
    }

    for (got = 0; got <= HB_POLICY_MAX; got += rd) {
        rd = read(fd, buf + got, HB_POLICY_MAX + 1 - got);

        if (rd == -1) {
            ngx_log_error(NGX_LOG_CRIT, r->connection->log, ngx_errno,
                          "read() \"%s\" failed", path);
            ngx_http_harbor_close(r, fd, path);
            return NGX_ERROR;
        }

        if (rd == 0) {
            break;
        }
    }

    ngx_http_harbor_close(r, fd, path);

    if (got > HB_POLICY_MAX) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "harbor: \"%s\" is larger than %d bytes", path,
                      HB_POLICY_MAX);
        ngx_set_errno(0);
        return NGX_ERROR;
    }

    data->data = buf;
    data->len = got;

    return NGX_OK;
}
