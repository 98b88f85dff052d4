package Harbor::Rgw;

# A real S3 store for a test: a one-node Ceph cluster (one monitor, one
# memstore OSD, no manager) and a RADOS Gateway on 127.0.0.1, in a
# temporary directory, with free ports; ready in about two seconds.
# Each daemon forks into the background with a pid file in the
# directory; stop (or the end of the test) kills those pids only.
#
#   my $g = Harbor::Rgw->start;
#   $g->endpoint;               # http://127.0.0.1:PORT
#   $g->access_key, $g->secret_key, $g->region
#   $g->env;                    # S3_ENDPOINT, S3_ACCESS_KEY, ... for t/s3/s3c
#   $g->stop_gateway; $g->start_gateway;    # the gateway down and up
#   $g->credentials($t);        # a credentials file in $t's conf dir
#   $g->registry($t, $cred, "bucket/root", @more);  # harbor_* directives
#   $g->proxy_locations;        # @harbor_s3 and its error pages
#   $g->s3c('HEAD', '/bucket/key');          # t/s3/s3c's output
#   $g->stop;

use strict;
use warnings;

use File::Temp qw(tempdir);
use POSIX qw(WNOHANG);
use IO::Socket::INET;
use Time::HiRes qw(sleep time);

use FindBin;

use Harbor::Clients ();

our $ACCESS = 'HARBORTESTACCESS0001';
our $SECRET = 'harbortestsecret00000000000000000000001';

my @running;

sub _run {
    my ($self, @cmd) = @_;
    local $ENV{CEPH_CONF} = "$self->{dir}/ceph.conf";
    my $out = qx{@cmd 2>&1};
    die "@cmd: exit " . ($? >> 8) . ":\n$out" if $?;
    return $out;
}

sub _wait {
    my ($what, $secs, $cond) = @_;
    my $deadline = time() + $secs;
    until ($cond->()) {
        die "$what: not within ${secs}s\n" if time() > $deadline;
        sleep 0.05;
    }
}

sub start {
    my ($class) = @_;

    for my $bin (qw(ceph-mon ceph-osd radosgw monmaptool radosgw-admin)) {
        die "$bin is not installed: apt-get install ceph-mon ceph-osd "
            . "radosgw\n" unless -x "/usr/bin/$bin";
    }

    my $dir = tempdir('hb-rgw-XXXXXX', TMPDIR => 1, CLEANUP => 1);
    mkdir "$dir/$_" or die "$dir/$_: $!" for qw(mon.a osd.0 run log crash rgw.a);

    my $self = bless {
        dir      => $dir,
        mon_port => Harbor::Clients::free_port(),
        port     => Harbor::Clients::free_port(),
    }, $class;
    push @running, $self;

    chomp(my $fsid = qx{cat /proc/sys/kernel/random/uuid});

    open my $f, '>', "$dir/ceph.conf" or die "$dir/ceph.conf: $!";
    print $f <<"EOF";
[global]
fsid = $fsid
mon host = v2:127.0.0.1:$self->{mon_port}
public addr = 127.0.0.1
ms bind msgr1 = false
auth cluster required = none
auth service required = none
auth client required = none
ms mon client mode = crc secure
run dir = $dir/run
admin socket = $dir/run/\$name.asok
pid file = $dir/run/\$name.pid
log file = $dir/log/\$name.log
mon cluster log file = $dir/log/cluster.log
crash dir = $dir/crash
osd pool default size = 1
osd pool default min size = 1
osd pool default pg num = 8
osd pool default pgp num = 8
osd pool default pg autoscale mode = off
osd crush chooseleaf type = 0
mon allow pool size one = true
mon allow pool delete = true
mon max pg per osd = 1000
mon warn on pool no redundancy = false
mon data avail warn = 2
mon data avail crit = 1
paxos propose interval = 0.1
paxos min wait = 0.01
[mon]
mon data = $dir/mon.\$id
[osd]
osd data = $dir/osd.\$id
osd objectstore = memstore
memstore device bytes = 2147483648
osd max object name len = 460
osd max object namespace len = 64
[client]
rgw dns name = localhost
rgw thread pool size = 64
rgw init timeout = 60
[client.rgw.a]
rgw data = $dir/rgw.a
rgw frontends = beast endpoint=127.0.0.1:$self->{port}
EOF
    close $f;

    $self->_run('monmaptool', '--create', '--fsid', $fsid, '--addv', 'a',
                "'[v2:127.0.0.1:$self->{mon_port}]'", "$dir/monmap");
    $self->_run('ceph-mon', '--mkfs', '-i', 'a', '--monmap', "$dir/monmap");
    $self->_run('ceph-mon', '-i', 'a');
    chomp(my $uuid = qx{cat /proc/sys/kernel/random/uuid});
    chomp(my $id = $self->_run('ceph', 'osd', 'new', $uuid));
    $self->_run('ceph-osd', '-i', $id, '--mkfs', '--osd-uuid', $uuid);
    $self->_run('ceph-osd', '-i', $id);
    _wait('the OSD up', 30,
          sub { $self->_run('ceph', 'osd', 'stat') =~ /1 up/ });
    $self->start_gateway;
    $self->_run('radosgw-admin', 'user', 'create', '--uid=registry',
                '--display-name=registry', "--access-key=$ACCESS",
                "--secret-key=$SECRET");

    return $self;
}

