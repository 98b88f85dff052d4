package Harbor::Stack;

# The whole thing, for the token-auth tests (t/auth-*.t): a private
# PostgreSQL, authd on a unix socket, and nginx with the harbor module in
# token mode, proxying /service/token, /api/ and /c/ to authd with the
# upstream and locations of conf/harbor.conf.in, as shipped.  Everything lives in temporary directories and
# is stopped at exit (Harbor::Test and Harbor::Authd do that).
#
#   my $s = Harbor::Stack->new(workers => 2);
#   $s->api(POST => '/users', $s->admin, json => {...});   # through nginx
#   my $tok = $s->bearer(user => 'u', pass => 'p',
#                        scope => 'repository:p/x:pull');  # through nginx
#   my $r = $s->v2(GET => '/v2/p/x/tags/list', token => $tok);
#   $s->stop;
#
# new(%opt)
#   workers      nginx worker_processes (2)
#   authd_conf   { key => value } for authd's YAML (see Harbor::Authd)
#   registry     extra directives inside location /v2/
#   server       extra server-level directives
#   http         extra http-level directives (another server block, say)
# Accessors: t (Harbor::Test), authd (Harbor::Authd), pg, url, host
#   ("127.0.0.1:PORT"), port, storage, journal, cert_file, key_file, dir,
#   clients (Harbor::Clients, made on first use)
#
# HTTP (all through nginx, Host: 127.0.0.1:PORT unless given):
#   http(METHOD, path, %o)   Harbor::Test::http, plus token => $jwt
#                            (Bearer) or basic => [user, pass]
#   v2(...)                  the same, for /v2 paths
#   api(METHOD, '/users', [user, pass] | undef, json => $data, headers => {})
#                            /api/v2.0 + path; ->{json} decoded
#   token(user =>, pass =>, scope => [..] | '..', query => '..')
#                            GET /service/token; ->{json}, and {header}
#                            {claims} of the JWT when 200
#   bearer(...)              token(...)->{json}{token}, or dies
# Setup through the REST API (as admin unless cred => [u, p]):
#   create_user($name, password => ..) -> id; set_sysadmin($id, 0|1)
#   create_project($name, public => 0|1, cred => ..) -> id
#   add_member($project, $user, $role_id) -> member id
#   set_member_role($project, $mid, $role_id); remove_member($project, $mid)
# Registry content with a token:
#   push_image($repo, $token, tag => 'v1' | undef, layer => bytes)
#       -> {ok, digest, manifest, layers => [digest], config, responses}
# JWTs made by hand (for hostile tokens):
#   jwt_rs256($keyfile, \%header | $json, \%claims | $json)  signed by openssl
#   jwt_hs256($secret, \%header, \%claims); b64url($bytes)
#   rsa_key($name) -> (keyfile, certfile): a new RSA key and a self-signed
#                     certificate for it, in dir/keys
#   Harbor::Stack::new_rsa_key($dir, $name): the same, anywhere
#   claims_like(%override), header_like(%override): what authd signs

use strict;
use warnings;

use Carp qw(croak);
use Digest::SHA qw(hmac_sha256 sha256_hex);
use File::Path qw(make_path);
use JSON::PP ();
use MIME::Base64 qw(encode_base64 encode_base64url decode_base64url);
use Time::HiRes qw(time);

use Harbor::Test;
use Harbor::Authd;

our $ADMIN_PASSWORD = $Harbor::Authd::ADMIN_PASSWORD;

my $JSON = JSON::PP->new->utf8->canonical->allow_nonref;


sub new {
    my ($class, %opt) = @_;

    my $t = Harbor::Test->new;
    my $dir = $t->dir;

    # authd's files inside nginx's temp dir: one tree to clean up.  The
    # workers (user harbor) reach the socket through its group.
    my $adir = "$dir/authd";
    make_path($adir);
    chmod 0755, $adir;

    my $pg = Harbor::Authd::Pg->start;
    my $authd = Harbor::Authd->start(pg => $pg, dir => $adir, conf => {
        ($> == 0 ? ('authd.listen_group' => 'harbor') : ()),
        %{$opt{authd_conf} || {}},
    });

    my $self = bless {
        t     => $t,
        pg    => $pg,
        authd => $authd,
        opt   => {%opt},
    }, $class;

    $self->start_nginx;

    return $self;
}


