#!/usr/bin/perl

# The 401 challenge of a cross-repository mount names pull on the source
# as well (scope="repository:to:pull,push repository:from:pull"), as
# distribution's does: a client that asks the token service for exactly
# the challenged scope gets its mount, not a full upload.

use warnings;
use strict;

use FindBin;
use lib "$FindBin::Bin/lib";

use Test::More;
use URI::Escape qw(uri_escape);
use Harbor::Test qw(:all);
use Harbor::Stack;

###############################################################################

my $s = Harbor::Stack->new;
my $t = $s->t;
my $host = $s->host;
my $pw = 'Passw0rd!';
my $ADMIN = $Harbor::Stack::ADMIN_PASSWORD;

$s->create_user('mover', password => $pw);
$s->create_project('msrc', public => 0);
$s->create_project('mdst', public => 0);
$s->add_member('msrc', 'mover', 3);         # guest: pull
$s->add_member('mdst', 'mover', 2);         # developer: push

my $adm = $s->bearer(user => 'admin', pass => $ADMIN,
    scope => ['repository:msrc/img:pull,push', 'repository:mdst/x:pull']);
my $img = $s->push_image('msrc/img', $adm);
ok($img->{ok}, 'admin pushed msrc/img');
my $layer = $img->{layers}[0];

# What a client does with a 401: read the challenge, ask the realm for
# exactly its scopes, with its credentials.
sub token_for {
    my ($challenge, $user, $pass) = @_;
    my %p;
    $p{$1} = $2 while $challenge =~ /(\w+)="([^"]*)"/g;
    my ($path) = $p{realm} =~ m{^https?://[^/]+(/.*)$};
    my $q = join '&', 'service=' . uri_escape($p{service}),
        map { 'scope=' . uri_escape($_) } split / /, $p{scope};
    my $r = $s->http(GET => "$path?$q", basic => [$user, $pass]);
    return $r->{status} == 200 ? decode_json($r->{body})->{token} : undef;
}

my $mount = "/v2/mdst/x/blobs/uploads/?mount=$layer&from=msrc/img";

my $r = $s->v2(POST => $mount);
is($r->{status}, 401, 'a mount without a token: 401');
my $ch = $r->{headers}{'www-authenticate'} || '';
like($ch, qr/scope="repository:mdst\/x:pull,push repository:msrc\/img:pull"/,
     'the challenge names pull on the source too');

my $tok = token_for($ch, 'mover', $pw);
ok($tok, 'the token service grants the challenged scope');

$r = $s->v2(POST => $mount, token => $tok);
is($r->{status}, 201, 'with exactly that token: the blob is mounted')
    or diag($r->{raw});
is($r->{headers}{location}, "/v2/mdst/x/blobs/$layer",
   'Location of the mounted blob');
is($s->v2(GET => "/v2/mdst/x/blobs/$layer", token => $adm)->{status}, 200,
   'the blob is linked into mdst/x');

# a token that falls short of the challenge: the challenge again, still
# naming both

my $short = $s->bearer(user => 'mover', pass => $pw,
    scope => 'repository:mdst/x:pull');
$r = $s->v2(POST => $mount, token => $short);
is($r->{status}, 401, 'a token without push on the target: 401');
like($r->{headers}{'www-authenticate'} || '',
     qr/scope="repository:mdst\/x:pull,push repository:msrc\/img:pull",error="insufficient_scope"/,
     'its challenge names both as well');

# no mount, a source that is the target, a source that is no name: the
# challenge names the target alone

for my $q ("?from=msrc/img", "?mount=$layer&from=mdst/x",
           "?mount=$layer&from=..%2Fetc", "?mount=$layer")
{
    $r = $s->v2(POST => "/v2/mdst/x/blobs/uploads/$q");
    like($r->{headers}{'www-authenticate'} || '',
         qr/scope="repository:mdst\/x:pull,push"(?:,|$)/,
         "POST uploads/$q: the challenge names the target alone");
}

$s->stop;

done_testing();
