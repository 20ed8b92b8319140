#!/usr/bin/env bash
#
# test_diskfull.sh - issue F7 point 4: disk trouble under the cache.
#   (a) cache_dir on an 8 MiB tmpfs that the cache fills (cache_min_free=0):
#       reads of files bigger than it keep working, uncached, with the
#       right bytes; what was stored and cached before is not lost;
#   (b) the same tmpfs with cache_min_free=3M: a write whose staging cannot
#       fit fails with ENOSPC (cp says "No space left on device", the log
#       says why), leaves no partial object, does not change an existing
#       object written into in place, and once the failed file is gone
#       small writes work again;
#   (c) a deleted or corrupted index.mdb or model.mdb: the mount rebuilds it
#       with a logged warning and reads right.
#
# file:// only (the bucket is a directory; the cache files are damaged on
# disk). Needs root to mount the tmpfs: without it the test fails (it does
# not skip). Prints "N passed, N failed".

# shellcheck source=tests/mount/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
fx_setup
fx_require_fuse
if fx_s3; then
	echo "SKIP: test_diskfull.sh damages cache files on disk (file:// only)"
	exit 77
fi

BUCKET=$FX_TMP/bucket
MNT=$FX_TMP/mnt
DATA=$FX_TMP/data
SMALLFS=$FX_TMP/smallfs
MB=$((1024 * 1024))
mkdir -p "$BUCKET" "$DATA" "$SMALLFS"

# shellcheck disable=SC2317 # run by the EXIT trap
df_cleanup() {
	local rc=$?
	fx_release
	mountpoint -q "$SMALLFS" && umount "$SMALLFS"
	(exit "$rc")
	fx_cleanup
}
trap df_cleanup EXIT

# smallfs: a fresh, empty 8 MiB tmpfs at $SMALLFS.
smallfs() {
	mountpoint -q "$SMALLFS" && umount "$SMALLFS"
	mount -t tmpfs -o size=8m,mode=0700 rustfx-test-cache "$SMALLFS"
}
free_kib() { df -k --output=avail "$SMALLFS" | tail -n 1 | tr -d ' '; }

smallfs || fx_abort "mount an 8 MiB tmpfs for the cache (needs root)" "mount -t tmpfs failed"

head -c $((24 * MB + 5)) /dev/urandom >"$BUCKET/big.bin"
head -c $((1 * MB + 7)) /dev/urandom >"$BUCKET/small.bin"
head -c $((12 * MB)) /dev/urandom >"$BUCKET/keep.bin"
cp "$BUCKET/keep.bin" "$DATA/keep.bin"
head -c $((20 * MB)) /dev/urandom >"$DATA/w20m"
head -c $((300 * 1024)) /dev/urandom >"$DATA/w300k"
head -c $((2 * MB)) /dev/urandom >"$DATA/w2m"

# ------------------------------------------- (a) a full cache filesystem

OPTS=cache_dir=$SMALLFS/c,cache_size=1G,cache_min_free=0
fx_mount "$BUCKET" "$MNT" "$OPTS" "$SMALLFS/c" || fx_finish
fx_ok "before the fs fills: a write through the mount" cp "$DATA/w300k" "$MNT/pre.bin"
fx_ok "... and a read of small.bin (cached)" cmp "$BUCKET/small.bin" "$MNT/small.bin"
fx_run timeout 60 cmp "$BUCKET/big.bin" "$MNT/big.bin"
fx_eq "a 24 MiB file through a cache on an 8 MiB fs reads right" 0 "$FX_RC"
fx_log "free on the cache fs after it: $(free_kib) KiB"
fx_ok "the cache filled the filesystem (less than 1 MiB free)" test "$(free_kib)" -lt 1024
fx_run timeout 60 cmp "$BUCKET/big.bin" "$MNT/big.bin"
fx_eq "... and reads right again with the fs full" 0 "$FX_RC"
fx_ok "what was cached before still reads right" cmp "$BUCKET/small.bin" "$MNT/small.bin"
fx_ok "what was written before is in the bucket" cmp "$DATA/w300k" "$BUCKET/pre.bin"
fx_log "log lines about space: $(grep -ci 'space\|ENOSPC' "$FX_LAST_LOG")"
# A 2 MiB write when the cache took all the space (cache_min_free=0 asked
# for that): it may succeed (the cache makes room) or fail with ENOSPC;
# what it acknowledges must be in the bucket.
fx_run timeout 60 cp "$DATA/w2m" "$MNT/full.bin"
if [ "$FX_RC" -eq 0 ]; then
	fx_same_file "a write with the fs full by the cache: acknowledged, so in the bucket" \
		"$DATA/w2m" "$BUCKET/full.bin"
