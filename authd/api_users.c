/*
 * authd: /api/v2.0/users.
 *
 * Request bodies are read field by field from an allow-list per endpoint:
 * creating a user reads username, email, realname, password and comment,
 * never sysadmin_flag (Harbor CVE-2019-16097), which only
 * PUT /users/{id}/sysadmin changes, and only for a system administrator.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "authd.h"


#define USER_COLUMNS                                                        \
    "user_id, username, email, realname, comment, sysadmin_flag, "          \
    DB_TIME("creation_time") ", " DB_TIME("update_time")

static const struct qsort  user_sort[] = {
    { "username",       "username" },
    { "email",          "email" },
    { "user_id",        "user_id" },
    { "creation_time",  "creation_time" },
    { "update_time",    "update_time" },
};


static json_t *
user_json(PGresult *res, int row)
{
    return json_pack("{s:I, s:s, s:o, s:s, s:s, s:b, s:o, s:o, s:b}",
                     "user_id", (json_int_t) db_ll(res, row, 0),
                     "username", db_s(res, row, 1),
                     "email", db_json_s(res, row, 2),
                     "realname", db_s(res, row, 3),
                     "comment", db_s(res, row, 4),
                     "sysadmin_flag", db_b(res, row, 5),
                     "creation_time", db_json_s(res, row, 6),
                     "update_time", db_json_s(res, row, 7),
                     "admin_role_in_auth", 0);
}


/* the {id} of the path; -1 with 404 sent if it is not one */
static long long
user_path_id(struct req *r)
{
    const char  *s;
    long long    v;
    int          i;

    s = r->seg[3];
    v = 0;

    for (i = 0; s[i]; i++) {
        if (s[i] < '0' || s[i] > '9' || i > 8) {
            http_error(r, 404, "user not found");
            return -1;
        }
        v = v * 10 + (s[i] - '0');
    }

    if (v <= 0) {
        http_error(r, 404, "user not found");
        return -1;
    }

    return v;
}


/* Harbor's rules: no , " ~ # $ % and no control characters */
static int
user_name_valid(const char *s)
{
    size_t  len, i;

    len = strlen(s);
    if (len == 0 || len > AUTHD_USER_MAX) {
        return 0;
    }

    for (i = 0; i < len; i++) {
        if ((unsigned char) s[i] < 0x20 || s[i] == 0x7f
            || strchr(",\"~#$%:", s[i]) != NULL)
        {
            return 0;
        }
    }

    return 1;
}


static int
user_email_valid(const char *s)
{
    const char  *at;
    size_t       i;

    at = strchr(s, '@');
    if (at == NULL || at == s || at[1] == '\0' || strchr(at + 1, '@')) {
        return 0;
    }

    for (i = 0; s[i]; i++) {
        if ((unsigned char) s[i] <= 0x20 || s[i] == 0x7f || s[i] == '#') {
            return 0;
        }
    }

    return 1;
}


