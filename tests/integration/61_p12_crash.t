#!/usr/bin/env bash
# PKCS#12 export killed with SIGKILL, then rerun: each deterministic crash
# point (MDMID_CRASH_AT=after_commit, after_line, after_p12, before_manifest)
# once, then a 200-device batch killed at random moments. After the rerun the
# end state is always the same: exactly one .p12 per UDID, each with exactly
# one 'issued' row in the batch whose fingerprint is the file's certificate's,
# every other row of the batch 'abandoned' (with a pkcs12.abandon event, and
# identity_matches false), a manifest of exactly the list, no temporary files.
source "$(dirname "$0")/lib.sh"
t_setup p12_crash
t_write_config
CONF=$T/mdmid.conf
MANIFEST_HEADER=udid,file,serial,sha256,not_after,password

sqlin() {
	local s="" u
	for u in "$@"; do s+="${s:+,}'$u'"; done
	printf '%s' "$s"
}
mf() {
	awk -F, -v u="$2" -v c="$3" 'NR == 1 { for (i = 1; i <= NF; i++) col[$i] = i; next }
		$1 == u { print $col[c]; exit }' "$1/manifest.csv" 2>/dev/null || true
}
# strays DIR UDID...: entries other than .mdmid-batch, manifest.csv and
# <UDID>.p12 (and <UDID>.mobileconfig when $MC is set).
strays() {
	local dir=$1 u f
	shift
	local -A want=([.mdmid-batch]=1 [manifest.csv]=1)
	for u in "$@"; do
		want[$u.p12]=1
		[[ -z ${MC:-} ]] || want[$u.mobileconfig]=1
	done
	while IFS= read -r f; do [[ -n ${want[$f]:-} ]] || printf '%s ' "$f"; done < <(find "$dir" -mindepth 1 -maxdepth 1 -printf '%f\n' 2>/dev/null | sort)
}
# export_run NAME DIR LISTFILE [ARGS...]: one run; sets RC.
export_run() {
	local name=$1 dir=$2 list=$3
	shift 3
	RC=0
	# (the braces keep bash's "Killed" job report off stderr)
	{ "$MDMID_BIN" p12 export --config "$CONF" --udids "$list" --out "$dir" --key ec-p256 "$@" \
		>"$T/$name.out" 2>"$T/$name.err"; } 2>/dev/null || RC=$?
}

# end_state LABEL DIR UDID...: the state every finished (or resumed) batch must be in.
end_state() {
	local label=$1 dir=$2 n U PW w B in
	shift 2
	n=$#
	w=$T/fp.$label
	rm -rf "$w"
	mkdir -p "$w"
	is "$(head -n 1 "$dir/manifest.csv" 2>/dev/null)" "$MANIFEST_HEADER" "$label: manifest header"
	is "$(tail -n +2 "$dir/manifest.csv" 2>/dev/null | cut -d, -f1 | tr '\n' ' ')" "$(printf '%s ' "$@")" \
		"$label: the manifest lists exactly the $n UDIDs, once each, in list order"
	is "$(tail -n +2 "$dir/manifest.csv" 2>/dev/null | cut -d, -f6 | sort -u | wc -l)" "$n" "$label: $n distinct passwords"
	is "$(strays "$dir" "$@")" "" "$label: no temporary or stray file in the directory"
	is "$(find "$dir" \( -name '*.p12.*' -o -name '*.mobileconfig.*' -o -name '*.line.*' -o -name 'manifest.csv.*' \) -printf '%P ')" "" \
		"$label: no temporary file (name.XXXXXX) left, in the state directory either"
	local missing=""
	for U in "$@"; do
		[[ -f $dir/$U.p12 ]] || missing+=" $U"
		[[ -z ${MC:-} || -f $dir/$U.mobileconfig ]] || missing+=" $U.mobileconfig"
	done
	is "$missing" "" "$label: a .p12 ${MC:+and a .mobileconfig }for every UDID"
	# One openssl per file; the fingerprints of all the certificates in one python3.
	for U in "$@"; do
		PW=$(mf "$dir" "$U" password)
		openssl pkcs12 -in "$dir/$U.p12" -passin "pass:$PW" -nokeys -clcerts -out "$w/$U.pem" 2>/dev/null || : >"$w/$U.pem"
	done
	/usr/bin/python3 - "$w" "$@" >"$T/$label.files" <<'PY'
import hashlib, ssl, sys
d = sys.argv[1]
for u in sys.argv[2:]:
    try:
        pem = open("%s/%s.pem" % (d, u)).read()
        print(u, hashlib.sha256(ssl.PEM_cert_to_DER_cert(pem[pem.index("-----BEGIN CERTIFICATE-----"):])).hexdigest())
    except Exception as e:
        print(u, "unreadable")
PY
	is "$(grep -c ' unreadable$' "$T/$label.files" || true)" 0 "$label: every .p12 opens with its manifest password"
	is "$(tail -n +2 "$dir/manifest.csv" 2>/dev/null | cut -d, -f1,4 | tr , ' ' | LC_ALL=C sort | diff - <(LC_ALL=C sort "$T/$label.files") && echo same)" same \
		"$label: each manifest sha256 is the fingerprint of the certificate in its file"
	in=$(sqlin "$@")
	is "$(q "select count(distinct batch) from certificate where method = 'pkcs12' and udid in ($in)")" 1 \
		"$label: every row of these UDIDs carries one batch id (the reruns resumed the batch)"
	B="(select batch from certificate where method = 'pkcs12' and udid = '$1' order by id limit 1)"
	is "$(q "select udid || ' ' || encode(sha256, 'hex') from certificate where batch = $B and status = 'issued' order by udid")" \
		"$(LC_ALL=C sort "$T/$label.files")" "$label: exactly one 'issued' row per UDID, and its sha256 is the file's certificate"
	is "$(q "select count(*) from certificate where batch = $B and (status not in ('issued', 'abandoned') or method <> 'pkcs12' or udid not in ($in))")" 0 \
		"$label: no other row in the batch than issued and abandoned rows of the list"
	is "$(q "select count(*) from certificate where batch = $B and status = 'issued' and not identity_matches(udid, sha256)")" 0 \
		"$label: identity_matches is true for every issued row"
	is "$(q "select count(*) from certificate where batch = $B and status = 'abandoned' and identity_matches(udid, sha256)")" 0 \
		"$label: identity_matches is false for every abandoned row"
	is "$(q "select count(*) from certificate c where batch = $B and status = 'abandoned' and not exists
		(select 1 from event e where e.kind = 'pkcs12.abandon' and e.serial = c.serial)")" 0 \
		"$label: every abandoned row has a pkcs12.abandon event"
	is "$(q "select count(*) from certificate c where batch = $B and not exists
		(select 1 from event e where e.kind = 'pkcs12.issue' and e.outcome = 'success' and e.serial = c.serial)")" 0 \
		"$label: every row of the batch has its pkcs12.issue success event"
	ABANDONED=$(q "select count(*) from certificate where batch = $B and status = 'abandoned'")
}

