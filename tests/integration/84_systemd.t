#!/usr/bin/env bash
# systemd: Type=notify (READY=1 on $NOTIFY_SOCKET once the listeners are up,
# the port file written and the database answered; RELOADING=1 and READY=1
# around a SIGHUP; STOPPING=1), deploy/systemd/mdmid.service passes
# `systemd-analyze verify`, and SIGHUP reloads the configuration: log_level and
# the static challenge at once, and the issuance policy and binding keys
# (validity_days, min_rsa_bits, ...) for the next request, without a restart;
# other keys named as needing a restart; an invalid configuration (config_load
# or the binding refusing it) changes nothing; the server keeps serving.
source "$(dirname "$0")/lib.sh"
t_setup systemd

# A notification socket the way systemd offers one: AF_UNIX, SOCK_DGRAM. Each
# datagram becomes a line of $T/notify.log, with whether the port file existed
# when it arrived.
listen_notify() {
	rm -f "$T/notify.sock" "$T/notify.log"
	python3 - "$T/notify.sock" "$T/notify.log" "$T/port" <<'PY' &
import os, socket, sys
path, log, port = sys.argv[1:4]
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(path)
s.settimeout(120)
with open(log, "a", buffering=1) as out:
    while True:
        try:
            data = s.recv(4096).decode()
        except socket.timeout:
            break
        fields = data.replace("\n", " ").strip()
        out.write("%s port_file=%s\n" % (fields, "yes" if os.path.exists(port) and os.path.getsize(port) > 0 else "no"))
        if "STOPPING=1" in data:
            break
PY
	NOTIFY_PID=$!
	local i
	for ((i = 0; i < 50; i++)); do [[ -S "$T/notify.sock" ]] && break; sleep 0.1; done
}
# wait_notify REGEX: waits (up to 20 s) for a line of the notify log to match
wait_notify() {
	local i
	for ((i = 0; i < $(t_scale 200); i++)); do
		grep -Eq "$1" "$T/notify.log" 2>/dev/null && return 0
		sleep 0.1
	done
	return 1
}
wait_log() {
	local i
	for ((i = 0; i < $(t_scale 100); i++)); do
		grep -Eq "$1" "$T/server.log" 2>/dev/null && return 0
		sleep 0.1
	done
	return 1
}

# --- The unit file.
UNIT=$MDMID_ROOT/deploy/systemd/mdmid.service
mkdir -p "$T/unit" "$T/man/man8"
# verify needs ExecStart's binary to exist and the man page Documentation= names.
sed "s#/usr/local/bin/mdmid#$MDMID_BIN#g" "$UNIT" >"$T/unit/mdmid.service"
cp "$MDMID_ROOT/mdmid.8" "$T/man/man8/"
if command -v systemd-analyze >/dev/null; then
	rc=0
	MANPATH=$T/man systemd-analyze verify "$T/unit/mdmid.service" >"$T/verify.out" 2>&1 || rc=$?
	is "$rc" 0 "systemd-analyze verify accepts deploy/systemd/mdmid.service"
	is "$(cat "$T/verify.out")" "" "... without a warning"
	score=$(systemd-analyze security --offline=true "$T/unit/mdmid.service" 2>/dev/null |
		sed -n 's/.*Overall exposure level for mdmid.service: \([0-9.]*\).*/\1/p')
	diag "systemd-analyze security --offline=true: exposure $score"
	ok "$(awk -v s="${score:-10}" 'BEGIN {exit !(s + 0 <= 2.0)}'; echo $?)" "the exposure level is 2.0 or less (got ${score:-none})"
else
	ok 1 "systemd-analyze is installed (deploy/install-deps.sh installs systemd)"
fi
for d in "Type=notify" "User=mdmid" "NoNewPrivileges=yes" "ProtectSystem=strict" "ProtectHome=yes" "PrivateTmp=yes" \
	"PrivateDevices=yes" "CapabilityBoundingSet=" "RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX" \
	"SystemCallFilter=@system-service" "MemoryDenyWriteExecute=yes" 'ExecReload=/bin/kill -HUP $MAINPID'; do
	grep -qxF "$d" "$UNIT" || missing_d+=" [$d]"
done
is "${missing_d:-}" "" "the unit sets the hardening it documents"
like "$(grep '^LimitNOFILE=' "$UNIT")" '^LimitNOFILE=[0-9]+$' "... and LimitNOFILE"
grep -q "^u mdmid " "$MDMID_ROOT/deploy/systemd/mdmid.sysusers"
ok $? "deploy/systemd/mdmid.sysusers creates the user mdmid"

# --- No READY=1 while the database refuses connections: serve exits instead.
listen_notify
psql -X -Atq -d postgres -c "alter database $DB allow_connections false"
t_write_config
rc=0
NOTIFY_SOCKET=$T/notify.sock timeout 60 "$MDMID_BIN" serve --config "$T/mdmid.conf" >"$T/nodb.log" 2>&1 || rc=$?
psql -X -Atq -d postgres -c "alter database $DB allow_connections true"
ok "$([[ $rc -ne 0 ]]; echo $?)" "with the database refusing connections, serve exits with an error ($rc)"
ok "$(grep -q 'READY=1' "$T/notify.log" 2>/dev/null; [[ $? -ne 0 ]]; echo $?)" "... without READY=1"
kill "$NOTIFY_PID" 2>/dev/null || true
wait "$NOTIFY_PID" 2>/dev/null || true

