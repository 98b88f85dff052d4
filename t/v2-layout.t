#!/usr/bin/perl

# Tests for the store layout (docker/distribution's): blob data and link
# files where distribution puts them, tag current and index links, uploads
# under _uploads, no leftovers in <storage>/_tmp after success or failure,
# and reading a store written by hand (as another registry would).

use warnings;
use strict;

use FindBin;
use lib "$FindBin::Bin/lib";

use File::Path qw(make_path);
use IO::Socket::INET;
use Test::More;
use Harbor::Test qw(:all);

###############################################################################

my $t = Harbor::Test->new;
$t->run;

my $v2 = $t->v2root;
my $tmp = $t->storage . '/_tmp';

sub slurp { $t->read_file($_[0]) }

sub hexof { (split /:/, $_[0])[1] }

sub blob_path {
    my ($d) = @_;
    my ($alg, $hex) = split /:/, $d;
    return "$v2/blobs/$alg/" . substr($hex, 0, 2) . "/$hex/data";
}

# Temporary files of a request go when nginx frees the request, which may
# be a moment after the client has the response: wait (bounded) for that.
sub tmp_files {
    my @left;
    for (1 .. 100) {
        @left = grep { !/^\./ } $t->files_under($tmp);
        last unless @left;
        select undef, undef, undef, 0.05;
    }
    return @left;
}

# a blob

my $data = random_bytes(1234);
my $d = $t->push_blob('lay/out', $data);
my $hex = hexof($d);

ok(-f blob_path($d), 'blob data at blobs/sha256/xx/<hex>/data');
ok(slurp(blob_path($d)) eq $data, 'blob data content');
my $link = "$v2/repositories/lay/out/_layers/sha256/$hex/link";
ok(-f $link, 'layer link at _layers/sha256/<hex>/link');
is(slurp($link), $d, 'layer link content is the digest');
is_deeply([tmp_files()], [], 'no leftovers in _tmp after a monolithic upload');

# sha512

my $d512 = $t->push_blob('lay/out', 'five twelve', algorithm => 'sha512');
ok(-f blob_path($d512), 'sha512 blob at blobs/sha512/xx/<hex>/data');
is(slurp("$v2/repositories/lay/out/_layers/sha512/" . hexof($d512) . '/link'),
    $d512, 'sha512 layer link');

# an image with a tag

my $img = $t->make_image('lay/out', 'v1');
my $mhex = hexof($img->{digest});
my $repo = "$v2/repositories/lay/out";

is(slurp(blob_path($img->{digest})), $img->{manifest},
    'manifest stored as a blob');
is(slurp("$repo/_manifests/revisions/sha256/$mhex/link"), $img->{digest},
    'revision link');
is(slurp("$repo/_manifests/tags/v1/current/link"), $img->{digest},
    'tag current link');
is(slurp("$repo/_manifests/tags/v1/index/sha256/$mhex/link"), $img->{digest},
    'tag index link');
is(slurp("$repo/_layers/sha256/" . hexof($img->{config}) . '/link'),
    $img->{config}{digest}, 'config link');

# retagging keeps the index of the previous revisions

my $img2 = $t->make_image('lay/out', 'v1');
is(slurp("$repo/_manifests/tags/v1/current/link"), $img2->{digest},
    'tag current link moved');
ok(-f "$repo/_manifests/tags/v1/index/sha256/" . hexof($img2->{digest})
    . '/link', 'tag index has the new revision');

# uploads live under the repository's _uploads until finished

my ($loc, $uuid) = $t->upload_start('lay/out');
ok(-d "$repo/_uploads/$uuid", 'upload directory _uploads/<uuid>');
$t->http(PATCH => $loc, body => 'part one');
is_deeply([tmp_files()], [], 'no leftovers in _tmp after a PATCH');
$t->http(PUT => $t->with_query($loc, 'digest=' . sha256('part one')));
ok(!-e "$repo/_uploads/$uuid", 'upload directory gone after PUT');
ok(-f blob_path(sha256('part one')), 'chunked upload blob stored');

my ($loc2, $uuid2) = $t->upload_start('lay/out');
$t->http(PATCH => $loc2, body => 'cancelled');
$t->http(DELETE => $loc2);
ok(!-e "$repo/_uploads/$uuid2", 'upload directory gone after DELETE');
ok(!-e blob_path(sha256('cancelled')), 'cancelled upload stored no blob');

