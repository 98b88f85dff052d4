/*
 * authd: logins against an LDAP directory (OpenLDAP's libldap).
 *
 * Search, then bind: a connection bound as ldap_search_dn (anonymous if
 * none) looks for (&(<ldap_uid>=<name>)<ldap_filter>) under ldap_base_dn
 * with the name escaped as RFC 4515 says; exactly one entry must answer,
 * and a bind as that entry's DN with the password decides.  An empty
 * password never reaches a bind: many servers take it as an anonymous
 * bind, which succeeds.
 *
 * An unknown name costs what a wrong password costs: a search, and a
 * bind (as a DN that does not exist, with the password typed), so that
 * neither the time nor the directory's log tells them apart.
 *
 * ldap:// URLs with ldap_start_tls (ours: Harbor has no StartTLS key)
 * ask for StartTLS before the first bind; that TLS, as ldaps://, is
 * checked against ldap_ca_file when ldap_verify_cert is on.
 *
 * The user's entry brings ldap_group_membership_attribute (memberOf)
 * too: the DNs of their groups, normalized (dir_dn_norm), for auth.c
 * to match against the user groups of the database, and whether
 * ldap_group_admin_dn is one of them.
 *
 * This runs on authd's request threads, with the synchronous calls of
 * libldap, each under a deadline of ldap_timeout seconds: the connect
 * (LDAP_OPT_NETWORK_TIMEOUT) and every operation (LDAP_OPT_TIMEOUT, and
 * the search's own time limit).  The URLs of ldap_url are tried in
 * turn; one that cannot be reached or does not answer in time passes the
 * login to the next, so a login waits at most ldap_timeout per URL and
 * operation.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <ldap.h>

#include "authd.h"


#define DIR_DOWN(rc)                                                  \
    ((rc) == LDAP_SERVER_DOWN || (rc) == LDAP_TIMEOUT                       \
     || (rc) == LDAP_CONNECT_ERROR || (rc) == LDAP_UNAVAILABLE              \
     || (rc) == LDAP_BUSY)


static char *
dir_dup(const char *s)
{
    return strdup(s != NULL ? s : "");
}


/* a copy of the current settings, for one login; 0 or -1 (memory) */
int
dir_conf_get(struct dir_conf *lc)
{
    memset(lc, 0, sizeof(*lc));

    settings_rdlock();

    lc->url = dir_dup(conf->ldap_url);
    lc->search_dn = dir_dup(conf->ldap_search_dn);
    lc->search_password = dir_dup(conf->ldap_search_password);
    lc->base_dn = dir_dup(conf->ldap_base_dn);
    lc->filter = dir_dup(conf->ldap_filter);
    lc->uid = dir_dup(conf->ldap_uid);
    lc->ca_file = dir_dup(conf->ldap_ca_file);
    lc->group_base_dn = dir_dup(conf->ldap_group_base_dn);
    lc->group_filter = dir_dup(conf->ldap_group_search_filter);
    lc->group_name_attr = dir_dup(conf->ldap_group_attribute_name);
    lc->group_member_attr = dir_dup(conf->ldap_group_membership_attribute);
    lc->group_admin_dn = dir_dup(conf->ldap_group_admin_dn);
    lc->group_scope = conf->ldap_group_search_scope;
    lc->start_tls = conf->ldap_start_tls;
    lc->scope = conf->ldap_scope;
    lc->timeout = conf->ldap_timeout;
    lc->verify_cert = conf->ldap_verify_cert;

    settings_unlock();

    if (lc->url == NULL || lc->search_dn == NULL
        || lc->search_password == NULL || lc->base_dn == NULL
        || lc->filter == NULL || lc->uid == NULL || lc->ca_file == NULL
        || lc->group_base_dn == NULL || lc->group_filter == NULL
        || lc->group_name_attr == NULL || lc->group_member_attr == NULL
        || lc->group_admin_dn == NULL)
    {
        dir_conf_free(lc);
        return -1;
    }

    return 0;
}


void
dir_conf_free(struct dir_conf *lc)
{
    if (lc->search_password != NULL) {
        explicit_bzero(lc->search_password, strlen(lc->search_password));
    }

    free(lc->url);
    free(lc->search_dn);
    free(lc->search_password);
    free(lc->base_dn);
    free(lc->filter);
    free(lc->uid);
    free(lc->ca_file);
    free(lc->group_base_dn);
    free(lc->group_filter);
    free(lc->group_name_attr);
    free(lc->group_member_attr);
    free(lc->group_admin_dn);
    memset(lc, 0, sizeof(*lc));
}


