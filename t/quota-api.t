#!/usr/bin/perl

# Storage quotas through Harbor's API: storage_limit on project create
# and update (-1 unlimited; negative, zero, absurd or not a number: 400
# in Harbor's error JSON; only system administrators set one: 403);
# GET /quotas with reference/reference_id filters, sort and paging
# (X-Total-Count, Link); GET/PUT /quotas/{id} for system administrators
# only (401 anonymous, 403 a project admin, 404 unknown or a deleted
# project's); the project summary; and the QUOTA_WARNING (85%) and
# QUOTA_EXCEED webhooks with Harbor's payload.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use IO::Socket::INET;
use JSON::PP ();
use POSIX ();
use Test::More;

use Harbor::Test;
use Harbor::Api;
use Harbor::Authd ();

my $s = Harbor::Api->new(workers => 2);
my $admin = $s->admin;
my $pw = 'Passw0rd!';
my $JSON = JSON::PP->new->utf8->canonical;

$s->create_user($_) for qw(owner-a owner-b);
my %c = map { ($_ => [$_, $pw]) } qw(owner-a owner-b);

sub err_code {
    my ($r) = @_;
    my $j = eval { $JSON->decode($r->{body}) } || {};
    return ref $j->{errors} eq 'ARRAY' ? $j->{errors}[0]{code} // '' : '';
}

sub create {
    my ($name, $limit, $cred) = @_;
    return $s->api(POST => '/projects', $cred // $admin, json => {
        project_name => $name, metadata => { public => 'false' },
        defined $limit ? (storage_limit => $limit) : () });
}

# ------------------------------------------------------------- create

for my $bad ([-2, 'negative'], [0, 'zero'], [2**62, 'absurd'],
             ['ten', 'not a number'], [1.5, 'not an integer'])
{
    my $r = create('qbad', $bad->[0]);
    is($r->{status}, 400, "storage_limit $bad->[1]: 400");
    is(err_code($r), 'BAD_REQUEST', "$bad->[1]: Harbor's error JSON");
}
is($s->api(HEAD => '/projects?project_name=qbad', $admin)->{status}, 404,
   'no project made by them');

is(create('qa', 100000)->{status}, 201, 'a limit of 100000');
is(create('qb', undef)->{status}, 201, 'no limit given: unlimited');
is(create('qc', -1)->{status}, 201, '-1: unlimited');
is(create('qd', 1)->{status}, 201, 'a limit of 1 byte');
$s->add_member('qa', 'owner-a', 1);
$s->add_member('qb', 'owner-b', 1);

my $r = create('qown', 5000, $c{'owner-a'});
is($r->{status}, 403, 'a user sets no limit on create');
is(create('qown', -1, $c{'owner-a'})->{status}, 201,
   'but creates a project without one');

my %pid = map { ($_ => $s->api(GET => "/projects/$_", $admin)
                          ->{json}{project_id}) } qw(qa qb qc qd qown);

# ------------------------------------------------------------- list

is($s->api(GET => '/quotas', undef)->{status}, 401, 'anonymous list: 401');
is($s->api(GET => '/quotas', $c{'owner-a'})->{status}, 403,
   'a project admin lists none: 403');

$r = $s->api(GET => '/quotas?page_size=100', $admin);
is($r->{status}, 200, 'the list');
my %q = map { ($_->{ref}{name} => $_) } @{$r->{json}};
is($q{qa}{hard}{storage}, 100000, 'qa: its limit');
is($q{qb}{hard}{storage}, -1, 'qb: unlimited');
is($q{qa}{used}{storage}, 0, 'qa: nothing used');
is($q{qa}{ref}{id}, $pid{qa}, 'ref.id is the project id');
is($q{qown}{ref}{owner_name}, 'owner-a', 'ref.owner_name');
like($q{qa}{creation_time}, qr/^\d{4}-\d\d-\d\dT[\d:.]+Z$/, 'creation_time');
ok(defined $q{qa}{update_time}, 'update_time');
is($r->{headers}{'x-total-count'}, scalar(keys %q), 'X-Total-Count');

