/*
 * authd: the module's journal, read into the database.
 *
 * The nginx module appends one JSON line per manifest push, pull and
 * delete (docs/architecture.md, "The journal").  A thread of authd reads
 * the file and turns the lines into rows: repositories, artifacts, tags,
 * pull counts, the audit log.
 *
 * At least once, applied once:
 *  - the checkpoint (file inode, the id of its first line, and the byte
 *    offset after the last applied line) is written in the same
 *    transaction as the rows of the lines before it, so a crash or a
 *    SIGKILL loses nothing and repeats nothing of what was committed;
 *  - every event is applied once by its id (the audit log row it makes
 *    has the id under a unique constraint: a line read twice, after a
 *    checkpoint was lost or a file was copied, finds its row there);
 *  - what the rows say comes from storage as it is now (artifact.c), so
 *    events applied late or out of order converge to the store.
 *
 * A batch of lines is cut into several transactions when applying it
 * takes longer than JOURNAL_BATCH_MS, so one slow event (an index of
 * thousands of children) neither holds the lock the API's updates take
 * nor hides the events before it for long.
 *
 * Rotation: nginx reopens the journal on USR1 after it was renamed.
 * When the path names another inode, the old file is read to its end
 * and authd goes on with the new one from 0, while it drains the old
 * one: a worker that has not reopened yet still appends whole lines to
 * it.  The old file is let go once it has been quiet for
 * JOURNAL_DRAIN_QUIET seconds (or after JOURNAL_DRAIN_MAX, or at the
 * next rotation); until then the checkpoint names it too (drain_inode,
 * drain_first_id, drain_offset), so a restart drains on.  At start, a
 * checkpoint naming a file that is no longer at the path is looked for
 * among the other files of the directory (events.log.1 ...) by inode
 * and finished first.
 *
 * Waiting is inotify on the directory (a line, a rename, a new file),
 * with a one second poll as a floor; never a busy loop.  A database
 * that is down is retried every second from the last checkpoint.
 */

#include <sys/inotify.h>
#include <sys/stat.h>
#include <sys/types.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "authd.h"
#include "harbor_grammar.h"


#define JOURNAL_BUF          (1024 * 1024)
#define JOURNAL_BATCH        256
#define JOURNAL_BATCH_MS     500         /* a transaction is cut after */
#define JOURNAL_WAIT_MS      1000
#define JOURNAL_DRAIN_QUIET  30          /* seconds of quiet on a rotated
                                            file before it is let go... */
#define JOURNAL_DRAIN_MAX    3600        /* ...or after this long anyway */
#define JOURNAL_ID_LEN       32

#define EV_PUSH              1
#define EV_PULL              2
#define EV_DELETE            3
#define EV_QUOTA             4           /* a push refused (quota.c) */

struct jevent {
    int     ok;                     /* 0: a line to skip */
    int     action;
    char    id[JOURNAL_ID_LEN + 1];
    char    time[40];
    char    repo[HB_NAME_MAX + 1];
    char    digest[HB_DIGEST_MAX + 1];
    char    tag[HB_TAG_MAX + 1];
    char    user[AUTHD_USER_MAX + 1];
    char    addr[64];
    off_t   end;                    /* offset after its line */
};

struct jfile {
    int     fd;
    ino_t   ino;
    off_t   off;                    /* after the last applied line */
    char    first_id[JOURNAL_ID_LEN + 1];
    int     skipping;               /* inside an over-long line */
};

static struct jfile    journal_cur = { .fd = -1 };    /* at the path */
static struct jfile    journal_drain = { .fd = -1 };  /* rotated, drained */
static time_t          journal_drain_since;
static time_t          journal_drain_moved;           /* last line read */
static pthread_t       journal_tid;
static int             journal_running;
static int             journal_wake[2] = { -1, -1 };
static volatile int    journal_quit;
static int             journal_errno;
static char           *journal_buf;
static struct jevent  *journal_ev;


/* the "id" of a journal line, if it has one of 32 hex digits */
static int
journal_line_id(const char *line, size_t len, char *id)
{
    json_t      *j;
    const char  *s;
    size_t       i;
    int          rc;

    rc = -1;
    j = json_loadb(line, len, 0, NULL);
    s = json_string_value(json_object_get(j, "id"));

    if (s != NULL && strlen(s) == JOURNAL_ID_LEN) {
        for (i = 0; i < JOURNAL_ID_LEN; i++) {
            if (!((s[i] >= '0' && s[i] <= '9')
                  || (s[i] >= 'a' && s[i] <= 'f')))
            {
                break;
            }
        }
        if (i == JOURNAL_ID_LEN) {
            memcpy(id, s, JOURNAL_ID_LEN + 1);
            rc = 0;
        }
    }

    json_decref(j);

    return rc;
}


