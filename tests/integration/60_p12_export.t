#!/usr/bin/env bash
# PKCS#12 batch export: a 20-device legacy batch (PBE-SHA1-3DES bags, SHA-1
# MAC) from a CSV, a modern batch (PBES2 AES-256-CBC, PBKDF2-HMAC-SHA256,
# SHA-256 MAC), both read by OpenSSL and by GnuTLS's certtool; every file's
# certificate chains to the CA, matches its key and its row; .mobileconfig
# output read with plistlib; and each bad input: duplicates, malformed UDIDs,
# unwritable and foreign output directories, another batch's directory, the
# database down, a rerun of a finished batch.
source "$(dirname "$0")/lib.sh"
t_setup p12_export
t_write_config
CONF=$T/mdmid.conf
CA=$T/ca/ca.pem
ALPHABET=23456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnpqrstuvwxyz
MANIFEST_HEADER=udid,file,serial,sha256,not_after,password

# p12 NAME ARGS...: runs `mdmid p12 export ARGS` (config $P12_CONF or $CONF);
# sets RC and ERR (its stderr).
p12() {
	local name=$1
	shift
	RC=0
	"$MDMID_BIN" p12 export --config "${P12_CONF:-$CONF}" "$@" >"$T/$name.out" 2>"$T/$name.err" || RC=$?
	ERR=$(cat "$T/$name.err")
}
# mf DIR UDID COLUMN: a field of UDID's manifest row.
mf() {
	awk -F, -v u="$2" -v c="$3" 'NR == 1 { for (i = 1; i <= NF; i++) col[$i] = i; next }
		$1 == u { print $col[c]; exit }' "$1/manifest.csv" 2>/dev/null || true
}
sqlin() {
	local s="" u
	for u in "$@"; do s+="${s:+,}'$u'"; done
	printf '%s' "$s"
}
der_sha256() { { openssl x509 -in "$1" -outform DER 2>/dev/null | sha256sum | cut -d' ' -f1; } || true; }
# mode_bad DIR: the files in DIR (not the state directory) whose mode is not 600.
mode_bad() { find "$1" -maxdepth 1 -type f ! -perm 600 -printf '%f:%m ' 2>/dev/null || true; }
# unexpected DIR EXT... -- UDID...: entries of DIR other than .mdmid-batch,
# manifest.csv and <UDID>.<EXT> (temporary files, strays).
unexpected() {
	local dir=$1 exts=() e u f
	shift
	while [[ $1 != -- ]]; do exts+=("$1"); shift; done
	shift
	local -A want=([.mdmid-batch]=1 [manifest.csv]=1)
	for u in "$@"; do for e in "${exts[@]}"; do want[$u.$e]=1; done; done
	while IFS= read -r f; do [[ -n ${want[$f]:-} ]] || printf '%s ' "$f"; done < <(find "$dir" -mindepth 1 -maxdepth 1 -printf '%f\n' 2>/dev/null | sort)
}
pkcs12_rows() { q "select count(*) from certificate where method = 'pkcs12'"; }
issue_events() { q "select count(*) from event where kind = 'pkcs12.issue'"; }

