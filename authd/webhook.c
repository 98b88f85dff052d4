/*
 * authd: webhook events and their delivery.
 *
 * An event becomes one webhook_job row per enabled policy of its
 * project that listens to its type, with Harbor's payload (type,
 * occur_at, operator, event_data).  The journal's pushes, pulls and
 * deletes are written in the journal's own transaction
 * (webhook_journal_event), so an event is delivered at least once and
 * none is lost across a crash; other events (REPLICATION) come through
 * webhook_event().
 *
 * WEBHOOK_WORKERS threads deliver the due jobs: each claims one (FOR
 * UPDATE SKIP LOCKED, with a lease), posts the payload to the policy's
 * target without holding a database connection, through the SSRF guard
 * (outbound.c), and records the try: success on a 2xx, else another try
 * after a backoff (2 s, 10 s, 50 s, 250 s) up to WEBHOOK_TRIES, then
 * Failed.  Each try's status code or error goes to the job's log.
 */

#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>

#include "authd.h"


#define WEBHOOK_WORKERS      2
#define WEBHOOK_TRIES        5
#define WEBHOOK_TRIES_S      "5"
#define WEBHOOK_TIMEOUT      10          /* seconds a try may take */
#define WEBHOOK_LEASE        "5 minutes" /* a claimed job, if we die */

static pthread_t         wh_threads[WEBHOOK_WORKERS];
static int               wh_nthreads;
static int               wh_quit;
static unsigned long     wh_gen;
static pthread_mutex_t   wh_mtx = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t    wh_cond = PTHREAD_COND_INITIALIZER;
static char              wh_host[256];


/* the event types; the last one is reserved, never sent yet */
const char *const  webhook_types[] = {
    "PUSH_ARTIFACT", "PULL_ARTIFACT", "DELETE_ARTIFACT", "REPLICATION",
    "QUOTA_EXCEED", "QUOTA_WARNING", "TAG_RETENTION", NULL
};


void
webhook_wake(void)
{
    pthread_mutex_lock(&wh_mtx);
    wh_gen++;
    pthread_cond_broadcast(&wh_cond);
    pthread_mutex_unlock(&wh_mtx);
}


/* the host of this instance's external URL, as events name it */
const char *
webhook_host(void)
{
    return wh_host;
}


/*
 * The journal's push (1), pull (2) or delete (3) of repo (tag or digest)
 * by user at time, in the journal's transaction.  0, or -1 on a
 * database error.
 */
int
webhook_journal_event(struct dbc *db, int action, const char *repo,
    const char *tag, const char *digest, const char *user, const char *time)
{
    const char  *type;
    char         url[1024];
    long         n;

    type = action == 1 ? "PUSH_ARTIFACT"
           : action == 2 ? "PULL_ARTIFACT" : "DELETE_ARTIFACT";

    if (tag != NULL && tag[0]) {
        snprintf(url, sizeof(url), "%s/%s:%s", wh_host, repo, tag);
    } else {
        snprintf(url, sizeof(url), "%s/%s@%s", wh_host, repo, digest);
    }

    n = db_cmd(db, "INSERT INTO webhook_job (policy_id, event_type, payload)"
               " SELECT w.id, $1::text, jsonb_build_object('type', $1::text,"
               " 'occur_at', extract(epoch FROM $2::timestamptz)::bigint,"
               " 'operator', $3::text, 'event_data', jsonb_build_object("
               " 'resources', jsonb_build_array(jsonb_build_object("
               " 'digest', $4::text, 'tag', $5::text,"
               " 'resource_url', $6::text)),"
               " 'repository', jsonb_build_object("
               " 'name', substr($7::text, length(p.name) + 2),"
               " 'namespace', p.name, 'repo_full_name', $7::text,"
               " 'repo_type', CASE WHEN " PROJECT_PUBLIC("p.project_id")
               " THEN 'public' ELSE 'private' END)))::text"
               " FROM webhook_policy w JOIN projects p"
               " ON p.project_id = w.project_id"
               " WHERE p.name = split_part($7::text, '/', 1)"
               " AND NOT p.deleted AND w.enabled"
               " AND $1::text = ANY (w.event_types)", 7,
               type, time, user != NULL ? user : "", digest,
               tag != NULL ? tag : "", url, repo);
    if (n < 0) {
        return -1;
    }

    if (n > 0) {
        webhook_wake();
    }

    return 0;
}


