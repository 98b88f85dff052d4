#!/usr/bin/perl

# Descriptor exhaustion: 100 concurrent pushers, then 100 concurrent
# readers, against nginx with a low worker_rlimit_nofile and the shipped
# open_file_cache.  While it lasts, an answer is a success with the right
# bytes or a clean 503 (the OCI error JSON, Retry-After); never a 500,
# never wrong data.  Once the load stops, every blob and manifest is
# served again by the same workers, without a reload.  A worker told to
# quit while it is out of descriptors quits without an alert.

use warnings;
use strict;

use FindBin;
use lib "$FindBin::Bin/lib";

use Test::More;
use Digest::SHA qw(sha256_hex);
use POSIX ();
use IO::Socket::INET;
use Time::HiRes qw(time sleep);
use Harbor::Test qw(:all);

###############################################################################

my $PUSHERS = 100;
my $BLOBS = 6;              # per pusher: a config and five layers
my $NOFILE = 64;

my $t = Harbor::Test->new;
$t->run(main => "worker_rlimit_nofile $NOFILE;");

# a worker out of descriptors says so; the load is meant to get there
$t->allow_log(qr/\((?:23|24): Too many open files\)/);

my @workers = $t->workers(2);
is(scalar @workers, 2, 'two workers');

# the bytes of blob $j of pusher $i, the same in every process
sub blob_data {
    my ($i, $j) = @_;
    my $seed = "$i/$j";
    my $s = '';
    $s .= Digest::SHA::sha256($seed . length $s) while length $s < 1500 + $j;
    return substr($s, 0, 1500 + $j);
}

