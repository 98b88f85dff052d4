
/*
 * ngx-harbor: an OCI registry inside nginx.
 * Bearer tokens: an ACCESS phase check of the JWT that authd signed,
 * against the public key in the configured certificate, and of the
 * action the request needs on its repository.  Nothing here waits on
 * the network: what a request may do is in the signed token.
 *
 * A verified token is remembered per worker until it expires, so a pull
 * of many layers verifies one signature; a hit compares the whole token.
 */


#include "ngx_http_harbor_module.h"

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "harbor_jwt.h"


#define NGX_HTTP_HARBOR_TOKEN_CACHE   1024
#define NGX_HTTP_HARBOR_LEEWAY        60


typedef struct {
    u_char     *token;     /* malloc()ed copy */
    size_t      len;
    void       *conf;      /* the location whose key, iss, aud verified it */
    time_t      exp;
    json_t     *claims;
} ngx_http_harbor_token_t;


static ngx_http_harbor_token_t
    ngx_http_harbor_tokens[NGX_HTTP_HARBOR_TOKEN_CACHE];


static void ngx_http_harbor_token_needs(ngx_http_request_t *r,
    ngx_http_harbor_ctx_t *ctx, const char **action, const char **scope);
static json_t *ngx_http_harbor_token_claims(ngx_http_request_t *r,
    ngx_http_harbor_loc_conf_t *hlcf, ngx_str_t *token);
static ngx_uint_t ngx_http_harbor_equal(const u_char *a, const u_char *b,
    size_t len);
static void ngx_http_harbor_token_forget(ngx_http_harbor_token_t *t);
static void ngx_http_harbor_token_release(void *data);
static void ngx_http_harbor_token_keep(ngx_http_request_t *r,
    json_t *claims);
static ngx_int_t ngx_http_harbor_token_allows(json_t *claims,
    const char *type, ngx_str_t *name, const char *action);
static const char *ngx_http_harbor_token_denied(ngx_http_request_t *r,
    json_t *claims, ngx_str_t *name, const char *action);
static ngx_int_t ngx_http_harbor_challenge(ngx_http_request_t *r,
    ngx_http_harbor_loc_conf_t *hlcf, ngx_http_harbor_ctx_t *ctx,
    const char *scope_actions, const char *error);
static void ngx_http_harbor_free_key(void *data);
static ngx_http_harbor_metric_e ngx_http_harbor_token_reason(const char *err);


/*
 * Why hb_jwt_verify() refused a token, for the metrics: its reasons that
 * are not malformed tokens.
 */

static struct {
    const char                 *err;
    ngx_http_harbor_metric_e    reason;
} ngx_http_harbor_token_reasons[] = {
    { "token signature is invalid", NGX_HTTP_HARBOR_M_TOKEN_SIGNATURE },
    { "token algorithm is not allowed", NGX_HTTP_HARBOR_M_TOKEN_SIGNATURE },
    { "token has expired", NGX_HTTP_HARBOR_M_TOKEN_EXPIRED },
    { "token is not valid yet", NGX_HTTP_HARBOR_M_TOKEN_EXPIRED },
    { "token has the wrong issuer", NGX_HTTP_HARBOR_M_TOKEN_CLAIMS },
    { "token has the wrong audience", NGX_HTTP_HARBOR_M_TOKEN_CLAIMS },
    { "token has no expiry", NGX_HTTP_HARBOR_M_TOKEN_CLAIMS },
    { "token has an invalid nbf", NGX_HTTP_HARBOR_M_TOKEN_CLAIMS },
    { NULL, NGX_HTTP_HARBOR_M_TOKEN_MALFORMED }
};


/* A Host header that may go into a quoted challenge as it is. */

static ngx_int_t
ngx_http_harbor_host_safe(ngx_str_t *host)
{
    u_char  c;
    size_t  i;

    if (host->len == 0 || host->len > 255) {
        return 0;
    }

    for (i = 0; i < host->len; i++) {
        c = host->data[i];

        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
              || (c >= '0' && c <= '9') || c == '.' || c == '-' || c == ':'
              || c == '[' || c == ']'))
        {
            return 0;
        }
    }

    return 1;
}


/* harbor_token_certificate: a PEM certificate or public key */

