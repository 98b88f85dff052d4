/*
 * authd: reindex, the tables rebuilt from storage.
 *
 *   authd -I -f authd.yml              once, from the command line
 *   POST /api/v2.0/system/reindex      system administrators; runs in the
 *   GET  /api/v2.0/system/reindex      background, GET says how it went
 *
 * Every repository of storage (a directory with _manifests) gets its
 * row; every manifest revision its artifact row, rebuilt from the
 * manifest; every tag link its tag row.  Rows of what storage no longer
 * holds go.  What only the journal knows is kept for what still exists:
 * pull counts, pull times, push times, descriptions.  A repository left
 * with no manifest keeps its row if it has one (as after deleting its
 * last artifact) and gets none otherwise.
 *
 * A manifest with a subject whose entry in the module's referrers index
 * is missing (a store written by another registry) is PUT again, with
 * the same bytes, through /v2 when authd.registry_url is set: the module
 * writes the entry, and storage is only ever changed by the module.
 *
 * One repository per transaction, all of it under the lock the journal
 * reader takes too, so that the two never interleave.
 */

#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "authd.h"
#include "harbor_grammar.h"


struct reindex_list {
    char      **s;
    int         n;
    int         cap;
};

struct reindex_ctx {
    struct dbc             *db;
    const char             *user;
    struct reindex_stats   *st;
    long long              *seen;       /* repository ids found */
    int                     nseen;
    int                     capseen;
};

static pthread_mutex_t  rx_mtx = PTHREAD_MUTEX_INITIALIZER;

static struct {
    int                    running;
    char                   status[16];
    char                   start[32];
    char                   end[32];
    char                   user[AUTHD_USER_MAX + 1];
    struct reindex_stats   st;
} rx = { 0, "none", "", "", "", { 0, 0, 0, 0, 0 } };


static int
reindex_add(struct reindex_list *l, const char *s)
{
    char  **n;

    if (l->n == l->cap) {
        l->cap = l->cap ? l->cap * 2 : 16;
        n = realloc(l->s, (size_t) l->cap * sizeof(char *));
        if (n == NULL) {
            return -1;
        }
        l->s = n;
    }

    l->s[l->n] = strdup(s);
    if (l->s[l->n] == NULL) {
        return -1;
    }

    l->n++;

    return 0;
}


static void
reindex_free(struct reindex_list *l)
{
    int  i;

    for (i = 0; i < l->n; i++) {
        free(l->s[i]);
    }

    free(l->s);
    memset(l, 0, sizeof(*l));
}


/* "{a,b}": only digests and tags, which need no quoting */
static char *
reindex_array(struct reindex_list *l)
{
    char    *s;
    size_t   len, off;
    int      i;

    len = 3;
    for (i = 0; i < l->n; i++) {
        len += strlen(l->s[i]) + 1;
    }

    s = malloc(len);
    if (s == NULL) {
        return NULL;
    }

    off = 0;
    s[off++] = '{';
    for (i = 0; i < l->n; i++) {
        off += (size_t) snprintf(s + off, len - off, "%s%s", i ? "," : "",
                                 l->s[i]);
    }
    s[off++] = '}';
    s[off] = '\0';

    return s;
}


static int
reindex_link_cb(const char *key, const char *digest, time_t mtime, void *arg)
{
    (void) digest;
    (void) mtime;

    return reindex_add(arg, key);
}


/* a referrer of a manifest in storage, missing from the module's index */
static void
reindex_referrer(struct reindex_ctx *c, const char *name, const char *digest,
    const char *subject, const char *mt)
{
    char    *body, err[REG_ERR_MAX];
    size_t   len;
    int      status;

    if (store_referrer(name, subject, digest) == STORE_OK) {
        return;
    }

    if (!registry_enabled()) {
        log_info("reindex: %s@%s is missing from the referrers of %s; set "
                 "authd.registry_url to have it added", name, digest,
                 subject);
        return;
    }

    if (store_blob(digest, HB_MANIFEST_MAX, &body, &len) != STORE_OK) {
        return;
    }

    status = registry_put_manifest(c->user, name, digest, mt, body, len, err,
                                   sizeof(err));
    free(body);

    if (status != 201) {
        log_warnx("reindex: adding %s@%s to the referrers of %s failed: %s",
                  name, digest, subject, err);
        c->st->errors++;
        return;
    }

    log_info("reindex: %s@%s added to the referrers of %s", name, digest,
             subject);
}


