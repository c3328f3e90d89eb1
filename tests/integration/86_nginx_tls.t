#!/usr/bin/env bash
# The TLS front, deploy/nginx/mdmid.conf: Debian's nginx, run unprivileged on
# loopback with the template's ports and paths substituted by sed, terminates
# TLS (1.2 and 1.3 only) for the SCEP paths and, with client certificates, for
# the admin API. scepclient enrolls over https (trusting the test TLS CA
# through SSL_CERT_FILE) with a challenge minted through the admin server; a
# GET PKIOperation, the CRL and /healthz go through too. Without a client
# certificate, with one from another CA, on paths outside the template's
# locations and with bodies over the limits, nginx answers itself (400, 404,
# 413) and mdmid sees no request.
source "$(dirname "$0")/lib.sh"

NGINX=$(command -v nginx || true)
if [[ -z "$NGINX" && -x /usr/sbin/nginx ]]; then NGINX=/usr/sbin/nginx; fi
if [[ -z "$NGINX" ]]; then
	echo "1..0 # SKIP nginx is not installed (deploy/install-deps.sh installs nginx-light)"
	exit 0
fi

t_setup nginx_tls
t_config "challenge_mode = both" "allow_single_des = true" "log_level = debug" "trusted_proxies = 127.0.0.1"
t_start
TEMPLATE=$MDMID_ROOT/deploy/nginx/mdmid.conf
N=$T/nginx
mkdir -p "$N/tls" "$N/logs" "$N/tmp"

# nginx runs unprivileged: as root, as nobody (which must be able to reach $N).
as_nginx=()
if [[ $EUID -eq 0 ]]; then
	chmod 711 "$T"
	as_nginx=(setpriv --reuid=nobody --regid=nogroup --clear-groups --)
fi
NGINX_PID=""
nginx_stop() {
	if [[ -n "$NGINX_PID" ]] && kill -0 "$NGINX_PID" 2>/dev/null; then
		kill -TERM "$NGINX_PID" 2>/dev/null || true
		wait "$NGINX_PID" 2>/dev/null || true
	fi
	NGINX_PID=""
}
_t86_exit() {
	local rc=$?
	set +e # or (exit $rc) would end the handler before _t_cleanup
	nginx_stop
	(exit $rc)
	_t_cleanup
}
trap _t86_exit EXIT

# --- Certificates (EC P-256, quick): a TLS CA and the server's certificate with
# IP SAN 127.0.0.1; the admin clients' CA and a client certificate; a client
# certificate from a CA nginx does not know.
newkey() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1" 2>/dev/null; }
mkca() { # mkca NAME CN
	newkey "$N/tls/$1.key"
	openssl req -x509 -new -key "$N/tls/$1.key" -out "$N/tls/$1.pem" -days 2 -subj "/CN=$2" 2>/dev/null
}
mkcert() { # mkcert NAME CA CN EXTENSIONS
	newkey "$N/tls/$1.key"
	openssl req -new -key "$N/tls/$1.key" -subj "/CN=$3" -out "$N/tls/$1.csr" 2>/dev/null
	printf '%b' "$4" >"$N/tls/$1.ext"
	openssl x509 -req -in "$N/tls/$1.csr" -CA "$N/tls/$2.pem" -CAkey "$N/tls/$2.key" -CAcreateserial \
		-days 2 -extfile "$N/tls/$1.ext" -out "$N/tls/$1.pem" 2>/dev/null
}
mkca tls-ca "mdmid test TLS CA"
mkcert server tls-ca 127.0.0.1 'basicConstraints=CA:FALSE\nsubjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n'
mkca admin-ca "mdmid test admin clients CA"
mkcert client admin-ca "mdm-server" 'basicConstraints=CA:FALSE\nextendedKeyUsage=clientAuth\n'
mkca rogue-ca "some other CA"
mkcert rogue rogue-ca "mdm-server" 'basicConstraints=CA:FALSE\nextendedKeyUsage=clientAuth\n'
ok_cmd "the test server certificate has the IP SAN 127.0.0.1 and chains to the TLS CA" \
	bash -c "openssl verify -CAfile '$N/tls/tls-ca.pem' -verify_ip 127.0.0.1 '$N/tls/server.pem'"