char *
ngx_http_harbor_token_load_key(ngx_conf_t *cf, ngx_http_harbor_loc_conf_t *conf)
{
    BIO                 *bio;
    X509                *x509;
    EVP_PKEY            *key;
    ngx_pool_cleanup_t  *cln;

    if (ngx_conf_full_name(cf->cycle, &conf->token_cert, 1) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    bio = BIO_new_file((char *) conf->token_cert.data, "r");
    if (bio == NULL) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "cannot read harbor_token_certificate \"%s\"; "
                           "authd writes it on its first start",
                           conf->token_cert.data);
        return NGX_CONF_ERROR;
    }

    key = NULL;
    x509 = PEM_read_bio_X509(bio, NULL, NULL, NULL);

    if (x509) {
        key = X509_get_pubkey(x509);
        X509_free(x509);

    } else {
        (void) BIO_reset(bio);
        key = PEM_read_bio_PUBKEY(bio, NULL, NULL, NULL);
    }

    BIO_free(bio);
    ERR_clear_error();

    if (key == NULL || hb_jwt_key_alg(key) == NULL) {
        if (key) {
            EVP_PKEY_free(key);
        }

        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"%s\" holds no certificate or public key of "
                           "RSA or EC P-256",
                           conf->token_cert.data);
        return NGX_CONF_ERROR;
    }

    cln = ngx_pool_cleanup_add(cf->pool, 0);
    if (cln == NULL) {
        EVP_PKEY_free(key);
        return NGX_CONF_ERROR;
    }

    cln->handler = ngx_http_harbor_free_key;
    cln->data = key;

    conf->token_key = key;

    return NGX_CONF_OK;
}


static void
ngx_http_harbor_free_key(void *data)
{
    EVP_PKEY_free(data);
}


