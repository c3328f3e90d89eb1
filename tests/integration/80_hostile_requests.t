#!/usr/bin/env bash
# Hostile requests against a running server (issue 7, item 2): a truncated
# message, a signature over other content, a signer certificate that is not
# the signing key's, an envelope for another recipient, a CSR asking for
# CA:TRUE and a foreign extendedKeyUsage, a 512-bit key, an oversized body, a
# huge declared Content-Length, invalid base64, 1,000 idle connections held
# open while another client enrolls, and a sender trickling its body one byte
# at a time. Each gets its answer (HTTP status, failInfo), an event row or a
# log line an operator would find, and no certificate row; the server stays up.
source "$(dirname "$0")/lib.sh"

# 1,000 idle connections need more than the usual 1,024 descriptors in the
# server (plus its database connections) and in the client holding them.
hard_fds=$(ulimit -Hn)
want_fds=4096
[[ $hard_fds == unlimited ]] || ((hard_fds >= want_fds)) || want_fds=$hard_fds
[[ $(ulimit -n) != unlimited ]] && (($(ulimit -n) >= want_fds)) || ulimit -n "$want_fds" 2>/dev/null || true
CAN_HOLD=1
[[ $(ulimit -n) == unlimited ]] || (($(ulimit -n) >= 2200)) || CAN_HOLD=""

t_setup hostile
IDLE=1000
IDLE_TIMEOUT=12
t_config "max_connections = 1100" "idle_timeout_seconds = $IDLE_TIMEOUT" "body_timeout_seconds = 3" "workers = 2"
t_start
curl -fsS -o "$T/cacert.der" "$URL?operation=GetCACert"

# A small raw-socket client: what curl will not send.
cat >"$T/net.py" <<'PY'
import selectors, socket, sys, time

def connect(port):
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    return s

def read_reply(s, limit):
    """The first line of whatever the server answers within limit seconds
    ('closed' for an end of stream without an answer, 'timeout' for none)."""
    s.settimeout(limit)
    data = b""
    try:
        while b"\r\n" not in data:
            chunk = s.recv(4096)
            if not chunk:
                break
            data += chunk
    except socket.timeout:
        return "timeout"
    except ConnectionResetError:
        return "closed"
    if not data:
        return "closed"
    return data.split(b"\r\n", 1)[0].decode("latin-1")

def cmd_send(port, path, headers):
    # send PORT PATH 'Header: value' ...: a POST with these headers and no body.
    s = connect(port)
    t0 = time.monotonic()
    req = "POST %s HTTP/1.1\r\nHost: 127.0.0.1\r\n%s\r\n" % (path, "".join(h + "\r\n" for h in headers))
    s.sendall(req.encode())
    line = read_reply(s, 10)
    print("reply=%s" % line)
    print("seconds=%.1f" % (time.monotonic() - t0))

def cmd_trickle(port, path, length, interval, limit):
    # A body of `length` bytes, declared, sent one byte every `interval` s.
    s = connect(port)
    s.sendall(("POST %s HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: %d\r\n\r\n" % (path, length)).encode())
    t0 = time.monotonic()
    sent = 0
    outcome = "not cut"
    while time.monotonic() - t0 < limit and sent < length:
        try:
            s.send(b"0")
            sent += 1
        except (BrokenPipeError, ConnectionResetError):
            outcome = "closed"
            break
        s.settimeout(interval)
        try:
            chunk = s.recv(4096)
            outcome = "closed" if not chunk else "answered " + chunk.split(b"\r\n", 1)[0].decode("latin-1")
            break
        except socket.timeout:
            pass
        except ConnectionResetError:
            outcome = "closed"
            break
    print("outcome=%s" % outcome)
    print("seconds=%.1f" % (time.monotonic() - t0))
    print("bytes=%d" % sent)

