/*
 * ngx-harbor: JSON Web Tokens (RS256, ES256) for the registry token service.
 * Plain C, shared by authd and the nginx module.
 */

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <math.h>

#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

#include "harbor_jwt.h"


static const char hb_b64url_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/* the raw r || s of an ES256 signature (RFC 7518, 3.4) */
#define HB_ES256_SIG_LEN  64

static int hb_jwt_alg(EVP_PKEY *key, const char **alg, size_t *siglen);
static int hb_es256_raw(unsigned char *der, size_t *len);
static unsigned char *hb_es256_der(const unsigned char *raw, size_t *len);
static int hb_jwt_err(char *err, size_t errlen, const char *msg);
static json_t *hb_jwt_part(const char *p, size_t n, unsigned char *buf);
static int hb_jwt_check_claims(json_t *claims, const char *iss,
    const char *aud, time_t now, int leeway, char *err, size_t errlen);


size_t
hb_b64url_encode(char *out, const unsigned char *in, size_t n)
{
    size_t    i, o;
    uint32_t  v;

    o = 0;

    for (i = 0; i + 2 < n; i += 3) {
        v = (uint32_t) in[i] << 16 | (uint32_t) in[i + 1] << 8 | in[i + 2];
        out[o++] = hb_b64url_alphabet[(v >> 18) & 0x3f];
        out[o++] = hb_b64url_alphabet[(v >> 12) & 0x3f];
        out[o++] = hb_b64url_alphabet[(v >> 6) & 0x3f];
        out[o++] = hb_b64url_alphabet[v & 0x3f];
    }

    if (n - i == 1) {
        v = (uint32_t) in[i] << 16;
        out[o++] = hb_b64url_alphabet[(v >> 18) & 0x3f];
        out[o++] = hb_b64url_alphabet[(v >> 12) & 0x3f];

    } else if (n - i == 2) {
        v = (uint32_t) in[i] << 16 | (uint32_t) in[i + 1] << 8;
        out[o++] = hb_b64url_alphabet[(v >> 18) & 0x3f];
        out[o++] = hb_b64url_alphabet[(v >> 12) & 0x3f];
        out[o++] = hb_b64url_alphabet[(v >> 6) & 0x3f];
    }

    out[o] = '\0';

    return o;
}


static int
hb_b64url_value(unsigned char c)
{
    if (c >= 'A' && c <= 'Z') {
        return c - 'A';
    }
    if (c >= 'a' && c <= 'z') {
        return c - 'a' + 26;
    }
    if (c >= '0' && c <= '9') {
        return c - '0' + 52;
    }
    if (c == '-') {
        return 62;
    }
    if (c == '_') {
        return 63;
    }
    return -1;
}


long
hb_b64url_decode(unsigned char *out, const char *in, size_t len)
{
    size_t    i, o, rest;
    int       d[4], k;
    uint32_t  v;

    rest = len % 4;

    if (rest == 1) {
        return -1;
    }

    o = 0;

    for (i = 0; i < len; i += 4) {

        for (k = 0; k < 4; k++) {
            if (i + k < len) {
                d[k] = hb_b64url_value((unsigned char) in[i + k]);
                if (d[k] < 0) {
                    return -1;
                }

            } else {
                d[k] = 0;
            }
        }

        v = (uint32_t) d[0] << 18 | (uint32_t) d[1] << 12
            | (uint32_t) d[2] << 6 | (uint32_t) d[3];

        if (i + 4 <= len) {
            out[o++] = (unsigned char) (v >> 16);
            out[o++] = (unsigned char) (v >> 8);
            out[o++] = (unsigned char) v;

        } else if (rest == 2) {
            /* the 4 unused low bits of the last character must be zero */
            if (d[1] & 0x0f) {
                return -1;
            }
            out[o++] = (unsigned char) (v >> 16);

        } else {
            if (d[2] & 0x03) {
                return -1;
            }
            out[o++] = (unsigned char) (v >> 16);
            out[o++] = (unsigned char) (v >> 8);
        }
    }

    return (long) o;
}


/*
 * The key decides the algorithm: an RSA key signs RS256, a P-256 key
 * ES256; no other key is used for tokens.  siglen: the length of the
 * signature in the token.
 */
static int
hb_jwt_alg(EVP_PKEY *key, const char **alg, size_t *siglen)
{
    char  group[32];

    if (key == NULL) {
        return -1;
    }

    switch (EVP_PKEY_get_base_id(key)) {

    case EVP_PKEY_RSA:
        *alg = "RS256";
        *siglen = (size_t) EVP_PKEY_get_size(key);
        return 0;

    case EVP_PKEY_EC:
        if (EVP_PKEY_get_group_name(key, group, sizeof(group), NULL) != 1
            || strcmp(group, SN_X9_62_prime256v1) != 0)
        {
            return -1;
        }

        *alg = "ES256";
        *siglen = HB_ES256_SIG_LEN;
        return 0;
    }

    return -1;
}


