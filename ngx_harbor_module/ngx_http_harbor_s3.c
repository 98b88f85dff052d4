
/*
 * ngx-harbor: an OCI registry inside nginx.
 * The S3 backend, first step: /v2 reads of a bucket laid out as CNCF
 * distribution's s3 driver lays it out (the same keys under its
 * rootdirectory), so a bucket a distribution registry filled is served
 * as it is.
 *
 * Nothing here waits on the network in the event loop.  The small reads
 * of a request (a layer link; a tag link, a revision link and the
 * manifest; a listing of tags) run as one task in the location's thread
 * pool, each a libcurl request signed with SigV4 (harbor_sigv4.c), with
 * a deadline.  A blob's bytes never pass through a task: its GET or HEAD
 * is answered by nginx's upstream through an internal redirect to a
 * named location that proxies $harbor_s3_url, a presigned URL of the
 * blob (Range and HEAD are the store's), or with harbor_storage_redirect
 * on, by a 307 to that URL, as distribution does.  Nothing is cached:
 * a tag read is as fresh as the store.  Blob uploads are
 * ngx_http_harbor_s3_upload.c, manifest PUTs
 * ngx_http_harbor_s3_manifest.c; deletes are refused for now.
 */


#include "ngx_http_harbor_s3.h"

#include <dlfcn.h>

#include <curl/curl.h>


#define NGX_HTTP_HARBOR_S3_BLOB      0
#define NGX_HTTP_HARBOR_S3_MANIFEST  1
#define NGX_HTTP_HARBOR_S3_TAGS      2

#define NGX_HTTP_HARBOR_S3_LINK_MAX  256             /* a link's bytes */
#define NGX_HTTP_HARBOR_S3_LIST_MAX  (1024 * 1024)   /* a listing page */
#define NGX_HTTP_HARBOR_S3_TAGS_MAX  (4 * 1024 * 1024)  /* all the tags */
#define NGX_HTTP_HARBOR_S3_EXPIRES   1200            /* presigned, in s */


typedef struct {
    ngx_http_harbor_task_t      task;        /* first */
    ngx_http_harbor_s3_conf_t  *conf;
    ngx_uint_t                  kind;
    ngx_str_t                   name;        /* the route's, pool copies */
    ngx_str_t                   ref;
    ngx_uint_t                  by_digest;

    /* the result */
    ngx_int_t                   rc;          /* OK, DECLINED, ABORT, ERROR */
    ngx_uint_t                  status;      /* of NGX_ERROR */
    u_char                      why[NGX_MAX_PATH];   /* logged */
    u_char                      digest[HB_DIGEST_MAX + 1];
    size_t                      digest_len;
    ngx_http_harbor_s3_buf_t    body;        /* a manifest; tags, '\n' */
} ngx_http_harbor_s3_task_t;


static ngx_int_t ngx_http_harbor_s3_add_variables(ngx_conf_t *cf);
static ngx_int_t ngx_http_harbor_s3_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);
static void *ngx_http_harbor_s3_create_conf(ngx_conf_t *cf);
static char *ngx_http_harbor_s3_merge_conf(ngx_conf_t *cf, void *parent,
    void *child);
static ngx_int_t ngx_http_harbor_s3_prepare(ngx_conf_t *cf,
    ngx_http_harbor_s3_conf_t *conf);
static ngx_int_t ngx_http_harbor_s3_read_credentials(ngx_conf_t *cf,
    ngx_http_harbor_s3_conf_t *conf);
static ngx_int_t ngx_http_harbor_s3_init_process(ngx_cycle_t *cycle);
static void ngx_http_harbor_s3_work(ngx_http_harbor_task_t *t);
static void ngx_http_harbor_s3_done(ngx_http_harbor_task_t *t, ngx_int_t rc);
static ngx_int_t ngx_http_harbor_s3_answer(ngx_http_request_t *r,
    ngx_http_harbor_s3_task_t *st);
static ngx_int_t ngx_http_harbor_s3_blob(ngx_http_request_t *r,
    ngx_http_harbor_s3_task_t *st);
static ngx_int_t ngx_http_harbor_s3_manifest(ngx_http_request_t *r,
    ngx_http_harbor_s3_task_t *st);
static ngx_int_t ngx_http_harbor_s3_tags(ngx_http_request_t *r,
    ngx_http_harbor_s3_task_t *st);
static long ngx_http_harbor_s3_get(ngx_http_harbor_s3_task_t *st,
    const char *key, const hb_sigv4_pair_t *query, size_t nquery,
    ngx_http_harbor_s3_buf_t *buf);
static ngx_int_t ngx_http_harbor_s3_link(ngx_http_harbor_s3_task_t *st,
    int kind, ngx_str_t *key, ngx_str_t *key2, ngx_uint_t want_digest);
static ngx_int_t ngx_http_harbor_s3_list_tags(ngx_http_harbor_s3_task_t *st);
static ngx_int_t ngx_http_harbor_s3_fail(ngx_http_harbor_s3_task_t *st,
    long status, const char *key);
static ngx_int_t ngx_http_harbor_s3_cmp(const void *a, const void *b);
static int ngx_http_harbor_s3_url(ngx_http_harbor_s3_conf_t *conf,
    const char *key, const char *query, char *out, size_t len);


static ngx_command_t  ngx_http_harbor_s3_commands[] = {

    { ngx_string("harbor_s3_endpoint"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_str_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_harbor_s3_conf_t, endpoint),
      NULL },

    { ngx_string("harbor_s3_region"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_str_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_harbor_s3_conf_t, region),
      NULL },

    { ngx_string("harbor_s3_credentials"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_str_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_harbor_s3_conf_t, credentials),
      NULL },

    { ngx_string("harbor_s3_path_style"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_FLAG,
      ngx_conf_set_flag_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_harbor_s3_conf_t, path_style),
      NULL },

    { ngx_string("harbor_s3_timeout"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_msec_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_harbor_s3_conf_t, timeout),
      NULL },

    { ngx_string("harbor_s3_location"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_str_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_harbor_s3_conf_t, location),
      NULL },

    { ngx_string("harbor_storage_redirect"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_FLAG,
      ngx_conf_set_flag_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_harbor_s3_conf_t, redirect),
      NULL },

      ngx_null_command
};


static ngx_http_module_t  ngx_http_harbor_s3_module_ctx = {
    ngx_http_harbor_s3_add_variables,      /* preconfiguration */
    NULL,                                  /* postconfiguration */

    NULL,                                  /* create main configuration */
    NULL,                                  /* init main configuration */

    NULL,                                  /* create server configuration */
    NULL,                                  /* merge server configuration */

    ngx_http_harbor_s3_create_conf,        /* create location configuration */
    ngx_http_harbor_s3_merge_conf          /* merge location configuration */
};


ngx_module_t  ngx_http_harbor_s3_module = {
    NGX_MODULE_V1,
    &ngx_http_harbor_s3_module_ctx,        /* module context */
    ngx_http_harbor_s3_commands,           /* module directives */
    NGX_HTTP_MODULE,                       /* module type */
    NULL,                                  /* init master */
    NULL,                                  /* init module */
    ngx_http_harbor_s3_init_process,       /* init process */
    NULL,                                  /* init thread */
    NULL,                                  /* exit thread */
    NULL,                                  /* exit process */
    NULL,                                  /* exit master */
    NGX_MODULE_V1_PADDING
};


static ngx_str_t  ngx_http_harbor_s3_url_name = ngx_string("harbor_s3_url");
static ngx_int_t  ngx_http_harbor_s3_url_index = NGX_ERROR;


