package Harbor::Test;

# A small harness in the shape of nginx-tests: every test file starts its
# own nginx with the harbor module from a templated config in a temporary
# directory, talks raw HTTP/1.1 to it, and at the end checks error.log for
# alerts.  Core perl modules only.
#
#   use Harbor::Test qw(:all);
#   my $t = Harbor::Test->new;
#   $t->run(location => 'add_header X-Test 1;');
#   my $r = $t->http(GET => '/v2/');
#   is($r->{status}, 200);
#   $t->stop;
#   done_testing;
#
# new(%opt)         temp dir (0755, owned by harbor when root), a free port;
#                   %opt are defaults for run(); monolithic => 0 makes
#                   push_blob use POST then PUT
# dir port url storage journal v2root pid
# run(%opt)         write nginx.conf and start nginx (daemon off), wait for
#                   the port; options:
#                     main http server location   text put in those blocks
#                     registry   replaces the harbor_* lines of /v2/
#                     workers    worker_processes (2)
#                     module     .so to load ('' for none)
# conf_test(%opt)   nginx -t with the same template: (exit code, output)
# stop restart      QUIT and wait / stop and run again with the same options
# allow_log(qr//)   [alert]/[crit]/[emerg] lines that are expected
# http($method, $path, headers => {..} | [k => v, ..] | [[k, v], ..],
#      body => $bytes, chunked => 1 | $piece_size, no_length => 1,
#      raw => $request, timeout => $s)
#                   -> {status, headers => {lc name => value}, header_list,
#                       body, raw, trailing (HEAD)}
# json($r) error_code($r) is_error($r, $status, $code, $name)
# from_registry($r) upload_start($repo) with_query($loc, $q)
# push_blob($repo, $bytes, algorithm => 'sha512') -> $digest ($digest, $r)
# push_manifest($repo, $ref, $json, $media_type) -> $r
# make_image($repo, $tag | undef, nlayers => N, format => 'oci' | 'docker',
#     subject => .., artifact_type => .., annotations => {..},
#     config => $bytes, config_media_type => .., layer_size => N)
#                   -> {digest, manifest, media_type, size, response,
#                       layers => [blob], config => blob}; a blob is
#                       {digest, size, data, media_type} and stringifies
#                       to its digest
# make_index($repo, $tag | undef, [images], format => .., subject => ..)
# journal_events read_file files_under random_bytes
#
# Environment:
#   HARBOR_NGINX      nginx binary (default /usr/sbin/nginx)
#   HARBOR_MODULE     module .so (default <repo>/build/ngx_http_harbor_module.so)
#   HARBOR_TEST_KEEP  keep the temporary directory (its path is printed)
#   HARBOR_SANITIZE_RUNTIME  (make test SANITIZE=1) nginx runs with it
#                     preloaded; sanitizer reports count as alerts

use strict;
use warnings;

use Carp qw(croak);
use Cwd qw(abs_path);
use Digest::SHA ();
use File::Basename qw(dirname);
use File::Path qw(make_path);
use File::Spec;
use File::Temp qw(tempdir);
use IO::Select;
use IO::Socket::INET;
use IO::Socket::SSL ();

use Harbor::Clients ();
use JSON::PP ();
use POSIX qw(:sys_wait_h);
use Scalar::Util qw(weaken);
use Test::More ();
use Time::HiRes qw(sleep time);

use Harbor::Sanitizer;

our $VERSION = '0.1';

our $NGINX = $ENV{HARBOR_NGINX} || '/usr/sbin/nginx';

# The repository root: t/lib/Harbor/Test.pm -> ../../..
our $ROOT = abs_path(File::Spec->catdir(dirname(abs_path(__FILE__)),
    '..', '..', '..'));

our $MODULE = $ENV{HARBOR_MODULE}
    || "$ROOT/build/ngx_http_harbor_module.so";

use constant {
    MT_OCI_MANIFEST => 'application/vnd.oci.image.manifest.v1+json',
    MT_OCI_INDEX    => 'application/vnd.oci.image.index.v1+json',
    MT_OCI_CONFIG   => 'application/vnd.oci.image.config.v1+json',
    MT_OCI_LAYER    => 'application/vnd.oci.image.layer.v1.tar+gzip',
    MT_OCI_EMPTY    => 'application/vnd.oci.empty.v1+json',
    MT_DOCKER_V2    => 'application/vnd.docker.distribution.manifest.v2+json',
    MT_DOCKER_LIST  =>
        'application/vnd.docker.distribution.manifest.list.v2+json',
    MT_DOCKER_CONFIG => 'application/vnd.docker.container.image.v1+json',
    MT_DOCKER_LAYER => 'application/vnd.docker.image.rootfs.diff.tar.gzip',
};

our @EXPORT_MT = qw(MT_OCI_MANIFEST MT_OCI_INDEX MT_OCI_CONFIG MT_OCI_LAYER
    MT_OCI_EMPTY MT_DOCKER_V2 MT_DOCKER_LIST MT_DOCKER_CONFIG
    MT_DOCKER_LAYER);

# Instances still alive, stopped (and checked) in END before Test::More
# prints its summary.
my %LIVE;

my $JSON = JSON::PP->new->utf8->canonical->allow_nonref;


