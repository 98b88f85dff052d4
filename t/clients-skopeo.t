#!/usr/bin/perl

# skopeo against the module: push OCI and docker schema2 images with several
# layers, an OCI index and a docker manifest list (--all), read them back
# raw and by copying them out, and compare every blob byte for byte; copy
# between repositories, sync, list tags (past one page), delete; push one
# image four times at once through two workers.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use Test::More;
use JSON::PP ();

use Harbor::Test;
use Harbor::Clients qw();

my $json = JSON::PP->new->canonical;

# Two workers: concurrent pushes below land in different processes.
my $t = Harbor::Test->new;
$t->run(workers => 2);

my $c = Harbor::Clients->new($t->dir);
my $host = '127.0.0.1:' . $t->port;
my $dir = $t->dir;

my @TLS_DST = ('--dest-tls-verify=false');
my @TLS_SRC = ('--src-tls-verify=false');

# Four sources: an OCI image (3 layers, one of 24 MiB so that an upload
# and a download take many reads and writes) and a docker schema2 image,
# an OCI index of two platforms, a docker manifest list (dir: layout, see
# mkimage).

my %img = (
    oci => $c->mkimage("$dir/src-oci", tag => 'v1', layers => '1k,24M,100',
                       files => 3, seed => 'oci'),
    docker => $c->mkimage("$dir/src-docker", tag => 'v1', docker => 1,
                          layers => '2k,700k', seed => 'docker'),
    index => $c->mkimage("$dir/src-index", tag => 'v1', multiarch => 1,
                         layers => '5k,300k', seed => 'index'),
    list => $c->mkimage("$dir/src-list", docker => 1, multiarch => 1,
                        format => 'dir', layers => '6k,200k', seed => 'list'),
);

my %src = (
    oci    => "oci:$dir/src-oci:v1",
    docker => "oci:$dir/src-docker:v1",
    index  => "oci:$dir/src-index:v1",
    list   => "dir:$dir/src-list",
);

# Where each comes back to: docker media types only survive a dir: layout.
my %back = (
    oci    => [ "oci:$dir/back-oci:v1", "$dir/back-oci", 'v1' ],
    docker => [ "dir:$dir/back-docker", "$dir/back-docker", undef ],
    index  => [ "oci:$dir/back-index:v1", "$dir/back-index", 'v1' ],
    list   => [ "dir:$dir/back-list", "$dir/back-list", undef ],
);

my %srcdir = (
    oci => [ "$dir/src-oci", 'v1' ], docker => [ "$dir/src-docker", 'v1' ],
    index => [ "$dir/src-index", 'v1' ], list => [ "$dir/src-list", undef ],
);

for my $k (qw(oci docker index list)) {
    my $i = $img{$k};
    my $ref = "docker://$host/skopeo/$k:v1";
    my @all = $k eq 'index' || $k eq 'list' ? ('--all') : ();

    Harbor::Clients::cmd_ok($c->skopeo('copy', @all, @TLS_DST, $src{$k}, $ref),
                            "$k: push");

    # The manifest comes back as it was sent: same bytes, type, digest.

    my $r = $c->skopeo('inspect', '--raw', '--tls-verify=false', $ref);
    Harbor::Clients::cmd_ok($r, "$k: inspect --raw");
    is(Harbor::Clients::sha256_digest($r->{stdout}), $i->{digest},
       "$k: raw manifest has the pushed digest");

    my $h = $t->http('HEAD', "/v2/skopeo/$k/manifests/v1",
                     headers => { Accept => $i->{media_type} });
    is($h->{status}, 200, "$k: HEAD manifest by tag");
    is($h->{headers}{'docker-content-digest'}, $i->{digest},
       "$k: Docker-Content-Digest");
    is($h->{headers}{'content-type'}, $i->{media_type}, "$k: Content-Type");

    # inspect (not raw) reads the config of the amd64 image of a list, and
    # names the digest of what the tag points at.

    $r = $c->skopeo('inspect', '--tls-verify=false', $ref);
    Harbor::Clients::cmd_ok($r, "$k: inspect");
    my $info = eval { $json->decode($r->{stdout}) } || {};
    is($info->{Digest}, $i->{digest}, "$k: inspect digest");
    is_deeply($info->{Layers}, $i->{images}[0]{layers}, "$k: inspect layers");
    is($info->{Architecture}, 'amd64', "$k: inspect architecture");

    # Copy it out and compare every blob.

    my ($to, $bdir, $btag) = @{ $back{$k} };
    Harbor::Clients::cmd_ok($c->skopeo('copy', @all, @TLS_SRC, $ref, $to),
                            "$k: pull");
    Harbor::Clients::layouts_same(@{ $srcdir{$k} }, $bdir, $btag,
                                  "$k: pulled blobs equal pushed blobs");

    # Every instance of a list can be fetched by digest.

    for my $m (@{ $i->{images} }) {
        my $arch = $m->{platform}{architecture};
        $r = $c->skopeo('inspect', '--raw', '--tls-verify=false',
                        "docker://$host/skopeo/$k\@$m->{manifest}");
        Harbor::Clients::cmd_ok($r, "$k: $arch manifest by digest");
        is(Harbor::Clients::sha256_digest($r->{stdout}), $m->{manifest},
           "$k: $arch manifest bytes");
    }
}

