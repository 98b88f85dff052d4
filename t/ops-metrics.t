#!/usr/bin/perl

# authd's Prometheus metrics: on a listener of their own (authd.metrics_listen)
# and nowhere else.  Counters move as requests are made: requests by route
# pattern (never the path) and status, tokens granted and denied, failed
# and throttled logins; the pool, the journal's lag, garbage collections
# and replication are there too.  Without the key there is no listener,
# and the API socket never serves /metrics.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use HTTP::Tiny;
use JSON::PP ();
use IO::Socket::INET;
use Test::More;

use Harbor::Test;
use Harbor::Stack;
use Harbor::Api;
use Harbor::Clients;

my $port = Harbor::Clients::free_port();
my $s = Harbor::Api->new(workers => 2,
    authd_conf => { 'authd.metrics_listen' => "127.0.0.1:$port" });
my $d = $s->authd;
my $ua = HTTP::Tiny->new(timeout => 10);
my $url = "http://127.0.0.1:$port/metrics";

sub scrape {
    my $r = $ua->get($url);
    is($r->{status}, 200, 'GET /metrics answers 200') or diag $r->{content};
    my %m;
    for (split /\n/, $r->{content} // '') {
        next if /^#/;
        $m{$1} = $2 if /^(\S+) (\S+)$/;
    }
    return (\%m, $r);
}

my ($m0, $r0) = scrape();
like($r0->{headers}{'content-type'}, qr{^text/plain; version=0\.0\.4},
     'the Prometheus text format');
like($r0->{content}, qr/^# TYPE harbor_authd_http_requests_total counter$/m,
     'typed families');
for my $f (qw(harbor_authd_token_requests_total{result="granted"}
              harbor_authd_token_requests_total{result="denied"}
              harbor_authd_login_failures_total
              harbor_authd_login_throttled_total
              harbor_authd_db_pool_connections{state="size"}
              harbor_authd_db_pool_connections{state="open"}
              harbor_authd_db_pool_connections{state="idle"}
              harbor_authd_db_pool_connections{state="waiting"}
              harbor_authd_database_up
              harbor_authd_journal_lag_bytes
              harbor_authd_journal_lag_seconds
              harbor_authd_start_time_seconds))
{
    ok(exists $m0->{$f}, "$f is exported");
}
is($m0->{harbor_authd_database_up}, 1, 'the database is up');
cmp_ok($m0->{'harbor_authd_db_pool_connections{state="size"}'}, '>', 0,
       'the pool has slots');

