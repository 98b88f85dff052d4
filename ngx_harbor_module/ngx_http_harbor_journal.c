
/*
 * ngx-harbor: an OCI registry inside nginx.
 * The journal: one JSON line per push, pull and delete, appended with a
 * single write(2) to a file opened O_APPEND by the master (as access_log
 * is, and reopened with it on USR1).  authd reads it; a request never
 * waits on anything but this local write.
 *
 * A pull writes a line too, so the line is built with ngx_sprintf() from
 * parts that are validated already (names, tags, digests, our media
 * types); only the token's subject needs escaping.
 */


#include "ngx_http_harbor_module.h"


/*
 * An event id: a random prefix per worker and a counter, so ids are
 * unique across workers and restarts without asking for randomness on
 * every pull.  The reader applies each id once.
 */

static u_char    ngx_http_harbor_id_prefix[16];
static uint64_t  ngx_http_harbor_id_seq;


void
ngx_http_harbor_journal(ngx_http_request_t *r, const char *action,
    ngx_str_t *name, ngx_str_t *digest, ngx_str_t *tag,
    const char *media_type, off_t size)
{
    u_char                      *line, *p;
    size_t                       len, esc;
    ssize_t                      n;
    ngx_tm_t                     tm;
    ngx_str_t                    user;
    ngx_time_t                  *tp;
    ngx_http_harbor_ctx_t       *ctx;
    ngx_http_harbor_loc_conf_t  *hlcf;
    u_char                       rnd[8];

    hlcf = ngx_http_get_module_loc_conf(r, ngx_http_harbor_module);

    if (hlcf->journal == NULL) {
        return;
    }

    if (ngx_http_harbor_id_seq == 0) {
        if (RAND_bytes(rnd, sizeof(rnd)) != 1) {
            ngx_ssl_error(NGX_LOG_ALERT, r->connection->log, 0,
                          "RAND_bytes() failed");
            ngx_http_harbor_metrics_count(r, NGX_HTTP_HARBOR_M_JOURNAL_FAILED);
            return;
        }

        hb_hex(ngx_http_harbor_id_prefix, rnd, sizeof(rnd));
    }

    ngx_http_harbor_id_seq++;

    ctx = ngx_http_get_module_ctx(r, ngx_http_harbor_module);

    if (ctx && ctx->user.len) {
        user = ctx->user;
    } else {
        ngx_str_set(&user, "");
    }

    esc = ngx_escape_json(NULL, user.data, user.len);

    len = sizeof("{\"id\":\"\",\"time\":\"\",\"action\":\"\",\"repository\":\"\","
                 "\"digest\":\"\",\"tag\":\"\",\"media_type\":\"\","
                 "\"size\":,\"user\":\"\",\"remote_addr\":\"\"}\n")
          + sizeof(ngx_http_harbor_id_prefix) + 16
          + sizeof("1970-01-01T00:00:00.000Z") + ngx_strlen(action)
          + name->len + digest->len + (tag ? tag->len : 0)
          + (media_type ? ngx_strlen(media_type) : 0) + NGX_OFF_T_LEN
          + user.len + esc + r->connection->addr_text.len;

    line = ngx_pnalloc(r->pool, len);
    if (line == NULL) {
        ngx_http_harbor_metrics_count(r, NGX_HTTP_HARBOR_M_JOURNAL_FAILED);
        return;
    }

    tp = ngx_timeofday();
    ngx_gmtime(tp->sec, &tm);

    p = ngx_sprintf(line, "{\"id\":\"%*s%016uxL\","
                    "\"time\":\"%4d-%02d-%02dT%02d:%02d:%02d.%03MZ\","
                    "\"action\":\"%s\",\"repository\":\"%V\","
                    "\"digest\":\"%V\"",
                    sizeof(ngx_http_harbor_id_prefix),
                    ngx_http_harbor_id_prefix, ngx_http_harbor_id_seq,
                    tm.ngx_tm_year, tm.ngx_tm_mon, tm.ngx_tm_mday,
                    tm.ngx_tm_hour, tm.ngx_tm_min, tm.ngx_tm_sec, tp->msec,
                    action, name, digest);

    if (tag) {
        p = ngx_sprintf(p, ",\"tag\":\"%V\"", tag);
    }

    if (media_type) {
        p = ngx_sprintf(p, ",\"media_type\":\"%s\"", media_type);
    }

    p = ngx_sprintf(p, ",\"size\":%O,\"user\":\"", size);
    p = (u_char *) ngx_escape_json(p, user.data, user.len);
    p = ngx_sprintf(p, "\",\"remote_addr\":\"%V\"}\n",
                    &r->connection->addr_text);

    n = ngx_write_fd(hlcf->journal->fd, line, p - line);

    if (n != p - line) {
        ngx_log_error(NGX_LOG_ALERT, r->connection->log, ngx_errno,
                      ngx_write_fd_n " to journal \"%V\" failed",
                      &hlcf->journal->name);
        ngx_http_harbor_metrics_count(r, NGX_HTTP_HARBOR_M_JOURNAL_FAILED);
        return;
    }

    ngx_http_harbor_metrics_count(r, NGX_HTTP_HARBOR_M_JOURNAL_EVENT);
}
