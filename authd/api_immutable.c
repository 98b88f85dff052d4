/*
 * authd: a project's immutable tag rules, Harbor's API.
 *
 *   GET  /projects/{p}/immutabletagrules          list, paginated
 *   POST /projects/{p}/immutabletagrules          create one
 *   PUT/DELETE /projects/{p}/immutabletagrules/{id}
 *
 * Members may list them; project administrators and maintainers manage
 * them ("immutable-tag", rbac.c).  A rule id is looked up within the
 * project of the path: another project's rule is a 404 there.
 *
 * authd only records the rules: the nginx module enforces them, on every
 * tag move or delete, through /v2 and through this API alike (the API
 * deletes through /v2).  It never asks the database, so after each change
 * the project's enabled rules are written whole to a file in the storage
 * (harbor_policy.h), before the change is answered; the module reads it
 * on each such request.  At start every project's file is written again,
 * so a change whose file write failed (answered 500) is not left half
 * done across a restart.
 */

#include <sys/stat.h>

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/bio.h>

#include "authd.h"


#define IMM_RULES_MAX   15          /* per project, as Harbor */

#define IMM_COLS                                                            \
    "id, priority, disabled, repo_decoration, repo_pattern,"               \
    " tag_decoration, tag_pattern"


static pthread_mutex_t  imm_mtx = PTHREAD_MUTEX_INITIALIZER;


static json_t *
imm_selector(const char *decoration, const char *pattern)
{
    return json_pack("{s:s, s:s, s:s, s:s}", "kind", "doublestar",
                     "decoration", decoration, "pattern", pattern,
                     "extras", "");
}


static json_t *
imm_json(PGresult *res, int i)
{
    return json_pack("{s:I, s:I, s:b, s:s, s:s, s:o, s:[o],"
                     " s:{s:[o]}}",
                     "id", (json_int_t) db_ll(res, i, 0),
                     "priority", (json_int_t) db_ll(res, i, 1),
                     "disabled", db_b(res, i, 2),
                     "action", "immutable",
                     "template", "immutable_template",
                     "params", json_object(),
                     "tag_selectors",
                     imm_selector(db_s(res, i, 5), db_s(res, i, 6)),
                     "scope_selectors", "repository",
                     imm_selector(db_s(res, i, 3), db_s(res, i, 4)));
}


/* <storage>/_policies/immutable, made if needed: 0, or -1 */
static int
imm_dir(char *buf, size_t len)
{
    int  n;

    if (conf->registry_storage == NULL) {
        return -1;
    }

    n = snprintf(buf, len, "%s/_policies", conf->registry_storage);
    if (n < 0 || (size_t) n >= len
        || (mkdir(buf, 0755) == -1 && errno != EEXIST))
    {
        return -1;
    }

    n = snprintf(buf, len, "%s" HB_POLICY_IMMUTABLE, conf->registry_storage);
    if (n < 0 || (size_t) n >= len
        || (mkdir(buf, 0755) == -1 && errno != EEXIST))
    {
        return -1;
    }

    return 0;
}


/*
 * The enabled rules of project (id, name) written to its file, or the
 * file removed when there are none: 0, or -1 (logged).  Serialized, and
 * the rules are read under the lock, so the last writer writes the
 * latest rules.
 */
int
immutable_sync(struct dbc *db, long long project_id, const char *name)
{
    PGresult  *res;
    BIO       *bio;
    char       dir[PATH_MAX], path[PATH_MAX], line[2 * HB_GLOB_MAX + 16];
    char       pid[32];
    int        i, n, rc;

    if (imm_dir(dir, sizeof(dir)) != 0
        || hb_policy_immutable_path(path, sizeof(path),
                                    conf->registry_storage,
                                    strlen(conf->registry_storage), name,
                                    strlen(name)) < 0)
    {
        log_warnx("immutable tag rules of \"%s\": no place to write them",
                  name);
        return -1;
    }

    snprintf(pid, sizeof(pid), "%lld", project_id);

    rc = -1;
    bio = NULL;

    pthread_mutex_lock(&imm_mtx);

    res = db_execv(db, "SELECT " IMM_COLS " FROM immutable_rule"
                   " WHERE project_id = $1::integer AND NOT disabled"
                   " ORDER BY priority, id", 1, pid);
    if (res == NULL) {
        goto fail;
    }

    if (PQntuples(res) == 0) {
        if (unlink(path) == -1 && errno != ENOENT) {
            log_warn("unlink \"%s\"", path);
            goto fail;
        }
        rc = 0;
        goto fail;
    }

    bio = BIO_new(BIO_s_mem());
    if (bio == NULL) {
        goto fail;
    }

    for (i = 0; i < PQntuples(res); i++) {
        n = hb_policy_immutable_line(line, sizeof(line),
                          strcmp(db_s(res, i, 3), "repoExcludes") == 0,
                          db_s(res, i, 4),
                          strcmp(db_s(res, i, 5), "excludes") == 0,
                          db_s(res, i, 6));
        if (n < 0 || BIO_write(bio, line, n) != n) {
            log_warnx("immutable tag rule %s of \"%s\" cannot be written",
                      db_s(res, i, 0), name);
            goto fail;
        }
    }

    rc = keys_write(path, 0644, bio);

fail:

    pthread_mutex_unlock(&imm_mtx);

    if (res != NULL) {
        PQclear(res);
    }
    BIO_free(bio);

    return rc;
}


