/*
 * authd: garbage collection as a job (docs/gc.md), Harbor's gc API.
 *
 *   GET  /system/gc                  history, paginated
 *   GET  /system/gc/{id}             one run, with its progress
 *   PUT  /system/gc/{id}             stop a run
 *   GET  /system/gc/{id}/log         its log, text
 *   GET  /system/gc/schedule         the schedule
 *   POST /system/gc/schedule         Manual: run now; otherwise set it
 *   PUT  /system/gc/schedule         set it
 *
 * System administrators only.  A run is a process of its own, `authd -G`
 * (gc_main.c), started with posix_spawn() by a thread of authd that
 * supervises it: the worker writes progress and log lines to a pipe, the
 * thread stores them in the run's gc_history row, taking a database
 * connection for each update only.  One run at a time.  A scheduler
 * thread starts runs on the schedule's cron (6 fields, seconds first, as
 * Harbor's; matched to the minute).
 */

#include <sys/types.h>
#include <sys/wait.h>

#include <errno.h>
#include <poll.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "authd.h"


#define GC_LOG_MAX     (4 * 1024 * 1024)   /* log bytes kept per run */

int                     authd_debug;       /* set by main: -d */

static pthread_mutex_t  gc_mtx = PTHREAD_MUTEX_INITIALIZER;
static long long        gc_running_id;     /* 0: none */
static pid_t            gc_pid;
static int              gc_stopping;


struct gc_job {
    long long        id;
    struct gc_opts   o;
    char             user[AUTHD_USER_MAX + 1];
};


#define GC_COLS                                                             \
    "id, job_name, job_kind, job_parameters, job_status, deleted, "        \
    DB_TIME("creation_time") ", " DB_TIME("update_time") ", progress, "    \
    "result, operator"


static json_t *
gc_row_json(PGresult *res, int i)
{
    json_t  *j, *p;

    j = json_pack("{s:I, s:s, s:s, s:s, s:s, s:b, s:o, s:o, s:s}",
                  "id", (json_int_t) db_ll(res, i, 0),
                  "job_name", db_s(res, i, 1),
                  "job_kind", db_s(res, i, 2),
                  "job_parameters", db_s(res, i, 3),
                  "job_status", db_s(res, i, 4),
                  "deleted", db_b(res, i, 5),
                  "creation_time", db_json_s(res, i, 6),
                  "update_time", db_json_s(res, i, 7),
                  "operator", db_s(res, i, 10));
    if (j == NULL) {
        return NULL;
    }

    p = json_loads(db_s(res, i, 8), 0, NULL);
    json_object_set_new(j, "progress", p != NULL ? p : json_object());
    p = json_loads(db_s(res, i, 9), 0, NULL);
    json_object_set_new(j, "result", p != NULL ? p : json_object());
    json_object_set_new(j, "schedule", json_pack("{s:s, s:s, s:n}",
                        "type", strcmp(db_s(res, i, 2), "MANUAL") == 0
                                ? "Manual" : "Schedule",
                        "cron", "", "next_scheduled_time"));

    return j;
}


/* cron: 6 fields, "sec min hour dom month dow"; *, n, a-b, lists, /step */
static int
cron_field(const char *f, int v, int lo, int hi)
{
    char        buf[128], *item, *save, *slash, *dash;
    int         a, b, step;

    if (snprintf(buf, sizeof(buf), "%s", f) >= (int) sizeof(buf)) {
        return -1;
    }

    for (item = strtok_r(buf, ",", &save); item != NULL;
         item = strtok_r(NULL, ",", &save))
    {
        step = 1;
        slash = strchr(item, '/');
        if (slash != NULL) {
            *slash = '\0';
            step = atoi(slash + 1);
            if (step < 1) {
                return -1;
            }
        }

        if (strcmp(item, "*") == 0 || strcmp(item, "?") == 0) {
            a = lo;
            b = hi;
        } else {
            dash = strchr(item, '-');
            if (dash != NULL) {
                *dash = '\0';
            }
            if (item[0] < '0' || item[0] > '9') {
                return -1;
            }
            a = atoi(item);
            b = dash != NULL ? atoi(dash + 1) : (slash != NULL ? hi : a);
        }

        if (a < lo || b > hi || a > b) {
            return -1;
        }

        if (v >= a && v <= b && (v - a) % step == 0) {
            return 1;
        }
    }

    return 0;
}


