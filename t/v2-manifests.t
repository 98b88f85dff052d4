#!/usr/bin/perl

# Tests for image manifests: PUT by tag and by digest, GET and HEAD by tag
# and by digest, headers, overwriting tags, invalid references, missing
# blobs, invalid documents, type confusion, the 4 MiB cap, Accept.

use warnings;
use strict;

use FindBin;
use lib "$FindBin::Bin/lib";

use JSON::PP ();
use Test::More;
use Harbor::Test qw(:all);

###############################################################################

my $t = Harbor::Test->new;
$t->run;

my $repo = 'library/app';

# OCI image by tag

my $img = $t->make_image($repo, 'v1', nlayers => 2);
my $r = $img->{response};
my $d = $img->{digest};

is($r->{status}, 201, 'PUT OCI manifest by tag');
is($r->{headers}{location}, "/v2/$repo/manifests/$d", 'PUT Location');
is($r->{headers}{'docker-content-digest'}, $d, 'PUT Docker-Content-Digest');
is($r->{headers}{'docker-distribution-api-version'}, 'registry/2.0',
    'PUT api version');
ok(!exists $r->{headers}{'oci-subject'}, 'no OCI-Subject without subject');

for my $ref ('v1', $d) {
    $r = $t->http(GET => "/v2/$repo/manifests/$ref");
    is($r->{status}, 200, "GET manifest $ref");
    is($r->{body}, $img->{manifest}, "GET manifest $ref body");
    is($r->{headers}{'content-type'}, MT_OCI_MANIFEST,
        "GET manifest $ref Content-Type");
    is($r->{headers}{'docker-content-digest'}, $d,
        "GET manifest $ref Docker-Content-Digest");
    is($r->{headers}{'content-length'}, length $img->{manifest},
        "GET manifest $ref Content-Length");
    is($r->{headers}{etag}, "\"$d\"", "GET manifest $ref ETag");
    is($r->{headers}{'docker-distribution-api-version'}, 'registry/2.0',
        "GET manifest $ref api version");

    my $h = $t->http(HEAD => "/v2/$repo/manifests/$ref");
    is($h->{status}, 200, "HEAD manifest $ref");
    is($h->{body}, '', "HEAD manifest $ref no body");
    is($h->{trailing}, '', "HEAD manifest $ref nothing after headers");
    for my $n ('content-type', 'docker-content-digest', 'content-length',
        'etag')
    {
        is($h->{headers}{$n}, $r->{headers}{$n}, "HEAD manifest $ref $n");
    }
}

# docker schema 2 image

my $dimg = $t->make_image($repo, 'docker', format => 'docker');
is($dimg->{response}{status}, 201, 'PUT docker manifest');
$r = $t->http(GET => "/v2/$repo/manifests/docker");
is($r->{headers}{'content-type'}, MT_DOCKER_V2, 'docker manifest Content-Type');
is($r->{body}, $dimg->{manifest}, 'docker manifest body');

# PUT by digest

my $i2 = $t->make_image($repo, undef);
is($i2->{response}{status}, 201, 'PUT by digest');
is($i2->{response}{headers}{location}, "/v2/$repo/manifests/$i2->{digest}",
    'PUT by digest Location');
is($t->http(GET => "/v2/$repo/manifests/$i2->{digest}")->{body},
    $i2->{manifest}, 'GET manifest pushed by digest');

# PUT by digest with the wrong digest

my $i3 = $t->make_image($repo, 'tmp');
$r = $t->push_manifest($repo, sha256('something else'), $i3->{manifest},
    MT_OCI_MANIFEST);
$t->is_error($r, 400, 'DIGEST_INVALID', 'PUT by digest mismatch');
$t->is_error($t->http(GET => "/v2/$repo/manifests/" . sha256('something else')),
    404, 'MANIFEST_UNKNOWN', 'mismatched manifest not stored');

$r = $t->push_manifest($repo, sha512($i3->{manifest}), $i3->{manifest},
    MT_OCI_MANIFEST);
is($r->{status}, 201, 'PUT by sha512 digest');
is($r->{headers}{'docker-content-digest'}, sha512($i3->{manifest}),
    'PUT by sha512 digest: Docker-Content-Digest');
is($t->http(GET => "/v2/$repo/manifests/" . sha512($i3->{manifest}))->{body},
    $i3->{manifest}, 'GET by sha512 digest');

# the same manifest again, and under another tag

