#!/usr/bin/perl

# authd: auth_mode ldap_auth against a real slapd (Harbor::Ldap).  Search
# then bind: directory users log in with Basic on /service/token and on
# the API, and through the UI's /c/login; their first login creates the
# local user with mail and cn from the directory.  A wrong password, an
# unknown user, an empty password and a filter injection corpus log no
# one in.  The local admin logs in from the database even while slapd is
# stopped (SIGSTOP), when directory logins fail within ldap_timeout; a
# verified login is served from the credential cache meanwhile; slapd
# back, logins work again without a restart.  /ldap/ping.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use JSON::PP;
use MIME::Base64 qw(encode_base64);
use Test::More;
use Time::HiRes qw(time);

use Harbor::Authd;
use Harbor::Ldap;

my $l = Harbor::Ldap->start;
my $TIMEOUT = 2;

my $pg = Harbor::Authd::Pg->start;
my $d = Harbor::Authd->start(pg => $pg, conf => {
    auth_mode            => 'ldap_auth',
    ldap_url             => 'ldap://127.0.0.1:1 ' . $l->url,
    ldap_search_dn       => $l->admin_dn,
    ldap_search_password => $l->admin_pw,
    ldap_base_dn         => $l->base,
    ldap_filter          => '(objectClass=inetOrgPerson)',
    ldap_uid             => 'uid',
    ldap_scope           => 2,
    ldap_timeout         => $TIMEOUT,
    'authd.credential_cache_ttl' => 60,
});

my $admin = $d->admin;
my %U = %Harbor::Ldap::USERS;
my $ip = 0;

# every request from an address of its own: the throttle stays out of it
sub token_as {
    my ($user, $pass) = @_;
    $ip++;
    return $d->request(GET => '/service/token?service=harbor-registry'
                              . '&scope=repository:library/x:pull',
        user => $user, pass => $pass,
        headers => { 'X-Forwarded-For' => "10.1.@{[int($ip / 250)]}."
                                          . ($ip % 250 + 1) });
}

sub users { $pg->psql("SELECT string_agg(username, ',' ORDER BY user_id)"
                      . " FROM users WHERE NOT deleted") }

# ---------------------------------------------------------------- logins

my $r = token_as('alice', $U{alice}[0]);
is($r->{status}, 200, 'directory user gets a token (Basic, /service/token)')
    or diag $r->{body}, $d->log;

$r = $d->api(GET => '/users/current', ['alice', $U{alice}[0]]);
is($r->{status}, 200, 'and uses the API with Basic');
is($r->{json}{username}, 'alice', 'onboarded as alice');
is($r->{json}{email}, 'alice@example.org', 'email from mail');
is($r->{json}{realname}, 'Alice Liddell', 'realname from cn');
is($r->{json}{sysadmin_flag}, JSON::PP::false, 'not a system admin');
is($pg->psql("SELECT password FROM users WHERE username = 'alice'"), '',
   'no local password for a directory user');

$r = $d->request(POST => '/c/login',
    headers => { 'Content-Type' => 'application/x-www-form-urlencoded' },
    body => 'principal=bob&password=' . Harbor::Authd::uri_escape($U{bob}[0]));
is($r->{status}, 200, 'directory user logs in through /c/login');
like($r->{headers}{'set-cookie'} // '', qr/sid=/, 'and gets a session');
is($pg->psql("SELECT email || '|' || realname FROM users"
             . " WHERE username = 'bob'"), 'bob@example.org|Bob Builder',
   'bob onboarded with mail and cn');

# the directory decides the name's spelling: ALICE is alice
$r = token_as('ALICE', $U{alice}[0]);
is($r->{status}, 200, 'ALICE logs in');
is($r->{claims}{sub} // JSON::PP->new->decode(
       MIME::Base64::decode_base64url((split /\./, $r->{json}{token})[1]))
       ->{sub}, 'alice', 'as the one local user alice');
is($pg->psql("SELECT count(*) FROM users WHERE lower(username) = 'alice'"),
   1, 'no second user for another spelling');

# ------------------------------------------------------------- refusals

my $before = users();

