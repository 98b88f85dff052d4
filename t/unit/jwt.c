/*
 * Unit tests of ngx_harbor_module/harbor_jwt.c: sign/verify round trip,
 * libtrust key id, and the attacks a verifier must refuse.
 */

#include "tap.h"

#include "../../ngx_harbor_module/harbor_jwt.c"

#include <openssl/hmac.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>


#define ISS      "harbor-token-issuer"
#define AUD      "harbor-registry"
#define LEEWAY   60


static EVP_PKEY  *key, *other;
static time_t     now;


static json_t *
claims_new(long long exp)
{
    json_t  *c;

    c = json_pack("{s:s, s:s, s:s, s:I, s:I, s:I, s:s, s:[]}",
                  "iss", ISS, "sub", "alice", "aud", AUD,
                  "exp", exp, "nbf", (json_int_t) now - 1,
                  "iat", (json_int_t) now, "jti", "0123456789abcdef",
                  "access");
    if (c == NULL) {
        diag("json_pack failed");
        exit(255);
    }

    return c;
}


/* A token built by hand: raw header and claims JSON, signed with sign(). */
static char *
forge(const char *header, const char *claims, EVP_PKEY *k,
    const unsigned char *hmac_key, size_t hmac_len, const char *sig_b64)
{
    char           *t;
    size_t          n, hl, cl;
    unsigned char   sig[1024];
    size_t          siglen;
    unsigned int    hlen;
    EVP_MD_CTX     *ctx;

    hl = strlen(header);
    cl = strlen(claims);
    n = (hl + cl) * 2 + 2048;
    t = malloc(n);
    if (t == NULL) {
        exit(255);
    }

    hl = hb_b64url_encode(t, (const unsigned char *) header, hl);
    t[hl++] = '.';
    hl += hb_b64url_encode(t + hl, (const unsigned char *) claims, cl);

    if (sig_b64 != NULL) {
        t[hl++] = '.';
        memcpy(t + hl, sig_b64, strlen(sig_b64) + 1);
        return t;
    }

    if (k != NULL) {
        siglen = sizeof(sig);
        ctx = EVP_MD_CTX_new();
        if (EVP_DigestSignInit(ctx, NULL, EVP_sha256(), NULL, k) != 1
            || EVP_DigestSign(ctx, sig, &siglen, (unsigned char *) t, hl) != 1)
        {
            diag("sign failed");
            exit(255);
        }
        EVP_MD_CTX_free(ctx);

    } else {
        HMAC(EVP_sha256(), hmac_key, (int) hmac_len, (unsigned char *) t, hl,
             sig, &hlen);
        siglen = hlen;
    }

    t[hl++] = '.';
    hb_b64url_encode(t + hl, sig, siglen);

    return t;
}


static int
verify(const char *tok, char *err, size_t errlen)
{
    return hb_jwt_verify(key, tok, strlen(tok), ISS, AUD, now, LEEWAY, NULL,
                         err, errlen);
}


static char *
sign_claims(EVP_PKEY *k, json_t *c)
{
    char  *tok;

    if (hb_jwt_sign(k, "KID", "Q0VSVA==", c, &tok) != 0) {
        diag("hb_jwt_sign failed");
        exit(255);
    }
    json_decref(c);

    return tok;
}


