#!/usr/bin/perl

# HARBOR_YML=FILE make run (conf/instance.sh, `authd harbor-yml`): an
# admin's harbor.yml drives the local instance.  Its hostname
# (registry.test, which does not resolve here), https on one free port
# with the admin's certificate, plain http on another that redirects to
# https, its admin password, its data_volume.  A push with curl, and an
# API delete that authd carries out through nginx at
# https://registry.test:PORT, connecting to 127.0.0.1
# (authd.registry_address) and verifying the certificate.  Object
# storage is refused with a sentence, values are quoted for the shell's
# eval.  Then HARBOR_HTTPS=1 make run (authd cert's CA, one port): a
# ping and an API delete through https (authd.registry_ca).
# Runs as root, like t/instance.t: the services run as user harbor.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use Digest::SHA qw(sha256_hex);
use File::Temp qw(tempdir);
use JSON::PP;
use Test::More;

use Harbor::Authd;
use Harbor::Clients;
use Harbor::Test;

my $ROOT = $Harbor::Test::ROOT;
my $sh = "$ROOT/conf/instance.sh";
my $AUTHD = "$ROOT/authd/authd";
my $KEEP = $ENV{HARBOR_TEST_KEEP} ? 0 : 1;

my $tmp = tempdir('hb-yml-XXXXXX', TMPDIR => 1, CLEANUP => $KEEP);
chmod 0755, $tmp;

sub write_yml {
    my ($name, $text) = @_;
    my $f = "$tmp/$name";
    Harbor::Clients::write_file($f, $text);
    return $f;
}

sub harbor_yml { Harbor::Clients::run_cmd([$AUTHD, 'harbor-yml', @_]) }

sub instance {
    my ($what, %env) = @_;
    return Harbor::Clients::run_cmd([$sh, $what], timeout => 180,
        env => { HARBOR_YML => '', HARBOR_DATA => '', HARBOR_PORT => '',
                 HARBOR_HTTPS => '', %env });
}

# the processes whose command line names this data directory
sub procs {
    my ($data) = @_;
    my @pids;
    for my $dir (glob '/proc/[0-9]*') {
        open my $f, '<', "$dir/cmdline" or next;
        my $cmd = do { local $/; <$f> } // '';
        close $f;
        push @pids, $dir =~ s{^/proc/}{}r if index($cmd, $data) >= 0;
    }
    return @pids;
}

# curl: { code, body, headers } of one request
sub curl {
    my (@args) = @_;
    my $r = Harbor::Clients::run_cmd(['curl', '-sS', '-D', '-', '-w',
        "\n%{http_code}", @args], timeout => 30);
    my $out = $r->{stdout} // '';
    my ($code) = $out =~ /(\d+)\s*\z/;
    $out =~ s/\n?\d+\s*\z//;
    my ($head, $body) = split /\r?\n\r?\n/, $out, 2;
    # a 100 Continue or a second set of headers: the last one counts
    while (defined $body && $body =~ m{^HTTP/}) {
        ($head, $body) = split /\r?\n\r?\n/, $body, 2;
    }
    my %h;
    for (split /\r?\n/, $head // '') {
        $h{lc $1} = $2 if /^([^:]+):\s*(.*?)\s*$/;
    }
    return { code => $code // 0, body => $body // '', headers => \%h,
             err => $r->{out} };
}

# curl's arguments for /v2 as user:pw with a token for repo
sub bearer {
    my ($base, $tls, $cred, $repo, $actions) = @_;
    my $t = curl(@$tls, '-u', $cred,
        "$base/service/token?service=harbor-registry"
        . "&scope=repository:$repo:$actions");
    my $tok = eval { decode_json($t->{body})->{token} } // 'none';
    return (@$tls, '-H', "Authorization: Bearer $tok");
}

