/*
 * authd: passwords and the verified-credential cache.
 *
 * Passwords are stored as argon2id strings (libsodium crypto_pwhash_str).
 * An unknown user costs the same as a wrong password: a dummy hash made
 * at start is verified instead, and both answer AUTH_FAIL.
 *
 * docker and podman ask for a token before nearly every request, with
 * the same credentials each time; paying argon2id for each would make
 * the token service the bottleneck.  Credentials verified in the last
 * credential_cache_ttl seconds are remembered as a keyed BLAKE2b digest
 * (random key per process) of the username, the password and the stored
 * hash: no password is kept, and any change of the stored hash (password
 * change, by authd or straight in SQL) misses the cache.  Changing a
 * password or deleting a user also drops that user's entries at once.
 *
 * Password guessing is throttled here, for every way in (/c/login, Basic
 * on the API and on /service/token), before any argon2id is paid: a
 * table of failure counts per client address and per account, each over
 * a window of AUTH_FAIL_WINDOW seconds.  An address with AUTH_FAIL_MAX
 * failures is refused, whatever account it names.  An account with
 * AUTH_ACCOUNT_FAIL_MAX failures (from any number of addresses) is under
 * attack: it is refused to addresses that have failed in the window, and
 * still tried for addresses with a clean record, so that the real user
 * logs in from their own address while a stranger guesses elsewhere.
 * Keys are keyed BLAKE2b digests: neither addresses nor names are kept.
 */

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <sodium.h>

#include "authd.h"


#define AUTH_CACHE_SIZE     1024
#define AUTH_THROTTLE_SIZE  4096         /* addresses and accounts */

struct auth_fail {
    unsigned char   key[16];            /* BLAKE2b of "a" ip or "u" name */
    time_t          start;              /* of its window */
    int             count;
};

struct auth_entry {
    unsigned char   digest[crypto_generichash_BYTES];
    long long       user_id;
    time_t          expires;
    int             dir_admin;          /* in ldap_group_admin_dn */
};

static struct auth_entry  auth_cache[AUTH_CACHE_SIZE];
static size_t             auth_cache_next;
static pthread_mutex_t    auth_mtx = PTHREAD_MUTEX_INITIALIZER;
static unsigned char      auth_key[crypto_generichash_KEYBYTES];
static char               auth_dummy[crypto_pwhash_STRBYTES];
static struct auth_fail   auth_fails[AUTH_THROTTLE_SIZE];
static pthread_mutex_t    auth_fail_mtx = PTHREAD_MUTEX_INITIALIZER;
static unsigned char      auth_fail_key[crypto_generichash_KEYBYTES];


int
auth_init(void)
{
    unsigned char  rnd[32];

    if (sodium_init() < 0) {
        return -1;
    }

    randombytes_buf(auth_key, sizeof(auth_key));
    randombytes_buf(auth_fail_key, sizeof(auth_fail_key));

    /* a hash of a random password, verified for unknown users */
    randombytes_buf(rnd, sizeof(rnd));
    if (crypto_pwhash_str(auth_dummy, (const char *) rnd, sizeof(rnd),
                          crypto_pwhash_OPSLIMIT_INTERACTIVE,
                          crypto_pwhash_MEMLIMIT_INTERACTIVE) != 0)
    {
        return -1;
    }

    sodium_memzero(rnd, sizeof(rnd));

    return 0;
}


int
auth_hash(const char *pw, size_t len, char *out, size_t outlen)
{
    if (outlen < crypto_pwhash_STRBYTES) {
        return -1;
    }

    return crypto_pwhash_str(out, pw, len,
                             crypto_pwhash_OPSLIMIT_INTERACTIVE,
                             crypto_pwhash_MEMLIMIT_INTERACTIVE) == 0 ? 0 : -1;
}


/* 0 if pw matches hash */
int
auth_verify(const char *hash, const char *pw, size_t len)
{
    if (hash == NULL || hash[0] == '\0'
        || strlen(hash) >= crypto_pwhash_STRBYTES)
    {
        /* the same work as a real check, and always a failure */
        if (crypto_pwhash_str_verify(auth_dummy, pw, len) != 0) {
            return -1;
        }
        return -1;
    }

    return crypto_pwhash_str_verify(hash, pw, len) == 0 ? 0 : -1;
}


