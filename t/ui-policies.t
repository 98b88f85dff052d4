#!/usr/bin/perl

# A project's Policy tab in the web UI (t/ui/policies.mjs): a maintainer
# makes an immutability rule for release-* tags (disables and enables
# it), a retention rule (latestPushedK 1 on one repository of two tags)
# and a schedule; a dry run lists what it would remove and removes
# nothing, Run now removes it; a developer reads but changes nothing;
# 中文.  Then the API agrees: the tag cannot move, the old artifact is
# gone, the schedule kept.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use Test::More;
use Harbor::UI;

my $ui = Harbor::UI->new;
my $s = $ui->stack;

$s->create_project('pol');
$s->create_user($_, password => 'Passw0rd!') for qw(pm dev);
$s->add_member('pol', 'pm', 4);
$s->add_member('pol', 'dev', 2);

my $tok = $s->bearer(user => 'admin', pass => $s->admin->[1],
                     scope => 'repository:pol/app:pull,push');
my $ktok = $s->bearer(user => 'admin', pass => $s->admin->[1],
                      scope => 'repository:pol/keep:pull,push');
ok($s->push_image('pol/app', $tok, tag => 'release-1')->{ok},
   'pushed pol/app:release-1');
my %digest;
for my $tag (qw(old new)) {
    my $r = $s->push_image('pol/keep', $ktok, tag => $tag);
    ok($r->{ok}, "pushed pol/keep:$tag");
    $digest{$tag} = $r->{digest};
}
ok($s->sync, 'journal applied');
# old was pushed a day before new
$s->psql("UPDATE artifact SET push_time = now() - interval '1 day'"
    . " WHERE digest = '$digest{old}'");

$ui->run('t/ui/policies.mjs', UI_OLD => $digest{old}, UI_NEW => $digest{new});

# the rule the page made holds: release-1 cannot move, a new tag can
my $r = $s->push_image('pol/app', $tok, tag => 'release-1');
my $put = $r->{responses}[-1];
is($put->{status}, 412, 'moving release-1 is refused');
like($put->{body} // '', qr/configured as immutable/, 'in Harbor\'s words');
ok($s->push_image('pol/app', $tok, tag => 'v2')->{ok},
   'a tag no rule selects is pushed');

# the real run removed the old artifact, kept the new one
$r = $s->api(GET => '/projects/pol/repositories/keep/artifacts', $s->admin);
is_deeply([map { $_->{digest} } @{$r->{json} || []}], [$digest{new}],
          'the retention run left only the newest artifact');

$r = $s->api(GET => '/projects/pol', $s->admin);
my $rid = $r->{json}{metadata}{retention_id};
ok($rid, 'the project names its retention policy');
$r = $s->api(GET => "/retentions/$rid", $s->admin);
is($r->{json}{trigger}{settings}{cron}, '0 0 3 * * *', 'the schedule kept');
is($r->{json}{rules}[0]{params}{latestPushedK}, 1, 'the rule as made');

done_testing;
