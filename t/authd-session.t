#!/usr/bin/perl

# authd: the web UI's sessions.  POST /c/login (form principal, password)
# and GET /c/log_out; the cookie's attributes; the API accepting the
# session; X-Harbor-CSRF-Token on unsafe methods (and only for sessions);
# login CSRF; idle and absolute timeouts; sessions surviving a restart;
# a changed password, a deleted user ending sessions; throttling of
# failed logins per address.

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

sub form {
    my (%f) = @_;
    return join '&', map { "$_=" . Harbor::Authd::uri_escape($f{$_}) }
        sort keys %f;
}

# POST /c/login; returns the response with {sid} and {csrf} when given
sub login {
    my ($user, $pass, %o) = @_;
    my $r = $d->request(POST => '/c/login',
        headers => { 'Content-Type' => 'application/x-www-form-urlencoded',
                     %{$o{headers} || {}} },
        body => $o{body} // form(principal => $user, password => $pass));
    my $c = $r->{headers}{'set-cookie'} // '';
    ($r->{sid}) = $c =~ /(?:^|, )sid=([^;]*)/;
    ($r->{csrf_cookie}) = $c =~ /(?:^|, )__csrf=([^;]*)/;
    $r->{csrf} = $r->{headers}{'x-harbor-csrf-token'};
    return $r;
}

# the API with a session: sess($r_of_login, METHOD, path, token => .., json => ..)
sub sess {
    my ($s, $method, $path, %o) = @_;
    my %h = (Cookie => "sid=$s->{sid}", %{$o{headers} || {}});
    $h{'X-Harbor-CSRF-Token'} = $o{token} if defined $o{token};
    return $d->request($method, "/api/v2.0$path", headers => \%h,
        (exists $o{json} ? (json => $o{json}) : ()));
}

sub msg { $_[0]{json} ? $_[0]{json}{errors}[0]{message} // '' : $_[0]{body} }

# ------------------------------------------------------------- login

my $r = login('admin', $Harbor::Authd::ADMIN_PASSWORD);
is($r->{status}, 200, 'admin logs in');
like($r->{sid}, qr/^[0-9a-f]{64}$/, 'sid cookie: 256 random bits');
my $cookies = $r->{headers}{'set-cookie'};
like($cookies, qr/sid=[0-9a-f]{64}; Path=\/; HttpOnly; SameSite=Lax(?!; Secure)/,
     'sid: HttpOnly, SameSite=Lax, not Secure over http');
like($cookies, qr/__csrf=[0-9a-f]{64}; Path=\/; SameSite=Strict/,
     '__csrf: readable by the page, SameSite=Strict');
unlike($cookies, qr/__csrf=[^,]*HttpOnly/, '__csrf is not HttpOnly');
like($r->{csrf}, qr/^[0-9a-f]{64}$/, 'X-Harbor-CSRF-Token on the login answer');
is($r->{csrf_cookie}, $r->{csrf}, 'the cookie holds the same token');
is($r->{headers}{'cache-control'}, 'no-store', 'login answer not cached');
is($r->{json}{username}, 'admin', 'answer names the user');
ok($r->{json}{sysadmin_flag}, 'and says admin is a system admin');
my $as = $r;

is($pg->psql("SELECT count(*) FROM sessions WHERE id_hash = '$as->{sid}'"),
   0, 'the table does not hold the session id');
is($pg->psql('SELECT count(*) FROM sessions'), 1, 'one session row');

$r = sess($as, GET => '/users/current');
is($r->{status}, 200, 'the session authenticates the API');
is($r->{json}{username}, 'admin', 'as admin');
is($r->{headers}{'x-harbor-csrf-token'}, $as->{csrf},
   'answers to the session carry its CSRF token');

# the form
my $uid = $d->create_user('alice', password => $pw);
$r = login('alice', 'Wrong1234');
is($r->{status}, 401, 'wrong password: 401');
is(msg($r), 'invalid username or password', 'message');
ok(!$r->{sid}, 'no session');
my $r2 = login('nobody', 'Wrong1234');
is($r2->{status}, 401, 'unknown user: 401');
is($r2->{body}, $r->{body}, 'the same answer as a wrong password');
is($pg->psql("SELECT count(*) FROM audit_log WHERE operation = 'login'"
             . " AND NOT operation_result AND username = 'alice'"), 1,
   'a failed login is in the audit log');

$r = $d->request(POST => '/c/login', body => form(principal => 'alice',
    password => $pw), headers => { 'Content-Type' => 'application/json' });
is($r->{status}, 415, 'not a form: 415');
is(login(undef, undef, body => 'principal=alice')->{status}, 400,
   'no password: 400');
is(login(undef, undef, body => 'password=x')->{status}, 400,
   'no principal: 400');
is(login(undef, undef, body => 'principal=alice&password=%zz')->{status}, 400,
   'bad escape: 400');
is(login(undef, undef, body => 'principal=alice&password=a%00b')->{status},
   400, 'NUL: 400');
is(login('a' x 300, $pw)->{status}, 400, 'principal too long: 400');
is($d->request(GET => '/c/login')->{status}, 405, 'GET /c/login: 405');

$r = login(undef, undef, body => 'x=1&principal=alice&password='
    . Harbor::Authd::uri_escape($pw) . '&y=2');
is($r->{status}, 200, 'fields in any order, others ignored');
is($r->{json}{username}, 'alice', 'alice logged in');
ok(!$r->{json}{sysadmin_flag}, 'not an admin');
my $al = $r;

# login CSRF: a page of another site cannot log the browser in
$r = login('alice', $pw, headers => { Origin => 'http://evil.example' });
is($r->{status}, 403, 'Origin of another site: 403');
ok(!$r->{sid}, 'no session');
$r = login('alice', $pw, headers => { 'Sec-Fetch-Site' => 'cross-site' });
is($r->{status}, 403, 'Sec-Fetch-Site cross-site: 403');
$r = login('alice', $pw, headers => { Origin => 'http://localhost',
                                      'Sec-Fetch-Site' => 'same-origin' });
is($r->{status}, 200, 'same origin: 200');

# Secure under https (nginx passes X-Forwarded-Proto)
$r = login('alice', $pw, headers => { 'X-Forwarded-Proto' => 'https' });
like($r->{headers}{'set-cookie'}, qr/sid=[0-9a-f]{64}; [^,]*; Secure/,
     'sid is Secure under https');
like($r->{headers}{'set-cookie'}, qr/__csrf=[0-9a-f]{64}; [^,]*; Secure/,
     '__csrf is Secure under https');

# ------------------------------------------------------------- CSRF

$r = sess($as, POST => '/projects', json => { project_name => 'p1' });
is($r->{status}, 403, 'POST with a session and no CSRF token: 403');
like(msg($r), qr/CSRF token invalid/, 'says so');
is($d->api(HEAD => '/projects?project_name=p1', $admin)->{status}, 404,
   'nothing was created');
$r = sess($as, POST => '/projects', json => { project_name => 'p1' },
          token => 'f' x 64);
is($r->{status}, 403, 'wrong token: 403');
$r = sess($as, POST => '/projects', json => { project_name => 'p1' },
          token => $al->{csrf});
is($r->{status}, 403, "another session's token: 403");
$r = sess($as, POST => '/projects', json => { project_name => 'p1' },
          token => substr($as->{csrf}, 0, 63));
is($r->{status}, 403, 'a prefix of the token: 403');
$r = sess($as, POST => '/projects', json => { project_name => 'p1' },
          token => $as->{csrf});
is($r->{status}, 201, 'with the token: 201');
$r = sess($as, PUT => '/projects/p1', json => { metadata => { public => 'true' } },
          headers => { 'X-Is-Resource-Name' => 'true' });
is($r->{status}, 403, 'PUT without the token: 403');
$r = sess($as, DELETE => '/projects/p1');
is($r->{status}, 403, 'DELETE without the token: 403');
$r = sess($as, PUT => '/projects/p1', json => { metadata => { public => 'true' } },
          token => $as->{csrf});
is($r->{status}, 200, 'PUT with the token: 200');
$r = sess($as, DELETE => '/projects/p1', token => $as->{csrf});
is($r->{status}, 200, 'DELETE with the token: 200');
$r = $d->request(PATCH => '/api/v2.0/projects',
    headers => { Cookie => "sid=$as->{sid}" });
is($r->{status}, 405, 'other methods: routed first (405)');

# Basic is not a browser session: no token needed, and cookies ignored
$r = $d->api(POST => '/projects', $admin, json => { project_name => 'p2' });
is($r->{status}, 201, 'Basic needs no CSRF token');
$r = $d->api(POST => '/projects', ['alice', $pw],
    json => { project_name => 'p3' },
    headers => { Cookie => "sid=$as->{sid}" });
is($r->{status}, 201, 'Basic wins over a cookie');
is($d->api(GET => '/projects/p3', $admin,
           headers => { 'X-Is-Resource-Name' => 'true' })->{json}{owner_name},
   'alice', 'as the Basic user');

# ------------------------------------------------------------- identity

$r = sess($al, GET => '/users');
is($r->{status}, 403, 'alice is not an admin through her session');
$d->api(PUT => "/users/$uid/sysadmin", $admin,
        json => { sysadmin_flag => JSON::PP::true });
is(sess($al, GET => '/users')->{status}, 200,
   'made admin: her session is admin at once');
$d->api(PUT => "/users/$uid/sysadmin", $admin,
        json => { sysadmin_flag => JSON::PP::false });
is(sess($al, GET => '/users')->{status}, 403, 'and no longer at once');

for my $bad ('', 'zz', 'F' x 64, 'g' x 64, $as->{sid} . '0') {
    $r = $d->request(GET => '/api/v2.0/users/current',
        headers => { Cookie => "sid=$bad" });
    is($r->{status}, 401, "malformed sid '" . substr($bad, 0, 8)
       . "...': anonymous");
}
$r = $d->request(GET => '/api/v2.0/projects',
    headers => { Cookie => 'sid=' . ('0' x 64) });
is($r->{status}, 200, 'unknown session: anonymous, not an error');
like($r->{headers}{'set-cookie'}, qr/sid=; [^,]*Max-Age=0/,
     'and the cookie is cleared');

# ------------------------------------------------------------- lifetime

$d->stop;
$d->restart;
$r = sess($as, GET => '/users/current');
is($r->{status}, 200, 'a session survives a restart of authd');
is($r->{json}{username}, 'admin', 'same user');

# idle timeout
my $h = $pg->psql("SELECT id_hash FROM sessions s JOIN users u USING (user_id)"
                  . " WHERE u.username = 'admin'");
$pg->psql("UPDATE sessions SET last_seen = now() - interval '30 minutes'"
          . " WHERE id_hash = '$h'");
is(sess($as, GET => '/users/current')->{status}, 200,
   'idle for 30 minutes: still valid');
ok($pg->psql("SELECT last_seen > now() - interval '1 minute' FROM sessions"
             . " WHERE id_hash = '$h'") eq 't', 'a request moves last_seen');
$pg->psql("UPDATE sessions SET last_seen = now() - interval '61 minutes'"
          . " WHERE id_hash = '$h'");
$r = sess($as, GET => '/users/current');
is($r->{status}, 401, 'idle for over an hour: the session is over');
like($r->{headers}{'set-cookie'}, qr/sid=; [^,]*Max-Age=0/, 'cookie cleared');

# absolute timeout
my $s2 = login('admin', $Harbor::Authd::ADMIN_PASSWORD);
$h = $pg->psql("SELECT id_hash FROM sessions WHERE last_seen > now()"
               . " - interval '5 seconds' AND user_id = 1");
$pg->psql("UPDATE sessions SET creation_time = now() - interval '13 hours'"
          . " WHERE id_hash = '$h'");
is(sess($s2, GET => '/users/current')->{status}, 401,
   'in use, but logged in 13 hours ago: over');
is($pg->psql("SELECT count(*) FROM sessions WHERE id_hash = '$h'"), 1,
   'the row is still there');
login('admin', $Harbor::Authd::ADMIN_PASSWORD);
is($pg->psql("SELECT count(*) FROM sessions WHERE id_hash = '$h'"), 0,
   'a login removes expired rows');

# a changed password ends the user's sessions
my $bid = $d->create_user('bob', password => $pw);
my $bs = login('bob', $pw);
my $bs2 = login('bob', $pw);
is(sess($bs, GET => '/users/current')->{status}, 200, 'bob logged in');
$r = sess($bs, PUT => "/users/$bid/password", token => $bs->{csrf},
          json => { old_password => $pw, new_password => 'Newpassw0rd' });
is($r->{status}, 200, 'bob changes his password through his session');
is(sess($bs2, GET => '/users/current')->{status}, 401,
   'his other session is over');
is(sess($bs, GET => '/users/current')->{status}, 401,
   'this one too: log in again');
$bs = login('bob', 'Newpassw0rd');
is($bs->{status}, 200, 'with the new password');
$d->api(PUT => "/users/$bid/password", $admin,
        json => { new_password => 'Adminset0' });
is(sess($bs, GET => '/users/current')->{status}, 401,
   'an admin resetting it ends it too');

# a deleted user's session
$bs = login('bob', 'Adminset0');
is(sess($bs, GET => '/users/current')->{status}, 200, 'bob again');
is($d->api(DELETE => "/users/$bid", $admin)->{status}, 200, 'bob deleted');
is(sess($bs, GET => '/users/current')->{status}, 401, 'his session is over');

# ------------------------------------------------------------- logout

my $before = $pg->psql('SELECT count(*) FROM sessions');
$r = $d->request(GET => '/c/log_out', headers => { Cookie => "sid=$al->{sid}" });
is($r->{status}, 200, 'log out: 200');
like($r->{headers}{'set-cookie'}, qr/sid=; [^,]*Max-Age=0/, 'sid cleared');
like($r->{headers}{'set-cookie'}, qr/__csrf=; [^,]*Max-Age=0/, '__csrf cleared');
is($pg->psql('SELECT count(*) FROM sessions'), $before - 1, 'the row is gone');
is(sess($al, GET => '/users/current')->{status}, 401,
   'the old cookie is anonymous');
is($d->request(GET => '/c/log_out')->{status}, 200,
   'log out without a session: 200');

# ------------------------------------------------------------- throttling

my $xff = { 'X-Forwarded-For' => '192.0.2.7' };
for my $i (1 .. 10) {
    login('alice', "Wrong$i" . 'xyz', headers => $xff);
}
$r = login('alice', $pw, headers => $xff);
is($r->{status}, 429, '10 failures from one address: 429, even for the '
   . 'right password');
like(msg($r), qr/too many failed logins .* try again in \d+ seconds/, 'says when');
like($r->{headers}{'retry-after'}, qr/^\d+$/, 'Retry-After');
$r = login('alice', $pw, headers => { 'X-Forwarded-For' => '192.0.2.8' });
is($r->{status}, 200, 'alice logs in from another address');

# ------------------------------------------------------------- secrets

my $log = $d->log;
unlike($log, qr/$as->{sid}/, 'no session id in the log');
unlike($log, qr/$as->{csrf}/, 'no CSRF token in the log');
unlike($log, qr/Passw0rd/, 'no password in the log');
like($log, qr/admin logged in/, 'logins are logged');

done_testing;
