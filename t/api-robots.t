#!/usr/bin/perl

# Robot accounts (/api/v2.0/robots): creation by system and project
# administrators, the secret shown once, stored as argon2id and never in a
# later answer nor in authd's or nginx's logs; the token service grants a
# robot exactly what it was given (skopeo pushes and pulls where granted,
# and is refused elsewhere); a system robot across projects; disabled and
# expired robots refused like a wrong secret; no robot with more than its
# creator may do, nor for another project (CVE-2019-16919); robot
# credentials refused by the API and the UI's login; the permissions of
# every endpoint; bad bodies; the audit rows.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use JSON::PP ();
use MIME::Base64 ();
use Test::More;

use Harbor::Authd;
use Harbor::Clients qw();
use Harbor::Stack;

my $s = Harbor::Stack->new(workers => 2);
my $host = $s->host;
my $pw = 'Passw0rd!';
my $admin = $s->admin;
my @secrets;

my $cl = $s->clients;
my $src = $s->dir . '/src';
$cl->mkimage($src, tag => 'v1', layers => '2k', seed => 21);
my @tls = ('--src-tls-verify=false', '--dest-tls-verify=false');

my %uid;
$uid{$_} = $s->create_user($_, password => $pw) for qw(pa dev maint out);
my %pid;
$pid{$_} = $s->create_project($_) for qw(alpha beta gamma);
$s->add_member('alpha', 'pa', 1);
my $pa_beta = $s->add_member('beta', 'pa', 2);    # developer in beta
$s->add_member('alpha', 'maint', 4);
$s->add_member('alpha', 'dev', 2);

sub perm {
    my ($ns, @acts) = @_;
    return { kind => 'project', namespace => $ns,
             access => [map { { resource => 'repository', action => $_ } }
                        @acts] };
}

sub create {
    my ($cred, %b) = @_;
    my $r = $s->api(POST => '/robots', $cred, json => \%b);
    push @secrets, $r->{json}{secret}
        if $r->{status} == 201 && ref $r->{json} eq 'HASH';
    return $r;
}

sub msg {
    my ($r) = @_;
    return ref $r->{json} eq 'HASH' && ref $r->{json}{errors} eq 'ARRAY'
        ? $r->{json}{errors}[0]{message} // '' : '';
}

sub push_as {
    my ($cred, $dest) = @_;
    return $cl->skopeo('copy', @tls, '--dest-creds', join(':', @$cred),
                       "oci:$src:v1", "docker://$host/$dest");
}

sub pull_as {
    my ($cred, $from, $dir) = @_;
    return $cl->skopeo('copy', @tls, '--src-creds', join(':', @$cred),
                       "docker://$host/$from", "oci:" . $s->dir . "/$dir:v1");
}

# straight to authd, each from an address of its own: the refusals below
# stay clear of the login throttle
my $ip = 0;
sub access {
    my ($cred, $scope) = @_;
    $ip++;
    my $r = $s->authd->request(GET => '/service/token?service=harbor-registry'
                                      . '&scope=' . Harbor::Authd::uri_escape($scope),
        user => $cred->[0], pass => $cred->[1],
        headers => { 'X-Forwarded-For' => "10.9.0.$ip" });
    if ($r->{status} == 200 && $r->{json}) {
        my (undef, $c) = split /\./, $r->{json}{token};
        $r->{claims} = JSON::PP->new->decode(
            MIME::Base64::decode_base64url($c));
    }
    return ($r, [sort @{Harbor::Authd::access_map($r->{claims})
                         ->{(split /:/, $scope)[1]} || []}]);
}

Harbor::Clients::cmd_ok(push_as($admin, 'beta/app:v1'),
                        'admin pushes beta/app:v1');
Harbor::Clients::cmd_ok(push_as($admin, 'gamma/app:v1'),
                        'admin pushes gamma/app:v1');

###############################################################################
# a project robot, made by the project's administrator

my $r = create(['pa', $pw], name => 'ci', description => 'the CI job',
               level => 'project', duration => -1,
               permissions => [perm('alpha', qw(pull push))]);
is($r->{status}, 201, 'project admin creates a project robot')
    or diag $r->{body}, $s->authd->log;
my $ci = [$r->{json}{name}, $r->{json}{secret}];
my $ci_id = $r->{json}{id};
is($ci->[0], 'robot$alpha+ci', 'name robot$<project>+<name>');
like($ci->[1], qr/^[A-Za-z0-9]{32}$/, 'a secret of 32 letters and digits');
ok($ci->[1] =~ /[A-Z]/ && $ci->[1] =~ /[a-z]/ && $ci->[1] =~ /[0-9]/,
   'the secret meets the password rule');
