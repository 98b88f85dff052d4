#!/usr/bin/perl

# Nothing slow in the event loop: appending a chunk after the first and
# hashing a sha512 upload run in nginx's thread pool.  With one worker, a
# slowed copy_file_range(2) or read of the upload (t/lib/fault.c) holds
# the request for seconds while an unrelated GET /v2/ on the same worker
# answers at once.  Each case proves its fault happened and that the held
# request had not been answered when the GET was.

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

my $DELAY = 4000;

###############################################################################

sub start {
    my ($slow) = @_;
    my %env = Harbor::Fault::env(HARBOR_FAULT_SLOW_IO => $slow,
                                 HARBOR_FAULT_DELAY => $DELAY);
    my $t = Harbor::Test->new;
    local @ENV{keys %env} = values %env;
    $t->run(workers => 1);
    return $t;
}

# Sends $req on its own connection, waits for the fault to hold it, then
# asks GET /v2/: it must answer well before the held request does.
sub held {
    my ($t, $what, $req, $call) = @_;

    my $before = grep { /$call/ } Harbor::Fault::injected($t);
    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1',
                                  PeerPort => $t->port, Proto => 'tcp')
        or die "connect: $!";
    print $s $req;

    my $deadline = time + 30;
    my @lines;
    while (time < $deadline) {
        @lines = grep { /$call/ } Harbor::Fault::injected($t);
        last if @lines > $before;
        sleep 0.05;
    }
    ok(@lines > $before, "$what: the fault held it") or diag(@lines);

    my $t0 = time;
    my $g = $t->http(GET => '/v2/');
    my $took = time - $t0;
    ok($g->{status} == 200 || $g->{status} == 401,
       "$what: GET /v2/ answered") or diag($g->{status});
    cmp_ok($took, '<', $DELAY / 2000, "$what: GET /v2/ did not wait")
        or diag("took $took s");
    ok(!IO::Select->new($s)->can_read(0),
       "$what: the held request was still held then");

    local $/;
    my $raw = <$s> // '';
    close $s;
    return $t->parse_response($raw);
}

sub raw {
    my ($method, $uri, $body, @h) = @_;
    return "$method $uri HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n"
        . join('', map { "$_\r\n" } @h)
        . 'Content-Length: ' . length($body) . "\r\n\r\n$body";
}

# a chunk after the first: copy_file_range to the upload, in a task

my $t = start('_uploads/');

my $a = random_bytes(65536);
my $b = random_bytes(65536);
my ($loc) = $t->upload_start('tp/chunks');
my $r = $t->http(PATCH => $loc, body => $a,
                 headers => { 'Content-Type' => 'application/octet-stream',
                              'Content-Range' => '0-65535' });
is($r->{status}, 202, 'first chunk');
$loc = $r->{headers}{location};
$loc =~ s{^https?://[^/]+}{};

$r = held($t, 'append', raw(PATCH => $loc, $b,
                            'Content-Type: application/octet-stream',
                            'Content-Range: 65536-131071'),
          'copy_file_range');
is($r->{status}, 202, 'append: accepted once copied');
is($r->{headers}{range}, '0-131071', 'append: the whole upload counted');
$loc = $r->{headers}{location};
$loc =~ s{^https?://[^/]+}{};

# completing it as sha512 reads the upload back, in a task

my $d = sha512($a . $b);
$r = held($t, 'sha512 chunked', raw(PUT => $t->with_query($loc, "digest=$d"),
                                    ''),
          'pread');
is($r->{status}, 201, 'sha512 chunked: created once hashed');
is(sha512($t->http(GET => "/v2/tp/chunks/blobs/$d")->{body}), $d,
   'sha512 chunked: pulls whole');
$t->stop;

# a monolithic sha512 upload: its body is hashed in a task

$t = start('/_tmp/00');
my $c = random_bytes(65536);
$d = sha512($c);
$r = held($t, 'sha512 monolithic',
          raw(POST => "/v2/tp/mono/blobs/uploads/?digest=$d", $c),
          'pread');
is($r->{status}, 201, 'sha512 monolithic: created once hashed');
is(sha512($t->http(GET => "/v2/tp/mono/blobs/$d")->{body}), $d,
   'sha512 monolithic: pulls whole');

# a wrong sha512 is still refused

$r = $t->http(POST => '/v2/tp/mono/blobs/uploads/?digest=' . sha512('x'),
              body => $c);
is($r->{status}, 400, 'sha512 monolithic: a wrong digest is refused');
$t->stop;

done_testing();
