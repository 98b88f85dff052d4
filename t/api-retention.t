#!/usr/bin/perl

# Tag retention through Harbor's API: a project's policy (create, read,
# update, delete; bad bodies 400; one per project 409), who may (project
# admin and maintainer manage and run, developer and guest read,
# anonymous 401); every template on a crafted history (push and pull
# times set in the database): latestPushedK, latestPulledN,
# nDaysSinceLastPush, nDaysSinceLastPull, always, each on its own
# repository, with untagged artifacts; a dry run removes nothing and
# names exactly what the real run then removes; an immutable tag is kept
# by the run; a repository no rule selects is not touched; executions,
# tasks and logs; a schedule starts a run; and the two-project matrix:
# B's policy, executions and tasks through A's ids are 404, nothing of B
# changes.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use JSON::PP ();
use Test::More;

use Harbor::Test;
use Harbor::Api;
use Harbor::Authd ();

my $s = Harbor::Api->new(workers => 2);
my $admin = $s->admin;
my $pw = 'Passw0rd!';

my $pa = $s->create_project('ra');
my $pb = $s->create_project('rb');
$s->create_user($_) for qw(owner-a maint-a dev-a guest-a owner-b);
$s->add_member('ra', 'owner-a', 1);
$s->add_member('ra', 'maint-a', 4);
$s->add_member('ra', 'dev-a', 2);
$s->add_member('ra', 'guest-a', 3);
$s->add_member('rb', 'owner-b', 1);
my %c = map { ($_ => [$_, $pw]) } qw(owner-a maint-a dev-a guest-a owner-b);