is($r->{headers}{location}, "/api/v2.0/robots/$ci_id", 'Location');
is($r->{json}{expires_at}, -1, 'duration -1: expires_at -1');
ok($r->{json}{creation_time}, 'creation_time');
like($s->pg->psql("SELECT secret FROM robot WHERE id = $ci_id"),
     qr/^\$argon2id\$/, 'the secret is stored as argon2id');

$r = create(['pa', $pw], name => 'ci', level => 'project',
            permissions => [perm('alpha', 'pull')]);
is($r->{status}, 409, 'the same name again: 409');

# the robot pushes and pulls where granted, with skopeo
Harbor::Clients::cmd_ok(push_as($ci, 'alpha/app:v1'),
                        'project robot pushes alpha/app:v1 (skopeo)');
Harbor::Clients::cmd_ok(pull_as($ci, 'alpha/app:v1', 'ci-back'),
                        'and pulls it back');
my $p = push_as($ci, 'beta/app:v2');
ok(!$p->{ok}, 'project robot cannot push to another project');
like($p->{out}, qr/robot\$alpha\+ci may not push in project beta/,
     'and skopeo says why');
ok(!pull_as($ci, 'gamma/app:v1', 'ci-gamma')->{ok},
   'nor pull from another project');

my ($tr, $acts) = access($ci, 'repository:alpha/app:pull,push,delete');
is_deeply($acts, [qw(pull push)], 'token: exactly pull and push, no delete');
is($tr->{claims}{sub}, 'robot$alpha+ci', 'token: sub is the robot');
($tr, $acts) = access($ci, 'registry:catalog:*');
is_deeply($tr->{claims}{access}, [], 'token: no catalog for a robot');

# podman login with the robot
my $pl = $cl->podman('login', '--tls-verify=false', '-u', $ci->[0], '-p',
                     $ci->[1], $host);
Harbor::Clients::cmd_ok($pl, 'podman login as the robot');

###############################################################################
# the secret is shown once

$r = $s->api(GET => "/robots/$ci_id", ['pa', $pw]);
is($r->{status}, 200, 'GET /robots/{id}');
ok(!exists $r->{json}{secret}, 'no secret in GET');
is($r->{json}{level}, 'project', 'level');
is($r->{json}{description}, 'the CI job', 'description');
is($r->{json}{disable}, JSON::PP::false, 'disable false');
is($r->{json}{duration}, -1, 'duration');
is_deeply($r->{json}{permissions},
          [{ kind => 'project', namespace => 'alpha',
             access => [map { { resource => 'repository', action => $_,
                                effect => 'allow' } } qw(pull push)] }],
          'permissions as granted');

$r = $s->api(GET => "/robots?q=level%3Dproject%2Cproject_id%3D$pid{alpha}",
             ['maint', $pw]);
is($r->{status}, 200, 'a maintainer lists the project\'s robots');
is($r->{headers}{'x-total-count'}, 1, 'X-Total-Count');
is($r->{json}[0]{name}, 'robot$alpha+ci', 'the robot');
is($r->{json}[0]{editable}, JSON::PP::false,
   'not editable by a maintainer');
$r = $s->api(GET => "/robots?q=Level%3Dproject%2CProjectID%3D$pid{alpha}",
             ['maint', $pw]);
is_deeply([map { $_->{name} } @{$r->{json} || []}], ['robot$alpha+ci'],
          'Harbor\'s spelling: q=Level=project,ProjectID=<id>');

###############################################################################
# secret refresh

