/*
 * authd: artifacts and tags of a repository.
 *
 *   /projects/{p}/repositories/{r}/artifacts                  GET
 *   /projects/{p}/repositories/{r}/artifacts/{reference}      GET, DELETE
 *   /projects/{p}/repositories/{r}/artifacts/{reference}/tags GET, POST
 *   /projects/{p}/repositories/{r}/artifacts/{reference}/tags/{tag} DELETE
 *
 * {reference} is a digest or a tag.  Everything is looked up through the
 * project of the path, then the repository in it, then the artifact in
 * that repository; a name or digest of another project is 404.
 *
 * Deleting and tagging are /v2 requests authd makes to nginx (see
 * registry.c): the module is the one implementation that changes
 * storage and it writes the journal line (with the API caller as the
 * user) from which the audit log and the rows follow.  The rows are also
 * brought up to date at once, the same idempotent way the journal does,
 * so that the caller's next GET sees the change.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "authd.h"
#include "harbor_grammar.h"


struct art {
    long long   id;
    char        digest[HB_DIGEST_MAX + 1];
    char        media_type[256];
};

#define ARTIFACT_COLUMNS                                                    \
    "a.id, a.type, a.media_type, a.manifest_media_type, a.artifact_type,"   \
    " r.project_id, a.repository_id, r.name, a.digest, a.size, "            \
    DB_TIME("a.push_time") ", " DB_TIME("a.pull_time") ", a.pull_count,"    \
    " a.extra_attrs::text, a.annotations::text"

#define ARTIFACT_FROM                                                       \
    " FROM artifact a JOIN repository r"                                    \
    " ON r.repository_id = a.repository_id WHERE true"

static const struct qfield  art_fields[] = {
    { "digest",        "a.digest",        Q_TEXT, Q_EQ | Q_ANY, NULL },
    { "id",            "a.id",            Q_INT,  Q_EQ | Q_ANY, NULL },
    { "type",          "a.type",          Q_TEXT, Q_EQ | Q_ANY, NULL },
    { "media_type",    "a.media_type",    Q_TEXT, Q_EQ | Q_FUZZY | Q_ANY,
                                                                      NULL },
    { "manifest_media_type", "a.manifest_media_type", Q_TEXT,
                                          Q_EQ | Q_FUZZY | Q_ANY, NULL },
    { "artifact_type", "a.artifact_type", Q_TEXT, Q_EQ | Q_FUZZY | Q_ANY,
                                                                      NULL },
    { "size",          "a.size",          Q_INT,  Q_EQ | Q_RANGE, NULL },
    { "pull_count",    "a.pull_count",    Q_INT,  Q_EQ | Q_RANGE, NULL },
    { "push_time",     "a.push_time",     Q_TIME, Q_EQ | Q_RANGE, NULL },
    { "pull_time",     "a.pull_time",     Q_TIME, Q_EQ | Q_RANGE, NULL },
    { "tags",          "t.name",          Q_TEXT,
      Q_EQ | Q_FUZZY | Q_ANY | Q_ALL,
      "EXISTS (SELECT 1 FROM tag t WHERE t.artifact_id = a.id AND %s)" },
    { "labels",        "al.label_id",     Q_INT,  Q_EQ | Q_ANY | Q_ALL,
      "EXISTS (SELECT 1 FROM artifact_label al"
      " WHERE al.artifact_id = a.id AND %s)" },
};

static const struct qsort  art_sort[] = {
    { "push_time",   "a.push_time" },
    { "pull_time",   "a.pull_time" },
    { "size",        "a.size" },
    { "digest",      "a.digest" },
    { "id",          "a.id" },
    { "pull_count",  "a.pull_count" },
    { "type",        "a.type" },
    { "media_type",  "a.media_type" },
};

static const struct qfield  tag_fields[] = {
    { "name",       "t.name",      Q_TEXT, Q_EQ | Q_FUZZY | Q_ANY, NULL },
    { "id",         "t.id",        Q_INT,  Q_EQ | Q_ANY, NULL },
    { "push_time",  "t.push_time", Q_TIME, Q_EQ | Q_RANGE, NULL },
    { "pull_time",  "t.pull_time", Q_TIME, Q_EQ | Q_RANGE, NULL },
};

static const struct qsort  tag_sort[] = {
    { "name",       "t.name" },
    { "id",         "t.id" },
    { "push_time",  "t.push_time" },
    { "pull_time",  "t.pull_time" },
};


static json_t *
art_json_text(const char *s, int empty_object)
{
    json_t  *j;

    j = s != NULL ? json_loads(s, 0, NULL) : NULL;

    if (j == NULL) {
        j = empty_object ? json_object() : json_null();
    }

    return j;
}


static json_t *
tag_json(PGresult *res, int row)
{
    return json_pack("{s:I, s:I, s:I, s:s, s:o, s:o, s:b, s:b}",
                     "id", (json_int_t) db_ll(res, row, 0),
                     "repository_id", (json_int_t) db_ll(res, row, 1),
                     "artifact_id", (json_int_t) db_ll(res, row, 2),
                     "name", db_s(res, row, 3),
                     "push_time", db_json_s(res, row, 4),
                     "pull_time", db_json_s(res, row, 5),
                     "immutable", 0,
                     "signed", 0);
}

#define TAG_COLUMNS                                                         \
    "t.id, t.repository_id, t.artifact_id, t.name, "                        \
    DB_TIME("t.push_time") ", " DB_TIME("t.pull_time")


static const char *
accessory_type(const char *artifact_type)
{
    if (artifact_type == NULL) {
        return "subject.accessory";
    }

    if (strcmp(artifact_type, "application/vnd.dev.cosign.artifact.sig.v1"
                              "+json") == 0)
    {
        return "signature.cosign";
    }

    if (strcmp(artifact_type, "application/vnd.cncf.notary.signature") == 0) {
        return "signature.notation";
    }

    return "subject.accessory";
}


/* the json_t of id in the list (ids[i] is list[i]'s id) */
static json_t *
art_by_id(json_t *list, const long long *ids, int n, long long id)
{
    int  i;

    for (i = 0; i < n; i++) {
        if (ids[i] == id) {
            return json_array_get(list, (size_t) i);
        }
    }

    return NULL;
}


