/*
 * authd: backup and restore (docs/operations.md).
 *
 *   authd backup [-f file] DIR     PostgreSQL, the registry store and the
 *                                  keys of the configuration, into DIR
 *   authd restore [-f file] DIR    into the (new, empty) database, store
 *                                  and key paths of the configuration;
 *                                  then authd.c runs a reindex, as -I
 *
 * The order makes the pair consistent.  The garbage collector's lock
 * (registry_storage/_gc/lock, gc_main.c) is held throughout, so no blob,
 * manifest or repository goes away meanwhile.  The database is dumped
 * first (pg_dump, custom format, one snapshot), then the store copied:
 * everything the dump references is in the copy, since only the
 * collector deletes blobs; what was pushed after the snapshot is in the
 * store but not in the dump, and the reindex at the end of a restore
 * adds it (and drops a tag deleted between the two steps).
 *
 * Blobs (blobs/<alg>/<2>/<hex>/data) are immutable: they are hard-linked
 * where the filesystem allows it, else copied.  Everything else (links,
 * the referrers index) is copied, since the module may replace it.
 * Uploads in progress (_uploads) and the collector's directory (_gc) are
 * left out.
 *
 * pg_dump and pg_restore are exec'd from this single-threaded process,
 * as authd.user when run as root (PostgreSQL's peer authentication), the
 * connection in their environment: PGPASSWORD is never an argument.
 */

#include <sys/types.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "authd.h"


#define BK_FORMAT      1
#define BK_DUMP        "registry.dump"
#define BK_STORE       "registry"
#define BK_KEYS        "keys"
#define BK_META        "backup.json"

#define BK_SAVE        0
#define BK_LOAD        1
#define BK_CHECK       2


struct bk_stats {
    long long   files;
    long long   linked;
    long long   copied;
    long long   bytes;
};


static void bk_usage(void) __attribute__((noreturn));
static void bk_as_user(void);
static int bk_pg(const char *prog, int infd, int outfd);
static int bk_copy_file(const char *src, const char *dst,
    const struct stat *st);
static int bk_copy_fd(int in, const char *src, int out, const char *dst,
    const struct stat *st);
static int bk_tree(char *src, size_t slen, char *dst, size_t dlen,
    int in_blobs, struct bk_stats *bs);
static int bk_tree_at(int sfd, char *src, size_t slen, int dfd, char *dst,
    size_t dlen, int in_blobs, struct bk_stats *bs);
static int bk_same_file(const char *a, const char *b);
static int bk_parent_dir(const char *path);
static int bk_empty_dir(const char *path);
static int bk_gc_lock(void);
static int bk_keys(const char *dir, int how);
static int bk_backup(const char *dir);
static int bk_restore(const char *dir);


static void
bk_usage(void)
{
    fprintf(stderr, "usage: authd backup [-f file] DIR\n"
            "       authd restore [-f file] DIR\n");
    exit(1);
}


/* in a child: become authd.user when root, as authd itself would */
static void
bk_as_user(void)
{
    struct passwd  *pw;

    if (geteuid() != 0 || conf->user == NULL) {
        return;
    }

    pw = getpwnam(conf->user);
    if (pw == NULL
        || setgroups(1, &pw->pw_gid) == -1
        || setresgid(pw->pw_gid, pw->pw_gid, pw->pw_gid) == -1
        || setresuid(pw->pw_uid, pw->pw_uid, pw->pw_uid) == -1)
    {
        _exit(126);
    }
}


