/*
 * authd: the registries replication copies from and to, Harbor's API.
 *
 *   GET  /registries                 list (q: name, type, url), paginated
 *   POST /registries                 add one
 *   GET  /registries/{id}            one
 *   PUT  /registries/{id}            change it
 *   DELETE /registries/{id}          remove it (412 while a policy uses it)
 *   POST /registries/ping            test one, by id or by a body
 *   GET  /registries/{id}/info       what its adapter supports
 *   GET  /replication/adapters       the types
 *   GET  /replication/adapterinfos   each type, described
 *
 * System administrators only.  The secret of a credential is sealed in
 * the database (secret.c) and never returned: "*****" says one is set,
 * and "*****" sent back in an update keeps it.  Testing a connection
 * answers with the data plane's sentence, never with what the remote
 * sent (no SSRF oracle), and follows no redirect (repl.h).
 */

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "authd.h"


#define REG_SECRET_MASK  "*****"
#define REG_URL_MAX      1024
#define REG_CA_MAX       (32 * 1024)


struct reg_body {
    const char  *name;
    const char  *url;
    const char  *type;
    const char  *description;
    const char  *ca;
    const char  *cred_type;
    const char  *access_key;
    const char  *access_secret;
    int          insecure;
    int          has_insecure;
};


static const struct qfield  reg_fields[] = {
    { "name",  "name",  Q_TEXT, Q_EQ | Q_FUZZY, NULL },
    { "type",  "type",  Q_TEXT, Q_EQ | Q_ANY, NULL },
    { "url",   "url",   Q_TEXT, Q_EQ | Q_FUZZY, NULL },
};

static const struct qsort  reg_sort[] = {
    { "name",           "name" },
    { "id",             "id" },
    { "creation_time",  "creation_time" },
    { "update_time",    "update_time" },
};


#define REG_COLS                                                            \
    "id, name, url, type, description, insecure, ca_certificate,"          \
    " credential_type, access_key, access_secret <> '', status, "          \
    DB_TIME("creation_time") ", " DB_TIME("update_time")


int
remote_type(const char *s)
{
    if (strcmp(s, "harbor") == 0) {
        return REPL_TYPE_HARBOR;
    }
    if (strcmp(s, "docker-registry") == 0) {
        return REPL_TYPE_DOCKER_REGISTRY;
    }
    return 0;
}


static json_t *
reg_json(struct dbc *db, PGresult *res, int i)
{
    (void) db;

    return json_pack("{s:I, s:s, s:s, s:s, s:s, s:b, s:s,"
                     " s:{s:s, s:s, s:s}, s:s, s:o, s:o}",
                     "id", (json_int_t) db_ll(res, i, 0),
                     "name", db_s(res, i, 1),
                     "url", db_s(res, i, 2),
                     "type", db_s(res, i, 3),
                     "description", db_s(res, i, 4),
                     "insecure", db_b(res, i, 5),
                     "ca_certificate", db_s(res, i, 6),
                     "credential",
                         "type", db_s(res, i, 7),
                         "access_key", db_s(res, i, 8),
                         "access_secret", db_b(res, i, 9)
                                          ? REG_SECRET_MASK : "",
                     "status", db_s(res, i, 10),
                     "creation_time", db_json_s(res, i, 11),
                     "update_time", db_json_s(res, i, 12));
}


/*
 * A registry as a policy shows it: the stored one, or for id 0 this
 * instance ("Local", as Harbor calls it).  NULL if there is none.
 */
json_t *
remote_json(struct dbc *db, long long id)
{
    PGresult   *res;
    json_t     *j;
    char        ids[32];

    if (id == 0) {
        return json_pack("{s:I, s:s, s:s, s:s, s:s, s:b, s:s}",
                         "id", (json_int_t) 0, "name", "Local",
                         "url", repl_local_url(), "type", "harbor",
                         "description", "this instance", "insecure", 0,
                         "status", "healthy");
    }

    snprintf(ids, sizeof(ids), "%lld", id);
    res = db_execv(db, "SELECT " REG_COLS " FROM replication_registry"
                   " WHERE id = $1::integer", 1, ids);
    if (res == NULL) {
        return NULL;
    }

    j = PQntuples(res) == 1 ? reg_json(NULL, res, 0) : NULL;
    PQclear(res);

    return j;
}


