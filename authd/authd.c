/*
 * authd: the token service and REST API of ngx-harbor.
 *
 *   authd [-dv] [-f file]    run (-d: foreground, log to stderr)
 *   authd -n [-f file]       check the configuration and exit
 *   authd -R                 print the role x action table as JSON
 *   authd -I [-f file]       rebuild the registry's tables from storage
 *   authd backup [-f file] DIR
 *   authd restore [-f file] DIR
 *                            a consistent copy of the database, the store
 *                            and the keys, and back onto a new
 *                            installation (backup.c; a restore ends with
 *                            the reindex of -I)
 *   authd -G run [-d] [-f file]
 *                            a garbage collection's worker: started by
 *                            authd itself (api_gc.c, gc_main.c), not by
 *                            hand
 *
 * Start-up: read the configuration, load (or on first start create) the
 * token signing key and certificate, create the listening socket, drop
 * privileges, connect to PostgreSQL (waiting for it a little), apply
 * pending migrations, create admin and "library" on first start, then
 * serve until SIGTERM or SIGINT.
 */

#include <sys/types.h>

#include <errno.h>
#include <grp.h>
#include <pthread.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include <systemd/sd-daemon.h>

#include "authd.h"


struct config  *conf;
volatile int    authd_quit;

static void usage(void) __attribute__((noreturn));
static void authd_drop_privileges(void);
static void authd_database(void);
static void authd_notify(const char *state);


static void
usage(void)
{
    fprintf(stderr, "usage: authd [-dInRvV] [-f file]\n"
            "       authd -G run [-d] [-f file]\n"
            "       authd cert [-d dir] [-r] name|address ...\n"
            "       authd copy [-ckK] [-C chunk-bytes] [-s speed-kbps] "
            "SRC DST\n"
            "       authd harbor-yml file\n"
            "       authd backup|restore [-f file] DIR\n");
    exit(1);
}


static void
authd_drop_privileges(void)
{
    struct passwd  *pw;

    if (geteuid() != 0) {
        return;
    }

    if (conf->user == NULL) {
        log_warnx("running as root: set authd.user to drop privileges");
        return;
    }

    pw = getpwnam(conf->user);
    if (pw == NULL) {
        fatalx("unknown user \"%s\"", conf->user);
    }

    if (setgroups(1, &pw->pw_gid) == -1
        || setresgid(pw->pw_gid, pw->pw_gid, pw->pw_gid) == -1
        || setresuid(pw->pw_uid, pw->pw_uid, pw->pw_uid) == -1)
    {
        fatal("cannot drop privileges to \"%s\"", conf->user);
    }

    log_debug("running as \"%s\"", conf->user);
}


static void
authd_database(void)
{
    struct dbc  *c;
    time_t       give_up;
    int          waited;

    give_up = time(NULL) + conf->db_wait;
    waited = 0;

    /* PostgreSQL may still be starting: wait for it, a bounded while */
    while (db_init() != 0) {
        db_close();

        if (time(NULL) >= give_up) {
            fatalx("cannot connect to the database %s on %s",
                   conf->db_name, conf->db_host);
        }

        if (!waited) {
            log_info("waiting up to %d seconds for the database",
                     conf->db_wait);
            waited = 1;
        }

        sleep(1);
    }

    c = db_get();
    if (c == NULL) {
        fatalx("cannot connect to the database");
    }

    if (db_migrate(c) != 0) {
        fatalx("the database schema could not be brought up to date");
    }

    if (db_bootstrap(c, conf->admin_password) != 0) {
        fatalx("creating the first administrator failed");
    }

    if (settings_load(c) != 0) {
        fatalx("the stored configuration could not be read");
    }

    if (auth_is_default_admin(c)) {
        log_warnx("**********************************************************");
        log_warnx("WARNING: user \"admin\" still has the default password.");
        log_warnx("Change it now: PUT /api/v2.0/users/1/password");
        log_warnx("**********************************************************");
    }

    db_put(c);

    /* the configuration's copy is not needed any more */
    explicit_bzero(conf->admin_password, strlen(conf->admin_password));
}


/* systemd's readiness protocol, when started as Type=notify */
static void
authd_notify(const char *state)
{
    (void) sd_notify(0, state);
}


