/*
 * authd: /api/v2.0/configurations and /api/v2.0/ldap/ping.
 *
 * The settings an administrator may change at run time, by Harbor's key
 * names.  authd.yml gives the defaults; a PUT stores the keys it names in
 * the properties table and applies them at once; at start the stored
 * values are laid over the file's (settings_load).  Passwords are
 * write-only: a GET never returns them and no log line holds them, and
 * the table keeps them sealed with the secret key (secret.c), as
 * replication's credentials are: "sealed:" and the box, so that a dump
 * of the database does not hold them.
 *
 * The string settings are replaced while request threads read them, so
 * they are read and written under settings_lock: readers that keep a
 * value past the lock (ldap.c) copy it.  The integer settings are single
 * aligned words, read without the lock.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "authd.h"


enum {
    S_STR,
    S_SECRET,           /* write-only */
    S_URLS,             /* ldap:// or ldaps:// URLs, space separated */
    S_PATH,             /* "" or absolute */
    S_INT,
    S_BOOL,
    S_ENUM
};

struct setting {
    const char   *name;
    int           type;
    size_t        off;
    long          min;                  /* S_INT; S_STR..S_PATH: unused */
    long          max;                  /* S_INT; strings: longest */
    const char   *const *enums;         /* S_ENUM: index is the value */
    int           ldap;                 /* SG_LDAP, SG_EMAIL: of a ping */
};

/* one parsed value of a request body */
struct setval {
    int           set;
    const char   *s;                    /* strings and enums' names */
    long          n;                    /* integers, booleans, enums */
};

#define SOFF(f)   offsetof(struct config, f)

#define SG_LDAP   1                     /* the keys of POST /ldap/ping */
#define SG_EMAIL  2                     /* the keys of POST /email/ping */

static const char *const  modes[] = { "db_auth", "ldap_auth", NULL };
static const char *const  restricts[] = { "everyone", "adminonly", NULL };

static const struct setting  settings[] = {
    { "auth_mode", S_ENUM, SOFF(auth_mode), 0, 0, modes, 0 },
    { "project_creation_restriction", S_ENUM, SOFF(creation_restriction),
      0, 0, restricts, 0 },
    { "self_registration", S_BOOL, SOFF(self_registration), 0, 0, NULL, 0 },
    { "token_expiration", S_INT, SOFF(token_expiration), 1, 525600, NULL,
      0 },
    { "robot_token_duration", S_INT, SOFF(robot_token_duration), 1, 36500,
      NULL, 0 },
    { "robot_name_prefix", S_STR, SOFF(robot_name_prefix), 0, 64, NULL, 0 },
    { "outbound_allowlist", S_STR, SOFF(outbound_allowlist), 0, 4096, NULL,
      0 },
    { "ldap_url", S_URLS, SOFF(ldap_url), 0, 1024, NULL, 1 },
    { "ldap_search_dn", S_STR, SOFF(ldap_search_dn), 0, 1024, NULL, 1 },
    { "ldap_search_password", S_SECRET, SOFF(ldap_search_password), 0, 1024,
      NULL, 1 },
    { "ldap_base_dn", S_STR, SOFF(ldap_base_dn), 0, 1024, NULL, 1 },
    { "ldap_filter", S_STR, SOFF(ldap_filter), 0, 1024, NULL, 1 },
    { "ldap_uid", S_STR, SOFF(ldap_uid), 0, 255, NULL, 1 },
    { "ldap_scope", S_INT, SOFF(ldap_scope), 0, 2, NULL, 1 },
    { "ldap_timeout", S_INT, SOFF(ldap_timeout), 1, 300, NULL, 1 },
    { "ldap_verify_cert", S_BOOL, SOFF(ldap_verify_cert), 0, 0, NULL, 1 },
    { "ldap_ca_file", S_PATH, SOFF(ldap_ca_file), 0, 4000, NULL, 1 },
    { "email_host", S_STR, SOFF(email_host), 0, 255, NULL, SG_EMAIL },
    { "email_port", S_INT, SOFF(email_port), 1, 65535, NULL, SG_EMAIL },
    { "email_username", S_STR, SOFF(email_username), 0, 255, NULL,
      SG_EMAIL },
    { "email_password", S_SECRET, SOFF(email_password), 0, 255, NULL,
      SG_EMAIL },
    { "email_from", S_STR, SOFF(email_from), 0, 255, NULL, SG_EMAIL },
    { "email_identity", S_STR, SOFF(email_identity), 0, 255, NULL,
      SG_EMAIL },
    { "email_ssl", S_BOOL, SOFF(email_ssl), 0, 0, NULL, SG_EMAIL },
    { "email_insecure", S_BOOL, SOFF(email_insecure), 0, 0, NULL,
      SG_EMAIL },
    { "ldap_start_tls", S_BOOL, SOFF(ldap_start_tls), 0, 0, NULL, 1 },
    { "ldap_group_base_dn", S_STR, SOFF(ldap_group_base_dn), 0, 1024, NULL,
      1 },
    { "ldap_group_search_filter", S_STR, SOFF(ldap_group_search_filter), 0,
      1024, NULL, 1 },
    { "ldap_group_attribute_name", S_STR, SOFF(ldap_group_attribute_name),
      0, 255, NULL, 1 },
    { "ldap_group_search_scope", S_INT, SOFF(ldap_group_search_scope), 0, 2,
      NULL, 1 },
    { "ldap_group_membership_attribute", S_STR,
      SOFF(ldap_group_membership_attribute), 0, 255, NULL, 1 },
    { "ldap_group_admin_dn", S_STR, SOFF(ldap_group_admin_dn), 0, 1024,
      NULL, 1 },
};

