#!/usr/bin/env bash
# The configuration and its documentation: `mdmid config check` (valid, invalid,
# secrets masked), every key of the code's table in deploy/mdmid.conf.example and
# in the manual with the default the code has, the manual's subcommands, options,
# endpoints and SQL objects against the sources, and groff's verdict on mdmid.8.
# No database: only a work directory (lib.sh's ok/is/like and its cleanup).
source "$(dirname "$0")/lib.sh"

# The developer's MDMID_* (a sourced var/dev.env) must not change what is checked.
for v in $(env | sed -n 's/^\(MDMID_[A-Z_]*\)=.*/\1/p'); do
	case $v in MDMID_ROOT | MDMID_BUILD | MDMID_BIN | MDMID_TEST_* | MDMID_KEEP_WORK) ;; *) unset "$v" ;; esac
done
T=$(mktemp -d "${MDMID_TEST_WORK:-/tmp}/config_docs.XXXXXX")
trap _t_cleanup EXIT

MAN=$MDMID_ROOT/mdmid.8
EXAMPLE=$MDMID_ROOT/deploy/mdmid.conf.example

# run_rc CMD...: sets RC, OUT (stdout) and ERR (stderr)
run_rc() {
	RC=0
	"$@" >"$T/out" 2>"$T/err" || RC=$?
	OUT=$(cat "$T/out")
	ERR=$(cat "$T/err")
}
# roff source to plain text for matching: \- and \(dq and \& are what they print.
unroff() { sed -e 's/\\-/-/g' -e 's/\\(dq/"/g' -e 's/\\&//g'; }
# the lines of one .SH section of the manual (without its .SH line)
man_section() { awk -v s="$1" '/^\.SH /{on = ($0 == ".SH " s)} on && !/^\.SH /' "$MAN"; }
# report_missing WHAT LIST: one TAP test, the missing items in a diagnostic
report_missing() {
	local what=$1 missing=$2
	if [[ -z $missing ]]; then ok 0 "$what"; else
		ok 1 "$what"
		diag "missing:$missing"
	fi
}

# --- The manual renders, and groff has nothing to say about it.
run_rc groff -man -ww -z "$MAN"
is "$RC" 0 "groff -man -ww -z mdmid.8 exits 0"
is "$OUT$ERR" "" "... and prints no warning"
run_rc env MANWIDTH=80 man -P cat -l "$MAN"
is "$RC" 0 "man -l mdmid.8 renders it"
like "$OUT" $'NAME\n +mdmid - ' "... with its NAME section"
is "$ERR" "" "... and no complaint"
missing_sh=""
for s in NAME SYNOPSIS DESCRIPTION COMMANDS CONFIGURATION "HTTP ENDPOINTS" DATABASE ENVIRONMENT "EXIT STATUS" FILES \
	"SEE ALSO"; do
	grep -qx "\.SH \"\?$s\"\?" "$MAN" || missing_sh+=" $s"
done
report_missing "the manual has every section" "$missing_sh"

# --- config check on a valid file: every key, secrets masked.
head -c 24 /dev/urandom | base64 | tr '+/' '-_' >"$T/admin-token"
printf 'static-challenge-%s\n' "$$" >"$T/challenge"
cat >"$T/ok.conf" <<CONF
# a minimal configuration for serve
listen = 127.0.0.1:0
ca_dir = $T/ca
challenge_file = $T/challenge
challenge_mode = static
admin_token_file = $T/admin-token
CONF
run_rc "$MDMID_BIN" config check --config "$T/ok.conf"
is "$RC" 0 "config check of a valid file exits 0"
like "$ERR" "valid" "... and says it is valid"
like "$OUT" $'(^|\n)listen = 127.0.0.1:0\n' "... prints the file's values"
like "$OUT" $'\nchallenge_mode = static\n' "... one key = value per line"
like "$OUT" $'\nvalidity_days = 365\n' "... with the defaults of the keys the file leaves out"
like "$OUT" $'\nadmin_token_file = '"$T"$'/admin-token\n' "... a *_file key shows the file it names"
like "$OUT" $'\nadmin_token = \\*\\*\\*\\*\\*\\*\\*\\*\n' "... the admin token is masked"
like "$OUT" $'\nchallenge = \\*\\*\\*\\*\\*\\*\\*\\*\n' "... the static challenge is masked"
ok "$([[ $OUT$ERR != *"$(cat "$T/admin-token")"* && $OUT$ERR != *"$(cat "$T/challenge")"* ]]; echo $?)" \
	"... and no secret is printed"
