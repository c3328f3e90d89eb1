#!/usr/bin/env bash
# Secrets and privileges (issue 7, item 5): challenges, passwords, tokens and
# keys never reach a log (mdmid's, the CLI's, PostgreSQL's with every
# statement and its parameters logged) nor the database, in plain, hex or
# base64; mdmid refuses private keys other users can read; the admin API
# refuses a missing or wrong token; and the database roles mdm_reader and
# auditor can do exactly what the migrations grant them, checked object by
# object from the catalog.
source "$(dirname "$0")/lib.sh"
t_setup secrets
CONF=$T/mdmid.conf
: >"$T/cli.log"
# cli ARGS...: runs mdmid with the test's configuration; its stderr (and its
# stdout, unless STDOUT_TO names a file) are collected as the CLI's log.
cli() {
	local out=${STDOUT_TO:-$T/cli.log}
	"$MDMID_BIN" "$@" >>"$out" 2>>"$T/cli.log"
}
rand() { head -c "$1" /dev/urandom | base64 -w0 | tr '+/' '-_' | tr -d '='; }

# Every statement on this database is logged with its parameters: a secret
# that reached PostgreSQL would be in its log.
q "alter database \"$DB\" set log_statement = 'all'"
q "alter database \"$DB\" set log_parameter_max_length = -1"
PG_LOG=$(q "select current_setting('data_directory')")/log
ok "$([[ -r $PG_LOG ]]; echo $?)" "the PostgreSQL log is readable ($PG_LOG)"
pg_log_start=$(($(stat -c %s "$PG_LOG") + 1))

# The CA, made again with a passphrase, under the loosest umask.
CA_PASS=$(rand 24)
printf '%s\n' "$CA_PASS" >"$T/ca-pass"
chmod 600 "$T/ca-pass"
(umask 000 && MDMID_CA_KEY_PASSPHRASE_FILE=$T/ca-pass "$MDMID_BIN" ca init --config /dev/null --dir "$T/ca" --force \
	--bits 2048 --subject "/CN=mdmid secrets CA") >>"$T/cli.log" 2>&1
is "$(stat -c %a "$T/ca/ca.key") $(stat -c %a "$T/ca/ra.key")" "600 600" "ca init writes ca.key and ra.key 0600, even under umask 000"
is "$(head -n 1 "$T/ca/ca.key") / $(head -n 1 "$T/ca/ra.key")" \
	"-----BEGIN ENCRYPTED PRIVATE KEY----- / -----BEGIN ENCRYPTED PRIVATE KEY-----" "... encrypted with the passphrase"

t_config "challenge_mode = both" "log_level = debug" "ca_key_passphrase_file = $T/ca-pass"
t_start
curl -fsS -o "$T/cacert.der" "$URL?operation=GetCACert"
U1=$(udid_for secrets-dynamic) U2=$(udid_for secrets-static) U3=$(udid_for secrets-admin) U4=$(udid_for secrets-profile)

# enroll NAME CHALLENGE CN: a PKCSReq by scep-req; sets PKI_STATUS.
enroll() {
	"$SCEP_REQ" build --cacert "$T/cacert.der" --key "$T/$1.key" --challenge "$2" --cn "$3" --out "$T/$1.req" \
		--out-signer "$T/$1.self" >/dev/null
	curl -sS --data-binary @"$T/$1.req" -o "$T/$1.rep" "$URL?operation=PKIOperation"
	PKI_STATUS=$("$SCEP_REQ" parse --reply "$T/$1.rep" --cacert "$T/cacert.der" --key "$T/$1.key" \
		--signer-cert "$T/$1.self" --out-cert "$T/$1.pem" | sed -n 's/^pki_status=//p')
}

# A dynamic challenge from the CLI (its stdout is the secret: kept apart).
DYN=$(STDOUT_TO=/dev/stdout cli challenge new --config "$CONF" --udid "$U1")
like "$DYN" '^[A-Za-z0-9_-]{32}$' "mdmid challenge new mints a challenge"
enroll dyn "$DYN" "$U1"
is "$PKI_STATUS" 0 "an enrollment with the dynamic challenge succeeds"
enroll static "$CHALLENGE" "$U2"
is "$PKI_STATUS" 0 "an enrollment with the static challenge succeeds"

