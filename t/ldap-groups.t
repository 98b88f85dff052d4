#!/usr/bin/perl

# authd: LDAP user groups against a real slapd with the memberOf overlay.
# /usergroups (create checked against the directory, list, search, get,
# rename, delete with its memberships; system admins only but search);
# a group as a project member (member_group, entity_type "g"); a group
# made developer of a private project lets its members push, the highest
# of a user's own role and their groups' holds; a user taken out of the
# group keeps the group's rights while the credential is cached and
# loses them at the next token after the cache lifetime; members of
# ldap_group_admin_dn are system admins; user_group_member is the set of
# the last login.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use JSON::PP;
use Test::More;
use Time::HiRes qw(time);

use Harbor::Authd;
use Harbor::Ldap;

my $TTL = 5;

my $l = Harbor::Ldap->start;
$l->add_user('carol', password => 'C4rol!secret');
$l->add_user('dave', password => 'D4ve!secret');
$l->add_group('devs', 'alice');
$l->add_group('admins', 'bob');
$l->add_group('others', 'eve');
is_deeply([$l->memberof('alice')], [lc $l->group_dn('devs')],
          'the memberOf overlay answers for alice');

my $pg = Harbor::Authd::Pg->start;
my $d = Harbor::Authd->start(pg => $pg, conf => {
    auth_mode            => 'ldap_auth',
    ldap_url             => $l->url,
    ldap_search_dn       => $l->admin_dn,
    ldap_search_password => $l->admin_pw,
    ldap_base_dn         => $l->base,
    ldap_uid             => 'uid',
    ldap_timeout         => 3,
    ldap_group_base_dn   => $l->group_base,
    ldap_group_search_filter => '(objectClass=groupOfNames)',
    ldap_group_attribute_name => 'cn',
    ldap_group_admin_dn  => 'CN=admins, ou=groups,' . $l->base,
    'authd.credential_cache_ttl' => $TTL,
});

my $admin = $d->admin;
my %U = %Harbor::Ldap::USERS;
my @alice = ('alice', $U{alice}[0]);
my @bob = ('bob', $U{bob}[0]);
my @eve = ('eve', $U{eve}[0]);
my @carol = ('carol', 'C4rol!secret');
my @dave = ('dave', 'D4ve!secret');

# ------------------------------------------------------------ /usergroups

my $r = $d->api(POST => '/usergroups', $admin, json => {
    group_type => 1, ldap_group_dn => $l->group_dn('devs') });
