#!/usr/bin/perl

# Immutable tag rules on /v2 (the module decides from the rules file
# authd writes into the storage, docs/policies.md): a tag a rule protects
# is neither moved by a manifest PUT nor deleted by tag, and a manifest an
# immutable tag points at is not deleted by digest: 412 with Harbor's
# PRECONDITION error, nothing changed; a new tag, the same manifest again,
# tags outside the rule, an excluded tag and a disabled rule are not
# stopped.  A rule applies to the very next request (no cache), a removed
# one as well.  skopeo's push over an immutable tag fails with Harbor's
# words.  A rules file that cannot be parsed keeps every tag (fail
# closed).

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use Test::More;

use Harbor::Test;
use Harbor::Api;
use Harbor::Clients ();

my $s = Harbor::Api->new(workers => 2);
my $admin = $s->admin;
my $host = $s->host;

$s->create_project('imm');
my $tok = $s->bearer(user => 'admin', pass => $admin->[1],
                     scope => 'repository:imm/app:pull,push,delete');
my $tok2 = $s->bearer(user => 'admin', pass => $admin->[1],
                      scope => 'repository:imm/team/web:pull,push,delete');

sub push_tag {
    my ($repo, $tag, $t) = @_;
    my $r = $s->push_image($repo, $t, tag => $tag);
    return ($r->{responses}[-1], $r->{digest});
}

sub tag_digest {
    my ($repo, $tag, $t) = @_;
    my $r = $s->http(HEAD => "/v2/$repo/manifests/$tag", token => $t,
        headers => ['Accept' => Harbor::Test::MT_OCI_MANIFEST()]);
    return $r->{status} == 200 ? $r->{headers}{'docker-content-digest'}
                               : $r->{status};
}

