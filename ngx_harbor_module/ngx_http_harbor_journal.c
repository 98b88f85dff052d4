
/*
 * ngx-harbor: an OCI registry inside nginx.
 * The journal: one JSON line per push, pull and delete, appended with a
 * single write(2) to a file opened O_APPEND by the master (as access_log
 * is, and reopened with it on USR1).  authd reads it; a request never
 * waits on anything but this local write.
 */


#include "ngx_http_harbor_module.h"

#include <jansson.h>


void
ngx_http_harbor_journal(ngx_http_request_t *r, const char *action,
    ngx_str_t *name, ngx_str_t *digest, ngx_str_t *tag,
    const char *media_type, off_t size)
{
    char                        *line;
    size_t                       len;
    json_t                      *ev;
    ssize_t                      n;
    ngx_tm_t                     tm;
    ngx_time_t                  *tp;
    ngx_http_harbor_ctx_t       *ctx;
    ngx_http_harbor_loc_conf_t  *hlcf;
    u_char                       rnd[16], id[32];
    u_char                       when[sizeof("1970-01-01T00:00:00.000Z")];

    hlcf = ngx_http_get_module_loc_conf(r, ngx_http_harbor_module);

    if (hlcf->journal == NULL) {
        return;
    }

    ctx = ngx_http_get_module_ctx(r, ngx_http_harbor_module);

    /* an id per event lets the reader apply each one exactly once */

    if (RAND_bytes(rnd, sizeof(rnd)) != 1) {
        ngx_ssl_error(NGX_LOG_ALERT, r->connection->log, 0,
                      "RAND_bytes() failed");
        return;
    }

    hb_hex(id, rnd, sizeof(rnd));

    tp = ngx_timeofday();
    ngx_gmtime(tp->sec, &tm);

    ngx_sprintf(when, "%4d-%02d-%02dT%02d:%02d:%02d.%03MZ",
                tm.ngx_tm_year, tm.ngx_tm_mon, tm.ngx_tm_mday,
                tm.ngx_tm_hour, tm.ngx_tm_min, tm.ngx_tm_sec, tp->msec);

    ev = json_pack("{s:s%, s:s%, s:s, s:s%, s:s%, s:I, s:s, s:s%}",
                   "id", id, sizeof(id),
                   "time", when, sizeof(when) - 1,
                   "action", action,
                   "repository", name->data, name->len,
                   "digest", digest->data, digest->len,
                   "size", (json_int_t) size,
                   "user", "",
                   "remote_addr", r->connection->addr_text.data,
                   r->connection->addr_text.len);

    if (ev == NULL) {
        goto failed;
    }

    if (ctx && ctx->user.len) {
        json_object_set_new(ev, "user",
                            json_stringn((char *) ctx->user.data,
                                         ctx->user.len));
    }

    if (tag) {
        json_object_set_new(ev, "tag",
                            json_stringn((char *) tag->data, tag->len));
    }

    if (media_type) {
        json_object_set_new(ev, "media_type", json_string(media_type));
    }

    line = json_dumps(ev, JSON_COMPACT);
    json_decref(ev);

    if (line == NULL) {
        goto failed;
    }

    len = ngx_strlen(line);
    line[len++] = '\n';         /* over the NUL: json_dumps left room */

    n = ngx_write_fd(hlcf->journal->fd, line, len);

    if (n != (ssize_t) len) {
        ngx_log_error(NGX_LOG_ALERT, r->connection->log, ngx_errno,
                      ngx_write_fd_n " to journal \"%V\" failed",
                      &hlcf->journal->name);
    }

    free(line);
    return;

failed:

    ngx_log_error(NGX_LOG_ALERT, r->connection->log, 0,
                  "harbor: journal event could not be built");
}