static void
test_b64url(void)
{
    unsigned char  out[64];
    char           enc[64];
    long           n;

    is_int(hb_b64url_encode(enc, (unsigned char *) "", 0), 0, "encode empty");
    hb_b64url_encode(enc, (unsigned char *) "\xfb\xff", 2);
    is_str(enc, "-_8", "encode uses the url alphabet without padding");
    hb_b64url_encode(enc, (unsigned char *) "abcd", 4);
    is_str(enc, "YWJjZA", "encode 4 bytes");

    n = hb_b64url_decode(out, "YWJjZA", 6);
    is_mem(out, n, "abcd", 4, "decode 4 bytes");
    n = hb_b64url_decode(out, "-_8", 3);
    is_mem(out, n, "\xfb\xff", 2, "decode the url alphabet");
    is_int(hb_b64url_decode(out, "YWJjZA==", 8), -1, "decode refuses padding");
    is_int(hb_b64url_decode(out, "+/8", 3), -1,
           "decode refuses the standard alphabet");
    is_int(hb_b64url_decode(out, "YWJjZB", 6), -1,
           "decode refuses non-zero unused bits");
    is_int(hb_b64url_decode(out, "YWJjZ", 5), -1,
           "decode refuses a length of 4n+1");
    is_int(hb_b64url_decode(out, "YW Jj", 5), -1, "decode refuses spaces");
}


static void
test_kid(void)
{
    char   kid[HB_KID_SIZE], kid2[HB_KID_SIZE];
    int    i, good;

    ok(hb_libtrust_kid(key, kid) == 0, "kid computed");
    is_int(strlen(kid), HB_KID_LEN, "kid is 59 characters");

    good = 1;
    for (i = 0; i < HB_KID_LEN; i++) {
        if (i % 5 == 4) {
            good &= kid[i] == ':';
        } else {
            good &= (kid[i] >= 'A' && kid[i] <= 'Z')
                    || (kid[i] >= '2' && kid[i] <= '7');
        }
    }
    ok(good, "kid is 12 groups of 4 base32 characters: %s", kid);

    hb_libtrust_kid(other, kid2);
    ok(strcmp(kid, kid2) != 0, "another key has another kid");
}


static void
test_round_trip(void)
{
    char    *tok, err[128], *hdr;
    json_t  *claims, *h;
    long     n;
    unsigned char  buf[512];

    tok = sign_claims(key, claims_new(now + 1800));

    claims = NULL;
    ok(hb_jwt_verify(key, tok, strlen(tok), ISS, AUD, now, LEEWAY, &claims,
                     err, sizeof(err)) == 0, "round trip verifies");
    is_str(json_string_value(json_object_get(claims, "sub")), "alice",
           "claims come back");
    json_decref(claims);

    hdr = strchr(tok, '.');
    n = hb_b64url_decode(buf, tok, (size_t) (hdr - tok));
    h = json_loadb((char *) buf, (size_t) n, 0, NULL);
    is_str(json_string_value(json_object_get(h, "alg")), "RS256",
           "header alg RS256");
    is_str(json_string_value(json_object_get(h, "typ")), "JWT",
           "header typ JWT");
    is_str(json_string_value(json_object_get(h, "kid")), "KID", "header kid");
    is_str(json_string_value(json_array_get(json_object_get(h, "x5c"), 0)),
           "Q0VSVA==", "header x5c");
    json_decref(h);

    ok(hb_jwt_verify(key, tok, strlen(tok), NULL, NULL, now, 0, NULL,
                     err, sizeof(err)) == 0, "iss and aud checks optional");

    /* a token ending early is not a valid token */
    ok(verify(tok, err, sizeof(err)) == 0, "verify helper");
    ok(hb_jwt_verify(key, tok, strlen(tok) - 1, ISS, AUD, now, LEEWAY, NULL,
                     err, sizeof(err)) != 0, "truncated signature refused");

    /* tampered claims */
    {
        char   *dot = strchr(tok, '.') + 1;
        char    c = *dot;

        *dot = (c == 'e') ? 'f' : 'e';
        ok(verify(tok, err, sizeof(err)) != 0, "tampered claims refused: %s",
           err);
        *dot = c;
    }

    free(tok);

    /* the audience may be an array */
    claims = claims_new(now + 60);
    json_object_set_new(claims, "aud", json_pack("[s,s]", "x", AUD));
    tok = sign_claims(key, claims);
    ok(verify(tok, err, sizeof(err)) == 0, "aud array containing ours");
    free(tok);
}


