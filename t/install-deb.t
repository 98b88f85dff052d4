#!/usr/bin/perl

# The Debian packages, as an admin meets them (docs/install.md): built with
# dpkg-buildpackage (make deb, or build/deb when newer than the sources),
# checked by lintian, installed with dpkg into this machine's nginx next to
# an existing site; authd from its package against a PostgreSQL of its own,
# ready by sd_notify; push and pull with skopeo through the system nginx;
# a garbage collection through the API with the packaged permissions
# (nginx's workers as www-data, authd as harbor; nginx's umask 022), the
# store's owners and modes, a backup as root; then the include taken out and the packages removed: the other site
# still answers, nothing of ours is left but the configuration and the
# data, and purge removes those too.  The machine is left as it was.
#
# Needs root (dpkg): fails, does not skip, without it.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use Test::More;
use File::Path qw(make_path remove_tree);
use File::Temp qw(tempdir);
use HTTP::Tiny;
use IO::Select;
use IO::Socket::UNIX;
use POSIX qw(WNOHANG);
use Socket qw(SOCK_DGRAM);

use Harbor::Authd;
use Harbor::Clients;

my $ROOT = $Harbor::Authd::ROOT;
my @PKGS = qw(libnginx-mod-http-harbor ngx-harbor-authd ngx-harbor-ui);
my $NGINX = '/usr/sbin/nginx';
my $AUTHD = '/usr/sbin/ngx-harbor-authd';
my $CONF = '/etc/harbor/authd.yml';

if ($> != 0) {
    fail('t/install-deb.t installs packages with dpkg: run it as root');
    done_testing;
    exit 1;
}

sub sh {
    my ($cmd) = @_;
    my $out = qx{$cmd 2>&1};
    return ($? == 0, $out);
}

sub installed {
    my ($pkg) = @_;
    my $s = qx{dpkg-query -W -f='\${db:Status-Status}' $pkg 2>/dev/null};
    return $? == 0 && $s ne 'not-installed';
}

# a package of ours already here is an admin's: not ours to remove
my @here = grep { installed($_) } @PKGS;
if (@here || -e '/etc/harbor' || -e '/var/lib/harbor') {
    fail("this machine already has ngx-harbor installed (@here, /etc/harbor"
         . " or /var/lib/harbor): remove it before running this test");
    done_testing;
    exit 1;
}

my $dir = tempdir('hb-deb-XXXXXX', TMPDIR => 1,
                  CLEANUP => !$ENV{HARBOR_TEST_KEEP});
chmod 0755, $dir;

# what is in /etc/nginx before: the same after purge
sub etc_nginx { join "\n", sort split /\n/, qx{find /etc/nginx | sort} }
my $etc_before = etc_nginx();
my $run_harbor_before = -e '/run/harbor';


# 1. The packages: rebuilt when a source file is newer than them.

my $deb = "$ROOT/build/deb";
my ($changes) = glob("$deb/*.changes");
my $newest = 0;
for my $f (split /\0/, qx{cd $ROOT && git ls-files -z --cached --others --exclude-standard}) {
    my $m = (stat "$ROOT/$f")[9];
    $newest = $m if defined $m && $m > $newest;
}
if (!$changes || (stat $changes)[9] < $newest) {
    # a build of its own, whatever the make that runs the suite was told
    # (SANITIZE=1 reaches sub-makes through MAKEFLAGS)
    my ($ok, $out) = sh("env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL"
                        . " make -s -C $ROOT deb NO_LINTIAN=1");
    ok($ok, 'make deb builds the packages') or diag($out);
    ($changes) = glob("$deb/*.changes");
}
my @debs = map { (glob("$deb/${_}_*.deb"))[0] } @PKGS;
if (!is(scalar(grep { defined && -f } @debs), 3, 'three binary packages')) {
    done_testing;
    exit 1;
}

my ($lint_ok, $lint) = sh("lintian --fail-on error,warning $changes");
ok($lint_ok, 'lintian: no error, no warning') or diag($lint);

my $dep = qx{dpkg-deb -f $debs[0] Depends};
like($dep, qr/\bnginx-abi-[\d.]+-\d+\b/,
     'the module depends on the nginx ABI it was built against');


