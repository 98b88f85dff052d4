#!/usr/bin/perl

# A reload (HUP) while a worker's storage task is in the thread pool: the
# old worker finishes the request before it exits, the client gets its
# 201, and nginx logs no "open socket left" alert.  Without a timer of
# its own, a worker that is shutting down saw no timers left and exited
# with the task still running (t/v2-restart.t hit it under load).

use warnings;
use strict;

use FindBin;
use lib "$FindBin::Bin/lib";

use IO::Select;
use IO::Socket::INET;
use Time::HiRes qw(time sleep);
use Test::More;
use Harbor::Test qw(:all);
use Harbor::Fault;

###############################################################################

my $DELAY = 3000;

my $t = Harbor::Test->new;
{
    my %env = Harbor::Fault::env(HARBOR_FAULT_DELAY_PATH => '/_layers/',
                                 HARBOR_FAULT_DELAY => $DELAY);
    local @ENV{keys %env} = values %env;
    $t->run(workers => 1);
}

my $data = random_bytes(100_000);
my $d = sha256($data);

# a monolithic push: its layer link's fsync sleeps in the pool
my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $t->port,
                              Proto => 'tcp') or die "connect: $!";
print $s "POST /v2/reload/a/blobs/uploads/?digest=$d HTTP/1.1\r\n"
    . "Host: localhost\r\nConnection: close\r\n"
    . 'Content-Length: ' . length($data) . "\r\n\r\n" . $data;

my $held = 0;
my $deadline = time + 20;
while (time < $deadline) {
    last if $held = grep { /fsync/ } Harbor::Fault::injected($t);
    sleep 0.02;
}
ok($held, 'the push is in its fsync, in the pool');

my $mark = length $t->read_file('error.log');
kill 'HUP', $t->pid;

# the old worker is told to quit while its task runs
$deadline = time + 20;
my $quitting = 0;
while (time < $deadline) {
    my $log = substr($t->read_file('error.log'), $mark);
    last if $quitting = $log =~ /gracefully shutting down/;
    sleep 0.02;
}
ok($quitting, 'the worker shuts down with the task in the pool');

my $raw = '';
my $sel = IO::Select->new($s);
$deadline = time + $DELAY / 1000 + 20;
while (time < $deadline && $sel->can_read($deadline - time)) {
    my $n = sysread($s, my $buf, 65536);
    last unless $n;
    $raw .= $buf;
}
my $r = $t->parse_response($raw, 'POST');
is($r->{status}, 201, 'the push is answered 201 by the worker that quits');

my @alerts = grep { /\[alert\]/ } split /\n/,
             substr($t->read_file('error.log'), $mark);
is_deeply([grep { /open socket|aborting/ } @alerts], [],
          'no connection left behind');

is($t->http(GET => "/v2/reload/a/blobs/$d")->{body}, $data,
   'the blob reads back from the new worker');

done_testing;
