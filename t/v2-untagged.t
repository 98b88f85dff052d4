#!/usr/bin/perl

# DELETE of a manifest by digest with "X-Harbor-Untagged-Only: true" (how
# the garbage collector deletes untagged manifests) refuses with 412 when
# a tag points at it: a tag pushed after the collector looked is kept.

use warnings;
use strict;

use FindBin;
use lib "$FindBin::Bin/lib";

use Test::More;
use Harbor::Test qw(:all);

###############################################################################

my $t = Harbor::Test->new;
$t->run;

my $img = $t->make_image('gc/u', undef);
my $d = $img->{digest};
my @only = (headers => ['X-Harbor-Untagged-Only' => 'true']);

# untagged: deleted

my $r = $t->http(DELETE => "/v2/gc/u/manifests/$d", @only);
is($r->{status}, 202, 'an untagged manifest is deleted');
is($t->http(GET => "/v2/gc/u/manifests/$d")->{status}, 404, 'it is gone');

# tagged (pushed "meanwhile"): kept, with its tag

$img = $t->make_image('gc/u', 'v1');
$d = $img->{digest};

$r = $t->http(DELETE => "/v2/gc/u/manifests/$d", @only);
$t->is_error($r, 412, 'DENIED', 'a tagged manifest is refused');
is($t->http(GET => '/v2/gc/u/manifests/v1')->{status}, 200,
    'the tag still pulls');
is($t->http(GET => "/v2/gc/u/manifests/$d")->{status}, 200,
    'the manifest is still there');

# without the header a delete by digest takes the tags with it

$r = $t->http(DELETE => "/v2/gc/u/manifests/$d");
is($r->{status}, 202, 'a plain delete by digest');
is($t->http(GET => '/v2/gc/u/manifests/v1')->{status}, 404,
    'took its tag');

done_testing();
