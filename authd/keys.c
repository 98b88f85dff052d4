/*
 * authd: the token signing key and its certificate.
 *
 * On first start neither exists: an RSA key is generated and written
 * 0600, then a self-signed certificate for it is written 0644 where the
 * configuration points (the nginx module reads it with
 * "harbor_token_certificate <path>;").  Files are written to a temporary
 * name, synced and renamed, so a crash never leaves half a key.  A key
 * with a certificate of another key is refused.
 */

#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

#include "authd.h"


#define KEYS_CERT_DAYS   3650
#define KEYS_CN          "harbor-token-issuer"

struct token_key  token_key;

static EVP_PKEY *keys_generate(int alg, int bits);
static X509 *keys_certificate(EVP_PKEY *key);


void
keys_ssl_error(const char *what)
{
    unsigned long  e;
    char           buf[256];

    e = ERR_get_error();
    ERR_error_string_n(e, buf, sizeof(buf));
    log_warnx("%s: %s", what, e ? buf : "failed");
    ERR_clear_error();
}


/* path written whole or not at all: a temporary file, fsync, rename */
int
keys_write(const char *path, mode_t mode, BIO *data)
{
    char    tmp[4096], dir[4096];
    char   *p;
    long    len;
    ssize_t n;
    int     fd, dfd;

    len = BIO_get_mem_data(data, &p);

    if (snprintf(tmp, sizeof(tmp), "%s.tmp%ld", path, (long) getpid())
        >= (int) sizeof(tmp)
        || snprintf(dir, sizeof(dir), "%s", path) >= (int) sizeof(dir))
    {
        log_warnx("%s: path too long", path);
        return -1;
    }

    fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW,
              mode);
    if (fd == -1) {
        log_warn("open \"%s\"", tmp);
        return -1;
    }

    /* the umask must not widen or narrow what was asked for */
    if (fchmod(fd, mode) == -1) {
        log_warn("fchmod \"%s\"", tmp);
        goto fail;
    }

    while (len > 0) {
        n = write(fd, p, (size_t) len);
        if (n == -1) {
            if (errno == EINTR) {
                continue;
            }
            log_warn("write \"%s\"", tmp);
            goto fail;
        }
        p += n;
        len -= n;
    }

    if (fsync(fd) == -1) {
        log_warn("fsync \"%s\"", tmp);
        goto fail;
    }

    if (close(fd) == -1) {
        fd = -1;
        log_warn("close \"%s\"", tmp);
        goto fail;
    }
    fd = -1;

    if (rename(tmp, path) == -1) {
        log_warn("rename \"%s\" to \"%s\"", tmp, path);
        goto fail;
    }

    dfd = open(dirname(dir), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd != -1) {
        (void) fsync(dfd);
        close(dfd);
    }

    return 0;

fail:

    if (fd != -1) {
        close(fd);
    }
    unlink(tmp);

    return -1;
}


static EVP_PKEY *
keys_generate(int alg, int bits)
{
    EVP_PKEY  *key;

    if (alg == TOKEN_ES256) {
        log_info("generating an EC P-256 token signing key (ES256)");
        key = EVP_EC_gen(SN_X9_62_prime256v1);

    } else {
        log_info("generating a %d-bit RSA token signing key (RS256)", bits);
        key = EVP_RSA_gen((unsigned int) bits);
    }

    if (key == NULL) {
        keys_ssl_error("token key generation");
    }

    return key;
}


static X509 *
keys_certificate(EVP_PKEY *key)
{
    X509           *x;
    X509_NAME      *name;
    ASN1_INTEGER   *serial;
    BIGNUM         *bn;
    unsigned char   rnd[16];

    x = X509_new();
    bn = NULL;

    if (x == NULL || RAND_bytes(rnd, sizeof(rnd)) != 1) {
        goto fail;
    }

    rnd[0] &= 0x7f;     /* a positive serial */

    bn = BN_bin2bn(rnd, sizeof(rnd), NULL);
    serial = X509_get_serialNumber(x);

    if (bn == NULL || BN_to_ASN1_INTEGER(bn, serial) == NULL
        || X509_set_version(x, 2) != 1
        || X509_gmtime_adj(X509_getm_notBefore(x), -3600) == NULL
        || X509_gmtime_adj(X509_getm_notAfter(x),
                           (long) KEYS_CERT_DAYS * 86400) == NULL
        || X509_set_pubkey(x, key) != 1)
    {
        goto fail;
    }

    name = X509_get_subject_name(x);
    if (X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                                   (const unsigned char *) KEYS_CN, -1, -1, 0)
        != 1
        || X509_set_issuer_name(x, name) != 1
        || X509_sign(x, key, EVP_sha256()) == 0)
    {
        goto fail;
    }

    BN_free(bn);

    return x;

