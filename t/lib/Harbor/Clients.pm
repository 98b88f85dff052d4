package Harbor::Clients;

# Helpers for the real-client tests (t/clients-*.t, t/interop-*.t): run
# skopeo, podman and buildah with every piece of their state inside a test's
# temp dir, make images with t/lib/mkimage, read OCI layouts and compare them
# blob by blob, and run Debian's docker-registry (CNCF distribution) beside
# the module.
#
#   my $c = Harbor::Clients->new($dir);     # state under $dir/clients
#   my $img = $c->mkimage("$dir/src", tag => 'v1', layers => '1k,2M');
#   my $r = $c->skopeo('copy', "oci:$dir/src:v1", "docker://$host/a:v1");
#   ok($r->{ok}, 'push') or diag($r->{out});
#
# Nothing here reaches the network: images are made locally and every
# registry address is 127.0.0.1.  What the clients keep outside the test's
# dir as root: the blob info cache (/var/lib/containers/cache), which only
# steers blob reuse (HEAD, cross-repository mount), and an empty
# /run/containers/networks that podman makes at start.

use strict;
use warnings;

use Cwd qw(abs_path);
use Digest::SHA ();
use File::Basename qw(dirname);
use File::Path qw(make_path remove_tree);
use HTTP::Tiny;
use IO::Socket::INET;
use JSON::PP ();
use POSIX qw(WNOHANG);
use Test::Builder;
use Time::HiRes qw(sleep time);

our $MKIMAGE = abs_path(dirname(__FILE__) . '/../mkimage');
our $JSON = JSON::PP->new->canonical;

my %CLIENT_ENV_DROP = map { $_ => 1 }
    qw(REGISTRY_AUTH_FILE CONTAINERS_CONF CONTAINERS_STORAGE_CONF
       CONTAINERS_REGISTRIES_CONF DOCKER_CONFIG BUILDAH_ISOLATION
       STORAGE_DRIVER STORAGE_OPTS);


sub new {
    my ($class, $dir) = @_;
    my $base = "$dir/clients";
    my $self = bless { base => $base }, $class;

    for my $d (qw(root runroot tmp xdg home volumes libpod netconf)) {
        make_path("$base/$d");
    }

    chmod 0700, "$base/xdg";

    write_file("$base/auth.json", qq({"auths":{}}\n));

    write_file("$base/policy.json",
        '{"default":[{"type":"insecureAcceptAnything"}]}');

    # No search registries and no short names: a mistake in a test cannot
    # turn into a pull from somewhere else.
    write_file("$base/registries.conf",
        "unqualified-search-registries = []\nshort-name-mode = \"disabled\"\n");

    write_file("$base/storage.conf", <<"EOF");
[storage]
driver = "vfs"
graphroot = "$base/root"
runroot = "$base/runroot"
EOF

    write_file("$base/containers.conf", <<"EOF");
[engine]
cgroup_manager = "cgroupfs"
events_logger = "file"
events_logfile_path = "$base/events.log"
tmp_dir = "$base/libpod"
volume_path = "$base/volumes"
image_parallel_copies = 2

[network]
network_config_dir = "$base/netconf"
EOF

    $self->{env} = {
        HOME                       => "$base/home",
        TMPDIR                     => "$base/tmp",
        XDG_RUNTIME_DIR            => "$base/xdg",
        XDG_CONFIG_HOME            => "$base/home/.config",
        XDG_DATA_HOME              => "$base/home/.local/share",
        CONTAINERS_CONF            => "$base/containers.conf",
        CONTAINERS_STORAGE_CONF    => "$base/storage.conf",
        CONTAINERS_REGISTRIES_CONF => "$base/registries.conf",
        REGISTRY_AUTH_FILE         => "$base/auth.json",
    };

    return $self;
}


sub base { $_[0]{base} }


# The storage flags podman and buildah get on every call: rootful, vfs (no
# mounts to undo), everything under the test's dir.

sub storage_args {
    my ($self) = @_;
    my $b = $self->{base};

    return ('--root', "$b/root", '--runroot', "$b/runroot",
            '--storage-driver', 'vfs');
}


sub skopeo {
    my ($self, @args) = @_;

    return $self->run([ 'skopeo', '--policy', "$self->{base}/policy.json",
                        '--tmpdir', "$self->{base}/tmp", @args ]);
}


sub podman {
    my ($self, @args) = @_;

    return $self->run([ 'podman', $self->storage_args,
                        '--tmpdir', "$self->{base}/libpod",
                        '--cgroup-manager', 'cgroupfs',
                        '--events-backend', 'file', @args ]);
}


