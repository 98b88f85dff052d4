#!/usr/bin/perl

# Replication's copy (authd/repl_copy.c) through `authd copy SRC DST`,
# between Debian's docker-registry (anonymous, and with htpasswd Basic
# auth) and this product (the module with authd's token service):
#
#   - schema2, OCI and multi-platform images arrive byte for byte (pulled
#     back with skopeo and compared with the sources), a sha512 layer too;
#   - a second copy sends no blob bytes; within one registry blobs are
#     mounted, not sent;
#   - copy_by_chunk uploads a blob larger than chunk_size in PATCHes;
#   - override off keeps the destination's tag (skipped);
#   - a source whose blob does not match its digest gets nothing committed;
#   - the stop flag (SIGTERM) stops a throttled copy;
#   - a destination that is down, a project that does not exist and a bad
#     password each give a sentence naming host:port and the repository,
#     with the exit status of REPL_ERROR or REPL_FATAL; no password in any
#     output.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use Test::More;
use Digest::SHA ();
use MIME::Base64 ();
use HTTP::Tiny;
use IO::Socket::INET;
use POSIX qw(WNOHANG);
use Time::HiRes qw(sleep time);

use Harbor::Test qw(:all);
use Harbor::Api;
use Harbor::Clients;

my $AUTHD = $Harbor::Authd::AUTHD;

my $s = Harbor::Api->new;             # authd applies the journal
my $dir = $s->dir;
my $c = Harbor::Clients->new($dir);
my $host = $s->host;
my $ADMIN = $Harbor::Authd::ADMIN_PASSWORD;

my $PW = 'Rep1-secret-pw';           # docker-registry's htpasswd user
my $HPW = 'Harb0r-secret-pw';        # this product's user
my @SECRETS = ($PW, $HPW, $ADMIN);

# exit status of authd copy: REPL_OK 0, ERROR 1, FATAL 2, STOPPED 3,
# SKIPPED 4
my %RC = (ok => 0, error => 1, fatal => 2, stopped => 3, skipped => 4);


###############################################################################
# the registries

sub distribution {
    my ($name, %o) = @_;
    my $d = Harbor::Clients::Distribution->new(root => "$dir/$name/data",
        dir => "$dir/$name", htpasswd => $o{htpasswd});
    return $d->start unless $o{tls};

    open my $fh, '>>', $d->config or die "config: $!";

    if ($o{tls}) {
        # a self-signed certificate for 127.0.0.1; http: is the config's
        # last section
        my $r = Harbor::Clients::run_cmd(['openssl', 'req', '-x509',
            '-newkey', 'rsa:2048', '-nodes', '-days', '1',
            '-keyout', "$dir/$name/key.pem", '-out', "$dir/$name/cert.pem",
            '-subj', '/CN=127.0.0.1',
            '-addext', 'subjectAltName=IP:127.0.0.1']);
        die $r->{out} unless $r->{ok};
        print $fh "  tls:\n    certificate: $dir/$name/cert.pem\n"
                . "    key: $dir/$name/key.pem\n";
    }

    close $fh;

    my $pid = fork();
    die "fork: $!" unless defined $pid;
    if ($pid == 0) {
        setpgrp(0, 0);
        open STDIN, '<', '/dev/null';
        open STDOUT, '>>', "$dir/$name/registry.log" or POSIX::_exit(126);
        open STDERR, '>&', \*STDOUT;
        { no warnings 'exec'; exec 'docker-registry', 'serve', $d->config }
        POSIX::_exit(127);
    }
    $d->{pid} = $pid;

    my $ua = HTTP::Tiny->new(timeout => 5, verify_SSL => 0);
    my $base = ($o{tls} ? 'https' : 'http') . '://' . $d->host;
    Harbor::Clients::wait_until(sub {
        $ua->get("$base/v2/")->{status} == 200
    }, 20) or die "docker-registry ($name) did not start:\n" . $d->log;

    return $d;
}

my $d1 = distribution('d1');                            # anonymous
my $d2 = distribution('d2', htpasswd => ['repl', $PW]); # Basic auth
my $d3 = distribution('d3');                            # anonymous
my $d4 = distribution('d4', tls => 1);                  # https

