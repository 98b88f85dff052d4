/*
 * authd: robot accounts, /api/v2.0/robots (Harbor's v2 robots).
 *
 * A robot is a login for a CI job: a name (robot$<name> at system level,
 * robot$<project>+<name> at project level, the prefix being the setting
 * robot_name_prefix), a secret generated here, shown once and stored as
 * an argon2id string, and a list of permissions {kind, namespace,
 * access[{resource, action}]} that is all it may ever do.
 *
 * CVE-2019-16919 was a robot escalating: what a robot is granted is
 * checked, at creation and at every update, against what the caller may
 * do in each project named (the role table of rbac.c), and stored as it
 * was granted; the token service grants a robot the intersection of what
 * it asks with what is stored, nothing else (robot_token_decide).  Only
 * system administrators create system robots; project-level robots need
 * robot:create in their project (project administrators), and have
 * exactly one permission, on that project.
 *
 * Robots use the registry only: their credentials are accepted by the
 * token service, and refused (401) by the API and the UI's login
 * (http.c).
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sodium.h>

#include "authd.h"


#define ROBOT_SECRET_LEN     32
#define ROBOT_PERMS_MAX      64          /* permissions of one robot */
#define ROBOT_ACCESS_MAX     32          /* access entries of one */
#define ROBOT_DURATION_MAX   36500       /* days */
#define ROBOT_DESC_MAX       1024

/* what a robot may be granted: the API's resources, and the registry's */
static const struct {
    const char  *resource;
    const char  *action;
} robot_access[] = {
    { "repository", "pull" },
    { "repository", "push" },
    { "repository", "delete" },
    { "repository", "list" },
    { "repository", "read" },
    { "repository", "update" },
    { "artifact",   "list" },
    { "artifact",   "read" },
    { "artifact",   "delete" },
    { "tag",        "list" },
    { "tag",        "create" },
    { "tag",        "delete" },
};

struct robot_perm {
    long long    project_id;            /* 0: every project ("*") */
    const char  *namespace;
    const char  *resource;
    const char  *action;
};

struct robot_row {
    long long    id;
    char         name[256];
    char         level[16];
    long long    project_id;            /* 0: system level */
    char         project[256];
    long long    created;               /* unix seconds */
    int          editable;              /* the caller may update it */
};

static const struct qfield  robot_fields[] = {
    { "name",       "r.name",       Q_TEXT, Q_EQ | Q_FUZZY, NULL },
    { "level",      "r.level",      Q_TEXT, Q_EQ, NULL },
    { "project_id", "r.project_id", Q_INT,  Q_EQ, NULL },
    /* the spelling of Harbor's handler (q=Level=project,ProjectID=1) */
    { "Level",      "r.level",      Q_TEXT, Q_EQ, NULL },
    { "ProjectID",  "r.project_id", Q_INT,  Q_EQ, NULL },
};

static const struct qsort  robot_sort[] = {
    { "id",             "r.id" },
    { "name",           "r.name" },
    { "creation_time",  "r.creation_time" },
    { "update_time",    "r.update_time" },
    { "expires_at",     "r.expires_at" },
};

#define ROBOT_COLUMNS                                                       \
    "r.id, r.name, r.description, r.level, r.duration, r.disabled,"         \
    " r.expires_at, " DB_TIME("r.creation_time") ", "                       \
    DB_TIME("r.update_time") ", COALESCE(r.project_id, 0),"                 \
    " COALESCE(p.name, ''), extract(epoch FROM r.creation_time)::bigint"

#define ROBOT_FROM                                                          \
    " FROM robot r LEFT JOIN projects p ON p.project_id = r.project_id"


/* 1 if a login name carries the robot prefix (a non-empty one) */
int
robot_name_is(const char *name, size_t nlen)
{
    size_t  plen;
    int     is;

    settings_rdlock();

    plen = conf->robot_name_prefix != NULL
           ? strlen(conf->robot_name_prefix) : 0;
    is = plen > 0 && nlen > plen
         && memcmp(name, conf->robot_name_prefix, plen) == 0;

    settings_unlock();

    return is;
}


/*
 * A secret of ROBOT_SECRET_LEN letters and digits, with at least one
 * upper case letter, one lower case letter and one digit (the password
 * rule, so that a refreshed secret may be set back by hand).
 */