/*
 * The artifacts of res (ARTIFACT_COLUMNS) as Harbor's Artifact objects,
 * with their tags, references and (with_accessory) accessories.  NULL
 * with the answer sent on a database error.
 */
static json_t *
art_list_json(struct req *r, PGresult *res, int with_tag, int with_accessory)
{
    json_t      *list, *a, *arr, *o;
    long long   *ids;
    char        *idarr;
    PGresult    *sub;
    int          n, i;

    n = PQntuples(res);
    list = json_array();
    ids = req_alloc(r, sizeof(long long) * (size_t) (n + 1));
    if (list == NULL || ids == NULL) {
        json_decref(list);
        http_error(r, 500, "out of memory");
        return NULL;
    }

    for (i = 0; i < n; i++) {
        ids[i] = db_ll(res, i, 0);
        a = json_pack("{s:I, s:s, s:s, s:s, s:s, s:I, s:I, s:s, s:s, s:I,"
                      " s:o, s:o, s:I, s:o, s:o, s:n}",
                      "id", (json_int_t) ids[i],
                      "type", db_s(res, i, 1),
                      "media_type", db_s(res, i, 2),
                      "manifest_media_type", db_s(res, i, 3),
                      "artifact_type", db_s(res, i, 4),
                      "project_id", (json_int_t) db_ll(res, i, 5),
                      "repository_id", (json_int_t) db_ll(res, i, 6),
                      "repository_name", db_s(res, i, 7),
                      "digest", db_s(res, i, 8),
                      "size", (json_int_t) db_ll(res, i, 9),
                      "push_time", db_json_s(res, i, 10),
                      "pull_time", db_json_s(res, i, 11),
                      "pull_count", (json_int_t) db_ll(res, i, 12),
                      "extra_attrs", art_json_text(db_s(res, i, 13), 1),
                      "annotations", art_json_text(db_s(res, i, 14), 0),
                      "labels");
        if (with_tag) {
            json_object_set_new(a, "tags", json_null());
        }
        json_array_append_new(list, a);
    }

    if (n == 0) {
        return list;
    }

    idarr = db_id_array(ids, n);
    if (idarr == NULL) {
        json_decref(list);
        http_error(r, 500, "out of memory");
        return NULL;
    }

    if (with_tag) {
        sub = db_execv(r->db, "SELECT " TAG_COLUMNS " FROM tag t"
                       " WHERE t.artifact_id = ANY($1::integer[])"
                       " ORDER BY t.name", 1, idarr);
        if (sub == NULL) {
            goto fail;
        }

        for (i = 0; i < PQntuples(sub); i++) {
            a = art_by_id(list, ids, n, db_ll(sub, i, 2));
            arr = json_object_get(a, "tags");
            if (!json_is_array(arr)) {
                arr = json_array();
                json_object_set_new(a, "tags", arr);
            }
            json_array_append_new(arr, tag_json(sub, i));
        }
        PQclear(sub);
    }

    sub = db_execv(r->db, "SELECT ar.parent_id, c.id, ar.child_digest,"
                   " ar.platform::text, ar.annotations::text"
                   " FROM artifact_reference ar"
                   " JOIN artifact pa ON pa.id = ar.parent_id"
                   " LEFT JOIN artifact c ON c.repository_id ="
                   " pa.repository_id AND c.digest = ar.child_digest"
                   " WHERE ar.parent_id = ANY($1::integer[])"
                   " ORDER BY ar.id", 1, idarr);
    if (sub == NULL) {
        goto fail;
    }

    for (i = 0; i < PQntuples(sub); i++) {
        a = art_by_id(list, ids, n, db_ll(sub, i, 0));
        arr = json_object_get(a, "references");
        if (arr == NULL) {
            arr = json_array();
            json_object_set_new(a, "references", arr);
        }
        o = json_pack("{s:I, s:o, s:s, s:o}",
                      "parent_id", (json_int_t) db_ll(sub, i, 0),
                      "child_id", PQgetisnull(sub, i, 1) ? json_null()
                                  : json_integer(db_ll(sub, i, 1)),
                      "child_digest", db_s(sub, i, 2),
                      "platform", art_json_text(db_s(sub, i, 3), 0));
        if (db_s(sub, i, 4) != NULL) {
            json_object_set_new(o, "annotations",
                                art_json_text(db_s(sub, i, 4), 0));
        }
        json_array_append_new(arr, o);
    }
    PQclear(sub);

    /* labels: null without any, as Harbor shows them */
    sub = label_of_artifacts(r->db, idarr);
    if (sub == NULL) {
        goto fail;
    }

    for (i = 0; i < PQntuples(sub); i++) {
        a = art_by_id(list, ids, n, db_ll(sub, i, 0));
        arr = json_object_get(a, "labels");
        if (!json_is_array(arr)) {
            arr = json_array();
            json_object_set_new(a, "labels", arr);
        }
        json_array_append_new(arr, label_artifact_json(sub, i));
    }
    PQclear(sub);

    if (with_accessory) {
        for (i = 0; i < n; i++) {
            json_object_set_new(json_array_get(list, (size_t) i),
                                "accessories", json_array());
        }

        sub = db_execv(r->db, "SELECT s.id, acc.id, acc.digest, acc.size,"
                       " acc.artifact_type, s.digest, r.name, "
                       DB_TIME("acc.push_time")
                       " FROM artifact acc JOIN artifact s"
                       " ON s.repository_id = acc.repository_id"
                       " AND s.digest = acc.subject_digest"
                       " JOIN repository r"
                       " ON r.repository_id = s.repository_id"
                       " WHERE s.id = ANY($1::integer[]) ORDER BY acc.id",
                       1, idarr);
        if (sub == NULL) {
            goto fail;
        }

        for (i = 0; i < PQntuples(sub); i++) {
            a = art_by_id(list, ids, n, db_ll(sub, i, 0));
            json_array_append_new(json_object_get(a, "accessories"),
                json_pack("{s:I, s:I, s:I, s:s, s:s, s:I, s:s, s:s, s:o}",
                          "id", (json_int_t) db_ll(sub, i, 1),
                          "artifact_id", (json_int_t) db_ll(sub, i, 1),
                          "subject_artifact_id",
                          (json_int_t) db_ll(sub, i, 0),
                          "subject_artifact_digest", db_s(sub, i, 5),
                          "subject_artifact_repo", db_s(sub, i, 6),
                          "size", (json_int_t) db_ll(sub, i, 3),
                          "digest", db_s(sub, i, 2),
                          "type", accessory_type(db_s(sub, i, 4)),
                          "creation_time", db_json_s(sub, i, 7)));
        }
        PQclear(sub);
    }

    free(idarr);

    return list;

fail:

    free(idarr);
    json_decref(list);
    http_db_error(r);

    return NULL;
}


