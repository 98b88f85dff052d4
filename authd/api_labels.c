/*
 * authd: labels, Harbor's API.
 *
 *   GET    /labels?scope=g|p[&project_id=][&name=]   list, paginated
 *   POST   /labels                                  create one
 *   GET    /labels/{id}                             one
 *   PUT    /labels/{id}                             change it
 *   DELETE /labels/{id}                             remove it (and from
 *                                                   every artifact)
 *
 * Global labels (scope "g") are made, changed and removed by system
 * administrators and read by anyone; a project's labels (scope "p") by
 * the project's administrators ("project update") and read by whoever
 * sees the project.  A label of a project the caller cannot see is a
 * 404, as is an unknown id.  Artifacts carry labels through
 * .../artifacts/{ref}/labels (api_artifacts.c): a global label, or one
 * of the artifact's own project.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "authd.h"


#define LABEL_COLS                                                          \
    "id, name, description, color, scope, COALESCE(project_id, 0), "       \
    DB_TIME("creation_time") ", " DB_TIME("update_time")


static json_t *
label_json(PGresult *res, int i)
{
    return json_pack("{s:I, s:s, s:s, s:s, s:s, s:I, s:o, s:o, s:b}",
                     "id", (json_int_t) db_ll(res, i, 0),
                     "name", db_s(res, i, 1),
                     "description", db_s(res, i, 2),
                     "color", db_s(res, i, 3),
                     "scope", db_s(res, i, 4),
                     "project_id", (json_int_t) db_ll(res, i, 5),
                     "creation_time", db_json_s(res, i, 6),
                     "update_time", db_json_s(res, i, 7),
                     "deleted", 0);
}


/* the labels of the artifacts ids[0..n-1]: rows (artifact_id, LABEL_COLS) */
PGresult *
label_of_artifacts(struct dbc *db, const char *idarr)
{
    return db_execv(db, "SELECT al.artifact_id, l.id, l.name, l.description,"
                    " l.color, l.scope, COALESCE(l.project_id, 0), "
                    DB_TIME("l.creation_time") ", "
                    DB_TIME("l.update_time")
                    " FROM artifact_label al JOIN label l"
                    " ON l.id = al.label_id"
                    " WHERE al.artifact_id = ANY($1::integer[])"
                    " ORDER BY al.id", 1, idarr);
}


/* row i of label_of_artifacts() as a Label (column 0 skipped) */
json_t *
label_artifact_json(PGresult *res, int i)
{
    return json_pack("{s:I, s:s, s:s, s:s, s:s, s:I, s:o, s:o, s:b}",
                     "id", (json_int_t) db_ll(res, i, 1),
                     "name", db_s(res, i, 2),
                     "description", db_s(res, i, 3),
                     "color", db_s(res, i, 4),
                     "scope", db_s(res, i, 5),
                     "project_id", (json_int_t) db_ll(res, i, 6),
                     "creation_time", db_json_s(res, i, 7),
                     "update_time", db_json_s(res, i, 8),
                     "deleted", 0);
}


/*
 * Label {id}, as the caller may see it: 0 with *project_id (0 for a
 * global label), or -1 with 404 (or 401) sent.  When p is not NULL and
 * the label is a project's, *p is that project.
 */
static int
label_load(struct req *r, long long id, long long *project_id,
    struct project *p)
{
    PGresult  *res;
    char       ids[32], pid[32];
    int        found;

    if (http_db(r) == NULL) {
        return -1;
    }

    snprintf(ids, sizeof(ids), "%lld", id);
    res = db_execv(r->db, "SELECT COALESCE(project_id, 0) FROM label"
                   " WHERE id = $1::integer", 1, ids);
    if (res == NULL) {
        http_db_error(r);
        return -1;
    }

    found = PQntuples(res) == 1;
    *project_id = found ? db_ll(res, 0, 0) : 0;
    PQclear(res);

    if (!found) {
        http_error(r, 404, "label %lld not found", id);
        return -1;
    }

    if (*project_id != 0) {
        snprintf(pid, sizeof(pid), "%lld", *project_id);
        if (project_load(r, pid, p) != 0) {
            /* a project the caller cannot see: its labels do not exist */
            if (r->status == 403) {
                http_error(r, 404, "label %lld not found", id);
            }
            return -1;
        }
    }