fail:

    keys_ssl_error("self-signed certificate");
    BN_free(bn);
    X509_free(x);

    return NULL;
}


int
keys_load(const char *keypath, const char *certpath, int alg, int bits,
    struct token_key *tk)
{
    EVP_PKEY       *key;
    X509           *cert;
    BIO            *bio;
    FILE           *f;
    unsigned char  *der, *p;
    int             n, rc;
    size_t          b64len;

    key = NULL;
    cert = NULL;
    bio = NULL;
    der = NULL;
    rc = -1;

    memset(tk, 0, sizeof(*tk));

    f = fopen(keypath, "re");

    if (f == NULL && errno != ENOENT) {
        log_warn("open \"%s\"", keypath);
        return -1;
    }

    if (f != NULL) {
        key = PEM_read_PrivateKey(f, NULL, NULL, NULL);
        fclose(f);

        if (key == NULL) {
            keys_ssl_error(keypath);
            goto fail;
        }

        /* the key file decides; a setting it contradicts is an error */
        if (hb_jwt_key_alg(key) == NULL) {
            log_warnx("%s: the token signing key must be an RSA or an EC "
                      "P-256 key", keypath);
            goto fail;
        }

        if (strcmp(hb_jwt_key_alg(key),
                   alg == TOKEN_ES256 ? "ES256" : "RS256") != 0)
        {
            log_warnx("%s is a key for %s but token_algorithm asks for %s: "
                      "set token_algorithm to %s, or move the key and its "
                      "certificate away to make a new pair (clients' "
                      "tokens then end)", keypath, hb_jwt_key_alg(key),
                      alg == TOKEN_ES256 ? "ES256" : "RS256",
                      hb_jwt_key_alg(key));
            goto fail;
        }

    } else {
        if (access(certpath, F_OK) == 0) {
            log_warnx("%s exists but its key %s does not: refusing to "
                      "replace the certificate the registry trusts",
                      certpath, keypath);
            goto fail;
        }

        key = keys_generate(alg, bits);
        if (key == NULL) {
            goto fail;
        }

        bio = BIO_new(BIO_s_mem());
        if (bio == NULL
            || PEM_write_bio_PrivateKey(bio, key, NULL, NULL, 0, NULL, NULL)
               != 1)
        {
            keys_ssl_error("PEM_write_bio_PrivateKey");
            goto fail;
        }

        if (keys_write(keypath, 0600, bio) != 0) {
            goto fail;
        }

        BIO_free(bio);
        bio = NULL;

        log_info("wrote the token signing key to %s", keypath);
    }

    f = fopen(certpath, "re");

    if (f == NULL && errno != ENOENT) {
        log_warn("open \"%s\"", certpath);
        goto fail;
    }

    if (f != NULL) {
        cert = PEM_read_X509(f, NULL, NULL, NULL);
        fclose(f);

        if (cert == NULL) {
            keys_ssl_error(certpath);
            goto fail;
        }

        if (EVP_PKEY_eq(X509_get0_pubkey(cert), key) != 1) {
            log_warnx("%s is not the certificate of the key in %s",
                      certpath, keypath);
            goto fail;
        }

    } else {
        cert = keys_certificate(key);
        if (cert == NULL) {
            goto fail;
        }

        bio = BIO_new(BIO_s_mem());
        if (bio == NULL || PEM_write_bio_X509(bio, cert) != 1) {
            keys_ssl_error("PEM_write_bio_X509");
            goto fail;
        }

        if (keys_write(certpath, 0644, bio) != 0) {
            goto fail;
        }

        BIO_free(bio);
        bio = NULL;

        log_info("wrote the token certificate to %s", certpath);
    }

    /* x5c: standard base64 of the DER certificate */
    n = i2d_X509(cert, NULL);
    if (n <= 0) {
        goto fail;
    }

    der = malloc((size_t) n);
    b64len = 4 * (((size_t) n + 2) / 3) + 1;
    tk->x5c = malloc(b64len);
    if (der == NULL || tk->x5c == NULL) {
        goto fail;
    }

    p = der;
    if (i2d_X509(cert, &p) != n) {
        goto fail;
    }

    EVP_EncodeBlock((unsigned char *) tk->x5c, der, n);

    if (hb_libtrust_kid(key, tk->kid) != 0) {
        goto fail;
    }

    tk->key = key;
    key = NULL;
    rc = 0;

fail:

    if (rc != 0) {
        free(tk->x5c);
        tk->x5c = NULL;
    }

    free(der);
    BIO_free(bio);
    X509_free(cert);
    EVP_PKEY_free(key);

    return rc;
}


void
keys_free(struct token_key *tk)
{
    EVP_PKEY_free(tk->key);
    free(tk->x5c);
    memset(tk, 0, sizeof(*tk));
}