static int
reindex_repo(const char *name, void *arg)
{
    struct reindex_ctx   *c = arg;
    struct reindex_list   revs, tags;
    struct dbc           *db = c->db;
    PGresult             *res;
    long long             repo_id, id, *n;
    char                  rid[32], *arr;
    int                   i, rc;
    long                  removed;

    memset(&revs, 0, sizeof(revs));
    memset(&tags, 0, sizeof(tags));
    res = NULL;

    repo_id = repo_find(db, name);
    if (repo_id < 0) {
        goto fail;
    }

    if (c->nseen == c->capseen) {
        c->capseen = c->capseen ? c->capseen * 2 : 64;
        n = realloc(c->seen, (size_t) c->capseen * sizeof(long long));
        if (n == NULL) {
            goto fail;
        }
        c->seen = n;
    }

    /* a row of a repository storage has is never removed below */
    if (repo_id > 0) {
        c->seen[c->nseen++] = repo_id;
    }

    if (store_revisions(name, reindex_link_cb, &revs) != 0
        || store_tags(name, reindex_link_cb, &tags) != 0)
    {
        log_warnx("reindex: cannot read repository %s in storage: %s", name,
                  store_error());
        c->st->errors++;
        reindex_free(&revs);
        reindex_free(&tags);
        return 0;
    }

    /* no manifest and no row: nothing to record */
    if (revs.n == 0 && repo_id == 0) {
        reindex_free(&revs);
        reindex_free(&tags);
        return 0;
    }

    if (db_begin(db) != 0) {
        goto fail;
    }

    repo_id = repo_ensure(db, name);
    if (repo_id < 0) {
        goto fail;
    }

    snprintf(rid, sizeof(rid), "%lld", repo_id);

    if (c->nseen == 0 || c->seen[c->nseen - 1] != repo_id) {
        c->seen[c->nseen++] = repo_id;
    }

    /* every manifest; then the indexes again, their children known */
    for (i = 0; i < revs.n; i++) {
        if (artifact_import(db, repo_id, name, revs.s[i], NULL, 1, &id) < 0) {
            goto fail;
        }
    }

    res = db_execv(db, "SELECT digest FROM artifact WHERE repository_id = $1"
                   " AND manifest_media_type IN ($2, $3)", 3, rid,
                   HB_MT_OCI_INDEX_S, HB_MT_DOCKER_LIST_S);
    if (res == NULL) {
        goto fail;
    }

    for (i = 0; i < PQntuples(res); i++) {
        if (artifact_import(db, repo_id, name, db_s(res, i, 0), NULL, 1, &id)
            < 0)
        {
            goto fail;
        }
    }
    PQclear(res);
    res = NULL;

    arr = reindex_array(&revs);
    if (arr == NULL) {
        goto fail;
    }
    removed = db_cmd(db, "DELETE FROM artifact WHERE repository_id = $1"
                     " AND NOT (digest = ANY($2::text[]))", 2, rid, arr);
    free(arr);
    if (removed < 0) {
        goto fail;
    }
    c->st->removed += removed;

    for (i = 0; i < tags.n; i++) {
        if (tag_sync(db, repo_id, name, tags.s[i], NULL, 0) != 0) {
            goto fail;
        }
    }

    arr = reindex_array(&tags);
    if (arr == NULL) {
        goto fail;
    }
    removed = db_cmd(db, "DELETE FROM tag WHERE repository_id = $1"
                     " AND NOT (name = ANY($2::text[]))", 2, rid, arr);
    free(arr);
    if (removed < 0) {
        goto fail;
    }

    res = db_execv(db, "SELECT (SELECT count(*) FROM artifact"
                   " WHERE repository_id = $1), (SELECT count(*) FROM tag"
                   " WHERE repository_id = $1)", 1, rid);
    if (res == NULL) {
        goto fail;
    }
    c->st->artifacts += db_ll(res, 0, 0);
    c->st->tags += db_ll(res, 0, 1);
    PQclear(res);

    /* referrers to put back in the module's index, after the commit */
    res = db_execv(db, "SELECT digest, subject_digest, manifest_media_type"
                   " FROM artifact WHERE repository_id = $1"
                   " AND subject_digest IS NOT NULL", 1, rid);
    if (res == NULL) {
        goto fail;
    }

    if (db_commit(db) != 0) {
        goto fail;
    }

    c->st->repositories++;

    for (i = 0; i < PQntuples(res); i++) {
        reindex_referrer(c, name, db_s(res, i, 0), db_s(res, i, 1),
                         db_s(res, i, 2));
    }
    PQclear(res);

    reindex_free(&revs);
    reindex_free(&tags);

    return 0;

fail:

    rc = db->err == DB_ERR_CONN ? -1 : 0;
    PQclear(res);
    db_rollback(db);
    reindex_free(&revs);
    reindex_free(&tags);

    log_warnx("reindex: repository %s failed", name);
    c->st->errors++;

    /* a lost database ends the run; anything else, the next repository */
    return rc;
}


/*
 * The whole run.  0, or -1 when storage is not configured or the
 * database went away (st says how far it got).
 */