# The admin API with the bearer token: a challenge and a profile (which
# carries another one).
admin POST /v1/challenges -d "{\"udid\": \"$U3\"}"
ADM=$(sed -n 's/.*"challenge":"\([^"]*\)".*/\1/p' <<<"$BODY")
is "$HTTP_STATUS/${#ADM}" 201/32 "the admin API mints a challenge with the token"
enroll adm "$ADM" "$U3"
is "$PKI_STATUS" 0 "an enrollment with the admin API's challenge succeeds"
admin GET "/v1/profiles/scep?udid=$U4"
cp "$T/admin.out" "$T/profile.mobileconfig"
PROF=$(python3 -c 'import plistlib, sys
p = plistlib.load(open(sys.argv[1], "rb"))
print([x for x in p["PayloadContent"] if x["PayloadType"] == "com.apple.security.scep"][0]["PayloadContent"]["Challenge"])' \
	"$T/profile.mobileconfig" 2>/dev/null || true)
is "$HTTP_STATUS/${#PROF}" 200/32 "the admin API writes a profile holding a fresh challenge"

# Wrong secrets are secrets too (a mistyped real one, say).
WRONG=$(rand 24)
enroll wrong "$WRONG" "$U2"
is "$PKI_STATUS" 2 "a wrong challenge is refused"

# The admin API without the right token: 401 before anything happens.
WRONG_TOKEN=$(rand 24)
challenges=$(q "select count(*) from challenge")
code() { curl -sS -o /dev/null -w '%{http_code}' "$@"; }
is "$(code -X POST -d "{\"udid\": \"$U3\"}" "$ADMIN_URL/v1/challenges")" 401 "admin API without a token: 401"
is "$(code -X POST -H "Authorization: Bearer $WRONG_TOKEN" -d "{\"udid\": \"$U3\"}" "$ADMIN_URL/v1/challenges")" 401 \
	"admin API with a wrong token: 401"
is "$(code -X POST -H "Authorization: Bearer ${ADMIN_TOKEN}x" -d "{\"udid\": \"$U3\"}" "$ADMIN_URL/v1/challenges")" 401 \
	"admin API with the token and one more character: 401"
is "$(code -X POST -H "Authorization: Bearer ${ADMIN_TOKEN:0:${#ADMIN_TOKEN}-1}" -d "{\"udid\": \"$U3\"}" "$ADMIN_URL/v1/challenges")" \
	401 "admin API with the token less its last character: 401"
is "$(code -X POST -H "Authorization: Basic $(printf 'admin:%s' "$ADMIN_TOKEN" | base64 -w0)" -d "{\"udid\": \"$U3\"}" \
	"$ADMIN_URL/v1/challenges")" 401 "admin API with the token as Basic credentials: 401"
is "$(code -X POST -d "{\"udid\": \"$U3\"}" "$ADMIN_URL/v1/challenges?access_token=$ADMIN_TOKEN")" 401 \
	"admin API with the token in the query string: 401"
is "$(code -H "Authorization: Bearer $WRONG_TOKEN" "$ADMIN_URL/v1/requests")" 401 "GET /v1/requests with a wrong token: 401"
is "$(code -H "Authorization: Bearer $WRONG_TOKEN" "$ADMIN_URL/v1/profiles/scep?udid=$U4")" 401 \
	"GET /v1/profiles/scep with a wrong token: 401"
serial=$(openssl x509 -in "$T/dyn.pem" -noout -serial | cut -d= -f2 | tr 'A-F' 'a-f')
is "$(code -X POST -H "Authorization: Bearer $WRONG_TOKEN" -d "{\"serial\": \"$serial\"}" "$ADMIN_URL/v1/revoke")" 401 \
	"POST /v1/revoke with a wrong token: 401"
is "$(q "select count(*) from challenge")/$(q "select status from certificate where serial = '$serial'")" "$challenges/issued" \
	"... and none of them minted a challenge or revoked anything"
is "$(grep -c 'event=admin outcome=failure error=unauthorized' "$T/server.log")" 9 "each refused admin call left a log line"

# PKCS#12 export: the passwords it generates are in manifest.csv only.
printf 'udid\n%s\n%s\n' "$(udid_for p12-one)" "$(udid_for p12-two)" >"$T/udids.csv"
rc=0
cli p12 export --config "$CONF" --udids "$T/udids.csv" --out "$T/p12" || rc=$?
is "$rc" 0 "mdmid p12 export exports two devices"
mapfile -t P12_PASS < <(awk -F, 'NR > 1 { print $6 }' "$T/p12/manifest.csv")
is "${#P12_PASS[@]}" 2 "manifest.csv holds a password for each"
# Other commands that load the passphrase-protected CA key.
cli crl --config "$CONF" --out "$T/crl.der" && rc=0 || rc=$?
is "$rc" 0 "mdmid crl signs with the passphrase-protected CA key"
rc=0
cli check --config "$CONF" --udid "$U1" --cert "$T/dyn.pem" || rc=$?
is "$rc" 0 "mdmid check matches the dynamic enrollment"
t_stop

# --- the logs: not empty, and free of every secret ---------------------------
tail -c "+$pg_log_start" "$PG_LOG" >"$T/pg.log"
pg_dump --no-owner "$DB" >"$T/db.sql"
LOGS=("$T/server.log" "$T/cli.log" "$T/pg.log")
ok "$( (($(wc -l <"$T/server.log") >= 20)); echo $?)" "the server log is not empty ($(wc -l <"$T/server.log") lines)"
for want in "event=scep.pkcsreq outcome=success .*udid=$U1" "event=scep.pkcsreq outcome=success .*udid=$U2" \
	"event=challenge.mint outcome=success udid=$U3" "event=scep.pkcsreq outcome=failure error=challenge_(wrong|unknown)" \
	"level=debug event=http method=POST path=\"/v1/challenges\" status=201"; do
	ok "$(grep -Eq "$want" "$T/server.log"; echo $?)" "the server log records: $want"
done
ok "$( (($(wc -l <"$T/cli.log") >= 3)); echo $?)" "the CLI log is not empty ($(wc -l <"$T/cli.log") lines)"
ok "$(grep -q "challenge for $U1 expires at" "$T/cli.log"; echo $?)" "the CLI log records the minted challenge's UDID"
ok "$(grep -Eq "exported.*2|2 .*exported" "$T/cli.log"; echo $?)" "the CLI log records the PKCS#12 export"
ok "$(grep -q 'INSERT INTO certificate' "$T/pg.log" && grep -q 'DETAIL:  parameters: \$1 = ' "$T/pg.log"; echo $?)" \
	"the PostgreSQL log holds this test's statements and their parameters"
h=$(printf '%s' "$DYN" | sha256sum | cut -c1-64)
ok "$(grep -q "$h" "$T/db.sql" && grep -q "$h" "$T/pg.log"; echo $?)" \
	"positive control: the dynamic challenge's SHA-256 is found in the dump and the PostgreSQL log"

# forms VALUE: the value as a log could carry it: plain, hex (both cases),
# base64 and base64url without padding.
forms() {
	local hex b64
	hex=$(printf '%s' "$1" | od -An -v -tx1 | tr -d ' \n')
	b64=$(printf '%s' "$1" | base64 -w0 | tr -d '=')
	printf '%s\n' "$1" "$hex" "${hex^^}" "$b64" "$(tr '+/' '-_' <<<"$b64")"
}
# key_forms PEM [PASS]: a private key's secret part as a log could carry it:
# its private exponent (or EC scalar) in hex and base64, and lines from the
# middle of its unencrypted PKCS#8 PEM. Nothing when it cannot be read (then
# no_leak fails: it needs forms to look for).
key_forms() {
	local pass=() text hex
	[[ $# -lt 2 ]] || pass=(-passin "pass:$2")
	text=$(openssl pkey -in "$1" "${pass[@]}" -noout -text 2>/dev/null) || return 0
	hex=$(awk '/^(privateExponent|priv):/ { on = 1; next } on && /^[a-zA-Z]/ { exit } on { gsub(/[ :]/, ""); printf "%s", $0 }' \
		<<<"$text" | sed 's/^00//' | cut -c1-64)
	[[ ${#hex} -eq 64 ]] || return 0
	printf '%s\n' "$hex" "${hex^^}"
	printf '%b' "$(sed 's/../\\x&/g' <<<"$hex")" | base64 -w0 | tr -d '='
	echo
	openssl pkey -in "$1" "${pass[@]}" | sed -n '9,13p'
}
# no_leak NAME WHERE FILE... <FORMS: none of the forms (one per line) is in
# any FILE. Not in a pipeline: ok must count in this shell.
no_leak() {
	local name=$1 where=$2 form hits="" n=0
	shift 2
	while IFS= read -r form; do
		[[ -n $form ]] || continue
		n=$((n + 1))
		hits+=$({ grep -F -l -e "$form" "$@" 2>/dev/null || true; } | sed "s|^|${form:0:12}...@|" | tr '\n' ' ')
	done
	if [[ -z $hits && $n -ge 5 ]]; then ok 0 "$name appears in no $where (plain, hex, base64)"; else
		ok 1 "$name appears in no $where (plain, hex, base64)"
		diag "forms looked for: $n; found: $hits"
	fi
}
no_leak "the static challenge" log "${LOGS[@]}" < <(forms "$CHALLENGE")
no_leak "the CLI's dynamic challenge" log "${LOGS[@]}" < <(forms "$DYN")
no_leak "the admin API's challenge" log "${LOGS[@]}" < <(forms "$ADM")
no_leak "the profile's challenge" log "${LOGS[@]}" < <(forms "$PROF")
no_leak "a wrong challenge" log "${LOGS[@]}" < <(forms "$WRONG")
no_leak "the admin token" log "${LOGS[@]}" < <(forms "$ADMIN_TOKEN")
no_leak "a wrong admin token" log "${LOGS[@]}" < <(forms "$WRONG_TOKEN")
no_leak "the CA key passphrase" log "${LOGS[@]}" < <(forms "$CA_PASS")
no_leak "the first PKCS#12 password" log "${LOGS[@]}" < <(forms "${P12_PASS[0]}")
no_leak "the second PKCS#12 password" log "${LOGS[@]}" < <(forms "${P12_PASS[1]}")
no_leak "the CA private key" log "${LOGS[@]}" < <(key_forms "$T/ca/ca.key" "$CA_PASS")
no_leak "the RA private key" log "${LOGS[@]}" < <(key_forms "$T/ca/ra.key" "$CA_PASS")
no_leak "a device's private key" log "${LOGS[@]}" < <(key_forms "$T/dyn.key")
i=0
for f in "$T"/p12/*.p12; do
	openssl pkcs12 -legacy -in "$f" -passin "pass:$(awk -F, -v f="$(basename "$f")" '$2 == f { print $6 }' "$T/p12/manifest.csv")" \
		-nocerts -nodes -out "$T/p12key$i.pem" 2>/dev/null || true
	no_leak "the private key of $(basename "$f")" log "${LOGS[@]}" < <(key_forms "$T/p12key$i.pem")
	i=$((i + 1))
done
# ... nor the database (pg_dump prints bytea in hex).
no_leak "any challenge, token, password or key" "database dump" "$T/db.sql" < <(
	for s in "$CHALLENGE" "$DYN" "$ADM" "$PROF" "$WRONG" "$ADMIN_TOKEN" "$CA_PASS" "${P12_PASS[@]}"; do forms "$s"; done
	key_forms "$T/ca/ca.key" "$CA_PASS"
	key_forms "$T/ca/ra.key" "$CA_PASS"
	key_forms "$T/dyn.key"
	key_forms "$T/p12key0.pem"
	key_forms "$T/p12key1.pem"
)

# --- private keys other users can read are refused ---------------------------
for key in ca.key ra.key; do
	for mode in 0640 0644; do
		chmod "$mode" "$T/ca/$key"
		rc=0
		timeout 30 "$MDMID_BIN" serve --config "$CONF" >"$T/refused.log" 2>&1 || rc=$?
		chmod 0600 "$T/ca/$key"
		ok "$([[ $rc -ne 0 && $rc -ne 124 ]]; echo $?)" "serve refuses to start with $key mode $mode (exit $rc)"
		like "$(cat "$T/refused.log")" "$T/ca/$key: the private key is accessible by group or others \\(mode $mode\\).*chmod 600" \
			"... and says which file, its mode and the fix"
	done
done
chmod 0400 "$T/ca/ca.key" "$T/ca/ra.key"
t_start
is "$(curl -fsS "http://127.0.0.1:$PORT/healthz")" ok "read-only keys (0400) are accepted"
t_stop
chmod 0600 "$T/ca/ca.key" "$T/ca/ra.key"

# --- the database roles: exactly what the migrations grant -------------------
READER=t81_reader_$$
AUDITOR=t81_auditor_$$
# Roles belong to the cluster, not to the test's database: drop them even
# when the script stops early.
_drop_roles() {
	local rc=$?
	q "drop role if exists $READER; drop role if exists $AUDITOR" >/dev/null 2>&1 || true
	return $rc
}
trap '_drop_roles; _t_cleanup' EXIT
q "create role $READER login in role mdm_reader; create role $AUDITOR login in role auditor"
as() {
	local role=$1
	shift
	psql -X -Atq -U "$role" -d "$DB" "$@"
}
is "$(q "select string_agg(rolname, ',' order by rolname) from pg_roles where rolname in ('mdm_reader', 'auditor') \
	and not rolcanlogin and not rolsuper and not rolcreaterole and not rolcreatedb and not rolbypassrls")" auditor,mdm_reader \
	"mdm_reader and auditor are plain roles without login"
is "$(q "select string_agg(r.rolname, ',' order by r.rolname) from pg_roles r where pg_has_role('$READER', r.oid, 'member')")" \
	"mdm_reader,$READER" "the reader login is a member of mdm_reader only"
is "$(q "select string_agg(r.rolname, ',' order by r.rolname) from pg_roles r where pg_has_role('$AUDITOR', r.oid, 'member')")" \
	"auditor,$AUDITOR" "the auditor login is a member of auditor only"

# The probe: every relation, column and function of the schema, from the
# catalog, tried by the current role; each attempt runs in a subtransaction
# that is rolled back (nextval cannot be, and needs no undoing). A view that
# cannot be written at all (refusals) is refused before any privilege check:
# there the privilege itself is asked, and "denied" means it is not granted.
cat >"$T/probe.sql" <<'SQL'
DO $probe$
DECLARE
	t record;
	res text;
BEGIN
	FOR t IN
		WITH rel AS (
			SELECT c.oid, c.relname, c.relkind,
			       (SELECT a.attname FROM pg_attribute a WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
			         ORDER BY a.attnum LIMIT 1) AS col
			  FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
			 WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p', 'v', 'm', 'f', 'S'))
		SELECT relname AS obj, 'select' AS priv, format('SELECT * FROM public.%I LIMIT 0', relname) AS stmt, oid,
		       'SELECT' AS acl, relkind
		  FROM rel WHERE relkind <> 'S'
		UNION ALL SELECT relname, 'insert', format('INSERT INTO public.%I DEFAULT VALUES', relname), oid, 'INSERT', relkind
		  FROM rel WHERE relkind <> 'S'
		UNION ALL SELECT relname, 'update', format('UPDATE public.%I SET %I = DEFAULT WHERE false', relname, col), oid,
		                 'UPDATE', relkind
		  FROM rel WHERE relkind <> 'S'
		UNION ALL SELECT relname, 'delete', format('DELETE FROM public.%I WHERE false', relname), oid, 'DELETE', relkind
		  FROM rel WHERE relkind <> 'S'
		UNION ALL SELECT relname, 'truncate', format('TRUNCATE public.%I', relname), oid, 'TRUNCATE', relkind
		  FROM rel WHERE relkind IN ('r', 'p')
		UNION ALL SELECT relname, 'select', format('SELECT last_value FROM public.%I', relname), oid, 'SELECT', relkind
		  FROM rel WHERE relkind = 'S'
		UNION ALL SELECT relname, 'usage', format('SELECT nextval(%L::regclass)', format('public.%I', relname)), oid,
		                 'USAGE', relkind
		  FROM rel WHERE relkind = 'S'
		UNION ALL SELECT r.relname || '.' || a.attname, 'select',
		                 format('SELECT %I FROM public.%I LIMIT 0', a.attname, r.relname), r.oid, 'SELECT', r.relkind
		  FROM rel r JOIN pg_attribute a ON a.attrelid = r.oid AND a.attnum > 0 AND NOT a.attisdropped
		 WHERE r.relkind <> 'S'
		UNION ALL SELECT p.oid::regprocedure::text, 'execute',
		                 format(CASE p.prokind WHEN 'p' THEN 'CALL public.%I(%s)' ELSE 'SELECT * FROM public.%I(%s)' END,
		                        p.proname,
		                        coalesce((SELECT string_agg('NULL::' || format_type(u.t, NULL), ', ' ORDER BY u.o)
		                                    FROM unnest(p.proargtypes::oid[]) WITH ORDINALITY AS u(t, o)), '')),
		                 p.oid, 'EXECUTE', p.prokind
		  FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
		 WHERE n.nspname = 'public'
		ORDER BY 1, 2
	LOOP
		BEGIN
			EXECUTE t.stmt;
			RAISE EXCEPTION USING ERRCODE = 'MDM01';
		EXCEPTION
			WHEN SQLSTATE 'MDM01' THEN res := 'ok';
			WHEN insufficient_privilege THEN res := 'denied';
			WHEN object_not_in_prerequisite_state THEN
				IF t.relkind = 'v' AND NOT has_table_privilege(t.oid, t.acl) THEN
					res := 'denied';
				ELSE
					res := 'error ' || SQLSTATE || ' ' || SQLERRM;
				END IF;
			WHEN OTHERS THEN res := 'error ' || SQLSTATE || ' ' || SQLERRM;
		END;
		RAISE NOTICE 'probe|%|%|%', t.obj, t.priv, res;
	END LOOP;
END
$probe$;
SQL

# What the migrations grant (sql/002, 004, 005), written out here rather
# than read from the catalog. Anything else is expected to be denied.
declare -A GRANT_READER=(
	[device_identity/select]=1 [refusals/select]=1
	["identity_check(text,bytea)/execute"]=1 ["identity_matches(text,bytea)/execute"]=1 ["expiring(interval)/execute"]=1
)
declare -A GRANT_AUDITOR=(
	["identity_check(text,bytea)/execute"]=1 ["identity_matches(text,bytea)/execute"]=1 ["expiring(interval)/execute"]=1
)
for rel in issuer certificate event device_identity refusals schema_migration crl request; do GRANT_AUDITOR[$rel/select]=1; done
# challenge: every column but the secret's hash (so not SELECT * either).
for col in id udid subject created_at expires_at consumed_at consumed_by require_approval; do
	GRANT_AUDITOR[challenge.$col/select]=1
done
# expected ROLE OBJ PRIV: ok or denied.
expected() {
	local -n grants=$1
	local obj=$2 priv=$3
	if [[ -n ${grants[$obj/$priv]:-} ]]; then echo ok; return; fi
	# a column of a relation granted as a whole
	if [[ $priv == select && $obj == *.* && ! $obj == *"("* && -n ${grants[${obj%%.*}/select]:-} ]]; then
		echo ok
		return
	fi
	echo denied
}

# check_role LOGIN GRANTS LABEL: runs the probe as LOGIN; one TAP line per
# object (relation, its columns, function), naming what differs.
check_role() {
	local login=$1 grants=$2 label=$3 obj priv got want n=0 rc=0
	local -A bad=() objs=()
	as "$login" -v ON_ERROR_STOP=1 -f "$T/probe.sql" >"$T/probe.$login" 2>&1 || rc=$?
	while IFS='|' read -r _ obj priv got; do
		n=$((n + 1))
		want=$(expected "$grants" "$obj" "$priv")
		local base=${obj%%.*}
		[[ $obj == *"("* ]] && base=$obj
		objs[$base]=1
		[[ $got == "$want" ]] || bad[$base]+=" $obj:$priv=$got(want $want)"
	done < <(sed -n 's/^.*NOTICE:  probe|//p' "$T/probe.$login" | sed 's/^/x|/')
	ok "$( ((rc == 0 && n > 0)); echo $?)" "$label: the probe ran ($n attempts over ${#objs[@]} objects)"
	if ((rc != 0 || n == 0)); then sed 's/^/# /' "$T/probe.$login" | head -n 20; fi
	for obj in $(printf '%s\n' "${!objs[@]}" | sort); do
		if [[ -z ${bad[$obj]:-} ]]; then ok 0 "$label: $obj as granted, no more"; else
			ok 1 "$label: $obj as granted, no more"
			diag "${bad[$obj]}"
		fi
	done
	# Every granted entry was actually seen (a renamed object would hide here).
	local missing="" k
	local -n g=$grants
	for k in "${!g[@]}"; do grep -q "probe|${k%/*}|${k##*/}|" "$T/probe.$login" || missing+=" $k"; done
	is "$missing" "" "$label: every granted object exists in the schema"
}
check_role "$READER" GRANT_READER "mdm_reader"
check_role "$AUDITOR" GRANT_AUDITOR "auditor"
is "$(q "select count(*) from (select 1 from pg_class c join pg_namespace n on n.oid = c.relnamespace where n.nspname = 'public' \
	and c.relkind in ('r', 'v', 'S') union all select 1 from pg_proc p join pg_namespace n on n.oid = p.pronamespace \
	where n.nspname = 'public') x")" "$(grep -c 'probe|[^.]*|\(select\|execute\)|' "$T/probe.$READER")" \
	"the probe covered every table, view, sequence and function of the schema"

# Beyond the schema's objects: no new objects, no temporary ones, no other role.
for login in "$READER" "$AUDITOR"; do
	ok "$(as "$login" -c "create table public.t81_probe (x int)" >/dev/null 2>&1; [[ $? -ne 0 ]]; echo $?)" \
		"$login cannot create tables in public"
	ok "$(as "$login" -c "create temporary table t81_probe (x int)" >/dev/null 2>&1; [[ $? -ne 0 ]]; echo $?)" \
		"$login cannot create temporary tables"
	ok "$(as "$login" -c "set role mdmid" >/dev/null 2>&1; [[ $? -ne 0 ]]; echo $?)" "$login cannot become the service role"
done
ok "$(as "$READER" -c "set role auditor" >/dev/null 2>&1; [[ $? -ne 0 ]]; echo $?)" "the reader cannot become auditor"
ok "$(as "$AUDITOR" -c "set role mdm_reader" >/dev/null 2>&1; [[ $? -ne 0 ]]; echo $?)" "the auditor cannot become mdm_reader"
# And what is granted works on real rows.
fp=$(openssl x509 -in "$T/dyn.pem" -outform DER | sha256sum | cut -c1-64)
is "$(as "$READER" -c "select identity_matches('$U1', '\\x$fp')")" t "the reader's identity_matches finds the dynamic enrollment"
is "$(as "$AUDITOR" -c "select count(*) from certificate where udid in ('$U1', '$U2', '$U3')")" 3 "the auditor reads the certificates"
is "$(as "$AUDITOR" -c "select count(*) from challenge where udid = '$U1' and consumed_at is not null")" 1 \
	"the auditor reads the challenges' columns but the hash"
q "drop role $READER; drop role $AUDITOR"
is "$(q "select count(*) from pg_roles where rolname in ('$READER', '$AUDITOR')")" 0 "the test's login roles are dropped"
done_testing
