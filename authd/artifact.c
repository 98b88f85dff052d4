/*
 * authd: repositories, artifacts and tags as rows, from what storage
 * holds.
 *
 * The journal reader, reindex and the API (after its own /v2 requests)
 * all change these tables through the functions here, under one lock,
 * inside the caller's transaction.  The rule that makes replaying the
 * journal converge whatever the order or the repetition: an artifact
 * row is created only for a manifest whose revision link is in storage
 * now, and a tag row is set to what the tag's link says now (or
 * removed when it has none).  Pull counts, pull and push times are the
 * journal's; everything else is read from the manifest (and an image's
 * config) in storage.
 */

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "authd.h"
#include "harbor_grammar.h"


#define ARTIFACT_CONFIG_MAX  (1024 * 1024)   /* image config read for its
                                                platform and attributes */

static pthread_mutex_t  meta_mtx = PTHREAD_MUTEX_INITIALIZER;


void
meta_lock(void)
{
    pthread_mutex_lock(&meta_mtx);
}


void
meta_unlock(void)
{
    pthread_mutex_unlock(&meta_mtx);
}


/* The repository's id, 0 if it has no row, -1 on a database error. */
long long
repo_find(struct dbc *db, const char *name)
{
    PGresult   *res;
    long long   id;

    res = db_execv(db, "SELECT repository_id FROM repository"
                   " WHERE name = $1", 1, name);
    if (res == NULL) {
        return -1;
    }

    id = PQntuples(res) == 1 ? db_ll(res, 0, 0) : 0;
    PQclear(res);

    return id;
}


/*
 * The repository's id, creating its row; its project is the first path
 * component, when such a project exists.  -1 on a database error.
 */
long long
repo_ensure(struct dbc *db, const char *name)
{
    PGresult   *res;
    long long   id;

    res = db_execv(db, "INSERT INTO repository (name, project_id) VALUES"
                   " ($1::text, (SELECT project_id FROM projects"
                   " WHERE name = split_part($1::text, '/', 1)"
                   " AND NOT deleted))"
                   " ON CONFLICT (name) DO UPDATE SET project_id ="
                   " COALESCE(repository.project_id, EXCLUDED.project_id)"
                   " RETURNING repository_id, project_id IS NULL,"
                   " xmax = 0", 1, name);
    if (res == NULL) {
        return -1;
    }

    id = db_ll(res, 0, 0);

    if (db_b(res, 0, 1) && db_b(res, 0, 2)) {
        log_warnx("repository %s: no project named by its first component; "
                  "recorded without a project (system administrators see "
                  "it)", name);
    }

    PQclear(res);

    return id;
}


/* Harbor's artifact type from the config's media type */
static const char *
artifact_kind(const char *config_mt)
{
    if (config_mt == NULL) {
        return "UNKNOWN";
    }

    if (strcmp(config_mt, "application/vnd.oci.image.config.v1+json") == 0
        || strcmp(config_mt, "application/vnd.docker.container.image.v1+json")
           == 0)
    {
        return "IMAGE";
    }

    if (strcmp(config_mt, "application/vnd.cncf.helm.config.v1+json") == 0) {
        return "CHART";
    }

    if (strncmp(config_mt, "application/vnd.cnab.", 21) == 0) {
        return "CNAB";
    }

    return "UNKNOWN";
}


/*
 * extra_attrs of an image, from its config (as Harbor shows them):
 * architecture, os, os.version, variant, created, author, config.
 */
static json_t *
artifact_image_attrs(const char *digest)
{
    static const char *const  keys[] = {
        "architecture", "os", "os.version", "variant", "created", "author",
        "config"
    };
    json_t   *cfg, *attrs, *v;
    char     *data;
    size_t    len, i;

    attrs = json_object();
    if (attrs == NULL) {
        return NULL;
    }

    if (store_blob(digest, ARTIFACT_CONFIG_MAX, &data, &len) != STORE_OK) {
        return attrs;
    }

    cfg = json_loadb(data, len, 0, NULL);
    free(data);

    if (!json_is_object(cfg)) {
        json_decref(cfg);
        return attrs;
    }

    for (i = 0; i < nitems(keys); i++) {
        v = json_object_get(cfg, keys[i]);
        if (v != NULL && !json_is_null(v)) {
            json_object_set(attrs, keys[i], v);
        }
    }

    json_decref(cfg);

    return attrs;
}


/*
 * The platform of an index's i-th child: its descriptor's platform
 * object, Harbor's keys only (architecture, os, os.version, os.features,
 * variant, features), values as they are; NULL when it has none.  list
 * is the index's "manifests", parsed once for all the children
 * (hb_manifest_parse keeps their order).
 */
