/*
 * authd: PostgreSQL through libpq.
 *
 * A small pool of connections, one per worker at most, handed out with a
 * bounded wait.  Every query goes through PQsendQueryParams (values never
 * spliced into SQL text) and every result is PQclear()ed on every path.
 *
 * Each connection prepares the statements it runs, the first
 * DB_STMTS_MAX distinct texts (named "hb<i>", kept until the connection
 * goes): a repeated statement is neither parsed nor planned again,
 * which was most of PostgreSQL's work per token request.  A connection
 * in a failed transaction prepares nothing; a statement that cannot be
 * prepared answers with the error that preparing it gave.
 *
 * Every statement has a deadline authd enforces itself
 * (database.query_timeout): the socket is polled, and a statement that
 * has not answered in time is cancelled (PQcancel, on a thread of its
 * own, since a stalled server never answers a cancel request either),
 * its connection dropped, and the caller told the database is
 * unavailable (503).  The server is also given statement, lock and
 * idle-in-transaction timeouts, and connections carry connect_timeout,
 * TCP keepalives and user timeout.
 *
 * Once the database is found unavailable (a deadline missed, a connection
 * refused), db_get() fails at once instead of every request waiting for a
 * deadline of its own, and one thread, the watcher, tries to connect
 * every second; its first good connection reopens the pool.
 *
 * A statement whose connection breaks is tried again on a new connection
 * only when it cannot have reached the server (it was never fully sent:
 * without its Sync nothing commits), or when it is a read outside a
 * transaction.  Anything else may have been applied: the caller gets an
 * error, never a second execution.
 *
 * Migrations are the numbered files of schema/, compiled in (so upgrading
 * is starting the new binary), applied in order inside one transaction
 * under an advisory lock and recorded in schema_migrations.
 */

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <openssl/evp.h>

#include "authd.h"


#define DB_LOCK_KEY      "7235812"      /* advisory lock of migrations */
#define DB_ACQUIRE_WAIT  5              /* seconds to wait for a connection */
#define DB_WATCH_EVERY   1              /* seconds between tries while down */
#define DB_DRAIN_WAIT    10             /* seconds shutdown waits for users */
#define DB_CANCELS_MAX   4              /* cancel requests in flight */

/* what became of a statement (db_run) */
#define DB_RUN_OK        0              /* a result came back */
#define DB_RUN_UNSENT    1              /* it cannot have reached the server */
#define DB_RUN_LOST      2              /* the connection broke after it */
#define DB_RUN_TIMEOUT   3              /* no answer before the deadline */


static struct dbc       *pool;
static int               pool_n;
static int               pool_closing;  /* db_close() runs: no new users */
static int               db_down;       /* unavailable: the watcher tries */
static int               db_cancels;
static int               db_watching;
static int               pool_waiting;  /* threads in db_get()'s wait */
static pthread_t         db_watch_tid;
static pthread_mutex_t   pool_mtx = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t    pool_cv = PTHREAD_COND_INITIALIZER;
static pthread_cond_t    watch_cv = PTHREAD_COND_INITIALIZER;

static PGconn *db_connect(int ms, int quiet);
static void db_notice(void *arg, const char *msg);
static long long db_now_ms(void);
static int db_poll(PGconn *pg, short events, long long deadline);
static PGresult *db_run(PGconn *pg, struct dbc *c, int ms,
    const char *sql, int n, const char *const *values, int *how);
static PGresult *db_wait(PGconn *pg, long long deadline, int *how);
static void db_use(struct dbc *c, PGconn *pg);
static int db_alive(struct dbc *c);
static int db_idempotent(const char *sql);
static void db_abandon(struct dbc *c);
static void *db_cancel_main(void *arg);
static void db_mark_down(const char *why);
static void *db_watch(void *arg);
static int db_thread(pthread_t *tid, void *(*fn)(void *), void *arg);


static void
db_notice(void *arg, const char *msg)
{
    (void) arg;

    /* "relation ... already exists, skipping" and the like */
    log_debug("database notice: %.*s", (int) strcspn(msg, "\n"), msg);
}


/*
 * A new connection within ms milliseconds, awaited with poll() like a
 * statement (libpq's own connect_timeout is set too).
 */
