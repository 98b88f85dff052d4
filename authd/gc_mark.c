/*
 * authd: the collector's mark (docs/gc.md).
 *
 * Every manifest a repository links (a revision, of either digest
 * algorithm) is read once per run, with the module's own parser
 * (hb_manifest_parse), and its config, layers, children (an index's
 * manifests, recursively) and the manifest itself are marked.  Anything
 * that cannot be read or parsed fails the mark: the run then sweeps
 * nothing, since what a manifest it could not read references is
 * unknown.
 */

#include <sys/stat.h>
#include <sys/types.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "authd.h"
#include "harbor_layout.h"


static size_t
gc_klen(int alg)
{
    return alg == HB_DIGEST_SHA512 ? 64 : 32;
}


static int
gc_unhex(int c)
{
    return c >= '0' && c <= '9' ? c - '0'
         : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}


/* "<alg>:<hex>" (not NUL-terminated) into a binary digest */
int
gc_digest_parse(const char *s, size_t len, struct gc_digest *d)
{
    size_t  i;
    int     alg;

    alg = hb_digest_parse((const unsigned char *) s, len);
    if (alg == HB_DIGEST_NONE) {
        return -1;
    }

    memset(d, 0, sizeof(*d));
    d->alg = (unsigned char) alg;

    for (i = 0; i < gc_klen(alg); i++) {
        d->b[i] = (unsigned char) (gc_unhex(s[7 + 2 * i]) << 4
                                   | gc_unhex(s[8 + 2 * i]));
    }

    return 0;
}


/* "<alg>:<hex>" into out, HB_DIGEST_MAX + 1 bytes */
void
gc_digest_str(const struct gc_digest *d, char *out)
{
    size_t  n;

    n = gc_klen(d->alg);
    memcpy(out, hb_layout_alg(d->alg), 6);
    out[6] = ':';
    hb_hex((unsigned char *) out + 7, d->b, n);
    out[7 + 2 * n] = '\0';
}


static size_t
gc_hash(const unsigned char *k)
{
    size_t  h;

    memcpy(&h, k, sizeof(h));           /* a digest is uniform already */
    return h;
}


static int
gc_zero(const unsigned char *k, size_t n)
{
    size_t  i;

    for (i = 0; i < n; i++) {
        if (k[i] != 0) {
            return 0;
        }
    }

    return 1;
}


static int
gc_dset_grow(struct gc_dset *s)
{
    unsigned char  *old, *k;
    size_t          oldcap, i, j;

    old = s->keys;
    oldcap = s->cap;

    s->cap = oldcap ? oldcap * 2 : 1024;
    s->keys = calloc(s->cap, s->klen);
    if (s->keys == NULL) {
        s->keys = old;
        s->cap = oldcap;
        return -1;
    }

    for (i = 0; i < oldcap; i++) {
        k = old + i * s->klen;
        if (gc_zero(k, s->klen)) {
            continue;
        }
        for (j = gc_hash(k) & (s->cap - 1);
             !gc_zero(s->keys + j * s->klen, s->klen);
             j = (j + 1) & (s->cap - 1))
        {
            /* probe */
        }
        memcpy(s->keys + j * s->klen, k, s->klen);
    }

    free(old);
    return 0;
}


/* 1 added, 0 there already, -1 out of memory */
int
gc_set_add(struct gc_set *set, const struct gc_digest *d)
{
    struct gc_dset  *s;
    unsigned char   *k;
    size_t           j;

    s = &set->a[d->alg == HB_DIGEST_SHA512];
    s->klen = gc_klen(d->alg);

    if ((s->n + 1) * 2 > s->cap && gc_dset_grow(s) != 0) {
        return -1;
    }

    for (j = gc_hash(d->b) & (s->cap - 1); ; j = (j + 1) & (s->cap - 1)) {
        k = s->keys + j * s->klen;
        if (gc_zero(k, s->klen)) {
            break;
        }
        if (memcmp(k, d->b, s->klen) == 0) {
            return 0;
        }
    }

    memcpy(k, d->b, s->klen);
    s->n++;

    return 1;
}


int
gc_set_has(const struct gc_set *set, const struct gc_digest *d)
{
    const struct gc_dset  *s;
    const unsigned char   *k;
    size_t                 j;

    s = &set->a[d->alg == HB_DIGEST_SHA512];
    if (s->cap == 0) {
        return 0;
    }

    for (j = gc_hash(d->b) & (s->cap - 1); ; j = (j + 1) & (s->cap - 1)) {
        k = s->keys + j * s->klen;
        if (gc_zero(k, s->klen)) {
            return 0;
        }
        if (memcmp(k, d->b, s->klen) == 0) {
            return 1;
        }
    }
}


void
gc_set_free(struct gc_set *set)
{
    free(set->a[0].keys);
    free(set->a[1].keys);
    memset(set, 0, sizeof(*set));
}


static int
gc_same(const struct gc_digest *a, const struct gc_digest *b)
{
    return a->alg == b->alg && memcmp(a->b, b->b, gc_klen(a->alg)) == 0;
}


