
/*
 * ngx-harbor: an OCI registry inside nginx.
 * Listings: a page of the tags of a repository, of the
 * repositories, of the referrers of a manifest.
 */


#include "ngx_http_harbor_module.h"
#include "ngx_http_harbor_storage.h"


static ngx_int_t ngx_http_harbor_tags_dir(ngx_http_request_t *r,
    ngx_str_t *name, ngx_str_t *path);
static ngx_int_t ngx_http_harbor_walk_repos(ngx_http_request_t *r,
    u_char *path, size_t len, size_t base, ngx_http_harbor_page_t *page,
    ngx_uint_t depth);
static ngx_int_t ngx_http_harbor_read_dir(ngx_http_request_t *r,
    ngx_str_t *path, ngx_array_t *names, ngx_http_harbor_page_t *page,
    ngx_uint_t dirs_only);
static ngx_int_t ngx_http_harbor_page_add(ngx_http_request_t *r,
    ngx_http_harbor_page_t *page, u_char *data, size_t len);
static ngx_uint_t ngx_http_harbor_page_before(ngx_http_harbor_page_t *page,
    u_char *prefix, size_t len);
static ngx_uint_t ngx_http_harbor_page_after(ngx_http_harbor_page_t *page,
    u_char *prefix, size_t len);
static int ngx_libc_cdecl ngx_http_harbor_name_cmp(const void *one,
    const void *two);


/* The tags directory of a repository; NGX_DECLINED: no repository. */

static ngx_int_t
ngx_http_harbor_tags_dir(ngx_http_request_t *r, ngx_str_t *name,
    ngx_str_t *path)
{
    ngx_int_t  rc;

    rc = ngx_http_harbor_repo_exists(r, name);
    if (rc != NGX_OK) {
        return rc;
    }

    return ngx_http_harbor_repo_path(r, name, HB_DIR_TAGS, path);
}


/*
 * A page of the tags of a repository.  NGX_DECLINED if the repository is
 * unknown.  The directory is read once; only the names that may be on
 * the page are kept (a filesystem lists them unsorted).
 */

ngx_int_t
ngx_http_harbor_list_tags(ngx_http_request_t *r, ngx_str_t *name,
    ngx_http_harbor_page_t *page)
{
    ngx_int_t  rc;
    ngx_str_t  path;

    rc = ngx_http_harbor_tags_dir(r, name, &path);
    if (rc != NGX_OK) {
        return rc;
    }

    page->valid = hb_tag_valid;

    rc = ngx_http_harbor_read_dir(r, &path, NULL, page, 1);

    return (rc == NGX_DECLINED) ? NGX_OK : rc;
}


/* Every tag of a repository, unsorted.  NGX_DECLINED: no repository. */

ngx_int_t
ngx_http_harbor_all_tags(ngx_http_request_t *r, ngx_str_t *name,
    ngx_array_t *tags)
{
    ngx_int_t   rc;
    ngx_str_t   path, *t;
    ngx_uint_t  i, j;

    rc = ngx_http_harbor_tags_dir(r, name, &path);
    if (rc != NGX_OK) {
        return rc;
    }

    rc = ngx_http_harbor_read_dir(r, &path, tags, NULL, 1);
    if (rc == NGX_DECLINED) {
        return NGX_OK;
    }

    if (rc != NGX_OK) {
        return rc;
    }

    t = tags->elts;

    for (i = 0, j = 0; i < tags->nelts; i++) {
        if (hb_tag_valid(t[i].data, t[i].len)) {
            t[j++] = t[i];
        }
    }

    tags->nelts = j;

    return NGX_OK;
}


/*
 * A page of the repositories (directories holding _manifests).  Subtrees
 * whose names all come before ?last=, or after a full page, are not
 * read.
 */

