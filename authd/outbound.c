/*
 * authd: the SSRF guard of every outbound request.
 *
 * outbound_pin(curl, url, ...) parses the URL (http or https only; an
 * international host name in its punycode form, the one libcurl looks
 * up), resolves its host now, and refuses it when an address is
 * loopback, link-local, private (RFC 1918, RFC 6598 shared, IPv6 ULA),
 * reserved (192.0.0/24, 198.18/15, NAT64, v4-compatible), unspecified,
 * multicast or broadcast, unless the configuration key
 * outbound_allowlist (comma-separated host names and addresses/CIDRs)
 * names the host or covers the address.  It then pins the connection to
 * the address it checked (CURLOPT_RESOLVE), so a second lookup by
 * libcurl (DNS rebinding) cannot send it elsewhere, and allows no
 * redirect and no protocol but http and https.  Every outbound caller
 * (webhooks here; replication endpoints and proxy-cache upstreams) calls
 * it on its handle right before curl_easy_perform, and frees the list it
 * returns after.
 */

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include <curl/curl.h>

#include "authd.h"


/* addr (4 or 16 bytes) within net/bits */
static int
outbound_in_net(const unsigned char *addr, const unsigned char *net,
    int bits)
{
    int  i;

    for (i = 0; bits >= 8; i++, bits -= 8) {
        if (addr[i] != net[i]) {
            return 0;
        }
    }

    return bits == 0
           || ((addr[i] ^ net[i]) & (unsigned char) (0xff << (8 - bits)))
              == 0;
}


/* 1 if a v4 address (4 bytes) may not be reached without the allowlist */
static int
outbound_v4_blocked(const unsigned char *a)
{
    return a[0] == 0                                   /* 0/8 */
           || a[0] == 10                               /* 10/8 */
           || a[0] == 127                              /* loopback */
           || (a[0] == 169 && a[1] == 254)             /* link-local */
           || (a[0] == 172 && (a[1] & 0xf0) == 16)     /* 172.16/12 */
           || (a[0] == 192 && a[1] == 168)             /* 192.168/16 */
           || (a[0] == 100 && (a[1] & 0xc0) == 64)     /* 100.64/10 */
           || (a[0] == 192 && a[1] == 0 && a[2] == 0)  /* 192.0.0/24 */
           || (a[0] == 198 && (a[1] & 0xfe) == 18)     /* 198.18/15 */
           || a[0] >= 224;                             /* multicast and
                                                          reserved */
}


int
outbound_addr_blocked(int family, const void *addr)
{
    const unsigned char  *a = addr;
    static const unsigned char  zero[16];

    if (family == AF_INET) {
        return outbound_v4_blocked(a);
    }

    /* v4-mapped ::ffff:a.b.c.d: the v4 address */
    if (memcmp(a, zero, 10) == 0 && a[10] == 0xff && a[11] == 0xff) {
        return outbound_v4_blocked(a + 12);
    }

    /* :: and ::1, and v4-compatible ::a.b.c.d (deprecated): all of them */
    if (memcmp(a, zero, 12) == 0) {
        return 1;
    }

    return (a[0] & 0xfe) == 0xfc                       /* ULA fc00::/7 */
           || (a[0] == 0xfe && (a[1] & 0xc0) == 0x80)  /* fe80::/10 */
           || (a[0] == 0xfe && (a[1] & 0xc0) == 0xc0)  /* site-local */
           || a[0] == 0xff                             /* multicast */
           || (a[0] == 0x00 && a[1] == 0x64 && a[2] == 0xff
               && a[3] == 0x9b);                       /* NAT64 64:ff9b::/96
                                                          and 64:ff9b:1::/48 */
}


/*
 * Does the allowlist (a copy, changed) name host or cover the address?
 * Items: a host name (case-insensitive), an address, or address/bits.
 */
static int
outbound_allowed(char *list, const char *host, int family, const void *addr)
{
    unsigned char   net[16];
    char           *item, *save, *slash, *end;
    long            bits;
    int             fam, max;

    for (item = strtok_r(list, ",", &save); item != NULL;
         item = strtok_r(NULL, ",", &save))
    {
        item += strspn(item, " \t");
        end = item + strlen(item);
        while (end > item && (end[-1] == ' ' || end[-1] == '\t')) {
            *--end = '\0';
        }
        if (item[0] == '\0') {
            continue;
        }

        if (strcasecmp(item, host) == 0) {
            return 1;
        }

        slash = strchr(item, '/');
        if (slash != NULL) {
            *slash = '\0';
        }

        /* [v6] and [v6]/bits */
        end = item + strlen(item);
        if (item[0] == '[' && end > item + 1 && end[-1] == ']') {
            item++;
            end[-1] = '\0';
        }

        fam = strchr(item, ':') != NULL ? AF_INET6 : AF_INET;
        if (fam != family || inet_pton(fam, item, net) != 1) {
            continue;
        }

        max = fam == AF_INET ? 32 : 128;
        bits = max;
        if (slash != NULL) {
            bits = strtol(slash + 1, &end, 10);
            if (slash[1] == '\0' || *end != '\0' || bits < 0 || bits > max) {
                continue;
            }
        }

        if (outbound_in_net(addr, net, (int) bits)) {
            return 1;
        }
    }

    return 0;
}


/*
 * May a connection go to this address now?  1 when it is not one the
 * guard blocks or when an address or CIDR of outbound_allowlist covers
 * it (host names are not looked at: the caller connects to an address
 * it did not pin).  For CURLOPT_OPENSOCKETFUNCTION callbacks, which see
 * every connection a handle makes, redirects and token services
 * included.
 */
