/*
 * Replication's data plane: a client of a remote registry (libcurl) and
 * the copy of one artifact from one registry to another.
 *
 * The control plane (registries, policies, executions and tasks in
 * PostgreSQL, the job runner, triggers) calls only what this header
 * declares.  Both ends of a copy are registries reached over HTTP, this
 * instance included (through its own nginx, with a token authd signs for
 * itself), so one code path copies in every direction.
 *
 * Every function is safe to call from several threads at once, each with
 * its own endpoints and progress.  None keeps a blob whole in memory.
 */

#ifndef AUTHD_REPL_H
#define AUTHD_REPL_H

#include <stdint.h>
#include <stddef.h>

#define REPL_TYPE_HARBOR           1     /* Harbor 2.x, this product */
#define REPL_TYPE_DOCKER_REGISTRY  2     /* distribution, zot, ... */

#define REPL_ERR_MAX               512

struct repl_endpoint {
    int          type;                   /* REPL_TYPE_* */
    const char  *url;                    /* "https://host:port", no path */
    const char  *username;               /* NULL: anonymous */
    const char  *password;               /* a secret: never logged */
    int          insecure;               /* do not verify the peer's TLS */
    const char  *ca_pem;                 /* extra CA certificate(s), or NULL */
    /*
     * A bearer token this side hands out for itself (the local instance:
     * authd signs one for the repositories of the task), or NULL to run
     * the challenge / token-service flow with username and password.
     */
    const char  *bearer;
    /*
     * An address an API user chose (a registry of the API): every
     * connection goes through the SSRF guard (outbound.c), so a loopback,
     * private or link-local one is refused unless outbound_allowlist
     * names it.  0 for this instance's own end and for `authd copy`.
     */
    int          guarded;
};

/* progress of one copy, read by other threads while it runs */
struct repl_progress {
    volatile int64_t   bytes_done;       /* blob bytes now at the destination */
    volatile int64_t   bytes_total;      /* blob bytes of the artifact */
    volatile int       stop;             /* set by another thread: give up */
    /* one line for the task's log (no secrets in it), or NULL */
    void             (*log)(void *arg, const char *line);
    void              *log_arg;
};

struct repl_copy_opts {
    int64_t   speed_kbps;                /* 0: unlimited */
    int       copy_by_chunk;             /* PATCH in chunks of chunk_size */
    int64_t   chunk_size;                /* 0: 10 MiB */
    int       override;                  /* 0: an existing tag is kept */
};

/* results; err is a sentence a person can act on */
#define REPL_OK          0
#define REPL_ERROR      -1               /* retry may help */
#define REPL_FATAL      -2               /* retry will not help (4xx) */
#define REPL_STOPPED    -3               /* progress->stop was set */
#define REPL_SKIPPED     1               /* override off, tag exists */

/* curl_global_init; once, before any thread */
int repl_init(void);

/* GET /v2/ (and the token flow): credentials and reachability */
int repl_ping(const struct repl_endpoint *ep, char *err, size_t errlen);

/*
 * Listings, each name handed to cb (its return != 0 stops the walk):
 * repositories through /api/v2.0 (harbor) or /v2/_catalog (others), then
 * tags of one repository through /v2/<repo>/tags/list, following Link.
 * projects (harbor only; NULL: all of them) is a NULL-terminated list of
 * the project names to look in, asked for as Harbor's adapter does
 * (/api/v2.0/projects?q=name={'a' 'b'}).
 */
int repl_list_repositories(const struct repl_endpoint *ep,
    const char *const *projects,
    int (*cb)(void *arg, const char *repo), void *arg,
    char *err, size_t errlen);
int repl_list_tags(const struct repl_endpoint *ep, const char *repo,
    int (*cb)(void *arg, const char *tag), void *arg,
    char *err, size_t errlen);

/*
 * Copy src_repo:ref (a tag or a digest) to dst_repo:dst_ref (dst_ref NULL:
 * the same reference): blobs first (HEAD, then a mount from a repository
 * of the destination that has it, then a streamed upload checked against
 * its digest), children of an index before the index, the manifest last,
 * byte for byte, so that the digest is the same at both ends.  Nothing
 * already at the destination is sent again, so a retry resumes.
 */
int repl_copy(const struct repl_endpoint *src, const char *src_repo,
    const char *ref, const struct repl_endpoint *dst, const char *dst_repo,
    const char *dst_ref, const struct repl_copy_opts *opts,
    struct repl_progress *progress, char *err, size_t errlen);

/*
 * The digests of repos[i]:tags[i] at ep (sorted by repository; a tag ""
 * is not asked), one HEAD each, eight at a time over connections kept
 * open, with one token for up to REPL_SCOPES_MAX repositories:
 * cb(arg, i, digest) for each one there.  Lets a run find what is already in place without a
 * task for it.  REPL_OK, or the error that stopped the walk.
 */
int repl_tag_digests(const struct repl_endpoint *ep,
    const char *const *repos, const char *const *tags, size_t n,
    void (*cb)(void *arg, size_t i, const char *digest), void *arg,
    char *err, size_t errlen);

/* DELETE a tag (or a manifest by digest) at the destination */
int repl_delete(const struct repl_endpoint *ep, const char *repo,
    const char *ref, char *err, size_t errlen);

#endif