$r = $t->push_manifest($repo, 'v1', $img->{manifest}, MT_OCI_MANIFEST);
is($r->{status}, 201, 'same manifest again');
$r = $t->push_manifest($repo, 'latest', $img->{manifest}, MT_OCI_MANIFEST);
is($r->{status}, 201, 'same manifest under another tag');
is($t->http(GET => "/v2/$repo/manifests/latest")->{headers}
    {'docker-content-digest'}, $d, 'second tag points to it');

# overwrite a tag

my $new = $t->make_image($repo, 'v1');
is($new->{response}{status}, 201, 'overwrite tag');
is($t->http(GET => "/v2/$repo/manifests/v1")->{headers}
    {'docker-content-digest'}, $new->{digest}, 'tag moved');
is($t->http(GET => "/v2/$repo/manifests/$d")->{body}, $img->{manifest},
    'old revision still there by digest');

# tags: the grammar

for my $tag ('a', 'A', '_', '0', 'v1.2.3-rc.1_x', 'Z' x 128, 'a' . '-' x 127) {
    my $r = $t->push_manifest($repo, $tag, $img->{manifest}, MT_OCI_MANIFEST);
    is($r->{status}, 201, 'valid tag ' . substr($tag, 0, 20));
    is($t->http(GET => "/v2/$repo/manifests/$tag")->{status}, 200,
        'GET valid tag ' . substr($tag, 0, 20));
}

for my $tag ('.a', '-a', 'a' x 129, 'a:b', 'a%20b', 'a+b', 'a@b', 'a%25',
    'sha256:abc', 'sha256:' . 'A' x 64, 'a%7Eb', 'a%00b')
{
    my $r = $t->push_manifest($repo, $tag, $img->{manifest}, MT_OCI_MANIFEST);
    my $show = substr($tag, 0, 20);
    if ($tag eq 'a%00b') {
        # nginx refuses a NUL in the path itself
        is($r->{status}, 400, "PUT tag $show: 400");
        next;
    }
    my $code = $tag =~ /^sha256:/ ? qr/^(MANIFEST_INVALID|DIGEST_INVALID)$/
                                   : qr/^MANIFEST_INVALID$/;
    is($r->{status}, 400, "PUT invalid tag $show: 400");
    like($t->error_code($r), $code, "PUT invalid tag $show: code");
    $t->is_error($t->http(GET => "/v2/$repo/manifests/$tag"), 404,
        'MANIFEST_UNKNOWN', "GET invalid tag $show");
    $t->is_error($t->http(HEAD => "/v2/$repo/manifests/$tag"), 404,
        undef, "HEAD invalid tag $show");
}

# unknown manifests

$t->is_error($t->http(GET => "/v2/$repo/manifests/nope"), 404,
    'MANIFEST_UNKNOWN', 'GET unknown tag');
$t->is_error($t->http(GET => "/v2/$repo/manifests/" . sha256('nope')), 404,
    'MANIFEST_UNKNOWN', 'GET unknown digest');
$r = $t->http(HEAD => "/v2/$repo/manifests/nope");
$t->is_error($r, 404, undef, 'HEAD unknown tag');
is($r->{body}, '', 'HEAD unknown tag no body');
$t->is_error($t->http(GET => "/v2/library/unknown/manifests/v1"), 404,
    'MANIFEST_UNKNOWN', 'GET manifest of an unknown repository');

# a manifest is not readable through another repository

$t->is_error($t->http(GET => "/v2/library/other/manifests/$d"), 404,
    'MANIFEST_UNKNOWN', 'manifest of app unknown in other');

# manifest blobs are blobs of the repository

is($t->http(GET => "/v2/$repo/blobs/$img->{config}")->{body},
    $img->{config}{data}, 'config readable as a blob');

# a manifest referencing blobs the repository does not have