static struct gc_manifest *
gc_mtable_get(struct gc_mtable *t, const struct gc_digest *d)
{
    size_t  j;

    if (t->cap == 0) {
        return NULL;
    }

    for (j = gc_hash(d->b) & (t->cap - 1); t->v[j] != NULL;
         j = (j + 1) & (t->cap - 1))
    {
        if (gc_same(&t->v[j]->d, d)) {
            return t->v[j];
        }
    }

    return NULL;
}


static void
gc_mtable_slot(struct gc_manifest **v, size_t cap, struct gc_manifest *m)
{
    size_t  j;

    for (j = gc_hash(m->d.b) & (cap - 1); v[j] != NULL;
         j = (j + 1) & (cap - 1))
    {
        /* probe */
    }

    v[j] = m;
}


static int
gc_mtable_put(struct gc_mtable *t, struct gc_manifest *m)
{
    struct gc_manifest  **v;
    size_t                cap, i;

    if ((t->n + 1) * 2 > t->cap) {
        cap = t->cap ? t->cap * 2 : 1024;
        v = calloc(cap, sizeof(*v));
        if (v == NULL) {
            return -1;
        }
        for (i = 0; i < t->cap; i++) {
            if (t->v[i] != NULL) {
                gc_mtable_slot(v, cap, t->v[i]);
            }
        }
        free(t->v);
        t->v = v;
        t->cap = cap;
    }

    gc_mtable_slot(t->v, t->cap, m);
    t->n++;

    return 0;
}


static void
gc_manifest_free(struct gc_manifest *m)
{
    if (m != NULL) {
        free(m->refs);
        free(m->children);
        free(m);
    }
}


void
gc_manifests_free(struct gc *g)
{
    size_t  i;

    for (i = 0; i < g->mf.cap; i++) {
        gc_manifest_free(g->mf.v[i]);
    }

    free(g->mf.v);
    memset(&g->mf, 0, sizeof(g->mf));
}


/* the bytes of a stored manifest; -1 with a log line naming the path */
static int
gc_read_manifest(struct gc *g, const char *path, char **out, size_t *len)
{
    struct stat  st;
    char        *buf;
    size_t       got;
    ssize_t      n;
    int          fd;

    buf = NULL;

    fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd == -1) {
        gc_out(g, "L error: open \"%s\": %s", path, strerror(errno));
        return -1;
    }

    if (fstat(fd, &st) == -1) {
        gc_out(g, "L error: fstat \"%s\": %s", path, strerror(errno));
        goto fail;
    }

    if (!S_ISREG(st.st_mode) || st.st_size > HB_MANIFEST_MAX) {
        gc_out(g, "L error: \"%s\" is not a manifest (not a file, or over "
               "%d bytes)", path, HB_MANIFEST_MAX);
        goto fail;
    }

    buf = malloc((size_t) st.st_size + 1);
    if (buf == NULL) {
        gc_out(g, "L error: out of memory reading \"%s\"", path);
        goto fail;
    }

    for (got = 0; got < (size_t) st.st_size; got += (size_t) n) {
        n = read(fd, buf + got, (size_t) st.st_size - got);
        if (n <= 0) {
            gc_out(g, "L error: read \"%s\": %s", path,
                   n < 0 ? strerror(errno) : "short file");
            goto fail;
        }
    }

    close(fd);
    *out = buf;
    *len = got;

    return 0;

fail:

    free(buf);
    close(fd);
    return -1;
}


/* the digests of descriptors, into a new array */
static int
gc_descriptors(const hb_descriptor_t *dd, size_t n, struct gc_digest **out,
    size_t *nout)
{
    size_t  i;

    *out = NULL;
    *nout = 0;

    if (n == 0) {
        return 0;
    }

    *out = calloc(n, sizeof(**out));
    if (*out == NULL) {
        return -1;
    }

    for (i = 0; i < n; i++) {
        if (gc_digest_parse(dd[i].digest, strlen(dd[i].digest), &(*out)[i])
            != 0)
        {
            return -1;
        }
    }

    *nout = n;

    return 0;
}


/*
 * What manifest d references, read from storage the first time only.
 * NULL on any error (a log line names the path and the error).
 */
