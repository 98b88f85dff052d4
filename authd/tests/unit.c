/*
 * authd unit tests (TAP): scope parsing, password hashing, the role
 * table, project names, Basic credentials, the SQL splitter used by
 * migrations, and the token key files.  Built by authd/Makefile as
 * authd/t_unit and run by t/authd-unit.t.
 */

#include <sys/stat.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>

#include <curl/curl.h>
#include <sodium.h>

#include "../../t/unit/tap.h"
#include "authd.h"


struct config  *conf;
volatile int    authd_quit;


static void
test_scope(void)
{
    struct scope  sc;
    char          err[256], big[AUTHD_SCOPE_MAX + 10];
    const char   *s, *start, *next;
    size_t        len;
    int           n;

#define PARSE(str) scope_parse(str, strlen(str), &sc, err, sizeof(err))

    ok(PARSE("repository:library/nginx:pull,push") == 0, "simple scope");
    is_str(sc.type, "repository", "type");
    is_str(sc.name, "library/nginx", "name");
    is_int(sc.nactions, 2, "two actions");
    is_str(sc.actions[0], "pull", "first action");
    is_str(sc.actions[1], "push", "second action");

    ok(PARSE("repository:localhost:5000/team/app:pull") == 0,
       "name with a host port");
    is_str(sc.name, "localhost:5000/team/app", "split from the right");
    is_str(sc.actions[0], "pull", "action after the last colon");

    ok(PARSE("registry:catalog:*") == 0, "catalog scope");
    is_str(sc.actions[0], "*", "star action");

    ok(PARSE("repository:a/b:pull,pull,,push,pull") == 0, "duplicates");
    is_int(sc.nactions, 2, "duplicates and empty actions dropped");

    ok(PARSE("repository(plugin):a/b:pull") == 0, "type with a class");
    is_str(sc.type, "repository(plugin)", "class kept in the type");

    ok(PARSE("repository:a/b") != 0, "two parts refused: %s", err);
    ok(PARSE("repository") != 0, "one part refused");
    ok(PARSE(":a/b:pull") != 0, "empty type refused");
    ok(PARSE("repository::pull") != 0, "empty name refused: %s", err);
    ok(PARSE("repository:a/b:") != 0, "no actions refused: %s", err);
    ok(PARSE("repository:a/b:,") != 0, "only commas refused");
    ok(PARSE("Repository:a/b:pull") != 0, "uppercase type refused");
    ok(PARSE("repository:a/b:PULL") != 0, "uppercase action refused");
    ok(PARSE("repository:a/b:pu ll") != 0, "space in action refused");
    ok(PARSE("repository:a/b:a,b,c,d,e,f,g,h,i") != 0,
       "too many actions refused: %s", err);
    ok(PARSE("repository:a/b:abcdefghijklmnopq") != 0,
       "too long action refused");
    ok(scope_parse("", 0, &sc, err, sizeof(err)) != 0, "empty refused");

    memset(big, 'a', sizeof(big));
    memcpy(big, "repository:", 11);
    memcpy(big + sizeof(big) - 6, ":pull", 6);
    ok(PARSE(big) != 0, "over-long scope refused: %s", err);

    ok(scope_parse("repository:a\0b:pull", 19, &sc, err, sizeof(err)) != 0,
       "NUL refused");

    s = "  repository:a/b:pull   registry:catalog:* repository:c/d:push ";
    n = 0;
    for (start = s; scope_split(start, &start, &len, &next); start = next) {
        n++;
        if (n == 2) {
            is_mem(start, len, "registry:catalog:*", 18, "second item");
        }
    }
    is_int(n, 3, "three space-separated scopes");

    ok(!scope_split("    ", &start, &len, &next), "blanks only: none");
}