bad_lines=$(grep -Ecv '^[a-z_0-9]+ = ' "$T/out" || true)
is "$bad_lines" 0 "... every line is key = value"

# The code's table of keys, in its order.
mapfile -t keys < <(sed -n 's/^\([a-z_0-9]*\) = .*/\1/p' "$T/out")
ok "$([[ ${#keys[@]} -ge 30 ]]; echo $?)" "config check lists the code's keys (${#keys[@]})"
is "$(printf '%s\n' "${keys[@]}" | sort | uniq -d)" "" "... each once"
run_rc env MDMID_VALIDITY_DAYS=30 MDMID_ADMIN_LISTEN= "$MDMID_BIN" config check --config "$T/ok.conf"
like "$OUT" $'\nvalidity_days = 30\n' "the environment overrides the file, as for serve"
like "$OUT" $'\nadmin_listen = ""\n' "... an empty value is printed as \"\""

# --- Every key in the example configuration and in the manual.
man_conf=$(man_section CONFIGURATION | unroff)
missing_ex="" missing_man=""
for k in "${keys[@]}"; do
	grep -Eq "^(# ?)?$k = " "$EXAMPLE" || missing_ex+=" $k"
	grep -Eq "^\.BR? $k( |\$)" <<<"$man_conf" || missing_man+=" $k"
done
report_missing "every key is in deploy/mdmid.conf.example (key = or # key =)" "$missing_ex"
report_missing "every key is described under CONFIGURATION in mdmid.8" "$missing_man"
extra=""
for k in $(sed -n 's/^\.BR\{0,1\} \([a-z_0-9]*\)\( .*\)\{0,1\}$/\1/p' <<<"$(awk 'p == ".TP" {print} {p = $0}' <<<"$man_conf")"); do
	printf '%s\n' "${keys[@]}" | grep -qx "$k" || extra+=" $k"
done
report_missing "the manual describes no key the code does not have" "$extra"

# The defaults: the manual's tags (".BR key \" = default\"") against the code's.
run_rc env MDMID_CHALLENGE=x MDMID_ADMIN_TOKEN=0123456789abcdef MDMID_DATABASE_PASSWORD=x \
	MDMID_CA_KEY_PASSPHRASE=x "$MDMID_BIN" config check --config /dev/null
is "$RC" 0 "config check of the defaults (secrets from the environment) exits 0"
cp "$T/out" "$T/defaults"
wrong=""
while IFS= read -r line; do
	k=${line%% = *}
	if [[ $line == *" = ********" ]]; then
		# a secret: its tag is the key alone
		grep -qx "\.B $k" <<<"$man_conf" || wrong+=" $k(secret: expected .B $k)"
	else
		tag=$(sed -n "s/^\.BR $k \"\(.*\)\"\$/$k\1/p" <<<"$man_conf")
		[[ $tag == "$line" ]] || wrong+=" [$line: manual says '$tag']"
	fi
done <"$T/defaults"
report_missing "the manual gives every key the default the code has" "$wrong"

# The example's values are valid (its *_file keys name files of a production host).
grep -v '_file = ' "$EXAMPLE" >"$T/example.conf"
run_rc env MDMID_ADMIN_LISTEN= "$MDMID_BIN" config check --config "$T/example.conf"
is "$RC" 0 "deploy/mdmid.conf.example (without its *_file keys) passes config check"
[[ $RC -eq 0 ]] || diag "$ERR"

