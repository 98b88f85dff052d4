/*
 * authd: the collector's untagged phase (docs/gc.md).
 *
 * Per repository, the revisions kept are those a tag points at, those
 * whose revision link is younger than the window, the children of kept
 * indexes and the accessories (subject) of kept manifests, to a fixpoint.
 * The others are deleted with DELETE /v2/<name>/manifests/<digest>
 * through nginx, `workers` requests at a time, each carrying
 * X-Harbor-Untagged-Only and X-Harbor-Cutoff: the time the listing of
 * its repository began.  The module decides under its fence: a manifest
 * tagged, or made reachable, touched or pushed at or after the cutoff is
 * kept (412, a log line).  Anything else not 2xx is an error of the run.
 *
 * Every repository is listed before the first DELETE: an error in any
 * listing ends the run with nothing deleted.
 */

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "authd.h"


struct gc_repo {
    struct gc          *g;
    const char         *name;
    struct gc_set       tagged;
    struct gc_digest   *revs;
    time_t             *rev_mtime;
    size_t              nrevs;
    size_t              cap;
};


static int
gc_rev_cb(const char *key, const char *digest, time_t mtime, void *arg)
{
    struct gc_repo  *rp = arg;
    void            *p;

    (void) key;

    if (rp->nrevs == rp->cap) {
        rp->cap = rp->cap ? rp->cap * 2 : 64;
        p = realloc(rp->revs, rp->cap * sizeof(*rp->revs));
        if (p == NULL) {
            goto nomem;
        }
        rp->revs = p;
        p = realloc(rp->rev_mtime, rp->cap * sizeof(time_t));
        if (p == NULL) {
            goto nomem;
        }
        rp->rev_mtime = p;
    }

    if (gc_digest_parse(digest, strlen(digest), &rp->revs[rp->nrevs]) != 0) {
        gc_out(rp->g, "L error: %s: bad revision %s", rp->name, digest);
        return GC_LOGGED;
    }

    rp->rev_mtime[rp->nrevs++] = mtime;

    return 0;

nomem:

    gc_out(rp->g, "L error: out of memory listing %s", rp->name);
    return GC_LOGGED;
}


static int
gc_tag_cb(const char *tag, const char *digest, time_t mtime, void *arg)
{
    struct gc_repo    *rp = arg;
    struct gc_digest   d;

    (void) mtime;

    if (gc_digest_parse(digest, strlen(digest), &d) != 0
        || gc_set_add(&rp->tagged, &d) < 0)
    {
        gc_out(rp->g, "L error: %s: tag %s: bad digest or out of memory",
               rp->name, tag);
        return GC_LOGGED;
    }

    return 0;
}


static void
gc_repo_free(struct gc_repo *rp)
{
    gc_set_free(&rp->tagged);
    free(rp->revs);
    free(rp->rev_mtime);
}


static int
gc_del_add(struct gc *g, const char *name, const struct gc_digest *d,
    time_t cutoff)
{
    struct gc_del  *p;

    if (g->ndels == g->dels_cap) {
        g->dels_cap = g->dels_cap ? g->dels_cap * 2 : 256;
        p = realloc(g->dels, (size_t) g->dels_cap * sizeof(*p));
        if (p == NULL) {
            return -1;
        }
        g->dels = p;
    }

    p = &g->dels[g->ndels];
    p->name = strdup(name);
    if (p->name == NULL) {
        return -1;
    }
    gc_digest_str(d, p->digest);
    p->cutoff = cutoff;
    g->ndels++;

    return 0;
}


/* keep[i]: revision i stays; to a fixpoint over children and subjects */
static int
gc_keep(struct gc_repo *rp, unsigned char *keep)
{
    struct gc           *g = rp->g;
    struct gc_manifest  *m;
    struct gc_set        kept;
    size_t               i, k;
    int                  changed, rc;

    memset(&kept, 0, sizeof(kept));
    rc = GC_LOGGED;

    for (i = 0; i < rp->nrevs; i++) {
        if (gc_set_has(&rp->tagged, &rp->revs[i])
            || rp->rev_mtime[i] >= g->old)
        {
            keep[i] = 1;
            if (gc_set_add(&kept, &rp->revs[i]) < 0) {
                goto nomem;
            }
        }
    }

    do {
        changed = 0;

        for (i = 0; i < rp->nrevs; i++) {
            m = gc_manifest_get(g, &rp->revs[i]);
            if (m == NULL) {
                gc_out(g, "L error: %s: a manifest cannot be read",
                       rp->name);
                goto done;
            }

            if (keep[i]) {
                for (k = 0; k < m->nchildren; k++) {
                    switch (gc_set_add(&kept, &m->children[k])) {
                    case 1:
                        changed = 1;
                        break;
                    case -1:
                        goto nomem;
                    }
                }

            } else if (gc_set_has(&kept, &rp->revs[i])
                       || (m->has_subject && gc_set_has(&kept, &m->subject)))
            {
                keep[i] = 1;
                if (gc_set_add(&kept, &rp->revs[i]) < 0) {
                    goto nomem;
                }
                changed = 1;
            }
        }
    } while (changed);

    rc = 0;
    goto done;

nomem:

    gc_out(g, "L error: out of memory");

done:

    gc_set_free(&kept);
    return rc;
}


