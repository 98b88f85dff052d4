/*
 * authd: mail through SMTP, with libcurl (docs/authd.md, "Password reset
 * by email").
 *
 * email_ssl: implicit TLS (smtps://); otherwise STARTTLS when the server
 * offers it, and required when credentials are to be sent.  email_insecure
 * skips the verification of the server's certificate.  A send runs in a
 * thread of its own, so that a request never waits for the mail server
 * and its answer time does not say whether a mail went out; at most
 * MAIL_SENDS_MAX run at once, more are dropped with a log line.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <curl/curl.h>
#include <sodium.h>

#include "authd.h"


#define MAIL_SENDS_MAX   8
#define MAIL_TIMEOUT     30             /* seconds per send */

static volatile int  mail_sends;

struct mail_job {
    struct mail_conf   mc;
    char              *to;
    char              *msg;             /* headers and body, CRLF */
    size_t             len;
    size_t             off;
};


int
mail_conf_get(struct mail_conf *mc)
{
    memset(mc, 0, sizeof(*mc));

    settings_rdlock();

    mc->host = strdup(conf->email_host);
    mc->username = strdup(conf->email_username);
    mc->password = strdup(conf->email_password);
    mc->from = strdup(conf->email_from);
    mc->identity = strdup(conf->email_identity);
    mc->port = conf->email_port;
    mc->ssl = conf->email_ssl;
    mc->insecure = conf->email_insecure;

    settings_unlock();

    if (mc->host == NULL || mc->username == NULL || mc->password == NULL
        || mc->from == NULL || mc->identity == NULL)
    {
        mail_conf_free(mc);
        return -1;
    }

    return 0;
}


void
mail_conf_free(struct mail_conf *mc)
{
    if (mc->password != NULL) {
        sodium_memzero(mc->password, strlen(mc->password));
    }

    free(mc->host);
    free(mc->username);
    free(mc->password);
    free(mc->from);
    free(mc->identity);
    memset(mc, 0, sizeof(*mc));
}


/* the address inside "Name <addr>", or the whole value */
static void
mail_addr(const char *from, char *out, size_t len)
{
    const char  *lt, *gt;

    lt = strrchr(from, '<');
    gt = lt ? strchr(lt, '>') : NULL;

    if (lt && gt) {
        snprintf(out, len, "<%.*s>", (int) (gt - lt - 1), lt + 1);
    } else {
        snprintf(out, len, "<%s>", from);
    }
}


static size_t
mail_read(char *buf, size_t size, size_t n, void *arg)
{
    struct mail_job  *j = arg;
    size_t            len;

    len = j->len - j->off;
    if (len > size * n) {
        len = size * n;
    }

    memcpy(buf, j->msg + j->off, len);
    j->off += len;

    return len;
}


/*
 * One SMTP session with mc: the message to `to`, or (msg NULL) a NOOP,
 * which tests the connection, TLS and the login.
 */
static int
mail_session(const struct mail_conf *mc, const char *to, struct mail_job *j,
    char *err, size_t errlen)
{
    CURL               *c;
    CURLcode            rc;
    struct curl_slist  *rcpt;
    char                url[400], from[300], ebuf[CURL_ERROR_SIZE];

    if (mc->host[0] == '\0') {
        snprintf(err, errlen, "email_host is not set");
        return -1;
    }

    snprintf(url, sizeof(url), "%s://%s:%d", mc->ssl ? "smtps" : "smtp",
             mc->host, mc->port);

    c = curl_easy_init();
    if (c == NULL) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }

    ebuf[0] = '\0';
    rcpt = NULL;

    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "smtp,smtps");
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, 10L);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, (long) MAIL_TIMEOUT);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, ebuf);

    /* credentials go over TLS only */
    curl_easy_setopt(c, CURLOPT_USE_SSL, mc->username[0] != '\0'
                     ? (long) CURLUSESSL_ALL : (long) CURLUSESSL_TRY);

    if (mc->insecure) {
        curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 0L);
        curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 0L);
    }

    if (mc->username[0] != '\0') {
        curl_easy_setopt(c, CURLOPT_USERNAME, mc->username);
        curl_easy_setopt(c, CURLOPT_PASSWORD, mc->password);
        if (mc->identity[0] != '\0') {
            curl_easy_setopt(c, CURLOPT_SASL_AUTHZID, mc->identity);
        }
    }

    if (j != NULL) {
        mail_addr(mc->from, from, sizeof(from));
        rcpt = curl_slist_append(NULL, to);
        curl_easy_setopt(c, CURLOPT_MAIL_FROM, from);
        curl_easy_setopt(c, CURLOPT_MAIL_RCPT, rcpt);
        curl_easy_setopt(c, CURLOPT_READFUNCTION, mail_read);
        curl_easy_setopt(c, CURLOPT_READDATA, j);
        curl_easy_setopt(c, CURLOPT_UPLOAD, 1L);
    } else {
        curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, "NOOP");
        curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
    }

    rc = curl_easy_perform(c);

    curl_slist_free_all(rcpt);
    curl_easy_cleanup(c);

    if (rc != CURLE_OK) {
        snprintf(err, errlen, "%s:%d: %s", mc->host, mc->port,
                 ebuf[0] ? ebuf : curl_easy_strerror(rc));
        return -1;
    }

    return 0;
}