/*
 * The artifact {reference} (a digest or a tag) of the repository: 0 with
 * *a, or -1 with 400/404 sent.
 */
static int
art_resolve(struct req *r, struct repo *rp, const char *ref, struct art *a)
{
    PGresult  *res;
    char       rid[32];
    size_t     len;

    memset(a, 0, sizeof(*a));
    snprintf(rid, sizeof(rid), "%lld", rp->id);
    len = strlen(ref);

    if (hb_digest_parse((const unsigned char *) ref, len) != HB_DIGEST_NONE) {
        res = db_execv(r->db, "SELECT a.id, a.digest, a.manifest_media_type"
                       " FROM artifact a WHERE a.repository_id = $1"
                       " AND a.digest = $2", 2, rid, ref);

    } else if (hb_tag_valid((const unsigned char *) ref, len)) {
        res = db_execv(r->db, "SELECT a.id, a.digest, a.manifest_media_type"
                       " FROM artifact a JOIN tag t ON t.artifact_id = a.id"
                       " WHERE t.repository_id = $1 AND t.name = $2", 2, rid,
                       ref);

    } else {
        http_error(r, 400, "invalid reference \"%.100s\": a digest or a tag",
                   ref);
        return -1;
    }

    if (res == NULL) {
        http_db_error(r);
        return -1;
    }

    if (PQntuples(res) != 1) {
        PQclear(res);
        http_error(r, 404, "artifact %s:%.140s not found", rp->name, ref);
        return -1;
    }

    a->id = db_ll(res, 0, 0);
    snprintf(a->digest, sizeof(a->digest), "%s", db_s(res, 0, 1));
    snprintf(a->media_type, sizeof(a->media_type), "%s", db_s(res, 0, 2));
    PQclear(res);

    return 0;
}


