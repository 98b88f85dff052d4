#!/usr/bin/perl

# Immutable tag rules through Harbor's API: create / list / update /
# disable / delete with Harbor's ImmutableRule shape; bad bodies 400;
# at most 15 rules; who may (project admin and maintainer manage,
# developer and guest list, a stranger 403, anonymous 401); a tag or an
# artifact an immutable tag protects is not deleted through the API
# (412, Harbor's error JSON, nothing changed), a mutable one is; and the
# two-project matrix: rule ids of project B through project A's paths
# are 404, B's rules, file and tags do not change.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use JSON::PP ();
use Test::More;

use Harbor::Test;
use Harbor::Api;
use Harbor::Authd ();

my $s = Harbor::Api->new(workers => 2);
my $admin = $s->admin;
my $pw = 'Passw0rd!';

$s->create_project('ia');
$s->create_project('ib');
$s->create_user($_) for qw(owner-a maint-a dev-a guest-a owner-b stranger);
$s->add_member('ia', 'owner-a', 1);
$s->add_member('ia', 'maint-a', 4);
$s->add_member('ia', 'dev-a', 2);
$s->add_member('ia', 'guest-a', 3);
$s->add_member('ib', 'owner-b', 1);
my %c = map { ($_ => [$_, $pw]) }
        qw(owner-a maint-a dev-a guest-a owner-b stranger);

