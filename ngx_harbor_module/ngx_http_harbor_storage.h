
/*
 * ngx-harbor: an OCI registry inside nginx.
 * What the files of the filesystem store (ngx_http_harbor_storage*.c)
 * share among themselves; nothing outside them includes this.
 */


#ifndef _NGX_HTTP_HARBOR_STORAGE_H_INCLUDED_
#define _NGX_HTTP_HARBOR_STORAGE_H_INCLUDED_


#include "ngx_http_harbor_module.h"


static ngx_inline ngx_http_harbor_loc_conf_t *
ngx_http_harbor_conf(ngx_http_request_t *r)
{
    return ngx_http_get_module_loc_conf(r, ngx_http_harbor_module);
}


/* ngx_http_harbor_storage.c: file helpers, failures logged with the path */
ngx_int_t ngx_http_harbor_open_ro(ngx_http_request_t *r, u_char *path,
    ngx_fd_t *fd);
ngx_int_t ngx_http_harbor_stat(ngx_http_request_t *r, u_char *path,
    ngx_file_info_t *fi);
ngx_int_t ngx_http_harbor_utimes(ngx_http_request_t *r, u_char *path);
void ngx_http_harbor_close(ngx_http_request_t *r, ngx_fd_t fd, u_char *path);
ngx_int_t ngx_http_harbor_mkdir_p(ngx_http_request_t *r, u_char *path,
    size_t len);
ngx_int_t ngx_http_harbor_fsync_dir(ngx_http_request_t *r, u_char *path,
    size_t len);
ngx_int_t ngx_http_harbor_write_atomic(ngx_http_request_t *r, u_char *path,
    size_t dirlen, u_char *data, size_t len);
ngx_int_t ngx_http_harbor_delete_tree(ngx_http_request_t *r,
    ngx_str_t *path);
ngx_int_t ngx_http_harbor_repo_path(ngx_http_request_t *r, ngx_str_t *name,
    int dir, ngx_str_t *path);

/* ngx_http_harbor_task.c */
ngx_int_t ngx_http_harbor_task_fail(ngx_http_harbor_task_t *t,
    const char *call, u_char *path, ngx_err_t err);


#endif /* _NGX_HTTP_HARBOR_STORAGE_H_INCLUDED_ */
