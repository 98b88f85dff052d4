#!/usr/bin/perl

# Harbor's replication adapter for a "harbor" endpoint, speaking to us:
# the requests it makes, in its order, with the parameters and encoding
# it uses, and the fields of each answer it reads.  From goharbor/harbor
# src/pkg/reg/adapter/harbor/ (adaper.go, base/adapter.go,
# base/client.go, v2/adapter.go, v2/client.go) and the pagination of
# src/common/http/client.go (GetAndIteratePagination: follows the Link
# header's rel="next", a path appended to the endpoint's scheme and host,
# its query decoded and encoded again, so spaces travel as "+").
#
# As a destination (Harbor pushes to us):
#   adaper.go factory.Create -> base/client.go NewClient/GetAPIVersion
#       GET /api/version                                 {version}
#   base/adapter.go Info -> base/client.go ListLabels
#       GET /api/v2.0/labels?scope=g                     [{name}], 404 ok
#   base/adapter.go PrepareForPush -> ListProjectsWithQuery
#       GET /api/v2.0/projects?q=name%3D%7B%27a%27+%27b%27%7D&with_detail=false
#                                                        [{name, registry_id}]
#   base/client.go CreateProject
#       POST /api/v2.0/projects {project_name, metadata}  2xx, 409 ok
#   v2/adapter.go CanBeMount -> v2/client.go getRepositoryByBlobDigest
#       GET /api/v2.0/repositories?q=blob_digest=sha256:...&page_size=1&page_number=1
#                                                        [{name}], 404 ok
#   v2/adapter.go DeleteTag -> v2/client.go deleteTag
#       DELETE /api/v2.0/projects/{p}/repositories/{r}/artifacts/{tag}/tags/{tag}
#
# As a source (Harbor pulls from us):
#   v2/adapter.go FetchArtifacts -> base/adapter.go ListProjects
#       -> base/client.go GetProject -> ListProjects
#       GET /api/v2.0/projects?name={p}    (a name filter "p/**"), else
#       GET /api/v2.0/projects?name=                     [{project_id, name, metadata}]
#   v2/client.go listRepositories
#       GET /api/v2.0/projects/{p}/repositories           [{name}]
#   v2/client.go listArtifacts
#       GET .../repositories/{r}/artifacts?page_size=100&with_label=true&with_accessory=true
#                                   [{type, digest, labels, tags[{name}],
#                                     accessories, references[{child_digest}]}]
#       GET .../artifacts/{child_digest}?with_accessory=true   (each reference)
#   v2/client.go getAccessoryArts -> getArtifact
#       GET .../artifacts/{digest}?with_accessory=true&with_tag=true
#
# Both ways, the registry's health first (the base adapter embeds
# native.Adapter): native/adapter.go HealthCheck -> PingSimple -> Ping
#       GET /v2/ (401 with a Bearer challenge), GET /service/token with
#       Basic credentials, GET /v2/ with the token         200
#
# {r} is encoded as lib/encode/repository.Encode does it: "/" as %252F.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use Digest::SHA qw(sha256_hex);
use JSON::PP ();
use Test::More;

use Harbor::Test;
use Harbor::Api;

my $s = Harbor::Api->new;
my $admin = $s->admin;
my $JSON = JSON::PP->new->utf8->canonical;
my $pw = 'Passw0rd!';

# the credential of the registry endpoint: a user of ours
$s->create_user('repl');
my $repl = ['repl', $pw];

# a GET of the adapter's client: Basic credentials, the answer decoded
sub get {
    my ($path, $cred) = @_;
    my $r = $s->http(GET => $path, basic => $cred || $repl);
    $r->{json} = eval { $JSON->decode($r->{body}) } if length $r->{body};
    return $r;
}

