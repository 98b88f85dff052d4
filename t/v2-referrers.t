#!/usr/bin/perl

# Tests for the referrers API (OCI distribution 1.1): OCI-Subject on PUT,
# GET /v2/<name>/referrers/<digest>, artifactType and its fallback to the
# config media type, annotations, filtering, referrers of unknown
# subjects, deletion, no listing across repositories.

use warnings;
use strict;

use FindBin;
use lib "$FindBin::Bin/lib";

use Test::More;
use Harbor::Test qw(:all);

###############################################################################

my $t = Harbor::Test->new;
$t->run;

my $repo = 'app/signed';

my $subject = $t->make_image($repo, 'v1');
my $sd = $subject->{digest};

# no referrers yet: an empty index

my $r = $t->http(GET => "/v2/$repo/referrers/$sd");
is($r->{status}, 200, 'referrers of an image without any');
is($r->{headers}{'content-type'}, MT_OCI_INDEX, 'referrers Content-Type');
is($r->{headers}{'docker-distribution-api-version'}, 'registry/2.0',
    'referrers api version');
my $j = $t->json($r);
is($j->{schemaVersion}, 2, 'referrers schemaVersion');
is($j->{mediaType}, MT_OCI_INDEX, 'referrers mediaType');
is_deeply($j->{manifests}, [], 'no referrers: empty manifests');

# an SBOM with artifactType and annotations

my $sbom = $t->make_image($repo, undef, subject => $subject,
    artifact_type => 'application/vnd.example.sbom.v1',
    config_media_type => MT_OCI_EMPTY, config => '{}',
    annotations => { 'org.example.kind' => 'sbom' });
$r = $sbom->{response};
is($r->{status}, 201, 'PUT referrer');
is($r->{headers}{'oci-subject'}, $sd, 'PUT referrer OCI-Subject');

# a signature without artifactType: its config media type is used

my $sig = $t->make_image($repo, 'sig', subject => $subject,
    config_media_type => 'application/vnd.example.signature.config.v1+json');
is($sig->{response}{status}, 201, 'PUT second referrer');
is($sig->{response}{headers}{'oci-subject'}, $sd, 'second OCI-Subject');

# an index can refer too

my $child = $t->make_image($repo, undef);
my $ridx = $t->make_index($repo, undef, [$child], subject => $subject,
    artifact_type => 'application/vnd.example.bundle');
is($ridx->{response}{status}, 201, 'PUT index referrer');
is($ridx->{response}{headers}{'oci-subject'}, $sd, 'index OCI-Subject');

$r = $t->http(GET => "/v2/$repo/referrers/$sd");
is($r->{status}, 200, 'referrers');
ok(!defined $r->{headers}{'oci-filters-applied'}, 'no filter applied');
$j = $t->json($r);
my %by = map { $_->{digest} => $_ } @{$j->{manifests} || []};
is(scalar keys %by, 3, 'three referrers');

is_deeply($by{$sbom->{digest}}, {
    mediaType    => MT_OCI_MANIFEST,
    digest       => $sbom->{digest},
    size         => $sbom->{size},
    artifactType => 'application/vnd.example.sbom.v1',
    annotations  => { 'org.example.kind' => 'sbom' },
}, 'sbom descriptor');

is($by{$sig->{digest}}{artifactType},
    'application/vnd.example.signature.config.v1+json',
    'artifactType falls back to config.mediaType');
is($by{$sig->{digest}}{size}, $sig->{size}, 'signature size');
is($by{$sig->{digest}}{mediaType}, MT_OCI_MANIFEST, 'signature mediaType');
ok(!exists $by{$sig->{digest}}{annotations}
    || !%{$by{$sig->{digest}}{annotations}}, 'signature has no annotations');

is($by{$ridx->{digest}}{mediaType}, MT_OCI_INDEX, 'index referrer mediaType');
is($by{$ridx->{digest}}{artifactType}, 'application/vnd.example.bundle',
    'index referrer artifactType');

# the subject itself is not its own referrer

ok(!$by{$sd}, 'subject not listed');

# filtering by artifactType

$r = $t->http(GET => "/v2/$repo/referrers/$sd"
    . '?artifactType=application/vnd.example.sbom.v1');
is($r->{status}, 200, 'filtered referrers');
is($r->{headers}{'oci-filters-applied'}, 'artifactType',
    'OCI-Filters-Applied');
is_deeply([map { $_->{digest} } @{$t->json($r)->{manifests} || []}],
    [$sbom->{digest}], 'filter keeps the sbom only');

