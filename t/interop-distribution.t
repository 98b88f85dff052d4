#!/usr/bin/perl

# The module and Debian's docker-registry (CNCF distribution 2.8) read and
# write the same storage tree:
#
#   A. skopeo pushes to docker-registry; the module serves that directory:
#      pulls compare byte for byte, tags lists and catalog agree, a manifest
#      docker-registry deleted stays deleted; then the module pushes into
#      that tree and docker-registry serves what it wrote.
#   B. skopeo pushes to the module (with a delete and a cross-repository
#      copy); docker-registry serves that directory: pulls compare, tags and
#      catalog agree; "docker-registry garbage-collect --dry-run" on it
#      reports no errors, marks every live blob and offers only the deleted
#      image's blobs for deletion.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use Test::More;
use File::Basename ();
use File::Path ();
use HTTP::Tiny;
use JSON::PP ();

use Harbor::Test;
use Harbor::Clients;

my $json = JSON::PP->new->canonical;

sub cmd_ok { Harbor::Clients::cmd_ok(@_) }

my $t = Harbor::Test->new;
my $dir = $t->dir;
my $c = Harbor::Clients->new($dir);

# The images: the same four kinds as clients-skopeo.t, under a prefix.

my %img = (
    oci => $c->mkimage("$dir/src-oci", tag => 'v1', layers => '1k,900k,64',
                       seed => 'interop-oci'),
    docker => $c->mkimage("$dir/src-docker", tag => 'v1', docker => 1,
                          layers => '3k,500k', seed => 'interop-docker'),
    index => $c->mkimage("$dir/src-index", tag => 'v1', multiarch => 1,
                         layers => '2k,200k', seed => 'interop-index'),
    list => $c->mkimage("$dir/src-list", docker => 1, multiarch => 1,
                        format => 'dir', layers => '4k,100k',
                        seed => 'interop-list'),
    gone => $c->mkimage("$dir/src-gone", tag => 'v1', layers => '5k,7k',
                        seed => 'interop-gone'),
    mv1 => $c->mkimage("$dir/src-mv1", tag => 'v1', docker => 1,
                       layers => '3k', seed => 'interop-mv1'),
    mv2 => $c->mkimage("$dir/src-mv2", tag => 'v1', layers => '4k',
                       seed => 'interop-mv2'),
);

my %src = (
    oci    => [ "oci:$dir/src-oci:v1", "$dir/src-oci", 'v1' ],
    docker => [ "oci:$dir/src-docker:v1", "$dir/src-docker", 'v1' ],
    index  => [ "oci:$dir/src-index:v1", "$dir/src-index", 'v1' ],
    list   => [ "dir:$dir/src-list", "$dir/src-list", undef ],
    gone   => [ "oci:$dir/src-gone:v1", "$dir/src-gone", 'v1' ],
    mv1    => [ "oci:$dir/src-mv1:v1", "$dir/src-mv1", 'v1' ],
    mv2    => [ "oci:$dir/src-mv2:v1", "$dir/src-mv2", 'v1' ],
);

my @KINDS = qw(oci docker index list);
my %tag_deleted;


# Push the four images to $prefix/<kind>:v1, docker also as :v2 and under
# a nested name, and "gone" (deleted right after) as $prefix/gone:v1.

sub push_all {
    my ($host, $prefix, $who) = @_;

    for my $k (@KINDS, 'gone') {
        my @all = $k eq 'index' || $k eq 'list' ? ('--all') : ();
        cmd_ok($c->skopeo('copy', @all, '--dest-tls-verify=false',
                          $src{$k}[0], "docker://$host/$prefix/$k:v1"),
               "$who: push $prefix/$k:v1");
    }

    cmd_ok($c->skopeo('copy', '--dest-tls-verify=false', $src{docker}[0],
                      "docker://$host/$prefix/docker:v2"),
           "$who: push $prefix/docker:v2");
    cmd_ok($c->skopeo('copy', '--src-tls-verify=false',
                      '--dest-tls-verify=false',
                      "docker://$host/$prefix/oci:v1",
                      "docker://$host/$prefix/deep/er/oci:v1"),
           "$who: copy to $prefix/deep/er/oci:v1");
    cmd_ok($c->skopeo('delete', '--tls-verify=false',
                      "docker://$host/$prefix/gone:v1"),
           "$who: delete $prefix/gone:v1");

    # A tag that moves: the old revision stays, the tag names the new one.
    for my $k (qw(mv1 mv2)) {
        cmd_ok($c->skopeo('copy', '--dest-tls-verify=false', $src{$k}[0],
                          "docker://$host/$prefix/moving:v1"),
               "$who: push $k as $prefix/moving:v1");
    }

    # An upload started and left, in a repository with nothing else: the
    # other registry must not take it for a repository.
    my $up = HTTP::Tiny->new(timeout => 10)->request('POST',
        "http://$host/v2/$prefix/pending/blobs/uploads/");
    is($up->{status}, 202, "$who: an upload left open in $prefix/pending");

    # A tag deleted alone (DELETE by tag, which distribution 2.8 does not
    # do: only the module's tree gets one), its sibling kept.
    for my $tag (qw(v1 v2)) {
        cmd_ok($c->skopeo('copy', '--dest-tls-verify=false', $src{oci}[0],
                          "docker://$host/$prefix/tagdel:$tag"),
               "$who: push $prefix/tagdel:$tag");
    }

    if ($who eq 'module') {
        my $r = HTTP::Tiny->new(timeout => 10)->request('DELETE',
            "http://$host/v2/$prefix/tagdel/manifests/v2");
        is($r->{status}, 202, "$who: DELETE $prefix/tagdel:v2 (the tag)");
        $tag_deleted{$prefix} = 1;
    }
}