def cmd_hold(port, n, status, limit):
    # Opens n connections that never send a byte, reports "opened N", then
    # how many the server closed and when, until all are closed or limit s.
    socks = []
    for _ in range(n):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.connect(("127.0.0.1", port))
        socks.append(s)
    t0 = time.monotonic()
    with open(status, "w") as f:
        f.write("opened %d\n" % len(socks))
    sel = selectors.DefaultSelector()
    for s in socks:
        sel.register(s, selectors.EVENT_READ)
    closed, data = 0, 0
    while closed < n and time.monotonic() - t0 < limit:
        for key, _ in sel.select(timeout=0.5):
            try:
                chunk = key.fileobj.recv(4096)
            except ConnectionResetError:
                chunk = b""
            if chunk:
                data += 1
            sel.unregister(key.fileobj)
            key.fileobj.close()
            closed += 1
    with open(status, "a") as f:
        f.write("closed %d answered %d seconds %.0f\n" % (closed, data, time.monotonic() - t0))

cmd = sys.argv[1]
if cmd == "send":
    cmd_send(int(sys.argv[2]), sys.argv[3], sys.argv[4:])
elif cmd == "trickle":
    cmd_trickle(int(sys.argv[2]), sys.argv[3], int(sys.argv[4]), float(sys.argv[5]), float(sys.argv[6]))
elif cmd == "hold":
    cmd_hold(int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], float(sys.argv[5]))
PY

certs() { q "select count(*) from certificate"; }
events() { q "select count(*) from event"; }
# expect_event WHAT ERROR FAILINFO: the newest event row is this refusal.
expect_event() {
	is "$(q "select error || '/' || coalesce(fail_info, '-') || '/' || outcome from event order by id desc limit 1")" \
		"$2/$3/failure" "$1: the event row names $2 (${3})"
}
# expect_log WHAT REGEX: a log line an operator would grep for.
expect_log() {
	if grep -Eq "$2" "$T/server.log"; then ok 0 "$1: the log says so ($2)"; else
		ok 1 "$1: the log says so ($2)"
		tail -n 20 "$T/server.log" | sed 's/^/# /'
	fi
}
# post NAME: POSTs $T/NAME.req, leaves $T/NAME.rep and sets STATUS.
post() {
	STATUS=$(curl -sS -o "$T/$1.rep" -w '%{http_code}' --data-binary @"$T/$1.req" \
		-H 'Content-Type: application/x-pki-message' "$URL?operation=PKIOperation")
}
# failinfo NAME: pki_status/fail_info of the CertRep in $T/NAME.rep, its
# signature checked against the RA.
failinfo() {
	"$SCEP_REQ" parse --reply "$T/$1.rep" --cacert "$T/cacert.der" --key "$T/$1.key" >"$T/$1.parsed" || true
	printf '%s/%s/%s' "$(sed -n 's/^signature_ok=//p' "$T/$1.parsed")" "$(sed -n 's/^pki_status=//p' "$T/$1.parsed")" \
		"$(sed -n 's/^fail_info=//p' "$T/$1.parsed")"
}

certs0=$(certs)
is "$certs0" 0 "no certificate row to begin with"

# 1. A truncated message: bytes that are no pkiMessage, HTTP 400.
"$SCEP_REQ" build --cacert "$T/cacert.der" --key "$T/trunc.key" --challenge "$CHALLENGE" --cn "$(udid_for trunc)" \
	--out "$T/full.req" >/dev/null
head -c $(($(stat -c %s "$T/full.req") * 2 / 3)) "$T/full.req" >"$T/trunc.req"
post trunc
is "$STATUS" 400 "a truncated pkiMessage gets HTTP 400"
expect_event "truncated message" message_decode -

# 2. A signature over other content (the envelope is swapped after signing).
"$SCEP_REQ" build --cacert "$T/cacert.der" --key "$T/other.key" --challenge "$CHALLENGE" --cn "$(udid_for other)" \
	--corrupt content --out "$T/other.req" >/dev/null
post other
is "$STATUS/$(failinfo other)" "200/1/2/1" "a signature over other content: a signed FAILURE, badMessageCheck"
expect_event "signature over other content" bad_signature badMessageCheck

# 3. A signer certificate that is not the signing key's.
openssl req -x509 -newkey rsa:2048 -nodes -keyout "$T/stranger.key" -subj "/CN=$(udid_for mismatch)" -days 1 \
	-out "$T/stranger.pem" 2>/dev/null
"$SCEP_REQ" build --cacert "$T/cacert.der" --key "$T/mismatch.key" --challenge "$CHALLENGE" \
	--cn "$(udid_for mismatch)" --signer-cert "$T/stranger.pem" --out "$T/mismatch.req" >/dev/null
