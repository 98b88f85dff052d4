#!/usr/bin/perl

# Content-Range near the top of off_t: the range's length (end + 1 - start)
# and the offset after it must fit, so a range ending at 2^63 - 1 is
# malformed; nothing overflows, nothing is written, the upload goes on.

use warnings;
use strict;

use FindBin;
use lib "$FindBin::Bin/lib";

use Test::More;
use Harbor::Test qw(:all);

###############################################################################

my $t = Harbor::Test->new;
$t->run(workers => 2);

my $MAX = '9223372036854775807';
my $MAX1 = '9223372036854775806';

sub message { ($t->json($_[0]) || {})->{errors}[0]{message} // '' }

my ($loc) = $t->upload_start('cr/a');

for my $case ([chunked => 1], [body => 'x'], [no_body => 1]) {
    my ($how) = @$case;
    my %o = $how eq 'chunked' ? (body => 'x' x 10, chunked => 1)
          : $how eq 'body' ? (body => 'x')
          : ();
    my $r = $t->http(PATCH => $loc, %o,
                     headers => ['Content-Range' => "0-$MAX"]);
    $t->is_error($r, 400, 'BLOB_UPLOAD_INVALID', "0-2^63-1 ($how): 400");
    is(message($r), 'malformed Content-Range', "($how) malformed");
}

my $r = $t->http(PATCH => $loc, body => 'y' x 10,
                 headers => ['Content-Range' => '0-9']);
is($r->{status}, 202, 'a chunk');

$r = $t->http(PATCH => $loc, body => 'z', headers => ['Content-Range' => "10-$MAX"]);
$t->is_error($r, 400, 'BLOB_UPLOAD_INVALID', '10-2^63-1: 400');

$r = $t->http(PATCH => $loc, body => 'z',
              headers => ['Content-Range' => "$MAX1-$MAX1"]);
$t->is_error($r, 416, 'BLOB_UPLOAD_INVALID', '2^63-2 alone: 416');
is($r->{headers}{range}, '0-9', 'with what is stored');

$r = $t->http(PATCH => $loc, body => 'w' x 5,
              headers => ['Content-Range' => '10-14']);
is($r->{status}, 202, 'the upload goes on');
is($r->{headers}{range}, '0-14', 'with every byte');

my $d = sha256(('y' x 10) . ('w' x 5));
$r = $t->http(PUT => $t->with_query($loc, "digest=$d"));
is($r->{status}, 201, 'and completes');

done_testing();
