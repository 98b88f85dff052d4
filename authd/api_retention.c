/*
 * authd: tag retention, Harbor's API.
 *
 *   GET  /retentions/metadatas                         the templates
 *   POST /retentions                                   a project's policy
 *   GET/PUT/DELETE /retentions/{id}
 *   GET/POST /retentions/{id}/executions               runs; POST {dry_run}
 *   PATCH /retentions/{id}/executions/{eid}            {action: "stop"}
 *   GET  /retentions/{id}/executions/{eid}/tasks       one per repository
 *   GET  /retentions/{id}/executions/{eid}/tasks/{tid} its log (text)
 *
 * A policy belongs to a project (scope {level: "project", ref: id}), one
 * per project.  Its project's members but limited guests read it; its
 * administrators and maintainers change and run it ("tag-retention",
 * rbac.c).  A policy of a project the caller cannot see is a 404, as an
 * unknown one; an execution or task is looked up within the policy and
 * execution of the path.  The runs are retention.c's.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "authd.h"


#define RET_EXEC_COLS                                                       \
    "id, policy_id, " DB_TIME("start_time") ", "                           \
    "COALESCE(" DB_TIME("end_time") ", ''), status, trigger, dry_run"


/*
 * The policy {seg 3}: its id as text and its project, the caller allowed
 * to do action; or NULL with 404 (or 401, 403) sent.
 */
static char *
ret_policy(struct req *r, const char *action, struct project *p)
{
    PGresult   *res;
    long long   id;
    char       *ids, pid[32];
    int         found;

    if (http_db(r) == NULL) {
        return NULL;
    }

    id = http_id(r->seg[3]);
    ids = req_printf(r, "%lld", id);
    if (id < 0 || ids == NULL) {
        http_error(r, 404, "retention policy %.32s not found", r->seg[3]);
        return NULL;
    }

    res = db_execv(r->db, "SELECT project_id FROM retention_policy"
                   " WHERE id = $1::integer", 1, ids);
    if (res == NULL) {
        http_db_error(r);
        return NULL;
    }
    found = PQntuples(res) == 1;
    snprintf(pid, sizeof(pid), "%s", found ? db_s(res, 0, 0) : "");
    PQclear(res);

    if (!found) {
        http_error(r, 404, "retention policy %lld not found", id);
        return NULL;
    }

    if (project_load(r, pid, p) != 0) {
        if (r->status == 403) {
            http_error(r, 404, "retention policy %lld not found", id);
        }
        return NULL;
    }

    if (!project_can(r, p, "tag-retention", action)) {
        return NULL;
    }

    return ids;
}


/*
 * A policy's body: rules (allow-listed, rebuilt) and the schedule's cron
 * ("" for none).  0, or -1 with 400 sent.
 */
static int
ret_parse(struct req *r, json_t *body, json_t **rules, const char **cron)
{
    struct retention_rule  u[RETENTION_RULES_MAX];
    json_t                *trig, *v;
    const char            *algo, *kind;
    char                   err[256];

    *rules = NULL;
    *cron = "";

    algo = json_string_value(json_object_get(body, "algorithm"));
    if (algo != NULL && strcmp(algo, "or") != 0) {
        http_error(r, 400, "algorithm must be \"or\"");
        return -1;
    }

    if (retention_rules_parse(json_object_get(body, "rules"), u,
                              RETENTION_RULES_MAX, rules, err, sizeof(err))
        < 0)
    {
        http_error(r, 400, "%s", err);
        return -1;
    }

    trig = json_object_get(body, "trigger");
    if (trig != NULL && !json_is_null(trig)) {
        kind = json_string_value(json_object_get(trig, "kind"));
        v = json_object_get(json_object_get(trig, "settings"), "cron");
        if (kind != NULL && strcmp(kind, "Schedule") != 0) {
            http_error(r, 400, "trigger.kind must be Schedule");
            goto fail;
        }
        if (v != NULL && !json_is_string(v)) {
            http_error(r, 400, "trigger.settings.cron must be a string");
            goto fail;
        }
        *cron = v != NULL ? json_string_value(v) : "";
        if ((*cron)[0] != '\0' && !repl_cron_valid(*cron)) {
            http_error(r, 400, "trigger.settings.cron \"%.64s\" is not a"
                       " cron expression", *cron);
            goto fail;
        }
    }

    return 0;

fail:

    json_decref(*rules);
    *rules = NULL;

    return -1;
}


