/*
 * authd: replication policies, executions and tasks, Harbor's API.
 *
 *   GET  /replication/policies              list (q: name), paginated
 *   POST /replication/policies              add one
 *   GET, PUT, DELETE /replication/policies/{id}
 *   POST /replication/executions            {policy_id}: run it now
 *   GET  /replication/executions            ?policy_id=&status=&trigger=
 *   GET  /replication/executions/{id}       with its counts
 *   PUT  /replication/executions/{id}       stop it
 *   GET  /replication/executions/{id}/tasks
 *   GET  /replication/executions/{id}/tasks/{task_id}/log
 *
 * System administrators only.  A policy has exactly one remote end: a
 * src_registry (pull-based) or a dest_registry (push-based); the other
 * end, absent or id 0, is this instance.  The work itself is the
 * runner's (repl_jobs.c); the API only writes rows and wakes it.
 */

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "authd.h"


#define POL_COLS                                                            \
    "id, name, description, COALESCE(src_registry_id, 0),"                 \
    " COALESCE(dest_registry_id, 0), dest_namespace,"                      \
    " dest_namespace_replace_count, filters, trigger_type, cron,"          \
    " override, enabled, replicate_deletion, speed, copy_by_chunk, "       \
    DB_TIME("creation_time") ", " DB_TIME("update_time")

#define EXEC_COLS                                                           \
    "e.id, e.policy_id, e.status, e.trigger, " DB_TIME("e.start_time")     \
    ", " DB_TIME("e.end_time") ", e.status_text,"                          \
    " (SELECT count(*) FROM replication_task t"                            \
    "  WHERE t.execution_id = e.id),"                                      \
    " (SELECT count(*) FROM replication_task t"                            \
    "  WHERE t.execution_id = e.id AND t.status = 'Failed'),"              \
    " (SELECT count(*) FROM replication_task t"                            \
    "  WHERE t.execution_id = e.id AND t.status = 'Succeed'),"             \
    " (SELECT count(*) FROM replication_task t"                            \
    "  WHERE t.execution_id = e.id"                                        \
    "  AND t.status IN ('Pending', 'InProgress')),"                        \
    " (SELECT count(*) FROM replication_task t"                            \
    "  WHERE t.execution_id = e.id AND t.status = 'Stopped')"

#define TASK_COLS                                                           \
    "id, execution_id, resource_type, operation, src_repo, src_ref,"       \
    " dst_repo, dst_ref, status, " DB_TIME("start_time") ", "              \
    DB_TIME("end_time") ", bytes_done, bytes_total, attempts"


struct pol {
    const char  *name;
    const char  *description;
    long long    src_id;
    long long    dest_id;
    const char  *dest_namespace;
    long long    replace_count;
    char        *filters;                /* JSON text, malloc'ed */
    const char  *trigger;
    const char  *cron;
    int          override;
    int          enabled;
    int          deletion;
    long long    speed;
    int          copy_by_chunk;
};


static const struct qfield  pol_fields[] = {
    { "name",  "name",  Q_TEXT, Q_EQ | Q_FUZZY, NULL },
};

static const struct qsort  pol_sort[] = {
    { "name",           "name" },
    { "id",             "id" },
    { "creation_time",  "creation_time" },
    { "update_time",    "update_time" },
};