$r = $s->api(PATCH => "/robots/$ci_id", ['pa', $pw], json => {});
is($r->{status}, 200, 'PATCH: a new secret');
my $new = $r->{json}{secret};
push @secrets, $new;
like($new // '', qr/^[A-Za-z0-9]{32}$/, 'generated and returned');
($tr) = access($ci, 'repository:alpha/app:pull');
is($tr->{status}, 401, 'the old secret is refused at once');
($tr, $acts) = access([$ci->[0], $new], 'repository:alpha/app:pull');
is_deeply($acts, ['pull'], 'the new one works');

$r = $s->api(PATCH => "/robots/$ci_id", ['pa', $pw],
             json => { secret => 'weak' });
is($r->{status}, 400, 'PATCH: a given secret must meet the password rule');
$r = $s->api(PATCH => "/robots/$ci_id", ['pa', $pw],
             json => { secret => 'Given-Secret-123' });
is($r->{status}, 200, 'PATCH: a given secret is set');
ok(!exists $r->{json}{secret}, 'and not sent back');
push @secrets, 'Given-Secret-123';
$ci->[1] = 'Given-Secret-123';
($tr, $acts) = access($ci, 'repository:alpha/app:pull');
is_deeply($acts, ['pull'], 'the given secret works');

###############################################################################
# disabled and expired robots: refused like a wrong secret

my ($wrong) = access([$ci->[0], 'Wrong-Secret-1'], 'repository:alpha/app:pull');
is($wrong->{status}, 401, 'a wrong secret: 401');

$r = $s->api(PUT => "/robots/$ci_id", ['pa', $pw], json => { disable => \1 });
is($r->{status}, 200, 'PUT disable');
my ($dis) = access($ci, 'repository:alpha/app:pull');
is($dis->{status}, 401, 'a disabled robot: 401 (cache or not)');
is($dis->{body}, $wrong->{body}, 'the same answer as a wrong secret');
ok(!push_as($ci, 'alpha/app:v3')->{ok}, 'skopeo cannot push as it');

$r = $s->api(PUT => "/robots/$ci_id", ['pa', $pw], json => { disable => \0 });
($tr, $acts) = access($ci, 'repository:alpha/app:pull');
is_deeply($acts, ['pull'], 'enabled again: works');

$s->pg->psql("UPDATE robot SET expires_at = extract(epoch FROM now())::bigint - 1"
         . " WHERE id = $ci_id");
my ($exp) = access($ci, 'repository:alpha/app:pull');
is($exp->{status}, 401, 'an expired robot: 401');
is($exp->{body}, $wrong->{body}, 'the same answer as a wrong secret');

$r = create(['pa', $pw], name => 'short', level => 'project', duration => 1,
            permissions => [perm('alpha', 'pull')]);
is($r->{status}, 201, 'a robot of 1 day');
my $short = [$r->{json}{name}, $r->{json}{secret}];
my $left = $r->{json}{expires_at} - time;
ok($left > 86400 - 60 && $left <= 86400, 'expires_at is a day away');
($tr, $acts) = access($short, 'repository:alpha/app:pull');
is_deeply($acts, ['pull'], 'it works today');
$s->pg->psql("UPDATE robot SET expires_at = expires_at - 86401"
         . " WHERE id = $r->{json}{id}");
($tr) = access($short, 'repository:alpha/app:pull');
is($tr->{status}, 401, 'and not a day later');

$r = create(['pa', $pw], name => 'dflt', level => 'project',
            permissions => [perm('alpha', 'pull')]);
$left = $r->{json}{expires_at} - time;
ok($left > 30 * 86400 - 60 && $left <= 30 * 86400,
   'no duration: robot_token_duration (30 days)');

###############################################################################
# no more than the creator (CVE-2019-16919)

$r = create(['pa', $pw], name => 'x', level => 'project',
            permissions => [perm('beta', 'pull')]);
is($r->{status}, 403, 'a developer of beta cannot make a robot there');
$r = create(['pa', $pw], name => 'x', level => 'project',
            permissions => [perm('gamma', 'pull')]);
is($r->{status}, 403, 'nor for a project they are not in');
$r = create(['pa', $pw], name => 'x', level => 'project',
            permissions => [perm('alpha', 'pull'), perm('beta', 'pull')]);
is($r->{status}, 400, 'a project robot has one permission');
$r = create(['pa', $pw], name => 'x', level => 'system',
            permissions => [perm('alpha', 'pull')]);
is($r->{status}, 403, 'a project admin cannot make a system robot');
$r = create(['pa', $pw], name => 'x', level => 'project',
            permissions => [perm('*', 'pull')]);
is($r->{status}, 400, 'nor a project robot on "*"');
$r = create(['maint', $pw], name => 'x', level => 'project',
            permissions => [perm('alpha', 'pull')]);
is($r->{status}, 403, 'a maintainer cannot make robots (Harbor)');
$r = create(['dev', $pw], name => 'x', level => 'project',
            permissions => [perm('alpha', 'pull')]);
is($r->{status}, 403, 'nor a developer');

# the robot's project cannot change through an update
$r = $s->api(PUT => "/robots/$ci_id", ['pa', $pw],
             json => { permissions => [perm('beta', 'pull')] });
is($r->{status}, 403, 'PUT: no access to another project');
$s->set_member_role('beta', $pa_beta, 1);
$r = $s->api(PUT => "/robots/$ci_id", ['pa', $pw],
             json => { permissions => [perm('beta', 'pull')] });
is($r->{status}, 403, 'not even as admin of both: a robot keeps its project');
is($s->pg->psql("SELECT string_agg(namespace || ':' || action, ',' ORDER BY"
            . " action) FROM robot_permission WHERE robot_id = $ci_id"),
   'alpha:pull,alpha:push', 'its permissions unchanged');

# a developer's role has no delete: the role table decides the check
my $t = Harbor::Authd::role_table();
my %rule = map { ("$_->{resource}:$_->{action}" => $_) } @{$t->{rules}};
is_deeply($rule{'robot:create'}{roles}, ['projectAdmin'],
          'authd -R: robot:create is projectAdmin\'s');

###############################################################################
# a system robot across projects

$r = create($admin, name => 'sync', level => 'system', duration => 7,
            permissions => [perm('*', 'pull'), perm('beta', 'push')]);
is($r->{status}, 201, 'system admin creates a system robot') or diag $r->{body};
my $sync = [$r->{json}{name}, $r->{json}{secret}];
my $sync_id = $r->{json}{id};
is($sync->[0], 'robot$sync', 'name robot$<name>');
Harbor::Clients::cmd_ok(pull_as($sync, 'gamma/app:v1', 'sync-gamma'),
                        'system robot pulls from gamma');
Harbor::Clients::cmd_ok(pull_as($sync, 'alpha/app:v1', 'sync-alpha'),
                        'and from alpha');
Harbor::Clients::cmd_ok(push_as($sync, 'beta/app:v9'),
                        'pushes to beta, where it may');
ok(!push_as($sync, 'gamma/app:v9')->{ok}, 'not to gamma');
($tr, $acts) = access($sync, 'repository:beta/app:pull,push,delete');
is_deeply($acts, [qw(pull push)], 'token: pull (*) and push (beta)');

$r = $s->api(GET => '/robots?q=level%3Dsystem', $admin);
is($r->{status}, 200, 'admin lists system robots');
is_deeply([map { $_->{name} } @{$r->{json}}], ['robot$sync'],
          'q=level=system');
is_deeply([sort map { $_->{namespace} } @{$r->{json}[0]{permissions}}],
          [qw(* beta)], 'with their permissions');

# a grant names a project, not a name: a project deleted and made again
# under the same name is not the robot's
$s->create_project('delta');
$r = create($admin, name => 'delta', level => 'system',
            permissions => [perm('delta', qw(pull push))]);
my $delta = [$r->{json}{name}, $r->{json}{secret}];
($tr, $acts) = access($delta, 'repository:delta/app:pull');
is_deeply($acts, ['pull'], 'a system robot on project delta');
is($s->api(DELETE => '/projects/delta', $admin)->{status}, 200,
   'delta deleted');
$s->create_project('delta');
($tr, $acts) = access($delta, 'repository:delta/app:pull');
is_deeply($acts, [], 'the new project delta is not the robot\'s');

# a deleted project's robots: useless, and the system admin removes them
$s->create_project('eps');
$s->add_member('eps', 'pa', 1);
$r = create(['pa', $pw], name => 'gone', level => 'project',
            permissions => [perm('eps', 'pull')]);
my ($gone_id, $gone) = ($r->{json}{id}, [$r->{json}{name}, $r->{json}{secret}]);
is($s->api(DELETE => '/projects/eps', $admin)->{status}, 200, 'eps deleted');
$s->create_project('eps');
($tr, $acts) = access($gone, 'repository:eps/app:pull');
is_deeply($acts, [], 'its robot has nothing in the new eps');
is($s->api(DELETE => "/robots/$gone_id", ['pa', $pw])->{status}, 404,
   'its former admin no longer finds it');
is($s->api(DELETE => "/robots/$gone_id", $admin)->{status}, 200,
   'the system admin deletes it');

# robot logins go through the credential cache: one verification (one
# "login" audit row) for several tokens
my $logins = sub { $s->pg->psql("SELECT count(*) FROM audit_log WHERE"
    . " operation = 'login' AND resource = 'robot\$sync'") };
access($sync, 'repository:beta/app:pull');
my $before = $logins->();
access($sync, 'repository:beta/app:pull') for 1 .. 3;
is($logins->(), $before, 'three more tokens: no new verification');

###############################################################################
# robot credentials: the registry only

for my $path ('/users/current', '/projects', '/robots') {
    $r = $s->api(GET => $path, $sync);
    is($r->{status}, 401, "robot Basic on GET $path: 401");
}
like(msg($r), qr/robot accounts may only log in to the registry/,
     'and says why');
$r = $s->http(POST => '/c/login',
    headers => ['Content-Type' => 'application/x-www-form-urlencoded'],
    body => 'principal=' . Harbor::Authd::uri_escape($sync->[0])
            . '&password=' . $sync->[1]);
is($r->{status}, 401, 'robot on /c/login: 401');

###############################################################################
# permissions of every endpoint

my @eps = (
    [GET => '/robots'], [POST => '/robots'],
    [GET => "/robots/$ci_id"], [PUT => "/robots/$ci_id"],
    [PATCH => "/robots/$ci_id"], [DELETE => "/robots/$ci_id"],
);
for my $e (@eps) {
    $r = $s->api($e->[0], $e->[1], undef, json => {});
    is($r->{status}, 401, "anonymous $e->[0] $e->[1]: 401");
}
for my $e (@eps[2 .. 5]) {
    $r = $s->api($e->[0], $e->[1], ['out', $pw], json => {});
    is($r->{status}, 403, "non-member $e->[0] $e->[1]: 403");
    $r = $s->api($e->[0], "/robots/$sync_id", ['pa', $pw], json => {});
    is($r->{status}, 403, "project admin $e->[0] on a system robot: 403");
}
for my $e (@eps[3 .. 5]) {
    $r = $s->api($e->[0], $e->[1], ['maint', $pw], json => {});
    is($r->{status}, 403, "maintainer $e->[0] $e->[1]: 403");
}
$r = $s->api(GET => "/robots/$ci_id", ['dev', $pw]);
is($r->{status}, 200, 'a developer reads a robot of the project (Harbor)');
is($s->api(GET => "/robots?q=project_id%3D$pid{alpha}", ['dev', $pw])
   ->{status}, 200, 'and lists them');
ok(!exists $r->{json}{secret}, 'without the secret');
$r = $s->api(GET => "/robots/$ci_id", ['maint', $pw]);
is($r->{status}, 200, 'a maintainer reads a robot of the project');
is($r->{json}{editable}, JSON::PP::false, 'not editable for a maintainer');
is($s->api(GET => "/robots/$ci_id", ['pa', $pw])->{json}{editable},
   JSON::PP::true, 'editable for the project admin');
$r = $s->api(GET => '/robots', ['pa', $pw]);
is($r->{status}, 403, 'GET /robots without a project: admins only');
$r = $s->api(GET => "/robots?q=project_id%3D$pid{gamma}", ['pa', $pw]);
is($r->{status}, 403, 'robots of a project one is not in: 403');
$r = $s->api(GET => '/robots/999999', $admin);
is($r->{status}, 404, 'unknown id: 404');
$r = $s->api(GET => '/robots/abc', $admin);
is($r->{status}, 404, 'id that is no number: 404');

###############################################################################
# bad bodies

my @bad = (
    [{}, 'no name'],
    [{ name => 'Bad Name', level => 'system', permissions => [perm('*', 'pull')] }, 'bad name'],
    [{ name => 'a', level => 'galaxy', permissions => [perm('*', 'pull')] }, 'bad level'],
    [{ name => 'a', level => 'system' }, 'no permissions'],
    [{ name => 'a', level => 'system', permissions => [] }, 'empty permissions'],
    [{ name => 'a', level => 'system', permissions => 'all' }, 'permissions not a list'],
    [{ name => 'a', level => 'system', permissions => [{ kind => 'system', namespace => '*', access => [{ resource => 'repository', action => 'pull' }] }] }, 'bad kind'],
    [{ name => 'a', level => 'system', permissions => [{ kind => 'project', namespace => '*', access => [{ resource => 'user', action => 'create' }] }] }, 'unknown access'],
    [{ name => 'a', level => 'system', permissions => [{ kind => 'project', namespace => '*', access => [] }] }, 'empty access'],
    [{ name => 'a', level => 'system', duration => 0.5, permissions => [perm('*', 'pull')] }, 'duration not an integer'],
    [{ name => 'a', level => 'system', duration => -2, permissions => [perm('*', 'pull')] }, 'duration -2'],
    [{ name => 'a', level => 'system', duration => 99999999, permissions => [perm('*', 'pull')] }, 'duration too long'],
    [{ name => 'a', level => 'system', disable => 'yes', permissions => [perm('*', 'pull')] }, 'disable not a boolean'],
    [{ name => 'a', level => 'system', secret => 'short', permissions => [perm('*', 'pull')] }, 'weak secret'],
    [{ name => 'a' x 200, level => 'system', permissions => [perm('*', 'pull')] }, 'name too long'],
    [{ name => 'a', level => 'system', permissions => [perm('Not A Project', 'pull')] }, 'bad namespace'],
);
for my $b (@bad) {
    $r = $s->api(POST => '/robots', $admin, json => $b->[0]);
    is($r->{status}, 400, "POST $b->[1]: 400") or diag $r->{body};
    ok(msg($r), "POST $b->[1]: Harbor's error body");
}
$r = $s->api(POST => '/robots', $admin, json => { name => 'a',
    level => 'system', permissions => [perm('nosuch', 'pull')] });
is($r->{status}, 404, 'POST: unknown project 404');
$r = $s->http(POST => '/api/v2.0/robots', basic => $admin,
              headers => ['Content-Type' => 'application/json'],
              body => '{"name":');
is($r->{status}, 400, 'POST: broken JSON 400');
$r = $s->api(PUT => "/robots/$sync_id", $admin, json => { name => 'robot$other' });
is($r->{status}, 400, 'PUT: the name cannot change');
$r = $s->api(PUT => "/robots/$sync_id", $admin, json => { level => 'project' });
is($r->{status}, 400, 'PUT: the level cannot change');
$r = $s->api(PUT => "/robots/$sync_id", $admin, json => { secret => 'Abcdefgh1' });
is($r->{status}, 400, 'PUT: the secret changes with PATCH only');
$r = $s->api(GET => '/robots?q=frob%3D1', $admin);
is($r->{status}, 400, 'GET: unknown q key 400');
$r = $s->api(GET => '/robots?sort=secret', $admin);
is($r->{status}, 400, 'GET: sort by secret refused');

# duration changed: expires_at from the creation
$r = $s->api(PUT => "/robots/$sync_id", $admin, json => { duration => 2 });
is($r->{status}, 200, 'PUT duration 2');
$r = $s->api(GET => "/robots/$sync_id", $admin);
is($r->{json}{duration}, 2, 'duration 2');
$left = $r->{json}{expires_at} - time;
ok($left > 2 * 86400 - 120 && $left <= 2 * 86400, 'expires_at moved');

###############################################################################
# delete, audit, and the secret in no answer and no log

$r = $s->api(DELETE => "/robots/$sync_id", $admin);
is($r->{status}, 200, 'DELETE');
($tr) = access($sync, 'repository:gamma/app:pull');
is($tr->{status}, 401, 'a deleted robot logs in no more');
is($s->api(GET => "/robots/$sync_id", $admin)->{status}, 404,
   'and is not found');

my $audit = $s->pg->psql("SELECT string_agg(operation || ' ' || resource_type"
    . " || ' ' || resource || ' ' || operation_result, E'\\n' ORDER BY id)"
    . " FROM audit_log WHERE resource_type = 'robot'");
like($audit, qr/^create robot robot\$alpha\+ci true$/m, 'audit: create');
like($audit, qr/^refresh_secret robot robot\$alpha\+ci true$/m,
     'audit: secret refresh');
like($audit, qr/^update robot robot\$alpha\+ci true$/m, 'audit: update');
like($audit, qr/^delete robot robot\$sync true$/m, 'audit: delete');
like($audit, qr/^login robot robot\$alpha\+ci true$/m, 'audit: login');
like($audit, qr/^login robot robot\$alpha\+ci false$/m, 'audit: failed login');

$r = $s->api(GET => "/robots/$ci_id", ['pa', $pw]);
$audit .= $r->{body};
$r = $s->api(GET => "/robots?q=project_id%3D$pid{alpha}", ['pa', $pw]);
$audit .= $r->{body};
$r = $s->api(GET => '/audit-logs?page_size=100', $admin);
$audit .= $r->{body};

my @logs = ($s->authd->log,
            $s->t->read_file('error.log') // '',
            $s->t->read_file('access.log') // '');
ok(length $logs[0] && length $logs[2], 'the logs were read');
my $leaks = 0;
for my $sec (grep { defined } @secrets) {
    for my $text ($audit, @logs) {
        $leaks++ if index($text, $sec) >= 0;
    }
}
is($leaks, 0, scalar(@secrets) . ' secrets in no later answer and no log');

$s->t->check_alerts;

done_testing;
