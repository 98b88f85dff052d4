/*
 * authd: a project's webhook policies, Harbor's API.
 *
 *   GET  /projects/{p}/webhook/policies                  list, paginated
 *   POST /projects/{p}/webhook/policies                  create one
 *   GET/PUT/DELETE /projects/{p}/webhook/policies/{id}   one
 *   GET  /projects/{p}/webhook/policies/{id}/executions  its deliveries
 *   GET  /projects/{p}/webhook/events                    the event types
 *
 * The project's administrators only ("project update"); a policy id is
 * looked up within the project of the path, so another project's policy
 * is a 404 there.  Delivery is webhook.c's; the target's address passes
 * the SSRF guard (outbound.c) at each delivery.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "authd.h"


#define WH_COLS                                                             \
    "id, project_id, name, description, targets::text,"                    \
    " array_to_json(event_types)::text, enabled, creator, "                \
    DB_TIME("creation_time") ", " DB_TIME("update_time")


static json_t *
wh_json(PGresult *res, int i)
{
    json_error_t  err;

    return json_pack("{s:I, s:I, s:s, s:s, s:o, s:o, s:b, s:s, s:o, s:o}",
                     "id", (json_int_t) db_ll(res, i, 0),
                     "project_id", (json_int_t) db_ll(res, i, 1),
                     "name", db_s(res, i, 2),
                     "description", db_s(res, i, 3),
                     "targets", json_loads(db_s(res, i, 4), 0, &err),
                     "event_types", json_loads(db_s(res, i, 5), 0, &err),
                     "enabled", db_b(res, i, 6),
                     "creator", db_s(res, i, 7),
                     "creation_time", db_json_s(res, i, 8),
                     "update_time", db_json_s(res, i, 9));
}


/* the project of the path, for its administrators */
static int
wh_project(struct req *r, struct project *p)
{
    return project_load(r, r->seg[3], p) != 0
           || !project_can(r, p, "project", "update") ? -1 : 0;
}


/* the policy {seg 6} of project p: its id as text, or NULL with 404 */
static char *
wh_policy_id(struct req *r, struct project *p)
{
    PGresult   *res;
    long long   id;
    char        pid[32], *ids;
    int         found;

    id = http_id(r->seg[6]);
    ids = req_printf(r, "%lld", id);
    if (id < 0 || ids == NULL) {
        http_error(r, 404, "webhook policy %.32s not found", r->seg[6]);
        return NULL;
    }

    snprintf(pid, sizeof(pid), "%lld", p->id);
    res = db_execv(r->db, "SELECT 1 FROM webhook_policy WHERE id ="
                   " $1::integer AND project_id = $2::integer", 2, ids, pid);
    if (res == NULL) {
        http_db_error(r);
        return NULL;
    }

    found = PQntuples(res) == 1;
    PQclear(res);

    if (!found) {
        http_error(r, 404, "webhook policy %lld not found", id);
        return NULL;
    }

    return ids;
}


/*
 * A policy's body, allow-listed: *targets and *types become the JSON
 * to store (NULL when absent).  0, or -1 with 400 sent.
 */
