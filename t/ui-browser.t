#!/usr/bin/perl

# The web UI in Debian's chromium, driven by Playwright (t/ui/browser.mjs)
# against the whole stack serving ui/dist: log in, create a project, push
# with skopeo, search, open, copy the pull command, tags, description,
# manifest, members, users, audit logs, 中文, log out.  Screenshots of
# the main pages in both languages go to docs/screenshots/ (set
# HARBOR_UI_SCREENSHOTS to another directory, or to "" for none).

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use Test::More;
use Harbor::UI;

my $ui = Harbor::UI->new;
my $s = $ui->stack;

$s->create_user('dev', password => 'Passw0rd!');
$s->create_user('guest1', password => 'Passw0rd!');

# images made here, nothing from the network
my $c = $s->clients;
my $dir = $s->dir;
$c->mkimage("$dir/img", tag => 'v1', layers => '4k,64k');
$c->mkimage("$dir/idx", tag => 'v1', multiarch => 1);

$ui->run('t/ui/browser.mjs',
    UI_IMAGE  => "oci:$dir/img:v1",
    UI_INDEX  => "oci:$dir/idx:v1",
    UI_SKOPEO => join(' ', '--policy', $c->base . '/policy.json',
                      '--tmpdir', $c->base . '/tmp'));

done_testing;