ngx_int_t
ngx_http_harbor_access_handler(ngx_http_request_t *r)
{
    u_char                      *p;
    json_t                      *claims, *sub;
    ngx_str_t                    token, from;
    const char                  *action, *scope, *reason;
    ngx_http_harbor_ctx_t       *ctx;
    ngx_http_harbor_route_t     *rt;
    ngx_http_harbor_loc_conf_t  *hlcf;
    ngx_http_core_loc_conf_t    *clcf;

    hlcf = ngx_http_get_module_loc_conf(r, ngx_http_harbor_module);
    clcf = ngx_http_get_module_loc_conf(r, ngx_http_core_module);

    if (!hlcf->enable || hlcf->auth != NGX_HTTP_HARBOR_AUTH_TOKEN
        || clcf->handler != ngx_http_harbor_handler || r != r->main)
    {
        return NGX_DECLINED;
    }

    ctx = ngx_http_harbor_get_ctx(r);
    if (ctx == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    rt = &ctx->route;

    ngx_http_harbor_token_needs(r, ctx, &action, &scope);

    /* Authorization: Bearer <token> */

    if (r->headers_in.authorization == NULL) {
        ngx_http_harbor_metrics_count(r, NGX_HTTP_HARBOR_M_TOKEN_MISSING);
        return ngx_http_harbor_challenge(r, hlcf, ctx, scope, NULL);
    }

    token = r->headers_in.authorization->value;

    if (token.len < sizeof("Bearer ") - 1
        || ngx_strncasecmp(token.data, (u_char *) "Bearer ",
                           sizeof("Bearer ") - 1) != 0)
    {
        ngx_http_harbor_metrics_count(r, NGX_HTTP_HARBOR_M_TOKEN_MISSING);
        return ngx_http_harbor_challenge(r, hlcf, ctx, scope, NULL);
    }

    token.data += sizeof("Bearer ") - 1;
    token.len -= sizeof("Bearer ") - 1;

    while (token.len && token.data[0] == ' ') {
        token.data++;
        token.len--;
    }

    claims = ngx_http_harbor_token_claims(r, hlcf, &token);

    if (claims == NULL) {
        ctx->fail_code = "UNAUTHORIZED";
        ctx->fail_message = "the token is invalid or has expired";
        return ngx_http_harbor_challenge(r, hlcf, ctx, scope,
                                         "invalid_token");
    }

    sub = json_object_get(claims, "sub");
    if (json_is_string(sub) && json_string_length(sub) > 0) {
        ctx->user.len = json_string_length(sub);
        ctx->user.data = ngx_pnalloc(r->pool, ctx->user.len);
        if (ctx->user.data == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        ngx_memcpy(ctx->user.data, json_string_value(sub), ctx->user.len);
    }

    /* authd marks the tokens of the web UI: looking is not pulling */
    ctx->view = json_is_true(json_object_get(claims, "harbor_view"));

    if (action == NULL) {
        return NGX_OK;
    }

    if (rt->type == NGX_HTTP_HARBOR_R_CATALOG) {
        if (ngx_http_harbor_token_allows(claims, "registry", NULL, "*")) {
            return NGX_OK;
        }

        ctx->fail_code = "UNAUTHORIZED";
        ctx->fail_message = "only system administrators may list the catalog";
        ngx_http_harbor_metrics_count(r, NGX_HTTP_HARBOR_M_TOKEN_SCOPE);
        return ngx_http_harbor_challenge(r, hlcf, ctx, scope,
                                         "insufficient_scope");
    }

    if (!ngx_http_harbor_token_allows(claims, "repository", &rt->name,
                                      action))
    {
        reason = ngx_http_harbor_token_denied(r, claims, &rt->name, action);

        if (reason == NULL) {
            p = ngx_pnalloc(r->pool, rt->name.len + 64);
            if (p == NULL) {
                return NGX_HTTP_INTERNAL_SERVER_ERROR;
            }

            ngx_sprintf(p, "the token does not allow %s on %V%Z", action,
                        &rt->name);
            reason = (char *) p;
        }

        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "harbor: %s on \"%V\" refused: %s", action, &rt->name,
                      reason);
        ngx_http_harbor_metrics_count(r, NGX_HTTP_HARBOR_M_TOKEN_SCOPE);

        /*
         * A HEAD of a blob is how a client pushing checks what to upload,
         * and a HEAD answer has no body to carry the reason: "unknown"
         * sends the client on to the upload, whose refusal says why.
         * It tells nothing: the caller may not read this repository.
         */

        if (r->method == NGX_HTTP_HEAD
            && rt->type == NGX_HTTP_HARBOR_R_BLOB)
        {
            ctx->fail_code = "BLOB_UNKNOWN";
            ctx->fail_message = "blob unknown to registry";
            return NGX_HTTP_NOT_FOUND;
        }

        ctx->fail_code = "UNAUTHORIZED";
        ctx->fail_message = reason;
        return ngx_http_harbor_challenge(r, hlcf, ctx, scope,
                                         "insufficient_scope");
    }

    /* a cross-repository mount also needs pull on the source */

    if (rt->type == NGX_HTTP_HARBOR_R_UPLOADS
        && ngx_http_harbor_arg(r, "from", &from) == NGX_OK)
    {
        ctx->may_mount = hb_name_valid(from.data, from.len)
                         && ngx_http_harbor_token_allows(claims, "repository",
                                                         &from, "pull");
    }

    return NGX_OK;
}


/*
 * What the request needs: one action, from its route and method, and the
 * scope's actions for the challenge.  Both NULL: any valid token.
 */

static void
ngx_http_harbor_token_needs(ngx_http_request_t *r, ngx_http_harbor_ctx_t *ctx,
    const char **action, const char **scope)
{
    ngx_http_harbor_route_t  *rt;

    rt = &ctx->route;

    *scope = NULL;
    *action = NULL;

    if (ctx->route_rc != NGX_OK || rt->type == NGX_HTTP_HARBOR_R_BASE) {
        /* any valid token; an invalid path is answered after that */
        return;
    }

    if (rt->type == NGX_HTTP_HARBOR_R_CATALOG) {
        *action = "*";
        *scope = "registry:catalog:*";
        return;
    }

    if (r->method & (NGX_HTTP_GET|NGX_HTTP_HEAD)) {
        *action = (rt->type == NGX_HTTP_HARBOR_R_UPLOAD) ? "push" : "pull";

    } else if (r->method == NGX_HTTP_DELETE
               && (rt->type == NGX_HTTP_HARBOR_R_MANIFEST
                   || rt->type == NGX_HTTP_HARBOR_R_BLOB))
    {
        *action = "delete";

    } else {
        *action = "push";
    }

    *scope = ngx_strcmp(*action, "push") == 0 ? "pull,push" : *action;
}


/*
 * error_page 494 @name; location @name { harbor_header_too_large; }
 *
 * Request headers larger than large_client_header_buffers (a bearer
 * token over the cap, say) are refused by nginx before a location is
 * chosen, with an HTML 400.  A named location keeps the request's URI, so
 * a registry request gets the registry's 401 with the challenge for its
 * route, and any other request a 400 in Harbor's error JSON.
 */

ngx_int_t
ngx_http_harbor_too_large_handler(ngx_http_request_t *r)
{
    ngx_str_t                    body;
    const char                  *action, *scope;
    ngx_http_harbor_ctx_t       *ctx;
    ngx_http_harbor_loc_conf_t  *hlcf;

    static ngx_str_t  json = ngx_string("application/json; charset=utf-8");

    hlcf = ngx_http_get_module_loc_conf(r, ngx_http_harbor_module);

    ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                  "harbor: request headers too large for \"%V\"", &r->uri);

    /* the status is ours, not the 494 that brought the request here */

    r->err_status = 0;
    r->keepalive = 0;

    if (r->uri.len < sizeof("/v2/") - 1
        || ngx_strncmp(r->uri.data, "/v2/", sizeof("/v2/") - 1) != 0)
    {
        ngx_str_set(&body, "{\"errors\":[{\"code\":\"BAD_REQUEST\","
                    "\"message\":\"the request headers are too large\"}]}");
        return ngx_http_harbor_send(r, NGX_HTTP_BAD_REQUEST, &json, &body);
    }

    ctx = ngx_http_harbor_get_ctx(r);
    if (ctx == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_http_harbor_token_needs(r, ctx, &action, &scope);
    ngx_http_harbor_metrics_count(r, NGX_HTTP_HARBOR_M_TOKEN_TOO_LARGE);

    /* the answer to any token over the cap, as the access check gives */

    ctx->fail_code = "UNAUTHORIZED";
    ctx->fail_message = "the token is invalid or has expired";

    return ngx_http_harbor_challenge(r, hlcf, ctx, scope, "invalid_token");
}


/*
 * The claims of a verified, unexpired token, from the worker's cache or
 * by verifying it.  NULL if the token is not good.
 */

static json_t *
ngx_http_harbor_token_claims(ngx_http_request_t *r,
    ngx_http_harbor_loc_conf_t *hlcf, ngx_str_t *token)
{
    time_t                    now;
    json_t                   *claims, *exp;
    ngx_uint_t                slot;
    ngx_http_harbor_token_t  *t;
    char                      err[128];

    if (token->len < 64 || token->len > HB_JWT_MAX) {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "harbor: bearer token of %uz bytes refused",
                      token->len);
        ngx_http_harbor_metrics_count(r, NGX_HTTP_HARBOR_M_TOKEN_MALFORMED);
        return NULL;
    }

    now = ngx_time();

    /* the slot from the signature's last bytes; a hit is an exact match */

    slot = ngx_hash_key(token->data + token->len - 32, 32)
           % NGX_HTTP_HARBOR_TOKEN_CACHE;
    t = &ngx_http_harbor_tokens[slot];

    if (t->claims && t->conf == hlcf && t->len == token->len
        && ngx_http_harbor_equal(t->token, token->data, token->len))
    {
        if (now <= t->exp + NGX_HTTP_HARBOR_LEEWAY) {
            return t->claims;
        }

        ngx_http_harbor_token_forget(t);
    }

    if (hb_jwt_verify(hlcf->token_key, (char *) token->data, token->len,
                      (char *) hlcf->token_issuer.data,
                      (char *) hlcf->token_service.data, now,
                      NGX_HTTP_HARBOR_LEEWAY, &claims, err, sizeof(err))
        != 0)
    {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "harbor: bearer token refused: %s", err);
        ngx_http_harbor_metrics_count(r, ngx_http_harbor_token_reason(err));
        return NULL;
    }

    ngx_http_harbor_token_forget(t);

    t->token = ngx_alloc(token->len, r->connection->log);
    if (t->token == NULL) {
        /* verified all the same: answer without remembering it */
        ngx_http_harbor_token_keep(r, claims);
        return claims;
    }

    exp = json_object_get(claims, "exp");

    ngx_memcpy(t->token, token->data, token->len);
    t->len = token->len;
    t->conf = hlcf;
    t->exp = (time_t) json_number_value(exp);
    t->claims = claims;

    return claims;
}


