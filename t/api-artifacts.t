#!/usr/bin/perl

# What is in the registry, through the API: images pushed with skopeo (one
# platform, and an index of two), an artifact with a subject pushed by
# hand, pulls; then repositories, artifacts, tags, references, accessories,
# search, statistics, the project summary, field by field.  Tagging and
# deleting through the API (through /v2, with the caller in the journal
# and the audit log), the audit log, reindex.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use Digest::SHA qw(sha256_hex);
use JSON::PP ();
use Test::More;

use Harbor::Test;
use Harbor::Api;
use Harbor::Clients qw();

my $s = Harbor::Api->new(workers => 2);
my $host = $s->host;
my $dir = $s->dir;
my $cl = $s->clients;
my $JSON = JSON::PP->new->utf8->canonical;
my $pw = 'Passw0rd!';
my $TIME = qr/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/;

my $team = $s->create_project('team', public => 0);
my %uid;
for my $u (qw(dev master guest admin2 outsider)) {
    $uid{$u} = $s->create_user($u);
}
$s->add_member('team', 'dev', 2);
$s->add_member('team', 'master', 4);
$s->add_member('team', 'guest', 3);
$s->add_member('team', 'admin2', 1);

my %cred = map { ($_ => [$_, $pw]) } keys %uid;

###############################################################################
# content

my $single = $cl->mkimage("$dir/single", tag => 'v1', layers => '2k,3k',
                          seed => 1);
my $multi = $cl->mkimage("$dir/multi", tag => 'v2', layers => '2k',
                         seed => 2, multiarch => 1);

my @tls = ('--src-tls-verify=false', '--dest-tls-verify=false');

Harbor::Clients::cmd_ok($cl->skopeo('copy', @tls, '--dest-creds', "dev:$pw",
    "oci:$dir/single:v1", "docker://$host/team/app:v1"), 'skopeo push image');
Harbor::Clients::cmd_ok($cl->skopeo('copy', @tls, '--all', '--dest-creds',
    "dev:$pw", "oci:$dir/multi:v2", "docker://$host/team/multi:v2"),
    'skopeo push index of two platforms');

sub layout_size {
    my ($layout, $digest) = @_;
    my $m = $JSON->decode(Harbor::Clients::layout_blob($layout, $digest));
    my $size = -s Harbor::Clients::blob_path($layout, $digest);
    $size += $_->{size} for $m->{config}, @{$m->{layers}};
    return $size;
}

my $single_size = layout_size("$dir/single", $single->{digest});
my @child = map { $_->{manifest} } @{$multi->{images}};
my @child_size = map { layout_size("$dir/multi", $_) } @child;
my $index_size = (-s Harbor::Clients::blob_path("$dir/multi",
                                                $multi->{digest}))
                 + $child_size[0] + $child_size[1];

# an SBOM-like artifact whose subject is the image
my $dev_tok = $s->bearer(user => 'dev', pass => $pw,
                         scope => 'repository:team/app:pull,push');
my $sbom_data = '{"sbom":"of team/app"}';
my $sbom = $s->push_raw('team/app', undef, $dev_tok,
    blobs => ['{}', $sbom_data],
    manifest => {
        schemaVersion => 2,
        mediaType     => MT_OCI_MANIFEST,
        artifactType  => 'application/vnd.example.sbom+json',
        config        => { mediaType => MT_OCI_EMPTY,
                           digest => 'sha256:' . sha256_hex('{}'), size => 2 },
        layers        => [{ mediaType => 'application/vnd.example.sbom+json',
                            digest => 'sha256:' . sha256_hex($sbom_data),
                            size => length $sbom_data }],
        subject       => { mediaType => MT_OCI_MANIFEST,
                           digest => $single->{digest},
                           size => -s Harbor::Clients::blob_path(
                               "$dir/single", $single->{digest}) },
        annotations   => { 'org.example.kind' => 'sbom' },
    });
is($sbom->{response}{status}, 201, 'artifact with a subject pushed');

ok($s->sync, 'journal applied');

###############################################################################
# repositories

