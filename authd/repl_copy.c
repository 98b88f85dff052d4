/*
 * authd: replication's copy of one artifact between two registries.
 *
 * First the plan: the manifest, and the children of an index (depth at
 * most REPL_DEPTH_MAX), fetched from the source and kept byte for byte,
 * each checked against its digest and parsed by hb_manifest_parse; the
 * blobs they name, each once, make bytes_total.  If the destination's tag
 * already names that digest there is nothing to do; if it names another
 * and override is off, the copy is skipped.
 *
 * Then each blob: HEAD at the destination (there: done), a cross-
 * repository mount when both ends are one registry, else a stream.  The
 * GET of the source and the upload to the destination are two easy
 * handles on one multi handle, one thread, connected by a ring buffer of
 * REPL_RING bytes: the GET pauses when the ring is full, the upload when
 * it is empty.  The digest is computed as bytes arrive; the last bytes
 * are handed to the destination only once it matches, so a source that
 * lies never gets a blob committed, and the upload is then cancelled
 * (DELETE).  One PUT with the whole body, or PATCHes of chunk_size and a
 * closing PUT when copy_by_chunk is set.
 *
 * Last the manifests: children of an index first, the top one last, to
 * dst_ref or by digest, with the source's Content-Type and bytes.
 */

#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <openssl/evp.h>

#include "authd.h"
#include "repl_client.h"


#define REPL_DEPTH_MAX       4           /* index in index in ... */
#define REPL_MANIFESTS_MAX   1024        /* manifests of one artifact */
#define REPL_RING            (4 * 1024 * 1024)
#define REPL_CHUNK_DEFAULT   (10 * 1024 * 1024)
#define REPL_CHUNK_MIN       (64 * 1024)
#define REPL_REAUTH          2           /* a blob's transfer got a 401 */
#define REPL_PIECE           16384       /* libcurl's usual write */
#define REPL_REFERRERS_DEPTH 2           /* a signature of an SBOM of ... */

#define REPL_ACCEPT                                                        \
    "Accept: " HB_MT_OCI_INDEX_S ", " HB_MT_OCI_MANIFEST_S ", "            \
    HB_MT_DOCKER_LIST_S ", " HB_MT_DOCKER_V2_S


struct repl_man {
    char            digest[HB_DIGEST_MAX + 1];
    char           *body;
    size_t          len;
    char            ctype[256];
    hb_manifest_t   m;
};

struct repl_blob {
    char            digest[HB_DIGEST_MAX + 1];
    int64_t         size;
};

struct repl_job {
    struct repl_conn              src;
    struct repl_conn              dst;
    const char                   *src_repo;
    const char                   *dst_repo;
    const struct repl_copy_opts  *opts;
    struct repl_progress         *progress;
    struct repl_man              *mans;
    size_t                        nmans;
    struct repl_blob             *blobs;
    size_t                        nblobs;
    int                           same;      /* one registry: mount */
    int64_t                       chunk;
    char                         *err;
    size_t                        errlen;
    /* what happened, for the log */
    int64_t                       sent;
    int                           nsent;
    int                           nhad;
    int                           nmounted;
    int                           requests;  /* of the last blob's upload */
};

/* one blob on its way */
struct repl_xfer {
    struct repl_job    *job;
    struct repl_blob   *b;
    EVP_MD_CTX         *md;
    CURLM              *multi;
    CURL               *get;
    CURL               *put;
    struct curl_slist  *put_hdrs;
    struct repl_resp    get_r;
    struct repl_resp    put_r;
    char               *ring;
    size_t              cap;
    size_t              head;            /* first byte held */
    size_t              used;
    int64_t             received;        /* from the source */
    int64_t             handed;          /* to the destination */
    int64_t             req_end;         /* handed stops there this request */
    int64_t             rate;            /* bytes/s, 0: unlimited */
    struct timespec     t0;              /* when the GET started */
    int                 get_paused;
    int                 put_paused;
    int                 get_done;
    int                 verified;        /* 1 match, -1 mismatch, 0 not yet */
    int                 failed;          /* err is set */
    int                 ret;
    char                upload[4096];    /* the upload's URL now */
};


static int repl_copy_at(const struct repl_endpoint *src,
    const char *src_repo, const char *ref, const struct repl_endpoint *dst,
    const char *dst_repo, const char *dst_ref,
    const struct repl_copy_opts *opts, struct repl_progress *progress,
    char *err, size_t errlen, int depth);
static void repl_log(struct repl_job *job, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));


static void
repl_log(struct repl_job *job, const char *fmt, ...)
{
    char     line[1024];
    va_list  ap;

    if (job->progress == NULL || job->progress->log == NULL) {
        return;
    }

    va_start(ap, fmt);
    vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);

    job->progress->log(job->progress->log_arg, line);
}


static int
repl_stopped(struct repl_job *job)
{
    if (job->progress != NULL && job->progress->stop) {
        snprintf(job->err, job->errlen, "stopped");
        return 1;
    }

    return 0;
}


static void
repl_progress_add(struct repl_job *job, int64_t n)
{
    if (job->progress != NULL) {
        job->progress->bytes_done += n;
    }
}


static const EVP_MD *
repl_md(const char *digest)
{
    return strncmp(digest, "sha512:", 7) == 0 ? EVP_sha512() : EVP_sha256();
}


/* "sha256:<hex>" of len bytes at p, with the algorithm of like */
static int
repl_digest(const char *like, const char *p, size_t len, char *out,
    size_t outlen)
{
    unsigned char  md[EVP_MAX_MD_SIZE];
    unsigned int   mdlen;
    const EVP_MD  *alg;

    alg = repl_md(like);

    if (outlen < HB_DIGEST_MAX + 1
        || EVP_Digest(p, len, md, &mdlen, alg, NULL) != 1)
    {
        return -1;
    }

    memcpy(out, alg == EVP_sha512() ? "sha512:" : "sha256:", 7);
    hb_hex((unsigned char *) out + 7, md, mdlen);
    out[7 + 2 * mdlen] = '\0';

    return 0;
}


static int
repl_is_digest(const char *ref)
{
    return hb_digest_parse((const unsigned char *) ref, strlen(ref))
           != HB_DIGEST_NONE;
}


/* the plan: manifests, blobs */


static int
repl_add_blob(struct repl_job *job, const hb_descriptor_t *d)
{
    struct repl_blob  *nb;
    size_t             i;

    if (d->digest[0] == '\0' || d->has_urls) {
        /* no config, or a foreign layer the destination need not hold */
        return 0;
    }

    for (i = 0; i < job->nblobs; i++) {
        if (strcmp(job->blobs[i].digest, d->digest) == 0) {
            return 0;
        }
    }

    if (d->size < 0) {
        snprintf(job->err, job->errlen, "the manifest gives blob %s a "
                 "negative size", d->digest);
        return REPL_FATAL;
    }

    nb = realloc(job->blobs, (job->nblobs + 1) * sizeof(*nb));
    if (nb == NULL) {
        snprintf(job->err, job->errlen, "out of memory");
        return REPL_ERROR;
    }

    job->blobs = nb;
    memcpy(nb[job->nblobs].digest, d->digest, sizeof(d->digest));
    nb[job->nblobs].size = d->size;
    job->nblobs++;

    if (job->progress != NULL) {
        job->progress->bytes_total += d->size;
    }

    return 0;
}


