/*
 * authd: tag retention runs.
 *
 * One thread: every second it starts the runs a policy's schedule says
 * are due (the replication trigger's cron), and it runs the waiting
 * executions one after the other.  A run takes each repository of the
 * project that some enabled rule selects, and its artifacts (not the
 * children of an index, nor accessories: they go with their parent or
 * subject).  A rule selects artifacts by a tag (any tag matches, or for
 * "excludes" none does; untagged ones when its tag selector's extras say
 * {"untagged": true}) and keeps some of those by its template; an
 * artifact no rule keeps is removed, unless an immutable tag points at
 * it (the rules file the module enforces, read once per run).  A dry run
 * plans the same way and removes nothing; a real run removes through
 * /v2 (registry_delete, as the API's deletes), so the module's checks
 * apply and the journal brings the rows along.  Each repository is a
 * task whose log names what was kept, why, and what was removed.
 */

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "authd.h"


struct cand {
    const char  *digest;
    const char  *tags;              /* LF-separated, "" when untagged */
    double       push, pull;        /* epoch seconds; pull 0: never */
    int          keep;              /* 0 remove, 1 kept, 2 immutable */
    int          rule;              /* the rule that keeps it */
};

static pthread_mutex_t  ret_mtx = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t   ret_cond = PTHREAD_COND_INITIALIZER;
static pthread_t        ret_tid;
static int              ret_started;
static int              ret_quit;
static int              ret_kick;

const char *const  retention_templates[] = {
    "latestPushedK", "latestPulledN", "nDaysSinceLastPush",
    "nDaysSinceLastPull", "always", NULL
};


/* ------------------------------------------------------------- rules */

static int
sel_get(json_t *list, const char *m, const char *x, int *excl,
    const char **pat, char *err, size_t errlen, const char *what)
{
    json_t      *s;
    const char  *kind, *deco;

    if (!json_is_array(list) || json_array_size(list) != 1
        || !json_is_object(s = json_array_get(list, 0)))
    {
        snprintf(err, errlen, "%s: exactly one selector is expected", what);
        return -1;
    }

    kind = json_string_value(json_object_get(s, "kind"));
    deco = json_string_value(json_object_get(s, "decoration"));
    *pat = json_string_value(json_object_get(s, "pattern"));

    if (kind != NULL && strcmp(kind, "doublestar") != 0) {
        snprintf(err, errlen, "%s: only doublestar selectors", what);
        return -1;
    }

    if (deco == NULL || (strcmp(deco, m) != 0 && strcmp(deco, x) != 0)) {
        snprintf(err, errlen, "%s: decoration must be %s or %s", what, m, x);
        return -1;
    }

    if (*pat == NULL || !hb_policy_pattern_valid(*pat)) {
        snprintf(err, errlen, "%s: not a doublestar pattern", what);
        return -1;
    }

    *excl = strcmp(deco, x) == 0;

    return 0;
}


/*
 * Harbor's rules array, allow-listed into out[] (at most max): the count,
 * or -1 with err set.  rebuilt (when not NULL) gets the JSON to store.
 */