/* the id of the first line of a file, "" if it has none yet */
static void
journal_first_id(int fd, char *id)
{
    char     buf[4096], *nl;
    ssize_t  n;

    id[0] = '\0';

    n = pread(fd, buf, sizeof(buf), 0);
    if (n <= 0) {
        return;
    }

    nl = memchr(buf, '\n', (size_t) n);
    if (nl != NULL) {
        (void) journal_line_id(buf, (size_t) (nl - buf), id);
    }
}


static int
journal_str(json_t *j, const char *key, char *out, size_t len, int required)
{
    const char  *s;
    json_t      *v;

    v = json_object_get(j, key);
    if (v == NULL || json_is_null(v)) {
        out[0] = '\0';
        return required ? -1 : 0;
    }

    s = json_string_value(v);
    if (s == NULL || strlen(s) != json_string_length(v) || strlen(s) >= len) {
        return -1;
    }

    memcpy(out, s, strlen(s) + 1);

    return 0;
}


/* a line into an event; ev->ok = 0 for a line to skip (logged) */
static void
journal_parse(const char *line, size_t len, struct jevent *ev)
{
    json_t      *j;
    char         action[16];
    size_t       i;

    memset(ev, 0, sizeof(*ev));

    j = json_loadb(line, len, JSON_REJECT_DUPLICATES, NULL);

    if (!json_is_object(j)
        || journal_str(j, "id", ev->id, sizeof(ev->id), 1) != 0
        || strlen(ev->id) != JOURNAL_ID_LEN
        || journal_str(j, "time", ev->time, sizeof(ev->time), 1) != 0
        || journal_str(j, "action", action, sizeof(action), 1) != 0
        || journal_str(j, "repository", ev->repo, sizeof(ev->repo), 1) != 0
        || journal_str(j, "digest", ev->digest, sizeof(ev->digest), 1) != 0
        || journal_str(j, "tag", ev->tag, sizeof(ev->tag), 0) != 0
        || journal_str(j, "user", ev->user, sizeof(ev->user), 0) != 0
        || journal_str(j, "remote_addr", ev->addr, sizeof(ev->addr), 0) != 0)
    {
        goto bad;
    }

    for (i = 0; i < JOURNAL_ID_LEN; i++) {
        if (!((ev->id[i] >= '0' && ev->id[i] <= '9')
              || (ev->id[i] >= 'a' && ev->id[i] <= 'f')))
        {
            goto bad;
        }
    }

    if (strcmp(action, "push") == 0) {
        ev->action = EV_PUSH;
    } else if (strcmp(action, "pull") == 0) {
        ev->action = EV_PULL;
    } else if (strcmp(action, "delete") == 0) {
        ev->action = EV_DELETE;
    } else if (strcmp(action, "quota") == 0) {
        ev->action = EV_QUOTA;
    } else {
        goto bad;
    }

    if (!q_time_valid(ev->time)
        || !hb_name_valid((unsigned char *) ev->repo, strlen(ev->repo))
        || hb_digest_parse((unsigned char *) ev->digest, strlen(ev->digest))
           == HB_DIGEST_NONE
        || (ev->tag[0] && !hb_tag_valid((unsigned char *) ev->tag,
                                        strlen(ev->tag))))
    {
        goto bad;
    }

    json_decref(j);
    ev->ok = 1;

    return;

bad:

    json_decref(j);
    log_warnx("journal: skipping a line that is not a valid event: %.80s",
              line);
}


/*
 * One event, inside the caller's transaction.  0 (applied, or seen
 * before), -1 on a database error.
 */
