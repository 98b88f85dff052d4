#!/usr/bin/perl

# Nothing of a list is read in the event loop: the directory reads of
# tags/list, _catalog and referrers, and the reads of a referrers page's
# manifests, run in nginx's thread pool.  strace(1) follows both workers
# and every thread: no getdents64(2) and no open of a listed directory or
# a referrer's manifest on a worker's main thread (its pid), and some on
# the others (the strace saw them).  Then a page of tags of a repository
# left alone comes from the worker's cache: twenty lists open its tags
# directory at most once per worker.

use warnings;
use strict;

use FindBin;
use lib "$FindBin::Bin/lib";

use Test::More;
use File::Path qw(make_path);
use Harbor::Test qw(:all);
use Harbor::Strace;

###############################################################################

my $t = Harbor::Test->new;
$t->run;

my $v2 = $t->v2root;
my @workers = $t->workers(2);
is(scalar @workers, 2, 'two workers');

my $img = $t->make_image('loop/a', 'seed');
for my $tag (map { "t$_" } 1 .. 30) {
    is($t->push_manifest('loop/a', $tag, $img->{manifest},
                         $img->{media_type})->{status}, 201, "tag $tag")
        or last;
}
for my $i (1 .. 5) {
    $t->make_image('loop/a', undef, nlayers => 0, subject => $img,
                   artifact_type => "application/x-$i");
}
$t->make_image("loop/r$_", 'x', nlayers => 0) for 1 .. 3;

sub lists {
    for (1 .. 10) {
        my $r = $t->http(GET => '/v2/loop/a/tags/list?n=5');
        is($r->{status}, 200, 'tags/list') or diag($r->{body});
        is_deeply($t->json($r)->{tags}, [qw(seed t1 t10 t11 t12)],
                  'tags/list: the page');
        $r = $t->http(GET => '/v2/_catalog?n=2&last=loop/a');
        is_deeply($t->json($r)->{repositories}, [qw(loop/r1 loop/r2)],
                  'catalog: the page');
        $r = $t->http(GET => "/v2/loop/a/referrers/$img->{digest}");
        is(scalar @{$t->json($r)->{manifests} || []}, 5, 'referrers: 5');
    }
}

my %main = map { $_ => 1 } @workers;

my $trace = Harbor::Strace->start($t, 'getdents64,openat', @workers);
lists();
my @lines = $trace->stop;

my (%on, %off);
for (@lines) {
    my ($tid, $call) = /^(\d+)\s+(getdents64|openat)\(/ or next;
    my $what = $call eq 'getdents64' ? 'getdents64'
        : m{/_manifests/tags"} ? 'tags'
        : m{/_referrers/} ? 'referrers'
        : m{/repositories"} ? 'catalog'
        : m{/blobs/sha256/../[0-9a-f]+/data"} ? 'manifest'
        : next;
    ($main{$tid} ? \%on : \%off)->{$what}++;
}

for my $what (qw(getdents64 tags referrers catalog manifest)) {
    ok(!$on{$what}, "$what: none on a worker's event loop")
        or diag(join '', grep { /^(\d+)/ && $main{$1} } @lines);
    ok($off{$what}, "$what: read in the thread pool ($off{$what})");
}

###############################################################################
# a repository left alone: its tags pages come from the cache

my $tags = "$v2/repositories/loop/a/_manifests/tags";
utime(time - 60, time - 60, $tags) or die "utime: $!";

$trace = Harbor::Strace->start($t, 'getdents64,openat', @workers);
for my $n (1 .. 20) {
    my $r = $t->http(GET => "/v2/loop/a/tags/list?n=3&last=t2");
    is_deeply($t->json($r)->{tags}, [qw(t20 t21 t22)], "cached list $n");
    like($r->{headers}{link} || '', qr{last=t22&n=3>}, 'and its Link');
}
@lines = $trace->stop;

my $opens = grep { m{/_manifests/tags"} } @lines;
cmp_ok($opens, '<=', scalar @workers,
       "twenty lists opened the tags directory $opens times");

$t->stop;

done_testing();