/* 1 if the minute of tm matches, 0 if not, -1 if cron is not valid */
int
cron_match(const char *cron, const struct tm *tm)
{
    char  f[6][128];
    int   n, rc, i;
    int   lo[6] = { 0, 0, 0, 1, 1, 0 }, hi[6] = { 59, 59, 23, 31, 12, 7 };
    int   v[6];

    n = sscanf(cron, "%127s %127s %127s %127s %127s %127s", f[0], f[1], f[2],
               f[3], f[4], f[5]);
    if (n != 6) {
        return -1;
    }

    v[0] = 0;
    v[1] = tm->tm_min;
    v[2] = tm->tm_hour;
    v[3] = tm->tm_mday;
    v[4] = tm->tm_mon + 1;
    v[5] = tm->tm_wday;

    rc = 1;
    for (i = 0; i < 6; i++) {
        int  m = cron_field(f[i], v[i], lo[i], hi[i]);

        if (m < 0) {
            return -1;
        }
        if (i == 0) {
            continue;                    /* to the minute */
        }
        if (m == 0 && !(i == 5 && tm->tm_wday == 0
                        && cron_field(f[i], 7, lo[i], hi[i]) == 1))
        {
            rc = 0;
        }
    }

    return rc;
}


static const char *
cron_of(const char *type, const char *cron)
{
    if (strcmp(type, "Hourly") == 0) {
        return "0 0 * * * *";
    }
    if (strcmp(type, "Daily") == 0) {
        return "0 0 0 * * *";
    }
    if (strcmp(type, "Weekly") == 0) {
        return "0 0 0 * * 0";
    }
    if (strcmp(type, "Custom") == 0) {
        return cron;
    }
    return NULL;
}


/* the next minute cron matches, within 8 days; 0 if none */
static time_t
cron_next(const char *cron, time_t from)
{
    struct tm  tm;
    time_t     t;

    for (t = from - from % 60 + 60; t < from + 8 * 86400; t += 60) {
        gmtime_r(&t, &tm);
        if (cron_match(cron, &tm) == 1) {
            return t;
        }
    }

    return 0;
}


/* one UPDATE of the run's row, on a connection taken for it alone */
static int
gc_update(const char *ids, const char *sql, const char *value)
{
    struct dbc  *db;
    long         rc;

    db = db_get();
    if (db == NULL) {
        return -1;
    }

    rc = db_cmd(db, sql, 2, ids, value);
    db_put(db);

    return rc < 0 ? -1 : 0;
}


/*
 * What the worker said, batched: log lines are appended and progress is
 * written at most once a second (a run deleting 100,000 blobs writes as
 * many lines; one UPDATE each would be quadratic in the log's size).
 * What could not be written (no database connection) is kept for the
 * next flush.
 */
struct gc_sink {
    char         ids[32];
    char        *log;
    size_t       len, cap, logged;
    char         prog[256];
    int          prog_dirty;
};


static void
gc_flush(struct gc_sink *k)
{
    if (k->len > 0) {
        k->log[k->len] = '\0';
        if (gc_update(k->ids, "UPDATE gc_history SET log = log || $2,"
                      " update_time = now() WHERE id = $1::integer", k->log)
            == 0)
        {
            k->len = 0;
        }
    }

    if (k->prog_dirty
        && gc_update(k->ids, "UPDATE gc_history SET progress = $2,"
                     " update_time = now() WHERE id = $1::integer", k->prog)
           == 0)
    {
        k->prog_dirty = 0;
    }
}


