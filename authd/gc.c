/*
 * authd: the garbage collector's worker (docs/gc.md).
 *
 * gc_run() runs in a child process of authd, one per run, and talks to
 * its parent through one pipe, one line per message:
 *
 *   P <phase> <done> <total>     progress
 *   L <text>                     a log line
 *   R <json>                     the result, last
 *
 * Phases, in order: recover (items a killed run left in _gc/trash go
 * back), untagged (DELETE of untagged manifests through /v2, when asked,
 * `workers` requests at a time),
 * mark (every manifest linked by a repository is read once, what it
 * references is marked), sweep (unmarked blobs older than the window are
 * moved to _gc/trash, checked again, then deleted or put back; `workers`
 * threads), layers (_layers links to blobs that are gone), uploads
 * (uploads untouched for gc_upload_age).
 *
 * The fence with the module: the module refreshes a blob's mtime on a
 * lease HEAD, a mount, an upload of a blob that exists and a manifest PUT
 * that references it, and fails the PUT when utimes() finds no file.  So
 * a candidate is first moved aside (one rename, atomic), then its mtime
 * is read again: a touch before the move shows there, a touch after it
 * fails with ENOENT and the client hears "unknown".
 *
 * HARBOR_GC_PAUSE=<phase> (tests only) stops the worker at the start of
 * that phase ("sweep": after its first move to the trash) with a log line
 * "paused at <phase>", until it is killed.
 */

#include <sys/file.h>
#include <sys/stat.h>
#include <sys/types.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "authd.h"
#include "harbor_grammar.h"


#define GC_MANIFEST_MAX   (4 * 1024 * 1024)
#define GC_DEPTH_MAX      16
#define GC_WORKERS_MAX    64


/* a set of sha256 digests (binary), open addressing */
struct dset {
    unsigned char  *keys;               /* 32 bytes each; all zero: empty */
    size_t          cap;
    size_t          n;
};

/* what one manifest references, read once */
struct mref {
    unsigned char   d[32];
    unsigned char (*blobs)[32];         /* config, layers, blobs */
    int             nblobs;
    unsigned char (*children)[32];      /* manifests of an index */
    int             nchildren;
    unsigned char   subject[32];
    int             has_subject;
    int             missing;
};

struct mmap {
    struct mref   **v;
    size_t          cap;
    size_t          n;
};

struct gc {
    const struct gc_opts  *o;
    int                    fd;
    char                   root[PATH_MAX];     /* .../docker/registry/v2 */
    char                   trash[PATH_MAX];
    time_t                 cutoff;
    struct dset            marked;
    struct dset            doomed;             /* dry run: would go */
    struct dset            gone_revs;          /* untagged, deleted */
    struct mmap            mf;
    pthread_mutex_t        mtx;

    /* untagged manifests to DELETE: "name\0digest" each */
    char                 **dels;
    int                    ndels, dels_cap, next_del;

    /* sweep */
    int                    next_prefix;
    long long              examined;
    long long              deleted;
    long long              bytes;
    long long              restored;
    long long              errors;

    long long              manifests;
    long long              untagged;
    long long              layers;
    long long              uploads;
    long long              recovered;
    long long              ms[3];              /* untagged, mark, sweep */
};

static const char  *gc_pause;


static long long
gc_ms(void)
{
    struct timespec  ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}