static int
dir_bind_pw(LDAP *ld, const char *dn, const char *pw, size_t plen)
{
    struct berval  cred;

    cred.bv_val = (char *) pw;
    cred.bv_len = plen;

    return ldap_sasl_bind_s(ld, dn, LDAP_SASL_SIMPLE, &cred, NULL, NULL,
                            NULL);
}


/*
 * A connection to url, bound as the search DN.  LDAP_SUCCESS with *out,
 * or libldap's code.
 */
static int
dir_connect(const struct dir_conf *lc, const char *url, LDAP **out)
{
    struct timeval  tv;
    LDAP           *ld;
    int             rc, v, req, tls;

    *out = NULL;

    rc = ldap_initialize(&ld, url);
    if (rc != LDAP_SUCCESS) {
        return rc;
    }

    tv.tv_sec = lc->timeout;
    tv.tv_usec = 0;
    v = LDAP_VERSION3;
    req = lc->verify_cert ? LDAP_OPT_X_TLS_DEMAND : LDAP_OPT_X_TLS_NEVER;

    if (ldap_set_option(ld, LDAP_OPT_PROTOCOL_VERSION, &v) != LDAP_OPT_SUCCESS
        || ldap_set_option(ld, LDAP_OPT_NETWORK_TIMEOUT, &tv)
           != LDAP_OPT_SUCCESS
        || ldap_set_option(ld, LDAP_OPT_TIMEOUT, &tv) != LDAP_OPT_SUCCESS
        || ldap_set_option(ld, LDAP_OPT_REFERRALS, LDAP_OPT_OFF)
           != LDAP_OPT_SUCCESS)
    {
        ldap_unbind_ext_s(ld, NULL, NULL);
        return LDAP_LOCAL_ERROR;
    }

    /* ldaps or StartTLS: this connection's own TLS context, our options */
    tls = strncasecmp(url, "ldaps://", 8) == 0;
    if (tls || lc->start_tls) {
        v = 0;

        if (ldap_set_option(ld, LDAP_OPT_X_TLS_REQUIRE_CERT, &req)
               != LDAP_OPT_SUCCESS
            || (lc->ca_file[0] != '\0'
                && ldap_set_option(ld, LDAP_OPT_X_TLS_CACERTFILE,
                                   lc->ca_file) != LDAP_OPT_SUCCESS)
            || ldap_set_option(ld, LDAP_OPT_X_TLS_NEWCTX, &v)
               != LDAP_OPT_SUCCESS)
        {
            ldap_unbind_ext_s(ld, NULL, NULL);
            return LDAP_LOCAL_ERROR;
        }
    }

    if (!tls && lc->start_tls) {
        rc = ldap_start_tls_s(ld, NULL, NULL);
        if (rc != LDAP_SUCCESS) {
            ldap_unbind_ext_s(ld, NULL, NULL);
            /* refused by the server or the certificate: no plain text */
            return rc == LDAP_SERVER_DOWN ? rc : LDAP_CONNECT_ERROR;
        }
    }

    rc = dir_bind_pw(ld, lc->search_dn[0] != '\0' ? lc->search_dn : NULL,
                      lc->search_password, strlen(lc->search_password));
    if (rc != LDAP_SUCCESS) {
        ldap_unbind_ext_s(ld, NULL, NULL);
        return rc;
    }

    *out = ld;

    return LDAP_SUCCESS;
}


/* the next URL of a space separated list into buf; 0, or -1 at the end */
static int
dir_next_url(const char **p, char *buf, size_t len)
{
    const char  *s, *e;

    s = *p;
    while (*s == ' ') {
        s++;
    }
    if (*s == '\0') {
        return -1;
    }

    e = strchr(s, ' ');
    if (e == NULL) {
        e = s + strlen(s);
    }

    if ((size_t) (e - s) >= len) {
        return -1;
    }

    memcpy(buf, s, (size_t) (e - s));
    buf[e - s] = '\0';
    *p = e;

    return 0;
}


/* the first value of attribute a of entry e into out, "" if none */
static void
dir_attr(LDAP *ld, LDAPMessage *e, const char *a, char *out, size_t len)
{
    struct berval  **vals;

    out[0] = '\0';

    vals = ldap_get_values_len(ld, e, a);
    if (vals == NULL) {
        return;
    }

    if (vals[0] != NULL && vals[0]->bv_len < len
        && memchr(vals[0]->bv_val, '\0', vals[0]->bv_len) == NULL)
    {
        memcpy(out, vals[0]->bv_val, vals[0]->bv_len);
        out[vals[0]->bv_len] = '\0';
    }

    ldap_value_free_len(vals);
}


