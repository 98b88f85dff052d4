/*
 * authd: proxy cache projects.
 *
 * A project created with registry_id is a proxy cache of that registry
 * endpoint (Harbor's proxy cache): <project>/<path> is <path> upstream
 * (a one-component path on Docker Hub is library/<path>).  authd writes
 * <storage>/_policies/proxy/<project> for each such project ("recheck
 * <seconds>"), which the module reads for a manifest GET or HEAD (each
 * worker keeps what it read for up to 1 s): a
 * manifest that is not in the storage, or a tag whose link is older than
 * the recheck interval, comes here (GET /_harbor/proxy-fetch?name=&ref=,
 * an internal location of nginx).  This file then:
 *
 *  - checks the caller's bearer token (authd signed it) grants pull on
 *    the repository, whatever nginx said;
 *  - for a tag here already, asks the upstream for its digest (one
 *    manifest HEAD); the same digest, or an upstream that does not
 *    answer, is served from here, and the tag's link renewed, so the next
 *    check comes one interval later;
 *  - otherwise copies the artifact from the upstream into this instance
 *    with replication's data plane (repl_copy: every blob eagerly, then
 *    the manifest, through the local /v2 with a token authd signs for
 *    itself; the upstream's address passes the SSRF guard);
 *  - answers X-Accel-Redirect: /v2/<name>/manifests/<ref>, which nginx
 *    serves from the storage without coming here again.
 *
 * Pushes to a proxy cache project are refused by the token service
 * (token.c).  docs/policies.md tells the whole story.
 */

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "authd.h"
#include "harbor_jwt.h"
#include "harbor_policy.h"


#define PROXY_TOKEN_TTL   3600               /* one fetch, at most */
#define PROXY_LEEWAY      60                 /* seconds of clock skew */


static pthread_mutex_t  proxy_mtx = PTHREAD_MUTEX_INITIALIZER;


/* <storage>/_policies/proxy/<name>, its directories made: 0, or -1 */
static int
proxy_path(char *buf, size_t len, const char *name, int mkdirs)
{
    const char  *s;
    int          n;

    s = conf->registry_storage;
    if (s == NULL) {
        return -1;
    }

    if (mkdirs) {
        n = snprintf(buf, len, "%s/_policies", s);
        if (n < 0 || (size_t) n >= len
            || (mkdir(buf, 0755) == -1 && errno != EEXIST))
        {
            return -1;
        }

        n = snprintf(buf, len, "%s" HB_POLICY_PROXY, s);
        if (n < 0 || (size_t) n >= len
            || (mkdir(buf, 0755) == -1 && errno != EEXIST))
        {
            return -1;
        }
    }

    return hb_policy_path(buf, len, s, strlen(s), HB_POLICY_PROXY, name,
                          strlen(name)) < 0 ? -1 : 0;
}


/* the module's file for proxy cache project name: 0, or -1 (logged) */
int
proxy_sync(const char *name)
{
    BIO   *bio;
    char   path[PATH_MAX], line[64];
    int    n, rc;

    if (proxy_path(path, sizeof(path), name, 1) != 0) {
        log_warnx("proxy cache project \"%s\": no place to write its file",
                  name);
        return -1;
    }

    n = snprintf(line, sizeof(line), "recheck %d\n", conf->proxy_recheck);

    bio = BIO_new(BIO_s_mem());
    if (bio == NULL || BIO_write(bio, line, n) != n) {
        BIO_free(bio);
        return -1;
    }

    pthread_mutex_lock(&proxy_mtx);
    rc = keys_write(path, 0644, bio);
    pthread_mutex_unlock(&proxy_mtx);

    BIO_free(bio);

    return rc;
}


/* a project is gone: its name is no longer a proxy cache */
void
proxy_forget(const char *name)
{
    char  path[PATH_MAX];

    if (proxy_path(path, sizeof(path), name, 0) == 0
        && unlink(path) == -1 && errno != ENOENT)
    {
        log_warn("unlink \"%s\"", path);
    }
}


static int
proxy_sync_one(struct dbc *db, long long project_id, const char *name)
{
    (void) db;
    (void) project_id;

    return proxy_sync(name);
}


/* at start: every proxy cache project's file written again; 0, or -1 */
int
proxy_sync_all(void)
{
    return policy_sync_all("SELECT project_id, name FROM projects"
                           " WHERE NOT deleted AND registry_id IS NOT NULL",
                           proxy_sync_one);
}


