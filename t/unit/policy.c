/*
 * ngx-harbor: unit tests of harbor_policy.c: doublestar globs (the one
 * matcher of the module, immutable rules, retention and replication
 * filters) and the immutable tag rules file: its path, its lines, and the
 * decision, with a malformed file refused.
 */

#include <stdio.h>
#include <string.h>

#include "harbor_grammar.h"
#include "harbor_policy.h"
#include "tap.h"


#define M(p, s)  hb_glob_match(p, s, strlen(s))
#define IMM(rules, name, tag)                                               \
    hb_policy_immutable(rules, strlen(rules), name, strlen(name), tag,     \
                        strlen(tag))


int
main(void)
{
    char  buf[600];
    int   n;

    /* globs */
    ok(M("**", "a/b/c"), "** crosses /");
    ok(M("*", "app"), "* within a component");
    ok(!M("*", "team/app"), "* does not cross /");
    ok(M("team/**", "team/a/b"), "team/**");
    ok(M("**/app", "app"), "**/ may match nothing");
    ok(M("**/app", "x/y/app"), "**/ matches directories");
    ok(M("v?", "v1") && !M("v?", "v10"), "?");
    ok(M("v[0-9]*", "v1.2") && !M("v[0-9]*", "va"), "classes");
    ok(M("[!a]b", "xb") && !M("[!a]b", "ab"), "negated classes");
    ok(M("{v,rel}-*", "rel-1") && M("{v,rel}-*", "v-1")
       && !M("{v,rel}-*", "x-1"), "alternatives");
    ok(M("1.0", "1.0") && !M("1.0", "1x0"), "a dot is a dot");
    ok(M("a\\*", "a*") && !M("a\\*", "ab"), "quoted");
    ok(!hb_glob_valid("v{1") && !hb_glob_valid("a}") && !hb_glob_valid("[a")
       && !hb_glob_valid("a\\"), "malformed patterns");
    ok(!hb_glob_match("a*", "ab\0c", 4), "an embedded NUL never matches");

    /* patterns fit for a rule */
    ok(hb_policy_pattern_valid("v*"), "a pattern");
    ok(!hb_policy_pattern_valid(""), "empty refused");
    ok(!hb_policy_pattern_valid("a\tb") && !hb_policy_pattern_valid("a\nb"),
       "control characters refused");

    /* the path */
    n = hb_policy_immutable_path(buf, sizeof(buf), "/s", 2, "lib", 3);
    is_str(n > 0 ? buf : NULL, "/s/_policies/immutable/lib", "path");
    ok(hb_policy_immutable_path(buf, sizeof(buf), "/s", 2, "..", 2) == -1,
       "no .. as a project");
    ok(hb_policy_immutable_path(buf, sizeof(buf), "/s", 2, "a/b", 3) == -1,
       "no / in a project");
    ok(hb_policy_immutable_path(buf, 10, "/s", 2, "lib", 3) == -1,
       "too small a buffer");

    /* lines */
    n = hb_policy_immutable_line(buf, sizeof(buf), 0, "**", 1, "dev*");
    is_str(n > 0 ? buf : NULL, "m\t**\tx\tdev*\n", "a line");
    ok(hb_policy_immutable_line(buf, sizeof(buf), 0, "a\tb", 0, "x") == -1,
       "a line with a tab in a pattern refused");

    /* decisions */
    ok(IMM("m\t**\tm\tv*\n", "p/app", "v1") == 1, "matches");
    ok(IMM("m\t**\tm\tv*\n", "p/app", "dev") == 0, "not matched");
    ok(IMM("m\tapp\tm\tv*\n", "p/app", "v1") == 1,
       "the repository without its project");
    ok(IMM("m\tp/app\tm\tv*\n", "p/app", "v1") == 0,
       "not with its project");
    ok(IMM("m\t**\tx\tdev*\n", "p/app", "v1") == 1, "tag excludes");
    ok(IMM("m\t**\tx\tdev*\n", "p/app", "dev1") == 0, "tag excluded");
    ok(IMM("x\tteam/**\tm\t**\n", "p/team/a", "v1") == 0,
       "repository excluded");
    ok(IMM("x\tteam/**\tm\t**\n", "p/app", "v1") == 1,
       "repository not excluded");
    ok(IMM("m\tx\tm\tx\nm\t**\tm\t1.*\n", "p/app", "1.0") == 1,
       "any rule");
    ok(IMM("", "p/app", "1.0") == 0, "no rules");
    ok(IMM("garbage\n", "p/app", "v1") == -1, "malformed: -1");
    ok(IMM("m\t**\tm\tv*", "p/app", "v1") == -1, "no final newline: -1");
    ok(IMM("q\t**\tm\tv*\n", "p/app", "v1") == -1, "bad decoration: -1");
    ok(IMM("m\t{\tm\tv*\n", "p/app", "v1") == -1, "bad pattern: -1");

    return done_testing();
}
