#!/usr/bin/perl

# Tests for upload sessions: POST, PATCH, GET status, PUT to finish, DELETE,
# unknown and malformed upload ids, uploads bound to their repository.

use warnings;
use strict;

use FindBin;
use lib "$FindBin::Bin/lib";

use Test::More;
use Harbor::Test qw(:all);

###############################################################################

my $t = Harbor::Test->new;
$t->run;

my $repo = 'library/up';
my $uuid_re = qr/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/;

# POST starts an upload

my $r = $t->http(POST => "/v2/$repo/blobs/uploads/");
is($r->{status}, 202, 'POST uploads/');
like($r->{headers}{location}, qr{^/v2/$repo/blobs/uploads/$uuid_re$},
    'POST Location');
my ($uuid) = ($r->{headers}{location} || '') =~ m{/uploads/([^/?]+)$};
is($r->{headers}{'docker-upload-uuid'}, $uuid, 'POST Docker-Upload-UUID');
is($r->{headers}{range}, '0-0', 'POST Range 0-0');
is($r->{headers}{'content-length'}, 0, 'POST Content-Length 0');
is($r->{body}, '', 'POST no body');
is($r->{headers}{'docker-distribution-api-version'}, 'registry/2.0',
    'POST api version');

my $loc = $r->{headers}{location};

# two uploads have different ids

my (undef, $uuid2) = $t->upload_start($repo);
isnt($uuid2, $uuid, 'upload ids differ');

# status of an empty upload

$r = $t->http(GET => $loc);
is($r->{status}, 204, 'GET upload status');
is($r->{headers}{range}, '0-0', 'status Range 0-0');
is($r->{headers}{location}, $loc, 'status Location');
is($r->{headers}{'docker-upload-uuid'}, $uuid, 'status Docker-Upload-UUID');
is($r->{body}, '', 'status no body');

# PATCH without Content-Range (streamed)

my $a = random_bytes(1000);
my $b = random_bytes(2345);
my $c = random_bytes(10);

$r = $t->http(PATCH => $loc, body => $a,
    headers => ['Content-Type' => 'application/octet-stream']);
is($r->{status}, 202, 'PATCH 1');
is($r->{headers}{range}, '0-999', 'PATCH 1 Range');
is($r->{headers}{location}, $loc, 'PATCH 1 Location');
is($r->{headers}{'docker-upload-uuid'}, $uuid, 'PATCH 1 Docker-Upload-UUID');

$r = $t->http(GET => $loc);
is($r->{status}, 204, 'status after PATCH 1');
is($r->{headers}{range}, '0-999', 'status Range after PATCH 1');

# PATCH with Content-Range

$r = $t->http(PATCH => $loc, body => $b, headers => [
    'Content-Type' => 'application/octet-stream',
    'Content-Range' => '1000-' . (1000 + length($b) - 1)]);
is($r->{status}, 202, 'PATCH 2 with Content-Range');
is($r->{headers}{range}, '0-' . (1000 + length($b) - 1), 'PATCH 2 Range');

# PUT with the last chunk and the digest

my $all = $a . $b . $c;
my $d = sha256($all);

$r = $t->http(PUT => $t->with_query($loc, "digest=$d"), body => $c,
    headers => ['Content-Type' => 'application/octet-stream']);
is($r->{status}, 201, 'PUT finishes');
is($r->{headers}{location}, "/v2/$repo/blobs/$d", 'PUT Location');
is($r->{headers}{'docker-content-digest'}, $d, 'PUT Docker-Content-Digest');

$r = $t->http(GET => "/v2/$repo/blobs/$d");
is($r->{status}, 200, 'uploaded blob');
ok($r->{body} eq $all, 'uploaded blob content');

# the finished upload is gone

$t->is_error($t->http(GET => $loc), 404, 'BLOB_UPLOAD_UNKNOWN',
    'finished upload unknown (GET)');
$t->is_error($t->http(PATCH => $loc, body => 'x'), 404, 'BLOB_UPLOAD_UNKNOWN',
    'finished upload unknown (PATCH)');
$t->is_error($t->http(PUT => "$loc?digest=$d"), 404, 'BLOB_UPLOAD_UNKNOWN',
    'finished upload unknown (PUT)');
$t->is_error($t->http(DELETE => $loc), 404, 'BLOB_UPLOAD_UNKNOWN',
    'finished upload unknown (DELETE)');

# PUT without a body after PATCHes