static int
repl_fetch(struct repl_job *job, const char *ref, int depth)
{
    static const char *const  hdrs[] = { REPL_ACCEPT, NULL };
    struct repl_resp          r;
    struct repl_man          *man, *nm;
    char                      path[1024], what[HB_DIGEST_MAX + 64];
    char                      perr[256], child[HB_DIGEST_MAX + 1];
    size_t                    i, idx, ctlen;
    int                       ret;

    for (i = 0; i < job->nmans; i++) {
        if (strcmp(job->mans[i].digest, ref) == 0) {
            return REPL_OK;
        }
    }

    if (depth > REPL_DEPTH_MAX || job->nmans == REPL_MANIFESTS_MAX) {
        snprintf(job->err, job->errlen, "%s:%s on %s nests indexes deeper "
                 "than %d or holds more than %d manifests", job->src_repo,
                 ref, job->src.host, REPL_DEPTH_MAX, REPL_MANIFESTS_MAX);
        return REPL_FATAL;
    }

    snprintf(path, sizeof(path), "/v2/%s/manifests/%s", job->src_repo, ref);
    snprintf(what, sizeof(what), "the pull of manifest %s", ref);

    memset(&r, 0, sizeof(r));
    ret = repl_request(&job->src, "GET", path, hdrs, NULL, 0,
                       HB_MANIFEST_MAX, &r, job->err, job->errlen);
    if (ret != REPL_OK) {
        repl_resp_free(&r);
        return ret;
    }

    if (r.status != 200) {
        ret = repl_status_error(&job->src, what, job->src_repo, &r,
                                job->err, job->errlen);
        repl_resp_free(&r);
        return ret;
    }

    if (r.overflow || r.body == NULL) {
        snprintf(job->err, job->errlen, "manifest %s of %s on %s is %s",
                 ref, job->src_repo, job->src.host,
                 r.overflow ? "larger than 4 MiB" : "empty");
        repl_resp_free(&r);
        return REPL_FATAL;
    }

    nm = realloc(job->mans, (job->nmans + 1) * sizeof(*nm));
    if (nm == NULL) {
        repl_resp_free(&r);
        snprintf(job->err, job->errlen, "out of memory");
        return REPL_ERROR;
    }

    job->mans = nm;
    idx = job->nmans++;
    man = &nm[idx];
    memset(man, 0, sizeof(*man));
    man->body = r.body;
    man->len = r.len;
    r.body = NULL;
    snprintf(man->ctype, sizeof(man->ctype), "%s", r.content_type);

    if (repl_digest(repl_is_digest(ref) ? ref : "sha256:", man->body,
                    man->len, man->digest, sizeof(man->digest)) != 0)
    {
        snprintf(job->err, job->errlen, "cannot compute a digest");
        return REPL_ERROR;
    }

    if (repl_is_digest(ref) && strcmp(ref, man->digest) != 0) {
        snprintf(job->err, job->errlen, "source sent a manifest for %s@%s "
                 "whose digest is %s: refused (%s)", job->src_repo, ref,
                 man->digest, job->src.host);
        return REPL_FATAL;
    }

    ctlen = hb_media_type_len((const unsigned char *) man->ctype,
                              strlen(man->ctype));

    if (hb_manifest_type((const unsigned char *) man->ctype, ctlen)
        == HB_MT_UNKNOWN)
    {
        /* none, or a generic one (application/json): the document's own */
        man->ctype[0] = '\0';
        ctlen = 0;
    }

    if (hb_manifest_parse(man->body, man->len, man->ctype, ctlen, &man->m,
                          perr, sizeof(perr)) != 0)
    {
        snprintf(job->err, job->errlen, "manifest %s of %s on %s cannot be "
                 "copied: %s", ref, job->src_repo, job->src.host, perr);
        return REPL_FATAL;
    }

    if (man->ctype[0] == '\0') {
        snprintf(man->ctype, sizeof(man->ctype), "%s", man->m.media_type);
    }

    ret = repl_add_blob(job, &man->m.config);
    for (i = 0; ret == REPL_OK && i < man->m.nblobs; i++) {
        ret = repl_add_blob(job, &man->m.blobs[i]);
    }

    /* job->mans moves as it grows: the parent by index */
    for (i = 0; ret == REPL_OK && i < job->mans[idx].m.nmanifests; i++) {
        memcpy(child, job->mans[idx].m.manifests[i].digest, sizeof(child));
        ret = repl_fetch(job, child, depth + 1);
    }

    return ret;
}


/* one blob: HEAD, mount, or a stream */


/* all the bytes are in: does their digest match? */
static void
repl_verify(struct repl_xfer *x)
{
    struct repl_job  *job = x->job;
    char              got[HB_DIGEST_MAX + 1];
    unsigned char     md[EVP_MAX_MD_SIZE];
    unsigned int      mdlen;

    if (EVP_DigestFinal_ex(x->md, md, &mdlen) != 1) {
        x->verified = -1;
        snprintf(job->err, job->errlen, "cannot compute a digest");
        return;
    }

    memcpy(got, x->b->digest, 7);
    hb_hex((unsigned char *) got + 7, md, mdlen);
    got[7 + 2 * mdlen] = '\0';

    if (strcmp(got, x->b->digest) == 0) {
        x->verified = 1;
        return;
    }

    x->verified = -1;
    snprintf(job->err, job->errlen, "source sent blob %s of %s (%s) with "
             "the wrong content (its digest is %s): refused", x->b->digest,
             job->src_repo, job->src.host, got);
}


/*
 * How many more bytes speed_kbps lets the GET take now: what the rate
 * allows since the GET started, plus a tenth of a second's worth, less
 * what came.  libcurl's own limit lets the first megabyte or so through
 * at once, far too fast for small blobs; this one holds from the start.
 */
static int64_t
repl_allowance(struct repl_xfer *x)
{
    struct timespec  now;
    double           el;
    int64_t          burst;

    if (x->rate == 0) {
        return INT64_MAX;
    }

    clock_gettime(CLOCK_MONOTONIC, &now);
    el = (double) (now.tv_sec - x->t0.tv_sec)
         + (double) (now.tv_nsec - x->t0.tv_nsec) / 1e9;
    burst = x->rate / 10 > REPL_PIECE ? x->rate / 10 : REPL_PIECE;

    return (int64_t) (el * (double) x->rate) + burst - x->received;
}


static size_t
repl_ring_write(char *p, size_t size, size_t n, void *arg)
{
    struct repl_xfer  *x = arg;
    struct repl_job   *job = x->job;
    size_t             len, tail, first;
    long               status;
    char              *nr;

    len = size * n;

    status = 0;
    curl_easy_getinfo(x->get, CURLINFO_RESPONSE_CODE, &status);
    if (status != 200) {
        /* an error's body, kept for the message */
        x->get_r.max = REPL_SMALL_MAX;
        curl_easy_getinfo(x->get, CURLINFO_RESPONSE_CODE, &x->get_r.status);
        if (x->get_r.len + len <= x->get_r.max) {
            nr = realloc(x->get_r.body, x->get_r.len + len + 1);
            if (nr != NULL) {
                x->get_r.body = nr;
                memcpy(nr + x->get_r.len, p, len);
                x->get_r.len += len;
                nr[x->get_r.len] = '\0';
            }
        }
        return len;
    }

    if (job->progress != NULL && job->progress->stop) {
        return 0;
    }

    if (x->received + (int64_t) len > x->b->size) {
        x->verified = -1;
        snprintf(job->err, job->errlen, "source sent more than the %lld "
                 "bytes of blob %s of %s (%s): refused", (long long)
                 x->b->size, x->b->digest, job->src_repo, job->src.host);
        x->failed = 1;
        x->ret = REPL_ERROR;
        return 0;
    }

    if ((int64_t) len > repl_allowance(x)) {
        x->get_paused = 1;
        return CURL_WRITEFUNC_PAUSE;
    }

    if (x->cap - x->used < len) {
        if (x->used > 0) {
            x->get_paused = 1;
            return CURL_WRITEFUNC_PAUSE;
        }
        /* a piece larger than the ring (never seen): hold it whole */
        nr = realloc(x->ring, len);
        if (nr == NULL) {
            return 0;
        }
        x->ring = nr;
        x->cap = len;
        x->head = 0;
    }

    tail = (x->head + x->used) % x->cap;
    first = x->cap - tail < len ? x->cap - tail : len;
    memcpy(x->ring + tail, p, first);
    memcpy(x->ring, p + first, len - first);
    x->used += len;

    EVP_DigestUpdate(x->md, p, len);
    x->received += (int64_t) len;

    if (x->received == x->b->size) {
        repl_verify(x);
    }

    return len;
}


