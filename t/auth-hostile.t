#!/usr/bin/perl

# Hostile tokens to the module (SECURITY.md, "Tokens"): every one is a 401.
# Tokens are made by hand, most of them signed with authd's own key (read
# from its key file) so that the one thing wrong with each is what the
# module must catch; a control token made the same way is accepted.
# Then the challenge the module sends, field by field.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use Test::More;
use File::Path qw(make_path);
use File::Temp qw(tempdir);
use JSON::PP ();
use MIME::Base64 qw(encode_base64 decode_base64 decode_base64url);
use Time::HiRes qw(time);

use Harbor::Test;
use Harbor::Stack;
use Harbor::Clients;

my $JSON = JSON::PP->new->utf8->canonical;

# an attacker's key and certificate, and a second server in the same nginx
# that trusts them (two registries behind one nginx, each with its own
# token service)
my $kdir = tempdir('hb-keys-XXXXXX', TMPDIR => 1, CLEANUP => 1);
chmod 0755, $kdir;
my ($akey, $acert) = Harbor::Stack::new_rsa_key($kdir, 'attacker');
my $port2 = Harbor::Clients::free_port();
my $store2 = "$kdir/registry2";
make_path($store2);
if ($> == 0) {
    my (undef, undef, $uid, $gid) = getpwnam('harbor');
    chown $uid, $gid, $store2;
}

my $s = Harbor::Stack->new(workers => 1, http => <<"EOF");
server {
    listen 127.0.0.1:$port2;
    location /v2/ {
        harbor_registry on;
        harbor_storage $store2;
        harbor_auth token;
        harbor_token_certificate $acert;
        harbor_token_issuer evil-issuer;
        harbor_token_service other-registry;
        harbor_token_realm "https://\$http_host/auth/token";
    }
}
EOF

my $host = $s->host;
my $pw = 'Passw0rd!';

$s->create_project('hp', public => 0);
$s->create_user('dev', password => $pw);
$s->add_member('hp', 'dev', 2);

my $admin = $s->bearer(user => 'admin', pass => $Harbor::Stack::ADMIN_PASSWORD,
    scope => [map { "repository:hp/$_:pull,push" } qw(a b ab ab/c)]);
my %img = map { ($_ => $s->push_image("hp/$_", $admin)) } qw(a b ab ab/c);
ok($img{$_}{ok}, "admin pushed hp/$_") for sort keys %img;

my $M = '/v2/hp/a/manifests/v1';

###############################################################################
# helpers

sub challenge {
    my ($scope, $error, $h) = @_;
    $h //= $host;
    return qq{Bearer realm="http://$h/service/token",service="harbor-registry"}
        . (defined $scope ? qq{,scope="$scope"} : '')
        . (defined $error ? qq{,error="$error"} : '');
}

