#!/bin/bash
# Start or stop a local ngx-harbor instance: make run / make stop.
# PostgreSQL (a private cluster in the data directory, on a unix socket),
# authd, and nginx with the module.
#
#   HARBOR_PORT  port on 127.0.0.1 (default 8080)
#   HARBOR_DATA  data directory (default var/ in the checkout); the registry
#                store is $HARBOR_DATA/registry, as Harbor lays out its volume
#   HARBOR_METRICS_PORT  the module's Prometheus metrics on 127.0.0.1 at
#                that port, /metrics (conf/harbor-metrics.conf.in; default off)
#   HARBOR_GC_WINDOW  seconds the garbage collector spares new blobs
#                (authd's gc_window; default 7200)
#   HARBOR_TOKEN_ALG=ES256  tokens signed with an EC P-256 key (authd's
#                token_algorithm; default RS256), on a new data directory
#   HARBOR_TOKEN_X5C=0  tokens without the signing certificate (token_x5c)
#   HARBOR_HTTPS=1  https (and HTTP/2) on the same port, with a private CA
#                and a certificate made by `authd cert` in $HARBOR_DATA/tls
#   HARBOR_YML=FILE  an admin's harbor.yml (`authd harbor-yml` reads it):
#                its hostname, http and https ports, certificate, data_volume
#                (the data directory), harbor_admin_password and log level;
#                nginx listens on every address, as Harbor does, and with
#                https in the file answers plain http with a redirect; its
#                storage_service.s3 puts the registry in that bucket
#                (distribution's layout under rootdirectory)

set -eu

top=$(cd "$(dirname "$0")/.." && pwd)
nginx=${HARBOR_NGINX:-/usr/sbin/nginx}
pgbin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
module=$top/build/ngx_http_harbor_module.so
authd=$top/authd/authd

host=127.0.0.1
port=${HARBOR_PORT:-8080}
data=${HARBOR_DATA:-$top/var}
admin_password=Harbor12345
log_level=info
external_url=""
addrs="127.0.0.1"
# tls: "" plain http, "cert" the private CA of `authd cert` (HARBOR_HTTPS=1),
# "file" harbor.yml's own certificate; redirect: the plain http port that
# sends clients to https
tls=""
redirect=""
s3_bucket=""
if [ "${HARBOR_HTTPS:-0}" = 1 ]; then tls=cert; fi

if [ -n "${HARBOR_YML:-}" ]; then
    if [ ! -x "$authd" ]; then
        echo "ngx-harbor: $authd is not built: make all first" >&2
        exit 1
    fi
    # single-quoted assignments of yml_* (authd/harbor_yml.c)
    vars=$("$authd" harbor-yml "$HARBOR_YML") || exit 1
    eval "$vars"

    if [ -n "$yml_data_volume" ]; then
        if [ -n "${HARBOR_DATA:-}" ] && [ "$HARBOR_DATA" != "$yml_data_volume" ]; then
            echo "ngx-harbor: HARBOR_DATA=$HARBOR_DATA but $HARBOR_YML says" \
                 "data_volume: $yml_data_volume: set one of them" >&2
            exit 1
        fi
        data=$yml_data_volume
    fi
    if [ "$tls" = cert ]; then
        echo "ngx-harbor: HARBOR_HTTPS=1 and HARBOR_YML: https is the" \
             "https section of $HARBOR_YML (certificate and private_key)" >&2
        exit 1
    fi

    s3_bucket=$yml_s3_bucket
    host=$yml_hostname
    admin_password=$yml_admin_password
    log_level=$yml_log_level
    external_url=$yml_external_url
    addrs="0.0.0.0"
    if [ -s /proc/net/if_inet6 ]; then addrs="0.0.0.0 [::]"; fi
    port=$yml_http_port
    if [ "$yml_https_port" != 0 ]; then
        tls=file
        port=$yml_https_port
        redirect=$yml_http_port
    fi
fi

