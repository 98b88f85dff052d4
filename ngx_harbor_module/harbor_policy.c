/*
 * ngx-harbor: doublestar globs and the immutable tag rules file (see
 * harbor_policy.h), shared by the module and authd.
 */

#include <stdio.h>
#include <string.h>

#include "harbor_grammar.h"
#include "harbor_policy.h"


static int glob_to_ere(const char *p, char *out, size_t len);


/* a doublestar glob as a POSIX extended expression */
static int
glob_to_ere(const char *p, char *out, size_t len)
{
    size_t  o;
    int     depth;

#define PUT(s) do {                                                         \
        size_t  l_ = strlen(s);                                             \
        if (o + l_ + 2 >= len) { return -1; }                               \
        memcpy(out + o, s, l_);                                             \
        o += l_;                                                            \
    } while (0)

    o = 0;
    depth = 0;
    PUT("^");

    for ( ; *p; p++) {
        switch (*p) {

        case '*':
            if (p[1] == '*') {
                p++;
                if (p[1] == '/') {
                    p++;
                    PUT("(.*/)?");
                } else {
                    PUT(".*");
                }
            } else {
                PUT("[^/]*");
            }
            break;

        case '?':
            PUT("[^/]");
            break;

        case '[':
            PUT("[");
            p++;
            if (*p == '!' || *p == '^') {
                PUT("^");
                p++;
            }
            if (*p == ']') {
                PUT("]");
                p++;
            }
            for ( ; *p && *p != ']'; p++) {
                if (*p == '\\' || *p == '[') {
                    return -1;
                }
                if (o + 3 >= len) {
                    return -1;
                }
                out[o++] = *p;
            }
            if (*p != ']') {
                return -1;
            }
            PUT("]");
            break;

        case '{':
            depth++;
            PUT("(");
            break;

        case '}':
            if (depth == 0) {
                return -1;
            }
            depth--;
            PUT(")");
            break;

        case ',':
            PUT(depth > 0 ? "|" : ",");
            break;

        case '\\':
            p++;
            if (*p == '\0') {
                return -1;
            }
            /* fall through */

        default:
            if (strchr(".^$+()|{}[]\\*?", *p) != NULL) {
                PUT("\\");
            }
            if (o + 2 >= len) {
                return -1;
            }
            out[o++] = *p;
            break;
        }
    }

    if (depth != 0) {
        return -1;
    }

    PUT("$");
    out[o] = '\0';

#undef PUT

    return 0;
}


int
hb_glob_compile(const char *pat, regex_t *re)
{
    char  ere[4096];

    if (strlen(pat) > HB_GLOB_MAX || glob_to_ere(pat, ere, sizeof(ere)) != 0)
    {
        return -1;
    }

    return regcomp(re, ere, REG_EXTENDED | REG_NOSUB) == 0 ? 0 : -1;
}


int
hb_glob_valid(const char *pat)
{
    regex_t  re;

    if (hb_glob_compile(pat, &re) != 0) {
        return 0;
    }
    regfree(&re);

    return 1;
}


int
hb_glob_match(const char *pat, const char *s, size_t slen)
{
    regex_t  re;
    char     buf[HB_NAME_MAX + 1];
    int      m;

    if (slen > HB_NAME_MAX || memchr(s, '\0', slen) != NULL) {
        return 0;
    }

    memcpy(buf, s, slen);
    buf[slen] = '\0';

    if (hb_glob_compile(pat, &re) != 0) {
        return 0;
    }
    m = regexec(&re, buf, 0, NULL, 0) == 0;
    regfree(&re);

    return m;
}


int
hb_policy_path(char *buf, size_t len, const char *storage, size_t slen,
    const char *dir, const char *project, size_t plen)
{
    int     n;
    size_t  i;

    if (plen == 0 || plen > HB_NAME_MAX) {
        return -1;
    }

    /* a project name: lowercase letters, digits, '.', '_', '-' */
    for (i = 0; i < plen; i++) {
        if (!((project[i] >= 'a' && project[i] <= 'z')
              || (project[i] >= '0' && project[i] <= '9')
              || ((project[i] == '.' || project[i] == '_'
                   || project[i] == '-') && i > 0)))
        {
            return -1;
        }
    }

    n = snprintf(buf, len, "%.*s%s/%.*s", (int) slen, storage, dir,
                 (int) plen, project);

    return (n < 0 || (size_t) n >= len) ? -1 : n;
}


int
hb_policy_immutable_path(char *buf, size_t len, const char *storage,
    size_t slen, const char *project, size_t plen)
{
    return hb_policy_path(buf, len, storage, slen, HB_POLICY_IMMUTABLE,
                          project, plen);
}


