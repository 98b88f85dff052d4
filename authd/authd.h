/*
 * authd: the token service and REST API of ngx-harbor.
 *
 * One header for the whole daemon, prototypes grouped by file.
 */

#ifndef AUTHD_H
#define AUTHD_H

#include <sys/types.h>

#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stddef.h>
#include <time.h>

#include <jansson.h>
#include <libpq-fe.h>
#include <openssl/bio.h>
#include <openssl/evp.h>

#include "harbor_grammar.h"
#include "harbor_jwt.h"
#include "harbor_policy.h"
#include "repl.h"


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

#define TOKEN_RS256          0
#define TOKEN_ES256          1

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
    int     db_statement_timeout;       /* milliseconds, server side */
    int     db_query_timeout;           /* milliseconds, authd's deadline */

    char   *ldap_url;
    char   *ldap_search_dn;
    char   *ldap_search_password;
    char   *ldap_base_dn;
    char   *ldap_filter;
    char   *ldap_uid;
    int     ldap_scope;
    int     ldap_timeout;
    int     ldap_verify_cert;
    char   *ldap_ca_file;               /* ours: CA of ldaps/StartTLS */
    int     ldap_start_tls;             /* ours: StartTLS on ldap:// */
    int     robot_token_duration;       /* days */
    char   *robot_name_prefix;
    char   *outbound_allowlist;     /* hosts and CIDRs outbound.c lets
                                       through to private addresses */

    /* SMTP for password reset mails (docs/authd.md) */
    char   *email_host;
    int     email_port;
    char   *email_username;
    char   *email_password;
    char   *email_from;
    char   *email_identity;
    int     email_ssl;                  /* implicit TLS (smtps) */
    int     email_insecure;             /* do not verify the server */
    char   *ldap_group_base_dn;
    char   *ldap_group_search_filter;
    char   *ldap_group_attribute_name;
    char   *ldap_group_admin_dn;
    char   *ldap_group_membership_attribute;
    int     ldap_group_search_scope;

    /* ours, under "authd:" */
    char   *listen;                     /* unix socket path */
    char   *listen_group;
    int     listen_port;                /* 127.0.0.1 TCP port, 0: none */
    char   *metrics_listen;             /* ADDRESS:PORT of /metrics, or
                                           NULL: none (metrics.c) */
    char   *log_file;                   /* log here, reopened on SIGUSR1;
                                           NULL: stderr or syslog */
    char   *user;                       /* drop privileges to it */
    char   *token_key;
    char   *token_cert;
    int     token_key_bits;
    int     token_algorithm;            /* TOKEN_RS256, TOKEN_ES256: what a
                                           new key is made for */
    int     token_x5c;                  /* the certificate in each token */
    char   *token_service;              /* aud */
    char   *token_issuer;               /* iss */
    int     workers;
    int     request_timeout;            /* seconds */
    int     cred_cache_ttl;             /* seconds, 0: off */
    int     proxy_recheck;              /* seconds between a proxy cache
                                           tag's checks upstream */
    int     db_wait;                    /* seconds to wait for it at start */

    char   *journal;                    /* the module's journal, or NULL */
    char   *registry_storage;           /* harbor_storage, read (and
                                           _policies/ written) */
    char   *registry_url;               /* nginx, for /v2 requests */
    char   *registry_ca;                /* CA file, when that is https */
    char   *registry_address;           /* connect here, verify the URL's name */
    int     registry_timeout;           /* seconds per /v2 request */

    int     gc_window;                  /* seconds: younger blobs stay */
    int     gc_upload_age;              /* seconds: older uploads go */
    int     gc_workers;                 /* default sweep threads */
    char   *secret_key;                 /* key file of sealed secrets */

    /* "replication:" */
    int     repl_max_parallel;          /* tasks copying at once */
    int     repl_retry_delay;           /* seconds before a first retry */

    /* harbor.yml's, for conf/instance.sh (authd harbor-yml) */
    int     http_port;
    int     https_port;
    char   *https_certificate;          /* NULL: no https */
    char   *https_private_key;
    char   *data_volume;
    /* storage_service.s3: the registry's bucket (NULL: the filesystem) */
    char   *s3_accesskey;
    char   *s3_secretkey;
    char   *s3_region;
    char   *s3_regionendpoint;
    char   *s3_bucket;
    char   *s3_rootdirectory;
    char   *s3_secure;                  /* "true", "false" or NULL */
    char   *s3_v4auth;
};

