#!/usr/bin/perl

# Replication policies, executions and tasks through Harbor's API, run by
# authd's workers on the data plane (authd/repl.h): who may, policy
# bodies and their errors, filters and destination names (one task per tag), runs
# started by hand, by cron and by the journal's events, stop, a run that
# resumes after authd is killed, events kept for later when their copy
# failed.  Both ends are closed ports here (this instance's registry_url
# and the far registry), so every copy fails the way an unreachable
# registry does: "connection refused", tried three times.  Copies that
# succeed, refused credentials and missing projects: t/repl-e2e.t.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use File::Path qw(make_path);
use File::Temp qw(tempdir);
use JSON::PP;
use Test::More;
use Harbor::Authd;
use Harbor::Clients;

my $dir = tempdir('hb-repl-XXXXXX', TMPDIR => 1, CLEANUP => 1);
make_path("$dir/store");
open my $jf, '>', "$dir/events.log" or die;
close $jf;
chmod 0755, $dir;
chmod 0777, "$dir/store";
chmod 0666, "$dir/events.log";

my $d = Harbor::Authd->start(conf => {
    'authd.journal'          => "$dir/events.log",
    'authd.registry_storage' => "$dir/store",
    'authd.registry_url'     => 'http://127.0.0.1:9',
    'replication.retry_delay' => 1,
    'replication.max_parallel' => 2,
});
my $admin = $d->admin;
# the far ends are on loopback: the SSRF guard lets them through
is($d->api(PUT => '/configurations', $admin, json => {
    outbound_allowlist => '127.0.0.1' })->{status}, 200,
   'outbound_allowlist names 127.0.0.1');
my $T = JSON::PP::true;
my $F = JSON::PP::false;
my $REFUSED = qr/source unreachable: connection refused to 127\.0\.0\.1:9/;