# radosgw returns once it serves; its pid file names it
sub start_gateway {
    my ($self) = @_;
    $self->_run('radosgw', '-n', 'client.rgw.a');
    _wait('the gateway', 30, sub {
        IO::Socket::INET->new(PeerAddr => '127.0.0.1',
                              PeerPort => $self->{port}, Proto => 'tcp');
    });
}

sub _pid {
    my ($self, $name) = @_;
    open my $fh, '<', "$self->{dir}/run/$name.pid" or return;
    my $pid = <$fh>;
    return $pid && $pid =~ /^(\d+)/ ? $1 : undef;
}

sub _kill {
    my ($self, $name) = @_;
    my $pid = $self->_pid($name) or return;
    kill 'TERM', $pid;
    my $deadline = time() + 10;
    sleep 0.02 while Harbor::Clients::pid_alive($pid) && time() < $deadline;
    kill 'KILL', $pid if Harbor::Clients::pid_alive($pid);
    unlink "$self->{dir}/run/$name.pid";
}

sub stop_gateway { $_[0]->_kill('client.rgw.a') }

sub endpoint { "http://127.0.0.1:$_[0]{port}" }
sub port { $_[0]{port} }
sub access_key { $ACCESS }
sub secret_key { $SECRET }
sub region { 'us-east-1' }
sub dir { $_[0]{dir} }

sub env {
    my ($self) = @_;
    return (S3_ENDPOINT => $self->endpoint, S3_ACCESS_KEY => $ACCESS,
            S3_SECRET_KEY => $SECRET, S3_REGION => $self->region);
}

# the credentials file of the module (harbor_s3_credentials)
sub credentials {
    my ($self, $t) = @_;
    return $t->write_conf('s3.credentials', "[default]\n"
        . "aws_access_key_id = $ACCESS\n"
        . "aws_secret_access_key = $SECRET\n");
}

# the directives of a registry on s3://$path through this gateway
sub registry {
    my ($self, $t, $cred, $path, @more) = @_;
    return join "\n", 'harbor_registry on;',
        "harbor_storage s3://$path;",
        'harbor_s3_endpoint ' . $self->endpoint . ';',
        'harbor_s3_region ' . $self->region . ';',
        "harbor_s3_credentials $cred;",
        'harbor_s3_timeout 2s;',
        'harbor_journal ' . $t->journal . ';',
        'harbor_auth off;', @more;
}

# the blob's bytes come through these locations, as the instance has
# them (conf/harbor-s3.conf)
sub proxy_locations {
    my $f = "$FindBin::Bin/../conf/harbor-s3.conf";
    return Harbor::Clients::read_file($f) // die "$f: $!\n";
}

# one request of t/s3/s3c to the gateway: its output
sub s3c {
    my ($self, @args) = @_;
    my $s3c = $ENV{HARBOR_S3C} || "$FindBin::Bin/../build/s3c";
    die "no $s3c (make test builds it)\n" unless -x $s3c;
    my %env = $self->env;
    local @ENV{keys %env} = values %env;
    my $q = join ' ', map { "'" . s/'/'\\''/gr . "'" } @args;
    return scalar qx{$s3c $q 2>&1};
}

# the gateway first, then the OSD (an OSD whose monitor is gone waits)
sub stop {
    my ($self) = @_;
    return if $self->{stopped}++;
    $self->_kill($_) for qw(client.rgw.a osd.0 mon.a);
}

END { $_->stop for @running }

1;
