#!/usr/bin/perl

# Administration > Registries and Replications in the web UI
# (t/ui/replication.mjs), against Debian's docker-registry: an endpoint
# added and tested, one at a closed port refused in words, a push-based
# rule, Replicate, the execution and its task's log, the endpoint kept
# while a rule uses it, 中文.  Then the image is at docker-registry, the
# same digest as here.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use Test::More;
use Harbor::Clients ();
use Harbor::UI;

my $ui = Harbor::UI->new(authd_conf => { 'replication.retry_delay' => 1 });
my $s = $ui->stack;
my $dir = $s->dir;

# an image pushed here with skopeo (made here, nothing from the network)
$s->create_project('mirrorme');
my $c = $s->clients;
$c->mkimage("$dir/img", tag => 'v1', layers => '4k,64k');
my @tls = ('--src-tls-verify=false', '--dest-tls-verify=false');
my $pw = $s->admin->[1];
# the registry is on loopback: allow-listed for the SSRF guard
is($s->api(PUT => '/configurations', $s->admin, json => {
    outbound_allowlist => '127.0.0.1' })->{status}, 200,
   'outbound_allowlist names 127.0.0.1');
for my $tag (qw(v1 dev1)) {
    Harbor::Clients::cmd_ok($c->skopeo('copy', @tls, '--dest-creds', "admin:$pw",
        "oci:$dir/img:v1", 'docker://' . $s->host . "/mirrorme/app:$tag"),
        "pushed mirrorme/app:$tag with skopeo");
}
# a bigger one for a slow copy that gets stopped
$c->mkimage("$dir/big", tag => 'v1', layers => '4M', seed => 7);
Harbor::Clients::cmd_ok($c->skopeo('copy', @tls, '--dest-creds', "admin:$pw",
    "oci:$dir/big:v1", 'docker://' . $s->host . '/mirrorme/big:v1'),
    'pushed mirrorme/big:v1 with skopeo');
$s->sync;

my $d = Harbor::Clients::Distribution->new(root => "$dir/dreg/data",
                                           dir => "$dir/dreg");
$d->start;

$ui->run('t/ui/replication.mjs',
    UI_DREG_URL   => $d->url,
    UI_CLOSED_URL => 'http://127.0.0.1:' . Harbor::Clients::free_port(),
    UI_PROJECT    => 'mirrorme');

# the copy is real: docker-registry has the image, with the same digest
sub digest_at {
    my ($ref, @creds) = @_;
    my $r = $c->skopeo('inspect', '--tls-verify=false', @creds, '--raw', $ref);
    ok($r->{ok}, "skopeo inspect $ref") or diag $r->{out};
    return $r->{ok} ? Harbor::Clients::sha256_digest($r->{stdout}) : undef;
}
my $here = digest_at('docker://' . $s->host . '/mirrorme/app:v1',
                     '--creds', "admin:$pw");
my $there = digest_at('docker://' . $d->host . '/mirrorme/app:v1');
ok(defined $here && defined $there && $here eq $there,
   'docker-registry has mirrorme/app:v1, the same manifest as here')
    or diag 'here ' . ($here // '-') . ', there ' . ($there // '-');
is(digest_at('docker://' . $d->host . '/again/mirrorme/big:v1'),
   digest_at('docker://' . $s->host . '/mirrorme/big:v1', '--creds', "admin:$pw"),
   'the second run of the slow rule put mirrorme/big at again/mirrorme/big');
my $r = $c->skopeo('inspect', '--tls-verify=false', '--raw',
                   'docker://' . $d->host . '/mirrorme/app:dev1');
ok(!$r->{ok}, 'dev1, excluded by the tag filter, is not there');

$d->stop;

done_testing;
