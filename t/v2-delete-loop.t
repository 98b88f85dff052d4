#!/usr/bin/perl

# The writes a DELETE by digest may still make run in the thread pool, not
# on a worker's event loop: the directory fsync of a revision it puts back
# (a 412 of an untagged-only delete of a tagged manifest), and the rewrite
# of a referrers entry that a PUT of the same manifest brought back while
# the DELETE ran (the DELETE held by t/lib/fault.c in the rmdir of its
# revision's entry while the other worker serves the PUT; the DELETE then
# removes the PUT's referrers entry, finds the revision back and writes
# the entry again).  strace(1) follows both workers and every thread: no
# fsync on a worker's main thread (its pid), some on the others; and the
# answers are unchanged.

use warnings;
use strict;

use FindBin;
use lib "$FindBin::Bin/lib";

use IO::Socket::INET;
use Test::More;
use Time::HiRes qw(sleep time);
use Harbor::Test qw(:all);
use Harbor::Fault;
use Harbor::Strace;

###############################################################################

my %env = Harbor::Fault::env(
    HARBOR_FAULT_SLOW_UNLINK => '/_manifests/revisions/',
    HARBOR_FAULT_DELAY => 3000);
my $t = Harbor::Test->new;
{
    local @ENV{keys %env} = values %env;
    $t->run;
}

my @workers = $t->workers(2);
is(scalar @workers, 2, 'two workers');
my %main = map { $_ => 1 } @workers;

my $subject = $t->make_image('del/a', 'subject');
my $tagged = $t->make_image('del/a', 'kept');
my $ref = $t->make_image('del/a', undef, nlayers => 0, subject => $subject,
                         artifact_type => 'application/x-sig');

sub untrace {
    my ($trace) = @_;
    my ($on, $off) = (0, 0);
    my @main;
    for ($trace->stop) {
        my ($tid) = /^(\d+)\s+f(?:data)?sync\(/ or next;
        if ($main{$tid}) { $on++; push @main, $_ } else { $off++ }
    }
    diag(join "\n", @main) if @main;
    return ($on, $off);
}

###############################################################################
# a revision put back: 412, and its directory synced in the pool

my $trace = Harbor::Strace->start($t, 'fsync,fdatasync', @workers);
my $r = $t->http(DELETE => "/v2/del/a/manifests/$tagged->{digest}",
                 headers => ['X-Harbor-Untagged-Only' => 'true']);
my ($on, $off) = untrace($trace);
is($r->{status}, 412, 'untagged-only delete of a tagged manifest: 412');
is($t->error_code($r), 'DENIED', 'DENIED');
is($t->http(GET => "/v2/del/a/manifests/$tagged->{digest}")->{status}, 200,
   'the revision is back');
is($on, 0, 'no fsync on an event loop');
cmp_ok($off, '>=', 1, "the put back synced in the pool ($off)");

###############################################################################
# a referrer deleted while its PUT comes again: the entry is written back

$trace = Harbor::Strace->start($t, 'fsync,fdatasync', @workers);
my $before = () = Harbor::Fault::injected($t);

my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $t->port,
                              Proto => 'tcp') or die "connect: $!";
print $s "DELETE /v2/del/a/manifests/$ref->{digest} HTTP/1.1\r\n"
    . "Host: localhost\r\nConnection: close\r\n\r\n";

# held in the rmdir of its revision's entry
my $deadline = time + 30;
while (time < $deadline) {
    last if (() = Harbor::Fault::injected($t)) > $before;
    sleep 0.02;
}
my @held = Harbor::Fault::injected($t);
like($held[-1] || '', qr{_manifests/revisions/},
     'the DELETE is held in the removal of its revision');

$r = $t->push_manifest('del/a', $ref->{digest}, $ref->{manifest},
                       $ref->{media_type});
is($r->{status}, 201, 'the referrer pushed again meanwhile');

local $/;
my $raw = <$s>;
close $s;
my $del = $t->parse_response($raw);
is($del->{status}, 202, 'the DELETE: 202');
($on, $off) = untrace($trace);

is($t->http(GET => "/v2/del/a/manifests/$ref->{digest}")->{status}, 200,
   'the referrer is there (its PUT came last)');
$r = $t->http(GET => "/v2/del/a/referrers/$subject->{digest}");
is_deeply([map { $_->{digest} } @{$t->json($r)->{manifests} || []}],
          [$ref->{digest}], 'and in its subject\'s referrers');
is($on, 0, 'no fsync on an event loop');
cmp_ok($off, '>=', 1, "synced in the pool ($off)");

$t->stop;

done_testing();
