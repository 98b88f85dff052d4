/*
 * authd: the registry's storage, read only.
 *
 * CNCF distribution's layout under <registry_storage>/docker/registry/v2,
 * the one the nginx module writes.  This file never changes it: deletions
 * and new tags go through /v2 (registry.c), so that one implementation
 * does them.  (The garbage collector's sweep, gc.c, is the one writer
 * besides the module: docs/gc.md.)  What authd reads here: link files (revisions, tags, referrers),
 * manifests and image configs (bounded, digest checked), and the list of
 * repositories, revisions and tags for reindex.
 *
 * Every path is built from parts checked against the registry grammar
 * (harbor_grammar.c) first; nothing comes from a request unchecked.
 */

#include <sys/stat.h>
#include <sys/types.h>

#include <dirent.h>
#include <stdarg.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "authd.h"
#include "harbor_grammar.h"


#define STORE_LINK_MAX    256
#define STORE_DEPTH_MAX   64


int
store_enabled(void)
{
    return conf->registry_storage != NULL;
}


/* "<root>/docker/registry/v2/<fmt...>"; -1 if too long */
static int
store_path(char *out, size_t len, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int
store_path(char *out, size_t len, const char *fmt, ...)
{
    va_list  ap;
    int      n, m;

    n = snprintf(out, len, "%s/docker/registry/v2/", conf->registry_storage);
    if (n < 0 || (size_t) n >= len) {
        return -1;
    }

    va_start(ap, fmt);
    m = vsnprintf(out + n, len - (size_t) n, fmt, ap);
    va_end(ap);

    if (m < 0 || (size_t) m >= len - (size_t) n) {
        return -1;
    }

    return 0;
}


/* "sha256:<hex>" into "sha256" and "<hex>"; -1 if not a digest */
static int
store_digest(const char *digest, char *alg, size_t alen, const char **hex)
{
    const char  *colon;

    if (hb_digest_parse((const unsigned char *) digest, strlen(digest))
        == HB_DIGEST_NONE)
    {
        return -1;
    }

    colon = strchr(digest, ':');
    if ((size_t) (colon - digest) >= alen) {
        return -1;
    }

    memcpy(alg, digest, (size_t) (colon - digest));
    alg[colon - digest] = '\0';
    *hex = colon + 1;

    return 0;
}


static int
store_name_ok(const char *name)
{
    return hb_name_valid((const unsigned char *) name, strlen(name));
}


/*
 * A link file: STORE_OK with the digest it holds, STORE_MISSING if there
 * is none (or it holds no valid digest), -1 on an I/O error.
 */
static int
store_link(const char *path, char *digest, size_t len, time_t *mtime)
{
    struct stat  st;
    char         buf[STORE_LINK_MAX];
    ssize_t      n;
    int          fd;

    fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd == -1) {
        if (errno == ENOENT || errno == ENOTDIR || errno == ELOOP) {
            return STORE_MISSING;
        }
        log_warn("open \"%s\"", path);
        return -1;
    }

    if (fstat(fd, &st) == -1 || !S_ISREG(st.st_mode)) {
        close(fd);
        return STORE_MISSING;
    }

    n = read(fd, buf, sizeof(buf) - 1);
    close(fd);

    if (n < 0) {
        log_warn("read \"%s\"", path);
        return -1;
    }

    while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == ' ')) {
        n--;
    }
    buf[n] = '\0';

    if (hb_digest_parse((unsigned char *) buf, (size_t) n) == HB_DIGEST_NONE
        || (size_t) n >= len)
    {
        return STORE_MISSING;
    }

    if (digest != NULL) {
        memcpy(digest, buf, (size_t) n + 1);
    }

    if (mtime != NULL) {
        *mtime = st.st_mtime;
    }

    return STORE_OK;
}


/* Whether the repository holds this manifest (its revision link). */
int
store_revision(const char *name, const char *digest, time_t *mtime)
{
    char         path[PATH_MAX], alg[16], got[HB_DIGEST_MAX + 1];
    const char  *hex;
    int          rc;

    if (!store_enabled() || !store_name_ok(name)
        || store_digest(digest, alg, sizeof(alg), &hex) != 0)
    {
        return STORE_MISSING;
    }

    if (store_path(path, sizeof(path),
                   "repositories/%s/_manifests/revisions/%s/%s/link", name,
                   alg, hex) != 0)
    {
        return STORE_MISSING;
    }

    rc = store_link(path, got, sizeof(got), mtime);

    if (rc == STORE_OK && strcmp(got, digest) != 0) {
        return STORE_MISSING;
    }

    return rc;
}


/* The digest a tag points at. */
int
store_tag(const char *name, const char *tag, char *digest, size_t len,
    time_t *mtime)
{
    char  path[PATH_MAX];

    if (!store_enabled() || !store_name_ok(name)
        || !hb_tag_valid((const unsigned char *) tag, strlen(tag)))
    {
        return STORE_MISSING;
    }

    if (store_path(path, sizeof(path),
                   "repositories/%s/_manifests/tags/%s/current/link", name,
                   tag) != 0)
    {
        return STORE_MISSING;
    }

    return store_link(path, digest, len, mtime);
}