static void
users_list(struct req *r)
{
    const char  *q, *uname, *email, *order;
    char        *like_u, *like_e, limit[32], offset[32], *sql, *item;
    char        *save;
    long         page, page_size;
    long long    total;
    PGresult    *res;
    json_t      *list;
    int          i;

    if (http_need_sysadmin(r) != 0 || http_page(r, &page, &page_size) != 0) {
        return;
    }

    uname = http_arg(r, "username");
    email = http_arg(r, "email");

    q = http_arg(r, "q");
    if (q != NULL) {
        char  *qs, *eq;

        qs = req_strdup(r, q);
        for (item = qs != NULL ? strtok_r(qs, ",", &save) : NULL;
             item != NULL; item = strtok_r(NULL, ",", &save))
        {
            eq = strchr(item, '=');
            if (eq == NULL) {
                http_error(r, 400, "q: \"%.64s\" is not key=value", item);
                return;
            }
            *eq++ = '\0';
            if (*eq == '~') {
                eq++;
            }

            if (strcmp(item, "username") == 0) {
                uname = eq;
            } else if (strcmp(item, "email") == 0) {
                email = eq;
            } else {
                http_error(r, 400, "q: unsupported key \"%.64s\"", item);
                return;
            }
        }
    }

    /* fuzzy, with the value's own LIKE characters escaped */
    like_u = NULL;
    like_e = NULL;

    if ((uname != NULL && (like_u = q_like(r, uname)) == NULL)
        || (email != NULL && (like_e = q_like(r, email)) == NULL))
    {
        return;
    }

    order = q_order(r, http_arg(r, "sort"), user_sort, nitems(user_sort),
                    "username");
    if (order == NULL) {
        return;
    }

    if (http_db(r) == NULL) {
        return;
    }

    snprintf(limit, sizeof(limit), "%ld", page_size);
    snprintf(offset, sizeof(offset), "%lld",
             (long long) (page - 1) * page_size);

#define USERS_WHERE                                                         \
    " FROM users WHERE NOT deleted"                                         \
    " AND ($1::text IS NULL OR username ILIKE $1)"                          \
    " AND ($2::text IS NULL OR email ILIKE $2)"

    res = db_execv(r->db, "SELECT count(*)" USERS_WHERE, 2, like_u, like_e);
    if (res == NULL) {
        http_db_error(r);
        return;
    }

    total = db_ll(res, 0, 0);
    PQclear(res);

    sql = req_printf(r, "SELECT " USER_COLUMNS USERS_WHERE
                     " ORDER BY %s, user_id LIMIT $3 OFFSET $4", order);
    if (sql == NULL) {
        http_error(r, 500, "out of memory");
        return;
    }

    res = db_execv(r->db, sql, 4, like_u, like_e, limit, offset);
    if (res == NULL) {
        http_db_error(r);
        return;
    }

    list = json_array();
    for (i = 0; i < PQntuples(res); i++) {
        json_array_append_new(list, user_json(res, i));
    }
    PQclear(res);

    http_page_links(r, page, page_size, total);
    http_json(r, 200, list);
}


static void
users_create(struct req *r)
{
    json_t      *body;
    const char  *username, *email, *realname, *password, *comment;
    char         hash[256], err[256], *loc;
    PGresult    *res;

    if (conf->auth_mode != AUTH_MODE_DB) {
        http_error(r, 403, "users are managed by the authentication "
                   "service, not created here");
        return;
    }

    /* system administrators, or anyone when self-registration is on */
    if (!r->user.sysadmin) {
        if (r->user.id != 0) {
            http_error(r, 403, "only system administrators may create "
                       "users");
            return;
        }
        if (!conf->self_registration) {
            http_error(r, 401, "authentication required");
            return;
        }
    }

    body = http_body_json(r);
    if (body == NULL) {
        return;
    }

    /* UserCreationReq: these five fields and nothing else */
    if (body_str(r, body, "username", &username, AUTHD_USER_MAX) < 0
        || body_str(r, body, "email", &email, 255) < 0
        || body_str(r, body, "realname", &realname, 255) < 0
        || body_str(r, body, "password", &password, AUTHD_PASSWORD_MAX) < 0
        || body_str(r, body, "comment", &comment, 1024) < 0)
    {
        goto done;
    }

    if (username == NULL || !user_name_valid(username)) {
        http_error(r, 400, "\"username\" is required: 1 to 255 characters, "
                   "without , \" ~ # $ %% : or control characters");
        goto done;
    }

    if (email != NULL && email[0] == '\0') {
        email = NULL;
    }

    if (email != NULL && !user_email_valid(email)) {
        http_error(r, 400, "\"email\" is not a valid email address");
        goto done;
    }

    if (password == NULL) {
        http_error(r, 400, "\"password\" is required");
        goto done;
    }

    if (!auth_password_ok(password, err, sizeof(err))) {
        http_error(r, 400, "%s", err);
        goto done;
    }

    if (http_db(r) == NULL) {
        goto done;
    }

    /* say which one is taken: an administrator is asking */
    res = db_execv(r->db, "SELECT lower(username) = lower($1) FROM users"
                   " WHERE lower(username) = lower($1)"
                   " OR lower(email) = lower($2)", 2, username, email);
    if (res == NULL) {
        http_db_error(r);
        goto done;
    }

    if (PQntuples(res) > 0) {
        http_error(r, 409, db_b(res, 0, 0)
                   ? "username %.255s is already taken"
                   : "email of %.255s is already in use by another user",
                   username);
        PQclear(res);
        goto done;
    }
    PQclear(res);

    if (auth_hash(password, strlen(password), hash, sizeof(hash)) != 0) {
        http_error(r, 500, "hashing the password failed");
        goto done;
    }

    res = db_execv(r->db, "INSERT INTO users (username, email, realname,"
                   " comment, password) VALUES ($1, $2, $3, $4, $5)"
                   " RETURNING user_id", 5, username, email,
                   realname != NULL ? realname : "",
                   comment != NULL ? comment : "", hash);
    sodium_memzero(hash, sizeof(hash));

    if (res == NULL) {
        if (r->db->err == DB_ERR_CONFLICT) {
            http_error(r, 409, "username or email is already taken");
        } else {
            http_db_error(r);
        }
        goto done;
    }

    loc = req_printf(r, "/api/v2.0/users/%lld", db_ll(res, 0, 0));
    PQclear(res);

    log_info("user \"%s\" created by %s", username,
             r->user.id != 0 ? r->user.name : "self-registration");

    if (audit_add(r->db, 0, r->user.id != 0 ? r->user.name : username,
                  "create", "user", username,
                  r->user.id != 0 ? NULL : "self-registration", 1,
                  http_client_ip(r)) != 0)
    {
        log_warnx("audit log: the creation of user %s was not recorded",
                  username);
    }

    if (loc != NULL) {
        http_header(r, "Location", loc);
    }
    http_text(r, 201, NULL, "");

done:

    json_decref(body);
}


