#!/usr/bin/perl

# authd: the REST API, Harbor-compatible: users, projects, members, their
# permission checks, mass assignment, ids bound to the project in the
# path, pagination and allow-listed sort and query keys.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use JSON::PP;
use Test::More;
use Harbor::Authd;

my $pg = Harbor::Authd::Pg->start;
my $d = Harbor::Authd->start(pg => $pg);

my $pw = 'Passw0rd!';
my $admin = $d->admin;
my $T = JSON::PP::true;
my $F = JSON::PP::false;

sub status { $_[0]{status} }
sub err { $_[0]{json} ? $_[0]{json}{errors}[0]{message} // '' : $_[0]{body} }

# ---------------------------------------------------------------- users

my $r = $d->api(POST => '/users', $admin, json => {
    username => 'alice', email => 'alice@example.com', realname => 'Alice',
    password => $pw, comment => 'first' });
is(status($r), 201, 'admin creates alice');
like($r->{headers}{location}, qr{^/api/v2\.0/users/\d+$}, 'Location');
my ($alice_id) = $r->{headers}{location} =~ /(\d+)$/;
my $alice = ['alice', $pw];

$r = $d->api(GET => "/users/$alice_id", $admin);
is(status($r), 200, 'GET user');
is_deeply([sort keys %{$r->{json}}],
          [sort qw(user_id username email realname comment sysadmin_flag
                   creation_time update_time admin_role_in_auth)],
          'UserResp fields, no password');
is($r->{json}{username}, 'alice', 'username');
is($r->{json}{email}, 'alice@example.com', 'email');
is($r->{json}{comment}, 'first', 'comment');
ok(!$r->{json}{sysadmin_flag}, 'not an admin');
like($r->{json}{creation_time}, qr/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/,
     'creation_time format');

my $bob_id = $d->create_user('bob', password => $pw);
my $bob = ['bob', $pw];

# mass assignment: sysadmin_flag in the body is ignored
$r = $d->api(POST => '/users', $admin, json => {
    username => 'mallory', email => 'm@example.com', password => $pw,
    sysadmin_flag => $T, user_id => 1, deleted => $T });
is(status($r), 201, 'create with extra fields');
my ($mallory_id) = $r->{headers}{location} =~ /(\d+)$/;
isnt($mallory_id, 1, 'user_id from the body ignored');
$r = $d->api(GET => "/users/$mallory_id", $admin);
ok(!$r->{json}{sysadmin_flag}, 'sysadmin_flag from the body ignored');
$r = $d->token(user => 'mallory', pass => $pw, scope => 'registry:catalog:*');
is_deeply($r->{claims}{access}, [], 'mallory has no catalog access');

# who may create
is(status($d->api(POST => '/users', $alice, json => {
    username => 'eve', password => $pw })), 403, 'non-admin cannot create users');
is(status($d->api(POST => '/users', undef, json => {
    username => 'eve', password => $pw })), 401,
   'anonymous cannot create users (no self-registration)');
is(status($d->api(POST => '/users', ['alice', 'wrong'], json => {
    username => 'eve', password => $pw })), 401, 'bad credentials: 401');

# validation
my @bad_users = (
    [{ username => 'alice', password => $pw }, 409, 'duplicate username'],
    [{ username => 'ALICE', password => $pw }, 409, 'duplicate, other case'],
    [{ username => 'al2', email => 'ALICE@example.com', password => $pw },
     409, 'duplicate email'],
    [{ username => 'a#b', password => $pw }, 400, 'username with #'],
    [{ username => 'a,b', password => $pw }, 400, 'username with ,'],
    [{ username => '', password => $pw }, 400, 'empty username'],
    [{ username => 'x' x 256, password => $pw }, 400, 'username too long'],
    [{ password => $pw }, 400, 'no username'],
    [{ username => 'weak', password => 'password' }, 400, 'weak password'],
    [{ username => 'nopw' }, 400, 'no password'],
    [{ username => 'em', email => 'not-an-email', password => $pw }, 400,
     'bad email'],
    [{ username => 5, password => $pw }, 400, 'username not a string'],
    [{ username => "nul\x{0}x", password => $pw }, 400, 'NUL in username'],
);
for my $c (@bad_users) {
    is(status($d->api(POST => '/users', $admin, json => $c->[0])), $c->[1],
       "create user: $c->[2] -> $c->[1]");
}
is(status($d->api(POST => '/users', $admin, body => '{"username":',
                  headers => { 'Content-Type' => 'application/json' })),
   400, 'invalid JSON: 400');
is(status($d->api(POST => '/users', $admin, body => '[1]',
                  headers => { 'Content-Type' => 'application/json' })),
   400, 'JSON array: 400');
is(status($d->api(POST => '/users', $admin,
                  body => '{"username":"dup","username":"dup2","password":"Passw0rd!"}',
                  headers => { 'Content-Type' => 'application/json' })),
   400, 'duplicate JSON keys: 400');
is(status($d->api(POST => '/users', $admin)), 400, 'no body: 400');

# list, pagination, sort, q
$d->create_user("user$_", password => $pw) for 1 .. 12;
$r = $d->api(GET => '/users', $alice);
is(status($r), 403, 'non-admin cannot list users');
$r = $d->api(GET => '/users', $admin);
is(status($r), 200, 'admin lists users');
my $total = $r->{headers}{'x-total-count'};
is($total, 16, 'X-Total-Count');
is(scalar @{$r->{json}}, 10, 'default page_size 10');
like($r->{headers}{link}, qr{</api/v2\.0/users\?page=2&page_size=10>; rel="next"},
     'Link next');
$r = $d->api(GET => '/users?page=2&page_size=10', $admin);
is(scalar @{$r->{json}}, 6, 'second page');
like($r->{headers}{link}, qr{rel="prev"}, 'Link prev');
unlike($r->{headers}{link}, qr{rel="next"}, 'no next on the last page');
$r = $d->api(GET => '/users?page_size=1000', $admin);
is(scalar @{$r->{json}}, 16, 'page_size capped (100) but all fit');
$r = $d->api(GET => '/users?page_size=3&sort=-username', $admin);
is_deeply([map { $_->{username} } @{$r->{json}}], [qw(user9 user8 user7)],
          'sort=-username');
like($r->{headers}{link}, qr{sort=-username}, 'Link keeps sort');
is(status($d->api(GET => '/users?sort=password', $admin)), 400,
   'sort key not allow-listed: 400');
is(status($d->api(GET => '/users?sort=username;DROP%20TABLE%20users', $admin)),
   400, 'sort injection: 400');
is(status($d->api(GET => '/users?page=0', $admin)), 400, 'page=0: 400');
is(status($d->api(GET => '/users?page_size=x', $admin)), 400, 'page_size=x: 400');
$r = $d->api(GET => '/users?q=username%3D~ali', $admin);
is_deeply([map { $_->{username} } @{$r->{json}}], ['alice'], 'q=username=~ali');
$r = $d->api(GET => "/users?username=%25", $admin);
is(scalar @{$r->{json}}, 0, 'LIKE wildcards in the value are literal');
is(status($d->api(GET => '/users?q=password%3Dx', $admin)), 400,
   'q key not allow-listed: 400');

$r = $d->api(GET => '/users/search?username=ali', $bob);
is_deeply($r->{json}, [{ user_id => $alice_id + 0, username => 'alice' }],
          'users/search: id and name only');

# current, self, others
$r = $d->api(GET => '/users/current', $alice);
is($r->{json}{username}, 'alice', 'users/current');
is(status($d->api(GET => '/users/current')), 401, 'users/current anonymous');
is(status($d->api(GET => "/users/$bob_id", $alice)), 403, 'other user: 403');
is(status($d->api(GET => "/users/$alice_id", $alice)), 200, 'self: 200');
is(status($d->api(GET => '/users/99999', $admin)), 404, 'missing user: 404');
is(status($d->api(GET => '/users/abc', $admin)), 404, 'non-numeric id: 404');

$r = $d->api(PUT => "/users/$alice_id", $alice, json => {
    realname => 'Alice A.', sysadmin_flag => $T, username => 'root' });
is(status($r), 200, 'update own profile');
$r = $d->api(GET => "/users/$alice_id", $alice);
is($r->{json}{realname}, 'Alice A.', 'realname changed');
is($r->{json}{username}, 'alice', 'username not changed by PUT');
ok(!$r->{json}{sysadmin_flag}, 'sysadmin_flag not changed by PUT');
is(status($d->api(PUT => "/users/$bob_id", $alice, json => { realname => 'x' })),
   403, 'cannot update another user');

# passwords
is(status($d->api(PUT => "/users/$alice_id/password", $alice,
                  json => { old_password => 'wrong', new_password => 'N3wPassw0rd' })),
   403, 'wrong old password: 403');
is(status($d->api(PUT => "/users/$alice_id/password", $alice,
                  json => { new_password => 'N3wPassw0rd' })),
   403, 'no old password for oneself: 403');
is(status($d->api(PUT => "/users/$alice_id/password", $alice,
                  json => { old_password => $pw, new_password => 'weak' })),
   400, 'weak new password: 400');
is(status($d->api(PUT => "/users/$alice_id/password", $alice,
                  json => { old_password => $pw, new_password => $pw })),
   400, 'same password: 400');
is(status($d->api(PUT => "/users/$bob_id/password", $alice,
                  json => { old_password => $pw, new_password => 'N3wPassw0rd' })),
   403, "cannot change another user's password");
is(status($d->api(PUT => "/users/$alice_id/password", $alice,
                  json => { old_password => $pw, new_password => 'N3wPassw0rd' })),
   200, 'own password changed');
is(status($d->api(GET => '/users/current', $alice)), 401, 'old password gone');
$alice = ['alice', 'N3wPassw0rd'];
is(status($d->api(GET => '/users/current', $alice)), 200, 'new password works');

# sysadmin flag
is(status($d->api(PUT => "/users/$alice_id/sysadmin", $alice,
                  json => { sysadmin_flag => $T })), 403,
   'non-admin cannot make herself admin');
is(status($d->api(PUT => '/users/1/sysadmin', $admin,
                  json => { sysadmin_flag => $F })), 403,
   'admin cannot drop his own flag');
is(status($d->api(PUT => "/users/$bob_id/sysadmin", $admin,
                  json => { sysadmin_flag => 'yes' })), 400, 'flag must be boolean');
is(status($d->api(PUT => "/users/$bob_id/sysadmin", $admin,
                  json => { sysadmin_flag => $T })), 200, 'bob made admin');
is(status($d->api(GET => '/users', $bob)), 200, 'bob lists users now');
is(status($d->api(PUT => "/users/$bob_id/sysadmin", $admin,
                  json => { sysadmin_flag => $F })), 200, 'bob demoted');
is(status($d->api(GET => '/users', $bob)), 403, 'and cannot any more');

# delete
my $carol_id = $d->create_user('carol', password => $pw);
is(status($d->api(DELETE => "/users/$carol_id", $alice)), 403,
   'non-admin cannot delete users');
is(status($d->api(DELETE => '/users/1', $admin)), 403, 'admin cannot delete himself');
is(status($d->api(DELETE => "/users/$carol_id", $admin)), 200, 'admin deletes carol');
is(status($d->api(GET => "/users/$carol_id", $admin)), 404, 'carol is gone');
is(status($d->api(DELETE => "/users/$carol_id", $admin)), 404, 'deleting twice: 404');
is(status($d->api(GET => '/users/current', ['carol', $pw])), 401,
   'carol cannot log in');
$carol_id = $d->create_user('carol', password => $pw);
ok($carol_id, 'the name carol can be used again');
my $carol = ['carol', $pw];

# ------------------------------------------------------------- projects

$r = $d->api(POST => '/projects', $alice, json => { project_name => 'alpha' });
is(status($r), 201, 'alice creates alpha');
like($r->{headers}{location}, qr{^/api/v2\.0/projects/\d+$}, 'Location');
my ($alpha_id) = $r->{headers}{location} =~ /(\d+)$/;

$r = $d->api(GET => '/projects/alpha', $alice);
is(status($r), 200, 'GET by name');
my $p = $r->{json};
is($p->{name}, 'alpha', 'name');
is($p->{project_id}, $alpha_id, 'project_id');
is($p->{owner_name}, 'alice', 'owner_name');
is($p->{owner_id}, $alice_id, 'owner_id');
is($p->{current_user_role_id}, 1, 'creator is projectAdmin');
is_deeply($p->{current_user_role_ids}, [1], 'current_user_role_ids');
is($p->{repo_count}, 0, 'repo_count');
is($p->{metadata}{public}, 'false', 'private by default');
ok(exists $p->{$_}, "Project field $_")
    for qw(creation_time update_time deleted);
is(status($d->api(GET => "/projects/$alpha_id", $alice)), 200, 'GET by id');

for my $c (['Alpha', 'uppercase'], ['a..b', 'double separator'], ['-a', 'leading'],
           ['a/b', 'slash'], ['x' x 256, '256 characters'], ['', 'empty'])
{
    is(status($d->api(POST => '/projects', $alice,
                      json => { project_name => $c->[0] })), 400,
       "project name refused: $c->[1]");
}
is(status($d->api(POST => '/projects', $alice, json => {})), 400,
   'no project_name: 400');
is(status($d->api(POST => '/projects', $bob, json => { project_name => 'alpha' })),
   409, 'duplicate project: 409');
is(status($d->api(POST => '/projects', undef, json => { project_name => 'anon' })),
   401, 'anonymous cannot create projects');

$r = $d->api(POST => '/projects', $bob, json => { project_name => 'bravo', public => $T });
is(status($r), 201, 'bob creates public bravo (public: true)');
is($d->api(GET => '/projects/bravo', $bob)->{json}{metadata}{public}, 'true',
   'public through the top-level flag');
is(status($d->api(POST => '/projects', $bob, json => {
    project_name => 'charlie', metadata => { public => 'maybe' } })), 400,
   'metadata.public must be true or false');
is(status($d->api(POST => '/projects', $bob, json => {
    project_name => 'charlie', metadata => { owner => 'alice' } })), 400,
   'unknown metadata refused');
is(status($d->api(POST => '/projects', $bob, json => {
    project_name => 'charlie', registry_id => 3 })), 403,
   'a proxy cache project is for system administrators (t/proxy-cache.t)');

# digits-only name: X-Is-Resource-Name
is(status($d->api(POST => '/projects', $bob, json => { project_name => '123' })),
   201, 'digits-only project name');
$r = $d->api(GET => '/projects/123', $bob, headers => { 'X-Is-Resource-Name' => 'true' });
is($r->{json}{name}, '123', 'X-Is-Resource-Name: true reads it as a name');

# HEAD
is(status($d->api(HEAD => '/projects?project_name=alpha', $bob)), 200,
   'HEAD existing project: 200');
is(status($d->api(HEAD => '/projects?project_name=zulu', $bob)), 404,
   'HEAD missing project: 404');
is(status($d->api(HEAD => '/projects', $bob)), 400, 'HEAD without name: 400');
is(status($d->api(HEAD => '/projects?project_name=alpha')), 401,
   'HEAD anonymous: 401');

# visibility
sub names { [sort map { $_->{name} } @{$_[0]{json}}] }
$r = $d->api(GET => '/projects');
is_deeply(names($r), [qw(bravo library)], 'anonymous sees public projects');
$r = $d->api(GET => '/projects', $alice);
is_deeply(names($r), [qw(alpha bravo library)], 'alice: public + her own');
$r = $d->api(GET => '/projects', $admin);
is_deeply(names($r), [qw(123 alpha bravo library)], 'admin: all');
is($r->{headers}{'x-total-count'}, 4, 'X-Total-Count');
$r = $d->api(GET => '/projects?page_size=1&sort=-name', $admin);
is_deeply(names($r), ['library'], 'sort=-name, page_size=1');
like($r->{headers}{link}, qr{page=2&page_size=1&sort=-name>; rel="next"}, 'Link');
$r = $d->api(GET => '/projects?q=name%3D~alp', $admin);
is_deeply(names($r), ['alpha'], 'q=name=~alp');
$r = $d->api(GET => '/projects?public=true', $admin);
is_deeply(names($r), [qw(bravo library)], 'public=true');
$r = $d->api(GET => '/projects?name=a', $bob);
is_deeply(names($r), [qw(bravo library)], 'name= is fuzzy, and filtered by visibility');
$r = $d->api(GET => "/projects?q=name%3D~a'%20OR%201%3D1", $admin);
is_deeply(names($r), [], 'quote in q is data');
is(status($d->api(GET => '/projects?sort=name%20DESC', $admin)), 400,
   'sort with SQL: 400');
is(status($d->api(GET => '/projects?q=owner_id%3D1', $admin)), 400,
   'q key not allow-listed: 400');

is(status($d->api(GET => '/projects/alpha', $bob)), 403, 'private, non-member: 403');
is(status($d->api(GET => '/projects/alpha')), 401, 'private, anonymous: 401');
is(status($d->api(GET => '/projects/zulu')), 401, 'missing, anonymous: 401 too');
is(status($d->api(GET => '/projects/zulu', $bob)), 404, 'missing: 404');
is(status($d->api(GET => '/projects/bravo')), 200, 'public, anonymous: 200');
is($d->api(GET => '/projects/bravo', $alice)->{json}{current_user_role_id}, 0,
   'non-member of a public project: role 0');

# update
is(status($d->api(PUT => '/projects/alpha', $bob,
                  json => { metadata => { public => 'true' } })), 403,
   'non-member cannot update');
is(status($d->api(PUT => '/projects/bravo', $alice,
                  json => { metadata => { public => 'false' } })), 403,
   'non-member of a public project cannot update');
is(status($d->api(PUT => '/projects/alpha', $alice,
                  json => { metadata => { public => 'true', severity => 'high' } })),
   200, 'projectAdmin updates');
is(status($d->api(GET => '/projects/alpha')), 200, 'alpha is public now');
is($d->api(GET => '/projects/alpha')->{json}{metadata}{severity}, 'high',
   'other metadata kept');
is(status($d->api(PUT => '/projects/alpha', $alice,
                  json => { metadata => { public => 'false' } })), 200,
   'private again');

# summary
$r = $d->api(GET => '/projects/alpha/summary', $alice);
is($r->{json}{project_admin_count}, 1, 'summary: one projectAdmin');
is($r->{json}{repo_count}, 0, 'summary: repo_count');

# -------------------------------------------------------------- members

$r = $d->api(POST => '/projects/alpha/members', $alice,
             json => { role_id => 2, member_user => { username => 'bob' } });
is(status($r), 201, 'alice adds bob as developer');
like($r->{headers}{location}, qr{/api/v2\.0/projects/$alpha_id/members/\d+$},
     'Location');
my ($bob_mid) = $r->{headers}{location} =~ /(\d+)$/;

$r = $d->api(GET => '/projects/alpha/members', $bob);
is(status($r), 200, 'developer lists members');
is_deeply([sort map { "$_->{entity_name}:$_->{role_name}" } @{$r->{json}}],
          [qw(alice:projectAdmin bob:developer)], 'members and roles');
my ($m) = grep { $_->{entity_name} eq 'bob' } @{$r->{json}};
is_deeply([sort keys %$m],
          [sort qw(id project_id entity_name role_name role_id entity_id entity_type)],
          'ProjectMemberEntity fields');
is($m->{entity_type}, 'u', 'entity_type u');
is($m->{entity_id}, $bob_id, 'entity_id');
is($m->{project_id}, $alpha_id, 'project_id');

is(status($d->api(POST => '/projects/alpha/members', $bob,
                  json => { role_id => 1, member_user => { username => 'carol' } })),
   403, 'developer cannot add members');
is(status($d->api(PUT => "/projects/alpha/members/$bob_mid", $bob,
                  json => { role_id => 1 })), 403, 'developer cannot promote himself');
is(status($d->api(DELETE => "/projects/alpha/members/$bob_mid", $bob)), 403,
   'developer cannot remove members');

for my $c ([{ role_id => 9, member_user => { username => 'carol' } }, 400, 'role 9'],
           [{ role_id => 0, member_user => { username => 'carol' } }, 400, 'role 0'],
           [{ role_id => '2', member_user => { username => 'carol' } }, 400,
            'role as a string'],
           [{ role_id => 2, member_user => { username => 'nobody' } }, 404,
            'unknown user'],
           [{ role_id => 2, member_user => { username => 'bob' } }, 409,
            'already a member'],
           [{ role_id => 2 }, 400, 'no member_user'],
           [{ role_id => 2, member_group => { group_name => 'g' } }, 404,
            'unknown group'],
           [{ role_id => 2, member_group => { group_name => 'g',
                                              group_type => 2 } }, 400,
            'a group type other than LDAP'],
           [{ role_id => 2, member_group => ['g'] }, 400,
            'member_group not an object'])
{
    is(status($d->api(POST => '/projects/alpha/members', $alice, json => $c->[0])),
       $c->[1], "add member: $c->[2] -> $c->[1]");
}

# limitedGuest does not see members
$d->add_member('alpha', 'mallory', 5, cred => $alice);
is(status($d->api(GET => '/projects/alpha/members', ['mallory', $pw])), 403,
   'limitedGuest cannot list members');
is(status($d->api(GET => '/projects/alpha', ['mallory', $pw])), 200,
   'but sees the project');

# carol administers delta; ids from alpha do not exist there
$d->create_project('delta', cred => $carol);
is(status($d->api(GET => '/projects/alpha/members', $carol)), 403,
   'member of delta gets 403 for alpha members');
is(status($d->api(GET => "/projects/alpha/members/$bob_mid", $carol)), 403,
   '... and for one of them');
is(status($d->api(GET => "/projects/delta/members/$bob_mid", $carol)), 404,
   "alpha's member id through delta: 404");
is(status($d->api(PUT => "/projects/delta/members/$bob_mid", $carol,
                  json => { role_id => 1 })), 404,
   "alpha's member id through delta: PUT 404");
is(status($d->api(DELETE => "/projects/delta/members/$bob_mid", $carol)), 404,
   "alpha's member id through delta: DELETE 404");
is(status($d->api(GET => "/projects/delta/members/$bob_mid", $admin)), 404,
   'even for the admin: bound to the project in the path');
is($d->api(GET => "/projects/alpha/members/$bob_mid", $alice)->{json}{role_name},
   'developer', "bob's membership untouched");
is(status($d->api(GET => '/projects/alpha/members/abc', $alice)), 404,
   'non-numeric member id: 404');

# change and remove
is(status($d->api(PUT => "/projects/alpha/members/$bob_mid", $alice,
                  json => { role_id => 4 })), 200, 'bob made maintainer');
is($d->api(GET => "/projects/alpha/members/$bob_mid", $bob)->{json}{role_name},
   'maintainer', 'role changed');
is(status($d->api(PUT => "/projects/alpha/members/$bob_mid", $alice,
                  json => { role_id => 7 })), 400, 'role 7 refused');
is(status($d->api(POST => '/projects/alpha/members', $bob,
                  json => { role_id => 3, member_user => { username => 'carol' } })),
   403, 'maintainer cannot add members');
is(status($d->api(DELETE => "/projects/alpha/members/$bob_mid", $alice)), 200,
   'bob removed');
is(status($d->api(GET => '/projects/alpha', $bob)), 403, 'bob lost access');

$r = $d->api(GET => '/projects/alpha/members?entityname=ali', $alice);
is_deeply([map { $_->{entity_name} } @{$r->{json}}], ['alice'], 'entityname filter');

# ------------------------------------------------------- project delete

$d->add_member('alpha', 'bob', 2, cred => $alice);
is(status($d->api(DELETE => '/projects/alpha', $bob)), 403,
   'developer cannot delete the project');
is(status($d->api(DELETE => '/projects/alpha', $carol)), 403,
   'non-member cannot delete the project');
is(status($d->api(DELETE => '/projects/alpha', $alice)), 200,
   'projectAdmin deletes it');
is(status($d->api(GET => '/projects/alpha', $alice)), 404, 'gone');
is(status($d->api(HEAD => '/projects?project_name=alpha', $alice)), 404,
   'HEAD: gone');
is(status($d->api(POST => '/projects', $carol, json => { project_name => 'alpha' })),
   201, 'the name can be used again');
is($d->api(GET => '/projects/alpha', $carol)->{json}{owner_name}, 'carol',
   'by its new owner');

# admin may do anything to any project
is(status($d->api(PUT => '/projects/delta', $admin,
                  json => { metadata => { public => 'true' } })), 200,
   'sysadmin updates any project');
is(status($d->api(GET => '/projects/delta/members', $admin)), 200,
   'sysadmin lists any members');

# ------------------------------------ configuration-dependent behaviour

$d->restart(conf => { project_creation_restriction => 'adminonly',
                      self_registration => 'true' });
is(status($d->api(POST => '/projects', $alice, json => { project_name => 'echo' })),
   403, 'adminonly: users cannot create projects');
is(status($d->api(POST => '/projects', $admin, json => { project_name => 'echo' })),
   201, 'adminonly: admin can');

$r = $d->api(POST => '/users', undef, json => {
    username => 'selfreg', password => $pw, sysadmin_flag => $T });
is(status($r), 201, 'self-registration: anonymous creates an account');
$r = $d->api(GET => '/users/current', ['selfreg', $pw]);
ok(!$r->{json}{sysadmin_flag}, 'self-registration: sysadmin_flag ignored');
is(status($d->api(POST => '/users', $alice, json => {
    username => 'other', password => $pw })), 403,
   'self-registration: a logged-in non-admin still cannot create users');

# ------------------------------------------------------------- the log

my $log = $d->log;
for my $secret ($pw, 'N3wPassw0rd', $Harbor::Authd::ADMIN_PASSWORD) {
    unlike($log, qr/\Q$secret\E/, "no password in the log");
}
unlike($log, qr/ crit: /, 'no critical errors');
unlike($log, qr/database query failed/, 'no failed queries');

$d->stop;
$pg->stop;
done_testing;