/* scheme://host[:port] and nothing after but one '/', which goes */
static int
reg_url_ok(struct req *r, const char *url, char **out)
{
    const char  *host;
    char        *u, why[512];
    size_t       len;

    if (strncmp(url, "http://", 7) == 0) {
        host = url + 7;
    } else if (strncmp(url, "https://", 8) == 0) {
        host = url + 8;
    } else {
        http_error(r, 400, "\"url\" must start with http:// or https://");
        return -1;
    }

    len = strlen(url);
    if (url[len - 1] == '/') {
        len--;
    }

    if (host >= url + len
        || memchr(host, '/', (size_t) (url + len - host)) != NULL
        || strpbrk(url, " \t\r\n?#@\\") != NULL)
    {
        http_error(r, 400, "\"url\" must be scheme://host[:port], without"
                   " a path, credentials, query or spaces");
        return -1;
    }

    u = req_printf(r, "%.*s", (int) len, url);
    if (u == NULL) {
        http_error(r, 500, "out of memory");
        return -1;
    }

    /*
     * The SSRF guard: a loopback, private or link-local registry only
     * when outbound_allowlist names it.  A host that does not resolve now
     * may be saved; each connection is checked again when it is made.
     */
    if (outbound_check(u, why, sizeof(why)) < 0) {
        http_error(r, 400, "\"url\" is refused: %s", why);
        return -1;
    }

    *out = u;
    return 0;
}


/*
 * The fields of a body, allow-listed: Registry (credential{...}) or
 * RegistryUpdate and RegistryPing (credential_type, access_key,
 * access_secret at the top).  0, or -1 with the error sent.
 */
static int
reg_parse(struct req *r, json_t *body, struct reg_body *b)
{
    json_t  *cred;

    memset(b, 0, sizeof(*b));

    if (body_str(r, body, "name", &b->name, 255) < 0
        || body_str(r, body, "url", &b->url, REG_URL_MAX) < 0
        || body_str(r, body, "type", &b->type, 32) < 0
        || body_str(r, body, "description", &b->description, 1024) < 0
        || body_str(r, body, "ca_certificate", &b->ca, REG_CA_MAX) < 0
        || body_str(r, body, "credential_type", &b->cred_type, 16) < 0
        || body_str(r, body, "access_key", &b->access_key, 255) < 0
        || body_str(r, body, "access_secret", &b->access_secret,
                    AUTHD_PASSWORD_MAX) < 0)
    {
        return -1;
    }

    switch (body_bool(r, body, "insecure", &b->insecure)) {
    case -1:
        return -1;
    case 0:
        b->has_insecure = 1;
        break;
    }

    cred = json_object_get(body, "credential");
    if (cred != NULL && !json_is_null(cred)) {
        if (!json_is_object(cred)) {
            http_error(r, 400, "\"credential\" must be an object");
            return -1;
        }
        if (body_str(r, cred, "type", &b->cred_type, 16) < 0
            || body_str(r, cred, "access_key", &b->access_key, 255) < 0
            || body_str(r, cred, "access_secret", &b->access_secret,
                        AUTHD_PASSWORD_MAX) < 0)
        {
            return -1;
        }
    }

    if (b->cred_type != NULL && b->cred_type[0] != '\0'
        && strcmp(b->cred_type, "basic") != 0)
    {
        http_error(r, 400, "\"credential.type\" must be \"basic\"");
        return -1;
    }

    if (b->type != NULL && remote_type(b->type) == 0) {
        http_error(r, 400, "\"type\" must be \"harbor\" or"
                   " \"docker-registry\"");
        return -1;
    }

    if (b->name != NULL && b->name[0] == '\0') {
        http_error(r, 400, "\"name\" must not be empty");
        return -1;
    }

    return 0;
}


/* the id of a path segment, 0 with a 404 sent when it is not one */
long long
repl_path_id(struct req *r, const char *s, const char *what)
{
    char       *e;
    long long   id;

    errno = 0;
    id = strtoll(s, &e, 10);
    if (errno != 0 || *e != '\0' || id < 1 || s[0] == '\0'
        || id > 2147483647)
    {
        http_error(r, 404, "%s %.32s not found", what, s);
        return 0;
    }

    return id;
}


