#!/usr/bin/env bash
# The subcommands: help, errors and exit codes, ca init, db migrate, make install.
source "$(dirname "$0")/lib.sh"
t_setup cli

# run_rc CMD...: sets RC, OUT (stdout) and ERR (stderr)
run_rc() {
	RC=0
	"$@" >"$T/out" 2>"$T/err" || RC=$?
	OUT=$(cat "$T/out")
	ERR=$(cat "$T/err")
}

for cmd in "" "serve" "ca" "ca init" "db" "db migrate" "config" "config check"; do
	# shellcheck disable=SC2086
	run_rc "$MDMID_BIN" $cmd --help
	is "$RC" 0 "mdmid $cmd --help exits 0"
	like "$OUT" "usage: mdmid" "mdmid $cmd --help prints the usage on stdout"
done
run_rc "$MDMID_BIN"
is "$RC" 2 "mdmid without a command exits 2"
run_rc "$MDMID_BIN" frobnicate
is "$RC" 2 "an unknown command exits 2"
like "$ERR" 'unknown command "frobnicate"' "... and names it"
run_rc "$MDMID_BIN" ca init --bogus
is "$RC" 2 "an unknown option exits 2"

# ca init: what the files are.
ca=$T/ca
is "$(stat -c %a "$ca/ca.key") $(stat -c %a "$ca/ra.key")" "600 600" "private keys are written 0600"
like "$(openssl x509 -in "$ca/ca.pem" -noout -ext keyUsage)" "critical"$'\n'" *Certificate Sign, CRL Sign$" \
	"the CA has keyUsage keyCertSign + cRLSign (critical)"
like "$(openssl x509 -in "$ca/ca.pem" -noout -ext basicConstraints)" "CA:TRUE" "the CA has basicConstraints CA:TRUE"
like "$(openssl x509 -in "$ca/ca.pem" -noout -subject)" "CN = mdmid test CA" "the CA has the subject asked for"
like "$(openssl x509 -in "$ca/ra.pem" -noout -ext keyUsage)" "Digital Signature, Key Encipherment" \
	"the RA has keyUsage digitalSignature + keyEncipherment"
like "$(openssl x509 -in "$ca/ra.pem" -noout -ext basicConstraints)" "CA:FALSE" "the RA is not a CA"
ok_cmd "the RA certificate is signed by the CA" openssl verify -CAfile "$ca/ca.pem" -partial_chain "$ca/ra.pem"
like "$(openssl pkey -in "$ca/ca.key" -noout -text | head -n 1)" "2048 bit" "RSA 2048 as asked"
run_rc "$MDMID_BIN" ca init --config /dev/null --dir "$ca"
is "$RC" 1 "ca init refuses to replace an existing CA"
like "$ERR" "already exists \(use --force" "... and says how to replace it"
run_rc "$MDMID_BIN" ca init --config /dev/null --dir "$T/small" --bits 1024
is "$RC" 1 "ca init refuses a 1024-bit key"
like "$ERR" "must be between 2048 and 16384" "... with the allowed range"
ok "$([[ ! -e $T/small/ca.key ]]; echo $?)" "... and writes nothing"
run_rc "$MDMID_BIN" ca init --config /dev/null --dir "$T/badsubj" --subject "CN=no-slash"
is "$RC" 1 "a malformed subject is refused"
printf 'secret phrase\n' >"$T/pass"
run_rc env MDMID_CA_KEY_PASSPHRASE_FILE="$T/pass" "$MDMID_BIN" ca init --config /dev/null --dir "$T/enc" --bits 2048
is "$RC" 0 "ca init with a passphrase"
like "$(head -n 1 "$T/enc/ca.key")" "ENCRYPTED PRIVATE KEY" "... encrypts the keys"

