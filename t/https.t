#!/usr/bin/perl

# HTTPS in one step (docs/https.md): `authd cert` makes a private CA and a
# server certificate with the names asked for; nginx serves the registry
# over TLS with HTTP/2 on the same port (conf/harbor-tls.conf.in as
# shipped); skopeo and podman verify the chain through a certs.d
# directory, never --tls-verify=false, and refuse a certificate from
# another CA; the token realm follows the scheme; plain HTTP on the TLS
# port gets a sentence saying what to change, and a TLS hello to a plain
# port a plain HTTP answer that clients report in words.

use warnings;
use strict;

use FindBin;
use lib "$FindBin::Bin/lib";

use File::Path qw(make_path remove_tree);
use File::Temp qw(tempdir);
use IO::Socket::INET;
use Test::More;
use Harbor::Api;
use Harbor::Authd;
use Harbor::Clients;

###############################################################################

my $AUTHD = $ENV{AUTHD} || "$FindBin::Bin/../authd/authd";
my $tmp = tempdir(CLEANUP => 1);

sub cert {
    my $r = Harbor::Clients::run_cmd([$AUTHD, 'cert', @_]);
    return $r;
}

sub openssl {
    my $r = Harbor::Clients::run_cmd(['openssl', @_]);
    return $r->{stdout};
}

# the CA and the certificate

my $tls = "$tmp/tls";
my $r = cert('-d', $tls, 'localhost', '127.0.0.1', 'registry.example.org');
ok($r->{ok}, 'authd cert') or diag($r->{out});
for my $f (qw(ca.crt ca.key server.crt server.key)) {
    ok(-f "$tls/$f", "$f made");
}
is((stat "$tls/ca.key")[2] & 0777, 0600, 'ca.key is 0600');
is((stat "$tls/server.key")[2] & 0777, 0600, 'server.key is 0600');
like(openssl('verify', '-CAfile', "$tls/ca.crt", "$tls/server.crt"),
     qr/: OK$/m, 'the server certificate chains to the CA');
my $text = openssl('x509', '-in', "$tls/server.crt", '-noout', '-text');
like($text, qr/DNS:localhost, IP Address:127\.0\.0\.1, DNS:registry\.example\.org/,
     'every name is a subjectAltName');
like($text, qr/TLS Web Server Authentication/, 'for servers');
like($text, qr/CA:FALSE/, 'not a CA');
like(openssl('x509', '-in', "$tls/ca.crt", '-noout', '-text'),
     qr/CA:TRUE, pathlen:0/, 'the CA is a CA');

my $ca_before = Harbor::Clients::read_file("$tls/ca.crt");
my $crt_before = Harbor::Clients::read_file("$tls/server.crt");
$r = cert('-d', $tls, 'localhost', '127.0.0.1');
like($r->{out}, qr/kept/, 'run again for covered names: kept');
is(Harbor::Clients::read_file("$tls/server.crt"), $crt_before, 'same certificate');
$r = cert('-d', $tls, 'localhost', '127.0.0.1', 'other.example.org');
like($r->{out}, qr/for DNS:localhost,IP:127\.0\.0\.1,DNS:other\.example\.org/,
     'a new name: a new certificate');
is(Harbor::Clients::read_file("$tls/ca.crt"), $ca_before, 'from the same CA');

for my $bad ('a,DNS:evil.example', 'a b', '', '-x.', 'x' x 300) {
    $r = cert('-d', "$tmp/bad", $bad);
    ok(!$r->{ok}, "refused: '" . substr($bad, 0, 20) . "'");
}
ok(!-e "$tmp/bad/server.crt", 'nothing made for a bad name');

# another CA, for the refusal
my $other = "$tmp/other";
ok(cert('-d', $other, '127.0.0.1')->{ok}, 'another CA');

# the registry over TLS

