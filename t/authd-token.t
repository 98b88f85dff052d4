#!/usr/bin/perl

# authd: the token service.  The role x action expectations are generated
# from "authd -R", the table the daemon enforces: roles projectAdmin,
# maintainer, developer, guest, limitedGuest, plus anonymous, a non-member
# and a system administrator, on a public and a private project, for pull,
# push, delete and the catalog.  Then the token itself (header, claims,
# signature checked with openssl), refusal reasons, the docker login flow,
# bad credentials, revocation and the log.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use MIME::Base64 qw(decode_base64url encode_base64 decode_base64);
use Digest::SHA qw(sha256);
use Time::HiRes qw(time);
use Test::More;
use Harbor::Authd;

my $pg = Harbor::Authd::Pg->start;
my $d = Harbor::Authd->start(pg => $pg);
my $table = Harbor::Authd::role_table();

my %role_id = map { ($_->{name} => $_->{role_id}) } @{$table->{roles}};
my %rule = map { ("$_->{resource}:$_->{action}" => $_) } @{$table->{rules}};

my $pw = 'Passw0rd!';
my @roles = qw(projectAdmin maintainer developer guest limitedGuest);

# one user per role, a non-member and a second system administrator
my %uid;
$uid{"u_$_"} = $d->create_user("u_$_") for @roles;
$uid{u_none} = $d->create_user('u_none');
$uid{u_sys} = $d->create_user('u_sys');
is($d->api(PUT => "/users/$uid{u_sys}/sysadmin", $d->admin,
           json => { sysadmin_flag => JSON::PP::true })->{status},
   200, 'u_sys made system administrator');

$d->create_project('pub', public => 1);
$d->create_project('priv', public => 0);

for my $p (qw(pub priv)) {
    $d->add_member($p, "u_$_", $role_id{$_}) for @roles;
}

# expected actions from the table
sub expected {
    my ($who, $public) = @_;
    return [qw(pull push delete)] if $who eq 'u_sys' || $who eq 'admin';
    my ($role) = $who =~ /^u_(\w+)$/;
    my @ok;
    for my $act (qw(pull push delete)) {
        my $r = $rule{"repository:$act"};
        push @ok, $act
            if ($role && grep { $_ eq $role } @{$r->{roles}})
               || ($public && $r->{public});
    }
    return \@ok;
}

my @callers = ((map { "u_$_" } @roles), 'u_none', 'u_sys', 'admin', 'anonymous');