is(token_as('alice', 'wrong-Passw0rd')->{status}, 401, 'wrong password: 401');
is(token_as('nobody', 'Whatever1!')->{status}, 401, 'unknown user: 401');
my $binds = $l->binds('alice');
cmp_ok($binds, '>', 0, 'slapd logs the binds as alice');
is(token_as('alice', '')->{status}, 401, 'empty password: 401');
is(token_as('eve', '')->{status}, 401,
   'empty password of a user never logged in: 401');
is($l->binds('alice') + $l->binds('eve'), $binds,
   'no bind was tried with an empty password');

# each with alice's password: a filter that matched her would log in
for my $name ('*', 'al*', '*)(uid=*', ')(uid=*', 'alice)(uid=*',
              '*)(|(uid=*', "alice\0", "al\0ice", 'alice\\', 'al(ice',
              "\x{e4}lice", "al\xc3\xafce", 'a' x 300, ('x' x 200) . '*')
{
    my $n = $name;
    utf8::encode($n) if utf8::is_utf8($n);
    my $show = $name =~ s/([^\x20-\x7e])/sprintf('\\x%02x', ord $1)/ger;
    $show = substr($show, 0, 40);
    $r = token_as($n, $U{alice}[0]);
    ok($r->{status} == 401 || $r->{status} == 400,
       "injection \"$show\" refused ($r->{status})");
}
is(users(), $before, 'no one was logged in or created by any of them');
is($l->binds('alice'), $binds, 'none of them got as far as a bind as alice');

# the local admin is never a directory login, even if the directory has one
$l->add_user('admin', password => 'DirAdm1n!pw', mail => 'a@example.org');
is(token_as('admin', 'DirAdm1n!pw')->{status}, 401,
   'the directory\'s "admin" does not log in as the local admin');
is(token_as('admin', $Harbor::Authd::ADMIN_PASSWORD)->{status}, 200,
   'the local admin logs in from the database');
is(token_as('admin ', 'DirAdm1n!pw')->{status}, 401,
   'nor does "admin " (the directory ignores the space)');
is(token_as("admin\0", $Harbor::Authd::ADMIN_PASSWORD)->{status}, 401,
   'a name with a NUL is not admin (Basic)');
is(token_as("\xe4dmin", $Harbor::Authd::ADMIN_PASSWORD)->{status}, 401,
   'a name that is not UTF-8: 401, not a database error');

# ------------------------------------------------------- slapd stopped

# alice's login is cached now; eve has never logged in
$l->pause;
sub proc_state {
    open my $st, '<', "/proc/" . $l->pid . "/status" or die "status: $!";
    my ($state) = map { /^State:\s+(\S)/ ? $1 : () } <$st>;
    return $state // '';
}
ok(Harbor::Authd::wait_for(5, sub { proc_state() eq 'T' }),
   'slapd is stopped (SIGSTOP)');

my $t0 = time;
$r = token_as('admin', $Harbor::Authd::ADMIN_PASSWORD);
my $dt = time - $t0;
is($r->{status}, 200, 'admin logs in while the directory is stopped');
cmp_ok($dt, '<', 1, 'at once (' . sprintf('%.3f', $dt) . ' s)');

$r = token_as('alice', $U{alice}[0]);
is($r->{status}, 200, 'a verified login is served from the cache');

$t0 = time;
$r = token_as('eve', $U{eve}[0]);
$dt = time - $t0;
is($r->{status}, 503, 'a directory login fails with 503');
is($r->{json}{errors}[0]{code}, 'SERVICE_UNAVAILABLE', "Harbor's error");
cmp_ok($dt, '<', $TIMEOUT * 2 + 2,
       'within ldap_timeout per operation (' . sprintf('%.2f', $dt) . ' s)');
cmp_ok($dt, '>=', $TIMEOUT - 0.2, 'after waiting for the directory');

$r = $d->api(POST => '/ldap/ping', $admin);
is($r->{status}, 400, 'ping fails while the directory is stopped');

# ----------------------------------------------------------- slapd back

$l->resume;
$r = token_as('eve', $U{eve}[0]);
is($r->{status}, 200, 'directory back: eve logs in without a restart');
is($pg->psql("SELECT coalesce(email, 'NULL') FROM users"
             . " WHERE username = 'eve'"), 'NULL',
   'a user without mail is onboarded without email');