# Pull everything $prefix holds from $host and compare with the sources.

sub pull_all {
    my ($host, $prefix, $who) = @_;
    my %where = (oci => 'oci', docker => 'dir', index => 'oci',
                 list => 'dir');

    for my $k (@KINDS) {
        my @all = $k eq 'index' || $k eq 'list' ? ('--all') : ();
        my $out = "$dir/back-$who-$prefix-$k";
        my $to = $where{$k} eq 'oci' ? "oci:$out:v1" : "dir:$out";

        cmd_ok($c->skopeo('copy', @all, '--src-tls-verify=false',
                          "docker://$host/$prefix/$k:v1", $to),
               "$who: pull $prefix/$k:v1");
        Harbor::Clients::layouts_same($src{$k}[1], $src{$k}[2], $out,
                                      $where{$k} eq 'oci' ? 'v1' : undef,
                                      "$who: $prefix/$k blobs equal");
    }

    my $out = "$dir/back-$who-$prefix-deep";
    cmd_ok($c->skopeo('copy', '--src-tls-verify=false',
                      "docker://$host/$prefix/deep/er/oci:v1", "oci:$out:v1"),
           "$who: pull $prefix/deep/er/oci:v1");
    Harbor::Clients::layouts_same("$dir/src-oci", 'v1', $out, 'v1',
                                  "$who: $prefix/deep/er/oci blobs equal");

    for my $check ([ 'moving', 'v1', 'mv2' ], [ 'moving', $img{mv1}{digest},
                   'mv1' ], [ 'tagdel', 'v1', 'oci' ])
    {
        my ($repo, $ref, $k) = @$check;
        my $r = Harbor::Clients::http_get(
            "http://$host/v2/$prefix/$repo/manifests/$ref",
            Accept => $img{$k}{media_type});
        is($r->{status} == 200 ? Harbor::Clients::sha256_digest($r->{content})
                               : "status $r->{status}",
           $img{$k}{digest}, "$who: $prefix/$repo\@$ref is $k");
    }

    my $r = Harbor::Clients::http_get(
        "http://$host/v2/$prefix/tagdel/manifests/v2",
        Accept => MT_OCI_MANIFEST);
    is($r->{status}, $tag_deleted{$prefix} ? 404 : 200,
       "$who: $prefix/tagdel:v2 " . ($tag_deleted{$prefix} ? 'is gone'
                                                           : 'is there'));

    $r = $c->skopeo('inspect', '--raw', '--tls-verify=false',
                    "docker://$host/$prefix/gone:v1");
    ok(!$r->{ok}, "$who: $prefix/gone:v1 is deleted");
    $r = Harbor::Clients::http_get("http://$host/v2/$prefix/gone/manifests/"
                                   . $img{gone}{digest},
                                   Accept => MT_OCI_MANIFEST);
    is($r->{status}, 404, "$who: $prefix/gone by digest is 404");
}


# Catalog and every tags list, as one structure, read over HTTP.

sub listing {
    my ($host) = @_;
    my %l;

    my $r = Harbor::Clients::http_get("http://$host/v2/_catalog");
    my $cat = eval { $json->decode($r->{content}) } || {};
    $l{_catalog} = $cat->{repositories};

    for my $repo (@{ $cat->{repositories} || [] }) {
        $r = Harbor::Clients::http_get("http://$host/v2/$repo/tags/list");
        my $tl = eval { $json->decode($r->{content}) } || {};
        $l{$repo} = $r->{status} == 200
            ? [ sort @{ $tl->{tags} || [] } ] : "status $r->{status}";
    }

    return \%l;
}


