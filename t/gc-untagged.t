#!/usr/bin/perl

# The collector's untagged deletes and the module's fence (docs/gc.md):
# every DELETE carries X-Harbor-Untagged-Only and X-Harbor-Cutoff, the
# time its repository's listing began; a manifest tagged between the
# listing and the DELETE is kept (412), which the run counts as kept, not
# as an error.

use warnings;
use strict;

use FindBin;
use lib "$FindBin::Bin/lib";

use File::Temp qw(tempdir);
use JSON::PP ();
use Test::More;
use Time::HiRes qw(time);
use Harbor::Api;
use Harbor::Authd;
use Harbor::Test ();

###############################################################################

my $logdir = tempdir(CLEANUP => 1);
chmod 0755, $logdir;
my $access = "$logdir/delete.log";

my $s = Harbor::Api->new(workers => 2,
    authd_conf => { 'authd.gc_window' => 600 },
    http => "log_format gc_cut '\$request_method \$uri"
          . " [\$http_x_harbor_untagged_only] [\$http_x_harbor_cutoff]"
          . " \$status \$msec';",
    server => "access_log $access gc_cut;");
my $admin = $s->admin;

$s->create_project('gcu', public => 0);
my $tok = $s->bearer(user => 'admin', pass => $admin->[1],
    scope => 'repository:gcu/app:pull,push,delete');

my $a = $s->push_image('gcu/app', $tok, tag => 'a');
my $b = $s->push_image('gcu/app', $tok, tag => 'b');
ok($a->{ok} && $b->{ok}, 'two images');
for my $t (qw(a b)) {
    is($s->http(DELETE => "/v2/gcu/app/manifests/$t", token => $tok)
       ->{status}, 202, "tag $t deleted: its manifest is untagged");
}

# older than the window, without waiting for it
my $old = time - 3600;
my @d = ($s->storage);
while (my $d = shift @d) {
    opendir my $h, $d or next;
    for (grep { !/^\.\.?$/ } readdir $h) {
        push @d, "$d/$_" if -d "$d/$_";
        utime $old, $old, "$d/$_";
    }
}

sub gc_log { $s->api(GET => "/system/gc/$_[0]/log", $admin)->{body} // '' }

{
    local $ENV{HARBOR_GC_PAUSE} = 'delete';
    $s->authd->restart;
}

my $t0 = int time;
my $r = $s->api(POST => '/system/gc/schedule', $admin, json => {
    schedule => { type => 'Manual' },
    parameters => { delete_untagged => JSON::PP::true } });
is($r->{status}, 201, 'a run deleting untagged manifests');
my $id = $r->{json}{id};

my $pid;
Harbor::Authd::wait_for(30, sub {
    ($pid) = gc_log($id) =~ /paused at delete \(pid (\d+)\)/;
    return $pid;
});
ok($pid, 'paused between the listing and the deletes') or diag(gc_log($id));
my $listed = time;

# b is tagged again after the listing
is($s->http(PUT => '/v2/gcu/app/manifests/again', token => $tok,
            body => $b->{manifest},
            headers => ['Content-Type' => Harbor::Test::MT_OCI_MANIFEST()])
   ->{status}, 201, 'b tagged after the listing');

kill 'USR1', $pid;
my $j;
Harbor::Authd::wait_for(60, sub {
    $j = $s->api(GET => "/system/gc/$id", $admin)->{json};
    return $j && $j->{job_status} =~ /^(Success|Error|Stopped)$/;
});
my $log = gc_log($id);
is($j->{job_status}, 'Success', 'a 412 is not an error of the run')
    or diag($log);
like($log, qr/delete untagged manifest gcu\/app\@\Q$a->{digest}\E/,
    'a deleted');
like($log, qr/keep gcu\/app\@\Q$b->{digest}\E: tagged/, 'b kept: logged');
is($j->{result}{untagged_deleted}, 1, 'one deleted');
is($j->{result}{errors}, 0, 'no error');
is($s->http(GET => '/v2/gcu/app/manifests/again', token => $tok)->{status},
    200, 'b pulls by its new tag');
is($s->http(GET => "/v2/gcu/app/manifests/$a->{digest}", token => $tok)
   ->{status}, 404, 'a is gone');

# what the module was told
my @del = do { open my $fh, '<', $access or die "$access: $!"; grep { m{^DELETE /v2/gcu/app/manifests/sha256:} } <$fh> };
is(scalar @del, 2, 'two DELETEs') or diag(@del);
for (@del) {
    my ($u, $cut, $status, $msec) = /\[(.*?)\] \[(.*?)\] (\d+) ([\d.]+)$/;
    is($u, 'true', 'X-Harbor-Untagged-Only: true');
    like($cut, qr/^\d+$/, 'X-Harbor-Cutoff: unix seconds');
    ok($cut >= $t0 && $cut <= $listed, 'the cutoff: taken before the listing')
        or diag("$t0 <= $cut <= $listed");
    ok($msec >= $listed, 'sent after the listing');
}

done_testing;
