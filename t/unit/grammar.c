/*
 * ngx-harbor: unit tests of the plain-C grammar in harbor_grammar.c:
 * repository names, tags, digests, upload ids, Content-Range, counts,
 * media types and hb_hex.
 *
 * Every input is handed over in a heap block of exactly its length, so a
 * sanitizer or valgrind reports any read past the length given.
 */

#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "harbor_grammar.h"
#include "tap.h"


#define S(lit)  lit, sizeof(lit) - 1     /* a literal and its length */

#define HEX64   "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
#define HEX128  "cf83e1357eefb8bdf1542850d66d8007d620e4050b5715dc83f4a921d36ce9ce" \
                "47d0d13c5d85f2b0ff8318d2877eec2f63b931bd47417a81a538327af927da3e"
#define UUID    "123e4567-e89b-42d3-a456-426614174000"


/* A readable form of an input for a test name (a few rotating buffers). */
static const char *
q(const char *s, size_t len)
{
    static char  bufs[8][200];
    static int   i;
    char        *b;

    b = bufs[i++ & 7];
    tap_quote(b, sizeof(bufs[0]), s, len);
    return b;
}


/* Call f on an exact heap copy. */

static int
name_valid(const char *s, size_t len)
{
    int             r;
    unsigned char  *p = tap_exact(s, len);

    r = hb_name_valid(p, len);
    free(p);
    return r;
}

static int
tag_valid(const char *s, size_t len)
{
    int             r;
    unsigned char  *p = tap_exact(s, len);

    r = hb_tag_valid(p, len);
    free(p);
    return r;
}

static int
digest_parse(const char *s, size_t len)
{
    int             r;
    unsigned char  *p = tap_exact(s, len);

    r = hb_digest_parse(p, len);
    free(p);
    return r;
}

static int
uuid_valid(const char *s, size_t len)
{
    int             r;
    unsigned char  *p = tap_exact(s, len);

    r = hb_uuid_valid(p, len);
    free(p);
    return r;
}

static int
range_parse(const char *s, size_t len, off_t *start, off_t *end)
{
    int             r;
    unsigned char  *p = tap_exact(s, len);

    r = hb_content_range_parse(p, len, start, end);
    free(p);
    return r;
}

static long
count_parse(const char *s, size_t len, long max)
{
    long            r;
    unsigned char  *p = tap_exact(s, len);

    r = hb_count_parse(p, len, max);
    free(p);
    return r;
}

static int
mt_valid(const char *s, size_t len)
{
    int             r;
    unsigned char  *p = tap_exact(s, len);

    r = hb_media_type_valid(p, len);
    free(p);
    return r;
}

static size_t
mt_len(const char *s, size_t len)
{
    size_t          r;
    unsigned char  *p = tap_exact(s, len);

    r = hb_media_type_len(p, len);
    free(p);
    return r;
}

static int
mf_type(const char *s, size_t len)
{
    int             r;
    unsigned char  *p = tap_exact(s, len);

    r = hb_manifest_type(p, len);
    free(p);
    return r;
}


#define NAME_OK(lit)   ok(name_valid(S(lit)) == 1, "name ok:  %s", q(S(lit)))
#define NAME_BAD(lit)  ok(name_valid(S(lit)) == 0, "name bad: %s", q(S(lit)))