elif grep -q 'No space left on device' <<<"$FX_ERR"; then
	fx_pass "a write with the fs full by the cache: fails with ENOSPC"
else
	fx_fail "a write with the fs full by the cache: succeeds or fails with ENOSPC" "$(fx_ctx)"
fi
fx_umount "$MNT"
fx_eq "the daemon exits 0 at unmount" 0 "$FX_DAEMON_RC"
fx_status "rustfx cache verify of the full cache exits 0" 0 "$RUSTFX_BIN" cache verify "$SMALLFS/c"
fx_match "... 0 corrupt blocks" "$FX_OUT" ' 0 corrupt'

# -------------------------------------------- (b) writes that cannot fit

smallfs || fx_abort "remount the tmpfs" "mount failed"
OPTS=cache_size=1G,cache_min_free=3M
fx_mount "$BUCKET" "$MNT" "$OPTS" "$SMALLFS/c" || fx_finish
fx_run timeout 60 cmp "$BUCKET/big.bin" "$MNT/big.bin"
fx_eq "with cache_min_free=3M a 24 MiB file reads right" 0 "$FX_RC"
fx_log "free on the cache fs after it: $(free_kib) KiB"
fx_ok "... and the cache left 3 MiB free (>= 2.5 MiB)" test "$(free_kib)" -ge 2560
fx_ok "a 300 KiB write fits and succeeds" cp "$DATA/w300k" "$MNT/fits.bin"
fx_same_file "... and is in the bucket" "$DATA/w300k" "$BUCKET/fits.bin"

fx_run timeout 60 cp "$DATA/w20m" "$MNT/toobig.bin"
if [ "$FX_RC" -ne 0 ] && grep -q 'No space left on device' <<<"$FX_ERR"; then
	fx_pass "a 20 MiB write that staging cannot hold fails with ENOSPC"
else
	fx_fail "a 20 MiB write that staging cannot hold fails with ENOSPC" "$(fx_ctx)"
fi
if grep -Eq '[Nn]o space left|ENOSPC' "$FX_LAST_LOG"; then
	fx_pass "... and the log says so"
else
	fx_fail "a write failing with ENOSPC in staging leaves no line in the log (not even at debug)" \
		"$(grep -i 'toobig' "$FX_LAST_LOG" | head -n 3)"
fi
# As on a local disk, the bytes written before ENOSPC may be kept (close()
# publishes them); they must be the true ones.
if [ -e "$BUCKET/toobig.bin" ]; then
	n=$(stat -c %s "$BUCKET/toobig.bin")
	fx_log "after the ENOSPC the bucket holds toobig.bin with $n of $((20 * MB)) bytes"
	fx_ok "... what the bucket holds of it is a prefix of what was written" \
		cmp -s -n "$n" "$BUCKET/toobig.bin" "$DATA/w20m"
else
	fx_pass "... what the bucket holds of it is a prefix of what was written (nothing)"
fi
fx_run timeout 60 dd if=/dev/zero of="$MNT/keep.bin" bs=4k count=1 seek=5 conv=notrunc status=none
if [ "$FX_RC" -ne 0 ]; then
	fx_pass "writing into a 12 MiB object that staging cannot copy fails (exit $FX_RC)"
else
	fx_fail "writing into a 12 MiB object that staging cannot copy fails" "$(fx_ctx)"
fi
fx_same_file "... and the object in the bucket is unchanged" "$DATA/keep.bin" "$BUCKET/keep.bin"
fx_ok "... and reads unchanged through the mount" cmp "$DATA/keep.bin" "$MNT/keep.bin"
fx_same_file "what was written before is still in the bucket" "$DATA/w300k" "$BUCKET/fits.bin"
rm -f "$MNT/toobig.bin"
fx_log "free on the cache fs after the failed writes: $(free_kib) KiB; staging: $(find "$SMALLFS/c" -path '*staging/*' -type f | wc -l) file(s)"
fx_ok "once the failed file is gone, a 300 KiB write works again" cp "$DATA/w300k" "$MNT/again.bin"
fx_same_file "... and is in the bucket" "$DATA/w300k" "$BUCKET/again.bin"
fx_ok "the mount still reads big.bin right" cmp "$BUCKET/big.bin" "$MNT/big.bin"
fx_umount "$MNT"
fx_eq "the daemon exits 0 at unmount" 0 "$FX_DAEMON_RC"
fx_eq "no staging file is left behind" 0 "$(find "$SMALLFS/c" -path '*staging/*' -type f | wc -l)"
umount "$SMALLFS"