static void
test_passwords(void)
{
    char  h1[256], h2[256], err[256];

    ok(auth_hash("S3cret-pass", 11, h1, sizeof(h1)) == 0, "hash");
    ok(strncmp(h1, "$argon2id$", 10) == 0, "argon2id: %.30s", h1);
    ok(auth_hash("S3cret-pass", 11, h2, sizeof(h2)) == 0, "hash again");
    ok(strcmp(h1, h2) != 0, "salted: two hashes differ");
    ok(auth_verify(h1, "S3cret-pass", 11) == 0, "right password verifies");
    ok(auth_verify(h1, "S3cret-pasS", 11) != 0, "wrong password fails");
    ok(auth_verify(h1, "S3cret-pass", 10) != 0, "prefix fails");
    ok(auth_verify("", "S3cret-pass", 11) != 0, "empty hash fails");
    ok(auth_verify(NULL, "x", 1) != 0, "no hash fails");
    ok(auth_verify("$argon2id$garbage", "x", 1) != 0, "garbage hash fails");
    ok(auth_hash("x", 1, h1, 16) != 0, "small buffer refused");

    ok(auth_password_ok("Harbor12345", err, sizeof(err)), "Harbor12345 ok");
    ok(!auth_password_ok("harbor12345", err, sizeof(err)), "no upper");
    ok(!auth_password_ok("HARBOR12345", err, sizeof(err)), "no lower");
    ok(!auth_password_ok("HarborHarbor", err, sizeof(err)), "no digit");
    ok(!auth_password_ok("Ha1", err, sizeof(err)), "too short: %s", err);
}


static void
test_rbac(void)
{
    unsigned  pa, ma, de, gu, lg;
    json_t   *t;

    pa = RBAC_ROLE(ROLE_PROJECT_ADMIN);
    ma = RBAC_ROLE(ROLE_MAINTAINER);
    de = RBAC_ROLE(ROLE_DEVELOPER);
    gu = RBAC_ROLE(ROLE_GUEST);
    lg = RBAC_ROLE(ROLE_LIMITED_GUEST);

    ok(rbac_allowed(pa, 0, 0, "repository", "delete"), "admin deletes");
    ok(rbac_allowed(ma, 0, 0, "repository", "delete"), "maintainer deletes");
    ok(!rbac_allowed(de, 0, 0, "repository", "delete"),
       "developer does not delete");
    ok(rbac_allowed(de, 0, 0, "repository", "push"), "developer pushes");
    ok(!rbac_allowed(gu, 0, 0, "repository", "push"), "guest does not push");
    ok(rbac_allowed(lg, 0, 0, "repository", "pull"), "limitedGuest pulls");
    ok(!rbac_allowed(lg, 0, 0, "member", "read"),
       "limitedGuest does not see members");
    ok(rbac_allowed(gu, 0, 0, "member", "read"), "guest sees members");
    ok(!rbac_allowed(ma, 0, 0, "member", "create"),
       "maintainer does not manage members");
    ok(rbac_allowed(0, 0, 1, "repository", "pull"), "public: pull");
    ok(!rbac_allowed(0, 0, 1, "repository", "push"), "public: no push");
    ok(!rbac_allowed(0, 0, 0, "repository", "pull"), "private: nothing");
    ok(rbac_allowed(0, 1, 0, "project", "delete"), "sysadmin: everything");
    ok(!rbac_allowed(pa, 1, 1, "repository", "frobnicate"),
       "unknown action: nobody");
    ok(rbac_allowed(gu | de, 0, 0, "repository", "push"),
       "roles are a union");

    is_int(rbac_roles_parse("1,4"), pa | ma, "roles parsed");
    is_int(rbac_roles_parse(NULL), 0, "no roles");
    is_int(rbac_roles_parse("9,3"), gu, "unknown role ignored");
    is_int(rbac_best_role(gu | ma), ROLE_MAINTAINER, "maintainer over guest");
    is_int(rbac_best_role(de | ma), ROLE_MAINTAINER,
           "maintainer over developer");
    is_str(rbac_role_name(5), "limitedGuest", "role name");

    t = rbac_table();
    ok(json_array_size(json_object_get(t, "roles")) == 5, "table: 5 roles");
    ok(json_array_size(json_object_get(t, "rules")) >= 10, "table: rules");
    json_decref(t);
}


