#!/usr/bin/perl

# Tests for chunked uploads: Content-Range checks (out of order, overlap,
# gaps, start > end, overflow, malformed) never append data; request bodies
# in Transfer-Encoding: chunked.

use warnings;
use strict;

use FindBin;
use lib "$FindBin::Bin/lib";

use IO::Select;
use IO::Socket::INET;
use Test::More;
use Harbor::Test qw(:all);

###############################################################################

my $t = Harbor::Test->new;
$t->run;

my $repo = 'library/chunks';

my ($loc, $uuid) = $t->upload_start($repo);

my $first = random_bytes(100);
my $r = $t->http(PATCH => $loc, body => $first,
    headers => ['Content-Range' => '0-99']);
is($r->{status}, 202, 'first chunk 0-99');
is($r->{headers}{range}, '0-99', 'first chunk Range');

# each bad chunk: 416 (or 400 when malformed), Range of what is stored,
# and nothing appended

sub bad_chunk {
    my ($range, $body, $status, $name) = @_;

    my $r = $t->http(PATCH => $loc, body => $body,
        headers => [defined $range ? ('Content-Range' => $range) : ()]);

    $t->is_error($r, $status, 'BLOB_UPLOAD_INVALID', $name);
    is($r->{headers}{range}, '0-99', "$name: Range of what is stored")
        if $status == 416;

    my $s = $t->http(GET => $loc);
    is($s->{headers}{range}, '0-99', "$name: nothing appended");
}

my $ten = random_bytes(10);

bad_chunk('200-209', $ten, 416, 'gap after the end');
bad_chunk('0-9', $ten, 416, 'rewrite from the start');
bad_chunk('50-59', $ten, 416, 'overlap');
bad_chunk('99-108', $ten, 416, 'overlap by one byte');
bad_chunk('101-110', $ten, 416, 'one byte gap');
bad_chunk('9223372036854775797-9223372036854775806', $ten, 416,
    'huge offsets that fit off_t');

# malformed: 400

for my $m ('abc', '100', '100-', '-109', '100-109-', ' 100-109x', '100 - 109',
    '100-1o9', '+100-109', '0x64-109', '100-109,110-119',
    '1' x 30 . '-' . '1' x 31,
    '99999999999999999999-99999999999999999999',
    '9223372036854775807-9223372036854775808',
    '100-18446744073709551716',
    '1' x 5000 . '-1')
{
    my $show = length $m > 40 ? substr($m, 0, 20) . '...' : $m;
    bad_chunk($m, $ten, 400, "malformed Content-Range '$show'");
}

# start > end: not a range that can be stored

{
    my $r = $t->http(PATCH => $loc, body => $ten,
        headers => ['Content-Range' => '109-100']);
    ok($r->{status} == 400 || $r->{status} == 416, 'start > end refused')
        or diag $r->{raw};
    is($t->error_code($r), 'BLOB_UPLOAD_INVALID', 'start > end code');
    is($t->http(GET => $loc)->{headers}{range}, '0-99',
        'start > end: nothing appended');
}

# Content-Range that does not match the body length

{
    my $r = $t->http(PATCH => $loc, body => $ten,
        headers => ['Content-Range' => '100-119']);
    ok($r->{status} == 400 || $r->{status} == 416,
        'range longer than the body refused') or diag $r->{raw};
    is($t->error_code($r), 'BLOB_UPLOAD_INVALID',
        'range longer than the body code');
    is($t->http(GET => $loc)->{headers}{range}, '0-99',
        'range longer than the body: nothing appended');

    $r = $t->http(PATCH => $loc, body => $ten . $ten,
        headers => ['Content-Range' => '100-109']);
    ok($r->{status} == 400 || $r->{status} == 416,
        'range shorter than the body refused') or diag $r->{raw};
    is($t->http(GET => $loc)->{headers}{range}, '0-99',
        'range shorter than the body: nothing appended');
}

# after all this the upload continues where it was

my $second = random_bytes(50);
$r = $t->http(PATCH => $loc, body => $second,
    headers => ['Content-Range' => '100-149']);
is($r->{status}, 202, 'in-order chunk after the bad ones');
is($r->{headers}{range}, '0-149', 'in-order chunk Range');

$r = $t->http(PUT => $t->with_query($loc, 'digest=' . sha256($first . $second)));
is($r->{status}, 201, 'upload finished with the good data only');
ok($t->http(GET => "/v2/$repo/blobs/" . sha256($first . $second))->{body}
    eq $first . $second, 'blob is the good data only');

# a chunk out of order on a fresh upload

my ($l2) = $t->upload_start($repo);
$r = $t->http(PATCH => $l2, body => $ten, headers => ['Content-Range' => '5-14']);
$t->is_error($r, 416, 'BLOB_UPLOAD_INVALID', 'first chunk not at 0');
is($r->{headers}{range}, '0-0', 'first chunk not at 0: Range 0-0');
is($t->http(GET => $l2)->{headers}{range}, '0-0',
    'first chunk not at 0: still empty');

# Transfer-Encoding: chunked bodies

my $cdata = random_bytes(100_000);

$r = $t->http(PATCH => $l2, body => $cdata, chunked => 7000);
is($r->{status}, 202, 'PATCH chunked');
is($r->{headers}{range}, '0-99999', 'PATCH chunked Range');

my $tail = random_bytes(3000);
$r = $t->http(PUT => $t->with_query($l2, 'digest=' . sha256($cdata . $tail)),
    body => $tail, chunked => 1000);