static void
test_refusals(void)
{
    char           *tok, err[128], *pem, big[HB_JWT_MAX + 16];
    const char     *claims_s;
    json_t         *c;
    BIO            *bio;
    long            pemlen;
    char           *t2;

    c = claims_new(now + 600);
    claims_s = json_dumps(c, JSON_COMPACT);
    json_decref(c);

    /* alg none: with and without a signature */
    tok = forge("{\"alg\":\"none\",\"typ\":\"JWT\"}", claims_s, NULL, NULL, 0,
                "");
    ok(verify(tok, err, sizeof(err)) != 0, "alg none, empty signature: %s",
       err);
    free(tok);
    tok = forge("{\"alg\":\"none\",\"typ\":\"JWT\"}", claims_s, NULL, NULL, 0,
                "AAAA");
    ok(verify(tok, err, sizeof(err)) != 0, "alg none with a signature: %s",
       err);
    free(tok);

    /* HS256 keyed with the RSA public key (algorithm confusion) */
    bio = BIO_new(BIO_s_mem());
    PEM_write_bio_PUBKEY(bio, key);
    pemlen = BIO_get_mem_data(bio, &pem);
    tok = forge("{\"alg\":\"HS256\",\"typ\":\"JWT\"}", claims_s, NULL,
                (unsigned char *) pem, (size_t) pemlen, NULL);
    ok(verify(tok, err, sizeof(err)) != 0, "HS256 with the public key: %s",
       err);
    free(tok);
    BIO_free(bio);

    /* RS256 signed by another key, with that key offered in the header */
    tok = forge("{\"alg\":\"RS256\",\"typ\":\"JWT\",\"jwk\":{\"kty\":\"RSA\"},"
                "\"x5c\":[\"AAAA\"]}", claims_s, other, NULL, 0, NULL);
    ok(verify(tok, err, sizeof(err)) != 0,
       "another key, jwk/x5c in the header ignored: %s", err);
    free(tok);

    tok = sign_claims(other, claims_new(now + 600));
    ok(verify(tok, err, sizeof(err)) != 0, "wrong key: %s", err);
    free(tok);

    /* the right key but PS256 / RS512 names */
    tok = forge("{\"alg\":\"RS512\"}", claims_s, key, NULL, 0, NULL);
    ok(verify(tok, err, sizeof(err)) != 0, "alg RS512 refused: %s", err);
    free(tok);
    tok = forge("{\"typ\":\"JWT\"}", claims_s, key, NULL, 0, NULL);
    ok(verify(tok, err, sizeof(err)) != 0, "no alg refused: %s", err);
    free(tok);
    tok = forge("{\"alg\":\"RS256\",\"crit\":[\"x\"],\"x\":1}", claims_s, key,
                NULL, 0, NULL);
    ok(verify(tok, err, sizeof(err)) != 0, "crit refused: %s", err);
    free(tok);

    /* a hand-made RS256 token with the right key passes */
    tok = forge("{\"alg\":\"RS256\"}", claims_s, key, NULL, 0, NULL);
    ok(verify(tok, err, sizeof(err)) == 0, "forged helper sanity");
    free(tok);

    /* duplicate claims */
    {
        char  dup[512];

        snprintf(dup, sizeof(dup), "{\"iss\":\"%s\",\"aud\":\"%s\","
                 "\"exp\":%lld,\"exp\":%lld}", ISS, AUD,
                 (long long) now - 1000, (long long) now + 1000);
        tok = forge("{\"alg\":\"RS256\"}", dup, key, NULL, 0, NULL);
        ok(verify(tok, err, sizeof(err)) != 0, "duplicate claim refused: %s",
           err);
        free(tok);
    }

    free((void *) claims_s);

    /* iss, aud */
    c = claims_new(now + 600);
    json_object_set_new(c, "iss", json_string("evil"));
    tok = sign_claims(key, c);
    ok(verify(tok, err, sizeof(err)) != 0, "wrong iss: %s", err);
    free(tok);

    c = claims_new(now + 600);
    json_object_set_new(c, "aud", json_string("other-registry"));
    tok = sign_claims(key, c);
    ok(verify(tok, err, sizeof(err)) != 0, "wrong aud: %s", err);
    free(tok);

    c = claims_new(now + 600);
    json_object_del(c, "aud");
    tok = sign_claims(key, c);
    ok(verify(tok, err, sizeof(err)) != 0, "missing aud: %s", err);
    free(tok);

    /* exp and nbf with leeway */
    tok = sign_claims(key, claims_new(now - LEEWAY - 1));
    ok(verify(tok, err, sizeof(err)) != 0, "expired: %s", err);
    free(tok);

    tok = sign_claims(key, claims_new(now - LEEWAY + 5));
    ok(verify(tok, err, sizeof(err)) == 0, "expired within leeway accepted");
    free(tok);

    c = claims_new(now + 600);
    json_object_del(c, "exp");
    tok = sign_claims(key, c);
    ok(verify(tok, err, sizeof(err)) != 0, "missing exp: %s", err);
    free(tok);

    c = claims_new(now + 600);
    json_object_set_new(c, "exp", json_string("tomorrow"));
    tok = sign_claims(key, c);
    ok(verify(tok, err, sizeof(err)) != 0, "string exp: %s", err);
    free(tok);

    c = claims_new(now + 600);
    json_object_set_new(c, "nbf", json_integer(now + LEEWAY + 30));
    tok = sign_claims(key, c);
    ok(verify(tok, err, sizeof(err)) != 0, "nbf in the future: %s", err);
    free(tok);

    c = claims_new(now + 600);
    json_object_set_new(c, "nbf", json_integer(now + LEEWAY - 30));
    tok = sign_claims(key, c);
    ok(verify(tok, err, sizeof(err)) == 0, "nbf within leeway accepted");
    free(tok);

    /* size and shape */
    memset(big, 'A', sizeof(big));
    big[10] = '.';
    big[20] = '.';
    ok(hb_jwt_verify(key, big, HB_JWT_MAX + 1, ISS, AUD, now, LEEWAY, NULL,
                     err, sizeof(err)) != 0
       && strstr(err, "too long") != NULL, "oversized: %s", err);

    tok = sign_claims(key, claims_new(now + 600));

    t2 = strrchr(tok, '.');
    ok(hb_jwt_verify(key, tok, (size_t) (t2 - tok), ISS, AUD, now, LEEWAY,
                     NULL, err, sizeof(err)) != 0, "two parts: %s", err);

    {
        char  four[HB_JWT_MAX];

        snprintf(four, sizeof(four), "%s.AAAA", tok);
        ok(verify(four, err, sizeof(err)) != 0, "four parts: %s", err);

        snprintf(four, sizeof(four), "%s", tok);
        t2 = strrchr(four, '.');
        t2[1] = '+';
        ok(verify(four, err, sizeof(err)) != 0, "bad base64 signature: %s",
           err);

        snprintf(four, sizeof(four), "%s", tok);
        four[3] = '=';
        ok(verify(four, err, sizeof(err)) != 0, "bad base64 header: %s", err);

        snprintf(four, sizeof(four), "%s", tok);
        t2 = strchr(four, '.');
        t2[2] = '!';
        ok(verify(four, err, sizeof(err)) != 0, "bad base64 claims: %s", err);

        /* claims that are not base64url, correctly signed */
        {
            char           *raw;
            unsigned char   sig[1024];
            size_t          siglen, n;
            EVP_MD_CTX     *ctx;

            raw = four;
            n = (size_t) snprintf(raw, sizeof(four), "%.*s.e30=",
                                  (int) (strchr(tok, '.') - tok), tok);
            siglen = sizeof(sig);
            ctx = EVP_MD_CTX_new();
            EVP_DigestSignInit(ctx, NULL, EVP_sha256(), NULL, key);
            EVP_DigestSign(ctx, sig, &siglen, (unsigned char *) raw, n);
            EVP_MD_CTX_free(ctx);
            raw[n++] = '.';
            hb_b64url_encode(raw + n, sig, siglen);
            ok(verify(raw, err, sizeof(err)) != 0
               && strstr(err, "claims") != NULL,
               "signed claims with padding refused: %s", err);
        }

        snprintf(four, sizeof(four), ".%s", strchr(tok, '.') + 1);
        ok(verify(four, err, sizeof(err)) != 0, "empty header: %s", err);
    }

    ok(hb_jwt_verify(key, "", 0, ISS, AUD, now, LEEWAY, NULL, err,
                     sizeof(err)) != 0, "empty token");

    free(tok);
}