cat "$N/tls/server.pem" >"$N/tls/scep-server.pem"
cp "$N/tls/server.key" "$N/tls/scep-server.key"
cp "$N/tls/server.pem" "$N/tls/admin-server.pem"
cp "$N/tls/server.key" "$N/tls/admin-server.key"
cp "$N/tls/admin-ca.pem" "$N/tls/admin-clients-ca.pem"
if [[ $EUID -eq 0 ]]; then chown -R nobody:nogroup "$N"; fi
chmod 600 "$N"/tls/*.key

# --- The configuration: the template with this test's ports and paths.
free_ports() {
	python3 -c 'import socket
s = [socket.socket() for _ in range(2)]
for x in s: x.bind(("127.0.0.1", 0))
print(*[x.getsockname()[1] for x in s])'
}
gen_config() { # gen_config SCEP_PORT ADMIN_PORT
	sed -e "s|^\(\s*\)listen 443 ssl;|\1listen 127.0.0.1:$1 ssl;|" \
		-e "s|^\(\s*\)listen 8443 ssl;|\1listen 127.0.0.1:$2 ssl;|" \
		-e '/^\s*listen \[::\]:/d' \
		-e "s|server 127\.0\.0\.1:8080;|server 127.0.0.1:$PORT;|" \
		-e "s|server 127\.0\.0\.1:8081;|server 127.0.0.1:$ADMIN_PORT;|" \
		-e "s|/etc/nginx/mdmid/|$N/tls/|g" \
		-e "s|/var/log/nginx/|$N/logs/|g" \
		"$TEMPLATE" >"$N/mdmid.conf"
	cat >"$N/nginx.conf" <<EOF
worker_processes 1;
pid $N/nginx.pid;
error_log $N/logs/error.log info;
events { worker_connections 128; }
http {
	client_body_temp_path $N/tmp/body;
	proxy_temp_path $N/tmp/proxy;
	fastcgi_temp_path $N/tmp/fastcgi;
	uwsgi_temp_path $N/tmp/uwsgi;
	scgi_temp_path $N/tmp/scgi;
	access_log $N/logs/access.log;
	include $N/mdmid.conf;
}
EOF
	if [[ $EUID -eq 0 ]]; then chown nobody:nogroup "$N/mdmid.conf" "$N/nginx.conf"; fi
}
read -r SP AP < <(free_ports)
gen_config "$SP" "$AP"
left=$(grep -v '^\s*#' "$N/mdmid.conf" | grep -nE '/etc/nginx|/var/log|listen (443|8443|\[::\])|:808[01];' || true)
is "$left" "" "sed replaced every port and path of the template"
"${as_nginx[@]}" "$NGINX" -t -p "$N" -c "$N/nginx.conf" >"$N/t.out" 2>&1 && rc=0 || rc=$?
is "$rc" 0 "nginx -t passes on the generated configuration"
like "$(cat "$N/t.out")" "syntax is ok.*test is successful" "... syntax is ok, test is successful"
if [[ $rc -ne 0 ]]; then sed 's/^/# /' "$N/t.out"; fi

# The template as an operator installs it: conf.d/ of Debian's own nginx.conf (which sets
# ssl_protocols and ssl_prefer_server_ciphers in http { }: the same directives in the
# template's http-level part would be refused as duplicates, or warned about and merged).
if [[ -r /etc/nginx/nginx.conf ]]; then
	sed -e '/^\s*user\s/d' -e "s|^pid .*|pid $N/stock.pid;|" -e "s|/var/log/nginx/|$N/logs/|g" \
		-e "s|include /etc/nginx/conf.d/\*.conf;|include $N/mdmid.conf;|" \
		-e '/include \/etc\/nginx\/sites-enabled/d' -e '/include \/etc\/nginx\/modules-enabled/d' \
		-e "s|^http {|http { client_body_temp_path $N/tmp/body; proxy_temp_path $N/tmp/proxy; fastcgi_temp_path $N/tmp/fastcgi; uwsgi_temp_path $N/tmp/uwsgi; scgi_temp_path $N/tmp/scgi;|" \
		/etc/nginx/nginx.conf >"$N/stock.conf"
	grep -q "include $N/mdmid.conf;" "$N/stock.conf" || diag "Debian's nginx.conf no longer includes conf.d/*.conf"
	"${as_nginx[@]}" "$NGINX" -t -p "$N" -c "$N/stock.conf" >"$N/stock.out" 2>&1 && rc=0 || rc=$?
	is "$rc" 0 "nginx -t passes with the template in conf.d/ of Debian's nginx.conf"
	is "$(grep -E '\[(warn|emerg)\]' "$N/stock.out" || true)" "" "... without a warning"
	if [[ $rc -ne 0 ]]; then sed 's/^/# /' "$N/stock.out"; fi
fi

# --- Start nginx (foreground master, in the background), retrying on a port taken meanwhile.
for _ in 1 2 3; do
	"${as_nginx[@]}" "$NGINX" -p "$N" -c "$N/nginx.conf" -g 'daemon off;' >>"$N/logs/stderr.log" 2>&1 &
	NGINX_PID=$!
	up=""
	for ((i = 0; i < 50 * T_SCALE; i++)); do
		if ! kill -0 "$NGINX_PID" 2>/dev/null; then break; fi
		if curl -s -o /dev/null --cacert "$N/tls/tls-ca.pem" "https://127.0.0.1:$SP/healthz"; then
			up=1
			break
		fi
		sleep 0.1
	done
	[[ -n "$up" ]] && break
	nginx_stop
	read -r SP AP < <(free_ports)
	gen_config "$SP" "$AP"
done
if [[ -z "$up" ]]; then
	echo "Bail out! nginx did not start"
	sed 's/^/# /' "$N/logs/stderr.log" "$N/logs/error.log" 2>/dev/null
	exit 1
fi
ok 0 "nginx started as $(ps -o user= -p "$NGINX_PID") on 127.0.0.1:$SP (SCEP) and :$AP (admin)"
S=https://127.0.0.1:$SP
A=https://127.0.0.1:$AP
TLS=(--cacert "$N/tls/tls-ca.pem")
CERT=(--cert "$N/tls/client.pem" --key "$N/tls/client.key")
# The last line of a log matching a pattern: nginx writes its access line
# after the response, so it may come a moment after the client returned.
last_line() {
	for ((i = 0; i < 40 * T_SCALE; i++)); do
		grep -q -- "$2" "$1" 2>/dev/null && break
		sleep 0.05
	done
	grep -- "$2" "$1" | tail -n 1
}
# Requests that reached mdmid: its access log lines (log_level = debug) and its refusals.
mdmid_seen() { grep -cE 'event=(http|admin) ' "$T/server.log" || true; }
# nginx_page FILE: the body is one of nginx's own error pages.
nginx_page() { grep -q '<center>nginx</center>' "$1"; }

# --- TLS: 1.2 and 1.3 only.
is "$(curl -sS "${TLS[@]}" "$S/healthz")" "ok" "GET /healthz over https reaches mdmid"
hs() { echo | timeout 10 openssl s_client -connect "127.0.0.1:$SP" -CAfile "$N/tls/tls-ca.pem" "$@" 2>&1 || true; }
like "$(hs -tls1_3 -brief)" "Protocol version: TLSv1.3" "TLS 1.3 is accepted"
like "$(hs -tls1_2 -brief)" "Protocol version: TLSv1.2" "TLS 1.2 is accepted"
like "$(hs -tls1_2 -brief)" "Ciphersuite: ECDHE-ECDSA-AES(128|256)-GCM-SHA(256|384)" "... with a forward-secret AEAD cipher"
out=$(hs -tls1_1 -cipher 'DEFAULT:@SECLEVEL=0' -brief)
ok "$(grep -q 'Protocol version' <<<"$out"; [[ $? -ne 0 ]]; echo $?)" "TLS 1.1 is refused"
ok "$(grep -q 'Protocol version' < <(hs -tls1 -cipher 'DEFAULT:@SECLEVEL=0' -brief); [[ $? -ne 0 ]]; echo $?)" "TLS 1.0 is refused"
is "$(curl -sS "${TLS[@]}" "$S/scep?operation=GetCACaps")" "$(curl -sS "$URL?operation=GetCACaps")" \
	"GetCACaps through nginx is mdmid's"

# --- The admin server: client certificates.
before=$(mdmid_seen)
code=$(curl -sS -o "$T/nocert.out" -w '%{http_code}' "${TLS[@]}" -X POST -H "Authorization: Bearer $ADMIN_TOKEN" \
	-d '{"udid": "00008030-001A2D8A3C02802E"}' "$A/v1/challenges")
is "$code" 400 "admin API without a client certificate: 400"
like "$(cat "$T/nocert.out")" "No required SSL certificate was sent" "... 'No required SSL certificate was sent'"
code=$(curl -sS -o "$T/rogue.out" -w '%{http_code}' "${TLS[@]}" --cert "$N/tls/rogue.pem" --key "$N/tls/rogue.key" \
	-X POST -H "Authorization: Bearer $ADMIN_TOKEN" -d '{"udid": "00008030-001A2D8A3C02802E"}' "$A/v1/challenges")
is "$code" 400 "a client certificate from another CA: 400 from nginx"
like "$(cat "$T/rogue.out")" "SSL certificate error" "... 'The SSL certificate error'"
is "$(curl -sS -o /dev/null -w '%{http_code}' "${TLS[@]}" "$A/readyz")" 400 "/readyz without a client certificate: 400"
is "$(mdmid_seen)" "$before" "none of these reached mdmid"
is "$(q "select count(*) from challenge")" 0 "... and no challenge was minted"

ADMIN_URL=$A
admin POST /v1/challenges "${TLS[@]}" "${CERT[@]}" -d '{"udid": "00008030-001A2D8A3C02802E"}'
is "$HTTP_STATUS" 201 "POST /v1/challenges with a client certificate and the token: 201"
SECRET=$(sed -n 's/.*"challenge":"\([^"]*\)".*/\1/p' <<<"$BODY")
like "$SECRET" '^[A-Za-z0-9_-]{32}$' "... and the challenge"
is "$(curl -sS -o /dev/null -w '%{http_code}' "${TLS[@]}" "${CERT[@]}" -X POST -d '{}' "$A/v1/challenges")" 401 \
	"with a client certificate but no token: 401 from mdmid (the token is still required)"