static void
gc_line(struct gc_sink *k, char *line)
{
    char        ph[32], *p;
    long long   done, total, examined;
    size_t      n;
    int         m;

    if (line[0] == 'L' && line[1] == ' ') {
        if (k->logged > GC_LOG_MAX) {
            return;
        }
        n = strlen(line + 2);
        k->logged += n + 1;
        if (k->logged > GC_LOG_MAX) {
            line = "L (log truncated)";
            n = strlen(line + 2);
        }
        if (k->len + n + 2 > k->cap) {
            p = realloc(k->log, k->cap * 2 + n + 2);
            if (p == NULL) {
                return;
            }
            k->log = p;
            k->cap = k->cap * 2 + n + 2;
        }
        memcpy(k->log + k->len, line + 2, n);
        k->len += n;
        k->log[k->len++] = '\n';
        return;
    }

    if (line[0] == 'P' && line[1] == ' ') {
        examined = -1;
        m = sscanf(line + 2, "%31s %lld %lld %lld", ph, &done, &total,
                   &examined);
        if (m < 3) {
            return;
        }
        if (m == 4) {
            snprintf(k->prog, sizeof(k->prog), "{\"phase\":\"%s\","
                     "\"done\":%lld,\"total\":%lld,\"examined\":%lld}", ph,
                     done, total, examined);
        } else {
            snprintf(k->prog, sizeof(k->prog), "{\"phase\":\"%s\","
                     "\"done\":%lld,\"total\":%lld}", ph, done, total);
        }
        k->prog_dirty = 1;
        return;
    }

    if (line[0] == 'R' && line[1] == ' ') {
        gc_flush(k);
        if (gc_update(k->ids, "UPDATE gc_history SET result = $2,"
                      " update_time = now() WHERE id = $1::integer",
                      line + 2) != 0)
        {
            log_warnx("garbage collection %s: the result could not be "
                      "stored", k->ids);
        }
    }
}


/* the worker's lines until it closes the pipe */
static void
gc_read(struct gc_sink *k, int fd)
{
    struct pollfd  pfd;
    char           buf[8192], line[2048];
    size_t         ll;
    ssize_t        n, i;
    time_t         last;
    int            rc;

    ll = 0;
    last = time(NULL);

    for ( ;; ) {
        pfd.fd = fd;
        pfd.events = POLLIN;
        rc = poll(&pfd, 1, 500);

        if (rc > 0) {
            n = read(fd, buf, sizeof(buf));
            if (n == 0 || (n < 0 && errno != EINTR && errno != EAGAIN)) {
                break;
            }
            for (i = 0; i < n; i++) {
                if (buf[i] == '\n') {
                    line[ll] = '\0';
                    gc_line(k, line);
                    ll = 0;
                } else if (ll < sizeof(line) - 1) {
                    line[ll++] = buf[i];
                }
            }
        }

        if (time(NULL) != last || k->len > 256 * 1024) {
            gc_flush(k);
            last = time(NULL);
        }
    }

    gc_flush(k);
}


/*
 * The worker: authd's own binary, exec'd (`authd -G <run> -f <conf>`),
 * with stdio and the pipe on fd 3 only, every signal back to default.
 * Never a fork of this threaded process without exec.
 */
