#!/usr/bin/perl

# Token signing algorithms, end to end:
#
#   A. authd with token_algorithm ES256 and token_x5c false: tokens carry
#      alg ES256, a kid and no certificate, and are a third of the RS256
#      size; the module verifies them (skopeo pushes and pulls, a tampered
#      signature and an RS256 token of another key get the OCI 401).
#   B. Debian's docker-registry (CNCF distribution 2.8) configured with
#      authd as its token service and authd's certificate as its
#      rootcertbundle accepts both kinds: RS256 with x5c (the default;
#      distribution checks the chain) and ES256 without x5c (distribution
#      finds the key by its libtrust kid).

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use Test::More;
use MIME::Base64 qw(decode_base64url encode_base64url);

use Harbor::Stack;
use Harbor::Clients;

sub cmd_ok { Harbor::Clients::cmd_ok(@_) }

my $es = Harbor::Stack->new(workers => 2, authd_conf => {
    'authd.token_algorithm' => 'ES256',
    'authd.token_x5c'       => 'false',
});
my $rs = Harbor::Stack->new(workers => 2);

my $scope = 'repository:library/es:pull,push';

# A. the tokens, and the module with them

my $t = $es->token(user => 'admin', pass => $Harbor::Stack::ADMIN_PASSWORD,
                   scope => $scope);
is($t->{status}, 200, 'ES256 token issued');
is($t->{header}{alg}, 'ES256', 'header alg ES256');
like($t->{header}{kid} // '', qr/^([A-Z2-7]{4}:){11}[A-Z2-7]{4}$/,
     'libtrust kid');
ok(!exists $t->{header}{x5c}, 'no x5c');
my $sig = (split /\./, $t->{json}{token})[2];
is(length(decode_base64url($sig)), 64, 'signature is r || s, 64 bytes');

my $r = $rs->token(user => 'admin', pass => $Harbor::Stack::ADMIN_PASSWORD,
                   scope => $scope);
is($r->{header}{alg}, 'RS256', 'the default stays RS256');
ok($r->{header}{x5c}, 'with x5c');
my ($les, $lrs) = (length $t->{json}{token}, length $r->{json}{token});
ok($les * 2 < $lrs, "ES256 without x5c is much smaller: $les vs $lrs bytes");

my $c = $es->clients;
my $dir = $es->dir;
$c->mkimage("$dir/img", tag => 'v1', layers => '2k,300k', seed => 'es256');
my $cred = "admin:$Harbor::Stack::ADMIN_PASSWORD";

cmd_ok($c->skopeo('copy', '--dest-tls-verify=false', '--dest-creds', $cred,
                  "oci:$dir/img:v1", 'docker://' . $es->host . '/library/es:v1'),
       'skopeo pushes with ES256 tokens');
cmd_ok($c->skopeo('copy', '--src-tls-verify=false', '--src-creds', $cred,
                  'docker://' . $es->host . '/library/es:v1',
                  "oci:$dir/back:v1"),
       'and pulls back');
Harbor::Clients::layouts_same("$dir/img", 'v1', "$dir/back", 'v1',
                              'the same image');

my $tok = $t->{json}{token};
my $v = $es->v2(GET => '/v2/library/es/tags/list', token => $tok);
is($v->{status}, 200, 'tags list with the ES256 token');

# a flipped bit in s
my $raw = decode_base64url($sig);
substr($raw, 40, 1) = chr(ord(substr($raw, 40, 1)) ^ 1);
(my $bad = $tok) =~ s/\.[^.]+$/'.' . encode_base64url($raw)/e;
$v = $es->v2(GET => '/v2/library/es/tags/list', token => $bad);
is($v->{status}, 401, 'a tampered ES256 signature: 401');
like($v->{body}, qr/"code":"UNAUTHORIZED"/, 'OCI error JSON');

# an RS256 token (the other stack's key) is not accepted by an ES256 module
$v = $es->v2(GET => '/v2/library/es/tags/list', token => $r->{json}{token});
is($v->{status}, 401, 'RS256 token against the ES256 module: 401');

# B. distribution trusting authd

for my $s ([rs => $rs], [es => $es]) {
    my ($name, $st) = @$s;
    my $d = Harbor::Clients::Distribution->new(
        root => "$dir/dist-$name", dir => "$dir/dist-$name-conf",
        token => { realm => $st->url . '/service/token',
                   service => 'harbor-registry',
                   issuer => 'harbor-token-issuer',
                   rootcertbundle => $st->cert_file });
    $d->start;

    my $res = $c->skopeo('copy', '--dest-tls-verify=false',
                         '--dest-creds', $cred,
                         "oci:$dir/img:v1",
                         'docker://' . $d->host . '/library/es:v1');
    ok($res->{ok}, "distribution accepts $name tokens for a push")
        or diag($res->{out} . $d->log);
    cmd_ok($c->skopeo('inspect', '--tls-verify=false', '--creds', $cred,
                      'docker://' . $d->host . '/library/es:v1'),
           "and for a pull ($name)");

    my $anon = Harbor::Clients::http_get($d->url . '/v2/library/es/tags/list');
    is($anon->{status}, 401, "distribution still refuses no token ($name)");
    $d->stop;
}

done_testing();
