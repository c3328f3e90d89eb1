#!/usr/bin/env bash
# tests/bench/compare.sh: mdmid's SCEP enrollment throughput beside the crypto ceiling and a peer.
#
#   bash tests/bench/compare.sh [--conns "1 8 32"] [--requests N] [--only mdmid|peer|ceiling]
#                               [--prefill 1000000] [--storm 100000] [--workers N] [--perf]
#
# In one run, on this machine: `openssl speed` for RSA-2048 (the ceiling: an enrollment costs
# 3 private and 3 public RSA operations), mdmid (a throwaway PostgreSQL with its default durable
# settings, a fresh RSA-2048 CA) and micromdm's scepserver from Debian's `scep` package (its own
# CA from `scepserver ca -init -keySize 2048`), each driven by build/scep_load with the same
# request mix (RSA-2048 requester keys, AES-256-CBC, SHA-256) at each concurrency.
#   --prefill N   also measures mdmid at the highest concurrency after N certificate rows were
#                 added in SQL (a table in steady state), beside the empty-table figure;
#   --storm N     then sends N enrollments at C=64 and checks that none is lost or duplicated;
#   --perf        records mdmid with `perf record -g` during the highest concurrency
#                 (build/bench/perf-*.data).
# Output: a table on stdout, kept in build/bench/compare-<UTC time>.txt with the raw lines.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
BUILD=${MDMID_BUILD:-build}
[[ $BUILD == /* ]] || BUILD=$ROOT/$BUILD

CONNS="1 8 32"
REQUESTS=""
ONLY=""
PREFILL=0
STORM=0
WORKERS=""
PERF=0
while [[ $# -gt 0 ]]; do
	case $1 in
	--conns) CONNS=$2; shift 2 ;;
	--requests) REQUESTS=$2; shift 2 ;;
	--only) ONLY=$2; shift 2 ;;
	--prefill) PREFILL=$2; shift 2 ;;
	--storm) STORM=$2; shift 2 ;;
	--workers) WORKERS=$2; shift 2 ;;
	--perf) PERF=1; shift ;;
	-h | --help) sed -n '2,20p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
	*) echo "compare.sh: unknown argument $1" >&2; exit 2 ;;
	esac
done
want() { [[ -z $ONLY || $ONLY == "$1" ]]; }

make -s BUILD="$BUILD" "$BUILD/mdmid" "$BUILD/scep_load" >/dev/null
LOAD=$BUILD/scep_load
MDMID=$BUILD/mdmid
HIGH=$(echo "$CONNS" | tr ' ' '\n' | sort -n | tail -n 1)
# Enough requests for a steady state, not so many that a run drags on.
requests_for() {
	if [[ -n $REQUESTS ]]; then echo "$REQUESTS"; elif (($1 == 1)); then echo 1000; else echo 4000; fi
}

work=$(mktemp -d /tmp/mdmid-compare.XXXXXX)
chmod 755 "$work"
pids=()
source tests/lib/pg.sh
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	pg_stop >/dev/null 2>&1 || true
	if [[ -z "${MDMID_KEEP_WORK:-}" ]]; then
		if [[ -f "$work/pg.path" ]]; then rm -rf "$(dirname "$(cat "$work/pg.path")")"; fi
		rm -rf "$work"
	else
		echo "kept $work" >&2
	fi
}
trap cleanup EXIT

mkdir -p "$BUILD/bench"
stamp=$(date -u +%Y%m%dT%H%M%SZ)
out=$BUILD/bench/compare-$stamp.txt
raw=$work/raw.txt
: >"$raw"

field() { sed -n "s/.* $1=\([^ ]*\).*/\1/p" <<<"$2"; }

# --- the crypto ceiling ---
sign_s=0 verify_s=0 ceiling=0
if want ceiling || want mdmid; then
	line=$(openssl speed -seconds 5 -multi "$(nproc)" rsa2048 2>/dev/null | awk '/^rsa 2048 bits/ { print $(NF-1), $NF }')
	sign_s=${line% *}
	verify_s=${line#* }
	ceiling=$(awk -v s="$sign_s" -v v="$verify_s" 'BEGIN { printf "%.0f", 1 / (3 / s + 3 / v) }')
	echo "ceiling: openssl speed rsa2048 -multi $(nproc): $sign_s sign/s, $verify_s verify/s -> $ceiling enrollments/s" >&2
fi

# --- mdmid ---
start_mdmid() {
	local conf=$1
	rm -f "$work/port"
	"$MDMID" serve --config "$conf" 2>>"$work/mdmid.log" &
	mdmid_pid=$!
	pids+=("$mdmid_pid")
	for _ in $(seq 100); do [[ -s $work/port ]] && break; sleep 0.1; done
	[[ -s $work/port ]] || { echo "compare.sh: mdmid did not start:" >&2; tail "$work/mdmid.log" >&2; exit 1; }
	mdmid_port=$(head -n 1 "$work/port")
}
stop_mdmid() {
	kill -TERM "$mdmid_pid"
	wait "$mdmid_pid" || true
}

declare -A RATE P50 P90 P99 HWM VALID CPU DBCPU REPLY
run_load() { # name conns requests url db pid [extra...]
	local name=$1 c=$2 n=$3 url=$4 db=$5 pid=$6 line
	shift 6
	line=$("$LOAD" --url "$url" -n "$n" -c "$c" --challenge bench-challenge --cipher aes256 --md sha256 \
		${db:+--db "$db"} ${db:+--db-pid "$(head -n 1 "$PG_DATADIR/postmaster.pid")"} --server-pid "$pid" \
		--label "$name-c$c" "$@" 2>>"$work/load.log") || true
	echo "$line" >>"$raw"
	[[ -n $line ]] || { echo "compare.sh: scep_load $name C=$c printed nothing:" >&2; tail "$work/load.log" >&2; exit 1; }
	tail -n 5 "$work/load.log" | sed "s/^/  /" >&2
	RATE[$name,$c]=$(field rate "$line")
	P50[$name,$c]=$(field p50_ms "$line")
	P90[$name,$c]=$(field p90_ms "$line")
	P99[$name,$c]=$(field p99_ms "$line")
	HWM[$name,$c]=$(field server_hwm_kib "$line")
	CPU[$name,$c]=$(awk -v s="$(field server_cpu_s "$line")" -v n="$(field n "$line")" 'BEGIN { printf "%.2f", s * 1000 / n }')
	local notes=()
	VALID[$name,$c]="$(field success "$line")/$(field n "$line")"
	[[ $(field failure "$line") == 0 ]] || notes+=("$(field failure "$line") FAILURE")
	[[ $(field http_503 "$line") == 0 ]] || notes+=("$(field http_503 "$line") HTTP 503")
	[[ $(field http_other "$line") == 0 ]] || notes+=("$(field http_other "$line") other HTTP errors")
	[[ $(field invalid "$line") == 0 ]] || notes+=("$(field invalid "$line") invalid")
	[[ $(field conn_errors "$line") == 0 ]] || notes+=("$(field conn_errors "$line") conn errors")
	[[ $(field dup_serials "$line") == 0 ]] || notes+=("$(field dup_serials "$line") dup serials")
	if [[ -n $db && $(field db_ok "$line") != yes ]]; then notes+=("DB MISMATCH"); fi
	if ((${#notes[@]})); then VALID[$name,$c]+=" ($(IFS=,; echo "${notes[*]}" | sed 's/,/, /g'))"; fi
	REPLY[$name,$c]="$(field reply_cipher "$line")/$(field reply_md "$line"), nonce echoed in $(field nonce_echoes "$line") of $(field n "$line")"
	DBCPU[$name,$c]=$(awk -v s="$(field db_cpu_s "$line")" -v n="$(field n "$line")" 'BEGIN { if (s < 0) print "-"; else printf "%.2f", s * 1000 / n }')
}

if want mdmid; then
	pg_start "$work/pg" >"$work/pg.log" 2>&1 || { cat "$work/pg.log" >&2; exit 1; }
	export PGDATABASE=mdmid_bench
	pg_createdb "$PGDATABASE" >/dev/null
	"$MDMID" db migrate --config /dev/null >/dev/null
	"$MDMID" ca init --config /dev/null --dir "$work/ca" --bits 2048 --subject "/CN=mdmid bench CA/O=mdmid bench" >/dev/null
	printf 'bench-challenge\n' >"$work/challenge"
	head -c 24 /dev/urandom | base64 | tr '+/' '-_' >"$work/admin-token"
	cat >"$work/mdmid.conf" <<-CONF
		listen = 127.0.0.1:0
		database = host=$PGHOST port=$PGPORT user=mdmid dbname=$PGDATABASE
		ca_dir = $work/ca
		challenge_file = $work/challenge
		challenge_mode = static
		admin_listen = 127.0.0.1:0
		admin_token_file = $work/admin-token
		port_file = $work/port
		max_connections = 2000
	CONF
	[[ -z $WORKERS ]] || echo "workers = $WORKERS" >>"$work/mdmid.conf"
	pgsettings="fsync=$(psql -X -Atc 'show fsync'), synchronous_commit=$(psql -X -Atc 'show synchronous_commit'), wal_sync_method=$(psql -X -Atc 'show wal_sync_method')"
	echo "mdmid: PostgreSQL $(psql -X -Atc 'show server_version') with $pgsettings" >&2
	start_mdmid "$work/mdmid.conf"
	url=http://127.0.0.1:$mdmid_port/scep
	db="host=$PGHOST port=$PGPORT user=mdmid dbname=$PGDATABASE"
	for c in $CONNS; do
		if ((PERF)) && [[ $c == "$HIGH" ]]; then
			perf record -F 999 -g -p "$mdmid_pid" -o "$BUILD/bench/perf-$stamp.data" 2>/dev/null &
			perfpid=$!
		fi
		run_load mdmid "$c" "$(requests_for "$c")" "$url" "$db" "$mdmid_pid"
		if ((PERF)) && [[ $c == "$HIGH" ]]; then kill -INT "$perfpid"; wait "$perfpid" || true; fi
	done
	if ((PREFILL > 0)); then
		echo "prefill: adding $PREFILL certificate rows in SQL" >&2
		psql -X -q -v ON_ERROR_STOP=1 -v n="$PREFILL" >/dev/null <<-'SQL'
			INSERT INTO certificate (issuer_id, serial, subject, udid, method, sha256, spki_sha256,
			                         not_before, not_after, der, transaction_id)
			SELECT (SELECT min(id) FROM issuer WHERE role = 'ca'),
			       'aa' || lpad(to_hex(g), 30, '0'), 'CN=prefill ' || g,
			       '00008030-' || lpad(upper(to_hex(g)), 16, '0'), 'scep',
			       sha256(('cert' || g)::bytea), sha256(('spki' || g)::bytea),
			       now() - interval '1 day', now() + interval '364 days',
			       sha256(('der' || g)::bytea), 'prefill-' || g
			FROM generate_series(1, :n) AS g;
			ANALYZE certificate;
		SQL
		echo "prefill: certificate has $(psql -X -Atc 'select count(*) from certificate') rows" >&2
		run_load mdmid-prefilled "$HIGH" "$(requests_for "$HIGH")" "$url" "$db" "$mdmid_pid"
	fi
	if ((STORM > 0)); then
		run_load mdmid-storm 64 "$STORM" "$url" "$db" "$mdmid_pid" --sample 1 --sample-min 1000
	fi
	stop_mdmid
fi

# --- micromdm scepserver ---
if want peer; then
	peer_port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
	mkdir -p "$work/depot"
	(cd "$work" && scepserver ca -init -keySize 2048 -depot depot >/dev/null 2>&1)
	(cd "$work" && exec scepserver -depot depot -port "$peer_port" -challenge bench-challenge -allowrenew 0 \
		>"$work/peer.log" 2>&1) &
	peer_pid=$!
	pids+=("$peer_pid")
	for _ in $(seq 100); do
		curl -fso /dev/null "http://127.0.0.1:$peer_port/scep?operation=GetCACaps" && break
		sleep 0.1
	done
	for c in $CONNS; do
		run_load peer "$c" "$(requests_for "$c")" "http://127.0.0.1:$peer_port/scep" "" "$peer_pid" --allow-errors
	done
	kill "$peer_pid" 2>/dev/null || true
fi

# --- the table ---
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a == "" || b == "" || b + 0 == 0) print "-"; else printf "%.2f", a / b }'; }
# met VALUE OP LIMIT: "met" or "NOT met" (OP: lt, ge, le)
met() { awk -v v="$1" -v op="$2" -v l="$3" 'BEGIN { if (v == "" || v == "-") { print "-"; exit }
	ok = (op == "lt") ? v < l : (op == "ge") ? v >= l : v <= l; print ok ? "met" : "NOT met" }'; }
{
	echo "SCEP enrollment benchmark, $(date -u +%Y-%m-%dT%H:%M:%SZ), mdmid $(git -C "$ROOT" describe --always --dirty 2>/dev/null || echo unknown)"
	echo "host: $(nproc) cores, $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1); $(openssl version)"
	echo "requests: PKCSReq, RSA-2048 requester keys (pool of 16), AES-256-CBC, SHA-256, static challenge; keep-alive"
	[[ -z ${pgsettings:-} ]] || echo "mdmid: PostgreSQL $pgsettings; every certificate committed before its reply; log_level info"
	echo "ceiling: openssl speed rsa2048 on $(nproc) cores: $sign_s sign/s, $verify_s verify/s -> 1/(3/sign + 3/verify) = $ceiling enrollments/s"
	echo
	printf '| %-3s | %-8s | %8s | %6s | %6s | %6s | %7s | %7s | %8s | %-14s | %-24s | %6s |\n' \
		C server enroll/s p50 p90 p99 cpu/req pg/req peak_rss valid replies of/ceil
	printf '|%s|\n' "-----|----------|----------|--------|--------|--------|---------|---------|----------|----------------|--------------------------|--------"
	for name in mdmid peer; do
		for c in $CONNS; do
			[[ -n ${RATE[$name,$c]:-} ]] || continue
			printf '| %-3s | %-8s | %8s | %6s | %6s | %6s | %7s | %7s | %8s | %-14s | %-24s | %6s |\n' "$c" "$name" \
				"${RATE[$name,$c]}" "${P50[$name,$c]}" "${P90[$name,$c]}" "${P99[$name,$c]}" "${CPU[$name,$c]}" \
				"${DBCPU[$name,$c]}" "$(awk -v k="${HWM[$name,$c]}" 'BEGIN { printf "%.1fM", k / 1024 }')" \
				"${VALID[$name,$c]}" "${REPLY[$name,$c]}" "$(ratio "${RATE[$name,$c]}" "$ceiling")"
		done
	done
	echo
	if want mdmid && want peer; then
		for c in $CONNS; do echo "C=$c: mdmid/peer $(ratio "${RATE[mdmid,$c]:-}" "${RATE[peer,$c]:-}")"; done
		echo
	fi
	if want mdmid; then
		echo "targets:"
		echo "- C=$HIGH at least 60% of the ceiling: $(ratio "${RATE[mdmid,$HIGH]:-}" "$ceiling") -> $(met "$(ratio "${RATE[mdmid,$HIGH]:-}" "$ceiling")" ge 0.60)"
		echo "- C=1 p50 under 2 ms: ${P50[mdmid,1]:--} ms -> $(met "${P50[mdmid,1]:-}" lt 2)"
		echo "- C=$HIGH p99 under 40 ms: ${P99[mdmid,$HIGH]:--} ms -> $(met "${P99[mdmid,$HIGH]:-}" lt 40)"
		echo "- C=$HIGH peak RSS under 32 MiB: ${HWM[mdmid,$HIGH]:--} KiB -> $(met "${HWM[mdmid,$HIGH]:-}" lt 32768)"
		if ((PREFILL > 0)); then
			r=$(ratio "${RATE[mdmid-prefilled,$HIGH]}" "${RATE[mdmid,$HIGH]}")
			echo "- C=$HIGH with $PREFILL more rows within 10% of the empty table: ${RATE[mdmid-prefilled,$HIGH]}/s vs ${RATE[mdmid,$HIGH]}/s = $r (p99 ${P99[mdmid-prefilled,$HIGH]} ms, valid ${VALID[mdmid-prefilled,$HIGH]}) -> $(met "$r" ge 0.90)"
		fi
		if ((STORM > 0)); then
			line=$(grep 'label=mdmid-storm' "$raw" || true)
			ok=$([[ $(field db_ok "$line") == yes && $(field success "$line") == "$STORM" && $(field dup_serials "$line") == 0 ]] && echo met || echo "NOT met")
			echo "- $STORM enrollments at C=64, no duplicate serial, no lost row: ${RATE[mdmid-storm,64]}/s, p99 ${P99[mdmid-storm,64]} ms, successes $(field success "$line"), rows $(field db_rows "$line"), distinct serials $(field db_distinct "$line"), SQL check $(field db_ok "$line") -> $ok"
		fi
		echo
	fi
	echo "enroll/s: valid SUCCESS replies per second of the timed phase; p50/p90/p99: latency in ms; cpu/req and"
	echo "pg/req: CPU ms (user+system, /proc) per request of the server and of PostgreSQL's processes; peak_rss:"
	echo "the server's VmHWM; valid: valid SUCCESS replies / requests (signature, nonces, transaction ID; a 10%"
	echo "sample's envelopes opened: certificate matches the CSR, serials unique; for mdmid the rows were then"
	echo "checked in SQL); replies: the reply's cipher/digest and how often the request's nonce came back as the"
	echo "reply's senderNonce (RFC 8894 wants a fresh one); of/ceil: enroll/s over the ceiling."
	echo
	echo "raw:"
	cat "$raw"
} | tee "$out"
echo "saved: $out" >&2