static void
auth_digest(unsigned char out[crypto_generichash_BYTES], const char *name,
    size_t nlen, const char *pw, size_t plen, const char *hash)
{
    crypto_generichash_state  st;
    unsigned char             len[8];
    size_t                    i;

    crypto_generichash_init(&st, auth_key, sizeof(auth_key),
                            crypto_generichash_BYTES);

    /* lengths first, so that no two inputs run together */
    for (i = 0; i < 8; i++) {
        len[i] = (unsigned char) (nlen >> (8 * i));
    }
    crypto_generichash_update(&st, len, sizeof(len));
    crypto_generichash_update(&st, (const unsigned char *) name, nlen);

    for (i = 0; i < 8; i++) {
        len[i] = (unsigned char) (plen >> (8 * i));
    }
    crypto_generichash_update(&st, len, sizeof(len));
    crypto_generichash_update(&st, (const unsigned char *) pw, plen);
    crypto_generichash_update(&st, (const unsigned char *) hash,
                              strlen(hash));

    crypto_generichash_final(&st, out, crypto_generichash_BYTES);
}


static int
auth_cache_hit(const unsigned char *d, long long user_id, int *dir_admin)
{
    time_t  now;
    size_t  i;
    int     hit;

    if (conf->cred_cache_ttl == 0) {
        return 0;
    }

    now = time(NULL);
    hit = 0;

    pthread_mutex_lock(&auth_mtx);

    for (i = 0; i < AUTH_CACHE_SIZE; i++) {
        if (auth_cache[i].expires > now
            && auth_cache[i].user_id == user_id
            && sodium_memcmp(auth_cache[i].digest, d,
                             crypto_generichash_BYTES) == 0)
        {
            hit = 1;
            if (dir_admin != NULL) {
                *dir_admin = auth_cache[i].dir_admin;
            }
            break;
        }
    }

    pthread_mutex_unlock(&auth_mtx);

    return hit;
}


static void
auth_cache_add(const unsigned char *d, long long user_id, int dir_admin)
{
    struct auth_entry  *e;

    if (conf->cred_cache_ttl == 0) {
        return;
    }

    pthread_mutex_lock(&auth_mtx);

    /* a ring: the oldest entry makes room */
    e = &auth_cache[auth_cache_next];
    auth_cache_next = (auth_cache_next + 1) % AUTH_CACHE_SIZE;

    memcpy(e->digest, d, crypto_generichash_BYTES);
    e->user_id = user_id;
    e->dir_admin = dir_admin;
    e->expires = time(NULL) + conf->cred_cache_ttl;

    pthread_mutex_unlock(&auth_mtx);
}


void
auth_forget_all(void)
{
    pthread_mutex_lock(&auth_mtx);
    sodium_memzero(auth_cache, sizeof(auth_cache));
    pthread_mutex_unlock(&auth_mtx);
}


void
auth_forget(long long user_id)
{
    size_t  i;

    pthread_mutex_lock(&auth_mtx);

    for (i = 0; i < AUTH_CACHE_SIZE; i++) {
        if (auth_cache[i].user_id == user_id) {
            sodium_memzero(&auth_cache[i], sizeof(auth_cache[i]));
        }
    }

    pthread_mutex_unlock(&auth_mtx);
}


/* the throttle's key of an address ('a') or an account ('u', any case) */
static void
auth_fail_key_of(unsigned char key[16], int kind, const char *s, size_t len)
{
    crypto_generichash_state  st;
    unsigned char             c;
    size_t                    i;

    crypto_generichash_init(&st, auth_fail_key, sizeof(auth_fail_key), 16);

    c = (unsigned char) kind;
    crypto_generichash_update(&st, &c, 1);

    for (i = 0; i < len; i++) {
        c = (unsigned char) s[i];
        if (kind == 'u' && c >= 'A' && c <= 'Z') {
            c = (unsigned char) (c - 'A' + 'a');
        }
        crypto_generichash_update(&st, &c, 1);
    }

    crypto_generichash_final(&st, key, 16);
}


/* the entry of key in its window, NULL if none; under auth_fail_mtx */
static struct auth_fail *
auth_fail_find(const unsigned char key[16], time_t now)
{
    size_t  i;

    for (i = 0; i < AUTH_THROTTLE_SIZE; i++) {
        if (auth_fails[i].start + AUTH_FAIL_WINDOW > now
            && memcmp(auth_fails[i].key, key, 16) == 0)
        {
            return &auth_fails[i];
        }
    }

    return NULL;
}


