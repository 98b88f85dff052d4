/*
 * ngx-harbor: AWS Signature Version 4 for S3-compatible stores.
 *
 * Pure C (OpenSSL for SHA-256 and HMAC), no allocation, no nginx types:
 * the module's S3 backend, authd (the collector and migration on S3) and
 * the tests use this one implementation.  Every function returns 0 or -1
 * (an output buffer too small, a field too long or malformed).
 */

#ifndef HARBOR_SIGV4_H
#define HARBOR_SIGV4_H

#include <stddef.h>
#include <time.h>

#define HB_SIGV4_DATE_LEN      16      /* "20130524T000000Z" */
#define HB_SIGV4_HEX_LEN       64      /* a SHA-256 in hex */
#define HB_SIGV4_PARAMS_MAX    32
#define HB_SIGV4_HEADERS_MAX   32

/* the payload hash of a body that is not signed (streamed uploads) */
#define HB_SIGV4_UNSIGNED      "UNSIGNED-PAYLOAD"

/* SHA-256 of the empty string: GET, HEAD, DELETE */
#define HB_SIGV4_EMPTY_SHA256                                               \
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

typedef struct {
    const char  *access_key;
    const char  *secret_key;
    const char  *region;            /* "us-east-1" */
    const char  *service;           /* "s3" */
} hb_sigv4_key_t;

/* a query parameter or a header, raw (not encoded); value may be "" */
typedef struct {
    const char  *name;
    const char  *value;
} hb_sigv4_pair_t;

typedef struct {
    const char             *method;     /* "GET" */
    const char             *path;       /* raw: "/bucket/a b/c", encoded here */
    const hb_sigv4_pair_t  *query;      /* raw, any order */
    size_t                  nquery;
    const hb_sigv4_pair_t  *headers;    /* host at least; names any case */
    size_t                  nheaders;
    const char             *payload;    /* hex SHA-256 or HB_SIGV4_UNSIGNED */
    const char             *date;       /* x-amz-date, "YYYYMMDDTHHMMSSZ" */
} hb_sigv4_req_t;

/* "YYYYMMDDTHHMMSSZ" of t, UTC; out has HB_SIGV4_DATE_LEN + 1 bytes */
int hb_sigv4_date(time_t t, char *out);

/*
 * S3's URI encoding: unreserved bytes (A-Z a-z 0-9 - . _ ~) as they are,
 * '/' as it is unless encode_slash, every other byte %XX (upper hex).
 */
int hb_sigv4_encode(const char *in, size_t len, int encode_slash,
    char *out, size_t outlen);

/* hex SHA-256 of data; out has HB_SIGV4_HEX_LEN + 1 bytes */
void hb_sigv4_sha256_hex(const void *data, size_t len, char *out);

/*
 * The Authorization header's value for req: "AWS4-HMAC-SHA256
 * Credential=.../aws4_request,SignedHeaders=...,Signature=...".  Every
 * header of req is signed; the caller sends exactly those, plus
 * x-amz-date and x-amz-content-sha256, which it must list in headers.
 */
int hb_sigv4_authorization(const hb_sigv4_key_t *key,
    const hb_sigv4_req_t *req, char *out, size_t outlen);

/*
 * A presigned URL's query string (without '?'): req->query, then the
 * X-Amz-* parameters with host the only signed header (req->headers must
 * hold exactly host), UNSIGNED-PAYLOAD, valid for expires seconds.
 */
int hb_sigv4_presign(const hb_sigv4_key_t *key, const hb_sigv4_req_t *req,
    long expires, char *out, size_t outlen);

#endif
