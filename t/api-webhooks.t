#!/usr/bin/perl

# Webhooks through Harbor's API: policy CRUD by the project's admins
# (others 403, anonymous 401), bad bodies 400, the event types; a local
# HTTP sink receives PUSH_ARTIFACT, PULL_ARTIFACT and DELETE_ARTIFACT with
# Harbor's payload and the auth header; with the sink down a delivery is
# retried and arrives once it is back, the delivery log recording each
# try; SSRF targets (127.0.0.1, 10.x, 169.254.169.254, [::1], a name
# resolving to loopback) are refused without outbound_allowlist, which
# only system admins set; a policy of project B through project A's
# paths is a 404 and nothing of B changes.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use Digest::SHA qw(sha256_hex);
use IO::Socket::INET;
use JSON::PP ();
use POSIX ();
use Test::More;

use Harbor::Test;
use Harbor::Api;
use Harbor::Authd ();

my $s = Harbor::Api->new(workers => 2);
my $admin = $s->admin;
my $pw = 'Passw0rd!';
my $JSON = JSON::PP->new->utf8->canonical;
my $log = $s->dir . '/sink.log';

$s->create_project('hook-a');
$s->create_project('hook-b');
$s->create_project('hook-ssrf');
$s->create_user($_) for qw(owner-a dev-a owner-b);
$s->add_member('hook-a', 'owner-a', 1);
$s->add_member('hook-a', 'dev-a', 2);
$s->add_member('hook-b', 'owner-b', 1);
my %c = map { ($_ => [$_, $pw]) } qw(owner-a dev-a owner-b);

# ---------------------------------------------------------- the sink

my $listen = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => 0,
                                   Listen => 16, ReuseAddr => 1)
    or die "sink: $!";
my $port = $listen->sockport;
my $sink_pid;

sub sink_start {
    my $sock = $listen // IO::Socket::INET->new(LocalAddr => '127.0.0.1',
        LocalPort => $port, Listen => 16, ReuseAddr => 1) or die "sink: $!";
    $listen = undef;
    $sink_pid = fork // die "fork: $!";
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
            print $f $JSON->encode({ path => $path // '',
                                     auth => $h{authorization} // '',
                                     body => $body }), "\n";
            close $f;
            print $c "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n"
                   . "Connection: close\r\n\r\n";
            close $c;
        }
        POSIX::_exit(0);
    }
    close $sock;
}

sub sink_stop {
    kill 'KILL', $sink_pid;
    waitpid($sink_pid, 0);
    $sink_pid = undef;
}

END { local $?; sink_stop() if $sink_pid }

sub received {
    my ($path) = @_;
    open(my $f, '<', $log) or return ();
    my @r = grep { $_->{path} eq $path } map { $JSON->decode($_) } <$f>;
    $_->{json} = eval { $JSON->decode($_->{body}) } for @r;
    return @r;
}

sub events { map { $_->{json}{type} } received($_[0]) }

sub push_image {
    my ($repo, $tag) = @_;
    my $tok = $s->bearer(user => 'admin', pass => $admin->[1],
                         scope => "repository:$repo:pull,push");
    my $layer = "layer of $repo:$tag";
    my $r = $s->push_raw($repo, $tag, $tok,
        blobs => ['{}', $layer],
        manifest => {
            schemaVersion => 2, mediaType => MT_OCI_MANIFEST,
            config => { mediaType => MT_OCI_EMPTY,
                        digest => 'sha256:' . sha256_hex('{}'), size => 2 },
            layers => [{ mediaType => 'application/octet-stream',
                         digest => 'sha256:' . sha256_hex($layer),
                         size => length $layer }],
        });
    is($r->{response}{status}, 201, "push $repo:$tag");
    return $r->{digest};
}

sub policy {
    my ($name, $addr, %o) = @_;
    return { name => $name, description => 'd', enabled => JSON::PP::true,
             event_types => $o{types}
                 || ['PUSH_ARTIFACT', 'PULL_ARTIFACT', 'DELETE_ARTIFACT'],
             targets => [{ type => 'http', address => $addr,
                           auth_header => $o{auth} // '',
                           skip_cert_verify => JSON::PP::false,
                           payload_format => 'Default' }] };
}