sub rule {
    my ($rdeco, $rpat, $tdeco, $tpat, %o) = @_;
    my $r = $s->api(POST => '/projects/imm/immutabletagrules', $admin,
        json => { disabled => $o{disabled} ? JSON::PP::true()
                                           : JSON::PP::false(),
                  tag_selectors => [{ kind => 'doublestar',
                                      decoration => $tdeco,
                                      pattern => $tpat }],
                  scope_selectors => { repository => [{
                      kind => 'doublestar', decoration => $rdeco,
                      pattern => $rpat }] } });
    is($r->{status}, 201, "rule $rdeco $rpat $tdeco $tpat") or diag $r->{body};
    return (($r->{headers}{location} // '') =~ m{/(\d+)$})[0];
}

my ($r, $d1) = push_tag('imm/app', 'v1', $tok);
is($r->{status}, 201, 'v1 pushed before any rule');
my $d0;
($r, $d0) = push_tag('imm/app', 'dev', $tok);

# a rule: repositories **, tags v*
my $id = rule('repoMatches', '**', 'matches', 'v*');
my $file = $s->storage . '/_policies/immutable/imm';
ok(-f $file, 'the rules file is in the storage');

# a move of v1: refused at once, with Harbor's code and words
my $d2;
($r, $d2) = push_tag('imm/app', 'v1', $tok);
is($r->{status}, 412, 'moving an immutable tag: 412');
is(Harbor::Test->error_code($r), 'PRECONDITION', 'PRECONDITION');
like($r->{body}, qr/'imm\/app:v1' configured as immutable/,
     "Harbor's message names the tag");
is(tag_digest('imm/app', 'v1', $tok), $d1, 'v1 still points where it did');

# not a move: the same manifest again, a new immutable tag, other tags
my $m = $s->http(GET => "/v2/imm/app/manifests/v1", token => $tok,
    headers => ['Accept' => Harbor::Test::MT_OCI_MANIFEST()]);
$r = $s->http(PUT => '/v2/imm/app/manifests/v1', token => $tok,
    body => $m->{body},
    headers => ['Content-Type' => Harbor::Test::MT_OCI_MANIFEST()]);
is($r->{status}, 201, 'the same manifest again under v1: no move, 201');
($r) = push_tag('imm/app', 'v9', $tok);
is($r->{status}, 201, 'a new tag a rule matches: created');
($r) = push_tag('imm/app', 'dev', $tok);
is($r->{status}, 201, 'a tag no rule matches moves');

# deletes through /v2
$r = $s->http(DELETE => '/v2/imm/app/manifests/v1', token => $tok);
is($r->{status}, 412, 'DELETE of an immutable tag: 412');
is(Harbor::Test->error_code($r), 'PRECONDITION', 'PRECONDITION');
$r = $s->http(DELETE => "/v2/imm/app/manifests/$d1", token => $tok);
is($r->{status}, 412, 'DELETE by digest of what an immutable tag points at');
like($r->{body}, qr/imm\/app:v1/, 'names the tag');
is(tag_digest('imm/app', 'v1', $tok), $d1, 'v1 and its manifest stay');
is($s->http(GET => "/v2/imm/app/manifests/$d1", token => $tok,
            headers => ['Accept' => Harbor::Test::MT_OCI_MANIFEST()])
     ->{status}, 200, 'the manifest is readable by digest');

# a manifest whose only tag is mutable goes
my ($rx, $dx) = push_tag('imm/app', 'tmp', $tok);
$r = $s->http(DELETE => "/v2/imm/app/manifests/$dx", token => $tok);
is($r->{status}, 202, 'a manifest without immutable tags is deleted');
$r = $s->http(DELETE => '/v2/imm/app/manifests/dev', token => $tok);
is($r->{status}, 202, 'a mutable tag is deleted');

# repositories: a nested one, matched without its project
($r) = push_tag('imm/team/web', 'v1', $tok2);
is($r->{status}, 201, 'imm/team/web:v1');
($r) = push_tag('imm/team/web', 'v1', $tok2);
is($r->{status}, 412, '** covers nested repositories');

# excludes, on the tag and on the repository
is($s->api(DELETE => "/projects/imm/immutabletagrules/$id", $admin)
     ->{status}, 200, 'rule removed');
ok(!-e $file, 'no rule left: no file');
($r) = push_tag('imm/app', 'v1', $tok);
is($r->{status}, 201, 'the next request may move v1 again');
($r, $d1) = push_tag('imm/app', 'v1', $tok);

$id = rule('repoExcludes', 'team/**', 'excludes', 'dev*');
($r) = push_tag('imm/app', 'v1', $tok);
is($r->{status}, 412, 'excludes dev*: v1 is kept');
($r) = push_tag('imm/app', 'dev', $tok);
is($r->{status}, 201, 'dev is not');
($r) = push_tag('imm/app', 'dev', $tok);
is($r->{status}, 201, 'and moves');
($r) = push_tag('imm/team/web', 'v1', $tok2);
is($r->{status}, 201, 'an excluded repository is not covered');

# a disabled rule: not in the file
is($s->api(PUT => "/projects/imm/immutabletagrules/$id", $admin,
           json => { disabled => JSON::PP::true() })->{status}, 200,
   'rule disabled');
($r) = push_tag('imm/app', 'v1', $tok);
is($r->{status}, 201, 'a disabled rule keeps nothing');
is($s->api(PUT => "/projects/imm/immutabletagrules/$id", $admin,
           json => { disabled => JSON::PP::false() })->{status}, 200,
   'enabled again');
($r) = push_tag('imm/app', 'v1', $tok);
is($r->{status}, 412, 'and applies to the next request');

# skopeo: a real client's push over an immutable tag
my $cl = $s->clients;
my $src = $s->dir . '/src';
$cl->mkimage($src, tag => 'v1', layers => '3k', seed => 'imm');
my @tls = ('--dest-tls-verify=false');
my $p = $cl->skopeo('copy', @tls, '--dest-creds', join(':', @$admin),
                    "oci:$src:v1", "docker://$host/imm/app:v1");
ok(!$p->{ok}, 'skopeo cannot move an immutable tag');
like($p->{out}, qr/configured as immutable/, "and prints Harbor's words")
    or diag $p->{out};
Harbor::Clients::cmd_ok($cl->skopeo('copy', @tls, '--dest-creds',
    join(':', @$admin), "oci:$src:v1", "docker://$host/imm/app:v2"),
    'skopeo pushes a new immutable tag');
$p = $cl->skopeo('delete', '--tls-verify=false', '--creds',
                 join(':', @$admin), "docker://$host/imm/app:v2");
ok(!$p->{ok}, 'skopeo delete of it is refused');
like($p->{out}, qr/configured as immutable/, 'saying why')
    or diag $p->{out};

# a rules file that cannot be parsed keeps every tag, loudly
open(my $fh, '>', $file) or die "$file: $!";
print $fh "garbage\n";
close $fh;
($r) = push_tag('imm/app', 'dev', $tok);
is($r->{status}, 412, 'an unreadable rules file: every move refused');

$s->t->check_alerts;
$s->stop;
done_testing;