# GetAndIteratePagination: every page, by the Link header's rel="next"
sub iterate {
    my ($path, $cred) = @_;
    my (@all, $pages);

    while (defined $path) {
        my $r = get($path, $cred);
        return { status => $r->{status}, body => $r->{body} }
            if $r->{status} < 200 || $r->{status} > 299;
        push @all, @{$r->{json}};
        $pages++;
        undef $path;

        for my $link (split /,/, $r->{headers}{link} // '') {
            my ($url) = $link =~ /<([^>]*)>/ or next;
            next unless $link =~ /;\s*rel="next"/;
            # url.Query().Encode(): decoded, encoded again, keys sorted
            my ($p, $q) = split /\?/, $url, 2;
            my @kv = map {
                my ($k, $v) = split /=/, $_, 2;
                [map { my $x = $_ // ''; $x =~ s/\+/ /g;
                       $x =~ s/%([0-9A-Fa-f]{2})/chr hex $1/ge; $x } $k, $v]
            } split /&/, $q // '';
            $path = $p . '?' . join '&', map {
                join '=', map { my $x = $_;
                    $x =~ s/([^A-Za-z0-9_.~ -])/sprintf '%%%02X', ord $1/ge;
                    $x =~ s/ /+/g; $x } @$_
            } sort { $a->[0] cmp $b->[0] } @kv;
            last;
        }
    }

    return { status => 200, items => \@all, pages => $pages };
}

# url.QueryEscape
sub qescape {
    my ($x) = @_;
    $x =~ s/([^A-Za-z0-9_.~ -])/sprintf '%%%02X', ord $1/ge;
    $x =~ s/ /+/g;
    return $x;
}

sub names { [sort map { $_->{name} } @{$_[0] || []}] }

###############################################################################
# content: projects "src" (public) and "123" (digits only), with an
# image, an index of two images and an accessory of the image

$s->create_project('src', public => 1);
my $p123 = $s->create_project('123', public => 0);
$s->add_member('src', 'repl', 1);
$s->add_member($p123, 'repl', 1);     # a name of digits is an id in paths

my $tok = $s->bearer(user => 'admin', pass => $admin->[1],
    scope => [map { "repository:$_:pull,push" }
              qw(src/app src/team/multi 123/x)]);

my $img = $s->push_image('src/app', $tok, tag => 'v1');
ok($img->{ok}, 'image pushed');

my @child = map { $s->push_image('src/team/multi', $tok, tag => undef) }
                1 .. 2;
my $index = $s->push_raw('src/team/multi', 'v2', $tok,
    media_type => MT_OCI_INDEX,
    manifest => {
        schemaVersion => 2,
        mediaType     => MT_OCI_INDEX,
        manifests     => [map {
            { mediaType => MT_OCI_MANIFEST, digest => $child[$_]{digest},
              size => length $child[$_]{manifest},
              platform => { architecture => (qw(amd64 arm64))[$_],
                            os => 'linux' } }
        } 0 .. 1],
    });
is($index->{response}{status}, 201, 'index pushed');

my $sig_data = '{"signature":"of src/app"}';
my $sig = $s->push_raw('src/app', undef, $tok,
    blobs => ['{}', $sig_data],
    manifest => {
        schemaVersion => 2,
        mediaType     => MT_OCI_MANIFEST,
        artifactType  => 'application/vnd.dev.cosign.artifact.sig.v1+json',
        config        => { mediaType => MT_OCI_EMPTY,
                           digest => 'sha256:' . sha256_hex('{}'), size => 2 },
        layers        => [{ mediaType => 'application/octet-stream',
                            digest => 'sha256:' . sha256_hex($sig_data),
                            size => length $sig_data }],
        subject       => { mediaType => MT_OCI_MANIFEST,
                           digest => $img->{digest},
                           size => length $img->{manifest} },
    });
is($sig->{response}{status}, 201, 'accessory pushed');

my $x = $s->push_image('123/x', $tok, tag => 'latest');
ok($x->{ok}, 'image in project 123 pushed');

ok($s->sync, 'journal applied');

