#!/usr/bin/env bash
# PKIOperation by GET: with advertise_post = false mdmid advertises neither
# POSTPKIOperation nor SCEPStandard, so scepclient falls back to GET with a
# base64url message; a standard-base64 message with its '+' turned into a
# space by query decoding works as well.
source "$(dirname "$0")/lib.sh"
t_setup get_pkioperation
t_config "allow_single_des = true" "advertise_post = false" "log_level = debug"
t_start

caps=$(curl -fsS "$URL?operation=GetCACaps")
ok "$(grep -qx -e POSTPKIOperation -e SCEPStandard <<<"$caps"; [[ $? -eq 1 ]]; echo $?)" \
	"GetCACaps advertises neither POSTPKIOperation nor SCEPStandard"
ok "$(grep -qx SHA-256 <<<"$caps"; echo $?)" "GetCACaps still advertises SHA-256"

C=$T/client
ok_cmd "scepclient enrolls over GET" t_scepclient "$C" -challenge "$CHALLENGE" -cn "$(udid_for device-get)"
fp=$(openssl x509 -in "$C/cert.pem" -outform DER | sha256sum | cut -d' ' -f1)
is "$(q "select count(*) from certificate where sha256 = '\\x$fp'")" 1 "its row exists with the matching fingerprint"
is "$(grep -c 'event=http method=POST' "$T/server.log")" 0 "nothing was POSTed: the PKIOperation came by GET"
t_stop
done_testing
