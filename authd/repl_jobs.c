/*
 * authd: replication's runner (docs/replication.md).
 *
 * Everything a run is lives in PostgreSQL: an execution, then one task
 * per tag to copy (or reference to delete).  A bounded pool of threads
 * (replication.max_parallel) does the work, so the API threads never
 * wait on a copy:
 *
 *  - an execution not yet enumerated is listed (pull-based: the remote,
 *    through repl_list_repositories() and repl_list_tags(); push-based:
 *    this instance's tags, from the database), filtered, its destination
 *    names rewritten, and its tasks written in one transaction;
 *  - a Pending task whose next_try has come is claimed (FOR UPDATE SKIP
 *    LOCKED), copied with repl_copy() while the API reads its progress
 *    from the worker's slot, and written back: Succeed; Pending again
 *    with a backoff after REPL_ERROR (three tries in all); Failed with
 *    the data plane's sentence after REPL_FATAL or the last try;
 *    Stopped when the execution was stopped;
 *  - when an execution has no task left to run it ends: Stopped, Failed
 *    (status_text says how many and the first reason) or Succeed.
 *
 * A scheduler thread starts the runs of scheduled policies (cron, to the
 * minute) and turns the journal's events (replication_event, written in
 * the journal's transaction) into event-based runs; an event stays until
 * the task carrying it succeeded, so what failed while the destination
 * was down is offered again, with a growing delay, until it goes through.
 *
 * At start, tasks left InProgress by an authd that died are Pending
 * again, and executions not enumerated are enumerated again: a killed
 * run resumes, and the data plane sends nothing the destination has.
 *
 * This instance is reached through its own nginx (authd.registry_url,
 * else external_url, else http://hostname) with a token authd signs for
 * exactly the repository of the task (registry_token()).
 */

#include <errno.h>
#include <pthread.h>
#include <regex.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sodium.h>

#include "authd.h"


#define REPL_TRIES          3           /* per task, REPL_ERROR retried */
#define REPL_EVENT_BATCH    1000        /* events turned into one run */
#define REPL_EVENT_MAX_WAIT 600         /* seconds between offers, at most */
#define REPL_LOG_MAX        (256 * 1024)
#define REPL_WORKERS_MAX    64
#define REPL_IDLE_WAIT      30          /* seconds an idle worker sleeps
                                           unless woken */
#define REPL_USER           "replication"
#define REPL_TOKEN_TTL      (6 * 3600)  /* the local end's token: one try
                                           of one copy, however slow */

struct slot {
    long long             task_id;
    long long             exec_id;
    struct repl_progress  prog;
    char                 *log;
    size_t                len;
};

struct filter {
    int         kind;                   /* 'n'ame, 't'ag, 'r'esource */
    int         exclude;
    int         compiled;
    regex_t     re;
    char        value[32];              /* resource */
    char        pattern[256];           /* name, tag: as given, "" if longer */
};

struct filters {
    struct filter   f[16];
    int             n;
};

struct cand {
    char    repo[HB_NAME_MAX + 1];
    char    ref[HB_TAG_MAX + HB_DIGEST_MAX + 2];
    char    digest[HB_DIGEST_MAX + 1];  /* push-based: the local one, when
                                           the tag may be looked up in bulk */
    int     there;                      /* the destination has it already */
};

struct cands {
    struct cand  *v;
    size_t        n, cap;
};

struct pdesc {
    long long   id;
    long long   src_id;
    long long   dest_id;
    char        ns[256];
    int         replace_count;
    char       *filters;
    int         override;
    int         speed;
    int         copy_by_chunk;
    int         deletion;
};

static pthread_mutex_t   repl_mtx = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t    repl_cond = PTHREAD_COND_INITIALIZER;
static unsigned long     repl_gen;
static int               repl_quit;
static int               repl_nworkers;
static pthread_t         repl_threads[REPL_WORKERS_MAX + 1];
static int               repl_nthreads;
static struct slot       repl_slots[REPL_WORKERS_MAX];
static long long         repl_enumerating[REPL_WORKERS_MAX];
static char              repl_url[1100];


/* ------------------------------------------------------------- cron */

/* Harbor's six fields (seconds first), or five: seconds are 0 */
static int
cron_norm(const char *cron, char *out, size_t len)
{
    char  f[7][128];
    int   n;

    n = sscanf(cron, "%127s %127s %127s %127s %127s %127s %127s", f[0], f[1],
               f[2], f[3], f[4], f[5], f[6]);
    if (n == 5) {
        return snprintf(out, len, "0 %s", cron) < (int) len ? 0 : -1;
    }
    if (n == 6) {
        return snprintf(out, len, "%s", cron) < (int) len ? 0 : -1;
    }

    return -1;
}


int
repl_cron_valid(const char *cron)
{
    char       c[300];
    struct tm  tm;
    time_t     now;

    now = time(NULL);
    gmtime_r(&now, &tm);

    return cron_norm(cron, c, sizeof(c)) == 0 && cron_match(c, &tm) >= 0;
}


/* does cron (Harbor's five or six fields) fire in the minute of now? */
int
repl_cron_fires(const char *cron, time_t now)
{
    char       c[300];
    struct tm  tm;

    gmtime_r(&now, &tm);

    return cron_norm(cron, c, sizeof(c)) == 0 ? cron_match(c, &tm) : -1;
}


/* ------------------------------------------------ destination names */

/*
 * Harbor's rule (dest_namespace_replace_count), for a/b/c/image and
 * namespace n: -1 n/image, 0 n/a/b/c/image, 1 n/b/c/image, 2 n/c/image,
 * 3 n/image, 4 an error.  No namespace: the name as it is.
 */
int
repl_dest_repo(const char *repo, const char *ns, int count, char *out,
    size_t len, char *err, size_t errlen)
{
    const char  *last, *p;
    int          comps, i, n;

    if (ns == NULL || ns[0] == '\0') {
        n = snprintf(out, len, "%s", repo);
        goto check;
    }

    last = strrchr(repo, '/');
    last = last != NULL ? last + 1 : repo;

    comps = 0;
    for (p = repo; p < last; p++) {
        comps += *p == '/';
    }

    if (count < 0) {
        n = snprintf(out, len, "%s/%s", ns, last);
        goto check;
    }

    if (count > comps) {
        snprintf(err, errlen, "the source repository \"%s\" has %d path"
                 " component(s) before its name, fewer than the %d the"
                 " policy's dest_namespace_replace_count replaces", repo,
                 comps, count);
        return -1;
    }

    p = repo;
    for (i = 0; i < count; i++) {
        p = strchr(p, '/') + 1;
    }
    n = snprintf(out, len, "%s/%s", ns, p);

check:

    if (n < 0 || (size_t) n >= len
        || !hb_name_valid((const unsigned char *) out, strlen(out)))
    {
        snprintf(err, errlen, "\"%s\" rewritten for the destination is not"
                 " a valid repository name", repo);
        return -1;
    }

    return 0;
}


const char *
repl_local_url(void)
{
    return repl_url;
}


/* ----------------------------------------------------------- filters */

static void
filters_free(struct filters *fs)
{
    int  i;

    for (i = 0; i < fs->n; i++) {
        if (fs->f[i].compiled) {
            regfree(&fs->f[i].re);
        }
    }
    fs->n = 0;
}


