/*
 * authd: the directory seen through the API, as Harbor's, for system
 * admins only.
 *
 *   GET  /api/v2.0/ldap/users/search?username=      directory users
 *   POST /api/v2.0/ldap/users/import {"ldap_uid_list": [...]}
 *   GET  /api/v2.0/ldap/groups/search?groupname=&groupdn=
 *
 * The values given are filter values (escaped as RFC 4515 says, in
 * ldap.c), never filters.  An import creates the local user of each uid
 * found exactly once, as a first login would (auth_onboard); the uids
 * that are not, and those already local, come back in a 404 as Harbor's
 * [{"uid", "error"}].  A directory that does not answer is a 503.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "authd.h"


#define LDAP_SEARCH_MAX      500         /* entries of one search */
#define LDAP_IMPORT_MAX      100         /* uids of one import */


/* the query argument name: NULL (answer sent) if it is not usable */
static const char *
ldap_arg(struct req *r, const char *name, size_t max)
{
    const char  *v;

    v = http_arg(r, name);
    if (v == NULL) {
        return "";
    }

    if (strlen(v) > max) {
        http_error(r, 400, "\"%s\" is longer than %zu bytes", name, max);
        return NULL;
    }

    return v;
}


static int
ldap_conf(struct req *r, struct dir_conf *lc)
{
    if (http_need_sysadmin(r) != 0) {
        return -1;
    }

    if (dir_conf_get(lc) != 0) {
        http_error(r, 500, "out of memory");
        return -1;
    }

    if (lc->url[0] == '\0') {
        dir_conf_free(lc);
        http_error(r, 400, "no LDAP URL is configured");
        return -1;
    }

    return 0;
}


void
api_ldap_users_search(struct req *r)
{
    struct dir_conf   lc;
    const char       *name;
    json_t           *list;
    char              err[256];

    if (ldap_conf(r, &lc) != 0) {
        return;
    }

    name = ldap_arg(r, "username", AUTHD_USER_MAX);
    if (name == NULL) {
        dir_conf_free(&lc);
        return;
    }

    if (dir_find_users(&lc, name, LDAP_SEARCH_MAX, &list, err, sizeof(err))
        != 0)
    {
        dir_conf_free(&lc);
        http_error(r, 503, "the LDAP server did not answer: %s", err);
        return;
    }

    dir_conf_free(&lc);
    http_json(r, 200, list);
}


void
api_ldap_groups_search(struct req *r)
{
    struct dir_conf   lc;
    const char       *name, *dn;
    json_t           *list;
    char              err[256];

    if (ldap_conf(r, &lc) != 0) {
        return;
    }

    name = ldap_arg(r, "groupname", 255);
    dn = name != NULL ? ldap_arg(r, "groupdn", 1024) : NULL;
    if (dn == NULL) {
        dir_conf_free(&lc);
        return;
    }

    if (dn[0] != '\0') {
        char  norm[1024];

        if (dir_dn_norm(dn, norm, sizeof(norm)) != 0) {
            dir_conf_free(&lc);
            http_error(r, 400, "\"groupdn\" is not a DN");
            return;
        }
    }

    if (dir_find_groups(&lc, name, dn, LDAP_SEARCH_MAX, &list, err,
                        sizeof(err)) != 0)
    {
        dir_conf_free(&lc);
        http_error(r, 503, "the LDAP server did not answer: %s", err);
        return;
    }

    dir_conf_free(&lc);
    http_json(r, 200, list);
}


/* one uid of an import: NULL if done, else why not */
static const char *
ldap_import_one(struct req *r, const struct dir_conf *lc, const char *uid,
    int *unavailable)
{
    struct dir_user   lu;
    struct user       u;
    json_t           *found, *e;
    PGresult         *res;
    char              err[256];
    const char       *s;
    int               n;

    if (uid[0] == '\0' || strlen(uid) > AUTHD_USER_MAX) {
        return "not found in the directory";
    }

    if (dir_find_users(lc, uid, 2, &found, err, sizeof(err)) != 0) {
        *unavailable = 1;
        return "the LDAP server did not answer";
    }

    n = (int) json_array_size(found);
    e = json_array_get(found, 0);

    if (n != 1) {
        json_decref(found);
        return n == 0 ? "not found in the directory"
                      : "more than one directory entry";
    }

    memset(&lu, 0, sizeof(lu));
    s = json_string_value(json_object_get(e, "username"));
    snprintf(lu.uid, sizeof(lu.uid), "%s", s != NULL ? s : "");
    s = json_string_value(json_object_get(e, "email"));
    snprintf(lu.mail, sizeof(lu.mail), "%s", s != NULL ? s : "");
    s = json_string_value(json_object_get(e, "realname"));
    snprintf(lu.realname, sizeof(lu.realname), "%s", s != NULL ? s : "");
    json_decref(found);

    res = db_execv(r->db, "SELECT 1 FROM users WHERE lower(username) ="
                   " lower($1) AND NOT deleted", 1, lu.uid);
    if (res == NULL) {
        return "the database did not answer";
    }
    n = PQntuples(res);
    PQclear(res);

    if (n > 0) {
        return "the user already exists";
    }

    switch (auth_onboard(r->db, lu.uid, &lu, &u)) {
    case AUTH_OK:
        log_info("user \"%s\" imported directory user \"%s\"",
                 r->user.name, lu.uid);
        audit_req(r, 0, "create", "user", req_printf(r, "%s", lu.uid));
        return NULL;
    case AUTH_FAIL:
        return "the user cannot be imported";
    default:
        return "the database did not answer";
    }
}


void
api_ldap_users_import(struct req *r)
{
    struct dir_conf   lc;
    json_t           *body, *uids, *v, *failed;
    const char       *why;
    size_t            i;
    int               unavailable;

    if (ldap_conf(r, &lc) != 0) {
        return;
    }

    failed = NULL;
    body = http_body_json(r);
    if (body == NULL || http_db(r) == NULL) {
        goto done;
    }

    uids = json_object_get(body, "ldap_uid_list");
    if (!json_is_array(uids) || json_array_size(uids) == 0) {
        http_error(r, 400, "\"ldap_uid_list\" must be a list of uids");
        goto done;
    }

    if (json_array_size(uids) > LDAP_IMPORT_MAX) {
        http_error(r, 400, "at most %d uids at a time", LDAP_IMPORT_MAX);
        goto done;
    }

    json_array_foreach(uids, i, v) {
        if (!json_is_string(v)
            || strlen(json_string_value(v)) != json_string_length(v))
        {
            http_error(r, 400, "\"ldap_uid_list\" must be a list of uids");
            goto done;
        }
    }

    failed = json_array();
    unavailable = 0;

    json_array_foreach(uids, i, v) {
        why = ldap_import_one(r, &lc, json_string_value(v), &unavailable);
        if (unavailable) {
            http_error(r, 503, "the LDAP server did not answer");
            goto done;
        }
        if (why != NULL) {
            json_array_append_new(failed, json_pack("{s:O, s:s}", "uid", v,
                                                    "error", why));
        }
    }

    if (json_array_size(failed) > 0) {
        http_json(r, 404, failed);
        failed = NULL;
    } else {
        http_text(r, 200, NULL, "");
    }

done:

    json_decref(failed);
    json_decref(body);
    dir_conf_free(&lc);
}
