#!/usr/bin/env bash
# deploy/container/Containerfile and compose.yaml, checked without a container
# engine: the stages and their packages (each in Debian 12; the runtime stage
# holds the package of every library mdmid links against, the build stage the
# -dev package of every pkg-config module the Makefile uses), a non-root USER,
# the COPY list against what `make` compiles, `make install` into the stage
# directory, ENTRYPOINT/CMD/EXPOSE, and the compose file (PostgreSQL 15, file
# secrets only, ca-init -> migrate -> serve). Then what the containers would
# run is run here: ca-init's command (twice: the second does nothing),
# `mdmid db migrate` and `mdmid serve` with the compose and image environment,
# and the image's HEALTHCHECK command against that server.
source "$(dirname "$0")/lib.sh"
t_setup container_files
CF=$MDMID_ROOT/deploy/container/Containerfile
COMPOSE=$MDMID_ROOT/deploy/container/compose.yaml
ok "$([[ -f $CF && -f $COMPOSE ]]; echo $?)" "deploy/container/Containerfile and compose.yaml exist"

# Facts from both files, one "key<TAB>value" per line (python3: Containerfile by hand,
# compose.yaml with PyYAML when it is installed).
python3 - "$CF" "$COMPOSE" >"$T/facts" <<'PY'
import json, re, sys
cf, compose = sys.argv[1], sys.argv[2]
def out(k, v): print(f"{k}\t{v}")
lines, cur = [], ""
for raw in open(cf):
    s = raw.rstrip("\n").replace("\t", " ")
    if not cur and (not s.strip() or s.lstrip().startswith("#")):
        continue
    if s.lstrip().startswith("#"):
        continue
    if s.endswith("\\"):
        cur += s[:-1] + " "
        continue
    lines.append((cur + s).strip())
    cur = ""
stage = -1
for l in lines:
    ins, _, rest = l.partition(" ")
    ins = ins.upper()
    if ins == "FROM":
        stage += 1
        out("from", rest)
        continue
    out(f"{stage}.{ins.lower()}", rest)
    if ins == "RUN":
        for m in re.finditer(r"apt-get install((?:\s+[^&|;]+)+)", rest):
            for tok in m.group(1).split():
                if not tok.startswith("-"):
                    out(f"{stage}.package", tok)
    if ins == "ENV":
        for m in re.finditer(r"(\w+)=(\S+)", rest):
            out("image_env", f"{m.group(1)}={m.group(2)}")
    if ins == "HEALTHCHECK":
        cmd = rest[rest.index("CMD") + 3:].strip()
        out("healthcheck_argv", json.dumps(json.loads(cmd)))
out("stages", stage + 1)
try:
    import yaml
except ImportError:
    out("yaml", "missing")
    sys.exit(0)
doc = yaml.safe_load(open(compose))
out("yaml", "ok")
svc = doc.get("services", {})
out("services", " ".join(sorted(svc)))
for name, s in svc.items():
    out(f"svc.{name}.image", s.get("image", ""))
    cmd = s.get("command", [])
    out(f"svc.{name}.command", json.dumps(cmd if isinstance(cmd, list) else [cmd]))
    ep = s.get("entrypoint")
    if ep is not None:
        out(f"svc.{name}.entrypoint", json.dumps(ep if isinstance(ep, list) else [ep]))
    deps = s.get("depends_on", {})
    if isinstance(deps, list):
        deps = {d: {"condition": "service_started"} for d in deps}
    out(f"svc.{name}.depends", ",".join(f"{d}:{c.get('condition')}" for d, c in sorted(deps.items())))
    env = s.get("environment", {})
    if isinstance(env, list):
        env = dict(e.split("=", 1) for e in env)
    secrets = [x if isinstance(x, str) else x.get("source") for x in s.get("secrets", [])]
    for k, v in sorted(env.items()):
        out(f"svc.{name}.env", f"{k}={v}")
        if re.search(r"PASSWORD|TOKEN|PASSPHRASE|CHALLENGE|SECRET", k) and not k.endswith("_FILE"):
            out("violation", f"{name}: {k} holds a secret in the environment")
        if k.endswith("_FILE"):
            m = re.fullmatch(r"/run/secrets/([\w.-]+)", str(v))
            if not m or m.group(1) not in secrets:
                out("violation", f"{name}: {k}={v} is not one of its secrets under /run/secrets")
    for v in s.get("volumes", []):
        out(f"svc.{name}.volume", v if isinstance(v, str) else f"{v.get('source')}:{v.get('target')}")
    for p in s.get("ports", []):
        out(f"svc.{name}.port", p)
