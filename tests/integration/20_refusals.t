#!/usr/bin/env bash
# Refusals with real clients: a wrong challenge, a 1024-bit key, a single-DES
# request while allow_single_des is off, a corrupted body, an oversized body,
# bad paths and operations. Each gets its specific answer, leaves an event
# row naming the reason, and no certificate row.
source "$(dirname "$0")/lib.sh"
t_setup refusals
t_config "allow_single_des = true"
t_start

# expect_refusal NAME ERROR FAILINFO: the newest event is this refusal, and
# no certificate was recorded.
expect_event() {
	local error=$1 fail_info=$2 what=$3
	is "$(q "select error || '/' || coalesce(fail_info, '-') || '/' || outcome from event order by id desc limit 1")" \
		"$error/$fail_info/failure" "$what: event row names $error ($fail_info)"
	is "$(q "select count(*) from certificate")" 0 "$what: no certificate row"
}

C=$T/wrong
t_scepclient "$C" -challenge "not-the-challenge" -cn wrong-challenge && rc=0 || rc=$?
ok "$([[ $rc -ne 0 && ! -s $C/cert.pem ]]; echo $?)" "a wrong challenge gets no certificate"
like "$(cat "$C/out.log")" "badRequest" "scepclient reports failInfo badRequest for a wrong challenge"
expect_event challenge_wrong badRequest "wrong challenge"

C=$T/nochallenge
t_scepclient "$C" -cn no-challenge && rc=0 || rc=$?
ok "$([[ $rc -ne 0 && ! -s $C/cert.pem ]]; echo $?)" "no challenge gets no certificate"
expect_event challenge_missing badRequest "missing challenge"

C=$T/small
t_scepclient "$C" -challenge "$CHALLENGE" -keySize 1024 -cn small-key && rc=0 || rc=$?
ok "$([[ $rc -ne 0 && ! -s $C/cert.pem ]]; echo $?)" "a 1024-bit key gets no certificate"
like "$(cat "$C/out.log")" "badRequest" "scepclient reports failInfo badRequest for a 1024-bit key"
expect_event key_too_small badRequest "1024-bit key"

# A corrupted body: bytes that are no pkiMessage get HTTP 400.
head -c 3000 /dev/urandom >"$T/garbage"
status=$(curl -sS -o "$T/out" -w '%{http_code}' --data-binary @"$T/garbage" -H 'Content-Type: application/x-pki-message' \
	"$URL?operation=PKIOperation")
is "$status" 400 "a corrupted body gets HTTP 400"
expect_event message_decode - "corrupted body"

# Over the body limit (64 KiB by default): 413 before the body is read.
head -c 70000 /dev/zero >"$T/big"
status=$(curl -sS -o /dev/null -w '%{http_code}' --data-binary @"$T/big" "$URL?operation=PKIOperation")
is "$status" 413 "a body over max_body_bytes gets HTTP 413"
status=$(curl -sS -o /dev/null -w '%{http_code}' -H 'Transfer-Encoding: chunked' --data-binary @"$T/big" \
	"$URL?operation=PKIOperation")
is "$status" 413 "a chunked body over max_body_bytes gets HTTP 413"

# GET with a message that is not base64.
status=$(curl -sS -o /dev/null -w '%{http_code}' "$URL?operation=PKIOperation&message=%21%21not*base64")
is "$status" 400 "GET PKIOperation with invalid base64 gets HTTP 400"
expect_event bad_base64 - "invalid base64"

is "$(curl -sS -o /dev/null -w '%{http_code}' "$URL?operation=Nonsense")" 400 "an unknown operation gets HTTP 400"
is "$(curl -sS -o /dev/null -w '%{http_code}' "$URL")" 400 "a missing operation gets HTTP 400"
is "$(curl -sS -o /dev/null -w '%{http_code}' "http://127.0.0.1:$PORT/other?operation=GetCACaps")" 404 "another path gets 404"
is "$(curl -sS -o /dev/null -w '%{http_code}' -X DELETE "$URL?operation=GetCACaps")" 405 "DELETE gets 405"
is "$(curl -fsS "http://127.0.0.1:$PORT/cgi-bin/pkiclient.exe?operation=GetCACaps" | head -n 1)" POSTPKIOperation \
	"/cgi-bin/pkiclient.exe answers SCEP"
is "$(curl -fsS "$URL/some/suffix?operation=GetCACaps" | head -n 1)" POSTPKIOperation "a suffix under /scep answers SCEP"
is "$(curl -fsS "http://127.0.0.1:$PORT/healthz")" ok "/healthz answers ok"
t_stop

# Single DES with allow_single_des off (the production default): badAlg.
t_config "allow_single_des = false"
t_start
C=$T/des
t_scepclient "$C" -challenge "$CHALLENGE" -cn single-des && rc=0 || rc=$?
ok "$([[ $rc -ne 0 && ! -s $C/cert.pem ]]; echo $?)" "a single-DES request gets no certificate when allow_single_des is off"
like "$(cat "$C/out.log")" "badAlg" "scepclient reports failInfo badAlg"
expect_event single_des badAlg "single DES"
t_stop
is "$(q "select count(*) from event where outcome = 'failure'")" 6 "every refused PKIOperation left exactly one event row (413s are refused before the codec and only logged)"
done_testing
