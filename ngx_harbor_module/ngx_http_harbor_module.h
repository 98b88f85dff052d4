
/*
 * ngx-harbor: an OCI registry inside nginx.
 * The umbrella header of ngx_http_harbor_module.
 */


#ifndef _NGX_HTTP_HARBOR_MODULE_H_INCLUDED_
#define _NGX_HTTP_HARBOR_MODULE_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#if (NGX_THREADS)
#include <ngx_thread_pool.h>
#endif

/*
 * Uploads keep their SHA-256 state on disk between chunks, so a chunked
 * upload may continue on any worker and after a restart.  Only the
 * low-level SHA256_CTX is a plain struct that can be saved; it is
 * deprecated, not removed, in OpenSSL 3 (nginx suppresses the warnings).
 */
#include <openssl/sha.h>
#include <openssl/rand.h>
#include <openssl/evp.h>

#include "harbor_grammar.h"
#include "harbor_layout.h"
#include "harbor_policy.h"


#define NGX_HTTP_HARBOR_AUTH_OFF     0
#define NGX_HTTP_HARBOR_AUTH_TOKEN   1

#define NGX_HTTP_HARBOR_LIST_MAX     1000    /* cap of n in lists */
#define NGX_HTTP_HARBOR_REFERRERS    100     /* cap of n in referrers */
#define NGX_HTTP_HARBOR_REFERRERS_READ  (4 * 1024 * 1024)  /* per page */


typedef struct {
    ngx_flag_t                  enable;
    ngx_str_t                   storage;     /* root, no trailing slash */
    ngx_str_t                   v2;          /* storage + /docker/registry/v2 */
    ngx_open_file_t            *journal;
    ngx_uint_t                  auth;

    ngx_str_t                   token_cert;    /* path */
    EVP_PKEY                   *token_key;
    ngx_http_complex_value_t   *token_realm;
#if (NGX_THREADS)
    ngx_thread_pool_t          *thread_pool;
#endif
    ngx_shm_zone_t             *limits;
    ngx_uint_t                  sessions;      /* open uploads, in all */
    ngx_uint_t                  sessions_per_user;
    ngx_uint_t                  descriptors;   /* most in a manifest */
    ngx_str_t                   token_service; /* aud, NUL-terminated */
    ngx_str_t                   token_issuer;  /* iss, NUL-terminated */
    ngx_uint_t                  s3;            /* storage is s3://... */
} ngx_http_harbor_loc_conf_t;


/* the module's http-level configuration (ngx_http_harbor_module.c) */
typedef struct {
    ngx_array_t                 tmp_paths;   /* of ngx_str_t: <storage>/_tmp */
    ngx_array_t                 caches;      /* of ngx_open_file_cache_t * */
    ngx_msec_t                  sweep;       /* harbor_tmp_sweep */
    time_t                      tmp_age;     /* 2 x client_body_timeout */
    ngx_event_t                 sweep_event;
#if (NGX_THREADS)
    ngx_thread_pool_t          *thread_pool;
    ngx_thread_task_t          *sweep_task;
#endif
    ngx_shm_zone_t             *metrics;     /* NULL: no harbor_metrics */
} ngx_http_harbor_main_conf_t;


/* what ngx_http_harbor_metrics_count() counts */
typedef enum {
    NGX_HTTP_HARBOR_M_UPLOAD_STARTED = 0,
    NGX_HTTP_HARBOR_M_UPLOAD_FINISHED,
    NGX_HTTP_HARBOR_M_UPLOAD_CANCELLED,
    NGX_HTTP_HARBOR_M_UPLOAD_INTERRUPTED,
    NGX_HTTP_HARBOR_M_BLOB_MOUNTED,
    /* the token check's refusals, in this order */
    NGX_HTTP_HARBOR_M_TOKEN_MISSING,
    NGX_HTTP_HARBOR_M_TOKEN_MALFORMED,
    NGX_HTTP_HARBOR_M_TOKEN_SIGNATURE,
    NGX_HTTP_HARBOR_M_TOKEN_EXPIRED,
    NGX_HTTP_HARBOR_M_TOKEN_CLAIMS,
    NGX_HTTP_HARBOR_M_TOKEN_SCOPE,
    NGX_HTTP_HARBOR_M_TOKEN_TOO_LARGE,
    NGX_HTTP_HARBOR_M_JOURNAL_EVENT,
    NGX_HTTP_HARBOR_M_JOURNAL_FAILED,
    NGX_HTTP_HARBOR_M_EVENTS
} ngx_http_harbor_metric_e;

