
/*
 * ngx-harbor: an OCI registry inside nginx.
 * Directives, configuration, and phase registration.
 */


#include "ngx_http_harbor_module.h"


static void *ngx_http_harbor_create_loc_conf(ngx_conf_t *cf);
static char *ngx_http_harbor_merge_loc_conf(ngx_conf_t *cf, void *parent,
    void *child);
static char *ngx_http_harbor_registry(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_harbor_journal_set(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_harbor_too_large(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static ngx_int_t ngx_http_harbor_init(ngx_conf_t *cf);
static void *ngx_http_harbor_create_main_conf(ngx_conf_t *cf);
static char *ngx_http_harbor_init_main_conf(ngx_conf_t *cf, void *conf);
static ngx_int_t ngx_http_harbor_init_module(ngx_cycle_t *cycle);
static ngx_int_t ngx_http_harbor_init_process(ngx_cycle_t *cycle);


/* request bodies older than this in <storage>/_tmp were left by a crash */
#define NGX_HTTP_HARBOR_TMP_AGE  3600


static void ngx_http_harbor_sweep_timer(ngx_event_t *ev);
static ngx_int_t ngx_http_harbor_accept_init(ngx_cycle_t *cycle);
static void ngx_http_harbor_accept(ngx_event_t *rev);
static void ngx_http_harbor_accept_resume(ngx_event_t *ev);
static ngx_http_harbor_main_conf_t *ngx_http_harbor_main_conf(
    ngx_cycle_t *cycle);
static void ngx_http_harbor_sweep(ngx_http_harbor_main_conf_t *hmcf,
    time_t age, ngx_log_t *log);
#if (NGX_THREADS)
static void ngx_http_harbor_sweep_thread(void *data, ngx_log_t *log);
static void ngx_http_harbor_sweep_done(ngx_event_t *ev);
#endif


static ngx_conf_enum_t  ngx_http_harbor_auth_modes[] = {
    { ngx_string("off"), NGX_HTTP_HARBOR_AUTH_OFF },
    { ngx_string("token"), NGX_HTTP_HARBOR_AUTH_TOKEN },
    { ngx_null_string, 0 }
};


static ngx_command_t  ngx_http_harbor_commands[] = {

    { ngx_string("harbor_registry"),
      NGX_HTTP_LOC_CONF|NGX_CONF_FLAG,
      ngx_http_harbor_registry,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_harbor_loc_conf_t, enable),
      NULL },

    { ngx_string("harbor_storage"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_str_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_harbor_loc_conf_t, storage),
      NULL },

    { ngx_string("harbor_journal"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_harbor_journal_set,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("harbor_auth"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_enum_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_harbor_loc_conf_t, auth),
      &ngx_http_harbor_auth_modes },

    { ngx_string("harbor_token_certificate"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_str_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_harbor_loc_conf_t, token_cert),
      NULL },

    { ngx_string("harbor_token_realm"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_set_complex_value_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_harbor_loc_conf_t, token_realm),
      NULL },

    { ngx_string("harbor_token_service"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_str_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_harbor_loc_conf_t, token_service),
      NULL },

    { ngx_string("harbor_token_issuer"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_str_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_harbor_loc_conf_t, token_issuer),
      NULL },

    { ngx_string("harbor_upload_sessions"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_num_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_harbor_loc_conf_t, sessions),
      NULL },

    { ngx_string("harbor_upload_sessions_per_user"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_num_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_harbor_loc_conf_t, sessions_per_user),
      NULL },

    { ngx_string("harbor_manifest_descriptors"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_num_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_harbor_loc_conf_t, descriptors),
      NULL },

    { ngx_string("harbor_tmp_sweep"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_msec_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_harbor_main_conf_t, sweep),
      NULL },

    { ngx_string("harbor_metrics"),
      NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_NOARGS,
      ngx_http_harbor_metrics,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("harbor_header_too_large"),
      NGX_HTTP_LOC_CONF|NGX_CONF_NOARGS,
      ngx_http_harbor_too_large,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

      ngx_null_command
};


static ngx_http_module_t  ngx_http_harbor_module_ctx = {
    NULL,                                  /* preconfiguration */
    ngx_http_harbor_init,                  /* postconfiguration */

    ngx_http_harbor_create_main_conf,      /* create main configuration */
    ngx_http_harbor_init_main_conf,        /* init main configuration */

    NULL,                                  /* create server configuration */
    NULL,                                  /* merge server configuration */

    ngx_http_harbor_create_loc_conf,       /* create location configuration */
    ngx_http_harbor_merge_loc_conf         /* merge location configuration */
};


ngx_module_t  ngx_http_harbor_module = {
    NGX_MODULE_V1,
    &ngx_http_harbor_module_ctx,           /* module context */
    ngx_http_harbor_commands,              /* module directives */
    NGX_HTTP_MODULE,                       /* module type */
    NULL,                                  /* init master */
    ngx_http_harbor_init_module,           /* init module */
    ngx_http_harbor_init_process,          /* init process */
    NULL,                                  /* init thread */
    NULL,                                  /* exit thread */
    NULL,                                  /* exit process */
    NULL,                                  /* exit master */
    NGX_MODULE_V1_PADDING
};


static void *
ngx_http_harbor_create_loc_conf(ngx_conf_t *cf)
{
    ngx_http_harbor_loc_conf_t  *conf;

    conf = ngx_pcalloc(cf->pool, sizeof(ngx_http_harbor_loc_conf_t));
    if (conf == NULL) {
        return NULL;
    }

    /*
     * set by ngx_pcalloc():
     *
     *     conf->storage = { 0, NULL };
     *     conf->v2 = { 0, NULL };
     */

    conf->enable = NGX_CONF_UNSET;
    conf->journal = NGX_CONF_UNSET_PTR;
    conf->auth = NGX_CONF_UNSET_UINT;
    conf->token_key = NGX_CONF_UNSET_PTR;
    conf->token_realm = NGX_CONF_UNSET_PTR;
    conf->limits = NGX_CONF_UNSET_PTR;
    conf->sessions = NGX_CONF_UNSET_UINT;
    conf->sessions_per_user = NGX_CONF_UNSET_UINT;
    conf->descriptors = NGX_CONF_UNSET_UINT;

    return conf;
}


static char *
ngx_http_harbor_merge_loc_conf(ngx_conf_t *cf, void *parent, void *child)
{
    ngx_http_harbor_loc_conf_t *prev = parent;
    ngx_http_harbor_loc_conf_t *conf = child;

    u_char                       *p;
    ngx_str_t                    *tmp;
    ngx_uint_t                    i;
    ngx_path_t                   *path;
    ngx_open_file_cache_t       **cache;
    ngx_http_core_loc_conf_t     *clcf;
    ngx_http_harbor_main_conf_t  *hmcf;

    ngx_conf_merge_value(conf->enable, prev->enable, 0);
    ngx_conf_merge_str_value(conf->storage, prev->storage, "");
    ngx_conf_merge_ptr_value(conf->journal, prev->journal, NULL);
    ngx_conf_merge_uint_value(conf->auth, prev->auth, NGX_CONF_UNSET_UINT);
    ngx_conf_merge_str_value(conf->token_cert, prev->token_cert, "");
    ngx_conf_merge_ptr_value(conf->token_realm, prev->token_realm, NULL);
    ngx_conf_merge_str_value(conf->token_service, prev->token_service,
                             "harbor-registry");
    ngx_conf_merge_str_value(conf->token_issuer, prev->token_issuer,
                             "harbor-token-issuer");
    ngx_conf_merge_uint_value(conf->sessions, prev->sessions, 10000);
    ngx_conf_merge_uint_value(conf->sessions_per_user,
                              prev->sessions_per_user, 1000);
    ngx_conf_merge_ptr_value(conf->limits, prev->limits, NULL);

    /*
     * Each descriptor of a pushed manifest costs a link lookup and a stat
     * in the event loop.  Images have at most 127 layers (overlayfs), an
     * index tens of platforms: 512 leaves room for artifacts.
     */

    ngx_conf_merge_uint_value(conf->descriptors, prev->descriptors, 512);

    /*
     * token_service and token_issuer are used as C strings: both the
     * parser's arguments and the defaults are NUL-terminated.
     */

    if (conf->token_key == NGX_CONF_UNSET_PTR) {
        if (prev->token_key != NGX_CONF_UNSET_PTR
            && prev->token_cert.len == conf->token_cert.len
            && ngx_strncmp(prev->token_cert.data, conf->token_cert.data,
                           conf->token_cert.len) == 0)
        {
            conf->token_key = prev->token_key;

        } else {
            conf->token_key = NULL;
        }
    }

    if (!conf->enable) {
        return NGX_CONF_OK;
    }

    if (conf->storage.len == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"harbor_registry\" requires \"harbor_storage\": "
                           "the directory that holds docker/registry/v2");
        return NGX_CONF_ERROR;
    }

    if (conf->auth == NGX_CONF_UNSET_UINT) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"harbor_registry\" requires \"harbor_auth\"; "
                           "use \"harbor_auth off\" for a registry open to "
                           "anyone who can reach it");
        return NGX_CONF_ERROR;
    }

    if (conf->auth == NGX_HTTP_HARBOR_AUTH_TOKEN && conf->token_key == NULL) {
        if (conf->token_cert.len == 0) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "\"harbor_auth token\" requires "
                               "\"harbor_token_certificate\": the "
                               "certificate authd signs tokens for");
            return NGX_CONF_ERROR;
        }

        if (ngx_http_harbor_token_load_key(cf, conf) != NGX_CONF_OK) {
            return NGX_CONF_ERROR;
        }
    }

    /* a bucket (ngx_http_harbor_s3.c): no directory, no _tmp */

    conf->s3 = ngx_http_harbor_s3_storage(&conf->storage);

    if (!conf->s3 && conf->v2.len == 0) {
        while (conf->storage.len > 1
               && conf->storage.data[conf->storage.len - 1] == '/')
        {
            conf->storage.len--;
        }

        if (ngx_conf_full_name(cf->cycle, &conf->storage, 0) != NGX_OK) {
            return NGX_CONF_ERROR;
        }

        conf->v2.len = conf->storage.len + sizeof("/docker/registry/v2") - 1;
        conf->v2.data = ngx_pnalloc(cf->pool, conf->v2.len);
        if (conf->v2.data == NULL) {
            return NGX_CONF_ERROR;
        }

        ngx_sprintf(conf->v2.data, "%V/docker/registry/v2", &conf->storage);
    }

    if (!conf->s3 && conf->storage.len && ngx_http_harbor_quota_conf(cf)
                                          != NGX_OK)
    {
        return NGX_CONF_ERROR;
    }

    if (!conf->s3 && ngx_http_harbor_linkcache_conf(cf) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    if (conf->limits == NULL && (conf->sessions || conf->sessions_per_user)
        && ngx_http_harbor_limits_conf(cf, conf) != NGX_OK)
    {
        return NGX_CONF_ERROR;
    }

#if (NGX_THREADS)
    /* fsync of large uploads runs in nginx's "default" thread pool */

    conf->thread_pool = ngx_thread_pool_add(cf, NULL);
    if (conf->thread_pool == NULL) {
        return NGX_CONF_ERROR;
    }
#endif

    if (conf->s3) {
        return NGX_CONF_OK;
    }

    /*
     * Request bodies go to temporary files inside the store, so that
     * committing an upload is a rename on one filesystem, never a copy.
     */

    path = ngx_pcalloc(cf->pool, sizeof(ngx_path_t));
    if (path == NULL) {
        return NGX_CONF_ERROR;
    }

    path->name.len = conf->storage.len + sizeof("/_tmp") - 1;
    path->name.data = ngx_pnalloc(cf->pool, path->name.len + 1);
    if (path->name.data == NULL) {
        return NGX_CONF_ERROR;
    }

    p = ngx_sprintf(path->name.data, "%V/_tmp", &conf->storage);
    *p = '\0';

    hmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_harbor_module);

    tmp = ngx_array_push(&hmcf->tmp_paths);
    if (tmp == NULL) {
        return NGX_CONF_ERROR;
    }

    *tmp = path->name;

    path->conf_file = cf->conf_file->file.name.data;
    path->line = cf->conf_file->line;

    if (ngx_add_path(cf, &path) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);
    clcf->client_body_temp_path = path;

    /*
     * A live upload writes its body file at least every
     * client_body_timeout, or nginx drops it: the periodic sweep takes
     * files idle twice as long (and that nobody holds open).
     */

    hmcf->tmp_age = ngx_max(hmcf->tmp_age,
                            (time_t) (2 * clcf->client_body_timeout / 1000));