static PGconn *
db_connect(int ms, int quiet)
{
    const char                *keys[16], *vals[16];
    char                       port[16], ctimeout[16], options[256];
    char                       utimeout[16];
    PostgresPollingStatusType  st;
    const char                *err;
    PGconn                    *pg;
    long long                  deadline;
    int                        n, p;

    n = 0;

    if (snprintf(port, sizeof(port), "%d", conf->db_port)
        >= (int) sizeof(port)
        || snprintf(ctimeout, sizeof(ctimeout), "%d",
                    conf->db_connect_timeout) >= (int) sizeof(ctimeout)
        || snprintf(utimeout, sizeof(utimeout), "%d",
                    conf->db_connect_timeout * 1000)
           >= (int) sizeof(utimeout)
        || snprintf(options, sizeof(options),
                    "-c statement_timeout=%d -c lock_timeout=%d "
                    "-c idle_in_transaction_session_timeout=%d "
                    "-c TimeZone=UTC",
                    conf->db_statement_timeout, conf->db_statement_timeout,
                    conf->db_statement_timeout * 2) >= (int) sizeof(options))
    {
        log_warnx("database options too long");
        return NULL;
    }

    keys[n] = "host";               vals[n++] = conf->db_host;
    keys[n] = "port";               vals[n++] = port;
    keys[n] = "user";               vals[n++] = conf->db_user;
    keys[n] = "dbname";             vals[n++] = conf->db_name;
    keys[n] = "connect_timeout";    vals[n++] = ctimeout;
    keys[n] = "options";            vals[n++] = options;
    keys[n] = "application_name";   vals[n++] = "authd";
    keys[n] = "keepalives";         vals[n++] = "1";
    keys[n] = "keepalives_idle";    vals[n++] = "30";
    keys[n] = "keepalives_interval"; vals[n++] = "10";
    keys[n] = "keepalives_count";   vals[n++] = "3";
    keys[n] = "tcp_user_timeout";   vals[n++] = utimeout;

    if (conf->db_password != NULL) {
        keys[n] = "password";       vals[n++] = conf->db_password;
    }

    if (conf->db_sslmode != NULL) {
        keys[n] = "sslmode";        vals[n++] = conf->db_sslmode;
    }

    keys[n] = NULL;
    vals[n] = NULL;

    deadline = db_now_ms() + ms;

    pg = PQconnectStartParams(keys, vals, 0);

    if (pg == NULL) {
        log_warnx("database: out of memory");
        return NULL;
    }

    st = PQstatus(pg) == CONNECTION_BAD ? PGRES_POLLING_FAILED
                                         : PGRES_POLLING_WRITING;

    while (st == PGRES_POLLING_READING || st == PGRES_POLLING_WRITING) {
        p = db_poll(pg, st == PGRES_POLLING_READING ? POLLIN : POLLOUT,
                    deadline);
        if (p != 1) {
            st = PGRES_POLLING_FAILED;
            break;
        }
        st = PQconnectPoll(pg);
    }

    if (st != PGRES_POLLING_OK || PQstatus(pg) != CONNECTION_OK) {
        err = PQerrorMessage(pg);
        if (err[0] == '\0') {
            err = "no answer in time";
        }

        if (quiet) {
            log_debug("database connection to %s failed: %.*s",
                      conf->db_host, (int) strcspn(err, "\n"), err);
        } else {
            log_warnx("database connection to %s failed: %.*s",
                      conf->db_host, (int) strcspn(err, "\n"), err);
        }

        PQfinish(pg);
        return NULL;
    }

    /* statements are sent and awaited under our own deadline */
    if (PQsetnonblocking(pg, 1) != 0) {
        log_warnx("database: cannot make the connection non-blocking");
        PQfinish(pg);
        return NULL;
    }

    PQsetNoticeProcessor(pg, db_notice, NULL);

    return pg;
}


static long long
db_now_ms(void)
{
    struct timespec  ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);

    return (long long) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}


/* 1 ready, 0 deadline passed, -1 error */
static int
db_poll(PGconn *pg, short events, long long deadline)
{
    struct pollfd  pfd;
    long long      left;
    int            n;

    pfd.fd = PQsocket(pg);
    pfd.events = events;

    if (pfd.fd < 0) {
        return -1;
    }

    for ( ;; ) {
        left = deadline - db_now_ms();
        if (left <= 0) {
            return 0;
        }

        n = poll(&pfd, 1, left > 60000 ? 60000 : (int) left);

        if (n > 0) {
            return 1;
        }

        if (n == -1 && errno != EINTR) {
            log_warn("database: poll");
            return -1;
        }
    }
}


/* A new connection for slot c: none of the old one's statements. */
static void
db_use(struct dbc *c, PGconn *pg)
{
    int  i;

    for (i = 0; i < c->nstmt; i++) {
        free(c->stmt[i].sql);
        c->stmt[i].sql = NULL;
    }

    c->nstmt = 0;
    c->pg = pg;
}


static unsigned long long
db_hash(const char *s)
{
    unsigned long long  h;

    /* FNV-1a: a first filter, the text is compared too */
    for (h = 14695981039346656037ULL; *s != '\0'; s++) {
        h = (h ^ (unsigned char) *s) * 1099511628211ULL;
    }

    return h;
}


/*
 * One statement under a deadline of ms: send it, wait for the socket,
 * read its result.  *how says what happened (DB_RUN_*); the result, if
 * any, is the caller's to PQclear().  With c, the statement runs
 * prepared on c's connection (pg), prepared first if it is new there.
 */
