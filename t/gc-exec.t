#!/usr/bin/perl

# The collector's worker is a process of its own, started by exec
# (`authd -G`), holding only what it needs: the progress pipe, stdio and
# the files it opens; none of authd's sockets (clients, listening socket,
# database).  Nginx's kept-alive connections to authd (the shipped conf
# keeps them: `keepalive 8`) are not held open by a run, and the thread
# that watches a run takes a database connection per update only
# (docs/gc.md).

use warnings;
use strict;

use FindBin;
use lib "$FindBin::Bin/lib";

use Test::More;
use Time::HiRes qw(time);
use Harbor::Api;
use Harbor::Authd;

###############################################################################

# one database connection for all of authd: a run must not keep it
my $s = Harbor::Api->new(workers => 2, authd_conf => {
    'authd.request_timeout'   => 2,
    'database.max_open_conns' => 1,
});
my $admin = $s->admin;

# as the shipped conf: an upstream with kept-alive connections to authd
my $inc = "$Harbor::Test::ROOT/conf/harbor-proxy.conf";
$s->{opt}{http} = 'upstream gc_exec_authd { server unix:'
    . $s->authd->sock . ";\n    keepalive 8;\n}\n";
$s->{opt}{server} = "location /ka/ {\n    proxy_pass http://gc_exec_authd/;\n"
    . "    include $inc;\n}\n";
$s->t->stop;
{
    local $ENV{HARBOR_GC_PAUSE} = 'mark';
    $s->authd->restart;
}
$s->start_nginx;

sub gc_log { $s->api(GET => "/system/gc/$_[0]/log", $admin)->{body} // '' }

sub ka_ping {
    my $t0 = time;
    my $r = $s->http(GET => '/ka/api/v2.0/ping', timeout => 20);
    return ($r->{status}, time - $t0);
}

# connections to authd that nginx keeps, in both workers
for (1 .. 8) {
    my ($st) = ka_ping();
    is($st, 200, 'ping through the kept-alive upstream');
}

my $r = $s->api(POST => '/system/gc/schedule', $admin, json => {
    schedule => { type => 'Manual' } });
is($r->{status}, 201, 'a run starts');
my $id = $r->{json}{id};

# the worker: authd's child, paused at the start of the mark
sub child_of {
    my ($ppid) = @_;
    opendir my $d, '/proc' or return;
    for my $p (grep { /^\d+$/ } readdir $d) {
        open my $st, '<', "/proc/$p/stat" or next;
        my $line = <$st> // '';
        return $p if $line =~ /^\d+ \(.*\) \S (\d+) / && $1 == $ppid;
    }
    return;
}

my $pid;
Harbor::Authd::wait_for(30, sub { $pid = child_of($s->authd->pid) });
ok($pid, 'the worker runs') or BAIL_OUT('no worker');
ok(Harbor::Authd::wait_for(30, sub {
    gc_log($id) =~ /paused at mark \(pid $pid\)/ }),
    'the worker paused in mark, its log read during the run')
    or diag(gc_log($id));

# what the worker is
open my $fh, '<', "/proc/$pid/cmdline" or die "/proc/$pid/cmdline: $!";
my @argv = split /\0/, do { local $/; <$fh> };
close $fh;
is(readlink("/proc/$pid/exe"), readlink('/proc/' . $s->authd->pid . '/exe'),
    'the worker runs authd\'s binary');
ok((grep { $_ eq '-G' } @argv), 'started as authd -G') or diag("@argv");
my ($f) = grep { $argv[$_] eq '-f' } 0 .. $#argv;
ok(defined $f && $argv[$f + 1] eq $s->authd->conf_file,
    'it reads the configuration itself (-f)') or diag("@argv");

# what it holds
my %fd;
opendir my $dh, "/proc/$pid/fd" or die "/proc/$pid/fd: $!";
for (grep { /^\d+$/ } readdir $dh) {
    $fd{$_} = readlink("/proc/$pid/fd/$_") // '';
}
closedir $dh;
my @sockets = grep { $fd{$_} =~ /^socket:/ } sort keys %fd;
is(scalar @sockets, 0, 'the worker holds no socket')
    or diag(join "\n", map { "$_ -> $fd{$_}" } sort keys %fd);
my @pipes = grep { $fd{$_} =~ /^pipe:/ } sort keys %fd;
ok(@pipes >= 1, 'it holds the progress pipe')
    or diag(join "\n", map { "$_ -> $fd{$_}" } sort keys %fd);
ok(scalar(keys %fd) <= 8, 'and few other files')
    or diag(join "\n", map { "$_ -> $fd{$_}" } sort keys %fd);

# authd closes idle connections after request_timeout (2 s); a run that
# held copies of them would leave nginx waiting on connections nobody
# answers.  Wait out that timeout, then ask again over each worker.
my $t0 = time;
Harbor::Authd::wait_for(10, sub { time - $t0 > 3 });
for (1 .. 6) {
    my ($st, $secs) = ka_ping();
    is($st, 200, 'ping while the run is paused');
    cmp_ok($secs, '<', 2, 'answered at once');
}

# the API, with its single database connection, while the run goes on
$t0 = time;
$r = $s->api(GET => "/system/gc/$id", $admin);
is($r->{status}, 200, 'the API answers during the run');
is($r->{json}{job_status}, 'Running', 'the run is Running');
cmp_ok(time - $t0, '<', 3, 'without waiting for a database connection');

kill 'KILL', $pid;
my $j;
Harbor::Authd::wait_for(30, sub {
    $j = $s->api(GET => "/system/gc/$id", $admin)->{json};
    return $j && $j->{job_status} ne 'Running';
});
is($j->{job_status}, 'Error', 'killed: Error');
like(gc_log($id), qr/killed by signal 9/, 'the log says so');

done_testing;
