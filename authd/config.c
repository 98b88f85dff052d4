/*
 * authd: the configuration file (YAML), read with libyaml through a table
 * of keys.  Harbor's own key names are used where they apply, so a
 * harbor.yml can serve as a starting point; Harbor keys authd has no use
 * for are accepted and ignored, anything else is an error.  Errors are
 * reported as "file:line: message", all of them, not just the first.
 * Values of secret keys never appear in a message.
 */

#include <errno.h>
#include <limits.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <syslog.h>

#include <yaml.h>

#include <netinet/in.h>
#include <arpa/inet.h>

#include "authd.h"


enum {
    C_STR,          /* string, max = longest length */
    C_SECRET,       /* string never echoed */
    C_PATH,         /* absolute path, max = longest length */
    C_INT,          /* integer in [min, max] */
    C_BOOL,
    C_ENUM,
    C_SECTION,      /* mapping of the keys in section */
    C_IGNORE,       /* a Harbor key authd has no use for */
    C_REFUSE        /* a Harbor key for what ngx-harbor does not do: why */
};

struct cenum {
    const char  *name;
    int          value;
};

struct ckey {
    const char          *name;
    int                  type;
    size_t               off;
    long                 min;
    long                 max;
    const struct cenum  *enums;
    const struct ckey   *section;
    const char          *why;
};

struct cparse {
    const char     *path;
    yaml_document_t doc;
    struct config  *c;
    int             errors;
};

#define OFF(f)    offsetof(struct config, f)
#define STR(k, f, max)      { k, C_STR, OFF(f), 0, max, NULL, NULL, NULL }
#define SECRET(k, f)        { k, C_SECRET, OFF(f), 0, 1024, NULL, NULL, NULL }
#define PATH(k, f, max)     { k, C_PATH, OFF(f), 0, max, NULL, NULL, NULL }
#define INT(k, f, lo, hi)   { k, C_INT, OFF(f), lo, hi, NULL, NULL, NULL }
#define BOOL(k, f)          { k, C_BOOL, OFF(f), 0, 0, NULL, NULL, NULL }
#define ENUM(k, f, e)       { k, C_ENUM, OFF(f), 0, 0, e, NULL, NULL }
#define SECTION(k, s)       { k, C_SECTION, 0, 0, 0, NULL, s, NULL }
#define IGNORE(k)           { k, C_IGNORE, 0, 0, 0, NULL, NULL, NULL }
#define REFUSE(k, why)      { k, C_REFUSE, 0, 0, 0, NULL, NULL, why }
#define END                 { NULL, 0, 0, 0, 0, NULL, NULL, NULL }


static const struct cenum  auth_modes[] = {
    { "db_auth", AUTH_MODE_DB },
    { "ldap_auth", AUTH_MODE_LDAP },
    { NULL, 0 }
};

static const struct cenum  token_algorithms[] = {
    { "RS256", TOKEN_RS256 },
    { "ES256", TOKEN_ES256 },
    { NULL, 0 }
};

static const struct cenum  restrictions[] = {
    { "everyone", CREATE_EVERYONE },
    { "adminonly", CREATE_ADMINONLY },
    { NULL, 0 }
};

static const struct cenum  levels[] = {
    { "debug", LOG_DEBUG },
    { "info", LOG_INFO },
    { "warning", LOG_WARNING },
    { "error", LOG_ERR },
    { "fatal", LOG_CRIT },
    { NULL, 0 }
};

static const struct cenum  sslmodes[] = {
    { "disable", 0 }, { "allow", 1 }, { "prefer", 2 }, { "require", 3 },
    { "verify-ca", 4 }, { "verify-full", 5 },
    { NULL, 0 }
};

static const struct ckey  database_keys[] = {
    STR("host", db_host, 1024),
    INT("port", db_port, 1, 65535),
    STR("username", db_user, 255),
    SECRET("password", db_password),
    STR("dbname", db_name, 255),
    INT("max_open_conns", db_max_open, 1, 10000),
    STR("sslmode", db_sslmode, 16),
    INT("connect_timeout", db_connect_timeout, 1, 300),
    INT("statement_timeout", db_statement_timeout, 100, 3600000),
    INT("query_timeout", db_query_timeout, 100, 3600000),
    IGNORE("max_idle_conns"),
    IGNORE("conn_max_lifetime"),
    IGNORE("conn_max_idle_time"),
    END
};