/*
 * A list of one of replication's tables, paginated: q (the fields f),
 * Harbor's older name= (fuzzy), sort (the keys k, by id otherwise), each
 * row made by row().
 */
void
repl_list(struct req *r, const char *table, const char *cols,
    const struct qfield *f, size_t nf, const struct qsort *k, size_t nk,
    json_t *(*row)(struct dbc *db, PGresult *res, int i))
{
    struct qitem   items[Q_ITEMS_MAX];
    struct qsql    s;
    PGresult      *res;
    const char    *order, *name;
    json_t        *list;
    long           page, page_size;
    int            n, i, p;
    char          *like;

    if (http_page(r, &page, &page_size) != 0
        || q_parse(r, http_arg(r, "q"), items, &n) != 0)
    {
        return;
    }

    q_init(&s, r);

    name = http_arg(r, "name");
    if (name != NULL) {
        like = q_like(r, name);
        p = like != NULL ? q_param(&s, like) : -1;
        if (p < 0 || q_add(&s, "name ILIKE $%d", p) != 0) {
            return;
        }
    }

    if (q_where(&s, items, n, f, nf) != 0) {
        return;
    }

    order = q_order(r, http_arg(r, "sort"), k, nk, "id");
    if (order == NULL
        || (order = req_printf(r, "%s, id", order)) == NULL)
    {
        return;
    }

    if (q_list(r, &s, req_printf(r, "SELECT count(*) FROM %s WHERE true",
                                 table),
               req_printf(r, "SELECT %s FROM %s WHERE true", cols, table),
               order, page, page_size, &res) != 0)
    {
        return;
    }

    list = json_array();
    for (i = 0; i < PQntuples(res); i++) {
        json_array_append_new(list, row(r->db, res, i));
    }
    PQclear(res);

    http_json(r, 200, list);
}


static void
reg_create(struct req *r)
{
    struct reg_body   b;
    json_t           *body;
    PGresult         *res;
    char             *url, *sealed, *loc;
    long long         id;

    body = http_body_json(r);
    if (body == NULL) {
        return;
    }

    sealed = NULL;

    if (reg_parse(r, body, &b) != 0) {
        goto done;
    }

    if (b.name == NULL || b.url == NULL || b.type == NULL) {
        http_error(r, 400, "\"name\", \"url\" and \"type\" are required");
        goto done;
    }

    if (reg_url_ok(r, b.url, &url) != 0) {
        goto done;
    }

    if (b.access_secret != NULL && b.access_secret[0] != '\0') {
        sealed = secret_seal(b.access_secret);
        if (sealed == NULL) {
            http_error(r, 500, "the secret could not be sealed");
            goto done;
        }
    }

    if (http_db(r) == NULL) {
        goto done;
    }

    res = db_execv(r->db, "INSERT INTO replication_registry (name, url,"
                   " type, description, insecure, ca_certificate,"
                   " credential_type, access_key, access_secret)"
                   " VALUES ($1, $2, $3, $4, $5, $6, 'basic', $7, $8)"
                   " RETURNING id", 8, b.name, url, b.type,
                   b.description != NULL ? b.description : "",
                   b.insecure ? "t" : "f", b.ca != NULL ? b.ca : "",
                   b.access_key != NULL ? b.access_key : "",
                   sealed != NULL ? sealed : "");
    if (res == NULL) {
        if (r->db->err == DB_ERR_CONFLICT) {
            http_error(r, 409, "a registry named \"%.255s\" exists already",
                       b.name);
        } else {
            http_db_error(r);
        }
        goto done;
    }

    id = db_ll(res, 0, 0);
    PQclear(res);

    audit_req(r, 0, "create", "registry", b.name);

    loc = req_printf(r, "/api/v2.0/registries/%lld", id);
    if (loc != NULL) {
        http_header(r, "Location", loc);
    }
    http_json(r, 201, json_object());

done:

    secret_free(sealed);
    json_decref(body);
}


/* GET /registries, POST /registries */
void
api_registries(struct req *r)
{
    if (http_need_sysadmin(r) != 0) {
        return;
    }

    if (r->method == M_POST) {
        reg_create(r);
    } else {
        repl_list(r, "replication_registry", REG_COLS, reg_fields,
                  nitems(reg_fields), reg_sort, nitems(reg_sort), reg_json);
    }
}


