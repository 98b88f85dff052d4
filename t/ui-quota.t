#!/usr/bin/perl

# Storage quotas in the web UI (t/ui/quota.mjs): a limit set when a
# project is created (amount and unit), bars on the project list and the
# summary (amber from 85%), the limit edited and removed by a system
# admin; a developer sees the bars but sets nothing; 中文.  Then the API
# agrees with what the page left.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use Test::More;
use Harbor::UI;

my $ui = Harbor::UI->new;
my $s = $ui->stack;

# a project at 90% of 1 MiB
my $r = $s->api(POST => '/projects', $s->admin, json => {
    project_name => 'quota-full', storage_limit => 1048576,
    metadata => { public => 'false' } });
is($r->{status}, 201, 'a project with 1 MiB');
my $tok = $s->bearer(user => 'admin', pass => $s->admin->[1],
                     scope => 'repository:quota-full/app:pull,push');
ok($s->push_image('quota-full/app', $tok, tag => 'v1',
                  layer => 'q' x 943000)->{ok}, 'about 90% of it pushed');
ok($s->sync, 'journal applied');

$s->create_user('dev', password => 'Passw0rd!');
$s->add_member('quota-full', 'dev', 2);

$ui->run('t/ui/quota.mjs');

$r = $s->api(GET => '/quotas?page_size=100', $s->admin);
my %q = map { ($_->{ref}{name} => $_) } @{$r->{json} || []};
is($q{qui}{hard}{storage}, 1048576, 'qui keeps the 1 MiB set on create');
is($q{'quota-full'}{hard}{storage}, -1, 'quota-full: the limit removed');
cmp_ok($q{'quota-full'}{used}{storage}, '>', 943000, 'its usage');

done_testing;