post mismatch
is "$STATUS/$(failinfo mismatch)" "200/1/2/1" "a signer certificate of another key: a signed FAILURE, badMessageCheck"
expect_event "mismatched signer certificate" bad_signature badMessageCheck

# 4. An envelope for another recipient: encrypted to a certificate that is
# neither the RA nor the CA.
"$SCEP_REQ" build --cacert "$T/stranger.pem" --key "$T/recipient.key" --challenge "$CHALLENGE" \
	--cn "$(udid_for recipient)" --out "$T/recipient.req" >/dev/null
post recipient
is "$STATUS/$(failinfo recipient)" "200/1/2/1" "an envelope for another recipient: a signed FAILURE, badMessageCheck"
expect_event "envelope for another recipient" decrypt badMessageCheck
like "$(sed -n 's/^fail_info_text=//p' "$T/recipient.parsed")" "could not be decrypted" "... failInfoText says it could not be decrypted"

# 5. A 512-bit key.
"$SCEP_REQ" build --cacert "$T/cacert.der" --key "$T/small.key" --key-bits 512 --challenge "$CHALLENGE" \
	--cn "$(udid_for small)" --out "$T/small.req" >/dev/null
post small
is "$STATUS/$(failinfo small)" "200/1/2/2" "a 512-bit key: a signed FAILURE, badRequest"
expect_event "512-bit key" key_too_small badRequest

# 6. Invalid base64 in a GET PKIOperation.
STATUS=$(curl -sS -o "$T/b64.out" -w '%{http_code}' "$URL?operation=PKIOperation&message=%25%25%25not-base64%7E%7E")
is "$STATUS" 400 "GET PKIOperation with invalid base64 gets HTTP 400"
expect_event "invalid base64" bad_base64 -

# 7. An oversized body: 413, before it is read.
events_before=$(events)
head -c 70000 /dev/zero >"$T/big.req"
post big
is "$STATUS" 413 "a body over max_body_bytes gets HTTP 413"
# 8. A huge declared Content-Length, and no body: 413 at once, nothing is
# allocated or waited for.
out=$(python3 "$T/net.py" send "$PORT" "/scep?operation=PKIOperation" "Content-Length: 1099511627776")
is "$(sed -n 's/^reply=//p' <<<"$out")" "HTTP/1.1 413 Content Too Large" "a declared Content-Length of 1 TiB gets HTTP 413"
ok "$(awk -F= '/^seconds=/ { exit !($2 < 2) }' <<<"$out"; echo $?)" "... at once, without waiting for the body"
out=$(python3 "$T/net.py" send "$PORT" "/scep?operation=PKIOperation" "Content-Length: 999999999999999999999999999")
like "$(sed -n 's/^reply=//p' <<<"$out")" "^HTTP/1.1 413 " "a Content-Length past 2^64 gets HTTP 413 (from libmicrohttpd itself)"
is "$(events)" "$events_before" "the refusals before the body left no event row (they are logged)"
expect_log "oversized bodies" "event=http outcome=failure error=body_too_large .*path=\"/scep\""
is "$(grep -c 'error=body_too_large' "$T/server.log")" 2 "... one log line for each of the two mdmid refused"
expect_log "a Content-Length past 2^64" "level=warn event=httpd msg=\"Too large value of 'Content-Length' header"

is "$(certs)" "$certs0" "none of these eight refusals created a certificate row"

# 9. A CSR asking for basicConstraints CA:TRUE, keyCertSign and foreign
# extended key usages: issued under mdmid's own extensions only.
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$T/greedy.key" 2>/dev/null
openssl req -new -key "$T/greedy.key" -out "$T/greedy.csr" \
	-addext "basicConstraints=critical,CA:TRUE,pathlen:3" \
	-addext "keyUsage=critical,keyCertSign,cRLSign,digitalSignature" \
	-addext "extendedKeyUsage=codeSigning,serverAuth,OCSPSigning,1.3.6.1.4.1.311.20.2.2" \
	-addext "nameConstraints=permitted;DNS:example.com" \
	-config <(printf '[req]\nprompt=no\ndistinguished_name=dn\nattributes=attrs\n[dn]\nCN=%s\n[attrs]\nchallengePassword=%s\n' \
		"$(udid_for greedy)" "$CHALLENGE")
