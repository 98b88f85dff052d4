#!/usr/bin/perl

# Tests for cross-repository blob mounts and for blobs being served only
# through repositories that link them (no cross-repository reads).

use warnings;
use strict;

use FindBin;
use lib "$FindBin::Bin/lib";

use Test::More;
use Harbor::Test qw(:all);

###############################################################################

my $t = Harbor::Test->new;
$t->run;

my $uuid_re = qr/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/;

my $data = random_bytes(2000);
my $d = $t->push_blob('team/a', $data);

# not readable through another repository until mounted

$t->is_error($t->http(GET => "/v2/team/b/blobs/$d"), 404, 'BLOB_UNKNOWN',
    'blob of a is unknown in b');
my $r = $t->http(HEAD => "/v2/team/b/blobs/$d");
$t->is_error($r, 404, undef, 'blob of a is unknown in b (HEAD)');
ok(!defined $r->{headers}{'content-length'}
    || $r->{headers}{'content-length'} != length $data,
    'HEAD in b does not tell the size');
$r = $t->http(GET => "/v2/team/b/blobs/$d", headers => [Range => 'bytes=0-0']);
$t->is_error($r, 404, 'BLOB_UNKNOWN', 'blob of a is unknown in b (Range)');
$t->is_error($t->http(GET => "/v2/team/blobs/$d"), 404, 'BLOB_UNKNOWN',
    'blob of team/a is unknown in team');
$t->is_error($t->http(GET => "/v2/team/a/x/blobs/$d"), 404, 'BLOB_UNKNOWN',
    'blob of team/a is unknown in team/a/x');

# mount from a repository that does not link it: a new upload

$r = $t->http(POST => "/v2/team/b/blobs/uploads/?mount=$d&from=team/c");
is($r->{status}, 202, 'mount from a repository without the blob: 202');
like($r->{headers}{location}, qr{^/v2/team/b/blobs/uploads/$uuid_re$},
    'mount refused: upload Location');
is($r->{headers}{range}, '0-0', 'mount refused: Range');
$t->is_error($t->http(GET => "/v2/team/b/blobs/$d"), 404, 'BLOB_UNKNOWN',
    'still unknown in b');

# the upload it started works

my $loc = $r->{headers}{location};
$r = $t->http(PUT => $t->with_query($loc, "digest=$d"), body => $data);
is($r->{status}, 201, 'upload started by a refused mount finishes');
is($t->http(DELETE => "/v2/team/b/blobs/$d")->{status}, 202,
    'unlink it again');

# mount without from: no automatic mount from somewhere else

$r = $t->http(POST => "/v2/team/b/blobs/uploads/?mount=$d");
is($r->{status}, 202, 'mount without from: 202');
$t->is_error($t->http(GET => "/v2/team/b/blobs/$d"), 404, 'BLOB_UNKNOWN',
    'mount without from mounts nothing');

# mount of an unknown blob

my $unknown = sha256('never pushed');
$r = $t->http(POST => "/v2/team/b/blobs/uploads/?mount=$unknown&from=team/a");
is($r->{status}, 202, 'mount of an unknown blob: 202');

# mount from a repository with a hostile name mounts nothing

for my $from ('team/a/..', '../team/a', 'team%2F..%2Fteam%2Fa', 'TEAM/A',
    'team//a', '/team/a', 'team/a/', 'team/a%00', '')
{
    $r = $t->http(POST => "/v2/team/b/blobs/uploads/?mount=$d&from=$from");
    isnt($r->{status}, 201, "mount from '$from' not done");
    ok($r->{status} == 202 || $r->{status} == 400,
        "mount from '$from': 202 or 400");
}
$t->is_error($t->http(GET => "/v2/team/b/blobs/$d"), 404, 'BLOB_UNKNOWN',
    'hostile mounts mounted nothing');

# the real mount

$r = $t->http(POST => "/v2/team/b/blobs/uploads/?mount=$d&from=team/a");
is($r->{status}, 201, 'mount');
is($r->{headers}{location}, "/v2/team/b/blobs/$d", 'mount Location');
is($r->{headers}{'docker-content-digest'}, $d, 'mount Docker-Content-Digest');

$r = $t->http(GET => "/v2/team/b/blobs/$d");
is($r->{status}, 200, 'mounted blob readable in b');
ok($r->{body} eq $data, 'mounted blob content');

# mount again is fine

is($t->http(POST => "/v2/team/b/blobs/uploads/?mount=$d&from=team/a")
    ->{status}, 201, 'mount again');

# url-encoded query values

my $d2 = $t->push_blob('team/enc', 'encoded');
(my $q = $d2) =~ s/:/%3A/;
$r = $t->http(POST => "/v2/team/b/blobs/uploads/?mount=$q&from=team%2Fenc");
is($r->{status}, 201, 'mount with url-encoded mount and from');
is($r->{headers}{location}, "/v2/team/b/blobs/$d2",
    'url-encoded mount Location');

# from before mount in the query

my $d3 = $t->push_blob('team/a', 'third');
$r = $t->http(POST => "/v2/team/d/blobs/uploads/?from=team/a&mount=$d3");
is($r->{status}, 201, 'from before mount');

# unlink in the source: the mounted copy stays

is($t->http(DELETE => "/v2/team/a/blobs/$d")->{status}, 202,
    'unlink in a');
$t->is_error($t->http(GET => "/v2/team/a/blobs/$d"), 404, 'BLOB_UNKNOWN',
    'gone from a');
ok($t->http(GET => "/v2/team/b/blobs/$d")->{body} eq $data,
    'still in b after unlink in a');

# mount from a repository that unlinked it: refused

$r = $t->http(POST => "/v2/team/e/blobs/uploads/?mount=$d&from=team/a");
is($r->{status}, 202, 'mount from a repository that unlinked it: 202');
$t->is_error($t->http(GET => "/v2/team/e/blobs/$d"), 404, 'BLOB_UNKNOWN',
    'not mounted into e');

# sha512 blobs mount too

my $d512 = $t->push_blob('team/a', 'sha512 data', algorithm => 'sha512');
$r = $t->http(POST => "/v2/team/f/blobs/uploads/?mount=$d512&from=team/a");
is($r->{status}, 201, 'mount sha512 blob');
is($t->http(GET => "/v2/team/f/blobs/$d512")->{body}, 'sha512 data',
    'mounted sha512 blob content');

# invalid digest in mount

$r = $t->http(POST => "/v2/team/b/blobs/uploads/?mount=sha256:abc&from=team/a");
ok($r->{status} == 400 || $r->{status} == 202,
    'mount with an invalid digest: 400 or 202');
is($t->error_code($r), 'DIGEST_INVALID', 'mount invalid digest code')
    if $r->{status} == 400;

# a manifest can use a mounted blob

my $img = $t->make_image('team/src', 'v1', nlayers => 2);
for my $blob (@{$img->{layers}}, $img->{config}) {
    $t->http(POST => "/v2/team/dst/blobs/uploads/?mount=$blob&from=team/src");
}
$r = $t->push_manifest('team/dst', 'v1', $img->{manifest}, $img->{media_type});
is($r->{status}, 201, 'manifest over mounted blobs');

# but not one with blobs only in another repository

$r = $t->push_manifest('team/nomount', 'v1', $img->{manifest},
    $img->{media_type});
$t->is_error($r, 400, 'MANIFEST_BLOB_UNKNOWN',
    'manifest with blobs of another repository');

$t->stop;

done_testing;

###############################################################################
