/*
 * authd: replication's client of a remote registry (libcurl).
 *
 * Requests carry what the remote asked for: nothing, Basic credentials
 * after a Basic challenge, or a bearer token from the token service named
 * by a Bearer challenge (realm, service, scope), fetched with the
 * endpoint's credentials and kept for the rest of the call.  A 401 with a
 * token in hand fetches a new one once (it expired).  A bearer the caller
 * hands in (the local instance) is used as it is.
 *
 * Every request has a connect timeout, gives up when nothing moved for a
 * minute, speaks http or https only and follows no redirect (blob GETs in
 * repl_copy.c excepted: storage redirects, credentials not forwarded).
 * Passwords and tokens go into libcurl options and never into a message.
 */

#include <arpa/inet.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include <curl/curl.h>
#include <jansson.h>

#include "authd.h"
#include "repl_client.h"


#define REPL_CONNECT_TIMEOUT   10L       /* seconds */
#define REPL_REQUEST_TIMEOUT   120L      /* a small request, whole */
#define REPL_LOW_SPEED_TIME    60L       /* nothing moved for that long */
#define REPL_PAGE_SIZE         100
#define REPL_PAGES_MAX         100000


struct repl_challenge {
    int    bearer;                       /* 0: Basic */
    char   realm[1024];
    char   service[256];
    char   scope[1024];
};


static size_t repl_body_cb(char *p, size_t size, size_t n, void *arg);
static size_t repl_header_cb(char *p, size_t size, size_t n, void *arg);
static int repl_xfer_cb(void *arg, curl_off_t dt, curl_off_t dn,
    curl_off_t ut, curl_off_t un);
static void repl_easy_common(struct repl_conn *c, CURL *h, const char *url,
    struct repl_resp *r);
static int repl_challenge_parse(const char *s, struct repl_challenge *ch);
static int repl_token(struct repl_conn *c, struct repl_challenge *ch,
    char *err, size_t errlen);
static void repl_clean(char *out, size_t len, const char *in);
static int repl_guard(struct repl_conn *c, char *err, size_t errlen);
static curl_socket_t repl_open_socket(void *arg, curlsocktype purpose,
    struct curl_sockaddr *a);

int
repl_init(void)
{
    return curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK ? 0 : -1;
}


int
repl_conn_init(struct repl_conn *c, const struct repl_endpoint *ep,
    const char *role, volatile int *stop, char *err, size_t errlen)
{
    CURLU  *u;
    char   *host, *port;
    size_t  n;
    int     rc;

    memset(c, 0, sizeof(*c));
    c->ep = ep;
    c->role = role;
    c->stop = stop;

    if (ep == NULL || ep->url == NULL
        || (strncmp(ep->url, "http://", 7) != 0
            && strncmp(ep->url, "https://", 8) != 0))
    {
        snprintf(err, errlen, "%s: the registry URL must start with "
                 "http:// or https://", role);
        return REPL_FATAL;
    }

    n = strlen(ep->url);
    while (n > 0 && ep->url[n - 1] == '/') {
        n--;
    }

    if (n >= sizeof(c->base)) {
        snprintf(err, errlen, "%s: the registry URL is too long", role);
        return REPL_FATAL;
    }

    memcpy(c->base, ep->url, n);
    c->base[n] = '\0';

    u = curl_url();
    host = NULL;
    port = NULL;
    rc = u == NULL
         || curl_url_set(u, CURLUPART_URL, c->base, 0) != CURLUE_OK
         || curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK
         || curl_url_get(u, CURLUPART_PORT, &port, CURLU_DEFAULT_PORT)
            != CURLUE_OK;

    if (!rc) {
        n = (size_t) snprintf(c->host, sizeof(c->host), "%s:%s", host, port);
        rc = n >= sizeof(c->host);
    }

    curl_free(host);
    curl_free(port);
    curl_url_cleanup(u);

    if (rc) {
        snprintf(err, errlen, "%s: the registry URL is not valid", role);
        return REPL_FATAL;
    }

    if (ep->guarded && repl_guard(c, err, errlen) != 0) {
        return REPL_FATAL;
    }

    if (ep->bearer != NULL) {
        c->token = strdup(ep->bearer);
        if (c->token == NULL) {
            curl_slist_free_all(c->pin);
            c->pin = NULL;
            snprintf(err, errlen, "out of memory");
            return REPL_ERROR;
        }
    }

    return REPL_OK;
}


/*
 * The SSRF guard for a registry an API user chose: its host resolved and
 * checked now, the address kept and pinned on every handle of c
 * (CURLOPT_RESOLVE), and every socket any handle of c opens checked
 * (repl_open_socket): a redirect or a token service elsewhere must be at
 * an address the guard lets through too.
 */
