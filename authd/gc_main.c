/*
 * authd: the garbage collector's worker, `authd -G <run> -f <conf>`
 * (docs/gc.md).
 *
 * authd's thread that supervises a run starts this process with
 * posix_spawn() of authd's own binary, never with a bare fork of the
 * threaded daemon: it starts from a clean image and holds only stdio,
 * the progress pipe on fd 3 and the files it opens.  It reads the
 * configuration itself and, to delete untagged manifests, loads the token
 * key and signs its own tokens.  <run> is
 *
 *   ppid=<pid>,workers=<n>,delete_untagged=<0|1>,dry_run=<0|1>,user=<name>
 *
 * (user last: the rest of the string).  It talks to authd through the
 * pipe, one line per message:
 *
 *   P <phase> <done> <total>     progress
 *   L <text>                     a log line ("L error: ..." for errors)
 *   R <json>                     the result, last
 *
 * Phases, in order: recover, untagged (when asked), mark, sweep, layers,
 * uploads.  An error before the sweep ends the run with nothing swept;
 * the exit status is 0 only when the run met no error.
 *
 * HARBOR_GC_PAUSE=<phase> (tests only) stops the worker at the start of
 * that phase ("sweep": after its first move to the trash; "delete":
 * between the listing of untagged manifests and their DELETEs) with a log
 * line "paused at <phase> (pid N)", until it is killed or sent SIGUSR1.
 */

#include <sys/file.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/types.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "authd.h"


static long long
gc_ms(void)
{
    struct timespec  ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}


void
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
        /* authd is gone; PDEATHSIG ends us */
    }
}


static volatile sig_atomic_t  gc_go;


static void
gc_on_usr1(int sig)
{
    (void) sig;
    gc_go = 1;
}


/* tests only: wait here until killed, or told to go on with SIGUSR1 */
void
gc_hold(struct gc *g, const char *where)
{
    sigset_t  usr1, old;

    (void) g;
    (void) where;

    sigemptyset(&usr1);
    sigaddset(&usr1, SIGUSR1);
    pthread_sigmask(SIG_BLOCK, &usr1, &old);

    sigdelset(&old, SIGUSR1);
    while (!gc_go) {
        sigsuspend(&old);
    }
    gc_go = 0;

    pthread_sigmask(SIG_UNBLOCK, &usr1, NULL);
}


void
gc_phase(struct gc *g, const char *phase)
{
    gc_out(g, "P %s 0 0", phase);
    gc_out(g, "L phase %s", phase);

    if (g->pause != NULL && strcmp(g->pause, phase) == 0
        && strcmp(phase, "sweep") != 0)
    {
        gc_out(g, "L paused at %s (pid %ld)", phase, (long) getpid());
        gc_hold(g, phase);
    }
}


/*
 * fn(g) in `workers` threads (in this one if none can be started);
 * done(g, nthreads) reports progress every 200 ms and says when they are
 * through.
 */
int
gc_threads(struct gc *g, void *(*fn)(void *), const char *phase,
    int (*done)(struct gc *g, int nthreads))
{
    pthread_t        t[GC_WORKERS_MAX];
    struct timespec  ts;
    int              i, n;

    n = g->o->workers < 1 ? 1 : g->o->workers;
    n = n > GC_WORKERS_MAX ? GC_WORKERS_MAX : n;

    for (i = 0; i < n; i++) {
        if (pthread_create(&t[i], NULL, fn, g) != 0) {
            gc_out(g, "L %s: %d threads of %d started", phase, i, n);
            break;
        }
    }
    n = i;

    if (n == 0) {
        fn(g);
    }

    while (!done(g, n)) {
        ts.tv_sec = 0;
        ts.tv_nsec = 200 * 1000 * 1000;
        nanosleep(&ts, NULL);
    }

    for (i = 0; i < n; i++) {
        pthread_join(t[i], NULL);
    }

    return 0;
}


/*
 * fn(name, g) for every repository: 0, or -1 with the error in the log
 * (the store's, or fn's own: fn returns GC_LOGGED after logging it).
 */
int
gc_repositories(struct gc *g, store_name_cb fn)
{
    int  rc;

    rc = store_repositories(fn, g);
    if (rc == -1) {
        gc_out(g, "L error: %s", store_error());
    }

    return rc == 0 ? 0 : -1;
}


static int
gc_mkdir_p(char *path)
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


