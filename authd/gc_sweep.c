/*
 * authd: the collector's phases that remove things (docs/gc.md): recover
 * (what a killed run left in _gc/trash goes back), sweep (unmarked blobs
 * older than the window, of both digest algorithms, `workers` threads),
 * layers (_layers links whose blob is gone) and uploads (untouched for
 * gc_upload_age).
 *
 * The fence with the module: the module refreshes a blob's mtime on a
 * lease HEAD, a mount, an upload of a blob that exists and a manifest PUT
 * that references it, and fails the PUT when utimes() finds no file.  So
 * a candidate is first moved aside (one rename, atomic), then its mtime
 * is read again: a touch before the move shows there, a touch after it
 * fails with ENOENT and the client hears "unknown".
 */

#include <sys/stat.h>
#include <sys/types.h>

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "authd.h"
#include "harbor_layout.h"


#define GC_UNITS  (2 * 256)     /* sha256 and sha512, 256 prefixes each */


/* remove a directory tree (files and directories only) */
int
gc_rm_tree(const char *path)
{
    DIR            *d;
    struct dirent  *e;
    struct stat     st;
    char            p[PATH_MAX];
    int             rc, n;

    if (lstat(path, &st) == -1) {
        return errno == ENOENT ? 0 : -1;
    }

    if (!S_ISDIR(st.st_mode)) {
        return unlink(path) == 0 || errno == ENOENT ? 0 : -1;
    }

    d = opendir(path);
    if (d == NULL) {
        return -1;
    }

    rc = 0;
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) {
            continue;
        }
        n = snprintf(p, sizeof(p), "%s/%s", path, e->d_name);
        if (n < 0 || (size_t) n >= sizeof(p) || gc_rm_tree(p) != 0) {
            rc = -1;
        }
    }
    closedir(d);

    if (rmdir(path) == -1 && errno != ENOENT) {
        rc = -1;
    }

    return rc;
}


/* a trash entry or blob directory name: "<hex>", 64 or 128 digits */
static int
gc_hex_digest(const char *hex, struct gc_digest *d, char *digest)
{
    int  n;

    n = snprintf(digest, HB_DIGEST_MAX + 1, "%s:%s",
                 strlen(hex) == HB_SHA512_HEX ? "sha512" : "sha256", hex);
    if (n < 0 || n > (int) HB_DIGEST_MAX) {
        return -1;
    }

    return gc_digest_parse(digest, (size_t) n, d);
}


/* phase recover: whatever a killed run left in the trash goes back */
int
gc_recover(struct gc *g)
{
    DIR               *d;
    struct dirent     *e;
    struct gc_digest   bin;
    char               from[PATH_MAX], to[PATH_MAX];
    char               digest[HB_DIGEST_MAX + 1];
    int                n;

    gc_phase(g, "recover");

    d = opendir(g->trash);
    if (d == NULL) {
        gc_out(g, "L error: opendir \"%s\": %s", g->trash, strerror(errno));
        return -1;
    }

    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.') {
            continue;
        }

        n = snprintf(from, sizeof(from), "%s/%s", g->trash, e->d_name);
        if (n < 0 || (size_t) n >= sizeof(from)) {
            continue;
        }

        if (gc_hex_digest(e->d_name, &bin, digest) != 0
            || hb_layout_blob_dir(to, sizeof(to), g->v2, strlen(g->v2),
                                  digest, strlen(digest)) < 0)
        {
            gc_rm_tree(from);
            continue;
        }

        /*
         * Put back, and let this run decide again.  A directory that is
         * there now (a new copy, or the empty one of an upload about to
         * rename its file into it) wins when it is not empty.
         */
        if (rename(from, to) == 0) {
            g->recovered++;
            gc_out(g, "L recovered %s from the trash", digest);
        } else {
            gc_rm_tree(from);
            gc_out(g, "L dropped %s from the trash: a copy is back", digest);
        }
    }

    closedir(d);

    return 0;
}


