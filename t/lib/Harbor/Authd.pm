package Harbor::Authd;

# Test harness for authd: a private PostgreSQL (initdb in a temporary
# directory, unix socket only) and an authd with a generated configuration,
# talked to with raw HTTP over its unix socket.
#
#   my $pg = Harbor::Authd::Pg->start;
#   my $a  = Harbor::Authd->start(pg => $pg, conf => { token_expiration => 5 });
#   $a->sock;                       # for nginx: proxy_pass http://unix:<sock>:
#   my $r  = $a->request(GET => '/api/v2.0/ping');
#   my $t  = $a->token(user => 'admin', pass => 'Harbor12345',
#                      scope => ['repository:library/x:pull']);
#   $a->stop; $pg->stop;
#
# Every wait is a bounded poll; everything started is stopped at exit.

use strict;
use warnings;

use Cwd qw(abs_path);
use File::Basename qw(dirname);
use File::Path qw(make_path remove_tree);
use File::Temp qw(tempdir);
use IO::Select;
use IO::Socket::UNIX;
use JSON::PP;
use MIME::Base64 qw(encode_base64 decode_base64url);
use POSIX qw(WNOHANG);
use Socket qw(SOCK_STREAM);
use Test::More ();
use Time::HiRes qw(time);

use Harbor::Sanitizer;

our $ROOT = abs_path(dirname(__FILE__) . '/../../..');
our $AUTHD = $ENV{AUTHD} // "$ROOT/authd/authd";
our $PGBIN = $ENV{PGBIN} // (sort glob('/usr/lib/postgresql/*/bin'))[-1];
our $ADMIN_PASSWORD = 'Harbor12345';

my @running;        # everything to stop at exit
my $json = JSON::PP->new->canonical->allow_nonref;

sub json { $json }

# a bounded wait: poll $cond every 50 ms for at most $secs seconds
sub wait_for {
    my ($secs, $cond) = @_;
    my $until = time + $secs;
    while (time < $until) {
        my $v = $cond->();
        return $v if $v;
        select(undef, undef, undef, 0.05);
    }
    return $cond->();
}

sub _run {
    my (@cmd) = @_;
    my $out = qx{@cmd 2>&1};
    die "failed ($?): @cmd\n$out" if $?;
    return $out;
}

sub _q { my $s = shift; $s =~ s/'/'\\''/g; "'$s'" }


package Harbor::Authd::Pg;

use strict;
use warnings;

use File::Temp qw(tempdir);

# PostgreSQL refuses to run as root: as root, run it as user "harbor"
sub _as { $> == 0 ? 'runuser -u harbor -- ' : '' }

sub start {
    my ($class, %o) = @_;

    my $dir = tempdir('hb-pg-XXXXXX', TMPDIR => 1, CLEANUP => 1);
    chmod 0755, $dir;
    if ($> == 0) {
        my (undef, undef, $uid, $gid) = getpwnam('harbor')
            or die "user harbor is missing (make deps creates it)\n";
        chown $uid, $gid, $dir;
    }

    my $self = bless { dir => $dir, data => "$dir/data", host => $dir }, $class;
    my $as = _as();

    Harbor::Authd::_run("$as$Harbor::Authd::PGBIN/initdb -D $dir/data"
        . " -A trust -U harbor -E UTF8 --no-sync --no-instructions");

    Harbor::Authd::_run("$as$Harbor::Authd::PGBIN/pg_ctl -D $dir/data"
        . " -l $dir/postgres.log -w -t 30"
        . " -o \"-k $dir -c listen_addresses= -c fsync=off"
        . " -c full_page_writes=off -c synchronous_commit=off\" start");
    $self->{running} = 1;
    push @running, $self;

    $self->psql('CREATE DATABASE registry', 'postgres');

    return $self;
}

sub host { $_[0]{host} }

sub psql {
    my ($self, $sql, $db) = @_;
    $db //= 'registry';
    my $as = _as();
    my $out = Harbor::Authd::_run("$as$Harbor::Authd::PGBIN/psql -X -q -At"
        . " -v ON_ERROR_STOP=1 -h $self->{host} -U harbor -d $db -c "
        . Harbor::Authd::_q($sql));
    chomp $out;
    return $out;
}