/* project, permission, repository and (seg 7) artifact of the path */
static int
art_path(struct req *r, struct project *p, const char *resource,
    const char *action, struct repo *rp, struct art *a)
{
    if (project_load(r, r->seg[3], p) != 0
        || !project_can(r, p, resource, action)
        || repo_load(r, p, r->seg[5], rp) != 0)
    {
        return -1;
    }

    if (a != NULL && art_resolve(r, rp, r->seg[7], a) != 0) {
        return -1;
    }

    return 0;
}


/* GET .../artifacts */
void
api_artifacts(struct req *r)
{
    struct project   p;
    struct repo      rp;
    struct qitem     items[Q_ITEMS_MAX], *it;
    struct qsql      s;
    PGresult        *res;
    const char      *order;
    json_t          *list;
    char            *v;
    long             page, page_size;
    int              n, i, a, with_tag, with_acc, base;

    if (art_path(r, &p, "artifact", "list", &rp, NULL) != 0
        || http_page(r, &page, &page_size) != 0
        || http_bool_arg(r, "with_tag", 1, &with_tag) != 0
        || http_bool_arg(r, "with_accessory", 0, &with_acc) != 0
        || q_parse(r, http_arg(r, "q"), items, &n) != 0)
    {
        return;
    }

    q_init(&s, r);

    v = req_printf(r, "%lld", rp.id);
    a = v != NULL ? q_param(&s, v) : -1;
    if (a < 0 || q_add(&s, "a.repository_id = $%d::integer", a) != 0) {
        return;
    }

    /* Harbor's base=*: every artifact, children and accessories too */
    base = 0;
    it = q_take(items, n, "base");
    if (it != NULL) {
        if (it->op != Q_EQ || strcmp(it->v[0], "*") != 0) {
            http_error(r, 400, "q: the value of \"base\" can only be *");
            return;
        }
        base = 1;
    }

    if (!base && q_add(&s, "%s", ARTIFACT_TOP_LEVEL("a")) != 0) {
        return;
    }

    /* tags=* tagged, tags=nil untagged; other values match names */
    for (i = 0; i < n; i++) {
        if (strcmp(items[i].key, "tags") == 0 && items[i].op == Q_EQ
            && (strcmp(items[i].v[0], "*") == 0
                || strcmp(items[i].v[0], "nil") == 0))
        {
            items[i].used = 1;
            if (q_add(&s, "%sEXISTS (SELECT 1 FROM tag t"
                      " WHERE t.artifact_id = a.id)",
                      items[i].v[0][0] == 'n' ? "NOT " : "") != 0)
            {
                return;
            }
        }
    }

    if (q_where(&s, items, n, art_fields, nitems(art_fields)) != 0) {
        return;
    }

    order = q_order(r, http_arg(r, "sort"), art_sort, nitems(art_sort),
                    "a.push_time DESC");
    if (order == NULL) {
        return;
    }

    order = req_printf(r, "%s, a.id DESC", order);

    if (q_list(r, &s, "SELECT count(*) FROM artifact a WHERE true",
               "SELECT " ARTIFACT_COLUMNS ARTIFACT_FROM, order, page,
               page_size, &res) != 0)
    {
        return;
    }

    list = art_list_json(r, res, with_tag, with_acc);
    PQclear(res);

    if (list != NULL) {
        http_json(r, 200, list);
    }
}