static json_t *
artifact_platform(json_t *list, size_t i, hb_descriptor_t *d)
{
    static const char *const  keys[] = {
        "architecture", "os", "os.version", "os.features", "variant",
        "features"
    };
    json_t      *e, *p, *out, *v;
    const char  *digest;
    size_t       k;

    e = json_array_get(list, i);
    digest = json_string_value(json_object_get(e, "digest"));
    p = json_object_get(e, "platform");

    if (digest == NULL || strcmp(digest, d->digest) != 0
        || !json_is_object(p))
    {
        return NULL;
    }

    out = json_object();

    for (k = 0; out != NULL && k < nitems(keys); k++) {
        v = json_object_get(p, keys[k]);
        if (v != NULL && !json_is_null(v)) {
            json_object_set(out, keys[k], v);
        }
    }

    if (out != NULL && json_object_size(out) == 0) {
        json_decref(out);
        return NULL;
    }

    return out;
}


static char *
artifact_dump(json_t *j)
{
    return j != NULL ? json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
}


/*
 * [digest, size, platform] of each descriptor appended to list (platform
 * from platforms[i], null without), for the statements that take a whole
 * list at once (jsonb_array_elements): one round trip per artifact,
 * whatever the number of its children or blobs.  -1 when out of memory.
 */
static int
artifact_list_add(json_t *list, hb_descriptor_t *d, size_t n,
    json_t *platforms)
{
    json_t  *e;
    size_t   i;

    for (i = 0; i < n; i++) {
        if (d[i].has_urls) {
            continue;       /* a foreign layer lives elsewhere */
        }

        e = json_pack("[s, I, O?]", d[i].digest, (json_int_t) d[i].size,
                      json_array_get(platforms, i));
        if (e == NULL || json_array_append_new(list, e) != 0) {
            return -1;
        }
    }

    return 0;
}


/*
 * The size of an index: its own, and each child's, from the child's row
 * when it has one (an image counts its config and layers), else from the
 * descriptor.  One statement, linear in the children.
 */
static int
artifact_children_size(struct dbc *db, const char *rid, const char *children,
    long long *size)
{
    PGresult  *res;

    res = db_execv(db, "SELECT COALESCE(sum(COALESCE(a.size,"
                   " (c.e->>1)::bigint)), 0)"
                   " FROM jsonb_array_elements($2::jsonb) AS c(e)"
                   " LEFT JOIN artifact a ON a.repository_id = $1"
                   " AND a.digest = c.e->>0", 2, rid, children);
    if (res == NULL) {
        return -1;
    }

    *size += db_ll(res, 0, 0);
    PQclear(res);

    return 0;
}


/*
 * The artifact of (repository, digest), from storage.  Without force an
 * existing row is kept (a manifest never changes: only push_time moves
 * forward); with force (reindex) it is rebuilt from the manifest, its
 * pull count and times kept.  push_time NULL: the revision link's mtime
 * for a new row.
 *
 * 1 with *id, 0 when storage does not hold it (no row is made), -1 on a
 * database error.
 */