/*
 * Constant time, like CRYPTO_memcmp(), which goes a byte at a time: this
 * goes 8 at a time over a 2 KiB token on every request.
 */

static ngx_uint_t
ngx_http_harbor_equal(const u_char *a, const u_char *b, size_t len)
{
    size_t    i;
    uint64_t  x, y, d;

    d = 0;

    for (i = 0; i + 8 <= len; i += 8) {
        ngx_memcpy(&x, a + i, 8);
        ngx_memcpy(&y, b + i, 8);
        d |= x ^ y;
    }

    for ( /* void */ ; i < len; i++) {
        d |= a[i] ^ b[i];
    }

    return d == 0;
}


static void
ngx_http_harbor_token_forget(ngx_http_harbor_token_t *t)
{
    if (t->claims) {
        json_decref(t->claims);
        t->claims = NULL;
    }

    if (t->token) {
        ngx_free(t->token);
        t->token = NULL;
    }
}


/* claims not in the cache live as long as the request */

static void
ngx_http_harbor_token_release(void *data)
{
    json_decref(data);
}


static void
ngx_http_harbor_token_keep(ngx_http_request_t *r, json_t *claims)
{
    ngx_pool_cleanup_t  *cln;

    cln = ngx_pool_cleanup_add(r->pool, 0);

    if (cln == NULL) {
        /* leaked rather than freed under the request */
        return;
    }

    cln->handler = ngx_http_harbor_token_release;
    cln->data = claims;
}