for name, d in (doc.get("secrets") or {}).items():
    out("secret", f"{name}:{'file' if 'file' in d else 'other'}")
out("volumes", " ".join(sorted(doc.get("volumes") or {})))
PY
fact() { awk -F'\t' -v k="$1" '$1 == k {print $2}' "$T/facts"; }

# --- The Containerfile.
froms=$(fact from)
is "$(fact stages)" 2 "two stages"
like "$(sed -n 1p <<<"$froms")" '^[^ ]*debian:12 AS build$' "the build stage is Debian 12"
like "$(sed -n 2p <<<"$froms")" '^[^ ]*debian:12-slim$' "the runtime stage is Debian 12 (slim)"
like "$(fact 0.run)" 'make -j[^&]* all' "the build stage runs make"
like "$(fact 0.run)" 'make install PREFIX=/usr DESTDIR=/stage' "... and make install DESTDIR=/stage"
like "$(fact 1.copy)" '^--from=build /stage/ /$' "the runtime stage copies what make install put in /stage"
user=$(fact 1.user | tail -n 1)
like "$user" '^[^ ]+$' "the runtime stage sets USER ($user)"
ok "$([[ -n $user && ! $user =~ ^(root|0)(:|$) ]]; echo $?)" "... not root"
uid=${user%%:*}
like "$(fact 1.run)" "useradd --system --uid $uid " "... the uid of the system user it creates"
is "$(fact 1.entrypoint)" '["mdmid"]' 'ENTRYPOINT ["mdmid"]'
is "$(fact 1.cmd)" '["serve"]' 'CMD ["serve"]'
is "$(fact 1.expose)" "8080 8081" "EXPOSE 8080 8081"
like "$(fact 1.healthcheck)" '/healthz' "a HEALTHCHECK on /healthz"

build_pkgs=" $(fact 0.package | tr '\n' ' ')"
run_pkgs=" $(fact 1.package | tr '\n' ' ')"
if [[ "$(cut -d. -f1 /etc/debian_version 2>/dev/null)" == 12 ]] && apt-cache show --no-all-versions libc6 >/dev/null 2>&1; then
	missing=""
	for p in $build_pkgs $run_pkgs; do
		apt-cache show --no-all-versions "$p" >/dev/null 2>&1 || missing+=" $p"
	done
	is "$missing" "" "every package the stages install exists in Debian 12 (apt-cache show):$build_pkgs /$run_pkgs"
else
	ok 0 "every package exists in Debian 12 # SKIP not Debian 12, or no apt lists"
fi
# The runtime libraries: the packages of the libraries the binary needs (libc6 is in the
# base image; sanitizer runtimes only in SAN builds).
need=""
for lib in $(readelf -d "$MDMID_BIN" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p'); do
	path=$(ldd "$MDMID_BIN" | awk -v l="$lib" '$1 == l {print $3}')
	pkg=$(dpkg -S "$path" 2>/dev/null || dpkg -S "$(realpath "$path")" 2>/dev/null || echo "?$lib:")
	pkg=${pkg%%:*}
	case $pkg in libc6 | libasan* | libubsan* | libgcc-s1 | libstdc++*) continue ;; esac
	[[ " $need " == *" $pkg "* ]] || need+=" $pkg"
done
absent=""
for p in $need; do [[ "$run_pkgs " == *" $p "* ]] || absent+=" $p"; done
is "$absent" "" "the runtime stage installs the package of every library mdmid links against:$need"
absent=""
for p in $run_pkgs; do [[ $p == *-dev || $p == build-essential || $p == pkg-config ]] && absent+=" $p"; done
is "$absent" "" "... and no -dev package, compiler or pkg-config"
# The build packages: the -dev package of every pkg-config module of the Makefile.
absent=""
for mod in $(sed -n 's/^PKGS := //p' "$MDMID_ROOT/Makefile"); do
	pc=$(pkg-config --variable=pcfiledir "$mod" 2>/dev/null)/$mod.pc
	pkg=$(dpkg -S "$pc" 2>/dev/null || dpkg -S "$(realpath "$pc")" 2>/dev/null || echo "?$mod:")
	pkg=${pkg%%:*}
	[[ "$build_pkgs " == *" $pkg "* ]] || absent+=" $pkg($mod)"
done
for p in build-essential pkg-config; do [[ "$build_pkgs " == *" $p "* ]] || absent+=" $p"; done
is "$absent" "" "the build stage installs the compiler, pkg-config and the -dev package of every pkg-config module"

