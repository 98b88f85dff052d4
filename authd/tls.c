/*
 * authd cert: HTTPS in one step (docs/https.md).
 *
 *   authd cert [-d dir] [-r] name|address ...
 *
 * Makes, in dir (default: the current directory), a private CA (ca.key
 * 0600, ca.crt), unless one is there already, and a server key and
 * certificate signed by it (server.key 0600, server.crt) for the names
 * and IP addresses given: the first is the subject's CN, all of them are
 * subjectAltNames, which is what clients check.  -r makes a new server
 * certificate even if one exists for the same names.  Keys are ECDSA
 * P-256; the server certificate lives 825 days (the longest clients
 * accept), the CA ten years.  Files are written whole or not at all.
 */

#include <sys/stat.h>

#include <arpa/inet.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "authd.h"


#define TLS_CA_DAYS       3650
#define TLS_SERVER_DAYS   825
#define TLS_NAMES_MAX     32
#define TLS_SAN_MAX       (TLS_NAMES_MAX * 270)


/* a DNS name (labels of letters, digits and '-', a leading "*." allowed) */
static int
tls_dns_name(const char *s)
{
    size_t  len, label;

    len = strlen(s);
    if (len == 0 || len > 253) {
        return 0;
    }

    if (strncmp(s, "*.", 2) == 0) {
        s += 2;
    }

    label = 0;
    for ( /* void */ ; *s; s++) {
        if (*s == '.') {
            if (label == 0) {
                return 0;
            }
            label = 0;
            continue;
        }
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z')
              || (*s >= '0' && *s <= '9') || *s == '-')
            || ++label > 63)
        {
            return 0;
        }
    }

    return label > 0;
}


static int
tls_ip(const char *s)
{
    unsigned char  buf[16];

    return inet_pton(AF_INET, s, buf) == 1 || inet_pton(AF_INET6, s, buf) == 1;
}


static int
tls_ext(X509 *x, X509 *issuer, int nid, const char *value)
{
    X509V3_CTX       ctx;
    X509_EXTENSION  *ext;
    int              rc;

    X509V3_set_ctx(&ctx, issuer, x, NULL, NULL, 0);
    ext = X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
    if (ext == NULL) {
        return -1;
    }

    rc = X509_add_ext(x, ext, -1);
    X509_EXTENSION_free(ext);

    return rc == 1 ? 0 : -1;
}


/* a certificate for key, signed by ca_key (itself if ca is NULL) */
static X509 *
tls_certificate(EVP_PKEY *key, const char *cn, X509 *ca, EVP_PKEY *ca_key,
    int days, const char *san)
{
    X509          *x;
    X509_NAME     *name;
    BIGNUM        *bn;
    unsigned char  serial[16];
    int            ok;

    x = X509_new();
    bn = BN_new();
    if (x == NULL || bn == NULL || RAND_bytes(serial, sizeof(serial)) != 1) {
        goto fail;
    }

    serial[0] &= 0x7f;         /* a positive serial */

    name = X509_get_subject_name(x);

    ok = BN_bin2bn(serial, sizeof(serial), bn) != NULL
         && BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x)) != NULL
         && X509_set_version(x, 2) == 1
         && X509_gmtime_adj(X509_getm_notBefore(x), -3600) != NULL
         && X509_gmtime_adj(X509_getm_notAfter(x), (long) days * 86400)
            != NULL
         && X509_set_pubkey(x, key) == 1
         && X509_NAME_add_entry_by_txt(name, "O", MBSTRING_UTF8,
                (const unsigned char *) "ngx-harbor", -1, -1, 0) == 1
         && X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8,
                (const unsigned char *) cn, -1, -1, 0) == 1
         && X509_set_issuer_name(x, ca ? X509_get_subject_name(ca) : name)
            == 1;

    if (!ok) {
        goto fail;
    }

    if (ca == NULL) {
        ok = tls_ext(x, x, NID_basic_constraints, "critical,CA:TRUE,pathlen:0")
             == 0
             && tls_ext(x, x, NID_key_usage, "critical,keyCertSign,cRLSign")
                == 0
             && tls_ext(x, x, NID_subject_key_identifier, "hash") == 0;

    } else {
        ok = tls_ext(x, ca, NID_basic_constraints, "critical,CA:FALSE") == 0
             && tls_ext(x, ca, NID_key_usage,
                        "critical,digitalSignature,keyAgreement") == 0
             && tls_ext(x, ca, NID_ext_key_usage, "serverAuth") == 0
             && tls_ext(x, ca, NID_subject_key_identifier, "hash") == 0
             && tls_ext(x, ca, NID_authority_key_identifier, "keyid") == 0
             && tls_ext(x, ca, NID_subject_alt_name, san) == 0;
    }

    if (!ok || X509_sign(x, ca_key, EVP_sha256()) == 0) {
        goto fail;
    }

    BN_free(bn);
    return x;