sub body_message {
    my ($r) = @_;
    my $d = eval { $JSON->decode($r->{body}) };
    return ref $d eq 'HASH' && ref $d->{errors} eq 'ARRAY'
        ? ($d->{errors}[0]{code} // '') . ': ' . ($d->{errors}[0]{message} // '')
        : "(not an error body: $r->{body})";
}

# a token the module must refuse as invalid: 401, invalid_token, and the
# generic message (nothing about why)
sub invalid_ok {
    my ($tok, $name, %o) = @_;
    local $Test::Builder::Level = $Test::Builder::Level + 1;

    my $path = $o{path} // $M;
    my $r = $s->v2($o{method} // 'GET', $path,
                   headers => ['Authorization' => "Bearer $tok"]);
    my $scope = $o{scope} // 'repository:hp/a:pull';

    my @why;
    push @why, "status $r->{status}" unless $r->{status} == 401;
    my $wa = $r->{headers}{'www-authenticate'} // '';
    my $want = challenge($scope, 'invalid_token');
    push @why, "WWW-Authenticate: $wa\n  expected: $want" unless $wa eq $want;
    my $msg = body_message($r);
    push @why, "body $msg"
        unless $msg eq 'UNAUTHORIZED: the token is invalid or has expired';

    ok(!@why, "$name: 401 invalid_token") or diag(join "\n", @why);
}

sub accepted_ok {
    my ($tok, $name, %o) = @_;
    local $Test::Builder::Level = $Test::Builder::Level + 1;

    my $r = $s->v2(GET => $o{path} // $M, token => $tok);
    is($r->{status}, 200, "$name: accepted")
        or diag(substr($r->{raw}, 0, 500));
}

my $access_a = [{ type => 'repository', name => 'hp/a',
                  actions => ['pull', 'push', 'delete'] }];

sub claims { $s->claims_like(sub => 'dev', access => $access_a, @_) }
sub header { $s->header_like(@_) }

my $key = $s->key_file;

sub real {
    my ($h, $c) = @_;
    return $s->jwt_rs256($key, $h // header(), $c // claims());
}

###############################################################################
# controls: authd's own token, and a hand-made one with authd's key

{
    my $tok = $s->bearer(user => 'dev', pass => $pw,
                         scope => 'repository:hp/a:pull');
    accepted_ok($tok, 'a token from authd');
    accepted_ok(real(), 'a hand-made token signed with authd\'s key');
}

###############################################################################
# algorithm confusion and keys from the token

my $claims_b64 = Harbor::Stack::b64url($JSON->encode(claims()));

{
    my $h = Harbor::Stack::b64url($JSON->encode({ alg => 'none', typ => 'JWT' }));
    invalid_ok("$h.$claims_b64.", 'alg none, empty signature');
    invalid_ok("$h.$claims_b64", 'alg none, no signature part');

    # alg none in a header, over a signature that is authd's
    invalid_ok(real(header(alg => 'none')), 'alg none, signed with the right key');
    invalid_ok(real(header(alg => 'NONE')), 'alg NONE');
    invalid_ok(real(header(alg => 'HS256')), 'alg HS256, RSA signature');
    invalid_ok(real(header(alg => 'RS512')), 'alg RS512, RS256 signature');
    invalid_ok(real({ typ => 'JWT' }), 'no alg');
    invalid_ok(real(header(crit => ['exp'])), 'crit header');
}

# HS256 keyed with the public key, in every form a verifier might hold it
{
    my $cert_pem = Harbor::Clients::read_file($s->cert_file);
    my $pub_pem = qx{openssl x509 -in @{[$s->cert_file]} -pubkey -noout};
    my $pub_der = qx{openssl x509 -in @{[$s->cert_file]} -pubkey -noout | openssl pkey -pubin -outform DER};
    my $cert_der = qx{openssl x509 -in @{[$s->cert_file]} -outform DER};
    my $rsa_pub = qx{openssl x509 -in @{[$s->cert_file]} -pubkey -noout | openssl rsa -pubin -RSAPublicKey_out 2>/dev/null};

    ok(length $pub_pem && length $pub_der && length $cert_der,
       'the public key in PEM and DER');

    my %secrets = ('certificate PEM' => $cert_pem, 'public key PEM' => $pub_pem,
                   'public key DER' => $pub_der, 'certificate DER' => $cert_der,
                   'PKCS#1 public key PEM' => $rsa_pub);

    for my $k (sort keys %secrets) {
        next unless length $secrets{$k};
        invalid_ok($s->jwt_hs256($secrets{$k}, header(alg => 'HS256'), claims()),
                   "HS256 keyed with the $k");
    }
}

# RS256 with another key; that key offered in the token's header
{
    invalid_ok($s->jwt_rs256($akey, header(), claims()),
               'RS256 signed with another RSA key (authd\'s kid and x5c)');

    my ($mod) = qx{openssl rsa -in $akey -noout -modulus} =~ /Modulus=([0-9A-F]+)/;
    my $n = Harbor::Stack::b64url(pack('H*', $mod));
    my $jwk = { kty => 'RSA', e => 'AQAB', n => $n };

    my $acert_der = qx{openssl x509 -in $acert -outform DER};
    my $x5c = [encode_base64($acert_der, '')];

    invalid_ok($s->jwt_rs256($akey, { alg => 'RS256', typ => 'JWT', jwk => $jwk },
                             claims()), 'jwk header with the attacker\'s key');
    invalid_ok($s->jwt_rs256($akey, { alg => 'RS256', typ => 'JWT', x5c => $x5c },
                             claims()), 'x5c header with the attacker\'s certificate');
    invalid_ok($s->jwt_rs256($akey, header(x5c => $x5c, jwk => $jwk), claims()),
               'authd\'s kid, the attacker\'s x5c and jwk');
    invalid_ok($s->jwt_rs256($akey, { alg => 'RS256', typ => 'JWT',
                                      jku => "http://$host/evil.json" },
                             claims()), 'jku header');

    # an attacker certificate issued under the same name, sent as x5c with
    # a chain: still not the configured key
    invalid_ok($s->jwt_rs256($akey, header(x5c => [@$x5c, header()->{x5c}[0]]),
                             claims()), 'x5c chain ending in authd\'s certificate');
}

###############################################################################
# claims, with authd's key

my $now = int time;

invalid_ok(real(undef, claims(iss => 'evil-issuer')), 'wrong iss');
invalid_ok(real(undef, claims(iss => undef)), 'iss null');
{
    my $c = claims(); delete $c->{iss};
    invalid_ok(real(undef, $c), 'no iss');
}
invalid_ok(real(undef, claims(aud => 'other-registry')), 'wrong aud');
invalid_ok(real(undef, claims(aud => ['other-registry'])), 'wrong aud in an array');
{
    my $c = claims(); delete $c->{aud};
    invalid_ok(real(undef, $c), 'no aud');
}

invalid_ok(real(undef, claims(exp => $now - 120)), 'expired 120 s ago (beyond the 60 s leeway)');
invalid_ok(real(undef, claims(exp => $now - 3600, iat => $now - 5400, nbf => $now - 5400)),
           'expired an hour ago');
accepted_ok(real(undef, claims(exp => $now - 20)), 'expired 20 s ago (within the leeway)');

invalid_ok(real(undef, claims(nbf => $now + 120)), 'nbf 120 s in the future');
accepted_ok(real(undef, claims(nbf => $now + 20)), 'nbf 20 s in the future (within the leeway)');
invalid_ok(real(undef, claims(nbf => 'yesterday')), 'nbf a string');

{
    my $c = claims(); delete $c->{exp};
    invalid_ok(real(undef, $c), 'no exp');
}
invalid_ok(real(undef, claims(exp => "" . ($now + 600))), 'exp a string');
invalid_ok(real(undef, claims(exp => undef)), 'exp null');
invalid_ok(real(undef, claims(exp => JSON::PP::true)), 'exp true');

# the claims not JSON, or JSON with a key twice: signed, still refused
{
    my $h = Harbor::Stack::b64url($JSON->encode(header()));
    invalid_ok($s->jwt_rs256($key, header(), 'not json at all'), 'claims not JSON');
    invalid_ok($s->jwt_rs256($key, header(), '[1,2,3]'), 'claims a JSON array');

    my $good = $JSON->encode(claims(access => []));
    (my $dup = $good) =~ s/^\{/{"access":[{"type":"repository","name":"hp\/a","actions":["pull"]}],/;
    invalid_ok($s->jwt_rs256($key, header(), $dup), 'claims with "access" twice');
}

###############################################################################
# the token's access, used elsewhere

sub insufficient_ok {
    my ($r, $scope, $name) = @_;
    local $Test::Builder::Level = $Test::Builder::Level + 1;

    my @why;
    push @why, "status $r->{status}" unless $r->{status} == 401;
    my $wa = $r->{headers}{'www-authenticate'} // '';
    my $want = challenge($scope, 'insufficient_scope');
    push @why, "WWW-Authenticate: $wa\n  expected: $want" unless $wa eq $want;
    ok(!@why, "$name: 401 insufficient_scope") or diag(join "\n", @why);
    return $r;
}

{
    my $tok_a = $s->bearer(user => 'dev', pass => $pw,
                           scope => 'repository:hp/a:pull,push');

    my $r = insufficient_ok($s->v2(GET => '/v2/hp/b/manifests/v1', token => $tok_a),
                            'repository:hp/b:pull', 'token for hp/a used on hp/b');
    is(body_message($r), 'UNAUTHORIZED: the token does not allow pull on hp/b',
       'token for hp/a on hp/b: the message names the action and repository');

    insufficient_ok($s->v2(GET => '/v2/hp/ab/manifests/v1', token => $tok_a),
                    'repository:hp/ab:pull', 'token for hp/a used on hp/ab');

    # ".." is resolved by nginx before the module sees the path
    insufficient_ok($s->v2(GET => '/v2/hp/a/../b/manifests/v1', token => $tok_a),
                    'repository:hp/b:pull', 'token for hp/a, path hp/a/../b');
    insufficient_ok($s->v2(GET => '/v2/hp/a/%2e%2e/b/manifests/v1', token => $tok_a),
                    'repository:hp/b:pull', 'token for hp/a, path hp/a/%2e%2e/b');

    my $tok_ab = $s->bearer(user => 'dev', pass => $pw,
                            scope => 'repository:hp/ab:pull,push,delete');
    insufficient_ok($s->v2(GET => '/v2/hp/ab/c/manifests/v1', token => $tok_ab),
                    'repository:hp/ab/c:pull', 'token for hp/ab used on hp/ab/c');
    insufficient_ok($s->v2(PUT => '/v2/hp/ab/c/manifests/v2', token => $tok_ab,
                           body => $img{'ab/c'}{manifest},
                           headers => ['Content-Type' => MT_OCI_MANIFEST]),
                    'repository:hp/ab/c:pull,push', 'push token for hp/ab used on hp/ab/c');
    is($s->v2(GET => '/v2/hp/ab/manifests/v1', token => $tok_ab)->{status}, 200,
       'the hp/ab token works on hp/ab');

    # one method, one action (zot: a push-only token allowed DELETE)
    my $pull_only = $s->bearer(user => 'dev', pass => $pw,
                               scope => 'repository:hp/a:pull');
    insufficient_ok($s->v2(POST => '/v2/hp/a/blobs/uploads/', token => $pull_only),
                    'repository:hp/a:pull,push', 'pull token used to push');

    my $push_only = real(undef, claims(access => [{ type => 'repository',
        name => 'hp/a', actions => ['push'] }]));
    insufficient_ok($s->v2(DELETE => "/v2/hp/a/manifests/$img{a}{digest}",
                           token => $push_only),
                    'repository:hp/a:delete', 'push-only token used to DELETE');
    insufficient_ok($s->v2(GET => $M, token => $push_only),
                    'repository:hp/a:pull', 'push-only token used to pull');
    insufficient_ok($s->v2(GET => '/v2/_catalog', token => $push_only),
                    'registry:catalog:*', 'repository token used on the catalog');

    # a catalog grant is not a repository grant
    my $cat = real(undef, claims(access => [{ type => 'registry',
        name => 'catalog', actions => ['*'] }]));
    is($s->v2(GET => '/v2/_catalog', token => $cat)->{status}, 200,
       'catalog token lists the catalog');
    insufficient_ok($s->v2(GET => $M, token => $cat), 'repository:hp/a:pull',
                    'catalog token used on a repository');

    # "type" must be repository: a grant of another type named hp/a
    my $other = real(undef, claims(access => [{ type => 'registry',
        name => 'hp/a', actions => ['pull', '*'] }]));
    insufficient_ok($s->v2(GET => $M, token => $other), 'repository:hp/a:pull',
                    'a "registry" grant named hp/a used on the repository');

    is($s->v2(GET => "/v2/hp/a/manifests/$img{a}{digest}", token => $admin)->{status},
       200, 'hp/a is untouched');
}

###############################################################################
# size and shape

{
    # exactly at the 8 KiB cap: accepted; one byte over: refused.  The
    # length is worked out before signing (the signature's length is fixed
    # by the key); base64 skips some lengths, so the header varies too.
    my $target = 8192;
    my $siglen = length((split /\./, real())[2]);
    my $len = sub {
        my ($h, $c) = @_;
        return length(Harbor::Stack::b64url($JSON->encode($h))) + 1
             + length(Harbor::Stack::b64url($JSON->encode($c))) + 1 + $siglen;
    };
    my ($tok_at, $tok_over);
    my $base_claims = claims();

    for my $kp (0 .. 3) {
        my $h = header(x_pad => 'y' x $kp);
        for my $pad (0 .. $target) {
            my $c = { %$base_claims, pad => 'x' x $pad };
            my $l = $len->($h, $c);
            $tok_at //= real($h, $c) if $l == $target;
            $tok_over //= real($h, $c) if $l == $target + 1;
            last if $l > $target + 4;
        }
        last if $tok_at && $tok_over;
    }

    ok($tok_at && $tok_over, 'tokens of 8192 and 8193 bytes made');
    accepted_ok($tok_at, 'a token of exactly 8192 bytes') if $tok_at;
    invalid_ok($tok_over, 'a token of 8193 bytes') if $tok_over;

    my $big = real(header(), claims(pad => 'x' x 20000));
    invalid_ok($big, 'a token of ' . length($big) . ' bytes');

    # far beyond nginx's header buffers: nginx itself refuses, never a 200
    my $huge = real(header(), claims(pad => 'x' x 100000));
    my $r = $s->v2(GET => $M, headers => ['Authorization' => "Bearer $huge"]);
    ok($r->{status} == 400 || $r->{status} == 401 || $r->{status} == 494,
       "a token of " . length($huge) . " bytes: refused ($r->{status})");
}

{
    my $good = real();
    my ($h, $c, $sig) = split /\./, $good;

    invalid_ok("$h.$c", '2 parts');
    invalid_ok("$h.$c.$sig.$sig", '4 parts');
    invalid_ok("$h.$c.$sig.", '4 parts, the last empty');
    invalid_ok("$h..$sig", 'empty claims part');
    invalid_ok(".$c.$sig", 'empty header part');
    invalid_ok('..', 'three empty parts');
    invalid_ok("$h.$c.$sig=", 'base64 padding in the signature');
    (my $std = $sig) =~ tr/-_/+\//;
    invalid_ok("$h.$c.$std", 'standard base64 alphabet in the signature')
        if $std ne $sig;
    invalid_ok("$h.$c.\x{e9}$sig", 'a non-ASCII byte in the signature');
    invalid_ok("$h.$c.${sig}A", 'a signature one character longer');
    invalid_ok("$h.$c." . substr($sig, 0, -1), 'a signature one character shorter');
    (my $flip = $sig) =~ s/^(.)/$1 eq 'A' ? 'B' : 'A'/e;
    invalid_ok("$h.$c.$flip", 'a signature with a changed character');
    invalid_ok("$h.$c%20.$sig", 'a URL-escaped byte in the claims');
    invalid_ok("$h.${c}x.$sig", 'claims with a character appended');
    invalid_ok('garbage', 'garbage');
    invalid_ok('a.b.c', 'a.b.c');
    invalid_ok('!!!.!!!.!!!', 'not base64 at all');
    invalid_ok("$h.$c.$sig" =~ s/\./ /r, 'spaces for dots');

    # a whitespace around the token is not part of it
    my $r = $s->v2(GET => $M, headers => ['Authorization' => "Bearer $good extra"]);
    is($r->{status}, 401, 'a token followed by another word: 401');

    # no token, or not a bearer one: the challenge without an error
    for my $case (['Basic ' . encode_base64("dev:$pw", ''), 'Basic credentials'],
                  ['Bearer', 'Bearer without a token'],
                  ['Bearer ', 'Bearer and a space'],
                  ['Token ' . $good, 'another scheme'],
                  ['', 'an empty Authorization'])
    {
        my $r = $s->v2(GET => $M, headers => ['Authorization' => $case->[0]]);
        ok($r->{status} == 401 && ($r->{headers}{'www-authenticate'} // '')
               eq challenge('repository:hp/a:pull'),
           "$case->[1]: 401 with the challenge") or diag($r->{raw});
    }
}

###############################################################################
# a verified token is remembered: until it expires, and only where it was
# verified

{
    # accepted within the leeway, then refused once exp + 60 s has passed,
    # although it is in the worker's cache
    my $exp = int(time) - 57;
    my $tok = real(undef, claims(exp => $exp));
    accepted_ok($tok, 'a token 57 s past exp (cached now)');

    my $st = Harbor::Authd::wait_for(10, sub {
        my $r = $s->v2(GET => $M, token => $tok);
        return $r->{status} == 401 ? time : 0;
    });
    ok($st, 'the cached token is refused once beyond the leeway');
    ok($st && $st >= $exp + 60, 'and not before exp + 60 s')
        if $st;
}

{
    # The other server: its own key, issuer, service and realm.
    my $r0 = $s->v2(GET => $M, port => $port2,
                    headers => [Host => "127.0.0.1:$port2"]);
    is($r0->{headers}{'www-authenticate'},
       qq{Bearer realm="https://127.0.0.1:$port2/auth/token",}
       . qq{service="other-registry",scope="repository:hp/a:pull"},
       'harbor_token_realm with variables, harbor_token_service in the challenge');

    # A token of the other server (its key, iss and aud): accepted there,
    # refused here, whatever the order.
    my $x = $s->jwt_rs256($akey, { alg => 'RS256', typ => 'JWT' },
                          claims(sub => 'mallory', iss => 'evil-issuer',
                                 aud => 'other-registry'));

    invalid_ok($x, 'attacker token, before the other server saw it');

    my $r = $s->v2(GET => '/v2/', token => $x, port => $port2);
    is($r->{status}, 200, 'the other server (which trusts that key) accepts it');

    invalid_ok($x, 'attacker token, after the other server accepted it');

    my $r2 = $s->v2(PUT => '/v2/hp/a/manifests/mallory', token => $x,
                    body => $img{a}{manifest},
                    headers => ['Content-Type' => MT_OCI_MANIFEST]);
    is($r2->{status}, 401, 'and it cannot push here either');

    # and the other way: authd's token, once used here, is nothing there
    my $tok = real();
    accepted_ok($tok, 'authd-signed token here');
    $r = $s->v2(GET => '/v2/', token => $tok, port => $port2);
    is($r->{status}, 401, 'the same token on the other server: 401');
}

###############################################################################
# the challenge, exactly

{
    my $dg = $img{a}{digest};
    my $ld = $img{a}{layers}[0];
    my $uuid = '0c1e9a3a-5d6b-4a6e-9f5e-2b1d8f3c4a11';

    my @cases = (
        [GET    => '/v2/',                                  undef],
        [GET    => $M,                                      'repository:hp/a:pull'],
        [HEAD   => $M,                                      'repository:hp/a:pull'],
        [GET    => "/v2/hp/a/blobs/$ld",                    'repository:hp/a:pull'],
        [HEAD   => "/v2/hp/a/blobs/$ld",                    'repository:hp/a:pull'],
        [GET    => '/v2/hp/a/tags/list',                    'repository:hp/a:pull'],
        [GET    => "/v2/hp/a/referrers/$dg",                'repository:hp/a:pull'],
        [PUT    => '/v2/hp/a/manifests/v2',                 'repository:hp/a:pull,push'],
        [POST   => '/v2/hp/a/blobs/uploads/',               'repository:hp/a:pull,push'],
        [PATCH  => "/v2/hp/a/blobs/uploads/$uuid",          'repository:hp/a:pull,push'],
        [PUT    => "/v2/hp/a/blobs/uploads/$uuid?digest=$ld", 'repository:hp/a:pull,push'],
        [GET    => "/v2/hp/a/blobs/uploads/$uuid",          'repository:hp/a:pull,push'],
        [DELETE => "/v2/hp/a/blobs/uploads/$uuid",          'repository:hp/a:pull,push'],
        [DELETE => "/v2/hp/a/manifests/$dg",                'repository:hp/a:delete'],
        [DELETE => '/v2/hp/a/manifests/v1',                 'repository:hp/a:delete'],
        [DELETE => "/v2/hp/a/blobs/$ld",                    'repository:hp/a:delete'],
        [GET    => '/v2/_catalog',                          'registry:catalog:*'],
        [GET    => '/v2/hp/a/b/c/manifests/v1',             'repository:hp/a/b/c:pull'],
    );

    my $bad = real(undef, claims(exp => $now - 3600));
    my $none = real(undef, claims(access => []));

    for my $c (@cases) {
        my ($m, $p, $scope) = @$c;

        my $r = $s->v2($m, $p);
        is($r->{headers}{'www-authenticate'}, challenge($scope),
           "$m $p, no token: challenge") or diag($r->{raw});
        is($r->{status}, 401, "$m $p, no token: 401");
        is(body_message($r), 'UNAUTHORIZED: authentication required',
           "$m $p, no token: body") unless $m eq 'HEAD';
        is($r->{headers}{'docker-distribution-api-version'}, 'registry/2.0',
           "$m $p, no token: API version header");

        $r = $s->v2($m, $p, token => $bad);
        is($r->{headers}{'www-authenticate'}, challenge($scope, 'invalid_token'),
           "$m $p, expired token: challenge with error=\"invalid_token\"");

        next unless defined $scope;

        # a valid token without the right: insufficient_scope (a HEAD of a
        # blob answers 404 instead, see docs)
        $r = $s->v2($m, $p, token => $none);
        if ($m eq 'HEAD' && $p =~ m{/blobs/}) {
            is($r->{status}, 404, "$m $p, token without rights: 404");
        } else {
            is($r->{headers}{'www-authenticate'},
               challenge($scope, 'insufficient_scope'),
               "$m $p, token without rights: error=\"insufficient_scope\"");
        }
    }

    # a valid token on the base: 200, no challenge
    my $r = $s->v2(GET => '/v2/', token => $none);
    ok($r->{status} == 200 && !defined $r->{headers}{'www-authenticate'},
       'GET /v2/ with any valid token: 200');

    # the realm follows the Host the client used; a Host that cannot go
    # into a quoted string as it is does not
    $r = $s->v2(GET => $M, headers => [Host => 'registry.example.com:5000']);
    is($r->{headers}{'www-authenticate'},
       challenge('repository:hp/a:pull', undef, 'registry.example.com:5000'),
       'realm from the Host header');

    $r = $s->v2(GET => $M, headers => [Host => 'evil"x,error="y']);
    my $wa = $r->{headers}{'www-authenticate'} // '';
    ok($r->{status} == 400
       || $wa eq challenge('repository:hp/a:pull', undef, 'localhost'),
       'a Host with quotes does not get into the challenge') or diag($r->{raw});

    # an invalid repository name: a challenge without a scope to ask for
    $r = $s->v2(GET => '/v2/hp/UPPER/manifests/v1');
    is($r->{headers}{'www-authenticate'}, challenge(undef),
       'invalid name, no token: challenge without a scope');
    $r = $s->v2(GET => '/v2/hp/UPPER/manifests/v1', token => $none);
    is($r->{status}, 400, 'invalid name with a valid token: 400 NAME_INVALID');
}

$s->stop;

done_testing;
