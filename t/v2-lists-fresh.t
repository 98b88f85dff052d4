#!/usr/bin/perl

# A page of tags is never stale: each worker keeps the sorted tags of a
# repository it listed, but checks them against the tags directory on
# every list and only keeps a read that began well after the directory
# last changed.  With two workers, a tag pushed (or deleted) right after
# a list is in (or gone from) the very next list, round after round; and
# pages served from the cache (a repository left alone) follow n, last
# and Link exactly as pages read from the directory do.

use warnings;
use strict;

use FindBin;
use lib "$FindBin::Bin/lib";

use Test::More;
use File::Path qw(make_path);
use Harbor::Test qw(:all);

###############################################################################

my $t = Harbor::Test->new;
$t->run;

my $v2 = $t->v2root;
my $repo = 'fresh/a';
my $img = $t->make_image($repo, 'seed');
my %have = (seed => 1);

sub tags {
    my $r = $t->http(GET => "/v2/$repo/tags/list");
    return $r->{status} == 200 ? $t->json($r)->{tags} : ["$r->{status}"];
}

sub push_tag {
    my ($tag) = @_;
    my $r = $t->push_manifest($repo, $tag, $img->{manifest},
                              $img->{media_type});
    $have{$tag} = 1 if $r->{status} == 201;
    return $r->{status};
}

# Follows Link from $path; returns the names of every page, and the pages.
sub walk {
    my ($path) = @_;
    my (@all, $pages);
    while ($path) {
        my $r = $t->http(GET => $path);
        return ("GET $path: $r->{status}") unless $r->{status} == 200;
        push @all, @{$t->json($r)->{tags} || []};
        $pages++;
        ($path) = ($r->{headers}{link} || '') =~ /^<([^>]+)>; rel="next"$/;
        return ('too many pages') if $pages > 500;
    }
    return (\@all, $pages);
}

###############################################################################
# many rounds: list (on either worker), change, list again

my $bad = 0;
for my $i (1 .. 150) {
    tags() for 1 .. 2;
    my $tag = sprintf 'r%03d', $i;
    if (push_tag($tag) != 201) {
        $bad++;
        diag("push $tag failed");
        next;
    }
    my $got = tags();
    unless (grep { $_ eq $tag } @$got) {
        $bad++;
        diag("round $i: $tag not in the list after its push");
    }

    next unless $i % 5 == 0;

    # and a delete
    my $gone = sprintf 'r%03d', $i - 2;
    my $r = $t->http(DELETE => "/v2/$repo/manifests/$gone");
    unless ($r->{status} == 202) {
        $bad++;
        diag("DELETE $gone: $r->{status}");
        next;
    }
    delete $have{$gone};
    $got = tags();
    if (grep { $_ eq $gone } @$got) {
        $bad++;
        diag("round $i: $gone still listed after its delete");
    }
}
is($bad, 0, '150 rounds: every push and delete seen by the next list');
is_deeply(tags(), [sort keys %have], 'and the list is exactly the tags');

###############################################################################
# The racy case, made certain: a tag added in the same clock tick as a
# read may leave the directory's mtime as it was (a coarse clock or
# timestamp).  Here the mtime is put back exactly (touch -r) after each
# new tag, right after lists on both workers: the next lists see the tag
# all the same, since a read that began within a second of the mtime is
# not kept.

my $dir = "$v2/repositories/$repo/_manifests/tags";
my $ref = $t->dir . '/mtime-ref';

$bad = 0;
for my $i (1 .. 20) {
    system('touch', '-m', $dir) == 0 or die "touch: $?";
    system('touch', '-r', $dir, $ref) == 0 or die "touch: $?";
    tags() for 1 .. 4;
    my $tag = sprintf 'same%02d', $i;
    make_path("$dir/$tag/current");
    system('touch', '-m', '-r', $ref, $dir) == 0 or die "touch: $?";
    $have{$tag} = 1;
    for (1 .. 4) {
        next if grep { $_ eq $tag } @{tags()};
        $bad++;
        diag("$tag not listed though made after a list");
        last;
    }
}
is($bad, 0, 'a tag added with the mtime unchanged: listed all the same');
system('chown', '-R', 'harbor:harbor', $v2) if $> == 0;

###############################################################################
# pages from the cache: the directory left alone (its time a minute ago)

for my $tag (map { ("x$_", "x$_-y", "X$_", "x${_}_z", "x$_.w") } 1 .. 30) {
    make_path("$v2/repositories/$repo/_manifests/tags/$tag/current");
    $have{$tag} = 1;
}
make_path("$v2/repositories/$repo/_manifests/tags/.hidden");
make_path("$v2/repositories/$repo/_manifests/tags/-bad");
system('chown', '-R', 'harbor:harbor', $v2) if $> == 0;

utime(time - 60, time - 60, $dir) or die "utime: $!";

my @want = sort keys %have;

for my $round (1 .. 2) {
    for my $n (1, 7, 100, 1000) {
        my ($got, $pages) = walk("/v2/$repo/tags/list?n=$n");
        is_deeply($got, \@want, "round $round, $n a page: all, in order");
        is($pages, int((@want + $n - 1) / $n), "$n a page: $pages pages");
    }
    for my $last ('', 'A', 'r050', 'x1', 'x30.w', 'zzz') {
        my ($got) = walk("/v2/$repo/tags/list?n=4&last=$last");
        is_deeply($got, [grep { $_ gt $last } @want], "after last=$last");
    }
}

# a tag made now (its directory's time changes): in the next list
is(push_tag('new'), 201, 'a tag pushed');
is_deeply(tags(), [sort keys %have], 'in the next list, on any worker');
is_deeply(tags(), [sort keys %have], 'and the one after');

$t->stop;

done_testing();