static pid_t
gc_spawn(struct gc_job *job, int fd, char *err, size_t errlen)
{
    posix_spawn_file_actions_t   fa;
    posix_spawnattr_t            at;
    sigset_t                     none, dflt;
    char                         run[AUTHD_USER_MAX + 128];
    char                        *argv[8];
    pid_t                        pid;
    int                          n, rc, i, own;

    own = -1;

    n = snprintf(run, sizeof(run), "ppid=%ld,workers=%d,delete_untagged=%d,"
                 "dry_run=%d,user=%s", (long) getpid(), job->o.workers,
                 job->o.delete_untagged, job->o.dry_run, job->user);
    if (n < 0 || (size_t) n >= sizeof(run)) {
        snprintf(err, errlen, "the run's arguments are too long");
        return -1;
    }

    i = 0;
    argv[i++] = "authd";
    if (authd_debug) {
        argv[i++] = "-d";
    }
    argv[i++] = "-G";
    argv[i++] = run;
    argv[i++] = "-f";
    argv[i++] = conf->path;
    argv[i] = NULL;

    sigemptyset(&none);
    sigemptyset(&dflt);
    sigaddset(&dflt, SIGTERM);
    sigaddset(&dflt, SIGINT);
    sigaddset(&dflt, SIGHUP);
    sigaddset(&dflt, SIGPIPE);

    /* never dup2 onto itself: that would keep its close-on-exec flag */
    if (fd == GC_PROGRESS_FD) {
        fd = fcntl(fd, F_DUPFD_CLOEXEC, GC_PROGRESS_FD + 1);
        if (fd == -1) {
            snprintf(err, errlen, "fcntl F_DUPFD_CLOEXEC: %s",
                     strerror(errno));
            return -1;
        }
        own = fd;
    }

    posix_spawn_file_actions_init(&fa);
    posix_spawnattr_init(&at);

    /* dup2 onto fd 3 clears close-on-exec; everything above 3 is closed */
    rc = posix_spawn_file_actions_adddup2(&fa, fd, GC_PROGRESS_FD);
    if (rc == 0) {
        rc = posix_spawn_file_actions_addclosefrom_np(&fa,
                                                      GC_PROGRESS_FD + 1);
    }
    if (rc == 0) {
        rc = posix_spawnattr_setsigmask(&at, &none);
    }
    if (rc == 0) {
        rc = posix_spawnattr_setsigdefault(&at, &dflt);
    }
    if (rc == 0) {
        rc = posix_spawnattr_setflags(&at, POSIX_SPAWN_SETSIGMASK
                                           | POSIX_SPAWN_SETSIGDEF);
    }
    if (rc == 0) {
        rc = posix_spawn(&pid, "/proc/self/exe", &fa, &at, argv, environ);
    }

    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&at);

    if (own != -1) {
        close(own);
    }

    if (rc != 0) {
        snprintf(err, errlen, "posix_spawn \"/proc/self/exe\": %s",
                 strerror(rc));
        return -1;
    }

    return pid;
}


static void *
gc_thread(void *arg)
{
    struct gc_job  *job = arg;
    struct gc_sink  sink;
    char            ids[32], pids[32], msg[160];
    const char     *status;
    pid_t           pid;
    int             fds[2], ws, i, told;

    snprintf(ids, sizeof(ids), "%lld", job->id);
    status = "Error";
    msg[0] = '\0';
    memset(&sink, 0, sizeof(sink));

    if (pipe2(fds, O_CLOEXEC) == -1) {
        snprintf(msg, sizeof(msg), "pipe() failed: %s", strerror(errno));
        goto done;
    }

    pid = gc_spawn(job, fds[1], msg, sizeof(msg));
    close(fds[1]);
    if (pid == -1) {
        close(fds[0]);
        goto done;
    }

    pthread_mutex_lock(&gc_mtx);
    gc_pid = pid;
    pthread_mutex_unlock(&gc_mtx);

    snprintf(pids, sizeof(pids), "%ld", (long) pid);
    gc_update(ids, "UPDATE gc_history SET job_status = 'Running', pid = $2,"
              " update_time = now() WHERE id = $1::integer", pids);

    snprintf(sink.ids, sizeof(sink.ids), "%s", ids);
    gc_read(&sink, fds[0]);
    close(fds[0]);

    while (waitpid(pid, &ws, 0) == -1 && errno == EINTR) {
        /* again */
    }

    pthread_mutex_lock(&gc_mtx);
    if (gc_stopping) {
        status = "Stopped";
        snprintf(msg, sizeof(msg), "stopped");
    } else if (WIFEXITED(ws) && WEXITSTATUS(ws) == 0) {
        status = "Success";
    } else if (WIFSIGNALED(ws)) {
        snprintf(msg, sizeof(msg), "the worker was killed by signal %d",
                 WTERMSIG(ws));
    } else {
        snprintf(msg, sizeof(msg), "the worker failed");
    }
    pthread_mutex_unlock(&gc_mtx);

done:

    /* the end of the run must be recorded: retry a while without a db */
    told = msg[0] == '\0';
    for (i = 0; i < 30; i++) {
        gc_flush(&sink);
        if (!told) {
            told = gc_update(ids, "UPDATE gc_history SET log = log || $2 ||"
                             " E'\\n' WHERE id = $1::integer", msg) == 0;
        }
        if (sink.len == 0 && told
            && gc_update(ids, "UPDATE gc_history SET job_status = $2,"
                         " pid = 0, update_time = now()"
                         " WHERE id = $1::integer", status) == 0)
        {
            break;
        }
        sleep(1);
    }
    free(sink.log);

    log_info("garbage collection %lld: %s%s%s", job->id, status,
             msg[0] ? ": " : "", msg);

    pthread_mutex_lock(&gc_mtx);
    gc_running_id = 0;
    gc_pid = 0;
    gc_stopping = 0;
    pthread_mutex_unlock(&gc_mtx);

    free(job);

    return NULL;
}


