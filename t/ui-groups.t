#!/usr/bin/perl

# LDAP user groups in the web UI (t/ui/groups.mjs), against a real slapd:
# the stack starts with auth_mode ldap_auth (no users besides admin);
# Administration > Groups adds a group found by a directory search and
# one by a typed DN, renames and deletes; a project's Members tab adds a
# group as developer, and alice, a directory user in it, logs in to the UI
# and sees the project with that role.  Then the API agrees: the group is a member with
# entity_type g, and its user may push there.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use Test::More;
use Harbor::Authd;
use Harbor::Ldap;
use Harbor::UI;

my $l = Harbor::Ldap->start;
$l->add_group('devs', 'alice');
$l->add_group('ops', 'bob');

my $ui = Harbor::UI->new(authd_conf => {
    auth_mode            => 'ldap_auth',
    ldap_url             => $l->url,
    ldap_search_dn       => $l->admin_dn,
    ldap_search_password => $l->admin_pw,
    ldap_base_dn         => $l->base,
    ldap_uid             => 'uid',
    ldap_timeout         => 3,
    ldap_group_base_dn   => $l->group_base,
    ldap_group_search_filter  => '(objectClass=groupOfNames)',
    ldap_group_attribute_name => 'cn',
});
my $s = $ui->stack;
$s->create_project('team');

$ui->run('t/ui/groups.mjs',
    UI_DEVS_DN  => $l->group_dn('devs'),
    UI_OPS_DN   => $l->group_dn('ops'),
    UI_PROJECT  => 'team',
    UI_ALICE_PW => $Harbor::Ldap::USERS{alice}[0]);

my $r = $s->api(GET => '/projects/team/members', $s->admin);
my ($g) = grep { $_->{entity_type} eq 'g' && $_->{entity_name} eq 'devs' }
          @{ $r->{json} || [] };
ok($g, 'the API lists devs as a group member of team');
is($g && $g->{role_id}, 2, 'as developer');

my %U = %Harbor::Ldap::USERS;
$r = $s->token(user => 'alice', pass => $U{alice}[0],
               scope => 'repository:team/app:pull,push');
is($r->{status}, 200, 'alice (in devs) gets a token');
is_deeply([ sort @{ Harbor::Authd::access_map($r->{claims})->{'team/app'} || [] } ],
          [qw(pull push)], 'with push on team: the group\'s developer role');

done_testing;
