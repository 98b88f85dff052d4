#!/usr/bin/perl

# The UI's message catalogs (ui/test/i18n.test.js, node's test runner):
# en-US and zh-CN hold the same keys, the same placeholders, no empty
# text, and every key the code uses.  Each node test is one test here.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use Test::More;
use Harbor::Authd;

my $root = $Harbor::Authd::ROOT;

my ($major) = (qx{node --version 2>/dev/null} // '') =~ /^v(\d+)/;
unless ($major && $major >= 20) {
    fail('node 20 or later is installed (apt-get install nodejs)');
    done_testing;
    exit;
}

open my $out, '-|', "cd '$root/ui' && node --test --test-reporter=tap test/ 2>&1"
    or die "node: $!";

my ($n, @all) = (0);
while (my $line = <$out>) {
    push @all, $line;
    # top-level results only; subtests and files are indented
    if ($line =~ /^(not )?ok \d+ - (.*?)\s*$/) {
        ok(!$1, $2);
        $n++;
    }
}
close $out;

is($? >> 8, 0, 'node --test passed') or diag(join '', @all);
cmp_ok($n, '>=', 5, 'the catalog tests ran');

done_testing;
