/*
 * authd: /api/v2.0/projects.
 *
 * Every handler under /projects/{p} loads the project through the name or
 * id in the path, with the caller's roles in it, and checks the action
 * against the role table before it touches anything else.
 */

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "authd.h"


/* metadata a client may set, and the values each takes */
static const struct {
    const char  *key;
    const char  *values[6];         /* NULL-terminated; none: any */
} project_meta_keys[] = {
    { "public",                       { "true", "false", NULL } },
    { "enable_content_trust",         { "true", "false", NULL } },
    { "enable_content_trust_cosign",  { "true", "false", NULL } },
    { "prevent_vul",                  { "true", "false", NULL } },
    { "severity",    { "none", "low", "medium", "high", "critical", NULL } },
    { "auto_scan",                    { "true", "false", NULL } },
    { "auto_sbom_generation",         { "true", "false", NULL } },
    { "reuse_sys_cve_allowlist",      { "true", "false", NULL } },
};

/* sort keys: the client's name, and the SQL written for it */
static const struct qsort  project_sort[] = {
    { "name",           "p.name" },
    { "project_id",     "p.project_id" },
    { "creation_time",  "p.creation_time" },
    { "update_time",    "p.update_time" },
};


/* ^[a-z0-9]+(?:[._-][a-z0-9]+)*$, 1 to 255 characters */
int
project_name_valid(const char *s)
{
    size_t  len, i;
    int     sep;

    len = strlen(s);
    if (len == 0 || len > 255) {
        return 0;
    }

    sep = 1;        /* a separator may not come first */

    for (i = 0; i < len; i++) {
        if ((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9')) {
            sep = 0;

        } else if (s[i] == '.' || s[i] == '_' || s[i] == '-') {
            if (sep) {
                return 0;
            }
            sep = 1;

        } else {
            return 0;
        }
    }

    return !sep;
}


static int
project_row(PGresult *res, struct project *p)
{
    p->id = db_ll(res, 0, 0);
    snprintf(p->name, sizeof(p->name), "%s", db_s(res, 0, 1));
    p->owner_id = db_ll(res, 0, 2);
    p->is_public = db_b(res, 0, 3);
    p->roles = rbac_roles_parse(db_s(res, 0, 4));
    p->registry_id = db_ll(res, 0, 5);

    return 1;
}


/* 1 found, 0 not found, -1 database error */
int
project_find(struct dbc *db, const char *name, long long user_id,
    struct project *p)
{
    PGresult  *res;
    char       uid[32];
    int        rc;

    memset(p, 0, sizeof(*p));
    snprintf(uid, sizeof(uid), "%lld", user_id);

    res = db_execv(db, "SELECT p.project_id, p.name, p.owner_id, "
                   PROJECT_PUBLIC("p.project_id") ", "
                   PROJECT_ROLES("p.project_id", "$2::integer")
                   ", COALESCE(p.registry_id, 0)"
                   " FROM projects p WHERE p.name = $1 AND NOT p.deleted",
                   2, name, uid);
    if (res == NULL) {
        return -1;
    }

    rc = PQntuples(res) == 1 ? project_row(res, p) : 0;
    PQclear(res);

    return rc;
}


static int
project_is_id(struct req *r, const char *s)
{
    const char  *h;
    size_t       i;

    /* Harbor's way to say "this is a name even if it is all digits" */
    h = http_header_in(r, "X-Is-Resource-Name");
    if (h != NULL && strcmp(h, "true") == 0) {
        return 0;
    }

    for (i = 0; s[i]; i++) {
        if (s[i] < '0' || s[i] > '9') {
            return 0;
        }
    }

    return i > 0 && i < 10;
}


/*
 * The project named (or numbered) in the path, if the caller may see it.
 * 0, or -1 with the answer sent: 404 if there is none; for a private
 * project the caller is not a member of, 403, or 401 when anonymous (an
 * anonymous caller gets 401 for a missing project too: no oracle).
 */
int
project_load(struct req *r, const char *name_or_id, struct project *p)
{
    PGresult  *res;
    char       uid[32];
    int        found;

    memset(p, 0, sizeof(*p));

    if (http_db(r) == NULL) {
        return -1;
    }

    snprintf(uid, sizeof(uid), "%lld", r->user.id);

#define PROJECT_LOAD                                                        \
    "SELECT p.project_id, p.name, p.owner_id, "                             \
    PROJECT_PUBLIC("p.project_id") ", "                                     \
    PROJECT_ROLES("p.project_id", "$2::integer")                            \
    ", COALESCE(p.registry_id, 0)"                                          \
    " FROM projects p WHERE NOT p.deleted AND "

    res = db_execv(r->db, project_is_id(r, name_or_id)
                   ? PROJECT_LOAD "p.project_id = $1::integer"
                   : PROJECT_LOAD "p.name = $1",
                   2, name_or_id, uid);
    if (res == NULL) {
        http_db_error(r);
        return -1;
    }

    found = PQntuples(res) == 1;
    if (found) {
        project_row(res, p);
    }
    PQclear(res);

    if (found && (p->is_public || p->roles != 0 || r->user.sysadmin)) {
        return 0;
    }

    if (r->user.id == 0) {
        http_error(r, 401, "authentication required");

    } else if (!found) {
        http_error(r, 404, "project %.255s not found", name_or_id);

    } else {
        http_error(r, 403, "you are not a member of project %s", p->name);
    }

    return -1;
}


/* 1 if the caller may; otherwise 0 with 401 or 403 sent */
int
project_can(struct req *r, struct project *p, const char *resource,
    const char *action)
{
    if (rbac_allowed(p->roles, r->user.sysadmin, p->is_public, resource,
                     action))
    {
        return 1;
    }

    if (r->user.id == 0) {
        http_error(r, 401, "authentication required");

    } else {
        http_error(r, 403, "your role in project %s does not allow %s %s",
                   p->name, action, resource);
    }

    return 0;
}


static json_t *
project_json(struct req *r, PGresult *res, int row)
{
    json_t    *j, *meta, *ids;
    unsigned   roles;
    int        role, i;

    (void) r;

    /* columns: id, name, owner_id, owner_name, ctime, utime, roles, meta,
       repo_count, registry_id */
    roles = rbac_roles_parse(db_s(res, row, 6));
    role = rbac_best_role(roles);

    ids = json_array();
    for (i = 1; i <= ROLE_MAX; i++) {
        if (roles & RBAC_ROLE(i)) {
            json_array_append_new(ids, json_integer(i));
        }
    }

    meta = NULL;
    if (db_s(res, row, 7) != NULL) {
        meta = json_loads(db_s(res, row, 7), 0, NULL);
    }
    if (meta == NULL) {
        meta = json_object();
    }
    if (json_object_get(meta, "public") == NULL) {
        json_object_set_new(meta, "public", json_string("false"));
    }

    j = json_pack("{s:I, s:I, s:s, s:o, s:o, s:b, s:o, s:i, s:o, s:i,"
                  " s:o, s:i, s:b}",
                  "project_id", (json_int_t) db_ll(res, row, 0),
                  "owner_id", (json_int_t) db_ll(res, row, 2),
                  "name", db_s(res, row, 1),
                  "creation_time", db_json_s(res, row, 4),
                  "update_time", db_json_s(res, row, 5),
                  "deleted", 0,
                  "owner_name", db_json_s(res, row, 3),
                  "current_user_role_id", role,
                  "current_user_role_ids", ids,
                  "repo_count", (int) db_ll(res, row, 8),
                  "metadata", meta,
                  "registry_id", (int) db_ll(res, row, 9),
                  "togglable", role == ROLE_PROJECT_ADMIN);

    return j;
}


#define PROJECT_COLUMNS                                                     \
    "p.project_id, p.name, p.owner_id, u.username, "                        \
    DB_TIME("p.creation_time") ", " DB_TIME("p.update_time") ", "          \
    PROJECT_ROLES("p.project_id", "$1::integer") ", "                       \
    "(SELECT json_object_agg(name, value) FROM project_metadata"           \
    " WHERE project_id = p.project_id), "                                   \
    "(SELECT count(*) FROM repository WHERE project_id = p.project_id), "  \
    "COALESCE(p.registry_id, 0)"


static void
project_get(struct req *r, struct project *p)
{
    PGresult  *res;
    char       uid[32], pid[32];

    snprintf(uid, sizeof(uid), "%lld", r->user.id);
    snprintf(pid, sizeof(pid), "%lld", p->id);

    res = db_execv(r->db, "SELECT " PROJECT_COLUMNS
                   " FROM projects p JOIN users u ON u.user_id = p.owner_id"
                   " WHERE p.project_id = $2::integer", 2, uid, pid);
    if (res == NULL) {
        http_db_error(r);
        return;
    }

    if (PQntuples(res) != 1) {
        PQclear(res);
        http_error(r, 404, "project not found");
        return;
    }

    http_json(r, 200, project_json(r, res, 0));
    PQclear(res);
}


/*
 * q= keys (query.c's grammar, Harbor's keys): name={'a' 'b'} is how
 * Harbor's replication adapter asks which projects exist already.
 */
static const struct qfield  project_fields[] = {
    { "name",        "p.name",        Q_TEXT, Q_EQ | Q_FUZZY | Q_ANY, NULL },
    { "public",      "(" PROJECT_PUBLIC("p.project_id") ")",
                                      Q_BOOL, Q_EQ, NULL },
    { "owner",       "u.username",    Q_TEXT, Q_EQ | Q_ANY, NULL },
    { "project_id",  "p.project_id",  Q_INT,  Q_EQ | Q_ANY | Q_RANGE, NULL },
    { "creation_time", "p.creation_time", Q_TIME, Q_EQ | Q_RANGE, NULL },
    { "update_time", "p.update_time", Q_TIME, Q_EQ | Q_RANGE, NULL },
};


static void
projects_list(struct req *r)
{
    struct qitem   items[Q_ITEMS_MAX];
    struct qsql    s;
    PGresult      *res;
    const char    *order, *sql;
    char          *uid;
    json_t        *list;
    long           page, page_size;
    int            n, i, a, b;

    if (http_page(r, &page, &page_size) != 0
        || q_parse(r, http_arg(r, "q"), items, &n) != 0)
    {
        return;
    }

    /* Harbor's own parameters win over q: name is fuzzy, the others exact */
    if (q_set(r, items, &n, "name", Q_FUZZY, http_arg(r, "name")) != 0
        || q_set(r, items, &n, "public", Q_EQ, http_arg(r, "public")) != 0
        || q_set(r, items, &n, "owner", Q_EQ, http_arg(r, "owner")) != 0)
    {
        return;
    }

    q_init(&s, r);

    /* $1 the caller (PROJECT_COLUMNS reads it), $2 whether an admin */
    uid = req_printf(r, "%lld", r->user.id);
    a = uid != NULL ? q_param(&s, uid) : -1;
    b = q_param(&s, r->user.sysadmin ? "t" : "f");
    if (a < 0 || b < 0) {
        return;
    }

    sql = req_printf(r, PROJECT_VISIBLE("p.project_id", "$%d", "$%d"),
                     b, a, a);
    if (sql == NULL || q_add(&s, "%s", sql) != 0) {
        return;
    }

    if (q_where(&s, items, n, project_fields, nitems(project_fields)) != 0) {
        return;
    }

    order = q_order(r, http_arg(r, "sort"), project_sort,
                    nitems(project_sort), "p.name");
    if (order == NULL) {
        return;
    }

    order = req_printf(r, "%s, p.project_id", order);
    if (order == NULL) {
        http_error(r, 500, "out of memory");
        return;
    }

#define PROJECTS_FROM                                                       \
    " FROM projects p JOIN users u ON u.user_id = p.owner_id"               \
    " WHERE NOT p.deleted"

    s.key = "p.project_id";
    if (q_list(r, &s, "SELECT count(*)" PROJECTS_FROM,
               "SELECT " PROJECT_COLUMNS PROJECTS_FROM, order, page,
               page_size, &res) != 0)
    {
        return;
    }

    list = json_array();
    for (i = 0; i < PQntuples(res); i++) {
        json_array_append_new(list, project_json(r, res, i));
    }
    PQclear(res);

    http_json(r, 200, list);
}


/*
 * Projects the caller may see whose name matches like (a LIKE pattern),
 * for /search; NULL with the answer sent on error.
 */
json_t *
project_search(struct req *r, const char *like, int max)
{
    PGresult  *res;
    json_t    *list;
    char       uid[32], lim[16];
    int        i;

    snprintf(uid, sizeof(uid), "%lld", r->user.id);
    snprintf(lim, sizeof(lim), "%d", max);

    res = db_execv(r->db, "SELECT " PROJECT_COLUMNS
                   " FROM projects p JOIN users u ON u.user_id = p.owner_id"
                   " WHERE NOT p.deleted AND p.name LIKE $3 AND "
                   PROJECT_VISIBLE("p.project_id", "$2", "$1")
                   " ORDER BY p.name LIMIT $4::integer", 4, uid,
                   r->user.sysadmin ? "t" : "f", like, lim);
    if (res == NULL) {
        http_db_error(r);
        return NULL;
    }

    list = json_array();
    for (i = 0; i < PQntuples(res); i++) {
        json_array_append_new(list, project_json(r, res, i));
    }
    PQclear(res);

    return list;
}


/* metadata{} of a request body, checked against the allow-list */
static int
project_meta(struct req *r, json_t *body, const char **keys,
    const char **values, int *n)
{
    json_t       *meta, *v;
    const char   *k;
    size_t        i;
    int           j, ok;

    *n = 0;

    meta = json_object_get(body, "metadata");
    if (meta == NULL || json_is_null(meta)) {
        return 0;
    }

    if (!json_is_object(meta)) {
        http_error(r, 400, "\"metadata\" must be an object");
        return -1;
    }

    json_object_foreach(meta, k, v) {
        for (i = 0; i < nitems(project_meta_keys); i++) {
            if (strcmp(k, project_meta_keys[i].key) == 0) {
                break;
            }
        }

        if (i == nitems(project_meta_keys)) {
            http_error(r, 400, "metadata \"%.64s\" is not supported", k);
            return -1;
        }

        /* Harbor's metadata values are strings; accept JSON booleans */
        if (json_is_boolean(v)) {
            values[*n] = json_is_true(v) ? "true" : "false";

        } else if (json_is_string(v)) {
            values[*n] = json_string_value(v);

        } else {
            http_error(r, 400, "metadata \"%s\" must be a string", k);
            return -1;
        }

        ok = 0;
        for (j = 0; project_meta_keys[i].values[j] != NULL; j++) {
            if (strcmp(values[*n], project_meta_keys[i].values[j]) == 0) {
                ok = 1;
            }
        }

        if (!ok) {
            http_error(r, 400, "metadata \"%s\" has an invalid value", k);
            return -1;
        }

        keys[*n] = project_meta_keys[i].key;
        (*n)++;
    }

    return 0;
}


static int
project_meta_save(struct req *r, const char *pid, const char **keys,
    const char **values, int n)
{
    int  i;

    for (i = 0; i < n; i++) {
        if (db_cmd(r->db, "INSERT INTO project_metadata (project_id, name,"
                   " value) VALUES ($1, $2, $3) ON CONFLICT (project_id,"
                   " name) DO UPDATE SET value = EXCLUDED.value,"
                   " update_time = now()", 3, pid, keys[i], values[i]) < 0)
        {
            return -1;
        }
    }

    return 0;
}


static void
projects_create(struct req *r)
{
    json_t      *body;
    const char  *name, *mkeys[nitems(project_meta_keys) + 1];
    const char  *mvalues[nitems(project_meta_keys) + 1];
    char         uid[32], pid[32], rid[32], *loc;
    long long    registry_id, storage_limit;
    int          pub, nmeta, i, has_public;
    PGresult    *res;

    if (http_need_user(r) != 0) {
        return;
    }

    if (conf->creation_restriction == CREATE_ADMINONLY
        && !r->user.sysadmin)
    {
        http_error(r, 403, "only system administrators may create projects");
        return;
    }

    body = http_body_json(r);
    if (body == NULL) {
        return;
    }

    pub = 0;
    registry_id = 0;
    storage_limit = -1;

    /* the fields of ProjectReq, and nothing else, are read */
    if (body_str(r, body, "project_name", &name, 255) < 0
        || body_bool(r, body, "public", &pub) < 0
        || body_int(r, body, "registry_id", &registry_id) < 0
        || body_int(r, body, "storage_limit", &storage_limit) < 0
        || project_meta(r, body, mkeys, mvalues, &nmeta) < 0)
    {
        goto done;
    }

    if (name == NULL) {
        http_error(r, 400, "\"project_name\" is required");
        goto done;
    }

    if (!project_name_valid(name)) {
        http_error(r, 400, "invalid project name \"%.255s\": use lowercase "
                   "letters, digits and . _ - between them, at most 255 "
                   "characters", name);
        goto done;
    }

    /* a proxy cache of a registry endpoint: those are the admins' */
    if (registry_id != 0 && !r->user.sysadmin) {
        http_error(r, 403, "only system administrators may create proxy "
                   "cache projects");
        goto done;
    }

    if (registry_id < 0 || registry_id > INT32_MAX) {
        http_error(r, 400, "registry %lld not found", registry_id);
        goto done;
    }

    /* as Harbor: a limit is the system administrators' to set */
    if (!quota_limit_valid(r, "storage_limit", storage_limit)) {
        goto done;
    }
    if (storage_limit != -1 && !r->user.sysadmin) {
        http_error(r, 403, "only system administrators may set a storage"
                   " limit");
        goto done;
    }

    /* metadata.public wins over the older top-level "public" */
    has_public = 0;
    for (i = 0; i < nmeta; i++) {
        if (strcmp(mkeys[i], "public") == 0) {
            has_public = 1;
        }
    }

    if (!has_public) {
        mkeys[nmeta] = "public";
        mvalues[nmeta] = pub ? "true" : "false";
        nmeta++;
    }

    if (http_db(r) == NULL) {
        goto done;
    }

    snprintf(uid, sizeof(uid), "%lld", r->user.id);

    if (db_begin(r->db) != 0) {
        http_db_error(r);
        goto done;
    }

    snprintf(rid, sizeof(rid), "%lld", registry_id);

    res = db_execv(r->db, "INSERT INTO projects (name, owner_id, registry_id)"
                   " SELECT $1, $2, NULLIF($3::integer, 0) WHERE $3::integer"
                   " = 0 OR EXISTS (SELECT 1 FROM replication_registry"
                   " WHERE id = $3::integer) RETURNING project_id", 3, name,
                   uid, rid);
    if (res != NULL && PQntuples(res) == 0) {
        PQclear(res);
        db_rollback(r->db);
        http_error(r, 400, "registry %lld not found", registry_id);
        goto done;
    }
    if (res == NULL) {
        if (r->db->err == DB_ERR_CONFLICT) {
            db_rollback(r->db);
            http_error(r, 409, "project %s already exists", name);
            goto done;
        }
        goto fail;
    }

    snprintf(pid, sizeof(pid), "%lld", db_ll(res, 0, 0));
    PQclear(res);

    /* the creator administers the project (as in Harbor) */
    if (project_meta_save(r, pid, mkeys, mvalues, nmeta) != 0
        || db_cmd(r->db, "INSERT INTO project_member (project_id, entity_id,"
                  " entity_type, role) VALUES ($1, $2, 'u', 1)", 2, pid, uid)
           != 1
        || audit_add(r->db, strtoll(pid, NULL, 10), r->user.name, "create",
                     "project", name, NULL, 1, http_client_ip(r)) != 0
        || db_cmd(r->db, "INSERT INTO quota (project_id, hard) VALUES"
                  " ($1::integer, $2::bigint)", 2, pid,
                  req_printf(r, "%lld", storage_limit)) != 1
        || db_commit(r->db) != 0)
    {
        goto fail;
    }

    if (storage_limit != -1
        && quota_sync(r->db, strtoll(pid, NULL, 10), name) != 0)
    {
        http_error(r, 500, "project %s was created but its storage limit"
                   " could not be written to the storage; the registry"
                   " applies it once it is (authd retries at start)", name);
        goto done;
    }

    log_info("user \"%s\" created project \"%s\"", r->user.name, name);

    /* the module's word that it is a proxy cache (proxy_cache.c) */
    if (registry_id != 0 && proxy_sync(name) != 0) {
        log_warnx("proxy cache project \"%s\": its file is not written: "
                  "pulls are not fetched until authd starts again", name);
    }

    loc = req_printf(r, "/api/v2.0/projects/%s", pid);
    if (loc != NULL) {
        http_header(r, "Location", loc);
    }
    http_text(r, 201, NULL, "");

    goto done;

fail:

    db_rollback(r->db);
    http_db_error(r);

done:

    json_decref(body);
}


void
api_projects(struct req *r)
{
    if (r->method == M_POST) {
        projects_create(r);
    } else {
        projects_list(r);
    }
}


/* HEAD /projects?project_name=x: 200 if the name is taken, else 404 */
void
api_projects_head(struct req *r)
{
    const char  *name;
    PGresult    *res;
    int          found;

    if (http_need_user(r) != 0) {
        return;
    }

    name = http_arg(r, "project_name");
    if (name == NULL || name[0] == '\0') {
        http_error(r, 400, "project_name is required");
        return;
    }

    if (http_db(r) == NULL) {
        return;
    }

    res = db_execv(r->db, "SELECT 1 FROM projects WHERE name = $1"
                   " AND NOT deleted", 1, name);
    if (res == NULL) {
        http_db_error(r);
        return;
    }

    found = PQntuples(res) > 0;
    PQclear(res);

    if (found) {
        http_text(r, 200, NULL, "");
    } else {
        http_error(r, 404, "project %.255s not found", name);
    }
}


static void
project_update(struct req *r, struct project *p)
{
    json_t      *body;
    const char  *mkeys[nitems(project_meta_keys) + 1];
    const char  *mvalues[nitems(project_meta_keys) + 1];
    char         pid[32];
    int          pub, nmeta, i, has_public, limited;
    long long    storage_limit;

    if (!project_can(r, p, "project", "update")) {
        return;
    }

    body = http_body_json(r);
    if (body == NULL) {
        return;
    }

    pub = -1;
    if (body_bool(r, body, "public", &pub) < 0
        || (limited = body_int(r, body, "storage_limit", &storage_limit)) < 0
        || project_meta(r, body, mkeys, mvalues, &nmeta) < 0)
    {
        goto done;
    }

    /* as Harbor: a limit is the system administrators' to change */
    if (limited == 0) {
        if (!quota_limit_valid(r, "storage_limit", storage_limit)) {
            goto done;
        }
        if (!r->user.sysadmin) {
            http_error(r, 403, "only system administrators may set a"
                       " storage limit");
            goto done;
        }
    }

    has_public = 0;
    for (i = 0; i < nmeta; i++) {
        if (strcmp(mkeys[i], "public") == 0) {
            has_public = 1;
        }
    }

    if (!has_public && pub != -1) {
        mkeys[nmeta] = "public";
        mvalues[nmeta] = pub ? "true" : "false";
        nmeta++;
    }

    snprintf(pid, sizeof(pid), "%lld", p->id);

    if (db_begin(r->db) != 0
        || project_meta_save(r, pid, mkeys, mvalues, nmeta) != 0
        || db_cmd(r->db, "UPDATE projects SET update_time = now()"
                  " WHERE project_id = $1", 1, pid) < 0
        || audit_add(r->db, p->id, r->user.name, "update", "project",
                     p->name, NULL, 1, http_client_ip(r)) != 0
        || db_commit(r->db) != 0)
    {
        db_rollback(r->db);
        http_db_error(r);
        goto done;
    }

    if (limited == 0 && quota_set(r, p->id, p->name, storage_limit) != 0) {
        goto done;
    }

    log_info("user \"%s\" updated project \"%s\"", r->user.name, p->name);
    http_text(r, 200, NULL, "");

done:

    json_decref(body);
}


static void
project_delete(struct req *r, struct project *p)
{
    PGresult   *res;
    long long   n;
    char        pid[32];

    if (!project_can(r, p, "project", "delete")) {
        return;
    }

    snprintf(pid, sizeof(pid), "%lld", p->id);

    /* as Harbor: only an empty project goes */
    res = db_execv(r->db, "SELECT count(*) FROM repository"
                   " WHERE project_id = $1", 1, pid);
    if (res == NULL) {
        http_db_error(r);
        return;
    }

    n = db_ll(res, 0, 0);
    PQclear(res);

    if (n > 0) {
        http_error(r, 412, "project %s still has %lld repositories: delete "
                   "them first", p->name, n);
        return;
    }

    /* as Harbor: keep the row, free the name */
    if (db_begin(r->db) != 0
        || db_cmd(r->db, "UPDATE projects SET deleted = true,"
                  " name = name || '#' || project_id, registry_id = NULL,"
                  " update_time = now()"
                  " WHERE project_id = $1", 1, pid) != 1
        || db_cmd(r->db, "DELETE FROM project_member WHERE project_id = $1",
                  1, pid) < 0
        || audit_add(r->db, p->id, r->user.name, "delete", "project",
                     p->name, NULL, 1, http_client_ip(r)) != 0
        || db_commit(r->db) != 0)
    {
        db_rollback(r->db);
        http_db_error(r);
        return;
    }

    immutable_forget(p->name);
    quota_forget(p->name);
    proxy_forget(p->name);

    log_info("user \"%s\" deleted project \"%s\"", r->user.name, p->name);
    http_text(r, 200, NULL, "");
}


void
api_project(struct req *r)
{
    struct project  p;

    if (project_load(r, r->seg[3], &p) != 0) {
        return;
    }

    switch (r->method) {
    case M_PUT:
        project_update(r, &p);
        break;
    case M_DELETE:
        project_delete(r, &p);
        break;
    default:
        project_get(r, &p);
        break;
    }
}


void
api_project_summary(struct req *r)
{
    struct project  p;
    PGresult       *res;
    json_t         *j;
    char            pid[32];
    int             i;
    static const char *const  fields[ROLE_MAX + 1] = {
        NULL, "project_admin_count", "developer_count", "guest_count",
        "maintainer_count", "limited_guest_count"
    };

    if (project_load(r, r->seg[3], &p) != 0) {
        return;
    }

    snprintf(pid, sizeof(pid), "%lld", p.id);

    res = db_execv(r->db, req_printf(r, "SELECT (SELECT count(*) FROM"
                   " repository WHERE project_id = $1), %s,"
                   " COALESCE((SELECT hard FROM quota WHERE project_id = $1),"
                   " -1)", quota_used_sql(r, "$1")), 1, pid);
    if (res == NULL) {
        http_db_error(r);
        return;
    }

    j = json_pack("{s:I, s:{s:{s:I}, s:{s:I}}}",
                  "repo_count", (json_int_t) db_ll(res, 0, 0),
                  "quota",
                  "hard", "storage", (json_int_t) db_ll(res, 0, 2),
                  "used", "storage", (json_int_t) db_ll(res, 0, 1));
    PQclear(res);

    /* member counts for those who may see the members */
    if (rbac_allowed(p.roles, r->user.sysadmin, p.is_public, "member",
                     "read"))
    {
        for (i = 1; i <= ROLE_MAX; i++) {
            json_object_set_new(j, fields[i], json_integer(0));
        }

        res = db_execv(r->db, "SELECT role, count(*) FROM project_member"
                       " WHERE project_id = $1 GROUP BY role", 1, pid);
        if (res == NULL) {
            json_decref(j);
            http_db_error(r);
            return;
        }

        for (i = 0; i < PQntuples(res); i++) {
            if (rbac_role_valid((int) db_ll(res, i, 0))) {
                json_object_set_new(j, fields[db_ll(res, i, 0)],
                                    json_integer(db_ll(res, i, 1)));
            }
        }
        PQclear(res);
    }

    http_json(r, 200, j);
}
