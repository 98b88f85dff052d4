#!/usr/bin/perl

# Garbage collection through Harbor's API: who may, schedule, history,
# log, stop; a dry run deletes nothing and reports the set that a real run
# then deletes (docs/gc.md).

use warnings;
use strict;

use FindBin;
use lib "$FindBin::Bin/lib";

use Test::More;
use Time::HiRes qw(sleep time);
use Harbor::Api;
use Harbor::Authd;

###############################################################################

my $s = Harbor::Api->new(authd_conf => {
    'authd.gc_window'     => 2,
    'authd.gc_upload_age' => 1,
});
my $admin = $s->admin;
my $pw = 'Passw0rd!';
my $v2 = $s->t->v2root;

$s->create_project('gcp', public => 0);
$s->create_user('plain', password => $pw);

my $tok = $s->bearer(user => 'admin', pass => $admin->[1],
    scope => 'repository:gcp/app:pull,push,delete');

my $a = $s->push_image('gcp/app', $tok, tag => 'keep');
my $b = $s->push_image('gcp/app', $tok, tag => 'drop');
my $c = $s->push_image('gcp/app', $tok, tag => undef);
ok($a->{ok} && $b->{ok} && $c->{ok}, 'three images pushed');

is($s->http(DELETE => '/v2/gcp/app/manifests/drop', token => $tok)->{status},
    202, 'tag drop deleted');

# a stale upload
my $up = $s->http(POST => '/v2/gcp/app/blobs/uploads/', token => $tok);
is($up->{status}, 202, 'an upload started');

sub blob_file {
    my ($d) = @_;
    my $h = substr($d, 7);
    return "$v2/blobs/sha256/" . substr($h, 0, 2) . "/$h/data";
}

sub all_files {
    my @f;
    my @d = ($s->storage);
    while (my $d = shift @d) {
        opendir my $h, $d or next;
        for (readdir $h) {
            next if /^\.\.?$/;
            next if $_ eq '_gc';
            -d "$d/$_" ? push @d, "$d/$_" : push @f, "$d/$_";
        }
    }
    return join "\n", sort @f;
}

sub run_gc {
    my (%p) = @_;
    my $r = $s->api(POST => '/system/gc/schedule', $admin, json => {
        schedule => { type => 'Manual' }, parameters => \%p });
    is($r->{status}, 201, 'POST Manual: 201') or diag($r->{body});
    my $id = $r->{json}{id};
    like($r->{headers}{location}, qr{/api/v2.0/system/gc/$id$}, 'Location');
    return wait_gc($id);
}

sub wait_gc {
    my ($id) = @_;
    my $j;
    Harbor::Authd::wait_for(60, sub {
        $j = $s->api(GET => "/system/gc/$id", $admin)->{json};
        return $j && $j->{job_status} =~ /^(Success|Error|Stopped)$/;
    });
    return $j;
}

sub gc_log { $s->api(GET => "/system/gc/$_[0]/log", $admin)->{body} }

# only system administrators

is($s->api(GET => '/system/gc', undef)->{status}, 401, 'anonymous: 401');
for my $m (['GET', '/system/gc'], ['GET', '/system/gc/schedule'],
           ['POST', '/system/gc/schedule'], ['PUT', '/system/gc/schedule'],
           ['GET', '/system/gc/1'], ['PUT', '/system/gc/1'],
           ['GET', '/system/gc/1/log'])
{
    is($s->api($m->[0], $m->[1], ['plain', $pw],
               json => { schedule => { type => 'Manual' } })->{status},
       403, "plain user: $m->[0] $m->[1] 403");
}

# bad bodies

is($s->api(POST => '/system/gc/schedule', $admin, json => {
    schedule => { type => 'Sometimes' } })->{status}, 400, 'bad type: 400');
is($s->api(PUT => '/system/gc/schedule', $admin, json => {
    schedule => { type => 'Custom', cron => '* *' } })->{status}, 400,
    'bad cron: 400');
is($s->api(POST => '/system/gc/schedule', $admin, json => {
    schedule => { type => 'Manual' }, parameters => { workers => 0 } })
    ->{status}, 400, 'workers 0: 400');

sleep 3.2;      # everything is older than the window now