# ------------------------------- (c) a deleted or corrupted index or model

CACHE=$FX_TMP/cache
LOPTS=cache_min_free=0,prefetch=snn,cache_policy=snn,block_size=64K
mkdir -p "$BUCKET/w"
for i in $(seq 1 30); do head -c $((65536 * (i % 3 + 1) + i)) /dev/urandom >"$BUCKET/w/f$i"; done
# shellcheck disable=SC2317 # called through fx_ok
workload() {
	local i
	for i in $(seq 1 30); do cmp -s "$BUCKET/w/f$i" "$MNT/w/f$i" || return 1; done
}
fx_mount "$BUCKET" "$MNT" "$LOPTS" "$CACHE" || fx_finish
fx_ok "a first mount reads the workload right" workload
fx_umount "$MNT"
STORE=$(dirname "$(find "$CACHE" -mindepth 2 -maxdepth 2 -name index.mdb | head -n 1)")
fx_ok "the store has index.mdb and model.mdb" test -s "$STORE/index.mdb" -a -s "$STORE/model.mdb"

# damaged DESC WHAT-REGEX: mount after a damage; the log warns about it
# (WHAT-REGEX), the workload reads right, the cache verifies clean.
damaged() {
	local desc=$1 re=$2 log
	fx_mount "$BUCKET" "$MNT" "$LOPTS" "$CACHE" || return 1
	fx_ok "$desc: the mount comes up and reads right" workload
	log=$(cat "$FX_LAST_LOG")
	fx_umount "$MNT"
	fx_eq "$desc: the daemon exits 0" 0 "$FX_DAEMON_RC"
	fx_status "$desc: rustfx cache verify exits 0 after" 0 "$RUSTFX_BIN" cache verify "$CACHE"
	if grep -Eq "warn.*($re)" <<<"$log"; then
		fx_pass "$desc: a warning in the log says it was rebuilt"
	else
		DAMAGE_LOG=$(grep -Ei 'index|model|repair|rebuil' <<<"$log" | head -n 3)
		return 2
	fi
}

rm -f "$STORE/index.mdb" "$STORE/index.mdb-lock"
damaged "deleted index.mdb" 'index|repair|rebuil'
[ $? -eq 2 ] && fx_fail "a deleted index.mdb is rebuilt without a warning (only an info line)" "$DAMAGE_LOG"
fx_ok "deleted index.mdb: it exists again" test -s "$STORE/index.mdb"

head -c 65536 /dev/urandom | dd of="$STORE/index.mdb" conv=notrunc status=none
damaged "index.mdb overwritten with 64 KiB of noise" 'index.*(unreadable|rebuil)'
[ $? -eq 2 ] && fx_fail "index.mdb overwritten with noise: a warning in the log" "$DAMAGE_LOG"

truncate -s 4096 "$STORE/index.mdb"
damaged "index.mdb truncated to 4 KiB" 'index.*(unreadable|rebuil)|repair'
[ $? -eq 2 ] && fx_fail "index.mdb truncated: a warning in the log" "$DAMAGE_LOG"

size=$(stat -c %s "$STORE/model.mdb")
python3 -c 'import sys
with open(sys.argv[1], "r+b") as f:
    for off in range(int(sys.argv[2]) // 3, int(sys.argv[2]) // 3 + 64):
        f.seek(off); b = f.read(1); f.seek(off); f.write(bytes([b[0] ^ 0x5a]))' "$STORE/model.mdb" "$size"
damaged "model.mdb with 64 bytes flipped a third in" 'model.*(cannot be used|new one)'
[ $? -eq 2 ] && fx_fail "model.mdb with flipped bytes is loaded without a warning" "$DAMAGE_LOG"

truncate -s $((size / 2)) "$STORE/model.mdb"
damaged "model.mdb truncated to half" 'model.*(cannot be used|new one)'
[ $? -eq 2 ] && fx_fail "model.mdb truncated: a warning in the log" "$DAMAGE_LOG"

rm -f "$STORE/model.mdb" "$STORE/model.mdb-lock"
damaged "deleted model.mdb" 'model'
[ $? -eq 2 ] && fx_fail "a deleted model.mdb is replaced silently (no warning)" "$DAMAGE_LOG"
fx_ok "deleted model.mdb: a new one is saved at unmount" test -s "$STORE/model.mdb"
fx_status "rustfx brain show opens it" 0 timeout 60 "$RUSTFX_BIN" brain show "$CACHE"

fx_finish
