#!/usr/bin/perl

# Directory users and groups as a newcomer meets them, through nginx with
# skopeo and podman (login, pull): an LDAP group made developer of a private project lets its
# member push there (and the image comes back); someone outside the group
# is refused with the reason; the member taken out of the group in the
# directory is refused at the next token after the credential cache's
# lifetime.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use Test::More;

use Harbor::Test;
use Harbor::Stack;
use Harbor::Clients qw();
use Harbor::Ldap;

my $TTL = 3;

my $l = Harbor::Ldap->start;
$l->add_group('builders', 'alice');

my $s = Harbor::Stack->new(workers => 2, authd_conf => {
    auth_mode            => 'ldap_auth',
    ldap_url             => $l->url,
    ldap_search_dn       => $l->admin_dn,
    ldap_search_password => $l->admin_pw,
    ldap_base_dn         => $l->base,
    ldap_timeout         => 3,
    ldap_group_base_dn   => $l->group_base,
    'authd.credential_cache_ttl' => $TTL,
});
my $host = $s->host;
my %U = %Harbor::Ldap::USERS;

my $cl = $s->clients;
my $src = $s->dir . '/src';
$cl->mkimage($src, tag => 'v1', layers => '3k', seed => 7);
my $src_digest = Harbor::Clients::layout_ref($src, 'v1');

my @tls = ('--src-tls-verify=false', '--dest-tls-verify=false');

sub push_as {
    my ($user, $dest) = @_;
    return $cl->skopeo('copy', @tls, '--dest-creds',
                       "$user:$U{$user}[0]", "oci:$src:v1",
                       "docker://$host/$dest");
}

$s->create_project('builds', public => 0);
my $r = $s->api(POST => '/usergroups', $s->admin, json => {
    group_type => 1, ldap_group_dn => $l->group_dn('builders') });
is($r->{status}, 201, 'the directory group builders is known')
    or diag $r->{body};
$r = $s->api(POST => '/projects/builds/members', $s->admin, json => {
    role_id => 2, member_group => { group_name => 'builders' } });
is($r->{status}, 201, 'and developer of the private project builds');

Harbor::Clients::cmd_ok(push_as('alice', 'builds/app:v1'),
                        'alice (in builders) pushes with skopeo');
my $back = $s->dir . '/back';
Harbor::Clients::cmd_ok($cl->skopeo('copy', @tls, '--src-creds',
    "alice:$U{alice}[0]", "docker://$host/builds/app:v1", "oci:$back:v1"),
    'and pulls it back');
is(Harbor::Clients::layout_ref($back, 'v1'), $src_digest,
   'the image pushed');

# podman: a directory user logs in and pulls what the group may
Harbor::Clients::cmd_ok($cl->podman('login', '--tls-verify=false',
    '-u', 'alice', '-p', $U{alice}[0], $host),
    'alice logs in with podman (directory credentials)');
Harbor::Clients::cmd_ok($cl->podman('pull', '--tls-verify=false',
    "$host/builds/app:v1"), 'and pulls with podman');
my $wrong = $cl->podman('login', '--tls-verify=false', '-u', 'alice',
                        '-p', 'not-her-password', $host);
ok(!$wrong->{ok}, 'podman login with a wrong directory password: refused');

my $p = push_as('bob', 'builds/app:v2');
ok(!$p->{ok}, 'bob (not in builders) is refused');
like($p->{out}, qr/denied|unauthorized|not authorized/i,
     'skopeo says why') or diag $p->{out};

$l->remove_member('builders', 'alice');
ok(Harbor::Authd::wait_for($TTL + 15, sub {
    my $t = $s->token(user => 'alice', pass => $U{alice}[0],
                      scope => 'repository:builds/app:push,pull');
    $t->{status} == 200
        && !@{Harbor::Authd::access_map($t->{claims})->{'builds/app'} // []};
}), 'out of builders: no access at a token after the cache lifetime');
$p = push_as('alice', 'builds/app:v3');
ok(!$p->{ok}, 'and skopeo push is refused');

$s->stop;
$l->stop;
done_testing;
