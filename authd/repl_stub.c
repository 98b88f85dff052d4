/*
 * authd: the replication data plane's stand-in (authd/repl.h), until its
 * real implementation (repl_client.c, repl_copy.c) is built in.  Every
 * call fails, so runs end with a reason a person can read.
 */

#include <stdio.h>

#include "repl.h"


#define REPL_STUB_ERR  "replication data plane not built"


static int
repl_stub(char *err, size_t errlen)
{
    snprintf(err, errlen, "%s", REPL_STUB_ERR);
    return REPL_FATAL;
}


int
repl_init(void)
{
    return 0;
}


int
repl_ping(const struct repl_endpoint *ep, char *err, size_t errlen)
{
    (void) ep;
    return repl_stub(err, errlen);
}


int
repl_list_repositories(const struct repl_endpoint *ep,
    int (*cb)(void *arg, const char *repo), void *arg,
    char *err, size_t errlen)
{
    (void) ep;
    (void) cb;
    (void) arg;
    return repl_stub(err, errlen);
}


int
repl_list_tags(const struct repl_endpoint *ep, const char *repo,
    int (*cb)(void *arg, const char *tag), void *arg,
    char *err, size_t errlen)
{
    (void) ep;
    (void) repo;
    (void) cb;
    (void) arg;
    return repl_stub(err, errlen);
}


int
repl_copy(const struct repl_endpoint *src, const char *src_repo,
    const char *ref, const struct repl_endpoint *dst, const char *dst_repo,
    const char *dst_ref, const struct repl_copy_opts *opts,
    struct repl_progress *progress, char *err, size_t errlen)
{
    (void) src;
    (void) src_repo;
    (void) ref;
    (void) dst;
    (void) dst_repo;
    (void) dst_ref;
    (void) opts;
    (void) progress;
    return repl_stub(err, errlen);
}


int
repl_delete(const struct repl_endpoint *ep, const char *repo,
    const char *ref, char *err, size_t errlen)
{
    (void) ep;
    (void) repo;
    (void) ref;
    return repl_stub(err, errlen);
}
