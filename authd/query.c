/*
 * authd: the q= and sort= parameters of lists, Harbor's syntax.
 *
 *   q=name=~abc,op_time=[2026-01-01 00:00:00~2026-02-01],operation={pull push}
 *
 * k=v exact, k=~v fuzzy (LIKE with the value's own % _ \ escaped, so
 * they match themselves), k=[a~b] range (either end may be empty),
 * k={a b} any of, k=(a b) all of; items separated by commas outside
 * brackets.  As in Harbor's parser (src/lib/q/builder.go), the values
 * of a range or a list lose the spaces and quotes around them: Harbor's
 * replication adapter asks for projects as name={'a' 'b'}, quoted so
 * that a name of digits stays a string.  Keys come from a table per
 * endpoint, each with the SQL we wrote for it and the operators and
 * value type it takes; anything else is a 400.  Values only ever travel
 * as parameters of PQexecParams.
 * sort=name,-creation_time from an allow-list too ("-": descending).
 */

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "authd.h"


static int
q_key_valid(const char *k)
{
    size_t  i;

    for (i = 0; k[i]; i++) {
        if (!((k[i] >= 'a' && k[i] <= 'z') || k[i] == '_' || k[i] == '.'
              || (k[i] >= 'A' && k[i] <= 'Z')))
        {
            return 0;
        }
    }

    return i > 0 && i < 64;
}


/*
 * A value of a list or a range without the spaces, single and double
 * quotes around it (Harbor trims them all: 'a', "a" and ''a'' are a).
 */
static char *
q_unquote(char *s)
{
    size_t  len;

    while (*s == ' ' || *s == '\'' || *s == '"') {
        s++;
    }

    len = strlen(s);
    while (len > 0
           && (s[len - 1] == ' ' || s[len - 1] == '\'' || s[len - 1] == '"'))
    {
        s[--len] = '\0';
    }

    return s;
}


/* the values of {a b} / (a b): split on spaces; empty ones are skipped */
static int
q_words(struct req *r, struct qitem *it, char *s)
{
    char  *w, *save;

    for (w = strtok_r(s, " ", &save); w != NULL;
         w = strtok_r(NULL, " ", &save))
    {
        w = q_unquote(w);
        if (w[0] == '\0') {
            continue;
        }

        if (it->nv == Q_VALUES_MAX) {
            http_error(r, 400, "q: at most %d values for \"%.64s\"",
                       Q_VALUES_MAX, it->key);
            return -1;
        }
        it->v[it->nv++] = w;
    }

    if (it->nv == 0) {
        http_error(r, 400, "q: no values for \"%.64s\"", it->key);
        return -1;
    }

    return 0;
}


/*
 * Split q into items; 0, or -1 with 400 sent.  The strings point into a
 * copy of q held by the request.
 */