my $s = Harbor::Api->new(tls => $tls);
like($s->url, qr{^https://}, 'the stack speaks https');

my $p = $s->http(GET => '/v2/');
is($p->{status}, 401, 'GET /v2/ over TLS: 401');
like($p->{headers}{'www-authenticate'},
     qr{realm="https://127\.0\.0\.1:\d+/service/token"},
     'the token realm is https');

my $port = $s->port;
my $c = Harbor::Clients::run_cmd(['curl', '-sS', '--http2', '--cacert',
    "$tls/ca.crt", '-o', '/dev/null', '-w', '%{http_version}',
    "https://127.0.0.1:$port/api/v2.0/ping"]);
is($c->{stdout}, '2', 'HTTP/2 negotiated');

$c = Harbor::Clients::run_cmd(['curl', '-sS', "http://127.0.0.1:$port/v2/"]);
like($c->{stdout}, qr{speaks HTTPS on this port: use https://127\.0\.0\.1:$port/},
     'plain HTTP to the TLS port: what to change');
$c = Harbor::Clients::run_cmd(['curl', '-sS', '-o', '/dev/null', '-w',
    '%{http_code}', "http://127.0.0.1:$port/v2/"]);
is($c->{stdout}, '400', 'plain HTTP to the TLS port: 400');

$c = Harbor::Clients::run_cmd(['curl', '-sS', '--cacert', "$other/ca.crt",
    "https://127.0.0.1:$port/v2/"]);
ok(!$c->{ok}, 'curl with another CA: refused');

# real clients, verifying through certs.d

$s->create_project('tls', public => 0);
my $cl = $s->clients;
my $img = $cl->mkimage("$tmp/src", tag => 'v1', layers => '1k,300k');
my $host = "127.0.0.1:$port";
my @creds = ('--dest-creds', 'admin:' . $s->admin->[1]);

my $certs = "$tmp/certs.d";
make_path($certs);
system('cp', "$tls/ca.crt", "$certs/ca.crt") == 0 or die 'cp';
my $wrong = "$tmp/wrong.d";
make_path($wrong);
system('cp', "$other/ca.crt", "$wrong/ca.crt") == 0 or die 'cp';

$r = $cl->skopeo('copy', '--dest-cert-dir', $wrong, @creds,
                 "oci:$tmp/src:v1", "docker://$host/tls/app:v1");
ok(!$r->{ok}, 'skopeo with another CA: refused');
like($r->{out}, qr/certificate|x509/i, 'refused for the certificate');

$r = $cl->skopeo('copy', '--dest-cert-dir', $certs, @creds,
                 "oci:$tmp/src:v1", "docker://$host/tls/app:v1");
ok($r->{ok}, 'skopeo push over TLS, chain verified') or diag($r->{out});

# podman reads /etc/containers/certs.d/HOST:PORT; the port is this test's
$r = $cl->podman('login', '-u', 'admin', '-p', $s->admin->[1], $host);
ok(!$r->{ok}, 'podman login before the CA is in certs.d: refused');
like($r->{out}, qr/certificate|x509/i, 'refused for the certificate');

my $etc = "/etc/containers/certs.d/$host";
make_path($etc);
system('cp', "$tls/ca.crt", "$etc/ca.crt") == 0 or die 'cp';
END { remove_tree($etc) if $etc }

$r = $cl->podman('login', '-u', 'admin', '-p', $s->admin->[1], $host);
ok($r->{ok}, 'podman login over TLS (certs.d)') or diag($r->{out});
$r = $cl->podman('pull', "$host/tls/app:v1");
ok($r->{ok}, 'podman pull over TLS (certs.d)') or diag($r->{out});

# HTTPS to a plain port: answered in plain HTTP, not with a TLS alert, so
# clients say what is wrong ("server gave HTTP response to HTTPS client")
my $plain = Harbor::Api->new;
my $phost = $plain->host;
my $sock = IO::Socket::INET->new(PeerAddr => $phost, Timeout => 10)
    or die "connect $phost: $!";
# the start of a TLS 1.2 ClientHello record
print $sock "\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03" . ("\0" x 32)
    . "\r\n\r\n";
my $answer = '';
$sock->read($answer, 12);
like($answer, qr{^HTTP/1\.1 400}, 'a TLS hello to the plain port: a plain '
     . 'HTTP 400, not a TLS alert');
$r = $cl->skopeo('inspect', "docker://$phost/library/none:v1");
ok(!$r->{ok}, 'skopeo expecting TLS on the plain port: refused');
like($r->{out}, qr/server gave HTTP response to HTTPS client/,
     'and it says the server speaks plain HTTP');

done_testing;