/* access: [{"type":..,"name":..,"actions":[..]}] grants action on name */

static ngx_int_t
ngx_http_harbor_token_allows(json_t *claims, const char *type,
    ngx_str_t *name, const char *action)
{
    size_t   i, j;
    json_t  *access, *a, *v, *actions;

    access = json_object_get(claims, "access");

    if (!json_is_array(access)) {
        return 0;
    }

    for (i = 0; i < json_array_size(access); i++) {
        a = json_array_get(access, i);

        v = json_object_get(a, "type");
        if (!json_is_string(v) || ngx_strcmp(json_string_value(v), type) != 0)
        {
            continue;
        }

        v = json_object_get(a, "name");
        if (!json_is_string(v)) {
            continue;
        }

        if (name) {
            if (json_string_length(v) != name->len
                || ngx_memcmp(json_string_value(v), name->data, name->len)
                   != 0)
            {
                continue;
            }

        } else if (ngx_strcmp(json_string_value(v), "catalog") != 0) {
            continue;
        }

        actions = json_object_get(a, "actions");

        for (j = 0; j < json_array_size(actions); j++) {
            v = json_array_get(actions, j);

            if (json_is_string(v)
                && (ngx_strcmp(json_string_value(v), action) == 0
                    || ngx_strcmp(json_string_value(v), "*") == 0))
            {
                return 1;
            }
        }
    }

    return 0;
}


/*
 * authd's reason for refusing this action on this repository, if it gave
 * one: an entry that names the action, else any entry for the name.
 */

static const char *
ngx_http_harbor_token_denied(ngx_http_request_t *r, json_t *claims,
    ngx_str_t *name, const char *action)
{
    u_char      *p;
    size_t       i, j, len;
    json_t      *denied, *d, *v, *reason, *actions, *found;
    const char  *s;

    denied = json_object_get(claims, "harbor_denied");
    found = NULL;

    for (i = 0; i < json_array_size(denied); i++) {
        d = json_array_get(denied, i);
        v = json_object_get(d, "name");
        reason = json_object_get(d, "reason");

        if (!json_is_string(v) || !json_is_string(reason)
            || json_string_length(v) != name->len
            || ngx_memcmp(json_string_value(v), name->data, name->len) != 0)
        {
            continue;
        }

        if (found == NULL) {
            found = reason;
        }

        actions = json_object_get(d, "actions");

        for (j = 0; j < json_array_size(actions); j++) {
            v = json_array_get(actions, j);

            if (json_is_string(v)
                && ngx_strcmp(json_string_value(v), action) == 0)
            {
                found = reason;
                goto done;
            }
        }
    }

done:

    if (found == NULL) {
        return NULL;
    }

    /* a copy: the cached claims may be replaced before the response */

    s = json_string_value(found);
    len = ngx_min(json_string_length(found), 512);

    p = ngx_pnalloc(r->pool, len + 1);
    if (p == NULL) {
        return NULL;
    }

    ngx_memcpy(p, s, len);
    p[len] = '\0';

    return (char *) p;
}


/*
 * 401 with WWW-Authenticate: Bearer realm=..,service=..,scope=..[,error=..]
 * The body, in the registry's error format, comes from the header filter
 * with ctx->fail_message.
 */