static void
art_get(struct req *r, struct art *a)
{
    PGresult  *res;
    json_t    *list;
    char       id[32];
    int        with_tag, with_acc;

    if (http_bool_arg(r, "with_tag", 1, &with_tag) != 0
        || http_bool_arg(r, "with_accessory", 0, &with_acc) != 0)
    {
        return;
    }

    snprintf(id, sizeof(id), "%lld", a->id);

    res = db_execv(r->db, "SELECT " ARTIFACT_COLUMNS ARTIFACT_FROM
                   " AND a.id = $1", 1, id);
    if (res == NULL) {
        http_db_error(r);
        return;
    }

    list = art_list_json(r, res, with_tag, with_acc);
    PQclear(res);

    if (list == NULL) {
        return;
    }

    if (json_array_size(list) != 1) {
        json_decref(list);
        http_error(r, 404, "artifact not found");
        return;
    }

    http_json(r, 200, json_incref(json_array_get(list, 0)));
    json_decref(list);
}


/* the answer for a /v2 request that failed: 503 unreachable, else 502 */
static void
art_registry_error(struct req *r, int status, const char *what,
    const char *err)
{
    const char  *m;

    /* the registry's refusal (an immutable tag): the client's, as is */
    m = strstr(err, "412: ");
    if (status == 412 && m != NULL) {
        http_error(r, 412, "%s", m + 5);
        return;
    }

    http_error(r, status < 0 ? 503 : 502, "%s: %s", what, err);
}


/*
 * DELETE .../artifacts/{reference}: the manifest through /v2; for an
 * index, its children that nothing else keeps (no tag, no other index
 * of the repository); and the accessories of all of them.  A child of an
 * index is refused: delete the index.
 */
