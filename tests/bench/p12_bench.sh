#!/usr/bin/env bash
# PKCS#12 batch export throughput against the key-generation-only ceiling.
#
# For RSA-2048 and EC P-256, with --jobs 1 and --jobs 2 (more with --jobs),
# times `mdmid p12 export` on a fresh list into a fresh directory against a
# throwaway PostgreSQL, then measures keygen_rate (EVP_RSA_gen / EVP_EC_gen
# alone) with the same number of threads in the same run, and prints
# identities/s, keys/s and their ratio. Not part of `make check`.
#
# Usage: tests/bench/p12_bench.sh [--rsa-devices N] [--ec-devices N] [--jobs "1 2"]
#                                 [--profile legacy|modern] [--keygen-seconds S]
# Results: printed, and kept in $MDMID_BUILD/bench/p12-<UTC time>.txt (build/bench/ by default).
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
BUILD=${MDMID_BUILD:-build}
[[ $BUILD == /* ]] || BUILD=$ROOT/$BUILD
MDMID_BIN=$BUILD/mdmid
KEYGEN=$BUILD/keygen_rate

RSA_DEVICES=40
EC_DEVICES=400
JOBS="1 2"
PROFILE=legacy
KEYGEN_SECONDS=""
while [[ $# -gt 0 ]]; do
	case $1 in
	--rsa-devices) RSA_DEVICES=$2; shift 2 ;;
	--ec-devices) EC_DEVICES=$2; shift 2 ;;
	--jobs) JOBS=$2; shift 2 ;;
	--profile) PROFILE=$2; shift 2 ;;
	--keygen-seconds) KEYGEN_SECONDS=$2; shift 2 ;;
	-h | --help) sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
	*) echo "p12_bench: unknown argument $1" >&2; exit 2 ;;
	esac
done

# Everything the run needs, built now.
if [[ ! -x $MDMID_BIN ]]; then make BUILD="$BUILD" "$BUILD/mdmid" >/dev/null; fi
"$MDMID_BIN" p12 export --help >/dev/null 2>&1 || { echo "p12_bench: $MDMID_BIN has no 'p12 export'" >&2; exit 1; }
gcc -std=c11 -O2 -Wall -Wextra -Werror -o "$KEYGEN" tests/bench/keygen_rate.c -lcrypto -lpthread

work=$(mktemp -d /tmp/mdmid-bench.XXXXXX)
chmod 755 "$work"
# shellcheck source=tests/lib/pg.sh
source tests/lib/pg.sh
cleanup() {
	pg_stop >/dev/null 2>&1 || true
	if [[ -z "${MDMID_KEEP_WORK:-}" ]]; then
		rm -rf "$work"
		if [[ -f "$work/pg.path" ]]; then rm -rf "$(dirname "$(cat "$work/pg.path")")"; fi
	else
		echo "kept $work" >&2
	fi
}
trap cleanup EXIT
pg_start "$work/pg" >"$work/pg.log" 2>&1 || { cat "$work/pg.log" >&2; exit 1; }
export PGDATABASE=mdmid_bench
pg_createdb "$PGDATABASE" >/dev/null
"$MDMID_BIN" db migrate --config /dev/null >/dev/null
"$MDMID_BIN" ca init --config /dev/null --dir "$work/ca" --bits 2048 --subject "/CN=mdmid bench CA/O=mdmid bench" >/dev/null
printf 'bench-challenge\n' >"$work/challenge"
head -c 24 /dev/urandom | base64 | tr '+/' '-_' >"$work/admin-token"
cat >"$work/mdmid.conf" <<CONF
listen = 127.0.0.1:0
database = host=$PGHOST port=$PGPORT user=mdmid dbname=$PGDATABASE
ca_dir = $work/ca
challenge_file = $work/challenge
challenge_mode = static
admin_listen = 127.0.0.1:0
admin_token_file = $work/admin-token
log_level = warn
CONF

mkdir -p "$BUILD/bench"
result=$BUILD/bench/p12-$(date -u +%Y%m%dT%H%M%SZ).txt
now_ns() { date +%s%N; }

# run_case KEY DEVICES JOBS: one export and one keygen measurement; prints a table row.
run_case() {
	local key=$1 n=$2 jobs=$3 tag list out t0 t1 secs ids kps ratio other secs_kg i
	tag=$key-j$jobs
	list=$work/$tag.txt
	out=$work/out-$tag
	for ((i = 1; i <= n; i++)); do printf '%s' "bench-$tag-$i" | sha1sum | cut -c1-40 | tr 'a-f' 'A-F'; done >"$list"
	t0=$(now_ns)
	if ! "$MDMID_BIN" p12 export --config "$work/mdmid.conf" --udids "$list" --out "$out" \
		--key "$key" --jobs "$jobs" --profile "$PROFILE" >"$work/$tag.out" 2>"$work/$tag.err"; then
		echo "p12_bench: the export $tag failed:" >&2
		tail -n 20 "$work/$tag.err" >&2
		exit 1
	fi
	t1=$(now_ns)
	[[ $(($(wc -l <"$out/manifest.csv") - 1)) == "$n" ]] || { echo "p12_bench: $tag: manifest is not $n rows" >&2; exit 1; }
	secs=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", (b - a) / 1e9 }')
	ids=$(awk -v n="$n" -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", n / ((b - a) / 1e9) }')
	secs_kg=${KEYGEN_SECONDS:-$([[ $key == rsa* ]] && echo 15 || echo 3)}
	kps=$("$KEYGEN" --key "$key" --threads "$jobs" --seconds "$secs_kg" | sed -n 's/.*keys_per_s=//p')
	ratio=$(awk -v a="$ids" -v b="$kps" 'BEGIN { printf "%.2f", a / b }')
	other=$(awk -v a="$ids" -v b="$kps" -v j="$jobs" 'BEGIN { printf "%.2f", (j / a - j / b) * 1000 }')
	printf '%-8s %4s %7s %9s %13s %13s %7s %13s\n' "$key" "$jobs" "$n" "$secs" "$ids" "$kps" "$ratio" "$other"
}

{
	echo "mdmid p12 export benchmark, $(date -u +%Y-%m-%dT%H:%M:%SZ)"
	echo "host: $(nproc) cores, $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)"
	echo "$(openssl version); PostgreSQL $(psql -X -Atc 'show server_version'), fsync $(psql -X -Atc 'show fsync'); profile $PROFILE"
	echo "mdmid: $(git -C "$ROOT" describe --always --dirty 2>/dev/null || echo unknown)"
	echo "identities/s = devices / wall time of 'mdmid p12 export' (process start to exit);"
	echo "keys/s = keygen_rate with as many threads as --jobs, right after; ratio = identities/s / keys/s;"
	echo "other_ms/id = what each identity costs a worker besides its key: (jobs/identities_per_s - jobs/keys_per_s) in ms."
	echo
	printf '%-8s %4s %7s %9s %13s %13s %7s %13s\n' key jobs devices export_s identities/s keygen_keys/s ratio other_ms/id
	for j in $JOBS; do run_case rsa2048 "$RSA_DEVICES" "$j"; done
	for j in $JOBS; do run_case ec-p256 "$EC_DEVICES" "$j"; done
} | tee "$result"
echo "saved: $result"