static int
journal_apply(struct dbc *db, struct jevent *ev)
{
    PGresult    *res;
    const char  *op, *rtype;
    char         resource[HB_NAME_MAX + HB_DIGEST_MAX + 2], rid[32], aid[32];
    long long    repo_id, art;
    int          rc;

    /* the project's quota file follows (a refusal too: it refreshes) */
    if (ev->action != EV_PULL) {
        quota_journal_touch(ev->repo);
    }

    /* a push refused over quota: its webhook only (at least once) */
    if (ev->action == EV_QUOTA) {
        return quota_exceeded_event(db, ev->repo, ev->digest, ev->tag,
                                    ev->user);
    }

    if (ev->tag[0]) {
        snprintf(resource, sizeof(resource), "%s:%s", ev->repo, ev->tag);
    } else {
        snprintf(resource, sizeof(resource), "%s@%s", ev->repo, ev->digest);
    }

    op = ev->action == EV_PUSH ? "create"
         : ev->action == EV_PULL ? "pull" : "delete";
    rtype = ev->action == EV_DELETE && ev->tag[0] ? "tag" : "artifact";

    /* the audit row is the mark that this event was applied */
    res = db_execv(db, "INSERT INTO audit_log (event_id, project_id,"
                   " operation, resource_type, resource, username,"
                   " client_ip, op_time) VALUES ($1, (SELECT project_id"
                   " FROM projects WHERE name = split_part($2, '/', 1)"
                   " AND NOT deleted), $3, $4, $5, $6, $7, $8::timestamptz)"
                   " ON CONFLICT (event_id) DO NOTHING RETURNING id", 8,
                   ev->id, ev->repo, op, rtype, resource, ev->user, ev->addr,
                   ev->time);
    if (res == NULL) {
        return -1;
    }

    rc = PQntuples(res);
    PQclear(res);

    if (rc == 0) {
        log_debug("journal: event %s seen before", ev->id);
        return 0;
    }

    /* event-based replication: its pending work, in this transaction */
    if (ev->action != EV_PULL
        && repl_journal_event(db, ev->action == EV_PUSH, ev->repo, ev->tag,
                              ev->digest) != 0)
    {
        return -1;
    }

    /* webhooks: their deliveries, in this transaction (webhook.c) */
    if (webhook_journal_event(db, ev->action == EV_PUSH ? 1
                              : ev->action == EV_PULL ? 2 : 3,
                              ev->repo, ev->tag, ev->digest, ev->user,
                              ev->time) != 0)
    {
        return -1;
    }

    switch (ev->action) {

    case EV_PUSH:
        /* pushed, then deleted before we got here: nothing to make */
        if (store_revision(ev->repo, ev->digest, NULL) != STORE_OK) {
            return 0;
        }

        repo_id = repo_ensure(db, ev->repo);
        if (repo_id < 0
            || artifact_import(db, repo_id, ev->repo, ev->digest, ev->time, 0,
                               &art) < 0)
        {
            return -1;
        }

        snprintf(rid, sizeof(rid), "%lld", repo_id);

        if (db_cmd(db, "UPDATE repository SET update_time ="
                   " GREATEST(update_time, $2::timestamptz)"
                   " WHERE repository_id = $1", 2, rid, ev->time) < 0)
        {
            return -1;
        }

        if (ev->tag[0] && tag_sync(db, repo_id, ev->repo, ev->tag, ev->time, 1)
                          != 0)
        {
            return -1;
        }

        return 0;

    case EV_PULL:
        repo_id = repo_find(db, ev->repo);
        if (repo_id < 0) {
            return -1;
        }

        art = 0;
        rc = 0;

        if (repo_id > 0) {
            snprintf(rid, sizeof(rid), "%lld", repo_id);
            res = db_execv(db, "SELECT id FROM artifact WHERE"
                           " repository_id = $1 AND digest = $2", 2, rid,
                           ev->digest);
            if (res == NULL) {
                return -1;
            }
            art = PQntuples(res) == 1 ? db_ll(res, 0, 0) : 0;
            PQclear(res);
        }

        /* its push line was lost (a crash between the two): from storage */
        if (art == 0) {
            if (store_revision(ev->repo, ev->digest, NULL) != STORE_OK) {
                return 0;
            }

            if (repo_id == 0) {
                repo_id = repo_ensure(db, ev->repo);
                if (repo_id < 0) {
                    return -1;
                }
            }

            rc = artifact_import(db, repo_id, ev->repo, ev->digest, NULL, 0,
                                 &art);
            if (rc <= 0) {
                return rc;
            }
        }

        snprintf(rid, sizeof(rid), "%lld", repo_id);
        snprintf(aid, sizeof(aid), "%lld", art);

        if (db_cmd(db, "UPDATE artifact SET pull_count = pull_count + 1,"
                   " pull_time = GREATEST(pull_time, $2::timestamptz)"
                   " WHERE id = $1", 2, aid, ev->time) < 0
            || db_cmd(db, "UPDATE repository SET pull_count = pull_count + 1"
                      " WHERE repository_id = $1", 1, rid) < 0)
        {
            return -1;
        }

        if (ev->tag[0]
            && db_cmd(db, "UPDATE tag SET pull_time ="
                      " GREATEST(pull_time, $4::timestamptz)"
                      " WHERE repository_id = $1 AND name = $2"
                      " AND artifact_id = $3", 4, rid, ev->tag, aid,
                      ev->time) < 0)
        {
            return -1;
        }

        return 0;

    case EV_DELETE:
        repo_id = repo_find(db, ev->repo);
        if (repo_id <= 0) {
            return (int) repo_id;
        }

        snprintf(rid, sizeof(rid), "%lld", repo_id);

        if (db_cmd(db, "UPDATE repository SET update_time ="
                   " GREATEST(update_time, $2::timestamptz)"
                   " WHERE repository_id = $1", 2, rid, ev->time) < 0)
        {
            return -1;
        }

        if (ev->tag[0]) {
            return tag_sync(db, repo_id, ev->repo, ev->tag, ev->time, 0);
        }

        return artifact_forget(db, repo_id, ev->digest);
    }

    return 0;
}