sub loc_id { (($_[0]{headers}{location} // '') =~ m{/(\d+)$})[0] }
sub code { $_[0]{json} ? $_[0]{json}{errors}[0]{code} // '' : '' }

sub rule {
    my ($tpl, $n, $repo, %o) = @_;
    return { disabled => JSON::PP::false(), action => 'retain',
             template => $tpl,
             params => defined $n ? { $tpl => $n } : {},
             tag_selectors => [{ kind => 'doublestar',
                 decoration => $o{tdeco} // 'matches',
                 pattern => $o{tags} // '**',
                 extras => JSON::PP->new->encode(
                     { untagged => $o{untagged} ? JSON::PP::true()
                                                : JSON::PP::false() }) }],
             scope_selectors => { repository => [{ kind => 'doublestar',
                 decoration => 'repoMatches', pattern => $repo }] } };
}

sub policy {
    my ($pid, $rules, $cron) = @_;
    return { algorithm => 'or', rules => $rules,
             trigger => { kind => 'Schedule',
                          settings => { cron => $cron // '' } },
             scope => { level => 'project', ref => $pid + 0 } };
}

# ------------------------------------------------------------ history

my %tok;
sub tok {
    my ($repo) = @_;
    return $tok{$repo} //= $s->bearer(user => 'admin', pass => $admin->[1],
        scope => "repository:$repo:pull,push,delete");
}

my %dig;        # "repo:tag" -> digest; "repo:@u" for untagged ones
sub put {
    my ($repo, $tag) = @_;
    my $r = $s->push_image($repo, tok($repo), tag => $tag);
    ok($r->{ok}, "push $repo:" . ($tag // 'untagged'));
    $dig{"$repo:" . ($tag // '@u')} = $r->{digest};
}

# ages in days: a1 pushed 10 ago, pulled 1 ago; a2 5, never; a3 2, 8;
# a4 0.04, 3
my %age = (a1 => [10, 1], a2 => [5, undef], a3 => [2, 8], a4 => [0.04, 3]);

for my $repo (map { "ra/$_" } qw(pushed pulled dpush dpull always other)) {
    put($repo, $_) for sort keys %age;
}
put('ra/pushed', undef);
put('ra/always', undef);
my $bd = do { put('rb/app', 'v1'); $dig{'rb/app:v1'} };
ok($s->sync, 'journal applied');

for my $k (keys %dig) {
    my ($repo, $tag) = split /:/, $k;
    next unless $repo =~ m{^ra/};
    my ($push, $pull) = $tag eq '@u' ? (20, undef) : @{$age{$tag}};
    my $set = "push_time = now() - interval '" . ($push * 86400)
        . " seconds', pull_time = "
        . (defined $pull ? "now() - interval '" . ($pull * 86400)
                           . " seconds'" : 'NULL');
    $s->psql("UPDATE artifact SET $set WHERE digest = '$dig{$k}'"
        . " AND repository_id = (SELECT repository_id FROM repository"
        . " WHERE name = '$repo')");
}

# an immutable tag the latestPushedK rule would remove
is($s->api(POST => '/projects/ra/immutabletagrules', $admin, json => {
    tag_selectors => [{ kind => 'doublestar', decoration => 'matches',
                        pattern => 'a1' }],
    scope_selectors => { repository => [{ kind => 'doublestar',
        decoration => 'repoMatches', pattern => 'pushed' }] } })->{status},
   201, 'ra/pushed:a1 is immutable');

# --------------------------------------------------------- the policy

my @rules = (rule('latestPushedK', 2, 'pushed'),
             rule('latestPulledN', 2, 'pulled'),
             rule('nDaysSinceLastPush', 3, 'dpush'),
             rule('nDaysSinceLastPull', 4, 'dpull'),
             rule('always', undef, 'always', untagged => 1));

is($s->api(POST => '/retentions', undef, json => policy($pa, \@rules))
     ->{status}, 401, 'anonymous: 401');
is($s->api(POST => '/retentions', $c{'dev-a'}, json => policy($pa, \@rules))
     ->{status}, 403, 'a developer makes none');
is($s->api(POST => '/retentions', $c{'owner-b'},
           json => policy($pa, \@rules))->{status}, 403,
   "another project's admin: 403");

for my $bad ([{ %{policy($pa, \@rules)}, scope => undef }, 'no scope'],
             [policy($pa, [rule('nothing', 1, '**')]), 'unknown template'],
             [policy($pa, [rule('latestPushedK', -1, '**')]), 'negative K'],
             [policy($pa, [rule('latestPushedK', undef, '**')]), 'no K'],
             [policy($pa, [rule('always', undef, 'a{')]), 'bad pattern'],
             [policy($pa, [rule('always', undef, '**', tdeco => 'x')]),
              'bad decoration'],
             [policy($pa, \@rules, 'every day'), 'bad cron'],
             [{ %{policy($pa, \@rules)}, algorithm => 'and' }, 'algorithm'],
             [policy($pa, [(rule('always', undef, '**')) x 16]), '16 rules'])
{
    my $r = $s->api(POST => '/retentions', $c{'owner-a'}, json => $bad->[0]);
    is($r->{status}, 400, "$bad->[1]: 400");
}

my $r = $s->api(POST => '/retentions', $c{'maint-a'},
                json => policy($pa, \@rules));
is($r->{status}, 201, 'a maintainer makes the policy') or diag $r->{body};
my $ida = loc_id($r);
like($r->{headers}{location}, qr{^/api/v2\.0/retentions/\d+$}, 'Location');
is($s->api(POST => '/retentions', $c{'owner-a'},
           json => policy($pa, \@rules))->{status}, 409, 'one per project');
is($s->api(GET => '/projects/ra', $c{'guest-a'})->{json}{metadata}
     {retention_id}, $ida, "the project's metadata names it (retention_id)");

$r = $s->api(GET => "/retentions/$ida", $c{'guest-a'});
is($r->{status}, 200, 'a guest reads it');
is($r->{json}{algorithm}, 'or', 'algorithm');
is($r->{json}{scope}{level}, 'project', 'scope.level');
is($r->{json}{scope}{ref}, $pa, 'scope.ref');
is($r->{json}{trigger}{kind}, 'Schedule', 'trigger.kind');
is(scalar @{$r->{json}{rules}}, 5, 'five rules');
is($r->{json}{rules}[0]{template}, 'latestPushedK', 'template');
is($r->{json}{rules}[0]{params}{latestPushedK}, 2, 'params');
is($r->{json}{rules}[0]{action}, 'retain', 'action');
is($r->{json}{rules}[4]{tag_selectors}[0]{extras}, '{"untagged":true}',
   'extras');
is($r->{json}{rules}[0]{scope_selectors}{repository}[0]{pattern}, 'pushed',
   'scope_selectors');
is($s->api(GET => "/retentions/$ida", undef)->{status}, 401,
   'anonymous reads none');

$r = $s->api(GET => '/retentions/metadatas', $c{'guest-a'});
is_deeply([map { $_->{rule_template} } @{$r->{json}{templates}}],
          [qw(latestPushedK latestPulledN nDaysSinceLastPush
              nDaysSinceLastPull always)], 'metadatas: the templates');

# --------------------------------------------------------------- runs

sub run_policy {
    my ($id, $dry, $who) = @_;
    my $r = $s->api(POST => "/retentions/$id/executions", $who // $admin,
        json => { dry_run => $dry ? JSON::PP::true() : JSON::PP::false() });
    is($r->{status}, 201, ($dry ? 'dry run' : 'run') . ' started')
        or diag $r->{body};
    my $eid = loc_id($r);
    my $e;
    ok(Harbor::Authd::wait_for(60, sub {
        $e = $s->api(GET => "/retentions/$id/executions", $admin)->{json};
        my ($x) = grep { $_->{id} == $eid } @{$e || []};
        $e = $x;
        $x && $x->{status} =~ /^(?:Succeed|Failed|Stopped)$/;
    }), 'and done');
    is($e->{status}, 'Succeed', 'Succeed');
    return $eid;
}

# the logs of a run: repository -> { removed digests }, { kept digests }
sub outcome {
    my ($id, $eid) = @_;
    my %out;
    my $t = $s->api(GET => "/retentions/$id/executions/$eid/tasks", $admin);
    is($t->{status}, 200, 'tasks listed');
    for my $task (@{$t->{json}}) {
        my $log = $s->api(GET => "/retentions/$id/executions/$eid/tasks/"
                                 . $task->{id}, $admin)->{body};
        for (split /\n/, $log) {
            my ($what, $d) = /^(would remove|remove|retain) (\S+)/ or next;
            $out{$task->{repository}}{$what eq 'retain' ? 'kept'
                                                        : 'gone'}{$d} = 1;
        }
        $out{$task->{repository}}{task} = $task;
    }
    return \%out;
}

is($s->api(POST => "/retentions/$ida/executions", $c{'dev-a'},
           json => { dry_run => JSON::PP::true() })->{status}, 403,
   'a developer runs none');

my $dry = run_policy($ida, 1, $c{'maint-a'});
my $plan = outcome($ida, $dry);

ok(!$plan->{'ra/other'}, 'no task for a repository no rule selects');
my %want = (
    'ra/pushed' => [qw(a2 @u)],         # a1 immutable; a3, a4 latest
    'ra/pulled' => [qw(a2 a3)],         # a1, a4 most recently pulled
    'ra/dpush'  => [qw(a1 a2)],         # a3, a4 pushed within 3 days
    'ra/dpull'  => [qw(a2 a3)],         # a1, a4 pulled within 4 days
    'ra/always' => [],
);
for my $repo (sort keys %want) {
    is_deeply([sort keys %{$plan->{$repo}{gone} || {}}],
              [sort map { $dig{"$repo:$_"} } @{$want{$repo}}],
              "$repo: the dry run would remove " . join(',', @{$want{$repo}}));
}
like($s->api(GET => "/retentions/$ida/executions/$dry/tasks/"
                    . $plan->{'ra/pushed'}{task}{id}, $admin)->{body},
     qr{retain \Q$dig{'ra/pushed:a1'}\E \[a1\] \(immutable\)},
     'the log says a1 is kept as immutable');
is($plan->{'ra/pushed'}{task}{total}, 5, 'task total');
is($plan->{'ra/pushed'}{task}{retained}, 3, 'task retained');

ok($s->sync, 'journal');
is($s->psql("SELECT count(*) FROM artifact a JOIN repository r"
            . " ON r.repository_id = a.repository_id WHERE r.name LIKE 'ra/%'"),
   6 * 4 + 2, 'the dry run removed nothing');

my $real = run_policy($ida, 0);
my $done = outcome($ida, $real);
for my $repo (sort keys %want) {
    is_deeply([sort keys %{$done->{$repo}{gone} || {}}],
              [sort keys %{$plan->{$repo}{gone} || {}}],
              "$repo: the real run removed what the dry run named");
}

# what is left, seen through /v2
for my $repo (sort keys %want) {
    for my $tag (sort keys %age) {
        my $gone = grep { $_ eq $tag } @{$want{$repo}};
        my $d = $dig{"$repo:$tag"};
        my $h = $s->http(HEAD => "/v2/$repo/manifests/$d",
            token => tok($repo),
            headers => ['Accept' => Harbor::Test::MT_OCI_MANIFEST()]);
        is($h->{status}, $gone ? 404 : 200,
           "$repo:$tag " . ($gone ? 'removed' : 'kept'));
    }
}
my $du = $dig{'ra/always:@u'};
is($s->http(HEAD => "/v2/ra/always/manifests/$du",
            token => tok('ra/always'),
            headers => ['Accept' => Harbor::Test::MT_OCI_MANIFEST()])
     ->{status}, 200, 'an untagged artifact a rule selects is kept');
for my $tag (sort keys %age) {
    is($s->http(HEAD => "/v2/ra/other/manifests/$tag", token => tok('ra/other'),
                headers => ['Accept' => Harbor::Test::MT_OCI_MANIFEST()])
         ->{status}, 200, "ra/other:$tag untouched");
}

is($s->api(PATCH => "/retentions/$ida/executions/$real", $c{'owner-a'},
           json => { action => 'pause' })->{status}, 400,
   'an action other than stop: 400');
is($s->api(PATCH => "/retentions/$ida/executions/$real", $c{'dev-a'},
           json => { action => 'stop' })->{status}, 403,
   'a developer stops none');
is($s->api(PATCH => "/retentions/$ida/executions/$real", $c{'owner-a'},
           json => { action => 'stop' })->{status}, 200,
   'stopping a finished run: 200');
$r = $s->api(GET => "/retentions/$ida/executions", $c{'guest-a'});
is($r->{status}, 200, 'a guest lists the executions');
is($r->{json}[0]{id}, $real, 'newest first');
ok(!$r->{json}[0]{dry_run} && $r->{json}[1]{dry_run}, 'dry_run shown');
is($r->{json}[0]{trigger}, 'MANUAL', 'trigger');
is($r->{json}[0]{status}, 'Succeed', 'a finished run stays as it ended');

# ------------------------------------------------- two projects (IDOR)

$r = $s->api(POST => '/retentions', $c{'owner-b'},
             json => policy($pb, [rule('latestPushedK', 0, '**')]));
is($r->{status}, 201, "B's policy");
my $idb = loc_id($r);
my $bexec = run_policy($idb, 1, $c{'owner-b'});
my $btask = $s->api(GET => "/retentions/$idb/executions/$bexec/tasks",
                    $c{'owner-b'})->{json}[0]{id};

is($s->api(GET => "/retentions/$idb", $c{'owner-a'})->{status}, 404,
   "B's policy for A's admin: 404");
is($s->api(PUT => "/retentions/$idb", $c{'owner-a'},
           json => policy($pb, [rule('always', undef, '**')]))->{status},
   404, 'PUT: 404');
is($s->api(DELETE => "/retentions/$idb", $c{'owner-a'})->{status}, 404,
   'DELETE: 404');
is($s->api(POST => "/retentions/$idb/executions", $c{'owner-a'},
           json => { dry_run => JSON::PP::false() })->{status}, 404,
   'run it: 404');
is($s->api(GET => "/retentions/$ida/executions/$bexec/tasks", $c{'owner-a'})
     ->{status}, 404, "B's execution through A's policy: 404");
is($s->api(GET => "/retentions/$ida/executions/$bexec/tasks/$btask",
           $c{'owner-a'})->{status}, 404, "B's task log: 404");
is($s->api(GET => "/retentions/$ida/executions/$real/tasks/$btask",
           $c{'owner-a'})->{status}, 404,
   "B's task through A's execution: 404");
is($s->api(PATCH => "/retentions/$ida/executions/$bexec", $c{'owner-a'},
           json => { action => 'stop' })->{status}, 404, 'stop: 404');
is($s->api(POST => '/retentions', $c{'owner-a'},
           json => policy($pb, [rule('always', undef, '**')]))->{status},
   403, "a policy for B by A's admin: 403");
$r = $s->api(GET => "/retentions/$idb", $c{'owner-b'});
is($r->{json}{rules}[0]{template}, 'latestPushedK', "B's policy unchanged");
is(scalar @{$s->api(GET => "/retentions/$idb/executions", $c{'owner-b'})
                  ->{json}}, 1, 'and ran once (dry)');
is($s->http(HEAD => "/v2/rb/app/manifests/v1", token => tok('rb/app'),
            headers => ['Accept' => Harbor::Test::MT_OCI_MANIFEST()])
     ->{status}, 200, "B's tag is there");

# ----------------------------------------------------------- schedule

is($s->api(PUT => "/retentions/$ida", $c{'owner-a'},
           json => policy($pa, \@rules, '* * * * *'))->{status}, 200,
   'a schedule, every minute');
my $sched;
ok(Harbor::Authd::wait_for(70, sub {
    ($sched) = grep { $_->{trigger} eq 'SCHEDULE'
                      && $_->{status} eq 'Succeed' }
               @{$s->api(GET => "/retentions/$ida/executions", $admin)
                   ->{json} || []};
    $sched;
}), 'the schedule started a run');
is($s->api(PUT => "/retentions/$ida", $c{'owner-a'},
           json => policy($pa, \@rules, ''))->{status}, 200,
   'schedule removed');
ok($sched && !grep({ $_->{gone} && %{$_->{gone}} }
                   values %{outcome($ida, $sched->{id})}),
   'a second run on what is left removes nothing');

is($s->api(DELETE => "/retentions/$ida", $c{'dev-a'})->{status}, 403,
   'a developer deletes no policy');
is($s->api(DELETE => "/retentions/$ida", $c{'owner-a'})->{status}, 200,
   'deleted');
is($s->api(GET => "/retentions/$ida", $c{'owner-a'})->{status}, 404, 'gone');
ok(!exists $s->api(GET => '/projects/ra', $c{'owner-a'})->{json}{metadata}
     {retention_id}, 'and from the metadata');

unlike($s->authd->log, qr/ERROR|assert/i, 'no error in the log');
$s->t->check_alerts;
$s->stop;
done_testing;