# The COPY list: a copy of just what the build stage copies compiles the same sources
# (make -n -B: nothing runs) and installs the binary, the SQL files and the manual.
mkdir -p "$T/ctx"
while read -r args; do
	[[ $args == --from=* ]] && continue
	read -ra a <<<"$args"
	n=${#a[@]}
	for src in "${a[@]:0:n-1}"; do
		src=${src%/}
		mkdir -p "$T/ctx/$(dirname "$src")"
		cp -a "$MDMID_ROOT/$src" "$T/ctx/$src"
	done
done < <(fact 0.copy)
compiled() { (cd "$1" && make -n -B -s all BUILD="$T/nobuild" 2>&1 | grep -oE ' -c [^ ]+\.c' | sort -u); }
(cd "$MDMID_ROOT" && compiled .) >"$T/compiled.tree"
compiled "$T/ctx" >"$T/compiled.ctx"
ok "$([[ -s $T/compiled.tree ]] && cmp -s "$T/compiled.tree" "$T/compiled.ctx"; echo $?)" \
	"the sources the build stage copies compile the same $(wc -l <"$T/compiled.tree") files as the tree"
diff "$T/compiled.tree" "$T/compiled.ctx" | sed 's/^/# /' || true
inst=$(cd "$T/ctx" && make -n -s install PREFIX=/usr DESTDIR=/stage BUILD="$T/nobuild" 2>&1)
like "$inst" "install -m 0755 [^ ]*/mdmid /stage/usr/bin/mdmid" "make install puts the binary in /usr/bin (ENTRYPOINT mdmid)"
like "$inst" "sql/001_issuance.sql.* /stage/usr/share/mdmid/sql/" "... the SQL files in /usr/share/mdmid/sql"
like "$inst" "mdmid.8 /stage/usr/share/man/man8/" "... and the manual"

# --- compose.yaml.
if [[ "$(fact yaml)" != ok ]]; then
	ok 0 "compose.yaml checks # SKIP python3-yaml is not installed"
	done_testing
	exit
fi
ok 0 "compose.yaml parses as YAML"
is "$(fact services)" "ca-init db mdmid migrate" "services: db, ca-init, migrate, mdmid"
like "$(fact svc.db.image)" '(^|/)postgres:15(-|$)' "db is PostgreSQL 15 ($(fact svc.db.image))"
is "$(fact svc.migrate.command)" '["db", "migrate"]' "migrate runs mdmid db migrate"
is "$(fact svc.migrate.depends)" "db:service_healthy" "... once the database is healthy"
is "$(fact svc.mdmid.command)" '["serve"]' "mdmid runs serve"
is "$(fact svc.mdmid.depends)" "ca-init:service_completed_successfully,db:service_healthy,migrate:service_completed_successfully" \
	"... after ca-init and migrate completed"
like "$(fact svc.ca-init.command)" 'mdmid ca init' "ca-init runs mdmid ca init"
image=$(fact svc.mdmid.image)
is "$(fact svc.ca-init.image) $(fact svc.migrate.image)" "$image $image" "ca-init, migrate and mdmid run the same image ($image)"
ca_dir=$(fact svc.mdmid.env | sed -n 's/^MDMID_CA_DIR=//p')
is "$(fact svc.mdmid.volume)" "ca:$ca_dir" "mdmid mounts the volume ca at its ca_dir ($ca_dir)"
is "$(fact svc.ca-init.volume)" "ca:$ca_dir" "... where ca-init creates the CA"
like " $(fact volumes) " " ca " "... a named volume"
is "$(fact violation)" "" "no secret in any environment; each *_FILE names one of the service's secrets"
is "$(fact secret | sort -u | sed 's/.*://' | sort -u)" file "every secret is a file secret"
is "$(fact svc.mdmid.port | grep -v '^127\.0\.0\.1:' || true)" "" "ports are published on loopback only"
is "$(fact svc.db.port)" "" "the database publishes no port"

# --- Run what the containers would: the environment of compose.yaml and of the image, with
# /run/secrets/ and the CA volume in $T, the database this test's.
mkdir -p "$T/secrets"
head -c 24 /dev/urandom | base64 >"$T/secrets/ca_key_passphrase"
cp "$T/admin-token" "$T/secrets/admin_token"
echo "unused-with-trust-auth" >"$T/secrets/db_password"
vol=$T/volume-ca
mkdir -m 700 "$vol"
# svc_env SERVICE: its environment (image first, then compose), rewritten for here.
svc_env() {
	{ fact image_env; fact "svc.$1.env"; } | sed -e "s|/run/secrets/|$T/secrets/|g" -e "s|$ca_dir|$vol|g" \
		-e "s|^MDMID_DATABASE=.*|MDMID_DATABASE=host=$PGHOST port=$PGPORT user=mdmid dbname=$DB|"
}
mapfile -t init_env < <(svc_env ca-init)
mapfile -t init_cmd < <(python3 -c 'import json, sys; print("\n".join(json.loads(sys.argv[1])))' "$(fact svc.ca-init.entrypoint)")
init_cmd+=("$(python3 -c 'import json, sys; print(json.loads(sys.argv[1])[0])' "$(fact svc.ca-init.command)" | sed "s|$ca_dir|$vol|g")")
run_init() { env PATH="$(dirname "$MDMID_BIN"):$PATH" "${init_env[@]}" "${init_cmd[@]}" >>"$T/init.log" 2>&1; }
ok_cmd "ca-init's command creates the CA in the volume" run_init
ok "$([[ -f $vol/ca.pem && -f $vol/ra.pem ]]; echo $?)" "... ca.pem and ra.pem"
is "$(stat -c %a "$vol/ca.key")" 600 "... ca.key 0600"
like "$(head -n 1 "$vol/ca.key")" "ENCRYPTED" "... encrypted with the ca_key_passphrase secret"
sum=$(sha256sum "$vol/ca.pem")
ok_cmd "ca-init's command again (the next compose up) succeeds" run_init
is "$(sha256sum "$vol/ca.pem")" "$sum" "... and leaves the CA as it was"

mapfile -t migrate_env < <(svc_env migrate)
ok_cmd "migrate's command with its environment: mdmid db migrate" env -u MDMID_CONFIG "${migrate_env[@]}" "$MDMID_BIN" db migrate
is "$(q "select count(*) from schema_migration")" "$(ls "$MDMID_ROOT"/sql/[0-9]*.sql | wc -l)" "... every migration recorded"

mapfile -t serve_env < <(svc_env mdmid)
cfg=$(env -u MDMID_CONFIG "${serve_env[@]}" "$MDMID_BIN" config check 2>&1) && rc=0 || rc=$?
is "$rc" 0 "mdmid config check accepts the serve environment"
like "$cfg" "listen = 0\.0\.0\.0:8080" "... listen = 0.0.0.0:8080 (the image's)"
like "$cfg" "admin_listen = 0\.0\.0\.0:8081" "... admin_listen = 0.0.0.0:8081"
# serve as the container would, on free ports instead of 8080/8081.
env -u MDMID_CONFIG "${serve_env[@]}" MDMID_LISTEN=127.0.0.1:0 MDMID_ADMIN_LISTEN=127.0.0.1:0 MDMID_PORT_FILE="$T/port" \
	"$MDMID_BIN" serve >>"$T/server.log" 2>&1 &
SERVER_PID=$!
for ((i = 0; i < 100; i++)); do
	[[ -s "$T/port" ]] && [[ $(wc -l <"$T/port") -ge 2 ]] && break
	kill -0 "$SERVER_PID" 2>/dev/null || break
	sleep 0.1
done
PORT=$(sed -n 1p "$T/port" 2>/dev/null || true)
ADMIN_URL="http://127.0.0.1:$(sed -n 2p "$T/port" 2>/dev/null || true)"
ok "$([[ -n $PORT ]]; echo $?)" "serve starts with the compose environment and the volume's CA"
[[ -n $PORT ]] || sed 's/^/# /' "$T/server.log"
admin POST /v1/challenges -d '{"udid": "00008030-001A2D8A3C02802E"}'
is "$HTTP_STATUS" 201 "... the admin API takes the token of the admin_token secret"

# The HEALTHCHECK, as the engine runs it (exec form, the image's environment).
mapfile -t hc < <(python3 -c 'import json, sys; print("\n".join(json.loads(sys.argv[1])))' "$(fact healthcheck_argv)")
hc_run() { env MDMID_LISTEN="$1" timeout 10 "${hc[@]}" >/dev/null 2>&1; }
hc_run "0.0.0.0:$PORT" && rc=0 || rc=$?
is "$rc" 0 "the HEALTHCHECK command passes against the running server"
t_stop
hc_run "0.0.0.0:$PORT" && rc=0 || rc=$?
ok "$([[ $rc -ne 0 ]]; echo $?)" "... and fails once it is stopped (exit $rc)"
done_testing