ngx_int_t
ngx_http_harbor_list_repos(ngx_http_request_t *r, ngx_http_harbor_page_t *page)
{
    int                          n;
    u_char                      *path;
    size_t                       len;
    ngx_http_harbor_loc_conf_t  *hlcf;

    hlcf = ngx_http_harbor_conf(r);

    len = hlcf->v2.len + HB_LAYOUT_EXTRA;

    path = ngx_pnalloc(r->pool, len + HB_NAME_MAX + 2);
    if (path == NULL) {
        return NGX_ERROR;
    }

    n = hb_layout_repositories((char *) path, len, (char *) hlcf->v2.data,
                               hlcf->v2.len);
    if (n == -1) {
        return NGX_ERROR;
    }

    return ngx_http_harbor_walk_repos(r, path, n, n + 1, page, 0);
}


static ngx_int_t
ngx_http_harbor_walk_repos(ngx_http_request_t *r, u_char *path, size_t len,
    size_t base, ngx_http_harbor_page_t *page, ngx_uint_t depth)
{
    ngx_int_t    rc;
    ngx_str_t    dir, *sub;
    ngx_uint_t   i;
    ngx_array_t  subs;

    if (depth > HB_NAME_MAX / 2) {
        return NGX_OK;
    }

    if (ngx_array_init(&subs, r->pool, 16, sizeof(ngx_str_t)) != NGX_OK) {
        return NGX_ERROR;
    }

    dir.data = path;
    dir.len = len;
    path[len] = '\0';

    rc = ngx_http_harbor_read_dir(r, &dir, &subs, NULL, 1);
    if (rc == NGX_DECLINED) {
        return NGX_OK;
    }

    if (rc != NGX_OK) {
        return rc;
    }

    sub = subs.elts;

    /* this directory is a repository */

    for (i = 0; i < subs.nelts; i++) {
        if (sub[i].len == 10 && ngx_strncmp(sub[i].data, "_manifests", 10) == 0
            && len > base && hb_name_valid(path + base, len - base))
        {
            if (ngx_http_harbor_page_add(r, page, path + base, len - base)
                != NGX_OK)
            {
                return NGX_ERROR;
            }

            break;
        }
    }

    /*
     * The entries in order: a later entry's name, and every name under
     * it, come after an earlier entry's name, so once an entry's name
     * comes after a full page, the rest of the directory is not looked
     * at.  (The directory is read whole all the same: readdir(3) does not
     * sort.)
     */

    ngx_qsort(subs.elts, subs.nelts, sizeof(ngx_str_t),
              ngx_http_harbor_name_cmp);

    for (i = 0; i < subs.nelts; i++) {

        if (sub[i].data[0] == '_' || len - base + 1 + sub[i].len > HB_NAME_MAX)
        {
            continue;
        }

        /*
         * The names here are "<sub>" and "<sub>/...": all after a full
         * page (and so are those of the entries after it), or all before
         * ?last=?
         */

        path[len] = '/';
        ngx_memcpy(path + len + 1, sub[i].data, sub[i].len);
        path[len + 1 + sub[i].len] = '/';

        if (ngx_http_harbor_page_after(page, path + base,
                                       len + 1 + sub[i].len - base))
        {
            break;
        }

        if (ngx_http_harbor_page_before(page, path + base,
                                        len + 2 + sub[i].len - base))
        {
            continue;
        }

        rc = ngx_http_harbor_walk_repos(r, path, len + 1 + sub[i].len, base,
                                        page, depth + 1);
        if (rc != NGX_OK) {
            return rc;
        }
    }

    path[len] = '\0';

    return NGX_OK;
}


/*
 * A page of the digests of the manifests whose subject is the given
 * digest.
 */

