#!/usr/bin/perl

# A policy's speed (KiB/s) holds a replication of some 30 s to within 20%:
# one image of 3 MiB at 100 KiB/s, from this instance to Debian's
# docker-registry.  The one long replication test; prints what it measured.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use Test::More;
use Time::HiRes qw(time);
use Harbor::Api;
use Harbor::Authd;
use Harbor::Clients;

my $SPEED = 100;                                # KiB/s

my $s = Harbor::Api->new;
my $admin = $s->admin;
# the registry is on loopback: allow-listed for the SSRF guard
is($s->api(PUT => '/configurations', $admin, json => {
    outbound_allowlist => '127.0.0.1' })->{status}, 200,
   'outbound_allowlist names 127.0.0.1');
my $dir = $s->dir;
my $d = Harbor::Clients::Distribution->new(root => "$dir/d/data",
                                           dir => "$dir/d")->start;

my $tok = $s->bearer(user => 'admin', pass => $admin->[1],
                     scope => 'repository:library/big:pull,push');
my $layer = join '', map { chr(rand 256) } 1 .. 3 * 1024 * 1024;
ok($s->push_image('library/big', $tok, tag => 'v1', layer => $layer)->{ok},
   'pushed a 3 MiB image');
$s->sync;

sub id_of { ($_[0]{headers}{location} // '') =~ m{(\d+)$} ? $1 : undef }

my $rid = id_of($s->api(POST => '/registries', $admin, json => {
    name => 'd', url => $d->url, type => 'docker-registry' }));
my $pid = id_of($s->api(POST => '/replication/policies', $admin, json => {
    name => 'held', dest_registry => { id => $rid + 0 }, speed => $SPEED,
    filters => [ { type => 'name', value => 'library/big' } ],
    trigger => { type => 'manual' } }));
ok($pid, "a policy held to $SPEED KiB/s");

my $t0 = time;
my $eid = id_of($s->api(POST => '/replication/executions', $admin,
                        json => { policy_id => $pid + 0 }));
my $e;
Harbor::Authd::wait_for(90, sub {
    $e = $s->api(GET => "/replication/executions/$eid", $admin)->{json};
    return $e && $e->{status} ne 'InProgress';
});
my $wall = time - $t0;
is($e->{status}, 'Succeed', 'the run succeeds') or diag explain $e;

my $task = $s->api(GET => "/replication/executions/$eid/tasks", $admin)
    ->{json}[0];
my $want = $task->{bytes_total} / ($SPEED * 1024);
diag(sprintf('%d bytes at %d KiB/s: %.1f s (%.1f s expected), %.1f KiB/s',
             $task->{bytes_total}, $SPEED, $wall, $want,
             $task->{bytes_total} / 1024 / $wall));
ok($want >= 30, 'a transfer of at least 30 s');
ok($wall >= $want * 0.8 && $wall <= $want * 1.2,
   sprintf('its wall time %.1f s is within 20%% of %.1f s', $wall, $want));

$d->stop;
done_testing();
