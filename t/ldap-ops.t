#!/usr/bin/perl

# authd against two real slapds: what a directory login costs and where
# it goes.
#
# An unknown user and a wrong password make the same LDAP operations
# (bind as the search DN, search, bind, unbind), counted in slapd's stats
# log, so neither the time nor the directory tells them apart; a measured
# check on top: their median times differ by less than a generous bound.
# Failover: with the first URL of ldap_url stopped (SIGSTOP) or gone,
# logins go to the second.  A server without StartTLS refuses the login
# when ldap_start_tls is on (no plain-text fallback).  authd -n checks
# the syntax of ldap_url.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use File::Temp qw(tempdir);
use JSON::PP;
use Test::More;
use Time::HiRes qw(time);

use Harbor::Authd;
use Harbor::Ldap;

my $l1 = Harbor::Ldap->start;
my $l2 = Harbor::Ldap->start;
my $TIMEOUT = 2;

my $pg = Harbor::Authd::Pg->start;
my $d = Harbor::Authd->start(pg => $pg, conf => {
    auth_mode            => 'ldap_auth',
    ldap_url             => $l1->url . ' ' . $l2->url,
    ldap_search_dn       => $l1->admin_dn,
    ldap_search_password => $l1->admin_pw,
    ldap_base_dn         => $l1->base,
    ldap_timeout         => $TIMEOUT,
    'authd.credential_cache_ttl' => 0,
});

my %U = %Harbor::Ldap::USERS;
my $ip = 0;

# every login from an address of its own: the throttle stays out of it
sub login {
    my ($user, $pass) = @_;
    $ip++;
    return $d->request(GET => '/api/v2.0/users/current', user => $user,
        pass => $pass, headers => { 'X-Forwarded-For' =>
            "10.2.@{[int($ip / 250)]}." . ($ip % 250 + 1) })->{status};
}

# the operations of the one connection a login makes to $l
sub ops_of {
    my ($l, $user, $pass) = @_;
    my $mark = $l->mark;
    my $st = login($user, $pass);
    my $c;
    # slapd logs the unbind when it gets to it, maybe after authd answered
    Harbor::Authd::wait_for(30, sub {
        $c = $l->conns_since($mark);
        @$c && grep { $_ eq 'UNBIND' } @{$c->[-1]} })
        or diag "no unbind logged:\n" . substr($l->log, $mark);
    return ($st, join(' ', @{$c->[0] // []}), scalar @$c);
}

# ------------------------------------------------ unknown = wrong password

my ($st, $ops, $n) = ops_of($l1, 'alice', $U{alice}[0]);
is($st, 200, 'alice logs in');
is($ops, 'BIND SRCH BIND UNBIND', 'with a bind, a search, a bind');

($st, my $wrong, $n) = ops_of($l1, 'alice', 'Wr0ng-password');
is($st, 401, 'wrong password: 401');
is($n, 1, 'one connection');
($st, my $unknown, $n) = ops_of($l1, 'nobody', 'Wr0ng-password');
is($st, 401, 'unknown user: 401');
is($unknown, $wrong, "the same operations: $unknown");
($st, my $star, $n) = ops_of($l1, '*', 'Wr0ng-password');
is($star, $wrong, 'and for a name that matches many (escaped: none)');

# medians of ten of each: a bound generous enough never to be flaky, and
# tight enough to catch a missing bind on a loaded machine's scale
sub median_ms {
    my ($user) = @_;
    my @t;
    for (1 .. 10) {
        my $t0 = time;
        login($user, 'Wr0ng-password');
        push @t, (time - $t0) * 1000;
    }
    @t = sort { $a <=> $b } @t;
    return ($t[4] + $t[5]) / 2;
}
my $mw = median_ms('bob');
my $mu = median_ms('nobody2');
cmp_ok(abs($mw - $mu), '<', 50 + $mw,
       sprintf('medians: wrong password %.1f ms, unknown user %.1f ms',
               $mw, $mu));

# ----------------------------------------------------------- failover

my $b2 = $l2->binds('alice');
$l1->pause;
my $t0 = time;
is(login('alice', $U{alice}[0]), 200,
   'first URL stopped (SIGSTOP): alice logs in through the second');
my $dt = time - $t0;
cmp_ok($dt, '<', $TIMEOUT * 2 + 2, sprintf('after the first timed out '
       . '(%.2f s)', $dt));
is($l2->binds('alice'), $b2 + 1, 'the second directory saw her bind');
$l1->resume;

$l1->stop;
$t0 = time;
is(login('alice', $U{alice}[0]), 200, 'first URL gone: the second answers');
cmp_ok(time - $t0, '<', 1, 'at once (connection refused)');
is(login('alice', 'Wr0ng-password'), 401,
   'a wrong password stays a 401 on the second');

# ----------------------------------------------- StartTLS not offered

is($d->api(PUT => '/configurations', $d->admin, json => {
    ldap_url => $l2->url, ldap_start_tls => JSON::PP::true })->{status}, 200,
   'StartTLS on, against a slapd without TLS');
my $b = $l2->binds('alice');
is(login('alice', $U{alice}[0]), 503, 'no login');
is($l2->binds('alice'), $b, 'and no bind in plain text');
is($d->api(PUT => '/configurations', $d->admin, json => {
    ldap_start_tls => JSON::PP::false })->{status}, 200, 'StartTLS off');
is(login('alice', $U{alice}[0]), 200, 'logs in again');

# ------------------------------------------------- ldap_url syntax

for my $bad ('http://127.0.0.1', 'ldap://', 'ldap://:389', 'ldap://h:0',
             'ldap://h:70000', 'ldap://h:3a9', 'ldap://u@h',
             'ldap://h/dc=x', 'ldap://h?x', 'ldap://h ldapx://k',
             'ldap://[::1', 'ldap://h%41')
{
    is($d->api(PUT => '/configurations', $d->admin,
               json => { ldap_url => $bad })->{status}, 400,
       "API: ldap_url \"$bad\" refused");
}
is($d->api(PUT => '/configurations', $d->admin, json => {
    ldap_url => 'ldaps://[::1]:636/ ldap://h.example:389 LDAP://x' })
   ->{status}, 200, 'API: IPv6, ports, several URLs, any case');

my $authd = $Harbor::Authd::AUTHD;
my $dir = tempdir('hb-ldapconf-XXXXXX', TMPDIR => 1, CLEANUP => 1);
sub check_url {
    my ($url) = @_;
    open my $f, '>', "$dir/c.yml" or die "$dir/c.yml: $!";
    print $f "harbor_admin_password: Harbor12345\nldap_url: \"$url\"\n";
    close $f;
    my $out = qx{$authd -n -f $dir/c.yml 2>&1};
    return ($? >> 8, $out);
}
my ($rc, $out) = check_url('ldap://127.0.0.1:389 ldaps://dir.example');
is($rc, 0, 'authd -n: good ldap_url passes') or diag $out;
($rc, $out) = check_url('ldap://127.0.0.1:389 http://dir.example');
isnt($rc, 0, 'authd -n: a bad URL fails');
like($out, qr/c\.yml:2: .*"ldap_url" must be ldap/, 'naming the line');
($rc, $out) = check_url('ldap://dir.example:99999');
like($out, qr/"ldap_url" must have a port/, 'a bad port');

$d->stop;
$l2->stop;
done_testing;
