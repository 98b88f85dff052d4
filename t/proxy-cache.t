#!/usr/bin/perl

# Proxy cache projects (authd/proxy_cache.c, ngx_http_harbor_proxy.c)
# against Debian's docker-registry as the upstream, pulled with skopeo and
# podman:
#
#   - a project created with registry_id shows it; an unknown registry and
#     a caller who is not a system administrator are refused;
#   - the first pull fetches from the upstream (same layers, same digest),
#     the second does not touch it (its log counts the requests);
#   - a pull by digest of something not fetched yet is fetched;
#   - with proxy_cache_recheck small, a tag is asked for again (one HEAD
#     upstream) and one moved upstream is fetched anew;
#   - upstream stopped: cached tags still pull, a missing one is an OCI
#     error; pushes are refused, in words; an upstream the SSRF guard
#     refuses is not reached.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use HTTP::Tiny;
use Test::More;
use Time::HiRes qw(time);

use Harbor::Test qw(:all);
use Harbor::Api;
use Harbor::Authd;
use Harbor::Clients;

my $s = Harbor::Api->new;
my $admin = $s->admin;
my $dir = $s->dir;
my $host = $s->host;
my $c = Harbor::Clients->new($dir);

# the upstream is on loopback: allow-listed for the SSRF guard
is($s->api(PUT => '/configurations', $admin, json => {
    outbound_allowlist => '127.0.0.1' })->{status}, 200,
   'outbound_allowlist names 127.0.0.1');

my $d = Harbor::Clients::Distribution->new(root => "$dir/up/data",
                                           dir => "$dir/up")->start;
my $up = $d->host;

my %img = (
    v1    => $c->mkimage("$dir/src-v1", tag => 'v1', layers => '1k,300k',
                         seed => 'proxy-v1'),
    moved => $c->mkimage("$dir/src-moved", tag => 'v1', layers => '2k',
                         seed => 'proxy-moved'),
    other => $c->mkimage("$dir/src-other", tag => 'v1', layers => '3k',
                         seed => 'proxy-other'),
);

Harbor::Clients::cmd_ok($c->skopeo('copy', '--dest-tls-verify=false', "oci:$dir/src-v1:v1",
                  "docker://$up/library/app:v1"), 'upstream has app:v1');
Harbor::Clients::cmd_ok($c->skopeo('copy', '--dest-tls-verify=false',
                  "oci:$dir/src-other:v1", "docker://$up/library/other:v1"),
       'upstream has other:v1');

my $ACCEPT = join ', ', MT_OCI_MANIFEST(), MT_DOCKER_V2();

