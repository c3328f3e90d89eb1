#!/usr/bin/env bash
# tests/lib/pg-selftest.sh [DIR]: TAP self-test of tests/lib/pg.sh.
# Starts a throwaway cluster in DIR (default: DIR=<mktemp -d>/pg), queries it, checks the
# exported variables, stops it, restarts it (reuse), tries a socket path too long for sun_path,
# and removes everything it made (DIR, DIR.path and any fallback directory under /tmp).
# Works as root (server runs as `postgres`) and as an ordinary user.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=tests/lib/pg.sh
. "$here/pg.sh"

n=0
failed=0
ok() { # ok CONDITION-STATUS DESCRIPTION
	local status=$1
	shift
	n=$((n + 1))
	if [[ "$status" -eq 0 ]]; then
		echo "ok $n - $*"
	else
		echo "not ok $n - $*"
		failed=$((failed + 1))
	fi
}
check() { # check DESCRIPTION -- COMMAND...
	local desc=$1
	shift 2
	if "$@"; then ok 0 "$desc"; else ok 1 "$desc"; fi
}

top=$(mktemp -d /tmp/mdmid-pgselftest.XXXXXX)
chmod 711 "$top" # as root, let postgres reach it (the fallback has its own test below)
dir=${1:-$top/pg}
[[ "$dir" == /* ]] || dir="$PWD/$dir"
# A directory whose socket path cannot fit in sun_path (107 bytes).
longdir="$top/$(printf 'x%.0s' {1..90})/pg"
# As root: a parent that postgres cannot traverse (like a clone under /root).
hiddendir="$top/private/var/pg"

cleanup_dir() { # remove DIR, DIR.path and a fallback data directory under /tmp
	local d=$1 rec
	if [[ -f "$d.path" ]]; then
		rec=$(head -n 1 -- "$d.path")
		case "$rec" in
		/tmp/mdmid-pg.*/data) rm -rf -- "$(dirname -- "$rec")" ;;
		esac
		rm -f -- "$d.path"
	fi
	rm -rf -- "$d"
}
cleanup() {
	pg_stop || true
	cleanup_dir "$dir"
	cleanup_dir "$longdir"
	cleanup_dir "$hiddendir"
	rm -rf -- "$top"
}
trap cleanup EXIT

plan=21
[[ $EUID -ne 0 ]] || plan=$((plan + 4))
echo "1..$plan"
echo "# running as $(id -un) (uid $EUID), DIR=$dir"

bindir=$(pg_bindir) || bindir=""
check "pg_bindir finds a server ($bindir)" -- test -x "$bindir/pg_ctl"

if pg_start "$dir"; then ok 0 "pg_start $dir"; else
	ok 1 "pg_start $dir"
	echo "Bail out! cannot start PostgreSQL"
	exit 1
fi
echo "# PG_DATADIR=$PG_DATADIR PGHOST=$PGHOST PGPORT=$PGPORT"
check "PG_DATADIR holds a cluster" -- test -f "$PG_DATADIR/PG_VERSION"
check "PGHOST is a directory holding the socket .s.PGSQL.$PGPORT" -- test -S "$PGHOST/.s.PGSQL.$PGPORT"
check "PGPORT ($PGPORT) is in 20000-60000 and recorded in the data directory" -- \
	test "$PGPORT" -ge 20000 -a "$PGPORT" -le 60000 -a "$(cat "$PG_DATADIR/port")" = "$PGPORT"
check "PGUSER and PGDATABASE are mdmid" -- test "$PGUSER:$PGDATABASE" = "mdmid:mdmid"
check "psql -Atc 'select 1' answers 1" -- test "$(psql -X -Atc 'select 1')" = 1
check "connected to database mdmid as mdmid" -- \
	test "$(psql -X -Atc 'select current_database(), current_user')" = "mdmid|mdmid"
