/*
 * ngx-harbor: unit tests of hb_manifest_parse() and hb_manifest_free():
 * the four manifest kinds, Content-Type against mediaType, documents that
 * claim one kind and carry the other's fields, and hostile bodies.
 *
 * Each body and Content-Type is handed over in a heap block of exactly its
 * length, freed before the result is looked at, so a sanitizer or valgrind
 * sees a read past the length or a pointer kept into the body.
 */

#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "harbor_grammar.h"
#include "tap.h"


#define D_A  "sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
#define D_B  "sha256:bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
#define D_C  "sha256:cccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc"
#define D_D  "sha256:dddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddd"
#define D_E  "sha256:eeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee"
#define D_F  "sha256:ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff"
#define D_1  "sha256:1111111111111111111111111111111111111111111111111111111111111111"
#define D512 "sha512:" \
    "9999999999999999999999999999999999999999999999999999999999999999" \
    "8888888888888888888888888888888888888888888888888888888888888888"
#define D_EMPTY \
    "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"

#define MT_DOCKER_CFG    "application/vnd.docker.container.image.v1+json"
#define MT_DOCKER_LAYER  "application/vnd.docker.image.rootfs.diff.tar.gzip"
#define MT_DOCKER_FOREIGN \
    "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip"
#define MT_OCI_CFG       "application/vnd.oci.image.config.v1+json"
#define MT_OCI_LAYER     "application/vnd.oci.image.layer.v1.tar+gzip"
#define MT_SBOM          "application/vnd.example.sbom.v1"


/* A docker schema2 image manifest, as docker pushes it. */
static const char  docker_v2[] =
    "{\n"
    "   \"schemaVersion\": 2,\n"
    "   \"mediaType\": \"" HB_MT_DOCKER_V2_S "\",\n"
    "   \"config\": {\n"
    "      \"mediaType\": \"" MT_DOCKER_CFG "\",\n"
    "      \"size\": 7023,\n"
    "      \"digest\": \"" D_A "\"\n"
    "   },\n"
    "   \"layers\": [\n"
    "      {\n"
    "         \"mediaType\": \"" MT_DOCKER_LAYER "\",\n"
    "         \"size\": 32654,\n"
    "         \"digest\": \"" D_B "\"\n"
    "      },\n"
    "      {\n"
    "         \"mediaType\": \"" MT_DOCKER_LAYER "\",\n"
    "         \"size\": 16724,\n"
    "         \"digest\": \"" D_C "\"\n"
    "      },\n"
    "      {\n"
    "         \"mediaType\": \"" MT_DOCKER_FOREIGN "\",\n"
    "         \"size\": 73109,\n"
    "         \"digest\": \"" D_D "\",\n"
    "         \"urls\": [\"https://example.com/layer.tar.gz\"]\n"
    "      }\n"
    "   ]\n"
    "}";

/* An OCI artifact manifest: artifactType, subject, annotations. */
static const char  oci_artifact[] =
    "{"
    "\"schemaVersion\":2,"
    "\"mediaType\":\"" HB_MT_OCI_MANIFEST_S "\","
    "\"artifactType\":\"" MT_SBOM "\","
    "\"config\":{\"mediaType\":\"" HB_MT_OCI_EMPTY_S "\","
        "\"digest\":\"" D_EMPTY "\",\"size\":2,\"data\":\"e30=\"},"
    "\"layers\":[{\"mediaType\":\"application/spdx+json\","
        "\"digest\":\"" D512 "\",\"size\":1234,"
        "\"annotations\":{\"org.opencontainers.image.title\":\"sbom.json\"}}],"
    "\"subject\":{\"mediaType\":\"" HB_MT_OCI_MANIFEST_S "\","
        "\"digest\":\"" D_E "\",\"size\":1024},"
    "\"annotations\":{\"org.opencontainers.image.created\":"
        "\"2024-01-01T00:00:00Z\",\"com.example.key\":\"v \\\"q\\\" \\u00e9\"}"
    "}";

/* A plain OCI image manifest, no mediaType (it is optional in OCI). */
static const char  oci_image[] =
    "{"
    "\"schemaVersion\":2,"
    "\"config\":{\"mediaType\":\"" MT_OCI_CFG "\","
        "\"digest\":\"" D_A "\",\"size\":1470},"
    "\"layers\":["
        "{\"mediaType\":\"" MT_OCI_LAYER "\",\"digest\":\"" D_B "\","
            "\"size\":3370706},"
        "{\"mediaType\":\"" MT_OCI_LAYER "\",\"digest\":\"" D_C "\","
            "\"size\":0}"
    "]}";

/* An OCI image index with platforms. */
static const char  oci_index[] =
    "{"
    "\"schemaVersion\":2,"
    "\"mediaType\":\"" HB_MT_OCI_INDEX_S "\","
    "\"manifests\":["
        "{\"mediaType\":\"" HB_MT_OCI_MANIFEST_S "\",\"digest\":\"" D_A "\","
            "\"size\":7143,\"platform\":{\"architecture\":\"ppc64le\","
            "\"os\":\"linux\"}},"
        "{\"mediaType\":\"" HB_MT_OCI_MANIFEST_S "\",\"digest\":\"" D_B "\","
            "\"size\":7682,\"platform\":{\"architecture\":\"amd64\","
            "\"os\":\"linux\",\"os.features\":[\"sse4\"]}},"
        "{\"mediaType\":\"" HB_MT_OCI_MANIFEST_S "\",\"digest\":\"" D_C "\","
            "\"size\":500,\"artifactType\":\"" MT_SBOM "\"}"
    "],"
    "\"annotations\":{\"com.example.key1\":\"value1\"}"
    "}";

/* A docker manifest list. */
static const char  docker_list[] =
    "{\n"
    "  \"schemaVersion\": 2,\n"
    "  \"mediaType\": \"" HB_MT_DOCKER_LIST_S "\",\n"
    "  \"manifests\": [\n"
    "    {\n"
    "      \"mediaType\": \"" HB_MT_DOCKER_V2_S "\",\n"
    "      \"digest\": \"" D_D "\",\n"
    "      \"size\": 7143,\n"
    "      \"platform\": {\"architecture\": \"arm\", \"os\": \"linux\",\n"
    "                   \"variant\": \"v7\"}\n"
    "    },\n"
    "    {\n"
    "      \"mediaType\": \"" HB_MT_DOCKER_V2_S "\",\n"
    "      \"digest\": \"" D_E "\",\n"
    "      \"size\": 7682,\n"
    "      \"platform\": {\"architecture\": \"amd64\", \"os\": \"windows\",\n"
    "                   \"os.version\": \"10.0.17763.1040\"}\n"
    "    }\n"
    "  ]\n"
    "}";


/* ---- helpers ---------------------------------------------------------- */

#define ERRLEN  256

static char  err[ERRLEN];


/*
 * Parse body[0..len) with Content-Type ct (NULL: none), from exact heap
 * copies freed before return.  m is filled with garbage first: the parser
 * must set it up itself.
 */
static int
parse_n(const char *body, size_t len, const char *ct, hb_manifest_t *m)
{
    int             rc;
    unsigned char  *b, *c;

    b = tap_exact(body, len);
    c = ct ? tap_exact(ct, strlen(ct)) : NULL;

    memset(m, 0xa5, sizeof(*m));
    memset(err, 'X', sizeof(err));

    rc = hb_manifest_parse((const char *) b, len, (const char *) c,
                           ct ? strlen(ct) : 0, m, err, sizeof(err));

    free(b);
    free(c);

    return rc;
}