extern struct config  *conf;

struct config *config_parse(const char *path);
void config_free(struct config *c);
const char *config_ldap_urls(const char *s);
const char *config_level_name(int level);
unsigned long config_line(const char *path, const char *section,
    const char *key);
struct sockaddr_in;
int config_inet_addr(const char *s, struct sockaddr_in *sin);


/* log.c */

void log_init(int debug, int facility);
int log_open_file(const char *path);
int log_reopen(void);
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

#define DB_STMTS_MAX       128           /* prepared per connection */

struct db_stmt {
    unsigned long long  hash;            /* of the SQL text */
    char               *sql;             /* its copy; NULL: a free slot */
};

struct dbc {
    PGconn     *pg;
    struct db_stmt  stmt[DB_STMTS_MAX];  /* prepared on pg as "hb<i>" */
    int         nstmt;
    int         busy;
    int         err;                     /* DB_* of the last call */
    int         lost;                    /* its transaction went with the
                                            connection: fail until put */
    int         timeout;                 /* ms per statement, 0: the
                                            configured query_timeout */
};

struct migration {
    int          version;
    const char  *name;
    const char  *sql;
};

extern const struct migration  migrations[];     /* schema_sql.c */

int db_init(void);
int db_close(void);
struct dbc *db_get(void);

struct db_pool_stats {
    int     size;                       /* slots */
    int     open;                       /* with a connection */
    int     idle;                       /* open and not in use */
    int     waiting;                    /* threads waiting for a slot */
};

void db_pool_stats(struct db_pool_stats *st);
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

/* "{1,2,3}": an int[] parameter from ids */
char *db_id_array(const long long *ids, int n);


/* keys.c */

struct token_key {
    EVP_PKEY   *key;
    char        kid[HB_KID_SIZE];
    char       *x5c;                    /* base64 DER certificate */
};

extern struct token_key  token_key;

int keys_load(const char *keypath, const char *certpath, int alg, int bits,
    struct token_key *tk);
void keys_free(struct token_key *tk);
/* data written to path with mode: a temporary file, synced, renamed */
int keys_write(const char *path, mode_t mode, BIO *data);
/* logs what OpenSSL says went wrong in what */
void keys_ssl_error(const char *what);


/* mail.c */

struct mail_conf {
    char   *host;
    int     port;
    char   *username;
    char   *password;
    char   *from;
    char   *identity;
    int     ssl;
    int     insecure;
};

int mail_conf_get(struct mail_conf *mc);
void mail_conf_free(struct mail_conf *mc);
int mail_ping(const struct mail_conf *mc, char *err, size_t errlen);
/* queued to a thread of its own: 0 once queued */
int mail_send(const char *to, const char *subject, const char *text);


/* tls.c */

int tls_cert_main(int argc, char *argv[]);

/* harbor_yml.c */

int harbor_yml_main(int argc, char *argv[]);


/* secret.c: secrets sealed at rest (libsodium secretbox) */

int secret_load(const char *path);
char *secret_seal(const char *plain);
char *secret_open(const char *sealed);
void secret_free(char *s);


/* auth.c */

#define AUTH_OK              0
#define AUTH_FAIL            1
#define AUTH_ERROR           2           /* database unavailable */
#define AUTH_THROTTLED       3           /* refused untried: too many
                                            failures */
#define AUTH_UNAVAILABLE     4           /* the LDAP directory did not
                                            answer in time */

#define AUTH_FAIL_MAX        10          /* failed logins per address... */
#define AUTH_ACCOUNT_FAIL_MAX 10         /* ...and per account... */
#define AUTH_FAIL_WINDOW     300         /* ...in this many seconds */

struct user {
    long long   id;                     /* 0: anonymous, or a robot */
    long long   robot_id;               /* a robot account (api_robots.c) */
    char        name[AUTHD_USER_MAX + 1];
    int         sysadmin;
};