{
    my $missing = sha256('missing layer');
    my %m = (
        schemaVersion => 2,
        mediaType => MT_OCI_MANIFEST,
        config => { mediaType => MT_OCI_CONFIG,
                    digest => $img->{config}{digest},
                    size => $img->{config}{size} },
        layers => [{ mediaType => MT_OCI_LAYER, digest => $missing,
                     size => 13 }],
    );
    my $r = $t->push_manifest($repo, 'missing', encode_json(\%m),
        MT_OCI_MANIFEST);
    $t->is_error($r, 400, 'MANIFEST_BLOB_UNKNOWN', 'missing layer');
    like($r->{body}, qr/\Q$missing\E/, 'missing layer: detail has the digest');

    my $cfg = sha256('missing config');
    $m{layers} = [{ mediaType => MT_OCI_LAYER,
                    digest => $img->{layers}[0]{digest},
                    size => $img->{layers}[0]{size} }];
    $m{config} = { mediaType => MT_OCI_CONFIG, digest => $cfg, size => 3 };
    $r = $t->push_manifest($repo, 'missing', encode_json(\%m),
        MT_OCI_MANIFEST);
    $t->is_error($r, 400, 'MANIFEST_BLOB_UNKNOWN', 'missing config');
    like($r->{body}, qr/\Q$cfg\E/, 'missing config: detail has the digest');

    $t->is_error($t->http(GET => "/v2/$repo/manifests/missing"), 404,
        'MANIFEST_UNKNOWN', 'refused manifests are not tagged');

    # a blob only in another repository is missing here
    my $o = $t->push_blob('library/other', 'other layer');
    $m{config} = { mediaType => MT_OCI_CONFIG,
                   digest => $img->{config}{digest},
                   size => $img->{config}{size} };
    $m{layers} = [{ mediaType => MT_OCI_LAYER, digest => $o, size => 11 }];
    $r = $t->push_manifest($repo, 'missing', encode_json(\%m),
        MT_OCI_MANIFEST);
    $t->is_error($r, 400, 'MANIFEST_BLOB_UNKNOWN',
        'layer only in another repository');

    # a foreign layer (with urls) need not be here
    $m{layers} = [{ mediaType =>
        'application/vnd.docker.image.rootfs.foreign.diff.tar.gzip',
        digest => sha256('foreign'), size => 7,
        urls => ['https://example.com/layer.tar.gz'] }];
    $m{mediaType} = MT_DOCKER_V2;
    $m{config}{mediaType} = MT_DOCKER_CONFIG;
    $r = $t->push_manifest($repo, 'foreign', encode_json(\%m), MT_DOCKER_V2);
    is($r->{status}, 201, 'foreign layer with urls') or diag $r->{body};
}

# invalid documents

my %good = %{decode_json($img->{manifest})};

my @invalid = (
    ['not json', 'not json at all'],
    ['truncated json', substr($img->{manifest}, 0, -5)],
    ['json array', '[]'],
    ['json string', '"manifest"'],
    ['empty body', ''],
    ['schemaVersion 1', encode_json({ %good, schemaVersion => 1 })],
    ['schemaVersion "2"', encode_json({ %good, schemaVersion => '2' })],
    ['no schemaVersion', do { my %m = %good; delete $m{schemaVersion};
                              encode_json(\%m) }],
    ['no config', do { my %m = %good; delete $m{config}; encode_json(\%m) }],
    ['config without digest', encode_json({ %good,
        config => { mediaType => MT_OCI_CONFIG, size => 2 } })],
    ['config with a bad digest', encode_json({ %good,
        config => { mediaType => MT_OCI_CONFIG, digest => 'sha256:xyz',
                    size => 2 } })],
    ['layers not an array', encode_json({ %good, layers => {} })],
    ['layer without mediaType', encode_json({ %good,
        layers => [{ digest => $img->{layers}[0]{digest},
                     size => $img->{layers}[0]{size} }] })],
    ['layer with a negative size', encode_json({ %good,
        layers => [{ mediaType => MT_OCI_LAYER,
                     digest => $img->{layers}[0]{digest}, size => -1 }] })],
    ['layer with a traversal digest', encode_json({ %good,
        layers => [{ mediaType => MT_OCI_LAYER,
                     digest => 'sha256:../../../../etc/passwd',
                     size => 1 }] })],
    ['manifest with manifests (type confusion)', encode_json({ %good,
        manifests => [{ mediaType => MT_OCI_MANIFEST, digest => $d,
                        size => length $img->{manifest} }] })],
    ['mediaType index in a manifest body', encode_json({ %good,
        mediaType => MT_OCI_INDEX })],
    ['mediaType not a string', encode_json({ %good, mediaType => 5 })],
    ['NUL after a string', encode_json({ %good, annotations => { a => 'x' } })
        =~ s/"x"}/"x"\0}/r],
    # jansson 2.14 swallows a NUL right after a number: the registry must
    # not store a document that is not JSON
    ['NUL after a number', substr($img->{manifest}, 0, -1) . "\0}"],
    ['NUL inside a string', encode_json({ %good, annotations => { a => 'x' } })
        =~ s/"x"/"x\0y"/r],
    ['invalid UTF-8', encode_json({ %good, annotations => { a => 'x' } })
        =~ s/"x"/"\xff\xfe"/r],
    # image-spec: annotations map strings to strings
    ['annotation value a number',
        encode_json({ %good, annotations => { a => 1 } })],
    ['annotation value an object',
        encode_json({ %good, annotations => { a => { b => 'c' } } })],
);