# failures leave nothing behind

$t->http(POST => '/v2/lay/out/blobs/uploads/?digest=' . sha256('claimed'),
    body => 'actual');
ok(!-e blob_path(sha256('claimed')), 'mismatch: no blob under the claim');
ok(!-e blob_path(sha256('actual')), 'mismatch: no blob under the content');
is_deeply([tmp_files()], [], 'no leftovers in _tmp after a mismatch');

my ($loc3) = $t->upload_start('lay/out');
$t->http(PATCH => $loc3, body => 'x' x 100_000);
$t->http(PUT => $t->with_query($loc3, 'digest=' . sha256('other')));
is_deeply([tmp_files()], [], 'no leftovers in _tmp after a PUT mismatch');

$t->http(PUT => '/v2/lay/out/manifests/big', body => 'x' x (4 * 1024 * 1024 + 1),
    headers => ['Content-Type' => MT_OCI_MANIFEST]);
is_deeply([tmp_files()], [], 'no leftovers in _tmp after an oversized manifest');

$t->http(PUT => '/v2/lay/out/manifests/bad', body => '{"not":"a manifest"}',
    headers => ['Content-Type' => MT_OCI_MANIFEST]);
ok(!-e "$repo/_manifests/tags/bad", 'invalid manifest: no tag directory');
is_deeply([tmp_files()], [], 'no leftovers in _tmp after an invalid manifest');

$t->http(POST => '/v2/lay/out/blobs/uploads/?digest=' . sha256('big'),
    body => random_bytes(2_000_000), chunked => 65536);
is_deeply([tmp_files()], [], 'no leftovers in _tmp after a chunked mismatch');

# a client that goes away in the middle of a monolithic upload

{
    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1',
        PeerPort => $t->port, Proto => 'tcp') or die "connect: $!";
    print $s "POST /v2/lay/out/blobs/uploads/?digest=" . sha256('gone')
        . " HTTP/1.1\r\nHost: localhost\r\nContent-Length: 5000000\r\n\r\n"
        . ('g' x 1_000_000);
    close $s;

    my @left = tmp_files();
    is_deeply(\@left, [], 'no leftovers in _tmp after a client went away');
    ok(!-e blob_path(sha256('gone')), 'client went away: no blob');
}

# deleting unlinks, the data stays (garbage collection is another matter)

$t->http(DELETE => "/v2/lay/out/blobs/$d");
ok(!-e $link, 'blob DELETE removes the layer link');
ok(-f blob_path($d), 'blob DELETE keeps the data');

$t->http(DELETE => "/v2/lay/out/manifests/$img2->{digest}");
ok(!-e "$repo/_manifests/revisions/sha256/" . hexof($img2->{digest})
    . '/link', 'manifest DELETE removes the revision link');
ok(!-e "$repo/_manifests/tags/v1/current/link",
    'manifest DELETE removes the tag pointing at it');

# a store written by hand, as docker/distribution writes it

sub put_file {
    my ($path, $content) = @_;
    (my $dir = $path) =~ s{/[^/]+$}{};
    make_path($dir);
    open my $fh, '>', $path or die "$path: $!";
    binmode $fh;
    print $fh $content;
    close $fh;
}