/*
 * The checkpoint, in the caller's transaction: the file at the path
 * (journal_cur) and, while there is one, the rotated file still drained
 * (journal_drain), each at its offset; f (one of the two) at end.
 */
static int
journal_checkpoint(struct dbc *db, struct jfile *f, off_t end)
{
    struct jfile  *c, *d;
    char           ino[32], off[32], dino[32], doff[32];
    int            drain;

    c = &journal_cur;
    d = &journal_drain;
    drain = d->fd != -1;

    snprintf(ino, sizeof(ino), "%llu", (unsigned long long) c->ino);
    snprintf(off, sizeof(off), "%lld", (long long) (f == c ? end : c->off));
    snprintf(dino, sizeof(dino), "%llu", (unsigned long long) d->ino);
    snprintf(doff, sizeof(doff), "%lld", (long long) (f == d ? end : d->off));

    return db_cmd(db, "INSERT INTO journal_checkpoint (id, path, inode,"
                  " first_id, byte_offset, drain_inode, drain_first_id,"
                  " drain_offset) VALUES (1, $1, $2, $3, $4, $5, $6, $7)"
                  " ON CONFLICT (id) DO UPDATE SET path = EXCLUDED.path,"
                  " inode = EXCLUDED.inode, first_id = EXCLUDED.first_id,"
                  " byte_offset = EXCLUDED.byte_offset,"
                  " drain_inode = EXCLUDED.drain_inode,"
                  " drain_first_id = EXCLUDED.drain_first_id,"
                  " drain_offset = EXCLUDED.drain_offset,"
                  " update_time = now()", 7,
                  conf->journal, ino, c->first_id, off,
                  drain ? dino : NULL, drain ? d->first_id : "",
                  drain ? doff : NULL) < 0 ? -1 : 0;
}


/* milliseconds since t0 */
static long
journal_ms(const struct timespec *t0)
{
    struct timespec  t;

    clock_gettime(CLOCK_MONOTONIC, &t);

    return (long) (t.tv_sec - t0->tv_sec) * 1000
           + (t.tv_nsec - t0->tv_nsec) / 1000000;
}


/*
 * Events [0, n) of f and the checkpoint (f at end), in one transaction;
 * or, when
 * applying them takes longer than JOURNAL_BATCH_MS, the first *done of
 * them and the checkpoint after the last of those, so that a slow event
 * (an index of thousands of children) neither keeps the lock nor hides
 * the events before it for long.  0, or -1 with *conn set when the
 * database is unavailable (try again later) rather than refusing these
 * events.
 */
static int
journal_commit(struct dbc *db, struct jfile *f, struct jevent *ev, int n,
    off_t end, int *conn, int *done)
{
    struct timespec  t0;
    PGresult        *res;
    int              i;

    *conn = 1;
    *done = 0;
    clock_gettime(CLOCK_MONOTONIC, &t0);

    if (db_begin(db) != 0) {
        goto fail;
    }

    /* one reader at a time, if two authd share a database */
    res = db_execv(db, "SELECT 1 FROM journal_checkpoint WHERE id = 1"
                   " FOR UPDATE", 0);
    if (res == NULL) {
        goto fail;
    }
    PQclear(res);

    for (i = 0; i < n; i++) {
        if (ev[i].ok && journal_apply(db, &ev[i]) != 0) {
            goto fail;
        }

        if (i + 1 < n && journal_ms(&t0) >= JOURNAL_BATCH_MS) {
            end = ev[i].end;
            i++;
            break;
        }
    }

    if (journal_checkpoint(db, f, end) != 0 || db_commit(db) != 0) {
        goto fail;
    }

    *done = i;

    return 0;

fail:

    *conn = db->err == DB_ERR_CONN;
    db_rollback(db);

    return -1;
}


