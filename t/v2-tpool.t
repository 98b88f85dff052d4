#!/usr/bin/perl

# Nothing slow in the event loop: appending a chunk after the first,
# hashing a sha512 upload, and every fsync of a commit (a manifest PUT's
# manifest, links and their directories; an upload's blob and link) run
# in nginx's thread pool.  With one worker, a slowed copy_file_range(2),
# read or fsync(2) (t/lib/fault.c) holds the request for seconds while an
# unrelated GET /v2/ on the same worker answers at once.  Each case proves
# its fault happened and that the held request had not been answered when
# the GET was.

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
    my ($slow, %o) = @_;
    my $conf = delete $o{conf} || {};
    my %env = Harbor::Fault::env(($slow ? (HARBOR_FAULT_SLOW_IO => $slow)
                                        : ()),
                                 HARBOR_FAULT_DELAY => $DELAY, %o);
    my $t = Harbor::Test->new;
    local @ENV{keys %env} = values %env;
    $t->run(workers => 1, %$conf);
    $t->allow_log(qr/fsync\(\)|queue overflow|not queued/);
    return $t;
}

sub relative {
    my ($r) = @_;
    my $loc = $r->{headers}{location} // '';
    $loc =~ s{^https?://[^/]+}{};
    return $loc;
}

sub connect_raw {
    my ($t, $req) = @_;
    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1',
                                  PeerPort => $t->port, Proto => 'tcp')
        or die "connect: $!";
    print $s $req;
    return $s;
}