static int
repl_guard(struct repl_conn *c, char *err, size_t errlen)
{
    CURL        *h;
    const char  *e, *a;
    char         why[REPL_ERR_MAX], addr[INET6_ADDRSTRLEN + 2];
    size_t       n;

    h = curl_easy_init();
    if (h == NULL) {
        snprintf(err, errlen, "libcurl could not be initialised");
        return -1;
    }

    c->pin = outbound_pin(h, c->base, why, sizeof(why));
    curl_easy_cleanup(h);

    if (c->pin == NULL) {
        snprintf(err, errlen, "%s at %s refused: %s", c->role, c->host, why);
        return -1;
    }

    /* "host:port:address" or "host:port:[v6]": the address */
    e = c->pin->data;
    n = strlen(e);
    a = (n > 0 && e[n - 1] == ']') ? strrchr(e, '[') : strrchr(e, ':');
    if (a == NULL) {
        snprintf(err, errlen, "%s at %s: the address checked is not usable",
                 c->role, c->host);
        return -1;
    }

    snprintf(addr, sizeof(addr), "%s", a + 1);
    n = strlen(addr);
    if (a[0] == '[' && n > 0) {
        addr[n - 1] = '\0';
    }

    c->pin_family = a[0] == '[' ? AF_INET6 : AF_INET;
    if (inet_pton(c->pin_family, addr, c->pin_addr) != 1) {
        snprintf(err, errlen, "%s at %s: the address checked is not usable",
                 c->role, c->host);
        return -1;
    }

    return 0;
}


static curl_socket_t
repl_open_socket(void *arg, curlsocktype purpose, struct curl_sockaddr *a)
{
    struct repl_conn  *c = arg;
    const void        *addr;
    char               text[INET6_ADDRSTRLEN];

    (void) purpose;

    if (a->family == AF_INET) {
        addr = &((struct sockaddr_in *) &a->addr)->sin_addr;
    } else if (a->family == AF_INET6) {
        addr = &((struct sockaddr_in6 *) &a->addr)->sin6_addr;
    } else {
        snprintf(c->refused, sizeof(c->refused), "not an IP address");
        return CURL_SOCKET_BAD;
    }

    /* the address checked when the call began, or one the guard allows */
    if (!((a->family == c->pin_family
           && memcmp(addr, c->pin_addr,
                     a->family == AF_INET ? 4 : 16) == 0)
          || outbound_addr_ok(a->family, addr)))
    {
        inet_ntop(a->family, addr, text, sizeof(text));
        snprintf(c->refused, sizeof(c->refused), "a connection to %s, a"
                 " loopback, link-local, private or reserved address that"
                 " outbound_allowlist does not name", text);
        return CURL_SOCKET_BAD;
    }

    return socket(a->family, a->socktype, a->protocol);
}


int
repl_conn_scope(struct repl_conn *c, const char *scope)
{
    int  i;

    for (i = 0; i < c->nscopes; i++) {
        if (strcmp(c->scopes[i], scope) == 0) {
            return 0;
        }
    }

    if (c->nscopes == REPL_SCOPES_MAX) {
        return -1;
    }

    c->scopes[c->nscopes] = strdup(scope);
    if (c->scopes[c->nscopes] == NULL) {
        return -1;
    }

    c->nscopes++;

    return 0;
}


void
repl_conn_free(struct repl_conn *c)
{
    int  i;

    for (i = 0; i < c->nscopes; i++) {
        free(c->scopes[i]);
    }

    c->nscopes = 0;

    curl_slist_free_all(c->pin);
    c->pin = NULL;

    if (c->keep != NULL) {
        curl_easy_cleanup(c->keep);
        c->keep = NULL;
    }

    if (c->token != NULL) {
        OPENSSL_cleanse(c->token, strlen(c->token));
        free(c->token);
        c->token = NULL;
    }
}


void
repl_resp_reset(struct repl_resp *r, size_t max)
{
    free(r->body);
    memset(r, 0, sizeof(*r));
    r->max = max;
    r->content_length = -1;
}


void
repl_resp_free(struct repl_resp *r)
{
    free(r->body);
    r->body = NULL;
    r->len = 0;
}


static size_t
repl_body_cb(char *p, size_t size, size_t n, void *arg)
{
    struct repl_resp  *r = arg;
    size_t             len, keep;
    char              *nb;

    len = size * n;
    keep = len;

    if (r->len + keep > r->max) {
        keep = r->max - r->len;
        r->overflow = 1;
    }

    if (keep > 0 || r->body == NULL) {
        nb = realloc(r->body, r->len + keep + 1);
        if (nb == NULL) {
            return 0;
        }
        r->body = nb;
        memcpy(r->body + r->len, p, keep);
        r->len += keep;
        r->body[r->len] = '\0';
    }

    return len;
}


static void
repl_header_keep(char *dst, size_t dlen, const char *v, size_t vlen)
{
    if (vlen >= dlen) {
        vlen = dlen - 1;
    }

    memcpy(dst, v, vlen);
    dst[vlen] = '\0';
}


