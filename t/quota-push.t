#!/usr/bin/perl

# Storage quotas on pushes: a push that would take a project past its
# limit is refused at its manifest PUT (403, OCI error JSON, code DENIED,
# "quota exceeded") and nothing of it is visible; a layer shared by two
# repositories of a project counts once; concurrent pushes against a
# small limit never take the usage past it (the bound of
# docs/policies.md for one nginx: no overshoot); the usage follows a
# delete, a garbage collection and a reindex; another project is not
# limited by it.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use JSON::PP ();
use POSIX ();
use Test::More;

use Harbor::Test;
use Harbor::Api;
use Harbor::Authd ();

my $s = Harbor::Api->new(workers => 2);
my $admin = $s->admin;

sub quota_of {
    my ($name) = @_;
    my $p = $s->api(GET => "/projects/$name", $admin)->{json};
    my $q = $s->api(GET => "/quotas?reference_id=$p->{project_id}",
                    $admin)->{json};
    return $q->[0];
}

sub used { quota_of($_[0])->{used}{storage} }

# what the module reads: authd has written the usage it knows
sub file_used {
    my ($name) = @_;
    open(my $fh, '<', $s->storage . "/_policies/quota/$name") or return -1;
    my $l = <$fh> // '';
    return ($l =~ /^\d+ (\d+) \d+\n\z/) ? $1 : -1;
}

sub settled {
    my ($name, $want) = @_;
    $s->sync;
    return Harbor::Authd::wait_for(10, sub { file_used($name) == $want });
}

my $r = $s->api(POST => '/projects', $admin, json => {
    project_name => 'qa', storage_limit => 40000,
    metadata => { public => 'false' } });
is($r->{status}, 201, 'a project with a limit') or diag($r->{body});
$s->create_project('qfree');

is(quota_of('qa')->{hard}{storage}, 40000, 'its quota');
ok(-f $s->storage . '/_policies/quota/qa', 'its file for the module');
ok(!-e $s->storage . '/_policies/quota/qfree', 'none without a limit');

my $tok = $s->bearer(user => 'admin', pass => $admin->[1],
    scope => 'repository:qa/one:pull,push repository:qa/two:pull,push '
           . 'repository:qa/big:pull,push repository:qfree/big:pull,push');

# ------------------------------------------------------ shared layers

my $layer = 'L' x 10000;
my $i1 = $s->push_image('qa/one', $tok, tag => 'v1', layer => $layer);
ok($i1->{ok}, 'a first image');
my $i2 = $s->push_image('qa/two', $tok, tag => 'v1', layer => $layer);
ok($i2->{ok}, 'a second image with the same layer, another repository');
$s->sync;

my $want = length($layer) + length($i1->{manifest}) + length($i2->{manifest})
           + sizes($i1) + sizes($i2);

sub sizes {
    my ($img) = @_;
    my $m = Harbor::Test::decode_json($img->{manifest});
    return $m->{config}{size};
}

is(used('qa'), $want, 'the shared layer counts once');
ok(settled('qa', $want), 'and the module is told so');

my $sum = $s->api(GET => '/projects/qa/summary', $admin)->{json};
is($sum->{quota}{hard}{storage}, 40000, 'summary: the limit');
is($sum->{quota}{used}{storage}, $want, 'summary: the usage');

# ------------------------------------------------------ over the limit

my $big = $s->push_image('qa/big', $tok, tag => 'v1', layer => 'B' x 40000);
ok(!$big->{ok}, 'an image past the limit is refused');
my $resp = $big->{responses}[-1];
is($resp->{status}, 403, 'at its manifest: 403');
my $err = eval { Harbor::Test::decode_json($resp->{body})->{errors}[0] }
          || {};