static PGresult *
db_run(PGconn *pg, struct dbc *c, int ms, const char *sql, int n,
    const char *const *values, int *how)
{
    PGresult            *r;
    long long            deadline;
    unsigned long long   h;
    char                 name[16];
    int                  i, sent;

    deadline = db_now_ms() + ms;
    i = -1;

    if (c != NULL && PQtransactionStatus(pg) != PQTRANS_INERROR) {
        h = db_hash(sql);

        for (i = 0; i < c->nstmt; i++) {
            if (c->stmt[i].hash == h && strcmp(c->stmt[i].sql, sql) == 0) {
                break;
            }
        }

        if (i == c->nstmt) {
            if (i == DB_STMTS_MAX) {
                i = -1;

            } else {
                snprintf(name, sizeof(name), "hb%d", i);

                if (!PQsendPrepare(pg, name, sql, n, NULL)) {
                    *how = DB_RUN_UNSENT;
                    return NULL;
                }

                r = db_wait(pg, deadline, how);

                /*
                 * Told as the statement's own fate would be (a change
                 * whose connection broke is not sent again), though
                 * preparing applies nothing.
                 */
                if (*how != DB_RUN_OK) {
                    PQclear(r);
                    return NULL;
                }

                if (PQresultStatus(r) != PGRES_COMMAND_OK) {
                    return r;           /* the statement's own error */
                }

                PQclear(r);

                c->stmt[i].sql = strdup(sql);
                if (c->stmt[i].sql == NULL) {
                    /* prepared but unknown here: never reused */
                    c->nstmt = DB_STMTS_MAX;
                    i = -1;

                } else {
                    c->stmt[i].hash = h;
                    c->nstmt++;
                }
            }
        }
    }

    if (i >= 0) {
        snprintf(name, sizeof(name), "hb%d", i);
        sent = PQsendQueryPrepared(pg, name, n, values, NULL, NULL, 0);

    } else {
        sent = PQsendQueryParams(pg, sql, n, NULL, values, NULL, NULL, 0);
    }

    if (!sent) {
        *how = DB_RUN_UNSENT;
        return NULL;
    }

    return db_wait(pg, deadline, how);
}


/* The result of what was sent on pg, by deadline (see db_run()). */
static PGresult *
db_wait(PGconn *pg, long long deadline, int *how)
{
    PGresult   *r, *last;
    int         f, p;

    /* until the whole statement with its Sync is out, nothing commits */
    while ((f = PQflush(pg)) == 1) {
        p = db_poll(pg, POLLOUT | POLLIN, deadline);
        if (p == 0) {
            *how = DB_RUN_TIMEOUT;
            return NULL;
        }
        if (p == -1 || !PQconsumeInput(pg)) {
            *how = DB_RUN_UNSENT;
            return NULL;
        }
    }

    if (f == -1) {
        *how = DB_RUN_UNSENT;
        return NULL;
    }

    last = NULL;

    for ( ;; ) {
        while (!PQisBusy(pg)) {
            r = PQgetResult(pg);
            if (r == NULL) {
                *how = last != NULL && PQstatus(pg) == CONNECTION_OK
                       ? DB_RUN_OK : DB_RUN_LOST;
                return last;
            }
            PQclear(last);
            last = r;
        }

        p = db_poll(pg, POLLIN, deadline);

        if (p == 0) {
            PQclear(last);
            *how = DB_RUN_TIMEOUT;
            return NULL;
        }

        if (p == -1 || !PQconsumeInput(pg)) {
            PQclear(last);
            *how = DB_RUN_LOST;
            return NULL;
        }
    }
}


/* A read (or the start of a transaction) runs twice without harm. */
static int
db_idempotent(const char *sql)
{
    static const char  *words[] = { "SELECT", "BEGIN", "SHOW" };
    size_t              i, len;

    sql += strspn(sql, " \t\r\n(");

    for (i = 0; i < nitems(words); i++) {
        len = strlen(words[i]);
        if (strncasecmp(sql, words[i], len) == 0
            && (sql[len] == '\0' || sql[len] == ' ' || sql[len] == '\n'
                || sql[len] == '\t' || sql[len] == ';'))
        {
            return 1;
        }
    }

    return 0;
}


/*
 * The connection of a slot, good to send on: an idle connection the
 * server closed meanwhile (a restart) is readable, and is replaced
 * before anything is sent on it.  While the database is down this
 * fails at once: the watcher finds out when it is back.
 */
static int
db_alive(struct dbc *c)
{
    struct pollfd  pfd;
    int            down;

    if (c->pg != NULL && PQstatus(c->pg) == CONNECTION_OK
        && PQtransactionStatus(c->pg) == PQTRANS_IDLE)
    {
        pfd.fd = PQsocket(c->pg);
        pfd.events = POLLIN;

        if (poll(&pfd, 1, 0) == 1
            && (!PQconsumeInput(c->pg) || PQstatus(c->pg) != CONNECTION_OK))
        {
            log_info("database: a pooled connection was closed by the "
                     "server; reconnecting");
            PQfinish(c->pg);
            c->pg = NULL;
        }
    }

    if (c->pg != NULL && PQstatus(c->pg) == CONNECTION_OK) {
        return 0;
    }

    if (c->pg != NULL) {
        PQfinish(c->pg);
        c->pg = NULL;
    }

    pthread_mutex_lock(&pool_mtx);
    down = db_down || pool_closing;
    pthread_mutex_unlock(&pool_mtx);

    if (down) {
        return -1;
    }

    /* a request waits no longer for a connection than for a statement */
    db_use(c, db_connect(conf->db_connect_timeout * 1000
                         < conf->db_query_timeout
                         ? conf->db_connect_timeout * 1000
                         : conf->db_query_timeout, 0));
    if (c->pg == NULL) {
        db_mark_down("cannot connect");
        return -1;
    }

    return 0;
}


