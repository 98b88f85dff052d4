/*
 * ngx-harbor: libFuzzer target for the manifest parser shared by the
 * module, authd and the collector: hb_manifest_parse() and
 * hb_manifest_sniff().
 *
 * The first byte picks the Content-Type the body comes with (none, one of
 * the four kinds, or the rest of a line); the rest is the body, in a heap
 * block of exactly its length.  A parsed manifest must hold only what
 * the grammar allows, and agree with the sniffer.
 */

#include "harbor_grammar.h"
#include "fuzz.h"


static const char  *types[] = {
    NULL,
    HB_MT_DOCKER_V2_S,
    HB_MT_DOCKER_LIST_S,
    HB_MT_OCI_MANIFEST_S,
    HB_MT_OCI_INDEX_S,
    HB_MT_OCI_EMPTY_S,
    "",
};

#define NTYPES  (sizeof(types) / sizeof(types[0]))


static void
check_descriptor(const hb_descriptor_t *d)
{
    size_t  n;

    n = strlen(d->digest);

    fuzz_check(hb_digest_parse((const unsigned char *) d->digest, n)
               != HB_DIGEST_NONE, "a descriptor has a valid digest");
    fuzz_check(d->media_type != NULL
               && hb_media_type_valid((const unsigned char *) d->media_type,
                                      strlen(d->media_type)),
               "a descriptor has a valid mediaType");
    fuzz_check(d->artifact_type == NULL
               || hb_media_type_valid(
                      (const unsigned char *) d->artifact_type,
                      strlen(d->artifact_type)),
               "a descriptor's artifactType is valid");
    fuzz_check(d->size >= 0, "a descriptor's size is not negative");
}


static void
check_manifest(const hb_manifest_t *m, const char *body, size_t len,
    size_t ct_len)
{
    size_t  i;
    int     image;

    image = m->type == HB_MT_DOCKER_V2 || m->type == HB_MT_OCI_MANIFEST;

    fuzz_check(m->type != HB_MT_UNKNOWN, "a parsed manifest has a kind");
    fuzz_check(m->media_type != NULL
               && hb_manifest_type((const unsigned char *) m->media_type,
                                   strlen(m->media_type)) == m->type,
               "media_type names the kind");

    if (image) {
        check_descriptor(&m->config);
        fuzz_check(m->nmanifests == 0, "an image has no children");

    } else {
        fuzz_check(m->config.digest[0] == '\0' && m->nblobs == 0,
                   "an index has no config and no layers");
    }

    for (i = 0; i < m->nblobs; i++) {
        check_descriptor(&m->blobs[i]);
    }

    for (i = 0; i < m->nmanifests; i++) {
        check_descriptor(&m->manifests[i]);
    }

    if (m->subject.digest[0] != '\0') {
        check_descriptor(&m->subject);
        fuzz_check(m->type == HB_MT_OCI_MANIFEST
                   || m->type == HB_MT_OCI_INDEX,
                   "only OCI documents have a subject");
    }

    /* without a Content-Type the body alone decides, as when stored */
    if (ct_len == 0) {
        fuzz_check(hb_manifest_sniff(body, len) == m->type,
                   "the sniffer sees the kind the parser accepted");
    }
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    hb_manifest_t   m;
    const char     *ct;
    char           *body, *ctbuf, err[256];
    size_t          ct_len, len, i, pick;
    int             rc;

    if (size == 0) {
        return 0;
    }

    pick = data[0] % NTYPES;
    ct = types[pick];
    ct_len = ct != NULL ? strlen(ct) : 0;
    data++;
    size--;

    ctbuf = NULL;

    if (pick == NTYPES - 1) {
        /* a Content-Type of the client's: the first line of the input */
        for (ct_len = 0; ct_len < size && data[ct_len] != '\n'; ct_len++) {
            /* void */
        }

        ctbuf = malloc(ct_len ? ct_len : 1);
        if (ctbuf == NULL) {
            abort();
        }
        memcpy(ctbuf, data, ct_len);
        ct = ctbuf;

        len = ct_len < size ? ct_len + 1 : size;
        data += len;
        size -= len;
    }

    len = size;
    body = malloc(len ? len : 1);
    if (body == NULL) {
        abort();
    }
    memcpy(body, data, len);

    /* the sniffer takes anything, alone */
    (void) hb_manifest_sniff(body, len);

    rc = hb_manifest_parse(body, len, ct, ct_len, &m, err, sizeof(err));

    if (rc == 0) {
        check_manifest(&m, body, len, ct_len);

    } else {
        fuzz_check(err[0] != '\0', "a refusal says why");

        for (i = 0; err[i] != '\0'; i++) {
            fuzz_check(err[i] >= 0x20 && err[i] <= 0x7e,
                       "a refusal is printable ASCII");
        }
    }

    hb_manifest_free(&m);
    free(body);
    free(ctbuf);

    return 0;
}
