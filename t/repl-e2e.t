#!/usr/bin/perl

# Replication end to end, two instances of this product on loopback (A
# and B), through policies and their runs:
#
#   - push-based from A to B with name and tag filters (an exclude) and a
#     namespace: an OCI image, a docker schema2 image, a two-platform
#     index, and an artifact whose subject is an image (its referrer
#     follows the image), each with the same digest at both ends;
#   - a second run sends nothing; override off keeps B's own tag;
#   - pull-based from A into B, and from B into A;
#   - refusals in words: a wrong password, a project that is not there;
#   - event-based: a push on A is on B within 10 s, a deleted tag goes
#     from B too, and two event-based policies in opposite directions do
#     not copy an image back and forth (a copy that finds the digest at
#     the destination puts nothing, so no event comes back).

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use Digest::SHA qw(sha256_hex);
use JSON::PP;
use Test::More;
use Harbor::Api;
use Harbor::Authd;

my $T = JSON::PP::true;
my $F = JSON::PP::false;

my $sa = Harbor::Api->new(authd_conf => { 'replication.retry_delay' => 1 });
my $sb = Harbor::Api->new(authd_conf => { 'replication.retry_delay' => 1 });
my $admin = $sa->admin;
# the two instances reach each other on loopback: allow-listed
for my $s ($sa, $sb) {
    is($s->api(PUT => '/configurations', $admin, json => {
        outbound_allowlist => '127.0.0.1' })->{status}, 200,
       'outbound_allowlist names 127.0.0.1');
}

$sb->create_project('mirror', public => 0);
$sb->create_project('pulled', public => 0);

my $ta = $sa->bearer(user => 'admin', pass => $admin->[1],
                    scope => 'repository:library/app:pull,push,delete');
my %img = map { $_ => $sa->push_image('library/app', $ta, tag => $_) }
              qw(v1 v2 dev1);
ok($img{$_}{ok}, "pushed library/app:$_ on A") for sort keys %img;

# a docker schema2 image, a two-platform OCI index, an artifact whose
# subject is library/app:v1
my $MT = \&Harbor::Test::MT_DOCKER_V2;
sub blob_desc {
    my ($mt, $bytes) = @_;
    return { mediaType => $mt, digest => 'sha256:' . sha256_hex($bytes),
             size => length $bytes };
}
sub image {
    my ($repo, $ref, $tok, $docker, $seed) = @_;
    my $layer = "layer $seed " . join('', map { chr(rand 256) } 1 .. 300);
    my $config = JSON::PP->new->canonical->encode({
        architecture => $seed, os => 'linux',
        rootfs => { type => 'layers',
                    diff_ids => ['sha256:' . sha256_hex($layer)] } });
    return $sa->push_raw($repo, $ref, $tok, blobs => [$layer, $config],
        media_type => $docker ? Harbor::Test::MT_DOCKER_V2()
                              : Harbor::Test::MT_OCI_MANIFEST(),
        manifest => {
            schemaVersion => 2,
            mediaType => $docker ? Harbor::Test::MT_DOCKER_V2()
                                 : Harbor::Test::MT_OCI_MANIFEST(),
            config => blob_desc($docker ? Harbor::Test::MT_DOCKER_CONFIG()
                                        : Harbor::Test::MT_OCI_CONFIG(),
                                $config),
            layers => [ blob_desc($docker ? Harbor::Test::MT_DOCKER_LAYER()
                                          : Harbor::Test::MT_OCI_LAYER(),
                                  $layer) ] });
}

$img{s2} = image('library/app', 's2', $ta, 1, 'schema2');
is($img{s2}{response}{status}, 201, 'pushed a schema2 image library/app:s2');

my $tm = $sa->bearer(user => 'admin', pass => $admin->[1],
                     scope => 'repository:library/multi:pull,push');
my @plat = map { image('library/multi', undef, $tm, 0, $_) } qw(amd64 arm64);
my $index = $sa->push_raw('library/multi', '1', $tm,
    media_type => Harbor::Test::MT_OCI_INDEX(),
    manifest => { schemaVersion => 2,
                  mediaType => Harbor::Test::MT_OCI_INDEX(),
                  manifests => [ map { {
                      mediaType => Harbor::Test::MT_OCI_MANIFEST(),
                      digest => $plat[$_]{digest}, size => $plat[$_]{size},
                      platform => { os => 'linux',
                                    architecture => (qw(amd64 arm64))[$_] },
                  } } 0, 1 ] });
