#!/usr/bin/perl

# Token auth end to end: the role x action matrix, GENERATED from the table
# authd enforces ("authd -R"), through nginx: users, projects and members
# are made with the REST API, a token is asked from /service/token with the
# scope a client would ask, and the /v2 operation is done with it.
#
# Callers: every role of the table (projectAdmin, maintainer, developer,
# guest, limitedGuest), anonymous, a logged-in non-member, a system
# administrator.  Projects: a public and a private one.  Actions: pull,
# push, delete, catalog.  Both sides are checked: what is allowed works,
# what is refused is a 401 with the challenge and authd's reason, and left
# nothing behind.  Raw HTTP for the whole matrix; skopeo (copy, delete) for
# every caller's push, pull and delete on the private project.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use Test::More;
use JSON::PP ();

use Harbor::Test;
use Harbor::Stack;
use Harbor::Authd;
use Harbor::Clients;

my $s = Harbor::Stack->new(workers => 2);
my $host = $s->host;
my $pw = 'Passw0rd!';

###############################################################################
# the table, and the expectations made from it

my $table = Harbor::Authd::role_table();
my %role_id = map { ($_->{name} => $_->{role_id}) } @{$table->{roles}};
my %rule = map { ("$_->{resource}:$_->{action}" => $_) } @{$table->{rules}};
my %sysonly = map { ("$_->{type}:$_->{name}:$_->{action}" => 1) }
              @{$table->{sysadmin_only} || []};

my @roles = map { $_->{name} } sort { $a->{role_id} <=> $b->{role_id} }
            @{$table->{roles}};

is_deeply([sort @roles],
          [sort qw(projectAdmin maintainer developer guest limitedGuest)],
          'authd -R lists the five Harbor roles');
ok($rule{"repository:$_"}, "authd -R has a rule for repository:$_")
    for qw(pull push delete);

# callers: each role, anonymous, a non-member, a system administrator
my @callers = (
    (map { { name => "u_$_", role => $_, cred => ["u_$_", $pw] } } @roles),
    { name => 'anonymous', anon => 1 },
    { name => 'u_none', cred => ['u_none', $pw] },
    { name => 'u_sys', sysadmin => 1, cred => ['u_sys', $pw] },
);
# repository names are lower case
$_->{slug} = lc $_->{name} for @callers;

sub allowed {
    my ($c, $public, $action) = @_;

    if ($action eq 'catalog') {
        return 1 unless $sysonly{'registry:catalog:*'};
        return $c->{sysadmin} ? 1 : 0;
    }

    return 1 if $c->{sysadmin};

    my $r = $rule{"repository:$action"} or return 0;
    return 1 if $c->{role} && grep { $_ eq $c->{role} } @{$r->{roles}};
    return 1 if $public && $r->{public};
    return 0;
}

# authd's reason for a refusal (docs/authd.md, "Reasons")
sub reason {
    my ($c, $proj, $public, $action) = @_;

    return 'only system administrators may list the catalog'
        if $action eq 'catalog';

    if ($c->{anon}) {
        return $public
            ? "anonymous users may only pull from $proj: log in"
            : "project $proj not found, or it is not public: log in to use it";
    }

    unless ($c->{role}) {
        return $public
            ? "you may only pull from $proj: you are not a member of it"
            : "you are not a member of project $proj";
    }

    my @ok = grep { allowed($c, $public, $_) } qw(pull push delete);
    return "your role $c->{role} in project $proj allows only "
        . (@ok ? join(', ', @ok) : 'nothing');
}

sub cred_args {
    my ($c) = @_;
    return $c->{anon} ? () : (user => $c->{cred}[0], pass => $c->{cred}[1]);
}

###############################################################################
# users, projects, members: the REST API through nginx

my %uid;

$uid{$_->{name}} = $s->create_user($_->{name}, password => $pw)
    for grep { !$_->{anon} } @callers;
$s->set_sysadmin($uid{u_sys}, 1);

my %projects = (pub => 1, priv => 0);

for my $p (sort keys %projects) {
    $s->create_project($p, public => $projects{$p});
    for my $c (grep { $_->{role} } @callers) {
        $s->add_member($p, $c->{name}, $role_id{$c->{role}});
    }
}