static size_t
repl_header_cb(char *p, size_t size, size_t n, void *arg)
{
    struct repl_resp  *r = arg;
    size_t             len, nl, vl;
    const char        *colon, *v;
    long               status;

    len = size * n;

    if (len > 5 && strncmp(p, "HTTP/", 5) == 0) {
        /* a new response (after a redirect or a 100): forget the last */
        status = r->status;
        r->content_type[0] = r->location[0] = r->digest[0] = '\0';
        r->link[0] = r->www_auth[0] = '\0';
        r->content_length = -1;
        r->status = status;
        return len;
    }

    colon = memchr(p, ':', len);
    if (colon == NULL) {
        return len;
    }

    nl = (size_t) (colon - p);
    v = colon + 1;
    vl = len - nl - 1;

    while (vl > 0 && (*v == ' ' || *v == '\t')) {
        v++;
        vl--;
    }

    while (vl > 0 && (v[vl - 1] == '\r' || v[vl - 1] == '\n'
                      || v[vl - 1] == ' '))
    {
        vl--;
    }

#define HDR_IS(s)  (nl == sizeof(s) - 1 && strncasecmp(p, s, nl) == 0)

    if (HDR_IS("Content-Type")) {
        repl_header_keep(r->content_type, sizeof(r->content_type), v, vl);

    } else if (HDR_IS("Location")) {
        repl_header_keep(r->location, sizeof(r->location), v, vl);

    } else if (HDR_IS("Docker-Content-Digest")) {
        repl_header_keep(r->digest, sizeof(r->digest), v, vl);

    } else if (HDR_IS("Link")) {
        repl_header_keep(r->link, sizeof(r->link), v, vl);

    } else if (HDR_IS("WWW-Authenticate")) {
        repl_header_keep(r->www_auth, sizeof(r->www_auth), v, vl);

    } else if (HDR_IS("Content-Length")) {
        r->content_length = vl > 0 && vl < 19 && isdigit((unsigned char) *v)
                            ? strtoll(v, NULL, 10) : -1;
    }

#undef HDR_IS

    return len;
}


static int
repl_xfer_cb(void *arg, curl_off_t dt, curl_off_t dn, curl_off_t ut,
    curl_off_t un)
{
    volatile int  *stop = arg;

    (void) dt;
    (void) dn;
    (void) ut;
    (void) un;

    return stop != NULL && *stop;
}


static void
repl_easy_common(struct repl_conn *c, CURL *h, const char *url,
    struct repl_resp *r)
{
    struct curl_blob  ca;

    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(h, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, REPL_CONNECT_TIMEOUT);
    curl_easy_setopt(h, CURLOPT_LOW_SPEED_LIMIT, 1L);
    curl_easy_setopt(h, CURLOPT_LOW_SPEED_TIME, REPL_LOW_SPEED_TIME);
    curl_easy_setopt(h, CURLOPT_USERAGENT, "ngx-harbor-authd/" AUTHD_VERSION);
    curl_easy_setopt(h, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, repl_xfer_cb);
    curl_easy_setopt(h, CURLOPT_XFERINFODATA, c->stop);

    if (r != NULL) {
        curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, repl_header_cb);
        curl_easy_setopt(h, CURLOPT_HEADERDATA, r);
        curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, repl_body_cb);
        curl_easy_setopt(h, CURLOPT_WRITEDATA, r);
    }

    if (c->ep->guarded) {
        curl_easy_setopt(h, CURLOPT_RESOLVE, c->pin);
        curl_easy_setopt(h, CURLOPT_OPENSOCKETFUNCTION, repl_open_socket);
        curl_easy_setopt(h, CURLOPT_OPENSOCKETDATA, c);
    }

    if (c->ep->insecure) {
        curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 0L);
        curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 0L);
    }

    if (c->ep->ca_pem != NULL && c->ep->ca_pem[0] != '\0') {
        ca.data = (void *) c->ep->ca_pem;
        ca.len = strlen(c->ep->ca_pem);
        ca.flags = CURL_BLOB_COPY;
        curl_easy_setopt(h, CURLOPT_CAINFO_BLOB, &ca);
    }
}


/*
 * Is url on the registry's own origin (c->base, then "/", "?" or the
 * end)?  A location elsewhere (an upload a registry sends to its object
 * store, or a destination that lies) gets no credential, as docker's
 * clients send none there.
 */
static int
repl_same_origin(struct repl_conn *c, const char *url)
{
    size_t  n;

    n = strlen(c->base);
    while (n > 0 && c->base[n - 1] == '/') {
        n--;
    }

    return strncasecmp(url, c->base, n) == 0
           && (url[n] == '/' || url[n] == '?' || url[n] == '\0');
}


void
repl_easy_setup(struct repl_conn *c, CURL *h, const char *url,
    struct repl_resp *r)
{
    repl_easy_common(c, h, url, r);

    if (!repl_same_origin(c, url)) {
        return;
    }

    if (c->token != NULL) {
        curl_easy_setopt(h, CURLOPT_HTTPAUTH, CURLAUTH_BEARER);
        curl_easy_setopt(h, CURLOPT_XOAUTH2_BEARER, c->token);

    } else if (c->basic && c->ep->username != NULL) {
        curl_easy_setopt(h, CURLOPT_HTTPAUTH, CURLAUTH_BASIC);
        curl_easy_setopt(h, CURLOPT_USERNAME, c->ep->username);
        curl_easy_setopt(h, CURLOPT_PASSWORD,
                         c->ep->password ? c->ep->password : "");
    }
}


int
repl_url(struct repl_conn *c, const char *loc, char *url, size_t len)
{
    int  n;

    if (strncmp(loc, "http://", 7) == 0 || strncmp(loc, "https://", 8) == 0) {
        n = snprintf(url, len, "%s", loc);

    } else if (loc[0] == '/') {
        n = snprintf(url, len, "%s%s", c->base, loc);

    } else {
        return -1;
    }

    return n < 0 || (size_t) n >= len ? -1 : 0;
}


