#!/usr/bin/perl

# Limits on open upload sessions, in total (harbor_upload_sessions) and
# per user (harbor_upload_sessions_per_user), counted in shared memory
# across the workers: over a limit, POST .../blobs/uploads/ is a 429 with
# TOOMANYREQUESTS; a session that is committed, cancelled or fails its
# digest no longer counts; uploads that open no session (monolithic POST,
# mount) are not limited.

use warnings;
use strict;

use FindBin;
use lib "$FindBin::Bin/lib";

use Test::More;
use Harbor::Test qw(:all);
use Harbor::Stack;

###############################################################################
# in total, without tokens

my $t = Harbor::Test->new;
$t->run(location => 'harbor_upload_sessions 5;');

my @open;
for my $i (1 .. 5) {
    my ($loc, $uuid, $r) = $t->upload_start("lim/r$i");
    is($r->{status}, 202, "session $i of 5: 202");
    push @open, [$loc, $uuid];
}

# UUIDv7: the time the session was opened, to the millisecond
my $ms = hex(substr($open[0][1], 0, 8)) * 65536 + hex(substr($open[0][1], 9, 4));
like($open[0][1], qr/^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab]/,
     'session ids are UUIDv7');
cmp_ok(abs($ms / 1000 - time()), '<', 120, 'holding the time they were made');

for (1 .. 4) {
    my $r = $t->http(POST => "/v2/lim/other/blobs/uploads/");
    $t->is_error($r, 429, 'TOOMANYREQUESTS', "a sixth session, try $_: 429");
}

my $d = $t->push_blob('lim/mono', 'monolithic');
ok($d, 'a monolithic push opens no session: not limited');

# cancelled: one less
my $r = $t->http(DELETE => $open[0][0]);
is($r->{status}, 204, 'a session cancelled');
my ($loc, $uuid);
($loc, $uuid, $r) = $t->upload_start('lim/again');
is($r->{status}, 202, 'then another may open');
$open[0] = [$loc, $uuid];
$t->is_error($t->http(POST => '/v2/lim/other/blobs/uploads/'), 429,
    'TOOMANYREQUESTS', 'and no more');

# committed: one less
$r = $t->http(PUT => $t->with_query($open[1][0], 'digest=' . sha256('data')),
    body => 'data');
is($r->{status}, 201, 'a session committed');
($loc, $uuid, $r) = $t->upload_start('lim/again');
is($r->{status}, 202, 'then another may open');
$open[1] = [$loc, $uuid];

# a wrong digest ends the session too
$r = $t->http(PUT => $t->with_query($open[2][0], 'digest=' . sha256('other')),
    body => 'data');
is($r->{status}, 400, 'a session whose digest does not match');
($loc, $uuid, $r) = $t->upload_start('lim/again');
is($r->{status}, 202, 'then another may open');
$t->is_error($t->http(POST => '/v2/lim/other/blobs/uploads/'), 429,
    'TOOMANYREQUESTS', 'and no more');

# a reload keeps the counts
my $pid = $t->pid;
kill 'HUP', $pid;
my $ok = 0;
for (1 .. 100) {
    my $log = $t->read_file('error.log');
    if ($log =~ /gracefully shutting down/ && $log =~ /reconfiguring/) {
        $ok = 1;
        last;
    }
    select undef, undef, undef, 0.1;
}
ok($ok, 'nginx reloaded');
$t->is_error($t->http(POST => '/v2/lim/other/blobs/uploads/'), 429,
    'TOOMANYREQUESTS', 'after a reload: still at the limit');

$t->stop;

# no limits at all

my $t0 = Harbor::Test->new;
$t0->run(location =>
    'harbor_upload_sessions 0; harbor_upload_sessions_per_user 0;');
my $n = grep { ($t0->upload_start("free/r$_"))[2]{status} == 202 } 1 .. 12;
is($n, 12, 'with the limits off: 12 sessions');
$t0->stop;

###############################################################################
# per user, with tokens

my $s = Harbor::Stack->new(registry => 'harbor_upload_sessions_per_user 2;');
my $pw = 'Passw0rd!';

$s->create_project('lim', public => 0);
for my $u (qw(ann bob)) {
    $s->create_user($u, password => $pw);
    $s->add_member('lim', $u, 2);
}

my %tok = map { $_ => scalar $s->bearer(user => $_, pass => $pw,
    scope => 'repository:lim/app:pull,push') } qw(ann bob);

my @ann;
for my $i (1 .. 2) {
    $r = $s->v2(POST => '/v2/lim/app/blobs/uploads/', token => $tok{ann});
    is($r->{status}, 202, "ann's session $i of 2: 202");
    push @ann, $r->{headers}{location};
}

$r = $s->v2(POST => '/v2/lim/app/blobs/uploads/', token => $tok{ann});
$s->t->is_error($r, 429, 'TOOMANYREQUESTS', "ann's third session: 429");
like($s->t->json($r)->{errors}[0]{message} || '', qr/this user/,
     'the message says the limit is the user\'s');

$r = $s->v2(POST => '/v2/lim/app/blobs/uploads/', token => $tok{bob});
is($r->{status}, 202, 'bob is not held back by ann');

$r = $s->v2(DELETE => $ann[0], token => $tok{ann});
is($r->{status}, 204, 'ann cancels one');
$r = $s->v2(POST => '/v2/lim/app/blobs/uploads/', token => $tok{ann});
is($r->{status}, 202, 'and may open another');

$s->stop;

done_testing();