/* A thread that takes no signals (the main thread's): joinable if tid. */
static int
db_thread(pthread_t *tid, void *(*fn)(void *), void *arg)
{
    pthread_attr_t   attr;
    pthread_t        t;
    sigset_t         all, old;
    int              rc;

    pthread_attr_init(&attr);
    if (tid == NULL) {
        pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    }

    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, &old);
    rc = pthread_create(tid != NULL ? tid : &t, &attr, fn, arg);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    pthread_attr_destroy(&attr);

    return rc == 0 ? 0 : -1;
}


static void *
db_cancel_main(void *arg)
{
    PGcancel  *cn = arg;
    char       err[256];

    /* blocks until a stalled server comes back: only this thread waits */
    if (!PQcancel(cn, err, sizeof(err))) {
        log_debug("database: cancel request failed: %.*s",
                  (int) strcspn(err, "\n"), err);
    }

    PQfreeCancel(cn);

    pthread_mutex_lock(&pool_mtx);
    db_cancels--;
    pthread_mutex_unlock(&pool_mtx);

    return NULL;
}


/*
 * A statement missed its deadline: cancel it on the server, off this
 * thread, and drop the connection (its state is unknown).  With too
 * many cancel requests waiting already, the server's own
 * statement_timeout and the closed connection end the statement.
 */
static void
db_abandon(struct dbc *c)
{
    PGcancel  *cn;
    int        go;

    cn = PQgetCancel(c->pg);

    PQfinish(c->pg);
    c->pg = NULL;

    if (cn == NULL) {
        return;
    }

    pthread_mutex_lock(&pool_mtx);
    go = db_cancels < DB_CANCELS_MAX;
    if (go) {
        db_cancels++;
    }
    pthread_mutex_unlock(&pool_mtx);

    if (!go) {
        PQfreeCancel(cn);
        return;
    }

    if (db_thread(NULL, db_cancel_main, cn) != 0) {
        PQfreeCancel(cn);
        pthread_mutex_lock(&pool_mtx);
        db_cancels--;
        pthread_mutex_unlock(&pool_mtx);
    }
}


static void
db_mark_down(const char *why)
{
    pthread_mutex_lock(&pool_mtx);

    if (!db_down && !pool_closing) {
        db_down = 1;
        log_warnx("database unavailable (%s): answering 503 until it is "
                  "back", why);
        pthread_cond_signal(&watch_cv);
    }

    pthread_mutex_unlock(&pool_mtx);
}


/* While the database is down: try to connect every DB_WATCH_EVERY s. */
static void *
db_watch(void *arg)
{
    struct timespec   ts;
    PGresult         *r;
    PGconn           *pg;
    int               i, how;

    (void) arg;

    pthread_mutex_lock(&pool_mtx);

    while (!pool_closing) {
        if (!db_down) {
            pthread_cond_wait(&watch_cv, &pool_mtx);
            continue;
        }

        pthread_mutex_unlock(&pool_mtx);

        pg = db_connect(conf->db_connect_timeout * 1000, 1);
        if (pg != NULL) {
            r = db_run(pg, NULL, conf->db_query_timeout, "SELECT 1", 0,
                       NULL, &how);
            if (how != DB_RUN_OK || PQresultStatus(r) != PGRES_TUPLES_OK) {
                PQfinish(pg);
                pg = NULL;
            }
            PQclear(r);
        }

        pthread_mutex_lock(&pool_mtx);

        if (pg != NULL) {
            db_down = 0;
            log_info("database available again");

            /* the first good connection goes to an empty slot */
            for (i = 0; i < pool_n && pg != NULL; i++) {
                if (!pool[i].busy && pool[i].pg == NULL) {
                    db_use(&pool[i], pg);
                    pg = NULL;
                }
            }

            pthread_cond_broadcast(&pool_cv);

            if (pg != NULL) {
                pthread_mutex_unlock(&pool_mtx);
                PQfinish(pg);
                pthread_mutex_lock(&pool_mtx);
            }

            continue;
        }

        if (pool_closing) {
            break;
        }

        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_sec += DB_WATCH_EVERY;
        (void) pthread_cond_timedwait(&watch_cv, &pool_mtx, &ts);
    }

    pthread_mutex_unlock(&pool_mtx);

    return NULL;
}


int
db_init(void)
{
    /* the workers, the journal reader, and one to spare */
    pool_n = conf->workers + 1 < conf->db_max_open
             ? conf->workers + 2 : conf->db_max_open;

    pool = calloc((size_t) pool_n, sizeof(struct dbc));
    if (pool == NULL) {
        return -1;
    }

    pool_closing = 0;
    db_down = 0;

    /* one connection now, to fail early; the others when first needed */
    db_use(&pool[0], db_connect(conf->db_connect_timeout * 1000, 0));
    if (pool[0].pg == NULL) {
        return -1;
    }

    if (db_thread(&db_watch_tid, db_watch, NULL) != 0) {
        log_warnx("database: cannot start the watcher thread");
        return -1;
    }

    db_watching = 1;

    return 0;
}


/*
 * At exit, after the threads that use the pool were stopped: no new
 * user, every connection handed out comes back (a straggler's next
 * statement fails at once), the watcher is joined, then the pool is
 * freed.  A connection still out after DB_DRAIN_WAIT seconds keeps the
 * pool allocated: -1, and the caller leaves what that thread may use.
 */