static json_t *
pol_json(struct dbc *db, PGresult *res, int i)
{
    json_t      *j, *filters, *src, *dst;
    const char  *cron;

    filters = json_loads(db_s(res, i, 7), 0, NULL);
    src = remote_json(db, db_ll(res, i, 3));
    dst = remote_json(db, db_ll(res, i, 4));
    cron = db_s(res, i, 9);

    j = json_pack("{s:I, s:s, s:s, s:o, s:o, s:s, s:I, s:o,"
                  " s:{s:s, s:{s:s}}, s:b, s:b, s:b, s:b, s:I, s:b,"
                  " s:o, s:o}",
                  "id", (json_int_t) db_ll(res, i, 0),
                  "name", db_s(res, i, 1),
                  "description", db_s(res, i, 2),
                  "src_registry", src != NULL ? src : json_null(),
                  "dest_registry", dst != NULL ? dst : json_null(),
                  "dest_namespace", db_s(res, i, 5),
                  "dest_namespace_replace_count",
                      (json_int_t) db_ll(res, i, 6),
                  "filters", filters != NULL ? filters : json_array(),
                  "trigger", "type", db_s(res, i, 8),
                      "trigger_settings", "cron", cron,
                  "override", db_b(res, i, 10),
                  "enabled", db_b(res, i, 11),
                  "replicate_deletion", db_b(res, i, 12),
                  "deletion", db_b(res, i, 12),
                  "speed", (json_int_t) db_ll(res, i, 13),
                  "copy_by_chunk", db_b(res, i, 14),
                  "creation_time", db_json_s(res, i, 15),
                  "update_time", db_json_s(res, i, 16));

    return j;
}


/* a registry reference {id: n}: 0 this instance, or a stored registry */
static int
pol_registry(struct req *r, json_t *body, const char *key, long long *id)
{
    json_t     *o, *v;
    PGresult   *res;
    char        ids[32];
    int         n;

    *id = 0;
    o = json_object_get(body, key);
    if (o == NULL || json_is_null(o)) {
        return 0;
    }

    if (!json_is_object(o)) {
        http_error(r, 400, "\"%s\" must be an object: {\"id\": 1}", key);
        return -1;
    }

    v = json_object_get(o, "id");
    if (v == NULL || json_is_null(v)) {
        return 0;
    }
    if (!json_is_integer(v) || json_integer_value(v) < 0
        || json_integer_value(v) > 2147483647)
    {
        http_error(r, 400, "\"%s.id\" must be a registry id", key);
        return -1;
    }

    *id = json_integer_value(v);
    if (*id == 0) {
        return 0;
    }

    snprintf(ids, sizeof(ids), "%lld", *id);
    res = db_execv(r->db, "SELECT 1 FROM replication_registry"
                   " WHERE id = $1::integer", 1, ids);
    if (res == NULL) {
        http_db_error(r);
        return -1;
    }
    n = PQntuples(res);
    PQclear(res);

    if (n == 0) {
        http_error(r, 400, "\"%s\": registry %lld not found", key, *id);
        return -1;
    }

    return 0;
}


/* filters: [{type: name|tag|resource, value, decoration}], rewritten */
static int
pol_filters(struct req *r, json_t *body, char **out)
{
    json_t      *a, *f, *clean;
    const char  *type, *value, *deco;
    size_t       i;

    clean = json_array();
    a = json_object_get(body, "filters");

    if (a != NULL && !json_is_null(a) && !json_is_array(a)) {
        http_error(r, 400, "\"filters\" must be an array");
        goto fail;
    }

    json_array_foreach(a, i, f) {
        if (!json_is_object(f)) {
            http_error(r, 400, "\"filters\" holds objects");
            goto fail;
        }
        if (body_str(r, f, "type", &type, 16) != 0
            || body_str(r, f, "decoration", &deco, 16) < 0)
        {
            if (r->status == 0) {
                http_error(r, 400, "a filter needs a \"type\"");
            }
            goto fail;
        }

        /* Harbor's value is any JSON; ours are strings */
        if (body_str(r, f, "value", &value, 1024) < 0) {
            goto fail;
        }
        if (value == NULL) {
            value = "";
        }
        if (deco == NULL || deco[0] == '\0') {
            deco = "matches";
        }
        if (strcmp(deco, "matches") != 0 && strcmp(deco, "excludes") != 0) {
            http_error(r, 400, "a filter's \"decoration\" is \"matches\" or"
                       " \"excludes\"");
            goto fail;
        }

        if (strcmp(type, "name") == 0 || strcmp(type, "tag") == 0) {
            if (!hb_glob_valid(value)) {
                http_error(r, 400, "filter %s: \"%.128s\" is not a valid"
                           " pattern (*, **, ?, [a-z], {a,b})", type, value);
                goto fail;
            }
        } else if (strcmp(type, "resource") == 0) {
            if (strcmp(value, "image") != 0 && strcmp(value, "artifact") != 0
                && value[0] != '\0')
            {
                http_error(r, 400, "filter resource: \"image\" or"
                           " \"artifact\"");
                goto fail;
            }
        } else {
            http_error(r, 400, "a filter's \"type\" is name, tag or"
                       " resource, not \"%.32s\"", type);
            goto fail;
        }

        json_array_append_new(clean, json_pack("{s:s, s:s, s:s}",
                              "type", type, "value", value,
                              "decoration", deco));
    }

    *out = json_dumps(clean, JSON_COMPACT);
    json_decref(clean);
    if (*out == NULL) {
        http_error(r, 500, "out of memory");
        return -1;
    }
    return 0;

fail:

    json_decref(clean);
    return -1;
}


