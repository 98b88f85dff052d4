
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


typedef struct ngx_http_harbor_task_s  ngx_http_harbor_task_t;

typedef void (*ngx_http_harbor_work_pt)(ngx_http_harbor_task_t *t);
typedef void (*ngx_http_harbor_sync_pt)(ngx_http_harbor_task_t *t,
    ngx_int_t rc);

/* slow work, in the thread pool: the header of every kind of task */
struct ngx_http_harbor_task_s {
    ngx_http_request_t         *r;
    ngx_http_harbor_work_pt     work;        /* in a thread */
    ngx_http_harbor_sync_pt     done;        /* back on the event loop */
    const char                 *failed;      /* the call that failed */
    ngx_err_t                   err;         /* its errno; 0: not the fs */
    u_char                      path[NGX_MAX_PATH];  /* its file */
    ngx_event_t                 guard;       /* a timer while it runs */
};


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

u_char *ngx_http_harbor_tmp_name(ngx_http_request_t *r, char kind);

/* the same, for a thread: failures recorded in t */
ngx_int_t ngx_http_harbor_fs_mkdir(ngx_http_harbor_task_t *t, u_char *path,
    size_t len, size_t root);
ngx_int_t ngx_http_harbor_fs_sync_dir(ngx_http_harbor_task_t *t,
    u_char *path, size_t len);
ngx_int_t ngx_http_harbor_fs_write(ngx_http_harbor_task_t *t, u_char *path,
    size_t dirlen, u_char *tmp, u_char *data, size_t len, size_t root);

/* ngx_http_harbor_task.c */
ngx_http_harbor_task_t *ngx_http_harbor_task_alloc(ngx_http_request_t *r,
    size_t size);
ngx_int_t ngx_http_harbor_task(ngx_http_request_t *r,
    ngx_http_harbor_task_t *t, ngx_http_harbor_work_pt work,
    ngx_http_harbor_sync_pt done);
ngx_int_t ngx_http_harbor_task_fail(ngx_http_harbor_task_t *t,
    const char *call, u_char *path, ngx_err_t err);
ngx_int_t ngx_http_harbor_task_result(ngx_http_harbor_task_t *t);
ngx_int_t ngx_http_harbor_sync_dir_task(ngx_http_request_t *r, u_char *path,
    size_t len, ngx_http_harbor_op_t *op);

/*
 * The store's functions behind the backend table (ngx_http_harbor_fs.c):
 * NGX_ERROR with errno set and the failure logged.
 */

/* ngx_http_harbor_storage_blob.c */
ngx_int_t ngx_http_harbor_blob_file(ngx_http_request_t *r, ngx_str_t *digest,
    ngx_str_t *path, size_t *dirlen);
ngx_int_t ngx_http_harbor_blob_send(ngx_http_request_t *r,
    ngx_str_t *digest, ngx_str_t *content_type, ngx_uint_t renew,
    off_t *size);
ngx_int_t ngx_http_harbor_blob_read(ngx_http_request_t *r, ngx_str_t *digest,
    size_t max, ngx_str_t *out);
ngx_int_t ngx_http_harbor_blob_read_task(ngx_http_request_t *r,
    ngx_str_t *digest, size_t max, ngx_http_harbor_op_t *op);
ngx_int_t ngx_http_harbor_blob_touch(ngx_http_request_t *r,
    ngx_str_t *digest);

/* ngx_http_harbor_storage_link.c */
typedef struct {
    ngx_http_harbor_link_e      kind;
    ngx_str_t                   path;        /* where it was */
    size_t                      entry;       /* length of its entry dir */
    u_char                     *tmp;         /* where it is */
    time_t                      mtime;       /* written or renewed */
} ngx_http_harbor_aside_t;

ngx_int_t ngx_http_harbor_link_path(ngx_http_request_t *r,
    ngx_http_harbor_link_t *l, ngx_str_t *path, size_t *entry);
ngx_int_t ngx_http_harbor_link_get(ngx_http_request_t *r,
    ngx_http_harbor_link_t *l, ngx_str_t *digest, time_t *mtime);