static void
art_delete(struct req *r, struct project *p, struct repo *rp, struct art *a)
{
    PGresult    *res;
    char         rid[32], aid[32], err[REG_ERR_MAX];
    char       **d;
    int          n, i, status;

    (void) p;

    if (!registry_enabled()) {
        http_error(r, 503, "deleting needs authd.registry_url, the nginx "
                   "that serves /v2");
        return;
    }

    snprintf(rid, sizeof(rid), "%lld", rp->id);
    snprintf(aid, sizeof(aid), "%lld", a->id);

    res = db_execv(r->db, "SELECT pa.digest FROM artifact_reference ar"
                   " JOIN artifact pa ON pa.id = ar.parent_id"
                   " WHERE pa.repository_id = $1 AND ar.child_digest = $2"
                   " LIMIT 1", 2, rid, a->digest);
    if (res == NULL) {
        http_db_error(r);
        return;
    }

    if (PQntuples(res) > 0) {
        http_error(r, 412, "artifact %s@%s is referenced by the index %s: "
                   "delete the index instead", rp->name, a->digest,
                   db_s(res, 0, 0));
        PQclear(res);
        return;
    }
    PQclear(res);

    /* the artifact, its unkept children, then accessories of those */
    res = db_execv(r->db,
                   "WITH dead AS (SELECT $2::text AS digest UNION"
                   " SELECT ar.child_digest FROM artifact_reference ar"
                   " WHERE ar.parent_id = $3::integer"
                   " AND NOT EXISTS (SELECT 1 FROM tag t JOIN artifact c"
                   " ON c.id = t.artifact_id WHERE c.repository_id ="
                   " $1::integer AND c.digest = ar.child_digest)"
                   " AND NOT EXISTS (SELECT 1 FROM artifact_reference o"
                   " JOIN artifact op ON op.id = o.parent_id"
                   " WHERE op.repository_id = $1::integer"
                   " AND o.child_digest = ar.child_digest"
                   " AND o.parent_id <> $3::integer))"
                   " SELECT digest, 0 FROM dead UNION"
                   " SELECT acc.digest, 1 FROM artifact acc"
                   " WHERE acc.repository_id = $1::integer"
                   " AND acc.subject_digest IN (SELECT digest FROM dead)"
                   " ORDER BY 2, 1", 3, rid, a->digest, aid);
    if (res == NULL) {
        http_db_error(r);
        return;
    }

    n = PQntuples(res);
    d = req_alloc(r, sizeof(char *) * (size_t) (n + 1));
    if (d == NULL) {
        PQclear(res);
        http_error(r, 500, "out of memory");
        return;
    }

    /* the artifact first, so that a failure leaves nothing half done */
    d[0] = req_strdup(r, a->digest);
    for (i = 0, n = 1; i < PQntuples(res); i++) {
        if (strcmp(db_s(res, i, 0), a->digest) != 0) {
            d[n++] = req_strdup(r, db_s(res, i, 0));
        }
    }
    PQclear(res);

    db_put(r->db);
    r->db = NULL;

    for (i = 0; i < n; i++) {
        if (d[i] == NULL) {
            continue;
        }

        status = registry_delete(r->user.name, rp->name, d[i], err,
                                 sizeof(err));

        /* gone already: what is wanted */
        if (status == 404) {
            continue;
        }

        if (status != 202) {
            art_registry_error(r, status, "deleting the manifest", err);
            return;
        }
    }

    if (http_db(r) == NULL) {
        return;
    }

    meta_lock();
    status = db_begin(r->db);
    for (i = 0; status == 0 && i < n; i++) {
        if (d[i] != NULL) {
            status = artifact_forget(r->db, rp->id, d[i]);
        }
    }
    status = status == 0 ? db_commit(r->db) : -1;
    if (status != 0) {
        db_rollback(r->db);
    }
    meta_unlock();

    if (status != 0) {
        /* storage changed; the journal brings the rows along */
        log_warnx("artifact %s@%s deleted; its rows follow from the "
                  "journal", rp->name, a->digest);
    }

    log_info("user \"%s\" deleted %s@%s (%d manifests)", r->user.name,
             rp->name, a->digest, n);

    http_text(r, 200, NULL, "");
}


/* GET, DELETE .../artifacts/{reference} */
void
api_artifact(struct req *r)
{
    struct project  p;
    struct repo     rp;
    struct art      a;

    if (art_path(r, &p, "artifact",
                 r->method == M_DELETE ? "delete" : "read", &rp, &a) != 0)
    {
        return;
    }

    if (r->method == M_DELETE) {
        art_delete(r, &p, &rp, &a);
    } else {
        art_get(r, &a);
    }
}


static void
tags_list(struct req *r, struct art *a)
{
    struct qitem   items[Q_ITEMS_MAX];
    struct qsql    s;
    PGresult      *res;
    const char    *order;
    json_t        *list;
    char          *v;
    long           page, page_size;
    int            n, i, k;

    if (http_page(r, &page, &page_size) != 0
        || q_parse(r, http_arg(r, "q"), items, &n) != 0)
    {
        return;
    }

    q_init(&s, r);

    v = req_printf(r, "%lld", a->id);
    k = v != NULL ? q_param(&s, v) : -1;
    if (k < 0 || q_add(&s, "t.artifact_id = $%d::integer", k) != 0
        || q_where(&s, items, n, tag_fields, nitems(tag_fields)) != 0)
    {
        return;
    }

    order = q_order(r, http_arg(r, "sort"), tag_sort, nitems(tag_sort),
                    "t.name ASC");
    if (order == NULL) {
        return;
    }

    order = req_printf(r, "%s, t.id", order);

    if (q_list(r, &s, "SELECT count(*) FROM tag t WHERE true",
               "SELECT " TAG_COLUMNS " FROM tag t WHERE true", order, page,
               page_size, &res) != 0)
    {
        return;
    }

    list = json_array();
    for (i = 0; i < PQntuples(res); i++) {
        json_array_append_new(list, tag_json(res, i));
    }
    PQclear(res);

    http_json(r, 200, list);
}


/*
 * POST .../tags {name}: the manifest's bytes, from storage, PUT through
 * /v2 under the new tag.  A tag the repository has already is a 409.
 */