static const struct ckey  log_keys[] = {
    ENUM("level", log_level, levels),
    IGNORE("local"),
    IGNORE("external_endpoint"),
    END
};

/* harbor.yml's http, https and storage_service: conf/instance.sh serves them */
static const struct ckey  http_keys[] = {
    INT("port", http_port, 1, 65535),
    END
};

static const struct ckey  https_keys[] = {
    INT("port", https_port, 1, 65535),
    PATH("certificate", https_certificate, 4000),
    PATH("private_key", https_private_key, 4000),
    IGNORE("strong_ssl_ciphers"),
    END
};

#define OBJECT_STORAGE  "this object storage is not supported: use s3 or the filesystem"

/* the bucket of conf/instance.sh's registry (checked by harbor_yml.c) */
static const struct ckey  s3_keys[] = {
    SECRET("accesskey", s3_accesskey),
    SECRET("secretkey", s3_secretkey),
    STR("region", s3_region, 64),
    STR("regionendpoint", s3_regionendpoint, 1000),
    STR("bucket", s3_bucket, 63),
    PATH("rootdirectory", s3_rootdirectory, 1000),
    STR("secure", s3_secure, 5),
    STR("v4auth", s3_v4auth, 5),
    IGNORE("chunksize"),
    IGNORE("multipartcopychunksize"),
    IGNORE("multipartcopymaxconcurrency"),
    IGNORE("multipartcopythresholdsize"),
    IGNORE("storageclass"),
    END
};

static const struct ckey  storage_keys[] = {
    IGNORE("filesystem"),
    IGNORE("ca_bundle"),
    IGNORE("redirect"),
    SECTION("s3", s3_keys),
    REFUSE("swift", OBJECT_STORAGE),
    REFUSE("gcs", OBJECT_STORAGE),
    REFUSE("azure", OBJECT_STORAGE),
    REFUSE("oss", OBJECT_STORAGE),
    END
};

static const struct ckey  authd_keys[] = {
    PATH("listen", listen, 100),
    STR("listen_group", listen_group, 64),
    INT("listen_port", listen_port, 0, 65535),
    STR("metrics_listen", metrics_listen, 64),
    PATH("log_file", log_file, 4000),
    STR("user", user, 64),
    PATH("token_private_key", token_key, 4000),
    PATH("token_certificate", token_cert, 4000),
    INT("token_key_bits", token_key_bits, 2048, 8192),
    ENUM("token_algorithm", token_algorithm, token_algorithms),
    BOOL("token_x5c", token_x5c),
    STR("token_service", token_service, 255),
    STR("token_issuer", token_issuer, 255),
    INT("workers", workers, 1, 256),
    INT("request_timeout", request_timeout, 1, 3600),
    INT("credential_cache_ttl", cred_cache_ttl, 0, 3600),
    INT("proxy_cache_recheck", proxy_recheck, 0, 7 * 86400),
    INT("database_wait", db_wait, 0, 3600),
    PATH("journal", journal, 4000),
    PATH("registry_storage", registry_storage, 4000),
    STR("registry_url", registry_url, 1024),
    PATH("registry_ca", registry_ca, 4000),
    STR("registry_address", registry_address, 300),
    INT("registry_timeout", registry_timeout, 1, 3600),
    INT("gc_window", gc_window, 0, 30 * 86400),
    INT("gc_upload_age", gc_upload_age, 0, 365 * 86400),
    INT("gc_workers", gc_workers, 1, 64),
    PATH("secret_key", secret_key, 4000),
    END
};

static const struct ckey  replication_keys[] = {
    INT("max_parallel", repl_max_parallel, 1, 64),
    INT("retry_delay", repl_retry_delay, 1, 3600),
    END
};