int
q_parse(struct req *r, const char *q, struct qitem *items, int *n)
{
    char    *s, *p, *item, *eq, *v, *tilde;
    size_t   len;
    int      depth, i;

    *n = 0;

    if (q == NULL || q[0] == '\0') {
        return 0;
    }

    s = req_strdup(r, q);
    if (s == NULL) {
        http_error(r, 500, "out of memory");
        return -1;
    }

    for (p = s; *p; ) {
        /* the next comma outside brackets ends the item */
        item = p;
        depth = 0;

        for ( ; *p; p++) {
            if (*p == '[' || *p == '{' || *p == '(') {
                depth++;
            } else if ((*p == ']' || *p == '}' || *p == ')') && depth > 0) {
                depth--;
            } else if (*p == ',' && depth == 0) {
                break;
            }
        }

        if (*p == ',') {
            *p++ = '\0';
        }

        if (item[0] == '\0') {
            continue;
        }

        if (*n == Q_ITEMS_MAX) {
            http_error(r, 400, "q: at most %d conditions", Q_ITEMS_MAX);
            return -1;
        }

        eq = strchr(item, '=');
        if (eq == NULL) {
            http_error(r, 400, "q: \"%.64s\" is not key=value", item);
            return -1;
        }
        *eq = '\0';
        v = eq + 1;

        if (!q_key_valid(item)) {
            http_error(r, 400, "q: invalid key \"%.64s\"", item);
            return -1;
        }

        for (i = 0; i < *n; i++) {
            if (strcmp(items[i].key, item) == 0) {
                http_error(r, 400, "q: \"%.64s\" given twice", item);
                return -1;
            }
        }

        memset(&items[*n], 0, sizeof(struct qitem));
        items[*n].key = item;
        len = strlen(v);

        if (v[0] == '~') {
            items[*n].op = Q_FUZZY;
            items[*n].v[0] = v + 1;
            items[*n].nv = 1;

        } else if (v[0] == '[' && len >= 2 && v[len - 1] == ']') {
            v[len - 1] = '\0';
            v++;
            tilde = strchr(v, '~');
            if (tilde == NULL) {
                http_error(r, 400, "q: the range of \"%.64s\" is not "
                           "[min~max]", item);
                return -1;
            }
            *tilde = '\0';
            if (strchr(tilde + 1, '~') != NULL) {
                http_error(r, 400, "q: the range of \"%.64s\" has more "
                           "than one ~", item);
                return -1;
            }
            v = q_unquote(v);
            tilde = q_unquote(tilde + 1);
            items[*n].op = Q_RANGE;
            items[*n].v[0] = v[0] != '\0' ? v : NULL;
            items[*n].v[1] = tilde[0] != '\0' ? tilde : NULL;
            items[*n].nv = 2;

            if (items[*n].v[0] == NULL && items[*n].v[1] == NULL) {
                http_error(r, 400, "q: the range of \"%.64s\" is empty",
                           item);
                return -1;
            }

        } else if ((v[0] == '{' && len >= 2 && v[len - 1] == '}')
                   || (v[0] == '(' && len >= 2 && v[len - 1] == ')'))
        {
            items[*n].op = v[0] == '{' ? Q_ANY : Q_ALL;
            v[len - 1] = '\0';
            if (q_words(r, &items[*n], v + 1) != 0) {
                return -1;
            }

        } else if (v[0] == '[' || v[0] == '{' || v[0] == '(') {
            http_error(r, 400, "q: the value of \"%.64s\" is not closed",
                       item);
            return -1;

        } else {
            items[*n].op = Q_EQ;
            items[*n].v[0] = v;
            items[*n].nv = 1;
        }

        (*n)++;
    }

    return 0;
}


/*
 * A list's own parameter that Harbor reads as a condition (the projects'
 * name=, fuzzy): it replaces q's item of that key, as in Harbor, or is
 * added.  An empty value is no condition.  0, or -1 with 400 sent.
 */
int
q_set(struct req *r, struct qitem *items, int *n, const char *key, int op,
    const char *v)
{
    struct qitem  *it;
    int            i;

    if (v == NULL || v[0] == '\0') {
        return 0;
    }

    it = NULL;
    for (i = 0; i < *n; i++) {
        if (strcmp(items[i].key, key) == 0) {
            it = &items[i];
            break;
        }
    }

    if (it == NULL) {
        if (*n == Q_ITEMS_MAX) {
            http_error(r, 400, "q: at most %d conditions", Q_ITEMS_MAX);
            return -1;
        }
        it = &items[(*n)++];
    }

    memset(it, 0, sizeof(struct qitem));
    it->key = key;
    it->op = op;
    it->v[0] = v;
    it->nv = 1;

    return 0;
}


/* The item with this key, marked used; NULL if q has none. */
struct qitem *
q_take(struct qitem *items, int n, const char *key)
{
    int  i;

    for (i = 0; i < n; i++) {
        if (strcmp(items[i].key, key) == 0) {
            items[i].used = 1;
            return &items[i];
        }
    }

    return NULL;
}


void
q_init(struct qsql *s, struct req *r)
{
    memset(s, 0, sizeof(*s));
    s->r = r;
    s->where = "";
}


/* Adds a parameter; its number ($n), or -1 with 400/500 sent. */
int
q_param(struct qsql *s, const char *v)
{
    if (s->n == Q_PARAMS_MAX) {
        http_error(s->r, 400, "q: too many values");
        return -1;
    }

    s->params[s->n++] = v;

    return s->n;
}


/* Appends " AND <fmt>"; 0 or -1 with 500 sent. */
int
q_add(struct qsql *s, const char *fmt, ...)
{
    va_list  ap;
    char     buf[4096];
    int      n;

    va_start(ap, fmt);
    n = vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);

    if (n < 0 || (size_t) n >= sizeof(buf)) {
        http_error(s->r, 500, "query too long");
        return -1;
    }

    s->where = req_printf(s->r, "%s AND %s", s->where, buf);
    if (s->where == NULL) {
        http_error(s->r, 500, "out of memory");
        return -1;
    }

    return 0;
}


