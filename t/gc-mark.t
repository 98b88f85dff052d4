#!/usr/bin/perl

# What the collector's mark must see, and what makes it stop (docs/gc.md):
# sha512 manifests, sha512 children of an index, repositories as deep as
# the name grammar allows; and any error met while listing or reading the
# store ends the run before anything is swept, naming the path.

use warnings;
use strict;

use FindBin;
use lib "$FindBin::Bin/lib";

use Digest::SHA qw(sha256_hex sha512_hex);
use File::Path qw(make_path remove_tree);
use JSON::PP ();
use Test::More;
use Harbor::Api;
use Harbor::Authd;
use Harbor::Test ();

###############################################################################

my $s = Harbor::Api->new(workers => 2,
                         authd_conf => { 'authd.gc_window' => 600 });
my $admin = $s->admin;
my $v2 = $s->t->v2root;
my $json = JSON::PP->new->canonical;

$s->create_project('gcm', public => 0);
my $deep = 'gcm/' . join('/', ('d') x 119);
ok(length $deep <= 255, 'a name of 120 components fits the grammar');

my $tok = $s->bearer(user => 'admin', pass => $admin->[1],
    scope => 'repository:gcm/app:pull,push,delete');
my $dtok = $s->bearer(user => 'admin', pass => $admin->[1],
    scope => "repository:$deep:pull,push,delete");

sub blob_file {
    my ($d) = @_;
    my ($alg, $h) = split /:/, $d;
    return "$v2/blobs/$alg/" . substr($h, 0, 2) . "/$h/data";
}

sub put_blob {
    my ($repo, $t, $bytes) = @_;
    my $d = 'sha256:' . sha256_hex($bytes);
    my $r = $s->http(POST => "/v2/$repo/blobs/uploads/?digest=$d",
        token => $t, body => $bytes,
        headers => ['Content-Type' => 'application/octet-stream']);
    die "blob: $r->{status} $r->{body}" unless $r->{status} == 201;
    return $d;
}

# an image manifest whose blobs are sha256; returns (body, layer, config)
sub image {
    my ($repo, $t, $what) = @_;
    my $l = put_blob($repo, $t, "layer of $what " . rand());
    my $c = put_blob($repo, $t, $json->encode({ os => 'linux',
        architecture => 'amd64', what => $what, n => rand() }));
    my $body = $json->encode({
        schemaVersion => 2, mediaType => Harbor::Test::MT_OCI_MANIFEST(),
        config => { mediaType => Harbor::Test::MT_OCI_CONFIG(),
                    digest => $c, size => 1 },
        layers => [{ mediaType => Harbor::Test::MT_OCI_LAYER(),
                     digest => $l, size => 1 }] });
    return ($body, $l, $c);
}

sub put_manifest {
    my ($repo, $t, $ref, $body, $mt) = @_;
    return $s->http(PUT => "/v2/$repo/manifests/$ref", token => $t,
        body => $body,
        headers => ['Content-Type' => $mt || Harbor::Test::MT_OCI_MANIFEST()]);
}

# everything in the store older than the window, without waiting for it
sub age_all {
    my $old = time - 3600;
    my @d = ($s->storage);
    while (my $d = shift @d) {
        opendir my $h, $d or next;
        for (readdir $h) {
            next if /^\.\.?$/;
            my $p = "$d/$_";
            push @d, $p if -d $p && !-l $p;
            utime $old, $old, $p;
        }
    }
}

sub all_files {
    my @f;
    my @d = ($s->storage);
    while (my $d = shift @d) {
        opendir my $h, $d or next;
        for (readdir $h) {
            next if /^\.\.?$/ || $_ eq '_gc';
            -d "$d/$_" ? push @d, "$d/$_" : push @f, "$d/$_";
        }
    }
    return join "\n", sort @f;
}

# what the test makes in the store belongs to the workers' user, as theirs
sub give {
    return unless $> == 0;
    my (undef, undef, $uid, $gid) = getpwnam('harbor') or return;
    chown $uid, $gid, @_;
}

