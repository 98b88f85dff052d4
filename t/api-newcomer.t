#!/usr/bin/perl

# The issue's acceptance, as a newcomer does it: podman login and push,
# then with curl -u admin:Harbor12345: search, list the tags and the pull
# counts, delete a tag through the API, and find the delete in
# /audit-logs.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use JSON::PP ();
use Test::More;

use Harbor::Test;
use Harbor::Api;
use Harbor::Clients qw();

my $s = Harbor::Api->new(workers => 2);
my $host = $s->host;
my $dir = $s->dir;
my $c = $s->clients;
my $JSON = JSON::PP->new->utf8->canonical;
my $ADMIN = 'admin:Harbor12345';

sub cmd_ok { Harbor::Clients::cmd_ok(@_) }

sub curl {
    my (@args) = @_;
    my $r = cmd_ok(Harbor::Clients::run_cmd(['curl', '-sS', '-u', $ADMIN,
        @args]), "curl @args");
    return eval { $JSON->decode($r->{stdout}) } // $r->{stdout};
}

my $img = $c->mkimage("$dir/src", tag => 'v1', layers => '3k', seed => 'nc');

cmd_ok($c->podman('login', '--tls-verify=false', '-u', 'admin', '-p',
                  'Harbor12345', $host), 'podman login');
# an image in podman's storage (as "podman build" would leave it)
my $b = $c->base;
cmd_ok($c->skopeo('copy', "oci:$dir/src:v1",
                  "containers-storage:[vfs\@$b/root+$b/runroot]"
                  . 'localhost/hello:dev'), 'an image in podman');
my $id = 'localhost/hello:dev';

for my $tag ('1.0', 'latest') {
    cmd_ok($c->podman('push', '--tls-verify=false', $id,
                      "docker://$host/library/hello:$tag"),
           "podman push library/hello:$tag");
}
cmd_ok($c->podman('pull', '--tls-verify=false', "$host/library/hello:1.0"),
       'podman pull');

ok($s->sync, 'journal applied');

my $api = "http://$host/api/v2.0";

my $found = curl("$api/search?q=hello");
is_deeply([map { $_->{repository_name} } @{$found->{repository}}],
          ['library/hello'], 'search finds library/hello');
is($found->{repository}[0]{artifact_count}, 1, 'one artifact');

my $arts = curl("$api/projects/library/repositories/hello/artifacts");
my $a = $arts->[0];
is_deeply([sort map { $_->{name} } @{$a->{tags}}], ['1.0', 'latest'],
          'its tags');
cmp_ok($a->{pull_count}, '>=', 1, 'its pull count');
ok($a->{pull_time}, 'its pull time');

my $r = Harbor::Clients::run_cmd(['curl', '-sS', '-o', '/dev/null', '-w',
    '%{http_code}', '-u', $ADMIN, '-X', 'DELETE',
    "$api/projects/library/repositories/hello/artifacts/1.0/tags/1.0"]);
is($r->{stdout}, '200', 'curl -X DELETE the tag 1.0');

my $tags = curl("$api/projects/library/repositories/hello/artifacts/latest"
                . '/tags');
is_deeply([map { $_->{name} } @{$tags}], ['latest'], 'latest remains');
my $list = cmd_ok($c->skopeo('list-tags', '--tls-verify=false',
                             '--creds', $ADMIN,
                             "docker://$host/library/hello"), 'list-tags');
is_deeply(eval { $JSON->decode($list->{stdout})->{Tags} }, ['latest'],
          'the registry agrees');

ok($s->sync, 'applied');
my $logs = curl("$api/audit-logs?q=operation%3Ddelete");
is($logs->[0]{resource}, 'library/hello:1.0', 'the delete in /audit-logs');
is($logs->[0]{resource_type}, 'tag', 'of a tag');
is($logs->[0]{username}, 'admin', 'by admin');

$logs = curl("$api/audit-logs?q=operation%3Dlogin");
ok(@$logs >= 1, 'podman login is in the log too');

done_testing;