{
    my $r = $s->api(GET => '/projects/priv/members?page_size=100', $s->admin);
    my %got = map { ($_->{entity_name} => $_->{role_id}) } @{$r->{json} || []};
    is_deeply(\%got, {
        admin => 1,
        map { ($_->{name} => $role_id{$_->{role}}) } grep { $_->{role} } @callers,
    }, 'members of priv as set up through the API');

    $r = $s->api(GET => '/users/current', ['u_sys', $pw]);
    ok($r->{json} && $r->{json}{sysadmin_flag}, 'u_sys is a system admin');
}

###############################################################################
# content, pushed as admin

my @fixture_scopes;
for my $p (sort keys %projects) {
    push @fixture_scopes, "repository:$p/base:pull,push";
    push @fixture_scopes, "repository:$p/del-$_->{slug}:pull,push" for @callers;
}
my $admin_tok = $s->bearer(user => 'admin', pass => $Harbor::Stack::ADMIN_PASSWORD,
                           scope => \@fixture_scopes);

my (%base, %del, %upload);
for my $p (sort keys %projects) {
    $base{$p} = $s->push_image("$p/base", $admin_tok);
    ok($base{$p}{ok}, "admin pushed $p/base:v1");

    for my $c (@callers) {
        my $img = $s->push_image("$p/del-$c->{slug}", $admin_tok);
        $del{$p}{$c->{name}} = $img;
        $img->{ok} or diag("fixture $p/del-$c->{slug} not pushed");
    }

    # an upload in progress, whose status only pushers may read
    my $r = $s->v2(POST => "/v2/$p/base/blobs/uploads/", token => $admin_tok);
    ($upload{$p}) = ($r->{headers}{location} || '') =~ m{/blobs/uploads/([^/?]+)};
    ok($r->{status} == 202 && $upload{$p}, "admin started an upload in $p/base");
}

# a read as admin, with a token for that repository: what is there
sub admin_get {
    my ($path) = @_;
    my ($repo) = $path =~ m{^/v2/(.+)/(?:manifests|blobs)/} or die $path;
    my $tok = $s->bearer(user => 'admin', pass => $Harbor::Stack::ADMIN_PASSWORD,
                         scope => "repository:$repo:pull");
    return $s->v2(GET => $path, token => $tok)->{status};
}

###############################################################################
# checks

sub challenge {
    my ($scope, $error) = @_;
    return qq{Bearer realm="http://$host/service/token",service="harbor-registry"}
        . (defined $scope ? qq{,scope="$scope"} : '')
        . (defined $error ? qq{,error="$error"} : '');
}

