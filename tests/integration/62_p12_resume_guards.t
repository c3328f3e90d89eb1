#!/usr/bin/env bash
# Resuming a PKCS#12 batch only as it was started: another CA or
# organization is refused, and a device whose row this database does not
# hold is exported again rather than counted as done.
source "$(dirname "$0")/lib.sh"
t_setup p12_guards
t_write_config
for i in 1 2 3; do udid_for "guard-$i"; echo; done >"$T/list"
run() { "$MDMID_BIN" p12 export --config "$1" --udids "$T/list" --out "$T/out" --key ec-p256 --jobs 1 2>"$T/err"; }
rc=0; run "$T/mdmid.conf" || rc=$?
is "$rc" 0 "a 3-device batch is exported"

# Another CA, same list and directory.
"$MDMID_BIN" ca init --config /dev/null --dir "$T/ca2" --bits 2048 --subject "/CN=another CA" >/dev/null
sed "s|^ca_dir = .*|ca_dir = $T/ca2|" "$T/mdmid.conf" >"$T/other-ca.conf"
rc=0; run "$T/other-ca.conf" || rc=$?
is "$rc" 2 "rerunning with another CA is refused (exit 2)"
like "$(cat "$T/err")" "another CA or another organization" "... saying why"
printf 'profile_organization = Another Org\n' >>"$T/mdmid.conf.org"
cat "$T/mdmid.conf" "$T/mdmid.conf.org" >"$T/other-org.conf"
rc=0; run "$T/other-org.conf" || rc=$?
is "$rc" 2 "rerunning with another organization is refused (exit 2)"

# A complete device whose row is gone from this database is exported again.
u2=$(udid_for guard-2)
old=$(sed -n "s/^$u2,[^,]*,[^,]*,\([0-9a-f]*\),.*/\1/p" "$T/out/manifest.csv")
q "delete from certificate where udid = '$u2'"
rc=0; run "$T/mdmid.conf" || rc=$?
is "$rc" 0 "the rerun succeeds"
new=$(sed -n "s/^$u2,[^,]*,[^,]*,\([0-9a-f]*\),.*/\1/p" "$T/out/manifest.csv")
ok "$([[ -n $new && $new != "$old" ]]; echo $?)" "the device without a row was exported again"
is "$(q "select count(*) from certificate where udid = '$u2' and status = 'issued' and sha256 = '\\x$new'")" 1 \
	"... and its new row matches the manifest"
like "$(cat "$T/err")" "1 exported, 2 already done" "the other two were left as they were"
done_testing
