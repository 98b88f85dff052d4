/*
 * ngx-harbor: what the libFuzzer targets in t/fuzz share.
 *
 * A target that finds its code broke a promise (not a crash, but a wrong
 * answer) says so through fuzz_check(), which aborts: libFuzzer saves the
 * input.
 */

#ifndef HARBOR_FUZZ_H
#define HARBOR_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>


static inline void
fuzz_check(int cond, const char *what)
{
    if (!cond) {
        /* stdout: t/fuzz.t closes the targets' stderr (-close_fd_mask=2) */
        printf("broken promise: %s\n", what);
        fflush(stdout);
        abort();
    }
}


/* A NUL-terminated heap copy of n bytes (for regexec and friends). */
static inline char *
fuzz_strndup(const uint8_t *p, size_t n)
{
    char  *s;

    s = malloc(n + 1);
    if (s == NULL) {
        abort();
    }

    memcpy(s, p, n);
    s[n] = '\0';

    return s;
}


int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#endif /* HARBOR_FUZZ_H */
