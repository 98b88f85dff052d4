#!/usr/bin/perl

# A HEAD of a blob that answers 200 vouches for the blob until the manifest
# PUT that follows: it renews the blob's time before it answers, and it
# answers 404 once the collector's sweep has moved the blob aside, even
# while nginx's open file cache (on, as conf/harbor.conf.in ships it) still
# holds a descriptor of the moved file (docs/gc.md, the fence).

use warnings;
use strict;

use FindBin;
use lib "$FindBin::Bin/lib";

use File::Path qw(make_path);
use Test::More;
use Harbor::Test qw(:all);

###############################################################################

my $t = Harbor::Test->new;
$t->run(workers => 2);

like($t->read_file('nginx.conf'), qr/open_file_cache\s+max=/,
    'the open file cache is on, as shipped');

sub blob_dir {
    my ($d) = @_;
    my ($hex) = $d =~ /^sha256:(.*)$/;
    return $t->v2root . '/blobs/sha256/' . substr($hex, 0, 2) . "/$hex";
}

sub age { time() - (stat(blob_dir($_[0]) . '/data'))[9] }

# a HEAD renews a blob touched a few minutes ago: a collector with a short
# window may take it otherwise

my $d = $t->push_blob('fence/a', random_bytes(100));
my $then = time() - 300;
utime $then, $then, blob_dir($d) . '/data' or die $!;
is($t->http(HEAD => "/v2/fence/a/blobs/$d")->{status}, 200, 'HEAD');
cmp_ok(age($d), '<', 60, 'HEAD renews a blob touched 5 minutes ago');

# the sweep moves a candidate aside while the open file cache is warm

my $img = $t->make_image('fence/b', 'v1', nlayers => 1);
my $layer = $img->{layers}[0];
my $x = $layer->{digest};

for (1 .. 20) {
    my $r = $t->http(GET => "/v2/fence/b/blobs/$x");
    die "GET $x: $r->{status}" unless $r->{status} == 200;
}

my $old = time() - 86400;
utime $old, $old, blob_dir($x) . '/data' or die $!;

my $trash = $t->storage . '/_gc/trash';
make_path($trash);
my ($hex) = $x =~ /^sha256:(.*)$/;
rename blob_dir($x), "$trash/$hex" or die "rename: $!";

my @head = map { $t->http(HEAD => "/v2/fence/b/blobs/$x")->{status} } 1 .. 10;
is_deeply(\@head, [(404) x 10], 'HEAD: 404 on every worker, cache or not');
is((stat("$trash/$hex/data"))[9], $old,
    'the HEAD did not renew the moved copy');

my $r = $t->push_manifest('fence/b', 'v2', $img->{manifest}, MT_OCI_MANIFEST);
$t->is_error($r, 400, 'MANIFEST_BLOB_UNKNOWN', 'manifest PUT over it: 400');

# the client uploads it again, as after a 404; the PUT then succeeds

is($t->push_blob('fence/b', $layer->{data}), $x, 'uploaded again');
$r = $t->push_manifest('fence/b', 'v2', $img->{manifest}, MT_OCI_MANIFEST);
is($r->{status}, 201, 'the manifest PUT succeeds');
$r = $t->http(GET => "/v2/fence/b/blobs/$x");
is($r->{status}, 200, 'the blob pulls');
is(sha256($r->{body}), $x, 'whole');

done_testing();