/*
 * A DN in one spelling for comparisons: LDAPv3 string form with the
 * spaces around separators gone, ASCII in lower case.  0, or -1 if in is
 * not a DN (or is empty, or does not fit).
 */
int
dir_dn_norm(const char *in, char *out, size_t len)
{
    char    *n;
    size_t   i, l;

    n = NULL;

    if (in[0] == '\0'
        || ldap_dn_normalize(in, LDAP_DN_FORMAT_LDAP, &n,
                             LDAP_DN_FORMAT_LDAPV3) != LDAP_SUCCESS
        || n == NULL)
    {
        if (n != NULL) {
            ldap_memfree(n);
        }
        return -1;
    }

    l = strlen(n);
    if (l == 0 || l >= len || strchr(n, '\n') != NULL) {
        ldap_memfree(n);
        return -1;
    }

    for (i = 0; i <= l; i++) {
        out[i] = (n[i] >= 'A' && n[i] <= 'Z') ? (char) (n[i] - 'A' + 'a')
                                               : n[i];
    }

    ldap_memfree(n);

    return 0;
}


/*
 * (&(attr=value)extra), the value escaped as RFC 4515 says; value NULL:
 * (attr=*).  extra is a filter with or without its parentheses, or "".
 * malloc'd, NULL if out of memory or too long.
 */
static char *
dir_filter(const char *attr, const char *value, size_t vlen,
    const char *extra)
{
    struct berval   in, esc;
    const char     *v;
    char           *f;
    size_t          size;
    int             n;

    esc.bv_val = NULL;

    if (value != NULL) {
        in.bv_val = (char *) value;
        in.bv_len = vlen;
        if (ldap_bv2escaped_filter_value(&in, &esc) != 0) {
            return NULL;
        }
        v = esc.bv_val;
    } else {
        v = "*";
    }

    size = strlen(extra) + strlen(v) + strlen(attr) + 16;

    f = malloc(size);
    if (f == NULL) {
        goto done;
    }

    if (extra[0] == '\0') {
        n = snprintf(f, size, "(%s=%s)", attr, v);
    } else if (extra[0] == '(') {
        n = snprintf(f, size, "(&(%s=%s)%s)", attr, v, extra);
    } else {
        n = snprintf(f, size, "(&(%s=%s)(%s))", attr, v, extra);
    }

    if (n < 0 || (size_t) n >= size) {
        free(f);
        f = NULL;
    }

done:

    if (esc.bv_val != NULL) {
        ber_memfree(esc.bv_val);
    }

    return f;
}


static int
dir_scope(int s)
{
    return s == 0 ? LDAP_SCOPE_BASE
           : s == 1 ? LDAP_SCOPE_ONELEVEL : LDAP_SCOPE_SUBTREE;
}


/* the groups of the user's entry e into lu (see the top of the file) */
static int
dir_user_groups(LDAP *ld, LDAPMessage *e, const struct dir_conf *lc,
    struct dir_user *lu)
{
    struct berval  **vals;
    char             admin[1024], dn[1024], *v, *g;
    size_t           used, l;
    int              i, have_admin;

    have_admin = dir_dn_norm(lc->group_admin_dn, admin, sizeof(admin)) == 0;

    vals = ldap_get_values_len(ld, e, lc->group_member_attr[0] != '\0'
                                      ? lc->group_member_attr : "memberOf");
    if (vals == NULL) {
        return 0;
    }

    used = 0;

    for (i = 0; vals[i] != NULL; i++) {
        if (vals[i]->bv_len >= sizeof(dn)
            || memchr(vals[i]->bv_val, '\0', vals[i]->bv_len) != NULL)
        {
            continue;
        }

        memcpy(dn, vals[i]->bv_val, vals[i]->bv_len);
        dn[vals[i]->bv_len] = '\0';

        v = dn;
        if (dir_dn_norm(dn, dn, sizeof(dn)) != 0) {
            continue;
        }

        if (have_admin && strcmp(v, admin) == 0) {
            lu->admin = 1;
        }

        l = strlen(v);
        g = realloc(lu->groups, used + l + 2);
        if (g == NULL) {
            ldap_value_free_len(vals);
            return -1;
        }
        lu->groups = g;
        if (used > 0) {
            g[used++] = '\n';
        }
        memcpy(g + used, v, l + 1);
        used += l;
    }

