/*
 * ngx-harbor: a tiny TAP producer for the C unit tests, read by prove.
 *
 *   plan(n);                       optional; else done_testing() prints it
 *   ok(cond, "name %d", x);
 *   is_int(got, expected, "name");
 *   is_str(got, expected, "name");  either may be NULL
 *   is_mem(got, glen, exp, elen, "name");
 *   todo_start("reason"); ... todo_end();   failures here do not count
 *   diag("fmt", ...);
 *   return done_testing();         exit status: non-zero if any test failed
 *
 * Everything is static and header-only: one translation unit per test.
 */

#ifndef HARBOR_TAP_H
#define HARBOR_TAP_H

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TAP_UNUSED  __attribute__((unused))
#define TAP_FMT(a, b)  __attribute__((format(printf, a, b)))

static int          tap_run TAP_UNUSED;
static int          tap_failed TAP_UNUSED;
static int          tap_planned TAP_UNUSED;
static const char  *tap_todo TAP_UNUSED;


static inline void
tap_vline(FILE *f, const char *prefix, const char *fmt, va_list ap)
{
    char   buf[4096];
    char  *p, *nl;

    vsnprintf(buf, sizeof(buf), fmt, ap);

    /* every line of a diagnostic carries the "# " prefix */
    for (p = buf; ; p = nl + 1) {
        nl = strchr(p, '\n');
        if (nl) {
            *nl = '\0';
        }
        fprintf(f, "%s%s\n", prefix, p);
        if (nl == NULL) {
            break;
        }
    }
}


/* To stderr; inside a TODO block to stdout, as Test::More does. */
static inline TAP_FMT(1, 2) void
diag(const char *fmt, ...)
{
    FILE     *f;
    va_list   ap;

    f = tap_todo ? stdout : stderr;

    fflush(stdout);
    va_start(ap, fmt);
    tap_vline(f, "# ", fmt, ap);
    va_end(ap);
    fflush(f);
}


static inline TAP_FMT(1, 2) void
note(const char *fmt, ...)
{
    va_list  ap;

    va_start(ap, fmt);
    tap_vline(stdout, "# ", fmt, ap);
    va_end(ap);
}


static inline void
plan(int n)
{
    tap_planned = n;
    printf("1..%d\n", n);
    fflush(stdout);
}


static inline void
todo_start(const char *reason)
{
    tap_todo = reason;
}


static inline void
todo_end(void)
{
    tap_todo = NULL;
}


static inline int
tap_vok(int pass, const char *file, int line, const char *fmt, va_list ap)
{
    char  name[1024];
    char *p;

    vsnprintf(name, sizeof(name), fmt, ap);

    /* "#" would start a directive, a newline would end the line */
    for (p = name; *p; p++) {
        if (*p == '#' || *p == '\n' || *p == '\r') {
            *p = ' ';
        }
    }

    tap_run++;

    printf("%sok %d - %s", pass ? "" : "not ", tap_run, name);
    if (tap_todo) {
        printf(" # TODO %s", tap_todo);
    }
    printf("\n");
    fflush(stdout);

    if (!pass) {
        if (tap_todo == NULL) {
            tap_failed++;
        }
        diag("  Failed %stest '%s'\n  at %s line %d.",
             tap_todo ? "(TODO) " : "", name, file, line);
    }

    return pass;
}


static inline TAP_FMT(4, 5) int
tap_ok(int pass, const char *file, int line, const char *fmt, ...)
{
    int      r;
    va_list  ap;

    va_start(ap, fmt);
    r = tap_vok(pass, file, line, fmt, ap);
    va_end(ap);

    return r;
}


static inline TAP_FMT(5, 6) int
tap_is_int(long long got, long long exp, const char *file, int line,
    const char *fmt, ...)
{
    int      r;
    va_list  ap;

    va_start(ap, fmt);
    r = tap_vok(got == exp, file, line, fmt, ap);
    va_end(ap);

    if (!r) {
        diag("         got: %lld\n    expected: %lld", got, exp);
    }

    return r;
}


/* Print a byte string readably for a diagnostic. */
static inline void
tap_quote(char *out, size_t outlen, const char *s, size_t len)
{
    size_t  i, o;

    if (s == NULL) {
        snprintf(out, outlen, "NULL");
        return;
    }

    o = 0;
    out[o++] = '\'';

    for (i = 0; i < len && o + 8 < outlen; i++) {
        unsigned char c = (unsigned char) s[i];

        if (c >= 0x20 && c < 0x7f && c != '\\') {
            out[o++] = c;
        } else {
            o += snprintf(out + o, outlen - o, "\\x%02x", c);
        }
    }

    if (i < len) {
        o += snprintf(out + o, outlen - o, "...");
    }

    snprintf(out + o, outlen - o, "'");
}


static inline TAP_FMT(7, 8) int
tap_is_mem(const char *got, size_t glen, const char *exp, size_t elen,
    const char *file, int line, const char *fmt, ...)
{
    int      r, pass;
    char     g[600], e[600];
    va_list  ap;

    if (got == NULL || exp == NULL) {
        pass = (got == exp);
    } else {
        pass = (glen == elen && memcmp(got, exp, glen) == 0);
    }

    va_start(ap, fmt);
    r = tap_vok(pass, file, line, fmt, ap);
    va_end(ap);

    if (!r) {
        tap_quote(g, sizeof(g), got, glen);
        tap_quote(e, sizeof(e), exp, elen);
        diag("         got: %s\n    expected: %s", g, e);
    }

    return r;
}


#define ok(cond, ...) \
    tap_ok((cond) ? 1 : 0, __FILE__, __LINE__, __VA_ARGS__)

#define is_int(got, exp, ...) \
    tap_is_int((long long) (got), (long long) (exp), __FILE__, __LINE__, \
               __VA_ARGS__)

#define is_str(got, exp, ...)                                               \
    do {                                                                    \
        const char *tap_g_ = (got), *tap_e_ = (exp);                        \
        tap_is_mem(tap_g_, tap_g_ ? strlen(tap_g_) : 0,                     \
                   tap_e_, tap_e_ ? strlen(tap_e_) : 0,                     \
                   __FILE__, __LINE__, __VA_ARGS__);                        \
    } while (0)

#define is_mem(got, glen, exp, elen, ...) \
    tap_is_mem((const char *) (got), (glen), (const char *) (exp), (elen), \
               __FILE__, __LINE__, __VA_ARGS__)


static inline int
done_testing(void)
{
    if (tap_planned == 0) {
        printf("1..%d\n", tap_run);

    } else if (tap_planned != tap_run) {
        diag("Looks like you planned %d tests but ran %d.",
             tap_planned, tap_run);
        fflush(stdout);
        return 255;
    }

    fflush(stdout);

    if (tap_failed) {
        diag("Looks like you failed %d test%s of %d.",
             tap_failed, tap_failed == 1 ? "" : "s", tap_run);
        return tap_failed > 254 ? 254 : tap_failed;
    }

    return 0;
}


/*
 * A copy of exactly len bytes on the heap, so that a sanitizer or valgrind
 * sees any read past the length the function was given.  Free it.
 */
static inline unsigned char *
tap_exact(const void *s, size_t len)
{
    unsigned char  *p;

    /* malloc(0) gives a zero-sized block: any read of it is reported */
    p = malloc(len);
    if (p == NULL && len == 0) {
        p = malloc(1);
    }

    if (p == NULL) {
        fprintf(stderr, "out of memory\n");
        exit(255);
    }

    if (len) {
        memcpy(p, s, len);
    }

    return p;
}

#endif /* HARBOR_TAP_H */