static ngx_int_t
ngx_http_harbor_s3_add_variables(ngx_conf_t *cf)
{
    ngx_http_variable_t  *v;

    v = ngx_http_add_variable(cf, &ngx_http_harbor_s3_url_name, 0);
    if (v == NULL) {
        return NGX_ERROR;
    }

    v->get_handler = ngx_http_harbor_s3_variable;

    ngx_http_harbor_s3_url_index = ngx_http_get_variable_index(cf,
                                                &ngx_http_harbor_s3_url_name);

    return ngx_http_harbor_s3_url_index == NGX_ERROR ? NGX_ERROR : NGX_OK;
}


/* set by the blob route before its redirect; anywhere else: empty */

static ngx_int_t
ngx_http_harbor_s3_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data)
{
    v->not_found = 1;

    return NGX_OK;
}


static void *
ngx_http_harbor_s3_create_conf(ngx_conf_t *cf)
{
    ngx_http_harbor_s3_conf_t  *conf;

    conf = ngx_pcalloc(cf->pool, sizeof(ngx_http_harbor_s3_conf_t));
    if (conf == NULL) {
        return NULL;
    }

    conf->path_style = NGX_CONF_UNSET;
    conf->redirect = NGX_CONF_UNSET;
    conf->timeout = NGX_CONF_UNSET_MSEC;

    return conf;
}


/*
 * Merged after ngx_http_harbor_module (it is listed first in config):
 * that module's configuration of this location is final here.
 */

static char *
ngx_http_harbor_s3_merge_conf(ngx_conf_t *cf, void *parent, void *child)
{
    ngx_http_harbor_s3_conf_t *prev = parent;
    ngx_http_harbor_s3_conf_t *conf = child;

    ngx_http_harbor_loc_conf_t  *hlcf;

    ngx_conf_merge_str_value(conf->endpoint, prev->endpoint, "");
    ngx_conf_merge_str_value(conf->region, prev->region, "us-east-1");
    ngx_conf_merge_str_value(conf->credentials, prev->credentials, "");
    ngx_conf_merge_str_value(conf->location, prev->location, "@harbor_s3");
    ngx_conf_merge_value(conf->path_style, prev->path_style, 1);
    ngx_conf_merge_value(conf->redirect, prev->redirect, 0);
    ngx_conf_merge_msec_value(conf->timeout, prev->timeout, 10000);

    hlcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_harbor_module);

    if (!hlcf->enable || !hlcf->s3) {
        return NGX_CONF_OK;
    }

    if (conf->storage.len == hlcf->storage.len && conf->base != NULL
        && ngx_strncmp(conf->storage.data, hlcf->storage.data,
                       hlcf->storage.len) == 0)
    {
        return NGX_CONF_OK;
    }

    conf->storage = hlcf->storage;

    return ngx_http_harbor_s3_prepare(cf, conf) == NGX_OK ? NGX_CONF_OK
                                                          : NGX_CONF_ERROR;
}


/* Whether a harbor_storage value names a bucket. */

ngx_uint_t
ngx_http_harbor_s3_storage(ngx_str_t *storage)
{
    return storage->len > sizeof("s3://") - 1
           && ngx_strncmp(storage->data, "s3://", sizeof("s3://") - 1) == 0;
}


/*
 * s3://bucket[/rootdirectory], the endpoint and the credentials into
 * what a request needs: the URL and the signed path up to a key.
 */

/*
 * libcurl, loaded (dlopen) by the first location that serves a bucket: a
 * registry on the filesystem does not map it and the two dozen libraries
 * it brings, which cost each nginx process some 3 MiB of resident memory.
 */
static struct {
    void                *lib;
    CURLcode           (*global_init)(long flags);
    CURL              *(*easy_init)(void);
    CURLcode           (*easy_setopt)(CURL *c, CURLoption o, ...);
    CURLcode           (*easy_perform)(CURL *c);
    CURLcode           (*easy_getinfo)(CURL *c, CURLINFO i, ...);
    void               (*easy_cleanup)(CURL *c);
    struct curl_slist *(*slist_append)(struct curl_slist *l, const char *s);
    void               (*slist_free_all)(struct curl_slist *l);
} ngx_http_harbor_curl;

/* some location of the configuration serves a bucket: libcurl is set up */
static ngx_uint_t  ngx_http_harbor_s3_used;


static ngx_int_t
ngx_http_harbor_curl_load(ngx_conf_t *cf)
{
    void  *lib;

    if (ngx_http_harbor_curl.lib != NULL) {
        return NGX_OK;
    }

    lib = dlopen("libcurl.so.4", RTLD_NOW | RTLD_LOCAL);
    if (lib == NULL) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "harbor_storage s3:// "
                           "needs libcurl (apt install libcurl4): %s",
                           dlerror());
        return NGX_ERROR;
    }

    *(void **) &ngx_http_harbor_curl.global_init =
        dlsym(lib, "curl_global_init");
    *(void **) &ngx_http_harbor_curl.easy_init = dlsym(lib, "curl_easy_init");
    *(void **) &ngx_http_harbor_curl.easy_setopt =
        dlsym(lib, "curl_easy_setopt");
    *(void **) &ngx_http_harbor_curl.easy_perform =
        dlsym(lib, "curl_easy_perform");
    *(void **) &ngx_http_harbor_curl.easy_getinfo =
        dlsym(lib, "curl_easy_getinfo");
    *(void **) &ngx_http_harbor_curl.easy_cleanup =
        dlsym(lib, "curl_easy_cleanup");
    *(void **) &ngx_http_harbor_curl.slist_append =
        dlsym(lib, "curl_slist_append");
    *(void **) &ngx_http_harbor_curl.slist_free_all =
        dlsym(lib, "curl_slist_free_all");

    if (ngx_http_harbor_curl.global_init == NULL
        || ngx_http_harbor_curl.easy_init == NULL
        || ngx_http_harbor_curl.easy_setopt == NULL
        || ngx_http_harbor_curl.easy_perform == NULL
        || ngx_http_harbor_curl.easy_getinfo == NULL
        || ngx_http_harbor_curl.easy_cleanup == NULL
        || ngx_http_harbor_curl.slist_append == NULL
        || ngx_http_harbor_curl.slist_free_all == NULL)
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "libcurl.so.4 lacks a function the module uses");
        dlclose(lib);
        return NGX_ERROR;
    }

    /* kept for the life of the master and its workers */
    ngx_http_harbor_curl.lib = lib;

    return NGX_OK;
}


