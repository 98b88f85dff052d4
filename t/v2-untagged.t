#!/usr/bin/perl

# DELETE of a manifest by digest with "X-Harbor-Untagged-Only: true" (how
# the garbage collector deletes untagged manifests) refuses with 412 when
# a tag points at it: a tag pushed after the collector looked is kept.
# With "X-Harbor-Cutoff: <unix seconds>" (the time the collector listed the
# repository) it also refuses a manifest pushed again, referenced by an
# index, or referring to a subject tagged or pushed at or after the cutoff
# (docs/gc.md).  Each interleaving is played in order here; the last part
# races the pushes against the deletes on two workers.

use warnings;
use strict;

use FindBin;
use lib "$FindBin::Bin/lib";

use Test::More;
use Harbor::Test qw(:all);

###############################################################################

my $t = Harbor::Test->new;
$t->run(workers => 2);

my $img = $t->make_image('gc/u', undef);
my $d = $img->{digest};
my @only = (headers => ['X-Harbor-Untagged-Only' => 'true']);

# untagged: deleted

my $r = $t->http(DELETE => "/v2/gc/u/manifests/$d", @only);
is($r->{status}, 202, 'an untagged manifest is deleted');
is($t->http(GET => "/v2/gc/u/manifests/$d")->{status}, 404, 'it is gone');

# tagged (pushed "meanwhile"): kept, with its tag

$img = $t->make_image('gc/u', 'v1');
$d = $img->{digest};

$r = $t->http(DELETE => "/v2/gc/u/manifests/$d", @only);
$t->is_error($r, 412, 'DENIED', 'a tagged manifest is refused');
is($t->http(GET => '/v2/gc/u/manifests/v1')->{status}, 200,
    'the tag still pulls');
is($t->http(GET => "/v2/gc/u/manifests/$d")->{status}, 200,
    'the manifest is still there');

# without the header a delete by digest takes the tags with it

$r = $t->http(DELETE => "/v2/gc/u/manifests/$d");
is($r->{status}, 202, 'a plain delete by digest');
is($t->http(GET => '/v2/gc/u/manifests/v1')->{status}, 404,
    'took its tag');

###############################################################################
# with a cutoff

sub revision {
    my ($repo, $d) = @_;
    my ($hex) = $d =~ /^sha256:(.*)$/;
    return $t->v2root . "/repositories/$repo/_manifests/revisions/sha256/$hex/link";
}

# what the collector listed long ago: the revision links are old
sub age {
    my ($repo, @d) = @_;
    my $old = time() - 86400;
    utime $old, $old, revision($repo, $_) or die "utime $_: $!" for @d;
}

sub del {
    my ($repo, $d, $cutoff) = @_;
    return $t->http(DELETE => "/v2/$repo/manifests/$d", headers => [
        'X-Harbor-Untagged-Only' => 'true', 'X-Harbor-Cutoff' => $cutoff]);
}

my $R = 'gc/cut';

# truly untagged and old: deleted

my $m = $t->make_image($R, undef);
age($R, $m->{digest});
my $cutoff = time() - 5;
is(del($R, $m->{digest}, $cutoff)->{status}, 202, 'untagged, old: deleted');
is($t->http(GET => "/v2/$R/manifests/$m->{digest}")->{status}, 404,
    'and gone');
ok(!-e revision($R, $m->{digest}), 'its revision link is gone');

# a bad cutoff is refused, nothing deleted

$m = $t->make_image($R, undef);
$r = del($R, $m->{digest}, '12x');
$t->is_error($r, 400, 'UNSUPPORTED', 'a cutoff that is not seconds');
is($t->http(GET => "/v2/$R/manifests/$m->{digest}")->{status}, 200,
    'nothing deleted');

# pushed again, identical, after the cutoff: the push renewed its link

$m = $t->make_image($R, undef);
age($R, $m->{digest});
$cutoff = time() - 5;
$r = $t->push_manifest($R, $m->{digest}, $m->{manifest}, MT_OCI_MANIFEST);
is($r->{status}, 201, 'an identical re-push');
cmp_ok(time() - (stat revision($R, $m->{digest}))[9], '<', 60,
    'renews the revision link');
$t->is_error(del($R, $m->{digest}, $cutoff), 412, 'DENIED',
    'pushed again after the cutoff: 412');
is($t->http(GET => "/v2/$R/manifests/$m->{digest}")->{status}, 200,
    'still there');

# an index pushed after the cutoff references it

my $child = $t->make_image($R, undef);
age($R, $child->{digest});
$cutoff = time() - 5;
my $idx = $t->make_index($R, undef, [$child]);
is($idx->{response}{status}, 201, 'an index over an old untagged manifest');
$t->is_error(del($R, $child->{digest}, $cutoff), 412, 'DENIED',
    'a child of an index pushed after the cutoff: 412');
$r = $t->http(GET => "/v2/$R/manifests/$idx->{digest}");
is($r->{status}, 200, 'the index pulls');
is($t->http(GET => "/v2/$R/manifests/$child->{digest}")->{status}, 200,
    'and its child');