#define NGX_HTTP_HARBOR_M_TOKEN_REASONS                                      \
    (NGX_HTTP_HARBOR_M_TOKEN_TOO_LARGE - NGX_HTTP_HARBOR_M_TOKEN_MISSING + 1)


typedef enum {
    NGX_HTTP_HARBOR_R_BASE = 0,
    NGX_HTTP_HARBOR_R_CATALOG,
    NGX_HTTP_HARBOR_R_TAGS,
    NGX_HTTP_HARBOR_R_MANIFEST,
    NGX_HTTP_HARBOR_R_BLOB,
    NGX_HTTP_HARBOR_R_UPLOADS,       /* .../blobs/uploads/ */
    NGX_HTTP_HARBOR_R_UPLOAD,        /* .../blobs/uploads/<uuid> */
    NGX_HTTP_HARBOR_R_REFERRERS
} ngx_http_harbor_route_e;


typedef struct {
    ngx_http_harbor_route_e     type;
    ngx_str_t                   name;        /* repository */
    ngx_str_t                   ref;         /* tag, digest or uuid */
    ngx_uint_t                  alg;         /* HB_DIGEST_* if ref is one */
} ngx_http_harbor_route_t;


typedef struct {
    ngx_uint_t                  status;
    const char                 *code;
    const char                 *message;
} ngx_http_harbor_fail_t;


/*
 * An upload in progress, held by this request while it is open (the
 * backend's lock and names are behind backend).
 */
typedef struct {
    off_t                       offset;      /* bytes stored */
    SHA256_CTX                  sha;         /* state after offset bytes */
    void                       *backend;
} ngx_http_harbor_upload_t;


typedef enum {
    /* where each is stored: harbor_layout.c */
    NGX_HTTP_HARBOR_LINK_LAYER = 0,
    NGX_HTTP_HARBOR_LINK_REVISION,
    NGX_HTTP_HARBOR_LINK_TAG,
    NGX_HTTP_HARBOR_LINK_TAG_INDEX,
    NGX_HTTP_HARBOR_LINK_REFERRER
} ngx_http_harbor_link_e;


/* A link: a typed value, never a path. */
typedef struct {
    ngx_http_harbor_link_e      kind;
    ngx_str_t                   name;        /* repository */
    ngx_str_t                   key;         /* digest, tag or subject */
    ngx_str_t                   key2;        /* TAG_INDEX, REFERRER: digest */
    ngx_uint_t                  cached;      /* may come from the link
                                                cache: manifest and blob
                                                GET and HEAD only */
} ngx_http_harbor_link_t;


/*
 * A page of a sorted list: the first n names after last, and one more if
 * there is one (then a Link to the next page is due).  Only names that
 * may be on the page are kept: a page costs O(n) memory, not O(list).
 */
typedef struct {
    ngx_array_t                 items;       /* of ngx_str_t, sorted */
    ngx_str_t                   last;
    ngx_uint_t                  n;
    int                       (*valid)(const unsigned char *p, size_t len);
    size_t                      read;        /* referrers: manifests, bytes */
    ngx_uint_t                  nread;       /* items whose bodies are in */
    ngx_str_t                  *bodies;      /* len 0: none to show */
} ngx_http_harbor_page_t;


/*
 * The storage interface: the routes call only the backend's table
 * (ngx_http_harbor_backend(r)).  A call may finish later: it returns
 * NGX_AGAIN and calls op->done on the event loop once op is filled (the
 * request is kept alive meanwhile), or returns op->rc at once, with op
 * filled and op->done not called.  commit, upload_append and
 * upload_create may always finish later; blob_read, link_set,
 * link_restore and list (a page) when op->done is set (NULL: the caller
 * cannot wait, the backend does it inline); the others finish at once
 * today (metadata the page cache holds), but a backend may make any of
 * them wait and the routes are to grow to it.  op->rc: NGX_OK; NGX_DECLINED, the
 * thing is not there (a digest mismatch for a commit); NGX_BUSY, an
 * upload another request holds; NGX_ABORT, larger than asked; NGX_ERROR,
 * with op->status the answer (507 full, 403 read-only, 503 busy or out
 * of descriptors, 500), logged by the backend.  Nothing that crosses it
 * is a descriptor, a path, an errno or an open file cache entry.
 */