/* a project is gone: its rules no longer apply to its name */
void
immutable_forget(const char *name)
{
    char  path[PATH_MAX];

    if (conf->registry_storage != NULL
        && hb_policy_immutable_path(path, sizeof(path),
                                    conf->registry_storage,
                                    strlen(conf->registry_storage), name,
                                    strlen(name)) >= 0
        && unlink(path) == -1 && errno != ENOENT)
    {
        log_warn("unlink \"%s\"", path);
    }
}


/* at start: every live project's file written again; 0, or -1 */
int
immutable_sync_all(void)
{
    return policy_sync_all("SELECT p.project_id, p.name FROM projects p"
                           " WHERE NOT p.deleted AND EXISTS (SELECT 1 FROM"
                           " immutable_rule i WHERE i.project_id ="
                           " p.project_id)", immutable_sync);
}


/*
 * fn(db, id, name) for each project sql selects (project_id, name): the
 * module's policy files written again at start; 0, or -1
 */
int
policy_sync_all(const char *sql,
    int (*fn)(struct dbc *db, long long project_id, const char *name))
{
    struct dbc  *db;
    PGresult    *res;
    int          i, rc;

    if (conf->registry_storage == NULL) {
        return 0;
    }

    db = db_get();
    if (db == NULL) {
        return -1;
    }

    rc = 0;

    res = db_execv(db, sql, 0);
    if (res == NULL) {
        rc = -1;
    }

    for (i = 0; res != NULL && i < PQntuples(res); i++) {
        if (fn(db, db_ll(res, i, 0), db_s(res, i, 1)) != 0) {
            rc = -1;
        }
    }

    if (res != NULL) {
        PQclear(res);
    }
    db_put(db);

    return rc;
}


/* the project of the path, and the caller's right to act on its rules */
static int
imm_project(struct req *r, struct project *p, const char *action)
{
    return project_load(r, r->seg[3], p) != 0
           || !project_can(r, p, "immutable-tag", action) ? -1 : 0;
}


/* the rule {seg 5} of project p: its id as text, or NULL with 404 sent */
static char *
imm_rule_id(struct req *r, struct project *p)
{
    PGresult   *res;
    long long   id;
    char        pid[32], *ids;
    int         found;

    id = http_id(r->seg[5]);
    ids = req_printf(r, "%lld", id);
    if (id < 0 || ids == NULL) {
        http_error(r, 404, "immutable tag rule %.32s not found", r->seg[5]);
        return NULL;
    }

    snprintf(pid, sizeof(pid), "%lld", p->id);
    res = db_execv(r->db, "SELECT 1 FROM immutable_rule WHERE id ="
                   " $1::integer AND project_id = $2::integer", 2, ids, pid);
    if (res == NULL) {
        http_db_error(r);
        return NULL;
    }

    found = PQntuples(res) == 1;
    PQclear(res);

    if (!found) {
        http_error(r, 404, "immutable tag rule %lld not found", id);
        return NULL;
    }

    return ids;
}


/*
 * One selector list of a body: exactly one doublestar selector whose
 * decoration is one of the two given.  0 (absent: *deco NULL), or -1
 * with 400 sent.
 */