for p in /readyz /metrics; do
	code=$(curl -sS -o "$T/p.out" -w '%{http_code}' "${TLS[@]}" "${CERT[@]}" "$A$p")
	ok "$([[ $code != 400 ]] && ! nginx_page "$T/p.out"; echo $?)" "$p with a client certificate is answered by mdmid ($code)"
done
before=$(mdmid_seen)
code=$(curl -sS -o "$T/p.out" -w '%{http_code}' "${TLS[@]}" "${CERT[@]}" "$A/admin/other")
ok "$([[ $code == 404 ]] && nginx_page "$T/p.out"; echo $?)" "a path outside /v1/, /metrics, /readyz: 404 from nginx"
code=$(curl -sS -o "$T/p.out" -w '%{http_code}' "${TLS[@]}" "$S/v1/challenges")
ok "$([[ $code == 404 ]] && nginx_page "$T/p.out"; echo $?)" "/v1/ on the SCEP server: 404 from nginx"
code=$(curl -sS -o "$T/p.out" -w '%{http_code}' "${TLS[@]}" "$S/index.html")
ok "$([[ $code == 404 ]] && nginx_page "$T/p.out"; echo $?)" "a path outside the SCEP locations: 404 from nginx"
is "$(mdmid_seen)" "$before" "... mdmid saw none of them"