    return 0;
}


/* may the caller change labels of project_id (0: the global ones)? */
static int
label_may_write(struct req *r, long long project_id, struct project *p)
{
    if (project_id == 0) {
        return http_need_sysadmin(r) == 0;
    }

    return project_can(r, p, "project", "update");
}


/*
 * A label that may go on an artifact of project_id: 0, or -1 with 404
 * sent (an unknown label, or another project's).
 */
int
label_for_project(struct req *r, long long label_id, long long project_id)
{
    PGresult  *res;
    char       ids[32], pid[32];
    int        ok;

    snprintf(ids, sizeof(ids), "%lld", label_id);
    snprintf(pid, sizeof(pid), "%lld", project_id);

    res = db_execv(r->db, "SELECT 1 FROM label WHERE id = $1::integer"
                   " AND (scope = 'g' OR project_id = $2::integer)", 2,
                   ids, pid);
    if (res == NULL) {
        http_db_error(r);
        return -1;
    }

    ok = PQntuples(res) == 1;
    PQclear(res);

    if (!ok) {
        http_error(r, 404, "label %lld not found", label_id);
        return -1;
    }

    return 0;
}


static void
labels_list(struct req *r)
{
    struct project   p;
    struct qsql      s;
    PGresult        *res;
    const char      *scope, *pid, *name;
    json_t          *list;
    char            *v;
    long             page, page_size;
    int              i, a;

    if (http_page(r, &page, &page_size) != 0) {
        return;
    }

    scope = http_arg(r, "scope");
    if (scope == NULL || scope[0] == '\0') {
        scope = "g";
    }

    if (strcmp(scope, "g") != 0 && strcmp(scope, "p") != 0) {
        http_error(r, 400, "invalid scope: %.16s", scope);
        return;
    }

    if (http_db(r) == NULL) {
        return;
    }

    q_init(&s, r);

    if (strcmp(scope, "p") == 0) {
        pid = http_arg(r, "project_id");

        if (pid == NULL || http_id(pid) < 0) {
            http_error(r, 400, "project_id is required with scope=p, "
                       "a project's number");
            return;
        }

        /* the caller must see the project, as for its other lists */
        if (project_load(r, pid, &p) != 0) {
            return;
        }

        v = req_printf(r, "%lld", p.id);
        a = v != NULL ? q_param(&s, v) : -1;
        if (a < 0
            || q_add(&s, "scope = 'p' AND project_id = $%d::integer", a) != 0)
        {
            return;
        }

    } else if (q_add(&s, "scope = 'g'") != 0) {
        return;
    }

    name = http_arg(r, "name");
    if (name != NULL && name[0] != '\0') {
        a = q_param(&s, name);
        if (a < 0 || q_add(&s, "name = $%d", a) != 0) {
            return;
        }
    }

    if (q_list(r, &s, "SELECT count(*) FROM label WHERE true",
               "SELECT " LABEL_COLS " FROM label WHERE true", "name, id",
               page, page_size, &res) != 0)
    {
        return;
    }

    list = json_array();
    for (i = 0; i < PQntuples(res); i++) {
        json_array_append_new(list, label_json(res, i));
    }
    PQclear(res);

    http_json(r, 200, list);
}


/* name (required on create), description, color */
static int
label_fields(struct req *r, json_t *body, const char **name,
    const char **desc, const char **color, int create)
{
    if (body_str(r, body, "name", name, 128) < 0
        || body_str(r, body, "description", desc, 1024) < 0
        || body_str(r, body, "color", color, 32) < 0)
    {
        return -1;
    }

    if ((create && *name == NULL) || (*name != NULL && (*name)[0] == '\0')) {
        http_error(r, 400, "\"name\" is required");
        return -1;
    }

    return 0;
}