/* one more failure of key: its entry, or the oldest one reused */
static void
auth_fail_count(const unsigned char key[16], time_t now)
{
    struct auth_fail  *f;
    size_t             i;

    f = auth_fail_find(key, now);

    if (f == NULL) {
        f = &auth_fails[0];
        for (i = 1; i < AUTH_THROTTLE_SIZE; i++) {
            if (auth_fails[i].start < f->start) {
                f = &auth_fails[i];
            }
        }
        memcpy(f->key, key, 16);
        f->start = now;
        f->count = 0;
    }

    f->count++;
}


/*
 * Whether a login from ip as name is refused untried: 1 with *wait (the
 * seconds until it will be tried), else 0.  See the top of the file.
 */
static int
auth_throttled(const char *ip, const char *name, size_t nlen, long *wait)
{
    struct auth_fail  *a, *u;
    unsigned char      ka[16], ku[16];
    time_t             now;
    int                over;

    auth_fail_key_of(ka, 'a', ip, strlen(ip));
    auth_fail_key_of(ku, 'u', name, nlen);
    now = time(NULL);
    over = 0;

    pthread_mutex_lock(&auth_fail_mtx);

    a = auth_fail_find(ka, now);
    u = auth_fail_find(ku, now);

    if (a != NULL && a->count >= AUTH_FAIL_MAX) {
        over = 1;
        *wait = (long) (a->start + AUTH_FAIL_WINDOW - now);

    } else if (a != NULL && u != NULL && u->count >= AUTH_ACCOUNT_FAIL_MAX) {
        over = 1;
        *wait = (long) (u->start + AUTH_FAIL_WINDOW - now);
    }

    pthread_mutex_unlock(&auth_fail_mtx);

    if (over) {
        metrics_login(1);
    }

    return over;
}


/* a failed login from ip as name counts against both */
static void
auth_failed(const char *ip, const char *name, size_t nlen)
{
    unsigned char  ka[16], ku[16];
    time_t         now;

    auth_fail_key_of(ka, 'a', ip, strlen(ip));
    auth_fail_key_of(ku, 'u', name, nlen);
    now = time(NULL);

    pthread_mutex_lock(&auth_fail_mtx);
    auth_fail_count(ka, now);
    auth_fail_count(ku, now);
    pthread_mutex_unlock(&auth_fail_mtx);

    metrics_login(0);
}


/* 1 if s is well-formed UTF-8 (RFC 3629: no overlong forms, surrogates) */
static int
auth_utf8_valid(const char *s, size_t len)
{
    const unsigned char  *p, *e;
    unsigned              c, min;
    int                   n;

    p = (const unsigned char *) s;
    e = p + len;

    while (p < e) {
        c = *p++;

        if (c < 0x80) {
            continue;
        } else if (c >= 0xc2 && c <= 0xdf) {
            n = 1; c &= 0x1f; min = 0x80;
        } else if (c >= 0xe0 && c <= 0xef) {
            n = 2; c &= 0x0f; min = 0x800;
        } else if (c >= 0xf0 && c <= 0xf4) {
            n = 3; c &= 0x07; min = 0x10000;
        } else {
            return 0;
        }

        if (e - p < n) {
            return 0;
        }

        while (n--) {
            if ((*p & 0xc0) != 0x80) {
                return 0;
            }
            c = (c << 6) | (*p++ & 0x3f);
        }

        if (c < min || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff)) {
            return 0;
        }
    }

    return 1;
}


/* the local user of a verified directory login, created at the first */
int
auth_onboard(struct dbc *db, const char *name, const struct dir_user *lu,
    struct user *u)
{
    PGresult  *r;

    /* a race of two first logins: the loser's INSERT conflicts */
    if (db_cmd(db, "INSERT INTO users (username, email, realname, password)"
               " SELECT $1::text, CASE WHEN $2::text = '' OR EXISTS (SELECT 1"
               " FROM users WHERE lower(email) = lower($2::text)) THEN NULL"
               " ELSE $2::text END, $3::text, ''"
               " WHERE NOT EXISTS (SELECT 1 FROM users"
               " WHERE lower(username) = lower($1::text))",
               3, name, lu->mail, lu->realname) < 0
        && db->err != DB_ERR_CONFLICT)
    {
        return AUTH_ERROR;
    }

