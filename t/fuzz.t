#!/usr/bin/perl

# The libFuzzer targets of t/fuzz (make fuzz builds them into build/fuzz),
# each run for a bounded time: first every file of its corpus in
# t/fuzz/corpus/<target> (a regression there fails at once), then new
# inputs.  A crash, a sanitizer report, a broken promise, a leak or a
# timeout fails the test, with the input libFuzzer saved.  What it finds
# goes to a temporary directory: the tree is left as it is.
#
#   HARBOR_FUZZ           where the targets are (default build/fuzz)
#   HARBOR_FUZZ_SECONDS   seconds per target (default 20)

use strict;
use warnings;

use Cwd qw(abs_path);
use File::Basename qw(dirname);
use File::Temp qw(tempdir);
use Test::More;

my $root = abs_path(dirname(__FILE__) . '/..');
my $bin = $ENV{HARBOR_FUZZ} || "$root/build/fuzz";
my $secs = $ENV{HARBOR_FUZZ_SECONDS} || 20;

my @targets = sort map { m{/([^/]+)\.c$} } glob("$root/t/fuzz/*.c");
ok(@targets >= 5, 'there are fuzz targets: ' . join(' ', @targets));

for my $t (@targets) {
    my $exe = "$bin/$t";
    my $seeds = "$root/t/fuzz/corpus/$t";

    ok(-x $exe, "$t is built") or do {
        diag("no $exe: run make fuzz");
        next;
    };

    my @seed_files = grep { -f } glob("$seeds/*");
    ok(@seed_files > 0, "$t has a seed corpus");

    my $tmp = tempdir("harbor-fuzz-$t-XXXXXX", TMPDIR => 1, CLEANUP => 1);
    mkdir "$tmp/corpus";

    # new inputs go to the first directory, the kept corpus is only read;
    # stderr of the target itself (authd's config messages) is closed,
    # libFuzzer and the sanitizers keep theirs
    my @cmd = ($exe, "-max_total_time=$secs", '-timeout=10',
        '-rss_limit_mb=2048', '-close_fd_mask=2', '-print_final_stats=1',
        "-artifact_prefix=$tmp/", "$tmp/corpus", $seeds);

    my $pid = open(my $fh, '-|') // die "fork: $!";
    if ($pid == 0) {
        open STDERR, '>&', \*STDOUT;
        chdir $tmp;
        exec @cmd or die "exec $exe: $!";
    }
    my $out = do { local $/; <$fh> };
    close $fh;
    my $status = $?;

    my @found = grep { -f } glob("$tmp/crash-* $tmp/leak-* $tmp/timeout-*"
        . " $tmp/oom-* $tmp/slow-unit-*");
    my ($runs) = $out =~ /stat::number_of_executed_units:\s*(\d+)/;

    ok($status == 0 && !@found, "$t: no crash, report or broken promise")
        or diag("exit status $status, found: @found\n"
            . join('', (split /^/m, $out)[-40 .. -1]));

    ok(defined $runs && $runs > @seed_files,
        "$t ran its corpus and new inputs (" . ($runs // 0) . ' runs)');
}

done_testing;
