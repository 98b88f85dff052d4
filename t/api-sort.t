#!/usr/bin/perl

# One sort parser for every list of the API: hostile sort values (empty
# items, a lone "-", unknown keys, very long, non-ASCII, too many keys) are
# a 400 with Harbor's error body on every list that sorts, never a 500 or
# a database error; good values still sort.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use Test::More;

use Harbor::Test;
use Harbor::Api;

my $s = Harbor::Api->new;
my $admin = $s->admin;

$s->create_project('srt', public => 0);
my $tok = $s->bearer(user => 'admin', pass => $admin->[1],
                     scope => 'repository:srt/app:pull,push');
my $img = $s->push_image('srt/app', $tok, tag => 'v1');
ok($img->{ok}, 'an image pushed');
ok($s->sync, 'journal applied');

my $art = '/projects/srt/repositories/app/artifacts';

# every list that takes sort=, with one key it knows
my %lists = (
    '/users'                        => 'username',
    '/projects'                     => 'name',
    '/projects/srt/members'         => 'entity_name',
    '/repositories'                 => 'name',
    '/projects/srt/repositories'    => 'name',
    $art                            => 'digest',
    "$art/v1/tags"                  => 'name',
    '/audit-logs'                   => 'op_time',
    '/projects/srt/logs'            => 'op_time',
);

my @hostile = (',', '-', '--', 'KEY,,KEY', '-,', ',KEY', 'KEY,', '-,-',
               'x' x 4000, "\xc3\xa9t\xc3\xa9", 'KEY%00', 'no_such_key',
               'KEY,KEY,KEY,KEY,KEY', '%20KEY', 'KEY%20', '-%20KEY',
               'KEY;DROP', '%E2%80%AEKEY');

for my $path (sort keys %lists) {
    my $key = $lists{$path};

    my $r = $s->api(GET => "$path?sort=$key", $admin);
    is($r->{status}, 200, "$path sort=$key: 200");
    $r = $s->api(GET => "$path?sort=-$key", $admin);
    is($r->{status}, 200, "$path sort=-$key: 200");
    $r = $s->api(GET => "$path?sort=", $admin);
    is($r->{status}, 200, "$path sort= (empty): the default order");

    for my $h (@hostile) {
        (my $v = $h) =~ s/KEY/$key/g;
        my $esc = $v =~ /%/ ? $v : Harbor::Stack::uri_escape($v);
        my $name = length $v > 40 ? substr($v, 0, 20) . '...' : $v;

        $r = $s->api(GET => "$path?sort=$esc", $admin);
        is($r->{status}, 400, "$path sort=$name: 400");
        my $e = ref $r->{json} eq 'HASH' ? $r->{json}{errors}[0] : {};
        is($e->{code}, 'BAD_REQUEST', "$path sort=$name: Harbor's error body");
        like($e->{message} || '', qr/^sort: |^bad percent-encoding/,
             "$path sort=$name: says what sort takes");
    }
}

unlike($s->authd->log, qr/syntax error|ERROR:/,
       'no SQL error reached the database');

done_testing;