static int
pol_flag(struct req *r, json_t *body, const char *key, int *out, int dflt)
{
    *out = dflt;
    return body_bool(r, body, key, out) < 0 ? -1 : 0;
}


/* the body of a policy, checked; 0 or -1 with the error sent */
static int
pol_parse(struct req *r, json_t *body, struct pol *p)
{
    json_t  *t, *ts;
    int      rc;

    memset(p, 0, sizeof(*p));
    p->replace_count = -1;

    if (body_str(r, body, "name", &p->name, 255) != 0) {
        if (r->status == 0) {
            http_error(r, 400, "\"name\" is required");
        }
        return -1;
    }
    if (p->name[0] == '\0') {
        http_error(r, 400, "\"name\" must not be empty");
        return -1;
    }

    if (body_str(r, body, "description", &p->description, 1024) < 0
        || body_str(r, body, "dest_namespace", &p->dest_namespace, 255) < 0)
    {
        return -1;
    }

    if (p->dest_namespace != NULL && p->dest_namespace[0] != '\0'
        && !hb_name_valid((const unsigned char *) p->dest_namespace,
                          strlen(p->dest_namespace)))
    {
        http_error(r, 400, "\"dest_namespace\" is not a valid repository"
                   " path: lowercase components such as \"mirror\" or"
                   " \"mirror/eu\"");
        return -1;
    }

    if (body_int(r, body, "dest_namespace_replace_count", &p->replace_count)
        < 0)
    {
        return -1;
    }
    if (p->replace_count < -1 || p->replace_count > 255) {
        http_error(r, 400, "\"dest_namespace_replace_count\": -1 (keep the"
                   " last component) to 255");
        return -1;
    }

    if (pol_registry(r, body, "src_registry", &p->src_id) != 0
        || pol_registry(r, body, "dest_registry", &p->dest_id) != 0)
    {
        return -1;
    }
    if ((p->src_id == 0) == (p->dest_id == 0)) {
        http_error(r, 400, "exactly one of \"src_registry\" (pull-based) and"
                   " \"dest_registry\" (push-based) must be a remote"
                   " registry; the other end is this instance");
        return -1;
    }

    if (pol_filters(r, body, &p->filters) != 0) {
        return -1;
    }

    p->trigger = "manual";
    p->cron = "";
    t = json_object_get(body, "trigger");
    if (t != NULL && !json_is_null(t)) {
        if (!json_is_object(t)) {
            http_error(r, 400, "\"trigger\" must be an object");
            return -1;
        }
        rc = body_str(r, t, "type", &p->trigger, 16);
        if (rc < 0) {
            return -1;
        }
        if (rc == 1) {
            p->trigger = "manual";
        }
        ts = json_object_get(t, "trigger_settings");
        if (ts != NULL && !json_is_null(ts)) {
            if (!json_is_object(ts)) {
                http_error(r, 400, "\"trigger.trigger_settings\" must be an"
                           " object");
                return -1;
            }
            if (body_str(r, ts, "cron", &p->cron, 120) < 0) {
                return -1;
            }
            if (p->cron == NULL) {
                p->cron = "";
            }
        }
    }

    if (strcmp(p->trigger, "scheduled") == 0) {
        if (!repl_cron_valid(p->cron)) {
            http_error(r, 400, "\"trigger.trigger_settings.cron\": six"
                       " fields, seconds first (\"0 0 3 * * *\"), or five");
            return -1;
        }
    } else if (strcmp(p->trigger, "event_based") == 0) {
        if (p->src_id != 0) {
            http_error(r, 400, "an event_based trigger needs this instance"
                       " as the source: its pushes and deletes are the"
                       " events");
            return -1;
        }
        p->cron = "";
    } else if (strcmp(p->trigger, "manual") == 0) {
        p->cron = "";
    } else {
        http_error(r, 400, "\"trigger.type\" is manual, scheduled or"
                   " event_based");
        return -1;
    }

    if (pol_flag(r, body, "override", &p->override, 1) != 0
        || pol_flag(r, body, "enabled", &p->enabled, 1) != 0
        || pol_flag(r, body, "deletion", &p->deletion, 0) != 0
        || pol_flag(r, body, "replicate_deletion", &p->deletion, p->deletion)
           != 0
        || pol_flag(r, body, "copy_by_chunk", &p->copy_by_chunk, 0) != 0)
    {
        return -1;
    }

    if (body_int(r, body, "speed", &p->speed) < 0) {
        return -1;
    }
    if (p->speed < -1 || p->speed > 2147483647) {
        http_error(r, 400, "\"speed\" is KB/s, 0 or -1 for no limit");
        return -1;
    }
    if (p->speed < 0) {
        p->speed = 0;
    }

    return 0;
}