/* the sweep: one blob directory, by one worker */
static void
gc_sweep_one(struct gc *g, const char *dir, const char *hex, int *first)
{
    struct stat        st;
    struct gc_digest   d;
    char               bdir[PATH_MAX], data[PATH_MAX], tr[PATH_MAX];
    char               trdata[PATH_MAX], digest[HB_DIGEST_MAX + 1];
    int                n;

    if (gc_hex_digest(hex, &d, digest) != 0) {
        return;
    }

    __atomic_add_fetch(&g->examined, 1, __ATOMIC_RELAXED);

    if (gc_set_has(&g->marked, &d)) {
        return;
    }

    n = snprintf(bdir, sizeof(bdir), "%s/%s", dir, hex);
    if (n < 0 || (size_t) n >= sizeof(bdir)
        || snprintf(data, sizeof(data), "%s/data", bdir) >= (int) sizeof(data)
        || snprintf(tr, sizeof(tr), "%s/%s", g->trash, hex)
           >= (int) sizeof(tr)
        || snprintf(trdata, sizeof(trdata), "%s/data", tr)
           >= (int) sizeof(trdata))
    {
        return;
    }

    if (stat(data, &st) == -1) {
        if (errno != ENOENT) {
            __atomic_add_fetch(&g->errors, 1, __ATOMIC_RELAXED);
            gc_out(g, "L error: stat \"%s\": %s", data, strerror(errno));
        }
        return;
    }

    if (st.st_mtime >= g->old) {
        return;
    }

    if (g->o->dry_run) {
        pthread_mutex_lock(&g->mtx);
        gc_set_add(&g->doomed, &d);
        g->deleted++;
        g->bytes += st.st_size;
        gc_out(g, "L would delete blob %s %lld bytes", digest,
               (long long) st.st_size);
        pthread_mutex_unlock(&g->mtx);
        return;
    }

    /* move aside: from now on a touch fails with ENOENT */
    if (rename(bdir, tr) == -1) {
        if (errno != ENOENT) {          /* gone since: deleted already */
            __atomic_add_fetch(&g->errors, 1, __ATOMIC_RELAXED);
            gc_out(g, "L error: cannot move \"%s\" aside: %s", bdir,
                   strerror(errno));
        }
        return;
    }

    if (*first && g->pause != NULL && strcmp(g->pause, "sweep") == 0) {
        gc_out(g, "L paused at sweep (pid %ld) with %s in the trash",
               (long) getpid(), digest);
        gc_hold(g, "sweep");
    }
    *first = 0;

    /* a touch before the move shows here */
    if (stat(trdata, &st) == -1 || st.st_mtime >= g->old) {
        if (rename(tr, bdir) == -1) {
            /* a new copy is there: it wins */
            gc_rm_tree(tr);
        }
        __atomic_add_fetch(&g->restored, 1, __ATOMIC_RELAXED);
        gc_out(g, "L kept %s: touched during the run", digest);
        return;
    }

    if (gc_rm_tree(tr) != 0) {
        __atomic_add_fetch(&g->errors, 1, __ATOMIC_RELAXED);
        gc_out(g, "L error: cannot remove \"%s\": %s", tr, strerror(errno));
        return;
    }

    __atomic_add_fetch(&g->deleted, 1, __ATOMIC_RELAXED);
    __atomic_add_fetch(&g->bytes, st.st_size, __ATOMIC_RELAXED);
    gc_out(g, "L delete blob %s %lld bytes", digest, (long long) st.st_size);
}


static void *
gc_sweep_worker(void *arg)
{
    struct gc      *g = arg;
    DIR            *d;
    struct dirent  *e;
    char            path[PATH_MAX];
    size_t          hexlen;
    int             u, alg, first, n;

    first = 1;

    for ( ;; ) {
        u = __atomic_fetch_add(&g->next_unit, 1, __ATOMIC_RELAXED);
        if (u >= GC_UNITS) {
            break;
        }

        alg = u < 256 ? HB_DIGEST_SHA256 : HB_DIGEST_SHA512;
        hexlen = alg == HB_DIGEST_SHA256 ? HB_SHA256_HEX : HB_SHA512_HEX;

        n = hb_layout_blobs(path, sizeof(path), g->v2, strlen(g->v2), alg);
        if (n < 0 || snprintf(path + n, sizeof(path) - (size_t) n, "/%02x",
                              u % 256) >= (int) (sizeof(path) - (size_t) n))
        {
            continue;
        }

        d = opendir(path);
        if (d == NULL) {
            continue;
        }

        while ((e = readdir(d)) != NULL) {
            if (strlen(e->d_name) == hexlen
                && strncmp(e->d_name, path + strlen(path) - 2, 2) == 0)
            {
                gc_sweep_one(g, path, e->d_name, &first);
            }
        }

        closedir(d);
    }

    return NULL;
}


static int
gc_sweep_done(struct gc *g, int nthreads)
{
    int  u;

    u = __atomic_load_n(&g->next_unit, __ATOMIC_RELAXED);
    gc_out(g, "P sweep %d %d %lld", u > GC_UNITS ? GC_UNITS : u, GC_UNITS,
           __atomic_load_n(&g->examined, __ATOMIC_RELAXED));

    return u >= GC_UNITS + nthreads;
}


int
gc_sweep(struct gc *g)
{
    gc_phase(g, "sweep");
    gc_threads(g, gc_sweep_worker, "sweep", gc_sweep_done);
    gc_out(g, "P sweep %d %d %lld", GC_UNITS, GC_UNITS, g->examined);

    return 0;
}