$s->create_user('repl', password => $HPW);
$s->create_project('lib');
$s->create_project('mirror');
$s->add_member('lib', 'repl', 2);                       # developer
$s->add_member('mirror', 'repl', 4);                    # maintainer: delete


###############################################################################
# helpers

# authd copy [opts] SRC DST; -> {rc, result (stdout), log (stderr), all}
sub copy {
    my ($src, $dst, %o) = @_;
    my $r = Harbor::Clients::run_cmd(
        [ $AUTHD, 'copy', @{ $o{opts} || [] }, $src, $dst ],
        env => $o{env}, timeout => $o{timeout} // 120);
    my ($log) = $r->{out} =~ /\A[^\n]*\n(.*)\z/s;
    $log = '' unless defined $log;
    $log =~ s/\Q$r->{stdout}\E//;
    return { rc => $r->{rc}, result => $r->{stdout}, log => $log,
             all => $r->{out} };
}

sub no_secret {
    my ($r, $name) = @_;
    my @seen = grep { index($r->{all}, $_) >= 0 } @SECRETS;
    ok(!@seen, "$name: no password in the output");
}

sub copy_ok {
    my ($src, $dst, $name, %o) = @_;
    my $r = copy($src, $dst, %o);
    is($r->{rc}, 0, "$name: exit 0") or diag($r->{all});
    like($r->{result}, qr{^ok (\d+)/\1$}, "$name: ok, bytes done = total");
    no_secret($r, $name);
    return $r;
}

# the bytes of an OCI manifest: a config (its bytes) and one layer
sub oci_manifest {
    my ($config, $layer, $size) = @_;
    return '{"schemaVersion":2,"mediaType":"' . MT_OCI_MANIFEST . '",'
         . '"config":{"mediaType":"' . MT_OCI_CONFIG . '","digest":"'
         . 'sha256:' . Digest::SHA::sha256_hex($config) . '","size":'
         . length($config) . '},"layers":[{"mediaType":"' . MT_OCI_LAYER
         . '","digest":"' . $layer . '","size":' . $size . '}]}';
}

sub sent_lines { scalar(() = $_[0]{log} =~ /\) sent in /g) }

sub skopeo_ok {
    my ($name, @args) = @_;
    Harbor::Clients::cmd_ok($c->skopeo(@args), $name);
}

sub d1url { 'http://' . $d1->host . "/$_[0]" }
sub d2url { "http://repl\@" . $d2->host . "/$_[0]" }
sub d3url { 'http://' . $d3->host . "/$_[0]" }
sub hburl { "http://repl\@$host/$_[0]" }

my %D2ENV = (REPL_DST_PASSWORD => $PW);
my %HBENV_DST = (REPL_DST_PASSWORD => $HPW);
my %HBENV_SRC = (REPL_SRC_PASSWORD => $HPW);


###############################################################################
# the images, on d1

my %img = (
    oci    => $c->mkimage("$dir/src-oci", tag => 'v1',
                          layers => '1k,300k', seed => 'repl-oci'),
    docker => $c->mkimage("$dir/src-docker", tag => 'v1', docker => 1,
                          layers => '3k,200k', seed => 'repl-docker'),
    index  => $c->mkimage("$dir/src-index", tag => 'v1', multiarch => 1,
                          layers => '2k,100k', seed => 'repl-index'),
    other  => $c->mkimage("$dir/src-other", tag => 'v1',
                          layers => '5k', seed => 'repl-other'),
);

for my $k (sort keys %img) {
    skopeo_ok("skopeo pushes $k to docker-registry", 'copy',
              $k eq 'index' ? ('--all') : (), '--dest-tls-verify=false',
              "oci:$dir/src-$k:v1", 'docker://' . $d1->host . "/lib/$k:v1");
}


###############################################################################
# docker-registry -> docker-registry with Basic auth

my $pulls = 0;

# pull back into an OCI layout, or a dir: for docker schema2 (skopeo
# would convert it writing an OCI layout); compare with the source
sub pulled_same {
    my ($k, $from, $name, @creds) = @_;
    my $out = "$dir/back-" . ++$pulls . "-$k";
    my $to = $k eq 'docker' ? "dir:$out" : "oci:$out:v1";
    skopeo_ok("$name: pulled back", 'copy', $k eq 'index' ? ('--all') : (),
              '--src-tls-verify=false', @creds, "docker://$from", $to);
    Harbor::Clients::layouts_same("$dir/src-$k", 'v1', $out,
                                  $k eq 'docker' ? undef : 'v1',
                                  "$name: the same blobs and manifests");
}