/*
 * Any other event of project_id: type (webhook_types), event_data (taken)
 * and the operator, in the caller's transaction if it has one.  0, or -1
 * on a database error.  Replication calls it when an execution ends:
 *
 *     webhook_event(db, project_id, "REPLICATION",
 *                   json_pack("{s:{...}}", "replication", ...), operator);
 */
int
webhook_event(struct dbc *db, long long project_id, const char *type,
    json_t *event_data, const char *operator_)
{
    json_t  *payload;
    char    *text, pid[32];
    long     n;

    payload = json_pack("{s:s, s:I, s:s, s:o}", "type", type,
                        "occur_at", (json_int_t) time(NULL),
                        "operator", operator_ != NULL ? operator_ : "",
                        "event_data", event_data != NULL ? event_data
                                                         : json_object());
    text = payload != NULL ? json_dumps(payload, JSON_COMPACT) : NULL;
    json_decref(payload);
    if (text == NULL) {
        return -1;
    }

    snprintf(pid, sizeof(pid), "%lld", project_id);

    n = db_cmd(db, "INSERT INTO webhook_job (policy_id, event_type, payload)"
               " SELECT id, $2::text, $3 FROM webhook_policy"
               " WHERE project_id = $1::integer AND enabled"
               " AND $2::text = ANY (event_types)", 3, pid, type, text);
    free(text);

    if (n > 0) {
        webhook_wake();
    }

    return n < 0 ? -1 : 0;
}


static size_t
wh_discard(char *p, size_t size, size_t n, void *arg)
{
    (void) p;
    (void) arg;

    return size * n;
}


/*
 * POST payload to the policy's target (targets: its JSON).  1 on a 2xx,
 * else 0; msg says what happened.
 */
static int
wh_post(const char *targets, const char *payload, char *msg, size_t len)
{
    struct curl_slist  *hdrs, *pin;
    json_error_t        jerr;
    json_t             *t, *tg;
    const char         *addr, *auth;
    CURL               *c;
    CURLcode            rc;
    char                err[CURL_ERROR_SIZE], line[1200];
    long                code;
    int                 ok, skip;

    ok = 0;
    hdrs = pin = NULL;
    c = NULL;

    t = json_loads(targets, 0, &jerr);
    tg = json_array_get(t, 0);
    addr = json_string_value(json_object_get(tg, "address"));
    auth = json_string_value(json_object_get(tg, "auth_header"));
    skip = json_is_true(json_object_get(tg, "skip_cert_verify"));

    if (addr == NULL) {
        snprintf(msg, len, "the policy has no target");
        goto done;
    }

    c = curl_easy_init();
    if (c == NULL) {
        snprintf(msg, len, "out of memory");
        goto done;
    }

    pin = outbound_pin(c, addr, err, sizeof(err));
    if (pin == NULL) {
        snprintf(msg, len, "refused: %s", err);
        goto done;
    }

    hdrs = curl_slist_append(hdrs, "Content-Type: application/json");
    if (auth != NULL && auth[0] != '\0') {
        snprintf(line, sizeof(line), "Authorization: %s", auth);
        hdrs = curl_slist_append(hdrs, line);
    }

    err[0] = '\0';
    curl_easy_setopt(c, CURLOPT_URL, addr);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, payload);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, (long) WEBHOOK_TIMEOUT);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, err);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, wh_discard);
    curl_easy_setopt(c, CURLOPT_USERAGENT, "ngx-harbor-webhook");
    if (skip) {
        curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 0L);
        curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 0L);
    }

    rc = curl_easy_perform(c);
    if (rc != CURLE_OK) {
        snprintf(msg, len, "error: %s", err[0] ? err : curl_easy_strerror(rc));
        goto done;
    }

    code = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
    snprintf(msg, len, "HTTP %ld", code);
    ok = code >= 200 && code < 300;

done:

    curl_slist_free_all(hdrs);
    curl_slist_free_all(pin);
    if (c != NULL) {
        curl_easy_cleanup(c);
    }
    json_decref(t);

    return ok;
}


