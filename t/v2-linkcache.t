#!/usr/bin/perl

# The link cache (ngx_http_harbor_linkcache.c): manifest GETs by tag and
# digest and blob HEADs are answered from what each worker last read of
# the links, and never from something a request of this nginx changed
# before it answered: a moved tag, a deleted tag, a deleted manifest and
# an unlinked blob show at once on both workers.  A change nginx did not
# make (a link rewritten on disk) shows within the cache's age of 1 s.

use warnings;
use strict;

use FindBin;
use lib "$FindBin::Bin/lib";

use File::Temp qw(tempfile);
use Test::More;
use Time::HiRes qw(time);
use Harbor::Test qw(:all);

###############################################################################

my $t = Harbor::Test->new;
$t->run(workers => 2);

my $repo = 'cache/r';
my $a = $t->make_image($repo, 'a');
my $b = $t->make_image($repo, 'b');

# enough requests, each on a new connection, to reach both workers
my $N = 16;

sub gets {
    my ($path, $method) = @_;
    my %seen;
    for (1 .. $N) {
        my $r = $t->http(($method // 'GET') => $path);
        my $what = $r->{status} == 200
            ? ($r->{headers}{'docker-content-digest'} // 'none')
            : $r->{status};
        $seen{$what}++;
    }
    return join ' ', sort keys %seen;
}

# a tag moved back and forth: every GET after the 201 sees the new target

my $bad = 0;
for my $i (1 .. 20) {
    my $img = $i % 2 ? $b : $a;
    my $other = $i % 2 ? $a : $b;
    gets("/v2/$repo/manifests/t");         # warm both workers
    my $r = $t->push_manifest($repo, 't', $img->{manifest}, MT_OCI_MANIFEST);
    die "PUT: $r->{status}" unless $r->{status} == 201;
    my $seen = gets("/v2/$repo/manifests/t");
    $bad++, diag("round $i: saw $seen, want $img->{digest}")
        unless $seen eq $img->{digest};
    $seen = gets("/v2/$repo/manifests/t", 'HEAD');
    $bad++, diag("round $i: HEAD saw $seen")
        unless $seen eq $img->{digest};
}
is($bad, 0, 'a moved tag: 20 rounds, every GET and HEAD after the PUT sees it');

# a deleted tag

is(gets("/v2/$repo/manifests/t"), $a->{digest}, 'tag t cached');
is($t->http(DELETE => "/v2/$repo/manifests/t")->{status}, 202, 'tag deleted');
is(gets("/v2/$repo/manifests/t"), '404', 'a deleted tag: 404 at once');

# a deleted manifest (its revision link), read by digest

my $c = $t->make_image($repo, undef);
is(gets("/v2/$repo/manifests/$c->{digest}"), $c->{digest},
   'manifest by digest cached');
is($t->http(DELETE => "/v2/$repo/manifests/$c->{digest}")->{status}, 202,
   'manifest deleted');
is(gets("/v2/$repo/manifests/$c->{digest}"), '404',
   'a deleted manifest: 404 at once');

# a blob unlinked from the repository

my $layer = $c->{layers}[0]{digest};
is(gets("/v2/$repo/blobs/$layer", 'HEAD'), $layer, 'blob HEAD cached');
is($t->http(DELETE => "/v2/$repo/blobs/$layer")->{status}, 202,
   'blob unlinked');
is(gets("/v2/$repo/blobs/$layer", 'HEAD'), '404',
   'an unlinked blob: 404 at once');

# a change no request of this nginx made: within the age bound

is(gets("/v2/$repo/manifests/a"), $a->{digest}, 'tag a cached');
my $link = $t->v2root . "/repositories/$repo/_manifests/tags/a/current/link";
my ($fh, $tmp) = tempfile(DIR => $t->dir);
print $fh $b->{digest};
close $fh;
chmod 0644, $tmp or die "chmod: $!";
rename $tmp, $link or die "rename: $!";
my $start = time;
my $seen = '';
while (time - $start < 5) {
    $seen = gets("/v2/$repo/manifests/a");
    last if $seen eq $b->{digest};
}
my $took = time - $start;
is($seen, $b->{digest}, 'a link rewritten on disk is seen');
cmp_ok($took, '<', 2.5, "within the 1 s age and a margin (took ${took}s)");

$t->stop;

done_testing();