for my $k (qw(oci docker index)) {
    copy_ok(d1url("lib/$k:v1"), d2url("copied/$k:v1"),
            "$k: docker-registry to docker-registry (Basic)",
            env => \%D2ENV);
    pulled_same($k, $d2->host . "/copied/$k:v1", "$k at docker-registry",
                "--src-creds=repl:$PW");
}

{
    my $r = copy_ok(d1url('lib/oci:v1'), d2url('copied/oci:v1'),
                    'second copy of the same tag', env => \%D2ENV);
    like($r->{log}, qr/nothing to copy/, 'second copy: nothing to copy');
    is(sent_lines($r), 0, 'second copy: no blob sent');

    $r = copy_ok(d1url('lib/oci:v1'), d2url('copied/oci:v2'),
                 'the same image under another tag', env => \%D2ENV);
    is(sent_lines($r), 0, 'another tag: no blob sent');
    like($r->{log}, qr/0 blob\(s\) sent \(0 bytes\), 0 mounted, 3 already/,
         'another tag: the three blobs were already there');
}

{
    # override off: a tag that names something else is kept
    my $r = copy(d1url('lib/other:v1'), d2url('copied/oci:v1'),
                 opts => ['-K'], env => \%D2ENV);
    is($r->{rc}, $RC{skipped}, 'override off, tag names another digest: '
       . 'skipped') or diag($r->{all});
    like($r->{result}, qr/^skipped .*override is off: kept/, 'says why');

    pulled_same('oci', $d2->host . '/copied/oci:v1', 'the kept tag',
                "--src-creds=repl:$PW");
}

