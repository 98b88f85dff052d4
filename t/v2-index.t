#!/usr/bin/perl

# Tests for image indexes and docker manifest lists: push, pull, children
# that must be in the repository, type confusion between index and
# manifest, nested indexes, Accept.

use warnings;
use strict;

use FindBin;
use lib "$FindBin::Bin/lib";

use Test::More;
use Harbor::Test qw(:all);

###############################################################################

my $t = Harbor::Test->new;
$t->run;

my $repo = 'multi/arch';

my $amd = $t->make_image($repo, undef);
my $arm = $t->make_image($repo, undef);

# OCI index

my $idx = $t->make_index($repo, 'v1', [$amd, $arm]);
my $r = $idx->{response};
is($r->{status}, 201, 'PUT index');
is($r->{headers}{location}, "/v2/$repo/manifests/$idx->{digest}",
    'PUT index Location');
is($r->{headers}{'docker-content-digest'}, $idx->{digest},
    'PUT index Docker-Content-Digest');

for my $ref ('v1', $idx->{digest}) {
    $r = $t->http(GET => "/v2/$repo/manifests/$ref");
    is($r->{status}, 200, "GET index $ref");
    is($r->{headers}{'content-type'}, MT_OCI_INDEX, "GET index $ref type");
    is($r->{body}, $idx->{manifest}, "GET index $ref body");
    is($r->{headers}{'docker-content-digest'}, $idx->{digest},
        "GET index $ref digest");
    is($r->{headers}{etag}, "\"$idx->{digest}\"", "GET index $ref ETag");

    my $h = $t->http(HEAD => "/v2/$repo/manifests/$ref");
    is($h->{status}, 200, "HEAD index $ref");
    is($h->{headers}{'content-type'}, MT_OCI_INDEX, "HEAD index $ref type");
    is($h->{headers}{'content-length'}, length $idx->{manifest},
        "HEAD index $ref length");
}

# the children stay readable by digest

is($t->http(GET => "/v2/$repo/manifests/$amd->{digest}")->{body},
    $amd->{manifest}, 'child readable');

# docker manifest list of docker manifests

my $d1 = $t->make_image($repo, undef, format => 'docker');
my $d2 = $t->make_image($repo, undef, format => 'docker');
my $list = $t->make_index($repo, 'list', [$d1, $d2], format => 'docker');
is($list->{response}{status}, 201, 'PUT docker manifest list');
$r = $t->http(GET => "/v2/$repo/manifests/list");
is($r->{headers}{'content-type'}, MT_DOCKER_LIST, 'docker list Content-Type');
is($r->{body}, $list->{manifest}, 'docker list body');

# an index of an index

my $nested = $t->make_index($repo, 'nested', [$idx, $amd]);
is($nested->{response}{status}, 201, 'PUT index of an index');

# children that are not in the repository

{
    my $other = $t->make_image('multi/other', undef);
    my $bad = $t->make_index($repo, 'bad', [$amd, $other]);
    $t->is_error($bad->{response}, 400, 'MANIFEST_BLOB_UNKNOWN',
        'index with a child of another repository');
    like($bad->{response}{body}, qr/\Q$other->{digest}\E/,
        'detail names the child');

    my $ghost = { media_type => MT_OCI_MANIFEST, digest => sha256('ghost'),
                  size => 123 };
    $bad = $t->make_index($repo, 'bad', [$ghost]);
    $t->is_error($bad->{response}, 400, 'MANIFEST_BLOB_UNKNOWN',
        'index with an unknown child');
    like($bad->{response}{body}, qr/\Q$ghost->{digest}\E/,
        'detail names the unknown child');

    # a blob (not a manifest) of the repository as a child
    my $blob = $t->push_blob($repo, 'just a blob');
    $bad = $t->make_index($repo, 'bad', [{ media_type => MT_OCI_MANIFEST,
        digest => $blob, size => 11 }]);
    $t->is_error($bad->{response}, 400, 'MANIFEST_BLOB_UNKNOWN',
        'index with a layer blob as a child');

    $t->is_error($t->http(GET => "/v2/$repo/manifests/bad"), 404,
        'MANIFEST_UNKNOWN', 'refused indexes are not tagged');
}