{
    my $layer = random_bytes(500);
    my $config = encode_json({ architecture => 'arm64', os => 'linux',
        rootfs => { type => 'layers', diff_ids => [] } });
    my $manifest = encode_json({
        schemaVersion => 2,
        mediaType => MT_DOCKER_V2,
        config => { mediaType => MT_DOCKER_CONFIG, digest => sha256($config),
                    size => length $config },
        layers => [{ mediaType => MT_DOCKER_LAYER, digest => sha256($layer),
                     size => length $layer }],
    });
    my $md = sha256($manifest);
    my $r = "$v2/repositories/hand/made";

    for my $blob ($layer, $config, $manifest) {
        put_file(blob_path(sha256($blob)), $blob);
    }
    for my $blob ($layer, $config) {
        put_file("$r/_layers/sha256/" . hexof(sha256($blob)) . '/link',
            sha256($blob));
    }
    put_file("$r/_manifests/revisions/sha256/" . hexof($md) . '/link', $md);
    put_file("$r/_manifests/tags/1.0/current/link", $md);
    put_file("$r/_manifests/tags/1.0/index/sha256/" . hexof($md) . '/link',
        $md);

    # a manifest over 4 MiB that another registry let in
    my $huge = encode_json({ schemaVersion => 2, mediaType => MT_OCI_MANIFEST,
        config => { mediaType => MT_OCI_CONFIG, digest => sha256($config),
                    size => length $config },
        layers => [], annotations => { pad => 'p' x (4 * 1024 * 1024) } });
    my $hd = sha256($huge);
    put_file(blob_path($hd), $huge);
    put_file("$r/_manifests/revisions/sha256/" . hexof($hd) . '/link', $hd);
    put_file("$r/_manifests/tags/huge/current/link", $hd);
    put_file("$r/_manifests/tags/huge/index/sha256/" . hexof($hd) . '/link',
        $hd);

    # tags whose links are wrong
    put_file("$r/_manifests/tags/dangling/current/link",
        sha256('not stored'));
    put_file("$r/_manifests/tags/garbage/current/link", "garbage\n");
    put_file("$r/_manifests/tags/traversal/current/link",
        'sha256:../../../../../../../etc/passwd');
    put_file("$r/_manifests/tags/empty/current/link", '');

    system('chown', '-R', 'harbor:harbor', $t->storage) if $> == 0;

    my $g = $t->http(GET => '/v2/hand/made/manifests/1.0');
    is($g->{status}, 200, 'hand-made store: manifest by tag');
    is($g->{body}, $manifest, 'hand-made store: manifest body');
    is($g->{headers}{'content-type'}, MT_DOCKER_V2,
        'hand-made store: Content-Type from the document');
    is($g->{headers}{'docker-content-digest'}, $md,
        'hand-made store: digest');
    ok($t->http(GET => '/v2/hand/made/blobs/' . sha256($layer))->{body}
        eq $layer, 'hand-made store: layer');
    is_deeply($t->json($t->http(GET => '/v2/hand/made/tags/list'))->{tags},
        [sort qw(1.0 huge dangling garbage traversal empty)],
        'hand-made store: tags listed');

    $g = $t->http(GET => '/v2/hand/made/manifests/huge');
    $t->is_error($g, 404, 'MANIFEST_UNKNOWN', 'stored manifest over 4 MiB');
    like(($t->json($g)->{errors} || [{}])->[0]{message} || '',
        qr/too large|too big|size|4 ?MiB/i, 'over 4 MiB: message says so');
    $g = $t->http(GET => "/v2/hand/made/manifests/$hd");
    $t->is_error($g, 404, 'MANIFEST_UNKNOWN',
        'stored manifest over 4 MiB by digest');

    for my $tag (qw(dangling garbage traversal empty)) {
        my $g = $t->http(GET => "/v2/hand/made/manifests/$tag");
        isnt($g->{status}, 200, "tag with a $tag link is not served");
        ok($g->{status} == 404 || $g->{status} == 500,
            "tag with a $tag link: 404 or 500");
        unlike($g->{body}, qr/root:/, "tag with a $tag link: nothing leaks");
    }

    # a link whose blob data is gone (garbage collected) is unknown
    my $lost = random_bytes(77);
    put_file("$r/_layers/sha256/" . hexof(sha256($lost)) . '/link',
        sha256($lost));
    system('chown', '-R', 'harbor:harbor', $t->storage) if $> == 0;
    $t->is_error($t->http(GET => '/v2/hand/made/blobs/' . sha256($lost)), 404,
        'BLOB_UNKNOWN', 'linked blob without data: GET');
    $t->is_error($t->http(HEAD => '/v2/hand/made/blobs/' . sha256($lost)), 404,
        undef, 'linked blob without data: HEAD');

    # pushing into the hand-made repository works as well
    my $more = $t->make_image('hand/made', '2.0');
    is($more->{response}{status}, 201, 'push into the hand-made repository');
}

is_deeply([tmp_files()], [], 'no leftovers in _tmp at the end');

$t->stop;

done_testing;

###############################################################################
