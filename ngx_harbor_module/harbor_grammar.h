/*
 * ngx-harbor: the grammar of the registry, shared by the nginx module and
 * authd.  Plain C (no nginx types): every function takes a pointer and a
 * length, checks the length first, and never reads past it.
 */

#ifndef HARBOR_GRAMMAR_H
#define HARBOR_GRAMMAR_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>


#define HB_NAME_MAX          255    /* repository name, whole */
#define HB_TAG_MAX           128
#define HB_MANIFEST_MAX      (4 * 1024 * 1024)
#define HB_UUID_LEN          36

/* digest algorithms */
#define HB_DIGEST_NONE       0
#define HB_DIGEST_SHA256     1
#define HB_DIGEST_SHA512     2

#define HB_SHA256_HEX        64
#define HB_SHA512_HEX        128
#define HB_DIGEST_MAX        (sizeof("sha512:") - 1 + HB_SHA512_HEX)

/* manifest media types */
#define HB_MT_UNKNOWN        0
#define HB_MT_DOCKER_V2      1      /* docker schema2 manifest */
#define HB_MT_DOCKER_LIST    2      /* docker manifest list */
#define HB_MT_OCI_MANIFEST   3
#define HB_MT_OCI_INDEX      4

#define HB_MT_DOCKER_V2_S    \
    "application/vnd.docker.distribution.manifest.v2+json"
#define HB_MT_DOCKER_LIST_S  \
    "application/vnd.docker.distribution.manifest.list.v2+json"
#define HB_MT_OCI_MANIFEST_S "application/vnd.oci.image.manifest.v1+json"
#define HB_MT_OCI_INDEX_S    "application/vnd.oci.image.index.v1+json"
#define HB_MT_OCI_EMPTY_S    "application/vnd.oci.empty.v1+json"


/*
 * Repository name per the distribution spec:
 *   [a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*(/[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*)*
 * at most HB_NAME_MAX bytes.  Returns 1 if valid.
 */
int hb_name_valid(const unsigned char *p, size_t len);

/* Tag: [a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}.  Returns 1 if valid. */
int hb_tag_valid(const unsigned char *p, size_t len);

/*
 * Digest "sha256:<64 lowercase hex>" or "sha512:<128 lowercase hex>".
 * Returns HB_DIGEST_SHA256, HB_DIGEST_SHA512, or HB_DIGEST_NONE if invalid.
 */
int hb_digest_parse(const unsigned char *p, size_t len);

/* Upload id: a lowercase RFC 4122 text UUID (36 bytes). Returns 1 if valid. */
int hb_uuid_valid(const unsigned char *p, size_t len);

/*
 * Content-Range of a chunk: "<start>-<end>", decimal, start <= end, no
 * overflow of off_t, its length end - start + 1 included.  Returns 0 and
 * sets *start, *end, or -1.
 */
int hb_content_range_parse(const unsigned char *p, size_t len,
    off_t *start, off_t *end);

/*
 * Decimal count for "n" query arguments: 0..max digits only.
 * Returns the value, or -1 if not a number or greater than max.
 */
long hb_count_parse(const unsigned char *p, size_t len, long max);

/*
 * A media type per RFC 6838 (type "/" subtype, restricted-name chars,
 * optional parameters are NOT accepted here: strip them first).
 * Returns 1 if valid.
 */
int hb_media_type_valid(const unsigned char *p, size_t len);

/* Media type string to HB_MT_*; len excludes any ";params". */
int hb_manifest_type(const unsigned char *p, size_t len);

/* Length of a media type before any ";" parameter and trailing spaces. */
size_t hb_media_type_len(const unsigned char *p, size_t len);


/* A descriptor a manifest points to. */
typedef struct {
    char        digest[HB_DIGEST_MAX + 1];
    char       *media_type;        /* owned */
    char       *artifact_type;     /* owned, may be NULL */
    int64_t     size;
    int         has_urls;          /* foreign layer: not required locally */
    char       *platform_os;       /* index entries; owned, may be NULL */
    char       *platform_arch;     /* owned, may be NULL */
} hb_descriptor_t;

typedef struct {
    int               type;            /* HB_MT_* */
    const char       *media_type;      /* static string of type */
    char             *artifact_type;   /* owned; may be NULL */
    hb_descriptor_t   config;          /* digest[0] == 0 if none */
    hb_descriptor_t  *blobs;           /* layers (manifest) */
    size_t            nblobs;
    hb_descriptor_t  *manifests;       /* children (index) */
    size_t            nmanifests;
    hb_descriptor_t   subject;         /* digest[0] == 0 if none */
    char             *annotations;     /* owned compact JSON object or NULL */
} hb_manifest_t;

/*
 * Parse a manifest body.  content_type is the request's Content-Type
 * (without parameters; may be NULL or empty), which must agree with any
 * "mediaType" in the document.  A document that claims one kind and
 * carries the other's fields is refused.  Returns 0, or -1 with a message
 * for the client in err.  Free with hb_manifest_free() in both cases.
 */
int hb_manifest_parse(const char *body, size_t len, const char *content_type,
    size_t ct_len, hb_manifest_t *m, char *err, size_t errlen);
void hb_manifest_free(hb_manifest_t *m);

/*
 * The kind of a stored manifest (HB_MT_*) from its mediaType, or from its
 * fields when it has none; HB_MT_UNKNOWN for anything else (schema1).
 */
int hb_manifest_sniff(const char *body, size_t len);

/* The media type string of HB_MT_* (NULL for HB_MT_UNKNOWN). */
const char *hb_manifest_type_name(int type);

/* Hex of a binary digest into out (2 * n bytes, not terminated). */
void hb_hex(unsigned char *out, const unsigned char *in, size_t n);

#endif /* HARBOR_GRAMMAR_H */
