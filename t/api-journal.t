#!/usr/bin/perl

# The journal, at least once and applied once: authd killed (SIGKILL) while
# pushes and pulls run, started again; then the tables equal what reindex
# makes of storage, every pull is counted exactly once, every line made
# one audit row.  A lost checkpoint (the journal read again from its
# start) counts nothing twice.  Rotation (rename, USR1 to nginx) while
# authd runs and while it is down.  Pulls do not wait for authd.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use JSON::PP ();
use POSIX ();
use Test::More;
use Time::HiRes qw(sleep time);

use Harbor::Test;
use Harbor::Api;

my $s = Harbor::Api->new(workers => 2);
my $JSON = JSON::PP->new->utf8->canonical;

$s->create_project('load', public => 0);

my @repos = map { "load/r$_" } 0 .. 3;
my $tok = $s->bearer(user => 'admin', pass => $Harbor::Stack::ADMIN_PASSWORD,
                     scope => [map { "repository:$_:pull,push" } @repos]);

my %pulled;         # digest => pulls the registry answered 200

sub pull {
    my ($repo, $ref) = @_;
    my $r = $s->http(GET => "/v2/$repo/manifests/$ref", token => $tok,
                     headers => [Accept => MT_OCI_MANIFEST]);
    return undef unless $r->{status} == 200;
    return $r->{headers}{'docker-content-digest'};
}

# a load in a child: pushes (new images, tags moved to them) and pulls;
# what it pulled, digest by digest, in a file
sub load {
    my ($npush, $npull, $file) = @_;

    my $pid = fork // die "fork: $!";
    return $pid if $pid;

    my (%count, @pushed);
    my $i = 0;
    my ($pushes, $pulls) = (0, 0);

    while ($pushes < $npush || $pulls < $npull) {
        $i++;
        if ($pushes < $npush && ($i % 2 || $pulls >= $npull || !@pushed)) {
            my $repo = $repos[$pushes % @repos];
            my $img = $s->push_image($repo, $tok, tag => "t" . ($i % 7));
            push @pushed, [$repo, $img->{digest}, 't' . ($i % 7)]
                if $img->{ok};
            $pushes++;
        } else {
            my $p = $pushed[int rand @pushed];
            my $d = pull($p->[0], $i % 3 ? $p->[1] : $p->[2]);
            $count{$d}++ if defined $d;
            $pulls++;
        }
    }

    open my $f, '>', $file or die "$file: $!";
    print $f $JSON->encode(\%count);
    close $f;

    # not the END blocks: they would stop the parent's servers
    POSIX::_exit(0);
}

sub merge_pulls {
    my ($file) = @_;
    open my $f, '<', $file or die "$file: $!";
    local $/;
    my $c = $JSON->decode(<$f>);
    $pulled{$_} += $c->{$_} for keys %$c;
}

sub counts_ok {
    my ($name) = @_;

    my %db = map { split / / } split /\n/, $s->psql(
        "SELECT a.digest || ' ' || a.pull_count FROM artifact a"
        . " WHERE a.pull_count > 0");
    is_deeply(\%db, \%pulled, "$name: pull counts are the pulls made")
        or diag(explain({ db => \%db, pulled => \%pulled }));

    my $lines = 0;
    for my $f (glob($s->journal . '*')) {
        open my $fh, '<', $f or next;
        $lines++ while <$fh>;
    }
    is($s->psql('SELECT count(*) FROM audit_log WHERE event_id IS NOT NULL'),
       $lines, "$name: one audit row per journal line");
}

###############################################################################
# SIGKILL during a load of 200 pushes and 200 pulls

my $out = $s->dir . '/load1.json';
my $child = load(200, 200, $out);

sleep 0.7;
my $at_kill = () = $s->lines;
$s->kill_authd;
ok(kill(0, $child), "authd killed during the load ($at_kill lines by then)");
sleep 1;
$s->start_authd;
sleep 0.5;
$s->kill_authd;
sleep 0.5;
$s->start_authd;

waitpid($child, 0);
is($?, 0, 'the load ran');
merge_pulls($out);
ok(scalar keys %pulled, 'something was pulled');

ok($s->sync(60), 'journal applied after the restarts');
counts_ok('after SIGKILL');

my $pushes = () = grep { $_->{action} eq 'push' } $s->lines;
cmp_ok($pushes, '>=', 200, 'the journal has the pushes');