/* Whether the module's referrers index lists digest under subject. */
int
store_referrer(const char *name, const char *subject, const char *digest)
{
    char         path[PATH_MAX], salg[16], alg[16];
    const char  *shex, *hex;

    if (!store_enabled() || !store_name_ok(name)
        || store_digest(subject, salg, sizeof(salg), &shex) != 0
        || store_digest(digest, alg, sizeof(alg), &hex) != 0)
    {
        return STORE_MISSING;
    }

    if (store_path(path, sizeof(path),
                   "repositories/%s/_referrers/%s/%s/%s/%s/link", name,
                   salg, shex, alg, hex) != 0)
    {
        return STORE_MISSING;
    }

    return store_link(path, NULL, HB_DIGEST_MAX + 1, NULL);
}


static int
store_check_digest(const char *digest, const char *data, size_t len)
{
    unsigned char  md[EVP_MAX_MD_SIZE];
    char           hex[2 * EVP_MAX_MD_SIZE + 1];
    const char    *want;
    unsigned int   n;
    const EVP_MD  *alg;

    alg = strncmp(digest, "sha512:", 7) == 0 ? EVP_sha512() : EVP_sha256();
    want = strchr(digest, ':') + 1;

    if (EVP_Digest(data, len, md, &n, alg, NULL) != 1) {
        return -1;
    }

    hb_hex((unsigned char *) hex, md, n);
    hex[2 * n] = '\0';

    return strcmp(hex, want) == 0 ? 0 : -1;
}


/*
 * A blob's bytes, if it exists and is at most max bytes, checked against
 * its digest.  STORE_OK with *data (malloc'ed, NUL-terminated) and *len;
 * STORE_MISSING if it is absent, too large or corrupt; -1 on I/O errors.
 */
int
store_blob(const char *digest, size_t max, char **data, size_t *len)
{
    struct stat  st;
    char         path[PATH_MAX], alg[16], *buf;
    const char  *hex;
    size_t       got;
    ssize_t      n;
    int          fd;

    *data = NULL;
    *len = 0;

    if (!store_enabled() || store_digest(digest, alg, sizeof(alg), &hex) != 0
        || store_path(path, sizeof(path), "blobs/%s/%.2s/%s/data", alg, hex,
                      hex) != 0)
    {
        return STORE_MISSING;
    }

    fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd == -1) {
        if (errno == ENOENT || errno == ENOTDIR || errno == ELOOP) {
            return STORE_MISSING;
        }
        log_warn("open \"%s\"", path);
        return -1;
    }

    if (fstat(fd, &st) == -1) {
        log_warn("fstat \"%s\"", path);
        close(fd);
        return -1;
    }

    if (!S_ISREG(st.st_mode) || (size_t) st.st_size > max) {
        close(fd);
        return STORE_MISSING;
    }

    buf = malloc((size_t) st.st_size + 1);
    if (buf == NULL) {
        close(fd);
        return -1;
    }

    for (got = 0; got < (size_t) st.st_size; got += (size_t) n) {
        n = read(fd, buf + got, (size_t) st.st_size - got);
        if (n <= 0) {
            if (n < 0) {
                log_warn("read \"%s\"", path);
            }
            free(buf);
            close(fd);
            return n < 0 ? -1 : STORE_MISSING;
        }
    }

    close(fd);
    buf[got] = '\0';

    if (store_check_digest(digest, buf, got) != 0) {
        log_warnx("blob %s in storage does not match its digest", digest);
        free(buf);
        return STORE_MISSING;
    }

    *data = buf;
    *len = got;

    return STORE_OK;
}


static int
store_is_dir(const char *path)
{
    struct stat  st;

    return lstat(path, &st) == 0 && S_ISDIR(st.st_mode);
}


/*
 * repositories/<name>: a directory with _manifests is a repository (and
 * may hold others: "a/b" and "a/b/c").  path is the directory, the name
 * starts at path + base.
 */
