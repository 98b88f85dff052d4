/*
 * authd: storage quotas, Harbor's API.
 *
 *   GET /quotas              list (reference, reference_id, sort, paging)
 *   GET /quotas/{id}         one
 *   PUT /quotas/{id}         {"hard": {"storage": N}}, N bytes or -1
 *
 * All three are for system administrators, as in Harbor; a project's
 * members see its quota in the project summary.  A project's limit is
 * also set by storage_limit on project create and update
 * (api_projects.c).  Each change is written to the module's file
 * (quota.c) before it is answered.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "authd.h"
#include "harbor_quota.h"


#define QUOTA_FROM                                                          \
    " FROM quota q JOIN projects p ON p.project_id = q.project_id"          \
    " JOIN users u ON u.user_id = p.owner_id WHERE NOT p.deleted"

#define QUOTA_COLS(used)                                                    \
    "q.id, p.project_id, p.name, u.username, q.hard, " used ", "            \
    DB_TIME("q.creation_time") ", " DB_TIME("q.update_time")


static const struct qsort  quota_sort[] = {
    { "id",             "q.id" },
    { "creation_time",  "q.creation_time" },
    { "update_time",    "q.update_time" },
    { "hard.storage",   "q.hard" },
    { "used.storage",   "6" },
};


/* a limit from a client: -1 or 1 .. HB_QUOTA_HARD_MAX; else 400 sent */
int
quota_limit_valid(struct req *r, const char *what, long long v)
{
    if (v == -1 || (v > 0 && v <= HB_QUOTA_HARD_MAX)) {
        return 1;
    }

    http_error(r, 400, "%s must be -1 (unlimited) or between 1 and %lld"
               " bytes, not %lld", what, (long long) HB_QUOTA_HARD_MAX, v);

    return 0;
}


/* a project's limit: recorded, then written for the module; 0 or -1 */
int
quota_set(struct req *r, long long project_id, const char *name,
    long long hard)
{
    char  pid[32], h[32];

    snprintf(pid, sizeof(pid), "%lld", project_id);
    snprintf(h, sizeof(h), "%lld", hard);

    if (db_cmd(r->db, "INSERT INTO quota (project_id, hard) VALUES"
               " ($1::integer, $2::bigint) ON CONFLICT (project_id) DO"
               " UPDATE SET hard = EXCLUDED.hard, update_time = now()", 2,
               pid, h) < 0)
    {
        http_db_error(r);
        return -1;
    }

    if (quota_sync(r->db, project_id, name) != 0) {
        http_error(r, 500, "the storage limit of %s was recorded but could"
                   " not be written to the storage; the registry applies"
                   " it once it is (authd retries at start)", name);
        return -1;
    }

    return 0;
}


static json_t *
quota_json(PGresult *res, int i)
{
    return json_pack("{s:I, s:{s:I, s:s, s:s}, s:{s:I}, s:{s:I}, s:o,"
                     " s:o}",
                     "id", (json_int_t) db_ll(res, i, 0),
                     "ref", "id", (json_int_t) db_ll(res, i, 1),
                     "name", db_s(res, i, 2), "owner_name", db_s(res, i, 3),
                     "hard", "storage", (json_int_t) db_ll(res, i, 4),
                     "used", "storage", (json_int_t) db_ll(res, i, 5),
                     "creation_time", db_json_s(res, i, 6),
                     "update_time", db_json_s(res, i, 7));
}


