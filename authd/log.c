/*
 * authd: logging, in the manner of OpenBSD's log.c.  In the foreground
 * (-d) lines go to stderr with a timestamp, otherwise to syslog; with
 * authd.log_file, to that file either way, reopened on SIGUSR1 (after a
 * rotation, as nginx does).  Each line is formatted whole and written with
 * one call, so lines from worker threads do not interleave.
 *
 * Never pass a password, a token or an Authorization header to these.
 */

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "authd.h"


static int  log_debug_mode = 1;
static int  log_level = LOG_INFO;
static int  log_fd = -1;                /* authd.log_file, else -1 */
static char log_path[4096];


void
log_init(int debug, int facility)
{
    log_debug_mode = debug;

    if (!debug) {
        openlog("authd", LOG_PID | LOG_NDELAY, facility);
    }

    tzset();
}


static int
log_open_path(void)
{
    return open(log_path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
}


/* log to path from now on; 0, or -1 (errno) and logging unchanged */
int
log_open_file(const char *path)
{
    int  fd;

    if (snprintf(log_path, sizeof(log_path), "%s", path)
        >= (int) sizeof(log_path))
    {
        errno = ENAMETOOLONG;
        return -1;
    }

    fd = log_open_path();
    if (fd == -1) {
        return -1;
    }

    log_fd = fd;

    return 0;
}


/*
 * SIGUSR1: the file opened again by its name (a rotation moved the old
 * one away).  The new descriptor replaces the old one with dup3(), so a
 * thread writing meanwhile writes whole lines to one file or the other.
 */
int
log_reopen(void)
{
    int  fd, saved;

    if (log_fd == -1) {
        return 0;
    }

    fd = log_open_path();
    if (fd == -1) {
        saved = errno;
        log_warn("cannot reopen the log file \"%s\"", log_path);
        errno = saved;
        return -1;
    }

    if (dup3(fd, log_fd, O_CLOEXEC) == -1) {
        saved = errno;
        close(fd);
        log_warn("cannot reopen the log file \"%s\"", log_path);
        errno = saved;
        return -1;
    }

    close(fd);

    return 0;
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

    if (!log_debug_mode && log_fd == -1) {
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
        (void) !write(log_fd != -1 ? log_fd : STDERR_FILENO, out,
                      (size_t) m);
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
