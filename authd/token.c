/*
 * authd: the registry token service, GET /service/token.
 *
 * Docker's token protocol as Harbor speaks it: scopes "type:name:actions"
 * (repeated and/or space-separated; the name may hold ':' so the parts
 * are split at the first and the last ':'), Basic credentials or none.
 * Bad credentials are a 401; too few rights are not an error: the token
 * carries what the caller may do, possibly nothing, and says why the rest
 * was refused in "harbor_denied", which the nginx module passes on to the
 * client:
 *
 *   "harbor_denied": [{"type":"repository","name":"calico/x",
 *                      "actions":["push"],"reason":"project calico not found"}]
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sodium.h>

#include "authd.h"
#include "harbor_grammar.h"


/* a refusal whose reason could not be written down is still a refusal */
#define TOKEN_REFUSED  "refused (authd could not say why: out of memory)"

struct token_project {
    char            name[256];
    int             found;
    struct project  p;
};

struct token_ctx {
    struct req            *r;
    json_t                *access;
    json_t                *denied;
    struct token_project   projects[AUTHD_SCOPES_MAX];
    int                    nprojects;
    int                    ndenied;
};


/*
 * Next space-separated item of a scope argument: 1 with [*start, +len),
 * 0 when there is none left.
 */
int
scope_split(const char *arg, const char **start, size_t *len,
    const char **next)
{
    while (*arg == ' ') {
        arg++;
    }

    if (*arg == '\0') {
        return 0;
    }

    *start = arg;
    *len = strcspn(arg, " ");
    *next = arg + *len;

    return 1;
}


/* "type:name:actions"; 0, or -1 with a reason for the client */
int
scope_parse(const char *s, size_t len, struct scope *sc, char *err,
    size_t errlen)
{
    const char  *c1, *c2, *p, *e;
    size_t       n, i;
    int          j, dup;

    memset(sc, 0, sizeof(*sc));

    if (len == 0 || len >= AUTHD_SCOPE_MAX) {
        snprintf(err, errlen, "scope is empty or longer than %d bytes",
                 AUTHD_SCOPE_MAX - 1);
        return -1;
    }

    if (memchr(s, '\0', len) != NULL) {
        snprintf(err, errlen, "scope contains a NUL byte");
        return -1;
    }

    c1 = memchr(s, ':', len);
    for (c2 = s + len - 1; c2 > s && *c2 != ':'; c2--) {
        /* void */
    }

    if (c1 == NULL || c2 <= c1) {
        snprintf(err, errlen, "scope \"%.*s\" is not type:name:actions",
                 (int) (len > 128 ? 128 : len), s);
        return -1;
    }

    n = (size_t) (c1 - s);
    if (n == 0 || n >= sizeof(sc->type)) {
        snprintf(err, errlen, "scope has an empty or too long type");
        return -1;
    }

    for (i = 0; i < n; i++) {
        if (!((s[i] >= 'a' && s[i] <= 'z') || s[i] == '(' || s[i] == ')')) {
            snprintf(err, errlen, "scope type \"%.*s\" is invalid", (int) n,
                     s);
            return -1;
        }
    }

    memcpy(sc->type, s, n);

    n = (size_t) (c2 - c1 - 1);
    if (n == 0) {
        snprintf(err, errlen, "scope has an empty name");
        return -1;
    }

    memcpy(sc->name, c1 + 1, n);

    /* actions: comma-separated, deduplicated, in the order given */
    p = c2 + 1;
    e = s + len;

    while (p < e) {
        const char  *q;

        for (q = p; q < e && *q != ','; q++) {
            /* void */
        }

        n = (size_t) (q - p);

        if (n > 0) {
            if (n >= sizeof(sc->actions[0])) {
                snprintf(err, errlen, "scope action too long");
                return -1;
            }

            for (i = 0; i < n; i++) {
                if (!((p[i] >= 'a' && p[i] <= 'z') || p[i] == '*')) {
                    snprintf(err, errlen, "scope action \"%.*s\" is invalid",
                             (int) n, p);
                    return -1;
                }
            }

            dup = 0;
            for (j = 0; j < sc->nactions; j++) {
                if (strlen(sc->actions[j]) == n
                    && memcmp(sc->actions[j], p, n) == 0)
                {
                    dup = 1;
                }
            }

            if (!dup) {
                if (sc->nactions == SCOPE_ACTIONS_MAX) {
                    snprintf(err, errlen, "scope has too many actions");
                    return -1;
                }
                memcpy(sc->actions[sc->nactions++], p, n);
            }
        }

        p = q + 1;
    }

    if (sc->nactions == 0) {
        snprintf(err, errlen, "scope \"%.*s\" has no actions",
                 (int) (len > 128 ? 128 : len), s);
        return -1;
    }

    return 0;
}