int
retention_rules_parse(json_t *rules, struct retention_rule *out, int max,
    json_t **rebuilt, char *err, size_t errlen)
{
    struct retention_rule  *u;
    json_t                 *o, *params, *tags, *scope, *v, *x;
    const char             *tpl, *extras;
    size_t                  i;
    int                     n, t;

    if (!json_is_array(rules) || json_array_size(rules) > (size_t) max) {
        snprintf(err, errlen, "rules: an array of at most %d rules", max);
        return -1;
    }

    if (rebuilt != NULL) {
        *rebuilt = json_array();
    }

    n = 0;

    json_array_foreach(rules, i, o) {
        u = &out[n];
        memset(u, 0, sizeof(*u));

        tpl = json_string_value(json_object_get(o, "template"));
        for (t = 0; retention_templates[t] != NULL; t++) {
            if (tpl != NULL && strcmp(tpl, retention_templates[t]) == 0) {
                break;
            }
        }
        if (retention_templates[t] == NULL) {
            snprintf(err, errlen, "rule %zu: template must be latestPushedK,"
                     " latestPulledN, nDaysSinceLastPush, nDaysSinceLastPull"
                     " or always", i + 1);
            goto fail;
        }
        u->template = t;

        v = json_object_get(o, "action");
        if (v != NULL && !(json_is_string(v)
                           && strcmp(json_string_value(v), "retain") == 0))
        {
            snprintf(err, errlen, "rule %zu: action must be retain", i + 1);
            goto fail;
        }

        v = json_object_get(o, "disabled");
        if (v != NULL && !json_is_boolean(v)) {
            snprintf(err, errlen, "rule %zu: disabled is a boolean", i + 1);
            goto fail;
        }
        u->disabled = json_is_true(v);

        params = json_object_get(o, "params");
        if (u->template != RETENTION_ALWAYS) {
            v = json_object_get(params, tpl);
            if (!json_is_integer(v) || json_integer_value(v) < 0
                || json_integer_value(v) > 100000)
            {
                snprintf(err, errlen, "rule %zu: params.%s must be a count"
                         " from 0 to 100000", i + 1, tpl);
                goto fail;
            }
            u->param = (long) json_integer_value(v);
        }

        tags = json_object_get(o, "tag_selectors");
        scope = json_object_get(o, "scope_selectors");
        if (sel_get(tags, "matches", "excludes", &u->texcl, &u->tpat, err,
                    errlen, "tag_selectors") != 0
            || sel_get(json_object_get(scope, "repository"), "repoMatches",
                       "repoExcludes", &u->rexcl, &u->rpat, err, errlen,
                       "scope_selectors.repository") != 0)
        {
            goto fail;
        }

        /* extras: a JSON text, {"untagged": true} */
        extras = json_string_value(json_object_get(json_array_get(tags, 0),
                                                   "extras"));
        if (extras != NULL && extras[0] != '\0') {
            x = json_loads(extras, 0, NULL);
            if (!json_is_object(x)) {
                json_decref(x);
                snprintf(err, errlen, "rule %zu: extras is a JSON object",
                         i + 1);
                goto fail;
            }
            u->untagged = json_is_true(json_object_get(x, "untagged"));
            json_decref(x);
        }

        if (rebuilt != NULL) {
            json_array_append_new(*rebuilt, json_pack(
                "{s:I, s:I, s:b, s:s, s:s, s:o, s:[{s:s, s:s, s:s, s:s}],"
                " s:{s:[{s:s, s:s, s:s}]}}",
                "id", (json_int_t) n + 1,
                "priority", (json_int_t) n + 1,
                "disabled", u->disabled,
                "action", "retain",
                "template", tpl,
                "params", u->template == RETENTION_ALWAYS
                          ? json_object()
                          : json_pack("{s:I}", tpl, (json_int_t) u->param),
                "tag_selectors", "kind", "doublestar",
                "decoration", u->texcl ? "excludes" : "matches",
                "pattern", u->tpat,
                "extras", u->untagged ? "{\"untagged\":true}"
                                      : "{\"untagged\":false}",
                "scope_selectors", "repository", "kind", "doublestar",
                "decoration", u->rexcl ? "repoExcludes" : "repoMatches",
                "pattern", u->rpat));
        }

        n++;
    }

    return n;

fail:

    if (rebuilt != NULL) {
        json_decref(*rebuilt);
        *rebuilt = NULL;
    }

    return -1;
}


/* does rule u select repository rname (without its project)? */
static int
rule_repo(const struct retention_rule *u, const char *rname)
{
    return !u->disabled
           && hb_glob_match(u->rpat, rname, strlen(rname)) != u->rexcl;
}