static void
gc_out(struct gc *g, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
gc_out(struct gc *g, const char *fmt, ...)
{
    char     buf[1024];
    va_list  ap;
    int      n;

    va_start(ap, fmt);
    n = vsnprintf(buf, sizeof(buf) - 1, fmt, ap);
    va_end(ap);

    if (n < 0) {
        return;
    }
    if (n >= (int) sizeof(buf) - 1) {
        n = sizeof(buf) - 2;
    }
    buf[n++] = '\n';

    /* under PIPE_BUF: one write, never interleaved with another thread's */
    if (write(g->fd, buf, (size_t) n) < 0) {
        /* the parent is gone; PDEATHSIG ends us */
    }
}


static void
gc_phase(struct gc *g, const char *phase)
{
    gc_out(g, "P %s 0 0", phase);
    gc_out(g, "L phase %s", phase);

    if (gc_pause != NULL && strcmp(gc_pause, phase) == 0
        && strcmp(phase, "sweep") != 0)
    {
        gc_out(g, "L paused at %s (pid %ld)", phase, (long) getpid());
        for ( ;; ) {
            pause();
        }
    }
}


/* digest sets */

static int
hex2bin(const char *hex, unsigned char *out)
{
    int  i, hi, lo;

    for (i = 0; i < 32; i++) {
        hi = hex[2 * i];
        lo = hex[2 * i + 1];
        hi = hi >= '0' && hi <= '9' ? hi - '0'
           : hi >= 'a' && hi <= 'f' ? hi - 'a' + 10 : -1;
        lo = lo >= '0' && lo <= '9' ? lo - '0'
           : lo >= 'a' && lo <= 'f' ? lo - 'a' + 10 : -1;
        if (hi < 0 || lo < 0) {
            return -1;
        }
        out[i] = (unsigned char) (hi << 4 | lo);
    }

    return hex[64] == '\0' ? 0 : -1;
}


static void
bin2hex(const unsigned char *d, char *out)
{
    static const char  x[] = "0123456789abcdef";
    int                i;

    for (i = 0; i < 32; i++) {
        out[2 * i] = x[d[i] >> 4];
        out[2 * i + 1] = x[d[i] & 15];
    }
    out[64] = '\0';
}


/* "sha256:<hex>" into 32 bytes */
static int
digest_bin(const char *s, unsigned char *out)
{
    if (s == NULL || strncmp(s, "sha256:", 7) != 0 || strlen(s) != 71) {
        return -1;
    }

    return hex2bin(s + 7, out);
}


static size_t
dhash(const unsigned char *d)
{
    size_t  h;

    memcpy(&h, d, sizeof(h));    /* a digest is uniform already */
    return h;
}


static int
dset_grow(struct dset *s)
{
    unsigned char  *old, *k;
    size_t          oldcap, i, j;
    static const unsigned char  zero[32];

    old = s->keys;
    oldcap = s->cap;

    s->cap = oldcap ? oldcap * 2 : 1024;
    s->keys = calloc(s->cap, 32);
    if (s->keys == NULL) {
        s->keys = old;
        s->cap = oldcap;
        return -1;
    }

    for (i = 0; i < oldcap; i++) {
        k = old + i * 32;
        if (memcmp(k, zero, 32) == 0) {
            continue;
        }
        for (j = dhash(k) & (s->cap - 1);
             memcmp(s->keys + j * 32, zero, 32) != 0;
             j = (j + 1) & (s->cap - 1))
        {
            /* probe */
        }
        memcpy(s->keys + j * 32, k, 32);
    }

    free(old);
    return 0;
}


/* 1 if added, 0 if there already, -1 out of memory */
static int
dset_add(struct dset *s, const unsigned char *d)
{
    static const unsigned char  zero[32];
    size_t                      j;

    if ((s->n + 1) * 2 > s->cap && dset_grow(s) != 0) {
        return -1;
    }

    for (j = dhash(d) & (s->cap - 1);
         memcmp(s->keys + j * 32, zero, 32) != 0;
         j = (j + 1) & (s->cap - 1))
    {
        if (memcmp(s->keys + j * 32, d, 32) == 0) {
            return 0;
        }
    }

    memcpy(s->keys + j * 32, d, 32);
    s->n++;
    return 1;
}


static int
dset_has(const struct dset *s, const unsigned char *d)
{
    static const unsigned char  zero[32];
    size_t                      j;

    if (s->cap == 0) {
        return 0;
    }

    for (j = dhash(d) & (s->cap - 1);
         memcmp(s->keys + j * 32, zero, 32) != 0;
         j = (j + 1) & (s->cap - 1))
    {
        if (memcmp(s->keys + j * 32, d, 32) == 0) {
            return 1;
        }
    }

    return 0;
}


/* manifests, each read once */

static struct mref *
mmap_get(struct mmap *m, const unsigned char *d)
{
    size_t  j;

    if (m->cap == 0) {
        return NULL;
    }

    for (j = dhash(d) & (m->cap - 1); m->v[j] != NULL;
         j = (j + 1) & (m->cap - 1))
    {
        if (memcmp(m->v[j]->d, d, 32) == 0) {
            return m->v[j];
        }
    }

    return NULL;
}


static int
mmap_put(struct mmap *m, struct mref *x)
{
    struct mref  **old;
    size_t         oldcap, i, j;

    if ((m->n + 1) * 2 > m->cap) {
        old = m->v;
        oldcap = m->cap;
        m->cap = oldcap ? oldcap * 2 : 1024;
        m->v = calloc(m->cap, sizeof(*m->v));
        if (m->v == NULL) {
            m->v = old;
            m->cap = oldcap;
            return -1;
        }
        for (i = 0; i < oldcap; i++) {
            if (old[i] == NULL) {
                continue;
            }
            for (j = dhash(old[i]->d) & (m->cap - 1); m->v[j] != NULL;
                 j = (j + 1) & (m->cap - 1))
            {
                /* probe */
            }
            m->v[j] = old[i];
        }
        free(old);
    }

    for (j = dhash(x->d) & (m->cap - 1); m->v[j] != NULL;
         j = (j + 1) & (m->cap - 1))
    {
        /* probe */
    }
    m->v[j] = x;
    m->n++;

    return 0;
}


static int
gc_blob_path(struct gc *g, const unsigned char *d, const char *tail,
    char *out, size_t len)
{
    char  hex[65];
    int   n;

    bin2hex(d, hex);
    n = snprintf(out, len, "%s/blobs/sha256/%.2s/%s%s", g->root, hex, hex,
                 tail);

    return n < 0 || (size_t) n >= len ? -1 : 0;
}


static int
ref_list(json_t *arr, unsigned char (**out)[32], int *n)
{
    size_t   i;
    json_t  *e;

    if (!json_is_array(arr) || json_array_size(arr) == 0) {
        return 0;
    }

    *out = calloc(json_array_size(arr), 32);
    if (*out == NULL) {
        return -1;
    }

    json_array_foreach(arr, i, e) {
        if (digest_bin(json_string_value(json_object_get(e, "digest")),
                       (*out)[*n]) == 0)
        {
            (*n)++;
        }
    }

    return 0;
}


/* the references of manifest d, read from storage the first time only */
static struct mref *
gc_manifest(struct gc *g, const unsigned char *d)
{
    struct mref  *m;
    struct stat   st;
    json_t       *j, *cfg, *subj;
    char          path[PATH_MAX], *buf;
    ssize_t       got;
    int           fd;

    m = mmap_get(&g->mf, d);
    if (m != NULL) {
        return m;
    }

    m = calloc(1, sizeof(*m));
    if (m == NULL) {
        return NULL;
    }
    memcpy(m->d, d, 32);

    buf = NULL;
    fd = -1;

    if (gc_blob_path(g, d, "/data", path, sizeof(path)) != 0) {
        goto done;
    }

    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd == -1 || fstat(fd, &st) == -1 || st.st_size > GC_MANIFEST_MAX) {
        m->missing = 1;
        goto done;
    }

    buf = malloc((size_t) st.st_size + 1);
    if (buf == NULL) {
        goto done;
    }

    got = read(fd, buf, (size_t) st.st_size);
    if (got != st.st_size) {
        goto done;
    }

    g->manifests++;

    j = json_loadb(buf, (size_t) got, 0, NULL);
    if (j != NULL) {
        cfg = json_object_get(j, "config");
        if (json_is_object(cfg)) {
            json_t  *a = json_array();

            json_array_append(a, cfg);
            ref_list(a, &m->blobs, &m->nblobs);
            json_decref(a);
        }

        if (json_array_size(json_object_get(j, "layers"))
            || json_array_size(json_object_get(j, "blobs")))
        {
            unsigned char (*more)[32] = NULL;
            int             nmore = 0, i;

            ref_list(json_object_get(j, "layers"), &more, &nmore);
            if (nmore == 0) {
                ref_list(json_object_get(j, "blobs"), &more, &nmore);
            }
            if (nmore > 0) {
                m->blobs = realloc(m->blobs,
                                   (size_t) (m->nblobs + nmore) * 32);
                if (m->blobs != NULL) {
                    for (i = 0; i < nmore; i++) {
                        memcpy(m->blobs[m->nblobs++], more[i], 32);
                    }
                } else {
                    m->nblobs = 0;
                }
            }
            free(more);
        }

        ref_list(json_object_get(j, "manifests"), &m->children,
                 &m->nchildren);

        subj = json_object_get(j, "subject");
        if (json_is_object(subj)
            && digest_bin(json_string_value(json_object_get(subj, "digest")),
                          m->subject) == 0)
        {
            m->has_subject = 1;
        }

        json_decref(j);
    }

done:

    if (fd != -1) {
        close(fd);
    }
    free(buf);

    if (mmap_put(&g->mf, m) != 0) {
        free(m);
        return NULL;
    }

    return m;
}