run=$data/run
scheme=http
if [ -n "$tls" ]; then scheme=https; fi

# what clients name: host:port, the port left out when it is the scheme's
hp=$host:$port
if [ "$scheme:$port" = https:443 ] || [ "$scheme:$port" = http:80 ]; then
    hp=$host
fi
if [ -z "$external_url" ]; then external_url=$scheme://$hp; fi

case $tls in
    cert) crt=$data/tls/server.crt; key=$data/tls/server.key; ca=$data/tls/ca.crt ;;
    file) crt=$yml_https_certificate; key=$yml_https_private_key; ca=$crt ;;
    *)    crt=""; key=""; ca="" ;;
esac

# every service runs as the unprivileged user "harbor" when started as root;
# a daemon we record the pid of is started through setpriv, which execs
# it (runuser stays as its parent, and its pid is not the daemon's)
as=""
exec_as=""
if [ "$(id -u)" = 0 ]; then
    as="runuser -u harbor --"
    exec_as="setpriv --reuid=harbor --regid=harbor --init-groups --"
fi

wait_for() {    # wait_for SECONDS DESCRIPTION COMMAND...
    local n=$(( $1 * 10 )) what=$2
    shift 2
    for _ in $(seq 1 "$n"); do
        if "$@" >/dev/null 2>&1; then return 0; fi
        sleep 0.1
    done
    echo "ngx-harbor: $what did not come up" >&2
    return 1
}

# running PIDFILE EXECUTABLE: the pid is alive and is that program (not a
# reused pid); a binary rebuilt since it started reads "... (deleted)"
running() {
    local pid exe
    [ -f "$1" ] || return 1
    pid=$(cat "$1")
    kill -0 "$pid" 2>/dev/null || return 1
    exe=$(readlink "/proc/$pid/exe" 2>/dev/null) || return 1
    [ "${exe% (deleted)}" = "$(readlink -f "$2")" ]
}

start_postgres() {
    if [ ! -f "$data/postgres/PG_VERSION" ]; then
        $as "$pgbin/initdb" -D "$data/postgres" -A peer -U harbor -E UTF8 \
            --no-instructions > "$data/logs/initdb.log"
    fi

    if ! $as "$pgbin/pg_ctl" -D "$data/postgres" status >/dev/null 2>&1; then
        $as "$pgbin/pg_ctl" -D "$data/postgres" -l "$data/logs/postgres.log" \
            -w -t 60 -o "-k $run -c listen_addresses=" start >/dev/null
    fi

    if ! $as "$pgbin/psql" -X -h "$run" -U harbor -d postgres -Atc \
            "SELECT 1 FROM pg_database WHERE datname = 'registry'" | grep -q 1
    then
        $as "$pgbin/psql" -X -q -h "$run" -U harbor -d postgres \
            -c 'CREATE DATABASE registry'
    fi
}

