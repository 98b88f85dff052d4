/*
 * harbor_sigv4.c against the worked examples of AWS's SigV4 documentation
 * (S3's "Signature Calculations" examples and the general signing
 * example), and its refusals.  t/s3-sigv4.t checks it against a real
 * Ceph RADOS Gateway.
 */

#include <string.h>

#include "tap.h"
#include "harbor_sigv4.h"

#define AK    "AKIAIOSFODNN7EXAMPLE"
#define SK    "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
#define DATE  "20130524T000000Z"
#define HOST  "examplebucket.s3.amazonaws.com"

static const hb_sigv4_key_t  s3key = { AK, SK, "us-east-1", "s3" };

static const char *
sig_of(const char *auth)
{
    const char  *p = auth ? strstr(auth, "Signature=") : NULL;

    return p ? p + 10 : "(none)";
}


static void
test_s3_examples(void)
{
    char  out[1024];
    int   rc;

    /* GET an object with a range */
    {
        hb_sigv4_pair_t  h[] = {
            { "Host", HOST }, { "Range", "bytes=0-9" },
            { "x-amz-content-sha256", HB_SIGV4_EMPTY_SHA256 },
            { "x-amz-date", DATE },
        };
        hb_sigv4_req_t   r = { "GET", "/test.txt", NULL, 0, h, 4,
                               HB_SIGV4_EMPTY_SHA256, DATE };

        rc = hb_sigv4_authorization(&s3key, &r, out, sizeof(out));
        is_int(rc, 0, "GET object: signed");
        is_str(out, "AWS4-HMAC-SHA256 Credential=" AK
               "/20130524/us-east-1/s3/aws4_request,SignedHeaders=host;"
               "range;x-amz-content-sha256;x-amz-date,Signature="
               "f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c603"
               "6bdb41", "GET object: the documented Authorization");
    }

    /* PUT an object: a '$' in the key, a Date header, a storage class */
    {
        char             body[] = "Welcome to Amazon S3.";
        char             hash[HB_SIGV4_HEX_LEN + 1];
        hb_sigv4_pair_t  h[] = {
            { "Date", "Fri, 24 May 2013 00:00:00 GMT" }, { "Host", HOST },
            { "x-amz-date", DATE },
            { "x-amz-storage-class", "REDUCED_REDUNDANCY" },
            { "x-amz-content-sha256", NULL },
        };
        hb_sigv4_req_t   r = { "PUT", "/test$file.text", NULL, 0, h, 5,
                               NULL, DATE };

        hb_sigv4_sha256_hex(body, strlen(body), hash);
        is_str(hash, "44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8"
               "b803f8b072", "PUT object: the payload hash");
        h[4].value = hash;
        r.payload = hash;

        rc = hb_sigv4_authorization(&s3key, &r, out, sizeof(out));
        is_int(rc, 0, "PUT object: signed");
        is_str(sig_of(out), "98ad721746da40c64f1a55b78f14c238d841ea1380cd77a"
               "1b5971af0ece108bd", "PUT object: the documented signature");
        ok(strstr(out, "SignedHeaders=date;host;x-amz-content-sha256;"
                  "x-amz-date;x-amz-storage-class,") != NULL,
           "PUT object: signed headers sorted and lowercased");
    }

    /* a sub-resource without a value: GET /?lifecycle */
    {
        hb_sigv4_pair_t  q[] = { { "lifecycle", "" } };
        hb_sigv4_pair_t  h[] = {
            { "x-amz-date", DATE }, { "host", HOST },
            { "x-amz-content-sha256", HB_SIGV4_EMPTY_SHA256 },
        };
        hb_sigv4_req_t   r = { "GET", "/", q, 1, h, 3,
                               HB_SIGV4_EMPTY_SHA256, DATE };

        rc = hb_sigv4_authorization(&s3key, &r, out, sizeof(out));
        is_int(rc, 0, "GET lifecycle: signed");
        is_str(sig_of(out), "fea454ca298b7da1c68078a5d1bdbfbbe0d65c699e0f91a"
               "c7a200a0136783543", "GET lifecycle: the documented signature");
    }

    /* a listing: parameters given out of order */
    {
        hb_sigv4_pair_t  q[] = { { "prefix", "J" }, { "max-keys", "2" } };
        hb_sigv4_pair_t  h[] = {
            { "host", HOST },
            { "x-amz-content-sha256", HB_SIGV4_EMPTY_SHA256 },
            { "x-amz-date", DATE },
        };
        hb_sigv4_req_t   r = { "GET", "/", q, 2, h, 3,
                               HB_SIGV4_EMPTY_SHA256, DATE };

        rc = hb_sigv4_authorization(&s3key, &r, out, sizeof(out));
        is_int(rc, 0, "list: signed");
        is_str(sig_of(out), "34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db66"
               "70ed5711ef69dc6f7", "list: the documented signature");
    }

    /* a presigned GET, a day */
    {
        hb_sigv4_pair_t  h[] = { { "Host", HOST } };
        hb_sigv4_req_t   r = { "GET", "/test.txt", NULL, 0, h, 1,
                               HB_SIGV4_UNSIGNED, DATE };

        rc = hb_sigv4_presign(&s3key, &r, 86400, out, sizeof(out));
        is_int(rc, 0, "presign: signed");
        is_str(out, "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential="
               AK "%2F20130524%2Fus-east-1%2Fs3%2Faws4_request&X-Amz-Date="
               DATE "&X-Amz-Expires=86400&X-Amz-SignedHeaders=host"
               "&X-Amz-Signature=aeeed9bbccd4d02ee5c0109b86d86835f995330da4"
               "c265957d157751f604d404", "presign: the documented URL");

        r.nheaders = 0;
        ok(hb_sigv4_presign(&s3key, &r, 86400, out, sizeof(out)) == -1,
           "presign: host is required");
        r.nheaders = 1;
        ok(hb_sigv4_presign(&s3key, &r, 604801, out, sizeof(out)) == -1,
           "presign: at most 7 days");
    }
}