int
outbound_addr_ok(int family, const void *addr)
{
    char  *list;
    int    ok;

    if (!outbound_addr_blocked(family, addr)) {
        return 1;
    }

    settings_rdlock();
    list = strdup(conf->outbound_allowlist != NULL
                  ? conf->outbound_allowlist : "");
    settings_unlock();

    ok = list != NULL && outbound_allowed(list, "", family, addr);
    free(list);

    return ok;
}


/*
 * Check url and pin curl to the address checked.  The list to free
 * (curl_slist_free_all) after the transfer, or NULL with err set (the
 * request must not be made).
 */
struct curl_slist *
outbound_pin(void *curl, const char *url, char *err, size_t errlen)
{
    struct addrinfo     hints, *ai, *p;
    struct curl_slist  *pin;
    CURLU              *u;
    char               *scheme, *host, *port, *list, *h;
    char                text[INET6_ADDRSTRLEN], entry[1024], name[512];
    const void         *addr;
    size_t              hlen;
    int                 rc, n;

    u = curl_url();
    scheme = host = port = NULL;
    pin = NULL;
    ai = NULL;

    if (u == NULL
        || curl_url_set(u, CURLUPART_URL, url, 0) != CURLUE_OK
        || curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK
        || curl_url_get(u, CURLUPART_HOST, &host, CURLU_PUNYCODE)
           != CURLUE_OK
        || curl_url_get(u, CURLUPART_PORT, &port, CURLU_DEFAULT_PORT)
           != CURLUE_OK)
    {
        snprintf(err, errlen, "not a URL");
        goto done;
    }

    if (strcmp(scheme, "http") != 0 && strcmp(scheme, "https") != 0) {
        snprintf(err, errlen, "only http and https URLs are allowed");
        goto done;
    }

    snprintf(name, sizeof(name), "%s", host);

    /* [v6] as curl gives it: the address without brackets */
    h = host;
    hlen = strlen(h);
    if (h[0] == '[' && hlen > 2 && h[hlen - 1] == ']') {
        h++;
        h[hlen - 2] = '\0';
    }

    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;

    rc = getaddrinfo(h, port, &hints, &ai);
    if (rc != 0 || ai == NULL) {
        snprintf(err, errlen, "cannot resolve the host: %s",
                 rc != 0 ? gai_strerror(rc) : "no address");
        goto done;
    }

    settings_rdlock();
    list = conf->outbound_allowlist != NULL
           ? strdup(conf->outbound_allowlist) : strdup("");
    settings_unlock();
    if (list == NULL) {
        snprintf(err, errlen, "out of memory");
        goto done;
    }

    /* every address must pass: a name must not mix in a private one */
    for (p = ai; p != NULL; p = p->ai_next) {
        if (p->ai_family == AF_INET) {
            addr = &((struct sockaddr_in *) p->ai_addr)->sin_addr;
        } else if (p->ai_family == AF_INET6) {
            addr = &((struct sockaddr_in6 *) p->ai_addr)->sin6_addr;
        } else {
            continue;
        }

        if (outbound_addr_blocked(p->ai_family, addr)) {
            char  *copy = strdup(list);

            rc = copy != NULL && outbound_allowed(copy, h, p->ai_family, addr);
            free(copy);
            if (!rc) {
                /* the address itself is not told: the answer may reach
                   project administrators (a webhook's delivery log) */
                snprintf(err, errlen, "%s is or resolves to a loopback,"
                         " link-local, private or reserved address that"
                         " outbound_allowlist does not name", h);
                free(list);
                goto done;
            }
        }
    }
    free(list);

    /* pin the first address checked */
    p = ai;
    addr = p->ai_family == AF_INET
           ? (const void *) &((struct sockaddr_in *) p->ai_addr)->sin_addr
           : (const void *) &((struct sockaddr_in6 *) p->ai_addr)->sin6_addr;
    inet_ntop(p->ai_family, addr, text, sizeof(text));

    n = snprintf(entry, sizeof(entry), p->ai_family == AF_INET6
                 ? "%s:%s:[%s]" : "%s:%s:%s", name, port, text);
    if (n < 0 || (size_t) n >= sizeof(entry)) {
        snprintf(err, errlen, "host name too long");
        goto done;
    }

    pin = curl_slist_append(NULL, entry);
    if (pin == NULL) {
        snprintf(err, errlen, "out of memory");
        goto done;
    }

    curl_easy_setopt(curl, CURLOPT_RESOLVE, pin);
    curl_easy_setopt(curl, CURLOPT_FOLLOWLOCATION, 0L);
#if LIBCURL_VERSION_NUM >= 0x075500
    curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
#else
    curl_easy_setopt(curl, CURLOPT_PROTOCOLS,
                     (long) (CURLPROTO_HTTP | CURLPROTO_HTTPS));
#endif

done:

    if (ai != NULL) {
        freeaddrinfo(ai);
    }
    curl_free(scheme);
    curl_free(host);
    curl_free(port);
    curl_url_cleanup(u);

    return pin;
}


/*
 * url checked as outbound_pin checks it, for an address saved to be
 * reached later (a replication registry): 0 allowed, -1 refused (err
 * says why), 1 its host does not resolve now (every connection is
 * checked again when it is made).
 */
int
outbound_check(const char *url, char *err, size_t errlen)
{
    struct curl_slist  *pin;
    CURL               *h;

    h = curl_easy_init();
    if (h == NULL) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }

    pin = outbound_pin(h, url, err, errlen);
    curl_easy_cleanup(h);

    if (pin != NULL) {
        curl_slist_free_all(pin);
        return 0;
    }

    return strncmp(err, "cannot resolve", 14) == 0 ? 1 : -1;
}