start_authd() {
    if running "$run/authd.pid" "$authd"; then return 0; fi

    # YAML single quotes: a quote is doubled (harbor-yml refused control
    # characters, the only ones these could not hold)
    local q="'" qq="''"
    cat > "$data/authd.yml" <<YML
# generated by conf/instance.sh
hostname: '${hp//$q/$qq}'
external_url: '${external_url//$q/$qq}'
harbor_admin_password: '${admin_password//$q/$qq}'
database:
  host: $run
  username: harbor
  dbname: registry
auth_mode: db_auth
log:
  level: $log_level
authd:
  listen: $run/authd.sock
  listen_group: harbor
  token_private_key: $data/token/private_key.pem
  token_certificate: $data/token/root.crt
  journal: $data/journal/events.log
  registry_storage: $data/registry
  registry_url: $scheme://$hp
YML

    # deletes go through nginx: over https authd trusts the CA, or with
    # the admin's certificate that very certificate; it connects to this
    # host whatever the hostname resolves to, and verifies the name
    if [ -n "$ca" ]; then
        echo "  registry_ca: $ca" >> "$data/authd.yml"
    fi
    if [ -n "${HARBOR_YML:-}" ]; then
        echo "  registry_address: 127.0.0.1" >> "$data/authd.yml"
    fi

    if [ -n "${HARBOR_TOKEN_ALG:-}" ]; then
        echo "  token_algorithm: $HARBOR_TOKEN_ALG" >> "$data/authd.yml"
    fi
    if [ "${HARBOR_TOKEN_X5C:-1}" = 0 ]; then
        echo "  token_x5c: false" >> "$data/authd.yml"
    fi

    # a trial instance may want the garbage collector to spare nothing
    if [ -n "${HARBOR_GC_WINDOW:-}" ]; then
        echo "  gc_window: $HARBOR_GC_WINDOW" >> "$data/authd.yml"
    fi

    # it holds the first admin password: root and harbor only
    chmod 0640 "$data/authd.yml"
    if [ -n "$as" ]; then chgrp harbor "$data/authd.yml"; fi

    $as "$authd" -n -f "$data/authd.yml"
    rm -f "$run/authd.sock"
    $exec_as "$authd" -d -f "$data/authd.yml" >> "$data/logs/authd.log" 2>&1 &
    echo $! > "$run/authd.pid"

    wait_for 60 authd test -S "$run/authd.sock" -a -f "$data/token/root.crt"
}