/* mark d and everything it references */
static void
gc_mark(struct gc *g, const unsigned char *d, int depth)
{
    struct mref  *m;
    int           i;

    if (dset_add(&g->marked, d) == 0 || depth > GC_DEPTH_MAX) {
        return;
    }

    m = gc_manifest(g, d);
    if (m == NULL) {
        return;
    }

    for (i = 0; i < m->nblobs; i++) {
        dset_add(&g->marked, m->blobs[i]);
    }

    for (i = 0; i < m->nchildren; i++) {
        gc_mark(g, m->children[i], depth + 1);
    }
}


/* remove a directory tree (files and directories only) */
static int
rm_tree(const char *path)
{
    DIR            *d;
    struct dirent  *e;
    struct stat     st;
    char            p[PATH_MAX];
    int             rc;

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
        if (snprintf(p, sizeof(p), "%s/%s", path, e->d_name)
            >= (int) sizeof(p) || rm_tree(p) != 0)
        {
            rc = -1;
        }
    }
    closedir(d);

    if (rmdir(path) == -1 && errno != ENOENT) {
        rc = -1;
    }

    return rc;
}


/* phase recover: whatever a killed run left in the trash goes back */
static void
gc_recover(struct gc *g)
{
    DIR            *d;
    struct dirent  *e;
    unsigned char   bin[32];
    char            from[PATH_MAX], to[PATH_MAX];

    gc_phase(g, "recover");

    d = opendir(g->trash);
    if (d == NULL) {
        return;
    }

    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.') {
            continue;
        }

        if (snprintf(from, sizeof(from), "%s/%s", g->trash, e->d_name)
            >= (int) sizeof(from))
        {
            continue;
        }

        if (hex2bin(e->d_name, bin) != 0
            || gc_blob_path(g, bin, "", to, sizeof(to)) != 0)
        {
            rm_tree(from);
            continue;
        }

        /*
         * Put back, and let this run decide again.  A directory that is
         * there now (a new copy, or the empty one of an upload about to
         * rename its file into it) wins when it is not empty.
         */
        if (rename(from, to) == 0) {
            g->recovered++;
            gc_out(g, "L recovered sha256:%s from the trash", e->d_name);
        } else {
            rm_tree(from);
            gc_out(g, "L dropped sha256:%s from the trash: a copy is back",
                   e->d_name);
        }
    }

    closedir(d);
}


