#!/usr/bin/perl

# authd's C unit tests (scope parsing, password hashing, role table,
# project names, Basic credentials, SQL splitting, token key files):
# authd/t_unit prints TAP itself (AUTHD_UNIT: another build of it, such as
# make test SANITIZE=1's).

use strict;
use warnings;

use Cwd qw(abs_path);
use File::Basename qw(dirname);

my $bin = $ENV{AUTHD_UNIT}
    || abs_path(dirname(__FILE__) . '/..') . '/authd/t_unit';

unless (-x $bin) {
    print "Bail out! $bin is not built: run make -C authd\n";
    exit 255;
}

# with leak detection on (make test SANITIZE=1), the test program's own
# leaks are suppressed: see authd/tests/lsan.supp (full stacks, so that a
# leak inside libjansson is still traced to its caller)
$ENV{LSAN_OPTIONS} //= 'fast_unwind_on_malloc=0:suppressions='
    . abs_path(dirname(__FILE__) . '/..') . '/authd/tests/lsan.supp';

exec $bin or die "exec $bin: $!";
