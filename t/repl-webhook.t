#!/usr/bin/perl

# The REPLICATION webhook event: when a replication execution ends, the
# webhook policies of each project of this instance its tasks touched
# that listen to REPLICATION get Harbor's payload (event_data.replication:
# execution_id, policy_name, job_status, trigger_type, src_resource,
# dest_resource ...), once per execution; a project the run did not touch
# hears nothing.  A push-based policy to Debian's docker-registry: a run
# that succeeds, and one whose destination is gone (Failed).

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use IO::Socket::INET;
use JSON::PP ();
use POSIX ();
use Test::More;

use Harbor::Api;
use Harbor::Authd ();
use Harbor::Clients;

my $s = Harbor::Api->new(authd_conf => { 'replication.retry_delay' => 1 });
my $admin = $s->admin;
my $dir = $s->dir;
my $JSON = JSON::PP->new->utf8->canonical;
my $log = "$dir/sink.log";

# the registry and the sink are on loopback: allow-listed
is($s->api(PUT => '/configurations', $admin, json => {
    outbound_allowlist => '127.0.0.1' })->{status}, 200,
   'outbound_allowlist names 127.0.0.1');

$s->create_project('shipped');
$s->create_project('quiet');

# ---------------------------------------------------------- the sink

my $sock = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => 0,
                                 Listen => 16, ReuseAddr => 1)
    or die "sink: $!";
my $port = $sock->sockport;
my $sink_pid = fork // die "fork: $!";
if ($sink_pid == 0) {
    while (my $c = $sock->accept) {
        local $/ = "\r\n";
        my $line = <$c> // next;
        my ($path) = $line =~ m{^POST (\S+)};
        my %h;
        while (defined(my $l = <$c>)) {
            last if $l eq "\r\n";
            $h{lc $1} = $2 if $l =~ /^([^:]+):\s*(.*?)\r\n$/;
        }
        my $body = '';
        read($c, $body, $h{'content-length'} // 0);
        open(my $f, '>>', $log) or die;
        print $f $JSON->encode({ path => $path // '', body => $body }), "\n";
        close $f;
        print $c "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n"
               . "Connection: close\r\n\r\n";
        close $c;
    }
    POSIX::_exit(0);
}
close $sock;
END { local $?; if ($sink_pid) { kill 'KILL', $sink_pid; waitpid($sink_pid, 0) } }

sub received {
    my ($path) = @_;
    open(my $f, '<', $log) or return ();
    return map { $JSON->decode($_->{body}) }
           grep { $_->{path} eq $path } map { $JSON->decode($_) } <$f>;
}

sub id_of { ($_[0]{headers}{location} // '') =~ m{(\d+)$} ? $1 : undef }

for my $p (qw(shipped quiet)) {
    is($s->api(POST => "/projects/$p/webhook/policies", $admin, json => {
        name => "hook-$p", enabled => JSON::PP::true,
        event_types => ['REPLICATION'],
        targets => [{ type => 'http', address => "http://127.0.0.1:$port/$p",
                      payload_format => 'Default' }] })->{status}, 201,
       "a webhook policy of $p listening to REPLICATION");
}

# ------------------------------------------------------ a run succeeds

my $d = Harbor::Clients::Distribution->new(root => "$dir/d/data",
                                           dir => "$dir/d")->start;
my $tok = $s->bearer(user => 'admin', pass => $admin->[1],
                     scope => 'repository:shipped/app:pull,push');
ok($s->push_image('shipped/app', $tok, tag => $_)->{ok}, "pushed shipped/app:$_")
    for qw(v1 v2);
$s->sync;

my $rid = id_of($s->api(POST => '/registries', $admin, json => {
    name => 'd', url => $d->url, type => 'docker-registry' }));
my $pid = id_of($s->api(POST => '/replication/policies', $admin, json => {
    name => 'ship', dest_registry => { id => $rid + 0 },
    dest_namespace => 'mirror',
    filters => [ { type => 'name', value => 'shipped/**' } ],
    trigger => { type => 'manual' } }));
ok($pid, 'a push-based policy');

sub run_to_end {
    my $eid = id_of($s->api(POST => '/replication/executions', $admin,
                            json => { policy_id => $pid + 0 }));
    my $e;
    Harbor::Authd::wait_for(60, sub {
        $e = $s->api(GET => "/replication/executions/$eid", $admin)->{json};
        return $e && $e->{status} ne 'InProgress';
    });
    return ($eid, $e);
}

my ($eid, $e) = run_to_end();
is($e->{status}, 'Succeed', 'the run succeeds');

my @ev;
ok(Harbor::Authd::wait_for(20, sub { @ev = received('/shipped') }),
   'the project of the copied images hears of it');
is(scalar @ev, 1, 'once');
my $ev = $ev[0];
is($ev->{type}, 'REPLICATION', 'type REPLICATION');
is($ev->{operator}, 'MANUAL', 'operator: the trigger');
ok($ev->{occur_at} > 0, 'occur_at');
my $rp = $ev->{event_data}{replication};
is($rp->{execution_id}, $eid, 'execution_id');
is($rp->{policy_name}, 'ship', 'policy_name');
is($rp->{job_status}, 'Succeed', 'job_status');
is($rp->{trigger_type}, 'MANUAL', 'trigger_type');
ok($rp->{override_mode}, 'override_mode');
ok($rp->{execution_timestamp} > 0, 'execution_timestamp');
is($rp->{total}, 2, 'two tasks');
is($rp->{succeed}, 2, 'both succeeded');
is_deeply($rp->{src_resource}, { registry_name => 'Local',
    registry_type => 'harbor', endpoint => $s->url, namespace => 'shipped' },
    'src_resource: this instance, the project');
is_deeply($rp->{dest_resource}, { registry_name => 'd',
    registry_type => 'docker-registry', endpoint => $d->url,
    namespace => 'mirror' }, 'dest_resource: the registry, the namespace');
my $jobs = $s->api(GET => '/projects/shipped/webhook/policies', $admin)->{json};
my $hid = $jobs->[0]{id};
my $ex = $s->api(GET => "/projects/shipped/webhook/policies/$hid/executions",
                 $admin)->{json};
is($ex->[0]{extra_attrs}{event_type}, 'REPLICATION',
   'the delivery is listed with its event type');

# --------------------------------------------- a run whose destination is gone

$d->stop;
($eid, $e) = run_to_end();
is($e->{status}, 'Failed', 'with the destination gone the run fails');
ok(Harbor::Authd::wait_for(20, sub { @ev = received('/shipped'); @ev == 2 }),
   'and the project hears of that too');
$rp = $ev[1]{event_data}{replication};
is($rp->{execution_id}, $eid, 'its execution_id');
is($rp->{job_status}, 'Failed', 'job_status Failed');
is($rp->{succeed}, 0, 'nothing succeeded');

is(scalar(received('/quiet')), 0, 'a project the runs did not touch: nothing');

done_testing();
