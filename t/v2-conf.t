#!/usr/bin/perl

# Tests for the configuration: nginx -t refuses harbor_registry on without
# harbor_storage or harbor_auth, and bad values; directives inherited from
# the server level; <storage>/_tmp created at start; locations without
# harbor_registry are not the registry's.

use warnings;
use strict;

use FindBin;
use lib "$FindBin::Bin/lib";

use Test::More;
use Harbor::Test qw(:all);

###############################################################################

my $t = Harbor::Test->new;
my $storage = $t->storage;
my $journal = $t->journal;

# the template as it is

my ($rc, $out) = $t->conf_test;
is($rc, 0, 'nginx -t: the full configuration') or diag $out;
like($out, qr/test is successful/, 'nginx -t: successful');

# missing directives

($rc, $out) = $t->conf_test(registry =>
    "harbor_registry on; harbor_auth off; harbor_journal $journal;");
isnt($rc, 0, 'nginx -t: harbor_registry on without harbor_storage');
like($out, qr/\[emerg\].*harbor_storage/, 'emerg names harbor_storage');

($rc, $out) = $t->conf_test(registry =>
    "harbor_registry on; harbor_storage $storage; harbor_journal $journal;");
isnt($rc, 0, 'nginx -t: harbor_registry on without harbor_auth');
like($out, qr/\[emerg\].*harbor_auth/, 'emerg names harbor_auth');

($rc, $out) = $t->conf_test(registry => 'harbor_registry on;');
isnt($rc, 0, 'nginx -t: harbor_registry on alone');
like($out, qr/\[emerg\]/, 'harbor_registry on alone: emerg');

# without harbor_registry on, the other directives need nothing else

($rc, $out) = $t->conf_test(registry => "harbor_storage $storage;");
is($rc, 0, 'nginx -t: harbor_storage alone is fine') or diag $out;

($rc, $out) = $t->conf_test(registry => 'harbor_registry off;');
is($rc, 0, 'nginx -t: harbor_registry off needs nothing') or diag $out;

# bad values

my %bad = (
    'harbor_registry maybe'         => "harbor_registry maybe; harbor_storage $storage; harbor_auth off;",
    'harbor_auth bogus'             => "harbor_registry on; harbor_storage $storage; harbor_auth bogus;",
    'harbor_storage twice args'     => "harbor_registry on; harbor_storage $storage $storage; harbor_auth off;",
    'harbor_registry no args'       => "harbor_registry; harbor_storage $storage; harbor_auth off;",
    'harbor_journal duplicate'      => "harbor_registry on; harbor_storage $storage; harbor_auth off; harbor_journal $journal; harbor_journal $journal;",
    'harbor_storage does not exist' => "harbor_registry on; harbor_storage $storage/does/not/exist; harbor_auth off;",
);

for my $name (sort keys %bad) {
    my ($rc, $out) = $t->conf_test(registry => $bad{$name});
    isnt($rc, 0, "nginx -t refuses $name") or diag $out;
    like($out, qr/\[emerg\]/, "$name: emerg");
}

# harbor_registry is a location directive

($rc, $out) = $t->conf_test(server => 'harbor_registry on;',
    registry => "harbor_storage $storage; harbor_auth off;");
isnt($rc, 0, 'nginx -t refuses harbor_registry at server level');

# nginx -t leaves no running process and no store changes

ok(!-e "$storage/docker", 'nginx -t wrote nothing into the store');

# directives at the server level, harbor_registry in the location

$t->run(
    server => "harbor_storage $storage; harbor_auth off;"
        . " harbor_journal $journal;",
    registry => 'harbor_registry on; client_max_body_size 0;',
    http => "server { listen 127.0.0.1:" . $t->port . ";"
        . " server_name other; location /v2/ { return 418; } }",
);

ok(-d "$storage/_tmp", '<storage>/_tmp created at start');
if ($> == 0) {
    my $uid = (stat "$storage/_tmp")[4];
    is($uid, scalar getpwnam('harbor'), '_tmp owned by the worker user');
}

my $img = $t->make_image('conf/inherit', 'v1');
is($img->{response}{status}, 201, 'push with inherited directives');
is($t->http(GET => '/v2/conf/inherit/manifests/v1')->{body}, $img->{manifest},
    'pull with inherited directives');
ok(-s $journal, 'journal from the server level written');
ok(-f $t->v2root . '/blobs/sha256/' . substr($img->{config}{digest}, 7, 2)
    . '/' . substr($img->{config}{digest}, 7) . '/data',
    'blobs in the inherited storage');

# the other server with a /v2/ of its own is not the registry

my $r = $t->http(GET => '/v2/', headers => [Host => 'other']);
is($r->{status}, 418, 'another server is not the registry');
ok(!$t->from_registry($r), 'another server: no registry headers');

$t->stop;

# a location that is not the registry, next to one that is

my $t2 = Harbor::Test->new;
$t2->run(server => 'location /static/ { return 200 "static\n"; }'
    . ' location /v2/off/ { harbor_registry off; return 404; }');

$r = $t2->http(GET => '/static/x');
is($r->{body}, "static\n", 'other location untouched');
ok(!$t2->from_registry($r), 'other location: no registry headers');

$r = $t2->http(GET => '/v2/off/tags/list');
is($r->{status}, 404, 'harbor_registry off location');
ok(!$t2->from_registry($r), 'harbor_registry off: no registry headers');

is($t2->http(GET => '/v2/')->{status}, 200, 'the registry location works');

$t2->stop;

done_testing;

###############################################################################