/* the untagged phase: one repository */

struct gc_repo {
    struct gc      *g;
    const char     *name;
    struct dset     tagged;
    unsigned char (*revs)[32];
    time_t         *rev_mtime;
    int             nrevs;
    int             cap;
};


static int
gc_rev_cb(const char *key, const char *digest, time_t mtime, void *arg)
{
    struct gc_repo  *rp = arg;
    void            *p;

    (void) key;

    if (rp->nrevs == rp->cap) {
        rp->cap = rp->cap ? rp->cap * 2 : 64;
        p = realloc(rp->revs, (size_t) rp->cap * 32);
        if (p == NULL) {
            return -1;
        }
        rp->revs = p;
        p = realloc(rp->rev_mtime, (size_t) rp->cap * sizeof(time_t));
        if (p == NULL) {
            return -1;
        }
        rp->rev_mtime = p;
    }

    if (digest_bin(digest, rp->revs[rp->nrevs]) == 0) {
        rp->rev_mtime[rp->nrevs++] = mtime;
    }

    return 0;
}


static int
gc_tag_cb(const char *tag, const char *digest, time_t mtime, void *arg)
{
    struct gc_repo  *rp = arg;
    unsigned char    d[32];

    (void) tag;
    (void) mtime;

    if (digest_bin(digest, d) == 0) {
        dset_add(&rp->tagged, d);
    }

    return 0;
}


static int
gc_load_repo(struct gc_repo *rp, int tags)
{
    if (store_revisions(rp->name, gc_rev_cb, rp) != 0) {
        return -1;
    }

    if (tags && store_tags(rp->name, gc_tag_cb, rp) != 0) {
        return -1;
    }

    return 0;
}


static void
gc_repo_free(struct gc_repo *rp)
{
    free(rp->tagged.keys);
    free(rp->revs);
    free(rp->rev_mtime);
}


/*
 * Kept: tagged revisions, revisions younger than the window, children of
 * kept indexes and accessories (subject) of kept ones, to a fixpoint.
 */
