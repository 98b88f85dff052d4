#!/usr/bin/perl

# Replication policies to and from Debian's docker-registry (CNCF
# distribution), registry type docker-registry, anonymous (d1) and with
# htpasswd Basic auth (d2): push-based from this instance to each, pulled
# back with pull-based policies (the listing through /v2/_catalog), the
# digest the same everywhere; a wrong password refused in words; an
# event-based policy whose tag deletion removes the image there
# (distribution deletes by digest only).

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use HTTP::Tiny;
use JSON::PP;
use MIME::Base64 qw(encode_base64);
use Test::More;
use Harbor::Api;
use Harbor::Authd;
use Harbor::Clients;

my $T = JSON::PP::true;
my $PW = 'Dist-repl-pw1';

my $s = Harbor::Api->new(authd_conf => { 'replication.retry_delay' => 1 });
my $admin = $s->admin;
# the registry is on loopback: allow-listed for the SSRF guard
is($s->api(PUT => '/configurations', $admin, json => {
    outbound_allowlist => '127.0.0.1' })->{status}, 200,
   'outbound_allowlist names 127.0.0.1');
my $dir = $s->dir;

my $d1 = Harbor::Clients::Distribution->new(root => "$dir/d1/data",
                                            dir => "$dir/d1")->start;
my $d2 = Harbor::Clients::Distribution->new(root => "$dir/d2/data",
    dir => "$dir/d2", htpasswd => ['repl', $PW])->start;

my $tok = $s->bearer(user => 'admin', pass => $admin->[1],
                     scope => 'repository:library/app:pull,push,delete');
my %img = map { $_ => $s->push_image('library/app', $tok, tag => $_) }
              qw(v1 v2);
ok($img{$_}{ok}, "pushed library/app:$_") for qw(v1 v2);
$s->create_project($_, public => 0) for qw(fromd1 fromd2);
$s->sync;

my $ACCEPT = join ', ', Harbor::Test::MT_OCI_MANIFEST(),
    Harbor::Test::MT_DOCKER_V2();

# the digest of repo:ref at a docker-registry, or undef
sub dist_digest {
    my ($d, $repo, $ref, $basic) = @_;
    my %h = (Accept => $ACCEPT);
    $h{Authorization} = 'Basic ' . encode_base64(join(':', @$basic), '')
        if $basic;
    my $r = HTTP::Tiny->new(timeout => 10)->request(HEAD =>
        $d->url . "/v2/$repo/manifests/$ref", { headers => \%h });
    return $r->{status} == 200 ? $r->{headers}{'docker-content-digest'}
                               : undef;
}

sub digest_here {
    my ($repo, $tag) = @_;
    my $t = $s->bearer(user => 'admin', pass => $admin->[1],
                       scope => "repository:$repo:pull");
    my $r = $s->http(HEAD => "/v2/$repo/manifests/$tag", token => $t,
                     headers => ['Accept' => $ACCEPT]);
    return $r->{status} == 200 ? $r->{headers}{'docker-content-digest'}
                               : undef;
}

sub id_of { ($_[0]{headers}{location} // '') =~ m{(\d+)$} ? $1 : undef }

sub registry {
    my ($name, $d, @cred) = @_;
    my $r = $s->api(POST => '/registries', $admin, json => {
        name => $name, url => $d->url, type => 'docker-registry',
        @cred ? (credential => { type => 'basic', access_key => $cred[0],
                                 access_secret => $cred[1] }) : () });
    is($r->{status}, 201, "registry $name");
    return id_of($r);
}

sub run_policy {
    my (%p) = @_;
    my $r = $s->api(POST => '/replication/policies', $admin, json => {
        trigger => { type => 'manual' }, %p });
    is($r->{status}, 201, "policy $p{name}") or diag $r->{body};
    $r = $s->api(POST => '/replication/executions', $admin,
                 json => { policy_id => id_of($r) + 0 });
    my $eid = id_of($r);
    my $e;
    Harbor::Authd::wait_for(60, sub {
        $e = $s->api(GET => "/replication/executions/$eid", $admin)->{json};
        return $e && $e->{status} ne 'InProgress';
    });
    return $e;
}

my $r1 = registry('d1', $d1);
my $r2 = registry('d2', $d2, 'repl', $PW);
is($s->api(POST => '/registries/ping', $admin, json => { id => $_ + 0 })
   ->{status}, 200, "ping registry $_") for $r1, $r2;

# ------------------------------------------------- push-based, then back

for my $c ([$d1, $r1, 'd1', undef], [$d2, $r2, 'd2', ['repl', $PW]]) {
    my ($d, $rid, $n, $basic) = @$c;

    my $e = run_policy(name => "to-$n", dest_registry => { id => $rid + 0 },
        dest_namespace => 'mirror',
        filters => [ { type => 'name', value => 'library/app' } ]);
    is($e->{status}, 'Succeed', "push-based to $n succeeds")
        or diag explain $e;
    is($e->{total}, 2, 'two tags');
    is(dist_digest($d, 'mirror/app', $_, $basic), $img{$_}{digest},
       "mirror/app:$_ at $n, the same digest") for qw(v1 v2);

    $e = run_policy(name => "from-$n", src_registry => { id => $rid + 0 },
        dest_namespace => "from$n",
        filters => [ { type => 'name', value => 'mirror/*' },
                     { type => 'tag', value => 'v2' } ]);
    is($e->{status}, 'Succeed', "pull-based from $n succeeds")
        or diag explain $e;
    is($e->{total}, 1, 'one tag passes the filters');
    is(digest_here("from$n/app", 'v2'), $img{v2}{digest},
       "from$n/app:v2 here, the same digest");
}

# --------------------------------------------------------- a wrong password

my $bad = registry('d2-bad', $d2, 'repl', 'not-the-pw');
my $r = $s->api(POST => '/registries/ping', $admin, json => { id => $bad + 0 });
isnt($r->{status}, 200, 'ping with a wrong password fails');
my $e = run_policy(name => 'to-d2-bad', dest_registry => { id => $bad + 0 },
    dest_namespace => 'bad',
    filters => [ { type => 'name', value => 'library/app' },
                 { type => 'tag', value => 'v1' } ]);
is($e->{status}, 'Failed', 'a run with a wrong password fails');
like($e->{status_text}, qr/destination refused .*\Q${\ $d2->host }\E.*401/,
     'and says the destination refused, where and how') or diag explain $e;
unlike($s->authd->log, qr/not-the-pw|\Q$PW\E/, 'no password in the log');

# ------------------------------------------------ event-based, and deletion

$r = $s->api(POST => '/replication/policies', $admin, json => {
    name => 'events-d1', dest_registry => { id => $r1 + 0 },
    dest_namespace => 'events', replicate_deletion => $T,
    filters => [ { type => 'name', value => 'library/app' } ],
    trigger => { type => 'event_based' } });
is($r->{status}, 201, 'an event-based policy to d1');

my $v3 = $s->push_image('library/app', $tok, tag => 'v3');
ok(Harbor::Authd::wait_for(10, sub {
       (dist_digest($d1, 'events/app', 'v3') // '') eq $v3->{digest} }),
   'a push here is at d1 within 10 s');
is($s->http(DELETE => '/v2/library/app/manifests/v3', token => $tok)
   ->{status}, 202, 'tag v3 deleted here');
ok(Harbor::Authd::wait_for(10, sub {
       !defined dist_digest($d1, 'events/app', 'v3') }),
   'and gone from d1 within 10 s');

$d1->stop;
$d2->stop;
done_testing();