static int
filters_load(const char *text, struct filters *fs)
{
    json_t      *a, *o;
    const char  *type, *value, *deco;
    size_t       i;
    struct filter *f;

    memset(fs, 0, sizeof(*fs));
    a = json_loads(text, 0, NULL);
    if (!json_is_array(a)) {
        json_decref(a);
        return -1;
    }

    json_array_foreach(a, i, o) {
        if (fs->n == (int) nitems(fs->f)) {
            break;
        }
        type = json_string_value(json_object_get(o, "type"));
        value = json_string_value(json_object_get(o, "value"));
        deco = json_string_value(json_object_get(o, "decoration"));
        if (type == NULL || value == NULL || value[0] == '\0') {
            continue;
        }

        f = &fs->f[fs->n];
        memset(f, 0, sizeof(*f));
        f->kind = type[0];
        f->exclude = deco != NULL && strcmp(deco, "excludes") == 0;

        if (strlen(value) < sizeof(f->pattern)) {
            memcpy(f->pattern, value, strlen(value) + 1);
        }

        if (f->kind == 'r') {
            snprintf(f->value, sizeof(f->value), "%s", value);
        } else if (hb_glob_compile(value, &f->re) == 0) {
            f->compiled = 1;
        } else {
            json_decref(a);
            filters_free(fs);
            return -1;
        }
        fs->n++;
    }

    json_decref(a);
    return 0;
}


/* what = 'n' or 't': does s pass every filter of that kind? */
static int
filters_pass(const struct filters *fs, int what, const char *s)
{
    int  i, m;

    for (i = 0; i < fs->n; i++) {
        if (fs->f[i].kind != what || !fs->f[i].compiled) {
            continue;
        }
        m = regexec(&fs->f[i].re, s, 0, NULL, 0) == 0;
        if (m == fs->f[i].exclude) {
            return 0;
        }
    }

    return 1;
}


/* an artifact's type against the resource filter: image or anything */
static int
filters_resource(const struct filters *fs, const char *type)
{
    int  i, image;

    for (i = 0; i < fs->n; i++) {
        if (fs->f[i].kind != 'r' || strcmp(fs->f[i].value, "image") != 0) {
            continue;
        }
        image = strcmp(type, "IMAGE") == 0;
        if (image == fs->f[i].exclude) {
            return 0;
        }
    }

    return 1;
}


/* ------------------------------------------------------ the database */

/* a connection, waiting for one while authd runs; NULL when quitting */
static struct dbc *
repl_db(void)
{
    struct dbc  *db;

    for ( ;; ) {
        db = db_get();
        if (db != NULL) {
            return db;
        }
        pthread_mutex_lock(&repl_mtx);
        if (repl_quit) {
            pthread_mutex_unlock(&repl_mtx);
            return NULL;
        }
        pthread_mutex_unlock(&repl_mtx);
        sleep(1);
    }
}


void
repl_jobs_wake(void)
{
    pthread_mutex_lock(&repl_mtx);
    repl_gen++;
    pthread_cond_broadcast(&repl_cond);
    pthread_mutex_unlock(&repl_mtx);
}


static int
pdesc_load(struct dbc *db, const char *sql, const char *id, struct pdesc *pd)
{
    PGresult  *res;

    memset(pd, 0, sizeof(*pd));

    res = db_execv(db, sql, 1, id);
    if (res == NULL) {
        return -1;
    }
    if (PQntuples(res) == 0) {
        PQclear(res);
        return 1;
    }

    pd->id = db_ll(res, 0, 0);
    pd->src_id = db_ll(res, 0, 1);
    pd->dest_id = db_ll(res, 0, 2);
    snprintf(pd->ns, sizeof(pd->ns), "%s", db_s(res, 0, 3));
    pd->replace_count = (int) db_ll(res, 0, 4);
    pd->filters = strdup(db_s(res, 0, 5));
    pd->override = db_b(res, 0, 6);
    pd->speed = (int) db_ll(res, 0, 7);
    pd->copy_by_chunk = db_b(res, 0, 8);
    pd->deletion = db_b(res, 0, 9);
    PQclear(res);

    return pd->filters != NULL ? 0 : -1;
}

#define PDESC_COLS                                                          \
    "p.id, COALESCE(p.src_registry_id, 0), COALESCE(p.dest_registry_id, 0),"\
    " p.dest_namespace, p.dest_namespace_replace_count, p.filters,"        \
    " p.override, p.speed, p.copy_by_chunk, p.replicate_deletion"


/* an execution whose tasks have all ended: its final status */
static const char  exec_end_sql[] =
    "UPDATE replication_execution e SET"
    " status = CASE WHEN e.stop_requested THEN 'Stopped'"
    "  WHEN e.status_text <> '' OR EXISTS (SELECT 1 FROM"
    "  replication_task t WHERE t.execution_id = e.id"
    "  AND t.status = 'Failed') THEN 'Failed' ELSE 'Succeed' END,"
    " status_text = CASE WHEN e.status_text <> '' THEN e.status_text"
    "  WHEN e.stop_requested THEN 'stopped'"
    "  ELSE COALESCE((SELECT count(*) || ' of ' || (SELECT count(*)"
    "  FROM replication_task t2 WHERE t2.execution_id = e.id)"
    "  || ' task(s) failed; the first: ' || min(t.src_repo || ':'"
    "  || t.src_ref || ': ' || t.error) FROM replication_task t"
    "  WHERE t.execution_id = e.id AND t.status = 'Failed'"
    "  HAVING count(*) > 0), '') END,"
    " end_time = now()"
    " WHERE e.id = $1::integer AND e.status = 'InProgress'"
    " AND e.enumerated AND NOT EXISTS (SELECT 1 FROM replication_task"
    " t WHERE t.execution_id = e.id"
    " AND t.status IN ('Pending', 'InProgress'))"
    " RETURNING e.status";


/*
 * Harbor's REPLICATION event of an execution that has ended, for each
 * project of this instance its tasks touched (the source's of a
 * push-based policy, the destination's of a pull-based one), so that
 * those projects' webhook policies hear of it.  In the caller's
 * transaction.  0, or -1 on a database error.
 */
