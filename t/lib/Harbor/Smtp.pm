package Harbor::Smtp;

# A real SMTP server for a test: Debian's python3-aiosmtpd with its
# Mailbox handler (every message a file of a Maildir), on a free loopback
# port, the test's child, stopped at exit.
#
#   my $m = Harbor::Smtp->start;
#   $m->port;  $m->maildir;
#   my @mails = $m->wait_mails(2);     # the texts, oldest first
#   $m->pause; $m->resume;             # SIGSTOP / SIGCONT
#   $m->stop;

use strict;
use warnings;

use File::Temp qw(tempdir);
use IO::Socket::INET;

use Harbor::Authd;
use Harbor::Clients ();

my @running;

sub start {
    my ($class) = @_;

    die "python3-aiosmtpd is not installed: apt-get install python3-aiosmtpd\n"
        unless system('/usr/bin/python3', '-c', 'import aiosmtpd') == 0;

    my $dir = tempdir('hb-smtp-XXXXXX', TMPDIR => 1, CLEANUP => 1);
    my $self = bless {
        port    => Harbor::Clients::free_port(),
        maildir => "$dir/mail",
    }, $class;

    my $pid = fork // die "fork: $!";
    if ($pid == 0) {
        open STDOUT, '>', "$dir/smtp.log";
        open STDERR, '>&', \*STDOUT;
        # Debian's python, which sees Debian's python3-aiosmtpd
        exec '/usr/bin/python3', '-m', 'aiosmtpd', '-n',
             '-l', "127.0.0.1:$self->{port}",
             '-c', 'aiosmtpd.handlers.Mailbox', $self->{maildir};
        exit 127;
    }
    $self->{pid} = $pid;
    push @running, $self;

    Harbor::Authd::wait_for(20, sub {
        IO::Socket::INET->new(PeerAddr => '127.0.0.1',
                              PeerPort => $self->{port}, Proto => 'tcp');
    }) or die "aiosmtpd did not listen on $self->{port}\n";

    return $self;
}

sub port { $_[0]{port} }
sub maildir { $_[0]{maildir} }

sub files {
    my ($self) = @_;
    my @m = sort { (stat $a)[9] <=> (stat $b)[9] || $a cmp $b }
            glob("$self->{maildir}/new/*");
    return @m;
}

# the texts of the mails, oldest first, once there are at least n
sub wait_mails {
    my ($self, $n) = @_;
    Harbor::Authd::wait_for(20, sub { my @f = $self->files; @f >= $n });
    return map { Harbor::Clients::read_file($_) } $self->files;
}

sub pause { kill 'STOP', $_[0]{pid} }
sub resume { kill 'CONT', $_[0]{pid} }

sub stop {
    my ($self) = @_;
    my $pid = delete $self->{pid} or return;
    kill 'CONT', $pid;
    kill 'TERM', $pid;
    waitpid $pid, 0;
}

END { local $?; $_->stop for @running }

1;
