/*
 * ngx-harbor: the grammar of the registry, shared by the nginx module and
 * authd.  See harbor_grammar.h.
 */

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "harbor_grammar.h"


#define hb_alnum_lower(c)                                                    \
    (((c) >= 'a' && (c) <= 'z') || ((c) >= '0' && (c) <= '9'))
#define hb_hex_lower(c)                                                      \
    (((c) >= 'a' && (c) <= 'f') || ((c) >= '0' && (c) <= '9'))


/*
 * One path component: [a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*
 * Returns the number of bytes consumed, 0 if invalid.
 */
static size_t
hb_name_component(const unsigned char *p, const unsigned char *end)
{
    const unsigned char  *s;

    s = p;

    for ( ;; ) {
        if (p == end || !hb_alnum_lower(*p)) {
            return 0;
        }

        while (p < end && hb_alnum_lower(*p)) {
            p++;
        }

        if (p == end || *p == '/') {
            return p - s;
        }

        /* a separator: ".", "_", "__" or "-+" */

        if (*p == '.') {
            p++;

        } else if (*p == '_') {
            p++;
            if (p < end && *p == '_') {
                p++;
            }

        } else if (*p == '-') {
            while (p < end && *p == '-') {
                p++;
            }

        } else {
            return 0;
        }
    }
}


int
hb_name_valid(const unsigned char *p, size_t len)
{
    size_t                n;
    const unsigned char  *end;

    if (len == 0 || len > HB_NAME_MAX) {
        return 0;
    }

    end = p + len;

    for ( ;; ) {
        n = hb_name_component(p, end);
        if (n == 0) {
            return 0;
        }

        p += n;

        if (p == end) {
            return 1;
        }

        /* *p == '/' */
        p++;
    }
}


int
hb_tag_valid(const unsigned char *p, size_t len)
{
    size_t  i;

    if (len == 0 || len > HB_TAG_MAX) {
        return 0;
    }

    for (i = 0; i < len; i++) {
        unsigned char c = p[i];

        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
            || (c >= '0' && c <= '9') || c == '_')
        {
            continue;
        }

        if (i > 0 && (c == '.' || c == '-')) {
            continue;
        }

        return 0;
    }

    return 1;
}


static int
hb_hex_run(const unsigned char *p, size_t n)
{
    size_t  i;

    for (i = 0; i < n; i++) {
        if (!hb_hex_lower(p[i])) {
            return 0;
        }
    }

    return 1;
}


int
hb_digest_parse(const unsigned char *p, size_t len)
{
    if (len == 7 + HB_SHA256_HEX && memcmp(p, "sha256:", 7) == 0
        && hb_hex_run(p + 7, HB_SHA256_HEX))
    {
        return HB_DIGEST_SHA256;
    }

    if (len == 7 + HB_SHA512_HEX && memcmp(p, "sha512:", 7) == 0
        && hb_hex_run(p + 7, HB_SHA512_HEX))
    {
        return HB_DIGEST_SHA512;
    }

    return HB_DIGEST_NONE;
}


int
hb_uuid_valid(const unsigned char *p, size_t len)
{
    size_t  i;

    if (len != HB_UUID_LEN) {
        return 0;
    }

    for (i = 0; i < len; i++) {
        if (i == 8 || i == 13 || i == 18 || i == 23) {
            if (p[i] != '-') {
                return 0;
            }

        } else if (!hb_hex_lower(p[i])) {
            return 0;
        }
    }

    return 1;
}


/* Non-negative decimal off_t; returns bytes consumed, 0 on error. */
static size_t
hb_off_parse(const unsigned char *p, const unsigned char *end, off_t *out)
{
    off_t                 v;
    const unsigned char  *s;

    v = 0;
    s = p;

    /* off_t is 64-bit on every platform nginx builds on here */

    while (p < end && *p >= '0' && *p <= '9') {
        if (v > (LLONG_MAX - (*p - '0')) / 10) {
            return 0;
        }

        v = v * 10 + (*p - '0');
        p++;
    }

    /* leading zeros are digits like any other: the bound is the value */

    if (p == s) {
        return 0;
    }

    *out = v;
    return p - s;
}