static int
exec_webhook(struct dbc *db, const char *ids)
{
    PGresult    *res, *pr;
    json_t      *local, *remote, *data;
    const char  *trig, *op;
    int          i, push, rc;

    res = db_execv(db, "SELECT e.status, e.trigger,"
                   " extract(epoch FROM e.start_time)::bigint, p.name,"
                   " p.src_registry_id IS NULL, p.override, r.name, r.type,"
                   " r.url, p.dest_namespace,"
                   " (SELECT count(*) FROM replication_task t"
                   "  WHERE t.execution_id = e.id),"
                   " (SELECT count(*) FROM replication_task t"
                   "  WHERE t.execution_id = e.id AND t.status = 'Succeed')"
                   " FROM replication_execution e"
                   " JOIN replication_policy p ON p.id = e.policy_id"
                   " JOIN replication_registry r ON r.id ="
                   "  COALESCE(p.src_registry_id, p.dest_registry_id)"
                   " WHERE e.id = $1::integer", 1, ids);
    if (res == NULL) {
        return -1;
    }

    if (PQntuples(res) != 1) {
        PQclear(res);
        return 0;
    }

    push = db_b(res, 0, 4);

    pr = db_execv(db, "SELECT DISTINCT pj.project_id, pj.name"
                  " FROM replication_task t JOIN projects pj"
                  " ON pj.name = split_part(CASE WHEN $2::boolean"
                  "  THEN t.src_repo ELSE t.dst_repo END, '/', 1)"
                  "  AND NOT pj.deleted"
                  " WHERE t.execution_id = $1::integer ORDER BY 1", 2, ids,
                  push ? "true" : "false");
    if (pr == NULL) {
        PQclear(res);
        return -1;
    }

    /* Harbor's names of the triggers, which it also gives as operator */
    trig = db_s(res, 0, 1);
    op = strcmp(trig, "scheduled") == 0 ? "SCHEDULE"
         : strcmp(trig, "event_based") == 0 ? "EVENT_BASED" : "MANUAL";
    rc = 0;

    for (i = 0; i < PQntuples(pr) && rc == 0; i++) {
        local = json_pack("{s:s, s:s, s:s, s:s}",
                          "registry_name", "Local",
                          "registry_type", "harbor",
                          "endpoint", repl_url,
                          "namespace", db_s(pr, i, 1));
        remote = json_pack("{s:s, s:s, s:s, s:s}",
                           "registry_name", db_s(res, 0, 6),
                           "registry_type", db_s(res, 0, 7),
                           "endpoint", db_s(res, 0, 8),
                           "namespace", push && db_s(res, 0, 9)[0] != '\0'
                                        ? db_s(res, 0, 9) : db_s(pr, i, 1));
        data = json_pack("{s:{s:I, s:s, s:s, s:s, s:b, s:s, s:I, s:I, s:I,"
                         " s:o, s:o}}", "replication",
                         "execution_id", (json_int_t) atoll(ids),
                         "policy_name", db_s(res, 0, 3),
                         "job_status", db_s(res, 0, 0),
                         "harbor_hostname", webhook_host(),
                         "override_mode", db_b(res, 0, 5),
                         "trigger_type", op,
                         "execution_timestamp",
                             (json_int_t) db_ll(res, 0, 2),
                         "total", (json_int_t) db_ll(res, 0, 10),
                         "succeed", (json_int_t) db_ll(res, 0, 11),
                         "src_resource", push ? local : remote,
                         "dest_resource", push ? remote : local);
        rc = data == NULL ? -1
             : webhook_event(db, db_ll(pr, i, 0), "REPLICATION", data, op);
    }

    PQclear(pr);
    PQclear(res);

    return rc;
}


/* the end of an execution that has nothing left to run */
static void
exec_finish(struct dbc *db, long long id)
{
    PGresult  *res;
    char       ids[32];
    int        ended;

    snprintf(ids, sizeof(ids), "%lld", id);

    if (db_begin(db) != 0) {
        return;
    }

    res = db_execv(db, exec_end_sql, 1, ids);
    ended = res != NULL && PQntuples(res) == 1;
    PQclear(res);

    /* the REPLICATION webhook, once, in the transaction that ended it */
    if (ended && exec_webhook(db, ids) != 0) {
        db_rollback(db);
        return;
    }

    if (db_commit(db) != 0) {
        db_rollback(db);
    }
}


long long
repl_execution_new(struct dbc *db, long long policy_id, const char *trigger)
{
    PGresult   *res;
    char        ids[32];
    long long   id;

    snprintf(ids, sizeof(ids), "%lld", policy_id);
    res = db_execv(db, "INSERT INTO replication_execution (policy_id,"
                   " trigger) VALUES ($1::integer, $2) RETURNING id", 2, ids,
                   trigger);
    if (res == NULL) {
        return -1;
    }
    id = db_ll(res, 0, 0);
    PQclear(res);

    log_info("replication: execution %lld of policy %lld (%s)", id,
             policy_id, trigger);
    repl_jobs_wake();

    return id;
}


int
repl_execution_stop(struct dbc *db, long long id)
{
    char  ids[32];
    int   i;

    snprintf(ids, sizeof(ids), "%lld", id);

    if (db_cmd(db, "UPDATE replication_execution SET stop_requested = true"
               " WHERE id = $1::integer AND status = 'InProgress'", 1, ids)
        < 0
        || db_cmd(db, "UPDATE replication_event SET task_id = NULL,"
                  " next_try = now() + interval '1 minute' WHERE task_id IN"
                  " (SELECT id FROM replication_task WHERE execution_id ="
                  " $1::integer AND status = 'Pending')", 1, ids) < 0
        || db_cmd(db, "UPDATE replication_task SET status = 'Stopped',"
                  " end_time = now() WHERE execution_id = $1::integer"
                  " AND status = 'Pending'", 1, ids) < 0)
    {
        return -1;
    }

    /* the copies running now give up at their next block */
    pthread_mutex_lock(&repl_mtx);
    for (i = 0; i < repl_nworkers; i++) {
        if (repl_slots[i].exec_id == id) {
            repl_slots[i].prog.stop = 1;
        }
    }
    pthread_mutex_unlock(&repl_mtx);

    exec_finish(db, id);

    return 0;
}


int
repl_task_progress(long long task_id, int64_t *done, int64_t *total)
{
    int  i, found;

    found = 0;
    pthread_mutex_lock(&repl_mtx);
    for (i = 0; i < repl_nworkers; i++) {
        if (repl_slots[i].task_id == task_id) {
            *done = repl_slots[i].prog.bytes_done;
            *total = repl_slots[i].prog.bytes_total;
            found = 1;
            break;
        }
    }
    pthread_mutex_unlock(&repl_mtx);

    return found;
}


/* the log lines of a task copying now, malloc'ed; NULL if it is not */
char *
repl_task_log(long long task_id)
{
    char  *log;
    int    i;

    log = NULL;
    pthread_mutex_lock(&repl_mtx);
    for (i = 0; i < repl_nworkers; i++) {
        if (repl_slots[i].task_id == task_id) {
            log = strdup(repl_slots[i].log != NULL ? repl_slots[i].log : "");
            break;
        }
    }
    pthread_mutex_unlock(&repl_mtx);

    return log;
}


/*
 * The journal's push or delete, in the journal's transaction: one row
 * per event-based policy whose source is this instance (deletes only
 * for those that replicate deletion).  Filters apply when the events
 * become a run.
 */
int
repl_journal_event(struct dbc *db, int push, const char *repo,
    const char *tag, const char *digest)
{
    long  n;

    n = db_cmd(db, "INSERT INTO replication_event (policy_id, operation,"
               " repository, reference) SELECT id, $1, $2, $3"
               " FROM replication_policy WHERE enabled"
               " AND trigger_type = 'event_based' AND src_registry_id IS NULL"
               " AND ($4::boolean OR replicate_deletion)", 4,
               push ? "copy" : "deletion", repo,
               tag != NULL && tag[0] ? tag : digest, push ? "t" : "f");
    if (n < 0) {
        return -1;
    }

    if (n > 0) {
        repl_jobs_wake();
    }

    return 0;
}


/* ------------------------------------------------------- enumeration */

static int
cands_add(struct cands *c, const char *repo, const char *ref)
{
    struct cand  *v;

    if (c->n == c->cap) {
        v = realloc(c->v, (c->cap * 2 + 64) * sizeof(*v));
        if (v == NULL) {
            return -1;
        }
        c->v = v;
        c->cap = c->cap * 2 + 64;
    }

    snprintf(c->v[c->n].repo, sizeof(c->v[c->n].repo), "%s", repo);
    snprintf(c->v[c->n].ref, sizeof(c->v[c->n].ref), "%s", ref);
    c->v[c->n].digest[0] = '\0';
    c->v[c->n].there = 0;
    c->n++;

    return 0;
}


