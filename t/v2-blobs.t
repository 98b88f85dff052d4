#!/usr/bin/perl

# Tests for blobs: monolithic upload (POST ?digest=), GET, HEAD, Range,
# digest validation, sha512, empty blobs, large blobs, DELETE.

use warnings;
use strict;

use FindBin;
use lib "$FindBin::Bin/lib";

use Test::More;
use Harbor::Test qw(:all);

###############################################################################

my $t = Harbor::Test->new;
$t->run;

my $repo = 'library/blobs';

# monolithic POST ?digest=

my $data = random_bytes(1000);
my $d = sha256($data);
(undef, my $r) = $t->push_blob($repo, $data);

is($r->{status}, 201, 'monolithic upload');
is($r->{headers}{location}, "/v2/$repo/blobs/$d", 'upload Location');
is($r->{headers}{'docker-content-digest'}, $d, 'upload Docker-Content-Digest');
is($r->{headers}{'docker-distribution-api-version'}, 'registry/2.0',
    'upload api version');

# GET

$r = $t->http(GET => "/v2/$repo/blobs/$d");
is($r->{status}, 200, 'GET blob');
ok($r->{body} eq $data, 'GET blob body');
is($r->{headers}{'content-length'}, 1000, 'GET blob Content-Length');
is($r->{headers}{'content-type'}, 'application/octet-stream',
    'GET blob Content-Type');
is($r->{headers}{'docker-content-digest'}, $d, 'GET blob digest header');
is($r->{headers}{'accept-ranges'}, 'bytes', 'GET blob Accept-Ranges');
is($r->{headers}{etag}, "\"$d\"", 'GET blob ETag');
is($r->{headers}{'docker-distribution-api-version'}, 'registry/2.0',
    'GET blob api version');

# HEAD: the same headers, no body

my $h = $t->http(HEAD => "/v2/$repo/blobs/$d");
is($h->{status}, 200, 'HEAD blob');
is($h->{body}, '', 'HEAD blob no body');
is($h->{trailing}, '', 'HEAD blob nothing after headers');
for my $n ('content-length', 'content-type', 'docker-content-digest',
    'accept-ranges', 'etag')
{
    is($h->{headers}{$n}, $r->{headers}{$n}, "HEAD blob $n as GET");
}

# Range

$r = $t->http(GET => "/v2/$repo/blobs/$d", headers => [Range => 'bytes=0-9']);
is($r->{status}, 206, 'range 0-9');
ok($r->{body} eq substr($data, 0, 10), 'range 0-9 body');
is($r->{headers}{'content-range'}, 'bytes 0-9/1000', 'range 0-9 Content-Range');
is($r->{headers}{'content-length'}, 10, 'range 0-9 Content-Length');

$r = $t->http(GET => "/v2/$repo/blobs/$d",
    headers => [Range => 'bytes=990-']);
is($r->{status}, 206, 'range 990-');
ok($r->{body} eq substr($data, 990), 'range 990- body');
is($r->{headers}{'content-range'}, 'bytes 990-999/1000',
    'range 990- Content-Range');

$r = $t->http(GET => "/v2/$repo/blobs/$d", headers => [Range => 'bytes=-5']);
is($r->{status}, 206, 'range -5');
ok($r->{body} eq substr($data, 995), 'range -5 body');

$r = $t->http(GET => "/v2/$repo/blobs/$d",
    headers => [Range => 'bytes=500-2000']);
is($r->{status}, 206, 'range past the end');
ok($r->{body} eq substr($data, 500), 'range past the end body');
is($r->{headers}{'content-range'}, 'bytes 500-999/1000',
    'range past the end Content-Range');

$r = $t->http(GET => "/v2/$repo/blobs/$d",
    headers => [Range => 'bytes=1000-']);
is($r->{status}, 416, 'range not satisfiable');
is($r->{headers}{'content-range'}, 'bytes */1000',
    'range not satisfiable Content-Range');

$r = $t->http(GET => "/v2/$repo/blobs/$d",
    headers => [Range => 'bytes=99999999999999999999999-']);