sub buildah {
    my ($self, @args) = @_;

    return $self->run([ 'buildah', $self->storage_args,
                        '--registries-conf', "$self->{base}/registries.conf",
                        @args ]);
}


# Remove the client state (vfs layers are plain directories, nothing is
# mounted).

sub cleanup {
    my ($self) = @_;

    remove_tree($self->{base}) if -d $self->{base};
}


sub run {
    my ($self, $cmd, %o) = @_;

    return run_cmd($cmd, env => $self->{env}, %o);
}


# skopeo started in the background; reap_cmd() gives its result.

sub skopeo_bg {
    my ($self, @args) = @_;

    return spawn_cmd([ 'skopeo', '--policy', "$self->{base}/policy.json",
                       '--tmpdir', "$self->{base}/tmp", @args ],
                     env => $self->{env});
}


sub mkimage {
    my ($self, $dir, %o) = @_;
    my @args;

    for my $k (qw(tag layers files seed arch format)) {
        push @args, "--$k", $o{$k} if defined $o{$k};
    }

    push @args, '--multiarch' if $o{multiarch};
    push @args, '--docker' if $o{docker};
    push @args, map { ('--label', $_) } @{ $o{labels} || [] };

    my $r = run_cmd([ $^X, $MKIMAGE, @args, $dir ]);

    die "mkimage failed: $r->{out}" unless $r->{ok};

    return $JSON->decode($r->{stdout});
}


# run_cmd([argv], env => {..}, timeout => seconds, cwd => dir)
# Returns { ok, rc, out (the command line, stdout and stderr), stdout, cmd }.
# A command that outlives its timeout (default 120 s) is killed, with its
# process group, and reported as failed.

sub run_cmd {
    my ($cmd, %o) = @_;

    return reap_cmd(spawn_cmd($cmd, %o));
}


# The same in two halves, so that several commands can run at once:
#   my @h = map { spawn_cmd($_, env => ...) } @cmds;
#   my @r = map { reap_cmd($_) } @h;

