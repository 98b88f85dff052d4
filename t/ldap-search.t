#!/usr/bin/perl

# authd: the directory through the API.  GET /ldap/users/search,
# POST /ldap/users/import, GET /ldap/groups/search: system admins only;
# the values given are matched as values, never as filters (the
# injection corpus finds no one); an import creates local users as a
# first login would and answers Harbor's 404 with the uids it could not
# import; a stopped directory is a 503 within ldap_timeout.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use JSON::PP;
use Test::More;

use Harbor::Authd;
use Harbor::Ldap;

my $l = Harbor::Ldap->start;
$l->add_group('devs', 'alice');
$l->add_group('ops', 'bob');

my $pg = Harbor::Authd::Pg->start;
my $d = Harbor::Authd->start(pg => $pg, conf => {
    auth_mode            => 'ldap_auth',
    ldap_url             => $l->url,
    ldap_search_dn       => $l->admin_dn,
    ldap_search_password => $l->admin_pw,
    ldap_base_dn         => $l->base,
    ldap_filter          => '(objectClass=inetOrgPerson)',
    ldap_timeout         => 2,
    ldap_group_base_dn   => $l->group_base,
    ldap_group_search_filter => 'objectClass=groupOfNames',
});

my $admin = $d->admin;
my %U = %Harbor::Ldap::USERS;
my @alice = ('alice', $U{alice}[0]);
my $q = \&Harbor::Authd::uri_escape;

sub users { $pg->psql("SELECT string_agg(username, ',' ORDER BY username)"
                      . " FROM users WHERE NOT deleted") }

# ----------------------------------------------------------- users

my $r = $d->api(GET => '/ldap/users/search?username=alice', $admin);
is($r->{status}, 200, 'search alice');
is_deeply($r->{json}, [{ username => 'alice', realname => 'Alice Liddell',
                         email => 'alice@example.org' }], "Harbor's fields");

$r = $d->api(GET => '/ldap/users/search', $admin);
is_deeply([sort map { $_->{username} } @{$r->{json}}], [qw(alice bob eve)],
          'no username: every directory user');

for my $name ('*', 'al*', '*)(uid=*', ')(uid=*', 'alice)(uid=*',
              '*)(|(uid=*', 'al(ice', 'alice\\', "\x{e4}lice", 'a' x 255)
{
    my $n = $name;
    utf8::encode($n) if utf8::is_utf8($n);
    $r = $d->api(GET => '/ldap/users/search?username=' . $q->($n), $admin);
    is($r->{status}, 200, 'search "' . substr($name, 0, 20) . '": 200');
    is_deeply($r->{json}, [], 'finds no one');
}
is($d->api(GET => '/ldap/users/search?username=' . ('a' x 300), $admin)
   ->{status}, 400, 'a name longer than a username: 400');
is($d->api(GET => '/ldap/users/search?username=al%00ice', $admin)
   ->{status}, 400, 'a NUL: 400');

is($d->api(GET => '/ldap/users/search?username=alice', \@alice)->{status},
   403, 'a directory user may not search: 403');
is($d->api(GET => '/ldap/users/search?username=alice')->{status}, 401,
   'anonymous: 401');

# ----------------------------------------------------------- import

my $before = users();
is($before, 'admin,alice', 'alice onboarded by her login above');

$r = $d->api(POST => '/ldap/users/import', $admin,
             json => { ldap_uid_list => ['bob'] });
is($r->{status}, 200, 'bob imported') or diag $r->{body};
is($pg->psql("SELECT email || '|' || realname || '|' || password FROM users"
             . " WHERE username = 'bob'"), 'bob@example.org|Bob Builder|',
   'with mail and cn, no local password');

$r = $d->api(POST => '/ldap/users/import', $admin, json => {
    ldap_uid_list => ['eve', 'nosuch', '*', ')(uid=*', 'alice', "e\xc3\xbce",
                      'a' x 300] });