/*
 * A batch of f's events, committed in one or more transactions
 * (journal_commit); when
 * the database refuses one (not merely unavailable), its events one by
 * one, and one it refuses alone is skipped with a warning so that the
 * journal does not stop behind it.  f->off follows what is committed.
 * 0, or -1 to try again.
 */
static int
journal_batch(struct jfile *f, struct jevent *ev, int n, off_t end)
{
    struct dbc  *db;
    int          conn, i, rc, done;

    /* the connection first, then the lock: an API request holding a
       connection may be waiting for the lock */
    db = db_get();
    if (db == NULL) {
        return -1;
    }

    rc = 0;

    do {
        /* the lock per transaction: the API's updates go in between */
        meta_lock();

        if (journal_commit(db, f, ev, n, end, &conn, &done) == 0) {
            meta_unlock();
            ev += done;
            n -= done;
            f->off = n > 0 ? ev[-1].end : end;
            continue;
        }

        if (conn) {
            meta_unlock();
            rc = -1;
            break;
        }

        for (i = 0; i < n; i++) {
            if (journal_commit(db, f, &ev[i], 1, ev[i].end, &conn, &done)
                == 0)
            {
                f->off = ev[i].end;
                continue;
            }

            if (conn) {
                rc = -1;
                break;
            }

            log_warnx("journal: event %s (%s %s) could not be applied; "
                      "skipped (reindex rebuilds the tables from storage)",
                      ev[i].id, ev[i].repo, ev[i].digest);

            if (journal_commit(db, f, NULL, 0, ev[i].end, &conn, &done)
                != 0)
            {
                rc = -1;
                break;
            }

            f->off = ev[i].end;
        }

        meta_unlock();
        break;

    } while (n > 0);

    db_put(db);

    return rc;
}


/*
 * Reads what there is after f->off and applies it.  1 if it moved on,
 * 0 at the end of the file, -1 to try again later.
 */
static int
journal_pump(struct jfile *f)
{
    ssize_t  n;
    size_t   pos, len;
    char    *nl;
    off_t    end;
    int      k;

    n = pread(f->fd, journal_buf, JOURNAL_BUF, f->off);
    if (n < 0) {
        log_warn("journal: read \"%s\"", conf->journal);
        return -1;
    }

    if (n == 0) {
        return 0;
    }

    pos = 0;
    k = 0;

    if (f->skipping) {
        nl = memchr(journal_buf, '\n', (size_t) n);
        if (nl == NULL) {
            f->off += n;
            return 1;
        }
        pos = (size_t) (nl - journal_buf) + 1;
        f->skipping = 0;
    }

    while (pos < (size_t) n && k < JOURNAL_BATCH) {
        nl = memchr(journal_buf + pos, '\n', (size_t) n - pos);
        if (nl == NULL) {
            break;
        }

        len = (size_t) (nl - (journal_buf + pos));

        if (f->off == 0 && pos == 0 && len > 0) {
            (void) journal_line_id(journal_buf, len, f->first_id);
        }

        if (len > 0) {
            journal_parse(journal_buf + pos, len, &journal_ev[k]);
            journal_ev[k].end = f->off + (off_t) (pos + len + 1);
            k++;
        }

        pos += len + 1;
    }

    if (pos == 0) {
        if ((size_t) n == JOURNAL_BUF) {
            log_warnx("journal: a line longer than %d bytes; skipped",
                      JOURNAL_BUF);
            f->skipping = 1;
            f->off += n;
            return 1;
        }

        /* half a line: its writer has not finished */
        return 0;
    }

    end = f->off + (off_t) pos;

    if (journal_batch(f, journal_ev, k, end) != 0) {
        return -1;
    }

    f->off = end;

    return 1;
}


struct jcheckpoint {
    char                 path[PATH_MAX];
    unsigned long long   ino;
    char                 first[JOURNAL_ID_LEN + 1];
    long long            off;
    unsigned long long   drain_ino;          /* 0: no file drained */
    char                 drain_first[JOURNAL_ID_LEN + 1];
    long long            drain_off;
};