my $v = sub { my ($m, $k) = @_; $m->{$k} // 0 };
my $PING = 'harbor_authd_http_requests_total{route="/api/v2.0/ping",code="200"}';
my $USER = 'harbor_authd_http_requests_total{route="/api/v2.0/users/*",code="404"}';
my $NONE = 'harbor_authd_http_requests_total{route="none",code="404"}';
my $GRANT = 'harbor_authd_token_requests_total{result="granted"}';
my $DENY = 'harbor_authd_token_requests_total{result="denied"}';
my $FAIL = 'harbor_authd_login_failures_total';
my $THR = 'harbor_authd_login_throttled_total';

# three pings, two lookups of users that do not exist, an unknown path
$d->request(GET => '/api/v2.0/ping') for 1 .. 3;
$d->request(GET => "/api/v2.0/users/$_", user => 'admin',
            pass => $Harbor::Stack::ADMIN_PASSWORD) for 999001, 999002;
$d->request(GET => '/no/such/thing/xyz');

# a token granted, one denied (a wrong password: a failed login too)
my $tok = $s->token(user => 'admin', pass => $Harbor::Stack::ADMIN_PASSWORD,
                    scope => 'repository:library/m:pull');
is($tok->{status}, 200, 'a token is granted');
my $bad = $s->token(user => 'admin', pass => 'wrong-password',
                    scope => 'repository:library/m:pull');
is($bad->{status}, 401, 'a wrong password is refused');

my ($m1) = scrape();
is($v->($m1, $PING) - $v->($m0, $PING), 3, 'three pings counted by route');
is($v->($m1, $USER) - $v->($m0, $USER), 2,
   'two 404s counted under the route pattern, not the path');
is($v->($m1, $NONE) - $v->($m0, $NONE), 1, 'an unknown path is route "none"');
ok(!grep(/999001|xyz/, keys %$m1), 'no label comes from a request path');
is($v->($m1, $GRANT) - $v->($m0, $GRANT), 1, 'a granted token counted');
is($v->($m1, $DENY) - $v->($m0, $DENY), 1, 'a denied token counted');
is($v->($m1, $FAIL) - $v->($m0, $FAIL), 1, 'a failed login counted');

# guessing from one address until the throttle answers 429
my $got429 = 0;
for (1 .. 40) {
    my $r = $d->request(GET => '/api/v2.0/users/current', user => 'guesser',
                        pass => "guess$_",
                        headers => { 'X-Forwarded-For' => '198.51.100.7' });
    if ($r->{status} == 429) { $got429 = 1; last }
}
ok($got429, 'the throttle answers 429 in the end');
my ($m2) = scrape();
cmp_ok($v->($m2, $THR) - $v->($m1, $THR), '>=', 1, 'a throttled login counted');
cmp_ok($v->($m2, $FAIL) - $v->($m1, $FAIL), '>=', 1,
       'the guesses counted as failed logins');

# a push: the journal grows and authd catches up, its lag back to 0
my $push = $s->bearer(user => 'admin', pass => $Harbor::Stack::ADMIN_PASSWORD,
                      scope => 'repository:library/m:pull,push');
ok($s->push_image('library/m', $push)->{ok}, 'an image is pushed');
ok($s->sync, 'the journal is applied');
ok(-s $s->journal, 'the journal is not empty');
like($ua->get($url)->{content}, qr/^harbor_authd_journal_lag_bytes 0$/m,
     'its lag is 0 bytes');
like($ua->get($url)->{content}, qr/^harbor_authd_journal_lag_seconds 0$/m,
     'and 0 seconds');

# a garbage collection: counted by its result once it ends
my $GC = 'harbor_authd_gc_runs{status="Success"}';
my ($m3) = scrape();
my $gc = $s->api(POST => '/system/gc/schedule', $s->admin, json => {
    schedule => { type => 'Manual' }, parameters => { dry_run => JSON::PP::true } });
is($gc->{status}, 201, 'a garbage collection is started') or diag $gc->{body};
ok(Harbor::Authd::wait_for(60, sub {
       my $r = $ua->get($url);
       my ($n) = $r->{content} =~ /^\Q$GC\E (\d+)$/m;
       return ($n // 0) == $v->($m3, $GC) + 1;
   }), 'harbor_authd_gc_runs{status="Success"} goes up by one');

# a replication execution and its task, by status (rows as the replication
# runner leaves them: the metrics read them from the database)
$s->psql(q{INSERT INTO replication_registry (name, url, type) VALUES ('m', 'http://127.0.0.1:9', 'harbor')});
$s->psql(q{INSERT INTO replication_policy (name, src_registry_id) SELECT 'm', id FROM replication_registry WHERE name = 'm'});
$s->psql(q{INSERT INTO replication_execution (policy_id, status) SELECT id, 'Succeed' FROM replication_policy WHERE name = 'm'});
$s->psql(q{INSERT INTO replication_task (execution_id, src_repo, src_ref, dst_repo, dst_ref, status, bytes_done) SELECT id, 'a', 'b', 'a', 'b', 'Succeed', 12345 FROM replication_execution});
my ($m4) = scrape();
is($m4->{'harbor_authd_replication_executions{status="Succeed"}'}, 1,
   'replication executions by status');
is($m4->{'harbor_authd_replication_tasks{status="Succeed"}'}, 1,
   'replication tasks by status');
is($m4->{'harbor_authd_replication_bytes{status="Succeed"}'}, 12345,
   'bytes copied');

# webhook deliveries by status (rows as the webhook sender leaves them)
$s->create_project('mhook', public => 0);
$s->psql(q{INSERT INTO webhook_policy (project_id, name) SELECT project_id, 'm' FROM projects WHERE name = 'mhook'});
$s->psql(q{INSERT INTO webhook_job (policy_id, event_type, payload, status) SELECT id, 'PUSH_ARTIFACT', '{}', s FROM webhook_policy, (VALUES ('Failed'), ('Failed'), ('Success')) v(s) WHERE name = 'm'});
my ($m5) = scrape();
is($m5->{'harbor_authd_webhook_jobs{status="Failed"}'}, 2,
   'webhook deliveries by status: failed');
is($m5->{'harbor_authd_webhook_jobs{status="Success"}'}, 1, 'and succeeded');

# the listener serves /metrics only
my $r = $ua->get("http://127.0.0.1:$port/api/v2.0/ping");
is($r->{status}, 404, 'the metrics listener does not serve the API');
$r = $ua->post($url);
is($r->{status}, 405, 'POST /metrics is refused');

# the API socket does not serve it
is($d->request(GET => '/metrics')->{status}, 404,
   'the API socket has no /metrics');
is($d->request(GET => '/api/v2.0/metrics')->{status}, 404,
   'nor /api/v2.0/metrics');

# a bad value is a configuration error
my $conf = $d->conf_file;
my $bad_conf = "$conf.bad";
open my $in, '<', $conf or die "$conf: $!";
open my $out, '>', $bad_conf or die "$bad_conf: $!";
while (<$in>) {
    s/metrics_listen: .*/metrics_listen: localhost/;
    print $out $_;
}
close $in;
close $out;
my $msg = qx{$Harbor::Authd::AUTHD -n -f $bad_conf 2>&1};
isnt($? >> 8, 0, 'authd -n refuses a metrics_listen without a port');
like($msg, qr/metrics_listen.*ADDRESS:PORT/, 'and says what it wants');

$s->stop;

# not enabled: nothing listens
my $s2 = Harbor::Stack->new(workers => 2);
is($s2->authd->request(GET => '/api/v2.0/ping')->{status}, 200,
   'an authd without metrics_listen serves');
ok(!IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $port,
                          Timeout => 2),
   'and no metrics listener is there');
is($s2->authd->request(GET => '/metrics')->{status}, 404,
   'nor /metrics on its API socket');
unlike($s2->authd->log, qr/metrics on/, 'nor does its log mention one');
$s2->stop;

done_testing;
