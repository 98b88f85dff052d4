/*
 * ngx-harbor: libFuzzer target for the grammar of harbor_grammar.c:
 * repository names, tags, digests, references, upload ids, counts and
 * media types.
 *
 * The first byte picks the function, the rest is its input, handed over
 * in a heap block of exactly its length (a read past it is an ASan
 * report).  Each answer is checked against a second, independent
 * statement of the same grammar: a POSIX extended regular expression
 * written from the distribution spec and RFC 6838, or plain arithmetic.
 */

#include <limits.h>
#include <regex.h>

#include "harbor_grammar.h"
#include "fuzz.h"


enum {
    RX_NAME,
    RX_TAG,
    RX_DIGEST,
    RX_UUID,
    RX_MEDIA_TYPE,
    RX_N
};

static const char  *patterns[RX_N] = {
    ("^[a-z0-9]+((\\.|_|__|-+)[a-z0-9]+)*"
     "(/[a-z0-9]+((\\.|_|__|-+)[a-z0-9]+)*)*$"),
    "^[a-zA-Z0-9_][a-zA-Z0-9._-]*$",
    "^(sha256:[0-9a-f]{64}|sha512:[0-9a-f]{128})$",
    "^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$",
    "^[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]*/[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]*$",
};

static regex_t  rx[RX_N];


int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
    int  i;

    (void) argc;
    (void) argv;

    for (i = 0; i < RX_N; i++) {
        if (regcomp(&rx[i], patterns[i], REG_EXTENDED | REG_NOSUB) != 0) {
            fprintf(stderr, "regcomp failed: %s\n", patterns[i]);
            abort();
        }
    }

    return 0;
}


/* Whether s (n bytes, maybe with NULs) matches rx[which] as a whole. */
static int
matches(int which, const char *s, size_t n)
{
    if (memchr(s, '\0', n) != NULL) {
        return 0;
    }

    return regexec(&rx[which], s, 0, NULL, 0) == 0;
}


/* The longest restricted-name of a media type half, for RFC 6838. */
static int
halves_short(const char *s, size_t n)
{
    const char  *slash;

    slash = memchr(s, '/', n);

    return slash != NULL && slash - s <= 127
           && (size_t) (s + n - slash - 1) <= 127;
}


static void
check_count(const unsigned char *p, size_t n, long max)
{
    long      got, want;
    size_t    i;
    __int128  wide;

    got = hb_count_parse(p, n, max);

    /* the reference: digits only, at least one, value at most max */
    want = n > 0 && max >= 0 ? 0 : -1;

    for (i = 0; i < n && want >= 0; i++) {
        if (p[i] < '0' || p[i] > '9') {
            want = -1;
            break;
        }

        /* in 128 bits: no overflow to think about */
        wide = (__int128) want * 10 + (p[i] - '0');
        want = wide > max ? -1 : (long) wide;
    }

    fuzz_check(got == want, "hb_count_parse agrees with the reference");
}


static void
check_media_type_len(const unsigned char *p, size_t n)
{
    size_t  got, i;

    got = hb_media_type_len(p, n);

    fuzz_check(got <= n, "hb_media_type_len stays within the input");

    for (i = 0; i < got; i++) {
        fuzz_check(p[i] != ';', "hb_media_type_len stops at ';'");
    }

    if (got > 0) {
        fuzz_check(p[got - 1] != ' ' && p[got - 1] != '\t',
                   "hb_media_type_len drops trailing blanks");
    }

    /* what follows is blanks up to a ';' or the end */
    for (i = got; i < n && p[i] != ';'; i++) {
        fuzz_check(p[i] == ' ' || p[i] == '\t',
                   "hb_media_type_len keeps all but trailing blanks");
    }
}


static void
check_manifest_type(const unsigned char *p, size_t n)
{
    int          got;
    const char  *name;

    got = hb_manifest_type(p, n);

    if (got == HB_MT_UNKNOWN) {
        return;
    }

    name = hb_manifest_type_name(got);

    fuzz_check(name != NULL && strlen(name) == n && memcmp(name, p, n) == 0,
               "hb_manifest_type matches only its own names");
    fuzz_check(hb_media_type_valid(p, n),
               "a manifest type is a valid media type");
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    unsigned char  *p;
    char           *s;
    size_t          n;
    int             got, want;
    long            max;

    if (size == 0) {
        return 0;
    }

    n = size - 1;
    p = malloc(n ? n : 1);
    if (p == NULL) {
        abort();
    }
    memcpy(p, data + 1, n);
    s = fuzz_strndup(data + 1, n);

    switch (data[0] % 9) {

    case 0:
        got = hb_name_valid(p, n);
        want = n > 0 && n <= HB_NAME_MAX && matches(RX_NAME, s, n);
        fuzz_check(got == want, "hb_name_valid agrees with the spec");
        break;

    case 1:
        got = hb_tag_valid(p, n);
        want = n > 0 && n <= HB_TAG_MAX && matches(RX_TAG, s, n);
        fuzz_check(got == want, "hb_tag_valid agrees with the spec");
        break;

    case 2:
        got = hb_digest_parse(p, n);
        want = !matches(RX_DIGEST, s, n) ? HB_DIGEST_NONE
               : n == 7 + HB_SHA256_HEX ? HB_DIGEST_SHA256 : HB_DIGEST_SHA512;
        fuzz_check(got == want, "hb_digest_parse agrees with the spec");
        break;

    case 3:
        got = hb_uuid_valid(p, n);
        want = matches(RX_UUID, s, n);
        fuzz_check(got == want, "hb_uuid_valid agrees with RFC 4122 text");
        break;

    case 4:
        got = hb_media_type_valid(p, n);
        want = matches(RX_MEDIA_TYPE, s, n) && halves_short(s, n);
        fuzz_check(got == want, "hb_media_type_valid agrees with RFC 6838");
        break;

    case 5:
        /* the second byte, if any, chooses the maximum */
        max = n > 0 ? (long) p[0] * 997 - 1 : 100;
        if (n > 0 && p[0] == 0xff) {
            max = LONG_MAX;
        }
        check_count(n > 0 ? p + 1 : p, n > 0 ? n - 1 : 0, max);
        break;

    case 6:
        check_media_type_len(p, n);
        break;

    case 7:
        check_manifest_type(p, n);
        break;

    default:
        /* a reference is a tag or a digest, never both: ':' parts them */
        got = hb_tag_valid(p, n);
        want = hb_digest_parse(p, n) != HB_DIGEST_NONE;
        fuzz_check(!(got && want), "a reference is a tag or a digest");
        break;
    }

    free(s);
    free(p);

    return 0;
}