static size_t
repl_ring_read(char *p, size_t size, size_t n, void *arg)
{
    struct repl_xfer  *x = arg;
    size_t             len, first;
    int64_t            left;

    if (x->failed || (x->job->progress != NULL && x->job->progress->stop)) {
        return CURL_READFUNC_ABORT;
    }

    len = size * n;
    left = x->req_end - x->handed;

    if ((int64_t) len > left) {
        len = (size_t) left;
    }

    if (len > x->used) {
        len = x->used;
    }

    if (len == 0) {
        if (left == 0) {
            return 0;
        }

        if (x->get_done) {
            /* the source ended short: the GET's end reports it */
            return CURL_READFUNC_ABORT;
        }

        x->put_paused = 1;
        return CURL_READFUNC_PAUSE;
    }

    if (x->handed + (int64_t) len == x->b->size && x->verified != 1) {
        /* the last bytes go only with the right digest */
        x->failed = 1;
        x->ret = REPL_ERROR;
        return CURL_READFUNC_ABORT;
    }

    first = x->cap - x->head < len ? x->cap - x->head : len;
    memcpy(p, x->ring + x->head, first);
    memcpy(p + first, x->ring, len - first);
    x->head = (x->head + len) % x->cap;
    x->used -= len;

    x->handed += (int64_t) len;
    repl_progress_add(x->job, (int64_t) len);

    return len;
}


/* the next request of the upload: a PATCH of a chunk, or the PUT */
static int
repl_put_start(struct repl_xfer *x)
{
    struct repl_job    *job = x->job;
    struct curl_slist  *t;
    char                url[4096 + HB_DIGEST_MAX + 16], hdr[128];
    int64_t             end;
    int                 patch;

    patch = job->opts != NULL && job->opts->copy_by_chunk
            && x->handed < x->b->size;

    if (patch) {
        end = x->handed + job->chunk;
        x->req_end = end < x->b->size ? end : x->b->size;

        if ((size_t) snprintf(url, sizeof(url), "%s", x->upload)
            >= sizeof(url))
        {
            goto toolong;
        }

    } else {
        x->req_end = x->b->size;

        if ((size_t) snprintf(url, sizeof(url), "%s%cdigest=%s", x->upload,
                              strchr(x->upload, '?') ? '&' : '?',
                              x->b->digest) >= sizeof(url))
        {
            goto toolong;
        }
    }

    x->put = curl_easy_init();
    if (x->put == NULL) {
        snprintf(job->err, job->errlen, "libcurl could not be initialised");
        return REPL_ERROR;
    }

    repl_resp_reset(&x->put_r, REPL_SMALL_MAX);
    repl_easy_setup(&job->dst, x->put, url, &x->put_r);

    curl_slist_free_all(x->put_hdrs);
    x->put_hdrs = curl_slist_append(NULL, "Expect:");
    t = curl_slist_append(x->put_hdrs,
                          "Content-Type: application/octet-stream");
    if (t != NULL && patch) {
        snprintf(hdr, sizeof(hdr), "Content-Range: %lld-%lld",
                 (long long) x->handed, (long long) x->req_end - 1);
        t = curl_slist_append(t, hdr);
    }
    if (t == NULL) {
        snprintf(job->err, job->errlen, "out of memory");
        return REPL_ERROR;
    }

    curl_easy_setopt(x->put, CURLOPT_HTTPHEADER, x->put_hdrs);
    curl_easy_setopt(x->put, CURLOPT_UPLOAD, 1L);
    curl_easy_setopt(x->put, CURLOPT_CUSTOMREQUEST, patch ? "PATCH" : "PUT");
    curl_easy_setopt(x->put, CURLOPT_INFILESIZE_LARGE,
                     (curl_off_t) (x->req_end - x->handed));
    curl_easy_setopt(x->put, CURLOPT_READFUNCTION, repl_ring_read);
    curl_easy_setopt(x->put, CURLOPT_READDATA, x);
    curl_easy_setopt(x->put, CURLOPT_PRIVATE, x);

    x->put_paused = 0;
    job->requests++;
    curl_multi_add_handle(x->multi, x->put);

    return REPL_OK;

toolong:

    snprintf(job->err, job->errlen, "destination at %s sent an upload "
             "location that is too long", job->dst.host);
    return REPL_FATAL;
}


static int
repl_get_end(struct repl_xfer *x, CURLcode rc)
{
    struct repl_job  *job = x->job;
    char              what[HB_DIGEST_MAX + 32];
    long              status;

    x->get_done = 1;

    if (x->failed) {
        return x->ret;
    }

    if (rc != CURLE_OK) {
        x->failed = 1;
        return x->ret = repl_curl_error(&job->src, rc, NULL, job->err,
                                        job->errlen);
    }

    status = 0;
    curl_easy_getinfo(x->get, CURLINFO_RESPONSE_CODE, &status);

    if (status == 401 && repl_reauth(&job->src, &x->get_r, job->err,
                                     job->errlen) == 0)
    {
        /* the source's token expired: the blob again, with a new one */
        x->failed = 1;
        return x->ret = REPL_REAUTH;
    }

    if (status != 200) {
        x->failed = 1;
        x->get_r.status = status;
        snprintf(what, sizeof(what), "the pull of blob %s", x->b->digest);
        return x->ret = repl_status_error(&job->src, what, job->src_repo,
                                          &x->get_r, job->err, job->errlen);
    }

    if (x->b->size == 0 && x->verified == 0) {
        repl_verify(x);
    }

    if (x->received != x->b->size || x->verified != 1) {
        x->failed = 1;
        if (x->verified == 0) {
            snprintf(job->err, job->errlen, "source sent %lld of the %lld "
                     "bytes of blob %s of %s (%s): refused",
                     (long long) x->received, (long long) x->b->size,
                     x->b->digest, job->src_repo, job->src.host);
        }
        return x->ret = REPL_ERROR;
    }

    return REPL_OK;
}


static int
repl_put_end(struct repl_xfer *x, CURLcode rc, int *done)
{
    struct repl_job  *job = x->job;
    long              status;
    int               ret;

    status = 0;
    curl_easy_getinfo(x->put, CURLINFO_RESPONSE_CODE, &status);
    x->put_r.status = status;

    curl_multi_remove_handle(x->multi, x->put);
    curl_easy_cleanup(x->put);
    x->put = NULL;

    if (x->failed) {
        return x->ret;
    }

    if (rc != CURLE_OK && status != 401) {
        x->failed = 1;
        return x->ret = repl_curl_error(&job->dst, rc, NULL, job->err,
                                        job->errlen);
    }

    if (status == 401) {
        ret = repl_reauth(&job->dst, &x->put_r, job->err, job->errlen);
        x->failed = 1;
        x->ret = ret == 0 ? REPL_REAUTH : ret < 0 ? ret
                 : repl_status_error(&job->dst, "push", job->dst_repo,
                                     &x->put_r, job->err, job->errlen);
        return x->ret;
    }

    if (x->req_end < x->b->size || (job->opts && job->opts->copy_by_chunk
                                    && status == 202))
    {
        /* a chunk went in: the next request at the new location */
        if (status != 202 && status != 204) {
            x->failed = 1;
            return x->ret = repl_status_error(&job->dst, "push",
                                              job->dst_repo, &x->put_r,
                                              job->err, job->errlen);
        }

        if (x->put_r.location[0] != '\0'
            && repl_url(&job->dst, x->put_r.location, x->upload,
                        sizeof(x->upload)) != 0)
        {
            x->failed = 1;
            snprintf(job->err, job->errlen, "destination at %s sent an "
                     "upload location that is not usable", job->dst.host);
            return x->ret = REPL_FATAL;
        }

        ret = repl_put_start(x);
        if (ret != REPL_OK) {
            x->failed = 1;
            x->ret = ret;
        }
        return ret;
    }

    if (status != 201) {
        x->failed = 1;
        return x->ret = repl_status_error(&job->dst, "push", job->dst_repo,
                                          &x->put_r, job->err, job->errlen);
    }

    *done = 1;

    return REPL_OK;
}