ngx_int_t ngx_http_harbor_link_put(ngx_http_request_t *r,
    ngx_http_harbor_link_t *l, ngx_str_t *digest);
ngx_int_t ngx_http_harbor_link_touch(ngx_http_request_t *r,
    ngx_http_harbor_link_t *l);
ngx_int_t ngx_http_harbor_link_move(ngx_http_request_t *r,
    ngx_http_harbor_link_t *l, ngx_http_harbor_aside_t *aside);
ngx_int_t ngx_http_harbor_link_restore(ngx_http_request_t *r,
    ngx_http_harbor_aside_t *aside, ngx_uint_t sync);
ngx_int_t ngx_http_harbor_link_drop(ngx_http_request_t *r,
    ngx_http_harbor_aside_t *aside);
ngx_int_t ngx_http_harbor_link_delete(ngx_http_request_t *r,
    ngx_http_harbor_link_t *l);
ngx_int_t ngx_http_harbor_repo_exists(ngx_http_request_t *r,
    ngx_str_t *name);
ngx_int_t ngx_http_harbor_policy_read(ngx_http_request_t *r,
    const char *dir, ngx_str_t *project, ngx_str_t *data);

/* ngx_http_harbor_storage_list.c */
ngx_int_t ngx_http_harbor_list_page(ngx_http_request_t *r,
    ngx_http_harbor_list_e kind, ngx_str_t *name, ngx_str_t *key,
    ngx_http_harbor_page_t *page, ngx_http_harbor_op_t *op);
ngx_int_t ngx_http_harbor_all_tags(ngx_http_request_t *r, ngx_str_t *name,
    ngx_array_t *tags);

/* ngx_http_harbor_storage_upload.c */
#define NGX_HTTP_HARBOR_STATE_MAGIC  "HBSHA256"

/* an upload's hbstate: the hash state after offset bytes */
typedef struct {
    u_char                      magic[8];
    uint64_t                    offset;
    SHA256_CTX                  sha;
} ngx_http_harbor_state_t;

/* the filesystem's half of ngx_http_harbor_upload_t */
typedef struct {
    ngx_str_t                   dir;         /* .../_uploads/<uuid> */
    ngx_fd_t                    lock;        /* its startedat, flock()ed */
} ngx_http_harbor_fs_upload_t;

u_char *ngx_http_harbor_upload_file(ngx_http_request_t *r, ngx_str_t *dir,
    const char *file);
ngx_int_t ngx_http_harbor_upload_create(ngx_http_request_t *r,
    ngx_str_t *name, ngx_str_t *uuid, ngx_http_harbor_op_t *op);
ngx_int_t ngx_http_harbor_upload_open(ngx_http_request_t *r, ngx_str_t *name,
    ngx_str_t *uuid, ngx_http_harbor_upload_t *u);
ngx_int_t ngx_http_harbor_upload_delete(ngx_http_request_t *r,
    ngx_http_harbor_upload_t *u);
void ngx_http_harbor_upload_close(ngx_http_harbor_upload_t *u);

/* ngx_http_harbor_storage_commit.c */

/* a small file to write, or only to renew when it holds data already */
typedef struct {
    u_char                      *path;
    size_t                       dirlen;     /* of its directory */
    u_char                      *tmp;        /* set by write_files */
    ngx_str_t                    data;
} ngx_http_harbor_file_t;

ngx_int_t ngx_http_harbor_write_files(ngx_http_request_t *r,
    ngx_http_harbor_file_t *f, ngx_uint_t n, ngx_http_harbor_op_t *op);
ngx_int_t ngx_http_harbor_commit(ngx_http_request_t *r,
    ngx_http_harbor_commit_t *c, ngx_http_harbor_upload_t *u, off_t size,
    SHA256_CTX *sha, ngx_http_harbor_op_t *op);
void ngx_http_harbor_op_fail(ngx_http_harbor_op_t *op, ngx_int_t rc,
    ngx_err_t err);
void ngx_http_harbor_task_op_fail(ngx_http_request_t *r,
    ngx_http_harbor_op_t *op, ngx_err_t err);


#endif /* _NGX_HTTP_HARBOR_STORAGE_H_INCLUDED_ */
