#!/usr/bin/perl

# buildah (vfs storage, all state in the test's dir) against the module:
# pull a base image, add a layer with a random file, commit, push (OCI and
# docker schema2, and commit straight to the registry from an oci: base),
# then pull the results back with skopeo and buildah and check every layer:
# the base layers unpack to the base's diff IDs, the new layer holds the
# file byte for byte, the config names them all.

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

my $base = $c->mkimage("$dir/base", tag => 'v1', layers => '2k,400k',
                       seed => 'buildah');
my $bimg = $base->{images}[0];

cmd_ok($c->skopeo('copy', '--dest-tls-verify=false', "oci:$dir/base:v1",
                  "docker://$host/buildah/base:v1"), 'push the base image');

# A file of random bytes to add (seeded, so a failure can be replayed).

srand(20261128);
my $payload = join '', map { chr int rand 256 } 1 .. 300_000;
Harbor::Clients::write_file("$dir/new.bin", $payload);

# 1. buildah pull from the registry, from, add, commit, push.

cmd_ok($c->buildah('pull', '--tls-verify=false', "$host/buildah/base:v1"),
       'buildah pull');

my $r = cmd_ok($c->buildah('from', '--pull-never', "$host/buildah/base:v1"),
               'buildah from the pulled image');
(my $ctr = $r->{stdout}) =~ s/\s+\z//;
ok($ctr ne '', "working container $ctr");

cmd_ok($c->buildah('add', $ctr, "$dir/new.bin", '/harbor/new.bin'),
       'buildah add a file');
cmd_ok($c->buildah('config', '--label', 'org.example.built=yes', $ctr),
       'buildah config label');
cmd_ok($c->buildah('commit', '--format', 'oci', $ctr, 'localhost/built:v1'),
       'buildah commit');

cmd_ok($c->buildah('push', '--tls-verify=false', 'localhost/built:v1',
                   "docker://$host/buildah/built:v1"), 'buildah push (OCI)');
cmd_ok($c->buildah('push', '--tls-verify=false', '--format', 'v2s2',
                   'localhost/built:v1',
                   "docker://$host/buildah/built-docker:v1"),
       'buildah push (docker schema2)');

check_built('buildah/built:v1', qr/^application\/vnd\.oci\.image\.manifest/);
check_built('buildah/built-docker:v1', qr/docker\.distribution\.manifest\.v2/);

# 2. from an oci: layout, commit straight to the registry.

# buildah names the image after the layout's path, which must then be a
# valid (lowercase) reference: give a relative one.
$r = cmd_ok($c->run([ 'buildah', $c->storage_args, 'from', 'oci:base:v1' ],
                    cwd => $dir), 'buildah from oci:');
(my $ctr2 = $r->{stdout}) =~ s/\s+\z//;

cmd_ok($c->buildah('add', $ctr2, "$dir/new.bin", '/harbor/new.bin'),
       'add the file again');
cmd_ok($c->buildah('commit', '--tls-verify=false', '--format', 'oci', $ctr2,
                   "docker://$host/buildah/direct:v1"),
       'buildah commit to docker://');

check_built('buildah/direct:v1', qr/^application\/vnd\.oci\.image\.manifest/);

# 3. buildah manifest: a list of two local images (one marked arm64),
#    pushed with --all, read back whole.

cmd_ok($c->buildah('manifest', 'create', 'localhost/multi:v1'),
       'buildah manifest create');
cmd_ok($c->buildah('manifest', 'add', 'localhost/multi:v1',
                   'containers-storage:localhost/built:v1'),
       'manifest add the built image');
cmd_ok($c->buildah('manifest', 'add', '--arch', 'arm64', '--variant', 'v8',
                   'localhost/multi:v1',
                   "containers-storage:$host/buildah/base:v1"),
       'manifest add the base image as arm64');
cmd_ok($c->buildah('manifest', 'push', '--all', '--tls-verify=false',
                   'localhost/multi:v1', "docker://$host/buildah/multi:v1"),
       'buildah manifest push --all');

{
    my $r = cmd_ok($c->skopeo('inspect', '--raw', '--tls-verify=false',
                              "docker://$host/buildah/multi:v1"),
                   'inspect the pushed list');
    my $l = eval { $json->decode($r->{stdout}) } || {};
    my @m = @{ $l->{manifests} || [] };

    is(scalar @m, 2, 'the list has two instances');
    is_deeply([ sort map { $_->{platform}{architecture} } @m ],
              [qw(amd64 arm64)], 'with their platforms');

    cmd_ok($c->skopeo('copy', '--all', '--src-tls-verify=false',
                      "docker://$host/buildah/multi:v1",
                      "oci:$dir/back-multi:v1"), 'pull the list with --all');
    my $top = Harbor::Clients::layout_ref("$dir/back-multi", 'v1');
    is($top, Harbor::Clients::sha256_digest($r->{stdout}),
       'pulled list has the pushed digest');

    # Every manifest, config and layer came back and hashes to its name.
    Harbor::Clients::layouts_same("$dir/back-multi", 'v1', "$dir/back-multi",
                                  'v1', 'every blob of the list present');
    my @blobs = Harbor::Clients::layout_closure("$dir/back-multi", $top);
    # The built image shares the base's two layers.
    is(scalar @blobs, 1 + 2 + 2 + 3,
       'list, 2 manifests, 2 configs, 3 distinct layers');

    my $base_m = $m[1]{platform}{architecture} eq 'arm64' ? $m[1] : $m[0];
    my $h = $t->http('GET', "/v2/buildah/multi/manifests/$base_m->{digest}",
                     headers => { Accept => $base_m->{mediaType} });
    my $bm = eval { $json->decode($h->{body}) } || {};
    is($bm->{config}{digest}, $bimg->{config},
       'the arm64 entry is the base image (same config)');
}

