
/*
 * ngx-harbor: an OCI registry inside nginx.
 * What the files of the S3 backend (ngx_http_harbor_s3*.c) share among
 * themselves; nothing outside them includes this.
 */


#ifndef _NGX_HTTP_HARBOR_S3_H_INCLUDED_
#define _NGX_HTTP_HARBOR_S3_H_INCLUDED_


#include "ngx_http_harbor_module.h"
#include "ngx_http_harbor_storage.h"

#include "harbor_sigv4.h"


#define NGX_HTTP_HARBOR_S3_KEY_MAX   (HB_LAYOUT_EXTRA + 1024)


typedef struct {
    ngx_str_t                   storage;     /* s3://bucket/root */
    ngx_str_t                   bucket;
    ngx_str_t                   v2;          /* key prefix, no '/' first */
    ngx_str_t                   endpoint;    /* scheme://host[:port] */
    ngx_str_t                   region;
    ngx_str_t                   credentials; /* the file's path */
    ngx_str_t                   location;    /* the named proxy location */
    ngx_flag_t                  path_style;
    ngx_flag_t                  redirect;
    ngx_msec_t                  timeout;

    /* made at config time, NUL-terminated */
    char                       *base;        /* URL up to the key */
    char                       *host;        /* signed Host */
    char                       *prefix;      /* signed path up to the key */
    char                       *access_key;
    char                       *secret_key;
    char                       *region_z;
} ngx_http_harbor_s3_conf_t;


typedef struct {
    u_char                     *data;        /* malloc()ed in the thread */
    size_t                      len;
    size_t                      max;
    unsigned                    too_large:1;
} ngx_http_harbor_s3_buf_t;


/*
 * One request to the store, made in a thread.  The body, if any, is mem
 * then len bytes of fd from offset 0 (fd -1: none); its size goes in
 * Content-Length and it is sent unsigned (UNSIGNED-PAYLOAD).
 */
typedef struct {
    const char                 *method;      /* "GET", "PUT", ... */
    const char                 *key;         /* "/bucket/docker/..." raw */
    const hb_sigv4_pair_t      *query;
    size_t                      nquery;
    const char                 *copy_source; /* x-amz-copy-source, raw */

    const u_char               *mem;
    size_t                      mem_len;
    ngx_fd_t                    fd;
    off_t                       file_len;

    ngx_http_harbor_s3_buf_t   *out;         /* the answer's body; NULL */
    void                      (*sink)(void *ctx, const u_char *p, size_t n);
    void                       *sink_ctx;    /* or every byte to sink */

    /* internal: where the body is */
    off_t                       sent;
    char                        etag[128];   /* the answer's ETag */
} ngx_http_harbor_s3_call_t;


long ngx_http_harbor_s3_call(ngx_http_harbor_s3_conf_t *conf,
    ngx_http_harbor_s3_call_t *q);
u_char *ngx_http_harbor_s3_find(u_char *p, u_char *end, const char *s);
ngx_int_t ngx_http_harbor_s3_failure(ngx_uint_t *answer, u_char *why,
    size_t len, long status, const char *key);
ngx_int_t ngx_http_harbor_s3_error(ngx_http_request_t *r, ngx_uint_t status,
    const char *what, u_char *why);

ngx_int_t ngx_http_harbor_s3_uploads(ngx_http_request_t *r,
    ngx_http_harbor_route_t *rt);
ngx_int_t ngx_http_harbor_s3_upload(ngx_http_request_t *r,
    ngx_http_harbor_route_t *rt);


#endif /* _NGX_HTTP_HARBOR_S3_H_INCLUDED_ */