sub code { $_[0]{json} ? $_[0]{json}{errors}[0]{code} // '' : '' }
sub loc_id { (($_[0]{headers}{location} // '') =~ m{/(\d+)$})[0] }

sub body {
    my ($rpat, $tpat, %o) = @_;
    return { disabled => JSON::PP::false(), priority => 0,
             action => 'immutable', template => 'immutable_template',
             tag_selectors => [{ kind => 'doublestar',
                                 decoration => $o{tdeco} // 'matches',
                                 pattern => $tpat }],
             scope_selectors => { repository => [{
                 kind => 'doublestar',
                 decoration => $o{rdeco} // 'repoMatches',
                 pattern => $rpat }] } };
}

my $A = '/projects/ia/immutabletagrules';
my $B = '/projects/ib/immutabletagrules';

# ------------------------------------------------------------ content

sub push_tag {
    my ($repo, $tag) = @_;
    my $tok = $s->bearer(user => 'admin', pass => $admin->[1],
                         scope => "repository:$repo:pull,push");
    my $r = $s->push_image($repo, $tok, tag => $tag);
    ok($r->{ok}, "push $repo:$tag");
    return $r->{digest};
}

my $da = push_tag('ia/app', 'v1');
push_tag('ia/app', 'dev');
my $db = push_tag('ib/app', 'v1');
ok($s->sync, 'journal applied');

# ------------------------------------------------------------- CRUD

my $r = $s->api(POST => $A, undef, json => body('**', 'v*'));
is($r->{status}, 401, 'anonymous: 401');
is($s->api(POST => $A, $c{'dev-a'}, json => body('**', 'v*'))->{status},
   403, 'a developer creates none');
is($s->api(POST => $A, $c{stranger}, json => body('**', 'v*'))->{status},
   403, 'a stranger: 403');

$r = $s->api(POST => $A, $c{'maint-a'}, json => body('**', 'v*'));
is($r->{status}, 201, 'a maintainer creates a rule') or diag $r->{body};
my $ra = loc_id($r);
ok($ra, 'Location names it');
like($r->{headers}{location}, qr{/api/v2\.0/projects/\d+/immutabletagrules/},
     'Location path');

$r = $s->api(GET => $A, $c{'guest-a'});
is($r->{status}, 200, 'a guest lists them');
is($r->{headers}{'x-total-count'}, 1, 'X-Total-Count');
my $j = $r->{json}[0];
is($j->{id}, $ra, 'id');
is($j->{action}, 'immutable', 'action');
is($j->{template}, 'immutable_template', 'template');
ok(!$j->{disabled}, 'enabled');
is_deeply($j->{tag_selectors},
          [{ kind => 'doublestar', decoration => 'matches', pattern => 'v*',
             extras => '' }], 'tag_selectors');
is_deeply($j->{scope_selectors},
          { repository => [{ kind => 'doublestar', decoration =>
              'repoMatches', pattern => '**', extras => '' }] },
          'scope_selectors');
is($s->api(GET => $A, undef)->{status}, 401, 'anonymous lists none');

for my $bad ([{}, 'no selectors'],
             [[1], 'not an object'],
             [body('**', ''), 'empty pattern'],
             [body('**', "a\tb"), 'a control character'],
             [body('**', 'v{1'), 'an unclosed brace'],
             [body('**', 'v*', tdeco => 'repoMatches'), 'a wrong decoration'],
             [body('**', 'v*', rdeco => 'matches'), 'a wrong repo decoration'],
             [{ %{body('**', 'v*')}, disabled => 'yes' }, 'disabled no bool'])
{
    $r = $s->api(POST => $A, $c{'owner-a'}, json => $bad->[0]);
    is($r->{status}, 400, "$bad->[1]: 400");
    is(code($r), 'BAD_REQUEST', 'BAD_REQUEST');
}
$r = $s->api(POST => $A, $c{'owner-a'}, json => {
    %{body('**', 'v*')}, tag_selectors => [{ kind => 'regexp',
        decoration => 'matches', pattern => 'v.*' }] });
is($r->{status}, 400, 'a kind other than doublestar: 400');

is($s->api(PUT => "$A/$ra", $c{'dev-a'},
           json => { disabled => JSON::PP::true() })->{status}, 403,
   'a developer changes none');
is($s->api(PUT => "$A/$ra", $c{'owner-a'},
           json => body('**', '{v,rel}-*'))->{status}, 200,
   'the project admin changes the pattern');
is($s->api(GET => $A, $c{'owner-a'})->{json}[0]{tag_selectors}[0]{pattern},
   '{v,rel}-*', 'changed');
is($s->api(PUT => "$A/$ra", $c{'owner-a'}, json => body('**', 'v*'))
     ->{status}, 200, 'and back');
is($s->api(PUT => "$A/999999", $c{'owner-a'},
           json => { disabled => JSON::PP::true() })->{status}, 404,
   'an unknown id: 404');
is($s->api(PUT => "$A/abc", $c{'owner-a'}, json => {})->{status}, 404,
   'not an id: 404');

# ------------------------------------------------- deletes through the API

my $art = '/projects/ia/repositories/app/artifacts';
$r = $s->api(DELETE => "$art/v1/tags/v1", $c{'owner-a'});
is($r->{status}, 412, 'the API deletes no immutable tag: 412')
    or diag $r->{body};
is(code($r), 'PRECONDITION', 'PRECONDITION');
like($r->{json}{errors}[0]{message}, qr/'ia\/app:v1' configured as immutable/,
     "Harbor's message");
$r = $s->api(DELETE => "$art/$da", $c{'owner-a'});
is($r->{status}, 412, 'nor the artifact an immutable tag points at');
is(code($r), 'PRECONDITION', 'PRECONDITION');
is($s->api(GET => "$art/v1", $c{'owner-a'})->{status}, 200,
   'the artifact is there');
my $pull = $s->bearer(user => 'admin', pass => $admin->[1],
                      scope => 'repository:ia/app:pull');
is($s->http(HEAD => '/v2/ia/app/manifests/v1', token => $pull,
            headers => ['Accept' => Harbor::Test::MT_OCI_MANIFEST()])
     ->{headers}{'docker-content-digest'}, $da, 'and its tag in storage');
is($s->api(DELETE => "$art/dev/tags/dev", $c{'owner-a'})->{status}, 200,
   'a mutable tag is deleted');
$r = $s->api(DELETE => '/projects/ia/repositories/app', $c{'owner-a'});
is($r->{status}, 412, 'nor the repository that holds it');
like($r->{json}{errors}[0]{message}, qr/configured as immutable/, 'saying why');
is($s->api(GET => "$art/v1", $c{'owner-a'})->{status}, 200,
   'the artifact is still there');

# disabled: the API deletes it
is($s->api(PUT => "$A/$ra", $c{'maint-a'},
           json => { disabled => JSON::PP::true() })->{status}, 200,
   'a maintainer disables the rule');
ok(!$s->api(GET => $A, $c{'maint-a'})->{json}[0]{disabled} == 0,
   'disabled shown');

# ------------------------------------------------- two projects (IDOR)

$r = $s->api(POST => $B, $c{'owner-b'}, json => body('**', 'v*'));
is($r->{status}, 201, "B's admin makes B's rule");
my $rb = loc_id($r);
my $fileb = $s->storage . '/_policies/immutable/ib';
my $before = do { local $/; open(my $f, '<', $fileb) or die; <$f> };

is($s->api(PUT => "$A/$rb", $c{'owner-a'},
           json => { disabled => JSON::PP::true() })->{status}, 404,
   "B's rule through A's path, PUT: 404");
is($s->api(DELETE => "$A/$rb", $c{'owner-a'})->{status}, 404,
   "B's rule through A's path, DELETE: 404");
is($s->api(PUT => "$A/$rb", $admin, json => body('**', 'x'))->{status}, 404,
   'even for a system admin: 404');
is($s->api(DELETE => "$A/$rb", $admin)->{status}, 404, 'DELETE too');
is($s->api(GET => $B, $c{'owner-a'})->{status}, 403,
   "A's admin lists none of B's: 403");
is($s->api(POST => $B, $c{'owner-a'}, json => body('**', '*'))->{status},
   403, "A's admin creates none in B: 403");
is($s->api(PUT => "$B/$rb", $c{'owner-a'}, json => {})->{status}, 403,
   "A's admin through B's path: 403");
is($s->api(DELETE => "$B/$rb", $c{'owner-a'})->{status}, 403,
   'DELETE: 403');
is($s->api(DELETE => "$B/$ra", $c{'owner-b'})->{status}, 404,
   "A's rule through B's path: 404");
$r = $s->api(GET => $B, $c{'owner-b'});
is(scalar @{$r->{json}}, 1, "B has its one rule");
ok(!$r->{json}[0]{disabled}, 'still enabled');
is($r->{json}[0]{tag_selectors}[0]{pattern}, 'v*', 'unchanged');
my $after = do { local $/; open(my $f, '<', $fileb) or die; <$f> };
is($after, $before, "B's rules file unchanged");
is($s->api(DELETE => "/projects/ib/repositories/app/artifacts/v1/tags/v1",
           $c{'owner-b'})->{status}, 412, "B's tag still immutable");
ok(-e $s->storage . '/docker/registry/v2/repositories/ib/app/_manifests/tags/v1/current/link',
   "B's tag is there");

# ------------------------------------------------------------ limits

$r = $s->api(GET => $A, $c{'owner-a'});
my $n = scalar @{$r->{json}};
for my $i ($n + 1 .. 15) {
    is($s->api(POST => $A, $c{'owner-a'}, json => body('**', "x$i"))
         ->{status}, 201, "rule $i") or last;
}
$r = $s->api(POST => $A, $c{'owner-a'}, json => body('**', 'x16'));
is($r->{status}, 412, 'a 16th rule: 412');

is($s->api(DELETE => "$A/$ra", $c{'dev-a'})->{status}, 403,
   'a developer deletes none');
is($s->api(DELETE => "$A/$ra", $c{'owner-a'})->{status}, 200,
   'the project admin deletes it');
is($s->api(DELETE => "$A/$ra", $c{'owner-a'})->{status}, 404, 'gone');

# a deleted project's rules do not pass to a new project of its name
$s->create_project('ic');
is($s->api(POST => '/projects/ic/immutabletagrules', $admin,
           json => body('**', '**'))->{status}, 201, 'a rule in ic');
my $filec = $s->storage . '/_policies/immutable/ic';
ok(-e $filec, "ic's rules file");
is($s->api(DELETE => '/projects/ic', $admin)->{status}, 200, 'ic deleted');
ok(!-e $filec, 'its rules file too');
$s->create_project('ic');
is_deeply($s->api(GET => '/projects/ic/immutabletagrules', $admin)->{json},
          [], 'a new ic has no rules');
my $tc = $s->bearer(user => 'admin', pass => $admin->[1],
                    scope => 'repository:ic/app:pull,push,delete');
ok($s->push_image('ic/app', $tc, tag => 'v1')->{ok}
   && $s->push_image('ic/app', $tc, tag => 'v1')->{ok},
   'and its tags move');

# the files are written again at start
unlink $fileb;
$s->kill_authd;
$s->start_authd;
ok(Harbor::Authd::wait_for(10, sub { -e $fileb }),
   "authd writes every project's rules file at start");

unlike($s->authd->log, qr/ERROR|assert/i, 'no error in the log');
$s->t->check_alerts;
$s->stop;
done_testing;
