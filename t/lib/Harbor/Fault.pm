package Harbor::Fault;

# Faults the filesystem will not produce on demand, for nginx: the
# LD_PRELOAD library t/lib/fault.c, built here into build/ when missing or
# older than its source.  See fault.c for its variables.
#
#   my %env = Harbor::Fault::env(HARBOR_FAULT_FSYNC => '/_layers/');
#   { local @ENV{keys %env} = values %env; $t->run; }
#   Harbor::Fault::injected($t)   lines the library wrote (on stderr)

use strict;
use warnings;

use Carp qw(croak);
use Harbor::Test;

my $SRC = "$Harbor::Test::ROOT/t/lib/fault.c";
my $LIB = "$Harbor::Test::ROOT/build/fault.so";


sub library {
    if (!-f $LIB || (stat $LIB)[9] < (stat $SRC)[9]) {
        my $tmp = "$LIB.$$";
        system('cc', '-O2', '-Wall', '-shared', '-fPIC', '-o', $tmp, $SRC,
               '-ldl') == 0 or croak "cc $SRC failed";
        rename $tmp, $LIB or croak "rename $tmp: $!";
    }

    return $LIB;
}


sub env {
    my (%vars) = @_;
    return (LD_PRELOAD => library(), %vars);
}


sub injected {
    my ($t) = @_;
    # nginx points its stderr at the error log once it runs
    return grep { /^harbor-fault: / } split /\n/,
        $t->read_file('stderr.log') . $t->read_file('error.log');
}

1;