#define NSETTINGS  nitems(settings)

static pthread_rwlock_t  settings_rw = PTHREAD_RWLOCK_INITIALIZER;


void
settings_rdlock(void)
{
    pthread_rwlock_rdlock(&settings_rw);
}


void
settings_unlock(void)
{
    pthread_rwlock_unlock(&settings_rw);
}


static char **
setting_str(struct config *c, const struct setting *s)
{
    return (char **) ((char *) c + s->off);
}


static int *
setting_int(struct config *c, const struct setting *s)
{
    return (int *) ((char *) c + s->off);
}


/* NULL if s is a valid value of st, else why not */
static const char *
setting_check_str(const struct setting *st, const char *s)
{
    const char  *p;

    for (p = s; *p; p++) {
        if ((unsigned char) *p < 0x20 || *p == 0x7f) {
            return "must not contain control characters";
        }
    }

    if (st->type == S_PATH && s[0] != '\0' && s[0] != '/') {
        return "must be an absolute path";
    }

    if (st->type == S_STR && (strcmp(st->name, "ldap_uid") == 0
                              || strcmp(st->name, "ldap_group_attribute_name")
                                 == 0
                              || strcmp(st->name,
                                        "ldap_group_membership_attribute")
                                 == 0)
        && strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                  "0123456789-;.") != strlen(s))
    {
        return "must be an attribute name";
    }

    if (st->type == S_URLS) {
        return config_ldap_urls(s);
    }

    return NULL;
}


/*
 * Parse body's keys into v (indexed as settings[]); only ldap_* keys if
 * ldap_only (SG_LDAP or SG_EMAIL: only those of that ping).  -1 with a
 * 400 sent for an unknown key or a bad value.
 */
static int
settings_parse(struct req *r, json_t *body, int ldap_only,
    struct setval *v)
{
    const struct setting  *st;
    const char            *key, *why;
    json_t                *val;
    size_t                 i;
    int                    e;

    memset(v, 0, NSETTINGS * sizeof(*v));

    json_object_foreach(body, key, val) {
        for (i = 0; i < NSETTINGS; i++) {
            if (strcmp(settings[i].name, key) == 0) {
                break;
            }
        }

        if (i == NSETTINGS || (ldap_only && settings[i].ldap != ldap_only)) {
            http_error(r, 400, "\"%.64s\" is not a configuration key that "
                       "can be set here", key);
            return -1;
        }

        st = &settings[i];

        if (json_is_null(val)) {
            http_error(r, 400, "\"%s\" must not be null", st->name);
            return -1;
        }

        switch (st->type) {

        case S_INT:
            {
                long long  n;

                if (body_int(r, body, key, &n) != 0) {
                    return -1;
                }
                if (n < st->min || n > st->max) {
                    http_error(r, 400, "\"%s\" must be from %ld to %ld",
                               st->name, st->min, st->max);
                    return -1;
                }
                v[i].n = (long) n;
            }
            break;

        case S_BOOL:
            {
                int  b;

                if (body_bool(r, body, key, &b) != 0) {
                    return -1;
                }
                v[i].n = b;
            }
            break;

        case S_ENUM:
            if (body_str(r, body, key, &v[i].s, 64) != 0) {
                return -1;
            }
            for (e = 0; st->enums[e] != NULL; e++) {
                if (strcmp(st->enums[e], v[i].s) == 0) {
                    break;
                }
            }
            if (st->enums[e] == NULL) {
                http_error(r, 400, "\"%s\" must be %s or %s", st->name,
                           st->enums[0], st->enums[1]);
                return -1;
            }
            v[i].n = e;
            break;

        default:
            if (body_str(r, body, key, &v[i].s, (size_t) st->max) != 0) {
                return -1;
            }
            why = setting_check_str(st, v[i].s);
            if (why != NULL) {
                http_error(r, 400, "\"%s\" %s", st->name, why);
                return -1;
            }
            break;
        }

        v[i].set = 1;
    }