/* the checkpoint: 1 with its fields, 0 if none, -1 on error */
static int
journal_load(struct jcheckpoint *ck)
{
    struct dbc  *db;
    PGresult    *res;
    int          rc;

    memset(ck, 0, sizeof(*ck));

    db = db_get();
    if (db == NULL) {
        return -1;
    }

    res = db_execv(db, "SELECT path, inode, first_id, byte_offset,"
                   " COALESCE(drain_inode, 0), drain_first_id,"
                   " COALESCE(drain_offset, 0)"
                   " FROM journal_checkpoint WHERE id = 1", 0);
    if (res == NULL) {
        db_put(db);
        return -1;
    }

    rc = PQntuples(res) == 1;
    if (rc) {
        snprintf(ck->path, sizeof(ck->path), "%s", db_s(res, 0, 0));
        ck->ino = (unsigned long long) db_ll(res, 0, 1);
        snprintf(ck->first, sizeof(ck->first), "%s", db_s(res, 0, 2));
        ck->off = db_ll(res, 0, 3);
        ck->drain_ino = (unsigned long long) db_ll(res, 0, 4);
        snprintf(ck->drain_first, sizeof(ck->drain_first), "%s",
                 db_s(res, 0, 5));
        ck->drain_off = db_ll(res, 0, 6);
    }

    PQclear(res);
    db_put(db);

    return rc;
}


/* the directory of the journal */
static void
journal_dir(char *dir, size_t len)
{
    char  tmp[PATH_MAX];

    snprintf(tmp, sizeof(tmp), "%s", conf->journal);
    snprintf(dir, len, "%s", dirname(tmp));
}


/* a file of the journal's directory with this inode (a rotated journal) */
static int
journal_find_inode(unsigned long long ino, const char *first)
{
    DIR            *d;
    struct dirent  *e;
    struct stat     st;
    char            dir[PATH_MAX], path[PATH_MAX], id[JOURNAL_ID_LEN + 1];
    int             fd;

    journal_dir(dir, sizeof(dir));

    d = opendir(dir);
    if (d == NULL) {
        return -1;
    }

    fd = -1;

    while ((e = readdir(d)) != NULL) {
        if (snprintf(path, sizeof(path), "%s/%s", dir, e->d_name)
            >= (int) sizeof(path)
            || lstat(path, &st) != 0 || !S_ISREG(st.st_mode)
            || (unsigned long long) st.st_ino != ino)
        {
            continue;
        }

        fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd == -1) {
            continue;
        }

        journal_first_id(fd, id);
        if (first[0] == '\0' || strcmp(first, id) == 0) {
            log_info("journal: finishing the rotated file %s", path);
            break;
        }

        close(fd);
        fd = -1;
    }

    closedir(d);

    return fd;
}


static int
journal_open_path(struct jfile *f)
{
    struct stat  st;

    f->fd = open(conf->journal, O_RDONLY | O_CLOEXEC);
    if (f->fd == -1) {
        return -1;
    }

    if (fstat(f->fd, &st) == -1 || !S_ISREG(st.st_mode)) {
        close(f->fd);
        f->fd = -1;
        return -1;
    }

    f->ino = st.st_ino;
    f->off = 0;
    f->first_id[0] = '\0';
    f->skipping = 0;

    return 0;
}


/* the rotated file the checkpoint was draining, to go on with */
static void
journal_resume_drain(struct jcheckpoint *ck)
{
    struct jfile  *d;
    struct stat    st;
    int            fd;

    d = &journal_drain;

    fd = journal_find_inode(ck->drain_ino, ck->drain_first);

    if (fd != -1 && fstat(fd, &st) == 0 && st.st_size >= ck->drain_off) {
        d->fd = fd;
        d->ino = st.st_ino;
        d->off = ck->drain_off;
        snprintf(d->first_id, sizeof(d->first_id), "%s", ck->drain_first);
        d->skipping = 0;
        journal_drain_since = time(NULL);
        journal_drain_moved = journal_drain_since;
        return;
    }

    if (fd != -1) {
        close(fd);
    }

    log_warnx("journal: the rotated file drained at the last checkpoint is "
              "gone; lines written to it late are lost (run a reindex)");
}


/*
 * Where to start: the checkpoint's file and offset if it is still at the
 * path; else that file found under another name (rotated), to finish
 * first; else the current file from 0 (what was in a rotated file that
 * is gone is lost: reindex rebuilds from storage).  A rotated file the
 * checkpoint was draining is drained on.  0, or -1 to try again later.
 */