# a refusal by the module: 401, the challenge, authd's reason in the body
sub refused_ok {
    my ($r, $scope, $reason, $name) = @_;
    local $Test::Builder::Level = $Test::Builder::Level + 1;

    my @why;
    push @why, "status $r->{status}" unless $r->{status} == 401;

    my $wa = $r->{headers}{'www-authenticate'} // '';
    my $want = challenge($scope, 'insufficient_scope');
    push @why, "WWW-Authenticate: $wa\n  expected: $want" unless $wa eq $want;

    if ($r->{method} ne 'HEAD') {
        my $d = eval { JSON::PP::decode_json($r->{body}) };
        my $e = ref $d eq 'HASH' && ref $d->{errors} eq 'ARRAY'
              ? $d->{errors}[0] : {};
        push @why, "code " . ($e->{code} // '(none)')
            unless ($e->{code} // '') eq 'UNAUTHORIZED';
        push @why, "message '" . ($e->{message} // '') . "'\n  expected '$reason'"
            unless ($e->{message} // '') eq $reason;
    }

    ok(!@why, $name) or diag(join("\n", @why));
}

sub status_ok {
    my ($r, $status, $name) = @_;
    local $Test::Builder::Level = $Test::Builder::Level + 1;
    is($r->{status}, $status, $name)
        or diag(substr($r->{raw}, 0, 400));
}

###############################################################################
# the matrix, raw HTTP

for my $c (@callers) {
    my $who = $c->{name};

    for my $p (sort keys %projects) {
        my $public = $projects{$p};
        my $what = "$who on " . ($public ? 'public' : 'private') . " $p";

        # ---- pull ----------------------------------------------------------
        {
            my $ok = allowed($c, $public, 'pull');
            my $reason = reason($c, $p, $public, 'pull');
            my $repo = "$p/base";
            my ($tok, $tr) = $s->bearer(cred_args($c),
                                        scope => "repository:$repo:pull");

            my %acc = %{Harbor::Authd::access_map($tr->{claims})};
            is_deeply($acc{$repo} || [], $ok ? ['pull'] : [],
                      "$what: token grants " . ($ok ? 'pull' : 'nothing'));
            is($tr->{claims}{sub}, $c->{anon} ? '' : $who, "$what: sub");

            my $img = $base{$p};
            my $st = "repository:$repo:pull";
            my $r = $s->v2(GET => "/v2/$repo/manifests/v1", token => $tok);
            if ($ok) {
                ok($r->{status} == 200 && $r->{body} eq $img->{manifest},
                   "$what: pull manifest 200") or diag($r->{raw});
            } else {
                refused_ok($r, $st, $reason, "$what: pull manifest refused");
            }

            $r = $s->v2(HEAD => "/v2/$repo/manifests/$img->{digest}",
                        token => $tok);
            $ok ? status_ok($r, 200, "$what: HEAD manifest 200")
                : refused_ok($r, $st, $reason, "$what: HEAD manifest refused");

            $r = $s->v2(GET => "/v2/$repo/blobs/$img->{layers}[0]", token => $tok);
            if ($ok) {
                ok($r->{status} == 200 && $r->{body} eq $img->{layer},
                   "$what: GET blob 200") or diag($r->{raw});
            } else {
                refused_ok($r, $st, $reason, "$what: GET blob refused");
            }

            # a refused HEAD of a blob reads as unknown (docs: a pushing
            # client goes on to the POST, whose 401 says why)
            $r = $s->v2(HEAD => "/v2/$repo/blobs/$img->{config}", token => $tok);
            status_ok($r, $ok ? 200 : 404,
                      "$what: HEAD blob " . ($ok ? 200 : '404 (refused)'));

            $r = $s->v2(GET => "/v2/$repo/tags/list", token => $tok);
            if ($ok) {
                ok($r->{status} == 200 && $r->{body} =~ /"tags":\["v1"\]/,
                   "$what: tags/list 200") or diag($r->{raw});
            } else {
                refused_ok($r, $st, $reason, "$what: tags/list refused");
            }
        }

        # ---- push ----------------------------------------------------------
        {
            my $ok = allowed($c, $public, 'push');
            my $reason = reason($c, $p, $public, 'push');
            my $repo = "$p/push-$c->{slug}";
            my $st = "repository:$repo:pull,push";

            # what docker and skopeo ask for a push
            my ($tok, $tr) = $s->bearer(cred_args($c), scope => $st);
            my %acc = %{Harbor::Authd::access_map($tr->{claims})};
            ok(($ok ? 1 : 0) == (grep { $_ eq 'push' } @{$acc{$repo} || []}),
               "$what: token " . ($ok ? 'grants' : 'refuses') . ' push');

            my $img = $s->push_image($repo, $tok);
            my $first = $img->{responses}[0];

            if ($ok) {
                ok($img->{ok}, "$what: push (blobs and manifest) 201")
                    or diag(join "\n", map { "$_->{status} $_->{body}" }
                                         @{$img->{responses}});
                is(admin_get("/v2/$repo/manifests/$img->{digest}"), 200,
                   "$what: the pushed manifest is there");

                my $r = $s->v2(POST => "/v2/$repo/blobs/uploads/", token => $tok);
                status_ok($r, 202, "$what: start an upload 202");

                $r = $s->v2(GET => "/v2/$p/base/blobs/uploads/$upload{$p}",
                            token => scalar $s->bearer(cred_args($c),
                                scope => "repository:$p/base:pull,push"));
                status_ok($r, 204, "$what: upload status 204");
            } else {
                refused_ok($first, $st, $reason, "$what: blob upload refused");

                my $r = $s->v2(POST => "/v2/$repo/blobs/uploads/", token => $tok);
                refused_ok($r, $st, $reason, "$what: start an upload refused");

                $r = $s->v2(PUT => "/v2/$repo/manifests/v1", token => $tok,
                            body => $img->{manifest},
                            headers => ['Content-Type' => MT_OCI_MANIFEST]);
                refused_ok($r, $st, $reason, "$what: manifest PUT refused");

                $r = $s->v2(PATCH => "/v2/$repo/blobs/uploads/$upload{$p}",
                            token => $tok, body => 'x');
                refused_ok($r, $st, $reason, "$what: PATCH refused");

                ok(!-e $s->t->v2root . "/repositories/$repo",
                   "$what: nothing of $repo was stored");

                # reading an upload's status is pushing, not pulling
                my $bt = $s->bearer(cred_args($c),
                                    scope => "repository:$p/base:pull,push");
                $r = $s->v2(GET => "/v2/$p/base/blobs/uploads/$upload{$p}",
                            token => $bt);
                refused_ok($r, "repository:$p/base:pull,push",
                           reason($c, $p, $public, 'push'),
                           "$what: upload status refused");
            }
        }

        # ---- delete --------------------------------------------------------
        {
            my $ok = allowed($c, $public, 'delete');
            my $reason = reason($c, $p, $public, 'delete');
            my $img = $del{$p}{$who};
            my $repo = "$p/del-$c->{slug}";
            my $st = "repository:$repo:delete";

            my ($tok, $tr) = $s->bearer(cred_args($c), scope => $st);

            my $r = $s->v2(DELETE => "/v2/$repo/blobs/$img->{layers}[0]",
                           token => $tok);
            $ok ? status_ok($r, 202, "$what: DELETE blob 202")
                : refused_ok($r, $st, $reason, "$what: DELETE blob refused");

            $r = $s->v2(DELETE => "/v2/$repo/manifests/v1", token => $tok);
            $ok ? status_ok($r, 202, "$what: DELETE tag 202")
                : refused_ok($r, $st, $reason, "$what: DELETE tag refused");

            $r = $s->v2(DELETE => "/v2/$repo/manifests/$img->{digest}",
                        token => $tok);
            $ok ? status_ok($r, 202, "$what: DELETE manifest 202")
                : refused_ok($r, $st, $reason, "$what: DELETE manifest refused");

            is(admin_get("/v2/$repo/manifests/$img->{digest}"), $ok ? 404 : 200,
               "$what: the manifest is " . ($ok ? 'gone' : 'still there'));
            is(admin_get("/v2/$repo/blobs/$img->{layers}[0]"), $ok ? 404 : 200,
               "$what: the layer is " . ($ok ? 'unlinked' : 'still linked'));
        }
    }

    # ---- catalog (not per project) -----------------------------------------
    {
        my $ok = allowed($c, 0, 'catalog');
        my ($tok, $tr) = $s->bearer(cred_args($c), scope => 'registry:catalog:*');
        my $r = $s->v2(GET => '/v2/_catalog?n=1000', token => $tok);

        if ($ok) {
            my $d = eval { JSON::PP::decode_json($r->{body}) } || {};
            my %names = map { $_ => 1 } @{$d->{repositories} || []};
            ok($r->{status} == 200 && $names{'priv/base'} && $names{'pub/base'},
               "$who: catalog 200, private repositories listed")
                or diag(substr($r->{raw}, 0, 400));
        } else {
            refused_ok($r, 'registry:catalog:*',
                       reason($c, '', 0, 'catalog'), "$who: catalog refused");
        }
    }
}

###############################################################################
# skopeo: every caller's push, pull and delete on the private project

my $cl = $s->clients;
my $src = $s->dir . '/src';
$cl->mkimage($src, tag => 'v1', layers => '2k', seed => 7);
my $src_digest = Harbor::Clients::layout_ref($src, 'v1');

my @tls = ('--src-tls-verify=false', '--dest-tls-verify=false');

sub creds {
    my ($c, $which) = @_;
    return $c->{anon} ? ("--$which-no-creds")
                      : ("--$which-creds", join(':', @{$c->{cred}}));
}

# fixtures: the image to pull and one to delete per caller
Harbor::Clients::cmd_ok($cl->skopeo('copy', @tls, '--dest-creds',
    "admin:$Harbor::Stack::ADMIN_PASSWORD", "oci:$src:v1",
    "docker://$host/priv/sk-base:v1"), 'skopeo: admin pushes priv/sk-base');

for my $c (@callers) {
    Harbor::Clients::cmd_ok($cl->skopeo('copy', @tls, '--dest-creds',
        "admin:$Harbor::Stack::ADMIN_PASSWORD", "oci:$src:v1",
        "docker://$host/priv/skdel-$c->{slug}:v1"),
        "skopeo: admin pushes priv/skdel-$c->{slug}");
}

my $admin_sk = $s->bearer(user => 'admin', pass => $Harbor::Stack::ADMIN_PASSWORD,
    scope => [map { ("repository:priv/sk-$_->{slug}:pull",
                     "repository:priv/skdel-$_->{slug}:pull") } @callers]);

for my $c (@callers) {
    my $who = $c->{name};
    my $slug = $c->{slug};

    # push
    my $ok = allowed($c, 0, 'push');
    my $r = $cl->skopeo('copy', @tls, creds($c, 'dest'), "oci:$src:v1",
                        "docker://$host/priv/sk-$slug:v1");
    if ($ok) {
        Harbor::Clients::cmd_ok($r, "skopeo: $who pushes to priv");
        my $m = $s->v2(HEAD => "/v2/priv/sk-$slug/manifests/v1",
                       token => $admin_sk);
        is($m->{headers}{'docker-content-digest'}, $src_digest,
           "skopeo: $who: priv/sk-$slug:v1 is the pushed image");
    } else {
        my $why = reason($c, 'priv', 0, 'push');
        ok(!$r->{ok} && index($r->{out}, $why) >= 0,
           "skopeo: $who may not push to priv, and is told: $why")
            or diag($r->{out});
        ok(!-e $s->t->v2root . "/repositories/priv/sk-$slug",
           "skopeo: $who: nothing stored");
    }

    # pull
    $ok = allowed($c, 0, 'pull');
    my $dst = $s->dir . "/pulled-$who";
    $r = $cl->skopeo('copy', @tls, creds($c, 'src'),
                     "docker://$host/priv/sk-base:v1", "oci:$dst:v1");
    if ($ok) {
        Harbor::Clients::cmd_ok($r, "skopeo: $who pulls from priv");
        Harbor::Clients::layouts_same($src, 'v1', $dst, 'v1',
                                      "skopeo: $who pulled the same image");
    } else {
        my $why = reason($c, 'priv', 0, 'pull');
        ok(!$r->{ok} && index($r->{out}, $why) >= 0,
           "skopeo: $who may not pull from priv, and is told: $why")
            or diag($r->{out});
    }

    # delete
    $ok = allowed($c, 0, 'delete');
    my @dcreds = $c->{anon} ? ('--no-creds')
                            : ('--creds', join(':', @{$c->{cred}}));
    $r = $cl->skopeo('delete', '--tls-verify=false', @dcreds,
                     "docker://$host/priv/skdel-$slug:v1");
    my $after = $s->v2(GET => "/v2/priv/skdel-$slug/manifests/$src_digest",
                       token => $admin_sk)->{status};
    if ($ok) {
        Harbor::Clients::cmd_ok($r, "skopeo: $who deletes in priv");
        is($after, 404, "skopeo: $who: the manifest is gone");
    } else {
        my $why = reason($c, 'priv', 0, 'delete');
        # anonymous and non-members may not even read the manifest, so
        # skopeo stops at the read: that reason is the pull one
        my $why_read = reason($c, 'priv', 0, 'pull');
        ok(!$r->{ok} && (index($r->{out}, $why) >= 0
                         || (!allowed($c, 0, 'pull')
                             && index($r->{out}, $why_read) >= 0)),
           "skopeo: $who may not delete in priv, and is told why")
            or diag($r->{out});
        is($after, 200, "skopeo: $who: the manifest is still there");
    }
}

$s->stop;

done_testing;