static void
reg_update(struct req *r, const char *ids)
{
    struct reg_body   b;
    json_t           *body;
    char             *url, *sealed;
    const char       *secret;
    long              n;

    body = http_body_json(r);
    if (body == NULL) {
        return;
    }

    sealed = NULL;
    url = NULL;

    if (reg_parse(r, body, &b) != 0) {
        goto done;
    }

    if (b.type != NULL) {
        http_error(r, 400, "the type of a registry cannot change");
        goto done;
    }

    if (b.url != NULL && reg_url_ok(r, b.url, &url) != 0) {
        goto done;
    }

    /* "*****" is what GET showed: the secret stays as it is */
    secret = b.access_secret;
    if (secret != NULL && strcmp(secret, REG_SECRET_MASK) == 0) {
        secret = NULL;
    }

    if (secret != NULL && secret[0] != '\0') {
        sealed = secret_seal(secret);
        if (sealed == NULL) {
            http_error(r, 500, "the secret could not be sealed");
            goto done;
        }
    }

    n = db_cmd(r->db, "UPDATE replication_registry SET"
               " name = COALESCE($2, name), url = COALESCE($3, url),"
               " description = COALESCE($4, description),"
               " insecure = COALESCE($5::boolean, insecure),"
               " ca_certificate = COALESCE($6, ca_certificate),"
               " access_key = COALESCE($7, access_key),"
               " access_secret = CASE WHEN $8::boolean THEN $9"
               " ELSE access_secret END, status = 'unknown',"
               " update_time = now() WHERE id = $1::integer", 9, ids,
               b.name, url, b.description,
               b.has_insecure ? (b.insecure ? "t" : "f") : NULL, b.ca,
               b.access_key, secret != NULL ? "t" : "f",
               sealed != NULL ? sealed : "");
    if (n < 0) {
        if (r->db->err == DB_ERR_CONFLICT) {
            http_error(r, 409, "a registry named \"%.255s\" exists already",
                       b.name != NULL ? b.name : "");
        } else {
            http_db_error(r);
        }
        goto done;
    }
    if (n == 0) {
        http_error(r, 404, "registry %s not found", ids);
        goto done;
    }

    audit_req(r, 0, "update", "registry", ids);
    http_json(r, 200, json_object());

done:

    secret_free(sealed);
    json_decref(body);
}


static void
reg_delete(struct req *r, const char *ids)
{
    PGresult   *res;
    long        n;

    res = db_execv(r->db, "SELECT string_agg(name, ', ' ORDER BY id)"
                   " FROM replication_policy WHERE src_registry_id ="
                   " $1::integer OR dest_registry_id = $1::integer", 1, ids);
    if (res == NULL) {
        http_db_error(r);
        return;
    }

    if (!PQgetisnull(res, 0, 0)) {
        http_error(r, 412, "the registry %s is used by the replication"
                   " policies %.512s: delete or change them first", ids,
                   db_s(res, 0, 0));
        PQclear(res);
        return;
    }
    PQclear(res);

    n = db_cmd(r->db, "DELETE FROM replication_registry"
               " WHERE id = $1::integer", 1, ids);
    if (n < 0) {
        /* a policy that came in between: the foreign key said no */
        http_error(r, 412, "the registry %s is used by a replication"
                   " policy", ids);
        return;
    }
    if (n == 0) {
        http_error(r, 404, "registry %s not found", ids);
        return;
    }

    audit_req(r, 0, "delete", "registry", ids);
    http_json(r, 200, json_object());
}


/* GET, PUT, DELETE /registries/{id} */
void
api_registry(struct req *r)
{
    PGresult   *res;
    char        ids[32];
    long long   id;

    if (http_need_sysadmin(r) != 0 || (id = repl_path_id(r, r->seg[3], "registry")) == 0
        || http_db(r) == NULL)
    {
        return;
    }

    snprintf(ids, sizeof(ids), "%lld", id);

    if (r->method == M_PUT) {
        reg_update(r, ids);
        return;
    }

    if (r->method == M_DELETE) {
        reg_delete(r, ids);
        return;
    }

    res = db_execv(r->db, "SELECT " REG_COLS " FROM replication_registry"
                   " WHERE id = $1::integer", 1, ids);
    if (res == NULL) {
        http_db_error(r);
        return;
    }
    if (PQntuples(res) == 0) {
        PQclear(res);
        http_error(r, 404, "registry %s not found", ids);
        return;
    }

    http_json(r, 200, reg_json(NULL, res, 0));
    PQclear(res);
}


