#!/usr/bin/perl

# Bearer tokens and the size of request headers, with the shipped header
# buffers: authd's real token (with the certificate in its header) and
# one at the module's 8 KiB cap are taken; one over the cap is refused
# with the registry's 401; and one over nginx's header buffers, which
# nginx refuses before any location is chosen, gets the registry's 401
# with the challenge too, not nginx's HTML page.

use warnings;
use strict;

use FindBin;
use lib "$FindBin::Bin/lib";

use Test::More;
use MIME::Base64 qw(decode_base64url);
use Harbor::Test qw(:all);
use Harbor::Stack;

###############################################################################

my $s = Harbor::Stack->new;
my $t = $s->t;
my $host = $s->host;

$s->create_project('big', public => 0);

my $tok = $s->bearer(user => 'admin', pass => $Harbor::Stack::ADMIN_PASSWORD,
    scope => 'repository:big/app:pull,push');

my $header = decode_json(decode_base64url((split /\./, $tok)[0]));
ok(ref $header->{x5c} eq 'ARRAY' && @{$header->{x5c}},
    'authd\'s token carries its certificate (x5c)');
diag('authd token: ' . length($tok) . ' bytes');

my $r = $s->v2(POST => "/v2/big/app/blobs/uploads/?digest=" . sha256('hello'),
    token => $tok, body => 'hello');
is($r->{status}, 201, 'authd\'s token: a push');

# a token of exactly the module's cap, signed with authd's key

sub token_of {
    my ($len) = @_;
    my $access = [{ type => 'repository', name => 'big/app',
                    actions => ['pull', 'push'] }];
    my ($pad, $jwt) = ('');
    while (1) {
        $jwt = $s->jwt_rs256($s->key_file, $s->header_like,
            $s->claims_like(access => $access, pad => $pad));
        my $gap = $len - length $jwt;
        last if $gap < 8;
        # base64url: 4 characters for every 3 bytes
        $pad .= 'p' x (int($gap * 3 / 4) - 1);
    }
    return $jwt;
}

my $cap = token_of(8192 - 3);
cmp_ok(length $cap, '<=', 8192, 'a token just under the cap: ' . length $cap);
cmp_ok(length $cap, '>', 8100, 'and close to it');

$r = $s->v2(GET => '/v2/big/app/blobs/' . sha256('hello'), token => $cap);
is($r->{status}, 200, 'a token at the module\'s cap passes the header buffers');
is($r->{body}, 'hello', 'and pulls');

# over the module's cap, within nginx's buffers: the module refuses it

my $over = token_of(12000);
cmp_ok(length $over, '>', 8192, 'a token over the cap: ' . length $over);

$r = $s->v2(GET => '/v2/big/app/tags/list', token => $over);
$t->is_error($r, 401, 'UNAUTHORIZED', 'over the cap: the registry\'s 401');
like($r->{headers}{'www-authenticate'} || '',
     qr/scope="repository:big\/app:pull"/, 'with the challenge');

# over nginx's header buffers: refused before a location is chosen

my $huge = 'e30.' . ('A' x 20000) . '.sig';

for my $case (['GET', '/v2/big/app/tags/list', 'repository:big/app:pull'],
              ['POST', '/v2/big/app/blobs/uploads/',
               'repository:big/app:pull,push'],
              ['GET', '/v2/_catalog', 'registry:catalog:\*'])
{
    my ($m, $path, $scope) = @$case;
    $r = $s->v2($m => $path, token => $huge);
    $t->is_error($r, 401, 'UNAUTHORIZED',
        "$m $path, headers over the buffers: the registry's 401");
    like($r->{headers}{'www-authenticate'} || '',
         qr/^Bearer realm="http:\/\/\Q$host\E\/service\/token",service="harbor-registry",scope="$scope",error="invalid_token"$/,
         "$m $path: with the challenge for the route");
    is($t->json($r)->{errors}[0]{message} || '',
       'the token is invalid or has expired',
       "$m $path: the message of a token over the cap");
}

# the same outside the registry: Harbor's JSON, not nginx's HTML

$r = $s->http(GET => '/api/v2.0/projects', headers => [Cookie => 'x' x 20000]);
is($r->{status}, 400, 'an oversized header on /api: 400');
like($r->{headers}{'content-type'} || '', qr{^application/json},
    '/api: JSON');
is(eval { decode_json($r->{body})->{errors}[0]{code} } || '', 'BAD_REQUEST',
    '/api: Harbor\'s error format');

# and the server goes on

$r = $s->v2(GET => '/v2/big/app/blobs/' . sha256('hello'), token => $tok);
is($r->{status}, 200, 'a normal request after them');

$s->stop;

done_testing();
