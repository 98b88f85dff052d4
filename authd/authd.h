/*
 * authd: the token service and REST API of ngx-harbor.
 *
 * One header for the whole daemon, prototypes grouped by file.
 */

#ifndef AUTHD_H
#define AUTHD_H

#include <stdarg.h>
#include <stddef.h>
#include <time.h>

#include <jansson.h>
#include <libpq-fe.h>
#include <openssl/evp.h>

#include "harbor_jwt.h"


#define AUTHD_VERSION        "0.1.0"
#define AUTHD_HARBOR_VERSION "v2.11.0-ngx-harbor-" AUTHD_VERSION

#define AUTHD_CONF           "/etc/harbor/authd.yml"

#define AUTHD_BODY_MAX       (64 * 1024)     /* request bodies */
#define AUTHD_AUTH_MAX       1024            /* Authorization header */
#define AUTHD_USER_MAX       255             /* username bytes */
#define AUTHD_PASSWORD_MAX   256             /* password bytes */
#define AUTHD_SCOPES_MAX     32              /* scopes per token request */
#define AUTHD_SCOPE_MAX      512             /* bytes of one scope */
#define AUTHD_SEGS_MAX       16              /* path segments */
#define AUTHD_PAGE_SIZE      10
#define AUTHD_PAGE_SIZE_MAX  100

#define AUTHD_DEFAULT_ADMIN_PASSWORD  "Harbor12345"

/* Harbor's role ids */
#define ROLE_PROJECT_ADMIN   1
#define ROLE_DEVELOPER       2
#define ROLE_GUEST           3
#define ROLE_MAINTAINER      4
#define ROLE_LIMITED_GUEST   5
#define ROLE_MAX             5

#define AUTH_MODE_DB         0
#define AUTH_MODE_LDAP       1

#define CREATE_EVERYONE      0
#define CREATE_ADMINONLY     1

#define nitems(a)            (sizeof(a) / sizeof((a)[0]))


/* config.c */

struct config {
    char   *path;

    /* Harbor's keys */
    char   *hostname;
    char   *external_url;
    char   *admin_password;
    int     token_expiration;           /* minutes */
    int     creation_restriction;       /* CREATE_* */
    int     self_registration;
    int     auth_mode;                  /* AUTH_MODE_* */
    int     log_level;                  /* LOG_* of syslog.h */

    char   *db_host;
    int     db_port;
    char   *db_user;
    char   *db_password;
    char   *db_name;
    int     db_max_open;
    char   *db_sslmode;
    int     db_connect_timeout;         /* seconds */
    int     db_statement_timeout;       /* milliseconds */

    char   *ldap_url;
    char   *ldap_search_dn;
    char   *ldap_search_password;
    char   *ldap_base_dn;
    char   *ldap_filter;
    char   *ldap_uid;
    int     ldap_scope;
    int     ldap_timeout;
    int     ldap_verify_cert;
    char   *ldap_group_base_dn;
    char   *ldap_group_search_filter;
    char   *ldap_group_attribute_name;
    char   *ldap_group_admin_dn;
    char   *ldap_group_membership_attribute;

    /* ours, under "authd:" */
    char   *listen;                     /* unix socket path */
    char   *listen_group;
    int     listen_port;                /* 127.0.0.1 TCP port, 0: none */
    char   *user;                       /* drop privileges to it */
    char   *token_key;
    char   *token_cert;
    int     token_key_bits;
    char   *token_service;              /* aud */
    char   *token_issuer;               /* iss */
    int     workers;
    int     request_timeout;            /* seconds */
    int     cred_cache_ttl;             /* seconds, 0: off */
    int     db_wait;                    /* seconds to wait for it at start */
};

extern struct config  *conf;

struct config *config_parse(const char *path);
void config_free(struct config *c);


/* log.c */

