#!/usr/bin/perl

# Hostile input: path traversal and invalid characters in repository names
# on every route, overlong names, names that look like routes, JSON that is
# deep or has duplicate keys, oversized headers; nothing may be written
# outside the store, nothing for an invalid name inside it, and the server
# keeps answering.

use warnings;
use strict;

use FindBin;
use lib "$FindBin::Bin/lib";

use Test::More;
use Harbor::Test qw(:all);

###############################################################################

my $t = Harbor::Test->new;
$t->run;

my $dir = $t->dir;

# a file outside the store that traversal would reach
mkdir "$dir/outside";
open my $fh, '>', "$dir/outside/secret" or die $!;
print $fh "secret";
close $fh;
chmod 0644, "$dir/outside/secret";

my $secret_digest = sha256('secret');

# what is in the test directory before, outside the store
sub outside_files {
    return sort grep { !m{^(registry|journal|client_body_temp|proxy_temp
        |fastcgi_temp|uwsgi_temp|scgi_temp)/}x
        && !/^(error|access|stderr|conftest-error)\.log$/
        && !/^nginx(-t)?\.conf$/ && $_ ne 'nginx.pid' } $t->files_under($dir);
}
my @before = outside_files();

my $img = $t->make_image('good/repo', 'v1');
my $blob = $img->{layers}[0]{digest};

# names the registry sees as they are, and must refuse

my @invalid = (
    'A', 'Good/repo', 'good/Repo', 'a..b', 'a/..b', '..a', 'a/.b', '.a',
    'a.', 'a..', 'a\\b', 'a%5Cb', 'a%5C..%5C..%5Coutside', 'a%20b', 'a%09b',
    'a;b', 'a%3Bb', 'a:b', 'a@b', 'a*b', 'a%3Fb', 'a%23b', '-a', 'a-', '_a', 'a_',
    'a___b', 'a.-b', 'a-.b', 'a._b', '%C3%A4', 'a%2e%2e', 'a/b%2e',
    'a/%2e%2eb', 'a%7Eb', 'a%2Cb', "a%22b", 'a%27b', 'a%3Cb%3E',
    'a%0Ab', 'a%0Db', 'a%FFb', 'x' x 256,
    join('/', ('abcdefg') x 33),
);

# paths where the name is followed by a route
my @routes = (
    [GET    => '/tags/list'],
    [GET    => '/manifests/v1'],
    [HEAD   => '/manifests/v1'],
    [PUT    => '/manifests/v1', $img->{manifest}],
    [DELETE => '/manifests/v1'],
    [GET    => "/blobs/$blob"],
    [DELETE => "/blobs/$blob"],
    [POST   => '/blobs/uploads/'],
    [POST   => "/blobs/uploads/?digest=$secret_digest", 'secret'],
    [POST   => "/blobs/uploads/?mount=$blob&from=good/repo"],
    [GET    => '/blobs/uploads/0b3b6a2e-1d6c-4bb4-9a47-2c1f0f9c1a11'],
    [GET    => "/referrers/$img->{digest}"],
);

for my $name (@invalid) {
    my $show = length $name > 30 ? substr($name, 0, 20) . '...' : $name;
    for my $route (@routes) {
        my ($m, $suffix, $body) = @$route;
        my $r = $t->http($m => "/v2/$name$suffix",
            defined $body ? (body => $body,
                headers => ['Content-Type' => MT_OCI_MANIFEST]) : ());
        if ($t->from_registry($r)) {
            $t->is_error($r, 400, $m eq 'HEAD' ? undef : 'NAME_INVALID',
                "$m $show$suffix");
        } else {
            # nginx itself refused the request line
            is($r->{status}, 400, "$m $show$suffix refused by nginx");
        }
    }
}

# names that nginx resolves before the registry: never a success outside

