#!/usr/bin/perl

# The S3 backend, reads: Debian's docker-registry (CNCF distribution) with
# its s3 driver pushes images into a bucket of a real Ceph RADOS Gateway
# (Harbor::Rgw); nginx with the module (2 workers) serves that bucket as
# it is:
#
#   skopeo pulls compare byte for byte with the sources; tags/list (and
#   its pages), manifests by tag and by digest, HEADs, a Range GET of a
#   blob through nginx's upstream (the named location proxying
#   $harbor_s3_url) and through a 307 to a presigned URL
#   (harbor_storage_redirect on); 404s in OCI JSON for a missing blob,
#   manifest, tag and repository, a blob of another repository; deletes
#   refused with 405 UNSUPPORTED (pushes: s3-write.t);
#   the gateway frozen (SIGSTOP): requests that need it answer 503 once
#   harbor_s3_timeout is over while GET /v2/ answers at once on every
#   worker; the gateway killed: a 503 at once; started again: everything
#   works without touching nginx;
#   the secret of the credentials file is in no log.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use Test::More;
use HTTP::Tiny;
use Time::HiRes qw(time);

use Harbor::Test qw(:all);
use Harbor::Clients;
use Harbor::Rgw;

###############################################################################

my $S3C = $ENV{HARBOR_S3C} || "$FindBin::Bin/../build/s3c";
die "no $S3C (make test builds it)\n" unless -x $S3C;

my $g = Harbor::Rgw->start;
my $t = Harbor::Test->new;
my $dir = $t->dir;
my $c = Harbor::Clients->new($dir);

my $BUCKET = 'harbor-read';
my $ROOT = 'site/registry';

{
    my %env = $g->env;
    local @ENV{keys %env} = values %env;
    my $out = qx{$S3C PUT /$BUCKET 2>&1};
    like($out, qr/^status 200/, 'the bucket') or diag($out);
}

# distribution pushes the images into the bucket

my $d = Harbor::Clients::Distribution->new(root => "$dir/unused",
    dir => "$dir/distribution", s3 => {
        accesskey => $g->access_key, secretkey => $g->secret_key,
        region => $g->region, regionendpoint => $g->endpoint,
        bucket => $BUCKET, rootdirectory => "/$ROOT" });
$d->start;

my %img = (
    oci => $c->mkimage("$dir/src-oci", tag => 'v1',
                       layers => '1k,900k,64', seed => 's3-oci'),
    docker => $c->mkimage("$dir/src-docker", tag => 'v1', docker => 1,
                          layers => '3k,500k', seed => 's3-docker'),
    index => $c->mkimage("$dir/src-index", tag => 'v1', multiarch => 1,
                         layers => '2k,200k', seed => 's3-index'),
);

my $dh = $d->host;

for my $k (sort keys %img) {
    my @all = $k eq 'index' ? ('--all') : ();
    Harbor::Clients::cmd_ok($c->skopeo('copy', @all, '--dest-tls-verify=false',
        "oci:$dir/src-$k:v1", "docker://$dh/lib/$k:v1"),
        "distribution: push lib/$k:v1");
}

for my $tag (qw(v2 latest v1.0)) {
    Harbor::Clients::cmd_ok($c->skopeo('copy', '--dest-tls-verify=false',
        "oci:$dir/src-docker:v1", "docker://$dh/lib/docker:$tag"),
        "distribution: push lib/docker:$tag");
}

$d->stop;

# nginx serves the bucket

my $SECRET = $g->secret_key;
my $cred = $g->credentials($t);

sub registry {
    my (@more) = @_;
    return $g->registry($t, $cred, "$BUCKET/$ROOT", @more);
}

my $PROXY = $g->proxy_locations;

$t->run(registry => registry(), server => $PROXY);

my $h = '127.0.0.1:' . $t->port;

sub pull_all {
    my ($what) = @_;

    for my $k (sort keys %img) {
        my @all = $k eq 'index' ? ('--all') : ();
        # a docker manifest stays one in a dir: layout (oci: converts)
        my $oci = $k ne 'docker';
        my $out = "$dir/back-$what-$k";
        Harbor::Clients::cmd_ok($c->skopeo('copy', @all,
            '--src-tls-verify=false', "docker://$h/lib/$k:v1",
            $oci ? "oci:$out:v1" : "dir:$out"), "$what: pull lib/$k:v1");
        Harbor::Clients::layouts_same("$dir/src-$k", 'v1', $out,
                                      $oci ? 'v1' : undef,
                                      "$what: lib/$k blobs equal");
    }
}

pull_all('module');

# tags

my $r = $t->http(GET => '/v2/lib/docker/tags/list');
is($r->{status}, 200, 'tags/list');
is_deeply($t->json($r), { name => 'lib/docker', tags => [qw(latest v1 v1.0 v2)] },
          'tags/list: sorted (the store has v1.0/ before v1/)');