const char *
hb_jwt_key_alg(EVP_PKEY *key)
{
    const char  *alg;
    size_t       siglen;

    return hb_jwt_alg(key, &alg, &siglen) == 0 ? alg : NULL;
}


/* a DER ECDSA-Sig-Value, in place, to the fixed-width r || s of JWS */
static int
hb_es256_raw(unsigned char *der, size_t *len)
{
    const unsigned char  *p;
    const BIGNUM         *r, *s;
    ECDSA_SIG            *sig;
    int                   rc;

    p = der;
    sig = d2i_ECDSA_SIG(NULL, &p, (long) *len);
    if (sig == NULL) {
        return -1;
    }

    ECDSA_SIG_get0(sig, &r, &s);

    rc = BN_bn2binpad(r, der, HB_ES256_SIG_LEN / 2) == HB_ES256_SIG_LEN / 2
         && BN_bn2binpad(s, der + HB_ES256_SIG_LEN / 2,
                         HB_ES256_SIG_LEN / 2) == HB_ES256_SIG_LEN / 2
         ? 0 : -1;

    ECDSA_SIG_free(sig);
    *len = HB_ES256_SIG_LEN;

    return rc;
}


/* r || s of JWS to a DER ECDSA-Sig-Value OpenSSL verifies; malloc()ed */
static unsigned char *
hb_es256_der(const unsigned char *raw, size_t *len)
{
    BIGNUM         *r, *s;
    ECDSA_SIG      *sig;
    unsigned char  *der;
    int             n;

    der = NULL;
    sig = ECDSA_SIG_new();
    r = BN_bin2bn(raw, HB_ES256_SIG_LEN / 2, NULL);
    s = BN_bin2bn(raw + HB_ES256_SIG_LEN / 2, HB_ES256_SIG_LEN / 2, NULL);

    if (sig == NULL || r == NULL || s == NULL
        || ECDSA_SIG_set0(sig, r, s) != 1)
    {
        BN_free(r);
        BN_free(s);
        ECDSA_SIG_free(sig);
        return NULL;
    }

    /* sig owns r and s now */
    n = i2d_ECDSA_SIG(sig, &der);
    ECDSA_SIG_free(sig);

    if (n <= 0) {
        return NULL;
    }

    *len = (size_t) n;

    return der;
}


int
hb_jwt_sign(EVP_PKEY *key, const char *kid, const char *x5c_b64,
    json_t *claims, char **out)
{
    const char     *alg;
    json_t         *header, *x5c;
    char           *hs, *cs, *tok;
    size_t          hl, cl, n, siglen, maxlen;
    unsigned char  *sig;
    EVP_MD_CTX     *ctx;
    int             rc;

    *out = NULL;
    rc = -1;
    header = NULL;
    hs = NULL;
    cs = NULL;
    tok = NULL;
    sig = NULL;
    ctx = NULL;

    if (hb_jwt_alg(key, &alg, &siglen) != 0 || !json_is_object(claims)) {
        return -1;
    }

    header = json_pack("{s:s, s:s}", "alg", alg, "typ", "JWT");
    if (header == NULL) {
        goto fail;
    }

    if (kid != NULL && json_object_set_new(header, "kid", json_string(kid))) {
        goto fail;
    }

    if (x5c_b64 != NULL) {
        x5c = json_pack("[s]", x5c_b64);
        if (x5c == NULL || json_object_set_new(header, "x5c", x5c) != 0) {
            goto fail;
        }
    }

    hs = json_dumps(header, JSON_COMPACT);
    cs = json_dumps(claims, JSON_COMPACT);
    if (hs == NULL || cs == NULL) {
        goto fail;
    }

    hl = strlen(hs);
    cl = strlen(cs);

    /* the most OpenSSL writes: for ECDSA, a DER form longer than r || s */
    maxlen = (size_t) EVP_PKEY_get_size(key);

    /* header "." claims "." signature, each base64url, and a NUL */
    n = (hl + 2) / 3 * 4 + 1 + (cl + 2) / 3 * 4 + 1 + (siglen + 2) / 3 * 4 + 1;

    tok = malloc(n);
    sig = malloc(maxlen);
    if (tok == NULL || sig == NULL) {
        goto fail;
    }

    hl = hb_b64url_encode(tok, (unsigned char *) hs, hl);
    tok[hl++] = '.';
    hl += hb_b64url_encode(tok + hl, (unsigned char *) cs, cl);

    ctx = EVP_MD_CTX_new();
    if (ctx == NULL
        || EVP_DigestSignInit(ctx, NULL, EVP_sha256(), NULL, key) != 1
        || EVP_DigestSign(ctx, sig, &maxlen, (unsigned char *) tok, hl) != 1)
    {
        goto fail;
    }

    if (strcmp(alg, "ES256") == 0) {
        if (hb_es256_raw(sig, &maxlen) != 0) {
            goto fail;
        }
    }

    if (maxlen != siglen) {
        goto fail;
    }

    tok[hl++] = '.';
    hb_b64url_encode(tok + hl, sig, siglen);

    *out = tok;
    tok = NULL;
    rc = 0;

fail:

    EVP_MD_CTX_free(ctx);
    free(sig);
    free(tok);
    free(hs);
    free(cs);
    json_decref(header);

    return rc;
}


