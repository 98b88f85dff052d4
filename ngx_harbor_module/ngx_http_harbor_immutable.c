
/*
 * ngx-harbor: an OCI registry inside nginx.
 * Immutable tag rules: the checks of a tag move or delete against the
 * rules authd writes into the storage (harbor_policy.h,
 * docs/policies.md), read on each such request, never cached.
 */


#include "ngx_http_harbor_module.h"


/*
 * Would a PUT of digest to tag rt->ref move an immutable tag?  NGX_OK
 * yes, NGX_DECLINED no, NGX_ERROR a fault (op tells).
 */

ngx_int_t
ngx_http_harbor_tag_moves(ngx_http_request_t *r, ngx_http_harbor_route_t *rt,
    ngx_str_t *digest, ngx_http_harbor_op_t *op)
{
    ngx_int_t               rc;
    ngx_str_t               rules;
    ngx_http_harbor_link_t  link;

    ngx_http_harbor_link_init(&link, NGX_HTTP_HARBOR_LINK_TAG, &rt->name,
                              &rt->ref, NULL);

    op->done = NULL;

    rc = ngx_http_harbor_backend(r)->link_get(r, &link, 1, op);

    if (rc != NGX_OK) {
        return rc;
    }

    if (op->digest.len == digest->len
        && ngx_memcmp(op->digest.data, digest->data, digest->len) == 0)
    {
        return NGX_DECLINED;
    }

    rc = ngx_http_harbor_rules(r, &rt->name, &rules, op);

    if (rc != NGX_OK) {
        return rc;
    }

    return ngx_http_harbor_immutable(r, &rt->name, &rules, &rt->ref);
}


/*
 * The immutable tag rules of the project of repository name, read now
 * (never cached, so a rule authd has just written applies to the next
 * request): NGX_OK, NGX_DECLINED when the project has none, NGX_ERROR.
 */

ngx_int_t
ngx_http_harbor_rules(ngx_http_request_t *r, ngx_str_t *name,
    ngx_str_t *rules, ngx_http_harbor_op_t *op)
{
    u_char     *slash;
    ngx_int_t   rc;
    ngx_str_t   project;

    slash = ngx_strlchr(name->data, name->data + name->len, '/');
    if (slash == NULL) {
        return NGX_DECLINED;        /* no project, no rules */
    }

    project.data = name->data;
    project.len = slash - name->data;

    op->done = NULL;

    rc = ngx_http_harbor_backend(r)->policy_read(r, HB_POLICY_IMMUTABLE, &project,
                                                    op);

    if (rc == NGX_OK) {
        *rules = op->data;
    }

    return rc;
}


/*
 * Compiled rules, per worker, keyed by the very text just read: the text
 * decides, so a cached entry is never stale; compiling costs regcomp(3)
 * twice per rule, matching two regexec(3).
 */

#define NGX_HTTP_HARBOR_RULES_CACHE  8

typedef struct {
    u_char       *text;                 /* NULL: empty slot */
    size_t        len;
    hb_policy_t   pol;
} ngx_http_harbor_rules_t;

static ngx_http_harbor_rules_t  ngx_http_harbor_rules_cache[
                                    NGX_HTTP_HARBOR_RULES_CACHE];
static ngx_uint_t               ngx_http_harbor_rules_next;


static hb_policy_t *
ngx_http_harbor_rules_compiled(ngx_http_request_t *r, ngx_str_t *rules)
{
    ngx_uint_t                i;
    ngx_http_harbor_rules_t  *c;

    for (i = 0; i < NGX_HTTP_HARBOR_RULES_CACHE; i++) {
        c = &ngx_http_harbor_rules_cache[i];

        if (c->text != NULL && c->len == rules->len
            && ngx_memcmp(c->text, rules->data, rules->len) == 0)
        {
            return &c->pol;
        }
    }

    c = &ngx_http_harbor_rules_cache[ngx_http_harbor_rules_next];
    ngx_http_harbor_rules_next = (ngx_http_harbor_rules_next + 1)
                                 % NGX_HTTP_HARBOR_RULES_CACHE;

    if (c->text != NULL) {
        hb_policy_free(&c->pol);
        ngx_free(c->text);
        c->text = NULL;
    }

    if (hb_policy_compile(&c->pol, (char *) rules->data, rules->len) != 0) {
        return NULL;
    }

    c->text = ngx_alloc(rules->len + 1, r->connection->log);
    if (c->text == NULL) {
        hb_policy_free(&c->pol);
        return NULL;
    }

    ngx_memcpy(c->text, rules->data, rules->len);
    c->len = rules->len;

    return &c->pol;
}