ngx_int_t
ngx_http_harbor_list_referrers(ngx_http_request_t *r, ngx_str_t *name,
    ngx_str_t *subject, ngx_http_harbor_page_t *page)
{
    int                          n;
    u_char                      *p;
    ngx_int_t                    rc;
    ngx_str_t                    path, sub, *alg, *hex;
    ngx_uint_t                   i, j;
    ngx_array_t                  algs, hexes;
    u_char                       d[HB_DIGEST_MAX];
    ngx_http_harbor_loc_conf_t  *hlcf;

    hlcf = ngx_http_harbor_conf(r);

    path.data = ngx_pnalloc(r->pool, hlcf->v2.len + HB_LAYOUT_EXTRA);
    if (path.data == NULL) {
        return NGX_ERROR;
    }

    n = hb_layout_referrers((char *) path.data, hlcf->v2.len + HB_LAYOUT_EXTRA,
                            (char *) hlcf->v2.data, hlcf->v2.len,
                            (char *) name->data, name->len,
                            (char *) subject->data, subject->len);
    if (n == -1) {
        ngx_log_error(NGX_LOG_ALERT, r->connection->log, 0,
                      "harbor: no referrers path in \"%V\" for \"%V\"",
                      name, subject);
        return NGX_ERROR;
    }

    path.len = n;

    if (ngx_array_init(&algs, r->pool, 2, sizeof(ngx_str_t)) != NGX_OK) {
        return NGX_ERROR;
    }

    rc = ngx_http_harbor_read_dir(r, &path, &algs, NULL, 1);
    if (rc == NGX_DECLINED) {
        return NGX_OK;
    }

    if (rc != NGX_OK) {
        return rc;
    }

    alg = algs.elts;

    for (i = 0; i < algs.nelts; i++) {

        sub.data = ngx_pnalloc(r->pool, path.len + alg[i].len + 2);
        if (sub.data == NULL) {
            return NGX_ERROR;
        }

        p = ngx_sprintf(sub.data, "%V/%V%Z", &path, &alg[i]);
        sub.len = p - 1 - sub.data;

        if (ngx_array_init(&hexes, r->pool, 8, sizeof(ngx_str_t)) != NGX_OK) {
            return NGX_ERROR;
        }

        rc = ngx_http_harbor_read_dir(r, &sub, &hexes, NULL, 1);
        if (rc == NGX_DECLINED) {
            continue;
        }

        if (rc != NGX_OK) {
            return rc;
        }

        hex = hexes.elts;

        for (j = 0; j < hexes.nelts; j++) {
            if (alg[i].len + 1 + hex[j].len > HB_DIGEST_MAX) {
                continue;
            }

            p = ngx_sprintf(d, "%V:%V", &alg[i], &hex[j]);

            if (hb_digest_parse(d, p - d) == HB_DIGEST_NONE) {
                continue;
            }

            if (ngx_http_harbor_page_add(r, page, d, p - d) != NGX_OK) {
                return NGX_ERROR;
            }
        }
    }

    return NGX_OK;
}


/* Names in a directory, without "." entries; NGX_DECLINED if absent. */

static ngx_int_t
ngx_http_harbor_read_dir(ngx_http_request_t *r, ngx_str_t *path,
    ngx_array_t *names, ngx_http_harbor_page_t *page, ngx_uint_t dirs_only)
{
    size_t      len;
    ngx_dir_t   dir;
    ngx_err_t   err;
    ngx_str_t  *name;

    if (ngx_open_dir(path, &dir) == NGX_ERROR) {
        err = ngx_errno;

        if (err == NGX_ENOENT || err == NGX_ENOTDIR) {
            return NGX_DECLINED;
        }

        ngx_log_error(NGX_LOG_CRIT, r->connection->log, err,
                      ngx_open_dir_n " \"%V\" failed", path);
        return NGX_ERROR;
    }

    for ( ;; ) {
        ngx_set_errno(0);

        if (ngx_read_dir(&dir) == NGX_ERROR) {
            err = ngx_errno;

            if (err != NGX_ENOMOREFILES) {
                ngx_log_error(NGX_LOG_CRIT, r->connection->log, err,
                              ngx_read_dir_n " \"%V\" failed", path);
                ngx_close_dir(&dir);
                return NGX_ERROR;
            }

            break;
        }

        len = ngx_de_namelen(&dir);

        if (ngx_de_name(&dir)[0] == '.') {
            continue;
        }

        if (dirs_only && dir.type != 0 && !ngx_de_is_dir(&dir)) {
            continue;
        }

        if (page) {
            if (ngx_http_harbor_page_add(r, page, ngx_de_name(&dir), len)
                != NGX_OK)
            {
                ngx_close_dir(&dir);
                return NGX_ERROR;
            }

            continue;
        }

        name = ngx_array_push(names);
        if (name == NULL) {
            ngx_close_dir(&dir);
            return NGX_ERROR;
        }

        name->len = len;
        name->data = ngx_pnalloc(r->pool, len);
        if (name->data == NULL) {
            ngx_close_dir(&dir);
            return NGX_ERROR;
        }

        ngx_memcpy(name->data, ngx_de_name(&dir), len);
    }

    ngx_close_dir(&dir);

    return NGX_OK;
}


