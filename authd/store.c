/*
 * authd: the registry's storage, read only.
 *
 * CNCF distribution's layout under <registry_storage>/docker/registry/v2,
 * the one the nginx module writes; every path comes from harbor_layout.c.
 * This file never changes it: deletions and new tags go through /v2
 * (registry.c), so that one implementation does them.  (The garbage
 * collector, gc_*.c, is the one writer besides the module: docs/gc.md.)
 * What authd reads here: link files (revisions, tags, referrers),
 * manifests and image configs (bounded, digest checked), and the list of
 * repositories, revisions and tags for reindex and the collector.
 *
 * Listings are strict: an error (opendir, readdir, open, read) or
 * something the module never writes (a directory where a link file should
 * be, a link without a digest) fails the listing, and store_error() names
 * the path: to a collector, "could not look" must never read as "nothing
 * there".  An entry that disappears between readdir and open was deleted
 * meanwhile and is skipped.
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
#include "harbor_layout.h"


#define STORE_LINK_MAX    256

/* "a/b/.../z": a component and a "/" for each two bytes of a name */
#define STORE_DEPTH_MAX   (HB_NAME_MAX / 2 + 1)

#define STORE_LINK_STRICT 1     /* listing: anything odd is an error */


/* the last error of this thread: what failed, on which path */
static __thread char  store_err[PATH_MAX + 128];


int
store_enabled(void)
{
    return conf->registry_storage != NULL;
}


const char *
store_error(void)
{
    return store_err[0] != '\0' ? store_err : "unknown error";
}


/* an error of a listing: remembered for the caller, and logged */
static int
store_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static int
store_fail(const char *fmt, ...)
{
    va_list  ap;

    va_start(ap, fmt);
    (void) vsnprintf(store_err, sizeof(store_err), fmt, ap);
    va_end(ap);

    log_warnx("%s", store_err);

    return -1;
}


/* <registry_storage>/docker/registry/v2 */
int
store_v2(char *buf, size_t len)
{
    if (!store_enabled()) {
        return -1;
    }

    return hb_layout_v2(buf, len, conf->registry_storage,
                        strlen(conf->registry_storage));
}


/* the v2 root, for harbor_layout's functions; NULL if not configured */
static const char *
store_root(size_t *len)
{
    static __thread char  v2[PATH_MAX];
    int                   n;

    n = store_v2(v2, sizeof(v2));
    if (n < 0) {
        return NULL;
    }

    *len = (size_t) n;

    return v2;
}


/* a link file of a repository */
static int
store_link_path(char *path, size_t len, const char *name, int kind,
    const char *key, const char *key2)
{
    const char  *v2;
    size_t       vlen;

    v2 = store_root(&vlen);

    return v2 == NULL
           || hb_layout_link(path, len, v2, vlen, name, strlen(name), kind,
                             key, strlen(key), key2,
                             key2 != NULL ? strlen(key2) : 0, NULL) < 0
           ? -1 : 0;
}


static int
store_repo_path(char *path, size_t len, const char *name, int dir)
{
    const char  *v2;
    size_t       vlen;

    v2 = store_root(&vlen);

    return v2 == NULL
           || hb_layout_repo_dir(path, len, v2, vlen, name, strlen(name), dir)
              < 0
           ? -1 : 0;
}


/*
 * A link file: STORE_OK with the digest it holds, STORE_MISSING if there
 * is none, -1 on an I/O error.  Looking one up (strict 0), a link that is
 * not a regular file or holds no digest is missing too; listing
 * (STORE_LINK_STRICT), it is an error: the store is damaged there, and
 * a collector must not take it for "nothing".
 */
static int
store_link(const char *path, char *digest, size_t len, time_t *mtime,
    int strict)
{
    struct stat  st;
    char         buf[STORE_LINK_MAX];
    ssize_t      n;
    int          fd;

    fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd == -1) {
        if (errno == ENOENT || (!strict && (errno == ENOTDIR
                                            || errno == ELOOP)))
        {
            return STORE_MISSING;
        }
        return store_fail("open \"%s\": %s", path, strerror(errno));
    }

    if (fstat(fd, &st) == -1) {
        store_fail("fstat \"%s\": %s", path, strerror(errno));
        close(fd);
        return -1;
    }

    if (!S_ISREG(st.st_mode)) {
        close(fd);
        if (strict) {
            return store_fail("\"%s\" is not a file", path);
        }
        return STORE_MISSING;
    }

    n = read(fd, buf, sizeof(buf) - 1);
    if (n < 0) {
        store_fail("read \"%s\": %s", path, strerror(errno));
        close(fd);
        return -1;
    }

    close(fd);

    while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == ' ')) {
        n--;
    }
    buf[n] = '\0';

    if (hb_digest_parse((unsigned char *) buf, (size_t) n) == HB_DIGEST_NONE
        || (size_t) n >= len)
    {
        if (strict) {
            return store_fail("\"%s\" holds no digest", path);
        }
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
    char  path[PATH_MAX], got[HB_DIGEST_MAX + 1];
    int   rc;

    if (store_link_path(path, sizeof(path), name, HB_LINK_REVISION, digest,
                        NULL) != 0)
    {
        return STORE_MISSING;
    }

    rc = store_link(path, got, sizeof(got), mtime, 0);

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

    if (store_link_path(path, sizeof(path), name, HB_LINK_TAG, tag, NULL)
        != 0)
    {
        return STORE_MISSING;
    }

    return store_link(path, digest, len, mtime, 0);
}


