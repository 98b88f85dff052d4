
/*
 * ngx-harbor: an OCI registry inside nginx.
 * Slow storage work as tasks of the location's thread pool, resumed
 * on the event loop.
 */


#include "ngx_http_harbor_module.h"
#include "ngx_http_harbor_storage.h"


/* a directory to sync for an op */
typedef struct {
    ngx_http_harbor_task_t      task;
    ngx_http_harbor_op_t       *op;
    u_char                     *path;
    size_t                      len;
} ngx_http_harbor_sync_task_t;


static void ngx_http_harbor_sync_work(ngx_http_harbor_task_t *t);
static void ngx_http_harbor_sync_done(ngx_http_harbor_task_t *t,
    ngx_int_t rc);
static void ngx_http_harbor_sync_finish(ngx_http_harbor_sync_task_t *st,
    ngx_int_t rc);

#if (NGX_THREADS)
static void ngx_http_harbor_task_thread(void *data, ngx_log_t *log);
static void ngx_http_harbor_task_event(ngx_event_t *ev);
static void ngx_http_harbor_task_guard(ngx_event_t *ev);

/*
 * A worker that is shutting down (a reload, QUIT) exits once no timer is
 * left that may not be cancelled; a request whose body is read and whose
 * answer waits for a task has none of its own.  So a task keeps one
 * armed while it runs: the worker stays until the task is done and the
 * client has its answer.
 */
#define NGX_HTTP_HARBOR_GUARD  60000
#endif


/*
 * Slow work (fsync(2), copies, hashing) runs as a task in the location's
 * thread pool ("default"), and done() is called back on the worker's event
 * loop (NGX_AGAIN); without a pool it runs here (NGX_OK or NGX_ERROR, and
 * done() is not called).  The request stays alive until the task is over
 * (r->main->blocked, as nginx's own thread users), even if the client has
 * gone.  A work function only sets t->failed, t->path and t->err: the
 * failure is logged and errno set here, on the event loop.  done() gets
 * NGX_OK or NGX_ERROR (errno set; 0 for a failure that is not the file
 * system's, never a 2xx) and is the only one to answer.  A task the
 * pool's full queue refuses is NGX_ERROR with EAGAIN (503).
 */

ngx_http_harbor_task_t *
ngx_http_harbor_task_alloc(ngx_http_request_t *r, size_t size)
{
    ngx_http_harbor_task_t  *t;

    t = ngx_pcalloc(r->pool, size);
    if (t == NULL) {
        ngx_set_errno(NGX_ENOMEM);
        return NULL;
    }

    t->r = r;

    return t;
}


ngx_int_t
ngx_http_harbor_task_fail(ngx_http_harbor_task_t *t, const char *call,
    u_char *path, ngx_err_t err)
{
    t->failed = call;
    t->err = err;
    ngx_cpystrn(t->path, path, NGX_MAX_PATH);

    return NGX_ERROR;
}


ngx_int_t
ngx_http_harbor_task_result(ngx_http_harbor_task_t *t)
{
    if (t->failed == NULL) {
        return NGX_OK;
    }

    ngx_log_error(NGX_LOG_CRIT, t->r->connection->log, t->err,
                  "%s \"%s\" failed", t->failed, t->path);
    ngx_set_errno(t->err);

    return NGX_ERROR;
}


#if (NGX_THREADS)

static void
ngx_http_harbor_task_thread(void *data, ngx_log_t *log)
{
    ngx_http_harbor_task_t *t = *(ngx_http_harbor_task_t **) data;

    t->work(t);
}


static void
ngx_http_harbor_task_event(ngx_event_t *ev)
{
    ngx_http_harbor_task_t *t = ev->data;

    ngx_connection_t    *c;
    ngx_http_request_t  *r;

    r = t->r;
    c = r->connection;

    ngx_http_set_log_request(c->log, r);

    r->main->blocked--;
    r->aio = 0;

    if (t->guard.timer_set) {
        ngx_del_timer(&t->guard);
    }

    t->done(t, ngx_http_harbor_task_result(t));

    ngx_http_run_posted_requests(c);
}