/*
 * Each refused action under its reason: one entry per scope and reason.
 * What is refused is grant[i] == 0, whatever the reason's text.
 */
static void
token_deny(struct token_ctx *t, const struct scope *sc, const int *grant,
    const char **reason, const char **actions, int n)
{
    json_t  *acts;
    int      i, j, done;

    for (i = 0; i < n; i++) {
        if (grant[i]) {
            continue;
        }

        done = 0;
        for (j = 0; j < i; j++) {
            if (!grant[j] && strcmp(reason[j], reason[i]) == 0) {
                done = 1;
            }
        }
        if (done) {
            continue;
        }

        acts = json_array();
        for (j = i; j < n; j++) {
            if (!grant[j] && strcmp(reason[j], reason[i]) == 0) {
                json_array_append_new(acts, json_string(actions[j]));
            }
        }

        json_array_append_new(t->denied,
            json_pack("{s:s, s:s, s:o, s:s}", "type", sc->type,
                      "name", sc->name, "actions", acts,
                      "reason", reason[i]));
        t->ndenied++;
    }
}


static void
token_grant(struct token_ctx *t, const struct scope *sc, const int *grant,
    const char **actions, int n)
{
    json_t  *acts;
    int      i;

    acts = json_array();

    for (i = 0; i < n; i++) {
        if (grant[i]) {
            json_array_append_new(acts, json_string(actions[i]));
        }
    }

    if (json_array_size(acts) == 0) {
        json_decref(acts);
        return;
    }

    json_array_append_new(t->access,
        json_pack("{s:s, s:s, s:o}", "type", sc->type, "name", sc->name,
                  "actions", acts));
}


/* The project and the caller's roles in it, looked up once per token. */
static int
token_project(struct token_ctx *t, const char *name, size_t len,
    struct token_project **out)
{
    struct token_project  *tp;
    int                    i, rc;

    for (i = 0; i < t->nprojects; i++) {
        tp = &t->projects[i];
        if (strlen(tp->name) == len && memcmp(tp->name, name, len) == 0) {
            *out = tp;
            return 0;
        }
    }

    if (t->nprojects == AUTHD_SCOPES_MAX || len >= sizeof(tp->name)) {
        return -1;
    }

    tp = &t->projects[t->nprojects];
    memcpy(tp->name, name, len);
    tp->name[len] = '\0';

    if (http_db(t->r) == NULL) {
        return -1;
    }

    rc = project_find(t->r->db, tp->name, t->r->user.id, &tp->p);
    if (rc < 0) {
        return -1;
    }

    tp->found = rc;
    t->nprojects++;
    *out = tp;

    return 0;
}


/* "pull, push": what roles may do to a repository, for a reason text */
static const char *
token_allowed(struct req *r, unsigned roles, int is_public)
{
    static const char *const  acts[] = { "pull", "push", "delete" };
    const char               *s;
    size_t                    i;

    s = "";
    for (i = 0; i < nitems(acts); i++) {
        if (rbac_allowed(roles, 0, is_public, "repository", acts[i])) {
            s = req_printf(r, "%s%s%s", s, s[0] ? ", " : "", acts[i]);
        }
    }

    return s != NULL && s[0] ? s : "nothing";
}


