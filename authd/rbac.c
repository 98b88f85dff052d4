/*
 * authd: the one role x action table.
 *
 * The token service, the REST API and the tests (through "authd -R")
 * all read this table; nothing else decides what a role may do.
 * System administrators may do everything, the registry catalog
 * included.  "public" is what anyone, anonymous included, may do in a
 * public project without being a member.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "authd.h"


#define PA   RBAC_ROLE(ROLE_PROJECT_ADMIN)
#define MA   RBAC_ROLE(ROLE_MAINTAINER)
#define DE   RBAC_ROLE(ROLE_DEVELOPER)
#define GU   RBAC_ROLE(ROLE_GUEST)
#define LG   RBAC_ROLE(ROLE_LIMITED_GUEST)

static const struct rbac_rule  rbac_rules[] = {
    /* resource      action     roles                    public */
    { "repository", "pull",    PA | MA | DE | GU | LG,  1 },
    { "repository", "push",    PA | MA | DE,            0 },
    { "repository", "delete",  PA | MA,                 0 },
    { "project",    "read",    PA | MA | DE | GU | LG,  1 },
    { "project",    "update",  PA,                      0 },
    { "project",    "delete",  PA,                      0 },
    { "member",     "read",    PA | MA | DE | GU,       0 },
    { "member",     "create",  PA,                      0 },
    { "member",     "update",  PA,                      0 },
    { "member",     "delete",  PA,                      0 },

    /* the API on repositories, artifacts and tags (Harbor's table) */
    { "repository", "list",    PA | MA | DE | GU | LG,  1 },
    { "repository", "read",    PA | MA | DE | GU,       1 },
    { "repository", "update",  PA | MA | DE,            0 },
    { "artifact",   "list",    PA | MA | DE | GU | LG,  1 },
    { "artifact",   "read",    PA | MA | DE | GU | LG,  1 },
    { "artifact",   "delete",  PA | MA,                 0 },
    { "tag",        "list",    PA | MA | DE | GU | LG,  1 },
    { "tag",        "create",  PA | MA | DE,            0 },
    { "tag",        "delete",  PA | MA,                 0 },

    /* a project's audit log: its administrators (Harbor: all members) */
    { "log",        "list",    PA,                      0 },

    /* robot accounts of a project (api_robots.c): Harbor's table */
    { "robot",      "create",  PA,                      0 },
    { "robot",      "update",  PA,                      0 },
    { "robot",      "delete",  PA,                      0 },
    { "robot",      "read",    PA | MA | DE | GU,       0 },
    { "robot",      "list",    PA | MA | DE | GU,       0 },

    /* immutable tag rules (api_immutable.c): Harbor's table */
    { "immutable-tag", "list",   PA | MA | DE | GU,     0 },
    { "immutable-tag", "create", PA | MA,               0 },
    { "immutable-tag", "update", PA | MA,               0 },
    { "immutable-tag", "delete", PA | MA,               0 },

    /* tag retention (api_retention.c): admins and maintainers run it */
    { "tag-retention", "read",    PA | MA | DE | GU,    0 },
    { "tag-retention", "list",    PA | MA | DE | GU,    0 },
    { "tag-retention", "create",  PA | MA,              0 },
    { "tag-retention", "update",  PA | MA,              0 },
    { "tag-retention", "delete",  PA | MA,              0 },
    { "tag-retention", "operate", PA | MA,              0 },
};

/* beyond projects: system administrators only */
static const struct {
    const char  *type;
    const char  *name;
    const char  *action;
} rbac_system[] = {
    { "registry", "catalog", "*" },
};

static const char  *rbac_names[ROLE_MAX + 1] = {
    NULL,
    "projectAdmin",
    "developer",
    "guest",
    "maintainer",
    "limitedGuest",
};


const char *
rbac_role_name(int role)
{
    return rbac_role_valid(role) ? rbac_names[role] : "none";
}


int
rbac_role_valid(int role)
{
    return role >= 1 && role <= ROLE_MAX;
}


int
rbac_allowed(unsigned roles, int sysadmin, int is_public,
    const char *resource, const char *action)
{
    size_t  i;

    for (i = 0; i < nitems(rbac_rules); i++) {
        if (strcmp(rbac_rules[i].resource, resource) == 0
            && strcmp(rbac_rules[i].action, action) == 0)
        {
            return sysadmin
                   || (rbac_rules[i].roles & roles) != 0
                   || (is_public && rbac_rules[i].public);
        }
    }

    /* an action the table does not know is nobody's */
    return 0;
}


/* "1,4" (from SQL string_agg) to a role mask */
unsigned
rbac_roles_parse(const char *list)
{
    unsigned  mask;
    long      r;
    char     *end;

    mask = 0;

    while (list != NULL && *list) {
        r = strtol(list, &end, 10);
        if (end == list) {
            break;
        }
        if (rbac_role_valid((int) r)) {
            mask |= RBAC_ROLE(r);
        }
        list = (*end == ',') ? end + 1 : end;
    }

    return mask;
}


/* Harbor's current_user_role_id: the strongest role held */
int
rbac_best_role(unsigned roles)
{
    static const int  order[] = {
        ROLE_PROJECT_ADMIN, ROLE_MAINTAINER, ROLE_DEVELOPER, ROLE_GUEST,
        ROLE_LIMITED_GUEST
    };
    size_t  i;

    for (i = 0; i < nitems(order); i++) {
        if (roles & RBAC_ROLE(order[i])) {
            return order[i];
        }
    }

    return 0;
}


/* The table as JSON, for "authd -R" and the tests built on it. */
json_t *
rbac_table(void)
{
    json_t  *t, *roles, *rules, *rl, *sys;
    size_t   i;
    int      r;

    t = json_object();
    roles = json_array();
    rules = json_array();
    sys = json_array();

    if (t == NULL || roles == NULL || rules == NULL || sys == NULL) {
        goto fail;
    }

    for (r = 1; r <= ROLE_MAX; r++) {
        json_array_append_new(roles, json_pack("{s:i, s:s}", "role_id", r,
                                               "name", rbac_names[r]));
    }

    for (i = 0; i < nitems(rbac_rules); i++) {
        rl = json_array();
        for (r = 1; r <= ROLE_MAX; r++) {
            if (rbac_rules[i].roles & RBAC_ROLE(r)) {
                json_array_append_new(rl, json_string(rbac_names[r]));
            }
        }

        json_array_append_new(rules,
            json_pack("{s:s, s:s, s:o, s:b}",
                      "resource", rbac_rules[i].resource,
                      "action", rbac_rules[i].action,
                      "roles", rl,
                      "public", rbac_rules[i].public));
    }

    for (i = 0; i < nitems(rbac_system); i++) {
        json_array_append_new(sys,
            json_pack("{s:s, s:s, s:s}", "type", rbac_system[i].type,
                      "name", rbac_system[i].name,
                      "action", rbac_system[i].action));
    }

    json_object_set_new(t, "roles", roles);
    json_object_set_new(t, "rules", rules);
    json_object_set_new(t, "sysadmin_only", sys);
    json_object_set_new(t, "sysadmin", json_string("every rule"));

    return t;

fail:

    json_decref(t);
    json_decref(roles);
    json_decref(rules);
    json_decref(sys);

    return NULL;
}
