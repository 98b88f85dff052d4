#!/usr/bin/perl

# authd backup / authd restore: images pushed with skopeo, a backup taken
# (pg_dump of the database, the store with its blobs hard-linked, the
# keys), restored into a fresh stack (a new PostgreSQL database, a new
# store, the same keys): every image pulls with skopeo, byte for byte, and
# the API lists the same projects, repositories, artifacts and tags.  A
# restore refuses a database or a store that is not new, a backup that is
# not complete, and a key of another installation; a backup refuses to run
# while a garbage collection holds its lock.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use Fcntl qw(:flock);
use File::Path qw(remove_tree make_path);
use Test::More;
use POSIX ();

use Harbor::Test;
use Harbor::Api;
use Harbor::Clients;

my $AUTHD = $Harbor::Authd::AUTHD;
my $PW = $Harbor::Stack::ADMIN_PASSWORD;

my $s = Harbor::Api->new(workers => 2);
my $host = $s->host;
my $cl = $s->clients;
my @tls = ('--src-tls-verify=false', '--dest-tls-verify=false');

$s->create_project('ops', public => 0);

my %src;
$src{a} = $s->dir . '/src-a';
$src{b} = $s->dir . '/src-b';
$cl->mkimage($src{a}, tag => 'v1', layers => '3k,200k', seed => 1);
$cl->mkimage($src{b}, tag => 'v1', layers => '5k', seed => 2);
my %pushed = (
    'library/app:v1'    => 'a',
    'ops/web:v1'        => 'a',
    'ops/web:v2'        => 'b',
    'ops/team/tool:v1'  => 'b',
);
for my $ref (sort keys %pushed) {
    Harbor::Clients::cmd_ok($cl->skopeo('copy', @tls, '--dest-creds',
        "admin:$PW", "oci:$src{$pushed{$ref}}:v1", "docker://$host/$ref"),
        "push $ref");
}
ok($s->sync, 'the journal is applied');

# what the API lists, as text
sub listing {
    my ($st) = @_;
    my @out;
    my $projects = $st->api(GET => '/projects?page_size=100', $st->admin)->{json};
    for my $p (sort { $a->{name} cmp $b->{name} } @$projects) {
        push @out, "project $p->{name} public=$p->{metadata}{public}";
        my $repos = $st->api(GET => "/projects/$p->{name}/repositories"
                             . '?page_size=100', $st->admin)->{json};
        for my $r (sort { $a->{name} cmp $b->{name} } @$repos) {
            push @out, "  repository $r->{name} $r->{artifact_count}";
            (my $rn = $r->{name}) =~ s{^\Q$p->{name}\E/}{};
            my $arts = $st->api(GET => "/projects/$p->{name}/repositories/"
                                . $st->rp($rn) . '/artifacts?page_size=100'
                                . '&with_tag=true', $st->admin)->{json};
            for my $a (sort { $a->{digest} cmp $b->{digest} } @$arts) {
                push @out, "    artifact $a->{digest} $a->{size} tags="
                    . join(',', sort map { $_->{name} } @{$a->{tags} || []});
            }
        }
    }
    return join "\n", @out, '';
}

my $before = listing($s);
like($before, qr/repository ops\/team\/tool 1/, 'the listing has the images');
my $snap = $s->snapshot(no_counts => 1);

# a garbage collection running: no backup meanwhile
my $bk = $s->dir . '/backup';
my $lockf = $s->storage . '/_gc/lock';
make_path($s->storage . '/_gc');
open my $lock, '>>', $lockf or die "$lockf: $!";
flock($lock, LOCK_EX) or die "flock: $!";
my $out = qx{$AUTHD backup -f @{[$s->authd->conf_file]} $bk 2>&1};
isnt($? >> 8, 0, 'no backup while the collector holds its lock');
like($out, qr/garbage collection is running/, 'and it says why');
close $lock;
remove_tree($bk);