static void
robot_secret(char *out)
{
    static const char  abc[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
                               "abcdefghijklmnopqrstuvwxyz0123456789";
    char               err[8];
    int                i;

    do {
        for (i = 0; i < ROBOT_SECRET_LEN; i++) {
            out[i] = abc[randombytes_uniform(sizeof(abc) - 1)];
        }
        out[ROBOT_SECRET_LEN] = '\0';
    } while (!auth_password_ok(out, err, sizeof(err)));
}


/*
 * The secret of a creation or refresh: the one given (it must meet the
 * password rule; secret is then "") or a new one in secret; its argon2id
 * string in hash.  0, or -1 with a 400 or 500 sent.
 */
static int
robot_secret_hash(struct req *r, const char *given, char *secret,
    char *hash, size_t hlen)
{
    char  err[256];
    int   rc;

    if (given != NULL && given[0] != '\0') {
        if (!auth_password_ok(given, err, sizeof(err))) {
            http_error(r, 400, "\"secret\": %s", err);
            return -1;
        }
        secret[0] = '\0';
        rc = auth_hash(given, strlen(given), hash, hlen);

    } else {
        robot_secret(secret);
        rc = auth_hash(secret, ROBOT_SECRET_LEN, hash, hlen);
    }

    if (rc != 0) {
        http_error(r, 500, "hashing the secret failed");
        return -1;
    }

    return 0;
}


/* expires_at of a robot created at created with duration days */
static long long
robot_expires(long long created, long long duration)
{
    return duration < 0 ? -1 : created + duration * 86400;
}


/*
 * "duration": absent or 0 the setting robot_token_duration, -1 never,
 * else 1 to ROBOT_DURATION_MAX days.  0, or -1 with a 400 sent.
 */
static int
robot_duration(struct req *r, json_t *body, long long *out, int dflt)
{
    long long  d;
    int        rc;

    d = 0;
    rc = body_int(r, body, "duration", &d);
    if (rc < 0) {
        return -1;
    }

    if (rc == 1 && !dflt) {
        *out = 0;
        return 1;
    }

    if (d == 0) {
        settings_rdlock();
        d = conf->robot_token_duration;
        settings_unlock();
    }

    if (d != -1 && (d < 1 || d > ROBOT_DURATION_MAX)) {
        http_error(r, 400, "\"duration\" must be -1 (never expires) or 1 to "
                   "%d days", ROBOT_DURATION_MAX);
        return -1;
    }

    *out = d;

    return 0;
}


static int
robot_access_known(const char *resource, const char *action)
{
    size_t  i;

    for (i = 0; i < nitems(robot_access); i++) {
        if (strcmp(robot_access[i].resource, resource) == 0
            && strcmp(robot_access[i].action, action) == 0)
        {
            return 1;
        }
    }

    return 0;
}


/* list is an array of 1 to max objects; else -1 with a 400 sent */
static int
robot_objects(struct req *r, json_t *list, size_t max, const char *what,
    const char *shape)
{
    json_t  *o;
    size_t   i;

    if (!json_is_array(list) || json_array_size(list) == 0
        || json_array_size(list) > max)
    {
        http_error(r, 400, "%s must be a list of 1 to %zu %s", what, max,
                   shape);
        return -1;
    }

    json_array_foreach(list, i, o) {
        if (!json_is_object(o)) {
            http_error(r, 400, "%s must be a list of %s objects", what,
                       shape);
            return -1;
        }
    }

    return 0;
}


/*
 * The permissions of a body, checked against what the caller may do:
 * each namespace must be a project in which the caller holds "robot"
 * right (create or update) and every access it grants, or "*" (system
 * level, system administrators).  A project-level robot has one
 * permission, on *project (filled in here for a creation).  0 with
 * perms, or -1 with the answer sent.
 */
static int
robot_perms(struct req *r, json_t *list, int system, const char *right,
    struct project *project, struct robot_perm *perms, int *nperms)
{
    struct project   p;
    json_t          *pm, *acc, *a;
    const char      *kind, *ns, *res, *act, *eff;
    size_t           i, j;
    int              n, rc;

    *nperms = 0;
    n = 0;

    if (robot_objects(r, list, ROBOT_PERMS_MAX, "\"permissions\"",
                      "{kind, namespace, access}") != 0)
    {
        return -1;
    }

    if (!system && json_array_size(list) != 1) {
        http_error(r, 400, "a project-level robot has exactly one "
                   "permission, on its project");
        return -1;
    }

    json_array_foreach(list, i, pm) {
        if (body_str(r, pm, "kind", &kind, 32) < 0
            || body_str(r, pm, "namespace", &ns, 255) < 0)
        {
            return -1;
        }

        if (kind == NULL || strcmp(kind, "project") != 0) {
            http_error(r, 400, "a permission's \"kind\" must be "
                       "\"project\"");
            return -1;
        }

        if (ns == NULL || ns[0] == '\0') {
            http_error(r, 400, "a permission needs a \"namespace\": a "
                       "project name, or \"*\" for every project");
            return -1;
        }

        memset(&p, 0, sizeof(p));

        if (strcmp(ns, "*") == 0) {
            if (!system) {
                http_error(r, 400, "namespace \"*\" (every project) is for "
                           "system-level robots");
                return -1;
            }

            if (!r->user.sysadmin) {
                http_error(r, 403, "only system administrators may grant "
                           "access to every project");
                return -1;
            }

        } else {
            if (!project_name_valid(ns)) {
                http_error(r, 400, "namespace \"%.255s\" is not a project "
                           "name", ns);
                return -1;
            }

            rc = project_find(r->db, ns, r->user.id, &p);
            if (rc < 0) {
                http_db_error(r);
                return -1;
            }

            if (rc == 0) {
                http_error(r, 404, "project %.255s not found", ns);
                return -1;
            }

            if (!rbac_allowed(p.roles, r->user.sysadmin, 0, "robot", right))
            {
                http_error(r, 403, "your role in project %s does not allow "
                           "robot accounts", p.name);
                return -1;
            }

            if (!system && project->id != 0 && project->id != p.id) {
                http_error(r, 403, "this robot belongs to project %s: it "
                           "cannot be given access to project %s",
                           project->name, p.name);
                return -1;
            }

            if (!system) {
                *project = p;
            }
        }

        acc = json_object_get(pm, "access");
        if (robot_objects(r, acc, ROBOT_ACCESS_MAX, "a permission's "
                          "\"access\"", "{resource, action}") != 0)
        {
            return -1;
        }

        json_array_foreach(acc, j, a) {
            if (body_str(r, a, "resource", &res, 32) < 0
                || body_str(r, a, "action", &act, 32) < 0
                || body_str(r, a, "effect", &eff, 16) < 0)
            {
                return -1;
            }

            if (eff != NULL && strcmp(eff, "allow") != 0) {
                http_error(r, 400, "an access's \"effect\" may only be "
                           "\"allow\"");
                return -1;
            }

            if (res == NULL || act == NULL
                || !robot_access_known(res, act))
            {
                http_error(r, 400, "access %.32s:%.32s is not one a robot "
                           "may have: repository pull, push, delete, list, "
                           "read, update; artifact list, read, delete; tag "
                           "list, create, delete",
                           res != NULL ? res : "?", act != NULL ? act : "?");
                return -1;
            }

            /* never more than the caller may do there */
            if (p.id != 0
                && !rbac_allowed(p.roles, r->user.sysadmin, 0, res, act))
            {
                http_error(r, 403, "your role in project %s does not allow "
                           "%s %s, so no robot of yours may", p.name, act,
                           res);
                return -1;
            }

            if (n == ROBOT_PERMS_MAX * ROBOT_ACCESS_MAX) {
                http_error(r, 400, "too many permissions");
                return -1;
            }

            perms[n].project_id = p.id;
            perms[n].namespace = p.id != 0 ? req_strdup(r, p.name) : "*";
            perms[n].resource = res;
            perms[n].action = act;

            if (perms[n].namespace == NULL) {
                http_error(r, 500, "out of memory");
                return -1;
            }

            n++;
        }
    }

    *nperms = n;

    return 0;
}


/* the permissions of robot id: replaced, inside the caller's transaction */
static int
robot_perms_store(struct req *r, long long id, const struct robot_perm *perms,
    int n)
{
    char  rid[32], pid[32];
    int   i;

    snprintf(rid, sizeof(rid), "%lld", id);

    if (db_cmd(r->db, "DELETE FROM robot_permission WHERE robot_id = $1",
               1, rid) < 0)
    {
        return -1;
    }

    for (i = 0; i < n; i++) {
        snprintf(pid, sizeof(pid), "%lld", perms[i].project_id);

        if (db_cmd(r->db, "INSERT INTO robot_permission (robot_id,"
                   " project_id, namespace, resource, action) VALUES"
                   " ($1, NULLIF($2::integer, 0), $3, $4, $5)"
                   " ON CONFLICT DO NOTHING", 5, rid, pid,
                   perms[i].namespace, perms[i].resource, perms[i].action)
            < 0)
        {
            return -1;
        }
    }

    return 0;
}


/* robots' permissions as Harbor writes them, by robot id */
static json_t *
robot_perms_json(struct req *r, const long long *ids, int n)
{
    PGresult    *res;
    json_t      *all, *list, *pm, *acc;
    const char  *ns, *last_ns;
    char        *arr, key[32];
    long long    id, last_id;
    int          i;

    all = json_object();
    if (all == NULL || n == 0) {
        return all;
    }

    arr = db_id_array(ids, n);
    if (arr == NULL) {
        json_decref(all);
        return NULL;
    }

    res = db_execv(r->db, "SELECT robot_id, namespace, resource, action"
                   " FROM robot_permission WHERE robot_id = ANY($1::int[])"
                   " ORDER BY robot_id, namespace, resource, action", 1, arr);
    free(arr);

    if (res == NULL) {
        json_decref(all);
        return NULL;
    }

    last_id = 0;
    last_ns = "";
    acc = NULL;

    for (i = 0; i < PQntuples(res); i++) {
        id = db_ll(res, i, 0);
        ns = db_s(res, i, 1);

        if (id != last_id || strcmp(ns, last_ns) != 0) {
            snprintf(key, sizeof(key), "%lld", id);
            list = json_object_get(all, key);
            if (list == NULL) {
                list = json_array();
                json_object_set_new(all, key, list);
            }

            acc = json_array();
            pm = json_pack("{s:s, s:s, s:o}", "kind", "project",
                           "namespace", ns, "access", acc);
            json_array_append_new(list, pm);
            last_id = id;
            last_ns = ns;
        }

        json_array_append_new(acc, json_pack("{s:s, s:s, s:s}",
                              "resource", db_s(res, i, 2),
                              "action", db_s(res, i, 3),
                              "effect", "allow"));
    }

    /* last_ns points into res: done with it only now */
    PQclear(res);

    return all;
}


/* one row of ROBOT_COLUMNS as Harbor's Robot, without permissions */
static json_t *
robot_json(PGresult *res, int row, int editable)
{
    return json_pack("{s:I, s:s, s:s, s:s, s:I, s:b, s:I, s:b, s:o, s:o}",
                     "id", (json_int_t) db_ll(res, row, 0),
                     "name", db_s(res, row, 1),
                     "description", db_s(res, row, 2),
                     "level", db_s(res, row, 3),
                     "duration", (json_int_t) db_ll(res, row, 4),
                     "disable", db_b(res, row, 5),
                     "expires_at", (json_int_t) db_ll(res, row, 6),
                     "editable", editable,
                     "creation_time", db_json_s(res, row, 7),
                     "update_time", db_json_s(res, row, 8));
}


/*
 * Robot id of the path, if the caller may act on it (right: read,
 * update, delete): system robots are the system administrators',
 * project robots their project's (robot:<right> there).  0, or -1 with
 * the answer sent.
 */
static int
robot_load(struct req *r, const char *seg, const char *right,
    struct robot_row *rb)
{
    struct project  p;
    PGresult       *res;
    long long       id;
    char            sid[32];

    memset(rb, 0, sizeof(*rb));

    if (http_need_user(r) != 0 || http_db(r) == NULL) {
        return -1;
    }

    id = http_id(seg);
    if (id < 0) {
        http_error(r, 404, "robot not found");
        return -1;
    }

    snprintf(sid, sizeof(sid), "%lld", id);

    res = db_execv(r->db, "SELECT " ROBOT_COLUMNS ROBOT_FROM
                   " WHERE r.id = $1", 1, sid);
    if (res == NULL) {
        http_db_error(r);
        return -1;
    }

    if (PQntuples(res) != 1) {
        PQclear(res);
        http_error(r, 404, "robot %lld not found", id);
        return -1;
    }

    rb->id = id;
    snprintf(rb->name, sizeof(rb->name), "%s", db_s(res, 0, 1));
    snprintf(rb->level, sizeof(rb->level), "%s", db_s(res, 0, 3));
    rb->project_id = db_ll(res, 0, 9);
    snprintf(rb->project, sizeof(rb->project), "%s", db_s(res, 0, 10));
    rb->created = db_ll(res, 0, 11);
    PQclear(res);

    if (rb->project_id == 0) {
        rb->editable = r->user.sysadmin;
        return http_need_sysadmin(r);
    }

    /* theirs whatever became of the project (a deleted one's robots) */
    if (r->user.sysadmin) {
        rb->editable = 1;
        return 0;
    }

    snprintf(sid, sizeof(sid), "%lld", rb->project_id);

    if (project_load(r, sid, &p) != 0 || !project_can(r, &p, "robot", right))
    {
        return -1;
    }

    rb->editable = rbac_allowed(p.roles, 0, 0, "robot", "update");

    return 0;
}


static void
robot_get(struct req *r, struct robot_row *rb)
{
    PGresult  *res;
    json_t    *j, *perms, *pl;
    char       sid[32], key[32];

    snprintf(sid, sizeof(sid), "%lld", rb->id);

    res = db_execv(r->db, "SELECT " ROBOT_COLUMNS ROBOT_FROM
                   " WHERE r.id = $1", 1, sid);
    if (res == NULL) {
        http_db_error(r);
        return;
    }

    if (PQntuples(res) != 1) {
        PQclear(res);
        http_error(r, 404, "robot %lld not found", rb->id);
        return;
    }

    j = robot_json(res, 0, rb->editable);
    PQclear(res);

    perms = robot_perms_json(r, &rb->id, 1);
    if (j == NULL || perms == NULL) {
        json_decref(j);
        json_decref(perms);
        http_db_error(r);
        return;
    }

    snprintf(key, sizeof(key), "%lld", rb->id);
    pl = json_object_get(perms, key);
    json_object_set(j, "permissions", pl != NULL ? pl : json_array());
    json_decref(perms);

    http_json(r, 200, j);
}


static void
robots_list(struct req *r)
{
    struct qitem    items[Q_ITEMS_MAX];
    struct qitem   *pit;
    struct qsql     s;
    struct project  p;
    PGresult       *res;
    const char     *order;
    json_t         *list, *perms, *pl, *j;
    long long      *ids;
    long            page, page_size;
    char            key[32];
    int             n, i, sys, edit;

    if (http_need_user(r) != 0
        || http_page(r, &page, &page_size) != 0
        || q_parse(r, http_arg(r, "q"), items, &n) != 0)
    {
        return;
    }

    q_init(&s, r);
    sys = r->user.sysadmin;
    edit = sys;

    /* others see the robots of a project they may list robots of */
    pit = NULL;
    for (i = 0; i < n; i++) {
        if (strcmp(items[i].key, "project_id") == 0
            || strcmp(items[i].key, "ProjectID") == 0)
        {
            pit = &items[i];
        }
    }

    if (!sys) {
        if (pit == NULL || pit->op != Q_EQ || pit->nv != 1) {
            http_error(r, 403, "only system administrators may list every "
                       "robot: give q=level=project,project_id=<id>");
            return;
        }

        if (http_id(pit->v[0]) < 0) {
            http_error(r, 400, "q: project_id must be a project id");
            return;
        }

        if (project_load(r, pit->v[0], &p) != 0
            || !project_can(r, &p, "robot", "list"))
        {
            return;
        }

        edit = rbac_allowed(p.roles, 0, 0, "robot", "update");
    }

    if (q_where(&s, items, n, robot_fields, nitems(robot_fields)) != 0) {
        return;
    }

    order = q_order(r, http_arg(r, "sort"), robot_sort, nitems(robot_sort),
                    "r.id");
    if (order == NULL) {
        return;
    }

    order = req_printf(r, "%s, r.id", order);

    if (q_list(r, &s, "SELECT count(*)" ROBOT_FROM " WHERE true",
               "SELECT " ROBOT_COLUMNS ROBOT_FROM " WHERE true", order, page,
               page_size, &res) != 0)
    {
        return;
    }

    ids = req_alloc(r, sizeof(long long) * (size_t) (PQntuples(res) + 1));
    if (ids == NULL) {
        PQclear(res);
        http_error(r, 500, "out of memory");
        return;
    }

    for (i = 0; i < PQntuples(res); i++) {
        ids[i] = db_ll(res, i, 0);
    }

    perms = robot_perms_json(r, ids, PQntuples(res));
    if (perms == NULL) {
        PQclear(res);
        http_db_error(r);
        return;
    }

    list = json_array();
    for (i = 0; i < PQntuples(res); i++) {
        j = robot_json(res, i, edit);
        snprintf(key, sizeof(key), "%lld", ids[i]);
        pl = json_object_get(perms, key);
        json_object_set(j, "permissions", pl != NULL ? pl : json_array());
        json_array_append_new(list, j);
    }

    PQclear(res);
    json_decref(perms);

    http_json(r, 200, list);
}


static void
robots_create(struct req *r)
{
    struct robot_perm  *perms;
    struct project      p;
    json_t             *body;
    const char         *name, *desc, *level, *given;
    char                secret[ROBOT_SECRET_LEN + 1];
    char                hash[256], *full, *prefix, *loc, dur[32], exp[32];
    char                pid[32];
    char                dis[2];
    long long           duration, id, created, expires;
    PGresult           *res;
    int                 system, disable, nperms;

    if (http_need_user(r) != 0 || http_db(r) == NULL) {
        return;
    }

    body = http_body_json(r);
    if (body == NULL) {
        return;
    }

    memset(&p, 0, sizeof(p));
    sodium_memzero(secret, sizeof(secret));
    disable = 0;
    prefix = NULL;

    if (body_str(r, body, "name", &name, 128) < 0
        || body_str(r, body, "description", &desc, ROBOT_DESC_MAX) < 0
        || body_str(r, body, "level", &level, 16) < 0
        || body_str(r, body, "secret", &given, AUTHD_PASSWORD_MAX) < 0
        || body_bool(r, body, "disable", &disable) < 0
        || robot_duration(r, body, &duration, 1) < 0)
    {
        goto done;
    }

    if (name == NULL || !project_name_valid(name)) {
        http_error(r, 400, "\"name\" is required: lowercase letters, digits "
                   "and . _ - between them, at most 128 characters");
        goto done;
    }

    if (level == NULL
        || (strcmp(level, "system") != 0 && strcmp(level, "project") != 0))
    {
        http_error(r, 400, "\"level\" must be \"system\" or \"project\"");
        goto done;
    }

    system = strcmp(level, "system") == 0;

    if (system && http_need_sysadmin(r) != 0) {
        goto done;
    }

    perms = req_alloc(r, sizeof(struct robot_perm)
                         * ROBOT_PERMS_MAX * ROBOT_ACCESS_MAX);
    if (perms == NULL) {
        http_error(r, 500, "out of memory");
        goto done;
    }

    if (robot_perms(r, json_object_get(body, "permissions"), system,
                    "create", &p, perms, &nperms) != 0)
    {
        goto done;
    }

    settings_rdlock();
    prefix = strdup(conf->robot_name_prefix != NULL
                    ? conf->robot_name_prefix : "");
    settings_unlock();

    full = prefix == NULL ? NULL
           : system ? req_printf(r, "%s%s", prefix, name)
           : req_printf(r, "%s%s+%s", prefix, p.name, name);
    if (full == NULL) {
        http_error(r, 500, "out of memory");
        goto done;
    }

    if (strlen(full) > 255) {
        http_error(r, 400, "the robot's full name %.64s... is longer than "
                   "255 characters", full);
        goto done;
    }

    if (robot_secret_hash(r, given, secret, hash, sizeof(hash)) != 0) {
        goto done;
    }

    created = (long long) time(NULL);
    expires = robot_expires(created, duration);

    snprintf(dur, sizeof(dur), "%lld", duration);
    snprintf(exp, sizeof(exp), "%lld", expires);
    snprintf(pid, sizeof(pid), "%lld", system ? 0 : p.id);
    snprintf(dis, sizeof(dis), "%s", disable ? "t" : "f");

    if (db_begin(r->db) != 0) {
        http_db_error(r);
        goto done;
    }

    res = db_execv(r->db, "INSERT INTO robot (name, description, secret,"
                   " level, project_id, duration, expires_at, disabled,"
                   " creator, creation_time) VALUES ($1, $2, $3, $4,"
                   " NULLIF($5::integer, 0), $6, $7, $8, $9,"
                   " to_timestamp($10::bigint)) RETURNING id, "
                   DB_TIME("creation_time"), 10, full,
                   desc != NULL ? desc : "", hash, level, pid, dur, exp, dis,
                   r->user.name, req_printf(r, "%lld", created));
    sodium_memzero(hash, sizeof(hash));

    if (res == NULL) {
        if (r->db->err == DB_ERR_CONFLICT) {
            http_error(r, 409, "a robot named %s already exists", full);
        } else {
            http_db_error(r);
        }
        db_rollback(r->db);
        goto done;
    }

    id = db_ll(res, 0, 0);

    if (robot_perms_store(r, id, perms, nperms) != 0
        || db_commit(r->db) != 0)
    {
        PQclear(res);
        http_db_error(r);
        db_rollback(r->db);
        goto done;
    }

    log_info("user \"%s\" created robot \"%s\" (id %lld)", r->user.name,
             full, id);

    audit_req(r, p.id, "create", "robot", full);

    loc = req_printf(r, "/api/v2.0/robots/%lld", id);
    if (loc != NULL) {
        http_header(r, "Location", loc);
    }
    http_json(r, 201, json_pack("{s:I, s:s, s:s, s:o, s:I}",
                                "id", (json_int_t) id,
                                "name", full,
                                "secret", secret[0] != '\0' ? secret : given,
                                "creation_time", db_json_s(res, 0, 1),
                                "expires_at", (json_int_t) expires));
    PQclear(res);

done:

    sodium_memzero(secret, sizeof(secret));
    free(prefix);
    json_decref(body);
}


/* PUT /robots/{id}: description, duration, disable, permissions */
static void
robot_update(struct req *r, struct robot_row *rb)
{
    struct robot_perm  *perms;
    struct project      p;
    json_t             *body, *pl;
    const char         *name, *level, *desc;
    long long           duration;
    char                sid[32], dur[32], exp[32], dis[2];
    int                 disable, nperms, rc;

    body = http_body_json(r);
    if (body == NULL) {
        return;
    }

    disable = -1;
    nperms = -1;
    perms = NULL;
    memset(&p, 0, sizeof(p));
    p.id = rb->project_id;
    snprintf(p.name, sizeof(p.name), "%s", rb->project);

    if (body_str(r, body, "name", &name, 255) < 0
        || body_str(r, body, "level", &level, 16) < 0
        || body_str(r, body, "description", &desc, ROBOT_DESC_MAX) < 0
        || body_bool(r, body, "disable", &disable) < 0
        || (rc = robot_duration(r, body, &duration, 0)) < 0)
    {
        goto done;
    }

    /* a robot keeps its name and level (Harbor: 400) */
    if (name != NULL && strcmp(name, rb->name) != 0) {
        http_error(r, 400, "a robot's name cannot change");
        goto done;
    }

    if (level != NULL && strcmp(level, rb->level) != 0) {
        http_error(r, 400, "a robot's level cannot change");
        goto done;
    }

    if (json_object_get(body, "secret") != NULL
        && !json_is_null(json_object_get(body, "secret")))
    {
        http_error(r, 400, "a robot's secret changes with PATCH "
                   "/robots/{id} only");
        goto done;
    }

    pl = json_object_get(body, "permissions");
    if (pl != NULL && !json_is_null(pl)) {
        perms = req_alloc(r, sizeof(struct robot_perm)
                             * ROBOT_PERMS_MAX * ROBOT_ACCESS_MAX);
        if (perms == NULL) {
            http_error(r, 500, "out of memory");
            goto done;
        }

        if (robot_perms(r, pl, rb->project_id == 0, "update", &p, perms,
                        &nperms) != 0)
        {
            goto done;
        }
    }

    snprintf(sid, sizeof(sid), "%lld", rb->id);
    snprintf(dur, sizeof(dur), "%lld", rc == 0 ? duration : 0);
    snprintf(exp, sizeof(exp), "%lld",
             robot_expires(rb->created, rc == 0 ? duration : 0));
    snprintf(dis, sizeof(dis), "%s", disable == 1 ? "t" : "f");

    if (db_begin(r->db) != 0) {
        http_db_error(r);
        goto done;
    }

    if (db_cmd(r->db, "UPDATE robot SET"
               " description = COALESCE($2, description),"
               " duration = CASE WHEN $3::integer = 0 THEN duration"
               " ELSE $3::integer END,"
               " expires_at = CASE WHEN $3::integer = 0 THEN expires_at"
               " ELSE $4::bigint END,"
               " disabled = CASE WHEN $5::boolean IS NULL THEN disabled"
               " ELSE $5::boolean END, update_time = now()"
               " WHERE id = $1", 5, sid, desc, dur, exp,
               disable < 0 ? NULL : dis) < 0
        || (nperms >= 0 && robot_perms_store(r, rb->id, perms, nperms) != 0)
        || db_commit(r->db) != 0)
    {
        http_db_error(r);
        db_rollback(r->db);
        goto done;
    }

    log_info("user \"%s\" updated robot \"%s\"", r->user.name, rb->name);
    audit_req(r, rb->project_id, "update", "robot", rb->name);

    http_text(r, 200, NULL, "");

done:

    json_decref(body);
}


/* PATCH /robots/{id}: a new secret, given (the password rule) or made */
static void
robot_refresh(struct req *r, struct robot_row *rb)
{
    json_t      *body;
    const char  *given;
    char         secret[ROBOT_SECRET_LEN + 1], hash[256], sid[32];

    body = NULL;
    given = NULL;

    if (r->body_len > 0) {
        body = http_body_json(r);
        if (body == NULL) {
            return;
        }
        if (body_str(r, body, "secret", &given, AUTHD_PASSWORD_MAX) < 0) {
            goto done;
        }
    }

    if (robot_secret_hash(r, given, secret, hash, sizeof(hash)) != 0) {
        goto done;
    }

    snprintf(sid, sizeof(sid), "%lld", rb->id);

    if (db_cmd(r->db, "UPDATE robot SET secret = $2, update_time = now()"
               " WHERE id = $1", 2, sid, hash) < 0)
    {
        http_db_error(r);
        goto done;
    }

    log_info("user \"%s\" refreshed the secret of robot \"%s\"",
             r->user.name, rb->name);
    audit_req(r, rb->project_id, "refresh_secret", "robot", rb->name);

    /* as Harbor: a secret that was given is not sent back */
    http_json(r, 200, secret[0] != '\0'
                      ? json_pack("{s:s}", "secret", secret)
                      : json_object());

done:

    sodium_memzero(secret, sizeof(secret));
    sodium_memzero(hash, sizeof(hash));
    json_decref(body);
}


static void
robot_delete(struct req *r, struct robot_row *rb)
{
    char  sid[32];
    long  n;

    snprintf(sid, sizeof(sid), "%lld", rb->id);

    n = db_cmd(r->db, "DELETE FROM robot WHERE id = $1", 1, sid);
    if (n < 0) {
        http_db_error(r);
        return;
    }

    if (n == 0) {
        http_error(r, 404, "robot %lld not found", rb->id);
        return;
    }

    log_info("user \"%s\" deleted robot \"%s\"", r->user.name, rb->name);
    audit_req(r, rb->project_id, "delete", "robot", rb->name);

    http_text(r, 200, NULL, "");
}


/* GET, POST /robots */
void
api_robots(struct req *r)
{
    if (r->method == M_POST) {
        robots_create(r);
    } else {
        robots_list(r);
    }
}


/* GET, PUT, PATCH, DELETE /robots/{id} */
void
api_robot(struct req *r)
{
    struct robot_row  rb;
    const char       *right;

    right = r->method == M_DELETE ? "delete"
            : r->method == M_PUT || r->method == M_PATCH ? "update"
            : "read";

    if (robot_load(r, r->seg[3], right, &rb) != 0) {
        return;
    }

    switch (r->method) {
    case M_PUT:
        robot_update(r, &rb);
        break;
    case M_PATCH:
        robot_refresh(r, &rb);
        break;
    case M_DELETE:
        robot_delete(r, &rb);
        break;
    default:
        robot_get(r, &rb);
        break;
    }
}


/*
 * The token service's verdict for a robot on repository name (see
 * token_repo_decide for the arguments): an action is granted when the
 * robot holds repository:<action> on project p, or on every project
 * ("*", system robots).  -1 if the database could not answer.
 */
int
robot_token_decide(struct req *r, const char *name, const char *project,
    const struct project *p, const char **actions, int n, int *grant,
    const char **reason)
{
    PGresult  *res;
    char       rid[32], pid[32];
    int        i, j;

    res = NULL;

    if (p != NULL && hb_name_valid((const unsigned char *) name,
                                   strlen(name)))
    {
        snprintf(rid, sizeof(rid), "%lld", r->user.robot_id);
        snprintf(pid, sizeof(pid), "%lld", p->id);

        res = db_execv(r->db, "SELECT action FROM robot_permission"
                       " WHERE robot_id = $1 AND resource = 'repository'"
                       " AND (project_id = $2 OR project_id IS NULL)",
                       2, rid, pid);
        if (res == NULL) {
            return -1;
        }
    }

    for (i = 0; i < n; i++) {
        grant[i] = 0;
        reason[i] = NULL;

        if (!hb_name_valid((const unsigned char *) name, strlen(name))) {
            reason[i] = req_printf(r, "invalid repository name %.300s",
                                   name);

        } else if (project == NULL) {
            reason[i] = req_printf(r, "repository name %s has no project "
                                   "part", name);

        } else if (p == NULL) {
            reason[i] = req_printf(r, "project %s not found", project);

        } else {
            for (j = 0; j < PQntuples(res); j++) {
                if (strcmp(db_s(res, j, 0), actions[i]) == 0) {
                    grant[i] = 1;
                }
            }

            if (!grant[i]) {
                reason[i] = req_printf(r, "robot %s may not %s in project "
                                       "%s", r->user.name, actions[i],
                                       project);
            }
        }

        if (!grant[i] && reason[i] == NULL) {
            reason[i] = "refused (authd could not say why: out of memory)";
        }
    }

    PQclear(res);

    return 0;
}
