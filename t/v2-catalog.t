#!/usr/bin/perl

# Tests for /v2/_catalog: sorted repositories (nested names), pagination
# (n, last, Link), invalid n, the cap of 1000.

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

# an empty registry

my $r = $t->http(GET => '/v2/_catalog');
is($r->{status}, 200, 'empty catalog');
is_deeply($t->json($r), { repositories => [] }, 'empty catalog body');
like($r->{headers}{'content-type'}, qr{^application/json}, 'catalog json');
is($r->{headers}{'docker-distribution-api-version'}, 'registry/2.0',
    'catalog api version');

# repositories, some nested inside others

my @repos = sort qw(alpine library/nginx library/nginx/extra library/redis
    a/b/c/d x-y x_y x.y x__y x--y 0abc z);

my $img = $t->make_image('seed/image', 'v1');
push @repos, 'seed/image';
@repos = sort @repos;

for my $name (@repos) {
    next if $name eq 'seed/image';
    my $i = $t->make_image($name, 'v1');
    is($i->{response}{status}, 201, "push $name");
}

$r = $t->http(GET => '/v2/_catalog');
is($r->{status}, 200, 'catalog');
is_deeply($t->json($r)->{repositories}, \@repos, 'catalog sorted');
ok(!defined $r->{headers}{link}, 'catalog: no Link when all fit');

# the parents of nested repositories are not repositories

my %listed = map { $_ => 1 } @{$t->json($r)->{repositories} || []};
ok(!$listed{library}, 'library is not listed');
ok(!$listed{a} && !$listed{'a/b'} && !$listed{'a/b/c'},
    'a, a/b, a/b/c are not listed');

# pagination

$r = $t->http(GET => '/v2/_catalog?n=2');
is_deeply($t->json($r)->{repositories}, [@repos[0, 1]], 'n=2');
is($r->{headers}{link}, "</v2/_catalog?last=$repos[1]&n=2>; rel=\"next\"",
    'n=2 Link');

my @seen;
my $path = '/v2/_catalog?n=1';
for (1 .. @repos + 1) {
    $r = $t->http(GET => $path);
    last unless $r->{status} == 200;
    push @seen, @{$t->json($r)->{repositories} || []};
    my $link = $r->{headers}{link} or last;
    ($path) = $link =~ /^<([^>]+)>; rel="next"$/ or last;
}
is_deeply(\@seen, \@repos, 'following Link with n=1 lists every repository');

$r = $t->http(GET => '/v2/_catalog?n=0');
is($r->{status}, 200, 'n=0');
is_deeply($t->json($r)->{repositories}, [], 'n=0: empty');

$r = $t->http(GET => '/v2/_catalog?n=' . scalar @repos);
is_deeply($t->json($r)->{repositories}, \@repos, 'n=all');
ok(!defined $r->{headers}{link}, 'n=all: no Link');

$r = $t->http(GET => "/v2/_catalog?last=library/nginx");
is_deeply($t->json($r)->{repositories},
    [grep { $_ gt 'library/nginx' } @repos], 'last=library/nginx');

$r = $t->http(GET => "/v2/_catalog?last=library%2Fnginx&n=1");
is_deeply($t->json($r)->{repositories}, ['library/nginx/extra'],
    'last url-encoded');
is($r->{headers}{link},
    "</v2/_catalog?last=library/nginx/extra&n=1>; rel=\"next\"",
    'Link after a nested name');

$r = $t->http(GET => "/v2/_catalog?last=$repos[-1]");
is_deeply($t->json($r)->{repositories}, [], 'last= the last repository');

$r = $t->http(GET => "/v2/_catalog?last=m");
is_deeply($t->json($r)->{repositories}, [grep { $_ gt 'm' } @repos],
    'last= a name that does not exist');

# n invalid

for my $n ('abc', '-1', '1.5', '%201', '1a', '0x1', '%2B1') {
    $t->is_error($t->http(GET => "/v2/_catalog?n=$n"), 400,
        'PAGINATION_NUMBER_INVALID', "catalog n=$n");
}

# the cap: 1001 more repositories written on disk

my $root = $t->v2root . '/repositories';
{
    my ($hex) = $img->{digest} =~ /^sha256:(.*)/;
    for my $i (1 .. 1001) {
        my $dir = sprintf "$root/zz/r%04d/_manifests", $i;

        # a tag link is enough to make a repository (the one checked
        # below gets the whole set)
        my @subs = $i == 1 ? ("revisions/sha256/$hex", 'tags/v1/current',
            "tags/v1/index/sha256/$hex") : ('tags/v1/current');

        for my $sub (@subs) {
            make_path("$dir/$sub");
            open my $fh, '>', "$dir/$sub/link" or die $!;
            print $fh $img->{digest};
            close $fh;
        }
    }
    system('chown', '-R', 'harbor:harbor', $t->storage) if $> == 0;
}

is($t->http(GET => '/v2/zz/r0001/tags/list')->{status}, 200,
    'repository written on disk is known');

my @all = sort(@repos, map { sprintf 'zz/r%04d', $_ } 1 .. 1001);

$r = $t->http(GET => '/v2/_catalog?n=100000');
is($r->{status}, 200, 'n=100000');
my $got = $t->json($r)->{repositories} || [];
is(scalar @$got, 1000, 'catalog capped at 1000');
is_deeply($got, [@all[0 .. 999]], 'capped page is the first 1000');
is($r->{headers}{link}, "</v2/_catalog?last=$all[999]&n=1000>; rel=\"next\"",
    'capped page Link');

$r = $t->http(GET => "/v2/_catalog?n=1000&last=$all[999]");
is_deeply($t->json($r)->{repositories}, [@all[1000 .. $#all]],
    'second page');
ok(!defined $r->{headers}{link}, 'second page: no Link');

# files and odd directories in the store are not repositories

{
    make_path("$root/Bad/Name/_manifests/tags");
    make_path("$root/.hidden/_manifests/tags");
    make_path("$root/ok/_uploads");
    open my $fh, '>', "$root/file" or die $!;
    close $fh;
    system('chown', '-R', 'harbor:harbor', $t->storage) if $> == 0;

    my $r = $t->http(GET => '/v2/_catalog?n=1000&last=zz');
    my @names = @{$t->json($r)->{repositories} || []};
    ok(!grep({ !/^zz\/r\d{4}$/ } @names),
        'invalid names and files in the store are not listed')
        or diag explain \@names;
    $r = $t->http(GET => '/v2/_catalog');
    ok(!grep({ /Bad|hidden|^file$/ } @{$t->json($r)->{repositories} || []}),
        'invalid names are not listed on the first page');
}

# HEAD and other methods

is($t->http(HEAD => '/v2/_catalog')->{status}, 405, 'HEAD _catalog 405');

$t->stop;

done_testing;

###############################################################################