static void
test_project_names(void)
{
    char  big[300];

    ok(project_name_valid("library"), "library");
    ok(project_name_valid("a"), "one character");
    ok(project_name_valid("my-team.app_1"), "separators");
    ok(project_name_valid("123"), "digits only");
    ok(!project_name_valid(""), "empty");
    ok(!project_name_valid("Library"), "uppercase");
    ok(!project_name_valid("-a"), "leading separator");
    ok(!project_name_valid("a-"), "trailing separator");
    ok(!project_name_valid("a--b"), "double separator");
    ok(!project_name_valid("a/b"), "slash");
    ok(!project_name_valid("a b"), "space");
    ok(!project_name_valid("a#1"), "hash");

    memset(big, 'a', sizeof(big));
    big[255] = '\0';
    ok(project_name_valid(big), "255 characters");
    big[255] = 'a';
    big[256] = '\0';
    ok(!project_name_valid(big), "256 characters");
}


static void
test_basic(void)
{
    char    u[256], p[257];
    size_t  plen;

    ok(http_basic("Basic YWRtaW46SGFyYm9yMTIzNDU=", u, sizeof(u), p,
                  sizeof(p), &plen) == 0, "Basic decoded");
    is_str(u, "admin", "username");
    is_str(p, "Harbor12345", "password");
    is_int(plen, 11, "password length");

    /* "a:b:c": the password may hold a colon */
    ok(http_basic("basic YTpiOmM=", u, sizeof(u), p, sizeof(p), &plen) == 0,
       "scheme is case-insensitive");
    is_str(p, "b:c", "password with a colon");

    ok(http_basic("Basic YWRtaW4=", u, sizeof(u), p, sizeof(p), &plen) != 0,
       "no colon refused");
    ok(http_basic("Basic !!!!", u, sizeof(u), p, sizeof(p), &plen) != 0,
       "bad base64 refused");
    ok(http_basic("Bearer abc", u, sizeof(u), p, sizeof(p), &plen) != 0,
       "other scheme refused");
    ok(http_basic("Basic OnB3", u, sizeof(u), p, sizeof(p), &plen) == 0
       && u[0] == '\0', "empty username decodes (and fails later)");
}


static int
split_all(const char *sql, char out[][128], int max)
{
    size_t  pos, s, e, len;
    int     n, rc;

    len = strlen(sql);
    pos = 0;
    n = 0;

    while ((rc = db_sql_split(sql, len, &s, &e, &pos)) == 1 && n < max) {
        snprintf(out[n++], 128, "%.*s", (int) (e - s), sql + s);
    }

    return rc < 0 ? -1 : n;
}


static void
test_sql_split(void)
{
    char  st[8][128];

    is_int(split_all("SELECT 1; SELECT 2;", st, 8), 2, "two statements");
    is_str(st[1], "SELECT 2", "second statement");

    is_int(split_all("-- a; comment\nSELECT ';' ; /* b; */ SELECT 2", st, 8),
           2, "semicolons in comments and strings");
    is_str(st[0], "SELECT ';' ", "quoted semicolon kept");
    is_str(st[1], "SELECT 2", "last statement without semicolon");

    is_int(split_all("SELECT $$a;b$$; SELECT $f$x;$$;y$f$;", st, 8), 2,
           "dollar quotes");
    is_str(st[1], "SELECT $f$x;$$;y$f$", "tagged dollar quote");

    is_int(split_all("SELECT 'it''s;'; SELECT E'a\\';b';", st, 8), 2,
           "doubled quote and E-string escape");

    is_int(split_all("SELECT \"a;b\" FROM t;", st, 8), 1,
           "quoted identifier");

    is_int(split_all("  ;; -- nothing\n", st, 8), 0, "nothing");
    is_int(split_all("SELECT 'open;", st, 8), -1, "unterminated quote");
    is_int(split_all("SELECT 1 /* open", st, 8), -1,
           "unterminated comment");
    is_int(split_all("/* a /* nested; */ still; */ SELECT 1;", st, 8), 1,
           "nested comments");
}


