/*
 * authd: /api/v2.0/usergroups, Harbor's user groups (group_type 1: LDAP).
 *
 *   GET    /usergroups?group_name=&ldap_group_dn=    system admins
 *   POST   /usergroups {group_name, group_type, ldap_group_dn}
 *   GET    /usergroups/{id}
 *   PUT    /usergroups/{id} {group_name}             the name only
 *   DELETE /usergroups/{id}                          and its memberships
 *   GET    /usergroups/search?groupname=             any user (to add a
 *                                                    group as a member)
 *
 * An LDAP group's DN is checked against the directory at creation (the
 * group's name comes from it if none is given) and stored normalized
 * (dir_dn_norm), the form the memberOf values of a login take.  Who is
 * in a group is the directory's answer at each login (auth.c).
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "authd.h"


#define GROUP_COLUMNS    "id, group_name, group_type, ldap_group_dn"

static const struct qsort  group_sort[] = {
    { "id",             "id" },
    { "group_name",     "group_name" },
    { "group_type",     "group_type" },
    { "ldap_group_dn",  "ldap_group_dn" },
};


static json_t *
group_json(PGresult *res, int row)
{
    return json_pack("{s:I, s:o, s:I, s:o}",
                     "id", (json_int_t) db_ll(res, row, 0),
                     "group_name", db_json_s(res, row, 1),
                     "group_type", (json_int_t) db_ll(res, row, 2),
                     "ldap_group_dn", db_json_s(res, row, 3));
}


static void
groups_list(struct req *r)
{
    struct qsql   s;
    const char   *name, *dn, *order;
    char          norm[1024], *like;
    long          page, page_size;
    PGresult     *res;
    json_t       *list;
    int           i, a;

    if (http_page(r, &page, &page_size) != 0) {
        return;
    }

    order = q_order(r, http_arg(r, "sort"), group_sort, nitems(group_sort),
                    "id");
    if (order == NULL) {
        return;
    }

    q_init(&s, r);

    name = http_arg(r, "group_name");
    if (name != NULL && name[0] != '\0') {
        like = q_like(r, name);
        if (like == NULL || (a = q_param(&s, like)) < 0
            || q_add(&s, "group_name LIKE $%d", a) < 0)
        {
            return;
        }
    }

    dn = http_arg(r, "ldap_group_dn");
    if (dn != NULL && dn[0] != '\0') {
        if (dir_dn_norm(dn, norm, sizeof(norm)) != 0) {
            http_json(r, 200, json_array());
            return;
        }
        if ((a = q_param(&s, req_strdup(r, norm))) < 0
            || q_add(&s, "ldap_group_dn = $%d", a) < 0)
        {
            return;
        }
    }

    if (q_list(r, &s, "SELECT count(*) FROM user_group WHERE true",
               "SELECT " GROUP_COLUMNS " FROM user_group WHERE true",
               req_printf(r, "%s, id", order), page, page_size, &res) != 0)
    {
        return;
    }

    list = json_array();
    for (i = 0; i < PQntuples(res); i++) {
        json_array_append_new(list, group_json(res, i));
    }
    PQclear(res);

    http_json(r, 200, list);
}


/* the directory's group at dn: its name into name; 0, or -1 answered */
static int
group_in_directory(struct req *r, const char *dn, char *name, size_t len)
{
    struct dir_conf   lc;
    json_t           *found;
    const char       *n;
    char              err[256];
    int               rc;

    if (dir_conf_get(&lc) != 0) {
        http_error(r, 500, "out of memory");
        return -1;
    }

    rc = dir_find_groups(&lc, "", dn, 1, &found, err, sizeof(err));
    dir_conf_free(&lc);

    if (rc != 0) {
        http_error(r, 503, "the LDAP server did not answer: %s", err);
        return -1;
    }

    if (json_array_size(found) != 1) {
        json_decref(found);
        http_error(r, 400, "LDAP group DN is not found: %.255s", dn);
        return -1;
    }

    n = json_string_value(json_object_get(json_array_get(found, 0),
                                          "group_name"));
    snprintf(name, len, "%s", n != NULL ? n : "");
    json_decref(found);

    return 0;
}


/*
 * The LDAP group at norm (a normalized DN) made known, named name or, if
 * that is NULL or empty, by the directory: its id, or -1 answered.
 */
long long
usergroup_add(struct req *r, const char *norm, const char *name)
{
    char        dname[256];
    long long   id;
    PGresult   *res;

    if (group_in_directory(r, norm, dname, sizeof(dname)) != 0) {
        return -1;
    }

    if (name == NULL || name[0] == '\0') {
        name = dname;
    }

    if (name[0] == '\0') {
        http_error(r, 400, "\"group_name\" is required");
        return -1;
    }

    res = db_execv(r->db, "INSERT INTO user_group (group_name, group_type,"
                   " ldap_group_dn) VALUES ($1, 1, $2) RETURNING id",
                   2, name, norm);
    if (res == NULL) {
        if (r->db->err == DB_ERR_CONFLICT) {
            http_error(r, 409, "a group of that name or DN exists");
        } else {
            http_db_error(r);
        }
        return -1;
    }

    id = db_ll(res, 0, 0);
    PQclear(res);

    log_info("user \"%s\" added LDAP group \"%s\"", r->user.name, name);
    audit_req(r, 0, "create", "user_group", req_printf(r, "%s", name));

    return id;
}