static int
gc_untagged_repo(const char *name, void *arg)
{
    struct gc       *g = arg;
    struct gc_repo   rp;
    struct dset      kept;
    struct mref     *m;
    unsigned char   *keep;
    char             hex[65], digest[80];
    int              i, k, changed;

    memset(&rp, 0, sizeof(rp));
    memset(&kept, 0, sizeof(kept));
    rp.g = g;
    rp.name = name;

    if (gc_load_repo(&rp, 1) != 0) {
        gc_out(g, "L %s: cannot list revisions or tags", name);
        g->errors++;
        gc_repo_free(&rp);
        return 0;
    }

    keep = calloc((size_t) rp.nrevs + 1, 1);
    if (keep == NULL) {
        gc_repo_free(&rp);
        return -1;
    }

    for (i = 0; i < rp.nrevs; i++) {
        if (dset_has(&rp.tagged, rp.revs[i])
            || rp.rev_mtime[i] >= g->cutoff)
        {
            keep[i] = 1;
            dset_add(&kept, rp.revs[i]);
        }
    }

    do {
        changed = 0;

        for (i = 0; i < rp.nrevs; i++) {
            m = gc_manifest(g, rp.revs[i]);
            if (m == NULL) {
                continue;
            }

            if (keep[i]) {
                for (k = 0; k < m->nchildren; k++) {
                    if (dset_add(&kept, m->children[k]) == 1) {
                        changed = 1;
                    }
                }
            } else if (dset_has(&kept, rp.revs[i])
                       || (m->has_subject && dset_has(&kept, m->subject)))
            {
                keep[i] = 1;
                dset_add(&kept, rp.revs[i]);
                changed = 1;
            }
        }
    } while (changed);

    for (i = 0; i < rp.nrevs; i++) {
        if (keep[i]) {
            continue;
        }

        bin2hex(rp.revs[i], hex);
        snprintf(digest, sizeof(digest), "sha256:%s", hex);

        if (g->o->dry_run) {
            gc_out(g, "L would delete untagged manifest %s@%s", name, digest);
            dset_add(&g->gone_revs, rp.revs[i]);
            g->untagged++;
            continue;
        }

        if (g->ndels == g->dels_cap) {
            char  **p;

            g->dels_cap = g->dels_cap ? g->dels_cap * 2 : 256;
            p = realloc(g->dels, (size_t) g->dels_cap * sizeof(*p));
            if (p == NULL) {
                break;
            }
            g->dels = p;
        }
        if (asprintf(&g->dels[g->ndels], "%s %s", name, digest) < 0) {
            break;
        }
        g->ndels++;
    }

    free(keep);
    free(kept.keys);
    gc_repo_free(&rp);

    return 0;
}


/* DELETE the collected untagged manifests, `workers` at a time */
static void *
gc_delete_worker(void *arg)
{
    struct gc  *g = arg;
    char       *name, *digest, err[REG_ERR_MAX];
    int         i, status;

    for ( ;; ) {
        i = __atomic_fetch_add(&g->next_del, 1, __ATOMIC_RELAXED);
        if (i >= g->ndels) {
            break;
        }

        name = g->dels[i];
        digest = strchr(name, ' ');
        *digest++ = '\0';

        status = registry_delete_untagged(g->o->user, name, digest, err,
                                          sizeof(err));
        if (status == 202 || status == 404) {
            gc_out(g, "L delete untagged manifest %s@%s", name, digest);
            __atomic_add_fetch(&g->untagged, 1, __ATOMIC_RELAXED);
        } else if (status == 412) {
            /* tagged since the listing: it stays, and so do its blobs */
            gc_out(g, "L keep %s@%s: tagged meanwhile", name, digest);
        } else {
            gc_out(g, "L %s@%s: %s", name, digest, err);
            __atomic_add_fetch(&g->errors, 1, __ATOMIC_RELAXED);
        }
    }

    return NULL;
}


static void
gc_delete_untagged(struct gc *g)
{
    pthread_t        t[GC_WORKERS_MAX];
    struct timespec  ts;
    int              i, n;

    n = g->o->workers < 1 ? 1 : g->o->workers;
    n = n > GC_WORKERS_MAX ? GC_WORKERS_MAX : n;

    for (i = 0; i < n; i++) {
        if (pthread_create(&t[i], NULL, gc_delete_worker, g) != 0) {
            break;
        }
    }
    n = i;
    if (n == 0) {
        gc_delete_worker(g);
    }

    for ( ;; ) {
        i = __atomic_load_n(&g->next_del, __ATOMIC_RELAXED);
        gc_out(g, "P untagged %d %d", i > g->ndels ? g->ndels : i,
               g->ndels);
        if (i >= g->ndels + n) {
            break;
        }
        ts.tv_sec = 0;
        ts.tv_nsec = 200 * 1000 * 1000;
        nanosleep(&ts, NULL);
    }

    for (i = 0; i < n; i++) {
        pthread_join(t[i], NULL);
    }
}