# check_batch LABEL DIR PROFILE KEY UDID...: opens every DIR/<UDID>.p12 with
# the manifest's password and checks the encryption profile, the key type,
# the chain, key/certificate match, friendly name, manifest fields and the
# database row. One TAP line per property, naming the UDIDs that fail it.
check_batch() {
	local label=$1 dir=$2 profile=$3 key=$4
	shift 4
	local n=$# U F PW info w fp dev want_mac want_bag leg=() got
	local -A bad=()
	w=$T/x.$label
	mkdir -p "$w"
	if [[ $profile == legacy ]]; then
		leg=(-legacy)
		want_mac='^MAC: sha1, Iteration [0-9]+$'
		want_bag='pbeWithSHA1And3-KeyTripleDES-CBC, Iteration [0-9]+$'
	else
		want_mac='^MAC: sha256, Iteration [0-9]+$'
		want_bag='PBES2, PBKDF2, AES-256-CBC, Iteration [0-9]+, PRF hmacWithSHA256$'
	fi
	for U in "$@"; do
		F=$dir/$U.p12
		PW=$(mf "$dir" "$U" password)
		if ! info=$(openssl pkcs12 "${leg[@]}" -in "$F" -passin "pass:$PW" -info -noout 2>&1); then
			bad[open]+=" $U"
			continue
		fi
		grep -Eq "$want_mac" <<<"$info" || bad[mac]+=" $U"
		# exactly one shrouded key bag, and every bag container with the profile's algorithm
		[[ $(grep -Ec "^Shrouded Keybag: $want_bag" <<<"$info" || true) == 1 ]] || bad[keybag]+=" $U"
		[[ $(grep -Ec "^PKCS7 Encrypted data: $want_bag" <<<"$info" || true) -ge 1 ]] || bad[certbag]+=" $U"
		[[ $(grep -Ec '^(Shrouded Keybag|PKCS7 Encrypted data):' <<<"$info" || true) == \
			$(grep -Ec "^(Shrouded Keybag|PKCS7 Encrypted data): $want_bag" <<<"$info" || true) ]] || bad[otheralg]+=" $U"
		# both certificates (device, CA) inside encrypted containers, none in plain PKCS7 Data
		got=$(awk '/^PKCS7 Data/ { c = "plain" } /^PKCS7 Encrypted data/ { c = "enc" }
			/^Certificate bag/ { n++; if (c != "enc") p = 1 } END { print (p ? "plain" : "enc") n }' <<<"$info")
		[[ $got == enc2 ]] || bad[certsenc]+=" $U($got)"
		openssl pkcs12 "${leg[@]}" -in "$F" -passin "pass:$PW" -nokeys -clcerts -out "$w/$U.crt" 2>/dev/null || bad[open]+=" $U"
		openssl pkcs12 "${leg[@]}" -in "$F" -passin "pass:$PW" -nokeys -cacerts -out "$w/$U.ca" 2>/dev/null || bad[open]+=" $U"
		openssl pkcs12 "${leg[@]}" -in "$F" -passin "pass:$PW" -nocerts -nodes -out "$w/$U.key" 2>/dev/null || bad[open]+=" $U"
		grep -qx "    friendlyName: $U" "$w/$U.crt" || bad[fname_cert]+=" $U"
		grep -qx "    friendlyName: $U" "$w/$U.key" || bad[fname_key]+=" $U"
		[[ $(grep -c 'BEGIN CERTIFICATE' "$w/$U.ca" || true) == 1 && $(der_sha256 "$w/$U.ca") == $(der_sha256 "$CA") ]] ||
			bad[chain]+=" $U"
		openssl verify -CAfile "$CA" -purpose sslclient "$w/$U.crt" >/dev/null 2>&1 || bad[verify]+=" $U"
		[[ $(openssl x509 -in "$w/$U.crt" -noout -pubkey 2>/dev/null) == $(openssl pkey -in "$w/$U.key" -pubout 2>/dev/null) &&
			-s $w/$U.key ]] || bad[pubkey]+=" $U"
		info=$(openssl pkey -in "$w/$U.key" -noout -text 2>/dev/null || true)
		case $key in
		rsa2048) [[ $(head -n 1 <<<"$info") == "Private-Key: (2048 bit, 2 primes)" ]] || bad[keytype]+=" $U" ;;
		ec-p256) grep -q 'ASN1 OID: prime256v1' <<<"$info" || bad[keytype]+=" $U" ;;
		esac
		fp=$(der_sha256 "$w/$U.crt")
		[[ $fp == "$(mf "$dir" "$U" sha256)" ]] || bad[m_sha256]+=" $U"
		got=$(openssl x509 -in "$w/$U.crt" -noout -serial 2>/dev/null | sed 's/^serial=//' | tr 'A-F' 'a-f' || true)
		[[ $got == "$(mf "$dir" "$U" serial)" ]] || bad[m_serial]+=" $U"
		got=$(openssl x509 -in "$w/$U.crt" -noout -enddate 2>/dev/null | sed 's/^notAfter=//' || true)
		[[ $(date -u -d "$got" +%Y-%m-%dT%H:%M:%SZ 2>/dev/null) == "$(mf "$dir" "$U" not_after)" ]] || bad[m_not_after]+=" $U"
		[[ $(mf "$dir" "$U" file) == "$U.p12" ]] || bad[m_file]+=" $U"
		[[ $(mf "$dir" "$U" password) =~ ^[$ALPHABET]{24}$ ]] || bad[m_password]+=" $U"
		dev="$(q "select udid || '|' || method || '|' || status || '|' || serial || '|' || (batch is not null)
			from certificate where sha256 = '\\x$fp'" 2>&1 || true)"
		[[ $dev == "$U|pkcs12|issued|$(mf "$dir" "$U" serial)|true" ]] || bad[row]+=" $U($dev)"
		[[ $(q "select identity_matches('$U', '\\x$fp')") == t ]] || bad[matches]+=" $U"
	done
	is "${bad[open]:-}" "" "$label: all $n files open with the manifest's password"
	is "${bad[mac]:-}" "" "$label: MAC $([[ $profile == legacy ]] && echo sha1 || echo sha256)"
	is "${bad[keybag]:-}" "" "$label: Shrouded Keybag: $want_bag"
	is "${bad[certbag]:-}" "" "$label: PKCS7 Encrypted data: $want_bag"
	is "${bad[otheralg]:-}" "" "$label: no bag with another algorithm"
	is "${bad[certsenc]:-}" "" "$label: two certificate bags, both encrypted"
	is "${bad[fname_cert]:-}${bad[fname_key]:-}" "" "$label: friendly name = the UDID on the certificate and the key"
	is "${bad[chain]:-}" "" "$label: the chain in the file is the CA certificate"
	is "${bad[verify]:-}" "" "$label: the certificate chains to the CA (openssl verify -purpose sslclient)"
	is "${bad[pubkey]:-}" "" "$label: the certificate's public key is the key's"
	is "${bad[keytype]:-}" "" "$label: the key is $key"
	is "${bad[m_sha256]:-}${bad[m_serial]:-}${bad[m_not_after]:-}${bad[m_file]:-}" "" \
		"$label: manifest file, serial, sha256 and not_after match the file's certificate"
	is "${bad[m_password]:-}" "" "$label: manifest passwords are 24 characters of the unambiguous alphabet"
	is "${bad[row]:-}" "" "$label: each certificate's row: UDID, method pkcs12, issued, serial, batch"
	is "${bad[matches]:-}" "" "$label: identity_matches is true for each"
}