# an empty index is fine

{
    my $r = $t->push_manifest($repo, 'empty', encode_json({
        schemaVersion => 2, mediaType => MT_OCI_INDEX, manifests => [] }),
        MT_OCI_INDEX);
    is($r->{status}, 201, 'empty index');
}

# type confusion

my %good = %{decode_json($idx->{manifest})};

my @confused = (
    ['index with layers', { %good, layers => [{ mediaType => MT_OCI_LAYER,
        digest => $amd->{layers}[0]{digest},
        size => $amd->{layers}[0]{size} }] }, MT_OCI_INDEX],
    ['index with config', { %good, config => { mediaType => MT_OCI_CONFIG,
        digest => $amd->{config}{digest},
        size => $amd->{config}{size} } }, MT_OCI_INDEX],
    ['index body as manifest', \%good, MT_OCI_MANIFEST],
    ['index body, mediaType manifest', { %good,
        mediaType => MT_OCI_MANIFEST }, MT_OCI_MANIFEST],
    ['index body, mediaType manifest, Content-Type index', { %good,
        mediaType => MT_OCI_MANIFEST }, MT_OCI_INDEX],
    ['index body as docker list', \%good, MT_DOCKER_LIST],
    ['index without manifests', do { my %m = %good; delete $m{manifests};
        \%m }, MT_OCI_INDEX],
    ['manifests not an array', { %good, manifests => 'x' }, MT_OCI_INDEX],
    ['child without digest', { %good, manifests => [{
        mediaType => MT_OCI_MANIFEST, size => 1 }] }, MT_OCI_INDEX],
    ['child with a bad digest', { %good, manifests => [{
        mediaType => MT_OCI_MANIFEST, digest => 'sha256:1234',
        size => 1 }] }, MT_OCI_INDEX],
    ['docker list with config and layers', {
        %{decode_json($list->{manifest})},
        config => { mediaType => MT_DOCKER_CONFIG,
                    digest => $d1->{config}{digest},
                    size => $d1->{config}{size} },
        layers => [] }, MT_DOCKER_LIST],
    ['manifest body as index', decode_json($amd->{manifest}), MT_OCI_INDEX],
    ['manifest with manifests, Content-Type index', {
        %{decode_json($amd->{manifest})}, mediaType => MT_OCI_INDEX,
        manifests => [] }, MT_OCI_INDEX],
);

for my $case (@confused) {
    my ($name, $doc, $ct) = @$case;
    my $r = $t->push_manifest($repo, 'confused', encode_json($doc), $ct);
    is($r->{status}, 400, "$name: 400");
    like($t->error_code($r), qr/^(MANIFEST_INVALID)$/, "$name: code");
}

$t->is_error($t->http(GET => "/v2/$repo/manifests/confused"), 404,
    'MANIFEST_UNKNOWN', 'confused documents are not stored');

# Accept

$r = $t->http(GET => "/v2/$repo/manifests/v1",
    headers => [Accept => MT_OCI_MANIFEST]);
$t->is_error($r, 404, 'MANIFEST_UNKNOWN', 'index with Accept: manifest only');

$r = $t->http(GET => "/v2/$repo/manifests/v1",
    headers => [Accept => join ', ', MT_OCI_MANIFEST, MT_OCI_INDEX]);
is($r->{status}, 200, 'index with Accept: manifest, index');

$r = $t->http(GET => "/v2/$repo/manifests/list",
    headers => [Accept => MT_DOCKER_V2, Accept => MT_DOCKER_LIST]);
is($r->{status}, 200, 'docker list with two Accept headers');

$r = $t->http(GET => "/v2/$repo/manifests/list",
    headers => [Accept => MT_OCI_INDEX]);
$t->is_error($r, 404, 'MANIFEST_UNKNOWN', 'docker list with Accept: OCI index');

# deleting a child does not break the index document

is($t->http(DELETE => "/v2/$repo/manifests/$arm->{digest}")->{status}, 202,
    'delete a child');
$r = $t->http(GET => "/v2/$repo/manifests/v1");
is($r->{status}, 200, 'index still readable');
is($r->{body}, $idx->{manifest}, 'index unchanged');

$t->stop;

done_testing;

###############################################################################