static void
test_keys(void)
{
    struct token_key  k1, k2;
    char              dir[] = "/tmp/authd-unit-XXXXXX", key[256], cert[256];
    char              other[256];
    struct stat       st;
    FILE             *f, *g;
    char              buf[8192];
    size_t            n;

    if (mkdtemp(dir) == NULL) {
        ok(0, "mkdtemp");
        return;
    }

    snprintf(key, sizeof(key), "%s/key.pem", dir);
    snprintf(cert, sizeof(cert), "%s/cert.pem", dir);
    snprintf(other, sizeof(other), "%s/other.pem", dir);

    ok(keys_load(key, cert, TOKEN_RS256, 2048, &k1) == 0,
       "key and certificate created");
    ok(stat(key, &st) == 0 && (st.st_mode & 0777) == 0600, "key is 0600");
    ok(stat(cert, &st) == 0 && (st.st_mode & 0777) == 0644, "cert is 0644");
    is_int(strlen(k1.kid), HB_KID_LEN, "kid");
    ok(k1.x5c != NULL && strlen(k1.x5c) > 100, "x5c");

    ok(keys_load(key, cert, TOKEN_RS256, 2048, &k2) == 0, "loaded again");
    is_str(k2.kid, k1.kid, "same key on the next start");
    is_str(k2.x5c, k1.x5c, "same certificate on the next start");
    keys_free(&k2);

    /* certificate gone: made again for the same key */
    unlink(cert);
    ok(keys_load(key, cert, TOKEN_RS256, 2048, &k2) == 0,
       "certificate made again");
    is_str(k2.kid, k1.kid, "for the same key");
    keys_free(&k2);

    /* a certificate of another key is refused */
    ok(keys_load(other, cert, TOKEN_RS256, 2048, &k2) != 0,
       "key missing but certificate present: refused");
    unlink(cert);
    ok(keys_load(other, cert, TOKEN_RS256, 2048, &k2) == 0, "another key");
    keys_free(&k2);

    f = fopen(cert, "r");
    n = f != NULL ? fread(buf, 1, sizeof(buf), f) : 0;
    if (f != NULL) {
        fclose(f);
    }
    snprintf(other, sizeof(other), "%s/cert2.pem", dir);
    g = fopen(other, "w");
    if (g != NULL) {
        fwrite(buf, 1, n, g);
        fclose(g);
    }
    ok(keys_load(key, other, TOKEN_RS256, 2048, &k2) != 0,
       "certificate of another key refused");

    /* ES256: a P-256 key and its certificate; the key file decides */
    snprintf(other, sizeof(other), "%s/ec.pem", dir);
    snprintf(buf, sizeof(buf), "%s/ec-cert.pem", dir);
    ok(keys_load(other, buf, TOKEN_ES256, 2048, &k2) == 0,
       "EC key and certificate created");
    is_str(hb_jwt_key_alg(k2.key), "ES256", "it signs ES256");
    is_int(strlen(k2.kid), HB_KID_LEN, "EC kid");
    keys_free(&k2);
    ok(keys_load(other, buf, TOKEN_ES256, 2048, &k2) == 0, "EC loaded again");
    keys_free(&k2);
    ok(keys_load(other, buf, TOKEN_RS256, 2048, &k2) != 0,
       "EC key while RS256 is asked: refused");
    ok(keys_load(key, cert, TOKEN_ES256, 2048, &k2) != 0,
       "RSA key while ES256 is asked: refused");

    keys_free(&k1);

    snprintf(buf, sizeof(buf), "rm -rf '%s'", dir);
    ok(system(buf) == 0, "cleaned up");
}

