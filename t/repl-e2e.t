#!/usr/bin/perl

# Replication end to end, two instances on loopback (A and B), through
# the data plane of authd/repl.h (repl_client.c, repl_copy.c).  Not run
# until that data plane is built in: with authd/repl_stub.c every copy
# fails.  Renamed to t/repl-e2e.t when it is.
#
# Push-based from A to B with filters and a namespace, the digest the
# same at both ends, override off keeps B's tag, pull-based from A into
# B, event-based: a push on A is on B within 10 s, and a deleted tag
# goes from B too.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use JSON::PP;
use Test::More;
use Harbor::Api;
use Harbor::Authd;

my $T = JSON::PP::true;
my $F = JSON::PP::false;

my $sa = Harbor::Api->new(authd_conf => { 'replication.retry_delay' => 1 });
my $sb = Harbor::Api->new(authd_conf => { 'replication.retry_delay' => 1 });
my $admin = $sa->admin;

$sb->create_project('mirror', public => 0);
$sb->create_project('pulled', public => 0);

my $ta = $sa->bearer(user => 'admin', pass => $admin->[1],
                    scope => 'repository:library/app:pull,push,delete');
my %img = map { $_ => $sa->push_image('library/app', $ta, tag => $_) }
              qw(v1 v2 dev1);
ok($img{$_}{ok}, "pushed library/app:$_ on A") for sort keys %img;
$sa->sync;

sub digest_of {
    my ($s, $repo, $tag) = @_;
    my $tok = $s->bearer(user => 'admin', pass => $admin->[1],
                         scope => "repository:$repo:pull");
    my $r = $s->http(HEAD => "/v2/$repo/manifests/$tag", token => $tok,
        headers => ['Accept' => Harbor::Test::MT_OCI_MANIFEST()]);
    return $r->{status} == 200 ? $r->{headers}{'docker-content-digest'} : undef;
}

sub run_and_wait {
    my ($s, $pid) = @_;
    my $r = $s->api(POST => '/replication/executions', $admin,
                    json => { policy_id => $pid + 0 });
    my ($eid) = ($r->{headers}{location} // '') =~ m{(\d+)$};
    my $e;
    Harbor::Authd::wait_for(120, sub {
        $e = $s->api(GET => "/replication/executions/$eid", $admin)->{json};
        return $e && $e->{status} ne 'InProgress';
    });
    return $e;
}

# ---------------------------------------------------------- push-based

my $r = $sa->api(POST => '/registries', $admin, json => {
    name => 'B', url => $sb->url, type => 'harbor',
    credential => { type => 'basic', access_key => 'admin',
                    access_secret => $admin->[1] } });
is($r->{status}, 201, 'B is a registry of A');
my ($rb) = $r->{headers}{location} =~ m{(\d+)$};
is($sa->api(POST => '/registries/ping', $admin, json => { id => $rb + 0 })
   ->{status}, 200, 'ping B');

$r = $sa->api(POST => '/replication/policies', $admin, json => {
    name => 'a-to-b', dest_registry => { id => $rb + 0 },
    dest_namespace => 'mirror', dest_namespace_replace_count => -1,
    filters => [ { type => 'name', value => 'library/**' },
                 { type => 'tag', value => 'dev*', decoration => 'excludes' } ],
    trigger => { type => 'manual' }, override => $T });
my ($p1) = $r->{headers}{location} =~ m{(\d+)$};

my $e = run_and_wait($sa, $p1);
is($e->{status}, 'Succeed', 'push-based run succeeds') or diag explain $e;
is($e->{total}, 2, 'two tags');
is(digest_of($sb, 'mirror/app', $_), $img{$_}{digest},
   "mirror/app:$_ on B, same digest") for qw(v1 v2);
is(digest_of($sb, 'mirror/app', 'dev1'), undef, 'the excluded tag is not');

my $tasks = $sa->api(GET => "/replication/executions/$e->{id}/tasks", $admin)
    ->{json};
ok($tasks->[0]{bytes_total} > 0, 'bytes_total of a task');
is($tasks->[0]{bytes_done}, $tasks->[0]{bytes_total}, 'all of it done');

# a second run sends nothing new and succeeds
$e = run_and_wait($sa, $p1);
is($e->{status}, 'Succeed', 'a second run succeeds too');

# override off: B's own v1 stays
my $tb = $sb->bearer(user => 'admin', pass => $admin->[1],
                    scope => 'repository:mirror/app:pull,push');
my $own = $sb->push_image('mirror/app', $tb, tag => 'v1');
$sa->api(PUT => "/replication/policies/$p1", $admin,
        json => { override => $F });
$e = run_and_wait($sa, $p1);
is($e->{status}, 'Succeed', 'override off: the run succeeds');
is(digest_of($sb, 'mirror/app', 'v1'), $own->{digest},
   'and B keeps its own v1');

# ---------------------------------------------------------- pull-based

$r = $sb->api(POST => '/registries', $admin, json => {
    name => 'A', url => $sa->url, type => 'harbor',
    credential => { type => 'basic', access_key => 'admin',
                    access_secret => $admin->[1] } });
my ($ra) = $r->{headers}{location} =~ m{(\d+)$};
$r = $sb->api(POST => '/replication/policies', $admin, json => {
    name => 'from-a', src_registry => { id => $ra + 0 },
    dest_namespace => 'pulled', dest_namespace_replace_count => 1,
    filters => [ { type => 'tag', value => 'v2' } ],
    trigger => { type => 'manual' } });
my ($p2) = $r->{headers}{location} =~ m{(\d+)$};
$e = run_and_wait($sb, $p2);
is($e->{status}, 'Succeed', 'pull-based run succeeds') or diag explain $e;
is(digest_of($sb, 'pulled/app', 'v2'), $img{v2}{digest},
   'pulled/app:v2 on B, same digest');

# ---------------------------------------------------------- event-based

$r = $sa->api(POST => '/replication/policies', $admin, json => {
    name => 'on-push', dest_registry => { id => $rb + 0 },
    dest_namespace => 'mirror', filters => [], replicate_deletion => $T,
    trigger => { type => 'event_based' } });
is($r->{status}, 201, 'an event-based policy');

my $v3 = $sa->push_image('library/app', $ta, tag => 'v3');
my $got = Harbor::Authd::wait_for(10, sub {
    (digest_of($sb, 'mirror/app', 'v3') // '') eq $v3->{digest} });
ok($got, 'a push on A is on B within 10 s');

is($sa->http(DELETE => '/v2/library/app/manifests/v3', token => $ta)
   ->{status}, 202, 'tag v3 deleted on A');
$got = Harbor::Authd::wait_for(10, sub {
    !defined digest_of($sb, 'mirror/app', 'v3') });
ok($got, 'and gone from B within 10 s');

done_testing();