/*
 * Start a run: a row, then the thread that forks the worker.  0 started,
 * 1 one runs already, -1 failed.
 */
static int
gc_launch(struct dbc *db, const char *kind, json_t *params,
    const char *user, long long *id_out)
{
    struct gc_job   *job;
    pthread_attr_t   attr;
    pthread_t        t;
    sigset_t         all, old;
    PGresult        *res;
    char            *ptext;
    json_t          *v;
    int              rc;

    pthread_mutex_lock(&gc_mtx);
    if (gc_running_id != 0) {
        pthread_mutex_unlock(&gc_mtx);
        return 1;
    }
    gc_running_id = -1;
    pthread_mutex_unlock(&gc_mtx);

    job = calloc(1, sizeof(*job));
    ptext = json_dumps(params, JSON_COMPACT | JSON_SORT_KEYS);
    if (job == NULL || ptext == NULL) {
        goto fail;
    }

    v = json_object_get(params, "delete_untagged");
    job->o.delete_untagged = json_is_true(v);
    v = json_object_get(params, "dry_run");
    job->o.dry_run = json_is_true(v);
    v = json_object_get(params, "workers");
    job->o.workers = json_is_integer(v) ? (int) json_integer_value(v)
                                        : conf->gc_workers;
    job->o.window = conf->gc_window;
    job->o.upload_age = conf->gc_upload_age;
    snprintf(job->user, sizeof(job->user), "%s", user);
    job->o.user = job->user;

    res = db_execv(db, "INSERT INTO gc_history (job_kind, job_parameters,"
                   " operator) VALUES ($1, $2, $3) RETURNING id", 3, kind,
                   ptext, user);
    if (res == NULL) {
        goto fail;
    }
    job->id = db_ll(res, 0, 0);
    PQclear(res);

    pthread_mutex_lock(&gc_mtx);
    gc_running_id = job->id;
    gc_stopping = 0;
    pthread_mutex_unlock(&gc_mtx);

    *id_out = job->id;

    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, &old);
    rc = pthread_create(&t, &attr, gc_thread, job);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    pthread_attr_destroy(&attr);

    if (rc != 0) {
        char  ids[32];

        snprintf(ids, sizeof(ids), "%lld", job->id);
        db_cmd(db, "UPDATE gc_history SET job_status = 'Error',"
               " log = 'cannot start a thread' WHERE id = $1::integer", 1,
               ids);
        goto fail;
    }

    free(ptext);
    return 0;

fail:

    free(job);
    free(ptext);
    pthread_mutex_lock(&gc_mtx);
    gc_running_id = 0;
    pthread_mutex_unlock(&gc_mtx);
    return -1;
}