check "no TCP listener (listen_addresses is empty)" -- test -z "$(psql -X -Atc 'show listen_addresses')"
check "fsync is on" -- test "$(psql -X -Atc 'show fsync')" = on
if [[ $EUID -eq 0 ]]; then
	check "as root the server runs as postgres" -- \
		test "$(stat -c %U "/proc/$(head -n 1 "$PG_DATADIR/postmaster.pid")")" = postgres -a \
		"$(stat -c %U "$PG_DATADIR")" = postgres
else
	check "as $(id -un) the data directory is ours" -- test "$(stat -c %U "$PG_DATADIR")" = "$(id -un)"
fi
psql -X -q -c 'create table selftest_keep (v int); insert into selftest_keep values (42)' >/dev/null
pg_createdb selftest_iso >/dev/null && psql -X -q -d selftest_iso -c 'create table t (v int)' >/dev/null
check "pg_createdb twice gives an empty database" -- \
	bash -c '. "$1"; pg_createdb selftest_iso && test "$(psql -X -d selftest_iso -Atc "select count(*) from pg_tables where tablename = '\''t'\''")" = 0' _ "$here/pg.sh"

port1=$PGPORT datadir1=$PG_DATADIR
pg_stop
check "pg_stop stops the server" -- bash -c '! pg_isready -q -h "$1" -p "$2"' _ "$PGHOST" "$PGPORT"
check "pg_stop twice is harmless" -- pg_stop

pg_start "$dir" 2>/dev/null
check "second pg_start reuses the cluster (same data directory and port)" -- \
	test "$PG_DATADIR:$PGPORT" = "$datadir1:$port1"
check "data survives a restart" -- test "$(psql -X -Atc 'select v from selftest_keep')" = 42
check "pg_start on a running cluster reuses it" -- pg_start "$dir"
pg_stop

if pg_start "$longdir" 2>/dev/null; then
	ok 0 "pg_start with a data directory too long for sun_path (${#longdir} chars)"
	check "the socket went to a temporary directory ($PGHOST)" -- test "${#PGHOST}" -lt 60 -a -S "$PGHOST/.s.PGSQL.$PGPORT"
	sock=$PGHOST
	check "psql works there" -- test "$(psql -X -Atc 'select 1')" = 1
	pg_stop
	check "pg_stop removed the temporary socket directory" -- test ! -e "$sock"
else
	for d in "pg_start with a long data directory" "temporary socket" "psql there" "socket dir removed"; do
		ok 1 "$d"
	done
fi

if [[ $EUID -eq 0 ]]; then
	mkdir -p "$top/private" && chmod 700 "$top/private"
	chmod 711 "$top"
	pg_start "$hiddendir" 2>/dev/null || true
	check "root, parent unreachable for postgres: data directory falls back to /tmp" -- \
		test "${PG_DATADIR:-}" != "$hiddendir" -a -f "${PG_DATADIR:-/nonexistent}/PG_VERSION" -a \
		"$(head -n 1 "$hiddendir.path" 2>/dev/null)" = "${PG_DATADIR:-}"
	check "psql works on the fallback cluster" -- test "$(psql -X -Atc 'select 1' 2>/dev/null)" = 1
	fallback=${PG_DATADIR:-}
	pg_stop
	pg_start "$hiddendir" 2>/dev/null || true
	check "a second pg_start finds the fallback cluster through DIR.path" -- test "${PG_DATADIR:-}" = "$fallback"
	pg_stop
	rm -rf -- "$(dirname -- "$fallback")"
	pg_start "$hiddendir" 2>/dev/null || true
	check "a vanished fallback is replaced by a new cluster" -- \
		test "${PG_DATADIR:-}" != "$fallback" -a "$(psql -X -Atc 'select 1' 2>/dev/null)" = 1
	pg_stop
fi

trap - EXIT
cleanup
[[ $failed -eq 0 ]] || {
	echo "# $failed of $n failed"
	exit 1
}