my ($l2) = $t->upload_start($repo);
my $p = random_bytes(5000);
is($t->http(PATCH => $l2, body => $p)->{status}, 202, 'PATCH whole blob');
$r = $t->http(PUT => $t->with_query($l2, 'digest=' . sha256($p)));
is($r->{status}, 201, 'PUT without body');
ok($t->http(GET => "/v2/$repo/blobs/" . sha256($p))->{body} eq $p,
    'PUT without body blob content');

# POST then PUT with the whole blob (two-step monolithic)

my ($l3) = $t->upload_start($repo);
my $w = random_bytes(700);
$r = $t->http(PUT => $t->with_query($l3, 'digest=' . sha256($w)), body => $w,
    headers => ['Content-Type' => 'application/octet-stream']);
is($r->{status}, 201, 'POST then PUT whole blob');
ok($t->http(GET => "/v2/$repo/blobs/" . sha256($w))->{body} eq $w,
    'POST then PUT blob content');

# url-encoded digest on PUT

my ($l4) = $t->upload_start($repo);
my $e = random_bytes(99);
(my $q = sha256($e)) =~ s/:/%3a/;
$r = $t->http(PUT => $t->with_query($l4, "digest=$q"), body => $e);
is($r->{status}, 201, 'PUT ?digest=sha256%3a...');
is($r->{headers}{'docker-content-digest'}, sha256($e),
    'PUT url-encoded digest decoded');

# empty upload

my ($l5) = $t->upload_start($repo);
$r = $t->http(PUT => $t->with_query($l5, 'digest=' . sha256('')));
is($r->{status}, 201, 'empty upload');
is($t->http(GET => "/v2/$repo/blobs/" . sha256(''))->{status}, 200,
    'empty upload blob');

# sha512 digest at the end of a chunked upload

my ($l6) = $t->upload_start($repo);
my $s1 = random_bytes(3000);
my $s2 = random_bytes(3000);
$t->http(PATCH => $l6, body => $s1);
$r = $t->http(PUT => $t->with_query($l6, 'digest=' . sha512($s1 . $s2)),
    body => $s2);
is($r->{status}, 201, 'sha512 upload finished');
is($r->{headers}{'docker-content-digest'}, sha512($s1 . $s2),
    'sha512 upload digest');
ok($t->http(GET => "/v2/$repo/blobs/" . sha512($s1 . $s2))->{body}
    eq $s1 . $s2, 'sha512 upload content');

# PUT without or with a malformed digest: 400 DIGEST_INVALID (each on an
# upload of its own: whether a failed PUT keeps the upload is not said)

my $x = random_bytes(64);
my $xhex = Digest::SHA::sha256_hex($x);

for my $case (['', 'PUT without digest'],
    ['digest=', 'PUT with empty digest'],
    ['digest=sha256:abc', 'PUT with a malformed digest'],
    ["digest=sha256:\U$xhex", 'PUT with an uppercase digest'],
    ["digest=sha1:" . Digest::SHA::sha1_hex($x), 'PUT with sha1'],
    ['digest=' . sha256('bogus'), 'PUT digest mismatch'])
{
    my ($l) = $t->upload_start($repo);
    $t->http(PATCH => $l, body => $x);
    $t->is_error($t->http(PUT => $case->[0] eq '' ? $l
        : $t->with_query($l, $case->[0])), 400, 'DIGEST_INVALID', $case->[1]);
}

# and nothing was stored

$t->is_error($t->http(GET => "/v2/$repo/blobs/" . sha256('bogus')),
    404, 'BLOB_UNKNOWN', 'mismatched blob not stored');
$t->is_error($t->http(GET => "/v2/$repo/blobs/" . sha256($x)),
    404, 'BLOB_UNKNOWN', 'mismatched blob not stored by its real digest');

# DELETE cancels

my ($l8, $u8) = $t->upload_start($repo);
$t->http(PATCH => $l8, body => 'abc');
$r = $t->http(DELETE => $l8);
is($r->{status}, 204, 'DELETE upload');
is($r->{headers}{'docker-distribution-api-version'}, 'registry/2.0',
    'DELETE upload api version');
$t->is_error($t->http(GET => $l8), 404, 'BLOB_UPLOAD_UNKNOWN',
    'cancelled upload unknown');
$t->is_error($t->http(PATCH => $l8, body => 'x'), 404, 'BLOB_UPLOAD_UNKNOWN',
    'PATCH cancelled upload');
$t->is_error($t->http(PUT => $t->with_query($l8, 'digest=' . sha256('abc'))),
    404, 'BLOB_UPLOAD_UNKNOWN', 'PUT cancelled upload');
$t->is_error($t->http(DELETE => $l8), 404, 'BLOB_UPLOAD_UNKNOWN',
    'DELETE cancelled upload again');