    return 0;
}


/* the text a value is stored as in the properties table */
static const char *
setval_text(struct req *r, const struct setting *st, const struct setval *v)
{
    switch (st->type) {
    case S_INT:
        return req_printf(r, "%ld", v->n);
    case S_BOOL:
        return v->n ? "true" : "false";
    default:
        return v->s;
    }
}


/* store v[i] into c; strings are copied.  Under the write lock. */
static int
setval_apply(struct config *c, const struct setting *st,
    const struct setval *v)
{
    char  *s, **sp;

    switch (st->type) {
    case S_INT:
    case S_BOOL:
    case S_ENUM:
        *setting_int(c, st) = (int) v->n;
        return 0;
    }

    s = strdup(v->s);
    if (s == NULL) {
        return -1;
    }

    sp = setting_str(c, st);
    if (*sp != NULL) {
        explicit_bzero(*sp, strlen(*sp));
        free(*sp);
    }
    *sp = s;

    return 0;
}


/* a stored value back into a setval; -1 if it is not valid */
static int
setval_from_text(const struct setting *st, const char *t, struct setval *v)
{
    char  *end;
    int    e;

    memset(v, 0, sizeof(*v));
    v->s = t;

    switch (st->type) {
    case S_INT:
        v->n = strtol(t, &end, 10);
        return *t != '\0' && *end == '\0' && v->n >= st->min
               && v->n <= st->max ? 0 : -1;
    case S_BOOL:
        v->n = strcmp(t, "true") == 0;
        return v->n || strcmp(t, "false") == 0 ? 0 : -1;
    case S_ENUM:
        for (e = 0; st->enums[e] != NULL; e++) {
            if (strcmp(st->enums[e], t) == 0) {
                v->n = e;
                return 0;
            }
        }
        return -1;
    default:
        return strlen(t) <= (size_t) st->max
               && setting_check_str(st, t) == NULL ? 0 : -1;
    }
}


#define SEALED  "sealed:"


/* a password as the table keeps it, malloc()ed; "" stays "" */
static char *
settings_seal(const char *plain)
{
    char  *box, *out;

    if (plain[0] == '\0') {
        return strdup("");
    }

    box = secret_seal(plain);
    if (box == NULL) {
        return NULL;
    }

    if (asprintf(&out, SEALED "%s", box) < 0) {
        out = NULL;
    }

    free(box);

    return out;
}


/* at start: the stored settings over authd.yml's */
int
settings_load(struct dbc *db)
{
    PGresult       *res;
    struct setval   v;
    const char     *k, *t;
    char           *plain, *sealed;
    size_t          i;
    int             row, rc;

    res = db_execv(db, "SELECT k, v FROM properties", 0);
    if (res == NULL) {
        return -1;
    }

    for (row = 0; row < PQntuples(res); row++) {
        k = db_s(res, row, 0);

        for (i = 0; i < NSETTINGS; i++) {
            if (strcmp(settings[i].name, k) == 0) {
                break;
            }
        }

        t = db_s(res, row, 1);
        plain = NULL;

        if (i < NSETTINGS && settings[i].type == S_SECRET
            && strncmp(t, SEALED, sizeof(SEALED) - 1) == 0)
        {
            plain = secret_open(t + sizeof(SEALED) - 1);
            if (plain == NULL) {
                log_warnx("configuration: the stored \"%s\" does not open "
                          "with the secret key %s, authd.yml's is used", k,
                          conf->secret_key);
                continue;
            }
            t = plain;

        } else if (i < NSETTINGS && settings[i].type == S_SECRET
                   && t[0] != '\0')
        {
            /* kept in clear by an older authd: sealed now */
            sealed = settings_seal(t);
            if (sealed == NULL
                || db_cmd(db, "UPDATE properties SET v = $2 WHERE k = $1",
                          2, k, sealed) < 0)
            {
                log_warnx("configuration: \"%s\" could not be sealed", k);
            }
            free(sealed);
        }

        if (i == NSETTINGS || setval_from_text(&settings[i], t, &v) != 0) {
            log_warnx("configuration: the stored value of \"%.64s\" is not "
                      "valid, authd.yml's is used", k);
            secret_free(plain);
            continue;
        }

        rc = setval_apply(conf, &settings[i], &v);
        secret_free(plain);

        if (rc != 0) {
            PQclear(res);
            return -1;
        }
    }

    PQclear(res);

    return 0;
}


