#!/usr/bin/perl

# Dependencies failing under a running registry: PostgreSQL and authd,
# each killed (SIGKILL) and stalled (SIGSTOP).  While a fault lasts:
# pulls with tokens issued before keep being served, unrelated /v2
# latency stays flat, token and API requests fail within a few seconds
# with Harbor's JSON 503, /api/v2.0/ping answers at once and /health
# says the database is unhealthy (PostgreSQL faults).  Once the process
# is back, everything recovers by itself (polled with a deadline).

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use List::Util qw(max);
use POSIX qw(WNOHANG);
use Test::More;
use Time::HiRes qw(time);

use Harbor::Stack;

# how long a failing token or API request may take: authd's database
# deadlines (3 s) and nginx's read timeout toward authd (6 s), plus slack
my $FAIL_WITHIN = 10;

my $s = Harbor::Stack->new(workers => 2);
my $admin = $s->admin;

# content, and a pull token issued before any fault
my $push = $s->bearer(user => 'admin', pass => $admin->[1],
                      scope => 'repository:library/fault:pull,push');
my $img = $s->push_image('library/fault', $push, tag => 'v1');
ok($img->{ok}, 'image pushed');
my $pull = $s->bearer(user => 'admin', pass => $admin->[1],
                      scope => 'repository:library/fault:pull');

sub blob_ms {       # latency of one blob GET in ms, or undef if it failed
    my $t0 = time;
    my $r = $s->v2(GET => "/v2/library/fault/blobs/$img->{layers}[0]",
                   token => $pull, timeout => 10);
    return undef unless $r->{status} == 200 && $r->{body} eq $img->{layer};
    return (time - $t0) * 1000;
}

sub median { my @v = sort { $a <=> $b } @_; $v[int(@v / 2)] }

my @before = map { blob_ms() } 1 .. 20;
ok(!grep({ !defined } @before), 'blob GETs before any fault');
my $base = median(@before);
diag(sprintf 'blob GET before: median %.1f ms, max %.1f ms', $base,
     max(@before));

# a request with its duration
sub timed {
    my ($what, @args) = @_;
    my $t0 = time;
    my $r = $what eq 'token'
        ? $s->token(user => 'admin', pass => $admin->[1],
                    scope => 'repository:library/fault:pull')
        : $s->api(@args);
    $r->{secs} = time - $t0;
    return $r;
}