    ldap_value_free_len(vals);

    return 0;
}


void
dir_user_free(struct dir_user *lu)
{
    free(lu->groups);
    lu->groups = NULL;
}


/*
 * Search for name on a bound connection and bind as the one entry found.
 * AUTH_OK (lu filled), AUTH_FAIL, or -(libldap code) if the directory
 * did not answer.
 */
static int
dir_verify(LDAP *ld, const struct dir_conf *lc, const char *name,
    size_t nlen, const char *pw, size_t plen, struct dir_user *lu)
{
    struct timeval  tv;
    LDAPMessage    *res, *e;
    char           *filter, *dn, *attrs[6], nodn[1100];
    int             rc;

    res = NULL;
    dn = NULL;

    filter = dir_filter(lc->uid, name, nlen, lc->filter);
    if (filter == NULL) {
        log_warnx("ldap: search filter does not fit");
        return -LDAP_FILTER_ERROR;
    }

    attrs[0] = (char *) lc->uid;
    attrs[1] = "mail";
    attrs[2] = "cn";
    attrs[3] = "displayName";
    attrs[4] = lc->group_member_attr[0] != '\0'
               ? (char *) lc->group_member_attr : "memberOf";
    attrs[5] = NULL;

    tv.tv_sec = lc->timeout;
    tv.tv_usec = 0;

    /* two are enough to know it is not exactly one */
    rc = ldap_search_ext_s(ld, lc->base_dn, dir_scope(lc->scope), filter,
                           attrs, 0, NULL, NULL, &tv, 2, &res);

    if (rc == LDAP_SIZELIMIT_EXCEEDED) {
        log_info("ldap: more than one entry for \"%.64s\"", name);
        rc = AUTH_FAIL;
        goto nobody;
    }

    if (rc == LDAP_NO_SUCH_OBJECT) {
        rc = AUTH_FAIL;
        goto nobody;
    }

    if (rc != LDAP_SUCCESS) {
        rc = -rc;
        goto done;
    }

    if (ldap_count_entries(ld, res) != 1) {
        rc = AUTH_FAIL;
        goto nobody;
    }

    e = ldap_first_entry(ld, res);
    dn = e != NULL ? ldap_get_dn(ld, e) : NULL;

    if (dn == NULL || dn[0] == '\0') {
        rc = AUTH_FAIL;
        goto nobody;
    }

    dir_attr(ld, e, lc->uid, lu->uid, sizeof(lu->uid));
    dir_attr(ld, e, "mail", lu->mail, sizeof(lu->mail));
    dir_attr(ld, e, "displayName", lu->realname, sizeof(lu->realname));
    if (lu->realname[0] == '\0') {
        dir_attr(ld, e, "cn", lu->realname, sizeof(lu->realname));
    }

    rc = dir_bind_pw(ld, dn, pw, plen);

    if (rc == LDAP_SUCCESS) {
        rc = dir_user_groups(ld, e, lc, lu) == 0 ? AUTH_OK : AUTH_ERROR;
    } else if (rc == LDAP_INVALID_CREDENTIALS
               || rc == LDAP_INAPPROPRIATE_AUTH
               || rc == LDAP_UNWILLING_TO_PERFORM)
    {
        rc = AUTH_FAIL;
    } else {
        rc = -rc;
    }

    goto done;

nobody:

    /*
     * No one, or more than one: a bind as a DN that no entry has, with
     * the password typed, costs the directory what a wrong password
     * costs.  Its answer does not matter.
     */
    snprintf(nodn, sizeof(nodn), "cn=harbor-no-such-user%s%.1024s",
             lc->base_dn[0] != '\0' ? "," : "", lc->base_dn);
    (void) dir_bind_pw(ld, nodn, pw, plen);

done:

    if (res != NULL) {
        ldap_msgfree(res);
    }
    if (dn != NULL) {
        ldap_memfree(dn);
    }
    free(filter);

    return rc;
}


/*
 * Check name and pw against the directory: AUTH_OK with lu filled,
 * AUTH_FAIL, or AUTH_UNAVAILABLE when no URL answered in time.  The
 * caller frees lu with dir_user_free() whatever the answer.
 */