void
api_users(struct req *r)
{
    if (r->method == M_POST) {
        users_create(r);
    } else {
        users_list(r);
    }
}


static void
user_get(struct req *r, long long id)
{
    PGresult  *res;
    char       uid[32];

    if (http_db(r) == NULL) {
        return;
    }

    snprintf(uid, sizeof(uid), "%lld", id);

    res = db_execv(r->db, "SELECT " USER_COLUMNS " FROM users"
                   " WHERE user_id = $1 AND NOT deleted", 1, uid);
    if (res == NULL) {
        http_db_error(r);
        return;
    }

    if (PQntuples(res) != 1) {
        PQclear(res);
        http_error(r, 404, "user not found");
        return;
    }

    http_json(r, 200, user_json(res, 0));
    PQclear(res);
}


void
api_user_current(struct req *r)
{
    if (http_need_user(r) != 0) {
        return;
    }

    user_get(r, r->user.id);
}


/* GET /users/search?username=x: id and name, for adding members */
void
api_user_search(struct req *r)
{
    const char  *name;
    char        *like, *o, limit[32], offset[32];
    long         page, page_size;
    long long    total;
    PGresult    *res;
    json_t      *list;
    int          i;

    if (http_need_user(r) != 0 || http_page(r, &page, &page_size) != 0) {
        return;
    }

    name = http_arg(r, "username");
    if (name == NULL || name[0] == '\0') {
        http_error(r, 400, "username is required");
        return;
    }

    like = req_alloc(r, strlen(name) * 2 + 2);
    if (like == NULL) {
        http_error(r, 500, "out of memory");
        return;
    }

    for (o = like; *name; name++) {
        if (*name == '%' || *name == '_' || *name == '\\') {
            *o++ = '\\';
        }
        *o++ = *name;
    }
    *o++ = '%';
    *o = '\0';

    if (http_db(r) == NULL) {
        return;
    }

    snprintf(limit, sizeof(limit), "%ld", page_size);
    snprintf(offset, sizeof(offset), "%lld",
             (long long) (page - 1) * page_size);

    res = db_execv(r->db, "SELECT count(*) FROM users WHERE NOT deleted"
                   " AND username ILIKE $1", 1, like);
    if (res == NULL) {
        http_db_error(r);
        return;
    }
    total = db_ll(res, 0, 0);
    PQclear(res);

    res = db_execv(r->db, "SELECT user_id, username FROM users"
                   " WHERE NOT deleted AND username ILIKE $1"
                   " ORDER BY username LIMIT $2 OFFSET $3",
                   3, like, limit, offset);
    if (res == NULL) {
        http_db_error(r);
        return;
    }

    list = json_array();
    for (i = 0; i < PQntuples(res); i++) {
        json_array_append_new(list,
            json_pack("{s:I, s:s}", "user_id",
                      (json_int_t) db_ll(res, i, 0),
                      "username", db_s(res, i, 1)));
    }
    PQclear(res);

    http_page_links(r, page, page_size, total);
    http_json(r, 200, list);
}


