/*
 * authd: logging, in the manner of OpenBSD's log.c.  In the foreground
 * (-d) lines go to stderr with a timestamp, otherwise to syslog.  Each
 * line is formatted whole and written with one call, so lines from
 * worker threads do not interleave.
 *
 * Never pass a password, a token or an Authorization header to these.
 */

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "authd.h"


static int  log_debug_mode = 1;
static int  log_level = LOG_INFO;


void
log_init(int debug, int facility)
{
    log_debug_mode = debug;

    if (!debug) {
        openlog("authd", LOG_PID | LOG_NDELAY, facility);
    }

    tzset();
}


void
log_setlevel(int level)
{
    log_level = level;
}


int
log_getlevel(void)
{
    return log_level;
}


void
vlog(int pri, const char *fmt, va_list ap)
{
    char        line[2048], ts[32];
    const char *lv;
    struct tm   tm;
    time_t      now;
    int         n, m;

    if (pri > log_level) {
        return;
    }

    n = vsnprintf(line, sizeof(line), fmt, ap);
    if (n < 0) {
        return;
    }

    if ((size_t) n >= sizeof(line)) {
        /* keep what fits, and say it was cut */
        memcpy(line + sizeof(line) - 5, "...", 4);
    }

    if (!log_debug_mode) {
        syslog(pri, "%s", line);
        return;
    }

    switch (pri) {
    case LOG_CRIT:
        lv = "crit";
        break;
    case LOG_ERR:
        lv = "error";
        break;
    case LOG_WARNING:
        lv = "warn";
        break;
    case LOG_NOTICE:
    case LOG_INFO:
        lv = "info";
        break;
    default:
        lv = "debug";
        break;
    }

    now = time(NULL);
    gmtime_r(&now, &tm);
    strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%SZ", &tm);

    {
        char  out[2200];

        m = snprintf(out, sizeof(out), "%s authd[%d] %s: %s\n", ts,
                     (int) getpid(), lv, line);
        if (m < 0) {
            return;
        }
        if ((size_t) m >= sizeof(out)) {
            m = sizeof(out) - 1;
            out[m - 1] = '\n';
        }
        (void) !write(STDERR_FILENO, out, (size_t) m);
    }
}


void
logit(int pri, const char *fmt, ...)
{
    va_list  ap;

    va_start(ap, fmt);
    vlog(pri, fmt, ap);
    va_end(ap);
}


static void
vlog_errno(int pri, const char *fmt, va_list ap)
{
    char  buf[1024];
    int   saved;

    saved = errno;

    if (fmt == NULL) {
        logit(pri, "%s", strerror(saved));

    } else {
        if (vsnprintf(buf, sizeof(buf), fmt, ap) < 0) {
            buf[0] = '\0';
        }
        logit(pri, "%s: %s", buf, strerror(saved));
    }

    errno = saved;
}


void
log_warn(const char *fmt, ...)
{
    va_list  ap;

    va_start(ap, fmt);
    vlog_errno(LOG_WARNING, fmt, ap);
    va_end(ap);
}


void
log_warnx(const char *fmt, ...)
{
    va_list  ap;

    va_start(ap, fmt);
    vlog(LOG_WARNING, fmt, ap);
    va_end(ap);
}


void
log_info(const char *fmt, ...)
{
    va_list  ap;

    va_start(ap, fmt);
    vlog(LOG_INFO, fmt, ap);
    va_end(ap);
}


void
log_debug(const char *fmt, ...)
{
    va_list  ap;

    va_start(ap, fmt);
    vlog(LOG_DEBUG, fmt, ap);
    va_end(ap);
}


void
fatal(const char *fmt, ...)
{
    va_list  ap;

    va_start(ap, fmt);
    vlog_errno(LOG_CRIT, fmt, ap);
    va_end(ap);

    exit(1);
}


void
fatalx(const char *fmt, ...)
{
    va_list  ap;

    va_start(ap, fmt);
    vlog(LOG_CRIT, fmt, ap);
    va_end(ap);

    exit(1);
}
