#!/usr/bin/perl

# A token asked for with the web UI's session cookie is a view token
# (claim "harbor_view"): the module does not count its manifest GETs as
# pulls.  A token asked for with credentials (docker, podman) is counted.

use warnings;
use strict;

use FindBin;
use lib "$FindBin::Bin/lib";

use Test::More;
use Harbor::Stack;
use Harbor::Test qw(:all);
use MIME::Base64 qw(decode_base64url);
use Time::HiRes qw(sleep);

###############################################################################

my $s = Harbor::Stack->new;

my $push = $s->bearer(user => 'admin', pass => $s->admin->[1],
    scope => 'repository:library/view:pull,push');
my $img = $s->push_image('library/view', $push, tag => 'v1');
ok($img->{ok}, 'image pushed');

# log in as the browser does

my $r = $s->http(POST => '/c/login',
    headers => ['Content-Type' => 'application/x-www-form-urlencoded'],
    body => 'principal=admin&password=' . $s->admin->[1]);
is($r->{status}, 200, 'UI login');
my ($sid) = ($r->{headers}{'set-cookie'} || '') =~ /\b(sid=[^;]+)/;
ok($sid, 'session cookie');

my $scope = 'service=harbor-registry&scope=repository:library/view:pull';

$r = $s->http(GET => "/service/token?$scope", headers => [Cookie => $sid]);
is($r->{status}, 200, 'token for the session');
my $view = decode_json($r->{body})->{token};
my $claims = decode_json(decode_base64url((split /\./, $view)[1]));
ok($claims->{harbor_view}, 'the session token is a view token');

my $pull = $s->bearer(user => 'admin', pass => $s->admin->[1],
    scope => 'repository:library/view:pull');
$claims = decode_json(decode_base64url((split /\./, $pull)[1]));
ok(!$claims->{harbor_view}, 'a credentials token is not');

sub pulls {
    grep { $_->{action} eq 'pull' && $_->{repository} eq 'library/view' }
        $s->t->journal_events;
}

my $before = () = pulls();

is($s->v2(GET => '/v2/library/view/manifests/v1', token => $view,
    headers => [Accept => MT_OCI_MANIFEST])->{status}, 200,
    'the UI reads the manifest');
is($s->v2(GET => '/v2/library/view/manifests/v1', token => $pull,
    headers => [Accept => MT_OCI_MANIFEST])->{status}, 200,
    'a client pulls the manifest');

# one worker: the view GET was journaled, if at all, before the pull was;
# a line follows its response, so wait (bounded) for the pull's line

my @after;
for (1 .. 50) {
    @after = pulls();
    last if @after > $before;
    sleep 0.1;
}

is(scalar @after, $before + 1, 'one pull in the journal, not two');
is($after[-1]{user}, 'admin', 'the counted pull is the client\'s');

done_testing();