my $before = $s->snapshot;
my $rx = $s->reindex;
is($rx->{json}{status}, 'done', 'reindex');
is($rx->{json}{stats}{errors}, 0, 'without errors');
is_deeply($s->snapshot, $before, 'the tables equal a reindex of storage');

my $sum = 0;
$sum += $_ for values %pulled;
is($s->psql('SELECT sum(pull_count) FROM repository'), $sum,
   'repository pull counts add up');

###############################################################################
# a lost checkpoint: everything read again, nothing applied twice

$s->psql('DELETE FROM journal_checkpoint');
$s->start_authd;
ok($s->sync(60), 'read again from the start');
counts_ok('after reading twice');
is_deeply($s->snapshot, $before, 'the same tables');
like($s->authd->log, qr/seen before|reading .* from the start/,
     'the log says why');

###############################################################################
# rotation while authd runs: rename, USR1, more load

my $journal = $s->journal;
rename $journal, "$journal.1" or die "rename: $!";
kill 'USR1', $s->t->pid;
ok(Harbor::Authd::wait_for(10, sub { -e $journal }), 'nginx reopened');

$out = $s->dir . '/load2.json';
$child = load(20, 30, $out);
waitpid($child, 0);
merge_pulls($out);

ok($s->sync(60), 'the new journal is read');
like($s->authd->log, qr/was rotated/, 'rotation noticed');
counts_ok('after rotation');

###############################################################################
# rotation while authd is down: the old file is found and finished

$s->authd->stop;

$out = $s->dir . '/load3.json';
$child = load(10, 15, $out);
waitpid($child, 0);
merge_pulls($out);

rename $journal, "$journal.2" or die "rename: $!";
kill 'USR1', $s->t->pid;
ok(Harbor::Authd::wait_for(10, sub { -e $journal }), 'reopened again');

$out = $s->dir . '/load4.json';
$child = load(10, 15, $out);
waitpid($child, 0);
merge_pulls($out);

$s->start_authd;
ok($s->sync(60), 'caught up');
like($s->authd->log, qr/finishing the rotated file \Q$journal.2\E/,
     'the rotated file was finished first');

my %lines;
for my $f ("$journal.1", "$journal.2", $journal) {
    open my $fh, '<', $f or next;
    while (<$fh>) {
        my $e = eval { $JSON->decode($_) } or next;
        $lines{$e->{id}}++;
    }
}
is($s->psql('SELECT count(*) FROM audit_log WHERE event_id IS NOT NULL'),
   scalar keys %lines, 'one audit row per line of every file');

my %db = map { split / / } split /\n/, $s->psql(
    "SELECT a.digest || ' ' || a.pull_count FROM artifact a"
    . " WHERE a.pull_count > 0");
is_deeply(\%db, \%pulled, 'pull counts across rotations')
    or diag(explain({ db => \%db, pulled => \%pulled }));

$before = $s->snapshot;
$s->reindex;
is_deeply($s->snapshot, $before, 'and a reindex agrees');

###############################################################################
# pulls do not wait for authd

$s->authd->stop;
my ($d) = keys %pulled;
my ($repo) = $s->psql("SELECT r.name FROM artifact a JOIN repository r"
                      . " USING (repository_id) WHERE a.digest = '$d'"
                      . " LIMIT 1");
my $t0 = time;
is(pull($repo, $d), $d, 'a pull with authd down');
cmp_ok(time - $t0, '<', 1, 'and quick');
$pulled{$d}++;
$s->start_authd;
ok($s->sync, 'counted once authd is back');
is($s->psql("SELECT a.pull_count FROM artifact a JOIN repository r"
            . " USING (repository_id) WHERE a.digest = '$d'"
            . " AND r.name = '$repo'"), $pulled{$d}, 'that pull counted');

# authd -I: the same from the command line, authd stopped
$before = $s->snapshot;
$s->authd->stop;
my $cmd = "$Harbor::Authd::AUTHD -I -f " . $s->authd->conf_file;
my $out_i = qx{$cmd 2>&1};
is($? >> 8, 0, 'authd -I') or diag($out_i);
like($out_i, qr/reindex: 4 repositories, \d+ artifacts, \d+ tags/,
     'authd -I says what it found');
is_deeply($s->snapshot, $before, 'authd -I: the same tables');
$s->start_authd;

unlike($s->authd->log, qr/could not be applied/, 'no event skipped');

done_testing;