typedef struct ngx_http_harbor_op_s  ngx_http_harbor_op_t;

typedef void (*ngx_http_harbor_op_pt)(ngx_http_request_t *r,
    ngx_http_harbor_op_t *op);

struct ngx_http_harbor_op_s {
    ngx_http_harbor_op_pt       done;
    ngx_int_t                   rc;
    ngx_uint_t                  status;      /* of NGX_ERROR */
    ngx_str_t                   digest;      /* link_get */
    off_t                       size;        /* blob_send */
    time_t                      mtime;       /* link_get, link_move */
    ngx_str_t                   data;        /* blob_read */
    void                       *backend;     /* the backend's own state */
};


/*
 * What a commit makes durable, in this order, before the client hears
 * 201: the request body (a verified blob or manifest) into the store, a
 * layer link (a blob), or a manifest's revision link, then with a tag its
 * index entry, the tag and the revision again (see manifest_delete), and
 * with a subject its referrers entry.  With expect set, the body's digest
 * (hex) is computed by the backend when hex is NULL and checked first.
 */

typedef struct {
    ngx_str_t                   name;        /* repository */
    ngx_str_t                   digest;      /* "<alg>:<hex>" */
    u_char                     *hex;         /* computed; NULL: hash it */
    ngx_str_t                   tag;         /* len 0: none */
    ngx_str_t                   subject;     /* len 0: none */
    ngx_uint_t                  manifest;    /* 0: a blob */
} ngx_http_harbor_commit_t;


typedef enum {
    NGX_HTTP_HARBOR_LIST_TAGS = 0,           /* of name */
    NGX_HTTP_HARBOR_LIST_REPOS,
    NGX_HTTP_HARBOR_LIST_REFERRERS           /* of name, subject key */
} ngx_http_harbor_list_e;


typedef struct {
    /* send as the response; what a content handler returns */
    ngx_int_t  (*blob_send)(ngx_http_request_t *r, ngx_str_t *digest,
                            ngx_str_t *type, ngx_uint_t renew,
                            ngx_http_harbor_op_t *op);
    ngx_int_t  (*blob_read)(ngx_http_request_t *r, ngx_str_t *digest,
                            size_t max, ngx_http_harbor_op_t *op);
    ngx_int_t  (*blob_touch)(ngx_http_request_t *r, ngx_str_t *digest,
                             ngx_http_harbor_op_t *op);
    ngx_int_t  (*commit)(ngx_http_request_t *r, ngx_http_harbor_commit_t *c,
                         ngx_http_harbor_op_t *op);

    /* with want_digest 0, whether it is there (and its time) only */
    ngx_int_t  (*link_get)(ngx_http_request_t *r, ngx_http_harbor_link_t *l,
                           ngx_uint_t want_digest, ngx_http_harbor_op_t *op);
    ngx_int_t  (*link_set)(ngx_http_request_t *r, ngx_http_harbor_link_t *l,
                           ngx_str_t *digest, ngx_http_harbor_op_t *op);
    ngx_int_t  (*link_touch)(ngx_http_request_t *r,
                             ngx_http_harbor_link_t *l,
                             ngx_http_harbor_op_t *op);
    ngx_int_t  (*link_delete)(ngx_http_request_t *r,
                              ngx_http_harbor_link_t *l,
                              ngx_http_harbor_op_t *op);

    /* the delete fence: move aside, then restore or drop (op->backend) */
    ngx_int_t  (*link_move)(ngx_http_request_t *r, ngx_http_harbor_link_t *l,
                            ngx_http_harbor_op_t *op);
    ngx_int_t  (*link_restore)(ngx_http_request_t *r,
                               ngx_http_harbor_op_t *op);
    ngx_int_t  (*link_drop)(ngx_http_request_t *r, ngx_http_harbor_op_t *op);

    ngx_int_t  (*repo_exists)(ngx_http_request_t *r, ngx_str_t *name,
                              ngx_http_harbor_op_t *op);
    /*
     * A page of a list; with page->read (referrers), the manifests of the
     * first page->nread of it in page->bodies, at most page->read bytes.
     * page NULL: every tag, unsorted, into all, inline.
     */
    ngx_int_t  (*list)(ngx_http_request_t *r, ngx_http_harbor_list_e kind,
                       ngx_str_t *name, ngx_str_t *key,
                       ngx_http_harbor_page_t *page, ngx_array_t *all,
                       ngx_http_harbor_op_t *op);

    ngx_int_t  (*upload_create)(ngx_http_request_t *r, ngx_str_t *name,
                                ngx_str_t *uuid, ngx_http_harbor_op_t *op);
    ngx_int_t  (*upload_open)(ngx_http_request_t *r, ngx_str_t *name,
                              ngx_str_t *uuid, ngx_http_harbor_upload_t *u,
                              ngx_http_harbor_op_t *op);
    /*
     * The request body (size bytes, hashed into sha) appended to u; with
     * c, the upload is then committed as c says and removed.
     */
    ngx_int_t  (*upload_append)(ngx_http_request_t *r,
                                ngx_http_harbor_upload_t *u, off_t size,
                                SHA256_CTX *sha, ngx_http_harbor_commit_t *c,
                                ngx_http_harbor_op_t *op);
    ngx_int_t  (*upload_abort)(ngx_http_request_t *r,
                               ngx_http_harbor_upload_t *u,
                               ngx_http_harbor_op_t *op);
    /* let another request have it: before every answer */
    void       (*upload_release)(ngx_http_harbor_upload_t *u);

    /*
     * a project's policy file into op->data (harbor_policy.h): dir is
     * HB_POLICY_IMMUTABLE (its immutable tag rules) or HB_POLICY_PROXY
     */
    ngx_int_t  (*policy_read)(ngx_http_request_t *r, const char *dir,
                              ngx_str_t *project, ngx_http_harbor_op_t *op);
} ngx_http_harbor_backend_t;


