/*
 * authd: /api/v2.0/search and /api/v2.0/statistics.
 *
 * Both count and list only what the caller may see, decided in the SQL
 * (public projects, projects the caller is a member of, everything for
 * system administrators): a search never names a private repository to
 * someone outside its project.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "authd.h"


#define SEARCH_MAX  100


/*
 * GET /search?q=abc: {project: [Project], repository: [{project_id,
 * project_name, project_public, repository_name, pull_count,
 * artifact_count}]}, names containing q (taken literally), at most 100
 * of each.
 */
void
api_search(struct req *r)
{
    const char  *q;
    char        *like, uid[32], max[16];
    json_t      *projects, *repos;
    PGresult    *res;
    int          i;

    q = http_arg(r, "q");
    if (q == NULL) {
        q = "";
    }

    if (strlen(q) > 255) {
        http_error(r, 400, "q is longer than 255 bytes");
        return;
    }

    like = q_like(r, q);
    if (like == NULL || http_db(r) == NULL) {
        return;
    }

    projects = project_search(r, like, SEARCH_MAX);
    if (projects == NULL) {
        return;
    }

    snprintf(uid, sizeof(uid), "%lld", r->user.id);
    snprintf(max, sizeof(max), "%d", SEARCH_MAX);

    res = db_execv(r->db, "SELECT r.project_id, p.name, "
                   PROJECT_PUBLIC("r.project_id") ", r.name, r.pull_count,"
                   " (SELECT count(*) FROM artifact ca WHERE"
                   " ca.repository_id = r.repository_id AND "
                   ARTIFACT_TOP_LEVEL("ca") ")"
                   " FROM repository r JOIN projects p"
                   " ON p.project_id = r.project_id"
                   " WHERE NOT p.deleted AND r.name LIKE $3 AND "
                   PROJECT_VISIBLE("r.project_id", "$1", "$2")
                   " ORDER BY r.name LIMIT $4::integer", 4,
                   r->user.sysadmin ? "t" : "f", uid, like, max);
    if (res == NULL) {
        json_decref(projects);
        http_db_error(r);
        return;
    }

    repos = json_array();
    for (i = 0; i < PQntuples(res); i++) {
        json_array_append_new(repos, json_pack(
            "{s:I, s:s, s:b, s:s, s:I, s:I}",
            "project_id", (json_int_t) db_ll(res, i, 0),
            "project_name", db_s(res, i, 1),
            "project_public", db_b(res, i, 2),
            "repository_name", db_s(res, i, 3),
            "pull_count", (json_int_t) db_ll(res, i, 4),
            "artifact_count", (json_int_t) db_ll(res, i, 5)));
    }
    PQclear(res);

    http_json(r, 200, json_pack("{s:o, s:o}", "project", projects,
                                "repository", repos));
}


/*
 * GET /statistics (users): public_* for every public project; private_*
 * for the private projects the caller is a member of (all of them for a
 * system administrator, who also gets total_* and the storage the
 * registry's artifacts take, each blob counted once).
 */
void
api_statistics(struct req *r)
{
    PGresult  *res;
    json_t    *j;
    char       uid[32];

    if (http_need_user(r) != 0 || http_db(r) == NULL) {
        return;
    }

    snprintf(uid, sizeof(uid), "%lld", r->user.id);

#define STAT_PRIVATE                                                        \
    "NOT " PROJECT_PUBLIC("p.project_id") " AND ($1::boolean OR "          \
    PROJECT_ROLES("p.project_id", "$2::integer") " IS NOT NULL)"

    res = db_execv(r->db, "SELECT"
        " (SELECT count(*) FROM projects p WHERE NOT p.deleted AND "
        PROJECT_PUBLIC("p.project_id") "),"
        " (SELECT count(*) FROM projects p WHERE NOT p.deleted AND "
        STAT_PRIVATE "),"
        " (SELECT count(*) FROM repository r JOIN projects p"
        " ON p.project_id = r.project_id WHERE NOT p.deleted AND "
        PROJECT_PUBLIC("p.project_id") "),"
        " (SELECT count(*) FROM repository r JOIN projects p"
        " ON p.project_id = r.project_id WHERE NOT p.deleted AND "
        STAT_PRIVATE "),"
        " (SELECT count(*) FROM projects p WHERE NOT p.deleted),"
        " (SELECT count(*) FROM repository r),"
        " (SELECT COALESCE(sum(size), 0) FROM (SELECT DISTINCT digest, size"
        " FROM artifact_blob) b)", 2, r->user.sysadmin ? "t" : "f", uid);
    if (res == NULL) {
        http_db_error(r);
        return;
    }

    j = json_pack("{s:I, s:I, s:I, s:I}",
                  "public_project_count", (json_int_t) db_ll(res, 0, 0),
                  "private_project_count", (json_int_t) db_ll(res, 0, 1),
                  "public_repo_count", (json_int_t) db_ll(res, 0, 2),
                  "private_repo_count", (json_int_t) db_ll(res, 0, 3));

    if (r->user.sysadmin && j != NULL) {
        json_object_set_new(j, "total_project_count",
                            json_integer(db_ll(res, 0, 4)));
        json_object_set_new(j, "total_repo_count",
                            json_integer(db_ll(res, 0, 5)));
        json_object_set_new(j, "total_storage_consumption",
                            json_integer(db_ll(res, 0, 6)));
    }

    PQclear(res);

    http_json(r, 200, j);
}