    r = db_execv(db, "SELECT user_id, username, sysadmin_flag FROM users"
                 " WHERE lower(username) = lower($1) AND NOT deleted", 1,
                 name);
    if (r == NULL) {
        return AUTH_ERROR;
    }

    /* the directory never logs anyone in as the local admin */
    if (PQntuples(r) != 1 || db_ll(r, 0, 0) == 1) {
        PQclear(r);
        return AUTH_FAIL;
    }

    u->id = db_ll(r, 0, 0);
    snprintf(u->name, sizeof(u->name), "%s", db_s(r, 0, 1));
    u->sysadmin = db_b(r, 0, 2);
    PQclear(r);

    return AUTH_OK;
}


/*
 * The user's groups of a directory login: the known LDAP groups whose
 * DN is one of lu's, in place of those of the last login.
 */
static int
auth_dir_groups(struct dbc *db, long long user_id, const struct dir_user *lu)
{
    char  uid[32];

    snprintf(uid, sizeof(uid), "%lld", user_id);

    /*
     * One statement: its parts see the same snapshot, so the DELETE
     * takes only the groups left and the INSERT adds only new ones.
     */
    if (db_cmd(db, "WITH g AS (SELECT id FROM user_group"
               " WHERE group_type = 1 AND ldap_group_dn"
               " = ANY (string_to_array($2::text, E'\\n'))),"
               " gone AS (DELETE FROM user_group_member WHERE user_id = $1"
               " AND group_id NOT IN (SELECT id FROM g))"
               " INSERT INTO user_group_member (user_id, group_id)"
               " SELECT $1::integer, id FROM g ON CONFLICT DO NOTHING",
               2, uid, lu->groups != NULL ? lu->groups : "") < 0)
    {
        return AUTH_ERROR;
    }

    return AUTH_OK;
}


/*
 * A login of auth_mode ldap_auth (every name but admin's): the cache,
 * else the directory; a first login creates the local user.  The
 * directory's answer on groups (user_group_member) and on admin
 * (ldap_group_admin_dn: a system admin for this login) holds as long as
 * the cached credential.
 */
static int
auth_check_ldap(struct dbc *db, const char *nm, size_t nlen, const char *pw,
    size_t plen, struct user *u)
{
    struct dir_conf   lc;
    struct dir_user   lu;
    PGresult          *r;
    unsigned char      d[crypto_generichash_BYTES];
    int                rc, admin;

    /* what marks a directory login in the cache, instead of a hash */
    auth_digest(d, nm, nlen, pw, plen, "\001ldap");

    r = db_execv(db, "SELECT user_id, username, sysadmin_flag FROM users"
                 " WHERE lower(username) = lower($1) AND NOT deleted"
                 " AND user_id <> 1", 1, nm);
    if (r == NULL) {
        return AUTH_ERROR;
    }

    admin = 0;

    if (PQntuples(r) == 1 && auth_cache_hit(d, db_ll(r, 0, 0), &admin)) {
        u->id = db_ll(r, 0, 0);
        snprintf(u->name, sizeof(u->name), "%s", db_s(r, 0, 1));
        u->sysadmin = db_b(r, 0, 2) || admin;
        PQclear(r);
        sodium_memzero(d, sizeof(d));
        return AUTH_OK;
    }

    PQclear(r);

    if (dir_conf_get(&lc) != 0) {
        return AUTH_ERROR;
    }

    rc = dir_login(&lc, nm, nlen, pw, plen, &lu);
    dir_conf_free(&lc);

    if (rc == AUTH_OK) {
        rc = auth_onboard(db, lu.uid[0] != '\0' ? lu.uid : nm, &lu, u);
    }

    if (rc == AUTH_OK) {
        rc = auth_dir_groups(db, u->id, &lu);
    }

    if (rc == AUTH_OK) {
        u->sysadmin = u->sysadmin || lu.admin;
        auth_cache_add(d, u->id, lu.admin);
    } else {
        memset(u, 0, sizeof(*u));
    }

    dir_user_free(&lu);
    sodium_memzero(d, sizeof(d));

    return rc;
}


/*
 * Check a username and password against the users table.
 * AUTH_OK fills u; AUTH_FAIL for an unknown user or a wrong password
 * alike; AUTH_ERROR if the database could not answer.
 */
