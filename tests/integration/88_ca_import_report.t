#!/usr/bin/env bash
# mdmid ca import (an existing intermediate CA with its chain: checks, files,
# GetCACert with the chain, enrollment under it), mdmid ca show, mdmid report
# expiring, and /readyz on the admin listener (no token; 503 while the
# database is unreachable).
source "$(dirname "$0")/lib.sh"
t_setup ca_import

# run_rc CMD...: sets RC, OUT (stdout) and ERR (stderr)
run_rc() {
	RC=0
	"$@" >"$T/out" 2>"$T/err" || RC=$?
	OUT=$(cat "$T/out")
	ERR=$(cat "$T/err")
}
fp() { openssl x509 -in "$1" -outform DER | sha256sum | cut -d' ' -f1; }

# --- An existing PKI: a root and an intermediate made by openssl.
P=$T/pki
mkdir -p "$P"
cat >"$P/ext.cnf" <<'CNF'
[root]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
[inter]
basicConstraints = critical, CA:TRUE, pathlen:0
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always
[leaf]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
CNF
openssl req -x509 -newkey rsa:2048 -nodes -keyout "$P/root.key" -out "$P/root.pem" -days 3650 \
	-subj "/CN=Example Root CA/O=Example" -extensions root -config <(cat /etc/ssl/openssl.cnf "$P/ext.cnf") 2>/dev/null
openssl req -newkey rsa:2048 -nodes -keyout "$P/inter.key" -out "$P/inter.csr" -subj "/CN=Example Device CA/O=Example" 2>/dev/null
openssl x509 -req -in "$P/inter.csr" -CA "$P/root.pem" -CAkey "$P/root.key" -CAcreateserial -days 1825 \
	-extfile "$P/ext.cnf" -extensions inter -out "$P/inter.pem" 2>/dev/null
openssl req -newkey rsa:2048 -nodes -keyout "$P/leaf.key" -out "$P/leaf.csr" -subj "/CN=not a CA" 2>/dev/null
openssl x509 -req -in "$P/leaf.csr" -CA "$P/inter.pem" -CAkey "$P/inter.key" -CAcreateserial -days 30 \
	-extfile "$P/ext.cnf" -extensions leaf -out "$P/leaf.pem" 2>/dev/null
chmod 644 "$P/inter.key"
IMP=(--config /dev/null --bits 2048)

# --- Refusals.
run_rc "$MDMID_BIN" ca import "${IMP[@]}" --dir "$T/bad" --cert "$P/inter.pem" --key "$P/leaf.key" --chain "$P/root.pem"
is "$RC" 1 "import with another certificate's key exits 1"
like "$ERR" "not the key of the certificate" "... saying so"
run_rc "$MDMID_BIN" ca import "${IMP[@]}" --dir "$T/bad" --cert "$P/leaf.pem" --key "$P/leaf.key" --chain "$P/inter.pem"
is "$RC" 1 "import of a certificate that is no CA exits 1"
like "$ERR" "not a CA certificate .* keyCertSign" "... saying so"
run_rc "$MDMID_BIN" ca import "${IMP[@]}" --dir "$T/bad" --cert "$P/inter.pem" --key "$P/inter.key" --chain "$P/leaf.pem"
is "$RC" 1 "import with a chain that does not go up from the CA exits 1"
like "$ERR" "chain is not in order" "... saying so"
run_rc "$MDMID_BIN" ca import "${IMP[@]}" --dir "$T/bad" --cert "$P/inter.pem" --key "$P/inter.key" --no-ra
is "$RC" 1 "CA-only import of a CA without keyEncipherment exits 1"
ok "$([[ ! -e $T/bad/ca.key ]]; echo $?)" "... and nothing was written"
run_rc "$MDMID_BIN" ca import "${IMP[@]}" --dir "$T/bad" --cert "$P/inter.pem"
is "$RC" 2 "import without --key exits 2"
run_rc "$MDMID_BIN" ca import "${IMP[@]}" --cert "$P/inter.pem" --key "$P/inter.key" --chain "$P/root.pem" --dir "$T/ca"
is "$RC" 1 "import over an existing CA without --force exits 1"

