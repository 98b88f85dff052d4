/*
 * authd: /api/v2.0/projects/{p}/members.
 *
 * A member id is only ever looked up together with the project of the
 * path (WHERE id = $1 AND project_id = $2): an id from another project
 * is "not found", whatever the caller's rights there.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "authd.h"


#define MEMBER_COLUMNS                                                      \
    "pm.id, pm.project_id, COALESCE(u.username, g.group_name), r.name,"     \
    " pm.role, pm.entity_id, pm.entity_type"

/* sort keys: Harbor's member fields */
static const struct qsort  member_sort[] = {
    { "id",             "pm.id" },
    { "entity_name",    "COALESCE(u.username, g.group_name)" },
    { "role_id",        "pm.role" },
    { "entity_type",    "pm.entity_type" },
};

#define MEMBER_FROM                                                         \
    " FROM project_member pm JOIN roles r ON r.role_id = pm.role"           \
    " LEFT JOIN users u ON pm.entity_type = 'u'"                            \
    " AND u.user_id = pm.entity_id"                                         \
    " LEFT JOIN user_group g ON pm.entity_type = 'g'"                       \
    " AND g.id = pm.entity_id"


static json_t *
member_json(PGresult *res, int row)
{
    return json_pack("{s:I, s:I, s:o, s:s, s:I, s:I, s:s}",
                     "id", (json_int_t) db_ll(res, row, 0),
                     "project_id", (json_int_t) db_ll(res, row, 1),
                     "entity_name", db_json_s(res, row, 2),
                     "role_name", db_s(res, row, 3),
                     "role_id", (json_int_t) db_ll(res, row, 4),
                     "entity_id", (json_int_t) db_ll(res, row, 5),
                     "entity_type", db_s(res, row, 6));
}


static void
members_list(struct req *r, struct project *p)
{
    const char  *name, *order;
    char         pid[32], limit[32], offset[32], *like, *sql;
    long         page, page_size;
    long long    total;
    PGresult    *res;
    json_t      *list;
    int          i;

    if (!project_can(r, p, "member", "read")) {
        return;
    }

    if (http_page(r, &page, &page_size) != 0) {
        return;
    }

    order = q_order(r, http_arg(r, "sort"), member_sort,
                    nitems(member_sort), "pm.id");
    if (order == NULL) {
        return;
    }

    /* fuzzy, with the value's own LIKE characters escaped */
    like = NULL;
    name = http_arg(r, "entityname");
    if (name != NULL && (like = q_like(r, name)) == NULL) {
        return;
    }

    snprintf(pid, sizeof(pid), "%lld", p->id);
    snprintf(limit, sizeof(limit), "%ld", page_size);
    snprintf(offset, sizeof(offset), "%lld",
             (long long) (page - 1) * page_size);

#define MEMBERS_WHERE                                                       \
    " WHERE pm.project_id = $1"                                             \
    " AND ($2::text IS NULL OR COALESCE(u.username, g.group_name) LIKE $2)"

    res = db_execv(r->db, "SELECT count(*)" MEMBER_FROM MEMBERS_WHERE,
                   2, pid, like);
    if (res == NULL) {
        http_db_error(r);
        return;
    }

    total = db_ll(res, 0, 0);
    PQclear(res);

    sql = req_printf(r, "SELECT " MEMBER_COLUMNS MEMBER_FROM MEMBERS_WHERE
                     " ORDER BY %s, pm.id LIMIT $3 OFFSET $4", order);
    if (sql == NULL) {
        http_error(r, 500, "out of memory");
        return;
    }

    res = db_execv(r->db, sql, 4, pid, like, limit, offset);
    if (res == NULL) {
        http_db_error(r);
        return;
    }

    list = json_array();
    for (i = 0; i < PQntuples(res); i++) {
        json_array_append_new(list, member_json(res, i));
    }
    PQclear(res);

    http_page_links(r, page, page_size, total);
    http_json(r, 200, list);
}


/*
 * Harbor's member_group: {"id"} or {"ldap_group_dn"} or {"group_name"},
 * with an optional group_type (1, LDAP).  The group's row (id, name), or
 * NULL with the answer sent.  A DN the directory has but no user group
 * yet becomes one (named group_name, else as the directory names it).
 */