static int
gc_mark_repo(const char *name, void *arg)
{
    struct gc       *g = arg;
    struct gc_repo   rp;
    int              i;

    memset(&rp, 0, sizeof(rp));
    rp.g = g;
    rp.name = name;

    if (gc_load_repo(&rp, 0) != 0) {
        /* not knowing what a repository holds, nothing can be swept */
        gc_out(g, "L %s: cannot list revisions", name);
        gc_repo_free(&rp);
        return -1;
    }

    for (i = 0; i < rp.nrevs; i++) {
        if (g->o->dry_run && dset_has(&g->gone_revs, rp.revs[i])) {
            continue;
        }
        gc_mark(g, rp.revs[i], 0);
    }

    gc_repo_free(&rp);

    return 0;
}


/* the sweep: one blob directory, by one worker */
static void
gc_sweep_one(struct gc *g, const char *prefix, const char *hex,
    int *first)
{
    struct stat     st;
    unsigned char   d[32];
    char            dir[PATH_MAX], data[PATH_MAX], tr[PATH_MAX];
    char            trdata[PATH_MAX];

    if (hex2bin(hex, d) != 0) {
        return;
    }

    __atomic_add_fetch(&g->examined, 1, __ATOMIC_RELAXED);

    if (dset_has(&g->marked, d)) {
        return;
    }

    if (snprintf(dir, sizeof(dir), "%s/blobs/sha256/%s/%s", g->root, prefix,
                 hex) >= (int) sizeof(dir)
        || snprintf(data, sizeof(data), "%s/data", dir) >= (int) sizeof(data)
        || snprintf(tr, sizeof(tr), "%s/%s", g->trash, hex)
           >= (int) sizeof(tr)
        || snprintf(trdata, sizeof(trdata), "%s/data", tr)
           >= (int) sizeof(trdata))
    {
        return;
    }

    if (stat(data, &st) == -1 || st.st_mtime >= g->cutoff) {
        return;
    }

    if (g->o->dry_run) {
        pthread_mutex_lock(&g->mtx);
        dset_add(&g->doomed, d);
        g->deleted++;
        g->bytes += st.st_size;
        gc_out(g, "L would delete blob sha256:%s %lld bytes", hex,
               (long long) st.st_size);
        pthread_mutex_unlock(&g->mtx);
        return;
    }

    /* move aside: from now on a touch fails with ENOENT */
    if (rename(dir, tr) == -1) {
        return;
    }

    if (*first && gc_pause != NULL && strcmp(gc_pause, "sweep") == 0) {
        gc_out(g, "L paused at sweep (pid %ld) with sha256:%s in the trash",
               (long) getpid(), hex);
        for ( ;; ) {
            pause();
        }
    }
    *first = 0;

    /* a touch before the move shows here */
    if (stat(trdata, &st) == -1 || st.st_mtime >= g->cutoff) {
        if (rename(tr, dir) == -1) {
            /* a new copy is there: it wins */
            rm_tree(tr);
        }
        __atomic_add_fetch(&g->restored, 1, __ATOMIC_RELAXED);
        gc_out(g, "L kept sha256:%s: touched during the run", hex);
        return;
    }

    if (rm_tree(tr) != 0) {
        __atomic_add_fetch(&g->errors, 1, __ATOMIC_RELAXED);
        gc_out(g, "L cannot remove %s: %s", tr, strerror(errno));
        return;
    }

    __atomic_add_fetch(&g->deleted, 1, __ATOMIC_RELAXED);
    __atomic_add_fetch(&g->bytes, st.st_size, __ATOMIC_RELAXED);
    gc_out(g, "L delete blob sha256:%s %lld bytes", hex,
           (long long) st.st_size);
}


static void *
gc_sweep_worker(void *arg)
{
    struct gc      *g = arg;
    DIR            *d;
    struct dirent  *e;
    char            path[PATH_MAX], prefix[3];
    int             p, first;

    first = 1;

    for ( ;; ) {
        p = __atomic_fetch_add(&g->next_prefix, 1, __ATOMIC_RELAXED);
        if (p > 255) {
            break;
        }

        snprintf(prefix, sizeof(prefix), "%02x", p);
        if (snprintf(path, sizeof(path), "%s/blobs/sha256/%s", g->root,
                     prefix) >= (int) sizeof(path))
        {
            continue;
        }

        d = opendir(path);
        if (d == NULL) {
            continue;
        }

        while ((e = readdir(d)) != NULL) {
            if (strlen(e->d_name) == 64
                && strncmp(e->d_name, prefix, 2) == 0)
            {
                gc_sweep_one(g, prefix, e->d_name, &first);
            }
        }

        closedir(d);
    }

    return NULL;
}


