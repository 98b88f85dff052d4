#!/usr/bin/perl

# authd -n: configuration checks, each error reported as file:line: message,
# every error of a file at once, no secret ever echoed.  authd -R: the role
# table as JSON.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use File::Temp qw(tempdir);
use Test::More;
use Harbor::Authd;

my $authd = $Harbor::Authd::AUTHD;
die "authd is not built: run make -C authd\n" unless -x $authd;

my $dir = tempdir('hb-conf-XXXXXX', TMPDIR => 1, CLEANUP => 1);
my $n = 0;

# write a config, run authd -n on it: (exit status, output, file name)
sub check {
    my ($text) = @_;
    my $f = "$dir/c" . ++$n . '.yml';
    open my $fh, '>', $f or die "$f: $!";
    print $fh $text;
    close $fh;
    my $out = qx{$authd -n -f $f 2>&1};
    return ($? >> 8, $out, $f);
}

my ($rc, $out, $f);

($rc, $out, $f) = check(<<'EOF');
hostname: registry.example.com
harbor_admin_password: Harbor12345
token_expiration: 30
project_creation_restriction: adminonly
self_registration: false
auth_mode: db_auth
database:
  host: /run/postgresql
  port: 5432
  username: harbor
  password: root123
  dbname: registry
  max_idle_conns: 100
  max_open_conns: 900
log:
  level: info
  local:
    rotate_count: 50
    rotate_size: 200M
    location: /var/log/harbor
authd:
  listen: /run/harbor/authd.sock
  token_private_key: /etc/harbor/token/private_key.pem
  token_certificate: /etc/harbor/token/root.crt
EOF
is($rc, 0, 'good configuration: exit 0');
like($out, qr/\Q$f\E: configuration OK/, 'says OK');

# Harbor's harbor.yml keys for parts authd does not run are accepted
($rc, $out) = check(<<'EOF');
hostname: reg.mydomain.com
http:
  port: 80
https:
  port: 443
  certificate: /your/certificate/path
  private_key: /your/private/key/path
harbor_admin_password: Harbor12345
data_volume: /data
trivy:
  ignore_unfixed: false
jobservice:
  max_job_workers: 10
notification:
  webhook_job_max_retry: 3
_version: 2.11.0
proxy:
  http_proxy:
  components:
    - core
upload_purging:
  enabled: true
email_host: smtp.example.com
EOF
is($rc, 0, "harbor.yml's other keys are accepted") or diag $out;

# the message table: text, expected line, expected message
my @cases = (
    [ "hostname: x\nfrobnicate: 1\n", 2, qr/unknown key "frobnicate"/ ],
    [ "database:\n  host: /x\n  colour: blue\n", 3,
      qr/unknown key "database\.colour"/ ],
    [ "token_expiration: abc\n", 1,
      qr/"token_expiration" must be an integer, not "abc"/ ],
    [ "token_expiration: 0\n", 1, qr/must be between 1 and 525600/ ],
    [ "database:\n  port: 70000\n", 2,
      qr/"database\.port" must be between 1 and 65535/ ],
    [ "auth_mode: kerberos\n", 1,
      qr/"auth_mode" must be one of db_auth, ldap_auth, not "kerberos"/ ],
    [ "project_creation_restriction: nobody\n", 1,
      qr/must be one of everyone, adminonly/ ],
    [ "self_registration: maybe\n", 1, qr/must be true or false/ ],
    [ "hostname: a\nhostname: b\n", 2, qr/duplicate key "hostname"/ ],
    [ "hostname: [a, b\n", 2, qr/flow sequence|did not find/ ],
    [ "- a\n- b\n", 1, qr/must be a mapping/ ],
    [ "database: 5\n", 1, qr/"database" must be a mapping/ ],
    [ "hostname:\n  a: b\n", 2, qr/"hostname" must be a single value/ ],
    [ "authd:\n  listen: relative/authd.sock\n", 2,
      qr/"authd\.listen" must be an absolute path/ ],
    [ "authd:\n  listen: /" . ('x' x 120) . "\n", 2,
      qr/"authd\.listen" is longer than 100 bytes/ ],
    [ "harbor_admin_password: \"\"\n", 1, qr/must not be empty/ ],
    [ "ldap_ca_file: ca.pem\n", 1, qr/"ldap_ca_file" must be an absolute path/ ],
    [ "ldap_scope: 3\n", 1, qr/"ldap_scope" must be between 0 and 2/ ],
    [ "log:\n  level: loud\n", 2, qr/"log\.level" must be one of debug/ ],
    [ "database:\n  sslmode: sometimes\n", 2, qr/"database\.sslmode" must be/ ],
    [ "authd:\n  token_key_bits: 1024\n", 2, qr/between 2048 and 8192/ ],
    [ "authd:\n  workers: many\n", 2, qr/"authd\.workers" must be an integer/ ],
);

