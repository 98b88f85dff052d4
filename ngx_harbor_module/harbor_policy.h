/*
 * ngx-harbor: doublestar globs and the immutable tag rules file, shared
 * by the nginx module (the check on a tag move or delete), authd (the
 * rules' API, which writes the file; retention, which spares what the
 * rules protect) and replication's filters.  Plain C (no nginx types).
 *
 * The rules of one project live in
 *
 *   <storage>/_policies/immutable/<project>
 *
 * one enabled rule per line, written by authd atomically (temporary
 * file, fsync, rename, fsync of the directory) whenever the rules
 * change, and read by the module on every request that would move or
 * delete a tag (no cache: never stale).  A line is
 *
 *   <m|x> TAB <repository pattern> TAB <m|x> TAB <tag pattern> LF
 *
 * "m" matches, "x" excludes; the repository pattern is matched against
 * the repository name without its project ("app", "team/app"), as
 * Harbor does.  Patterns hold no control character.
 */

#ifndef HARBOR_POLICY_H
#define HARBOR_POLICY_H

#include <stddef.h>
#include <regex.h>


#define HB_POLICY_IMMUTABLE   "/_policies/immutable"
#define HB_POLICY_PROXY       "/_policies/proxy"    /* proxy cache projects */
/*
 * The subject of the tokens authd signs for its own fetches into a proxy
 * cache project: the module serves them from the storage, never sending
 * them back to authd ('#' is in no user's name).
 */
#define HB_PROXY_USER         "harbor#proxy-cache"
#define HB_POLICY_MAX         (64 * 1024)   /* a rules file, at most */
#define HB_GLOB_MAX           255           /* a pattern, at most */


/*
 * A doublestar glob: "**" crosses '/', "**" + "/" may match nothing,
 * '*' and '?' stay within a component, [a-z] and [!a-z] classes, {a,b}
 * alternatives, '\' quotes.  hb_glob_compile: 0, or -1 for a pattern
 * that is not one (then re is not to be freed).
 */
int hb_glob_compile(const char *pat, regex_t *re);
int hb_glob_valid(const char *pat);

/* s of slen bytes (not NUL-terminated) against pat: 1 or 0 */
int hb_glob_match(const char *pat, const char *s, size_t slen);

/* <storage><dir>/<project> (dir: HB_POLICY_*): its length, or -1 */
int hb_policy_path(char *buf, size_t len, const char *storage, size_t slen,
    const char *dir, const char *project, size_t plen);

/* <storage>/_policies/immutable/<project>: its length, or -1 */
int hb_policy_immutable_path(char *buf, size_t len, const char *storage,
    size_t slen, const char *project, size_t plen);

/* a pattern fit for a rule: a glob, not empty, no control character */
int hb_policy_pattern_valid(const char *pat);

/*
 * One rule's line into buf (NUL-terminated): its length, or -1 when it
 * does not fit or a pattern is not valid.
 */
int hb_policy_immutable_line(char *buf, size_t len, int repo_excludes,
    const char *repo_pat, int tag_excludes, const char *tag_pat);

/* a rules file compiled: its patterns as regular expressions */
#define HB_POLICY_RULES_MAX   64

typedef struct {
    int       n;
    char      rexcl[HB_POLICY_RULES_MAX];
    char      texcl[HB_POLICY_RULES_MAX];
    regex_t   rre[HB_POLICY_RULES_MAX];
    regex_t   tre[HB_POLICY_RULES_MAX];
} hb_policy_t;

/*
 * The rules text of len bytes compiled into pol: 0, or -1 when it is
 * malformed (callers refuse: fail closed; nothing to free then).
 */
int hb_policy_compile(hb_policy_t *pol, const char *rules, size_t len);
void hb_policy_free(hb_policy_t *pol);

/*
 * Is tag of repository name (with its project: "library/app") immutable
 * under pol?  1 yes, 0 no.
 */
int hb_policy_match(const hb_policy_t *pol, const char *name, size_t nlen,
    const char *tag, size_t tlen);

/* the same from the text: 1 yes, 0 no, -1 the text is malformed */
int hb_policy_immutable(const char *rules, size_t len, const char *name,
    size_t nlen, const char *tag, size_t tlen);

#endif /* HARBOR_POLICY_H */