int
db_close(void)
{
    struct timespec  ts;
    int              i, busy, waited;

    pthread_mutex_lock(&pool_mtx);
    pool_closing = 1;
    pthread_cond_broadcast(&watch_cv);
    pthread_cond_broadcast(&pool_cv);

    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += DB_DRAIN_WAIT;
    waited = 0;

    for ( ;; ) {
        busy = 0;
        for (i = 0; i < pool_n; i++) {
            busy += pool[i].busy;
        }

        if (busy == 0) {
            break;
        }

        if (!waited) {
            log_info("database: waiting for %d connections still in use",
                     busy);
            waited = 1;
        }

        if (pthread_cond_timedwait(&pool_cv, &pool_mtx, &ts) == ETIMEDOUT) {
            break;
        }
    }

    pthread_mutex_unlock(&pool_mtx);

    if (waited && busy == 0) {
        log_info("database: every connection was given back");
    }

    if (db_watching) {
        pthread_join(db_watch_tid, NULL);
        db_watching = 0;
    }

    if (busy != 0) {
        log_warnx("database: %d connections still in use at exit", busy);
        return -1;
    }

    for (i = 0; i < pool_n; i++) {
        if (pool[i].pg != NULL) {
            PQfinish(pool[i].pg);
        }
        db_use(&pool[i], NULL);
    }

    pthread_mutex_lock(&pool_mtx);
    free(pool);
    pool = NULL;
    pool_n = 0;
    pthread_mutex_unlock(&pool_mtx);

    return 0;
}


/* the pool's state, for metrics.c */
void
db_pool_stats(struct db_pool_stats *st)
{
    int  i;

    memset(st, 0, sizeof(*st));

    pthread_mutex_lock(&pool_mtx);

    st->size = pool_n;
    st->waiting = pool_waiting;

    for (i = 0; i < pool_n; i++) {
        if (pool[i].pg != NULL) {
            st->open++;
            st->idle += !pool[i].busy;
        }
    }

    pthread_mutex_unlock(&pool_mtx);
}


struct dbc *
db_get(void)
{
    struct dbc       *c;
    struct timespec   ts;
    int               i;

    c = NULL;

    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += DB_ACQUIRE_WAIT;

    pthread_mutex_lock(&pool_mtx);

    for ( ;; ) {
        /* unavailable: say so at once, the watcher finds it back */
        if (pool_closing || db_down) {
            pthread_mutex_unlock(&pool_mtx);
            return NULL;
        }

        /* prefer a slot with a live connection */
        for (i = 0; i < pool_n; i++) {
            if (!pool[i].busy && pool[i].pg != NULL) {
                c = &pool[i];
                break;
            }
        }

        if (c == NULL) {
            for (i = 0; i < pool_n; i++) {
                if (!pool[i].busy) {
                    c = &pool[i];
                    break;
                }
            }
        }

        if (c != NULL) {
            break;
        }

        pool_waiting++;
        i = pthread_cond_timedwait(&pool_cv, &pool_mtx, &ts);
        pool_waiting--;
        if (i == ETIMEDOUT) {
            break;
        }
    }

    if (c != NULL) {
        c->busy = 1;
    }

    pthread_mutex_unlock(&pool_mtx);

    if (c == NULL) {
        log_warnx("database: no connection free after %d seconds",
                  DB_ACQUIRE_WAIT);
        return NULL;
    }

    c->err = DB_OK;
    c->lost = 0;
    c->timeout = 0;

    if (db_alive(c) != 0) {
        db_put(c);
        return NULL;
    }

    return c;
}


void
db_put(struct dbc *c)
{
    if (c == NULL) {
        return;
    }

    if (c->pg != NULL && PQtransactionStatus(c->pg) != PQTRANS_IDLE) {
        /* a handler left a transaction open: never hand that on */
        db_rollback(c);

        if (c->pg != NULL && PQtransactionStatus(c->pg) != PQTRANS_IDLE) {
            PQfinish(c->pg);
            c->pg = NULL;
        }
    }

    c->lost = 0;

    pthread_mutex_lock(&pool_mtx);
    c->busy = 0;
    pthread_cond_broadcast(&pool_cv);
    pthread_mutex_unlock(&pool_mtx);
}