typedef struct {
    ngx_http_harbor_route_t     route;
    ngx_int_t                   route_rc;
    ngx_http_harbor_fail_t      fail;        /* why the route is refused */
    ngx_http_harbor_upload_t    upload;
    ngx_http_harbor_op_t        op;          /* a storage call that waits */
    ngx_http_harbor_page_t     *page;        /* a list that waits */
    ngx_http_harbor_commit_t    commit;
    int                         mt;          /* a pushed manifest's HB_MT_ */
    const char                 *media_type;  /* and its name */

    SHA256_CTX                  sha;         /* of the request body */
    off_t                       received;
    off_t                       limit;       /* of the body; 0: none */
    ngx_str_t                   digest;      /* ?digest= */
    u_char                      hex[HB_SHA512_HEX];  /* a task's digest */
    ngx_str_t                   user;        /* subject of the token */

    const char                 *fail_code;   /* for nginx's own errors */
    const char                 *fail_message;
    ngx_str_t                   error_body;

    unsigned                    hashing:1;
    unsigned                    too_large:1;
    unsigned                    error_sent:1;
    unsigned                    error_replace:1;
    unsigned                    may_mount:1; /* pull on ?from= granted */
    unsigned                    view:1;      /* a UI token: GETs not pulls */
} ngx_http_harbor_ctx_t;


extern ngx_http_harbor_backend_t  ngx_http_harbor_fs_backend;

#define ngx_http_harbor_backend(r)  (&ngx_http_harbor_fs_backend)

void ngx_http_harbor_link_init(ngx_http_harbor_link_t *l,
    ngx_http_harbor_link_e kind, ngx_str_t *name, ngx_str_t *key,
    ngx_str_t *key2);
ngx_int_t ngx_http_harbor_op_error(ngx_http_request_t *r,
    ngx_http_harbor_op_t *op);

/* the filesystem's own, outside the table */
ngx_uint_t ngx_http_harbor_release_fds(ngx_http_request_t *r);
void ngx_http_harbor_sweep_tmp(ngx_str_t *dir, time_t age, ngx_log_t *log);
ngx_uint_t ngx_http_harbor_errno_status(ngx_err_t err);

extern ngx_module_t  ngx_http_harbor_module;


/* ngx_http_harbor_v2.c */
ngx_int_t ngx_http_harbor_handler(ngx_http_request_t *r);
ngx_http_harbor_ctx_t *ngx_http_harbor_get_ctx(ngx_http_request_t *r);
ngx_int_t ngx_http_harbor_filter_init(ngx_conf_t *cf);
ngx_int_t ngx_http_harbor_error(ngx_http_request_t *r, ngx_uint_t status,
    const char *code, const char *message, ngx_str_t *detail);
