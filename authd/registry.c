/*
 * authd: /v2 requests of authd's own, through nginx and the module.
 *
 * Deleting an artifact or a tag and adding a tag through the REST API
 * are /v2 requests that authd makes itself (libcurl) to the nginx named
 * by authd.registry_url: the module is the one implementation that
 * changes storage, it writes the journal line, and the rows follow from
 * the journal like those of any client.  The request carries a token
 * authd signs for itself: sub is the API caller (so the journal and the
 * audit log name them), access exactly the one repository and the
 * actions this request needs, valid two minutes.
 *
 * Every request has connect and total timeouts, follows no redirect and
 * speaks http or https only.  authd.registry_address, when set, is where
 * it connects (a certificate's name may not resolve on this host, or to
 * another machine): the certificate is still verified for the URL's name.  The answer's body is read up to 4 KiB, for
 * the error message.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <curl/curl.h>
#include <sodium.h>

#include "authd.h"
#include "harbor_grammar.h"


#define REGISTRY_TOKEN_TTL   120         /* seconds */
#define REGISTRY_BODY_MAX    4096


struct registry_buf {
    char    data[REGISTRY_BODY_MAX + 1];
    size_t  len;
};


int
registry_init(void)
{
    return curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK ? 0 : -1;
}


void
registry_cleanup(void)
{
    curl_global_cleanup();
}


int
registry_enabled(void)
{
    return conf->registry_url != NULL;
}


/*
 * A token of authd's own for one repository, valid ttl seconds
 * (replication's copies use it too, for longer).
 */
char *
registry_token(const char *user, const char *name, const char *actions,
    int ttl)
{
    json_t        *claims, *acts;
    char          *tok, jti[33], *list, *a, *save;
    unsigned char  rnd[16];
    time_t         now;

    acts = json_array();
    list = strdup(actions);
    if (acts == NULL || list == NULL) {
        json_decref(acts);
        free(list);
        return NULL;
    }

    for (a = strtok_r(list, ",", &save); a != NULL;
         a = strtok_r(NULL, ",", &save))
    {
        json_array_append_new(acts, json_string(a));
    }
    free(list);

    now = time(NULL);
    randombytes_buf(rnd, sizeof(rnd));
    sodium_bin2hex(jti, sizeof(jti), rnd, sizeof(rnd));

    claims = json_pack("{s:s, s:s, s:s, s:I, s:I, s:I, s:s,"
                       " s:[{s:s, s:s, s:o}]}",
                       "iss", conf->token_issuer,
                       "sub", user,
                       "aud", conf->token_service,
                       "exp", (json_int_t) now + ttl,
                       "nbf", (json_int_t) now,
                       "iat", (json_int_t) now,
                       "jti", jti,
                       "access", "type", "repository", "name", name,
                       "actions", acts);
    if (claims == NULL) {
        return NULL;
    }

    tok = NULL;
    if (hb_jwt_sign(token_key.key, token_key.kid, token_key.x5c, claims,
                    &tok) != 0)
    {
        tok = NULL;
    }

    json_decref(claims);

    return tok;
}


static size_t
registry_write(char *ptr, size_t size, size_t nmemb, void *arg)
{
    struct registry_buf  *b = arg;
    size_t                n, room;

    n = size * nmemb;
    room = REGISTRY_BODY_MAX - b->len;

    memcpy(b->data + b->len, ptr, n < room ? n : room);
    b->len += n < room ? n : room;
    b->data[b->len] = '\0';

    return n;
}


/* the registry's error message, for the API's answer */
static void
registry_message(struct registry_buf *b, long status, char *err,
    size_t errlen)
{
    json_t      *j, *e;
    const char  *msg;

    msg = NULL;
    j = json_loadb(b->data, b->len, 0, NULL);
    e = json_array_get(json_object_get(j, "errors"), 0);
    if (e != NULL) {
        msg = json_string_value(json_object_get(e, "message"));
    }

    snprintf(err, errlen, "the registry answered %ld%s%.160s", status,
             msg != NULL ? ": " : "", msg != NULL ? msg : "");

    json_decref(j);
}


/*
 * authd.registry_address as libcurl's CONNECT_TO entry, for any host and
 * port of the URL: "::ADDRESS:PORT", the URL's port when none is given
 * (config.c checked the address: an IPv6 one is in brackets).
 */
static struct curl_slist *
registry_connect_to(const char *address)
{
    struct curl_slist  *l;
    const char         *colon;
    char                entry[320];
    int                 n;

    colon = strrchr(address, ':');
    if (colon != NULL && strchr(colon, ']') != NULL) {
        colon = NULL;               /* "[::1]": the colon is the address's */
    }

    n = snprintf(entry, sizeof(entry), "::%s%s", address,
                 colon == NULL ? ":" : "");
    if (n < 0 || (size_t) n >= sizeof(entry)) {
        return NULL;
    }

    l = curl_slist_append(NULL, entry);

    return l;
}


/*
 * One /v2 request.  The HTTP status, or -1 when the registry could not be
 * reached (err says why).
 */
