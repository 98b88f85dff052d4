#!/usr/bin/perl

# The request body of a worker killed in the middle of an upload is swept
# from <storage>/_tmp by a running nginx (harbor_tmp_sweep), without a
# reload; the body file of a live upload that stalls for long (its bytes
# filling the body buffer, the file untouched) is never removed.

use warnings;
use strict;

use FindBin;
use lib "$FindBin::Bin/lib";

use Test::More;
use IO::Socket::INET;
use Time::HiRes qw(time sleep);
use Harbor::Test qw(:all);

###############################################################################

my $t = Harbor::Test->new;

# files idle for twice client_body_timeout (6 s) go, looked for every 1 s
$t->run(http => 'harbor_tmp_sweep 1s;', location => 'client_body_timeout 3s;');
$t->allow_log(qr/exited on signal 9/);

my $tmp = $t->storage . '/_tmp';
my $MB = 1024 * 1024;

# the body files of _tmp a process holds open
sub held_by {
    my ($pid) = @_;
    my @f;
    for my $fd (glob "/proc/$pid/fd/*") {
        my $to = readlink $fd;
        push @f, $to if defined $to && index($to, "$tmp/") == 0;
    }
    return @f;
}

sub wait_for {
    my ($secs, $cond) = @_;
    my $deadline = time() + $secs;
    while (time() < $deadline) {
        return 1 if $cond->();
        sleep 0.1;
    }
    return $cond->();
}

# An upload whose body stops after $sent of $size bytes: the socket.
sub stalled_upload {
    my ($repo, $data, $sent) = @_;
    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1',
        PeerPort => $t->port, Proto => 'tcp') or die "connect: $!";
    binmode $s;
    my $d = sha256($data);
    print $s "POST /v2/$repo/blobs/uploads/?digest=$d HTTP/1.1\r\n"
        . "Host: localhost\r\nConnection: close\r\n"
        . 'Content-Length: ' . length($data) . "\r\n\r\n"
        . substr($data, 0, $sent);
    $s->flush;
    return $s;
}

# The worker whose body file appears for an upload, and the file.
sub holder {
    my (%before) = map { $_ => 1 } @_;
    my ($pid, $file);
    wait_for(10, sub {
        for my $w ($t->workers) {
            for my $f (held_by($w)) {
                next if $before{$f};
                ($pid, $file) = ($w, $f);
                return 1;
            }
        }
        return 0;
    });
    return ($pid, $file);
}

###############################################################################
# a worker killed in the middle of a body

my $a_data = random_bytes(3 * $MB);
my $a = stalled_upload('sweep/a', $a_data, 2 * $MB);
my ($victim, $left) = holder();
ok($victim && $left, 'the upload\'s body is in a file of _tmp, held by a worker')
    or BAIL_OUT('no body file');

kill 'KILL', $victim;
ok(wait_for(10, sub { !kill 0, $victim }), "the worker ($victim) is killed");
close $a;
ok(-f $left, 'its body file is left in _tmp');
my $killed_at = time();

###############################################################################
# a live upload that stalls: its bytes go on arriving, in the buffer

my $b_data = random_bytes(int(1.5 * $MB) + 40);
my $b = stalled_upload('sweep/b', $b_data, int(1.5 * $MB));
my ($live_pid, $live) = holder($left);
ok($live, "a live upload's body file ($live_pid)");

my $sent = int(1.5 * $MB);

# the leftover goes within the age and the interval, while b trickles
my $gone = wait_for(30, sub {
    if ($sent < length($b_data) - 1 && int(time() * 2) % 2) {
        syswrite($b, substr($b_data, $sent++, 1));
    }
    return !-e $left;
});
ok($gone, 'the dead worker\'s body file is swept without a reload');
diag(sprintf 'swept %.1f s after the kill', time() - $killed_at);

# b: its file untouched for longer than the age now
my @st = stat $live;
my $idle = time() - ($st[9] || 0);
while ($idle < 8 && $sent < length($b_data) - 1) {
    syswrite($b, substr($b_data, $sent++, 1));
    sleep 1;
    $idle = time() - (stat $live)[9];
}
cmp_ok($idle, '>=', 6, 'the live upload\'s file has been idle past the age');
ok(-e $live, 'and it is still there');

# b completes and is right
syswrite($b, substr($b_data, $sent));
my $raw = '';
while (sysread($b, my $buf, 65536)) {
    $raw .= $buf;
}
close $b;
like($raw, qr{^HTTP/1.1 201}, 'the live upload completes: 201');

my $r = $t->http(GET => '/v2/sweep/b/blobs/' . sha256($b_data));
ok($r->{status} == 200 && $r->{body} eq $b_data, 'and its blob is whole');

like($t->read_file('error.log'), qr/removing "\Q$left\E", left by a crash/,
     'the sweep says what it removed');

$t->stop;

done_testing();
