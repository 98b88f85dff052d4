#!/usr/bin/perl

# Tests for /v2/<name>/tags/list: sorting, pagination (n, last, Link),
# invalid n, the cap of 1000, unknown and invalid repositories.

use warnings;
use strict;

use FindBin;
use lib "$FindBin::Bin/lib";

use File::Path qw(make_path);
use Test::More;
use Harbor::Test qw(:all);

###############################################################################

my $t = Harbor::Test->new;
$t->run;

my $repo = 'library/tagged';

my $img = $t->make_image($repo, 'v1.0');
my @tags = sort +('v1.0', 'latest', 'v2', 'a', 'B', '_x', 'v1.10', 'v1.9',
    'Z9', '0');

for my $tag (@tags) {
    next if $tag eq 'v1.0';
    $t->push_manifest($repo, $tag, $img->{manifest}, MT_OCI_MANIFEST);
}

# the whole list, sorted

my $r = $t->http(GET => "/v2/$repo/tags/list");
is($r->{status}, 200, 'tags/list');
like($r->{headers}{'content-type'}, qr{^application/json}, 'tags/list json');
is($r->{headers}{'docker-distribution-api-version'}, 'registry/2.0',
    'tags/list api version');
is_deeply($t->json($r), { name => $repo, tags => \@tags },
    'tags/list sorted');
ok(!defined $r->{headers}{link}, 'no Link when all fit');

# n bigger than the list

$r = $t->http(GET => "/v2/$repo/tags/list?n=100");
is_deeply($t->json($r)->{tags}, \@tags, 'n=100');
ok(!defined $r->{headers}{link}, 'n=100: no Link');

# n equal to the list

$r = $t->http(GET => "/v2/$repo/tags/list?n=" . scalar @tags);
is_deeply($t->json($r)->{tags}, \@tags, 'n=all');
ok(!defined $r->{headers}{link}, 'n=all: no Link');

$r = $t->http(GET => "/v2/$repo/tags/list?n=1&last=$tags[-2]");
is_deeply($t->json($r)->{tags}, [$tags[-1]], 'last page');
ok(!defined $r->{headers}{link}, 'last page: no Link');

# n=0

$r = $t->http(GET => "/v2/$repo/tags/list?n=0");
is($r->{status}, 200, 'n=0');
is_deeply($t->json($r)->{tags}, [], 'n=0: no tags');

# n=1 and the Link chain

my @seen;
my $path = "/v2/$repo/tags/list?n=1";
for my $i (1 .. @tags + 1) {
    $r = $t->http(GET => $path);
    last unless $r->{status} == 200;
    push @seen, @{$t->json($r)->{tags} || []};
    my $link = $r->{headers}{link};
    last unless defined $link;
    if ($i == 1) {
        is($link, "</v2/$repo/tags/list?last=$tags[0]&n=1>; rel=\"next\"",
            'n=1: Link');
    }
    ($path) = $link =~ /^<([^>]+)>; rel="next"$/ or last;
}
is_deeply(\@seen, \@tags, 'following Link with n=1 gives every tag once');

# n=3

$r = $t->http(GET => "/v2/$repo/tags/list?n=3");
is_deeply($t->json($r)->{tags}, [@tags[0 .. 2]], 'n=3 first page');
is($r->{headers}{link}, "</v2/$repo/tags/list?last=$tags[2]&n=3>; rel=\"next\"",
    'n=3 Link');

# last