fail:

    keys_ssl_error("cannot make a certificate");
    BN_free(bn);
    X509_free(x);
    return NULL;
}


/* a key (0600) or a certificate (0644), in PEM */
static int
tls_write(const char *path, EVP_PKEY *key, X509 *x)
{
    BIO  *b;
    int   rc;

    b = BIO_new(BIO_s_mem());
    if (b == NULL
        || (key ? PEM_write_bio_PrivateKey(b, key, NULL, NULL, 0, NULL, NULL)
                : PEM_write_bio_X509(b, x)) != 1)
    {
        BIO_free(b);
        keys_ssl_error(path);
        return -1;
    }

    rc = keys_write(path, key ? 0600 : 0644, b);
    BIO_free(b);
    return rc;
}


static int
tls_path(char *out, size_t len, const char *dir, const char *name)
{
    int  n;

    n = snprintf(out, len, "%s/%s", dir, name);
    if (n < 0 || (size_t) n >= len) {
        fprintf(stderr, "authd cert: %s: path too long\n", dir);
        return -1;
    }

    return 0;
}


/* the CA in dir, made if there is none */
static int
tls_ca(const char *dir, X509 **ca, EVP_PKEY **ca_key)
{
    char   crt[PATH_MAX], key[PATH_MAX], cn[300], host[256];
    FILE  *f;

    if (tls_path(crt, sizeof(crt), dir, "ca.crt") != 0
        || tls_path(key, sizeof(key), dir, "ca.key") != 0)
    {
        return -1;
    }

    if (access(crt, F_OK) == 0 || access(key, F_OK) == 0) {
        f = fopen(key, "r");
        *ca_key = f ? PEM_read_PrivateKey(f, NULL, NULL, NULL) : NULL;
        if (f) {
            fclose(f);
        }
        f = fopen(crt, "r");
        *ca = f ? PEM_read_X509(f, NULL, NULL, NULL) : NULL;
        if (f) {
            fclose(f);
        }

        if (*ca == NULL || *ca_key == NULL
            || X509_check_private_key(*ca, *ca_key) != 1)
        {
            fprintf(stderr, "authd cert: %s and %s are not a CA and its "
                    "key: remove both to make a new CA\n", crt, key);
            return -1;
        }

        return 0;
    }

    if (gethostname(host, sizeof(host)) != 0) {
        snprintf(host, sizeof(host), "localhost");
    }
    host[sizeof(host) - 1] = '\0';
    snprintf(cn, sizeof(cn), "ngx-harbor CA %.200s", host);

    *ca_key = EVP_EC_gen("P-256");
    if (*ca_key == NULL) {
        keys_ssl_error("cannot make a key");
        return -1;
    }

    *ca = tls_certificate(*ca_key, cn, NULL, *ca_key, TLS_CA_DAYS, NULL);
    if (*ca == NULL
        || tls_write(key, *ca_key, NULL) != 0
        || tls_write(crt, NULL, *ca) != 0)
    {
        return -1;
    }

    printf("%s: a new CA\n", crt);
    return 0;
}


/*
 * The server certificate in dir is kept when it is signed by this CA,
 * matches its key, has 30 days left and covers every name asked for.
 */
