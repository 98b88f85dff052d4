#!/usr/bin/perl

# HARBOR_YML=FILE make run with Harbor's storage_service.s3 (accesskey,
# secretkey, region, regionendpoint, bucket, rootdirectory, secure,
# v4auth): conf/instance.sh starts the instance with the registry in a
# bucket of a real Ceph RADOS Gateway (Harbor::Rgw).  skopeo pushes an
# image as the admin and pulls it back byte for byte; the keys are
# distribution's under rootdirectory in the bucket, nothing is under
# data_volume's registry; the credentials file is root's and harbor's
# only and the secret is in no log.  harbor-yml refuses an s3 section
# without its bucket or keys, v4auth false, a bad bucket name.
# Runs as root, like t/harbor-yml.t: the services run as user harbor.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use File::Temp qw(tempdir);
use Test::More;

use Harbor::Authd;
use Harbor::Clients;
use Harbor::Rgw;
use Harbor::Test;

my $ROOT = $Harbor::Test::ROOT;
my $sh = "$ROOT/conf/instance.sh";
my $AUTHD = "$ROOT/authd/authd";
my $KEEP = $ENV{HARBOR_TEST_KEEP} ? 0 : 1;

my $tmp = tempdir('hb-s3yml-XXXXXX', TMPDIR => 1, CLEANUP => $KEEP);
chmod 0755, $tmp;

my $g = Harbor::Rgw->start;

sub s3c { $g->s3c(@_) }

my $BUCKET = 'harbor-yml';
like(s3c('PUT', "/$BUCKET"), qr/^status 200/, 'the bucket');

sub yml {
    my ($name, $s3) = @_;
    my $f = "$tmp/$name";
    Harbor::Clients::write_file($f, $s3);
    return $f;
}

sub harbor_yml { Harbor::Clients::run_cmd([$AUTHD, 'harbor-yml', @_]) }

# refusals, as file:line

for my $case (
    ['no bucket', "    accesskey: a\n    secretkey: b\n    region: r\n",
     qr/:3: "storage_service\.s3" requires "bucket"/],
    ['no secret', "    bucket: b-1\n    accesskey: a\n    region: r\n",
     qr/"storage_service\.s3" requires "secretkey"/],
    ['v4auth false', "    bucket: b-1\n    accesskey: a\n    secretkey: b\n"
     . "    region: r\n    v4auth: false\n",
     qr/"storage_service\.s3\.v4auth": only true/],
    ['a bucket name', "    bucket: Bad_Name\n    accesskey: a\n"
     . "    secretkey: b\n    region: r\n",
     qr/"storage_service\.s3\.bucket" must be a bucket name/])
{
    my ($what, $keys, $re) = @$case;
    my $r = harbor_yml(yml('bad.yml', "hostname: registry.test\n"
                           . "storage_service:\n  s3:\n$keys"));
    ok(!$r->{ok}, "harbor-yml refuses: $what");
    like($r->{out}, $re, "$what: the sentence");
}

my $r = harbor_yml(yml('swift.yml', "hostname: registry.test\n"
                       . "storage_service:\n  swift:\n    container: c\n"));
ok(!$r->{ok}, 'harbor-yml refuses swift');
like($r->{out}, qr/use s3 or the filesystem/, 'swift: the sentence');

# an instance on the bucket

my $data = "$tmp/data";
my $port = Harbor::Test::_free_port();
my $pw = 'S3-Admin-pw1';
my $SECRET = $g->secret_key;
my $yml = yml('harbor.yml', <<YML);
hostname: 127.0.0.1
http:
  port: $port
harbor_admin_password: $pw
data_volume: $data
storage_service:
  ca_bundle:
  s3:
    accesskey: @{[ $g->access_key ]}
    secretkey: $SECRET
    region: @{[ $g->region ]}
    regionendpoint: @{[ $g->endpoint ]}
    bucket: $BUCKET
    rootdirectory: /harbor/registry
    secure: false
    v4auth: true
    chunksize: 5242880
log:
  level: info
YML

sub instance {
    my ($what) = @_;
    return Harbor::Clients::run_cmd([$sh, $what], timeout => 180,
        env => { HARBOR_YML => $yml, HARBOR_DATA => '', HARBOR_PORT => '',
                 HARBOR_HTTPS => '' });
}

$r = instance('start');
ok($r->{ok}, 'instance.sh start with storage_service.s3') or diag($r->{out});

my $c = Harbor::Clients->new($tmp);
my $img = $c->mkimage("$tmp/src", tag => 'v1', layers => '6m,20k',
                      seed => 's3-yml');
my $h = "127.0.0.1:$port";

Harbor::Clients::cmd_ok($c->skopeo('copy', '--dest-tls-verify=false',
    '--dest-creds', "admin:$pw", "oci:$tmp/src:v1",
    "docker://$h/library/ons3:v1"), 'skopeo pushes library/ons3:v1');
Harbor::Clients::cmd_ok($c->skopeo('copy', '--src-tls-verify=false',
    '--src-creds', "admin:$pw", "docker://$h/library/ons3:v1",
    "oci:$tmp/back:v1"), 'skopeo pulls it back');
Harbor::Clients::layouts_same("$tmp/src", 'v1', "$tmp/back", 'v1',
                              'the image, byte for byte');

like(s3c('HEAD', "/$BUCKET/harbor/registry/docker/registry/v2/repositories/"
         . 'library/ons3/_manifests/tags/v1/current/link'),
     qr/^status 200/, 'the tag is in the bucket under rootdirectory');
ok(!glob("$data/registry/docker/registry/v2/blobs/sha256/*/*/data"),
   'no blob under data_volume');

my @st = stat "$data/s3.credentials";
ok(@st && !($st[2] & 07), 'the credentials file: no access for others');
like(Harbor::Clients::read_file("$data/nginx/harbor.conf"),
     qr/include \Q$data\E\/nginx\/harbor-s3-location\.conf;/,
     'the registry location includes the bucket');

my $logs = '';
$logs .= Harbor::Clients::read_file($_) // '' for glob("$data/logs/*.log");
ok(length $logs, 'logs read');
ok(index($logs, $SECRET) < 0, 'the secret key is in no log');

$r = instance('stop');
ok($r->{ok}, 'instance.sh stop') or diag($r->{out});

$g->stop;

done_testing;
