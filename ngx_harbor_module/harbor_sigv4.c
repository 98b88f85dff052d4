/*
 * ngx-harbor: AWS Signature Version 4 (harbor_sigv4.h).
 *
 * The canonical request is hashed as it is produced; only the encoded
 * query parameters and the canonical headers are kept, in one buffer on
 * the stack, to be sorted.
 */

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>

#include "harbor_sigv4.h"

#define HB_SIGV4_WORK   16384           /* encoded params and headers */
#define HB_SIGV4_ALGO   "AWS4-HMAC-SHA256"

typedef struct {
    const char  *name;                  /* encoded / lowercased */
    size_t       name_len;
    const char  *value;                 /* encoded / trimmed */
    size_t       value_len;
} hb_sigv4_kv_t;

typedef struct {
    char    *p;
    char    *end;
    int      overflow;
} hb_sigv4_buf_t;


static void
hb_sigv4_buf_init(hb_sigv4_buf_t *b, char *p, size_t size)
{
    b->p = p;
    b->end = p + size;
    b->overflow = 0;
}


static void
hb_sigv4_put(hb_sigv4_buf_t *b, const char *s, size_t n)
{
    if (b->overflow || (size_t) (b->end - b->p) < n) {
        b->overflow = 1;
        return;
    }

    memcpy(b->p, s, n);
    b->p += n;
}


static void
hb_sigv4_puts(hb_sigv4_buf_t *b, const char *s)
{
    hb_sigv4_put(b, s, strlen(s));
}


static void
hb_sigv4_hex(const unsigned char *in, size_t n, char *out)
{
    static const char  hex[] = "0123456789abcdef";
    size_t             i;

    for (i = 0; i < n; i++) {
        out[2 * i] = hex[in[i] >> 4];
        out[2 * i + 1] = hex[in[i] & 0xf];
    }

    out[2 * n] = '\0';
}


int
hb_sigv4_date(time_t t, char *out)
{
    struct tm  tm;

    if (gmtime_r(&t, &tm) == NULL
        || strftime(out, HB_SIGV4_DATE_LEN + 1, "%Y%m%dT%H%M%SZ", &tm)
           != HB_SIGV4_DATE_LEN)
    {
        return -1;
    }

    return 0;
}


static int
hb_sigv4_unreserved(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z')
           || (c >= '0' && c <= '9')
           || c == '-' || c == '.' || c == '_' || c == '~';
}


/* the encoding into b; see hb_sigv4_encode */
static void
hb_sigv4_encode_buf(hb_sigv4_buf_t *b, const char *in, size_t len,
    int encode_slash)
{
    static const char  hex[] = "0123456789ABCDEF";
    unsigned char      c;
    char               e[3];
    size_t             i;

    for (i = 0; i < len; i++) {
        c = (unsigned char) in[i];

        if (hb_sigv4_unreserved(c) || (c == '/' && !encode_slash)) {
            hb_sigv4_put(b, (const char *) &c, 1);
            continue;
        }

        e[0] = '%';
        e[1] = hex[c >> 4];
        e[2] = hex[c & 0xf];
        hb_sigv4_put(b, e, 3);
    }
}


int
hb_sigv4_encode(const char *in, size_t len, int encode_slash, char *out,
    size_t outlen)
{
    hb_sigv4_buf_t  b;

    if (outlen == 0) {
        return -1;
    }

    hb_sigv4_buf_init(&b, out, outlen - 1);

    hb_sigv4_encode_buf(&b, in, len, encode_slash);
    if (b.overflow) {
        return -1;
    }

    *b.p = '\0';
    return 0;
}


void
hb_sigv4_sha256_hex(const void *data, size_t len, char *out)
{
    unsigned char  md[SHA256_DIGEST_LENGTH];

    SHA256(data, len, md);
    hb_sigv4_hex(md, sizeof(md), out);
}


static int
hb_sigv4_kv_cmp(const void *a, const void *b)
{
    const hb_sigv4_kv_t  *x = a, *y = b;
    size_t                n;
    int                   rc;

    n = x->name_len < y->name_len ? x->name_len : y->name_len;
    rc = memcmp(x->name, y->name, n);
    if (rc != 0) {
        return rc;
    }
    if (x->name_len != y->name_len) {
        return x->name_len < y->name_len ? -1 : 1;
    }

    n = x->value_len < y->value_len ? x->value_len : y->value_len;
    rc = memcmp(x->value, y->value, n);
    if (rc != 0) {
        return rc;
    }

    return x->value_len < y->value_len ? -1 : x->value_len > y->value_len;
}