/* GET /retentions/metadatas */
void
api_retention_metadatas(struct req *r)
{
    json_t  *t;
    int      i;

    t = json_array();
    for (i = 0; retention_templates[i] != NULL; i++) {
        json_array_append_new(t, json_pack("{s:s, s:s, s:s}",
            "rule_template", retention_templates[i],
            "display_text", retention_templates[i],
            "action", "retain"));
    }

    http_json(r, 200, json_pack("{s:o, s:[{s:s, s:s}], s:[{s:s, s:s}]}",
        "templates", t,
        "scope_selectors", "kind", "doublestar", "decorations",
        "repoMatches,repoExcludes",
        "tag_selectors", "kind", "doublestar", "decorations",
        "matches,excludes"));
}


/* POST /retentions */
void
api_retentions(struct req *r)
{
    struct project   p;
    PGresult        *res;
    json_t          *body, *rules, *ref;
    const char      *cron, *level;
    char            *text, *loc, pid[32];

    body = http_body_json(r);
    if (body == NULL) {
        return;
    }

    rules = NULL;
    text = NULL;

    level = json_string_value(json_object_get(json_object_get(body, "scope"),
                                              "level"));
    ref = json_object_get(json_object_get(body, "scope"), "ref");
    if (level == NULL || strcmp(level, "project") != 0
        || !json_is_integer(ref))
    {
        http_error(r, 400, "scope must be {level: \"project\", ref:"
                   " <project id>}");
        goto done;
    }

    snprintf(pid, sizeof(pid), "%lld", (long long) json_integer_value(ref));

    if (project_load(r, pid, &p) != 0
        || !project_can(r, &p, "tag-retention", "create")
        || ret_parse(r, body, &rules, &cron) != 0)
    {
        goto done;
    }

    text = json_dumps(rules, JSON_COMPACT);
    snprintf(pid, sizeof(pid), "%lld", p.id);

    res = text != NULL
          ? db_execv(r->db, "WITH n AS (INSERT INTO retention_policy"
                     " (project_id, rules, cron) VALUES ($1::integer,"
                     " $2::jsonb, $3) RETURNING id, project_id),"
                     /* Harbor's project metadata names the policy */
                     " m AS (INSERT INTO project_metadata (project_id, name,"
                     " value) SELECT project_id, 'retention_id', id::text"
                     " FROM n ON CONFLICT (project_id, name) DO UPDATE"
                     " SET value = EXCLUDED.value, update_time = now())"
                     " SELECT id FROM n", 3, pid, text, cron)
          : NULL;
    if (res == NULL) {
        if (r->db->err == DB_ERR_CONFLICT) {
            http_error(r, 409, "project %s has a retention policy already",
                       p.name);
        } else {
            http_db_error(r);
        }
        goto done;
    }

    loc = req_printf(r, "/api/v2.0/retentions/%s", db_s(res, 0, 0));
    audit_req(r, p.id, "create", "retention", db_s(res, 0, 0));
    PQclear(res);

    if (loc != NULL) {
        http_header(r, "Location", loc);
    }
    http_text(r, 201, NULL, "");

done:

    free(text);
    json_decref(rules);
    json_decref(body);
}


/* GET/PUT/DELETE /retentions/{id} */
void
api_retention(struct req *r)
{
    struct project   p;
    PGresult        *res;
    json_t          *body, *rules;
    const char      *cron;
    char            *ids, *text;
    json_error_t     jerr;

    ids = ret_policy(r, r->method == M_GET ? "read"
                        : r->method == M_PUT ? "update" : "delete", &p);
    if (ids == NULL) {
        return;
    }

    if (r->method == M_GET) {
        res = db_execv(r->db, "SELECT id, project_id, algorithm,"
                       " rules::text, cron FROM retention_policy"
                       " WHERE id = $1::integer", 1, ids);
        if (res == NULL || PQntuples(res) != 1) {
            if (res != NULL) {
                PQclear(res);
            }
            http_db_error(r);
            return;
        }
        http_json(r, 200, json_pack("{s:I, s:s, s:o, s:{s:s, s:{s:s},"
            " s:{}}, s:{s:s, s:I}}",
            "id", (json_int_t) db_ll(res, 0, 0),
            "algorithm", db_s(res, 0, 2),
            "rules", json_loads(db_s(res, 0, 3), 0, &jerr),
            "trigger", "kind", "Schedule", "settings", "cron",
            db_s(res, 0, 4), "references",
            "scope", "level", "project",
            "ref", (json_int_t) db_ll(res, 0, 1)));
        PQclear(res);
        return;
    }

    if (r->method == M_DELETE) {
        if (db_cmd(r->db, "WITH d AS (DELETE FROM retention_policy"
                   " WHERE id = $1::integer RETURNING project_id)"
                   " DELETE FROM project_metadata WHERE name ="
                   " 'retention_id' AND project_id IN"
                   " (SELECT project_id FROM d)", 1, ids) < 0)
        {
            http_db_error(r);
            return;
        }
        audit_req(r, p.id, "delete", "retention", ids);
        http_text(r, 200, NULL, "");
        return;
    }

    body = http_body_json(r);
    if (body == NULL) {
        return;
    }

    text = NULL;
    if (ret_parse(r, body, &rules, &cron) == 0) {
        text = json_dumps(rules, JSON_COMPACT);
        if (text == NULL
            || db_cmd(r->db, "UPDATE retention_policy SET rules ="
                      " $2::jsonb, cron = $3, update_time = now()"
                      " WHERE id = $1::integer", 3, ids, text, cron) < 0)
        {
            http_db_error(r);
        } else {
            audit_req(r, p.id, "update", "retention", ids);
            http_text(r, 200, NULL, "");
        }
        json_decref(rules);
    }

    free(text);
    json_decref(body);
}