# --- Enrollment over https with the minted challenge.
URL=$S/scep
C=$T/client
export SSL_CERT_FILE=$N/tls/tls-ca.pem
ok_cmd "scepclient enrolls over https through nginx (SSL_CERT_FILE: the test TLS CA)" \
	t_scepclient "$C" -challenge "$SECRET" -cn "any name"
fp=$(openssl x509 -in "$C/cert.pem" -outform DER 2>/dev/null | sha256sum | cut -d' ' -f1)
serial=$(openssl x509 -in "$C/cert.pem" -noout -serial 2>/dev/null | cut -d= -f2 | tr 'A-F' 'a-f')
is "$(q "select udid || ' ' || method || ' ' || status from certificate where sha256 = '\\x$fp' and serial = '$serial'")" \
	"00008030-001A2D8A3C02802E scep issued" "its row in PostgreSQL: the UDID of the challenge, method scep, issued"
is "$(q "select count(*) from challenge where consumed_at is not null")" 1 "... and the challenge is consumed"
is "$(q "select requester_addr from certificate where serial = '$serial'")" 127.0.0.1 \
	"requester_addr is 127.0.0.1 (the client's, as nginx names it)"
ok_cmd "the certificate chains to mdmid's CA" openssl verify -CAfile "$T/ca/ca.pem" "$C/cert.pem"
like "$(last_line "$N/logs/mdmid-scep.log" 'POST /scep')" '^127\.0\.0\.1 .* 200 ' "nginx logged the PKIOperation POST with 200"
export SSL_CERT_FILE=/dev/null
t_scepclient "$T/untrusted" -challenge "$CHALLENGE" -cn "$(udid_for untrusted)" && rc=0 || rc=$?
ok "$([[ $rc -ne 0 && ! -s $T/untrusted/cert.pem ]]; echo $?)" "scepclient not trusting the TLS CA gets nothing"
like "$(cat "$T/untrusted/out.log")" "certificate" "... a certificate verification error"
unset SSL_CERT_FILE