/* still running: the worker waits on */
static void
ngx_http_harbor_task_guard(ngx_event_t *ev)
{
    ngx_add_timer(ev, NGX_HTTP_HARBOR_GUARD);
}

#endif


ngx_int_t
ngx_http_harbor_task(ngx_http_request_t *r, ngx_http_harbor_task_t *t,
    ngx_http_harbor_work_pt work, ngx_http_harbor_sync_pt done)
{
#if (NGX_THREADS)
    ngx_thread_task_t           *task;
    ngx_http_harbor_loc_conf_t  *hlcf;
#endif

    t->work = work;
    t->done = done;

#if (NGX_THREADS)
    hlcf = ngx_http_harbor_conf(r);

    if (hlcf->thread_pool) {
        task = ngx_thread_task_alloc(r->pool, sizeof(ngx_http_harbor_task_t *));
        if (task == NULL) {
            ngx_set_errno(NGX_ENOMEM);
            return NGX_ERROR;
        }

        *(ngx_http_harbor_task_t **) task->ctx = t;

        task->handler = ngx_http_harbor_task_thread;
        task->event.handler = ngx_http_harbor_task_event;
        task->event.data = t;

        if (ngx_thread_task_post(hlcf->thread_pool, task) != NGX_OK) {
            /* the queue is full (logged by nginx): busy, not done */
            ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                          "harbor: storage task not queued");
            ngx_set_errno(NGX_EAGAIN);
            return NGX_ERROR;
        }

        r->main->blocked++;
        r->aio = 1;

        t->guard.handler = ngx_http_harbor_task_guard;
        t->guard.data = t;
        t->guard.log = r->connection->log;
        ngx_add_timer(&t->guard, NGX_HTTP_HARBOR_GUARD);

        return NGX_AGAIN;
    }
#endif

    work(t);

    return ngx_http_harbor_task_result(t);
}


/*
 * fsync(2) of a directory (len bytes of path) as a task for op: NGX_AGAIN
 * then op->done, or op->rc at once without a thread pool.
 */

ngx_int_t
ngx_http_harbor_sync_dir_task(ngx_http_request_t *r, u_char *path,
    size_t len, ngx_http_harbor_op_t *op)
{
    ngx_int_t                     rc;
    ngx_http_harbor_sync_task_t  *st;

    st = (ngx_http_harbor_sync_task_t *)
             ngx_http_harbor_task_alloc(r, sizeof(ngx_http_harbor_sync_task_t));
    if (st == NULL) {
        ngx_http_harbor_op_fail(op, NGX_ERROR, NGX_ENOMEM);
        return NGX_ERROR;
    }

    st->op = op;
    st->path = path;
    st->len = len;

    rc = ngx_http_harbor_task(r, &st->task, ngx_http_harbor_sync_work,
                              ngx_http_harbor_sync_done);
    if (rc == NGX_AGAIN) {
        return NGX_AGAIN;
    }

    ngx_http_harbor_sync_finish(st, rc);

    return op->rc;
}


static void
ngx_http_harbor_sync_work(ngx_http_harbor_task_t *t)
{
    ngx_http_harbor_sync_task_t *st = (ngx_http_harbor_sync_task_t *) t;

    (void) ngx_http_harbor_fs_sync_dir(t, st->path, st->len);
}


static void
ngx_http_harbor_sync_done(ngx_http_harbor_task_t *t, ngx_int_t rc)
{
    ngx_http_harbor_sync_task_t *st = (ngx_http_harbor_sync_task_t *) t;

    ngx_http_harbor_sync_finish(st, rc);

    st->op->done(t->r, st->op);
}


static void
ngx_http_harbor_sync_finish(ngx_http_harbor_sync_task_t *st, ngx_int_t rc)
{
    if (rc != NGX_OK) {
        ngx_http_harbor_task_op_fail(st->task.r, st->op, ngx_errno);
        return;
    }

    st->op->rc = NGX_OK;
}