/* the canonical query string into out: encoded pairs sorted, '&' between */
static int
hb_sigv4_query(const hb_sigv4_pair_t *q, size_t nq, hb_sigv4_buf_t *out)
{
    char             work[HB_SIGV4_WORK];
    hb_sigv4_kv_t    kv[HB_SIGV4_PARAMS_MAX];
    hb_sigv4_buf_t   w;
    size_t           i;

    if (nq > HB_SIGV4_PARAMS_MAX) {
        return -1;
    }

    hb_sigv4_buf_init(&w, work, sizeof(work));

    for (i = 0; i < nq; i++) {
        kv[i].name = w.p;
        hb_sigv4_encode_buf(&w, q[i].name, strlen(q[i].name), 1);
        kv[i].name_len = w.p - kv[i].name;
        kv[i].value = w.p;
        hb_sigv4_encode_buf(&w, q[i].value, strlen(q[i].value), 1);
        kv[i].value_len = w.p - kv[i].value;
    }

    if (w.overflow) {
        return -1;
    }

    qsort(kv, nq, sizeof(hb_sigv4_kv_t), hb_sigv4_kv_cmp);

    for (i = 0; i < nq; i++) {
        if (i > 0) {
            hb_sigv4_put(out, "&", 1);
        }
        hb_sigv4_put(out, kv[i].name, kv[i].name_len);
        hb_sigv4_put(out, "=", 1);
        hb_sigv4_put(out, kv[i].value, kv[i].value_len);
    }

    return out->overflow ? -1 : 0;
}


/*
 * The canonical headers ("name:value\n" each, names lowercased and sorted,
 * values trimmed with inner runs of spaces made one, a repeated name's
 * values joined by ',') into ch, the signed headers list into sh.
 */
static int
hb_sigv4_headers(const hb_sigv4_pair_t *h, size_t nh, hb_sigv4_buf_t *ch,
    hb_sigv4_buf_t *sh)
{
    char             work[HB_SIGV4_WORK];
    hb_sigv4_kv_t    kv[HB_SIGV4_HEADERS_MAX];
    hb_sigv4_buf_t   w;
    const char      *v, *end;
    size_t           i, k;
    char             c;
    int              space;

    if (nh == 0 || nh > HB_SIGV4_HEADERS_MAX) {
        return -1;
    }

    hb_sigv4_buf_init(&w, work, sizeof(work));

    for (i = 0; i < nh; i++) {
        kv[i].name = w.p;
        for (v = h[i].name; *v; v++) {
            c = *v;
            if (c >= 'A' && c <= 'Z') {
                c += 'a' - 'A';
            }
            if (c <= ' ' || c == ':' || c == 0x7f) {
                return -1;
            }
            hb_sigv4_put(&w, &c, 1);
        }
        kv[i].name_len = w.p - kv[i].name;
        if (kv[i].name_len == 0) {
            return -1;
        }

        v = h[i].value;
        end = v + strlen(v);
        while (v < end && (*v == ' ' || *v == '\t')) {
            v++;
        }
        while (end > v && (end[-1] == ' ' || end[-1] == '\t')) {
            end--;
        }

        kv[i].value = w.p;
        space = 0;
        for ( /* void */ ; v < end; v++) {
            if (*v == '\r' || *v == '\n') {
                return -1;
            }
            if (*v == ' ' || *v == '\t') {
                space = 1;
                continue;
            }
            if (space) {
                hb_sigv4_put(&w, " ", 1);
                space = 0;
            }
            hb_sigv4_put(&w, v, 1);
        }
        kv[i].value_len = w.p - kv[i].value;
    }

    if (w.overflow) {
        return -1;
    }

    /* by name; a repeated name keeps its values in the order given */
    for (i = 1; i < nh; i++) {
        hb_sigv4_kv_t  x = kv[i];

        for (k = i; k > 0; k--) {
            size_t  n = x.name_len < kv[k - 1].name_len ? x.name_len
                                                        : kv[k - 1].name_len;
            int     rc = memcmp(kv[k - 1].name, x.name, n);

            if (rc < 0 || (rc == 0 && kv[k - 1].name_len <= x.name_len)) {
                break;
            }
            kv[k] = kv[k - 1];
        }
        kv[k] = x;
    }

    for (i = 0; i < nh; i++) {
        int  same = i > 0 && kv[i].name_len == kv[i - 1].name_len
                    && memcmp(kv[i].name, kv[i - 1].name, kv[i].name_len) == 0;

        if (same) {
            hb_sigv4_put(ch, ",", 1);

        } else {
            if (i > 0) {
                hb_sigv4_put(ch, "\n", 1);
                hb_sigv4_put(sh, ";", 1);
            }
            hb_sigv4_put(ch, kv[i].name, kv[i].name_len);
            hb_sigv4_put(ch, ":", 1);
            hb_sigv4_put(sh, kv[i].name, kv[i].name_len);
        }

        hb_sigv4_put(ch, kv[i].value, kv[i].value_len);
    }

    hb_sigv4_put(ch, "\n", 1);

    return (ch->overflow || sh->overflow) ? -1 : 0;
}