int auth_init(void);
int auth_hash(const char *pw, size_t len, char *out, size_t outlen);
int auth_verify(const char *hash, const char *pw, size_t len);
int auth_user(struct dbc *db, const char *name, size_t nlen, const char *pw,
    size_t plen, const char *ip, struct user *u, long *wait);
int auth_robot(struct dbc *db, const char *name, size_t nlen, const char *pw,
    size_t plen, const char *ip, struct user *u, long *wait, int *fresh);
void auth_forget(long long user_id);
void auth_forget_all(void);
int auth_password_ok(const char *pw, char *err, size_t errlen);
int auth_is_default_admin(struct dbc *db);
struct dir_user;
int auth_onboard(struct dbc *db, const char *name, const struct dir_user *lu,
    struct user *u);


/* ldap.c */

struct dir_conf {
    char       *url;
    char       *search_dn;
    char       *search_password;
    char       *base_dn;
    char       *filter;
    char       *uid;
    char       *ca_file;
    char       *group_base_dn;
    char       *group_filter;
    char       *group_name_attr;
    char       *group_member_attr;
    char       *group_admin_dn;
    int         group_scope;
    int         start_tls;
    int         scope;
    int         timeout;
    int         verify_cert;
};

struct dir_user {
    char        uid[AUTHD_USER_MAX + 1];
    char        mail[256];
    char        realname[256];
    char       *groups;                 /* normalized DNs, '\n' between,
                                           malloc'd; NULL: none */
    int         admin;                  /* in ldap_group_admin_dn */
};

int dir_conf_get(struct dir_conf *lc);
void dir_conf_free(struct dir_conf *lc);
int dir_login(const struct dir_conf *lc, const char *name, size_t nlen,
    const char *pw, size_t plen, struct dir_user *lu);
int dir_ping(const struct dir_conf *lc, char *err, size_t errlen);
void dir_user_free(struct dir_user *lu);
int dir_dn_norm(const char *in, char *out, size_t len);
int dir_find_users(const struct dir_conf *lc, const char *name, int max,
    json_t **out, char *err, size_t errlen);
int dir_find_groups(const struct dir_conf *lc, const char *name,
    const char *dn, int max, json_t **out, char *err, size_t errlen);


/* api_config.c */

struct req;

void settings_rdlock(void);
void settings_unlock(void);
int settings_load(struct dbc *db);
void api_configurations(struct req *r);
void api_ldap_ping(struct req *r);
void api_email_ping(struct req *r);


/* reset.c */

void reset_send_email(struct req *r);
void reset_password(struct req *r);


/* api_ldap.c */

void api_ldap_users_search(struct req *r);
void api_ldap_users_import(struct req *r);
void api_ldap_groups_search(struct req *r);


/* api_usergroups.c */

void api_usergroups(struct req *r);
void api_usergroup(struct req *r);
void api_usergroups_search(struct req *r);
long long usergroup_add(struct req *r, const char *norm, const char *name);


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
#define M_PATCH             64

struct req_alloc;

#define AUTHN_CREDENTIALS  1             /* Basic */
#define AUTHN_SESSION      2             /* the UI's session cookie */


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
    const char         *bad_arg;        /* a query argument that does not
                                           percent-decode */
    char                rid[65];
    struct timespec     start;

    struct user         user;           /* caller; id 0: anonymous */
    int                 authn;          /* AUTHN_*: how the caller proved
                                           who it is; 0 anonymous */
    struct dbc         *db;
    int                 route;          /* 1 + index in http.c's table,
                                           0: none matched (metrics) */

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
const char *http_route_pattern(int i);


/* backup.c */

int backup_main(int argc, char *argv[], const char **conffile,
    int *reindex);


/* metrics.c */

void metrics_http(int route, int status);
void metrics_login(int throttled);
char *metrics_render(size_t *len);
int metrics_start(void);
void metrics_stop(void);
extern void *(*req_calloc)(size_t n, size_t size);
void *req_alloc(struct req *r, size_t n);
void req_free_all(struct req *r);
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
long long http_id(const char *s);
void http_page_links(struct req *r, long page, long page_size,
    long long total);
