/*
 * authd: the audit log, /api/v2.0/audit-logs and /projects/{p}/logs.
 *
 * Rows come from the journal (every push, pull and delete in /v2, with
 * the user of the token; API deletions and new tags go through /v2 too)
 * and from the API itself: projects, members, repositories, users,
 * logins (docker login, failed authentications), reindex.
 *
 * AuditLog: id, username, resource, resource_type, operation, op_time,
 * and Harbor 2.13's operation_description, operation_result.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "authd.h"


/* 0, or -1 on a database error (the caller decides whether it matters) */
int
audit_add(struct dbc *db, long long project_id, const char *username,
    const char *operation, const char *resource_type, const char *resource,
    const char *description, int result, const char *client_ip)
{
    char  pid[32];

    snprintf(pid, sizeof(pid), "%lld", project_id);

    return db_cmd(db, "INSERT INTO audit_log (project_id, operation,"
                  " operation_description, operation_result, resource_type,"
                  " resource, username, client_ip) VALUES"
                  " (NULLIF($1::integer, 0), $2, $3, $4, $5,"
                  " left($6, 512), left($7, 255), $8)", 8, pid, operation,
                  description != NULL ? description : "",
                  result ? "t" : "f", resource_type, resource,
                  username != NULL ? username : "",
                  client_ip != NULL ? client_ip : "") < 0 ? -1 : 0;
}


/* An entry for what the caller of r just did; a failure is only logged. */
void
audit_req(struct req *r, long long project_id, const char *operation,
    const char *resource_type, const char *resource)
{
    if (r->db == NULL) {
        return;
    }

    if (audit_add(r->db, project_id, r->user.name, operation, resource_type,
                  resource, NULL, 1, http_client_ip(r)) != 0)
    {
        log_warnx("audit log: \"%s %s %s\" by %s could not be recorded",
                  operation, resource_type, resource, r->user.name);
    }
}


static const struct qfield  audit_fields[] = {
    { "operation",      "l.operation",      Q_TEXT, Q_EQ | Q_ANY, NULL },
    { "resource",       "l.resource",       Q_TEXT, Q_EQ | Q_FUZZY, NULL },
    { "resource_type",  "l.resource_type",  Q_TEXT, Q_EQ | Q_ANY, NULL },
    { "username",       "l.username",       Q_TEXT, Q_EQ | Q_FUZZY | Q_ANY,
                                                                      NULL },
    { "op_time",        "l.op_time",        Q_TIME, Q_EQ | Q_RANGE, NULL },
    { "operation_result", "l.operation_result", Q_BOOL, Q_EQ, NULL },
    { "project_id",     "l.project_id",     Q_INT,  Q_EQ | Q_ANY, NULL },
};

static const struct qsort  audit_sort[] = {
    { "op_time",        "l.op_time" },
    { "id",             "l.id" },
    { "operation",      "l.operation" },
    { "resource",       "l.resource" },
    { "resource_type",  "l.resource_type" },
    { "username",       "l.username" },
};


static void
audit_list(struct req *r, long long project_id)
{
    struct qitem   items[Q_ITEMS_MAX];
    struct qsql    s;
    PGresult      *res;
    const char    *order;
    json_t        *list;
    char          *pid;
    long           page, page_size;
    int            n, i, p;

    if (http_page(r, &page, &page_size) != 0
        || q_parse(r, http_arg(r, "q"), items, &n) != 0)
    {
        return;
    }

    q_init(&s, r);

    if (project_id != 0) {
        /* a project's log is that project's rows, whatever q says */
        if (q_take(items, n, "project_id") != NULL) {
            http_error(r, 400, "q: unsupported key \"project_id\"");
            return;
        }

        pid = req_printf(r, "%lld", project_id);
        p = pid != NULL ? q_param(&s, pid) : -1;
        if (p < 0 || q_add(&s, "l.project_id = $%d::integer", p) != 0) {
            return;
        }
    }

    if (q_where(&s, items, n, audit_fields, nitems(audit_fields)) != 0) {
        return;
    }

    order = q_order(r, http_arg(r, "sort"), audit_sort, nitems(audit_sort),
                    "l.op_time DESC, l.id DESC");
    if (order == NULL) {
        return;
    }

    order = req_printf(r, "%s, l.id DESC", order);

    if (q_list(r, &s, "SELECT count(*) FROM audit_log l WHERE true",
               "SELECT l.id, l.username, l.resource, l.resource_type,"
               " l.operation, " DB_TIME("l.op_time") ","
               " l.operation_description, l.operation_result"
               " FROM audit_log l WHERE true", order, page, page_size, &res)
        != 0)
    {
        return;
    }

    list = json_array();
    for (i = 0; i < PQntuples(res); i++) {
        json_array_append_new(list, json_pack(
            "{s:I, s:s, s:s, s:s, s:s, s:o, s:s, s:b}",
            "id", (json_int_t) db_ll(res, i, 0),
            "username", db_s(res, i, 1),
            "resource", db_s(res, i, 2),
            "resource_type", db_s(res, i, 3),
            "operation", db_s(res, i, 4),
            "op_time", db_json_s(res, i, 5),
            "operation_description", db_s(res, i, 6),
            "operation_result", db_b(res, i, 7)));
    }
    PQclear(res);

    http_json(r, 200, list);
}


/* GET /audit-logs: system administrators */
void
api_audit_logs(struct req *r)
{
    if (http_need_sysadmin(r) != 0) {
        return;
    }

    audit_list(r, 0);
}


/* GET /projects/{p}/logs: the project's rows; log:list on the project */
void
api_project_logs(struct req *r)
{
    struct project  p;

    if (project_load(r, r->seg[3], &p) != 0
        || !project_can(r, &p, "log", "list"))
    {
        return;
    }

    audit_list(r, p.id);
}