/* one due job: 1 if there was one, 0 if none, -1 on a database error */
static int
wh_once(void)
{
    struct dbc  *db;
    PGresult    *res;
    char        *id, *targets, *payload, msg[512], tries[16];
    int          ok, n;

    db = db_get();
    if (db == NULL) {
        return -1;
    }

    res = db_execv(db, "UPDATE webhook_job j SET status = 'Running',"
                   " tries = j.tries + 1,"
                   " next_try = now() + interval '" WEBHOOK_LEASE "'"
                   " FROM webhook_policy w WHERE w.id = j.policy_id"
                   " AND j.id = (SELECT id FROM webhook_job"
                   " WHERE status IN ('Pending', 'Running')"
                   " AND next_try <= now() ORDER BY next_try, id LIMIT 1"
                   " FOR UPDATE SKIP LOCKED)"
                   " RETURNING j.id, j.tries, w.targets::text, j.payload", 0);
    if (res == NULL) {
        db_put(db);
        return -1;
    }

    if (PQntuples(res) != 1) {
        PQclear(res);
        db_put(db);
        return 0;
    }

    id = strdup(db_s(res, 0, 0));
    n = (int) db_ll(res, 0, 1);
    targets = strdup(db_s(res, 0, 2));
    payload = strdup(db_s(res, 0, 3));
    PQclear(res);
    db_put(db);

    if (id == NULL || targets == NULL || payload == NULL) {
        free(id);
        free(targets);
        free(payload);
        return -1;
    }

    ok = wh_post(targets, payload, msg, sizeof(msg));

    snprintf(tries, sizeof(tries), "%d", n);

    db = db_get();
    if (db != NULL) {
        /* success; or again after 2 s * 5^(tries-1); or Failed */
        db_cmd(db, "UPDATE webhook_job SET"
               " status = CASE WHEN $2 THEN 'Success'"
               " WHEN $3::integer >= $5::integer THEN 'Failed'"
               " ELSE 'Pending' END,"
               " end_time = CASE WHEN $2 OR $3::integer >= $5::integer"
               " THEN now() END,"
               " next_try = now() + interval '2 seconds'"
               " * power(5, $3::integer - 1),"
               " log = log || to_char(now() AT TIME ZONE 'UTC',"
               " 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"') || ' try ' || $3"
               " || ': ' || $4 || E'\\n'"
               " WHERE id = $1::integer", 5, id, ok ? "t" : "f", tries, msg,
               WEBHOOK_TRIES_S);
        db_put(db);
    }

    if (!ok) {
        log_info("webhook job %s, try %d: %s", id, n, msg);
    }

    free(id);
    free(targets);
    free(payload);

    return 1;
}


static void *
wh_worker(void *arg)
{
    struct timespec  ts;
    unsigned long    gen;
    int              rc;

    (void) arg;

    for ( ;; ) {
        pthread_mutex_lock(&wh_mtx);
        gen = wh_gen;
        rc = wh_quit;
        pthread_mutex_unlock(&wh_mtx);

        if (rc) {
            return NULL;
        }

        rc = wh_once();
        if (rc == 1) {
            continue;
        }

        /* nothing due: until woken, or a second for retries */
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_sec += 1;

        pthread_mutex_lock(&wh_mtx);
        while (!wh_quit && gen == wh_gen
               && pthread_cond_timedwait(&wh_cond, &wh_mtx, &ts) == 0)
        {
            /* woken for nothing new */
        }
        pthread_mutex_unlock(&wh_mtx);
    }
}


int
webhook_start(void)
{
    struct dbc  *db;
    sigset_t     all, old;
    const char  *u;
    int          i, rc;

    u = conf->external_url != NULL ? conf->external_url : conf->hostname;
    if (u == NULL) {
        u = "";
    }
    if (strncmp(u, "https://", 8) == 0) {
        u += 8;
    } else if (strncmp(u, "http://", 7) == 0) {
        u += 7;
    }
    snprintf(wh_host, sizeof(wh_host), "%s", u);
    wh_host[strcspn(wh_host, "/")] = '\0';

    /* what a dead authd was delivering is due again */
    db = db_get();
    if (db != NULL) {
        db_cmd(db, "UPDATE webhook_job SET status = 'Pending',"
               " next_try = now() WHERE status = 'Running'", 0);
        db_put(db);
    }

    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, &old);

    rc = 0;
    for (i = 0; i < WEBHOOK_WORKERS && rc == 0; i++) {
        rc = pthread_create(&wh_threads[i], NULL, wh_worker, NULL);
        if (rc == 0) {
            wh_nthreads++;
        }
    }

    pthread_sigmask(SIG_SETMASK, &old, NULL);

    return rc == 0 ? 0 : -1;
}


void
webhook_stop(void)
{
    int  i;

    pthread_mutex_lock(&wh_mtx);
    wh_quit = 1;
    pthread_cond_broadcast(&wh_cond);
    pthread_mutex_unlock(&wh_mtx);

    for (i = 0; i < wh_nthreads; i++) {
        pthread_join(wh_threads[i], NULL);
    }
    wh_nthreads = 0;
}