my $r = $s->api(GET => '/projects/team/repositories?sort=name', $cred{dev});
is($r->{status}, 200, 'repositories of team');
is($r->{headers}{'x-total-count'}, 2, 'two repositories');
my ($app, $mrepo) = @{$r->{json}};
is($app->{name}, 'team/app', 'name is full');
is($app->{project_id}, $team, 'project_id');
is($app->{artifact_count}, 1, 'app: one artifact (the accessory is not '
   . 'counted)');
is($mrepo->{artifact_count}, 1, 'multi: one artifact (children not counted)');
is($app->{pull_count}, 0, 'no pulls yet');
is($app->{description}, '', 'no description');
like($app->{creation_time}, $TIME, 'creation_time');
like($app->{update_time}, $TIME, 'update_time');
is_deeply([sort keys %$app], [sort qw(id project_id name description
    artifact_count pull_count creation_time update_time)],
    'Repository fields');

$r = $s->api(GET => '/projects/team/repositories/app', $cred{guest});
is($r->{status}, 200, 'repository by name');
is($r->{json}{id}, $app->{id}, 'same repository');
is($s->api(GET => '/projects/' . $team . '/repositories/multi',
           $cred{guest})->{json}{id}, $mrepo->{id}, 'project by id');

$r = $s->api(GET => '/repositories?q=name%3D~team', $cred{dev});
is_deeply([map { $_->{name} } @{$r->{json}}], [qw(team/multi team/app)],
          '/repositories: newest first');

###############################################################################
# artifacts

$r = $s->api(GET => '/projects/team/repositories/app/artifacts', $cred{dev});
is($r->{status}, 200, 'artifacts of team/app');
is(scalar @{$r->{json}}, 1, 'one (the accessory is not listed)');
my $a = $r->{json}[0];
is($a->{digest}, $single->{digest}, 'digest');
is($a->{type}, 'IMAGE', 'type');
is($a->{manifest_media_type}, MT_OCI_MANIFEST, 'manifest_media_type');
is($a->{media_type}, MT_OCI_CONFIG, 'media_type: the config\'s');
is($a->{artifact_type}, MT_OCI_CONFIG, 'artifact_type');
is($a->{size}, $single_size, 'size: manifest, config and layers');
is($a->{project_id}, $team, 'project_id');
is($a->{repository_id}, $app->{id}, 'repository_id');
is($a->{repository_name}, 'team/app', 'repository_name');
like($a->{push_time}, $TIME, 'push_time');
is($a->{pull_time}, undef, 'pull_time: never pulled');
is($a->{pull_count}, 0, 'pull_count');
is($a->{extra_attrs}{architecture}, 'amd64', 'extra_attrs: architecture');
is($a->{extra_attrs}{os}, 'linux', 'extra_attrs: os');
ok(exists $a->{extra_attrs}{config}, 'extra_attrs: config');
is(scalar @{$a->{tags}}, 1, 'one tag');
is($a->{tags}[0]{name}, 'v1', 'tag name');
is($a->{tags}[0]{artifact_id}, $a->{id}, 'tag artifact_id');
is($a->{tags}[0]{repository_id}, $app->{id}, 'tag repository_id');
like($a->{tags}[0]{push_time}, $TIME, 'tag push_time');
ok(!exists $a->{references}, 'no references for an image');

$r = $s->api(GET => '/projects/team/repositories/app/artifacts'
                    . '?with_accessory=true', $cred{dev});
my $acc = $r->{json}[0]{accessories};
is(scalar @$acc, 1, 'with_accessory: one accessory');
is($acc->[0]{digest}, $sbom->{digest}, 'accessory digest');
is($acc->[0]{subject_artifact_id}, $a->{id}, 'accessory subject');
is($acc->[0]{subject_artifact_digest}, $single->{digest},
   'accessory subject digest');
is($acc->[0]{type}, 'subject.accessory', 'accessory type');

$r = $s->api(GET => '/projects/team/repositories/app/artifacts?q=base%3D*',
             $cred{dev});
is($r->{headers}{'x-total-count'}, 2, 'base=*: the accessory too');
my ($sb) = grep { $_->{digest} eq $sbom->{digest} } @{$r->{json}};
is($sb->{artifact_type}, 'application/vnd.example.sbom+json',
   'artifactType of the manifest');