PGresult *
db_exec(struct dbc *c, const char *sql, int n, const char *const *values)
{
    PGresult                *r;
    PGTransactionStatusType  ts;
    ExecStatusType           st;
    const char              *state, *msg;
    int                      attempt, how, closing;

    /* the transaction this statement belongs to is gone already */
    if (c->lost) {
        c->err = DB_ERR_CONN;
        return NULL;
    }

    for (attempt = 0; ; attempt++) {
        pthread_mutex_lock(&pool_mtx);
        closing = pool_closing;
        pthread_mutex_unlock(&pool_mtx);

        /* shutting down: a straggler stops at its next statement */
        if (closing || db_alive(c) != 0) {
            c->err = DB_ERR_CONN;
            return NULL;
        }

        ts = PQtransactionStatus(c->pg);

        r = db_run(c->pg, c, c->timeout != 0 ? c->timeout
                                          : conf->db_query_timeout,
                   sql, n, values, &how);
        st = r != NULL ? PQresultStatus(r) : PGRES_FATAL_ERROR;
        state = r != NULL ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;

        if (how == DB_RUN_OK) {
            if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK) {
                c->err = DB_OK;
                return r;
            }

            /* the server says it is going away (08xxx, 57P0x) */
            if (state == NULL || (strncmp(state, "08", 2) != 0
                                  && strncmp(state, "57P", 3) != 0))
            {
                break;
            }

            how = DB_RUN_LOST;
        }

        PQclear(r);
        r = NULL;

        if (how == DB_RUN_TIMEOUT) {
            log_warnx("database: no answer within %d ms; the statement is "
                      "cancelled", c->timeout != 0 ? c->timeout
                                                  : conf->db_query_timeout);
            db_abandon(c);
            db_mark_down("no answer");
            c->lost = ts != PQTRANS_IDLE;
            c->err = DB_ERR_CONN;
            return NULL;
        }

        log_warnx("database connection lost: %.*s",
                  (int) strcspn(PQerrorMessage(c->pg), "\n"),
                  PQerrorMessage(c->pg));

        PQfinish(c->pg);
        c->pg = NULL;

        /*
         * Again on a new connection only if that cannot apply it twice:
         * it never reached the server, or it is a read; and never inside
         * a transaction, which went with the connection.
         */
        if (attempt == 0 && ts == PQTRANS_IDLE
            && (how == DB_RUN_UNSENT || db_idempotent(sql)))
        {
            log_info("database: sending the statement again on a new "
                     "connection");
            continue;
        }

        c->lost = ts != PQTRANS_IDLE;
        c->err = DB_ERR_CONN;
        return NULL;
    }

    msg = PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY);

    if (state != NULL && strcmp(state, "23505") == 0) {
        c->err = DB_ERR_CONFLICT;
        log_debug("database: %s", msg != NULL ? msg : "unique violation");

    } else if (state != NULL
               && (strcmp(state, "57014") == 0     /* statement timeout */
                   || strcmp(state, "55P03") == 0)) /* lock timeout */
    {
        c->err = DB_ERR_CONN;
        log_warnx("database: %s (%s)", msg != NULL ? msg : "failed", state);

    } else {
        /* the primary message only: DETAIL may quote row values */
        c->err = DB_ERR;
        log_warnx("database query failed: %s (%s)",
                  msg != NULL ? msg : "unknown error",
                  state != NULL ? state : "no state");
    }

    PQclear(r);

    return NULL;
}


PGresult *
db_execv(struct dbc *c, const char *sql, int n, ...)
{
    const char  *values[16];
    va_list      ap;
    int          i;

    if (n > (int) nitems(values)) {
        c->err = DB_ERR;
        return NULL;
    }

    va_start(ap, n);
    for (i = 0; i < n; i++) {
        values[i] = va_arg(ap, const char *);
    }
    va_end(ap);

    return db_exec(c, sql, n, values);
}


long
db_cmd(struct dbc *c, const char *sql, int n, ...)
{
    const char  *values[16];
    PGresult    *r;
    va_list      ap;
    long         rows;
    int          i;

    if (n > (int) nitems(values)) {
        c->err = DB_ERR;
        return -1;
    }

    va_start(ap, n);
    for (i = 0; i < n; i++) {
        values[i] = va_arg(ap, const char *);
    }
    va_end(ap);

    r = db_exec(c, sql, n, values);
    if (r == NULL) {
        return -1;
    }

    rows = strtol(PQcmdTuples(r), NULL, 10);
    PQclear(r);

    return rows;
}


int
db_begin(struct dbc *c)
{
    return db_cmd(c, "BEGIN", 0) < 0 ? -1 : 0;
}


int
db_commit(struct dbc *c)
{
    return db_cmd(c, "COMMIT", 0) < 0 ? -1 : 0;
}


void
db_rollback(struct dbc *c)
{
    int  err;

    if (c->pg == NULL || PQtransactionStatus(c->pg) == PQTRANS_IDLE) {
        return;
    }

    /* keep the error of the statement that failed */
    err = c->err;
    (void) db_cmd(c, "ROLLBACK", 0);
    c->err = err;
}


int
db_ping(struct dbc *c)
{
    PGresult  *r;

    r = db_execv(c, "SELECT 1", 0);
    if (r == NULL) {
        return -1;
    }

    PQclear(r);

    return 0;
}


long long
db_ll(PGresult *r, int row, int col)
{
    return PQgetisnull(r, row, col)
           ? 0 : strtoll(PQgetvalue(r, row, col), NULL, 10);
}


const char *
db_s(PGresult *r, int row, int col)
{
    return PQgetisnull(r, row, col) ? NULL : PQgetvalue(r, row, col);
}


int
db_b(PGresult *r, int row, int col)
{
    return !PQgetisnull(r, row, col) && PQgetvalue(r, row, col)[0] == 't';
}


