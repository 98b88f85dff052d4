/*
 * ngx-harbor: libFuzzer target for authd's configuration reader,
 * config_parse() of authd/config.c: libyaml, the table of keys, the
 * checks across keys, and every error path with its message.
 *
 * The input is the file: it is handed over through a memory file
 * (memfd), so the reader runs as authd runs it, from a path.  A
 * configuration it accepts must hold what the table promises.
 */

#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include "authd.h"
#include "fuzz.h"


static void
check_string(const char *s, size_t max, int path)
{
    if (s == NULL) {
        return;
    }

    fuzz_check(strlen(s) <= max, "a string is no longer than its maximum");
    fuzz_check(!path || s[0] == '/', "a path is absolute");
}


static void
check_config(const struct config *c)
{
    fuzz_check(c->admin_password != NULL && c->admin_password[0] != '\0',
               "there is an admin password");
    fuzz_check(c->token_service != NULL && c->token_service[0] != '\0'
               && c->token_issuer != NULL && c->token_issuer[0] != '\0',
               "the token has a service and an issuer");
    fuzz_check(c->listen != NULL
               && (c->listen_port != 0 || c->listen[0] != '\0'),
               "authd listens somewhere");
    fuzz_check(strcmp(c->token_key, c->token_cert) != 0,
               "the key and the certificate are two files");
    fuzz_check(c->db_port >= 1 && c->db_port <= 65535, "a port is a port");
    fuzz_check(c->workers >= 1 && c->workers <= 256,
               "workers are in range");
    fuzz_check(c->token_key_bits >= 2048 && c->token_key_bits <= 8192,
               "key bits are in range");
    fuzz_check(c->auth_mode == AUTH_MODE_DB || c->auth_mode == AUTH_MODE_LDAP,
               "the auth mode is db_auth or ldap_auth");
    fuzz_check(c->email_port >= 1 && c->email_port <= 65535,
               "the mail port is a port");

    check_string(c->hostname, 255, 0);
    check_string(c->db_host, 1024, 0);
    check_string(c->listen, 100, 1);
    check_string(c->token_key, 4000, 1);
    check_string(c->token_cert, 4000, 1);
    check_string(c->journal, 4000, 1);
    check_string(c->registry_storage, 4000, 1);

    fuzz_check(c->registry_url == NULL
               || strncmp(c->registry_url, "http://", 7) == 0
               || strncmp(c->registry_url, "https://", 8) == 0,
               "the registry URL is http or https");
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct config  *c;
    char            path[64];
    ssize_t         n;
    size_t          off;
    int             fd;

    fd = memfd_create("authd.yml", MFD_CLOEXEC);
    if (fd == -1) {
        perror("memfd_create");
        abort();
    }

    for (off = 0; off < size; off += (size_t) n) {
        n = write(fd, data + off, size - off);
        if (n <= 0) {
            perror("write");
            abort();
        }
    }

    if (snprintf(path, sizeof(path), "/proc/self/fd/%d", fd)
        >= (int) sizeof(path))
    {
        abort();
    }

    c = config_parse(path);

    if (c != NULL) {
        check_config(c);
        config_free(c);
    }

    close(fd);

    return 0;
}