# PKIOperation by GET (the pkiMessage in the query; a 4096-bit requester key).
curl -fsS "${TLS[@]}" -o "$T/cacert.der" "$S/scep?operation=GetCACert"
"$SCEP_REQ" build --cacert "$T/cacert.der" --key "$T/get.key" --key-bits 4096 --challenge "$CHALLENGE" \
	--cn "$(udid_for nginx-get)" --out "$T/get.der" --out-signer "$T/get.self" >/dev/null
msg=$(base64 -w0 "$T/get.der" | tr '+/' '-_' | tr -d '=')
code=$(curl -sS "${TLS[@]}" -o "$T/get.rep" -w '%{http_code}' "$S/cgi-bin/pkiclient.exe?operation=PKIOperation&message=$msg")
is "$code" 200 "a GET PKIOperation at /cgi-bin/pkiclient.exe (${#msg}-character query) goes through"
like "$("$SCEP_REQ" parse --reply "$T/get.rep" --cacert "$T/cacert.der" --key "$T/get.key" --signer-cert "$T/get.self")" \
	"pki_status=0" "... and gets SUCCESS"

# The CRL.
code=$(curl -sS "${TLS[@]}" -o "$T/crl.der" -w '%{http_code}' "$S/crl")
is "$code" 200 "GET /crl through nginx: 200"
ok_cmd "... a CRL signed by the CA" openssl crl -inform DER -in "$T/crl.der" -CAfile "$T/ca/ca.pem" -noout
ca_fp=$(openssl x509 -in "$T/ca/ca.pem" -outform DER | sha256sum | cut -d' ' -f1)
is "$(curl -sS "${TLS[@]}" -o /dev/null -w '%{http_code}' "$S/crl/$ca_fp")" 200 "GET /crl/<CA sha256>: 200"
is "$(curl -sS "${TLS[@]}" -o /dev/null -w '%{http_code}' -X POST -d x "$S/crl")" 403 "POST /crl: 403 from nginx"