# db migrate: idempotent and recorded.
run_rc "$MDMID_BIN" db migrate --config /dev/null
is "$RC" 0 "db migrate a second time succeeds"
like "$OUT" "^present 001_issuance.sql" "... and changes nothing"
is "$(q "select count(*) from schema_migration")" "$(ls "$MDMID_ROOT"/sql/[0-9]*.sql | wc -l)" "schema_migration records each migration once"
run_rc env PGHOST=/nonexistent "$MDMID_BIN" db migrate --config /dev/null
is "$RC" 1 "db migrate without a database exits 1"
like "$ERR" "connecting to PostgreSQL" "... and says so"

# Configuration errors.
printf 'listen = 127.0.0.1:0\nbogus_key = 1\n' >"$T/bad.conf"
run_rc "$MDMID_BIN" serve --config "$T/bad.conf"
is "$RC" 2 "an unknown configuration key exits 2"
like "$ERR" "bad.conf:2: unknown key \"bogus_key\"" "... naming the file, line and key"
printf 'challenge = hunter2\n' >"$T/secret.conf"
run_rc "$MDMID_BIN" serve --config "$T/secret.conf"
is "$RC" 2 "a secret in the configuration file is refused"
like "$ERR" "challenge_file, or in MDMID_CHALLENGE" "... pointing at challenge_file or MDMID_CHALLENGE"
ok "$([[ $ERR != *hunter2* ]]; echo $?)" "... without echoing the secret"
printf 'ca_dir = %s/nowhere\nlisten = 127.0.0.1:0\n' "$T" >"$T/noca.conf"
run_rc "$MDMID_BIN" serve --config "$T/noca.conf"
is "$RC" 1 "serve without a CA exits 1"
like "$ERR" "nowhere/ca.pem: No such file" "... naming the missing file"
run_rc env MDMID_CONFIG="$T/bad.conf" "$MDMID_BIN" db migrate
is "$RC" 2 "without --config, \$MDMID_CONFIG is read"

# make install honours PREFIX and DESTDIR.
run_rc make -s -C "$MDMID_ROOT" install BUILD="$MDMID_BUILD" PREFIX=/opt/mdmid DESTDIR="$T/dest"
is "$RC" 0 "make install PREFIX=/opt/mdmid DESTDIR=... succeeds"
ok "$([[ -x $T/dest/opt/mdmid/bin/mdmid && -f $T/dest/opt/mdmid/share/mdmid/sql/001_issuance.sql &&
	-f $T/dest/opt/mdmid/share/doc/mdmid/mdmid.conf.example ]]; echo $?)" "... installing the binary, the SQL and the example"
man8=$T/dest/opt/mdmid/share/man/man8/mdmid.8
ok "$([[ -f $man8 ]] && cmp -s "$man8" "$MDMID_ROOT/mdmid.8"; echo $?)" "... and the manual in share/man/man8"
is "$(stat -c %a "$man8" 2>/dev/null)" 644 "... mode 0644"
like "$(MANWIDTH=80 man -P cat -l "$man8" 2>&1)" $'NAME\n +mdmid - ' "... where man renders it"
unit=$T/dest/opt/mdmid/lib/systemd/system/mdmid.service
like "$(grep '^ExecStart=' "$unit" 2>&1)" '^ExecStart=/opt/mdmid/bin/mdmid serve ' "... the systemd unit, starting the installed binary"
ok "$([[ -f $T/dest/opt/mdmid/lib/sysusers.d/mdmid.conf ]]; echo $?)" "... and its sysusers file"
# ... and runs from there.
run_rc "$T/dest/opt/mdmid/bin/mdmid" ca init --config /dev/null --dir "$T/installed-ca" --bits 2048 --subject "/CN=installed"
is "$RC" 0 "the installed binary runs: ca init"
run_rc "$T/dest/opt/mdmid/bin/mdmid" ca show --config /dev/null --dir "$T/installed-ca"
like "$OUT" 'CN ?= ?installed' "... and ca show reads what it made"
done_testing
