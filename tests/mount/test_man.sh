#!/usr/bin/env bash
#
# test_man.sh - the man pages and the fstab story: tools/man/rustfx.1 and
# mount.rustfx.8 render without a warning from man/groff; every command
# that "rustfx --help" lists has its own subsection in rustfx(1) and every
# option "rustfx mount --help" lists is an item of its MOUNT OPTIONS (so help
# and man page cannot drift apart silently); an fstab line of type
# fuse.rustfx mounts with "mount -a -T FILE" when mount.fuse.rustfx is in
# /sbin, as mount.rustfx(8) says to install it.
#
# The fstab check runs in a private mount namespace whose /usr/sbin is an
# overlay holding the build tree's helper: the machine's /sbin is not touched.
# Without man, unshare or overlayfs the check in question prints a skip line.

# shellcheck source=tests/mount/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
fx_setup

MAN_DIR=$FX_REPO_ROOT/tools/man
PAGES=("$MAN_DIR/rustfx.1" "$MAN_DIR/mount.rustfx.8")

# ------------------------------------------------------------- rendering

if ! command -v man >/dev/null || ! command -v groff >/dev/null; then
	if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
		fx_log "installing man-db and groff-base"
		apt-get install -y -q man-db groff-base >/dev/null 2>&1
	fi
fi
if command -v man >/dev/null && command -v groff >/dev/null; then
	for page in "${PAGES[@]}"; do
		fx_run env MANWIDTH=80 man --warnings -l "$page"
		fx_eq "$(basename "$page") renders without warnings" "" "$FX_ERR"
		fx_match "$(basename "$page") renders to text" "$FX_OUT" '^SYNOPSIS'
	done
	RENDERED=$(MANWIDTH=200 man -l "$MAN_DIR/rustfx.1" 2>/dev/null | col -b)
else
	fx_skip "man pages render without warnings" "man-db or groff missing and not installable"
	# The checks below still run, on the roff source's text.
	RENDERED=$(sed -e 's/\\f[BIRP]//g' -e 's/\\-/-/g' -e 's/^\.SS "*/   /' -e 's/"$//' \
		-e 's/^\.BI* /       /' "$MAN_DIR/rustfx.1")
fi

# ---------------------------------------- help and man page stay in step

fx_run "$RUSTFX_BIN" --help
COMMANDS=$(printf '%s\n' "$FX_OUT" | sed -n '/^commands:/,/^$/p' | awk '/^  [a-z]/ { print $1 }')
fx_ok "rustfx --help lists commands" test -n "$COMMANDS"
for cmd in $COMMANDS; do
	fx_match "rustfx(1) has a subsection for 'rustfx $cmd'" "$RENDERED" "^   rustfx $cmd( |$)"
done

fx_run "$RUSTFX_BIN" mount --help
OPTIONS=$(printf '%s\n' "$FX_OUT" | sed -n '/^mount options:/,/^$/p' |
	awk '/^  [a-z_]/ { sub(/=.*/, "", $1); print $1 }')
fx_ok "rustfx mount --help lists options" test "$(printf '%s\n' "$OPTIONS" | wc -l)" -gt 20
MOUNT_SECTION=$(printf '%s\n' "$RENDERED" | sed -n '/^MOUNT OPTIONS/,/^[A-Z]/p')
for opt in $OPTIONS; do
	fx_match "rustfx(1) MOUNT OPTIONS has an item for $opt" "$MOUNT_SECTION" "^       $opt(=| |$)"
done
for flag in -c --config -v --verbose --json --version; do
	fx_match "rustfx(1) documents the global option $flag" "$RENDERED" "(^| )$flag( |,|$)"
done
for word in SIGUSR2 SIGHUP RUSTFX_CONFIG RUST_LOG 'EXIT STATUS' ENVIRONMENT FILES fuse.rustfx; do
	fx_match "rustfx(1) mentions $word" "$RENDERED" "$word"
done

# ------------------------------------------------------------ fstab line

MOUNT_HELPER=${FX_TEST_MOUNT_RUSTFX:-$MOUNT_RUSTFX_BIN}
if [ ! -e /dev/fuse ]; then
	fx_skip "an fstab line mounts with mount -a -T" "/dev/fuse is absent"
elif [ "$(id -u)" != 0 ] || ! command -v unshare >/dev/null; then
	fx_skip "an fstab line mounts with mount -a -T" "needs root and unshare(1)"
elif ! unshare -m --propagation private true 2>/dev/null; then
	fx_skip "an fstab line mounts with mount -a -T" "unshare -m is not permitted here"
else
	BUCKET=$FX_TMP/bucket
	MNT=$FX_TMP/mnt-fstab
	mkdir -p "$BUCKET" "$MNT" "$FX_TMP/sbin-extra"
	echo "from fstab" >"$BUCKET/hello.txt"
	ln -s "$MOUNT_HELPER" "$FX_TMP/sbin-extra/mount.fuse.rustfx"
	# The line as a user writes it (README, mount.rustfx(8)), pointed at this run.
	printf '%s  %s  fuse.rustfx  _netdev,nofail,cache_dir=%s,logfile=%s  0  0\n' \
		"file://$BUCKET" "$MNT" "$FX_TMP/cache" "$FX_TMP/log.fstab" >"$FX_TMP/fstab"
	# Everything happens in the namespace: the mount is invisible outside it.
	# shellcheck disable=SC2016 # expanded by the shell in the namespace
	fx_run unshare -m --propagation private bash -c '
		set -u
		mount -t overlay overlay -o "lowerdir=$1:/usr/sbin" /usr/sbin || exit 77
		timeout 30 mount -a -T "$2" || { echo "mount -a failed: $?"; exit 1; }
		findmnt -n -o FSTYPE,SOURCE "$3"
		cat "$3/hello.txt"
		umount "$3" || exit 1
		# Match the helper by its command line: this shell names $3 too.
		for i in $(seq 50); do
			pgrep -f -- "^[^ ]*mount\.(fuse\.)?rustfx .*$3" >/dev/null || exit 0
			sleep 0.1
		done
		echo "daemon still running after umount"; exit 1
	' fstab-test "$FX_TMP/sbin-extra" "$FX_TMP/fstab" "$MNT"
	if [ "$FX_RC" = 77 ]; then
		fx_skip "an fstab line mounts with mount -a -T" "overlayfs over /usr/sbin failed: $FX_ERR"
	else
		if [ "$FX_RC" = 0 ]; then
			fx_pass "mount -a -T FSTAB, read, umount in a private namespace"
		else
			fx_fail "mount -a -T FSTAB, read, umount in a private namespace" "$(fx_ctx)" \
				"log: $(tail -n 20 "$FX_TMP/log.fstab" 2>/dev/null)"
		fi
		fx_match "mount -a mounted type fuse.rustfx from the bucket" "$FX_OUT" \
			"^fuse\\.rustfx +file://$BUCKET\$"
		fx_match "the file reads through the fstab mount" "$FX_OUT" '^from fstab$'
		fx_ok "the daemon logged to the fstab line's logfile" grep -q 'mounted ' "$FX_TMP/log.fstab"
	fi
fi

fx_finish
