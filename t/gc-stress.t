#!/usr/bin/perl

# GC racing pushes (SECURITY.md; distribution #3045, #2881): 8 clients push
# and re-push images that share layers, delete tags and pull, while garbage
# collection runs in a loop with a one-second window.  Afterwards every
# acknowledged, not deleted manifest pulls whole with matching digests,
# and no unreferenced blob older than the window is left.
#
# GC_STRESS_SECONDS (default 60) bounds the pushing.

use warnings;
use strict;

use FindBin;
use lib "$FindBin::Bin/lib";

use Digest::SHA qw(sha256_hex);
use JSON::PP ();
use POSIX ();
use Test::More;
use Time::HiRes qw(sleep time);
use Harbor::Api;
use Harbor::Authd;

###############################################################################

my $SECONDS = $ENV{GC_STRESS_SECONDS} || 60;
my $CLIENTS = 8;
my $WINDOW = 1;

my $s = Harbor::Api->new(workers => 2, authd_conf => {
    'authd.gc_window' => $WINDOW });
my $admin = $s->admin;
my $v2 = $s->t->v2root;
my $dir = $s->dir;
my $JSON = JSON::PP->new->utf8->canonical;

$s->create_project('st', public => 0);
my @repos = map { "st/r$_" } 0 .. 2;
my $tok = $s->bearer(user => 'admin', pass => $admin->[1],
    scope => [map { "repository:$_:pull,push,delete" } @repos]);

# layers shared by every client and repository
my @pool = map { "pool layer $_ " . ("z" x (200 + $_)) } 0 .. 63;

sub slurp {
    open my $f, '<', $_[0] or return undef;
    local $/;
    return scalar <$f>;
}

sub pull_ok {
    my ($repo, $ref, $digest) = @_;
    my $m = $s->http(GET => "/v2/$repo/manifests/$ref", token => $tok,
        headers => ['Accept' => 'application/vnd.oci.image.manifest.v1+json']);
    return "manifest $m->{status}" unless $m->{status} == 200;
    my $got = 'sha256:' . sha256_hex($m->{body});
    return "manifest digest $got" if defined $digest && $got ne $digest;
    my $j = eval { $JSON->decode($m->{body}) } or return 'bad manifest';
    for my $d ($j->{config}{digest}, map { $_->{digest} } @{$j->{layers}}) {
        my $b = $s->http(GET => "/v2/$repo/blobs/$d", token => $tok);
        return "blob $d $b->{status}" unless $b->{status} == 200;
        return "blob $d digest" unless 'sha256:' . sha256_hex($b->{body}) eq $d;
    }
    return '';
}

sub client {
    my ($c) = @_;
    srand($$ ^ time);
    my %state;          # "repo tag" -> digest or undef (deleted)
    my %stat = (push => 0, push_fail => 0, del => 0, pull => 0,
                lost => 0);
    my $end = time + $SECONDS;

    while (time < $end) {
        my $repo = $repos[int rand @repos];
        my $tag = "c$c-" . int(rand 4);
        my $op = rand;

        if ($op < 0.6) {
            my $p = $s->push_image($repo, $tok, tag => $tag,
                                   layer => $pool[int rand @pool]);
            if ($p->{ok}) {
                $state{"$repo $tag"} = $p->{digest};
                delete $state{"?$repo $tag"};
                $stat{push}++;
            } else {
                # not acknowledged: the tag may or may not have moved
                $stat{push_fail}++;
                my $st = $p->{responses}[-1]{status};
                delete $state{"$repo $tag"};
                $state{"?$repo $tag"} = 1;
            }
        } elsif ($op < 0.75) {
            my $r = $s->http(DELETE => "/v2/$repo/manifests/$tag",
                             token => $tok);
            if ($r->{status} == 202 || $r->{status} == 404) {
                $state{"$repo $tag"} = undef;
                delete $state{"?$repo $tag"};
                $stat{del}++;
            }
        } else {
            my $d = $state{"$repo $tag"};
            next unless defined $d;
            my $err = pull_ok($repo, $tag, $d);
            $stat{pull}++;
            if ($err ne '') {
                $stat{lost}++;
                print STDERR "# client $c: $repo:$tag: $err\n";
            }
        }
    }

    open my $f, '>', "$dir/client$c.json" or die $!;
    print $f $JSON->encode({ state => \%state, stat => \%stat });
    close $f;
}

my @pids;
for my $c (1 .. $CLIENTS) {
    my $pid = fork // die "fork: $!";
    if ($pid == 0) {
        client($c);
        POSIX::_exit(0);        # no END blocks: they stop the stack
    }
    push @pids, $pid;
}

