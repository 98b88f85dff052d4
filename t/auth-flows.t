#!/usr/bin/perl

# Token auth as people meet it, through nginx with real clients where they
# exist: docker-login-style login (podman login, and the token request it
# makes), anonymous pulls, revocation, the refusal messages a person reads
# in skopeo's output, cross-repository mounts, the catalog, and the user in
# the journal.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use Test::More;
use JSON::PP ();
use Time::HiRes qw(time);

use Harbor::Test;
use Harbor::Stack;
use Harbor::Clients qw();

my $s = Harbor::Stack->new(workers => 2);
my $host = $s->host;
my $pw = 'Passw0rd!';
my $ADMIN = $Harbor::Stack::ADMIN_PASSWORD;
my $JSON = JSON::PP->new->utf8->canonical;

my $cl = $s->clients;
my $src = $s->dir . '/src';
$cl->mkimage($src, tag => 'v1', layers => '3k', seed => 11);
my $src_digest = Harbor::Clients::layout_ref($src, 'v1');

my @tls = ('--src-tls-verify=false', '--dest-tls-verify=false');

sub skopeo_push {
    my ($cred, $dest) = @_;
    return $cl->skopeo('copy', @tls,
        ($cred ? ('--dest-creds', join(':', @$cred)) : ('--dest-no-creds')),
        "oci:$src:v1", "docker://$host/$dest");
}

sub skopeo_pull {
    my ($cred, $from, $dir) = @_;
    return $cl->skopeo('copy', @tls,
        ($cred ? ('--src-creds', join(':', @$cred)) : ('--src-no-creds')),
        "docker://$host/$from", "oci:$dir:v1");
}