static int
gc_untagged_repo(const char *name, void *arg)
{
    struct gc       *g = arg;
    struct gc_repo   rp;
    unsigned char   *keep;
    char             digest[HB_DIGEST_MAX + 1];
    time_t           cutoff;
    size_t           i;
    int              rc;

    memset(&rp, 0, sizeof(rp));
    rp.g = g;
    rp.name = name;
    keep = NULL;

    /* before the listing: what the module sees later than this, it keeps */
    cutoff = time(NULL);

    rc = store_tags(name, gc_tag_cb, &rp);
    if (rc == 0) {
        rc = store_revisions(name, gc_rev_cb, &rp);
    }
    if (rc != 0) {
        if (rc == -1) {
            gc_out(g, "L error: %s", store_error());
        }
        gc_out(g, "L error: %s: cannot list revisions or tags", name);
        rc = GC_LOGGED;
        goto done;
    }

    keep = calloc(rp.nrevs + 1, 1);
    if (keep == NULL) {
        gc_out(g, "L error: out of memory");
        rc = GC_LOGGED;
        goto done;
    }

    rc = gc_keep(&rp, keep);
    if (rc != 0) {
        goto done;
    }

    for (i = 0; i < rp.nrevs; i++) {
        if (keep[i]) {
            continue;
        }

        if (g->o->dry_run) {
            gc_digest_str(&rp.revs[i], digest);
            gc_out(g, "L would delete untagged manifest %s@%s", name, digest);
            if (gc_set_add(&g->gone_revs, &rp.revs[i]) < 0) {
                gc_out(g, "L error: out of memory");
                rc = GC_LOGGED;
                goto done;
            }
            g->untagged++;
            continue;
        }

        if (gc_del_add(g, name, &rp.revs[i], cutoff) != 0) {
            gc_out(g, "L error: out of memory");
            rc = GC_LOGGED;
            goto done;
        }
    }

done:

    free(keep);
    gc_repo_free(&rp);

    return rc;
}


/* DELETE the collected untagged manifests, `workers` at a time */
static void *
gc_delete_worker(void *arg)
{
    struct gc      *g = arg;
    struct gc_del  *d;
    char            err[REG_ERR_MAX];
    int             i, status;

    for ( ;; ) {
        i = __atomic_fetch_add(&g->next_del, 1, __ATOMIC_RELAXED);
        if (i >= g->ndels) {
            break;
        }

        d = &g->dels[i];

        status = registry_delete_untagged(g->o->user, d->name, d->digest,
                                          d->cutoff, err, sizeof(err));
        if (status == 202 || status == 404) {
            gc_out(g, "L delete untagged manifest %s@%s", d->name,
                   d->digest);
            __atomic_add_fetch(&g->untagged, 1, __ATOMIC_RELAXED);

        } else if (status == 412) {
            /* tagged, reachable or touched since the listing: it stays */
            gc_out(g, "L keep %s@%s: tagged, referenced or pushed since "
                   "the listing", d->name, d->digest);

        } else {
            gc_out(g, "L error: DELETE %s@%s: %s", d->name, d->digest, err);
            __atomic_add_fetch(&g->errors, 1, __ATOMIC_RELAXED);
        }
    }

    return NULL;
}


static int
gc_delete_done(struct gc *g, int nthreads)
{
    int  i;

    i = __atomic_load_n(&g->next_del, __ATOMIC_RELAXED);
    gc_out(g, "P untagged %d %d", i > g->ndels ? g->ndels : i, g->ndels);

    return i >= g->ndels + nthreads;
}


/* the phase: 0, or -1 (nothing was deleted) */
int
gc_untagged(struct gc *g)
{
    int  i, rc;

    gc_phase(g, "untagged");

    rc = gc_repositories(g, gc_untagged_repo);

    if (rc != 0) {
        gc_out(g, "L the listing failed: nothing is deleted");

    } else {
        if (g->pause != NULL && strcmp(g->pause, "delete") == 0) {
            gc_out(g, "L paused at delete (pid %ld)", (long) getpid());
            gc_hold(g, "delete");
        }

        if (!g->o->dry_run && g->ndels > 0) {
            gc_threads(g, gc_delete_worker, "untagged", gc_delete_done);
        }
    }

    for (i = 0; i < g->ndels; i++) {
        free(g->dels[i].name);
    }
    free(g->dels);
    g->dels = NULL;
    g->ndels = 0;

    return rc;
}