int
repl_request(struct repl_conn *c, const char *method, const char *path,
    const char *const *headers, const char *body, size_t blen, size_t max,
    struct repl_resp *r, char *err, size_t errlen)
{
    CURL                *h;
    CURLcode             rc;
    struct curl_slist   *hl, *t;
    const char *const   *hp;
    char                 url[4096];
    int                  attempt, ret;

    if (repl_url(c, path, url, sizeof(url)) != 0) {
        snprintf(err, errlen, "%s at %s sent a location that is not "
                 "usable", c->role, c->host);
        return REPL_FATAL;
    }

    for (attempt = 0; ; attempt++) {
        if (c->stop != NULL && *c->stop) {
            snprintf(err, errlen, "stopped");
            return REPL_STOPPED;
        }

        repl_resp_reset(r, max);

        /* one handle for the small requests of c: a connection kept open
         * serves the next (a run with nothing new is mostly these) */
        if (c->keep == NULL) {
            c->keep = curl_easy_init();
            if (c->keep == NULL) {
                snprintf(err, errlen, "libcurl could not be initialised");
                return REPL_ERROR;
            }
        } else {
            curl_easy_reset(c->keep);
        }
        h = c->keep;

        hl = NULL;
        t = curl_slist_append(hl, "Expect:");
        for (hp = headers; t != NULL && hp != NULL && *hp != NULL; hp++) {
            hl = t;
            t = curl_slist_append(hl, *hp);
        }

        if (t == NULL) {
            curl_slist_free_all(hl);
            snprintf(err, errlen, "out of memory");
            return REPL_ERROR;
        }

        hl = t;

        repl_easy_setup(c, h, url, r);
        curl_easy_setopt(h, CURLOPT_TIMEOUT, REPL_REQUEST_TIMEOUT);
        curl_easy_setopt(h, CURLOPT_HTTPHEADER, hl);

        if (strcmp(method, "HEAD") == 0) {
            curl_easy_setopt(h, CURLOPT_NOBODY, 1L);

        } else if (strcmp(method, "GET") != 0) {
            curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
            curl_easy_setopt(h, CURLOPT_POSTFIELDS, body ? body : "");
            curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE,
                             (curl_off_t) (body ? blen : 0));
        }

        rc = curl_easy_perform(h);
        if (rc == CURLE_OK) {
            curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &r->status);
        }

        /* the header list goes; the handle keeps no pointer to it */
        curl_easy_setopt(h, CURLOPT_HTTPHEADER, NULL);
        curl_slist_free_all(hl);

        if (rc != CURLE_OK) {
            return repl_curl_error(c, rc, NULL, err, errlen);
        }

        if (r->status != 401 || attempt > 0) {
            return REPL_OK;
        }

        ret = repl_reauth(c, r, err, errlen);
        if (ret > 0) {
            /* nothing else to try: the caller reports the 401 */
            return REPL_OK;
        }

        if (ret < 0) {
            return ret;
        }
    }
}


static int
repl_challenge_parse(const char *s, struct repl_challenge *ch)
{
    const char  *k, *v;
    size_t       kl, vl;
    char        *dst;
    size_t       dlen;

    memset(ch, 0, sizeof(*ch));

    if (strncasecmp(s, "Bearer ", 7) == 0) {
        ch->bearer = 1;
        s += 7;

    } else if (strncasecmp(s, "Basic", 5) == 0) {
        return 0;

    } else {
        return -1;
    }

    while (*s != '\0') {
        while (*s == ' ' || *s == ',') {
            s++;
        }

        k = s;
        while (*s != '\0' && *s != '=') {
            s++;
        }

        if (*s != '=') {
            break;
        }

        kl = (size_t) (s - k);
        s++;

        if (*s == '"') {
            v = ++s;
            while (*s != '\0' && *s != '"') {
                s++;
            }
            vl = (size_t) (s - v);
            if (*s == '"') {
                s++;
            }

        } else {
            v = s;
            while (*s != '\0' && *s != ',') {
                s++;
            }
            vl = (size_t) (s - v);
        }

        dst = NULL;
        dlen = 0;

        if (kl == 5 && strncasecmp(k, "realm", 5) == 0) {
            dst = ch->realm;
            dlen = sizeof(ch->realm);
        } else if (kl == 7 && strncasecmp(k, "service", 7) == 0) {
            dst = ch->service;
            dlen = sizeof(ch->service);
        } else if (kl == 5 && strncasecmp(k, "scope", 5) == 0) {
            dst = ch->scope;
            dlen = sizeof(ch->scope);
        }

        if (dst != NULL) {
            if (vl >= dlen) {
                return -1;
            }
            memcpy(dst, v, vl);
            dst[vl] = '\0';
        }
    }

    return ch->realm[0] != '\0'
           && (strncmp(ch->realm, "http://", 7) == 0
               || strncmp(ch->realm, "https://", 8) == 0) ? 0 : -1;
}


