/*
 * ngx-harbor: libFuzzer target for hb_content_range_parse(), the
 * Content-Range of an upload chunk ("<start>-<end>", inclusive).
 *
 * An accepted range must be exactly what the text says, start <= end, and
 * its length end - start + 1 must be an off_t: the module computes it.
 * A well-formed range of small numbers must be accepted.
 */

#include <limits.h>
#include <sys/types.h>

#include "harbor_grammar.h"
#include "fuzz.h"


/*
 * "<digits>-<digits>" and nothing else; the values in 128 bits, digits
 * the most significant digits of either.
 */
static int
reference(const uint8_t *p, size_t n, __int128 *start, __int128 *end,
    size_t *digits)
{
    size_t     i, d, sig;
    __int128  *v;

    v = start;
    *start = 0;
    *end = 0;
    d = 0;
    sig = 0;
    *digits = 0;

    for (i = 0; i < n; i++) {
        if (p[i] >= '0' && p[i] <= '9') {
            /* leading zeros are not significant digits */
            if (sig > 0 || p[i] != '0') {
                if (sig < 30) {
                    *v = *v * 10 + (p[i] - '0');
                }
                sig++;
                *digits = sig > *digits ? sig : *digits;
            }
            d++;
            continue;
        }

        if (p[i] == '-' && v == start && d > 0) {
            v = end;
            d = 0;
            sig = 0;
            continue;
        }

        return 0;
    }

    return v == end && d > 0;
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    unsigned char  *p;
    off_t           start, end;
    __int128        rs, re;
    size_t          digits;
    int             rc, well;

    p = malloc(size ? size : 1);
    if (p == NULL) {
        abort();
    }
    memcpy(p, data, size);

    start = -1;
    end = -1;
    rc = hb_content_range_parse(p, size, &start, &end);
    well = reference(data, size, &rs, &re, &digits);

    if (rc == 0) {
        fuzz_check(well, "an accepted range is <digits>-<digits>");
        fuzz_check(start == rs && end == re, "the range is what it says");
        fuzz_check(start >= 0 && start <= end, "0 <= start <= end");
        fuzz_check(end - start < LLONG_MAX,
                   "the length end - start + 1 is an off_t");

    } else {
        fuzz_check(!well || digits > 18 || rs > re,
                   "a well-formed range of small numbers is accepted");
    }

    free(p);

    return 0;
}