for my $case (@invalid) {
    my ($name, $body) = @$case;
    my $r = $t->push_manifest($repo, 'invalid', $body, MT_OCI_MANIFEST);
    my $code = $name =~ /bad digest|traversal digest/
        ? qr/^(MANIFEST_INVALID|DIGEST_INVALID|MANIFEST_BLOB_UNKNOWN)$/
        : qr/^MANIFEST_INVALID$/;
    is($r->{status}, 400, "$name: 400");
    like($t->error_code($r), $code, "$name: code");
}

$t->is_error($t->http(GET => "/v2/$repo/manifests/invalid"), 404,
    'MANIFEST_UNKNOWN', 'invalid manifests are not stored');

# Content-Type against mediaType

$r = $t->push_manifest($repo, 'ct', $img->{manifest}, MT_DOCKER_V2);
$t->is_error($r, 400, 'MANIFEST_INVALID', 'Content-Type docker, body OCI');
$r = $t->push_manifest($repo, 'ct', $img->{manifest}, MT_OCI_INDEX);
$t->is_error($r, 400, 'MANIFEST_INVALID', 'Content-Type index, body manifest');
$r = $t->push_manifest($repo, 'ct', $dimg->{manifest}, MT_OCI_MANIFEST);
$t->is_error($r, 400, 'MANIFEST_INVALID', 'Content-Type OCI, body docker');
$r = $t->push_manifest($repo, 'ct', $img->{manifest}, 'application/json');
$t->is_error($r, 400, 'MANIFEST_INVALID', 'Content-Type application/json');
$r = $t->push_manifest($repo, 'ct', $img->{manifest},
    'application/vnd.docker.distribution.manifest.v1+prettyjws');
$t->is_error($r, 400, 'MANIFEST_INVALID', 'Content-Type schema1');
$t->is_error($t->http(GET => "/v2/$repo/manifests/ct"), 404,
    'MANIFEST_UNKNOWN', 'mismatched manifests are not stored');

# Content-Type with parameters is the same type

$r = $t->push_manifest($repo, 'ctparam', $img->{manifest},
    MT_OCI_MANIFEST . '; charset=utf-8');
is($r->{status}, 201, 'Content-Type with a parameter');

# no mediaType in the body: the Content-Type decides

{
    my %m = %good;
    delete $m{mediaType};
    my $body = encode_json(\%m);
    my $r = $t->push_manifest($repo, 'nomt', $body, MT_OCI_MANIFEST);
    is($r->{status}, 201, 'no mediaType in the body');
    $r = $t->http(GET => "/v2/$repo/manifests/nomt");
    is($r->{headers}{'content-type'}, MT_OCI_MANIFEST,
        'no mediaType: served with the pushed Content-Type');
    is($r->{body}, $body, 'no mediaType: body');
}

# no Content-Type: the mediaType decides

$r = $t->push_manifest($repo, 'noct', $dimg->{manifest}, undef);
is($r->{status}, 201, 'no Content-Type, mediaType in the body');
is($t->http(GET => "/v2/$repo/manifests/noct")->{headers}{'content-type'},
    MT_DOCKER_V2, 'no Content-Type: served with the mediaType');

# the document is stored byte for byte (whitespace, key order)

{
    my $pretty = JSON::PP->new->pretty->encode(\%good);
    my $r = $t->push_manifest($repo, 'pretty', $pretty, MT_OCI_MANIFEST);
    is($r->{status}, 201, 'pretty manifest');
    is($r->{headers}{'docker-content-digest'}, sha256($pretty),
        'pretty manifest digest of the bytes');
    is($t->http(GET => "/v2/$repo/manifests/pretty")->{body}, $pretty,
        'pretty manifest byte for byte');
}

# the 4 MiB cap