static void
pol_conflict(struct req *r, const char *name)
{
    if (r->db->err == DB_ERR_CONFLICT) {
        http_error(r, 409, "a policy named \"%.255s\" exists already", name);
    } else {
        http_db_error(r);
    }
}


/* $2..$16 of an INSERT or UPDATE, from p */
#define POL_PARAMS(p, ids, src, dst, rc, sp)                                \
    (ids), (p)->name, (p)->description != NULL ? (p)->description : "",    \
    (src), (dst), (p)->dest_namespace != NULL ? (p)->dest_namespace : "",  \
    (rc), (p)->filters, (p)->trigger, (p)->cron,                           \
    (p)->override ? "t" : "f", (p)->enabled ? "t" : "f",                   \
    (p)->deletion ? "t" : "f", (sp), (p)->copy_by_chunk ? "t" : "f"


static int
pol_write(struct req *r, struct pol *p, const char *ids, long long *id)
{
    PGresult   *res;
    char        src[32], dst[32], rc[32], sp[32];
    long        n;

    snprintf(src, sizeof(src), "%lld", p->src_id);
    snprintf(dst, sizeof(dst), "%lld", p->dest_id);
    snprintf(rc, sizeof(rc), "%lld", p->replace_count);
    snprintf(sp, sizeof(sp), "%lld", p->speed);

    if (ids == NULL) {
        res = db_execv(r->db, "INSERT INTO replication_policy (name,"
                       " description, src_registry_id, dest_registry_id,"
                       " dest_namespace, dest_namespace_replace_count,"
                       " filters, trigger_type, cron, override, enabled,"
                       " replicate_deletion, speed, copy_by_chunk)"
                       " VALUES ($2, $3, NULLIF($4::integer, 0),"
                       " NULLIF($5::integer, 0), $6, $7, $8, $9, $10, $11,"
                       " $12, $13, $14, $15) RETURNING id, $1::text", 15,
                       POL_PARAMS(p, "", src, dst, rc, sp));
        if (res == NULL) {
            pol_conflict(r, p->name);
            return -1;
        }
        *id = db_ll(res, 0, 0);
        PQclear(res);
        return 0;
    }

    n = db_cmd(r->db, "UPDATE replication_policy SET name = $2,"
               " description = $3, src_registry_id = NULLIF($4::integer, 0),"
               " dest_registry_id = NULLIF($5::integer, 0),"
               " dest_namespace = $6, dest_namespace_replace_count = $7,"
               " filters = $8, trigger_type = $9, cron = $10,"
               " override = $11, enabled = $12, replicate_deletion = $13,"
               " speed = $14, copy_by_chunk = $15, update_time = now()"
               " WHERE id = $1::integer", 15,
               POL_PARAMS(p, ids, src, dst, rc, sp));
    if (n < 0) {
        pol_conflict(r, p->name);
        return -1;
    }
    if (n == 0) {
        http_error(r, 404, "replication policy %s not found", ids);
        return -1;
    }

    return 0;
}


