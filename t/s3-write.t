#!/usr/bin/perl

# The S3 backend, blob uploads: two nginx instances with the module (2
# workers each) on one bucket of a real Ceph RADOS Gateway
# (Harbor::Rgw):
#
#   a monolithic POST ?digest= (sha256 and sha512); a chunked upload whose
#   PATCHes alternate between the two instances, with chunks under and
#   over 5 MiB (a tail object, then multipart parts), its status (GET) on
#   either, finished by a PUT with a last chunk: the blob reads back byte
#   for byte through both; a short chunked upload (no part at all); a
#   sha512 chunked upload (read back for its digest);
#   a digest mismatch (monolithic, chunked with and without parts) leaves
#   nothing under the digest, in the registry nor in the bucket;
#   a Content-Range that does not continue the upload: 416; DELETE of an
#   upload, then 404; a cross-repository mount;
#   interop: blobs pushed by the module are read by Debian's
#   docker-registry (s3 driver) on the same bucket, and a blob pushed by
#   docker-registry is mounted and read by the module;
#   manifests: skopeo pushes images (one an index) through A and pulls
#   them from B byte for byte, podman pulls one from B and pushes it to A
#   as docker schema 2, docker-registry pulls them from the bucket
#   too; by digest; a tag moved from B; a missing blob refused with
#   MANIFEST_BLOB_UNKNOWN and nothing tagged; the journal's push event;
#   the gateway down: a PATCH answers 503 in OCI JSON; back up, the same
#   upload goes on without touching nginx; a node SIGKILLed in the middle
#   of a chunk: the client resumes on the other from what was
#   acknowledged.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use Test::More;
use HTTP::Tiny;
use Time::HiRes qw(time);
use IO::Socket::INET;

use Harbor::Test qw(:all);
use Harbor::Clients;
use Harbor::Rgw;

###############################################################################


my $g = Harbor::Rgw->start;
my $a = Harbor::Test->new;
my $dir = $a->dir;

my $BUCKET = 'harbor-write';
my $ROOT = 'site/registry';
my $V2 = "/$BUCKET/$ROOT/docker/registry/v2";

sub s3c { $g->s3c(@_) }

like(s3c('PUT', "/$BUCKET"), qr/^status 200/, 'the bucket');

my $SECRET = $g->secret_key;
my $cred = $g->credentials($a);

sub registry {
    my ($t) = @_;
    return $g->registry($t, $cred, "$BUCKET/$ROOT");
}

my $PROXY = $g->proxy_locations;

$a->run(registry => registry($a), server => $PROXY);

my $b = Harbor::Test->new;
$b->run(registry => registry($b), server => $PROXY);

cmp_ok(scalar(my @wa = $a->workers(2)), '>=', 2, 'instance A: 2+ workers');
cmp_ok(scalar(my @wb = $b->workers(2)), '>=', 2, 'instance B: 2+ workers');

my $MiB = 1024 * 1024;