static void
quotas_list(struct req *r)
{
    struct qsql   s;
    PGresult     *res;
    const char   *ref, *refid, *order, *used;
    json_t       *list;
    long          page, page_size;
    long long     id;
    int           i, p;

    if (http_page(r, &page, &page_size) != 0) {
        return;
    }

    q_init(&s, r);

    ref = http_arg(r, "reference");
    if (ref != NULL && ref[0] && strcmp(ref, "project") != 0) {
        /* no other kind of reference has quotas */
        if (q_add(&s, "false") != 0) {
            return;
        }
    }

    refid = http_arg(r, "reference_id");
    if (refid != NULL && refid[0]) {
        id = http_id(refid);
        if (id < 0) {
            http_error(r, 400, "reference_id must be a project id");
            return;
        }
        p = q_param(&s, req_printf(r, "%lld", id));
        if (p < 0 || q_add(&s, "p.project_id = $%d::integer", p) != 0) {
            return;
        }
    }

    order = q_order(r, http_arg(r, "sort"), quota_sort, nitems(quota_sort),
                    "q.id");
    if (order == NULL
        || (order = req_printf(r, "%s, q.id", order)) == NULL
        || (used = quota_used_sql(r, "p.project_id")) == NULL)
    {
        return;
    }

    if (q_list(r, &s, "SELECT count(*)" QUOTA_FROM,
               req_printf(r, "SELECT " QUOTA_COLS("%s") QUOTA_FROM, used),
               order, page, page_size, &res) != 0)
    {
        return;
    }

    list = json_array();
    for (i = 0; i < PQntuples(res); i++) {
        json_array_append_new(list, quota_json(res, i));
    }
    PQclear(res);

    http_json(r, 200, list);
}


void
api_quotas(struct req *r)
{
    if (http_need_sysadmin(r) != 0 || http_db(r) == NULL) {
        return;
    }

    quotas_list(r);
}


/* the quota {seg 3}: its row, or NULL with 404 sent */
static PGresult *
quota_load(struct req *r, char *ids, size_t len)
{
    PGresult    *res;
    const char  *used;
    long long    id;

    id = http_id(r->seg[3]);
    if (id < 0) {
        http_error(r, 404, "quota %.32s not found", r->seg[3]);
        return NULL;
    }

    snprintf(ids, len, "%lld", id);

    used = quota_used_sql(r, "p.project_id");
    if (used == NULL) {
        http_error(r, 500, "out of memory");
        return NULL;
    }

    res = db_execv(r->db, req_printf(r, "SELECT " QUOTA_COLS("%s")
                                     QUOTA_FROM " AND q.id = $1::integer",
                                     used), 1, ids);
    if (res == NULL) {
        http_db_error(r);
        return NULL;
    }

    if (PQntuples(res) != 1) {
        PQclear(res);
        http_error(r, 404, "quota %lld not found", id);
        return NULL;
    }

    return res;
}


void
api_quota(struct req *r)
{
    PGresult   *res;
    json_t     *body, *hard, *v;
    long long   limit, pid;
    char        ids[32], *name;

    if (http_need_sysadmin(r) != 0 || http_db(r) == NULL) {
        return;
    }

    res = quota_load(r, ids, sizeof(ids));
    if (res == NULL) {
        return;
    }

    if (r->method != M_PUT) {
        http_json(r, 200, quota_json(res, 0));
        PQclear(res);
        return;
    }

    pid = db_ll(res, 0, 1);
    name = req_printf(r, "%s", db_s(res, 0, 2));
    PQclear(res);

    body = http_body_json(r);
    if (body == NULL) {
        return;
    }

    hard = json_object_get(body, "hard");
    v = json_is_object(hard) ? json_object_get(hard, "storage") : NULL;

    if (!json_is_integer(v)) {
        http_error(r, 400, "hard.storage, an integer, is required");
        goto done;
    }

    limit = json_integer_value(v);

    if (name == NULL || !quota_limit_valid(r, "hard.storage", limit)) {
        goto done;
    }

    if (quota_set(r, pid, name, limit) != 0) {
        goto done;
    }

    if (audit_add(r->db, pid, r->user.name, "update", "quota", name, NULL,
                  1, http_client_ip(r)) != 0)
    {
        http_db_error(r);
        goto done;
    }

    log_info("user \"%s\" set the storage limit of \"%s\" to %lld",
             r->user.name, name, limit);
    http_text(r, 200, NULL, "");

done:

    json_decref(body);
}