# dry run

my $before = all_files();
my $dry = run_gc(delete_untagged => JSON::PP::true, dry_run => JSON::PP::true,
                 workers => 2);
is($dry->{job_status}, 'Success', 'dry run succeeds');
is(all_files(), $before, 'dry run changed nothing');
my $dlog = gc_log($dry->{id});
my %would = map { $_ => 1 } $dlog =~ /would delete blob (sha256:[0-9a-f]{64})/g;
ok($would{$_}, "dry run would delete $_")
    for $b->{layers}[0], $b->{config}, $b->{digest}, $c->{digest},
        $c->{config};
ok(!$would{$_}, "dry run keeps $_") for $a->{layers}[0], $a->{config},
    $a->{digest};
like($dlog, qr/would delete untagged manifest gcp\/app\@\Q$b->{digest}\E/,
    'dry run names the untagged manifest');
like($dlog, qr/would purge upload gcp\/app\//, 'dry run: stale upload');
ok($dry->{result}{bytes_freed} > 0, 'dry run reports bytes');
is($dry->{result}{blobs_deleted}, scalar(keys %would), 'dry run count');
is($dry->{job_parameters}, '{"delete_untagged":true,"dry_run":true,'
   . '"workers":2}', 'job_parameters as Harbor gives them');

# the real run deletes that set

my $real = run_gc(delete_untagged => JSON::PP::true, workers => 2);
is($real->{job_status}, 'Success', 'real run succeeds');
my $rlog = gc_log($real->{id});
my %did = map { $_ => 1 } $rlog =~ /delete blob (sha256:[0-9a-f]{64})/g;
is_deeply([sort keys %did], [sort keys %would],
    'the real run deletes what the dry run reported');
is($real->{result}{bytes_freed}, $dry->{result}{bytes_freed}, 'same bytes');
ok(!-e blob_file($_), "gone: $_") for keys %did;
ok(-e blob_file($_), "kept: $_") for $a->{layers}[0], $a->{config},
    $a->{digest};
is($s->http(GET => '/v2/gcp/app/manifests/keep', token => $tok)->{status},
    200, 'tagged image pulls');
is($s->http(GET => "/v2/gcp/app/blobs/$a->{layers}[0]", token => $tok)
   ->{status}, 200, 'its layer pulls');
is($s->http(GET => "/v2/gcp/app/manifests/$c->{digest}", token => $tok)
   ->{status}, 404, 'untagged manifest deleted');
ok(!-e "$v2/repositories/gcp/app/_layers/sha256/"
       . substr($b->{layers}[0], 7), 'its layer link removed');
my @ups = glob("$v2/repositories/gcp/app/_uploads/*");
is(scalar @ups, 0, 'stale upload purged');

my $again = run_gc(delete_untagged => JSON::PP::true);
is($again->{result}{blobs_deleted}, 0, 'a second run finds nothing');

# history, log

my $h = $s->api(GET => '/system/gc', $admin);
is($h->{status}, 200, 'history');
is($h->{headers}{'x-total-count'}, 3, 'X-Total-Count');
is($h->{json}[0]{id}, $again->{id}, 'newest first');
is($h->{json}[0]{job_name}, 'GARBAGE_COLLECTION', 'job_name');
is($h->{json}[0]{job_kind}, 'MANUAL', 'job_kind');
ok(exists $h->{json}[0]{$_}, "field $_")
    for qw(job_parameters schedule job_status deleted creation_time
           update_time);
$h = $s->api(GET => '/system/gc?page=2&page_size=1', $admin);
is(scalar @{$h->{json}}, 1, 'page_size');
is($h->{json}[0]{id}, $real->{id}, 'page 2');
like($h->{headers}{link} // '', qr/rel="next"/, 'Link');

my $lr = $s->api(GET => "/system/gc/$real->{id}/log", $admin);
is($lr->{status}, 200, 'log');
like($lr->{headers}{'content-type'}, qr{^text/plain}, 'log is text');
like($lr->{body}, qr/phase sweep/, 'log has the phases');
is($s->api(GET => '/system/gc/999999', $admin)->{status}, 404, 'unknown id');
is($s->api(GET => '/system/gc/x/log', $admin)->{status}, 404, 'bad id');
is($real->{progress}{phase}, 'uploads', 'progress: last phase');

# schedule

my $r = $s->api(PUT => '/system/gc/schedule', $admin, json => {
    schedule => { type => 'Custom', cron => '0 */5 * * * *' },
    parameters => { delete_untagged => JSON::PP::false, workers => 3 } });
is($r->{status}, 200, 'PUT schedule');
$r = $s->api(GET => '/system/gc/schedule', $admin);
is($r->{json}{schedule}{type}, 'Custom', 'schedule type');
is($r->{json}{schedule}{cron}, '0 */5 * * * *', 'schedule cron');
like($r->{json}{schedule}{next_scheduled_time} // '',
    qr/^\d{4}-\d\d-\d\dT\d\d:[0-5][05]:00Z$/, 'next_scheduled_time');
is($r->{json}{parameters}{workers}, 3, 'schedule parameters');
$r = $s->api(PUT => '/system/gc/schedule', $admin, json => {
    schedule => { type => 'Daily' } });
$r = $s->api(GET => '/system/gc/schedule', $admin);
like($r->{json}{schedule}{next_scheduled_time} // '',
    qr/T00:00:00Z$/, 'Daily: at midnight');
$s->api(PUT => '/system/gc/schedule', $admin, json => {
    schedule => { type => 'None' } });
is($s->api(GET => '/system/gc/schedule', $admin)->{json}{schedule}{type},
   'None', 'schedule off');

# stop, and one run at a time

{
    local $ENV{HARBOR_GC_PAUSE} = 'mark';
    $s->authd->restart;
}

$r = $s->api(POST => '/system/gc/schedule', $admin, json => {
    schedule => { type => 'Manual' } });
my $id = $r->{json}{id};
ok(Harbor::Authd::wait_for(30, sub { gc_log($id) =~ /paused at mark/ }),
    'the run is paused in mark');
is($s->api(GET => "/system/gc/$id", $admin)->{json}{job_status}, 'Running',
    'Running');
is($s->api(POST => '/system/gc/schedule', $admin, json => {
    schedule => { type => 'Manual' } })->{status}, 409,
    'a second run while one runs: 409');
is($s->api(PUT => "/system/gc/$id", $admin)->{status}, 200, 'stop');
my $j = wait_gc($id);
is($j->{job_status}, 'Stopped', 'Stopped');
is($s->api(PUT => "/system/gc/$id", $admin)->{status}, 400,
    'stop a stopped run: 400');

$s->authd->restart;
is(run_gc()->{job_status}, 'Success', 'a run after the stop succeeds');
is($s->http(GET => '/v2/gcp/app/manifests/keep', token => $tok)->{status},
    200, 'still pulls');

# a blob that cannot be moved aside makes the run an Error, not a
# Success that deleted nothing; once it can, the next run deletes it
my $e = $s->push_image('gcp/app', $tok, tag => 'stuck');
is($s->http(DELETE => '/v2/gcp/app/manifests/stuck', token => $tok)
   ->{status}, 202, 'tag stuck deleted');
$s->http(DELETE => "/v2/gcp/app/manifests/$e->{digest}", token => $tok);
sleep 3.2;      # older than the window
(my $prefix = blob_file($e->{config})) =~ s{/[0-9a-f]{64}/data$}{};
# immutable: root's permission checks do not apply, this does
system('chattr', '+i', $prefix) == 0 or die "chattr +i $prefix failed";
my $stuck = run_gc();
system('chattr', '-i', $prefix) == 0 or die "chattr -i $prefix failed";
is($stuck->{job_status}, 'Error', 'a blob that cannot be moved: Error');
my $stuck_hex = substr($e->{config}, 7);
like(gc_log($stuck->{id}), qr/error: cannot move .*\Q$stuck_hex\E.*not permitted/,
     'the log says which and why');
ok(-e blob_file($e->{config}), 'it is still there');
my $next = run_gc();
is($next->{job_status}, 'Success', 'the next run succeeds');
ok(!-e blob_file($e->{config}), 'and deletes it');

unlike($s->authd->log, qr/\b(fatal|crit)/i, 'no errors in authd log');

done_testing;