struct gc_manifest *
gc_manifest_get(struct gc *g, const struct gc_digest *d)
{
    struct gc_manifest  *m;
    hb_manifest_t        hm;
    char                 path[PATH_MAX], digest[HB_DIGEST_MAX + 1];
    char                 err[256], *body;
    size_t               len;
    int                  rc;

    m = gc_mtable_get(&g->mf, d);
    if (m != NULL) {
        return m;
    }

    gc_digest_str(d, digest);

    if (hb_layout_blob_data(path, sizeof(path), g->v2, strlen(g->v2), digest,
                            strlen(digest)) < 0)
    {
        gc_out(g, "L error: %s: path too long", digest);
        return NULL;
    }

    if (gc_read_manifest(g, path, &body, &len) != 0) {
        return NULL;
    }

    g->manifests++;

    rc = hb_manifest_parse(body, len, NULL, 0, &hm, err, sizeof(err));
    free(body);

    if (rc != 0) {
        gc_out(g, "L error: \"%s\": %s", path, err);
        hb_manifest_free(&hm);
        return NULL;
    }

    m = calloc(1, sizeof(*m));
    if (m == NULL) {
        goto nomem;
    }
    m->d = *d;

    /* the config and the layers, one array */
    if (gc_descriptors(hm.blobs, hm.nblobs, &m->refs, &m->nrefs) != 0) {
        goto nomem;
    }

    if (hm.config.digest[0] != '\0') {
        struct gc_digest  *r;

        r = realloc(m->refs, (m->nrefs + 1) * sizeof(*r));
        if (r == NULL) {
            goto nomem;
        }
        m->refs = r;
        if (gc_digest_parse(hm.config.digest, strlen(hm.config.digest),
                            &m->refs[m->nrefs]) != 0)
        {
            goto nomem;
        }
        m->nrefs++;
    }

    if (gc_descriptors(hm.manifests, hm.nmanifests, &m->children,
                       &m->nchildren) != 0)
    {
        goto nomem;
    }

    if (hm.subject.digest[0] != '\0') {
        m->has_subject = gc_digest_parse(hm.subject.digest,
                                         strlen(hm.subject.digest),
                                         &m->subject) == 0;
    }

    hb_manifest_free(&hm);

    if (gc_mtable_put(&g->mf, m) != 0) {
        gc_manifest_free(m);
        gc_out(g, "L error: out of memory");
        return NULL;
    }

    return m;

nomem:

    hb_manifest_free(&hm);
    gc_manifest_free(m);
    gc_out(g, "L error: out of memory, or a bad digest, in \"%s\"", path);
    return NULL;
}


/* mark manifest d, its blobs and, through an explicit stack, its children */
static int
gc_mark_manifest(struct gc *g, const struct gc_digest *d)
{
    struct gc_manifest  *m;
    struct gc_digest    *stack, *p;
    size_t               n, cap, i;
    int                  rc;

    cap = 64;
    stack = malloc(cap * sizeof(*stack));
    if (stack == NULL) {
        gc_out(g, "L error: out of memory");
        return -1;
    }

    stack[0] = *d;
    n = 1;
    rc = -1;

    while (n > 0) {
        m = gc_manifest_get(g, &stack[--n]);
        if (m == NULL) {
            goto done;
        }

        if (m->marked) {
            continue;
        }
        m->marked = 1;

        if (gc_set_add(&g->marked, &m->d) < 0) {
            goto nomem;
        }

        for (i = 0; i < m->nrefs; i++) {
            if (gc_set_add(&g->marked, &m->refs[i]) < 0) {
                goto nomem;
            }
        }

        if (n + m->nchildren > cap) {
            cap = (n + m->nchildren) * 2;
            p = realloc(stack, cap * sizeof(*stack));
            if (p == NULL) {
                goto nomem;
            }
            stack = p;
        }

        for (i = 0; i < m->nchildren; i++) {
            stack[n++] = m->children[i];
        }
    }

    rc = 0;
    goto done;

nomem:

    gc_out(g, "L error: out of memory");

done:

    free(stack);
    return rc;
}


struct gc_mark_ctx {
    struct gc       *g;
    const char      *name;
};


static int
gc_mark_rev(const char *key, const char *digest, time_t mtime, void *arg)
{
    struct gc_mark_ctx  *c = arg;
    struct gc_digest     d;

    (void) key;
    (void) mtime;

    if (gc_digest_parse(digest, strlen(digest), &d) != 0) {
        gc_out(c->g, "L error: %s: bad revision %s", c->name, digest);
        return GC_LOGGED;
    }

    /* a dry run leaves out what the untagged phase would have deleted */
    if (c->g->o->dry_run && gc_set_has(&c->g->gone_revs, &d)) {
        return 0;
    }

    if (gc_mark_manifest(c->g, &d) != 0) {
        gc_out(c->g, "L error: %s@%s: its manifest cannot be read", c->name,
               digest);
        return GC_LOGGED;
    }

    return 0;
}


static int
gc_mark_repo(const char *name, void *arg)
{
    struct gc_mark_ctx  c;
    int                 rc;

    c.g = arg;
    c.name = name;

    rc = store_revisions(name, gc_mark_rev, &c);
    if (rc == -1) {
        gc_out(c.g, "L error: %s", store_error());
        return GC_LOGGED;
    }

    return rc;
}


/* the phase: 0, or -1 and nothing may be swept */
int
gc_mark(struct gc *g)
{
    gc_phase(g, "mark");

    if (gc_repositories(g, gc_mark_repo) != 0) {
        gc_out(g, "L the mark failed: nothing is swept");
        return -1;
    }

    gc_out(g, "P mark %lld %lld", g->manifests, g->manifests);
    gc_out(g, "L marked %zu blobs from %lld manifests",
           g->marked.a[0].n + g->marked.a[1].n, g->manifests);

    return 0;
}