# check_certtool LABEL DIR PROFILE UDID...: GnuTLS reads every file.
check_certtool() {
	local label=$1 dir=$2 profile=$3 out U PW mac schema body
	shift 3
	local -A bad=()
	if [[ $profile == legacy ]]; then mac='MAC: SHA1 ' schema=PKCS12-3DES-SHA1; else mac='MAC: SHA256 ' schema=PBES2-AES256-CBC; fi
	for U in "$@"; do
		PW=$(mf "$dir" "$U" password)
		if ! out=$(certtool --p12-info --inder --infile "$dir/$U.p12" --password "$PW" 2>&1); then
			bad[open]+=" $U"
			continue
		fi
		grep -q "$mac" <<<"$out" || bad[mac]+=" $U"
		[[ $(grep -c 'Schema: ' <<<"$out" || true) -ge 2 &&
			$(grep -c 'Schema: ' <<<"$out" || true) == $(grep -c "Schema: $schema " <<<"$out" || true) ]] || bad[schema]+=" $U"
		grep -q 'Type: PKCS #8 Encrypted key' <<<"$out" || bad[key]+=" $U"
		body=$(sed -n '/-----BEGIN CERTIFICATE-----/,/-----END CERTIFICATE-----/p' "$T/x.$label/$U.crt" 2>/dev/null |
			sed '/-----/d' | tr -d '\n' || true)
		[[ -n $body && $(tr -d '\n\t ' <<<"$out") == *"$body"* ]] || bad[cert]+=" $U"
	done
	is "${bad[open]:-}" "" "certtool: all $label files open with the manifest's password (MAC verified)"
	is "${bad[mac]:-}" "" "certtool: $label MAC is ${mac% }"
	is "${bad[schema]:-}" "" "certtool: $label key and certificate bags use $schema only"
	is "${bad[key]:-}" "" "certtool: $label files hold a PKCS #8 encrypted key"
	is "${bad[cert]:-}" "" "certtool: $label files hold the device certificate openssl extracted"
}