static void
repl_xfer_free(struct repl_xfer *x)
{
    if (x->get != NULL) {
        curl_multi_remove_handle(x->multi, x->get);
        curl_easy_cleanup(x->get);
    }

    if (x->put != NULL) {
        curl_multi_remove_handle(x->multi, x->put);
        curl_easy_cleanup(x->put);
    }

    curl_multi_cleanup(x->multi);
    curl_slist_free_all(x->put_hdrs);
    EVP_MD_CTX_free(x->md);
    repl_resp_free(&x->get_r);
    repl_resp_free(&x->put_r);
    free(x->ring);
}


/* GET at the source into an upload at x->upload; REPL_* */
static int
repl_stream(struct repl_job *job, struct repl_blob *b, const char *upload)
{
    struct repl_xfer  x;
    struct CURLMsg   *msg;
    char              url[2048];
    int               running, left, done, started, ret;

    memset(&x, 0, sizeof(x));
    job->requests = 0;
    x.job = job;
    x.b = b;
    x.cap = REPL_RING;
    x.ring = malloc(x.cap);
    x.md = EVP_MD_CTX_new();
    x.multi = curl_multi_init();
    x.get = curl_easy_init();
    snprintf(x.upload, sizeof(x.upload), "%s", upload);
    repl_resp_reset(&x.get_r, REPL_SMALL_MAX);
    repl_resp_reset(&x.put_r, REPL_SMALL_MAX);

    if (x.ring == NULL || x.md == NULL || x.multi == NULL || x.get == NULL
        || EVP_DigestInit_ex(x.md, repl_md(b->digest), NULL) != 1)
    {
        repl_xfer_free(&x);
        snprintf(job->err, job->errlen, "out of memory");
        return REPL_ERROR;
    }

    snprintf(url, sizeof(url), "%s/v2/%s/blobs/%s", job->src.base,
             job->src_repo, b->digest);

    repl_easy_setup(&job->src, x.get, url, &x.get_r);
    curl_easy_setopt(x.get, CURLOPT_WRITEFUNCTION, repl_ring_write);
    curl_easy_setopt(x.get, CURLOPT_WRITEDATA, &x);
    /* storage behind a registry answers with a redirect; no credentials
     * go to another host (libcurl's rule without UNRESTRICTED_AUTH) */
    curl_easy_setopt(x.get, CURLOPT_FOLLOWLOCATION, 1L);
    curl_easy_setopt(x.get, CURLOPT_MAXREDIRS, 3L);
    if (job->opts != NULL && job->opts->speed_kbps > 0) {
        x.rate = job->opts->speed_kbps * 1024;
    }

    clock_gettime(CLOCK_MONOTONIC, &x.t0);
    curl_multi_add_handle(x.multi, x.get);

    done = 0;
    started = 0;
    ret = REPL_OK;

    while (!done && !x.failed) {
        if (repl_stopped(job)) {
            x.failed = 1;
            x.ret = REPL_STOPPED;
            break;
        }

        if (curl_multi_perform(x.multi, &running) != CURLM_OK) {
            snprintf(job->err, job->errlen, "libcurl failed");
            x.failed = 1;
            x.ret = REPL_ERROR;
            break;
        }

        while ((msg = curl_multi_info_read(x.multi, &left)) != NULL) {
            if (msg->msg != CURLMSG_DONE) {
                continue;
            }

            if (msg->easy_handle == x.get) {
                repl_get_end(&x, msg->data.result);

            } else if (msg->easy_handle == x.put) {
                repl_put_end(&x, msg->data.result, &done);
            }
        }

        if (x.failed || done) {
            break;
        }

        if (started && x.put == NULL) {
            /* never: every end of a request starts the next or ends */
            snprintf(job->err, job->errlen, "the upload of blob %s "
                     "stalled", b->digest);
            x.failed = 1;
            x.ret = REPL_ERROR;
            break;
        }

        /* the upload starts with the first byte (or the end) of the GET,
         * so that a source's refusal never opens anything more */
        if (!started && (x.used > 0 || x.get_done)) {
            started = 1;
            ret = repl_put_start(&x);
            if (ret != REPL_OK) {
                x.failed = 1;
                x.ret = ret;
                break;
            }
        }

        if (x.get_paused && x.cap - x.used >= x.cap / 2
            && repl_allowance(&x) >= REPL_PIECE)
        {
            x.get_paused = 0;
            curl_easy_pause(x.get, CURLPAUSE_CONT);
        }

        if (x.put != NULL && x.put_paused && (x.used > 0 || x.get_done)) {
            x.put_paused = 0;
            curl_easy_pause(x.put, CURLPAUSE_CONT);
        }

        /* a throttled GET is looked at every 10 ms */
        curl_multi_poll(x.multi, NULL, 0, x.rate ? 10 : 100, NULL);
    }

    if (x.failed) {
        ret = x.ret;
        if (ret == REPL_STOPPED || (job->progress && job->progress->stop)) {
            snprintf(job->err, job->errlen, "stopped");
            ret = REPL_STOPPED;
        }
        if (ret == REPL_OK) {
            ret = REPL_ERROR;
        }
    }

    if (ret != REPL_OK) {
        /* what went over does not count; the upload is cancelled */
        repl_progress_add(job, -x.handed);
    } else {
        job->sent += x.handed;
    }

    repl_xfer_free(&x);

    return ret;
}


static int
repl_cancel(struct repl_job *job, const char *upload)
{
    struct repl_resp  r;
    char              err[REPL_ERR_MAX];

    memset(&r, 0, sizeof(r));
    (void) repl_request(&job->dst, "DELETE", upload, NULL, NULL, 0,
                        REPL_SMALL_MAX, &r, err, sizeof(err));
    repl_resp_free(&r);

    return 0;
}


static int
repl_blob(struct repl_job *job, struct repl_blob *b)
{
    struct repl_resp  r;
    char              path[1024], upload[4096], what[HB_DIGEST_MAX + 32];
    int               ret, attempt;

    memset(&r, 0, sizeof(r));
    snprintf(what, sizeof(what), "the check of blob %s", b->digest);
    snprintf(path, sizeof(path), "/v2/%s/blobs/%s", job->dst_repo,
             b->digest);

    ret = repl_request(&job->dst, "HEAD", path, NULL, NULL, 0, 0, &r,
                       job->err, job->errlen);
    if (ret != REPL_OK) {
        goto done;
    }

    if (r.status == 200) {
        job->nhad++;
        repl_progress_add(job, b->size);
        repl_log(job, "blob %s (%lld bytes) already at the destination",
                 b->digest, (long long) b->size);
        goto done;
    }

    if (r.status != 404) {
        ret = repl_status_error(&job->dst, what, job->dst_repo, &r,
                                job->err, job->errlen);
        goto done;
    }

    for (attempt = 0; attempt < 2; attempt++) {
        if (repl_stopped(job)) {
            ret = REPL_STOPPED;
            goto done;
        }

        if (job->same) {
            snprintf(path, sizeof(path), "/v2/%s/blobs/uploads/?mount=%s"
                     "&from=%s", job->dst_repo, b->digest, job->src_repo);
        } else {
            snprintf(path, sizeof(path), "/v2/%s/blobs/uploads/",
                     job->dst_repo);
        }

        ret = repl_request(&job->dst, "POST", path, NULL, NULL, 0,
                           REPL_SMALL_MAX, &r, job->err, job->errlen);
        if (ret != REPL_OK) {
            goto done;
        }

        if (job->same && r.status == 201) {
            job->nmounted++;
            repl_progress_add(job, b->size);
            repl_log(job, "blob %s (%lld bytes) mounted from %s",
                     b->digest, (long long) b->size, job->src_repo);
            goto done;
        }

        if (r.status != 202) {
            ret = repl_status_error(&job->dst, "push", job->dst_repo, &r,
                                    job->err, job->errlen);
            goto done;
        }

        if (r.location[0] == '\0'
            || repl_url(&job->dst, r.location, upload, sizeof(upload)) != 0)
        {
            snprintf(job->err, job->errlen, "destination at %s sent an "
                     "upload location that is not usable", job->dst.host);
            ret = REPL_FATAL;
            goto done;
        }

        ret = repl_stream(job, b, upload);

        if (ret != REPL_OK) {
            repl_cancel(job, upload);
        }

        if (ret != REPL_REAUTH) {
            break;
        }
    }

    if (ret == REPL_REAUTH) {
        snprintf(job->err, job->errlen, "blob %s of %s: a fresh token was "
                 "refused too (401) by %s or %s", b->digest, job->src_repo,
                 job->src.host, job->dst.host);
        ret = REPL_ERROR;
    }

    if (ret == REPL_OK) {
        job->nsent++;
        repl_log(job, "blob %s (%lld bytes) sent in %d request(s)",
                 b->digest, (long long) b->size, job->requests);
    }

done:

    repl_resp_free(&r);

    return ret;
}


