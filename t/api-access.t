#!/usr/bin/perl

# Who may do what to repositories, artifacts, tags and logs, and no object
# of one project reachable through another: a member of project A asks
# every endpoint with B's names, digests, tags and ids (404 through A's
# path, 403 through B's), anonymous callers, a public project, the roles.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use Test::More;

use Harbor::Test;
use Harbor::Api;

my $s = Harbor::Api->new;
my $pw = 'Passw0rd!';

my %pid;
$pid{$_} = $s->create_project($_, public => 0) for qw(pa pb);
$pid{pc} = $s->create_project('pc', public => 1);

my %cred;
for my $u (qw(ua ub pguest plimited)) {
    $s->create_user($u);
    $cred{$u} = [$u, $pw];
}
$s->add_member('pa', 'ua', 1);
$s->add_member('pb', 'ub', 1);
$s->add_member('pc', 'ua', 1);
$s->add_member('pa', 'pguest', 3);
$s->add_member('pa', 'plimited', 5);

my $atok = $s->bearer(user => 'admin', pass => $s->admin->[1],
    scope => [map { "repository:$_:pull,push" }
              qw(pa/app pb/app pb/only pc/app)]);

my %img;
$img{$_} = $s->push_image($_, $atok, tag => 'v1') for qw(pa/app pb/app pc/app);
$img{'pb/only'} = $s->push_image('pb/only', $atok, tag => 'secret');
$s->http(PUT => '/v2/pb/app/manifests/bonly', token => $atok,
         body => $img{'pb/app'}{manifest},
         headers => ['Content-Type' => MT_OCI_MANIFEST]);
ok($s->sync, 'journal applied');

my $bd = $img{'pb/app'}{digest};
my $bid = $s->psql("SELECT repository_id FROM repository"
                   . " WHERE name = 'pb/app'");

sub call {
    my ($who, $method, $path, $json) = @_;
    return $s->api($method, $path, $who ? $cred{$who} : undef,
                   defined $json ? (json => $json) : ());
}

# no answer to A's member says anything about B's objects (beyond what
# the caller put in the path itself)
sub no_leak {
    my ($r, $name, $path) = @_;
    my $b = $r->{body};
    $path //= '';
    my @bad = grep { index($path, $_) < 0 } ($bd, 'bonly', 'secret');
    ok(!(grep { index($b, $_) >= 0 } @bad) && $b !~ /"id":\Q$bid\E\b/,
       "$name: nothing of B in the answer") or diag($b);
}

###############################################################################
# A's member, B's path: 403 before anything is looked up

my @b_paths = (
    [GET    => '/projects/pb/repositories'],
    [GET    => '/projects/pb/repositories/app'],
    [PUT    => '/projects/pb/repositories/app', { description => 'x' }],
    [DELETE => '/projects/pb/repositories/app'],
    [GET    => '/projects/pb/repositories/app/artifacts'],
    [GET    => "/projects/pb/repositories/app/artifacts/$bd"],
    [DELETE => "/projects/pb/repositories/app/artifacts/$bd"],
    [GET    => '/projects/pb/repositories/app/artifacts/v1/tags'],
    [POST   => '/projects/pb/repositories/app/artifacts/v1/tags',
               { name => 'mine' }],
    [DELETE => '/projects/pb/repositories/app/artifacts/v1/tags/v1'],
    [GET    => '/projects/pb/repositories/nope/artifacts'],
    [GET    => '/projects/pb/logs'],
    [GET    => '/projects/pb/summary'],
    [GET    => "/projects/$pid{pb}/repositories"],
    [GET    => "/projects/$pid{pb}/repositories/app/artifacts/$bd"],
);

for my $c (@b_paths) {
    my ($m, $p, $j) = @$c;
    my $r = call('ua', $m, $p, $j);
    is($r->{status}, 403, "A's member: $m $p: 403");
    no_leak($r, "$m $p", $p);
    is(call(undef, $m, $p, $j)->{status}, 401, "anonymous: $m $p: 401");
}

###############################################################################
# A's member, A's path, B's names, digests and tags: 404

my @cross = (
    [GET    => "/projects/pa/repositories/app/artifacts/$bd"],
    [DELETE => "/projects/pa/repositories/app/artifacts/$bd"],
    [GET    => "/projects/pa/repositories/app/artifacts/$bd/tags"],
    [POST   => "/projects/pa/repositories/app/artifacts/$bd/tags",
               { name => 'stolen' }],
    [DELETE => "/projects/pa/repositories/app/artifacts/$bd/tags/v1"],
    [GET    => '/projects/pa/repositories/app/artifacts/bonly'],
    [DELETE => '/projects/pa/repositories/app/artifacts/bonly'],
    [DELETE => '/projects/pa/repositories/app/artifacts/v1/tags/bonly'],
    [GET    => '/projects/pa/repositories/only'],
    [GET    => '/projects/pa/repositories/only/artifacts'],
    [DELETE => '/projects/pa/repositories/only'],
    [PUT    => '/projects/pa/repositories/only', { description => 'x' }],
    [GET    => '/projects/pa/repositories/pb%252Fapp'],
    [GET    => '/projects/pa/repositories/..%252Fpb%252Fapp'],
    [GET    => '/projects/pa/repositories/%2E%2E%252Fpb%252Fonly/artifacts'],
    [GET    => '/projects/pa/repositories/app%252F..%252F..%252Fpb%252Fapp'],
);