static void
test_query(void)
{
    static const struct qfield  f[] = {
        { "name", "r.name", Q_TEXT, Q_EQ | Q_FUZZY | Q_ANY, NULL },
        { "n", "r.n", Q_INT, Q_EQ | Q_RANGE, NULL },
        { "t", "r.t", Q_TIME, Q_RANGE, NULL },
        { "tags", "t.name", Q_TEXT, Q_EQ | Q_ALL,
          "EXISTS (SELECT 1 FROM tag t WHERE %s)" },
    };
    static const struct qsort  so[] = {
        { "name", "r.name" }, { "n", "r.n" },
    };
    struct qitem  items[Q_ITEMS_MAX];
    struct qsql   q;
    struct req    r;
    const char   *o;
    char         *l;
    int           n;

    ok(q_time_valid("2026-11-28"), "time: a date");
    ok(q_time_valid("2026-11-28 10:00:00"), "time: Harbor's form");
    ok(q_time_valid("2026-11-28T10:00:00.123Z"), "time: RFC 3339");
    ok(q_time_valid("2026-11-28T10:00+02:00"), "time: with a zone");
    ok(!q_time_valid("yesterday"), "time: words refused");
    ok(!q_time_valid("2026-11-28 10:00:00'; --"), "time: injection refused");
    ok(!q_time_valid("2026-1-28"), "time: short month refused");
    ok(!q_time_valid(""), "time: empty refused");

    memset(&r, 0, sizeof(r));
    ok(q_parse(&r, "name=~a_b,n=[1~5],t=[2026-01-01 00:00:00~],"
               "tags=(x y)", items, &n) == 0 && n == 4, "q: four items");
    ok(items[0].op == Q_FUZZY && strcmp(items[0].v[0], "a_b") == 0,
       "q: fuzzy");
    ok(items[1].op == Q_RANGE && strcmp(items[1].v[1], "5") == 0,
       "q: range");
    ok(items[2].op == Q_RANGE && items[2].v[1] == NULL
       && strcmp(items[2].v[0], "2026-01-01 00:00:00") == 0,
       "q: open range with spaces and colons");
    ok(items[3].op == Q_ALL && items[3].nv == 2, "q: all of");

    q_init(&q, &r);
    ok(q_where(&q, items, n, f, nitems(f)) == 0, "q: where");
    ok(strstr(q.where, "r.name LIKE $1") != NULL, "q: LIKE with a parameter");
    ok(strcmp(q.params[0], "%a\\_b%") == 0, "q: _ escaped: %s",
       q.params[0]);
    ok(strstr(q.where, "r.n >= $2::bigint AND r.n <= $3::bigint") != NULL,
       "q: range as two parameters");
    ok(strstr(q.where, "EXISTS (SELECT 1 FROM tag t WHERE t.name = $5::text)")
       != NULL && strstr(q.where, "t.name = $6::text") != NULL,
       "q: all of, one EXISTS each");
    ok(q.n == 6, "q: six parameters");

    /* Harbor's adapter: name={'a' 'b'}; quotes and spaces trimmed */
    memset(&r, 0, sizeof(r));
    ok(q_parse(&r, "name={'a' \"123\" '' b},n=[ '1' ~ 5 ]", items, &n) == 0
       && n == 2, "q: quoted set and range");
    ok(items[0].op == Q_ANY && items[0].nv == 3
       && strcmp(items[0].v[0], "a") == 0 && strcmp(items[0].v[1], "123") == 0
       && strcmp(items[0].v[2], "b") == 0, "q: set unquoted, '' skipped");
    ok(strcmp(items[1].v[0], "1") == 0 && strcmp(items[1].v[1], "5") == 0,
       "q: range values unquoted");

    memset(&r, 0, sizeof(r));
    n = 0;
    ok(q_set(&r, items, &n, "name", Q_FUZZY, "x") == 0 && n == 1
       && items[0].op == Q_FUZZY, "q_set: added");
    ok(q_set(&r, items, &n, "name", Q_EQ, "y") == 0 && n == 1
       && items[0].op == Q_EQ && strcmp(items[0].v[0], "y") == 0,
       "q_set: replaces");
    ok(q_set(&r, items, &n, "name", Q_EQ, "") == 0 && n == 1,
       "q_set: empty is no condition");

    memset(&r, 0, sizeof(r));
    q_init(&q, &r);
    ok(q_parse(&r, "bogus=1", items, &n) == 0
       && q_where(&q, items, n, f, nitems(f)) != 0 && r.status == 400,
       "q: unknown key 400");

#define Q_BAD(s, why)                                                       \
    memset(&r, 0, sizeof(r));                                               \
    q_init(&q, &r);                                                         \
    ok((q_parse(&r, s, items, &n) != 0                                     \
        || q_where(&q, items, n, f, nitems(f)) != 0) && r.status == 400,   \
       "q: %s refused (%s)", s, why)

    Q_BAD("name", "no =");
    Q_BAD("name=a,name=b", "twice");
    Q_BAD("n=x", "not a number");
    Q_BAD("n=~1", "fuzzy on a number");
    Q_BAD("t=2026-01-01", "exact where only ranges go");
    Q_BAD("t=[x~]", "not a time");
    Q_BAD("n=[~]", "empty range");
    Q_BAD("name=[a~b", "not closed");
    Q_BAD("name={}", "no values");
    Q_BAD("name={'' \"\"}", "only empty values");
    Q_BAD("n=[1~2~3]", "two ~ in a range");
    Q_BAD("na me=1", "bad key");

    memset(&r, 0, sizeof(r));
    o = q_order(&r, "-name,n", so, nitems(so), "d");
    ok(o != NULL && strcmp(o, "r.name DESC NULLS LAST, r.n ASC NULLS FIRST")
       == 0, "sort: %s", o != NULL ? o : "(null)");
    ok(strcmp(q_order(&r, NULL, so, nitems(so), "d"), "d") == 0,
       "sort: default");
    ok(q_order(&r, "name;drop", so, nitems(so), "d") == NULL,
       "sort: unknown key refused");
    ok(q_order(&r, "-", so, nitems(so), "d") == NULL, "sort: - alone");

    l = q_like(&r, "50%_a\\");
    ok(l != NULL && strcmp(l, "%50\\%\\_a\\\\%") == 0, "like: %s",
       l != NULL ? l : "(null)");
}