static void
test_names(void)
{
    char    buf[600];
    size_t  n;

    note("repository names");

    NAME_OK("a");
    NAME_OK("0");
    NAME_OK("library/ubuntu");
    NAME_OK("a.b");
    NAME_OK("a_b");
    NAME_OK("a__b");
    NAME_OK("a-b");
    NAME_OK("a--b");
    NAME_OK("a---------b");
    NAME_OK("a1b2c3");
    NAME_OK("a.b-c_d__e--f/g");
    NAME_OK("foo/bar/baz/qux");
    NAME_OK("9/8/7");
    NAME_OK("my-org/sub.team/app_v2");
    NAME_OK("a.b.c.d");
    NAME_OK("a_b_c__d");

    /* empty, dots, traversal */
    ok(name_valid("", 0) == 0, "name bad: '' (length 0)");
    NAME_BAD(".");
    NAME_BAD("..");
    NAME_BAD("...");
    NAME_BAD("a/../b");
    NAME_BAD("../a");
    NAME_BAD("a/..");
    NAME_BAD("./a");
    NAME_BAD("a/./b");
    NAME_BAD("a/.");
    NAME_BAD("a..b");

    /* leading and trailing separators */
    NAME_BAD(".a");
    NAME_BAD("a.");
    NAME_BAD("-a");
    NAME_BAD("a-");
    NAME_BAD("a--");
    NAME_BAD("_a");
    NAME_BAD("a_");
    NAME_BAD("a__");
    NAME_BAD("a/-b");
    NAME_BAD("a/_b");
    NAME_BAD("a/.b");
    NAME_BAD("a-/b");
    NAME_BAD("a_/b");
    NAME_BAD("a./b");

    /* separator combinations */
    NAME_BAD("a___b");
    NAME_BAD("a____b");
    NAME_BAD("a.-b");
    NAME_BAD("a-.b");
    NAME_BAD("a._b");
    NAME_BAD("a_.b");
    NAME_BAD("a_-b");
    NAME_BAD("a-_b");
    NAME_BAD("a.__b");

    /* slashes */
    NAME_BAD("/");
    NAME_BAD("/a");
    NAME_BAD("a/");
    NAME_BAD("a//b");
    NAME_BAD("a/b/");
    NAME_BAD("a/b//c");
    NAME_BAD("//");

    /* other characters */
    NAME_BAD("A");
    NAME_BAD("Library/ubuntu");
    NAME_BAD("library/Ubuntu");
    NAME_BAD("abC");
    NAME_BAD("a b");
    NAME_BAD(" a");
    NAME_BAD("a ");
    NAME_BAD("a\tb");
    NAME_BAD("a\nb");
    NAME_BAD("a\n");
    NAME_BAD("a\r");
    NAME_BAD("a:b");
    NAME_BAD("a:5000/b");
    NAME_BAD("a@b");
    NAME_BAD("a%2fb");
    NAME_BAD("a%2e%2e");
    NAME_BAD("a\\b");
    NAME_BAD("a\\..\\b");
    NAME_BAD("a+b");
    NAME_BAD("a~b");
    NAME_BAD("a*");
    NAME_BAD("a?b");
    NAME_BAD("a#b");
    NAME_BAD("a;b");
    NAME_BAD("\xc3\xa9");
    NAME_BAD("caf\xc3\xa9");
    NAME_BAD("a\xff");
    NAME_BAD("a\x7f");

    /* embedded NUL, given by the length */
    ok(name_valid("a\0b", 3) == 0, "name bad: 'a\\0b' (NUL inside)");
    ok(name_valid("ab\0", 3) == 0, "name bad: 'ab\\0' (NUL at the end)");
    ok(name_valid("\0ab", 3) == 0, "name bad: '\\0ab' (NUL first)");
    ok(name_valid("\0", 1) == 0, "name bad: '\\0'");
    ok(name_valid("a/\0", 3) == 0, "name bad: 'a/\\0'");

    /* only the bytes in the length count */
    ok(name_valid("abc/", 3) == 1, "name: 'abc' of 'abc/' (length 3) ok");
    ok(name_valid("abc!", 3) == 1, "name: 'abc' of 'abc!' (length 3) ok");
    ok(name_valid("a/b", 1) == 1, "name: 'a' of 'a/b' (length 1) ok");
    ok(name_valid("a/b", 2) == 0, "name: 'a/' of 'a/b' (length 2) bad");
    ok(name_valid("a-b", 2) == 0, "name: 'a-' of 'a-b' (length 2) bad");

    /* length limits */
    memset(buf, 'a', sizeof(buf));
    ok(name_valid(buf, 255) == 1, "name of 255 bytes ok");
    ok(name_valid(buf, 256) == 0, "name of 256 bytes bad");
    ok(name_valid(buf, 600) == 0, "name of 600 bytes bad");

    /* 255 bytes in components: a/a/a/.../a */
    for (n = 0; n < 255; n++) {
        buf[n] = (n & 1) ? '/' : 'a';
    }
    ok(name_valid(buf, 255) == 1, "name 'a/a/.../a' of 255 bytes ok");
    buf[255] = 'a';
    buf[254] = 'b';
    ok(name_valid(buf, 256) == 0, "name 'a/a/.../ba' of 256 bytes bad");

    /* 255 bytes with separators of every kind */
    memset(buf, 'a', sizeof(buf));
    for (n = 1; n + 3 < 255; n += 6) {
        buf[n] = '.';
        buf[n + 2] = '_';
        buf[n + 3] = '_';
    }
    ok(name_valid(buf, 255) == 1, "name of 255 bytes with . and __ ok");
    ok(name_valid(buf, 256) == 0, "the same name at 256 bytes bad");

    /* the check of the length comes first */
    ok(hb_name_valid((const unsigned char *) "a", SIZE_MAX) == 0,
       "name with length SIZE_MAX refused");
    ok(hb_name_valid((const unsigned char *) "a", HB_NAME_MAX + 1) == 0,
       "name with length 256 over a 2-byte buffer refused");
}


#define TAG_OK(lit)   ok(tag_valid(S(lit)) == 1, "tag ok:  %s", q(S(lit)))
#define TAG_BAD(lit)  ok(tag_valid(S(lit)) == 0, "tag bad: %s", q(S(lit)))