/* _layers links whose blob is gone (or would be, in a dry run) */
static int
gc_layers_repo(const char *name, void *arg)
{
    struct gc         *g = arg;
    DIR               *d;
    struct dirent     *e;
    struct stat        st;
    struct gc_digest   bin;
    char               dir[PATH_MAX], link[PATH_MAX], data[PATH_MAX];
    char               digest[HB_DIGEST_MAX + 1];
    int                alg, gone, n;

    for (alg = HB_DIGEST_SHA256; alg <= HB_DIGEST_SHA512; alg++) {
        n = hb_layout_repo_dir(dir, sizeof(dir), g->v2, strlen(g->v2), name,
                               strlen(name), HB_DIR_LAYERS);
        if (n < 0 || snprintf(dir + n, sizeof(dir) - (size_t) n, "/%s",
                              hb_layout_alg(alg))
                     >= (int) (sizeof(dir) - (size_t) n))
        {
            continue;
        }

        d = opendir(dir);
        if (d == NULL) {
            continue;
        }

        while ((e = readdir(d)) != NULL) {
            n = snprintf(digest, sizeof(digest), "%s:%s", hb_layout_alg(alg),
                         e->d_name);
            if (n < 0 || (size_t) n >= sizeof(digest)
                || gc_digest_parse(digest, (size_t) n, &bin) != 0
                || hb_layout_link(link, sizeof(link), g->v2, strlen(g->v2),
                                  name, strlen(name), HB_LINK_LAYER, digest,
                                  (size_t) n, NULL, 0, NULL) < 0
                || hb_layout_blob_data(data, sizeof(data), g->v2,
                                       strlen(g->v2), digest, (size_t) n) < 0)
            {
                continue;
            }

            if (g->o->dry_run) {
                gone = gc_set_has(&g->doomed, &bin) || access(data, F_OK) != 0;
            } else {
                gone = access(data, F_OK) != 0 && errno == ENOENT;
            }

            /* a young link may belong to an upload or mount in progress */
            if (!gone || stat(link, &st) == -1 || st.st_mtime >= g->old) {
                continue;
            }

            g->layers++;

            if (g->o->dry_run) {
                gc_out(g, "L would remove layer link %s@%s", name, digest);
                continue;
            }

            if (unlink(link) == -1 && errno != ENOENT) {
                __atomic_add_fetch(&g->errors, 1, __ATOMIC_RELAXED);
                gc_out(g, "L error: cannot remove \"%s\": %s", link,
                       strerror(errno));
                continue;
            }
            link[strlen(link) - sizeof("/link") + 1] = '\0';
            rmdir(link);
            gc_out(g, "L remove layer link %s@%s", name, digest);
        }

        closedir(d);
    }

    return 0;
}


int
gc_layers(struct gc *g)
{
    gc_phase(g, "layers");

    return gc_repositories(g, gc_layers_repo);
}


static time_t
gc_newest_mtime(const char *dir)
{
    DIR            *d;
    struct dirent  *e;
    struct stat     st;
    char            p[PATH_MAX];
    time_t          t;
    int             n;

    t = 0;
    if (stat(dir, &st) == 0) {
        t = st.st_mtime;
    }

    d = opendir(dir);
    if (d == NULL) {
        return t;
    }

    while ((e = readdir(d)) != NULL) {
        n = snprintf(p, sizeof(p), "%s/%s", dir, e->d_name);
        if (e->d_name[0] == '.' || n < 0 || (size_t) n >= sizeof(p)) {
            continue;
        }
        if (stat(p, &st) == 0 && st.st_mtime > t) {
            t = st.st_mtime;
        }
    }

    closedir(d);

    return t;
}


static int
gc_uploads_repo(const char *name, void *arg)
{
    struct gc      *g = arg;
    DIR            *d;
    struct dirent  *e;
    char            p[PATH_MAX];
    time_t          old;

    old = time(NULL) - g->o->upload_age;

    if (hb_layout_repo_dir(p, sizeof(p), g->v2, strlen(g->v2), name,
                           strlen(name), HB_DIR_UPLOADS) < 0)
    {
        return 0;
    }

    d = opendir(p);
    if (d == NULL) {
        return 0;
    }

    while ((e = readdir(d)) != NULL) {
        if (hb_layout_upload(p, sizeof(p), g->v2, strlen(g->v2), name,
                             strlen(name), e->d_name, strlen(e->d_name)) < 0
            || gc_newest_mtime(p) >= old)
        {
            continue;
        }

        g->uploads++;

        if (g->o->dry_run) {
            gc_out(g, "L would purge upload %s/%s", name, e->d_name);
        } else {
            gc_rm_tree(p);
            gc_out(g, "L purge upload %s/%s", name, e->d_name);
        }
    }

    closedir(d);

    return 0;
}


int
gc_uploads(struct gc *g)
{
    gc_phase(g, "uploads");

    return gc_repositories(g, gc_uploads_repo);
}