struct walk {
    const struct filters      *fs;
    const struct repl_endpoint *ep;
    struct cands               repos;
    struct cands              *out;
    const char                *repo;
    int                        failed;
};


static int
walk_repo(void *arg, const char *repo)
{
    struct walk  *w = arg;

    if (!filters_pass(w->fs, 'n', repo)) {
        return 0;
    }
    if (cands_add(&w->repos, repo, "") != 0) {
        w->failed = 1;
        return 1;
    }
    return 0;
}


static int
walk_tag(void *arg, const char *tag)
{
    struct walk  *w = arg;

    if (!filters_pass(w->fs, 't', tag)) {
        return 0;
    }
    if (cands_add(w->out, w->repo, tag) != 0) {
        w->failed = 1;
        return 1;
    }
    return 0;
}


/*
 * The projects a pull from a harbor registry looks in, as Harbor's adapter
 * narrows its listing: from the first name filter that matches (not
 * excludes) and starts with a literal project ("p/...") or literal
 * alternatives ("{a,b}/...").  Names go into buf, pointers into names (at
 * most max - 1, NULL-terminated); names[0] NULL: every project.
 */
static void
filters_projects(const struct filters *fs, char *buf, size_t len,
    const char **names, size_t max)
{
    const char  *p, *slash;
    size_t       n, k, i;
    int          alt;

    names[0] = NULL;

    for (i = 0; i < (size_t) fs->n; i++) {
        if (fs->f[i].kind == 'n' && !fs->f[i].exclude
            && fs->f[i].pattern[0] != '\0')
        {
            break;
        }
    }

    if (i == (size_t) fs->n) {
        return;
    }

    p = fs->f[i].pattern;
    slash = strchr(p, '/');
    if (slash == NULL || slash == p || (size_t) (slash - p) >= len) {
        return;
    }

    alt = p[0] == '{' && slash[-1] == '}';
    if (alt) {
        p++;
        slash--;
    }

    /* a project name: [a-z0-9._-]; ',' only between alternatives */
    for (k = 0, n = 0; p + k < slash; k++) {
        if (p[k] == ',' && alt) {
            buf[k] = '\0';
            continue;
        }
        if (!((p[k] >= 'a' && p[k] <= 'z') || (p[k] >= '0' && p[k] <= '9')
              || p[k] == '.' || p[k] == '_' || p[k] == '-'))
        {
            return;
        }
        buf[k] = p[k];
    }
    buf[k] = '\0';

    for (i = 0; i <= k; i += strlen(buf + i) + 1) {
        if (buf[i] == '\0' || n + 1 == max) {
            names[0] = NULL;             /* an empty alternative, or too
                                            many of them: all */
            return;
        }
        names[n++] = buf + i;
    }

    names[n] = NULL;
}


/* pull-based: the remote's repositories and tags */
static int
list_remote(struct dbc *db, const struct pdesc *pd,
    const struct filters *fs, struct cands *out, char *err, size_t errlen)
{
    struct remote         rm;
    struct repl_endpoint  ep;
    struct walk           w;
    const char           *projects[32];
    char                  pbuf[256];
    size_t                i;
    int                   rc;

    if (remote_load(db, pd->src_id, &rm, err, errlen) != 0) {
        return -1;
    }
    remote_endpoint(&rm, &ep);

    memset(&w, 0, sizeof(w));
    w.fs = fs;
    w.ep = &ep;
    w.out = out;

    filters_projects(fs, pbuf, sizeof(pbuf), projects, nitems(projects));

    rc = repl_list_repositories(&ep, ep.type == REPL_TYPE_HARBOR ? projects
                                : NULL, walk_repo, &w, err, errlen);
    for (i = 0; rc == REPL_OK && !w.failed && i < w.repos.n; i++) {
        w.repo = w.repos.v[i].repo;
        rc = repl_list_tags(&ep, w.repo, walk_tag, &w, err, errlen);
    }

    if (w.failed && rc == REPL_OK) {
        snprintf(err, errlen, "out of memory listing the source");
        rc = REPL_FATAL;
    }

    free(w.repos.v);
    remote_free(&rm);

    return rc == REPL_OK ? 0 : -1;
}


/* push-based: this instance's tags, from the database */
static int
list_local(struct dbc *db, const struct filters *fs, struct cands *out,
    char *err, size_t errlen)
{
    PGresult  *res;
    int        i;

    /*
     * The digest of a single manifest that nothing refers to: such a tag
     * may be found in place at the destination when listing (an index, or
     * an artifact with referrers, goes through its task, which follows
     * them).
     */
    res = db_execv(db, "SELECT r.name, t.name, a.type, CASE WHEN"
                   " a.manifest_media_type NOT LIKE '%index%'"
                   " AND a.manifest_media_type NOT LIKE '%list%'"
                   " AND NOT EXISTS (SELECT 1 FROM artifact s"
                   "  WHERE s.repository_id = a.repository_id"
                   "  AND s.subject_digest = a.digest)"
                   " THEN a.digest ELSE '' END FROM tag t"
                   " JOIN repository r ON r.repository_id = t.repository_id"
                   " JOIN artifact a ON a.id = t.artifact_id"
                   " ORDER BY r.name, t.name", 0);
    if (res == NULL) {
        snprintf(err, errlen, "the database is unavailable");
        return -1;
    }

    for (i = 0; i < PQntuples(res); i++) {
        if (filters_pass(fs, 'n', db_s(res, i, 0))
            && filters_pass(fs, 't', db_s(res, i, 1))
            && filters_resource(fs, db_s(res, i, 2))
            && cands_add(out, db_s(res, i, 0), db_s(res, i, 1)) != 0)
        {
            PQclear(res);
            snprintf(err, errlen, "out of memory listing the source");
            return -1;
        }
        if (out->n > 0 && strcmp(out->v[out->n - 1].repo, db_s(res, i, 0))
                          == 0
            && strcmp(out->v[out->n - 1].ref, db_s(res, i, 1)) == 0)
        {
            snprintf(out->v[out->n - 1].digest,
                     sizeof(out->v[out->n - 1].digest), "%s",
                     db_s(res, i, 3));
        }
    }
    PQclear(res);

    return 0;
}


static void
there_cb(void *arg, size_t i, const char *digest)
{
    struct cand  *v = arg;

    v[i].there = strcmp(v[i].digest, digest) == 0;
}


/*
 * Push-based: which tags the destination has already, with the same
 * digest, asked in bulk (one HEAD each over connections kept open, one
 * token for many repositories) rather than in a task each, so that a run
 * with nothing new costs little.  What cannot be asked is left to the
 * tasks, which say why.
 */