is($sb->{media_type}, MT_OCI_EMPTY, 'media_type of its empty config');
is($sb->{type}, 'UNKNOWN', 'not an image');
is_deeply($sb->{annotations}, { 'org.example.kind' => 'sbom' },
          'annotations');
is($sb->{size}, $sbom->{size} + 2 + length $sbom_data, 'size');
is($sb->{tags}, undef, 'untagged: tags null');

# the index
$r = $s->api(GET => '/projects/team/repositories/multi/artifacts',
             $cred{dev});
is(scalar @{$r->{json}}, 1, 'index: one artifact listed');
my $idx = $r->{json}[0];
is($idx->{digest}, $multi->{digest}, 'index digest');
is($idx->{manifest_media_type}, MT_OCI_INDEX, 'index media type');
is($idx->{type}, 'IMAGE', 'index type');
is($idx->{size}, $index_size, 'index size: itself and its children');
is(scalar @{$idx->{references}}, 2, 'two references');
my %ref = map { ($_->{child_digest} => $_) } @{$idx->{references}};
is_deeply($ref{$child[0]}{platform}, { architecture => 'amd64',
                                        os => 'linux' }, 'amd64 platform');
is_deeply($ref{$child[1]}{platform}, { architecture => 'arm64',
                                        os => 'linux', variant => 'v8' },
          'arm64/v8 platform');
is($ref{$child[0]}{parent_id}, $idx->{id}, 'parent_id');
ok($ref{$child[0]}{child_id}, 'child_id');

$r = $s->api(GET => '/projects/team/repositories/multi/artifacts'
                    . '?q=base%3D*&sort=id', $cred{dev});
is($r->{headers}{'x-total-count'}, 3, 'base=*: index and children');
my ($c1) = grep { $_->{digest} eq $child[1] } @{$r->{json}};
is($c1->{extra_attrs}{architecture}, 'arm64', 'child: architecture');
is($c1->{extra_attrs}{variant}, 'v8', 'child: variant');
is($c1->{size}, $child_size[1], 'child: size');
is($c1->{id}, $ref{$child[1]}{child_id}, 'child_id is the child');

# by tag and by digest
$r = $s->api(GET => '/projects/team/repositories/multi/artifacts/v2',
             $cred{guest});
is($r->{status}, 200, 'artifact by tag');
is($r->{json}{digest}, $multi->{digest}, 'the index');
$r = $s->api(GET => "/projects/team/repositories/multi/artifacts/$child[0]",
             $cred{guest});
is($r->{status}, 200, 'artifact by digest');
is($r->{json}{extra_attrs}{architecture}, 'amd64', 'a child by digest');
is($s->api(GET => '/projects/team/repositories/multi/artifacts/nope',
           $cred{guest})->{status}, 404, 'unknown tag: 404');
is($s->api(GET => '/projects/team/repositories/multi/artifacts/%2E%2E',
           $cred{guest})->{status}, 400, 'an encoded ..: not a reference');
is($s->api(GET => '/projects/team/repositories/multi/artifacts/a%21b',
           $cred{guest})->{status}, 400, 'invalid reference: 400');

$r = $s->api(GET => '/projects/team/repositories/multi/artifacts/v2/tags',
             $cred{guest});
is($r->{status}, 200, 'tags of an artifact');
is_deeply([map { $_->{name} } @{$r->{json}}], ['v2'], 'v2');
is_deeply([sort keys %{$r->{json}[0]}], [sort qw(id repository_id
    artifact_id name push_time pull_time immutable signed)], 'Tag fields');

###############################################################################
# pulls: counted, timed, not slowed

my $pull_tok = $s->bearer(user => 'guest', pass => $pw,
                          scope => 'repository:team/app:pull');
for my $ref (('v1') x 3, ($single->{digest}) x 2) {
    my $p = $s->http(GET => "/v2/team/app/manifests/$ref", token => $pull_tok,
        headers => [Accept => MT_OCI_MANIFEST]);
    is($p->{status}, 200, "pull $ref");
}
$s->http(HEAD => '/v2/team/app/manifests/v1', token => $pull_tok,
         headers => [Accept => MT_OCI_MANIFEST]);
ok($s->sync, 'pulls applied');

$r = $s->api(GET => '/projects/team/repositories/app/artifacts/v1',
             $cred{dev});