static void
test_tags(void)
{
    char  buf[300];

    note("tags");

    TAG_OK("latest");
    TAG_OK("v1.0.0");
    TAG_OK("1.2.3-rc.1_build.5");
    TAG_OK("_");
    TAG_OK("_a");
    TAG_OK("a");
    TAG_OK("A");
    TAG_OK("0");
    TAG_OK("Z_9-.");
    TAG_OK("a..");
    TAG_OK("a--");
    TAG_OK("a..b--c__d");
    TAG_OK("sha256-" HEX64);          /* the referrers tag schema */
    TAG_OK("sha256-" HEX64 ".sig");

    ok(tag_valid("", 0) == 0, "tag bad: '' (length 0)");
    TAG_BAD(".");
    TAG_BAD("-");
    TAG_BAD(".a");
    TAG_BAD("-a");
    TAG_BAD("..");
    TAG_BAD("a b");
    TAG_BAD(" a");
    TAG_BAD("a ");
    TAG_BAD("a/b");
    TAG_BAD("a:b");
    TAG_BAD("a@b");
    TAG_BAD("sha256:" HEX64);
    TAG_BAD("a+b");
    TAG_BAD("a\n");
    TAG_BAD("a\tb");
    TAG_BAD("a%20");
    TAG_BAD("\xc3\xbc");
    TAG_BAD("a\xff");
    ok(tag_valid("a\0b", 3) == 0, "tag bad: 'a\\0b' (NUL inside)");
    ok(tag_valid("a\0", 2) == 0, "tag bad: 'a\\0' (NUL at the end)");
    ok(tag_valid("latest!", 6) == 1, "tag: 'latest' of 'latest!' ok");

    memset(buf, 'x', sizeof(buf));
    ok(tag_valid(buf, 128) == 1, "tag of 128 bytes ok");
    ok(tag_valid(buf, 129) == 0, "tag of 129 bytes bad");
    ok(tag_valid(buf, 300) == 0, "tag of 300 bytes bad");
    buf[0] = '_';
    ok(tag_valid(buf, 128) == 1, "tag of 128 bytes from '_' ok");
    buf[0] = '.';
    ok(tag_valid(buf, 128) == 0, "tag of 128 bytes from '.' bad");
    buf[0] = '-';
    ok(tag_valid(buf, 128) == 0, "tag of 128 bytes from '-' bad");
    buf[0] = 'x';
    buf[127] = '-';
    ok(tag_valid(buf, 128) == 1, "tag of 128 bytes ending in '-' ok");

    ok(hb_tag_valid((const unsigned char *) "a", SIZE_MAX) == 0,
       "tag with length SIZE_MAX refused");
    ok(hb_tag_valid((const unsigned char *) "a", HB_TAG_MAX + 1) == 0,
       "tag with length 129 over a 2-byte buffer refused");
}


#define DG_IS(lit, want) \
    is_int(digest_parse(S(lit)), want, "digest %s", q(S(lit)))

static void
test_digests(void)
{
    char  buf[300];

    note("digests");

    DG_IS("sha256:" HEX64, HB_DIGEST_SHA256);
    DG_IS("sha512:" HEX128, HB_DIGEST_SHA512);
    DG_IS("sha256:0000000000000000000000000000000000000000000000000000000000000000",
          HB_DIGEST_SHA256);
    DG_IS("sha256:abcdefabcdefabcdefabcdefabcdefabcdefabcdefabcdefabcdefabcdefabcd",
          HB_DIGEST_SHA256);

    /* uppercase */
    DG_IS("sha256:E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855",
          HB_DIGEST_NONE);
    DG_IS("sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b85F",
          HB_DIGEST_NONE);
    DG_IS("SHA256:" HEX64, HB_DIGEST_NONE);
    DG_IS("Sha256:" HEX64, HB_DIGEST_NONE);

    /* lengths */
    DG_IS("sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b85",
          HB_DIGEST_NONE);
    DG_IS("sha256:" HEX64 "0", HB_DIGEST_NONE);
    DG_IS("sha256:" HEX128, HB_DIGEST_NONE);
    DG_IS("sha512:" HEX64, HB_DIGEST_NONE);
    DG_IS("sha512:" HEX128 "0", HB_DIGEST_NONE);
    ok(digest_parse("sha512:" HEX128, 7 + 127) == HB_DIGEST_NONE,
       "digest sha512 of 127 hex bad");
    DG_IS("sha256:", HB_DIGEST_NONE);
    DG_IS("sha512:", HB_DIGEST_NONE);
    DG_IS("sha256", HB_DIGEST_NONE);
    DG_IS("", HB_DIGEST_NONE);
    DG_IS(":", HB_DIGEST_NONE);
    DG_IS(HEX64, HB_DIGEST_NONE);

    /* other algorithms and shapes */
    DG_IS("sha384:38b060a751ac96384cd9327eb1b1e36a21fdb71114be07434c0cc7bf63f6e1da"
          "274edebfe76f65fbd51ad2f14898b95b", HB_DIGEST_NONE);
    DG_IS("md5:d41d8cd98f00b204e9800998ecf8427e", HB_DIGEST_NONE);
    DG_IS("sha1:da39a3ee5e6b4b0d3255bfef95601890afd80709", HB_DIGEST_NONE);
    DG_IS("blake3:" HEX64, HB_DIGEST_NONE);
    DG_IS("sha256+b64u:LCa0a2j_xo_5m0U8HTBBNBNCLXBkg7-g-YpeiGJm564",
          HB_DIGEST_NONE);
    DG_IS("sha256=" HEX64, HB_DIGEST_NONE);
    DG_IS("sha256::" "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b85",
          HB_DIGEST_NONE);
    DG_IS("sha256:g3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
          HB_DIGEST_NONE);
    DG_IS("sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b85-",
          HB_DIGEST_NONE);
    DG_IS("sha256:" "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b85"
          "\n", HB_DIGEST_NONE);
    DG_IS("sha256:" HEX64 "\n", HB_DIGEST_NONE);
    DG_IS("sha256:" HEX64 " ", HB_DIGEST_NONE);
    DG_IS(" sha256:" HEX64, HB_DIGEST_NONE);
    DG_IS("sha256: e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b85",
          HB_DIGEST_NONE);
    DG_IS("sha512:cf83e1357eefb8bdf1542850d66d8007d620e4050b5715dc83f4a921d36ce9ce"
          "47d0d13c5d85f2b0ff8318d2877eec2f63b931bd47417a81a538327af927da3E",
          HB_DIGEST_NONE);
    DG_IS("sha256:../../../../../../../../../../../../../../../../etc/passwd/xxxxx",
          HB_DIGEST_NONE);

    /* NUL inside, given by the length */
    memcpy(buf, "sha256:" HEX64, 71);
    buf[40] = '\0';
    ok(digest_parse(buf, 71) == HB_DIGEST_NONE, "digest with a NUL inside bad");
    memcpy(buf, "sha256\0" HEX64, 71);
    ok(digest_parse(buf, 71) == HB_DIGEST_NONE, "digest 'sha256\\0<hex>' bad");

    /* only the length counts */
    ok(digest_parse("sha256:" HEX64 "XYZ", 71) == HB_DIGEST_SHA256,
       "digest: first 71 bytes of '<digest>XYZ' ok");
    ok(digest_parse("sha256:" HEX64, 70) == HB_DIGEST_NONE,
       "digest: first 70 bytes bad");

    ok(hb_digest_parse((const unsigned char *) "s", 0) == HB_DIGEST_NONE,
       "digest of length 0 over a buffer refused");
    ok(hb_digest_parse((const unsigned char *) "sha", 3) == HB_DIGEST_NONE,
       "digest 'sha' (short, no over-read) refused");
}