like "$(openssl req -in "$T/greedy.csr" -noout -text)" "CA:TRUE" "the greedy CSR really asks for CA:TRUE"
"$SCEP_REQ" build --cacert "$T/cacert.der" --key "$T/greedy.key" --csr "$T/greedy.csr" --out "$T/greedy.req" \
	--out-signer "$T/greedy.self" >/dev/null
post greedy
"$SCEP_REQ" parse --reply "$T/greedy.rep" --cacert "$T/cacert.der" --key "$T/greedy.key" --signer-cert "$T/greedy.self" \
	--out-cert "$T/greedy.pem" >"$T/greedy.parsed"
is "$STATUS/$(sed -n 's/^pki_status=//p' "$T/greedy.parsed")" "200/0" "the greedy CSR is issued (the policy overrides what it asks)"
text=$(openssl x509 -in "$T/greedy.pem" -noout -text)
like "$text" "X509v3 Basic Constraints: critical"$'\n'" *CA:FALSE" "... with basicConstraints CA:FALSE"
ok "$([[ $text != *CA:TRUE* && $text != *pathlen* ]]; echo $?)" "... and no CA:TRUE or pathlen"
like "$text" "X509v3 Extended Key Usage: *"$'\n'" *TLS Web Client Authentication"$'\n' "... extendedKeyUsage clientAuth alone"
ok "$([[ $text != *"Code Signing"* && $text != *"Server Authentication"* && $text != *"OCSP Signing"* && \
	$text != *"1.3.6.1.4.1.311.20.2.2"* && $text != *"Microsoft Smartcard"* ]]; echo $?)" "... none of the foreign usages"
like "$text" "X509v3 Key Usage: critical"$'\n'" *Digital Signature, Key Encipherment"$'\n' \
	"... keyUsage digitalSignature, keyEncipherment"
ok "$([[ $text != *"Certificate Sign"* && $text != *"CRL Sign"* && $text != *"Name Constraints"* ]]; echo $?)" \
	"... no keyCertSign, cRLSign or nameConstraints"
ok "$(openssl verify -CAfile "$T/ca/ca.pem" -partial_chain -purpose sslclient "$T/greedy.pem" >/dev/null 2>&1; echo $?)" \
	"... it verifies as a client certificate"
ok "$(openssl x509 -in "$T/greedy.pem" -noout -ext basicConstraints,extendedKeyUsage,keyUsage >/dev/null 2>&1; echo $?)" \
	"... (openssl reads its extensions)"
is "$(certs)" 1 "only the greedy CSR has a certificate row"

