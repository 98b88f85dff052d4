#!/usr/bin/perl

# podman (rootful, vfs storage, all state in the test's dir) against the
# module: pull an image that skopeo pushed, push it under other names (OCI
# and docker schema2), pull those back into empty storage, and check that
# config and layer contents survive: image IDs, diff IDs, config bytes, and
# an oci-archive saved from a pulled copy.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use Test::More;
use Archive::Tar;
use IO::Uncompress::Gunzip qw(gunzip);
use JSON::PP ();

use Harbor::Test;
use Harbor::Clients;

my $json = JSON::PP->new->canonical;

my $t = Harbor::Test->new;
$t->run;

my $c = Harbor::Clients->new($t->dir);
my $host = '127.0.0.1:' . $t->port;
my $dir = $t->dir;

sub cmd_ok { Harbor::Clients::cmd_ok(@_) }

sub podman_json {
    my ($name, @args) = @_;
    my $r = cmd_ok($c->podman(@args), $name);
    return eval { $json->decode($r->{stdout}) };
}

my $img = $c->mkimage("$dir/src", tag => 'v1', layers => '3k,1500k,10',
                      files => 2, seed => 'podman',
                      labels => [ 'org.example.test=podman' ]);
my $src = $img->{images}[0];
my $config = Harbor::Clients::layout_blob("$dir/src", $src->{config});
(my $image_id = $src->{config}) =~ s/^sha256://;

cmd_ok($c->skopeo('copy', '--dest-tls-verify=false', "oci:$dir/src:v1",
                  "docker://$host/podman/src:v1"), 'skopeo push');

# Pull by tag and by digest.

cmd_ok($c->podman('pull', '--tls-verify=false', "$host/podman/src:v1"),
       'podman pull by tag');

my $ins = podman_json('image inspect', 'image', 'inspect',
                      "$host/podman/src:v1");
my $i = $ins->[0] || {};

is($i->{Id}, $image_id, 'image ID is the config digest');
is($i->{Digest}, $img->{digest}, 'image digest is the manifest digest');
is_deeply($i->{RootFS}{Layers}, $src->{diff_ids}, 'layer diff IDs');
is($i->{Labels}{'org.example.test'}, 'podman', 'config label');
ok((grep { $_ eq "$host/podman/src\@$img->{digest}" }
    @{ $i->{RepoDigests} || [] }), 'RepoDigests names the registry digest')
    or diag(explain($i->{RepoDigests}));

cmd_ok($c->podman('pull', '--tls-verify=false',
                  "$host/podman/src\@$img->{digest}"), 'podman pull by digest');

$ins = podman_json('inspect by digest', 'image', 'inspect',
                   "$host/podman/src\@$img->{digest}");
is($ins->[0]{Id}, $image_id, 'same image by digest');

# Push under other names: as stored (OCI), docker schema2, and OCI again
# under a nested name.  Layers are whatever podman sends: the blobs it
# pulled (reused or mounted) or new gzip streams; either way they must
# unpack to the same diff IDs.

my %pushed;
my %push = (
    'podman/copy:v2'        => [],
    'podman/docker:v1'      => [ '--format', 'v2s2' ],
    'podman/deep/nested:v1' => [ '--format', 'oci' ],
);