int
hb_content_range_parse(const unsigned char *p, size_t len, off_t *start,
    off_t *end)
{
    size_t                n;
    const unsigned char  *last;

    last = p + len;

    n = hb_off_parse(p, last, start);
    if (n == 0) {
        return -1;
    }

    p += n;

    if (p == last || *p != '-') {
        return -1;
    }

    p++;

    n = hb_off_parse(p, last, end);
    if (n == 0 || p + n != last) {
        return -1;
    }

    /*
     * The caller adds 1 to end (the length, the offset that follows): it
     * must fit in an off_t as well.
     */

    if (*start > *end || *end == LLONG_MAX) {
        return -1;
    }

    return 0;
}


long
hb_count_parse(const unsigned char *p, size_t len, long max)
{
    long    v;
    size_t  i;

    if (len == 0 || max < 0) {
        return -1;
    }

    v = 0;

    for (i = 0; i < len; i++) {
        if (p[i] < '0' || p[i] > '9') {
            return -1;
        }

        if (v > (max - (p[i] - '0')) / 10) {
            return -1;
        }

        v = v * 10 + (p[i] - '0');
    }

    return v > max ? -1 : v;
}


/* RFC 6838 restricted-name-chars after the first. */
static int
hb_rn_char(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
           || (c >= '0' && c <= '9') || c == '!' || c == '#' || c == '$'
           || c == '&' || c == '-' || c == '^' || c == '_' || c == '.'
           || c == '+';
}


