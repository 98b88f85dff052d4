#!/usr/bin/perl

# Tests for state kept on disk: an upload continues across an nginx
# restart and a reload, and across workers (worker_processes 2); content
# pushed before a restart is there after it.

use warnings;
use strict;

use FindBin;
use lib "$FindBin::Bin/lib";

use Test::More;
use Harbor::Test qw(:all);

###############################################################################

my $t = Harbor::Test->new;
$t->run;

my $repo = 'keep/state';

my $img = $t->make_image($repo, 'before', nlayers => 2);

my $p1 = random_bytes(10_000);
my $p2 = random_bytes(20_000);
my $p3 = random_bytes(5_000);

my ($loc, $uuid) = $t->upload_start($repo);
my $r = $t->http(PATCH => $loc, body => $p1,
    headers => ['Content-Range' => '0-9999']);
is($r->{headers}{range}, '0-9999', 'first chunk before the restart');

# restart

$t->stop;
$t->run;

$r = $t->http(GET => $loc);
is($r->{status}, 204, 'upload known after the restart');
is($r->{headers}{range}, '0-9999', 'upload Range after the restart');
is($r->{headers}{'docker-upload-uuid'}, $uuid, 'upload id after the restart');

$r = $t->http(PATCH => $loc, body => $p2,
    headers => ['Content-Range' => '10000-29999']);
is($r->{status}, 202, 'PATCH continues after the restart');
is($r->{headers}{range}, '0-29999', 'Range after the second chunk');

# an out-of-order chunk after the restart is still refused

$r = $t->http(PATCH => $loc, body => $p3,
    headers => ['Content-Range' => '0-4999']);
$t->is_error($r, 416, 'BLOB_UPLOAD_INVALID',
    'out-of-order chunk after the restart');
is($r->{headers}{range}, '0-29999', 'out-of-order chunk: Range');

# finish after another restart, now with two workers

$t->stop;
$t->run(workers => 2);

my $all = $p1 . $p2 . $p3;
$r = $t->http(PUT => $t->with_query($loc, 'digest=' . sha256($all)),
    body => $p3);
is($r->{status}, 201, 'upload finished after two restarts');
$r = $t->http(GET => "/v2/$repo/blobs/" . sha256($all));
ok($r->{body} eq $all, 'blob content across restarts');

# the same with a sha512 digest at the end

my ($l5) = $t->upload_start($repo);
$t->http(PATCH => $l5, body => $p1);
$t->stop;
$t->run(workers => 2);
$r = $t->http(PUT => $t->with_query($l5, 'digest=' . sha512($p1 . $p2)),
    body => $p2);
is($r->{status}, 201, 'sha512 upload finished after a restart');

# what was pushed before is there

$r = $t->http(GET => "/v2/$repo/manifests/before");
is($r->{body}, $img->{manifest}, 'manifest pushed before the restarts');
is($r->{headers}{'content-type'}, MT_OCI_MANIFEST,
    'its media type after the restarts');
ok($t->http(GET => "/v2/$repo/blobs/$img->{layers}[1]")->{body}
    eq $img->{layers}[1]{data}, 'layer pushed before the restarts');
is_deeply($t->json($t->http(GET => "/v2/$repo/tags/list"))->{tags},
    ['before'], 'tags after the restarts');

# many chunks over many connections, two workers

my ($l2) = $t->upload_start($repo);
my $whole = '';
for my $i (1 .. 30) {
    my $chunk = random_bytes(1000 + $i);
    my $start = length $whole;
    $whole .= $chunk;
    $r = $t->http(PATCH => $l2, body => $chunk, headers => [
        'Content-Range' => $start . '-' . (length($whole) - 1)]);
    last unless is($r->{status}, 202, "chunk $i on two workers");
}
$r = $t->http(PUT => $t->with_query($l2, 'digest=' . sha256($whole)));
is($r->{status}, 201, 'chunks over two workers finished');
ok($t->http(GET => "/v2/$repo/blobs/" . sha256($whole))->{body} eq $whole,
    'chunks over two workers: content');

# a reload (HUP) in the middle of an upload

my ($l3) = $t->upload_start($repo);
$t->http(PATCH => $l3, body => $p1);

my $mark = length $t->read_file('error.log');
kill 'HUP', $t->pid;

# the master starts new workers, then tells the old ones to quit; once
# an old one says so, new connections go to the new workers
my $reloaded = 0;
for (1 .. 200) {
    my $log = substr($t->read_file('error.log'), $mark);
    if ($log =~ /reconfiguring/ && $log =~ /gracefully shutting down/) {
        $reloaded = 1;
        last;
    }
    select undef, undef, undef, 0.05;
}
ok($reloaded, 'reload happened');

$r = $t->http(PATCH => $l3, body => $p2,
    headers => ['Content-Range' => '10000-29999']);
is($r->{status}, 202, 'PATCH after a reload');
$r = $t->http(PUT => $t->with_query($l3, 'digest=' . sha256($p1 . $p2)));
is($r->{status}, 201, 'upload finished after a reload');

$t->stop;

done_testing;

###############################################################################