static int
wh_parse(struct req *r, json_t *body, int create, const char **name,
    const char **desc, char **targets, char **types, int *enabled)
{
    json_t      *t, *tg, *v, *out;
    const char  *s;
    size_t       i, k;
    char        *dump;

    *targets = *types = NULL;
    *enabled = -1;

    if (!json_is_object(body)) {
        http_error(r, 400, "the body must be a WebhookPolicy object");
        return -1;
    }

    if (body_str(r, body, "name", name, 255) < 0
        || body_str(r, body, "description", desc, 1024) < 0)
    {
        return -1;
    }

    if ((create && *name == NULL) || (*name != NULL && (*name)[0] == '\0')) {
        http_error(r, 400, "\"name\" is required");
        return -1;
    }

    v = json_object_get(body, "enabled");
    if (v != NULL && !json_is_null(v)) {
        if (!json_is_boolean(v)) {
            http_error(r, 400, "\"enabled\" must be a boolean");
            return -1;
        }
        *enabled = json_is_true(v);
    }

    t = json_object_get(body, "targets");
    if (t != NULL && !json_is_null(t)) {
        if (!json_is_array(t) || json_array_size(t) != 1) {
            http_error(r, 400, "\"targets\" must hold one target");
            return -1;
        }

        tg = json_array_get(t, 0);
        if (!json_is_object(tg)) {
            http_error(r, 400, "a target must be an object");
            return -1;
        }

        if (body_str(r, tg, "type", &s, 16) < 0) {
            return -1;
        }
        if (s != NULL && strcmp(s, "http") != 0) {
            http_error(r, 400, "target type must be \"http\"");
            return -1;
        }

        if (body_str(r, tg, "payload_format", &s, 16) < 0) {
            return -1;
        }
        if (s != NULL && s[0] != '\0' && strcmp(s, "Default") != 0) {
            http_error(r, 400, "payload_format must be \"Default\"");
            return -1;
        }

        if (body_str(r, tg, "address", &s, 1024) < 0) {
            return -1;
        }
        if (s == NULL || (strncmp(s, "http://", 7) != 0
                          && strncmp(s, "https://", 8) != 0)
            || strpbrk(s, " \t\r\n") != NULL)
        {
            http_error(r, 400, "a target's \"address\" must be an http://"
                       " or https:// URL");
            return -1;
        }

        out = json_pack("{s:s, s:s, s:s, s:b, s:s}", "type", "http",
                        "address", s, "auth_header", "",
                        "skip_cert_verify", 0, "payload_format", "Default");

        if (body_str(r, tg, "auth_header", &s, 1024) < 0) {
            json_decref(out);
            return -1;
        }
        if (s != NULL && strpbrk(s, "\r\n") != NULL) {
            json_decref(out);
            http_error(r, 400, "\"auth_header\" must be one line");
            return -1;
        }
        if (s != NULL) {
            json_object_set_new(out, "auth_header", json_string(s));
        }

        v = json_object_get(tg, "skip_cert_verify");
        if (v != NULL && !json_is_null(v) && !json_is_boolean(v)) {
            json_decref(out);
            http_error(r, 400, "\"skip_cert_verify\" must be a boolean");
            return -1;
        }
        json_object_set_new(out, "skip_cert_verify",
                            json_boolean(json_is_true(v)));

        t = json_pack("[o]", out);
        dump = t != NULL ? json_dumps(t, JSON_COMPACT) : NULL;
        json_decref(t);
        *targets = dump != NULL ? req_strdup(r, dump) : NULL;
        free(dump);
        if (*targets == NULL) {
            http_error(r, 500, "out of memory");
            return -1;
        }

    } else if (create) {
        http_error(r, 400, "\"targets\" is required");
        return -1;
    }

    t = json_object_get(body, "event_types");
    if (t != NULL && !json_is_null(t)) {
        if (!json_is_array(t) || json_array_size(t) == 0
            || json_array_size(t) > 16)
        {
            http_error(r, 400, "\"event_types\" must name 1 to 16 types");
            return -1;
        }

        out = json_array();
        json_array_foreach(t, i, v) {
            s = json_string_value(v);
            for (k = 0; s != NULL && webhook_types[k] != NULL; k++) {
                if (strcmp(s, webhook_types[k]) == 0) {
                    break;
                }
            }
            if (s == NULL || webhook_types[k] == NULL) {
                json_decref(out);
                http_error(r, 400, "unknown event type %.64s",
                           s != NULL ? s : "(not a string)");
                return -1;
            }
            json_array_append_new(out, json_string(s));
        }

        dump = json_dumps(out, JSON_COMPACT);
        json_decref(out);
        *types = dump != NULL ? req_strdup(r, dump) : NULL;
        free(dump);
        if (*types == NULL) {
            http_error(r, 500, "out of memory");
            return -1;
        }

    } else if (create) {
        http_error(r, 400, "\"event_types\" is required");
        return -1;
    }

    return 0;
}


/* GET/POST /projects/{p}/webhook/policies */
void
api_webhook_policies(struct req *r)
{
    struct project   p;
    struct qsql      s;
    PGresult        *res;
    json_t          *body, *list;
    const char      *name, *desc;
    char            *targets, *types, *v, *loc, pid[32];
    long             page, page_size;
    int              enabled, i, a;

    if (wh_project(r, &p) != 0) {
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
            || q_list(r, &s, "SELECT count(*) FROM webhook_policy WHERE true",
                      "SELECT " WH_COLS " FROM webhook_policy WHERE true",
                      "id", page, page_size, &res) != 0)
        {
            return;
        }

        list = json_array();
        for (i = 0; i < PQntuples(res); i++) {
            json_array_append_new(list, wh_json(res, i));
        }
        PQclear(res);

        http_json(r, 200, list);
        return;
    }

    body = http_body_json(r);
    if (body == NULL) {
        return;
    }

    name = desc = NULL;
    if (wh_parse(r, body, 1, &name, &desc, &targets, &types, &enabled) != 0)
    {
        goto done;
    }

    res = db_execv(r->db, "INSERT INTO webhook_policy (project_id, name,"
                   " description, targets, event_types, enabled, creator)"
                   " VALUES ($1::integer, $2, $3, $4::jsonb,"
                   " ARRAY(SELECT jsonb_array_elements_text($5::jsonb)),"
                   " $6::boolean, $7) RETURNING id", 7, pid, name,
                   desc != NULL ? desc : "", targets, types,
                   enabled == 0 ? "f" : "t", r->user.name);
    if (res == NULL) {
        if (r->db->err == DB_ERR_CONFLICT) {
            http_error(r, 409, "a webhook policy named \"%.255s\" exists"
                       " already", name);
        } else {
            http_db_error(r);
        }
        goto done;
    }

    loc = req_printf(r, "/api/v2.0/projects/%lld/webhook/policies/%s", p.id,
                     db_s(res, 0, 0));
    PQclear(res);

    audit_req(r, p.id, "create", "webhook_policy", name);

    if (loc != NULL) {
        http_header(r, "Location", loc);
    }
    http_json(r, 201, json_object());