static void
cands_there(struct dbc *db, const struct pdesc *pd, struct cands *c)
{
    struct remote         rm;
    struct repl_endpoint  ep;
    const char          **repos, **tags;
    char                (*dst)[HB_NAME_MAX + 1], err[REPL_ERR_MAX];
    size_t                i;

    if (c->n == 0 || remote_load(db, pd->dest_id, &rm, err, sizeof(err))
                     != 0)
    {
        return;
    }
    remote_endpoint(&rm, &ep);

    repos = calloc(c->n, sizeof(*repos));
    tags = calloc(c->n, sizeof(*tags));
    dst = calloc(c->n, sizeof(*dst));

    if (repos != NULL && tags != NULL && dst != NULL) {
        for (i = 0; i < c->n; i++) {
            /* an artifact its task must follow, or a name the
             * destination cannot take: not asked */
            if (c->v[i].digest[0] == '\0'
                || repl_dest_repo(c->v[i].repo, pd->ns, pd->replace_count,
                                  dst[i], sizeof(dst[i]), err, sizeof(err))
                   != 0)
            {
                dst[i][0] = '\0';
            }
            repos[i] = dst[i];
            tags[i] = dst[i][0] != '\0' ? c->v[i].ref : "";
        }

        if (repl_tag_digests(&ep, repos, tags, c->n, there_cb, c->v, err,
                             sizeof(err)) != REPL_OK)
        {
            /* unreachable or refusing: the tasks try, and say why */
            log_info("replication: %s not looked up when listing: %s",
                     rm.url, err);
        }
    }

    free(repos);
    free(tags);
    free(dst);
    remote_free(&rm);
}


/*
 * A task row as JSON: a name the destination cannot take is a task
 * Failed; there, the digest the destination has already (found when
 * listing), a task Succeed.
 */
static json_t *
task_row(const struct pdesc *pd, const char *repo, const char *ref,
    const char *there)
{
    char       dst[HB_NAME_MAX + 1], err[512], line[1024], ts[32];
    struct tm  tm;
    time_t     now;
    int        bad;

    bad = repl_dest_repo(repo, pd->ns, pd->replace_count, dst, sizeof(dst),
                         err, sizeof(err)) != 0;

    line[0] = '\0';
    if (!bad && there != NULL) {
        now = time(NULL);
        gmtime_r(&now, &tm);
        strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%SZ", &tm);
        snprintf(line, sizeof(line), "%s %s:%s at the destination is"
                 " already %s: nothing to copy (seen when listing)\n", ts,
                 dst, ref, there);
    }

    return json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:b}",
                     "src_repo", repo, "src_ref", ref,
                     "dst_repo", bad ? repo : dst,
                     "status", bad ? "Failed" : line[0] ? "Succeed"
                                                        : "Pending",
                     "error", bad ? err : "",
                     "log", bad ? err : line,
                     "ended", bad || line[0]);
}


/* the rows (a JSON array of task_row's) in one statement; -1 on error */
static int
task_insert(struct dbc *db, const char *ids, const char *op, json_t *rows,
    long long *id)
{
    PGresult  *res;
    char      *text;

    text = json_dumps(rows, JSON_COMPACT);
    if (text == NULL) {
        return -1;
    }

    res = db_execv(db, "INSERT INTO replication_task (execution_id,"
                   " operation, src_repo, src_ref, dst_repo, dst_ref, status,"
                   " error, log, end_time) SELECT $1::integer, $2,"
                   " x.src_repo, x.src_ref, x.dst_repo, x.src_ref, x.status,"
                   " x.error, x.log, CASE WHEN x.ended THEN now() END"
                   " FROM json_to_recordset($3::json) AS x(src_repo text,"
                   " src_ref text, dst_repo text, status text, error text,"
                   " log text, ended boolean) RETURNING id", 3, ids, op,
                   text);
    free(text);
    if (res == NULL) {
        return -1;
    }

    if (id != NULL) {
        *id = PQntuples(res) > 0 ? db_ll(res, 0, 0) : -1;
    }
    PQclear(res);

    return 0;
}


static long long
task_add(struct dbc *db, const char *ids, const struct pdesc *pd,
    const char *op, const char *repo, const char *ref)
{
    json_t     *rows;
    long long   id;

    rows = json_array();
    if (rows == NULL
        || json_array_append_new(rows, task_row(pd, repo, ref, NULL)) != 0
        || task_insert(db, ids, op, rows, &id) != 0)
    {
        id = -1;
    }
    json_decref(rows);

    return id;
}


static void
enumerate(struct dbc *db, long long exec_id)
{
    struct pdesc    pd;
    struct filters  fs;
    struct cands    c;
    json_t         *rows;
    char            ids[32], err[REPL_ERR_MAX];
    size_t          i;
    int             rc;

    snprintf(ids, sizeof(ids), "%lld", exec_id);
    memset(&c, 0, sizeof(c));
    memset(&fs, 0, sizeof(fs));
    err[0] = '\0';

    rc = pdesc_load(db, "SELECT " PDESC_COLS " FROM replication_execution e"
                    " JOIN replication_policy p ON p.id = e.policy_id"
                    " WHERE e.id = $1::integer", ids, &pd);
    if (rc != 0) {
        free(pd.filters);
        return;
    }

    if (filters_load(pd.filters, &fs) != 0) {
        snprintf(err, sizeof(err), "the policy's filters do not compile");
        rc = -1;
    } else if (pd.src_id != 0) {
        rc = list_remote(db, &pd, &fs, &c, err, sizeof(err));
    } else {
        rc = list_local(db, &fs, &c, err, sizeof(err));
        if (rc == 0) {
            cands_there(db, &pd, &c);
        }
    }

    if (rc != 0) {
        log_warnx("replication: execution %lld: listing the source failed:"
                  " %s", exec_id, err);
        db_cmd(db, "UPDATE replication_execution SET enumerated = true,"
               " status_text = $2 WHERE id = $1::integer", 2, ids,
               err[0] ? err : "listing the source failed");
        goto done;
    }

    if (db_begin(db) != 0) {
        goto done;
    }

    /*
     * Another worker that read the execution as not enumerated, before
     * this one wrote its tasks, may take it when this one has let it go:
     * the row, locked, says whether the tasks are written already.
     */
    rc = (int) db_cmd(db, "UPDATE replication_execution SET enumerated = true"
                      " WHERE id = $1::integer AND NOT enumerated", 1, ids);
    if (rc <= 0) {
        db_rollback(db);
        goto done;
    }

    /* every task in one statement: a run of many tags, mostly in place
     * already, is not a round trip a tag */
    rows = json_array();
    for (i = 0; rows != NULL && i < c.n; i++) {
        if (json_array_append_new(rows, task_row(&pd, c.v[i].repo,
                                                 c.v[i].ref, c.v[i].there
                                                 ? c.v[i].digest : NULL))
            != 0)
        {
            json_decref(rows);
            rows = NULL;
        }
    }

    if (rows == NULL || (c.n > 0 && task_insert(db, ids, "copy", rows, NULL)
                                    != 0))
    {
        json_decref(rows);
        db_rollback(db);
        goto done;
    }
    json_decref(rows);

    if (db_commit(db) != 0) {
        db_rollback(db);
        goto done;
    }

    log_info("replication: execution %lld: %zu task(s)", exec_id, c.n);

done:

    exec_finish(db, exec_id);
    filters_free(&fs);
    free(c.v);
    free(pd.filters);
    repl_jobs_wake();
}


/* --------------------------------------------------------------- tasks */

static void
slot_log(void *arg, const char *line)
{
    struct slot  *s = arg;
    char          ts[32], *p;
    struct tm     tm;
    time_t        now;
    size_t        n;

    now = time(NULL);
    gmtime_r(&now, &tm);
    strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%SZ ", &tm);

    n = strlen(ts) + strlen(line) + 2;

    pthread_mutex_lock(&repl_mtx);
    if (s->len + n < REPL_LOG_MAX) {
        p = realloc(s->log, s->len + n + 1);
        if (p != NULL) {
            s->log = p;
            s->len += (size_t) snprintf(s->log + s->len, n + 1, "%s%s\n", ts,
                                        line);
        }
    }
    pthread_mutex_unlock(&repl_mtx);
}