/* One run.  0 done without an error, -1 otherwise. */
static int
gc_run(struct gc *g)
{
    const struct gc_opts  *o = g->o;
    char                   lock[PATH_MAX];
    int                    lfd, rc, n;
    time_t                 start;
    long long              t0;

    rc = -1;
    lfd = -1;

    start = time(NULL);
    g->old = start - o->window;

    n = snprintf(g->trash, sizeof(g->trash), "%s/_gc/trash",
                 conf->registry_storage);
    if (store_v2(g->v2, sizeof(g->v2)) < 0
        || n < 0 || (size_t) n >= sizeof(g->trash)
        || snprintf(lock, sizeof(lock), "%s/_gc/lock",
                    conf->registry_storage) >= (int) sizeof(lock))
    {
        gc_out(g, "L error: the storage path is too long");
        goto done;
    }

    if (gc_mkdir_p(g->trash) != 0) {
        gc_out(g, "L error: mkdir \"%s\": %s", g->trash, strerror(errno));
        goto done;
    }

    /* one run at a time over this storage, whichever authd starts it */
    lfd = open(lock, O_RDWR | O_CREAT | O_CLOEXEC, 0640);
    if (lfd == -1 || flock(lfd, LOCK_EX | LOCK_NB) == -1) {
        gc_out(g, "L error: another garbage collection holds \"%s\"", lock);
        goto done;
    }

    gc_out(g, "L worker pid %ld: window %ds, workers %d, delete_untagged "
           "%s, dry_run %s", (long) getpid(), o->window, o->workers,
           o->delete_untagged ? "true" : "false",
           o->dry_run ? "true" : "false");

    if (gc_recover(g) != 0) {
        goto done;
    }

    t0 = gc_ms();
    if (o->delete_untagged && gc_untagged(g) != 0) {
        goto done;
    }
    g->ms[0] = gc_ms() - t0;

    t0 = gc_ms();
    if (gc_mark(g) != 0) {
        goto done;
    }
    g->ms[1] = gc_ms() - t0;

    t0 = gc_ms();
    gc_sweep(g);
    g->ms[2] = gc_ms() - t0;

    /* errors here are counted; the blobs are decided already */
    if (gc_layers(g) != 0) {
        g->errors++;
    }
    if (gc_uploads(g) != 0) {
        g->errors++;
    }

    rc = g->errors == 0 ? 0 : -1;

done:

    if (rc != 0 && g->errors == 0) {
        g->errors = 1;
    }

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


/* "ppid=..,workers=..,delete_untagged=..,dry_run=..,user=.." */
static int
gc_parse_run(const char *run, struct gc_opts *o, pid_t *ppid)
{
    long         ppid_l;
    int          n, pos;

    pos = 0;
    n = sscanf(run, "ppid=%ld,workers=%d,delete_untagged=%d,dry_run=%d,"
               "user=%n", &ppid_l, &o->workers, &o->delete_untagged,
               &o->dry_run, &pos);
    if (n != 4 || pos == 0 || run[pos] == '\0'
        || strlen(run + pos) > AUTHD_USER_MAX)
    {
        return -1;
    }

    *ppid = (pid_t) ppid_l;
    o->user = run + pos;
    o->window = conf->gc_window;
    o->upload_age = conf->gc_upload_age;

    return 0;
}


/* authd -G: the worker's main, after the configuration is read */
int
gc_main(const char *run)
{
    struct gc_opts   o;
    struct gc       *g;
    struct stat      st;
    pid_t            ppid;
    int              rc;

    /* dies with the thread of authd that started it */
    if (prctl(PR_SET_PDEATHSIG, SIGKILL) == -1) {
        log_warn("prctl");
        return 1;
    }

    memset(&o, 0, sizeof(o));
    if (gc_parse_run(run, &o, &ppid) != 0) {
        log_warnx("-G: bad run \"%s\"", run);
        return 1;
    }

    if (getppid() != ppid) {
        log_warnx("-G: authd is gone");
        return 1;
    }

    if (fstat(GC_PROGRESS_FD, &st) == -1 || !S_ISFIFO(st.st_mode)) {
        log_warnx("-G: fd %d is not the progress pipe", GC_PROGRESS_FD);
        return 1;
    }

    signal(SIGPIPE, SIG_IGN);

    g = calloc(1, sizeof(*g));
    if (g == NULL) {
        log_warn("calloc");
        return 1;
    }

    g->o = &o;
    g->fd = GC_PROGRESS_FD;
    g->pause = getenv("HARBOR_GC_PAUSE");
    pthread_mutex_init(&g->mtx, NULL);

    if (g->pause != NULL) {
        struct sigaction  sa;

        memset(&sa, 0, sizeof(sa));
        sa.sa_handler = gc_on_usr1;
        sigemptyset(&sa.sa_mask);
        sigaction(SIGUSR1, &sa, NULL);
    }

    if (!store_enabled()) {
        gc_out(g, "L error: authd.registry_storage is not configured");
        free(g);
        return 1;
    }

    /* the DELETEs carry tokens the worker signs */
    if (o.delete_untagged && !o.dry_run
        && (registry_init() != 0
            || keys_load(conf->token_key, conf->token_cert,
                         conf->token_algorithm, conf->token_key_bits,
                         &token_key) != 0))
    {
        gc_out(g, "L error: cannot load the token key \"%s\" to sign the "
               "deletes", conf->token_key);
        free(g);
        return 1;
    }

    rc = gc_run(g);

    gc_set_free(&g->marked);
    gc_set_free(&g->doomed);
    gc_set_free(&g->gone_revs);
    gc_manifests_free(g);
    free(g);

    return rc == 0 ? 0 : 1;
}