static int
hb_sigv4_hmac(const void *key, size_t klen, const char *msg, size_t mlen,
    unsigned char *out)
{
    unsigned int  n;

    n = SHA256_DIGEST_LENGTH;

    if (HMAC(EVP_sha256(), key, (int) klen, (const unsigned char *) msg, mlen,
             out, &n) == NULL)
    {
        return -1;
    }

    return 0;
}


static int
hb_sigv4_date_ok(const char *d)
{
    size_t  i;

    if (d == NULL || strlen(d) != HB_SIGV4_DATE_LEN || d[8] != 'T'
        || d[15] != 'Z')
    {
        return 0;
    }

    for (i = 0; i < HB_SIGV4_DATE_LEN; i++) {
        if (i != 8 && i != 15 && (d[i] < '0' || d[i] > '9')) {
            return 0;
        }
    }

    return 1;
}


/* "YYYYMMDD/region/service/aws4_request" */
static int
hb_sigv4_scope(const hb_sigv4_key_t *key, const char *date, char *out,
    size_t outlen)
{
    int  n;

    n = snprintf(out, outlen, "%.8s/%s/%s/aws4_request", date, key->region,
                 key->service);

    return (n < 0 || (size_t) n >= outlen) ? -1 : 0;
}


/*
 * The hex signature of the canonical request made of its parts (query
 * already canonical, headers canonical with their signed list).
 */
static int
hb_sigv4_sign(const hb_sigv4_key_t *key, const hb_sigv4_req_t *req,
    const char *query, size_t qlen, const char *ch, size_t chlen,
    const char *sh, size_t shlen, char *sig)
{
    char            path[HB_SIGV4_WORK];
    char            scope[256], hash[HB_SIGV4_HEX_LEN + 1];
    char            sts[512], kbuf[256];
    unsigned char   md[SHA256_DIGEST_LENGTH], k[SHA256_DIGEST_LENGTH];
    unsigned char   k2[SHA256_DIGEST_LENGTH];
    EVP_MD_CTX     *ctx;
    unsigned int    mdlen;
    int             n, kn, rc;

    if (hb_sigv4_encode(req->path, strlen(req->path), 0, path, sizeof(path))
        != 0
        || hb_sigv4_scope(key, req->date, scope, sizeof(scope)) != 0)
    {
        return -1;
    }

    ctx = EVP_MD_CTX_new();
    if (ctx == NULL) {
        return -1;
    }

    rc = EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) == 1
         && EVP_DigestUpdate(ctx, req->method, strlen(req->method)) == 1
         && EVP_DigestUpdate(ctx, "\n", 1) == 1
         && EVP_DigestUpdate(ctx, path, strlen(path)) == 1
         && EVP_DigestUpdate(ctx, "\n", 1) == 1
         && EVP_DigestUpdate(ctx, query, qlen) == 1
         && EVP_DigestUpdate(ctx, "\n", 1) == 1
         && EVP_DigestUpdate(ctx, ch, chlen) == 1
         && EVP_DigestUpdate(ctx, "\n", 1) == 1
         && EVP_DigestUpdate(ctx, sh, shlen) == 1
         && EVP_DigestUpdate(ctx, "\n", 1) == 1
         && EVP_DigestUpdate(ctx, req->payload, strlen(req->payload)) == 1
         && EVP_DigestFinal_ex(ctx, md, &mdlen) == 1;

    EVP_MD_CTX_free(ctx);

    if (!rc) {
        return -1;
    }

    hb_sigv4_hex(md, SHA256_DIGEST_LENGTH, hash);

    n = snprintf(sts, sizeof(sts), HB_SIGV4_ALGO "\n%s\n%s\n%s", req->date,
                 scope, hash);
    if (n < 0 || (size_t) n >= sizeof(sts)) {
        return -1;
    }

    kn = snprintf(kbuf, sizeof(kbuf), "AWS4%s", key->secret_key);
    if (kn < 0 || (size_t) kn >= sizeof(kbuf)) {
        OPENSSL_cleanse(kbuf, sizeof(kbuf));
        return -1;
    }

    rc = hb_sigv4_hmac(kbuf, kn, req->date, 8, k) == 0
         && hb_sigv4_hmac(k, sizeof(k), key->region, strlen(key->region), k2)
            == 0
         && hb_sigv4_hmac(k2, sizeof(k2), key->service, strlen(key->service),
                          k) == 0
         && hb_sigv4_hmac(k, sizeof(k), "aws4_request", 12, k2) == 0
         && hb_sigv4_hmac(k2, sizeof(k2), sts, n, md) == 0;

    OPENSSL_cleanse(kbuf, sizeof(kbuf));
    OPENSSL_cleanse(k, sizeof(k));
    OPENSSL_cleanse(k2, sizeof(k2));

    if (!rc) {
        return -1;
    }

    hb_sigv4_hex(md, SHA256_DIGEST_LENGTH, sig);
    return 0;
}