# --- Invalid configurations: exit 2 and a message naming the key.
printf 'listen = 127.0.0.1:70000\n' >"$T/port.conf"
run_rc "$MDMID_BIN" config check --config "$T/port.conf"
is "$RC" 2 "a port out of range exits 2"
like "$ERR" "listen = 127.0.0.1:70000: the port must be a number from 0 to 65535" "... naming the key and the range"
is "$OUT" "" "... and prints no settings"
printf 'admin_listen = [::1]:65536\n' >"$T/port6.conf"
run_rc "$MDMID_BIN" config check --config "$T/port6.conf"
is "$RC" 2 "an admin port out of range exits 2"
like "$ERR" "admin_listen = \[::1\]:65536" "... naming admin_listen"
printf 'listen = localhost:8080\n' >"$T/host.conf"
run_rc "$MDMID_BIN" config check --config "$T/host.conf"
is "$RC" 2 "a host name instead of an address exits 2"
like "$ERR" "listen = localhost:8080: expected host:port with a numeric address" "... naming the key"
printf 'trusted_proxies = 127.0.0.1, proxy.example.com\n' >"$T/proxy.conf"
run_rc "$MDMID_BIN" config check --config "$T/proxy.conf"
is "$RC" 2 "a trusted proxy given by name exits 2"
like "$ERR" "trusted_proxies: proxy.example.com is no numeric IPv4 or IPv6 address" "... naming the key and the entry"
printf 'trusted_proxies = 10.0.0.0/8 ::1\n' >"$T/proxy-ok.conf"
run_rc env MDMID_ADMIN_LISTEN= "$MDMID_BIN" config check --config "$T/proxy-ok.conf"
like "$RC/$OUT" $'^0/.*\ntrusted_proxies = 10.0.0.0/8 ::1\n' "addresses and networks pass, and are shown"
printf 'listen = 127.0.0.1:0\nbogus_key = 1\n' >"$T/unknown.conf"
run_rc "$MDMID_BIN" config check --config "$T/unknown.conf"
is "$RC" 2 "an unknown key exits 2"
like "$ERR" "unknown.conf:2: unknown key \"bogus_key\"" "... naming the file, the line and the key"
run_rc env MDMID_ADMIN_TOKEN=0123456789abcdef MDMID_VALIDITY_DAYS=0 "$MDMID_BIN" config check --config /dev/null
is "$RC" 2 "a value out of range in the environment exits 2"
like "$ERR" "validity_days = 0: must be between 1 and 36500" "... naming the key"
run_rc env MDMID_ADMIN_TOKEN=0123456789abcdef MDMID_CSR_SAN=maybe "$MDMID_BIN" config check --config /dev/null
is "$RC" 2 "a boolean that is none exits 2"
like "$ERR" "MDMID_CSR_SAN: csr_san must be true or false" "... naming the variable and the key"
printf 'challenge = hunter2-%s\n' "$$" >"$T/secret.conf"
run_rc "$MDMID_BIN" config check --config "$T/secret.conf"
is "$RC" 2 "a secret in the file exits 2"
ok "$([[ $OUT$ERR != *hunter2* ]]; echo $?)" "... without echoing it"
run_rc "$MDMID_BIN" config check --config /dev/null
is "$RC" 2 "the admin API on without a token exits 2"
like "$ERR" "admin_listen = 127.0.0.1:8081: .*admin_token_file" "... naming admin_listen and admin_token_file"
printf '0123456789\n' >"$T/short-token"
run_rc env MDMID_ADMIN_TOKEN_FILE="$T/short-token" "$MDMID_BIN" config check --config /dev/null
is "$RC" 2 "an admin token under 16 characters exits 2"
run_rc env MDMID_ADMIN_LISTEN= MDMID_STATIC_UDID_FIELD=nosuchattribute "$MDMID_BIN" config check --config /dev/null
is "$RC" 2 "an unknown static_udid_field exits 2"
like "$ERR" "static_udid_field = nosuchattribute" "... naming the key"
run_rc env MDMID_ADMIN_LISTEN= MDMID_LOG_LEVEL=loud "$MDMID_BIN" config check --config /dev/null
is "$RC" 2 "an unknown log_level exits 2"
like "$ERR" "log_level = loud" "... naming the key"
run_rc "$MDMID_BIN" config check --config "$T/absent.conf"
is "$RC" 2 "a missing configuration file exits 2"
like "$ERR" "absent.conf" "... naming it"
run_rc env MDMID_CONFIG="$T/port.conf" "$MDMID_BIN" config check
is "$RC" 2 "without --config, \$MDMID_CONFIG is checked"
run_rc "$MDMID_BIN" config check extra
is "$RC" 2 "an unexpected argument exits 2"
run_rc "$MDMID_BIN" config frobnicate
is "$RC" 2 "an unknown config subcommand exits 2"
run_rc "$MDMID_BIN" config check --help
is "$RC" 0 "config check --help exits 0"
like "$OUT" "usage: mdmid config check" "... with the usage on stdout"
# serve refuses what config check refuses, with the same exit code
run_rc "$MDMID_BIN" serve --config "$T/port.conf"
is "$RC" 2 "serve refuses the port out of range too (exit 2, before any listener)"