# --- Body limits: nginx answers 413 above mdmid's own limits, and mdmid sees nothing.
head -c 65536 /dev/zero >"$T/64k"
head -c 65537 /dev/zero >"$T/64k+1"
head -c $((1024 * 1024 + 1)) /dev/zero >"$T/1m+1"
before=$(mdmid_seen)
events=$(q "select count(*) from event")
code=$(curl -sS "${TLS[@]}" -o "$T/413.out" -w '%{http_code}' --data-binary @"$T/64k+1" "$S/scep?operation=PKIOperation")
is "$code" 413 "a 65537-byte PKIOperation: 413 from nginx"
like "$(cat "$T/413.out")" "nginx" "... nginx's own page"
head -c 70000 /dev/zero >"$T/70k"
is "$(curl -sS "${TLS[@]}" -o /dev/null -w '%{http_code}' --data-binary @"$T/70k" "$S/cgi-bin/pkiclient.exe?operation=PKIOperation")" 413 \
	"a 70 KB PKIOperation at /cgi-bin/pkiclient.exe: 413"
code=$(curl -sS "${TLS[@]}" "${CERT[@]}" -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $ADMIN_TOKEN" \
	--data-binary @"$T/1m+1" "$A/v1/mdm-signature/verify")
is "$code" 413 "a 1 MiB + 1 byte admin body: 413 from nginx"
is "$(mdmid_seen)" "$before" "... mdmid saw none of them"
is "$(q "select count(*) from event")" "$events" "... and no event row"
code=$(curl -sS "${TLS[@]}" -o /dev/null -w '%{http_code}' --data-binary @"$T/64k" "$S/scep?operation=PKIOperation")
is "$code" 400 "exactly 65536 bytes pass nginx and get mdmid's answer to bytes that are no pkiMessage (400)"
is "$(mdmid_seen)" "$((before + 1))" "... having reached mdmid"

# --- The client address: nginx names the device in X-Forwarded-For (replacing
# whatever the device sent there), and mdmid believes that header from
# 127.0.0.1 only (trusted_proxies = 127.0.0.1).
if curl -sS "${TLS[@]}" --interface 127.0.0.2 -o /dev/null "$S/healthz?from=127.0.0.2" 2>/dev/null; then
	like "$(last_line "$N/logs/mdmid-scep.log" '^127[.]0[.]0[.]2 .*healthz')" '^127\.0\.0\.2 ' \
		"nginx's access log has the client's address (127.0.0.2)"
	like "$(grep 'path="/healthz' "$T/server.log" | tail -n 1)" 'peer=127\.0\.0\.2 ' \
		"... and so has mdmid's: X-Forwarded-For from the trusted proxy"
	"$SCEP_REQ" build --cacert "$T/cacert.der" --key "$T/xff.key" --challenge "$CHALLENGE" --cn "$(udid_for nginx-xff)" \
		--out "$T/xff.der" >/dev/null
	code=$(curl -sS "${TLS[@]}" --interface 127.0.0.2 -H 'X-Forwarded-For: 203.0.113.66' -o /dev/null -w '%{http_code}' \
		--data-binary @"$T/xff.der" "$S/scep?operation=PKIOperation")
	is "$code" 200 "an enrollment from 127.0.0.2 through nginx, with a forged X-Forwarded-For of its own"
	is "$(q "select requester_addr from certificate where udid = '$(udid_for nginx-xff)'")" 127.0.0.2 \
		"... its row's requester_addr is the device's address (nginx replaced the forged header)"
	is "$(q "select string_agg(distinct host(requester_addr), ',') from event where udid = '$(udid_for nginx-xff)'")" \
		127.0.0.2 "... and so is its event row's"
	curl -sS --interface 127.0.0.2 -H 'X-Forwarded-For: 203.0.113.66' -o /dev/null "http://127.0.0.1:$PORT/scep?operation=GetCACaps"
	like "$(grep 'event=http ' "$T/server.log" | tail -n 1)" 'method=GET path="/scep" .*peer=127\.0\.0\.2 ' \
		"straight to mdmid from 127.0.0.2, not a trusted proxy: its X-Forwarded-For is ignored"
fi

nginx_stop
ok "$(grep -qE '\[(alert|emerg|crit)\]' "$N/logs/error.log" "$N/logs/mdmid-error.log" 2>/dev/null; [[ $? -ne 0 ]]; echo $?)" \
	"nginx logged no alert, crit or emerg"
t_stop
done_testing