is($r->{json}{pull_count}, 5, 'pull_count: five GETs, HEAD not counted');
like($r->{json}{pull_time}, $TIME, 'pull_time');
like($r->{json}{tags}[0]{pull_time}, $TIME, 'tag pull_time');
is($s->api(GET => '/projects/team/repositories/app',
           $cred{dev})->{json}{pull_count}, 5, 'repository pull_count');

Harbor::Clients::cmd_ok($cl->skopeo('copy', @tls, '--all', '--src-creds',
    "guest:$pw", "docker://$host/team/multi:v2", "oci:$dir/pulled:v2"),
    'skopeo pulls the index');
ok($s->sync, 'applied');
$r = $s->api(GET => '/projects/team/repositories/multi/artifacts?q=base%3D*',
             $cred{dev});
ok((grep { $_->{digest} eq $multi->{digest} && $_->{pull_count} >= 1 }
    @{$r->{json}}), 'the index counts its pull');
ok((grep { $_->{digest} eq $child[1] && $_->{pull_count} >= 1 }
    @{$r->{json}}), 'and the child its own');

###############################################################################
# search, statistics, summary

$r = $s->api(GET => '/search?q=app', $cred{dev});
is($r->{status}, 200, 'search');
my ($hit) = grep { $_->{repository_name} eq 'team/app' }
    @{$r->{json}{repository}};
ok($hit, 'search finds team/app');
is($hit->{project_name}, 'team', 'project_name');
is($hit->{project_id}, $team, 'project_id');
ok(!$hit->{project_public}, 'project_public false');
is($hit->{pull_count}, 5, 'pull_count');
is($hit->{artifact_count}, 1, 'artifact_count');

$r = $s->api(GET => '/search?q=tea', $cred{dev});
is_deeply([map { $_->{name} } @{$r->{json}{project}}], ['team'],
          'search finds the project');

$r = $s->api(GET => '/search?q=app', $cred{outsider});
is_deeply($r->{json}{repository}, [], 'an outsider finds nothing private');
$r = $s->api(GET => '/search?q=app', undef);
is_deeply($r->{json}{repository}, [], 'anonymous finds nothing private');
$r = $s->api(GET => '/search?q=t%25m', $cred{dev});
is_deeply($r->{json}{project}, [], '% is literal in search');

$r = $s->api(GET => '/statistics', $s->admin);
is($r->{json}{total_repo_count}, 2, 'statistics: total_repo_count');
is($r->{json}{private_repo_count}, 2, 'private_repo_count');
is($r->{json}{public_repo_count}, 0, 'public_repo_count');
is($r->{json}{total_project_count}, 2, 'total_project_count');
ok($r->{json}{total_storage_consumption} > $single_size,
   'total_storage_consumption');
$r = $s->api(GET => '/statistics', $cred{outsider});
is($r->{json}{private_repo_count}, 0, 'outsider: no private repositories');
ok(!exists $r->{json}{total_repo_count}, 'outsider: no totals');
is($s->api(GET => '/statistics', undef)->{status}, 401,
   'statistics: anonymous 401');

$r = $s->api(GET => '/projects/team/summary', $cred{guest});
is($r->{json}{repo_count}, 2, 'summary: repo_count');
ok($r->{json}{quota}{used}{storage} > 0, 'summary: storage used');
$r = $s->api(GET => '/projects/team', $cred{guest});
is($r->{json}{repo_count}, 2, 'project: repo_count');

is($s->api(DELETE => '/projects/team', $cred{admin2})->{status}, 412,
   'a project with repositories is not deleted');

###############################################################################
# tagging through the API: /v2 under the caller's name

my $tags = '/projects/team/repositories/app/artifacts/v1/tags';
is($s->api(POST => $tags, $cred{guest}, json => { name => 'prod' })
   ->{status}, 403, 'guest may not tag');
is($s->api(POST => $tags, $cred{dev}, json => { name => '-bad' })->{status},
   400, 'invalid tag name');
is($s->api(POST => $tags, $cred{dev}, json => { name => 'v1' })->{status},
   409, 'existing tag: 409');