# --- The import.
run_rc "$MDMID_BIN" ca import "${IMP[@]}" --cert "$P/inter.pem" --key "$P/inter.key" --chain "$P/root.pem" \
	--dir "$T/ca" --force
is "$RC" 0 "ca import of an intermediate CA with its chain exits 0"
[[ $RC -eq 0 ]] || diag "$ERR"
like "$OUT" "imported the CA into $T/ca" "... and says where"
is "$(stat -c %a "$T/ca/ca.key")" 600 "ca.key is written 0600 (the source was 0644)"
is "$(stat -c %a "$T/ca/ra.key")" 600 "... and so is the new ra.key"
is "$(grep -c 'BEGIN CERTIFICATE' "$T/ca/ca.pem")" 2 "ca.pem holds the CA and its chain"
is "$(fp "$T/ca/ca.pem")" "$(fp "$P/inter.pem")" "... the CA first"
is "$(openssl pkey -in "$T/ca/ca.key" -pubout | sha256sum)" "$(openssl pkey -in "$P/inter.key" -pubout | sha256sum)" \
	"ca.key is the imported key"
is "$(openssl verify -CAfile "$P/root.pem" -untrusted "$P/inter.pem" "$T/ca/ra.pem" 2>&1)" "$T/ca/ra.pem: OK" \
	"the new RA chains to the root through the imported CA"

# --- ca show.
run_rc "$MDMID_BIN" ca show --config /dev/null --dir "$T/ca"
is "$RC" 0 "ca show exits 0"
like "$OUT" $'(^|\n)ca.subject = O=Example,CN=Example Device CA\n' "... the CA's subject (RFC 2253)"
like "$OUT" $'\nca.issuer = O=Example,CN=Example Root CA\n' "... its issuer"
like "$OUT" $'\nca.serial = [0-9a-f]+\n' "... its serial"
like "$OUT" $'\nca.not_before = [0-9]{4}-[0-9]{2}-[0-9]{2} [0-9:]{8}Z\nca.not_after = ' "... its validity"
like "$OUT" $'\nca.sha256 = '"$(fp "$P/inter.pem")"$'\n' "... its SHA-256 fingerprint"
like "$OUT" $'\nca.key = RSA 2048\n' "... its key type and size"
like "$OUT" $'\nmode = ra\n' "... the mode"
like "$OUT" $'\nra.subject = CN=Example Device CA SCEP RA' "... the RA"
like "$OUT" $'\nra.sha256 = '"$(fp "$T/ca/ra.pem")"$'\n' "... with its fingerprint"
like "$OUT" $'\nchain = 1\nchain.1.subject = O=Example,CN=Example Root CA\n' "... and the chain"
ok "$([[ $OUT$ERR != *PRIVATE* && $OUT$ERR != *"$(sed -n 2p "$T/ca/ca.key")"* ]]; echo $?)" "... and no secret"
chmod 000 "$T/ca/ca.key"
run_rc "$MDMID_BIN" ca show --config /dev/null --dir "$T/ca"
is "$RC" 0 "ca show does not read the keys"
chmod 600 "$T/ca/ca.key"

# --- serve with the imported CA: GetCACert carries the chain.
t_start
curl -fsS -o "$T/cacert.der" "$URL?operation=GetCACert"
openssl pkcs7 -inform DER -in "$T/cacert.der" -print_certs -out "$T/getcacert.pem" 2>/dev/null
is "$(grep -c 'BEGIN CERTIFICATE' "$T/getcacert.pem")" 3 "GetCACert: a degenerate PKCS#7 of the RA, the CA and the root"
like "$(grep '^subject' "$T/getcacert.pem" | tr '\n' '|')" "SCEP RA.*Example Device CA.*Example Root CA" "... in that order"
mkdir -p "$T/dev"
"$SCEP_REQ" build --cacert "$T/cacert.der" --key "$T/dev/key.pem" --challenge "$CHALLENGE" --cn "$(udid_for dev)" \
	--out "$T/dev/req.der" --out-signer "$T/dev/self.pem" >/dev/null