/* ES256: the raw r || s form, both ways, and what a verifier refuses */
static void
test_es256(void)
{
    EVP_PKEY       *ec, *ec2, *p384;
    char           *tok, err[128], *sig, *t2, forged[HB_JWT_MAX];
    const char     *claims_s;
    unsigned char   raw[128], der[128];
    long            n;
    size_t          derlen;
    json_t         *c, *h;
    int             i, good;

    ec = EVP_EC_gen(SN_X9_62_prime256v1);
    ec2 = EVP_EC_gen(SN_X9_62_prime256v1);
    p384 = EVP_EC_gen(SN_secp384r1);
    if (ec == NULL || ec2 == NULL || p384 == NULL) {
        diag("EC key generation failed");
        exit(255);
    }

    is_str(hb_jwt_key_alg(key), "RS256", "an RSA key signs RS256");
    is_str(hb_jwt_key_alg(ec), "ES256", "a P-256 key signs ES256");
    ok(hb_jwt_key_alg(p384) == NULL, "a P-384 key is not used");
    c = claims_new(now + 60);
    ok(hb_jwt_sign(p384, NULL, NULL, c, &tok) != 0,
       "signing with P-384 refused");
    json_decref(c);

    /* many signatures: r or s with leading zero bytes come up too */
    good = 1;
    tok = NULL;
    for (i = 0; i < 200; i++) {
        free(tok);
        tok = sign_claims(ec, claims_new(now + 600));
        sig = strrchr(tok, '.') + 1;
        n = hb_b64url_decode(raw, sig, strlen(sig));
        if (n != 64
            || hb_jwt_verify(ec, tok, strlen(tok), ISS, AUD, now, LEEWAY,
                             NULL, err, sizeof(err)) != 0)
        {
            good = 0;
        }
    }
    ok(good, "200 ES256 tokens: 64-byte signatures that verify");

    t2 = strchr(tok, '.');
    n = hb_b64url_decode(raw, tok, (size_t) (t2 - tok));
    h = json_loadb((char *) raw, (size_t) n, 0, NULL);
    is_str(json_string_value(json_object_get(h, "alg")), "ES256",
           "header alg ES256");
    json_decref(h);

    ok(hb_jwt_verify(ec2, tok, strlen(tok), ISS, AUD, now, LEEWAY, NULL,
                     err, sizeof(err)) != 0, "another P-256 key: %s", err);
    ok(hb_jwt_verify(key, tok, strlen(tok), ISS, AUD, now, LEEWAY, NULL,
                     err, sizeof(err)) != 0, "the RSA key refuses it: %s",
       err);

    /* an RS256 token against the EC key: the key decides the algorithm */
    free(tok);
    tok = sign_claims(key, claims_new(now + 600));
    ok(hb_jwt_verify(ec, tok, strlen(tok), ISS, AUD, now, LEEWAY, NULL,
                     err, sizeof(err)) != 0, "RS256 against a P-256 key: %s",
       err);
    free(tok);

    c = claims_new(now + 600);
    claims_s = json_dumps(c, JSON_COMPACT);
    json_decref(c);

    /* OpenSSL's DER form is not the JWS form */
    tok = forge("{\"alg\":\"ES256\"}", claims_s, ec, NULL, 0, NULL);
    ok(hb_jwt_verify(ec, tok, strlen(tok), ISS, AUD, now, LEEWAY, NULL,
                     err, sizeof(err)) != 0, "a DER signature refused: %s",
       err);

    /* r || s of that DER signature is right: convert it here */
    sig = strrchr(tok, '.') + 1;
    n = hb_b64url_decode(der, sig, strlen(sig));
    derlen = (size_t) n;
    ok(n > 0 && hb_es256_raw(der, &derlen) == 0 && derlen == 64,
       "DER to r || s");
    snprintf(forged, sizeof(forged), "%.*s", (int) (sig - tok), tok);
    hb_b64url_encode(forged + strlen(forged), der, 64);
    ok(hb_jwt_verify(ec, forged, strlen(forged), ISS, AUD, now, LEEWAY,
                     NULL, err, sizeof(err)) == 0,
       "the same signature as r || s verifies");

    /* r = s = 0, and all ones: refused, no crash */
    memset(raw, 0, 64);
    snprintf(forged, sizeof(forged), "%.*s", (int) (sig - tok), tok);
    hb_b64url_encode(forged + strlen(forged), raw, 64);
    ok(hb_jwt_verify(ec, forged, strlen(forged), ISS, AUD, now, LEEWAY,
                     NULL, err, sizeof(err)) != 0, "zero r and s: %s", err);
    memset(raw, 0xff, 64);
    snprintf(forged, sizeof(forged), "%.*s", (int) (sig - tok), tok);
    hb_b64url_encode(forged + strlen(forged), raw, 64);
    ok(hb_jwt_verify(ec, forged, strlen(forged), ISS, AUD, now, LEEWAY,
                     NULL, err, sizeof(err)) != 0, "r, s over the order: %s",
       err);

    /* 63 and 65 bytes */
    snprintf(forged, sizeof(forged), "%.*s", (int) (sig - tok), tok);
    hb_b64url_encode(forged + strlen(forged), der, 63);
    ok(hb_jwt_verify(ec, forged, strlen(forged), ISS, AUD, now, LEEWAY,
                     NULL, err, sizeof(err)) != 0, "63 bytes: %s", err);
    der[64] = 0;
    snprintf(forged, sizeof(forged), "%.*s", (int) (sig - tok), tok);
    hb_b64url_encode(forged + strlen(forged), der, 65);
    ok(hb_jwt_verify(ec, forged, strlen(forged), ISS, AUD, now, LEEWAY,
                     NULL, err, sizeof(err)) != 0, "65 bytes: %s", err);
    free(tok);

    /* HS256 keyed with the EC public key's DER */
    n = i2d_PUBKEY(ec, NULL);
    {
        unsigned char  *pub = malloc((size_t) n), *p = pub;

        i2d_PUBKEY(ec, &p);
        tok = forge("{\"alg\":\"HS256\"}", claims_s, NULL, pub, (size_t) n,
                    NULL);
        ok(hb_jwt_verify(ec, tok, strlen(tok), ISS, AUD, now, LEEWAY, NULL,
                         err, sizeof(err)) != 0, "HS256 with the EC key: %s",
           err);
        free(tok);
        free(pub);
    }

    free((void *) claims_s);
    EVP_PKEY_free(ec);
    EVP_PKEY_free(ec2);
    EVP_PKEY_free(p384);
}


int
main(void)
{
    now = time(NULL);

    key = EVP_RSA_gen(2048);
    other = EVP_RSA_gen(2048);
    if (key == NULL || other == NULL) {
        diag("RSA key generation failed");
        return 255;
    }

    test_b64url();
    test_kid();
    test_round_trip();
    test_refusals();
    test_es256();

    EVP_PKEY_free(key);
    EVP_PKEY_free(other);

    return done_testing();
}