/*
 * Times as Harbor's clients send them: "2026-11-28", "2026-11-28
 * 10:00:00", "2026-11-28T10:00:00.123Z", "...+02:00".  Checked here so
 * that PostgreSQL never sees a value it refuses.  Without a zone: UTC.
 */
int
q_time_valid(const char *s)
{
    static const char  *pat = "dddd-dd-dd";
    size_t              i;

    for (i = 0; pat[i]; i++) {
        if (pat[i] == 'd' ? !(s[i] >= '0' && s[i] <= '9') : s[i] != pat[i]) {
            return 0;
        }
    }

    s += i;

    if (*s == '\0') {
        return 1;
    }

    if (*s != ' ' && *s != 'T') {
        return 0;
    }
    s++;

    /* hh:mm[:ss[.ffffff]] */
    if (!(s[0] >= '0' && s[0] <= '2' && s[1] >= '0' && s[1] <= '9'
          && s[2] == ':' && s[3] >= '0' && s[3] <= '5' && s[4] >= '0'
          && s[4] <= '9'))
    {
        return 0;
    }
    s += 5;

    if (*s == ':') {
        if (!(s[1] >= '0' && s[1] <= '6' && s[2] >= '0' && s[2] <= '9')) {
            return 0;
        }
        s += 3;

        if (*s == '.') {
            for (i = 1; s[i] >= '0' && s[i] <= '9'; i++) {
                /* void */
            }
            if (i == 1 || i > 7) {
                return 0;
            }
            s += i;
        }
    }

    if (*s == 'Z' && s[1] == '\0') {
        return 1;
    }

    if (*s == '+' || *s == '-') {
        if (!(s[1] >= '0' && s[1] <= '9' && s[2] >= '0' && s[2] <= '9')) {
            return 0;
        }
        s += 3;
        if (*s == ':') {
            s++;
        }
        if (*s == '\0') {
            return 1;
        }
        return s[0] >= '0' && s[0] <= '9' && s[1] >= '0' && s[1] <= '9'
               && s[2] == '\0';
    }

    return *s == '\0';
}


static int
q_value_ok(struct req *r, const struct qfield *f, const char *v)
{
    size_t  i;

    switch (f->type) {

    case Q_INT:
        for (i = 0; v[i]; i++) {
            if (v[i] < '0' || v[i] > '9') {
                break;
            }
        }
        if (i == 0 || v[i] != '\0' || i > 15) {
            http_error(r, 400, "q: \"%s\" must be a number", f->key);
            return 0;
        }
        return 1;

    case Q_BOOL:
        if (strcmp(v, "true") != 0 && strcmp(v, "false") != 0) {
            http_error(r, 400, "q: \"%s\" must be true or false", f->key);
            return 0;
        }
        return 1;

    case Q_TIME:
        if (!q_time_valid(v)) {
            http_error(r, 400, "q: \"%s\" must be a time such as "
                       "2026-01-02 15:04:05", f->key);
            return 0;
        }
        return 1;

    default:
        if (strlen(v) > 1024) {
            http_error(r, 400, "q: the value of \"%s\" is too long", f->key);
            return 0;
        }
        return 1;
    }
}


static const char *
q_cast(int type)
{
    switch (type) {
    case Q_INT:  return "::bigint";
    case Q_BOOL: return "::boolean";
    case Q_TIME: return "::timestamptz";
    default:     return "::text";
    }
}


/* One condition on f->col, wrapped in f->tpl if it has one. */
static int
q_cond(struct qsql *s, const struct qfield *f, const char *cond)
{
    char  buf[2048];

    if (f->tpl == NULL) {
        return q_add(s, "(%s)", cond);
    }

    if (snprintf(buf, sizeof(buf), f->tpl, cond) >= (int) sizeof(buf)) {
        http_error(s->r, 500, "query too long");
        return -1;
    }

    return q_add(s, "%s", buf);
}


/*
 * The conditions of the items not taken yet, by the table f.  0, or -1
 * with 400 sent (unknown key, operator or value).
 */
