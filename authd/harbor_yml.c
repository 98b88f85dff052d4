/*
 * authd harbor-yml FILE: what conf/instance.sh takes from an admin's
 * harbor.yml (HARBOR_YML=FILE make run).  FILE is read by config.c, so
 * its errors are authd's own ("file:line: message", exit 1); what
 * instance.sh needs is printed as shell assignments, one a line, every
 * value in single quotes, for eval.
 *
 * The values go on into YAML (authd.yml) and nginx's configuration, so a
 * value is refused rather than quoted when it could not be written there
 * as it is: a control character anywhere, and in a host name or a path
 * anything but the characters those are made of.
 */

#include <stdio.h>
#include <string.h>

#include "authd.h"


/* the 62 letters and digits first: a message names what follows them */
#define ALNUM       62
#define HOST_CHARS  "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ" \
                    "0123456789.-"
#define PATH_CHARS  HOST_CHARS "/_+@"
#define URL_CHARS   PATH_CHARS ":"
#define BUCKET_CHARS  "abcdefghijklmnopqrstuvwxyz0123456789.-"


static int harbor_yml_printable(const char *s);
static int harbor_yml_quote(FILE *out, const char *name, const char *value);
static int harbor_yml_check(const char *file, const char *section,
    const char *key, const char *value, const char *chars, const char *what);
static int harbor_yml_s3(const char *file, struct config *c,
    const char **endpoint);


/* no control character (a newline above all): one line of YAML */
static int
harbor_yml_printable(const char *s)
{
    const unsigned char  *p;

    for (p = (const unsigned char *) s; *p != '\0'; p++) {
        if (*p < 0x20 || *p == 0x7f) {
            return 0;
        }
    }

    return 1;
}


/* value of section.key (section NULL: a top key) fits; a message if not */
static int
harbor_yml_check(const char *file, const char *section, const char *key,
    const char *value, const char *chars, const char *what)
{
    unsigned long  line;

    if (value == NULL
        || (harbor_yml_printable(value)
            && (chars == NULL || strspn(value, chars) == strlen(value))))
    {
        return 0;
    }

    line = config_line(file, section, key);

    fprintf(stderr, "%s:%lu: \"%s%s%s\" ", file, line,
            section != NULL ? section : "", section != NULL ? "." : "", key);

    if (!harbor_yml_printable(value)) {
        fprintf(stderr, "contains a control character\n");

    } else {
        fprintf(stderr, "must be %s (letters, digits and %s), not \"%s\"\n",
                what, chars + ALNUM, value);
    }

    return -1;
}


/*
 * name='value' on a line, a quote in value as '\'': safe for the shell's
 * eval whatever value holds.  A control character is refused (-1): the
 * value would not survive the trip into YAML.
 */
static int
harbor_yml_quote(FILE *out, const char *name, const char *value)
{
    const char  *p;

    if (value == NULL) {
        value = "";
    }

    if (!harbor_yml_printable(value)) {
        return -1;
    }

    fprintf(out, "%s='", name);

    for (p = value; *p != '\0'; p++) {
        if (*p == '\'') {
            fputs("'\\''", out);
        } else {
            fputc(*p, out);
        }
    }

    fputs("'\n", out);

    return 0;
}


/*
 * storage_service.s3 (nothing there: 0, the filesystem): the keys a
 * bucket needs, each fit for nginx's configuration; *endpoint is
 * regionendpoint, or AWS's for the region.
 */
static int
harbor_yml_s3(const char *file, struct config *c, const char **endpoint)
{
    static char    aws[128];
    const char    *sec, *missing;
    unsigned long  line;

    *endpoint = "";

    if (c->s3_bucket == NULL && c->s3_accesskey == NULL
        && c->s3_secretkey == NULL && c->s3_regionendpoint == NULL
        && c->s3_region == NULL && c->s3_rootdirectory == NULL)
    {
        return 0;
    }

    sec = "storage_service.s3";

    missing = c->s3_bucket == NULL ? "bucket"
              : c->s3_accesskey == NULL ? "accesskey"
              : c->s3_secretkey == NULL ? "secretkey"
              : (c->s3_regionendpoint == NULL && c->s3_region == NULL)
                ? "region" : NULL;

    if (missing != NULL) {
        line = config_line(file, "storage_service", "s3");
        fprintf(stderr, "%s:%lu: \"%s\" requires \"%s\"\n", file, line,
                sec, missing);
        return -1;
    }

    if (harbor_yml_check(file, sec, "bucket", c->s3_bucket, BUCKET_CHARS,
                         "a bucket name") != 0
        || harbor_yml_check(file, sec, "region", c->s3_region, HOST_CHARS,
                            "a region name") != 0
        || harbor_yml_check(file, sec, "regionendpoint",
                            c->s3_regionendpoint, URL_CHARS, "a URL") != 0
        || harbor_yml_check(file, sec, "rootdirectory", c->s3_rootdirectory,
                            PATH_CHARS, "a plain path") != 0
        || harbor_yml_check(file, sec, "accesskey", c->s3_accesskey, NULL,
                            NULL) != 0
        || harbor_yml_check(file, sec, "secretkey", c->s3_secretkey, NULL,
                            NULL) != 0)
    {
        return -1;
    }

    if (c->s3_v4auth != NULL && strcmp(c->s3_v4auth, "true") != 0) {
        line = config_line(file, sec, "v4auth");
        fprintf(stderr, "%s:%lu: \"%s.v4auth\": only true (AWS Signature "
                "Version 4) is supported\n", file, line, sec);
        return -1;
    }

    if (c->s3_secure != NULL && strcmp(c->s3_secure, "true") != 0
        && strcmp(c->s3_secure, "false") != 0)
    {
        line = config_line(file, sec, "secure");
        fprintf(stderr, "%s:%lu: \"%s.secure\" must be true or false\n",
                file, line, sec);
        return -1;
    }

    if (c->s3_regionendpoint != NULL) {
        if (strncmp(c->s3_regionendpoint, "http://", 7) != 0
            && strncmp(c->s3_regionendpoint, "https://", 8) != 0)
        {
            line = config_line(file, sec, "regionendpoint");
            fprintf(stderr, "%s:%lu: \"%s.regionendpoint\" must be an "
                    "http:// or https:// URL\n", file, line, sec);
            return -1;
        }

        *endpoint = c->s3_regionendpoint;
        return 0;
    }

    /* AWS itself: secure unless told otherwise, as distribution */
    (void) snprintf(aws, sizeof(aws), "%s://s3.%s.amazonaws.com",
                    (c->s3_secure != NULL
                     && strcmp(c->s3_secure, "false") == 0)
                    ? "http" : "https", c->s3_region);
    *endpoint = aws;

    return 0;
}