# ------------------------------------------------------------- ping

$r = $d->api(POST => '/ldap/ping', $admin);
is($r->{status}, 200, 'ping with the stored settings');
is($r->{json}{success}, JSON::PP::true, 'success');

$r = $d->api(POST => '/ldap/ping', $admin, json => {
    ldap_url => $l->url, ldap_search_password => 'Wr0ng-bind' });
is($r->{status}, 400, 'ping with a wrong search password in the body');
unlike($r->{body}, qr/Wr0ng-bind|\Q${\ $l->admin_dn}\E/, 'nothing echoed');

is($d->api(POST => '/ldap/ping')->{status}, 401, 'ping anonymous: 401');

# the stored search password goes to the stored server only
my $elsewhere = 'ldap://127.0.0.1:' . Harbor::Clients::free_port();
$r = $d->api(POST => '/ldap/ping', $admin, json => { ldap_url => $elsewhere });
is($r->{status}, 400, 'ping of another server without its password: 400');
like($r->{json}{errors}[0]{message}, qr/give ldap_search_password/,
     'it says to give the password');
$r = $d->api(POST => '/ldap/ping', $admin, json => {
    ldap_url => 'ldap://127.0.0.1:1 ' . $l->url });
is($r->{status}, 200, 'the stored server named in the body: the stored '
   . 'password is used') or diag($r->{body});

# ------------------------------------- the stored search password, sealed

$r = $d->api(PUT => '/configurations', $admin,
             json => { ldap_search_password => $l->admin_pw });
is($r->{status}, 200, 'ldap_search_password stored through the API');
my $stored = $pg->psql("SELECT v FROM properties"
                       . " WHERE k = 'ldap_search_password'");
like($stored, qr/^sealed:[A-Za-z0-9+\/=]{40,}$/, 'kept sealed in the table');
unlike($stored, qr/\Q${\ $l->admin_pw}\E/, 'not in clear');
$d->restart;
$r = $d->api(POST => '/ldap/ping', $admin);
is($r->{status}, 200, 'after a restart the sealed password binds');

# one kept in clear by an older authd is sealed at start
$pg->psql("UPDATE properties SET v = '${\ $l->admin_pw}'"
          . " WHERE k = 'ldap_search_password'");
$d->restart;
like($pg->psql("SELECT v FROM properties WHERE k = 'ldap_search_password'"),
     qr/^sealed:/, 'a password in clear is sealed at start');
is($d->api(POST => '/ldap/ping', $admin)->{status}, 200, 'and still binds');

# --------------------------------------- settings changed through the API

# a wrong base: the same users no longer log in, at once (cache dropped)
$r = $d->api(PUT => '/configurations', $admin,
             json => { ldap_base_dn => 'ou=nowhere,' . $l->base });
is($r->{status}, 200, 'ldap_base_dn changed through the API');
is(token_as('alice', $U{alice}[0])->{status}, 401,
   'the cached login is not trusted after a change of settings');
$r = $d->api(PUT => '/configurations', $admin,
             json => { ldap_base_dn => $l->base });
is(token_as('alice', $U{alice}[0])->{status}, 200, 'and back');

# POST /users is Harbor's db_auth only
is($d->api(POST => '/users', $admin, json => { username => 'zed',
    email => 'z@example.org', realname => 'z', password => 'Passw0rd!' })
   ->{status}, 403, 'no local users are created in ldap_auth');

# ------------------------------------------------------------ throttle

# directory logins count against the address and the account as database
# ones do: the attempt after the tenth failure never reaches slapd
my $bob_binds = $l->binds('bob');
my @codes = map {
    $d->request(GET => '/api/v2.0/users/current', user => 'bob',
                pass => "Wr0ng-$_", headers => { 'X-Forwarded-For' => '10.9.9.9' })
      ->{status} } 1 .. 11;
is_deeply(\@codes, [(401) x 10, 429], 'ten failures, then 429');
is($l->binds('bob'), $bob_binds + 10, 'the throttled attempt made no bind');

my $log = $d->log;
unlike($log, qr/\Q$U{alice}[0]\E|\Q${\ $l->admin_pw}\E/,
       'no password in the log');

$d->stop;
$l->stop;
done_testing;