static int
parse(const char *body, const char *ct, hb_manifest_t *m)
{
    return parse_n(body, strlen(body), ct, m);
}


static int
err_ok(void)
{
    return memchr(err, '\0', sizeof(err)) != NULL && err[0] != '\0';
}


/* Expect a refusal with a message; free in any case. */
static void
refuse_n(const char *body, size_t len, const char *ct, const char *what)
{
    int            rc;
    hb_manifest_t  m;

    rc = parse_n(body, len, ct, &m);

    if (is_int(rc, -1, "refused: %s", what)) {
        if (ok(err_ok(), "refused: %s: a message", what)) {
            note("    err: %s", err);
        }
    }

    hb_manifest_free(&m);
}

static void
refuse(const char *body, const char *ct, const char *what)
{
    refuse_n(body, strlen(body), ct, what);
}

/* The same, for a body from edit(): frees it. */
static void
refuse_owned(char *body, const char *ct, const char *what)
{
    refuse(body, ct, what);
    free(body);
}


/* Expect acceptance; the caller looks at m and frees it. */
static int
good_n(const char *body, size_t len, const char *ct, hb_manifest_t *m,
    const char *what)
{
    int  rc;

    rc = parse_n(body, len, ct, m);

    if (!is_int(rc, 0, "accepted: %s", what)) {
        diag("    err: %.*s", ERRLEN, err);
    }

    return rc == 0;
}

static int
good(const char *body, const char *ct, hb_manifest_t *m, const char *what)
{
    return good_n(body, strlen(body), ct, m, what);
}

static void
good_only(const char *body, const char *ct, const char *what)
{
    hb_manifest_t  m;

    good(body, ct, &m, what);
    hb_manifest_free(&m);
}

static void
good_owned(char *body, const char *ct, const char *what)
{
    good_only(body, ct, what);
    free(body);
}


/*
 * A copy of the JSON document base with the value at path ("a/0/b", array
 * indexes in decimal) set to the JSON text val, or removed if val is NULL.
 * Returns a compact serialisation to free().
 */
#define EDIT_RAW  "@@raw@@"

static char *
edit(const char *base, const char *path, const char *val)
{
    char          *seg, *rest, *dup, *out, *endp, *raw;
    json_t        *root, *cur, *next, *v;
    json_error_t   je;
    long           idx;

    root = json_loads(base, 0, &je);
    if (root == NULL) {
        fprintf(stderr, "edit: base is not JSON: %s\n", je.text);
        exit(255);
    }

    /* a value jansson will not hold (a huge integer): put it in as text */
    v = NULL;
    if (val) {
        v = json_loads(val, JSON_DECODE_ANY | JSON_ALLOW_NUL, &je);
        if (v == NULL) {
            v = json_string(EDIT_RAW);
        }
    }

    dup = strdup(path);
    cur = root;
    seg = dup;

    for ( ;; ) {
        rest = strchr(seg, '/');
        if (rest) {
            *rest++ = '\0';
        }

        if (json_is_array(cur)) {
            idx = strtol(seg, &endp, 10);
            if (rest == NULL) {
                if (v) {
                    json_array_set_new(cur, idx, v);
                } else {
                    json_array_remove(cur, idx);
                }
                break;
            }
            next = json_array_get(cur, idx);

        } else {
            if (rest == NULL) {
                if (v) {
                    json_object_set_new(cur, seg, v);
                } else {
                    json_object_del(cur, seg);
                }
                break;
            }
            next = json_object_get(cur, seg);
        }

        if (next == NULL) {
            fprintf(stderr, "edit: no %s in the path %s\n", seg, path);
            exit(255);
        }

        cur = next;
        seg = rest;
    }

    out = json_dumps(root, JSON_COMPACT);
    json_decref(root);
    free(dup);

    raw = strstr(out, "\"" EDIT_RAW "\"");
    if (raw) {
        char  *o2 = malloc(strlen(out) + strlen(val) + 1);

        snprintf(o2, strlen(out) + strlen(val) + 1, "%.*s%s%s",
                 (int) (raw - out), out, val,
                raw + sizeof(EDIT_RAW) + 1);
        free(out);
        out = o2;
    }

    return out;
}


/* Annotation value of a compact JSON object string, or NULL. */
static int
annotation_is(const char *json, const char *key, const char *want)
{
    int      r;
    json_t  *o;

    if (json == NULL) {
        return 0;
    }

    o = json_loads(json, 0, NULL);
    r = json_is_object(o)
        && json_is_string(json_object_get(o, key))
        && strcmp(json_string_value(json_object_get(o, key)), want) == 0;
    json_decref(o);

    return r;
}

static size_t
annotation_count(const char *json)
{
    size_t   n;
    json_t  *o;

    if (json == NULL) {
        return 0;
    }

    o = json_loads(json, 0, NULL);
    n = json_is_object(o) ? json_object_size(o) : (size_t) -1;
    json_decref(o);

    return n;
}


/* ---- well-formed documents -------------------------------------------- */

static void
test_docker_v2(void)
{
    hb_manifest_t  m;

    note("docker schema2 manifest");

    if (good(docker_v2, HB_MT_DOCKER_V2_S, &m, "docker v2")) {
        is_int(m.type, HB_MT_DOCKER_V2, "docker v2: type");
        is_str(m.media_type, HB_MT_DOCKER_V2_S, "docker v2: media_type");
        is_str(m.config.digest, D_A, "docker v2: config digest");
        is_str(m.config.media_type, MT_DOCKER_CFG, "docker v2: config type");
        is_int(m.config.size, 7023, "docker v2: config size");
        is_int(m.nblobs, 3, "docker v2: 3 layers");
        is_int(m.nmanifests, 0, "docker v2: no manifests");

        if (m.nblobs == 3) {
            is_str(m.blobs[0].digest, D_B, "docker v2: layer 0 digest");
            is_int(m.blobs[0].size, 32654, "docker v2: layer 0 size");
            is_str(m.blobs[0].media_type, MT_DOCKER_LAYER,
                   "docker v2: layer 0 media type");
            is_int(m.blobs[0].has_urls, 0, "docker v2: layer 0 is local");
            is_str(m.blobs[1].digest, D_C, "docker v2: layer 1 digest");
            is_int(m.blobs[1].size, 16724, "docker v2: layer 1 size");
            is_str(m.blobs[2].digest, D_D, "docker v2: layer 2 digest");
            ok(m.blobs[2].has_urls, "docker v2: layer 2 is foreign (urls)");
            is_str(m.blobs[2].media_type, MT_DOCKER_FOREIGN,
                   "docker v2: layer 2 media type");
        }

        is_int(m.subject.digest[0], 0, "docker v2: no subject");
        is_str(m.annotations, NULL, "docker v2: no annotations");
    }
    hb_manifest_free(&m);

    if (good(docker_v2, NULL, &m, "docker v2, no Content-Type")) {
        is_int(m.type, HB_MT_DOCKER_V2, "docker v2, no Content-Type: type");
    }
    hb_manifest_free(&m);

    if (good(docker_v2, "", &m, "docker v2, empty Content-Type")) {
        is_int(m.type, HB_MT_DOCKER_V2, "docker v2, empty Content-Type: type");
    }
    hb_manifest_free(&m);

    /* a NULL Content-Type with a length is still none */
    memset(&m, 0xa5, sizeof(m));
    is_int(hb_manifest_parse(docker_v2, sizeof(docker_v2) - 1, NULL, 40, &m,
                             err, sizeof(err)), 0,
           "docker v2, Content-Type NULL with a length: accepted");
    hb_manifest_free(&m);

    refuse(docker_v2, HB_MT_OCI_MANIFEST_S,
           "docker v2 sent as an OCI manifest");
    refuse(docker_v2, HB_MT_OCI_INDEX_S, "docker v2 sent as an OCI index");
    refuse(docker_v2, HB_MT_DOCKER_LIST_S, "docker v2 sent as a docker list");
    refuse(docker_v2, "application/json", "docker v2 sent as application/json");
    refuse(docker_v2, "application/vnd.docker.distribution.manifest.v1+json",
           "docker v2 sent as docker schema1");

    /* urls empty: not foreign */
    {
        char *b = edit(docker_v2, "layers/2/urls", "[]");

        if (good(b, NULL, &m, "docker v2, empty urls")) {
            ok(m.nblobs == 3 && !m.blobs[2].has_urls,
               "docker v2, empty urls: layer is local");
        }
        hb_manifest_free(&m);
        free(b);
    }
}