curl -fsS --data-binary @"$T/dev/req.der" -o "$T/dev/rep.der" "$URL?operation=PKIOperation"
"$SCEP_REQ" parse --reply "$T/dev/rep.der" --cacert "$T/cacert.der" --key "$T/dev/key.pem" --signer-cert "$T/dev/self.pem" \
	--out-cert "$T/dev/cert.pem" >"$T/dev/parse.txt" 2>&1
like "$(cat "$T/dev/parse.txt")" "pki_status=0" "a device enrolls under the imported CA"
is "$(openssl verify -CAfile "$P/root.pem" -untrusted "$P/inter.pem" "$T/dev/cert.pem" 2>&1)" "$T/dev/cert.pem: OK" \
	"... and its certificate chains to the root"

# --- report expiring.
run_rc "$MDMID_BIN" report expiring --config "$T/mdmid.conf" --within 30d
is "$RC" 0 "report expiring exits 0"
is "$OUT" "" "... and lists nothing expiring within 30 days"
serial=$(q "select serial from certificate")
q "update certificate set not_after = now() + interval '10 days'"
run_rc "$MDMID_BIN" report expiring --config "$T/mdmid.conf" --within 30d
is "$RC" 0 "report expiring exits 0 with a certificate to list"
like "$OUT" "^$(udid_for dev)"$'\t'"$serial"$'\t''[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:]{8}Z'$'\t''scep$' \
	"... one line: udid, serial, not_after, method"
is "$(wc -l <<<"$OUT")" 1 "... one line per certificate"
run_rc "$MDMID_BIN" report expiring --config "$T/mdmid.conf" --within 5d
is "$OUT" "" "--within 5d leaves it out"
q "update certificate set status = 'revoked', revoked_at = now(), revocation_reason = 'superseded'"
run_rc "$MDMID_BIN" report expiring --config "$T/mdmid.conf" --within 30d
is "$OUT" "" "a revoked certificate is not listed"
run_rc "$MDMID_BIN" report expiring --config "$T/mdmid.conf" --within soon
is "$RC" 2 "--within that is no duration exits 2"
run_rc "$MDMID_BIN" report nothing --config "$T/mdmid.conf"
is "$RC" 2 "an unknown report exits 2"

# --- /readyz: on the admin listener, no token.
is "$(curl -sS -w ' %{http_code}' "$ADMIN_URL/readyz")" "ready
 200" "/readyz: 200 ready, without a token"
is "$(curl -sS -o /dev/null -w '%{http_code}' "http://127.0.0.1:$PORT/readyz")" 404 "/readyz is not on the public listener"
# Warm every admin thread's connection, so that the restart below leaves
# stale ones behind: a stale connection must not make /readyz fail.
for _ in 1 2 3 4 5 6; do curl -sS -o /dev/null "$ADMIN_URL/readyz"; done
psql -X -Atq -d postgres -c "alter database $DB allow_connections false"
psql -X -Atq -d postgres -c "select count(pg_terminate_backend(pid, 10000)) from pg_stat_activity where datname = '$DB'" >/dev/null
start=$(date +%s%N)
is "$(curl -sS -o "$T/readyz" -w '%{http_code}' "$ADMIN_URL/readyz")" 503 "with the database unreachable: 503"
ms=$((($(date +%s%N) - start) / 1000000))
ok "$([[ $ms -lt $(t_scale 5000) ]]; echo $?)" "... answered at once (${ms} ms)"
like "$(cat "$T/readyz")" "not ready" "... not ready"
is "$(curl -fsS "http://127.0.0.1:$PORT/healthz")" ok "/healthz stays ok (liveness)"
psql -X -Atq -d postgres -c "alter database $DB allow_connections true"
codes=$(for _ in 1 2 3 4 5 6; do curl -sS -o /dev/null -w '%{http_code} ' "$ADMIN_URL/readyz"; done)
is "$codes" "200 200 200 200 200 200 " "the database back: 200 again, at once, from every admin thread"
t_stop
done_testing