ok($r->{status} == 416 || $r->{status} == 200, 'range overflow refused')
    and ok($r->{status} == 416 || $r->{body} eq $data,
           'range overflow: whole blob or 416');

# unknown blob

my $unknown = sha256('no such blob');
$t->is_error($t->http(GET => "/v2/$repo/blobs/$unknown"),
    404, 'BLOB_UNKNOWN', 'GET unknown blob');
$r = $t->http(HEAD => "/v2/$repo/blobs/$unknown");
$t->is_error($r, 404, undef, 'HEAD unknown blob');
is($r->{body}, '', 'HEAD unknown blob no body');

$t->is_error($t->http(GET => "/v2/never/pushed/blobs/$d"),
    404, 'BLOB_UNKNOWN', 'GET blob of an unknown repository');

# invalid digests in the path

my $hex = Digest::SHA::sha256_hex('x');
my @bad = (
    'sha256:' . substr($hex, 0, 63),
    'sha256:' . $hex . 'a',
    'sha256:' . uc $hex,
    'SHA256:' . $hex,
    'sha256' . $hex,
    'sha256:',
    'sha256::' . substr($hex, 1),
    'md5:' . Digest::SHA::sha1_hex('x'),
    'sha384:' . Digest::SHA::sha384_hex('x'),
    'sha512:' . $hex,
    'sha256:' . substr($hex, 0, 62) . 'zz',
    'sha256:' . substr($hex, 0, 62) . '%20a',
    $hex,
    'sha256:..',
    'sha256:%2e%2e',
    'sha256-' . $hex,
);

for my $b (@bad) {
    $t->is_error($t->http(GET => "/v2/$repo/blobs/$b"), 400,
        'DIGEST_INVALID', "GET blob $b");
}

$r = $t->http(HEAD => "/v2/$repo/blobs/sha256:" . uc $hex);
$t->is_error($r, 400, undef, 'HEAD blob with uppercase digest');

# invalid ?digest= on monolithic upload

for my $b ('sha256:' . uc $hex, 'sha256:' . substr($hex, 0, 10),
    'sha1:' . Digest::SHA::sha1_hex('x'), 'sha384:' . Digest::SHA::sha384_hex('x'),
    'foo')
{
    $r = $t->http(POST => "/v2/$repo/blobs/uploads/?digest=$b", body => 'x');
    $t->is_error($r, 400, 'DIGEST_INVALID', "POST ?digest=$b");
}

# digest mismatch: nothing stored under either digest

my $other = random_bytes(100);
$r = $t->http(POST => "/v2/$repo/blobs/uploads/?digest=" . sha256('other'),
    body => $other);
$t->is_error($r, 400, 'DIGEST_INVALID', 'POST digest mismatch');
$t->is_error($t->http(GET => "/v2/$repo/blobs/" . sha256('other')),
    404, 'BLOB_UNKNOWN', 'mismatched blob not stored (claimed digest)');
$t->is_error($t->http(GET => "/v2/$repo/blobs/" . sha256($other)),
    404, 'BLOB_UNKNOWN', 'mismatched blob not stored (real digest)');

# url-encoded digest in the query

my $enc = random_bytes(77);
my $ed = sha256($enc);
(my $q = $ed) =~ s/:/%3A/;
$r = $t->http(POST => "/v2/$repo/blobs/uploads/?digest=$q", body => $enc);
is($r->{status}, 201, 'POST ?digest=sha256%3A...');
is($r->{headers}{'docker-content-digest'}, $ed, 'url-encoded digest decoded');
ok($t->http(GET => "/v2/$repo/blobs/$ed")->{body} eq $enc,
    'url-encoded digest blob readable');

# other query arguments around ?digest=

my $more = random_bytes(33);
$r = $t->http(POST => "/v2/$repo/blobs/uploads/?foo=1&digest=" . sha256($more)
    . '&bar=2', body => $more);
is($r->{status}, 201, 'POST ?foo&digest&bar');

# sha512 blob