/*
 * A registry, with its secret opened, for a copy or a ping: 0, 1 when
 * there is no such registry, -1 on an error (err says which).
 */
int
remote_load(struct dbc *db, long long id, struct remote *rm, char *err,
    size_t errlen)
{
    PGresult   *res;
    char        ids[32];
    const char *sealed;

    memset(rm, 0, sizeof(*rm));
    snprintf(ids, sizeof(ids), "%lld", id);

    res = db_execv(db, "SELECT name, url, type, insecure, ca_certificate,"
                   " access_key, access_secret FROM replication_registry"
                   " WHERE id = $1::integer", 1, ids);
    if (res == NULL) {
        snprintf(err, errlen, "the database is unavailable");
        return -1;
    }
    if (PQntuples(res) == 0) {
        PQclear(res);
        snprintf(err, errlen, "registry %lld not found", id);
        return 1;
    }

    rm->id = id;
    snprintf(rm->name, sizeof(rm->name), "%s", db_s(res, 0, 0));
    snprintf(rm->url, sizeof(rm->url), "%s", db_s(res, 0, 1));
    snprintf(rm->username, sizeof(rm->username), "%s", db_s(res, 0, 5));
    rm->type = remote_type(db_s(res, 0, 2));
    rm->insecure = db_b(res, 0, 3);
    rm->ca_pem = db_s(res, 0, 4)[0] ? strdup(db_s(res, 0, 4)) : NULL;

    sealed = db_s(res, 0, 6);
    if (sealed[0] != '\0') {
        rm->password = secret_open(sealed);
        if (rm->password == NULL) {
            snprintf(err, errlen, "the secret of registry \"%s\" does not"
                     " open with this authd's secret key: set it again",
                     rm->name);
            PQclear(res);
            remote_free(rm);
            return -1;
        }
    }
    PQclear(res);

    return 0;
}


void
remote_endpoint(const struct remote *rm, struct repl_endpoint *ep)
{
    memset(ep, 0, sizeof(*ep));
    ep->type = rm->type;
    ep->url = rm->url;
    ep->username = rm->username[0] ? rm->username : NULL;
    ep->password = rm->password;
    ep->insecure = rm->insecure;
    ep->ca_pem = rm->ca_pem;
    ep->guarded = 1;
}


void
remote_free(struct remote *rm)
{
    secret_free(rm->password);
    free(rm->ca_pem);
    rm->password = NULL;
    rm->ca_pem = NULL;
}


/* POST /registries/ping: {id} or {type, url, access_key, ...} */
void
api_registry_ping(struct req *r)
{
    struct reg_body        b;
    struct remote          rm;
    struct repl_endpoint   ep;
    json_t                *body;
    long long              id;
    char                   err[REPL_ERR_MAX], ids[32], *url;
    int                    rc, have;

    if (http_need_sysadmin(r) != 0 || http_db(r) == NULL) {
        return;
    }

    body = http_body_json(r);
    if (body == NULL) {
        return;
    }

    memset(&rm, 0, sizeof(rm));
    have = 0;

    if (reg_parse(r, body, &b) != 0) {
        goto done;
    }

    switch (body_int(r, body, "id", &id)) {
    case -1:
        goto done;
    case 0:
        if (id < 1 || id > 2147483647) {
            http_error(r, 404, "registry %lld not found", id);
            goto done;
        }
        rc = remote_load(r->db, id, &rm, err, sizeof(err));
        if (rc != 0) {
            http_error(r, rc == 1 ? 404 : 503, "%s", err);
            goto done;
        }
        have = 1;
        break;
    default:
        id = 0;
        if (b.type == NULL || b.url == NULL) {
            http_error(r, 400, "\"id\", or \"type\" and \"url\", are"
                       " required");
            goto done;
        }
        break;
    }

    /* what the body says overrides the stored registry: "test" in an edit */
    if (b.url != NULL) {
        if (reg_url_ok(r, b.url, &url) != 0) {
            goto done;
        }
        snprintf(rm.url, sizeof(rm.url), "%s", url);
    }
    if (b.type != NULL) {
        rm.type = remote_type(b.type);
    }
    if (b.has_insecure) {
        rm.insecure = b.insecure;
    }
    if (b.access_key != NULL) {
        snprintf(rm.username, sizeof(rm.username), "%s", b.access_key);
    }
    if (b.access_secret != NULL && strcmp(b.access_secret, REG_SECRET_MASK)
                                   != 0)
    {
        secret_free(rm.password);
        rm.password = b.access_secret[0] ? strdup(b.access_secret) : NULL;
    }
    if (b.ca != NULL) {
        free(rm.ca_pem);
        rm.ca_pem = b.ca[0] ? strdup(b.ca) : NULL;
    }

    remote_endpoint(&rm, &ep);
    err[0] = '\0';
    rc = repl_ping(&ep, err, sizeof(err));

    if (have) {
        snprintf(ids, sizeof(ids), "%lld", id);
        db_cmd(r->db, "UPDATE replication_registry SET status = $2"
               " WHERE id = $1::integer", 2, ids,
               rc == REPL_OK ? "healthy" : "unhealthy");
    }

    if (rc != REPL_OK) {
        http_error(r, 400, "%s", err[0] ? err : "the registry did not"
                   " answer as one");
        goto done;
    }

    http_json(r, 200, json_object());

done:

    remote_free(&rm);
    json_decref(body);
}


