#!/usr/bin/perl

# Password guessing is throttled the same way on every way in: Basic on
# /service/token and on the API, and the UI's /c/login share one counter
# per client address and one per account.  A throttled attempt is a 429
# with Harbor's error body and Retry-After, costs no argon2id and adds no
# audit row; the real user still gets in from another address, even while
# the account is being guessed at from many.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use MIME::Base64 qw(encode_base64);
use Test::More;
use Time::HiRes qw(time);

use Harbor::Test;
use Harbor::Stack;

my $s = Harbor::Stack->new(workers => 2);
my $d = $s->authd;
my $pw = 'Guess0nly!';

$s->create_user('alice', password => $pw);
$s->create_user('bob', password => $pw);

my $TOKEN = '/service/token?service=harbor-registry'
          . '&scope=repository:library/x:pull';

# straight to authd, as nginx forwards a client of this address
sub token_from {
    my ($ip, $user, $pass) = @_;
    return $d->request(GET => $TOKEN, user => $user, pass => $pass,
                       headers => { 'X-Forwarded-For' => $ip });
}

sub api_from {
    my ($ip, $user, $pass) = @_;
    return $d->request(GET => '/api/v2.0/users/current', user => $user,
                       pass => $pass, headers => { 'X-Forwarded-For' => $ip });
}

sub login_from {
    my ($ip, $user, $pass) = @_;
    return $d->request(POST => '/c/login',
        headers => { 'X-Forwarded-For' => $ip,
                     'Content-Type' => 'application/x-www-form-urlencoded' },
        body => "principal=$user&password=" . Harbor::Authd::uri_escape($pass));
}

sub failed_rows {
    my ($user) = @_;
    return $s->pg->psql("SELECT count(*) FROM audit_log WHERE operation ="
                        . " 'login' AND NOT operation_result AND username ="
                        . " '$user'");
}

sub is_429 {
    my ($r, $name) = @_;
    is($r->{status}, 429, "$name: 429");
    my $e = ref $r->{json} eq 'HASH' ? $r->{json}{errors}[0] : {};
    is($e->{code}, 'TOOMANYREQUESTS', "$name: Harbor's error code");
    like($e->{message} || '', qr/too many failed logins .* try again in \d+ seconds/,
         "$name: says when");
    like($r->{headers}{'retry-after'} || '', qr/^[1-9]\d*$/,
         "$name: Retry-After");
}

###############################################################################
# per address: ten failures, then nothing is tried from there

my $t_fail = 0;
for my $i (1 .. 10) {
    my $t0 = time;
    my $r = token_from('192.0.2.10', 'alice', "wrong$i");
    $t_fail += time - $t0;
    is($r->{status}, 401, "guess $i on /service/token: 401") if $i == 1 || $i == 10;
}
is(failed_rows('alice'), 10, 'ten failures, ten audit rows');

is_429(token_from('192.0.2.10', 'alice', $pw),
       '/service/token, right password, from the guessing address');
is_429(api_from('192.0.2.10', 'bob', $pw),
       'the API with Basic, another account, same address');
is_429(login_from('192.0.2.10', 'bob', $pw), '/c/login, same address');

# 200 more guesses: no argon2id, no audit rows
my $t0 = time;
my $n429 = 0;
for my $i (1 .. 200) {
    $n429++ if token_from('192.0.2.10', 'alice', "more$i")->{status} == 429;
}
my $t_throttled = time - $t0;
is($n429, 200, '200 more guesses: all 429');
is(failed_rows('alice'), 10, 'and no audit row for them');
cmp_ok($t_throttled / 200, '<', $t_fail / 10 / 4,
       sprintf('a throttled guess costs no argon2id (%.1f ms vs %.1f ms '
               . 'for a failure)', 1000 * $t_throttled / 200,
               1000 * $t_fail / 10));

###############################################################################
# per account, without locking the real user out

my $r = token_from('192.0.2.20', 'alice', $pw);
is($r->{status}, 200, 'alice, right password from another address: 200');
ok($r->{json} && $r->{json}{token}, 'with a token');
is(api_from('192.0.2.21', 'alice', $pw)->{status}, 200,
   'the API from another address: 200');
is(login_from('192.0.2.22', 'alice', $pw)->{status}, 200,
   '/c/login from another address: 200');

# alice's account has had ten failures: an address that failed on it is
# refused at once, a clean one is still tried
is(token_from('192.0.2.30', 'alice', 'wrong')->{status}, 401,
   'a clean address is tried: 401');
is_429(token_from('192.0.2.30', 'alice', $pw),
       'an address that failed on an account under attack');
is(token_from('192.0.2.31', 'alice', $pw)->{status}, 200,
   'another clean address with the right password: 200');

# bob is not under attack: one failure does not refuse him
is(token_from('192.0.2.40', 'bob', 'wrong')->{status}, 401, 'bob: 401');
is(token_from('192.0.2.40', 'bob', $pw)->{status}, 200,
   'bob, right password after one failure: 200');

# user names are accounts whatever their case
for my $i (1 .. 10) {
    token_from("192.0.2.5$i", $i % 2 ? 'BOB' : 'bob', "wrong$i");
}
token_from('192.0.2.61', 'bob', 'wrong');
is_429(token_from('192.0.2.61', 'Bob', $pw), 'the account in any case');

###############################################################################
# through nginx: Harbor's body, what docker and podman show

for my $i (1 .. 10) {
    $s->token(user => 'nobody', pass => "wrong$i");
}
$r = $s->token(user => 'alice', pass => $pw);
is($r->{status}, 429, 'through nginx: 429');
is(ref $r->{json} eq 'HASH' && $r->{json}{errors}[0]{code},
   'TOOMANYREQUESTS', 'through nginx: Harbor\'s error body');

# what a client shows (podman, through nginx, from the throttled address)
my $pod = $s->clients->podman('login', '--tls-verify=false', '-u', 'alice',
                              '-p', $pw, $s->host);
ok(!$pod->{ok}, 'podman login from the throttled address fails');
like($pod->{out}, qr/too many requests/, "podman says why: $pod->{out}");

unlike($d->log, qr/\Q$pw\E|wrong\d/, 'no password in the log');

done_testing;