/*
 * The verdict on each action asked of repository name: grant[i] 1 or 0,
 * and reason[i] for each refusal, the text for the client.  project is
 * the name's first component, NULL when the name is invalid or has none
 * (nothing was looked up); p the project, NULL when there is no such
 * project.  The decision never rests on a text: a reason that cannot be
 * allocated reads TOKEN_REFUSED, and the action stays refused.
 */
void
token_repo_decide(struct req *r, const char *name, const char *project,
    const struct project *p, const char **actions, int n, int *grant,
    const char **reason)
{
    static const char *const  all[] = { "pull", "push", "delete" };
    const char               *a, *hidden;
    int                       i, j, known, anon;

    anon = r->user.id == 0;

    /*
     * Anonymous callers learn nothing about private projects: "not
     * found" and "private" read the same to them.
     */
    hidden = project == NULL ? NULL
             : req_printf(r, "project %s not found, or it is not public: "
                          "log in to use it", project);

    for (i = 0; i < n; i++) {
        a = actions[i];
        grant[i] = 0;

        known = 0;
        for (j = 0; j < (int) nitems(all); j++) {
            if (strcmp(a, all[j]) == 0) {
                known = 1;
            }
        }

        if (!hb_name_valid((const unsigned char *) name, strlen(name))) {
            reason[i] = req_printf(r, "invalid repository name %.300s",
                                   name);

        } else if (project == NULL) {
            reason[i] = req_printf(r, "repository name %s has no project "
                                   "part; %s <project>/%s, for example "
                                   "library/%s", name,
                                   strcmp(a, "push") == 0 ? "push to" : "use",
                                   name, name);

        } else if (!known) {
            reason[i] = req_printf(r, "unknown action %s", a);

        } else if (p == NULL) {
            reason[i] = anon
                ? hidden : req_printf(r, "project %s not found", project);

        } else if (rbac_allowed(p->roles, r->user.sysadmin, p->is_public,
                                "repository", a))
        {
            grant[i] = 1;
            reason[i] = NULL;

        } else if (anon && !p->is_public) {
            reason[i] = hidden;

        } else if (anon) {
            reason[i] = req_printf(r, "anonymous users may only pull from "
                                   "%s: log in", project);

        } else if (p->roles == 0 && !p->is_public) {
            reason[i] = req_printf(r, "you are not a member of project %s",
                                   project);

        } else if (p->roles == 0) {
            reason[i] = req_printf(r, "you may only pull from %s: you are "
                                   "not a member of it", project);

        } else {
            reason[i] = req_printf(r, "your role %s in project %s allows "
                                   "only %s", rbac_role_name(
                                       rbac_best_role(p->roles)),
                                   project,
                                   token_allowed(r, p->roles, p->is_public));
        }

        if (!grant[i] && reason[i] == NULL) {
            reason[i] = TOKEN_REFUSED;
        }
    }
}


