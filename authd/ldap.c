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
    lc->scope = conf->ldap_scope;
    lc->timeout = conf->ldap_timeout;
    lc->verify_cert = conf->ldap_verify_cert;

    settings_unlock();

    if (lc->url == NULL || lc->search_dn == NULL
        || lc->search_password == NULL || lc->base_dn == NULL
        || lc->filter == NULL || lc->uid == NULL || lc->ca_file == NULL)
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
    int             rc, v, req;

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

    /* ldaps: this connection's own TLS context, with our options */
    if (strncasecmp(url, "ldaps://", 8) == 0) {
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
 * Search for name on a bound connection and bind as the one entry found.
 * AUTH_OK (lu filled), AUTH_FAIL, or -(libldap code) if the directory
 * did not answer.
 */
static int
dir_verify(LDAP *ld, const struct dir_conf *lc, const char *name,
    size_t nlen, const char *pw, size_t plen, struct dir_user *lu)
{
    struct berval   in, esc;
    struct timeval  tv;
    LDAPMessage    *res, *e;
    char           *filter, *dn, *attrs[5];
    const char     *f;
    size_t          flen, size;
    int             rc, n, scope;

    res = NULL;
    filter = NULL;
    dn = NULL;
    esc.bv_val = NULL;

    in.bv_val = (char *) name;
    in.bv_len = nlen;

    if (ldap_bv2escaped_filter_value(&in, &esc) != 0) {
        return AUTH_FAIL;
    }

    /* ldap_filter with or without its parentheses */
    f = lc->filter;
    flen = strlen(f);

    size = flen + esc.bv_len + strlen(lc->uid) + 16;

    filter = malloc(size);
    if (filter == NULL) {
        rc = -LDAP_NO_MEMORY;
        goto done;
    }

    if (flen == 0) {
        n = snprintf(filter, size, "(%s=%s)", lc->uid, esc.bv_val);
    } else if (f[0] == '(') {
        n = snprintf(filter, size, "(&(%s=%s)%s)", lc->uid, esc.bv_val, f);
    } else {
        n = snprintf(filter, size, "(&(%s=%s)(%s))", lc->uid, esc.bv_val,
                     f);
    }

    if (n < 0 || (size_t) n >= size) {
        log_warnx("ldap: search filter does not fit");
        rc = -LDAP_FILTER_ERROR;
        goto done;
    }

    attrs[0] = (char *) lc->uid;
    attrs[1] = "mail";
    attrs[2] = "cn";
    attrs[3] = "displayName";
    attrs[4] = NULL;

    scope = lc->scope == 0 ? LDAP_SCOPE_BASE
            : lc->scope == 1 ? LDAP_SCOPE_ONELEVEL : LDAP_SCOPE_SUBTREE;

    tv.tv_sec = lc->timeout;
    tv.tv_usec = 0;

    /* two are enough to know it is not exactly one */
    rc = ldap_search_ext_s(ld, lc->base_dn, scope, filter, attrs, 0, NULL,
                           NULL, &tv, 2, &res);

    if (rc == LDAP_SIZELIMIT_EXCEEDED) {
        log_info("ldap: more than one entry for \"%.64s\"", name);
        rc = AUTH_FAIL;
        goto done;
    }

    if (rc == LDAP_NO_SUCH_OBJECT) {
        rc = AUTH_FAIL;
        goto done;
    }

    if (rc != LDAP_SUCCESS) {
        rc = -rc;
        goto done;
    }

    if (ldap_count_entries(ld, res) != 1) {
        rc = AUTH_FAIL;
        goto done;
    }

    e = ldap_first_entry(ld, res);
    dn = e != NULL ? ldap_get_dn(ld, e) : NULL;

    if (dn == NULL || dn[0] == '\0') {
        rc = AUTH_FAIL;
        goto done;
    }

    dir_attr(ld, e, lc->uid, lu->uid, sizeof(lu->uid));
    dir_attr(ld, e, "mail", lu->mail, sizeof(lu->mail));
    dir_attr(ld, e, "displayName", lu->realname, sizeof(lu->realname));
    if (lu->realname[0] == '\0') {
        dir_attr(ld, e, "cn", lu->realname, sizeof(lu->realname));
    }

    rc = dir_bind_pw(ld, dn, pw, plen);

    if (rc == LDAP_SUCCESS) {
        rc = AUTH_OK;
    } else if (rc == LDAP_INVALID_CREDENTIALS
               || rc == LDAP_INAPPROPRIATE_AUTH
               || rc == LDAP_UNWILLING_TO_PERFORM)
    {
        rc = AUTH_FAIL;
    } else {
        rc = -rc;
    }

done:

    if (res != NULL) {
        ldap_msgfree(res);
    }
    if (dn != NULL) {
        ldap_memfree(dn);
    }
    if (esc.bv_val != NULL) {
        ber_memfree(esc.bv_val);
    }
    free(filter);

    return rc;
}


/*
 * Check name and pw against the directory: AUTH_OK with lu filled,
 * AUTH_FAIL, or AUTH_UNAVAILABLE when no URL answered in time.
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

        log_warnx("ldap: %s: login of \"%.64s\" failed: %s", url, name,
                  ldap_err2string(-rc));

        if (!DIR_DOWN(-rc)) {
            return AUTH_UNAVAILABLE;
        }
    }

    return AUTH_UNAVAILABLE;
}


/* a bind as the search DN on the first URL that answers; 0 or -1, err */
int
dir_ping(const struct dir_conf *lc, char *err, size_t errlen)
{
    const char  *p;
    char         url[1025];
    LDAP        *ld;
    int          rc;

    p = lc->url;
    snprintf(err, errlen, "no LDAP URL is configured");

    while (dir_next_url(&p, url, sizeof(url)) == 0) {
        rc = dir_connect(lc, url, &ld);
        if (rc == LDAP_SUCCESS) {
            ldap_unbind_ext_s(ld, NULL, NULL);
            return 0;
        }
        /* libldap's words only: nothing of the settings */
        snprintf(err, errlen, "%s", ldap_err2string(rc));
    }

    return -1;
}