static int
repl_put_manifest(struct repl_job *job, struct repl_man *man,
    const char *ref)
{
    struct repl_resp  r;
    char              path[1024], ct[300];
    const char       *hdrs[2];
    int               ret;

    snprintf(path, sizeof(path), "/v2/%s/manifests/%s", job->dst_repo, ref);
    snprintf(ct, sizeof(ct), "Content-Type: %s", man->ctype);
    hdrs[0] = ct;
    hdrs[1] = NULL;

    memset(&r, 0, sizeof(r));
    ret = repl_request(&job->dst, "PUT", path, hdrs, man->body, man->len,
                       REPL_SMALL_MAX, &r, job->err, job->errlen);

    if (ret == REPL_OK && r.status != 201) {
        ret = repl_status_error(&job->dst, "push", job->dst_repo, &r,
                                job->err, job->errlen);
    }

    if (ret == REPL_OK && r.digest[0] != '\0'
        && strncmp(r.digest, man->digest, 7) == 0
        && strcmp(r.digest, man->digest) != 0)
    {
        snprintf(job->err, job->errlen, "destination at %s stored manifest "
                 "%s as %s", job->dst.host, man->digest, r.digest);
        ret = REPL_FATAL;
    }

    if (ret == REPL_OK) {
        repl_log(job, "manifest %s pushed as %s%c%s", man->digest,
                 job->dst_repo, repl_is_digest(ref) ? '@' : ':', ref);
    }

    repl_resp_free(&r);

    return ret;
}


/* the destination's digest for ref, "" if it has none; REPL_* */
static int
repl_dst_digest(struct repl_job *job, const char *ref, char *digest,
    size_t len)
{
    static const char *const  hdrs[] = { REPL_ACCEPT, NULL };
    struct repl_resp          r;
    char                      path[1024];
    int                       ret;

    digest[0] = '\0';
    snprintf(path, sizeof(path), "/v2/%s/manifests/%s", job->dst_repo, ref);

    memset(&r, 0, sizeof(r));
    ret = repl_request(&job->dst, "HEAD", path, hdrs, NULL, 0, 0, &r,
                       job->err, job->errlen);

    if (ret == REPL_OK && r.status == 200) {
        snprintf(digest, len, "%s",
                 r.digest[0] ? r.digest : repl_is_digest(ref) ? ref : "?");
    }

    repl_resp_free(&r);

    /* anything but 200 is "not there": a refusal shows at the push */
    return ret;
}


static int
repl_same_registry(const struct repl_endpoint *a, const struct repl_endpoint *b)
{
    size_t  la, lb;

    la = strlen(a->url);
    lb = strlen(b->url);

    while (la > 0 && a->url[la - 1] == '/') {
        la--;
    }
    while (lb > 0 && b->url[lb - 1] == '/') {
        lb--;
    }

    return la == lb && strncasecmp(a->url, b->url, la) == 0;
}


/*
 * The referrers of digest at the source (GET /v2/<src>/referrers/<digest>,
 * following Link), each copied by digest once its subject is at the
 * destination, and theirs after them, REPL_REFERRERS_DEPTH levels down.  A
 * source without the referrers API (404, 400, 405: distribution 2.x) has
 * none to copy.
 */
static int
repl_referrers(struct repl_job *job, const struct repl_endpoint *src,
    const struct repl_endpoint *dst, const char *digest, int depth)
{
    static const char *const  hdrs[] = { "Accept: " HB_MT_OCI_INDEX_S, NULL };
    struct repl_progress      sub;
    struct repl_resp          r;
    hb_manifest_t             m;
    char                      path[REPL_HDR_MAX], perr[256];
    char                      what[HB_DIGEST_MAX + 64];
    char                      d[HB_DIGEST_MAX + 1];
    size_t                    i;
    int                       ret, n;

    snprintf(path, sizeof(path), "/v2/%s/referrers/%s", job->src_repo,
             digest);
    snprintf(what, sizeof(what), "the referrers of %s", digest);
    n = 0;

    while (path[0] != '\0') {
        memset(&r, 0, sizeof(r));
        ret = repl_request(&job->src, "GET", path, hdrs, NULL, 0,
                           REPL_LIST_MAX, &r, job->err, job->errlen);
        if (ret != REPL_OK) {
            repl_resp_free(&r);
            return ret;
        }

        if (r.status == 404 || r.status == 400 || r.status == 405) {
            repl_resp_free(&r);
            return REPL_OK;
        }

        if (r.status != 200) {
            ret = repl_status_error(&job->src, what, job->src_repo, &r,
                                    job->err, job->errlen);
            repl_resp_free(&r);
            return ret;
        }

        memset(&m, 0, sizeof(m));
        if (r.overflow || r.body == NULL
            || hb_manifest_parse(r.body, r.len, HB_MT_OCI_INDEX_S,
                                 sizeof(HB_MT_OCI_INDEX_S) - 1, &m, perr,
                                 sizeof(perr)) != 0)
        {
            snprintf(job->err, job->errlen, "the referrers of %s@%s on %s "
                     "are not an index the copy can read", job->src_repo,
                     digest, job->src.host);
            hb_manifest_free(&m);
            repl_resp_free(&r);
            return REPL_FATAL;
        }

        if (repl_next_link(&job->src, r.link, path, sizeof(path)) != 0) {
            path[0] = '\0';
        }
        repl_resp_free(&r);

        ret = REPL_OK;
        for (i = 0; ret == REPL_OK && i < m.nmanifests; i++) {
            if (repl_stopped(job)) {
                ret = REPL_STOPPED;
                break;
            }

            /* its own progress: the task's counts the subject's blobs */
            memset(&sub, 0, sizeof(sub));
            if (job->progress != NULL) {
                sub.log = job->progress->log;
                sub.log_arg = job->progress->log_arg;
            }

            memcpy(d, m.manifests[i].digest, sizeof(d));
            ret = repl_copy_at(src, job->src_repo, d, dst, job->dst_repo,
                               NULL, job->opts, &sub, job->err, job->errlen,
                               depth + 1);
            n++;
        }

        hb_manifest_free(&m);

        if (ret != REPL_OK) {
            return ret;
        }
    }

    if (n > 0) {
        repl_log(job, "%d referrer(s) of %s at the destination", n, digest);
    }

    return REPL_OK;
}


int
repl_copy(const struct repl_endpoint *src, const char *src_repo,
    const char *ref, const struct repl_endpoint *dst, const char *dst_repo,
    const char *dst_ref, const struct repl_copy_opts *opts,
    struct repl_progress *progress, char *err, size_t errlen)
{
    return repl_copy_at(src, src_repo, ref, dst, dst_repo, dst_ref, opts,
                        progress, err, errlen, 0);
}


static int
repl_copy_at(const struct repl_endpoint *src, const char *src_repo,
    const char *ref, const struct repl_endpoint *dst, const char *dst_repo,
    const char *dst_ref, const struct repl_copy_opts *opts,
    struct repl_progress *progress, char *err, size_t errlen, int depth)
{
    struct repl_job  job;
    char             scope[HB_NAME_MAX + 32], have[HB_DIGEST_MAX + 16];
    size_t           i;
    int              ret;