static int
gc_sweep(struct gc *g)
{
    pthread_t        t[GC_WORKERS_MAX];
    struct timespec  ts;
    int              i, n, p;

    gc_phase(g, "sweep");

    n = g->o->workers;
    if (n < 1) {
        n = 1;
    }
    if (n > GC_WORKERS_MAX) {
        n = GC_WORKERS_MAX;
    }

    for (i = 0; i < n; i++) {
        if (pthread_create(&t[i], NULL, gc_sweep_worker, g) != 0) {
            break;
        }
    }
    n = i;
    if (n == 0) {
        gc_sweep_worker(g);
    }

    /* progress: prefixes done of 256, and blobs examined so far */
    for ( ;; ) {
        p = __atomic_load_n(&g->next_prefix, __ATOMIC_RELAXED);
        gc_out(g, "P sweep %d 256 %lld", p > 256 ? 256 : p,
               __atomic_load_n(&g->examined, __ATOMIC_RELAXED));
        if (p > 255 + n || n == 0) {
            break;
        }
        ts.tv_sec = 0;
        ts.tv_nsec = 200 * 1000 * 1000;
        nanosleep(&ts, NULL);
    }

    for (i = 0; i < n; i++) {
        pthread_join(t[i], NULL);
    }

    gc_out(g, "P sweep 256 256 %lld", g->examined);

    return 0;
}


/* _layers links whose blob is gone (or would be, in a dry run) */
static int
gc_layers_repo(const char *name, void *arg)
{
    struct gc      *g = arg;
    DIR            *d;
    struct dirent  *e;
    struct stat     st;
    unsigned char   bin[32];
    char            dir[PATH_MAX], link[PATH_MAX], data[PATH_MAX];
    int             gone;

    if (snprintf(dir, sizeof(dir), "%s/repositories/%s/_layers/sha256",
                 g->root, name) >= (int) sizeof(dir))
    {
        return 0;
    }

    d = opendir(dir);
    if (d == NULL) {
        return 0;
    }

    while ((e = readdir(d)) != NULL) {
        if (hex2bin(e->d_name, bin) != 0
            || snprintf(link, sizeof(link), "%s/%s/link", dir, e->d_name)
               >= (int) sizeof(link)
            || gc_blob_path(g, bin, "/data", data, sizeof(data)) != 0)
        {
            continue;
        }

        if (g->o->dry_run) {
            gone = dset_has(&g->doomed, bin) || access(data, F_OK) != 0;
        } else {
            gone = access(data, F_OK) != 0 && errno == ENOENT;
        }

        /* a young link may belong to an upload or mount in progress */
        if (!gone || stat(link, &st) == -1 || st.st_mtime >= g->cutoff) {
            continue;
        }

        g->layers++;

        if (g->o->dry_run) {
            gc_out(g, "L would remove layer link %s@sha256:%s", name,
                   e->d_name);
            continue;
        }

        unlink(link);
        link[strlen(link) - sizeof("/link") + 1] = '\0';
        rmdir(link);
        gc_out(g, "L remove layer link %s@sha256:%s", name, e->d_name);
    }

    closedir(d);

    return 0;
}


static time_t
newest_mtime(const char *dir)
{
    DIR            *d;
    struct dirent  *e;
    struct stat     st;
    char            p[PATH_MAX];
    time_t          t;

    t = 0;
    if (stat(dir, &st) == 0) {
        t = st.st_mtime;
    }

    d = opendir(dir);
    if (d == NULL) {
        return t;
    }

    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.'
            || snprintf(p, sizeof(p), "%s/%s", dir, e->d_name)
               >= (int) sizeof(p))
        {
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
    char            dir[PATH_MAX], p[PATH_MAX];
    time_t          old;

    old = time(NULL) - g->o->upload_age;

    if (snprintf(dir, sizeof(dir), "%s/repositories/%s/_uploads", g->root,
                 name) >= (int) sizeof(dir))
    {
        return 0;
    }

    d = opendir(dir);
    if (d == NULL) {
        return 0;
    }

    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.'
            || snprintf(p, sizeof(p), "%s/%s", dir, e->d_name)
               >= (int) sizeof(p))
        {
            continue;
        }

        if (newest_mtime(p) >= old) {
            continue;
        }

        g->uploads++;

        if (g->o->dry_run) {
            gc_out(g, "L would purge upload %s/%s", name, e->d_name);
        } else {
            rm_tree(p);
            gc_out(g, "L purge upload %s/%s", name, e->d_name);
        }
    }

    closedir(d);

    return 0;
}