static PGresult *
member_group_find(struct req *r, json_t *mg)
{
    const char  *name, *dn;
    char         norm[1024], gid[32];
    long long    id, type;
    PGresult    *res;

    if (!json_is_object(mg)) {
        http_error(r, 400, "\"member_group\" must be an object");
        return NULL;
    }

    id = 0;
    type = 1;

    if (body_int(r, mg, "id", &id) < 0
        || body_str(r, mg, "group_name", &name, 255) < 0
        || body_str(r, mg, "ldap_group_dn", &dn, 1000) < 0
        || body_int(r, mg, "group_type", &type) < 0)
    {
        return NULL;
    }

    if (type != 1) {
        http_error(r, 400, "\"group_type\" must be 1 (LDAP)");
        return NULL;
    }

    if (id > 0 && id < 2147483647) {
        snprintf(gid, sizeof(gid), "%lld", id);
        res = db_execv(r->db, "SELECT id, group_name FROM user_group"
                       " WHERE id = $1", 1, gid);

    } else if (dn != NULL && dn[0] != '\0') {
        if (dir_dn_norm(dn, norm, sizeof(norm)) != 0) {
            http_error(r, 400, "\"ldap_group_dn\" must be a DN");
            return NULL;
        }
        res = db_execv(r->db, "SELECT id, group_name FROM user_group"
                       " WHERE group_type = 1 AND ldap_group_dn = $1", 1,
                       norm);

        /* as Harbor: a directory group unknown so far is added */
        if (res != NULL && PQntuples(res) == 0) {
            PQclear(res);
            id = usergroup_add(r, norm, name);
            if (id < 0) {
                return NULL;
            }
            snprintf(gid, sizeof(gid), "%lld", id);
            res = db_execv(r->db, "SELECT id, group_name FROM user_group"
                           " WHERE id = $1", 1, gid);
        }

    } else if (name != NULL && name[0] != '\0') {
        res = db_execv(r->db, "SELECT id, group_name FROM user_group"
                       " WHERE group_type = 1 AND group_name = $1", 1, name);

    } else {
        http_error(r, 400, "\"member_group\" needs an id, ldap_group_dn "
                   "or group_name");
        return NULL;
    }

    if (res == NULL) {
        http_db_error(r);
        return NULL;
    }

    if (PQntuples(res) != 1) {
        PQclear(res);
        http_error(r, 404, "user group not found");
        return NULL;
    }

    return res;
}


static void
members_create(struct req *r, struct project *p)
{
    json_t      *body, *mu, *mg;
    const char  *username, *kind;
    char         pid[32], role[16], uid[32], ename[256], *loc;
    long long    role_id, user_id;
    PGresult    *res;

    if (!project_can(r, p, "member", "create")) {
        return;
    }

    body = http_body_json(r);
    if (body == NULL) {
        return;
    }

    role_id = 0;
    user_id = 0;
    username = NULL;
    kind = "u";

    if (body_int(r, body, "role_id", &role_id) < 0) {
        goto done;
    }

    if (!rbac_role_valid((int) role_id) || role_id != (int) role_id) {
        http_error(r, 400, "\"role_id\" must be 1 (projectAdmin), "
                   "2 (developer), 3 (guest), 4 (maintainer) or "
                   "5 (limitedGuest)");
        goto done;
    }

    mg = json_object_get(body, "member_group");
    if (mg != NULL && !json_is_null(mg)) {
        res = member_group_find(r, mg);
        if (res == NULL) {
            goto done;
        }
        kind = "g";
        username = NULL;

    } else {
        mu = json_object_get(body, "member_user");
        if (!json_is_object(mu)) {
            http_error(r, 400, "\"member_user\" with a username or user_id"
                       " or \"member_group\" is required");
            goto done;
        }

        if (body_str(r, mu, "username", &username, AUTHD_USER_MAX) < 0
            || body_int(r, mu, "user_id", &user_id) < 0)
        {
            goto done;
        }

        snprintf(uid, sizeof(uid), "%lld", user_id);

        if (username != NULL) {
            res = db_execv(r->db, "SELECT user_id, username FROM users"
                           " WHERE username = $1 AND NOT deleted", 1,
                           username);

        } else if (user_id > 0 && user_id < 2147483647) {
            res = db_execv(r->db, "SELECT user_id, username FROM users"
                           " WHERE user_id = $1 AND NOT deleted", 1, uid);

        } else {
            http_error(r, 400, "\"member_user\" needs a username or "
                       "user_id");
            goto done;
        }

        if (res == NULL) {
            http_db_error(r);
            goto done;
        }

        if (PQntuples(res) != 1) {
            PQclear(res);
            http_error(r, 404, "user %.255s not found",
                       username != NULL ? username : uid);
            goto done;
        }
    }

    snprintf(pid, sizeof(pid), "%lld", p->id);
    snprintf(role, sizeof(role), "%lld", role_id);
    snprintf(uid, sizeof(uid), "%lld", db_ll(res, 0, 0));
    snprintf(ename, sizeof(ename), "%s", db_s(res, 0, 1));
    PQclear(res);

    res = db_execv(r->db, "INSERT INTO project_member (project_id, entity_id,"
                   " entity_type, role) VALUES ($1, $2, $4, $3)"
                   " RETURNING id", 4, pid, uid, role, kind);
    if (res == NULL) {
        if (r->db->err == DB_ERR_CONFLICT) {
            http_error(r, 409, "the %s is already a member of project %s",
                       kind[0] == 'g' ? "group" : "user", p->name);
        } else {
            http_db_error(r);
        }
        goto done;
    }

    loc = req_printf(r, "/api/v2.0/projects/%lld/members/%lld", p->id,
                     db_ll(res, 0, 0));
    PQclear(res);

    log_info("user \"%s\" added %s %s to project \"%s\" as %s",
             r->user.name, kind[0] == 'g' ? "group" : "user", uid, p->name,
             rbac_role_name((int) role_id));

    audit_req(r, p->id, "create", "project_member",
              req_printf(r, "%s:%s", ename, rbac_role_name((int) role_id)));

    if (loc != NULL) {
        http_header(r, "Location", loc);
    }
    http_text(r, 201, NULL, "");

done:

    json_decref(body);
}