for my $who (@callers) {
    my @cred = $who eq 'anonymous' ? ()
             : $who eq 'admin' ? (user => 'admin', pass => $Harbor::Authd::ADMIN_PASSWORD)
             : (user => $who, pass => $pw);

    my $r = $d->token(@cred, scope => [
        'repository:pub/app:pull,push,delete',
        'repository:priv/app:pull,push,delete',
        'registry:catalog:*',
    ]);
    is($r->{status}, 200, "$who: token issued");

    my $m = Harbor::Authd::access_map($r->{claims});
    for my $p (['pub', 1], ['priv', 0]) {
        my ($proj, $public) = @$p;
        is_deeply([sort @{$m->{"$proj/app"} // []}],
                  [sort @{expected($who, $public)}],
                  "$who on $proj: " . join(',', @{expected($who, $public)}));

        # whatever is not granted is in harbor_denied with a reason
        my %granted = map { $_ => 1 } @{$m->{"$proj/app"} // []};
        my @refused = grep { !$granted{$_} } qw(pull push delete);
        my @denied = map { @{$_->{actions}} }
                     grep { $_->{name} eq "$proj/app" }
                     @{$r->{claims}{harbor_denied} // []};
        is_deeply([sort @denied], [sort @refused],
                  "$who on $proj: the rest is in harbor_denied");
    }

    my $cat = Harbor::Authd::access_map($r->{claims}, 'registry');
    my $sys = $who eq 'u_sys' || $who eq 'admin';
    is_deeply($cat->{catalog} // [], $sys ? ['*'] : [],
              "$who: catalog " . ($sys ? 'granted' : 'refused'));

    is($r->{claims}{sub}, $who eq 'anonymous' ? '' : $who, "$who: sub");
}

# the token itself
my $r = $d->token(user => 'u_developer', pass => $pw,
                  scope => 'repository:pub/app:pull,push');
my $t = $r->{json};
is($t->{token}, $t->{access_token}, 'token == access_token');
is($t->{expires_in}, 1800, 'expires_in 30 minutes');
like($t->{issued_at}, qr/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/, 'issued_at RFC 3339');
is($r->{headers}{'cache-control'}, 'no-store', 'Cache-Control: no-store');

my $h = $r->{header};
is($h->{alg}, 'RS256', 'alg RS256');
is($h->{typ}, 'JWT', 'typ JWT');

# libtrust kid computed independently: SHA-256 of the DER public key,
# first 30 bytes, base32, groups of 4
my $der = qx{openssl pkey -in @{[$d->key_file]} -pubout -outform DER 2>/dev/null};
my $bits = unpack('B*', substr(sha256($der), 0, 30));
my $b32 = join '', map { ('A'..'Z', 2..7)[oct "0b$_"] } $bits =~ /(.{5})/g;
is($h->{kid}, join(':', $b32 =~ /(.{4})/g), 'kid is the libtrust key id');

my $cert_der = qx{openssl x509 -in @{[$d->cert_file]} -outform DER 2>/dev/null};
is($h->{x5c}[0], encode_base64($cert_der, ''), 'x5c is the certificate');

my $c = $r->{claims};
is($c->{iss}, 'harbor-token-issuer', 'iss');
is($c->{aud}, 'harbor-registry', 'aud');
is($c->{exp} - $c->{iat}, 1800, 'exp = iat + 30 min');
ok(abs($c->{iat} - time) < 60, 'iat is now');
ok($c->{nbf} <= $c->{iat}, 'nbf');
like($c->{jti}, qr/^[0-9a-f]{32}$/, 'jti');
isnt($d->token(user => 'u_developer', pass => $pw)->{claims}{jti}, $c->{jti},
     'jti differs per token');

# the signature, checked by openssl with the certificate's key
{
    my ($hb, $cb, $sb) = split /\./, $t->{token};
    my $tmp = $d->dir;
    open my $f, '>', "$tmp/signed" or die; print $f "$hb.$cb"; close $f;
    open $f, '>', "$tmp/sig" or die; print $f decode_base64url($sb); close $f;
    system("openssl x509 -in @{[$d->cert_file]} -pubkey -noout > $tmp/pub.pem");
    my $out = qx{openssl dgst -sha256 -verify $tmp/pub.pem -signature $tmp/sig $tmp/signed 2>&1};
    like($out, qr/Verified OK/, 'RS256 signature verifies with the certificate');
}

# scopes: repeated and space-separated, '*' expanded, names split from the right
$r = $d->token(user => 'admin', pass => $Harbor::Authd::ADMIN_PASSWORD,
               scope => ['repository:pub/a:pull repository:pub/b:push',
                         'repository:priv/c:*']);
my $m = Harbor::Authd::access_map($r->{claims});
is_deeply($m, { 'pub/a' => ['pull'], 'pub/b' => ['push'],
                'priv/c' => [qw(pull push delete)] },
          'repeated and space-separated scopes, * expanded');

$r = $d->token(user => 'u_developer', pass => $pw,
               scope => 'repository:localhost:5000/pub/x:pull');
is($r->{status}, 200, 'scope with a host port');
is($r->{claims}{harbor_denied}[0]{name}, 'localhost:5000/pub/x',
   'name split at the last colon');

# refusal reasons
sub reason {
    my ($cred, $scope) = @_;
    my $r = $d->token(@$cred, scope => $scope);
    return join ' | ', map { $_->{reason} } @{$r->{claims}{harbor_denied} // []};
}
my @dev = (user => 'u_developer', pass => $pw);
my @guest = (user => 'u_guest', pass => $pw);
my @none = (user => 'u_none', pass => $pw);

is(reason(\@dev, 'repository:calico/x:pull,push'), 'project calico not found',
   'reason: project not found');
like(reason(\@dev, 'repository:alpine:push'),
     qr/^repository name alpine has no project part; push to <project>\/alpine/,
     'reason: no project part');
like(reason(\@none, 'repository:pub/x:push'), qr/you may only pull from pub/,
     'reason: non-member of a public project');
like(reason(\@none, 'repository:priv/x:pull'),
     qr/you are not a member of project priv/, 'reason: private, not a member');
like(reason(\@guest, 'repository:priv/x:push'),
     qr/your role guest in project priv allows only pull/, 'reason: role');
like(reason([], 'repository:pub/x:push'),
     qr/anonymous users may only pull from pub: log in/,
     'reason: anonymous push to a public project');
is(reason([], 'repository:priv/x:pull'), reason([], 'repository:nosuch/x:pull')
   =~ s/nosuch/priv/r, 'anonymous: a private project reads like a missing one');
like(reason(\@dev, 'registry:catalog:*'),
     qr/only system administrators may list the catalog/, 'reason: catalog');
like(reason(\@dev, 'repository:pub/x:frob'), qr/unknown action frob/,
     'reason: unknown action');
like(reason(\@dev, 'artifact:pub/x:pull'),
     qr/unsupported resource type artifact/, 'reason: unknown type');
like(reason(\@dev, 'repository:pub/UPPER:pull'),
     qr/invalid repository name pub\/UPPER/, 'reason: invalid name');

# one entry per reason
$r = $d->token(@guest, scope => 'repository:priv/x:pull,push,delete');
is_deeply(Harbor::Authd::access_map($r->{claims}), { 'priv/x' => ['pull'] },
          'guest: pull only');
is(scalar @{$r->{claims}{harbor_denied}}, 1, 'one refusal entry for one reason');
is_deeply($r->{claims}{harbor_denied}[0]{actions}, [qw(push delete)],
          'with both refused actions');

# a fully granted request carries no harbor_denied
$r = $d->token(@dev, scope => 'repository:pub/x:pull');
ok(!exists $r->{claims}{harbor_denied}, 'no harbor_denied when all granted');

# bad requests
$r = $d->request(GET => '/service/token?service=other&scope=repository:pub/x:pull');
is($r->{status}, 400, 'unknown service: 400');
$r = $d->token(scope => 'repository:pub/x');
is($r->{status}, 400, 'malformed scope: 400');
like($r->{json}{errors}[0]{message}, qr/invalid scope/, 'says so');
$r = $d->token(scope => [map { "repository:pub/r$_:pull" } 1 .. 33]);
is($r->{status}, 400, 'more than 32 scopes: 400');
$r = $d->token(scope => [join ' ', map { "repository:pub/r$_:pull" } 1 .. 33]);
is($r->{status}, 400, 'more than 32 space-separated scopes: 400');
$r = $d->token(@dev, scope => [map { "repository:nosuch$_/" . ('x' x 400) . ':pull,push,delete' } 1 .. 32]);
is($r->{status}, 400, 'a token over 8 KiB is not issued');
like($r->{json}{errors}[0]{message}, qr/fewer scopes/, 'and the client is told why');
$r = $d->request(POST => '/service/token');
is($r->{status}, 405, 'POST: 405');

# docker login: no scope, account=, offline_token=true
my $login = 'account=u_developer&client_id=docker&offline_token=true';
$r = $d->token(user => 'u_developer', pass => $pw, query => $login);
is($r->{status}, 200, 'docker login: good credentials 200');
is_deeply($r->{claims}{access}, [], 'docker login: empty access');

my $bad = $d->token(user => 'u_developer', pass => 'wrong', query => $login);
is($bad->{status}, 401, 'docker login: bad password 401');
is($bad->{json}{errors}[0]{code}, 'UNAUTHORIZED', 'Harbor error JSON');
my $unknown = $d->token(user => 'nobody_here', pass => 'wrong', query => $login);
is($unknown->{status}, 401, 'unknown user 401');
is($unknown->{body}, $bad->{body}, 'unknown user and bad password: same body');

$r = $d->token(user => 'u_developer', pass => 'wrong',
               scope => 'repository:pub/x:pull');
is($r->{status}, 401, 'bad password with a scope: 401, not anonymous');

$r = $d->request(GET => '/service/token', headers => { Authorization => 'Basic !!!' });
is($r->{status}, 401, 'malformed Basic: 401');
$r = $d->request(GET => '/service/token',
                 headers => { Authorization => 'Basic ' . ('A' x 2000) });
is($r->{status}, 401, 'oversized Authorization: 401');

# similar timing for unknown user and bad password; the cache makes
# repeated good credentials cheap.  Each try from an address of its own
# and on an account of its own: failures are throttled per address and
# per account (t/authd-throttle.t)
$d->create_user('u_timing');
my $addr = 0;
sub median_time {
    my (%cred) = @_;
    my @t;
    for (1 .. 7) {
        my $t0 = time;
        $d->request(GET => "/service/token?service=harbor-registry&$login",
                    user => $cred{user}, pass => $cred{pass},
                    headers => { 'X-Forwarded-For' => '198.51.100.'
                                                      . ++$addr });
        push @t, time - $t0;
    }
    @t = sort { $a <=> $b } @t;
    return $t[3];
}
my $t_bad = median_time(user => 'u_timing', pass => 'wrong');
my $t_unknown = median_time(user => 'nobody_timing', pass => 'wrong');
my $t_good = median_time(user => 'u_timing', pass => $pw);
my $ratio = $t_unknown / $t_bad;
ok($ratio > 0.33 && $ratio < 3,
   sprintf('unknown user %.1f ms vs bad password %.1f ms', $t_unknown * 1000,
           $t_bad * 1000));
ok($t_good < $t_bad / 2,
   sprintf('cached good credentials %.1f ms vs %.1f ms', $t_good * 1000,
           $t_bad * 1000));

# revocation: the next token reflects a change at once
my ($mid) = map { $_->{id} } grep { $_->{entity_name} eq 'u_developer' }
            @{$d->api(GET => '/projects/priv/members?page_size=100', $d->admin)->{json}};
my $scope = 'repository:priv/app:pull,push';
is_deeply(Harbor::Authd::access_map($d->token(@dev, scope => $scope)->{claims}),
          { 'priv/app' => [qw(pull push)] }, 'developer: pull, push');

is($d->api(PUT => "/projects/priv/members/$mid", $d->admin,
           json => { role_id => 3 })->{status}, 200, 'role lowered to guest');
is_deeply(Harbor::Authd::access_map($d->token(@dev, scope => $scope)->{claims}),
          { 'priv/app' => ['pull'] }, 'lowered role: next token pull only');

is($d->api(DELETE => "/projects/priv/members/$mid", $d->admin)->{status}, 200,
   'member removed');
is_deeply(Harbor::Authd::access_map($d->token(@dev, scope => $scope)->{claims}),
          {}, 'removed member: next token has nothing');

# password change: the old one stops working at once, despite the cache
is($d->token(@dev)->{status}, 200, 'cached credentials work');
is($d->api(PUT => "/users/$uid{u_developer}/password", $d->admin,
           json => { new_password => 'N3wPassword' })->{status}, 200,
   'admin resets the password');
is($d->token(@dev)->{status}, 401, 'old password refused at once');
is($d->token(user => 'u_developer', pass => 'N3wPassword')->{status}, 200,
   'new password works');

# deleted user: refused at once
is($d->token(@none)->{status}, 200, 'u_none logs in');
is($d->api(DELETE => "/users/$uid{u_none}", $d->admin)->{status}, 200,
   'u_none deleted');
is($d->token(@none)->{status}, 401, 'deleted user refused at once');

# a password changed behind authd's back (SQL) misses the cache too
is($d->token(@guest)->{status}, 200, 'guest logs in');
$pg->psql("UPDATE users SET password = (SELECT password FROM users"
          . " WHERE user_id = 1) WHERE username = 'u_guest'");
is($d->token(@guest)->{status}, 401, 'hash changed in SQL: cache missed');

# the log: no password, no token
my $log = $d->log;
unlike($log, qr/\Q$pw\E/, 'no password in the log');
unlike($log, qr/N3wPassword/, 'no new password in the log');
unlike($log, qr/\Q$Harbor::Authd::ADMIN_PASSWORD\E/, 'no admin password in the log');
unlike($log, qr/eyJ[A-Za-z0-9_-]{20,}/, 'no token in the log');
unlike($log, qr/ crit: /, 'no critical errors');

$d->stop;
$pg->stop;
done_testing;
