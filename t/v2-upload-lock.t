#!/usr/bin/perl

# One request at a time may change an upload (a lock on it), and the lock
# is released before the answer leaves: the client's next request, which
# may reach the other worker before this request is freed, always takes
# it.  After a 202, after a refused chunk (416, 400) and after a body
# longer than its Content-Range (answered while the body is still coming).

use warnings;
use strict;

use FindBin;
use lib "$FindBin::Bin/lib";

use Test::More;
use Harbor::Test qw(:all);

###############################################################################

my $t = Harbor::Test->new;
$t->run(workers => 2);

my ($loc) = $t->upload_start('lock/a');
my ($off, $busy, $data) = (0, 0, '');

sub patch {
    my ($range, $body, %o) = @_;
    return $t->http(PATCH => $loc, body => $body,
                    headers => ['Content-Range' => $range], %o);
}

sub next_chunk {
    my ($what) = @_;
    my $piece = random_bytes(100);
    my $r = patch($off . '-' . ($off + 99), $piece);
    $busy++, diag("$what: $r->{status} $r->{body}")
        unless $r->{status} == 202;
    if ($r->{status} == 202) {
        $off += 100;
        $data .= $piece;
    }
}

for my $i (1 .. 30) {
    next_chunk("after a 202 ($i)");

    my $r = patch('0-9', 'x' x 10);
    $busy++, diag("a bad range: $r->{status}") unless $r->{status} == 416;
    next_chunk("after a 416 ($i)");

    $r = patch('5-x', 'x');
    $busy++, diag("malformed: $r->{status}") unless $r->{status} == 400;
    next_chunk("after a 400 ($i)");

    $r = patch($off . '-' . ($off + 4), 'x' x 3000, chunked => 1000);
    $busy++, diag("too long: $r->{status}") unless $r->{status} == 400;
    next_chunk("after a body longer than its range ($i)");
}

is($busy, 0, 'the next request always took the upload');

my $d = sha256($data);
my $r = $t->http(PUT => $t->with_query($loc, "digest=$d"));
is($r->{status}, 201, 'the upload completes');
is(sha256($t->http(GET => "/v2/lock/a/blobs/$d")->{body}), $d, 'whole');

done_testing();