/* run prog (pg_dump or pg_restore) on the configured database */
static int
bk_pg(const char *prog, int infd, int outfd)
{
    char    port[16];
    pid_t   pid;
    int     status;

    snprintf(port, sizeof(port), "%d", conf->db_port);

    pid = fork();   /* authd backup|restore: no thread exists; child execs */
    if (pid == -1) {
        log_warn("fork");
        return -1;
    }

    if (pid == 0) {
        if ((infd != -1 && dup2(infd, STDIN_FILENO) == -1)
            || (outfd != -1 && dup2(outfd, STDOUT_FILENO) == -1))
        {
            _exit(126);
        }

        bk_as_user();

        setenv("PGHOST", conf->db_host, 1);
        setenv("PGPORT", port, 1);
        setenv("PGUSER", conf->db_user, 1);
        setenv("PGDATABASE", conf->db_name, 1);
        setenv("PGAPPNAME", "authd backup", 1);
        if (conf->db_password != NULL && conf->db_password[0] != '\0') {
            setenv("PGPASSWORD", conf->db_password, 1);
        }
        if (conf->db_sslmode != NULL) {
            setenv("PGSSLMODE", conf->db_sslmode, 1);
        }

        if (strcmp(prog, "pg_dump") == 0) {
            execlp("pg_dump", "pg_dump", "--format=custom", "--no-owner",
                   "--no-privileges", (char *) NULL);
        } else {
            /* an empty --dbname: libpq takes PGDATABASE */
            execlp("pg_restore", "pg_restore", "--dbname=",
                   "--no-owner", "--no-privileges", "--exit-on-error",
                   "--single-transaction", (char *) NULL);
        }

        fprintf(stderr, "authd: cannot run %s: %s (install "
                "postgresql-client)\n", prog, strerror(errno));
        _exit(127);
    }

    while (waitpid(pid, &status, 0) == -1) {
        if (errno != EINTR) {
            log_warn("waitpid");
            return -1;
        }
    }

    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        log_warnx("%s failed (status %d)", prog,
                  WIFEXITED(status) ? WEXITSTATUS(status) : -1);
        return -1;
    }

    return 0;
}