static void
labels_create(struct req *r)
{
    struct project   p;
    PGresult        *res;
    json_t          *body;
    const char      *name, *desc, *color, *scope;
    long long        pid, id;
    char             pids[32], *loc;

    body = http_body_json(r);
    if (body == NULL) {
        return;
    }

    pid = 0;
    if (label_fields(r, body, &name, &desc, &color, 1) != 0
        || body_str(r, body, "scope", &scope, 1) < 0
        || body_int(r, body, "project_id", &pid) < 0)
    {
        goto done;
    }

    if (scope == NULL || (strcmp(scope, "g") != 0 && strcmp(scope, "p") != 0))
    {
        http_error(r, 400, "\"scope\" must be \"g\" or \"p\"");
        goto done;
    }

    if (scope[0] == 'p') {
        if (pid <= 0 || pid > 999999999) {
            http_error(r, 400, "\"project_id\" is required with scope p");
            goto done;
        }
        snprintf(pids, sizeof(pids), "%lld", pid);
        if (project_load(r, pids, &p) != 0) {
            goto done;
        }

    } else {
        pid = 0;
    }

    if (!label_may_write(r, pid, &p)) {
        goto done;
    }

    snprintf(pids, sizeof(pids), "%lld", pid);
    res = db_execv(r->db, "INSERT INTO label (name, description, color,"
                   " scope, project_id) VALUES ($1, $2, $3, $4,"
                   " NULLIF($5::integer, 0)) RETURNING id", 5, name,
                   desc != NULL ? desc : "", color != NULL ? color : "",
                   scope, pids);
    if (res == NULL) {
        if (r->db->err == DB_ERR_CONFLICT) {
            http_error(r, 409, "a label named \"%.128s\" exists already",
                       name);
        } else {
            http_db_error(r);
        }
        goto done;
    }

    id = db_ll(res, 0, 0);
    PQclear(res);

    audit_req(r, pid, "create", "label", name);

    loc = req_printf(r, "/api/v2.0/labels/%lld", id);
    if (loc != NULL) {
        http_header(r, "Location", loc);
    }
    http_json(r, 201, json_object());

done:

    json_decref(body);
}


/* GET/POST /labels */
void
api_labels(struct req *r)
{
    if (r->method == M_POST) {
        labels_create(r);
    } else {
        labels_list(r);
    }
}


/* GET/PUT/DELETE /labels/{id} */
void
api_label(struct req *r)
{
    struct project   p;
    PGresult        *res;
    json_t          *body;
    const char      *name, *desc, *color;
    long long        id, pid;
    char             ids[32];
    long             n;

    id = http_id(r->seg[3]);
    if (id < 0) {
        http_error(r, 404, "label %.32s not found", r->seg[3]);
        return;
    }

    if (r->method != M_GET && http_need_user(r) != 0) {
        return;
    }

    if (label_load(r, id, &pid, &p) != 0) {
        return;
    }

    snprintf(ids, sizeof(ids), "%lld", id);

    if (r->method == M_GET) {
        res = db_execv(r->db, "SELECT " LABEL_COLS " FROM label"
                       " WHERE id = $1::integer", 1, ids);
        if (res == NULL) {
            http_db_error(r);
            return;
        }
        if (PQntuples(res) != 1) {
            http_error(r, 404, "label %lld not found", id);
        } else {
            http_json(r, 200, label_json(res, 0));
        }
        PQclear(res);
        return;
    }

    if (!label_may_write(r, pid, &p)) {
        return;
    }

    if (r->method == M_DELETE) {
        n = db_cmd(r->db, "DELETE FROM label WHERE id = $1::integer", 1,
                   ids);
        if (n < 0) {
            http_db_error(r);
            return;
        }
        audit_req(r, pid, "delete", "label", ids);
        http_json(r, 200, json_object());
        return;
    }

    body = http_body_json(r);
    if (body == NULL) {
        return;
    }

    if (label_fields(r, body, &name, &desc, &color, 0) != 0) {
        goto done;
    }

    n = db_cmd(r->db, "UPDATE label SET name = COALESCE($2, name),"
               " description = COALESCE($3, description),"
               " color = COALESCE($4, color), update_time = now()"
               " WHERE id = $1::integer", 4, ids, name, desc, color);
    if (n < 0) {
        if (r->db->err == DB_ERR_CONFLICT) {
            http_error(r, 409, "a label named \"%.128s\" exists already",
                       name);
        } else {
            http_db_error(r);
        }
        goto done;
    }

    audit_req(r, pid, "update", "label", ids);
    http_json(r, 200, json_object());

done:

    json_decref(body);
}
