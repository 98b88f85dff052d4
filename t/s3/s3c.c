/*
 * s3c: one S3 request signed by harbor_sigv4.c, sent with libcurl; for
 * the tests (t/s3-*.t) and for an operator looking at a bucket.
 *
 *   s3c [-q name=value]... [-H 'Name: value']... [-d file] [-u]
 *       [-p seconds] METHOD /bucket/key
 *
 * S3_ENDPOINT (http://127.0.0.1:7480), S3_ACCESS_KEY, S3_SECRET_KEY and
 * S3_REGION (us-east-1) from the environment.  Prints "status N", the
 * response headers as "name: value" lines, an empty line and the body.
 * -d sends a file as the body (signed by its hash; with -u as
 * UNSIGNED-PAYLOAD); -p prints a presigned URL for METHOD valid that many
 * seconds instead of sending anything.  Exit status 0 when a response
 * came (whatever its status), 1 otherwise.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>

#include "harbor_sigv4.h"

#define MAXQ  16
#define MAXH  16


static size_t
header_cb(char *b, size_t size, size_t n, void *arg)
{
    FILE    *out = arg;
    size_t   len = size * n;

    if (len >= 5 && memcmp(b, "HTTP/", 5) == 0) {
        return len;
    }

    /* "name: value" lines, then the empty line before the body */
    fwrite(b, 1, len >= 2 ? len - 2 : len, out);
    fputc('\n', out);
    return len;
}


static char *
slurp(const char *path, size_t *len)
{
    FILE    *f;
    char    *p;
    long     n;

    f = fopen(path, "rb");
    if (f == NULL || fseek(f, 0, SEEK_END) != 0 || (n = ftell(f)) < 0
        || fseek(f, 0, SEEK_SET) != 0)
    {
        perror(path);
        exit(1);
    }

    p = malloc(n ? n : 1);
    if (p == NULL || fread(p, 1, n, f) != (size_t) n) {
        perror(path);
        exit(1);
    }

    fclose(f);
    *len = n;
    return p;
}


static const char *
env(const char *name, const char *dflt)
{
    const char  *v = getenv(name);

    if (v == NULL || *v == '\0') {
        if (dflt == NULL) {
            fprintf(stderr, "s3c: %s is not set\n", name);
            exit(1);
        }
        return dflt;
    }

    return v;
}


/* one request per run: the buffers need not come and go */
static char  qs_buf[65536], auth_buf[4096], url_buf[70000], line_buf[70000];


