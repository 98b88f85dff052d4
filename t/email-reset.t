#!/usr/bin/perl

# Password reset by email (authd/reset.c, docs/authd.md) against a real
# SMTP server (Debian's python3-aiosmtpd, a Maildir): the email keys of
# /configurations and POST /email/ping; GET /c/sendEmail answers the same
# for an address of a user and for one of nobody's, before the mail is
# sent (the server is stopped meanwhile); the mailed link works once, not
# after it expired, not after the password changed another way; the
# reset ends the user's sessions and old password; requests are limited
# per address; audit events; the link's secret is in no log.

use warnings;
use strict;

use FindBin;
use lib "$FindBin::Bin/lib";

use Test::More;
use POSIX ();
use Time::HiRes qw(time);
use Harbor::Api;
use Harbor::Authd;
use Harbor::Clients;
use Harbor::Smtp;

###############################################################################

my $smtp = Harbor::Smtp->start;
my $smtp_port = $smtp->port;

my $s = Harbor::Api->new;
my $admin = $s->admin;

# configuration and ping

my $r = $s->api(POST => '/email/ping', $admin, json => {
    email_host => '127.0.0.1', email_port => $smtp_port + 0 });
is($r->{status}, 200, 'email/ping with the body\'s server') or diag($r->{body});

my $closed = Harbor::Clients::free_port();
$r = $s->api(POST => '/email/ping', $admin, json => {
    email_host => '127.0.0.1', email_port => $closed + 0 });
is($r->{status}, 400, 'email/ping to a closed port: 400');
like($r->{json}{errors}[0]{message}, qr/127\.0\.0\.1:$closed/,
     'the message names the server');
$r = $s->api(POST => '/email/ping', $admin, json => { ldap_url => 'x' });
is($r->{status}, 400, 'email/ping: only email_* keys');

my $u = $s->create_user('mallory', password => 'Us3r!pass');
$r = $s->api(POST => '/email/ping', ['mallory', 'Us3r!pass'], json => {});
is($r->{status}, 403, 'email/ping: system admins only');

$r = $s->api(PUT => '/configurations', $admin, json => {
    email_host => '127.0.0.1', email_port => $smtp_port + 0,
    email_from => 'Registry <registry@example.org>',
    email_password => 'smtp-secret' });
is($r->{status}, 200, 'email keys set') or diag($r->{body});
$r = $s->api(GET => '/configurations', $admin);
is($r->{json}{email_port}{value}, $smtp_port, 'email_port read back');
ok(!defined $r->{json}{email_password}{value}
   || $r->{json}{email_password}{value} eq '', 'email_password write-only');

# the stored password goes to the stored server only
$r = $s->api(POST => '/email/ping', $admin, json => {
    email_host => '127.0.0.2' });
is($r->{status}, 400, 'ping of another host without its password: 400');
like($r->{json}{errors}[0]{message}, qr/give email_password/,
     'it says to give the password');
$r = $s->api(POST => '/email/ping', $admin, json => {
    email_port => $closed + 0 });
is($r->{status}, 400, 'nor to another port');
like($r->{json}{errors}[0]{message}, qr/give email_password/, 'the same');
$r = $s->api(POST => '/email/ping', $admin, json => {
    email_host => '127.0.0.1', email_port => $smtp_port + 0 });
is($r->{status}, 200, 'the stored server: the stored password is used')
    or diag($r->{body});

# the request: the same answer, whoever the address is

my $alice = $s->create_user('alice', email => 'Alice@Example.org',
                            password => 'Al1ce!old');

# a session of alice's, to see it end
$r = $s->http(POST => '/c/login', body => 'principal=alice&password=Al1ce%21old',
    headers => ['Content-Type' => 'application/x-www-form-urlencoded']);