# the backup
$out = qx{$AUTHD backup -f @{[$s->authd->conf_file]} $bk 2>&1};
is($? >> 8, 0, 'authd backup') or diag $out;
like($out, qr/backup: .* \d+ files \((\d+) linked/, 'it says what it took');
ok(-s "$bk/registry.dump", 'a database dump');
ok(-f "$bk/backup.json", 'its description, written last');
ok(-f "$bk/keys/private_key.pem" && -f "$bk/keys/root.crt"
   && -f "$bk/keys/secretkey", 'the keys');
is((stat "$bk/keys/private_key.pem")[2] & 0777, 0600, 'the key kept private');
my @files = Harbor::Test::files_under(undef, "$bk/registry");
my @data = map { "$bk/registry/$_" } grep { m{/blobs/.*/data$} } @files;
ok(@data >= 5, 'the blobs are in the backup');
is(scalar(grep { (stat $_)[3] > 1 } @data), scalar @data,
   'every blob is a hard link, not a copy');
ok(!grep(m{/_uploads/}, @files),
   'uploads in progress are left out');

# a push after the backup: not in it
Harbor::Clients::cmd_ok($cl->skopeo('copy', @tls, '--dest-creds',
    "admin:$PW", "oci:$src{b}:v1", "docker://$host/ops/late:v1"),
    'a push after the backup');

# a fresh stack: a new database, a new store, its own keys moved away
my $s2 = Harbor::Api->new(workers => 2);
my $a2 = $s2->authd;
$a2->stop;
my $conf2 = $a2->conf_file;

$out = qx{$AUTHD restore -f $conf2 $s->{t}{dir}/nothing 2>&1};
isnt($? >> 8, 0, 'restore of a directory that is no backup: refused');
like($out, qr/not a complete backup/, 'and it says why');

$out = qx{$AUTHD restore -f $conf2 $bk 2>&1};
isnt($? >> 8, 0, 'restore onto a store in use: refused');
like($out, qr/must be empty or absent/, 'it says the store must be new');

remove_tree($s2->storage);
$out = qx{$AUTHD restore -f $conf2 $bk 2>&1};
isnt($? >> 8, 0, 'a key of another installation: refused');
like($out, qr/exists and is not the backup's/, 'and named') or diag $out;
ok(!-e $s2->storage, 'nothing was written');

remove_tree($a2->dir . '/token');      # a new installation: no key yet
$out = qx{$AUTHD restore -f $conf2 $bk 2>&1};
isnt($? >> 8, 0, 'restore into a database in use: refused');
like($out, qr/create it empty/, 'it says the database must be new')
    or diag $out;
ok(!-e $s2->storage && !-e $a2->key_file, 'nothing was written');

$s2->pg->psql('DROP DATABASE registry', 'postgres');
$s2->pg->psql('CREATE DATABASE registry', 'postgres');

# While root restores, a process of the store's owner (nginx's user) swaps
# the store's first directory, as soon as it can rename it, for a symlink
# to a directory of its own.  Nothing of the store may be that user's until
# the copy under it is whole: the copy goes undisturbed and nothing lands
# in that directory.  (Once
# the store is handed over, the owner may break it as it likes: this
# restore's own result is not what is checked, a clean one follows.)
my $owner = (stat "$bk/registry")[4];
my $bait = $s2->dir . '/bait';
mkdir $bait or die "$bait: $!";
chown $owner, -1, $bait;
my $swapper = fork // die "fork: $!";
if ($swapper == 0) {
    alarm 120;                  # never outlives a test that died
    $> = $< = $owner;
    my $d = $s2->storage . '/docker';
    while (1) {
        rename($d, "$d.x") and symlink($bait, $d);
    }
}
$out = qx{$AUTHD restore -f $conf2 $bk 2>&1};
kill 'KILL', $swapper;
waitpid($swapper, 0);
like($out, qr/copying the store/, 'a restore with a swapper running');
my ($copying) = $out =~ /(copying the store.*?)(?:restored |\z)/s;
unlike($copying // '', qr/warn: /, 'the copy was not disturbed') or diag $out;
opendir(my $bd, $bait) or die "$bait: $!";
is(join(' ', grep { !/^\.\.?$/ } readdir $bd), '',
   'nothing was written through a symlink the store\'s owner planted');

remove_tree($s2->storage, $a2->dir . '/token');
$s2->pg->psql('DROP DATABASE registry', 'postgres');
$s2->pg->psql('CREATE DATABASE registry', 'postgres');
$out = qx{$AUTHD restore -f $conf2 $bk 2>&1};
is($? >> 8, 0, 'authd restore') or diag $out;
like($out, qr/restore: .*files/, 'it says what it restored');
like($out, qr/reindex: 3 repositories/, 'and reindexes the store')
    or diag $out;
is(slurp($a2->key_file), slurp($s->authd->key_file), 'the same token key');

$a2->restart;
$s2->{t}->restart;          # nginx reads the restored certificate
my $host2 = $s2->host;

is(listing($s2), $before, 'the API lists the same projects, repositories, '
   . 'artifacts and tags');
is_deeply($s2->snapshot(no_counts => 1), $snap, 'the same tables');

for my $ref (sort keys %pushed) {
    my $dst = $s2->dir . "/pull-" . ($ref =~ tr{/:}{__}r);
    Harbor::Clients::cmd_ok($cl->skopeo('copy', @tls, '--src-creds',
        "admin:$PW", "docker://$host2/$ref", "oci:$dst:v1"), "pull $ref");
    is(Harbor::Clients::layout_ref($dst, 'v1'),
       Harbor::Clients::layout_ref($src{$pushed{$ref}}, 'v1'),
       "$ref is the image pushed");
}

my $r = $cl->skopeo('inspect', '--tls-verify=false', '--creds', "admin:$PW",
                    "docker://$host2/ops/late:v1");
ok(!$r->{ok}, 'what was pushed after the backup is not there');

# and the restored stack takes pushes
Harbor::Clients::cmd_ok($cl->skopeo('copy', @tls, '--dest-creds',
    "admin:$PW", "oci:$src{a}:v1", "docker://$host2/ops/new:v1"),
    'the restored registry takes a push');

# a second restore onto the now used store is refused
$out = qx{$AUTHD restore -f $conf2 $bk 2>&1};
isnt($? >> 8, 0, 'restore onto a used store: refused');

sub slurp {
    open my $f, '<', $_[0] or return undef;
    local $/;
    return scalar <$f>;
}

$s2->stop;
$s->stop;

done_testing;
