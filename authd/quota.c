/*
 * authd: what each project's storage takes, and the file that tells the
 * nginx module its quota (harbor_quota.h, docs/policies.md).
 *
 * A project uses the sum of its distinct blobs (artifact_blob of its
 * artifacts, each digest once: a layer shared by two images of the
 * project counts once).  Those rows follow the journal's pushes and
 * deletes and reindex, so the usage is never stored: it is computed.
 *
 * The module never asks the database.  It reads <hard> <used> <as of>
 * from the project's file and adds what it has itself committed since
 * "as of".  So the file is written again:
 *   - by the journal's reader (quota_journal_flush), for every project
 *     whose events it applied, once it has read to the end of the
 *     journal: "as of" is when that last read began, so every push the
 *     module finished before it is in "used";
 *   - when a limit changes (API), and at start, with the last "as of"
 *     the reader reached (0 before it has: the module then keeps all it
 *     counted, which only errs on the side of refusing).
 * A project without a limit has no file.
 *
 * QUOTA_WARNING is sent when a project's usage reaches HB_QUOTA_WARN_PCT
 * of its limit (once, until it falls below again); QUOTA_EXCEED when
 * the module refused a push (its "quota" journal line).
 */

#include <sys/stat.h>

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/bio.h>

#include "authd.h"
#include "harbor_quota.h"


#define QUOTA_DIRTY_MAX  64         /* projects noted between flushes */

/* the usage of project $1: its distinct blobs */
#define QUOTA_USED_SQL                                                      \
    "(SELECT COALESCE(sum(size), 0) FROM (SELECT DISTINCT b.digest,"       \
    " b.size FROM artifact_blob b JOIN artifact a ON a.id = b.artifact_id"  \
    " JOIN repository r ON r.repository_id = a.repository_id"               \
    " WHERE r.project_id = %s) u)"


static pthread_mutex_t  quota_mtx = PTHREAD_MUTEX_INITIALIZER;
static long long        quota_asof;             /* under quota_mtx */

/* the journal thread's own: no lock */
static char             quota_dirty[QUOTA_DIRTY_MAX][HB_NAME_MAX + 1];
static int              quota_ndirty;
static int              quota_all;


const char *
quota_used_sql(struct req *r, const char *project_col)
{
    return req_printf(r, QUOTA_USED_SQL, project_col);
}


long long
quota_now_ms(void)
{
    struct timespec  ts;

    clock_gettime(CLOCK_REALTIME, &ts);

    return (long long) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}


/* <storage>/_policies/quota/<name> into buf, made if needed: 0 or -1 */
static int
quota_path(char *buf, size_t len, const char *name, int mk)
{
    int  n;

    if (conf->registry_storage == NULL) {
        return -1;
    }

    if (mk) {
        n = snprintf(buf, len, "%s/_policies", conf->registry_storage);
        if (n < 0 || (size_t) n >= len
            || (mkdir(buf, 0755) == -1 && errno != EEXIST))
        {
            return -1;
        }

        n = snprintf(buf, len, "%s" HB_QUOTA_DIR, conf->registry_storage);
        if (n < 0 || (size_t) n >= len
            || (mkdir(buf, 0755) == -1 && errno != EEXIST))
        {
            return -1;
        }
    }

    n = snprintf(buf, len, "%s" HB_QUOTA_DIR "/%s", conf->registry_storage,
                 name);

    return n < 0 || (size_t) n >= len ? -1 : 0;
}


/* QUOTA_WARNING once usage reaches the mark; re-armed below it */
static void
quota_warn(struct dbc *db, long long project_id, const char *name,
    long long hard, long long used, int warned)
{
    char     pid[32];
    int      over;
    json_t  *data;

    over = hard > 0 && used * 100 >= hard * HB_QUOTA_WARN_PCT;

    if (over == warned) {
        return;
    }

    snprintf(pid, sizeof(pid), "%lld", project_id);

    if (db_cmd(db, "UPDATE quota SET warned = $2::boolean"
               " WHERE project_id = $1", 2, pid, over ? "true" : "false")
        < 0 || !over)
    {
        return;
    }

    data = json_pack("{s:[], s:{s:s, s:s, s:s, s:s}, s:{s:s}}",
                     "resources",
                     "repository", "name", "", "namespace", name,
                     "repo_full_name", name, "repo_type", "",
                     "custom_attributes", "Details",
                     "quota warning: the project uses 85% or more of its"
                     " storage limit");
    if (data != NULL) {
        json_object_set_new(json_object_get(data, "custom_attributes"),
                            "used", json_integer(used));
        json_object_set_new(json_object_get(data, "custom_attributes"),
                            "hard", json_integer(hard));
        (void) webhook_event(db, project_id, "QUOTA_WARNING", data, "");
    }
}