static size_t
hb_restricted_name(const unsigned char *p, const unsigned char *end)
{
    const unsigned char  *s;

    s = p;

    if (p == end
        || !((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z')
             || (*p >= '0' && *p <= '9')))
    {
        return 0;
    }

    p++;

    while (p < end && hb_rn_char(*p)) {
        p++;
    }

    if (p - s > 127) {
        return 0;
    }

    return p - s;
}


int
hb_media_type_valid(const unsigned char *p, size_t len)
{
    size_t                n;
    const unsigned char  *end;

    end = p + len;

    n = hb_restricted_name(p, end);
    if (n == 0) {
        return 0;
    }

    p += n;

    if (p == end || *p != '/') {
        return 0;
    }

    p++;

    n = hb_restricted_name(p, end);

    return n != 0 && p + n == end;
}


size_t
hb_media_type_len(const unsigned char *p, size_t len)
{
    size_t  n;

    for (n = 0; n < len && p[n] != ';'; n++) { /* void */ }

    while (n > 0 && (p[n - 1] == ' ' || p[n - 1] == '\t')) {
        n--;
    }

    return n;
}


static const struct {
    const char  *s;
    size_t       len;
    int          type;
} hb_manifest_types[] = {
    { HB_MT_DOCKER_V2_S, sizeof(HB_MT_DOCKER_V2_S) - 1, HB_MT_DOCKER_V2 },
    { HB_MT_DOCKER_LIST_S, sizeof(HB_MT_DOCKER_LIST_S) - 1,
      HB_MT_DOCKER_LIST },
    { HB_MT_OCI_MANIFEST_S, sizeof(HB_MT_OCI_MANIFEST_S) - 1,
      HB_MT_OCI_MANIFEST },
    { HB_MT_OCI_INDEX_S, sizeof(HB_MT_OCI_INDEX_S) - 1, HB_MT_OCI_INDEX },
};


int
hb_manifest_type(const unsigned char *p, size_t len)
{
    size_t  i;

    for (i = 0; i < sizeof(hb_manifest_types) / sizeof(hb_manifest_types[0]);
         i++)
    {
        if (len == hb_manifest_types[i].len
            && memcmp(p, hb_manifest_types[i].s, len) == 0)
        {
            return hb_manifest_types[i].type;
        }
    }

    return HB_MT_UNKNOWN;
}


static const char *
hb_manifest_type_string(int type)
{
    size_t  i;

    for (i = 0; i < sizeof(hb_manifest_types) / sizeof(hb_manifest_types[0]);
         i++)
    {
        if (hb_manifest_types[i].type == type) {
            return hb_manifest_types[i].s;
        }
    }

    return NULL;
}


static char *
hb_strdup_json(json_t *v)
{
    const char  *s;

    s = json_string_value(v);

    return s ? strdup(s) : NULL;
}


static void
hb_descriptor_free(hb_descriptor_t *d)
{
    free(d->media_type);
    free(d->artifact_type);
    free(d->platform_os);
    free(d->platform_arch);
    memset(d, 0, sizeof(hb_descriptor_t));
}


/* image-spec: annotations, where present, map strings to strings */
static int
hb_annotations_valid(json_t *v, const char *what, char *err, size_t errlen)
{
    const char  *key;
    json_t      *val;

    if (v == NULL) {
        return 0;
    }

    if (!json_is_object(v)) {
        snprintf(err, errlen, "%s annotations is not an object", what);
        return -1;
    }

    json_object_foreach(v, key, val) {
        if (!json_is_string(val)) {
            snprintf(err, errlen, "%s annotation values must be strings",
                     what);
            return -1;
        }
    }

    return 0;
}


/* A descriptor: {mediaType, digest, size, ...}.  Returns 0 or -1. */
static int
hb_descriptor_parse(json_t *o, hb_descriptor_t *d, const char *what,
    char *err, size_t errlen)
{
    json_t       *mt, *dg, *sz, *at, *pl;
    const char   *s;

    if (!json_is_object(o)) {
        snprintf(err, errlen, "%s is not an object", what);
        return -1;
    }

    mt = json_object_get(o, "mediaType");
    dg = json_object_get(o, "digest");
    sz = json_object_get(o, "size");

    if (!json_is_string(mt)
        || !hb_media_type_valid((const unsigned char *) json_string_value(mt),
                                json_string_length(mt)))
    {
        snprintf(err, errlen, "%s has no valid mediaType", what);
        return -1;
    }

    if (!json_is_string(dg)
        || hb_digest_parse((const unsigned char *) json_string_value(dg),
                           json_string_length(dg)) == HB_DIGEST_NONE)
    {
        snprintf(err, errlen, "%s has no valid digest", what);
        return -1;
    }

    if (!json_is_integer(sz) || json_integer_value(sz) < 0) {
        snprintf(err, errlen, "%s has no valid size", what);
        return -1;
    }

    s = json_string_value(dg);
    memcpy(d->digest, s, json_string_length(dg) + 1);
    d->size = json_integer_value(sz);
    d->media_type = strdup(json_string_value(mt));

    at = json_object_get(o, "artifactType");
    if (at != NULL) {
        if (!json_is_string(at)
            || !hb_media_type_valid(
                   (const unsigned char *) json_string_value(at),
                   json_string_length(at)))
        {
            snprintf(err, errlen, "%s has an invalid artifactType", what);
            return -1;
        }

        d->artifact_type = strdup(json_string_value(at));
    }

    if (hb_annotations_valid(json_object_get(o, "annotations"), what, err,
                             errlen) != 0)
    {
        return -1;
    }

    d->has_urls = json_is_array(json_object_get(o, "urls"))
                  && json_array_size(json_object_get(o, "urls")) > 0;

    pl = json_object_get(o, "platform");
    if (json_is_object(pl)) {
        d->platform_os = hb_strdup_json(json_object_get(pl, "os"));
        d->platform_arch = hb_strdup_json(json_object_get(pl,
                                                          "architecture"));
    }

    if (d->media_type == NULL) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }

    return 0;
}