sub message {
    my ($r) = @_;
    my $d = eval { $JSON->decode($r->{body}) };
    return ref $d eq 'HASH' && ref $d->{errors} eq 'ARRAY'
        ? ($d->{errors}[0]{message} // '') : '';
}

sub access_of {
    my ($r, $name) = @_;
    return [sort @{Harbor::Authd::access_map($r->{claims})->{$name} || []}];
}

my %uid;
$uid{$_} = $s->create_user($_, password => $pw)
    for qw(dev guest rev low gone mover sys2);
$s->set_sysadmin($uid{sys2}, 1);

$s->create_project('open', public => 1);
$s->create_project('team', public => 0);
$s->add_member('team', 'dev', 2);
$s->add_member('team', 'guest', 3);
$s->add_member('open', 'dev', 2);

Harbor::Clients::cmd_ok(skopeo_push(['admin', $ADMIN], 'open/app:v1'),
                        'admin pushes open/app:v1 with skopeo');
Harbor::Clients::cmd_ok(skopeo_push(['admin', $ADMIN], 'team/app:v1'),
                        'admin pushes team/app:v1 with skopeo');

###############################################################################
# docker login: a token with no scope

{
    my $q = 'account=dev&client_id=docker&offline_token=true';

    my $r = $s->token(user => 'dev', pass => $pw, query => $q);
    is($r->{status}, 200, 'login token: good credentials, 200');
    is_deeply($r->{claims}{access}, [], 'login token: access []');
    is($r->{claims}{sub}, 'dev', 'login token: sub is the user');
    ok($r->{json}{token} && $r->{json}{token} eq $r->{json}{access_token}
       && $r->{json}{expires_in} == 1800 && $r->{json}{issued_at},
       'login token: token, access_token, expires_in, issued_at');

    # the token opens /v2/ (what a login checks after getting it)
    is($s->v2(GET => '/v2/', token => $r->{json}{token})->{status}, 200,
       'login token: GET /v2/ 200');

    my $bad = $s->token(user => 'dev', pass => 'Wrong-passw0rd', query => $q);
    my $unknown = $s->token(user => 'nobody-here', pass => $pw, query => $q);
    is($bad->{status}, 401, 'login token: bad password, 401');
    is($unknown->{status}, 401, 'login token: unknown user, 401');
    is($bad->{body}, $unknown->{body},
       'login token: the same body for a bad password and an unknown user');
    is(message($bad), 'invalid username or password',
       'login token: "invalid username or password"');

    my $empty = $s->token(user => 'dev', pass => '', query => $q);
    is($empty->{status}, 401, 'login token: empty password, 401');

    # podman login, with its auth file in the test's dir
    my $ok = $cl->podman('login', '--tls-verify=false', '-u', 'dev', '-p', $pw, $host);
    Harbor::Clients::cmd_ok($ok, 'podman login: good credentials');
    like($ok->{out}, qr/Login Succeeded/i, 'podman login: "Login Succeeded"');
    my $auth = Harbor::Clients::read_file($cl->base . '/auth.json') // '';
    like($auth, qr/\Q$host\E/, 'podman login: the credentials were saved');
    $cl->podman('logout', $host);

    my $pb = $cl->podman('login', '--tls-verify=false', '-u', 'dev', '-p',
                         'Wrong-passw0rd', $host);
    my $pu = $cl->podman('login', '--tls-verify=false', '-u', 'nobody-here',
                         '-p', $pw, $host);
    ok(!$pb->{ok}, 'podman login: bad password fails') or diag($pb->{out});
    ok(!$pu->{ok}, 'podman login: unknown user fails') or diag($pu->{out});

    # what podman prints, without the command line (which names the user)
    my ($eb) = (split /\n/, $pb->{out}, 2)[1];
    my ($eu) = (split /\n/, $pu->{out}, 2)[1];
    like($eb // '', qr/invalid username\/password|unauthorized|401/i,
         'podman login: bad password, told the credentials are wrong');
    is($eb, $eu, 'podman login: the same message for an unknown user');
}

###############################################################################
# anonymous

{
    my $tok = $s->bearer(scope => 'repository:open/app:pull');
    my $r = $s->v2(GET => '/v2/open/app/manifests/v1', token => $tok,
                   headers => [Accept => 'application/vnd.oci.image.manifest.v1+json']);
    is($r->{status}, 200, 'anonymous: raw pull from a public project');

    my $dst = $s->dir . '/anon-open';
    Harbor::Clients::cmd_ok(skopeo_pull(undef, 'open/app:v1', $dst),
                            'anonymous: skopeo pulls from a public project');
    Harbor::Clients::layouts_same($src, 'v1', $dst, 'v1',
                                  'anonymous: the same image');

    my $why = 'project team not found, or it is not public: log in to use it';
    $tok = $s->bearer(scope => 'repository:team/app:pull');
    $r = $s->v2(GET => '/v2/team/app/manifests/v1', token => $tok);
    ok($r->{status} == 401 && message($r) eq $why,
       'anonymous: raw pull from a private project refused, with the reason')
        or diag($r->{raw});

    my $p = skopeo_pull(undef, 'team/app:v1', $s->dir . '/anon-team');
    ok(!$p->{ok} && index($p->{out}, $why) >= 0,
       'anonymous: skopeo pull from a private project refused, with the reason')
        or diag($p->{out});

    # a private project reads like a missing one
    $tok = $s->bearer(scope => 'repository:nosuch/app:pull');
    $r = $s->v2(GET => '/v2/nosuch/app/manifests/v1', token => $tok);
    is(message($r), 'project nosuch not found, or it is not public: log in to use it',
       'anonymous: a missing project reads the same');

    $p = skopeo_push(undef, 'open/anon:v1');
    ok(!$p->{ok} && index($p->{out}, 'anonymous users may only pull from open: log in') >= 0,
       'anonymous: skopeo push to a public project refused, told to log in')
        or diag($p->{out});
}

###############################################################################
# revocation: new tokens see the change at once

{
    my $mid = $s->add_member('team', 'rev', 2);
    my $scope = 'repository:team/rev:pull,push';

    my ($t1, $r1) = $s->bearer(user => 'rev', pass => $pw, scope => $scope);
    is_deeply(access_of($r1, 'team/rev'), [qw(pull push)], 'rev: developer, pull and push');
    ok($s->push_image('team/rev', $t1)->{ok}, 'rev: pushes');

    $s->remove_member('team', $mid);

    my ($t2, $r2) = $s->bearer(user => 'rev', pass => $pw, scope => $scope);
    is_deeply(access_of($r2, 'team/rev'), [], 'rev removed: the next token grants nothing');

    my $img = $s->push_image('team/rev', $t2, tag => 'v2');
    my $first = $img->{responses}[0];
    ok($first->{status} == 401
       && message($first) eq 'you are not a member of project team',
       'rev removed: push refused, "you are not a member of project team"')
        or diag($first->{raw});
    is($s->v2(GET => '/v2/team/rev/manifests/v1', token => $t2)->{status}, 401,
       'rev removed: pull refused');

    my $p = skopeo_push(['rev', $pw], 'team/rev:v3');
    ok(!$p->{ok} && index($p->{out}, 'you are not a member of project team') >= 0,
       'rev removed: skopeo push refused with the reason') or diag($p->{out});

    # documented: a token already issued lives until it expires
    is($s->v2(GET => '/v2/team/rev/manifests/v1', token => $t1)->{status}, 200,
       'rev removed: the token issued before still works until exp (documented)');
}

{
    my $mid = $s->add_member('team', 'low', 4);
    my $scope = 'repository:team/low:pull,push,delete';

    my ($t1, $r1) = $s->bearer(user => 'low', pass => $pw, scope => $scope);
    is_deeply(access_of($r1, 'team/low'), [qw(delete pull push)],
              'low: maintainer, pull, push and delete');
    my $img = $s->push_image('team/low', $t1);
    ok($img->{ok}, 'low: pushes');

    $s->set_member_role('team', $mid, 3);

    my ($t2, $r2) = $s->bearer(user => 'low', pass => $pw, scope => $scope);
    is_deeply(access_of($r2, 'team/low'), ['pull'], 'low lowered to guest: pull only');

    my $r = $s->v2(DELETE => "/v2/team/low/manifests/$img->{digest}", token => $t2);
    ok($r->{status} == 401
       && message($r) eq 'your role guest in project team allows only pull',
       'low lowered: delete refused with the reason') or diag($r->{raw});
    is($s->v2(GET => '/v2/team/low/manifests/v1', token => $t2)->{status}, 200,
       'low lowered: still pulls');

    my $p = skopeo_push(['low', $pw], 'team/low:v2');
    ok(!$p->{ok}
       && index($p->{out}, 'your role guest in project team allows only pull') >= 0,
       'low lowered: skopeo push refused, told it may only pull') or diag($p->{out});

    # and raised again
    $s->set_member_role('team', $mid, 1);
    my ($t3, $r3) = $s->bearer(user => 'low', pass => $pw, scope => $scope);
    is_deeply(access_of($r3, 'team/low'), [qw(delete pull push)],
              'low raised to projectAdmin: everything again');
}

{
    # a deleted user gets no more tokens; a former system admin no catalog
    my $r = $s->token(user => 'gone', pass => $pw);
    is($r->{status}, 200, 'gone: logs in');
    is($s->api(DELETE => "/users/$uid{gone}", $s->admin)->{status}, 200,
       'gone: deleted through the API');
    $r = $s->token(user => 'gone', pass => $pw, scope => 'repository:open/app:pull');
    is($r->{status}, 401, 'gone: no token after deletion (even cached credentials)');

    # a password changed by an admin: the old one stops at once, although
    # authd remembered it a moment ago
    is($s->token(user => 'rev', pass => $pw)->{status}, 200, 'rev: logs in');
    is($s->api(PUT => "/users/$uid{rev}/password", $s->admin,
               json => { new_password => 'N3w-passw0rd' })->{status}, 200,
       'rev: password changed by the admin');
    is($s->token(user => 'rev', pass => $pw)->{status}, 401,
       'rev: the old password gets no token');
    is($s->token(user => 'rev', pass => 'N3w-passw0rd')->{status}, 200,
       'rev: the new one does');
    my $p = $cl->skopeo('copy', @tls, '--src-creds', "rev:$pw",
                        "docker://$host/open/app:v1", 'oci:' . $s->dir . '/rev-old:v1');
    ok(!$p->{ok} && $p->{out} =~ /invalid username or password|unauthorized/i,
       'rev: skopeo with the old password fails') or diag($p->{out});

    my ($c1) = $s->bearer(user => 'sys2', pass => $pw, scope => 'registry:catalog:*');
    is($s->v2(GET => '/v2/_catalog', token => $c1)->{status}, 200,
       'sys2 (system admin): catalog');
    $s->set_sysadmin($uid{sys2}, 0);
    my ($c2) = $s->bearer(user => 'sys2', pass => $pw, scope => 'registry:catalog:*');
    is($s->v2(GET => '/v2/_catalog', token => $c2)->{status}, 401,
       'sys2 no longer admin: the next token has no catalog');
}

###############################################################################
# the messages a person reads

{
    # a project that does not exist
    my $p = skopeo_push(['dev', $pw], 'calico/node:v1');
    ok(!$p->{ok} && index($p->{out}, 'project calico not found') >= 0,
       'skopeo copy to calico/node: "project calico not found"') or diag($p->{out});
    ok(!-e $s->t->v2root . '/repositories/calico', 'nothing stored for calico');

    # a name without a project part: said at the first refusal, and as a
    # push (Harbor-style hint: push to <project>/alpine)
    my $t0 = time;
    $p = skopeo_push(['dev', $pw], 'alpine:v1');
    my $hint = 'repository name alpine has no project part; push to '
             . '<project>/alpine, for example library/alpine';
    ok(!$p->{ok} && index($p->{out}, $hint) >= 0,
       "skopeo copy to alpine: \"$hint\"") or diag($p->{out});
    ok(time - $t0 < 30, 'skopeo copy to alpine fails at once');
    ok(!-e $s->t->v2root . '/repositories/alpine', 'nothing stored for alpine');

    my $tok = $s->bearer(user => 'dev', pass => $pw,
                         scope => 'repository:alpine:pull,push');
    my $r = $s->v2(POST => '/v2/alpine/blobs/uploads/', token => $tok);
    ok($r->{status} == 401 && message($r) eq $hint,
       'raw POST to alpine: the push hint') or diag($r->{raw});
    $r = $s->v2(GET => '/v2/alpine/manifests/v1', token => $tok);
    like(message($r), qr/^repository name alpine has no project part; use <project>\/alpine/,
         'raw GET of alpine: the pull hint');

    # a guest pushing
    $p = skopeo_push(['guest', $pw], 'team/app:guest');
    ok(!$p->{ok}
       && index($p->{out}, 'your role guest in project team allows only pull') >= 0,
       'skopeo copy as guest: "your role guest in project team allows only pull"')
        or diag($p->{out});
    ok(!-e $s->t->v2root . '/repositories/team/app/_manifests/tags/guest',
       'guest: no tag written');

    # a non-member pushing to a public project
    $s->create_user('outsider', password => $pw);
    $p = skopeo_push(['outsider', $pw], 'open/app:outsider');
    ok(!$p->{ok}
       && index($p->{out}, 'you may only pull from open: you are not a member of it') >= 0,
       'skopeo copy as a non-member of a public project: told it may only pull')
        or diag($p->{out});
}

###############################################################################
# cross-repository mount: needs pull on the source

{
    $s->create_project('msrc', public => 0);    # mover is a guest: pull
    $s->create_project('msec', public => 0);    # mover is not a member
    $s->create_project('mdst', public => 0);    # mover is a developer
    $s->add_member('msrc', 'mover', 3);
    $s->add_member('mdst', 'mover', 2);

    my $adm = $s->bearer(user => 'admin', pass => $ADMIN,
        scope => ['repository:msrc/img:pull,push', 'repository:msec/img:pull,push',
                  'repository:mdst/x:pull', 'repository:mdst/y:pull',
                  'repository:mdst/z:pull']);
    my $from_src = $s->push_image('msrc/img', $adm);
    my $from_sec = $s->push_image('msec/img', $adm);
    ok($from_src->{ok} && $from_sec->{ok}, 'admin pushed msrc/img and msec/img');

    my $l1 = $from_src->{layers}[0];
    my $l2 = $from_sec->{layers}[0];

    # with pull on the source: 201, the blob is linked
    my $tok = $s->bearer(user => 'mover', pass => $pw,
        scope => ['repository:mdst/x:pull,push', 'repository:msrc/img:pull']);
    my $r = $s->v2(POST => "/v2/mdst/x/blobs/uploads/?mount=$l1&from=msrc/img",
                   token => $tok);
    is($r->{status}, 201, 'mount with pull on the source: 201');
    is($r->{headers}{location}, "/v2/mdst/x/blobs/$l1", 'mount: Location of the blob');
    is($s->v2(GET => "/v2/mdst/x/blobs/$l1", token => $adm)->{status}, 200,
       'mount: the blob is readable in mdst/x');

    # without pull on the source (not a member of private msec): a normal
    # upload, and the blob stays out of reach
    my ($tok2, $tr2) = $s->bearer(user => 'mover', pass => $pw,
        scope => ['repository:mdst/y:pull,push', 'repository:msec/img:pull']);
    is_deeply(access_of($tr2, 'msec/img'), [], 'mover has no pull on msec/img');
    $r = $s->v2(POST => "/v2/mdst/y/blobs/uploads/?mount=$l2&from=msec/img",
                token => $tok2);
    is($r->{status}, 202, 'mount without pull on the source: 202 (a normal upload)')
        or diag($r->{raw});
    like($r->{headers}{location} // '', qr{^/v2/mdst/y/blobs/uploads/[^/]+$},
         'mount refused: Location of an upload');
    is($s->v2(GET => "/v2/mdst/y/blobs/$l2", token => $adm)->{status}, 404,
       'mount refused: the private blob was not linked into mdst/y');

    # a token that does not even name the source
    my $tok3 = $s->bearer(user => 'mover', pass => $pw,
                          scope => 'repository:mdst/z:pull,push');
    $r = $s->v2(POST => "/v2/mdst/z/blobs/uploads/?mount=$l1&from=msrc/img",
                token => $tok3);
    is($r->{status}, 202, 'mount with a token silent on the source: 202');
    is($s->v2(GET => "/v2/mdst/z/blobs/$l1", token => $adm)->{status}, 404,
       'and nothing linked');
}

###############################################################################
# the catalog: system administrators only

{
    my ($t) = $s->bearer(user => 'admin', pass => $ADMIN, scope => 'registry:catalog:*');
    my $r = $s->v2(GET => '/v2/_catalog', token => $t);
    my $d = eval { $JSON->decode($r->{body}) } || {};
    my %names = map { $_ => 1 } @{$d->{repositories} || []};
    ok($r->{status} == 200 && $names{'team/app'} && $names{'open/app'},
       'admin: catalog lists private and public repositories') or diag($r->{raw});

    for my $who (['dev', $pw], ['guest', $pw], undef) {
        my $name = $who ? $who->[0] : 'anonymous';
        my ($ct, $cr) = $s->bearer(($who ? (user => $who->[0], pass => $who->[1]) : ()),
                                   scope => 'registry:catalog:*');
        is_deeply(Harbor::Authd::access_map($cr->{claims}, 'registry'), {},
                  "$name: the token has no catalog grant");
        $r = $s->v2(GET => '/v2/_catalog', token => $ct);
        ok($r->{status} == 401
           && message($r) eq 'only system administrators may list the catalog',
           "$name: catalog refused, \"only system administrators may list the catalog\"")
            or diag($r->{raw});
        unlike($r->{body}, qr/team\/app/, "$name: no repository name leaks");
    }
}

###############################################################################
# the journal names the token's subject

{
    my $before = scalar $s->t->journal_events;

    Harbor::Clients::cmd_ok(skopeo_push(['dev', $pw], 'team/journal:v1'),
                            'dev pushes team/journal:v1 with skopeo');
    my $p = skopeo_pull(undef, 'open/app:v1', $s->dir . '/anon-journal');
    Harbor::Clients::cmd_ok($p, 'anonymous pulls open/app:v1');

    my @ev = ($s->t->journal_events)[$before .. scalar($s->t->journal_events) - 1];
    my ($push) = grep { $_->{action} eq 'push' && $_->{repository} eq 'team/journal' } @ev;
    ok($push, 'journal: a push line for team/journal');
    is($push && $push->{user}, 'dev', 'journal: push "user" is the token subject');
    is($push && $push->{digest}, $src_digest, 'journal: push digest');
    is($push && $push->{tag}, 'v1', 'journal: push tag');

    my ($pull) = grep { $_->{action} eq 'pull' && $_->{repository} eq 'open/app' } @ev;
    ok($pull, 'journal: a pull line for open/app');
    is($pull && $pull->{user}, '', 'journal: an anonymous pull has user ""');

    my ($adm) = grep { $_->{action} eq 'push' && $_->{repository} eq 'team/app' }
                $s->t->journal_events;
    is($adm && $adm->{user}, 'admin', 'journal: the admin\'s push says admin');
}

$s->stop;

done_testing;
