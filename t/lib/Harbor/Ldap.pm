package Harbor::Ldap;

# A real OpenLDAP directory for a test: slapd, started as the test's own
# child in a temporary directory (slapd.conf, mdb backend), listening on
# ldap://127.0.0.1:PORT/ and on an ldapi socket, loaded with a base and a
# few users, waited for with ldapsearch under a deadline, stopped at exit.
#
#   my $l = Harbor::Ldap->start;
#   $l->url;                    # ldap://127.0.0.1:PORT
#   $l->base;                   # dc=example,dc=org
#   $l->admin_dn, $l->admin_pw  # the search DN and its password
#   $l->add_user('carol', password => 'C4rol!pw', mail => ..., cn => ...);
#   $l->binds('alice');         # binds as her entry seen so far
#   $l->add_group('devs', 'alice', 'bob');  # groupOfNames under ou=groups
#   $l->add_member('devs', 'eve'); $l->remove_member('devs', 'eve');
#   $l->user_dn('alice'), $l->group_dn('devs'), $l->group_base
#   $l->memberof('alice');      # her memberOf values (the overlay's)
#   $l->mark; $l->conns_since($mark)  # [ops] of each TCP connection since
#   $l->starttls_url            # ldap:// of a tls => 1 directory (StartTLS)
#   $l->pause; $l->resume;      # SIGSTOP (waited for) / SIGCONT
#   $l->stop;

use strict;
use warnings;

use File::Temp qw(tempdir);
use POSIX qw(WNOHANG);

use Harbor::Authd;
use Harbor::Clients ();

our $SLAPD = '/usr/sbin/slapd';
our $BASE = 'dc=example,dc=org';
our $ADMIN_DN = "cn=admin,$BASE";
our $ADMIN_PW = 'Dir3ctoryAdm!n';

my @running;

# the users every directory starts with: uid => [password, mail, cn]
our %USERS = (
    alice => ['Al1ce!secret', 'alice@example.org', 'Alice Liddell'],
    bob   => ['B0b!secret', 'bob@example.org', 'Bob Builder'],
    eve   => ['Ev3!secret', '', 'Eve NoMail'],
);

sub _ldapi_url {
    my $path = shift;
    (my $e = $path) =~ s/([^A-Za-z0-9._-])/sprintf('%%%02X', ord $1)/ge;
    return "ldapi://$e";
}

sub start {
    my ($class, %o) = @_;

    die "slapd is not installed: apt-get install slapd ldap-utils\n"
        unless -x $SLAPD;

    my $dir = tempdir('hb-ldap-XXXXXX', TMPDIR => 1, CLEANUP => 1);
    mkdir "$dir/db" or die "$dir/db: $!";

    my $self = bless {
        dir   => $dir,
        port  => Harbor::Clients::free_port(),
        ldapi => _ldapi_url("$dir/ldapi"),
    }, $class;

    # tls => 1: a test CA, a certificate for 127.0.0.1, and ldaps too
    my ($tls, $ldaps) = ('', '');
    if ($o{tls}) {
        $self->_make_ca;
        $self->{sport} = Harbor::Clients::free_port();
        $tls = "TLSCACertificateFile $dir/ca.pem\n"
             . "TLSCertificateFile $dir/server.pem\n"
             . "TLSCertificateKeyFile $dir/server.key\n";
        $ldaps = " ldaps://127.0.0.1:$self->{sport}/";
    }

    open my $f, '>', "$dir/slapd.conf" or die "$dir/slapd.conf: $!";
    print $f <<"EOF";
include /etc/ldap/schema/core.schema
include /etc/ldap/schema/cosine.schema
include /etc/ldap/schema/inetorgperson.schema
include /etc/ldap/schema/nis.schema
pidfile $dir/slapd.pid
${tls}modulepath /usr/lib/ldap
moduleload back_mdb
moduleload memberof
loglevel stats
database mdb
maxsize 16777216
suffix "$BASE"
rootdn "$ADMIN_DN"
rootpw $ADMIN_PW
directory $dir/db
overlay memberof
memberof-refint TRUE
access to attrs=userPassword by anonymous auth by self write by * none
access to * by * read
EOF
    close $f;

    my $ldif = "dn: $BASE\nobjectClass: dcObject\nobjectClass: organization\n"
             . "o: Example\ndc: example\n\n"
             . "dn: ou=people,$BASE\nobjectClass: organizationalUnit\n"
             . "ou: people\n\n"
             . "dn: ou=groups,$BASE\nobjectClass: organizationalUnit\n"
             . "ou: groups\n\n";
    for my $u (sort keys %USERS) {
        $ldif .= _user_ldif($u, @{$USERS{$u}});
    }
    open $f, '>', "$dir/base.ldif" or die "$dir/base.ldif: $!";
    print $f $ldif;
    close $f;

    my $out = qx{$SLAPD -T add -f $dir/slapd.conf -l $dir/base.ldif 2>&1};
    die "slapadd failed: $out" if $?;

    my $pid = fork // die "fork: $!";
    if ($pid == 0) {
        open STDIN, '<', '/dev/null';
        open STDOUT, '>>', "$dir/slapd.log";
        open STDERR, '>>', "$dir/slapd.log";
        # -d 256: in the foreground, as our child, so that we can stop it;
        # the operations (stats) logged to slapd.log
        exec $SLAPD, '-d', '256', '-f', "$dir/slapd.conf",
            '-h', "ldap://127.0.0.1:$self->{port}/$ldaps $self->{ldapi}";
        die "exec $SLAPD: $!";
    }
    $self->{pid} = $pid;
    push @running, $self;

    my $ok = Harbor::Authd::wait_for(30, sub {
        return 'exited' if waitpid($pid, WNOHANG) == $pid;
        return $self->search("(uid=alice)", 'uid') =~ /^uid: alice$/m;
    });
    die "slapd exited:\n" . $self->log if $ok && $ok eq 'exited';
    die "slapd did not answer within 30 seconds:\n" . $self->log unless $ok;

    return $self;
}