static void
test_oci_manifest(void)
{
    char           *b;
    hb_manifest_t   m;

    note("OCI manifest");

    if (good(oci_artifact, HB_MT_OCI_MANIFEST_S, &m, "OCI artifact")) {
        is_int(m.type, HB_MT_OCI_MANIFEST, "OCI artifact: type");
        is_str(m.media_type, HB_MT_OCI_MANIFEST_S, "OCI artifact: media_type");
        is_str(m.artifact_type, MT_SBOM, "OCI artifact: artifactType");
        is_str(m.config.digest, D_EMPTY, "OCI artifact: config digest");
        is_str(m.config.media_type, HB_MT_OCI_EMPTY_S,
               "OCI artifact: config media type");
        is_int(m.config.size, 2, "OCI artifact: config size");
        is_int(m.nblobs, 1, "OCI artifact: 1 layer");
        if (m.nblobs == 1) {
            is_str(m.blobs[0].digest, D512, "OCI artifact: sha512 layer digest");
            is_int(m.blobs[0].size, 1234, "OCI artifact: layer size");
            is_str(m.blobs[0].media_type, "application/spdx+json",
                   "OCI artifact: layer media type");
        }
        is_int(m.nmanifests, 0, "OCI artifact: no manifests");
        is_str(m.subject.digest, D_E, "OCI artifact: subject digest");
        is_int(m.subject.size, 1024, "OCI artifact: subject size");
        is_str(m.subject.media_type, HB_MT_OCI_MANIFEST_S,
               "OCI artifact: subject media type");
        ok(m.annotations != NULL, "OCI artifact: annotations");
        is_int(annotation_count(m.annotations), 2,
               "OCI artifact: annotations, an object of 2");
        ok(annotation_is(m.annotations, "org.opencontainers.image.created",
                         "2024-01-01T00:00:00Z"),
           "OCI artifact: annotation created");
        ok(annotation_is(m.annotations, "com.example.key",
                         "v \"q\" \xc3\xa9"),
           "OCI artifact: annotation with quotes and UTF-8 round-trips");
        ok(m.annotations && strchr(m.annotations, '\n') == NULL,
           "OCI artifact: annotations compact");
    }
    hb_manifest_free(&m);

    good_only(oci_artifact, NULL, "OCI artifact, no Content-Type");

    if (good(oci_image, HB_MT_OCI_MANIFEST_S, &m,
               "OCI image without mediaType, Content-Type OCI manifest"))
    {
        is_int(m.type, HB_MT_OCI_MANIFEST, "OCI image: type");
        is_str(m.media_type, HB_MT_OCI_MANIFEST_S, "OCI image: media_type");
        is_int(m.nblobs, 2, "OCI image: 2 layers");
        if (m.nblobs == 2) {
            is_int(m.blobs[1].size, 0, "OCI image: layer of size 0");
        }
        ok(m.artifact_type == NULL
           || strcmp(m.artifact_type, MT_OCI_CFG) == 0,
           "OCI image: no artifactType, or the config's media type");
        is_int(m.subject.digest[0], 0, "OCI image: no subject");
        is_str(m.annotations, NULL, "OCI image: no annotations");
    }
    hb_manifest_free(&m);

    if (good(oci_image, NULL, &m,
               "OCI image without mediaType or Content-Type"))
    {
        is_int(m.type, HB_MT_OCI_MANIFEST, "OCI image, nothing said: type");
    }
    hb_manifest_free(&m);

    refuse(oci_artifact, HB_MT_DOCKER_V2_S, "OCI manifest sent as docker v2");
    refuse(oci_artifact, HB_MT_OCI_INDEX_S, "OCI manifest sent as OCI index");
    refuse(oci_artifact, HB_MT_DOCKER_LIST_S,
           "OCI manifest sent as a docker list");
    refuse(oci_artifact, HB_MT_OCI_EMPTY_S, "OCI manifest sent as OCI empty");
    refuse(oci_artifact, "text/plain", "OCI manifest sent as text/plain");
    refuse(oci_image, HB_MT_OCI_INDEX_S,
           "OCI image without mediaType sent as OCI index (carries config)");

    /* empty layers: allowed by the image-spec (SHOULD have one) */
    b = edit(oci_image, "layers", "[]");
    if (good(b, NULL, &m, "OCI manifest with layers []")) {
        is_int(m.nblobs, 0, "OCI manifest with layers []: 0 layers");
    }
    hb_manifest_free(&m);
    free(b);

    /* sizes at the edge of int64 */
    b = edit(oci_image, "layers/0/size", "9223372036854775807");
    if (good(b, NULL, &m, "layer of size INT64_MAX")) {
        ok(m.nblobs > 0 && m.blobs[0].size == INT64_MAX,
           "layer of size INT64_MAX: size");
    }
    hb_manifest_free(&m);
    free(b);

    /* artifactType on an index, a subject on an index: OCI 1.1 */
    b = edit(oci_index, "subject",
             "{\"mediaType\":\"" HB_MT_OCI_MANIFEST_S "\",\"digest\":\""
             D_F "\",\"size\":10}");
    if (good(b, NULL, &m, "OCI index with a subject")) {
        is_str(m.subject.digest, D_F, "OCI index with a subject: digest");
    }
    hb_manifest_free(&m);
    free(b);

    b = edit(oci_index, "artifactType", "\"" MT_SBOM "\"");
    if (good(b, NULL, &m, "OCI index with an artifactType")) {
        is_str(m.artifact_type, MT_SBOM, "OCI index: artifactType");
    }
    hb_manifest_free(&m);
    free(b);

    /* a data field and unknown fields are allowed */
    b = edit(oci_image, "x-unknown", "{\"a\":[1,2,{\"b\":null}]}");
    good_owned(b, NULL, "OCI manifest with an unknown field");
}


