#!/usr/bin/perl

# authd stopped (SIGTERM) while a background run holds a pooled database
# connection: a reindex over a store of many repositories, caught in the
# middle.  The pool must not be freed under that thread: authd exits
# cleanly (status 0, no signal, no allocator abort), soon.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use Digest::SHA qw(sha256_hex);
use File::Path qw(make_path);
use File::Temp qw(tempdir);
use POSIX qw(WNOHANG);
use Test::More;
use Time::HiRes qw(time);

use Harbor::Authd;

my $N = 400;        # repositories: a reindex of them takes seconds

# a store written directly: one image, linked by N repositories
my $store = tempdir('hb-store-XXXXXX', TMPDIR => 1, CLEANUP => 1);
my $v2 = "$store/docker/registry/v2";

sub put {
    my ($path, $data) = @_;
    (my $dir = $path) =~ s{/[^/]+$}{};
    make_path($dir);
    open my $f, '>', $path or die "$path: $!";
    print $f $data;
    close $f;
}

sub blob {
    my ($data) = @_;
    my $hex = sha256_hex($data);
    put("$v2/blobs/sha256/" . substr($hex, 0, 2) . "/$hex/data", $data);
    return $hex;
}

my $layer = blob('a layer');
my $config = blob('{"architecture":"amd64","os":"linux","rootfs":'
                  . '{"type":"layers","diff_ids":[]}}');
my $manifest = '{"schemaVersion":2,"mediaType":'
    . '"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":'
    . '"application/vnd.oci.image.config.v1+json","digest":"sha256:'
    . $config . '","size":' . length('x') . '},"layers":[{"mediaType":'
    . '"application/vnd.oci.image.layer.v1.tar","digest":"sha256:' . $layer
    . '","size":7}]}';
my $mhex = blob($manifest);

for my $i (1 .. $N) {
    my $r = sprintf "$v2/repositories/library/r%05d", $i;
    put("$r/_manifests/revisions/sha256/$mhex/link", "sha256:$mhex");
    put("$r/_manifests/tags/v1/current/link", "sha256:$mhex");
    put("$r/_manifests/tags/v1/index/sha256/$mhex/link", "sha256:$mhex");
    put("$r/_layers/sha256/$_/link", "sha256:$_") for $layer, $config;
}
system('chmod', '-R', 'a+rX', $store);

my $pg = Harbor::Authd::Pg->start;
my $d = Harbor::Authd->start(pg => $pg,
                             conf => { 'authd.registry_storage' => $store });

my $r = $d->api(POST => '/system/reindex', $d->admin);
is($r->{status}, 202, 'reindex started in the background');

# caught in the middle: some repositories done, not all
my $done = 0;
ok(Harbor::Authd::wait_for(30, sub {
    $done = $pg->psql('SELECT count(*) FROM repository');
    $done >= 10;
}), "reindex under way ($done repositories)");
is($d->api(GET => '/system/reindex', $d->admin)->{json}{status}, 'running',
   'and still running');

my $pid = $d->pid;
my $t0 = time;
kill 'TERM', $pid;
my $gone = Harbor::Authd::wait_for(30, sub { waitpid($pid, WNOHANG) == $pid });
my $ws = $?;
my $secs = time - $t0;
delete $d->{pid};

ok($gone, sprintf 'authd exits after SIGTERM (%.1f s)', $secs);
is($ws & 127, 0, 'not killed by a signal (no crash)');
is($ws >> 8, 0, 'exit status 0');
cmp_ok($pg->psql('SELECT count(*) FROM repository'), '<', $N,
       'it stopped in the middle of the reindex');
unlike($d->log, qr/double free|corrupted|malloc\(\)|AddressSanitizer/,
       'no allocator complaint in the log');
# the order of the log: the signal, the wait for the run's connection,
# the run ending, the connection back
my $log = $d->log;
my @at = map { my $p = index($log, $_); $p } 'shutting down on signal',
    'waiting for 1 connections still in use', 'reindex: failed',
    'every connection was given back';
ok(!grep({ $_ < 0 } @at) && $at[0] < $at[1] && $at[1] < $at[2]
   && $at[2] < $at[3],
   'the pool was freed only after the run gave its connection back')
    or diag(join "\n", (split /\n/, $log)[-8 .. -1]);

done_testing;