$r = $t->http(GET => '/v2/lib/docker/tags/list?n=1&last=latest');
is_deeply($t->json($r)->{tags}, ['v1'], 'tags/list: a page');
like($r->{headers}{link} // '', qr{last=v1}, 'tags/list: Link to the next');

$t->is_error($t->http(GET => '/v2/lib/nothing/tags/list'), 404,
             'NAME_UNKNOWN', 'tags/list of no repository');

# configuration mistakes fail nginx -t with a message

my ($code, $out) = $t->conf_test(registry => registry() =~ s/harbor_s3_endpoint [^;]*;//r);
isnt($code, 0, 'nginx -t: no endpoint');
like($out, qr/requires "harbor_s3_endpoint"/, 'nginx -t: no endpoint, why');

my $half = $t->write_conf('half.credentials',
                          'aws_access_key_id = ' . $g->access_key . "\n");
($code, $out) = $t->conf_test(registry => registry() =~ s/\Q$cred\E/$half/r);
isnt($code, 0, 'nginx -t: no secret');
like($out, qr/requires aws_access_key_id and aws_secret_access_key/,
     'nginx -t: no secret, why');

# manifests by tag and by digest, GET and HEAD

my $md = $img{oci}{digest};
my $mt = $img{oci}{media_type};
my $manifest = Harbor::Clients::layout_blob("$dir/src-oci", $md);

for my $ref ('v1', $md) {
    $r = $t->http(GET => "/v2/lib/oci/manifests/$ref",
                  headers => { Accept => $mt });
    is($r->{status}, 200, "manifest $ref");
    is($r->{body}, $manifest, "manifest $ref: the bytes");
    is($r->{headers}{'docker-content-digest'}, $md, "manifest $ref: digest");
    is(($t->journal_events)[-1]{action}, 'pull', "manifest $ref: journaled");
    is($r->{headers}{'content-type'}, $mt, "manifest $ref: type");

    $r = $t->http(HEAD => "/v2/lib/oci/manifests/$ref",
                  headers => { Accept => $mt });
    is($r->{status}, 200, "HEAD manifest $ref");
    is($r->{headers}{'content-length'}, length $manifest,
       "HEAD manifest $ref: its size");
    is($r->{headers}{'docker-content-digest'}, $md,
       "HEAD manifest $ref: digest");
}

# figures, in the verbose output: a manifest by tag is three reads of
# the store in one task
my $t0 = time;
$t->http(GET => '/v2/lib/oci/manifests/v1', headers => { Accept => $mt })
    for 1 .. 50;
note(sprintf 'manifest GET by tag: %.1f ms each (50 in a row)',
     (time - $t0) * 1000 / 50);

# blobs: HEAD, GET, a range

my $m = decode_json($manifest);
my $layer = $m->{layers}[1];
my $bytes = Harbor::Clients::layout_blob("$dir/src-oci", $layer->{digest});
my $bpath = "/v2/lib/oci/blobs/$layer->{digest}";

$r = $t->http(HEAD => $bpath);
is($r->{status}, 200, 'HEAD blob');
is($r->{headers}{'content-length'}, $layer->{size}, 'HEAD blob: its size');
is($r->{headers}{'docker-content-digest'}, $layer->{digest},
   'HEAD blob: digest');

$t0 = time;
$r = $t->http(GET => $bpath);
note(sprintf 'blob GET through the upstream: %d bytes in %.1f ms',
     length $r->{body}, (time - $t0) * 1000);
is($r->{status}, 200, 'GET blob');
ok($r->{body} eq $bytes, 'GET blob: the bytes');

$r = $t->http(GET => $bpath, headers => { Range => 'bytes=1000-1999' });
is($r->{status}, 206, 'GET blob, a range: 206');
is($r->{headers}{'content-range'}, "bytes 1000-1999/$layer->{size}",
   'a range: Content-Range');
ok($r->{body} eq substr($bytes, 1000, 1000), 'a range: those bytes');

# what is not there

my $none = 'sha256:' . ('0' x 64);
$t->is_error($t->http(GET => "/v2/lib/oci/blobs/$none"), 404, 'BLOB_UNKNOWN',
             'a missing blob');
$t->is_error($t->http(HEAD => "/v2/lib/oci/blobs/$none"), 404, undef,
             'HEAD of a missing blob');
$t->is_error($t->http(GET => "/v2/lib/docker/blobs/$layer->{digest}"), 404,
             'BLOB_UNKNOWN', 'a blob of another repository');
$t->is_error($t->http(GET => "/v2/lib/oci/manifests/$none"), 404,
             'MANIFEST_UNKNOWN', 'a missing manifest');
$t->is_error($t->http(GET => '/v2/lib/oci/manifests/nope'), 404,
             'MANIFEST_UNKNOWN', 'a missing tag');

# a link whose blob is not in the store: the store's 404 as OCI JSON
my $ghost = 'sha256:' . ('ab' x 32);
{
    my %env = $g->env;
    local @ENV{keys %env} = values %env;
    my $f = "$dir/ghost-link";
    open my $fh, '>', $f or die "$f: $!";
    print $fh $ghost;
    close $fh;
    my $key = "/$BUCKET/$ROOT/docker/registry/v2/repositories/lib/oci/"
            . '_layers/sha256/' . ('ab' x 32) . '/link';
    my $out = qx{$S3C -d $f PUT $key 2>&1};
    like($out, qr/^status 200/, 'a layer link without its blob') or diag($out);
}
$t->is_error($t->http(GET => "/v2/lib/oci/blobs/$ghost"), 404, 'BLOB_UNKNOWN',
             'a linked blob missing in the store: 404 in OCI JSON');

# deletes are refused, clearly (writes: t/s3-write.t)

$r = $t->http(DELETE => "/v2/lib/oci/manifests/$md", body => $manifest);
$t->is_error($r, 405, 'UNSUPPORTED', 'a delete');
like($r->{body}, qr/object storage/, 'a delete: why');
is($t->http(GET => '/v2/')->{status}, 200,
   'after a refused DELETE with a body: the next request');

# harbor_storage_redirect on: a 307 to a presigned URL, as distribution

my $t2 = Harbor::Test->new;
$t2->run(registry => registry('harbor_storage_redirect on;'),
         server => $PROXY);

$r = $t2->http(GET => $bpath);
is($r->{status}, 307, 'redirect: 307');
my $loc = $r->{headers}{location} // '';
my $blob_url = $g->endpoint . "/$BUCKET/$ROOT/docker/registry/v2/blobs/";
like($loc, qr{^\Q$blob_url\E.*X-Amz-Signature=},
     'redirect: a presigned URL of the blob');
my $ht = HTTP::Tiny->new(timeout => 10);
my $got = $ht->get($loc, { headers => { Range => 'bytes=5-104' } });
is($got->{status}, 206, 'redirect: the URL takes a range');
ok($got->{content} eq substr($bytes, 5, 100), 'redirect: those bytes');
$t2->stop;

# the gateway frozen: the worker goes on; the request fails on its deadline

my $rgw = $g->_pid('client.rgw.a');
kill 'STOP', $rgw;

my @stuck = map {
    Harbor::Clients::spawn_cmd(['curl', '-s', '-o', '/dev/null', '-w',
        '%{http_code} %{time_total}', "http://$h/v2/lib/oci/manifests/v1"],
        timeout => 30)
} 1 .. 4;

# each worker has stuck requests; /v2/ answers at once anyway
my $slowest = 0;
for (1 .. 20) {
    my $t0 = time;
    $r = $t->http(GET => '/v2/');
    my $dt = time - $t0;
    $slowest = $dt if $dt > $slowest;
    is($r->{status}, 200, 'gateway frozen: GET /v2/') if $_ == 1;
}
# (a blocked worker would take the whole 2 s; the machine may be loaded)
cmp_ok($slowest, '<', 1, 'gateway frozen: GET /v2/ at once, 20 times');
note(sprintf 'gateway frozen: slowest GET /v2/ %.1f ms', $slowest * 1000);

for my $s (@stuck) {
    my $res = Harbor::Clients::reap_cmd($s);
    my ($code, $secs) = split ' ', $res->{stdout} // '';
    is($code, 503, 'gateway frozen: 503');
    cmp_ok($secs, '<', 6, 'gateway frozen: within harbor_s3_timeout');
    note("gateway frozen: 503 after ${secs}s");
}

kill 'CONT', $rgw;

# the gateway killed: 503 at once, in OCI JSON

$g->stop_gateway;

$t0 = time;
$r = $t->http(GET => '/v2/lib/oci/manifests/v1');
$t->is_error($r, 503, 'UNAVAILABLE', 'gateway down: a manifest');
cmp_ok(time - $t0, '<', 1, 'gateway down: at once');
note(sprintf 'gateway down: 503 in %.1f ms', (time - $t0) * 1000);
$t->is_error($t->http(GET => $bpath), 503, 'UNAVAILABLE',
             'gateway down: a blob');
$t->is_error($t->http(GET => '/v2/lib/docker/tags/list'), 503,
             'UNAVAILABLE', 'gateway down: tags');
is($t->http(GET => '/v2/')->{status}, 200, 'gateway down: GET /v2/');

# back: everything works, nginx untouched

$g->start_gateway;
pull_all('restarted');

# no secret in any log

my $logs = '';
for my $f (glob("$dir/*.log"), glob($t2->dir . '/*.log')) {
    $logs .= $t->read_file($f);
}
ok(length $logs, 'logs read');
ok(index($logs, $SECRET) < 0, 'the secret key is in no log');
ok(index($logs, $t->read_file($cred)) < 0,
   'the credentials file is in no log');

$t->allow_log(qr/harbor: S3 GET/);
$t->stop;
$g->stop;

done_testing;