static int
mkdir_p(char *path)
{
    char  *s;

    for (s = path + 1; *s != '\0'; s++) {
        if (*s == '/') {
            *s = '\0';
            if (mkdir(path, 0750) == -1 && errno != EEXIST) {
                *s = '/';
                return -1;
            }
            *s = '/';
        }
    }

    return mkdir(path, 0750) == -1 && errno != EEXIST ? -1 : 0;
}


/*
 * One run.  0 done, -1 failed (a line "L ..." says why).  Writes the
 * result line last.
 */
int
gc_run(const struct gc_opts *o, int fd)
{
    struct gc   *g;
    char         lock[PATH_MAX];
    int          lfd, rc;
    time_t       start;
    long long    t0;

    gc_pause = getenv("HARBOR_GC_PAUSE");

    g = calloc(1, sizeof(*g));
    if (g == NULL) {
        return -1;
    }

    g->o = o;
    g->fd = fd;
    pthread_mutex_init(&g->mtx, NULL);
    rc = -1;
    lfd = -1;

    start = time(NULL);
    t0 = gc_ms();
    g->cutoff = start - o->window;

    if (snprintf(g->root, sizeof(g->root), "%s/docker/registry/v2",
                 conf->registry_storage) >= (int) sizeof(g->root)
        || snprintf(g->trash, sizeof(g->trash), "%s/_gc/trash",
                    conf->registry_storage) >= (int) sizeof(g->trash)
        || snprintf(lock, sizeof(lock), "%s/_gc/lock",
                    conf->registry_storage) >= (int) sizeof(lock))
    {
        gc_out(g, "L the storage path is too long");
        goto done;
    }

    if (mkdir_p(g->trash) != 0) {
        gc_out(g, "L cannot make \"%s\": %s", g->trash, strerror(errno));
        goto done;
    }

    /* one run at a time over this storage, whichever authd starts it */
    lfd = open(lock, O_RDWR | O_CREAT | O_CLOEXEC, 0640);
    if (lfd == -1 || flock(lfd, LOCK_EX | LOCK_NB) == -1) {
        gc_out(g, "L another garbage collection holds \"%s\"", lock);
        goto done;
    }

    gc_out(g, "L worker pid %ld: window %ds, workers %d, delete_untagged "
           "%s, dry_run %s", (long) getpid(), o->window, o->workers,
           o->delete_untagged ? "true" : "false",
           o->dry_run ? "true" : "false");

    gc_recover(g);

    t0 = gc_ms();

    if (o->delete_untagged) {
        gc_phase(g, "untagged");
        if (store_repositories(gc_untagged_repo, g) != 0) {
            gc_out(g, "L cannot list the repositories");
            goto done;
        }
        if (!o->dry_run) {
            gc_delete_untagged(g);
        }
    }

    g->ms[0] = gc_ms() - t0;
    t0 = gc_ms();

    gc_phase(g, "mark");
    if (store_repositories(gc_mark_repo, g) != 0) {
        gc_out(g, "L cannot read every repository: nothing is swept");
        goto done;
    }
    gc_out(g, "P mark %lld %lld", g->manifests, g->manifests);
    gc_out(g, "L marked %zu blobs from %lld manifests", g->marked.n,
           g->manifests);

    g->ms[1] = gc_ms() - t0;
    t0 = gc_ms();
    gc_sweep(g);
    g->ms[2] = gc_ms() - t0;

    gc_phase(g, "layers");
    store_repositories(gc_layers_repo, g);

    gc_phase(g, "uploads");
    store_repositories(gc_uploads_repo, g);

    rc = 0;

done:

    gc_out(g, "R {\"blobs_examined\":%lld,\"blobs_deleted\":%lld,"
           "\"bytes_freed\":%lld,\"manifests_read\":%lld,"
           "\"untagged_deleted\":%lld,\"layer_links_removed\":%lld,"
           "\"uploads_purged\":%lld,\"restored\":%lld,\"recovered\":%lld,"
           "\"errors\":%lld,\"dry_run\":%s,\"seconds\":%lld,"
           "\"ms_untagged\":%lld,\"ms_mark\":%lld,\"ms_sweep\":%lld}",
           g->examined, g->deleted, g->bytes, g->manifests, g->untagged,
           g->layers, g->uploads, g->restored, g->recovered, g->errors,
           o->dry_run ? "true" : "false", (long long) (time(NULL) - start),
           g->ms[0], g->ms[1], g->ms[2]);

    if (lfd != -1) {
        close(lfd);
    }

    return rc;
}