int
dir_login(const struct dir_conf *lc, const char *name, size_t nlen,
    const char *pw, size_t plen, struct dir_user *lu)
{
    const char  *p;
    char         url[1025];
    LDAP        *ld;
    int          rc;

    memset(lu, 0, sizeof(*lu));

    if (plen == 0 || nlen == 0) {
        return AUTH_FAIL;
    }

    p = lc->url;
    rc = -LDAP_SERVER_DOWN;

    while (dir_next_url(&p, url, sizeof(url)) == 0) {
        rc = dir_connect(lc, url, &ld);
        if (rc != LDAP_SUCCESS) {
            log_warnx("ldap: %s: bind as the search DN failed: %s", url,
                      ldap_err2string(rc));
            rc = -rc;
            if (DIR_DOWN(-rc)) {
                continue;
            }
            return AUTH_UNAVAILABLE;
        }

        rc = dir_verify(ld, lc, name, nlen, pw, plen, lu);
        ldap_unbind_ext_s(ld, NULL, NULL);

        if (rc >= 0) {
            return rc;
        }

        dir_user_free(lu);
        memset(lu, 0, sizeof(*lu));

        log_warnx("ldap: %s: login of \"%.64s\" failed: %s", url, name,
                  ldap_err2string(-rc));

        if (!DIR_DOWN(-rc)) {
            return AUTH_UNAVAILABLE;
        }
    }

    return AUTH_UNAVAILABLE;
}


/*
 * A connection bound as the search DN to the first URL that answers:
 * LDAP_SUCCESS with *ld, or the last URL's libldap code.
 */
static int
dir_open(const struct dir_conf *lc, LDAP **ld)
{
    const char  *p;
    char         url[1025];
    int          rc;

    p = lc->url;
    rc = LDAP_PARAM_ERROR;                  /* no URL */

    while (dir_next_url(&p, url, sizeof(url)) == 0) {
        rc = dir_connect(lc, url, ld);
        if (rc == LDAP_SUCCESS) {
            return rc;
        }
        log_warnx("ldap: %s: bind as the search DN failed: %s", url,
                  ldap_err2string(rc));
    }

    return rc;
}


/* a bind as the search DN on the first URL that answers; 0 or -1, err */
int
dir_ping(const struct dir_conf *lc, char *err, size_t errlen)
{
    LDAP  *ld;
    int    rc;

    rc = dir_open(lc, &ld);
    if (rc == LDAP_SUCCESS) {
        ldap_unbind_ext_s(ld, NULL, NULL);
        return 0;
    }

    /* libldap's words only: nothing of the settings */
    snprintf(err, errlen, "%s", rc == LDAP_PARAM_ERROR
             ? "no LDAP URL is configured" : ldap_err2string(rc));

    return -1;
}


/* a JSON string of the first value of a, "" if none */
static json_t *
dir_json_attr(LDAP *ld, LDAPMessage *e, const char *a)
{
    char  v[1024];

    dir_attr(ld, e, a, v, sizeof(v));

    return json_string(v);
}


/*
 * A search on a new connection (dir_open), filter freed: 0 with *ld and
 * *res (the caller frees both), or -1 with err set.  No entry, or more
 * than max, is not an error.
 */
static int
dir_search(const struct dir_conf *lc, const char *base, int scope,
    char *filter, char **attrs, int max, LDAP **ld, LDAPMessage **res,
    char *err, size_t errlen)
{
    struct timeval  tv;
    int             rc;

    *res = NULL;

    if (filter == NULL) {
        snprintf(err, errlen, "the search filter does not fit");
        return -1;
    }

    rc = dir_open(lc, ld);
    if (rc != LDAP_SUCCESS) {
        free(filter);
        snprintf(err, errlen, "%s", ldap_err2string(rc));
        return -1;
    }

    tv.tv_sec = lc->timeout;
    tv.tv_usec = 0;

    rc = ldap_search_ext_s(*ld, base, scope, filter, attrs, 0, NULL, NULL,
                           &tv, max, res);
    free(filter);

    if (rc != LDAP_SUCCESS && rc != LDAP_SIZELIMIT_EXCEEDED
        && rc != LDAP_NO_SUCH_OBJECT && rc != LDAP_INVALID_DN_SYNTAX)
    {
        if (*res != NULL) {
            ldap_msgfree(*res);
            *res = NULL;
        }
        ldap_unbind_ext_s(*ld, NULL, NULL);
        snprintf(err, errlen, "%s", ldap_err2string(rc));
        return -1;
    }

    return 0;
}