# a small image, pushed with curl as user:pw; the manifest's digest
sub push_image {
    my ($base, $tls, $cred, $repo, $tag) = @_;
    my @auth = bearer($base, $tls, $cred, $repo, 'pull,push');

    my $layer = "layer of $repo $tag\n" x 64;
    my $config = encode_json({ architecture => 'amd64', os => 'linux',
        rootfs => { type => 'layers', diff_ids => [] } });
    for my $blob ($layer, $config) {
        my $d = 'sha256:' . sha256_hex($blob);
        my $f = "$tmp/blob." . sha256_hex($blob);
        Harbor::Clients::write_file($f, $blob);
        my $p = curl(@auth, '-X', 'POST', '--data-binary', "\@$f", '-H',
            'Content-Type: application/octet-stream',
            "$base/v2/$repo/blobs/uploads/?digest=$d");
        return undef unless $p->{code} == 201;
    }

    my $m = encode_json({
        schemaVersion => 2,
        mediaType => 'application/vnd.oci.image.manifest.v1+json',
        config => { mediaType => 'application/vnd.oci.image.config.v1+json',
                    digest => 'sha256:' . sha256_hex($config),
                    size => length $config },
        layers => [ { mediaType => 'application/vnd.oci.image.layer.v1.tar',
                      digest => 'sha256:' . sha256_hex($layer),
                      size => length $layer } ],
    });
    my $mf = "$tmp/manifest.json";
    Harbor::Clients::write_file($mf, $m);
    my $p = curl(@auth, '-X', 'PUT', '--data-binary', "\@$mf", '-H',
        'Content-Type: application/vnd.oci.image.manifest.v1+json',
        "$base/v2/$repo/manifests/$tag");
    return undef unless $p->{code} == 201;
    return 'sha256:' . sha256_hex($m);
}

# push, wait for the API to know the tag, delete the tag through the API
# (authd -> nginx), and see it gone from /v2
sub push_and_delete {
    my ($what, $base, $tls, $cred) = @_;
    my $digest = push_image($base, $tls, $cred, 'library/hy', 'v1');
    ok($digest, "$what: a push with curl") or return;

    my $art = "$base/api/v2.0/projects/library/repositories/hy/artifacts";
    ok(Harbor::Authd::wait_for(20, sub {
        curl(@$tls, '-u', $cred, "$art/v1")->{code} == 200 }),
       "$what: the API knows the tag");

    my $d = curl(@$tls, '-u', $cred, '-X', 'DELETE', "$art/v1/tags/v1");
    is($d->{code}, 200, "$what: API delete of the tag, through nginx")
        or diag("$d->{body}\n$d->{err}");

    my $tags = curl(bearer($base, $tls, $cred, 'library/hy', 'pull'),
                    "$base/v2/library/hy/tags/list");
    is($tags->{code}, 200, "$what: /v2 tags list");
    unlike($tags->{body}, qr/"v1"/, "$what: the tag is gone from /v2");
    return $digest;
}

###############################################################################
# authd harbor-yml: quoting, refusals