is($r->{status}, 404, "failures: Harbor's 404") or diag $r->{body};
my %f = map { $_->{uid} => $_->{error} } @{$r->{json}};
is(scalar(keys %f), 6, 'with the six uids not imported');
ok(exists $f{$_}, "including \"" . substr($_, 0, 20) . '"')
    for 'nosuch', '*', ')(uid=*', 'alice', 'a' x 300;
like($f{alice}, qr/exists/, 'alice: already a user');
like($f{'*'}, qr/not found/, '*: not found');
is(users(), 'admin,alice,bob,eve', 'eve of that list was imported');

is($d->api(POST => '/ldap/users/import', $admin,
           json => { ldap_uid_list => [] })->{status}, 400, 'empty list: 400');
is($d->api(POST => '/ldap/users/import', $admin,
           json => { ldap_uid_list => 'bob' })->{status}, 400,
   'not a list: 400');
is($d->api(POST => '/ldap/users/import', $admin,
           json => { ldap_uid_list => [1] })->{status}, 400,
   'not strings: 400');
is($d->api(POST => '/ldap/users/import', $admin,
           json => { ldap_uid_list => ["bo\0b"] })->{status}, 400,
   'a NUL: 400');
is($d->api(POST => '/ldap/users/import', \@alice,
           json => { ldap_uid_list => ['bob'] })->{status}, 403,
   'a directory user may not import: 403');

# --------------------------------------------------------- groups

$r = $d->api(GET => '/ldap/groups/search?groupname=devs', $admin);
is($r->{status}, 200, 'group search by name');
is_deeply($r->{json}, [{ group_name => 'devs', group_type => 1,
                         ldap_group_dn => lc $l->group_dn('devs') }],
          "Harbor's fields, the DN normalized");

$r = $d->api(GET => '/ldap/groups/search?groupdn='
             . $q->('CN=ops, ou=groups,' . $l->base), $admin);
is_deeply([map { $_->{group_name} } @{$r->{json}}], ['ops'],
          'by DN, any spelling');

$r = $d->api(GET => '/ldap/groups/search', $admin);
is_deeply([sort map { $_->{group_name} } @{$r->{json}}], ['devs', 'ops'],
          'no name: every group');

for my $name ('*', 'dev*', '*)(cn=*', ')(cn=*', "d\x{e9}vs", 'x' x 255) {
    my $n = $name;
    utf8::encode($n) if utf8::is_utf8($n);
    $r = $d->api(GET => '/ldap/groups/search?groupname=' . $q->($n), $admin);
    is($r->{status}, 200, 'group "' . substr($name, 0, 20) . '": 200');
    is_deeply($r->{json}, [], 'finds no group');
}
is($d->api(GET => '/ldap/groups/search?groupdn=' . $q->('not a dn'),
           $admin)->{status}, 400, 'groupdn not a DN: 400');
is_deeply($d->api(GET => '/ldap/groups/search?groupdn='
                  . $q->($l->user_dn('alice')), $admin)->{json}, [],
          'a DN that is not a group: nothing');
is($d->api(GET => '/ldap/groups/search?groupname=devs', \@alice)->{status},
   403, 'a directory user may not search groups: 403');

# ------------------------------------------------ directory stopped

$l->pause;
$r = $d->api(GET => '/ldap/users/search?username=bob', $admin);
is($r->{status}, 503, 'directory stopped: 503');
is($r->{json}{errors}[0]{code}, 'SERVICE_UNAVAILABLE', "Harbor's error");
is($d->api(POST => '/ldap/users/import', $admin,
           json => { ldap_uid_list => ['nosuch'] })->{status}, 503,
   'import: 503');
$l->resume;
is($d->api(GET => '/ldap/users/search?username=bob', $admin)->{status}, 200,
   'back: 200');

unlike($d->log, qr/\Q${\ $l->admin_pw}\E/, 'no password in the log');

$d->stop;
$l->stop;
done_testing;