#define UUID_OK(lit)   ok(uuid_valid(S(lit)) == 1, "uuid ok:  %s", q(S(lit)))
#define UUID_BAD(lit)  ok(uuid_valid(S(lit)) == 0, "uuid bad: %s", q(S(lit)))

static void
test_uuids(void)
{
    char  buf[64];

    note("upload ids");

    UUID_OK(UUID);
    UUID_OK("f47ac10b-58cc-4372-a567-0e02b2c3d479");
    UUID_OK("9b2c5e10-0d1f-4a7b-8c3d-2e4f6a8b0c1d");

    UUID_BAD("");
    UUID_BAD("123E4567-E89B-42D3-A456-426614174000");
    UUID_BAD("123e4567-e89b-42d3-a456-42661417400A");
    UUID_BAD("123e4567-e89b-42d3-a456-42661417400");      /* 35 */
    UUID_BAD("123e4567-e89b-42d3-a456-4266141740000");    /* 37 */
    UUID_BAD("123e4567e89b42d3a456426614174000");         /* no dashes */
    UUID_BAD("123e4567e89b-42d3-a456-426614174000-");     /* 36, dashes moved */
    UUID_BAD("123e456-7e89b-42d3-a456-426614174000");
    UUID_BAD("123e4567-e89b-42d3-a4564-26614174000");
    UUID_BAD("123e4567_e89b_42d3_a456_426614174000");
    UUID_BAD("123e4567-e89b-42d3-a456-42661417400g");
    UUID_BAD("g23e4567-e89b-42d3-a456-426614174000");
    UUID_BAD("{123e4567-e89b-42d3-a456-426614174000}");
    UUID_BAD("{23e4567-e89b-42d3-a456-42661417400}");     /* 36 with braces */
    UUID_BAD("urn:uuid:123e4567-e89b-42d3-a456-426614174000");
    UUID_BAD(UUID "\n");
    UUID_BAD(" " UUID);
    UUID_BAD("------------------------------------");
    UUID_BAD("../../../../../../../../etc/passwd/.");
    UUID_BAD("123e4567-e89b-42d3-a456-42661417400/");

    memcpy(buf, UUID, 36);
    buf[20] = '\0';
    ok(uuid_valid(buf, 36) == 0, "uuid with a NUL inside bad");
    ok(uuid_valid(UUID "x", 36) == 1, "uuid: first 36 bytes of '<uuid>x' ok");
    ok(hb_uuid_valid((const unsigned char *) "1", SIZE_MAX) == 0,
       "uuid with length SIZE_MAX refused");
}


static void
range_ok(const char *s, size_t len, off_t want_start, off_t want_end)
{
    int    r;
    off_t  st = -7, en = -7;

    r = range_parse(s, len, &st, &en);
    is_int(r, 0, "Content-Range %s accepted", q(s, len));
    if (r == 0) {
        is_int(st, want_start, "Content-Range %s start", q(s, len));
        is_int(en, want_end, "Content-Range %s end", q(s, len));
    }
}