static void
user_update(struct req *r, long long id)
{
    json_t      *body;
    const char  *email, *realname, *comment;
    char         uid[32];
    long         n;

    body = http_body_json(r);
    if (body == NULL) {
        return;
    }

    /* UserProfile: email, realname, comment */
    if (body_str(r, body, "email", &email, 255) < 0
        || body_str(r, body, "realname", &realname, 255) < 0
        || body_str(r, body, "comment", &comment, 1024) < 0)
    {
        goto done;
    }

    if (email != NULL && email[0] != '\0' && !user_email_valid(email)) {
        http_error(r, 400, "\"email\" is not a valid email address");
        goto done;
    }

    if (http_db(r) == NULL) {
        goto done;
    }

    snprintf(uid, sizeof(uid), "%lld", id);

    n = db_cmd(r->db, "UPDATE users SET"
               " email = CASE WHEN $2::text IS NULL THEN email"
               " ELSE NULLIF($2, '') END,"
               " realname = COALESCE($3, realname),"
               " comment = COALESCE($4, comment), update_time = now()"
               " WHERE user_id = $1 AND NOT deleted",
               4, uid, email, realname, comment);

    if (n < 0) {
        if (r->db->err == DB_ERR_CONFLICT) {
            http_error(r, 409, "email is already in use by another user");
        } else {
            http_db_error(r);
        }
        goto done;
    }

    if (n == 0) {
        http_error(r, 404, "user not found");
        goto done;
    }

    http_text(r, 200, NULL, "");

done:

    json_decref(body);
}


static void
user_delete(struct req *r, long long id)
{
    char  uid[32];
    long  n;

    if (http_need_sysadmin(r) != 0) {
        return;
    }

    if (id == r->user.id) {
        http_error(r, 403, "you cannot delete yourself");
        return;
    }

    if (http_db(r) == NULL) {
        return;
    }

    snprintf(uid, sizeof(uid), "%lld", id);

    /* as Harbor: keep the row (projects point at it), free the names */
    if (db_begin(r->db) != 0) {
        http_db_error(r);
        return;
    }

    n = db_cmd(r->db, "UPDATE users SET deleted = true,"
               " username = username || '#' || user_id,"
               " email = email || '#' || user_id,"
               " password = '', sysadmin_flag = false, update_time = now()"
               " WHERE user_id = $1 AND NOT deleted", 1, uid);

    if (n < 0
        || (n == 1
            && (db_cmd(r->db, "DELETE FROM project_member WHERE"
                       " entity_type = 'u' AND entity_id = $1", 1, uid) < 0
                || db_cmd(r->db, "DELETE FROM user_group_member WHERE"
                          " user_id = $1", 1, uid) < 0))
        || db_commit(r->db) != 0)
    {
        db_rollback(r->db);
        http_db_error(r);
        return;
    }

    if (n == 0) {
        http_error(r, 404, "user not found");
        return;
    }

    auth_forget(id);

    audit_req(r, 0, "delete", "user", req_printf(r, "user %lld", id));

    log_info("user %lld deleted by \"%s\"", id, r->user.name);
    http_text(r, 200, NULL, "");
}


void
api_user(struct req *r)
{
    long long  id;

    if (http_need_user(r) != 0) {
        return;
    }

    id = user_path_id(r);
    if (id < 0) {
        return;
    }

    if (r->method == M_DELETE) {
        user_delete(r, id);
        return;
    }

    if (id != r->user.id && !r->user.sysadmin) {
        http_error(r, 403, "you may only see and change your own account");
        return;
    }

    if (r->method == M_PUT) {
        user_update(r, id);
    } else {
        user_get(r, id);
    }
}


