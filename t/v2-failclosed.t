#!/usr/bin/perl

# Fail closed: a write that did not reach the disk never ends in a 201 (or
# a 202 for a chunk).  Faults the filesystem will not produce on demand
# come from an LD_PRELOAD library (t/lib/fault.c): a failed fsync(2) of a
# directory, a failed rename(2); a full thread pool queue is a real one
# (max_queue=1 and slow fsyncs).  Each case proves its fault happened.

use warnings;
use strict;

use FindBin;
use lib "$FindBin::Bin/lib";

use IO::Socket::INET;
use Test::More;
use Harbor::Test qw(:all);
use Harbor::Fault;

###############################################################################

sub start {
    my (%o) = @_;
    my $conf = delete $o{conf} || {};
    my %env = Harbor::Fault::env(%o);
    my $t = Harbor::Test->new;
    local @ENV{keys %env} = values %env;
    $t->run(workers => 2, %$conf);
    $t->allow_log(qr/fsync\(\)|rename\(\)|queue overflow|not queued/);
    return $t;
}

sub push_raw {
    my ($t, $repo, $bytes) = @_;
    my $d = sha256($bytes);
    return ($d, $t->http(POST => "/v2/$repo/blobs/uploads/?digest=$d",
                         body => $bytes));
}

# a blob whose directory could not be synced

my $t = start(HARBOR_FAULT_FSYNC => '/blobs/sha256/');
my ($d, $r) = push_raw($t, 'fc/a', random_bytes(1000));
ok((grep { /fsync\(".*\/blobs\/sha256\// } Harbor::Fault::injected($t)),
    'blob: the directory fsync failed');
$t->is_error($r, 500, 'UNKNOWN', 'blob: no 201 when its directory fsync failed');
is($t->http(HEAD => "/v2/fc/a/blobs/$d")->{status}, 404, 'blob: not linked');
$t->stop;

# a link whose directory could not be synced

$t = start(HARBOR_FAULT_FSYNC => '/_layers/');
($d, $r) = push_raw($t, 'fc/b', random_bytes(1000));
ok((grep { /fsync\(".*\/_layers\// } Harbor::Fault::injected($t)),
    'link: the directory fsync failed');
$t->is_error($r, 500, 'UNKNOWN', 'link: no 201 when its directory fsync failed');
$t->stop;

# a manifest PUT whose revision or tag could not be synced

$t = start(HARBOR_FAULT_FSYNC => '/_manifests/');
my $img = $t->make_image('fc/c', undef, nlayers => 1);
ok((grep { /fsync\(".*\/_manifests\// } Harbor::Fault::injected($t)),
    'manifest: the directory fsync failed');
$t->is_error($img->{response}, 500, 'UNKNOWN', 'manifest: no 201');
$r = $t->push_manifest('fc/c', 'v1', $img->{manifest}, MT_OCI_MANIFEST);
$t->is_error($r, 500, 'UNKNOWN', 'manifest by tag: no 201');
$t->stop;

# a chunk whose hash state could not be saved

$t = start(HARBOR_FAULT_RENAME => '/hbstate');
my ($loc) = $t->upload_start('fc/d');
$r = $t->http(PATCH => $loc, body => 'x' x 100,
              headers => ['Content-Range' => '0-99']);
ok((grep { /rename\(.*\/hbstate"\)/ } Harbor::Fault::injected($t)),
    'chunk: the rename of its state failed');
$t->is_error($r, 500, 'UNKNOWN', 'chunk: no 202');
$r = $t->http(GET => $loc);
is($r->{headers}{range}, '0-0', 'chunk: nothing acknowledged is stored');
$t->stop;

# the thread pool's queue is full: the body is not synced, no 201

$t = start(HARBOR_FAULT_DELAY_PATH => '/_tmp/00', HARBOR_FAULT_DELAY => 1500,
           conf => { workers => 1,
                     main => 'thread_pool default threads=1 max_queue=1;' });

my (@socks, @blobs);
for my $i (1 .. 4) {
    my $bytes = random_bytes(4096);
    my $dg = sha256($bytes);
    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1',
                                  PeerPort => $t->port, Proto => 'tcp')
        or die "connect: $!";
    print $s "POST /v2/fc/e/blobs/uploads/?digest=$dg HTTP/1.1\r\n"
        . "Host: localhost\r\nConnection: close\r\n"
        . 'Content-Length: ' . length($bytes) . "\r\n\r\n$bytes";
    push @socks, $s;
    push @blobs, [$dg, $bytes];
}

my @status;
for my $s (@socks) {
    local $/;
    my $raw = <$s> // '';
    push @status, $raw =~ m{^HTTP/1\.1 (\d+)} ? $1 : 0;
    close $s;
}

like($t->read_file('error.log'), qr/queue overflow/,
    'the thread pool queue overflowed');
ok((grep { $_ == 503 } @status), 'a request not synced answers 503')
    or diag("@status");
is(scalar(grep { $_ != 201 && $_ != 503 } @status), 0, 'nothing else')
    or diag("@status");
for my $i (0 .. $#status) {
    next unless $status[$i] == 201;
    my $g = $t->http(GET => "/v2/fc/e/blobs/$blobs[$i][0]");
    is(sha256($g->{body}), $blobs[$i][0], "acknowledged blob $i pulls whole");
}
for my $i (0 .. $#status) {
    next if $status[$i] == 201;
    is($t->http(HEAD => "/v2/fc/e/blobs/$blobs[$i][0]")->{status}, 404,
       "refused blob $i is not linked");
}
$t->stop;

# the same for manifest PUTs: their commit (the manifest, its revision and
# tag links, all synced) is one task; one the full queue refused answers
# 503 and leaves no tag, every 201 reads back

$t = start(HARBOR_FAULT_DELAY_PATH => '/tags/q', HARBOR_FAULT_DELAY => 1500,
           conf => { workers => 1,
                     main => 'thread_pool default threads=1 max_queue=1;' });

$img = $t->make_image('fc/q', undef, nlayers => 1);
is($img->{response}{status}, 201, 'queue full: a manifest by digest');

@socks = ();
for my $i (1 .. 4) {
    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1',
                                  PeerPort => $t->port, Proto => 'tcp')
        or die "connect: $!";
    print $s "PUT /v2/fc/q/manifests/q$i HTTP/1.1\r\n"
        . "Host: localhost\r\nConnection: close\r\n"
        . "Content-Type: $img->{media_type}\r\n"
        . 'Content-Length: ' . length($img->{manifest}) . "\r\n\r\n"
        . $img->{manifest};
    push @socks, $s;
}

@status = ();
for my $s (@socks) {
    local $/;
    my $raw = <$s> // '';
    push @status, $raw =~ m{^HTTP/1\.1 (\d+)} ? $1 : 0;
    close $s;
}

ok((grep { $_ == 503 } @status), 'queue full: a manifest PUT answers 503')
    or diag("@status");
ok((grep { $_ == 201 } @status), 'queue full: another one 201')
    or diag("@status");
is(scalar(grep { $_ != 201 && $_ != 503 } @status), 0,
   'queue full: nothing else') or diag("@status");
for my $i (0 .. $#status) {
    my $g = $t->http(GET => '/v2/fc/q/manifests/q' . ($i + 1),
                     headers => ['Accept' => $img->{media_type}]);
    if ($status[$i] == 201) {
        is($g->{body}, $img->{manifest}, "queue full: tag $i reads back");
    } else {
        is($g->{status}, 404, "queue full: refused tag $i does not exist");
    }
}
$t->stop;

done_testing();