static void
range_bad(const char *s, size_t len)
{
    off_t  st = -7, en = -7;

    is_int(range_parse(s, len, &st, &en), -1, "Content-Range %s refused",
           q(s, len));
}

#define RANGE_OK(lit, a, b)  range_ok(S(lit), a, b)
#define RANGE_BAD(lit)       range_bad(S(lit))

static void
test_content_range(void)
{
    off_t  st, en;

    note("Content-Range");

    RANGE_OK("0-0", 0, 0);
    RANGE_OK("0-99", 0, 99);
    RANGE_OK("100-199", 100, 199);
    RANGE_OK("5-5", 5, 5);
    RANGE_OK("00-01", 0, 1);
    RANGE_OK("0-9223372036854775806", 0, INT64_MAX - 1);
    RANGE_OK("9223372036854775806-9223372036854775806",
             INT64_MAX - 1, INT64_MAX - 1);
    RANGE_OK("1-9223372036854775806", 1, INT64_MAX - 1);
    RANGE_OK("1048576-2097151", 1048576, 2097151);

    RANGE_BAD("");
    RANGE_BAD("-");
    RANGE_BAD("5-4");
    RANGE_BAD("1-0");
    RANGE_BAD("9223372036854775807-0");
    RANGE_BAD("-1-5");
    RANGE_BAD("-5");
    RANGE_BAD("1-");
    RANGE_BAD("1");
    RANGE_BAD("a-b");
    RANGE_BAD("1-b");
    RANGE_BAD("a-1");
    RANGE_BAD("0x10-0x20");
    RANGE_BAD("1e3-2e3");
    RANGE_BAD(" 0-1");
    RANGE_BAD("0 -1");
    RANGE_BAD("0- 1");
    RANGE_BAD("0-1 ");
    RANGE_BAD("0-1\n");
    RANGE_BAD("0-1\r\n");
    RANGE_BAD("0\t-1");
    RANGE_BAD("+0-1");
    RANGE_BAD("0-+1");
    RANGE_BAD("+1-+2");
    RANGE_BAD("0--1");
    RANGE_BAD("0-1-2");
    RANGE_BAD("0-1/100");
    RANGE_BAD("0-1/*");
    RANGE_BAD("bytes=0-1");
    RANGE_BAD("bytes 0-1/2");
    RANGE_BAD("0,1");
    RANGE_BAD("0..1");
    RANGE_BAD("\xd9\xa3-\xd9\xa4");                  /* Arabic-Indic digits */

    /* off_t boundary and overflow: end + 1 (the length, the next offset)
     * must fit in an off_t too */
    RANGE_BAD("0-9223372036854775807");
    RANGE_BAD("9223372036854775807-9223372036854775807");
    RANGE_BAD("9223372036854775806-9223372036854775807");
    RANGE_BAD("1-9223372036854775807");
    RANGE_BAD("0-9223372036854775808");
    RANGE_BAD("9223372036854775808-9223372036854775809");
    RANGE_BAD("99999999999999999999-1");
    RANGE_BAD("0-99999999999999999999");
    RANGE_BAD("0-18446744073709551615");
    RANGE_BAD("18446744073709551616-18446744073709551617");  /* 2^64: wraps to 0-1 */
    RANGE_BAD("0-27670116110564327424");                      /* 1.5 * 2^64 */
    RANGE_BAD("0-92233720368547758070");
    RANGE_BAD("0-999999999999999999999999999999999999999999999999999999999999");

    /* NUL and length */
    range_bad("0-1\0", 4);
    range_bad("0\0-1", 4);
    range_bad("\0", 1);
    range_ok("0-12", 3, 0, 1);
    range_ok("7-9xyz", 3, 7, 9);
    range_bad("0-12", 2);

    /* leading zeros past 19 digits: the value counts, not the length */
    RANGE_OK("00000000000000000001-00000000000000000002", 1, 2);
    RANGE_OK("000000000000000000009223372036854775806-"
             "000000000000000000009223372036854775806",
             9223372036854775806LL, 9223372036854775806LL);
    RANGE_BAD("00000000000000000000009223372036854775808-1");

    /* the outputs on success */
    st = en = -1;
    ok(range_parse(S("123-456"), &st, &en) == 0 && st == 123 && en == 456,
       "Content-Range '123-456' sets 123 and 456");
}


#define COUNT_IS(lit, max, want) \
    is_int(count_parse(S(lit), max), want, "count %s (max %ld)", \
           q(S(lit)), (long) (max))