int http_basic(const char *h, char *user, size_t ulen, char *pw, size_t plen,
    size_t *plen_out);
int http_decode_segment(char *s);
int http_bool_arg(struct req *r, const char *name, int dflt, int *out);
const char *http_client_ip(struct req *r);
int http_decode(char *s, int plus);
int http_login(struct req *r, const char *name, size_t nlen, const char *pw,
    size_t plen);

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
struct project;

void token_handle(struct req *r);
void token_repo_decide(struct req *r, const char *name, const char *project,
    const struct project *p, const char **actions, int n, int *grant,
    const char **reason);


/* api_projects.c */

struct project {
    long long   id;
    char        name[256];
    int         is_public;
    unsigned    roles;                  /* the caller's roles in it */
    long long   owner_id;
    long long   registry_id;            /* a proxy cache of it; 0: none */
};

/* the caller's roles in project p, direct or through a group: "1,4" */
#define PROJECT_ROLES(pid, uid)                                             \
    "(SELECT string_agg(pm.role::text, ',') FROM project_member pm"        \
    " WHERE pm.project_id = " pid " AND ((pm.entity_type = 'u'"            \
    " AND pm.entity_id = " uid ") OR (pm.entity_type = 'g'"                \
    " AND pm.entity_id IN (SELECT group_id FROM user_group_member"         \
    " WHERE user_id = " uid "))))"

#define PROJECT_PUBLIC(pid)                                                 \
    "COALESCE((SELECT value FROM project_metadata WHERE project_id = "     \
    pid " AND name = 'public'), 'false') = 'true'"

/*
 * what the caller may see in lists: $sys boolean, $uid integer.  The
 * visible projects (public, or with a membership of the caller or of one
 * of its groups) are one uncorrelated subquery, run once and hashed, not
 * two subqueries per row: a member's list of 100,000 repositories took a
 * second (bench/api-scale).
 */
#define PROJECT_VISIBLE(pid, sys, uid)                                      \
    "(" sys "::boolean OR " pid " IN (SELECT vm.project_id"                \
    " FROM project_metadata vm WHERE vm.name = 'public'"                    \
    " AND vm.value = 'true' UNION SELECT pm.project_id"                     \
    " FROM project_member pm WHERE (pm.entity_type = 'u'"                   \
    " AND pm.entity_id = " uid "::integer) OR (pm.entity_type = 'g'"       \
    " AND pm.entity_id IN (SELECT group_id FROM user_group_member"         \
    " WHERE user_id = " uid "::integer))))"

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
json_t *project_search(struct req *r, const char *like, int max);


/* api_robots.c */

int robot_name_is(const char *name, size_t nlen);
void api_robots(struct req *r);
void api_robot(struct req *r);
int robot_token_decide(struct req *r, const char *name, const char *project,
    const struct project *p, const char **actions, int n, int *grant,
    const char **reason);


/* api_immutable.c */

int immutable_sync(struct dbc *db, long long project_id, const char *name);
void immutable_forget(const char *name);
int immutable_sync_all(void);
int policy_sync_all(const char *sql,
    int (*fn)(struct dbc *db, long long project_id, const char *name));

/* proxy_cache.c: proxy cache projects */
int proxy_sync(const char *name);
void proxy_forget(const char *name);
int proxy_sync_all(void);
void api_proxy_fetch(struct req *r);
void api_immutable_rules(struct req *r);
void api_immutable_rule(struct req *r);


/* quota.c, api_quotas.c: storage quotas */

const char *quota_used_sql(struct req *r, const char *project_col);
long long quota_now_ms(void);
int quota_sync(struct dbc *db, long long project_id, const char *name);
int quota_sync_all(void);
void quota_forget(const char *name);
void quota_journal_touch(const char *repo);
void quota_journal_flush(long long asof);
int quota_exceeded_event(struct dbc *db, const char *repo,
    const char *digest, const char *tag, const char *user);
int quota_limit_valid(struct req *r, const char *what, long long v);
int quota_set(struct req *r, long long project_id, const char *name,
    long long hard);
void api_quotas(struct req *r);
void api_quota(struct req *r);