command -v certtool >/dev/null || echo "Bail out! certtool missing: install gnutls-bin (deploy/install-deps.sh)"
command -v certtool >/dev/null || exit 1

# ---------------------------------------------------------------- legacy batch
# 20 devices of the three UDID shapes, some written in lower case, in a CSV
# with a header, comments and blank lines.
LEG=()
{
	echo "udid,name,asset_tag"
	echo "# legacy iPads, floor 2"
	for i in $(seq 1 20); do
		case $((i % 5)) in
		0) u=$(udid_for "leg-$i" | cut -c1-32 | sed -E 's/(.{8})(.{4})(.{4})(.{4})(.{12})/\1-\2-\3-\4-\5/') ;; # macOS
		1) u="00008030-$(udid_for "leg-$i" | cut -c1-16)" ;;                                                  # ECID
		*) u=$(udid_for "leg-$i") ;;
		esac
		LEG+=("$u")
		if ((i % 7 == 3)); then u=$(tr 'A-F' 'a-f' <<<"$u"); fi # lower case in the file
		echo "$u,iPad $i,A$((1000 + i))"
		if ((i == 10)); then printf '\n# second shelf\n\n'; fi
	done
	echo "# end"
} >"$T/legacy.csv"
D=$T/out-legacy
start=$(date +%s%N)
p12 legacy --udids "$T/legacy.csv" --out "$D" --key rsa2048 --jobs 2
ms=$((($(date +%s%N) - start) / 1000000))
diag "legacy batch: 20 RSA-2048 identities in ${ms} ms with --jobs 2"
is "$RC" 0 "legacy batch of 20 from a CSV with a header and comments: exit 0"
[[ $RC == 0 ]] || sed 's/^/# /' "$T/legacy.err"
like "$(tail -n 1 "$T/legacy.err")" '^p12 export:' "... and a final summary line 'p12 export: ...'"
is "$(stat -c %a "$D" 2>/dev/null)" 700 "the output directory is created 0700"
is "$(head -n 1 "$D/manifest.csv" 2>/dev/null)" "$MANIFEST_HEADER" "manifest header"
is "$(tail -n +2 "$D/manifest.csv" 2>/dev/null | cut -d, -f1 | tr '\n' ' ')" "$(printf '%s ' "${LEG[@]}")" \
	"manifest: one row per device, canonical upper-case UDIDs, in list order"
is "$(tail -n +2 "$D/manifest.csv" 2>/dev/null | cut -d, -f6 | sort -u | wc -l)" 20 "20 distinct passwords"
is "$(mode_bad "$D")" "" "every .p12 and the manifest are 0600"
is "$(unexpected "$D" p12 -- "${LEG[@]}")" "" "the directory holds the 20 .p12 files, the manifest and the state directory, nothing else"
is "$(stat -c %a "$D/.mdmid-batch" 2>/dev/null)/$(find "$D/.mdmid-batch" -type f ! -perm 600 -printf '%f ' 2>/dev/null)" 700/ \
	"the state directory (it holds the passwords too) is 0700, its files 0600"