int
main(int argc, char **argv)
{
    hb_sigv4_pair_t   q[MAXQ], h[MAXH + 3];
    hb_sigv4_key_t    key;
    hb_sigv4_req_t    req;
    struct curl_slist *hl;
    CURL             *c;
    const char       *endpoint, *file, *host;
    char             *body, *eq, *url, *qs, *auth, *line;
    char              date[HB_SIGV4_DATE_LEN + 1], hash[HB_SIGV4_HEX_LEN + 1];
    size_t            nq, nh, len, i, n, ulen;
    long              presign, status;
    int               opt, unsigned_payload;

    nq = 0;
    nh = 0;
    file = NULL;
    presign = 0;
    unsigned_payload = 0;

    while ((opt = getopt(argc, argv, "q:H:d:up:")) != -1) {
        switch (opt) {
        case 'q':
            if (nq == MAXQ) {
                return 1;
            }
            eq = strchr(optarg, '=');
            if (eq) {
                *eq = '\0';
            }
            q[nq].name = optarg;
            q[nq].value = eq ? eq + 1 : "";
            nq++;
            break;
        case 'H':
            if (nh == MAXH || (eq = strchr(optarg, ':')) == NULL) {
                return 1;
            }
            *eq++ = '\0';
            while (*eq == ' ') {
                eq++;
            }
            h[nh].name = optarg;
            h[nh].value = eq;
            nh++;
            break;
        case 'd':
            file = optarg;
            break;
        case 'u':
            unsigned_payload = 1;
            break;
        case 'p':
            presign = atol(optarg);
            break;
        default:
            return 1;
        }
    }

    if (argc - optind != 2) {
        fprintf(stderr, "usage: s3c [-q n=v] [-H 'N: v'] [-d file] [-u] "
                "[-p seconds] METHOD /bucket/key\n");
        return 1;
    }

    endpoint = env("S3_ENDPOINT", NULL);
    key.access_key = env("S3_ACCESS_KEY", NULL);
    key.secret_key = env("S3_SECRET_KEY", NULL);
    key.region = env("S3_REGION", "us-east-1");
    key.service = "s3";

    host = strstr(endpoint, "://");
    host = host ? host + 3 : endpoint;

    body = NULL;
    len = 0;
    if (file) {
        body = slurp(file, &len);
    }

    if (hb_sigv4_date(time(NULL), date) != 0) {
        return 1;
    }

    req.method = argv[optind];
    req.path = argv[optind + 1];
    req.query = q;
    req.nquery = nq;
    req.date = date;

    qs = qs_buf;
    auth = auth_buf;
    url = url_buf;

    if (presign) {
        h[0].name = "host";
        h[0].value = host;
        req.headers = h;
        req.nheaders = 1;
        req.payload = HB_SIGV4_UNSIGNED;
        if (hb_sigv4_presign(&key, &req, presign, qs, 65536) != 0) {
            fprintf(stderr, "s3c: cannot presign\n");
            return 1;
        }
        printf("%s", endpoint);
        hb_sigv4_encode(req.path, strlen(req.path), 0, url, 70000);
        printf("%s?%s\n", url, qs);
        free(body);
        return 0;
    }

    if (unsigned_payload) {
        snprintf(hash, sizeof(hash), "%s", HB_SIGV4_UNSIGNED);
    } else {
        hb_sigv4_sha256_hex(body ? body : "", len, hash);
    }

    h[nh].name = "host";
    h[nh].value = host;
    h[nh + 1].name = "x-amz-date";
    h[nh + 1].value = date;
    h[nh + 2].name = "x-amz-content-sha256";
    h[nh + 2].value = hash;
    req.headers = h;
    req.nheaders = nh + 3;
    req.payload = hash;

    if (hb_sigv4_authorization(&key, &req, auth, 4096) != 0) {
        fprintf(stderr, "s3c: cannot sign\n");
        return 1;
    }

    /* the URL: the same encoding as the signature's */
    n = snprintf(url, 70000, "%s", endpoint);
    hb_sigv4_encode(req.path, strlen(req.path), 0, url + n, 70000 - n);
    ulen = strlen(url);
    for (i = 0; i < nq; i++) {
        url[ulen++] = i ? '&' : '?';
        hb_sigv4_encode(q[i].name, strlen(q[i].name), 1, url + ulen,
                        70000 - ulen);
        ulen += strlen(url + ulen);
        url[ulen++] = '=';
        hb_sigv4_encode(q[i].value, strlen(q[i].value), 1, url + ulen,
                        70000 - ulen);
        ulen += strlen(url + ulen);
    }
    url[ulen] = '\0';

    curl_global_init(CURL_GLOBAL_DEFAULT);
    c = curl_easy_init();
    if (c == NULL) {
        return 1;
    }

    hl = NULL;
    line = line_buf;
    for (i = 0; i < nh + 3; i++) {
        if (strcmp(h[i].name, "host") == 0) {
            continue;
        }
        snprintf(line, 70000, "%s: %s", h[i].name, h[i].value);
        hl = curl_slist_append(hl, line);
    }
    snprintf(line, 70000, "Authorization: %s", auth);
    hl = curl_slist_append(hl, line);
    hl = curl_slist_append(hl, "Expect:");
    if (!file) {
        hl = curl_slist_append(hl, "Content-Type:");
    }

    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, req.method);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hl);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, header_cb);
    curl_easy_setopt(c, CURLOPT_PATH_AS_IS, 1L);
    if (strcmp(req.method, "HEAD") == 0) {
        curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
    }
    if (file) {
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t) len);
    }

    {
        char    *out;
        size_t   olen;
        FILE    *mem = open_memstream(&out, &olen);

        if (mem == NULL) {
            return 1;
        }

        curl_easy_setopt(c, CURLOPT_HEADERDATA, mem);
        curl_easy_setopt(c, CURLOPT_WRITEDATA, mem);

        if (curl_easy_perform(c) != CURLE_OK) {
            fprintf(stderr, "s3c: %s: no response\n", url);
            return 1;
        }
        fclose(mem);

        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
        printf("status %ld\n", status);
        fwrite(out, 1, olen, stdout);
        free(out);
    }

    curl_slist_free_all(hl);
    curl_easy_cleanup(c);
    curl_global_cleanup();
    free(body);
    return 0;
}
