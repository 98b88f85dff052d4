#!/usr/bin/perl

# A replication run whose destination goes away in the middle and comes
# back while the same execution is still retrying with backoff
# (replication.retry_delay, then twice that): the execution converges by
# itself and ends Succeed, every image there with its digest; at no time
# does the destination hold a manifest whose blobs are not all there (the
# manifest goes last; a half-sent blob is never committed).  Debian's
# docker-registry as the destination, a policy held to a small speed so
# that the run is broken in the middle of a layer.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use HTTP::Tiny;
use JSON::PP;
use Test::More;
use Harbor::Api;
use Harbor::Authd;
use Harbor::Clients;

my $s = Harbor::Api->new(authd_conf => { 'replication.retry_delay' => 3,
                                        'replication.max_parallel' => 1 });
my $admin = $s->admin;
my $dir = $s->dir;
# the registry is on loopback: allow-listed for the SSRF guard
is($s->api(PUT => '/configurations', $admin, json => {
    outbound_allowlist => '127.0.0.1' })->{status}, 200,
   'outbound_allowlist names 127.0.0.1');

my $d = Harbor::Clients::Distribution->new(root => "$dir/d/data",
                                           dir => "$dir/d")->start;

# three images of about 200 KiB each: at 100 KiB/s a run takes some 6 s
my $tok = $s->bearer(user => 'admin', pass => $admin->[1],
                     scope => 'repository:library/app:pull,push');
my %img = map {
    $_ => $s->push_image('library/app', $tok, tag => $_,
                         layer => join('', map { chr(rand 256) } 1 .. 200_000))
} qw(t1 t2 t3);
ok($img{$_}{ok}, "pushed library/app:$_") for sort keys %img;
$s->sync;

my $ua = HTTP::Tiny->new(timeout => 10);
my $ACCEPT = join ', ', Harbor::Test::MT_OCI_MANIFEST(),
    Harbor::Test::MT_DOCKER_V2();

sub id_of { ($_[0]{headers}{location} // '') =~ m{(\d+)$} ? $1 : undef }
sub api { $s->api($_[0], $_[1], $admin, @_[2 .. $#_])->{json} }

# every manifest at the destination names only blobs it has
sub dest_whole {
    my $cat = $ua->get($d->url . '/v2/_catalog');
    return 'no catalog' unless $cat->{success};
    for my $repo (@{ decode_json($cat->{content})->{repositories} }) {
        my $tl = $ua->get($d->url . "/v2/$repo/tags/list");
        for my $tag (@{ decode_json($tl->{content})->{tags} || [] }) {
            my $m = $ua->get($d->url . "/v2/$repo/manifests/$tag",
                             { headers => { Accept => $ACCEPT } });
            return "$repo:$tag: $m->{status}" unless $m->{success};
            my $doc = decode_json($m->{content});
            for my $b ($doc->{config}, @{ $doc->{layers} }) {
                my $h = $ua->head($d->url . "/v2/$repo/blobs/$b->{digest}");
                return "$repo:$tag names $b->{digest}: $h->{status}"
                    unless $h->{status} == 200;
            }
        }
    }
    return '';
}

sub dest_digest {
    my ($tag) = @_;
    my $r = $ua->request(HEAD => $d->url . "/v2/mirror/app/manifests/$tag",
                         { headers => { Accept => $ACCEPT } });
    return $r->{status} == 200 ? $r->{headers}{'docker-content-digest'}
                               : undef;
}

sub start_run {
    my ($pid) = @_;
    return id_of($s->api(POST => '/replication/executions', $admin,
                         json => { policy_id => $pid + 0 }));
}

sub wait_end {
    my ($eid, $secs) = @_;
    my $e;
    Harbor::Authd::wait_for($secs, sub {
        $e = api(GET => "/replication/executions/$eid");
        return $e && $e->{status} ne 'InProgress';
    });
    return $e;
}

sub logs {
    my ($eid) = @_;
    return { map {
        ($_->{src_resource} => {
            %$_, log => $s->api(GET => "/replication/executions/$eid/tasks/"
                                . "$_->{id}/log", $admin)->{body} })
    } @{ api(GET => "/replication/executions/$eid/tasks") } };
}

my $r = $s->api(POST => '/registries', $admin, json => {
    name => 'd', url => $d->url, type => 'docker-registry' });
my $rid = id_of($r);
$r = $s->api(POST => '/replication/policies', $admin, json => {
    name => 'slow', dest_registry => { id => $rid + 0 },
    dest_namespace => 'mirror', speed => 100,
    filters => [ { type => 'name', value => 'library/app' } ],
    trigger => { type => 'manual' } });
is($r->{status}, 201, 'a policy held to 100 KiB/s');
my $pid = id_of($r);

my $eid = start_run($pid);
ok(Harbor::Authd::wait_for(20, sub {
    grep { $_->{status} eq 'InProgress' && $_->{bytes_done} > 1000
           && $_->{bytes_done} < $_->{bytes_total} }
        @{ api(GET => "/replication/executions/$eid/tasks") || [] };
}), 'a copy in the middle of its layer');
kill 'KILL', $d->{pid};
waitpid(delete $d->{pid}, 0);

# the same execution notes the failure and waits to try again
ok(Harbor::Authd::wait_for(20, sub {
    grep { $_->{status} eq 'Pending' && $_->{log} =~ /will retry: destination unreachable/ }
        values %{ logs($eid) };
}), 'the broken copy waits for its next try');
is(api(GET => "/replication/executions/$eid")->{status}, 'InProgress',
   'the execution goes on');

$d->start;
is(dest_whole(), '', 'back, the destination holds no manifest naming a '
   . 'missing blob');

my $e = wait_end($eid, 60);
is($e->{status}, 'Succeed', 'the same execution converges: Succeed')
    or diag explain $e;
is($e->{succeed}, 3, 'every image');
is(dest_digest($_), $img{$_}{digest}, "mirror/app:$_ there, the same digest")
    for sort keys %img;
my $l = logs($eid);
ok((grep { $_->{attempts} >= 2 && $_->{log} =~ /will retry/ } values %$l),
   'a copy that failed was tried again, and passed');
is(dest_whole(), '', 'every manifest whole');

$d->stop;
done_testing();
