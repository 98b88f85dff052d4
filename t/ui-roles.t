#!/usr/bin/perl

# The web UI as a developer of a project (t/ui/roles.mjs): no admin pages
# and a clear refusal at their URLs, push-level actions only, refusals in
# words, changing one's own password.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use Test::More;
use Harbor::UI;

my $ui = Harbor::UI->new;
my $s = $ui->stack;

$s->create_user('dev', password => 'Passw0rd!');
$s->create_project('webapp');
$s->create_project('secret');
$s->add_member('webapp', 'dev', 2);

my $tok = $s->bearer(user => 'admin', pass => $Harbor::Stack::ADMIN_PASSWORD,
                     scope => 'repository:webapp/app:pull,push');
my $img = $s->push_image('webapp/app', $tok, tag => '1.0');
ok($img->{ok}, 'an image in webapp/app');
$s->sync or BAIL_OUT('the journal was not applied');

$ui->run('t/ui/roles.mjs');

done_testing;
