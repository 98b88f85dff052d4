#!/usr/bin/perl

# The garbage collector killed with SIGKILL in each phase: storage stays
# consistent (every tagged image pulls whole), what a killed run left in
# _gc/trash is put back or deleted by the next run, and that run finishes
# the job (docs/gc.md).

use warnings;
use strict;

use FindBin;
use lib "$FindBin::Bin/lib";

use Digest::SHA qw(sha256_hex);
use Test::More;
use Time::HiRes qw(sleep time);
use Harbor::Api;
use Harbor::Authd;

###############################################################################

my $WINDOW = 2;
my $written;        # when content() last wrote
my $s = Harbor::Api->new(authd_conf => { 'authd.gc_window' => $WINDOW });
my $admin = $s->admin;
my $v2 = $s->t->v2root;
my $trash = $s->storage . '/_gc/trash';

$s->create_project('crash', public => 0);
my $tok = $s->bearer(user => 'admin', pass => $admin->[1],
    scope => 'repository:crash/app:pull,push,delete');

my (@kept, @garbage);
my $n = 0;

# a kept image and a dropped one, sharing a layer
sub content {
    $n++;
    my $shared = "shared layer $n " . ('x' x 100);
    my $k = $s->push_image('crash/app', $tok, tag => "keep$n",
                           layer => $shared);
    my $d = $s->push_image('crash/app', $tok, tag => "drop$n");
    ok($k->{ok} && $d->{ok}, "content $n pushed");
    my $del = $s->http(DELETE => "/v2/crash/app/manifests/drop$n",
                       token => $tok);
    is($del->{status}, 202, "content $n: drop$n deleted");
    push @kept, $k;
    push @garbage, $d->{layers}[0], $d->{config}, $d->{digest};
    $written = time();
}

# The collector spares what was written in the window before it starts,
# mtimes in whole seconds: a file written at time w (mtime int(w)) is
# garbage to a run that starts at int(w) + window + 1 or later.
sub past_window {
    my $until = int($written) + $WINDOW + 1;
    sleep($until - time()) if time() < $until;
}

sub blob_file {
    my $h = substr($_[0], 7);
    return "$v2/blobs/sha256/" . substr($h, 0, 2) . "/$h/data";
}

sub consistent {
    my ($what) = @_;
    my $bad = 0;
    for my $k (@kept) {
        my $m = $s->http(GET => "/v2/crash/app/manifests/$k->{tag}",
                         token => $tok);
        $bad++, diag("$what: $k->{tag}: $m->{status}")
            unless $m->{status} == 200
                   && 'sha256:' . sha256_hex($m->{body}) eq $k->{digest};
        for my $d (@{$k->{layers}}, $k->{config}) {
            my $b = $s->http(GET => "/v2/crash/app/blobs/$d", token => $tok);
            $bad++, diag("$what: blob $d: $b->{status}")
                unless $b->{status} == 200
                       && 'sha256:' . sha256_hex($b->{body}) eq $d;
        }
    }
    is($bad, 0, "$what: every kept image pulls whole");
}

sub start_gc {
    my $r = $s->api(POST => '/system/gc/schedule', $admin, json => {
        schedule => { type => 'Manual' },
        parameters => { delete_untagged => JSON::PP::true, workers => 2 } });
    is($r->{status}, 201, 'a run starts') or diag($r->{body});
    return $r->{json}{id};
}