/* Whether the module's referrers index lists digest under subject. */
int
store_referrer(const char *name, const char *subject, const char *digest)
{
    char  path[PATH_MAX];

    if (store_link_path(path, sizeof(path), name, HB_LINK_REFERRER, subject,
                        digest) != 0)
    {
        return STORE_MISSING;
    }

    return store_link(path, NULL, HB_DIGEST_MAX + 1, NULL, 0);
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
    const char  *v2;
    char         path[PATH_MAX], *buf;
    size_t       got, vlen;
    ssize_t      n;
    int          fd;

    *data = NULL;
    *len = 0;

    v2 = store_root(&vlen);
    if (v2 == NULL
        || hb_layout_blob_data(path, sizeof(path), v2, vlen, digest,
                               strlen(digest)) < 0)
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


/* 1 with the next entry, 0 at the end, -1 on an error (told apart) */
static int
store_next(DIR *d, const char *path, struct dirent **e)
{
    errno = 0;
    *e = readdir(d);

    if (*e != NULL) {
        return 1;
    }

    if (errno != 0) {
        return store_fail("readdir \"%s\": %s", path, strerror(errno));
    }

    return 0;
}


/* opendir, where a directory that is not there (yet, or any more) is empty */
static DIR *
store_opendir(const char *path, int *rc)
{
    DIR  *d;

    *rc = 0;

    d = opendir(path);
    if (d == NULL && errno != ENOENT) {
        *rc = store_fail("opendir \"%s\": %s", path, strerror(errno));
    }

    return d;
}


/* 1 directory, 0 anything else or gone, -1 error */
static int
store_is_dir(const char *path)
{
    struct stat  st;

    if (lstat(path, &st) == -1) {
        if (errno == ENOENT) {
            return 0;
        }
        return store_fail("lstat \"%s\": %s", path, strerror(errno));
    }

    return S_ISDIR(st.st_mode) ? 1 : 0;
}


/*
 * repositories/<name>: a directory with _manifests is a repository (and
 * may hold others: "a/b" and "a/b/c").  path is the directory, the name
 * starts at path + base.  Only components of the name grammar are
 * entered, as deep as a name can be.
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

    if (len > base) {
        if (len + sizeof("/_manifests") > plen) {
            return store_fail("\"%s\": path too long", path);
        }

        memcpy(path + len, "/_manifests", sizeof("/_manifests"));
        rc = store_is_dir(path);
        path[len] = '\0';

        if (rc < 0) {
            return -1;
        }

        if (rc == 1) {
            rc = fn(path + base, arg);
            if (rc != 0) {
                return rc;
            }
        }
    }

    if (depth >= STORE_DEPTH_MAX) {
        return 0;
    }

    d = store_opendir(path, &rc);
    if (d == NULL) {
        return rc;
    }

    while (rc == 0 && (rc = store_next(d, path, &e)) == 1) {
        rc = 0;

        /* _manifests, _layers, _uploads, _referrers; and . and .. */
        n = strlen(e->d_name);
        if (!hb_name_valid((const unsigned char *) e->d_name, n)
            || strchr(e->d_name, '/') != NULL)
        {
            continue;
        }

        /* longer than a name can be: no repository down there */
        if ((len >= base ? len - base + 1 : 0) + n > HB_NAME_MAX) {
            continue;
        }

        if (len + 1 + n >= plen) {
            rc = store_fail("\"%s/%s\": path too long", path, e->d_name);
            break;
        }

        path[len] = '/';
        memcpy(path + len + 1, e->d_name, n + 1);

        rc = store_is_dir(path);
        if (rc == 1) {
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
 * -1 on an error (store_error() says which).
 */
int
store_repositories(store_name_cb fn, void *arg)
{
    char  path[PATH_MAX], v2[PATH_MAX];
    int   n, rc;

    store_err[0] = '\0';

    n = store_v2(v2, sizeof(v2));
    if (n < 0 || hb_layout_repositories(path, sizeof(path), v2, (size_t) n)
                 < 0)
    {
        return store_fail("the storage path is too long");
    }

    /* a store that is not there is an error, not an empty registry */
    rc = store_is_dir(v2);
    if (rc != 1) {
        return rc < 0 ? -1 : store_fail("no registry storage at \"%s\"", v2);
    }

    return store_walk(path, sizeof(path), strlen(path) + 1, 0, fn, arg);
}


/* entries of dir/<alg>/<hex>/link, each holding "<alg>:<hex>" */
static int
store_links(const char *dir, store_link_cb fn, void *arg)
{
    DIR            *d;
    struct dirent  *h;
    char            path[PATH_MAX], link[PATH_MAX];
    char            want[HB_DIGEST_MAX + 1], got[HB_DIGEST_MAX + 1];
    const char     *alg;
    time_t          mtime;
    int             rc, a, n;

    for (a = HB_DIGEST_SHA256; a <= HB_DIGEST_SHA512; a++) {
        alg = hb_layout_alg(a);

        n = snprintf(path, sizeof(path), "%s/%s", dir, alg);
        if (n < 0 || (size_t) n >= sizeof(path)) {
            return store_fail("\"%s\": path too long", dir);
        }

        d = store_opendir(path, &rc);
        if (d == NULL) {
            if (rc != 0) {
                return -1;
            }
            continue;
        }

        while (rc == 0 && (rc = store_next(d, path, &h)) == 1) {
            rc = 0;

            if (strcmp(h->d_name, ".") == 0 || strcmp(h->d_name, "..") == 0) {
                continue;
            }

            n = snprintf(want, sizeof(want), "%s:%s", alg, h->d_name);
            if (n < 0 || (size_t) n >= sizeof(want)
                || hb_digest_parse((unsigned char *) want, (size_t) n) != a)
            {
                rc = store_fail("\"%s/%s\" is not a digest's entry", path,
                                h->d_name);
                break;
            }

            n = snprintf(link, sizeof(link), "%s/%s/link", path, h->d_name);
            if (n < 0 || (size_t) n >= sizeof(link)) {
                rc = store_fail("\"%s\": path too long", path);
                break;
            }

            /* gone since the readdir: deleted meanwhile, not an error */
            rc = store_link(link, got, sizeof(got), &mtime,
                            STORE_LINK_STRICT);
            if (rc != STORE_OK) {
                rc = rc == STORE_MISSING ? 0 : -1;
                continue;
            }

            if (strcmp(got, want) != 0) {
                rc = store_fail("\"%s\" holds %s", link, got);
                break;
            }

            rc = fn(got, got, mtime, arg);
        }

        closedir(d);

        if (rc != 0) {
            return rc;
        }
    }

    return 0;
}


/* fn(digest, digest, mtime) for every manifest revision of name */
int
store_revisions(const char *name, store_link_cb fn, void *arg)
{
    char  path[PATH_MAX];

    if (store_repo_path(path, sizeof(path), name, HB_DIR_REVISIONS) != 0) {
        return store_fail("%s: not a repository name", name);
    }

    return store_links(path, fn, arg);
}


/* fn(tag, digest, mtime) for every tag of name */
int
store_tags(const char *name, store_link_cb fn, void *arg)
{
    DIR            *d;
    struct dirent  *e;
    char            path[PATH_MAX], link[PATH_MAX];
    char            digest[HB_DIGEST_MAX + 1];
    time_t          mtime;
    int             rc;

    if (store_repo_path(path, sizeof(path), name, HB_DIR_TAGS) != 0) {
        return store_fail("%s: not a repository name", name);
    }

    d = store_opendir(path, &rc);
    if (d == NULL) {
        return rc;
    }

    while (rc == 0 && (rc = store_next(d, path, &e)) == 1) {
        rc = 0;

        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) {
            continue;
        }

        if (store_link_path(link, sizeof(link), name, HB_LINK_TAG, e->d_name,
                            NULL) != 0)
        {
            rc = store_fail("\"%s/%s\" is not a tag", path, e->d_name);
            break;
        }

        rc = store_link(link, digest, sizeof(digest), &mtime,
                        STORE_LINK_STRICT);
        if (rc != STORE_OK) {
            rc = rc == STORE_MISSING ? 0 : -1;
            continue;
        }

        rc = fn(e->d_name, digest, mtime, arg);
    }

    closedir(d);

    return rc;
}
