#!/usr/bin/perl

# Replication runs that meet faults, through a push-based policy from this
# instance to Debian's docker-registry, held to a small speed so that a run
# lasts long enough to be broken in the middle:
#
#   - the destination is killed mid-run: the run fails and says why in
#     words, and the destination never holds a manifest whose blobs are not
#     all there; once it is back a new run converges, and sends nothing
#     that had arrived (the finished images are "nothing to copy", the
#     broken one finds its config already there);
#   - authd is killed mid-run: after its restart the run goes on to the
#     end by itself.

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

my $s = Harbor::Api->new(authd_conf => { 'replication.retry_delay' => 1,
                                        'replication.max_parallel' => 1 });
my $admin = $s->admin;
# the registry is on loopback: allow-listed for the SSRF guard
is($s->api(PUT => '/configurations', $admin, json => {
    outbound_allowlist => '127.0.0.1' })->{status}, 200,
   'outbound_allowlist names 127.0.0.1');
my $dir = $s->dir;

my $d = Harbor::Clients::Distribution->new(root => "$dir/d/data",
                                           dir => "$dir/d")->start;

# four images of about 200 KiB each: at 100 KiB/s a run takes some 8 s
my $tok = $s->bearer(user => 'admin', pass => $admin->[1],
                     scope => 'repository:library/app:pull,push');
my %img = map {
    $_ => $s->push_image('library/app', $tok, tag => $_,
                         layer => join('', map { chr(rand 256) } 1 .. 200_000))
} qw(t1 t2 t3 t4);
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

# ------------------------------------------- the destination goes away

my $eid = start_run($pid);
my $broken;
ok(Harbor::Authd::wait_for(20, sub {
    my $ts = api(GET => "/replication/executions/$eid/tasks") || [];
    my ($mid) = grep { $_->{status} eq 'InProgress' && $_->{bytes_done} > 1000
                       && $_->{bytes_done} < $_->{bytes_total} } @$ts;
    return 0 unless $mid && grep { $_->{status} eq 'Succeed' } @$ts;
    $broken = $mid->{src_resource};
}), 'an image arrived, and another is in the middle of its layer');
kill 'KILL', $d->{pid};
waitpid(delete $d->{pid}, 0);

my $e = wait_end($eid, 60);
is($e->{status}, 'Failed', 'with the destination gone the run fails');
like($e->{status_text},
     qr/task\(s\) failed; the first: library\/app:t\d: destination unreachable: connection refused to \Q${\ $d->host }\E/,
     'and says why') or diag explain $e;
my $first = logs($eid);
my @done = grep { $first->{$_}{status} eq 'Succeed' } sort keys %$first;
ok(@done >= 1 && @done < 4, scalar(@done) . ' of 4 arrived before');
like($first->{$_}{log}, qr/will retry: destination unreachable/,
     "$_: retried, then failed") for grep { $first->{$_}{status} eq 'Failed' }
                                     sort keys %$first;

$d->start;
is(dest_whole(), '', 'no manifest at the destination names a missing blob');

$eid = start_run($pid);
$e = wait_end($eid, 60);
is($e->{status}, 'Succeed', 'once it is back, a new run converges');
is(dest_digest($_), $img{$_}{digest}, "mirror/app:$_ there, the same digest")
    for sort keys %img;
my $second = logs($eid);
for my $res (@done) {
    like($second->{$res}{log}, qr/is already sha256:\w+: nothing to copy/,
         "$res arrived in the first run: nothing sent again");
}
# the config goes before the layer: the image broken in its layer finds
# its config there, and sends the layer (a half-sent blob starts over)
like($second->{$broken}{log}, qr/blob sha256:\w+ \(\d+ bytes\) already at the destination/,
     "$broken: its config, which had arrived, is not sent again");
like($second->{$broken}{log}, qr/1 blob\(s\) sent/, 'only its layer is');
is(dest_whole(), '', 'every manifest whole');

# ------------------------------------------------------ authd is killed

$s->api(PUT => "/replication/policies/$pid", $admin, json => {
    dest_namespace => 'again' });
$eid = start_run($pid);
ok(Harbor::Authd::wait_for(20, sub {
    grep { $_->{status} eq 'InProgress' && $_->{bytes_done} > 0 }
        @{ api(GET => "/replication/executions/$eid/tasks") || [] } }),
   'a copy under way');
$s->kill_authd;
$s->start_authd;
$e = wait_end($eid, 60);
is($e->{status}, 'Succeed', 'after authd\'s restart the run ends by itself')
    or diag explain $e;
is($e->{succeed}, 4, 'every image');
my $third = logs($eid);
ok((grep { $_->{attempts} >= 2 } values %$third),
   'the copy cut by the kill ran again');
is(dest_whole(), '', 'every manifest whole');

$d->stop;
done_testing();