static void
tags_create(struct req *r, struct project *p, struct repo *rp, struct art *a)
{
    json_t      *body;
    PGresult    *res;
    const char  *name, *mt;
    char         rid[32], digest[HB_DIGEST_MAX + 1], err[REG_ERR_MAX];
    char        *manifest, *loc, *enc;
    size_t       len;
    long long    repo_id;
    int          status, taken;

    (void) p;

    body = http_body_json(r);
    if (body == NULL) {
        return;
    }

    manifest = NULL;

    if (body_str(r, body, "name", &name, HB_TAG_MAX) < 0) {
        goto done;
    }

    if (name == NULL || !hb_tag_valid((const unsigned char *) name,
                                      strlen(name)))
    {
        http_error(r, 400, "invalid tag name: up to 128 letters, digits, "
                   "_ . and -, not starting with . or -");
        goto done;
    }

    if (!registry_enabled()) {
        http_error(r, 503, "tagging needs authd.registry_url, the nginx "
                   "that serves /v2");
        goto done;
    }

    snprintf(rid, sizeof(rid), "%lld", rp->id);

    res = db_execv(r->db, "SELECT 1 FROM tag WHERE repository_id = $1"
                   " AND name = $2", 2, rid, name);
    if (res == NULL) {
        http_db_error(r);
        goto done;
    }
    taken = PQntuples(res) > 0;
    PQclear(res);

    if (taken || store_tag(rp->name, name, digest, sizeof(digest), NULL)
                 == STORE_OK)
    {
        http_error(r, 409, "the tag %s already exists in %s", name,
                   rp->name);
        goto done;
    }

    if (store_blob(a->digest, HB_MANIFEST_MAX, &manifest, &len)
        != STORE_OK)
    {
        http_error(r, 404, "the manifest of %s@%s is not in storage",
                   rp->name, a->digest);
        goto done;
    }

    mt = a->media_type[0] ? a->media_type
         : hb_manifest_type_name(hb_manifest_sniff(manifest, len));
    if (mt == NULL) {
        http_error(r, 400, "artifact %s@%s has a manifest of an unknown "
                   "kind", rp->name, a->digest);
        goto done;
    }

    db_put(r->db);
    r->db = NULL;

    status = registry_put_manifest(r->user.name, rp->name, name, mt,
                                   manifest, len, err, sizeof(err));
    if (status != 201) {
        art_registry_error(r, status, "tagging the manifest", err);
        goto done;
    }

    if (http_db(r) == NULL) {
        goto done;
    }

    /* the row at once; the journal's push line finds it there */
    meta_lock();
    repo_id = rp->id;
    if (db_begin(r->db) != 0
        || tag_sync(r->db, repo_id, rp->name, name, NULL, 1) != 0
        || db_commit(r->db) != 0)
    {
        db_rollback(r->db);
        log_warnx("tag %s:%s made; its row follows from the journal",
                  rp->name, name);
    }
    meta_unlock();

    enc = req_strdup(r, r->seg[5]);
    loc = enc != NULL
          ? req_printf(r, "/api/v2.0/projects/%s/repositories/%s/artifacts/"
                       "%s/tags/%s", r->seg[3], enc, a->digest, name)
          : NULL;
    if (loc != NULL) {
        http_header(r, "Location", loc);
    }

    log_info("user \"%s\" tagged %s@%s as %s", r->user.name, rp->name,
             a->digest, name);

    http_text(r, 201, NULL, "");

done:

    free(manifest);
    json_decref(body);
}


/* GET, POST .../artifacts/{reference}/tags */
void
api_tags(struct req *r)
{
    struct project  p;
    struct repo     rp;
    struct art      a;

    if (art_path(r, &p, "tag", r->method == M_POST ? "create" : "list", &rp,
                 &a) != 0)
    {
        return;
    }

    if (r->method == M_POST) {
        tags_create(r, &p, &rp, &a);
    } else {
        tags_list(r, &a);
    }
}


