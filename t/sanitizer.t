#!/usr/bin/perl

# make test SANITIZE=1 does what it says: the nginx workers that serve the
# tests run the instrumented module with the ASan runtime loaded, authd is
# instrumented with leak detection on, and a sanitizer report in a test's
# directory fails that test like an alert in error.log.  In a plain
# make test, nothing is preloaded.

use strict;
use warnings;

use Test::More;

use Harbor::Authd;
use Harbor::Sanitizer;
use Harbor::Test;

my $san = Harbor::Sanitizer::active();

diag($san ? "sanitizer pass: $Harbor::Sanitizer::RUNTIME"
          : 'plain pass: no sanitizer runtime');


sub read_proc {
    my ($path) = @_;
    open my $fh, '<', $path or return '';
    local $/;
    my $c = <$fh>;
    return defined $c ? $c : '';
}

sub children {
    my ($ppid) = @_;
    my @kids;
    for my $stat (glob '/proc/[0-9]*/stat') {
        my ($pid, $parent) = read_proc($stat) =~ /^(\d+) \(.*\) \S+ (\d+)/s
            or next;
        push @kids, $pid if $parent == $ppid;
    }
    return @kids;
}


my $t = Harbor::Test->new;
$t->run(workers => 2);

ok($t->http(GET => '/v2/')->{status} == 200, 'the registry answers');

my @workers = children($t->pid);
is(scalar @workers, 2, 'two workers');

my $module = $t->read_file($t->module);
my $maps = join '', map { read_proc("/proc/$_/maps") } @workers;

if ($san) {
    like($maps, qr/libasan\.so/, 'the workers run with the ASan runtime');
    like($maps, qr/\Q@{[$t->module]}\E/, 'and with the module under test');
    ok(index($module, '__asan_report_') >= 0
       && index($module, '__ubsan_handle_') >= 0,
       'the module is built with ASan and UBSan');
    ok(-d $t->dir . '/san', 'reports go to the test directory');

} else {
    unlike($maps, qr/libasan\.so/, 'plain nginx: no sanitizer runtime');
    ok(index($module, '__asan_report_') < 0, 'the module is not instrumented');
}

# a report in the test's directory is an alert, reported once
{
    local $Harbor::Sanitizer::RUNTIME = $Harbor::Sanitizer::RUNTIME || 'x';

    my $dir = $t->dir . '/san';
    mkdir $dir;
    my $f = "$dir/nginx-asan.99999";
    open my $fh, '>', $f or die "$f: $!";
    print $fh "==99999==ERROR: AddressSanitizer: heap-buffer-overflow\n";
    close $fh;

    my @a = $t->alerts;
    ok((grep { /heap-buffer-overflow/ && /\Q$f\E/ } @a),
       'a sanitizer report is an alert');
    is(scalar(grep { /AddressSanitizer/ } $t->alerts), 0,
       'and counts once');
    unlink $f;
}

$t->stop;

# authd: instrumented itself, leak detection on, reports in its directory
my $a = Harbor::Authd->start;
my $amaps = read_proc('/proc/' . $a->pid . '/maps');
my $env = read_proc('/proc/' . $a->pid . '/environ');

if ($san) {
    like($amaps, qr/libasan\.so/, 'authd runs with ASan');
    like($env, qr/(?:^|\0)ASAN_OPTIONS=[^\0]*detect_leaks=1/,
         'authd runs with leak detection on');
    like($env, qr/(?:^|\0)ASAN_OPTIONS=[^\0]*log_path=\Q@{[$a->dir]}\E\/san\//,
         'authd reports into its test directory');

} else {
    unlike($amaps, qr/libasan\.so/, 'plain authd: no sanitizer');
}

is($a->stop, 0, 'authd exits cleanly');

done_testing;
