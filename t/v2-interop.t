#!/usr/bin/perl

# Tests that the store is docker/distribution's: images pushed with
# distribution's registry (Debian's docker-registry) are served by the
# module from the same directory, and images pushed through the module are
# served by docker-registry.

use warnings;
use strict;

use FindBin;
use lib "$FindBin::Bin/lib";

use IO::Socket::INET;
use POSIX qw(:sys_wait_h);
use Test::More;
use Harbor::Test qw(:all);

###############################################################################

my $REGISTRY = $ENV{DOCKER_REGISTRY} || '/usr/bin/docker-registry';

BAIL_OUT("$REGISTRY not found (make deps installs docker-registry)")
    unless -x $REGISTRY;

my $t = Harbor::Test->new;
my $storage = $t->storage;

# a client for docker-registry: another harness object used only for its
# HTTP helpers, on a port of its own
my $dr = Harbor::Test->new(monolithic => 0);
my $drpid;

sub start_registry {
    my $conf = $dr->write_conf('config.yml', <<"EOF");
version: 0.1
log:
  level: error
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: $storage
  delete:
    enabled: true
http:
  addr: 127.0.0.1:${\ $dr->port}
EOF

    $drpid = fork();
    die "fork: $!" unless defined $drpid;
    if ($drpid == 0) {
        open STDIN, '<', '/dev/null';
        open STDOUT, '>>', $dr->dir . '/registry.log';
        open STDERR, '>>', $dr->dir . '/registry.log';
        exec($REGISTRY, 'serve', $conf) or POSIX::_exit(127);
    }

    for (1 .. 500) {
        my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1',
            PeerPort => $dr->port, Proto => 'tcp');
        return if $s;
        die "docker-registry exited:\n" . $dr->read_file('registry.log')
            if waitpid($drpid, WNOHANG) == $drpid;
        select undef, undef, undef, 0.02;
    }
    die "docker-registry did not listen:\n" . $dr->read_file('registry.log');
}

sub stop_registry {
    return unless $drpid;
    kill 'TERM', $drpid;
    waitpid($drpid, 0);
    $drpid = undef;
}

END { stop_registry() }

# files docker-registry wrote as root must be the workers' too
sub chown_store {
    system('chown', '-R', 'harbor:harbor', $storage) if $> == 0;
}

# 1. docker-registry writes, the module reads

start_registry();

is($dr->http(GET => '/v2/')->{status}, 200, 'docker-registry is up');

my $a = $dr->make_image('interop/from-distribution', 'v1', nlayers => 2);
is($a->{response}{status}, 201, 'push OCI image to docker-registry');
my $ad = $dr->make_image('interop/from-distribution', 'docker',
    format => 'docker');
is($ad->{response}{status}, 201, 'push docker image to docker-registry');
my $aidx = $dr->make_index('interop/from-distribution', 'multi', [$a, $ad]);
is($aidx->{response}{status}, 201, 'push index to docker-registry');

# a chunked upload left unfinished by docker-registry
my ($aloc) = $dr->upload_start('interop/from-distribution');

stop_registry();
chown_store();

$t->run;

for my $case (['v1', $a], ['docker', $ad], ['multi', $aidx]) {
    my ($tag, $img) = @$case;
    my $r = $t->http(GET => "/v2/interop/from-distribution/manifests/$tag");
    is($r->{status}, 200, "module serves $tag pushed by docker-registry");
    is($r->{body}, $img->{manifest}, "$tag: body");
    is($r->{headers}{'content-type'}, $img->{media_type}, "$tag: type");
    is($r->{headers}{'docker-content-digest'}, $img->{digest}, "$tag: digest");
}

for my $blob (@{$a->{layers}}, $a->{config}) {
    my $r = $t->http(GET => "/v2/interop/from-distribution/blobs/$blob");
    ok($r->{status} == 200 && $r->{body} eq $blob->{data},
        "module serves blob $blob->{digest} of docker-registry");
}

