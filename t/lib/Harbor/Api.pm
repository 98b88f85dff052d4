package Harbor::Api;

# Harbor::Stack with authd reading the module's journal: PostgreSQL, authd
# and nginx with the module in token mode, authd configured with
# authd.journal, authd.registry_storage and authd.registry_url (the
# nginx of the stack), as conf/instance.sh sets them up.
#
#   my $s = Harbor::Api->new;
#   my $tok = $s->bearer(user => 'admin', pass => ..., scope => ...);
#   ... push through /v2 ...
#   $s->sync;                       # the journal is applied
#   my $r = $s->api(GET => '/projects/library/repositories', $s->admin);
#
# new(%opt)          Harbor::Stack's options; authd_conf adds authd keys
# sync(timeout)      wait until authd's checkpoint is at the end of the
#                    journal (and stays there a moment); 1 if it is
# lines()            the journal's lines, decoded
# snapshot(no_counts => 1)
#                    what the tables hold, as text, for comparisons:
#                    repositories, artifacts, references, tags, blobs (ids
#                    and times left out; pull counts too with no_counts)
# reindex(cred)      POST /system/reindex and wait for it to end; the last
#                    GET /system/reindex answer
# kill_authd()       SIGKILL authd; start_authd() starts it again
# rp($name)          a repository name as Harbor's clients put it in a path
#                    (encoded twice: a/b -> a%252Fb)
# push_raw($repo, $ref, $token, manifest => {...}, blobs => [bytes...])
#                    blobs, then the manifest (OCI unless media_type =>)
# psql($sql)         PostgreSQL of the stack

use strict;
use warnings;

use parent -norequire, 'Harbor::Stack';

use Carp qw(croak);
use Digest::SHA qw(sha256_hex);
use JSON::PP ();
use Time::HiRes qw(time sleep);

use Harbor::Stack;
use Harbor::Authd;

my $JSON = JSON::PP->new->utf8->canonical->allow_nonref;


sub new {
    my ($class, %opt) = @_;

    my $self = Harbor::Stack::new($class, %opt);

    # the journal, storage and /v2 of this stack's nginx, known only now
    $self->authd->restart(conf => {
        'authd.journal'          => $self->journal,
        'authd.registry_storage' => $self->storage,
        'authd.registry_url'     => $self->url,
        %{$opt{authd_conf} || {}},
    });

    return $self;
}


sub psql { $_[0]->pg->psql($_[1]) }


sub offset {
    my ($self) = @_;
    my $o = eval { $self->psql('SELECT byte_offset FROM journal_checkpoint'
                               . ' WHERE id = 1') };
    return -1 unless defined $o;
    return length $o ? $o : 0;
}


sub sync {
    my ($self, $timeout) = @_;
    $timeout ||= 30;

    my $stable = 0;
    my $until = time + $timeout;

    while (time < $until) {
        my $size = -s $self->journal;
        $size = 0 unless defined $size;

        if ($self->offset == $size) {
            return 1 if ++$stable >= 3;
        } else {
            $stable = 0;
        }

        sleep 0.05;
    }

    Test::More::diag('journal not applied: checkpoint ' . $self->offset
                     . ' of ' . (-s $self->journal // 0) . " bytes\n"
                     . $self->authd->log);
    return 0;
}


sub lines {
    my ($self) = @_;
    return $self->t->journal_events;
}


sub snapshot {
    my ($self, %o) = @_;

    my %s;
    my $count = $o{no_counts} ? "'-'" : 'r.pull_count';
    my $acount = $o{no_counts} ? "'-'" : 'a.pull_count';

    $s{repositories} = $self->psql(
        "SELECT r.name || ' ' || COALESCE(p.name, '-') || ' '"
        . " || $count FROM repository r"
        . " LEFT JOIN projects p ON p.project_id = r.project_id"
        . " ORDER BY r.name");

    $s{artifacts} = $self->psql(
        "SELECT concat_ws(' ', r.name, a.digest, a.type, a.media_type,"
        . " a.manifest_media_type, a.artifact_type, a.size, $acount,"
        . " a.subject_digest, a.annotations::text, a.extra_attrs::text)"
        . " FROM artifact a JOIN repository r USING (repository_id)"
        . " ORDER BY r.name, a.digest");

    $s{references} = $self->psql(
        "SELECT concat_ws(' ', r.name, p.digest, ar.child_digest,"
        . " ar.platform::text) FROM artifact_reference ar"
        . " JOIN artifact p ON p.id = ar.parent_id"
        . " JOIN repository r ON r.repository_id = p.repository_id"
        . " ORDER BY 1");

    $s{tags} = $self->psql(
        "SELECT concat_ws(' ', r.name, t.name, a.digest) FROM tag t"
        . " JOIN artifact a ON a.id = t.artifact_id"
        . " JOIN repository r ON r.repository_id = t.repository_id"
        . " ORDER BY 1");

    $s{blobs} = $self->psql(
        "SELECT concat_ws(' ', r.name, a.digest, b.digest, b.size)"
        . " FROM artifact_blob b JOIN artifact a ON a.id = b.artifact_id"
        . " JOIN repository r USING (repository_id) ORDER BY 1");

    return \%s;
}


sub reindex {
    my ($self, $cred) = @_;
    $cred ||= $self->admin;

    my $r = $self->api(POST => '/system/reindex', $cred);
    return $r unless $r->{status} == 202;

    my $last;
    Harbor::Authd::wait_for(60, sub {
        $last = $self->api(GET => '/system/reindex', $cred);
        return $last->{json} && $last->{json}{status} ne 'running';
    });

    return $last;
}


# SIGKILL authd (no cleanup of its own), and start it again when asked
sub kill_authd {
    my ($self) = @_;
    my $a = $self->authd;
    my $pid = $a->pid or return;

    kill 'KILL', $pid;
    waitpid($pid, 0);
    delete $a->{pid};
}


sub start_authd {
    my ($self) = @_;
    $self->authd->restart;
}


sub rp {
    my ($self, $name) = @_;
    $name =~ s{/}{%252F}g;
    return $name;
}


sub push_raw {
    my ($self, $repo, $ref, $token, %o) = @_;

    for my $blob (@{$o{blobs} || []}) {
        my $d = 'sha256:' . sha256_hex($blob);
        my $r = $self->http(POST => "/v2/$repo/blobs/uploads/?digest=$d",
            token => $token, body => $blob,
            headers => ['Content-Type' => 'application/octet-stream']);
        croak "blob $d to $repo: $r->{status} $r->{body}"
            unless $r->{status} == 201;
    }

    my $body = ref $o{manifest} ? $JSON->encode($o{manifest}) : $o{manifest};
    my $mt = $o{media_type} || Harbor::Test::MT_OCI_MANIFEST();
    my $digest = 'sha256:' . sha256_hex($body);

    my $r = $self->http(PUT => "/v2/$repo/manifests/"
                               . (defined $ref ? $ref : $digest),
        token => $token, body => $body, headers => ['Content-Type' => $mt]);

    return { digest => $digest, manifest => $body, size => length $body,
             media_type => $mt, response => $r };
}


1;