int
q_where(struct qsql *s, struct qitem *items, int n, const struct qfield *f,
    size_t nf)
{
    struct qitem  *it;
    const char    *cast;
    char           cond[2048], *like;
    size_t         i, off;
    int            k, j, a, b;

    for (k = 0; k < n; k++) {
        it = &items[k];
        if (it->used) {
            continue;
        }

        for (i = 0; i < nf; i++) {
            if (strcmp(f[i].key, it->key) == 0) {
                break;
            }
        }

        if (i == nf) {
            http_error(s->r, 400, "q: unsupported key \"%.64s\"", it->key);
            return -1;
        }

        if (!(f[i].ops & it->op)) {
            http_error(s->r, 400, "q: \"%s\" does not take this kind of "
                       "match", f[i].key);
            return -1;
        }

        for (j = 0; j < it->nv; j++) {
            if (it->v[j] != NULL && !q_value_ok(s->r, &f[i], it->v[j])) {
                return -1;
            }
        }

        cast = q_cast(f[i].type);
        it->used = 1;

        switch (it->op) {

        case Q_EQ:
            a = q_param(s, it->v[0]);
            if (a < 0) {
                return -1;
            }
            snprintf(cond, sizeof(cond), "%s = $%d%s", f[i].col, a, cast);
            if (q_cond(s, &f[i], cond) != 0) {
                return -1;
            }
            break;

        case Q_FUZZY:
            like = q_like(s->r, it->v[0]);
            if (like == NULL || (a = q_param(s, like)) < 0) {
                return -1;
            }
            snprintf(cond, sizeof(cond), "%s LIKE $%d", f[i].col, a);
            if (q_cond(s, &f[i], cond) != 0) {
                return -1;
            }
            break;

        case Q_RANGE:
            a = it->v[0] != NULL ? q_param(s, it->v[0]) : 0;
            b = it->v[1] != NULL ? q_param(s, it->v[1]) : 0;
            if (a < 0 || b < 0) {
                return -1;
            }
            if (a && b) {
                snprintf(cond, sizeof(cond), "%s >= $%d%s AND %s <= $%d%s",
                         f[i].col, a, cast, f[i].col, b, cast);
            } else if (a) {
                snprintf(cond, sizeof(cond), "%s >= $%d%s", f[i].col, a,
                         cast);
            } else {
                snprintf(cond, sizeof(cond), "%s <= $%d%s", f[i].col, b,
                         cast);
            }
            if (q_cond(s, &f[i], cond) != 0) {
                return -1;
            }
            break;

        case Q_ANY:
            off = (size_t) snprintf(cond, sizeof(cond), "%s IN (", f[i].col);
            for (j = 0; j < it->nv; j++) {
                a = q_param(s, it->v[j]);
                if (a < 0) {
                    return -1;
                }
                off += (size_t) snprintf(cond + off, sizeof(cond) - off,
                                         "%s$%d%s", j ? ", " : "", a, cast);
            }
            snprintf(cond + off, sizeof(cond) - off, ")");
            if (q_cond(s, &f[i], cond) != 0) {
                return -1;
            }
            break;

        case Q_ALL:
            /* each value on its own: with a template, each an EXISTS */
            for (j = 0; j < it->nv; j++) {
                a = q_param(s, it->v[j]);
                if (a < 0) {
                    return -1;
                }
                snprintf(cond, sizeof(cond), "%s = $%d%s", f[i].col, a, cast);
                if (q_cond(s, &f[i], cond) != 0) {
                    return -1;
                }
            }
            break;
        }
    }

    return 0;
}


/*
 * sort=k1,-k2 into "sql1 ASC NULLS FIRST, sql2 DESC NULLS LAST" from the
 * allow-list, the one parser of every list; dflt when sort is absent or
 * empty.  Every item is a key of the list, with one optional "-": an empty
 * item (",", "a,,b", "-"), an unknown key or more than Q_SORT_MAX items is
 * a 400 naming the keys.  NULL with the answer sent.
 */
const char *
q_order(struct req *r, const char *sort, const struct qsort *keys, size_t n,
    const char *dflt)
{
    const char  *p, *end, *item;
    char        *out, *names;
    size_t       i, len;
    int          desc, count;

    if (sort == NULL || sort[0] == '\0') {
        return dflt;
    }

    out = "";
    count = 0;
    p = sort;

    for ( ;; ) {
        end = strchr(p, ',');
        len = end != NULL ? (size_t) (end - p) : strlen(p);

        item = p;
        desc = len > 0 && item[0] == '-';
        if (desc) {
            item++;
            len--;
        }

        for (i = 0; i < n; i++) {
            if (len > 0 && strlen(keys[i].key) == len
                && memcmp(item, keys[i].key, len) == 0)
            {
                break;
            }
        }

        if (i == n || count == Q_SORT_MAX) {
            goto bad;
        }

        out = req_printf(r, "%s%s%s%s", out, count ? ", " : "", keys[i].sql,
                         desc ? " DESC NULLS LAST" : " ASC NULLS FIRST");
        if (out == NULL) {
            http_error(r, 500, "out of memory");
            return NULL;
        }
        count++;

        if (end == NULL) {
            return out;
        }

        p = end + 1;
    }

bad:

    names = "";
    for (i = 0; i < n && names != NULL; i++) {
        names = req_printf(r, "%s%s%s", names,
                           i == 0 ? "" : i + 1 < n ? ", " : " or ",
                           keys[i].key);
    }

    if (names == NULL) {
        http_error(r, 500, "out of memory");
        return NULL;
    }

    http_error(r, 400, "sort: at most %d of %s, each with - for descending, "
               "separated by commas", Q_SORT_MAX, names);

    return NULL;
}