# requests for manifests of repo the upstream has answered so far
sub upstream_hits {
    my ($repo) = @_;
    my @l = grep { m{"?/v2/\Q$repo\E/manifests/} } split /\n/, $d->log;
    return scalar @l;
}

sub digest_upstream {
    my ($repo, $tag) = @_;
    my $r = HTTP::Tiny->new(timeout => 10)->request(HEAD =>
        $d->url . "/v2/$repo/manifests/$tag",
        { headers => { Accept => $ACCEPT } });
    return $r->{headers}{'docker-content-digest'};
}

sub pull_http {
    my ($name, $ref) = @_;
    my $t = $s->bearer(user => 'admin', pass => $admin->[1],
                       scope => "repository:$name:pull");
    return $s->http(GET => "/v2/$name/manifests/$ref", token => $t,
                    headers => ['Accept' => $ACCEPT]);
}

sub id_of { ($_[0]{headers}{location} // '') =~ m{(\d+)$} ? $1 : undef }


###############################################################################
# the project

my $r = $s->api(POST => '/registries', $admin, json => {
    name => 'up', url => $d->url, type => 'docker-registry' });
is($r->{status}, 201, 'registry endpoint up') or diag $r->{body};
my $rid = id_of($r);

$r = $s->api(POST => '/projects', $admin, json => {
    project_name => 'hub', registry_id => $rid + 0,
    metadata => { public => 'true' } });
is($r->{status}, 201, 'proxy cache project created') or diag $r->{body};

$r = $s->api(GET => '/projects/hub', $admin);
is($r->{json}{registry_id}, $rid, 'GET shows its registry_id');
is($s->api(GET => '/projects/library', $admin)->{json}{registry_id}, 0,
   'a plain project has registry_id 0');

$r = $s->api(POST => '/projects', $admin, json => {
    project_name => 'nosuch', registry_id => 999999 });
is($r->{status}, 400, 'an unknown registry is refused');
like($r->{json}{errors}[0]{message}, qr/registry 999999 not found/,
     'in words');

$s->create_user('dev', password => 'Dev-pass-12345');
$r = $s->api(POST => '/projects', ['dev', 'Dev-pass-12345'], json => {
    project_name => 'mine', registry_id => $rid + 0 });
is($r->{status}, 403, 'a user who is not an admin may not use a registry');
is($s->api(GET => '/projects/mine', $admin)->{status}, 404,
   'and no project was made');

is($s->api(DELETE => "/registries/$rid", $admin)->{status}, 412,
   'a registry a proxy cache uses is not deleted');


###############################################################################
# pulls

my $before = upstream_hits('library/app');
my $t0 = time;
Harbor::Clients::cmd_ok($c->skopeo('copy', '--src-tls-verify=false',
                  "docker://$host/hub/library/app:v1", "oci:$dir/out1:v1"),
       'first pull through the proxy cache');
note sprintf 'first pull (fetched): %.2f s', time - $t0;
ok(upstream_hits('library/app') > $before, 'it asked the upstream');

Harbor::Clients::layouts_same("$dir/src-v1", 'v1', "$dir/out1", 'v1',
                              'what arrived is the upstream image');

$r = pull_http('hub/library/app', 'v1');
is($r->{status}, 200, 'the manifest is served');
is($r->{headers}{'docker-content-digest'},
   digest_upstream('library/app', 'v1'), 'with the upstream digest');

$before = upstream_hits('library/app');
$t0 = time;
Harbor::Clients::cmd_ok($c->skopeo('copy', '--src-tls-verify=false',
                  "docker://$host/hub/library/app:v1", "oci:$dir/out1b:v1"),
       'the same pull again, with skopeo');
note sprintf 'second pull (cached): %.2f s', time - $t0;
Harbor::Clients::cmd_ok($c->podman('pull', '--tls-verify=false',
                  "$host/hub/library/app:v1"), 'second pull, with podman');
is(upstream_hits('library/app'), $before,
   'neither touched the upstream');

$s->sync;
$r = $s->api(GET => '/projects/hub/repositories', $admin);
is_deeply([ map { $_->{name} } @{ $r->{json} || [] } ],
          ['hub/library/app'], 'the fetched repository is listed');

# by digest, never fetched before
my $od = digest_upstream('library/other', 'v1');
$r = pull_http('hub/library/other', $od);
is($r->{status}, 200, 'a pull by digest fetches it');
is($r->{headers}{'docker-content-digest'}, $od, 'that digest');


###############################################################################
# refusals

$r = $c->skopeo('copy', '--dest-tls-verify=false',
                '--dest-creds', "admin:$admin->[1]", "oci:$dir/src-v1:v1",
                "docker://$host/hub/library/app:pushed");
ok(!$r->{ok}, 'a push to the proxy cache project is refused');
like($r->{out}, qr/proxy cache/, 'saying why');
my $tr = $s->token(user => 'admin', pass => $admin->[1],
                scope => 'repository:hub/library/app:pull,push');
is_deeply($tr->{claims}{access}[0]{actions}, ['pull'],
          'the token service grants pull only');
is(pull_http('hub/library/app', 'pushed')->{status}, 404,
   'nothing was pushed (nor exists upstream)');


###############################################################################
# the recheck interval, small

$s->authd->restart(conf => { 'authd.proxy_cache_recheck' => 1 });

# a tag moved upstream: fetched anew once its check is due
Harbor::Clients::cmd_ok($c->skopeo('copy', '--dest-tls-verify=false',
                  "oci:$dir/src-moved:v1", "docker://$up/library/app:v1"),
       'upstream moves app:v1');
my $moved = digest_upstream('library/app', 'v1');
my $got;
ok(Harbor::Authd::wait_for(20, sub {
    $got = pull_http('hub/library/app', 'v1')->{headers}
           {'docker-content-digest'} // '';
    return $got eq $moved;
}), 'the moved tag is fetched once it is due for a check')
    or diag "got $got, want $moved";

# an unchanged tag: one HEAD upstream, nothing copied
$before = upstream_hits('library/app');
ok(Harbor::Authd::wait_for(20, sub {
    pull_http('hub/library/app', 'v1');
    return upstream_hits('library/app') > $before;
}), 'an unchanged tag is asked for again after the interval');
is(pull_http('hub/library/app', 'v1')->{headers}{'docker-content-digest'},
   $moved, 'and served the same');


###############################################################################
# the upstream down

$d->stop;
Harbor::Clients::cmd_ok($c->skopeo('copy', '--src-tls-verify=false',
                  "docker://$host/hub/library/app:v1", "oci:$dir/out2:v1"),
       'upstream stopped: the cached tag still pulls');
Harbor::Clients::layouts_same("$dir/src-moved", 'v1', "$dir/out2", 'v1',
                              'the moved image');
$r = pull_http('hub/library/app', 'v1');
is($r->{status}, 200, 'again and again (the check is due each second)');

$r = pull_http('hub/library/app', 'never');
ok($r->{status} == 503 || $r->{status} == 404,
   'a tag never fetched: an error') or diag "$r->{status} $r->{body}";
like($r->{body}, qr/"errors":\[\{"code":"[A-Z_]+"/, 'in the registry\'s JSON');

$d->start;


###############################################################################
# the SSRF guard

is($s->api(PUT => '/configurations', $admin, json => {
    outbound_allowlist => '' })->{status}, 200, 'allowlist emptied');
$before = upstream_hits('library/other');
$r = pull_http('hub/library/other', 'v1');
isnt($r->{status}, 200, 'a loopback upstream is refused by the guard');
like($r->{body}, qr/"errors"/, 'with an error');
is(upstream_hits('library/other'), $before, 'the upstream was not reached');

$d->stop;
done_testing;