my $big = random_bytes(4000);
my ($d512, $r512) = $t->push_blob($repo, $big, algorithm => 'sha512');
is($r512->{status}, 201, 'sha512 monolithic upload');
is($r512->{headers}{location}, "/v2/$repo/blobs/$d512", 'sha512 Location');
is($r512->{headers}{'docker-content-digest'}, $d512, 'sha512 digest header');
$r = $t->http(GET => "/v2/$repo/blobs/$d512");
is($r->{status}, 200, 'GET sha512 blob');
ok($r->{body} eq $big, 'GET sha512 blob body');
is($r->{headers}{'docker-content-digest'}, $d512, 'GET sha512 digest header');
$t->is_error($t->http(GET => "/v2/$repo/blobs/" . sha256($big)),
    404, 'BLOB_UNKNOWN', 'sha512 blob is not known by its sha256');

$r = $t->http(POST => "/v2/$repo/blobs/uploads/?digest=" . sha512('zz'),
    body => 'not zz');
$t->is_error($r, 400, 'DIGEST_INVALID', 'sha512 digest mismatch');

# empty blob

my $empty = sha256('');
$r = $t->http(POST => "/v2/$repo/blobs/uploads/?digest=$empty", body => '');
is($r->{status}, 201, 'empty blob upload');
$r = $t->http(GET => "/v2/$repo/blobs/$empty");
is($r->{status}, 200, 'GET empty blob');
is($r->{headers}{'content-length'}, 0, 'empty blob Content-Length');
is($r->{body}, '', 'empty blob body');

# a larger blob, in one request

my $large = random_bytes(3 * 1024 * 1024 + 17);
my ($ld, $lr) = $t->push_blob($repo, $large);
is($lr->{status}, 201, 'large blob upload');
$r = $t->http(GET => "/v2/$repo/blobs/$ld");
is($r->{status}, 200, 'GET large blob');
is(length $r->{body}, length $large, 'large blob length');
is(sha256($r->{body}), $ld, 'large blob content');

$r = $t->http(GET => "/v2/$repo/blobs/$ld",
    headers => [Range => 'bytes=2097152-2097161']);
is($r->{status}, 206, 'range inside a large blob');
ok($r->{body} eq substr($large, 2097152, 10), 'range inside a large blob body');

# pushing the same blob again is fine

($d, $r) = $t->push_blob($repo, $data);
is($r->{status}, 201, 'same blob again');
ok($t->http(GET => "/v2/$repo/blobs/$d")->{body} eq $data,
    'same blob again readable');

# DELETE unlinks the blob from the repository

my $del = random_bytes(50);
my $dd = $t->push_blob($repo, $del);
$t->push_blob('library/other', $del);

$r = $t->http(DELETE => "/v2/$repo/blobs/$dd");
is($r->{status}, 202, 'DELETE blob');
is($r->{headers}{'docker-distribution-api-version'}, 'registry/2.0',
    'DELETE blob api version');
$t->is_error($t->http(GET => "/v2/$repo/blobs/$dd"), 404, 'BLOB_UNKNOWN',
    'deleted blob unknown');
$t->is_error($t->http(HEAD => "/v2/$repo/blobs/$dd"), 404, undef,
    'deleted blob unknown (HEAD)');
ok($t->http(GET => "/v2/library/other/blobs/$dd")->{body} eq $del,
    'deleted blob still in the other repository');

$t->is_error($t->http(DELETE => "/v2/$repo/blobs/$dd"), 404, 'BLOB_UNKNOWN',
    'DELETE blob twice');
$t->is_error($t->http(DELETE => "/v2/$repo/blobs/$unknown"), 404,
    'BLOB_UNKNOWN', 'DELETE unknown blob');
$t->is_error($t->http(DELETE => "/v2/$repo/blobs/sha256:" . uc $hex), 400,
    'DIGEST_INVALID', 'DELETE blob invalid digest');

# and can be pushed again

$r = ($t->push_blob($repo, $del))[1];
is($r->{status}, 201, 'push deleted blob again');
ok($t->http(GET => "/v2/$repo/blobs/$dd")->{body} eq $del,
    'pushed again readable');

$t->stop;

done_testing;

###############################################################################