$r = $s->api(GET => '/quotas?page=1&page_size=2', $admin);
is(scalar @{$r->{json}}, 2, 'a page of 2');
like($r->{headers}{link} // '', qr/rel="next"/, 'Link to the next');

$r = $s->api(GET => "/quotas?reference=project&reference_id=$pid{qa}",
             $admin);
is_deeply([map { $_->{ref}{name} } @{$r->{json}}], ['qa'],
          'reference_id filters');
is($s->api(GET => "/quotas?reference=robot", $admin)->{headers}
     {'x-total-count'}, 0, 'another kind of reference: none');
is($s->api(GET => '/quotas?reference_id=x', $admin)->{status}, 400,
   'reference_id not an id: 400');

$r = $s->api(GET => '/quotas?sort=-hard.storage&page_size=100', $admin);
is($r->{json}[0]{ref}{name}, 'qa', 'sort=-hard.storage: the largest first');
is($s->api(GET => '/quotas?sort=nope', $admin)->{status}, 400,
   'an unknown sort key: 400');

# ------------------------------------------------------------- one

my $qa = $q{qa}{id};
my $qb = $q{qb}{id};
is($s->api(GET => "/quotas/$qa", undef)->{status}, 401, 'anonymous: 401');
is($s->api(GET => "/quotas/$qa", $c{'owner-a'})->{status}, 403,
   'its project admin: 403 (as Harbor: quotas are the system admins\')');
is($s->api(GET => "/quotas/$qb", $c{'owner-a'})->{status}, 403,
   'another project\'s: 403 too, nothing told');
is($s->api(GET => "/quotas/$qa", $admin)->{json}{ref}{name}, 'qa',
   'a system admin reads it');
is($s->api(GET => '/quotas/99999', $admin)->{status}, 404, 'unknown: 404');
is($s->api(GET => '/quotas/x1', $admin)->{status}, 404, 'not an id: 404');

for my $bad ([{ hard => { storage => -5 } }, 'negative'],
             [{ hard => { storage => 2**61 } }, 'absurd'],
             [{ hard => { storage => 'big' } }, 'a string'],
             [{ hard => {} }, 'no storage'],
             [{ storage => 5 }, 'no hard'],
             [[5], 'not an object'])
{
    $r = $s->api(PUT => "/quotas/$qa", $admin, json => $bad->[0]);
    is($r->{status}, 400, "PUT $bad->[1]: 400");
    is(err_code($r), 'BAD_REQUEST', "PUT $bad->[1]: Harbor's error JSON");
}
is($s->api(GET => "/quotas/$qa", $admin)->{json}{hard}{storage}, 100000,
   'the limit unchanged by them');

$r = $s->api(PUT => "/quotas/$qb", $c{'owner-b'},
             json => { hard => { storage => 5 } });
is($r->{status}, 403, 'its project admin sets no limit: 403');
is(err_code($r), 'FORBIDDEN', "Harbor's error JSON");
is($s->api(PUT => "/quotas/$qb", $c{'owner-a'},
           json => { hard => { storage => 5 } })->{status}, 403,
   'another project\'s admin: 403');
is($s->api(GET => "/quotas/$qb", $admin)->{json}{hard}{storage}, -1,
   'qb unchanged');
ok(!-e $s->storage . '/_policies/quota/qb', 'and no file for it');

is($s->api(PUT => "/quotas/$qb", $admin,
           json => { hard => { storage => 7340032 } })->{status}, 200,
   'a system admin sets it');
is($s->api(GET => '/projects/qb/summary', $c{'owner-b'})->{json}{quota}{hard}
     {storage}, 7340032, 'the summary shows it to the project');
like($s->t->read_file($s->storage . '/_policies/quota/qb'),
     qr/^7340032 0 \d+\n\z/, 'the module\'s file');

# ------------------------------------------------------ project update

is($s->api(PUT => "/projects/$pid{qb}", $c{'owner-b'},
           json => { storage_limit => 9 })->{status}, 403,
   'PUT /projects storage_limit by its admin: 403');
is($s->api(PUT => "/projects/$pid{qb}", $admin,
           json => { storage_limit => -7 })->{status}, 400,
   'PUT /projects storage_limit -7: 400');
is($s->api(PUT => "/projects/$pid{qb}", $admin,
           json => { storage_limit => -1 })->{status}, 200,
   'PUT /projects storage_limit -1 by a system admin');
is($s->api(GET => "/quotas/$qb", $admin)->{json}{hard}{storage}, -1,
   'unlimited again');
ok(!-e $s->storage . '/_policies/quota/qb', 'its file gone');
is($s->api(PUT => "/projects/$pid{qb}", $c{'owner-b'},
           json => { metadata => { public => 'true' } })->{status}, 200,
   'its admin still updates the rest');

# ------------------------------------------------------ deleted project

$r = $s->api(DELETE => "/projects/$pid{qd}", $admin);
is($r->{status}, 200, 'qd deleted');
is($s->api(GET => "/quotas/$q{qd}{id}", $admin)->{status}, 404,
   'its quota: 404');
ok(!-e $s->storage . '/_policies/quota/qd', 'its file gone');

# ------------------------------------------------------ webhooks

# a sink: each body POSTed to it, one line of a file
my $log = $s->dir . '/quota-sink.log';
my $listen = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => 0,
                                   Listen => 4) or die "sink: $!";
