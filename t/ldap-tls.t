#!/usr/bin/perl

# authd: ldaps:// and StartTLS (ldap:// with ldap_start_tls) against a
# slapd with a certificate of a test CA.  ldap_verify_cert on: a CA that
# did not sign the server's certificate is refused (no login, no ping),
# the right CA (ldap_ca_file) passes; ldap_verify_cert off passes
# whatever the CA.  StartTLS is asked for before the first bind, and a
# failed one never falls back to plain text.  Changed through the
# configuration API, each at once, without a restart.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use Test::More;

use Harbor::Authd;
use Harbor::Ldap;

my $l = Harbor::Ldap->start(tls => 1);
my $pg = Harbor::Authd::Pg->start;
my $d = Harbor::Authd->start(pg => $pg, conf => {
    auth_mode            => 'ldap_auth',
    ldap_url             => $l->ldaps_url,
    ldap_search_dn       => $l->admin_dn,
    ldap_search_password => $l->admin_pw,
    ldap_base_dn         => $l->base,
    ldap_timeout         => 3,
    ldap_verify_cert     => 'true',
    ldap_ca_file         => $l->other_ca_file,
});

my $admin = $d->admin;
my ($user, $pass) = ('alice', $Harbor::Ldap::USERS{alice}[0]);

sub login { $d->api(GET => '/users/current', [$user, $pass])->{status} }
sub put { $d->api(PUT => '/configurations', $admin, json => {@_})->{status} }

is(login(), 503, 'wrong CA, verify on: no login');
is($d->api(POST => '/ldap/ping', $admin)->{status}, 400,
   'wrong CA, verify on: ping fails');
is($pg->psql("SELECT count(*) FROM users WHERE username = 'alice'"), 0,
   'no one onboarded');

is(put(ldap_ca_file => $l->ca_file), 200, 'the right CA file');
is(login(), 200, 'right CA, verify on: alice logs in over ldaps');
is($d->api(POST => '/ldap/ping', $admin)->{status}, 200, 'ping passes');

is(put(ldap_ca_file => $l->other_ca_file), 200, 'the wrong CA again');
is(login(), 503, 'refused again at once (the cache was dropped)');

is(put(ldap_verify_cert => JSON::PP::false), 200, 'verify off');
is(login(), 200, 'verify off: any certificate passes');

# the body of a ping is tried, not stored
is($d->api(POST => '/ldap/ping', $admin,
           json => { ldap_verify_cert => JSON::PP::true })->{status}, 400,
   'ping with verify on in the body fails');
is(login(), 200, 'and stored nothing');

# ------------------------------------------------------------- StartTLS

my $STARTTLS = qr/EXT oid=1\.3\.6\.1\.4\.1\.1466\.20037/;

is(put(ldap_url => $l->starttls_url, ldap_start_tls => JSON::PP::true,
       ldap_verify_cert => JSON::PP::true, ldap_ca_file => $l->other_ca_file),
   200, 'ldap:// with ldap_start_tls, verify on, the wrong CA');
my $mark = $l->mark;
my $binds = $l->binds('alice');
is(login(), 503, 'StartTLS with the wrong CA: no login');
like(substr($l->log, $mark), $STARTTLS, 'authd asked for StartTLS');
is($l->binds('alice'), $binds, 'and sent no bind in plain text after it failed');
is($d->api(POST => '/ldap/ping', $admin)->{status}, 400, 'ping fails too');

is(put(ldap_ca_file => $l->ca_file), 200, 'the right CA');
$mark = $l->mark;
is(login(), 200, 'StartTLS with the right CA: alice logs in');
my $conns = $l->conns_since($mark);
is_deeply($conns->[0], ['EXT', 'BIND', 'SRCH', 'BIND', 'UNBIND'],
          'StartTLS first, then the binds and the search')
    or diag explain $conns;
is($d->api(POST => '/ldap/ping', $admin)->{status}, 200, 'ping passes');

is(put(ldap_verify_cert => JSON::PP::false, ldap_ca_file => $l->other_ca_file),
   200, 'verify off');
is(login(), 200, 'StartTLS, verify off: any certificate passes');

is(put(ldap_start_tls => JSON::PP::false), 200, 'StartTLS off');
$mark = $l->mark;
is(login(), 200, 'plain ldap:// logs in');
unlike(substr($l->log, $mark), $STARTTLS, 'without StartTLS');

my $r = $d->api(GET => '/configurations', $admin);
is($r->{json}{ldap_start_tls}{value}, JSON::PP::false,
   'ldap_start_tls in the configuration API');

$d->stop;
$l->stop;
done_testing;