# make install puts the same files where the packages do (their
# /usr/share/doc and lintian's overrides aside, the manual page not
# compressed); make uninstall takes them away but for /etc.

sub tree {
    my ($d) = @_;
    return [ sort map { s{^\Q$d\E}{}r } split /\n/, qx{find $d -type f -o -type l} ];
}
my @pkg_files;
for my $d (@debs) {
    remove_tree("$dir/x");
    system("dpkg-deb -x $d $dir/x") == 0 or die "dpkg-deb -x $d";
    push @pkg_files, map { s{^(/usr/share/man/.*)\.gz$}{$1}r }
        grep { !m{^/usr/share/(?:doc|lintian)/} } @{ tree("$dir/x") };
}
remove_tree("$dir/x");
my $MI = "make -s -C $ROOT DESTDIR=$dir/dest PREFIX=/usr"
    . " SYSTEMDDIR=/lib/systemd/system";
my ($ok, $out) = sh("$MI install");
ok($ok, 'make install DESTDIR=... PREFIX=/usr') or diag($out);
is_deeply(tree("$dir/dest"), [ sort @pkg_files ],
          'make install: the files of the packages');
is(Harbor::Clients::read_file(
       "$dir/dest/usr/share/nginx/modules-available/mod-http-harbor.conf"),
   "load_module /usr/lib/nginx/modules/ngx_http_harbor_module.so;\n",
   'its load_module line');
($ok, $out) = sh("$MI uninstall");
ok($ok, 'make uninstall') or diag($out);
is_deeply([ grep { !m{^/etc/} } @{ tree("$dir/dest") } ], [],
          'make uninstall: what is in /etc stays, nothing else');
remove_tree("$dir/dest");


# 2. Installed with dpkg.

my @cleanup;        # run at the end, whatever happened
push @cleanup, sub {
    my @left = grep { installed($_) } @PKGS;
    system("dpkg --purge @left >/dev/null 2>&1") if @left;
};

($ok, $out) = sh("dpkg -i @debs");
ok($ok, 'dpkg -i installs the three packages') or diag($out);

is(readlink('/etc/nginx/modules-enabled/50-mod-http-harbor.conf'),
   '/usr/share/nginx/modules-available/mod-http-harbor.conf',
   'the module is enabled as Debian enables its nginx modules');
ok(-f '/usr/lib/nginx/modules/ngx_http_harbor_module.so', 'module .so');
ok(-x $AUTHD, 'authd');
ok(-f '/usr/share/ngx-harbor/ui/index.html', 'the UI');
ok(-f '/lib/systemd/system/ngx-harbor-authd.service', 'the systemd unit');
like(qx{cat /lib/systemd/system/ngx-harbor-authd.service},
     qr/^Type=notify$/m, 'Type=notify');
ok(-f '/etc/logrotate.d/ngx-harbor-authd', 'the logrotate snippet');
ok(defined getpwnam('harbor'), 'user harbor');

my @st = stat $CONF;
is(sprintf('%04o %s', $st[2] & 07777, scalar getgrgid($st[5])),
   '0640 harbor', "$CONF: 0640 root:harbor");
is((getpwuid((stat '/var/lib/harbor')[4]))[0], 'harbor',
   '/var/lib/harbor belongs to harbor');


# 3. authd from the package, on the packaged configuration with what an
# admin changes (docs/install.md): the database, the registry's address.

my $pg = Harbor::Authd::Pg->start;
my $port = Harbor::Clients::free_port();
my $other_port = Harbor::Clients::free_port();