/* "<sep>name=<value escaped>" appended at url + *n */
static int
repl_query_add(CURL *h, char *url, size_t len, size_t *n, char *sep,
    const char *name, const char *value)
{
    char  *e;
    int    w;

    e = curl_easy_escape(h, value, 0);
    if (e == NULL) {
        return -1;
    }

    w = snprintf(url + *n, len - *n, "%c%s=%s", *sep, name, e);
    curl_free(e);

    if (w < 0 || (size_t) w >= len - *n) {
        return -1;
    }

    *n += (size_t) w;
    *sep = '&';

    return 0;
}


/* realm?service=..&scope=..: the challenge's scopes, then the call's own */
static int
repl_token_url(struct repl_conn *c, struct repl_challenge *ch, CURL *h,
    char *url, size_t len)
{
    const char  *s, *end;
    char         one[AUTHD_SCOPE_MAX + 1], sep;
    size_t       n, ol;
    int          i, j, dup;

    n = (size_t) snprintf(url, len, "%s", ch->realm);
    if (n >= len) {
        return -1;
    }

    sep = strchr(ch->realm, '?') ? '&' : '?';

    if (ch->service[0] != '\0'
        && repl_query_add(h, url, len, &n, &sep, "service", ch->service) != 0)
    {
        return -1;
    }

    /* i == -1: the challenge's, space-separated; then one each */
    for (i = -1; i < c->nscopes; i++) {
        for (s = i < 0 ? ch->scope : c->scopes[i]; *s != '\0'; s = end) {
            while (*s == ' ') {
                s++;
            }

            end = i < 0 ? s + strcspn(s, " ") : s + strlen(s);
            ol = (size_t) (end - s);
            if (ol == 0 || ol > AUTHD_SCOPE_MAX) {
                continue;
            }

            memcpy(one, s, ol);
            one[ol] = '\0';

            dup = 0;
            for (j = 0; i < 0 && j < c->nscopes; j++) {
                dup |= strcmp(c->scopes[j], one) == 0;
            }

            if (!dup
                && repl_query_add(h, url, len, &n, &sep, "scope", one) != 0)
            {
                return -1;
            }
        }
    }

    return 0;
}


static int
repl_token(struct repl_conn *c, struct repl_challenge *ch, char *err,
    size_t errlen)
{
    struct repl_resp  r;
    json_t           *doc, *tok;
    json_error_t      je;
    CURL             *h;
    CURLcode          rc;
    char              url[4096], realm_host[320];
    const char       *s;
    int               ret;

    memset(&r, 0, sizeof(r));
    repl_resp_reset(&r, REPL_SMALL_MAX);

    /* the token service's host, for messages (no path, no query) */
    s = strstr(ch->realm, "://") + 3;
    snprintf(realm_host, sizeof(realm_host), "%.*s",
             (int) strcspn(s, "/?#"), s);

    h = curl_easy_init();
    if (h == NULL) {
        snprintf(err, errlen, "libcurl could not be initialised");
        return REPL_ERROR;
    }

    if (repl_token_url(c, ch, h, url, sizeof(url)) != 0) {
        curl_easy_cleanup(h);
        snprintf(err, errlen, "%s at %s: the token request would be too "
                 "long", c->role, c->host);
        return REPL_FATAL;
    }

    repl_easy_common(c, h, url, &r);
    curl_easy_setopt(h, CURLOPT_TIMEOUT, REPL_REQUEST_TIMEOUT);

    if (c->ep->username != NULL) {
        curl_easy_setopt(h, CURLOPT_HTTPAUTH, CURLAUTH_BASIC);
        curl_easy_setopt(h, CURLOPT_USERNAME, c->ep->username);
        curl_easy_setopt(h, CURLOPT_PASSWORD,
                         c->ep->password ? c->ep->password : "");
    }

    rc = curl_easy_perform(h);
    if (rc == CURLE_OK) {
        curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &r.status);
    }
    curl_easy_cleanup(h);

    if (rc != CURLE_OK) {
        ret = repl_curl_error(c, rc, "its token service", err, errlen);
        repl_resp_free(&r);
        return ret;
    }

    if (r.status == 401 || r.status == 403) {
        if (c->ep->username != NULL) {
            snprintf(err, errlen, "%s refused the credentials of user %s: "
                     "token service at %s answered %ld", c->role,
                     c->ep->username, realm_host, r.status);
        } else {
            snprintf(err, errlen, "%s at %s needs credentials: token service "
                     "at %s answered %ld", c->role, c->host, realm_host,
                     r.status);
        }
        repl_resp_free(&r);
        return REPL_FATAL;
    }

    if (r.status != 200) {
        snprintf(err, errlen, "%s: token service at %s answered %ld",
                 c->role, realm_host, r.status);
        repl_resp_free(&r);
        return r.status >= 500 ? REPL_ERROR : REPL_FATAL;
    }

    doc = json_loadb(r.body ? r.body : "", r.len, 0, &je);
    repl_resp_free(&r);

    tok = json_object_get(doc, "token");
    if (!json_is_string(tok)) {
        tok = json_object_get(doc, "access_token");
    }

    if (!json_is_string(tok) || json_string_length(tok) == 0) {
        json_decref(doc);
        snprintf(err, errlen, "%s: token service at %s sent no token",
                 c->role, realm_host);
        return REPL_ERROR;
    }

    if (c->token != NULL) {
        OPENSSL_cleanse(c->token, strlen(c->token));
        free(c->token);
    }

    c->token = strdup(json_string_value(tok));
    json_decref(doc);

    if (c->token == NULL) {
        snprintf(err, errlen, "out of memory");
        return REPL_ERROR;
    }

    return REPL_OK;
}