static void
test_indexes(void)
{
    char           *b;
    hb_manifest_t   m;

    note("OCI index and docker manifest list");

    if (good(oci_index, HB_MT_OCI_INDEX_S, &m, "OCI index")) {
        is_int(m.type, HB_MT_OCI_INDEX, "OCI index: type");
        is_str(m.media_type, HB_MT_OCI_INDEX_S, "OCI index: media_type");
        is_int(m.nmanifests, 3, "OCI index: 3 manifests");
        is_int(m.nblobs, 0, "OCI index: no blobs");
        is_int(m.config.digest[0], 0, "OCI index: no config");
        is_int(m.subject.digest[0], 0, "OCI index: no subject");
        if (m.nmanifests == 3) {
            is_str(m.manifests[0].digest, D_A, "OCI index: [0] digest");
            is_int(m.manifests[0].size, 7143, "OCI index: [0] size");
            is_str(m.manifests[0].media_type, HB_MT_OCI_MANIFEST_S,
                   "OCI index: [0] media type");
            is_str(m.manifests[0].platform_os, "linux", "OCI index: [0] os");
            is_str(m.manifests[0].platform_arch, "ppc64le",
                   "OCI index: [0] architecture");
            is_str(m.manifests[1].digest, D_B, "OCI index: [1] digest");
            is_str(m.manifests[1].platform_arch, "amd64",
                   "OCI index: [1] architecture");
            is_str(m.manifests[2].platform_os, NULL, "OCI index: [2] no os");
            is_str(m.manifests[2].platform_arch, NULL,
                   "OCI index: [2] no architecture");
            is_str(m.manifests[2].artifact_type, MT_SBOM,
                   "OCI index: [2] artifactType");
        }
        ok(annotation_is(m.annotations, "com.example.key1", "value1"),
           "OCI index: annotations");
    }
    hb_manifest_free(&m);

    good_only(oci_index, NULL, "OCI index, no Content-Type");

    b = edit(oci_index, "mediaType", NULL);
    if (good(b, NULL, &m, "OCI index without mediaType or Content-Type")) {
        is_int(m.type, HB_MT_OCI_INDEX, "OCI index, nothing said: type");
    }
    hb_manifest_free(&m);
    if (good(b, HB_MT_OCI_INDEX_S, &m,
               "OCI index without mediaType, Content-Type OCI index"))
    {
        is_int(m.type, HB_MT_OCI_INDEX, "OCI index by Content-Type: type");
    }
    hb_manifest_free(&m);
    refuse(b, HB_MT_OCI_MANIFEST_S,
           "OCI index without mediaType sent as OCI manifest");
    free(b);

    b = edit(oci_index, "manifests", "[]");
    if (good(b, NULL, &m, "OCI index with manifests []")) {
        is_int(m.nmanifests, 0, "OCI index with manifests []: none");
    }
    hb_manifest_free(&m);
    free(b);

    if (good(docker_list, HB_MT_DOCKER_LIST_S, &m, "docker list")) {
        is_int(m.type, HB_MT_DOCKER_LIST, "docker list: type");
        is_str(m.media_type, HB_MT_DOCKER_LIST_S, "docker list: media_type");
        is_int(m.nmanifests, 2, "docker list: 2 manifests");
        is_int(m.nblobs, 0, "docker list: no blobs");
        if (m.nmanifests == 2) {
            is_str(m.manifests[0].digest, D_D, "docker list: [0] digest");
            is_str(m.manifests[0].media_type, HB_MT_DOCKER_V2_S,
                   "docker list: [0] media type");
            is_str(m.manifests[0].platform_arch, "arm",
                   "docker list: [0] architecture");
            is_str(m.manifests[1].platform_os, "windows",
                   "docker list: [1] os");
            is_int(m.manifests[1].size, 7682, "docker list: [1] size");
        }
    }
    hb_manifest_free(&m);

    good_only(docker_list, NULL, "docker list, no Content-Type");
    refuse(docker_list, HB_MT_OCI_INDEX_S, "docker list sent as OCI index");
    refuse(docker_list, HB_MT_DOCKER_V2_S, "docker list sent as docker v2");
    refuse(docker_list, HB_MT_OCI_MANIFEST_S,
           "docker list sent as OCI manifest");
    refuse(oci_index, HB_MT_DOCKER_LIST_S, "OCI index sent as a docker list");
    refuse(oci_index, HB_MT_OCI_MANIFEST_S, "OCI index sent as OCI manifest");
    refuse(oci_index, HB_MT_DOCKER_V2_S, "OCI index sent as docker v2");
}


static void
test_many_layers(void)
{
    size_t          i, n, cap;
    char           *b, *p;
    hb_manifest_t   m;

    note("many layers");

    n = 1000;
    cap = 300 + n * 200;
    b = malloc(cap);
    p = b;
    p += snprintf(p, cap - (p - b),
                  "{\"schemaVersion\":2,\"mediaType\":\"" HB_MT_OCI_MANIFEST_S
                 "\",\"config\":{\"mediaType\":\"" MT_OCI_CFG "\",\"digest\":\""
                 D_A "\",\"size\":1},\"layers\":[");
    for (i = 0; i < n; i++) {
        p += snprintf(p, cap - (p - b), "%s{\"mediaType\":\"" MT_OCI_LAYER "\","
                     "\"digest\":\"sha256:%064zx\",\"size\":%zu}",
                     i ? "," : "", i, i);
    }
    snprintf(p, cap - (p - b), "]}");

    if (good(b, NULL, &m, "OCI manifest with 1000 layers")) {
        is_int(m.nblobs, n, "1000 layers: nblobs");
        ok(m.nblobs == n && m.blobs[999].size == 999
           && strcmp(m.blobs[999].digest, "sha256:"
                     "00000000000000000000000000000000000000000000000000000000000003e7")
              == 0,
           "1000 layers: the last one");
    }
    hb_manifest_free(&m);

    /* the last of them bad: the 999 before must be freed */
    p = strstr(b, "sha256:00000000000000000000000000000000000000000000000000000000000003e7");
    p[7] = 'X';
    refuse(b, NULL, "OCI manifest with 1000 layers, the last digest bad");
    free(b);
}


static void
test_sizes(void)
{
    size_t          len, base;
    char           *b;
    hb_manifest_t   m;

    note("body size and length");

    /* exactly HB_MANIFEST_MAX bytes: a manifest and white space */
    base = strlen(oci_image);
    b = malloc(HB_MANIFEST_MAX + 2);
    memcpy(b, oci_image, base);
    memset(b + base, ' ', HB_MANIFEST_MAX + 2 - base);
    b[HB_MANIFEST_MAX - 1] = '\n';

    good_n(b, HB_MANIFEST_MAX, NULL, &m, "manifest of exactly 4 MiB");
    hb_manifest_free(&m);

    refuse_n(b, HB_MANIFEST_MAX + 1, NULL, "manifest of 4 MiB + 1");
    free(b);

    /* only len bytes count: garbage past it */
    {
        char  tail[sizeof(oci_image) + 16];

        len = sizeof(oci_image) - 1;
        memcpy(tail, oci_image, len);
        memcpy(tail + len, "}}garbage\0{[", 12);
        good_n(tail, len, NULL, &m, "manifest with garbage past its length");
        hb_manifest_free(&m);

        /* and a length short of the document */
        refuse_n(tail, len - 1, NULL, "manifest cut one byte short");
        refuse_n(tail, len / 2, NULL, "manifest cut in half");
        refuse_n(tail, 0, NULL, "manifest of length 0");
    }
}


/* ---- documents that claim one kind and carry the other's -------------- */