sub _user_ldif {
    my ($uid, $pw, $mail, $cn) = @_;
    my $l = "dn: uid=$uid,ou=people,$BASE\nobjectClass: inetOrgPerson\n"
          . "uid: $uid\ncn: $cn\nsn: $uid\nuserPassword: $pw\n";
    $l .= "mail: $mail\n" if length $mail;
    return "$l\n";
}

# a CA (ca.pem) and a certificate of it for 127.0.0.1; another CA
# (other-ca.pem) that did not sign it
sub _make_ca {
    my ($self) = @_;
    my $d = $self->{dir};
    for my $c (
        [qw(openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=test-ca),
         '-keyout', "$d/ca.key", '-out', "$d/ca.pem"],
        [qw(openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=other-ca),
         '-keyout', "$d/other-ca.key", '-out', "$d/other-ca.pem"],
        [qw(openssl req -newkey rsa:2048 -nodes -subj /CN=127.0.0.1),
         '-keyout', "$d/server.key", '-out', "$d/server.csr"],
    ) {
        my $out = _cmd(@$c);
        die "@$c: $out" if $?;
    }
    open my $f, '>', "$d/ext.cnf" or die "$d/ext.cnf: $!";
    print $f "subjectAltName = IP:127.0.0.1\n";
    close $f;
    my $out = _cmd(qw(openssl x509 -req -days 2 -CAcreateserial),
                   '-in', "$d/server.csr", '-CA', "$d/ca.pem", '-CAkey',
                   "$d/ca.key", '-extfile', "$d/ext.cnf", '-out',
                   "$d/server.pem");
    die "openssl x509: $out" if $?;
}

sub ldaps_url { "ldaps://127.0.0.1:$_[0]{sport}" }
sub starttls_url { "ldap://127.0.0.1:$_[0]{port}" }
sub user_dn { "uid=$_[1],ou=people,$BASE" }
sub group_dn { "cn=$_[1],ou=groups,$BASE" }
sub group_base { "ou=groups,$BASE" }
sub ca_file { "$_[0]{dir}/ca.pem" }
sub other_ca_file { "$_[0]{dir}/other-ca.pem" }
sub url { "ldap://127.0.0.1:$_[0]{port}" }
sub port { $_[0]{port} }
sub base { $BASE }
sub admin_dn { $ADMIN_DN }
sub admin_pw { $ADMIN_PW }
sub pid { $_[0]{pid} }

# a command without a shell: its output and error, $? set
sub _cmd {
    my @cmd = @_;
    my $pid = open(my $fh, '-|') // die "fork: $!";
    if ($pid == 0) {
        open STDERR, '>&', \*STDOUT;
        exec @cmd;
        exit 127;
    }
    local $/;
    my $out = <$fh>;
    close $fh;
    return $out // '';
}

# ldapsearch over ldapi as the admin DN, bounded: its LDIF output
sub search {
    my ($self, $filter, @attrs) = @_;
    return _cmd('timeout', '5', 'ldapsearch', '-LLL', '-o', 'nettimeout=3',
                '-l', '3', '-x', '-H', $self->{ldapi}, '-D', $ADMIN_DN,
                '-w', $ADMIN_PW, '-b', $BASE, $filter, @attrs);
}

