#!/usr/bin/perl

# Robot accounts in the web UI (t/ui/robots.mjs): a project administrator
# creates a robot, sees its secret once (copy, download), refreshes it,
# disables and enables it; a maintainer reads the list; the system
# administrator creates a system robot, in Chinese.  Then the secret the
# page gave logs in to the registry with exactly pull and push, the one
# it replaced does not, and it is in no log.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use JSON::PP ();
use Test::More;

use Harbor::Authd;
use Harbor::Clients ();
use Harbor::UI;

my $ui = Harbor::UI->new;
my $s = $ui->stack;

$s->create_user($_, password => 'Passw0rd!') for qw(pa maint);
$s->create_project('ci');
$s->add_member('ci', 'pa', 1);
$s->add_member('ci', 'maint', 4);

$ui->run('t/ui/robots.mjs');

my $f = Harbor::Clients::read_file($s->dir . '/ui/robot.json');
my $robot = eval { JSON::PP->new->decode($f // '') } || {};
is($robot->{name}, 'robot$ci+builder', 'the page gave the robot\'s name');

my $r = $s->token(user => $robot->{name}, pass => $robot->{secret},
                  scope => 'repository:ci/app:pull,push,delete');
is($r->{status}, 200, 'its secret logs in to the token service');
is_deeply([sort @{Harbor::Authd::access_map($r->{claims})->{'ci/app'} || []}],
          [qw(pull push)], 'with pull and push, as checked in the form');

$r = $s->token(user => $robot->{name}, pass => $robot->{old},
               scope => 'repository:ci/app:pull');
is($r->{status}, 401, 'the secret it replaced does not');

my $logs = $s->authd->log . ($s->t->read_file('error.log') // '')
           . ($s->t->read_file('access.log') // '');
ok(index($logs, $robot->{secret}) < 0 && index($logs, $robot->{old}) < 0,
   'neither secret is in authd\'s or nginx\'s logs');

done_testing;