static int
auth_check(struct dbc *db, const char *name, size_t nlen, const char *pw,
    size_t plen, struct user *u)
{
    PGresult       *r;
    unsigned char   d[crypto_generichash_BYTES];
    char            newhash[crypto_pwhash_STRBYTES], uid[32];
    const char     *hash;
    int             rc;

    memset(u, 0, sizeof(*u));

    if (nlen == 0 || nlen > AUTHD_USER_MAX || plen == 0
        || plen > AUTHD_PASSWORD_MAX || memchr(name, '\0', nlen) != NULL
        || !auth_utf8_valid(name, nlen))
    {
        (void) auth_verify(NULL, pw, plen);
        return AUTH_FAIL;
    }

    {
        char  nm[AUTHD_USER_MAX + 1];

        memcpy(nm, name, nlen);
        nm[nlen] = '\0';

        /* the local admin always logs in from the database */
        if (conf->auth_mode == AUTH_MODE_LDAP && strcasecmp(nm, "admin") != 0)
        {
            return auth_check_ldap(db, nm, nlen, pw, plen, u);
        }

        r = db_execv(db, "SELECT user_id, username, sysadmin_flag, password"
                     " FROM users WHERE username = $1 AND NOT deleted",
                     1, nm);
    }

    if (r == NULL) {
        return AUTH_ERROR;
    }

    if (PQntuples(r) != 1) {
        PQclear(r);
        (void) auth_verify(NULL, pw, plen);
        return AUTH_FAIL;
    }

    hash = db_s(r, 0, 3);
    if (hash == NULL) {
        hash = "";
    }

    u->id = db_ll(r, 0, 0);
    snprintf(u->name, sizeof(u->name), "%s", db_s(r, 0, 1));
    u->sysadmin = db_b(r, 0, 2);

    auth_digest(d, name, nlen, pw, plen, hash);

    if (hash[0] != '\0' && auth_cache_hit(d, u->id, NULL)) {
        PQclear(r);
        return AUTH_OK;
    }

    rc = auth_verify(hash, pw, plen) == 0 ? AUTH_OK : AUTH_FAIL;

    if (rc == AUTH_OK) {
        auth_cache_add(d, u->id, 0);

        /* stored with weaker parameters than today's: upgrade it */
        if (crypto_pwhash_str_needs_rehash(hash,
                crypto_pwhash_OPSLIMIT_INTERACTIVE,
                crypto_pwhash_MEMLIMIT_INTERACTIVE) != 0
            && auth_hash(pw, plen, newhash, sizeof(newhash)) == 0)
        {
            snprintf(uid, sizeof(uid), "%lld", u->id);
            (void) db_cmd(db, "UPDATE users SET password = $1"
                          " WHERE user_id = $2 AND password = $3",
                          3, newhash, uid, hash);
            sodium_memzero(newhash, sizeof(newhash));
        }

        if (u->id == 1 && plen == sizeof(AUTHD_DEFAULT_ADMIN_PASSWORD) - 1
            && sodium_memcmp(pw, AUTHD_DEFAULT_ADMIN_PASSWORD, plen) == 0)
        {
            log_warnx("WARNING: user \"admin\" still has the default "
                      "password: change it now");
        }

    } else {
        memset(u, 0, sizeof(*u));
    }

    sodium_memzero(d, sizeof(d));
    PQclear(r);

    return rc;
}



/*
 * A login from ip (the client's address, "" if unknown): auth_check()
 * unless it is throttled, AUTH_THROTTLED with *wait then (no database
 * query, no argon2id).  A failure counts against the address and the
 * account.
 */
int
auth_user(struct dbc *db, const char *name, size_t nlen, const char *pw,
    size_t plen, const char *ip, struct user *u, long *wait)
{
    int  rc;

    memset(u, 0, sizeof(*u));

    if (auth_throttled(ip, name, nlen, wait)) {
        return AUTH_THROTTLED;
    }

    rc = auth_check(db, name, nlen, pw, plen, u);

    if (rc == AUTH_FAIL) {
        auth_failed(ip, name, nlen);
    }

    return rc;
}