# use Harbor::Test;             exports the MT_* media type constants
# use Harbor::Test qw(:all);    also sha256 sha512 random_bytes and
#                               encode_json decode_json (canonical JSON::PP)
sub import {
    my ($class, @what) = @_;
    my $caller = caller;

    my @names = @EXPORT_MT;
    for my $w (@what) {
        if ($w eq ':all') {
            push @names, qw(sha256 sha512 random_bytes encode_json decode_json);
        } else {
            push @names, $w;
        }
    }

    no strict 'refs';
    for my $n (@names) {
        croak "Harbor::Test does not export $n"
            unless defined &{"${class}::$n"};
        *{"${caller}::$n"} = \&{"${class}::$n"};
    }
}


sub new {
    my ($class, %opt) = @_;

    my $dir = tempdir('harbor-test-XXXXXXXX', TMPDIR => 1,
        CLEANUP => $ENV{HARBOR_TEST_KEEP} ? 0 : 1);

    my $self = bless {
        dir      => $dir,
        opt      => {%opt},
        allow    => [],
        pid      => undef,
        owner    => $$,
    }, $class;

    Test::More::diag("harbor test dir: $dir") if $ENV{HARBOR_TEST_KEEP};

    chmod 0755, $dir;

    ($self->{uid}, $self->{gid}) = (-1, -1);
    if ($> == 0) {
        my @pw = getpwnam('harbor');
        croak "running as root, but there is no user 'harbor'" unless @pw;
        ($self->{uid}, $self->{gid}) = ($pw[2], $pw[3]);
        my $gid = getgrnam('harbor');
        $self->{gid} = $gid if defined $gid;
        chown $self->{uid}, $self->{gid}, $dir;
    }

    $self->{port} = $opt{port} || _free_port();

    $self->_mkdir($self->storage);
    $self->_mkdir(dirname($self->journal));

    $LIVE{"$self"} = $self;
    weaken($LIVE{"$self"});

    return $self;
}