$r = $s->api(POST => $tags, $cred{dev}, json => { name => 'prod' });
is($r->{status}, 201, 'developer tags v1 as prod');
like($r->{headers}{location}, qr{/tags/prod$}, 'Location');

$r = $s->api(GET => $tags, $cred{dev});
is_deeply([map { $_->{name} } @{$r->{json}}], [qw(prod v1)],
          'the artifact has prod and v1 at once');
my $list = $s->http(GET => '/v2/team/app/tags/list', token => $pull_tok);
is_deeply([sort @{$JSON->decode($list->{body})->{tags}}], [qw(prod v1)],
          'storage has the tag (/v2 tags/list)');

###############################################################################
# deleting through the API

is($s->api(DELETE => "$tags/prod", $cred{dev})->{status}, 403,
   'developer may not delete tags');
is($s->api(DELETE => "$tags/nope", $cred{master})->{status}, 404,
   'unknown tag: 404');
is($s->api(DELETE => "$tags/prod", $cred{master})->{status}, 200,
   'maintainer deletes prod');
$list = $s->http(GET => '/v2/team/app/tags/list', token => $pull_tok);
is_deeply($JSON->decode($list->{body})->{tags}, ['v1'],
          'gone from storage');
ok(!-e $s->t->v2root . '/repositories/team/app/_manifests/tags/prod',
   'no tag link left');