###############################################################################
# HealthCheck: /v2/ through its challenge

my $r = $s->http(GET => '/v2/');
is($r->{status}, 401, 'GET /v2/: 401');
my ($realm) = ($r->{headers}{'www-authenticate'} // '')
    =~ m{^Bearer realm="https?://[^/]+(/service/token)",service="harbor-registry"};
is($realm, '/service/token', 'a Bearer challenge naming the token service');
my $t = $s->token(user => 'repl', pass => $pw);
is($t->{status}, 200, 'a token for the endpoint\'s credentials');
is($s->http(GET => '/v2/', token => $t->{json}{token})->{status}, 200,
   'GET /v2/ with it: 200, the endpoint is healthy');

###############################################################################
# factory.Create: the API's version, before anything else

$r = $s->http(GET => '/api/version');
is($r->{status}, 200, 'GET /api/version, anonymous: 200');
is($JSON->decode($r->{body})->{version}, 'v2.0', 'version v2.0: the v2 adapter');
like($r->{headers}{'content-type'}, qr{^application/json}, 'as JSON');
is(get('/api/version')->{json}{version}, 'v2.0', 'with credentials too');

# Info: the global labels, offered as a filter
$r = get('/api/v2.0/labels?scope=g');
is($r->{status}, 200, 'labels?scope=g: 200');
is_deeply($r->{json}, [], 'no labels');
is($r->{headers}{'x-total-count'}, 0, 'X-Total-Count 0');
is(get('/api/v2.0/labels?scope=x')->{status}, 400, 'labels: bad scope 400');
is(get('/api/v2.0/labels?scope=p')->{status}, 400,
   'labels: scope=p without a project 400');
is(get('/api/v2.0/labels?scope=p&project_id=999999')->{status}, 404,
   'labels: scope=p of a missing project 404');

###############################################################################
# PrepareForPush: which projects exist, by a quoted set of names

my @want = ('src', '123', 'newproj');
my $q = 'name={' . join(' ', map { "'$_'" } @want) . '}';
my $l = iterate('/api/v2.0/projects?q=' . qescape($q) . '&with_detail=false');
is($l->{status}, 200, "projects?q=$q: 200");
is_deeply(names($l->{items}), [qw(123 src)],
          'the existing ones, the digits-only name as a string');
ok((grep { exists $_->{registry_id} && $_->{registry_id} == 0 }
    @{$l->{items}}) == 2, 'registry_id 0: no proxy cache project');

# more than a page: the set followed through Link
$s->create_project(sprintf('many%02d', $_), public => 0) for 1 .. 12;
$q = 'name={' . join(' ', map { sprintf "'many%02d'", $_ } 1 .. 12) . '}';
$l = iterate('/api/v2.0/projects?q=' . qescape($q) . '&with_detail=false',
             $admin);
is($l->{pages}, 2, 'two pages of 10');
is(scalar @{$l->{items}}, 12, 'all twelve through the next link');

# CreateProject: the missing one; metadata may be null
$r = $s->http(POST => '/api/v2.0/projects', basic => $repl,
    headers => ['Content-Type' => 'application/json'],
    body => $JSON->encode({ project_name => 'newproj', metadata => undef }));
is($r->{status}, 201, 'create with metadata null: 201');
$r = $s->http(POST => '/api/v2.0/projects', basic => $repl,
    headers => ['Content-Type' => 'application/json'],
    body => $JSON->encode({ project_name => 'newpub',
                            metadata => { public => 'true' } }));
is($r->{status}, 201, 'create with metadata.public: 201');
$r = $s->http(POST => '/api/v2.0/projects', basic => $repl,
    headers => ['Content-Type' => 'application/json'],
    body => $JSON->encode({ project_name => 'newproj', metadata => undef }));
is($r->{status}, 409, 'again: 409, which the adapter skips');

$l = iterate('/api/v2.0/projects?q=' . qescape("name={'newproj' 'newpub'}")
             . '&with_detail=false');
is_deeply(names($l->{items}), [qw(newproj newpub)], 'both exist now');
is((grep { $_->{name} eq 'newpub' } @{$l->{items}})[0]{metadata}{public},
   'true', 'metadata.public kept');

# CanBeMount: a repository holding the blob
my $layer = $img->{layers}[0];
$r = get("/api/v2.0/repositories?q=blob_digest=$layer&page_size=1&page_number=1");
is($r->{status}, 200, 'repositories?q=blob_digest=: 200');
is_deeply([map { $_->{name} } @{$r->{json}}], ['src/app'],
          'the repository with that layer');
$r = get('/api/v2.0/repositories?q=blob_digest=' . $img->{config}
         . '&page_size=1&page_number=1');
is($r->{json}[0]{name}, 'src/app', 'a config blob too');
$r = get("/api/v2.0/repositories?q=blob_digest=$index->{digest}"
         . '&page_size=1&page_number=1');
is($r->{json}[0]{name}, 'src/team/multi', 'a manifest blob too');
$r = get('/api/v2.0/repositories?q=blob_digest=sha256:' . ('0' x 64)
         . '&page_size=1&page_number=1');
is($r->{status}, 200, 'an unknown blob: 200');
is_deeply($r->{json}, [], 'no repository');

# only where the caller may pull: another user sees no private one
$s->create_user('other');
$r = get("/api/v2.0/repositories?q=blob_digest=$x->{layers}[0]"
         . '&page_size=1&page_number=1', ['other', $pw]);
is_deeply($r->{json}, [], 'a private project\'s blob: not shown to others');
$r = get("/api/v2.0/repositories?q=blob_digest=$x->{layers}[0]"
         . '&page_size=1&page_number=1');
is($r->{json}[0]{name}, '123/x', 'shown to a member');

###############################################################################
# FetchArtifacts: the projects, by a name filter or all

$l = iterate('/api/v2.0/projects?name=src');
is($l->{status}, 200, 'projects?name=src: 200');
ok((grep { $_->{name} eq 'src' } @{$l->{items}}) == 1,
   'GetProject finds src by its exact name');
my ($src) = grep { $_->{name} eq 'src' } @{$l->{items}};
ok($src->{project_id} > 0, 'project_id');
is($src->{metadata}{public}, 'true', 'metadata.public');

$l = iterate('/api/v2.0/projects?name=');
is($l->{status}, 200, 'projects?name= (all): 200');
is_deeply(names($l->{items}), [qw(123 library newproj newpub src)],
          'the projects the caller sees');
$l = iterate('/api/v2.0/projects?name=', $admin);
is(scalar @{$l->{items}}, 17, 'an admin: all of them, over the pages');
ok($l->{pages} >= 2, 'in pages');

# listRepositories
$l = iterate('/api/v2.0/projects/src/repositories');
is($l->{status}, 200, 'projects/src/repositories: 200');
is_deeply(names($l->{items}), [qw(src/app src/team/multi)],
          'full names');

# listArtifacts, per repository
my %arts;
for my $repo (@{names($l->{items})}) {
    (my $rest = $repo) =~ s{^src/}{};
    $rest =~ s{/}{%252F}g;
    my $base = "/api/v2.0/projects/src/repositories/$rest/artifacts";
    my $a = iterate("$base?page_size=100&with_label=true&with_accessory=true");
    is($a->{status}, 200, "$repo: artifacts 200");
    $arts{$repo} = { base => $base, items => $a->{items} };
}

my $app = $arts{'src/app'}{items};
is(scalar @$app, 1, 'src/app: one artifact (the accessory is not listed)');
is($app->[0]{digest}, $img->{digest}, 'digest');
is($app->[0]{type}, 'IMAGE', 'type');
is_deeply([map { $_->{name} } @{$app->[0]{tags}}], ['v1'], 'tags[].name');
ok(exists $app->[0]{labels} && !$app->[0]{labels},
   'labels: null (none), as Harbor\'s');
is(scalar @{$app->[0]{accessories}}, 1, 'accessories: one');
my $acc = $app->[0]{accessories}[0];
is($acc->{digest}, $sig->{digest}, 'the accessory\'s digest');

# getAccessoryArts -> getArtifact, for the accessory
$r = get("$arts{'src/app'}{base}/$acc->{digest}"
         . '?with_accessory=true&with_tag=true');
is($r->{status}, 200, 'the accessory by digest: 200');
is($r->{json}{digest}, $sig->{digest}, 'its digest');
ok(exists $r->{json}{tags} && !$r->{json}{tags},
   'its tags: null (none), as Harbor\'s');
is_deeply($r->{json}{accessories}, [], 'no accessory of the accessory');

my $multi = $arts{'src/team/multi'}{items};
is(scalar @$multi, 1, 'src/team/multi: the index only');
is($multi->[0]{digest}, $index->{digest}, 'the index\'s digest');
is_deeply([sort map { $_->{child_digest} } @{$multi->[0]{references}}],
          [sort map { $_->{digest} } @child], 'references[].child_digest');

# each reference, by digest
for my $ref (@{$multi->[0]{references}}) {
    $r = get("$arts{'src/team/multi'}{base}/$ref->{child_digest}"
             . '?with_accessory=true');
    is($r->{status}, 200, "reference $ref->{child_digest}: 200");
    is_deeply($r->{json}{accessories}, [], 'with its accessories (none)');
}

###############################################################################
# DeleteTag: the tag as the artifact's reference

$r = $s->http(DELETE => '/api/v2.0/projects/src/repositories/team%252Fmulti'
                        . '/artifacts/v2/tags/v2', basic => $repl);
is($r->{status}, 200, 'DELETE .../artifacts/v2/tags/v2: 200');
ok($s->sync, 'journal applied');
$r = get("$arts{'src/team/multi'}{base}/$index->{digest}?with_tag=true");
is($r->{status}, 200, 'the index is still there');
ok(!$r->{json}{tags}, 'the tag is gone');

###############################################################################
# q: the grammar's edges, with Harbor's answers

sub pq {
    my ($q, $cred) = @_;
    return get('/api/v2.0/projects?q=' . qescape($q) . '&page_size=100',
               $cred || $admin);
}

is_deeply(names(pq('name=src')->{json}), ['src'], 'q=name=src: exact');
is_deeply(names(pq('name=~ewp')->{json}), [qw(newproj newpub)],
          'q=name=~ewp: fuzzy');
is_deeply(names(pq('name={src "123" many01}')->{json}),
          [qw(123 many01 src)], 'a set with and without quotes');
is_deeply(names(pq('name={src},public=true')->{json}), ['src'],
          'a set and public');
is_deeply(names(pq('name={123},public=true')->{json}), [],
          'a set and public: 123 is private');
is_deeply(names(pq("owner={admin},name=~many0")->{json}),
          [map { sprintf 'many%02d', $_ } 1 .. 9], 'owner set');
is_deeply(names(pq("project_id=[1~3]")->{json}) ,
          [sort qw(library src 123)], 'a range of ids');
is_deeply(names(get('/api/v2.0/projects?q=' . qescape('name=src')
                    . '&name=many1', $admin)->{json}), [qw(many10 many11 many12)],
          'the name parameter wins over q');

for my $bad ('name', 'name={src', 'name=[a~b~c]', 'name=[~]', 'nope=1',
             'name={}', "name={'' \"\"}", 'public=maybe', 'project_id=x',
             'public=~t')
{
    my $r = pq($bad);
    is($r->{status}, 400, "q=$bad: 400");
    like($r->{json}{errors}[0]{code} // '', qr/^BAD_REQUEST$/,
         "q=$bad: Harbor's error");
}

done_testing;