sub stop {
    my ($self) = @_;
    return unless $self->{running};
    my $as = _as();
    system("$as$Harbor::Authd::PGBIN/pg_ctl -D $self->{data} -m immediate"
        . " -w -t 30 stop >/dev/null 2>&1");
    $self->{running} = 0;
}

sub DESTROY { $_[0]->stop if $_[0]{running} }


package Harbor::Authd;

# start(pg => $pg (else one of its own), conf => {key => value,
#       'database.key' => value, 'authd.key' => value, 'section.key' =>
#       value (any other section)}, dir => reuse this
#       directory (keys, config, log), expect_fail => 1, nowait => 1)
sub start {
    my ($class, %o) = @_;

    die "authd is not built: run make -C authd\n" unless -x $AUTHD;

    # a PostgreSQL of its own unless one is given
    my $pg = $o{pg} // Harbor::Authd::Pg->start;
    my $dir = $o{dir} // tempdir('hb-authd-XXXXXX', TMPDIR => 1, CLEANUP => 1);

    my $self = bless {
        dir  => $dir,
        pg   => $pg,
        sock => "$dir/authd.sock",
        log  => "$dir/authd.log",
        conf => "$dir/authd.yml",
        extra => $o{conf} // {},
    }, $class;

    $self->write_conf;
    $self->_spawn($o{expect_fail}, $o{nowait});

    return $self;
}

sub dir { $_[0]{dir} }
sub sock { $_[0]{sock} }
sub pg { $_[0]{pg} }
sub conf_file { $_[0]{conf} }
sub log_file { $_[0]{log} }
sub base_url { 'http://localhost' }
sub cert_file { "$_[0]{dir}/token/cert.pem" }
sub key_file { "$_[0]{dir}/token/key.pem" }

sub write_conf {
    my ($self) = @_;

    my %top = (
        hostname              => 'registry.test',
        harbor_admin_password => $ADMIN_PASSWORD,
    );
    my %db = (host => $self->{pg}->host, port => 5432, username => 'harbor',
              dbname => 'registry');
    my %authd = (
        listen            => $self->{sock},
        token_private_key => $self->key_file,
        token_certificate => $self->cert_file,
        token_key_bits    => 2048,
        workers           => 4,
        database_wait     => 10,
    );

    my %sect;
    for my $k (keys %{$self->{extra}}) {
        my $v = $self->{extra}{$k};
        if ($k =~ /^database\.(.+)/) { $db{$1} = $v }
        elsif ($k =~ /^authd\.(.+)/) { $authd{$1} = $v }
        elsif ($k =~ /^([a-z_]+)\.(.+)/) { $sect{$1}{$2} = $v }
        else { $top{$k} = $v }
    }

    my $y = '';
    $y .= "$_: " . _yv($top{$_}) . "\n" for sort keys %top;
    $y .= "database:\n";
    $y .= "  $_: " . _yv($db{$_}) . "\n" for sort keys %db;
    $y .= "authd:\n";
    $y .= "  $_: " . _yv($authd{$_}) . "\n" for sort keys %authd;
    for my $s (sort keys %sect) {
        $y .= "$s:\n";
        $y .= "  $_: " . _yv($sect{$s}{$_}) . "\n" for sort keys %{$sect{$s}};
    }

    make_path("$self->{dir}/token");
    open my $f, '>', $self->{conf} or die "$self->{conf}: $!";
    print $f $y;
    close $f;
}

