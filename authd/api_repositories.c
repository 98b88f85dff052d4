/*
 * authd: /api/v2.0/repositories and /projects/{p}/repositories[/{r}].
 *
 * {r} is the repository's name without its project, URL-encoded twice
 * by Harbor's clients ("a%252Fb" for p/a/b); encoded once is taken too.
 * A repository is always looked up through the project of the path:
 * (project_id, full name); one of another project is 404.
 *
 * Repository: id, project_id, name (full), description, artifact_count,
 * pull_count, creation_time, update_time.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "authd.h"
#include "harbor_grammar.h"


#define REPO_COLUMNS                                                        \
    "r.repository_id, r.project_id, r.name, r.description,"                 \
    " (SELECT count(*) FROM artifact ca WHERE"                              \
    " ca.repository_id = r.repository_id AND " ARTIFACT_TOP_LEVEL("ca")     \
    "), r.pull_count, " DB_TIME("r.creation_time") ", "                     \
    DB_TIME("r.update_time")


static const struct qfield  repo_fields[] = {
    { "name",        "r.name",           Q_TEXT, Q_EQ | Q_FUZZY | Q_ANY,
                                                                      NULL },
    { "project_id",  "r.project_id",     Q_INT,  Q_EQ | Q_ANY, NULL },
    { "id",          "r.repository_id",  Q_INT,  Q_EQ | Q_ANY, NULL },
    { "pull_count",  "r.pull_count",     Q_INT,  Q_EQ | Q_RANGE, NULL },
    { "creation_time", "r.creation_time", Q_TIME, Q_EQ | Q_RANGE, NULL },
    { "update_time", "r.update_time",    Q_TIME, Q_EQ | Q_RANGE, NULL },
    /* the repositories holding a blob (its manifest, config or a layer):
       Harbor's replication adapter asks before it pushes a blob, to mount
       it from there (adapter/harbor/v2/client.go) */
    { "blob_digest", "b.digest",         Q_TEXT, Q_EQ | Q_ANY,
      "EXISTS (SELECT 1 FROM artifact ba JOIN artifact_blob b"
      " ON b.artifact_id = ba.id WHERE ba.repository_id = r.repository_id"
      " AND %s)" },
};

static const struct qsort  repo_sort[] = {
    { "name",           "r.name" },
    { "id",             "r.repository_id" },
    { "creation_time",  "r.creation_time" },
    { "update_time",    "r.update_time" },
    { "pull_count",     "r.pull_count" },
};


static json_t *
repo_json(PGresult *res, int row)
{
    return json_pack("{s:I, s:I, s:s, s:s, s:I, s:I, s:o, s:o}",
                     "id", (json_int_t) db_ll(res, row, 0),
                     "project_id", (json_int_t) db_ll(res, row, 1),
                     "name", db_s(res, row, 2),
                     "description", db_s(res, row, 3),
                     "artifact_count", (json_int_t) db_ll(res, row, 4),
                     "pull_count", (json_int_t) db_ll(res, row, 5),
                     "creation_time", db_json_s(res, row, 6),
                     "update_time", db_json_s(res, row, 7));
}


/*
 * The repository {seg} of project p: 0 with *rp, or -1 with 404/400 sent.
 */
int
repo_load(struct req *r, struct project *p, const char *seg, struct repo *rp)
{
    PGresult  *res;
    char      *rest, pid[32];
    int        n;

    memset(rp, 0, sizeof(*rp));

    rest = req_strdup(r, seg);
    if (rest == NULL || http_decode_segment(rest) != 0) {
        http_error(r, 400, "bad percent-encoding in the repository name");
        return -1;
    }

    n = snprintf(rp->name, sizeof(rp->name), "%s/%s", p->name, rest);
    if (n < 0 || (size_t) n >= sizeof(rp->name)
        || !hb_name_valid((unsigned char *) rp->name, (size_t) n))
    {
        http_error(r, 404, "repository %.255s not found", rest);
        return -1;
    }

    snprintf(pid, sizeof(pid), "%lld", p->id);

    res = db_execv(r->db, "SELECT repository_id FROM repository"
                   " WHERE name = $1 AND project_id = $2", 2, rp->name, pid);
    if (res == NULL) {
        http_db_error(r);
        return -1;
    }

    if (PQntuples(res) != 1) {
        PQclear(res);
        http_error(r, 404, "repository %s not found", rp->name);
        return -1;
    }

    rp->id = db_ll(res, 0, 0);
    PQclear(res);

    return 0;
}


