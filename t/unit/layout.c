/*
 * ngx-harbor: unit tests of harbor_layout.c, the one description of where
 * things are in the store: every path kind for both digest algorithms,
 * invalid parts refused, and a buffer one byte too small refused.
 */

#include <stdio.h>
#include <string.h>

#include "harbor_grammar.h"
#include "harbor_layout.h"
#include "tap.h"


#define V2    "/s/docker/registry/v2"
#define H256  "0123456789abcdef0123456789abcdef" \
              "0123456789abcdef0123456789abcdef"
#define D256  "sha256:" H256
#define H512  H256 H256
#define D512  "sha512:" H512
#define UUID  "0f0e0d0c-0b0a-4908-8706-050403020100"

#define L(s)  s, sizeof(s) - 1


static void
path_is(int n, const char *buf, const char *want, const char *name)
{
    is_int(n, (int) strlen(want), "%s: length", name);
    is_str(n >= 0 ? buf : NULL, want, "%s", name);
}


int
main(void)
{
    char    buf[1024], small[256];
    size_t  entry;
    int     n, need;

    n = hb_layout_v2(buf, sizeof(buf), L("/s"));
    path_is(n, buf, V2, "v2");

    n = hb_layout_repositories(buf, sizeof(buf), L(V2));
    path_is(n, buf, V2 "/repositories", "repositories");

    n = hb_layout_blobs(buf, sizeof(buf), L(V2), HB_DIGEST_SHA256);
    path_is(n, buf, V2 "/blobs/sha256", "blobs sha256");
    n = hb_layout_blobs(buf, sizeof(buf), L(V2), HB_DIGEST_SHA512);
    path_is(n, buf, V2 "/blobs/sha512", "blobs sha512");
    is_int(hb_layout_blobs(buf, sizeof(buf), L(V2), HB_DIGEST_NONE), -1,
           "blobs of no algorithm");

    n = hb_layout_blob_data(buf, sizeof(buf), L(V2), L(D256));
    path_is(n, buf, V2 "/blobs/sha256/01/" H256 "/data", "blob data sha256");
    n = hb_layout_blob_data(buf, sizeof(buf), L(V2), L(D512));
    path_is(n, buf, V2 "/blobs/sha512/01/" H512 "/data", "blob data sha512");
    n = hb_layout_blob_dir(buf, sizeof(buf), L(V2), L(D512));
    path_is(n, buf, V2 "/blobs/sha512/01/" H512, "blob dir sha512");

    n = hb_layout_link(buf, sizeof(buf), L(V2), L("a/b"), HB_LINK_LAYER,
                       L(D256), NULL, 0, &entry);
    path_is(n, buf, V2 "/repositories/a/b/_layers/sha256/" H256 "/link",
            "layer link");
    is_int((int) entry, n - 5, "layer link: entry is its directory");

    n = hb_layout_link(buf, sizeof(buf), L(V2), L("a/b"), HB_LINK_REVISION,
                       L(D512), NULL, 0, NULL);
    path_is(n, buf, V2 "/repositories/a/b/_manifests/revisions/sha512/" H512
            "/link", "revision link sha512");

    n = hb_layout_link(buf, sizeof(buf), L(V2), L("a"), HB_LINK_TAG,
                       L("v1.0"), NULL, 0, &entry);
    path_is(n, buf, V2 "/repositories/a/_manifests/tags/v1.0/current/link",
            "tag link");
    is_int((int) entry,
           (int) strlen(V2 "/repositories/a/_manifests/tags/v1.0"),
           "tag link: entry is the tag's directory");

    n = hb_layout_link(buf, sizeof(buf), L(V2), L("a"), HB_LINK_TAG_INDEX,
                       L("v1.0"), L(D256), NULL);
    path_is(n, buf, V2 "/repositories/a/_manifests/tags/v1.0/index/sha256/"
            H256 "/link", "tag index link");

    n = hb_layout_link(buf, sizeof(buf), L(V2), L("a"), HB_LINK_REFERRER,
                       L(D256), L(D512), NULL);
    path_is(n, buf, V2 "/repositories/a/_referrers/sha256/" H256 "/sha512/"
            H512 "/link", "referrer link");

    n = hb_layout_referrers(buf, sizeof(buf), L(V2), L("a"), L(D512));
    path_is(n, buf, V2 "/repositories/a/_referrers/sha512/" H512,
            "referrers of a subject");

    n = hb_layout_upload(buf, sizeof(buf), L(V2), L("a"), L(UUID));
    path_is(n, buf, V2 "/repositories/a/_uploads/" UUID, "upload");

    n = hb_layout_repo_dir(buf, sizeof(buf), L(V2), L("a/b"), HB_DIR_UPLOADS);
    path_is(n, buf, V2 "/repositories/a/b/_uploads", "uploads dir");
    n = hb_layout_repo_dir(buf, sizeof(buf), L(V2), L("a/b"),
                           HB_DIR_REVISIONS);
    path_is(n, buf, V2 "/repositories/a/b/_manifests/revisions",
            "revisions dir");
    n = hb_layout_repo_dir(buf, sizeof(buf), L(V2), L("a/b"), HB_DIR_TAGS);
    path_is(n, buf, V2 "/repositories/a/b/_manifests/tags", "tags dir");
    n = hb_layout_repo_dir(buf, sizeof(buf), L(V2), L("a/b"),
                           HB_DIR_MANIFESTS);
    path_is(n, buf, V2 "/repositories/a/b/_manifests", "manifests dir");
    n = hb_layout_repo_dir(buf, sizeof(buf), L(V2), L("a/b"),
                           HB_DIR_REPOSITORY);
    path_is(n, buf, V2 "/repositories/a/b", "repository dir");

    /* invalid parts */
    is_int(hb_layout_blob_data(buf, sizeof(buf), L(V2), L("sha256:0123")),
           -1, "short digest refused");
    is_int(hb_layout_blob_data(buf, sizeof(buf), L(V2), L("md5:" H256)),
           -1, "unknown algorithm refused");
    is_int(hb_layout_repo_dir(buf, sizeof(buf), L(V2), L("../x"),
                              HB_DIR_REPOSITORY), -1, "bad name refused");
    is_int(hb_layout_link(buf, sizeof(buf), L(V2), L("a"), HB_LINK_TAG,
                          L("../t"), NULL, 0, NULL), -1, "bad tag refused");
    is_int(hb_layout_upload(buf, sizeof(buf), L(V2), L("a"), L("x")), -1,
           "bad uuid refused");
    is_int(hb_layout_link(buf, sizeof(buf), L(V2), L("a"), 99, L(D256),
                          NULL, 0, NULL), -1, "unknown link kind refused");

    /* the longest paths fit in HB_LAYOUT_EXTRA beyond the root */
    {
        char  name[HB_NAME_MAX + 1], tag[HB_TAG_MAX + 1];
        char  big[sizeof(V2) + HB_LAYOUT_EXTRA];
        int   i;

        for (i = 0; i < HB_NAME_MAX; i++) {
            name[i] = (i % 2) ? '/' : 'a';
        }
        name[HB_NAME_MAX] = '\0';
        memset(tag, 't', HB_TAG_MAX);
        tag[HB_TAG_MAX] = '\0';

        ok(hb_name_valid((unsigned char *) name, HB_NAME_MAX)
           && hb_tag_valid((unsigned char *) tag, HB_TAG_MAX),
           "the longest name and tag are valid");
        ok(hb_layout_link(big, sizeof(big), L(V2), name, HB_NAME_MAX,
                          HB_LINK_TAG_INDEX, tag, HB_TAG_MAX, L(D512), NULL)
           > 0, "the longest tag index link fits in HB_LAYOUT_EXTRA");
        ok(hb_layout_link(big, sizeof(big), L(V2), name, HB_NAME_MAX,
                          HB_LINK_REFERRER, L(D512), L(D512), NULL) > 0,
           "the longest referrer link fits in HB_LAYOUT_EXTRA");
    }

    /* exactly enough room, and one byte less */
    need = hb_layout_blob_data(buf, sizeof(buf), L(V2), L(D256)) + 1;
    ok(need <= (int) sizeof(small), "fits the small buffer");
    n = hb_layout_blob_data(small, (size_t) need, L(V2), L(D256));
    is_int(n, need - 1, "exactly enough room");
    n = hb_layout_blob_data(small, (size_t) need - 1, L(V2), L(D256));
    is_int(n, -1, "one byte short: -1");
    is_int(hb_layout_v2(small, 0, L("/s")), -1, "no room at all: -1");

    return done_testing();
}