# ---------------------------------------------------------------- deterministic crash points
for point in after_commit after_line after_p12 before_manifest; do
	L=()
	for i in 1 2 3 4 5 6; do L+=("$(udid_for "$point-$i")"); done
	printf '%s\n' "${L[@]}" >"$T/$point.txt"
	D=$T/out-$point
	at=$point:3
	[[ $point != before_manifest ]] || at=$point
	MDMID_CRASH_AT=$at export_run "$point-crash" "$D" "$T/$point.txt" --jobs 1
	is "$RC" 137 "MDMID_CRASH_AT=$at: the export kills itself (SIGKILL, 137)"
	[[ $RC == 137 ]] || sed 's/^/# /' "$T/$point-crash.err"
	diag "after the crash at $at: $(cd "$D" 2>/dev/null && find . -mindepth 1 -maxdepth 1 | sort | tr '\n' ' ')"
	U3=${L[2]}
	case $point in
	after_commit | after_line)
		is "$(q "select count(*) from certificate where udid = '$U3'")/$([[ -e $D/$U3.p12 ]] && echo file || echo nofile)" 1/nofile \
			"... the window: the third device's row is committed, its .p12 never written (its key dies with the process)"
		;;
	after_p12)
		ok "$([[ -f $D/$U3.p12 ]]; echo $?)" "... the third device's .p12 is in place when the process dies"
		;;
	before_manifest)
		is "$(find "$D" -maxdepth 1 -name '*.p12' | wc -l)" 6 "... all six .p12 files are in place when the process dies"
		;;
	esac
	export_run "$point-rerun" "$D" "$T/$point.txt" --jobs 1
	is "$RC" 0 "rerun after $at: exit 0"
	[[ $RC == 0 ]] || sed 's/^/# /' "$T/$point-rerun.err"
	like "$(tail -n 1 "$T/$point-rerun.err")" '^p12 export:' "... with its summary line"
	end_state "$point" "$D" "${L[@]}"
	case $point in
	after_commit | after_line)
		is "$ABANDONED/$(q "select count(*) from certificate where udid = '$U3' and status = 'abandoned'")" 1/1 \
			"$point: the row whose key died with the process, and only it, is abandoned"
		sr=$(q "select serial from certificate where udid = '$U3' and status = 'abandoned'")
		ok "$([[ -n $sr ]] && ! grep -q ",$sr," "$D/manifest.csv"; echo $?)" "... and its serial is not in the manifest"
		;;
	*) is "$ABANDONED" 0 "$point: nothing was lost, so no row is abandoned" ;;
	esac
	export_run "$point-again" "$D" "$T/$point.txt" --jobs 1
	is "$RC/$(q "select count(*) from certificate where udid in ($(sqlin "${L[@]}"))")" "0/$((6 + ABANDONED))" \
		"a third run: exit 0, no new row"