# garbage collection in a loop meanwhile

my ($runs, $ok, $deleted) = (0, 0, 0);
my $end = time + $SECONDS;
while (time < $end) {
    my $r = $s->api(POST => '/system/gc/schedule', $admin, json => {
        schedule => { type => 'Manual' },
        parameters => { delete_untagged => JSON::PP::true, workers => 2 } });
    if ($r->{status} != 201) {
        sleep 0.2;
        next;
    }
    my $id = $r->{json}{id};
    my $j;
    Harbor::Authd::wait_for(60, sub {
        $j = $s->api(GET => "/system/gc/$id", $admin)->{json};
        return $j && $j->{job_status} =~ /^(Success|Error|Stopped)$/;
    });
    $runs++;
    $ok++ if $j->{job_status} eq 'Success';
    diag("run $id: $j->{job_status}\n"
         . join("\n", grep { /error|killed|failed/ }
                split /\n/, $s->api(GET => "/system/gc/$id/log", $admin)
                              ->{body} // ''))
        unless $j->{job_status} eq 'Success';
    $deleted += $j->{result}{blobs_deleted} // 0;
    sleep 0.3;
}

waitpid($_, 0) for @pids;

my (%final, %stat);
for my $c (1 .. $CLIENTS) {
    my $j = $JSON->decode(slurp("$dir/client$c.json")
                          // '{}');
    %final = (%final, %{$j->{state} || {}});
    $stat{$_} += $j->{stat}{$_} for keys %{$j->{stat} || {}};
}

diag("gc runs $runs ($ok ok), blobs deleted $deleted; clients: "
     . join(', ', map { "$_ $stat{$_}" } sort keys %stat));
ok($runs >= 3, 'garbage collection ran several times');
is($ok, $runs, 'every run succeeded');
ok($deleted > 0, 'runs deleted blobs');
ok($stat{push} > 50, 'clients pushed');
is($stat{lost}, 0, 'no acknowledged manifest was lost during the run');

# one last run after the window: nothing unreferenced older than it stays

sleep $WINDOW + 1.5;
my $r = $s->api(POST => '/system/gc/schedule', $admin, json => {
    schedule => { type => 'Manual' },
    parameters => { delete_untagged => JSON::PP::true } });
my $id = $r->{json}{id};
my $j;
Harbor::Authd::wait_for(60, sub {
    $j = $s->api(GET => "/system/gc/$id", $admin)->{json};
    return $j && $j->{job_status} =~ /^(Success|Error|Stopped)$/;
});
is($j->{job_status}, 'Success', 'final run');

my $bad = 0;
my $n = 0;
for my $k (sort keys %final) {
    next if $k =~ /^\?/;
    my ($repo, $tag) = split / /, $k;
    next if $final{"?$k"};
    my $d = $final{$k};
    if (defined $d) {
        $n++;
        my $err = pull_ok($repo, $tag, $d);
        $bad++, diag("$repo:$tag: $err") if $err ne '';
    } else {
        my $m = $s->http(GET => "/v2/$repo/manifests/$tag", token => $tok);
        $bad++, diag("$repo:$tag deleted but $m->{status}")
            unless $m->{status} == 404;
    }
}
ok($n > 0, "$n acknowledged tags checked");
is($bad, 0, 'every acknowledged, not deleted manifest pulls whole');

# referenced: every revision of every repository and what it references
my %ref;
for my $repo (@repos) {
    for my $l (glob("$v2/repositories/$repo/_manifests/revisions/sha256/*")) {
        my ($h) = $l =~ m{/([0-9a-f]{64})$} or next;
        $ref{$h} = 1;
        my $f = "$v2/blobs/sha256/" . substr($h, 0, 2) . "/$h/data";
        my $m = eval { $JSON->decode(slurp($f)) }
            or next;
        for my $d ($m->{config}{digest}, map { $_->{digest} }
                   @{$m->{layers} || []}) {
            $ref{substr($d, 7)} = 1 if $d;
        }
    }
}
my $old = time - $WINDOW - 1;
my @stale;
for my $f (glob("$v2/blobs/sha256/*/*/data")) {
    my ($h) = $f =~ m{/([0-9a-f]{64})/data$};
    push @stale, $h if !$ref{$h} && (stat $f)[9] < $old;
}
is(scalar @stale, 0, 'no unreferenced blob older than the window')
    or diag("@stale[0 .. ($#stale < 5 ? $#stale : 4)]");
my @t = glob($s->storage . '/_gc/trash/*');
is(scalar @t, 0, 'the trash is empty');

done_testing;
