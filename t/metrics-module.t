#!/usr/bin/perl

# The module's Prometheus metrics (harbor_metrics): on a server of their
# own, with 2 workers counting into one zone.  Requests by route kind,
# method and status move as pushes, pulls, 404s and refused tokens are
# made; bytes in and out are counted; uploads started, finished and
# abandoned; token refusals by reason; journal events and the journal's
# failed writes.  No label comes from a request.  The registry's server
# does not serve the metrics: there /metrics is what it always was.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use HTTP::Tiny;
use IO::Socket::INET;
use Test::More;
use Time::HiRes qw(time sleep);

use Harbor::Test qw(:all);
use Harbor::Stack;
use Harbor::Clients;

my $t = Harbor::Test->new;
my $dir = $t->dir;
my ($key, $cert) = Harbor::Stack::new_rsa_key("$dir/keys", 'token');
my ($other) = Harbor::Stack::new_rsa_key("$dir/keys", 'other');
my $mport = Harbor::Clients::free_port();

# the metrics server as conf/harbor-metrics.conf.in ships it
my $mconf = Harbor::Clients::read_file("$Harbor::Test::ROOT/conf/harbor-metrics.conf.in");
$mconf =~ s/\@METRICS_LISTEN\@/127.0.0.1:$mport/g;
Harbor::Clients::write_file("$dir/metrics.conf", $mconf);

# which worker answered each /v2 request, to see both at work
$t->run(
    registry => join("\n",
        'harbor_registry on;',
        'harbor_storage  ' . $t->storage . ';',
        'harbor_journal  ' . $t->journal . ';',
        'harbor_auth     token;',
        "harbor_token_certificate $cert;"),
    http => qq{log_format harbor_pid '\$pid \$uri'; include $dir/metrics.conf;},
    location => "access_log $dir/pids.log harbor_pid;",
);

my $ua = HTTP::Tiny->new(timeout => 10);
my $murl = "http://127.0.0.1:$mport/metrics";

sub scrape {
    my $r = $ua->get($murl);
    my %m;
    for (split /\n/, $r->{content} // '') {
        next if /^#/;
        $m{$1} = $2 if /^(\S+) (\d+)$/;
    }
    return wantarray ? (\%m, $r) : \%m;
}