static const struct ckey  top_keys[] = {
    STR("hostname", hostname, 255),
    STR("external_url", external_url, 1024),
    SECRET("harbor_admin_password", admin_password),
    SECTION("database", database_keys),
    INT("token_expiration", token_expiration, 1, 525600),
    ENUM("project_creation_restriction", creation_restriction, restrictions),
    BOOL("self_registration", self_registration),
    ENUM("auth_mode", auth_mode, auth_modes),
    STR("ldap_url", ldap_url, 1024),
    STR("ldap_search_dn", ldap_search_dn, 1024),
    SECRET("ldap_search_password", ldap_search_password),
    STR("ldap_base_dn", ldap_base_dn, 1024),
    STR("ldap_filter", ldap_filter, 1024),
    STR("ldap_uid", ldap_uid, 255),
    INT("ldap_scope", ldap_scope, 0, 2),
    INT("ldap_timeout", ldap_timeout, 1, 300),
    BOOL("ldap_verify_cert", ldap_verify_cert),
    PATH("ldap_ca_file", ldap_ca_file, 4000),
    BOOL("ldap_start_tls", ldap_start_tls),
    INT("robot_token_duration", robot_token_duration, 1, 36500),
    STR("robot_name_prefix", robot_name_prefix, 64),
    STR("email_host", email_host, 255),
    INT("email_port", email_port, 1, 65535),
    STR("email_username", email_username, 255),
    SECRET("email_password", email_password),
    STR("email_from", email_from, 255),
    STR("email_identity", email_identity, 255),
    BOOL("email_ssl", email_ssl),
    BOOL("email_insecure", email_insecure),
    STR("ldap_group_base_dn", ldap_group_base_dn, 1024),
    STR("ldap_group_search_filter", ldap_group_search_filter, 1024),
    STR("ldap_group_attribute_name", ldap_group_attribute_name, 255),
    STR("ldap_group_admin_dn", ldap_group_admin_dn, 1024),
    STR("ldap_group_membership_attribute", ldap_group_membership_attribute,
        255),
    INT("ldap_group_search_scope", ldap_group_search_scope, 0, 2),
    SECTION("log", log_keys),
    SECTION("authd", authd_keys),
    SECTION("replication", replication_keys),
    SECTION("http", http_keys),
    SECTION("https", https_keys),
    PATH("data_volume", data_volume, 4000),
    SECTION("storage_service", storage_keys),

    /* Harbor keys for parts authd does not run */
    IGNORE("internal_tls"),
    IGNORE("trivy"),
    IGNORE("jobservice"),
    IGNORE("notification"),
    IGNORE("chart"),
    IGNORE("_version"),
    IGNORE("proxy"),
    IGNORE("metric"),
    IGNORE("trace"),
    IGNORE("cache"),
    IGNORE("upload_purging"),
    IGNORE("external_database"),
    IGNORE("external_redis"),
    IGNORE("redis"),
    IGNORE("uaa"),
    IGNORE("core"),
    END
};


static void config_error(struct cparse *p, yaml_node_t *n, const char *fmt,
    ...) __attribute__((format(printf, 3, 4)));
static void config_map(struct cparse *p, yaml_node_t *map,
    const struct ckey *keys, const char *prefix);
static void config_value(struct cparse *p, yaml_node_t *v,
    const struct ckey *k, const char *name);
static int config_defaults(struct config *c);
static int config_check(struct cparse *p);


static void
config_error(struct cparse *p, yaml_node_t *n, const char *fmt, ...)
{
    va_list  ap;

    fprintf(stderr, "%s:%lu: ", p->path,
            n != NULL ? (unsigned long) n->start_mark.line + 1 : 0UL);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);

    p->errors++;
}


static const char *
scalar(yaml_node_t *n)
{
    return (const char *) n->data.scalar.value;
}