sub loc_id { (($_[0]{headers}{location} // '') =~ m{/policies/(\d+)$})[0] }

my $pol = '/projects/hook-a/webhook/policies';

# ---------------------------------------------------------- permissions

is($s->api(GET => $pol, undef)->{status}, 401, 'anonymous list: 401');
is($s->api(GET => $pol, $c{'dev-a'})->{status}, 403, 'a developer: 403');
is($s->api(POST => $pol, $c{'dev-a'},
           json => policy('x', 'http://h/'))->{status}, 403,
   'a developer creates none');
is($s->api(GET => '/projects/hook-a/webhook/events', $c{'dev-a'})->{status},
   403, 'events: a developer 403');
my $r = $s->api(GET => '/projects/hook-a/webhook/events', $c{'owner-a'});
is($r->{status}, 200, 'events');
ok((grep { $_ eq 'PUSH_ARTIFACT' } @{$r->{json}{event_type}}),
   'PUSH_ARTIFACT among them');

# ------------------------------------------------------------ bad bodies

for my $bad (
    [{ %{policy('b', 'ftp://h/')} }, 'ftp address'],
    [{ %{policy('b', 'http://h/', types => ['NOPE'])} }, 'unknown type'],
    [{ %{policy('b', 'http://h/')}, targets => [] }, 'no target'],
    [{ %{policy('b', 'http://h/', auth => "a\r\nX-Evil: 1")} },
     'auth header of two lines'],
    [{ %{policy('', 'http://h/')} }, 'empty name'],
    [[1], 'not an object'])
{
    is($s->api(POST => $pol, $c{'owner-a'}, json => $bad->[0])->{status},
       400, "$bad->[1]: 400");
}

# ------------------------------------------------- SSRF, no allowlist

sink_start();

my @ssrf = ("http://127.0.0.1:$port/ssrf", 'http://10.1.2.3/ssrf',
            'http://169.254.169.254/latest/meta-data/',
            "http://[::1]:$port/ssrf", "http://localhost:$port/ssrf");
my $i = 0;
for my $addr (@ssrf) {
    is($s->api(POST => '/projects/hook-ssrf/webhook/policies', $admin,
               json => policy('s' . $i++, $addr))->{status}, 201,
       "a policy to $addr");
}
push_image('hook-ssrf/app', 'v1');
ok($s->sync, 'journal applied');

my $refused = Harbor::Authd::wait_for(30, sub {
    my $n = $s->psql("SELECT count(*) FROM webhook_job j JOIN webhook_policy"
                     . " w ON w.id = j.policy_id JOIN projects p"
                     . " ON p.project_id = w.project_id"
                     . " WHERE p.name = 'hook-ssrf'"
                     . " AND j.log LIKE '%outbound_allowlist%'");
    return $n == @ssrf;
});
ok($refused, 'every SSRF target refused, naming outbound_allowlist');
is(scalar(my @none = received('/ssrf')), 0, 'the sink got nothing from them');
my $ssrf_log = $s->psql("SELECT string_agg(log, '') FROM webhook_job");
like($ssrf_log, qr/169\.254\.169\.254/, 'the metadata address named');
like($ssrf_log, qr/10\.1\.2\.3/, 'the private address named');

# only system admins set the allowlist
is($s->api(PUT => '/configurations', $c{'owner-a'},
           json => { outbound_allowlist => '127.0.0.1' })->{status}, 403,
   'a project admin sets no allowlist');
is($s->api(PUT => '/configurations', $admin,
           json => { outbound_allowlist => '192.0.2.0/24, 127.0.0.1/32' })
   ->{status}, 200, 'system admin allows the sink');
is($s->api(GET => '/configurations', $admin)->{json}{outbound_allowlist}
   {value}, '192.0.2.0/24, 127.0.0.1/32', 'the allowlist is shown');

# ---------------------------------------------------------- CRUD

$r = $s->api(POST => $pol, $c{'owner-a'},
             json => policy('sink', "http://127.0.0.1:$port/hook",
                            auth => 'Bearer s3cret'));
is($r->{status}, 201, 'the project admin creates a policy');
my $id = loc_id($r);
ok($id, 'Location names it');
is($s->api(POST => $pol, $c{'owner-a'},
           json => policy('sink', 'http://h/'))->{status}, 409,
   'a duplicate name 409');

$r = $s->api(GET => $pol, $c{'owner-a'});
is($r->{status}, 200, 'list');
is_deeply([map { $_->{name} } @{$r->{json}}], ['sink'], 'listed');
$r = $s->api(GET => "$pol/$id", $c{'owner-a'});
is($r->{json}{targets}[0]{address}, "http://127.0.0.1:$port/hook",
   'the address');
is_deeply($r->{json}{event_types},
          ['PUSH_ARTIFACT', 'PULL_ARTIFACT', 'DELETE_ARTIFACT'], 'the types');
is($r->{json}{creator}, 'owner-a', 'creator');
is($s->api(PUT => "$pol/$id", $c{'owner-a'},
           json => { description => 'changed' })->{status}, 200, 'update');
is($s->api(GET => "$pol/$id", $c{'owner-a'})->{json}{description}, 'changed',
   'changed');

# ------------------------------------------------------ deliveries

my $da = push_image('hook-a/app', 'v1');
ok(Harbor::Authd::wait_for(30, sub { grep { $_ eq 'PUSH_ARTIFACT' }
                                     events('/hook') }),
   'PUSH_ARTIFACT delivered');
my ($push) = grep { $_->{json}{type} eq 'PUSH_ARTIFACT' } received('/hook');
is($push->{auth}, 'Bearer s3cret', 'with the auth header');
is($push->{json}{operator}, 'admin', 'operator');
like($push->{json}{occur_at}, qr/^\d{10}$/, 'occur_at in seconds');
my $ed = $push->{json}{event_data};
is($ed->{resources}[0]{digest}, $da, 'resources[0].digest');
is($ed->{resources}[0]{tag}, 'v1', 'resources[0].tag');
like($ed->{resources}[0]{resource_url}, qr{/hook-a/app:v1$}, 'resource_url');
is_deeply($ed->{repository}, { name => 'app', namespace => 'hook-a',
                               repo_full_name => 'hook-a/app',
                               repo_type => 'private' }, 'repository');

my $tok = $s->bearer(user => 'admin', pass => $admin->[1],
                     scope => 'repository:hook-a/app:pull');
is($s->http(GET => '/v2/hook-a/app/manifests/v1', token => $tok,
            headers => [Accept => MT_OCI_MANIFEST])->{status}, 200, 'pull');
ok(Harbor::Authd::wait_for(30, sub { grep { $_ eq 'PULL_ARTIFACT' }
                                     events('/hook') }),
   'PULL_ARTIFACT delivered');

is($s->api(DELETE => '/projects/hook-a/repositories/app/artifacts/v1',
           $admin)->{status}, 200, 'delete');
ok(Harbor::Authd::wait_for(30, sub { grep { $_ eq 'DELETE_ARTIFACT' }
                                     events('/hook') }),
   'DELETE_ARTIFACT delivered');
my ($del) = grep { $_->{json}{type} eq 'DELETE_ARTIFACT' } received('/hook');
is($del->{json}{event_data}{resources}[0]{digest}, $da, 'of that digest');

# ------------------------------------------- sink down, then up again

sink_stop();
push_image('hook-a/app', 'v2');
ok(Harbor::Authd::wait_for(30, sub {
    $s->psql("SELECT count(*) FROM webhook_job WHERE status = 'Pending'"
             . " AND tries >= 1 AND payload LIKE '%\"v2\"%'") == 1 }),
   'with the sink down, the delivery fails and waits');
sink_start();
ok(Harbor::Authd::wait_for(60, sub {
       grep { $_->{json}{event_data}{resources}[0]{tag} eq 'v2' }
       grep { $_->{json}{type} eq 'PUSH_ARTIFACT' } received('/hook') }),
   'delivered once the sink is back');

$r = $s->api(GET => "$pol/$id/executions", $c{'owner-a'});
is($r->{status}, 200, 'the delivery log');
my ($ex) = grep { $_->{log} =~ /try 2/ } @{$r->{json}};
ok($ex, 'a delivery of two tries');
is($ex->{status}, 'Success', 'that succeeded');
is($ex->{extra_attrs}{event_type}, 'PUSH_ARTIFACT', 'its event type');
like($ex->{log}, qr/try 1: error: .*\n.*try 2: HTTP 200/s,
     'each try recorded');
my $tasks = "$pol/$id/executions/$ex->{id}/tasks";
$r = $s->api(GET => $tasks, $c{'owner-a'});
is($r->{status}, 200, 'its tasks');
is($r->{json}[0]{run_count}, 2, 'one task of two runs');
$r = $s->api(GET => "$tasks/$ex->{id}/log", $c{'owner-a'});
is($r->{status}, 200, 'the task log');
like($r->{body}, qr/try 2: HTTP 200/, 'as text');
is($s->api(GET => "$tasks/999999/log", $c{'owner-a'})->{status}, 404,
   'another task id: 404');
is(scalar(grep { $_->{json}{event_data}{resources}[0]{tag} eq 'v2' }
          received('/hook')), 1, 'delivered once');

# --------------------------------------------------------- IDOR

$r = $s->api(POST => '/projects/hook-b/webhook/policies', $c{'owner-b'},
             json => policy('b-sink', "http://127.0.0.1:$port/b"));
my $bid = loc_id($r);
ok($bid, "B's policy");
my $bex = $s->psql("SELECT max(j.id) FROM webhook_job j JOIN webhook_policy w"
                   . " ON w.id = j.policy_id JOIN projects p"
                   . " ON p.project_id = w.project_id"
                   . " WHERE p.name = 'hook-ssrf'");
for my $c (['GET', "$pol/$id/executions/$bex/tasks"],
           ['GET', "$pol/$id/executions/$bex/tasks/$bex/log"],
           ['GET', "$pol/$bid/executions/$bex/tasks"])
{
    is($s->api($c->[0], $c->[1], $c{'owner-a'})->{status}, 404,
       "an execution of another policy, $c->[1]: 404");
}
for my $c (['GET', "$pol/$bid"], ['PUT', "$pol/$bid"],
           ['DELETE', "$pol/$bid"], ['GET', "$pol/$bid/executions"])
{
    is($s->api($c->[0], $c->[1], $c{'owner-a'},
               ($c->[0] eq 'PUT' ? (json => { name => 'stolen',
                                              enabled => JSON::PP::false })
                                 : ()))->{status}, 404,
       "B's policy through A's path, $c->[0] $c->[1]: 404");
}
is($s->api(GET => "/projects/hook-b/webhook/policies/$bid", $c{'owner-a'})
   ->{status}, 403, "B's path for A's admin: 403");
$r = $s->api(GET => "/projects/hook-b/webhook/policies/$bid", $c{'owner-b'});
is($r->{json}{name}, 'b-sink', "B's policy unchanged");
ok($r->{json}{enabled}, 'and enabled');

# --------------------------------------------------------- delete

is($s->api(DELETE => "$pol/$id", $c{'owner-a'})->{status}, 200, 'delete');
is($s->api(GET => "$pol/$id", $c{'owner-a'})->{status}, 404, 'gone');
is($s->api(GET => "$pol/999999", $c{'owner-a'})->{status}, 404,
   'unknown 404');
is($s->api(GET => "$pol/x", $c{'owner-a'})->{status}, 404, 'not an id 404');

unlike($s->authd->log, qr/s3cret/, 'the auth header is in no log line');

done_testing;