sub _yv {
    my $v = shift;
    return $v if $v =~ /^[A-Za-z0-9_.\/-]+$/;
    $v =~ s/(["\\])/\\$1/g;
    return "\"$v\"";
}

sub _spawn {
    my ($self, $expect_fail, $nowait) = @_;

    my $pid = fork // die "fork: $!";
    if ($pid == 0) {
        open STDIN, '<', '/dev/null';
        open STDOUT, '>>', $self->{log};
        open STDERR, '>>', $self->{log};
        my %san = Harbor::Sanitizer::env($self->{dir}, 'authd', leaks => 1);
        @ENV{keys %san} = values %san;
        exec $AUTHD, '-d', '-f', $self->{conf};
        die "exec $AUTHD: $!";
    }

    $self->{pid} = $pid;
    push @running, $self;

    return if $nowait;
    $self->wait_ready($expect_fail);
}

# after start(nowait => 1): wait until it serves (or has exited)
sub wait_ready {
    my ($self, $expect_fail) = @_;
    my $pid = $self->{pid} or die "authd is not running\n";

    # ready when /api/v2.0/ping answers, or gone when it exits; a start
    # expected to fail waits for the exit (the socket may be another's)
    my $ready = wait_for(60, sub {
        return 'exited' if waitpid($pid, WNOHANG) == $pid;
        return 0 if $expect_fail;
        my $r = eval { $self->request(GET => '/api/v2.0/ping', timeout => 2) };
        return $r && $r->{status} == 200 ? 'ready' : 0;
    });

    if ($ready && $ready eq 'exited') {
        $self->{exit} = $? >> 8;
        delete $self->{pid};
        return if $expect_fail;
        die "authd exited with status $self->{exit}:\n" . $self->log;
    }

    die "authd did not become ready within 60 seconds:\n" . $self->log
        unless $ready;

    die "authd started but was expected to fail\n" if $expect_fail;
}

sub exit_status { $_[0]{exit} }

sub stop {
    my ($self) = @_;
    my $pid = delete $self->{pid} or return;

    kill 'TERM', $pid;
    my $gone = wait_for(20, sub { waitpid($pid, WNOHANG) == $pid });
    $self->{exit} = $? >> 8 if $gone;
    unless ($gone) {
        kill 'KILL', $pid;
        waitpid($pid, 0);
        $self->{exit} = -1;
    }

    # make test SANITIZE=1: what the sanitizers saw in authd fails a test
    for my $r (Harbor::Sanitizer::reports($self->{dir})) {
        Test::More::ok(0, 'no sanitizer report from authd');
        Test::More::diag($r);
    }

    return $self->{exit};
}

sub restart {
    my ($self, %o) = @_;
    $self->stop;
    $self->{extra} = { %{$self->{extra}}, %{$o{conf}} } if $o{conf};
    $self->write_conf;
    $self->_spawn($o{expect_fail});
    return $self;
}

sub pid { $_[0]{pid} }

sub log {
    my ($self) = @_;
    open my $f, '<', $self->{log} or return '';
    local $/;
    return scalar <$f>;
}

sub DESTROY { $_[0]->stop if $_[0]{pid} }

END {
    # children first, PostgreSQL last
    for my $p (reverse @running) {
        local $?;
        $p->stop if ref $p eq 'Harbor::Authd' && $p->{pid};
    }
    for my $p (reverse @running) {
        local $?;
        $p->stop if ref $p eq 'Harbor::Authd::Pg';
    }
}


# HTTP over the unix socket.
#   request(METHOD => $path, user => , pass => , headers => {}, body => ,
#           json => $perl_data, timeout => secs)
# returns { status, reason, headers => {lc name => value}, body, json }
sub request {
    my ($self, $method, $path, %o) = @_;

    my $s = IO::Socket::UNIX->new(Peer => $self->{sock}, Type => SOCK_STREAM)
        or die "connect $self->{sock}: $!\n";

    my %h = (Host => 'localhost', Connection => 'close', %{$o{headers} // {}});
    if (defined $o{user}) {
        $h{Authorization} = 'Basic '
            . encode_base64("$o{user}:" . ($o{pass} // ''), '');
    }

    my $body = $o{body};
    if (exists $o{json}) {
        $body = $json->encode($o{json});
        $h{'Content-Type'} //= 'application/json';
    }
    $h{'Content-Length'} = length $body if defined $body;

    my $req = "$method $path HTTP/1.1\r\n";
    $req .= "$_: $h{$_}\r\n" for sort keys %h;
    $req .= "\r\n";
    $req .= $body if defined $body;

    my $deadline = time + ($o{timeout} // 30);
    my $sel = IO::Select->new($s);

    while (length $req) {
        die "write timeout\n" unless $sel->can_write($deadline - time);
        my $n = syswrite($s, $req);
        die "write: $!\n" unless defined $n;
        substr($req, 0, $n, '');
    }

    my $resp = '';
    while (1) {
        my $left = $deadline - time;
        die "read timeout on $method $path\n"
            if $left <= 0 || !$sel->can_read($left);
        my $n = sysread($s, my $buf, 65536);
        die "read: $!\n" unless defined $n;
        last if $n == 0;
        $resp .= $buf;
    }
    close $s;

    my ($head, $rbody) = split /\r\n\r\n/, $resp, 2;
    die "no response to $method $path\n" unless defined $head;
    my ($status_line, @lines) = split /\r\n/, $head;
    my (undef, $status, $reason) = split / /, $status_line, 3;

    my %rh;
    for (@lines) {
        my ($k, $v) = split /:\s*/, $_, 2;
        $k = lc $k;
        $rh{$k} = exists $rh{$k} ? "$rh{$k}, $v" : $v;
    }

    my $r = { status => $status, reason => $reason, headers => \%rh,
              body => $rbody // '' };
    if (($rh{'content-type'} // '') =~ m{application/json}
        && length $r->{body})
    {
        $r->{json} = eval { $json->decode($r->{body}) };
    }

    return $r;
}

# The API as a user: api(GET => '/projects', [user, pass], json => ...)
sub api {
    my ($self, $method, $path, $cred, %o) = @_;
    my @auth = $cred ? (user => $cred->[0], pass => $cred->[1]) : ();
    return $self->request($method, "/api/v2.0$path", @auth, %o);
}

sub admin { ['admin', $ADMIN_PASSWORD] }

sub uri_escape {
    my $s = shift;
    $s =~ s/([^A-Za-z0-9\-._~])/sprintf('%%%02X', ord $1)/ge;
    return $s;
}

# token(user =>, pass =>, scope => [..] or 'a b', query => 'extra=1')
# returns the response, with {claims} and {header} decoded when 200
sub token {
    my ($self, %o) = @_;

    my @q = ('service=harbor-registry');
    my $scopes = $o{scope} // [];
    $scopes = [$scopes] unless ref $scopes;
    push @q, 'scope=' . uri_escape($_) for @$scopes;
    push @q, $o{query} if defined $o{query};

    my $r = $self->request(GET => '/service/token?' . join('&', @q),
        defined $o{user} ? (user => $o{user}, pass => $o{pass}) : ());

    if ($r->{status} == 200 && $r->{json}) {
        my ($h, $c) = split /\./, $r->{json}{token};
        $r->{header} = $json->decode(decode_base64url($h));
        $r->{claims} = $json->decode(decode_base64url($c));
    }

    return $r;
}

# {"name" => [actions]} of a token's access claim, type repository
sub access_map {
    my ($claims, $type) = @_;
    $type //= 'repository';
    my %m;
    for my $a (@{$claims->{access} // []}) {
        next unless $a->{type} eq $type;
        push @{$m{$a->{name}}}, @{$a->{actions}};
    }
    return \%m;
}

# create a user as admin; returns its user_id
sub create_user {
    my ($self, $name, %o) = @_;
    my $r = $self->api(POST => '/users', $self->admin, json => {
        username => $name,
        email    => $o{email} // "$name\@example.com",
        realname => $o{realname} // $name,
        password => $o{password} // 'Passw0rd!',
    });
    die "create user $name: $r->{status} $r->{body}\n" unless $r->{status} == 201;
    my ($id) = $r->{headers}{location} =~ m{/users/(\d+)$};
    return $id;
}

# create a project as $cred (default admin); returns its project_id
sub create_project {
    my ($self, $name, %o) = @_;
    my $r = $self->api(POST => '/projects', $o{cred} // $self->admin, json => {
        project_name => $name,
        metadata     => { public => $o{public} ? 'true' : 'false' },
    });
    die "create project $name: $r->{status} $r->{body}\n"
        unless $r->{status} == 201;
    my ($id) = $r->{headers}{location} =~ m{/projects/(\d+)$};
    return $id;
}

# add user to project with role id; returns the member id
sub add_member {
    my ($self, $project, $user, $role, %o) = @_;
    my $r = $self->api(POST => "/projects/$project/members",
        $o{cred} // $self->admin,
        json => { role_id => $role + 0, member_user => { username => $user } });
    die "add member $user to $project: $r->{status} $r->{body}\n"
        unless $r->{status} == 201;
    my ($id) = $r->{headers}{location} =~ m{/members/(\d+)$};
    return $id;
}

# The role x action table, from the binary that enforces it.
sub role_table {
    my $out = qx{$AUTHD -R};
    die "authd -R failed\n" if $?;
    return $json->decode($out);
}

1;
