#!/usr/bin/perl

# A DELETE of a manifest by digest racing a PUT of a tag onto the same
# manifest, on two workers, never leaves the tag pointing at a removed
# revision: after every round, if the tag exists, it pulls the manifest's
# bytes (docs/gc.md, "DELETE by digest and tag PUT").  First with the
# delete's unlink(2)s made slow (t/lib/fault.c), which holds the window
# between its look at the tags and its removals open for the PUT, then as
# a plain race.

use warnings;
use strict;

use FindBin;
use lib "$FindBin::Bin/lib";

use POSIX qw(_exit);
use Test::More;
use Time::HiRes qw(sleep);
use Harbor::Test qw(:all);
use Harbor::Fault;

###############################################################################

sub rounds {
    my ($t, $n, $put_delay, $label) = @_;

    my $img = $t->make_image('race/d', undef);
    my $d = $img->{digest};
    my $tag_link = $t->v2root . '/repositories/race/d/_manifests/tags/t/current/link';
    my ($bad, $tagged, $deleted) = (0, 0, 0);

    for my $i (1 .. $n) {
        my $r = $t->push_manifest('race/d', $d, $img->{manifest},
                                  MT_OCI_MANIFEST);
        die "setup: $r->{status}" unless $r->{status} == 201;

        pipe(my $rd, my $wr) or die "pipe: $!";
        my $pid = fork() // die "fork: $!";

        if ($pid == 0) {
            close $rd;
            sleep($put_delay * rand()) if $put_delay;
            my $p = $t->push_manifest('race/d', 't', $img->{manifest},
                                      MT_OCI_MANIFEST);
            print $wr "$p->{status}\n";
            close $wr;
            _exit(0);
        }

        close $wr;
        my $del = $t->http(DELETE => "/v2/race/d/manifests/$d");
        my $put = <$rd> // '';
        chomp $put;
        close $rd;
        waitpid($pid, 0);

        $bad++, diag("$label $i: PUT $put") unless $put eq '201';
        $bad++, diag("$label $i: DELETE $del->{status}")
            unless $del->{status} == 202 || $del->{status} == 404;
        $deleted++ if $del->{status} == 202;

        if (-e $tag_link) {
            $tagged++;
            my $g = $t->http(GET => '/v2/race/d/manifests/t');
            $bad++, diag("$label $i: the tag is there, GET $g->{status}")
                unless $g->{status} == 200 && sha256($g->{body}) eq $d;
            $t->http(DELETE => '/v2/race/d/manifests/t');
        }
    }

    is($bad, 0, "$label: $n rounds, every tag left pulls the manifest");
    note("$label: $tagged rounds ended tagged, $deleted deletes took it");
}

# the window held open

my %env = Harbor::Fault::env(HARBOR_FAULT_SLOW_UNLINK => '/_manifests/revisions/',
                             HARBOR_FAULT_DELAY => 300);
my $t = Harbor::Test->new;
{
    local @ENV{keys %env} = values %env;
    $t->run(workers => 2);
}
rounds($t, 20, 0.05, 'slow unlink');
ok((grep { /delayed/ } Harbor::Fault::injected($t)),
    'the deletes were slowed');
$t->stop;

# a plain race

$t = Harbor::Test->new;
$t->run(workers => 2);
rounds($t, 150, 0.01, 'plain');
$t->stop;

done_testing();
