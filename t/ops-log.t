#!/usr/bin/perl

# authd.log_file: authd logs to that file (not to stderr), and reopens it
# on SIGUSR1, as nginx does: after a rotation moved it away, new lines go
# to a new file of the same name; a reopen that fails keeps the old one.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use File::Temp qw(tempdir);
use Test::More;

use Harbor::Authd;

my $dir = tempdir('hb-log-XXXXXX', TMPDIR => 1, CLEANUP => 1);
chmod 0777, $dir;           # authd's user (harbor, when run as root) writes
my $file = "$dir/authd.log";

my $d = Harbor::Authd->start(conf => { 'authd.log_file' => $file });

sub slurp {
    open my $f, '<', $_[0] or return '';
    local $/;
    return scalar <$f>;
}

sub ping {
    my ($rid) = @_;
    my $r = $d->request(GET => '/api/v2.0/ping',
                        headers => { 'X-Request-Id' => $rid });
    is($r->{status}, 200, "ping $rid");
}

ping('before-rotation');
ok(Harbor::Authd::wait_for(10, sub { slurp($file) =~ /rid=before-rotation/ }),
   'a request is logged to the file');
# the ready line comes once the journal is read too, maybe after the ping
ok(Harbor::Authd::wait_for(10, sub { slurp($file) =~ /authd \S+ ready/ }),
   'so is the start');
unlike($d->log, qr/rid=before-rotation/, 'and not to stderr');

# a rotation: the file moved away, then USR1
rename $file, "$file.1" or die "rename: $!";
ping('during-rotation');
ok(kill('USR1', $d->pid), 'SIGUSR1 sent');
ok(Harbor::Authd::wait_for(10, sub { slurp($file) =~ /log file reopened/ }),
   'a new file is opened under the old name');

ping('after-rotation');
ok(Harbor::Authd::wait_for(10, sub { slurp($file) =~ /rid=after-rotation/ }),
   'new lines go to the new file');
like(slurp("$file.1"), qr/rid=during-rotation/,
     'lines before the signal went to the old file');
unlike(slurp("$file.1"), qr/rid=after-rotation/,
       'no line after it goes to the old file');

# a reopen that fails (the directory is gone) keeps logging to the open file
my $sub = "$dir/sub";
mkdir $sub or die "mkdir: $!";
chmod 0777, $sub;
my $d2 = Harbor::Authd->start(pg => $d->pg,
                              conf => { 'authd.log_file' => "$sub/a.log" });
rename "$sub/a.log", "$dir/a.log.1" or die "rename: $!";
rmdir $sub or die "rmdir: $!";
ok(kill('USR1', $d2->pid), 'SIGUSR1 with the directory gone');
my $r = $d2->request(GET => '/api/v2.0/ping',
                     headers => { 'X-Request-Id' => 'after-failed-reopen' });
is($r->{status}, 200, 'authd still serves');
ok(Harbor::Authd::wait_for(10, sub {
       slurp("$dir/a.log.1") =~ /cannot reopen the log file/
           && slurp("$dir/a.log.1") =~ /rid=after-failed-reopen/ }),
   'it says so, and logs on to the file it had');

# a log file that cannot be opened stops the start, with a message
my $d3 = Harbor::Authd->start(pg => $d->pg, expect_fail => 1,
    conf => { 'authd.log_file' => "$dir/no/such/dir/a.log" });
isnt($d3->exit_status, 0, 'an unopenable log file: authd does not start');
like($d3->log, qr/cannot open the log file/, 'and says why');

$d2->stop;
$d->stop;

done_testing;