{
    my $max = 4 * 1024 * 1024;
    my %m = %good;
    $m{annotations} = { pad => '' };
    my $base = length encode_json(\%m);
    $m{annotations}{pad} = 'x' x ($max - $base);
    my $body = encode_json(\%m);
    is(length $body, $max, 'built a 4 MiB manifest');

    my $r = $t->push_manifest($repo, 'max', $body, MT_OCI_MANIFEST);
    is($r->{status}, 201, 'manifest of exactly 4 MiB');
    $r = $t->http(GET => "/v2/$repo/manifests/max");
    is($r->{status}, 200, 'GET manifest of 4 MiB');
    is(length $r->{body}, $max, 'GET manifest of 4 MiB length');

    $m{annotations}{pad} .= 'x';
    $body = encode_json(\%m);
    $r = $t->push_manifest($repo, 'over', $body, MT_OCI_MANIFEST);
    $t->is_error($r, 413, 'SIZE_INVALID', 'manifest of 4 MiB + 1');
    $t->is_error($t->http(GET => "/v2/$repo/manifests/over"), 404,
        'MANIFEST_UNKNOWN', 'oversized manifest not stored');
    $t->is_error($t->http(GET => "/v2/$repo/manifests/" . sha256($body)), 404,
        'MANIFEST_UNKNOWN', 'oversized manifest not stored by digest');

    $r = $t->http(PUT => "/v2/$repo/manifests/over", body => $body,
        chunked => 65536,
        headers => ['Content-Type' => MT_OCI_MANIFEST]);
    $t->is_error($r, 413, 'SIZE_INVALID', 'chunked manifest of 4 MiB + 1');

    # refused on the Content-Length alone
    $r = $t->http(PUT => "/v2/$repo/manifests/over", timeout => 5,
        body => '{', no_length => 1, headers => [
            'Content-Type' => MT_OCI_MANIFEST,
            'Content-Length' => 1073741824]);
    $t->is_error($r, 413, 'SIZE_INVALID', 'Content-Length of 1 GiB refused');
}

# Accept

sub accept_status {
    my ($ref, @accept) = @_;
    my $r = $t->http(GET => "/v2/$repo/manifests/$ref",
        headers => [map { (Accept => $_) } @accept]);
    return $r;
}

$r = accept_status($d, MT_OCI_MANIFEST);
is($r->{status}, 200, 'Accept: OCI manifest');
$r = accept_status($d, MT_DOCKER_V2);
$t->is_error($r, 404, 'MANIFEST_UNKNOWN', 'Accept: docker only, OCI stored');
$r = accept_status($d, MT_DOCKER_V2 . ', ' . MT_OCI_MANIFEST);
is($r->{status}, 200, 'Accept: list with OCI');
$r = accept_status($d, MT_DOCKER_V2, MT_OCI_MANIFEST);
is($r->{status}, 200, 'Accept: two headers, the second OCI');
$r = accept_status($d, MT_OCI_MANIFEST . ';q=0.5');
is($r->{status}, 200, 'Accept: OCI with q');
$r = accept_status($d, '*/*');
is($r->{status}, 200, 'Accept: */*');
$r = accept_status($d, MT_DOCKER_V2 . ', */*;q=0.1');
is($r->{status}, 200, 'Accept: docker, */*');
$r = accept_status($d, 'application/json');
$t->is_error($r, 404, 'MANIFEST_UNKNOWN', 'Accept: application/json');
$r = accept_status('docker', MT_OCI_MANIFEST, MT_OCI_INDEX);
$t->is_error($r, 404, 'MANIFEST_UNKNOWN', 'Accept: OCI only, docker stored');
$r = accept_status('docker', MT_DOCKER_V2);
is($r->{status}, 200, 'Accept: docker, docker stored');
$r = accept_status('docker', uc MT_DOCKER_V2);
is($r->{status}, 200, 'Accept: media types are case-insensitive');

$r = $t->http(HEAD => "/v2/$repo/manifests/$d",
    headers => [Accept => MT_DOCKER_V2]);
$t->is_error($r, 404, undef, 'HEAD with Accept excluding the type');

# the repository name is checked

$t->is_error($t->http(GET => '/v2/Library/App/manifests/v1'), 400,
    'NAME_INVALID', 'GET manifest invalid name');
$t->is_error($t->push_manifest('library/app-', 'v1', $img->{manifest},
    MT_OCI_MANIFEST), 400, 'NAME_INVALID', 'PUT manifest invalid name');

$t->stop;

done_testing;

###############################################################################
