#!/usr/bin/perl

# Proxy cache projects in the web UI (t/ui/proxy-cache.mjs): an admin
# creates one from the New project dialog with a registry endpoint (a
# local docker-registry), and then an image pulls through it with skopeo.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use Test::More;
use Harbor::Clients ();
use Harbor::UI;

my $ui = Harbor::UI->new;
my $s = $ui->stack;
my $dir = $s->dir;
my $c = $s->clients;
$s->create_user('dev', password => 'Passw0rd!');

is($s->api(PUT => '/configurations', $s->admin, json => {
    outbound_allowlist => '127.0.0.1' })->{status}, 200,
   'outbound_allowlist names 127.0.0.1');

my $d = Harbor::Clients::Distribution->new(root => "$dir/dreg/data",
                                           dir => "$dir/dreg")->start;
$c->mkimage("$dir/img", tag => 'v1', layers => '4k,64k');
Harbor::Clients::cmd_ok($c->skopeo('copy', '--dest-tls-verify=false',
    "oci:$dir/img:v1", 'docker://' . $d->host . '/library/app:v1'),
    'the upstream has library/app:v1');

my $r = $s->api(POST => '/registries', $s->admin, json => {
    name => 'upstream', url => $d->url, type => 'docker-registry' });
is($r->{status}, 201, 'registry endpoint upstream');
my ($rid) = ($r->{headers}{location} // '') =~ m{(\d+)$};

$ui->run('t/ui/proxy-cache.mjs', UI_REGISTRY_ID => $rid);

Harbor::Clients::cmd_ok($c->skopeo('copy', '--src-tls-verify=false',
    '--src-creds', 'admin:' . $s->admin->[1], 'docker://' . $s->host . '/hubcache/library/app:v1', "oci:$dir/out:v1"),
    'an image pulls through the project the UI made');
Harbor::Clients::layouts_same("$dir/img", 'v1', "$dir/out", 'v1',
                              'the upstream image');

$d->stop;
done_testing;