# 4. buildah pulls its own push back into empty storage.

cmd_ok($c->buildah('rm', '--all'), 'remove working containers');
cmd_ok($c->buildah('rmi', '--all', '--force'), 'remove local images');

{
    my $l = cmd_ok($c->buildah('images', '-q'), 'list local images');
    is($l->{stdout}, '', 'local storage empty');
}

{
    my $raw = $c->skopeo('inspect', '--raw', '--tls-verify=false',
                         "docker://$host/buildah/built:v1")->{stdout};
    my $digest = Harbor::Clients::sha256_digest($raw);
    my $m = eval { $json->decode($raw) } || {};

    cmd_ok($c->buildah('pull', '--tls-verify=false',
                       "$host/buildah/built\@$digest"), 'pull back by digest');

    my $i = cmd_ok($c->buildah('inspect', '--type', 'image',
                               "$host/buildah/built\@$digest"),
                   'buildah inspect');
    my $info = eval { $json->decode($i->{stdout}) } || {};
    (my $id = $m->{config}{digest} // '') =~ s/^sha256://;
    is($info->{FromImageID}, $id, 'image ID is the pushed config digest');
    is($info->{FromImageDigest}, $digest, 'image digest is the pushed one');

    # And builds on it: one more layer, pushed to a nested name.
    $r = cmd_ok($c->buildah('from', '--pull-never',
                            "$host/buildah/built\@$digest"), 'from it');
    (my $ctr3 = $r->{stdout}) =~ s/\s+\z//;
    cmd_ok($c->buildah('config', '--label', 'org.example.layer=3', $ctr3),
           'config');
    cmd_ok($c->buildah('commit', '--tls-verify=false', $ctr3,
                       "docker://$host/buildah/nested/again:v1"),
           'commit to a nested repository');

    my $again = $c->skopeo('inspect', '--raw', '--tls-verify=false',
                           "docker://$host/buildah/nested/again:v1");
    my $m2 = eval { $json->decode($again->{stdout}) } || {};
    my @l1 = map { $_->{digest} } @{ $m->{layers} || [] };
    my @l2 = map { $_->{digest} } @{ $m2->{layers} || [] };
    is_deeply([ @l2[0 .. $#l1] ], \@l1,
              'the layers below are the same blobs');
    isnt($m2->{config}{digest}, $m->{config}{digest}, 'with a new config');
}

{
    my $tags = cmd_ok($c->skopeo('list-tags', '--tls-verify=false',
                                 "docker://$host/buildah/built"), 'list-tags');
    my $l = eval { $json->decode($tags->{stdout}) } || {};
    is_deeply($l->{Tags}, ['v1'], 'buildah/built has v1');
}

cmd_ok($c->buildah('rm', '--all'), 'remove working containers at the end');
cmd_ok($c->buildah('rmi', '--all', '--force'), 'remove images at the end');

$t->stop;
$c->cleanup;

done_testing;


# Pull $name back with skopeo to an oci: layout and check it is the base
# plus one layer holding new.bin.

sub check_built {
    my ($name, $mt_re) = @_;
    (my $slug = $name) =~ s{[/:]}{-}g;
    my $out = "$dir/back-$slug";

    cmd_ok($c->skopeo('copy', '--src-tls-verify=false', "docker://$host/$name",
                      ($name =~ /docker/ ? "dir:$out" : "oci:$out:v1")),
           "$name: skopeo pull");

    my $top = Harbor::Clients::layout_ref($out, 'v1');
    my $raw = Harbor::Clients::layout_blob($out, $top // '');
    my $m = eval { $json->decode($raw // '') } || {};

    like($m->{mediaType} // '', $mt_re, "$name: manifest media type");

    # What the registry serves under the tag is what came back.
    my ($repo, $tag) = split /:/, $name;
    my $h = $t->http('GET', "/v2/$repo/manifests/$tag",
                     headers => { Accept => $m->{mediaType} // '*/*' });
    is($h->{body}, $raw, "$name: registry manifest bytes");
    is($h->{headers}{'docker-content-digest'}, $top, "$name: digest header");

    my $cfg = eval {
        $json->decode(Harbor::Clients::layout_blob($out, $m->{config}{digest}))
    } || {};
    my @diff = @{ $cfg->{rootfs}{diff_ids} || [] };
    my @layers = @{ $m->{layers} || [] };

    is(scalar @layers, 3, "$name: base layers plus one");
    is(scalar @diff, 3, "$name: three diff IDs");
    is_deeply([ @diff[0, 1] ], $bimg->{diff_ids}, "$name: base diff IDs kept");
    is($cfg->{config}{Labels}{'org.ngx-harbor.seed'}, 'buildah',
       "$name: base config label kept");

    for my $n (0 .. $#layers) {
        my $blob = Harbor::Clients::layout_blob($out, $layers[$n]{digest});
        my $tar;
        gunzip(\$blob => \$tar) if defined $blob;
        is(defined $tar ? Harbor::Clients::sha256_digest($tar) : 'none',
           $diff[$n], "$name: layer $n unpacks to its diff ID");

        # The registry serves each layer with the bytes skopeo verified.
        my $b = $t->http('GET', "/v2/$repo/blobs/$layers[$n]{digest}");
        ok($b->{status} == 200 && defined $blob && $b->{body} eq $blob,
           "$name: layer $n bytes from the registry");

        next unless $n == 2 && defined $tar;

        open my $fh, '<', \$tar;
        my $at = Archive::Tar->new($fh);
        my ($f) = grep { $_->name =~ m{(?:^|/)harbor/new\.bin$} }
                  $at ? $at->get_files : ();
        ok($f && $f->get_content eq $payload,
           "$name: new layer holds the added file byte for byte");
    }
}
