#!/usr/bin/perl

# harbor_sigv4.c against a real Ceph RADOS Gateway (Harbor::Rgw): every
# request t/s3/s3c signs is one the S3 backend and the collector will
# send: bucket creation, PUT (signed and UNSIGNED-PAYLOAD), GET with a
# range, HEAD, DELETE, listings with prefix and delimiter, a multipart
# upload, keys with every character a repository path or a tag can hold
# and a few more, a presigned GET; and the gateway refuses a wrong secret
# and a presigned URL used for another key.

use warnings;
use strict;

use FindBin;
use lib "$FindBin::Bin/lib";

use File::Temp qw(tempdir);
use HTTP::Tiny;
use Test::More;
use Harbor::Rgw;

###############################################################################

my $S3C = $ENV{HARBOR_S3C} || "$FindBin::Bin/../build/s3c";
die "no $S3C (make test builds it)\n" unless -x $S3C;

my $g = Harbor::Rgw->start;
my %env = $g->env;
my $tmp = tempdir(CLEANUP => 1);

sub s3 {
    local @ENV{keys %env} = values %env;
    open my $fh, '-|', $S3C, @_ or die "$S3C: $!";
    local $/;
    my $out = <$fh>;
    close $fh;
    die "s3c @_: exit " . ($? >> 8) . "\n" if $?;
    my ($status, $rest) = $out =~ /^status (\d+)\n(.*)\z/s
        or die "s3c @_: $out";
    my ($head, $body) = split /\n\n/, $rest, 2;
    my %h = map { lc($_->[0]) => $_->[1] }
            map { [split /:\s*/, $_, 2] } split /\n/, $head // '';
    return { status => $status, headers => \%h, body => $body // '' };
}

sub file_of {
    my ($data) = @_;
    my $path = "$tmp/body";
    open my $fh, '>:raw', $path or die "$path: $!";
    print $fh $data;
    close $fh;
    return $path;
}

my $B = '/harbor-test';
my $r = s3('PUT', $B);
is($r->{status}, 200, 'bucket created') or diag($r->{body});

# distribution's keys, and the characters a tag or a path may carry
my @keys = (
    'docker/registry/v2/blobs/sha256/ab/' . ('ab' x 32) . '/data',
    'docker/registry/v2/repositories/a/b-c/d_e.f/_manifests/tags/v1.0-rc_1/current/link',
    "odd/a b+c=d&e?f#g%h~i'j(k)l!m*n\$o,p;q:r\@s",
    "odd/\xc3\xa9t\xc3\xa9/\xe4\xb8\xad",          # UTF-8
);

for my $k (@keys) {
    my $data = "body of $k " . ('x' x 1000);
    $r = s3('-d', file_of($data), 'PUT', "$B/$k");
    is($r->{status}, 200, "PUT $k") or diag($r->{body});
    $r = s3('GET', "$B/$k");
    is($r->{status}, 200, "GET $k");
    is($r->{body}, $data, "GET $k: the bytes put");
    $r = s3('HEAD', "$B/$k");
    is($r->{headers}{'content-length'}, length $data, "HEAD $k: its size");
}

my $k0 = $keys[0];
$r = s3('-H', 'Range: bytes=5-9', 'GET', "$B/$k0");
is($r->{status}, 206, 'a range: 206');
is($r->{body}, substr("body of $k0", 5, 5), 'a range: those bytes');

$r = s3('-u', '-d', file_of('streamed'), 'PUT', "$B/unsigned");
is($r->{status}, 200, 'PUT with UNSIGNED-PAYLOAD');
is(s3('GET', "$B/unsigned")->{body}, 'streamed', 'UNSIGNED-PAYLOAD: stored');

# listings: a prefix with a space and a slash in the query, a delimiter
$r = s3('-q', 'list-type=2', '-q', 'prefix=docker/registry/v2/',
        '-q', 'delimiter=/', 'GET', $B);
is($r->{status}, 200, 'list with a delimiter');
like($r->{body}, qr{<Prefix>docker/registry/v2/blobs/</Prefix>.*
                   <Prefix>docker/registry/v2/repositories/</Prefix>}sx,
     'list: the common prefixes');
$r = s3('-q', 'list-type=2', '-q', "prefix=odd/a b+c", 'GET', $B);
like($r->{body}, qr{<KeyCount>1</KeyCount>}, 'list: a prefix with + and space');
$r = s3('-q', 'list-type=2', '-q', 'max-keys=1', 'GET', $B);
my ($token) = $r->{body} =~ m{<NextContinuationToken>([^<]+)<};
ok($token, 'list: a page and a continuation token');
$r = s3('-q', 'list-type=2', '-q', 'max-keys=1', '-q',
        "continuation-token=$token", 'GET', $B);
is($r->{status}, 200, 'list: the next page, token in the query');

# a multipart upload: two parts (the first 5 MiB), then complete
$r = s3('-q', 'uploads', 'POST', "$B/multi");
my ($upload) = $r->{body} =~ m{<UploadId>([^<]+)</UploadId>};
ok($upload, 'multipart: started') or diag($r->{body});
my @parts = ('p' x (5 * 1024 * 1024), 'last part');
my @etags;
for my $i (0, 1) {
    $r = s3('-q', 'partNumber=' . ($i + 1), '-q', "uploadId=$upload",
            '-d', file_of($parts[$i]), 'PUT', "$B/multi");
    is($r->{status}, 200, 'multipart: part ' . ($i + 1));
    push @etags, $r->{headers}{etag};
}
my $xml = '<CompleteMultipartUpload>'
    . join('', map { '<Part><PartNumber>' . ($_ + 1) . '</PartNumber><ETag>'
                     . $etags[$_] . '</ETag></Part>' } 0, 1)
    . '</CompleteMultipartUpload>';
$r = s3('-q', "uploadId=$upload", '-d', file_of($xml), 'POST', "$B/multi");
is($r->{status}, 200, 'multipart: completed') or diag($r->{body});
$r = s3('HEAD', "$B/multi");
is($r->{headers}{'content-length'}, length($parts[0]) + length($parts[1]),
   'multipart: the whole object');

# presigned GET, fetched by a plain HTTP client
my $url = do {
    local @ENV{keys %env} = values %env;
    open my $fh, '-|', $S3C, '-p', 60, 'GET', "$B/$keys[2]" or die "$S3C: $!";
    my $u = <$fh>;
    close $fh;
    chomp $u;
    $u;
};
my $http = HTTP::Tiny->new;
my $p = $http->get($url);
is($p->{status}, 200, 'presigned GET: 200');
is($p->{content}, "body of $keys[2] " . ('x' x 1000), 'presigned GET: the bytes');
(my $other = $url) =~ s{/odd/[^?]+}{/unsigned};
is($http->get($other)->{status}, 403, 'presigned URL for another key: 403');

# a wrong secret
{
    local $env{S3_SECRET_KEY} = 'wrong' . $env{S3_SECRET_KEY};
    $r = s3('GET', "$B/$k0");
    is($r->{status}, 403, 'a wrong secret: 403');
    like($r->{body}, qr/SignatureDoesNotMatch/, 'a wrong secret: the code');
}

is(s3('DELETE', "$B/$_")->{status}, 204, "DELETE $_") for @keys;
is(s3('GET', "$B/$k0")->{status}, 404, 'deleted: 404');

$g->stop;
done_testing;
