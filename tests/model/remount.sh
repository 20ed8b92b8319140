#!/usr/bin/env bash
# remount.sh - mount, or unmount and mount again, one rustfx bucket for
# rustfx-model-test (its --remount-cmd) and for the scripts that drive it.
#
#   remount.sh STATE_DIR RUSTFX URL MOUNTPOINT OPTIONS
#
# When MOUNTPOINT is mounted: keep its MOUNTPOINT/.rustfx/stats in
# STATE_DIR/stats.N.json, `RUSTFX umount` it and wait (bounded) until
# the daemon whose pid is in STATE_DIR/pid has exited. Then start
# `RUSTFX mount -f -o OPTIONS URL MOUNTPOINT` in the background (its output
# in STATE_DIR/mount.N.out), record its pid in STATE_DIR/pid, and wait until
# the kernel shows the mount. Exit 0 when mounted, 1 (with the reason and
# the tail of the daemon's output on stderr) when not.
#
# Owns: the mount's process across remounts. Does not own: cleanup at the
# end (the calling test's EXIT trap unmounts and stops what is left; the
# daemon's command line names the test's scratch directory), or the options.

set -u
if [ $# -ne 5 ]; then
	echo "usage: remount.sh STATE_DIR RUSTFX URL MOUNTPOINT OPTIONS" >&2
	exit 2
fi
STATE=$1 RUSTFX=$2 URL=$3 MNT=$4 OPTS=$5
mkdir -p "$STATE" "$MNT" || exit 1

alive() { [ -n "$1" ] && kill -0 "$1" 2>/dev/null && [ "$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null)" != Z ]; }

old=""
[ -s "$STATE/pid" ] && old=$(cat "$STATE/pid")
if mountpoint -q -- "$MNT"; then
	# What this mount did (cache evictions, requests), for the caller.
	cat "$MNT/.rustfx/stats" >"$STATE/stats.$(cat "$STATE/seq" 2>/dev/null || echo 0).json" 2>/dev/null
	if ! out=$("$RUSTFX" umount "$MNT" 2>&1); then
		echo "remount.sh: rustfx umount $MNT failed: $out" >&2
		exit 1
	fi
fi
# The daemon writes its cache index and exits after the unmount; a new
# mount of the same cache directory must wait for that.
for ((i = 0; i < 300; i++)); do
	alive "$old" || break
	sleep 0.1
done
if alive "$old"; then
	echo "remount.sh: the rustfx daemon (pid $old) did not exit within 30 s of the unmount" >&2
	exit 1
fi

seq=$(($(cat "$STATE/seq" 2>/dev/null || echo 0) + 1))
echo "$seq" >"$STATE/seq"
out=$STATE/mount.$seq.out
# Detached from our stdout: the caller may read it through a pipe.
"$RUSTFX" mount -f -o "$OPTS" "$URL" "$MNT" </dev/null >"$out" 2>&1 &
pid=$!
echo "$pid" >"$STATE/pid"
for ((i = 0; i < 300; i++)); do
	mountpoint -q -- "$MNT" && exit 0
	alive "$pid" || break
	sleep 0.1
done
mountpoint -q -- "$MNT" && exit 0
echo "remount.sh: $URL is not mounted at $MNT after 30 s (daemon $(alive "$pid" && echo running || echo exited))" >&2
tail -n 20 "$out" >&2
exit 1