/*
 * 0: try again with what the challenge asked for; 1: nothing new to try
 * (the caller reports the 401); < 0: REPL_* with err set.
 */
int
repl_reauth(struct repl_conn *c, struct repl_resp *r, char *err,
    size_t errlen)
{
    struct repl_challenge  ch;

    if (c->ep->bearer != NULL) {
        return 1;
    }

    if (repl_challenge_parse(r->www_auth, &ch) != 0) {
        return 1;
    }

    if (!ch.bearer) {
        if (c->basic || c->ep->username == NULL) {
            return 1;
        }
        c->basic = 1;
        return 0;
    }

    return repl_token(c, &ch, err, errlen);
}


/* printable ASCII of a remote's message, at most len - 1 bytes */
static void
repl_clean(char *out, size_t len, const char *in)
{
    size_t  i;

    for (i = 0; in != NULL && in[i] != '\0' && i + 1 < len; i++) {
        out[i] = (in[i] >= 0x20 && in[i] < 0x7f) ? in[i] : '?';
    }

    out[i] = '\0';
}


int
repl_status_error(struct repl_conn *c, const char *what, const char *repo,
    struct repl_resp *r, char *err, size_t errlen)
{
    json_t        *doc, *e;
    json_error_t   je;
    char           msg[200], code[64];
    size_t         n;
    int            fatal;

    msg[0] = '\0';
    code[0] = '\0';

    doc = r->body ? json_loadb(r->body, r->len, 0, &je) : NULL;
    e = json_array_get(json_object_get(doc, "errors"), 0);
    repl_clean(msg, sizeof(msg),
               json_string_value(json_object_get(e, "message")));
    repl_clean(code, sizeof(code),
               json_string_value(json_object_get(e, "code")));
    json_decref(doc);

    if (msg[0] == '\0') {
        switch (r->status) {
        case 401:
            snprintf(msg, sizeof(msg), "authentication required");
            break;
        case 403:
            snprintf(msg, sizeof(msg), "access denied");
            break;
        case 404:
            snprintf(msg, sizeof(msg), "not found");
            break;
        default:
            snprintf(msg, sizeof(msg), "HTTP %ld", r->status);
        }
    }

    snprintf(err, errlen, "%s refused %s%s%s: %s on %s (%ld%s%s)", c->role,
             what, repo ? " of " : "", repo ? repo : "", msg, c->host,
             r->status, code[0] ? " " : "", code);

    fatal = r->status >= 400 && r->status < 500
            && r->status != 408 && r->status != 429;

    /*
     * A bearer handed in (the local end's, signed for this one try) that
     * gets a 401 has expired or was signed under a key since replaced:
     * the next try, with a new one, may pass.
     */
    if (r->status == 401 && c->ep->bearer != NULL) {
        n = strlen(err);
        snprintf(err + n, errlen - n, "; the token handed in was refused,"
                 " a new one may pass");
        fatal = 0;
    }

    return fatal ? REPL_FATAL : REPL_ERROR;
}


int
repl_curl_error(struct repl_conn *c, CURLcode rc, const char *detail,
    char *err, size_t errlen)
{
    const char  *why;
    int          ret;

    ret = REPL_ERROR;

    if (c->refused[0] != '\0') {
        snprintf(err, errlen, "%s at %s refused: %s", c->role, c->host,
                 c->refused);
        return REPL_FATAL;
    }

    switch (rc) {
    case CURLE_ABORTED_BY_CALLBACK:
        if (c->stop != NULL && *c->stop) {
            snprintf(err, errlen, "stopped");
            return REPL_STOPPED;
        }
        why = "transfer aborted";
        break;
    case CURLE_COULDNT_CONNECT:
        why = "connection refused";
        break;
    case CURLE_COULDNT_RESOLVE_HOST:
        why = "host name not resolved";
        break;
    case CURLE_OPERATION_TIMEDOUT:
        why = "timed out";
        break;
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_CERTPROBLEM:
        why = "its TLS certificate is not trusted (add its CA certificate "
              "or mark the registry insecure)";
        ret = REPL_FATAL;
        break;
    case CURLE_SSL_CONNECT_ERROR:
        why = "TLS handshake failed";
        break;
    case CURLE_GOT_NOTHING:
    case CURLE_RECV_ERROR:
    case CURLE_SEND_ERROR:
    case CURLE_PARTIAL_FILE:
        why = "connection lost";
        break;
    default:
        why = curl_easy_strerror(rc);
    }

    snprintf(err, errlen, "%s unreachable: %s to %s%s%s", c->role, why,
             c->host, detail ? ", " : "", detail ? detail : "");

    return ret;
}