static void
pol_create(struct req *r)
{
    struct pol   p;
    json_t      *body;
    char        *loc;
    long long    id;

    body = http_body_json(r);
    if (body == NULL) {
        return;
    }

    if (pol_parse(r, body, &p) == 0 && pol_write(r, &p, NULL, &id) == 0) {
        audit_req(r, 0, "create", "replication_policy", p.name);
        loc = req_printf(r, "/api/v2.0/replication/policies/%lld", id);
        if (loc != NULL) {
            http_header(r, "Location", loc);
        }
        http_json(r, 201, json_object());
    }

    free(p.filters);
    json_decref(body);
}


/* GET, POST /replication/policies */
void
api_repl_policies(struct req *r)
{
    if (http_need_sysadmin(r) != 0 || http_db(r) == NULL) {
        return;
    }

    if (r->method == M_POST) {
        pol_create(r);
    } else {
        repl_list(r, "replication_policy", POL_COLS, pol_fields,
                  nitems(pol_fields), pol_sort, nitems(pol_sort), pol_json);
    }
}


/* PUT: the stored policy with the body's fields over it, checked whole */
static void
pol_update(struct req *r, PGresult *res, const char *ids)
{
    struct pol   p;
    json_t      *body, *cur;

    memset(&p, 0, sizeof(p));

    body = http_body_json(r);
    if (body == NULL) {
        return;
    }

    cur = pol_json(r->db, res, 0);
    if (cur == NULL) {
        http_error(r, 500, "out of memory");
        json_decref(body);
        return;
    }

    json_object_del(cur, "deletion");
    if (json_object_get(body, "deletion") != NULL
        && json_object_get(body, "replicate_deletion") == NULL)
    {
        json_object_del(cur, "replicate_deletion");
    }
    json_object_update(cur, body);

    if (pol_parse(r, cur, &p) == 0 && pol_write(r, &p, ids, NULL) == 0) {
        audit_req(r, 0, "update", "replication_policy", p.name);
        http_json(r, 200, json_object());
    }

    free(p.filters);
    json_decref(cur);
    json_decref(body);
}


