#!/usr/bin/perl

# conf/instance.sh, behind make run and make stop: it records the real
# pids of what it started, so that after authd dies `instance.sh start`
# brings it back, and `instance.sh stop` stops everything.  A private
# instance: a temporary HARBOR_DATA and a free port.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use File::Temp qw(tempdir);
use Test::More;

use Harbor::Authd;
use Harbor::Test;

my $ROOT = $Harbor::Test::ROOT;
my $sh = "$ROOT/conf/instance.sh";

my $data = tempdir('hb-instance-XXXXXX', TMPDIR => 1,
                   CLEANUP => $ENV{HARBOR_TEST_KEEP} ? 0 : 1);
chmod 0755, $data;
my $port = Harbor::Test::_free_port();
local $ENV{HARBOR_DATA} = $data;
local $ENV{HARBOR_PORT} = $port;

my $t = Harbor::Test->new(port => $port);

sub instance {
    my ($what) = @_;
    my $out = qx{$sh $what 2>&1};
    return ($? >> 8, $out);
}

# the processes that belong to this instance, by executable
sub procs {
    my ($exe) = @_;
    my @pids;
    for my $dir (glob '/proc/[0-9]*') {
        my $e = readlink("$dir/exe") // next;
        next unless $e eq $exe;
        open my $f, '<', "$dir/cmdline" or next;
        my $cmd = do { local $/; <$f> } // '';
        close $f;
        push @pids, $dir =~ s{^/proc/}{}r if $cmd =~ /\Q$data\E/;
    }
    return sort { $a <=> $b } @pids;
}

sub pidfile {
    my ($name) = @_;
    open my $f, '<', "$data/run/$name.pid" or return '';
    my $pid = <$f> // '';
    close $f;
    chomp $pid;
    return $pid;
}

sub serves {
    my $r = $t->http(GET => '/api/v2.0/health', timeout => 5);
    return $r->{status} == 200 && $r->{body} =~ /"database","status":"healthy"/;
}

my $authd = "$ROOT/authd/authd";
my $pgbin = $Harbor::Authd::PGBIN;

my ($rc, $out) = instance('start');
is($rc, 0, 'instance.sh start') or diag($out);
ok(serves(), 'the instance serves, database included');

my @a = procs($authd);
is(scalar @a, 1, 'one authd runs');
is(pidfile('authd'), $a[0], 'authd.pid holds the pid of authd itself');

# authd dies: start sees it and brings it back, the rest untouched
my $nginx = pidfile('nginx');
ok($nginx && kill(0, $nginx), 'nginx.pid names a live nginx');
kill 'KILL', $a[0];
ok(Harbor::Authd::wait_for(10, sub { !procs($authd) }),
   'authd killed (SIGKILL)');
is($t->http(GET => '/api/v2.0/ping')->{status}, 503,
   'without authd, the API answers 503');

($rc, $out) = instance('start');
is($rc, 0, 'instance.sh start again') or diag($out);
my @b = procs($authd);
is(scalar @b, 1, 'authd runs again');
isnt($b[0], $a[0], 'a new authd');
is(pidfile('authd'), $b[0], 'authd.pid holds its pid');
is(pidfile('nginx'), $nginx, 'nginx was left running');
ok(Harbor::Authd::wait_for(10, \&serves), 'the instance serves again');

# stop stops everything
($rc, $out) = instance('stop');
is($rc, 0, 'instance.sh stop') or diag($out);
is_deeply([procs($authd)], [], 'no authd left');
ok(!kill(0, $nginx), 'nginx stopped');
is_deeply([procs("$pgbin/postgres")], [], 'PostgreSQL stopped');
ok(!-e "$data/run/authd.pid" && !-e "$data/run/nginx.pid",
   'no pid files left');

done_testing;