void
api_user_password(struct req *r)
{
    json_t      *body;
    const char  *oldpw, *newpw;
    char         uid[32], hash[256], err[256];
    PGresult    *res;
    long long    id;
    long         n;

    if (http_need_user(r) != 0) {
        return;
    }

    id = user_path_id(r);
    if (id < 0) {
        return;
    }

    if (id != r->user.id && !r->user.sysadmin) {
        http_error(r, 403, "you may only change your own password");
        return;
    }

    if (conf->auth_mode != AUTH_MODE_DB) {
        http_error(r, 403, "passwords are managed by the authentication "
                   "service");
        return;
    }

    body = http_body_json(r);
    if (body == NULL) {
        return;
    }

    if (body_str(r, body, "old_password", &oldpw, AUTHD_PASSWORD_MAX) < 0
        || body_str(r, body, "new_password", &newpw, AUTHD_PASSWORD_MAX) < 0)
    {
        goto done;
    }

    if (newpw == NULL) {
        http_error(r, 400, "\"new_password\" is required");
        goto done;
    }

    if (http_db(r) == NULL) {
        goto done;
    }

    snprintf(uid, sizeof(uid), "%lld", id);

    res = db_execv(r->db, "SELECT password FROM users WHERE user_id = $1"
                   " AND NOT deleted", 1, uid);
    if (res == NULL) {
        http_db_error(r);
        goto done;
    }

    if (PQntuples(res) != 1) {
        PQclear(res);
        http_error(r, 404, "user not found");
        goto done;
    }

    /* one's own password, administrators included, needs the old one */
    if (id == r->user.id
        && (oldpw == NULL
            || auth_verify(db_s(res, 0, 0), oldpw, strlen(oldpw)) != 0))
    {
        PQclear(res);
        http_error(r, 403, "the old password is incorrect");
        goto done;
    }

    if (auth_verify(db_s(res, 0, 0), newpw, strlen(newpw)) == 0) {
        PQclear(res);
        http_error(r, 400, "the new password must differ from the old one");
        goto done;
    }

    PQclear(res);

    if (!auth_password_ok(newpw, err, sizeof(err))) {
        http_error(r, 400, "%s", err);
        goto done;
    }

    if (auth_hash(newpw, strlen(newpw), hash, sizeof(hash)) != 0) {
        http_error(r, 500, "hashing the password failed");
        goto done;
    }

    n = db_cmd(r->db, "UPDATE users SET password = $2, update_time = now()"
               " WHERE user_id = $1 AND NOT deleted", 2, uid, hash);
    sodium_memzero(hash, sizeof(hash));

    if (n < 0) {
        http_db_error(r);
        goto done;
    }

    auth_forget(id);

    log_info("password of user %lld changed by \"%s\"", id, r->user.name);
    http_text(r, 200, NULL, "");

done:

    json_decref(body);
}


void
api_user_sysadmin(struct req *r)
{
    json_t     *body;
    char        uid[32];
    long long   id;
    long        n;
    int         flag;

    if (http_need_sysadmin(r) != 0) {
        return;
    }

    id = user_path_id(r);
    if (id < 0) {
        return;
    }

    if (id == r->user.id) {
        http_error(r, 403, "you cannot change your own sysadmin flag");
        return;
    }

    body = http_body_json(r);
    if (body == NULL) {
        return;
    }

    flag = -1;
    if (body_bool(r, body, "sysadmin_flag", &flag) < 0) {
        json_decref(body);
        return;
    }
    json_decref(body);

    if (flag == -1) {
        http_error(r, 400, "\"sysadmin_flag\" is required");
        return;
    }

    if (http_db(r) == NULL) {
        return;
    }

    snprintf(uid, sizeof(uid), "%lld", id);

    n = db_cmd(r->db, "UPDATE users SET sysadmin_flag = $2,"
               " update_time = now() WHERE user_id = $1 AND NOT deleted",
               2, uid, flag ? "t" : "f");

    if (n < 0) {
        http_db_error(r);
        return;
    }

    if (n == 0) {
        http_error(r, 404, "user not found");
        return;
    }

    log_info("user %lld %s system administrator by \"%s\"", id,
             flag ? "made" : "no longer", r->user.name);

    audit_req(r, 0, "update", "user",
              req_printf(r, "user %lld sysadmin_flag=%s", id,
                         flag ? "true" : "false"));
    http_text(r, 200, NULL, "");
}