/* the allocation-failure hook: req_alloc() fails while unit_nomem is set */
static int  unit_nomem;

static void *
unit_calloc(size_t n, size_t size)
{
    return unit_nomem ? NULL : calloc(n, size);
}


/*
 * The token service never grants what it meant to refuse, even when the
 * text of a refusal cannot be allocated.
 */
static void
test_token_nomem(void)
{
    static const char *acts[] = { "pull", "push", "delete", "frob" };
    struct project     p;
    struct req         r;
    const char        *reason[4];
    int                grant[4], nomem, i;

    req_calloc = unit_calloc;

    for (nomem = 0; nomem <= 1; nomem++) {
        memset(&r, 0, sizeof(r));
        memset(&p, 0, sizeof(p));
        snprintf(p.name, sizeof(p.name), "team");

        /* a guest of a private project: pull only */
        r.user.id = 7;
        p.roles = RBAC_ROLE(ROLE_GUEST);
        unit_nomem = nomem;
        token_repo_decide(&r, "team/app", "team", &p, acts, 4, grant, reason);
        unit_nomem = 0;
        ok(grant[0] && !grant[1] && !grant[2] && !grant[3],
           "guest%s: pull granted, push, delete, frob refused",
           nomem ? ", out of memory" : "");
        for (i = 1; i < 4; i++) {
            ok(reason[i] != NULL && reason[i][0] != '\0',
               "guest%s: %s refused with a reason: %s",
               nomem ? ", out of memory" : "", acts[i],
               reason[i] != NULL ? reason[i] : "(null)");
        }
        if (!nomem) {
            ok(strstr(reason[1], "allows only pull") != NULL,
               "the reason names the role's rights");
        }

        /* anonymous, private project */
        r.user.id = 0;
        p.roles = 0;
        unit_nomem = nomem;
        token_repo_decide(&r, "team/app", "team", &p, acts, 3, grant, reason);
        unit_nomem = 0;
        ok(!grant[0] && !grant[1] && !grant[2] && reason[0] != NULL,
           "anonymous, private project%s: nothing granted",
           nomem ? ", out of memory" : "");

        /* no such project, a logged-in user */
        r.user.id = 7;
        unit_nomem = nomem;
        token_repo_decide(&r, "gone/app", "gone", NULL, acts, 3, grant,
                          reason);
        unit_nomem = 0;
        ok(!grant[0] && !grant[1] && !grant[2] && reason[0] != NULL,
           "missing project%s: nothing granted",
           nomem ? ", out of memory" : "");

        /* no project part, and an invalid name */
        unit_nomem = nomem;
        token_repo_decide(&r, "alpine", NULL, NULL, acts, 1, grant, reason);
        unit_nomem = 0;
        ok(!grant[0] && reason[0] != NULL, "no project part%s: refused",
           nomem ? ", out of memory" : "");
        unit_nomem = nomem;
        token_repo_decide(&r, "Team/../app", NULL, NULL, acts, 1, grant,
                          reason);
        unit_nomem = 0;
        ok(!grant[0] && reason[0] != NULL, "invalid name%s: refused",
           nomem ? ", out of memory" : "");

        /* a system administrator gets everything there is */
        r.user.sysadmin = 1;
        unit_nomem = nomem;
        token_repo_decide(&r, "team/app", "team", &p, acts, 4, grant, reason);
        unit_nomem = 0;
        ok(grant[0] && grant[1] && grant[2] && !grant[3],
           "sysadmin%s: pull, push, delete; not frob",
           nomem ? ", out of memory" : "");

        req_free_all(&r);
    }

    req_calloc = calloc;
}