for my $c (@cross) {
    my ($m, $p, $j) = @$c;
    my $r = call('ua', $m, $p, $j);
    is($r->{status}, 404, "cross-project $m $p: 404");
    no_leak($r, "$m $p", $p);
}

# B's objects are untouched
my $btok = $s->bearer(user => 'ub', pass => $pw,
                      scope => 'repository:pb/app:pull');
is($s->http(GET => "/v2/pb/app/manifests/$bd", token => $btok,
            headers => [Accept => MT_OCI_MANIFEST])->{status}, 200,
   "B's artifact is still there");
my $r = call('ub', GET => '/projects/pb/repositories/app/artifacts/v1/tags');
is_deeply([sort map { $_->{name} } @{$r->{json}}], [qw(bonly v1)],
          "B's tags are still there");
is(call('ub', GET => '/projects/pb/repositories/app')->{json}{description},
   '', "B's description untouched");

###############################################################################
# lists, search, logs: B never appears for A's member

$r = call('ua', GET => '/repositories?page_size=100');
is_deeply([sort map { $_->{name} } @{$r->{json}}], [qw(pa/app pc/app)],
          '/repositories: A and the public C');
$r = call('ua', GET => "/repositories?q=project_id%3D$pid{pb}");
is_deeply($r->{json}, [], 'q=project_id of B: nothing');
$r = call('ua', GET => "/repositories?q=id%3D$bid");
is_deeply($r->{json}, [], 'q=id of B\'s repository: nothing');
no_leak($r, 'q=id');
$r = call(undef, GET => '/repositories?page_size=100');
is_deeply([map { $_->{name} } @{$r->{json}}], ['pc/app'],
          'anonymous: the public project only');

$r = call('ua', GET => '/search?q=app');
is_deeply([sort map { $_->{repository_name} } @{$r->{json}{repository}}],
          [qw(pa/app pc/app)], 'search: not B');
$r = call('ua', GET => '/search?q=p');
is_deeply([sort map { $_->{name} } @{$r->{json}{project}}], [qw(pa pc)],
          'search: projects A and C, not B');
$r = call('ua', GET => '/search?q=only');
is_deeply($r->{json}{repository}, [], 'search for B\'s repository: nothing');

$r = call('ua', GET => '/projects/pa/logs?page_size=100');
is($r->{status}, 200, 'A\'s log for its admin');
ok(@{$r->{json}} && !(grep { $_->{resource} =~ /^pb/ } @{$r->{json}}),
   'A\'s log has nothing of B');
no_leak($r, 'project log');
is(call('ua', GET => '/audit-logs')->{status}, 403,
   'system audit log: not for a project admin');

$r = call('ua', GET => '/statistics');
is($r->{json}{private_repo_count}, 1, 'statistics count A only');

###############################################################################
# roles in A; the public project C

my $arts = '/projects/pa/repositories/app/artifacts';
is(call('plimited', GET => $arts)->{status}, 200, 'limitedGuest lists');
is(call('plimited', GET => '/projects/pa/repositories/app')->{status}, 403,
   'limitedGuest may not read a repository (Harbor\'s table)');
is(call('pguest', GET => "$arts/v1/tags")->{status}, 200, 'guest lists tags');
is(call('pguest', POST => "$arts/v1/tags", { name => 'g' })->{status}, 403,
   'guest may not tag');
is(call('pguest', DELETE => "$arts/v1")->{status}, 403,
   'guest may not delete');
is(call('pguest', GET => '/projects/pa/logs')->{status}, 403,
   'guest may not read the log');

$r = call(undef, GET => '/projects/pc/repositories/app/artifacts');
is($r->{status}, 200, 'anonymous lists a public project\'s artifacts');
is(call(undef, DELETE => '/projects/pc/repositories/app/artifacts/v1')
   ->{status}, 401, 'anonymous may not delete there');
is(call('ub', DELETE => '/projects/pc/repositories/app/artifacts/v1')
   ->{status}, 403, 'a non-member may not delete there');
is(call('ub', POST => '/projects/pc/repositories/app/artifacts/v1/tags',
        { name => 'x' })->{status}, 403, 'nor tag');
is(call(undef, GET => '/projects/pc/logs')->{status}, 401,
   'anonymous: no log');

# the system administrator sees both
$r = $s->api(GET => '/repositories?page_size=100', $s->admin);
is(scalar @{$r->{json}}, 4, 'sysadmin sees every repository');

done_testing;