static json_t *
reg_info(const char *type)
{
    return json_pack("{s:s, s:s, s:[{s:s, s:s}, {s:s, s:s},"
                     " {s:s, s:s, s:[s, s]}], s:[s, s, s],"
                     " s:b}",
                     "type", type,
                     "description", strcmp(type, "harbor") == 0
                         ? "Harbor 2.x and ngx-harbor, listed through"
                           " /api/v2.0"
                         : "any registry with /v2/_catalog (distribution,"
                           " zot)",
                     "supported_resource_filters",
                         "type", "name", "style", "input",
                         "type", "tag", "style", "input",
                         "type", "resource", "style", "radio", "values",
                             "image", "artifact",
                     "supported_triggers", "manual", "scheduled",
                         "event_based",
                     "supported_copy_by_chunk", 1);
}


/* GET /registries/{id}/info */
void
api_registry_info(struct req *r)
{
    PGresult   *res;
    char        ids[32];
    long long   id;

    if (http_need_sysadmin(r) != 0 || (id = repl_path_id(r, r->seg[3], "registry")) == 0
        || http_db(r) == NULL)
    {
        return;
    }

    snprintf(ids, sizeof(ids), "%lld", id);
    res = db_execv(r->db, "SELECT type FROM replication_registry"
                   " WHERE id = $1::integer", 1, ids);
    if (res == NULL) {
        http_db_error(r);
        return;
    }
    if (PQntuples(res) == 0) {
        PQclear(res);
        http_error(r, 404, "registry %s not found", ids);
        return;
    }

    http_json(r, 200, reg_info(db_s(res, 0, 0)));
    PQclear(res);
}


/* GET /replication/adapters */
void
api_repl_adapters(struct req *r)
{
    if (http_need_sysadmin(r) != 0) {
        return;
    }

    http_json(r, 200, json_pack("[s, s]", "docker-registry", "harbor"));
}


/* GET /replication/adapterinfos */
void
api_repl_adapterinfos(struct req *r)
{
    json_t  *j, *i;

    if (http_need_sysadmin(r) != 0) {
        return;
    }

    j = json_object();
    i = reg_info("docker-registry");
    json_object_set_new(i, "endpoint_pattern", json_pack("{s:s}",
                        "endpoint_type", "EndpointPatternTypeStandard"));
    json_object_set_new(i, "credential_pattern", json_pack("{s:s, s:s}",
                        "access_key_type", "AccessKeyTypeStandard",
                        "access_secret_type", "AccessSecretTypeStandard"));
    json_object_set_new(j, "docker-registry", i);

    i = reg_info("harbor");
    json_object_set_new(i, "endpoint_pattern", json_pack("{s:s}",
                        "endpoint_type", "EndpointPatternTypeStandard"));
    json_object_set_new(i, "credential_pattern", json_pack("{s:s, s:s}",
                        "access_key_type", "AccessKeyTypeStandard",
                        "access_secret_type", "AccessSecretTypeStandard"));
    json_object_set_new(j, "harbor", i);

    http_json(r, 200, j);
}