$r = $t->http(GET => "/v2/$repo/referrers/$sd"
    . '?artifactType=application%2Fvnd.example.signature.config.v1%2Bjson');
is_deeply([map { $_->{digest} } @{$t->json($r)->{manifests} || []}],
    [$sig->{digest}], 'url-encoded filter on the fallback artifactType');

$r = $t->http(GET => "/v2/$repo/referrers/$sd?artifactType=application/none");
is($r->{status}, 200, 'filter matching nothing');
is($r->{headers}{'oci-filters-applied'}, 'artifactType',
    'filter matching nothing: OCI-Filters-Applied');
is_deeply($t->json($r)->{manifests}, [], 'filter matching nothing: empty');

# referrers of an unknown subject (pushed before the subject)

my $ghost = sha256('subject not pushed yet');
my $early = $t->make_image($repo, undef, subject => { digest => $ghost,
    size => 100, media_type => MT_OCI_MANIFEST },
    artifact_type => 'application/vnd.example.early');
is($early->{response}{status}, 201, 'referrer of an unknown subject');
is($early->{response}{headers}{'oci-subject'}, $ghost,
    'referrer of an unknown subject: OCI-Subject');
$r = $t->http(GET => "/v2/$repo/referrers/$ghost");
is($r->{status}, 200, 'referrers of an unknown subject');
is_deeply([map { $_->{digest} } @{$t->json($r)->{manifests} || []}],
    [$early->{digest}], 'referrers of an unknown subject listed');

# referrers of a subject nothing refers to, in an unknown repository

$r = $t->http(GET => '/v2/app/none/referrers/' . sha256('x'));
is($r->{status}, 200, 'referrers in an unknown repository: 200');
is_deeply($t->json($r)->{manifests}, [], 'unknown repository: empty');

# referrers are per repository

my $copy = $t->make_image('app/copy', undef);
$r = $t->http(GET => "/v2/app/copy/referrers/$sd");
is_deeply($t->json($r)->{manifests}, [],
    'referrers of the same digest in another repository: none');

# invalid digests and names

for my $bad ('sha256:abc', 'sha256:' . uc substr($sd, 7), 'latest',
    'md5:d41d8cd98f00b204e9800998ecf8427e')
{
    $t->is_error($t->http(GET => "/v2/$repo/referrers/$bad"), 400,
        'DIGEST_INVALID', "referrers of $bad");
}
$t->is_error($t->http(GET => "/v2/App/Signed/referrers/$sd"), 400,
    'NAME_INVALID', 'referrers invalid name');

# deleting a referrer removes it from the list

is($t->http(DELETE => "/v2/$repo/manifests/$sig->{digest}")->{status}, 202,
    'delete signature');
$r = $t->http(GET => "/v2/$repo/referrers/$sd");
my @left = sort map { $_->{digest} } @{$t->json($r)->{manifests} || []};
is_deeply(\@left, [sort $sbom->{digest}, $ridx->{digest}],
    'deleted referrer not listed');

# deleting a tag that points at a referrer keeps it listed

my $tagged = $t->make_image($repo, 'tagged-ref', subject => $subject,
    artifact_type => 'application/vnd.example.tagged');
is($t->http(DELETE => "/v2/$repo/manifests/tagged-ref")->{status}, 202,
    'delete the tag of a referrer');
$r = $t->http(GET => "/v2/$repo/referrers/$sd"
    . '?artifactType=application/vnd.example.tagged');
is_deeply([map { $_->{digest} } @{$t->json($r)->{manifests} || []}],
    [$tagged->{digest}], 'untagged referrer still listed');

# a referrer whose subject digest is invalid is refused

{
    my %m = %{decode_json($sbom->{manifest})};
    $m{subject} = { mediaType => MT_OCI_MANIFEST, digest => 'sha256:zz',
                    size => 1 };
    my $r = $t->push_manifest($repo, 'badsubject', encode_json(\%m),
        MT_OCI_MANIFEST);
    is($r->{status}, 400, 'invalid subject digest: 400');
    like($t->error_code($r), qr/^(MANIFEST_INVALID|DIGEST_INVALID)$/,
        'invalid subject digest: code');
}

# other methods

$t->is_error($t->http(DELETE => "/v2/$repo/referrers/$sd"), 405,
    'UNSUPPORTED', 'DELETE referrers');

$t->stop;

done_testing;

###############################################################################