/* 1 if users other than admin exist (auth_mode stays), 0, -1 error */
static int
settings_users_exist(struct dbc *db)
{
    PGresult  *res;
    int        n;

    res = db_execv(db, "SELECT EXISTS (SELECT 1 FROM users"
                   " WHERE user_id <> 1 AND NOT deleted)", 0);
    if (res == NULL) {
        return -1;
    }

    n = db_b(res, 0, 0);
    PQclear(res);

    return n;
}


static void
api_config_get(struct req *r)
{
    const struct setting  *st;
    json_t                *j, *v;
    size_t                 i;
    int                    locked;

    locked = settings_users_exist(r->db);
    if (locked < 0) {
        http_db_error(r);
        return;
    }

    j = json_object();

    settings_rdlock();

    for (i = 0; i < NSETTINGS; i++) {
        st = &settings[i];

        switch (st->type) {
        case S_SECRET:
            continue;
        case S_INT:
            v = json_integer(*setting_int(conf, st));
            break;
        case S_BOOL:
            v = json_boolean(*setting_int(conf, st));
            break;
        case S_ENUM:
            v = json_string(st->enums[*setting_int(conf, st)]);
            break;
        default:
            v = json_string(*setting_str(conf, st) != NULL
                            ? *setting_str(conf, st) : "");
            break;
        }

        json_object_set_new(j, st->name, json_pack("{s:o, s:b}",
            "value", v, "editable",
            !(locked && strcmp(st->name, "auth_mode") == 0)));
    }

    settings_unlock();

    http_json(r, 200, j);
}


static void
api_config_put(struct req *r)
{
    struct setval   v[NSETTINGS];
    json_t         *body;
    const char     *text;
    char           *sealed;
    size_t          i;
    long            n;
    int             mode, users;
    char            keys[512];
    size_t          klen;

    body = http_body_json(r);
    if (body == NULL) {
        return;
    }

    if (settings_parse(r, body, 0, v) != 0) {
        goto done;
    }

    /* settings[0] is auth_mode */
    mode = v[0].set ? (int) v[0].n : conf->auth_mode;

    if (mode != conf->auth_mode) {
        users = settings_users_exist(r->db);
        if (users < 0) {
            http_db_error(r);
            goto done;
        }
        if (users) {
            /* Harbor answers this with a 400 too */
            http_error(r, 400, "the auth mode cannot be changed while users "
                       "other than admin exist");
            goto done;
        }
    }

    if (db_begin(r->db) != 0) {
        http_db_error(r);
        goto done;
    }

    keys[0] = '\0';
    klen = 0;

    for (i = 0; i < NSETTINGS; i++) {
        if (!v[i].set) {
            continue;
        }

        text = setval_text(r, &settings[i], &v[i]);
        sealed = NULL;

        if (settings[i].type == S_SECRET) {
            sealed = settings_seal(text);
            if (sealed == NULL) {
                db_rollback(r->db);
                http_error(r, 500, "sealing %s failed", settings[i].name);
                goto done;
            }
            text = sealed;
        }

        n = db_cmd(r->db, "INSERT INTO properties (k, v) VALUES ($1, $2)"
                   " ON CONFLICT (k) DO UPDATE SET v = EXCLUDED.v,"
                   " update_time = now()", 2, settings[i].name, text);
        free(sealed);

        if (n < 0) {
            db_rollback(r->db);
            http_db_error(r);
            goto done;
        }

        /* the names only, for the log: never a value */
        if (klen < sizeof(keys)) {
            klen += (size_t) snprintf(keys + klen, sizeof(keys) - klen,
                                      "%s%s", klen ? " " : "",
                                      settings[i].name);
        }
    }

    if (db_commit(r->db) != 0) {
        http_db_error(r);
        goto done;
    }

    pthread_rwlock_wrlock(&settings_rw);

    for (i = 0; i < NSETTINGS; i++) {
        if (v[i].set && setval_apply(conf, &settings[i], &v[i]) != 0) {
            pthread_rwlock_unlock(&settings_rw);
            log_warnx("configuration: out of memory applying \"%s\"",
                      settings[i].name);
            http_error(r, 500, "the configuration was stored but not "
                       "applied; restart authd");
            goto done;
        }
    }

    pthread_rwlock_unlock(&settings_rw);

    /* logins verified against the old settings are not trusted on */
    auth_forget_all();

    log_info("configuration changed by \"%s\": %s", r->user.name,
             klen < sizeof(keys) ? keys : "(many keys)");
    audit_req(r, 0, "update", "configuration", "configurations");

    http_json(r, 200, json_object());

done:

    json_decref(body);
}