is($r->{status}, 201, 'PUT chunked last chunk');
ok($t->http(GET => "/v2/$repo/blobs/" . sha256($cdata . $tail))->{body}
    eq $cdata . $tail, 'chunked upload content');

# monolithic POST with a chunked body

my $mono = random_bytes(50_000);
$r = $t->http(POST => "/v2/$repo/blobs/uploads/?digest=" . sha256($mono),
    body => $mono, chunked => 4096);
is($r->{status}, 201, 'monolithic POST chunked');
ok($t->http(GET => "/v2/$repo/blobs/" . sha256($mono))->{body} eq $mono,
    'monolithic POST chunked content');

# chunked with a wrong digest

$r = $t->http(POST => "/v2/$repo/blobs/uploads/?digest=" . sha256('nope'),
    body => $mono, chunked => 4096);
$t->is_error($r, 400, 'DIGEST_INVALID', 'monolithic POST chunked mismatch');

# PATCH with a chunked body and a Content-Range

my ($l3) = $t->upload_start($repo);
my $p1 = random_bytes(1000);
$r = $t->http(PATCH => $l3, body => $p1, chunked => 100,
    headers => ['Content-Range' => '0-999']);
is($r->{status}, 202, 'PATCH chunked with Content-Range');
is($r->{headers}{range}, '0-999', 'PATCH chunked with Content-Range Range');

# empty chunked PATCH is harmless

$r = $t->http(PATCH => $l3, body => '', chunked => 1);
ok($r->{status} == 202 || $r->{status} == 416 || $r->{status} == 400,
    'empty chunked PATCH answered');
is($t->http(GET => $l3)->{headers}{range}, '0-999',
    'empty chunked PATCH appends nothing');

# a chunked PATCH with a bad range: nothing appended

$r = $t->http(PATCH => $l3, body => $ten, chunked => 3,
    headers => ['Content-Range' => '0-9']);
$t->is_error($r, 416, 'BLOB_UPLOAD_INVALID', 'chunked PATCH out of order');
is($r->{headers}{range}, '0-999', 'chunked PATCH out of order Range');
is($t->http(GET => $l3)->{headers}{range}, '0-999',
    'chunked PATCH out of order: nothing appended');

$r = $t->http(PUT => $t->with_query($l3, 'digest=' . sha256($p1)));
is($r->{status}, 201, 'finished after the chunked bad range');

# a client that goes away in the middle of a chunk appends nothing

my ($l4) = $t->upload_start($repo);
$t->http(PATCH => $l4, body => $ten);
{
    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1',
        PeerPort => $t->port, Proto => 'tcp') or die "connect: $!";
    print $s "PATCH $l4 HTTP/1.1\r\nHost: localhost\r\n"
        . "Content-Length: 1000\r\n\r\n" . ('z' x 500);
    close $s;
}

# the registry may still hold the upload while it notices the close
my $st;
for (1 .. 200) {
    $st = $t->http(GET => $l4);
    last if $st->{status} == 204;
    select undef, undef, undef, 0.05;
}
is($st->{status}, 204, 'upload status after a truncated PATCH');
is($st->{headers}{range}, '0-9', 'truncated PATCH appends nothing');
$r = $t->http(PUT => $t->with_query($l4, 'digest=' . sha256($ten)));
is($r->{status}, 201, 'upload usable after a truncated PATCH');

# two PATCHes of the same range at once: one is stored, never a mix

{
    my ($l5) = $t->upload_start($repo);
    my $size = 200_000;
    my ($ba, $bb) = (random_bytes($size), random_bytes($size));
    my $half = $size / 2;

    my @socks;
    for my $body ($ba, $bb) {
        my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1',
            PeerPort => $t->port, Proto => 'tcp') or die "connect: $!";
        binmode $s;
        print $s "PATCH $l5 HTTP/1.1\r\nHost: localhost\r\n"
            . "Connection: close\r\nContent-Range: 0-" . ($size - 1)
            . "\r\nContent-Length: $size\r\n\r\n"
            . substr($body, 0, $half);
        push @socks, $s;
    }

    # both are in the middle of their bodies now; finish them
    my @res;
    for my $i (0, 1) {
        my $s = $socks[$i];
        local $SIG{PIPE} = 'IGNORE';
        print $s substr($i ? $bb : $ba, $half);
    }
    for my $s (@socks) {
        my $raw = '';
        my $sel = IO::Select->new($s);
        while ($sel->can_read(10)) {
            sysread($s, my $buf, 65536) or last;
            $raw .= $buf;
        }
        close $s;
        push @res, $t->parse_response($raw, 'PATCH');
    }

    my @ok = grep { $res[$_]{status} == 202 } 0, 1;
    ok(@ok <= 1, 'concurrent PATCHes of one range: at most one stored')
        or diag join ' ', map { $_->{status} } @res;

    my $st;
    for (1 .. 100) {
        $st = $t->http(GET => $l5);
        last if $st->{status} == 204;
        select undef, undef, undef, 0.05;
    }
    my $range = $st->{headers}{range} || '';
    ok($range eq '0-0' || $range eq '0-' . ($size - 1),
        "concurrent PATCHes: Range $range is one whole chunk or none");

    if (@ok == 1) {
        my $won = $ok[0] ? $bb : $ba;
        my $r = $t->http(PUT => $t->with_query($l5, 'digest=' . sha256($won)));
        is($r->{status}, 201, 'concurrent PATCHes: the winner is the upload');
        ok($t->http(GET => "/v2/$repo/blobs/" . sha256($won))->{body} eq $won,
            'concurrent PATCHes: content is the winner\'s');
    }
}

$t->stop;

done_testing;

###############################################################################