/* an error as a registry client reads it (OCI's error JSON) */
static void
proxy_error(struct req *r, int status, const char *code, const char *fmt,
    ...)
{
    va_list  ap;
    char     msg[REPL_ERR_MAX + 256];

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);

    http_json(r, status, json_pack("{s:[{s:s, s:s, s:n}]}", "errors",
                                   "code", code, "message", msg,
                                   "detail"));
}


/* Does the caller's bearer token grant pull on name?  1, or 0 */
static int
proxy_may_pull(struct req *r, const char *name)
{
    const char  *h, *tok;
    json_t      *claims, *access, *a, *acts, *v;
    size_t       i, j;
    char         err[128];
    int          ok;

    /* the client's Authorization header, as nginx hands it over */
    h = http_header_in(r, "X-Harbor-Registry-Token");
    if (h == NULL || strncasecmp(h, "Bearer ", 7) != 0) {
        return 0;
    }

    for (tok = h + 7; *tok == ' '; tok++) { /* void */ }

    claims = NULL;
    if (hb_jwt_verify(token_key.key, tok, strlen(tok), conf->token_issuer,
                      conf->token_service, time(NULL), PROXY_LEEWAY,
                      &claims, err, sizeof(err)) != 0)
    {
        log_info("proxy cache: a token for %s refused: %s", name, err);
        return 0;
    }

    ok = 0;
    access = json_object_get(claims, "access");

    json_array_foreach(access, i, a) {
        if (!json_is_string(json_object_get(a, "type"))
            || strcmp(json_string_value(json_object_get(a, "type")),
                      "repository") != 0
            || !json_is_string(json_object_get(a, "name"))
            || strcmp(json_string_value(json_object_get(a, "name")),
                      name) != 0)
        {
            continue;
        }

        acts = json_object_get(a, "actions");
        json_array_foreach(acts, j, v) {
            if (json_is_string(v)
                && (strcmp(json_string_value(v), "pull") == 0
                    || strcmp(json_string_value(v), "*") == 0))
            {
                ok = 1;
            }
        }
    }

    json_decref(claims);

    return ok;
}


/* the upstream's name of <project>/<path>: <path>, library/ on the Hub */
static int
proxy_upstream_repo(const struct remote *rm, const char *path, char *buf,
    size_t len)
{
    int  n, hub;

    hub = strstr(rm->url, "://registry-1.docker.io") != NULL
          || strstr(rm->url, "://docker.io") != NULL
          || strstr(rm->url, "://index.docker.io") != NULL;

    n = snprintf(buf, len, "%s%s",
                 hub && strchr(path, '/') == NULL ? "library/" : "", path);

    return n < 0 || (size_t) n >= len ? -1 : 0;
}


static void
proxy_digest_cb(void *arg, size_t i, const char *digest)
{
    (void) i;

    snprintf(arg, HB_DIGEST_MAX + 1, "%s", digest);
}


/* the answer nginx serves from the storage */
static void
proxy_serve(struct req *r, const char *name, const char *ref, int renew)
{
    char  *uri;

    uri = req_printf(r, "/v2/%s/manifests/%s%s", name, ref,
                     renew ? "?harbor_proxy=renew" : "");
    if (uri == NULL) {
        proxy_error(r, 500, "UNKNOWN", "out of memory");
        return;
    }

    http_header(r, "X-Accel-Redirect", uri);
    http_text(r, 200, NULL, "");
}