# Each kind's top digest as served over HTTP (HEAD with its media type).

sub heads_ok {
    my ($host, $prefix, $who) = @_;

    for my $k (@KINDS) {
        my $r = HTTP::Tiny->new(timeout => 10)->request('HEAD',
            "http://$host/v2/$prefix/$k/manifests/v1",
            { headers => { Accept => $img{$k}{media_type} } });
        is($r->{headers}{'docker-content-digest'}, $img{$k}{digest},
           "$who: HEAD $prefix/$k:v1 digest");
        is($r->{headers}{'content-type'}, $img{$k}{media_type},
           "$who: HEAD $prefix/$k:v1 type");
    }
}


###############################################################################
# A. distribution writes, the module reads (and then writes, and
#    distribution reads that).

my $d = Harbor::Clients::Distribution->new(root => $t->storage,
                                           dir => "$dir/dist-a")->start;

push_all($d->host, 'a', 'distribution');

# A manifest over 4 MiB, as an older registry could have stored it
# (distribution 2.8.2 refuses to take one, so it is written into its tree
# by hand, in its layout): the module will not serve it.
my $big_digest;
{
    my $m = $json->decode(Harbor::Clients::layout_blob("$dir/src-oci",
                                                       $img{oci}{digest}));
    $m->{annotations} = { 'org.example.pad' => 'x' x (4 * 1024 * 1024 + 10) };
    my $body = $json->encode($m);
    $big_digest = Harbor::Clients::sha256_digest($body);
    (my $hex = $big_digest) =~ s/^sha256://;

    my $v2 = $t->storage . '/docker/registry/v2';
    my $repo = "$v2/repositories/a/oci/_manifests";
    my %files = (
        "$v2/blobs/sha256/" . substr($hex, 0, 2) . "/$hex/data" => $body,
        "$repo/revisions/sha256/$hex/link" => $big_digest,
        "$repo/tags/big/current/link" => $big_digest,
        "$repo/tags/big/index/sha256/$hex/link" => $big_digest,
    );

    for my $f (sort keys %files) {
        File::Path::make_path(File::Basename::dirname($f));
        Harbor::Clients::write_file($f, $files{$f});
    }

    my $r = Harbor::Clients::http_get($d->url . '/v2/a/oci/tags/list');
    like($r->{content}, qr/"big"/, 'distribution: lists the big tag');
}

my $want = listing($d->host);
is_deeply($want->{_catalog},
          [qw(a/deep/er/oci a/docker a/gone a/index a/list a/moving a/oci
              a/tagdel)], 'distribution: catalog');
is_deeply($want->{'a/tagdel'}, [qw(v1 v2)], 'distribution: a/tagdel tags');
is_deeply($want->{'a/docker'}, [qw(v1 v2)], 'distribution: a/docker tags');

$d->stop;

Harbor::Clients::chown_tree('harbor', $t->storage);
$t->run;

my $host = '127.0.0.1:' . $t->port;

pull_all($host, 'a', 'module');
heads_ok($host, 'a', 'module');

for my $ref ('big', $big_digest) {
    my $r = $t->http('GET', "/v2/a/oci/manifests/$ref",
                     headers => { Accept => MT_OCI_MANIFEST });
    is($r->{status}, 404, "module: the 4 MiB + 10 manifest ($ref): 404");
    is($t->error_code($r), 'MANIFEST_UNKNOWN', 'module: MANIFEST_UNKNOWN');
    like($r->{body}, qr/large/i, 'module: the message says it is too large');
}

{
    my $got = listing($host);
    # distribution lists a repository whose only tag was deleted with an
    # empty (or absent) tag list; compare the ones that still have tags.
    for my $repo (sort grep { $_ ne '_catalog' } keys %$want) {
        next if ref $want->{$repo} && !@{ $want->{$repo} };
        is_deeply($got->{$repo}, $want->{$repo}, "module: $repo tags list");
    }
    is_deeply([ grep { $_ ne 'a/gone' } @{ $got->{_catalog} || [] } ],
              [ grep { $_ ne 'a/gone' } @{ $want->{_catalog} } ],
              'module: catalog');

    my $r = cmd_ok($c->skopeo('list-tags', '--tls-verify=false',
                              "docker://$host/a/docker"),
                   'module: skopeo list-tags a/docker');
    my $l = eval { $json->decode($r->{stdout}) } || {};
    is_deeply([ sort @{ $l->{Tags} || [] } ], [qw(v1 v2)],
              'module: a/docker tags via skopeo');
}