static int
registry_request(const char *method, const char *user, const char *name,
    const char *ref, const char *actions, const char *ctype,
    const char *const *hdrs, const char *body, size_t len, char *err,
    size_t errlen)
{
    struct registry_buf  *b;
    struct curl_slist    *h, *to;
    CURL                 *c;
    CURLcode              rc;
    char                 *tok, *auth, *url, *ct;
    long                  status;
    size_t                n;

    h = NULL;
    to = NULL;
    c = NULL;
    auth = NULL;
    url = NULL;
    ct = NULL;
    status = -1;

    if (!registry_enabled()) {
        snprintf(err, errlen, "authd.registry_url is not configured");
        return -1;
    }

    /* both were checked by the caller; checked again, paths come from here */
    if (!hb_name_valid((const unsigned char *) name, strlen(name))
        || (!hb_tag_valid((const unsigned char *) ref, strlen(ref))
            && hb_digest_parse((const unsigned char *) ref, strlen(ref))
               == HB_DIGEST_NONE))
    {
        snprintf(err, errlen, "invalid repository name or reference");
        return -1;
    }

    b = calloc(1, sizeof(*b));
    tok = registry_token(user, name, actions, REGISTRY_TOKEN_TTL);
    if (b == NULL || tok == NULL) {
        snprintf(err, errlen, "out of memory");
        goto done;
    }

    n = strlen(conf->registry_url);
    while (n > 0 && conf->registry_url[n - 1] == '/') {
        n--;
    }

    if (asprintf(&url, "%.*s/v2/%s/manifests/%s", (int) n, conf->registry_url,
                 name, ref) < 0
        || asprintf(&auth, "Authorization: Bearer %s", tok) < 0
        || (ctype != NULL && asprintf(&ct, "Content-Type: %s", ctype) < 0))
    {
        url = NULL;
        auth = NULL;
        ct = NULL;
        snprintf(err, errlen, "out of memory");
        goto done;
    }

    c = curl_easy_init();
    if (c == NULL) {
        snprintf(err, errlen, "libcurl could not be initialised");
        goto done;
    }

    h = curl_slist_append(h, auth);
    h = curl_slist_append(h, "Expect:");
    h = curl_slist_append(h, "User-Agent: ngx-harbor-authd/" AUTHD_VERSION);
    if (ct != NULL) {
        h = curl_slist_append(h, ct);
    }

    while (hdrs != NULL && *hdrs != NULL) {
        h = curl_slist_append(h, *hdrs++);
    }

    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    if (conf->registry_ca != NULL) {
        curl_easy_setopt(c, CURLOPT_CAINFO, conf->registry_ca);
    }
    if (conf->registry_address != NULL) {
        to = registry_connect_to(conf->registry_address);
        if (to == NULL) {
            snprintf(err, errlen, "out of memory");
            goto done;
        }
        curl_easy_setopt(c, CURLOPT_CONNECT_TO, to);
    }
    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, 5L);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, (long) conf->registry_timeout);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, registry_write);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, b);

    if (body != NULL) {
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t) len);
    }

    rc = curl_easy_perform(c);
    if (rc != CURLE_OK) {
        snprintf(err, errlen, "the registry at %.200s could not be reached: "
                 "%s", conf->registry_url, curl_easy_strerror(rc));
        log_warnx("%s %s/manifests/%s: %s", method, name, ref,
                  curl_easy_strerror(rc));
        goto done;
    }

    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);

    if (status >= 300) {
        registry_message(b, status, err, errlen);
        log_info("%s %s/manifests/%s for \"%s\": %ld", method, name, ref,
                 user, status);
    }

done:

    if (tok != NULL) {
        sodium_memzero(tok, strlen(tok));
        free(tok);
    }
    if (auth != NULL) {
        sodium_memzero(auth, strlen(auth));
        free(auth);
    }

    curl_slist_free_all(h);
    curl_slist_free_all(to);
    if (c != NULL) {
        curl_easy_cleanup(c);
    }
    free(url);
    free(ct);
    free(b);

    return (int) status;
}


/* DELETE /v2/<name>/manifests/<digest or tag> as user */
int
registry_delete(const char *user, const char *name, const char *ref,
    char *err, size_t errlen)
{
    return registry_request("DELETE", user, name, ref, "delete", NULL, NULL,
                            NULL, 0, err, errlen);
}


/*
 * DELETE /v2/<name>/manifests/<digest> of the collector: the module keeps
 * the manifest (412) when a tag points at it, or when it was made
 * reachable, touched or pushed at or after cutoff (docs/gc.md, the
 * fence).
 */
int
registry_delete_untagged(const char *user, const char *name,
    const char *digest, time_t cutoff, char *err, size_t errlen)
{
    const char  *hdrs[3];
    char         cut[64];
    int          n;

    n = snprintf(cut, sizeof(cut), "X-Harbor-Cutoff: %lld",
                 (long long) cutoff);
    if (n < 0 || (size_t) n >= sizeof(cut)) {
        snprintf(err, errlen, "cutoff out of range");
        return -1;
    }

    hdrs[0] = "X-Harbor-Untagged-Only: true";
    hdrs[1] = cut;
    hdrs[2] = NULL;

    return registry_request("DELETE", user, name, digest, "delete", NULL,
                            hdrs, NULL, 0, err, errlen);
}


/* PUT /v2/<name>/manifests/<ref> with a manifest, as user */
int
registry_put_manifest(const char *user, const char *name, const char *ref,
    const char *media_type, const char *body, size_t len, char *err,
    size_t errlen)
{
    return registry_request("PUT", user, name, ref, "pull,push", media_type,
                            NULL, body, len, err, errlen);
}