/*
 * Offer a name to a page: it is kept, in order, if it comes after last,
 * passes the page's check, and is among the first n + 1 seen so far.
 * The copy is made only then.
 */

static ngx_int_t
ngx_http_harbor_page_add(ngx_http_request_t *r, ngx_http_harbor_page_t *page,
    u_char *data, size_t len)
{
    ngx_str_t   *it;
    ngx_uint_t   lo, hi, mid, max;

    if (page->last.len
        && ngx_memn2cmp(data, page->last.data, len, page->last.len) <= 0)
    {
        return NGX_OK;
    }

    if (page->valid && !page->valid(data, len)) {
        return NGX_OK;
    }

    it = page->items.elts;
    max = page->n + 1;

    if (page->items.nelts == max
        && ngx_memn2cmp(data, it[max - 1].data, len, it[max - 1].len) >= 0)
    {
        return NGX_OK;
    }

    /* where it goes */

    lo = 0;
    hi = page->items.nelts;

    while (lo < hi) {
        mid = (lo + hi) / 2;

        if (ngx_memn2cmp(it[mid].data, data, it[mid].len, len) < 0) {
            lo = mid + 1;

        } else {
            hi = mid;
        }
    }

    if (lo < page->items.nelts
        && ngx_memn2cmp(it[lo].data, data, it[lo].len, len) == 0)
    {
        return NGX_OK;
    }

    if (page->items.nelts < max) {
        if (ngx_array_push(&page->items) == NULL) {
            return NGX_ERROR;
        }

        it = page->items.elts;
    }

    ngx_memmove(&it[lo + 1], &it[lo],
                (page->items.nelts - 1 - lo) * sizeof(ngx_str_t));

    it[lo].len = len;
    it[lo].data = ngx_pnalloc(r->pool, len);
    if (it[lo].data == NULL) {
        return NGX_ERROR;
    }

    ngx_memcpy(it[lo].data, data, len);

    return NGX_OK;
}


/*
 * Whether every name that starts with prefix (a directory's names, with
 * its "/") comes before ?last=.
 */

static ngx_uint_t
ngx_http_harbor_page_before(ngx_http_harbor_page_t *page, u_char *prefix,
    size_t len)
{
    return page->last.len
           && !(page->last.len >= len
                && ngx_strncmp(page->last.data, prefix, len) == 0)
           && ngx_memn2cmp(prefix, page->last.data, len, page->last.len) < 0;
}


/*
 * Whether the page is full and every name that starts with prefix comes
 * after it.
 */

static ngx_uint_t
ngx_http_harbor_page_after(ngx_http_harbor_page_t *page, u_char *prefix,
    size_t len)
{
    ngx_str_t  *it;

    it = page->items.elts;

    return page->items.nelts == page->n + 1
           && ngx_memn2cmp(prefix, it[page->n].data, len, it[page->n].len)
              > 0;
}


static int ngx_libc_cdecl
ngx_http_harbor_name_cmp(const void *one, const void *two)
{
    const ngx_str_t  *a = one, *b = two;

    return ngx_memn2cmp(a->data, b->data, a->len, b->len);
}