sub manifest_of {
    my ($i) = @_;
    my @d = map { [sha256(blob_data($i, $_)), length blob_data($i, $_)] }
        0 .. $BLOBS - 1;
    return encode_json({
        schemaVersion => 2,
        mediaType     => MT_OCI_MANIFEST,
        config        => { mediaType => MT_OCI_CONFIG, digest => $d[0][0],
                           size => $d[0][1] },
        layers        => [map { { mediaType => MT_OCI_LAYER,
                                  digest => $_->[0], size => $_->[1] } }
                          @d[1 .. $#d]],
    });
}

# What one answer was: 'ok', 'busy' (a clean 503), or why it is wrong.
sub verdict {
    my ($r, $ok, $want) = @_;

    return 'busy' if $r->{status} == 0;     # not accepted in time: retried

    if ($r->{status} == 503) {
        my $code = $t->error_code($r);
        return 'busy' if $code eq 'UNAVAILABLE'
            && ($r->{headers}{'retry-after'} || '') =~ /^\d+$/
            && $t->from_registry($r);
        return "503 without the OCI error or Retry-After: "
            . substr($r->{raw}, 0, 300);
    }

    return "status $r->{status}: " . substr($r->{raw}, 0, 300)
        unless $r->{status} == $ok;

    return 'wrong bytes' if defined $want && $r->{body} ne $want;

    return 'ok';
}

# Runs $code->($i) in $n processes at once; each prints its verdicts to a
# file.  Returns (count of ok, count of busy, [wrong]).
sub load {
    my ($n, $code) = @_;

    my %pid;
    for my $i (0 .. $n - 1) {
        my $pid = fork;
        die "fork: $!" unless defined $pid;
        if ($pid == 0) {
            my @v = $code->($i);
            open my $fh, '>', $t->dir . "/verdict.$i" or POSIX::_exit(1);
            print $fh "$_\n" for @v;
            close $fh;
            POSIX::_exit(0);
        }
        $pid{$pid} = $i;
    }

    waitpid($_, 0) for keys %pid;

    my ($ok, $busy, @bad) = (0, 0);
    for my $i (0 .. $n - 1) {
        my @v = split /\n/, $t->read_file("verdict.$i");
        push @bad, "process $i wrote nothing" unless @v;
        for (@v) {
            if ($_ eq 'ok') { $ok++ } elsif ($_ eq 'busy') { $busy++ }
            else { push @bad, $_ }
        }
    }

    return ($ok, $busy, \@bad);
}

# A request, again while it is answered busy, for up to 60 s.
sub until_done {
    my ($req, @check) = @_;
    my @v;
    my $deadline = time() + 60;
    while (1) {
        my $r = $req->();
        my $v = verdict($r, @check);
        push @v, $v;
        last if $v ne 'busy' || time() > $deadline;
        sleep 0.05;
    }
    return @v;
}

###############################################################################
# 100 pushers at once

my ($ok, $busy, $bad) = load($PUSHERS, sub {
    my ($i) = @_;
    my @v;
    for my $j (0 .. $BLOBS - 1) {
        my $data = blob_data($i, $j);
        my $d = sha256($data);
        push @v, until_done(sub {
            $t->http(POST => "/v2/fds/p$i/blobs/uploads/?digest=$d",
                body => $data, timeout => 30,
                headers => ['Content-Type' => 'application/octet-stream']);
        }, 201);
    }
    push @v, until_done(sub {
        $t->push_manifest("fds/p$i", 'v1', manifest_of($i), MT_OCI_MANIFEST);
    }, 201);
    return @v;
});

is_deeply($bad, [], 'pushes: successes or clean 503s, nothing else');
is($ok, $PUSHERS * ($BLOBS + 1), 'pushes: every one done in the end');
diag(sprintf 'pushes: %d done, %d answered busy first, %.1f s', $ok, $busy,
    time() - $^T);

###############################################################################
# uploads that stall halfway hold a socket and a body file each, so that
# the readers find the workers nearly out of descriptors

my @slow;
for my $i (1 .. 40) {
    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1',
        PeerPort => $t->port, Proto => 'tcp') or die "connect: $!";
    my $size = 3 * 1024 * 1024;
    print $s "POST /v2/fds/slow$i/blobs/uploads/?digest=sha256:0000000000000000000000000000000000000000000000000000000000000000 HTTP/1.1\r\n"
        . "Host: localhost\r\nContent-Length: $size\r\n\r\n"
        . ('x' x (2 * 1024 * 1024));
    push @slow, $s;
}

###############################################################################
# 100 readers at once, each reading every blob of 10 pushers

($ok, $busy, $bad) = load($PUSHERS, sub {
    my ($i) = @_;
    my @v;
    for my $k (0 .. 9) {
        my $p = ($i + $k * 10) % $PUSHERS;
        for my $j (0 .. $BLOBS - 1) {
            my $data = blob_data($p, $j);
            my $d = sha256($data);
            push @v, verdict($t->http(GET => "/v2/fds/p$p/blobs/$d",
                timeout => 30), 200, $data);
        }
        push @v, verdict($t->http(GET => "/v2/fds/p$p/manifests/v1",
            headers => [Accept => MT_OCI_MANIFEST], timeout => 30),
            200, manifest_of($p));
    }
    return @v;
});

is_deeply($bad, [], 'reads: right bytes or clean 503s, nothing else');
diag(sprintf 'reads: %d right, %d answered busy, %.1f s', $ok, $busy,
    time() - $^T);

close $_ for @slow;

like($t->read_file('error.log'), qr/\(24: Too many open files\)/,
    'the workers ran out of descriptors');

###############################################################################
# the load is over: everything is served, by the same workers

my @wrong;
for my $i (0 .. $PUSHERS - 1) {
    for my $j (0 .. $BLOBS - 1) {
        my $data = blob_data($i, $j);
        my $d = sha256($data);
        for (1 .. 2) {          # once per worker, likely
            my $v = verdict($t->http(GET => "/v2/fds/p$i/blobs/$d"),
                200, $data);
            push @wrong, "p$i blob $j: $v" if $v ne 'ok';
        }
    }
    my $v = verdict($t->http(GET => "/v2/fds/p$i/manifests/v1",
        headers => [Accept => MT_OCI_MANIFEST]), 200, manifest_of($i));
    push @wrong, "p$i manifest: $v" if $v ne 'ok';
}

is_deeply([@wrong[0 .. ($#wrong > 9 ? 9 : $#wrong)]], [],
    'after the load: every blob and manifest served, right');
diag(scalar(@wrong) . ' wrong after the load') if @wrong;

my $d = $t->push_blob('fds/after', random_bytes(3000));
is($t->http(GET => "/v2/fds/after/blobs/$d")->{status}, 200,
    'after the load: a push and a pull');

is_deeply([$t->workers], \@workers, 'the same workers: no crash, no reload');

###############################################################################
# Told to quit while out of descriptors.  A worker whose accept4() fails
# with EMFILE stops accepting for accept_mutex_delay (a timer); on QUIT
# it closes its listening sockets, and that pause must not end in an
# accept4() on a closed socket ("accept4() failed (9: Bad file
# descriptor)", an alert that stop() finds).  Idle connections, more
# than both workers have descriptors for, keep the workers out of
# descriptors until the QUIT is in.

# the lines error.log got from here on
my $elog = $t->dir . '/error.log';
my $seen = -s $elog;
sub log_since {
    open my $fh, '<', $elog or die "$elog: $!";
    seek $fh, $seen, 0;
    local $/;
    my $l = <$fh> // '';
    close $fh;
    return split /\n/, $l;
}

# until each worker said so, for up to 30 s; true if they did
sub workers_logged {
    my ($re) = @_;
    my $deadline = time() + 30;
    while (time() < $deadline) {
        my %said = map { /\] (\d+)#\d+: / ? ($1 => 1) : () }
            grep { /$re/ } log_since();
        return 1 if !grep { !$said{$_} } @workers;
        sleep 0.05;
    }
    return 0;
}

my @idle;
for (1 .. 200) {
    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1',
        PeerPort => $t->port, Proto => 'tcp') or last;
    push @idle, $s;
}

ok(workers_logged(qr/accept4\(\) failed \((?:23|24): /),
    'idle connections: both workers out of descriptors, accepts paused');

kill 'QUIT', $t->pid;
ok(workers_logged(qr/gracefully shutting down/), 'both workers quitting');

close $_ for @idle;

$t->stop;

done_testing();