ngx_int_t ngx_http_harbor_send(ngx_http_request_t *r, ngx_uint_t status,
    ngx_str_t *content_type, ngx_str_t *body);
ngx_int_t ngx_http_harbor_add_header(ngx_http_request_t *r, const char *name,
    ngx_str_t *value);
ngx_int_t ngx_http_harbor_set_location(ngx_http_request_t *r,
    ngx_str_t *name, const char *kind, ngx_str_t *ref);
ngx_int_t ngx_http_harbor_arg(ngx_http_request_t *r, const char *name,
    ngx_str_t *value);
ngx_table_elt_t *ngx_http_harbor_header_in(ngx_http_request_t *r,
    const char *name);
void ngx_http_harbor_status_fail(ngx_uint_t status,
    ngx_http_harbor_fail_t *fail);
ngx_int_t ngx_http_harbor_send_list(ngx_http_request_t *r, ngx_array_t *items,
    ngx_str_t *path, const char *prefix, const char *key);
ngx_int_t ngx_http_harbor_list_args(ngx_http_request_t *r, ngx_int_t *n,
    ngx_str_t *last);
ngx_int_t ngx_http_harbor_page_init(ngx_http_request_t *r,
    ngx_http_harbor_page_t *page, ngx_uint_t max);

/* ngx_http_harbor_blob.c */
ngx_int_t ngx_http_harbor_blob(ngx_http_request_t *r,
    ngx_http_harbor_route_t *rt);

/* ngx_http_harbor_upload.c */
ngx_int_t ngx_http_harbor_uploads(ngx_http_request_t *r,
    ngx_http_harbor_route_t *rt);
ngx_int_t ngx_http_harbor_upload(ngx_http_request_t *r,
    ngx_http_harbor_route_t *rt);
ngx_int_t ngx_http_harbor_read_body(ngx_http_request_t *r, off_t limit,
    ngx_http_client_body_handler_pt handler);
ngx_int_t ngx_http_harbor_body_filter_init(ngx_conf_t *cf);
ngx_int_t ngx_http_harbor_digest_arg(ngx_http_request_t *r,
    ngx_http_harbor_route_t *rt, ngx_int_t *answer);
ngx_int_t ngx_http_harbor_mount_args(ngx_http_request_t *r, ngx_str_t *mount,
    ngx_str_t *from, ngx_int_t *answer);
ngx_int_t ngx_http_harbor_check_range(ngx_http_request_t *r,
    ngx_http_harbor_ctx_t *ctx, ngx_uint_t *status, const char **message);
ngx_int_t ngx_http_harbor_upload_accepted(ngx_http_request_t *r,
    ngx_http_harbor_route_t *rt, ngx_http_harbor_upload_t *u,
    ngx_uint_t status);
ngx_int_t ngx_http_harbor_blob_created(ngx_http_request_t *r,
    ngx_http_harbor_route_t *rt, ngx_str_t *digest);

/* ngx_http_harbor_proxy.c: NGX_DECLINED serve it here, else the answer */
ngx_int_t ngx_http_harbor_proxy_pull(ngx_http_request_t *r,
    ngx_http_harbor_route_t *rt);

/* ngx_http_harbor_immutable.c: NGX_OK a rule protects it, NGX_DECLINED not */
ngx_int_t ngx_http_harbor_tag_moves(ngx_http_request_t *r,
    ngx_http_harbor_route_t *rt, ngx_str_t *digest, ngx_http_harbor_op_t *op);
ngx_int_t ngx_http_harbor_rules(ngx_http_request_t *r, ngx_str_t *name,
    ngx_str_t *rules, ngx_http_harbor_op_t *op);
ngx_int_t ngx_http_harbor_immutable(ngx_http_request_t *r, ngx_str_t *name,
    ngx_str_t *rules, ngx_str_t *tag);
ngx_int_t ngx_http_harbor_tags_immutable(ngx_http_request_t *r,
    ngx_str_t *name, ngx_str_t *digest, ngx_str_t *tag,
    ngx_http_harbor_op_t *op);
ngx_int_t ngx_http_harbor_immutable_error(ngx_http_request_t *r,
    ngx_str_t *name, ngx_str_t *tag);

/* ngx_http_harbor_manifest.c */
ngx_int_t ngx_http_harbor_manifest_parse(ngx_http_request_t *r,
    ngx_str_t *body, hb_manifest_t *m, ngx_int_t *answer);