static void
groups_create(struct req *r)
{
    json_t      *body;
    const char  *name, *dn;
    char         norm[1024], *loc;
    long long    type, id;

    body = http_body_json(r);
    if (body == NULL) {
        return;
    }

    type = 1;
    if (body_str(r, body, "group_name", &name, 255) < 0
        || body_str(r, body, "ldap_group_dn", &dn, 1000) < 0
        || body_int(r, body, "group_type", &type) < 0)
    {
        goto done;
    }

    if (type != 1) {
        http_error(r, 400, "\"group_type\" must be 1 (LDAP): the only kind "
                   "of group this registry has");
        goto done;
    }

    if (dn == NULL || dir_dn_norm(dn, norm, sizeof(norm)) != 0) {
        http_error(r, 400, "\"ldap_group_dn\" must be a DN");
        goto done;
    }

    id = usergroup_add(r, norm, name);
    if (id < 0) {
        goto done;
    }

    loc = req_printf(r, "/api/v2.0/usergroups/%lld", id);
    if (loc != NULL) {
        http_header(r, "Location", loc);
    }
    http_text(r, 201, NULL, "");

done:

    json_decref(body);
}


void
api_usergroups(struct req *r)
{
    if (http_need_sysadmin(r) != 0 || http_db(r) == NULL) {
        return;
    }

    if (r->method == M_POST) {
        groups_create(r);
    } else {
        groups_list(r);
    }
}


void
api_usergroup(struct req *r)
{
    json_t      *body;
    const char  *name;
    char         id[32];
    long long    gid;
    PGresult    *res;
    long         n;

    if (http_need_sysadmin(r) != 0 || http_db(r) == NULL) {
        return;
    }

    gid = http_id(r->seg[3]);
    if (gid < 0) {
        http_error(r, 404, "user group not found");
        return;
    }
    snprintf(id, sizeof(id), "%lld", gid);

    if (r->method == M_GET || r->method == M_HEAD) {
        res = db_execv(r->db, "SELECT " GROUP_COLUMNS " FROM user_group"
                       " WHERE id = $1", 1, id);
        if (res == NULL) {
            http_db_error(r);
            return;
        }
        if (PQntuples(res) != 1) {
            PQclear(res);
            http_error(r, 404, "user group %lld not found", gid);
            return;
        }
        http_json(r, 200, group_json(res, 0));
        PQclear(res);
        return;
    }

    if (r->method == M_DELETE) {
        /* its memberships go with it: project_member has no foreign key */
        n = db_cmd(r->db, "WITH m AS (DELETE FROM project_member"
                   " WHERE entity_type = 'g' AND entity_id = $1)"
                   " DELETE FROM user_group WHERE id = $1", 1, id);

    } else {
        body = http_body_json(r);
        if (body == NULL) {
            return;
        }

        if (body_str(r, body, "group_name", &name, 255) < 0) {
            json_decref(body);
            return;
        }

        if (name == NULL || name[0] == '\0') {
            json_decref(body);
            http_error(r, 400, "\"group_name\" is required");
            return;
        }

        n = db_cmd(r->db, "UPDATE user_group SET group_name = $2,"
                   " update_time = now() WHERE id = $1", 2, id, name);
        json_decref(body);
    }

    if (n < 0) {
        if (r->db->err == DB_ERR_CONFLICT) {
            http_error(r, 409, "a group of that name exists");
        } else {
            http_db_error(r);
        }
        return;
    }

    if (n == 0) {
        http_error(r, 404, "user group %lld not found", gid);
        return;
    }

    log_info("user \"%s\" %s user group %lld", r->user.name,
             r->method == M_DELETE ? "deleted" : "renamed", gid);
    audit_req(r, 0, r->method == M_DELETE ? "delete" : "update",
              "user_group", req_printf(r, "group %lld", gid));

    http_text(r, 200, NULL, "");
}


/* GET /usergroups/search?groupname=: Harbor's [{id, group_name, type}] */
void
api_usergroups_search(struct req *r)
{
    struct qsql   s;
    const char   *name;
    char         *like;
    long          page, page_size;
    PGresult     *res;
    json_t       *list;
    int           i, a;

    if (http_need_user(r) != 0 || http_page(r, &page, &page_size) != 0) {
        return;
    }

    name = http_arg(r, "groupname");
    if (name == NULL || name[0] == '\0') {
        http_error(r, 400, "\"groupname\" is required");
        return;
    }

    q_init(&s, r);

    like = q_like(r, name);
    if (like == NULL || (a = q_param(&s, like)) < 0
        || q_add(&s, "group_name LIKE $%d", a) < 0
        || q_list(r, &s, "SELECT count(*) FROM user_group WHERE true",
                  "SELECT id, group_name, group_type FROM user_group"
                  " WHERE true", "group_name, id", page, page_size, &res)
           != 0)
    {
        return;
    }

    list = json_array();
    for (i = 0; i < PQntuples(res); i++) {
        json_array_append_new(list, json_pack("{s:I, s:o, s:I}",
                              "id", (json_int_t) db_ll(res, i, 0),
                              "group_name", db_json_s(res, i, 1),
                              "group_type", (json_int_t) db_ll(res, i, 2)));
    }
    PQclear(res);

    http_json(r, 200, list);
}