/*
 * A robot account's login (api_robots.c), through the same throttle and
 * credential cache as users': AUTH_OK fills u (id 0, robot_id, name).
 * An unknown robot, a wrong secret, a disabled robot and an expired one
 * are one answer, AUTH_FAIL, after the same argon2id work.  Whether the
 * robot is disabled or expired is read at every login, cache hit or
 * not: it takes effect at once.  *fresh is 1 when the secret was
 * verified (not served from the cache), the moment worth an audit row.
 */
int
auth_robot(struct dbc *db, const char *name, size_t nlen, const char *pw,
    size_t plen, const char *ip, struct user *u, long *wait, int *fresh)
{
    PGresult       *r;
    unsigned char   d[crypto_generichash_BYTES];
    char            nm[AUTHD_USER_MAX + 1];
    const char     *hash;
    long long       id;
    int             rc, usable;

    memset(u, 0, sizeof(*u));
    *fresh = 0;

    if (auth_throttled(ip, name, nlen, wait)) {
        return AUTH_THROTTLED;
    }

    if (nlen == 0 || nlen > AUTHD_USER_MAX || plen == 0
        || plen > AUTHD_PASSWORD_MAX || memchr(name, '\0', nlen) != NULL
        || !auth_utf8_valid(name, nlen))
    {
        (void) auth_verify(NULL, pw, plen);
        auth_failed(ip, name, nlen);
        return AUTH_FAIL;
    }

    memcpy(nm, name, nlen);
    nm[nlen] = '\0';

    r = db_execv(db, "SELECT id, name, secret, NOT disabled AND (expires_at"
                 " = -1 OR expires_at > extract(epoch FROM now()))"
                 " FROM robot WHERE lower(name) = lower($1)", 1, nm);
    if (r == NULL) {
        return AUTH_ERROR;
    }

    if (PQntuples(r) != 1) {
        PQclear(r);
        (void) auth_verify(NULL, pw, plen);
        auth_failed(ip, name, nlen);
        return AUTH_FAIL;
    }

    id = db_ll(r, 0, 0);
    hash = db_s(r, 0, 2);
    if (hash == NULL) {
        hash = "";
    }
    usable = db_b(r, 0, 3);

    /* robots in the cache under negative ids: never a user's entry */
    auth_digest(d, name, nlen, pw, plen, hash);

    if (usable && hash[0] != '\0' && auth_cache_hit(d, -id, NULL)) {
        rc = AUTH_OK;

    } else {
        rc = auth_verify(hash, pw, plen) == 0 && usable ? AUTH_OK : AUTH_FAIL;
        *fresh = 1;

        if (rc == AUTH_OK) {
            auth_cache_add(d, -id, 0);
        }
    }

    if (rc == AUTH_OK) {
        u->robot_id = id;
        snprintf(u->name, sizeof(u->name), "%s", db_s(r, 0, 1));
    } else {
        auth_failed(ip, name, nlen);
    }

    sodium_memzero(d, sizeof(d));
    PQclear(r);

    return rc;
}


/* Harbor's rule: 8 to 128 characters, an upper, a lower case and a digit */
int
auth_password_ok(const char *pw, char *err, size_t errlen)
{
    size_t       len;
    int          upper, lower, digit;
    const char  *p;

    len = strlen(pw);
    upper = lower = digit = 0;

    for (p = pw; *p; p++) {
        upper |= *p >= 'A' && *p <= 'Z';
        lower |= *p >= 'a' && *p <= 'z';
        digit |= *p >= '0' && *p <= '9';
    }

    if (len < 8 || len > 128 || !upper || !lower || !digit) {
        snprintf(err, errlen, "the password must be 8 to 128 characters "
                 "long, with at least one uppercase letter, one lowercase "
                 "letter and one digit");
        return 0;
    }

    return 1;
}


/* 1 if user 1 (admin) still has Harbor's default password */
int
auth_is_default_admin(struct dbc *db)
{
    PGresult  *r;
    int        rc;

    r = db_execv(db, "SELECT password FROM users WHERE user_id = 1"
                 " AND NOT deleted", 0);
    if (r == NULL) {
        return 0;
    }

    rc = PQntuples(r) == 1
         && auth_verify(db_s(r, 0, 0), AUTHD_DEFAULT_ADMIN_PASSWORD,
                        sizeof(AUTHD_DEFAULT_ADMIN_PASSWORD) - 1) == 0;

    PQclear(r);

    return rc;
}
