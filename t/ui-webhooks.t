#!/usr/bin/perl

# Webhooks in the web UI (t/ui/webhooks.mjs): a project administrator
# creates a policy to a local sink (allowed by outbound_allowlist), reads
# it back on edit, disables and enables it; an image pushed with skopeo;
# the delivery shows up in the policy's log and reaches Success without a
# reload, its log readable; the sink got Harbor's payload with the auth
# header; a developer has no Webhooks tab; 中文.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use Test::More;
use Harbor::UI;

my $ui = Harbor::UI->new;
my $s = $ui->stack;

$s->create_project('hooks');
$s->create_user($_, password => 'Passw0rd!') for qw(pa dev);
$s->add_member('hooks', 'pa', 1);
$s->add_member('hooks', 'dev', 2);

# the sink listens on loopback, which only the allow-list lets through
is($s->api(PUT => '/configurations', $s->admin,
           json => { outbound_allowlist => '127.0.0.1' })->{status}, 200,
   'outbound_allowlist lets the sink through');

my $c = $s->clients;
my $dir = $s->dir;
$c->mkimage("$dir/img", tag => 'v1', layers => '4k');

$ui->run('t/ui/webhooks.mjs',
    UI_IMAGE  => "oci:$dir/img:v1",
    UI_SKOPEO => join(' ', '--policy', $c->base . '/policy.json',
                      '--tmpdir', $c->base . '/tmp'));

# the policy the page made, as the API has it
my $r = $s->api(GET => '/projects/hooks/webhook/policies', $s->admin);
my ($p) = grep { $_->{name} eq 'ci-notify' } @{$r->{json} || []};
ok($p, 'the policy is there');
is_deeply($p->{event_types}, ['PUSH_ARTIFACT'], 'with the event type checked')
    if $p;
is($p->{targets}[0]{auth_header}, 'Bearer s3cret', 'and the auth header') if $p;
ok($p && $p->{enabled}, 'enabled again');
is(scalar(grep { $_->{name} eq 'scratch' } @{$r->{json} || []}), 0,
   'the deleted one is gone');

done_testing;
