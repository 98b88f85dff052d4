#!/usr/bin/perl

# Tests for harbor_journal: one JSON object per line for manifest push
# (PUT), pull (GET, not HEAD) and delete; the fields; nothing for failures,
# HEAD or blobs; whole lines under concurrent writers; reopen on USR1.

use warnings;
use strict;

use FindBin;
use lib "$FindBin::Bin/lib";

use POSIX qw(strftime);
use Test::More;
use Time::Local qw(timegm);
use Harbor::Test qw(:all);

###############################################################################

my $t = Harbor::Test->new;
$t->run;

my $repo = 'journal/app';

# Lines since the last call.  A line may be written just after the
# response went out (a pull is journalled once the manifest is sent), so
# wait (bounded) until $want lines are there.
my $seen = 0;
sub new_events {
    my ($want) = @_;
    $want = 0 unless defined $want;
    my @ev;
    for (1 .. 100) {
        @ev = $t->journal_events;
        last if @ev - $seen >= $want;
        select undef, undef, undef, 0.05;
    }
    my @new = @ev[$seen .. $#ev];
    $seen = @ev;
    return @new;
}

# For "no line" checks: a pull of a manifest of its own repository as a
# sentinel; with one worker requests are journalled in order, so every
# line before it is there when it is.
sub events_before_sentinel {
    $t->http(GET => '/v2/journal/sentinel/manifests/s');
    my @ev;
    for (1 .. 100) {
        @ev = $t->journal_events;
        last if grep { ($_->{repository} || '') eq 'journal/sentinel'
            && ($_->{action} || '') eq 'pull' } @ev[$seen .. $#ev];
        select undef, undef, undef, 0.05;
    }
    my @new = @ev[$seen .. $#ev];
    $seen = @ev;
    return grep { ($_->{repository} || '') ne 'journal/sentinel' } @new;
}

is(scalar new_events(), 0, 'journal empty at start');

$t->make_image('journal/sentinel', 's');
is(scalar new_events(1), 1, 'sentinel pushed');

# blobs and uploads leave no line

my $img = $t->make_image($repo, undef, nlayers => 2);
my @ev = events_before_sentinel();
is(scalar @ev, 1, 'one line for a push by digest (none for blobs)');

my $e = $ev[0];
is($e->{action}, 'push', 'push: action');
is($e->{repository}, $repo, 'push: repository');
is($e->{digest}, $img->{digest}, 'push: digest');
ok(!exists $e->{tag}, 'push by digest: no tag');
is($e->{media_type}, MT_OCI_MANIFEST, 'push: media_type');
is($e->{size}, length $img->{manifest}, 'push: size');
ok(!ref $e->{size} && $e->{size} =~ /^\d+$/, 'push: size is a number');
is($e->{user}, '', 'push: user empty without auth');
is($e->{remote_addr}, '127.0.0.1', 'push: remote_addr');
like($e->{id}, qr/^[0-9a-f]{32}$/, 'push: id');
like($e->{time}, qr/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/, 'push: time');

if ($e->{time} =~ /^(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)/) {
    my $when = timegm($6, $5, $4, $3, $2 - 1, $1);
    ok(abs($when - time) < 120, 'push: time is now, in UTC');
}

is_deeply([sort keys %$e], [sort qw(id time action repository digest
    media_type size user remote_addr)], 'push by digest: exactly the fields');

# push by tag

$t->push_manifest($repo, 'v1', $img->{manifest}, MT_OCI_MANIFEST);
($e) = new_events(1);
is($e->{action}, 'push', 'push by tag: action');
is($e->{tag}, 'v1', 'push by tag: tag');
is($e->{digest}, $img->{digest}, 'push by tag: digest');
is_deeply([sort keys %$e], [sort qw(id time action repository digest tag
    media_type size user remote_addr)], 'push by tag: exactly the fields');

# pull by tag and by digest; HEAD is not a pull

$t->http(HEAD => "/v2/$repo/manifests/v1");
$t->http(HEAD => "/v2/$repo/manifests/$img->{digest}");
is(scalar events_before_sentinel(), 0, 'HEAD leaves no line');

$t->http(GET => "/v2/$repo/manifests/v1");
($e) = new_events(1);
is($e->{action}, 'pull', 'pull by tag: action');
is($e->{tag}, 'v1', 'pull by tag: tag');
is($e->{digest}, $img->{digest}, 'pull by tag: digest');
is($e->{size}, length $img->{manifest}, 'pull by tag: size');
is($e->{media_type}, MT_OCI_MANIFEST, 'pull by tag: media_type');

$t->http(GET => "/v2/$repo/manifests/$img->{digest}");
($e) = new_events(1);
is($e->{action}, 'pull', 'pull by digest: action');
ok(!exists $e->{tag}, 'pull by digest: no tag');
is($e->{digest}, $img->{digest}, 'pull by digest: digest');

# blobs, lists, failures leave no line

$t->http(GET => "/v2/$repo/blobs/$img->{layers}[0]");
$t->http(GET => "/v2/$repo/tags/list");
$t->http(GET => '/v2/_catalog');
$t->http(GET => "/v2/$repo/referrers/$img->{digest}");
$t->http(GET => "/v2/$repo/manifests/nope");
$t->http(GET => "/v2/$repo/manifests/v1", headers => [Accept => MT_DOCKER_V2]);
$t->http(PUT => "/v2/$repo/manifests/bad", body => '{',
    headers => ['Content-Type' => MT_OCI_MANIFEST]);
$t->http(DELETE => "/v2/$repo/manifests/nope");
$t->http(DELETE => "/v2/$repo/manifests/" . sha256('nope'));
is(scalar events_before_sentinel(), 0,
    'no line for blobs, lists and failures');

# docker manifest and index media types

my $d = $t->make_image($repo, 'docker', format => 'docker');
($e) = new_events(1);
is($e->{media_type}, MT_DOCKER_V2, 'docker push: media_type');
my $idx = $t->make_index($repo, 'multi', [$img]);
($e) = new_events(1);
is($e->{media_type}, MT_OCI_INDEX, 'index push: media_type');
is($e->{size}, length $idx->{manifest}, 'index push: size');

# delete by tag, by digest

$t->http(DELETE => "/v2/$repo/manifests/docker");
($e) = new_events(1);
is($e->{action}, 'delete', 'delete tag: action');
is($e->{tag}, 'docker', 'delete tag: tag');
is($e->{digest}, $d->{digest}, 'delete tag: digest of the tag');
is($e->{repository}, $repo, 'delete tag: repository');

$t->http(DELETE => "/v2/$repo/manifests/$idx->{digest}");
@ev = events_before_sentinel();
is(scalar @ev, 1, 'delete by digest: one line');
is($ev[0]{action}, 'delete', 'delete by digest: action');
is($ev[0]{digest}, $idx->{digest}, 'delete by digest: digest');
ok(!exists $ev[0]{tag}, 'delete by digest: no tag');

# every line is a JSON object on its own line, ids unique

{
    my $raw = $t->read_file($t->journal);
    like($raw, qr/\n\z/, 'journal ends with a newline');
    my @lines = split /\n/, $raw;
    is(scalar(grep { $_->{_bad} } $t->journal_events), 0,
        'every line is JSON');
    my %ids = map { $_->{id} => 1 } $t->journal_events;
    is(scalar keys %ids, scalar @lines, 'ids are unique');
}

# many writers at once (two workers): whole lines

$t->stop;
$t->run(workers => 2);
events_before_sentinel();

{
    my $n = 4;
    my $each = 25;
    my @pids;
    for my $k (1 .. $n) {
        my $pid = fork();
        die "fork: $!" unless defined $pid;
        if ($pid == 0) {
            for (1 .. $each) {
                $t->http(GET => "/v2/$repo/manifests/v1");
            }
            POSIX::_exit(0);
        }
        push @pids, $pid;
    }
    waitpid($_, 0) for @pids;

    my @new = new_events($n * $each);
    is(scalar @new, $n * $each, 'one line per concurrent pull');
    is(scalar(grep { ($_->{action} || '') eq 'pull'
        && ($_->{digest} || '') eq $img->{digest} } @new), $n * $each,
        'concurrent lines whole');
}

# USR1 reopens the journal, like access_log

{
    my $j = $t->journal;
    rename $j, "$j.1" or die "rename: $!";
    kill 'USR1', $t->pid;

    # the reopen happens asynchronously: pull until a line shows up in
    # the new file
    my $ok = 0;
    for (1 .. 100) {
        $t->http(GET => "/v2/$repo/manifests/$img->{digest}");
        if (-s $j) {
            $ok = 1;
            last;
        }
        select undef, undef, undef, 0.05;
    }
    ok($ok, 'journal reopened on USR1');
    $seen = 0;
    ok(!grep({ $_->{_bad} } $t->journal_events), 'new journal is JSON lines');
}

$t->stop;

# without harbor_journal nothing is written

{
    my $t2 = Harbor::Test->new;
    $t2->run(registry => join "\n", 'harbor_registry on;',
        'harbor_storage ' . $t2->storage . ';', 'harbor_auth off;',
        'client_max_body_size 0;');
    my $i = $t2->make_image('no/journal', 'v1');
    is($i->{response}{status}, 201, 'push without a journal');
    is($t2->http(GET => '/v2/no/journal/manifests/v1')->{status}, 200,
        'pull without a journal');
    ok(!-e $t2->journal, 'no journal file');
    $t2->stop;
}

done_testing;

###############################################################################