my $sink = fork // die "fork: $!";
if ($sink == 0) {
    while (my $conn = $listen->accept) {
        my ($head, $len) = ('', 0);
        $head .= $_ while defined($_ = <$conn>) && $_ ne "\r\n";
        $len = $1 if $head =~ /^content-length:\s*(\d+)/mi;
        read($conn, my $body, $len);
        open(my $f, '>>', $log) or die;
        print $f ($body // ''), "\n";
        close $f;
        print $conn "HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n";
    }
    POSIX::_exit(0);
}
END { local $?; if ($sink) { kill 'KILL', $sink; waitpid($sink, 0) } }

sub bodies {
    open(my $f, '<', $log) or return ();
    return map { eval { $JSON->decode($_) } || {} } <$f>;
}

sub types { map { $_->{type} // () } bodies() }

is($s->api(PUT => '/configurations', $admin,
           json => { outbound_allowlist => '127.0.0.1/32' })->{status}, 200,
   'the sink allowed');
$r = $s->api(POST => '/projects/qa/webhook/policies', $admin, json => {
    name => 'quota', enabled => JSON::PP::true,
    event_types => ['QUOTA_EXCEED', 'QUOTA_WARNING'],
    targets => [{ type => 'http', address => 'http://127.0.0.1:' . $listen->sockport . '/q',
                  skip_cert_verify => JSON::PP::false }] });
is($r->{status}, 201, 'a policy for the quota events');

my $tok = $s->bearer(user => 'admin', pass => $admin->[1],
                     scope => 'repository:qa/app:pull,push');
ok($s->push_image('qa/app', $tok, tag => 'v1', layer => 'w' x 86000)->{ok},
   'a push to 86% of the limit');
$s->sync;
ok(Harbor::Authd::wait_for(30, sub { grep { $_ eq 'QUOTA_WARNING' } types() }),
   'QUOTA_WARNING sent');
ok(!$s->push_image('qa/app', $tok, tag => 'v2', layer => 'x' x 20000)->{ok},
   'a push past the limit refused');
$s->sync;
ok(Harbor::Authd::wait_for(30, sub { grep { $_ eq 'QUOTA_EXCEED' } types() }),
   'QUOTA_EXCEED sent');

my ($exceed) = grep { ($_->{type} // '') eq 'QUOTA_EXCEED' }
               bodies();
is($exceed->{operator}, 'admin', 'its operator');
is($exceed->{event_data}{repository}{repo_full_name}, 'qa/app',
   'its repository');
is($exceed->{event_data}{repository}{namespace}, 'qa', 'its namespace');
like($exceed->{event_data}{resources}[0]{digest}, qr/^sha256:/,
     'the refused manifest');
like($exceed->{event_data}{custom_attributes}{Details}, qr/quota exceeded/,
     'Harbor\'s words');
is(scalar(grep { $_ eq 'QUOTA_WARNING' } types()), 1, 'one warning only');

$s->t->check_alerts;
done_testing;
