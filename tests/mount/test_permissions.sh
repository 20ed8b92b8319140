#!/usr/bin/env bash
#
# test_permissions.sh - a root mount with allow_other,default_permissions
# enforces the stored modes and owners for another user (nobody, uid 65534,
# through setpriv): reading, writing, listing and creating are refused
# exactly where the mode bits forbid them and allowed where they allow them;
# /etc/fuse.conf needs no user_allow_other for it. Then secrets: the bytes of
# a cache_key_file (raw, hex, base64) appear in no debug log, stats file or
# `rustfx config print` output, nor does a secret access key set in the
# settings appear in `config print` (the S3 suites grep the logs for it).
#
# Needs root (to mount for others and switch users); without it the test
# cannot run at all and says so (exit 77). Prints "N passed, N failed".

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=tests/mount/lib.sh
. "$HERE/lib.sh"
fx_setup
fx_require_fuse
if [ "$(id -u)" -ne 0 ] || ! command -v setpriv >/dev/null; then
	echo "SKIP: needs root and setpriv to act as another user"
	exit 77
fi

NOBODY=65534
# as_nobody CMD...: run CMD as uid/gid 65534 with no supplementary groups.
as_nobody() { setpriv --reuid=$NOBODY --regid=$NOBODY --clear-groups -- "$@"; }

BUCKET=$FX_TMP/bucket
MNT=$FX_TMP/mnt
mkdir -p "$BUCKET"
# The scratch root is 0700 (mktemp -d): nobody must be able to reach the mount.
chmod 755 "$FX_TMP"

fx_mount "$BUCKET" "$MNT" "allow_other,default_permissions" || fx_finish
if grep -Eq '^[[:space:]]*user_allow_other' /etc/fuse.conf 2>/dev/null; then
	fx_skip "a root mount needs no user_allow_other" "/etc/fuse.conf has it, so this run cannot tell"
else
	fx_pass "a root mount with allow_other works without user_allow_other in /etc/fuse.conf"
fi
fx_ok "nobody can stat the mount root" as_nobody stat "$MNT"

# mk PATH MODE UID GID: a file made through the mount, then chmod/chown'ed.
mk() {
	printf 'data of %s\n' "${1##*/}" >"$1" && chmod "$2" "$1" && chown "$3:$4" "$1"
}
for m in 600 640 644 604; do
	mk "$MNT/root$m" "$m" 0 0
	mk "$MNT/nobody$m" "$m" $NOBODY $NOBODY
done
mk "$MNT/rootgrp640" 640 0 $NOBODY # group nobody: read through the group bits
mk "$MNT/other606" 606 1234 1234   # a third owner: the "other" bits decide
mk "$MNT/nobody044" 044 $NOBODY $NOBODY # the owner bits decide for the owner
fx_eq "owners and modes as set" \
	"0:0:600 0:0:640 0:0:644 65534:65534:600 65534:65534:640 1234:1234:606 0:65534:640" \
	"$(cd "$MNT" && stat -c '%u:%g:%a' root600 root640 root644 nobody600 nobody640 other606 rootgrp640 | xargs)"

# can_read / can_write: as nobody.
can_read() { as_nobody cat "$MNT/$1" >/dev/null 2>&1; }
# shellcheck disable=SC2016 # $1 is the inner shell's
can_write() { as_nobody sh -c 'printf more >> "$1"' sh "$MNT/$1" 2>/dev/null; }
check() {
	local name=$1 want_r=$2 want_w=$3 got_r=no got_w=no
	can_read "$name" && got_r=yes
	can_write "$name" && got_w=yes
	fx_eq "nobody on $name ($(stat -c '%U %a' "$MNT/$name")): read=$want_r write=$want_w" \
		"read=$want_r write=$want_w" "read=$got_r write=$got_w"
}
check root600 no no
check root640 no no
check root644 yes no
check root604 yes no
check nobody600 yes yes
check nobody640 yes yes
check nobody644 yes yes
check nobody604 yes yes
check rootgrp640 yes no
check other606 yes yes
check nobody044 no no
fx_eq "a refused write left root644 unchanged" "data of root644" "$(cat "$MNT/root644")"
fx_eq "an allowed write appended to nobody600" "data of nobody600"$'\n'"more" "$(cat "$MNT/nobody600")"
fx_match "the refusal is 'Permission denied'" "$(as_nobody cat "$MNT/root600" 2>&1)" 'Permission denied'
fx_not "nobody cannot chmod a file of root" as_nobody chmod 666 "$MNT/root600"
fx_not "nobody cannot chown its own file to root" as_nobody chown 0 "$MNT/nobody600"
fx_ok "nobody can chmod its own file" as_nobody chmod 604 "$MNT/nobody644"
fx_eq "... and the mode is stored" 604 "$(stat -c %a "$MNT/nobody644")"
fx_not "nobody cannot truncate root644" as_nobody truncate -s 0 "$MNT/root644"
fx_not "nobody cannot remove a file in the root-owned root dir (0755)" as_nobody rm -f "$MNT/root644"
fx_ok "... which is still there" test -e "$MNT/root644"

