#!/usr/bin/perl

# Lines a worker appends to the journal after it was rotated (renamed,
# nginx -s reopen), before that worker reopened it, are not lost: authd
# drains the old file after it has switched to the new one, and a restart
# during the drain drains on (at least once), each event applied once.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use Fcntl qw(O_WRONLY O_APPEND);
use JSON::PP ();
use POSIX ();
use Test::More;

use Harbor::Test;
use Harbor::Api;

my $s = Harbor::Api->new(workers => 2);
my $admin = $s->admin;
my $JSON = JSON::PP->new->utf8->canonical;
my $journal = $s->journal;

$s->create_project('rot', public => 0);
my $tok = $s->bearer(user => 'admin', pass => $admin->[1],
                     scope => 'repository:rot/app:pull,push');
my $img = $s->push_image('rot/app', $tok, tag => 'v1');
ok($img->{ok}, 'an image pushed');
ok($s->sync, 'and applied');

sub pulls {
    return $s->psql("SELECT pull_count FROM artifact WHERE digest ="
                    . " '$img->{digest}'");
}

sub rows_of {
    my ($id) = @_;
    return $s->psql("SELECT count(*) FROM audit_log WHERE event_id = '$id'");
}

# a pull line as the module writes it, with a fresh id
my $n = 0;
sub pull_line {
    my $id = sprintf '%032x', 0xfeed0000 + ++$n;
    my $line = $JSON->encode({
        id => $id, time => POSIX::strftime('%Y-%m-%dT%H:%M:%SZ', gmtime),
        action => 'pull', repository => 'rot/app',
        digest => $img->{digest}, tag => 'v1', user => 'admin',
        remote_addr => '127.0.0.1',
    }) . "\n";
    return ($id, $line);
}

# what a worker that has not reopened yet does: one write of a whole line
# to its descriptor of the old file
sub append_as_worker {
    my ($file, $line) = @_;
    sysopen(my $fh, $file, O_WRONLY | O_APPEND) or die "$file: $!";
    my $w = syswrite($fh, $line);
    die "write $file: $!" unless defined $w && $w == length $line;
    close $fh;
}

sub rotate {
    my ($to) = @_;
    my $pid = $s->t->pid;
    rename $journal, $to or die "rename: $!";
    kill 'USR1', $pid;
    ok(Harbor::Authd::wait_for(10, sub { -e $journal }), "nginx reopened");

    # something in the new file, and authd on it
    my $r = $s->http(GET => '/v2/rot/app/manifests/v1', token => $tok,
                     headers => [Accept => MT_OCI_MANIFEST]);
    is($r->{status}, 200, 'a pull into the new file');
    ok(Harbor::Authd::wait_for(20, sub {
        $s->authd->log =~ /was rotated/ && $s->offset == -s $journal
    }), 'authd switched to the new file');
}

###############################################################################
# rotation while authd runs, then a late line in the old file

my $before = pulls();
rotate("$journal.1");

my ($id1, $line1) = pull_line();
append_as_worker("$journal.1", $line1);

ok(Harbor::Authd::wait_for(20, sub { rows_of($id1) == 1 }),
   'a line appended to the rotated file after the switch is applied');
is(pulls(), $before + 2, 'the pull is counted (and the one in the new file)');

###############################################################################
# authd stopped (SIGSTOP, then SIGKILL) with a late line not yet read:
# started again, it drains the old file on from its checkpoint

# every thread stopped, not only signalled (under load the group stop can
# take a while to reach the journal thread)
sub all_stopped {
    my ($pid) = @_;
    my @t = glob("/proc/$pid/task/*");
    return 0 unless @t;
    for (@t) {
        open my $fh, '<', "$_/stat" or return 0;
        my $st = <$fh>;
        return 0 unless $st =~ /\) ([A-Za-z]) / && $1 eq 'T';
    }
    return 1;
}

my $apid = $s->authd->pid;
kill 'STOP', $apid;
ok(Harbor::Authd::wait_for(10, sub { all_stopped($apid) }),
   'every thread of authd stopped');
my ($id2, $line2) = pull_line();
append_as_worker("$journal.1", $line2);
ok(kill(0, $apid), 'authd stopped with a line it has not read');
is(rows_of($id2), 0, 'not applied yet');
is($s->psql('SELECT drain_inode IS NOT NULL FROM journal_checkpoint'), 't',
   'the checkpoint names the file drained');
kill 'KILL', $apid;
waitpid($apid, 0);
delete $s->authd->{pid};
$s->start_authd;

ok(Harbor::Authd::wait_for(20, sub { rows_of($id2) == 1 }),
   'after a restart the rotated file is drained on');
like($s->authd->log, qr/finishing the rotated file \Q$journal.1\E/,
     'found by its inode');

my ($id3, $line3) = pull_line();
append_as_worker("$journal.1", $line3);
ok(Harbor::Authd::wait_for(20, sub { rows_of($id3) == 1 }),
   'and later lines too');

ok($s->sync, 'the new file is applied');
is(rows_of($_), 1, "event $_ applied once") for $id1, $id2, $id3;
is(pulls(), $before + 4, 'every pull counted once');

###############################################################################
# a second rotation while the first file drains: that one is let go,
# the second is drained

rotate("$journal.2");
like($s->authd->log, qr/done with the rotated file \(rotated again\)/,
     'the first rotated file let go');
my ($id4, $line4) = pull_line();
append_as_worker("$journal.2", $line4);
ok(Harbor::Authd::wait_for(20, sub { rows_of($id4) == 1 }),
   'a late line in the second rotated file is applied');

my $snap = $s->snapshot;
$s->reindex;
is_deeply($s->snapshot, $snap, 'the tables equal a reindex');

done_testing;