int
hb_policy_pattern_valid(const char *pat)
{
    const unsigned char  *p;

    if (pat[0] == '\0') {
        return 0;
    }

    for (p = (const unsigned char *) pat; *p; p++) {
        if (*p < 0x20 || *p == 0x7f) {
            return 0;
        }
    }

    return hb_glob_valid(pat);
}


int
hb_policy_immutable_line(char *buf, size_t len, int repo_excludes,
    const char *repo_pat, int tag_excludes, const char *tag_pat)
{
    int  n;

    if (!hb_policy_pattern_valid(repo_pat)
        || !hb_policy_pattern_valid(tag_pat)) {
        return -1;
    }

    n = snprintf(buf, len, "%c\t%s\t%c\t%s\n", repo_excludes ? 'x' : 'm',
                 repo_pat, tag_excludes ? 'x' : 'm', tag_pat);

    return (n < 0 || (size_t) n >= len) ? -1 : n;
}


/* one field of a line, up to sep: copied NUL-terminated, or -1 */
static int
field(const char **p, const char *end, char sep, char *out, size_t len)
{
    const char  *s;

    s = *p;
    while (*p < end && **p != sep) {
        (*p)++;
    }

    if (*p == end || (size_t) (*p - s) >= len) {
        return -1;
    }

    memcpy(out, s, (size_t) (*p - s));
    out[*p - s] = '\0';
    (*p)++;

    return 0;
}


int
hb_policy_compile(hb_policy_t *pol, const char *rules, size_t len)
{
    const char  *p, *end;
    char         rd[2], td[2], rp[HB_GLOB_MAX + 1], tp[HB_GLOB_MAX + 1];

    pol->n = 0;

    p = rules;
    end = rules + len;

    while (p < end) {
        if (pol->n == HB_POLICY_RULES_MAX
            || field(&p, end, '\t', rd, sizeof(rd)) != 0
            || field(&p, end, '\t', rp, sizeof(rp)) != 0
            || field(&p, end, '\t', td, sizeof(td)) != 0
            || field(&p, end, '\n', tp, sizeof(tp)) != 0
            || (rd[0] != 'm' && rd[0] != 'x')
            || (td[0] != 'm' && td[0] != 'x')
            || hb_glob_compile(rp, &pol->rre[pol->n]) != 0)
        {
            goto fail;
        }

        if (hb_glob_compile(tp, &pol->tre[pol->n]) != 0) {
            regfree(&pol->rre[pol->n]);
            goto fail;
        }

        pol->rexcl[pol->n] = rd[0] == 'x';
        pol->texcl[pol->n] = td[0] == 'x';
        pol->n++;
    }

    return 0;

fail:

    hb_policy_free(pol);

    return -1;
}


void
hb_policy_free(hb_policy_t *pol)
{
    int  i;

    for (i = 0; i < pol->n; i++) {
        regfree(&pol->rre[i]);
        regfree(&pol->tre[i]);
    }

    pol->n = 0;
}


int
hb_policy_match(const hb_policy_t *pol, const char *name, size_t nlen,
    const char *tag, size_t tlen)
{
    const char  *slash;
    char         repo[HB_NAME_MAX + 1], t[HB_NAME_MAX + 1];
    size_t       rlen;
    int          i;

    slash = memchr(name, '/', nlen);
    if (slash == NULL) {
        return 0;
    }

    slash++;
    rlen = nlen - (size_t) (slash - name);

    if (rlen > HB_NAME_MAX || tlen > HB_NAME_MAX
        || memchr(slash, '\0', rlen) != NULL || memchr(tag, '\0', tlen))
    {
        return 0;
    }

    memcpy(repo, slash, rlen);
    repo[rlen] = '\0';
    memcpy(t, tag, tlen);
    t[tlen] = '\0';

    for (i = 0; i < pol->n; i++) {
        if ((regexec(&pol->rre[i], repo, 0, NULL, 0) == 0) != pol->rexcl[i]
            && (regexec(&pol->tre[i], t, 0, NULL, 0) == 0) != pol->texcl[i])
        {
            return 1;
        }
    }

    return 0;
}


int
hb_policy_immutable(const char *rules, size_t len, const char *name,
    size_t nlen, const char *tag, size_t tlen)
{
    hb_policy_t  pol;
    int          m;

    if (memchr(name, '/', nlen) == NULL) {
        return -1;
    }

    if (hb_policy_compile(&pol, rules, len) != 0) {
        return -1;
    }

    m = hb_policy_match(&pol, name, nlen, tag, tlen);
    hb_policy_free(&pol);

    return m;
}