/* LIKE pattern matching s anywhere, with s's own % _ \ escaped */
char *
q_like(struct req *r, const char *s)
{
    char  *p, *o;

    p = req_alloc(r, strlen(s) * 2 + 3);
    if (p == NULL) {
        http_error(r, 500, "out of memory");
        return NULL;
    }

    o = p;
    *o++ = '%';
    for ( ; *s; s++) {
        if (*s == '%' || *s == '_' || *s == '\\') {
            *o++ = '\\';
        }
        *o++ = *s;
    }
    *o++ = '%';
    *o = '\0';

    return p;
}


/*
 * A page of a list: count_sql ("SELECT count(*) FROM ... WHERE true")
 * and select_sql (the same FROM/WHERE with the columns), both with the
 * conditions of s appended, then ORDER BY order, LIMIT and OFFSET.
 * Sends X-Total-Count and Link.  0 with *res, or -1 with the answer sent.
 *
 * With s->key, and select_sql ending in count_sql's FROM/WHERE, the page
 * is found by its keys first and the columns (their subqueries: roles,
 * counts) computed for those rows only: PostgreSQL computes them for
 * every row an OFFSET skips, which made the last pages of 1,000 projects
 * or 100,000 repositories cost hundreds of milliseconds.
 */
int
q_list(struct req *r, struct qsql *s, const char *count_sql,
    const char *select_sql, const char *order, long page, long page_size,
    PGresult **res)
{
    PGresult    *c;
    long long    total;
    const char  *from;
    char         limit[32], offset[32], *sql;
    size_t       flen, slen;
    int          a, b;

    *res = NULL;

    if (http_db(r) == NULL) {
        return -1;
    }

    sql = req_printf(r, "%s%s", count_sql, s->where);
    if (sql == NULL) {
        http_error(r, 500, "out of memory");
        return -1;
    }

    c = db_exec(r->db, sql, s->n, s->params);
    if (c == NULL) {
        http_db_error(r);
        return -1;
    }

    total = db_ll(c, 0, 0);
    PQclear(c);

    snprintf(limit, sizeof(limit), "%ld", page_size);
    snprintf(offset, sizeof(offset), "%lld",
             (long long) (page - 1) * page_size);

    a = q_param(s, limit);
    b = q_param(s, offset);
    if (a < 0 || b < 0) {
        return -1;
    }

    /* the FROM/WHERE both share, when select_sql ends with it */
    from = NULL;
    if (s->key != NULL && strncmp(count_sql, "SELECT count(*) ", 16) == 0) {
        from = count_sql + 15;
        flen = strlen(from);
        slen = strlen(select_sql);

        if (slen <= flen || strcmp(select_sql + slen - flen, from) != 0) {
            from = NULL;
        }
    }

    if (from != NULL) {
        sql = req_printf(r, "%s%s AND %s IN (SELECT %s%s%s ORDER BY %s"
                         " LIMIT $%d::bigint OFFSET $%d::bigint)"
                         " ORDER BY %s", select_sql, s->where, s->key,
                         s->key, from, s->where, order, a, b, order);

    } else {
        sql = req_printf(r, "%s%s ORDER BY %s LIMIT $%d::bigint"
                         " OFFSET $%d::bigint", select_sql, s->where, order,
                         a, b);
    }

    if (sql == NULL) {
        http_error(r, 500, "out of memory");
        return -1;
    }

    *res = db_exec(r->db, sql, s->n, s->params);
    if (*res == NULL) {
        http_db_error(r);
        return -1;
    }

    http_page_links(r, page, page_size, total);

    return 0;
}