static int
store_walk(char *path, size_t plen, size_t base, int depth, store_name_cb fn,
    void *arg)
{
    DIR            *d;
    struct dirent  *e;
    size_t          len, n;
    int             rc;

    len = strlen(path);

    if (len > base
        && snprintf(path + len, plen - len, "/_manifests")
           < (int) (plen - len)
        && store_is_dir(path))
    {
        path[len] = '\0';
        if (store_name_ok(path + base)) {
            rc = fn(path + base, arg);
            if (rc != 0) {
                return rc;
            }
        }
    }

    path[len] = '\0';

    if (depth >= STORE_DEPTH_MAX) {
        return 0;
    }

    d = opendir(path);
    if (d == NULL) {
        if (errno == ENOENT || errno == ENOTDIR) {
            return 0;
        }
        log_warn("opendir \"%s\"", path);
        return -1;
    }

    rc = 0;

    while (rc == 0 && (e = readdir(d)) != NULL) {
        /* _manifests, _layers, _uploads, _referrers; and . and .. */
        if (e->d_name[0] == '_' || e->d_name[0] == '.') {
            continue;
        }

        n = strlen(e->d_name);
        if (len + 1 + n >= plen) {
            continue;
        }

        path[len] = '/';
        memcpy(path + len + 1, e->d_name, n + 1);

        if (store_is_dir(path)) {
            rc = store_walk(path, plen, base, depth + 1, fn, arg);
        }

        path[len] = '\0';
    }

    closedir(d);

    return rc;
}


/*
 * Calls fn(name) for every repository in storage (a directory with a
 * _manifests directory and a valid name); stops at the first non-zero.
 */
int
store_repositories(store_name_cb fn, void *arg)
{
    char    path[PATH_MAX];
    size_t  base;

    if (!store_enabled() || store_path(path, sizeof(path), "repositories/")
                            != 0)
    {
        return -1;
    }

    /* a store that is not there is an error, not an empty registry */
    base = strlen(path);
    path[base - sizeof("repositories/") + 1] = '\0';

    if (!store_is_dir(path)) {
        log_warnx("no registry storage at \"%s\"", path);
        return -1;
    }

    /* walk ".../repositories"; names follow its "/" */
    snprintf(path + strlen(path), sizeof(path) - strlen(path),
             "repositories");

    return store_walk(path, sizeof(path), base, 0, fn, arg);
}


/* entries of dir/<alg>/<hex>/link whose link holds "<alg>:<hex>" */
static int
store_links(const char *dir, store_link_cb fn, void *arg)
{
    DIR            *da, *dh;
    struct dirent  *a, *h;
    char            path[PATH_MAX], want[HB_DIGEST_MAX + 1];
    char            got[HB_DIGEST_MAX + 1];
    time_t          mtime;
    int             rc, n;

    da = opendir(dir);
    if (da == NULL) {
        return errno == ENOENT || errno == ENOTDIR ? 0 : -1;
    }

    rc = 0;

    while (rc == 0 && (a = readdir(da)) != NULL) {
        if (strcmp(a->d_name, "sha256") != 0
            && strcmp(a->d_name, "sha512") != 0)
        {
            continue;
        }

        if (snprintf(path, sizeof(path), "%s/%s", dir, a->d_name)
            >= (int) sizeof(path))
        {
            continue;
        }

        dh = opendir(path);
        if (dh == NULL) {
            continue;
        }

        while (rc == 0 && (h = readdir(dh)) != NULL) {
            if (h->d_name[0] == '.') {
                continue;
            }

            n = snprintf(want, sizeof(want), "%s:%s", a->d_name, h->d_name);
            if (n < 0 || n >= (int) sizeof(want)
                || snprintf(path, sizeof(path), "%s/%s/%s/link", dir,
                            a->d_name, h->d_name) >= (int) sizeof(path))
            {
                continue;
            }

            if (store_link(path, got, sizeof(got), &mtime) == STORE_OK
                && strcmp(got, want) == 0)
            {
                rc = fn(got, got, mtime, arg);
            }
        }

        closedir(dh);
    }

    closedir(da);

    return rc;
}


/* fn(digest, digest, mtime) for every manifest revision of name */
int
store_revisions(const char *name, store_link_cb fn, void *arg)
{
    char  path[PATH_MAX];

    if (!store_enabled() || !store_name_ok(name)
        || store_path(path, sizeof(path),
                      "repositories/%s/_manifests/revisions", name) != 0)
    {
        return -1;
    }

    return store_links(path, fn, arg);
}


/* fn(tag, digest, mtime) for every tag of name */
int
store_tags(const char *name, store_link_cb fn, void *arg)
{
    DIR            *d;
    struct dirent  *e;
    char            path[PATH_MAX], digest[HB_DIGEST_MAX + 1];
    time_t          mtime;
    int             rc;

    if (!store_enabled() || !store_name_ok(name)
        || store_path(path, sizeof(path), "repositories/%s/_manifests/tags",
                      name) != 0)
    {
        return -1;
    }

    d = opendir(path);
    if (d == NULL) {
        return errno == ENOENT || errno == ENOTDIR ? 0 : -1;
    }

    rc = 0;

    while (rc == 0 && (e = readdir(d)) != NULL) {
        if (!hb_tag_valid((const unsigned char *) e->d_name,
                          strlen(e->d_name)))
        {
            continue;
        }

        if (store_tag(name, e->d_name, digest, sizeof(digest), &mtime)
            == STORE_OK)
        {
            rc = fn(e->d_name, digest, mtime, arg);
        }
    }

    closedir(d);

    return rc;
}