is($index->{response}{status}, 201, 'pushed an index library/multi:1');

my $sbom = '{"sbom":"of library/app:v1"}';
my $ref = $sa->push_raw('library/app', undef, $ta, blobs => ['{}', $sbom],
    manifest => {
        schemaVersion => 2, mediaType => Harbor::Test::MT_OCI_MANIFEST(),
        artifactType => 'application/vnd.example.sbom',
        config => blob_desc(Harbor::Test::MT_OCI_EMPTY(), '{}'),
        layers => [ blob_desc('application/json', $sbom) ],
        subject => { mediaType => Harbor::Test::MT_OCI_MANIFEST(),
                     digest => $img{v1}{digest},
                     size => length $img{v1}{manifest} } });
is($ref->{response}{status}, 201, 'pushed an artifact whose subject is v1');
$sa->sync;

sub referrers {
    my ($s, $repo, $digest) = @_;
    my $tok = $s->bearer(user => 'admin', pass => $admin->[1],
                         scope => "repository:$repo:pull");
    my $r = $s->http(GET => "/v2/$repo/referrers/$digest", token => $tok);
    return [] unless $r->{status} == 200;
    return [ map { $_->{digest} }
             @{JSON::PP->new->decode($r->{body})->{manifests}} ];
}

sub digest_of {
    my ($s, $repo, $tag) = @_;
    my $tok = $s->bearer(user => 'admin', pass => $admin->[1],
                         scope => "repository:$repo:pull");
    my $r = $s->http(HEAD => "/v2/$repo/manifests/$tag", token => $tok,
        headers => ['Accept' => join(', ', Harbor::Test::MT_OCI_MANIFEST(),
            Harbor::Test::MT_OCI_INDEX(), Harbor::Test::MT_DOCKER_V2(),
            Harbor::Test::MT_DOCKER_LIST())]);
    return $r->{status} == 200 ? $r->{headers}{'docker-content-digest'} : undef;
}

