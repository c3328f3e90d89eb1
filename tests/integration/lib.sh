# shellcheck shell=bash
# Helpers for integration scenarios: TAP output, a private database, a CA and
# a running mdmid per script. Source it, then call t_setup.
#
#   t_setup NAME           temp dir $T, database $DB (migrated), CA in $T/ca (RA mode)
#   t_config LINE...       extra config lines for the next t_start
#   t_start                starts `mdmid serve`; sets $PORT and $URL (…/scep)
#   t_stop                 SIGTERM; a TAP test that it exited 0 (sanitizer reports fail it)
#   T_LISTEN               the listen address t_start writes (default 127.0.0.1:0, a free
#                          port); set it to 127.0.0.1:$PORT to restart a server on its port
#   t_scale SECONDS        a time limit scaled by $T_SCALE (integer seconds)
#   ok COND NAME / is GOT WANT NAME / like GOT REGEX NAME / diag MSG / done_testing
#   q SQL                  psql -Atq against $DB
#
# MDMID_VALGRIND=1 (`make valgrind`) runs the server t_start starts under valgrind
# memcheck: any error or definite/indirect leak makes it exit 99, which t_stop reports.
# Every other run of $MDMID_BIN (the CLI) goes through a wrapper that runs it under
# memcheck too, and done_testing reports any error or leak they had.
# Time limits in the scripts are multiplied by MDMID_TIME_SCALE: by default 10 under
# valgrind, 3 for a sanitizer build (MDMID_BUILD=build-san, `make check SAN=1`), else 1.
set -euo pipefail

MDMID_ROOT=${MDMID_ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
MDMID_BUILD=${MDMID_BUILD:-build}
MDMID_BIN=${MDMID_BIN:-$MDMID_ROOT/$MDMID_BUILD/mdmid}
SCEP_REQ=${SCEP_REQ:-$MDMID_ROOT/$MDMID_BUILD/scep-req}
_T_REAL_BIN=$MDMID_BIN
VALGRIND_OPTS=(-q --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite,indirect
	--show-leak-kinds=definite,indirect --track-origins=no --num-callers=30)
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:exitcode=66}
MDMID_VALGRIND=${MDMID_VALGRIND:-}
if [[ -n "$MDMID_VALGRIND" && "$MDMID_VALGRIND" != 0 ]]; then
	T_SCALE=${MDMID_TIME_SCALE:-10}
else
	MDMID_VALGRIND=""
	if [[ $MDMID_BUILD == build-san ]]; then T_SCALE=${MDMID_TIME_SCALE:-3}; else T_SCALE=${MDMID_TIME_SCALE:-1}; fi
fi
T_LISTEN=${T_LISTEN:-127.0.0.1:0}
t_scale() { echo $(($1 * T_SCALE)); }

_t_n=0
_t_failed=0
SERVER_PID=""
_T_OWN_PG=""