static int
scalar_is_null(yaml_node_t *n)
{
    const char  *s;

    if (n->type != YAML_SCALAR_NODE
        || n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
    {
        return 0;
    }

    s = scalar(n);

    return s[0] == '\0' || strcmp(s, "~") == 0 || strcmp(s, "null") == 0;
}


static void
config_map(struct cparse *p, yaml_node_t *map, const struct ckey *keys,
    const char *prefix)
{
    yaml_node_pair_t  *pair;
    yaml_node_t       *k, *v;
    const struct ckey *ck;
    char               name[256];
    unsigned char      seen[64];
    size_t             i;

    memset(seen, 0, sizeof(seen));

    for (pair = map->data.mapping.pairs.start;
         pair < map->data.mapping.pairs.top;
         pair++)
    {
        k = yaml_document_get_node(&p->doc, pair->key);
        v = yaml_document_get_node(&p->doc, pair->value);

        if (k == NULL || v == NULL) {
            continue;
        }

        if (k->type != YAML_SCALAR_NODE) {
            config_error(p, k, "keys must be plain strings");
            continue;
        }

        if (snprintf(name, sizeof(name), "%s%s", prefix, scalar(k))
            >= (int) sizeof(name))
        {
            config_error(p, k, "key too long");
            continue;
        }

        for (i = 0, ck = keys; ck->name != NULL; ck++, i++) {
            if (strcmp(ck->name, scalar(k)) == 0) {
                break;
            }
        }

        if (ck->name == NULL) {
            config_error(p, k, "unknown key \"%s\"", name);
            continue;
        }

        if (i < sizeof(seen)) {
            if (seen[i]) {
                config_error(p, k, "duplicate key \"%s\"", name);
                continue;
            }
            seen[i] = 1;
        }

        if (ck->type == C_REFUSE) {
            config_error(p, k, "%s: %s", name, ck->why);
            continue;
        }

        config_value(p, v, ck, name);
    }
}


static void
config_value(struct cparse *p, yaml_node_t *v, const struct ckey *k,
    const char *name)
{
    const struct cenum  *e;
    const char          *s;
    char                *end, **sp, prefix[256];
    long                 l;
    size_t               len;

    if (k->type == C_IGNORE) {
        return;
    }

    if (k->type == C_SECTION) {
        if (scalar_is_null(v)) {
            return;
        }
        if (v->type != YAML_MAPPING_NODE) {
            config_error(p, v, "\"%s\" must be a mapping of keys", name);
            return;
        }
        if (snprintf(prefix, sizeof(prefix), "%s.", name)
            >= (int) sizeof(prefix))
        {
            config_error(p, v, "key too long");
            return;
        }
        config_map(p, v, k->section, prefix);
        return;
    }

    if (v->type != YAML_SCALAR_NODE) {
        config_error(p, v, "\"%s\" must be a single value", name);
        return;
    }

    /* "key:" with nothing after it keeps the default */
    if (scalar_is_null(v)) {
        return;
    }

    s = scalar(v);
    len = v->data.scalar.length;

    if (strlen(s) != len) {
        config_error(p, v, "\"%s\" contains a NUL byte", name);
        return;
    }

    switch (k->type) {

    case C_STR:
    case C_SECRET:
    case C_PATH:
        if ((long) len > k->max) {
            config_error(p, v, "\"%s\" is longer than %ld bytes", name,
                         k->max);
            return;
        }

        if (k->type == C_PATH && s[0] != '/') {
            config_error(p, v, "\"%s\" must be an absolute path", name);
            return;
        }

        sp = (char **) ((char *) p->c + k->off);
        free(*sp);
        *sp = strdup(s);
        if (*sp == NULL) {
            config_error(p, v, "out of memory");
        }
        return;

    case C_INT:
        errno = 0;
        l = strtol(s, &end, 10);
        if (errno != 0 || end == s || *end != '\0' || s[0] == '+'
            || s[0] == ' ')
        {
            config_error(p, v, "\"%s\" must be an integer, not \"%s\"",
                         name, s);
            return;
        }
        if (l < k->min || l > k->max) {
            config_error(p, v, "\"%s\" must be between %ld and %ld", name,
                         k->min, k->max);
            return;
        }
        *(int *) ((char *) p->c + k->off) = (int) l;
        return;

    case C_BOOL:
        if (strcasecmp(s, "true") == 0 || strcasecmp(s, "yes") == 0
            || strcasecmp(s, "on") == 0)
        {
            *(int *) ((char *) p->c + k->off) = 1;

        } else if (strcasecmp(s, "false") == 0 || strcasecmp(s, "no") == 0
                   || strcasecmp(s, "off") == 0)
        {
            *(int *) ((char *) p->c + k->off) = 0;

        } else {
            config_error(p, v, "\"%s\" must be true or false, not \"%s\"",
                         name, s);
        }
        return;

    case C_ENUM:
        for (e = k->enums; e->name != NULL; e++) {
            if (strcmp(e->name, s) == 0) {
                *(int *) ((char *) p->c + k->off) = e->value;
                return;
            }
        }

        {
            char    list[256];
            size_t  o = 0;

            list[0] = '\0';
            for (e = k->enums; e->name != NULL && o < sizeof(list); e++) {
                o += (size_t) snprintf(list + o, sizeof(list) - o, "%s%s",
                                       o ? ", " : "", e->name);
            }
            config_error(p, v, "\"%s\" must be one of %s, not \"%s\"", name,
                         list, s);
        }
        return;
    }
}


static int
config_defaults(struct config *c)
{
    struct {
        char       **field;
        const char  *value;
    } strs[] = {
        { &c->hostname, "localhost" },
        { &c->admin_password, AUTHD_DEFAULT_ADMIN_PASSWORD },
        { &c->db_host, "/var/run/postgresql" },
        { &c->db_user, "postgres" },
        { &c->db_name, "registry" },
        { &c->listen, "/run/harbor/authd.sock" },
        { &c->token_key, "/etc/harbor/token/private_key.pem" },
        { &c->token_cert, "/etc/harbor/token/root.crt" },
        { &c->token_service, "harbor-registry" },
        { &c->token_issuer, "harbor-token-issuer" },
        { &c->ldap_uid, "uid" },
        { &c->ldap_filter, "" },
        { &c->ldap_url, "" },
        { &c->ldap_search_dn, "" },
        { &c->ldap_search_password, "" },
        { &c->ldap_base_dn, "" },
        { &c->ldap_ca_file, "" },
        { &c->ldap_group_base_dn, "" },
        { &c->ldap_group_search_filter, "" },
        { &c->ldap_group_attribute_name, "cn" },
        { &c->ldap_group_admin_dn, "" },
        { &c->ldap_group_membership_attribute, "memberof" },
        { &c->robot_name_prefix, "robot$" },
        { &c->email_host, "" },
        { &c->email_username, "" },
        { &c->email_password, "" },
        { &c->email_from, "" },
        { &c->email_identity, "" },
    };
    size_t  i;

    for (i = 0; i < nitems(strs); i++) {
        *strs[i].field = strdup(strs[i].value);
        if (*strs[i].field == NULL) {
            return -1;
        }
    }

    c->token_expiration = 30;
    c->creation_restriction = CREATE_EVERYONE;
    c->self_registration = 0;
    c->auth_mode = AUTH_MODE_DB;
    c->log_level = LOG_INFO;
    c->db_port = 5432;
    c->db_max_open = 100;
    c->db_connect_timeout = 5;
    c->db_statement_timeout = 10000;
    c->db_query_timeout = 3000;
    c->ldap_scope = 2;
    c->ldap_timeout = 5;
    c->ldap_verify_cert = 1;
    c->ldap_group_search_scope = 2;
    c->robot_token_duration = 30;
    c->email_port = 25;
    c->token_key_bits = 2048;
    c->token_algorithm = TOKEN_RS256;
    c->token_x5c = 1;
    c->workers = 4;
    c->request_timeout = 30;
    c->cred_cache_ttl = 60;
    c->proxy_recheck = 300;
    c->db_wait = 30;
    c->registry_timeout = 30;
    c->gc_window = 7200;
    c->gc_upload_age = 86400;
    c->gc_workers = 4;
    c->repl_max_parallel = 4;
    c->repl_retry_delay = 10;
    c->http_port = 80;
    c->https_port = 443;

    return 0;
}


/*
 * NULL if s is a valid ldap_url (ldap://host[:port][/] or ldaps://...,
 * space separated; an IPv6 host in brackets), else why not.  Here rather
 * than in ldap.c: the configuration fuzzer links this file alone.
 */
const char *
config_ldap_urls(const char *s)
{
    const char  *p, *e, *c, *h;
    size_t       len;
    long         port;

    for (p = s; *p; p = e) {
        while (*p == ' ') {
            p++;
        }
        if (*p == '\0') {
            break;
        }
        e = strchr(p, ' ');
        if (e == NULL) {
            e = p + strlen(p);
        }
        len = (size_t) (e - p);

        if (len > 7 && strncasecmp(p, "ldap://", 7) == 0) {
            p += 7;
        } else if (len > 8 && strncasecmp(p, "ldaps://", 8) == 0) {
            p += 8;
        } else {
            return "must be ldap:// or ldaps:// URLs separated by spaces";
        }

        if (p == e || *p == '/' || *p == ':') {
            return "must name a host in every URL";
        }

        for (c = p; c < e; c++) {
            if (strchr("?#@\\\"%", *c) != NULL) {
                return "must be ldap:// or ldaps:// URLs without user, "
                       "query or fragment";
            }
        }

        /* the host ends at ':' or '/' (after ']' for IPv6) */
        h = p;
        if (*h == '[') {
            h = memchr(p, ']', (size_t) (e - p));
            if (h == NULL || h == p + 1 || h >= e) {
                return "must name a host in every URL";
            }
            h++;
        }
        while (h < e && *h != ':' && *h != '/') {
            if (*h == '[' || *h == ']') {
                return "must name a host in every URL";
            }
            h++;
        }

        if (h < e && *h == ':') {
            port = 0;
            for (h++; h < e && *h != '/'; h++) {
                if (*h < '0' || *h > '9' || port > 65535) {
                    return "must have a port of 1 to 65535 after the host";
                }
                port = port * 10 + (*h - '0');
            }
            if (port < 1 || port > 65535) {
                return "must have a port of 1 to 65535 after the host";
            }
        }

        if (h < e && (*h != '/' || h + 1 != e)) {
            return "must be ldap:// or ldaps:// URLs without a DN";
        }
    }

    return NULL;
}


/* Checks that span keys; a missing mapping node reports line 0. */
static yaml_node_t *
config_find(struct cparse *p, const char *section, const char *key)
{
    yaml_node_t      *map, *k, *v;
    yaml_node_pair_t *pair;

    map = yaml_document_get_root_node(&p->doc);

    while (map != NULL && map->type == YAML_MAPPING_NODE) {
        v = NULL;

        for (pair = map->data.mapping.pairs.start;
             pair < map->data.mapping.pairs.top;
             pair++)
        {
            k = yaml_document_get_node(&p->doc, pair->key);
            if (k != NULL && k->type == YAML_SCALAR_NODE
                && strcmp(scalar(k), section != NULL ? section : key) == 0)
            {
                v = yaml_document_get_node(&p->doc, pair->value);
                break;
            }
        }

        if (section == NULL) {
            return v != NULL ? k : NULL;
        }

        section = NULL;
        map = v;
    }

    return NULL;
}


/* "ADDRESS:PORT" (IPv4) into sin; 0, or -1 if it is not one */
int
config_inet_addr(const char *s, struct sockaddr_in *sin)
{
    const char  *colon;
    char         host[INET_ADDRSTRLEN], *end;
    long         port;

    memset(sin, 0, sizeof(*sin));

    colon = strrchr(s, ':');
    if (colon == NULL || (size_t) (colon - s) >= sizeof(host)
        || colon == s)
    {
        return -1;
    }

    memcpy(host, s, (size_t) (colon - s));
    host[colon - s] = '\0';

    port = strtol(colon + 1, &end, 10);
    if (colon[1] == '\0' || *end != '\0' || port < 1 || port > 65535) {
        return -1;
    }

    sin->sin_family = AF_INET;
    sin->sin_port = htons((uint16_t) port);

    if (inet_pton(AF_INET, host, &sin->sin_addr) != 1) {
        return -1;
    }

    return 0;
}


static int
config_check(struct cparse *p)
{
    struct config  *c = p->c;

    if (c->admin_password[0] == '\0') {
        config_error(p, config_find(p, NULL, "harbor_admin_password"),
                     "\"harbor_admin_password\" must not be empty");
    }

    if (c->db_sslmode != NULL) {
        const struct cenum  *e;

        for (e = sslmodes; e->name != NULL; e++) {
            if (strcmp(e->name, c->db_sslmode) == 0) {
                break;
            }
        }
        if (e->name == NULL) {
            config_error(p, config_find(p, "database", "sslmode"),
                         "\"database.sslmode\" must be one of disable, "
                         "allow, prefer, require, verify-ca, verify-full");
        }
    }

    {
        const char  *why;

        why = config_ldap_urls(c->ldap_url);
        if (why != NULL) {
            config_error(p, config_find(p, NULL, "ldap_url"),
                         "\"ldap_url\" %s", why);
        }
    }

    if (c->listen_port == 0 && c->listen[0] == '\0') {
        config_error(p, config_find(p, "authd", "listen"),
                     "\"authd.listen\" must not be empty");
    }

    if (c->metrics_listen != NULL && c->metrics_listen[0] != '\0') {
        struct sockaddr_in  sin;

        if (config_inet_addr(c->metrics_listen, &sin) != 0) {
            config_error(p, config_find(p, "authd", "metrics_listen"),
                         "\"authd.metrics_listen\" must be ADDRESS:PORT, "
                         "for example 127.0.0.1:9091");
        }
    }

    if (strcmp(c->token_key, c->token_cert) == 0) {
        config_error(p, config_find(p, "authd", "token_certificate"),
                     "\"authd.token_certificate\" must not be the same "
                     "file as \"authd.token_private_key\"");
    }

    if (c->registry_url != NULL
        && strncmp(c->registry_url, "http://", 7) != 0
        && strncmp(c->registry_url, "https://", 8) != 0)
    {
        config_error(p, config_find(p, "authd", "registry_url"),
                     "\"authd.registry_url\" must start with http:// or "
                     "https://, for example http://127.0.0.1:8080");
    }

    if (c->registry_url != NULL
        && strpbrk(c->registry_url, " \t\r\n?#") != NULL)
    {
        config_error(p, config_find(p, "authd", "registry_url"),
                     "\"authd.registry_url\" must be a base URL without "
                     "spaces, query or fragment");
    }

    /* the secret key lives next to the token signing key unless named */
    if (c->secret_key == NULL) {
        const char  *slash = strrchr(c->token_key, '/');
        int          dlen = slash != NULL ? (int) (slash - c->token_key) : 1;

        if (asprintf(&c->secret_key, "%.*s/secretkey", dlen,
                     slash != NULL ? c->token_key : ".") == -1)
        {
            c->secret_key = NULL;
            config_error(p, NULL, "out of memory");
        }
    }

    if ((c->https_certificate == NULL) != (c->https_private_key == NULL)) {
        config_error(p, config_find(p, "https", c->https_certificate == NULL
                                    ? "private_key" : "certificate"),
                     "\"https.certificate\" and \"https.private_key\" go "
                     "together: give both, or neither for plain http");
    }

    if (c->registry_address != NULL
        && (c->registry_address[0] == '\0'
            || strspn(c->registry_address,
                      "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                      "0123456789.-:[]") != strlen(c->registry_address)
            || (strchr(c->registry_address, ':')
                != strrchr(c->registry_address, ':')
                && c->registry_address[0] != '[')))
    {
        config_error(p, config_find(p, "authd", "registry_address"),
                     "\"authd.registry_address\" must be an address or host "
                     "name, with an optional :PORT, an IPv6 address in "
                     "brackets: 127.0.0.1, 127.0.0.1:8443, [::1]:8443");
    }

    if (c->token_service[0] == '\0' || c->token_issuer[0] == '\0') {
        config_error(p, config_find(p, "authd", "token_service"),
                     "\"authd.token_service\" and \"authd.token_issuer\" "
                     "must not be empty");
    }

    return p->errors;
}


struct config *
config_parse(const char *path)
{
    struct cparse    p;
    yaml_parser_t    parser;
    yaml_node_t     *root;
    FILE            *f;
    int              have_doc;

    memset(&p, 0, sizeof(p));
    p.path = path;
    have_doc = 0;

    p.c = calloc(1, sizeof(struct config));
    if (p.c == NULL || config_defaults(p.c) != 0) {
        fprintf(stderr, "%s: out of memory\n", path);
        config_free(p.c);
        return NULL;
    }

    p.c->path = strdup(path);

    f = fopen(path, "r");
    if (f == NULL) {
        fprintf(stderr, "%s: %s\n", path, strerror(errno));
        config_free(p.c);
        return NULL;
    }

    if (!yaml_parser_initialize(&parser)) {
        fprintf(stderr, "%s: out of memory\n", path);
        fclose(f);
        config_free(p.c);
        return NULL;
    }

    yaml_parser_set_input_file(&parser, f);

    if (!yaml_parser_load(&parser, &p.doc)) {
        fprintf(stderr, "%s:%lu: %s", path,
                (unsigned long) parser.problem_mark.line + 1,
                parser.problem != NULL ? parser.problem : "YAML error");
        if (parser.context != NULL) {
            fprintf(stderr, " %s (from line %lu)", parser.context,
                    (unsigned long) parser.context_mark.line + 1);
        }
        fputc('\n', stderr);
        p.errors++;
        goto done;
    }

    have_doc = 1;

    root = yaml_document_get_root_node(&p.doc);

    if (root == NULL) {
        /* an empty file: every default */

    } else if (root->type != YAML_MAPPING_NODE) {
        config_error(&p, root, "the configuration must be a mapping of "
                     "keys to values");

    } else {
        config_map(&p, root, top_keys, "");
    }

    if (p.errors == 0) {
        config_check(&p);
    }

done:

    if (have_doc) {
        yaml_document_delete(&p.doc);
    }
    yaml_parser_delete(&parser);
    fclose(f);

    if (p.errors) {
        config_free(p.c);
        return NULL;
    }

    return p.c;
}


static void
config_free_keys(struct config *c, const struct ckey *keys)
{
    const struct ckey  *k;
    char              **sp;

    for (k = keys; k->name != NULL; k++) {
        if (k->type == C_SECTION) {
            config_free_keys(c, k->section);

        } else if (k->type == C_STR || k->type == C_SECRET
                   || k->type == C_PATH)
        {
            sp = (char **) ((char *) c + k->off);
            if (*sp != NULL && k->type == C_SECRET) {
                explicit_bzero(*sp, strlen(*sp));
            }
            free(*sp);
            *sp = NULL;
        }
    }
}


/*
 * The line of key (in section, or at the top when section is NULL) in
 * the file at path, for a caller's own "file:line" message; 0 when it
 * is not there.
 */
unsigned long
config_line(const char *path, const char *section, const char *key)
{
    struct cparse    p;
    yaml_parser_t    parser;
    yaml_node_t     *n;
    unsigned long    line;
    FILE            *f;

    memset(&p, 0, sizeof(p));
    p.path = path;
    line = 0;

    f = fopen(path, "r");
    if (f == NULL) {
        return 0;
    }

    if (!yaml_parser_initialize(&parser)) {
        fclose(f);
        return 0;
    }

    yaml_parser_set_input_file(&parser, f);

    if (yaml_parser_load(&parser, &p.doc)) {
        n = config_find(&p, section, key);
        if (n != NULL) {
            line = (unsigned long) n->start_mark.line + 1;
        }
        yaml_document_delete(&p.doc);
    }

    yaml_parser_delete(&parser);
    fclose(f);

    return line;
}


/* the name of a log.level, as a configuration file writes it */
const char *
config_level_name(int level)
{
    const struct cenum  *e;

    for (e = levels; e->name != NULL; e++) {
        if (e->value == level) {
            return e->name;
        }
    }

    return "info";
}


void
config_free(struct config *c)
{
    if (c == NULL) {
        return;
    }

    config_free_keys(c, top_keys);
    free(c->outbound_allowlist);        /* set through the API only */
    free(c->path);
    free(c);
}