/* the general example: IAM, another service, spaces in a header value */
static void
test_general_example(void)
{
    static const hb_sigv4_key_t  k = {
        AK, "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", "us-east-1", "iam"
    };
    hb_sigv4_pair_t  q[] = { { "Version", "2010-05-08" },
                             { "Action", "ListUsers" } };
    hb_sigv4_pair_t  h[] = {
        { "Content-Type", "  application/x-www-form-urlencoded;  "
                          "charset=utf-8 " },
        { "Host", "iam.amazonaws.com" },
        { "X-Amz-Date", "20150830T123600Z" },
    };
    hb_sigv4_req_t   r = { "GET", "/", q, 2, h, 3, HB_SIGV4_EMPTY_SHA256,
                           "20150830T123600Z" };
    char             out[1024];

    is_int(hb_sigv4_authorization(&k, &r, out, sizeof(out)), 0,
           "IAM example: signed");
    is_str(sig_of(out), "5d672d79c15b13162d9279b0855cfba6789a8edb4c82c400e0"
           "6b5924a6f2b5d7", "IAM example: the documented signature "
           "(header value trimmed, inner spaces made one)");
}


static void
test_encode(void)
{
    char  out[64];

    is_int(hb_sigv4_encode("a b+c/d~e:f", 11, 0, out, sizeof(out)), 0,
           "encode");
    is_str(out, "a%20b%2Bc/d~e%3Af", "encode: slash kept, others %%XX");
    hb_sigv4_encode("a/b\xc3\xa9", 5, 1, out, sizeof(out));
    is_str(out, "a%2Fb%C3%A9", "encode: slash and UTF-8 encoded");
    ok(hb_sigv4_encode("aaaa", 4, 0, out, 4) == -1, "encode: too small");
    ok(hb_sigv4_encode("a ", 2, 0, out, 4) == -1, "encode: %%XX too small");
}


static void
test_refusals(void)
{
    hb_sigv4_pair_t  h[] = { { "host", "h" }, { "x-amz-date", DATE } };
    hb_sigv4_pair_t  bad[] = { { "host", "h\r\nx: y" } };
    hb_sigv4_pair_t  badn[] = { { "ho st", "h" } };
    hb_sigv4_req_t   r = { "GET", "/x", NULL, 0, h, 2,
                           HB_SIGV4_EMPTY_SHA256, DATE };
    char             out[1024], small[40];
    hb_sigv4_key_t   k = s3key;

    ok(hb_sigv4_authorization(&s3key, &r, out, sizeof(out)) == 0, "good");
    ok(hb_sigv4_authorization(&s3key, &r, small, sizeof(small)) == -1,
       "output too small");

    r.date = "20130524T000000";
    ok(hb_sigv4_authorization(&s3key, &r, out, sizeof(out)) == -1,
       "a short date");
    r.date = "2013052X T00000Z";
    ok(hb_sigv4_authorization(&s3key, &r, out, sizeof(out)) == -1,
       "a bad date");
    r.date = DATE;

    r.path = "x";
    ok(hb_sigv4_authorization(&s3key, &r, out, sizeof(out)) == -1,
       "a path not from /");
    r.path = "/x";

    r.headers = bad;
    r.nheaders = 1;
    ok(hb_sigv4_authorization(&s3key, &r, out, sizeof(out)) == -1,
       "a header value with CR LF");
    r.headers = badn;
    ok(hb_sigv4_authorization(&s3key, &r, out, sizeof(out)) == -1,
       "a header name with a space");
    r.nheaders = 0;
    ok(hb_sigv4_authorization(&s3key, &r, out, sizeof(out)) == -1,
       "no header");
    r.headers = h;
    r.nheaders = 2;

    k.region = "us/east";
    ok(hb_sigv4_authorization(&k, &r, out, sizeof(out)) == -1,
       "a region with a slash");

    {
        char            date[HB_SIGV4_DATE_LEN + 1];

        is_int(hb_sigv4_date(1369353600, date), 0, "date");
        is_str(date, DATE, "date: UTC, basic format");
    }
}


int
main(void)
{
    test_s3_examples();
    test_general_example();
    test_encode();
    test_refusals();

    return done_testing();
}