is($err->{code}, 'DENIED', 'code DENIED');
like($err->{message} // '', qr/^quota exceeded/, "Harbor's message");
is($s->http(GET => '/v2/qa/big/manifests/v1', token => $tok)->{status}, 404,
   'nothing of it is visible');

ok($s->push_image('qfree/big', $tok, tag => 'v1',
                  layer => 'B' x 40000)->{ok},
   'the same image in a project without a limit');

# the same manifest again adds nothing

is($s->http(PUT => '/v2/qa/one/manifests/again', token => $tok,
            body => $i1->{manifest},
            headers => ['Content-Type' => Harbor::Test::MT_OCI_MANIFEST()])
     ->{status}, 201, 'the same manifest under another tag: accepted');

# ------------------------------------------------------ concurrency

$s->sync;
my $base = used('qa');
$r = $s->api(PUT => '/quotas/' . quota_of('qa')->{id}, $admin,
             json => { hard => { storage => $base + 12000 } });
is($r->{status}, 200, 'the limit lowered to the usage + 12000');
ok(Harbor::Authd::wait_for(10, sub { file_used('qa') == $base }),
   'the module is told');

my $n = 8;
my @kids;
for my $k (1 .. $n) {
    my $pid = fork // die "fork: $!";
    if ($pid == 0) {
        my $t = $s->bearer(user => 'admin', pass => $admin->[1],
                           scope => "repository:qa/c$k:pull,push");
        my $img = $s->push_image("qa/c$k", $t, tag => 'v1',
                                 layer => chr(64 + $k) x 3000);
        POSIX::_exit($img->{ok} ? 0 : 1);
    }
    push @kids, $pid;
}
my $ok = 0;
for (@kids) { waitpid($_, 0); $ok++ if $? == 0 }

cmp_ok($ok, '>=', 1, "$ok of $n concurrent pushes of ~3.3 kB accepted");
cmp_ok($ok, '<=', 3, 'no more than the headroom holds');
$s->sync;
my $after = used('qa');
cmp_ok($after, '<=', $base + 12000, "usage $after within the limit");

# ------------------------------------------------------ delete, GC

my $before = used('qa');
$r = $s->api(DELETE => "/projects/qa/repositories/two/artifacts/$i2->{digest}",
             $admin);
is($r->{status}, 200, 'the second image deleted');
$s->sync;
my $freed = length($i2->{manifest}) + sizes($i2);
is(used('qa'), $before - $freed, 'its manifest and config freed, not the '
   . 'layer the first image still holds');

$r = $s->api(POST => '/system/gc/schedule', $admin, json => {
    schedule => { type => 'Manual' }, parameters => { delete_untagged => JSON::PP::false() } });
is($r->{status}, 201, 'a garbage collection');
my $gc = $r->{json}{id};
ok(Harbor::Authd::wait_for(60, sub {
    my $j = $s->api(GET => "/system/gc/$gc", $admin)->{json};
    $j && $j->{job_status} =~ /^(Success|Error|Stopped)$/ }), 'it ends');
is(used('qa'), $before - $freed, 'the usage after it');
ok(settled('qa', $before - $freed), 'and the module is told');

# ------------------------------------------------------ reservations

# a push the module let through counts until authd has read it, then
# only once (in authd's usage)
my $now = used('qa');
$r = $s->api(PUT => '/quotas/' . quota_of('qa')->{id}, $admin,
             json => { hard => { storage => $now + 5000 } });
is($r->{status}, 200, 'the limit at the usage + 5000');
my $tr = $s->bearer(user => 'admin', pass => $admin->[1],
                    scope => 'repository:qa/r:pull,push');
ok($s->push_image('qa/r', $tr, tag => 'a', layer => 'r' x 3000)->{ok},
   'a push of ~3.5 kB fits');
ok(!$s->push_image('qa/r', $tr, tag => 'b', layer => 's' x 3000)->{ok},
   'a second does not, before authd has read the first');
$s->sync;
ok(Harbor::Authd::wait_for(10, sub { file_used('qa') > $now }),
   'authd has read it');
ok($s->push_image('qa/r', $tr, tag => 'c', layer => 't' x 300)->{ok},
   'a small one fits after, counted once');
ok(!$s->push_image('qa/r', $tr, tag => 'd', layer => 'u' x 3000)->{ok},
   'a large one still does not');
$s->sync;
cmp_ok(used('qa'), '<=', $now + 5000, 'within the limit');

# ------------------------------------------------------ reindex

my $kept = used('qa');
$s->psql("DELETE FROM artifact_blob WHERE artifact_id IN (SELECT a.id FROM"
         . " artifact a JOIN repository r USING (repository_id) JOIN"
         . " projects p USING (project_id) WHERE p.name = 'qa')");
is(used('qa'), 0, 'rows lost');
is($s->reindex->{json}{status}, 'done', 'a reindex');
is(used('qa'), $kept, 'the usage rebuilt from storage');
ok(Harbor::Authd::wait_for(10, sub { file_used('qa') == $kept }),
   'and the module is told');

# ------------------------------------------------------ unlimited again

$r = $s->api(PUT => '/quotas/' . quota_of('qa')->{id}, $admin,
             json => { hard => { storage => -1 } });
is($r->{status}, 200, 'no limit');
ok(!-e $s->storage . '/_policies/quota/qa', 'no file');
ok($s->push_image('qa/big', $tok, tag => 'v1', layer => 'B' x 40000)->{ok},
   'the big image goes in');

$s->t->check_alerts;
done_testing;
