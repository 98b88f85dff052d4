#!/usr/bin/perl

# authd prepares the statements it runs, once per pooled connection
# (authd/db.c), and lists find a page's rows by key before computing
# their columns (authd/query.c).  What must stay true: a connection
# replaced (its backend gone) prepares them again; a user deleted or
# given a new password straight in SQL is refused at once by the token
# service, cache or not, prepared lookup or not; a failing statement in a
# transaction leaves the connection good for the next request; list pages
# hold the right rows in the right order.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use Test::More;
use Harbor::Authd;

my $pg = Harbor::Authd::Pg->start;
my $d = Harbor::Authd->start(pg => $pg);

my $uid = $d->create_user('alice');
$d->create_project('proj', public => 0);
is($d->api(POST => '/projects/proj/members', $d->admin, json => {
       role_id => 2, member_user => { username => 'alice' } })->{status},
   201, 'alice is a developer of proj');

my @alice = (user => 'alice', pass => 'Passw0rd!');
my $scope = 'repository:proj/app:pull,push';

sub pushpull {
    my $r = $d->token(@alice, scope => $scope);
    return $r->{status} . ' '
        . join(',', sort @{Harbor::Authd::access_map($r->{claims} // {})
                           ->{'proj/app'} // []});
}

# every pooled connection prepares the token service's statements
is(pushpull(), '200 pull,push', "token $_: granted") for 1 .. 12;

# every backend of authd goes: the next requests run on new connections,
# where nothing is prepared yet
my $pids = $pg->psql("SELECT string_agg(pid::text, ',')"
    . " FROM pg_stat_activity WHERE application_name = 'authd'");
ok($pids, "authd's backends: $pids");
$pg->psql("SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
          . " WHERE pid IN ($pids)");
ok(Harbor::Authd::wait_for(10, sub {
    $pg->psql("SELECT count(*) FROM pg_stat_activity"
              . " WHERE pid IN ($pids)") == 0
}), 'they are gone');

my @after = map { pushpull() } 1 .. 40;
is_deeply(\@after, [('200 pull,push') x 40],
          'on new connections: the statements prepared again, tokens granted');

# deleted straight in SQL: refused at once, though its credentials were
# verified a moment ago (cache) and its lookup is a prepared statement
$pg->psql("UPDATE users SET deleted = true WHERE user_id = $uid");
is($d->token(@alice, scope => $scope)->{status}, 401,
   'user deleted in SQL: refused at once');
$pg->psql("UPDATE users SET deleted = false WHERE user_id = $uid");
is(pushpull(), '200 pull,push', 'undeleted: granted again');

# a new password straight in SQL: the old one stops at once
my $other = $d->create_user('other', password => 'An0ther-pass!');
my $hash = $pg->psql("SELECT password FROM users WHERE user_id = $other");
$pg->psql("UPDATE users SET password = '$hash' WHERE user_id = $uid");
is($d->token(@alice, scope => $scope)->{status}, 401,
   'password changed in SQL: the old one refused at once');
is($d->token(user => 'alice', pass => 'An0ther-pass!', scope => $scope)
       ->{status}, 200, 'the new one works');
@alice = (user => 'alice', pass => 'An0ther-pass!');

# a statement that fails (a conflict, inside the API's transaction) leaves
# the connection usable: the same statements run on it afterwards
for (1 .. 6) {
    is($d->api(POST => '/projects', $d->admin, json => {
           project_name => 'proj', metadata => { public => 'false' } })
           ->{status}, 409, "project created twice: 409 ($_)");
}
is_deeply([map { pushpull() } 1 .. 8], [('200 pull,push') x 8],
          'after failed statements: tokens granted');

# list pages: 23 projects more, pages of 5 in both orders
my @names = map { sprintf 'list%02d', $_ } 1 .. 23;
$d->create_project($_) for @names;
my @all = sort (@names, 'library', 'proj');

for my $sort (qw(name -name)) {
    my @want = $sort eq 'name' ? @all : reverse @all;
    my @got;
    my $total;
    for my $page (1 .. 6) {
        my $r = $d->api(GET => "/projects?page=$page&page_size=5&sort=$sort",
                        $d->admin);
        is($r->{status}, 200, "projects sort=$sort page $page: 200");
        $total = $r->{headers}{'x-total-count'};
        push @got, map { $_->{name} } @{$r->{json}};
        is($_->{repo_count}, 0, "$_->{name}: its repo_count")
            for grep { $_->{name} eq 'list05' } @{$r->{json}};
    }
    is($total, scalar @all, "sort=$sort: X-Total-Count");
    is_deeply(\@got, \@want, "sort=$sort: every project once, in order");
}

# a member's list: only what alice sees
my $r = $d->api(GET => '/projects?page=1&page_size=5', [ 'alice',
                'An0ther-pass!' ]);
is_deeply([map { $_->{name} } @{$r->{json}}], ['library', 'proj'],
          "alice's projects: library (public) and proj (member)");
is($r->{headers}{'x-total-count'}, 2, "alice's X-Total-Count");

done_testing();