/*
 * Does a rule protect tag?  NGX_OK yes, NGX_DECLINED no.  Rules that
 * cannot be parsed protect everything (fail closed), loudly.
 */

ngx_int_t
ngx_http_harbor_immutable(ngx_http_request_t *r, ngx_str_t *name,
    ngx_str_t *rules, ngx_str_t *tag)
{
    hb_policy_t  *pol;

    pol = ngx_http_harbor_rules_compiled(r, rules);

    if (pol == NULL) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "harbor: the immutable tag rules of \"%V\" cannot "
                      "be parsed: every tag is kept", name);
        return NGX_OK;
    }

    return hb_policy_match(pol, (char *) name->data, name->len,
                           (char *) tag->data, tag->len)
           ? NGX_OK : NGX_DECLINED;
}


/*
 * Does an immutable tag point at digest?  NGX_OK with *tag set,
 * NGX_DECLINED, NGX_ERROR.  Without rules, no listing at all.
 */

ngx_int_t
ngx_http_harbor_tags_immutable(ngx_http_request_t *r, ngx_str_t *name,
    ngx_str_t *digest, ngx_str_t *tag, ngx_http_harbor_op_t *op)
{
    ngx_int_t                   rc;
    ngx_str_t                  *t, rules;
    ngx_uint_t                  i;
    ngx_array_t                 tags;
    ngx_http_harbor_link_t      link;
    ngx_http_harbor_backend_t  *hs;

    rc = ngx_http_harbor_rules(r, name, &rules, op);

    if (rc != NGX_OK) {
        return rc;
    }

    hs = ngx_http_harbor_backend(r);

    if (ngx_array_init(&tags, r->pool, 8, sizeof(ngx_str_t)) != NGX_OK) {
        op->status = NGX_HTTP_INTERNAL_SERVER_ERROR;
        return NGX_ERROR;
    }

    rc = hs->list(r, NGX_HTTP_HARBOR_LIST_TAGS, name, NULL, NULL, &tags, op);
    if (rc != NGX_OK) {
        return rc;
    }

    t = tags.elts;

    for (i = 0; i < tags.nelts; i++) {
        if (ngx_http_harbor_immutable(r, name, &rules, &t[i])
            == NGX_DECLINED)
        {
            continue;
        }

        ngx_http_harbor_link_init(&link, NGX_HTTP_HARBOR_LINK_TAG, name,
                                  &t[i], NULL);

        rc = hs->link_get(r, &link, 1, op);

        if (rc == NGX_ERROR) {
            return NGX_ERROR;
        }

        if (rc == NGX_OK && op->digest.len == digest->len
            && ngx_memcmp(op->digest.data, digest->data, digest->len) == 0)
        {
            *tag = t[i];
            return NGX_OK;
        }
    }

    return NGX_DECLINED;
}


/* Harbor's refusal, code and words */

ngx_int_t
ngx_http_harbor_immutable_error(ngx_http_request_t *r, ngx_str_t *name,
    ngx_str_t *tag)
{
    u_char  *msg, *p;
    size_t   len;

    ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                  "harbor: \"%V:%V\" is immutable", name, tag);

    len = sizeof("Failed to process request due to ':' configured as "
                 "immutable.") + name->len + tag->len;

    msg = ngx_pnalloc(r->pool, len);
    if (msg == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    p = ngx_sprintf(msg, "Failed to process request due to '%V:%V' "
                    "configured as immutable.", name, tag);
    *p = '\0';

    return ngx_http_harbor_error(r, NGX_HTTP_PRECONDITION_FAILED,
                                 "PRECONDITION", (char *) msg, NULL);
}