# It can still be deleted (distribution's garbage-collect below would stop
# on it: 2.8.2 reads no manifest over 4 MiB either).
{
    my $r = $t->http('DELETE', "/v2/a/oci/manifests/$big_digest");
    is($r->{status}, 202, 'module: DELETE the too large manifest');
    $r = $t->http('GET', '/v2/a/oci/tags/list');
    is_deeply($t->json($r)->{tags}, ['v1'], 'module: its tag went with it');
}

# The module writes into distribution's tree: a new tag (blobs already
# there), a new repository mounting from an old one, and a new image.

cmd_ok($c->skopeo('copy', '--src-tls-verify=false', '--dest-tls-verify=false',
                  "docker://$host/a/index:v1", "docker://$host/a/index:v9",
                  '--all'), 'module: tag a/index:v9');
cmd_ok($c->skopeo('copy', '--src-tls-verify=false', '--dest-tls-verify=false',
                  "docker://$host/a/docker:v1", "docker://$host/a/moved:v1"),
       'module: copy a/docker to a/moved');

my $late = $c->mkimage("$dir/src-late", tag => 'v1', layers => '8k,300k',
                       seed => 'interop-late');
cmd_ok($c->skopeo('copy', '--dest-tls-verify=false', "oci:$dir/src-late:v1",
                  "docker://$host/a/late:v1"), 'module: push a/late:v1');

my $want_a2 = listing($host);

$t->stop;

$d = Harbor::Clients::Distribution->new(root => $t->storage,
                                        dir => "$dir/dist-a2")->start;

{
    my $dh = $d->host;

    cmd_ok($c->skopeo('copy', '--all', '--src-tls-verify=false',
                      "docker://$dh/a/index:v9", "oci:$dir/back-a2-index:v9"),
           'distribution: pull module-written a/index:v9');
    Harbor::Clients::layouts_same("$dir/src-index", 'v1',
                                  "$dir/back-a2-index", 'v9',
                                  'distribution: a/index:v9 blobs equal');

    cmd_ok($c->skopeo('copy', '--src-tls-verify=false',
                      "docker://$dh/a/moved:v1", "dir:$dir/back-a2-moved"),
           'distribution: pull module-written a/moved:v1');
    Harbor::Clients::layouts_same("$dir/src-docker", 'v1',
                                  "$dir/back-a2-moved", undef,
                                  'distribution: a/moved blobs equal');

    cmd_ok($c->skopeo('copy', '--src-tls-verify=false',
                      "docker://$dh/a/late:v1", "oci:$dir/back-a2-late:v1"),
           'distribution: pull module-written a/late:v1');
    Harbor::Clients::layouts_same("$dir/src-late", 'v1',
                                  "$dir/back-a2-late", 'v1',
                                  'distribution: a/late blobs equal');

    my $got = listing($dh);
    for my $repo (qw(a/index a/moved a/late a/docker)) {
        is_deeply($got->{$repo}, $want_a2->{$repo},
                  "distribution: $repo tags list as the module had it");
    }
    is_deeply([ grep { $_ ne 'a/gone' } @{ $got->{_catalog} || [] } ],
              [ grep { $_ ne 'a/gone' } @{ $want_a2->{_catalog} || [] } ],
              'distribution: catalog as the module had it');
}

$d->stop;

# garbage-collect reads the tree both wrote without a complaint.
{
    my $r = $d->garbage_collect('--dry-run');
    cmd_ok($r, 'garbage-collect --dry-run on the shared tree exits 0');
    unlike($r->{out}, qr/\berror\b|\bfailed\b|level=(?:error|fatal)/i,
           'garbage-collect on the shared tree reports no errors')
        or diag($r->{out});
    like($r->{out}, qr/a\/late: marking manifest \Q$late->{digest}\E/,
         'garbage-collect marks the manifest the module pushed');
}

###############################################################################
# B. the module writes, distribution reads.

my $t2 = Harbor::Test->new;
$t2->run;
my $host2 = '127.0.0.1:' . $t2->port;

push_all($host2, 'b', 'module');

# An index whose instances are also tagged on their own, so that deleting
# the index leaves them.
cmd_ok($c->skopeo('copy', '--all', '--dest-tls-verify=false', $src{index}[0],
                  "docker://$host2/b/multi:v1"), 'module: push b/multi:v1');
cmd_ok($c->skopeo('copy', '--src-tls-verify=false', '--dest-tls-verify=false',
                  "docker://$host2/b/multi\@$img{index}{images}[0]{manifest}",
                  "docker://$host2/b/multi:amd64"),
       'module: tag the amd64 instance b/multi:amd64');