/* retention.c, api_retention.c */

#define RETENTION_RULES_MAX       15

#define RETENTION_LATEST_PUSHED   0
#define RETENTION_LATEST_PULLED   1
#define RETENTION_DAYS_PUSH       2
#define RETENTION_DAYS_PULL       3
#define RETENTION_ALWAYS          4

struct retention_rule {
    int          template;          /* RETENTION_* */
    long         param;             /* K, N or days */
    int          disabled;
    int          rexcl, texcl;      /* the selectors exclude */
    int          untagged;          /* untagged artifacts are selected */
    const char  *rpat, *tpat;       /* into the parsed JSON */
};

extern const char *const  retention_templates[];
int retention_rules_parse(json_t *rules, struct retention_rule *out,
    int max, json_t **rebuilt, char *err, size_t errlen);
void retention_wake(void);
int retention_start(void);
void retention_stop(void);
void api_retentions(struct req *r);
void api_retention(struct req *r);
void api_retention_metadatas(struct req *r);
void api_retention_executions(struct req *r);
void api_retention_execution(struct req *r);
void api_retention_tasks(struct req *r);
void api_retention_task_log(struct req *r);


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
void api_version(struct req *r);


/* outbound.c: the SSRF guard of every outbound request (curl.h types) */

struct curl_slist *outbound_pin(void *curl, const char *url, char *err,
    size_t errlen);
int outbound_addr_blocked(int family, const void *addr);
int outbound_addr_ok(int family, const void *addr);
int outbound_check(const char *url, char *err, size_t errlen);


/* webhook.c, api_webhooks.c */

extern const char *const  webhook_types[];
int webhook_journal_event(struct dbc *db, int action, const char *repo,
    const char *tag, const char *digest, const char *user, const char *time);
int webhook_event(struct dbc *db, long long project_id, const char *type,
    json_t *event_data, const char *operator_);
void webhook_wake(void);
const char *webhook_host(void);
int webhook_start(void);
void webhook_stop(void);
void api_webhook_policies(struct req *r);
void api_webhook_policy(struct req *r);
void api_webhook_events(struct req *r);
void api_webhook_executions(struct req *r);
void api_webhook_tasks(struct req *r);
void api_webhook_task_log(struct req *r);


/* api_labels.c */

void api_labels(struct req *r);
void api_label(struct req *r);
int label_for_project(struct req *r, long long label_id,
    long long project_id);
PGresult *label_of_artifacts(struct dbc *db, const char *idarr);
json_t *label_artifact_json(PGresult *res, int i);


/* query.c: q= and sort= of lists, from allow-lists, into SQL of ours */

#define Q_TEXT               0
#define Q_INT                1
#define Q_TIME               2
#define Q_BOOL               3

#define Q_EQ                 1           /* k=v */
#define Q_FUZZY              2           /* k=~v */
#define Q_RANGE              4           /* k=[a~b] */
#define Q_ANY                8           /* k={a b} */
#define Q_ALL               16           /* k=(a b) */

#define Q_ITEMS_MAX         16
#define Q_VALUES_MAX        16
#define Q_PARAMS_MAX        64
#define Q_SORT_MAX          4            /* keys in one sort= */

struct qitem {
    const char  *key;
    int          op;                    /* Q_EQ ... */
    const char  *v[Q_VALUES_MAX];       /* Q_RANGE: v[0] min, v[1] max */
    int          nv;
    int          used;
};

struct qfield {
    const char  *key;                   /* the client's name */
    const char  *col;                   /* SQL of ours */
    int          type;                  /* Q_TEXT ... */
    int          ops;                   /* allowed Q_EQ | Q_FUZZY ... */
    const char  *tpl;                   /* NULL, or SQL with one %s: the
                                           condition on col goes there */
};

struct qsort {
    const char  *key;
    const char  *sql;
};

struct qsql {
    struct req  *r;
    char        *where;                 /* "" or " AND ..." */
    const char  *params[Q_PARAMS_MAX];
    int          n;
    const char  *key;                   /* a unique column of the rows
                                           ("p.project_id"): the page is
                                           found first, the columns then
                                           computed for it alone */
};