static ngx_int_t
ngx_http_harbor_s3_prepare(ngx_conf_t *cf, ngx_http_harbor_s3_conf_t *conf)
{
    u_char     *p, *end, *slash, *host, *scheme_end;
    size_t      len, hlen;
    ngx_str_t   root;

    if (ngx_http_harbor_curl_load(cf) != NGX_OK) {
        return NGX_ERROR;
    }

    ngx_http_harbor_s3_used = 1;

    p = conf->storage.data + sizeof("s3://") - 1;
    end = conf->storage.data + conf->storage.len;

    while (end > p && end[-1] == '/') {
        end--;
    }

    slash = ngx_strlchr(p, end, '/');

    conf->bucket.data = p;
    conf->bucket.len = (slash ? slash : end) - p;

    root.data = slash ? slash + 1 : end;
    root.len = end - root.data;

    while (root.len && root.data[0] == '/') {
        root.data++;
        root.len--;
    }

    if (conf->bucket.len < 3 || conf->bucket.len > 63) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"harbor_storage %V\": a bucket name has 3 to 63 "
                           "characters", &conf->storage);
        return NGX_ERROR;
    }

    for (p = conf->bucket.data; p < conf->bucket.data + conf->bucket.len; p++) {
        if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9')
              || *p == '-' || *p == '.'))
        {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "\"harbor_storage %V\": a bucket name is made "
                               "of a-z, 0-9, '-' and '.'", &conf->storage);
            return NGX_ERROR;
        }
    }

    /* the key prefix of distribution's tree: [root/]docker/registry/v2 */

    conf->v2.len = root.len + (root.len ? 1 : 0)
                   + sizeof(HB_LAYOUT_V2) - 2;
    conf->v2.data = ngx_pnalloc(cf->pool, conf->v2.len + 1);
    if (conf->v2.data == NULL) {
        return NGX_ERROR;
    }

    if (root.len) {
        ngx_sprintf(conf->v2.data, "%V/%s%Z", &root, HB_LAYOUT_V2 + 1);

    } else {
        ngx_sprintf(conf->v2.data, "%s%Z", HB_LAYOUT_V2 + 1);
    }

    /* the endpoint: http[s]://host[:port] */

    if (conf->endpoint.len == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"harbor_storage %V\" requires "
                           "\"harbor_s3_endpoint\": the store's URL, e.g. "
                           "http://127.0.0.1:7480", &conf->storage);
        return NGX_ERROR;
    }

    while (conf->endpoint.len && conf->endpoint.data[conf->endpoint.len - 1]
                                 == '/')
    {
        conf->endpoint.len--;
    }

    if (conf->endpoint.len > 7
        && ngx_strncmp(conf->endpoint.data, "http://", 7) == 0)
    {
        host = conf->endpoint.data + 7;

    } else if (conf->endpoint.len > 8
               && ngx_strncmp(conf->endpoint.data, "https://", 8) == 0)
    {
        host = conf->endpoint.data + 8;

    } else {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"harbor_s3_endpoint %V\": an http:// or "
                           "https:// URL without a path is expected",
                           &conf->endpoint);
        return NGX_ERROR;
    }

    scheme_end = host;
    hlen = conf->endpoint.data + conf->endpoint.len - host;

    if (ngx_strlchr(host, host + hlen, '/') != NULL
        || ngx_strlchr(host, host + hlen, '?') != NULL)
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"harbor_s3_endpoint %V\": an http:// or "
                           "https:// URL without a path is expected",
                           &conf->endpoint);
        return NGX_ERROR;
    }

    /* path style: scheme://host/bucket/key; else scheme://bucket.host/key */

    len = conf->endpoint.len + conf->bucket.len + 2;

    conf->base = ngx_pnalloc(cf->pool, len + 1);
    conf->host = ngx_pnalloc(cf->pool, hlen + conf->bucket.len + 2);
    conf->prefix = ngx_pnalloc(cf->pool, conf->bucket.len + 3);
    conf->region_z = ngx_pnalloc(cf->pool, conf->region.len + 1);

    if (conf->base == NULL || conf->host == NULL || conf->prefix == NULL
        || conf->region_z == NULL)
    {
        return NGX_ERROR;
    }

    ngx_cpystrn((u_char *) conf->region_z, conf->region.data,
                conf->region.len + 1);

    if (conf->path_style) {
        ngx_sprintf((u_char *) conf->base, "%V%Z", &conf->endpoint);
        ngx_sprintf((u_char *) conf->host, "%*s%Z", hlen, host);
        ngx_sprintf((u_char *) conf->prefix, "/%V/%Z", &conf->bucket);

    } else {
        ngx_sprintf((u_char *) conf->base, "%*s%V.%*s%Z",
                    scheme_end - conf->endpoint.data, conf->endpoint.data,
                    &conf->bucket, hlen, host);
        ngx_sprintf((u_char *) conf->host, "%V.%*s%Z", &conf->bucket,
                    hlen, host);
        ngx_sprintf((u_char *) conf->prefix, "/%Z");
    }

    return ngx_http_harbor_s3_read_credentials(cf, conf);
}


/*
 * The credentials file, in the AWS shared credentials format:
 *
 *     aws_access_key_id = AKIA...
 *     aws_secret_access_key = ...
 *
 * ('#' and ';' start comments, a "[profile]" line is ignored).  Read at
 * configuration time (and so again on reload); the secret is never
 * logged, not even when the file is wrong.
 */

static ngx_int_t
ngx_http_harbor_s3_read_credentials(ngx_conf_t *cf,
    ngx_http_harbor_s3_conf_t *conf)
{
    u_char      *p, *end, *line, *eol, *k, *kend, *v, *vend;
    char       **dst;
    ssize_t      n;
    ngx_fd_t     fd;
    ngx_str_t    path;
    ngx_file_t   file;
    u_char       buf[4096];

    if (conf->credentials.len == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"harbor_storage %V\" requires "
                           "\"harbor_s3_credentials\": a file with "
                           "aws_access_key_id and aws_secret_access_key",
                           &conf->storage);
        return NGX_ERROR;
    }

    path = conf->credentials;

    if (ngx_conf_full_name(cf->cycle, &path, 1) != NGX_OK) {
        return NGX_ERROR;
    }

    fd = ngx_open_file(path.data, NGX_FILE_RDONLY, NGX_FILE_OPEN, 0);
    if (fd == NGX_INVALID_FILE) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, ngx_errno,
                           ngx_open_file_n " \"%V\" failed", &path);
        return NGX_ERROR;
    }

    ngx_memzero(&file, sizeof(ngx_file_t));
    file.fd = fd;
    file.name = path;
    file.log = cf->log;

    n = ngx_read_file(&file, buf, sizeof(buf), 0);

    ngx_close_file(fd);

    if (n == NGX_ERROR) {
        return NGX_ERROR;
    }

    if ((size_t) n == sizeof(buf)) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "the credentials file \"%V\" is larger than "
                           "4 KiB", &path);
        goto fail;
    }

    p = buf;
    end = buf + n;

    while (p < end) {
        line = p;
        eol = ngx_strlchr(p, end, '\n');
        eol = eol ? eol : end;
        p = eol + 1;

        while (line < eol && (*line == ' ' || *line == '\t')) {
            line++;
        }

        if (line == eol || *line == '#' || *line == ';' || *line == '[') {
            continue;
        }

        k = line;
        v = ngx_strlchr(line, eol, '=');

        if (v == NULL) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "the credentials file \"%V\": a line without "
                               "'='", &path);
            goto fail;
        }

        kend = v++;

        while (kend > k && (kend[-1] == ' ' || kend[-1] == '\t')) {
            kend--;
        }

        vend = eol;

        while (vend > v && (vend[-1] == ' ' || vend[-1] == '\t'
                            || vend[-1] == '\r'))
        {
            vend--;
        }

        while (v < vend && (*v == ' ' || *v == '\t')) {
            v++;
        }

        if ((size_t) (kend - k) == sizeof("aws_access_key_id") - 1
            && ngx_strncmp(k, "aws_access_key_id", kend - k) == 0)
        {
            dst = &conf->access_key;

        } else if ((size_t) (kend - k) == sizeof("aws_secret_access_key") - 1
                   && ngx_strncmp(k, "aws_secret_access_key", kend - k) == 0)
        {
            dst = &conf->secret_key;

        } else {
            continue;
        }

        if (vend == v || vend - v > 128) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "the credentials file \"%V\": \"%*s\" has "
                               "an empty or too long value", &path,
                               kend - k, k);
            goto fail;
        }

        *dst = ngx_pnalloc(cf->pool, vend - v + 1);
        if (*dst == NULL) {
            goto fail;
        }

        ngx_cpystrn((u_char *) *dst, v, vend - v + 1);
    }

    ngx_explicit_memzero(buf, sizeof(buf));

    if (conf->access_key == NULL || conf->secret_key == NULL) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "the credentials file \"%V\" requires "
                           "aws_access_key_id and aws_secret_access_key",
                           &path);
        return NGX_ERROR;
    }

    return NGX_OK;

fail:

    ngx_explicit_memzero(buf, sizeof(buf));

    return NGX_ERROR;
}