for my $name (sort keys %push) {
    cmd_ok($c->podman('push', '--tls-verify=false', @{ $push{$name} },
                      "$host/podman/src:v1", "docker://$host/$name"),
           "podman push $name");

    my $r = cmd_ok($c->skopeo('inspect', '--raw', '--tls-verify=false',
                              "docker://$host/$name"), "inspect $name");
    my $m = eval { $json->decode($r->{stdout}) } || {};
    $pushed{$name} = { raw => $r->{stdout}, m => $m };

    my ($repo, $tag) = split /:/, $name;
    my $h = $t->http('GET', "/v2/$repo/manifests/$tag",
                     headers => { Accept => $m->{mediaType} // '*/*' });
    is($h->{status}, 200, "$name: GET manifest");
    is($h->{body}, $r->{stdout}, "$name: same bytes over plain HTTP");
    is($h->{headers}{'docker-content-digest'},
       Harbor::Clients::sha256_digest($h->{body}), "$name: digest header");

    is($m->{config}{digest}, $src->{config}, "$name: same config digest");
    is(scalar @{ $m->{layers} || [] }, scalar @{ $src->{layers} },
       "$name: layer count");

    # The config the registry serves is the original, byte for byte.
    $h = $t->http('GET', "/v2/$repo/blobs/$src->{config}");
    ok($h->{status} == 200 && $h->{body} eq $config, "$name: config bytes");

    # Every layer the registry serves unpacks to the original tar.
    my $n = 0;
    for my $l (@{ $m->{layers} || [] }) {
        my $b = $t->http('GET', "/v2/$repo/blobs/$l->{digest}",
                         timeout => 30);
        my $diff = unpack_layer($l->{mediaType}, $b->{body});
        is(Harbor::Clients::sha256_digest($b->{body}), $l->{digest},
           "$name: layer $n digest");
        is(defined $diff ? Harbor::Clients::sha256_digest($diff) : 'none',
           $src->{diff_ids}[$n], "$name: layer $n content ($l->{mediaType})");
        $n++;
    }
}

like($pushed{'podman/docker:v1'}{m}{mediaType}, qr/docker.*manifest\.v2/,
     'v2s2 push is a docker schema2 manifest');
like($pushed{'podman/deep/nested:v1'}{m}{mediaType}, qr/oci\.image\.manifest/,
     '--format oci push is an OCI manifest');

# Pull each pushed copy back into empty storage.

for my $name (sort keys %push) {
    cmd_ok($c->podman('rmi', '-a', '-f'), "$name: empty the local storage");

    my $r = cmd_ok($c->podman('images', '-q'), "$name: list local images");
    is($r->{stdout}, '', "$name: no local images left");

    cmd_ok($c->podman('pull', '--tls-verify=false', "$host/$name"),
           "$name: pull back");
    my $in = podman_json("$name: inspect", 'image', 'inspect', "$host/$name");
    is($in->[0]{Id}, $image_id, "$name: same image ID");
    is_deeply($in->[0]{RootFS}{Layers}, $src->{diff_ids},
              "$name: same diff IDs");
    is($in->[0]{Digest},
       Harbor::Clients::sha256_digest($pushed{$name}{raw}),
       "$name: digest is the pushed manifest's");
}

# Save a pulled OCI copy as an OCI archive: the config is the original
# bytes and each layer (as podman stores it) hashes to its diff ID.

cmd_ok($c->podman('rmi', '-a', '-f'), 'empty the local storage');
cmd_ok($c->podman('pull', '--tls-verify=false', "$host/podman/copy:v2"),
       'pull podman/copy:v2');
cmd_ok($c->podman('save', '--format', 'oci-archive', '-o', "$dir/saved.tar",
                  "$host/podman/copy:v2"), 'podman save oci-archive');

{
    my $tar = Archive::Tar->new("$dir/saved.tar");
    ok($tar, 'read the archive');
    my %f = map { $_->name => $_ } $tar ? $tar->get_files : ();
    my $blob = sub {
        my ($d) = @_;
        (my $p = $d) =~ s{^sha256:}{blobs/sha256/};
        return $f{$p} ? $f{$p}->get_content : undef;
    };

    my $index = eval { $json->decode($f{'index.json'}->get_content) } || {};
    my $md = $index->{manifests}[0]{digest} // '';
    my $m = eval { $json->decode($blob->($md)) } || {};

    is($m->{config}{digest}, $src->{config}, 'archive: config digest');
    is($blob->($src->{config}), $config, 'archive: config bytes');

    my $n = 0;
    for my $l (@{ $m->{layers} || [] }) {
        my $data = $blob->($l->{digest});
        my $diff = unpack_layer($l->{mediaType}, $data);
        is(defined $diff ? Harbor::Clients::sha256_digest($diff) : 'none',
           $src->{diff_ids}[$n], "archive: layer $n content");
        $n++;
    }
    is($n, scalar @{ $src->{diff_ids} }, 'archive: every layer');
}

# A multi-platform index: podman picks the instance for --arch.

{
    my $idx = $c->mkimage("$dir/src-index", tag => 'v1', multiarch => 1,
                          layers => '1k,50k', seed => 'podman-index');
    cmd_ok($c->skopeo('copy', '--all', '--dest-tls-verify=false',
                      "oci:$dir/src-index:v1",
                      "docker://$host/podman/multi:v1"),
           'skopeo push an index');

    for my $n (0, 1) {
        my $want = $idx->{images}[$n];
        my $arch = $want->{platform}{architecture};
        cmd_ok($c->podman('rmi', '-a', '-f'), "$arch: empty the storage");
        cmd_ok($c->podman('pull', '--tls-verify=false', '--arch', $arch,
                          "$host/podman/multi:v1"), "$arch: pull from index");
        my $in = podman_json("$arch: inspect", 'image', 'inspect',
                             "$host/podman/multi:v1");
        (my $id = $want->{config}) =~ s/^sha256://;
        is($in->[0]{Id}, $id, "$arch: the $arch image");
        is($in->[0]{Architecture}, $arch, "$arch: architecture");
        is_deeply($in->[0]{RootFS}{Layers}, $want->{diff_ids},
                  "$arch: diff IDs");
    }
}

# The catalog and tag list, as podman reads them.

{
    my $r = cmd_ok($c->podman('search', '--tls-verify=false', '--format',
                              '{{.Name}}', "$host/podman"), 'podman search');
    my @names = sort grep { length } split /\n/, $r->{stdout};
    is_deeply(\@names, [ map { "$host/$_" }
                         qw(podman/copy podman/deep/nested podman/docker
                            podman/multi podman/src) ],
              'search finds the repositories');

    cmd_ok($c->skopeo('copy', '--dest-tls-verify=false', "oci:$dir/src:v1",
                      "docker://$host/podman/src:v1.1"), 'another tag');

    $r = cmd_ok($c->podman('search', '--tls-verify=false', '--list-tags',
                           '--format', 'json', "$host/podman/src"),
                'podman search --list-tags');
    my $l = eval { $json->decode($r->{stdout}) } || [];
    is_deeply([ sort @{ $l->[0]{Tags} || [] } ], [qw(v1 v1.1)],
              'tags of podman/src');
}

# A pull of something that is not there fails cleanly.

{
    my $r = $c->podman('pull', '--tls-verify=false', "$host/podman/src:nope");
    ok(!$r->{ok}, 'pull of an unknown tag fails');
    like($r->{out}, qr/manifest unknown|not found/i, 'and says why');
}

cmd_ok($c->podman('rmi', '-a', '-f'), 'remove local images at the end');

$t->stop;
$c->cleanup;

done_testing;


# A layer blob as the uncompressed tar, or undef.

sub unpack_layer {
    my ($mt, $data) = @_;

    return undef unless defined $data;
    return $data if $mt =~ /tar$/;

    if ($mt =~ /gzip/) {
        my $out;
        gunzip(\$data => \$out) or return undef;
        return $out;
    }

    return undef;
}
