#!/usr/bin/perl

# A database connection that breaks under a statement: authd sends it
# again on a new connection only when that cannot apply it twice.  A read
# is sent again (and the request succeeds); a change that reached the
# server is not (the request gets a 503, and nothing runs a second time).
#
# The connection is broken where it matters: while authd's backend waits
# on a lock the test holds, pg_terminate_backend() ends that very backend.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use POSIX qw(WNOHANG);
use Test::More;
use Time::HiRes qw(time);

use Harbor::Authd;

my $pg = Harbor::Authd::Pg->start;
my $d = Harbor::Authd->start(pg => $pg);
my $admin = $d->admin;

my $as = $> == 0 ? 'runuser -u harbor -- ' : '';
my $psql = "$as$Harbor::Authd::PGBIN/psql -X -q -At -h " . $pg->host
         . ' -U harbor -d registry';

my %LOCKNAME = ('ACCESS EXCLUSIVE' => 'AccessExclusiveLock',
                'SHARE' => 'ShareLock');

# a session holding a lock on users, in the background, until
# release_lock() ends it
sub hold_lock {
    my ($mode) = @_;
    my $pid = fork // die "fork: $!";
    if ($pid == 0) {
        exec("$psql -c 'BEGIN' -c 'LOCK TABLE users IN $mode MODE'"
             . " -c 'SELECT pg_sleep(60)' -c 'COMMIT' >/dev/null 2>&1");
        exit 127;
    }
    ok(Harbor::Authd::wait_for(10, sub {
        $pg->psql("SELECT count(*) FROM pg_locks l JOIN pg_class c"
                  . " ON c.oid = l.relation WHERE c.relname = 'users'"
                  . " AND l.granted AND l.mode = '$LOCKNAME{$mode}'")
    }), "a session holds $mode on users");
    return $pid;
}

sub release_lock {
    my ($pid) = @_;
    $pg->psql("SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
              . " WHERE query = 'SELECT pg_sleep(60)'");
    waitpid($pid, 0);
}

# authd's backends waiting on a lock
sub waiting {
    return grep { length } split /\n/, $pg->psql(
        "SELECT pid FROM pg_stat_activity WHERE application_name = 'authd'"
        . " AND wait_event_type = 'Lock'");
}

# a request in a child; its result (status and body) read back later
sub in_background {
    my (@req) = @_;
    pipe(my $rd, my $wr) or die "pipe: $!";
    my $pid = fork // die "fork: $!";
    if ($pid == 0) {
        close $rd;
        my $t0 = time;
        my $r = eval { $d->request(@req, timeout => 20) }
            || { status => 0, body => $@ };
        printf $wr "%d %.2f %s", $r->{status}, time - $t0, $r->{body} // '';
        close $wr;
        POSIX::_exit(0);
    }
    close $wr;
    return sub {
        local $/;
        my $out = <$rd>;
        waitpid($pid, 0);
        my ($status, $secs, $body) = $out =~ /^(\d+) (\S+) (.*)$/s;
        return { status => $status // 0, secs => $secs, body => $body };
    };
}

# break the connection of the one authd backend that waits on the lock;
# then see whether a backend of authd comes back to wait on it again
sub break_and_watch {
    my ($label) = @_;

    my @w;
    ok(Harbor::Authd::wait_for(10, sub { @w = waiting(); @w == 1 }),
       "$label: authd's statement waits on the lock");
    is($pg->psql("SELECT pg_terminate_backend($w[0])"), 't',
       "$label: its backend terminated");

    return Harbor::Authd::wait_for(3, sub {
        grep { $_ != $w[0] } waiting();
    });
}

###############################################################################
# a read: sent again on a new connection, and the request succeeds

{
    my $lock = hold_lock('ACCESS EXCLUSIVE');
    my $res = in_background(GET => '/api/v2.0/users/current',
                            user => $admin->[0], pass => $admin->[1]);
    my $again = break_and_watch('read');
    ok($again, 'read: sent again on a new connection');
    release_lock($lock);
    my $r = $res->();
    is($r->{status}, 200, 'read: the request succeeds');
}

###############################################################################
# a change that reached the server: not sent again

{
    my $lock = hold_lock('SHARE');
    my $res = in_background(POST => '/api/v2.0/users',
        user => $admin->[0], pass => $admin->[1],
        json => { username => 'once', email => 'once@example.com',
                  realname => 'Once', password => 'Passw0rd!' });
    my $again = break_and_watch('change');
    ok(!$again, 'change: not sent again after the connection broke');
    release_lock($lock);
    my $r = $res->();
    is($r->{status}, 503, 'change: the request gets a 503')
        or diag($r->{body});
    like($r->{body}, qr/SERVICE_UNAVAILABLE/, 'change: in Harbor\'s format');
    is($pg->psql("SELECT count(*) FROM users WHERE username = 'once'"), '0',
       'change: nothing was applied');

    # the pool recovers: the same request succeeds now
    $r = $d->api(POST => '/users', $admin, json => {
        username => 'once', email => 'once@example.com', realname => 'Once',
        password => 'Passw0rd!' });
    is($r->{status}, 201, 'change: the same request succeeds afterwards');
}

like($d->log, qr/database connection lost/, 'the loss is logged');

###############################################################################
# a statement past database.query_timeout: cancelled on the server, the
# request answered 503 at the deadline, and the pool back by itself

$d->restart(conf => { 'database.query_timeout' => 1000 });
{
    my $lock = hold_lock('ACCESS EXCLUSIVE');
    my $t0 = time;
    my $r = $d->request(GET => '/api/v2.0/users/current',
                        user => $admin->[0], pass => $admin->[1]);
    my $secs = time - $t0;
    is($r->{status}, 503, 'deadline: 503');
    is($r->{json}{errors}[0]{code}, 'SERVICE_UNAVAILABLE',
       'deadline: in Harbor\'s format');
    cmp_ok($secs, '<', 2.5, sprintf 'deadline: at query_timeout (%.1f s)',
           $secs);
    ok(Harbor::Authd::wait_for(2, sub { !waiting() }),
       'deadline: the statement was cancelled on the server');
    ok(kill(0, $lock), 'deadline: while the lock is still held');
    release_lock($lock);
    ok(Harbor::Authd::wait_for(10, sub {
        $d->request(GET => '/api/v2.0/users/current', user => $admin->[0],
                    pass => $admin->[1])->{status} == 200
    }), 'deadline: served again once the lock is gone');
    like($d->log, qr/no answer within 1000 ms/, 'deadline: logged');
}

$d->stop;
is($d->exit_status, 0, 'authd exits cleanly');

done_testing;