int q_parse(struct req *r, const char *q, struct qitem *items, int *n);
struct qitem *q_take(struct qitem *items, int n, const char *key);
int q_set(struct req *r, struct qitem *items, int *n, const char *key,
    int op, const char *v);
void q_init(struct qsql *s, struct req *r);
int q_param(struct qsql *s, const char *v);
int q_add(struct qsql *s, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
int q_where(struct qsql *s, struct qitem *items, int n,
    const struct qfield *f, size_t nf);
const char *q_order(struct req *r, const char *sort,
    const struct qsort *keys, size_t n, const char *dflt);
char *q_like(struct req *r, const char *s);
int q_time_valid(const char *s);
int q_list(struct req *r, struct qsql *s, const char *count_sql,
    const char *select_sql, const char *order, long page, long page_size,
    PGresult **res);


/* store.c: the registry's storage, read only (distribution's layout) */

#define STORE_MISSING        0
#define STORE_OK             1

typedef int (*store_name_cb)(const char *name, void *arg);
typedef int (*store_link_cb)(const char *key, const char *digest,
    time_t mtime, void *arg);

int store_enabled(void);
const char *store_error(void);
int store_v2(char *buf, size_t len);
int store_revision(const char *name, const char *digest, time_t *mtime);
int store_tag(const char *name, const char *tag, char *digest, size_t len,
    time_t *mtime);
int store_referrer(const char *name, const char *subject,
    const char *digest);
int store_blob(const char *digest, size_t max, char **data, size_t *len);
int store_repositories(store_name_cb fn, void *arg);
int store_revisions(const char *name, store_link_cb fn, void *arg);
int store_tags(const char *name, store_link_cb fn, void *arg);


/* registry.c: /v2 requests of authd's own, through nginx and the module */

#define REG_ERR_MAX          256

int registry_init(void);
void registry_cleanup(void);
int registry_enabled(void);
char *registry_token(const char *user, const char *name,
    const char *actions, int ttl);
int registry_delete(const char *user, const char *name, const char *ref,
    char *err, size_t errlen);
int registry_delete_untagged(const char *user, const char *name,
    const char *digest, time_t cutoff, char *err, size_t errlen);
int registry_put_manifest(const char *user, const char *name,
    const char *ref, const char *media_type, const char *body, size_t len,
    char *err, size_t errlen);


/* artifact.c: rows from what storage holds */

void meta_lock(void);
void meta_unlock(void);
long long repo_find(struct dbc *db, const char *name);
long long repo_ensure(struct dbc *db, const char *name);
int artifact_import(struct dbc *db, long long repo_id, const char *name,
    const char *digest, const char *push_time, int force, long long *id);
int tag_sync(struct dbc *db, long long repo_id, const char *name,
    const char *tag, const char *time, int pushed);
int artifact_forget(struct dbc *db, long long repo_id, const char *digest);


/* journal.c */

int journal_start(void);
void journal_stop(void);


/* reindex.c */

struct reindex_stats {
    long long   repositories;
    long long   artifacts;
    long long   tags;
    long long   removed;
    long long   errors;
};

int reindex_run(struct dbc *db, const char *user, struct reindex_stats *st);
void api_reindex(struct req *r);


/* api_audit.c */

int audit_add(struct dbc *db, long long project_id, const char *username,
    const char *operation, const char *resource_type, const char *resource,
    const char *description, int result, const char *client_ip);
void audit_req(struct req *r, long long project_id, const char *operation,
    const char *resource_type, const char *resource);
void api_audit_logs(struct req *r);
void api_project_logs(struct req *r);


/* api_repositories.c */

struct repo {
    long long   id;
    char        name[256];              /* full: project/rest */
};

/* artifacts a repository lists: tagged, or neither an index's child nor
   an accessory of another artifact of the repository (Harbor's "base") */
#define ARTIFACT_TOP_LEVEL(a)                                               \
    "(EXISTS (SELECT 1 FROM tag tt WHERE tt.artifact_id = " a ".id)"        \
    " OR (NOT EXISTS (SELECT 1 FROM artifact_reference rr"                  \
    " JOIN artifact pp ON pp.id = rr.parent_id"                             \
    " WHERE pp.repository_id = " a ".repository_id"                         \
    " AND rr.child_digest = " a ".digest)"                                  \
    " AND NOT EXISTS (SELECT 1 FROM artifact ss"                            \
    " WHERE ss.repository_id = " a ".repository_id"                         \
    " AND ss.digest = " a ".subject_digest)))"

int repo_load(struct req *r, struct project *p, const char *seg,
    struct repo *rp);
void api_repositories_all(struct req *r);
void api_repositories(struct req *r);
void api_repository(struct req *r);


/* api_artifacts.c */

void api_artifacts(struct req *r);
void api_artifact(struct req *r);
void api_tags(struct req *r);
void api_tag(struct req *r);
void api_artifact_labels(struct req *r);
void api_artifact_label(struct req *r);


/* api_search.c */

void api_search(struct req *r);
void api_statistics(struct req *r);


/* session.c: the UI's login sessions (/c/login, /c/log_out) and CSRF */

#define SESSION_IDLE         3600        /* seconds without a request */
#define SESSION_MAX          (12 * 3600) /* seconds after the login */

int session_authenticate(struct req *r);
void session_login(struct req *r);
void session_logout(struct req *r);


/*
 * gc_*.c: the garbage collector's worker, a process of its own started by
 * exec as `authd -G <run> -f <conf>` (docs/gc.md).  gc_main.c: the entry
 * and the phases; gc_mark.c: digest sets, manifests, the mark;
 * gc_sweep.c: recover, sweep, layer links, uploads; gc_untagged.c:
 * untagged manifests deleted through /v2.
 */

#define GC_WORKERS_MAX       64
#define GC_PROGRESS_FD       3           /* the pipe, in the worker */

/*
 * The collector's callbacks of store_repositories(), store_revisions()
 * and store_tags() return -1 for an error of the store (store_error()
 * says which) and GC_LOGGED for one of theirs, told in the log already;
 * either stops the listing.
 */
#define GC_LOGGED            (-2)

struct gc_opts {
    int          delete_untagged;
    int          dry_run;
    int          workers;
    int          window;                /* seconds */
    int          upload_age;            /* seconds */
    const char  *user;                  /* who DELETEs untagged manifests */
};

/* a digest, binary: 32 bytes of sha256 or 64 of sha512 */
struct gc_digest {
    unsigned char   alg;                /* HB_DIGEST_SHA256 or _SHA512 */
    unsigned char   b[64];
};

/* a set of digests of one length, open addressing; all zero: empty */
struct gc_dset {
    unsigned char  *keys;
    size_t          cap;
    size_t          n;
    size_t          klen;
};

/* a set of digests of both algorithms */
struct gc_set {
    struct gc_dset  a[2];
};

/* what one manifest references, read once per run */
struct gc_manifest {
    struct gc_digest    d;
    struct gc_digest   *refs;           /* config, layers */
    size_t              nrefs;
    struct gc_digest   *children;       /* manifests of an index */
    size_t              nchildren;
    struct gc_digest    subject;
    int                 has_subject;
    int                 marked;
};

struct gc_mtable {
    struct gc_manifest  **v;
    size_t                cap;
    size_t                n;
};

/* an untagged manifest to DELETE */
struct gc_del {
    char               *name;
    char                digest[HB_DIGEST_MAX + 1];
    time_t              cutoff;         /* its repository's listing began */
};

struct gc {
    const struct gc_opts  *o;
    int                    fd;                 /* the progress pipe */
    char                   v2[PATH_MAX];
    char                   trash[PATH_MAX];
    time_t                 old;                /* start - window */
    struct gc_set          marked;
    struct gc_set          doomed;             /* dry run: would go */
    struct gc_set          gone_revs;          /* dry run: untagged */
    struct gc_mtable       mf;
    pthread_mutex_t        mtx;
    const char            *pause;              /* HARBOR_GC_PAUSE */

    struct gc_del         *dels;
    int                    ndels, dels_cap, next_del;

    int                    next_unit;          /* sweep: alg x prefix */
    long long              examined;
    long long              deleted;
    long long              bytes;
    long long              restored;
    long long              errors;

    long long              manifests;
    long long              untagged;
    long long              layers;
    long long              uploads;
    long long              recovered;
    long long              ms[3];              /* untagged, mark, sweep */
};

int gc_main(const char *run);

/* gc_main.c */
void gc_out(struct gc *g, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void gc_phase(struct gc *g, const char *phase);
void gc_hold(struct gc *g, const char *where);
int gc_repositories(struct gc *g, store_name_cb fn);
int gc_threads(struct gc *g, void *(*fn)(void *), const char *phase,
    int (*done)(struct gc *g, int nthreads));

/* gc_mark.c */
int gc_digest_parse(const char *s, size_t len, struct gc_digest *d);
void gc_digest_str(const struct gc_digest *d, char *out);
int gc_set_add(struct gc_set *s, const struct gc_digest *d);
int gc_set_has(const struct gc_set *s, const struct gc_digest *d);
void gc_set_free(struct gc_set *s);
struct gc_manifest *gc_manifest_get(struct gc *g, const struct gc_digest *d);
void gc_manifests_free(struct gc *g);
int gc_mark(struct gc *g);

/* gc_sweep.c */
int gc_recover(struct gc *g);
int gc_sweep(struct gc *g);
int gc_layers(struct gc *g);
int gc_uploads(struct gc *g);
int gc_rm_tree(const char *path);

/* gc_untagged.c */
int gc_untagged(struct gc *g);


/* api_gc.c */

int gc_start(void);
int cron_match(const char *cron, const struct tm *tm);
void api_gc_schedule(struct req *r);
void api_gc_list(struct req *r);
void api_gc_one(struct req *r);
void api_gc_log(struct req *r);


/* api_registries.c: the remote ends of replication */

struct remote {
    long long   id;
    char        name[256];
    char        url[1025];
    char        username[256];
    char       *password;               /* opened: a secret, never logged */
    char       *ca_pem;
    int         type;                   /* REPL_TYPE_* */
    int         insecure;
};

int remote_type(const char *s);
int remote_load(struct dbc *db, long long id, struct remote *rm, char *err,
    size_t errlen);
void remote_endpoint(const struct remote *rm, struct repl_endpoint *ep);
void remote_free(struct remote *rm);
void api_registries(struct req *r);
void api_registry(struct req *r);
void api_registry_ping(struct req *r);
void api_registry_info(struct req *r);
void api_repl_adapters(struct req *r);
void api_repl_adapterinfos(struct req *r);
json_t *remote_json(struct dbc *db, long long id);
long long repl_path_id(struct req *r, const char *s, const char *what);
void repl_list(struct req *r, const char *table, const char *cols,
    const struct qfield *f, size_t nf, const struct qsort *k, size_t nk,
    json_t *(*row)(struct dbc *db, PGresult *res, int i));


/* api_replication.c: policies, executions, tasks */

void api_repl_policies(struct req *r);
void api_repl_policy(struct req *r);
void api_repl_executions(struct req *r);
void api_repl_execution(struct req *r);
void api_repl_tasks(struct req *r);
void api_repl_task_log(struct req *r);


/* repl_jobs.c: replication's runner, triggers, cron */

int repl_cron_valid(const char *cron);
int repl_cron_fires(const char *cron, time_t now);
int repl_dest_repo(const char *repo, const char *ns, int count, char *out,
    size_t len, char *err, size_t errlen);
const char *repl_local_url(void);
long long repl_execution_new(struct dbc *db, long long policy_id,
    const char *trigger);
int repl_execution_stop(struct dbc *db, long long id);
int repl_task_progress(long long task_id, int64_t *done, int64_t *total);
char *repl_task_log(long long task_id);
int repl_journal_event(struct dbc *db, int push, const char *repo,
    const char *tag, const char *digest);
void repl_jobs_wake(void);
int repl_jobs_start(void);
void repl_jobs_stop(void);


/* authd.c */

extern volatile int  authd_quit;
extern int           authd_debug;       /* -d: in the foreground */

/* repl_copy.c: `authd copy SRC DST` (docs/replication.md, "The copy") */
int repl_copy_main(int argc, char *argv[]);

#endif /* AUTHD_H */