/*
 * The file of project (id, name) written again from the database, as of
 * asof (see above), or removed when it has no limit: 0, or -1 (logged).
 */
static int
quota_write(struct dbc *db, long long project_id, const char *name,
    long long asof)
{
    PGresult   *res;
    BIO        *bio;
    char        path[PATH_MAX], pid[32], *sql;
    long long   hard, used;
    int         rc;

    snprintf(pid, sizeof(pid), "%lld", project_id);

    if (quota_path(path, sizeof(path), name, 1) != 0) {
        log_warnx("quota of \"%s\": no place to write it", name);
        return -1;
    }

    if (asprintf(&sql, "SELECT q.hard, " QUOTA_USED_SQL ", q.warned"
                 " FROM quota q WHERE q.project_id = $1", "$1") < 0)
    {
        return -1;
    }

    rc = -1;
    bio = NULL;

    pthread_mutex_lock(&quota_mtx);

    res = db_execv(db, sql, 1, pid);
    free(sql);

    if (res == NULL) {
        goto done;
    }

    if (PQntuples(res) == 0 || db_ll(res, 0, 0) < 0) {
        if (unlink(path) == -1 && errno != ENOENT) {
            log_warn("unlink \"%s\"", path);
            goto done;
        }
        rc = 0;
        goto done;
    }

    hard = db_ll(res, 0, 0);
    used = db_ll(res, 0, 1);

    bio = BIO_new(BIO_s_mem());
    if (bio == NULL
        || BIO_printf(bio, "%lld %lld %lld\n", hard, used, asof) <= 0)
    {
        goto done;
    }

    rc = keys_write(path, 0644, bio);

    if (rc == 0) {
        quota_warn(db, project_id, name, hard, used, db_b(res, 0, 2));
    }

done:

    pthread_mutex_unlock(&quota_mtx);

    if (res != NULL) {
        PQclear(res);
    }
    BIO_free(bio);

    return rc;
}


/* after a change of the limit: 0, or -1 (logged) */
int
quota_sync(struct dbc *db, long long project_id, const char *name)
{
    long long  asof;

    pthread_mutex_lock(&quota_mtx);
    asof = quota_asof;
    pthread_mutex_unlock(&quota_mtx);

    return quota_write(db, project_id, name, asof);
}


/* a project is gone: its name no longer has a limit */
void
quota_forget(const char *name)
{
    char  path[PATH_MAX];

    if (quota_path(path, sizeof(path), name, 0) == 0
        && unlink(path) == -1 && errno != ENOENT)
    {
        log_warn("unlink \"%s\"", path);
    }
}


/* projects whose files are written again: all with a limit, or names */
static int
quota_write_some(struct dbc *db, long long asof, int all)
{
    PGresult    *res;
    const char  *names[QUOTA_DIRTY_MAX];
    char        *list;
    size_t       len;
    int          i, rc;

    if (all) {
        res = db_execv(db, "SELECT p.project_id, p.name FROM projects p"
                       " JOIN quota q ON q.project_id = p.project_id"
                       " WHERE NOT p.deleted AND q.hard >= 0", 0);
    } else {
        /* a text array of the names, as one parameter */
        len = 3;
        for (i = 0; i < quota_ndirty; i++) {
            names[i] = quota_dirty[i];
            len += 2 * strlen(names[i]) + 4;
        }

        list = malloc(len);
        if (list == NULL) {
            return -1;
        }

        len = 0;
        list[len++] = '{';
        for (i = 0; i < quota_ndirty; i++) {
            const char  *p;

            if (i > 0) {
                list[len++] = ',';
            }
            list[len++] = '"';
            for (p = names[i]; *p; p++) {
                if (*p == '"' || *p == '\\') {
                    list[len++] = '\\';
                }
                list[len++] = *p;
            }
            list[len++] = '"';
        }
        list[len++] = '}';
        list[len] = '\0';

        res = db_execv(db, "SELECT p.project_id, p.name FROM projects p"
                       " JOIN quota q ON q.project_id = p.project_id"
                       " WHERE NOT p.deleted AND q.hard >= 0"
                       " AND p.name = ANY ($1::text[])", 1, list);
        free(list);
    }

    if (res == NULL) {
        return -1;
    }

    rc = 0;
    for (i = 0; i < PQntuples(res); i++) {
        if (quota_write(db, db_ll(res, i, 0), db_s(res, i, 1), asof) != 0) {
            rc = -1;
        }
    }
    PQclear(res);

    return rc;
}


