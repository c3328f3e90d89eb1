# shellcheck shell=bash
# tests/lib/pg.sh: run a throwaway PostgreSQL cluster for tests and `make run`.
#
# Source it from bash (the caller owns `set -euo pipefail`), then:
#   pg_bindir           print the newest /usr/lib/postgresql/*/bin (or $PG_BINDIR if set)
#   pg_start DIR        reuse or initdb the cluster in DIR, start it on a Unix socket only,
#                       wait for it, create database mdmid; exports PGHOST PGPORT PGUSER
#                       PGDATABASE and sets PG_DATADIR (the data directory really used)
#   pg_stop             stop the cluster started by pg_start (fast); safe to call twice
#   pg_createdb NAME    (re)create database NAME, empty: isolated databases for tests
#
# Details:
# - initdb: superuser mdmid, trust authentication, UTF8, locale C; fsync stays on.
# - listen_addresses = '' (no TCP). The socket lives in DIR/sock, or in a mktemp -d under /tmp
#   when that path would not fit in sun_path. The port (random, 20000-60000, kept in DIR/port)
#   only names the socket file.
# - PG_START_OPTS: extra server options passed through `pg_ctl -o`, e.g. '-c fsync=off'.
# - As root, PostgreSQL runs as the `postgres` user (runuser). When `postgres` cannot traverse
#   DIR's parent (a clone under /root), the data directory goes to a mktemp -d under /tmp, and
#   its path is recorded in the file DIR.path so a later pg_start DIR reuses it.
# - A cluster already running in the data directory is reused (its port and socket are read
#   from postmaster.pid).
# - Log: DIR/log (PG_DATADIR/log).

_pg_die() {
	echo "pg.sh: error: $*" >&2
	return 1
}

_pg_note() {
	echo "pg.sh: $*" >&2
}