sub delta { my ($a, $b, $k) = @_; ($b->{$k} // 0) - ($a->{$k} // 0) }

sub req { "harbor_nginx_requests_total{route=\"$_[0]\",method=\"$_[1]\",code=\"$_[2]\"}" }
sub tokfail { "harbor_nginx_token_failures_total{reason=\"$_[0]\"}" }

sub jwt {
    my ($keyfile, %claims) = @_;
    return Harbor::Stack::jwt_rs256($t, $keyfile,
        { alg => 'RS256', typ => 'JWT' },
        Harbor::Stack->claims_like(%claims));
}

sub access { [{ type => 'repository', name => $_[0], actions => [@_[1 .. $#_]] }] }

my $push = jwt($key, access => access('lib/app', 'pull', 'push'));
my $pull = jwt($key, access => access('lib/app', 'pull'));
my @auth = (headers => [Authorization => "Bearer $push"]);

###############################################################################
# the endpoint

my ($m0, $r0) = scrape();
is($r0->{status}, 200, 'GET /metrics on the metrics server: 200');
like($r0->{headers}{'content-type'}, qr{^text/plain; version=0\.0\.4},
     'in the Prometheus text format');
like($r0->{content}, qr/^# TYPE harbor_nginx_requests_total counter$/m,
     'typed families');
for my $f ('harbor_nginx_received_bytes_total{route="blob"}',
           'harbor_nginx_sent_bytes_total{route="manifest"}',
           'harbor_nginx_uploads_started_total',
           'harbor_nginx_uploads_finished_total',
           'harbor_nginx_uploads_abandoned_total{reason="cancelled"}',
           'harbor_nginx_uploads_abandoned_total{reason="interrupted"}',
           'harbor_nginx_blob_mounts_total',
           tokfail('expired'), tokfail('scope'),
           'harbor_nginx_journal_events_total',
           'harbor_nginx_journal_write_failures_total')
{
    ok(exists $m0->{$f}, "$f is exported");
}
is($ua->request('HEAD', $murl)->{status}, 200, 'HEAD answers too');
is($ua->post($murl, { content => 'x' })->{status}, 405, 'POST does not');

# where harbor_metrics is not placed, /metrics is nothing of the kind

my $r = $t->http(GET => '/metrics');
isnt($r->{status}, 200, 'the registry server has no /metrics');
unlike($r->{body}, qr/harbor_nginx_/, 'and shows no counters');
$r = $t->http(GET => '/v2/metrics');
is($r->{status}, 401, '/v2/metrics is a registry path like any other');
unlike($r->{body}, qr/harbor_nginx_/, 'with no counters in it');

###############################################################################
# pushes and pulls

$m0 = scrape();

my $blob = random_bytes(50_000);
my $d = sha256($blob);
$r = $t->http(POST => "/v2/lib/app/blobs/uploads/?digest=$d", @auth,
              body => $blob);
is($r->{status}, 201, 'a monolithic push');

# a chunked upload: POST, PATCH, PUT
my $chunk = random_bytes(20_000);
my $cd = sha256($chunk);
my ($loc) = $t->upload_start('lib/app', @auth);
$r = $t->http(PATCH => $loc, @auth, body => $chunk);
is($r->{status}, 202, 'a chunk');
$r = $t->http(PUT => $t->with_query($loc, "digest=$cd"), @auth);
is($r->{status}, 201, 'and the upload is finished');

# one opened and cancelled
($loc) = $t->upload_start('lib/app', @auth);
is($t->http(DELETE => $loc, @auth)->{status}, 204, 'an upload cancelled');

# a mount from a repository the token may pull
my $mount = jwt($key, access => [@{access('lib/app2', 'pull', 'push')},
                                 @{access('lib/app', 'pull')}]);
$r = $t->http(POST => "/v2/lib/app2/blobs/uploads/?mount=$d&from=lib/app",
              headers => [Authorization => "Bearer $mount"]);
is($r->{status}, 201, 'a blob mounted');

# a manifest of those two blobs, pushed and pulled: journal events
my $man = encode_json({
    schemaVersion => 2, mediaType => MT_OCI_MANIFEST,
    config => { mediaType => MT_OCI_CONFIG, digest => $cd,
                size => length $chunk },
    layers => [{ mediaType => MT_OCI_LAYER, digest => $d,
                 size => length $blob }] });
$r = $t->http(PUT => '/v2/lib/app/manifests/v1', body => $man,
              headers => [Authorization => "Bearer $push",
                          'Content-Type' => MT_OCI_MANIFEST]);
is($r->{status}, 201, 'a manifest pushed');
$r = $t->http(GET => '/v2/lib/app/manifests/v1',
              headers => [Authorization => "Bearer $push",
                          Accept => MT_OCI_MANIFEST]);
is($r->{status}, 200, 'and pulled');

# pulls: the blob twice, a manifest that is not there
for (1 .. 2) {
    $r = $t->http(GET => "/v2/lib/app/blobs/$d", @auth);
    is($r->{status}, 200, 'a blob pulled');
}
$r = $t->http(GET => '/v2/lib/app/manifests/nope', @auth);
is($r->{status}, 404, 'an unknown manifest');

# a path the registry does not know
$r = $t->http(GET => '/v2/Not..Valid/tags/list', @auth);
cmp_ok($r->{status}, '>=', 400, 'an invalid path refused');

my $m1 = scrape();
is(delta($m0, $m1, req('upload_start', 'POST', '201')), 2,
   'the monolithic push and the mount: POST .../uploads/ 201');
is(delta($m0, $m1, req('upload_start', 'POST', '202')), 2,
   'two sessions opened: 202');
is(delta($m0, $m1, req('upload', 'PATCH', '202')), 1, 'a PATCH 202');
is(delta($m0, $m1, req('upload', 'PUT', '201')), 1, 'a PUT 201');
is(delta($m0, $m1, req('upload', 'DELETE', '204')), 1, 'a DELETE 204');
is(delta($m0, $m1, req('blob', 'GET', '200')), 2, 'two blob GETs 200');
is(delta($m0, $m1, req('manifest', 'GET', '404')), 1, 'a manifest GET 404');
is(delta($m0, $m1, req('invalid', 'GET', '404'))
   + delta($m0, $m1, req('invalid', 'GET', '400')), 1,
   'the invalid path under route "invalid"');

is(delta($m0, $m1, 'harbor_nginx_uploads_started_total'), 3,
   'uploads started: a monolithic one and two sessions');
is(delta($m0, $m1, 'harbor_nginx_uploads_finished_total'), 2,
   'uploads finished: the monolithic and the chunked one');
is(delta($m0, $m1, 'harbor_nginx_uploads_abandoned_total{reason="cancelled"}'),
   1, 'one cancelled');
is(delta($m0, $m1, 'harbor_nginx_blob_mounts_total'), 1, 'one mount');

my $in = delta($m0, $m1, 'harbor_nginx_received_bytes_total{route="upload_start"}');
cmp_ok($in, '>=', length $blob, "bytes in on upload_start: $in");
cmp_ok($in, '<', length($blob) + 4 * 4096, 'the body and headers, no more');
$in = delta($m0, $m1, 'harbor_nginx_received_bytes_total{route="upload"}');
cmp_ok($in, '>=', length $chunk, "bytes in on upload: $in");
my $out = delta($m0, $m1, 'harbor_nginx_sent_bytes_total{route="blob"}');
cmp_ok($out, '>=', 2 * length $blob, "bytes out on blob: $out");
cmp_ok($out, '<', 2 * length($blob) + 2 * 2048, 'the bodies and headers');
cmp_ok(delta($m0, $m1, 'harbor_nginx_sent_bytes_total{route="manifest"}'),
       '>', 0, 'the 404 sent something');

is(delta($m0, $m1, req('manifest', 'PUT', '201')), 1, 'a manifest PUT 201');
is(delta($m0, $m1, req('manifest', 'GET', '200')), 1, 'a manifest GET 200');

# the journal: the manifest's push and pull
is(delta($m0, $m1, 'harbor_nginx_journal_events_total'), 2,
   'journal events counted');
is(delta($m0, $m1, 'harbor_nginx_journal_write_failures_total'), 0,
   'and none failed');

ok(!grep(m{lib/app|Not\.\.Valid|nope|sha256}, keys %$m1),
   'no label comes from a request');

# two pulls on one connection: each counts its own bytes, not the
# connection's so far
$m0 = scrape();
{
    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1',
                                  PeerPort => $t->port, Timeout => 5)
        or die "connect: $!";
    my $get = "GET /v2/lib/app/blobs/$d HTTP/1.1\r\nHost: localhost\r\n"
            . "Authorization: Bearer $push\r\n";
    print $s $get . "\r\n" . $get . "Connection: close\r\n\r\n";
    local $/;
    my $all = <$s>;
    close $s;
    my $oks = () = $all =~ m{HTTP/1\.1 200 OK\r\n}g;
    is($oks, 2, 'two pulls on a connection');
}
$m1 = scrape();
is(delta($m0, $m1, req('blob', 'GET', '200')), 2, 'both counted');
$out = delta($m0, $m1, 'harbor_nginx_sent_bytes_total{route="blob"}');
cmp_ok($out, '>=', 2 * length $blob, "bytes out: $out");
cmp_ok($out, '<', 2 * length($blob) + 2 * 2048, 'each request its own');

###############################################################################
# an upload whose body does not arrive whole

$m0 = scrape();
($loc) = $t->upload_start('lib/app', @auth);
{
    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1',
                                  PeerPort => $t->port, Timeout => 5)
        or die "connect: $!";
    print $s "PATCH $loc HTTP/1.1\r\nHost: localhost\r\n"
           . "Authorization: Bearer $push\r\nContent-Length: 100000\r\n\r\n"
           . ('x' x 1000);
    close $s;
}
my $deadline = time + 10;
my $m;
do {
    $m = scrape();
} until (delta($m0, $m,
               'harbor_nginx_uploads_abandoned_total{reason="interrupted"}')
         || time > $deadline || !sleep 0.05);
is(delta($m0, $m, 'harbor_nginx_uploads_abandoned_total{reason="interrupted"}'),
   1, 'a body cut short: abandoned, interrupted');

###############################################################################
# token refusals, by reason

$m0 = scrape();

is($t->http(GET => '/v2/')->{status}, 401, 'no token: 401');
is($t->http(GET => '/v2/lib/app/tags/list',
            headers => [Authorization => 'Bearer short'])->{status}, 401,
   'a malformed token: 401');
is($t->http(GET => '/v2/lib/app/tags/list',
            headers => [Authorization => 'Bearer '
                        . jwt($other, access => access('lib/app', 'pull'))])
   ->{status}, 401, 'a token signed by another key: 401');
is($t->http(GET => '/v2/lib/app/tags/list',
            headers => [Authorization => 'Bearer '
                        . jwt($key, access => access('lib/app', 'pull'),
                              exp => int(time) - 3600, nbf => int(time) - 7200,
                              iat => int(time) - 7200)])
   ->{status}, 401, 'an expired token: 401');
is($t->http(GET => '/v2/lib/app/tags/list',
            headers => [Authorization => 'Bearer '
                        . jwt($key, access => access('lib/app', 'pull'),
                              aud => 'somebody-else')])
   ->{status}, 401, 'a token for another service: 401');
is($t->http(POST => '/v2/lib/app/blobs/uploads/',
            headers => [Authorization => "Bearer $pull"])->{status}, 401,
   'a push with a pull token: 401');
is($t->http(GET => '/v2/lib/app/tags/list',
            headers => [Authorization => 'Bearer e30.' . ('A' x 20000)])
   ->{status}, 401, 'a token over the header buffers: 401');

my $m2 = scrape();
is(delta($m0, $m2, tokfail($_->[0])), $_->[1], "token failures: $_->[0]")
    for [missing => 1], [malformed => 1], [signature => 1], [expired => 1],
        [claims => 1], [scope => 1], [too_large => 1];
is(delta($m0, $m2, req('base', 'GET', '401')), 1,
   'the 401 of the token check is a request of its route');
is(delta($m0, $m2, req('tags_list', 'GET', '401')), 5, 'and these');
is(delta($m0, $m2, req('upload_start', 'POST', '401')), 1, 'and this one');

###############################################################################
# both workers count into the one zone

my @w = $t->workers(2);
is(scalar @w, 2, 'two workers');

$m0 = scrape();
my $pids = "$dir/pids.log";
my $mark = -s $pids;
my ($n, %seen) = (0);
$deadline = time + 20;
while (keys %seen < 2 && time < $deadline) {
    # a burst of connections at once: both workers accept some
    my @socks = map {
        IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $t->port,
                              Timeout => 5) or die "connect: $!";
    } 1 .. 8;
    for my $s (@socks) {
        print $s "GET /v2/ HTTP/1.1\r\nHost: localhost\r\n"
               . "Authorization: Bearer $pull\r\nConnection: close\r\n\r\n";
    }
    for my $s (@socks) { local $/; my $x = <$s>; close $s; $n++ }

    open my $fh, '<', $pids or die "$pids: $!";
    seek $fh, $mark, 0;
    while (<$fh>) { $seen{$1} = 1 if m{^(\d+) /v2/$} }
    close $fh;
}
is(scalar keys %seen, 2, "both workers answered ($n requests)");
$m = scrape();
is(delta($m0, $m, req('base', 'GET', '200')), $n,
   'every request counted, whichever worker answered it');

###############################################################################
# a reload keeps the counts

$m0 = scrape();
my %old = map { $_ => 1 } $t->workers;
kill 'HUP', $t->pid;
$deadline = time + 20;
my @new;
until (time > $deadline) {
    @new = $t->workers;
    last if @new == 2 && !grep { $old{$_} } @new;
    sleep 0.05;
}
ok(@new == 2 && !grep({ $old{$_} } @new), 'reloaded: two new workers');
is($t->http(GET => '/v2/', @auth)->{status}, 200, 'a request after it');
$m = scrape();
is(delta($m0, $m, req('base', 'GET', '200')), 1,
   'counted on top of the counts before the reload');

###############################################################################
# the journal cannot be written: counted as failures

my $t2 = Harbor::Test->new;
my $mport2 = Harbor::Clients::free_port();
$t2->allow_log(qr/write\(\) to journal "\/dev\/full" failed/);
$t2->run(
    registry => join("\n",
        'harbor_registry on;',
        'harbor_storage  ' . $t2->storage . ';',
        'harbor_journal  /dev/full;',
        'harbor_auth     off;'),
    http => "server { listen 127.0.0.1:$mport2; harbor_metrics; }",
);
my $img = $t2->make_image('lib/j', 'v1');
is($img->{response}{status}, 201,
   'a push with a journal that cannot take it');
$r = $ua->get("http://127.0.0.1:$mport2/m/");
like($r->{content}, qr/^harbor_nginx_journal_write_failures_total 1$/m,
     'one journal write failure');
like($r->{content}, qr/^harbor_nginx_journal_events_total 0$/m,
     'no event written');
$t2->stop;

$t->stop;
done_testing;
