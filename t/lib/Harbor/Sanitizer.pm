package Harbor::Sanitizer;

# make test SANITIZE=1: the module, authd and the unit tests are built
# with AddressSanitizer and UndefinedBehaviorSanitizer (in build/san), and
# the Makefile sets HARBOR_SANITIZE_RUNTIME to the ASan runtime of the
# compiler that built them.  This gives each process the harness starts
# its sanitizer settings, with reports written into the test's own
# directory, and finds those reports afterwards; Harbor::Test counts them
# as alerts, Harbor::Authd fails a test for each.
#
#   Harbor::Sanitizer::active()                  true under SANITIZE=1
#   %env = Harbor::Sanitizer::env($dir, $who, preload => 1, leaks => 0)
#                    the environment for one process: reports go to
#                    $dir/san/$who-*.<pid>; preload for the stock nginx,
#                    which loads the instrumented module
#   @r = Harbor::Sanitizer::reports($dir)
#                    reports in $dir/san not returned before, as text

use strict;
use warnings;

our $RUNTIME = $ENV{HARBOR_SANITIZE_RUNTIME};

my %seen;


sub active { defined $RUNTIME && $RUNTIME ne '' }


sub env {
    my ($dir, $who, %o) = @_;

    return () unless active();

    # every process writes here, nginx workers and authd as their users
    my $san = "$dir/san";
    mkdir $san unless -d $san;
    chmod 01777, $san;

    my %env = (
        ASAN_OPTIONS => join(':', 'detect_leaks=' . ($o{leaks} ? 1 : 0),
            "log_path=$san/$who-asan", 'abort_on_error=0'),
        UBSAN_OPTIONS => join(':', 'print_stacktrace=1',
            "log_path=$san/$who-ubsan", 'halt_on_error=0'),
    );

    # the runtime first; a library a test preloads (t/lib/fault.c) after it
    $env{LD_PRELOAD} = join ' ', $RUNTIME,
        grep { defined && length } $ENV{LD_PRELOAD}
        if $o{preload};

    return %env;
}


sub reports {
    my ($dir) = @_;

    return () unless active();

    my @r;
    for my $f (sort glob("$dir/san/*")) {
        next unless -f $f && -s _;
        my $size = -s _;
        next if ($seen{$f} || 0) == $size;
        $seen{$f} = $size;

        open my $fh, '<', $f or next;
        local $/;
        my $text = <$fh>;
        close $fh;

        # a report, not the list of suppressions used
        next unless $text =~ /ERROR: |runtime error: |SUMMARY: /;

        my @lines = split /\n/, $text;
        @lines = @lines[0 .. 39] if @lines > 40;
        push @r, join("\n", "sanitizer report $f:", @lines);
    }

    return @r;
}

1;