static json_t *
ret_exec_json(PGresult *res, int i)
{
    return json_pack("{s:I, s:I, s:o, s:o, s:s, s:s, s:b}",
                     "id", (json_int_t) db_ll(res, i, 0),
                     "policy_id", (json_int_t) db_ll(res, i, 1),
                     "start_time", db_json_s(res, i, 2),
                     "end_time", db_json_s(res, i, 3),
                     "status", db_s(res, i, 4),
                     "trigger", db_s(res, i, 5),
                     "dry_run", db_b(res, i, 6));
}


/* GET/POST /retentions/{id}/executions */
void
api_retention_executions(struct req *r)
{
    struct project   p;
    struct qsql      s;
    PGresult        *res;
    json_t          *body, *list, *dry;
    char            *ids, *loc;
    long             page, page_size;
    int              i, a;

    ids = ret_policy(r, r->method == M_GET ? "list" : "operate", &p);
    if (ids == NULL) {
        return;
    }

    if (r->method == M_GET) {
        if (http_page(r, &page, &page_size) != 0) {
            return;
        }
        q_init(&s, r);
        a = q_param(&s, ids);
        if (a < 0 || q_add(&s, "policy_id = $%d::integer", a) != 0
            || q_list(r, &s, "SELECT count(*) FROM retention_execution"
                      " WHERE true",
                      "SELECT " RET_EXEC_COLS " FROM retention_execution"
                      " WHERE true", "id DESC", page, page_size, &res) != 0)
        {
            return;
        }
        list = json_array();
        for (i = 0; i < PQntuples(res); i++) {
            json_array_append_new(list, ret_exec_json(res, i));
        }
        PQclear(res);
        http_json(r, 200, list);
        return;
    }

    if (!registry_enabled()) {
        http_error(r, 503, "retention runs delete through /v2 and need"
                   " authd.registry_url");
        return;
    }

    body = http_body_json(r);
    if (body == NULL) {
        return;
    }

    dry = json_object_get(body, "dry_run");
    if (dry != NULL && !json_is_boolean(dry)) {
        http_error(r, 400, "dry_run must be true or false");
        json_decref(body);
        return;
    }

    res = db_execv(r->db, "INSERT INTO retention_execution (policy_id,"
                   " trigger, dry_run, username) VALUES ($1::integer,"
                   " 'MANUAL', $2::boolean, $3) RETURNING id", 3, ids,
                   json_is_true(dry) ? "t" : "f", r->user.name);
    json_decref(body);
    if (res == NULL) {
        http_db_error(r);
        return;
    }

    loc = req_printf(r, "/api/v2.0/retentions/%s/executions/%s", ids,
                     db_s(res, 0, 0));
    PQclear(res);

    retention_wake();

    if (loc != NULL) {
        http_header(r, "Location", loc);
    }
    http_text(r, 201, NULL, "");
}