void log_init(int debug, int facility);
void log_setlevel(int level);
int log_getlevel(void);
void log_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_warnx(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void logit(int pri, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void vlog(int pri, const char *fmt, va_list ap)
    __attribute__((format(printf, 2, 0)));
__attribute__((noreturn)) void fatal(const char *fmt, ...)
    __attribute__((format(printf, 1, 2)));
__attribute__((noreturn)) void fatalx(const char *fmt, ...)
    __attribute__((format(printf, 1, 2)));


/* db.c */

#define DB_OK                0
#define DB_ERR               1           /* query failed */
#define DB_ERR_CONN          2           /* connection lost or unavailable */
#define DB_ERR_CONFLICT      3           /* unique violation */

struct dbc {
    PGconn     *pg;
    int         busy;
    int         err;                     /* DB_* of the last call */
};

struct migration {
    int          version;
    const char  *name;
    const char  *sql;
};

extern const struct migration  migrations[];     /* schema_sql.c */

int db_init(void);
void db_close(void);
struct dbc *db_get(void);
void db_put(struct dbc *c);
PGresult *db_exec(struct dbc *c, const char *sql, int n,
    const char *const *values);
PGresult *db_execv(struct dbc *c, const char *sql, int n, ...);
long db_cmd(struct dbc *c, const char *sql, int n, ...);
int db_begin(struct dbc *c);
int db_commit(struct dbc *c);
void db_rollback(struct dbc *c);
int db_ping(struct dbc *c);
int db_migrate(struct dbc *c);
int db_bootstrap(struct dbc *c, const char *admin_password);
int db_sql_split(const char *sql, size_t len, size_t *start, size_t *end,
    size_t *pos);
long long db_ll(PGresult *r, int row, int col);
const char *db_s(PGresult *r, int row, int col);
int db_b(PGresult *r, int row, int col);
json_t *db_json_s(PGresult *r, int row, int col);

/* timestamps as Harbor writes them, UTC with milliseconds */
#define DB_TIME(col) \
    "to_char(" col " AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"')"


/* keys.c */

struct token_key {
    EVP_PKEY   *key;
    char        kid[HB_KID_SIZE];
    char       *x5c;                    /* base64 DER certificate */
};

extern struct token_key  token_key;

int keys_load(const char *keypath, const char *certpath, int bits,
    struct token_key *tk);
void keys_free(struct token_key *tk);


/* auth.c */

#define AUTH_OK              0
#define AUTH_FAIL            1
#define AUTH_ERROR           2           /* database unavailable */

struct user {
    long long   id;                     /* 0: anonymous */
    char        name[AUTHD_USER_MAX + 1];
    int         sysadmin;
};

int auth_init(void);
int auth_hash(const char *pw, size_t len, char *out, size_t outlen);
int auth_verify(const char *hash, const char *pw, size_t len);
int auth_user(struct dbc *db, const char *name, size_t nlen, const char *pw,
    size_t plen, struct user *u);
void auth_forget(long long user_id);
int auth_password_ok(const char *pw, char *err, size_t errlen);
int auth_is_default_admin(struct dbc *db);


/* rbac.c */

struct rbac_rule {
    const char  *resource;
    const char  *action;
    unsigned     roles;                 /* bit (1 << role_id) per role */
    int          public;                /* non-members of public projects */
};

#define RBAC_ROLE(r)         (1u << (r))

const char *rbac_role_name(int role);
int rbac_role_valid(int role);
int rbac_allowed(unsigned roles, int sysadmin, int is_public,
    const char *resource, const char *action);
json_t *rbac_table(void);
unsigned rbac_roles_parse(const char *list);
int rbac_best_role(unsigned roles);


/* http.c */

#define M_GET                1
#define M_HEAD               2
#define M_POST               4
#define M_PUT                8
#define M_DELETE            16
#define M_OTHER             32

struct req_alloc;

struct req {
    void               *conn;           /* struct MHD_Connection */
    int                 method;
    const char         *method_name;
    char               *path;           /* raw, as received */
    char               *seg[AUTHD_SEGS_MAX];
    int                 nseg;
    char               *body;
    size_t              body_len;
    int                 body_over;
    char                rid[65];
    struct timespec     start;

    struct user         user;           /* caller; id 0: anonymous */
    int                 authn;          /* 1 if credentials were given */
    struct dbc         *db;

    int                 status;
    char               *resp;
    size_t              resp_len;
    const char         *ctype;
    char               *hdr_name[8];
    char               *hdr_value[8];
    int                 nhdr;

    struct req_alloc   *allocs;
};

int http_listen(void);
int http_start(void);
void http_stop(void);
void *req_alloc(struct req *r, size_t n);
char *req_strdup(struct req *r, const char *s);
char *req_printf(struct req *r, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
const char *http_arg(struct req *r, const char *name);
int http_args(struct req *r, const char *name, const char **out, int max);
const char *http_header_in(struct req *r, const char *name);
void http_header(struct req *r, const char *name, const char *value);
void http_json(struct req *r, int status, json_t *j);
void http_text(struct req *r, int status, const char *ctype,
    const char *text);
void http_error(struct req *r, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void http_db_error(struct req *r);
struct dbc *http_db(struct req *r);
int http_need_user(struct req *r);
int http_need_sysadmin(struct req *r);
json_t *http_body_json(struct req *r);
int http_page(struct req *r, long *page, long *page_size);
void http_page_links(struct req *r, long page, long page_size,
    long long total);
int http_basic(const char *h, char *user, size_t ulen, char *pw, size_t plen,
    size_t *plen_out);

/* JSON body fields: 0 found, 1 absent, -1 wrong type (error sent) */
int body_str(struct req *r, json_t *o, const char *key, const char **out,
    size_t max);
int body_bool(struct req *r, json_t *o, const char *key, int *out);
int body_int(struct req *r, json_t *o, const char *key, long long *out);


/* token.c */

#define SCOPE_ACTIONS_MAX    8

struct scope {
    char        type[32];
    char        name[AUTHD_SCOPE_MAX];
    char        actions[SCOPE_ACTIONS_MAX][16];
    int         nactions;
};

int scope_parse(const char *s, size_t len, struct scope *sc, char *err,
    size_t errlen);
int scope_split(const char *arg, const char **start, size_t *len,
    const char **next);
void token_handle(struct req *r);


/* api_projects.c */

struct project {
    long long   id;
    char        name[256];
    int         is_public;
    unsigned    roles;                  /* the caller's roles in it */
    long long   owner_id;
};

int project_find(struct dbc *db, const char *name, long long user_id,
    struct project *p);
int project_load(struct req *r, const char *name_or_id, struct project *p);
int project_can(struct req *r, struct project *p, const char *resource,
    const char *action);
void api_projects(struct req *r);
void api_projects_head(struct req *r);
void api_project(struct req *r);
void api_project_summary(struct req *r);
int project_name_valid(const char *s);


/* api_members.c */

void api_members(struct req *r);
void api_member(struct req *r);


/* api_users.c */

void api_users(struct req *r);
void api_user(struct req *r);
void api_user_current(struct req *r);
void api_user_search(struct req *r);
void api_user_password(struct req *r);
void api_user_sysadmin(struct req *r);


/* api_system.c */

void api_ping(struct req *r);
void api_health(struct req *r);
void api_systeminfo(struct req *r);


/* authd.c */

extern volatile int  authd_quit;

#endif /* AUTHD_H */