sub run_and_wait {
    my ($s, $pid) = @_;
    my $r = $s->api(POST => '/replication/executions', $admin,
                    json => { policy_id => $pid + 0 });
    my ($eid) = ($r->{headers}{location} // '') =~ m{(\d+)$};
    my $e;
    Harbor::Authd::wait_for(120, sub {
        $e = $s->api(GET => "/replication/executions/$eid", $admin)->{json};
        return $e && $e->{status} ne 'InProgress';
    });
    return $e;
}

# ---------------------------------------------------------- push-based

my $r = $sa->api(POST => '/registries', $admin, json => {
    name => 'B', url => $sb->url, type => 'harbor',
    credential => { type => 'basic', access_key => 'admin',
                    access_secret => $admin->[1] } });
is($r->{status}, 201, 'B is a registry of A');
my ($rb) = $r->{headers}{location} =~ m{(\d+)$};
is($sa->api(POST => '/registries/ping', $admin, json => { id => $rb + 0 })
   ->{status}, 200, 'ping B');

$r = $sa->api(POST => '/replication/policies', $admin, json => {
    name => 'a-to-b', dest_registry => { id => $rb + 0 },
    dest_namespace => 'mirror', dest_namespace_replace_count => -1,
    filters => [ { type => 'name', value => 'library/**' },
                 { type => 'tag', value => 'dev*', decoration => 'excludes' } ],
    trigger => { type => 'manual' }, override => $T });
my ($p1) = $r->{headers}{location} =~ m{(\d+)$};

my $e = run_and_wait($sa, $p1);
is($e->{status}, 'Succeed', 'push-based run succeeds') or diag explain $e;
is($e->{total}, 4, 'four tags');
is(digest_of($sb, 'mirror/app', $_), $img{$_}{digest},
   "mirror/app:$_ on B, same digest") for qw(v1 v2 s2);
is(digest_of($sb, 'mirror/app', 'dev1'), undef, 'the excluded tag is not');
is(digest_of($sb, 'mirror/multi', '1'), $index->{digest},
   'the index on B, same digest');
is(digest_of($sb, 'mirror/multi', $_->{digest}), $_->{digest},
   'and its child ' . $_->{digest}) for @plat;
is_deeply(referrers($sb, 'mirror/app', $img{v1}{digest}), [$ref->{digest}],
          'the referrer of v1 followed it');
is(digest_of($sb, 'mirror/app', $ref->{digest}), $ref->{digest},
   'the referrer on B, same digest');

my $tasks = $sa->api(GET => "/replication/executions/$e->{id}/tasks", $admin)
    ->{json};
ok($tasks->[0]{bytes_total} > 0, 'bytes_total of a task');
is($tasks->[0]{bytes_done}, $tasks->[0]{bytes_total}, 'all of it done');

# a second run sends nothing new and succeeds
$sb->sync;
my $nb = scalar(() = $sb->lines);
$e = run_and_wait($sa, $p1);
is($e->{status}, 'Succeed', 'a second run succeeds too');
$sb->sync;
is(scalar(() = $sb->lines), $nb, 'and puts nothing on B (no new event)');
$tasks = $sa->api(GET => "/replication/executions/$e->{id}/tasks", $admin)
    ->{json};
my $log = $sa->api(GET => "/replication/executions/$e->{id}/tasks/"
                   . "$tasks->[0]{id}/log", $admin)->{body};
like($log, qr/is already sha256:\w+: nothing to copy/, 'the log says so');
# found in bulk when listing: single manifests nothing refers to; the
# index and the image with a referrer go through their tasks
my %tlog = map {
    ($_->{src_resource} => $sa->api(GET => "/replication/executions/"
        . "$e->{id}/tasks/$_->{id}/log", $admin)->{body})
} @$tasks;
like($tlog{"library/app:$_"}, qr/nothing to copy \(seen when listing\)/,
     "library/app:$_: seen in place when listing, no copy tried")
    for qw(v2 s2);
for my $res ('library/app:v1', 'library/multi:1') {
    unlike($tlog{$res}, qr/seen when listing/, "$res: through its task");
    like($tlog{$res}, qr/nothing to copy/, '... which finds it in place');
}

# override off: B's own v1 stays
my $tb = $sb->bearer(user => 'admin', pass => $admin->[1],
                    scope => 'repository:mirror/app:pull,push');
my $own = $sb->push_image('mirror/app', $tb, tag => 'v1');
$sa->api(PUT => "/replication/policies/$p1", $admin,
        json => { override => $F });
$e = run_and_wait($sa, $p1);
is($e->{status}, 'Succeed', 'override off: the run succeeds');
is(digest_of($sb, 'mirror/app', 'v1'), $own->{digest},
   'and B keeps its own v1');

# ---------------------------------------------------------- pull-based

$r = $sb->api(POST => '/registries', $admin, json => {
    name => 'A', url => $sa->url, type => 'harbor',
    credential => { type => 'basic', access_key => 'admin',
                    access_secret => $admin->[1] } });
my ($ra) = $r->{headers}{location} =~ m{(\d+)$};
$r = $sb->api(POST => '/replication/policies', $admin, json => {
    name => 'from-a', src_registry => { id => $ra + 0 },
    dest_namespace => 'pulled', dest_namespace_replace_count => 1,
    filters => [ { type => 'tag', value => 'v2' } ],
    trigger => { type => 'manual' } });
my ($p2) = $r->{headers}{location} =~ m{(\d+)$};
$e = run_and_wait($sb, $p2);
is($e->{status}, 'Succeed', 'pull-based run succeeds') or diag explain $e;
is(digest_of($sb, 'pulled/app', 'v2'), $img{v2}{digest},
   'pulled/app:v2 on B, same digest');

# and back: A pulls the index from B
$r = $sa->api(POST => '/registries', $admin, json => {
    name => 'B-pull', url => $sb->url, type => 'harbor',
    credential => { type => 'basic', access_key => 'admin',
                    access_secret => $admin->[1] } });
my ($rb2) = $r->{headers}{location} =~ m{(\d+)$};
$sa->create_project('back', public => 0);
$r = $sa->api(POST => '/replication/policies', $admin, json => {
    name => 'from-b', src_registry => { id => $rb2 + 0 },
    dest_namespace => 'back',
    filters => [ { type => 'name', value => 'mirror/multi' } ],
    trigger => { type => 'manual' } });
my ($p3) = $r->{headers}{location} =~ m{(\d+)$};
$e = run_and_wait($sa, $p3);
is($e->{status}, 'Succeed', 'pull-based run from B into A succeeds')
    or diag explain $e;
is(digest_of($sa, 'back/multi', '1'), $index->{digest},
   'back/multi:1 on A, the index\'s digest');

# ---------------------------------------------------------- refusals

sub policy_run {
    my ($s, %p) = @_;
    my $r = $s->api(POST => '/replication/policies', $admin, json => {
        trigger => { type => 'manual' }, %p });
    my ($id) = $r->{headers}{location} =~ m{(\d+)$};
    my $e = run_and_wait($s, $id);
    my $t = $s->api(GET => "/replication/executions/$e->{id}/tasks", $admin)
        ->{json};
    return ($e, $t);
}

$r = $sa->api(POST => '/registries', $admin, json => {
    name => 'B-wrong', url => $sb->url, type => 'harbor',
    credential => { type => 'basic', access_key => 'admin',
                    access_secret => 'not-the-password' } });
my ($rw) = $r->{headers}{location} =~ m{(\d+)$};
my ($we, $wt) = policy_run($sa, name => 'wrong-pass',
    dest_registry => { id => $rw + 0 }, dest_namespace => 'mirror',
    filters => [ { type => 'name', value => 'library/app' },
                 { type => 'tag', value => 'v1' } ]);
is($we->{status}, 'Failed', 'a wrong password: the run fails');
like($we->{status_text}, qr/1 of 1 task\(s\) failed; the first: library\/app:v1: destination refused the credentials of user admin: token service at \Q${\ $sb->host }\E answered 401/,
     'and says so') or diag explain $we;
is($wt->[0]{attempts}, 1, 'a refused credential is not retried');
unlike($sa->authd->log, qr/not-the-password/, 'the password is not logged');

my ($me, $mt) = policy_run($sa, name => 'no-project',
    dest_registry => { id => $rb + 0 }, dest_namespace => 'calico',
    filters => [ { type => 'name', value => 'library/app' },
                 { type => 'tag', value => 'v1' } ]);
is($me->{status}, 'Failed', 'a missing project: the run fails');
like($me->{status_text}, qr/destination refused .*calico\/app.*project calico not found.*\Q${\ $sb->host }\E/,
     'and says so') or diag explain $me;
is($mt->[0]{attempts}, 1, 'not retried');

# ---------------------------------------------------------- event-based

$r = $sa->api(POST => '/replication/policies', $admin, json => {
    name => 'on-push', dest_registry => { id => $rb + 0 },
    dest_namespace => 'mirror', filters => [], replicate_deletion => $T,
    trigger => { type => 'event_based' } });
is($r->{status}, 201, 'an event-based policy');

# and the other way, from B's mirror back into A's library: the two would
# copy v3 back and forth if a copy that changes nothing put anything
$r = $sb->api(POST => '/replication/policies', $admin, json => {
    name => 'back-to-a', dest_registry => { id => $ra + 0 },
    dest_namespace => 'library', replicate_deletion => $T,
    filters => [ { type => 'name', value => 'mirror/app' },
                 { type => 'tag', value => 'v3' } ],
    trigger => { type => 'event_based' } });
is($r->{status}, 201, 'an event-based policy from B to A');
my ($pb) = $r->{headers}{location} =~ m{(\d+)$};

my $v3 = $sa->push_image('library/app', $ta, tag => 'v3');
my $got = Harbor::Authd::wait_for(10, sub {
    (digest_of($sb, 'mirror/app', 'v3') // '') eq $v3->{digest} });
ok($got, 'a push on A is on B within 10 s');

my $back = Harbor::Authd::wait_for(20, sub {
    my $l = $sb->api(GET => "/replication/executions?policy_id=$pb",
                     $admin)->{json};
    return $l && @$l && $l->[0]{status} ne 'InProgress' ? $l->[0] : undef;
});
is($back && $back->{status}, 'Succeed', 'B offered v3 back to A');
$sa->sync;
my @pushes = grep { $_->{action} eq 'push' && $_->{repository} eq 'library/app'
                    && ($_->{tag} // '') eq 'v3' } $sa->lines;
is(scalar @pushes, 1, 'A has one push of v3 in its journal: the copy back '
   . 'found the digest and put nothing');
is(scalar @{$sa->api(GET => '/replication/executions?policy_id='
       . ($sa->api(GET => '/replication/policies?name=on-push', $admin)
          ->{json}[0]{id}), $admin)->{json}}, 1,
   'so A ran its event-based policy once');

is($sa->http(DELETE => '/v2/library/app/manifests/v3', token => $ta)
   ->{status}, 202, 'tag v3 deleted on A');
$got = Harbor::Authd::wait_for(10, sub {
    !defined digest_of($sb, 'mirror/app', 'v3') });
ok($got, 'and gone from B within 10 s');

done_testing();