static int
hb_descriptor_array(json_t *a, hb_descriptor_t **out, size_t *n,
    const char *what, char *err, size_t errlen)
{
    size_t  i;
    char    name[64];

    if (!json_is_array(a)) {
        snprintf(err, errlen, "%s is not an array", what);
        return -1;
    }

    *n = 0;

    if (json_array_size(a) == 0) {
        return 0;
    }

    *out = calloc(json_array_size(a), sizeof(hb_descriptor_t));
    if (*out == NULL) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }

    for (i = 0; i < json_array_size(a); i++) {
        (*n)++;
        snprintf(name, sizeof(name), "%s[%zu]", what, i);

        if (hb_descriptor_parse(json_array_get(a, i), &(*out)[i], name,
                                err, errlen) != 0)
        {
            return -1;
        }
    }

    return 0;
}


int
hb_manifest_parse(const char *body, size_t len, const char *content_type,
    size_t ct_len, hb_manifest_t *m, char *err, size_t errlen)
{
    int            type, ct;
    size_t         i;
    json_t        *root, *v, *mt;
    json_error_t   jerr;

    memset(m, 0, sizeof(hb_manifest_t));
    root = NULL;

    if (errlen > 0) {
        err[0] = '\0';
    }

    if (len > HB_MANIFEST_MAX) {
        snprintf(err, errlen, "manifest is larger than 4 MiB");
        goto fail;
    }

    /* no raw NUL is valid JSON, and jansson 2.14 skips one after a number */

    if (memchr(body, '\0', len) != NULL) {
        snprintf(err, errlen, "manifest is not valid JSON: a NUL byte");
        goto fail;
    }

    root = json_loadb(body, len, JSON_REJECT_DUPLICATES, &jerr);
    if (root == NULL) {
        snprintf(err, errlen, "manifest is not valid JSON: %s at byte %d",
                 jerr.text, jerr.position);
        goto fail;
    }

    if (!json_is_object(root)) {
        snprintf(err, errlen, "manifest is not a JSON object");
        goto fail;
    }

    v = json_object_get(root, "schemaVersion");
    if (!json_is_integer(v) || json_integer_value(v) != 2) {
        snprintf(err, errlen, "manifest schemaVersion must be 2");
        goto fail;
    }

    ct = HB_MT_UNKNOWN;
    if (content_type != NULL && ct_len > 0) {
        ct = hb_manifest_type((const unsigned char *) content_type, ct_len);
        if (ct == HB_MT_UNKNOWN) {
            snprintf(err, errlen, "unsupported manifest media type \"%.*s\"",
                     (int) (ct_len > 128 ? 128 : ct_len), content_type);
            goto fail;
        }
    }

    type = HB_MT_UNKNOWN;
    mt = json_object_get(root, "mediaType");

    if (mt != NULL) {
        if (!json_is_string(mt)) {
            snprintf(err, errlen, "manifest mediaType is not a string");
            goto fail;
        }

        type = hb_manifest_type((const unsigned char *) json_string_value(mt),
                                json_string_length(mt));
        if (type == HB_MT_UNKNOWN) {
            snprintf(err, errlen, "unsupported manifest mediaType");
            goto fail;
        }

        if (ct != HB_MT_UNKNOWN && ct != type) {
            snprintf(err, errlen,
                     "Content-Type does not match the manifest mediaType");
            goto fail;
        }
    }

    if (type == HB_MT_UNKNOWN) {
        type = ct;
    }

    if (type == HB_MT_UNKNOWN) {
        /* an OCI document may omit mediaType; decide by its fields */
        type = json_object_get(root, "manifests") ? HB_MT_OCI_INDEX
                                                  : HB_MT_OCI_MANIFEST;
    }

    m->type = type;
    m->media_type = hb_manifest_type_string(type);

    if (type == HB_MT_DOCKER_V2 || type == HB_MT_OCI_MANIFEST) {

        if (json_object_get(root, "manifests") != NULL) {
            snprintf(err, errlen, "an image manifest must not carry "
                     "\"manifests\"");
            goto fail;
        }

        if (hb_descriptor_parse(json_object_get(root, "config"), &m->config,
                                "config", err, errlen) != 0)
        {
            goto fail;
        }

        if (hb_descriptor_array(json_object_get(root, "layers"), &m->blobs,
                                &m->nblobs, "layers", err, errlen) != 0)
        {
            goto fail;
        }

    } else {

        if (json_object_get(root, "layers") != NULL
            || json_object_get(root, "config") != NULL)
        {
            snprintf(err, errlen, "an index must not carry \"layers\" or "
                     "\"config\"");
            goto fail;
        }

        if (hb_descriptor_array(json_object_get(root, "manifests"),
                                &m->manifests, &m->nmanifests, "manifests",
                                err, errlen) != 0)
        {
            goto fail;
        }
    }

    v = json_object_get(root, "subject");
    if (v != NULL) {
        if (type == HB_MT_DOCKER_V2 || type == HB_MT_DOCKER_LIST) {
            snprintf(err, errlen, "docker manifests have no \"subject\"");
            goto fail;
        }

        if (hb_descriptor_parse(v, &m->subject, "subject", err, errlen) != 0)
        {
            goto fail;
        }
    }

    v = json_object_get(root, "artifactType");
    if (v != NULL) {
        if (!json_is_string(v)
            || !hb_media_type_valid(
                   (const unsigned char *) json_string_value(v),
                   json_string_length(v)))
        {
            snprintf(err, errlen, "invalid artifactType");
            goto fail;
        }

        m->artifact_type = strdup(json_string_value(v));

    } else if (type == HB_MT_OCI_MANIFEST && m->config.media_type) {
        /* the image-spec's rule: else the config's mediaType */
        m->artifact_type = strdup(m->config.media_type);
    }

    v = json_object_get(root, "annotations");
    if (v != NULL) {
        if (hb_annotations_valid(v, "manifest", err, errlen) != 0) {
            goto fail;
        }

        m->annotations = json_dumps(v, JSON_COMPACT | JSON_SORT_KEYS);
    }

    json_decref(root);
    return 0;

fail:

    if (root) {
        json_decref(root);
    }

    if (errlen > 0 && err[0] == '\0') {
        snprintf(err, errlen, "invalid manifest");
    }

    /* the message goes back to the client: printable ASCII only */

    for (i = 0; i < errlen && err[i]; i++) {
        if ((unsigned char) err[i] < 0x20 || (unsigned char) err[i] > 0x7e) {
            err[i] = '?';
        }
    }

    return -1;
}


