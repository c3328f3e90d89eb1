#!/usr/bin/env bash
# deploy/dev-run.sh [--port N]: run a development mdmid (what `make run` calls after building).
#
# Keeps everything in ./var of the project root: a private PostgreSQL cluster (var/pg), the CA
# (var/ca), the challenge (var/challenge), the configuration (var/mdmid.conf) and shell variables
# for clients (var/dev.env). A second run reuses all of them. Ctrl-C stops mdmid and PostgreSQL.
#
# Environment: PORT (default 8080; --port wins), MDMID_BIN (default ./build/mdmid).
# Not for production: single DES is allowed for Debian's scepclient.
set -euo pipefail

die() {
	echo "dev-run.sh: error: $*" >&2
	exit 1
}
usage() {
	echo "usage: deploy/dev-run.sh [--port N] [--admin-port N]   (env: PORT, ADMIN_PORT, MDMID_BIN)" >&2
	exit 2
}

port=${PORT:-8080}
admin_port=${ADMIN_PORT:-8081}
while [[ $# -gt 0 ]]; do
	case "$1" in
	--port)
		[[ $# -ge 2 ]] || usage
		port=$2
		shift 2
		;;
	--port=*)
		port=${1#--port=}
		shift
		;;
	--admin-port)
		[[ $# -ge 2 ]] || usage
		admin_port=$2
		shift 2
		;;
	-h | --help) usage ;;
	*)
		echo "dev-run.sh: unknown argument: $1" >&2
		usage
		;;
	esac
done
if ! [[ "$port" =~ ^[0-9]+$ ]] || ((port < 1 || port > 65535)); then die "bad port: '$port'"; fi
if ! [[ "$admin_port" =~ ^[0-9]+$ ]] || ((admin_port < 1 || admin_port > 65535)); then die "bad admin port: '$admin_port'"; fi

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
[[ -f tests/lib/pg.sh ]] || die "run from the mdmid project root (no tests/lib/pg.sh in $root)"

bin=${MDMID_BIN:-./build/mdmid}
[[ "$bin" == */* ]] || bin=$(command -v -- "$bin" || echo "$bin")
[[ "$bin" == /* ]] || bin="$root/${bin#./}"
[[ -x "$bin" ]] || die "mdmid binary not found or not executable: $bin (build it first: make)"

# a. state directory and database
mkdir -p var
# 0700, except as root: then PostgreSQL runs as `postgres`, which must traverse var/ to reach
# var/pg (0711: no listing; every secret in var/ is 0600 anyway).
if [[ $EUID -eq 0 ]]; then chmod 711 var; else chmod 700 var; fi
var="$root/var"

exec 9>"$var/dev-run.lock"
command -v flock >/dev/null || die "flock (util-linux) is needed"
flock -n 9 || die "another deploy/dev-run.sh (make run) is already running on $var"

# shellcheck source=tests/lib/pg.sh
. tests/lib/pg.sh

server_pid=""
cleaned=""
# shellcheck disable=SC2317 # called from traps
cleanup() {
	[[ -z "$cleaned" ]] || return 0
	cleaned=1
	if [[ -n "$server_pid" ]] && kill -0 "$server_pid" 2>/dev/null; then
		echo "dev-run.sh: stopping mdmid (pid $server_pid)" >&2
		# SIGTERM, not SIGINT: a background job of a script starts with SIGINT ignored.
		kill -TERM "$server_pid" 2>/dev/null || true
		local i
		for ((i = 0; i < 100; i++)); do
			kill -0 "$server_pid" 2>/dev/null || break
			sleep 0.1
		done
		if kill -0 "$server_pid" 2>/dev/null; then
			echo "dev-run.sh: mdmid did not stop within 10 s; killing it" >&2
			kill -KILL "$server_pid" 2>/dev/null || true
		fi
		wait "$server_pid" 2>/dev/null || true
	fi
	server_pid=""
	echo "dev-run.sh: stopping PostgreSQL" >&2
	pg_stop || true
}
# shellcheck disable=SC2317 # called from traps
on_signal() {
	trap '' INT TERM
	cleanup
	trap - EXIT
	exit "$1"
}
trap 'on_signal 130' INT
trap 'on_signal 143' TERM
trap cleanup EXIT

pg_start var/pg 9>&-  # the lock fd must not leak into the postmaster

# b. configuration (rewritten every run: the socket directory may change)
umask 077
conf="$var/mdmid.conf"
cat >"$conf.tmp" <<EOF
# development configuration written by make run: not for production
listen = 127.0.0.1:$port
scep_path = /scep
database = host=$PGHOST port=$PGPORT user=mdmid dbname=mdmid
ca_dir = $var/ca
challenge_file = $var/challenge
# one-time challenges from the admin API, and the static one above (UDID in the CN)
challenge_mode = both
admin_listen = 127.0.0.1:$admin_port
admin_token_file = $var/admin-token
public_url = http://127.0.0.1:$port/scep
allow_single_des = true
log_level = info
EOF
chmod 600 "$conf.tmp"
mv -f "$conf.tmp" "$conf"

# c. challenge: 24 random bytes, base64url without padding, kept across runs
if [[ ! -s "$var/challenge" ]]; then
	secret=$(head -c 24 /dev/urandom | base64 -w 0 | tr '+/' '-_' | tr -d '=')
	printf '%s' "$secret" >"$var/challenge.tmp"
	chmod 600 "$var/challenge.tmp"
	mv -f "$var/challenge.tmp" "$var/challenge"
fi
chmod 600 "$var/challenge"
challenge=$(tr -d '\r\n' <"$var/challenge")
# the admin API's bearer token, kept across runs
if [[ ! -s "$var/admin-token" ]]; then
	head -c 32 /dev/urandom | base64 -w 0 | tr '+/' '-_' | tr -d '=' >"$var/admin-token.tmp"
	chmod 600 "$var/admin-token.tmp"
	mv -f "$var/admin-token.tmp" "$var/admin-token"
fi
[[ -n "$challenge" ]] || die "$var/challenge is empty"

# d. schema and CA
"$bin" db migrate --config "$conf" || die "mdmid db migrate failed"
if [[ ! -f "$var/ca/ca.pem" ]]; then
	"$bin" ca init --config "$conf" --subject "/CN=mdmid development CA/O=mdmid dev" ||
		die "mdmid ca init failed"
	[[ -f "$var/ca/ca.pem" ]] || die "mdmid ca init did not write $var/ca/ca.pem"
fi

# e. variables for clients
url="http://127.0.0.1:$port/scep"
admin_url="http://127.0.0.1:$admin_port"
q() { printf "'%s'" "${1//\'/\'\\\'\'}"; } # single-quote for sh
{
	echo "# written by deploy/dev-run.sh (make run); valid while it runs"
	echo "export MDMID_URL=$(q "$url")"
	echo "export MDMID_CHALLENGE=$(q "$challenge")"
	echo "export PGHOST=$(q "$PGHOST")"
	echo "export PGPORT=$(q "$PGPORT")"
	echo "export PGUSER=$(q "$PGUSER")"
	echo "export PGDATABASE=$(q "$PGDATABASE")"
	echo "export MDMID_CONFIG=$(q "$conf")"
	echo "export MDMID_ADMIN_URL=$(q "$admin_url")"
	echo "export MDMID_ADMIN_TOKEN_FILE=$(q "$var/admin-token")"
} >"$var/dev.env.tmp"
chmod 600 "$var/dev.env.tmp"
mv -f "$var/dev.env.tmp" "$var/dev.env"
umask 022

# f. banner
cat <<EOF

================================ mdmid development server ================================
  SCEP URL   $url
  challenge  $challenge   (static: the UDID goes in the CN)
  admin API  $admin_url   (bearer token in var/admin-token)
  CA         $var/ca/ca.pem
  config     $conf
  psql:      . var/dev.env; psql
  enroll (scepclient writes csr.pem and self.pem beside the key: use a fresh directory):
    rm -rf /tmp/x && mkdir /tmp/x && scepclient -server-url $url -challenge $challenge -cn 00008030-001A2D8A3C02802E -private-key /tmp/x/key.pem -certificate /tmp/x/cert.pem
  a one-time challenge for a device:
    . var/dev.env; build/mdmid challenge new --udid 00008030-001A2D8A3C02802E    (or POST \$MDMID_ADMIN_URL/v1/challenges)
  WARNING: allow_single_des is ON here, for Debian's scepclient (it only speaks single DES).
           It must stay OFF in production (the default).
  Ctrl-C stops mdmid and PostgreSQL; the next run reuses var/ (cluster, CA, challenge).
==========================================================================================

EOF

# g. serve in the background (so the traps run), wait for it
"$bin" serve --config "$conf" 9>&- &
server_pid=$!
rc=0
wait "$server_pid" || rc=$?
server_pid=""
echo "dev-run.sh: mdmid exited with status $rc" >&2
exit "$rc"
