#!/usr/bin/perl

# Tests for DELETE: manifests by digest (the revision and every tag on it),
# by tag (that tag only), blobs (unlinked from one repository only),
# unknown and invalid references.

use warnings;
use strict;

use FindBin;
use lib "$FindBin::Bin/lib";

use Test::More;
use Harbor::Test qw(:all);

###############################################################################

my $t = Harbor::Test->new;
$t->run;

my $repo = 'del/me';

sub tags {
    my $r = $t->http(GET => "/v2/$repo/tags/list");
    return [] unless $r->{status} == 200;
    return $t->json($r)->{tags} || [];
}

# one revision, three tags

my $img = $t->make_image($repo, 'a', nlayers => 2);
$t->push_manifest($repo, $_, $img->{manifest}, MT_OCI_MANIFEST) for qw(b c);
my $keep = $t->make_image($repo, 'keep');

is_deeply(tags(), [qw(a b c keep)], 'four tags');

# DELETE by tag: that tag only

my $r = $t->http(DELETE => "/v2/$repo/manifests/b");
is($r->{status}, 202, 'DELETE tag');
is($r->{headers}{'docker-distribution-api-version'}, 'registry/2.0',
    'DELETE tag api version');
$t->is_error($t->http(GET => "/v2/$repo/manifests/b"), 404,
    'MANIFEST_UNKNOWN', 'deleted tag unknown');
is($t->http(GET => "/v2/$repo/manifests/a")->{status}, 200,
    'other tag on the same revision kept');
is($t->http(GET => "/v2/$repo/manifests/$img->{digest}")->{status}, 200,
    'revision kept');
is_deeply(tags(), [qw(a c keep)], 'tags after DELETE tag');

$t->is_error($t->http(DELETE => "/v2/$repo/manifests/b"), 404,
    'MANIFEST_UNKNOWN', 'DELETE tag twice');

# DELETE by digest: the revision and every tag pointing at it

$r = $t->http(DELETE => "/v2/$repo/manifests/$img->{digest}");
is($r->{status}, 202, 'DELETE by digest');
$t->is_error($t->http(GET => "/v2/$repo/manifests/$img->{digest}"), 404,
    'MANIFEST_UNKNOWN', 'deleted revision unknown');
$t->is_error($t->http(HEAD => "/v2/$repo/manifests/$img->{digest}"), 404,
    undef, 'deleted revision unknown (HEAD)');
for my $tag (qw(a c)) {
    $t->is_error($t->http(GET => "/v2/$repo/manifests/$tag"), 404,
        'MANIFEST_UNKNOWN', "tag $tag of the deleted revision unknown");
}
is($t->http(GET => "/v2/$repo/manifests/keep")->{status}, 200,
    'unrelated tag kept');
is_deeply(tags(), ['keep'], 'tags after DELETE by digest');

$t->is_error($t->http(DELETE => "/v2/$repo/manifests/$img->{digest}"), 404,
    'MANIFEST_UNKNOWN', 'DELETE by digest twice');

# the layers stay (they are blobs of the repository)

is($t->http(GET => "/v2/$repo/blobs/$img->{layers}[0]")->{status}, 200,
    'layers of a deleted manifest stay');

# a tag moved away from a revision is not deleted with it

my $old = $t->make_image($repo, 'moving');
my $new = $t->make_image($repo, 'moving');
is($t->http(DELETE => "/v2/$repo/manifests/$old->{digest}")->{status}, 202,
    'DELETE the old revision of a moved tag');
is($t->http(GET => "/v2/$repo/manifests/moving")->{headers}
    {'docker-content-digest'}, $new->{digest}, 'moved tag kept');

# the revision pushed again after delete is back

is($t->push_manifest($repo, 'again', $img->{manifest}, MT_OCI_MANIFEST)
    ->{status}, 201, 'push the deleted revision again');
is($t->http(GET => "/v2/$repo/manifests/$img->{digest}")->{status}, 200,
    'deleted revision is back');
$t->is_error($t->http(GET => "/v2/$repo/manifests/a"), 404,
    'MANIFEST_UNKNOWN', 'its old tags are not');

# unknown and invalid references

$t->is_error($t->http(DELETE => "/v2/$repo/manifests/nope"), 404,
    'MANIFEST_UNKNOWN', 'DELETE unknown tag');
$t->is_error($t->http(DELETE => "/v2/$repo/manifests/" . sha256('nope')),
    404, 'MANIFEST_UNKNOWN', 'DELETE unknown digest');
$t->is_error($t->http(DELETE => "/v2/$repo/manifests/.bad"), 404,
    'MANIFEST_UNKNOWN', 'DELETE invalid tag');
$t->is_error($t->http(DELETE => "/v2/$repo/manifests/sha256:abc"), 404,
    'MANIFEST_UNKNOWN', 'DELETE invalid digest reference');
$t->is_error($t->http(DELETE => "/v2/del/unknown/manifests/keep"), 404,
    'MANIFEST_UNKNOWN', 'DELETE in an unknown repository');
$t->is_error($t->http(DELETE => "/v2/Del/Me/manifests/keep"), 400,
    'NAME_INVALID', 'DELETE with an invalid name');

# a manifest of another repository cannot be deleted through this one

my $other = $t->make_image('del/other', 'v1');
$t->is_error($t->http(DELETE => "/v2/$repo/manifests/$other->{digest}"), 404,
    'MANIFEST_UNKNOWN', 'DELETE a revision of another repository');
is($t->http(GET => "/v2/del/other/manifests/v1")->{status}, 200,
    'the other repository is untouched');

# blobs

my $blob = random_bytes(300);
my $bd = $t->push_blob($repo, $blob);
$t->http(POST => "/v2/del/other/blobs/uploads/?mount=$bd&from=$repo");

$r = $t->http(DELETE => "/v2/$repo/blobs/$bd");
is($r->{status}, 202, 'DELETE blob');
$t->is_error($t->http(GET => "/v2/$repo/blobs/$bd"), 404, 'BLOB_UNKNOWN',
    'deleted blob unknown here');
ok($t->http(GET => "/v2/del/other/blobs/$bd")->{body} eq $blob,
    'deleted blob still in the repository it was mounted into');
$t->is_error($t->http(DELETE => "/v2/$repo/blobs/$bd"), 404, 'BLOB_UNKNOWN',
    'DELETE blob twice');
$t->is_error($t->http(DELETE => "/v2/$repo/blobs/sha256:xyz"), 400,
    'DIGEST_INVALID', 'DELETE blob invalid digest');

# a blob of another repository cannot be unlinked through this one

my $ob = $t->push_blob('del/third', 'third');
$t->is_error($t->http(DELETE => "/v2/$repo/blobs/$ob"), 404, 'BLOB_UNKNOWN',
    'DELETE a blob of another repository');
is($t->http(GET => "/v2/del/third/blobs/$ob")->{status}, 200,
    'the other blob is untouched');

# a manifest using an unlinked blob can no longer be pushed

my $img2 = $t->make_image($repo, 'img2');
is($t->http(DELETE => "/v2/$repo/blobs/$img2->{config}")->{status}, 202,
    'unlink a config blob');
$r = $t->push_manifest($repo, 'img2-again', $img2->{manifest},
    MT_OCI_MANIFEST);
$t->is_error($r, 400, 'MANIFEST_BLOB_UNKNOWN',
    'manifest over an unlinked blob refused');

$t->stop;

done_testing;

###############################################################################