void
api_configurations(struct req *r)
{
    if (http_need_sysadmin(r) != 0 || http_db(r) == NULL) {
        return;
    }

    if (r->method == M_GET) {
        api_config_get(r);
    } else {
        api_config_put(r);
    }
}


/* the index of the setting of that name (it exists) */
static size_t
setval_index(const char *name)
{
    size_t  i;

    for (i = 0; i < NSETTINGS - 1; i++) {
        if (strcmp(settings[i].name, name) == 0) {
            break;
        }
    }

    return i;
}


/* whether the body gave the setting of that name */
static int
setval_given(const struct setval *v, const char *name)
{
    return v[setval_index(name)].set;
}


/* a text setting of the body that differs from the stored one */
static int
setval_moves(const struct setval *v, const char *name, const char *stored)
{
    const struct setval  *x;

    x = &v[setval_index(name)];

    return x->set && x->s != NULL
           && strcmp(x->s, stored != NULL ? stored : "") != 0;
}


/*
 * POST /ldap/ping: the stored LDAP settings, with those of the body laid
 * over them, tried with a bind as the search DN.  The answer says whether
 * it worked and, if not, libldap's reason; it never echoes a setting.
 * The stored search password goes only to the stored ldap_url: a body
 * that names another server gives the password too.
 */
void
api_ldap_ping(struct req *r)
{
    struct setval     v[NSETTINGS];
    struct dir_conf  lc;
    struct config     tmp;
    json_t           *body;
    char              err[256];
    size_t            i;

    if (http_need_sysadmin(r) != 0) {
        return;
    }

    body = NULL;

    if (r->body_len > 0) {
        body = http_body_json(r);
        if (body == NULL) {
            return;
        }
        if (settings_parse(r, body, 1, v) != 0) {
            json_decref(body);
            return;
        }
    } else {
        memset(v, 0, sizeof(v));
    }

    if (dir_conf_get(&lc) != 0) {
        json_decref(body);
        http_error(r, 500, "out of memory");
        return;
    }

    if (setval_moves(v, "ldap_url", lc.url)
        && lc.search_password != NULL && lc.search_password[0] != '\0'
        && !setval_given(v, "ldap_search_password"))
    {
        dir_conf_free(&lc);
        json_decref(body);
        http_error(r, 400, "the stored ldap_search_password is sent only to "
                   "the stored ldap_url: give ldap_search_password with "
                   "another ldap_url");
        return;
    }

    /* the body's values into a copy, then into lc */
    memset(&tmp, 0, sizeof(tmp));
    tmp.ldap_url = lc.url;
    tmp.ldap_search_dn = lc.search_dn;
    tmp.ldap_search_password = lc.search_password;
    tmp.ldap_base_dn = lc.base_dn;
    tmp.ldap_filter = lc.filter;
    tmp.ldap_uid = lc.uid;
    tmp.ldap_ca_file = lc.ca_file;
    tmp.ldap_scope = lc.scope;
    tmp.ldap_timeout = lc.timeout;
    tmp.ldap_verify_cert = lc.verify_cert;
    tmp.ldap_start_tls = lc.start_tls;
    tmp.ldap_group_base_dn = lc.group_base_dn;
    tmp.ldap_group_search_filter = lc.group_filter;
    tmp.ldap_group_attribute_name = lc.group_name_attr;
    tmp.ldap_group_membership_attribute = lc.group_member_attr;
    tmp.ldap_group_admin_dn = lc.group_admin_dn;
    tmp.ldap_group_search_scope = lc.group_scope;

    for (i = 0; i < NSETTINGS; i++) {
        if (v[i].set && setval_apply(&tmp, &settings[i], &v[i]) != 0) {
            break;
        }
    }

    lc.url = tmp.ldap_url;
    lc.search_dn = tmp.ldap_search_dn;
    lc.search_password = tmp.ldap_search_password;
    lc.base_dn = tmp.ldap_base_dn;
    lc.filter = tmp.ldap_filter;
    lc.uid = tmp.ldap_uid;
    lc.ca_file = tmp.ldap_ca_file;
    lc.scope = tmp.ldap_scope;
    lc.timeout = tmp.ldap_timeout;
    lc.verify_cert = tmp.ldap_verify_cert;
    lc.start_tls = tmp.ldap_start_tls;
    lc.group_base_dn = tmp.ldap_group_base_dn;
    lc.group_filter = tmp.ldap_group_search_filter;
    lc.group_name_attr = tmp.ldap_group_attribute_name;
    lc.group_member_attr = tmp.ldap_group_membership_attribute;
    lc.group_admin_dn = tmp.ldap_group_admin_dn;
    lc.group_scope = tmp.ldap_group_search_scope;

    json_decref(body);

    if (i < NSETTINGS) {
        dir_conf_free(&lc);
        http_error(r, 500, "out of memory");
        return;
    }

    if (dir_ping(&lc, err, sizeof(err)) != 0) {
        dir_conf_free(&lc);
        http_error(r, 400, "failed to ping the LDAP server: %s", err);
        return;
    }

    dir_conf_free(&lc);

    http_json(r, 200, json_pack("{s:b}", "success", 1));
}