int
artifact_import(struct dbc *db, long long repo_id, const char *name,
    const char *digest, const char *push_time, int force, long long *id)
{
    hb_manifest_t   m;
    hb_descriptor_t self;
    PGresult       *res;
    json_t         *attrs, *doc, *plats, *plat, *refs, *blobs;
    const char     *mt, *config_mt, *kind, *art_type;
    char            rid[32], size_s[32], mtime_s[32], aid[32], err[256];
    char           *body, *attrs_s, *ann_s, *subject, *refs_s, *blobs_s;
    size_t          len, i;
    long long       size;
    time_t          mtime;
    int             rc, parsed;

    *id = 0;
    snprintf(rid, sizeof(rid), "%lld", repo_id);

    if (!force) {
        res = db_execv(db, "SELECT id FROM artifact WHERE repository_id = $1"
                       " AND digest = $2", 2, rid, digest);
        if (res == NULL) {
            return -1;
        }

        if (PQntuples(res) == 1) {
            *id = db_ll(res, 0, 0);
            PQclear(res);

            if (push_time != NULL) {
                snprintf(aid, sizeof(aid), "%lld", *id);
                if (db_cmd(db, "UPDATE artifact SET push_time ="
                           " GREATEST(push_time, $2::timestamptz)"
                           " WHERE id = $1", 2, aid, push_time) < 0)
                {
                    return -1;
                }
            }

            return 1;
        }

        PQclear(res);
    }

    rc = store_revision(name, digest, &mtime);
    if (rc != STORE_OK) {
        return 0;
    }

    rc = store_blob(digest, HB_MANIFEST_MAX, &body, &len);
    if (rc != STORE_OK) {
        log_warnx("%s@%s: the revision link is there but the manifest is "
                  "not readable; no row made", name, digest);
        return 0;
    }

    memset(&m, 0, sizeof(m));
    parsed = hb_manifest_parse(body, len, NULL, 0, &m, err, sizeof(err)) == 0;

    if (!parsed) {
        log_info("%s@%s: %s; recorded as an unknown artifact", name, digest,
                 err);
    }

    attrs = NULL;
    doc = NULL;
    plats = NULL;
    refs = json_array();
    blobs = json_array();
    refs_s = NULL;
    blobs_s = NULL;
    attrs_s = NULL;
    ann_s = NULL;
    subject = NULL;
    size = (long long) len;
    mt = parsed ? m.media_type : hb_manifest_type_name(
                                     hb_manifest_sniff(body, len));
    if (mt == NULL) {
        mt = "";
    }
    config_mt = NULL;
    kind = "UNKNOWN";
    art_type = NULL;

    /* the manifest itself is the artifact's first blob */
    memset(&self, 0, sizeof(self));
    snprintf(self.digest, sizeof(self.digest), "%s", digest);
    self.size = (long long) len;

    if (refs == NULL || blobs == NULL
        || artifact_list_add(blobs, &self, 1, NULL) != 0)
    {
        goto nomem;
    }

    if (parsed && (m.type == HB_MT_OCI_INDEX || m.type == HB_MT_DOCKER_LIST)) {
        config_mt = mt;
        kind = "IMAGE";

        /* the children's platforms: the document parsed once for all */
        doc = json_loadb(body, len, 0, NULL);
        plats = json_array();
        if (plats == NULL) {
            goto nomem;
        }
        for (i = 0; i < m.nmanifests; i++) {
            plat = artifact_platform(json_object_get(doc, "manifests"), i,
                                     &m.manifests[i]);
            if (json_array_append_new(plats, plat != NULL ? plat
                                                          : json_null())
                != 0)
            {
                goto nomem;
            }
        }

        if (artifact_list_add(refs, m.manifests, m.nmanifests, plats) != 0) {
            goto nomem;
        }

        refs_s = json_dumps(refs, JSON_COMPACT);
        if (refs_s == NULL) {
            goto nomem;
        }

        if (artifact_children_size(db, rid, refs_s, &size) != 0) {
            goto fail;
        }

    } else if (parsed) {
        if (m.config.digest[0]) {
            config_mt = m.config.media_type;
            size += m.config.size;
        }
        for (i = 0; i < m.nblobs; i++) {
            size += m.blobs[i].size;
        }
        kind = artifact_kind(config_mt);
        if (strcmp(kind, "IMAGE") == 0) {
            attrs = artifact_image_attrs(m.config.digest);
        }
    }

    if (parsed) {
        art_type = m.artifact_type != NULL ? m.artifact_type : config_mt;
        ann_s = m.annotations;
        if (m.subject.digest[0]) {
            subject = m.subject.digest;
        }
    }

    if (attrs == NULL) {
        attrs = json_object();
    }
    attrs_s = artifact_dump(attrs);

    snprintf(size_s, sizeof(size_s), "%lld", size);
    snprintf(mtime_s, sizeof(mtime_s), "%lld", (long long) mtime);

    res = db_exec(db, "INSERT INTO artifact (repository_id, digest, type,"
                  " media_type, manifest_media_type, artifact_type, size,"
                  " push_time, annotations, extra_attrs, subject_digest)"
                  " VALUES ($1, $2, $3, $4, $5, $6, $7,"
                  " COALESCE($8::timestamptz, to_timestamp($9::bigint)),"
                  " $10::jsonb, $11::jsonb, $12)"
                  " ON CONFLICT (repository_id, digest) DO UPDATE SET"
                  " type = EXCLUDED.type, media_type = EXCLUDED.media_type,"
                  " manifest_media_type = EXCLUDED.manifest_media_type,"
                  " artifact_type = EXCLUDED.artifact_type,"
                  " size = EXCLUDED.size,"
                  " annotations = EXCLUDED.annotations,"
                  " extra_attrs = EXCLUDED.extra_attrs,"
                  " subject_digest = EXCLUDED.subject_digest,"
                  " push_time = CASE WHEN $8::timestamptz IS NULL"
                  " THEN artifact.push_time"
                  " ELSE GREATEST(artifact.push_time, EXCLUDED.push_time) END"
                  " RETURNING id", 12,
                  (const char *const []) {
                      rid, digest, kind, config_mt != NULL ? config_mt : mt,
                      mt, art_type != NULL ? art_type : (config_mt != NULL
                                                         ? config_mt : mt),
                      size_s, push_time, mtime_s, ann_s, attrs_s, subject
                  });
    if (res == NULL) {
        goto fail;
    }

    *id = db_ll(res, 0, 0);
    PQclear(res);

    snprintf(aid, sizeof(aid), "%lld", *id);

    if (parsed
        && (artifact_list_add(blobs, &m.config, m.config.digest[0] ? 1 : 0,
                              NULL) != 0
            || artifact_list_add(blobs, m.blobs, m.nblobs, NULL) != 0))
    {
        goto nomem;
    }

    blobs_s = json_dumps(blobs, JSON_COMPACT);
    if (blobs_s == NULL) {
        goto nomem;
    }

    /* references and blobs, each in one statement (the first one of a
       digest wins, as the manifest lists them) */
    if (db_cmd(db, "DELETE FROM artifact_reference WHERE parent_id = $1", 1,
               aid) < 0
        || db_cmd(db, "DELETE FROM artifact_blob WHERE artifact_id = $1", 1,
                  aid) < 0
        || (refs_s != NULL
            && db_cmd(db, "INSERT INTO artifact_reference (parent_id,"
                      " child_digest, platform) SELECT $1, c.e->>0,"
                      " NULLIF(c.e->2, 'null'::jsonb)"
                      " FROM jsonb_array_elements($2::jsonb) AS c(e)"
                      " ON CONFLICT DO NOTHING", 2, aid, refs_s) < 0)
        || db_cmd(db, "INSERT INTO artifact_blob (artifact_id, digest, size)"
                  " SELECT $1, b.e->>0, (b.e->>1)::bigint"
                  " FROM jsonb_array_elements($2::jsonb) AS b(e)"
                  " ON CONFLICT DO NOTHING", 2, aid, blobs_s) < 0)
    {
        goto fail;
    }

    rc = 1;
    goto done;

nomem:

    log_warnx("%s@%s: out of memory", name, digest);
    db->err = DB_ERR;

fail:

    rc = -1;

done:

    json_decref(attrs);
    json_decref(doc);
    json_decref(plats);
    json_decref(refs);
    json_decref(blobs);
    free(attrs_s);
    free(refs_s);
    free(blobs_s);
    hb_manifest_free(&m);
    free(body);

    return rc;
}