static int
imm_selector_parse(struct req *r, json_t *list, const char *what,
    const char *matches, const char *excludes, const char **deco,
    const char **pattern)
{
    json_t      *s;
    const char  *kind;

    *deco = NULL;
    *pattern = NULL;

    if (list == NULL) {
        return 0;
    }

    if (!json_is_array(list) || json_array_size(list) != 1
        || !json_is_object(s = json_array_get(list, 0)))
    {
        http_error(r, 400, "%s: exactly one selector is expected", what);
        return -1;
    }

    kind = json_string_value(json_object_get(s, "kind"));
    *deco = json_string_value(json_object_get(s, "decoration"));
    *pattern = json_string_value(json_object_get(s, "pattern"));

    if (kind != NULL && strcmp(kind, "doublestar") != 0) {
        http_error(r, 400, "%s: kind \"%.32s\" is not supported"
                   " (doublestar)", what, kind);
        return -1;
    }

    if (*deco == NULL
        || (strcmp(*deco, matches) != 0 && strcmp(*deco, excludes) != 0))
    {
        http_error(r, 400, "%s: decoration must be %s or %s", what, matches,
                   excludes);
        return -1;
    }

    if (*pattern == NULL || !hb_policy_pattern_valid(*pattern)) {
        http_error(r, 400, "%s: \"%.64s\" is not a doublestar pattern",
                   what, *pattern != NULL ? *pattern : "");
        return -1;
    }

    return 0;
}


/* a rule's body, allow-listed; on create both selectors are required */
static int
imm_parse(struct req *r, json_t *body, int create, const char **rdeco,
    const char **rpat, const char **tdeco, const char **tpat,
    int *disabled, const char **priority)
{
    json_t  *scope, *v;

    *disabled = -1;
    *priority = NULL;

    if (!json_is_object(body)) {
        http_error(r, 400, "a JSON object is expected");
        return -1;
    }

    v = json_object_get(body, "disabled");
    if (v != NULL) {
        if (!json_is_boolean(v)) {
            http_error(r, 400, "disabled must be true or false");
            return -1;
        }
        *disabled = json_is_true(v);
    }

    v = json_object_get(body, "priority");
    if (v != NULL) {
        if (!json_is_integer(v) || json_integer_value(v) < 0
            || json_integer_value(v) > 1000000)
        {
            http_error(r, 400, "priority must be a small number");
            return -1;
        }
        *priority = req_printf(r, "%lld",
                               (long long) json_integer_value(v));
    }

    scope = json_object_get(body, "scope_selectors");
    if (scope != NULL && !json_is_object(scope)) {
        http_error(r, 400, "scope_selectors must be an object");
        return -1;
    }

    if (imm_selector_parse(r, json_object_get(body, "tag_selectors"),
                           "tag_selectors", "matches", "excludes", tdeco,
                           tpat) != 0
        || imm_selector_parse(r, scope != NULL
                                 ? json_object_get(scope, "repository")
                                 : NULL,
                              "scope_selectors.repository", "repoMatches",
                              "repoExcludes", rdeco, rpat) != 0)
    {
        return -1;
    }

    if (create && (*tdeco == NULL || *rdeco == NULL)) {
        http_error(r, 400, "a rule needs tag_selectors and"
                   " scope_selectors.repository");
        return -1;
    }

    return 0;
}


/* the file follows the rows, before the answer */
static int
imm_synced(struct req *r, struct project *p)
{
    if (immutable_sync(r->db, p->id, p->name) != 0) {
        http_error(r, 500, "the immutable tag rules of %s were recorded but"
                   " could not be written to the storage; the registry"
                   " applies them once they are (authd retries at start)",
                   p->name);
        return -1;
    }

    return 0;
}