/* the scheduler: once every 20 seconds, runs what the cron says is due */
static void *
gc_scheduler(void *arg)
{
    struct dbc  *db;
    PGresult    *res;
    struct tm    tm;
    const char  *cron;
    json_t      *params;
    time_t       now, last, last_fired;
    long long    id;

    (void) arg;
    last_fired = 0;

    while (!authd_quit) {
        sleep(20);

        now = time(NULL);
        db = db_get();
        if (db == NULL) {
            continue;
        }

        res = db_execv(db, "SELECT type, cron, parameters,"
                       " COALESCE(extract(epoch FROM last_run)::bigint, 0)"
                       " FROM gc_schedule WHERE id = 1", 0);
        if (res != NULL && PQntuples(res) == 1) {
            cron = cron_of(db_s(res, 0, 0), db_s(res, 0, 1));
            last = (time_t) db_ll(res, 0, 3);
            gmtime_r(&now, &tm);

            if (cron != NULL && cron_match(cron, &tm) == 1
                && now / 60 != last / 60 && now / 60 != last_fired / 60)
            {
                params = json_loads(db_s(res, 0, 2), 0, NULL);
                if (params != NULL
                    && gc_launch(db, "SCHEDULE", params, "admin", &id) == 0)
                {
                    last_fired = now;
                    db_cmd(db, "UPDATE gc_schedule SET last_run = now()"
                           " WHERE id = 1", 0);
                    log_info("garbage collection %lld: scheduled", id);
                }
                json_decref(params);
            }
        }
        PQclear(res);
        db_put(db);
    }

    return NULL;
}


/* at start: runs of an authd that died are over; the scheduler */
int
gc_start(void)
{
    struct dbc      *db;
    pthread_attr_t   attr;
    pthread_t        t;
    sigset_t         all, old;
    int              rc;

    db = db_get();
    if (db != NULL) {
        db_cmd(db, "UPDATE gc_history SET job_status = 'Error', pid = 0,"
               " log = log || E'authd restarted during the run\\n',"
               " update_time = now()"
               " WHERE job_status IN ('Pending', 'Running')", 0);
        db_put(db);
    }

    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, &old);
    rc = pthread_create(&t, &attr, gc_scheduler, NULL);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    pthread_attr_destroy(&attr);

    return rc == 0 ? 0 : -1;
}


/* {schedule:{type, cron}, parameters:{delete_untagged, dry_run, workers}} */
static int
gc_body(struct req *r, json_t *body, const char **type, const char **cron,
    json_t **params)
{
    json_t      *s, *p, *v;
    long long    w;
    int          b;

    s = json_object_get(body, "schedule");
    if (!json_is_object(s)) {
        http_error(r, 400, "\"schedule\" is required: {\"type\": \"Manual\"}");
        return -1;
    }

    *cron = "";
    if (body_str(r, s, "type", type, 16) != 0) {
        if (r->status == 0) {
            http_error(r, 400, "\"schedule.type\" is required");
        }
        return -1;
    }
    if (strcmp(*type, "Manual") != 0 && strcmp(*type, "None") != 0
        && cron_of(*type, "") == NULL)
    {
        http_error(r, 400, "\"schedule.type\": Manual, None, Hourly, Daily,"
                   " Weekly or Custom");
        return -1;
    }

    b = body_str(r, s, "cron", cron, 120);
    if (b < 0) {
        return -1;
    }
    if (strcmp(*type, "Custom") == 0) {
        struct tm  tm;
        time_t     now = time(NULL);

        gmtime_r(&now, &tm);
        if (b != 0 || cron_match(*cron, &tm) < 0) {
            http_error(r, 400, "\"schedule.cron\": six fields, seconds"
                       " first, e.g. \"0 0 3 * * *\"");
            return -1;
        }
    }

    /* only the known parameters, checked */
    *params = json_object();
    p = json_object_get(body, "parameters");
    if (p != NULL && !json_is_object(p)) {
        http_error(r, 400, "\"parameters\" must be an object");
        json_decref(*params);
        return -1;
    }
    if (p == NULL) {
        return 0;
    }

    if (body_bool(r, p, "delete_untagged", &b) < 0) {
        json_decref(*params);
        return -1;
    }
    v = json_object_get(p, "delete_untagged");
    if (json_is_boolean(v)) {
        json_object_set_new(*params, "delete_untagged",
                            json_boolean(json_is_true(v)));
    }

    if (body_bool(r, p, "dry_run", &b) < 0) {
        json_decref(*params);
        return -1;
    }
    v = json_object_get(p, "dry_run");
    if (json_is_boolean(v)) {
        json_object_set_new(*params, "dry_run", json_boolean(json_is_true(v)));
    }

    b = body_int(r, p, "workers", &w);
    if (b < 0) {
        json_decref(*params);
        return -1;
    }
    if (b == 0) {
        if (w < 1 || w > 64) {
            http_error(r, 400, "\"parameters.workers\": 1 to 64");
            json_decref(*params);
            return -1;
        }
        json_object_set_new(*params, "workers", json_integer(w));
    }

    return 0;
}