/*
 * The tag's row set to what its link in storage says: removed if there is
 * none, else pointing at that artifact (made from storage if need be).
 * time: the event's, NULL for the link's mtime; pushed: a push of this
 * tag (its push_time moves forward even when the artifact is the same).
 * 0, or -1 on a database error.
 */
int
tag_sync(struct dbc *db, long long repo_id, const char *name,
    const char *tag, const char *time, int pushed)
{
    char       rid[32], aid[32], mtime_s[32], digest[HB_DIGEST_MAX + 1];
    long long  art;
    time_t     mtime;
    int        rc;

    snprintf(rid, sizeof(rid), "%lld", repo_id);

    rc = store_tag(name, tag, digest, sizeof(digest), &mtime);

    if (rc == STORE_OK) {
        rc = artifact_import(db, repo_id, name, digest, NULL, 0, &art);
        if (rc < 0) {
            return -1;
        }
    }

    if (rc != STORE_OK) {
        return db_cmd(db, "DELETE FROM tag WHERE repository_id = $1"
                      " AND name = $2", 2, rid, tag) < 0 ? -1 : 0;
    }

    snprintf(aid, sizeof(aid), "%lld", art);
    snprintf(mtime_s, sizeof(mtime_s), "%lld", (long long) mtime);

    return db_cmd(db, "INSERT INTO tag (repository_id, artifact_id, name,"
                  " push_time) VALUES ($1, $2, $3,"
                  " COALESCE($4::timestamptz, to_timestamp($5::bigint)))"
                  " ON CONFLICT (repository_id, name) DO UPDATE SET"
                  " artifact_id = EXCLUDED.artifact_id,"
                  " push_time = CASE"
                  " WHEN tag.artifact_id <> EXCLUDED.artifact_id"
                  " THEN EXCLUDED.push_time"
                  " WHEN $6::boolean"
                  " THEN GREATEST(tag.push_time, EXCLUDED.push_time)"
                  " ELSE tag.push_time END,"
                  " pull_time = CASE"
                  " WHEN tag.artifact_id <> EXCLUDED.artifact_id"
                  " THEN NULL ELSE tag.pull_time END",
                  6, rid, aid, tag, time, mtime_s, pushed ? "t" : "f") < 0
           ? -1 : 0;
}


/* The artifact's row goes (its tags, references and blobs with it). */
int
artifact_forget(struct dbc *db, long long repo_id, const char *digest)
{
    char  rid[32];

    snprintf(rid, sizeof(rid), "%lld", repo_id);

    return db_cmd(db, "DELETE FROM artifact WHERE repository_id = $1"
                  " AND digest = $2", 2, rid, digest) < 0 ? -1 : 0;
}