static int
journal_resume(void)
{
    struct jcheckpoint   ck;
    struct jfile        *f;
    char                 id[JOURNAL_ID_LEN + 1];
    struct stat          st;
    int                  rc, fd;

    f = &journal_cur;

    rc = journal_load(&ck);
    if (rc < 0) {
        return -1;
    }

    if (journal_open_path(f) != 0) {
        /* once per cause, not every second */
        if (errno != ENOENT && errno != journal_errno) {
            log_warn("journal: open \"%s\"", conf->journal);
        }
        journal_errno = errno;
        return -1;
    }

    journal_errno = 0;

    if (rc == 0 || strcmp(ck.path, conf->journal) != 0) {
        log_info("journal: reading %s from the start", conf->journal);
        return 0;
    }

    if (ck.drain_ino != 0) {
        journal_resume_drain(&ck);
    }

    journal_first_id(f->fd, id);

    if ((unsigned long long) f->ino == ck.ino
        && (ck.first[0] == '\0' || strcmp(ck.first, id) == 0)
        && fstat(f->fd, &st) == 0 && st.st_size >= ck.off)
    {
        f->off = ck.off;
        snprintf(f->first_id, sizeof(f->first_id), "%s",
                 ck.first[0] ? ck.first : id);
        log_info("journal: resuming %s at byte %lld", conf->journal, ck.off);
        return 0;
    }

    fd = journal_find_inode(ck.ino, ck.first);

    if (fd != -1) {
        if (fstat(fd, &st) == 0 && st.st_size >= ck.off) {
            close(f->fd);
            f->fd = fd;
            f->ino = st.st_ino;
            f->off = ck.off;
            snprintf(f->first_id, sizeof(f->first_id), "%s", ck.first);
            f->skipping = 0;
            return 0;
        }
        close(fd);
    }

    log_warnx("journal: the file of the last checkpoint is gone; reading "
              "%s from the start (events of a rotated file removed while "
              "authd was down are lost: run a reindex)", conf->journal);

    return 0;
}


static void
journal_wait(int ifd)
{
    struct pollfd  pfd[2];
    char           buf[4096];
    int            n;

    n = 0;
    pfd[n].fd = journal_wake[0];
    pfd[n].events = POLLIN;
    n++;

    if (ifd != -1) {
        pfd[n].fd = ifd;
        pfd[n].events = POLLIN;
        n++;
    }

    if (poll(pfd, (nfds_t) n, JOURNAL_WAIT_MS) > 0 && n == 2
        && (pfd[1].revents & POLLIN))
    {
        /* drain: which event it was does not matter, the file is read */
        while (read(ifd, buf, sizeof(buf)) > 0) {
            /* void */
        }
    }
}


/* a checkpoint of where the files are, outside any batch */
static void
journal_record(void)
{
    if (journal_batch(&journal_cur, NULL, 0, journal_cur.off) != 0) {
        log_debug("journal: checkpoint deferred");
    }
}


/*
 * The drained file is let go: it has been quiet for JOURNAL_DRAIN_QUIET
 * seconds (every worker has reopened the journal), or drained for
 * JOURNAL_DRAIN_MAX, or another rotation came.
 */
static void
journal_drain_end(const char *why)
{
    log_info("journal: done with the rotated file (%s)", why);

    close(journal_drain.fd);
    journal_drain.fd = -1;

    journal_record();
}


/*
 * The switch to the file at the path, from 0, recorded at once.  The
 * rotated file is drained on: a worker that has not reopened the journal
 * yet still appends to it (one write(2) per whole line), so its lines
 * are read until it has been quiet for JOURNAL_DRAIN_QUIET seconds.  The
 * checkpoint names both files until then, so a restart drains on.
 */
static int
journal_switch(void)
{
    struct jfile  nf;

    if (journal_open_path(&nf) != 0) {
        return -1;
    }

    if (journal_drain.fd != -1) {
        journal_drain_end("rotated again");
    }

    journal_drain = journal_cur;
    journal_drain_since = time(NULL);
    journal_drain_moved = journal_drain_since;
    journal_cur = nf;

    log_info("journal: %s was rotated; reading the new file, and the old "
             "one until it has been quiet for %d seconds", conf->journal,
             JOURNAL_DRAIN_QUIET);

    journal_record();

    return 0;
}


/*
 * The rotated file being drained: its lines (older than the new file's)
 * first, then whether to let it go.  1 if it moved on, 0 if not, -1 to
 * try again later.
 */