for my $c (@cases) {
    my ($text, $line, $re) = @$c;
    ($rc, $out, $f) = check($text);
    (my $name = $text) =~ s/\n/\\n/g;
    $name = substr($name, 0, 50);
    is($rc, 1, "refused: $name");
    like($out, qr/^\Q$f\E:$line: .*$re/m, "  at $f:$line") or diag $out;
}

# several errors: all of them, each with its line
($rc, $out, $f) = check("hostname: a\nbogus: 1\ntoken_expiration: x\n"
                        . "database:\n  port: -1\n");
is($rc, 1, 'several errors: exit 1');
like($out, qr/^\Q$f\E:2: /m, 'first error reported');
like($out, qr/^\Q$f\E:3: /m, 'second error reported');
like($out, qr/^\Q$f\E:5: /m, 'third error reported');

# secrets are not echoed, whatever the error
($rc, $out, $f) = check("harbor_admin_password: Adm1nS3cretXYZ\n"
                        . "database:\n  password: DbS3cretXYZ\n  port: x\n"
                        . "ldap_search_password: LdapS3cretXYZ\nbogus: 1\n");
is($rc, 1, 'error next to secrets');
unlike($out, qr/S3cretXYZ/, 'no secret in the messages');

($rc, $out, $f) = check("harbor_admin_password:\n  nested: S3cretXYZ\n");
unlike($out, qr/S3cretXYZ/, 'no secret when the secret itself is wrong');

# a missing file
$out = qx{$authd -n -f $dir/nope.yml 2>&1};
is($? >> 8, 1, 'missing file: exit 1');
like($out, qr{^\Q$dir\E/nope\.yml: No such file or directory}m,
     'missing file: file: reason');

# an empty file means every default
($rc, $out) = check('');
is($rc, 0, 'empty file: defaults') or diag $out;

# usage
$out = qx{$authd -x 2>&1};
is($? >> 8, 1, 'unknown option: exit 1');
like($out, qr/usage: authd/, 'usage');

# the journal, the registry's storage and its /v2 (for the API)
($rc, $out, $f) = check(<<'EOF');
authd:
  journal: /var/lib/harbor/journal/events.log
  registry_storage: /var/lib/harbor/registry
  registry_url: http://127.0.0.1:8080
  registry_timeout: 10
EOF
is($rc, 0, 'journal, registry_storage, registry_url: OK') or diag($out);

($rc, $out, $f) = check(<<'EOF');
authd:
  journal: journal/events.log
  registry_storage: registry
  registry_url: http://127.0.0.1:8080
  registry_timeout: 0
EOF
isnt($rc, 0, 'bad journal and registry keys refused');
like($out, qr/\Q$f\E:2: "authd.journal" must be an absolute path/,
     'journal: absolute path, with its line');
like($out, qr/\Q$f\E:3: "authd.registry_storage" must be an absolute path/,
     'registry_storage: absolute path');
like($out, qr/"authd.registry_timeout" must be between 1 and 3600/,
     'registry_timeout range');

($rc, $out, $f) = check(<<'EOF');
authd:
  registry_url: ftp://127.0.0.1/
EOF
like($out, qr/\Q$f\E:2: "authd.registry_url" must start with http/,
     'registry_url: http or https, with its line');

($rc, $out, $f) = check(<<'EOF');
authd:
  registry_url: "http://127.0.0.1:8080/?x"
EOF
like($out, qr/"authd.registry_url" must be a base URL/,
     'registry_url: no query');

# authd -R
my $t = Harbor::Authd::role_table();
is_deeply([map { "$_->{role_id}:$_->{name}" } @{$t->{roles}}],
          [qw(1:projectAdmin 2:developer 3:guest 4:maintainer 5:limitedGuest)],
          '-R: roles with Harbor ids');
my %rule = map { ("$_->{resource}:$_->{action}" => $_) } @{$t->{rules}};
is_deeply([sort @{$rule{'repository:push'}{roles}}],
          [qw(developer maintainer projectAdmin)], '-R: who pushes');
is_deeply([sort @{$rule{'repository:delete'}{roles}}],
          [qw(maintainer projectAdmin)], '-R: who deletes');
ok($rule{'repository:pull'}{public}, '-R: public projects pull');
ok(!$rule{'repository:push'}{public}, '-R: public projects do not push');
is($t->{sysadmin_only}[0]{name}, 'catalog', '-R: catalog for sysadmins');
is_deeply([sort @{$rule{'tag:delete'}{roles}}], [qw(maintainer projectAdmin)],
          '-R: who deletes tags');
is_deeply([sort @{$rule{'tag:create'}{roles}}],
          [qw(developer maintainer projectAdmin)], '-R: who tags');
is_deeply($rule{'log:list'}{roles}, ['projectAdmin'],
          '-R: who reads a project\'s log');
ok($rule{'artifact:list'}{public}, '-R: public projects list artifacts');
ok(!$rule{'artifact:delete'}{public}, '-R: and do not delete them');

done_testing;