sub t        { $_[0]{t} }
sub authd    { $_[0]{authd} }
sub pg       { $_[0]{pg} }
sub dir      { $_[0]{t}->dir }
sub port     { $_[0]{t}->port }
sub url      { $_[0]{t}->url }
sub host     { '127.0.0.1:' . $_[0]{t}->port }
sub storage  { $_[0]{t}->storage }
sub journal  { $_[0]{t}->journal }
sub cert_file { $_[0]{authd}->cert_file }
sub key_file { $_[0]{authd}->key_file }
sub admin    { ['admin', $ADMIN_PASSWORD] }


sub registry_conf {
    my ($self) = @_;
    my $t = $self->{t};

    return join "\n",
        'harbor_registry on;',
        'harbor_storage  ' . $t->storage . ';',
        'harbor_journal  ' . $t->journal . ';',
        'harbor_auth     token;',
        'harbor_token_certificate ' . $self->cert_file . ';',
        $self->{opt}{registry} || '';
}


# authd's part of conf/harbor.conf.in as shipped: the upstream, and every
# location of the server but the registry's and the UI's, with the paths
# of this stack filled in.
sub authd_conf {
    my ($self) = @_;

    my $in = "$Harbor::Test::ROOT/conf/harbor.conf.in";
    open my $f, '<', $in or croak "$in: $!";
    my $text = join '', grep { !/^\s*#/ } <$f>;
    close $f;

    my $run = $self->{authd}->sock =~ s{/authd\.sock$}{}r;
    $text =~ s/\@CONF\@/$Harbor::Test::ROOT\/conf/g;
    $text =~ s/\@RUN\@/$run/g;

    my ($http, $server) = ('', '');

    # a block from its header to the matching brace
    while ($text =~ /^(\s*)((upstream|location)\s+([^{]*?)\s*\{)/mg) {
        my ($kind, $name, $start) = ($3, $4, $-[2]);
        my $depth = 1;
        pos($text) = $+[2];
        while ($depth && $text =~ /([{}])/g) {
            $depth += $1 eq '{' ? 1 : -1;
        }
        my $block = substr($text, $start, pos($text) - $start);

        if ($kind eq 'upstream') {
            $http .= "$block\n";
        } elsif ($name !~ m{^(?:/v2/|/|/assets/)$}) {
            $server .= "$block\n";
        }
    }

    croak "no authd locations in $in" unless $server =~ /harbor_authd/;

    return ($http, $server);
}


sub server_conf {
    my ($self) = @_;

    my (undef, $authd) = $self->authd_conf;

    return $authd . ($self->{opt}{server} || '');
}


sub start_nginx {
    my ($self) = @_;

    $self->{t}->run(
        registry => $self->registry_conf,
        server   => $self->server_conf,
        http     => ($self->authd_conf)[0] . ($self->{opt}{http} || ''),
        workers  => $self->{opt}{workers} || 2,
        ($self->{opt}{tls} ? (tls => $self->{opt}{tls}) : ()),
    );

    # the proxy to authd answers
    my $ok = Harbor::Authd::wait_for(15, sub {
        my $r = $self->http(GET => '/api/v2.0/ping');
        return $r->{status} == 200 && $r->{body} =~ /Pong/;
    });

    croak "nginx does not reach authd:\n" . $self->{t}->read_file('error.log')
        unless $ok;

    return $self;
}


sub stop {
    my ($self) = @_;
    $self->{t}->stop;
    $self->{authd}->stop;
    $self->{pg}->stop;
}


sub clients {
    my ($self) = @_;

    unless ($self->{clients}) {
        require Harbor::Clients;
        $self->{clients} = Harbor::Clients->new($self->dir);
    }

    return $self->{clients};
}


###############################################################################
# HTTP


sub _headers {
    my ($self, %o) = @_;

    my $h = $o{headers} || [];
    my @h = ref $h eq 'HASH' ? (map { ($_, $h->{$_}) } sort keys %$h)
          : (@$h && ref $h->[0] eq 'ARRAY') ? (map { @$_ } @$h)
          : @$h;

    my %have;
    for (my $i = 0; $i < @h; $i += 2) {
        $have{lc $h[$i]} = 1;
    }

    push @h, Host => $self->host unless $have{host};

    if (defined $o{token}) {
        push @h, Authorization => "Bearer $o{token}";
    } elsif ($o{basic}) {
        push @h, Authorization => 'Basic '
            . encode_base64("$o{basic}[0]:$o{basic}[1]", '');
    }

    return \@h;
}


sub http {
    my ($self, $method, $path, %o) = @_;

    my $h = $self->_headers(%o);
    delete @o{qw(token basic headers)};

    my $port = delete $o{port};
    local $self->{t}{port} = defined $port ? $port : $self->{t}{port};

    return $self->{t}->http($method, $path, headers => $h, %o);
}

*v2 = \&http;


sub api {
    my ($self, $method, $path, $cred, %o) = @_;

    my %h = %{$o{headers} || {}};
    my $body;

    if (exists $o{json}) {
        $body = $JSON->encode($o{json});
        $h{'Content-Type'} = 'application/json';
    }

    my $r = $self->http($method, "/api/v2.0$path",
        headers => \%h,
        ($cred ? (basic => $cred) : ()),
        (defined $body ? (body => $body) : ()));

    $r->{json} = eval { $JSON->decode($r->{body}) }
        if ($r->{headers}{'content-type'} || '') =~ m{application/json}
           && length $r->{body};

    return $r;
}


sub uri_escape { Harbor::Authd::uri_escape(@_) }


sub token {
    my ($self, %o) = @_;

    my @q = ('service=harbor-registry');
    my $scopes = defined $o{scope} ? $o{scope} : [];
    $scopes = [$scopes] unless ref $scopes;
    push @q, 'scope=' . uri_escape($_) for @$scopes;
    push @q, $o{query} if defined $o{query};

    my $r = $self->http(GET => '/service/token?' . join('&', @q),
        (defined $o{user} ? (basic => [$o{user}, $o{pass}]) : ()));

    $r->{json} = eval { $JSON->decode($r->{body}) };

    if ($r->{status} == 200 && ref $r->{json} eq 'HASH'
        && defined $r->{json}{token})
    {
        my ($h, $c) = split /\./, $r->{json}{token};
        $r->{header} = eval { $JSON->decode(decode_base64url($h)) };
        $r->{claims} = eval { $JSON->decode(decode_base64url($c)) };
    }

    return $r;
}


sub bearer {
    my ($self, %o) = @_;

    my $r = $self->token(%o);
    croak "no token for " . ($o{user} // 'anonymous') . ": $r->{status} "
        . $r->{body}
        unless $r->{status} == 200 && $r->{json} && $r->{json}{token};

    return wantarray ? ($r->{json}{token}, $r) : $r->{json}{token};
}


###############################################################################
# setup through the REST API


sub _need {
    my ($r, $status, $what) = @_;
    croak "$what: $r->{status} $r->{body}" unless $r->{status} == $status;
    return $r;
}


sub create_user {
    my ($self, $name, %o) = @_;

    my $r = _need($self->api(POST => '/users', $o{cred} || $self->admin,
        json => {
            username => $name,
            email    => $o{email} // "$name\@example.com",
            realname => $o{realname} // $name,
            password => $o{password} // 'Passw0rd!',
        }), 201, "create user $name");

    my ($id) = ($r->{headers}{location} || '') =~ m{/users/(\d+)$}
        or croak "create user $name: no Location";
    return $id;
}


sub set_sysadmin {
    my ($self, $id, $flag) = @_;

    _need($self->api(PUT => "/users/$id/sysadmin", $self->admin,
        json => { sysadmin_flag => $flag ? JSON::PP::true : JSON::PP::false }),
        200, "sysadmin $id");
}


sub create_project {
    my ($self, $name, %o) = @_;

    my $r = _need($self->api(POST => '/projects', $o{cred} || $self->admin,
        json => {
            project_name => $name,
            metadata     => { public => $o{public} ? 'true' : 'false' },
        }), 201, "create project $name");

    my ($id) = ($r->{headers}{location} || '') =~ m{/projects/(\d+)$}
        or croak "create project $name: no Location";
    return $id;
}


sub add_member {
    my ($self, $project, $user, $role, %o) = @_;

    my $r = _need($self->api(POST => "/projects/$project/members",
        $o{cred} || $self->admin,
        json => { role_id => $role + 0, member_user => { username => $user } }),
        201, "add $user to $project");

    my ($id) = ($r->{headers}{location} || '') =~ m{/members/(\d+)$}
        or croak "add member: no Location";
    return $id;
}


sub set_member_role {
    my ($self, $project, $mid, $role, %o) = @_;

    _need($self->api(PUT => "/projects/$project/members/$mid",
        $o{cred} || $self->admin, json => { role_id => $role + 0 }),
        200, "role of member $mid in $project");
}


sub remove_member {
    my ($self, $project, $mid, %o) = @_;

    _need($self->api(DELETE => "/projects/$project/members/$mid",
        $o{cred} || $self->admin), 200, "remove member $mid from $project");
}


###############################################################################
# registry content


sub push_image {
    my ($self, $repo, $token, %o) = @_;

    my $tag = exists $o{tag} ? $o{tag} : 'v1';
    my $layer = defined $o{layer} ? $o{layer}
              : "layer of $repo " . join('', map { chr(rand 256) } 1 .. 64);
    my $config = $JSON->encode({
        architecture => 'amd64', os => 'linux',
        rootfs => { type => 'layers',
                    diff_ids => ['sha256:' . sha256_hex($layer)] },
        config => { Labels => { repo => $repo, n => rand() } },
    });

    my (%res, @resp);
    $res{ok} = 1;

    for my $blob ($layer, $config) {
        my $d = 'sha256:' . sha256_hex($blob);
        my $r = $self->http(POST => "/v2/$repo/blobs/uploads/?digest=$d",
            token => $token, body => $blob,
            headers => ['Content-Type' => 'application/octet-stream']);
        push @resp, $r;
        $res{ok} = 0 unless $r->{status} == 201;
    }

    my $manifest = $JSON->encode({
        schemaVersion => 2,
        mediaType => Harbor::Test::MT_OCI_MANIFEST(),
        config => { mediaType => Harbor::Test::MT_OCI_CONFIG(),
                    digest => 'sha256:' . sha256_hex($config),
                    size => length $config },
        layers => [{ mediaType => Harbor::Test::MT_OCI_LAYER(),
                     digest => 'sha256:' . sha256_hex($layer),
                     size => length $layer }],
    });

    my $digest = 'sha256:' . sha256_hex($manifest);

    if ($res{ok}) {
        my $r = $self->http(PUT => "/v2/$repo/manifests/"
                                   . (defined $tag ? $tag : $digest),
            token => $token, body => $manifest,
            headers => ['Content-Type' => Harbor::Test::MT_OCI_MANIFEST()]);
        push @resp, $r;
        $res{ok} = 0 unless $r->{status} == 201;
    }

    return { %res, digest => $digest, manifest => $manifest,
             layers => ['sha256:' . sha256_hex($layer)],
             layer => $layer,
             config => 'sha256:' . sha256_hex($config),
             responses => \@resp, repo => $repo, tag => $tag };
}


###############################################################################
# hand-made JWTs


sub b64url { encode_base64url($_[0]) }

sub _part { ref $_[0] ? b64url($JSON->encode($_[0])) : b64url($_[0]) }


sub jwt_rs256 {
    my ($self, $keyfile, $header, $claims) = @_;

    my $input = _part($header) . '.' . _part($claims);

    my $tmp = $self->dir . "/jwt-input.$$";
    open my $f, '>:raw', $tmp or croak "$tmp: $!";
    print $f $input;
    close $f;

    my $sig = qx{openssl dgst -sha256 -sign '$keyfile' '$tmp' 2>/dev/null};
    croak "openssl dgst -sign $keyfile failed" if $? || !length $sig;
    unlink $tmp;

    return $input . '.' . b64url($sig);
}


sub jwt_hs256 {
    my ($self, $secret, $header, $claims) = @_;

    my $input = _part($header) . '.' . _part($claims);
    return $input . '.' . b64url(hmac_sha256($input, $secret));
}


sub rsa_key {
    my ($self, $name, $bits) = @_;
    return new_rsa_key($self->dir . '/keys', $name, $bits);
}


# A plain function, for keys needed before the stack starts (a second
# server's certificate, say).
sub new_rsa_key {
    my ($dir, $name, $bits) = @_;

    make_path($dir);
    chmod 0755, $dir;

    my ($key, $cert) = ("$dir/$name.key", "$dir/$name.crt");
    $bits ||= 2048;

    my $out = qx{openssl genrsa -out '$key' $bits 2>&1};
    croak "openssl genrsa: $out" if $?;
    $out = qx{openssl req -new -x509 -key '$key' -out '$cert' -days 30 -subj '/CN=harbor-token-issuer' 2>&1};
    croak "openssl req: $out" if $?;
    chmod 0644, $cert;

    return ($key, $cert);
}


# What a well-formed token of authd looks like, for hand-made variants.
sub claims_like {
    my ($self, %o) = @_;
    my $now = time;

    return {
        iss    => 'harbor-token-issuer',
        sub    => 'admin',
        aud    => 'harbor-registry',
        exp    => int($now) + 600,
        nbf    => int($now) - 1,
        iat    => int($now) - 1,
        jti    => sha256_hex(rand()) =~ s/^(.{32}).*/$1/r,
        access => [],
        %o,
    };
}


sub header_like {
    my ($self, %o) = @_;
    my $authd_header = $self->{authd_header} ||= do {
        my ($tok, $r) = $self->bearer(user => 'admin', pass => $ADMIN_PASSWORD);
        $r->{header};
    };
    return { %$authd_header, %o };
}


1;