static void
gc_schedule_get(struct req *r)
{
    PGresult    *res;
    const char  *cron;
    char         next[32];
    json_t      *j;
    struct tm    tm;
    time_t       t;

    res = db_execv(r->db, "SELECT type, cron, parameters, "
                   DB_TIME("creation_time") ", " DB_TIME("update_time")
                   " FROM gc_schedule WHERE id = 1", 0);
    if (res == NULL) {
        http_db_error(r);
        return;
    }

    if (PQntuples(res) == 0) {
        PQclear(res);
        http_json(r, 200, json_pack("{s:{s:s, s:s, s:n}, s:s, s:{}}",
                  "schedule", "type", "None", "cron", "",
                  "next_scheduled_time", "job_name", "GARBAGE_COLLECTION",
                  "parameters"));
        return;
    }

    cron = cron_of(db_s(res, 0, 0), db_s(res, 0, 1));
    t = cron != NULL ? cron_next(cron, time(NULL)) : 0;
    next[0] = '\0';
    if (t != 0) {
        gmtime_r(&t, &tm);
        strftime(next, sizeof(next), "%Y-%m-%dT%H:%M:%SZ", &tm);
    }

    j = json_pack("{s:I, s:s, s:s, s:s, s:{s:s, s:s, s:o}, s:o, s:o, s:o}",
                  "id", (json_int_t) 1,
                  "job_name", "GARBAGE_COLLECTION",
                  "job_kind", "SCHEDULE",
                  "job_parameters", db_s(res, 0, 2),
                  "schedule", "type", db_s(res, 0, 0), "cron",
                  cron != NULL ? cron : "",
                  "next_scheduled_time",
                  next[0] ? json_string(next) : json_null(),
                  "parameters", json_loads(db_s(res, 0, 2), 0, NULL)
                                ?: json_object(),
                  "creation_time", db_json_s(res, 0, 3),
                  "update_time", db_json_s(res, 0, 4));
    PQclear(res);

    http_json(r, 200, j);
}


/* /system/gc/schedule */
void
api_gc_schedule(struct req *r)
{
    json_t      *body, *params;
    const char  *type, *cron;
    char        *ptext, *loc;
    long long    id;
    int          rc;

    if (http_need_sysadmin(r) != 0 || http_db(r) == NULL) {
        return;
    }

    if (r->method == M_GET || r->method == M_HEAD) {
        gc_schedule_get(r);
        return;
    }

    body = http_body_json(r);
    if (body == NULL) {
        return;
    }

    params = NULL;
    if (gc_body(r, body, &type, &cron, &params) != 0) {
        json_decref(body);
        return;
    }

    if (strcmp(type, "Manual") == 0) {
        if (!store_enabled()) {
            http_error(r, 503, "authd.registry_storage is not configured");
            goto done;
        }
        if (json_is_true(json_object_get(params, "delete_untagged"))
            && !json_is_true(json_object_get(params, "dry_run"))
            && !registry_enabled())
        {
            http_error(r, 503, "delete_untagged needs authd.registry_url");
            goto done;
        }

        rc = gc_launch(r->db, "MANUAL", params, r->user.name, &id);
        if (rc == 1) {
            http_error(r, 409, "a garbage collection is running already");
            goto done;
        }
        if (rc != 0) {
            http_error(r, 500, "cannot start the garbage collection");
            goto done;
        }

        audit_req(r, 0, "create", "gc", "gc");
        loc = req_printf(r, "/api/v2.0/system/gc/%lld", id);
        if (loc != NULL) {
            http_header(r, "Location", loc);
        }
        http_json(r, 201, json_pack("{s:I}", "id", (json_int_t) id));
        goto done;
    }

    ptext = json_dumps(params, JSON_COMPACT | JSON_SORT_KEYS);
    if (ptext == NULL
        || db_cmd(r->db, "INSERT INTO gc_schedule (id, type, cron,"
                  " parameters) VALUES (1, $1, $2, $3) ON CONFLICT (id) DO"
                  " UPDATE SET type = $1, cron = $2, parameters = $3,"
                  " update_time = now()", 3, type,
                  strcmp(type, "Custom") == 0 ? cron : "", ptext) < 0)
    {
        free(ptext);
        http_db_error(r);
        goto done;
    }
    free(ptext);

    audit_req(r, 0, "update", "gc", "gc schedule");
    http_json(r, r->method == M_POST ? 201 : 200, json_object());

done:

    json_decref(params);
    json_decref(body);
}