sub dir     { $_[0]{dir} }
sub port    { $_[0]{port} }
# The live workers of the master (a killed one stays a zombie child until
# the master reaps it), sorted; with n, waits up to 10 s for n of them.
sub workers {
    my ($self, $n) = @_;

    my $deadline = time() + 10;
    while (1) {
        my $m = $self->{pid} or return ();
        my @w = sort { $a <=> $b }
                grep { /^\d+$/ && Harbor::Clients::pid_alive($_) }
                map { s/\s+//gr } split /\n/, `ps -o pid= --ppid $m`;
        return @w if !defined $n || @w >= $n || time() > $deadline;
        sleep 0.02;
    }
}

sub url     { ($_[0]{tls} ? 'https' : 'http') . '://127.0.0.1:' . $_[0]{port} }
sub storage { $_[0]{dir} . '/registry' }
sub journal { $_[0]{dir} . '/journal/events.log' }
sub pid     { $_[0]{pid} }
sub module  { $MODULE }
sub nginx   { $NGINX }

# The docker/registry/v2 tree inside the storage.
sub v2root  { $_[0]->storage . '/docker/registry/v2' }


sub _mkdir {
    my ($self, $path) = @_;

    make_path($path) unless -d $path;
    chown $self->{uid}, $self->{gid}, $path if $> == 0;
}


# A port for nginx to listen on: random, below the ephemeral range so
# that no client connection of ours takes it meanwhile, and free now.
sub _free_port {
    for (1 .. 200) {
        my $port = 20000 + int(rand(12000));
        my $s = IO::Socket::INET->new(
            LocalAddr => '127.0.0.1',
            LocalPort => $port,
            Proto     => 'tcp',
            Listen    => 1,
            ReuseAddr => 1,
        );
        next unless $s;
        close $s;
        return $port;
    }
    croak "no free port found";
}


###############################################################################
# configuration and process


# The settings of the shipped configuration that every test runs with:
# the main context of conf/harbor-main.conf.in (load_module aside), the
# server level of conf/harbor.conf.in (listen, server_name and the
# locations of authd and the UI aside, its named locations included) and
# the directives of its location /v2/ that are not harbor_*.  Returns
# {main, server, v2}: lists of directive texts.
my $SHIPPED;

sub shipped {
    return $SHIPPED if $SHIPPED;

    my %out = (main => [], server => [], v2 => []);

    for my $d (_conf_directives("$ROOT/conf/harbor-main.conf.in")) {
        push @{$out{main}}, $d->{text}
            if $d->{depth} == 0 && $d->{name} ne 'load_module';
    }

    for my $d (_conf_directives("$ROOT/conf/harbor.conf.in")) {
        next unless @{$d->{blocks}} && $d->{blocks}[0] eq 'server';

        if ($d->{depth} == 1) {
            push @{$out{server}}, $d->{text}
                unless $d->{name} =~ /^(?:listen|server_name)$/;

        } elsif ($d->{depth} == 2 && $d->{blocks}[1] eq 'location /v2/') {
            push @{$out{v2}}, $d->{text} unless $d->{name} =~ /^harbor_/;
        }
    }

    $SHIPPED = \%out;
    return $SHIPPED;
}


# Directives of an nginx configuration file: {name, text, depth, blocks}
# where blocks are the enclosing block headers ("server", "location /v2/").
# A named location comes back whole, as one directive of the server.
sub _conf_directives {
    my ($path) = @_;

    open my $fh, '<', $path or croak "open $path: $!";
    my $text = join '', map { s/#.*//r } <$fh>;
    close $fh;

    my (@out, @blocks);

    while ($text =~ /\G\s*([^;{}]*?)\s*([;{}])/gc) {
        my ($stmt, $end, $start) = ($1, $2, $-[1]);
        $stmt =~ s/\s+/ /g;

        if ($end eq '{' && $stmt =~ /^location @/ && @blocks == 1) {
            # copy the named location as it is, up to its closing brace
            my $depth = 1;
            while ($depth && $text =~ /\G[^{}]*([{}])/gc) {
                $depth += $1 eq '{' ? 1 : -1;
            }
            my $body = substr($text, $start, pos($text) - $start);
            push @out, { name => 'location', text => $body,
                         depth => 1, blocks => [@blocks] };
            next;
        }

        if ($end eq '{') {
            push @blocks, $stmt;
        } elsif ($end eq '}') {
            pop @blocks;
        } elsif ($stmt ne '') {
            my ($name) = $stmt =~ /^(\S+)/;
            push @out, { name => $name, text => "$stmt;",
                         depth => scalar @blocks, blocks => [@blocks] };
        }
    }

    return @out;
}


# The shipped directives of a list, less those the test sets itself in
# $mine (the test's text for the same block).
sub _shipped_text {
    my ($list, $mine, $indent) = @_;

    # only the test's directives of this block count, not those inside
    # its locations (a location's error_page is not the server's)
    if (defined $mine) {
        1 while $mine =~ s/\{[^{}]*\}/;/g;
    }

    my @keep;
    for my $d (@$list) {
        my ($name) = $d =~ /^(\S+)/;
        next if $name ne 'location' && defined $mine
            && $mine =~ /(?:^|[\s;{])\Q$name\E\s/;
        push @keep, $d;
    }
    return join "\n" . ' ' x $indent, @keep;
}


sub conf_text {
    my ($self, %opt) = @_;

    my $dir = $self->{dir};
    my $workers = $opt{workers} || 2;
    my $error_log = $opt{error_log} || "$dir/error.log";
    my $module = defined $opt{module} ? $opt{module} : $MODULE;

    my $user = $> == 0 ? "user harbor harbor;\n" : '';

    my $registry = defined $opt{registry} ? $opt{registry} : join("\n",
        'harbor_registry on;',
        'harbor_storage  ' . $self->storage . ';',
        'harbor_journal  ' . $self->journal . ';',
        'harbor_auth     off;');

    my ($main, $http, $server, $location) =
        map { defined $opt{$_} ? $opt{$_} : '' } qw(main http server location);

    my $load = defined $module && $module ne ''
        ? "load_module $module;\n" : '';

    # tls => DIR (server.crt, server.key, ca.crt from authd cert): https
    # and HTTP/2 on the port, with conf/harbor-tls.conf.in as shipped
    my ($listen, $tls) = ("127.0.0.1:$self->{port}", '');
    $self->{tls} = $opt{tls};
    if ($opt{tls}) {
        $listen .= ' ssl http2';
        open my $fh, '<', "$ROOT/conf/harbor-tls.conf.in"
            or croak "conf/harbor-tls.conf.in: $!";
        $tls = join '', grep { !/^\s*#/ } <$fh>;
        close $fh;
        $tls =~ s/\@TLS_CERTIFICATE\@/$opt{tls}\/server.crt/g;
        $tls =~ s/\@TLS_KEY\@/$opt{tls}\/server.key/g;
    }

    # the shipped settings, unless the test sets the same directive
    my $sh = shipped();
    my $main_sh = _shipped_text($sh->{main}, $main, 0);
    my $server_sh = _shipped_text($sh->{server}, $server, 8);
    my $v2_sh = _shipped_text($sh->{v2}, "$registry $location", 12);

    return <<"EOF";
# generated by Harbor::Test
${load}
daemon off;
master_process on;
worker_processes $workers;
${user}pid $dir/nginx.pid;
error_log $error_log debug;

$main_sh
$main

events {
    worker_connections 1024;
}

http {
    access_log $dir/access.log;

    client_body_temp_path $dir/client_body_temp;
    proxy_temp_path       $dir/proxy_temp;
    fastcgi_temp_path     $dir/fastcgi_temp;
    uwsgi_temp_path       $dir/uwsgi_temp;
    scgi_temp_path        $dir/scgi_temp;

    # as conf/harbor.conf.in ships it
    open_file_cache  max=10000 inactive=60s;

    $http

    server {
        listen $listen;
        server_name localhost;

        $tls

        # conf/harbor.conf.in
        $server_sh

        $server

        location /v2/ {
            $v2_sh

            $registry

            $location
        }
    }
}
EOF
}


sub write_conf {
    my ($self, $name, $text) = @_;

    my $path = "$self->{dir}/$name";
    open my $fh, '>', $path or croak "open $path: $!";
    print $fh $text;
    close $fh;
    return $path;
}


# nginx -t with the same template; returns (exit code, output).
sub conf_test {
    my ($self, %opt) = @_;

    my $dir = $self->{dir};
    my $log = "$dir/conftest-error.log";
    unlink $log;

    my $conf = $self->write_conf('nginx-t.conf',
        $self->conf_text(%{$self->{opt}}, %opt, error_log => $log));

    my %san = Harbor::Sanitizer::env($dir, 'nginx', preload => 1);
    local @ENV{keys %san} = values %san;
    my $out = qx{$NGINX -t -p $dir/ -c $conf -e $log 2>&1};
    my $code = $? >> 8;

    if (open my $fh, '<', $log) {
        local $/;
        my $l = <$fh>;
        close $fh;
        # the debug lines are noise for the caller
        $out .= join '', grep { !/\[debug\]/ } split /^/m, $l;
    }

    return ($code, $out);
}


sub run {
    my ($self, %opt) = @_;

    # The port was free when new() picked it; another test running in
    # parallel may have taken it since.  On a first start with a port of
    # our choosing, pick another one and try again.
    for my $try (1 .. 5) {
        my $mark = length $self->read_file('error.log');
        my $ok = eval { $self->_run(%opt); 1 };
        return $self if $ok;

        my $err = $@;
        die $err if $self->{started} || $self->{opt}{port} || $try == 5
            || substr($self->read_file('error.log'), $mark)
               !~ /Address already in use/;

        # the emerg of the failed bind is not one to report
        $self->alerts;
        $self->{port} = _free_port();
    }
}


sub _run {
    my ($self, %opt) = @_;

    croak "nginx already running" if $self->{pid};

    my $dir = $self->{dir};
    my %all = (%{$self->{opt}}, %opt);
    $self->{run_opt} = {%opt};

    my $module = defined $all{module} ? $all{module} : $MODULE;
    croak "no module at $module (make module)"
        unless $module eq '' || -f $module;

    my $conf = $self->write_conf('nginx.conf', $self->conf_text(%all));

    # where the error log was before this run: alerts are looked for in
    # what this run adds
    my $elog = "$dir/error.log";
    $self->{log_offset} //= 0;

    my $pid = fork();
    croak "fork: $!" unless defined $pid;

    if ($pid == 0) {
        open STDIN, '<', '/dev/null';
        open STDOUT, '>>', "$dir/stderr.log";
        open STDERR, '>>', "$dir/stderr.log";
        my %san = Harbor::Sanitizer::env($dir, 'nginx', preload => 1);
        @ENV{keys %san} = values %san;
        exec($NGINX, '-p', "$dir/", '-c', $conf, '-e', $elog)
            or POSIX::_exit(127);
    }

    $self->{pid} = $pid;

    # Ready when the port accepts connections, and they are ours: nginx
    # writes its pid file only after it has bound its sockets (something
    # else may listen on the port if the bind failed).  A loaded machine
    # (the sanitizer pass, parallel tests) may take its time.
    my $deadline = time() + 30;
    unlink "$dir/nginx.pid";
    while (1) {
        my $pidfile = $self->read_file('nginx.pid');
        if ($pidfile =~ /^\s*$pid\s*$/) {
            my $s = IO::Socket::INET->new(
                PeerAddr => '127.0.0.1',
                PeerPort => $self->{port},
                Proto    => 'tcp',
                Timeout  => 1,
            );
            if ($s) {
                close $s;
                last;
            }
        }

        if (waitpid($pid, WNOHANG) == $pid) {
            my $st = $?;
            $self->{pid} = undef;
            die "nginx exited (status $st) at start:\n"
                . $self->read_file('stderr.log')
                . $self->_log_tail(40);
        }

        if (time() > $deadline) {
            kill 'KILL', $pid;
            waitpid($pid, 0);
            $self->{pid} = undef;
            die "nginx did not listen on port $self->{port} within 30s:\n"
                . $self->read_file('stderr.log')
                . $self->_log_tail(40);
        }

        sleep 0.02;
    }

    $self->{started} = 1;

    return $self;
}


sub _log_tail {
    my ($self, $n) = @_;

    my @l = grep { !/\[debug\]/ } split /^/m, $self->read_file('error.log');
    @l = @l[-$n .. -1] if @l > $n;
    return join '', @l;
}


sub read_file {
    my ($self, $name) = @_;

    my $path = $name =~ m{^/} ? $name : "$self->{dir}/$name";
    open my $fh, '<', $path or return '';
    binmode $fh;
    local $/;
    my $c = <$fh>;
    close $fh;
    return defined $c ? $c : '';
}


# Stop nginx gracefully (QUIT) and wait for the master to exit; then look
# for alerts in error.log.
sub stop {
    my ($self) = @_;

    my $pid = $self->{pid};
    return $self unless $pid;

    kill 'QUIT', $pid;

    my $deadline = time() + 10;
    my $gone = 0;
    while (time() < $deadline) {
        my $w = waitpid($pid, WNOHANG);
        if ($w == $pid || $w == -1) {
            $gone = 1;
            last;
        }
        sleep 0.02;
    }

    unless ($gone) {
        kill 'TERM', $pid;
        sleep 0.5;
        kill 'KILL', $pid if waitpid($pid, WNOHANG) == 0;
        waitpid($pid, 0);
        Test::More::ok(0, 'nginx quit within 10s');
    }

    $self->{pid} = undef;
    $self->check_alerts;

    return $self;
}


# Like stop + run, keeping port, storage and journal.
sub restart {
    my ($self, %opt) = @_;

    my %o = (%{$self->{run_opt} || {}}, %opt);
    $self->stop;
    return $self->run(%o);
}


sub allow_log {
    my ($self, @re) = @_;
    push @{$self->{allow}}, @re;
    return $self;
}


# Lines of error.log (since the last check) with [alert], [crit] or
# [emerg] that no allow_log pattern matches, and sanitizer reports.
sub alerts {
    my ($self) = @_;

    my $log = $self->read_file('error.log');
    my $from = $self->{log_offset} || 0;
    $from = 0 if $from > length $log;

    my @bad;
    for my $line (split /\n/, substr($log, $from)) {
        next unless $line =~ /\[(?:alert|crit|emerg)\]/;
        next if grep { $line =~ $_ } @{$self->{allow}};
        push @bad, $line;
    }

    for my $line (split /\n/, $self->read_file('stderr.log')) {
        next unless $line =~ /\[(?:alert|crit|emerg)\]/;
        next if grep { $line =~ $_ } @{$self->{allow}};
        next if $self->{stderr_seen}{$line}++;
        push @bad, $line;
    }

    push @bad, Harbor::Sanitizer::reports($self->{dir});

    $self->{log_offset} = length $log;
    return @bad;
}


# Fails a test "no alerts in error.log" if there are any; adds no test
# when the log is clean, so plans stay what the test file says.
sub check_alerts {
    my ($self) = @_;

    my @bad = $self->alerts;
    if (@bad) {
        Test::More::ok(0, 'no alerts in error.log');
        Test::More::diag($_) for @bad[0 .. ($#bad > 20 ? 20 : $#bad)];
    }
    return !@bad;
}


sub DESTROY {
    my ($self) = @_;
    local ($?, $!, $@);

    return unless $self->{owner} == $$;
    delete $LIVE{"$self"};
    $self->stop if $self->{pid};
}


END {
    local ($?, $!, $@);
    for my $t (grep { defined } values %LIVE) {
        next unless $t->{owner} == $$;
        $t->stop if $t->{pid};
    }
}


###############################################################################
# HTTP


sub http {
    my ($self, $method, $path, %o) = @_;

    local $SIG{PIPE} = 'IGNORE';

    my $req;

    if (defined $o{raw}) {
        $req = $o{raw};

    } else {
        # hashref, [name => value, ...] or [[name, value], ...]
        my @h;
        my $hdrs = $o{headers} || [];
        if (ref $hdrs eq 'HASH') {
            @h = map { ($_, $hdrs->{$_}) } sort keys %$hdrs;
        } elsif (@$hdrs && ref $hdrs->[0] eq 'ARRAY') {
            @h = map { @$_ } @$hdrs;
        } else {
            @h = @$hdrs;
        }

        my %have;
        for (my $i = 0; $i < @h; $i += 2) {
            $have{lc $h[$i]} = 1;
        }

        my $head = "$method $path HTTP/1.1\r\n";
        $head .= "Host: localhost\r\n" unless $have{host};
        $head .= "Connection: close\r\n" unless $have{connection};

        for (my $i = 0; $i < @h; $i += 2) {
            $head .= "$h[$i]: $h[$i + 1]\r\n";
        }

        my $body = $o{body};

        if ($o{chunked}) {
            $body = '' unless defined $body;
            $head .= "Transfer-Encoding: chunked\r\n"
                unless $have{'transfer-encoding'};
            my $size = $o{chunked} =~ /^\d+$/ && $o{chunked} > 1
                ? $o{chunked} : (int(length($body) / 3) || 1);
            my $enc = '';
            for (my $off = 0; $off < length $body; $off += $size) {
                my $piece = substr($body, $off, $size);
                $enc .= sprintf("%x\r\n", length $piece) . $piece . "\r\n";
            }
            $enc .= "0\r\n\r\n";
            $body = $enc;

        } elsif (defined $body) {
            $head .= 'Content-Length: ' . length($body) . "\r\n"
                unless $o{no_length} || $have{'content-length'};

        } elsif ($method =~ /^(?:POST|PUT|PATCH)$/
                 && !$o{no_length} && !$have{'content-length'})
        {
            $head .= "Content-Length: 0\r\n";
        }

        $req = $head . "\r\n" . (defined $body ? $body : '');
    }

    my $s = $self->{tls}
        ? IO::Socket::SSL->new(
              PeerAddr        => '127.0.0.1',
              PeerPort        => $self->{port},
              Timeout         => 5,
              SSL_ca_file     => "$self->{tls}/ca.crt",
              SSL_verifycn_name => '127.0.0.1',
          )
        : IO::Socket::INET->new(
              PeerAddr => '127.0.0.1',
              PeerPort => $self->{port},
              Proto    => 'tcp',
              Timeout  => 5,
          );

    unless ($s) {
        return { status => 0, headers => {}, body => '', raw => '',
                 error => "connect: $!"
                          . ($self->{tls} ? " $IO::Socket::SSL::SSL_ERROR"
                                          : '') };
    }

    binmode $s;

    my $timeout = $o{timeout} || 20;
    my $sel = IO::Select->new($s);

    # write, but stop if the server answers (and closes) early
    my $off = 0;
    while ($off < length $req) {
        last unless $sel->can_write($timeout);
        my $n = syswrite($s, $req, 65536, $off);
        last unless defined $n && $n > 0;
        $off += $n;
    }

    my $raw = '';
    my $deadline = time() + $timeout;
    while (1) {
        my $left = $deadline - time();
        last if $left <= 0;
        # TLS may hold decrypted bytes the socket no longer shows
        last unless ($self->{tls} && $s->pending) || $sel->can_read($left);
        my $n = sysread($s, my $buf, 65536);
        last unless $n;
        $raw .= $buf;

        # done when the response is whole: a server in lingering close
        # may keep the connection open a while after that
        # (a raw request may be several: read those to the end)
        last if !defined $o{raw} && _complete($raw, $method);
    }
    close $s;

    return $self->parse_response($raw, $method);
}


# Whether raw holds a whole response (all that Connection: close sends,
# for the cases where the length is known).
sub _complete {
    my ($raw, $method) = @_;

    my $rest = $raw;
    while (1) {
        my $i = index($rest, "\r\n\r\n");
        return 0 if $i < 0;
        my $head = substr($rest, 0, $i);
        $rest = substr($rest, $i + 4);
        my ($status) = $head =~ m{^HTTP/\d\.\d (\d{3})} or return 0;
        next if $status =~ /^1/;

        return 1 if $method eq 'HEAD' || $status == 204 || $status == 304;

        if ($head =~ /^transfer-encoding:[^\r\n]*chunked/mi) {
            return $rest =~ /(?:^|\r\n)0\r\n(?:[^\r\n]+\r\n)*\r\n\z/ ? 1 : 0;
        }

        if ($head =~ /^content-length:\s*(\d+)/mi) {
            return length($rest) >= $1 ? 1 : 0;
        }

        return 0;
    }
}


sub parse_response {
    my ($self, $raw, $method) = @_;

    my $res = { status => 0, headers => {}, header_list => [], body => '',
                raw => $raw, method => $method };

    my $rest = $raw;

    while (1) {
        my $i = index($rest, "\r\n\r\n");
        return $res if $i < 0;

        my $head = substr($rest, 0, $i);
        $rest = substr($rest, $i + 4);

        my ($line, @lines) = split /\r\n/, $head;
        return $res unless $line =~ m{^HTTP/\d\.\d (\d{3})(?: (.*))?$};
        $res->{status} = $1;
        $res->{reason} = defined $2 ? $2 : '';

        # interim responses (100 Continue) precede the real one
        next if $1 =~ /^1/;

        for my $l (@lines) {
            my ($n, $v) = $l =~ /^([^:]+):\s*(.*?)\s*$/ or next;
            push @{$res->{header_list}}, [$n, $v];
            $n = lc $n;
            $res->{headers}{$n} = exists $res->{headers}{$n}
                ? "$res->{headers}{$n}, $v" : $v;
        }
        last;
    }

    if ((defined $method && $method eq 'HEAD')
        || $res->{status} == 204 || $res->{status} == 304)
    {
        $res->{body} = '';
        $res->{trailing} = $rest;
        return $res;
    }

    my $te = $res->{headers}{'transfer-encoding'} || '';

    if ($te =~ /chunked/i) {
        my $body = '';
        while ($rest =~ s/^([0-9a-fA-F]+)[^\r\n]*\r\n//) {
            my $n = hex $1;
            last if $n == 0;
            $body .= substr($rest, 0, $n);
            $rest = length($rest) >= $n + 2 ? substr($rest, $n + 2) : '';
        }
        $res->{body} = $body;

    } elsif (defined $res->{headers}{'content-length'}) {
        $res->{body} = substr($rest, 0, $res->{headers}{'content-length'});

    } else {
        $res->{body} = $rest;
    }

    return $res;
}


sub json {
    my ($self, $res) = @_;

    my $body = ref $res ? $res->{body} : $res;
    my $d = eval { $JSON->decode($body) };
    unless (defined $d) {
        Test::More::diag('not JSON: '
            . (defined $body ? substr($body, 0, 200) : '(undef)'));
        return {};
    }
    return $d;
}


# The first error code of an error response, or ''.
sub error_code {
    my ($self, $res) = @_;

    my $d = eval { $JSON->decode($res->{body}) };
    return '' unless ref $d eq 'HASH' && ref $d->{errors} eq 'ARRAY'
        && ref $d->{errors}[0] eq 'HASH';
    return defined $d->{errors}[0]{code} ? $d->{errors}[0]{code} : '';
}


# One test: $r is an OCI error response with this status and code (and
# the JSON content type, the API version header, a message).  For HEAD
# only the status and headers are checked.
sub is_error {
    my ($self, $r, $status, $code, $name) = @_;
    local $Test::Builder::Level = $Test::Builder::Level + 1;

    my @why;
    my $h = $r->{headers};

    push @why, "status $r->{status}, expected $status"
        unless $r->{status} == $status;

    my $ct = defined $h->{'content-type'} ? $h->{'content-type'} : '';
    push @why, "Content-Type '$ct'"
        unless $ct =~ m{^application/json;\s*charset=utf-8$}i;

    push @why, "no Docker-Distribution-API-Version: registry/2.0"
        unless ($h->{'docker-distribution-api-version'} || '')
               eq 'registry/2.0';

    if (($r->{method} || '') ne 'HEAD') {
        my $d = eval { $JSON->decode($r->{body}) };
        my $e = ref $d eq 'HASH' && ref $d->{errors} eq 'ARRAY'
            ? $d->{errors}[0] : undef;

        if (ref $e ne 'HASH') {
            push @why, "no errors[0] in body";
        } else {
            my $got = defined $e->{code} ? $e->{code} : '(none)';
            push @why, "code $got, expected $code"
                if defined $code && $got ne $code;
            push @why, "errors[0].message is not a string"
                unless defined $e->{message} && !ref $e->{message};
        }
    }

    Test::More::ok(!@why, $name)
        or Test::More::diag(join("\n", @why) . "\n"
            . substr($r->{raw}, 0, 600));
    return !@why;
}


# $r is the answer of the registry (not of nginx): it carries the API
# version header.
sub from_registry {
    my ($self, $r) = @_;
    return ($r->{headers}{'docker-distribution-api-version'} || '')
        eq 'registry/2.0';
}


# Starts an upload: returns (location, uuid, response).
sub upload_start {
    my ($self, $repo, %o) = @_;

    my $r = $self->http(POST => "/v2/$repo/blobs/uploads/", %o);
    my $loc = $r->{headers}{location} || '';
    $loc =~ s{^https?://[^/]+}{};
    my ($uuid) = $loc =~ m{/blobs/uploads/([^/?]+)};

    Test::More::diag("upload_start $repo: $r->{status} $r->{body}")
        unless $r->{status} == 202;

    return ($loc, $uuid, $r);
}


# Location (possibly with a query) plus more query arguments.
sub with_query {
    my ($self, $loc, $q) = @_;
    return $loc . ($loc =~ /\?/ ? '&' : '?') . $q;
}


###############################################################################
# registry helpers


sub sha256 { 'sha256:' . Digest::SHA::sha256_hex($_[0]) }
sub sha512 { 'sha512:' . Digest::SHA::sha512_hex($_[0]) }
sub encode_json { $JSON->encode($_[0]) }
sub decode_json { $JSON->decode($_[0]) }


sub random_bytes {
    my $n = pop;
    my $s = pack('N*', map { int rand 4294967296 } 0 .. $n / 4);
    return substr($s, 0, $n);
}


# Monolithic upload: POST /v2/<repo>/blobs/uploads/?digest=<d> with the
# body.  Returns the digest (and the response in list context).  With
# new(monolithic => 0) (registries without single-POST uploads, such as
# docker-registry 2.8) it is POST, then PUT ?digest= with the body.
sub push_blob {
    my ($self, $repo, $bytes, %o) = @_;

    my $d = ($o{algorithm} || 'sha256') eq 'sha512'
        ? sha512($bytes) : sha256($bytes);

    my $r;

    if (defined $self->{opt}{monolithic} && !$self->{opt}{monolithic}) {
        my ($loc) = $self->upload_start($repo);
        $r = $self->http(PUT => $self->with_query($loc, "digest=$d"),
            body => $bytes,
            headers => ['Content-Type' => 'application/octet-stream']);

    } else {
        $r = $self->http(POST => "/v2/$repo/blobs/uploads/?digest=$d",
            body => $bytes,
            headers => ['Content-Type' => 'application/octet-stream']);
    }

    Test::More::diag("push_blob $repo $d: $r->{status} $r->{body}")
        unless $r->{status} == 201;

    return wantarray ? ($d, $r) : $d;
}


sub push_manifest {
    my ($self, $repo, $ref, $json, $media_type) = @_;

    return $self->http(PUT => "/v2/$repo/manifests/$ref",
        body => $json,
        headers => [defined $media_type ? ('Content-Type' => $media_type)
                                        : ()]);
}


# Pushes nlayers random layers, a config and a manifest; tags it $tag (or
# pushes by digest if $tag is undef).  Options:
#   nlayers => N (default 1), format => 'oci' | 'docker',
#   subject => {digest, size, mediaType} | result of make_image,
#   artifact_type => ..., annotations => {...}, config => bytes,
#   config_media_type => ..., layer_size => N
# Returns {digest, manifest (the bytes), media_type, size, response,
# layers => [blobs], config => blob}, where a blob is a hashref
# {digest, size, data, media_type} that stringifies to its digest.
sub make_image {
    my ($self, $repo, $tag, %o) = @_;

    my $docker = ($o{format} || 'oci') eq 'docker';
    my $nlayers = defined $o{nlayers} ? $o{nlayers} : 1;

    my $layer_mt = $docker ? MT_DOCKER_LAYER : MT_OCI_LAYER;
    my $config_mt = $o{config_media_type}
        || ($docker ? MT_DOCKER_CONFIG : MT_OCI_CONFIG);
    my $mt = $docker ? MT_DOCKER_V2 : MT_OCI_MANIFEST;

    my @layers;
    for (1 .. $nlayers) {
        my $data = random_bytes($o{layer_size} || (64 + int rand 2048));
        my $d = $self->push_blob($repo, $data);
        push @layers, Harbor::Test::Blob->new(digest => $d,
            size => length $data, data => $data, media_type => $layer_mt);
    }

    my $config = defined $o{config} ? $o{config} : encode_json({
        architecture => 'amd64',
        os           => 'linux',
        created      => '2026-11-28T00:00:00Z',
        rootfs       => {
            type     => 'layers',
            diff_ids => [map { $_->{digest} } @layers],
        },
        config       => { Labels => { nonce => unpack('H*',
            random_bytes(8)) } },
    });
    my $cd = $self->push_blob($repo, $config);
    my $cfg = Harbor::Test::Blob->new(digest => $cd, size => length $config,
        data => $config, media_type => $config_mt);

    my %m = (
        schemaVersion => 2,
        mediaType     => $mt,
        config        => { mediaType => $config_mt, digest => $cd,
                           size => length $config },
        layers        => [map { { mediaType => $layer_mt,
                                  digest => $_->{digest},
                                  size => $_->{size} } } @layers],
    );

    $m{artifactType} = $o{artifact_type} if defined $o{artifact_type};
    $m{annotations} = $o{annotations} if $o{annotations};

    if (my $s = $o{subject}) {
        $m{subject} = {
            mediaType => $s->{media_type} || $s->{mediaType} || MT_OCI_MANIFEST,
            digest    => $s->{digest},
            size      => defined $s->{size} ? $s->{size}
                         : length($s->{manifest} || ''),
        };
    }

    my $json = encode_json(\%m);
    my $digest = sha256($json);

    my $r = $self->push_manifest($repo, defined $tag ? $tag : $digest,
        $json, $mt);

    Test::More::diag("make_image $repo:"
        . (defined $tag ? $tag : $digest) . ": $r->{status} $r->{body}")
        unless $r->{status} == 201;

    return {
        digest     => $digest,
        manifest   => $json,
        media_type => $mt,
        size       => length $json,
        response   => $r,
        layers     => \@layers,
        config     => $cfg,
        tag        => $tag,
        repo       => $repo,
    };
}


# An OCI index of the given images (results of make_image or descriptors).
sub make_index {
    my ($self, $repo, $tag, $images, %o) = @_;

    my $mt = ($o{format} || 'oci') eq 'docker' ? MT_DOCKER_LIST : MT_OCI_INDEX;

    my @m;
    my $i = 0;
    for my $img (@$images) {
        push @m, {
            mediaType => $img->{media_type} || $img->{mediaType},
            digest    => $img->{digest},
            size      => defined $img->{size} ? $img->{size}
                         : length $img->{manifest},
            platform  => { os => 'linux',
                           architecture => (qw(amd64 arm64 s390x ppc64le
                                               riscv64 386))[$i++ % 6] },
        };
    }

    my %idx = (schemaVersion => 2, mediaType => $mt, manifests => \@m);
    $idx{artifactType} = $o{artifact_type} if defined $o{artifact_type};
    $idx{annotations} = $o{annotations} if $o{annotations};
    if (my $s = $o{subject}) {
        $idx{subject} = {
            mediaType => $s->{media_type} || $s->{mediaType},
            digest    => $s->{digest},
            size      => defined $s->{size} ? $s->{size}
                         : length $s->{manifest},
        };
    }

    my $json = encode_json(\%idx);
    my $digest = sha256($json);
    my $r = $self->push_manifest($repo, defined $tag ? $tag : $digest,
        $json, $mt);

    Test::More::diag("make_index $repo: $r->{status} $r->{body}")
        unless $r->{status} == 201;

    return { digest => $digest, manifest => $json, media_type => $mt,
             size => length $json, response => $r, tag => $tag,
             repo => $repo };
}


# Journal lines decoded (those that are not JSON are returned as
# { _bad => line }).
sub journal_events {
    my ($self) = @_;

    my @ev;
    for my $line (split /\n/, $self->read_file($self->journal)) {
        next if $line eq '';
        my $d = eval { $JSON->decode($line) };
        push @ev, ref $d eq 'HASH' ? $d : { _bad => $line };
    }
    return @ev;
}


# Files under a directory, relative to it, sorted.
sub files_under {
    my ($self, $top) = @_;

    my @out;
    my @stack = ($top);
    while (defined(my $d = pop @stack)) {
        opendir my $dh, $d or next;
        for my $e (readdir $dh) {
            next if $e eq '.' || $e eq '..';
            my $p = "$d/$e";
            if (-d $p && !-l $p) {
                push @stack, $p;
            } else {
                push @out, substr($p, length($top) + 1);
            }
        }
        closedir $dh;
    }
    return sort @out;
}


###############################################################################

package Harbor::Test::Blob;

use overload '""' => sub { $_[0]{digest} }, fallback => 1;

sub new {
    my ($class, %f) = @_;
    return bless {%f}, $class;
}

sub digest     { $_[0]{digest} }
sub size       { $_[0]{size} }
sub data       { $_[0]{data} }
sub media_type { $_[0]{media_type} }

1;