done

# With --mobileconfig a device is complete only with both files: a crash
# between the .p12 and the .mobileconfig loses that device's .p12 too.
L=()
for i in 1 2 3 4; do L+=("$(udid_for "mc-$i")"); done
printf '%s\n' "${L[@]}" >"$T/mc.txt"
MDMID_CRASH_AT=after_p12:2 export_run mc-crash "$T/out-mc" "$T/mc.txt" --jobs 1 --mobileconfig
is "$RC" 137 "--mobileconfig, MDMID_CRASH_AT=after_p12:2: killed between the .p12 and the .mobileconfig"
export_run mc-rerun "$T/out-mc" "$T/mc.txt" --jobs 1 --mobileconfig
is "$RC" 0 "... the rerun: exit 0"
MC=1 end_state mc "$T/out-mc" "${L[@]}"
bad=""
for U in "${L[@]}"; do
	cmp -s <(/usr/bin/python3 -c 'import plistlib, sys
p = plistlib.load(open(sys.argv[1], "rb"))
sys.stdout.buffer.write([x for x in p["PayloadContent"] if x["PayloadType"] == "com.apple.security.pkcs12"][0]["PayloadContent"])' \
		"$T/out-mc/$U.mobileconfig" 2>/dev/null) "$T/out-mc/$U.p12" || bad+=" $U"
done
is "$bad" "" "... each .mobileconfig carries its device's final .p12"

# --resume names the batch explicitly: a crash, then --resume.
L=()
for i in 1 2 3 4; do L+=("$(udid_for "resume-$i")"); done
printf '%s\n' "${L[@]}" >"$T/resume.txt"
MDMID_CRASH_AT=after_commit:2 export_run resume-crash "$T/out-resume" "$T/resume.txt" --jobs 1
is "$RC" 137 "after_commit:2 crash before --resume"
export_run resume "$T/out-resume" "$T/resume.txt" --jobs 1 --resume
is "$RC" 0 "--resume completes the batch"
end_state resume "$T/out-resume" "${L[@]}"

# ---------------------------------------------------------------- 200 devices killed at random
# Each run is killed once it has written a random 3 to 30 more .p12 files
# than it found: by progress rather than time, so that the kills land
# mid-run on a fast machine and a slow (SAN=1) build alike.
R=()
for i in $(seq 1 200); do R+=("$(udid_for "rand-$i")"); done
printf '%s\n' "${R[@]}" >"$T/rand.txt"
DR=$T/out-rand
in_r=$(sqlin "${R[@]}")
RANDOM=${MDMID_CRASH_SEED:-$$}
diag "random kills: seed ${MDMID_CRASH_SEED:-$$} (set MDMID_CRASH_SEED to replay)"
kills=0 finished=""
p12_count() { local f=("$1"/*.p12); [[ -e ${f[0]} ]] && echo "${#f[@]}" || echo 0; }
for ((k = 1; k <= 4; k++)); do
	"$MDMID_BIN" p12 export --config "$CONF" --udids "$T/rand.txt" --out "$DR" --key ec-p256 --jobs 2 \
		>>"$T/rand.out" 2>>"$T/rand.err" &
	pid=$!
	more=$((RANDOM % 28 + 3))
	target=$(($(p12_count "$DR") + more))
	while kill -0 "$pid" 2>/dev/null && (($(p12_count "$DR") < target)); do sleep 0.005; done
	kill -9 "$pid" 2>/dev/null || true
	rc=0
	wait "$pid" 2>/dev/null || rc=$?
	diag "run $k: SIGKILL after $more more files: exit $rc; $(p12_count "$DR") files," \
		"$(q "select count(*) from certificate where udid in ($in_r)") rows"
	if [[ $rc == 137 ]]; then kills=$((kills + 1)); else
		finished=$k
		break
	fi
done
ok "$([[ $kills -ge 2 ]]; echo $?)" "the 200-device batch was killed mid-run $kills times${finished:+ (run $finished finished first)}"
export_run rand-final "$DR" "$T/rand.txt" --jobs 2
is "$RC" 0 "the run after the kills completes: exit 0"
[[ $RC == 0 ]] || tail -n 20 "$T/rand-final.err" | sed 's/^/# /'
end_state rand "$DR" "${R[@]}"
diag "abandoned rows after the random kills: $ABANDONED"

done_testing
