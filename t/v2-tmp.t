#!/usr/bin/perl

# What a crash leaves in <storage>/_tmp (request bodies, half-written
# links) is removed when nginx starts; what a live upload writes is not.

use warnings;
use strict;

use FindBin;
use lib "$FindBin::Bin/lib";

use Test::More;
use Harbor::Test qw(:all);

###############################################################################

my $t = Harbor::Test->new;
$t->run;

my $tmp = $t->storage . '/_tmp';
ok(-d $tmp, 'nginx made _tmp');

# a file of a crashed worker: old; a file of a live upload: fresh

my $old = "$tmp/0000000042";
my $fresh = "$tmp/w.1234.5678";

for my $f ($old, $fresh) {
    open my $fh, '>', $f or die "$f: $!";
    print $fh random_bytes(100);
    close $fh;
}

my $then = time() - 2 * 3600;
utime $then, $then, $old or die $!;

$t->restart;

ok(!-e $old, 'an hour-old body is removed at start');
ok(-e $fresh, 'a fresh one is kept');

$t->allow_log(qr/left by a crash/);

# and the registry works as before

my $d = $t->push_blob('tmp/a', random_bytes(1000));
is($t->http(GET => "/v2/tmp/a/blobs/$d")->{status}, 200, 'uploads work');

done_testing();