/* does rule u select candidate c by its tags? */
static int
rule_tags(const struct retention_rule *u, const struct cand *c)
{
    const char  *p, *e;
    int          any;

    if (c->tags[0] == '\0') {
        return u->untagged;
    }

    any = 0;
    for (p = c->tags; *p; p = *e ? e + 1 : e) {
        e = strchr(p, '\n');
        if (e == NULL) {
            e = p + strlen(p);
        }
        if (hb_glob_match(u->tpat, p, (size_t) (e - p))) {
            any = 1;
            break;
        }
    }

    return any != u->texcl;
}


static int
by_push(const void *a, const void *b)
{
    const struct cand  *x = *(struct cand *const *) a;
    const struct cand  *y = *(struct cand *const *) b;

    return x->push < y->push ? 1 : x->push > y->push ? -1
                                                      : strcmp(x->digest,
                                                               y->digest);
}


static int
by_pull(const void *a, const void *b)
{
    const struct cand  *x = *(struct cand *const *) a;
    const struct cand  *y = *(struct cand *const *) b;

    return x->pull < y->pull ? 1 : x->pull > y->pull ? -1
                                                      : strcmp(x->digest,
                                                               y->digest);
}


/* what rule r (index ri) keeps of the n candidates it selected (sel) */
static void
rule_keep(const struct retention_rule *u, int ri, struct cand **sel, int n,
    double now)
{
    int     i;
    double  cut;

    switch (u->template) {

    case RETENTION_LATEST_PUSHED:
    case RETENTION_LATEST_PULLED:
        qsort(sel, (size_t) n, sizeof(*sel),
              u->template == RETENTION_LATEST_PUSHED ? by_push : by_pull);
        for (i = 0; i < n && i < u->param; i++) {
            if (u->template == RETENTION_LATEST_PULLED && sel[i]->pull == 0) {
                break;              /* never pulled: not among the pulled */
            }
            if (sel[i]->keep == 0) {
                sel[i]->keep = 1;
                sel[i]->rule = ri;
            }
        }
        break;

    case RETENTION_DAYS_PUSH:
    case RETENTION_DAYS_PULL:
        cut = now - (double) u->param * 86400;
        for (i = 0; i < n; i++) {
            if ((u->template == RETENTION_DAYS_PUSH ? sel[i]->push
                                                    : sel[i]->pull) >= cut
                && sel[i]->keep == 0)
            {
                sel[i]->keep = 1;
                sel[i]->rule = ri;
            }
        }
        break;

    default:
        for (i = 0; i < n; i++) {
            if (sel[i]->keep == 0) {
                sel[i]->keep = 1;
                sel[i]->rule = ri;
            }
        }
        break;
    }
}


/* the project's immutable tag rules file, or NULL (malloc'ed) */
static char *
imm_rules(const char *project, size_t *len)
{
    char     path[PATH_MAX], *buf;
    ssize_t  n;
    int      fd;

    *len = 0;

    if (conf->registry_storage == NULL
        || hb_policy_immutable_path(path, sizeof(path),
                                    conf->registry_storage,
                                    strlen(conf->registry_storage), project,
                                    strlen(project)) < 0)
    {
        return NULL;
    }

    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd == -1) {
        return NULL;
    }

    buf = malloc(HB_POLICY_MAX + 1);
    n = buf != NULL ? read(fd, buf, HB_POLICY_MAX + 1) : -1;
    close(fd);

    if (n < 0 || n > HB_POLICY_MAX) {
        /* unreadable: every tag counts as immutable (as in the module) */
        free(buf);
        buf = strdup("garbage");
        *len = buf != NULL ? strlen(buf) : 0;
        return buf;
    }

    *len = (size_t) n;

    return buf;
}


/*
 * Does an immutable tag point at c?  pol NULL: no rules; malformed: a
 * file that cannot be parsed, every tag kept (as the module does).
 */
static int
cand_immutable(const hb_policy_t *pol, int malformed, const char *repo,
    const struct cand *c)
{
    const char  *p, *e;

    if (pol == NULL) {
        return 0;
    }

    for (p = c->tags; *p; p = *e ? e + 1 : e) {
        e = strchr(p, '\n');
        if (e == NULL) {
            e = p + strlen(p);
        }
        if (malformed
            || hb_policy_match(pol, repo, strlen(repo), p, (size_t) (e - p)))
        {
            return 1;
        }
    }

    return 0;
}