static void
test_count(void)
{
    note("counts");

    COUNT_IS("0", 100, 0);
    COUNT_IS("1", 100, 1);
    COUNT_IS("42", 100, 42);
    COUNT_IS("100", 100, 100);
    COUNT_IS("007", 100, 7);
    COUNT_IS("101", 100, -1);
    COUNT_IS("1000", 100, -1);
    COUNT_IS("0", 0, 0);
    COUNT_IS("1", 0, -1);
    COUNT_IS("1000", 1000, 1000);
    COUNT_IS("1001", 1000, -1);

    COUNT_IS("", 100, -1);
    COUNT_IS("-1", 100, -1);
    COUNT_IS("-0", 100, -1);
    COUNT_IS("+1", 100, -1);
    COUNT_IS("1a", 100, -1);
    COUNT_IS("a1", 100, -1);
    COUNT_IS("a", 100, -1);
    COUNT_IS(" 1", 100, -1);
    COUNT_IS("1 ", 100, -1);
    COUNT_IS("1\n", 100, -1);
    COUNT_IS("1.0", 100, -1);
    COUNT_IS("1e2", 100, -1);
    COUNT_IS("0x10", 100, -1);
    COUNT_IS("1,2", 100, -1);
    COUNT_IS("\xd9\xa3", 100, -1);
    ok(count_parse("1\0", 2, 100) == -1, "count '1\\0' refused");
    ok(count_parse("12", 1, 100) == 1, "count: '1' of '12' (length 1) is 1");

    /* overflow */
    COUNT_IS("99999999999999999999", 100, -1);
    COUNT_IS("99999999999999999999", LONG_MAX, -1);
    COUNT_IS("9223372036854775808", LONG_MAX, -1);
    COUNT_IS("18446744073709551617", LONG_MAX, -1);     /* 2^64 + 1 wraps to 1 */
    COUNT_IS("18446744073709551716", 1000, -1);         /* wraps to 100 */
    COUNT_IS("9999999999999999999999999999999999999999", LONG_MAX, -1);

    /* max and max + 1, for large limits (the contract: 0..max) */
    COUNT_IS("999999999", 999999999, 999999999);
    COUNT_IS("1000000000", 999999999, -1);
    COUNT_IS("1000000000", 1000000000, 1000000000);
    COUNT_IS("1000000001", 1000000000, -1);
    COUNT_IS("2147483647", 2147483647L, 2147483647L);
    COUNT_IS("9223372036854775807", LONG_MAX, LONG_MAX);
    COUNT_IS("9223372036854775806", LONG_MAX, LONG_MAX - 1);

    /* leading zeros past 9 digits: the value counts */
    COUNT_IS("0000000007", 100, 7);
}


#define MT_OK(lit)   ok(mt_valid(S(lit)) == 1, "media type ok:  %s", q(S(lit)))
#define MT_BAD(lit)  ok(mt_valid(S(lit)) == 0, "media type bad: %s", q(S(lit)))

#define MTLEN_IS(lit, want) \
    is_int(mt_len(S(lit)), want, "media type length of %s", q(S(lit)))