static int
token_repository(struct token_ctx *t, const struct scope *sc)
{
    static const char *const  all[] = { "pull", "push", "delete" };
    struct token_project      *tp;
    const char                *actions[SCOPE_ACTIONS_MAX + 3];
    const char                *reason[SCOPE_ACTIONS_MAX + 3];
    const char                *slash;
    int                        grant[SCOPE_ACTIONS_MAX + 3], n, i, j;

    /* "*" asks for everything there is */
    n = 0;
    for (i = 0; i < sc->nactions; i++) {
        if (strcmp(sc->actions[i], "*") == 0) {
            for (j = 0; j < (int) nitems(all); j++) {
                actions[n++] = all[j];
            }
        } else {
            actions[n++] = sc->actions[i];
        }
    }

    /* drop duplicates that "*" may have brought */
    for (i = 0; i < n; i++) {
        for (j = i + 1; j < n; j++) {
            if (strcmp(actions[i], actions[j]) == 0) {
                memmove(&actions[j], &actions[j + 1],
                        (size_t) (n - j - 1) * sizeof(actions[0]));
                n--;
                j--;
            }
        }
    }

    tp = NULL;
    slash = strchr(sc->name, '/');

    if (slash != NULL
        && hb_name_valid((const unsigned char *) sc->name, strlen(sc->name))
        && token_project(t, sc->name, (size_t) (slash - sc->name), &tp) != 0)
    {
        return -1;
    }

    if (t->r->user.robot_id != 0) {
        /* a robot: what it was granted, nothing else (api_robots.c) */
        if (robot_token_decide(t->r, sc->name, tp != NULL ? tp->name : NULL,
                               tp != NULL && tp->found ? &tp->p : NULL,
                               actions, n, grant, reason) != 0)
        {
            return -1;
        }

    } else {
        token_repo_decide(t->r, sc->name, tp != NULL ? tp->name : NULL,
                          tp != NULL && tp->found ? &tp->p : NULL, actions, n,
                          grant, reason);
    }

    /* as Harbor: what a proxy cache holds comes from its upstream only */
    for (i = 0; tp != NULL && tp->found && tp->p.registry_id != 0
                && i < n; i++)
    {
        if (grant[i] && strcmp(actions[i], "pull") != 0) {
            grant[i] = 0;
            reason[i] = req_printf(t->r, "project %s is a proxy cache: "
                                   "%s is refused, only pull", tp->name,
                                   actions[i]);
            if (reason[i] == NULL) {
                reason[i] = TOKEN_REFUSED;
            }
        }
    }

    token_grant(t, sc, grant, actions, n);
    token_deny(t, sc, grant, reason, actions, n);

    return 0;
}


static int
token_scope(struct token_ctx *t, const struct scope *sc)
{
    const char  *actions[SCOPE_ACTIONS_MAX], *reason[SCOPE_ACTIONS_MAX];
    int          grant[SCOPE_ACTIONS_MAX], i;

    if (strcmp(sc->type, "repository") == 0) {
        return token_repository(t, sc);
    }

    for (i = 0; i < sc->nactions; i++) {
        actions[i] = sc->actions[i];
        grant[i] = 0;

        if (strcmp(sc->type, "registry") != 0) {
            reason[i] = req_printf(t->r, "unsupported resource type %s",
                                   sc->type);

        } else if (strcmp(sc->name, "catalog") != 0) {
            reason[i] = req_printf(t->r, "unknown registry resource %.300s",
                                   sc->name);

        } else if (strcmp(sc->actions[i], "*") != 0) {
            reason[i] = req_printf(t->r, "unknown action %s",
                                   sc->actions[i]);

        } else if (!t->r->user.sysadmin) {
            reason[i] = "only system administrators may list the catalog";

        } else {
            grant[i] = 1;
            reason[i] = NULL;
        }

        if (!grant[i] && reason[i] == NULL) {
            reason[i] = TOKEN_REFUSED;
        }
    }

    token_grant(t, sc, grant, actions, sc->nactions);
    token_deny(t, sc, grant, reason, actions, sc->nactions);

    return 0;
}