/* ------------------------------------------------------------- a run */

/* one repository: 0, or -1 (the task failed) */
static int
run_repo(struct dbc *db, long long eid, const char *repo_id,
    const char *repo, const char *rname, struct retention_rule *rules,
    int nrules, const hb_policy_t *imm, int malformed, int dry,
    const char *user)
{
    PGresult     *res, *t;
    struct cand  *c, **sel;
    FILE         *log;
    char         *text, ebuf[32], err[REG_ERR_MAX], tot[16], ret[16];
    size_t        tlen;
    double        now;
    int           n, i, r, k, kept, failed, status;

    snprintf(ebuf, sizeof(ebuf), "%lld", eid);
    t = db_execv(db, "INSERT INTO retention_task (execution_id, repository)"
                 " VALUES ($1::integer, $2) RETURNING id", 2, ebuf, repo);
    if (t == NULL) {
        return -1;
    }

    res = db_execv(db, "SELECT a.digest, COALESCE(string_agg(t.name, E'\\n'"
                   " ORDER BY t.name), ''),"
                   " extract(epoch FROM a.push_time),"
                   " COALESCE(extract(epoch FROM a.pull_time), 0)"
                   " FROM artifact a LEFT JOIN tag t ON t.artifact_id = a.id"
                   " WHERE a.repository_id = $1::integer"
                   " AND a.subject_digest IS NULL"
                   " AND NOT EXISTS (SELECT 1 FROM artifact_reference ar"
                   " JOIN artifact p ON p.id = ar.parent_id"
                   " WHERE p.repository_id = a.repository_id"
                   " AND ar.child_digest = a.digest)"
                   " GROUP BY a.id ORDER BY a.digest", 1, repo_id);
    n = res != NULL ? PQntuples(res) : 0;
    c = calloc((size_t) n + 1, sizeof(*c));
    sel = calloc((size_t) n + 1, sizeof(*sel));
    text = NULL;
    log = open_memstream(&text, &tlen);

    if (res == NULL || c == NULL || sel == NULL || log == NULL) {
        failed = 1;
        goto done;
    }

    now = (double) time(NULL);

    for (i = 0; i < n; i++) {
        c[i].digest = db_s(res, i, 0);
        c[i].tags = db_s(res, i, 1);
        c[i].push = atof(db_s(res, i, 2));
        c[i].pull = atof(db_s(res, i, 3));
        if (cand_immutable(imm, malformed, repo, &c[i])) {
            c[i].keep = 2;
        }
    }

    for (r = 0; r < nrules; r++) {
        if (!rule_repo(&rules[r], rname)) {
            continue;
        }
        for (i = 0, k = 0; i < n; i++) {
            if (rule_tags(&rules[r], &c[i])) {
                sel[k++] = &c[i];
            }
        }
        rule_keep(&rules[r], r, sel, k, now);
    }

    kept = 0;
    failed = 0;

    for (i = 0; i < n; i++) {
        fprintf(log, "%s %s [%s]", c[i].keep == 0 ? (dry ? "would remove"
                                                         : "remove")
                                 : "retain", c[i].digest, c[i].tags);
        if (c[i].keep == 2) {
            fprintf(log, " (immutable)\n");
            kept++;
            continue;
        }
        if (c[i].keep == 1) {
            fprintf(log, " (rule %d, %s)\n", c[i].rule + 1,
                    retention_templates[rules[c[i].rule].template]);
            kept++;
            continue;
        }
        if (dry) {
            fprintf(log, "\n");
            continue;
        }

        status = registry_delete(user, repo, c[i].digest, err, sizeof(err));
        if (status == 202 || status == 404) {
            fprintf(log, ": removed\n");
        } else if (status == 412) {
            fprintf(log, ": kept, %s\n", err);
            kept++;
        } else {
            fprintf(log, ": failed, %s\n", err);
            failed = 1;
        }
    }

done:

    if (log != NULL) {
        fclose(log);
    }

    snprintf(tot, sizeof(tot), "%d", n);
    snprintf(ret, sizeof(ret), "%d", failed ? 0 : kept);

    if (db_cmd(db, "UPDATE retention_task SET status = $2, total ="
               " $3::integer, retained = $4::integer, log = $5,"
               " end_time = now() WHERE id = $1::integer", 5,
               db_s(t, 0, 0), failed ? "Error" : "Success", tot, ret,
               text != NULL ? text : "") < 0)
    {
        failed = 1;
    }

    PQclear(t);
    if (res != NULL) {
        PQclear(res);
    }
    free(text);
    free(sel);
    free(c);

    return failed ? -1 : 0;
}