struct task {
    long long   id;
    long long   exec_id;
    char        ids[32];
    char        execs[32];
    char        op[16];
    char        src_repo[HB_NAME_MAX + 1];
    char        src_ref[HB_TAG_MAX + HB_DIGEST_MAX + 2];
    char        dst_repo[HB_NAME_MAX + 1];
    char        dst_ref[HB_TAG_MAX + HB_DIGEST_MAX + 2];
    int         attempts;
};


static int
task_claim(struct dbc *db, struct task *t)
{
    PGresult  *res;

    res = db_execv(db, "UPDATE replication_task SET status = 'InProgress',"
                   " attempts = attempts + 1,"
                   " start_time = COALESCE(start_time, now())"
                   " WHERE id = (SELECT id FROM replication_task"
                   " WHERE status = 'Pending' AND next_try <= now()"
                   " ORDER BY next_try, id LIMIT 1 FOR UPDATE SKIP LOCKED)"
                   " RETURNING id, execution_id, operation, src_repo,"
                   " src_ref, dst_repo, dst_ref, attempts", 0);
    if (res == NULL || PQntuples(res) == 0) {
        PQclear(res);
        return 0;
    }

    memset(t, 0, sizeof(*t));
    t->id = db_ll(res, 0, 0);
    t->exec_id = db_ll(res, 0, 1);
    snprintf(t->ids, sizeof(t->ids), "%lld", t->id);
    snprintf(t->execs, sizeof(t->execs), "%lld", t->exec_id);
    snprintf(t->op, sizeof(t->op), "%s", db_s(res, 0, 2));
    snprintf(t->src_repo, sizeof(t->src_repo), "%s", db_s(res, 0, 3));
    snprintf(t->src_ref, sizeof(t->src_ref), "%s", db_s(res, 0, 4));
    snprintf(t->dst_repo, sizeof(t->dst_repo), "%s", db_s(res, 0, 5));
    snprintf(t->dst_ref, sizeof(t->dst_ref), "%s", db_s(res, 0, 6));
    t->attempts = (int) db_ll(res, 0, 7);
    PQclear(res);

    return 1;
}


/* the local end for one repository: a token for exactly it */
static int
local_endpoint(struct repl_endpoint *ep, const char *repo,
    const char *actions, char **tok)
{
    memset(ep, 0, sizeof(*ep));
    *tok = registry_token(REPL_USER, repo, actions, REPL_TOKEN_TTL);
    if (*tok == NULL) {
        return -1;
    }

    ep->type = REPL_TYPE_HARBOR;
    ep->url = repl_url;
    ep->bearer = *tok;

    return 0;
}


static int
task_run(struct dbc *db, struct slot *s, struct task *t, char *err,
    size_t errlen)
{
    struct pdesc           pd;
    struct remote          rm;
    struct repl_endpoint   local, remote;
    struct repl_copy_opts  o;
    char                  *tok, line[4096];
    int                    rc, stopped;
    PGresult              *res;

    tok = NULL;
    memset(&rm, 0, sizeof(rm));

    rc = pdesc_load(db, "SELECT " PDESC_COLS " FROM replication_execution e"
                    " JOIN replication_policy p ON p.id = e.policy_id"
                    " WHERE e.id = $1::integer", t->execs, &pd);
    if (rc != 0) {
        db_put(db);
        free(pd.filters);
        snprintf(err, errlen, "the policy of this task is gone");
        return REPL_FATAL;
    }
    free(pd.filters);

    res = db_execv(db, "SELECT stop_requested FROM replication_execution"
                   " WHERE id = $1::integer", 1, t->execs);
    stopped = res != NULL && PQntuples(res) == 1 && db_b(res, 0, 0);
    PQclear(res);
    if (stopped) {
        db_put(db);
        return REPL_STOPPED;
    }

    if (remote_load(db, pd.src_id != 0 ? pd.src_id : pd.dest_id, &rm, err,
                    errlen) != 0)
    {
        db_put(db);
        return REPL_ERROR;
    }
    remote_endpoint(&rm, &remote);

    if (local_endpoint(&local, pd.src_id != 0 ? t->dst_repo : t->src_repo,
                       pd.src_id != 0 ? "pull,push" : "pull", &tok) != 0)
    {
        db_put(db);
        remote_free(&rm);
        snprintf(err, errlen, "authd could not sign a token for itself");
        return REPL_ERROR;
    }

    /* from here on the connection goes back: a copy may take hours */
    db_put(db);

    memset(&o, 0, sizeof(o));
    o.speed_kbps = pd.speed;
    o.copy_by_chunk = pd.copy_by_chunk;
    o.override = pd.override;

    if (strcmp(t->op, "deletion") == 0) {
        snprintf(line, sizeof(line), "delete %s:%s at %s (try %d)",
                 t->dst_repo, t->dst_ref, rm.url, t->attempts);
        slot_log(s, line);
        rc = repl_delete(&remote, t->dst_repo, t->dst_ref, err, errlen);

    } else {
        snprintf(line, sizeof(line), "copy %s:%s from %s to %s:%s at %s"
                 " (try %d)", t->src_repo, t->src_ref,
                 pd.src_id != 0 ? rm.url : "this instance", t->dst_repo,
                 t->dst_ref, pd.src_id != 0 ? "this instance" : rm.url,
                 t->attempts);
        slot_log(s, line);
        rc = repl_copy(pd.src_id != 0 ? &remote : &local, t->src_repo,
                       t->src_ref, pd.src_id != 0 ? &local : &remote,
                       t->dst_repo, t->dst_ref, &o, &s->prog, err, errlen);
    }

    remote_free(&rm);
    sodium_memzero(tok, strlen(tok));
    free(tok);

    return rc;
}