sub id_of { ($_[0]{headers}{location} // '') =~ m{(\d+)$} ? $1 : undef }
sub err { $_[0]{json} ? $_[0]{json}{errors}[0]{code} // '' : $_[0]{body} }
sub psql { my $o = $d->pg->psql($_[0]); chomp $o; $o }

$d->create_user('plain', password => 'Passw0rd!');
my $plain = ['plain', 'Passw0rd!'];

my $r = $d->api(POST => '/registries', $admin, json => {
    name => 'far', url => 'http://127.0.0.1:1', type => 'docker-registry' });
my ($rid) = $r->{headers}{location} =~ m{(\d+)$};
ok($rid, 'a registry');

# ------------------------------------------------------------ permissions

for my $c ([GET => '/replication/policies'], [POST => '/replication/policies'],
           [GET => '/replication/policies/1'], [PUT => '/replication/policies/1'],
           [DELETE => '/replication/policies/1'],
           [GET => '/replication/executions'], [POST => '/replication/executions'],
           [GET => '/replication/executions/1'], [PUT => '/replication/executions/1'],
           [GET => '/replication/executions/1/tasks'],
           [GET => '/replication/executions/1/tasks/1/log'])
{
    my %j = $c->[0] =~ /POST|PUT/ ? (json => { policy_id => 1 }) : ();
    is($d->api(@$c, undef, %j)->{status}, 401, "anonymous $c->[0] $c->[1]: 401");
    is($d->api(@$c, $plain, %j)->{status}, 403, "a user $c->[0] $c->[1]: 403");
}

# --------------------------------------------------------------- policies

my %push = (
    name => 'to-far', description => 'push library',
    dest_registry => { id => $rid + 0 },
    dest_namespace => 'mirror', dest_namespace_replace_count => -1,
    filters => [ { type => 'name', value => 'library/**' },
                 { type => 'tag', value => 'dev*', decoration => 'excludes' } ],
    trigger => { type => 'manual' },
    override => $T, enabled => $T, replicate_deletion => $F, speed => 0,
    copy_by_chunk => $F,
);

$r = $d->api(POST => '/replication/policies', $admin, json => \%push);
is($r->{status}, 201, 'a push-based policy');
my ($pid) = ($r->{headers}{location} // '') =~ m{/replication/policies/(\d+)$};
ok($pid, 'Location names it');

$r = $d->api(GET => "/replication/policies/$pid", $admin);
is($r->{status}, 200, 'get it');
my $p = $r->{json};
is($p->{name}, 'to-far', 'name');
is($p->{dest_registry}{id}, $rid, 'dest_registry');
is($p->{dest_registry}{credential}{access_secret}, '', 'no secret shown');
is($p->{src_registry}{id}, 0, 'src_registry: this instance');
is($p->{dest_namespace}, 'mirror', 'dest_namespace');
is($p->{dest_namespace_replace_count}, -1, 'dest_namespace_replace_count');
is(scalar @{$p->{filters}}, 2, 'filters');
is($p->{filters}[0]{decoration}, 'matches', 'decoration defaults to matches');
is($p->{filters}[1]{decoration}, 'excludes', 'excludes kept');
is($p->{trigger}{type}, 'manual', 'trigger');
ok($p->{override} && $p->{enabled} && !$p->{replicate_deletion}, 'flags');
ok($p->{creation_time}, 'creation_time');

my %pull = (name => 'from-far', src_registry => { id => $rid + 0 },
            trigger => { type => 'manual' });
$r = $d->api(POST => '/replication/policies', $admin, json => \%pull);
is($r->{status}, 201, 'a pull-based policy');
my ($pull_id) = $r->{headers}{location} =~ m{(\d+)$};

for my $bad (
    [ 'no name', { dest_registry => { id => $rid + 0 } } ],
    [ 'no registry', { name => 'b1' } ],
    [ 'two registries', { name => 'b1', src_registry => { id => $rid + 0 },
                          dest_registry => { id => $rid + 0 } } ],
    [ 'an unknown registry', { name => 'b1', dest_registry => { id => 999 } } ],
    [ 'a registry not an object', { name => 'b1', dest_registry => 3 } ],
    [ 'a filter type', { %push, name => 'b1',
                         filters => [ { type => 'label', value => 'x' } ] } ],
    [ 'a bad glob', { %push, name => 'b1',
                      filters => [ { type => 'name', value => 'lib/[ab' } ] } ],
    [ 'an open brace', { %push, name => 'b1',
                         filters => [ { type => 'tag', value => '{a,b' } ] } ],
    [ 'a decoration', { %push, name => 'b1',
                        filters => [ { type => 'tag', value => 'a',
                                       decoration => 'maybe' } ] } ],
    [ 'a resource', { %push, name => 'b1',
                      filters => [ { type => 'resource', value => 'chart' } ] } ],
    [ 'filters not an array', { %push, name => 'b1', filters => {} } ],
    [ 'a trigger type', { %push, name => 'b1', trigger => { type => 'hourly' } } ],
    [ 'scheduled without cron', { %push, name => 'b1',
                                  trigger => { type => 'scheduled' } } ],
    [ 'a bad cron', { %push, name => 'b1', trigger => { type => 'scheduled',
                      trigger_settings => { cron => '0 0 99 * * *' } } } ],
    [ 'event_based pulling', { %pull, name => 'b1',
                               trigger => { type => 'event_based' } } ],
    [ 'replace count', { %push, name => 'b1',
                         dest_namespace_replace_count => -2 } ],
    [ 'a bad namespace', { %push, name => 'b1', dest_namespace => 'Mirror' } ],
    [ 'speed', { %push, name => 'b1', speed => 'fast' } ],
    [ 'override', { %push, name => 'b1', override => 'yes' } ],
) {
    $r = $d->api(POST => '/replication/policies', $admin, json => $bad->[1]);
    is($r->{status}, 400, "$bad->[0]: 400");
    is(err($r), 'BAD_REQUEST', "$bad->[0]: BAD_REQUEST");
}

$r = $d->api(POST => '/replication/policies', $admin, json => \%push);
is($r->{status}, 409, 'a duplicate name: 409');
is(err($r), 'CONFLICT', 'CONFLICT');

$r = $d->api(POST => '/replication/policies', $admin, json => {
    %push, name => 'cron-5', trigger => { type => 'scheduled',
    trigger_settings => { cron => '0 3 * * *' } } });
is($r->{status}, 201, 'a five-field cron is taken');
my ($cron5) = $r->{headers}{location} =~ m{(\d+)$};

$r = $d->api(GET => '/replication/policies?q=name%3D~far', $admin);
is($r->{status}, 200, 'list');
is($r->{headers}{'x-total-count'}, 2, 'X-Total-Count');
is_deeply([sort map { $_->{name} } @{$r->{json}}], ['from-far', 'to-far'],
          'q=name=~');
$r = $d->api(GET => '/replication/policies?page_size=1&page=2', $admin);
is(scalar @{$r->{json}}, 1, 'a page');
like($r->{headers}{link} // '', qr/rel="prev"/, 'Link');

# PUT: the body over the stored policy
$r = $d->api(PUT => "/replication/policies/$cron5", $admin,
             json => { enabled => $F });
is($r->{status}, 200, 'disable one');
$r = $d->api(GET => "/replication/policies/$cron5", $admin);
ok(!$r->{json}{enabled}, 'disabled');
is($r->{json}{trigger}{trigger_settings}{cron}, '0 3 * * *', 'the rest kept');
is($d->api(PUT => "/replication/policies/$cron5", $admin,
           json => { name => 'to-far' })->{status}, 409, 'renamed onto another: 409');
is($d->api(PUT => "/replication/policies/$cron5", $admin,
           json => { filters => [ { type => 'x' } ] })->{status}, 400,
   'a bad filter in an update: 400');
is($d->api(PUT => '/replication/policies/999', $admin,
           json => { enabled => $F })->{status}, 404, 'unknown: 404');
is($d->api(GET => '/replication/policies/999', $admin)->{status}, 404,
   'GET unknown: 404');
is($d->api(DELETE => '/replication/policies/x', $admin)->{status}, 404,
   'DELETE x: 404');

# a registry a policy uses
$r = $d->api(DELETE => "/registries/$rid", $admin);
is($r->{status}, 412, 'its registry cannot go: 412');

# ---------------------------------------------- this instance's artifacts

psql(<<'SQL');
INSERT INTO repository (name) VALUES ('library/app'), ('library/tools/cli'),
    ('other/x');
INSERT INTO artifact (repository_id, digest, type)
    SELECT repository_id, 'sha256:' || md5(name) || md5(name), 'IMAGE'
    FROM repository;
INSERT INTO tag (repository_id, artifact_id, name)
    SELECT a.repository_id, a.id, t FROM artifact a
    JOIN repository r ON r.repository_id = a.repository_id,
    unnest(CASE r.name WHEN 'library/app' THEN ARRAY['1.0', '2.0', 'dev-1']
           ELSE ARRAY['1.0'] END) t;
SQL

sub run_policy {
    my ($id) = @_;
    my $r = $d->api(POST => '/replication/executions', $admin,
                    json => { policy_id => $id + 0 });
    my ($eid) = ($r->{headers}{location} // '') =~
        m{/replication/executions/(\d+)$};
    return ($r, $eid);
}

sub wait_done {
    my ($eid) = @_;
    my $e;
    Harbor::Authd::wait_for(30, sub {
        $e = $d->api(GET => "/replication/executions/$eid", $admin)->{json};
        return $e && $e->{status} ne 'InProgress';
    });
    return $e;
}

my ($resp, $eid) = run_policy($pid);
is($resp->{status}, 201, 'run the push-based policy');
ok($eid, 'Location names the execution');

my $e = wait_done($eid);
is($e->{status}, 'Failed', 'it fails: this instance\'s registry is a closed port');
is($e->{trigger}, 'manual', 'trigger manual');
is($e->{policy_id}, $pid, 'policy_id');
is($e->{total}, 3, 'three tags pass the filters');
is($e->{failed}, 3, 'three failed');
is($e->{succeed} + $e->{in_progress} + $e->{stopped}, 0, 'no others');
like($e->{status_text}, qr/3 of 3 task\(s\) failed; the first: library\/app:1\.0: $REFUSED/,
     'status_text says how many and why');
ok($e->{start_time} && $e->{end_time}, 'start and end');

$r = $d->api(GET => "/replication/executions/$eid/tasks", $admin);
is($r->{status}, 200, 'its tasks');
is($r->{headers}{'x-total-count'}, 3, 'X-Total-Count');
my %map = map { $_->{src_resource} => $_->{dst_resource} } @{$r->{json}};
is_deeply(\%map, {
    'library/app:1.0'       => 'mirror/app:1.0',
    'library/app:2.0'       => 'mirror/app:2.0',
    'library/tools/cli:1.0' => 'mirror/cli:1.0',
}, 'name filter, tag exclusion, every level flattened (-1)');
my $task = $r->{json}[0];
is($task->{status}, 'Failed', 'task Failed');
is($task->{operation}, 'copy', 'operation copy');
is($task->{resource_type}, 'image', 'resource_type');
is($task->{attempts}, 3, 'a refused connection is tried three times');
ok(exists $task->{bytes_done} && exists $task->{bytes_total}, 'bytes');
ok($task->{start_time} && $task->{end_time}, 'task times');

$r = $d->api(GET => "/replication/executions/$eid/tasks/$task->{id}/log",
             $admin);
is($r->{status}, 200, 'task log');
like($r->{body}, qr/failed: $REFUSED/, 'the log says why');
is(scalar(() = $r->{body} =~ /will retry: $REFUSED/g), 2,
   'and each retry');
like($r->{body}, qr/copy library\/app:1\.0 .*to mirror\/app:1\.0/, 'and what');
is($d->api(GET => "/replication/executions/$eid/tasks/99999/log", $admin)
   ->{status}, 404, 'an unknown task: 404');

# replace count 1 and 0
for my $c ([0, 'mirror/library/tools/cli'], [1, 'mirror/tools/cli']) {
    $d->api(PUT => "/replication/policies/$pid", $admin, json => {
        dest_namespace_replace_count => $c->[0],
        filters => [ { type => 'name', value => 'library/tools/*' } ] });
    my (undef, $x) = run_policy($pid);
    wait_done($x);
    my $t = $d->api(GET => "/replication/executions/$x/tasks", $admin)->{json};
    is($t->[0]{dst_resource}, "$c->[1]:1.0", "replace count $c->[0]");
}

# doublestar: ** crosses '/', * and ? do not, [!x] classes
for my $c (
    [ '**/{app,cli}', '[!2].?', ['library/app:1.0', 'library/tools/cli:1.0'] ],
    [ '*/app', '*', ['library/app:1.0', 'library/app:2.0', 'library/app:dev-1'] ],
    [ '*', '*', [] ],
    [ 'library/*/cli', '1.?', ['library/tools/cli:1.0'] ],
) {
    $d->api(PUT => "/replication/policies/$pid", $admin, json => {
        dest_namespace_replace_count => 0,
        filters => [ { type => 'name', value => $c->[0] },
                     { type => 'tag', value => $c->[1] } ] });
    my (undef, $x) = run_policy($pid);
    wait_done($x);
    my $t = $d->api(GET => "/replication/executions/$x/tasks", $admin)->{json};
    is_deeply([sort map { $_->{src_resource} } @$t], $c->[2],
              "name $c->[0], tag $c->[1]");
}

# a count larger than the path: that task fails, and says why
$d->api(PUT => "/replication/policies/$pid", $admin, json => {
    dest_namespace_replace_count => 2,
    filters => [ { type => 'name', value => '{library/app,other/x}' } ] });
my (undef, $x2) = run_policy($pid);
$e = wait_done($x2);
is($e->{total}, 4, '{a,b} alternatives');
$r = $d->api(GET => "/replication/executions/$x2/tasks", $admin);
my ($t2) = grep { $_->{src_resource} eq 'other/x:1.0' } @{$r->{json}};
my $log = $d->api(GET => "/replication/executions/$x2/tasks/$t2->{id}/log",
                  $admin)->{body};
like($log, qr/fewer than the 2/, 'too large a replace count: said');
is($d->api(GET => "/replication/executions/$eid/tasks/$t2->{id}/log", $admin)
   ->{status}, 404, 'a task through another execution: 404');

# pull-based: listing the remote fails, and the run says so
my (undef, $pe) = run_policy($pull_id);
$e = wait_done($pe);
is($e->{status}, 'Failed', 'pull-based run fails');
is($e->{total}, 0, 'no tasks');
is($e->{status_text}, 'registry unreachable: connection refused to 127.0.0.1:1',
   'status_text from the data plane');

# bad starts
$r = $d->api(POST => '/replication/executions', $admin, json => {});
is($r->{status}, 400, 'no policy_id: 400');
$r = $d->api(POST => '/replication/executions', $admin,
             json => { policy_id => 999 });
is($r->{status}, 404, 'an unknown policy: 404');
$r = $d->api(POST => '/replication/executions', $admin,
             json => { policy_id => "$pid" });
is($r->{status}, 400, 'policy_id not a number: 400');
($r) = run_policy($cron5);
is($r->{status}, 412, 'a disabled policy: 412');
is(err($r), 'PRECONDITION', 'PRECONDITION');

# lists
$r = $d->api(GET => "/replication/executions?policy_id=$pid", $admin);
is($r->{headers}{'x-total-count'}, 8, 'executions of one policy');
ok(!grep({ $_->{policy_id} != $pid } @{$r->{json}}), 'only its own');
is($r->{json}[0]{id}, $x2, 'newest first');
$r = $d->api(GET => "/replication/executions?policy_id=$pid&page_size=1",
             $admin);
is(scalar @{$r->{json}}, 1, 'a page of one');
like($r->{headers}{link} // '', qr/rel="next"/, 'Link');
is($d->api(GET => '/replication/executions?policy_id=x', $admin)->{status},
   400, 'policy_id=x: 400');
is($d->api(GET => '/replication/executions/999', $admin)->{status}, 404,
   'an unknown execution: 404');
is($d->api(GET => '/replication/executions/999/tasks', $admin)->{status},
   404, 'its tasks: 404');

# an error a retry may cure is tried three times, with a backoff: here
# the registry's secret does not open (sealed under another key)
psql("UPDATE replication_registry SET access_secret = 'AAAA' || repeat('B', 60)"
     . " WHERE id = $rid");
$d->api(PUT => "/replication/policies/$pid", $admin, json => {
    dest_namespace_replace_count => -1,
    filters => [ { type => 'name', value => 'other/x' } ] });
my (undef, $rx) = run_policy($pid);
$e = wait_done($rx);
is($e->{status}, 'Failed', 'a run whose errors persist fails');
my $rtask = $d->api(GET => "/replication/executions/$rx/tasks", $admin)
    ->{json}[0];
is($rtask->{attempts}, 3, 'after three tries');
$log = $d->api(GET => "/replication/executions/$rx/tasks/$rtask->{id}/log",
               $admin)->{body};
is(scalar(() = $log =~ /will retry/g), 2, 'two retries in the log');
like($log, qr/does not open with this authd's secret key: set it again/,
     'and the reason, in words a person can act on');
psql("UPDATE replication_registry SET access_secret = '' WHERE id = $rid");

# --------------------------------------------------------------- stop

# a run whose tasks wait (next_try in an hour): stopped by PUT
my $held = psql("INSERT INTO replication_execution (policy_id, enumerated)"
                . " VALUES ($pid, true) RETURNING id");
($held) = $held =~ /(\d+)/;
psql("INSERT INTO replication_task (execution_id, src_repo, src_ref, dst_repo,"
     . " dst_ref, next_try) VALUES ($held, 'library/app', '1.0',"
     . " 'mirror/app', '1.0', now() + interval '1 hour')");
$r = $d->api(DELETE => "/replication/policies/$pid", $admin);
is($r->{status}, 412, 'a policy with a running execution cannot go: 412');
is($d->api(GET => "/replication/executions/$held", $admin)->{json}{status},
   'InProgress', 'the held run is InProgress');
is($d->api(PUT => "/replication/executions/$held", $admin)->{status}, 200,
   'stop it');
$e = $d->api(GET => "/replication/executions/$held", $admin)->{json};
is($e->{status}, 'Stopped', 'Stopped');
is($e->{stopped}, 1, 'its task stopped');
is($d->api(PUT => "/replication/executions/$held", $admin)->{status}, 200,
   'stopping a finished run changes nothing');

# ------------------------------------------------------------ scheduled

$r = $d->api(POST => '/replication/policies', $admin, json => {
    %push, name => 'every-minute', filters => [],
    trigger => { type => 'scheduled',
                 trigger_settings => { cron => '* * * * * *' } } });
is($r->{status}, 201, 'a scheduled policy');
my ($sched) = $r->{headers}{location} =~ m{(\d+)$};
my $got = Harbor::Authd::wait_for(20, sub {
    my $l = $d->api(GET => "/replication/executions?policy_id=$sched",
                    $admin)->{json};
    return $l && @$l ? $l->[0] : undef;
});
ok($got, 'its cron started a run');
is($got->{trigger}, 'scheduled', 'trigger scheduled') if $got;
$d->api(PUT => "/replication/policies/$sched", $admin,
        json => { enabled => $F });

# ---------------------------------------------------------- event-based

$r = $d->api(POST => '/replication/policies', $admin, json => {
    %push, name => 'on-push', dest_namespace => '',
    filters => [ { type => 'name', value => 'library/*' } ],
    replicate_deletion => $T, trigger => { type => 'event_based' } });
is($r->{status}, 201, 'an event-based policy');
my ($ev) = $r->{headers}{location} =~ m{(\d+)$};

# one write, so that the journal's reader takes them as one batch
my $n = 0;
sub journal {
    my $lines = '';
    for my $e (@_) {
        my ($action, $repo, $tag) = @$e;
        my $id = sprintf('%032x', ++$n + 0xabc000);
        my $digest = 'sha256:' . ('a' x 63) . ($n % 10);
        $lines .= JSON::PP->new->canonical->encode({
            id => $id, time => '2026-12-02T00:00:00.000Z', action => $action,
            repository => $repo, digest => $digest, tag => $tag,
            media_type => 'application/vnd.oci.image.manifest.v1+json',
            size => 100, user => 'alice', remote_addr => '127.0.0.1' }) . "\n";
    }
    open my $f, '>>', "$dir/events.log" or die;
    syswrite $f, $lines;
    close $f;
}

journal(['push', 'library/app', '3.0'], ['push', 'other/x', '9.9'],
        ['push', 'library/app', 'gone'], ['delete', 'library/app', 'gone']);

my $evx = Harbor::Authd::wait_for(20, sub {
    my $l = $d->api(GET => "/replication/executions?policy_id=$ev",
                    $admin)->{json};
    return $l && @$l && $l->[0]{status} ne 'InProgress' ? $l->[0] : undef;
});
ok($evx, 'the journal\'s events started a run');
if ($evx) {
    is($evx->{trigger}, 'event_based', 'trigger event_based');
    my $ts = $d->api(GET => "/replication/executions/$evx->{id}/tasks",
                     $admin)->{json};
    my %ops = map { ("$_->{operation} $_->{src_resource}" => 1) } @$ts;
    is_deeply(\%ops, { 'copy library/app:3.0' => 1,
                       'deletion library/app:gone' => 1 },
              'filtered; a push then a delete of a tag is one deletion');
}

# what failed is kept, offered again later
is(psql("SELECT count(*) FROM replication_event WHERE policy_id = $ev"
        . " AND task_id IS NULL AND next_try > now()"), 3,
   'the events of failed copies wait to be replayed');
is(psql("SELECT count(*) FROM replication_event WHERE policy_id = $ev"
        . " AND repository = 'other/x'"), 0, 'a filtered event is dropped');

# ----------------------------------------------------- killed, resumed

$d->api(PUT => "/replication/policies/$ev", $admin, json => { enabled => $F });
my $resume = psql("INSERT INTO replication_execution (policy_id, enumerated)"
                  . " VALUES ($pid, true) RETURNING id");
($resume) = $resume =~ /(\d+)/;
kill 'KILL', $d->pid;
waitpid($d->pid, 0);
delete $d->{pid};
psql("INSERT INTO replication_task (execution_id, src_repo, src_ref, dst_repo,"
     . " dst_ref, status, attempts) VALUES ($resume, 'library/app', '2.0',"
     . " 'mirror/app', '2.0', 'InProgress', 1)");
$d->restart;
$e = wait_done($resume);
is($e->{status}, 'Failed', 'a run left InProgress by a killed authd ends');
my $rt = $d->api(GET => "/replication/executions/$resume/tasks", $admin)
    ->{json}[0];
is($rt->{attempts}, 3, 'its task ran again after the restart (the killed try counts)');
$log = $d->api(GET => "/replication/executions/$resume/tasks/$rt->{id}/log",
               $admin)->{body};
like($log, qr/\(try 2\)/, 'tried again after the restart');
unlike($log, qr/\(try 1\)/, 'not from the start');

# ------------------------- a harbor registry's projects, as Harbor asks

# a name filter naming its projects narrows the listing to them, asked as
# Harbor's adapter does (q=name={'a' 'b'}, encoded so)
my ($hport, $hpid) = Harbor::Clients::fake_registry(sub {
    my ($method, $path) = @_;
    if (open my $f, '>>', "$dir/harbor.seen") {
        print $f "$method $path\n";
        close $f;
    }
    my %a = (
        '/api/v2.0/projects' => '[{"project_id":7,"name":"alpha"}]',
        '/api/v2.0/projects/alpha/repositories'
            => '[{"name":"alpha/app"},{"name":"alpha/tools/cli"}]',
        '/v2/alpha/app/tags/list' => '{"name":"alpha/app","tags":["1.0","2.0"]}',
    );
    my ($p) = $path =~ /^([^?]*)/;
    return $a{$p} ? (200, "Content-Type: application/json\r\n", $a{$p})
                  : (404, '', '{"errors":[{"code":"NOT_FOUND","message":"no"}]}');
});
$r = $d->api(POST => '/registries', $admin, json => {
    name => 'harbor-fake', url => "http://127.0.0.1:$hport", type => 'harbor' });
is($r->{status}, 201, 'a harbor registry');
my $hreg = id_of($r);
$r = $d->api(POST => '/replication/policies', $admin, json => {
    name => 'from-harbor', src_registry => { id => $hreg + 0 },
    filters => [ { type => 'name', value => '{alpha,beta}/app' },
                 { type => 'tag', value => '1.*' } ],
    trigger => { type => 'manual' } });
is($r->{status}, 201, 'a pull-based policy from it');
my (undef, $hx) = run_policy(id_of($r));
wait_done($hx);
is_deeply([map { $_->{src_resource} } @{$d->api(GET =>
              "/replication/executions/$hx/tasks", $admin)->{json}}],
          ['alpha/app:1.0'], 'its repositories and tags, filtered');
open my $hs, '<', "$dir/harbor.seen" or die "harbor.seen: $!";
my @hseen = map { chomp; $_ } <$hs>;
close $hs;
my @plist = grep { m{^GET /api/v2\.0/projects\?} } @hseen;
is(scalar @plist, 1, 'one page of projects asked for');
like($plist[0], qr{^GET /api/v2\.0/projects\?q=name%3D%7B%27alpha%27\+%27beta%27%7D&page=1&page_size=\d+$},
     'only the filter\'s projects, in Harbor\'s syntax');

# more alternatives than one query takes: every project is listed
unlink "$dir/harbor.seen";
$r = $d->api(POST => '/replication/policies', $admin, json => {
    name => 'from-harbor-many', src_registry => { id => $hreg + 0 },
    filters => [ { type => 'name', value => '{' . join(',', map { "p$_" } 1 .. 40)
                                              . ',alpha}/app' },
                 { type => 'tag', value => '1.*' } ],
    trigger => { type => 'manual' } });
(undef, $hx) = run_policy(id_of($r));
wait_done($hx);
is_deeply([map { $_->{src_resource} } @{$d->api(GET =>
              "/replication/executions/$hx/tasks", $admin)->{json}}],
          ['alpha/app:1.0'], '41 alternatives: the same tasks');
open $hs, '<', "$dir/harbor.seen" or die "harbor.seen: $!";
@plist = grep { m{^GET /api/v2\.0/projects\?} } map { chomp; $_ } <$hs>;
close $hs;
like($plist[0] // '', qr{^GET /api/v2\.0/projects\?page=1&page_size=\d+$},
     'and every project is asked for');
kill 'TERM', $hpid;
waitpid($hpid, 0);

# --------------------------------- a 401 from this instance's registry

# authd's token for its own registry refused (expired, signed under a key
# since replaced): a retry, each try with a token of its own
my ($fport, $fpid) = Harbor::Clients::fake_registry(sub {
    my ($method, $path, $h) = @_;
    if (open my $f, '>>', "$dir/auth.seen") {
        print $f ($h->{authorization} // '-'), "\n";
        close $f;
    }
    return (401, "Content-Type: application/json\r\n",
            '{"errors":[{"code":"UNAUTHORIZED","message":"token expired"}]}');
});
$d->restart(conf => { 'authd.registry_url' => "http://127.0.0.1:$fport" });
my (undef, $ux) = run_policy($pid);
$e = wait_done($ux);
is($e->{status}, 'Failed', 'a run whose own registry refuses its token fails');
my $ut = $d->api(GET => "/replication/executions/$ux/tasks", $admin)
    ->{json}[0];
is($ut->{attempts}, 3, 'after three tries: a 401 there is worth a retry');
$log = $d->api(GET => "/replication/executions/$ux/tasks/$ut->{id}/log",
               $admin)->{body};
like($log, qr/failed: source refused the pull of manifest 1\.0 of other\/x: token expired on 127\.0\.0\.1:$fport \(401 UNAUTHORIZED\); the token handed in was refused, a new one may pass/,
     'the log says why');
open my $seen, '<', "$dir/auth.seen" or die "auth.seen: $!";
my @seen = grep { /^Bearer / } map { chomp; $_ } <$seen>;
close $seen;
is(scalar @seen, 3, 'one request a try, each with a bearer');
my %uniq = map { $_ => 1 } @seen;
is(scalar keys %uniq, 3, 'a new token for each try');
kill 'TERM', $fpid;
waitpid($fpid, 0);

# the policy goes, and its runs with it
is($d->api(DELETE => "/replication/policies/$pid", $admin)->{status}, 200,
   'delete the policy');
is($d->api(GET => "/replication/executions/$eid", $admin)->{status}, 404,
   'its executions went with it');

unlike($d->log, qr/\[alert\]|panic/, 'no alert in the log');

done_testing();