# a user more, through ldapadd over ldapi
sub add_user {
    my ($self, $uid, %o) = @_;
    my $file = "$self->{dir}/add-$uid.ldif";
    open my $f, '>', $file or die "$file: $!";
    print $f _user_ldif($uid, $o{password}, $o{mail} // '',
                        $o{cn} // $uid);
    close $f;
    my $out = _cmd('timeout', '10', 'ldapadd', '-x', '-H', $self->{ldapi},
                   '-D', $ADMIN_DN, '-w', $ADMIN_PW, '-f', $file);
    die "ldapadd $uid failed: $out" if $?;
}

# an LDIF change through ldapmodify over ldapi as the admin DN
sub modify {
    my ($self, $ldif) = @_;
    my $file = "$self->{dir}/mod-" . ++$self->{nmod} . '.ldif';
    open my $f, '>', $file or die "$file: $!";
    print $f $ldif;
    close $f;
    my $out = _cmd('timeout', '10', 'ldapmodify', '-x', '-H', $self->{ldapi},
                   '-D', $ADMIN_DN, '-w', $ADMIN_PW, '-f', $file);
    die "ldapmodify failed: $out\n$ldif" if $?;
}

# a groupOfNames; the admin DN is a member too, so that taking the last
# user out leaves the group valid
sub add_group {
    my ($self, $cn, @uids) = @_;
    my @m = ($ADMIN_DN, map { $self->user_dn($_) } @uids);
    $self->modify("dn: " . $self->group_dn($cn) . "\nchangetype: add\n"
                  . "objectClass: groupOfNames\ncn: $cn\n"
                  . join('', map { "member: $_\n" } @m));
}

sub add_member {
    my ($self, $cn, $uid) = @_;
    $self->modify("dn: " . $self->group_dn($cn) . "\nchangetype: modify\n"
                  . "add: member\nmember: " . $self->user_dn($uid) . "\n");
}

sub remove_member {
    my ($self, $cn, $uid) = @_;
    $self->modify("dn: " . $self->group_dn($cn) . "\nchangetype: modify\n"
                  . "delete: member\nmember: " . $self->user_dn($uid)
                  . "\n");
}

# the memberOf values of uid's entry, as the overlay keeps them
sub memberof {
    my ($self, $uid) = @_;
    my $out = $self->search("(uid=$uid)", 'memberOf');
    return sort map { /^memberOf: (.*)$/i ? lc $1 : () } split /\n/, $out;
}

# a position in slapd's log, for conns_since
sub mark { length $_[0]->log }

# the operations (BIND, SRCH, UNBIND, EXT...) of each connection over TCP
# accepted after mark, in order: [[ops of the first], ...]
sub conns_since {
    my ($self, $mark) = @_;
    my $log = substr($self->log, $mark);
    my (%tcp, %ops, %seen, @order);
    # two passes: a worker thread may log an operation before the listener
    # logs the connection's ACCEPT
    for (split /\n/, $log) {
        push @order, $1 if /conn=(\d+) fd=\d+ ACCEPT from IP=/ && !$tcp{$1}++;
    }
    for (split /\n/, $log) {
        if (/conn=(\d+) op=(\d+) (BIND|SRCH|UNBIND|EXT|MOD|ADD|DEL)\b/) {
            # an operation logs several lines: its first names it
            push @{$ops{$1}}, $3 if $tcp{$1} && !$seen{"$1/$2"}++;
        }
    }
    return [map { $ops{$_} // [] } @order];
}

# how many binds as uid's entry slapd has seen (its stats log)
sub binds {
    my ($self, $uid) = @_;
    my @b = $self->log =~ /BIND dn="uid=\Q$uid\E,[^"]*" method=/g;
    return scalar @b;
}

# SIGSTOP, and wait until every thread of slapd is stopped
sub pause {
    my ($self) = @_;
    kill 'STOP', $self->{pid} or die "SIGSTOP slapd: $!";
    Harbor::Authd::wait_for(10, sub {
        open my $st, '<', "/proc/$self->{pid}/status" or return 0;
        return grep { /^State:\s+T/ } <$st>;
    }) or die "slapd did not stop within 10 seconds\n";
}

sub resume { kill 'CONT', $_[0]{pid} or die "SIGCONT slapd: $!" }

sub log {
    my ($self) = @_;
    open my $f, '<', "$self->{dir}/slapd.log" or return '';
    local $/;
    return scalar <$f>;
}

sub stop {
    my ($self) = @_;
    my $pid = delete $self->{pid} or return;
    kill 'CONT', $pid;
    kill 'TERM', $pid;
    my $gone = Harbor::Authd::wait_for(20, sub {
        waitpid($pid, WNOHANG) == $pid });
    unless ($gone) {
        kill 'KILL', $pid;
        waitpid($pid, 0);
    }
}

sub DESTROY { $_[0]->stop if $_[0]{pid} }

END {
    for my $l (@running) {
        local $?;
        $l->stop if $l->{pid};
    }
}

1;