ngx_int_t ngx_http_harbor_blob_unknown(ngx_http_request_t *r,
    ngx_str_t *digest);
ngx_int_t ngx_http_harbor_manifest(ngx_http_request_t *r,
    ngx_http_harbor_route_t *rt);
ngx_int_t ngx_http_harbor_tags(ngx_http_request_t *r,
    ngx_http_harbor_route_t *rt);
ngx_int_t ngx_http_harbor_catalog(ngx_http_request_t *r);
ngx_int_t ngx_http_harbor_referrers(ngx_http_request_t *r,
    ngx_http_harbor_route_t *rt);

/* ngx_http_harbor_quota.c */
ngx_int_t ngx_http_harbor_quota_conf(ngx_conf_t *cf);
ngx_int_t ngx_http_harbor_quota_reserve(ngx_http_request_t *r,
    ngx_str_t *name, ngx_str_t *digest, ngx_str_t *tag, int64_t size,
    ngx_int_t *rcp);
ngx_int_t ngx_http_harbor_quota_manifest(ngx_http_request_t *r,
    ngx_str_t *name, ngx_str_t *tag, hb_manifest_t *m, ngx_str_t *body,
    ngx_str_t *digest, ngx_http_harbor_op_t *op, ngx_int_t *rcp);
void ngx_http_harbor_quota_done(ngx_http_request_t *r);

/* ngx_http_harbor_linkcache.c */
ngx_int_t ngx_http_harbor_linkcache_conf(ngx_conf_t *cf);
ngx_int_t ngx_http_harbor_linkcache_get(ngx_http_request_t *r,
    ngx_http_harbor_link_t *l, ngx_str_t *digest, ngx_atomic_uint_t *gen);
void ngx_http_harbor_linkcache_put(ngx_http_request_t *r,
    ngx_http_harbor_link_t *l, ngx_str_t *digest, ngx_atomic_uint_t gen);
void ngx_http_harbor_linkcache_bump(ngx_http_request_t *r);
ngx_int_t ngx_http_harbor_linkcache_log(ngx_http_request_t *r);

/* ngx_http_harbor_limits.c */
ngx_int_t ngx_http_harbor_limits_conf(ngx_conf_t *cf,
    ngx_http_harbor_loc_conf_t *conf);
ngx_int_t ngx_http_harbor_sessions_begin(ngx_http_request_t *r);
void ngx_http_harbor_sessions_end(ngx_http_request_t *r, ngx_str_t *uuid);

/* ngx_http_harbor_s3.c */
extern ngx_module_t  ngx_http_harbor_s3_module;
ngx_uint_t ngx_http_harbor_s3_storage(ngx_str_t *storage);
ngx_int_t ngx_http_harbor_s3_handler(ngx_http_request_t *r,
    ngx_http_harbor_route_t *rt);
/* ngx_http_harbor_s3_manifest.c */
ngx_int_t ngx_http_harbor_s3_manifest_store(ngx_http_request_t *r,
    ngx_http_harbor_route_t *rt, ngx_str_t *body, ngx_str_t *digest);

/* ngx_http_harbor_token.c */
char *ngx_http_harbor_token_load_key(ngx_conf_t *cf,
    ngx_http_harbor_loc_conf_t *conf);
ngx_int_t ngx_http_harbor_access_handler(ngx_http_request_t *r);
ngx_int_t ngx_http_harbor_too_large_handler(ngx_http_request_t *r);

/* ngx_http_harbor_journal.c */
void ngx_http_harbor_journal(ngx_http_request_t *r, const char *action,
    ngx_str_t *name, ngx_str_t *digest, ngx_str_t *tag,
    const char *media_type, off_t size);

/* ngx_http_harbor_metrics.c */
char *ngx_http_harbor_metrics(ngx_conf_t *cf, ngx_command_t *cmd, void *conf);
ngx_int_t ngx_http_harbor_metrics_log(ngx_http_request_t *r);
void ngx_http_harbor_metrics_count(ngx_http_request_t *r,
    ngx_http_harbor_metric_e event);

/* helpers shared by the files */
#define ngx_http_harbor_fds_exhausted(err)                                   \
    ((err) == NGX_EMFILE || (err) == NGX_ENFILE)

void ngx_http_harbor_sha256_hex(SHA256_CTX *sha, u_char *hex);

#endif /* _NGX_HTTP_HARBOR_MODULE_H_INCLUDED_ */