sub gc_log { $s->api(GET => "/system/gc/$_[0]/log", $admin)->{body} // '' }

sub run_gc {
    my (%p) = @_;
    my $r = $s->api(POST => '/system/gc/schedule', $admin, json => {
        schedule => { type => 'Manual' }, parameters => \%p });
    is($r->{status}, 201, 'a run starts') or diag($r->{body});
    my $id = $r->{json}{id};
    my $j;
    Harbor::Authd::wait_for(60, sub {
        $j = $s->api(GET => "/system/gc/$id", $admin)->{json};
        return $j && $j->{job_status} =~ /^(Success|Error|Stopped)$/;
    });
    $j->{log} = gc_log($id);
    return $j;
}

###############################################################################
# what the mark must see

# a sha512 manifest, reachable by its digest
my ($m1, $l1, $c1) = image('gcm/app', $tok, 'sha512 manifest');
my $d1 = 'sha512:' . sha512_hex($m1);
is(put_manifest('gcm/app', $tok, $d1, $m1)->{status}, 201,
    'a manifest pushed by its sha512 digest');

# a tagged index with a sha512 child
my ($m2, $l2, $c2) = image('gcm/app', $tok, 'sha512 child');
my $d2 = 'sha512:' . sha512_hex($m2);
is(put_manifest('gcm/app', $tok, $d2, $m2)->{status}, 201, 'the child');
my $ix = $json->encode({
    schemaVersion => 2, mediaType => Harbor::Test::MT_OCI_INDEX(),
    manifests => [{ mediaType => Harbor::Test::MT_OCI_MANIFEST(),
                    digest => $d2, size => length $m2,
                    platform => { os => 'linux', architecture => 'arm64' } }] });
is(put_manifest('gcm/app', $tok, 'multi', $ix,
                Harbor::Test::MT_OCI_INDEX())->{status}, 201,
    'a tagged index with a sha512 child');

# an accessory (a signature, say) of the sha512 child: untagged, kept with
# its subject
my $sig_l = put_blob('gcm/app', $tok, 'signature ' . rand());
my $sig = $json->encode({
    schemaVersion => 2, mediaType => Harbor::Test::MT_OCI_MANIFEST(),
    artifactType => 'application/vnd.example.signature',
    config => { mediaType => 'application/vnd.oci.empty.v1+json',
                digest => put_blob('gcm/app', $tok, '{}'), size => 2 },
    layers => [{ mediaType => 'application/octet-stream',
                 digest => $sig_l, size => 1 }],
    subject => { mediaType => Harbor::Test::MT_OCI_MANIFEST(),
                 digest => $d2, size => length $m2 } });
my $dsig = 'sha256:' . sha256_hex($sig);
is(put_manifest('gcm/app', $tok, $dsig, $sig)->{status}, 201,
    'an accessory whose subject is the sha512 child');

# an image in a repository 120 components deep
my $dp = $s->push_image($deep, $dtok, tag => 'v1');
ok($dp->{ok}, 'an image 120 components deep');

# garbage, to see that the run sweeps at all
my $junk = put_blob('gcm/app', $tok, 'junk ' . rand());

age_all();
my $j = run_gc(workers => 2);
is($j->{job_status}, 'Success', 'the run succeeds') or diag($j->{log});
ok(!-e blob_file($junk), 'garbage swept');
ok(-e blob_file($_), "kept: $_ of the sha512 manifest") for $d1, $l1, $c1;
ok(-e blob_file($_), "kept: $_ of the sha512 child") for $d2, $l2, $c2;
ok(-e blob_file($_), "kept: $_ of the deep repository")
    for $dp->{digest}, $dp->{config}, @{$dp->{layers}};

age_all();
$j = run_gc(delete_untagged => JSON::PP::true, workers => 2);
is($j->{job_status}, 'Success', 'a run deleting untagged manifests')
    or diag($j->{log});
like($j->{log}, qr/delete untagged manifest gcm\/app\@\Q$d1\E/,
    'the untagged sha512 manifest is deleted');
unlike($j->{log}, qr/untagged manifest gcm\/app\@\Q$d2\E/,
    'the sha512 child of a tagged index is not');
unlike($j->{log}, qr/untagged manifest gcm\/app\@\Q$dsig\E/,
    'nor the accessory of that sha512 subject');
is($s->http(GET => "/v2/gcm/app/manifests/$dsig", token => $tok)->{status},
    200, 'the accessory pulls');
ok(-e blob_file($sig_l), 'its layer is kept');
is($s->http(GET => "/v2/gcm/app/manifests/$d2", token => $tok)->{status},
    200, 'the child pulls');
ok(-e blob_file($_), "kept: $_ of the sha512 child") for $d2, $l2, $c2;
is($s->http(GET => "/v2/$deep/manifests/v1", token => $dtok)->{status}, 200,
    'the deep image pulls');
ok(-e blob_file($_), "still there: $_ of the deep repository")
    for $dp->{config}, @{$dp->{layers}};

###############################################################################
# an error stops the run before anything is swept

my $app = "$v2/repositories/gcm/app";

sub fault {
    my ($what, $make, $path, $repair) = @_;

    my $junk = put_blob('gcm/app', $tok, "junk of $what " . rand());
    $make->();
    age_all();
    my $before = all_files();

    my $j = run_gc(delete_untagged => JSON::PP::true, workers => 2);
    is($j->{job_status}, 'Error', "$what: the run fails");
    like($j->{log}, qr/\Q$path\E/, "$what: the log names $path")
        or diag($j->{log});
    unlike($j->{log}, qr/phase sweep/, "$what: no sweep");
    is(all_files(), $before, "$what: nothing deleted");
    ok(-e blob_file($junk), "$what: garbage kept");

    $repair->();
    $j = run_gc(delete_untagged => JSON::PP::true, workers => 2);
    is($j->{job_status}, 'Success', "$what: repaired, the run succeeds")
        or diag($j->{log});
    ok(!-e blob_file($junk), "$what: repaired, garbage swept");
}

# a manifest that does not parse
my $bad = $s->push_image('gcm/app', $tok, tag => 'bad');
my $badfile = blob_file($bad->{digest});
my $badrev = "$app/_manifests/revisions/sha256/" . substr($bad->{digest}, 7);
fault('corrupt manifest', sub {
    open my $fh, '>', $badfile or die "$badfile: $!";
    print $fh '{"schemaVersion": 2, "layers": [';
    close $fh;
}, $badfile, sub {
    remove_tree($badrev, "$app/_manifests/tags/bad");
});

# a directory where a link file should be
my $hex = 'ab' x 32;
my $dirlink = "$app/_manifests/revisions/sha256/$hex/link";
fault('directory for a link', sub {
    make_path("$dirlink/x");
    give("$app/_manifests/revisions/sha256/$hex", $dirlink, "$dirlink/x");
}, $dirlink,
      sub { remove_tree("$app/_manifests/revisions/sha256/$hex") });

# a revision link whose manifest is not in the store
my $nohex = 'cd' x 32;
my $nolink = "$app/_manifests/revisions/sha256/$nohex/link";
fault('manifest missing', sub {
    make_path("$app/_manifests/revisions/sha256/$nohex");
    open my $fh, '>', $nolink or die "$nolink: $!";
    print $fh "sha256:$nohex";
    close $fh;
    chmod 0644, $nolink;
    give("$app/_manifests/revisions/sha256/$nohex", $nolink);
}, blob_file("sha256:$nohex"),
   sub { remove_tree("$app/_manifests/revisions/sha256/$nohex") });

# a directory that cannot be opened (a file in its place: opendir fails
# with ENOTDIR, whoever runs the test)
my $revdir = "$app/_manifests/revisions/sha256";
fault('directory cannot be opened', sub {
    rename $revdir, "$revdir.aside" or die "$revdir: $!";
    open my $fh, '>', $revdir or die "$revdir: $!";
    close $fh;
    give($revdir);
}, $revdir, sub {
    unlink $revdir;
    rename "$revdir.aside", $revdir or die "$revdir: $!";
});

is($s->http(GET => '/v2/gcm/app/manifests/multi', token => $tok)->{status},
    200, 'the tagged index still pulls');

done_testing;