int
main(int argc, char *argv[])
{
    const char  *conffile, *gcrun;
    sigset_t     set;
    json_t      *t;
    struct reindex_stats  st;
    struct dbc  *c;
    int          ch, debug, noaction, table, verbose, sig, reindex;

    conffile = AUTHD_CONF;
    debug = 0;
    noaction = 0;
    table = 0;
    verbose = 0;
    reindex = 0;
    gcrun = NULL;

    log_init(1, LOG_DAEMON);

    /* subcommands: tools for the operator, no configuration */
    if (argc > 1 && strcmp(argv[1], "cert") == 0) {
        return tls_cert_main(argc - 1, argv + 1);
    }
    if (argc > 1 && strcmp(argv[1], "harbor-yml") == 0) {
        return harbor_yml_main(argc - 1, argv + 1);
    }

    if (argc > 1 && strcmp(argv[1], "copy") == 0) {
        /* one replication copy from the command line */
        return repl_copy_main(argc - 1, argv + 1);
    }

    if (argc > 1 && (strcmp(argv[1], "backup") == 0
                     || strcmp(argv[1], "restore") == 0))
    {
        /* a restore goes on as authd -I on the same configuration */
        ch = backup_main(argc - 1, argv + 1, &conffile, &reindex);
        if (ch != 0 || !reindex) {
            return ch;
        }
        debug = 1;
        optind = argc;
    }

    while (optind < argc
           && (ch = getopt(argc, argv, "df:G:InRvV")) != -1)
    {
        switch (ch) {
        case 'd':
            debug = 1;
            break;
        case 'f':
            conffile = optarg;
            break;
        case 'G':
            gcrun = optarg;
            break;
        case 'I':
            reindex = 1;
            debug = 1;
            break;
        case 'n':
            noaction = 1;
            break;
        case 'R':
            table = 1;
            break;
        case 'v':
            verbose = 1;
            break;
        case 'V':
            printf("authd %s (%s)\n", AUTHD_VERSION, AUTHD_HARBOR_VERSION);
            return 0;
        default:
            usage();
        }
    }

    if (optind != argc) {
        usage();
    }

    if (table) {
        t = rbac_table();
        if (t == NULL || json_dumpf(t, stdout, JSON_INDENT(2)) != 0) {
            return 1;
        }
        json_decref(t);
        putchar('\n');
        return 0;
    }

    conf = config_parse(conffile);
    if (conf == NULL) {
        return 1;
    }

    if (noaction) {
        fprintf(stderr, "%s: configuration OK\n", conffile);
        config_free(conf);
        return 0;
    }

    log_setlevel(verbose ? LOG_DEBUG : conf->log_level);
    log_init(debug, LOG_DAEMON);

    /* opened before privileges are dropped, as nginx opens its logs */
    if (conf->log_file != NULL && conf->log_file[0] != '\0'
        && log_open_file(conf->log_file) != 0)
    {
        fatal("cannot open the log file \"%s\"", conf->log_file);
    }
    authd_debug = debug;

    if (gcrun != NULL) {
        /* a fresh process, exec'd by authd: no socket, no database */
        ch = gc_main(gcrun);
        config_free(conf);
        return ch;
    }

    signal(SIGPIPE, SIG_IGN);

    if (auth_init() != 0) {
        fatalx("libsodium could not be initialised");
    }

    if (registry_init() != 0) {
        fatalx("libcurl could not be initialised");
    }

    if (keys_load(conf->token_key, conf->token_cert, conf->token_algorithm,
                  conf->token_key_bits, &token_key) != 0)
    {
        fatalx("cannot load or create the token signing key");
    }

    log_info("token signing key %s", token_key.kid);

    if (secret_load(conf->secret_key) != 0) {
        fatalx("cannot load or create the secret key %s", conf->secret_key);
    }

    if (repl_init() != 0) {
        fatalx("the replication client could not be initialised");
    }

    if (reindex) {
        /* once, from the command line: no socket, no journal */
        authd_drop_privileges();
        authd_database();

        c = db_get();
        if (c == NULL) {
            fatalx("cannot connect to the database");
        }

        if (reindex_run(c, "authd -I", &st) != 0) {
            fatalx("reindex failed");
        }

        db_put(c);
        printf("reindex: %lld repositories, %lld artifacts, %lld tags, "
               "%lld rows removed, %lld errors\n", st.repositories,
               st.artifacts, st.tags, st.removed, st.errors);

        db_close();
        registry_cleanup();
        keys_free(&token_key);
        config_free(conf);

        return st.errors ? 2 : 0;
    }

    if (http_listen() != 0) {
        fatalx("cannot create the listening socket");
    }

    authd_drop_privileges();
    authd_database();

    if (!debug && daemon(1, 0) == -1) {
        fatal("daemon");
    }

    /* the workers inherit this mask: only the main thread takes signals */
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGHUP);
    sigaddset(&set, SIGUSR1);
    pthread_sigmask(SIG_BLOCK, &set, NULL);

    if (http_start() != 0) {
        fatalx("cannot serve HTTP");
    }

    if (journal_start() != 0) {
        fatalx("cannot read the journal");
    }

    log_info("authd %s ready", AUTHD_VERSION);
    authd_notify("READY=1");

    for ( ;; ) {
        if (sigwait(&set, &sig) != 0) {
            continue;
        }

        if (sig == SIGHUP) {
            log_info("SIGHUP: the configuration is read at start only; "
                     "restart authd to apply changes");
            continue;
        }

        if (sig == SIGUSR1) {
            if (log_reopen() == 0) {
                log_info("SIGUSR1: log file reopened");
            }
            continue;
        }

        break;
    }

    log_info("shutting down on signal %d", sig);
    authd_notify("STOPPING=1");
    authd_quit = 1;

    /*
     * The threads that use the database pool stop first: the HTTP
     * workers and the journal reader are joined; a background run
     * (reindex, garbage collection) fails its next statement and gives
     * its connection back, which db_close() waits for.  If one still
     * holds a connection after that wait, what it may touch (the pool,
     * the configuration) is left to the exit rather than freed under it.
     */
    http_stop();
    journal_stop();

    if (db_close() != 0) {
        log_warnx("exiting with a database connection still in use");
        return 0;
    }

    registry_cleanup();
    keys_free(&token_key);
    config_free(conf);

    return 0;
}
