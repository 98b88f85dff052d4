/*
 * Replication's HTTP client of a remote registry, shared by
 * repl_client.c (requests, the token flow, listings) and repl_copy.c (the
 * copy).  Private to those two files; the rest of authd sees repl.h.
 */

#ifndef AUTHD_REPL_CLIENT_H
#define AUTHD_REPL_CLIENT_H

#include <curl/curl.h>

#include "harbor_grammar.h"
#include "repl.h"


#define REPL_SCOPES_MAX      16       /* of one token request */
#define REPL_HDR_MAX         2048        /* one kept response header */
#define REPL_SMALL_MAX       (64 * 1024) /* an error or a listing page */
#define REPL_LIST_MAX        (4 * 1024 * 1024)

/* one remote registry during one call */
struct repl_conn {
    const struct repl_endpoint  *ep;
    const char                  *role;   /* "source", "destination" */
    char                         host[320];  /* host:port, for messages */
    char                         base[1024]; /* ep->url, no trailing '/' */
    char                        *scopes[REPL_SCOPES_MAX];
    int                          nscopes;
    char                        *token;  /* bearer: token service's or ep's */
    int                          basic;  /* the registry asked for Basic */
    volatile int                *stop;   /* progress->stop, or NULL */
    CURL                        *keep;   /* repl_request's handle: its
                                            connections are kept open */
    /* ep->guarded: the address checked, pinned on every handle */
    struct curl_slist           *pin;
    int                          pin_family;
    unsigned char                pin_addr[16];
    char                         refused[256];  /* what the guard refused */
};

/* what a request brought back */
struct repl_resp {
    long      status;
    char     *body;                      /* malloc'd, NUL-terminated */
    size_t    len;
    size_t    max;                       /* body bytes kept */
    int       overflow;                  /* the body was longer than max */
    int64_t   content_length;            /* -1: none */
    char      content_type[256];
    char      location[REPL_HDR_MAX];
    char      digest[HB_DIGEST_MAX + 1]; /* Docker-Content-Digest */
    char      link[REPL_HDR_MAX];
    char      www_auth[REPL_HDR_MAX];
};


int repl_conn_init(struct repl_conn *c, const struct repl_endpoint *ep,
    const char *role, volatile int *stop, char *err, size_t errlen);
int repl_conn_scope(struct repl_conn *c, const char *scope);
void repl_conn_free(struct repl_conn *c);

/*
 * The options every request of c has: TLS, timeouts, protocols, the
 * header callback filling r, and the credentials c holds now.
 */
void repl_easy_setup(struct repl_conn *c, CURL *h, const char *url,
    struct repl_resp *r);
/* a path ("/v2/...") or an absolute Location into a URL of c */
int repl_url(struct repl_conn *c, const char *loc, char *url, size_t len);
void repl_resp_reset(struct repl_resp *r, size_t max);
void repl_resp_free(struct repl_resp *r);

/*
 * One request with a small or no body: 0 with r filled (any status),
 * or REPL_ERROR / REPL_FATAL / REPL_STOPPED with err set.  A 401 runs the
 * challenge (token service or Basic) and the request once more.
 */
int repl_request(struct repl_conn *c, const char *method, const char *path,
    const char *const *headers, const char *body, size_t blen, size_t max,
    struct repl_resp *r, char *err, size_t errlen);

/*
 * The path of Link: <...>; rel="next" into path ("" when there is none),
 * on c's own registry; -1 when it cannot be followed.
 */
int repl_next_link(struct repl_conn *c, const char *link, char *path,
    size_t len);

/* after a 401 of a streamed request: get new credentials from r */
int repl_reauth(struct repl_conn *c, struct repl_resp *r, char *err,
    size_t errlen);

/* err for a status the caller did not expect; REPL_FATAL or REPL_ERROR */
int repl_status_error(struct repl_conn *c, const char *what,
    const char *repo, struct repl_resp *r, char *err, size_t errlen);
/* err for a transfer that failed; REPL_FATAL or REPL_ERROR */
int repl_curl_error(struct repl_conn *c, CURLcode rc, const char *detail,
    char *err, size_t errlen);

#endif
