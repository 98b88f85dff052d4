#!/usr/bin/perl

# Lists of the API: page and page_size (default 10, capped at 100, empty
# pages past the end), X-Total-Count and Link, q (k=v, k=~v with % and _
# taken literally, k=[a~b], k={a b}, k=(a b)), sort from an allow-list
# (unknown key: 400), on repositories, artifacts, tags and audit logs.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use Test::More;

use Harbor::Test;
use Harbor::Api;

my $s = Harbor::Api->new;
my $admin = $s->admin;

$s->create_project('many', public => 1);

my @names = ((map { sprintf 'many/r%02d', $_ } 0 .. 22), 'many/a_b',
             'many/axb');
my $tok = $s->bearer(user => 'admin', pass => $admin->[1],
                     scope => [map { "repository:$_:pull,push" } @names]);

my %img;
for my $n (@names) {
    $img{$n} = $s->push_image($n, $tok, tag => 'v1');
    die "push $n failed" unless $img{$n}{ok};
}

# pulls: r00 once, r01 twice ... r04 five times
for my $i (0 .. 4) {
    for (0 .. $i) {
        $s->http(GET => sprintf('/v2/many/r%02d/manifests/v1', $i),
                 token => $tok, headers => [Accept => MT_OCI_MANIFEST]);
    }
}

# three more artifacts in r00: tagged x and y, tagged y, untagged
my $x = $s->push_image('many/r00', $tok, tag => 'x');
$s->http(PUT => '/v2/many/r00/manifests/y', token => $tok,
         body => $x->{manifest}, headers => ['Content-Type' => MT_OCI_MANIFEST]);
my $y = $s->push_image('many/r00', $tok, tag => 'yy');
my $u = $s->push_image('many/r00', $tok, tag => undef);

ok($s->sync, 'journal applied');

sub names {
    my ($r) = @_;
    return [map { $_->{name} } @{$r->{json} || []}];
}

my $base = '/projects/many/repositories';
my $r;

###############################################################################
# pages

$r = $s->api(GET => "$base?sort=name", undef);
is($r->{status}, 200, 'anonymous lists a public project');
is($r->{headers}{'x-total-count'}, 25, 'X-Total-Count');
is(scalar @{$r->{json}}, 10, 'default page_size 10');
like($r->{headers}{link}, qr{</api/v2.0\Q$base\E\?page=2&page_size=10&sort=name>; rel="next"},
     'Link next keeps sort');
unlike($r->{headers}{link}, qr/prev/, 'no prev on page 1');

$r = $s->api(GET => "$base?sort=name&page=3", undef);
is(scalar @{$r->{json}}, 5, 'last page: the rest');
like($r->{headers}{link}, qr/page=2.*rel="prev"/, 'prev');
unlike($r->{headers}{link}, qr/next/, 'no next on the last page');

$r = $s->api(GET => "$base?page=4", undef);
is($r->{status}, 200, 'past the end: 200');
is_deeply($r->{json}, [], 'an empty page');
is($r->{headers}{'x-total-count'}, 25, 'the total still');

$r = $s->api(GET => "$base?page_size=1000", undef);
is(scalar @{$r->{json}}, 25, 'page_size over 100: capped, all 25 here');
like($r->{headers}{'x-total-count'}, qr/^25$/, 'total');

$r = $s->api(GET => '/repositories?page_size=1000', $admin);
cmp_ok(scalar @{$r->{json}}, '<=', 100, 'never more than 100');

for my $bad ('page=0', 'page=-1', 'page=x', 'page_size=0',
             'page_size=abc', 'page_size=')
{
    is($s->api(GET => "$base?$bad", undef)->{status}, 400, "$bad: 400");
}

###############################################################################
# sort

$r = $s->api(GET => "$base?sort=name&page_size=3", undef);
is_deeply(names($r), [qw(many/a_b many/axb many/r00)], 'sort=name');
$r = $s->api(GET => "$base?sort=-name&page_size=2", undef);
is_deeply(names($r), [qw(many/r22 many/r21)], 'sort=-name');
$r = $s->api(GET => "$base?sort=-pull_count,name&page_size=3", undef);
is_deeply(names($r), [qw(many/r04 many/r03 many/r02)],
          'sort=-pull_count,name');

for my $bad ('bogus', 'name;drop', '-', 'name,bogus', 'description',
             'name%20desc', 'name,name,name,name,name')
{
    is($s->api(GET => "$base?sort=$bad", undef)->{status}, 400,
       "sort=$bad: 400");
}

###############################################################################
# q

$r = $s->api(GET => "$base?q=name%3D~r1&page_size=100", undef);
is($r->{headers}{'x-total-count'}, 10, 'fuzzy: r1 matches r10 ... r19');

$r = $s->api(GET => "$base?q=name%3D~a_b", undef);
is_deeply(names($r), ['many/a_b'], '_ is literal (a_b, not axb)');
$r = $s->api(GET => "$base?q=name%3D~%25", undef);
is_deeply($r->{json}, [], '% is literal');
$r = $s->api(GET => "$base?q=name%3D~%5C", undef);
is_deeply($r->{json}, [], '\\ is literal');

$r = $s->api(GET => "$base?q=name%3Dmany%2Fr05", undef);
is_deeply(names($r), ['many/r05'], 'exact');
$r = $s->api(GET => "$base?q=name%3Dr05", undef);
is_deeply($r->{json}, [], 'exact is exact');

$r = $s->api(GET => "$base?sort=name&q=name%3D%7Bmany%2Fr01%20many%2Fr03"
                    . "%20nope%7D", undef);