/* GET, PUT, DELETE /replication/policies/{id} */
void
api_repl_policy(struct req *r)
{
    PGresult   *res;
    char        ids[32];
    long long   id, n;

    if (http_need_sysadmin(r) != 0
        || (id = repl_path_id(r, r->seg[4], "replication policy")) == 0
        || http_db(r) == NULL)
    {
        return;
    }

    snprintf(ids, sizeof(ids), "%lld", id);

    res = db_execv(r->db, "SELECT " POL_COLS " FROM replication_policy"
                   " WHERE id = $1::integer", 1, ids);
    if (res == NULL) {
        http_db_error(r);
        return;
    }
    if (PQntuples(res) == 0) {
        PQclear(res);
        http_error(r, 404, "replication policy %s not found", ids);
        return;
    }

    if (r->method == M_PUT) {
        pol_update(r, res, ids);
        PQclear(res);
        return;
    }

    if (r->method != M_DELETE) {
        http_json(r, 200, pol_json(r->db, res, 0));
        PQclear(res);
        return;
    }
    PQclear(res);

    res = db_execv(r->db, "SELECT count(*) FROM replication_execution"
                   " WHERE policy_id = $1::integer AND status = 'InProgress'",
                   1, ids);
    if (res == NULL) {
        http_db_error(r);
        return;
    }
    n = db_ll(res, 0, 0);
    PQclear(res);

    if (n > 0) {
        http_error(r, 412, "the policy %s has a running execution: stop it"
                   " first", ids);
        return;
    }

    if (db_cmd(r->db, "DELETE FROM replication_policy WHERE id = $1::integer",
               1, ids) < 0)
    {
        http_db_error(r);
        return;
    }

    audit_req(r, 0, "delete", "replication_policy", ids);
    http_json(r, 200, json_object());
}


static json_t *
exec_json(PGresult *res, int i)
{
    return json_pack("{s:I, s:I, s:s, s:s, s:o, s:o, s:s, s:I, s:I, s:I,"
                     " s:I, s:I}",
                     "id", (json_int_t) db_ll(res, i, 0),
                     "policy_id", (json_int_t) db_ll(res, i, 1),
                     "status", db_s(res, i, 2),
                     "trigger", db_s(res, i, 3),
                     "start_time", db_json_s(res, i, 4),
                     "end_time", db_json_s(res, i, 5),
                     "status_text", db_s(res, i, 6),
                     "total", (json_int_t) db_ll(res, i, 7),
                     "failed", (json_int_t) db_ll(res, i, 8),
                     "succeed", (json_int_t) db_ll(res, i, 9),
                     "in_progress", (json_int_t) db_ll(res, i, 10),
                     "stopped", (json_int_t) db_ll(res, i, 11));
}


static void
exec_start(struct req *r)
{
    json_t      *body;
    PGresult    *res;
    long long    pid, id;
    char         ids[32], *loc;
    int          enabled;

    body = http_body_json(r);
    if (body == NULL) {
        return;
    }

    if (body_int(r, body, "policy_id", &pid) != 0) {
        if (r->status == 0) {
            http_error(r, 400, "\"policy_id\" is required");
        }
        goto done;
    }

    snprintf(ids, sizeof(ids), "%lld", pid);
    res = pid < 1 || pid > 2147483647 ? NULL
          : db_execv(r->db, "SELECT enabled FROM replication_policy"
                     " WHERE id = $1::integer", 1, ids);
    if (res == NULL && pid >= 1 && pid <= 2147483647) {
        http_db_error(r);
        goto done;
    }
    if (res == NULL || PQntuples(res) == 0) {
        PQclear(res);
        http_error(r, 404, "replication policy %lld not found", pid);
        goto done;
    }
    enabled = db_b(res, 0, 0);
    PQclear(res);

    if (!enabled) {
        http_error(r, 412, "the policy %lld is disabled", pid);
        goto done;
    }

    id = repl_execution_new(r->db, pid, "manual");
    if (id < 0) {
        http_db_error(r);
        goto done;
    }

    audit_req(r, 0, "create", "replication_execution", ids);
    loc = req_printf(r, "/api/v2.0/replication/executions/%lld", id);
    if (loc != NULL) {
        http_header(r, "Location", loc);
    }
    http_json(r, 201, json_object());

done:

    json_decref(body);
}