# 10. 1,000 idle connections, held open: every one accepted, while another
# client still gets GetCACert and a whole enrollment; the idle timeout then
# closes them all.
if [[ -n $CAN_HOLD ]]; then
	fds() { find "/proc/$SERVER_PID/fd" -lname 'socket:*' 2>/dev/null | wc -l; }
	# The enrollment below is built first: its key generation must not eat
	# into the idle timeout, whose clock starts when the connections open.
	"$SCEP_REQ" build --cacert "$T/cacert.der" --key "$T/busy.key" --challenge "$CHALLENGE" --cn "$(udid_for busy)" \
		--out "$T/busy.req" --out-signer "$T/busy.self" >/dev/null
	fds0=$(fds)
	t0=$SECONDS
	python3 "$T/net.py" hold "$PORT" "$IDLE" "$T/hold.status" $((IDLE_TIMEOUT * 4)) &
	HOLD_PID=$!
	for ((i = 0; i < 200; i++)); do
		[[ -s "$T/hold.status" ]] && break
		sleep 0.1
	done
	is "$(head -n 1 "$T/hold.status")" "opened $IDLE" "the client opened $IDLE connections"
	# They are in the listen backlog until accepted: count the server's sockets.
	for ((i = 0; i < 50; i++)); do
		accepted=$(($(fds) - fds0))
		((accepted >= IDLE)) && break
		sleep 0.1
	done
	ok "$( ((accepted >= IDLE)); echo $?)" "the server accepted all $IDLE ($accepted new sockets in /proc/<pid>/fd)"
	est=$(ss -Htn state established "( sport = :$PORT )" | wc -l)
	ok "$( ((est >= IDLE)); echo $?)" "ss counts $est established connections on the port"
	STATUS=$(curl -sS -m 10 -o "$T/idle-ca.der" -w '%{http_code}' "$URL?operation=GetCACert")
	ok "$([[ $STATUS == 200 ]] && cmp -s "$T/idle-ca.der" "$T/cacert.der"; echo $?)" "meanwhile GetCACert is answered"
	STATUS=$(curl -sS -m 10 -o "$T/busy.rep" -w '%{http_code}' --data-binary @"$T/busy.req" "$URL?operation=PKIOperation")
	"$SCEP_REQ" parse --reply "$T/busy.rep" --cacert "$T/cacert.der" --key "$T/busy.key" --signer-cert "$T/busy.self" \
		--out-cert "$T/busy.pem" >"$T/busy.parsed" || true
	is "$STATUS/$(sed -n 's/^pki_status=//p' "$T/busy.parsed")" "200/0" "... and a whole enrollment succeeds"
	# Only meaningful while the idle timeout cannot have passed yet (a slow
	# build may take longer to get here: then the answers above are the test).
	still=$(ss -Htn state established "( sport = :$PORT )" | wc -l)
	if ((SECONDS - t0 < IDLE_TIMEOUT - 1)); then
		ok "$( ((still >= IDLE)); echo $?)" "... and all $IDLE idle connections were still open then ($still)"
	else
		_t_n=$((_t_n + 1))
		echo "ok $_t_n # SKIP $((SECONDS - t0)) s since the connections opened, near the idle timeout ($IDLE_TIMEOUT s)"
	fi
	wait "$HOLD_PID" || true
	read -r _ closed _ answered _ secs < <(sed -n 2p "$T/hold.status")
	is "$closed/$answered" "$IDLE/0" "the idle timeout closed every idle connection, without an answer"
	ok "$( ((secs >= IDLE_TIMEOUT - 2 && secs <= IDLE_TIMEOUT * 3)); echo $?)" \
		"... after about idle_timeout_seconds ($secs s, configured $IDLE_TIMEOUT s)"
	is "$(certs)" 2 "the idle connections created no certificate row (the one enrollment did)"
else
	# TAP skip: the descriptors are not there to be had.
	_t_n=$((_t_n + 1))
	echo "ok $_t_n # SKIP 1,000 idle connections need ulimit -n >= 2200 (hard limit $hard_fds)"
	"$SCEP_REQ" build --cacert "$T/cacert.der" --key "$T/busy.key" --challenge "$CHALLENGE" --cn "$(udid_for busy)" \
		--out "$T/busy.req" >/dev/null
	curl -fsS -o /dev/null --data-binary @"$T/busy.req" "$URL?operation=PKIOperation"
fi

# 11. A sender trickling its body one byte every 0.5 s: cut when the 3 s
# whole-body deadline passes, although it is never idle.
out=$(python3 "$T/net.py" trickle "$PORT" "/scep?operation=PKIOperation" 2000 0.5 20)
is "$(sed -n 's/^outcome=//p' <<<"$out")" closed "a body trickled one byte at a time is cut (the connection is closed)"
secs=$(sed -n 's/^seconds=//p' <<<"$out")
ok "$(awk -v s="$secs" -v k="$T_SCALE" 'BEGIN { exit !(s >= 3 && s < 3 + 3 * k) }'; echo $?)" "... when the 3 s body deadline passes (after $secs s)"
expect_log "trickled body" "event=http outcome=failure error=body_timeout .*path=\"/scep\""

# After all of them: still up, still serving, no other certificate row.
is "$(curl -fsS "http://127.0.0.1:$PORT/healthz")" ok "the server is still up"
ok "$(kill -0 "$SERVER_PID"; echo $?)" "... the same process"
is "$(certs)" 2 "no refused request created a certificate row"
is "$(q "select count(*) from certificate c where exists (select 1 from event e where e.transaction_id = c.transaction_id and e.outcome = 'failure')")" 0 \
	"... and no certificate shares a transaction with a refusal"
is "$(q "select string_agg(error || ':' || count, ',' order by error) from refusals")" \
	"bad_base64:1,bad_signature:2,decrypt:1,key_too_small:1,message_decode:1" "the refusals view counts each refusal once"
t_stop
done_testing