static int
hb_jwt_err(char *err, size_t errlen, const char *msg)
{
    if (err != NULL && errlen > 0) {
        snprintf(err, errlen, "%s", msg);
    }

    return -1;
}


static json_t *
hb_jwt_part(const char *p, size_t n, unsigned char *buf)
{
    long          len;
    json_t       *j;
    json_error_t  jerr;

    len = hb_b64url_decode(buf, p, n);
    if (len <= 0) {
        return NULL;
    }

    j = json_loadb((char *) buf, (size_t) len, JSON_REJECT_DUPLICATES, &jerr);
    if (j != NULL && !json_is_object(j)) {
        json_decref(j);
        return NULL;
    }

    return j;
}


static int
hb_jwt_check_claims(json_t *claims, const char *iss, const char *aud,
    time_t now, int leeway, char *err, size_t errlen)
{
    json_t  *v, *a;
    size_t   i;
    double   t;
    int      found;

    if (iss != NULL) {
        v = json_object_get(claims, "iss");
        if (!json_is_string(v) || strcmp(json_string_value(v), iss) != 0) {
            return hb_jwt_err(err, errlen, "token has the wrong issuer");
        }
    }

    if (aud != NULL) {
        v = json_object_get(claims, "aud");
        found = 0;

        if (json_is_string(v)) {
            found = strcmp(json_string_value(v), aud) == 0;

        } else if (json_is_array(v)) {
            json_array_foreach(v, i, a) {
                if (json_is_string(a) && strcmp(json_string_value(a), aud) == 0)
                {
                    found = 1;
                    break;
                }
            }
        }

        if (!found) {
            return hb_jwt_err(err, errlen, "token has the wrong audience");
        }
    }

    v = json_object_get(claims, "exp");
    if (!json_is_number(v) || !isfinite(json_number_value(v))) {
        return hb_jwt_err(err, errlen, "token has no expiry");
    }

    t = json_number_value(v);
    if ((double) now > t + leeway) {
        return hb_jwt_err(err, errlen, "token has expired");
    }

    v = json_object_get(claims, "nbf");
    if (v != NULL) {
        if (!json_is_number(v) || !isfinite(json_number_value(v))) {
            return hb_jwt_err(err, errlen, "token has an invalid nbf");
        }

        if ((double) now + leeway < json_number_value(v)) {
            return hb_jwt_err(err, errlen, "token is not valid yet");
        }
    }

    return 0;
}