my $want_b = listing($host2);
ok(!grep({ $_ eq 'b/pending' } @{ $want_b->{_catalog} || [] }),
   'module: a repository with only an upload is not in the catalog');
is_deeply($want_b->{'b/docker'}, [qw(v1 v2)], 'module: b/docker tags');
is_deeply($want_b->{'b/multi'}, [qw(amd64 v1)], 'module: b/multi tags');
is_deeply($want_b->{'b/tagdel'}, ['v1'], 'module: b/tagdel tags');

$t2->stop;

# distribution's upload purger reads startedat as an RFC 3339 time.
{
    my $ups = $t2->storage . '/docker/registry/v2/repositories/b/pending/'
              . '_uploads';
    opendir(my $dh, $ups);
    my @u = $dh ? grep { !/^\./ } readdir $dh : ();
    is(scalar @u, 1, 'module: the open upload has a directory');
    like(Harbor::Clients::read_file("$ups/$u[0]/startedat") // '',
         qr/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?(?:Z|[+-]\d\d:\d\d)$/,
         'module: its startedat is an RFC 3339 time');
}

$d = Harbor::Clients::Distribution->new(root => $t2->storage,
                                        dir => "$dir/dist-b")->start;

pull_all($d->host, 'b', 'distribution');
heads_ok($d->host, 'b', 'distribution');

{
    my $got = listing($d->host);
    for my $repo (sort grep { $_ ne '_catalog' } keys %$want_b) {
        is_deeply($got->{$repo}, $want_b->{$repo},
                  "distribution: $repo tags list");
    }
    is_deeply([ grep { $_ ne 'b/gone' } @{ $got->{_catalog} || [] } ],
              [ grep { $_ ne 'b/gone' } @{ $want_b->{_catalog} || [] } ],
              'distribution: catalog');
}

# distribution deletes in the module's tree, the module sees it.

cmd_ok($c->skopeo('delete', '--tls-verify=false',
                  "docker://" . $d->host . "/b/docker:v2"),
       'distribution: delete b/docker (v1 and v2)');

$d->stop;

# garbage-collect on the module-written tree: no errors, every blob of a
# live manifest marked, and only unreferenced blobs eligible: those of the
# "gone" image and of the docker image just deleted (only b/docker held it).

{
    my $r = $d->garbage_collect('--dry-run');
    cmd_ok($r, 'garbage-collect --dry-run exits 0');
    unlike($r->{out}, qr/\berror\b|\bfailed\b|level=(?:error|fatal)/i,
           'garbage-collect reports no errors') or diag($r->{out});

    my %marked = map { $_ => 1 }
        $r->{out} =~ /marking (?:blob|manifest) (sha256:[0-9a-f]{64})/g;
    my %eligible = map { $_ => 1 }
        $r->{out} =~ /blob eligible for deletion: (sha256:[0-9a-f]{64})/g;

    # (mv1 is untagged in b/moving, but garbage-collect without
    # --delete-untagged keeps every revision.)
    my @live;
    for my $k (qw(oci index list mv1 mv2)) {
        push @live, Harbor::Clients::layout_closure($src{$k}[1],
            Harbor::Clients::layout_ref($src{$k}[1], $src{$k}[2]));
    }
    my @missing = grep { !$marked{$_} } @live;
    ok(@live && !@missing, 'garbage-collect marks every live blob ('
                           . scalar(@live) . ')')
        or diag("not marked: @missing");

    my @dead = Harbor::Clients::layout_closure($src{gone}[1],
        Harbor::Clients::layout_ref($src{gone}[1], 'v1'));
    push @dead, Harbor::Clients::layout_closure($src{docker}[1],
        Harbor::Clients::layout_ref($src{docker}[1], 'v1'));

    is_deeply([ sort keys %eligible ], [ sort @dead ],
              'garbage-collect offers exactly the deleted images\' blobs');
}

# The module serves the tree distribution deleted in.

$t2->run;
{
    my $r = $t2->http('GET', '/v2/b/docker/manifests/v1',
                      headers => { Accept => MT_DOCKER_V2 });
    is($r->{status}, 404, 'module: b/docker:v1 deleted by distribution');
    $r = $t2->http('GET', '/v2/b/oci/manifests/v1',
                   headers => { Accept => MT_OCI_MANIFEST });
    is($r->{status}, 200, 'module: b/oci:v1 still there');
    is(Harbor::Clients::sha256_digest($r->{body}), $img{oci}{digest},
       'module: b/oci:v1 digest');
}
$t2->stop;

$c->cleanup;

done_testing;
