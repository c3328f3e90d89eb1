#!/usr/bin/env bash
# Every fuzz seed (tests/fuzz/corpus/HARNESS) and every input that once
# crashed a parser (tests/fuzz/regressions/HARNESS) goes through its harness,
# built without libFuzzer by the normal build ($MDMID_BUILD/fuzz/replay-*,
# with the sanitizers under `make check SAN=1`): one test per input. No
# server, no database.
source "$(dirname "$0")/lib.sh"
T=$(mktemp -d "${MDMID_TEST_WORK:-/tmp}/fuzz_regressions.XXXXXX")
trap 'rm -rf "$T"' EXIT

fuzz=$MDMID_ROOT/tests/fuzz
for h in pkimsg get_query mdmsig admin_json config p12_udids forwarded_for; do
	bin=$MDMID_ROOT/$MDMID_BUILD/fuzz/replay-$h
	inputs=()
	for dir in "$fuzz/corpus/$h" "$fuzz/regressions/$h"; do
		[[ -d $dir ]] || continue
		while IFS= read -r f; do inputs+=("$f"); done < <(find "$dir" -type f | sort)
	done
	if [[ ! -x $bin ]]; then
		ok 1 "$h: $bin is built (make check builds it)"
		continue
	fi
	if [[ ${#inputs[@]} -eq 0 ]]; then
		ok 1 "$h: has seeds in tests/fuzz/corpus/$h"
		continue
	fi
	# All at once (the CA of a harness is made once); on a failure, each
	# input again on its own to name the ones that fail.
	rc=0
	(cd "$T" && timeout 600 "$bin" "${inputs[@]}") >"$T/out" 2>"$T/err" </dev/null || rc=$?
	for f in "${inputs[@]}"; do
		name=${f#"$fuzz"/}
		if [[ $rc -eq 0 ]] && grep -Fxq "replayed $f" "$T/out"; then
			ok 0 "$name"
			continue
		fi
		one=0
		(cd "$T" && timeout 120 "$bin" "$f") >"$T/one.out" 2>"$T/one.err" </dev/null || one=$?
		if [[ $one -eq 0 ]] && grep -Fxq "replayed $f" "$T/one.out"; then
			ok 0 "$name"
		else
			ok 1 "$name"
			diag "exit status $one"
			{ grep -E 'ERROR|SUMMARY|FUZZ_CHECK|Assertion|runtime error' "$T/one.err" || true; } | head -n 5 | sed 's/^/# /'
		fi
	done
	is "$rc" 0 "$h: every input in one process"
	if [[ $rc -ne 0 ]]; then
		{ grep -E 'ERROR|SUMMARY|FUZZ_CHECK|Assertion|runtime error' "$T/err" || true; } | head -n 5 | sed 's/^/# /'
	fi
done
done_testing