check_batch legacy "$D" legacy rsa2048 "${LEG[@]}"
in_leg=$(sqlin "${LEG[@]}")
is "$(q "select count(*) || '/' || count(distinct batch) from certificate where method = 'pkcs12' and udid in ($in_leg)")" 20/1 \
	"20 certificate rows, all with one batch id"
is "$(q "select count(*) from certificate c join event e on e.serial = c.serial and e.udid = c.udid
	where e.kind = 'pkcs12.issue' and e.outcome = 'success' and c.udid in ($in_leg)")" 20 "a pkcs12.issue success event per certificate, with its UDID"
U=${LEG[0]}
PW=$(mf "$D" "$U" password)
rc=0
openssl pkcs12 -legacy -in "$D/$U.p12" -passin "pass:x$PW" -info -noout >/dev/null 2>&1 || rc=$?
ok "$([[ $rc != 0 ]]; echo $?)" "a wrong password does not open a file (the MAC is checked)"

# ---------------------------------------------------------------- modern batch
MOD=()
for i in 1 2 3 4 5; do MOD+=("$(udid_for "mod-$i")"); done
printf '%s\n' "${MOD[@]}" >"$T/modern.txt"
D2=$T/out-modern
p12 modern --udids "$T/modern.txt" --out "$D2" --profile modern --key ec-p256 --jobs 2 --validity 30
is "$RC" 0 "modern batch of 5 EC P-256 identities from a plain list: exit 0"
[[ $RC == 0 ]] || sed 's/^/# /' "$T/modern.err"
is "$(mode_bad "$D2")" "" "modern: files 0600"
check_batch modern "$D2" modern ec-p256 "${MOD[@]}"
na=$(mf "$D2" "${MOD[0]}" not_after)
days=$(( ($(date -u -d "$na" +%s 2>/dev/null || echo 0) - $(date +%s)) / 86400 ))
ok "$([[ $days -ge 29 && $days -le 30 ]]; echo $?)" "--validity 30: not_after is 30 days out ($na)"

# ---------------------------------------------------------------- independent reader
check_certtool legacy "$D" legacy "${LEG[@]}"
check_certtool modern "$D2" modern "${MOD[@]}"
rc=0
certtool --p12-info --inder --infile "$D2/${MOD[0]}.p12" --password wrong-password >/dev/null 2>&1 || rc=$?
ok "$([[ $rc != 0 ]]; echo $?)" "certtool: a wrong password fails (it really checks)"

# ---------------------------------------------------------------- secrets stay out of PostgreSQL
pg_dump --data-only -d "$DB" >"$T/dump.sql" 2>"$T/pg_dump.err" || sed 's/^/# /' "$T/pg_dump.err"
ok "$([[ $(grep -c 'INSERT\|COPY' "$T/dump.sql" || true) -gt 0 ]]; echo $?)" "pg_dump of the whole database for the secret search"
for d in "$D" "$D2"; do tail -n +2 "$d/manifest.csv" | cut -d, -f6 || true; done >"$T/passwords"
is "$(grep -cFf "$T/passwords" "$T/dump.sql" || true)" 0 "no password appears anywhere in the database"
is "$(grep -c 'PRIVATE KEY' "$T/dump.sql" || true)" 0 "no PEM private key in the database"
priv=$(openssl pkey -in "$T/x.modern/${MOD[0]}.key" -noout -text 2>/dev/null |
	awk '/^priv:/ { f = 1; next } /^pub:/ { f = 0 } f' | tr -d ' :\n' | sed 's/^00//' || true)
rsap=$(openssl pkey -in "$T/x.legacy/${LEG[0]}.key" -noout -text 2>/dev/null |
	awk '/^prime1:/ { f = 1; next } /^prime2:/ { f = 0 } f' | tr -d ' :\n' | sed 's/^00//' || true)
