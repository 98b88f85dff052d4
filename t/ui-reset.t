#!/usr/bin/perl

# A forgotten password in the web UI (t/ui/reset.mjs), with a real mail
# server (Harbor::Smtp): the request from the login page, the mailed link,
# the new password, the link used up; and Configuration > Email.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use Test::More;
use Harbor::Smtp;
use Harbor::UI;

my $smtp = Harbor::Smtp->start;
my $ui = Harbor::UI->new;
my $s = $ui->stack;

my $r = $s->api(PUT => '/configurations', $s->admin, json => {
    email_host => '127.0.0.1', email_port => $smtp->port + 0,
    email_from => 'Registry <registry@example.org>' });
is($r->{status}, 200, 'the mail server configured') or diag($r->{body});

$s->create_user('carol', email => 'carol@example.org', password => 'C4rol!old');

$ui->run('t/ui/reset.mjs', HARBOR_MAILDIR => $smtp->maildir);

is($s->token(user => 'carol', pass => 'C4rol!new1')->{status}, 200,
   'the password set in the page is hers');
is(scalar $smtp->files, 1, 'one mail: none for the unknown address');

done_testing;