is_deeply($t->json($t->http(GET => '/v2/interop/from-distribution/tags/list')),
    { name => 'interop/from-distribution', tags => [qw(docker multi v1)] },
    'module lists the tags of docker-registry');
is_deeply($t->json($t->http(GET => '/v2/_catalog'))->{repositories},
    ['interop/from-distribution'], 'module lists the repository');

# the module can push into that repository, mounting its blobs
my $r = $t->http(POST => '/v2/interop/mounted/blobs/uploads/?mount='
    . $a->{layers}[0] . '&from=interop/from-distribution');
is($r->{status}, 201, 'module mounts a blob written by docker-registry');

# 2. the module writes, docker-registry reads

my $b = $t->make_image('interop/from-module', 'v2', nlayers => 3);
is($b->{response}{status}, 201, 'push OCI image through the module');
my $bd = $t->make_image('interop/from-module', 'docker', format => 'docker');
my $bidx = $t->make_index('interop/from-module', 'multi', [$b, $bd]);
is($bidx->{response}{status}, 201, 'push index through the module');

# a chunked upload through the module
my ($loc) = $t->upload_start('interop/from-module');
my $chunked = random_bytes(5000);
$t->http(PATCH => $loc, body => substr($chunked, 0, 2000));
$t->http(PATCH => $loc, body => substr($chunked, 2000));
$r = $t->http(PUT => $t->with_query($loc, 'digest=' . sha256($chunked)));
is($r->{status}, 201, 'chunked upload through the module');

# delete a tag through the module
$t->make_image('interop/from-module', 'gone');
is($t->http(DELETE => '/v2/interop/from-module/manifests/gone')->{status},
    202, 'delete a tag through the module');

$t->stop;

start_registry();

for my $case (['v2', $b], ['docker', $bd], ['multi', $bidx]) {
    my ($tag, $img) = @$case;
    my $r = $dr->http(GET => "/v2/interop/from-module/manifests/$tag",
        headers => [Accept => join ', ', MT_OCI_MANIFEST, MT_OCI_INDEX,
                    MT_DOCKER_V2, MT_DOCKER_LIST]);
    is($r->{status}, 200, "docker-registry serves $tag pushed by the module");
    is($r->{body}, $img->{manifest}, "$tag: body");
    is($r->{headers}{'docker-content-digest'}, $img->{digest}, "$tag: digest");
}

for my $blob (@{$b->{layers}}, $b->{config}) {
    my $r = $dr->http(GET => "/v2/interop/from-module/blobs/$blob");
    ok($r->{status} == 200 && $r->{body} eq $blob->{data},
        "docker-registry serves blob $blob->{digest} of the module");
}

$r = $dr->http(GET => '/v2/interop/from-module/blobs/' . sha256($chunked));
ok($r->{status} == 200 && $r->{body} eq $chunked,
    'docker-registry serves the chunked upload of the module');

$r = $dr->http(GET => '/v2/interop/mounted/blobs/' . $a->{layers}[0]);
is($r->{status}, 200, 'docker-registry serves the blob the module mounted');

# (docker-registry 2.8 lists tags in directory order)
is_deeply([sort @{$dr->json($dr->http(
    GET => '/v2/interop/from-module/tags/list'))->{tags} || []}],
    [qw(docker multi v2)],
    'docker-registry lists the tags of the module (deleted tag gone)');

my $cat = $dr->json($dr->http(GET => '/v2/_catalog'))->{repositories} || [];
is_deeply([sort @$cat], [sort qw(interop/from-distribution interop/from-module
    interop/mounted)], 'docker-registry lists the repositories');

# docker-registry can push on top of what the module wrote
my $c = $dr->make_image('interop/from-module', 'v3');
is($c->{response}{status}, 201, 'docker-registry pushes into the module repo');

stop_registry();

done_testing;

###############################################################################