/* GET /system/gc */
void
api_gc_list(struct req *r)
{
    struct qsql  s;
    PGresult    *res;
    json_t      *list, *o;
    long         page, page_size;
    int          i;

    if (http_need_sysadmin(r) != 0 || http_page(r, &page, &page_size) != 0) {
        return;
    }

    q_init(&s, r);

    if (q_list(r, &s, "SELECT count(*) FROM gc_history WHERE true",
               "SELECT " GC_COLS " FROM gc_history WHERE true",
               "creation_time DESC, id DESC", page, page_size, &res) != 0)
    {
        return;
    }

    list = json_array();
    for (i = 0; i < PQntuples(res); i++) {
        o = gc_row_json(res, i);
        if (o != NULL) {
            json_array_append_new(list, o);
        }
    }
    PQclear(res);

    http_json(r, 200, list);
}


static long long
gc_id(struct req *r)
{
    char       *e;
    long long   id;

    errno = 0;
    id = strtoll(r->seg[4], &e, 10);
    if (errno != 0 || *e != '\0' || id < 1 || r->seg[4][0] == '\0') {
        http_error(r, 404, "no such garbage collection");
        return 0;
    }

    return id;
}


/* GET /system/gc/{id}; PUT stops it */
void
api_gc_one(struct req *r)
{
    PGresult    *res;
    json_t      *o;
    char         ids[32];
    long long    id;
    pid_t        pid;

    if (http_need_sysadmin(r) != 0 || http_db(r) == NULL
        || (id = gc_id(r)) == 0)
    {
        return;
    }

    snprintf(ids, sizeof(ids), "%lld", id);
    res = db_execv(r->db, "SELECT " GC_COLS " FROM gc_history"
                   " WHERE id = $1::integer", 1, ids);
    if (res == NULL) {
        http_db_error(r);
        return;
    }
    if (PQntuples(res) == 0) {
        PQclear(res);
        http_error(r, 404, "no such garbage collection");
        return;
    }

    if (r->method != M_PUT) {
        o = gc_row_json(res, 0);
        PQclear(res);
        http_json(r, 200, o);
        return;
    }
    PQclear(res);

    /* stop: any kill leaves storage consistent (docs/gc.md) */
    pthread_mutex_lock(&gc_mtx);
    pid = gc_running_id == id ? gc_pid : 0;
    if (pid > 0) {
        gc_stopping = 1;
        kill(pid, SIGTERM);
    }
    pthread_mutex_unlock(&gc_mtx);

    if (pid <= 0) {
        http_error(r, 400, "the garbage collection %lld is not running", id);
        return;
    }

    audit_req(r, 0, "stop", "gc", ids);
    http_json(r, 200, json_object());
}


/* GET /system/gc/{id}/log */
void
api_gc_log(struct req *r)
{
    PGresult   *res;
    char        ids[32];
    long long   id;

    if (http_need_sysadmin(r) != 0 || http_db(r) == NULL
        || (id = gc_id(r)) == 0)
    {
        return;
    }

    snprintf(ids, sizeof(ids), "%lld", id);
    res = db_execv(r->db, "SELECT log FROM gc_history WHERE id = $1::integer",
                   1, ids);
    if (res == NULL) {
        http_db_error(r);
        return;
    }
    if (PQntuples(res) == 0) {
        PQclear(res);
        http_error(r, 404, "no such garbage collection");
        return;
    }

    http_text(r, 200, "text/plain; charset=utf-8",
              req_strdup(r, db_s(res, 0, 0)));
    PQclear(res);
}
