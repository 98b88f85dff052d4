/*
 * ngx-harbor: where things are in the store, shared by the nginx module,
 * authd (reindex, the API's reads) and the garbage collector.  Plain C
 * (no nginx types), like harbor_grammar.h.
 *
 * CNCF distribution's layout, plus the module's referrers index:
 *
 *   <storage>/docker/registry/v2                                  "v2"
 *   <v2>/blobs/<alg>/<2 hex>/<hex>/data
 *   <v2>/repositories/<name>/
 *       _layers/<alg>/<hex>/link
 *       _manifests/revisions/<alg>/<hex>/link
 *       _manifests/tags/<tag>/current/link
 *       _manifests/tags/<tag>/index/<alg>/<hex>/link
 *       _uploads/<uuid>/
 *       _referrers/<alg>/<hex>/<alg>/<hex>/link     (subject, referrer)
 *
 * Every function writes a NUL-terminated path into the caller's buf of
 * size len and returns its length (without the NUL), or -1 when it does
 * not fit or a part is not valid (checked with harbor_grammar.h, so that
 * a path is only ever made of checked parts).  Strings are pointer and
 * length, not NUL-terminated.  Digests are "<alg>:<hex>".
 */

#ifndef HARBOR_LAYOUT_H
#define HARBOR_LAYOUT_H

#include <stddef.h>


#define HB_LAYOUT_V2         "/docker/registry/v2"

/*
 * Room any path of a repository or blob needs beyond the length of the
 * v2 root, NUL included (the longest: a tag index link of a name of
 * HB_NAME_MAX bytes and a tag of HB_TAG_MAX), for callers that allocate
 * the buffer.
 */
#define HB_LAYOUT_EXTRA      600

/* link files */
#define HB_LINK_LAYER        1      /* key: blob digest */
#define HB_LINK_REVISION     2      /* key: manifest digest */
#define HB_LINK_TAG          3      /* key: tag (its current link) */
#define HB_LINK_TAG_INDEX    4      /* key: tag, key2: manifest digest */
#define HB_LINK_REFERRER     5      /* key: subject, key2: referrer */

/* directories of a repository */
#define HB_DIR_REPOSITORY    0      /* the repository itself */
#define HB_DIR_MANIFESTS     1      /* _manifests: makes it a repository */
#define HB_DIR_LAYERS        2      /* _layers */
#define HB_DIR_REVISIONS     3      /* _manifests/revisions */
#define HB_DIR_TAGS          4      /* _manifests/tags */
#define HB_DIR_UPLOADS       5      /* _uploads */
#define HB_DIR_REFERRERS     6      /* _referrers */


/* "sha256" or "sha512" for HB_DIGEST_*; NULL for anything else */
const char *hb_layout_alg(int alg);

/* <storage>/docker/registry/v2 */
int hb_layout_v2(char *buf, size_t len, const char *storage, size_t slen);

/* <v2>/repositories */
int hb_layout_repositories(char *buf, size_t len, const char *v2,
    size_t vlen);

/* <v2>/blobs/<alg>, the directory the 2-hex prefixes are in */
int hb_layout_blobs(char *buf, size_t len, const char *v2, size_t vlen,
    int alg);

/* <v2>/blobs/<alg>/<2 hex>/<hex>: everything of one blob */
int hb_layout_blob_dir(char *buf, size_t len, const char *v2, size_t vlen,
    const char *digest, size_t dlen);

/* <v2>/blobs/<alg>/<2 hex>/<hex>/data */
int hb_layout_blob_data(char *buf, size_t len, const char *v2, size_t vlen,
    const char *digest, size_t dlen);

/* <v2>/repositories/<name>[/<dir of HB_DIR_*>] */
int hb_layout_repo_dir(char *buf, size_t len, const char *v2, size_t vlen,
    const char *name, size_t nlen, int dir);

/*
 * The link file of HB_LINK_* kind.  *entry (when not NULL) is set to the
 * length of the directory that holds everything of the entry, removed as
 * a whole when the link goes (<tag> for HB_LINK_TAG, <hex> otherwise).
 */
int hb_layout_link(char *buf, size_t len, const char *v2, size_t vlen,
    const char *name, size_t nlen, int kind, const char *key, size_t klen,
    const char *key2, size_t k2len, size_t *entry);

/* <v2>/repositories/<name>/_referrers/<alg>/<hex>: referrers of subject */
int hb_layout_referrers(char *buf, size_t len, const char *v2, size_t vlen,
    const char *name, size_t nlen, const char *subject, size_t slen);

/* <v2>/repositories/<name>/_uploads/<uuid> */
int hb_layout_upload(char *buf, size_t len, const char *v2, size_t vlen,
    const char *name, size_t nlen, const char *uuid, size_t ulen);

#endif /* HARBOR_LAYOUT_H */
