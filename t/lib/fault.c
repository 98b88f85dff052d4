
/*
 * ngx-harbor tests: faults the filesystem will not produce on demand,
 * injected into nginx with LD_PRELOAD (tests build this into build/).
 *
 *   HARBOR_FAULT_FSYNC=<substring>   fsync()/fdatasync() of a file whose
 *                                    path holds it fail with EIO
 *   HARBOR_FAULT_RENAME=<substring>  rename() to such a path fails (EIO)
 *   HARBOR_FAULT_DELAY_PATH=<substring>, HARBOR_FAULT_DELAY=<ms>
 *                                    fsync() of such a path sleeps first
 *   HARBOR_FAULT_SLOW_UNLINK=<substring>  unlink()/rmdir() of such a path
 *                                    sleeps HARBOR_FAULT_DELAY ms first (a
 *                                    wide window for a race)
 *   HARBOR_FAULT_SLOW_IO=<substring>  copy_file_range() to such a path,
 *                                    and pread() of it at offset 0, sleep
 *                                    HARBOR_FAULT_DELAY ms first (work
 *                                    that must not stall the event loop)
 *
 * nginx clears the environment of its workers, so the variables are read
 * once, when the master loads the library.  Every injected fault is
 * written to stderr (nginx's stderr.log) with the path, so a test can
 * prove it happened.
 */

#define _GNU_SOURCE
#include <dlfcn.h>
#include <sys/types.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>


static char  *fault_fsync;
static char  *fault_rename;
static char  *fault_delay_path;
static char  *fault_slow_unlink;
static char  *fault_slow_io;
static long   fault_delay_ms;

static int  (*real_fsync)(int);
static int  (*real_fdatasync)(int);
static int  (*real_rename)(const char *, const char *);
static int  (*real_unlink)(const char *);
static int  (*real_rmdir)(const char *);
static ssize_t  (*real_copy_file_range)(int, off_t *, int, off_t *, size_t,
    unsigned int);
static ssize_t  (*real_pread64)(int, void *, size_t, off_t);


__attribute__((constructor))
static void
fault_init(void)
{
    char  *v;

    real_fsync = (int (*)(int)) dlsym(RTLD_NEXT, "fsync");
    real_fdatasync = (int (*)(int)) dlsym(RTLD_NEXT, "fdatasync");
    real_rename = (int (*)(const char *, const char *))
                  dlsym(RTLD_NEXT, "rename");

    real_unlink = (int (*)(const char *)) dlsym(RTLD_NEXT, "unlink");
    real_rmdir = (int (*)(const char *)) dlsym(RTLD_NEXT, "rmdir");

    real_copy_file_range = (ssize_t (*)(int, off_t *, int, off_t *, size_t,
                                        unsigned int))
                           dlsym(RTLD_NEXT, "copy_file_range");
    real_pread64 = (ssize_t (*)(int, void *, size_t, off_t))
                   dlsym(RTLD_NEXT, "pread64");

    v = getenv("HARBOR_FAULT_SLOW_IO");
    fault_slow_io = (v && *v) ? strdup(v) : NULL;
    v = getenv("HARBOR_FAULT_SLOW_UNLINK");
    fault_slow_unlink = (v && *v) ? strdup(v) : NULL;
    v = getenv("HARBOR_FAULT_FSYNC");
    fault_fsync = (v && *v) ? strdup(v) : NULL;
    v = getenv("HARBOR_FAULT_RENAME");
    fault_rename = (v && *v) ? strdup(v) : NULL;
    v = getenv("HARBOR_FAULT_DELAY_PATH");
    fault_delay_path = (v && *v) ? strdup(v) : NULL;
    v = getenv("HARBOR_FAULT_DELAY");
    fault_delay_ms = v ? atol(v) : 0;
}


static int
fault_fd_path(int fd, char *buf, size_t size)
{
    char     link[64];
    ssize_t  n;

    snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);

    n = readlink(link, buf, size - 1);
    if (n < 0) {
        return -1;
    }

    buf[n] = '\0';
    return 0;
}


/* sleeps HARBOR_FAULT_DELAY ms if path holds which (and says so) */

static void
fault_slow(const char *which, const char *name, const char *path)
{
    struct timespec  ts;

    if (which == NULL || fault_delay_ms <= 0 || strstr(path, which) == NULL) {
        return;
    }

    fprintf(stderr, "harbor-fault: %s(\"%s\") delayed %ld ms\n",
            name, path, fault_delay_ms);
    ts.tv_sec = fault_delay_ms / 1000;
    ts.tv_nsec = (fault_delay_ms % 1000) * 1000000;
    nanosleep(&ts, NULL);
}


static int
fault_sync(int fd, int (*real)(int), const char *name)
{
    int   saved;
    char  path[4096];

    saved = errno;

    if ((fault_fsync == NULL && fault_delay_path == NULL)
        || fault_fd_path(fd, path, sizeof(path)) != 0)
    {
        errno = saved;
        return real(fd);
    }

    fault_slow(fault_delay_path, name, path);

    if (fault_fsync && strstr(path, fault_fsync)) {
        fprintf(stderr, "harbor-fault: %s(\"%s\") failed\n", name, path);
        errno = EIO;
        return -1;
    }

    errno = saved;
    return real(fd);
}


int
fsync(int fd)
{
    return fault_sync(fd, real_fsync, "fsync");
}


int
fdatasync(int fd)
{
    return fault_sync(fd, real_fdatasync, "fdatasync");
}


int
rename(const char *from, const char *to)
{
    if (fault_rename && strstr(to, fault_rename)) {
        fprintf(stderr, "harbor-fault: rename(\"%s\", \"%s\") failed\n",
                from, to);
        errno = EIO;
        return -1;
    }

    return real_rename(from, to);
}


int
unlink(const char *path)
{
    fault_slow(fault_slow_unlink, "unlink", path);
    return real_unlink(path);
}


int
rmdir(const char *path)
{
    fault_slow(fault_slow_unlink, "rmdir", path);
    return real_rmdir(path);
}


static void
fault_slow_fd(const char *name, int fd)
{
    int   saved;
    char  path[4096];

    saved = errno;

    if (fault_slow_io && fault_fd_path(fd, path, sizeof(path)) == 0) {
        fault_slow(fault_slow_io, name, path);
    }

    errno = saved;
}


ssize_t
copy_file_range(int in, off_t *in_off, int out, off_t *out_off, size_t len,
    unsigned int flags)
{
    fault_slow_fd("copy_file_range", out);
    return real_copy_file_range(in, in_off, out, out_off, len, flags);
}


/* nginx and the module are built with 64-bit off_t: pread() is pread64() */

ssize_t
pread64(int fd, void *buf, size_t count, off_t offset)
{
    if (offset == 0) {
        fault_slow_fd("pread", fd);
    }

    return real_pread64(fd, buf, count, offset);
}