my ($sid) = ($r->{headers}{'set-cookie'} // '') =~ /sid=([^;]+)/;
ok($sid, 'alice has a session');
sub session_ok {
    $s->http(GET => '/api/v2.0/users/current',
             headers => [Cookie => "sid=$sid"])->{status} == 200;
}
ok(session_ok(), 'the session works');

$smtp->pause;
my $t0 = time;
my $known = $s->http(GET => '/c/sendEmail?email=alice%40example.org');
my $t1 = time;
my $unknown = $s->http(GET => '/c/sendEmail?email=nobody%40example.org');
is($known->{status}, 200, 'sendEmail for a user: 200');
is($unknown->{status}, 200, 'sendEmail for nobody: 200');
is($known->{body}, $unknown->{body}, 'the same body');
is(join(',', sort grep { !/^(date|x-request-id)$/ } keys %{$known->{headers}}),
   join(',', sort grep { !/^(date|x-request-id)$/ } keys %{$unknown->{headers}}),
   'the same headers');
ok($t1 - $t0 < 2, 'the answer does not wait for the mail server (stopped)');
$smtp->resume;

my @m = $smtp->wait_mails(1);
is(scalar @m, 1, 'one mail: alice\'s, none for nobody');
like($m[0], qr/^To: <alice\@example\.org>/mi, 'to alice');
like($m[0], qr/^From: Registry <registry\@example\.org>/mi, 'from email_from');
like($m[0], qr/^Subject: Reset your password/mi, 'the subject');
my ($link) = $m[0] =~ m{(\S+/reset-password\?reset_uuid=([0-9a-f]{64}))};
my ($uuid) = $m[0] =~ /reset_uuid=([0-9a-f]{64})/;
ok($uuid, 'the link carries 256 bits') or diag($m[0]);

$r = $s->http(GET => '/c/sendEmail?email=not-an-address');
is($r->{status}, 400, 'a malformed address: 400');

# the reset

sub reset_with {
    my ($id, $pw, %o) = @_;
    return $s->http(POST => '/c/reset',
        body => "reset_uuid=$id&password=" . Harbor::Authd::uri_escape($pw),
        headers => ['Content-Type' => 'application/x-www-form-urlencoded']);
}

$r = reset_with($uuid, 'weak');
is($r->{status}, 400, 'a weak password: 400');
like($r->{body}, qr/password/i, 'says why');
$r = reset_with('0' x 64, 'Al1ce!new1');
is($r->{status}, 400, 'an unknown link: 400');
$r = reset_with($uuid, 'Al1ce!new1');
is($r->{status}, 200, 'reset with the link') or diag($r->{body});
is($s->token(user => 'alice', pass => 'Al1ce!new1')->{status}, 200,
   'the new password works');
is($s->token(user => 'alice', pass => 'Al1ce!old')->{status}, 401,
   'the old one does not');
ok(!session_ok(), 'her session ended');
$r = reset_with($uuid, 'Al1ce!new2');
is($r->{status}, 400, 'the link a second time: 400');

# JSON works too; a link voided by a password change made another way
$s->http(GET => '/c/sendEmail?email=alice%40example.org');
@m = $smtp->wait_mails(2);
my ($uuid2) = $m[-1] =~ /reset_uuid=([0-9a-f]{64})/;
ok($uuid2 && $uuid2 ne $uuid, 'a second link');
$r = $s->api(PUT => "/users/$alice/password", ['alice', 'Al1ce!new1'],
    json => { old_password => 'Al1ce!new1', new_password => 'Al1ce!new3' });
is($r->{status}, 200, 'password changed through the API');
$r = $s->http(POST => '/c/reset', body =>
    qq({"reset_uuid":"$uuid2","password":"Al1ce!new4"}),
    headers => ['Content-Type' => 'application/json']);
is($r->{status}, 400, 'a link from before a password change: 400');

# an expired link (its expiry moved into the past)
my $bob = $s->create_user('bob', email => 'bob@example.org');
$s->http(GET => '/c/sendEmail?email=bob%40example.org');
@m = $smtp->wait_mails(3);
my ($uuid3) = $m[-1] =~ /reset_uuid=([0-9a-f]{64})/;
$s->psql("UPDATE password_reset SET expires_time = now() - interval '1 s'"
         . " WHERE user_id = $bob");
is(reset_with($uuid3, 'B0b!newpass')->{status}, 400, 'an expired link: 400');

# limits: per address, the same whether the address is anyone's
my @st = map { $s->http(GET => '/c/sendEmail?email=carol%40example.org')
               ->{status} } 1 .. 4;
is("@st", '200 200 200 429', 'a fourth request for an address: 429');
@st = map { $s->http(GET => '/c/sendEmail?email=bob%40example.org')
            ->{status} } 1 .. 3;
is($st[-1], 429, 'the same for a user\'s address');

# bob, from another client address (authd takes the address nginx puts
# last in X-Forwarded-For), is not locked out by what 127.0.0.1 asked
sub send_from {
    my ($ip, $addr) = @_;
    return $s->authd->request(GET => "/c/sendEmail?email=$addr",
        headers => { 'X-Forwarded-For' => $ip })->{status};
}
is(send_from('192.0.2.7', 'bob%40example.org'), 200,
   'the owner, from elsewhere: 200');
@m = $smtp->wait_mails(4);
like($m[-1], qr/^To: <bob\@example\.org>/mi, 'and the link is sent');

# one source, many addresses: 429 after the per-source limit
@st = map { send_from('192.0.2.8', "spray$_%40example.org") } 1 .. 11;
is("@st[0..9]", join(' ', (200) x 10), 'ten addresses from one source');
is($st[10], 429, 'the eleventh: 429');
is(send_from('192.0.2.9', 'spray11%40example.org'), 200,
   'the same address from another source: 200');

# concurrent requests do not pass the limit: counted and inserted as one
my @kids;
for my $i (1 .. 6) {
    my $pid = fork // die "fork: $!";
    if ($pid == 0) {
        my $st = send_from('192.0.2.10', 'race%40example.org');
        POSIX::_exit($st == 200 ? 0 : $st == 429 ? 1 : 2);
    }
    push @kids, $pid;
}
my %n;
for (@kids) { waitpid($_, 0); $n{$? >> 8}++ }
is($n{0} // 0, 3, 'six at once for one address: three pass');
is($n{1} // 0, 3, 'three get 429');

# audit and logs
$r = $s->api(GET => '/audit-logs?page_size=100', $admin);
my @ev = grep { $_->{resource_type} eq 'password_reset' } @{$r->{json}};
ok((grep { $_->{operation} eq 'request' && $_->{username} eq 'alice' } @ev),
   'audit: the request');
ok((grep { $_->{operation} eq 'update' && $_->{username} eq 'alice' } @ev),
   'audit: the reset');
ok((grep { $_->{operation} eq 'request' && $_->{username} eq ''
           && $_->{resource} eq '' } @ev),
   'audit: a request for nobody\'s address, without the address');
unlike(join(' ', map { "$_->{resource} $_->{username}" } @ev),
       qr/nobody|spray|carol/, 'no unknown address in the audit log');
my $logs = $s->authd->log . $s->t->read_file('error.log')
         . $s->t->read_file('access.log');
for my $secret ($uuid, $uuid2, 'smtp-secret') {
    unlike($logs, qr/\Q$secret\E/, 'no secret in the logs');
}

done_testing;