static void
test_confusion(void)
{
    note("one kind carrying the other's fields");

    refuse_owned(edit(oci_artifact, "manifests",
                      "[{\"mediaType\":\"" HB_MT_OCI_MANIFEST_S "\","
                      "\"digest\":\"" D_F "\",\"size\":1}]"),
                 NULL, "OCI manifest carrying manifests");
    refuse_owned(edit(oci_artifact, "manifests", "[]"),
                 NULL, "OCI manifest carrying manifests []");
    refuse_owned(edit(oci_artifact, "manifests", "[]"),
                 HB_MT_OCI_MANIFEST_S,
                 "OCI manifest carrying manifests [], Content-Type agrees");
    refuse_owned(edit(oci_image, "manifests", "[]"),
                 HB_MT_OCI_MANIFEST_S,
                 "OCI manifest without mediaType carrying manifests, "
                 "Content-Type OCI manifest");
    refuse_owned(edit(docker_v2, "manifests", "[]"),
                 NULL, "docker v2 carrying manifests");

    refuse_owned(edit(oci_index, "layers",
                      "[{\"mediaType\":\"" MT_OCI_LAYER "\","
                      "\"digest\":\"" D_F "\",\"size\":1}]"),
                 NULL, "OCI index carrying layers");
    refuse_owned(edit(oci_index, "layers", "[]"), NULL,
                 "OCI index carrying layers []");
    refuse_owned(edit(oci_index, "config",
                      "{\"mediaType\":\"" MT_OCI_CFG "\","
                      "\"digest\":\"" D_F "\",\"size\":1}"),
                 NULL, "OCI index carrying config");
    refuse_owned(edit(oci_index, "config",
                      "{\"mediaType\":\"" MT_OCI_CFG "\","
                      "\"digest\":\"" D_F "\",\"size\":1}"),
                 HB_MT_OCI_INDEX_S,
                 "OCI index carrying config, Content-Type agrees");
    refuse_owned(edit(docker_list, "layers", "[]"), NULL,
                 "docker list carrying layers");
    refuse_owned(edit(docker_list, "config",
                      "{\"mediaType\":\"" MT_DOCKER_CFG "\","
                      "\"digest\":\"" D_F "\",\"size\":1}"),
                 NULL, "docker list carrying config");

    {
        char *b1 = edit(oci_index, "mediaType", NULL);
        char *b2 = edit(b1, "config",
                        "{\"mediaType\":\"" MT_OCI_CFG "\","
                        "\"digest\":\"" D_F "\",\"size\":1}");
        char *b3 = edit(b2, "layers", "[]");

        refuse(b2, NULL, "no mediaType: manifests and config");
        refuse(b3, NULL, "no mediaType: manifests, config and layers");
        refuse(b3, HB_MT_OCI_MANIFEST_S,
               "no mediaType: manifests, config, layers; as OCI manifest");
        refuse(b3, HB_MT_OCI_INDEX_S,
               "no mediaType: manifests, config, layers; as OCI index");
        free(b1);
        free(b2);
        free(b3);
    }

    refuse("{\"schemaVersion\":2}", NULL, "schemaVersion alone");
    refuse("{\"schemaVersion\":2}", HB_MT_OCI_MANIFEST_S,
           "schemaVersion alone, as OCI manifest");
    refuse("{\"schemaVersion\":2}", HB_MT_OCI_INDEX_S,
           "schemaVersion alone, as OCI index");
    refuse("{\"schemaVersion\":2,\"mediaType\":\"" HB_MT_OCI_MANIFEST_S "\"}",
           NULL, "OCI manifest with no config or layers");
    refuse_owned(edit(oci_image, "config", NULL), NULL,
                 "OCI manifest without config");
    refuse_owned(edit(oci_image, "layers", NULL), NULL,
                 "OCI manifest without layers");
    refuse_owned(edit(docker_v2, "layers", NULL), NULL,
                 "docker v2 without layers");
    refuse_owned(edit(oci_index, "manifests", NULL), NULL,
                 "OCI index without manifests");
    refuse_owned(edit(docker_list, "manifests", NULL), NULL,
                 "docker list without manifests");

    /* the same key twice: which one would a client believe? */
    refuse("{\"schemaVersion\":2,\"mediaType\":\"" HB_MT_OCI_MANIFEST_S "\","
           "\"config\":{\"mediaType\":\"" MT_OCI_CFG "\",\"digest\":\"" D_A
           "\",\"size\":1},\"layers\":[],"
           "\"mediaType\":\"" HB_MT_OCI_INDEX_S "\"}",
           NULL, "mediaType given twice");
    refuse("{\"schemaVersion\":2,"
           "\"config\":{\"mediaType\":\"" MT_OCI_CFG "\",\"digest\":\"" D_A
           "\",\"size\":1},\"layers\":[],\"layers\":[{\"mediaType\":\""
           MT_OCI_LAYER "\",\"digest\":\"" D_B "\",\"size\":1}]}",
           NULL, "layers given twice");
    refuse("{\"schemaVersion\":2,"
           "\"config\":{\"mediaType\":\"" MT_OCI_CFG "\",\"digest\":\"" D_A
           "\",\"digest\":\"" D_B "\",\"size\":1},\"layers\":[]}",
           NULL, "a descriptor's digest given twice");
    refuse("{\"schemaVersion\":2,\"schemaVersion\":2,"
           "\"config\":{\"mediaType\":\"" MT_OCI_CFG "\",\"digest\":\"" D_A
           "\",\"size\":1},\"layers\":[]}",
           NULL, "schemaVersion given twice");
}


/* ---- schemaVersion and mediaType -------------------------------------- */

static void
test_header_fields(void)
{
    static const char  *bad_versions[] = {
        "1", "3", "0", "-2", "\"2\"", "null", "true", "[2]", "{}",
        "20", "4294967298", "99999999999999999999"
    };
    static const char  *bad_types[] = {
        "5", "null", "\"\"", "\"application/json\"",
        "\"" HB_MT_OCI_EMPTY_S "\"",
        "\"application/vnd.docker.distribution.manifest.v1+json\"",
        "\"application/vnd.docker.distribution.manifest.v1+prettyjws\"",
        "\"" HB_MT_OCI_MANIFEST_S " \"",
        "\"" HB_MT_OCI_MANIFEST_S "; charset=utf-8\"",
        "\"" HB_MT_OCI_MANIFEST_S "\\u0000\"",
        "[\"" HB_MT_OCI_MANIFEST_S "\"]",
        "{\"mediaType\":\"" HB_MT_OCI_MANIFEST_S "\"}",
    };
    char    what[200];
    size_t  i;

    note("schemaVersion");

    refuse_owned(edit(oci_artifact, "schemaVersion", NULL), NULL,
                 "no schemaVersion");
    refuse_owned(edit(oci_index, "schemaVersion", NULL), NULL,
                 "OCI index without schemaVersion");
    refuse_owned(edit(docker_v2, "schemaVersion", NULL), HB_MT_DOCKER_V2_S,
                 "docker v2 without schemaVersion");

    for (i = 0; i < sizeof(bad_versions) / sizeof(bad_versions[0]); i++) {
        snprintf(what, sizeof(what), "schemaVersion %s", bad_versions[i]);
        refuse_owned(edit(oci_artifact, "schemaVersion", bad_versions[i]),
                     NULL, what);
    }

    refuse("{\"schemaVersion\":1,\"name\":\"a\",\"tag\":\"b\","
           "\"architecture\":\"amd64\",\"fsLayers\":[],\"history\":[]}",
           "application/vnd.docker.distribution.manifest.v1+json",
           "docker schema1 manifest");

    note("top-level mediaType");

    for (i = 0; i < sizeof(bad_types) / sizeof(bad_types[0]); i++) {
        snprintf(what, sizeof(what), "mediaType %s", bad_types[i]);
        refuse_owned(edit(oci_artifact, "mediaType", bad_types[i]), NULL, what);
    }

    note("Content-Type not a manifest type");

    refuse(oci_image, "application/json", "Content-Type application/json");
    refuse(oci_image, HB_MT_OCI_EMPTY_S, "Content-Type OCI empty");
    refuse(oci_image, "x", "Content-Type x");
    refuse(oci_image, HB_MT_OCI_MANIFEST_S "x", "Content-Type OCI manifest + x");
}