# Directories: r lists, x enters, w creates.
mkdir -p "$MNT/d700" "$MNT/d755" "$MNT/d711" "$MNT/dnobody" "$MNT/d1777"
chmod 700 "$MNT/d700"
chmod 755 "$MNT/d755"
chmod 711 "$MNT/d711"
chmod 1777 "$MNT/d1777"
chown $NOBODY:$NOBODY "$MNT/dnobody"
for d in d700 d755 d711; do mk "$MNT/$d/f" 644 0 0; done
fx_not "nobody cannot list d700" as_nobody ls "$MNT/d700"
fx_not "... nor read a 0644 file in it" as_nobody cat "$MNT/d700/f"
fx_eq "nobody can list d755" "f" "$(as_nobody ls "$MNT/d755" 2>&1)"
fx_not "... but not create in it" as_nobody touch "$MNT/d755/new"
fx_not "... nor remove from it" as_nobody rm -f "$MNT/d755/f"
fx_not "... nor mkdir in it" as_nobody mkdir "$MNT/d755/sub"
fx_not "nobody cannot list d711" as_nobody ls "$MNT/d711"
fx_eq "... but can read a known 0644 file in it" "data of f" "$(as_nobody cat "$MNT/d711/f" 2>&1)"
fx_ok "nobody can create in its own directory" as_nobody touch "$MNT/dnobody/new"
fx_eq "... owned by nobody" "65534:65534" "$(stat -c %u:%g "$MNT/dnobody/new" 2>&1)"
fx_ok "nobody can mkdir in its own directory" as_nobody mkdir "$MNT/dnobody/sub"
fx_ok "nobody can create in a 1777 directory" as_nobody touch "$MNT/d1777/by_nobody"
mk "$MNT/d1777/by_root" 666 0 0
fx_ok "... write a 0666 file of root in it" as_nobody sh -c "printf w >> '$MNT/d1777/by_root'"
fx_not "... but not remove it (sticky bit)" as_nobody rm -f "$MNT/d1777/by_root"
fx_ok "root can still read everything" cat "$MNT/root600" "$MNT/d700/f" "$MNT/nobody600"
fx_umount "$MNT"

# The modes and owners are stored with the objects: a new mount with an
# empty cache enforces the same.
fx_mount "$BUCKET" "$MNT" "allow_other,default_permissions" "$FX_TMP/cache2" || fx_finish
check root600 no no
check nobody600 yes yes
fx_not "after the remount nobody still cannot list d700" as_nobody ls "$MNT/d700"
fx_umount "$MNT"

# Without default_permissions the modes are rustfx's to check or not; with
# allow_other off, nobody cannot even see into the mount.
fx_mount "$BUCKET" "$MNT" "" || fx_finish
fx_not "without allow_other, nobody cannot stat the mount" as_nobody stat "$MNT/root644"
fx_umount "$MNT"

# -------------------------------------------------------------- secrets

KEY=$FX_TMP/cache.key
head -c 32 /dev/urandom >"$KEY"
chmod 600 "$KEY"
KEY_HEX=$(od -An -tx1 -v "$KEY" | tr -d ' \n')
KEY_B64=$(base64 -w0 "$KEY")
KEY_B64URL=$(printf '%s' "$KEY_B64" | tr '+/' '-_' | tr -d '=')
SECRET=permTestSecretKeyThatMustNeverBeShown123
fx_mount "$BUCKET" "$MNT" "cache_key_file=$KEY" "$FX_TMP/cache-sealed" || fx_finish
fx_ok "a file reads through the sealed cache" cat "$MNT/root644"
STATS=$(cat "$MNT/.rustfx/stats" 2>&1)
fx_ok "the stats file is served" test -n "$STATS"
fx_umount "$MNT"
# config print reads the settings files and RUSTFX_* variables (no -o).
CONF=$(RUSTFX_CACHE_KEY_FILE=$KEY RUSTFX_S3_SECRET_ACCESS_KEY=$SECRET "$RUSTFX_BIN" config print 2>&1)
CONF_RC=$?
CONF_JSON=$(RUSTFX_CACHE_KEY_FILE=$KEY RUSTFX_S3_SECRET_ACCESS_KEY=$SECRET "$RUSTFX_BIN" config print --json 2>&1)
fx_eq "rustfx config print with the key file and a secret succeeds" 0 "$CONF_RC"
fx_match "... and names the key file" "$CONF" "key_file = \"$KEY\""
fx_match "... and says the secret is set, hidden" "$CONF" '^secret_access_key = "\(hidden\)"'
all="$(cat "$FX_LAST_LOG" "$FX_LAST_STDERR")
$STATS
$CONF
$CONF_JSON"
fx_ok "the debug log of the sealed mount is not empty" test -s "$FX_LAST_LOG"
hex_in=$(printf '%s' "$all" | grep -ciF -- "${KEY_HEX:0:16}")
fx_eq "no log, stats or config print output holds the key in hex (first 8 bytes)" 0 "$hex_in"
fx_eq "... nor in base64" 0 "$(printf '%s' "$all" | grep -cF -- "${KEY_B64:0:12}")"
fx_eq "... nor in base64url" 0 "$(printf '%s' "$all" | grep -cF -- "${KEY_B64URL:0:12}")"
fx_eq "... nor raw (first 8 bytes)" 0 \
	"$(cat "$FX_LAST_LOG" "$FX_LAST_STDERR" | grep -caF -- "$(head -c 8 "$KEY" | tr -d '\n\0')")"
fx_eq "config print does not show the secret access key" 0 \
	"$(printf '%s\n' "$CONF" "$CONF_JSON" | grep -cF -- "$SECRET")"
fx_finish
