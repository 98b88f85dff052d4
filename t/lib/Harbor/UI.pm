package Harbor::UI;

# The browser tests (t/ui-*.t): the whole stack (PostgreSQL, authd with
# the journal, nginx with the module) serving the built UI (ui/dist) at /
# as conf/harbor.conf.in does, and a Playwright script (t/ui/*.mjs, node,
# Debian's chromium) driving it.  The script reports each check as a line
#     ok - name        not ok - name        # diagnostic
# which run() turns into Test::More results.
#
#   my $ui = Harbor::UI->new;                 # skips unless ready
#   $ui->stack->create_user('dev', ...);      # Harbor::Api / Harbor::Stack
#   $ui->run('t/ui/browser.mjs', UI_IMAGE => ...);
#
# Environment for the script: HARBOR_URL (http://127.0.0.1:PORT),
# HARBOR_HOST (127.0.0.1:PORT), HARBOR_ADMIN_PASSWORD, UI_TMP (a scratch
# directory), UI_SCREENSHOTS (where screenshots go: docs/screenshots, or
# HARBOR_UI_SCREENSHOTS; "" for none), CHROMIUM, plus run()'s own.
#
# Needs: ui/dist (make ui: npm ci && npm run build in ui/), ui's
# node_modules (playwright-core), node, /usr/bin/chromium.

use strict;
use warnings;

use Carp qw(croak);
use File::Path qw(make_path);
use IO::Handle;
use Test::More ();

use Harbor::Api;
use Harbor::Authd;

our $ROOT = $Harbor::Authd::ROOT;
our $DIST = "$ROOT/ui/dist";
our $CHROMIUM = $ENV{CHROMIUM} || '/usr/bin/chromium';

# What nginx adds to the UI (the same lines are suggested for
# conf/harbor.conf.in in docs/ui.md).
our $CSP = "default-src 'self'; script-src 'self'; style-src 'self';"
    . " img-src 'self' data:; font-src 'self'; connect-src 'self';"
    . " object-src 'none'; base-uri 'none'; frame-ancestors 'none';"
    . " form-action 'self'";


sub ui_conf {
    my ($dist) = @_;

    return <<"CONF";
location / {
    root $dist;
    include /etc/nginx/mime.types;
    try_files \$uri /index.html;
    add_header Content-Security-Policy "$CSP" always;
    add_header X-Content-Type-Options nosniff always;
    add_header X-Frame-Options DENY always;
    add_header Referrer-Policy same-origin always;
    add_header Cache-Control no-cache always;
}
location /assets/ {
    root $dist;
    include /etc/nginx/mime.types;
    add_header Cache-Control "public, max-age=31536000, immutable";
    add_header X-Content-Type-Options nosniff always;
}
CONF
}


# What is missing to run the browser tests, or undef.
sub missing {
    return 'node is not installed (apt-get install nodejs)'
        unless qx{node --version 2>/dev/null} =~ /^v(\d+)/ && $1 >= 20;
    return "$CHROMIUM is missing (apt-get install chromium)"
        unless -x $CHROMIUM;
    return 'ui/node_modules is missing: run make ui (npm ci in ui/)'
        unless -d "$ROOT/ui/node_modules/playwright-core";
    return 'ui/dist is missing: run make ui (npm run build in ui/)'
        unless -f "$DIST/index.html";
    return undef;
}


sub new {
    my ($class, %opt) = @_;

    # a missing piece is a failure, not a skip: make test must not pass
    # without having driven a browser
    if (my $why = missing()) {
        Test::More::plan(tests => 1);
        Test::More::fail("browser tests can run: $why");
        exit 1;
    }

    my $s = Harbor::Api->new(
        server => ui_conf($DIST) . ($opt{server} || ''),
        %opt,
    );

    # the pull commands name the registry as authd's hostname does
    $s->authd->restart(conf => { hostname => $s->host,
                                 external_url => $s->url });

    my $shots = exists $ENV{HARBOR_UI_SCREENSHOTS}
        ? $ENV{HARBOR_UI_SCREENSHOTS} : "$ROOT/docs/screenshots";

    return bless { s => $s, shots => $shots }, $class;
}


sub stack { $_[0]{s} }


# Run a Playwright script; its "ok - " lines become tests.  Returns the
# script's exit status.
sub run {
    my ($self, $script, %env) = @_;
    my $s = $self->{s};

    my $tmp = $s->dir . '/ui';
    make_path($tmp);
    make_path($self->{shots}) if length $self->{shots};

    local $ENV{HARBOR_URL} = $s->url;
    local $ENV{HARBOR_HOST} = $s->host;
    local $ENV{HARBOR_ADMIN_PASSWORD} = $Harbor::Stack::ADMIN_PASSWORD;
    local $ENV{UI_TMP} = $tmp;
    local $ENV{UI_SCREENSHOTS} = $self->{shots};
    local $ENV{CHROMIUM} = $CHROMIUM;
    local @ENV{keys %env} = values %env;

    my $path = $script =~ m{^/} ? $script : "$ROOT/$script";

    # node's own errors (a crash) come on stderr: keep them in order
    open my $out, '-|', "node '$path' 2>&1"
        or croak "node $path: $!";

    my ($n, @other) = (0);
    while (my $line = <$out>) {
        chomp $line;
        if ($line =~ /^ok - (.*)$/) {
            Test::More::pass($1);
            $n++;
        } elsif ($line =~ /^not ok - (.*)$/) {
            Test::More::fail($1);
            $n++;
        } elsif ($line =~ /^# ?(.*)$/) {
            Test::More::diag($1);
        } else {
            push @other, $line;
        }
    }
    close $out;
    my $rc = $? >> 8;

    Test::More::ok($rc == 0 && $n > 0, "$script ran to its end ($n checks)")
        or Test::More::diag(join "\n", @other > 40 ? @other[-40 .. -1] : @other);
    Test::More::note(join "\n", @other) if @other && $rc == 0;

    return $rc;
}


1;