/* one task, start to end; db goes back to the pool */
static void
task_do(struct dbc *db, struct slot *s, struct task *t)
{
    char         err[REPL_ERR_MAX], delay[32], done[32], total[32];
    char         line[REPL_ERR_MAX + 64];
    const char  *status;
    int          rc, again;

    pthread_mutex_lock(&repl_mtx);
    memset(&s->prog, 0, sizeof(s->prog));
    s->prog.log = slot_log;
    s->prog.log_arg = s;
    s->task_id = t->id;
    s->exec_id = t->exec_id;
    free(s->log);
    s->log = NULL;
    s->len = 0;
    pthread_mutex_unlock(&repl_mtx);

    err[0] = '\0';
    rc = task_run(db, s, t, err, sizeof(err));
    db = NULL;                           /* task_run gave it back */

    /* authd stops: the task stays InProgress and runs again at start */
    pthread_mutex_lock(&repl_mtx);
    if (repl_quit) {
        s->task_id = 0;
        s->exec_id = 0;
        pthread_mutex_unlock(&repl_mtx);
        return;
    }
    pthread_mutex_unlock(&repl_mtx);

    if (rc == REPL_STOPPED && s->prog.stop == 0 && err[0] == '\0') {
        snprintf(err, sizeof(err), "stopped");
    }

    again = 0;
    switch (rc) {
    case REPL_OK:
        status = "Succeed";
        slot_log(s, "done");
        break;
    case REPL_SKIPPED:
        status = "Succeed";
        slot_log(s, "kept: the destination has this tag and the policy"
                 " does not override");
        break;
    case REPL_STOPPED:
        status = "Stopped";
        slot_log(s, "stopped");
        break;
    case REPL_ERROR:
        again = t->attempts < REPL_TRIES;
        status = again ? "Pending" : "Failed";
        snprintf(line, sizeof(line), "%s: %s", again ? "will retry" : "failed",
                 err[0] ? err : "an error");
        slot_log(s, line);
        break;
    default:
        status = "Failed";
        snprintf(line, sizeof(line), "failed: %s", err[0] ? err : "an error");
        slot_log(s, line);
        break;
    }

    snprintf(delay, sizeof(delay), "%d",
             conf->repl_retry_delay << (t->attempts > 1 ? t->attempts - 1 : 0));
    snprintf(done, sizeof(done), "%lld", (long long) s->prog.bytes_done);
    snprintf(total, sizeof(total), "%lld", (long long) s->prog.bytes_total);

    db = repl_db();
    if (db == NULL) {
        return;
    }

    pthread_mutex_lock(&repl_mtx);
    db_cmd(db, "UPDATE replication_task SET status = $2, error = $3,"
           " log = log || $4, bytes_done = $5, bytes_total = $6,"
           " next_try = now() + ($7 || ' seconds')::interval,"
           " end_time = CASE WHEN $8::boolean THEN NULL ELSE now() END"
           " WHERE id = $1::integer", 8, t->ids, status,
           rc == REPL_OK || rc == REPL_SKIPPED ? "" : err,
           s->log != NULL ? s->log : "", done, total, delay,
           again ? "t" : "f");
    s->task_id = 0;
    s->exec_id = 0;
    pthread_mutex_unlock(&repl_mtx);

    /* the journal's events it carried: done, or offered again later */
    if (strcmp(status, "Succeed") == 0) {
        db_cmd(db, "DELETE FROM replication_event WHERE task_id ="
               " $1::integer", 1, t->ids);
    } else if (strcmp(status, "Pending") != 0) {
        db_cmd(db, "UPDATE replication_event SET task_id = NULL,"
               " attempts = attempts + 1, next_try = now()"
               " + (LEAST($2::integer, $3::integer * power(2,"
               " LEAST(attempts, 10))::integer) || ' seconds')::interval"
               " WHERE task_id = $1::integer", 3, t->ids,
               "600", delay);
    }

    log_info("replication: task %lld (%s %s:%s): %s%s%s", t->id, t->op,
             t->src_repo, t->src_ref, status, err[0] ? ": " : "", err);

    exec_finish(db, t->exec_id);
    db_put(db);

    if (again) {
        repl_jobs_wake();
    }
}


/* ----------------------------------------------------------- workers */

/* 1 if exec_id could be taken for enumeration */
static int
enum_take(int me, long long exec_id)
{
    int  i;

    for (i = 0; i < repl_nworkers; i++) {
        if (repl_enumerating[i] == exec_id) {
            return 0;
        }
    }
    repl_enumerating[me] = exec_id;

    return 1;
}


/* until something new (repl_jobs_wake) or secs have passed */
static void
repl_wait(unsigned long gen, int secs)
{
    struct timespec  ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += secs;

    pthread_mutex_lock(&repl_mtx);
    while (!repl_quit && gen == repl_gen
           && pthread_cond_timedwait(&repl_cond, &repl_mtx, &ts) == 0)
    {
        /* woken for nothing new: wait on */
    }
    pthread_mutex_unlock(&repl_mtx);
}


static int
work_once(int me)
{
    struct dbc   *db;
    struct task   t;
    PGresult     *res;
    long long     exec_id;
    int           i, took;

    db = db_get();
    if (db == NULL) {
        return 0;
    }

    res = db_execv(db, "SELECT id FROM replication_execution"
                   " WHERE status = 'InProgress' AND NOT enumerated"
                   " ORDER BY id LIMIT 64", 0);
    exec_id = 0;
    if (res != NULL) {
        pthread_mutex_lock(&repl_mtx);
        for (i = 0; i < PQntuples(res) && exec_id == 0; i++) {
            if (enum_take(me, db_ll(res, i, 0))) {
                exec_id = db_ll(res, i, 0);
            }
        }
        pthread_mutex_unlock(&repl_mtx);
        PQclear(res);
    }

    if (exec_id != 0) {
        enumerate(db, exec_id);
        pthread_mutex_lock(&repl_mtx);
        repl_enumerating[me] = 0;
        pthread_mutex_unlock(&repl_mtx);
        db_put(db);
        return 1;
    }

    took = task_claim(db, &t);
    if (!took) {
        db_put(db);
        return 0;
    }

    task_do(db, &repl_slots[me], &t);

    return 1;
}


static void *
repl_worker(void *arg)
{
    unsigned long    gen;
    int              me = (int) (long) arg;

    for ( ;; ) {
        pthread_mutex_lock(&repl_mtx);
        if (repl_quit) {
            pthread_mutex_unlock(&repl_mtx);
            break;
        }
        gen = repl_gen;
        pthread_mutex_unlock(&repl_mtx);

        if (work_once(me)) {
            continue;
        }

        repl_wait(gen, REPL_IDLE_WAIT);
    }

    pthread_mutex_lock(&repl_mtx);
    free(repl_slots[me].log);
    repl_slots[me].log = NULL;
    pthread_mutex_unlock(&repl_mtx);

    return NULL;
}


/* ---------------------------------------------------------- scheduler */

static void
sched_cron(struct dbc *db, time_t now)
{
    PGresult   *res;
    struct tm   tm;
    char        cron[300];
    int         i;

    res = db_execv(db, "SELECT id, cron FROM replication_policy"
                   " WHERE enabled AND trigger_type = 'scheduled'", 0);
    if (res == NULL) {
        return;
    }

    gmtime_r(&now, &tm);

    for (i = 0; i < PQntuples(res); i++) {
        if (cron_norm(db_s(res, i, 1), cron, sizeof(cron)) != 0
            || cron_match(cron, &tm) != 1)
        {
            continue;
        }

        /* once per minute, whoever looks twice */
        if (db_cmd(db, "UPDATE replication_policy SET last_fired = now()"
                   " WHERE id = $1::integer AND (last_fired IS NULL OR"
                   " date_trunc('minute', last_fired)"
                   " <> date_trunc('minute', now()))", 1,
                   db_s(res, i, 0)) == 1)
        {
            repl_execution_new(db, db_ll(res, i, 0), "scheduled");
        }
    }

    PQclear(res);
}


/*
 * One policy's waiting events into one run: the last event of each
 * repository:reference decides (a push then a delete is a delete), the
 * others ride on its task; events the filters refuse are dropped.
 */