int
harbor_yml_main(int argc, char *argv[])
{
    struct config  *c;
    const char     *file, *endpoint;
    char            http_port[16], https_port[16];
    int             rc;

    if (argc != 2 || argv[1][0] == '-') {
        fprintf(stderr, "usage: authd harbor-yml FILE\n");
        return 1;
    }

    file = argv[1];

    c = config_parse(file);
    if (c == NULL) {
        return 1;
    }

    rc = 1;

    /*
     * a host name or address, with no port (harbor.yml's ports are keys
     * of their own); IPv6 is not taken: it would need brackets in URLs
     */
    if (harbor_yml_check(file, NULL, "hostname", c->hostname, HOST_CHARS,
                         "a host name or IPv4 address without a port") != 0
        || harbor_yml_check(file, NULL, "external_url", c->external_url,
                            URL_CHARS, "a URL") != 0
        || harbor_yml_check(file, "https", "certificate",
                            c->https_certificate, PATH_CHARS,
                            "a plain path") != 0
        || harbor_yml_check(file, "https", "private_key",
                            c->https_private_key, PATH_CHARS,
                            "a plain path") != 0
        || harbor_yml_check(file, NULL, "data_volume", c->data_volume,
                            PATH_CHARS, "a plain path") != 0
        || harbor_yml_check(file, NULL, "harbor_admin_password",
                            c->admin_password, NULL, NULL) != 0
        || harbor_yml_s3(file, c, &endpoint) != 0)
    {
        goto done;
    }

    /* config.c kept both in 1..65535 */
    (void) snprintf(http_port, sizeof(http_port), "%d", c->http_port);
    (void) snprintf(https_port, sizeof(https_port), "%d",
                    c->https_certificate != NULL ? c->https_port : 0);

    if (harbor_yml_quote(stdout, "yml_hostname", c->hostname) != 0
        || harbor_yml_quote(stdout, "yml_external_url", c->external_url) != 0
        || harbor_yml_quote(stdout, "yml_http_port", http_port) != 0
        || harbor_yml_quote(stdout, "yml_https_port", https_port) != 0
        || harbor_yml_quote(stdout, "yml_https_certificate",
                            c->https_certificate) != 0
        || harbor_yml_quote(stdout, "yml_https_private_key",
                            c->https_private_key) != 0
        || harbor_yml_quote(stdout, "yml_data_volume", c->data_volume) != 0
        || harbor_yml_quote(stdout, "yml_admin_password",
                            c->admin_password) != 0
        || harbor_yml_quote(stdout, "yml_log_level",
                            config_level_name(c->log_level)) != 0
        || harbor_yml_quote(stdout, "yml_s3_bucket", c->s3_bucket) != 0
        || harbor_yml_quote(stdout, "yml_s3_rootdirectory",
                            c->s3_rootdirectory) != 0
        || harbor_yml_quote(stdout, "yml_s3_endpoint", endpoint) != 0
        || harbor_yml_quote(stdout, "yml_s3_region",
                            c->s3_region != NULL ? c->s3_region
                                                 : "us-east-1") != 0
        || harbor_yml_quote(stdout, "yml_s3_accesskey", c->s3_accesskey) != 0
        || harbor_yml_quote(stdout, "yml_s3_secretkey", c->s3_secretkey) != 0)
    {
        fprintf(stderr, "%s: a value contains a control character\n", file);
        goto done;
    }

    if (fflush(stdout) != 0) {
        goto done;
    }

    rc = 0;

done:

    config_free(c);

    return rc;
}