static void
test_media_types(void)
{
    char    buf[400];
    size_t  n;

    note("media types");

    MT_OK("application/json");
    MT_OK("text/plain");
    MT_OK("a/b");
    MT_OK(HB_MT_DOCKER_V2_S);
    MT_OK(HB_MT_DOCKER_LIST_S);
    MT_OK(HB_MT_OCI_MANIFEST_S);
    MT_OK(HB_MT_OCI_INDEX_S);
    MT_OK(HB_MT_OCI_EMPTY_S);
    MT_OK("application/vnd.oci.image.layer.v1.tar+gzip");
    MT_OK("application/vnd.oci.image.layer.v1.tar+zstd");
    MT_OK("application/vnd.docker.container.image.v1+json");
    MT_OK("application/vnd.docker.image.rootfs.diff.tar.gzip");
    MT_OK("application/vnd.cncf.helm.config.v1+json");
    MT_OK("application/x-tar");
    MT_OK("Application/JSON");
    MT_OK("x/a!#$&-^_.+");
    MT_OK("1/2");

    MT_BAD("");
    MT_BAD("/");
    MT_BAD("application");
    MT_BAD("application/");
    MT_BAD("/json");
    MT_BAD("application/json;charset=utf-8");
    MT_BAD("application/json; charset=utf-8");
    MT_BAD("application/json ");
    MT_BAD(" application/json");
    MT_BAD("application /json");
    MT_BAD("application/ json");
    MT_BAD("application/json/x");
    MT_BAD("application//json");
    MT_BAD("app lication/json");
    MT_BAD("application/js on");
    MT_BAD("application/\"json\"");
    MT_BAD("application/*");
    MT_BAD("*/*");
    MT_BAD("application/(json)");
    MT_BAD("application/{json}");
    MT_BAD("application/json,text/plain");
    MT_BAD("application/json\r\n");
    MT_BAD("application/json\n");
    MT_BAD("application/json\r\nX-Injected: 1");
    MT_BAD("application/js\x80n");
    MT_BAD("application/.json");
    MT_BAD("application/-json");
    MT_BAD("application/+json");
    MT_BAD("-a/b");
    MT_BAD(".a/b");
    MT_BAD("a\\/b");
    MT_BAD("a:b/c");
    MT_BAD("a@b/c");
    MT_BAD("a/b=c");
    ok(mt_valid("application/json\0", 17) == 0, "media type bad: NUL at the end");
    ok(mt_valid("appl\0cation/json", 16) == 0, "media type bad: NUL inside");
    ok(mt_valid("application/json; x", 16) == 1,
       "media type: first 16 bytes of 'application/json; x' ok");

    /* restricted-name: 1 to 127 bytes on each side */
    memset(buf, 'a', sizeof(buf));
    buf[127] = '/';
    ok(mt_valid(buf, 127 + 1 + 127) == 1, "media type 127/127 ok");
    ok(mt_valid(buf, 127 + 1 + 128) == 0, "media type 127/128 bad");
    memset(buf, 'a', sizeof(buf));
    buf[128] = '/';
    ok(mt_valid(buf, 128 + 1 + 1) == 0, "media type 128/1 bad");

    note("media type length");

    MTLEN_IS("application/json", 16);
    MTLEN_IS("application/json;charset=utf-8", 16);
    MTLEN_IS("application/json; charset=utf-8", 16);
    MTLEN_IS("application/json ; charset=utf-8", 16);
    MTLEN_IS("application/json\t;q=1", 16);
    MTLEN_IS("application/json \t ;", 16);
    MTLEN_IS("application/json   ", 16);
    MTLEN_IS("application/json;a;b;c", 16);
    MTLEN_IS("", 0);
    MTLEN_IS(";", 0);
    MTLEN_IS(";;;", 0);
    MTLEN_IS("   ", 0);
    MTLEN_IS(" ;x", 0);
    ok(mt_len("a/b;c", 3) == 3, "media type length of 'a/b' of 'a/b;c' is 3");
    ok(mt_len("a/b ", 3) == 3, "media type length of 'a/b' of 'a/b ' is 3");
    ok(mt_len("a/b;", 0) == 0, "media type length of nothing is 0");

    n = mt_len(S(HB_MT_OCI_MANIFEST_S "; charset=utf-8"));
    is_int(n, sizeof(HB_MT_OCI_MANIFEST_S) - 1,
           "OCI manifest type with charset: length");
    ok(mt_valid(HB_MT_OCI_MANIFEST_S "; charset=utf-8", n) == 1,
       "OCI manifest type with charset: stripped, valid");
    is_int(mf_type(HB_MT_OCI_MANIFEST_S "; charset=utf-8", n),
           HB_MT_OCI_MANIFEST, "OCI manifest type with charset: type");

    note("manifest types");

    is_int(mf_type(S(HB_MT_DOCKER_V2_S)), HB_MT_DOCKER_V2, "docker v2 type");
    is_int(mf_type(S(HB_MT_DOCKER_LIST_S)), HB_MT_DOCKER_LIST,
           "docker list type");
    is_int(mf_type(S(HB_MT_OCI_MANIFEST_S)), HB_MT_OCI_MANIFEST,
           "OCI manifest type");
    is_int(mf_type(S(HB_MT_OCI_INDEX_S)), HB_MT_OCI_INDEX, "OCI index type");
    is_int(mf_type(S(HB_MT_OCI_EMPTY_S)), HB_MT_UNKNOWN, "OCI empty: unknown");
    is_int(mf_type(S("application/json")), HB_MT_UNKNOWN,
           "application/json: unknown");
    is_int(mf_type(S("application/vnd.docker.distribution.manifest.v1+json")),
           HB_MT_UNKNOWN, "docker schema1: unknown");
    is_int(mf_type(S("application/vnd.docker.distribution.manifest.v1+prettyjws")),
           HB_MT_UNKNOWN, "docker schema1 signed: unknown");
    is_int(mf_type(S("application/vnd.docker.container.image.v1+json")),
           HB_MT_UNKNOWN, "docker config: unknown");
    is_int(mf_type("", 0), HB_MT_UNKNOWN, "empty: unknown");
    is_int(mf_type(HB_MT_OCI_INDEX_S, sizeof(HB_MT_OCI_INDEX_S) - 2),
           HB_MT_UNKNOWN, "OCI index less its last byte: unknown");
    is_int(mf_type(S(HB_MT_OCI_INDEX_S "x")), HB_MT_UNKNOWN,
           "OCI index plus a byte: unknown");
    is_int(mf_type(S(HB_MT_OCI_INDEX_S " ")), HB_MT_UNKNOWN,
           "OCI index plus a space: unknown");
    is_int(mf_type(S(HB_MT_OCI_INDEX_S "\0")), HB_MT_UNKNOWN,
           "OCI index plus a NUL: unknown");
    is_int(mf_type(S("application/vnd.oci.image.manifest.v1+jso")),
           HB_MT_UNKNOWN, "OCI manifest less 'n': unknown");
    is_int(mf_type(S("application/vnd.oci.image.manifest.v1+json"
                     "application/vnd.oci.image.manifest.v1+json")),
           HB_MT_UNKNOWN, "OCI manifest twice: unknown");
    is_int(mf_type(S(HB_MT_DOCKER_V2_S ";x=y")), HB_MT_UNKNOWN,
           "docker v2 with parameters (not stripped): unknown");
    is_int(mf_type(HB_MT_DOCKER_V2_S ";x=y", sizeof(HB_MT_DOCKER_V2_S) - 1),
           HB_MT_DOCKER_V2, "docker v2 with parameters, given length: docker v2");
}