{
    my $r = copy(d1url('lib/oci:v1'), d2url('copied/bad:v1'),
                 env => { REPL_DST_PASSWORD => 'wrong' . $PW });
    is($r->{rc}, $RC{fatal}, 'a wrong password: REPL_FATAL')
        or diag($r->{all});
    my $h = $d2->host;
    like($r->{result}, qr/destination refused .*copied\/bad.* on \Q$h\E \(401/,
         'a wrong password: a sentence naming the repository and host');
    no_secret($r, 'a wrong password');
}


###############################################################################
# docker-registry -> this product (the token service), and back

for my $k (qw(docker index)) {
    copy_ok(d1url("lib/$k:v1"), hburl("lib/$k:v1"),
            "$k: docker-registry to this product (token flow)",
            env => \%HBENV_DST);

    pulled_same($k, "$host/lib/$k:v1", "$k at this product",
                "--src-creds=repl:$HPW");
}

{
    # within this product: the blobs are mounted, none is sent
    my $r = copy_ok(hburl('lib/index:v1'), hburl('mirror/index:v1'),
                    'within this product', env => { %HBENV_SRC,
                                                    %HBENV_DST });
    is(sent_lines($r), 0, 'within this product: no blob sent');
    like($r->{log}, qr/0 blob\(s\) sent \(0 bytes\), 6 mounted/,
         'within this product: the six blobs were mounted');

    # this product -> docker-registry, in chunks of 64 KiB
    $r = copy_ok(hburl('lib/index:v1'), d3url('chunked/index:v1'),
                 'this product to docker-registry, copy_by_chunk',
                 opts => ['-c', '-C', 65536], env => \%HBENV_SRC);
    my @n = $r->{log} =~ /\((\d+) bytes\) sent in (\d+) request/g;
    my %req = @n;
    my ($big) = grep { $_ > 65536 } keys %req;
    ok($big && $req{$big} == int(($big + 65535) / 65536) + 1,
       "a blob of $big bytes went in PATCHes of 64 KiB and a PUT "
       . "($req{$big} requests)") or diag($r->{log});

    pulled_same('index', $d3->host . '/chunked/index:v1',
                'the chunked copy');
}

{
    # a sha512 layer, pushed by hand to this product
    my $tok = $s->bearer(user => 'admin', pass => $ADMIN,
                         scope => 'repository:lib/sha512:pull,push');
    my $layer = Harbor::Test::random_bytes(70000);
    my $ld = 'sha512:' . Digest::SHA::sha512_hex($layer);
    my $config = '{"architecture":"amd64","os":"linux","rootfs":'
               . '{"type":"layers","diff_ids":[]}}';
    my $cd = 'sha256:' . Digest::SHA::sha256_hex($config);
    my $ok = 1;
    for ([$layer, $ld], [$config, $cd]) {
        my $r = $s->v2(POST => "/v2/lib/sha512/blobs/uploads/?digest=$_->[1]",
            token => $tok, body => $_->[0],
            headers => ['Content-Type' => 'application/octet-stream']);
        $ok &&= $r->{status} == 201;
    }
    my $m = oci_manifest($config, $ld, 70000);
    my $r = $s->v2(PUT => '/v2/lib/sha512/manifests/v1', token => $tok,
                   body => $m, headers => ['Content-Type' => MT_OCI_MANIFEST]);
    ok($ok && $r->{status} == 201, 'an image with a sha512 layer, pushed')
        or diag($r->{raw});

    copy_ok(hburl('lib/sha512:v1'), d3url('s/sha512:v1'),
            'sha512 layer: this product to docker-registry',
            env => \%HBENV_SRC);
    my $g = HTTP::Tiny->new(timeout => 10)->get(
        'http://' . $d3->host . "/v2/s/sha512/blobs/$ld");
    ok($g->{status} == 200 && $g->{content} eq $layer,
       'the sha512 layer arrived whole');
    $g = HTTP::Tiny->new(timeout => 10)->get(
        'http://' . $d3->host . '/v2/s/sha512/manifests/v1',
        { headers => { Accept => MT_OCI_MANIFEST } });
    is($g->{content}, $m, 'the manifest arrived byte for byte');
}


###############################################################################
# TLS, and a bearer handed in (what the local instance uses)

{
    my $h4 = $d4->host;
    my $r = copy(d1url('lib/oci:v1'), "https://$h4/tls/oci:v1");
    is($r->{rc}, $RC{fatal}, 'https with an unknown CA: REPL_FATAL')
        or diag($r->{all});
    like($r->{result}, qr/destination unreachable: its TLS certificate is not trusted .* to \Q$h4\E/,
         'https with an unknown CA: says what to do') or diag($r->{all});

    copy_ok(d1url('lib/oci:v1'), "https://$h4/tls/oci:v1",
            'https, the CA given (ca_pem)',
            env => { REPL_DST_CA => "$dir/d4/cert.pem" });
    copy_ok(d1url('lib/oci:v1'), "https://$h4/tls/oci:v2",
            'https, insecure', opts => ['-k']);
    pulled_same('oci', "$h4/tls/oci:v1", 'the copy over https');
}

{
    my $tok = $s->bearer(user => 'repl', pass => $HPW,
                         scope => 'repository:lib/docker:pull');
    my $r = copy_ok("http://$host/lib/docker:v1", d3url('bearer/docker:v1'),
                    'a bearer handed in', env => { REPL_SRC_BEARER => $tok });
    pulled_same('docker', $d3->host . '/bearer/docker:v1',
                'the copy with a bearer handed in');

    $r = copy("http://$host/lib/index:v1", d3url('bearer/index:v1'),
              env => { REPL_SRC_BEARER => $tok });
    # a handed-in token is authd's own for one try: a 401 is a retry
    # (REPL_ERROR), for which the control plane signs a new one
    is($r->{rc}, $RC{error}, 'a bearer for another repository: REPL_ERROR')
        or diag($r->{all});
    like($r->{result}, qr/source refused the pull of manifest v1 of lib\/index: .* on \Q$host\E \(401 .*\); the token handed in was refused, a new one may pass/,
         'a bearer for another repository: says so') or diag($r->{all});
    ok(index($r->{all}, $tok) < 0, 'the bearer is not in the output');
}


###############################################################################
# listings, ping, delete (authd copy -l, -p, -D)

sub one {
    my ($mode, $url, %o) = @_;
    my $r = Harbor::Clients::run_cmd([ $AUTHD, 'copy', @$mode, $url ],
                                     env => $o{env}, timeout => 60);
    return { rc => $r->{rc}, out => $r->{stdout}, all => $r->{out} };
}

{
    # the API's rows follow the journal
    ok($s->sync, 'the journal is applied');
    my $r = one(['-l', '-t', 'harbor'], "http://repl\@$host/",
                env => \%HBENV_SRC);
    my @want = qw(lib/docker lib/index lib/sha512 mirror/index);
    is($r->{rc}, 0, 'harbor: repositories listed') or diag($r->{all});
    my %got = map { $_ => 1 } split /\n/, $r->{out};
    ok($got{$_}, "harbor: lists $_") for @want;

    $r = one(['-l'], 'http://' . $d1->host . '/');
    is($r->{out}, "lib/docker\nlib/index\nlib/oci\nlib/other\n",
       'docker-registry: the catalog') or diag($r->{all});

    $r = one(['-l'], d2url('copied/oci'), env => { REPL_SRC_PASSWORD => $PW });
    is($r->{out}, "v1\nv2\n", 'docker-registry (Basic): the tags')
        or diag($r->{all});

    $r = one(['-p'], "http://repl\@$host", env => \%HBENV_SRC);
    is($r->{rc}, 0, 'ping with good credentials') or diag($r->{all});

    $r = one(['-p'], "http://repl\@$host",
             env => { REPL_SRC_PASSWORD => 'not' . $HPW });
    is($r->{rc}, 2, 'ping with a wrong password: REPL_FATAL');
    like($r->{all}, qr/refused the credentials of user repl/,
         'ping with a wrong password: says so') or diag($r->{all});
    no_secret($r, 'ping');

    $r = one(['-D'], hburl('mirror/index:v1'), env => \%HBENV_SRC);
    is($r->{rc}, 0, 'harbor: a tag deleted') or diag($r->{all});
    my $tok = $s->bearer(user => 'admin', pass => $ADMIN,
                         scope => 'repository:mirror/index:pull');
    is($s->v2(HEAD => '/v2/mirror/index/manifests/v1', token => $tok)
       ->{status}, 404, 'harbor: the tag is gone');

    $r = one(['-D'], d3url('s/sha512:v1'));
    is($r->{rc}, 0, 'docker-registry: a tag deleted (by its digest)')
        or diag($r->{all});
    is(HTTP::Tiny->new->request('HEAD', 'http://' . $d3->host
       . '/v2/s/sha512/manifests/v1')->{status}, 404,
       'docker-registry: the tag is gone');
}


###############################################################################
# failures

{
    my $r = copy(d1url('lib/oci:v1'), hburl('calico/node:v1'),
                 env => \%HBENV_DST);
    is($r->{rc}, $RC{fatal}, 'a project that does not exist: REPL_FATAL')
        or diag($r->{all});
    like($r->{result}, qr/destination refused push of calico\/node: project calico not found on \Q$host\E \(401 /,
         'names the repository and host') or diag($r->{all});
    no_secret($r, 'a project that does not exist');
}

{
    my $port = Harbor::Clients::free_port();
    my $r = copy(d1url('lib/oci:v1'), "http://127.0.0.1:$port/x/oci:v1");
    is($r->{rc}, $RC{error}, 'the destination is down: REPL_ERROR');
    like($r->{result}, qr/destination unreachable: connection refused to 127\.0\.0\.1:$port/,
         'the destination is down: says so, with host:port');
}

{
    my $r = copy(d1url('lib/nothere:v1'), d3url('x/y:v1'));
    is($r->{rc}, $RC{fatal}, 'no such manifest at the source: REPL_FATAL');
    like($r->{result}, qr/source refused the pull of manifest v1 of lib\/nothere: .* \(404 /,
         'no such manifest: says so');
}

{
    # speed_kbps holds from the first byte: 309,416 bytes at 60 KiB/s
    my $t0 = time;
    my $r = copy_ok(d1url('lib/oci:v1'), d3url('throttle/oci:v1'),
                    'a copy held to 60 KiB/s', opts => ['-s', 60]);
    my $took = time - $t0;
    my ($total) = $r->{result} =~ m{/(\d+)};
    my $want = $total / (60 * 1024);
    ok($took >= 0.8 * $want && $took <= 1.5 * $want,
       sprintf('%d bytes at 60 KiB/s took %.2f s (%.2f s expected)',
               $total, $took, $want));
}

{
    # the stop flag: a copy held to 64 KB/s, stopped by SIGTERM once the
    # first blob is in
    my $h = Harbor::Clients::spawn_cmd(
        [ $AUTHD, 'copy', '-s', 64, d1url('lib/oci:v1'),
          d3url('stopped/oci:v1') ], timeout => 60);
    my $started = Harbor::Clients::wait_until(sub {
        (Harbor::Clients::read_file("$h->{out}.2") // '') =~ /\) sent in /
    }, 30);
    ok($started, 'the throttled copy sent its first blob');
    kill 'TERM', $h->{pid};
    my $r = Harbor::Clients::reap_cmd($h);
    is($r->{rc}, $RC{stopped}, 'SIGTERM: REPL_STOPPED') or diag($r->{out});
    my ($done, $total) = $r->{stdout} =~ m{^stopped (\d+)/(\d+)};
    ok(defined $done && $done < $total, "stopped at $done of $total bytes");
    is(HTTP::Tiny->new->request('HEAD', 'http://' . $d3->host
       . '/v2/stopped/oci/manifests/v1')->{status}, 404,
       'no manifest at the destination');
}

{
    # the destination goes away in the middle of a copy, and comes back:
    # the copy fails with REPL_ERROR, and run again it sends only what
    # had not arrived
    my $h = Harbor::Clients::spawn_cmd(
        [ $AUTHD, 'copy', '-s', 64, d1url('lib/oci:v1'),
          d3url('resume/oci:v1') ], timeout => 60);
    ok(Harbor::Clients::wait_until(sub {
        my $l = Harbor::Clients::read_file("$h->{out}.2") // '';
        return (() = $l =~ /\) sent in /g) >= 2;
    }, 30), 'two blobs are in, the big one is on its way');
    $d3->stop;
    my $r = Harbor::Clients::reap_cmd($h);
    is($r->{rc}, $RC{error}, 'destination gone mid-copy: REPL_ERROR')
        or diag($r->{out});
    my $dh = $d3->host;
    like($r->{stdout}, qr/^error \d+\/\d+: destination unreachable: .* \Q$dh\E/,
         'destination gone mid-copy: says so') or diag($r->{out});

    $d3->start;
    $r = copy_ok(d1url('lib/oci:v1'), d3url('resume/oci:v1'),
                 'the same copy once the destination is back');
    like($r->{log}, qr/1 blob\(s\) sent \(\d+ bytes\), 0 mounted, 2 already there/,
         'it resumes: only the blob that had not arrived is sent')
        or diag($r->{log});
}

{
    # a registry with its own token service whose tokens are good for two
    # requests: the challenge is followed with Basic credentials, and an
    # expired token is replaced, also in the middle of a blob's stream
    my $layer = Harbor::Test::random_bytes(300000);
    my $ld = 'sha256:' . Digest::SHA::sha256_hex($layer);
    my $cfg = '{"architecture":"amd64","os":"linux"}';
    my $cd = 'sha256:' . Digest::SHA::sha256_hex($cfg);
    my $m = oci_manifest($cfg, $ld, 300000);
    my %files = ('/v2/tok/img/manifests/v1' => $m,
                 "/v2/tok/img/blobs/$cd" => $cfg,
                 "/v2/tok/img/blobs/$ld" => $layer);
    my $basic = 'Basic ' . MIME::Base64::encode_base64("tok:$HPW", '');
    my $issued = "$dir/tokens-issued";
    my ($n, $uses) = (0, 0);

    my ($port, $pid) = Harbor::Clients::fake_registry(sub {
        my ($method, $path, $h, $port) = @_;
        if ($path =~ m{^/token\?service=fake&scope=repository%3Atok%2Fimg%3Apull}) {
            return (401, '', '') unless ($h->{authorization} // '') eq $basic;
            $n++;
            $uses = 0;
            Harbor::Clients::write_file($issued, $n);
            return (200, "Content-Type: application/json\r\n",
                    qq({"token":"T$n"}));
        }
        if (($h->{authorization} // '') ne "Bearer T$n" || ++$uses > 2) {
            return (401, 'WWW-Authenticate: Bearer realm="http://127.0.0.1:'
                    . $port . '/token",service="fake",'
                    . "scope=\"repository:tok/img:pull\"\r\n", '');
        }
        my $body = $files{$path};
        return defined $body ? (200, 'Content-Type: '
            . ($path =~ /manifests/ ? MT_OCI_MANIFEST
                                    : 'application/octet-stream') . "\r\n",
            $body) : (404, '', '');
    });

    my $r = copy("http://tok\@127.0.0.1:$port/tok/img:v1",
                 d3url('tok/img:v1'), env => \%HBENV_SRC);
    my $bad = copy("http://tok\@127.0.0.1:$port/tok/img:v1",
                   d3url('tok/bad:v1'),
                   env => { REPL_SRC_PASSWORD => 'no' . $HPW });
    kill 'TERM', $pid;
    waitpid($pid, 0);

    is($r->{rc}, 0, 'token service: the copy succeeds') or diag($r->{all});
    my $tokens = Harbor::Clients::read_file($issued) // 0;
    ok($tokens >= 2, "token service: expired tokens were replaced "
       . "($tokens issued)");
    my $g = HTTP::Tiny->new(timeout => 10)->get(
        'http://' . $d3->host . "/v2/tok/img/blobs/$ld");
    ok($g->{status} == 200 && $g->{content} eq $layer,
       'token service: the layer arrived whole');
    no_secret($r, 'token service');

    is($bad->{rc}, $RC{fatal}, 'token service, wrong password: REPL_FATAL')
        or diag($bad->{all});
    like($bad->{result}, qr/source refused the credentials of user tok: token service at 127\.0\.0\.1:$port answered 401/,
         'token service, wrong password: says so') or diag($bad->{all});
    no_secret($bad, 'token service, wrong password');
}

{
    # a source that lies: the blob it serves is not the one its digest
    # names.  Nothing is committed at the destination.
    my $good = 'x' x 100000;
    my $evil = 'y' x 100000;
    my $bd = 'sha256:' . Digest::SHA::sha256_hex($good);
    my $cfg = '{"architecture":"amd64","os":"linux"}';
    my $cd = 'sha256:' . Digest::SHA::sha256_hex($cfg);
    my $m = oci_manifest($cfg, $bd, 100000);
    my %files = ("/v2/" => '{}', "/v2/liar/img/manifests/v1" => $m,
                 '/v2/_catalog?n=1000' => '{"repositories":["a","b/c"]}',
                 '/v2/_catalog?last=b%2Fc&n=1000' => '{"repositories":["d"]}',
                 '/v2/a/tags/list?n=1000' => '{"name":"a","tags":["t1"]}',
                 '/v2/a/tags/list?last=t1&n=1000' =>
                     '{"name":"a","tags":["t2"]}',
                 "/v2/liar/img/blobs/$cd" => $cfg,
                 "/v2/liar/img/blobs/$bd" => $evil);

    my ($port, $pid) = Harbor::Clients::fake_registry(sub {
        my ($method, $path) = @_;
        my $body = $files{$path};
        return (404, '', '') unless defined $body;
        my $ct = $path =~ /manifests/ ? MT_OCI_MANIFEST
               : 'application/octet-stream';
        my $link = $path eq '/v2/_catalog?n=1000'
            ? "Link: </v2/_catalog?last=b%2Fc&n=1000>; rel=\"next\"\r\n"
            : $path eq '/v2/a/tags/list?n=1000'
            ? "Link: <http://127.0.0.1:1/v2/a/tags/list?last=t1&n=1000>;"
              . " rel=\"next\"\r\n"
            : '';
        return (200, "Content-Type: $ct\r\n$link", $body);
    });

    # Link headers followed (an absolute one on this registry only)
    my $l = one(['-l'], "http://127.0.0.1:$port/");
    is($l->{out}, "a\nb/c\nd\n", 'the catalog, following Link')
        or diag($l->{all});
    $l = one(['-l'], "http://127.0.0.1:$port/a");
    is($l->{out}, "t1\nt2\n", 'the tags, following Link')
        or diag($l->{all});

    my $r = copy("http://127.0.0.1:$port/liar/img:v1", d3url('liar/img:v1'));
    kill 'TERM', $pid;
    waitpid($pid, 0);

    is($r->{rc}, $RC{error}, 'a blob that does not match its digest: '
       . 'REPL_ERROR') or diag($r->{all});
    like($r->{result}, qr/source sent blob \Q$bd\E of liar\/img \(127\.0\.0\.1:$port\) with the wrong content/,
         'says which blob and which source') or diag($r->{all});
    my $ua = HTTP::Tiny->new(timeout => 10);
    is($ua->request('HEAD', 'http://' . $d3->host
       . "/v2/liar/img/blobs/$bd")->{status}, 404,
       'the blob is not at the destination');
    is($ua->request('HEAD', 'http://' . $d3->host
       . '/v2/liar/img/manifests/v1')->{status}, 404,
       'nor the manifest');
}

{
    # a destination whose upload location is another origin: the bytes go
    # there, the destination's password does not
    my $blob = 'z' x 4096;
    my $bd = 'sha256:' . Digest::SHA::sha256_hex($blob);
    my $cfg = '{"architecture":"amd64","os":"linux"}';
    my $cd = 'sha256:' . Digest::SHA::sha256_hex($cfg);
    my $m = oci_manifest($cfg, $bd, 4096);
    my %files = ('/v2/' => '{}', '/v2/away/img/manifests/v1' => $m,
                 "/v2/away/img/blobs/$cd" => $cfg,
                 "/v2/away/img/blobs/$bd" => $blob);
    my ($sport, $spid) = Harbor::Clients::fake_registry(sub {
        my ($method, $path) = @_;
        my $body = $files{$path};
        return defined $body ? (200, "Content-Type: "
            . ($path =~ /manifests/ ? MT_OCI_MANIFEST
                                    : 'application/octet-stream') . "\r\n",
            $body) : (404, '', '');
    });

    my $seen = "$dir/away-auth";
    Harbor::Clients::write_file($seen, '');
    my ($uport, $upid) = Harbor::Clients::fake_registry(sub {
        my ($method, $path, $h) = @_;
        open my $fh, '>>', $seen or die "$seen: $!";
        print $fh "$method " . ($h->{authorization} // '-') . "\n";
        close $fh;
        my ($d) = $path =~ /digest=([^&]+)/;
        $d =~ s/%3A/:/i if defined $d;
        return (201, 'Location: /v2/away/img/blobs/' . ($d // 'x') . "\r\n"
                     . 'Docker-Content-Digest: ' . ($d // '') . "\r\n", '');
    });

    my $basic = 'Basic ' . MIME::Base64::encode_base64("away:$PW", '');
    my ($dport, $dpid) = Harbor::Clients::fake_registry(sub {
        my ($method, $path, $h) = @_;
        return (401, "WWW-Authenticate: Basic realm=\"away\"\r\n", '')
            unless ($h->{authorization} // '') eq $basic;
        return (404, '', '') if $method eq 'HEAD';
        return (202, "Location: http://127.0.0.1:$uport/elsewhere/u1\r\n"
                     . "Range: 0-0\r\n", '')
            if $method eq 'POST' && $path =~ m{/blobs/uploads/};
        return (201, "Docker-Content-Digest: x\r\n", '')
            if $method eq 'PUT' && $path =~ m{/manifests/};
        return (200, '', '{}');
    });

    my $r = copy("http://127.0.0.1:$sport/away/img:v1",
                 "http://away\@127.0.0.1:$dport/away/img:v1",
                 env => { REPL_DST_PASSWORD => $PW });
    for ($spid, $upid, $dpid) { kill 'TERM', $_; waitpid($_, 0) }

    my $log = Harbor::Clients::read_file($seen) // '';
    like($log, qr/^PUT /m, 'the blob went to the upload location elsewhere')
        or diag($r->{all});
    unlike($log, qr/Basic|Bearer/,
           'and no credential of the destination went with it') or diag($log);
}

$d1->stop;
$d2->stop;
$d3->stop;
$d4->stop;
$s->t->check_alerts;

done_testing;