int
hb_jwt_verify(EVP_PKEY *pub, const char *token, size_t len, const char *iss,
    const char *aud, time_t now, int leeway, json_t **claims_out, char *err,
    size_t errlen)
{
    const char     *alg, *d1, *d2, *p;
    unsigned char  *buf, *der, *sig;
    json_t         *header, *claims, *v;
    EVP_MD_CTX     *ctx;
    long            n;
    size_t          i, siglen;
    int             rc;

    if (claims_out != NULL) {
        *claims_out = NULL;
    }

    if (hb_jwt_alg(pub, &alg, &siglen) != 0) {
        return hb_jwt_err(err, errlen, "unsupported verification key");
    }

    if (token == NULL || len == 0) {
        return hb_jwt_err(err, errlen, "empty token");
    }

    /* cap the length before anything is decoded */
    if (len > HB_JWT_MAX) {
        return hb_jwt_err(err, errlen, "token too long");
    }

    d1 = NULL;
    d2 = NULL;

    for (i = 0; i < len; i++) {
        if (token[i] != '.') {
            continue;
        }

        if (d1 == NULL) {
            d1 = token + i;

        } else if (d2 == NULL) {
            d2 = token + i;

        } else {
            return hb_jwt_err(err, errlen, "token must have three parts");
        }
    }

    if (d2 == NULL) {
        return hb_jwt_err(err, errlen, "token must have three parts");
    }

    if (d1 == token || d2 == d1 + 1 || d2 + 1 == token + len) {
        return hb_jwt_err(err, errlen, "token has an empty part");
    }

    buf = malloc(len);
    if (buf == NULL) {
        return hb_jwt_err(err, errlen, "out of memory");
    }

    rc = -1;
    header = NULL;
    claims = NULL;
    ctx = NULL;
    der = NULL;

    header = hb_jwt_part(token, (size_t) (d1 - token), buf);
    if (header == NULL) {
        hb_jwt_err(err, errlen, "token header is not base64url JSON");
        goto fail;
    }

    /*
     * The key fixed the algorithm; the header must agree with it.  Any
     * jwk, x5c or jku in the header is ignored: only pub is trusted.
     */
    v = json_object_get(header, "alg");
    if (!json_is_string(v) || strcmp(json_string_value(v), alg) != 0) {
        hb_jwt_err(err, errlen, "token algorithm is not allowed");
        goto fail;
    }

    if (json_object_get(header, "crit") != NULL) {
        hb_jwt_err(err, errlen, "token has critical header extensions");
        goto fail;
    }

    p = d2 + 1;
    n = hb_b64url_decode(buf, p, (size_t) (token + len - p));
    if (n <= 0) {
        hb_jwt_err(err, errlen, "token signature is not base64url");
        goto fail;
    }

    if ((size_t) n != siglen) {
        hb_jwt_err(err, errlen, "token signature is invalid");
        goto fail;
    }

    sig = buf;

    if (strcmp(alg, "ES256") == 0) {
        der = hb_es256_der(buf, &siglen);
        if (der == NULL) {
            hb_jwt_err(err, errlen, "out of memory");
            goto fail;
        }

        sig = der;
    }

    ctx = EVP_MD_CTX_new();
    if (ctx == NULL
        || EVP_DigestVerifyInit(ctx, NULL, EVP_sha256(), NULL, pub) != 1)
    {
        hb_jwt_err(err, errlen, "out of memory");
        goto fail;
    }

    if (EVP_DigestVerify(ctx, sig, siglen,
                         (const unsigned char *) token,
                         (size_t) (d2 - token)) != 1)
    {
        hb_jwt_err(err, errlen, "token signature is invalid");
        goto fail;
    }

    claims = hb_jwt_part(d1 + 1, (size_t) (d2 - d1 - 1), buf);
    if (claims == NULL) {
        hb_jwt_err(err, errlen, "token claims are not base64url JSON");
        goto fail;
    }

    if (hb_jwt_check_claims(claims, iss, aud, now, leeway, err, errlen) != 0)
    {
        goto fail;
    }

    if (claims_out != NULL) {
        *claims_out = claims;
        claims = NULL;
    }

    rc = 0;

fail:

    EVP_MD_CTX_free(ctx);
    OPENSSL_free(der);
    json_decref(claims);
    json_decref(header);
    free(buf);

    return rc;
}


int
hb_libtrust_kid(EVP_PKEY *key, char out[HB_KID_SIZE])
{
    static const char  b32[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    unsigned char     *der, *p, md[EVP_MAX_MD_SIZE];
    unsigned int       mdlen;
    char               enc[48];
    size_t             i, o, bit;
    int                n, k, v;

    der = NULL;

    n = i2d_PUBKEY(key, NULL);
    if (n <= 0) {
        return -1;
    }

    der = OPENSSL_malloc((size_t) n);
    if (der == NULL) {
        return -1;
    }

    p = der;
    if (i2d_PUBKEY(key, &p) != n
        || EVP_Digest(der, (size_t) n, md, &mdlen, EVP_sha256(), NULL) != 1)
    {
        OPENSSL_free(der);
        return -1;
    }

    OPENSSL_free(der);

    /* the first 240 bits, base32 (48 characters, no padding needed) */
    for (i = 0; i < 48; i++) {
        v = 0;
        for (k = 0; k < 5; k++) {
            bit = i * 5 + (size_t) k;
            v = v << 1 | ((md[bit / 8] >> (7 - bit % 8)) & 1);
        }
        enc[i] = b32[v];
    }

    o = 0;
    for (i = 0; i < 48; i++) {
        if (i > 0 && i % 4 == 0) {
            out[o++] = ':';
        }
        out[o++] = enc[i];
    }

    out[o] = '\0';

    return 0;
}