# --- READY=1 after the port file and the database.
listen_notify
export NOTIFY_SOCKET=$T/notify.sock
t_start
unset NOTIFY_SOCKET
wait_notify 'READY=1'
ok $? "READY=1 arrives on NOTIFY_SOCKET"
like "$(grep -m1 'READY=1' "$T/notify.log")" 'port_file=yes' "... after the port file was written"
like "$(grep -m1 'READY=1' "$T/notify.log")" "MAINPID=$SERVER_PID" "... naming the main PID"
is "$(q "select count(*) > 0 from issuer")" t "... and after the database answered (the issuers are recorded)"
like "$(grep -m1 'READY=1' "$T/notify.log")" 'STATUS=serving' "... with a STATUS line"

# --- SIGHUP: log_level info -> debug is applied, the server keeps serving.
curl -fsS "$URL?operation=GetCACaps" >/dev/null
ok "$(grep -q 'event=http ' "$T/server.log"; [[ $? -ne 0 ]]; echo $?)" "at log_level = info no access log line is written"
sed -i 's/^log_level = info$/log_level = debug/' "$T/mdmid.conf"
printf 'second-static-challenge-%s\n' "$$" >"$T/challenge"
echo "listen = 127.0.0.1:1" >>"$T/mdmid.conf" # a key only a restart applies (the later line wins)
kill -HUP "$SERVER_PID"
wait_log 'event=reload outcome=success'
ok $? "SIGHUP: the configuration is reloaded"
line=$(grep -m1 'event=reload outcome=success' "$T/server.log")
like "$line" 'log_level=debug' "... the new log_level is in effect"
like "$line" 'applied="log_level,challenge"' "... log_level and the challenge are applied"
like "$line" 'restart_needed="listen"' "... listen is named as needing a restart"
like "$(grep 'event=reload msg=' "$T/server.log")" 'keys="listen"' "... in a warning too"
ok "$([[ $(grep -c 'second-static-challenge' "$T/server.log") -eq 0 ]]; echo $?)" "... and the challenge is not logged"
wait_notify 'RELOADING=1'
ok $? "RELOADING=1 is sent"
for ((i = 0; i < $(t_scale 100); i++)); do [[ $(grep -c 'READY=1' "$T/notify.log") -ge 2 ]] && break; sleep 0.1; done
like "$(sed -n '/RELOADING=1/,$p' "$T/notify.log")" 'READY=1' "... then READY=1 again"
is "$(curl -fsS "$URL?operation=GetCACaps" | head -n 1)" POSTPKIOperation "the server keeps serving after SIGHUP"
wait_log 'level=debug event=http '
ok $? "... and now writes debug lines (the access log)"
is "$(sed -n 1p "$T/port")" "$PORT" "the listener did not move (listen needs a restart)"

# The new static challenge is used at once, the old one is refused.
curl -fsS -o "$T/cacert.der" "$URL?operation=GetCACert"
enroll() { # enroll NAME CHALLENGE: prints pki_status=N
	mkdir -p "$T/$1"
	"$SCEP_REQ" build --cacert "$T/cacert.der" --key "$T/$1/key.pem" --challenge "$2" --cn "$(udid_for "$1")" \
		--out "$T/$1/req.der" --out-signer "$T/$1/self.pem" >/dev/null
	curl -fsS --data-binary @"$T/$1/req.der" -o "$T/$1/rep.der" "$URL?operation=PKIOperation"
	"$SCEP_REQ" parse --reply "$T/$1/rep.der" --cacert "$T/cacert.der" --key "$T/$1/key.pem" \
		--signer-cert "$T/$1/self.pem" --out-cert "$T/$1/cert.pem" 2>/dev/null >"$T/$1/parse.out" || true
	grep -o 'pki_status=[0-9]' "$T/$1/parse.out"
}
is "$(enroll new "$(cat "$T/challenge")")" pki_status=0 "the reloaded static challenge enrolls"
is "$(enroll old "$CHALLENGE")" pki_status=2 "the old one is refused (FAILURE)"

# sighup: sends SIGHUP and waits (up to 10 s) for the reload's log line
# (success or failure), which it puts in RELOAD_LINE.
RELOADS=$(grep -c 'event=reload outcome=' "$T/server.log" || true)
sighup() {
	local i
	kill -HUP "$SERVER_PID"
	RELOADS=$((RELOADS + 1))
	for ((i = 0; i < $(t_scale 100); i++)); do
		[[ $(grep -c 'event=reload outcome=' "$T/server.log" || true) -ge $RELOADS ]] && break
		sleep 0.1
	done
	RELOAD_LINE=$(grep 'event=reload outcome=' "$T/server.log" | sed -n "${RELOADS}p")
}
# days NAME: notAfter - notBefore of NAME's certificate, in whole days.
days() {
	local nb na
	nb=$(openssl x509 -in "$T/$1/cert.pem" -noout -startdate | cut -d= -f2)
	na=$(openssl x509 -in "$T/$1/cert.pem" -noout -enddate | cut -d= -f2)
	echo $((($(date -ud "$na" +%s) - $(date -ud "$nb" +%s)) / 86400))
}
CHALLENGE2=$(cat "$T/challenge")
is "$(days new)" 365 "before the reload a certificate is valid for 365 days (the default)"