static int
journal_drain_pump(void)
{
    time_t  now;
    int     rc;

    if (journal_drain.fd == -1) {
        return 0;
    }

    rc = journal_pump(&journal_drain);

    if (rc > 0) {
        journal_drain_moved = time(NULL);
        return 1;
    }

    if (rc < 0) {
        return -1;
    }

    now = time(NULL);

    if (now - journal_drain_moved >= JOURNAL_DRAIN_QUIET) {
        journal_drain_end("quiet");

    } else if (now - journal_drain_since >= JOURNAL_DRAIN_MAX) {
        journal_drain_end("drained for too long: later lines are lost");
    }

    return 0;
}


static void *
journal_main(void *arg)
{
    struct jfile  *f;
    struct stat    st, fst;
    char           dir[PATH_MAX];
    int            ifd, rc, resumed, warned;
    long long      asof;

    (void) arg;

    f = &journal_cur;
    resumed = 0;
    warned = 0;

    journal_dir(dir, sizeof(dir));

    ifd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
    if (ifd == -1) {
        log_warn("journal: inotify (polling every second instead)");
    } else if (inotify_add_watch(ifd, dir, IN_MODIFY | IN_CREATE
                                 | IN_MOVED_TO | IN_MOVED_FROM
                                 | IN_CLOSE_WRITE | IN_DELETE) == -1)
    {
        log_warn("journal: inotify on \"%s\" (polling every second "
                 "instead)", dir);
    }

    while (!journal_quit) {

        if (!resumed) {
            if (journal_resume() != 0) {
                if (!warned) {
                    log_info("journal: waiting for %s and the database",
                             conf->journal);
                    warned = 1;
                }
                if (f->fd != -1) {
                    close(f->fd);
                    f->fd = -1;
                }
                journal_wait(ifd);
                continue;
            }
            resumed = 1;
        }

        asof = quota_now_ms();

        rc = journal_drain_pump();

        if (rc == 0) {
            rc = journal_pump(f);
        }

        if (rc > 0) {
            continue;
        }

        if (rc < 0) {
            journal_wait(-1);
            continue;
        }

        /* at the end: was the file rotated, or truncated? */
        if (stat(conf->journal, &st) != 0 || st.st_ino != f->ino) {
            if (journal_switch() == 0) {
                continue;
            }

            asof = 0;       /* the path's file is not the one read */

        } else if (fstat(f->fd, &fst) == 0 && fst.st_size < f->off) {
            log_warnx("journal: %s was truncated; reading it from the "
                      "start", conf->journal);
            f->off = 0;
            f->first_id[0] = '\0';
            f->skipping = 0;
            continue;
        }

        /*
         * At the end of the file still at the path (so not rotated since
         * asof): every line written before asof is applied; the quota
         * files say so.
         */
        if (asof > 0) {
            quota_journal_flush(asof);
        }

        journal_wait(ifd);
    }

    if (f->fd != -1) {
        close(f->fd);
        f->fd = -1;
    }

    if (journal_drain.fd != -1) {
        close(journal_drain.fd);
        journal_drain.fd = -1;
    }

    if (ifd != -1) {
        close(ifd);
    }

    return NULL;
}


int
journal_start(void)
{
    sigset_t  all, old;
    int       rc;

    if (conf->journal == NULL) {
        log_info("journal: authd.journal is not set; repositories and "
                 "artifacts are not recorded");
        return 0;
    }

    if (!store_enabled()) {
        log_warnx("journal: authd.registry_storage is not set; artifacts "
                  "cannot be read from storage and are not recorded");
        return 0;
    }

    journal_buf = malloc(JOURNAL_BUF);
    journal_ev = calloc(JOURNAL_BATCH, sizeof(struct jevent));
    if (journal_buf == NULL || journal_ev == NULL
        || pipe2(journal_wake, O_CLOEXEC | O_NONBLOCK) == -1)
    {
        log_warn("journal");
        return -1;
    }

    /* signals are the main thread's */
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, &old);
    rc = pthread_create(&journal_tid, NULL, journal_main, NULL);
    pthread_sigmask(SIG_SETMASK, &old, NULL);

    if (rc != 0) {
        log_warnx("journal: cannot start its thread");
        return -1;
    }

    journal_running = 1;
    log_info("journal: reading %s", conf->journal);

    return 0;
}


void
journal_stop(void)
{
    if (!journal_running) {
        return;
    }

    journal_quit = 1;
    if (write(journal_wake[1], "x", 1) == -1) {
        log_warn("journal: wake");
    }
    pthread_join(journal_tid, NULL);
    journal_running = 0;

    close(journal_wake[0]);
    close(journal_wake[1]);
    free(journal_buf);
    free(journal_ev);
}