/* ---- descriptors ------------------------------------------------------ */

static void
test_descriptors(void)
{
    static const char  *bad_digests[] = {
        "\"sha256:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\"",
        "\"sha384:38b060a751ac96384cd9327eb1b1e36a21fdb71114be07434c0cc7bf63f6e1da"
            "274edebfe76f65fbd51ad2f14898b95b\"",
        "\"sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\"",
        "\"sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\"",
        "\"sha256:\"",
        "\"\"",
        "\"" D_A "\\n\"",
        "\"" D_A "\\u0000\"",
        "\"sha256:../../../../../../../../../../../../../../../../etc/passwd/xxxxx\"",
        "5",
        "null",
        "[\"" D_A "\"]",
    };
    static const char  *bad_sizes[] = {
        "-1", "-9223372036854775808", "1.5", "1e3", "\"5\"", "null", "true",
        "[1]", "1e30", "9223372036854775808", "99999999999999999999",
    };
    static const char  *bad_mts[] = {
        "5", "null", "\"\"", "\"not a type\"", "\"application\"",
        "\"application/\"", "\"application/json\\r\\nX: y\"",
    };
    static const char  *bad_objects[] = {
        "\"x\"", "null", "[]", "5", "true",
    };
    static const struct {
        const char  *doc;
        const char  *path;      /* a descriptor */
        const char  *name;
    } where[] = {
        { docker_v2, "config", "docker v2 config" },
        { docker_v2, "layers/1", "docker v2 layer" },
        { oci_artifact, "config", "OCI config" },
        { oci_artifact, "layers/0", "OCI layer" },
        { oci_artifact, "subject", "OCI subject" },
        { oci_index, "manifests/2", "OCI index entry" },
        { docker_list, "manifests/0", "docker list entry" },
    };
    char    what[300], path[100];
    size_t  w, i;

    note("descriptors");

    for (w = 0; w < sizeof(where) / sizeof(where[0]); w++) {

        for (i = 0; i < sizeof(bad_digests) / sizeof(bad_digests[0]); i++) {
            snprintf(path, sizeof(path), "%s/digest", where[w].path);
            snprintf(what, sizeof(what), "%s digest %.80s", where[w].name,
                     bad_digests[i]);
            refuse_owned(edit(where[w].doc, path, bad_digests[i]), NULL, what);
        }

        snprintf(what, sizeof(what), "%s without digest", where[w].name);
        snprintf(path, sizeof(path), "%s/digest", where[w].path);
        refuse_owned(edit(where[w].doc, path, NULL), NULL, what);

        for (i = 0; i < sizeof(bad_sizes) / sizeof(bad_sizes[0]); i++) {
            snprintf(path, sizeof(path), "%s/size", where[w].path);
            snprintf(what, sizeof(what), "%s size %s", where[w].name,
                     bad_sizes[i]);
            refuse_owned(edit(where[w].doc, path, bad_sizes[i]), NULL, what);
        }

        snprintf(what, sizeof(what), "%s without size", where[w].name);
        snprintf(path, sizeof(path), "%s/size", where[w].path);
        refuse_owned(edit(where[w].doc, path, NULL), NULL, what);

        for (i = 0; i < sizeof(bad_mts) / sizeof(bad_mts[0]); i++) {
            snprintf(path, sizeof(path), "%s/mediaType", where[w].path);
            snprintf(what, sizeof(what), "%s mediaType %s", where[w].name,
                     bad_mts[i]);
            refuse_owned(edit(where[w].doc, path, bad_mts[i]), NULL, what);
        }

        snprintf(what, sizeof(what), "%s without mediaType", where[w].name);
        snprintf(path, sizeof(path), "%s/mediaType", where[w].path);
        refuse_owned(edit(where[w].doc, path, NULL), NULL, what);

        snprintf(what, sizeof(what), "%s artifactType 5", where[w].name);
        snprintf(path, sizeof(path), "%s/artifactType", where[w].path);
        refuse_owned(edit(where[w].doc, path, "5"), NULL, what);
        snprintf(what, sizeof(what), "%s artifactType \"bad type\"",
                 where[w].name);
        refuse_owned(edit(where[w].doc, path, "\"bad type\""), NULL, what);

        for (i = 0; i < sizeof(bad_objects) / sizeof(bad_objects[0]); i++) {
            snprintf(what, sizeof(what), "%s is %s", where[w].name,
                     bad_objects[i]);
            refuse_owned(edit(where[w].doc, where[w].path, bad_objects[i]),
                         NULL, what);
        }
    }

    note("descriptor arrays");

    refuse_owned(edit(oci_image, "layers", "{}"), NULL, "layers {}");
    refuse_owned(edit(oci_image, "layers", "\"x\""), NULL, "layers \"x\"");
    refuse_owned(edit(oci_image, "layers", "null"), NULL, "layers null");
    refuse_owned(edit(oci_image, "layers", "5"), NULL, "layers 5");
    refuse_owned(edit(oci_image, "layers", "[[]]"), NULL, "layers [[]]");
    refuse_owned(edit(oci_index, "manifests", "{}"), NULL, "manifests {}");
    refuse_owned(edit(oci_index, "manifests", "null"), NULL, "manifests null");
    refuse_owned(edit(oci_index, "manifests", "[null]"), NULL,
                 "manifests [null]");
    refuse_owned(edit(docker_v2, "layers/0", "{}"), NULL,
                 "docker v2 with an empty layer object");

    note("artifactType and annotations");

    refuse_owned(edit(oci_artifact, "artifactType", "5"), NULL,
                 "artifactType 5");
    refuse_owned(edit(oci_artifact, "artifactType", "\"\""), NULL,
                 "artifactType \"\"");
    refuse_owned(edit(oci_artifact, "artifactType", "\"bad type\""), NULL,
                 "artifactType \"bad type\"");
    refuse_owned(edit(oci_artifact, "artifactType", "[]"), NULL,
                 "artifactType []");
    refuse_owned(edit(oci_artifact, "annotations", "[]"), NULL,
                 "annotations []");
    refuse_owned(edit(oci_artifact, "annotations", "\"a=b\""), NULL,
                 "annotations \"a=b\"");
    refuse_owned(edit(oci_artifact, "annotations", "5"), NULL,
                 "annotations 5");

    good_owned(edit(oci_artifact, "annotations", "{}"), NULL,
                 "annotations {}");

    /* image-spec: annotation values MUST be strings */
    refuse_owned(edit(oci_artifact, "annotations", "{\"a\":1}"), NULL,
                 "annotation value 1");
    refuse_owned(edit(oci_artifact, "annotations", "{\"a\":{\"b\":\"c\"}}"),
                 NULL, "annotation value an object");
    refuse_owned(edit(oci_artifact, "layers/0/annotations", "{\"a\":true}"),
                 NULL, "a layer's annotation value true");
    refuse_owned(edit(oci_artifact, "layers/0/annotations", "[]"),
                 NULL, "a layer's annotations an array");
    good_owned(edit(oci_artifact, "layers/0/annotations", "{}"), NULL,
               "a layer's annotations {}");
}