ok($s->sync, 'applied');
my ($line) = grep { $_->{action} eq 'delete' && ($_->{tag} // '') eq 'prod' }
    $s->lines;
is($line->{user}, 'master', 'the journal names the API caller');

$r = $s->api(GET => '/audit-logs?q=resource_type%3Dtag', $s->admin);
is($r->{status}, 200, 'audit logs');
is(scalar @{$r->{json}}, 1, 'one tag deletion');
is($r->{json}[0]{operation}, 'delete', 'operation');
is($r->{json}[0]{resource}, 'team/app:prod', 'resource');
is($r->{json}[0]{username}, 'master', 'username');
like($r->{json}[0]{op_time}, $TIME, 'op_time');
is_deeply([sort keys %{$r->{json}[0]}], [sort qw(id username resource
    resource_type operation op_time operation_description
    operation_result)], 'AuditLog fields');

# a child of an index is refused, the index goes with its children
my $arts = '/projects/team/repositories/multi/artifacts';
is($s->api(DELETE => "$arts/$child[0]", $cred{master})->{status}, 412,
   'a child of an index: 412');
is($s->api(DELETE => "$arts/v2", $cred{dev})->{status}, 403,
   'developer may not delete artifacts');
is($s->api(DELETE => "$arts/v2", $cred{master})->{status}, 200,
   'maintainer deletes the index');
is($s->api(GET => "$arts/$child[1]", $cred{master})->{status}, 404,
   'its children are gone');
my $mtok = $s->bearer(user => 'master', pass => $pw,
                      scope => 'repository:team/multi:pull');
is($s->http(GET => "/v2/team/multi/manifests/$child[1]", token => $mtok,
            headers => [Accept => MT_OCI_MANIFEST])->{status}, 404,
   'and gone from storage');
ok($s->sync, 'applied');
$r = $s->api(GET => '/projects/team/logs?q=operation%3Ddelete,'
                    . 'resource%3D~team%2Fmulti', $cred{admin2});
is($r->{headers}{'x-total-count'}, 3, 'project log: three manifests deleted');
ok(!(grep { $_->{username} ne 'master' } @{$r->{json}}), 'all by master');
is($s->api(GET => '/projects/team/logs', $cred{dev})->{status}, 403,
   'developer may not read the project log');
is($s->api(GET => '/audit-logs', $cred{admin2})->{status}, 403,
   'project admin may not read the system audit log');

# description, then the repository
is($s->api(PUT => '/projects/team/repositories/app', $cred{guest},
           json => { description => 'x' })->{status}, 403,
   'guest may not describe');
is($s->api(PUT => '/projects/team/repositories/app', $cred{dev},
           json => { description => 'the app', name => 'evil' })->{status},
   200, 'developer describes');
$r = $s->api(GET => '/projects/team/repositories/app', $cred{dev});
is($r->{json}{description}, 'the app', 'description');
is($r->{json}{name}, 'team/app', 'name untouched');

###############################################################################
# reindex: the same tables again

my $before = $s->snapshot;
$r = $s->reindex($cred{dev});
is($r->{status}, 403, 'reindex: system administrators only');
$r = $s->reindex;
is($r->{json}{status}, 'done', 'reindex done');
is_deeply($s->snapshot, $before, 'reindex rebuilds the same tables');
is($s->api(GET => '/projects/team/repositories/app/artifacts/v1',
           $cred{dev})->{json}{pull_count}, 5, 'pull counts kept');

my $counted = $s->snapshot(no_counts => 1);
$s->psql('DELETE FROM repository');
$r = $s->reindex;
is($r->{json}{stats}{artifacts}, 2, 'from nothing: two artifacts');
my $after = $s->snapshot(no_counts => 1);
# team/multi has no manifest left: storage gives no reason for a row
$counted->{repositories} =~ s{\nteam/multi team -}{};
is_deeply($after, $counted, 'from nothing: the same tables, but counts');
like($after->{tags}, qr{team/app v1 \Q$single->{digest}\E}, 'tag back');
like($after->{artifacts}, qr{\Q$sbom->{digest}\E}, 'accessory back');

# a store whose referrers index lacks an entry (written by another
# registry): reindex has the module put it back, through /v2
(my $subj_hex = $single->{digest}) =~ s/^sha256://;
(my $sbom_hex = $sbom->{digest}) =~ s/^sha256://;
my $refdir = $s->t->v2root . "/repositories/team/app/_referrers/sha256/"
           . "$subj_hex/sha256/$sbom_hex";
ok(-e "$refdir/link", 'the module indexed the referrer');
unlink "$refdir/link";
rmdir $refdir;
my $refs = sub {
    my $x = $s->http(GET => "/v2/team/app/referrers/$single->{digest}",
                     token => $pull_tok);
    return [map { $_->{digest} }
            @{(eval { $JSON->decode($x->{body}) } || {})->{manifests} || []}];
};
is_deeply($refs->(), [], 'referrers: the entry is gone');
$r = $s->reindex;
is($r->{json}{stats}{errors}, 0, 'reindex');
is_deeply($refs->(), [$sbom->{digest}], 'referrers: back after reindex');

# deleting a repository: every manifest through /v2
is($s->api(DELETE => '/projects/team/repositories/app', $cred{dev})
   ->{status}, 403, 'developer may not delete a repository');
is($s->api(DELETE => '/projects/team/repositories/app', $cred{master})
   ->{status}, 200, 'maintainer deletes the repository');
is($s->api(GET => '/projects/team/repositories/app', $cred{master})
   ->{status}, 404, 'gone');
my $atok = $s->bearer(user => 'master', pass => $pw,
                      scope => 'repository:team/app:pull');
is($s->http(GET => '/v2/team/app/manifests/v1', token => $atok,
            headers => [Accept => MT_OCI_MANIFEST])->{status}, 404,
   'its manifests are gone from storage');
ok($s->sync, 'applied');
is($s->api(GET => '/projects/team/repositories/app', $cred{master})
   ->{status}, 404, 'the journal does not bring it back');
$r = $s->api(GET => '/audit-logs?q=resource_type%3Drepository,'
                    . 'operation%3Ddelete', $s->admin);
is($r->{json}[0]{resource}, 'team/app', 'repository deletion in the log');

# logins
$s->token(user => 'dev', pass => $pw);
$s->token(user => 'dev', pass => 'wrong');
$r = $s->api(GET => '/audit-logs?q=operation%3Dlogin,username%3Ddev',
             $s->admin);
is_deeply([map { $_->{operation_result} ? 1 : 0 } @{$r->{json}}], [0, 1],
          'a failed and a good login');
$r = $s->api(GET => '/audit-logs?q=resource_type%3Dproject_member',
             $s->admin);
is($r->{headers}{'x-total-count'}, 4, 'member additions logged');
$r = $s->api(GET => '/audit-logs?q=resource_type%3Duser,operation%3Dcreate',
             $s->admin);
is($r->{headers}{'x-total-count'}, 5, 'user creations logged');

unlike($s->authd->log, qr/\b(?:crit|alert|emerg)\b/, 'no critical errors');

done_testing;