pg_bindir() {
	if [[ -n "${PG_BINDIR:-}" ]]; then
		[[ -x "$PG_BINDIR/pg_ctl" ]] || _pg_die "PG_BINDIR=$PG_BINDIR has no pg_ctl" || return 1
		printf '%s\n' "$PG_BINDIR"
		return 0
	fi
	local d best=""
	# sort -V: 9.6 < 10 < 15 < 16
	best=$(for d in /usr/lib/postgresql/*/bin; do
		[[ -x "$d/pg_ctl" ]] && printf '%s\n' "$d"
	done | sort -V | tail -n 1)
	[[ -n "$best" ]] || _pg_die "no PostgreSQL server found under /usr/lib/postgresql/*/bin (run deploy/install-deps.sh)" || return 1
	printf '%s\n' "$best"
}

# Run a server program as the cluster owner: `postgres` when we are root, else ourselves.
# cd / first: the caller's working directory may be unreadable for postgres.
_pg_as_owner() {
	if [[ $EUID -eq 0 ]]; then
		(cd / && runuser -u postgres -- "$@")
	else
		"$@"
	fi
}

_pg_abspath() {
	local p=$1
	[[ "$p" == /* ]] || p="$PWD/$p"
	# normalise without requiring existence
	realpath -m -- "$p"
}

_pg_log_tail() {
	local log=$1
	if [[ -r "$log" ]]; then
		echo "pg.sh: last lines of $log:" >&2
		tail -n 30 -- "$log" | sed 's/^/    /' >&2
	else
		echo "pg.sh: no log at $log" >&2
	fi
}

# Choose the data directory for DIR. Prints it. Root only may fall back to /tmp.
_pg_choose_datadir() {
	local dir=$1 parent recorded tmp
	parent=$(dirname -- "$dir")
	if [[ -f "$dir/PG_VERSION" ]]; then
		printf '%s\n' "$dir"
		return 0
	fi
	if [[ -f "$dir.path" ]]; then
		recorded=$(head -n 1 -- "$dir.path")
		if [[ -n "$recorded" && -f "$recorded/PG_VERSION" ]]; then
			printf '%s\n' "$recorded"
			return 0
		fi
		_pg_note "the cluster recorded in $dir.path ($recorded) is gone; making a new one"
		rm -f -- "$dir.path"
	fi
	mkdir -p -- "$parent" || _pg_die "cannot create $parent" || return 1
	if [[ $EUID -ne 0 ]]; then
		printf '%s\n' "$dir"
		return 0
	fi
	if (cd / && runuser -u postgres -- test -x "$parent") 2>/dev/null; then
		printf '%s\n' "$dir"
		return 0
	fi
	tmp=$(mktemp -d /tmp/mdmid-pg.XXXXXX) || _pg_die "mktemp failed" || return 1
	chmod 755 "$tmp"
	_pg_note "note: user postgres cannot reach $parent; the cluster lives in $tmp/data instead (recorded in $dir.path)"
	printf '%s\n' "$tmp/data" >"$dir.path"
	printf '%s\n' "$tmp/data"
}

pg_start() {
	[[ $# -eq 1 && -n "$1" ]] || _pg_die "usage: pg_start DIR" || return 1
	local dir bindir datadir port sockdir log pidfile opts i
	dir=$(_pg_abspath "$1") || return 1
	bindir=$(pg_bindir) || return 1
	if [[ $EUID -eq 0 ]]; then
		id -u postgres >/dev/null 2>&1 || _pg_die "running as root but there is no 'postgres' user (install the postgresql package)" || return 1
		command -v runuser >/dev/null || _pg_die "running as root needs runuser (util-linux)" || return 1
	fi
	datadir=$(_pg_choose_datadir "$dir") || return 1
	case "$datadir" in
	*\'* | *\\* | *' '*) _pg_die "data directory path must not contain quotes, backslashes or spaces: $datadir" || return 1 ;;
	esac
	log="$datadir/log"
	pidfile="$datadir/postmaster.pid"

	# 1. initdb when there is no cluster yet
	if [[ ! -f "$datadir/PG_VERSION" ]]; then
		if [[ -d "$datadir" ]] && [[ -n "$(ls -A -- "$datadir")" ]]; then
			_pg_die "$datadir exists, is not empty and holds no cluster (no PG_VERSION): remove it" || return 1
		fi
		mkdir -p -- "$datadir" || _pg_die "cannot create $datadir" || return 1
		chmod 700 "$datadir"
		if [[ $EUID -eq 0 ]]; then
			chown postgres:postgres "$datadir"
		fi
		if ! _pg_as_owner "$bindir/initdb" -D "$datadir" -U mdmid --auth=trust -E UTF8 \
			--locale=C --no-instructions >"$datadir.initdb.log" 2>&1; then
			cat -- "$datadir.initdb.log" >&2
			rm -f -- "$datadir.initdb.log"
			_pg_die "initdb failed in $datadir" || return 1
		fi
		rm -f -- "$datadir.initdb.log"
		# socket only, even if someone starts it by hand
		printf '%s\n' "listen_addresses = ''" >>"$datadir/postgresql.conf"
	fi

	# 2. already running? reuse it
	_PG_SOCK_TMP=""
	if _pg_as_owner "$bindir/pg_ctl" -D "$datadir" status >/dev/null 2>&1 && [[ -r "$pidfile" ]]; then
		port=$(sed -n 4p "$pidfile")
		sockdir=$(sed -n 5p "$pidfile")
		# a temporary socket directory made by an earlier pg_start: ours to remove now
		[[ "$sockdir" != /tmp/mdmid-pgsock.* ]] || _PG_SOCK_TMP=$sockdir
		_pg_note "reusing the server already running in $datadir (socket $sockdir, port $port)"
	else
		# 3. port: chosen once, kept in DIR/port
		if [[ -s "$datadir/port" ]]; then
			port=$(head -n 1 -- "$datadir/port")
		else
			port=$(shuf -i 20000-60000 -n 1)
			echo "$port" >"$datadir/port"
			[[ $EUID -ne 0 ]] || chown postgres:postgres "$datadir/port"
		fi
		[[ "$port" =~ ^[0-9]+$ ]] || _pg_die "bad port '$port' in $datadir/port" || return 1

		# 4. socket directory: sun_path holds 107 bytes + NUL
		sockdir="$datadir/sock"
		if ((${#sockdir} + ${#port} + 10 > 107)); then
			sockdir=$(mktemp -d /tmp/mdmid-pgsock.XXXXXX) || _pg_die "mktemp failed" || return 1
			_PG_SOCK_TMP=$sockdir
			[[ $EUID -ne 0 ]] || chown postgres:postgres "$sockdir"
			_pg_note "note: $datadir/sock is too long for a Unix socket path; using $sockdir"
		else
			_pg_as_owner mkdir -p -- "$sockdir"
		fi

		# 5. start
		opts="-p $port -k '$sockdir' -c listen_addresses=''${PG_START_OPTS:+ $PG_START_OPTS}"
		if ! _pg_as_owner "$bindir/pg_ctl" -D "$datadir" -l "$log" -w -t 30 -o "$opts" start >/dev/null; then
			_pg_log_tail "$log"
			[[ -z "$_PG_SOCK_TMP" ]] || rm -rf -- "$_PG_SOCK_TMP"
			_PG_SOCK_TMP=""
			_pg_die "PostgreSQL did not start in $datadir" || return 1
		fi
	fi

	export PGHOST="$sockdir" PGPORT="$port" PGUSER=mdmid PGDATABASE=mdmid
	PG_DATADIR="$datadir"
	_PG_BINDIR="$bindir"
	_PG_STARTED=1

	# 6. wait for pg_isready (pg_ctl -w already waited; this is the client-side check)
	for ((i = 0; i < 300; i++)); do
		if pg_isready -q -h "$PGHOST" -p "$PGPORT" -d postgres; then
			break
		fi
		sleep 0.1
	done
	if ((i >= 300)); then
		_pg_log_tail "$log"
		_pg_die "PostgreSQL in $datadir did not answer pg_isready within 30 s" || return 1
	fi

	# 7. database mdmid
	if [[ -z "$(psql -X -d postgres -Atc "select 1 from pg_database where datname = 'mdmid'")" ]]; then
		createdb mdmid || _pg_die "createdb mdmid failed" || return 1
	fi
	return 0
}

pg_stop() {
	local bindir=${_PG_BINDIR:-}
	if [[ -n "${_PG_STARTED:-}" && -n "${PG_DATADIR:-}" ]]; then
		[[ -n "$bindir" ]] || bindir=$(pg_bindir) || return 1
		if [[ -f "$PG_DATADIR/postmaster.pid" ]] &&
			_pg_as_owner "$bindir/pg_ctl" -D "$PG_DATADIR" status >/dev/null 2>&1; then
			if ! _pg_as_owner "$bindir/pg_ctl" -D "$PG_DATADIR" -m fast -w -t 60 stop >/dev/null; then
				_pg_log_tail "$PG_DATADIR/log"
				_pg_note "warning: pg_ctl stop failed for $PG_DATADIR"
			fi
		fi
		_PG_STARTED=""
	fi
	if [[ -n "${_PG_SOCK_TMP:-}" ]]; then
		rm -rf -- "$_PG_SOCK_TMP"
		_PG_SOCK_TMP=""
	fi
	return 0
}

pg_createdb() {
	[[ $# -eq 1 && -n "$1" ]] || _pg_die "usage: pg_createdb NAME" || return 1
	[[ -n "${PGHOST:-}" && -n "${PGPORT:-}" ]] || _pg_die "pg_createdb: call pg_start first" || return 1
	PGOPTIONS="${PGOPTIONS:-} -c client_min_messages=warning" dropdb --if-exists -- "$1" || _pg_die "dropdb $1 failed" || return 1
	createdb -- "$1" || _pg_die "createdb $1 failed" || return 1
}
