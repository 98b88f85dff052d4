#!/usr/bin/perl

# The module's half of the fence with the garbage collector (docs/gc.md):
# whatever tells a client that a blob is there renews the blob's time, and
# a manifest is accepted only if the blobs it references are really there.

use warnings;
use strict;

use FindBin;
use lib "$FindBin::Bin/lib";

use Test::More;
use Harbor::Test qw(:all);

###############################################################################

my $t = Harbor::Test->new;
$t->run;

my $old = time() - 86400;

sub blob_file {
    my ($d) = @_;
    my ($hex) = $d =~ /^sha256:(.*)$/;
    return $t->v2root . '/blobs/sha256/' . substr($hex, 0, 2) . "/$hex/data";
}

sub age { my ($d) = @_; time() - (stat blob_file($d))[9] }
sub make_old { my ($d) = @_; utime $old, $old, blob_file($d) or die $! }

# HEAD of a blob renews an old blob, GET does not

my $d = $t->push_blob('lease/a', random_bytes(100));
make_old($d);

is($t->http(GET => "/v2/lease/a/blobs/$d")->{status}, 200, 'GET');
cmp_ok(age($d), '>', 3600, 'GET leaves the time');

is($t->http(HEAD => "/v2/lease/a/blobs/$d")->{status}, 200, 'HEAD');
cmp_ok(age($d), '<', 60, 'HEAD renews an old blob');

# a mount renews the blob

make_old($d);
my $r = $t->http(POST => "/v2/lease/b/blobs/uploads/?mount=$d&from=lease/a");
is($r->{status}, 201, 'mount');
cmp_ok(age($d), '<', 60, 'mount renews the blob');

# pushing a blob that is there already renews it

make_old($d);
$t->push_blob('lease/c', $t->http(GET => "/v2/lease/a/blobs/$d")->{body});
cmp_ok(age($d), '<', 60, 'a repeated upload renews the blob');

# a manifest renews what it references

my $img = $t->make_image('lease/m', 'v1', nlayers => 2);
make_old($_->{digest}) for @{$img->{layers}}, $img->{config};
$r = $t->push_manifest('lease/m', 'v2', $img->{manifest}, MT_OCI_MANIFEST);
is($r->{status}, 201, 'manifest pushed again');
cmp_ok(age($_->{digest}), '<', 60, "manifest renews $_->{digest}")
    for @{$img->{layers}}, $img->{config};

# a link whose blob has gone (a sweep took it) is not enough

my $img2 = $t->make_image('lease/n', undef, nlayers => 1);
my $gone = $img2->{layers}[0]{digest};
unlink blob_file($gone) or die $!;
$r = $t->push_manifest('lease/n', 'v1', $img2->{manifest}, MT_OCI_MANIFEST);
$t->is_error($r, 400, 'MANIFEST_BLOB_UNKNOWN',
    'manifest over a linked but missing blob');
like($r->{body}, qr/\Q$gone\E/, 'the detail names the missing blob');
is($t->http(GET => '/v2/lease/n/manifests/v1')->{status}, 404,
    'nothing was tagged');

# a mount of a linked but missing blob is a normal upload

$r = $t->http(POST => "/v2/lease/o/blobs/uploads/?mount=$gone&from=lease/n");
is($r->{status}, 202, 'mount of a missing blob: a new upload');

done_testing();
