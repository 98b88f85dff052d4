#!/usr/bin/perl

# kill -9 of the worker serving a request, or of the whole nginx (master
# and workers), at random points of uploads (monolithic and chunked) and
# manifest PUTs: 100 kills.  Each kill is proved to have hit: the killed
# pid is the worker serving the request's connection (it answered a GET
# /v2/ on it first, with its pid), the request was sent (or half its body
# was) and no answer had come.  At the end: every
# blobs/**/data has the digest of its path, every link holds a digest,
# every acknowledged blob and manifest reads back right, a chunked upload
# interrupted by a kill resumes from what it says it holds, and what the
# kills left in _tmp is swept by the master when it starts.
#
# fsync(2) in the store is slowed (t/lib/fault.c) so that a request lasts
# long enough to be hit at any of its steps.

use warnings;
use strict;

use FindBin;
use lib "$FindBin::Bin/lib";

use IO::Select;
use IO::Socket::INET;
use Test::More;
use Time::HiRes qw(sleep time);
use Harbor::Test qw(:all);
use Harbor::Clients ();
use Harbor::Fault;

###############################################################################

my $KILLS = 100;
my $WHOLE = 20;             # of which kill the whole nginx

my %env = Harbor::Fault::env(HARBOR_FAULT_DELAY_PATH => '/registry/',
                             HARBOR_FAULT_DELAY => 10);

# bodies: a unique head on slices of one random block (cheap to make)
my $BLOCK = random_bytes(65536) x 10;

sub body {
    my ($min, $spread) = @_;
    my $len = $min + int rand $spread;
    my $off = int rand(length($BLOCK) - $len);
    return random_bytes(32) . substr($BLOCK, $off, $len);
}
my $t = Harbor::Test->new;

sub start {
    local @ENV{keys %env} = values %env;
    $t->run(workers => 2, location => 'add_header X-Harbor-Worker $pid always;');
    $t->allow_log(qr/exited on signal 9|harbor: removing/);
}

start();

my (%acked_blob, %acked_man, $hits, $missed, %kinds);

# A connection and the pid of the worker serving it: it asks GET /v2/
# first, which that worker answers with its pid; nginx never moves a
# connection to another process.
sub connect_worker {
    my $sock = IO::Socket::INET->new(PeerAddr => '127.0.0.1',
        PeerPort => $t->port, Proto => 'tcp') or die "connect: $!";
    binmode $sock;
    print $sock "GET /v2/ HTTP/1.1\r\nHost: localhost\r\n\r\n";
    my $raw = '';
    while ($raw !~ /\r\n\r\n\{\}/) {
        my $n = sysread($sock, $raw, 4096, length $raw);
        die "GET /v2/: $!" unless $n;
    }
    my ($pid) = $raw =~ /^X-Harbor-Worker: (\d+)\r$/mi;
    die "no worker pid in $raw" unless $pid;
    return ($sock, $pid);
}

# the master and its live workers (a killed worker stays its child, as a
# zombie, until the master reaps it and forks another)
sub nginx_pids {
    return ($t->pid, $t->workers);
}

sub response_of {
    my ($sock, $timeout) = @_;
    my $sel = IO::Select->new($sock);
    my $raw = '';
    my $deadline = time() + $timeout;
    while (time() < $deadline) {
        last unless $sel->can_read($deadline - time());
        my $n = sysread($sock, my $buf, 65536);
        last unless $n;
        $raw .= $buf;
    }
    return $t->parse_response($raw, 'PUT');
}