my $yml = do { local (@ARGV, $/) = $CONF; <> };
my $host = $pg->host;
$yml =~ s{^hostname: .*}{hostname: 127.0.0.1:$port}m;
$yml =~ s{^  host: /var/run/postgresql}{  host: $host}m;
$yml =~ s{^  # registry_url: \S+}{  registry_url: http://127.0.0.1:$port}m;
$yml =~ s{^  # gc_window: \d+}{  gc_window: 0}m;
open my $fh, '>', $CONF or die "$CONF: $!";
print $fh $yml;
close $fh;

# authd is started as the unit says (there is no systemd here to do it)
my $unit = Harbor::Clients::read_file(
    '/lib/systemd/system/ngx-harbor-authd.service');
($ok, $out) = sh('systemd-analyze verify --man=no'
                 . ' /lib/systemd/system/ngx-harbor-authd.service');
ok($ok && $out eq '', 'systemd-analyze verify: the unit is sound')
    or diag($out);
my ($pre) = $unit =~ /^ExecStartPre=(.+)$/m;
my ($start) = $unit =~ /^ExecStart=(.+)$/m;
my %as = map { $_ => ($unit =~ /^$_=(\S+)$/m)[0] }
             qw(User Group SupplementaryGroups);
my @setpriv = ('setpriv', "--reuid=$as{User}", "--regid=$as{Group}",
               "--groups=$as{SupplementaryGroups}", '--');
($ok, $out) = sh("@setpriv $pre");
ok($ok, "ExecStartPre ($pre) accepts the configuration") or diag($out);

# what systemd does for the unit: the runtime directory, its user, a
# notify socket
make_path('/run/harbor', { mode => 0755 });
chown scalar getpwnam($as{User}), scalar getgrnam($as{Group}), '/run/harbor';
push @cleanup, sub { remove_tree('/run/harbor') unless $run_harbor_before };

my $notify_path = "$dir/notify";
my $notify = IO::Socket::UNIX->new(Type => SOCK_DGRAM, Local => $notify_path)
    or die "notify socket: $!";
chmod 0777, $notify_path;       # as systemd's: authd is not root

my $authd_pid = fork // die "fork: $!";
if ($authd_pid == 0) {
    $ENV{NOTIFY_SOCKET} = $notify_path;
    open STDOUT, '>>', "$dir/authd.log";
    open STDERR, '>&', \*STDOUT;
    exec @setpriv, split ' ', $start;
    exit 127;
}
push @cleanup, sub {
    kill 'TERM', $authd_pid;
    Harbor::Authd::wait_for(10, sub { waitpid($authd_pid, WNOHANG) != 0 })
        or kill 'KILL', $authd_pid;
};

my $ready = '';
my $sel = IO::Select->new($notify);
Harbor::Authd::wait_for(60, sub {
    while ($sel->can_read(0.05)) {
        my $m;
        $notify->recv($m, 4096);
        $ready .= "$m\n";
    }
    return $ready =~ /^READY=1$/m || waitpid($authd_pid, WNOHANG) != 0;
});
like($ready, qr/^READY=1$/m, 'authd tells systemd it is ready (sd_notify)')
    or diag(qx{cat $dir/authd.log});
ok(-S '/run/harbor/authd.sock', 'its socket is /run/harbor/authd.sock');
is(scalar getgrgid((stat '/run/harbor/authd.sock')[5]), 'www-data',
   'in the group of nginx\'s workers');
is((getpwuid((stat '/var/lib/harbor/token/private_key.pem')[4]))[0],
   'harbor', 'the token key it made is its own (the GC worker reads it)');


# 4. The system nginx, with Debian's layout: an existing site, and the
# registry's server block with the one include.

make_path("$dir/other", "$dir/tmp");
Harbor::Clients::write_file("$dir/other/index.html", "the other site\n");
my (undef, undef, $wuid, $wgid) = getpwnam('www-data');
chown $wuid, $wgid, "$dir/tmp";

sub write_nginx_conf {
    my ($with_harbor) = @_;
    my $harbor = $with_harbor ? <<SRV : '';
    server {
        listen       127.0.0.1:$port;
        server_name  _;

        include /etc/nginx/snippets/harbor.conf;
    }
SRV
    Harbor::Clients::write_file("$dir/nginx.conf", <<CONF);
user www-data;
worker_processes 2;
pid $dir/nginx.pid;
error_log $dir/error.log;
include /etc/nginx/modules-enabled/*.conf;

events {
    worker_connections 768;
}

http {
    include /etc/nginx/mime.types;
    default_type application/octet-stream;
    access_log $dir/access.log;
    client_body_temp_path $dir/tmp/body;
    proxy_temp_path $dir/tmp/proxy;
    fastcgi_temp_path $dir/tmp/fastcgi;
    uwsgi_temp_path $dir/tmp/uwsgi;
    scgi_temp_path $dir/tmp/scgi;

    include /etc/nginx/conf.d/*.conf;

    server {
        listen  127.0.0.1:$other_port;
        root    $dir/other;
    }

$harbor}
CONF
}

sub get {
    my ($p, $path) = @_;
    return Harbor::Clients::http_get("http://127.0.0.1:$p$path");
}

write_nginx_conf(1);
($ok, $out) = sh("$NGINX -t -c $dir/nginx.conf");
ok($ok, 'nginx -t with the include') or diag($out);
umask 022;          # systemd's default for nginx.service
($ok, $out) = sh("$NGINX -c $dir/nginx.conf");
ok($ok, 'the system nginx starts') or diag($out);
push @cleanup, sub {
    my $pid = qx{cat $dir/nginx.pid 2>/dev/null};
    chomp $pid;
    return unless $pid;
    kill 'QUIT', $pid;
    Harbor::Authd::wait_for(10, sub { !kill 0, $pid }) or kill 'KILL', $pid;
};

ok(Harbor::Authd::wait_for(10, sub {
       (get($port, '/api/v2.0/ping')->{status} // 0) == 200 }),
   'the registry answers through nginx');
is(get($other_port, '/')->{content}, "the other site\n", 'the other site too');
like(get($port, '/')->{content}, qr/<html/i, 'the UI at /');
is(get($port, '/v2/')->{status}, 401, '/v2/ asks for a token');


# 5. Push and pull with skopeo.

my $c = Harbor::Clients->new($dir);
$c->mkimage("$dir/src", tag => 'v1', layers => '1k,3M', seed => 'deb');
my $ref = "docker://127.0.0.1:$port/library/app:v1";
Harbor::Clients::cmd_ok($c->skopeo('copy', '--dest-tls-verify=false',
    '--dest-creds', 'admin:Harbor12345', "oci:$dir/src:v1", $ref), 'push');
Harbor::Clients::cmd_ok($c->skopeo('copy', '--src-tls-verify=false',
    '--src-creds', 'admin:Harbor12345', $ref, "oci:$dir/back:v1"), 'pull');
Harbor::Clients::layouts_same("$dir/src", 'v1', "$dir/back", 'v1',
                              'what came back is what went');
ok(Harbor::Authd::wait_for(20, sub {
       my $r = Harbor::Clients::http_get(
           "http://admin:Harbor12345\@127.0.0.1:$port"
           . '/api/v2.0/projects/library/repositories');
       ($r->{content} // '') =~ m{"name":"library/app"} }),
   'authd read the push from the journal');


# 5b. Garbage collection from the API with the packaged permissions:
# nginx's workers (www-data) wrote the store, authd's collector (harbor)
# removes from it (docs/install.md, "Files and permissions").

my $STORE = '/var/lib/harbor/registry';
my $V2 = "$STORE/docker/registry/v2";

sub api {
    my ($method, $path, $body) = @_;
    my $r = HTTP::Tiny->new(timeout => 30)->request($method,
        "http://admin:Harbor12345\@127.0.0.1:$port/api/v2.0$path",
        { headers => { 'Content-Type' => 'application/json' },
          defined $body ? (content => Harbor::Authd::json()->encode($body))
                        : () });
    $r->{json} = eval { Harbor::Authd::json()->decode($r->{content}) };
    return $r;
}

sub blob_data {
    my ($digest) = @_;
    my $hex = substr($digest, 7);
    return "$V2/blobs/sha256/" . substr($hex, 0, 2) . "/$hex/data";
}

$c->mkimage("$dir/src2", tag => 'v2', layers => '2k,1M', seed => 'deb-2');
Harbor::Clients::cmd_ok($c->skopeo('copy', '--dest-tls-verify=false',
    '--dest-creds', 'admin:Harbor12345', "oci:$dir/src2:v2",
    "docker://127.0.0.1:$port/library/app:v2"), 'push a second tag');
my @keep = Harbor::Clients::layout_closure("$dir/src",
    Harbor::Clients::layout_ref("$dir/src", 'v1'));
my %keep = map { $_ => 1 } @keep;
my @drop = grep { !$keep{$_} } Harbor::Clients::layout_closure("$dir/src2",
    Harbor::Clients::layout_ref("$dir/src2", 'v2'));
is(scalar(@drop), 4, 'its manifest, config and two layers are its own');
is_deeply([ grep { !-f blob_data($_) } @keep, @drop ], [],
          'every blob of both is in the store');

ok(Harbor::Authd::wait_for(20, sub {
       (api(GET => '/projects/library/repositories/app/artifacts/v2')
            ->{status} // 0) == 200 }),
   'authd read the second push');
my $r = api(DELETE => '/projects/library/repositories/app/artifacts/v2');
is($r->{status}, 200, 'the API deletes the second tag\'s artifact')
    or diag($r->{content});

# gc_window is 0: blobs written before the run's second are candidates
my $written = 0;
for (@drop) {
    my $m = (stat blob_data($_))[9] // 0;
    $written = $m if $m > $written;
}
Harbor::Authd::wait_for(5, sub { time > $written });

# a manual run through the API, to its end: its job_status
sub run_gc {
    my $r = api(POST => '/system/gc/schedule', {
        schedule => { type => 'Manual' },
        parameters => { delete_untagged => JSON::PP::true() } });
    is($r->{status}, 201, 'a garbage collection starts from the API')
        or diag($r->{content});
    my ($id) = ($r->{headers}{location} // '') =~ m{/system/gc/(\d+)$};
    my $gc;
    Harbor::Authd::wait_for(60, sub {
        $gc = api(GET => "/system/gc/$id")->{json};
        return $gc && ($gc->{job_status} // '') =~ /^(Success|Error|Stopped)$/;
    });
    diag(api(GET => "/system/gc/$id/log")->{content})
        unless $gc && $gc->{job_status} eq 'Success';
    return $gc && $gc->{job_status};
}

is(run_gc(), 'Success', 'it succeeds as authd\'s user');
is_deeply([ grep { -e blob_data($_) } @drop ], [],
          'the deleted artifact\'s blobs are gone');
is_deeply([ grep { !-f blob_data($_) } @keep ], [], 'the kept ones are not');

remove_tree("$dir/back");
Harbor::Clients::cmd_ok($c->skopeo('copy', '--src-tls-verify=false',
    '--src-creds', 'admin:Harbor12345', $ref, "oci:$dir/back:v1"),
    'the kept image pulls after the collection');
Harbor::Clients::layouts_same("$dir/src", 'v1', "$dir/back", 'v1',
                              'whole and unchanged');

# owners and modes: as docs/install.md says
sub mode_of {
    my ($p) = @_;
    my @s = lstat $p or return "$p: missing";
    return sprintf('%s:%s %04o', scalar getpwuid($s[4]),
                   scalar getgrgid($s[5]), $s[2] & 07777);
}
is(mode_of($STORE), 'www-data:harbor 2770', "$STORE: www-data:harbor 2770");
is(qx{getfacl -cdp $STORE}, "user::rwx\ngroup::rwx\nother::---\n\n",
   'with a default ACL that gives its group write, whatever the umask');
my (%dirs, %files);
my @todo = ("$STORE/docker");
while (defined(my $d = shift @todo)) {
    $dirs{mode_of($d)}++;
    opendir my $dh, $d or die "$d: $!";
    for (grep { !/^\.\.?$/ } readdir $dh) {
        -d "$d/$_" && !-l "$d/$_" ? push @todo, "$d/$_"
                                  : $files{mode_of("$d/$_")}++;
    }
}
is_deeply([ keys %dirs ], [ 'www-data:harbor 2770' ],
          'every directory nginx made: www-data:harbor 2770');
is_deeply([ grep { !/^www-data:harbor 06[46]0$/ } keys %files ], [],
          'every file: www-data:harbor 0640 or 0660 (blobs)');
ok($files{'www-data:harbor 0640'} && $files{'www-data:harbor 0660'},
   'both kinds are there');
is(mode_of("$STORE/_gc"), 'harbor:harbor 2750',
   'the collector\'s directory is its own');
is(mode_of("$STORE/_tmp"), 'www-data:harbor 2700',
   'nginx\'s directory of request bodies is nginx\'s');

# a reindex reads the whole store as authd's user
$r = api(POST => '/system/reindex');
is($r->{status}, 202, 'a reindex starts from the API') or diag($r->{content});
my $ri;
Harbor::Authd::wait_for(60, sub {
    $ri = api(GET => '/system/reindex')->{json};
    return $ri && ($ri->{status} // '') =~ /^(done|failed)$/;
});
ok($ri && $ri->{status} eq 'done' && $ri->{stats}{errors} == 0
   && $ri->{stats}{artifacts} == 1, 'it reads the store, one artifact')
    or diag(Harbor::Authd::json()->encode($ri));

# a backup as root (docs/install.md): pg_dump as harbor, the store read
# as root; the collector still runs after it, also when the backup made
# the collector's directory (none had run yet)
remove_tree("$STORE/_gc");
($ok, $out) = sh("$AUTHD backup -f $CONF $dir/backup");
ok($ok && -f "$dir/backup/backup.json" && -d "$dir/backup/registry/docker",
   'a backup as root') or diag($out);
is(mode_of("$STORE/_gc"), 'harbor:harbor 2750',
   'the collector\'s directory, made by the backup, is authd\'s');
is(run_gc(), 'Success', 'a collection after the backup');


# 6. The admin takes the include out, removes the packages and reloads.

write_nginx_conf(0);
($ok, $out) = sh("$NGINX -t -c $dir/nginx.conf");
ok($ok, 'nginx -t without the include') or diag($out);
kill 'TERM', $authd_pid;
ok(Harbor::Authd::wait_for(10, sub { waitpid($authd_pid, WNOHANG) != 0 }),
   'authd stops on TERM');
while ($sel->can_read(0.05)) {
    my $m;
    $notify->recv($m, 4096);
    $ready .= "$m\n";
}
like($ready, qr/^STOPPING=1$/m, 'and says so to systemd');

($ok, $out) = sh("dpkg --remove @PKGS");
ok($ok, 'dpkg --remove') or diag($out);

($ok, $out) = sh("$NGINX -t -c $dir/nginx.conf");
ok($ok, 'nginx -t after the removal') or diag($out);
($ok, $out) = sh("$NGINX -s reload -c $dir/nginx.conf");
ok($ok, 'nginx reloads') or diag($out);
ok(Harbor::Authd::wait_for(10, sub { get($port, '/')->{status} == 599 }),
   'the registry\'s server is gone');
is(get($other_port, '/')->{content}, "the other site\n",
   'the other site still answers');

my @etc = grep { m{^/etc/} } @pkg_files;
is_deeply([ grep { -e || -l } (grep { !m{^/etc/} } @pkg_files),
            '/usr/share/ngx-harbor',
            '/etc/nginx/modules-enabled/50-mod-http-harbor.conf' ], [],
          'removed: every file of the packages but their configuration');
is_deeply([ grep { !-e } @etc ], [], 'kept: the configuration');
ok(-d '/var/lib/harbor/registry/docker/registry/v2/blobs/sha256'
   && -f '/var/lib/harbor/token/root.crt', 'kept: the data');
my @kept = (@etc, '/etc/harbor', '/var/lib/harbor', '/var/log/harbor');

($ok, $out) = sh("dpkg --purge @PKGS");
ok($ok, 'dpkg --purge') or diag($out);
is_deeply([ grep { -e } @kept ], [], 'purged: configuration and data');
is(etc_nginx(), $etc_before, '/etc/nginx is as it was');
is_deeply([ grep { installed($_) } @PKGS ], [], 'no package of ours left');

($ok, $out) = sh("$NGINX -t -c $dir/nginx.conf");
ok($ok, 'nginx -t after the purge') or diag($out);
($ok, $out) = sh("$NGINX -s reload -c $dir/nginx.conf");
is(get($other_port, '/')->{content}, "the other site\n",
   'the other site answers after the purge');

$_->() for reverse @cleanup;
@cleanup = ();
$pg->stop;

done_testing;

END { $_->() for reverse @cleanup }