/* ---- not JSON, not an object, hostile --------------------------------- */

static void
test_hostile(void)
{
    static const char  *not_json[] = {
        "", " ", "\n", "{", "}", "[", "{\"schemaVersion\":2,}",
        "{\"schemaVersion\":2", "{schemaVersion:2}", "{'schemaVersion':2}",
        "not json", "{\"schemaVersion\":NaN}", "{\"schemaVersion\":Infinity}",
        "/* c */{\"schemaVersion\":2}", "{\"schemaVersion\":02}",
        "{\"a\":\"\\x41\"}", "{\"a\":\"\\ud800\"}", "{\"a\":\"\t\"}",
        "{}{}", "{} x", "{\"a\":\"\xff\xfe\"}",
        "{\"a\":\"\xc0\xaf\"}", "{\"a\":\"\\u0000\"}",
    };
    static const char  *not_object[] = {
        "[]", "2", "\"x\"", "null", "true", "false", "-1", "0.5",
    };
    char    *b, *wrapped, what[200];
    size_t   i, n, len;

    note("not JSON");

    for (i = 0; i < sizeof(not_json) / sizeof(not_json[0]); i++) {
        len = strlen(not_json[i]);
        snprintf(what, sizeof(what), "not JSON: '%.60s'", not_json[i]);
        for (n = 0; what[n]; n++) {
            if ((unsigned char) what[n] < 0x20
                || (unsigned char) what[n] >= 0x7f)
            {
                what[n] = '?';
            }
        }
        refuse_n(not_json[i], len, NULL, what);
    }

    /* a whole manifest followed by garbage within the length */
    {
        char  tail[sizeof(oci_image) + 8];

        len = sizeof(oci_image) - 1;
        memcpy(tail, oci_image, len);
        tail[len] = ' ';
        tail[len + 1] = 'x';
        refuse_n(tail, len + 2, NULL, "manifest followed by ' x'");
        tail[len] = '{';
        refuse_n(tail, len + 1, NULL, "manifest followed by '{'");
        tail[len] = '\0';
        refuse_n(tail, len + 1, NULL, "manifest followed by a NUL");

        /* a NUL in the middle of a manifest */
        tail[len / 2] = '\0';
        refuse_n(tail, len, NULL, "manifest with a NUL byte in its middle");
    }

    note("not an object");

    for (i = 0; i < sizeof(not_object) / sizeof(not_object[0]); i++) {
        snprintf(what, sizeof(what), "JSON %s", not_object[i]);
        refuse(not_object[i], NULL, what);
        snprintf(what, sizeof(what), "JSON %s as OCI manifest", not_object[i]);
        refuse(not_object[i], HB_MT_OCI_MANIFEST_S, what);
    }

    wrapped = malloc(strlen(oci_artifact) + 3);
    snprintf(wrapped, strlen(oci_artifact) + 3, "[%s]", oci_artifact);
    refuse(wrapped, NULL, "a manifest inside an array");
    refuse(wrapped, HB_MT_OCI_MANIFEST_S,
           "a manifest inside an array, as OCI manifest");
    free(wrapped);

    note("deeply nested garbage");

    n = 200000;
    b = malloc(2 * n + 100);

    memset(b, '[', n);
    refuse_n(b, n, NULL, "200000 '['");

    memset(b + n, ']', n);
    refuse_n(b, 2 * n, NULL, "200000 '[' and their ']'");

    for (i = 0; i < n / 5; i++) {
        memcpy(b + 5 * i, "{\"a\":", 5);
    }
    refuse_n(b, n, NULL, "40000 '{\"a\":'");

    /* nesting in an unknown field of a valid manifest */
    len = snprintf(b, 2 * n + 100, "{\"schemaVersion\":2,\"x\":");
    memset(b + len, '[', 100000);
    memset(b + len + 100000, ']', 100000);
    len += 200000;
    len += snprintf(b + len, 2 * n + 100 - len,
                    ",\"config\":{\"mediaType\":\"" MT_OCI_CFG
                   "\",\"digest\":\"" D_A "\",\"size\":1},\"layers\":[]}");
    refuse_n(b, len, NULL, "a manifest with 100000-deep nesting in a field");

    /* in the annotations */
    len = snprintf(b, 2 * n + 100,
                   "{\"schemaVersion\":2,\"config\":{\"mediaType\":\""
                  MT_OCI_CFG "\",\"digest\":\"" D_A "\",\"size\":1},"
                  "\"layers\":[],\"annotations\":");
    for (i = 0; i < 50000; i++) {
        memcpy(b + len, "{\"a\":", 5);
        len += 5;
    }
    b[len++] = '1';
    memset(b + len, '}', 50000);
    len += 50000;
    b[len++] = '}';
    refuse_n(b, len, NULL, "annotations 50000 objects deep");
    free(b);
}


/* ---- the error buffer and hb_manifest_free ---------------------------- */

static void
test_err_and_free(void)
{
    int            rc;
    char           small[16];
    hb_manifest_t  m;

    note("err buffer and hb_manifest_free");

    /* a short buffer: truncated, terminated, nothing written past it */
    memset(small, '#', sizeof(small));
    memset(&m, 0xa5, sizeof(m));
    rc = hb_manifest_parse("{\"schemaVersion\":1}", 19, NULL, 0, &m, small, 8);
    is_int(rc, -1, "errlen 8: refused");
    ok(memchr(small, '\0', 8) != NULL, "errlen 8: terminated within 8 bytes");
    ok(small[0] != '\0', "errlen 8: a (truncated) message");
    ok(small[8] == '#' && small[15] == '#', "errlen 8: nothing past 8 bytes");
    hb_manifest_free(&m);

    memset(small, '#', sizeof(small));
    memset(&m, 0xa5, sizeof(m));
    rc = hb_manifest_parse("[", 1, NULL, 0, &m, small, 1);
    is_int(rc, -1, "errlen 1: refused");
    ok(small[0] == '\0' && small[1] == '#', "errlen 1: just a terminator");
    hb_manifest_free(&m);

    memset(small, '#', sizeof(small));
    memset(&m, 0xa5, sizeof(m));
    rc = hb_manifest_parse(oci_image, strlen(oci_image), "text/plain", 10,
                           &m, small, 8);
    is_int(rc, -1, "errlen 8, long Content-Type message: refused");
    ok(small[8] == '#', "errlen 8, long Content-Type message: nothing past");
    hb_manifest_free(&m);

    /* a failure part way: the descriptors before are owned and freed */
    {
        char *b = edit(docker_v2, "layers/2/size", "-1");

        refuse_owned(b, NULL, "docker v2, third layer bad (frees the two)");
    }
    {
        char *b = edit(oci_artifact, "subject/digest", "\"x\"");

        refuse_owned(b, NULL, "OCI artifact, subject bad after layers");
    }
    {
        char *b = edit(oci_artifact, "annotations", "[]");

        refuse_owned(b, NULL, "OCI artifact, annotations bad after all else");
    }

    /* hostile bytes should not be echoed raw into a message for the client */
    {
        static const struct { const char *b; size_t n; const char *ct; }
        h[] = {
            { "\x01\x02", 2, NULL },
            { "\x1b[2J{}", 7, NULL },
            { "{\"schemaVersion\":2}", 19, "\xff\x01\"}" },
            { "{\"schemaVersion\":2}", 19, "a/b\x1b[31m" },
        };
        size_t  i, k;
        int     clean;

        for (i = 0; i < sizeof(h) / sizeof(h[0]); i++) {
            rc = parse_n(h[i].b, h[i].n, h[i].ct, &m);
            hb_manifest_free(&m);
            clean = (rc == -1);
            for (k = 0; clean && err[k]; k++) {
                clean = (unsigned char) err[k] >= 0x20
                        && (unsigned char) err[k] < 0x7f;
            }
            ok(clean, "hostile input %zu: refused, err printable ASCII", i);
        }
    }

    /* free of a zeroed manifest, and a second free */
    memset(&m, 0, sizeof(m));
    hb_manifest_free(&m);
    ok(1, "hb_manifest_free of a zeroed manifest");

    rc = parse(oci_index, NULL, &m);
    hb_manifest_free(&m);
    ok(rc == 0, "parse and free of an index");
}