/* a copy of src at dst (new), with its mode, owner and times */
static int
bk_copy_file(const char *src, const char *dst, const struct stat *st)
{
    int  in, out, rc;

    in = open(src, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (in == -1) {
        log_warn("open \"%s\"", src);
        return -1;
    }

    out = open(dst, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
               0600);
    if (out == -1) {
        log_warn("create \"%s\"", dst);
        close(in);
        return -1;
    }

    rc = bk_copy_fd(in, src, out, dst, st);

    close(in);

    if (close(out) == -1 && rc == 0) {
        log_warn("close \"%s\"", dst);
        rc = -1;
    }

    return rc;
}


/* in's bytes into out, then st's owner (when root), mode and times */
static int
bk_copy_fd(int in, const char *src, int out, const char *dst,
    const struct stat *st)
{
    struct timespec  ts[2];
    ssize_t          n;

    do {
        n = copy_file_range(in, NULL, out, NULL, 1 << 30, 0);
    } while (n > 0);

    if (n == -1) {
        char  buf[65536];

        /* not supported between these filesystems: by hand */
        if (lseek(in, 0, SEEK_SET) == -1 || ftruncate(out, 0) == -1
            || lseek(out, 0, SEEK_SET) == -1)
        {
            goto fail;
        }

        while ((n = read(in, buf, sizeof(buf))) > 0) {
            if (write(out, buf, (size_t) n) != n) {
                goto fail;
            }
        }

        if (n == -1) {
            goto fail;
        }
    }

    if (geteuid() == 0 && fchown(out, st->st_uid, st->st_gid) == -1) {
        goto fail;
    }

    ts[0] = st->st_atim;
    ts[1] = st->st_mtim;

    if (fchmod(out, st->st_mode & 07777) == -1 || futimens(out, ts) == -1) {
        goto fail;
    }

    return 0;

fail:

    log_warn("copy \"%s\" to \"%s\"", src, dst);

    return -1;
}


/*
 * The tree at src (a path of slen bytes in a PATH_MAX buffer) into dst,
 * which exists.  in_blobs: below a "blobs" directory, where files named
 * "data" are immutable blobs.  The paths are for messages: the walk goes
 * through bk_tree_at's descriptors.
 */
static int
bk_tree(char *src, size_t slen, char *dst, size_t dlen, int in_blobs,
    struct bk_stats *bs)
{
    int  sfd, dfd, rc;

    sfd = open(src, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (sfd == -1) {
        log_warn("open \"%s\"", src);
        return -1;
    }

    dfd = open(dst, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd == -1) {
        log_warn("open \"%s\"", dst);
        close(sfd);
        return -1;
    }

    rc = bk_tree_at(sfd, src, slen, dfd, dst, dlen, in_blobs, bs);

    close(dfd);

    return rc;
}


/*
 * One directory of the copy, by descriptors: nothing is looked up by a
 * path that a writer of either tree could turn into a symlink (the store
 * belongs to nginx's user, and backup and restore may run as root), and
 * nothing is followed.  A directory made here stays 0700 and root's
 * until everything below it is copied; its owner and mode are set last,
 * on its descriptor.  sfd is closed here.
 */
static int
bk_tree_at(int sfd, char *src, size_t slen, int dfd, char *dst, size_t dlen,
    int in_blobs, struct bk_stats *bs)
{
    struct dirent  *de;
    struct stat     st;
    DIR            *d;
    char            target[PATH_MAX];
    size_t          nlen;
    ssize_t         tl;
    int             rc, csfd, cdfd, in, out;

    d = fdopendir(sfd);
    if (d == NULL) {
        log_warn("opendir \"%s\"", src);
        close(sfd);
        return -1;
    }

    rc = 0;

    while (rc == 0 && (errno = 0, de = readdir(d)) != NULL) {
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0
            || strcmp(de->d_name, "_uploads") == 0
            || strcmp(de->d_name, "_gc") == 0)
        {
            continue;
        }

        nlen = strlen(de->d_name);
        if (slen + 1 + nlen >= PATH_MAX || dlen + 1 + nlen >= PATH_MAX) {
            log_warnx("%s/%s: path too long", src, de->d_name);
            rc = -1;
            break;
        }

        src[slen] = '/';
        memcpy(src + slen + 1, de->d_name, nlen + 1);
        dst[dlen] = '/';
        memcpy(dst + dlen + 1, de->d_name, nlen + 1);

        if (fstatat(sfd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) == -1) {
            if (errno != ENOENT) {      /* an upload's file renamed away */
                log_warn("lstat \"%s\"", src);
                rc = -1;
            }

        } else if (S_ISDIR(st.st_mode)) {
            csfd = openat(sfd, de->d_name,
                          O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
            cdfd = -1;

            if (csfd == -1
                || mkdirat(dfd, de->d_name, 0700) == -1
                || (cdfd = openat(dfd, de->d_name, O_RDONLY | O_DIRECTORY
                                  | O_NOFOLLOW | O_CLOEXEC)) == -1)
            {
                log_warn("mkdir \"%s\"", dst);
                if (csfd != -1) {
                    close(csfd);
                }
                rc = -1;

            } else {
                rc = bk_tree_at(csfd, src, slen + 1 + nlen, cdfd, dst,
                                dlen + 1 + nlen,
                                in_blobs || strcmp(de->d_name, "blobs") == 0,
                                bs);

                if (rc == 0
                    && ((geteuid() == 0
                         && fchown(cdfd, st.st_uid, st.st_gid) == -1)
                        || fchmod(cdfd, st.st_mode & 07777) == -1))
                {
                    log_warn("chown \"%s\"", dst);
                    rc = -1;
                }
            }

            if (cdfd != -1) {
                close(cdfd);
            }

        } else if (S_ISREG(st.st_mode)) {
            bs->files++;
            bs->bytes += st.st_size;

            if (in_blobs && strcmp(de->d_name, "data") == 0
                && linkat(sfd, de->d_name, dfd, de->d_name, 0) == 0)
            {
                bs->linked++;

            } else {
                in = openat(sfd, de->d_name,
                            O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
                out = openat(dfd, de->d_name,
                             O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW
                             | O_CLOEXEC, 0600);

                if (in == -1 || out == -1) {
                    log_warn("copy \"%s\" to \"%s\"", src, dst);
                    rc = -1;
                } else {
                    rc = bk_copy_fd(in, src, out, dst, &st);
                }

                if (in != -1) {
                    close(in);
                }
                if (out != -1 && close(out) == -1 && rc == 0) {
                    log_warn("close \"%s\"", dst);
                    rc = -1;
                }
                bs->copied++;
            }

        } else if (S_ISLNK(st.st_mode)) {
            tl = readlinkat(sfd, de->d_name, target, sizeof(target) - 1);
            if (tl == -1) {
                log_warn("readlink \"%s\"", src);
                rc = -1;
            } else {
                target[tl] = '\0';
                if (symlinkat(target, dfd, de->d_name) == -1) {
                    log_warn("symlink \"%s\"", dst);
                    rc = -1;
                }
            }
        }

        src[slen] = '\0';
        dst[dlen] = '\0';
    }

    if (rc == 0 && errno != 0) {
        log_warn("readdir \"%s\"", src);
        rc = -1;
    }

    closedir(d);

    return rc;
}


/* the directory path is in, made (0750) if missing */
static int
bk_parent_dir(const char *path)
{
    char  dir[PATH_MAX], *slash;

    if (snprintf(dir, sizeof(dir), "%s", path) >= (int) sizeof(dir)) {
        return -1;
    }

    slash = strrchr(dir, '/');
    if (slash == NULL || slash == dir) {
        return 0;
    }
    *slash = '\0';

    if (mkdir(dir, 0750) == -1 && errno != EEXIST) {
        log_warn("mkdir \"%s\"", dir);
        return -1;
    }

    return 0;
}


/* 1 if the files a and b have the same bytes (keys: small) */
static int
bk_same_file(const char *a, const char *b)
{
    unsigned char  ba[8192], bb[8192];
    ssize_t        na, nb;
    int            fa, fb, same;

    fa = open(a, O_RDONLY | O_CLOEXEC);
    fb = open(b, O_RDONLY | O_CLOEXEC);
    same = fa != -1 && fb != -1;

    while (same) {
        na = read(fa, ba, sizeof(ba));
        nb = read(fb, bb, sizeof(bb));
        if (na != nb || na < 0 || memcmp(ba, bb, (size_t) na) != 0) {
            same = 0;
        } else if (na == 0) {
            break;
        }
    }

    explicit_bzero(ba, sizeof(ba));
    explicit_bzero(bb, sizeof(bb));
    if (fa != -1) {
        close(fa);
    }
    if (fb != -1) {
        close(fb);
    }

    return same;
}


/* 0: path is an empty directory or absent (then made); -1 otherwise */
static int
bk_empty_dir(const char *path)
{
    struct dirent  *de;
    DIR            *d;
    int             n;

    if (mkdir(path, 0700) == 0) {
        return 0;
    }

    if (errno != EEXIST) {
        log_warn("mkdir \"%s\"", path);
        return -1;
    }

    d = opendir(path);
    if (d == NULL) {
        log_warn("opendir \"%s\"", path);
        return -1;
    }

    n = 0;
    while ((de = readdir(d)) != NULL) {
        if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0) {
            n++;
        }
    }

    closedir(d);

    if (n != 0) {
        log_warnx("\"%s\" is not empty", path);
        return -1;
    }

    return 0;
}


/* the garbage collector's lock, held until exit; the descriptor or -1 */
static int
bk_gc_lock(void)
{
    char            dir[PATH_MAX];
    struct passwd  *pw;
    int             dfd, fd;

    if (snprintf(dir, sizeof(dir), "%s/_gc", conf->registry_storage)
            >= (int) sizeof(dir))
    {
        log_warnx("authd.registry_storage is too long");
        return -1;
    }

    if (mkdir(dir, 0750) == -1 && errno != EEXIST) {
        log_warn("mkdir \"%s\"", dir);
        return -1;
    }

    /* in a store nginx's user writes: nothing followed */
    dfd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (dfd == -1) {
        log_warn("open \"%s\"", dir);
        return -1;
    }

    fd = openat(dfd, "lock", O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC,
                0640);
    if (fd == -1) {
        log_warn("open \"%s/lock\"", dir);
        close(dfd);
        return -1;
    }

    /*
     * The collector's directory is authd's: made here by root (a backup
     * before any collection, or a restore), it goes to authd.user, or
     * the collector could not take its lock.
     */
    if (geteuid() == 0 && conf->user != NULL
        && (pw = getpwnam(conf->user)) != NULL
        && (fchown(dfd, pw->pw_uid, pw->pw_gid) == -1
            || fchown(fd, pw->pw_uid, pw->pw_gid) == -1))
    {
        log_warn("chown \"%s\"", dir);
        close(fd);
        close(dfd);
        return -1;
    }

    close(dfd);

    if (flock(fd, LOCK_EX | LOCK_NB) == -1) {
        log_warnx("a garbage collection is running (it holds \"%s/lock\"): "
                  "try again when it has ended", dir);
        close(fd);
        return -1;
    }

    return fd;
}


/*
 * The token key and certificate and the secret key, to DIR/keys
 * (BK_SAVE) or from it (BK_LOAD); BK_CHECK only checks that a file
 * already where the configuration wants one is the backup's.
 */
static int
bk_keys(const char *dir, int how)
{
    struct stat   st, st2;
    const char   *path[3], *name[3];
    char          in[PATH_MAX];
    int           i;

    path[0] = conf->token_key;      name[0] = "private_key.pem";
    path[1] = conf->token_cert;     name[1] = "root.crt";
    path[2] = conf->secret_key;     name[2] = "secretkey";

    for (i = 0; i < 3; i++) {
        if (path[i] == NULL) {
            continue;
        }

        if (snprintf(in, sizeof(in), "%s/%s/%s", dir, BK_KEYS, name[i])
            >= (int) sizeof(in))
        {
            log_warnx("\"%s\": path too long", dir);
            return -1;
        }

        if (how == BK_SAVE) {
            if (stat(path[i], &st) == -1) {
                if (errno == ENOENT && i == 2) {
                    continue;       /* no secret sealed yet */
                }
                log_warn("\"%s\"", path[i]);
                return -1;
            }
            if (bk_copy_file(path[i], in, &st) != 0) {
                return -1;
            }
            continue;
        }

        if (stat(in, &st) == -1) {
            if (errno == ENOENT && i == 2) {
                continue;
            }
            log_warn("\"%s\"", in);
            return -1;
        }

        if (stat(path[i], &st2) == -1) {
            if (errno != ENOENT) {
                log_warn("\"%s\"", path[i]);
                return -1;
            }
            if (how == BK_LOAD) {
                /* a new installation: the keys' directory may be missing */
                if (bk_parent_dir(path[i]) != 0
                    || bk_copy_file(in, path[i], &st) != 0)
                {
                    return -1;
                }
                log_info("restored %s", path[i]);
            }
            continue;
        }

        /* there already: it must be the one of the backup */
        if (!bk_same_file(in, path[i])) {
            log_warnx("\"%s\" exists and is not the backup's %s: move it "
                      "away first", path[i], name[i]);
            return -1;
        }
    }

    return 0;
}


static int
bk_backup(const char *dir)
{
    struct bk_stats  bs;
    struct stat      st;
    json_t          *meta;
    char             src[PATH_MAX], dst[PATH_MAX], ts[32];
    struct tm        tm;
    time_t           now;
    int              lock, fd;

    memset(&bs, 0, sizeof(bs));
    lock = -1;
    fd = -1;

    if (conf->registry_storage == NULL) {
        log_warnx("authd.registry_storage is not set: nothing to back up "
                  "the database with");
        return -1;
    }

    if (bk_empty_dir(dir) != 0) {
        return -1;
    }

    lock = bk_gc_lock();
    if (lock == -1) {
        return -1;
    }

    /* 1. the database, one snapshot */
    if (snprintf(dst, sizeof(dst), "%s/%s", dir, BK_DUMP) >= (int) sizeof(dst)
        || snprintf(src, sizeof(src), "%s/%s", dir, BK_KEYS)
           >= (int) sizeof(src))
    {
        log_warnx("\"%s\": path too long", dir);
        goto fail;
    }

    fd = open(dst, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd == -1) {
        log_warn("create \"%s\"", dst);
        goto fail;
    }

    log_info("dumping the database %s", conf->db_name);

    if (bk_pg("pg_dump", -1, fd) != 0 || fsync(fd) == -1) {
        goto fail;
    }

    close(fd);
    fd = -1;

    /* 2. the keys */
    if (mkdir(src, 0700) == -1) {
        log_warn("mkdir \"%s\"", src);
        goto fail;
    }

    if (bk_keys(dir, BK_SAVE) != 0) {
        goto fail;
    }

    /* 3. the store, after the dump: all it references is there */
    if (snprintf(src, sizeof(src), "%s", conf->registry_storage)
            >= (int) sizeof(src)
        || snprintf(dst, sizeof(dst), "%s/%s", dir, BK_STORE)
           >= (int) sizeof(dst))
    {
        log_warnx("path too long");
        goto fail;
    }

    if (stat(src, &st) == -1 || mkdir(dst, 0700) == -1) {
        log_warn("mkdir \"%s\"", dst);
        goto fail;
    }

    log_info("copying the store %s", conf->registry_storage);

    if (bk_tree(src, strlen(src), dst, strlen(dst), 0, &bs) != 0) {
        goto fail;
    }

    /* the top of the copy as the store's, once it is whole: restored,
       nginx enters it */
    if ((geteuid() == 0 && lchown(dst, st.st_uid, st.st_gid) == -1)
        || chmod(dst, st.st_mode & 07777) == -1)
    {
        log_warn("chown \"%s\"", dst);
        goto fail;
    }

    /* 4. what the backup is, written last: a backup without it is not one */
    now = time(NULL);
    gmtime_r(&now, &tm);
    strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%SZ", &tm);

    meta = json_pack("{s:i, s:s, s:s, s:s, s:s, s:I, s:I, s:I, s:I}",
                     "format", BK_FORMAT, "created", ts,
                     "authd", AUTHD_VERSION, "database", conf->db_name,
                     "registry_storage", conf->registry_storage,
                     "files", (json_int_t) bs.files,
                     "linked", (json_int_t) bs.linked,
                     "copied", (json_int_t) bs.copied,
                     "bytes", (json_int_t) bs.bytes);

    if (snprintf(dst, sizeof(dst), "%s/%s", dir, BK_META) >= (int) sizeof(dst)
        || meta == NULL
        || json_dump_file(meta, dst, JSON_INDENT(2) | JSON_SORT_KEYS) != 0)
    {
        json_decref(meta);
        log_warnx("cannot write \"%s\"", dst);
        goto fail;
    }

    json_decref(meta);

    /* the dump, the copies and the links on disk before saying so */
    fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd == -1 || syncfs(fd) == -1) {
        log_warn("sync \"%s\"", dir);
        goto fail;
    }

    close(fd);
    close(lock);

    printf("backup: %s: database %s, %lld files (%lld linked, %lld copied), "
           "%lld bytes\n", dir, conf->db_name, bs.files, bs.linked,
           bs.copied, bs.bytes);

    return 0;

fail:

    if (fd != -1) {
        close(fd);
    }
    close(lock);

    log_warnx("backup failed: \"%s\" is incomplete (no %s), remove it",
              dir, BK_META);

    return -1;
}


static int
bk_restore(const char *dir)
{
    struct bk_stats  bs;
    json_t          *meta;
    json_error_t     err;
    struct stat      st;
    char             src[PATH_MAX], dst[PATH_MAX];
    int              fd, lock;

    memset(&bs, 0, sizeof(bs));

    if (conf->registry_storage == NULL) {
        log_warnx("authd.registry_storage is not set: nowhere to restore "
                  "the store");
        return -1;
    }

    if (snprintf(src, sizeof(src), "%s/%s", dir, BK_META) >= (int) sizeof(src)) {
        log_warnx("\"%s\": path too long", dir);
        return -1;
    }

    meta = json_load_file(src, 0, &err);
    if (meta == NULL) {
        log_warnx("\"%s\" is not a complete backup: %s", dir, err.text);
        return -1;
    }

    if (json_integer_value(json_object_get(meta, "format")) != BK_FORMAT) {
        log_warnx("\"%s\": a backup format this authd does not know", dir);
        json_decref(meta);
        return -1;
    }

    json_decref(meta);

    /* everything checked before anything is written */
    if (stat(conf->registry_storage, &st) == 0 || errno != ENOENT) {
        if (bk_empty_dir(conf->registry_storage) != 0) {
            log_warnx("restore onto a new store: \"%s\" must be empty or "
                      "absent", conf->registry_storage);
            return -1;
        }
    }

    if (bk_keys(dir, BK_CHECK) != 0) {
        return -1;
    }

    /* 1. the database: pg_restore refuses a database with tables */
    if (snprintf(src, sizeof(src), "%s/%s", dir, BK_DUMP) >= (int) sizeof(src)) {
        return -1;
    }

    fd = open(src, O_RDONLY | O_CLOEXEC);
    if (fd == -1) {
        log_warn("open \"%s\"", src);
        return -1;
    }

    log_info("restoring the database %s", conf->db_name);

    if (bk_pg("pg_restore", fd, -1) != 0) {
        close(fd);
        log_warnx("restore into a new database: create it empty "
                  "(createdb -O %s %s) and try again", conf->db_user,
                  conf->db_name);
        return -1;
    }

    close(fd);

    /* 2. the store, with the collector's lock (its directory is new) */
    if (mkdir(conf->registry_storage, 0750) == -1 && errno != EEXIST) {
        log_warn("mkdir \"%s\"", conf->registry_storage);
        return -1;
    }

    lock = bk_gc_lock();
    if (lock == -1) {
        return -1;
    }

    if (snprintf(src, sizeof(src), "%s/%s", dir, BK_STORE) >= (int) sizeof(src)
        || snprintf(dst, sizeof(dst), "%s", conf->registry_storage)
           >= (int) sizeof(dst))
    {
        close(lock);
        return -1;
    }

    log_info("copying the store into %s", conf->registry_storage);

    if (bk_tree(src, strlen(src), dst, strlen(dst), 0, &bs) != 0) {
        close(lock);
        return -1;
    }

    /*
     * The store and the lock belong to the backup's owner (nginx's user),
     * given once the copy is whole: until then nothing in it is another
     * user's to swap for a symlink under the copy.
     */
    if (geteuid() == 0 && stat(src, &st) == 0
        && (lchown(dst, st.st_uid, st.st_gid) == -1
            || chmod(dst, st.st_mode & 07777) == -1))
    {
        log_warn("chown \"%s\"", dst);
        close(lock);
        return -1;
    }

    close(lock);

    /* 3. the keys, where the configuration wants them */
    if (bk_keys(dir, BK_LOAD) != 0) {
        return -1;
    }

    fd = open(conf->registry_storage, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd == -1 || syncfs(fd) == -1) {
        log_warn("sync \"%s\"", conf->registry_storage);
    }
    if (fd != -1) {
        close(fd);
    }

    printf("restore: %s: database %s, %lld files (%lld linked, %lld "
           "copied), %lld bytes\n", dir, conf->db_name, bs.files, bs.linked,
           bs.copied, bs.bytes);

    return 0;
}


/*
 * authd backup|restore [-f file] DIR.  *conffile is the configuration
 * used; *reindex 1 when authd.c is to reindex next (a restore).
 */
int
backup_main(int argc, char *argv[], const char **conffile, int *reindex)
{
    const char  *cmd;
    int          ch, rc;

    cmd = argv[0];
    *reindex = 0;

    while ((ch = getopt(argc, argv, "f:")) != -1) {
        switch (ch) {
        case 'f':
            *conffile = optarg;
            break;
        default:
            bk_usage();
        }
    }

    if (optind != argc - 1) {
        bk_usage();
    }

    conf = config_parse(*conffile);
    if (conf == NULL) {
        return 1;
    }

    log_setlevel(conf->log_level);

    if (strcmp(cmd, "backup") == 0) {
        rc = bk_backup(argv[optind]);
    } else {
        rc = bk_restore(argv[optind]);
        *reindex = rc == 0;
    }

    config_free(conf);
    conf = NULL;

    return rc == 0 ? 0 : 1;
}
