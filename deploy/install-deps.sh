#!/usr/bin/env bash
# deploy/install-deps.sh [PACKAGE...]: install what mdmid needs to build and test on Debian 12.
# Idempotent: when every package is already installed it says so and exits at once (no apt-get
# update). Extra packages come as arguments or in MDMID_EXTRA_PACKAGES (space separated).
# As non-root it uses sudo when available.
set -euo pipefail

packages=(
	build-essential pkg-config
	libssl-dev openssl
	libmicrohttpd-dev
	libpq-dev postgresql postgresql-client
	libjansson-dev               # the admin API's JSON
	libsystemd-dev               # sd_notify: Type=notify in deploy/systemd/mdmid.service
	libplist-dev libplist-utils  # profiles and check-in bodies; plistutil for tests
	gnutls-bin                   # certtool: an independent PKCS#12 reader in tests
	libcmocka-dev
	clang libclang-rt-14-dev # make fuzz: libFuzzer harnesses (tests/fuzz)
	valgrind     # make valgrind: the scenarios under memcheck (CI runs it)
	scep curl
	perl    # prove
	python3 # tests read property lists with plistlib
	nginx-light  # tests/integration/86_nginx_tls.t: the TLS front (deploy/nginx/mdmid.conf)
	python3-yaml # tests/integration/87_container_files.t parses deploy/container/compose.yaml
	systemd    # systemd-analyze: tests verify deploy/systemd/mdmid.service
	prometheus # promtool: tests check the /metrics exposition
	groff-base man-db # groff and man: tests check that the manual, mdmid.8, renders without warnings
	ca-certificates
)
# shellcheck disable=SC2206 # word splitting wanted: a space-separated list
extra=(${MDMID_EXTRA_PACKAGES:-})
packages+=("${extra[@]}" "$@")

die() {
	echo "install-deps.sh: error: $*" >&2
	exit 1
}

for p in "${packages[@]}"; do
	[[ "$p" =~ ^[a-z0-9][a-z0-9.+-]+(:[a-z0-9-]+)?$ ]] || die "not a Debian package name: '$p'"
done

command -v dpkg-query >/dev/null || die "dpkg-query not found: this script is for Debian (12, bookworm)"

missing=()
for p in "${packages[@]}"; do
	status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
	[[ "$status" == "install ok installed" ]] || missing+=("$p")
done
# drop duplicates, keep order
mapfile -t missing < <(printf '%s\n' "${missing[@]}" | awk 'NF && !seen[$0]++')

if [[ ${#missing[@]} -eq 0 ]]; then
	echo "install-deps.sh: all build dependencies present"
	exit 0
fi

echo "install-deps.sh: installing: ${missing[*]}"
as_root=()
if [[ $EUID -ne 0 ]]; then
	command -v sudo >/dev/null ||
		die "missing packages (${missing[*]}) and not root, and sudo is not installed: run this script as root"
	as_root=(sudo)
fi

"${as_root[@]}" apt-get update || die "apt-get update failed"
"${as_root[@]}" env DEBIAN_FRONTEND=noninteractive \
	apt-get install -y --no-install-recommends "${missing[@]}" ||
	die "apt-get install failed for: ${missing[*]}"

still=()
for p in "${missing[@]}"; do
	status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
	[[ "$status" == "install ok installed" ]] || still+=("$p")
done
[[ ${#still[@]} -eq 0 ]] || die "still not installed after apt-get: ${still[*]}"
echo "install-deps.sh: done"