for my $path ('/v2/..%2F..%2Foutside/blobs/uploads/?digest=' . $secret_digest,
    '/v2/good/..%2F..%2F..%2Foutside/tags/list',
    '/v2/%2e%2e/%2e%2e/outside/tags/list',
    '/v2/good/repo/blobs/..%2F..%2F..%2F..%2Foutside%2Fsecret',
    '/v2/good/repo/blobs/sha256:..%2F..%2F..%2Fsecret',
    '/v2/good/repo/manifests/..%2F..%2F_layers',
    '/v2/good/repo/blobs/uploads/..%2F..%2F..%2F..%2Foutside',
    '/v2/good%00/repo/tags/list',
    '/v2/good/repo%00/manifests/v1')
{
    for my $m (qw(GET PUT DELETE POST PATCH)) {
        my $r = $t->http($m => $path, body => 'secret');
        ok($r->{status} >= 400 && $r->{status} < 500, "$m $path: 4xx")
            or diag $r->{raw};
        unlike($r->{body}, qr/^secret$/, "$m $path: no secret");
    }
}

ok(-f "$dir/outside/secret", 'the outside file is still there');
is(join(',', outside_files()), join(',', @before),
    'nothing written outside the store');

# nothing in the store for invalid names

my $name_re = qr{^[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*
    (?:/[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*)*$}x;
my @bad;
for my $f ($t->files_under($t->v2root . '/repositories')) {
    my ($name) = $f =~ m{^(.*?)/_};
    push @bad, $f unless defined $name && $name =~ $name_re
        && length $name <= 255;
}
is_deeply(\@bad, [], 'no path for an invalid name in the store');

# the longest name

{
    my $long = join('/', 'a' x 120, 'b' x 120, 'c' x 13);
    is(length $long, 255, 'a name of 255 bytes');
    my $i = $t->make_image($long, 'v1');
    is($i->{response}{status}, 201, 'push to a name of 255 bytes');
    is($t->http(GET => "/v2/$long/manifests/v1")->{status}, 200,
        'pull from a name of 255 bytes');
    is_deeply($t->json($t->http(GET => "/v2/$long/tags/list")),
        { name => $long, tags => ['v1'] }, 'tags of a name of 255 bytes');

    my $one = 'z' x 255;
    is(($t->push_blob($one, 'one component'))[1]{status}, 201,
        'one component of 255 bytes');
    $t->is_error($t->http(GET => '/v2/' . ('z' x 256) . '/blobs/'
        . sha256('one component')), 400, 'NAME_INVALID',
        'one component of 256 bytes');
}

# names that look like routes are names like any other

for my $name ('r/manifests/m', 'r/blobs/b', 'r/blobs/uploads', 'r/tags/list',
    'r/referrers/x', 'v2', 'r/_catalog', 'manifests', 'blobs/uploads')
{
    if ($name eq 'r/_catalog') {
        $t->is_error($t->http(GET => "/v2/$name/tags/list"), 400,
            'NAME_INVALID', "$name is not a name");
        next;
    }
    my $i = $t->make_image($name, 'v1');
    is($i->{response}{status}, 201, "push to $name");
    my $r = $t->http(GET => "/v2/$name/manifests/v1");
    is($r->{body}, $i->{manifest}, "pull from $name");
    is_deeply($t->json($t->http(GET => "/v2/$name/tags/list")),
        { name => $name, tags => ['v1'] }, "tags of $name");
    is($t->http(GET => "/v2/$name/blobs/$i->{config}")->{body},
        $i->{config}{data}, "blob of $name");
    my ($l) = $t->upload_start($name);
    like($l, qr{^/v2/\Q$name\E/blobs/uploads/[0-9a-f-]{36}$},
        "upload in $name");
    is($t->http(GET => $l)->{status}, 204, "upload status in $name");
}

my $cat = $t->json($t->http(GET => '/v2/_catalog'))->{repositories} || [];
my %cat = map { $_ => 1 } @$cat;
ok($cat{'r/manifests/m'} && $cat{'r/blobs/uploads'} && $cat{'blobs/uploads'},
    'route-like names listed in the catalog');
ok(!$cat{r} && !$cat{'r/blobs'}, 'their parents are not');

# JSON that is deep, huge in keys, or has duplicate keys

{
    my $deep = ('[' x 100_000) . (']' x 100_000);
    my $r = $t->push_manifest('good/repo', 'deep', $deep, MT_OCI_MANIFEST);
    $t->is_error($r, 400, 'MANIFEST_INVALID', 'deeply nested JSON');

    my $deepobj = ('{"a":' x 50_000) . '1' . ('}' x 50_000);
    $r = $t->push_manifest('good/repo', 'deep', $deepobj, MT_OCI_MANIFEST);
    $t->is_error($r, 400, 'MANIFEST_INVALID', 'deeply nested objects');

    # the same key twice: parsers disagree on which one wins
    my $m = $img->{manifest};
    (my $dup = $m) =~ s/^\{/{"mediaType":"${\ MT_OCI_INDEX}",/;
    $r = $t->push_manifest('good/repo', 'dup', $dup, MT_OCI_MANIFEST);
    $t->is_error($r, 400, 'MANIFEST_INVALID', 'duplicate mediaType');

    ($dup = $m) =~ s/^\{/{"layers":[],/;
    $r = $t->push_manifest('good/repo', 'dup', $dup, MT_OCI_MANIFEST);
    $t->is_error($r, 400, 'MANIFEST_INVALID', 'duplicate layers');

    my %doc = %{decode_json($m)};
    $doc{annotations} = { map { ("k$_" => 'v') } 1 .. 50_000 };
    $r = $t->push_manifest('good/repo', 'keys', encode_json(\%doc),
        MT_OCI_MANIFEST);
    ok($r->{status} == 201 || $r->{status} == 400, 'many keys answered');

    # many layers, all the same blob
    %doc = %{decode_json($m)};
    $doc{layers} = [($doc{layers}[0]) x 5000];
    $r = $t->push_manifest('good/repo', 'layers', encode_json(\%doc),
        MT_OCI_MANIFEST);
    ok($r->{status} == 201 || $r->{status} == 400, 'many layers answered');

    # a number too big for any integer
    %doc = %{decode_json($m)};
    my $big = encode_json(\%doc);
    $big =~ s/"size":(\d+)/"size":99999999999999999999999999999/;
    $r = $t->push_manifest('good/repo', 'bignum', $big, MT_OCI_MANIFEST);
    $t->is_error($r, 400, 'MANIFEST_INVALID', 'size too big for an integer');

    $big =~ s/"size":99999999999999999999999999999/"size":1.5/;
    $r = $t->push_manifest('good/repo', 'bignum', $big, MT_OCI_MANIFEST);
    $t->is_error($r, 400, 'MANIFEST_INVALID', 'fractional size');
}

# headers

{
    my $r = $t->http(GET => "/v2/good/repo/manifests/v1",
        headers => [Accept => join(', ', ('application/x-' . 'a' x 50) x 100)
            . ', ' . MT_OCI_MANIFEST]);
    is($r->{status}, 200, 'long Accept with the type at the end');

    $r = $t->http(GET => "/v2/good/repo/manifests/v1",
        headers => [map { (Accept => "application/x-$_") } 1 .. 100]);
    $t->is_error($r, 404, 'MANIFEST_UNKNOWN', '100 Accept headers without it');

    $r = $t->http(GET => "/v2/good/repo/manifests/v1",
        headers => [Accept => ',,,;;;q=,*/', Accept => ';']);
    ok($r->{status} == 200 || $r->{status} == 404, 'garbage Accept answered');

    $r = $t->http(GET => "/v2/good/repo/manifests/v1",
        headers => [Accept => '*/*;q=0']);
    ok($r->{status} == 200 || $r->{status} == 404, 'Accept */*;q=0 answered');
}

# query strings

{
    my $r = $t->http(GET => '/v2/_catalog?n=1&n=abc');
    ok($r->{status} == 200 || $r->{status} == 400, 'n twice answered');

    $r = $t->http(GET => '/v2/_catalog?' . join('&', map { "x$_=1" } 1 .. 500)
        . '&n=1');
    is($r->{status}, 200, 'many query arguments');

    $r = $t->http(GET => '/v2/_catalog?last=' . ('%2e%2e%2f' x 50));
    is($r->{status}, 200, 'last= with traversal is a plain string');
}

# the server still answers, and nothing escaped

is($t->http(GET => '/v2/')->{status}, 200, 'still answering');
is($t->http(GET => '/v2/good/repo/manifests/v1')->{body}, $img->{manifest},
    'good repository intact');
is(join(',', outside_files()), join(',', @before),
    'nothing written outside the store at the end');

$t->stop;

done_testing;

###############################################################################
