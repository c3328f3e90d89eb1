#!/usr/bin/env bash
# Runs unit test binaries (cmocka, TAP output) and integration scripts (TAP)
# under one prove, against one throwaway PostgreSQL cluster that every
# integration script gets its own database in. Prints "N passed, M failed".
# Usage: tests/run-tests.sh TEST...   (MDMID_BUILD names the build directory)
set -euo pipefail
cd "$(dirname "$0")/.."
# Only the variables this script sets reach the tests: a sourced var/dev.env
# (MDMID_CONFIG, MDMID_CHALLENGE, ...) must not change what they test.
for v in $(env | sed -n "s/^\(MDMID_[A-Z_]*\)=.*/\1/p"); do
	case $v in MDMID_BUILD | MDMID_KEEP_WORK | MDMID_VALGRIND | MDMID_TIME_SCALE) ;; *) unset "$v" ;; esac
done
export MDMID_ROOT=$PWD
export MDMID_BUILD=${MDMID_BUILD:-build}
export MDMID_BIN=$MDMID_ROOT/$MDMID_BUILD/mdmid
export SCEP_REQ=$MDMID_ROOT/$MDMID_BUILD/scep-req
export CMOCKA_MESSAGE_OUTPUT=TAP
# Sanitizer builds: fail on the first report, leaks included.
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0:exitcode=66}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

work=$(mktemp -d /tmp/mdmid-check.XXXXXX)
chmod 755 "$work"
export MDMID_TEST_WORK=$work
# shellcheck source=tests/lib/pg.sh
source tests/lib/pg.sh
cleanup() {
	pg_stop >/dev/null 2>&1 || true
	if [[ -z "${MDMID_KEEP_WORK:-}" ]]; then
		rm -rf "$work"
		# a cluster moved out of $work by pg.sh's fallback
		if [[ -f "$work/pg.path" ]]; then rm -rf "$(dirname "$(cat "$work/pg.path")")"; fi
	else
		echo "kept $work" >&2
	fi
}
trap cleanup EXIT
pg_start "$work/pg" >"$work/pg-start.log" 2>&1 || { cat "$work/pg-start.log" >&2; exit 1; }
export MDMID_TEST_PGHOST=$PGHOST MDMID_TEST_PGPORT=$PGPORT

set +e
prove --exec '' --timer ${PROVE_VERBOSE:+-v} "$@" 2>&1 | tee "$work/prove.log"
status=${PIPESTATUS[0]}
set -e
total=$(sed -n 's/^Files=[0-9]*, Tests=\([0-9]*\),.*/\1/p' "$work/prove.log" | tail -n 1)
failed=$(sed -n 's/.*Failed \([0-9]*\)\/[0-9]* subtests.*/\1/p' "$work/prove.log" | awk '{s += $1} END {print s + 0}')
total=${total:-0}
if [[ $status -ne 0 && $failed -eq 0 ]]; then
	failed=1 # a script died or its plan was wrong
fi
echo "check: $((total - failed)) passed, $failed failed"
exit "$status"