int
repl_ping(const struct repl_endpoint *ep, char *err, size_t errlen)
{
    struct repl_conn  c;
    struct repl_resp  r;
    int               ret;

    ret = repl_conn_init(&c, ep, "registry", NULL, err, errlen);
    if (ret != REPL_OK) {
        return ret;
    }

    memset(&r, 0, sizeof(r));
    ret = repl_request(&c, "GET", "/v2/", NULL, NULL, 0, REPL_SMALL_MAX, &r,
                       err, errlen);

    if (ret == REPL_OK && r.status != 200) {
        ret = repl_status_error(&c, "access", NULL, &r, err, errlen);
    }

    repl_resp_free(&r);
    repl_conn_free(&c);

    return ret;
}


/* the path of a Link: <...>; rel="next", or "" when there is none */
int
repl_next_link(struct repl_conn *c, const char *link, char *path, size_t len)
{
    const char  *a, *b, *p;
    size_t       n;

    (void) c;
    path[0] = '\0';

    a = strchr(link, '<');
    b = a ? strchr(a, '>') : NULL;
    if (a == NULL || b == NULL || strstr(b, "next") == NULL) {
        return 0;
    }

    a++;

    /* an absolute link is followed on this registry only: its path */
    p = strstr(a, "://");
    if (p != NULL && p < b) {
        p = strchr(p + 3, '/');
        if (p == NULL || p > b) {
            return -1;
        }
        a = p;
    }

    n = (size_t) (b - a);
    if (n == 0 || a[0] != '/' || n >= len) {
        return -1;
    }

    memcpy(path, a, n);
    path[n] = '\0';

    return 0;
}


/* GET path, a JSON document; REPL_OK with *doc, or an error */
static int
repl_get_json(struct repl_conn *c, const char *path, const char *what,
    const char *repo, json_t **doc, struct repl_resp *r, char *err,
    size_t errlen)
{
    json_error_t  je;
    int           ret;

    *doc = NULL;

    ret = repl_request(c, "GET", path, NULL, NULL, 0, REPL_LIST_MAX, r, err,
                       errlen);
    if (ret != REPL_OK) {
        return ret;
    }

    if (r->status != 200) {
        return repl_status_error(c, what, repo, r, err, errlen);
    }

    *doc = r->overflow ? NULL : json_loadb(r->body ? r->body : "", r->len,
                                          0, &je);
    if (*doc == NULL) {
        snprintf(err, errlen, "%s at %s sent a %s that is not valid JSON",
                 c->role, c->host, what);
        return REPL_ERROR;
    }

    return REPL_OK;
}


static int
repl_list_v2(struct repl_conn *c, const char *first, const char *key,
    const char *what, const char *repo, int (*cb)(void *, const char *),
    void *arg, char *err, size_t errlen)
{
    struct repl_resp  r;
    json_t           *doc, *v;
    char              path[REPL_HDR_MAX];
    size_t            i;
    int               ret, pages, stop;

    memset(&r, 0, sizeof(r));
    snprintf(path, sizeof(path), "%s", first);
    ret = REPL_OK;
    stop = 0;

    for (pages = 0; path[0] != '\0' && !stop; pages++) {
        if (pages == REPL_PAGES_MAX) {
            snprintf(err, errlen, "%s at %s: more than %d pages of %s",
                     c->role, c->host, REPL_PAGES_MAX, what);
            ret = REPL_ERROR;
            break;
        }

        ret = repl_get_json(c, path, what, repo, &doc, &r, err, errlen);
        if (ret != REPL_OK) {
            break;
        }

        json_array_foreach(json_object_get(doc, key), i, v) {
            if (json_is_string(v) && cb(arg, json_string_value(v)) != 0) {
                stop = 1;
                break;
            }
        }

        json_decref(doc);

        if (repl_next_link(c, r.link, path, sizeof(path)) != 0) {
            snprintf(err, errlen, "%s at %s sent a Link header that is not "
                     "usable", c->role, c->host);
            ret = REPL_ERROR;
            break;
        }
    }

    repl_resp_free(&r);

    return ret;
}


/* Harbor's paged array of objects: each "name" into names */
static int
repl_list_pages(struct repl_conn *c, const char *fmt, const char *p,
    const char *what, json_t *names, char *err, size_t errlen)
{
    struct repl_resp  r;
    json_t           *doc, *v, *name;
    char              path[2048];
    size_t            i, n;
    int               ret, page, w;

    memset(&r, 0, sizeof(r));
    ret = REPL_OK;

    for (page = 1; page <= REPL_PAGES_MAX; page++) {
        w = p ? snprintf(path, sizeof(path), fmt, p, page, REPL_PAGE_SIZE)
              : snprintf(path, sizeof(path), fmt, page, REPL_PAGE_SIZE);
        if (w < 0 || (size_t) w >= sizeof(path)) {
            snprintf(err, errlen, "a project name is too long");
            ret = REPL_FATAL;
            break;
        }

        ret = repl_get_json(c, path, what, NULL, &doc, &r, err, errlen);
        if (ret != REPL_OK) {
            break;
        }

        n = json_array_size(doc);
        json_array_foreach(doc, i, v) {
            name = json_object_get(v, "name");
            if (json_is_string(name)) {
                json_array_append(names, name);
            }
        }

        json_decref(doc);

        if (n < REPL_PAGE_SIZE) {
            break;
        }
    }

    repl_resp_free(&r);

    return ret;
}