# ... and the other order: the child went first, the index fails

$child = $t->make_image($R, undef);
age($R, $child->{digest});
is(del($R, $child->{digest}, time() - 5)->{status}, 202, 'child deleted');
$idx = $t->make_index($R, undef, [$child]);
$t->is_error($idx->{response}, 400, 'MANIFEST_BLOB_UNKNOWN',
    'an index over a deleted child fails');

# a signature whose subject was tagged after the cutoff

my $subj = $t->make_image($R, undef);
my $sig = $t->make_image($R, undef, subject => $subj,
                         artifact_type => 'application/vnd.example.sig');
age($R, $subj->{digest}, $sig->{digest});
$cutoff = time() - 5;
$r = $t->push_manifest($R, 'signed', $subj->{manifest}, MT_OCI_MANIFEST);
is($r->{status}, 201, 'the subject is tagged after the cutoff');
$t->is_error(del($R, $sig->{digest}, $cutoff), 412, 'DENIED',
    'its signature: 412');
$r = $t->http(GET => "/v2/$R/referrers/$subj->{digest}");
like($r->{body}, qr/\Q$sig->{digest}\E/, 'the signature is still listed');

# the tag goes; the subject's revision was renewed after the cutoff still

is($t->http(DELETE => "/v2/$R/manifests/signed")->{status}, 202,
    'the tag deleted');
$t->is_error(del($R, $sig->{digest}, $cutoff), 412, 'DENIED',
    'the subject was pushed after the cutoff: 412');

# a signature of an old untagged subject goes, with its referrer entry

age($R, $subj->{digest});
is(del($R, $sig->{digest}, time() - 5)->{status}, 202,
    'a signature of an old untagged subject: deleted');
$r = $t->http(GET => "/v2/$R/referrers/$subj->{digest}");
unlike($r->{body}, qr/\Q$sig->{digest}\E/, 'no longer a referrer');

# a tagged one, with a cutoff: 412 (the tag is looked at after the move)

$m = $t->make_image($R, 'kept');
age($R, $m->{digest});
$t->is_error(del($R, $m->{digest}, time() - 5), 412, 'DENIED',
    'tagged: 412');
is($t->http(GET => "/v2/$R/manifests/kept")->{status}, 200, 'the tag pulls');

###############################################################################
# the race, on two workers: an index over an old untagged manifest and a
# re-push of an old untagged signature, each concurrent with the
# collector's deletes of both; every acknowledged push pulls whole

use POSIX qw(_exit);
use Time::HiRes qw(sleep);

$R = 'gc/race';
my $base = $t->make_image($R, undef);
my (@acked, %stat);

for my $i (1 .. 40) {
    my $c = $t->make_image($R, undef);
    my $s = $t->make_image($R, undef, subject => $base,
                           artifact_type => 'application/vnd.example.sig');
    age($R, $base->{digest}, $c->{digest}, $s->{digest});
    my $cut = time();
    my $ix = encode_json({ schemaVersion => 2, mediaType => MT_OCI_INDEX,
        manifests => [{ mediaType => MT_OCI_MANIFEST,
                        digest => $c->{digest}, size => $c->{size} }] });

    pipe(my $rd, my $wr) or die "pipe: $!";
    my $pid = fork() // die "fork: $!";

    if ($pid == 0) {
        close $rd;
        sleep(0.01 * rand());
        my $a = $t->push_manifest($R, sha256($ix), $ix, MT_OCI_INDEX);
        my $b = $t->push_manifest($R, $s->{digest}, $s->{manifest},
                                  MT_OCI_MANIFEST);
        print $wr "$a->{status} $b->{status}\n";
        close $wr;
        _exit(0);
    }

    close $wr;
    sleep(0.01 * rand());
    my $d1 = del($R, $c->{digest}, $cut);
    my $d2 = del($R, $s->{digest}, $cut);
    my ($a, $b) = split ' ', (<$rd> // '0 0');
    close $rd;
    waitpid($pid, 0);

    $stat{"index $a"}++;
    $stat{"signature $b"}++;
    $stat{"delete $d1->{status}/$d2->{status}"}++;

    push @acked, [sha256($ix), $ix], [$c->{digest}, $c->{manifest}]
        if $a == 201;
    push @acked, [$s->{digest}, $s->{manifest}, 1] if $b == 201;
}

note(join ', ', map { "$_: $stat{$_}" } sort keys %stat);

my $bad = 0;
my $refs = $t->http(GET => "/v2/$R/referrers/$base->{digest}")->{body};
for my $a (@acked) {
    my $g = $t->http(GET => "/v2/$R/manifests/$a->[0]");
    $bad++, diag("$a->[0]: $g->{status}")
        unless $g->{status} == 200 && $g->{body} eq $a->[1];
    $bad++, diag("$a->[0]: not among the referrers")
        if $a->[2] && index($refs, $a->[0]) < 0;
}
ok(scalar @acked, scalar(@acked) . ' acknowledged pushes');
is($bad, 0, 'every acknowledged index, child and signature pulls whole');

done_testing();
