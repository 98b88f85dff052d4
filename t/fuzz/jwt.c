/*
 * ngx-harbor: libFuzzer target for the JWT code of harbor_jwt.c, which the
 * module runs on every bearer token a client sends.
 *
 * The first byte picks what the rest is:
 *   0  a token, verified as it is against a key made at start: nothing a
 *      fuzzer writes can carry that key's signature, so it must be refused
 *   1  "header\nclaims": both encoded and signed with that key, then
 *      verified: the header and claims parsers and the claim checks see
 *      any bytes, and a token that passes has the claims it must have
 *   2  base64url text: decoded into a buffer of exactly the size the
 *      header promises, and encoded back
 */

#include <math.h>
#include <time.h>

#include <openssl/evp.h>
#include <openssl/rsa.h>

#include "harbor_jwt.h"
#include "fuzz.h"


#define ISS     "harbor-token-issuer"
#define AUD     "harbor-registry"
#define NOW     ((time_t) 1800000000)
#define LEEWAY  60

static EVP_PKEY  *key;


int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void) argc;
    (void) argv;

    /* small and fast: the strength of the key is not what is tested */
    key = EVP_RSA_gen(1024);
    if (key == NULL) {
        fprintf(stderr, "EVP_RSA_gen failed\n");
        abort();
    }

    return 0;
}


static void
verify_as_is(const uint8_t *data, size_t size)
{
    char     *tok, err[128];
    json_t   *claims;
    int       rc;

    tok = malloc(size ? size : 1);
    if (tok == NULL) {
        abort();
    }
    memcpy(tok, data, size);

    claims = NULL;
    err[0] = '\0';
    rc = hb_jwt_verify(key, tok, size, ISS, AUD, NOW, LEEWAY, &claims, err,
                       sizeof(err));

    fuzz_check(rc == -1 && claims == NULL,
               "no token verifies without the key's signature");
    fuzz_check(err[0] != '\0', "a refusal says why");

    free(tok);
}


static void
sign_and_verify(const uint8_t *data, size_t size)
{
    const uint8_t  *nl;
    size_t          hl, cl, n, siglen;
    unsigned char   sig[512];
    char           *tok, err[128];
    json_t         *claims, *v;
    EVP_MD_CTX     *ctx;
    int             rc;

    nl = memchr(data, '\n', size);
    if (nl == NULL) {
        return;
    }

    hl = (size_t) (nl - data);
    cl = size - hl - 1;

    n = (hl + 2) / 3 * 4 + 1 + (cl + 2) / 3 * 4 + 1 + sizeof(sig) / 3 * 4 + 8;
    tok = malloc(n);
    if (tok == NULL) {
        abort();
    }

    n = hb_b64url_encode(tok, data, hl);
    tok[n++] = '.';
    n += hb_b64url_encode(tok + n, nl + 1, cl);

    siglen = sizeof(sig);
    ctx = EVP_MD_CTX_new();
    if (ctx == NULL
        || EVP_DigestSignInit(ctx, NULL, EVP_sha256(), NULL, key) != 1
        || EVP_DigestSign(ctx, sig, &siglen, (unsigned char *) tok, n) != 1)
    {
        abort();
    }
    EVP_MD_CTX_free(ctx);

    tok[n++] = '.';
    n += hb_b64url_encode(tok + n, sig, siglen);

    claims = NULL;
    err[0] = '\0';
    rc = hb_jwt_verify(key, tok, n, ISS, AUD, NOW, LEEWAY, &claims, err,
                       sizeof(err));

    if (rc == 0) {
        fuzz_check(n <= HB_JWT_MAX, "a token that passes is not too long");
        fuzz_check(json_is_object(claims), "the claims are an object");

        v = json_object_get(claims, "iss");
        fuzz_check(json_is_string(v) && strcmp(json_string_value(v), ISS) == 0,
                   "a token that passes has our issuer");

        v = json_object_get(claims, "exp");
        fuzz_check(json_is_number(v) && isfinite(json_number_value(v))
                   && json_number_value(v) + LEEWAY >= (double) NOW,
                   "a token that passes has not expired");

        v = json_object_get(claims, "nbf");
        fuzz_check(v == NULL
                   || (json_is_number(v)
                       && json_number_value(v) <= (double) NOW + LEEWAY),
                   "a token that passes is valid now");

    } else {
        fuzz_check(claims == NULL, "a refused token gives no claims");
        fuzz_check(err[0] != '\0', "a refusal says why");
    }

    json_decref(claims);
    free(tok);
}


static void
base64url(const uint8_t *data, size_t size)
{
    unsigned char  *out;
    char           *in, *back;
    long            n;

    in = malloc(size ? size : 1);
    out = malloc(3 * size / 4 + 1);
    if (in == NULL || out == NULL) {
        abort();
    }
    memcpy(in, data, size);

    n = hb_b64url_decode(out, in, size);

    if (n >= 0) {
        fuzz_check((size_t) n <= 3 * size / 4 + 1,
                   "decode writes what the header promises");

        /* strict decoding: one text per byte string, so it round-trips */
        back = malloc((size_t) n / 3 * 4 + 5);
        if (back == NULL) {
            abort();
        }

        fuzz_check(hb_b64url_encode(back, out, (size_t) n) == size
                   && memcmp(back, data, size) == 0,
                   "decode and encode give back the text");
        free(back);
    }

    free(out);
    free(in);
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0) {
        return 0;
    }

    switch (data[0] % 3) {

    case 0:
        verify_as_is(data + 1, size - 1);
        break;

    case 1:
        sign_and_verify(data + 1, size - 1);
        break;

    default:
        base64url(data + 1, size - 1);
        break;
    }

    return 0;
}
