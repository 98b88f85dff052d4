#!/usr/bin/perl

# authd: first start (key, certificate, admin, library, migrations), the
# default password warning, a restart that applies nothing twice, the
# system endpoints, and the database going away and coming back.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use Test::More;
use Harbor::Authd;

my $pg = Harbor::Authd::Pg->start;
my $d = Harbor::Authd->start(pg => $pg);

# files of the first start
ok(-S $d->sock, 'socket created');
is((stat $d->sock)[2] & 07777, 0660, 'socket is 0660');
is((stat $d->key_file)[2] & 07777, 0600, 'private key is 0600');
is((stat $d->cert_file)[2] & 07777, 0644, 'certificate is 0644');

my $cert = do { local (@ARGV, $/) = $d->cert_file; <> };
like($cert, qr/^-----BEGIN CERTIFICATE-----/, 'certificate is PEM');
like(qx{openssl x509 -in @{[$d->cert_file]} -noout -subject 2>&1},
     qr/harbor-token-issuer/, 'self-signed for harbor-token-issuer');
like(qx{openssl pkey -in @{[$d->key_file]} -noout -text 2>&1},
     qr/Private-Key: \(2048 bit/, 'RSA key of the configured size');

# the database of the first start: every migration of schema/
my @migrations = map { /(\d{4})_[^\/]*\.sql$/ ? $1 + 0 : () }
    sort glob("$Harbor::Authd::ROOT/schema/[0-9][0-9][0-9][0-9]_*.sql");
is($pg->psql('SELECT version FROM schema_migrations ORDER BY version'),
   join("\n", @migrations), 'migrations 0001 ... recorded');
is($pg->psql("SELECT user_id || ' ' || sysadmin_flag FROM users"
             . " WHERE username = 'admin'"), '1 true', 'admin is user 1, sysadmin');
is($pg->psql("SELECT p.name || ' ' || m.value FROM projects p"
             . " JOIN project_metadata m ON m.project_id = p.project_id"
             . " AND m.name = 'public'"), 'library true', 'public library');
is($pg->psql("SELECT role FROM project_member pm JOIN projects p"
             . " USING (project_id) WHERE p.name = 'library'"
             . " AND entity_type = 'u' AND entity_id = 1"), '1',
   'admin administers library');
like($pg->psql('SELECT password FROM users WHERE user_id = 1'),
     qr/^\$argon2id\$/, 'password stored as argon2id');
is($pg->psql('SELECT role_id || name FROM roles ORDER BY role_id'),
   "1projectAdmin\n2developer\n3guest\n4maintainer\n5limitedGuest",
   'roles seeded with Harbor ids');

like($d->log, qr/default password/, 'loud warning about the default password');
like($d->log, qr/applied migration 0001_init\.sql/, 'migration logged');

# system endpoints
my $r = $d->request(GET => '/api/v2.0/ping');
is($r->{status}, 200, 'ping');
is($r->{body}, 'Pong', 'Pong');

$r = $d->api(GET => '/health');
is($r->{json}{status}, 'healthy', 'healthy');
is_deeply([map { $_->{name} } @{$r->{json}{components}}], ['core', 'database'],
          'health components');

$r = $d->api(GET => '/systeminfo');
is($r->{status}, 200, 'systeminfo anonymous');
is($r->{json}{auth_mode}, 'db_auth', 'auth_mode');
ok(!exists $r->{json}{harbor_version}, 'no version for anonymous callers');

$r = $d->api(GET => '/systeminfo', $d->admin);
is($r->{json}{project_creation_restriction}, 'everyone', 'restriction');
is($r->{json}{registry_url}, 'registry.test', 'registry_url is hostname');
like($r->{json}{harbor_version}, qr/ngx-harbor/, 'version for users');
for my $f (qw(current_time external_url self_registration has_ca_root
              registry_storage_provider_name read_only))
{
    ok(exists $r->{json}{$f}, "GeneralInfo field $f");
}

$r = $d->request(GET => '/api/v2.0/nope');
is($r->{status}, 404, 'unknown path 404');
is($r->{json}{errors}[0]{code}, 'NOT_FOUND', 'Harbor error format');
$r = $d->request(GET => '/api/v2.0//projects');
is($r->{status}, 404, 'empty segment 404');
$r = $d->request(GET => '/api/v2.0/projects/../users');
is($r->{status}, 404, 'dot segments 404');
$r = $d->request(PATCH => '/api/v2.0/projects');
is($r->{status}, 405, 'unknown method 405');
$r = $d->request(POST => '/api/v2.0/ping');
is($r->{status}, 405, 'wrong method 405');
is($r->{json}{errors}[0]{code}, 'METHOD_NOT_ALLOWED', '405 code');
$r = $d->request(GET => '/api/v2.0/ping', headers => { 'X-Request-Id' => 'abc-123' });
is($r->{headers}{'x-request-id'}, 'abc-123', 'X-Request-Id echoed');
$r = $d->request(GET => '/api/v2.0/ping', headers => { 'X-Request-Id' => 'a b<' });
like($r->{headers}{'x-request-id'}, qr/^[0-9a-f]{32}$/, 'odd X-Request-Id replaced');

$r = $d->request(POST => '/api/v2.0/projects', user => 'admin',
                 pass => $Harbor::Authd::ADMIN_PASSWORD,
                 body => 'x' x 70000, headers => { 'Content-Type' => 'application/json' });
is($r->{status}, 413, 'oversized body refused');

# restart: nothing applied twice, same key, admin untouched
my $kid1 = $d->token->{header}{kid};
$pg->psql("UPDATE users SET realname = 'changed' WHERE user_id = 1");
$d->restart;
is($pg->psql('SELECT count(*) FROM schema_migrations'), scalar @migrations,
   'restart: migrations not applied again');
my @applied = $d->log =~ /applied migration/g;
is(scalar @applied, scalar @migrations,
   'restart: no migration in the log again');
is($pg->psql('SELECT count(*) FROM users'), '1', 'restart: no second admin');
is($pg->psql("SELECT realname FROM users WHERE user_id = 1"), 'changed',
   'restart: admin row untouched');
is($d->token->{header}{kid}, $kid1, 'restart: same signing key');

# library deleted by the operator is not recreated
$pg->psql("UPDATE projects SET deleted = true, name = 'library#1'");
$d->restart;
is($pg->psql("SELECT count(*) FROM projects WHERE NOT deleted"), '0',
   'restart: a deleted library stays deleted');

# a schema newer than the binary: refuse to start
$pg->psql("INSERT INTO schema_migrations (version, name, checksum)"
          . " VALUES (9999, '9999_future.sql', 'x')");
$d->restart(expect_fail => 1);
isnt($d->exit_status, 0, 'newer schema: authd refuses to start');
like($d->log, qr/newer than this authd knows/, 'and says why');
$pg->psql('DELETE FROM schema_migrations WHERE version = 9999');
$d->restart;
ok($d->pid, 'starts again once the schema is right');

# started as root with authd.user: privileges dropped, socket handed over
{
    my (undef, undef, $huid) = getpwnam('harbor');
    $d->restart(conf => { 'authd.user' => 'harbor' });
    my ($uid) = do { local (@ARGV, $/) = "/proc/@{[$d->pid]}/status"; <> }
                =~ /^Uid:\s+(\d+)/m;
    is($uid, $huid, 'authd.user: runs as harbor');
    is((stat $d->sock)[4], $huid, 'authd.user: socket owned by harbor');
    is($d->request(GET => '/api/v2.0/ping')->{status}, 200, 'and serves');
    delete $d->{extra}{'authd.user'};
    $d->restart;
}

# a stale socket file is replaced; a live one is not taken over
my $b = Harbor::Authd->start(pg => $pg, dir => $d->dir, expect_fail => 1);
like($b->log, qr/in use by another process/, 'second authd on a live socket refused');
is($d->request(GET => '/api/v2.0/ping')->{status}, 200, 'first still serves');

# the database goes away: fast 503, health says so; then it comes back
$pg->stop;
my $t0 = time;
$r = $d->api(GET => '/projects', $d->admin);
is($r->{status}, 503, 'database down: 503');
like($r->{json}{errors}[0]{message}, qr/database/i, 'with a clear message');
ok(time - $t0 < 15, 'and quickly');
$r = $d->api(GET => '/health');
is($r->{json}{status}, 'unhealthy', 'health: unhealthy');

system("runuser -u harbor -- $Harbor::Authd::PGBIN/pg_ctl -D $pg->{data}"
       . " -l $pg->{dir}/postgres.log -w -t 30 -o \"-k $pg->{dir}"
       . " -c listen_addresses= -c fsync=off\" start >/dev/null 2>&1");
$pg->{running} = 1;
$r = Harbor::Authd::wait_for(20, sub {
    my $x = $d->api(GET => '/projects', $d->admin);
    $x->{status} == 200 ? $x : undef;
});
ok($r, 'database back: served again (reconnected)');

$d->stop;
is($d->exit_status, 0, 'clean exit on SIGTERM');
ok(!-e $d->sock, 'socket removed at exit');
my @crit = grep { / crit: / && !/listening socket|schema could not/ }
           split /\n/, $d->log;
is("@crit", '', 'no unexpected critical errors in the log');
unlike($d->log, qr/\Q$Harbor::Authd::ADMIN_PASSWORD\E/, 'no password in the log');

$pg->stop;

# two authd starting at once on a fresh database: one migrates and
# bootstraps, the other waits for the lock and finds the work done
my $pg2 = Harbor::Authd::Pg->start;
my @two = map { Harbor::Authd->start(pg => $pg2, nowait => 1) } 1 .. 2;
$_->wait_ready for @two;
is($pg2->psql('SELECT count(*) FROM schema_migrations'), scalar @migrations,
   'concurrent starts: migrations applied once');
is($pg2->psql('SELECT count(*) FROM users'), '1', 'concurrent starts: one admin');
is($pg2->psql('SELECT count(*) FROM projects'), '1', 'concurrent starts: one library');
is($_->request(GET => '/api/v2.0/ping')->{status}, 200, 'both serve') for @two;
$_->stop for @two;
$pg2->stop;

done_testing;