sub wait_fault {
    my ($t, $call, $n) = @_;
    my $deadline = time + 30;
    while (time < $deadline) {
        my @l = grep { /$call/ } Harbor::Fault::injected($t);
        return scalar @l if @l >= $n;
        sleep 0.05;
    }
    return 0;
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
    note(sprintf '%s: GET /v2/ took %.3f s', $what, $took);
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

# a later chunk whose data could not be synced: no 202, nothing counted

$t = start('/nothing-slow/', HARBOR_FAULT_FSYNC => '/data');
($loc) = $t->upload_start('tp/fail');
$r = $t->http(PATCH => $loc, body => $a,
              headers => ['Content-Range' => '0-65535']);
is($r->{status}, 202, 'failed append: first chunk');
$loc = relative($r);
$r = $t->http(PATCH => $loc, body => $b,
              headers => ['Content-Range' => '65536-131071']);
ok((grep { /fsync\(".*\/data"\) failed/ } Harbor::Fault::injected($t)),
   'failed append: the fsync of the data failed');
$t->is_error($r, 500, 'UNKNOWN', 'failed append: no 202');
is($t->http(GET => $loc)->{headers}{range}, '0-65535',
   'failed append: the upload is as it was, and free');
$t->stop;

# the pool's queue is full: a chunk not appended answers 503

$t = start('_uploads/', conf => {
    main => 'thread_pool default threads=1 max_queue=1;' });
my @locs;
for my $i (1 .. 3) {
    ($loc) = $t->upload_start("tp/q$i");
    $r = $t->http(PATCH => $loc, body => $a,
                  headers => ['Content-Range' => '0-65535']);
    push @locs, relative($r);
}
my @socks = map {
    connect_raw($t, raw(PATCH => $_, $b, 'Content-Range: 65536-131071'))
} @locs;
my @status;
for my $s (@socks) {
    local $/;
    my $raw = <$s> // '';
    push @status, $raw =~ m{^HTTP/1\.1 (\d+)} ? $1 : 0;
    close $s;
}
like($t->read_file('error.log'), qr/queue overflow/,
     'queue full: the thread pool queue overflowed');
is(scalar(grep { $_ == 503 } @status), 1, 'queue full: one chunk got 503')
    or diag("@status");
is(scalar(grep { $_ == 202 } @status), 2, 'queue full: the others 202')
    or diag("@status");
for my $i (0 .. 2) {
    is($t->http(GET => $locs[$i])->{headers}{range},
       $status[$i] == 202 ? '0-131071' : '0-65535',
       "queue full: upload $i holds what its answer said");
}
$t->stop;

# the client goes away while its chunk is appended: the worker lives on

$t = start('_uploads/');
($loc) = $t->upload_start('tp/gone');
$r = $t->http(PATCH => $loc, body => $a,
              headers => ['Content-Range' => '0-65535']);
$loc = relative($r);
my $s = connect_raw($t, raw(PATCH => $loc, $b, 'Content-Range: 65536-131071'));
ok(wait_fault($t, 'copy_file_range', 1), 'client gone: the append was held');
close $s;
my $deadline = time + 30;
my $range = '';
while (time < $deadline) {
    $range = $t->http(GET => $loc)->{headers}{range} // '';
    last if $range eq '0-131071';
    sleep 0.1;
}
is($range, '0-131071', 'client gone: the append completed, the upload free');
unlike($t->read_file('error.log'), qr/exited on signal/,
       'client gone: no worker crashed');
$t->stop;

# a manifest PUT: the fsync of its tag's directory (one of the 9 to 15
# fsyncs of a tagged manifest) is held, in the commit's task

$t = start(undef, HARBOR_FAULT_DELAY_PATH => '/tags/held/current');
my $img = $t->make_image('tp/manifest', undef);
is($img->{response}{status}, 201, 'manifest: pushed by digest first');
$r = held($t, 'manifest PUT',
          raw(PUT => '/v2/tp/manifest/manifests/held', $img->{manifest},
              "Content-Type: $img->{media_type}"),
          'fsync\("[^"]*/tags/held/current"\) delayed');
is($r->{status}, 201, 'manifest PUT: created once durable');
is($r->{headers}{'docker-content-digest'}, $img->{digest},
   'manifest PUT: its digest');
is($t->http(GET => '/v2/tp/manifest/manifests/held',
            headers => ['Accept' => $img->{media_type}])->{body},
   $img->{manifest}, 'manifest PUT: the tag reads back');
$t->stop;

# an upload's commit (PUT ?digest=) and a monolithic POST: the fsyncs of
# the layer link's and the blob's directories are held

my $e = random_bytes(65536);
my $f = random_bytes(65536);
my ($he) = sha256($e) =~ /:(.{24})/;
my ($hf) = sha256($f) =~ /:(.{24})/;

$t = start(undef, HARBOR_FAULT_DELAY_PATH => $he);
($loc) = $t->upload_start('tp/commit');
$r = $t->http(PATCH => $loc, body => $e,
              headers => ['Content-Range' => '0-65535']);
is($r->{status}, 202, 'upload commit: the chunk');
$loc = relative($r);
$r = held($t, 'upload commit',
          raw(PUT => $t->with_query($loc, 'digest=' . sha256($e)), ''),
          "fsync\\(\"[^\"]*$he");
is($r->{status}, 201, 'upload commit: created once durable');
is($t->http(GET => '/v2/tp/commit/blobs/' . sha256($e))->{body}, $e,
   'upload commit: pulls whole');
$t->stop;

$t = start(undef, HARBOR_FAULT_DELAY_PATH => $hf);
$r = held($t, 'monolithic',
          raw(POST => '/v2/tp/commit/blobs/uploads/?digest=' . sha256($f),
              $f),
          "fsync\\(\"[^\"]*$hf");
is($r->{status}, 201, 'monolithic: created once durable');
is($t->http(GET => '/v2/tp/commit/blobs/' . sha256($f))->{body}, $f,
   'monolithic: pulls whole');
$t->stop;

# a manifest GET whose media type the worker does not know yet (a new
# worker, after a restart) reads the manifest in a task

$t = start(undef);
$img = $t->make_image('tp/read', 'v1');
is($img->{response}{status}, 201, 'manifest read: pushed');
my ($hm) = $img->{digest} =~ /:(.{24})/;
{
    my %env = Harbor::Fault::env(HARBOR_FAULT_SLOW_IO => $hm,
                                 HARBOR_FAULT_DELAY => $DELAY);
    local @ENV{keys %env} = values %env;
    $t->restart;
}
$r = held($t, 'manifest read',
          raw(GET => '/v2/tp/read/manifests/v1', '',
              "Accept: $img->{media_type}"),
          "pread\\(\"[^\"]*$hm");
is($r->{status}, 200, 'manifest read: answered once read');
is($r->{body}, $img->{manifest}, 'manifest read: the manifest');
$t->stop;

# an upload's creation (its data and startedat, synced) and a mount (the
# layer link, synced) in a task too

$t = start(undef, HARBOR_FAULT_DELAY_PATH => '/_uploads/');
$r = held($t, 'upload create',
          raw(POST => '/v2/tp/create/blobs/uploads/', ''),
          'fsync\("[^"]*/_uploads/');
is($r->{status}, 202, 'upload create: accepted once durable');
$loc = relative($r);
is($t->http(GET => $loc)->{status}, 204, 'upload create: it is there');
$t->stop;

$t = start(undef);
my $g = random_bytes(4096);
my $dg = $t->push_blob('tp/from', $g);
my ($hg) = $dg =~ /:(.{24})/;
{
    my %env = Harbor::Fault::env(HARBOR_FAULT_DELAY_PATH => $hg,
                                 HARBOR_FAULT_DELAY => $DELAY);
    local @ENV{keys %env} = values %env;
    $t->restart;
}
$r = held($t, 'mount',
          raw(POST => "/v2/tp/to/blobs/uploads/?mount=$dg&from=tp/from", ''),
          "fsync\\(\"[^\"]*_layers[^\"]*$hg");
is($r->{status}, 201, 'mount: created once durable');
is($t->http(GET => "/v2/tp/to/blobs/$dg")->{body}, $g, 'mount: pulls');
$t->stop;

done_testing();