void
api_members(struct req *r)
{
    struct project  p;

    if (project_load(r, r->seg[3], &p) != 0) {
        return;
    }

    if (r->method == M_POST) {
        members_create(r, &p);
    } else {
        members_list(r, &p);
    }
}


void
api_member(struct req *r)
{
    struct project  p;
    json_t         *body;
    PGresult       *res;
    long long       mid, role_id;
    char            pid[32], id[32], role[16];
    long            n;
    const char     *action;

    if (project_load(r, r->seg[3], &p) != 0) {
        return;
    }

    action = r->method == M_PUT ? "update"
             : r->method == M_DELETE ? "delete" : "read";

    if (!project_can(r, &p, "member", action)) {
        return;
    }

    mid = http_id(r->seg[5]);
    if (mid < 0) {
        http_error(r, 404, "member not found");
        return;
    }

    snprintf(pid, sizeof(pid), "%lld", p.id);
    snprintf(id, sizeof(id), "%lld", mid);

    if (r->method == M_GET || r->method == M_HEAD) {
        res = db_execv(r->db, "SELECT " MEMBER_COLUMNS MEMBER_FROM
                       " WHERE pm.id = $1 AND pm.project_id = $2",
                       2, id, pid);
        if (res == NULL) {
            http_db_error(r);
            return;
        }

        if (PQntuples(res) != 1) {
            PQclear(res);
            http_error(r, 404, "member %lld not found in project %s", mid,
                       p.name);
            return;
        }

        http_json(r, 200, member_json(res, 0));
        PQclear(res);
        return;
    }

    if (r->method == M_DELETE) {
        n = db_cmd(r->db, "DELETE FROM project_member WHERE id = $1"
                   " AND project_id = $2", 2, id, pid);

    } else {
        body = http_body_json(r);
        if (body == NULL) {
            return;
        }

        role_id = 0;
        if (body_int(r, body, "role_id", &role_id) < 0) {
            json_decref(body);
            return;
        }
        json_decref(body);

        if (!rbac_role_valid((int) role_id) || role_id != (int) role_id) {
            http_error(r, 400, "\"role_id\" must be 1 to 5");
            return;
        }

        snprintf(role, sizeof(role), "%lld", role_id);

        n = db_cmd(r->db, "UPDATE project_member SET role = $3,"
                   " update_time = now() WHERE id = $1 AND project_id = $2",
                   3, id, pid, role);
    }

    if (n < 0) {
        http_db_error(r);
        return;
    }

    if (n == 0) {
        http_error(r, 404, "member %lld not found in project %s", mid,
                   p.name);
        return;
    }

    log_info("user \"%s\" %s member %lld of project \"%s\"", r->user.name,
             r->method == M_DELETE ? "removed" : "changed the role of", mid,
             p.name);

    audit_req(r, p.id, r->method == M_DELETE ? "delete" : "update",
              "project_member", req_printf(r, "member %lld", mid));

    http_text(r, 200, NULL, "");
}