#if (NGX_THREADS)
    hmcf->thread_pool = conf->thread_pool;
#endif

    /* the open file cache is sized against the workers' descriptors */

    if (clcf->open_file_cache) {
        cache = hmcf->caches.elts;

        for (i = 0; i < hmcf->caches.nelts; i++) {
            if (cache[i] == clcf->open_file_cache) {
                break;
            }
        }

        if (i == hmcf->caches.nelts) {
            cache = ngx_array_push(&hmcf->caches);
            if (cache == NULL) {
                return NGX_CONF_ERROR;
            }

            *cache = clcf->open_file_cache;
        }
    }

    return NGX_CONF_OK;
}


static char *
ngx_http_harbor_registry(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_harbor_loc_conf_t *hlcf = conf;

    char                      *rv;
    ngx_http_core_loc_conf_t  *clcf;

    rv = ngx_conf_set_flag_slot(cf, cmd, conf);
    if (rv != NGX_CONF_OK) {
        return rv;
    }

    if (hlcf->enable) {
        clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);
        clcf->handler = ngx_http_harbor_handler;
    }

    return NGX_CONF_OK;
}


/* the answer of "error_page 494 @name" for oversized request headers */

static char *
ngx_http_harbor_too_large(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_core_loc_conf_t  *clcf;

    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);

    if (clcf->handler) {
        return "is duplicate, or the location has another handler";
    }

    clcf->handler = ngx_http_harbor_too_large_handler;

    return NGX_CONF_OK;
}