/* a list of repositories; project_id 0: every project the caller sees */
static void
repos_list(struct req *r, long long project_id)
{
    struct qitem   items[Q_ITEMS_MAX];
    struct qsql    s;
    PGresult      *res;
    const char    *order, *sql;
    char          *v;
    json_t        *list;
    long           page, page_size;
    int            n, i, a, b;

    if (http_page(r, &page, &page_size) != 0
        || q_parse(r, http_arg(r, "q"), items, &n) != 0)
    {
        return;
    }

    q_init(&s, r);

    if (project_id != 0) {
        v = req_printf(r, "%lld", project_id);
        a = v != NULL ? q_param(&s, v) : -1;
        if (a < 0 || q_add(&s, "r.project_id = $%d::integer", a) != 0) {
            return;
        }

    } else if (!r->user.sysadmin) {
        /* (an administrator sees all: no condition, the index's order) */
        a = q_param(&s, "f");
        v = req_printf(r, "%lld", r->user.id);
        b = v != NULL ? q_param(&s, v) : -1;
        if (a < 0 || b < 0) {
            return;
        }

        sql = req_printf(r, PROJECT_VISIBLE("r.project_id", "$%d", "$%d"),
                         a, b, b);
        if (sql == NULL || q_add(&s, "%s", sql) != 0) {
            return;
        }
    }

    if (q_where(&s, items, n, repo_fields, nitems(repo_fields)) != 0) {
        return;
    }

    order = q_order(r, http_arg(r, "sort"), repo_sort, nitems(repo_sort),
                    "r.creation_time DESC");
    if (order == NULL) {
        return;
    }

    order = req_printf(r, "%s, r.repository_id DESC", order);

    s.key = "r.repository_id";
    if (q_list(r, &s, "SELECT count(*) FROM repository r WHERE true",
               "SELECT " REPO_COLUMNS " FROM repository r WHERE true",
               order, page, page_size, &res) != 0)
    {
        return;
    }

    list = json_array();
    for (i = 0; i < PQntuples(res); i++) {
        json_array_append_new(list, repo_json(res, i));
    }
    PQclear(res);

    http_json(r, 200, list);
}


/* GET /repositories: what the caller may see, every project */
void
api_repositories_all(struct req *r)
{
    if (http_db(r) == NULL) {
        return;
    }

    repos_list(r, 0);
}


/* GET /projects/{p}/repositories */
void
api_repositories(struct req *r)
{
    struct project  p;

    if (project_load(r, r->seg[3], &p) != 0
        || !project_can(r, &p, "repository", "list"))
    {
        return;
    }

    repos_list(r, p.id);
}


static void
repo_get(struct req *r, struct repo *rp)
{
    PGresult  *res;
    char       id[32];

    snprintf(id, sizeof(id), "%lld", rp->id);

    res = db_execv(r->db, "SELECT " REPO_COLUMNS " FROM repository r"
                   " WHERE r.repository_id = $1", 1, id);
    if (res == NULL) {
        http_db_error(r);
        return;
    }

    if (PQntuples(res) != 1) {
        PQclear(res);
        http_error(r, 404, "repository not found");
        return;
    }

    http_json(r, 200, repo_json(res, 0));
    PQclear(res);
}


/* PUT {description}: nothing else of a repository is the client's */
static void
repo_update(struct req *r, struct project *p, struct repo *rp)
{
    json_t      *body;
    const char  *desc;
    char         id[32];

    body = http_body_json(r);
    if (body == NULL) {
        return;
    }

    if (body_str(r, body, "description", &desc, 32768) < 0) {
        goto done;
    }

    if (desc == NULL) {
        http_error(r, 400, "\"description\" is required");
        goto done;
    }

    snprintf(id, sizeof(id), "%lld", rp->id);

    if (db_cmd(r->db, "UPDATE repository SET description = $2,"
               " update_time = now() WHERE repository_id = $1", 2, id, desc)
        != 1)
    {
        http_db_error(r);
        goto done;
    }

    audit_req(r, p->id, "update", "repository", rp->name);
    http_text(r, 200, NULL, "");

done:

    json_decref(body);
}