static ngx_int_t
ngx_http_harbor_challenge(ngx_http_request_t *r,
    ngx_http_harbor_loc_conf_t *hlcf, ngx_http_harbor_ctx_t *ctx,
    const char *scope_actions, const char *error)
{
    u_char           *p;
    size_t            len;
    ngx_str_t         realm, from, mount, addr;
    ngx_table_elt_t  *h;
    u_char            text[NGX_SOCKADDR_STRLEN];

    if (hlcf->token_realm) {
        if (ngx_http_complex_value(r, hlcf->token_realm, &realm) != NGX_OK) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

    } else {
        /* the token service behind the same host the client used */

        realm.len = sizeof("https://") - 1 + 255 + sizeof("/service/token");
        realm.data = ngx_pnalloc(r->pool, realm.len);
        if (realm.data == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        p = ngx_sprintf(realm.data, "%s://",
#if (NGX_HTTP_SSL)
                        r->connection->ssl ? "https" : "http"
#else
                        "http"
#endif
                        );

        addr.len = NGX_SOCKADDR_STRLEN;
        addr.data = text;

        if (r->headers_in.host && ngx_http_harbor_host_safe(
                                      &r->headers_in.host->value))
        {
            p = ngx_cpymem(p, r->headers_in.host->value.data,
                           r->headers_in.host->value.len);

        } else if (r->headers_in.host == NULL
                   && ngx_connection_local_sockaddr(r->connection, &addr, 1)
                      == NGX_OK
                   && r->connection->local_sockaddr->sa_family != AF_UNIX)
        {
            /*
             * No Host header (HTTP/1.0, or request headers too large to
             * be read to it): the address the client connected to.
             */

            p = ngx_cpymem(p, addr.data, addr.len);

        } else {
            p = ngx_cpymem(p, "localhost", sizeof("localhost") - 1);
        }

        p = ngx_cpymem(p, "/service/token", sizeof("/service/token") - 1);
        realm.len = p - realm.data;
    }

    len = sizeof("Bearer realm=\"\",service=\"\"") - 1 + realm.len
          + hlcf->token_service.len;

    if (scope_actions) {
        len += sizeof(",scope=\"repository::\"") - 1 + ctx->route.name.len
               + ngx_strlen(scope_actions);
    }

    /*
     * A cross-repository mount needs pull on its source too: the
     * challenge names both, as distribution's does, so that a client
     * asking for exactly the challenged scope gets its mount.
     */

    ngx_str_null(&from);

    if (scope_actions
        && ctx->route.type == NGX_HTTP_HARBOR_R_UPLOADS
        && ngx_http_harbor_arg(r, "mount", &mount) == NGX_OK
        && ngx_http_harbor_arg(r, "from", &from) == NGX_OK
        && (!hb_name_valid(from.data, from.len)
            || (from.len == ctx->route.name.len
                && ngx_strncmp(from.data, ctx->route.name.data, from.len)
                   == 0)))
    {
        ngx_str_null(&from);
    }

    if (from.len) {
        len += sizeof(" repository::pull") - 1 + from.len;
    }

    if (error) {
        len += sizeof(",error=\"\"") - 1 + ngx_strlen(error);
    }

    h = ngx_list_push(&r->headers_out.headers);
    if (h == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    h->value.data = ngx_pnalloc(r->pool, len);
    if (h->value.data == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    p = ngx_sprintf(h->value.data, "Bearer realm=\"%V\",service=\"%V\"",
                    &realm, &hlcf->token_service);

    if (scope_actions) {
        if (ctx->route.type == NGX_HTTP_HARBOR_R_CATALOG) {
            p = ngx_sprintf(p, ",scope=\"%s\"", scope_actions);

        } else {
            p = ngx_sprintf(p, ",scope=\"repository:%V:%s",
                            &ctx->route.name, scope_actions);

            if (from.len) {
                p = ngx_sprintf(p, " repository:%V:pull", &from);
            }

            *p++ = '"';
        }
    }

    if (error) {
        p = ngx_sprintf(p, ",error=\"%s\"", error);
    }

    h->value.len = p - h->value.data;
    h->hash = 1;
    ngx_str_set(&h->key, "WWW-Authenticate");
#if (nginx_version >= 1023000)
    h->next = NULL;
#endif

    r->headers_out.www_authenticate = h;

    if (ctx->fail_message == NULL) {
        ctx->fail_code = "UNAUTHORIZED";
        ctx->fail_message = "authentication required";
    }

    return NGX_HTTP_UNAUTHORIZED;
}


static ngx_http_harbor_metric_e
ngx_http_harbor_token_reason(const char *err)
{
    ngx_uint_t  i;

    for (i = 0; ngx_http_harbor_token_reasons[i].err; i++) {
        if (ngx_strcmp(err, ngx_http_harbor_token_reasons[i].err) == 0) {
            break;
        }
    }

    return ngx_http_harbor_token_reasons[i].reason;
}