int
mail_ping(const struct mail_conf *mc, char *err, size_t errlen)
{
    return mail_session(mc, NULL, NULL, err, errlen);
}


static void *
mail_thread(void *arg)
{
    struct mail_job  *j = arg;
    char              err[512];

    if (mail_session(&j->mc, j->to, j, err, sizeof(err)) != 0) {
        log_warnx("mail to a user could not be sent: %s", err);
    } else {
        log_info("mail sent to a user through %s", j->mc.host);
    }

    mail_conf_free(&j->mc);
    free(j->to);
    free(j->msg);
    free(j);

    __atomic_sub_fetch(&mail_sends, 1, __ATOMIC_SEQ_CST);

    return NULL;
}


int
mail_send(const char *to, const char *subject, const char *text)
{
    struct mail_job  *j;
    pthread_attr_t    attr;
    pthread_t         tid;
    char              date[64], id[33];
    unsigned char     rnd[16];
    time_t            now;
    struct tm         tm;
    FILE             *f;
    const char       *p;
    int               rc;

    if (__atomic_add_fetch(&mail_sends, 1, __ATOMIC_SEQ_CST)
        > MAIL_SENDS_MAX)
    {
        __atomic_sub_fetch(&mail_sends, 1, __ATOMIC_SEQ_CST);
        log_warnx("mail not sent: %d sends already running", MAIL_SENDS_MAX);
        return -1;
    }

    j = calloc(1, sizeof(*j));
    if (j == NULL || mail_conf_get(&j->mc) != 0) {
        free(j);
        __atomic_sub_fetch(&mail_sends, 1, __ATOMIC_SEQ_CST);
        return -1;
    }

    now = time(NULL);
    gmtime_r(&now, &tm);
    strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S +0000", &tm);
    randombytes_buf(rnd, sizeof(rnd));
    sodium_bin2hex(id, sizeof(id), rnd, sizeof(rnd));

    j->to = strdup(to);
    f = open_memstream(&j->msg, &j->len);
    if (j->to == NULL || f == NULL) {
        goto fail;
    }

    fprintf(f, "Date: %s\r\nTo: <%s>\r\nFrom: %s\r\nSubject: %s\r\n"
            "Message-ID: <%s@ngx-harbor>\r\nMIME-Version: 1.0\r\n"
            "Content-Type: text/plain; charset=utf-8\r\n"
            "Content-Transfer-Encoding: 8bit\r\n\r\n",
            date, to, j->mc.from, subject, id);

    /* the body's lines end in CRLF; a leading dot is doubled by curl */
    for (p = text; *p; p++) {
        if (*p == '\n') {
            fputc('\r', f);
        }
        fputc(*p, f);
    }

    if (fclose(f) != 0) {
        f = NULL;
        goto fail;
    }
    f = NULL;

    if (pthread_attr_init(&attr) != 0) {
        goto fail;
    }
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    rc = pthread_create(&tid, &attr, mail_thread, j);
    pthread_attr_destroy(&attr);

    if (rc != 0) {
        goto fail;
    }

    return 0;

fail:

    if (f != NULL) {
        fclose(f);
    }
    mail_conf_free(&j->mc);
    free(j->to);
    free(j->msg);
    free(j);
    __atomic_sub_fetch(&mail_sends, 1, __ATOMIC_SEQ_CST);
    log_warnx("mail not sent: out of memory or threads");
    return -1;
}