/*
 * POST /api/v2.0/email/ping: an SMTP session (TLS, login, NOOP) with the
 * email_* keys of the body over the current ones; the stored password is
 * used unless the body has one.
 */
void
api_email_ping(struct req *r)
{
    struct setval     v[NSETTINGS];
    struct mail_conf  mc;
    struct config     tmp;
    json_t           *body;
    char              err[512];
    size_t            i;

    if (http_need_sysadmin(r) != 0) {
        return;
    }

    body = NULL;
    memset(v, 0, sizeof(v));

    if (r->body_len > 0) {
        body = http_body_json(r);
        if (body == NULL) {
            return;
        }
        if (settings_parse(r, body, SG_EMAIL, v) != 0) {
            json_decref(body);
            return;
        }
    }

    if (mail_conf_get(&mc) != 0) {
        json_decref(body);
        http_error(r, 500, "out of memory");
        return;
    }

    /* the stored password goes only to the stored server */
    if ((setval_moves(v, "email_host", mc.host)
         || (setval_given(v, "email_port")
             && v[setval_index("email_port")].n != mc.port))
        && mc.password != NULL && mc.password[0] != '\0'
        && !setval_given(v, "email_password"))
    {
        mail_conf_free(&mc);
        json_decref(body);
        http_error(r, 400, "the stored email_password is sent only to the "
                   "stored email_host and email_port: give email_password "
                   "with another server");
        return;
    }

    memset(&tmp, 0, sizeof(tmp));
    tmp.email_host = mc.host;
    tmp.email_port = mc.port;
    tmp.email_username = mc.username;
    tmp.email_password = mc.password;
    tmp.email_from = mc.from;
    tmp.email_identity = mc.identity;
    tmp.email_ssl = mc.ssl;
    tmp.email_insecure = mc.insecure;

    for (i = 0; i < NSETTINGS; i++) {
        if (v[i].set && setval_apply(&tmp, &settings[i], &v[i]) != 0) {
            break;
        }
    }

    mc.host = tmp.email_host;
    mc.port = tmp.email_port;
    mc.username = tmp.email_username;
    mc.password = tmp.email_password;
    mc.from = tmp.email_from;
    mc.identity = tmp.email_identity;
    mc.ssl = tmp.email_ssl;
    mc.insecure = tmp.email_insecure;

    json_decref(body);

    if (i < NSETTINGS) {
        mail_conf_free(&mc);
        http_error(r, 500, "out of memory");
        return;
    }

    if (mail_ping(&mc, err, sizeof(err)) != 0) {
        mail_conf_free(&mc);
        http_error(r, 400, "failed to reach the mail server: %s", err);
        return;
    }

    mail_conf_free(&mc);
    http_json(r, 200, json_pack("{s:b}", "success", 1));
}