    memset(&job, 0, sizeof(job));
    job.src_repo = src_repo;
    job.dst_repo = dst_repo;
    job.opts = opts;
    job.progress = progress;
    job.err = err;
    job.errlen = errlen;
    err[0] = '\0';

    if (dst_ref == NULL) {
        dst_ref = ref;
    }

    if (!hb_name_valid((const unsigned char *) src_repo, strlen(src_repo))
        || !hb_name_valid((const unsigned char *) dst_repo, strlen(dst_repo))
        || (!repl_is_digest(ref)
            && !hb_tag_valid((const unsigned char *) ref, strlen(ref)))
        || (!repl_is_digest(dst_ref)
            && !hb_tag_valid((const unsigned char *) dst_ref,
                             strlen(dst_ref))))
    {
        snprintf(err, errlen, "%s:%s to %s:%s: not a valid repository "
                 "name and tag or digest", src_repo, ref, dst_repo, dst_ref);
        return REPL_FATAL;
    }

    job.chunk = opts != NULL && opts->chunk_size > 0 ? opts->chunk_size
                                                     : REPL_CHUNK_DEFAULT;
    if (job.chunk < REPL_CHUNK_MIN) {
        job.chunk = REPL_CHUNK_MIN;
    }

    if (progress != NULL) {
        progress->bytes_done = 0;
        progress->bytes_total = 0;
    }

    ret = repl_conn_init(&job.src, src, "source", progress ? &progress->stop
                         : NULL, err, errlen);
    if (ret != REPL_OK) {
        return ret;
    }

    ret = repl_conn_init(&job.dst, dst, "destination", progress
                         ? &progress->stop : NULL, err, errlen);
    if (ret != REPL_OK) {
        repl_conn_free(&job.src);
        return ret;
    }

    job.same = repl_same_registry(src, dst) && strcmp(src_repo, dst_repo);

    snprintf(scope, sizeof(scope), "repository:%s:pull", src_repo);
    ret = repl_conn_scope(&job.src, scope);
    if (job.same) {
        ret |= repl_conn_scope(&job.dst, scope);
    }
    snprintf(scope, sizeof(scope), "repository:%s:pull,push", dst_repo);
    ret |= repl_conn_scope(&job.dst, scope);

    if (ret != 0) {
        snprintf(err, errlen, "out of memory");
        ret = REPL_ERROR;
        goto done;
    }

    ret = repl_fetch(&job, ref, 0);
    if (ret != REPL_OK) {
        goto done;
    }

    repl_log(&job, "%s:%s on %s is %s: %zu manifest(s), %zu blob(s), "
             "%lld bytes", src_repo, ref, job.src.host, job.mans[0].digest,
             job.nmans, job.nblobs,
             progress ? (long long) progress->bytes_total : 0LL);

    ret = repl_dst_digest(&job, dst_ref, have, sizeof(have));
    if (ret != REPL_OK) {
        goto done;
    }

    if (strcmp(have, job.mans[0].digest) == 0) {
        if (progress != NULL) {
            progress->bytes_done = progress->bytes_total;
        }
        repl_log(&job, "%s:%s on %s is already %s: nothing to copy",
                 dst_repo, dst_ref, job.dst.host, have);
        goto referrers;
    }

    if (have[0] != '\0' && !repl_is_digest(dst_ref)
        && opts != NULL && !opts->override)
    {
        snprintf(err, errlen, "%s:%s on %s is %s, not %s, and override is "
                 "off: kept", dst_repo, dst_ref, job.dst.host, have,
                 job.mans[0].digest);
        repl_log(&job, "%s", err);
        ret = REPL_SKIPPED;
        goto done;
    }

    for (i = 0; i < job.nblobs; i++) {
        if (repl_stopped(&job)) {
            ret = REPL_STOPPED;
            goto done;
        }

        ret = repl_blob(&job, &job.blobs[i]);
        if (ret != REPL_OK) {
            goto done;
        }
    }

    /* children (fetched after their parent) before the parent */
    for (i = job.nmans; i-- > 0; ) {
        if (repl_stopped(&job)) {
            ret = REPL_STOPPED;
            goto done;
        }

        ret = repl_put_manifest(&job, &job.mans[i],
                                i == 0 ? dst_ref : job.mans[i].digest);
        if (ret != REPL_OK) {
            goto done;
        }
    }

    repl_log(&job, "copied %s:%s to %s:%s on %s: %d blob(s) sent "
             "(%lld bytes), %d mounted, %d already there", src_repo, ref,
             dst_repo, dst_ref, job.dst.host, job.nsent,
             (long long) job.sent, job.nmounted, job.nhad);

referrers:

    if (depth < REPL_REFERRERS_DEPTH) {
        ret = repl_referrers(&job, src, dst, job.mans[0].digest, depth);
    }

done:

    for (i = 0; i < job.nmans; i++) {
        hb_manifest_free(&job.mans[i].m);
        free(job.mans[i].body);
    }

    free(job.mans);
    free(job.blobs);
    repl_conn_free(&job.src);
    repl_conn_free(&job.dst);

    if (ret == REPL_STOPPED) {
        snprintf(err, errlen, "stopped");
    }

    return ret;
}


#define REPL_HEADS  8                   /* HEADs in flight at once */

struct repl_head {
    CURL               *h;
    struct repl_resp    r;
    size_t              j;
};


static int
repl_head_ok(const char *const *repos, const char *const *tags, size_t j)
{
    return tags[j][0] != '\0'
           && hb_name_valid((const unsigned char *) repos[j],
                            strlen(repos[j]))
           && hb_tag_valid((const unsigned char *) tags[j], strlen(tags[j]));
}


/*
 * HEAD of repos[j]:tags[j] for j in [from, to), REPL_HEADS at a time on
 * one multi handle, with the token c holds now: what is there goes to cb;
 * a 401 or another answer is left alone (its task asks again).
 */
static int
repl_heads(struct repl_conn *c, const char *const *repos,
    const char *const *tags, size_t from, size_t to,
    void (*cb)(void *arg, size_t i, const char *digest), void *arg,
    char *err, size_t errlen)
{
    struct repl_head    hd[REPL_HEADS];
    struct curl_slist  *hl;
    struct CURLMsg     *msg;
    CURLM              *m;
    CURLcode            rc;
    char                url[4096];
    size_t              next;
    long                status;
    int                 k, running, left, busy, ret;

    m = curl_multi_init();
    hl = curl_slist_append(NULL, REPL_ACCEPT);
    memset(hd, 0, sizeof(hd));
    ret = REPL_OK;

    if (m == NULL || hl == NULL) {
        curl_multi_cleanup(m);
        curl_slist_free_all(hl);
        snprintf(err, errlen, "out of memory");
        return REPL_ERROR;
    }

    next = from;
    busy = 0;

    do {
        /* fill the free slots */
        for (k = 0; k < REPL_HEADS && ret == REPL_OK; k++) {
            while (hd[k].h == NULL && next < to
                   && !repl_head_ok(repos, tags, next))
            {
                next++;
            }
            if (hd[k].h != NULL || next == to) {
                continue;
            }

            if ((size_t) snprintf(url, sizeof(url), "%s/v2/%s/manifests/%s",
                                  c->base, repos[next], tags[next])
                >= sizeof(url)
                || (hd[k].h = curl_easy_init()) == NULL)
            {
                next++;
                continue;
            }

            hd[k].j = next++;
            repl_resp_reset(&hd[k].r, 0);
            repl_easy_setup(c, hd[k].h, url, &hd[k].r);
            curl_easy_setopt(hd[k].h, CURLOPT_NOBODY, 1L);
            curl_easy_setopt(hd[k].h, CURLOPT_HTTPHEADER, hl);
            curl_easy_setopt(hd[k].h, CURLOPT_TIMEOUT, 120L);
            curl_easy_setopt(hd[k].h, CURLOPT_PRIVATE, &hd[k]);
            curl_multi_add_handle(m, hd[k].h);
            busy++;
        }

        if (busy == 0) {
            break;
        }

        if (curl_multi_perform(m, &running) != CURLM_OK) {
            snprintf(err, errlen, "libcurl failed");
            ret = REPL_ERROR;
            break;
        }

        while ((msg = curl_multi_info_read(m, &left)) != NULL) {
            struct repl_head  *x;

            if (msg->msg != CURLMSG_DONE) {
                continue;
            }

            curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, &x);
            rc = msg->data.result;
            status = 0;
            curl_easy_getinfo(x->h, CURLINFO_RESPONSE_CODE, &status);

            if (rc != CURLE_OK && ret == REPL_OK) {
                ret = repl_curl_error(c, rc, NULL, err, errlen);
            } else if (rc == CURLE_OK && status == 200
                       && repl_is_digest(x->r.digest))
            {
                cb(arg, x->j, x->r.digest);
            }

            curl_multi_remove_handle(m, x->h);
            curl_easy_cleanup(x->h);
            x->h = NULL;
            repl_resp_free(&x->r);
            busy--;
        }

        if (busy > 0) {
            curl_multi_poll(m, NULL, 0, 100, NULL);
        }

    } while (busy > 0 || (ret == REPL_OK && next < to));

    for (k = 0; k < REPL_HEADS; k++) {
        if (hd[k].h != NULL) {
            curl_multi_remove_handle(m, hd[k].h);
            curl_easy_cleanup(hd[k].h);
            repl_resp_free(&hd[k].r);
        }
    }

    curl_multi_cleanup(m);
    curl_slist_free_all(hl);

    return ret;
}