/* GET/POST /projects/{p}/immutabletagrules */
void
api_immutable_rules(struct req *r)
{
    struct project   p;
    struct qsql      s;
    PGresult        *res;
    json_t          *body, *list;
    const char      *rdeco, *rpat, *tdeco, *tpat, *prio;
    char            *v, *loc, pid[32];
    long             page, page_size;
    int              disabled, i, a, n;

    if (imm_project(r, &p, r->method == M_GET ? "list" : "create") != 0) {
        return;
    }

    snprintf(pid, sizeof(pid), "%lld", p.id);

    if (r->method == M_GET) {
        if (http_page(r, &page, &page_size) != 0) {
            return;
        }

        q_init(&s, r);
        v = req_printf(r, "%lld", p.id);
        a = v != NULL ? q_param(&s, v) : -1;
        if (a < 0 || q_add(&s, "project_id = $%d::integer", a) != 0
            || q_list(r, &s, "SELECT count(*) FROM immutable_rule"
                      " WHERE true",
                      "SELECT " IMM_COLS " FROM immutable_rule WHERE true",
                      "priority, id", page, page_size, &res) != 0)
        {
            return;
        }

        list = json_array();
        for (i = 0; i < PQntuples(res); i++) {
            json_array_append_new(list, imm_json(res, i));
        }
        PQclear(res);

        http_json(r, 200, list);
        return;
    }

    if (conf->registry_storage == NULL) {
        http_error(r, 503, "immutable tag rules need authd.registry_storage,"
                   " where the registry reads them");
        return;
    }

    body = http_body_json(r);
    if (body == NULL) {
        return;
    }

    if (imm_parse(r, body, 1, &rdeco, &rpat, &tdeco, &tpat, &disabled,
                  &prio) != 0)
    {
        goto done;
    }

    res = db_execv(r->db, "SELECT count(*) FROM immutable_rule"
                   " WHERE project_id = $1::integer", 1, pid);
    if (res == NULL) {
        http_db_error(r);
        goto done;
    }
    n = (int) db_ll(res, 0, 0);
    PQclear(res);

    if (n >= IMM_RULES_MAX) {
        http_error(r, 412, "a project has at most %d immutable tag rules",
                   IMM_RULES_MAX);
        goto done;
    }

    res = db_execv(r->db, "INSERT INTO immutable_rule (project_id, priority,"
                   " disabled, repo_decoration, repo_pattern, tag_decoration,"
                   " tag_pattern) VALUES ($1::integer,"
                   " COALESCE($2::integer, 0), $3::boolean, $4, $5, $6, $7)"
                   " RETURNING id", 7, pid, prio, disabled == 1 ? "t" : "f",
                   rdeco, rpat, tdeco, tpat);
    if (res == NULL) {
        http_db_error(r);
        goto done;
    }

    loc = req_printf(r, "/api/v2.0/projects/%lld/immutabletagrules/%s",
                     p.id, db_s(res, 0, 0));
    PQclear(res);

    audit_req(r, p.id, "create", "immutable_rule", tpat);

    if (imm_synced(r, &p) != 0) {
        goto done;
    }

    if (loc != NULL) {
        http_header(r, "Location", loc);
    }
    http_text(r, 201, NULL, "");

done:

    json_decref(body);
}


/* PUT/DELETE /projects/{p}/immutabletagrules/{id} */
void
api_immutable_rule(struct req *r)
{
    struct project   p;
    json_t          *body;
    const char      *rdeco, *rpat, *tdeco, *tpat, *prio;
    char            *ids, dis[2];
    int              disabled;

    if (imm_project(r, &p, r->method == M_DELETE ? "delete" : "update") != 0)
    {
        return;
    }

    ids = imm_rule_id(r, &p);
    if (ids == NULL) {
        return;
    }

    if (r->method == M_DELETE) {
        if (db_cmd(r->db, "DELETE FROM immutable_rule WHERE id = $1::integer",
                   1, ids) < 0)
        {
            http_db_error(r);
            return;
        }

        audit_req(r, p.id, "delete", "immutable_rule", ids);

        if (imm_synced(r, &p) == 0) {
            http_text(r, 200, NULL, "");
        }
        return;
    }

    body = http_body_json(r);
    if (body == NULL) {
        return;
    }

    if (imm_parse(r, body, 0, &rdeco, &rpat, &tdeco, &tpat, &disabled,
                  &prio) != 0)
    {
        goto done;
    }

    dis[0] = disabled == 1 ? 't' : 'f';
    dis[1] = '\0';

    if (db_cmd(r->db, "UPDATE immutable_rule SET"
               " disabled = COALESCE($2::boolean, disabled),"
               " priority = COALESCE($3::integer, priority),"
               " repo_decoration = COALESCE($4, repo_decoration),"
               " repo_pattern = COALESCE($5, repo_pattern),"
               " tag_decoration = COALESCE($6, tag_decoration),"
               " tag_pattern = COALESCE($7, tag_pattern),"
               " update_time = now() WHERE id = $1::integer", 7, ids,
               disabled < 0 ? NULL : dis, prio, rdeco, rpat, tdeco, tpat)
        < 0)
    {
        http_db_error(r);
        goto done;
    }

    audit_req(r, p.id, "update", "immutable_rule", ids);

    if (imm_synced(r, &p) == 0) {
        http_text(r, 200, NULL, "");
    }

done:

    json_decref(body);
}