static int
hb_sigv4_valid(const hb_sigv4_key_t *key, const hb_sigv4_req_t *req)
{
    return key->access_key && key->secret_key && key->region && key->service
           && req->method && req->path && req->path[0] == '/'
           && req->payload && hb_sigv4_date_ok(req->date)
           && strchr(key->region, '/') == NULL
           && strchr(key->service, '/') == NULL;
}


int
hb_sigv4_authorization(const hb_sigv4_key_t *key, const hb_sigv4_req_t *req,
    char *out, size_t outlen)
{
    char            query[HB_SIGV4_WORK], chb[HB_SIGV4_WORK], shb[2048];
    char            scope[256], sig[HB_SIGV4_HEX_LEN + 1];
    hb_sigv4_buf_t  q, ch, sh;
    int             n;

    if (!hb_sigv4_valid(key, req)) {
        return -1;
    }

    hb_sigv4_buf_init(&q, query, sizeof(query));
    hb_sigv4_buf_init(&ch, chb, sizeof(chb));
    hb_sigv4_buf_init(&sh, shb, sizeof(shb));

    if (hb_sigv4_query(req->query, req->nquery, &q) != 0
        || hb_sigv4_headers(req->headers, req->nheaders, &ch, &sh) != 0
        || hb_sigv4_sign(key, req, query, q.p - query, chb, ch.p - chb,
                         shb, sh.p - shb, sig) != 0
        || hb_sigv4_scope(key, req->date, scope, sizeof(scope)) != 0)
    {
        return -1;
    }

    n = snprintf(out, outlen, HB_SIGV4_ALGO " Credential=%s/%s,"
                 "SignedHeaders=%.*s,Signature=%s", key->access_key, scope,
                 (int) (sh.p - shb), shb, sig);

    return (n < 0 || (size_t) n >= outlen) ? -1 : 0;
}


int
hb_sigv4_presign(const hb_sigv4_key_t *key, const hb_sigv4_req_t *req,
    long expires, char *out, size_t outlen)
{
    char              scope[256], cred[512], exp[32];
    char              sig[HB_SIGV4_HEX_LEN + 1];
    char              chb[2048], shb[256];
    hb_sigv4_pair_t   q[HB_SIGV4_PARAMS_MAX];
    hb_sigv4_req_t    r;
    hb_sigv4_buf_t    o, ch, sh;
    int               n;

    if (!hb_sigv4_valid(key, req) || req->nheaders != 1
        || req->nquery > HB_SIGV4_PARAMS_MAX - 5
        || expires < 1 || expires > 604800
        || hb_sigv4_scope(key, req->date, scope, sizeof(scope)) != 0)
    {
        return -1;
    }

    n = snprintf(cred, sizeof(cred), "%s/%s", key->access_key, scope);
    if (n < 0 || (size_t) n >= sizeof(cred)) {
        return -1;
    }
    snprintf(exp, sizeof(exp), "%ld", expires);

    if (req->nquery > 0) {
        memcpy(q, req->query, req->nquery * sizeof(hb_sigv4_pair_t));
    }
    q[req->nquery].name = "X-Amz-Algorithm";
    q[req->nquery].value = HB_SIGV4_ALGO;
    q[req->nquery + 1].name = "X-Amz-Credential";
    q[req->nquery + 1].value = cred;
    q[req->nquery + 2].name = "X-Amz-Date";
    q[req->nquery + 2].value = req->date;
    q[req->nquery + 3].name = "X-Amz-Expires";
    q[req->nquery + 3].value = exp;
    q[req->nquery + 4].name = "X-Amz-SignedHeaders";
    q[req->nquery + 4].value = "host";

    r = *req;
    r.query = q;
    r.nquery = req->nquery + 5;
    r.payload = HB_SIGV4_UNSIGNED;

    hb_sigv4_buf_init(&o, out, outlen);
    hb_sigv4_buf_init(&ch, chb, sizeof(chb));
    hb_sigv4_buf_init(&sh, shb, sizeof(shb));

    if (hb_sigv4_query(r.query, r.nquery, &o) != 0
        || hb_sigv4_headers(r.headers, r.nheaders, &ch, &sh) != 0
        || sh.p - shb != 4 || memcmp(shb, "host", 4) != 0
        || hb_sigv4_sign(key, &r, out, o.p - out, chb, ch.p - chb,
                         shb, sh.p - shb, sig) != 0)
    {
        return -1;
    }

    hb_sigv4_puts(&o, "&X-Amz-Signature=");
    hb_sigv4_puts(&o, sig);
    hb_sigv4_put(&o, "", 1);

    return o.overflow ? -1 : 0;
}