static int
sched_events_policy(struct dbc *db, const char *pids)
{
    struct pdesc    pd;
    struct filters  fs;
    PGresult       *ev;
    long long       exec_id, tid;
    const char     *op, *repo, *ref;
    char            eids[32], tids[32];
    int             i, j, n, rc, last;

    memset(&fs, 0, sizeof(fs));
    ev = NULL;

    rc = pdesc_load(db, "SELECT " PDESC_COLS " FROM replication_policy p"
                    " WHERE p.id = $1::integer AND p.enabled"
                    " AND p.trigger_type = 'event_based'", pids, &pd);
    if (rc == 1) {
        free(pd.filters);
        return db_cmd(db, "DELETE FROM replication_event WHERE policy_id ="
                      " $1::integer", 1, pids) < 0 ? -1 : 0;
    }
    if (rc != 0 || filters_load(pd.filters, &fs) != 0) {
        free(pd.filters);
        return -1;
    }

    if (db_begin(db) != 0) {
        goto fail;
    }

    ev = db_execv(db, "SELECT id, operation, repository, reference"
                  " FROM replication_event WHERE policy_id = $1::integer"
                  " AND task_id IS NULL AND next_try <= now()"
                  " ORDER BY id LIMIT 1000 FOR UPDATE SKIP LOCKED", 1, pids);
    if (ev == NULL) {
        goto rollback;
    }
    n = PQntuples(ev);
    if (n == 0) {
        db_rollback(db);
        goto done;
    }

    exec_id = repl_execution_new(db, pd.id, "event_based");
    if (exec_id < 0) {
        goto rollback;
    }
    snprintf(eids, sizeof(eids), "%lld", exec_id);

    for (i = 0; i < n; i++) {
        op = db_s(ev, i, 1);
        repo = db_s(ev, i, 2);
        ref = db_s(ev, i, 3);

        /* only the last event of this repository:reference */
        last = 1;
        for (j = i + 1; j < n && last; j++) {
            last = !(strcmp(repo, db_s(ev, j, 2)) == 0
                     && strcmp(ref, db_s(ev, j, 3)) == 0);
        }
        if (!last) {
            continue;
        }

        if (!filters_pass(&fs, 'n', repo)
            || (strchr(ref, ':') == NULL && !filters_pass(&fs, 't', ref)))
        {
            if (db_cmd(db, "DELETE FROM replication_event WHERE policy_id ="
                       " $1::integer AND repository = $2 AND reference = $3"
                       " AND task_id IS NULL", 3, pids, repo, ref) < 0)
            {
                goto rollback;
            }
            continue;
        }

        tid = task_add(db, eids, &pd, op, repo, ref);
        if (tid < 0) {
            goto rollback;
        }
        snprintf(tids, sizeof(tids), "%lld", tid);

        if (db_cmd(db, "UPDATE replication_event SET task_id = $4::integer"
                   " WHERE policy_id = $1::integer AND repository = $2"
                   " AND reference = $3 AND task_id IS NULL"
                   " AND id <= $5::bigint", 5, pids, repo, ref, tids,
                   db_s(ev, i, 0)) < 0)
        {
            goto rollback;
        }
    }

    if (db_cmd(db, "UPDATE replication_execution SET enumerated = true"
               " WHERE id = $1::integer", 1, eids) < 0
        || db_commit(db) != 0)
    {
        goto rollback;
    }

    exec_finish(db, exec_id);
    repl_jobs_wake();

done:

    PQclear(ev);
    filters_free(&fs);
    free(pd.filters);
    return 0;

rollback:

    db_rollback(db);

fail:

    PQclear(ev);
    filters_free(&fs);
    free(pd.filters);
    return -1;
}


static void
sched_events(struct dbc *db)
{
    PGresult  *res;
    int        i;

    /* one event-based run per policy at a time, in the journal's order */
    res = db_execv(db, "SELECT DISTINCT v.policy_id FROM replication_event v"
                   " WHERE v.task_id IS NULL AND v.next_try <= now()"
                   " AND NOT EXISTS (SELECT 1 FROM replication_execution e"
                   " WHERE e.policy_id = v.policy_id"
                   " AND e.trigger = 'event_based'"
                   " AND e.status = 'InProgress')", 0);
    if (res == NULL) {
        return;
    }

    for (i = 0; i < PQntuples(res); i++) {
        if (sched_events_policy(db, db_s(res, i, 0)) != 0) {
            log_warnx("replication: the events of policy %s could not be"
                      " turned into a run; trying again", db_s(res, i, 0));
        }
    }

    PQclear(res);
}


/*
 * Idle workers sleep; the scheduler wakes them when a task's retry has
 * come or a run waits to be listed (new work wakes them at once).
 */
static void
sched_due(struct dbc *db)
{
    PGresult  *res;
    int        due;

    res = db_execv(db, "SELECT EXISTS (SELECT 1 FROM replication_task"
                   " WHERE status = 'Pending' AND next_try <= now())"
                   " OR EXISTS (SELECT 1 FROM replication_execution"
                   " WHERE status = 'InProgress' AND NOT enumerated)", 0);
    due = res != NULL && PQntuples(res) == 1 && db_b(res, 0, 0);
    PQclear(res);

    if (due) {
        repl_jobs_wake();
    }
}


static void *
repl_scheduler(void *arg)
{
    struct dbc       *db;
    unsigned long     gen;

    (void) arg;

    for ( ;; ) {
        /* cron every second: a policy made now fires this minute */
        db = db_get();
        if (db != NULL) {
            sched_cron(db, time(NULL));
            sched_events(db);
            sched_due(db);
            db_put(db);
        }

        /* its own wakes (sched_due) must not cut its second short */
        pthread_mutex_lock(&repl_mtx);
        if (repl_quit) {
            pthread_mutex_unlock(&repl_mtx);
            break;
        }
        gen = repl_gen;
        pthread_mutex_unlock(&repl_mtx);

        repl_wait(gen, 1);
    }

    return NULL;
}


/* ------------------------------------------------------ start and stop */

int
repl_jobs_start(void)
{
    struct dbc      *db;
    pthread_attr_t   attr;
    sigset_t         all, old;
    int              i, rc;

    if (conf->registry_url != NULL) {
        snprintf(repl_url, sizeof(repl_url), "%s", conf->registry_url);
    } else if (conf->external_url != NULL) {
        snprintf(repl_url, sizeof(repl_url), "%s", conf->external_url);
    } else {
        snprintf(repl_url, sizeof(repl_url), "http://%s", conf->hostname);
    }

    /* what an authd that died left running runs again */
    db = db_get();
    if (db != NULL) {
        db_cmd(db, "UPDATE replication_task SET status = 'Pending',"
               " next_try = now() WHERE status = 'InProgress'", 0);
        db_put(db);
    }

    repl_nworkers = conf->repl_max_parallel;
    if (repl_nworkers > REPL_WORKERS_MAX) {
        repl_nworkers = REPL_WORKERS_MAX;
    }

    pthread_attr_init(&attr);
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, &old);

    rc = 0;
    for (i = 0; i <= repl_nworkers && rc == 0; i++) {
        rc = pthread_create(&repl_threads[i], &attr,
                            i < repl_nworkers ? repl_worker : repl_scheduler,
                            (void *) (long) i);
        if (rc == 0) {
            repl_nthreads++;
        }
    }

    pthread_sigmask(SIG_SETMASK, &old, NULL);
    pthread_attr_destroy(&attr);

    return rc == 0 ? 0 : -1;
}


void
repl_jobs_stop(void)
{
    int  i;

    pthread_mutex_lock(&repl_mtx);
    repl_quit = 1;
    for (i = 0; i < repl_nworkers; i++) {
        repl_slots[i].prog.stop = 1;
    }
    pthread_cond_broadcast(&repl_cond);
    pthread_mutex_unlock(&repl_mtx);

    for (i = 0; i < repl_nthreads; i++) {
        pthread_join(repl_threads[i], NULL);
    }
    repl_nthreads = 0;
}