static void
exec_list(struct req *r)
{
    struct qsql   s;
    PGresult     *res;
    const char   *v;
    json_t       *list;
    long          page, page_size;
    char         *e;
    int           p, i;

    if (http_page(r, &page, &page_size) != 0) {
        return;
    }

    q_init(&s, r);

    v = http_arg(r, "policy_id");
    if (v != NULL) {
        errno = 0;
        (void) strtoll(v, &e, 10);
        if (errno != 0 || *e != '\0' || v[0] == '\0' || strlen(v) > 10) {
            http_error(r, 400, "\"policy_id\" must be a number");
            return;
        }
        p = q_param(&s, v);
        if (p < 0 || q_add(&s, "e.policy_id = $%d::bigint", p) != 0) {
            return;
        }
    }

    v = http_arg(r, "status");
    if (v != NULL) {
        p = q_param(&s, v);
        if (p < 0 || q_add(&s, "e.status = $%d", p) != 0) {
            return;
        }
    }

    v = http_arg(r, "trigger");
    if (v != NULL) {
        p = q_param(&s, v);
        if (p < 0 || q_add(&s, "e.trigger = $%d", p) != 0) {
            return;
        }
    }

    if (q_list(r, &s, "SELECT count(*) FROM replication_execution e"
               " WHERE true", "SELECT " EXEC_COLS
               " FROM replication_execution e WHERE true", "e.id DESC",
               page, page_size, &res) != 0)
    {
        return;
    }

    list = json_array();
    for (i = 0; i < PQntuples(res); i++) {
        json_array_append_new(list, exec_json(res, i));
    }
    PQclear(res);

    http_json(r, 200, list);
}


/* GET, POST /replication/executions */
void
api_repl_executions(struct req *r)
{
    if (http_need_sysadmin(r) != 0 || http_db(r) == NULL) {
        return;
    }

    if (r->method == M_POST) {
        exec_start(r);
    } else {
        exec_list(r);
    }
}


/* the execution of the path, 0 with a 404 sent when there is none */
static long long
exec_find(struct req *r, PGresult **out)
{
    PGresult   *res;
    char        ids[32];
    long long   id;

    if ((id = repl_path_id(r, r->seg[4], "replication execution")) == 0) {
        return 0;
    }

    snprintf(ids, sizeof(ids), "%lld", id);
    res = db_execv(r->db, "SELECT " EXEC_COLS " FROM replication_execution e"
                   " WHERE e.id = $1::integer", 1, ids);
    if (res == NULL) {
        http_db_error(r);
        return 0;
    }
    if (PQntuples(res) == 0) {
        PQclear(res);
        http_error(r, 404, "replication execution %s not found", ids);
        return 0;
    }

    if (out != NULL) {
        *out = res;
    } else {
        PQclear(res);
    }

    return id;
}


/* GET /replication/executions/{id}; PUT stops it */
void
api_repl_execution(struct req *r)
{
    PGresult   *res;
    long long   id;
    char        ids[32];

    if (http_need_sysadmin(r) != 0 || http_db(r) == NULL
        || (id = exec_find(r, &res)) == 0)
    {
        return;
    }

    if (r->method != M_PUT) {
        http_json(r, 200, exec_json(res, 0));
        PQclear(res);
        return;
    }
    PQclear(res);

    snprintf(ids, sizeof(ids), "%lld", id);
    if (repl_execution_stop(r->db, id) != 0) {
        http_db_error(r);
        return;
    }

    audit_req(r, 0, "stop", "replication_execution", ids);
    http_json(r, 200, json_object());
}