# harbor.yml's bucket: the credentials file (root and harbor only) and
# the location's directives; the server includes conf/harbor-s3.conf
s3_conf() {
    local root=${yml_s3_rootdirectory#/}
    local path=$yml_s3_bucket${root:+/$root}

    ( umask 027
      printf '[default]\naws_access_key_id = %s\naws_secret_access_key = %s\n' \
          "$yml_s3_accesskey" "$yml_s3_secretkey" > "$data/s3.credentials" )
    if [ -n "$as" ]; then chgrp harbor "$data/s3.credentials"; fi

    cat > "$data/nginx/harbor-s3-location.conf" <<S3
# generated by conf/instance.sh from storage_service.s3 of $HARBOR_YML
harbor_storage         s3://$path;
harbor_s3_endpoint     $yml_s3_endpoint;
harbor_s3_region       $yml_s3_region;
harbor_s3_credentials  $data/s3.credentials;
S3

}

start_nginx() {
    if running "$run/nginx.pid" "$nginx"; then return 0; fi

    user=""
    if [ -n "$as" ]; then user="user harbor harbor;"; fi

    # HTTPS: the listen gains ssl and http2, and the server the TLS
    # settings, with the certificate authd cert made or the admin's
    listen="" sep="" ssl=""
    if [ -n "$tls" ]; then ssl=" ssl http2"; fi
    for a in $addrs; do
        listen="$listen${sep}$a:$port$ssl"
        sep="; listen "
    done
    if [ -n "$tls" ]; then
        listen="$listen; include $data/nginx/harbor-tls.conf"
    fi

    # harbor.yml's storage_service.s3: the registry in the bucket
    local storage=()
    if [ -n "$s3_bucket" ]; then
        s3_conf
        storage=(-e "s#^\( *\)harbor_storage .*#\1include $data/nginx/harbor-s3-location.conf;#"
                 -e "s#^\( *\)error_page  494 .*#&\n\1include $top/conf/harbor-s3.conf;#")
    fi

    for f in harbor harbor-main harbor-tls; do
        sed -e "s#@MODULE@#$module#g" -e "s#@LISTEN@#$listen#g" \
            -e "s#@DATA@#$data#g" -e "s#@RUN@#$run#g" \
            -e "s#@CONF@#$top/conf#g" -e "s#@UI@#$top/ui/dist#g" \
            -e "s#@TLS_CERTIFICATE@#$crt#g" -e "s#@TLS_KEY@#$key#g" \
            "${storage[@]}" \
            "$top/conf/$f.conf.in" > "$data/nginx/$f.conf"
    done

    # harbor.yml with https: its http port sends every request to https,
    # as Harbor's own nginx does (308 keeps the method and the body)
    : > "$data/nginx/harbor-redirect.conf"
    if [ -n "$redirect" ]; then
        to='https://$host'
        if [ "$port" != 443 ]; then to="$to:$port"; fi
        {
            echo "server {"
            for a in $addrs; do echo "    listen $a:$redirect;"; done
            echo "    server_name _;"
            echo "    return 308 $to\$request_uri;"
            echo "}"
        } > "$data/nginx/harbor-redirect.conf"
    fi

    # HARBOR_METRICS_PORT: the module's metrics on 127.0.0.1 (off unset)
    : > "$data/nginx/harbor-metrics.conf"
    if [ -n "${HARBOR_METRICS_PORT:-}" ]; then
        sed -e "s#@METRICS_LISTEN@#127.0.0.1:$HARBOR_METRICS_PORT#g" \
            "$top/conf/harbor-metrics.conf.in" > "$data/nginx/harbor-metrics.conf"
    fi

    cat > "$data/nginx/nginx.conf" <<CONF
# generated by conf/instance.sh; edit conf/harbor*.conf.in instead
include $data/nginx/harbor-main.conf;
$user
worker_processes  auto;
pid               $run/nginx.pid;
error_log         $data/logs/error.log notice;

events {
    worker_connections  1024;
}

http {
    include       /etc/nginx/mime.types;
    default_type  application/octet-stream;
    access_log    $data/logs/access.log;

    client_body_temp_path  $data/nginx/tmp/body;
    proxy_temp_path        $data/nginx/tmp/proxy;
    fastcgi_temp_path      $data/nginx/tmp/fastcgi;
    uwsgi_temp_path        $data/nginx/tmp/uwsgi;
    scgi_temp_path         $data/nginx/tmp/scgi;

    include $data/nginx/harbor.conf;
    include $data/nginx/harbor-redirect.conf;
    include $data/nginx/harbor-metrics.conf;
}
CONF

    "$nginx" -t -q -p "$data/nginx" -c "$data/nginx/nginx.conf"
    "$nginx" -p "$data/nginx" -c "$data/nginx/nginx.conf"

    # through 127.0.0.1 whatever the hostname resolves to, verifying it
    local verify=()
    if [ -n "$ca" ]; then verify=(--cacert "$ca"); fi
    wait_for 10 nginx curl -fsS -o /dev/null "${verify[@]}" \
        --connect-to "::127.0.0.1:" "$scheme://$hp/api/v2.0/ping"
}

# a private CA and a certificate for this host, made once (authd cert)
start_tls() {
    names="localhost 127.0.0.1 $(hostname)"
    "$authd" cert -d "$data/tls" $names >/dev/null
    chmod 0755 "$data/tls"
    if [ -n "$as" ]; then chgrp harbor "$data/tls/server.key"; chmod 0640 "$data/tls/server.key"; fi
}

# what each client needs to trust this registry, for this host and port
tls_steps() {
    cat <<MSG

  HTTPS with a private CA: $data/tls/ca.crt. Trust it once per client:
    docker:   mkdir -p /etc/docker/certs.d/$hp && cp $data/tls/ca.crt /etc/docker/certs.d/$hp/ca.crt
    podman, skopeo, buildah:
              mkdir -p /etc/containers/certs.d/$hp && cp $data/tls/ca.crt /etc/containers/certs.d/$hp/ca.crt
    containerd: /etc/containerd/certs.d/$hp/hosts.toml with
              server = "https://$hp"
              [host."https://$hp"]
                ca = "$data/tls/ca.crt"
    curl:     curl --cacert $data/tls/ca.crt https://$hp/v2/
  Plain http instead (no TLS): make stop; make run without HARBOR_HTTPS, and list
  $hp in docker's "insecure-registries" (podman: --tls-verify=false).
MSG
}

start() {
    mkdir -p "$data/registry" "$data/journal" "$data/nginx/tmp" \
             "$data/logs" "$data/token" "$run" "$data/postgres"
    chmod 0700 "$data/postgres" "$run" "$data/token"
    if [ -n "$as" ]; then
        chown harbor:harbor "$data/registry" "$data/journal" "$data/logs" \
            "$data/token" "$run" "$data/postgres" "$data/nginx/tmp"
        chmod 0750 "$run"
    fi

    start_postgres
    if [ "$tls" = cert ]; then start_tls; fi
    start_authd
    start_nginx

    # the password is the file's when there is one: not printed
    local pw=$admin_password on="on" stop="make stop"
    if [ -n "${HARBOR_YML:-}" ]; then
        pw=PASSWORD
        on="on every address, port $port"
        if [ -n "$redirect" ]; then on="$on (http on port $redirect redirects to it)"; fi
        on="$on, as"
        stop="HARBOR_YML=$HARBOR_YML make stop"
    fi

    if [ -n "$tls" ]; then
        local trust="trust $ca in the browser, or accept its warning"
        local cacert="--cacert $ca "
        if [ "$tls" = file ]; then
            trust="with the certificate of $HARBOR_YML"
            cacert=""
        fi
        cat <<MSG
ngx-harbor is running $on https://$hp (data in $data)

  web:   open https://$hp ($trust)
         and log in as admin / $pw
  login: podman login -u admin -p '$pw' $hp
  push:  skopeo copy --dest-creds 'admin:$pw' \\
             oci:DIR:TAG docker://$hp/library/NAME:TAG
  pull:  podman pull $hp/library/NAME:TAG
  API:   curl ${cacert}-u 'admin:$pw' https://$hp/api/v2.0/projects
  logs:  $data/logs/
  stop:  $stop
MSG
        if [ "$tls" = cert ]; then tls_steps; fi
        yml_password
        return 0
    fi

    cat <<MSG
ngx-harbor is running $on http://$hp (data in $data)

  web:   open http://$hp and log in as admin / $pw
  login: podman login --tls-verify=false -u admin -p '$pw' $hp
  push:  skopeo copy --dest-tls-verify=false --dest-creds 'admin:$pw' \\
             oci:DIR:TAG docker://$hp/library/NAME:TAG
  pull:  podman pull --tls-verify=false $hp/library/NAME:TAG
  API:   curl -u 'admin:$pw' http://$hp/api/v2.0/projects
  logs:  $data/logs/
  stop:  $stop
MSG
    yml_password
}

# the password of a harbor.yml is not printed: where it is
yml_password() {
    if [ -n "${HARBOR_YML:-}" ]; then
        echo
        echo "  PASSWORD: harbor_admin_password in $HARBOR_YML (first start only)"
    fi
}

stop_pid() {    # stop_pid PIDFILE SIGNAL NAME EXECUTABLE
    if ! running "$1" "$4"; then rm -f "$1"; return 0; fi
    local pid
    pid=$(cat "$1")
    kill -"$2" "$pid" 2>/dev/null || true
    for _ in $(seq 1 100); do
        kill -0 "$pid" 2>/dev/null || { rm -f "$1"; return 0; }
        sleep 0.1
    done
    echo "ngx-harbor: $3 ($pid) did not stop; killing it" >&2
    kill -KILL "$pid" 2>/dev/null || true
    rm -f "$1"
}

stop() {
    stop_pid "$run/nginx.pid" QUIT nginx "$nginx"
    stop_pid "$run/authd.pid" TERM authd "$authd"
    if [ -f "$data/postgres/PG_VERSION" ]; then
        $as "$pgbin/pg_ctl" -D "$data/postgres" -m fast -w stop \
            >/dev/null 2>&1 || true
    fi
    echo "ngx-harbor stopped"
}

case "${1:-}" in
    start) start ;;
    stop)  stop ;;
    *)     echo "usage: $0 start|stop" >&2; exit 2 ;;
esac