is($r->{status}, 201, 'LDAP group created by its DN') or diag $r->{body};
my ($devs) = ($r->{headers}{location} // '') =~ m{/usergroups/(\d+)$};
ok($devs, 'Location names it');

$r = $d->api(GET => "/usergroups/$devs", $admin);
is($r->{json}{group_name}, 'devs', 'the name comes from the directory');
is($r->{json}{group_type}, 1, 'group_type 1');
is($r->{json}{ldap_group_dn}, lc $l->group_dn('devs'), 'the DN, normalized');

is($d->api(POST => '/usergroups', $admin, json => { group_type => 1,
   ldap_group_dn => 'cn=Devs , ou=groups,' . $l->base })->{status}, 409,
   'the same DN in another spelling: 409');
is($d->api(POST => '/usergroups', $admin, json => { group_type => 1,
   ldap_group_dn => $l->group_dn('nosuch') })->{status}, 400,
   'a DN the directory does not have: 400');
for my $bad ('not a dn', '', ')(cn=*', 'cn=x,' . ('a' x 2000)) {
    $r = $d->api(POST => '/usergroups', $admin, json => { group_type => 1,
                 ldap_group_dn => $bad });
    is($r->{status}, 400, 'bad DN "' . substr($bad, 0, 20) . '": 400');
    ok($r->{json}{errors}[0]{code}, "with Harbor's error");
}
is($d->api(POST => '/usergroups', $admin, json => { group_type => 3,
   group_name => 'x' })->{status}, 400, 'group_type 3: 400');

$r = $d->api(POST => '/usergroups', $admin, json => {
    group_name => 'Ops', group_type => 1,
    ldap_group_dn => $l->group_dn('others') });
is($r->{status}, 201, 'a group with a name of its own');
my ($others) = $r->{headers}{location} =~ m{/usergroups/(\d+)$};

$r = $d->api(POST => '/usergroups', $admin, json => { group_type => 1,
    ldap_group_dn => $l->group_dn('admins') });
my ($admins) = $r->{headers}{location} =~ m{/usergroups/(\d+)$};

$r = $d->api(GET => '/usergroups', $admin);
is($r->{status}, 200, 'list');
is_deeply([map { $_->{group_name} } @{$r->{json}}], ['devs', 'Ops', 'admins'],
          'all three');
is($r->{headers}{'x-total-count'}, 3, 'X-Total-Count');
$r = $d->api(GET => '/usergroups?ldap_group_dn='
             . Harbor::Authd::uri_escape('CN=devs,OU=groups,' . $l->base),
             $admin);
is_deeply([map { $_->{id} } @{$r->{json}}], [$devs], 'by DN, any spelling');

is($d->api(PUT => "/usergroups/$others", $admin,
           json => { group_name => 'Operations' })->{status}, 200, 'rename');
is($d->api(GET => "/usergroups/$others", $admin)->{json}{group_name},
   'Operations', 'renamed');
is($d->api(GET => '/usergroups/999999', $admin)->{status}, 404,
   'unknown id: 404');
is($d->api(GET => '/usergroups/abc', $admin)->{status}, 404, 'bad id: 404');

# permissions: a directory user is not a system admin
is($d->api(GET => '/usergroups', \@eve)->{status}, 403, 'list: user 403');
is($d->api(POST => '/usergroups', \@eve, json => { group_type => 1,
   ldap_group_dn => $l->group_dn('devs') })->{status}, 403,
   'create: user 403');
is($d->api(DELETE => "/usergroups/$devs", \@eve)->{status}, 403,
   'delete: user 403');
is($d->api(GET => '/usergroups')->{status}, 401, 'anonymous: 401');

$r = $d->api(GET => '/usergroups/search?groupname=dev', \@eve);
is($r->{status}, 200, 'search: any user');
is_deeply([map { $_->{group_name} } @{$r->{json}}], ['devs'], 'finds devs');
is($d->api(GET => '/usergroups/search?groupname=%25', \@eve)->{json}
   && scalar @{$d->api(GET => '/usergroups/search?groupname=%25',
                       \@eve)->{json}}, 0, 'a % is a character, not a pattern');
is($d->api(GET => '/usergroups/search', \@eve)->{status}, 400,
   'search without groupname: 400');

# ----------------------------------------------- a group in a project

my $pid = $d->create_project('secret');
$r = $d->api(POST => '/projects/secret/members', $admin, json => {
    role_id => 2, member_group => { ldap_group_dn => $l->group_dn('devs'),
                                    group_type => 1 } });
is($r->{status}, 201, 'devs made developer of secret') or diag $r->{body};

$r = $d->api(POST => '/projects/secret/members', $admin, json => {
    role_id => 3, member_group => { group_name => 'Operations' } });
is($r->{status}, 201, 'Operations (by name) made guest');

is($d->api(POST => '/projects/secret/members', $admin, json => {
    role_id => 3, member_group => { id => $devs + 0 } })->{status}, 409,
   'devs again (by id): 409');
is($d->api(POST => '/projects/secret/members', $admin, json => {
    role_id => 3, member_group => { group_name => 'nosuch' } })->{status},
   404, 'an unknown group: 404');
is($d->api(POST => '/projects/secret/members', $admin, json => {
    role_id => 3, member_group => 'devs' })->{status}, 400,
   'member_group not an object: 400');

# as Harbor: a directory group added by DN becomes a user group then
$l->add_group('auditors', 'carol');
$r = $d->api(POST => '/projects/secret/members', $admin, json => {
    role_id => 3, member_group => { ldap_group_dn => $l->group_dn('auditors'),
                                    group_type => 1 } });
is($r->{status}, 201, 'a group unknown so far, by its DN: added');
is($d->api(GET => '/usergroups?ldap_group_dn=' . Harbor::Authd::uri_escape(
   $l->group_dn('auditors')), $admin)->{json}[0]{group_name}, 'auditors',
   'and known as a user group now, named by the directory');
is($d->api(POST => '/projects/secret/members', $admin, json => {
    role_id => 3, member_group => { ldap_group_dn =>
    $l->group_dn('nosuch') } })->{status}, 400,
   'a DN the directory does not have: 400');
is($d->api(POST => '/projects/secret/members', $admin, json => {
    role_id => 3, member_group => { ldap_group_dn => ')(cn=*' } })
   ->{status}, 400, 'not a DN: 400');

$r = $d->api(GET => '/projects/secret/members', $admin);
my %m = map { $_->{entity_name} => $_ } @{$r->{json}};
is($m{devs}{entity_type}, 'g', 'the list shows devs as entity_type g');
is($m{devs}{role_id}, 2, 'as developer');
is($m{Operations}{entity_type}, 'g', 'and Operations');

sub actions {
    my ($cred) = @_;
    my $t = $d->token(user => $cred->[0], pass => $cred->[1],
                      scope => 'repository:secret/app:push,pull');
    return 'status ' . $t->{status} unless $t->{status} == 200;
    return join ',', sort @{Harbor::Authd::access_map($t->{claims})
                            ->{'secret/app'} // []};
}

is(actions(\@alice), 'pull,push', 'alice (devs) may push to secret');
# another spelling of her name misses the cache: a second directory login
is(actions(['ALICE', $U{alice}[0]]), 'pull,push',
   'and still after another directory login in the same groups');
is(actions(\@eve), 'pull', 'eve (Operations, guest) may pull only');
is(actions(\@carol), 'pull', 'carol (auditors, guest) may pull');
is(actions(\@dave), '', 'dave (in no group) gets nothing');

is($pg->psql("SELECT string_agg(g.group_name, ',' ORDER BY g.id)"
             . " FROM user_group_member m JOIN user_group g"
             . " ON g.id = m.group_id JOIN users u ON u.user_id = m.user_id"
             . " WHERE u.username = 'alice'"), 'devs',
   'alice\'s groups stored at her login');

# her own role lower than the group's: the highest holds
$d->add_member('secret', 'alice', 3);
is(actions(\@alice), 'pull,push', 'own guest role + devs developer: push');

# ------------------------------- out of the group: after the cache lifetime

# a spelling of her name not seen yet: a directory login, cached from now
# for TTL seconds (counted in whole seconds: TTL - 1 at the least)
my @Alice = ('Alice', $U{alice}[0]);
my $t0 = time;
is(actions(\@Alice), 'pull,push', 'a fresh directory login (Alice)');
$l->remove_member('devs', 'alice');
is_deeply([$l->memberof('alice')], [], 'alice is out of devs in the directory');
is(actions(\@Alice), 'pull,push', 'still pushes on the cached credential');
my $gone = Harbor::Authd::wait_for($TTL + 10, sub {
    actions(\@Alice) eq 'pull' });
ok($gone, 'and pulls only once the cache lifetime is over');
cmp_ok(time - $t0, '>=', $TTL - 1, 'not before it (' .
       sprintf('%.1f', time - $t0) . ' s after the login)');
is($pg->psql("SELECT count(*) FROM user_group_member m JOIN users u"
             . " ON u.user_id = m.user_id WHERE u.username = 'alice'"), 0,
   'her groups replaced at that login');

$l->add_member('devs', 'alice');
ok(Harbor::Authd::wait_for($TTL + 10, sub {
    actions(\@alice) eq 'pull,push' }), 'back in devs: push again');

# ------------------------------------------------------ group admin DN

$r = $d->api(GET => '/configurations', \@bob);
is($r->{status}, 200, 'bob (in ldap_group_admin_dn) is a system admin');
is($d->api(GET => '/configurations', \@eve)->{status}, 403,
   'eve is not');
is(actions(\@bob), 'pull,push', 'bob may push anywhere');
is($pg->psql("SELECT sysadmin_flag FROM users WHERE username = 'bob'"), 'f',
   'for his logins only: the database flag stays off');

# the UI's session of a directory admin is an admin's too
sub session_of {
    my ($user, $pass) = @_;
    my $r = $d->request(POST => '/c/login',
        headers => { 'Content-Type' => 'application/x-www-form-urlencoded' },
        body => "principal=$user&password=" . Harbor::Authd::uri_escape($pass));
    my ($sid) = ($r->{headers}{'set-cookie'} // '') =~ /(?:^|, )sid=([^;]*)/;
    return $sid;
}
sub with_session {
    my ($sid, $path) = @_;
    return $d->request(GET => "/api/v2.0$path",
                       headers => { Cookie => "sid=$sid" })->{status};
}
my $bob_sid = session_of(@bob);
ok($bob_sid, 'bob logs in to the UI');
is(with_session($bob_sid, '/configurations'), 200,
   'his session is a system admin\'s (ldap_group_admin_dn)');
is(with_session(session_of(@eve), '/configurations'), 403, 'eve\'s is not');

$l->remove_member('admins', 'bob');
ok(Harbor::Authd::wait_for($TTL + 10, sub {
    $d->api(GET => '/configurations', \@bob)->{status} == 403 }),
   'out of the admin group: no longer an admin after the cache lifetime');
is(with_session(session_of(@bob), '/configurations'), 403,
   'and a new session of his is not an admin\'s');

# ------------------------------------------------ the group goes

is($d->api(DELETE => "/usergroups/$devs", $admin)->{status}, 200,
   'devs deleted');
is($pg->psql("SELECT count(*) FROM project_member WHERE entity_type = 'g'"
             . " AND entity_id = $devs"), 0, 'its memberships went with it');
ok(Harbor::Authd::wait_for($TTL + 10, sub { actions(\@alice) eq 'pull' }),
   'alice is back to her own guest role');
is($d->api(DELETE => "/usergroups/$devs", $admin)->{status}, 404,
   'deleted twice: 404');

unlike($d->log, qr/\Q$U{alice}[0]\E|\Q${\ $l->admin_pw}\E/,
       'no password in the log');

$d->stop;
$l->stop;
done_testing;