static void
test_hex(void)
{
    unsigned char  md[EVP_MAX_MD_SIZE], out[2 * EVP_MAX_MD_SIZE + 8];
    unsigned char  dg[HB_DIGEST_MAX + 1];
    unsigned int   mdlen;

    note("hb_hex");

    memset(out, '#', sizeof(out));
    hb_hex(out, (const unsigned char *) "\x00\xff\xa5\x5a\x10\x09", 6);
    is_mem(out, 12, "00ffa55a1009", 12, "hex of 00 ff a5 5a 10 09");
    ok(out[12] == '#', "hb_hex writes 2n bytes and no terminator");

    memset(out, '#', sizeof(out));
    hb_hex(out, (const unsigned char *) "x", 0);
    ok(out[0] == '#', "hb_hex of 0 bytes writes nothing");

    ok(EVP_Digest("", 0, md, &mdlen, EVP_sha256(), NULL) == 1 && mdlen == 32,
       "sha256 of nothing computed");
    memset(out, '#', sizeof(out));
    hb_hex(out, md, mdlen);
    is_mem(out, 64, HEX64, 64, "hex of sha256 of nothing");
    ok(out[64] == '#', "no byte past 64 written");

    memcpy(dg, "sha256:", 7);
    memcpy(dg + 7, out, 64);
    is_int(hb_digest_parse(dg, 71), HB_DIGEST_SHA256,
           "hex of a sha256 makes a valid digest");

    ok(EVP_Digest("", 0, md, &mdlen, EVP_sha512(), NULL) == 1 && mdlen == 64,
       "sha512 of nothing computed");
    hb_hex(out, md, mdlen);
    is_mem(out, 128, HEX128, 128, "hex of sha512 of nothing");
    memcpy(dg, "sha512:", 7);
    memcpy(dg + 7, out, 128);
    is_int(hb_digest_parse(dg, 135), HB_DIGEST_SHA512,
           "hex of a sha512 makes a valid digest");
}


static void
test_exhaustive_bytes(void)
{
    int            c, bad_name, bad_tag, bad_dg, bad_uuid, bad_mt;
    unsigned char  b[200];

    note("every byte value, in one position");

    bad_name = bad_tag = bad_dg = bad_uuid = bad_mt = 0;

    for (c = 0; c < 256; c++) {
        int alnum_l = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
        int alnum = alnum_l || (c >= 'A' && c <= 'Z');
        int hex_l = (c >= 'a' && c <= 'f') || (c >= '0' && c <= '9');

        /* a name: "ab" + c + "cd" */
        memcpy(b, "abXcd", 5);
        b[2] = (unsigned char) c;
        if (name_valid((char *) b, 5)
            != (alnum_l || c == '.' || c == '_' || c == '-' || c == '/'))
        {
            diag("name 'ab\\x%02xcd' misjudged", c);
            bad_name++;
        }

        /* a tag: "ab" + c */
        if (tag_valid((char *) b, 3)
            != (alnum || c == '_' || c == '.' || c == '-'))
        {
            diag("tag 'ab\\x%02x' misjudged", c);
            bad_tag++;
        }

        /* a tag's first byte */
        b[0] = (unsigned char) c;
        if (tag_valid((char *) b, 1) != (alnum || c == '_')) {
            diag("tag '\\x%02x' misjudged", c);
            bad_tag++;
        }

        /* a digest with c as its last hex */
        memcpy(b, "sha256:" HEX64, 71);
        b[70] = (unsigned char) c;
        if ((digest_parse((char *) b, 71) == HB_DIGEST_SHA256) != hex_l) {
            diag("digest ending in \\x%02x misjudged", c);
            bad_dg++;
        }

        /* a uuid with c in a hex position and in a dash position */
        memcpy(b, UUID, 36);
        b[0] = (unsigned char) c;
        if (uuid_valid((char *) b, 36) != hex_l) {
            diag("uuid starting with \\x%02x misjudged", c);
            bad_uuid++;
        }
        memcpy(b, UUID, 36);
        b[8] = (unsigned char) c;
        if (uuid_valid((char *) b, 36) != (c == '-')) {
            diag("uuid with \\x%02x for its first dash misjudged", c);
            bad_uuid++;
        }

        /* a media type "a/b" + c + "c" */
        memcpy(b, "a/bXc", 5);
        b[3] = (unsigned char) c;
        if (mt_valid((char *) b, 5)
            != (alnum || (c && strchr("!#$&-^_.+", c) != NULL)))
        {
            diag("media type 'a/b\\x%02xc' misjudged", c);
            bad_mt++;
        }
    }

    is_int(bad_name, 0, "names: every byte judged right");
    is_int(bad_tag, 0, "tags: every byte judged right");
    is_int(bad_dg, 0, "digests: every byte judged right");
    is_int(bad_uuid, 0, "uuids: every byte judged right");
    is_int(bad_mt, 0, "media types: every byte judged right");
}


int
main(void)
{
    test_names();
    test_tags();
    test_digests();
    test_uuids();
    test_content_range();
    test_count();
    test_media_types();
    test_hex();
    test_exhaustive_bytes();

    return done_testing();
}