/* the SSRF guard on address literals (no lookup leaves the machine) */
static int
outbound_ok(const char *url, const char *allow)
{
    struct curl_slist  *pin;
    CURL               *c;
    char                err[256];

    conf->outbound_allowlist = (char *) allow;
    c = curl_easy_init();
    pin = c != NULL ? outbound_pin(c, url, err, sizeof(err)) : NULL;
    curl_slist_free_all(pin);
    curl_easy_cleanup(c);
    conf->outbound_allowlist = NULL;

    return pin != NULL;
}


static void
test_outbound(void)
{
    static const char *const  refused[] = {
        "http://127.0.0.1/", "http://127.9.9.9:8080/x", "http://[::1]:80/",
        "http://0.0.0.0/", "http://[::]/", "http://10.1.2.3/",
        "http://172.16.0.1/", "http://172.31.255.255/", "http://192.168.1.1/",
        "http://169.254.169.254/latest/meta-data/", "http://[fe80::1]/",
        "http://[fd12::1]/", "http://224.0.0.1/", "http://[ff02::1]/",
        "http://100.64.0.1/", "http://[::ffff:10.0.0.1]/",
        "http://[::ffff:127.0.0.1]/", "http://255.255.255.255/",
        "ftp://192.0.2.1/", "file:///etc/passwd", "gopher://192.0.2.1/",
        "not a url", "http://192.0.0.170/", "http://198.18.0.1/",
        "http://198.19.255.1/", "http://[::10.0.0.1]/", "http://[::8.8.8.8]/",
        "http://[64:ff9b::a00:1]/", "http://[64:ff9b:1::1]/",
    };
    size_t  i;

    for (i = 0; i < nitems(refused); i++) {
        ok(!outbound_ok(refused[i], NULL), "outbound refuses %s",
           refused[i]);
    }

    ok(outbound_ok("http://192.0.2.1/", NULL), "a public address passes");
    ok(outbound_ok("https://172.32.0.1:8443/", NULL), "172.32/16 is public");
    ok(outbound_ok("http://[2001:db8::1]/", NULL), "a v6 public address");

    ok(outbound_ok("http://10.1.2.3/", "10.0.0.0/8"), "a CIDR allows");
    ok(!outbound_ok("http://10.1.2.3/", "10.1.3.0/24"), "another does not");
    ok(outbound_ok("http://127.0.0.1:9/", " 192.0.2.0/24 , 127.0.0.1"),
       "an address in a list with spaces allows");
    ok(outbound_ok("http://[fd12::1]/", "[fd00::]/8"), "a v6 CIDR allows");
    ok(outbound_ok("http://[::1]/", "::1"), "a v6 address allows");
    ok(!outbound_ok("http://10.1.2.3/", "10.0.0.0/x,10.0.0.0/33,bad"),
       "malformed items allow nothing");
    ok(outbound_ok("http://10.1.2.3/", "10.1.2.3"), "a host named");
    ok(outbound_ok("http://198.20.0.1/", NULL), "198.20/16 is public");

}


int
main(void)
{
    conf = calloc(1, sizeof(struct config));
    if (conf == NULL || auth_init() != 0) {
        return 255;
    }

    conf->cred_cache_ttl = 60;
    log_setlevel(LOG_CRIT);

    test_scope();
    test_passwords();
    test_rbac();
    test_project_names();
    test_basic();
    test_sql_split();
    test_keys();
    test_query();
    test_token_nomem();
    test_outbound();

    free(conf);

    return done_testing();
}