static char *
ngx_http_harbor_journal_set(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_harbor_loc_conf_t *hlcf = conf;

    ngx_str_t  *value;

    if (hlcf->journal != NGX_CONF_UNSET_PTR) {
        return "is duplicate";
    }

    value = cf->args->elts;

    if (ngx_strcmp(value[1].data, "off") == 0) {
        hlcf->journal = NULL;
        return NGX_CONF_OK;
    }

    /* opened by the master like access_log, reopened on USR1 */

    hlcf->journal = ngx_conf_open_file(cf->cycle, &value[1]);
    if (hlcf->journal == NULL) {
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


static ngx_int_t
ngx_http_harbor_init(ngx_conf_t *cf)
{
    ngx_http_handler_pt        *h;
    ngx_http_core_main_conf_t  *cmcf;

    cmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_core_module);

    h = ngx_array_push(&cmcf->phases[NGX_HTTP_ACCESS_PHASE].handlers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    *h = ngx_http_harbor_access_handler;

    /* it counts nothing without harbor_metrics */

    h = ngx_array_push(&cmcf->phases[NGX_HTTP_LOG_PHASE].handlers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    *h = ngx_http_harbor_metrics_log;

    h = ngx_array_push(&cmcf->phases[NGX_HTTP_LOG_PHASE].handlers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    *h = ngx_http_harbor_linkcache_log;

    if (ngx_http_harbor_filter_init(cf) != NGX_OK) {
        return NGX_ERROR;
    }

    return ngx_http_harbor_body_filter_init(cf);
}


static void *
ngx_http_harbor_create_main_conf(ngx_conf_t *cf)
{
    ngx_http_harbor_main_conf_t  *hmcf;

    hmcf = ngx_pcalloc(cf->pool, sizeof(ngx_http_harbor_main_conf_t));
    if (hmcf == NULL) {
        return NULL;
    }

    if (ngx_array_init(&hmcf->tmp_paths, cf->pool, 1, sizeof(ngx_str_t))
        != NGX_OK)
    {
        return NULL;
    }

    if (ngx_array_init(&hmcf->caches, cf->pool, 1,
                       sizeof(ngx_open_file_cache_t *))
        != NGX_OK)
    {
        return NULL;
    }

    hmcf->sweep = NGX_CONF_UNSET_MSEC;

    return hmcf;
}


static char *
ngx_http_harbor_init_main_conf(ngx_conf_t *cf, void *conf)
{
    ngx_http_harbor_main_conf_t *hmcf = conf;

    ngx_conf_init_msec_value(hmcf->sweep, 300000);

    return NGX_CONF_OK;
}


/*
 * A crash can leave request bodies in <storage>/_tmp.  The master removes
 * those untouched for an hour when it (re)reads the configuration: a live
 * upload writes its file all the time, and nginx gives up on one that
 * stalls after client_body_timeout.
 */

static ngx_int_t
ngx_http_harbor_init_module(ngx_cycle_t *cycle)
{
    ngx_http_harbor_main_conf_t  *hmcf;

    hmcf = ngx_http_harbor_main_conf(cycle);

    if (hmcf) {
        ngx_http_harbor_sweep(hmcf, NGX_HTTP_HARBOR_TMP_AGE, cycle->log);
    }

    return NGX_OK;
}


/* The module's main configuration in a cycle, if it has an http block. */

static ngx_http_harbor_main_conf_t *
ngx_http_harbor_main_conf(ngx_cycle_t *cycle)
{
    ngx_http_conf_ctx_t  *ctx;

    ctx = (ngx_http_conf_ctx_t *) cycle->conf_ctx[ngx_http_module.index];

    return ctx ? ctx->main_conf[ngx_http_harbor_module.ctx_index] : NULL;
}


/*
 * An open file cache allowed more descriptors than a worker may have
 * fills the worker's table: then connections, request bodies and links
 * find none.  It gets half of worker_rlimit_nofile at most (the limit is
 * set before this runs).
 */

static ngx_int_t
ngx_http_harbor_init_process(ngx_cycle_t *cycle)
{
    ngx_uint_t                    i, max;
    struct rlimit                 rl;
    ngx_open_file_cache_t       **cache;
    ngx_http_harbor_main_conf_t  *hmcf;

    hmcf = ngx_http_harbor_main_conf(cycle);
    if (hmcf == NULL) {
        return NGX_OK;
    }

    /* one worker sweeps <storage>/_tmp now and then */

    if (ngx_process == NGX_PROCESS_WORKER && ngx_worker == 0
        && hmcf->tmp_paths.nelts && hmcf->sweep)
    {
        hmcf->sweep_event.handler = ngx_http_harbor_sweep_timer;
        hmcf->sweep_event.data = hmcf;
        hmcf->sweep_event.log = cycle->log;
        hmcf->sweep_event.cancelable = 1;

        ngx_add_timer(&hmcf->sweep_event, hmcf->sweep);
    }

    if (ngx_process != NGX_PROCESS_HELPER
        && ngx_http_harbor_accept_init(cycle) != NGX_OK)
    {
        return NGX_ERROR;
    }

    if (hmcf->caches.nelts == 0) {
        return NGX_OK;
    }

    if (getrlimit(RLIMIT_NOFILE, &rl) == -1) {
        ngx_log_error(NGX_LOG_ALERT, cycle->log, ngx_errno,
                      "getrlimit(RLIMIT_NOFILE) failed");
        return NGX_OK;
    }

    if (rl.rlim_cur == RLIM_INFINITY) {
        return NGX_OK;
    }

    max = ngx_max((ngx_uint_t) rl.rlim_cur / 2, 1);
    cache = hmcf->caches.elts;

    for (i = 0; i < hmcf->caches.nelts; i++) {
        if (cache[i]->max > max) {
            ngx_log_error(NGX_LOG_WARN, cycle->log, 0,
                          "harbor: open_file_cache max=%ui is more than half "
                          "of the %ui descriptors a worker may have "
                          "(worker_rlimit_nofile): %ui used",
                          cache[i]->max, (ngx_uint_t) rl.rlim_cur, max);
            cache[i]->max = max;
        }
    }

    return NGX_OK;
}


/*
 * A worker out of descriptors stops accepting for a while: nginx's
 * ngx_event_accept(), on EMFILE or ENFILE, deletes the listening sockets'
 * events and arms a timer (accept_mutex_delay) on the read event of the
 * socket that failed, to add them again.  That timer may not be
 * cancelled, and a worker told to quit meanwhile closes its listening
 * sockets (ngx_close_listening_sockets(): their connections are freed,
 * their fd set to -1) but leaves it armed: the worker waits for it, and it
 * calls accept4(-1) ("accept4() failed (9: Bad file descriptor)"); had
 * the freed connection been taken again meanwhile (an upstream's), its
 * event would have been zeroed inside the timer tree.  So the listening
 * sockets' accept handler is wrapped: such a pause is moved onto an event
 * of our own, cancelable, that resumes accepting unless the socket has
 * been closed since.
 */

/* one per listening socket of the cycle, by its index */
static ngx_event_t  *ngx_http_harbor_resume;


static ngx_int_t
ngx_http_harbor_accept_init(ngx_cycle_t *cycle)
{
    ngx_uint_t         i;
    ngx_event_t       *resume;
    ngx_listening_t   *ls;
    ngx_connection_t  *c;

    ls = cycle->listening.elts;

    ngx_http_harbor_resume = ngx_pcalloc(cycle->pool,
                                  cycle->listening.nelts * sizeof(ngx_event_t));
    if (ngx_http_harbor_resume == NULL) {
        return NGX_ERROR;
    }

    for (i = 0; i < cycle->listening.nelts; i++) {
        c = ls[i].connection;

        if (c == NULL || c->read->handler != ngx_event_accept) {
            continue;
        }

        resume = &ngx_http_harbor_resume[i];

        resume->handler = ngx_http_harbor_accept_resume;
        resume->data = c->read;
        resume->log = cycle->log;
        resume->cancelable = 1;

        c->read->handler = ngx_http_harbor_accept;
    }

    return NGX_OK;
}


static void
ngx_http_harbor_accept(ngx_event_t *rev)
{
    ngx_msec_t         delay;
    ngx_event_t       *resume;
    ngx_connection_t  *lc;

    lc = rev->data;
    resume = &ngx_http_harbor_resume[lc->listening
                              - (ngx_listening_t *) ngx_cycle->listening.elts];

    ngx_event_accept(rev);

    if (!rev->timer_set) {
        return;
    }

    /* accepting paused for want of descriptors: resumed by our event */

    delay = (ngx_msec_int_t) (rev->timer.key - ngx_current_msec) > 0
            ? rev->timer.key - ngx_current_msec : 1;

    ngx_del_timer(rev);

    if (resume->timer_set) {
        ngx_del_timer(resume);
    }

    ngx_add_timer(resume, delay);
}


static void
ngx_http_harbor_accept_resume(ngx_event_t *ev)
{
    ngx_event_t       *rev;
    ngx_connection_t  *lc;

    rev = ev->data;
    lc = rev->data;

    if (lc->fd == (ngx_socket_t) -1 || ngx_exiting || ngx_terminate) {
        /* closed by a worker that quits: nothing to accept on */
        return;
    }

    rev->timedout = 1;

    ngx_http_harbor_accept(rev);
}


/*
 * A worker killed in the middle of an upload leaves its request body in
 * <storage>/_tmp.  One worker looks there every harbor_tmp_sweep, the
 * walk done in a thread of the "default" pool: files idle for twice
 * client_body_timeout that no process holds open for writing go.
 */

static void
ngx_http_harbor_sweep_timer(ngx_event_t *ev)
{
    ngx_http_harbor_main_conf_t *hmcf = ev->data;

#if (NGX_THREADS)
    ngx_thread_task_t  *task;
#endif

    if (ngx_exiting || ngx_quit || ngx_terminate) {
        return;
    }

#if (NGX_THREADS)

    if (hmcf->thread_pool) {
        task = hmcf->sweep_task;

        if (task == NULL) {
            task = ngx_thread_task_alloc(ngx_cycle->pool, 0);
            if (task == NULL) {
                goto again;
            }

            task->handler = ngx_http_harbor_sweep_thread;
            task->ctx = hmcf;
            task->event.handler = ngx_http_harbor_sweep_done;
            task->event.data = hmcf;
            task->event.log = ev->log;

            hmcf->sweep_task = task;
        }

        if (ngx_thread_task_post(hmcf->thread_pool, task) == NGX_OK) {
            /* the timer is set again when the walk is done */
            return;
        }

        ngx_log_error(NGX_LOG_ERR, ev->log, 0,
                      "harbor: the sweep of _tmp could not be queued");
        goto again;
    }

#endif

    ngx_http_harbor_sweep(hmcf, hmcf->tmp_age, ev->log);

#if (NGX_THREADS)
again:
#endif

    ngx_add_timer(ev, hmcf->sweep);
}


static void
ngx_http_harbor_sweep(ngx_http_harbor_main_conf_t *hmcf, time_t age,
    ngx_log_t *log)
{
    ngx_str_t   *tmp;
    ngx_uint_t   i;

    tmp = hmcf->tmp_paths.elts;

    for (i = 0; i < hmcf->tmp_paths.nelts; i++) {
        ngx_http_harbor_sweep_tmp(&tmp[i], age, log);
    }
}


#if (NGX_THREADS)

static void
ngx_http_harbor_sweep_thread(void *data, ngx_log_t *log)
{
    ngx_http_harbor_main_conf_t *hmcf = data;

    ngx_http_harbor_sweep(hmcf, hmcf->tmp_age, log);
}


static void
ngx_http_harbor_sweep_done(ngx_event_t *ev)
{
    ngx_http_harbor_main_conf_t *hmcf = ev->data;

    if (ngx_exiting || ngx_quit || ngx_terminate) {
        return;
    }

    ngx_add_timer(&hmcf->sweep_event, hmcf->sweep);
}

#endif
