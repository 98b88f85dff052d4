#!/usr/bin/perl

# One legal push must not stall the registry's metadata: an index with
# thousands of children (pushed with raw HTTP) is applied by authd within
# a bound, in time linear in its size, and a push made right after it
# shows up in the API too (nothing queues behind one slow event for
# long).  The index lists 5000 children, 1000 distinct ones each five
# times with a platform of its own (pushing 5000 manifests would make
# the test slow); HARBOR_INDEX_CHILDREN and HARBOR_INDEX_DISTINCT set
# other numbers, to measure.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use Digest::SHA qw(sha256_hex);
use JSON::PP ();
use POSIX ();
use Test::More;
use Time::HiRes qw(time);

use Harbor::Test;
use Harbor::Api;

my $N = $ENV{HARBOR_INDEX_CHILDREN} || 5000;
my $D = $ENV{HARBOR_INDEX_DISTINCT} || ($N < 1000 ? $N : 1000);
my $PUSHERS = 4;
my $BOUND = $ENV{HARBOR_INDEX_BOUND} || 30;    # seconds for the index to reach the API

# The module refuses manifests of more than harbor_manifest_descriptors
# (512 by default) descriptors; an admin who allows large indexes raises
# it, and what is measured here is authd's side of such a push.
my $s = Harbor::Api->new(workers => 2,
                         registry => 'harbor_manifest_descriptors 25000;');
my $admin = $s->admin;
my $JSON = JSON::PP->new->utf8->canonical;

$s->create_project('big', public => 0);
my $tok = $s->bearer(user => 'admin', pass => $admin->[1],
                     scope => ['repository:big/app:pull,push',
                               'repository:big/after:pull,push']);

# the children: small image manifests sharing one config, no layers
my $config = $JSON->encode({ architecture => 'amd64', os => 'linux',
                             rootfs => { type => 'layers',
                                         diff_ids => [] } });
my $cfg = { mediaType => MT_OCI_CONFIG, size => length $config,
            digest => 'sha256:' . sha256_hex($config) };

my $r = $s->http(POST => "/v2/big/app/blobs/uploads/?digest=$cfg->{digest}",
                 token => $tok, body => $config,
                 headers => ['Content-Type' => 'application/octet-stream']);
is($r->{status}, 201, 'the config blob');

# the distinct children, pushed by a few processes at once
my @bodies = map {
    $JSON->encode({ schemaVersion => 2, mediaType => MT_OCI_MANIFEST,
                    config => $cfg, layers => [],
                    annotations => { n => "$_" } })
} 1 .. $D;

my $t0 = time;
my @pids;
for my $p (0 .. $PUSHERS - 1) {
    my $pid = fork // die "fork: $!";
    if ($pid == 0) {
        for (my $i = $p; $i < $D; $i += $PUSHERS) {
            my $d = 'sha256:' . sha256_hex($bodies[$i]);
            my $r = $s->http(PUT => "/v2/big/app/manifests/$d",
                             token => $tok, body => $bodies[$i],
                             headers => ['Content-Type' => MT_OCI_MANIFEST]);
            POSIX::_exit(1) unless $r->{status} == 201;
        }
        POSIX::_exit(0);
    }
    push @pids, $pid;
}
my $failed = 0;
for (@pids) {
    waitpid($_, 0);
    $failed++ if $?;
}
is($failed, 0, "$D distinct children pushed");
diag(sprintf('%d children pushed in %.1f s', $D, time - $t0));

my @children = map {
    my $b = $bodies[$_ % $D];
    { mediaType => MT_OCI_MANIFEST, size => length $b,
      digest => 'sha256:' . sha256_hex($b),
      platform => { os => 'linux', architecture => "a$_" } }
} 0 .. $N - 1;

ok($s->sync(300), 'the children are applied');

my $index = $JSON->encode({ schemaVersion => 2, mediaType => MT_OCI_INDEX,
                            manifests => \@children });
my $idx = 'sha256:' . sha256_hex($index);
$r = $s->http(PUT => '/v2/big/app/manifests/many', token => $tok,
              body => $index, headers => ['Content-Type' => MT_OCI_INDEX]);
is($r->{status}, 201, sprintf('an index of %d children (%d KiB)', $N,
                              length($index) / 1024));
my $t_index = time;

# a push right after it, in another repository
my $after = $s->push_image('big/after', $tok, tag => 'v1');
ok($after->{ok}, 'a push right after the index');

my $art = "/projects/big/repositories/app/artifacts/many"
        . '?with_tag=true';
my ($seen, $t_seen);
Harbor::Authd::wait_for($BOUND, sub {
    $seen = $s->api(GET => $art, $admin);
    return $seen->{status} == 200;
});
$t_seen = time - $t_index;
is($seen->{status}, 200, sprintf('the index is in the API after %.1f s '
                                 . '(bound %d s)', $t_seen, $BOUND));
is($seen->{json} && $seen->{json}{digest}, $idx, 'with its digest');

is($s->psql("SELECT count(*) FROM artifact_reference ar JOIN artifact a"
            . " ON a.id = ar.parent_id WHERE a.digest = '$idx'"), $D,
   "$D references, one per distinct child");
is($s->psql("SELECT ar.platform->>'architecture' FROM artifact_reference ar"
            . " JOIN artifact a ON a.id = ar.parent_id WHERE a.digest ="
            . " '$idx' AND ar.child_digest = '$children[$D - 1]{digest}'"),
   'a' . ($D - 1), 'a child has the platform of its first entry');

my $sz = 0;
$sz += $_->{size} for @children;
is($s->psql("SELECT size FROM artifact WHERE digest = '$idx'"),
   length($index) + $sz + $N * $cfg->{size},
   "size: the index and its children (each with its config)");

my $after_seen;
Harbor::Authd::wait_for(10, sub {
    $after_seen = $s->api(GET => '/projects/big/repositories/after/artifacts',
                          $admin);
    return $after_seen->{status} == 200 && @{$after_seen->{json} || []};
});
is(scalar @{$after_seen->{json} || []}, 1,
   sprintf('the push after it is in the API too (%.1f s after the index)',
           time - $t_index));

ok($s->sync(60), 'everything applied');
my $before = $s->snapshot;
$s->reindex;
is_deeply($s->snapshot, $before, 'the tables equal a reindex');

done_testing;