/* ---- hb_manifest_sniff and hb_manifest_type_name ---------------------- */

static int
sniff_n(const char *body, size_t len)
{
    int             r;
    unsigned char  *b = tap_exact(body, len);

    r = hb_manifest_sniff((const char *) b, len);
    free(b);
    return r;
}

static int
sniff(const char *body)
{
    return sniff_n(body, strlen(body));
}


static void
test_sniff(void)
{
    char           *b, *big;
    size_t          i, n, len;
    hb_manifest_t   m;
    static const struct {
        const char  *doc;
        int          type;
        const char  *name;
    } docs[] = {
        { docker_v2, HB_MT_DOCKER_V2, "docker v2" },
        { docker_list, HB_MT_DOCKER_LIST, "docker list" },
        { oci_artifact, HB_MT_OCI_MANIFEST, "OCI artifact" },
        { oci_image, HB_MT_OCI_MANIFEST, "OCI image without mediaType" },
        { oci_index, HB_MT_OCI_INDEX, "OCI index" },
    };

    note("hb_manifest_sniff");

    for (i = 0; i < sizeof(docs) / sizeof(docs[0]); i++) {
        is_int(sniff(docs[i].doc), docs[i].type, "sniff: %s", docs[i].name);

        /* the kind a stored manifest is sniffed as is the kind it was
         * parsed as */
        if (parse(docs[i].doc, NULL, &m) == 0) {
            is_int(sniff(docs[i].doc), m.type, "sniff agrees with parse: %s",
                   docs[i].name);
        } else {
            ok(0, "sniff agrees with parse: %s (parse failed: %s)",
               docs[i].name, err);
        }
        hb_manifest_free(&m);
    }

    b = edit(oci_index, "mediaType", NULL);
    is_int(sniff(b), HB_MT_OCI_INDEX, "sniff: OCI index without mediaType");
    free(b);

    b = edit(oci_artifact, "mediaType", "\"application/json\"");
    is_int(sniff(b), HB_MT_UNKNOWN, "sniff: mediaType application/json");
    free(b);
    b = edit(oci_artifact, "mediaType", "5");
    is_int(sniff(b), HB_MT_UNKNOWN, "sniff: mediaType 5");
    free(b);
    b = edit(oci_artifact, "mediaType", "\"" HB_MT_OCI_EMPTY_S "\"");
    is_int(sniff(b), HB_MT_UNKNOWN, "sniff: mediaType OCI empty");
    free(b);
    b = edit(oci_artifact, "schemaVersion", NULL);
    is_int(sniff(b), HB_MT_UNKNOWN, "sniff: no schemaVersion");
    free(b);
    b = edit(oci_artifact, "schemaVersion", "1");
    is_int(sniff(b), HB_MT_UNKNOWN, "sniff: schemaVersion 1");
    free(b);
    b = edit(oci_artifact, "schemaVersion", "\"2\"");
    is_int(sniff(b), HB_MT_UNKNOWN, "sniff: schemaVersion \"2\"");
    free(b);

    is_int(sniff("{\"schemaVersion\":1,\"name\":\"a\",\"tag\":\"b\","
                 "\"architecture\":\"amd64\",\"fsLayers\":[],"
                 "\"history\":[],\"signatures\":[]}"),
           HB_MT_UNKNOWN, "sniff: docker schema1");
    is_int(sniff_n("", 0), HB_MT_UNKNOWN, "sniff: nothing");
    is_int(sniff("not json"), HB_MT_UNKNOWN, "sniff: not JSON");
    is_int(sniff("[]"), HB_MT_UNKNOWN, "sniff: []");
    is_int(sniff("[{\"schemaVersion\":2}]"), HB_MT_UNKNOWN,
           "sniff: a manifest-ish object inside an array");
    is_int(sniff("null"), HB_MT_UNKNOWN, "sniff: null");
    is_int(sniff("2"), HB_MT_UNKNOWN, "sniff: 2");
    is_int(sniff_n("\x01\xff", 2), HB_MT_UNKNOWN, "sniff: binary");

    /* only len bytes count */
    len = sizeof(oci_index) - 1;
    is_int(sniff_n(oci_index, len - 1), HB_MT_UNKNOWN,
           "sniff: an index one byte short");
    {
        char  tail[sizeof(docker_v2) + 8];

        memcpy(tail, docker_v2, sizeof(docker_v2) - 1);
        memcpy(tail + sizeof(docker_v2) - 1, "xx{[\0", 5);
        is_int(sniff_n(tail, sizeof(docker_v2) - 1), HB_MT_DOCKER_V2,
               "sniff: docker v2 with garbage past its length");
    }

    /* deep nesting */
    n = 200000;
    big = malloc(n);
    memset(big, '[', n);
    is_int(sniff_n(big, n), HB_MT_UNKNOWN, "sniff: 200000 '['");
    for (i = 0; i + 5 <= n; i += 5) {
        memcpy(big + i, "{\"a\":", 5);
    }
    is_int(sniff_n(big, n), HB_MT_UNKNOWN, "sniff: 40000 '{\"a\":'");
    free(big);

    note("hb_manifest_type_name");

    is_str(hb_manifest_type_name(HB_MT_DOCKER_V2), HB_MT_DOCKER_V2_S,
           "type name: docker v2");
    is_str(hb_manifest_type_name(HB_MT_DOCKER_LIST), HB_MT_DOCKER_LIST_S,
           "type name: docker list");
    is_str(hb_manifest_type_name(HB_MT_OCI_MANIFEST), HB_MT_OCI_MANIFEST_S,
           "type name: OCI manifest");
    is_str(hb_manifest_type_name(HB_MT_OCI_INDEX), HB_MT_OCI_INDEX_S,
           "type name: OCI index");
    is_str(hb_manifest_type_name(HB_MT_UNKNOWN), NULL, "type name: unknown");
    is_str(hb_manifest_type_name(99), NULL, "type name: 99");
    is_str(hb_manifest_type_name(-1), NULL, "type name: -1");

    for (i = HB_MT_DOCKER_V2; i <= HB_MT_OCI_INDEX; i++) {
        const char *s = hb_manifest_type_name((int) i);

        is_int(s ? hb_manifest_type((const unsigned char *) s, strlen(s)) : -1,
               (long long) i, "type name %zu maps back to its type", i);
    }
}


int
main(void)
{
    test_docker_v2();
    test_oci_manifest();
    test_indexes();
    test_many_layers();
    test_sizes();
    test_confusion();
    test_header_fields();
    test_descriptors();
    test_hostile();
    test_err_and_free();
    test_sniff();

    return done_testing();
}
