#!/usr/bin/perl

# Disk full: the store on a small tmpfs (8 MiB).  A push that does not fit
# gets a clean OCI error (507 with a JSON body), no partial file is left
# under blobs/ or as a link, the space comes back, and pushes work again
# once space is freed.  Needs root (mount).

use warnings;
use strict;

use FindBin;
use lib "$FindBin::Bin/lib";

use Test::More;
use Time::HiRes qw(sleep time);
use Harbor::Test qw(:all);

###############################################################################

die "rel-diskfull.t mounts a tmpfs: run it as root\n" unless $> == 0;

my $t = Harbor::Test->new;
my $store = $t->storage;
my ($uid, $gid) = (getpwnam('harbor'))[2, 3];

system('mount', '-t', 'tmpfs', '-o', "size=8m,mode=0755,uid=$uid,gid=$gid",
       'harbor-diskfull', $store) == 0 or die "mount tmpfs on $store failed";
my $mounted = 1;

END {
    if ($mounted) {
        $t->stop if $t && $t->pid;
        system('umount', $store);
    }
}

sub used {
    my $out = qx{df -B1 --output=used $store};
    my ($n) = $out =~ /(\d+)\s*$/;
    return $n;
}

sub no_partial {
    my ($what) = @_;
    my $bad = 0;
    for my $f (map { $t->v2root . "/$_" } $t->files_under($t->v2root)) {
        if ($f =~ m{/blobs/sha256/../([0-9a-f]{64})/data$}) {
            my $d = "sha256:$1";
            $bad++, diag("$what: $f is not $d")
                unless sha256($t->read_file($f)) eq $d;
        } elsif ($f =~ m{/link$}) {
            $bad++, diag("$what: $f holds no digest")
                unless $t->read_file($f) =~ /^sha256:[0-9a-f]{64}$/;
        }
    }
    my @tmp = grep { -f $_ } glob("$store/_tmp/*");
    is($bad, 0, "$what: no partial blob or link");
    is(scalar @tmp, 0, "$what: nothing left in _tmp") or diag("@tmp");
}

$t->run(workers => 2);
$t->allow_log(qr/No space left on device/);

my $small = $t->push_blob('full/a', random_bytes(1000));
ok($small, 'a small push fits');

# a filler takes most of the space

my $filler = "$store/filler";
system('dd', 'if=/dev/zero', "of=$filler", 'bs=1M', 'count=5',
       'status=none') == 0 or die "dd failed";
my $before = used();

# a blob that does not fit, monolithic and chunked

my $big = random_bytes(4 * 1024 * 1024);
my ($d, $r) = $t->push_blob('full/a', $big);
$t->is_error($r, 507, 'UNKNOWN', 'a blob that does not fit: 507');
like($t->read_file('error.log'), qr/No space left on device/,
    'the store was full');
is($t->http(HEAD => "/v2/full/a/blobs/$d")->{status}, 404, 'not there');

# nginx frees the refused request, and its body file, once the rest of
# the body it did not read has been drained: until then the store is
# still full and even a new upload's state cannot be written
my $freed = time() + 10;
sleep 0.05 while used() > $before && time() < $freed;
is(used(), $before, 'the refused push gave its space back');

my ($loc) = $t->upload_start('full/a');
ok($loc, 'an upload starts');
$r = $t->http(PATCH => $loc, body => $big);
$t->is_error($r, 507, 'UNKNOWN', 'a chunk that does not fit: 507');
$r = $t->http(GET => $loc);
is($r->{headers}{range}, '0-0', 'the upload holds nothing');
$t->http(DELETE => $loc);

# nginx removes a request's body file when it frees the request
my $deadline = time() + 10;
sleep 0.1 while (grep { -f $_ } glob("$store/_tmp/*")) && time() < $deadline;
no_partial('after the big pushes');
is(used(), $before, 'the space came back');

# the store quite full: a new link, a manifest

system("dd if=/dev/zero of=$filler.2 bs=4k status=none 2>/dev/null");
$r = $t->http(POST => "/v2/full/b/blobs/uploads/?mount=$small&from=full/a");
$t->is_error($r, 507, 'UNKNOWN', 'a mount that cannot write its link: 507');
is(scalar(grep { /link$/ } $t->files_under($t->v2root . '/repositories/full/b')),
   0, 'no link written');

my $cfg = '{"os":"linux"}';
my $man = encode_json({ schemaVersion => 2, mediaType => MT_OCI_MANIFEST,
    config => { mediaType => MT_OCI_CONFIG, digest => $small, size => 1000 },
    layers => [] });
$r = $t->push_manifest('full/a', 'v1', $man, MT_OCI_MANIFEST);
$t->is_error($r, 507, 'UNKNOWN', 'a manifest: 507');
is($t->http(GET => '/v2/full/a/manifests/v1')->{status}, 404,
    'not tagged');
no_partial('with the store full');

# space freed: pushes work again

unlink $filler, "$filler.2" or die "unlink: $!";
($d, $r) = $t->push_blob('full/a', $big);
is($r->{status}, 201, 'space freed: the big blob is pushed');
$r = $t->http(GET => "/v2/full/a/blobs/$d");
is(sha256($r->{body}), $d, 'and pulls whole');
$r = $t->push_manifest('full/a', 'v1', $man, MT_OCI_MANIFEST);
is($r->{status}, 201, 'the manifest too');
no_partial('at the end');

$t->stop;
system('umount', $store) == 0 or die "umount $store failed";
$mounted = 0;
ok(1, 'unmounted');

done_testing();