/* the execution {seg 5} of the policy ids: its id as text, or NULL (404) */
static char *
ret_execution(struct req *r, const char *ids)
{
    PGresult   *res;
    long long   id;
    char       *eids;
    int         found;

    id = http_id(r->seg[5]);
    eids = req_printf(r, "%lld", id);
    if (id < 0 || eids == NULL) {
        http_error(r, 404, "execution %.32s not found", r->seg[5]);
        return NULL;
    }

    res = db_execv(r->db, "SELECT 1 FROM retention_execution WHERE id ="
                   " $1::integer AND policy_id = $2::integer", 2, eids, ids);
    if (res == NULL) {
        http_db_error(r);
        return NULL;
    }
    found = PQntuples(res) == 1;
    PQclear(res);

    if (!found) {
        http_error(r, 404, "execution %lld not found", id);
        return NULL;
    }

    return eids;
}


/* PATCH /retentions/{id}/executions/{eid} {"action": "stop"} */
void
api_retention_execution(struct req *r)
{
    struct project   p;
    json_t          *body;
    const char      *action;
    char            *ids, *eids;

    ids = ret_policy(r, "operate", &p);
    if (ids == NULL || (eids = ret_execution(r, ids)) == NULL) {
        return;
    }

    body = http_body_json(r);
    if (body == NULL) {
        return;
    }

    action = json_string_value(json_object_get(body, "action"));
    if (action == NULL || strcmp(action, "stop") != 0) {
        http_error(r, 400, "action must be \"stop\"");
    } else if (db_cmd(r->db, "UPDATE retention_execution SET status ="
                      " 'Stopped', end_time = now() WHERE id = $1::integer"
                      " AND status IN ('Pending', 'Running')", 1, eids) < 0)
    {
        http_db_error(r);
    } else {
        http_text(r, 200, NULL, "");
    }

    json_decref(body);
}


/* GET /retentions/{id}/executions/{eid}/tasks */
void
api_retention_tasks(struct req *r)
{
    struct project   p;
    PGresult        *res;
    json_t          *list;
    char            *ids, *eids;
    int              i;

    ids = ret_policy(r, "list", &p);
    if (ids == NULL || (eids = ret_execution(r, ids)) == NULL) {
        return;
    }

    res = db_execv(r->db, "SELECT id, execution_id, repository, status,"
                   " total, retained, " DB_TIME("start_time") ","
                   " COALESCE(" DB_TIME("end_time") ", '')"
                   " FROM retention_task WHERE execution_id = $1::integer"
                   " ORDER BY id", 1, eids);
    if (res == NULL) {
        http_db_error(r);
        return;
    }

    list = json_array();
    for (i = 0; i < PQntuples(res); i++) {
        json_array_append_new(list, json_pack(
            "{s:I, s:I, s:s, s:s, s:s, s:i, s:I, s:I, s:I, s:o, s:o}",
            "id", (json_int_t) db_ll(res, i, 0),
            "execution_id", (json_int_t) db_ll(res, i, 1),
            "repository", db_s(res, i, 2),
            "job_id", db_s(res, i, 0),
            "status", db_s(res, i, 3),
            "status_code", strcmp(db_s(res, i, 3), "Success") == 0 ? 3 : 2,
            "status_revision", (json_int_t) 0,
            "total", (json_int_t) db_ll(res, i, 4),
            "retained", (json_int_t) db_ll(res, i, 5),
            "start_time", db_json_s(res, i, 6),
            "end_time", db_json_s(res, i, 7)));
    }
    http_header(r, "X-Total-Count",
                req_printf(r, "%d", PQntuples(res)));
    PQclear(res);

    http_json(r, 200, list);
}


/* GET /retentions/{id}/executions/{eid}/tasks/{tid}: the log */
void
api_retention_task_log(struct req *r)
{
    struct project   p;
    PGresult        *res;
    long long        tid;
    char            *ids, *eids, *tids;

    ids = ret_policy(r, "list", &p);
    if (ids == NULL || (eids = ret_execution(r, ids)) == NULL) {
        return;
    }

    tid = http_id(r->seg[7]);
    tids = req_printf(r, "%lld", tid);
    if (tid < 0 || tids == NULL) {
        http_error(r, 404, "task %.32s not found", r->seg[7]);
        return;
    }

    res = db_execv(r->db, "SELECT log FROM retention_task WHERE id ="
                   " $1::integer AND execution_id = $2::integer", 2, tids,
                   eids);
    if (res == NULL) {
        http_db_error(r);
        return;
    }

    if (PQntuples(res) == 1) {
        http_text(r, 200, "text/plain; charset=utf-8", db_s(res, 0, 0));
    } else {
        http_error(r, 404, "task %lld not found", tid);
    }
    PQclear(res);
}