done:

    json_decref(body);
}


/* GET/PUT/DELETE /projects/{p}/webhook/policies/{id} */
void
api_webhook_policy(struct req *r)
{
    struct project   p;
    PGresult        *res;
    json_t          *body;
    const char      *name, *desc;
    char            *ids, *targets, *types, en[2];
    int              enabled;
    long             n;

    if (wh_project(r, &p) != 0) {
        return;
    }

    ids = wh_policy_id(r, &p);
    if (ids == NULL) {
        return;
    }

    if (r->method == M_GET) {
        res = db_execv(r->db, "SELECT " WH_COLS " FROM webhook_policy"
                       " WHERE id = $1::integer", 1, ids);
        if (res == NULL) {
            http_db_error(r);
            return;
        }
        if (PQntuples(res) == 1) {
            http_json(r, 200, wh_json(res, 0));
        } else {
            http_error(r, 404, "webhook policy %s not found", ids);
        }
        PQclear(res);
        return;
    }

    if (r->method == M_DELETE) {
        if (db_cmd(r->db, "DELETE FROM webhook_policy WHERE id = $1::integer",
                   1, ids) < 0)
        {
            http_db_error(r);
            return;
        }
        audit_req(r, p.id, "delete", "webhook_policy", ids);
        http_json(r, 200, json_object());
        return;
    }

    body = http_body_json(r);
    if (body == NULL) {
        return;
    }

    name = desc = NULL;
    if (wh_parse(r, body, 0, &name, &desc, &targets, &types, &enabled) != 0)
    {
        goto done;
    }

    en[0] = enabled == 1 ? 't' : 'f';
    en[1] = '\0';

    n = db_cmd(r->db, "UPDATE webhook_policy SET name = COALESCE($2, name),"
               " description = COALESCE($3, description),"
               " targets = COALESCE($4::jsonb, targets),"
               " event_types = CASE WHEN $5::jsonb IS NULL THEN event_types"
               " ELSE ARRAY(SELECT jsonb_array_elements_text($5::jsonb)) END,"
               " enabled = COALESCE($6::boolean, enabled),"
               " update_time = now() WHERE id = $1::integer", 6, ids, name,
               desc, targets, types, enabled < 0 ? NULL : en);
    if (n < 0) {
        if (r->db->err == DB_ERR_CONFLICT) {
            http_error(r, 409, "a webhook policy named \"%.255s\" exists"
                       " already", name);
        } else {
            http_db_error(r);
        }
        goto done;
    }

    audit_req(r, p.id, "update", "webhook_policy", ids);
    http_json(r, 200, json_object());

done:

    json_decref(body);
}


/* GET /projects/{p}/webhook/policies/{id}/executions: newest first */
void
api_webhook_executions(struct req *r)
{
    struct project   p;
    struct qsql      s;
    PGresult        *res;
    json_t          *list;
    char            *ids;
    long             page, page_size;
    int              i, a;

    if (wh_project(r, &p) != 0 || http_page(r, &page, &page_size) != 0) {
        return;
    }

    ids = wh_policy_id(r, &p);
    if (ids == NULL) {
        return;
    }

    q_init(&s, r);
    a = q_param(&s, ids);
    if (a < 0 || q_add(&s, "policy_id = $%d::integer", a) != 0
        || q_list(r, &s, "SELECT count(*) FROM webhook_job WHERE true",
                  "SELECT id, policy_id, status, event_type, tries, log, "
                  DB_TIME("start_time") ", " DB_TIME("end_time")
                  " FROM webhook_job WHERE true", "id DESC", page,
                  page_size, &res) != 0)
    {
        return;
    }

    list = json_array();
    for (i = 0; i < PQntuples(res); i++) {
        json_array_append_new(list,
            json_pack("{s:I, s:I, s:s, s:s, s:s, s:{s:s, s:I}, s:s, s:o,"
                      " s:o}",
                      "id", (json_int_t) db_ll(res, i, 0),
                      "policy_id", (json_int_t) db_ll(res, i, 1),
                      "vendor_type", "WEBHOOK",
                      "trigger", "EVENT",
                      "status", db_s(res, i, 2),
                      "extra_attrs",
                          "event_type", db_s(res, i, 3),
                          "tries", (json_int_t) db_ll(res, i, 4),
                      "log", db_s(res, i, 5),
                      "start_time", db_json_s(res, i, 6),
                      "end_time", db_json_s(res, i, 7)));
    }
    PQclear(res);

    http_json(r, 200, list);
}