/* the end of a dir_search: ld and res freed; list into *out, 0 or -1 */
static int
dir_search_end(LDAP *ld, LDAPMessage *res, json_t *list, json_t **out,
    char *err, size_t errlen)
{
    if (res != NULL) {
        ldap_msgfree(res);
    }
    ldap_unbind_ext_s(ld, NULL, NULL);

    if (list == NULL) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }

    *out = list;

    return 0;
}


/*
 * Directory users whose ldap_uid is name (all of them if name is empty),
 * at most max: *out, Harbor's [{"username", "realname", "email"}].
 * 0, or -1 if the directory did not answer (err set).
 */
int
dir_find_users(const struct dir_conf *lc, const char *name, int max,
    json_t **out, char *err, size_t errlen)
{
    LDAPMessage    *res, *e;
    LDAP           *ld;
    json_t         *list, *u, *un;
    char           *filter, *attrs[5], rn[1024];

    *out = NULL;

    attrs[0] = (char *) lc->uid;
    attrs[1] = "mail";
    attrs[2] = "cn";
    attrs[3] = "displayName";
    attrs[4] = NULL;

    filter = dir_filter(lc->uid, name[0] != '\0' ? name : NULL,
                        strlen(name), lc->filter);

    if (dir_search(lc, lc->base_dn, dir_scope(lc->scope), filter, attrs, max,
                   &ld, &res, err, errlen) != 0)
    {
        return -1;
    }

    list = json_array();

    for (e = res != NULL ? ldap_first_entry(ld, res) : NULL;
         e != NULL && list != NULL;
         e = ldap_next_entry(ld, e))
    {
        un = dir_json_attr(ld, e, lc->uid);
        if (un == NULL || json_string_length(un) == 0) {
            json_decref(un);
            continue;
        }

        dir_attr(ld, e, "displayName", rn, sizeof(rn));
        if (rn[0] == '\0') {
            dir_attr(ld, e, "cn", rn, sizeof(rn));
        }

        u = json_pack("{s:o, s:s, s:o}", "username", un, "realname", rn,
                      "email", dir_json_attr(ld, e, "mail"));
        json_array_append_new(list, u);
    }

    return dir_search_end(ld, res, list, out, err, errlen);
}


/*
 * Directory groups: the one at dn (a base search), else those under
 * ldap_group_base_dn whose ldap_group_attribute_name is name (all of them
 * if name is empty), at most max, each matching ldap_group_search_filter.
 * *out: [{"group_name", "ldap_group_dn", "group_type": 1}].  0, or -1
 * if the directory did not answer (err set).
 */
int
dir_find_groups(const struct dir_conf *lc, const char *name, const char *dn,
    int max, json_t **out, char *err, size_t errlen)
{
    LDAPMessage    *res, *e;
    LDAP           *ld;
    json_t         *list;
    const char     *attr, *base;
    char           *filter, *edn, *attrs[2], gname[1024], norm[1024];
    int             rc, scope;

    *out = NULL;

    attr = lc->group_name_attr[0] != '\0' ? lc->group_name_attr : "cn";

    if (dn != NULL && dn[0] != '\0') {
        filter = dir_filter("objectClass", NULL, 0, lc->group_filter);
        base = dn;
        scope = LDAP_SCOPE_BASE;
    } else {
        filter = dir_filter(attr, name[0] != '\0' ? name : NULL,
                            strlen(name), lc->group_filter);
        base = lc->group_base_dn[0] != '\0' ? lc->group_base_dn
                                            : lc->base_dn;
        scope = dir_scope(lc->group_scope);
    }

    attrs[0] = (char *) attr;
    attrs[1] = NULL;

    if (dir_search(lc, base, scope, filter, attrs, max, &ld, &res, err,
                   errlen) != 0)
    {
        return -1;
    }

    list = json_array();

    for (e = res != NULL ? ldap_first_entry(ld, res) : NULL;
         e != NULL && list != NULL;
         e = ldap_next_entry(ld, e))
    {
        edn = ldap_get_dn(ld, e);
        if (edn == NULL) {
            continue;
        }
        rc = dir_dn_norm(edn, norm, sizeof(norm));
        ldap_memfree(edn);
        if (rc != 0) {
            continue;
        }

        dir_attr(ld, e, attr, gname, sizeof(gname));

        json_array_append_new(list, json_pack("{s:s, s:s, s:i}",
                              "group_name", gname, "ldap_group_dn", norm,
                              "group_type", 1));
    }

    return dir_search_end(ld, res, list, out, err, errlen);
}
