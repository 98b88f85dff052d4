#!/usr/bin/perl

# How many descriptors a pushed manifest may have is capped
# (harbor_manifest_descriptors, 512 by default): each costs a link lookup
# and a stat in the event loop, and a manifest of tens of thousands held a
# worker for a second.  Over the cap: 400 MANIFEST_INVALID naming it.

use warnings;
use strict;

use FindBin;
use lib "$FindBin::Bin/lib";

use Test::More;
use Harbor::Test qw(:all);

###############################################################################

my $t = Harbor::Test->new;
$t->run;

sub descriptor {
    my ($i, $mt) = @_;
    return { mediaType => $mt, digest => sha256("absent $i"), size => 9 };
}

sub image_with {
    my ($n) = @_;      # descriptors: a config and n - 1 layers
    return encode_json({ schemaVersion => 2, mediaType => MT_OCI_MANIFEST,
        config => descriptor(0, MT_OCI_CONFIG),
        layers => [map { descriptor($_, MT_OCI_LAYER) } 1 .. $n - 1] });
}

# at the cap the manifest is looked at further (its blobs are absent)
my $r = $t->push_manifest('many/app', 'at', image_with(512), MT_OCI_MANIFEST);
$t->is_error($r, 400, 'MANIFEST_BLOB_UNKNOWN',
    '512 descriptors: within the default cap');

$r = $t->push_manifest('many/app', 'over', image_with(513), MT_OCI_MANIFEST);
$t->is_error($r, 400, 'MANIFEST_INVALID', '513 descriptors: refused');
like($t->json($r)->{errors}[0]{message},
     qr/513 descriptors, more than the 512 .*harbor_manifest_descriptors/,
     'the message names the count and the limit');

$r = $t->push_manifest('many/app', 'huge', image_with(20000),
    MT_OCI_MANIFEST);
$t->is_error($r, 400, 'MANIFEST_INVALID', '20000 descriptors: refused');

# an index counts its manifests
my $idx = encode_json({ schemaVersion => 2, mediaType => MT_OCI_INDEX,
    manifests => [map { { %{descriptor($_, MT_OCI_MANIFEST)},
        platform => { os => 'linux', architecture => "a$_" } } } 1 .. 600] });
$r = $t->push_manifest('many/app', 'index', $idx, MT_OCI_INDEX);
$t->is_error($r, 400, 'MANIFEST_INVALID', 'an index of 600: refused');

$t->stop;

# a location's own cap

my $t2 = Harbor::Test->new;
$t2->run(location => 'harbor_manifest_descriptors 3;');

my $img = $t2->make_image('few/app', 'two', nlayers => 2);
is($img->{response}{status}, 201, 'a config and 2 layers under a cap of 3');

$img = $t2->make_image('few/app', 'three', nlayers => 3);
$t2->is_error($img->{response}, 400, 'MANIFEST_INVALID',
    'a config and 3 layers over it');

$r = $t2->http(GET => '/v2/few/app/manifests/three',
    headers => [Accept => MT_OCI_MANIFEST]);
is($r->{status}, 404, 'and nothing was stored');

$t2->stop;

done_testing();