/* GET /_harbor/proxy-fetch?name=<repository>&ref=<tag or digest> */
void
api_proxy_fetch(struct req *r)
{
    struct remote          rm;
    struct repl_endpoint   up, local;
    struct repl_copy_opts  o;
    struct repl_progress   prog;
    PGresult              *res;
    const char            *name, *ref, *slash, *repos[1], *tags[1];
    char                   project[256], upath[HB_NAME_MAX + 16];
    char                   here[HB_DIGEST_MAX + 1], there[HB_DIGEST_MAX + 1];
    char                   err[REPL_ERR_MAX], *tok;
    long long              rid;
    int                    is_tag, have, rc;

    name = http_arg(r, "name");
    ref = http_arg(r, "ref");

    if (name == NULL || ref == NULL
        || !hb_name_valid((const unsigned char *) name, strlen(name)))
    {
        proxy_error(r, 400, "NAME_INVALID", "invalid repository name");
        return;
    }

    is_tag = hb_tag_valid((const unsigned char *) ref, strlen(ref));
    if (!is_tag
        && hb_digest_parse((const unsigned char *) ref, strlen(ref))
           == HB_DIGEST_NONE)
    {
        proxy_error(r, 400, "MANIFEST_INVALID", "invalid reference");
        return;
    }

    slash = strchr(name, '/');
    if (slash == NULL || (size_t) (slash - name) >= sizeof(project)) {
        proxy_error(r, 404, "MANIFEST_UNKNOWN",
                    "manifest unknown to registry");
        return;
    }

    if (!proxy_may_pull(r, name)) {
        proxy_error(r, 401, "UNAUTHORIZED", "authentication required");
        return;
    }

    memcpy(project, name, slash - name);
    project[slash - name] = '\0';

    if (http_db(r) == NULL) {
        return;
    }

    res = db_execv(r->db, "SELECT registry_id FROM projects WHERE name = $1"
                   " AND NOT deleted AND registry_id IS NOT NULL", 1,
                   project);
    if (res == NULL) {
        proxy_error(r, 503, "UNAVAILABLE", "the database is unavailable");
        return;
    }

    rid = PQntuples(res) == 1 ? db_ll(res, 0, 0) : 0;
    PQclear(res);

    if (rid == 0) {
        /* no longer a proxy cache (authd removes the file: a race) */
        proxy_serve(r, name, ref, 0);
        return;
    }

    /* what is here already */
    here[0] = '\0';
    have = is_tag
           ? store_tag(name, ref, here, sizeof(here), NULL) == STORE_OK
           : store_revision(name, ref, NULL) == STORE_OK;

    if (have && !is_tag) {
        proxy_serve(r, name, ref, 0);   /* a digest never changes */
        return;
    }

    rc = remote_load(r->db, rid, &rm, err, sizeof(err));
    if (rc != 0) {
        if (have) {
            proxy_serve(r, name, ref, 1);
        } else {
            proxy_error(r, 503, "UNAVAILABLE", "%s", err);
        }
        return;
    }
    remote_endpoint(&rm, &up);

    tok = NULL;

    if (proxy_upstream_repo(&rm, slash + 1, upath, sizeof(upath)) != 0) {
        proxy_error(r, 404, "NAME_UNKNOWN", "the upstream name of %s is "
                    "too long", name);
        goto done;
    }

    if (have) {
        /* a tag here: one HEAD upstream says whether it moved */
        there[0] = '\0';
        repos[0] = upath;
        tags[0] = ref;

        rc = repl_tag_digests(&up, repos, tags, 1, proxy_digest_cb, there,
                              err, sizeof(err));

        if (rc != REPL_OK || there[0] == '\0'
            || strcmp(there, here) == 0)
        {
            if (rc != REPL_OK) {
                log_info("proxy cache: %s:%s served from the cache, the "
                         "upstream %s did not answer: %s", name, ref,
                         rm.url, err);
            }
            proxy_serve(r, name, ref, 1);
            goto done;
        }
    }

    tok = registry_token(HB_PROXY_USER, name, "pull,push", PROXY_TOKEN_TTL);
    if (tok == NULL || repl_local_url()[0] == '\0') {
        proxy_error(r, 503, "UNAVAILABLE", "authd cannot reach this "
                    "registry's /v2 (authd.registry_url)");
        goto done;
    }

    memset(&local, 0, sizeof(local));
    local.type = REPL_TYPE_HARBOR;
    local.url = repl_local_url();
    local.bearer = tok;

    memset(&o, 0, sizeof(o));
    o.override = 1;
    memset(&prog, 0, sizeof(prog));

    rc = repl_copy(&up, upath, ref, &local, name, ref, &o, &prog, err,
                   sizeof(err));

    if (rc == REPL_OK || rc == REPL_SKIPPED) {
        log_info("proxy cache: %s:%s fetched from %s", name, ref, rm.url);
        proxy_serve(r, name, ref, 0);

    } else if (have) {
        log_info("proxy cache: %s:%s served from the cache, the fetch "
                 "from %s failed: %s", name, ref, rm.url, err);
        proxy_serve(r, name, ref, 1);

    } else if (rc == REPL_FATAL) {
        proxy_error(r, 404, "MANIFEST_UNKNOWN", "%s:%s: not fetched from "
                    "the upstream registry: %s", name, ref, err);

    } else {
        proxy_error(r, 503, "UNAVAILABLE", "%s:%s: the upstream registry "
                    "is unavailable: %s", name, ref, err);
    }

done:

    if (tok != NULL) {
        sodium_memzero(tok, strlen(tok));
        free(tok);
    }
    remote_free(&rm);
}
