#!/usr/bin/perl

# Lists cost a page, not the whole list: tags/list and _catalog keep only
# the names a page needs (and the catalog skips subtrees that cannot be on
# the page), so walking them page by page through Link must give exactly
# the sorted list, whatever the names; the referrers list is paginated
# too, at most 100 a page and at most 4 MiB of manifests read for one.

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

# Follows Link from $path; returns the names of every page, and the pages.
sub walk {
    my ($path, $key) = @_;
    my (@all, $pages);
    while ($path) {
        my $r = $t->http(GET => $path);
        return ("GET $path: $r->{status}") unless $r->{status} == 200;
        push @all, @{$t->json($r)->{$key} || []};
        $pages++;
        ($path) = ($r->{headers}{link} || '') =~ /^<([^>]+)>; rel="next"$/;
        return ('too many pages') if $pages > 500;
    }
    return (\@all, $pages);
}

sub own {
    system('chown', '-R', 'harbor:harbor', $v2) if $> == 0;
}

###############################################################################
# tags: names that sort in every way

my $img = $t->make_image('pg/tags', 'seed');
my @tags = ('seed', map { ("t$_", "t$_-x", "t$_.y", "t${_}_z", "T$_") }
    1 .. 40);
for my $tag (@tags) {
    make_path("$v2/repositories/pg/tags/_manifests/tags/$tag/current");
}
make_path("$v2/repositories/pg/tags/_manifests/tags/.hidden");
make_path("$v2/repositories/pg/tags/_manifests/tags/-bad");
own();

my @want = sort @tags;

for my $n (1, 7, 100, 1000) {
    my ($got, $pages) = walk("/v2/pg/tags/tags/list?n=$n", 'tags');
    is_deeply($got, \@want, "tags, $n a page: all, in order, once");
    is($pages, int((@want + $n - 1) / $n), "tags, $n a page: $pages pages");
}

my ($got) = walk('/v2/pg/tags/tags/list?n=5&last=t2', 'tags');
is_deeply($got, [grep { $_ gt 't2' } @want], 'tags after last=t2');

($got) = walk('/v2/pg/tags/tags/list?last=zzz', 'tags');
is_deeply($got, [], 'tags after the last one: none');

###############################################################################
# the catalog: names whose components sort unlike the whole names

my @repos = qw(a a-b a.b a/b a/b/c a/b-c a/b.c a0 ab b/a/a b/a-a b/a/a/a
               c/d/e/f zz z-z);
for my $repo (@repos) {
    make_path("$v2/repositories/$repo/_manifests/revisions");
}
make_path("$v2/repositories/q/w");             # no _manifests: not a repo
own();

my @all = sort(@repos, 'pg/tags');

for my $n (1, 2, 3, 5, 1000) {
    my ($got) = walk("/v2/_catalog?n=$n", 'repositories');
    is_deeply($got, \@all, "catalog, $n a page: all, in order, once");
}

for my $last (qw(a a- a/b a/b/c a/c b b/a b/a/a/a pg z)) {
    my ($got) = walk("/v2/_catalog?n=2&last=$last", 'repositories');
    is_deeply($got, [grep { $_ gt $last } @all], "catalog after last=$last");
}

# A repository among many entries that sort between it and its own
# subtree ("b" < "b-00" < ... < "b/"): on a full page it is still there,
# whatever order the directory lists them in (a few such groups, so that
# in some the repository is not listed first).

for my $x ('b' .. 'i') {
    my $before = 'pg2/' . chr(ord($x) - 1) . 'z';     # after the group before
    my @sib = ("pg2/$x", map { sprintf "pg2/$x-%02d", $_ } 0 .. 19);
    make_path("$v2/repositories/$_/_manifests/revisions") for @sib;
    own();

    for my $n (1, 2) {
        my $r = $t->http(GET => "/v2/_catalog?n=$n&last=$before");
        is_deeply($t->json($r)->{repositories}, [(sort @sib)[0 .. $n - 1]],
            "catalog: pg2/$x first among its siblings, $n a page");
    }
}

# A page stops where it is full: the entries of a directory are taken in
# order and those after a full page are not read (an unreadable one would
# fail the request if they were).

make_path("$v2/repositories/pg3/$_/_manifests/revisions") for qw(b c zz/x);
own();
chmod 0, "$v2/repositories/pg3/zz";
my $r = $t->http(GET => '/v2/_catalog?n=1&last=pg3/a');
is($r->{status}, 200, 'catalog: a full page reads no further');
is_deeply($t->json($r)->{repositories}, ['pg3/b'], 'catalog: that page');
like($r->{headers}{link} || '', qr/last=pg3\/b/, 'catalog: and its Link');
chmod 0755, "$v2/repositories/pg3/zz";
$t->allow_log(qr/Permission denied/);

###############################################################################
# referrers: paginated

my $subject = $t->make_image('pg/ref', 'subject');
my @refs;
for my $i (1 .. 130) {
    my $r = $t->make_image('pg/ref', undef, nlayers => 0, subject => $subject,
        artifact_type => $i % 2 ? 'application/x-odd' : 'application/x-even');
    push @refs, $r->{digest};
}

my $first = $t->http(GET => "/v2/pg/ref/referrers/$subject->{digest}");
is($first->{status}, 200, 'referrers: 200');
is(scalar @{$t->json($first)->{manifests}}, 100, 'the first page: 100');
like($first->{headers}{link} || '', qr/rel="next"/, 'and a Link to more');

my @seen;
my $path = "/v2/pg/ref/referrers/$subject->{digest}";
my $pages = 0;
while ($path && $pages++ < 50) {
    my $r = $t->http(GET => $path);
    push @seen, map { $_->{digest} } @{$t->json($r)->{manifests}};
    ($path) = ($r->{headers}{link} || '') =~ /^<([^>]+)>; rel="next"$/;
}
is_deeply([sort @seen], [sort @refs], 'all referrers over the pages, once');

# a filter is kept in the Link
@seen = ();
$path = "/v2/pg/ref/referrers/$subject->{digest}?n=20&artifactType="
    . 'application%2Fx-odd';
$pages = 0;
while ($path && $pages++ < 50) {
    my $r = $t->http(GET => $path);
    push @seen, map { $_->{artifactType} } @{$t->json($r)->{manifests}};
    ($path) = ($r->{headers}{link} || '') =~ /^<([^>]+)>; rel="next"$/;
}
is(scalar @seen, 65, 'with a filter: every match, over the pages');
is_deeply([grep { $_ ne 'application/x-odd' } @seen], [],
    'and nothing else');

# big referrers: a page stops after 4 MiB of manifests read

my $big_subject = $t->make_image('pg/big', 'subject');
for my $i (1 .. 6) {
    $t->make_image('pg/big', undef, nlayers => 0, subject => $big_subject,
        annotations => { pad => 'x' x (1024 * 1024 + $i) });
}

$r = $t->http(GET => "/v2/pg/big/referrers/$big_subject->{digest}");
my $on_page = scalar @{$t->json($r)->{manifests} || []};
cmp_ok($on_page, '<', 6, "1 MiB referrers: $on_page on the first page");
like($r->{headers}{link} || '', qr/rel="next"/, 'and a Link to the rest');
cmp_ok(length $r->{body}, '<', 6 * 1024 * 1024, 'the page is bounded');

$t->stop;

done_testing();