# Send a request (all of it, or its head and half its body), wait a random
# while, kill; returns the response if one came whole anyway.
sub killed_request {
    my ($head, $body, $whole) = @_;

    my ($sock, $pid) = connect_worker();
    my $half = rand() < 0.3 ? int(length($body) / 2) : length($body);
    my $req = $head . substr($body, 0, $half);
    my $off = 0;
    while ($off < length $req) {
        my $n = syswrite($sock, $req, 65536, $off);
        die "write: $!" unless defined $n;
        $off += $n;
    }

    sleep(rand() * 0.12);

    # nothing answered yet: the kill lands inside the request
    my $early = IO::Select->new($sock)->can_read(0);

    my @killed = $whole ? nginx_pids() : ($pid);
    kill 'KILL', @killed;

    my $hit = !$early && (grep { $_ == $pid } @killed);
    $hit ? $hits++ : $missed++;

    my $r = response_of($sock, 2);
    close $sock;

    if ($whole) {
        # the port is free once every process holding it is gone
        my $deadline = time() + 10;
        sleep 0.01 while (grep { Harbor::Clients::pid_alive($_) }
                          @killed[1 .. $#killed])
                         && time() < $deadline;
        $t->restart;
    } else {
        # the master reaps the killed worker and starts another: until
        # then a kill of the whole nginx could miss the new one, which
        # would keep the port
        my $deadline = time() + 10;
        while (time() < $deadline) {
            my @p = nginx_pids();
            last if @p >= 3 && !grep { $_ == $pid } @p;
            sleep 0.01;
        }
    }

    return ($hit, $r);
}

sub head_of {
    my ($method, $path, $len, @h) = @_;
    return "$method $path HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n"
        . join('', map { "$_\r\n" } @h) . "Content-Length: $len\r\n\r\n";
}

my $n = 0;
my $try = 0;        # names each attempt's tag: a missed kill tries again
my $whole_left = $WHOLE;

# a config blob and a few layers for the manifests
my $cfg = '{"architecture":"amd64","os":"linux"}';
my $cfgd = $t->push_blob('kill/m', $cfg);

while ($n < $KILLS) {
    $try++;
    my $whole = $whole_left > 0
        && ($KILLS - $n <= $whole_left || rand() < $WHOLE / $KILLS);
    my $kind = (qw(monolithic chunk final manifest))[int rand 4];
    my $repo = 'kill/' . ($n % 3);
    my ($hit, $r);

    if ($kind eq 'monolithic') {
        my $data = body(65536, 393216);
        my $d = sha256($data);
        ($hit, $r) = killed_request(
            head_of(POST => "/v2/$repo/blobs/uploads/?digest=$d",
                    length $data), $data, $whole);
        $acked_blob{$d} = [$repo, $data] if $r->{status} == 201;

    } elsif ($kind eq 'chunk' || $kind eq 'final') {
        my $data = body(131072, 393216);
        my $d = sha256($data);
        my $cut = int(length($data) / 3);
        my ($loc) = $t->upload_start($repo);
        my $p = $t->http(PATCH => $loc, body => substr($data, 0, $cut),
            headers => ['Content-Range' => '0-' . ($cut - 1)]);
        die "first chunk: $p->{status}" unless $p->{status} == 202;

        my $rest = substr($data, $cut);
        my $range = "Content-Range: $cut-" . (length($data) - 1);
        ($hit, $r) = $kind eq 'chunk'
            ? killed_request(head_of(PATCH => $loc, length $rest, $range),
                             $rest, $whole)
            : killed_request(head_of(PUT => $t->with_query($loc, "digest=$d"),
                                     length $rest, $range), $rest, $whole);

        # the client resumes from what the upload says it holds
        if ($r->{status} == 201) {
            $acked_blob{$d} = [$repo, $data];
        } else {
            my $g = $t->http(GET => $loc);
            my $ok = 0;
            if ($g->{status} == 204 && ($g->{headers}{range} // '') =~ /^0-(\d+)$/) {
                my $have = $1 + 1;
                my $tail = substr($data, $have);
                my $f = $t->http(PUT => $t->with_query($loc, "digest=$d"),
                    body => $tail, headers => [length $tail
                        ? ('Content-Range' => "$have-" . (length($data) - 1))
                        : ()]);
                $ok = $f->{status} == 201;
                diag("resume of $d: $f->{status} $f->{body}") unless $ok;
            } elsif ($g->{status} == 404) {
                # completed before the kill, answer lost: the blob is there
                $ok = $t->http(HEAD => "/v2/$repo/blobs/$d")->{status} == 200;
            }
            ok($ok, "$kind $n: the upload resumes and completes")
                or diag("GET $loc: $g->{status} " . ($g->{headers}{range} // ''));
            $acked_blob{$d} = [$repo, $data] if $ok;
        }

    } else {
        my $layer = body(1000, 5000);
        my $ld = $t->push_blob($repo, $layer);
        $t->push_blob($repo, $cfg);
        my $man = encode_json({ schemaVersion => 2,
            mediaType => MT_OCI_MANIFEST,
            config => { mediaType => MT_OCI_CONFIG, digest => $cfgd,
                        size => length $cfg },
            layers => [{ mediaType => MT_OCI_LAYER, digest => $ld,
                         size => length $layer }] });
        ($hit, $r) = killed_request(
            head_of(PUT => "/v2/$repo/manifests/t$try", length $man,
                    'Content-Type: ' . MT_OCI_MANIFEST), $man, $whole);
        $acked_blob{$ld} = [$repo, $layer];
        $acked_man{"$repo:t$try"} = $man if $r->{status} == 201;
    }

    next unless $hit;
    $n++;
    $whole_left-- if $whole;
    $kinds{($whole ? 'nginx ' : 'worker ') . $kind}++;
}

note(join ', ', map { "$_: $kinds{$_}" } sort keys %kinds);
note("$missed kills came after the answer and were not counted");
is($hits, $KILLS, "$KILLS kills hit a request being served");
is($whole_left, 0, "$WHOLE of them killed the whole nginx");

# the store

my ($bad, $links) = (0, 0);
for my $f (map { $t->v2root . "/$_" } $t->files_under($t->v2root)) {
    if ($f =~ m{/blobs/sha256/../([0-9a-f]{64})/data$}) {
        $bad++, diag("$f: not its digest")
            unless sha256($t->read_file($f)) eq "sha256:$1";
    } elsif ($f =~ m{/link$}) {
        $links++;
        $bad++, diag("$f: holds no digest")
            unless $t->read_file($f) =~ /^sha256:[0-9a-f]{64}$/;
    }
}
is($bad, 0, "every blob has the digest of its path, $links links whole");

$bad = 0;
for my $d (sort keys %acked_blob) {
    my ($repo, $data) = @{$acked_blob{$d}};
    my $g = $t->http(GET => "/v2/$repo/blobs/$d");
    $bad++, diag("blob $d: $g->{status}")
        unless $g->{status} == 200 && $g->{body} eq $data;
}
is($bad, 0, scalar(keys %acked_blob) . ' acknowledged blobs read back');

$bad = 0;
for my $k (sort keys %acked_man) {
    my ($repo, $tag) = split /:/, $k;
    my $g = $t->http(GET => "/v2/$repo/manifests/$tag");
    $bad++, diag("manifest $k: $g->{status}")
        unless $g->{status} == 200 && $g->{body} eq $acked_man{$k};
}
is($bad, 0, scalar(keys %acked_man) . ' acknowledged manifests read back');

# what the kills left in _tmp: swept by the master at start once old

my @left = grep { -f $_ } glob($t->storage . '/_tmp/*');
note(scalar(@left) . ' files left in _tmp by the kills');
$t->stop;
my $old = time() - 7200;
utime $old, $old, @left;
start();
my @still = grep { -e $_ } @left;
is(scalar @still, 0, 'the master swept them at start') or diag("@still");
$t->stop;

done_testing();