ok() {
	local cond=$1 name=$2
	_t_n=$((_t_n + 1))
	if [[ "$cond" == 0 || "$cond" == true ]]; then
		echo "ok $_t_n - $name"
	else
		echo "not ok $_t_n - $name"
		_t_failed=$((_t_failed + 1))
	fi
}
# ok_cmd NAME CMD...: passes when CMD exits 0
ok_cmd() {
	local name=$1
	shift
	if "$@" >"$T/ok_cmd.out" 2>&1; then ok 0 "$name"; else
		ok 1 "$name"
		sed 's/^/# /' "$T/ok_cmd.out"
	fi
}
is() {
	if [[ "$1" == "$2" ]]; then ok 0 "$3"; else
		ok 1 "$3"
		diag "got: '$1'"
		diag "expected: '$2'"
	fi
}
like() {
	if [[ "$1" =~ $2 ]]; then ok 0 "$3"; else
		ok 1 "$3"
		diag "got: '$1'"
		diag "expected to match: '$2'"
	fi
}
diag() { printf '# %s\n' "$*"; }
done_testing() {
	if [[ -n "${MDMID_VALGRIND:-}" && -d "${T:-}/vg" ]]; then
		local logs=("$T"/vg/cli.*.log) bad=()
		for f in "${logs[@]}"; do [[ -s $f ]] && bad+=("$f"); done
		is "${#bad[@]}" 0 "memcheck: no error or leak in the CLI runs (${#logs[@]} runs)"
		if ((${#bad[@]})); then head -n 200 "${bad[@]}" | sed 's/^/# /'; fi
	fi
	echo "1..$_t_n"
	[[ $_t_failed -eq 0 ]]
}

q() { psql -X -Atq -v ON_ERROR_STOP=1 -d "$DB" -c "$1"; }

_t_cleanup() {
	local rc=$?
	if [[ -n "$SERVER_PID" ]] && kill -0 "$SERVER_PID" 2>/dev/null; then
		kill -TERM "$SERVER_PID" 2>/dev/null || true
		wait "$SERVER_PID" 2>/dev/null || true
	fi
	# Whatever else the test left running in the background (load loops,
	# listeners): after an early exit they would hold prove's output open.
	local left
	left=$(jobs -p)
	if [[ -n $left ]]; then
		# shellcheck disable=SC2086 # one PID per word
		kill -TERM $left 2>/dev/null || true
		wait 2>/dev/null || true
	fi
	if [[ -n "$_T_OWN_PG" ]]; then pg_stop >/dev/null 2>&1 || true; fi
	if [[ -n "${T:-}" && -z "${MDMID_KEEP_WORK:-}" ]]; then rm -rf "$T"; fi
	return $rc
}

t_setup() {
	local name=$1
	# shellcheck source=tests/lib/pg.sh
	source "$MDMID_ROOT/tests/lib/pg.sh"
	T=$(mktemp -d "${MDMID_TEST_WORK:-/tmp}/$name.XXXXXX")
	trap _t_cleanup EXIT
	if [[ -n "${MDMID_VALGRIND:-}" ]]; then
		mkdir -p "$T/vg"
		{
			echo '#!/bin/sh'
			printf 'exec valgrind'
			printf ' %q' "${VALGRIND_OPTS[@]}" "--log-file=$T/vg/cli.%p.log" "$_T_REAL_BIN"
			echo ' "$@"'
		} >"$T/vg/mdmid"
		chmod 755 "$T/vg/mdmid"
		MDMID_BIN=$T/vg/mdmid
	fi
	if [[ -n "${MDMID_TEST_PGHOST:-}" ]]; then
		export PGHOST=$MDMID_TEST_PGHOST PGPORT=$MDMID_TEST_PGPORT PGUSER=mdmid
	else
		# Run alone (not under make check): a cluster of our own.
		chmod 755 "$T"
		pg_start "$T/pg" >"$T/pg.log" 2>&1 || { cat "$T/pg.log"; exit 1; }
		_T_OWN_PG=1
	fi
	DB="t_${name//[^a-z0-9]/_}_$$"
	export PGDATABASE=$DB
	pg_createdb "$DB" >/dev/null
	CONF_EXTRA=""
	printf 'test-challenge-%s\n' "$$" >"$T/challenge"
	CHALLENGE=$(cat "$T/challenge")
	head -c 24 /dev/urandom | base64 | tr '+/' '-_' >"$T/admin-token"
	ADMIN_TOKEN=$(cat "$T/admin-token")
	"$MDMID_BIN" db migrate --config /dev/null >/dev/null
	"$MDMID_BIN" ca init --config /dev/null --dir "$T/ca" --bits 2048 --subject "/CN=mdmid test CA/O=mdmid tests" >/dev/null
}

t_config() {
	local line
	for line in "$@"; do CONF_EXTRA+="$line"$'\n'; done
}

# Writes $T/mdmid.conf from the defaults of a test and $CONF_EXTRA.
t_write_config() {
	cat >"$T/mdmid.conf" <<CONF
listen = $T_LISTEN
port_file = $T/port
database = host=$PGHOST port=$PGPORT user=mdmid dbname=$DB
ca_dir = $T/ca
challenge_file = $T/challenge
challenge_mode = static
admin_listen = 127.0.0.1:0
admin_token_file = $T/admin-token
log_level = info
$CONF_EXTRA
CONF
}

t_start() {
	t_write_config
	rm -f "$T/port"
	local -a wrap=()
	if [[ -n "${MDMID_VALGRIND:-}" ]]; then
		# valgrind runs the program in its own process: $SERVER_PID gets the signals.
		wrap=(valgrind "${VALGRIND_OPTS[@]}" "--log-file=$T/valgrind.%p.log")
	fi
	"${wrap[@]}" "$_T_REAL_BIN" serve --config "$T/mdmid.conf" >>"$T/server.log" 2>&1 &
	SERVER_PID=$!
	local i
	for ((i = 0; i < 100 * T_SCALE; i++)); do
		[[ -s "$T/port" ]] && break
		if ! kill -0 "$SERVER_PID" 2>/dev/null; then break; fi
		sleep 0.1
	done
	if [[ ! -s "$T/port" ]]; then
		echo "Bail out! mdmid serve did not start"
		sed 's/^/# /' "$T/server.log"
		exit 1
	fi
	PORT=$(sed -n 1p "$T/port")
	ADMIN_PORT=$(sed -n 2p "$T/port")
	ADMIN_URL="http://127.0.0.1:$ADMIN_PORT"
	URL="http://127.0.0.1:$PORT/scep"
}

t_stop() {
	local rc=0 pid=$SERVER_PID
	[[ -n "$SERVER_PID" ]] || return 0
	kill -TERM "$SERVER_PID"
	wait "$SERVER_PID" || rc=$?
	SERVER_PID=""
	is "$rc" 0 "server stopped cleanly on SIGTERM (no sanitizer report)"
	if [[ $rc -ne 0 ]]; then
		tail -n 60 "$T/server.log" | sed 's/^/# /'
		if [[ -n "${MDMID_VALGRIND:-}" ]]; then head -n 300 "$T/valgrind.$pid.log" 2>/dev/null | sed 's/^/# /'; fi
	fi
}

# admin METHOD PATH [curl args]: calls the admin API with the bearer token;
# sets HTTP_STATUS and BODY (not in a subshell, so both are kept).
admin() {
	local method=$1 path=$2
	shift 2
	HTTP_STATUS=$(curl -sS -o "$T/admin.out" -w '%{http_code}' -X "$method" \
		-H "Authorization: Bearer $ADMIN_TOKEN" "$@" "$ADMIN_URL$path")
	BODY=$(cat "$T/admin.out")
}

# udid_for NAME: a stable 40-hex-digit UDID (the older iOS shape) for a test device.
udid_for() { printf '%s' "$1" | sha1sum | cut -c1-40 | tr 'a-f' 'A-F'; }

# scepclient in a fresh directory (it reuses csr.pem it finds): t_scepclient DIR ARGS...
t_scepclient() {
	local dir=$1
	shift
	mkdir -p "$dir"
	(cd "$dir" && timeout "$(t_scale 60)" scepclient -server-url "$URL" -private-key "$dir/key.pem" \
		-certificate "$dir/cert.pem" "$@" >"$dir/out.log" 2>&1)
}
