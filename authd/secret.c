/*
 * authd: secrets stored in the database, sealed (the credentials of
 * replication's registries).
 *
 * The key is 32 random bytes in a file of its own (authd.secret_key,
 * by default "secretkey" next to the token signing key), written 0600 on
 * first start (keys_write: temporary file, fsync, rename).  A secret is
 * stored as base64 of a random nonce and crypto_secretbox_easy of it:
 * the database alone, a dump or a backup, does not give it away.  A key
 * file that is not 0600, or of the wrong size, stops authd.
 */

#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/bio.h>
#include <sodium.h>

#include "authd.h"


#define SECRET_HEX_LEN  (crypto_secretbox_KEYBYTES * 2)

static unsigned char  secret_key[crypto_secretbox_KEYBYTES];
static int            secret_loaded;


static int
secret_create(const char *path)
{
    char   hex[SECRET_HEX_LEN + 2];
    BIO   *bio;
    int    rc;

    randombytes_buf(secret_key, sizeof(secret_key));
    sodium_bin2hex(hex, sizeof(hex), secret_key, sizeof(secret_key));
    hex[SECRET_HEX_LEN] = '\n';
    hex[SECRET_HEX_LEN + 1] = '\0';

    bio = BIO_new_mem_buf(hex, SECRET_HEX_LEN + 1);
    if (bio == NULL) {
        log_warnx("%s: out of memory", path);
        return -1;
    }

    rc = keys_write(path, 0600, bio);
    BIO_free(bio);
    sodium_memzero(hex, sizeof(hex));

    if (rc == 0) {
        log_info("wrote the secret key to %s", path);
    }

    return rc;
}


int
secret_load(const char *path)
{
    struct stat  st;
    char         hex[SECRET_HEX_LEN + 2];
    size_t       bin;
    ssize_t      n;
    int          fd;

    fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd == -1) {
        if (errno != ENOENT) {
            log_warn("open \"%s\"", path);
            return -1;
        }
        if (secret_create(path) != 0) {
            return -1;
        }
        secret_loaded = 1;
        return 0;
    }

    if (fstat(fd, &st) == -1) {
        log_warn("fstat \"%s\"", path);
        close(fd);
        return -1;
    }

    if ((st.st_mode & 077) != 0) {
        log_warnx("%s: the secret key must not be readable by others"
                  " (chmod 600)", path);
        close(fd);
        return -1;
    }

    n = read(fd, hex, sizeof(hex));
    close(fd);

    if (n < SECRET_HEX_LEN
        || sodium_hex2bin(secret_key, sizeof(secret_key), hex,
                          SECRET_HEX_LEN, NULL, &bin, NULL) != 0
        || bin != sizeof(secret_key))
    {
        log_warnx("%s: not a secret key (%d hex digits expected)", path,
                  SECRET_HEX_LEN);
        sodium_memzero(hex, sizeof(hex));
        return -1;
    }

    sodium_memzero(hex, sizeof(hex));
    secret_loaded = 1;

    return 0;
}


/* base64 of nonce and box, malloc'ed; NULL on failure */
char *
secret_seal(const char *plain)
{
    unsigned char  *buf;
    char           *out;
    size_t          plen, blen, olen;

    if (!secret_loaded) {
        return NULL;
    }

    plen = strlen(plain);
    blen = crypto_secretbox_NONCEBYTES + crypto_secretbox_MACBYTES + plen;
    olen = sodium_base64_encoded_len(blen, sodium_base64_VARIANT_ORIGINAL);

    buf = malloc(blen);
    out = malloc(olen);
    if (buf == NULL || out == NULL) {
        free(buf);
        free(out);
        return NULL;
    }

    randombytes_buf(buf, crypto_secretbox_NONCEBYTES);
    crypto_secretbox_easy(buf + crypto_secretbox_NONCEBYTES,
                          (const unsigned char *) plain, plen, buf,
                          secret_key);
    sodium_bin2base64(out, olen, buf, blen, sodium_base64_VARIANT_ORIGINAL);
    free(buf);

    return out;
}


/* the secret, malloc'ed (free with secret_free); NULL if it does not open */
char *
secret_open(const char *sealed)
{
    unsigned char  *buf;
    char           *out;
    size_t          slen, blen, plen;

    if (!secret_loaded) {
        return NULL;
    }

    slen = strlen(sealed);
    buf = malloc(slen + 1);
    if (buf == NULL) {
        return NULL;
    }

    if (sodium_base642bin(buf, slen + 1, sealed, slen, NULL, &blen, NULL,
                          sodium_base64_VARIANT_ORIGINAL) != 0
        || blen < crypto_secretbox_NONCEBYTES + crypto_secretbox_MACBYTES)
    {
        free(buf);
        return NULL;
    }

    plen = blen - crypto_secretbox_NONCEBYTES - crypto_secretbox_MACBYTES;
    out = malloc(plen + 1);
    if (out == NULL
        || crypto_secretbox_open_easy((unsigned char *) out,
                                      buf + crypto_secretbox_NONCEBYTES,
                                      blen - crypto_secretbox_NONCEBYTES,
                                      buf, secret_key) != 0)
    {
        free(buf);
        free(out);
        return NULL;
    }

    free(buf);
    out[plen] = '\0';

    return out;
}


void
secret_free(char *s)
{
    if (s != NULL) {
        sodium_memzero(s, strlen(s));
        free(s);
    }
}