$r = $t->http(GET => "/v2/$repo/tags/list?last=$tags[4]");
is_deeply($t->json($r)->{tags}, [@tags[5 .. $#tags]], 'last=');

$r = $t->http(GET => "/v2/$repo/tags/list?last=$tags[4]&n=2");
is_deeply($t->json($r)->{tags}, [@tags[5, 6]], 'last= and n=2');
is($r->{headers}{link}, "</v2/$repo/tags/list?last=$tags[6]&n=2>; rel=\"next\"",
    'last= and n=2: Link');

$r = $t->http(GET => "/v2/$repo/tags/list?last=$tags[-1]");
is_deeply($t->json($r)->{tags}, [], 'last= the last tag');

$r = $t->http(GET => "/v2/$repo/tags/list?last=v1.5");
is_deeply($t->json($r)->{tags}, [grep { $_ gt 'v1.5' } @tags],
    'last= a tag that does not exist');

$r = $t->http(GET => "/v2/$repo/tags/list?last=zzz");
is_deeply($t->json($r)->{tags}, [], 'last= after every tag');

# n invalid

for my $n ('abc', '-1', '1.5', '1e3', '0x10', '%201', '1%20', '%2B1', '', '1a',
    '%31a', '1%00', '%2D1',
    '99999999999999999999999999')
{
    my $r = $t->http(GET => "/v2/$repo/tags/list?n=$n");
    if ($n eq '99999999999999999999999999') {
        # a non-negative integer: capped, or refused as too big
        ok($r->{status} == 200 || $t->error_code($r)
            eq 'PAGINATION_NUMBER_INVALID', "n=$n capped or refused");
        next;
    }
    if ($n eq '') {
        # an empty n is as if there were none, or invalid
        ok($r->{status} == 200 || $t->error_code($r)
            eq 'PAGINATION_NUMBER_INVALID', 'n= empty');
        next;
    }
    $t->is_error($r, 400, 'PAGINATION_NUMBER_INVALID', "n=$n");
}

# the cap: 1005 tags, n=5000 gives 1000 and a Link

my $tagdir = $t->v2root . "/repositories/$repo/_manifests/tags";
{
    my ($hex) = $img->{digest} =~ /^sha256:(.*)/;
    for my $i (1 .. 1005) {
        my $tag = sprintf 'many%04d', $i;
        for my $sub ('current', "index/sha256/$hex") {
            make_path("$tagdir/$tag/$sub");
            open my $fh, '>', "$tagdir/$tag/$sub/link" or die $!;
            print $fh $img->{digest};
            close $fh;
        }
    }
    system('chown', '-R', 'harbor:harbor', $t->storage) if $> == 0;
}

is($t->http(GET => "/v2/$repo/manifests/many0001")->{status}, 200,
    'tag written on disk is served');

$r = $t->http(GET => "/v2/$repo/tags/list?n=5000");
is($r->{status}, 200, 'n=5000');
my $got = $t->json($r)->{tags} || [];
is(scalar @$got, 1000, 'n=5000 capped at 1000');
my @all = sort (@tags, map { sprintf 'many%04d', $_ } 1 .. 1005);
is_deeply($got, [@all[0 .. 999]], 'capped page is the first 1000');
is($r->{headers}{link},
    "</v2/$repo/tags/list?last=$all[999]&n=1000>; rel=\"next\"",
    'capped page Link with n=1000');

$r = $t->http(GET => "/v2/$repo/tags/list?n=1000&last=$all[999]");
is_deeply($t->json($r)->{tags}, [@all[1000 .. $#all]], 'second page');
ok(!defined $r->{headers}{link}, 'second page: no Link');

# a deleted tag leaves the list

is($t->http(DELETE => "/v2/$repo/manifests/latest")->{status}, 202,
    'delete tag latest');
$r = $t->http(GET => "/v2/$repo/tags/list?n=5");
ok(!grep({ $_ eq 'latest' } @{$t->json($r)->{tags} || []}),
    'deleted tag not listed');

# unknown and invalid repositories

$t->is_error($t->http(GET => '/v2/library/none/tags/list'), 404,
    'NAME_UNKNOWN', 'unknown repository');
$t->is_error($t->http(GET => '/v2/library/tagged/none/tags/list'), 404,
    'NAME_UNKNOWN', 'unknown repository below a known one');
$t->is_error($t->http(GET => '/v2/library/tags/list'), 404,
    'NAME_UNKNOWN', 'the parent of a repository is not one');
$t->is_error($t->http(GET => '/v2/Library/Tagged/tags/list'), 400,
    'NAME_INVALID', 'invalid repository');
$t->is_error($t->http(GET => '/v2/library/tagged-/tags/list'), 400,
    'NAME_INVALID', 'invalid repository (trailing -)');

# a repository with blobs only has no tags

$t->push_blob('library/blobsonly', 'x');
$r = $t->http(GET => '/v2/library/blobsonly/tags/list');
ok($r->{status} == 404 || ($r->{status} == 200
    && !@{$t->json($r)->{tags} || []}), 'blobs-only repository: no tags');

# HEAD is not a tags route method

$r = $t->http(HEAD => "/v2/$repo/tags/list");
is($r->{status}, 405, 'HEAD tags/list 405');

$t->stop;

done_testing;

###############################################################################
