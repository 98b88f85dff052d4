/*
 * ngx-harbor: JSON Web Tokens for the registry token service.
 *
 * Shared by authd (signs) and the nginx module (verifies).  Plain C: OpenSSL
 * EVP and jansson, no nginx types.  The algorithm always follows from the
 * key (RSA: RS256, EC P-256: ES256); the token's header never chooses it,
 * and key material in the token (jwk, x5c, jku) is never used.
 */

#ifndef HARBOR_JWT_H
#define HARBOR_JWT_H

#include <stddef.h>
#include <time.h>

#include <jansson.h>
#include <openssl/evp.h>


#define HB_JWT_MAX        8192     /* whole token, checked before decoding */

/* libtrust key id: 12 groups of 4 base32 characters joined by ':' */
#define HB_KID_LEN        59
#define HB_KID_SIZE       (HB_KID_LEN + 1)


/*
 * Sign claims with key as a JWS compact serialization.  The header is
 * {"alg":ALG,"typ":"JWT","kid":kid,"x5c":[x5c_b64]}, ALG RS256 or ES256
 * by the key; kid and x5c_b64 (standard base64 of the DER certificate) may
 * be NULL to leave them out.
 * Returns 0 and a malloc()ed, NUL-terminated token in *out, or -1.
 */
int hb_jwt_sign(EVP_PKEY *key, const char *kid, const char *x5c_b64,
    json_t *claims, char **out);

/*
 * Verify a token against pub, and its iss, aud, exp (required) and nbf
 * (optional) claims, with leeway seconds of clock skew.  iss and aud may
 * be NULL to skip that check.  Returns 0 and the claims in *claims_out
 * (a new reference, may be NULL if the caller does not want them), or -1
 * with a short reason in err (safe to show: it never quotes the token).
 */
int hb_jwt_verify(EVP_PKEY *pub, const char *token, size_t len,
    const char *iss, const char *aud, time_t now, int leeway,
    json_t **claims_out, char *err, size_t errlen);

/* The algorithm of tokens key signs or verifies: "RS256", "ES256", or NULL
 * for a key that is neither RSA nor EC P-256. */
const char *hb_jwt_key_alg(EVP_PKEY *key);

/* The libtrust key id of a public key (distribution 2.x matches on it). */
int hb_libtrust_kid(EVP_PKEY *key, char out[HB_KID_SIZE]);

/*
 * base64url without padding.  Encode writes 4 * ceil(n / 3) bytes at most
 * plus a NUL and returns the length.  Decode is strict: no padding, only
 * the url alphabet, and unused trailing bits must be zero; it returns the
 * decoded length or -1.  out must hold 3 * len / 4 + 1 bytes.
 */
size_t hb_b64url_encode(char *out, const unsigned char *in, size_t n);
long hb_b64url_decode(unsigned char *out, const char *in, size_t len);

#endif /* HARBOR_JWT_H */