is_deeply(names($r), [qw(many/r01 many/r03)], 'any of {a b c}');

$r = $s->api(GET => "$base?sort=name&q=pull_count%3D%5B2~4%5D", undef);
is_deeply(names($r), [qw(many/r01 many/r02 many/r03)], 'range [2~4]');
$r = $s->api(GET => "$base?sort=name&q=pull_count%3D%5B4~%5D", undef);
is_deeply(names($r), [qw(many/r03 many/r04)], 'open range [4~]');

$r = $s->api(GET => "$base?q=creation_time%3D%5B2000-01-01%2000:00:00"
                    . "~2100-01-01%2000:00:00%5D", undef);
is($r->{headers}{'x-total-count'}, 25, 'time range: all');
$r = $s->api(GET => "$base?q=creation_time%3D%5B2100-01-01~%5D", undef);
is_deeply($r->{json}, [], 'time range: none');

$r = $s->api(GET => "$base?q=name%3D~r0,pull_count%3D%5B3~%5D&sort=name",
             undef);
is_deeply(names($r), [qw(many/r02 many/r03 many/r04)], 'two conditions');

for my $bad ('bogus%3D1', 'name', 'name%3Da,name%3Db', 'pull_count%3Dx',
             'pull_count%3D~1', 'creation_time%3D%5Byesterday~%5D',
             'creation_time%3D%5B~%5D', 'name%3D%5Ba~b',
             'project_id%3D1%3B%20drop', 'name%3D%7B%7D')
{
    is($s->api(GET => "$base?q=$bad", undef)->{status}, 400, "q=$bad: 400");
}

###############################################################################
# artifacts and tags

my $arts = '/projects/many/repositories/r00/artifacts';
$r = $s->api(GET => "$arts?sort=push_time", undef);
is($r->{headers}{'x-total-count'}, 4, 'four artifacts in r00');

$r = $s->api(GET => "$arts?q=tags%3D*", undef);
is($r->{headers}{'x-total-count'}, 3, 'tags=*: tagged');
$r = $s->api(GET => "$arts?q=tags%3Dnil", undef);
is_deeply([map { $_->{digest} } @{$r->{json}}], [$u->{digest}],
          'tags=nil: untagged');
$r = $s->api(GET => "$arts?q=tags%3Dyy", undef);
is_deeply([map { $_->{digest} } @{$r->{json}}], [$y->{digest}],
          'tags=yy');
$r = $s->api(GET => "$arts?q=tags%3D~y&sort=digest", undef);
is($r->{headers}{'x-total-count'}, 2, 'tags=~y: y and yy');
$r = $s->api(GET => "$arts?q=tags%3D(x%20y)", undef);
is_deeply([map { $_->{digest} } @{$r->{json}}], [$x->{digest}],
          'tags=(x y): both');
$r = $s->api(GET => "$arts?q=tags%3D%7Bx%20yy%7D", undef);
is($r->{headers}{'x-total-count'}, 2, 'tags={x yy}: either');
$r = $s->api(GET => "$arts?q=digest%3D$x->{digest}", undef);
is($r->{json}[0]{digest}, $x->{digest}, 'digest=');
$r = $s->api(GET => "$arts?with_tag=false", undef);
ok(!exists $r->{json}[0]{tags}, 'with_tag=false: no tags');
is($s->api(GET => "$arts?with_tag=maybe", undef)->{status}, 400,
   'with_tag must be true or false');
is($s->api(GET => "$arts?q=base%3D1", undef)->{status}, 400,
   'base takes only *');
is($s->api(GET => "$arts?sort=name", undef)->{status}, 400,
   'artifacts: sort=name 400');
$r = $s->api(GET => "$arts?sort=-size,digest&page_size=1&page=2", undef);
is(scalar @{$r->{json}}, 1, 'artifacts paged');
like($r->{headers}{link}, qr/sort=-size%2Cdigest/, 'Link keeps sort');

$r = $s->api(GET => "$arts/x/tags?sort=-name", undef);
is_deeply(names($r), [qw(y x)], 'tags sort=-name');
$r = $s->api(GET => "$arts/x/tags?q=name%3D~_", undef);
is_deeply($r->{json}, [], 'tags: _ literal');
is($s->api(GET => "$arts/x/tags?sort=size", undef)->{status}, 400,
   'tags: unknown sort');

###############################################################################
# audit logs

$r = $s->api(GET => '/audit-logs?q=operation%3Dpull&page_size=100', $admin);
is($r->{headers}{'x-total-count'}, 15, 'the 15 pulls');
$r = $s->api(GET => '/audit-logs?q=operation%3D%7Bpull%20create%7D'
                    . '&sort=op_time&page_size=1', $admin);
is($r->{json}[0]{operation}, 'create', 'oldest first: the first push');
$r = $s->api(GET => '/audit-logs?q=op_time%3D%5B2000-01-01~2001-01-01%5D',
             $admin);
is_deeply($r->{json}, [], 'op_time range');
$r = $s->api(GET => '/audit-logs?q=resource%3D~many%2Fa_b', $admin);
is($r->{headers}{'x-total-count'}, 1, 'resource fuzzy, _ literal');
is($s->api(GET => '/audit-logs?sort=password', $admin)->{status}, 400,
   'audit: unknown sort');
is($s->api(GET => '/audit-logs?q=client_ip%3D1', $admin)->{status}, 400,
   'audit: unknown key');
is($s->api(GET => '/projects/many/logs?q=project_id%3D2', $admin)
   ->{status}, 400, 'project logs: project_id is not the caller\'s');

done_testing;