struct repo_digests {
    char  **d;
    int     n;
    int     cap;
};


static int
repo_digest_add(struct repo_digests *l, const char *digest)
{
    char  **n;
    int     i;

    for (i = 0; i < l->n; i++) {
        if (strcmp(l->d[i], digest) == 0) {
            return 0;
        }
    }

    if (l->n == l->cap) {
        l->cap = l->cap ? l->cap * 2 : 32;
        n = realloc(l->d, (size_t) l->cap * sizeof(char *));
        if (n == NULL) {
            return -1;
        }
        l->d = n;
    }

    l->d[l->n] = strdup(digest);
    if (l->d[l->n] == NULL) {
        return -1;
    }
    l->n++;

    return 0;
}


static int
repo_digest_cb(const char *key, const char *digest, time_t mtime, void *arg)
{
    (void) key;
    (void) mtime;

    return repo_digest_add(arg, digest);
}


/*
 * DELETE: every manifest of it through /v2 (the module removes the
 * links, the journal records each), then the row.
 */
static void
repo_delete(struct req *r, struct project *p, struct repo *rp)
{
    struct repo_digests  l;
    PGresult            *res;
    char                 id[32], err[REG_ERR_MAX];
    int                  i, status;

    if (!registry_enabled()) {
        http_error(r, 503, "deleting needs authd.registry_url, the nginx "
                   "that serves /v2");
        return;
    }

    memset(&l, 0, sizeof(l));
    snprintf(id, sizeof(id), "%lld", rp->id);

    res = db_execv(r->db, "SELECT digest FROM artifact WHERE"
                   " repository_id = $1", 1, id);
    if (res == NULL) {
        http_db_error(r);
        return;
    }

    for (i = 0; i < PQntuples(res); i++) {
        if (repo_digest_add(&l, db_s(res, i, 0)) != 0) {
            break;
        }
    }
    PQclear(res);

    /* and what storage has that no row knows yet */
    if (store_revisions(rp->name, repo_digest_cb, &l) != 0) {
        log_warnx("repository %s: its revisions could not be listed",
                  rp->name);
    }

    /* the database connection is not held across the /v2 requests */
    db_put(r->db);
    r->db = NULL;

    for (i = 0; i < l.n; i++) {
        status = registry_delete(r->user.name, rp->name, l.d[i], err,
                                 sizeof(err));
        if (status != 202 && status != 404) {
            /* 412: an immutable tag points at it (docs/policies.md) */
            http_error(r, status < 0 ? 503 : status == 412 ? 412 : 502,
                       "deleting %s@%s: %s", rp->name, l.d[i], err);
            goto done;
        }
    }

    if (http_db(r) == NULL) {
        goto done;
    }

    meta_lock();
    i = db_cmd(r->db, "DELETE FROM repository WHERE repository_id = $1", 1,
               id) < 0;
    meta_unlock();

    if (i) {
        http_db_error(r);
        goto done;
    }

    audit_req(r, p->id, "delete", "repository", rp->name);
    log_info("user \"%s\" deleted repository %s (%d manifests)",
             r->user.name, rp->name, l.n);

    http_text(r, 200, NULL, "");

done:

    for (i = 0; i < l.n; i++) {
        free(l.d[i]);
    }
    free(l.d);
}


/* /projects/{p}/repositories/{r}: GET, PUT, DELETE */
void
api_repository(struct req *r)
{
    struct project  p;
    struct repo     rp;
    const char     *action;

    action = r->method == M_PUT ? "update"
             : r->method == M_DELETE ? "delete" : "read";

    if (project_load(r, r->seg[3], &p) != 0
        || !project_can(r, &p, "repository", action)
        || repo_load(r, &p, r->seg[5], &rp) != 0)
    {
        return;
    }

    switch (r->method) {
    case M_PUT:
        repo_update(r, &p, &rp);
        break;
    case M_DELETE:
        repo_delete(r, &p, &rp);
        break;
    default:
        repo_get(r, &rp);
        break;
    }
}