int
repl_tag_digests(const struct repl_endpoint *ep, const char *const *repos,
    const char *const *tags, size_t n,
    void (*cb)(void *arg, size_t i, const char *digest), void *arg,
    char *err, size_t errlen)
{
    static const char *const  hdrs[] = { REPL_ACCEPT, NULL };
    struct repl_conn          c;
    struct repl_resp          r;
    char                      path[1024], scope[HB_NAME_MAX + 32];
    size_t                    i, j, end;
    int                       ret, live;

    ret = REPL_OK;
    live = 0;
    memset(&r, 0, sizeof(r));

    for (i = 0; i < n && ret == REPL_OK; i = end) {
        /*
         * The repositories of a batch all in the scopes before the first
         * request: the token the challenge brings covers them all (one
         * token service request a batch, not one a repository).
         */
        ret = repl_conn_init(&c, ep, "destination", NULL, err, errlen);
        if (ret != REPL_OK) {
            break;
        }
        live = 1;

        for (end = i; end < n; end++) {
            if (!hb_name_valid((const unsigned char *) repos[end],
                               strlen(repos[end])))
            {
                continue;
            }
            snprintf(scope, sizeof(scope), "repository:%s:pull", repos[end]);
            if (repl_conn_scope(&c, scope) != 0) {
                break;
            }
        }

        /* the first through the challenge, for the token; the rest of
         * the batch several at a time with it */
        for (j = i; j < end && !repl_head_ok(repos, tags, j); j++) {
            /* void */
        }

        if (j < end) {
            snprintf(path, sizeof(path), "/v2/%s/manifests/%s", repos[j],
                     tags[j]);

            ret = repl_request(&c, "HEAD", path, hdrs, NULL, 0, 0, &r, err,
                               errlen);
            if (ret == REPL_OK && r.status == 200
                && repl_is_digest(r.digest))
            {
                cb(arg, j, r.digest);
            }

            if (ret == REPL_OK) {
                ret = repl_heads(&c, repos, tags, j + 1, end, cb, arg, err,
                                 errlen);
            }
        }

        repl_conn_free(&c);
        live = 0;
    }

    if (live) {
        repl_conn_free(&c);
    }
    repl_resp_free(&r);

    return ret;
}


int
repl_delete(const struct repl_endpoint *ep, const char *repo,
    const char *ref, char *err, size_t errlen)
{
    static const char *const  hdrs[] = { REPL_ACCEPT, NULL };
    struct repl_conn          c;
    struct repl_resp          r;
    char                      path[1024], scope[HB_NAME_MAX + 32];
    char                      digest[HB_DIGEST_MAX + 1];
    int                       ret;

    if (!hb_name_valid((const unsigned char *) repo, strlen(repo))
        || (!repl_is_digest(ref)
            && !hb_tag_valid((const unsigned char *) ref, strlen(ref))))
    {
        snprintf(err, errlen, "%s:%s: not a valid repository name and tag "
                 "or digest", repo, ref);
        return REPL_FATAL;
    }

    ret = repl_conn_init(&c, ep, "destination", NULL, err, errlen);
    if (ret != REPL_OK) {
        return ret;
    }

    snprintf(scope, sizeof(scope), "repository:%s:pull,push,delete", repo);
    repl_conn_scope(&c, scope);
    snprintf(path, sizeof(path), "/v2/%s/manifests/%s", repo, ref);

    memset(&r, 0, sizeof(r));
    ret = repl_request(&c, "DELETE", path, NULL, NULL, 0, REPL_SMALL_MAX, &r,
                       err, errlen);

    if (ret == REPL_OK && !repl_is_digest(ref)
        && (r.status == 400 || r.status == 405))
    {
        /* a registry that deletes by digest only (distribution 2.8) */
        ret = repl_request(&c, "HEAD", path, hdrs, NULL, 0, 0, &r, err,
                           errlen);
        if (ret == REPL_OK && r.status == 200 && repl_is_digest(r.digest)) {
            snprintf(digest, sizeof(digest), "%s", r.digest);
            snprintf(path, sizeof(path), "/v2/%s/manifests/%s", repo,
                     digest);
            ret = repl_request(&c, "DELETE", path, NULL, NULL, 0,
                               REPL_SMALL_MAX, &r, err, errlen);
        }
    }

    if (ret == REPL_OK && r.status != 202 && r.status != 200
        && r.status != 404)
    {
        ret = repl_status_error(&c, "the deletion", repo, &r, err, errlen);
    }

    /* 404: already gone, which is what was asked */
    repl_resp_free(&r);
    repl_conn_free(&c);

    return ret;
}


/*
 * authd copy: one repl_copy from the command line, for operators and
 * tests.  SRC and DST are http[s]://[user[:password]@]host[:port]/repo
 * [:tag|@digest]; REPL_SRC_PASSWORD and REPL_DST_PASSWORD, when set, give
 * the passwords instead (so that they are not in argv), REPL_SRC_BEARER
 * and REPL_DST_BEARER a bearer token to use as it is, REPL_SRC_CA and
 * REPL_DST_CA a file of CA certificates to trust.
 */


static struct repl_progress  repl_cli_progress;


static void
repl_cli_signal(int sig)
{
    (void) sig;
    repl_cli_progress.stop = 1;
}


static void
repl_cli_log(void *arg, const char *line)
{
    (void) arg;
    fprintf(stderr, "authd copy: %s\n", line);
}


struct repl_cli_ref {
    struct repl_endpoint  ep;
    char                  url[1024];
    char                  repo[HB_NAME_MAX + 1];
    char                  ref[HB_DIGEST_MAX + 1];
    char                 *user;
    char                 *pass;
    char                 *ca;
};


/* a CA file for ca_pem: at most 1 MiB of PEM */
static char *
repl_cli_file(const char *path)
{
    FILE    *f;
    char    *buf;
    size_t   n;

    f = fopen(path, "r");
    buf = f != NULL ? malloc(1024 * 1024 + 1) : NULL;
    if (buf == NULL) {
        if (f != NULL) {
            fclose(f);
        }
        fprintf(stderr, "authd copy: cannot read %s\n", path);
        return NULL;
    }

    n = fread(buf, 1, 1024 * 1024, f);
    fclose(f);
    buf[n] = '\0';

    return buf;
}