sub gc_log { $s->api(GET => "/system/gc/$_[0]/log", $admin)->{body} // '' }

sub wait_done {
    my ($id) = @_;
    my $j;
    Harbor::Authd::wait_for(60, sub {
        $j = $s->api(GET => "/system/gc/$id", $admin)->{json};
        return $j && $j->{job_status} =~ /^(Success|Error|Stopped)$/;
    });
    return $j;
}

# sweep first, so that recover finds something in the trash
for my $phase (qw(sweep recover untagged mark layers uploads)) {
    content();
    past_window();

    {
        local $ENV{HARBOR_GC_PAUSE} = $phase;
        $s->authd->restart;
    }

    my $id = start_gc();
    my $pid;
    my $log;
    Harbor::Authd::wait_for(60, sub {
        $log = gc_log($id);
        ($pid) = $log =~ /paused at \Q$phase\E \(pid (\d+)\)/;
        # or the run ended without pausing: no point in waiting on
        return $pid || ($s->api(GET => "/system/gc/$id", $admin)
                        ->{json}{job_status} // '') =~ /^(Success|Error|Stopped)$/;
    });
    unless (ok($pid, "$phase: the worker paused")) {
        diag($log);
        my $base = "$v2/repositories/crash/app/_manifests";
        for my $f (glob("$base/revisions/sha256/*/link"),
                   glob("$base/tags/*/current/link")) {
            diag(sprintf "%s mtime %.3f", $f, (stat $f)[9]);
        }
        diag(sprintf "now %.3f", Time::HiRes::time());
        for my $k (@garbage) { diag("garbage $k") }
        next;
    }

    if ($phase eq 'sweep' || $phase eq 'recover') {
        my @t = glob("$trash/*");
        ok(@t >= 1, "$phase: something in the trash");
    }

    kill 'KILL', $pid;
    is(wait_done($id)->{job_status}, 'Error', "$phase: killed run is Error");
    like(gc_log($id), qr/killed by signal 9/, "$phase: the log says so");

    consistent("killed in $phase");
}

$s->authd->restart;
my $id = start_gc();
my $j = wait_done($id);
is($j->{job_status}, 'Success', 'the next run succeeds');
my @t = glob("$trash/*");
is(scalar @t, 0, 'the trash is empty');
consistent('after the next run');
my @left = grep { -e blob_file($_) } @garbage;
is(scalar @left, 0, 'every garbage blob is gone') or diag("@left");
ok(-e blob_file($_), 'kept blob there') for map { $_->{layers}[0] } @kept;

$j = wait_done(start_gc());
is($j->{result}{blobs_deleted}, 0, 'converged: nothing more to delete');

# the fence, deterministically: a push racing the sweep.  The worker stops
# with a candidate moved into the trash; while it is there the blob is
# unknown and a manifest referencing it fails; uploaded again, the push
# succeeds, and the next run keeps the new copy.

content();
past_window();
{
    local $ENV{HARBOR_GC_PAUSE} = 'sweep';
    $s->authd->restart;
}
$id = start_gc();
my ($pid, $hex);
Harbor::Authd::wait_for(30, sub {
    ($pid, $hex) = gc_log($id)
        =~ /paused at sweep \(pid (\d+)\) with sha256:([0-9a-f]{64})/;
    return $pid;
});
ok($pid, 'paused with a blob in the trash') or diag(gc_log($id));
my $x = "sha256:$hex";
my $bytes = do { local (@ARGV, $/) = "$trash/$hex/data"; <> };
is('sha256:' . sha256_hex($bytes // ''), $x, 'its bytes, from the trash');

is($s->http(HEAD => "/v2/crash/app/blobs/$x", token => $tok)->{status}, 404,
    'HEAD: unknown while in the trash');

my $cfg = '{"architecture":"amd64","os":"linux","fence":1}';
my $man = {
    schemaVersion => 2,
    mediaType => 'application/vnd.oci.image.manifest.v1+json',
    config => { mediaType => 'application/vnd.oci.image.config.v1+json',
                digest => 'sha256:' . sha256_hex($cfg),
                size => length $cfg },
    layers => [{ mediaType => 'application/vnd.oci.image.layer.v1.tar',
                 digest => $x, size => length $bytes }],
};
my $p = $s->push_raw('crash/app', 'fence', $tok, manifest => $man,
                     blobs => [$cfg]);
is($p->{response}{status}, 400, 'manifest PUT referencing it: 400');
like($p->{response}{body}, qr/MANIFEST_BLOB_UNKNOWN/, 'MANIFEST_BLOB_UNKNOWN');

$p = $s->push_raw('crash/app', 'fence', $tok, manifest => $man,
                  blobs => [$cfg, $bytes]);
is($p->{response}{status}, 201, 'uploaded again, the push succeeds');
push @kept, { tag => 'fence', digest => $p->{digest}, layers => [$x],
              config => 'sha256:' . sha256_hex($cfg) };

kill 'KILL', $pid;
is(wait_done($id)->{job_status}, 'Error', 'worker killed');
$s->authd->restart;
$j = wait_done(start_gc());
is($j->{job_status}, 'Success', 'the next run succeeds');
like(gc_log($j->{id}), qr/dropped sha256:$hex from the trash: a copy is back/,
    'the new copy won over the trash copy');
is(scalar(() = glob("$trash/*")), 0, 'the trash is empty');
consistent('after the fence race');

done_testing;