# A single platform out of the index, by --override-arch.

{
    my $r = $c->skopeo('--override-arch', 'arm64', '--override-variant', 'v8',
                       'copy', @TLS_SRC, "docker://$host/skopeo/index:v1",
                       "oci:$dir/back-arm64:v1");
    Harbor::Clients::cmd_ok($r, 'index: pull the arm64 image alone');
    is(Harbor::Clients::layout_ref("$dir/back-arm64", 'v1'),
       $img{index}{images}[1]{manifest}, 'index: arm64 manifest chosen');
    Harbor::Clients::layouts_same("$dir/src-index",
                                  $img{index}{images}[1]{manifest},
                                  "$dir/back-arm64", 'v1',
                                  'index: arm64 blobs');
}

# Registry to registry: a second tag in the same repository, and the same
# image in another repository (blobs reused or mounted, not re-sent whole).

Harbor::Clients::cmd_ok(
    $c->skopeo('copy', @TLS_SRC, @TLS_DST, "docker://$host/skopeo/oci:v1",
               "docker://$host/skopeo/oci:v2"), 'oci: copy to tag v2');
Harbor::Clients::cmd_ok(
    $c->skopeo('copy', @TLS_SRC, @TLS_DST, "docker://$host/skopeo/oci:v1",
               "docker://$host/skopeo/copy/nested:v1"),
    'oci: copy to another repository');

{
    my $r = $c->skopeo('inspect', '--raw', '--tls-verify=false',
                       "docker://$host/skopeo/copy/nested:v1");
    is(Harbor::Clients::sha256_digest($r->{stdout}), $img{oci}{digest},
       'copied repository has the same manifest');

    Harbor::Clients::cmd_ok(
        $c->skopeo('copy', @TLS_SRC, "docker://$host/skopeo/copy/nested:v1",
                   "oci:$dir/back-nested:v1"), 'pull the copy');
    Harbor::Clients::layouts_same("$dir/src-oci", 'v1', "$dir/back-nested",
                                  'v1', 'copied repository blobs');
}

# skopeo sync mirrors every tag of a repository (tags list, then each
# manifest and its blobs), registry to registry.

Harbor::Clients::cmd_ok(
    $c->skopeo('sync', '--all', '--src', 'docker', '--dest', 'docker',
               '--src-tls-verify=false', '--dest-tls-verify=false',
               "$host/skopeo/index", "$host/mirror"), 'sync skopeo/index');

{
    my $r = $c->skopeo('inspect', '--raw', '--tls-verify=false',
                       "docker://$host/mirror/index:v1");
    is(Harbor::Clients::sha256_digest($r->{stdout}), $img{index}{digest},
       'synced index has the same digest');
    Harbor::Clients::cmd_ok(
        $c->skopeo('copy', '--all', @TLS_SRC, "docker://$host/mirror/index:v1",
                   "oci:$dir/back-mirror:v1"), 'pull the mirror');
    Harbor::Clients::layouts_same("$dir/src-index", 'v1', "$dir/back-mirror",
                                  'v1', 'mirror blobs');
}

# A different image under a third tag, so the repository keeps a tag after
# the delete below.

Harbor::Clients::cmd_ok(
    $c->skopeo('copy', @TLS_DST, $src{docker}, "docker://$host/skopeo/oci:v3"),
    'docker image as skopeo/oci:v3');

sub tags {
    my ($repo) = @_;
    my $r = $c->skopeo('list-tags', '--tls-verify=false',
                       "docker://$host/$repo");
    Harbor::Clients::cmd_ok($r, "list-tags $repo");
    my $l = eval { $json->decode($r->{stdout}) } || {};
    return [ sort @{ $l->{Tags} || [] } ];
}

is_deeply(tags('skopeo/oci'), [qw(v1 v2 v3)], 'list-tags: three tags');
is_deeply(tags('skopeo/index'), ['v1'], 'list-tags: index repository');
is_deeply(tags('skopeo/copy/nested'), ['v1'], 'list-tags: nested name');

{
    my $r = $t->http('GET', '/v2/_catalog');
    is($r->{status}, 200, 'catalog');
    my $cat = eval { $json->decode($r->{body}) } || {};
    is_deeply($cat->{repositories},
              [qw(mirror/index skopeo/copy/nested skopeo/docker skopeo/index
                  skopeo/list skopeo/oci)],
              'catalog lists the pushed repositories');
}

