#!/usr/bin/perl

# authd: GET/PUT /api/v2.0/configurations.  Harbor's shape ({"key":
# {"value", "editable"}}), authd.yml's values as defaults, values stored
# in PostgreSQL (a restart keeps them), system admins only, the LDAP
# search password write-only (never in a response nor in the log), bad
# values refused with Harbor's error body, and the auth mode kept while
# users other than admin exist.  POST /ldap/ping is admin only too.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use JSON::PP;
use Test::More;
use Harbor::Authd;

my $pg = Harbor::Authd::Pg->start;
my $d = Harbor::Authd->start(pg => $pg, conf => {
    token_expiration => 45, ldap_base_dn => 'dc=yml,dc=test',
    ldap_search_password => 'FromYmlS3cret' });

my $admin = $d->admin;
my $T = JSON::PP::true;
my $F = JSON::PP::false;
my $SECRET = 'Wr1teOnly-Pa55';

sub err { $_[0]{json} ? $_[0]{json}{errors}[0]{message} // '' : $_[0]{body} }

# ------------------------------------------------------------- the shape

my $r = $d->api(GET => '/configurations', $admin);
is($r->{status}, 200, 'admin reads the configuration');
my $c = $r->{json};
is_deeply($c->{auth_mode}, { value => 'db_auth', editable => $T },
          'auth_mode in Harbor\'s shape');
is($c->{token_expiration}{value}, 45, 'default from authd.yml');
is($c->{ldap_base_dn}{value}, 'dc=yml,dc=test', 'ldap_base_dn from authd.yml');
is($c->{ldap_scope}{value}, 2, 'ldap_scope default 2 (subtree)');
is($c->{ldap_uid}{value}, 'uid', 'ldap_uid default');
is($c->{ldap_verify_cert}{value}, $T, 'ldap_verify_cert default true');
is($c->{self_registration}{value}, $F, 'self_registration default false');
is($c->{project_creation_restriction}{value}, 'everyone',
   'project_creation_restriction default');
is($c->{robot_token_duration}{value}, 30, 'robot_token_duration default');
is($c->{robot_name_prefix}{value}, 'robot$', 'robot_name_prefix default');
ok(!exists $c->{ldap_search_password}, 'the search password is not listed');
unlike($r->{body}, qr/FromYmlS3cret/, 'nor its value anywhere');

# ------------------------------------------------------------ permissions

is($d->api(GET => '/configurations')->{status}, 401, 'anonymous GET: 401');
is($d->api(PUT => '/configurations', undef,
           json => { token_expiration => 5 })->{status}, 401,
   'anonymous PUT: 401');

# ------------------------------------------------ values, stored, applied

$r = $d->api(PUT => '/configurations', $admin, json => {
    token_expiration => 12, self_registration => JSON::PP::true,
    project_creation_restriction => 'adminonly',
    ldap_url => 'ldap://127.0.0.1:1 ldaps://127.0.0.2:636',
    ldap_search_password => $SECRET, ldap_scope => 1,
    ldap_ca_file => '/etc/ssl/certs/ca-certificates.crt' });
is($r->{status}, 200, 'PUT') or diag $r->{body};

$r = $d->api(GET => '/configurations', $admin);
is($r->{json}{token_expiration}{value}, 12, 'token_expiration changed');
is($r->{json}{self_registration}{value}, $T, 'self_registration changed');
is($r->{json}{ldap_url}{value}, 'ldap://127.0.0.1:1 ldaps://127.0.0.2:636',
   'several URLs');
is($r->{json}{ldap_scope}{value}, 1, 'ldap_scope changed');
unlike($r->{body}, qr/\Q$SECRET\E/, 'the new password is not returned');
is($r->{json}{ldap_base_dn}{value}, 'dc=yml,dc=test', 'untouched key kept');

# applied at once: a token lasts 12 minutes now, creation is admin only
my $t = $d->token(user => 'admin', pass => $Harbor::Authd::ADMIN_PASSWORD);
is($t->{claims}{exp} - $t->{claims}{iat}, 12 * 60, 'token_expiration applied');
is($d->api(GET => '/systeminfo', $admin)->{json}{project_creation_restriction},
   'adminonly', 'project_creation_restriction applied');

my $kept = $pg->psql("SELECT v FROM properties"
                     . " WHERE k = 'ldap_search_password'");
like($kept, qr/^sealed:/, 'the password is stored (for binds), sealed');
unlike($kept, qr/\Q$SECRET\E/, 'not in clear');

# stored: a restart keeps them, over authd.yml's
$d->restart;
$r = $d->api(GET => '/configurations', $admin);
is($r->{json}{token_expiration}{value}, 12, 'kept across a restart');
is($r->{json}{project_creation_restriction}{value}, 'adminonly',
   'enum kept across a restart');

# ------------------------------------------------------------- bad values

for my $bad (
    [ { token_expiration => -1 }, qr/token_expiration/, 'negative number' ],
    [ { token_expiration => '30' }, qr/integer/, 'number as a string' ],
    [ { robot_token_duration => 0 }, qr/robot_token_duration/, 'zero days' ],
    [ { ldap_scope => 3 }, qr/ldap_scope/, 'scope 3' ],
    [ { ldap_timeout => 0 }, qr/ldap_timeout/, 'timeout 0' ],
    [ { auth_mode => 'oidc_auth' }, qr/auth_mode/, 'unknown auth_mode' ],
    [ { auth_mode => JSON::PP::true }, qr/auth_mode/, 'auth_mode a boolean' ],
    [ { self_registration => 'yes' }, qr/self_registration/,
      'boolean as a string' ],
    [ { ldap_url => 'http://127.0.0.1' }, qr/ldap_url/, 'http URL' ],
    [ { ldap_url => 'ldap://' }, qr/ldap_url/, 'URL without a host' ],
    [ { ldap_url => 'ldap://h/?x' }, qr/ldap_url/, 'URL with a query' ],
    [ { ldap_url => "ldap://h\n" }, qr/ldap_url/, 'URL with a newline' ],
    [ { ldap_ca_file => 'ca.pem' }, qr/ldap_ca_file/, 'relative CA path' ],
    [ { ldap_uid => 'uid)(x' }, qr/ldap_uid/, 'uid not an attribute name' ],
    [ { ldap_search_dn => undef }, qr/ldap_search_dn/, 'null' ],
    [ { sysadmin_flag => JSON::PP::true }, qr/sysadmin_flag/, 'unknown key' ],
) {
    my ($body, $re, $what) = @$bad;
    $r = $d->api(PUT => '/configurations', $admin, json => $body);
    is($r->{status}, 400, "refused: $what");
    like(err($r), $re, "Harbor's error names the key: $what");
    is($r->{json}{errors}[0]{code}, 'BAD_REQUEST', "error code: $what");
}

# a refused PUT changes nothing, not even its valid keys
$r = $d->api(PUT => '/configurations', $admin,
             json => { token_expiration => 99, ldap_scope => 7 });
is($r->{status}, 400, 'a PUT with one bad value');
is($d->api(GET => '/configurations', $admin)->{json}{token_expiration}{value},
   12, '...changes nothing');

is($d->api(PUT => '/configurations', $admin, body => '[1]',
           headers => { 'Content-Type' => 'application/json' })->{status},
   400, 'a body that is not an object');

# --------------------------------------------------------- the auth mode

$r = $d->api(PUT => '/configurations', $admin,
             json => { auth_mode => 'ldap_auth' });
is($r->{status}, 200, 'only admin exists: the auth mode may change');
$r = $d->api(PUT => '/configurations', $admin,
             json => { auth_mode => 'db_auth' });
is($r->{status}, 200, 'and back');

my $uid = $d->create_user('carol', password => 'Passw0rd!');
my $carol = ['carol', 'Passw0rd!'];

is($d->api(GET => '/configurations', $carol)->{status}, 403,
   'a user who is not a system admin: 403');
is($d->api(PUT => '/configurations', $carol,
           json => { token_expiration => 1 })->{status}, 403,
   'nor may change it');
is($d->api(POST => '/ldap/ping', $carol)->{status}, 403,
   'nor ping the directory');

$r = $d->api(GET => '/configurations', $admin);
is($r->{json}{auth_mode}{editable}, $F, 'auth_mode not editable now');

$r = $d->api(PUT => '/configurations', $admin,
             json => { auth_mode => 'ldap_auth' });
is($r->{status}, 400, 'users exist: switching to ldap_auth is refused');
like(err($r), qr/users other than admin exist/, 'and says why');
is($d->api(GET => '/configurations', $admin)->{json}{auth_mode}{value},
   'db_auth', 'the mode stays db_auth');
is($d->api(PUT => '/configurations', $admin,
           json => { auth_mode => 'db_auth' })->{status}, 200,
   'setting the same mode is no switch');

# a deleted user does not hold the mode
is($d->api(DELETE => "/users/$uid", $admin)->{status}, 200, 'carol deleted');
is($d->api(PUT => '/configurations', $admin,
           json => { auth_mode => 'ldap_auth' })->{status}, 200,
   'with only admin left, the switch is allowed');
is($d->api(PUT => '/configurations', $admin,
           json => { auth_mode => 'db_auth' })->{status}, 200, 'back');

# ------------------------------------------------------------ ldap/ping

# nothing listens on port 1: a clear failure, no setting echoed
$r = $d->api(POST => '/ldap/ping', $admin, json => {
    ldap_url => 'ldap://127.0.0.1:1', ldap_search_password => 'PingS3cret',
    ldap_timeout => 2 });
is($r->{status}, 400, 'ping of a dead URL fails');
like(err($r), qr/failed to ping the LDAP server/, 'Harbor\'s message');
unlike($r->{body}, qr/PingS3cret|127\.0\.0\.1/, 'no setting echoed');
$r = $d->api(POST => '/ldap/ping', $admin, json => { token_expiration => 5 });
is($r->{status}, 400, 'ping takes ldap_* keys only');

# --------------------------------------------------------------- the log

my $log = $d->log;
unlike($log, qr/\Q$SECRET\E|FromYmlS3cret|PingS3cret/,
       'no password in the log');
like($log, qr/configuration changed by "admin": .*ldap_search_password/,
     'changes are logged by key name');

$d->stop;
done_testing;