my $odd = q{it's $HOME `id` "x" \\ ; pw};
(my $yaml_odd = $odd) =~ s/'/''/g;
my $q = write_yml('quote.yml', "hostname: registry.test\n"
                  . "harbor_admin_password: '$yaml_odd'\n");
my $r = harbor_yml($q);
ok($r->{ok}, 'harbor-yml: a password with quote, $, backquote') or diag($r->{out});
like($r->{stdout}, qr/^yml_admin_password='it'\\''s /m, 'single-quoted, a quote as \'\\\'\'');
my $back = Harbor::Clients::run_cmd(['bash', '-c',
    'eval "$(cat "$1")"; printf %s "$yml_admin_password"', 'sh', do {
        Harbor::Clients::write_file("$tmp/vars", $r->{stdout}); "$tmp/vars" }]);
is($back->{stdout}, $odd, 'eval gives the password back, nothing run');

$r = harbor_yml(write_yml('nl.yml', "hostname: x\n"
                          . "harbor_admin_password: \"a\\nb\"\n"));
ok(!$r->{ok}, 'harbor-yml: a newline in a value is refused');
like($r->{out}, qr/nl\.yml:2: "harbor_admin_password" contains a control character/,
     'with what is wrong, as file:line');
unlike($r->{out}, qr/a\nb/, 'the password is not echoed');

$r = harbor_yml(write_yml('host.yml', "hostname: 'x;\$(id)'\n"));
ok(!$r->{ok}, 'harbor-yml: a hostname of shell syntax is refused');
like($r->{out}, qr/host\.yml:1: "hostname" must be a host name/,
     'with what is wrong, as file:line');

$r = harbor_yml(write_yml('path.yml', "hostname: x\nhttps:\n  port: 443\n"
                          . "  certificate: /a.crt\n  private_key: '/a b;.key'\n"));
ok(!$r->{ok}, 'harbor-yml: a path that nginx would misread is refused');
like($r->{out}, qr{path\.yml:5: "https\.private_key" must be a plain path \(letters, digits and \.-/_\+\@\)},
     'as file:line, with the characters allowed');

$r = harbor_yml(write_yml('half.yml', "hostname: x\nhttps:\n  port: 443\n"
                          . "  certificate: /a.crt\n"));
ok(!$r->{ok}, 'harbor-yml: a certificate without its key is refused');
like($r->{out}, qr/half\.yml:\d+: "https\.certificate" and "https\.private_key" go together/,
     'as file:line');

# (storage_service.s3: t/s3-harbor-yml.t)
my $s3 = write_yml('swift.yml', <<YML);
hostname: registry.test
storage_service:
  ca_bundle:
  swift:
    container: images
    region: us-east-1
YML
$r = harbor_yml($s3);
ok(!$r->{ok}, 'harbor-yml: a swift storage_service is refused');
like($r->{out}, qr/swift\.yml:4: storage_service\.swift: this object storage is not supported: use s3 or the filesystem/,
     'with the sentence, as file:line');
$r = instance('start', HARBOR_YML => $s3);
ok(!$r->{ok}, 'instance.sh start with it: refused');
like($r->{out}, qr/this object storage is not supported/, 'with the same sentence');

$r = harbor_yml(write_yml('plain.yml', "hostname: reg.example\nhttp:\n  port: 8088\n"
                          . "storage_service:\n  filesystem:\n    maxthreads: 100\n"
                          . "  redirect:\n    disable: false\n"));
ok($r->{ok}, 'harbor-yml: filesystem storage_service and http only') or diag($r->{out});
like($r->{stdout}, qr/^yml_http_port='8088'\nyml_https_port='0'$/m,
     'http port, no https');

###############################################################################
# HARBOR_YML: https with the admin's certificate, http redirecting

my $data = "$tmp/data";
my $https = Harbor::Test::_free_port();
my $http = Harbor::Test::_free_port();
$http = Harbor::Test::_free_port() while $http == $https;
my $pw = 'Yml-Secret-42';

$r = Harbor::Clients::run_cmd([$AUTHD, 'cert', '-d', "$tmp/tls", 'registry.test']);
ok($r->{ok}, 'authd cert for registry.test') or diag($r->{out});

my $yml = write_yml('harbor.yml', <<YML);
# an admin's harbor.yml, Harbor's keys
hostname: registry.test
http:
  port: $http
https:
  port: $https
  certificate: $tmp/tls/server.crt
  private_key: $tmp/tls/server.key
  strong_ssl_ciphers: false
harbor_admin_password: $pw
database:
  password: root123
  max_idle_conns: 100
  max_open_conns: 900
data_volume: $data
storage_service:
  ca_bundle:
  filesystem:
    maxthreads: 100
log:
  level: info
  local:
    rotate_count: 50
    rotate_size: 200M
    location: /var/log/harbor
_version: 2.11.0
YML

$r = instance('start', HARBOR_YML => $yml);
ok($r->{ok}, 'instance.sh start with HARBOR_YML') or diag($r->{out});
like($r->{out}, qr{running on every address, port $https \(http on port $http redirects to it\), as https://registry\.test:$https},
     'the message names the hostname and both ports');
unlike($r->{out}, qr/\Q$pw\E/, 'and not the password');

my $base = "https://registry.test:$https";
my @tls = ('--resolve', "registry.test:$https:127.0.0.1",
           '--cacert', "$tmp/tls/ca.crt");

my $p = curl(@tls, "$base/api/v2.0/ping");
is($p->{code}, 200, 'https ping at registry.test, the CA verified');
is($p->{body}, 'Pong', 'Pong');

is(curl(@tls, '-u', "admin:$pw", "$base/api/v2.0/users/current")->{code},
   200, "the file's admin password works");
is(curl(@tls, '-u', 'admin:Harbor12345', "$base/api/v2.0/users/current")->{code},
   401, 'Harbor12345 does not');

my $red = curl('--resolve', "registry.test:$http:127.0.0.1",
               "http://registry.test:$http/v2/_catalog?n=1");
is($red->{code}, 308, 'plain http on http.port: a redirect');
is($red->{headers}{location}, "https://registry.test:$https/v2/_catalog?n=1",
   'to the same URL on https');
$red = curl('-L', @tls, '--resolve', "registry.test:$http:127.0.0.1",
            "http://registry.test:$http/api/v2.0/ping");
is($red->{body}, 'Pong', 'followed, it answers');

my $plain = curl(@tls, "http://registry.test:$https/v2/",
                 '--resolve', "registry.test:$https:127.0.0.1");
is($plain->{code}, 400, 'plain http on the https port: 400, a sentence');

like(Harbor::Clients::read_file("$data/authd.yml"),
     qr/registry_address: 127\.0\.0\.1/, 'authd connects to 127.0.0.1');
my $digest = push_and_delete('HARBOR_YML', $base, \@tls, "admin:$pw");
my $blobs = "$data/registry/docker/registry/v2/blobs/sha256";
ok(-d $blobs && glob("$blobs/*/*/data"), 'the blobs are under data_volume');
ok(-f "$data/postgres/PG_VERSION", 'the database too');
like(Harbor::Clients::read_file("$data/logs/access.log"),
     qr{"DELETE /v2/library/hy/manifests/v1 HTTP/[\d.]+" 202 .*ngx-harbor-authd},
     'authd sent the delete to nginx');

like(Harbor::Clients::read_file("$data/nginx/harbor.conf"),
     qr/listen\s+0\.0\.0\.0:$https ssl http2;/,
     'nginx listens on every address, as Harbor');

$r = instance('stop', HARBOR_YML => $yml);
ok($r->{ok}, 'instance.sh stop with HARBOR_YML') or diag($r->{out});
ok(Harbor::Authd::wait_for(10, sub { !procs($data) }),
   'nothing of the instance runs') or diag(join ' ', procs($data));
cmp_ok(curl(@tls, "$base/api/v2.0/ping")->{code}, '==', 0, 'the port is closed');

###############################################################################
# HARBOR_YML without https: plain http on http.port

my $data3 = "$tmp/data3";
my $port3 = Harbor::Test::_free_port();
my $yml3 = write_yml('plain-http.yml', <<YML);
hostname: registry.test
http:
  port: $port3
harbor_admin_password: $pw
data_volume: $data3
YML
$r = instance('start', HARBOR_YML => $yml3, HARBOR_DATA => "$tmp/other");
ok(!$r->{ok}, 'HARBOR_DATA other than data_volume: refused');
like($r->{out}, qr/set one of them/, 'with what to change');
ok(!-e "$tmp/other", 'nothing made there');

$r = instance('start', HARBOR_YML => $yml3);
ok($r->{ok}, 'HARBOR_YML without https: start') or diag($r->{out});
like($r->{out}, qr{as http://registry\.test:$port3 }, 'on http at the hostname');
my @res3 = ('--resolve', "registry.test:$port3:127.0.0.1");
is(curl(@res3, '-u', "admin:$pw",
        "http://registry.test:$port3/api/v2.0/users/current")->{code},
   200, 'plain http on http.port, the admin password of the file');
ok(!-e "$data3/tls", 'no certificate made');
$r = instance('stop', HARBOR_YML => $yml3);
ok($r->{ok}, 'stop') or diag($r->{out});
ok(Harbor::Authd::wait_for(10, sub { !procs($data3) }), 'nothing of it runs');

###############################################################################
# HARBOR_HTTPS=1: authd cert's CA, one port, deletes through https

my $data2 = "$tmp/data2";
my $port2 = Harbor::Test::_free_port();
my %env2 = (HARBOR_HTTPS => 1, HARBOR_DATA => $data2, HARBOR_PORT => $port2);

$r = instance('start', %env2);
ok($r->{ok}, 'HARBOR_HTTPS=1 instance.sh start') or diag($r->{out});
like($r->{out}, qr{running on https://127\.0\.0\.1:$port2 }, 'on https');
my $base2 = "https://127.0.0.1:$port2";
my @tls2 = ('--cacert', "$data2/tls/ca.crt");
is(curl(@tls2, "$base2/api/v2.0/ping")->{body}, 'Pong',
   'https ping, verified with tls/ca.crt');
like(Harbor::Clients::read_file("$data2/authd.yml"),
     qr{registry_url: https://127\.0\.0\.1:$port2\n(?s:.*)registry_ca: \Q$data2\E/tls/ca\.crt},
     'authd reaches nginx over https with the CA');
push_and_delete('HARBOR_HTTPS=1', $base2, \@tls2, 'admin:Harbor12345');
like(Harbor::Clients::read_file("$data2/logs/access.log"),
     qr{"DELETE /v2/library/hy/manifests/v1 HTTP/[\d.]+" 202 .*ngx-harbor-authd},
     'authd sent the delete to nginx over https');

$r = instance('stop', %env2);
ok($r->{ok}, 'HARBOR_HTTPS=1 instance.sh stop') or diag($r->{out});
ok(Harbor::Authd::wait_for(10, sub { !procs($data2) }),
   'nothing of it runs');

done_testing;