# validity_days: applied by SIGHUP, the next certificate has the new validity.
echo "validity_days = 30" >>"$T/mdmid.conf"
sighup
like "$RELOAD_LINE" 'outcome=success' "SIGHUP with validity_days = 30: the configuration is reloaded"
like "$RELOAD_LINE" 'applied="validity_days" restart_needed="listen"' \
	"... validity_days is applied, listen (still changed) named as needing a restart"
is "$(enroll valid30 "$CHALLENGE2")" pki_status=0 "an enrollment after the reload succeeds"
is "$(days valid30)" 30 "... and its certificate is valid for 30 days"
ok "$(kill -0 "$SERVER_PID"; echo $?)" "... from the same process (no restart)"
is "$(grep -c 'event=start ' "$T/server.log")" 1 "... which started once"

# min_rsa_bits: a 2048-bit CSR is refused (badRequest) once 3072 is required.
# allow_single_des turned on needs the legacy provider, not loaded at start.
printf 'min_rsa_bits = 3072\nallow_single_des = true\n' >>"$T/mdmid.conf"
sighup
like "$RELOAD_LINE" 'applied="min_rsa_bits" restart_needed="listen,allow_single_des"' \
	"SIGHUP with min_rsa_bits = 3072: applied; allow_single_des (no legacy provider at start) needs a restart"
like "$(grep 'event=reload msg=' "$T/server.log" | tail -n 1)" 'keys="listen,allow_single_des"' "... in a warning too"
is "$(enroll small "$CHALLENGE2")" pki_status=2 "a 2048-bit CSR is now refused (FAILURE)"
is "$(sed -n 's/^fail_info=//p' "$T/small/parse.out")" 2 "... with failInfo badRequest"
is "$(q "select error from event order by id desc limit 1")" key_too_small "... as key_too_small"

# Invalid values change nothing: refused by config_load, or by the binding.
sed -i '/^allow_single_des = true$/d' "$T/mdmid.conf"
printf 'validity_days = 10\nmin_rsa_bits = 2048\nchallenge_mode = nonsense\n' >>"$T/mdmid.conf"
sighup
like "$RELOAD_LINE" 'event=reload outcome=failure' "SIGHUP with challenge_mode = nonsense: the reload is refused"
like "$RELOAD_LINE" 'running configuration is kept' "... and the running configuration kept"
sed -i 's/^challenge_mode = nonsense$/static_udid_field = noSuchAttribute/' "$T/mdmid.conf"
sighup
like "$RELOAD_LINE" 'event=reload outcome=failure.*static_udid_field' \
	"SIGHUP with static_udid_field = noSuchAttribute: refused when the settings are built"
is "$(enroll small2 "$CHALLENGE2")" pki_status=2 "the old settings still hold: a 2048-bit CSR is refused"
mkdir -p "$T/big"
"$SCEP_REQ" build --cacert "$T/cacert.der" --key "$T/big/key.pem" --key-bits 3072 --challenge "$CHALLENGE2" \
	--cn "$(udid_for big)" --out "$T/big/req.der" --out-signer "$T/big/self.pem" >/dev/null
curl -fsS --data-binary @"$T/big/req.der" -o "$T/big/rep.der" "$URL?operation=PKIOperation"
"$SCEP_REQ" parse --reply "$T/big/rep.der" --cacert "$T/cacert.der" --key "$T/big/key.pem" \
	--signer-cert "$T/big/self.pem" --out-cert "$T/big/cert.pem" >"$T/big/parse.out" 2>/dev/null || true
like "$(cat "$T/big/parse.out")" 'pki_status=0' "... a 3072-bit CSR enrolls"
is "$(days big)" 30 "... valid for 30 days (not 10)"
sed -i '/^validity_days = 10$/d; /^min_rsa_bits = 2048$/d; /^static_udid_field = noSuchAttribute$/d' "$T/mdmid.conf"

# An invalid configuration changes nothing.
echo "log_level = loud" >>"$T/mdmid.conf"
sighup
like "$RELOAD_LINE" 'event=reload outcome=failure' "SIGHUP with an invalid configuration: reload refused and logged"
is "$(curl -fsS "$URL?operation=GetCACaps" | head -n 1)" POSTPKIOperation "... and the server keeps serving"

t_stop
wait_notify 'STOPPING=1'
ok $? "STOPPING=1 on SIGTERM"
kill "$NOTIFY_PID" 2>/dev/null || true
wait "$NOTIFY_PID" 2>/dev/null || true
done_testing