ok "$([[ ${#priv} -ge 60 && ${#rsap} -ge 200 ]] && ! grep -qiF -e "$priv" -e "$rsap" "$T/dump.sql"; echo $?)" \
	"neither an EC private scalar nor an RSA prime (hex) is in the database"

# ---------------------------------------------------------------- rerun of a finished batch
rows=$(pkcs12_rows)
events=$(issue_events)
(cd "$D" && sha256sum ./*.p12 manifest.csv) >"$T/sums.before" || true
p12 legacy-rerun --udids "$T/legacy.csv" --out "$D" --key rsa2048 --jobs 2
is "$RC" 0 "rerunning a finished batch: exit 0"
like "$(tail -n 1 "$T/legacy-rerun.err")" '^p12 export:' "... with a summary line"
is "$(pkcs12_rows)/$(issue_events)" "$rows/$events" "... no new certificate row, no new issue event"
is "$( (cd "$D" && sha256sum ./*.p12 manifest.csv) | diff - "$T/sums.before" && echo same)" same "... every file and the manifest unchanged"
p12 legacy-resume --udids "$T/legacy.csv" --out "$D" --key rsa2048 --jobs 2 --resume
is "$RC/$(pkcs12_rows)" "0/$rows" "--resume on a finished batch: exit 0, no new rows"
p12 resume-none --udids "$T/modern.txt" --out "$T/out-empty" --key ec-p256 --resume
is "$RC" 2 "--resume with a directory that holds no batch: exit 2"
ok "$([[ ! -e $T/out-empty/manifest.csv ]]; echo $?)" "... and writes no manifest"

# ---------------------------------------------------------------- --mobileconfig
MC=()
for i in 1 2 3; do MC+=("$(udid_for "mc-$i")"); done
printf '%s\n' "${MC[@]}" >"$T/mc.txt"
D3=$T/out-mc
p12 mc --udids "$T/mc.txt" --out "$D3" --key ec-p256 --jobs 2 --mobileconfig
is "$RC" 0 "--mobileconfig batch of 3: exit 0"
is "$(mode_bad "$D3")" "" "... .p12, .mobileconfig and manifest files are 0600"
is "$(unexpected "$D3" p12 mobileconfig -- "${MC[@]}")" "" "... one .p12 and one .mobileconfig per device, nothing else"
cat >"$T/mc.py" <<'PY'
import plistlib, ssl, sys
mc, p12, pw, ca_pem = sys.argv[1:5]
with open(mc, "rb") as f:
    p = plistlib.load(f)
ca_der = ssl.PEM_cert_to_DER_cert(open(ca_pem).read())
p12_bytes = open(p12, "rb").read()
errs = []
if p.get("PayloadType") != "Configuration":
    errs.append("top PayloadType %r" % p.get("PayloadType"))
items = p.get("PayloadContent", [])
pk = [x for x in items if x.get("PayloadType") == "com.apple.security.pkcs12"]
root = [x for x in items if x.get("PayloadType") == "com.apple.security.root"]
if len(pk) != 1:
    errs.append("%d pkcs12 payloads" % len(pk))
elif pk[0].get("PayloadContent") != p12_bytes:
    errs.append("pkcs12 payload data is not the .p12 file")
elif pk[0].get("Password") != pw:
    errs.append("pkcs12 Password is not the manifest's")
if not any(x.get("PayloadContent") == ca_der for x in root):
    errs.append("no com.apple.security.root payload with the CA DER")
for x in items:
    for k in ("PayloadIdentifier", "PayloadUUID", "PayloadVersion"):
        if k not in x:
            errs.append("%s lacks %s" % (x.get("PayloadType"), k))
print("; ".join(errs) if errs else "ok")
PY
mcbad=""
for U in "${MC[@]}"; do
	r=$(/usr/bin/python3 "$T/mc.py" "$D3/$U.mobileconfig" "$D3/$U.p12" "$(mf "$D3" "$U" password)" "$CA" 2>&1 | tail -n 1 || true)
	[[ $r == ok ]] || mcbad+=" $U: $r"
done
is "$mcbad" "" "each .mobileconfig parses (plistlib): a pkcs12 payload with the .p12 and the manifest password, a root payload with the CA"

# ---------------------------------------------------------------- duplicates
U1=$(udid_for dup-1) U2=$(udid_for dup-2) U3=$(udid_for dup-3)
printf '%s\n' "$U1" "$U2" "$(tr 'A-F' 'a-f' <<<"$U1")" "$U3" "$U2" >"$T/dup.txt"
p12 dup --udids "$T/dup.txt" --out "$T/out-dup" --key ec-p256
is "$RC" 0 "a list with duplicate UDIDs: exit 0"
like "$ERR" "duplicate UDID $U1 \(line 3\): exported once" "... reports the lower-case duplicate of line 1 (line 3)"
like "$ERR" "duplicate UDID $U2 \(line 5\): exported once" "... and the duplicate on line 5"
is "$(tail -n +2 "$T/out-dup/manifest.csv" 2>/dev/null | cut -d, -f1 | tr '\n' ' ')" "$U1 $U2 $U3 " "... manifest: each device once, first-seen order"
is "$(q "select count(*) || '/' || count(distinct udid) from certificate where udid in ($(sqlin "$U1" "$U2" "$U3"))")" 3/3 \
	"... one certificate row per device"

# ---------------------------------------------------------------- malformed UDIDs
rows=$(pkcs12_rows)
G=$(udid_for good-before-bad)
printf '%s\n%s\n%s\n' "$G" "# next is bad" "not-a-udid" >"$T/bad.txt"
p12 bad --udids "$T/bad.txt" --out "$T/out-bad" --key ec-p256
is "$RC" 2 "a malformed UDID: exit 2"
like "$ERR" "line 3: malformed UDID" "... naming its line"
ok "$([[ ! -e $T/out-bad ]]; echo $?)" "... nothing written: the output directory is not even created"
is "$(pkcs12_rows)/$(q "select count(*) from certificate where udid = '$G'")" "$rows/0" "... and no row, not even for the valid UDID before it"
printf '%s\n%s\n' "$G" "00008030-001A2D8A/../../x" >"$T/bad2.txt"
p12 bad2 --udids "$T/bad2.txt" --out "$T/out-bad2" --key ec-p256
is "$RC/$([[ -e $T/out-bad2 ]] && echo written || echo none)" 2/none "a UDID with a path in it: exit 2, nothing written"
like "$ERR" "line 2: malformed UDID" "... naming line 2"

# ---------------------------------------------------------------- bad arguments
printf '%s\n' "$G" >"$T/one.txt"
p12 badprof --udids "$T/one.txt" --out "$T/out-args" --profile rc2
is "$RC" 2 "--profile rc2: exit 2"
p12 badkey --udids "$T/one.txt" --out "$T/out-args" --key rsa1024
is "$RC" 2 "--key rsa1024: exit 2"
p12 noout --udids "$T/one.txt"
is "$RC" 2 "no --out: exit 2"
p12 nofile --udids "$T/no-such-list.txt" --out "$T/out-args"
is "$RC" 2 "a --udids file that does not exist: exit 2"
is "$(pkcs12_rows)" "$rows" "... none of these wrote a row"

# ---------------------------------------------------------------- unwritable output directories
: >"$T/plainfile"
p12 unwr1 --udids "$T/one.txt" --out "$T/plainfile/out" --key ec-p256
ok "$([[ $RC == 1 || $RC == 2 ]]; echo $?)" "an output directory under a regular file: exit 1 or 2 (got $RC)"
like "$ERR" "$T/plainfile/out" "... the message names the directory"
p12 unwr2 --udids "$T/one.txt" --out "/proc/mdmid-test-$$/out" --key ec-p256
ok "$([[ $RC == 1 || $RC == 2 ]]; echo $?)" "an output directory under /proc: exit 1 or 2 (got $RC)"
like "$ERR" "/proc/mdmid-test-$$/out" "... the message names the directory"
is "$(pkcs12_rows)" "$rows" "... no certificate row from either"

# ---------------------------------------------------------------- another batch's directory, foreign files
A=("$(udid_for other-1)" "$(udid_for other-2)")
printf '%s\n' "${A[@]}" >"$T/a.txt"
p12 a --udids "$T/a.txt" --out "$T/out-a" --key ec-p256
is "$RC" 0 "batch A into a fresh directory: exit 0"
rows=$(pkcs12_rows)
(cd "$T/out-a" && sha256sum ./*.p12 manifest.csv) >"$T/sums.a" || true
printf '%s\n' "${A[0]}" "$(udid_for other-3)" >"$T/b.txt"
p12 b --udids "$T/b.txt" --out "$T/out-a" --key ec-p256
is "$RC" 2 "another UDID list into batch A's directory: exit 2"
like "$ERR" "another batch" "... 'another batch'"
is "$(pkcs12_rows)" "$rows" "... no new row"
is "$( (cd "$T/out-a" && sha256sum ./*.p12 manifest.csv) | diff - "$T/sums.a" && echo same)" same "... batch A's files untouched"
is "$(unexpected "$T/out-a" p12 -- "${A[@]}")" "" "... and nothing added"
mkdir -m 700 "$T/out-foreign"
echo "operator notes" >"$T/out-foreign/notes.txt"
p12 foreign --udids "$T/one.txt" --out "$T/out-foreign" --key ec-p256
is "$RC" 2 "a directory holding foreign files: exit 2"
is "$(find "$T/out-foreign" -mindepth 1 -printf '%f ')$(cat "$T/out-foreign/notes.txt")" "notes.txt operator notes" "... only the foreign file remains, untouched"
is "$(pkcs12_rows)" "$rows" "... no new row"

# ---------------------------------------------------------------- the database down
DBD=("$(udid_for dbdown-1)" "$(udid_for dbdown-2)")
printf '%s\n' "${DBD[@]}" >"$T/dbdown.txt"
sed "s|^database = .*|database = host=$PGHOST port=1 user=mdmid dbname=$DB connect_timeout=5|" "$CONF" >"$T/badport.conf"
sed "s|^database = .*|database = host=$PGHOST port=$PGPORT user=mdmid dbname=no_such_db_$$ connect_timeout=5|" "$CONF" >"$T/nodb.conf"
P12_CONF=$T/badport.conf p12 dbdown --udids "$T/dbdown.txt" --out "$T/out-dbdown" --key ec-p256
is "$RC" 1 "the database unreachable (wrong port): exit 1"
like "$ERR" "[Dd]atabase|connect" "... a message about the database connection"
# What remains: nothing at all. The database is reached before the output
# directory is created, so not even the directory or its batch marker exists.
is "$(find "$T/out-dbdown" 2>/dev/null | wc -l)" 0 "... nothing remains: the output directory is not even created"

P12_CONF=$T/nodb.conf p12 nodb --udids "$T/dbdown.txt" --out "$T/out-nodb" --key ec-p256
is "$RC" 1 "a database that does not exist: exit 1"
like "$ERR" "no_such_db_$$" "... the message names the database"
is "$(find "$T/out-nodb" 2>/dev/null | wc -l)" 0 "... nothing remains: no output directory"
is "$(q "select count(*) from certificate where udid in ($(sqlin "${DBD[@]}"))")" 0 "... no rows for those devices"
p12 dbback --udids "$T/dbdown.txt" --out "$T/out-dbdown" --key ec-p256
is "$RC/$(tail -n +2 "$T/out-dbdown/manifest.csv" 2>/dev/null | wc -l)" 0/2 "the database back: the same command completes the batch"

done_testing
