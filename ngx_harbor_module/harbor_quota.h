/*
 * ngx-harbor: the storage quota file, shared by authd (which writes it)
 * and the nginx module (which refuses a push that would pass the limit).
 * Plain C (no nginx types), all inline: no object file of its own.
 *
 * The quota of one project lives in
 *
 *   <storage>/_policies/quota/<project>
 *
 * as one line, written atomically by authd (temporary file, fsync,
 * rename) whenever the limit or the usage changes:
 *
 *   <hard> SP <used> SP <as of> LF
 *
 * hard: the limit in bytes; used: what the project's distinct blobs
 * take, as authd knows them; as of: a time in milliseconds since the
 * epoch (CLOCK_REALTIME) such that every push the module finished
 * before it is counted in used.  No file: no limit.  See
 * docs/policies.md for how the module adds what it committed since.
 */

#ifndef HARBOR_QUOTA_H
#define HARBOR_QUOTA_H

#include <stddef.h>
#include <stdint.h>


#define HB_QUOTA_DIR        "/_policies/quota"
#define HB_QUOTA_FILE_MAX   80              /* the line, at most */
#define HB_QUOTA_WARN_PCT   85              /* QUOTA_WARNING from here */

/* what a limit may be: -1 (none) or 1 .. 1024 TiB, as Harbor's UI */
#define HB_QUOTA_HARD_MAX   ((int64_t) 1 << 50)


/* one decimal number of buf[*i..len), then one separator: 0 or -1 */
static inline int
hb_quota_num(const char *buf, size_t len, size_t *i, int64_t *out, char sep)
{
    int64_t  v;
    size_t   start;
    int      neg;

    neg = 0;
    if (*i < len && buf[*i] == '-') {
        neg = 1;
        (*i)++;
    }

    v = 0;
    start = *i;

    while (*i < len && buf[*i] >= '0' && buf[*i] <= '9') {
        if (*i - start >= 18) {
            return -1;
        }
        v = v * 10 + (buf[*i] - '0');
        (*i)++;
    }

    if (*i == start || *i >= len || buf[*i] != sep) {
        return -1;
    }

    (*i)++;
    *out = neg ? -v : v;

    return 0;
}


/* the file's text: 0 with the three numbers, or -1 if it is not one */
static inline int
hb_quota_parse(const char *buf, size_t len, int64_t *hard, int64_t *used,
    int64_t *asof)
{
    size_t  i;

    i = 0;

    if (hb_quota_num(buf, len, &i, hard, ' ') != 0
        || hb_quota_num(buf, len, &i, used, ' ') != 0
        || hb_quota_num(buf, len, &i, asof, '\n') != 0
        || i != len || *hard < 0 || *used < 0 || *asof < 0)
    {
        return -1;
    }

    return 0;
}


#endif /* HARBOR_QUOTA_H */
