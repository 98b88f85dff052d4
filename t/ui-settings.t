#!/usr/bin/perl

# Administration > Configuration in the web UI (t/ui/settings.mjs): a
# setting changed, saved and still there after a reload; the auth mode
# switch refused in the API's words while users exist; the write-only
# LDAP search password; "Test LDAP server"; 中文; and nothing of it for
# a user who is not a system administrator.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use Test::More;
use Harbor::UI;

my $ui = Harbor::UI->new;
my $s = $ui->stack;

# a user besides admin: the auth mode can no longer be switched
$s->create_user('dev', password => 'Passw0rd!');

$ui->run('t/ui/settings.mjs');

# what the page saved is what authd serves after a restart too
$s->authd->restart;
my $r = $s->api(GET => '/configurations', $s->admin);
is($r->{json}{token_expiration}{value}, 45,
   'token_expiration saved by the page survives a restart of authd');
is($r->{json}{auth_mode}{value}, 'db_auth', 'the auth mode was not switched');

done_testing;
