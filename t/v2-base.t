#!/usr/bin/perl

# Tests for the /v2/ base route, the common headers, the error format,
# unknown paths (404 NOT_FOUND) and unsupported methods (405 UNSUPPORTED).

use warnings;
use strict;

use FindBin;
use lib "$FindBin::Bin/lib";

use Test::More;
use Harbor::Test qw(:all);

###############################################################################

my $t = Harbor::Test->new;
$t->run;

my $api = 'docker-distribution-api-version';

# GET /v2/

my $r = $t->http(GET => '/v2/');
is($r->{status}, 200, 'GET /v2/');
is($r->{headers}{$api}, 'registry/2.0', 'GET /v2/ api version');
is_deeply($t->json($r), {}, 'GET /v2/ body is {}');
like($r->{headers}{'content-type'}, qr{^application/json}, 'GET /v2/ json');

$r = $t->http(HEAD => '/v2/');
is($r->{status}, 200, 'HEAD /v2/');
is($r->{headers}{$api}, 'registry/2.0', 'HEAD /v2/ api version');
is($r->{body}, '', 'HEAD /v2/ no body');
is($r->{trailing}, '', 'HEAD /v2/ nothing after headers');

# query string on the base route is harmless
$r = $t->http(GET => '/v2/?foo=bar');
is($r->{status}, 200, 'GET /v2/?foo=bar');

# unsupported methods on /v2/

for my $m (qw(POST PUT DELETE PATCH)) {
    $t->is_error($t->http($m => '/v2/'), 405, 'UNSUPPORTED', "$m /v2/");
}

# unknown paths under /v2/

for my $p ('/v2/nonexistent', '/v2/library/a', '/v2/library/a/',
    '/v2/library/a/foo/bar', '/v2/library/a/blob/sha256:' . 'a' x 64,
    '/v2/library/a/manifest/latest', '/v2/library/a/tags',
    '/v2/library/a/tags/list/x', '/v2/library/a/referrers',
    '/v2/_catalog/x', '/v2/library/a/blobs/uploads/x/y')
{
    $t->is_error($t->http(GET => $p), 404, 'NOT_FOUND', "GET $p");
}

$r = $t->http(HEAD => '/v2/library/a/foo/bar');
$t->is_error($r, 404, 'NOT_FOUND', 'HEAD unknown path');
is($r->{body}, '', 'HEAD unknown path no body');

# the error format

$r = $t->http(GET => '/v2/nonexistent');
my $j = $t->json($r);
is(ref $j->{errors}, 'ARRAY', 'errors is an array');
is(scalar @{$j->{errors} || []}, 1, 'one error');
is_deeply([sort grep { !/^(code|message|detail)$/ } keys %{$j->{errors}[0]}],
    [], 'error has only code, message, detail');
ok(length($j->{errors}[0]{message} || ''), 'error has a message');
is($r->{headers}{'content-length'}, length $r->{body},
    'error Content-Length matches body');

# unsupported methods on each route (405 UNSUPPORTED)

my $d = sha256('x');
my $uuid = '0b3b6a2e-1d6c-4bb4-9a47-2c1f0f9c1a11';

my @m = (
    [PUT     => '/v2/_catalog'],
    [POST    => '/v2/_catalog'],
    [DELETE  => '/v2/_catalog'],
    [PUT     => '/v2/library/a/tags/list'],
    [POST    => '/v2/library/a/tags/list'],
    [DELETE  => '/v2/library/a/tags/list'],
    [POST    => '/v2/library/a/manifests/latest'],
    [PATCH   => '/v2/library/a/manifests/latest'],
    [POST    => "/v2/library/a/blobs/$d"],
    [PUT     => "/v2/library/a/blobs/$d"],
    [PATCH   => "/v2/library/a/blobs/$d"],
    [GET     => '/v2/library/a/blobs/uploads/'],
    [PUT     => '/v2/library/a/blobs/uploads/'],
    [PATCH   => '/v2/library/a/blobs/uploads/'],
    [DELETE  => '/v2/library/a/blobs/uploads/'],
    [POST    => "/v2/library/a/blobs/uploads/$uuid"],
    [POST    => "/v2/library/a/referrers/$d"],
    [PUT     => "/v2/library/a/referrers/$d"],
    [DELETE  => "/v2/library/a/referrers/$d"],
);

for my $m (@m) {
    $t->is_error($t->http(@$m), 405, 'UNSUPPORTED', "$m->[0] $m->[1]");
}

# other methods nginx knows go to the registry, which refuses them

$t->is_error($t->http(OPTIONS => '/v2/library/a/manifests/latest'),
    405, 'UNSUPPORTED', 'OPTIONS manifest');
$t->is_error($t->http(MKCOL => '/v2/library/a/blobs/uploads/'),
    405, 'UNSUPPORTED', 'MKCOL uploads');

# keep-alive: two requests on one connection both answered

$r = $t->http(GET => '/v2/', raw =>
    "GET /v2/ HTTP/1.1\r\nHost: localhost\r\n\r\n"
    . "GET /v2/nonexistent HTTP/1.1\r\nHost: localhost\r\n"
    . "Connection: close\r\n\r\n");
my @st = $r->{raw} =~ m{HTTP/1\.1 (\d{3}) }g;
is_deeply(\@st, [200, 404], 'pipelined requests');

# HTTP/1.0

$r = $t->http(GET => '/v2/', raw => "GET /v2/ HTTP/1.0\r\n\r\n");
is($r->{status}, 200, 'HTTP/1.0');
is($r->{body}, '{}', 'HTTP/1.0 body');

$t->stop;

done_testing;

###############################################################################