/* "{1,2,3}", an int[] parameter; NULL when out of memory */
char *
db_id_array(const long long *ids, int n)
{
    char    *s;
    size_t   len, off;
    int      i;

    len = (size_t) n * 21 + 3;
    s = malloc(len);
    if (s == NULL) {
        return NULL;
    }

    off = 0;
    s[off++] = '{';

    for (i = 0; i < n; i++) {
        off += (size_t) snprintf(s + off, len - off, "%s%lld", i ? "," : "",
                                 ids[i]);
    }

    s[off++] = '}';
    s[off] = '\0';

    return s;
}


json_t *
db_json_s(PGresult *r, int row, int col)
{
    return PQgetisnull(r, row, col)
           ? json_null() : json_string(PQgetvalue(r, row, col));
}


/*
 * The next statement of a SQL script: skips blanks and comments, then
 * reads up to a ';' that is outside quotes, dollar quotes and comments.
 * Returns 1 with [*start, *end) the statement, 0 at the end, -1 if a
 * quote or comment is not closed.
 */
int
db_sql_split(const char *sql, size_t len, size_t *start, size_t *end,
    size_t *pos)
{
    size_t  i, j, tag, depth;
    int     in_stmt, esc;
    char    q;

    i = *pos;
    in_stmt = 0;

    while (i < len) {

        if (sql[i] == '-' && i + 1 < len && sql[i + 1] == '-') {
            while (i < len && sql[i] != '\n') {
                i++;
            }
            continue;
        }

        if (sql[i] == '/' && i + 1 < len && sql[i + 1] == '*') {
            depth = 1;
            i += 2;
            while (i < len && depth > 0) {
                if (sql[i] == '/' && i + 1 < len && sql[i + 1] == '*') {
                    depth++;
                    i += 2;
                } else if (sql[i] == '*' && i + 1 < len && sql[i + 1] == '/') {
                    depth--;
                    i += 2;
                } else {
                    i++;
                }
            }
            if (depth > 0) {
                return -1;
            }
            continue;
        }

        if (!in_stmt) {
            if (sql[i] == ' ' || sql[i] == '\t' || sql[i] == '\n'
                || sql[i] == '\r' || sql[i] == ';')
            {
                i++;
                continue;
            }
            in_stmt = 1;
            *start = i;
        }

        if (sql[i] == '\'' || sql[i] == '"') {
            q = sql[i];
            esc = q == '\'' && i > 0
                  && (sql[i - 1] == 'E' || sql[i - 1] == 'e');
            for (i++; i < len; i++) {
                if (esc && sql[i] == '\\') {
                    i++;
                    continue;
                }
                if (sql[i] == q) {
                    if (i + 1 < len && sql[i + 1] == q) {
                        i++;
                        continue;
                    }
                    break;
                }
            }
            if (i >= len) {
                return -1;
            }
            i++;
            continue;
        }

        if (sql[i] == '$') {
            /* $tag$ ... $tag$, tag empty or an identifier */
            for (j = i + 1; j < len && (sql[j] == '_'
                 || (sql[j] >= 'a' && sql[j] <= 'z')
                 || (sql[j] >= 'A' && sql[j] <= 'Z')
                 || (j > i + 1 && sql[j] >= '0' && sql[j] <= '9')); j++)
            {
                /* void */
            }

            if (j < len && sql[j] == '$') {
                tag = j - i + 1;
                for (j = j + 1; j + tag <= len; j++) {
                    if (memcmp(sql + j, sql + i, tag) == 0) {
                        break;
                    }
                }
                if (j + tag > len) {
                    return -1;
                }
                i = j + tag;
                continue;
            }
        }

        if (sql[i] == ';') {
            *end = i;
            *pos = i + 1;
            return 1;
        }

        i++;
    }

    *pos = len;

    if (in_stmt) {
        *end = len;
        return 1;
    }

    return 0;
}


static int
db_checksum(const char *sql, char out[65])
{
    unsigned char  md[EVP_MAX_MD_SIZE];
    unsigned int   n, i;

    if (EVP_Digest(sql, strlen(sql), md, &n, EVP_sha256(), NULL) != 1) {
        return -1;
    }

    for (i = 0; i < n && i < 32; i++) {
        snprintf(out + 2 * i, 3, "%02x", md[i]);
    }

    return 0;
}


static int
db_apply(struct dbc *c, const struct migration *m)
{
    size_t     len, pos, s, e;
    char      *stmt, version[16], sum[65];
    int        rc;
    PGresult  *r;

    len = strlen(m->sql);
    pos = 0;

    while ((rc = db_sql_split(m->sql, len, &s, &e, &pos)) == 1) {
        stmt = strndup(m->sql + s, e - s);
        if (stmt == NULL) {
            return -1;
        }

        r = db_exec(c, stmt, 0, NULL);
        free(stmt);

        if (r == NULL) {
            log_warnx("migration %s failed", m->name);
            return -1;
        }

        PQclear(r);
    }

    if (rc < 0) {
        log_warnx("migration %s: unterminated quote or comment", m->name);
        return -1;
    }

    snprintf(version, sizeof(version), "%d", m->version);
    if (db_checksum(m->sql, sum) != 0) {
        return -1;
    }

    if (db_cmd(c, "INSERT INTO schema_migrations (version, name, checksum) "
               "VALUES ($1, $2, $3)", 3, version, m->name, sum) != 1)
    {
        return -1;
    }

    log_info("applied migration %s", m->name);

    return 0;
}