void
hb_manifest_free(hb_manifest_t *m)
{
    size_t  i;

    for (i = 0; i < m->nblobs; i++) {
        hb_descriptor_free(&m->blobs[i]);
    }

    for (i = 0; i < m->nmanifests; i++) {
        hb_descriptor_free(&m->manifests[i]);
    }

    free(m->blobs);
    free(m->manifests);
    hb_descriptor_free(&m->config);
    hb_descriptor_free(&m->subject);
    free(m->artifact_type);
    free(m->annotations);

    memset(m, 0, sizeof(hb_manifest_t));
}


int
hb_manifest_sniff(const char *body, size_t len)
{
    int      type;
    json_t  *root, *mt, *v;

    if (memchr(body, '\0', len) != NULL) {
        return HB_MT_UNKNOWN;
    }

    root = json_loadb(body, len, 0, NULL);
    if (root == NULL) {
        return HB_MT_UNKNOWN;
    }

    type = HB_MT_UNKNOWN;

    v = json_object_get(root, "schemaVersion");
    mt = json_object_get(root, "mediaType");

    if (json_is_integer(v) && json_integer_value(v) == 2) {
        if (json_is_string(mt)) {
            type = hb_manifest_type(
                       (const unsigned char *) json_string_value(mt),
                       json_string_length(mt));

        } else if (mt == NULL) {
            type = json_object_get(root, "manifests") ? HB_MT_OCI_INDEX
                                                      : HB_MT_OCI_MANIFEST;
        }
    }

    json_decref(root);

    return type;
}


const char *
hb_manifest_type_name(int type)
{
    return hb_manifest_type_string(type);
}


void
hb_hex(unsigned char *out, const unsigned char *in, size_t n)
{
    static const char  hex[] = "0123456789abcdef";

    while (n--) {
        *out++ = hex[*in >> 4];
        *out++ = hex[*in++ & 0xf];
    }
}