void
token_handle(struct req *r)
{
    struct token_ctx  *t;
    struct scope      *sc;
    const char        *raw[AUTHD_SCOPES_MAX + 1], *service, *item, *next;
    char               err[256], jti[33], issued[32];
    unsigned char      rnd[16];
    json_t            *claims;
    char              *tok;
    time_t             now;
    struct tm          tm;
    size_t             len;
    int                nraw, nsc, i;

    service = http_arg(r, "service");
    if (service != NULL && strcmp(service, conf->token_service) != 0) {
        http_error(r, 400, "unknown service \"%.100s\"; this token service "
                   "is for \"%s\"", service, conf->token_service);
        return;
    }

    nraw = http_args(r, "scope", raw, AUTHD_SCOPES_MAX);
    if (nraw > AUTHD_SCOPES_MAX) {
        http_error(r, 400, "too many scopes: at most %d per request",
                   AUTHD_SCOPES_MAX);
        return;
    }

    sc = req_alloc(r, sizeof(struct scope) * AUTHD_SCOPES_MAX);
    t = req_alloc(r, sizeof(struct token_ctx));
    if (sc == NULL || t == NULL) {
        http_error(r, 500, "out of memory");
        return;
    }

    nsc = 0;

    for (i = 0; i < nraw; i++) {
        for (item = raw[i]; scope_split(item, &item, &len, &next);
             item = next)
        {
            if (nsc == AUTHD_SCOPES_MAX) {
                http_error(r, 400, "too many scopes: at most %d per request",
                           AUTHD_SCOPES_MAX);
                return;
            }

            if (scope_parse(item, len, &sc[nsc], err, sizeof(err)) != 0) {
                http_error(r, 400, "invalid scope: %s", err);
                return;
            }

            nsc++;
        }
    }

    t->r = r;
    t->access = json_array();
    t->denied = json_array();

    claims = NULL;
    tok = NULL;

    if (t->access == NULL || t->denied == NULL) {
        http_error(r, 500, "out of memory");
        goto done;
    }

    for (i = 0; i < nsc; i++) {
        if (token_scope(t, &sc[i]) != 0) {
            if (r->status == 0) {
                http_db_error(r);
            }
            goto done;
        }
    }

    now = time(NULL);
    randombytes_buf(rnd, sizeof(rnd));
    sodium_bin2hex(jti, sizeof(jti), rnd, sizeof(rnd));

    claims = json_pack("{s:s, s:s, s:s, s:I, s:I, s:I, s:s, s:O}",
                       "iss", conf->token_issuer,
                       "sub", r->user.name,
                       "aud", conf->token_service,
                       "exp", (json_int_t) now
                              + (json_int_t) conf->token_expiration * 60,
                       "nbf", (json_int_t) now,
                       "iat", (json_int_t) now,
                       "jti", jti,
                       "access", t->access);
    if (claims == NULL) {
        http_error(r, 500, "out of memory");
        goto done;
    }

    if (t->ndenied > 0) {
        json_object_set(claims, "harbor_denied", t->denied);
    }

    /*
     * A token for the web UI's session only shows what is stored: the
     * module does not count its manifest GETs as pulls.
     */

    if (r->authn == AUTHN_SESSION
        && json_object_set_new(claims, "harbor_view", json_true()) != 0)
    {
        http_error(r, 500, "out of memory");
        goto done;
    }

    if (hb_jwt_sign(token_key.key, token_key.kid,
                    conf->token_x5c ? token_key.x5c : NULL, claims, &tok) != 0)
    {
        log_warnx("signing a token failed");
        http_error(r, 500, "signing the token failed");
        goto done;
    }

    /* the module refuses longer tokens: better say so here */
    if (strlen(tok) > HB_JWT_MAX) {
        http_error(r, 400, "the token for these %d scopes would be longer "
                   "than %d bytes: ask for fewer scopes at once", nsc,
                   HB_JWT_MAX);
        goto done;
    }

    gmtime_r(&now, &tm);
    strftime(issued, sizeof(issued), "%Y-%m-%dT%H:%M:%SZ", &tm);

    http_header(r, "Cache-Control", "no-store");
    http_header(r, "Pragma", "no-cache");
    http_json(r, 200, json_pack("{s:s, s:s, s:i, s:s}",
                                "token", tok,
                                "access_token", tok,
                                "expires_in", conf->token_expiration * 60,
                                "issued_at", issued));

    /* docker login: credentials and no scope */
    if (r->user.id != 0 && nsc == 0) {
        audit_req(r, 0, "login", "user", r->user.name);
    }

    log_debug("token for \"%s\": %zu scope(s) granted, %d refusal(s)",
              r->user.name, json_array_size(t->access),
              t->ndenied);

done:

    if (tok != NULL) {
        sodium_memzero(tok, strlen(tok));
        free(tok);
    }

    json_decref(claims);
    json_decref(t->access);
    json_decref(t->denied);
}