static int
tls_current(const char *crt, const char *key, X509 *ca, int n, char **names)
{
    FILE      *f;
    X509      *x;
    EVP_PKEY  *k, *pub;
    time_t     soon;
    int        i, ok;

    x = NULL;
    k = NULL;

    f = fopen(crt, "r");
    if (f) {
        x = PEM_read_X509(f, NULL, NULL, NULL);
        fclose(f);
    }
    f = fopen(key, "r");
    if (f) {
        k = PEM_read_PrivateKey(f, NULL, NULL, NULL);
        fclose(f);
    }
    ERR_clear_error();

    soon = time(NULL) + 30 * 86400;
    pub = ca ? X509_get0_pubkey(ca) : NULL;

    ok = x != NULL && k != NULL && pub != NULL
         && X509_check_private_key(x, k) == 1
         && X509_verify(x, pub) == 1
         && X509_cmp_time(X509_get0_notAfter(x), &soon) > 0;

    for (i = 0; ok && i < n; i++) {
        ok = tls_ip(names[i])
             ? X509_check_ip_asc(x, names[i], 0) == 1
             : X509_check_host(x, names[i], 0, 0, NULL) == 1;
    }

    X509_free(x);
    EVP_PKEY_free(k);
    ERR_clear_error();

    return ok;
}


int
tls_cert_main(int argc, char *argv[])
{
    const char  *dir;
    char         san[TLS_SAN_MAX], crt[PATH_MAX], key[PATH_MAX];
    X509        *ca, *x;
    EVP_PKEY    *ca_key, *k;
    size_t       len;
    int          ch, i, n, renew, rc;

    dir = ".";
    renew = 0;

    optind = 1;
    while ((ch = getopt(argc, argv, "d:r")) != -1) {
        switch (ch) {
        case 'd':
            dir = optarg;
            break;
        case 'r':
            renew = 1;
            break;
        default:
            goto usage;
        }
    }

    if (optind == argc || argc - optind > TLS_NAMES_MAX) {
        goto usage;
    }

    len = 0;
    for (i = optind; i < argc; i++) {
        if (tls_ip(argv[i])) {
            n = snprintf(san + len, sizeof(san) - len, "%sIP:%s",
                         len ? "," : "", argv[i]);
        } else if (tls_dns_name(argv[i])) {
            n = snprintf(san + len, sizeof(san) - len, "%sDNS:%s",
                         len ? "," : "", argv[i]);
        } else {
            fprintf(stderr, "authd cert: \"%s\" is neither a host name nor "
                    "an IP address\n", argv[i]);
            return 1;
        }
        if (n < 0 || (size_t) n >= sizeof(san) - len) {
            return 1;
        }
        len += n;
    }

    if (mkdir(dir, 0755) == -1 && errno != EEXIST) {
        fprintf(stderr, "authd cert: mkdir %s: %s\n", dir, strerror(errno));
        return 1;
    }

    if (tls_path(crt, sizeof(crt), dir, "server.crt") != 0
        || tls_path(key, sizeof(key), dir, "server.key") != 0)
    {
        return 1;
    }

    ca = NULL;
    ca_key = NULL;
    k = NULL;
    x = NULL;
    rc = 1;

    if (tls_ca(dir, &ca, &ca_key) != 0) {
        goto done;
    }

    if (!renew && tls_current(crt, key, ca, argc - optind, argv + optind)) {
        printf("%s: kept: it covers every name (authd cert -r makes a new "
               "one)\n", crt);
        rc = 0;
        goto done;
    }

    k = EVP_EC_gen("P-256");
    if (k == NULL) {
        keys_ssl_error("cannot make a key");
        goto done;
    }

    x = tls_certificate(k, argv[optind], ca, ca_key, TLS_SERVER_DAYS, san);
    if (x == NULL
        || tls_write(key, k, NULL) != 0
        || tls_write(crt, NULL, x) != 0)
    {
        goto done;
    }

    printf("%s: for %s\n", crt, san);
    rc = 0;

done:

    X509_free(x);
    EVP_PKEY_free(k);
    X509_free(ca);
    EVP_PKEY_free(ca_key);

    return rc;

usage:

    fprintf(stderr, "usage: authd cert [-d dir] [-r] name|address ...\n");
    return 1;
}
