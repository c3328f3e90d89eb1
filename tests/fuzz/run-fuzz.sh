#!/usr/bin/env bash
# tests/fuzz/run-fuzz.sh HARNESS...: runs each libFuzzer harness of
# $FUZZ_BUILD (build-fuzz) for $FUZZ_SECONDS (60) seconds, one at a time, on
# a scratch copy of tests/fuzz/corpus/HARNESS (the committed corpus never
# grows), then prints per harness: seconds, executions, exec/s, coverage
# (cov = edges, ft = features, from libFuzzer's last status line) and the
# corpus size at the end. A crash keeps its scratch directory (the input is
# its crash-* file) and makes the script exit 1. Called by `make fuzz`.
set -euo pipefail
cd "$(dirname "$0")/../.."
build=${FUZZ_BUILD:-build-fuzz}
seconds=${FUZZ_SECONDS:-60}
[[ $# -gt 0 ]] || set -- pkimsg get_query mdmsig admin_json config p12_udids

results=()
failed=0
for h in "$@"; do
	bin=$build/fuzz_$h
	[[ -x $bin ]] || { echo "run-fuzz: $bin not built (make fuzz-build)" >&2; exit 1; }
	scratch=$(mktemp -d /tmp/mdmid-fuzz.XXXXXX)
	mkdir "$scratch/corpus"
	if [[ -d tests/fuzz/corpus/$h ]]; then cp tests/fuzz/corpus/"$h"/* "$scratch/corpus/" 2>/dev/null || true; fi
	dict=()
	[[ -f tests/fuzz/dict/$h.dict ]] && dict=(-dict=tests/fuzz/dict/"$h".dict)
	echo "== $h: ${seconds}s (log: $scratch/log)"
	start=$(date +%s)
	rc=0
	# stdin from /dev/null: nothing a harness reads may wait on a terminal.
	ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1} UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1} \
		"$bin" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
		-artifact_prefix="$scratch/" "${dict[@]}" "$scratch/corpus" </dev/null >"$scratch/log" 2>&1 || rc=$?
	took=$(($(date +%s) - start))
	status=$({ grep -E '^#[0-9]+' "$scratch/log" || true; } | tail -n 1)
	execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$scratch/log" | tail -n 1)
	rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$scratch/log" | tail -n 1)
	[[ -n $execs ]] || execs=$(sed -n 's/^#\([0-9]*\).*/\1/p' <<<"$status")
	cov=$(sed -n 's/.* cov: \([0-9]*\).*/\1/p' <<<"$status")
	ft=$(sed -n 's/.* ft: \([0-9]*\).*/\1/p' <<<"$status")
	files=$(find "$scratch/corpus" -type f | wc -l)
	bytes=$(find "$scratch/corpus" -type f -printf '%s\n' | awk '{s += $1} END {print s + 0}')
	if [[ $rc -ne 0 ]]; then
		failed=1
		artifact=$(find "$scratch" -maxdepth 1 -type f \( -name 'crash-*' -o -name 'leak-*' -o -name 'timeout-*' \
			-o -name 'oom-*' \) | head -n 1)
		outcome="CRASH: ${artifact:-see $scratch/log}"
		{ grep -E 'ERROR: |SUMMARY: |FUZZ_CHECK|Assertion' "$scratch/log" || true; } | head -n 5 | sed 's/^/    /'
	else
		outcome=ok
	fi
	results+=("$(printf '%-11s %5ss %10s %7s %6s %6s %6s %9s  %s' "$h" "$took" "${execs:-?}" "${rate:-?}" \
		"${cov:-?}" "${ft:-?}" "$files" "$bytes" "$outcome")")
	[[ $rc -ne 0 ]] || rm -rf "$scratch"
done
echo
printf '%-11s %6s %10s %7s %6s %6s %6s %9s  %s\n' harness time execs exec/s cov ft files bytes outcome
printf '%s\n' "${results[@]}"
exit "$failed"