/* GET /projects/{p}/webhook/events */
void
api_webhook_events(struct req *r)
{
    struct project   p;
    json_t          *types;
    int              i;

    if (wh_project(r, &p) != 0) {
        return;
    }

    types = json_array();
    for (i = 0; webhook_types[i] != NULL; i++) {
        json_array_append_new(types, json_string(webhook_types[i]));
    }

    http_json(r, 200, json_pack("{s:o, s:[s], s:[{s:s, s:[s]}]}",
                                "event_type", types,
                                "notify_type", "http",
                                "payload_formats", "notify_type", "http",
                                "formats", "Default"));
}


/*
 * The execution {seg 8} of the policy of the path (which must be of the
 * project of the path): its id as text, or NULL with 404 sent.  A
 * delivery has one task, of the same id.
 */
static char *
wh_execution_id(struct req *r, struct project *p)
{
    PGresult   *res;
    long long   eid;
    char       *ids, *eids;
    int         found;

    ids = wh_policy_id(r, p);
    if (ids == NULL) {
        return NULL;
    }

    eid = http_id(r->seg[8]);
    eids = req_printf(r, "%lld", eid);
    if (eid < 0 || eids == NULL
        || (r->nseg > 10 && strcmp(r->seg[10], r->seg[8]) != 0))
    {
        http_error(r, 404, "execution not found");
        return NULL;
    }

    res = db_execv(r->db, "SELECT 1 FROM webhook_job WHERE id = $1::integer"
                   " AND policy_id = $2::integer", 2, eids, ids);
    if (res == NULL) {
        http_db_error(r);
        return NULL;
    }

    found = PQntuples(res) == 1;
    PQclear(res);

    if (!found) {
        http_error(r, 404, "execution %lld not found", eid);
        return NULL;
    }

    return eids;
}


/* GET .../policies/{id}/executions/{eid}/tasks: its one task */
void
api_webhook_tasks(struct req *r)
{
    struct project   p;
    PGresult        *res;
    char            *eid;

    if (wh_project(r, &p) != 0) {
        return;
    }

    eid = wh_execution_id(r, &p);
    if (eid == NULL) {
        return;
    }

    res = db_execv(r->db, "SELECT id, status, tries, event_type, "
                   DB_TIME("start_time") ", " DB_TIME("end_time")
                   " FROM webhook_job WHERE id = $1::integer", 1, eid);
    if (res == NULL || PQntuples(res) != 1) {
        PQclear(res);
        http_db_error(r);
        return;
    }

    http_json(r, 200, json_pack("[{s:I, s:I, s:s, s:I, s:{s:s}, s:o, s:o}]",
                                "id", (json_int_t) db_ll(res, 0, 0),
                                "execution_id", (json_int_t) db_ll(res, 0, 0),
                                "status", db_s(res, 0, 1),
                                "run_count", (json_int_t) db_ll(res, 0, 2),
                                "extra_attrs", "event_type", db_s(res, 0, 3),
                                "start_time", db_json_s(res, 0, 4),
                                "end_time", db_json_s(res, 0, 5)));
    PQclear(res);
}


/* GET .../executions/{eid}/tasks/{tid}/log: each try, as text */
void
api_webhook_task_log(struct req *r)
{
    struct project   p;
    PGresult        *res;
    char            *eid;

    if (wh_project(r, &p) != 0) {
        return;
    }

    eid = wh_execution_id(r, &p);
    if (eid == NULL) {
        return;
    }

    res = db_execv(r->db, "SELECT log FROM webhook_job WHERE id = $1::integer",
                   1, eid);
    if (res == NULL || PQntuples(res) != 1) {
        PQclear(res);
        http_db_error(r);
        return;
    }

    http_text(r, 200, "text/plain; charset=utf-8", db_s(res, 0, 0));
    PQclear(res);
}
