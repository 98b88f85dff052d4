/*
 * ngx-harbor: where things are in the store.  See harbor_layout.h.
 */

#include <string.h>

#include "harbor_grammar.h"
#include "harbor_layout.h"


/* a path being written into the caller's buffer */
typedef struct {
    char    *buf;
    size_t   len;
    size_t   off;
    int      over;
} hb_path_t;


static void
hb_put(hb_path_t *p, const char *s, size_t n)
{
    if (p->over || n >= p->len - p->off) {
        p->over = 1;
        return;
    }

    memcpy(p->buf + p->off, s, n);
    p->off += n;
    p->buf[p->off] = '\0';
}


static void
hb_puts(hb_path_t *p, const char *s)
{
    hb_put(p, s, strlen(s));
}


static int
hb_start(hb_path_t *p, char *buf, size_t len, const char *v2, size_t vlen)
{
    p->buf = buf;
    p->len = len;
    p->off = 0;
    p->over = len == 0 || vlen == 0;

    if (!p->over) {
        buf[0] = '\0';
    }

    hb_put(p, v2, vlen);

    return p->over ? -1 : 0;
}


static int
hb_end(hb_path_t *p)
{
    return p->over ? -1 : (int) p->off;
}


/* "<alg>/<hex>" of a digest; with prefix, "<alg>/<2 hex>/<hex>" */
static void
hb_put_digest(hb_path_t *p, const char *d, size_t dlen, int prefix)
{
    const char  *alg;
    int          a;

    a = hb_digest_parse((const unsigned char *) d, dlen);
    alg = hb_layout_alg(a);
    if (alg == NULL) {
        p->over = 1;
        return;
    }

    hb_puts(p, alg);
    hb_put(p, "/", 1);

    if (prefix) {
        hb_put(p, d + 7, 2);
        hb_put(p, "/", 1);
    }

    hb_put(p, d + 7, dlen - 7);
}


static void
hb_put_repo(hb_path_t *p, const char *name, size_t nlen)
{
    if (!hb_name_valid((const unsigned char *) name, nlen)) {
        p->over = 1;
        return;
    }

    hb_puts(p, "/repositories/");
    hb_put(p, name, nlen);
}


const char *
hb_layout_alg(int alg)
{
    switch (alg) {
    case HB_DIGEST_SHA256:
        return "sha256";
    case HB_DIGEST_SHA512:
        return "sha512";
    default:
        return NULL;
    }
}


int
hb_layout_v2(char *buf, size_t len, const char *storage, size_t slen)
{
    hb_path_t  p;

    hb_start(&p, buf, len, storage, slen);
    hb_puts(&p, HB_LAYOUT_V2);

    return hb_end(&p);
}


int
hb_layout_repositories(char *buf, size_t len, const char *v2, size_t vlen)
{
    hb_path_t  p;

    hb_start(&p, buf, len, v2, vlen);
    hb_puts(&p, "/repositories");

    return hb_end(&p);
}


int
hb_layout_blobs(char *buf, size_t len, const char *v2, size_t vlen, int alg)
{
    hb_path_t    p;
    const char  *a;

    a = hb_layout_alg(alg);
    if (a == NULL) {
        return -1;
    }

    hb_start(&p, buf, len, v2, vlen);
    hb_puts(&p, "/blobs/");
    hb_puts(&p, a);

    return hb_end(&p);
}


/* <v2>/blobs/<alg>/<2 hex>/<hex>, and tail */
static int
hb_layout_blob(char *buf, size_t len, const char *v2, size_t vlen,
    const char *digest, size_t dlen, const char *tail)
{
    hb_path_t  p;

    hb_start(&p, buf, len, v2, vlen);
    hb_puts(&p, "/blobs/");
    hb_put_digest(&p, digest, dlen, 1);
    hb_puts(&p, tail);

    return hb_end(&p);
}


int
hb_layout_blob_dir(char *buf, size_t len, const char *v2, size_t vlen,
    const char *digest, size_t dlen)
{
    return hb_layout_blob(buf, len, v2, vlen, digest, dlen, "");
}


int
hb_layout_blob_data(char *buf, size_t len, const char *v2, size_t vlen,
    const char *digest, size_t dlen)
{
    return hb_layout_blob(buf, len, v2, vlen, digest, dlen, "/data");
}


int
hb_layout_repo_dir(char *buf, size_t len, const char *v2, size_t vlen,
    const char *name, size_t nlen, int dir)
{
    static const char  *dirs[] = {
        "", "/_manifests", "/_layers", "/_manifests/revisions",
        "/_manifests/tags", "/_uploads", "/_referrers"
    };
    hb_path_t           p;

    if (dir < HB_DIR_REPOSITORY || dir > HB_DIR_REFERRERS) {
        return -1;
    }

    hb_start(&p, buf, len, v2, vlen);
    hb_put_repo(&p, name, nlen);
    hb_puts(&p, dirs[dir]);

    return hb_end(&p);
}


int
hb_layout_link(char *buf, size_t len, const char *v2, size_t vlen,
    const char *name, size_t nlen, int kind, const char *key, size_t klen,
    const char *key2, size_t k2len, size_t *entry)
{
    hb_path_t  p;

    hb_start(&p, buf, len, v2, vlen);
    hb_put_repo(&p, name, nlen);

    switch (kind) {

    case HB_LINK_LAYER:
        hb_puts(&p, "/_layers/");
        hb_put_digest(&p, key, klen, 0);
        break;

    case HB_LINK_REVISION:
        hb_puts(&p, "/_manifests/revisions/");
        hb_put_digest(&p, key, klen, 0);
        break;

    case HB_LINK_TAG:
    case HB_LINK_TAG_INDEX:
        if (!hb_tag_valid((const unsigned char *) key, klen)) {
            return -1;
        }
        hb_puts(&p, "/_manifests/tags/");
        hb_put(&p, key, klen);

        if (kind == HB_LINK_TAG) {
            if (entry != NULL) {
                *entry = p.off;
            }
            hb_puts(&p, "/current/link");
            return hb_end(&p);
        }

        hb_puts(&p, "/index/");
        hb_put_digest(&p, key2, k2len, 0);
        break;

    case HB_LINK_REFERRER:
        hb_puts(&p, "/_referrers/");
        hb_put_digest(&p, key, klen, 0);
        hb_put(&p, "/", 1);
        hb_put_digest(&p, key2, k2len, 0);
        break;

    default:
        return -1;
    }

    if (entry != NULL) {
        *entry = p.off;
    }

    hb_puts(&p, "/link");

    return hb_end(&p);
}


int
hb_layout_referrers(char *buf, size_t len, const char *v2, size_t vlen,
    const char *name, size_t nlen, const char *subject, size_t slen)
{
    hb_path_t  p;

    hb_start(&p, buf, len, v2, vlen);
    hb_put_repo(&p, name, nlen);
    hb_puts(&p, "/_referrers/");
    hb_put_digest(&p, subject, slen, 0);

    return hb_end(&p);
}


int
hb_layout_upload(char *buf, size_t len, const char *v2, size_t vlen,
    const char *name, size_t nlen, const char *uuid, size_t ulen)
{
    hb_path_t  p;

    if (!hb_uuid_valid((const unsigned char *) uuid, ulen)) {
        return -1;
    }

    hb_start(&p, buf, len, v2, vlen);
    hb_put_repo(&p, name, nlen);
    hb_puts(&p, "/_uploads/");
    hb_put(&p, uuid, ulen);

    return hb_end(&p);
}