int
reindex_run(struct dbc *db, const char *user, struct reindex_stats *st)
{
    struct reindex_ctx  c;
    char               *ids;
    long                removed;
    int                 rc;

    memset(st, 0, sizeof(*st));

    if (!store_enabled()) {
        log_warnx("reindex: authd.registry_storage is not set");
        return -1;
    }

    memset(&c, 0, sizeof(c));
    c.db = db;
    c.user = user;
    c.st = st;

    log_info("reindex: started by %s", user);

    meta_lock();

    rc = store_repositories(reindex_repo, &c);

    if (rc == 0) {
        /* repositories storage no longer has */
        ids = db_id_array(c.seen, c.nseen);
        removed = ids != NULL
                  ? db_cmd(db, "DELETE FROM repository WHERE NOT"
                           " (repository_id = ANY($1::integer[]))", 1, ids)
                  : -1;
        free(ids);

        if (removed < 0) {
            rc = -1;
        } else {
            st->removed += removed;
        }
    }

    meta_unlock();

    free(c.seen);

    /* the usage of every project with a limit, as rebuilt (quota.c) */
    if (rc == 0 && quota_sync_all() != 0) {
        log_warnx("reindex: the storage quota files could not be written");
    }

    if (audit_add(db, 0, user, "reindex", "system", "reindex",
                  rc == 0 ? "tables rebuilt from storage" : "failed",
                  rc == 0, "") != 0)
    {
        log_warnx("reindex: the audit log entry could not be written");
    }

    log_info("reindex: %s: %lld repositories, %lld artifacts, %lld tags, "
             "%lld rows removed, %lld errors", rc == 0 ? "done" : "failed",
             st->repositories, st->artifacts, st->tags, st->removed,
             st->errors);

    return rc;
}


static void
reindex_now(char *buf, size_t len)
{
    struct tm  tm;
    time_t     t;

    t = time(NULL);
    gmtime_r(&t, &tm);
    strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
}


static void *
reindex_thread(void *arg)
{
    struct reindex_stats  st;
    struct dbc           *db;
    int                   rc;

    (void) arg;

    db = db_get();
    rc = db != NULL ? reindex_run(db, rx.user, &st) : -1;
    db_put(db);

    if (db == NULL) {
        memset(&st, 0, sizeof(st));
    }

    pthread_mutex_lock(&rx_mtx);
    rx.running = 0;
    rx.st = st;
    snprintf(rx.status, sizeof(rx.status), "%s", rc == 0 ? "done"
                                                         : "failed");
    reindex_now(rx.end, sizeof(rx.end));
    pthread_mutex_unlock(&rx_mtx);

    return NULL;
}


static json_t *
reindex_json(void)
{
    return json_pack("{s:s, s:s?, s:s?, s:s, s:{s:I, s:I, s:I, s:I, s:I}}",
                     "status", rx.status,
                     "start_time", rx.start[0] ? rx.start : NULL,
                     "end_time", rx.end[0] ? rx.end : NULL,
                     "started_by", rx.user,
                     "stats",
                     "repositories", (json_int_t) rx.st.repositories,
                     "artifacts", (json_int_t) rx.st.artifacts,
                     "tags", (json_int_t) rx.st.tags,
                     "removed", (json_int_t) rx.st.removed,
                     "errors", (json_int_t) rx.st.errors);
}


/*
 * POST /system/reindex starts a run in the background (202; 409 while
 * one runs); GET /system/reindex: the last run.  System administrators.
 */
void
api_reindex(struct req *r)
{
    pthread_attr_t  attr;
    pthread_t       t;
    sigset_t        all, old;
    json_t         *j;
    int             rc;

    if (http_need_sysadmin(r) != 0) {
        return;
    }

    pthread_mutex_lock(&rx_mtx);

    if (r->method != M_POST) {
        j = reindex_json();
        pthread_mutex_unlock(&rx_mtx);
        http_json(r, 200, j);
        return;
    }

    if (!store_enabled()) {
        pthread_mutex_unlock(&rx_mtx);
        http_error(r, 503, "authd.registry_storage is not configured");
        return;
    }

    if (rx.running) {
        pthread_mutex_unlock(&rx_mtx);
        http_error(r, 409, "a reindex is running already");
        return;
    }

    rx.running = 1;
    snprintf(rx.status, sizeof(rx.status), "running");
    snprintf(rx.user, sizeof(rx.user), "%s", r->user.name);
    reindex_now(rx.start, sizeof(rx.start));
    rx.end[0] = '\0';
    memset(&rx.st, 0, sizeof(rx.st));

    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, &old);
    rc = pthread_create(&t, &attr, reindex_thread, NULL);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    pthread_attr_destroy(&attr);

    if (rc != 0) {
        rx.running = 0;
        snprintf(rx.status, sizeof(rx.status), "failed");
        pthread_mutex_unlock(&rx_mtx);
        http_error(r, 500, "cannot start the reindex");
        return;
    }

    j = reindex_json();
    pthread_mutex_unlock(&rx_mtx);

    http_header(r, "Location", "/api/v2.0/system/reindex");
    http_json(r, 202, j);
}