/* q=name={'a' 'b'} as Harbor's adapter sends it, URL-encoded, or NULL */
static char *
repl_project_query(CURL *h, const char *const *projects)
{
    char    *q, *e;
    size_t   len, n, off;
    int      w;

    len = sizeof("name%3D%7B%7D");
    for (n = 0; projects[n] != NULL; n++) {
        len += 3 * strlen(projects[n]) + sizeof("+%27%27");
    }

    q = malloc(len);
    if (q == NULL) {
        return NULL;
    }

    off = (size_t) snprintf(q, len, "name%%3D%%7B");
    for (n = 0; projects[n] != NULL; n++) {
        e = curl_easy_escape(h, projects[n], 0);
        if (e == NULL) {
            free(q);
            return NULL;
        }
        w = snprintf(q + off, len - off, "%s%%27%s%%27", n ? "+" : "", e);
        curl_free(e);
        if (w < 0 || (size_t) w >= len - off) {
            free(q);
            return NULL;
        }
        off += (size_t) w;
    }
    w = snprintf(q + off, len - off, "%%7D");
    if (w < 0 || (size_t) w >= len - off) {
        free(q);
        return NULL;
    }

    return q;
}


int
repl_list_repositories(const struct repl_endpoint *ep,
    const char *const *projects_only,
    int (*cb)(void *arg, const char *repo), void *arg,
    char *err, size_t errlen)
{
    struct repl_conn  c;
    json_t           *projects, *repos, *v;
    CURL             *h;
    char             *e, *q;
    size_t            i, j;
    int               ret, stop;

    ret = repl_conn_init(&c, ep, "registry", NULL, err, errlen);
    if (ret != REPL_OK) {
        return ret;
    }

    if (ep->type != REPL_TYPE_HARBOR) {
        repl_conn_scope(&c, "registry:catalog:*");
        ret = repl_list_v2(&c, "/v2/_catalog?n=1000", "repositories",
                           "the catalog", NULL, cb, arg, err, errlen);
        repl_conn_free(&c);
        return ret;
    }

    /* Harbor's API takes Basic credentials, not registry tokens */
    c.basic = 1;

    projects = json_array();
    h = curl_easy_init();
    if (projects == NULL || h == NULL) {
        json_decref(projects);
        curl_easy_cleanup(h);
        repl_conn_free(&c);
        snprintf(err, errlen, "out of memory");
        return REPL_ERROR;
    }

    if (projects_only != NULL && projects_only[0] != NULL) {
        q = repl_project_query(h, projects_only);
        ret = q == NULL ? REPL_ERROR
                        : repl_list_pages(&c, "/api/v2.0/projects?q=%s"
                                          "&page=%d&page_size=%d", q,
                                          "the project list", projects, err,
                                          errlen);
        if (q == NULL) {
            snprintf(err, errlen, "out of memory");
        }
        free(q);

    } else {
        ret = repl_list_pages(&c, "/api/v2.0/projects?page=%d&page_size=%d",
                              NULL, "the project list", projects, err,
                              errlen);
    }
    stop = 0;

    json_array_foreach(projects, i, v) {
        if (ret != REPL_OK || stop) {
            break;
        }

        e = curl_easy_escape(h, json_string_value(v), 0);
        repos = json_array();
        if (e == NULL || repos == NULL) {
            curl_free(e);
            json_decref(repos);
            snprintf(err, errlen, "out of memory");
            ret = REPL_ERROR;
            break;
        }

        ret = repl_list_pages(&c, "/api/v2.0/projects/%s/repositories"
                              "?page=%d&page_size=%d", e,
                              "the repository list", repos, err, errlen);
        curl_free(e);

        for (j = 0; ret == REPL_OK && j < json_array_size(repos); j++) {
            if (cb(arg, json_string_value(json_array_get(repos, j))) != 0) {
                stop = 1;
                break;
            }
        }

        json_decref(repos);
    }

    json_decref(projects);
    curl_easy_cleanup(h);
    repl_conn_free(&c);

    return ret;
}


int
repl_list_tags(const struct repl_endpoint *ep, const char *repo,
    int (*cb)(void *arg, const char *tag), void *arg,
    char *err, size_t errlen)
{
    struct repl_conn  c;
    char              path[512], scope[512];
    int               ret;

    if (!hb_name_valid((const unsigned char *) repo, strlen(repo))) {
        snprintf(err, errlen, "%s is not a repository name", repo);
        return REPL_FATAL;
    }

    ret = repl_conn_init(&c, ep, "registry", NULL, err, errlen);
    if (ret != REPL_OK) {
        return ret;
    }

    snprintf(path, sizeof(path), "/v2/%s/tags/list?n=1000", repo);
    snprintf(scope, sizeof(scope), "repository:%s:pull", repo);

    if (repl_conn_scope(&c, scope) != 0) {
        repl_conn_free(&c);
        snprintf(err, errlen, "out of memory");
        return REPL_ERROR;
    }

    ret = repl_list_v2(&c, path, "tags", "the tag list", repo, cb, arg, err,
                       errlen);
    repl_conn_free(&c);

    return ret;
}
