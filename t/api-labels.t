#!/usr/bin/perl

# Labels through Harbor's API: global labels by system administrators,
# project labels by project administrators (others 403, anonymous 401),
# create / list (scope, project_id, name) / get / update / delete,
# duplicates 409; labels on artifacts (add, shown in the artifact, filter
# with q=labels=(a b) and labels={a b}, remove); and the two-project
# matrix: a label, artifact or id of project B through project A's paths
# is a 404 and nothing of B changes.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use Digest::SHA qw(sha256_hex);
use Test::More;

use Harbor::Test;
use Harbor::Api;
use Harbor::Authd ();

my $s = Harbor::Api->new(workers => 2);
my $admin = $s->admin;
my $pw = 'Passw0rd!';

my $pa = $s->create_project('lab-a');
my $pb = $s->create_project('lab-b');
$s->create_user($_) for qw(owner-a dev-a guest-a owner-b);
$s->add_member('lab-a', 'owner-a', 1);
$s->add_member('lab-a', 'dev-a', 2);
$s->add_member('lab-a', 'guest-a', 3);
$s->add_member('lab-b', 'owner-b', 1);
my %c = map { ($_ => [$_, $pw]) } qw(owner-a dev-a guest-a owner-b);

sub code { $_[0]{json} ? $_[0]{json}{errors}[0]{code} // '' : $_[0]{body} }
sub loc_id { (($_[0]{headers}{location} // '') =~ m{/labels/(\d+)$})[0] }

# ----------------------------------------------------------- content

sub push_image {
    my ($repo, $tag, $seed) = @_;
    my $tok = $s->bearer(user => 'admin', pass => $admin->[1],
                         scope => "repository:$repo:pull,push");
    my $layer = "layer of $repo:$tag $seed";
    my $r = $s->push_raw($repo, $tag, $tok,
        blobs => ['{}', $layer],
        manifest => {
            schemaVersion => 2, mediaType => MT_OCI_MANIFEST,
            config => { mediaType => MT_OCI_EMPTY,
                        digest => 'sha256:' . sha256_hex('{}'), size => 2 },
            layers => [{ mediaType => 'application/octet-stream',
                         digest => 'sha256:' . sha256_hex($layer),
                         size => length $layer }],
        });
    is($r->{response}{status}, 201, "push $repo:$tag");
    return $r->{digest};
}

my $d1 = push_image('lab-a/app', 'v1', 1);
my $d2 = push_image('lab-a/app', 'v2', 2);
my $db = push_image('lab-b/app', 'v1', 3);
ok($s->sync, 'journal applied');

# ------------------------------------------------------- global labels

my $r = $s->api(POST => '/labels', undef,
                json => { name => 'g1', scope => 'g' });
is($r->{status}, 401, 'anonymous creates no global label');
$r = $s->api(POST => '/labels', $c{'owner-a'},
             json => { name => 'g1', scope => 'g' });
is($r->{status}, 403, 'a project admin creates no global label');

$r = $s->api(POST => '/labels', $admin,
             json => { name => 'g1', scope => 'g', color => '#FF0000',
                       description => 'global one' });
is($r->{status}, 201, 'system admin creates a global label');
my $g1 = loc_id($r);
ok($g1, 'Location names it');

is($s->api(POST => '/labels', $admin,
           json => { name => 'g1', scope => 'g' })->{status}, 409,
   'a duplicate name 409');
is($s->api(POST => '/labels', $admin, json => { scope => 'g' })->{status},
   400, 'no name 400');
is($s->api(POST => '/labels', $admin,
           json => { name => 'x', scope => 'z' })->{status}, 400,
   'bad scope 400');
is($s->api(POST => '/labels', $admin,
           json => { name => 'x', scope => 'p' })->{status}, 400,
   'scope p without project_id 400');
is($s->api(POST => '/labels', $admin, json => [1])->{status}, 400,
   'a body that is no object 400');

$r = $s->api(GET => '/labels?scope=g', $c{'guest-a'});
is($r->{status}, 200, 'list global labels');
is_deeply([map { $_->{name} } @{$r->{json}}], ['g1'], 'g1 listed');
is($r->{json}[0]{color}, '#FF0000', 'color');
is($r->{json}[0]{scope}, 'g', 'scope');
is($r->{json}[0]{project_id}, 0, 'project_id 0');

$r = $s->api(GET => "/labels/$g1", $c{'guest-a'});
is($r->{status}, 200, 'get a global label');
is($r->{json}{description}, 'global one', 'description');

is($s->api(PUT => "/labels/$g1", $c{'owner-a'},
           json => { name => 'g1x' })->{status}, 403,
   'a project admin changes no global label');
is($s->api(PUT => "/labels/$g1", $admin,
           json => { description => 'changed' })->{status}, 200,
   'system admin changes it');
is($s->api(GET => "/labels/$g1", $admin)->{json}{description}, 'changed',
   'changed');
is($s->api(GET => '/labels/999999', $admin)->{status}, 404, 'unknown 404');
is($s->api(GET => '/labels/abc', $admin)->{status}, 404, 'not an id 404');

# ------------------------------------------------------ project labels

$r = $s->api(POST => '/labels', $c{'dev-a'},
             json => { name => 'pa', scope => 'p', project_id => $pa + 0 });
is($r->{status}, 403, 'a developer creates no project label');
$r = $s->api(POST => '/labels', $c{'owner-b'},
             json => { name => 'pa', scope => 'p', project_id => $pa + 0 });
is($r->{status}, 403, "another project's admin: 403 (its project)");

$r = $s->api(POST => '/labels', $c{'owner-a'},
             json => { name => 'pa', scope => 'p', project_id => $pa + 0 });
is($r->{status}, 201, 'the project admin creates a project label');
my $la = loc_id($r);
$r = $s->api(POST => '/labels', $c{'owner-a'},
             json => { name => 'pa2', scope => 'p', project_id => $pa + 0 });
my $la2 = loc_id($r);
$r = $s->api(POST => '/labels', $c{'owner-b'},
             json => { name => 'pa', scope => 'p', project_id => $pb + 0 });
is($r->{status}, 201, 'the same name in another project');
my $lb = loc_id($r);

$r = $s->api(GET => "/labels?scope=p&project_id=$pa", $c{'guest-a'});
is($r->{status}, 200, 'a guest lists the project labels');
is_deeply([map { $_->{name} } @{$r->{json}}], ['pa', 'pa2'],
          "the project's own");
is($r->{json}[0]{project_id}, $pa, 'project_id');
$r = $s->api(GET => "/labels?scope=p&project_id=$pa&name=pa2", $c{'guest-a'});
is_deeply([map { $_->{id} } @{$r->{json}}], [$la2], 'name= filters');

is($s->api(GET => "/labels?scope=p&project_id=$pb", $c{'owner-a'})->{status},
   403, "another project's list: 403 (its project)");
is($s->api(GET => "/labels/$lb", $c{'owner-a'})->{status}, 404,
   "another project's label: 404");
is($s->api(PUT => "/labels/$lb", $c{'owner-a'},
           json => { name => 'stolen' })->{status}, 404,
   "another project's label changed: 404");
is($s->api(DELETE => "/labels/$lb", $c{'owner-a'})->{status}, 404,
   "another project's label deleted: 404");
is($s->api(GET => "/labels/$lb", $c{'owner-b'})->{json}{name}, 'pa',
   'and it is unchanged');
is($s->api(PUT => "/labels/$la", $c{'dev-a'},
           json => { name => 'x' })->{status}, 403, 'a developer: 403');
is($s->api(PUT => "/labels/$la2", $c{'owner-a'},
           json => { name => 'pa' })->{status}, 409, 'rename onto a name 409');

# ------------------------------------------------- labels on artifacts

my $art = '/projects/lab-a/repositories/app/artifacts';

is($s->api(POST => "$art/v1/labels", $c{'guest-a'},
           json => { id => $la + 0 })->{status}, 403,
   'a guest labels no artifact');
is($s->api(POST => "$art/v1/labels", undef,
           json => { id => $la + 0 })->{status}, 401, 'anonymous: 401');
is($s->api(POST => "$art/v1/labels", $c{'dev-a'},
           json => { id => $la + 0 })->{status}, 201,
   'a developer adds a project label');
is($s->api(POST => "$art/v1/labels", $c{'dev-a'},
           json => { id => $la + 0 })->{status}, 409, 'twice: 409');
is($s->api(POST => "$art/v1/labels", $c{'dev-a'},
           json => { id => $g1 + 0 })->{status}, 201, 'and a global one');
is($s->api(POST => "$art/v2/labels", $c{'dev-a'},
           json => { id => $la + 0 })->{status}, 201, 'v2 gets pa');
is($s->api(POST => "$art/v1/labels", $c{'dev-a'},
           json => { id => $lb + 0 })->{status}, 404,
   "another project's label on this project's artifact: 404");
is($s->api(POST => "$art/v1/labels", $c{'dev-a'},
           json => { id => 999999 })->{status}, 404, 'an unknown label 404');
is($s->api(POST => "$art/v1/labels", $c{'dev-a'},
           json => { id => 'x' })->{status}, 400, 'an id that is no number');
is($s->api(POST => "$art/nope/labels", $c{'dev-a'},
           json => { id => $la + 0 })->{status}, 404, 'an unknown artifact');

# an artifact of B through A's path, and A's label on B's artifact
is($s->api(POST => "$art/$db/labels", $admin,
           json => { id => $la + 0 })->{status}, 404,
   "B's artifact through A's path: 404");
is($s->api(POST => '/projects/lab-b/repositories/app/artifacts/v1/labels',
           $c{'owner-b'}, json => { id => $la + 0 })->{status}, 404,
   "A's label on B's artifact: 404");
is($s->api(POST => '/projects/lab-b/repositories/app/artifacts/v1/labels',
           $c{'owner-a'}, json => { id => $g1 + 0 })->{status}, 403,
   "A's admin on B's artifact: 403 (B's project)");
is($s->psql("SELECT count(*) FROM artifact_label al JOIN artifact a"
            . " ON a.id = al.artifact_id WHERE a.digest = '$db'"), 0,
   "nothing of B's artifact changed");

$r = $s->api(GET => "$art/v1", $c{'guest-a'});
is_deeply([sort map { $_->{name} } @{$r->{json}{labels} || []}],
          ['g1', 'pa'], 'the artifact shows its labels');

$r = $s->api(GET => "$art?q=" . Harbor::Authd::uri_escape("labels=($la $g1)"),
             $c{'guest-a'});
is($r->{status}, 200, 'filter labels=(a b)');
is_deeply([map { $_->{digest} } @{$r->{json}}], [$d1], 'AND: v1 only');
$r = $s->api(GET => "$art?q=" . Harbor::Authd::uri_escape("labels=$la"), $c{'guest-a'});
is_deeply([sort map { $_->{digest} } @{$r->{json}}], [sort $d1, $d2],
          'one label: both');
$r = $s->api(GET => "$art?q=" . Harbor::Authd::uri_escape("labels={$g1 $la2}"),
             $c{'guest-a'});
is_deeply([map { $_->{digest} } @{$r->{json}}], [$d1], 'OR: v1');
is($s->api(GET => "$art?q=" . Harbor::Authd::uri_escape('labels=abc'),
           $c{'guest-a'})->{status}, 400, 'a label that is no number 400');

is($s->api(DELETE => "$art/v1/labels/$la", $c{'guest-a'})->{status}, 403,
   'a guest removes no label');
is($s->api(DELETE => "$art/v1/labels/$la2", $c{'dev-a'})->{status}, 404,
   'a label the artifact has not: 404');
is($s->api(DELETE => "$art/v1/labels/x", $c{'dev-a'})->{status}, 404,
   'not an id: 404');
is($s->api(DELETE => "$art/v1/labels/$la", $c{'dev-a'})->{status}, 200,
   'a developer removes it');
$r = $s->api(GET => "$art/v1", $c{'guest-a'});
is_deeply([map { $_->{name} } @{$r->{json}{labels} || []}], ['g1'],
          'removed');

# deleting a label takes it off every artifact
is($s->api(DELETE => "/labels/$la", $c{'owner-a'})->{status}, 200,
   'the project admin deletes the label');
is($s->api(GET => "/labels/$la", $c{'owner-a'})->{status}, 404, 'gone');
$r = $s->api(GET => "$art/v2", $c{'guest-a'});
ok(!$r->{json}{labels} || !@{$r->{json}{labels}}, 'off v2 too');

is($s->api(DELETE => "/labels/$g1", $c{'owner-a'})->{status}, 403,
   'a project admin deletes no global label');
is($s->api(DELETE => "/labels/$g1", $admin)->{status}, 200,
   'system admin deletes it');

unlike($s->authd->log, qr/ERROR|assert/i, 'no error in the log');

done_testing;