static void
run_execution(struct dbc *db, const char *eid, const char *pid, int dry,
    const char *user)
{
    struct retention_rule  rules[RETENTION_RULES_MAX];
    PGresult              *res, *repos, *res2;
    json_t                *j;
    const char            *project, *name;
    hb_policy_t            pol;
    char                   err[256], *imm;
    size_t                 imm_len, plen;
    int                    n, i, r, any, failed, malformed, compiled;

    failed = 1;
    imm = NULL;
    repos = NULL;
    j = NULL;
    compiled = 0;
    malformed = 0;

    res = db_execv(db, "SELECT pr.project_id, pr.name, rp.rules::text"
                   " FROM retention_policy rp JOIN projects pr"
                   " ON pr.project_id = rp.project_id"
                   " WHERE rp.id = $1::integer", 1, pid);
    if (res == NULL || PQntuples(res) != 1) {
        goto done;
    }

    /* the rules point into j: kept until the end */
    j = json_loads(db_s(res, 0, 2), 0, NULL);
    n = retention_rules_parse(j, rules, RETENTION_RULES_MAX, NULL, err,
                              sizeof(err));
    if (n < 0) {
        log_warnx("retention policy %s: %s", pid, err);
        goto done;
    }

    project = db_s(res, 0, 1);
    plen = strlen(project);
    imm = imm_rules(project, &imm_len);
    malformed = imm != NULL && hb_policy_compile(&pol, imm, imm_len) != 0;
    compiled = imm != NULL && !malformed;

    repos = db_execv(db, "SELECT repository_id, name FROM repository"
                     " WHERE project_id = $1::integer ORDER BY name", 1,
                     db_s(res, 0, 0));
    if (repos == NULL) {
        goto done;
    }

    failed = 0;

    for (i = 0; i < PQntuples(repos); i++) {
        name = db_s(repos, i, 1);
        if (strncmp(name, project, plen) != 0 || name[plen] != '/') {
            continue;
        }

        for (r = 0, any = 0; r < n && !any; r++) {
            any = rule_repo(&rules[r], name + plen + 1);
        }
        if (!any) {
            continue;
        }

        /* stopped between two repositories */
        res2 = db_execv(db, "SELECT 1 FROM retention_execution WHERE id ="
                        " $1::integer AND status = 'Running'", 1, eid);
        any = res2 != NULL && PQntuples(res2) == 1;
        if (res2 != NULL) {
            PQclear(res2);
        }
        if (!any) {
            goto done;
        }

        if (run_repo(db, atoll(eid), db_s(repos, i, 0), name,
                     name + plen + 1, rules, n, imm != NULL ? &pol : NULL,
                     malformed, dry, user)
            != 0)
        {
            failed = 1;
        }
    }

done:

    (void) db_cmd(db, "UPDATE retention_execution SET status = $2,"
                  " end_time = now() WHERE id = $1::integer"
                  " AND status = 'Running'", 2, eid,
                  failed ? "Failed" : "Succeed");

    if (compiled) {
        hb_policy_free(&pol);
    }
    free(imm);
    json_decref(j);
    if (repos != NULL) {
        PQclear(repos);
    }
    if (res != NULL) {
        PQclear(res);
    }
}