# one failing request: a JSON 503 in Harbor's format, soon
sub fails_fast {
    my ($label, $r) = @_;
    local $Test::Builder::Level = $Test::Builder::Level + 1;

    is($r->{status}, 503, "$label: 503")
        or diag(substr($r->{body} // '', 0, 300));
    like($r->{headers}{'content-type'} // '', qr{^application/json},
         "$label: JSON");
    my $j = eval { Harbor::Test::decode_json($r->{body}) } || {};
    is($j->{errors}[0]{code}, 'SERVICE_UNAVAILABLE',
       "$label: code SERVICE_UNAVAILABLE");
    ok(length($j->{errors}[0]{message} // ''), "$label: with a message");
    cmp_ok($r->{secs}, '<', $FAIL_WITHIN,
           sprintf "$label: within %d s (%.1f s)", $FAIL_WITHIN, $r->{secs});
}

# pulls with the earlier token still work, and /v2 latency stays flat
sub pulls_flat {
    my ($label) = @_;
    local $Test::Builder::Level = $Test::Builder::Level + 1;

    my $m = $s->v2(GET => '/v2/library/fault/manifests/v1', token => $pull,
                   headers => ['Accept' => Harbor::Test::MT_OCI_MANIFEST()],
                   timeout => 10);
    is($m->{status}, 200, "$label: manifest pulled with an earlier token");
    is($m->{body}, $img->{manifest}, "$label: the manifest's bytes");

    my @during = map { blob_ms() } 1 .. 20;
    ok(!grep({ !defined } @during), "$label: blob GETs served");
    my $med = median(grep { defined } @during) // 1e9;
    diag(sprintf "$label: blob GET median %.1f ms (before %.1f ms)",
         $med, $base);
    # a generous bound: an order of magnitude, and never slow
    cmp_ok($med, '<', 10 * $base + 50, "$label: /v2 latency stays flat");
}

sub recovers {
    my ($label) = @_;
    local $Test::Builder::Level = $Test::Builder::Level + 1;

    my $t0 = time;
    my $ok = Harbor::Authd::wait_for(30, sub {
        my $t = $s->token(user => 'admin', pass => $admin->[1],
                          scope => 'repository:library/fault:pull');
        my $a = $s->api(GET => '/projects', $admin);
        my $h = $s->api(GET => '/health');
        return $t->{status} == 200 && $a->{status} == 200
            && ($h->{json}{status} // '') eq 'healthy';
    });
    ok($ok, sprintf "$label: token, API and health recover by themselves"
       . ' (%.1f s)', time - $t0);
}

# PostgreSQL's processes: the postmaster and its children
sub pg_pids {
    my $pf = "$s->{pg}{data}/postmaster.pid";
    open my $f, '<', $pf or return ();
    my $pm = <$f>;
    close $f;
    chomp $pm;
    my @kids;
    for my $st (glob '/proc/[0-9]*/stat') {
        open my $h, '<', $st or next;
        my $line = <$h> // '';
        close $h;
        my ($pid, $ppid) = $line =~ /^(\d+) \(.*\) \S+ (\d+)/ or next;
        push @kids, $pid if $ppid == $pm;
    }
    return ($pm, @kids);
}

sub state_of {
    my ($pid) = @_;
    open my $h, '<', "/proc/$pid/stat" or return '';
    my $line = <$h> // '';
    close $h;
    return $line =~ /^\d+ \(.*\) (\S)/ ? $1 : '';
}

sub pg_start {
    my $pg = $s->pg;
    my $as = $> == 0 ? 'runuser -u harbor -- ' : '';
    system("$as$Harbor::Authd::PGBIN/pg_ctl -D $pg->{data}"
        . " -l $pg->{dir}/postgres.log -w -t 30 -o \"-k $pg->{dir}"
        . ' -c listen_addresses= -c fsync=off -c full_page_writes=off'
        . " -c synchronous_commit=off\" start >/dev/null 2>&1");
    $pg->{running} = 1;
}

# the requests of a fault: token and API fail fast with a JSON 503
sub token_and_api_fail {
    my ($label) = @_;
    local $Test::Builder::Level = $Test::Builder::Level + 1;

    fails_fast("$label, token", timed('token'));
    fails_fast("$label, API", timed('api', GET => '/projects', $admin));
    fails_fast("$label, API again", timed('api', GET => '/users', $admin));
}

sub db_fault_checks {
    my ($label) = @_;
    local $Test::Builder::Level = $Test::Builder::Level + 1;

    token_and_api_fail($label);

    # authd itself is alive: ping at once, health says what is wrong
    my $t0 = time;
    my $p = $s->api(GET => '/ping');
    my $secs = time - $t0;
    is($p->{status}, 200, "$label: ping answers");
    cmp_ok($secs, '<', 1, sprintf "$label: ping at once (%.2f s)", $secs);

    my $h = timed('api', GET => '/health');
    is($h->{status}, 200, "$label: health answers");
    cmp_ok($h->{secs}, '<', $FAIL_WITHIN, "$label: health soon");
    my %c = map { $_->{name} => $_->{status} }
            @{$h->{json}{components} // []};
    is($c{database}, 'unhealthy', "$label: health says the database is "
       . 'unhealthy');

    pulls_flat($label);
}

# nginx's own refusal of a large body on authd's paths is Harbor's JSON
# too (authd answers with X-Request-Id; this one never reached it)
{
    my $r = $s->api(POST => '/projects', $admin,
                    json => { project_name => 'big', pad => 'x' x 1_200_000 });
    is($r->{status}, 413, 'a body over client_max_body_size: 413');
    is(eval { $r->{json}{errors}[0]{code} } // '', 'PAYLOAD_TOO_LARGE',
       'in Harbor\'s JSON');
    ok(!exists $r->{headers}{'x-request-id'}, 'answered by nginx itself');
}

###############################################################################
# PostgreSQL stalled: every process of it stopped

{
    my @pids = pg_pids();
    ok(@pids > 1, 'PostgreSQL: postmaster and backends found');
    # authd holds connections to it: those are the ones that matter
    ok($s->pg->psql("SELECT count(*) FROM pg_stat_activity"
                    . " WHERE application_name = 'authd'") > 0,
       'authd has backends in this PostgreSQL');

    kill 'STOP', @pids;
    # (a backend of a session that just ended may be gone meanwhile)
    my @left;
    Harbor::Authd::wait_for(5, sub {
        @left = grep { -e "/proc/$_" && state_of($_) !~ /^[TZ]$/ } @pids;
        return !@left;
    });
    ok(!@left && state_of($pids[0]) eq 'T', 'PostgreSQL stopped (SIGSTOP)')
        or diag("not stopped: @left");

    # a burst of token requests, more than authd has threads: each waits
    # for the database at most its deadline, and ping is not held up
    # behind them for longer
    my @burst;
    for (1 .. 8) {
        my $pid = fork // die "fork: $!";
        if ($pid == 0) {
            $s->token(user => 'admin', pass => $admin->[1],
                      scope => 'repository:library/fault:pull');
            POSIX::_exit(0);
        }
        push @burst, $pid;
    }
    my $worst = 0;
    for (1 .. 10) {
        my $t0 = time;
        my $p = $s->api(GET => '/ping');
        my $secs = time - $t0;
        $worst = $secs if $secs > $worst || $p->{status} != 200;
        $worst = 99 if $p->{status} != 200;
    }
    waitpid($_, 0) for @burst;
    cmp_ok($worst, '<', 4.5, sprintf 'PostgreSQL stalled: ping during a burst'
           . ' of token requests (slowest %.1f s)', $worst);

    db_fault_checks('PostgreSQL stalled');

    kill 'CONT', @pids;
    recovers('PostgreSQL stalled');
}

###############################################################################
# PostgreSQL killed: every process of it, at once

{
    # the harness runs PostgreSQL with synchronous_commit off: commits not
    # yet written by its WAL writer die with it.  What authd must find
    # again is what was committed before: make it durable first.
    $s->pg->psql('CHECKPOINT');

    my @pids = pg_pids();
    kill 'KILL', @pids;
    ok(Harbor::Authd::wait_for(10, sub { !grep { kill 0, $_ } @pids }),
       'PostgreSQL killed (SIGKILL)');

    db_fault_checks('PostgreSQL killed');

    pg_start();
    ok(pg_pids() > 0, 'PostgreSQL started again');
    recovers('PostgreSQL killed');
}

###############################################################################
# authd stalled

{
    # kept-alive connections from nginx to authd, idle when it stalls
    my @warm;
    for (1 .. 8) {
        my $p = fork // die "fork: $!";
        if ($p == 0) {
            $s->token(user => 'admin', pass => $admin->[1]);
            POSIX::_exit(0);
        }
        push @warm, $p;
    }
    waitpid($_, 0) for @warm;

    my $pid = $s->authd->pid;
    kill 'STOP', $pid;
    ok(Harbor::Authd::wait_for(5, sub { state_of($pid) eq 'T' }),
       'authd stopped (SIGSTOP)');

    token_and_api_fail('authd stalled');
    pulls_flat('authd stalled');

    # a change may legitimately take long: nginx waits for it longer than
    # for a read (here authd resumes after 8 s and answers it)
    my $cont = fork // die "fork: $!";
    if ($cont == 0) {
        select(undef, undef, undef, 8);
        kill 'CONT', $pid;
        POSIX::_exit(0);
    }
    my $t0 = time;
    my $r = $s->api(POST => '/projects', $admin,
                    json => { project_name => 'afterstall' });
    my $secs = time - $t0;
    waitpid($cont, 0);
    is($r->{status}, 201, sprintf 'authd stalled: a change waits for authd'
       . ' (%.1f s) and gets its answer', $secs)
        or diag($r->{body});

    kill 'CONT', $pid;
    recovers('authd stalled');
}

###############################################################################
# authd killed

{
    my $a = $s->authd;
    my $pid = $a->pid;
    kill 'KILL', $pid;
    is(waitpid($pid, 0), $pid, 'authd killed (SIGKILL)');
    is($? & 127, 9, 'by SIGKILL');
    delete $a->{pid};

    token_and_api_fail('authd killed');
    pulls_flat('authd killed');

    $a->_spawn;
    recovers('authd killed');
}

$s->stop;

done_testing;