/* DELETE .../artifacts/{reference}/tags/{tag}: through /v2 */
void
api_tag(struct req *r)
{
    struct project  p;
    struct repo     rp;
    struct art      a;
    PGresult       *res;
    const char     *tag;
    char            aid[32], err[REG_ERR_MAX];
    int             found, status;

    if (art_path(r, &p, "tag", "delete", &rp, &a) != 0) {
        return;
    }

    tag = r->seg[9];

    if (!hb_tag_valid((const unsigned char *) tag, strlen(tag))) {
        http_error(r, 404, "tag %.128s not found", tag);
        return;
    }

    snprintf(aid, sizeof(aid), "%lld", a.id);

    res = db_execv(r->db, "SELECT 1 FROM tag WHERE artifact_id = $1"
                   " AND name = $2", 2, aid, tag);
    if (res == NULL) {
        http_db_error(r);
        return;
    }
    found = PQntuples(res) == 1;
    PQclear(res);

    if (!found) {
        http_error(r, 404, "artifact %s@%s has no tag %s", rp.name,
                   a.digest, tag);
        return;
    }

    if (!registry_enabled()) {
        http_error(r, 503, "deleting needs authd.registry_url, the nginx "
                   "that serves /v2");
        return;
    }

    db_put(r->db);
    r->db = NULL;

    status = registry_delete(r->user.name, rp.name, tag, err, sizeof(err));
    if (status != 202 && status != 404) {
        art_registry_error(r, status, "deleting the tag", err);
        return;
    }

    if (http_db(r) == NULL) {
        return;
    }

    meta_lock();
    if (db_begin(r->db) != 0
        || tag_sync(r->db, rp.id, rp.name, tag, NULL, 0) != 0
        || db_commit(r->db) != 0)
    {
        db_rollback(r->db);
        log_warnx("tag %s:%s deleted; its row follows from the journal",
                  rp.name, tag);
    }
    meta_unlock();

    log_info("user \"%s\" deleted tag %s:%s", r->user.name, rp.name, tag);

    http_text(r, 200, NULL, "");
}


/*
 * POST .../artifacts/{reference}/labels {"id": n}: a global label or one
 * of this project's (another project's is a 404, as an unknown one).
 */
void
api_artifact_labels(struct req *r)
{
    struct project  p;
    struct repo     rp;
    struct art      a;
    json_t         *body;
    long long       lid;
    char            aid[32], lids[32];
    long            n;

    if (art_path(r, &p, "repository", "push", &rp, &a) != 0) {
        return;
    }

    body = http_body_json(r);
    if (body == NULL) {
        return;
    }

    lid = 0;
    if (body_int(r, body, "id", &lid) < 0) {
        goto done;
    }

    if (lid <= 0 || lid > 999999999) {
        http_error(r, 400, "\"id\" of a label is required");
        goto done;
    }

    if (label_for_project(r, lid, p.id) != 0) {
        goto done;
    }

    snprintf(aid, sizeof(aid), "%lld", a.id);
    snprintf(lids, sizeof(lids), "%lld", lid);

    n = db_cmd(r->db, "INSERT INTO artifact_label (artifact_id, label_id)"
               " VALUES ($1::integer, $2::integer) ON CONFLICT DO NOTHING",
               2, aid, lids);
    if (n < 0) {
        http_db_error(r);
        goto done;
    }

    if (n == 0) {
        http_error(r, 409, "artifact %s@%s has label %lld already", rp.name,
                   a.digest, lid);
        goto done;
    }

    audit_req(r, p.id, "create", "artifact-label", lids);
    http_json(r, 201, json_object());

done:

    json_decref(body);
}


/* DELETE .../artifacts/{reference}/labels/{id} */
void
api_artifact_label(struct req *r)
{
    struct project  p;
    struct repo     rp;
    struct art      a;
    long long       lid;
    char            aid[32], lids[32];
    long            n;

    if (art_path(r, &p, "repository", "push", &rp, &a) != 0) {
        return;
    }

    lid = http_id(r->seg[9]);
    snprintf(aid, sizeof(aid), "%lld", a.id);
    snprintf(lids, sizeof(lids), "%lld", lid);

    n = lid < 0 ? 0
        : db_cmd(r->db, "DELETE FROM artifact_label WHERE artifact_id ="
                 " $1::integer AND label_id = $2::integer", 2, aid, lids);
    if (n < 0) {
        http_db_error(r);
        return;
    }

    if (n == 0) {
        http_error(r, 404, "artifact %s@%s has no label %.32s", rp.name,
                   a.digest, r->seg[9]);
        return;
    }

    audit_req(r, p.id, "delete", "artifact-label", lids);
    http_json(r, 200, json_object());
}
