#!/usr/bin/perl

# authd's C unit tests (scope parsing, password hashing, role table,
# project names, Basic credentials, SQL splitting, token key files):
# authd/t_unit prints TAP itself.

use strict;
use warnings;

use Cwd qw(abs_path);
use File::Basename qw(dirname);

my $bin = abs_path(dirname(__FILE__) . '/..') . '/authd/t_unit';

unless (-x $bin) {
    print "Bail out! $bin is not built: run make -C authd\n";
    exit 255;
}

exec $bin or die "exec $bin: $!";
