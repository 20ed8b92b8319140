# Sourced by tools/check and tools/quickstart: install the Debian packages
# rustfx needs that are missing. Needs root (or sudo) only when something is.
FX_DEBS="build-essential cmake pkg-config libfuse3-dev fuse3 liblmdb-dev libxxhash-dev
libsodium-dev libcriterion-dev libcurl4-openssl-dev libssl-dev libinih-dev libexpat1-dev libjansson-dev
zlib1g-dev libmicrohttpd-dev attr python3 curl"

fx_install_deps() {
	local missing="" p
	for p in $FX_DEBS; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
			missing="$missing $p"
	done
	[ -z "$missing" ] && return 0
	echo "installing:$missing"
	local sudo=""
	[ "$(id -u)" -ne 0 ] && sudo="sudo"
	$sudo apt-get update -qq &&
		DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends $missing
}