sub blob_reads {
    my ($t, $repo, $d, $bytes, $what) = @_;
    # the client's deadline is for the whole body (13 MB here): a loaded
    # machine reads it slowly, and a cut body would pass for a wrong one
    my $r = $t->http(GET => "/v2/$repo/blobs/$d", timeout => 120);
    is($r->{status}, 200, "$what: GET");
    ok(defined $r->{body} && $r->{body} eq $bytes,
       "$what: the bytes (" . length($bytes) . ')')
        or diag("got " . length($r->{body} // '') . " bytes, status "
                . "$r->{status}, first difference at "
                . first_difference($r->{body} // '', $bytes));
}

sub first_difference {
    my ($x, $y) = @_;
    my $n = length($x) < length($y) ? length($x) : length($y);
    for (my $i = 0; $i < $n; $i += 4096) {
        next if substr($x, $i, 4096) eq substr($y, $i, 4096);
        for my $j ($i .. $i + 4095) {
            return $j if substr($x, $j, 1) ne substr($y, $j, 1);
        }
    }
    return $n;
}

sub nothing_under {
    my ($repo, $d, $what) = @_;
    $a->is_error($a->http(GET => "/v2/$repo/blobs/$d"), 404, 'BLOB_UNKNOWN',
                 "$what: no blob");
    my ($alg, $hex) = split /:/, $d;
    my $key = "$V2/blobs/$alg/" . substr($hex, 0, 2) . "/$hex/data";
    like(s3c('HEAD', $key), qr/^status 404/, "$what: nothing in the bucket");
}

# monolithic

my $small = Harbor::Test::random_bytes(70_000);
my $t00 = time;
my ($d, $r) = $a->push_blob('lib/mono', $small);
note(sprintf 'monolithic POST of 70000 bytes: %.1f ms', (time - $t00) * 1000);
is($r->{status}, 201, 'monolithic: 201');
is($r->{headers}{'docker-content-digest'}, $d, 'monolithic: its digest');
is($r->{headers}{location}, "/v2/lib/mono/blobs/$d", 'monolithic: Location');
blob_reads($b, 'lib/mono', $d, $small, 'monolithic, read on B');
my $mono = $d;

my ($d512) = $a->push_blob('lib/mono', $small . 'x', algorithm => 'sha512');
like($d512, qr/^sha512:/, 'monolithic sha512');
is($a->http(HEAD => "/v2/lib/mono/blobs/$d512")->{status}, 200,
   'monolithic sha512: HEAD');

$r = $a->http(POST => '/v2/lib/mono/blobs/uploads/?digest='
              . Harbor::Test::sha256('other'), body => $small);
$a->is_error($r, 400, 'DIGEST_INVALID', 'monolithic: a digest mismatch');
nothing_under('lib/mono', Harbor::Test::sha256('other'),
              'monolithic mismatch');

# chunked, across the two instances, chunks under and over 5 MiB

my @chunks = map { Harbor::Test::random_bytes($_) }
             (1 * $MiB, 6 * $MiB, 2 * $MiB, int(3.5 * $MiB), 100_000);
my $all = join '', @chunks;
my $digest = Harbor::Test::sha256($all);

my ($loc, $uuid) = $a->upload_start('lib/chunked');
ok($uuid, 'chunked: started on A');

$r = $b->http(GET => $loc);
is($r->{status}, 204, 'chunked: its status on B');
is($r->{headers}{range}, '0-0', 'chunked: empty');

my $off = 0;
my @by = ($a, $b, $a, $b);
for my $i (0 .. 3) {
    my $t = $by[$i];
    my $c = $chunks[$i];
    my $t0 = time;
    $r = $t->http(PATCH => $loc, body => $c, headers => [
        'Content-Type' => 'application/octet-stream',
        'Content-Range' => "$off-" . ($off + length($c) - 1)]);
    is($r->{status}, 202, "chunked: PATCH $i (" . length($c) . ' bytes) on '
       . ($t == $a ? 'A' : 'B'));
    note(sprintf 'PATCH of %d bytes: %.1f ms', length $c, (time - $t0) * 1000);
    $off += length $c;
    is($r->{headers}{range}, '0-' . ($off - 1), "chunked: PATCH $i: Range");
}

$r = $b->http(GET => $loc);
is($r->{headers}{range}, '0-' . ($off - 1), 'chunked: status on B');

# a chunk that does not follow: refused, nothing changes
$r = $b->http(PATCH => $loc, body => 'xyz', headers => [
    'Content-Range' => '5-7']);
$a->is_error($r, 416, 'BLOB_UPLOAD_INVALID',
             'chunked: a Content-Range that does not continue');
is($r->{headers}{range}, '0-' . ($off - 1), 'chunked: 416 says where');

# the bytes are in a multipart upload (two parts) and a tail meanwhile
my $prefix = "$ROOT/docker/registry/v2/repositories/lib/chunked/_uploads/$uuid/";
like(s3c('-q', 'uploads=', '-q', "prefix=$prefix", 'GET', "/$BUCKET"),
     qr{<Key>\Q${prefix}\Edata</Key>}, 'chunked: a multipart upload of data');
like(s3c('HEAD', "/$BUCKET/${prefix}hbtail"), qr/^status 200/,
     'chunked: a tail');

# parts in the bucket before the end: never under the digest
nothing_under('lib/chunked', $digest, 'chunked, before its PUT');

my $t0 = time;
$r = $a->http(PUT => $a->with_query($loc, "digest=$digest"),
              body => $chunks[4], headers => [
    'Content-Type' => 'application/octet-stream',
    'Content-Range' => "$off-" . ($off + length($chunks[4]) - 1)]);
is($r->{status}, 201, 'chunked: PUT with the last chunk on A');
note(sprintf 'PUT (last part, complete, copy of %d bytes, link): %.1f ms',
     length $all, (time - $t0) * 1000);
is($r->{headers}{'docker-content-digest'}, $digest, 'chunked: its digest');
blob_reads($b, 'lib/chunked', $digest, $all, 'chunked, read on B');
blob_reads($a, 'lib/chunked', $digest, $all, 'chunked, read on A');
$a->is_error($a->http(GET => $loc), 404, 'BLOB_UPLOAD_UNKNOWN',
             'chunked: the upload is gone');
my $up = "$V2/repositories/lib/chunked/_uploads/$uuid";
like(s3c('HEAD', "$up/hbstate"), qr/^status 404/,
     'chunked: its state is gone from the bucket');
like(s3c('HEAD', "$up/data"), qr/^status 404/,
     'chunked: its data is gone from the bucket');

# short: chunks only into the tail, the PUT writes the blob at once

my $short = Harbor::Test::random_bytes(150_000);
($loc) = $b->upload_start('lib/short');
$r = $b->http(PATCH => $loc, body => substr($short, 0, 100_000));
is($r->{status}, 202, 'short: PATCH');
$r = $a->http(PUT => $a->with_query($loc, 'digest='
                                     . Harbor::Test::sha256($short)),
              body => substr($short, 100_000));
is($r->{status}, 201, 'short: PUT');
blob_reads($b, 'lib/short', Harbor::Test::sha256($short), $short,
           'short, read on B');

# an empty PUT after the chunks

my $two = Harbor::Test::random_bytes(5 * $MiB + 10);
($loc) = $a->upload_start('lib/empty-put');
is($b->http(PATCH => $loc, body => $two)->{status}, 202,
   'empty PUT: one PATCH of a part');
$r = $a->http(PUT => $a->with_query($loc, 'digest='
                                     . Harbor::Test::sha256($two)));
is($r->{status}, 201, 'empty PUT: 201');
blob_reads($a, 'lib/empty-put', Harbor::Test::sha256($two), $two,
           'empty PUT, read back');

# sha512, chunked: read back from the store for its digest

my $big = Harbor::Test::random_bytes(5 * $MiB + 4096);
my $big512 = Harbor::Test::sha512($big);
($loc) = $a->upload_start('lib/sha512');
is($b->http(PATCH => $loc, body => substr($big, 0, 5 * $MiB + 1))->{status},
   202, 'sha512: PATCH');
$r = $a->http(PUT => $a->with_query($loc, "digest=$big512"),
              body => substr($big, 5 * $MiB + 1));
is($r->{status}, 201, 'sha512: PUT');
is($b->http(HEAD => "/v2/lib/sha512/blobs/$big512")->{status}, 200,
   'sha512: HEAD on B');

# mismatches leave nothing under the digest

for my $case ([short => 1000], [parts => 6 * $MiB]) {
    my ($name, $size) = @$case;
    my $bytes = Harbor::Test::random_bytes($size);
    my $wrong = Harbor::Test::sha256($bytes . 'not');
    ($loc, $uuid) = $a->upload_start('lib/wrong');
    is($b->http(PATCH => $loc, body => $bytes)->{status}, 202,
       "mismatch ($name): PATCH");
    $r = $a->http(PUT => $a->with_query($loc, "digest=$wrong"));
    $a->is_error($r, 400, 'DIGEST_INVALID', "mismatch ($name): 400");
    nothing_under('lib/wrong', $wrong, "mismatch ($name)");
    nothing_under('lib/wrong', Harbor::Test::sha256($bytes),
                  "mismatch ($name), the real digest");
    like(s3c('HEAD', "$V2/repositories/lib/wrong/_uploads/$uuid/hbstate"),
         qr/^status 404/, "mismatch ($name): the upload is gone");
}

# DELETE

($loc, $uuid) = $b->upload_start('lib/cancel');
is($a->http(PATCH => $loc, body => 'abc')->{status}, 202, 'cancel: PATCH');
is($a->http(DELETE => $loc)->{status}, 204, 'cancel: DELETE');
$b->is_error($b->http(GET => $loc), 404, 'BLOB_UPLOAD_UNKNOWN',
             'cancel: then unknown');
$b->is_error($b->http(PATCH => $loc, body => 'x'), 404,
             'BLOB_UPLOAD_UNKNOWN', 'cancel: a PATCH after');
$b->is_error($b->http(DELETE => $loc), 404, 'BLOB_UPLOAD_UNKNOWN',
             'cancel: twice');
$a->is_error($a->http(GET => '/v2/lib/cancel/blobs/uploads/'
                      . '00000000-0000-4000-8000-000000000000'), 404,
             'BLOB_UPLOAD_UNKNOWN', 'an unknown upload');

# mount

$r = $b->http(POST => "/v2/lib/mounted/blobs/uploads/?mount=$digest"
                      . '&from=lib/chunked');
is($r->{status}, 201, 'mount: 201');
is($r->{headers}{location}, "/v2/lib/mounted/blobs/$digest",
   'mount: Location');
blob_reads($a, 'lib/mounted', $digest, $all, 'mount, read on A');

$r = $b->http(POST => "/v2/lib/mounted2/blobs/uploads/?mount=$digest"
                      . '&from=lib/nothing');
is($r->{status}, 202, 'mount from where it is not: a new upload');
ok($r->{headers}{'docker-upload-uuid'}, 'mount from where it is not: its id');

# interop with docker-registry (distribution, s3 driver) on the bucket

my $c = Harbor::Clients->new($dir);
my $dist = Harbor::Clients::Distribution->new(root => "$dir/unused",
    dir => "$dir/distribution", s3 => {
        accesskey => $g->access_key, secretkey => $g->secret_key,
        region => $g->region, regionendpoint => $g->endpoint,
        bucket => $BUCKET, rootdirectory => "/$ROOT" });
$dist->start;
my $dt = HTTP::Tiny->new(timeout => 30);
my $du = $dist->url;

for my $case (['lib/chunked', $digest, $all], ['lib/mono', $mono, $small],
              ['lib/short', Harbor::Test::sha256($short), $short])
{
    my ($repo, $dg, $bytes) = @$case;
    my $res = $dt->get("$du/v2/$repo/blobs/$dg");
    is($res->{status}, 200, "docker-registry reads $repo");
    ok($res->{content} eq $bytes, "docker-registry reads $repo: the bytes");
}

# the other way: docker-registry pushes (chunked), the module serves it
my $theirs = Harbor::Test::random_bytes(3 * $MiB);
my $td = Harbor::Test::sha256($theirs);
my $res = $dt->post("$du/v2/lib/theirs/blobs/uploads/");
is($res->{status}, 202, 'docker-registry: an upload');
my $dloc = $res->{headers}{location};
$dloc = "$du$dloc" if $dloc =~ m{^/};
$res = $dt->request(PATCH => $dloc, { content => $theirs,
    headers => { 'Content-Type' => 'application/octet-stream' } });
is($res->{status}, 202, 'docker-registry: PATCH');
$dloc = $res->{headers}{location};
$dloc = "$du$dloc" if $dloc =~ m{^/};
$res = $dt->put($dloc . ($dloc =~ /\?/ ? '&' : '?') . "digest=$td");
is($res->{status}, 201, 'docker-registry: PUT');
blob_reads($a, 'lib/theirs', $td, $theirs, 'pushed by docker-registry');
$r = $a->http(POST => "/v2/lib/ours/blobs/uploads/?mount=$td&from=lib/theirs");
is($r->{status}, 201, 'the module mounts what docker-registry pushed');
blob_reads($b, 'lib/ours', $td, $theirs, 'mounted, read on B');

$dist->stop;

# manifests: skopeo pushes through A (a layer over 5 MiB, chunked by the
# client into one PATCH), B serves the image byte for byte, and so does
# docker-registry (s3 driver) on the same bucket

my %img = (
    oci => $c->mkimage("$dir/src-oci", tag => 'v1',
                       layers => '6m,900k,64', seed => 's3w-oci'),
    index => $c->mkimage("$dir/src-index", tag => 'v1', multiarch => 1,
                         layers => '2k,200k', seed => 's3w-index'),
);
my $ha = '127.0.0.1:' . $a->port;
my $hb = '127.0.0.1:' . $b->port;

for my $k (sort keys %img) {
    my @all = $k eq 'index' ? ('--all') : ();
    my $t0 = time;
    Harbor::Clients::cmd_ok($c->skopeo('copy', @all, '--dest-tls-verify=false',
        "oci:$dir/src-$k:v1", "docker://$ha/push/$k:v1"),
        "skopeo pushes push/$k:v1 to A");
    note(sprintf 'skopeo push of push/%s:v1: %.2f s', $k, time - $t0);
    Harbor::Clients::cmd_ok($c->skopeo('copy', @all, '--src-tls-verify=false',
        "docker://$hb/push/$k:v1", "oci:$dir/back-$k:v1"),
        "skopeo pulls push/$k:v1 from B");
    Harbor::Clients::layouts_same("$dir/src-$k", 'v1', "$dir/back-$k", 'v1',
                                  "push/$k through A, from B: blobs equal");
}

my $md = $img{oci}{digest};
$r = $b->http(GET => "/v2/push/oci/manifests/$md",
              headers => { Accept => $img{oci}{media_type} });
is($r->{status}, 200, 'manifest by digest on B');
is($r->{body}, Harbor::Clients::layout_blob("$dir/src-oci", $md),
   'manifest by digest: the bytes');
my @push = grep { $_->{action} eq 'push' } $a->journal_events;
ok(scalar(grep { ($_->{tag} // '') eq 'v1' && ($_->{digest} // '') eq $md }
           @push), 'journal: the push of push/oci:v1 on A');

# a manifest whose blob is not in the repository
my $m = decode_json(Harbor::Clients::layout_blob("$dir/src-oci", $md));
$m->{layers}[0]{digest} = 'sha256:' . ('1' x 64);
$r = $a->http(PUT => '/v2/push/oci/manifests/broken',
              body => encode_json($m),
              headers => ['Content-Type' => $img{oci}{media_type}]);
$a->is_error($r, 400, 'MANIFEST_BLOB_UNKNOWN', 'a manifest with a missing blob');
$a->is_error($a->http(GET => '/v2/push/oci/manifests/broken'), 404,
             'MANIFEST_UNKNOWN', 'the missing-blob manifest: no tag');

# a manifest by digest, and a digest mismatch
$r = $b->http(PUT => "/v2/push/oci/manifests/$md",
              body => Harbor::Clients::layout_blob("$dir/src-oci", $md),
              headers => ['Content-Type' => $img{oci}{media_type}]);
is($r->{status}, 201, 'manifest PUT by digest on B');
$r = $b->http(PUT => '/v2/push/oci/manifests/sha256:' . ('2' x 64),
              body => Harbor::Clients::layout_blob("$dir/src-oci", $md),
              headers => ['Content-Type' => $img{oci}{media_type}]);
$a->is_error($r, 400, 'DIGEST_INVALID', 'manifest PUT: a digest mismatch');

# a tag moved by a PUT on B
Harbor::Clients::cmd_ok($c->skopeo('copy', '--dest-tls-verify=false',
    "oci:$dir/src-oci:v1", "docker://$hb/push/oci:latest"),
    'skopeo pushes push/oci:latest to B');
$r = $a->http(GET => '/v2/push/oci/tags/list');
is_deeply($a->json($r)->{tags}, [qw(latest v1)], 'tags/list on A');

# podman pulls the image from B and pushes it to A as docker schema 2
Harbor::Clients::cmd_ok($c->podman('pull', '--tls-verify=false',
    "$hb/push/oci:v1"), 'podman pulls push/oci:v1 from B');
Harbor::Clients::cmd_ok($c->podman('push', '--tls-verify=false', '--format',
    'v2s2', "$hb/push/oci:v1", "docker://$ha/push/podman:v1"),
    'podman pushes it to A as push/podman:v1 (docker schema 2)');
my $raw = Harbor::Clients::cmd_ok($c->skopeo('inspect', '--raw',
    '--tls-verify=false', "docker://$hb/push/podman:v1"),
    'skopeo reads push/podman:v1 from B');
my $pm = eval { decode_json($raw->{stdout}) } || {};
is($pm->{mediaType} // '',
   'application/vnd.docker.distribution.manifest.v2+json',
   'push/podman:v1: docker schema 2');
is($pm->{config}{digest} // '', $img{oci}{images}[0]{config},
   'push/podman:v1: the same config');
is(scalar @{ $pm->{layers} || [] }, 3, 'push/podman:v1: its three layers');
for my $l (@{ $pm->{layers} || [] }) {
    is($b->http(HEAD => "/v2/push/podman/blobs/$l->{digest}")->{status}, 200,
       "push/podman:v1: layer $l->{size} bytes on B");
}

$dist->start;
my $dh = $dist->host;
for my $k (sort keys %img) {
    my @all = $k eq 'index' ? ('--all') : ();
    Harbor::Clients::cmd_ok($c->skopeo('copy', @all, '--src-tls-verify=false',
        "docker://$dh/push/$k:v1", "oci:$dir/dist-$k:v1"),
        "docker-registry pulls push/$k:v1 that the module pushed");
    Harbor::Clients::layouts_same("$dir/src-$k", 'v1', "$dir/dist-$k", 'v1',
                                  "push/$k through docker-registry: equal");
}
$dist->stop;

# the gateway down: a clear 503; back, the same upload goes on

my $rest = Harbor::Test::random_bytes(200_000);
($loc) = $a->upload_start('lib/outage');
is($a->http(PATCH => $loc, body => substr($rest, 0, 100_000))->{status}, 202,
   'outage: first PATCH');

$g->stop_gateway;
$r = $b->http(PATCH => $loc, body => substr($rest, 100_000),
              headers => ['Content-Range' => '100000-199999']);
$a->is_error($r, 503, 'UNAVAILABLE', 'outage: a PATCH answers 503');
is($b->http(GET => '/v2/')->{status}, 200, 'outage: GET /v2/');
$g->start_gateway;

$r = $b->http(PATCH => $loc, body => substr($rest, 100_000),
              headers => ['Content-Range' => '100000-199999']);
is($r->{status}, 202, 'outage over: the PATCH again');
$r = $a->http(PUT => $a->with_query($loc, 'digest='
                                     . Harbor::Test::sha256($rest)));
is($r->{status}, 201, 'outage over: PUT');
blob_reads($b, 'lib/outage', Harbor::Test::sha256($rest), $rest,
           'outage over, read on B');

# a node killed (SIGKILL, master and workers) in the middle of a chunk:
# what it acknowledged stays, the chunk counts for nothing, and the
# client goes on with the other node

my $k = Harbor::Test->new;
$k->run(registry => registry($k), server => $PROXY);
my $kb = Harbor::Test::random_bytes(3 * $MiB);
($loc) = $k->upload_start('lib/killed');
is($k->http(PATCH => $loc, body => substr($kb, 0, $MiB))->{status}, 202,
   'killed: a first chunk acknowledged');

my $sock = IO::Socket::INET->new(PeerAddr => '127.0.0.1',
                                 PeerPort => $k->port, Proto => 'tcp')
    or die "connect: $!";
binmode $sock;
print $sock "PATCH $loc HTTP/1.1\r\nHost: localhost\r\n"
    . "Content-Type: application/octet-stream\r\n"
    . "Content-Length: " . (2 * $MiB) . "\r\n"
    . "Content-Range: $MiB-" . (3 * $MiB - 1) . "\r\n\r\n"
    . substr($kb, $MiB, $MiB);
$sock->flush;
my @victims = ($k->workers, $k->pid);
kill 'KILL', @victims;
close $sock;
ok(Harbor::Clients::wait_until(sub {
       !grep { Harbor::Clients::pid_alive($_) } @victims }, 10),
   'killed: the node is gone');

$r = $b->http(GET => $loc);
is($r->{status}, 204, 'killed: the upload is there on B');
is($r->{headers}{range}, '0-' . ($MiB - 1),
   'killed: what was acknowledged, no more');
$r = $b->http(PATCH => $loc, body => substr($kb, $MiB), headers => [
    'Content-Range' => "$MiB-" . (3 * $MiB - 1)]);
is($r->{status}, 202, 'killed: the chunk again on B');
$r = $b->http(PUT => $b->with_query($loc, 'digest='
                                     . Harbor::Test::sha256($kb)));
is($r->{status}, 201, 'killed: PUT on B');
blob_reads($b, 'lib/killed', Harbor::Test::sha256($kb), $kb,
           'killed, finished on B');
# the master may see its workers die before it does
$k->allow_log(qr/exited on signal 9/);
$k->stop;

# no secret in any log

my $logs = '';
for my $f (glob("$dir/*.log"), glob($b->dir . '/*.log')) {
    $logs .= $a->read_file($f);
}
ok(index($logs, $SECRET) < 0, 'the secret key is in no log');

$_->allow_log(qr/harbor: S3 upload/) for $a, $b;
$a->stop;
$b->stop;
$g->stop;

done_testing;