$t->is_error($t->http(GET => "/v2/$repo/blobs/" . sha256('abc')),
    404, 'BLOB_UNKNOWN', 'cancelled upload left no blob');

# unknown and malformed upload ids

my $never = '8e7c5b2a-4f3d-4a1b-9c2d-0e1f2a3b4c5d';
for my $m (qw(GET PATCH PUT DELETE)) {
    my $path = "/v2/$repo/blobs/uploads/$never";
    $path .= '?digest=' . sha256('') if $m eq 'PUT';
    $t->is_error($t->http($m => $path), 404, 'BLOB_UPLOAD_UNKNOWN',
        "$m unknown upload");
}

for my $bad ('abc', uc($never), substr($never, 0, 35), $never . '0',
    '8e7c5b2a-4f3d-4a1b-9c2d-0e1f2a3b4c5g', '8e7c5b2a_4f3d_4a1b_9c2d_0e1f2a3b4c5d',
    '..', '%2e%2e', 'a%00b', '8e7c5b2a4f3d4a1b9c2d0e1f2a3b4c5d')
{
    my $r = $t->http(GET => "/v2/$repo/blobs/uploads/$bad");
    if ($bad eq '..' || $bad eq '%2e%2e' || $bad eq 'a%00b') {
        # nginx resolves or refuses these before the registry sees them
        ok($r->{status} >= 400 && $r->{status} < 500, "GET upload $bad 4xx");
        next;
    }
    $t->is_error($r, 404, 'BLOB_UPLOAD_UNKNOWN', "GET upload $bad");
    $t->is_error($t->http(PATCH => "/v2/$repo/blobs/uploads/$bad", body => 'x'),
        404, 'BLOB_UPLOAD_UNKNOWN', "PATCH upload $bad");
}

# an upload belongs to the repository it was started in

my ($l9, $u9) = $t->upload_start('library/mine');
$t->http(PATCH => $l9, body => 'mine');

for my $m (qw(GET PATCH DELETE)) {
    $t->is_error($t->http($m => "/v2/library/theirs/blobs/uploads/$u9",
        $m eq 'PATCH' ? (body => 'theirs') : ()),
        404, 'BLOB_UPLOAD_UNKNOWN', "$m upload through another repository");
}
$t->is_error($t->http(PUT => "/v2/library/theirs/blobs/uploads/$u9?digest="
    . sha256('mine')), 404, 'BLOB_UPLOAD_UNKNOWN',
    'PUT upload through another repository');

$r = $t->http(GET => $l9);
is($r->{status}, 204, 'upload intact in its repository');
is($r->{headers}{range}, '0-3', 'upload intact: Range');
$t->is_error($t->http(GET => '/v2/library/theirs/blobs/' . sha256('mine')),
    404, 'BLOB_UNKNOWN', 'no blob in the other repository');

$r = $t->http(PUT => $t->with_query($l9, 'digest=' . sha256('mine')));
is($r->{status}, 201, 'upload finished in its repository');

# invalid repository name on POST

$t->is_error($t->http(POST => '/v2/Library/Up/blobs/uploads/'), 400,
    'NAME_INVALID', 'POST uploads invalid name');

# Expect: 100-continue (curl sends it for large bodies)

{
    my ($l) = $t->upload_start($repo);
    my $body = random_bytes(2000);
    my $r = $t->http(PATCH => $l, body => $body,
        headers => ['Expect' => '100-continue']);
    is($r->{status}, 202, 'PATCH with Expect: 100-continue');
    is($r->{headers}{range}, '0-1999', 'Expect: 100-continue Range');
    is($t->http(PUT => $t->with_query($l, 'digest=' . sha256($body)))
        ->{status}, 201, 'finished after Expect: 100-continue');
}

# many small chunks

my ($l10) = $t->upload_start($repo);
my $whole = '';
for my $i (0 .. 19) {
    my $chunk = random_bytes(1 + int rand 300);
    my $start = length $whole;
    $whole .= $chunk;
    $r = $t->http(PATCH => $l10, body => $chunk, headers => [
        'Content-Range' => $start . '-' . (length($whole) - 1)]);
    last unless is($r->{headers}{range}, '0-' . (length($whole) - 1),
        "small chunk $i Range");
}
$r = $t->http(PUT => $t->with_query($l10, 'digest=' . sha256($whole)));
is($r->{status}, 201, 'many small chunks finished');
ok($t->http(GET => "/v2/$repo/blobs/" . sha256($whole))->{body} eq $whole,
    'many small chunks content');

$t->stop;

done_testing;

###############################################################################
