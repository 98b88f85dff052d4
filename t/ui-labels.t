#!/usr/bin/perl

# Labels in the web UI (t/ui/labels.mjs): a global label under
# Administration > Labels, a project label in the project's Labels tab,
# both put on an artifact as colored chips, the artifact list filtered by
# one, the label taken off again; a developer adds and removes labels but
# manages none; 中文.  Then the API agrees with what the page showed.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use Test::More;
use Harbor::UI;

my $ui = Harbor::UI->new;
my $s = $ui->stack;

$s->create_project('lab');
$s->create_user('dev', password => 'Passw0rd!');
$s->add_member('lab', 'dev', 2);

my $tok = $s->bearer(user => 'admin', pass => $s->admin->[1],
                     scope => 'repository:lab/app:pull,push');
my %digest;
for my $tag (qw(v1 v2)) {
    my $r = $s->push_image('lab/app', $tok, tag => $tag);
    ok($r->{ok}, "pushed lab/app:$tag");
    $digest{$tag} = $r->{digest};
}
ok($s->sync, 'journal applied');

$ui->run('t/ui/labels.mjs', UI_V1 => $digest{v1}, UI_V2 => $digest{v2});

# what the page left: v1 has the project label only, v2 none
my $r = $s->api(GET => '/projects/lab/repositories/app/artifacts/v1', $s->admin);
is(join(',', map { $_->{name} } @{$r->{json}{labels} || []}), 'qa',
   'v1 keeps the project label, the global one was taken off');
$r = $s->api(GET => '/projects/lab/repositories/app/artifacts/v2', $s->admin);
is(scalar @{$r->{json}{labels} || []}, 0, 'v2 has none');
$r = $s->api(GET => '/labels?scope=g', $s->admin);
is_deeply([map { $_->{name} } @{$r->{json} || []}], ['release'],
          'the global label the page kept (the other deleted)');
is($r->{json}[0]{color}, '#d4380d', 'with the color picked');
is($r->{json}[0]{description}, 'ready to ship', 'and the description edited');

done_testing;