static ngx_int_t
ngx_http_harbor_s3_init_process(ngx_cycle_t *cycle)
{
    /* a registry on the filesystem pays nothing for libcurl */
    if (!ngx_http_harbor_s3_used) {
        return NGX_OK;
    }

    if (ngx_http_harbor_curl.global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        ngx_log_error(NGX_LOG_EMERG, cycle->log, 0,
                      "curl_global_init() failed");
        return NGX_ERROR;
    }

    return NGX_OK;
}


/*
 * A /v2 request on a bucket: the reads, as one task; anything else is
 * refused with a clear error.
 */

ngx_int_t
ngx_http_harbor_s3_handler(ngx_http_request_t *r, ngx_http_harbor_route_t *rt)
{
    ngx_int_t                   rc;
    ngx_http_harbor_s3_conf_t  *conf;
    ngx_http_harbor_s3_task_t  *st;

    conf = ngx_http_get_module_loc_conf(r, ngx_http_harbor_s3_module);

    if (conf->base == NULL) {
        ngx_log_error(NGX_LOG_ALERT, r->connection->log, 0,
                      "harbor: the S3 storage of this location is not "
                      "configured");
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    /* uploads: ngx_http_harbor_s3_upload.c */

    if (rt->type == NGX_HTTP_HARBOR_R_UPLOADS) {
        return ngx_http_harbor_s3_uploads(r, rt);
    }

    if (rt->type == NGX_HTTP_HARBOR_R_UPLOAD) {
        return ngx_http_harbor_s3_upload(r, rt);
    }

    /* a manifest PUT: read and checked by ngx_http_harbor_manifest.c */

    if (rt->type == NGX_HTTP_HARBOR_R_MANIFEST && r->method == NGX_HTTP_PUT) {
        return ngx_http_harbor_manifest(r, rt);
    }

    if (!(r->method & (NGX_HTTP_GET|NGX_HTTP_HEAD))) {
        /* the router left a body of POST, PUT and PATCH unread */

        rc = ngx_http_discard_request_body(r);
        if (rc != NGX_OK) {
            return rc;
        }

        return ngx_http_harbor_error(r, NGX_HTTP_NOT_ALLOWED, "UNSUPPORTED",
                                     "pushes and deletes on object storage "
                                     "are not supported yet", NULL);
    }

    st = (ngx_http_harbor_s3_task_t *)
         ngx_http_harbor_task_alloc(r, sizeof(ngx_http_harbor_s3_task_t));
    if (st == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    st->conf = conf;

    switch (rt->type) {

    case NGX_HTTP_HARBOR_R_BLOB:
        st->kind = NGX_HTTP_HARBOR_S3_BLOB;
        break;

    case NGX_HTTP_HARBOR_R_MANIFEST:
        st->kind = NGX_HTTP_HARBOR_S3_MANIFEST;
        break;

    case NGX_HTTP_HARBOR_R_TAGS:
        if (r->method != NGX_HTTP_GET) {
            goto unsupported;
        }

        st->kind = NGX_HTTP_HARBOR_S3_TAGS;
        break;

    default:
        goto unsupported;
    }

    /* the route points into r's buffers: a thread reads its own copies */

    st->name.len = rt->name.len;
    st->name.data = ngx_pstrdup(r->pool, &rt->name);
    st->ref.len = rt->ref.len;
    st->ref.data = ngx_pstrdup(r->pool, &rt->ref);

    if (st->name.data == NULL || (rt->ref.len && st->ref.data == NULL)) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    st->by_digest = (rt->alg != HB_DIGEST_NONE);

    rc = ngx_http_harbor_task(r, &st->task, ngx_http_harbor_s3_work,
                              ngx_http_harbor_s3_done);

    if (rc == NGX_AGAIN) {
        r->main->count++;
        return NGX_DONE;
    }

    if (rc == NGX_ERROR && st->rc == NGX_OK) {
        /* not queued: the pool is full */
        return ngx_http_harbor_error(r, NGX_HTTP_SERVICE_UNAVAILABLE,
                                     "UNAVAILABLE", "the registry is busy, "
                                     "try again later", NULL);
    }

    /* no thread pool (nginx without threads): done inline */

    return ngx_http_harbor_s3_answer(r, st);

unsupported:

    return ngx_http_harbor_error(r, NGX_HTTP_NOT_ALLOWED, "UNSUPPORTED",
                                 "this operation is not supported on object "
                                 "storage yet", NULL);
}


static void
ngx_http_harbor_s3_done(ngx_http_harbor_task_t *t, ngx_int_t rc)
{
    ngx_http_harbor_s3_task_t *st = (ngx_http_harbor_s3_task_t *) t;

    ngx_http_finalize_request(t->r, ngx_http_harbor_s3_answer(t->r, st));
}


/* back on the event loop: the answer, and the thread's buffer freed */

static ngx_int_t
ngx_http_harbor_s3_answer(ngx_http_request_t *r,
    ngx_http_harbor_s3_task_t *st)
{
    ngx_int_t  rc;

    if (st->rc == NGX_ERROR) {
        rc = ngx_http_harbor_s3_error(r, st->status, "GET", st->why);

    } else {

        switch (st->kind) {

        case NGX_HTTP_HARBOR_S3_BLOB:
            rc = ngx_http_harbor_s3_blob(r, st);
            break;

        case NGX_HTTP_HARBOR_S3_MANIFEST:
            rc = ngx_http_harbor_s3_manifest(r, st);
            break;

        default: /* NGX_HTTP_HARBOR_S3_TAGS */
            rc = ngx_http_harbor_s3_tags(r, st);
        }
    }

    if (st->body.data) {
        free(st->body.data);
        st->body.data = NULL;
    }

    return rc;
}


static ngx_int_t
ngx_http_harbor_s3_blob(ngx_http_request_t *r, ngx_http_harbor_s3_task_t *st)
{
    int                         n;
    char                        key[NGX_HTTP_HARBOR_S3_KEY_MAX];
    u_char                     *url;
    size_t                      len;
    ngx_str_t                   digest, name;
    hb_sigv4_key_t              k;
    hb_sigv4_req_t              req;
    hb_sigv4_pair_t             host;
    ngx_table_elt_t            *h;
    ngx_http_variable_value_t  *vv;
    ngx_http_harbor_s3_conf_t  *conf;
    char                        date[HB_SIGV4_DATE_LEN + 1];
    char                        qs[2048];

    if (st->rc == NGX_DECLINED) {
        return ngx_http_harbor_error(r, NGX_HTTP_NOT_FOUND, "BLOB_UNKNOWN",
                                     "blob unknown to registry", NULL);
    }

    conf = st->conf;

    n = ngx_sprintf((u_char *) key, "%s", conf->prefix) - (u_char *) key;

    if (hb_layout_blob_data(key + n, sizeof(key) - n,
                            (char *) conf->v2.data, conf->v2.len,
                            (char *) st->ref.data, st->ref.len) < 0)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    k.access_key = conf->access_key;
    k.secret_key = conf->secret_key;
    k.region = conf->region_z;
    k.service = "s3";

    host.name = "host";
    host.value = conf->host;

    ngx_memzero(&req, sizeof(hb_sigv4_req_t));
    req.method = (r->method == NGX_HTTP_HEAD) ? "HEAD" : "GET";
    req.path = key;
    req.headers = &host;
    req.nheaders = 1;
    req.payload = HB_SIGV4_UNSIGNED;

    if (hb_sigv4_date(ngx_time(), date) != 0) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    req.date = date;

    if (hb_sigv4_presign(&k, &req, NGX_HTTP_HARBOR_S3_EXPIRES, qs,
                         sizeof(qs))
        != 0)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    len = ngx_strlen(conf->base) + 3 * sizeof(key) + ngx_strlen(qs) + 2;

    url = ngx_pnalloc(r->pool, len);
    if (url == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (ngx_http_harbor_s3_url(conf, key, qs, (char *) url, len) != 0) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    digest = st->ref;

    if (ngx_http_harbor_add_header(r, "Docker-Content-Digest", &digest)
        != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (conf->redirect) {
        h = ngx_list_push(&r->headers_out.headers);
        if (h == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        h->hash = 1;
#if (nginx_version >= 1023000)
        h->next = NULL;
#endif
        ngx_str_set(&h->key, "Location");
        h->value.data = url;
        h->value.len = ngx_strlen(url);
        r->headers_out.location = h;

        return ngx_http_harbor_send(r, NGX_HTTP_TEMPORARY_REDIRECT, NULL,
                                    NULL);
    }

    /* the bytes by nginx's upstream: the named location proxies the URL */

    vv = &r->variables[ngx_http_harbor_s3_url_index];
    vv->data = url;
    vv->len = ngx_strlen(url);
    vv->valid = 1;
    vv->no_cacheable = 0;
    vv->not_found = 0;

    name = conf->location;

    return ngx_http_named_location(r, &name);
}


static ngx_int_t
ngx_http_harbor_s3_manifest(ngx_http_request_t *r,
    ngx_http_harbor_s3_task_t *st)
{
    int                     type;
    ngx_str_t               ct, body, digest;
    ngx_http_harbor_ctx_t  *ctx;

    if (st->rc == NGX_DECLINED) {
        return ngx_http_harbor_error(r, NGX_HTTP_NOT_FOUND,
                                     "MANIFEST_UNKNOWN",
                                     "manifest unknown to registry", NULL);
    }

    if (st->rc == NGX_ABORT) {
        return ngx_http_harbor_error(r, NGX_HTTP_NOT_FOUND,
                                     "MANIFEST_UNKNOWN",
                                     "the stored manifest is larger "
                                     "than 4 MiB", NULL);
    }

    type = hb_manifest_sniff((char *) st->body.data, st->body.len);

    if (type == HB_MT_UNKNOWN) {
        return ngx_http_harbor_error(r, NGX_HTTP_NOT_FOUND,
                                     "MANIFEST_UNKNOWN",
                                     "the stored manifest is of a kind "
                                     "this registry does not serve", NULL);
    }

    ct.data = (u_char *) hb_manifest_type_name(type);
    ct.len = ngx_strlen(ct.data);

    digest.data = st->digest;
    digest.len = st->digest_len;

    if (ngx_http_harbor_add_header(r, "Docker-Content-Digest", &digest)
        != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    body.len = st->body.len;
    body.data = ngx_pnalloc(r->pool, body.len ? body.len : 1);
    if (body.data == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_memcpy(body.data, st->body.data, body.len);

    if (r->method == NGX_HTTP_HEAD) {
        r->headers_out.status = NGX_HTTP_OK;
        r->headers_out.content_length_n = body.len;
        r->headers_out.content_type = ct;
        r->headers_out.content_type_len = ct.len;
        r->header_only = 1;

        return ngx_http_send_header(r);
    }

    ctx = ngx_http_get_module_ctx(r, ngx_http_harbor_module);

    if (ctx && !ctx->view) {
        ngx_http_harbor_journal(r, "pull", &st->name, &digest,
                                st->by_digest ? NULL : &st->ref,
                                (char *) ct.data, body.len);
    }

    return ngx_http_harbor_send(r, NGX_HTTP_OK, &ct, &body);
}


static ngx_int_t
ngx_http_harbor_s3_tags(ngx_http_request_t *r, ngx_http_harbor_s3_task_t *st)
{
    u_char       *p, *end, *eol;
    ngx_str_t    *tag, path;
    ngx_array_t   tags;
    u_char       *prefix;

    if (st->rc == NGX_DECLINED) {
        return ngx_http_harbor_error(r, NGX_HTTP_NOT_FOUND, "NAME_UNKNOWN",
                                     "repository name not known to registry",
                                     NULL);
    }

    if (st->rc == NGX_ABORT) {
        return ngx_http_harbor_error(r, NGX_HTTP_INTERNAL_SERVER_ERROR,
                                     "UNKNOWN", "too many tags to list",
                                     NULL);
    }

    if (ngx_array_init(&tags, r->pool, 16, sizeof(ngx_str_t)) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    /*
     * The store lists keys in byte order, "v1.0/" before "v1/": the tags
     * are sorted again, as tags.
     */

    p = st->body.data;
    end = p + st->body.len;

    while (p < end) {
        eol = ngx_strlchr(p, end, '\n');
        eol = eol ? eol : end;

        tag = ngx_array_push(&tags);
        if (tag == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        tag->len = eol - p;
        tag->data = ngx_pnalloc(r->pool, tag->len);
        if (tag->data == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        ngx_memcpy(tag->data, p, tag->len);

        p = eol + 1;
    }

    ngx_sort(tags.elts, tags.nelts, sizeof(ngx_str_t),
             ngx_http_harbor_s3_cmp);

    path.data = ngx_pnalloc(r->pool, st->name.len + 32);
    prefix = ngx_pnalloc(r->pool, st->name.len + sizeof("\"name\":\"\",") + 1);
    if (path.data == NULL || prefix == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    path.len = ngx_sprintf(path.data, "/v2/%V/tags/list", &st->name)
               - path.data;

    ngx_sprintf(prefix, "\"name\":\"%V\",%Z", &st->name);

    return ngx_http_harbor_send_list(r, &tags, &path, (char *) prefix,
                                     "tags");
}


static ngx_int_t
ngx_http_harbor_s3_cmp(const void *a, const void *b)
{
    const ngx_str_t  *x = a, *y = b;

    return ngx_memn2cmp(x->data, y->data, x->len, y->len);
}


/* In the thread pool from here on: no nginx allocation, no logging. */

static void
ngx_http_harbor_s3_work(ngx_http_harbor_task_t *t)
{
    int                         n;
    long                        status;
    ngx_int_t                   rc;
    ngx_str_t                   d;
    ngx_http_harbor_s3_task_t  *st = (ngx_http_harbor_s3_task_t *) t;
    char                        key[NGX_HTTP_HARBOR_S3_KEY_MAX];

    switch (st->kind) {

    case NGX_HTTP_HARBOR_S3_BLOB:
        rc = ngx_http_harbor_s3_link(st, HB_LINK_LAYER, &st->ref, NULL, 0);
        break;

    case NGX_HTTP_HARBOR_S3_MANIFEST:

        if (st->by_digest) {
            ngx_memcpy(st->digest, st->ref.data, st->ref.len);
            st->digest_len = st->ref.len;
            rc = NGX_OK;

        } else {
            rc = ngx_http_harbor_s3_link(st, HB_LINK_TAG, &st->ref, NULL, 1);
        }

        if (rc == NGX_OK) {
            d.data = st->digest;
            d.len = st->digest_len;

            rc = ngx_http_harbor_s3_link(st, HB_LINK_REVISION, &d, NULL, 0);
        }

        if (rc == NGX_OK) {
            n = ngx_sprintf((u_char *) key, "%s", st->conf->prefix)
                - (u_char *) key;

            if (hb_layout_blob_data(key + n, sizeof(key) - n,
                                    (char *) st->conf->v2.data,
                                    st->conf->v2.len, (char *) st->digest,
                                    st->digest_len) < 0)
            {
                rc = ngx_http_harbor_s3_fail(st, 0, "(a blob's key)");
                break;
            }

            st->body.max = HB_MANIFEST_MAX;

            status = ngx_http_harbor_s3_get(st, key, NULL, 0, &st->body);

            if (st->body.too_large) {
                rc = NGX_ABORT;

            } else if (status == 404) {
                rc = NGX_DECLINED;

            } else if (status != 200) {
                rc = ngx_http_harbor_s3_fail(st, status, key);
            }
        }

        break;

    default: /* NGX_HTTP_HARBOR_S3_TAGS */
        rc = ngx_http_harbor_s3_list_tags(st);
    }

    st->rc = rc;
}


/*
 * A link object: NGX_OK (its digest in st->digest when want_digest),
 * NGX_DECLINED absent, NGX_ERROR.
 */

static ngx_int_t
ngx_http_harbor_s3_link(ngx_http_harbor_s3_task_t *st, int kind,
    ngx_str_t *key, ngx_str_t *key2, ngx_uint_t want_digest)
{
    int                        n;
    long                       status;
    char                       k[NGX_HTTP_HARBOR_S3_KEY_MAX];
    ngx_http_harbor_s3_buf_t   buf;

    n = ngx_sprintf((u_char *) k, "%s", st->conf->prefix) - (u_char *) k;

    if (hb_layout_link(k + n, sizeof(k) - n, (char *) st->conf->v2.data,
                       st->conf->v2.len, (char *) st->name.data,
                       st->name.len, kind, (char *) key->data, key->len,
                       key2 ? (char *) key2->data : NULL,
                       key2 ? key2->len : 0, NULL)
        < 0)
    {
        /* not a valid name, tag or digest: nothing is stored there */
        return NGX_DECLINED;
    }

    ngx_memzero(&buf, sizeof(ngx_http_harbor_s3_buf_t));
    buf.max = NGX_HTTP_HARBOR_S3_LINK_MAX;

    status = ngx_http_harbor_s3_get(st, k, NULL, 0, &buf);

    if (status == 404) {
        free(buf.data);
        return NGX_DECLINED;
    }

    if (status != 200 || buf.too_large) {
        free(buf.data);
        return ngx_http_harbor_s3_fail(st, buf.too_large ? 0 : status, k);
    }

    if (want_digest) {
        if (buf.len > HB_DIGEST_MAX
            || hb_digest_parse(buf.data, buf.len) == HB_DIGEST_NONE)
        {
            free(buf.data);
            return ngx_http_harbor_s3_fail(st, 0, k);
        }

        ngx_memcpy(st->digest, buf.data, buf.len);
        st->digest_len = buf.len;
    }

    free(buf.data);

    return NGX_OK;
}


/*
 * Every tag of the repository: the common prefixes of
 * <repo>/_manifests/tags/, a page of the listing at a time, one tag a
 * line into st->body.  No tag and no _manifests: not a repository.
 */

static ngx_int_t
ngx_http_harbor_s3_list_tags(ngx_http_harbor_s3_task_t *st)
{
    int                        n, pass;
    long                       status;
    u_char                    *p, *end, *s, *e, *q;
    size_t                     plen, tlen;
    char                       dir[NGX_HTTP_HARBOR_S3_KEY_MAX];
    char                       bucket[NGX_HTTP_HARBOR_S3_KEY_MAX];
    char                       token[1024];
    hb_sigv4_pair_t            query[5];
    size_t                     nq;
    ngx_http_harbor_s3_buf_t   page;

    n = hb_layout_repo_dir(dir, sizeof(dir) - 1, (char *) st->conf->v2.data,
                           st->conf->v2.len, (char *) st->name.data,
                           st->name.len, HB_DIR_TAGS);
    if (n < 0) {
        return NGX_DECLINED;
    }

    dir[n++] = '/';
    dir[n] = '\0';
    plen = n;

    /* the bucket itself: "/bucket" path style, "" (the root) otherwise */

    n = ngx_sprintf((u_char *) bucket, "%s", st->conf->prefix)
        - (u_char *) bucket;

    if (n > 1) {
        bucket[n - 1] = '\0';
    }

    st->body.max = NGX_HTTP_HARBOR_S3_TAGS_MAX;
    token[0] = '\0';

    for (pass = 0; pass < 2; pass++) {

        for ( ;; ) {
            nq = 0;
            query[nq].name = "list-type";
            query[nq++].value = "2";
            query[nq].name = "prefix";
            query[nq++].value = dir;
            query[nq].name = "delimiter";
            query[nq++].value = "/";

            if (pass == 1) {
                /* no tags: is there a repository at all? */
                query[nq].name = "max-keys";
                query[nq++].value = "1";
            }

            if (token[0]) {
                query[nq].name = "continuation-token";
                query[nq++].value = token;
            }

            ngx_memzero(&page, sizeof(ngx_http_harbor_s3_buf_t));
            page.max = NGX_HTTP_HARBOR_S3_LIST_MAX;

            status = ngx_http_harbor_s3_get(st, bucket, query, nq, &page);

            if (status != 200 || page.too_large) {
                free(page.data);
                return ngx_http_harbor_s3_fail(st, status, dir);
            }

            p = page.data;
            end = p + page.len;

            if (pass == 1) {
                n = (ngx_http_harbor_s3_find(p, end, "<Key>") != NULL
                     || ngx_http_harbor_s3_find(p, end, "<CommonPrefixes>")
                        != NULL);
                free(page.data);
                return n ? NGX_OK : NGX_DECLINED;
            }

            /* <CommonPrefixes><Prefix>dir/TAG/</Prefix></CommonPrefixes> */

            while ((s = ngx_http_harbor_s3_find(p, end, "<CommonPrefixes>"))
                   != NULL)
            {
                s += sizeof("<CommonPrefixes>") - 1;

                q = ngx_http_harbor_s3_find(s, end, "<Prefix>");
                e = q ? ngx_http_harbor_s3_find(q, end, "</Prefix>") : NULL;

                if (e == NULL) {
                    break;
                }

                q += sizeof("<Prefix>") - 1;
                p = e;

                if ((size_t) (e - q) <= plen + 1
                    || ngx_strncmp(q, dir, plen) != 0 || e[-1] != '/')
                {
                    continue;
                }

                q += plen;
                tlen = e - 1 - q;

                if (!hb_tag_valid(q, tlen)) {
                    continue;
                }

                if (st->body.len + tlen + 1 > st->body.max) {
                    free(page.data);
                    return NGX_ABORT;
                }

                if (st->body.data == NULL) {
                    st->body.data = malloc(st->body.max);
                    if (st->body.data == NULL) {
                        free(page.data);
                        return ngx_http_harbor_s3_fail(st, 0, dir);
                    }
                }

                if (st->body.len) {
                    st->body.data[st->body.len++] = '\n';
                }

                ngx_memcpy(st->body.data + st->body.len, q, tlen);
                st->body.len += tlen;
            }

            token[0] = '\0';
            p = page.data;

            if (ngx_http_harbor_s3_find(p, end, "<IsTruncated>true")
                != NULL
                && (s = ngx_http_harbor_s3_find(p, end, "<NextContinuationToken>"))
                   != NULL)
            {
                s += sizeof("<NextContinuationToken>") - 1;
                e = ngx_http_harbor_s3_find(s, end, "</");

                if (e && (size_t) (e - s) < sizeof(token)) {
                    ngx_memcpy(token, s, e - s);
                    token[e - s] = '\0';
                }
            }

            free(page.data);

            if (token[0] == '\0') {
                break;
            }
        }

        if (st->body.len) {
            return NGX_OK;
        }

        /* pass 1 looks at <repo>/_manifests/ */

        n = hb_layout_repo_dir(dir, sizeof(dir) - 1,
                               (char *) st->conf->v2.data, st->conf->v2.len,
                               (char *) st->name.data, st->name.len,
                               HB_DIR_MANIFESTS);
        if (n < 0) {
            return NGX_DECLINED;
        }

        dir[n++] = '/';
        dir[n] = '\0';
    }

    return NGX_DECLINED;
}


/*
 * A store's failure: 503 when it is away, slow or busy, 500 otherwise;
 * logged back on the event loop with the key and the store's status
 * (never a header or a URL: no secret and no signature is logged).
 */

static ngx_int_t
ngx_http_harbor_s3_fail(ngx_http_harbor_s3_task_t *st, long status,
    const char *key)
{
    return ngx_http_harbor_s3_failure(&st->status, st->why, sizeof(st->why),
                                      status, key);
}


/* the same, for any task: its answer's status and the reason logged */

ngx_int_t
ngx_http_harbor_s3_failure(ngx_uint_t *answer, u_char *why, size_t len,
    long status, const char *key)
{
    *answer = (status < 0 || status >= 500 || status == 429)
              ? NGX_HTTP_SERVICE_UNAVAILABLE
              : NGX_HTTP_INTERNAL_SERVER_ERROR;

    if (status < 0) {
        ngx_snprintf(why, len - 1,
                     "\"%s\": the store is unreachable or timed out%Z", key);

    } else {
        ngx_snprintf(why, len - 1, "\"%s\": the store answered %l%Z", key,
                     status);
    }

    return NGX_ERROR;
}


/* back on the event loop: a task's failure, logged and answered */

ngx_int_t
ngx_http_harbor_s3_error(ngx_http_request_t *r, ngx_uint_t status,
    const char *what, u_char *why)
{
    ngx_log_error(NGX_LOG_ERR, r->connection->log, 0, "harbor: S3 %s %s",
                  what, why);

    if (status == NGX_HTTP_SERVICE_UNAVAILABLE) {
        return ngx_http_harbor_error(r, status, "UNAVAILABLE",
                                     "the object store is unavailable, try "
                                     "again later", NULL);
    }

    if (status == NGX_HTTP_REQUEST_ENTITY_TOO_LARGE) {
        return ngx_http_harbor_error(r, status, "SIZE_INVALID",
                                     "too large for the object store in one "
                                     "request", NULL);
    }

    return ngx_http_harbor_error(r, status, "UNKNOWN", "object store error",
                                 NULL);
}


static size_t
ngx_http_harbor_s3_write(char *data, size_t size, size_t nmemb, void *ctx)
{
    size_t                      len;
    ngx_http_harbor_s3_buf_t   *buf;
    ngx_http_harbor_s3_call_t  *q = ctx;

    len = size * nmemb;

    if (q->sink) {
        q->sink(q->sink_ctx, (u_char *) data, len);
        return len;
    }

    buf = q->out;

    if (buf == NULL) {
        /* an answer nobody reads (an error's XML) */
        return len;
    }

    if (buf->len + len > buf->max) {
        buf->too_large = 1;
        return 0;
    }

    if (buf->data == NULL) {
        buf->data = malloc(buf->max);
        if (buf->data == NULL) {
            return 0;
        }
    }

    ngx_memcpy(buf->data + buf->len, data, len);
    buf->len += len;

    return len;
}


/* the request body: q->mem, then the file */

static size_t
ngx_http_harbor_s3_read(char *data, size_t size, size_t nmemb, void *ctx)
{
    size_t                      len, n;
    ssize_t                     got;
    ngx_http_harbor_s3_call_t  *q = ctx;

    len = size * nmemb;
    n = 0;

    if ((size_t) q->sent < q->mem_len) {
        n = ngx_min(len, q->mem_len - (size_t) q->sent);
        ngx_memcpy(data, q->mem + q->sent, n);
        q->sent += n;

        return n;
    }

    if (q->fd == NGX_INVALID_FILE
        || q->sent - (off_t) q->mem_len >= q->file_len)
    {
        return 0;
    }

    n = (size_t) ngx_min((off_t) len,
                         q->file_len - (q->sent - (off_t) q->mem_len));

    got = pread(q->fd, data, n, q->sent - q->mem_len);
    if (got <= 0) {
        return CURL_READFUNC_ABORT;
    }

    q->sent += got;

    return got;
}


static size_t
ngx_http_harbor_s3_header(char *data, size_t size, size_t nmemb, void *ctx)
{
    size_t                      len, n;
    u_char                     *p, *end;
    ngx_http_harbor_s3_call_t  *q = ctx;

    len = size * nmemb;

    if (len > 5 && ngx_strncasecmp((u_char *) data, (u_char *) "etag:", 5)
                   == 0)
    {
        p = (u_char *) data + 5;
        end = (u_char *) data + len;

        while (p < end && (*p == ' ' || *p == '\t')) {
            p++;
        }

        while (end > p && (end[-1] == '\r' || end[-1] == '\n'
                           || end[-1] == ' '))
        {
            end--;
        }

        n = ngx_min((size_t) (end - p), sizeof(q->etag) - 1);
        ngx_memcpy(q->etag, p, n);
        q->etag[n] = '\0';
    }

    return len;
}


/*
 * One signed request (the key is the path after the host, raw, e.g.
 * "/bucket/docker/..."): its HTTP status, or -1 when the store could not
 * be reached or did not answer within the timeout.
 */

long
ngx_http_harbor_s3_call(ngx_http_harbor_s3_conf_t *conf,
    ngx_http_harbor_s3_call_t *q)
{
    long                        status;
    CURL                       *c;
    CURLcode                    rc;
    off_t                       body;
    hb_sigv4_key_t              k;
    hb_sigv4_req_t              req;
    hb_sigv4_pair_t             h[4];
    struct curl_slist          *hl, *nl;
    size_t                      i, qlen, nh;
    const char                 *payload;
    char                        date[HB_SIGV4_DATE_LEN + 1];
    char                        auth[1024];
    char                        line[NGX_HTTP_HARBOR_S3_KEY_MAX * 3 + 64];
    char                        qs[2048], url[8192];

    if (hb_sigv4_date(time(NULL), date) != 0) {
        return -1;
    }

    body = (off_t) q->mem_len
           + (q->fd != NGX_INVALID_FILE ? q->file_len : 0);
    q->sent = 0;
    q->etag[0] = '\0';

    payload = (ngx_strcmp(q->method, "PUT") == 0
               || ngx_strcmp(q->method, "POST") == 0)
              ? HB_SIGV4_UNSIGNED : HB_SIGV4_EMPTY_SHA256;

    k.access_key = conf->access_key;
    k.secret_key = conf->secret_key;
    k.region = conf->region_z;
    k.service = "s3";

    nh = 0;
    h[nh].name = "host";
    h[nh++].value = conf->host;
    h[nh].name = "x-amz-content-sha256";
    h[nh++].value = payload;
    h[nh].name = "x-amz-date";
    h[nh++].value = date;

    if (q->copy_source) {
        h[nh].name = "x-amz-copy-source";
        h[nh++].value = q->copy_source;
    }

    req.method = q->method;
    req.path = q->key;
    req.query = q->query;
    req.nquery = q->nquery;
    req.headers = h;
    req.nheaders = nh;
    req.payload = payload;
    req.date = date;

    if (hb_sigv4_authorization(&k, &req, auth, sizeof(auth)) != 0) {
        return -1;
    }

    /* the query, encoded as it was signed */

    qlen = 0;
    qs[0] = '\0';

    for (i = 0; i < q->nquery; i++) {
        if (qlen + 2 >= sizeof(qs)) {
            return -1;
        }

        if (i) {
            qs[qlen++] = '&';
        }

        if (hb_sigv4_encode(q->query[i].name, strlen(q->query[i].name), 1,
                            qs + qlen, sizeof(qs) - qlen) != 0)
        {
            return -1;
        }

        qlen += strlen(qs + qlen);
        qs[qlen++] = '=';

        if (hb_sigv4_encode(q->query[i].value, strlen(q->query[i].value), 1,
                            qs + qlen, sizeof(qs) - qlen) != 0)
        {
            return -1;
        }

        qlen += strlen(qs + qlen);
    }

    if (ngx_http_harbor_s3_url(conf, q->key, q->nquery ? qs : NULL, url,
                               sizeof(url))
        != 0)
    {
        return -1;
    }

    /*
     * A handle, and a connection, per request: the three reads of a tag
     * took 110 ms on one reused connection to RGW, 20 ms on three.
     */

    c = ngx_http_harbor_curl.easy_init();
    if (c == NULL) {
        return -1;
    }

    hl = NULL;

    ngx_snprintf((u_char *) line, sizeof(line), "Authorization: %s%Z", auth);
    nl = ngx_http_harbor_curl.slist_append(hl, line);
    hl = nl ? nl : hl;

    ngx_snprintf((u_char *) line, sizeof(line), "x-amz-date: %s%Z", date);
    nl = nl ? ngx_http_harbor_curl.slist_append(hl, line) : NULL;
    hl = nl ? nl : hl;

    ngx_snprintf((u_char *) line, sizeof(line), "x-amz-content-sha256: %s%Z",
                 payload);
    nl = nl ? ngx_http_harbor_curl.slist_append(hl, line) : NULL;
    hl = nl ? nl : hl;

    ngx_snprintf((u_char *) line, sizeof(line), "Host: %s%Z", conf->host);
    nl = nl ? ngx_http_harbor_curl.slist_append(hl, line) : NULL;
    hl = nl ? nl : hl;

    /* no "Expect: 100-continue" round trip */
    nl = nl ? ngx_http_harbor_curl.slist_append(hl, "Expect:") : NULL;
    hl = nl ? nl : hl;

    if (nl && q->copy_source) {
        /* encoded as a path: the store decodes it */
        {
            size_t  n;

            n = ngx_snprintf((u_char *) line, sizeof(line),
                             "x-amz-copy-source: ") - (u_char *) line;

            if (hb_sigv4_encode(q->copy_source, strlen(q->copy_source), 0,
                                line + n, sizeof(line) - n)
                != 0)
            {
                nl = NULL;

            } else {
                nl = ngx_http_harbor_curl.slist_append(hl, line);
                hl = nl ? nl : hl;
            }
        }
    }

    status = -1;

    if (nl != NULL) {
        ngx_http_harbor_curl.easy_setopt(c, CURLOPT_URL, url);
        ngx_http_harbor_curl.easy_setopt(c, CURLOPT_HTTPHEADER, hl);
        ngx_http_harbor_curl.easy_setopt(c, CURLOPT_PATH_AS_IS, 1L);
        ngx_http_harbor_curl.easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
        ngx_http_harbor_curl.easy_setopt(c, CURLOPT_PROTOCOLS_STR,
                                         "http,https");
        ngx_http_harbor_curl.easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS,
                                         (long) ngx_min(conf->timeout, 2000));
        ngx_http_harbor_curl.easy_setopt(c, CURLOPT_WRITEFUNCTION,
                                         ngx_http_harbor_s3_write);
        ngx_http_harbor_curl.easy_setopt(c, CURLOPT_WRITEDATA, q);
        ngx_http_harbor_curl.easy_setopt(c, CURLOPT_HEADERFUNCTION,
                                         ngx_http_harbor_s3_header);
        ngx_http_harbor_curl.easy_setopt(c, CURLOPT_HEADERDATA, q);

        if (body > 0 || ngx_strcmp(q->method, "GET") != 0) {
            /*
             * A body of any size streams: no deadline on the whole, but
             * the store must move at least 1 KiB/s for harbor_s3_timeout.
             */
            ngx_http_harbor_curl.easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT,
                                             1024L);
            ngx_http_harbor_curl.easy_setopt(c, CURLOPT_LOW_SPEED_TIME,
                                 (long) ngx_max(conf->timeout / 1000, 1));

        } else if (q->sink == NULL) {
            ngx_http_harbor_curl.easy_setopt(c, CURLOPT_TIMEOUT_MS,
                                             (long) conf->timeout);

        } else {
            ngx_http_harbor_curl.easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT,
                                             1024L);
            ngx_http_harbor_curl.easy_setopt(c, CURLOPT_LOW_SPEED_TIME,
                                 (long) ngx_max(conf->timeout / 1000, 1));
        }

        if (ngx_strcmp(q->method, "PUT") == 0) {
            ngx_http_harbor_curl.easy_setopt(c, CURLOPT_UPLOAD, 1L);
            ngx_http_harbor_curl.easy_setopt(c, CURLOPT_INFILESIZE_LARGE,
                                             (curl_off_t) body);
            ngx_http_harbor_curl.easy_setopt(c, CURLOPT_READFUNCTION,
                                             ngx_http_harbor_s3_read);
            ngx_http_harbor_curl.easy_setopt(c, CURLOPT_READDATA, q);

        } else if (ngx_strcmp(q->method, "POST") == 0) {
            ngx_http_harbor_curl.easy_setopt(c, CURLOPT_POST, 1L);
            ngx_http_harbor_curl.easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE,
                                             (curl_off_t) body);
            ngx_http_harbor_curl.easy_setopt(c, CURLOPT_READFUNCTION,
                                             ngx_http_harbor_s3_read);
            ngx_http_harbor_curl.easy_setopt(c, CURLOPT_READDATA, q);

        } else if (ngx_strcmp(q->method, "HEAD") == 0) {
            ngx_http_harbor_curl.easy_setopt(c, CURLOPT_NOBODY, 1L);

        } else if (ngx_strcmp(q->method, "GET") != 0) {
            ngx_http_harbor_curl.easy_setopt(c, CURLOPT_CUSTOMREQUEST,
                                             q->method);
        }

        rc = ngx_http_harbor_curl.easy_perform(c);

        if (rc == CURLE_OK) {
            ngx_http_harbor_curl.easy_getinfo(c, CURLINFO_RESPONSE_CODE,
                                              &status);

        } else if (rc == CURLE_WRITE_ERROR && q->out && q->out->too_large) {
            status = 200;
        }
    }

    ngx_http_harbor_curl.slist_free_all(hl);
    ngx_http_harbor_curl.easy_cleanup(c);

    return status;
}


/* a GET into buf */

static long
ngx_http_harbor_s3_get(ngx_http_harbor_s3_task_t *st, const char *key,
    const hb_sigv4_pair_t *query, size_t nquery,
    ngx_http_harbor_s3_buf_t *buf)
{
    ngx_http_harbor_s3_call_t  q;

    ngx_memzero(&q, sizeof(ngx_http_harbor_s3_call_t));
    q.method = "GET";
    q.key = key;
    q.query = query;
    q.nquery = nquery;
    q.fd = NGX_INVALID_FILE;
    q.out = buf;

    return ngx_http_harbor_s3_call(st->conf, &q);
}


/* base + the key, encoded as it was signed, + '?' query */

static int
ngx_http_harbor_s3_url(ngx_http_harbor_s3_conf_t *conf, const char *key,
    const char *query, char *out, size_t len)
{
    size_t  n;

    n = strlen(conf->base);

    if (n + 1 >= len) {
        return -1;
    }

    ngx_memcpy(out, conf->base, n);

    if (hb_sigv4_encode(key, strlen(key), 0, out + n, len - n) != 0) {
        return -1;
    }

    if (query == NULL || query[0] == '\0') {
        return 0;
    }

    n += strlen(out + n);

    if (n + strlen(query) + 2 > len) {
        return -1;
    }

    out[n++] = '?';
    ngx_memcpy(out + n, query, strlen(query) + 1);

    return 0;
}


/* s in [p, end), or NULL */

u_char *
ngx_http_harbor_s3_find(u_char *p, u_char *end, const char *s)
{
    if (p == NULL || p >= end) {
        return NULL;
    }

    return memmem(p, end - p, s, strlen(s));
}