# --- The manual against the sources: subcommands, options, endpoints, SQL.
man_text=$(unroff <"$MAN")
missing=""
for c in $(sed -n 's/.*strcmp(cmd, "\([a-z][a-z0-9]*\)").*/\1/p' "$MDMID_ROOT/mdmid.c"); do
	grep -Eq "^\.SS \"mdmid ([^\"]*, mdmid )?$c( |,|\"|$)" <<<"$man_text" || missing+=" $c"
done
report_missing "every command of mdmid.c has its subsection in the manual" "$missing"
missing=""
for o in $(grep -oh '{"[a-z][a-z0-9-]*", \(required\|no\)_argument' "$MDMID_ROOT"/cli/*.c | cut -d'"' -f2 | sort -u); do
	grep -q -- "--$o\b" <<<"$man_text" || missing+=" --$o"
done
report_missing "every option of cli/*.c is in the manual" "$missing"
missing=""
# (the paths the code compares URLs with; comment lines left out)
for p in $(grep -v '^\s*/\?\*' "$MDMID_ROOT/scep/admin_http.c" | grep -o '"/v1/[a-z/-]*"' | tr -d '"' | grep -v '/$' | sort -u) \
	$(grep -v '^\s*/\?\*' "$MDMID_ROOT/scep/scep_http.c" | grep -o '"/[a-z][a-z./-]*"' | tr -d '"' | sort -u); do
	grep -q -- "$p" <<<"$man_text" || missing+=" $p"
done
report_missing "every HTTP endpoint of scep_http.c and admin_http.c is in the manual" "$missing"
man_db=$(man_section DATABASE | unroff)
missing=""
for o in $(sed -n 's/^CREATE \(VIEW\|FUNCTION\) \([a-z_]*\).*/\2/p' "$MDMID_ROOT"/sql/*.sql) \
	$(grep -oh 'GRANT [^;]* TO [a-z_]*;' "$MDMID_ROOT"/sql/*.sql | sed 's/.* TO \([a-z_]*\);/\1/' | sort -u); do
	grep -Eq "^\.BI? $o( |\(|\$)" <<<"$man_db" || missing+=" $o"
done
report_missing "every SQL view, function and role is described under DATABASE" "$missing"
man_env=$(man_section ENVIRONMENT | unroff)
missing=""
for k in $(sed -n 's/^\([a-z_0-9]*\) = \*\*\*\*\*\*\*\*$/\1/p' "$T/defaults"); do
	v=MDMID_$(tr 'a-z' 'A-Z' <<<"$k")
	grep -qx "\.B $v" <<<"$man_env" || missing+=" $v"
done
grep -qx '\.B MDMID_CONFIG' <<<"$man_env" || missing+=" MDMID_CONFIG"
report_missing "ENVIRONMENT names MDMID_CONFIG and the variable of every secret" "$missing"

done_testing