static json_t *
task_json(PGresult *res, int i)
{
    const char  *src_ref, *dst_ref;
    int64_t      done, total;
    long long    id;
    char         src[600], dst[600], job[32];

    id = db_ll(res, i, 0);
    done = db_ll(res, i, 11);
    total = db_ll(res, i, 12);

    /* a task running now: its progress from the copy itself */
    if (strcmp(db_s(res, i, 8), "InProgress") == 0) {
        repl_task_progress(id, &done, &total);
    }

    src_ref = db_s(res, i, 5);
    dst_ref = db_s(res, i, 7);
    snprintf(src, sizeof(src), "%s%s%s", db_s(res, i, 4),
             strchr(src_ref, ':') != NULL ? "@" : ":", src_ref);
    snprintf(dst, sizeof(dst), "%s%s%s", db_s(res, i, 6),
             strchr(dst_ref, ':') != NULL ? "@" : ":", dst_ref);

    snprintf(job, sizeof(job), "repl-%lld", id);

    return json_pack("{s:I, s:I, s:s, s:s, s:s, s:s, s:s, s:o, s:o, s:s,"
                  " s:I, s:I, s:I}",
                  "id", (json_int_t) id,
                  "execution_id", (json_int_t) db_ll(res, i, 1),
                  "resource_type", db_s(res, i, 2),
                  "operation", db_s(res, i, 3),
                  "src_resource", src,
                  "dst_resource", dst,
                  "status", db_s(res, i, 8),
                  "start_time", db_json_s(res, i, 9),
                  "end_time", db_json_s(res, i, 10),
                  "job_id", job,
                  "bytes_done", (json_int_t) done,
                  "bytes_total", (json_int_t) total,
                  "attempts", (json_int_t) db_ll(res, i, 13));
}


/* GET /replication/executions/{id}/tasks */
void
api_repl_tasks(struct req *r)
{
    struct qsql   s;
    PGresult     *res;
    const char   *v;
    json_t       *list;
    long          page, page_size;
    long long     id;
    char         *ids;
    int           p, i;

    if (http_need_sysadmin(r) != 0 || http_db(r) == NULL
        || (id = exec_find(r, NULL)) == 0
        || http_page(r, &page, &page_size) != 0)
    {
        return;
    }

    q_init(&s, r);
    ids = req_printf(r, "%lld", id);
    p = ids != NULL ? q_param(&s, ids) : -1;
    if (p < 0 || q_add(&s, "execution_id = $%d::integer", p) != 0) {
        return;
    }

    v = http_arg(r, "status");
    if (v != NULL) {
        p = q_param(&s, v);
        if (p < 0 || q_add(&s, "status = $%d", p) != 0) {
            return;
        }
    }

    if (q_list(r, &s, "SELECT count(*) FROM replication_task WHERE true",
               "SELECT " TASK_COLS " FROM replication_task WHERE true",
               "id", page, page_size, &res) != 0)
    {
        return;
    }

    list = json_array();
    for (i = 0; i < PQntuples(res); i++) {
        json_array_append_new(list, task_json(res, i));
    }
    PQclear(res);

    http_json(r, 200, list);
}


/* GET /replication/executions/{id}/tasks/{task_id}/log */
void
api_repl_task_log(struct req *r)
{
    PGresult   *res;
    long long   id, tid;
    char        ids[32], tids[32], *live;

    if (http_need_sysadmin(r) != 0 || http_db(r) == NULL
        || (id = exec_find(r, NULL)) == 0
        || (tid = repl_path_id(r, r->seg[6], "replication task")) == 0)
    {
        return;
    }

    snprintf(ids, sizeof(ids), "%lld", id);
    snprintf(tids, sizeof(tids), "%lld", tid);

    /* the task through its execution: another execution's is not here */
    res = db_execv(r->db, "SELECT log, status FROM replication_task"
                   " WHERE id = $1::integer AND execution_id = $2::integer",
                   2, tids, ids);
    if (res == NULL) {
        http_db_error(r);
        return;
    }
    if (PQntuples(res) == 0) {
        PQclear(res);
        http_error(r, 404, "replication task %s not found", tids);
        return;
    }

    /* a task copying now: its earlier tries, then this one's lines */
    live = strcmp(db_s(res, 0, 1), "InProgress") == 0 ? repl_task_log(tid)
                                                      : NULL;
    http_text(r, 200, "text/plain; charset=utf-8",
              req_printf(r, "%s%s", db_s(res, 0, 0),
                         live != NULL ? live : ""));
    free(live);
    PQclear(res);
}
