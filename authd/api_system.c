/*
 * authd: /api/v2.0/ping, /health, /systeminfo and /api/version.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "authd.h"


void
api_ping(struct req *r)
{
    http_text(r, 200, "text/plain; charset=utf-8", "Pong");
}


/* OverallHealthStatus; 200 either way, as Harbor answers */
void
api_health(struct req *r)
{
    json_t  *comps;
    int      ok;

    ok = http_db(r) != NULL && db_ping(r->db) == 0;

    /* http_db() may have written a 503: this answer replaces it */
    comps = json_pack("[{s:s, s:s}]", "name", "core", "status", "healthy");

    if (ok) {
        json_array_append_new(comps, json_pack("{s:s, s:s}",
                              "name", "database", "status", "healthy"));
    } else {
        json_array_append_new(comps, json_pack("{s:s, s:s, s:s}",
                              "name", "database", "status", "unhealthy",
                              "error", "the database is unavailable"));
    }

    http_json(r, 200, json_pack("{s:s, s:o}",
                                "status", ok ? "healthy" : "unhealthy",
                                "components", comps));
}


/* GeneralInfo; anonymous callers get what the login page needs only */
void
api_systeminfo(struct req *r)
{
    json_t     *j, *more;
    char        now[32], *ext;
    struct tm   tm;
    time_t      t;

    j = json_pack("{s:s, s:b, s:b, s:s}",
                  "auth_mode",
                  conf->auth_mode == AUTH_MODE_LDAP ? "ldap_auth" : "db_auth",
                  "primary_auth_mode", 0,
                  "self_registration",
                  conf->self_registration && conf->auth_mode == AUTH_MODE_DB,
                  "banner_message", "");

    if (r->user.id != 0) {
        t = time(NULL);
        gmtime_r(&t, &tm);
        strftime(now, sizeof(now), "%Y-%m-%dT%H:%M:%SZ", &tm);

        ext = conf->external_url != NULL
              ? req_strdup(r, conf->external_url)
              : req_printf(r, "http://%s", conf->hostname);

        more = json_pack("{s:s, s:s, s:s, s:s, s:b, s:s,"
                                        " s:s, s:b, s:b, s:b}",
            "current_time", now,
            "registry_url", conf->hostname,
            "external_url", ext != NULL ? ext : "",
            "project_creation_restriction",
            conf->creation_restriction == CREATE_ADMINONLY
            ? "adminonly" : "everyone",
            "has_ca_root", 0,
            "harbor_version", AUTHD_HARBOR_VERSION,
            "registry_storage_provider_name", "filesystem",
            "read_only", 0,
            "with_chartmuseum", 0,
            "notification_enable", 0);

        if (more != NULL) {
            json_object_update(j, more);
            json_decref(more);
        }
    }

    http_json(r, 200, j);
}


/*
 * GET /api/version: the API's version, as Harbor 2.x answers it to
 * anyone.  Harbor's replication adapter asks first: an answer makes it
 * speak /api/v2.0, a 404 the old /api of Harbor 1.x.
 */
void
api_version(struct req *r)
{
    http_json(r, 200, json_pack("{s:s}", "version", "v2.0"));
}