int
db_migrate(struct dbc *c)
{
    const struct migration  *m;
    PGresult                *r;
    char                     sum[65];
    int                      i, found, newest, known;
    long long                v;

    r = NULL;

    /*
     * A migration may rewrite a large table: the server's own
     * statement_timeout bounds it, not the deadline of requests.
     */
    c->timeout = conf->db_statement_timeout + 1000;

    if (db_begin(c) != 0) {
        c->timeout = 0;
        return -1;
    }

    /* several authd starting at once: one migrates, the others wait */
    if (db_cmd(c, "SELECT pg_advisory_xact_lock(" DB_LOCK_KEY ")", 0) < 0
        || db_cmd(c, "CREATE TABLE IF NOT EXISTS schema_migrations ("
                  " version integer PRIMARY KEY,"
                  " name text NOT NULL,"
                  " checksum text NOT NULL,"
                  " applied_at timestamptz NOT NULL DEFAULT now())", 0) < 0)
    {
        goto fail;
    }

    r = db_execv(c, "SELECT version, checksum, name FROM schema_migrations "
                 "ORDER BY version", 0);
    if (r == NULL) {
        goto fail;
    }

    newest = 0;
    for (m = migrations; m->name != NULL; m++) {
        newest = m->version;
    }

    for (i = 0; i < PQntuples(r); i++) {
        v = db_ll(r, i, 0);

        known = 0;
        for (m = migrations; m->name != NULL; m++) {
            if (m->version == v) {
                known = 1;
                if (db_checksum(m->sql, sum) == 0
                    && strcmp(sum, db_s(r, i, 1)) != 0)
                {
                    log_warnx("migration %s changed since it was applied; "
                              "the change is not applied again", m->name);
                }
            }
        }

        if (!known && v > newest) {
            log_warnx("the database schema has migration %s, newer than "
                      "this authd knows (up to %d): refusing to start an "
                      "older authd on a newer schema", db_s(r, i, 2), newest);
            goto fail;
        }
    }

    for (m = migrations; m->name != NULL; m++) {
        found = 0;
        for (i = 0; i < PQntuples(r); i++) {
            if (db_ll(r, i, 0) == m->version) {
                found = 1;
                break;
            }
        }

        if (!found && db_apply(c, m) != 0) {
            goto fail;
        }
    }

    PQclear(r);
    r = NULL;

    if (db_commit(c) != 0) {
        goto fail;
    }

    c->timeout = 0;

    return 0;

fail:

    PQclear(r);
    db_rollback(c);
    c->timeout = 0;

    return -1;
}


int
db_bootstrap(struct dbc *c, const char *admin_password)
{
    PGresult  *r;
    char       hash[256], uid[32], pid[32];
    long long  n;

    r = db_execv(c, "SELECT count(*) FROM users", 0);
    if (r == NULL) {
        return -1;
    }

    n = db_ll(r, 0, 0);
    PQclear(r);

    if (n > 0) {
        return 0;
    }

    if (auth_hash(admin_password, strlen(admin_password), hash, sizeof(hash))
        != 0)
    {
        log_warnx("hashing the admin password failed");
        return -1;
    }

    if (db_begin(c) != 0) {
        return -1;
    }

    if (db_cmd(c, "SELECT pg_advisory_xact_lock(" DB_LOCK_KEY ")", 0) < 0) {
        goto fail;
    }

    r = db_execv(c, "SELECT count(*) FROM users", 0);
    if (r == NULL) {
        goto fail;
    }

    n = db_ll(r, 0, 0);
    PQclear(r);

    if (n > 0) {
        /* another authd did it while we hashed */
        db_rollback(c);
        explicit_bzero(hash, sizeof(hash));
        return 0;
    }

    /* as Harbor: user 1 is admin, and the public project "library" */
    r = db_execv(c, "INSERT INTO users (username, email, realname, comment,"
                 " password, sysadmin_flag) VALUES ('admin',"
                 " 'admin@example.com', 'system admin', 'admin user', $1,"
                 " true) RETURNING user_id", 1, hash);
    explicit_bzero(hash, sizeof(hash));
    if (r == NULL) {
        goto fail;
    }
    snprintf(uid, sizeof(uid), "%lld", db_ll(r, 0, 0));
    PQclear(r);

    r = db_execv(c, "INSERT INTO projects (name, owner_id) VALUES"
                 " ('library', $1) RETURNING project_id", 1, uid);
    if (r == NULL) {
        goto fail;
    }
    snprintf(pid, sizeof(pid), "%lld", db_ll(r, 0, 0));
    PQclear(r);

    if (db_cmd(c, "INSERT INTO project_metadata (project_id, name, value)"
               " VALUES ($1, 'public', 'true')", 1, pid) != 1
        || db_cmd(c, "INSERT INTO project_member (project_id, entity_id,"
                  " entity_type, role) VALUES ($1, $2, 'u', 1)",
                  2, pid, uid) != 1
        || db_commit(c) != 0)
    {
        goto fail;
    }

    log_info("first start: created the system administrator \"admin\" and "
             "the public project \"library\"");

    return 0;

fail:

    explicit_bzero(hash, sizeof(hash));
    db_rollback(c);

    return -1;
}
