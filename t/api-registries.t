#!/usr/bin/perl

# Replication's registries through Harbor's API: system admins only
# (others 403, anonymous 401), create / list (q, paging) / get / update /
# delete, bad bodies 400, a duplicate name 409, an unknown id 404, a
# registry a policy uses 412; the secret sealed in the database under a
# key file of mode 0600 and never returned ("*****", kept when sent back);
# ping by id and by body; adapters and adapterinfos; the SSRF guard
# (loopback and private URLs refused unless outbound_allowlist names them).

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use JSON::PP;
use Test::More;
use Harbor::Authd;
use Harbor::Clients ();

my $d = Harbor::Authd->start;
my $admin = $d->admin;
my $SECRET = 'S3aled-Pa55word';

sub err { $_[0]{json} ? $_[0]{json}{errors}[0]{code} // '' : $_[0]{body} }

$d->create_user('plain', password => 'Passw0rd!');
my $plain = ['plain', 'Passw0rd!'];

# ------------------------------------------------------------ permissions

for my $c ([GET => '/registries'], [POST => '/registries'],
           [GET => '/registries/1'], [PUT => '/registries/1'],
           [DELETE => '/registries/1'], [POST => '/registries/ping'],
           [GET => '/registries/1/info'], [GET => '/replication/adapters'],
           [GET => '/replication/adapterinfos'])
{
    my %j = $c->[0] =~ /POST|PUT/ ? (json => { name => 'x' }) : ();
    is($d->api(@$c, undef, %j)->{status}, 401, "anonymous $c->[0] $c->[1]: 401");
    is($d->api(@$c, $plain, %j)->{status}, 403, "a user $c->[0] $c->[1]: 403");
}

# ----------------------------------------------------------------- create

my %reg = (name => 'remote-a', url => 'https://reg.example.test:8443/',
           type => 'harbor', description => 'the other site',
           insecure => JSON::PP::true,
           credential => { type => 'basic', access_key => 'robot',
                           access_secret => $SECRET });

my $r = $d->api(POST => '/registries', $admin, json => \%reg);
is($r->{status}, 201, 'admin creates a registry');
my ($id) = ($r->{headers}{location} // '') =~ m{/api/v2.0/registries/(\d+)$};
ok($id, 'Location names it');
unlike($r->{body}, qr/\Q$SECRET\E/, 'the answer holds no secret');

$r = $d->api(GET => "/registries/$id", $admin);
is($r->{status}, 200, 'get it');
my $g = $r->{json};
is($g->{name}, 'remote-a', 'name');
is($g->{url}, 'https://reg.example.test:8443', 'url without its trailing /');
is($g->{type}, 'harbor', 'type');
ok($g->{insecure}, 'insecure');
is($g->{credential}{access_key}, 'robot', 'access_key');
is($g->{credential}{access_secret}, '*****', 'access_secret masked');
is($g->{credential}{type}, 'basic', 'credential type');
ok($g->{creation_time} && $g->{update_time}, 'times');
unlike($r->{body}, qr/\Q$SECRET\E/, 'GET never echoes the secret');

# sealed in the database, under a 0600 key file
my $stored = $d->pg->psql("SELECT access_secret FROM replication_registry"
                          . " WHERE id = $id");
chomp $stored;
ok(length $stored > 40, 'a secret is stored');
unlike($stored, qr/\Q$SECRET\E/, 'not in clear in the database');
my $key = $d->dir . '/token/secretkey';
ok(-f $key, 'the secret key file exists');
is((stat $key)[2] & 0777, 0600, 'the key file is 0600');

# the SSRF guard: loopback, private and link-local registries are refused
# until outbound_allowlist names them
my $GUARD = qr/refused: .*a loopback, link-local, private or reserved address that outbound_allowlist does not name/;
for my $u ('http://127.0.0.1:1', 'http://10.1.2.3', 'https://169.254.169.254',
           'http://[::1]:5000', 'http://localhost:1')
{
    $r = $d->api(POST => '/registries', $admin, json => {
        name => 'inside', url => $u, type => 'docker-registry' });
    is($r->{status}, 400, "$u: refused (400)");
    like($r->{json}{errors}[0]{message} // '', $GUARD, '... saying why');
}
$r = $d->api(POST => '/registries/ping', $admin, json => {
    type => 'docker-registry', url => 'http://127.0.0.1:1' });
like($r->{json}{errors}[0]{message} // '', $GUARD,
     'a ping of a loopback address: refused');
is($d->api(PUT => "/registries/$id", $admin, json => {
    url => 'http://192.168.0.1' })->{status}, 400,
   'an update to a private address: refused');

is($d->api(PUT => '/configurations', $admin, json => {
    outbound_allowlist => '127.0.0.1' })->{status}, 200,
   'outbound_allowlist names 127.0.0.1');

$r = $d->api(POST => '/registries', $admin, json => {
    name => 'remote-b', url => 'http://127.0.0.1:1', type => 'docker-registry' });
is($r->{status}, 201, 'an anonymous docker-registry');
my ($id_b) = $r->{headers}{location} =~ m{(\d+)$};

# ------------------------------------------------------------- bad bodies

for my $bad (
    [ 'no name', { url => 'http://a', type => 'harbor' } ],
    [ 'no url', { name => 'x1', type => 'harbor' } ],
    [ 'no type', { name => 'x1', url => 'http://a' } ],
    [ 'unknown type', { name => 'x1', url => 'http://a', type => 'quay' } ],
    [ 'ftp url', { name => 'x1', url => 'ftp://a', type => 'harbor' } ],
    [ 'url with a path', { name => 'x1', url => 'http://a/v2', type => 'harbor' } ],
    [ 'url with a user', { name => 'x1', url => 'http://u@a', type => 'harbor' } ],
    [ 'name not a string', { name => 5, url => 'http://a', type => 'harbor' } ],
    [ 'insecure not a bool', { name => 'x1', url => 'http://a', type => 'harbor',
                               insecure => 'yes' } ],
    [ 'credential type', { name => 'x1', url => 'http://a', type => 'harbor',
                           credential => { type => 'oauth' } } ],
    [ 'credential not an object', { name => 'x1', url => 'http://a',
                                    type => 'harbor', credential => 'x' } ],
) {
    $r = $d->api(POST => '/registries', $admin, json => $bad->[1]);
    is($r->{status}, 400, "$bad->[0]: 400");
    is(err($r), 'BAD_REQUEST', "$bad->[0]: Harbor's code");
}
$r = $d->api(POST => '/registries', $admin, body => '{"name":',
             headers => { 'Content-Type' => 'application/json' });
is($r->{status}, 400, 'broken JSON: 400');

$r = $d->api(POST => '/registries', $admin, json => { %reg, credential => undef });
is($r->{status}, 409, 'a duplicate name: 409');
is(err($r), 'CONFLICT', 'CONFLICT');

# ---------------------------------------------------------------- listing

$r = $d->api(GET => '/registries', $admin);
is($r->{status}, 200, 'list');
is(scalar @{$r->{json}}, 2, 'two registries');
is($r->{headers}{'x-total-count'}, 2, 'X-Total-Count');
unlike($r->{body}, qr/\Q$SECRET\E/, 'the list never echoes the secret');

$r = $d->api(GET => '/registries?page=1&page_size=1', $admin);
is(scalar @{$r->{json}}, 1, 'a page of one');
like($r->{headers}{link} // '', qr/rel="next"/, 'Link to the next page');

$r = $d->api(GET => '/registries?q=name%3D~remote-b', $admin);
is_deeply([map { $_->{name} } @{$r->{json}}], ['remote-b'], 'q=name=~');
$r = $d->api(GET => '/registries?q=type%3Dharbor', $admin);
is_deeply([map { $_->{name} } @{$r->{json}}], ['remote-a'], 'q=type=');
$r = $d->api(GET => '/registries?q=password%3Dx', $admin);
is($r->{status}, 400, 'q on an unknown key: 400');

# ----------------------------------------------------------------- update

$r = $d->api(PUT => "/registries/$id", $admin, json => {
    description => 'changed', access_key => 'robot2',
    access_secret => '*****' });
is($r->{status}, 200, 'update with the mask');
$r = $d->api(GET => "/registries/$id", $admin);
is($r->{json}{description}, 'changed', 'description changed');
is($r->{json}{credential}{access_key}, 'robot2', 'access_key changed');
my $stored2 = $d->pg->psql("SELECT access_secret FROM replication_registry"
                           . " WHERE id = $id");
chomp $stored2;
is($stored2, $stored, '"*****" keeps the secret');

$r = $d->api(PUT => "/registries/$id", $admin, json => {
    credential => { access_secret => 'An0ther' } });
is($r->{status}, 200, 'a new secret');
$stored2 = $d->pg->psql("SELECT access_secret FROM replication_registry"
                        . " WHERE id = $id");
chomp $stored2;
isnt($stored2, $stored, 'sealed again');

is($d->api(PUT => "/registries/$id", $admin, json => { name => 'remote-b' })
   ->{status}, 409, 'renamed onto another: 409');
is($d->api(PUT => "/registries/$id", $admin, json => { type => 'docker-registry' })
   ->{status}, 400, 'the type does not change: 400');
is($d->api(PUT => "/registries/$id", $admin, json => { url => 'gopher://a' })
   ->{status}, 400, 'a bad url: 400');
is($d->api(PUT => '/registries/999', $admin, json => { description => 'x' })
   ->{status}, 404, 'unknown id: 404');
is($d->api(GET => '/registries/999', $admin)->{status}, 404, 'GET unknown: 404');
is($d->api(GET => '/registries/abc', $admin)->{status}, 404, 'GET abc: 404');
is($d->api(GET => '/registries/999/info', $admin)->{status}, 404,
   'info unknown: 404');

# ------------------------------------------------------------------- ping

$r = $d->api(POST => '/registries/ping', $admin, json => { id => $id_b + 0 });
is($r->{status}, 400, 'ping of a registry that does not answer: 400');
ok(length($r->{json}{errors}[0]{message} // '') > 0, 'with a reason');
is($d->api(POST => '/registries/ping', $admin, json => { id => 999 })->{status},
   404, 'ping of an unknown id: 404');
$r = $d->api(POST => '/registries/ping', $admin, json => {
    type => 'docker-registry', url => 'http://127.0.0.1:1' });
is($r->{status}, 400, 'ping by body, nothing there: 400');
is($d->api(POST => '/registries/ping', $admin, json => { url => 'http://a' })
   ->{status}, 400, 'ping without type: 400');
$r = $d->api(GET => "/registries/$id_b", $admin);
is($r->{json}{status}, 'unhealthy', 'a failed ping marks it unhealthy');
like($d->api(POST => '/registries/ping', $admin, json => { id => $id_b + 0 })
     ->{json}{errors}[0]{message}, qr/connection refused to 127\.0\.0\.1:1/,
     'allow-listed, it is tried');

# every socket is checked, not only the registry's host: a token service
# (or a redirect) at an address the list does not cover is refused
my ($fport, $fpid) = Harbor::Clients::fake_registry(sub {
    my ($method, $path, $h, $port) = @_;
    return (401, "WWW-Authenticate: Bearer realm=\"http://127.0.0.2:$port"
                 . "/service/token\",service=\"x\"\r\n", '{}');
});
$r = $d->api(POST => '/registries/ping', $admin, json => {
    type => 'harbor', url => "http://127.0.0.1:$fport",
    credential => { type => 'basic', access_key => 'u',
                    access_secret => 'p' } });
is($r->{status}, 400, 'a registry whose token service is at 127.0.0.2: 400');
like($r->{json}{errors}[0]{message} // '',
     qr/refused: a connection to 127\.0\.0\.2, a loopback, link-local, private or reserved address that outbound_allowlist does not name/,
     'the connection to the token service was refused by the guard');
kill 'TERM', $fpid;
waitpid($fpid, 0);

# the guard is asked again at each connection: taken off the list, a
# saved registry is no longer reached
$d->api(PUT => '/configurations', $admin, json => { outbound_allowlist => '' });
like($d->api(POST => '/registries/ping', $admin, json => { id => $id_b + 0 })
     ->{json}{errors}[0]{message}, $GUARD,
     'off the list again, the saved registry is refused');
$d->api(PUT => '/configurations', $admin,
        json => { outbound_allowlist => '127.0.0.1' });

# ------------------------------------------------------------ adapters

$r = $d->api(GET => '/replication/adapters', $admin);
is_deeply($r->{json}, ['docker-registry', 'harbor'], 'adapters');
$r = $d->api(GET => '/replication/adapterinfos', $admin);
ok($r->{json}{harbor} && $r->{json}{'docker-registry'}, 'adapterinfos');
$r = $d->api(GET => "/registries/$id/info", $admin);
is($r->{json}{type}, 'harbor', 'info: type');
ok(grep({ $_->{type} eq 'tag' } @{$r->{json}{supported_resource_filters}}),
   'info: a tag filter');

# ----------------------------------------------------- delete, in use: 412

$d->pg->psql("INSERT INTO replication_policy (name, dest_registry_id)"
             . " VALUES ('uses-a', $id)");
$r = $d->api(DELETE => "/registries/$id", $admin);
is($r->{status}, 412, 'a registry a policy uses: 412');
is(err($r), 'PRECONDITION', 'PRECONDITION');
like($r->{json}{errors}[0]{message}, qr/uses-a/, 'names the policy');
$d->pg->psql("DELETE FROM replication_policy WHERE name = 'uses-a'");

is($d->api(DELETE => "/registries/$id", $admin)->{status}, 200, 'deleted');
is($d->api(GET => "/registries/$id", $admin)->{status}, 404, 'gone');
is($d->api(DELETE => "/registries/$id", $admin)->{status}, 404,
   'deleted twice: 404');

# ------------------------------------------------- no secret in the log

unlike($d->log, qr/\Q$SECRET\E|An0ther/, 'no secret in the log');

# a key file others may read stops authd
$d->stop;
chmod 0644, $key;
$d->restart(expect_fail => 1);
isnt($d->exit_status, 0, 'a key file readable by others: authd stops');
like($d->log, qr/chmod 600/, 'and says how to fix it');

done_testing();