# skopeo delete resolves the tag and deletes the manifest by digest, which
# takes every tag naming it (v1 and v2), not v3.

Harbor::Clients::cmd_ok(
    $c->skopeo('delete', '--tls-verify=false', "docker://$host/skopeo/oci:v2"),
    'delete skopeo/oci:v2');

is_deeply(tags('skopeo/oci'), ['v3'], 'list-tags after delete: v3 left');

{
    my $r = $c->skopeo('inspect', '--raw', '--tls-verify=false',
                       "docker://$host/skopeo/oci:v1");
    ok(!$r->{ok}, 'deleted manifest cannot be read by its other tag');
    like($r->{out}, qr/manifest unknown|not found/i, 'error says unknown')
        or diag($r->{out});

    my $h = $t->http('GET', "/v2/skopeo/oci/manifests/$img{oci}{digest}");
    is($h->{status}, 404, 'deleted manifest by digest: 404');

    $r = $c->skopeo('inspect', '--raw', '--tls-verify=false',
                    "docker://$host/skopeo/oci:v3");
    is(Harbor::Clients::sha256_digest($r->{stdout}), $img{docker}{digest},
       'v3 still there');

    $r = $c->skopeo('inspect', '--raw', '--tls-verify=false',
                    "docker://$host/skopeo/copy/nested:v1");
    is(Harbor::Clients::sha256_digest($r->{stdout}), $img{oci}{digest},
       'the copy in the other repository is untouched');
}

# Deleting an index by digest leaves its instances readable by digest.

Harbor::Clients::cmd_ok(
    $c->skopeo('delete', '--tls-verify=false',
               "docker://$host/skopeo/index\@$img{index}{digest}"),
    'delete the index by digest');

{
    my $r = $t->http('GET', '/v2/skopeo/index/manifests/v1');
    is($r->{status}, 404, 'index tag gone');
    $r = $t->http('HEAD', "/v2/skopeo/index/manifests/"
                          . $img{index}{images}[0]{manifest},
                  headers => { Accept => MT_OCI_MANIFEST });
    is($r->{status}, 200, 'an instance stays');
}

{
    my $r = $c->skopeo('list-tags', '--tls-verify=false',
                       "docker://$host/skopeo/nothing-here");
    ok(!$r->{ok}, 'list-tags of an unknown repository fails');
}

# Concurrent pushes of one new image: two to the same repository and tag,
# two to other repositories, through two workers.  Every push succeeds and
# every copy reads back whole.

{
    my $race = $c->mkimage("$dir/src-race", tag => 'v1', layers => '4M,1M,2k',
                           seed => 'race');
    my @dest = map { "docker://$host/$_" }
               qw(race/same:v1 race/same:v1 race/other:v1 race/third:v1);
    my @h = map { $c->skopeo_bg('copy', @TLS_DST, "oci:$dir/src-race:v1", $_) }
            @dest;
    my @r = map { Harbor::Clients::reap_cmd($_) } @h;

    Harbor::Clients::cmd_ok($r[$_], "concurrent push $_ to $dest[$_]")
        for 0 .. $#r;

    for my $repo (qw(race/same race/other race/third)) {
        (my $slug = $repo) =~ s{/}{-}g;
        Harbor::Clients::cmd_ok(
            $c->skopeo('copy', @TLS_SRC, "docker://$host/$repo:v1",
                       "oci:$dir/back-$slug:v1"), "pull $repo");
        Harbor::Clients::layouts_same("$dir/src-race", 'v1',
                                      "$dir/back-$slug", 'v1',
                                      "$repo blobs after concurrent pushes");
    }

    is_deeply(tags('race/same'), ['v1'], 'one tag after two pushes of it');
}

# More tags than one page: skopeo follows the Link header to the end.

{
    my $m = Harbor::Clients::layout_blob("$dir/src-oci", $img{oci}{digest});
    my @tags = map { sprintf 't%04d', $_ } 0 .. 1099;

    Harbor::Clients::cmd_ok(
        $c->skopeo('copy', @TLS_DST, $src{oci},
                   "docker://$host/skopeo/many:$tags[0]"), 'push skopeo/many');

    my (@bad, $first);
    for my $tag (@tags[1 .. $#tags]) {
        my $r = $t->http('PUT', "/v2/skopeo/many/manifests/$tag", body => $m,
                         headers => { 'Content-Type' => MT_OCI_MANIFEST });
        next if $r->{status} == 201;
        push @bad, "$tag:$r->{status}";
        $first //= "$tag: $r->{status} $r->{body} " . ($r->{error} // '');
    }
    is(scalar @bad, 0, 'tagged 1100 times')
        or diag("first failure $first\n",
                "@bad[0 .. ($#bad > 20 ? 20 : $#bad)]");

    is_deeply(tags('skopeo/many'), \@tags, 'list-tags returns all 1100 tags');
}

$t->stop;
$c->cleanup;

done_testing;