static int
repl_cli_parse(const char *arg, const char *side, struct repl_cli_ref *r)
{
    char         penv[32];
    CURLU       *u;
    char        *scheme, *host, *port, *path, *p, *at, *colon;
    const char  *env;
    int          ok;

    memset(r, 0, sizeof(*r));
    scheme = host = port = path = NULL;

    u = curl_url();
    ok = u != NULL
         && curl_url_set(u, CURLUPART_URL, arg, 0) == CURLUE_OK
         && curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) == CURLUE_OK
         && curl_url_get(u, CURLUPART_HOST, &host, 0) == CURLUE_OK
         && curl_url_get(u, CURLUPART_PORT, &port, CURLU_DEFAULT_PORT)
            == CURLUE_OK
         && curl_url_get(u, CURLUPART_PATH, &path, 0) == CURLUE_OK
         && (strcmp(scheme, "http") == 0 || strcmp(scheme, "https") == 0);

    if (ok) {
        (void) curl_url_get(u, CURLUPART_USER, &r->user, CURLU_URLDECODE);
        (void) curl_url_get(u, CURLUPART_PASSWORD, &r->pass,
                            CURLU_URLDECODE);

        ok = (size_t) snprintf(r->url, sizeof(r->url), "%s://%s:%s", scheme,
                               host, port) < sizeof(r->url);
    }

    if (ok) {
        p = path + (path[0] == '/');
        at = strchr(p, '@');
        colon = strrchr(p, ':');

        if (at != NULL) {
            *at = '\0';
            ok = strlen(at + 1) < sizeof(r->ref);
            snprintf(r->ref, sizeof(r->ref), "%s", at + 1);

        } else if (colon != NULL && strchr(colon, '/') == NULL) {
            *colon = '\0';
            ok = strlen(colon + 1) < sizeof(r->ref);
            snprintf(r->ref, sizeof(r->ref), "%s", colon + 1);

        } else {
            snprintf(r->ref, sizeof(r->ref), "latest");
        }

        ok = ok && strlen(p) < sizeof(r->repo);
        snprintf(r->repo, sizeof(r->repo), "%s", p);
    }

    curl_free(scheme);
    curl_free(host);
    curl_free(port);
    curl_free(path);
    curl_url_cleanup(u);

    if (!ok) {
        fprintf(stderr, "authd copy: %s: not a registry reference "
                "(http[s]://[user@]host[:port]/repository[:tag|@digest])\n",
                arg);
        return -1;
    }

    snprintf(penv, sizeof(penv), "REPL_%s_PASSWORD", side);
    env = getenv(penv);
    if (env != NULL) {
        curl_free(r->pass);
        r->pass = NULL;
    }

    r->ep.type = REPL_TYPE_DOCKER_REGISTRY;
    r->ep.url = r->url;
    r->ep.username = r->user;
    r->ep.password = env != NULL ? env : r->pass;

    snprintf(penv, sizeof(penv), "REPL_%s_BEARER", side);
    r->ep.bearer = getenv(penv);

    snprintf(penv, sizeof(penv), "REPL_%s_CA", side);
    env = getenv(penv);
    if (env != NULL) {
        r->ca = repl_cli_file(env);
        if (r->ca == NULL) {
            return -1;
        }
        r->ep.ca_pem = r->ca;
    }

    return 0;
}


static void
repl_cli_usage(void)
{
    fprintf(stderr, "usage: authd copy [-ckK] [-C chunk-bytes] "
            "[-s speed-kbps] SRC DST\n"
            "       authd copy -l | -p | -D [-k] [-t harbor] URL\n");
    exit(1);
}


static int
repl_cli_print(void *arg, const char *name)
{
    (void) arg;
    printf("%s\n", name);
    return 0;
}


/* -l, -p, -D: the other calls of repl.h on one registry */
static int
repl_cli_one(int mode, struct repl_cli_ref *r)
{
    char  err[REPL_ERR_MAX];
    int   ret;

    err[0] = '\0';

    switch (mode) {
    case 'l':
        ret = r->repo[0] == '\0'
              ? repl_list_repositories(&r->ep, NULL, repl_cli_print, NULL,
                                       err, sizeof(err))
              : repl_list_tags(&r->ep, r->repo, repl_cli_print, NULL, err,
                               sizeof(err));
        break;
    case 'p':
        ret = repl_ping(&r->ep, err, sizeof(err));
        break;
    default:
        ret = repl_delete(&r->ep, r->repo, r->ref, err, sizeof(err));
    }

    if (ret != REPL_OK) {
        fprintf(stderr, "authd copy: %s\n", err);
    }

    return ret == REPL_OK ? 0 : ret == REPL_FATAL ? 2 : 1;
}


int
repl_copy_main(int argc, char *argv[])
{
    static const char  *names[] = { "stopped", "fatal", "error", "ok",
                                    "skipped" };
    static const int    codes[] = { 3, 2, 1, 0, 4 };
    struct repl_cli_ref  src, dst;
    struct repl_copy_opts  opts;
    struct sigaction       sa;
    char                   err[REPL_ERR_MAX];
    const char            *name;
    int                    ch, insecure, ret, code, mode, type;

    memset(&opts, 0, sizeof(opts));
    opts.override = 1;
    insecure = 0;
    mode = 0;
    type = REPL_TYPE_DOCKER_REGISTRY;

    while ((ch = getopt(argc, argv, "cC:DkKlps:t:")) != -1) {
        switch (ch) {
        case 'c':
            opts.copy_by_chunk = 1;
            break;
        case 'C':
            opts.chunk_size = strtoll(optarg, NULL, 10);
            break;
        case 'D':
        case 'l':
        case 'p':
            mode = ch;
            break;
        case 'k':
            insecure = 1;
            break;
        case 'K':
            opts.override = 0;
            break;
        case 's':
            opts.speed_kbps = strtoll(optarg, NULL, 10);
            break;
        case 't':
            type = strcmp(optarg, "harbor") == 0 ? REPL_TYPE_HARBOR
                                                 : REPL_TYPE_DOCKER_REGISTRY;
            break;
        default:
            repl_cli_usage();
        }
    }

    if (argc - optind != (mode ? 1 : 2)) {
        repl_cli_usage();
    }

    if (repl_init() != 0) {
        fprintf(stderr, "authd copy: libcurl could not be initialised\n");
        return 1;
    }

    if (mode) {
        if (repl_cli_parse(argv[optind], "SRC", &src) != 0) {
            return 1;
        }
        src.ep.insecure = insecure;
        src.ep.type = type;
        code = repl_cli_one(mode, &src);
        curl_free(src.user);
        curl_free(src.pass);
        free(src.ca);
        curl_global_cleanup();
        return code;
    }

    if (repl_cli_parse(argv[optind], "SRC", &src) != 0
        || repl_cli_parse(argv[optind + 1], "DST", &dst) != 0)
    {
        return 1;
    }

    src.ep.insecure = insecure;
    dst.ep.insecure = insecure;

    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = repl_cli_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);

    repl_cli_progress.log = repl_cli_log;

    ret = repl_copy(&src.ep, src.repo, src.ref, &dst.ep, dst.repo, dst.ref,
                    &opts, &repl_cli_progress, err, sizeof(err));

    /* REPL_STOPPED -3 .. REPL_SKIPPED 1 */
    if (ret < REPL_STOPPED || ret > REPL_SKIPPED) {
        ret = REPL_ERROR;
    }

    name = names[ret + 3];
    code = codes[ret + 3];

    printf("%s %lld/%lld%s%s\n", name,
           (long long) repl_cli_progress.bytes_done,
           (long long) repl_cli_progress.bytes_total,
           err[0] && ret != REPL_OK ? ": " : "",
           ret != REPL_OK ? err : "");

    curl_free(src.user);
    curl_free(src.pass);
    curl_free(dst.user);
    curl_free(dst.pass);
    free(src.ca);
    free(dst.ca);
    curl_global_cleanup();

    return code;
}