/* the oldest waiting execution, run: 1, or 0 when none waits */
static int
run_next(struct dbc *db)
{
    PGresult  *res;
    char      *eid, *pid, *user;
    int        dry;

    res = db_execv(db, "UPDATE retention_execution SET status = 'Running',"
                   " start_time = now() WHERE id = (SELECT id FROM"
                   " retention_execution WHERE status = 'Pending'"
                   " ORDER BY id LIMIT 1 FOR UPDATE SKIP LOCKED)"
                   " RETURNING id, policy_id, dry_run, username", 0);
    if (res == NULL || PQntuples(res) != 1) {
        if (res != NULL) {
            PQclear(res);
        }
        return 0;
    }

    eid = strdup(db_s(res, 0, 0));
    pid = strdup(db_s(res, 0, 1));
    dry = db_b(res, 0, 2);
    user = strdup(db_s(res, 0, 3));
    PQclear(res);

    if (eid != NULL && pid != NULL && user != NULL) {
        log_info("retention run %s of policy %s%s", eid, pid,
                 dry ? " (dry run)" : "");
        run_execution(db, eid, pid, dry, user);
    }

    free(eid);
    free(pid);
    free(user);

    return 1;
}


/* the runs schedules say are due this minute: once per minute */
static void
run_schedules(struct dbc *db)
{
    PGresult  *res;
    int        i;

    res = db_execv(db, "SELECT id, cron FROM retention_policy"
                   " WHERE cron <> ''", 0);
    if (res == NULL) {
        return;
    }

    for (i = 0; i < PQntuples(res); i++) {
        if (repl_cron_fires(db_s(res, i, 1), time(NULL)) != 1) {
            continue;
        }

        if (db_cmd(db, "UPDATE retention_policy SET last_fired = now()"
                   " WHERE id = $1::integer AND (last_fired IS NULL OR"
                   " date_trunc('minute', last_fired)"
                   " <> date_trunc('minute', now()))", 1,
                   db_s(res, i, 0)) == 1)
        {
            (void) db_cmd(db, "INSERT INTO retention_execution (policy_id,"
                          " trigger, dry_run, username) VALUES"
                          " ($1::integer, 'SCHEDULE', false, 'retention')",
                          1, db_s(res, i, 0));
        }
    }

    PQclear(res);
}


static void *
ret_main(void *arg)
{
    struct dbc       *db;
    struct timespec   ts;

    (void) arg;

    for ( ;; ) {
        db = db_get();
        if (db != NULL) {
            run_schedules(db);
            while (run_next(db) == 1) {
                /* the next one */
            }
            db_put(db);
        }

        pthread_mutex_lock(&ret_mtx);
        if (!ret_quit && !ret_kick) {
            clock_gettime(CLOCK_REALTIME, &ts);
            ts.tv_sec += 1;
            (void) pthread_cond_timedwait(&ret_cond, &ret_mtx, &ts);
        }
        ret_kick = 0;
        if (ret_quit) {
            pthread_mutex_unlock(&ret_mtx);
            break;
        }
        pthread_mutex_unlock(&ret_mtx);
    }

    return NULL;
}


void
retention_wake(void)
{
    pthread_mutex_lock(&ret_mtx);
    ret_kick = 1;
    pthread_cond_signal(&ret_cond);
    pthread_mutex_unlock(&ret_mtx);
}


int
retention_start(void)
{
    ret_quit = 0;

    if (pthread_create(&ret_tid, NULL, ret_main, NULL) != 0) {
        return -1;
    }
    ret_started = 1;

    return 0;
}


void
retention_stop(void)
{
    if (!ret_started) {
        return;
    }

    pthread_mutex_lock(&ret_mtx);
    ret_quit = 1;
    pthread_cond_signal(&ret_cond);
    pthread_mutex_unlock(&ret_mtx);

    pthread_join(ret_tid, NULL);
    ret_started = 0;
}