/* at start: every project with a limit; 0, or -1 */
int
quota_sync_all(void)
{
    struct dbc  *db;
    long long    asof;
    int          rc;

    if (conf->registry_storage == NULL) {
        return 0;
    }

    db = db_get();
    if (db == NULL) {
        return -1;
    }

    pthread_mutex_lock(&quota_mtx);
    asof = quota_asof;
    pthread_mutex_unlock(&quota_mtx);

    rc = quota_write_some(db, asof, 1);
    db_put(db);

    return rc;
}


/* the journal's reader applied an event of repository repo */
void
quota_journal_touch(const char *repo)
{
    size_t  n;
    int     i;

    n = strcspn(repo, "/");
    if (n == 0 || n > HB_NAME_MAX || repo[n] != '/' || quota_all) {
        return;
    }

    for (i = 0; i < quota_ndirty; i++) {
        if (strncmp(quota_dirty[i], repo, n) == 0
            && quota_dirty[i][n] == '\0')
        {
            return;
        }
    }

    if (quota_ndirty == QUOTA_DIRTY_MAX) {
        quota_all = 1;
        return;
    }

    memcpy(quota_dirty[quota_ndirty], repo, n);
    quota_dirty[quota_ndirty][n] = '\0';
    quota_ndirty++;
}


/*
 * The journal's reader is at the end of the journal, and began the read
 * that found it at asof: every push the module finished before asof is
 * applied.  The projects it touched get their files (kept noted if the
 * database fails: the next flush tries again).
 */
void
quota_journal_flush(long long asof)
{
    struct dbc  *db;

    if (conf->registry_storage == NULL) {
        quota_ndirty = 0;
        quota_all = 0;
        return;
    }

    pthread_mutex_lock(&quota_mtx);
    if (asof > quota_asof) {
        quota_asof = asof;
    }
    pthread_mutex_unlock(&quota_mtx);

    if (quota_ndirty == 0 && !quota_all) {
        return;
    }

    db = db_get();
    if (db == NULL) {
        return;
    }

    if (quota_write_some(db, asof, quota_all) == 0) {
        quota_ndirty = 0;
        quota_all = 0;
    }

    db_put(db);
}


/*
 * The module refused a push of repo (its "quota" journal line): the
 * QUOTA_EXCEED webhook, in the journal's transaction.  0, or -1.
 */
int
quota_exceeded_event(struct dbc *db, const char *repo, const char *digest,
    const char *tag, const char *user)
{
    PGresult  *res;
    json_t    *data;
    char       project[HB_NAME_MAX + 1];
    size_t     n;
    int        rc;

    n = strcspn(repo, "/");
    if (n == 0 || n > HB_NAME_MAX) {
        return 0;
    }
    memcpy(project, repo, n);
    project[n] = '\0';

    res = db_execv(db, "SELECT project_id FROM projects WHERE name = $1"
                   " AND NOT deleted", 1, project);
    if (res == NULL) {
        return -1;
    }

    if (PQntuples(res) == 0) {
        PQclear(res);
        return 0;
    }

    data = json_pack("{s:[{s:s, s:s}], s:{s:s, s:s, s:s, s:s},"
                     " s:{s:s}}",
                     "resources", "digest", digest, "tag", tag,
                     "repository", "name", repo[n] ? repo + n + 1 : "",
                     "namespace", project, "repo_full_name", repo,
                     "repo_type", "",
                     "custom_attributes", "Details",
                     "quota exceeded: the push would pass the project's"
                     " storage limit");

    rc = data != NULL
         ? webhook_event(db, db_ll(res, 0, 0), "QUOTA_EXCEED", data, user)
         : -1;

    PQclear(res);

    return rc;
}