sub spawn_cmd {
    my ($cmd, %o) = @_;
    my $tmp = $ENV{TMPDIR} && -d $ENV{TMPDIR} ? $ENV{TMPDIR} : '/tmp';
    my $out = "$tmp/harbor-run.$$." . int(rand(1e9));

    my $pid = fork();
    die "fork: $!" unless defined $pid;

    if ($pid == 0) {
        setpgrp(0, 0);

        for my $k (keys %ENV) {
            delete $ENV{$k} if $CLIENT_ENV_DROP{$k};
        }

        @ENV{ keys %{ $o{env} || {} } } = values %{ $o{env} || {} };

        if (defined $o{cwd} && !chdir $o{cwd}) {
            print STDERR "chdir $o{cwd}: $!\n";
            POSIX::_exit(126);
        }

        open STDIN, '<', '/dev/null';
        open STDOUT, '>', "$out.1" or POSIX::_exit(126);
        open STDERR, '>', "$out.2" or POSIX::_exit(126);
        { no warnings 'exec'; exec { $cmd->[0] } @$cmd; }
        print STDERR "exec $cmd->[0]: $!\n";
        POSIX::_exit(127);
    }

    return { pid => $pid, out => $out, cmd => $cmd,
             deadline => time + ($o{timeout} // 120),
             timeout => $o{timeout} // 120 };
}


sub reap_cmd {
    my ($h) = @_;
    my $pid = $h->{pid};
    my ($status, $timed_out);

    while (1) {
        if (waitpid($pid, WNOHANG) == $pid) {
            $status = $?;
            last;
        }

        if (time > $h->{deadline}) {
            $timed_out = 1;
            $status = -1;
            kill 'TERM', -$pid;

            my $gone = wait_until(sub { waitpid($pid, WNOHANG) == $pid }, 5);
            unless ($gone) {
                kill 'KILL', -$pid;
                waitpid($pid, 0);
            }
            last;
        }

        sleep 0.02;
    }

    my $stdout = read_file("$h->{out}.1") // '';
    my $stderr = read_file("$h->{out}.2") // '';
    unlink "$h->{out}.1", "$h->{out}.2";

    my $rc = $status == -1 ? -1
           : ($status & 127) ? 128 + ($status & 127)
           : $status >> 8;

    return {
        ok     => ($rc == 0 ? 1 : 0),
        rc     => $rc,
        stdout => $stdout,
        out    => "\$ @{ $h->{cmd} }\n" . $stdout . $stderr
                  . ($timed_out ? "[killed after $h->{timeout}s]\n" : ''),
        cmd    => $h->{cmd},
    };
}


# --- image layouts ---------------------------------------------------------
#
# Two kinds, told apart by their files: an OCI image layout (oci-layout,
# index.json, blobs/sha256/HEX) for "oci:DIR:TAG", and the containers "dir:"
# transport (manifest.json for the image, HEX.manifest.json for the
# instances of a list, HEX for the other blobs) for "dir:DIR", which keeps
# docker schema2 manifests as they are (skopeo 1.9 converts them to OCI when
# writing an oci: layout).

sub is_oci_layout { -e "$_[0]/oci-layout" }


# Digest of the manifest (or index) that index.json names $tag; for a dir:
# layout, the digest of manifest.json ($tag is ignored).

sub layout_ref {
    my ($dir, $tag) = @_;

    unless (is_oci_layout($dir)) {
        my $m = read_file("$dir/manifest.json");
        return defined $m ? sha256_digest($m) : undef;
    }

    my $index = $JSON->decode(read_file("$dir/index.json")
                              // die "no $dir/index.json\n");

    for my $m (@{ $index->{manifests} }) {
        my $name = $m->{annotations}{'org.opencontainers.image.ref.name'};
        return $m->{digest} if defined $name && defined $tag && $name eq $tag;
    }

    return $index->{manifests}[0]{digest}
        if !defined $tag && @{ $index->{manifests} } == 1;

    return undef;
}


sub blob_path {
    my ($dir, $digest) = @_;
    my ($alg, $hex) = split /:/, $digest, 2;

    return "$dir/blobs/$alg/$hex" if is_oci_layout($dir);

    my $top = read_file("$dir/manifest.json");
    return "$dir/manifest.json"
        if defined $top && sha256_digest($top) eq $digest;
    return "$dir/$hex.manifest.json" if -e "$dir/$hex.manifest.json";
    return "$dir/$hex";
}


sub layout_blob {
    my ($dir, $digest) = @_;

    return read_file(blob_path($dir, $digest));
}


# Every digest reachable from $digest in the layout: the manifest or index
# itself, its children, configs and layers (and subjects are not followed).
# Returns a list, parents before children.

sub layout_closure {
    my ($dir, $digest) = @_;
    my (@out, %seen);
    my @todo = ($digest);

    while (defined(my $d = shift @todo)) {
        next if $seen{$d}++;
        push @out, $d;

        my $data = layout_blob($dir, $d) // next;
        my $m = eval { $JSON->decode($data) } or next;
        next unless ref $m eq 'HASH' && ($m->{schemaVersion} // 0) == 2;

        push @todo, map { $_->{digest} } @{ $m->{manifests} || [] };
        push @todo, $m->{config}{digest} if $m->{config};
        push @todo, map { $_->{digest} } @{ $m->{layers} || [] };
    }

    return @out;
}


# Compare what $tag_a names in layout $a with what $tag_b names in $b: the
# same top digest and every reachable blob present in both with the same
# bytes, and those bytes hashing to their name.  A "tag" that is a digest
# starts there instead (an image inside an index).  Returns a list of
# problems (empty when equal) and the number of blobs compared.

sub compare_layouts {
    my ($a, $tag_a, $b, $tag_b) = @_;
    my @problems;

    my $da = is_digest($tag_a) ? $tag_a : layout_ref($a, $tag_a);
    my $db = is_digest($tag_b) ? $tag_b : layout_ref($b, $tag_b);

    return ([ "no ref $tag_a in $a" ], 0) unless $da;
    return ([ "no ref $tag_b in $b" ], 0) unless $db;

    push @problems, "top digest $da in $a, $db in $b" if $da ne $db;

    my @blobs = layout_closure($a, $da);

    for my $d (@blobs) {
        my $x = layout_blob($a, $d);
        my $y = layout_blob($b, $d);

        if (!defined $x) { push @problems, "$d missing in $a"; next; }
        if (!defined $y) { push @problems, "$d missing in $b"; next; }

        push @problems, "$d differs: " . length($x) . ' vs ' . length($y)
                        . ' bytes' if $x ne $y;
        push @problems, "$d: content hashes to sha256:"
                        . Digest::SHA::sha256_hex($y)
            if 'sha256:' . Digest::SHA::sha256_hex($y) ne $d;
    }

    return (\@problems, scalar @blobs);
}


sub is_digest { defined $_[0] && $_[0] =~ /^sha256:[0-9a-f]{64}$/ }


sub sha256_digest {
    return 'sha256:' . Digest::SHA::sha256_hex($_[0]);
}


# --- small things ----------------------------------------------------------

# A passing test when the command exited 0, else a failing one with its
# output as diagnostics.  Returns the result.

sub cmd_ok {
    my ($r, $name) = @_;
    my $tb = Test::Builder->new;

    $tb->ok($r->{ok}, $name) or $tb->diag($r->{out});

    return $r;
}


# compare_layouts() as one test: diagnostics name each difference.

sub layouts_same {
    my ($a, $tag_a, $b, $tag_b, $name) = @_;
    my ($problems, $n) = compare_layouts($a, $tag_a, $b, $tag_b);
    my $tb = Test::Builder->new;

    $tb->ok(!@$problems && $n > 0, "$name ($n blobs)")
        or $tb->diag(join "\n", @$problems, $n ? () : 'nothing compared');

    return !@$problems;
}


# A process that is there and not a zombie (one not reaped yet holds no
# socket and runs nothing).  Every thread counts: a process killed while
# a thread of it waits in the kernel (an fsync) shows its first thread as
# a zombie, but keeps its descriptors until that thread is out too.
sub pid_alive {
    my ($pid) = @_;
    my @tasks = glob("/proc/$pid/task/*");
    @tasks = ("/proc/$pid") unless @tasks;
    for my $t (@tasks) {
        open my $fh, '<', "$t/stat" or next;
        my $st = <$fh> // '';
        return 1 if $st =~ /^\d+ \(.*\) [^ZX] /s;
    }
    return 0;
}


sub free_port {
    my $s = IO::Socket::INET->new(Listen => 1, LocalAddr => '127.0.0.1',
                                  LocalPort => 0, Proto => 'tcp')
        or die "listen: $!";
    my $port = $s->sockport;
    close $s;
    return $port;
}


# http_get($url) -> { status, headers, content } (HTTP::Tiny's shape).

sub http_get {
    my ($url, %h) = @_;

    return HTTP::Tiny->new(timeout => 10)->get($url, { headers => \%h });
}


# Poll until $check->() is true or $timeout seconds pass; returns the last
# value of $check->().

sub wait_until {
    my ($check, $timeout) = @_;
    my $deadline = time + ($timeout // 15);
    my $v;

    while (1) {
        $v = $check->();
        return $v if $v || time > $deadline;
        sleep 0.05;
    }
}


sub read_file {
    my ($path) = @_;

    open my $fh, '<:raw', $path or return undef;
    local $/;
    my $data = <$fh>;
    close $fh;

    return $data // '';
}


sub write_file {
    my ($path, $data) = @_;

    open my $fh, '>:raw', $path or die "open $path: $!";
    print $fh $data;
    close $fh or die "close $path: $!";
}


sub chown_tree {
    my ($user, $dir) = @_;
    my (undef, undef, $uid, $gid) = getpwnam($user)
        or die "no user $user";

    my $r = run_cmd([ 'chown', '-R', "$uid:$gid", $dir ]);
    die $r->{out} unless $r->{ok};
}


# A registry of a test's own making: one process, one connection at a time.
#   fake_registry(sub { my ($method, $path, \%headers, $port) = @_;
#                       return ($status, $extra_header_lines, $body) })
#   -> ($port, $pid)
# The handler runs in the child: what it must tell the test goes to a file.
sub fake_registry {
    my ($handler) = @_;

    my $srv = IO::Socket::INET->new(Listen => 8, LocalAddr => '127.0.0.1',
                                    LocalPort => 0, ReuseAddr => 1)
        or die "listen: $!";
    my $port = $srv->sockport;

    my $pid = fork();
    die "fork: $!" unless defined $pid;

    if ($pid == 0) {
        while (my $cl = $srv->accept) {
            my ($req, %h) = ('');
            while (my $line = <$cl>) {
                last if $line =~ /^\r?\n$/;
                $req .= $line;
                $h{lc $1} = $2 if $line =~ /^([^:]+):\s*(.*?)\r?$/;
            }
            my ($method, $path) = $req =~ /^(\S+) (\S+)/;
            my ($st, $extra, $body) = $handler->($method // '', $path // '',
                                                 \%h, $port);
            print $cl "HTTP/1.1 $st X\r\n$extra"
                . 'Content-Length: ' . length($body) . "\r\n"
                . "Connection: close\r\n\r\n"
                . ($method eq 'HEAD' ? '' : $body);
            close $cl;
        }
        POSIX::_exit(0);
    }

    close $srv;

    return ($port, $pid);
}


package Harbor::Clients::Distribution;

# Debian's docker-registry (CNCF distribution 2.8) on 127.0.0.1, storing in
# a filesystem root directory, deletes enabled.
#
#   my $d = Harbor::Clients::Distribution->new(root => $dir, dir => $confdir);
#   $d->start; ... $d->host ... $d->stop;
#   htpasswd => [user, password] in new(): Basic auth with that one user
#   token => {realm, service, issuer, rootcertbundle} in new(): bearer
#            tokens from that token service, trusted through that bundle
#   s3 => {accesskey, secretkey, region, regionendpoint, bucket,
#          rootdirectory} in new(): its s3 driver on that bucket instead
#          of the filesystem (plain HTTP, SigV4, path style)

use strict;
use warnings;

use File::Path qw(make_path);
use POSIX qw(WNOHANG);
use Time::HiRes qw(sleep time);

sub new {
    my ($class, %o) = @_;
    my $self = bless { root => $o{root}, dir => $o{dir},
                       htpasswd => $o{htpasswd}, s3 => $o{s3},
                       auth => $o{htpasswd} || $o{token} }, $class;

    make_path($self->{root}, $self->{dir});
    $self->{port} = Harbor::Clients::free_port();
    $self->{config} = "$self->{dir}/config.yml";
    $self->{log} = "$self->{dir}/registry.log";

    # Basic auth (htpasswd => [user, password]): /v2/ answers 401 at once
    my $auth = '';
    if ($o{htpasswd}) {
        my $r = Harbor::Clients::run_cmd(['htpasswd', '-Bbc',
            "$self->{dir}/users", @{ $o{htpasswd} }]);
        die $r->{out} unless $r->{ok};
        $auth = "auth:\n  htpasswd:\n    realm: harbor-test\n"
              . "    path: $self->{dir}/users\n";
    }

    if (my $t = $o{token}) {
        $auth = "auth:\n  token:\n"
              . join('', map { "    $_: $t->{$_}\n" }
                         qw(realm service issuer rootcertbundle));
    }

    my $driver = "  filesystem:\n    rootdirectory: $self->{root}\n";

    if (my $s3 = $o{s3}) {
        $driver = "  s3:\n"
                . join('', map { "    $_: $s3->{$_}\n" }
                           qw(accesskey secretkey region regionendpoint
                              bucket rootdirectory))
                . "    secure: false\n    v4auth: true\n";
    }

    # Upload purging would walk the tree while the module may own it; the
    # blob descriptor cache is off so what is read comes from the files.
    Harbor::Clients::write_file($self->{config}, <<"EOF");
version: 0.1
log:
  level: info
  accesslog:
    disabled: true
storage:
${driver}  delete:
    enabled: true
  redirect:
    disable: true
  maintenance:
    uploadpurging:
      enabled: false
${auth}http:
  addr: 127.0.0.1:$self->{port}
  secret: ngx-harbor-interop-test
EOF

    return $self;
}


sub port   { $_[0]{port} }
sub host   { "127.0.0.1:$_[0]{port}" }
sub url    { "http://127.0.0.1:$_[0]{port}" }
sub config { $_[0]{config} }
sub log    { Harbor::Clients::read_file($_[0]{log}) // '' }


sub start {
    my ($self) = @_;

    my $pid = fork();
    die "fork: $!" unless defined $pid;

    if ($pid == 0) {
        setpgrp(0, 0);
        open STDIN, '<', '/dev/null';
        open STDOUT, '>>', $self->{log} or POSIX::_exit(126);
        open STDERR, '>&', \*STDOUT;
        # its s3 driver refuses to start with a CA bundle in the environment
        delete $ENV{AWS_CA_BUNDLE};
        { no warnings 'exec'; exec 'docker-registry', 'serve', $self->{config} }
        POSIX::_exit(127);
    }

    $self->{pid} = $pid;

    my $up = Harbor::Clients::wait_until(sub {
        return 0 if waitpid($pid, WNOHANG) == $pid;
        my $r = Harbor::Clients::http_get($self->url . '/v2/');
        return $r->{status} == ($self->{auth} ? 401 : 200);
    }, 20);

    die "docker-registry did not start:\n" . $self->log unless $up;

    return $self;
}


sub stop {
    my ($self) = @_;
    my $pid = delete $self->{pid} or return;

    kill 'TERM', $pid;

    my $gone = Harbor::Clients::wait_until(
        sub { waitpid($pid, WNOHANG) == $pid }, 10);

    unless ($gone) {
        kill 'KILL', $pid;
        waitpid($pid, 0);
    }
}


sub garbage_collect {
    my ($self, @flags) = @_;

    return Harbor::Clients::run_cmd(
        [ 'docker-registry', 'garbage-collect', @flags, $self->{config} ],
        timeout => 60);
}


sub DESTROY {
    my ($self) = @_;
    local $?;
    $self->stop if $self->{pid};
}


1;
