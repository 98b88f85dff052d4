package Harbor::Strace;

# strace(1) on running workers and all their threads, to tell what a
# worker's event loop (its main thread: the worker's pid) does from what
# its thread pool does.
#
#   my $s = Harbor::Strace->start($t, 'getdents64,openat', @workers);
#   ... requests ...
#   my @lines = $s->stop;    # "<tid> call(args) = ..." lines

use strict;
use warnings;

use Time::HiRes qw(sleep time);

my $N = 0;

sub start {
    my ($class, $t, $calls, @pids) = @_;

    my $out = $t->dir . '/strace.' . ++$N;
    my $err = "$out.err";

    my $pid = fork() // die "fork: $!";
    if ($pid == 0) {
        open STDERR, '>', $err or die "$err: $!";
        exec('strace', '-f', '-e', "trace=$calls", '-o', $out,
             map { ('-p', $_) } @pids) or die "exec strace: $!";
    }

    # attached to every process: strace says so on its stderr
    my $deadline = time + 30;
    while (time < $deadline) {
        last if (() = $t->read_file($err) =~ /Process \d+ attached/g)
                >= @pids;
        sleep 0.05;
    }

    return bless { t => $t, pid => $pid, out => $out }, $class;
}

sub stop {
    my ($self) = @_;
    kill 'INT', $self->{pid};
    waitpid($self->{pid}, 0);
    return split /\n/, $self->{t}->read_file($self->{out});
}

1;
